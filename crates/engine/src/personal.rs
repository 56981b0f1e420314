//! Sealing personal data on its way into the log and opening it on its way out, with the
//! folder's key file ([`dealtrail_store::vault::Vault`]). See `dealtrail_domain::personal`
//! for the stored shapes and docs/operations.md for what erasure guarantees.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use dealtrail_domain::account::AccountEvent;
use dealtrail_domain::opportunity::OpportunityEvent;
use dealtrail_domain::personal::{
    ContactPersonal, ERASED, SEALED, Sealed, StoredContactRegistered, StoredContactUpdated,
    StoredFollowUpLogged,
};
use dealtrail_domain::{DecodeError, Event, Label, Name};
use dealtrail_store::vault::{KeyState, PersonKey, Vault};
use uuid::Uuid;

use crate::error::EngineError;

/// The people whose keys an event needs, in the order [`seal`] uses them: the contact, or
/// a fresh id for each unregistered participant named.
pub(crate) fn people(event: &Event) -> Vec<Uuid> {
    match event {
        Event::Account(_, AccountEvent::ContactRegistered(c)) => vec![c.contact.0],
        Event::Account(_, AccountEvent::ContactUpdated(c))
            if c.email.is_some() || c.phone.is_some() =>
        {
            vec![c.contact.0]
        }
        Event::Opportunity(_, OpportunityEvent::FollowUpLogged(f)) => f
            .unregistered_names
            .iter()
            .map(|_| Uuid::new_v4())
            .collect(),
        _ => Vec::new(),
    }
}

fn seal_bytes(person: Uuid, key: &PersonKey, plaintext: &[u8]) -> Result<Sealed, EngineError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| EngineError::Sealing(e.to_string()))?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: person.as_bytes(),
            },
        )
        .map_err(|e| EngineError::Sealing(e.to_string()))?;
    Ok(Sealed {
        person,
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("encoding into a Vec cannot fail")
}

/// The stored schema version and payload of an event that carries personal data, sealed
/// under `keys` (one per id of [`people`], in order); `None` for every other event.
pub(crate) fn seal(
    event: &Event,
    people: &[Uuid],
    keys: &[PersonKey],
) -> Result<Option<(u16, Vec<u8>)>, EngineError> {
    let personal = |p: ContactPersonal| seal_bytes(people[0], &keys[0], &encode(&p));
    Ok(Some(match event {
        Event::Account(_, AccountEvent::ContactRegistered(c)) => {
            let stored = StoredContactRegistered {
                contact: c.contact,
                title: c.title.clone(),
                org_unit: c.org_unit,
                role: c.role,
                seniority: c.seniority,
                personal: personal(ContactPersonal {
                    name: Some(c.name.clone()),
                    email: c.email.clone(),
                    phone: c.phone.clone(),
                })?,
            };
            (2, encode(&stored))
        }
        Event::Account(_, AccountEvent::ContactUpdated(c)) if !people.is_empty() => {
            let stored = StoredContactUpdated {
                contact: c.contact,
                title: c.title.clone(),
                org_unit: c.org_unit,
                role: c.role,
                seniority: c.seniority,
                personal: personal(ContactPersonal {
                    name: None,
                    email: c.email.clone(),
                    phone: c.phone.clone(),
                })?,
            };
            (2, encode(&stored))
        }
        Event::Opportunity(_, OpportunityEvent::FollowUpLogged(f)) if !people.is_empty() => {
            let names = f
                .unregistered_names
                .iter()
                .zip(people.iter().zip(keys))
                .map(|(n, (p, k))| seal_bytes(*p, k, &encode(n)))
                .collect::<Result<Vec<_>, _>>()?;
            let stored = StoredFollowUpLogged {
                channel: f.channel,
                contacts: f.contacts.clone(),
                unregistered_participants: f.unregistered_participants,
                function: f.function,
                summary: f.summary.clone(),
                next_step: f.next_step.clone(),
                next_step_due: f.next_step_due,
                unregistered_names: names,
            };
            (3, encode(&stored))
        }
        _ => return Ok(None),
    }))
}

/// The plaintext of sealed bytes, or why there is none: erased, or no key in this folder
/// (a log restored without its key file), or a key that does not open it.
fn open_bytes(vault: &Vault, sealed: &Sealed) -> Result<Vec<u8>, &'static str> {
    let key = match vault.state(sealed.person) {
        KeyState::Live(key) => key,
        KeyState::Erased => return Err(ERASED),
        KeyState::Unknown => return Err(SEALED),
    };
    if sealed.nonce.len() != 12 {
        return Err(SEALED);
    }
    ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: sealed.person.as_bytes(),
            },
        )
        .map_err(|_| SEALED)
}

