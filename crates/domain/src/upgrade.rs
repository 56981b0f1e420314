//! Upgrades of old event schema versions, applied on read. Old bytes stay as they were.
//!
//! The one real example so far: `FollowUpLogged` version 1 came from the first mobile "log a
//! visit" form, which took a single optional contact and assumed the rep logged it. Version 2
//! lists every participating contact, counts participants who are not registered contacts
//! (the trace of a rep keeping contacts to himself), and names the function of whoever logged
//! it. A version 1 event reads as version 2 with its one contact (if any), zero unregistered
//! participants, and the sales function.

use serde::Deserialize;

use crate::account::AccountEvent;
use crate::event::{DecodeError, PipelineEvent};
use crate::ids::ContactId;
use crate::opportunity::{FollowUpLogged, OpportunityEvent};
use crate::values::Text;
use crate::vocab::{Channel, Function};

/// `FollowUpLogged` as schema version 1 wrote it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct FollowUpLoggedV1 {
    /// How the customer was reached.
    pub channel: Channel,
    /// The one contact met, if registered.
    pub contact: Option<ContactId>,
    /// What happened.
    pub summary: Text,
    /// The agreed next step.
    pub next_step: Option<Text>,
}

impl From<FollowUpLoggedV1> for FollowUpLogged {
    fn from(v1: FollowUpLoggedV1) -> FollowUpLogged {
        FollowUpLogged {
            channel: v1.channel,
            // A v1 follow-up without a registered contact still met somebody.
            unregistered_participants: u16::from(v1.contact.is_none()),
            contacts: v1.contact.into_iter().collect(),
            function: Function::Sales,
            summary: v1.summary,
            next_step: v1.next_step,
            next_step_due: None,
            unregistered_names: Vec::new(),
        }
    }
}

fn malformed(event_type: &str, version: u16) -> impl Fn(rmp_serde::decode::Error) -> DecodeError {
    let event_type = event_type.to_owned();
    move |e| DecodeError::Malformed {
        event_type: event_type.clone(),
        version,
        detail: e.to_string(),
    }
}

/// Account events: the sealed versions of the contact events, read without their keys.
pub(crate) fn type_name_of_account(
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<Option<AccountEvent>, DecodeError> {
    use crate::personal::{ContactPersonal, StoredContactRegistered, StoredContactUpdated};
    match (event_type, version) {
        ("ContactRegistered", 2) => {
            let stored: StoredContactRegistered =
                rmp_serde::from_slice(payload).map_err(malformed(event_type, version))?;
            Ok(Some(AccountEvent::ContactRegistered(
                stored.open(ContactPersonal::default()),
            )))
        }
        ("ContactUpdated", 2) => {
            let stored: StoredContactUpdated =
                rmp_serde::from_slice(payload).map_err(malformed(event_type, version))?;
            Ok(Some(AccountEvent::ContactUpdated(
                stored.open(ContactPersonal::default()),
            )))
        }
        _ => Ok(None),
    }
}

/// Upgrades old opportunity events.
pub(crate) fn type_name_of_opportunity(
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<Option<OpportunityEvent>, DecodeError> {
    match (event_type, version) {
        ("FollowUpLogged", 1) => {
            let v1: FollowUpLoggedV1 =
                rmp_serde::from_slice(payload).map_err(malformed(event_type, version))?;
            Ok(Some(OpportunityEvent::FollowUpLogged(v1.into())))
        }
        ("FollowUpLogged", 3) => {
            let stored: crate::personal::StoredFollowUpLogged =
                rmp_serde::from_slice(payload).map_err(malformed(event_type, version))?;
            let sealed =
                crate::values::Label::parse(crate::personal::SEALED).expect("a valid label");
            let names = vec![sealed; stored.unregistered_names.len()];
            Ok(Some(OpportunityEvent::FollowUpLogged(stored.open(names))))
        }
        _ => Ok(None),
    }
}

/// The pipeline event has had one version so far.
pub(crate) fn type_name_of_pipeline(
    _event_type: &str,
    _version: u16,
    _payload: &[u8],
) -> Result<Option<PipelineEvent>, DecodeError> {
    Ok(None)
}
