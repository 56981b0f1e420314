//! Translation between the domain's events and the store's envelopes.

use dealtrail_domain::{DecodeError, Event, Recorded, Timestamp, UserId};
use dealtrail_store::vault::Vault;
use dealtrail_store::{NewEvent, RecordedEvent, StreamId};
use uuid::Uuid;

use crate::error::EngineError;
use crate::personal;

/// The store's stream id of a domain stream name.
pub fn stream_id(name: dealtrail_domain::StreamName) -> StreamId {
    StreamId::parse(name.to_string()).expect("domain stream names are valid stream ids")
}

/// Wraps domain events for the store, personal data sealed under keys from `vault` (made,
/// and synced once, before anything is sealed under them); each event id is a fresh UUIDv7
/// (time-ordered).
pub fn new_events(
    events: &[(Event, Timestamp)],
    vault: &Vault,
) -> Result<Vec<NewEvent>, EngineError> {
    let people: Vec<Vec<Uuid>> = events.iter().map(|(e, _)| personal::people(e)).collect();
    let all: Vec<Uuid> = people.iter().flatten().copied().collect();
    let mut keys = if all.is_empty() {
        Vec::new()
    } else {
        vault.keys_for(&all)?
    }
    .into_iter();
    events
        .iter()
        .zip(&people)
        .map(|((event, occurred_at), people)| {
            let keys: Vec<_> = keys.by_ref().take(people.len()).collect();
            let (schema_version, payload) = match personal::seal(event, people, &keys)? {
                Some(sealed) => sealed,
                None => (event.schema_version(), event.encode()),
            };
            Ok(NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version,
                occurred_at: dealtrail_store::Timestamp(occurred_at.0),
                payload,
                causation_id: None,
            })
        })
        .collect()
}

/// Reads a payload, opening sealed personal data with the vault's keys.
fn decode_payload(
    vault: &Vault,
    stream: &str,
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<Event, DecodeError> {
    personal::open(vault, stream, event_type, version, payload)
        .unwrap_or_else(|| Event::decode(stream, event_type, version, payload))
}

/// Decodes a stored envelope into what projections and aggregates read.
pub fn decode(recorded: &RecordedEvent, vault: &Vault) -> Result<Recorded<Event>, EngineError> {
    let event = decode_payload(
        vault,
        recorded.stream.as_str(),
        &recorded.event_type,
        recorded.schema_version,
        &recorded.payload,
    )
    .map_err(|source| EngineError::Decode {
        seq: recorded.seq,
        source,
    })?;
    let actor = UserId::parse(&recorded.actor).map_err(|_| EngineError::Decode {
        seq: recorded.seq,
        source: DecodeError::Malformed {
            event_type: recorded.event_type.clone(),
            version: recorded.schema_version,
            detail: format!("actor {:?} is not a valid user id", recorded.actor),
        },
    })?;
    Ok(Recorded {
        seq: recorded.seq,
        recorded_at: Timestamp(recorded.recorded_at.0),
        occurred_at: Timestamp(recorded.occurred_at.0),
        actor,
        event,
    })
}

/// Decodes a borrowed view of a stored event (the fast path of folds).
pub fn decode_view(
    view: &dealtrail_store::EventView<'_>,
    vault: &Vault,
) -> Result<Recorded<Event>, EngineError> {
    let event = decode_payload(
        vault,
        view.stream,
        view.event_type,
        view.schema_version,
        view.payload,
    )
    .map_err(|source| EngineError::Decode {
        seq: view.seq,
        source,
    })?;
    let actor = UserId::parse(view.actor).map_err(|_| EngineError::Decode {
        seq: view.seq,
        source: DecodeError::Malformed {
            event_type: view.event_type.to_owned(),
            version: view.schema_version,
            detail: format!("actor {:?} is not a valid user id", view.actor),
        },
    })?;
    Ok(Recorded {
        seq: view.seq,
        recorded_at: Timestamp(view.recorded_at.0),
        occurred_at: Timestamp(view.occurred_at.0),
        actor,
        event,
    })
}