fn open_personal(vault: &Vault, sealed: &Sealed) -> ContactPersonal {
    match open_bytes(vault, sealed) {
        Ok(bytes) => rmp_serde::from_slice(&bytes).unwrap_or_default(),
        Err(placeholder) => ContactPersonal {
            name: Name::parse(placeholder).ok(),
            email: None,
            phone: None,
        },
    }
}

/// Decodes a sealed event with the vault's keys; `None` when the type and version are not
/// a sealed one (the domain's decoder reads those).
pub(crate) fn open(
    vault: &Vault,
    stream: &str,
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Option<Result<Event, DecodeError>> {
    let malformed = |e: rmp_serde::decode::Error| DecodeError::Malformed {
        event_type: event_type.into(),
        version,
        detail: e.to_string(),
    };
    if !matches!(
        (event_type, version),
        ("ContactRegistered", 2) | ("ContactUpdated", 2) | ("FollowUpLogged", 3)
    ) {
        // Every other event: the common case of a fold, decided before any parsing.
        return None;
    }
    let decoded = match (dealtrail_domain::StreamName::parse(stream), event_type) {
        (Ok(dealtrail_domain::StreamName::Account(id)), "ContactRegistered") => {
            rmp_serde::from_slice::<StoredContactRegistered>(payload).map(|stored| {
                let personal = open_personal(vault, &stored.personal);
                Event::Account(id, AccountEvent::ContactRegistered(stored.open(personal)))
            })
        }
        (Ok(dealtrail_domain::StreamName::Account(id)), "ContactUpdated") => {
            rmp_serde::from_slice::<StoredContactUpdated>(payload).map(|stored| {
                let personal = open_personal(vault, &stored.personal);
                Event::Account(id, AccountEvent::ContactUpdated(stored.open(personal)))
            })
        }
        (Ok(dealtrail_domain::StreamName::Opportunity(id)), "FollowUpLogged") => {
            rmp_serde::from_slice::<StoredFollowUpLogged>(payload).map(|stored| {
                let names = stored
                    .unregistered_names
                    .iter()
                    .map(|s| open_name(vault, s))
                    .collect();
                Event::Opportunity(id, OpportunityEvent::FollowUpLogged(stored.open(names)))
            })
        }
        _ => return Some(Err(DecodeError::UnknownStream(stream.into()))),
    };
    Some(decoded.map_err(malformed))
}

/// An unregistered participant's name, or what it reads as without its key.
fn open_name(vault: &Vault, sealed: &Sealed) -> Label {
    open_bytes(vault, sealed)
        .ok()
        .and_then(|b| rmp_serde::from_slice::<Label>(&b).ok())
        .unwrap_or_else(|| {
            let erased = vault.state(sealed.person) == KeyState::Erased;
            Label::parse(dealtrail_domain::personal::placeholder(erased)).expect("a valid label")
        })
}

/// Whether `stored` is a plaintext (pre-sealing) event holding `contact`'s personal data.
fn plaintext_of(stored: &dealtrail_store::RecordedEvent, contact: Uuid) -> bool {
    if stored.schema_version != 1 {
        return false;
    }
    let decoded = Event::decode(
        stored.stream.as_str(),
        &stored.event_type,
        stored.schema_version,
        &stored.payload,
    );
    match decoded {
        Ok(Event::Account(_, AccountEvent::ContactRegistered(c))) => c.contact.0 == contact,
        Ok(Event::Account(_, AccountEvent::ContactUpdated(c))) => {
            c.contact.0 == contact && (c.email.is_some() || c.phone.is_some())
        }
        _ => false,
    }
}

/// Destroys the keys the erasures among `events` name, before those events are written:
/// once an erasure is decided, the person's data is unreadable even if writing its record
/// fails (a retry then writes the record). Refuses a contact whose personal data an older
/// build wrote in plaintext, and a participant the deal never named.
pub(crate) fn erase(
    store: &dealtrail_store::Store,
    events: &[(Event, dealtrail_domain::Timestamp)],
) -> Result<(), EngineError> {
    for (event, _) in events {
        match event {
            Event::Account(account, AccountEvent::ContactErased(c)) => {
                let plaintext: Vec<u64> = crate::command::stored_stream(
                    store,
                    dealtrail_domain::StreamName::Account(*account),
                )?
                .iter()
                .filter(|e| plaintext_of(e, c.contact.0))
                .map(|e| e.seq)
                .collect();
                if !plaintext.is_empty() {
                    return Err(EngineError::ErasureImpossible {
                        person: c.contact.0,
                        seqs: plaintext,
                    });
                }
                store.vault().erase(c.contact.0)?;
            }
            Event::Opportunity(deal, OpportunityEvent::ParticipantErased(p)) => {
                let named = crate::command::stored_stream(
                    store,
                    dealtrail_domain::StreamName::Opportunity(*deal),
                )?
                .iter()
                .filter(|e| e.event_type == "FollowUpLogged" && e.schema_version == 3)
                .filter_map(|e| rmp_serde::from_slice::<StoredFollowUpLogged>(&e.payload).ok())
                .any(|f| f.unregistered_names.iter().any(|s| s.person == p.person));
                if !named {
                    return Err(EngineError::UnknownPerson { person: p.person });
                }
                store.vault().erase(p.person)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The unregistered participants a stored follow-up names that are not erased: the id each
/// is sealed under (none for names an older build wrote in plaintext) and the name.
pub fn participants(
    vault: &Vault,
    stored: &dealtrail_store::RecordedEvent,
) -> Vec<(Option<Uuid>, String)> {
    match (stored.event_type.as_str(), stored.schema_version) {
        ("FollowUpLogged", 3) => rmp_serde::from_slice::<StoredFollowUpLogged>(&stored.payload)
            .map(|f| {
                f.unregistered_names
                    .iter()
                    .filter_map(|s| {
                        let bytes = open_bytes(vault, s).ok()?;
                        let name: Label = rmp_serde::from_slice(&bytes).ok()?;
                        Some((Some(s.person), name.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ("FollowUpLogged", _) => match Event::decode(
            stored.stream.as_str(),
            &stored.event_type,
            stored.schema_version,
            &stored.payload,
        ) {
            Ok(Event::Opportunity(_, OpportunityEvent::FollowUpLogged(f))) => f
                .unregistered_names
                .iter()
                .map(|n| (None, n.to_string()))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A sealed event's payload as JSON for people reading the raw log: its fields, with each
/// sealed part shown as `{"sealed_for": <person>}`; `None` for other events.
pub fn raw_json(event_type: &str, version: u16, payload: &[u8]) -> Option<serde_json::Value> {
    let sealed = |s: &Sealed| serde_json::json!({ "sealed_for": s.person.to_string() });
    let mut value = match (event_type, version) {
        ("ContactRegistered", 2) => {
            let stored: StoredContactRegistered = rmp_serde::from_slice(payload).ok()?;
            let mut v = serde_json::to_value(&stored).ok()?;
            v["personal"] = sealed(&stored.personal);
            v
        }
        ("ContactUpdated", 2) => {
            let stored: StoredContactUpdated = rmp_serde::from_slice(payload).ok()?;
            let mut v = serde_json::to_value(&stored).ok()?;
            v["personal"] = sealed(&stored.personal);
            v
        }
        ("FollowUpLogged", 3) => {
            let stored: StoredFollowUpLogged = rmp_serde::from_slice(payload).ok()?;
            let mut v = serde_json::to_value(&stored).ok()?;
            v["unregistered_names"] = stored.unregistered_names.iter().map(sealed).collect();
            v
        }
        _ => return None,
    };
    // The same shape as other payloads: `{ "<type>": { fields } }`.
    let fields = value.take();
    Some(serde_json::json!({ event_type: fields }))
}
