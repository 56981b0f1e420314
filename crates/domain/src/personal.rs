//! Personal data as the log stores it: sealed under a key per person that lives outside the
//! log (the data folder's key file), so that destroying the key erases the person without
//! changing a chained byte. The engine seals and opens; this module only says the shapes.
//!
//! Sealed events are written under their own schema versions: `ContactRegistered` v2,
//! `ContactUpdated` v2 (when it changes an e-mail or phone), `FollowUpLogged` v3 (when it
//! names unregistered participants). Read without the keys, their personal fields read as
//! [`SEALED`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{ContactRegistered, ContactUpdated};
use crate::ids::{ContactId, OrgUnitId};
use crate::opportunity::FollowUpLogged;
use crate::values::{Date, Label, Name, Text};
use crate::vocab::{BuyingRole, Channel, Function, Seniority};

/// What personal fields read as where their key is not at hand (raw readers of the log).
pub const SEALED: &str = "(sealed)";

/// What they read as once the person was erased.
pub const ERASED: &str = "(erased)";

/// Bytes sealed under one person's key (ChaCha20-Poly1305, the person's id as associated
/// data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Whose key: a contact's id, or the id given to an unregistered participant.
    pub person: Uuid,
    /// The nonce, 12 bytes.
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// The ciphertext with its tag.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

/// A contact's personal fields: the plaintext of their [`Sealed`] part.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactPersonal {
    /// Full name.
    pub name: Option<Name>,
    /// E-mail.
    pub email: Option<Label>,
    /// Phone.
    pub phone: Option<Label>,
}

/// `ContactRegistered` as schema version 2 stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredContactRegistered {
    /// The contact.
    pub contact: ContactId,
    /// Job title.
    pub title: Option<Label>,
    /// The unit the person works in.
    pub org_unit: Option<OrgUnitId>,
    /// Their part in buying.
    pub role: BuyingRole,
    /// How senior they are.
    pub seniority: Seniority,
    /// Name, e-mail and phone.
    pub personal: Sealed,
}

/// `ContactUpdated` as schema version 2 stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredContactUpdated {
    /// The contact.
    pub contact: ContactId,
    /// New title.
    pub title: Option<Label>,
    /// New org unit.
    pub org_unit: Option<OrgUnitId>,
    /// New buying role.
    pub role: Option<BuyingRole>,
    /// New seniority.
    pub seniority: Option<Seniority>,
    /// The new e-mail and phone (the name does not change).
    pub personal: Sealed,
}

/// `FollowUpLogged` as schema version 3 stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFollowUpLogged {
    /// How the customer was reached.
    pub channel: Channel,
    /// Registered contacts who took part.
    pub contacts: Vec<ContactId>,
    /// People met who are not registered contacts.
    pub unregistered_participants: u16,
    /// The function of whoever logged it.
    pub function: Function,
    /// What happened.
    pub summary: Text,
    /// The agreed next step.
    pub next_step: Option<Text>,
    /// When it is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step_due: Option<Date>,
    /// Each unregistered participant's name, sealed under an id of its own.
    pub unregistered_names: Vec<Sealed>,
}

fn sealed_name() -> Name {
    Name::parse(SEALED).expect("a valid name")
}

/// The text an opened (or unopenable) name reads as.
pub fn placeholder(erased: bool) -> &'static str {
    if erased { ERASED } else { SEALED }
}

impl StoredContactRegistered {
    /// The event with `personal` in place of the sealed part.
    pub fn open(self, personal: ContactPersonal) -> ContactRegistered {
        ContactRegistered {
            contact: self.contact,
            name: personal.name.unwrap_or_else(sealed_name),
            title: self.title,
            org_unit: self.org_unit,
            role: self.role,
            seniority: self.seniority,
            email: personal.email,
            phone: personal.phone,
        }
    }
}

impl StoredContactUpdated {
    /// The event with `personal` in place of the sealed part.
    pub fn open(self, personal: ContactPersonal) -> ContactUpdated {
        ContactUpdated {
            contact: self.contact,
            title: self.title,
            org_unit: self.org_unit,
            role: self.role,
            seniority: self.seniority,
            email: personal.email,
            phone: personal.phone,
        }
    }
}

impl StoredFollowUpLogged {
    /// The event with `names` in place of the sealed ones.
    pub fn open(self, names: Vec<Label>) -> FollowUpLogged {
        FollowUpLogged {
            channel: self.channel,
            contacts: self.contacts,
            unregistered_participants: self.unregistered_participants,
            function: self.function,
            summary: self.summary,
            next_step: self.next_step,
            next_step_due: self.next_step_due,
            unregistered_names: names,
        }
    }
}
