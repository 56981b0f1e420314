//! Events as a whole: the envelope projections fold, corrections, stable type names, schema
//! versions, and the MessagePack payload codec with upgrades of old versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountEvent;
use crate::error::DomainError;
use crate::ids::{AccountId, OpportunityId, StreamName};
use crate::opportunity::OpportunityEvent;
use crate::pipeline::Pipeline;
use crate::rates::ExchangeRate;
use crate::values::{Text, Timestamp, UserId};

/// An event with the parts of its envelope that projections and aggregates read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<E> {
    /// Global sequence number in the log.
    pub seq: u64,
    /// When the server recorded it.
    pub recorded_at: Timestamp,
    /// The business time stated for it.
    pub occurred_at: Timestamp,
    /// Who recorded it.
    pub actor: UserId,
    /// The event.
    pub event: E,
}

impl<E> Recorded<E> {
    /// The same envelope around another event.
    pub fn with<F>(&self, event: F) -> Recorded<F> {
        Recorded {
            seq: self.seq,
            recorded_at: self.recorded_at,
            occurred_at: self.occurred_at,
            actor: self.actor.clone(),
            event,
        }
    }
}

/// A correction of an earlier record in the same stream: a retraction (no replacement) or an
/// amendment (a replacement of the same type). The log is never rewritten; readers apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction<E> {
    /// Sequence number of the corrected event.
    pub target_seq: u64,
    /// The event as it should have been; `None` retracts the original.
    pub replacement: Option<Box<E>>,
    /// Why.
    pub reason: Text,
}

pub(crate) fn check_correction<E>(
    records: &BTreeMap<u64, (&'static str, bool)>,
    correction: &Correction<E>,
    describe: impl Fn(&E) -> (bool, &'static str),
) -> Result<(), DomainError> {
    let seq = correction.target_seq;
    let Some((event_type, retracted)) = records.get(&seq) else {
        return Err(DomainError::UnknownEvent { seq });
    };
    if *retracted {
        return Err(DomainError::AlreadyRetracted { seq });
    }
    if let Some(replacement) = &correction.replacement {
        let (correctable, found) = describe(replacement);
        if !correctable || found != *event_type {
            return Err(DomainError::AmendmentTypeMismatch {
                seq,
                expected: event_type,
                found,
            });
        }
    }
    Ok(())
}

/// Company-wide reference data: the pipeline definition (stream `pipeline`) and exchange
/// rates (stream `exchange-rates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineEvent {
    /// A (new) pipeline is in force from now on.
    PipelineDefined(Pipeline),
    /// An exchange rate, in force from its date until a later one of the same pair.
    ExchangeRateRecorded(ExchangeRate),
}

/// Any dealtrail event, with the id of the aggregate it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An event of an account.
    Account(AccountId, AccountEvent),
    /// An event of an opportunity.
    Opportunity(OpportunityId, OpportunityEvent),
    /// An event of the pipeline definition.
    Pipeline(PipelineEvent),
}

/// A payload that cannot be turned back into an event.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The stream id is not one dealtrail writes.
    #[error("unknown stream {0:?}")]
    UnknownStream(String),
    /// No event of that type exists in that kind of stream.
    #[error("unknown event type {event_type:?} in stream {stream:?}")]
    UnknownType {
        /// The stream.
        stream: String,
        /// The type name.
        event_type: String,
    },
    /// The schema version is newer than this build, or was never written.
    #[error("{event_type} has no schema version {version} in this build")]
    UnknownVersion {
        /// The type name.
        event_type: String,
        /// The version found.
        version: u16,
    },
    /// The bytes do not match the schema.
    #[error("{event_type} v{version}: {detail}")]
    Malformed {
        /// The type name.
        event_type: String,
        /// The version.
        version: u16,
        /// What went wrong.
        detail: String,
    },
}

