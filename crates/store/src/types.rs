//! The values that cross the store's API: stream ids, envelopes, append requests and receipts.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::InvalidRequest;

/// Longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 128;
/// Longest event type name accepted, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// Longest actor accepted, in bytes.
pub const MAX_ACTOR_LEN: usize = 256;
/// Longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;
/// Largest payload accepted for one event, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 1 << 20;
/// Most events accepted in one append.
pub const MAX_EVENTS_PER_APPEND: usize = 1_000;

/// A moment in time: microseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time of the system clock.
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }
}

/// A BLAKE3 hash that links one event to the next.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ChainHash(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl ChainHash {
    /// The hash the first event links to: all zeroes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// Lowercase hexadecimal, as shown to auditors.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hexadecimal characters.
    pub fn from_hex(s: &str) -> Option<ChainHash> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ChainHash(out))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The name of a stream (`account-<id>`, `opportunity-<id>`, `pipeline`).
///
/// Shared text: a stream read hands every one of its events the same id, and read models
/// copy ids into their maps, so a clone is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(Arc<str>);

impl Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| StreamId(s.into()))
    }
}

impl StreamId {
    /// Accepts 1 to [`MAX_STREAM_ID_LEN`] bytes of printable characters without whitespace.
    pub fn parse(s: impl Into<String>) -> Result<StreamId, InvalidRequest> {
        let s = s.into();
        if s.is_empty() {
            return Err(InvalidRequest::EmptyStreamId);
        }
        if s.len() > MAX_STREAM_ID_LEN {
            return Err(InvalidRequest::StreamIdTooLong { len: s.len() });
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidRequest::StreamIdCharacters { stream: s });
        }
        Ok(StreamId(s.into()))
    }

    /// Wraps text read back from the log, which was validated when it was written.
    pub(crate) fn trusted(s: &str) -> StreamId {
        StreamId(s.into())
    }

    /// The stream id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's version to be before its append.
///
/// A stream's version is the number of events in it: the first event has version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold exactly this many events (0 means the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(n) => actual == n,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "{n}"),
        }
    }
}

/// One event a caller wants to append; the store adds the rest of the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Unique id of the event, chosen by the caller (a UUIDv7 suits a log).
    pub event_id: Uuid,
    /// Stable type name, e.g. `StageChanged`.
    pub event_type: String,
    /// Version of the payload's schema for this type.
    pub schema_version: u16,
    /// Business time the caller states.
    pub occurred_at: Timestamp,
    /// The event body, MessagePack-encoded by the caller.
    pub payload: Vec<u8>,
    /// Id of the event or command that caused this one.
    pub causation_id: Option<Uuid>,
}

/// A validated batch of events for one stream, with the caller's expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    pub(crate) actor: String,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) fingerprint: Option<[u8; 32]>,
    pub(crate) events: Vec<NewEvent>,
}

impl AppendRequest {
    /// Checks every field; a request that exists is one the writer can commit.
    pub fn new(
        stream: StreamId,
        expected: ExpectedVersion,
        actor: impl Into<String>,
        events: Vec<NewEvent>,
    ) -> Result<AppendRequest, InvalidRequest> {
        let actor = actor.into();
        if actor.is_empty() {
            return Err(InvalidRequest::EmptyActor);
        }
        if actor.len() > MAX_ACTOR_LEN {
            return Err(InvalidRequest::ActorTooLong { len: actor.len() });
        }
        if events.is_empty() {
            return Err(InvalidRequest::NoEvents);
        }
        if events.len() > MAX_EVENTS_PER_APPEND {
            return Err(InvalidRequest::TooManyEvents {
                count: events.len(),
            });
        }
        for (index, event) in events.iter().enumerate() {
            if event.event_type.is_empty() || event.event_type.len() > MAX_EVENT_TYPE_LEN {
                return Err(InvalidRequest::EventType {
                    index,
                    event_type: event.event_type.clone(),
                });
            }
            if event.payload.len() > MAX_PAYLOAD_LEN {
                return Err(InvalidRequest::PayloadTooLarge {
                    index,
                    len: event.payload.len(),
                });
            }
        }
        Ok(AppendRequest {
            stream,
            expected,
            actor,
            correlation_id: None,
            idempotency_key: None,
            fingerprint: None,
            events,
        })
    }