/// Each event kind's stable type name and current schema version, and the codec between the
/// enum and `(type name, version, MessagePack map of the fields)`.
///
/// Payloads use MessagePack *maps* (field names included): fields can then be added with
/// `#[serde(default)]` without a new version. A version bump is needed only when a field is
/// renamed, removed or changes meaning; the old version is then upgraded on read (see
/// [`crate::upgrade`]), never rewritten on disk.
macro_rules! codec {
    ($enum:ident, $type_name:ident { $($variant:ident: $version:literal),+ $(,)? }) => {
        /// The stable type name of an event.
        pub(crate) fn $type_name(event: &$enum) -> &'static str {
            match event {
                $($enum::$variant(_) => stringify!($variant),)+
            }
        }

        impl $enum {
            /// Every type name with its current schema version.
            pub const TYPES: &'static [(&'static str, u16)] = &[$((stringify!($variant), $version),)+];

            /// The stable type name.
            pub fn event_type(&self) -> &'static str {
                $type_name(self)
            }

            /// The schema version this build writes for this event's type.
            pub fn schema_version(&self) -> u16 {
                match self {
                    $($enum::$variant(_) => $version,)+
                }
            }

            /// The payload: the event's fields as a MessagePack map.
            pub fn encode(&self) -> Vec<u8> {
                let encoded = match self {
                    $($enum::$variant(e) => rmp_serde::to_vec_named(e),)+
                };
                encoded.expect("encoding an event into a Vec cannot fail")
            }

            /// Reads a payload written under `event_type` and `version`, upgrading old versions.
            pub fn decode(stream: &str, event_type: &str, version: u16, payload: &[u8]) -> Result<$enum, DecodeError> {
                let malformed = |e: rmp_serde::decode::Error| DecodeError::Malformed {
                    event_type: event_type.into(),
                    version,
                    detail: e.to_string(),
                };
                match event_type {
                    $(stringify!($variant) => {
                        if version == $version {
                            rmp_serde::from_slice(payload).map($enum::$variant).map_err(malformed)
                        } else {
                            crate::upgrade::$type_name(event_type, version, payload)?
                                .ok_or_else(|| DecodeError::UnknownVersion {
                                    event_type: event_type.into(),
                                    version,
                                })
                        }
                    })+
                    _ => Err(DecodeError::UnknownType {
                        stream: stream.into(),
                        event_type: event_type.into(),
                    }),
                }
            }
        }
    };
}

codec!(
    AccountEvent,
    type_name_of_account {
        AccountRegistered: 1,
        AccountProfileUpdated: 1,
        OrgUnitAdded: 1,
        BusinessIndicatorRecorded: 1,
        ContactRegistered: 1,
        ContactUpdated: 1,
        ContactLeft: 1,
        AccountOwnerAssigned: 1,
        PurchaseRecorded: 1,
        ServiceInteractionRecorded: 1,
        AccountEventCorrected: 1,
        ContactErased: 1,
    }
);

codec!(
    OpportunityEvent,
    type_name_of_opportunity {
        OpportunityOpened: 1,
        StageChanged: 1,
        FollowUpLogged: 2,
        ContactEngaged: 1,
        CrossFunctionalRecordAdded: 1,
        ForecastRevised: 1,
        BidSubmitted: 1,
        OpportunityClosed: 1,
        OpportunityReopened: 1,
        OwnerReassigned: 1,
        OpportunityEventCorrected: 1,
        ParticipantErased: 1,
    }
);

codec!(
    PipelineEvent,
    type_name_of_pipeline {
        PipelineDefined: 1,
        ExchangeRateRecorded: 1,
    }
);

impl Event {
    /// The stream the event belongs to.
    pub fn stream(&self) -> StreamName {
        match self {
            Event::Account(id, _) => StreamName::Account(*id),
            Event::Opportunity(id, _) => StreamName::Opportunity(*id),
            Event::Pipeline(PipelineEvent::PipelineDefined(_)) => StreamName::Pipeline,
            Event::Pipeline(PipelineEvent::ExchangeRateRecorded(_)) => StreamName::Rates,
        }
    }

    /// The stable type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::Account(_, e) => e.event_type(),
            Event::Opportunity(_, e) => e.event_type(),
            Event::Pipeline(e) => e.event_type(),
        }
    }

    /// The schema version written for this event.
    pub fn schema_version(&self) -> u16 {
        match self {
            Event::Account(_, e) => e.schema_version(),
            Event::Opportunity(_, e) => e.schema_version(),
            Event::Pipeline(e) => e.schema_version(),
        }
    }

    /// The MessagePack payload.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Event::Account(_, e) => e.encode(),
            Event::Opportunity(_, e) => e.encode(),
            Event::Pipeline(e) => e.encode(),
        }
    }

    /// Rebuilds an event from its stream, type name, schema version and payload.
    pub fn decode(
        stream: &str,
        event_type: &str,
        version: u16,
        payload: &[u8],
    ) -> Result<Event, DecodeError> {
        match StreamName::parse(stream) {
            Ok(StreamName::Account(id)) => {
                AccountEvent::decode(stream, event_type, version, payload)
                    .map(|e| Event::Account(id, e))
            }
            Ok(StreamName::Opportunity(id)) => {
                OpportunityEvent::decode(stream, event_type, version, payload)
                    .map(|e| Event::Opportunity(id, e))
            }
            Ok(name @ (StreamName::Pipeline | StreamName::Rates)) => {
                let e = PipelineEvent::decode(stream, event_type, version, payload)?;
                // Each kind of company-wide event has its own stream.
                if Event::Pipeline(e.clone()).stream() != name {
                    return Err(DecodeError::UnknownType {
                        stream: stream.into(),
                        event_type: event_type.into(),
                    });
                }
                Ok(Event::Pipeline(e))
            }
            Err(_) => Err(DecodeError::UnknownStream(stream.into())),
        }
    }
}