    /// Makes a retry of this request with the same key return the first result.
    pub fn with_idempotency_key(
        mut self,
        key: impl Into<String>,
    ) -> Result<AppendRequest, InvalidRequest> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(InvalidRequest::IdempotencyKey { len: key.len() });
        }
        self.idempotency_key = Some(key);
        Ok(self)
    }

    /// What the command was (a hash the caller makes of it), kept with the idempotency key:
    /// a later request with the key and another fingerprint is refused instead of being
    /// answered with the first result.
    pub fn with_fingerprint(mut self, fingerprint: [u8; 32]) -> AppendRequest {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Ties the events to the request or conversation they belong to.
    pub fn with_correlation_id(mut self, id: Uuid) -> AppendRequest {
        self.correlation_id = Some(id);
        self
    }
}

/// An event as stored: the caller's event inside the full envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position in the log, dense from 1.
    pub seq: u64,
    /// The stream the event belongs to.
    pub stream: StreamId,
    /// Position in its stream, dense from 1.
    pub version: u64,
    /// Unique id chosen by the writer.
    pub event_id: Uuid,
    /// Stable type name.
    pub event_type: String,
    /// Version of the payload's schema.
    pub schema_version: u16,
    /// When the store committed the event (server clock, never decreasing along the log).
    pub recorded_at: Timestamp,
    /// Business time stated by the writer.
    pub occurred_at: Timestamp,
    /// Who recorded the event.
    pub actor: String,
    /// The request or conversation the event belongs to.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
    /// The idempotency key of the append that wrote the event.
    pub idempotency_key: Option<String>,
    /// MessagePack body.
    pub payload: Vec<u8>,
    /// Hash of the previous event (zeroes for the first).
    pub prev_hash: ChainHash,
    /// BLAKE3 of this envelope's canonical bytes (which include `prev_hash`).
    pub hash: ChainHash,
}

/// What an append wrote: the positions of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Sequence number of the first event written.
    pub first_seq: u64,
    /// Sequence number of the last event written.
    pub last_seq: u64,
    /// Stream version of the first event written.
    pub first_version: u64,
    /// Stream version after the append.
    pub last_version: u64,
    /// Commit time of the events.
    pub recorded_at: Timestamp,
}

/// The result of an append that reached the writer.
///
/// Expected outcomes are values, not errors, so that `?` can never pass a conflict off as a
/// failure of the disk or the other way round.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were written and flushed.
    Committed(Receipt),
    /// The idempotency key had been used for this stream: nothing was written, and this is
    /// the receipt of the original append.
    Replayed(Receipt),
    /// The stream's version did not match the expectation; nothing was written.
    Conflict {
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's version at the time of the check.
        actual: u64,
    },
    /// The caller had used the idempotency key for a different stream; nothing was
    /// written.
    IdempotencyKeyReused {
        /// The stream the key was first used for.
        original_stream: StreamId,
    },
    /// The caller had used the idempotency key for another command on this stream (the
    /// fingerprints differ); nothing was written.
    IdempotencyKeyMismatch {
        /// The receipt of the append that used the key first.
        original: Receipt,
    },
}

impl AppendOutcome {
    /// The receipt, whether the append was new or a retry.
    pub fn receipt(&self) -> Option<Receipt> {
        match self {
            AppendOutcome::Committed(r) | AppendOutcome::Replayed(r) => Some(*r),
            _ => None,
        }
    }
}

/// The end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last durable event (0 when empty).
    pub seq: u64,
    /// Its hash ([`ChainHash::GENESIS`] when empty).
    pub hash: ChainHash,
    /// The root of the Merkle tree over events 1 to `seq` (see [`crate::tree`]).
    pub root: crate::tree::TreeHash,
}

/// Which way a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending versions.
    Forward,
    /// Descending versions.
    Backward,
}
