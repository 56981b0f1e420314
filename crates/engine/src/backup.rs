//! The envelope as a flat record, for exports (analysts' notebooks, auditors) and for the
//! backup and restore path: a record read back restores the exact original envelope.

use base64::Engine as _;
use dealtrail_domain::{Event, Timestamp};
use dealtrail_store::{ChainHash, RecordedEvent, StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event with its whole envelope, in plain fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    /// Global position.
    pub seq: u64,
    /// Stream id.
    pub stream: String,
    /// Position in the stream.
    pub version: u64,
    /// Event id (UUID).
    pub event_id: String,
    /// Type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u16,
    /// Recorded time, RFC 3339 (for reading).
    pub recorded_at: String,
    /// Recorded time, µs since the Unix epoch (exact).
    pub recorded_at_us: i64,
    /// Business time, RFC 3339 (for reading).
    pub occurred_at: String,
    /// Business time, µs since the Unix epoch (exact).
    pub occurred_at_us: i64,
    /// Who recorded it.
    pub actor: String,
    /// Correlation id, if any.
    pub correlation_id: Option<String>,
    /// Causation id, if any.
    pub causation_id: Option<String>,
    /// Idempotency key of the append, if any.
    pub idempotency_key: Option<String>,
    /// The payload decoded to JSON (for reading; null if this build cannot decode it).
    pub payload: serde_json::Value,
    /// The payload's exact MessagePack bytes, base64 (for restoring).
    pub payload_msgpack: String,
    /// Previous event's hash (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

/// A stored event's payload as JSON, for people reading the log (personal data sealed);
/// null if this build cannot decode it.
pub fn payload_json(e: &RecordedEvent) -> serde_json::Value {
    // Personal data stays sealed here: this is what exports and the raw log show.
    if let Some(raw) = crate::personal::raw_json(&e.event_type, e.schema_version, &e.payload) {
        return raw;
    }
    Event::decode(
        e.stream.as_str(),
        &e.event_type,
        e.schema_version,
        &e.payload,
    )
    .ok()
    .and_then(|event| match event {
        Event::Account(_, a) => serde_json::to_value(a).ok(),
        Event::Opportunity(_, o) => serde_json::to_value(o).ok(),
        Event::Pipeline(p) => serde_json::to_value(p).ok(),
    })
    .unwrap_or(serde_json::Value::Null)
}

/// Why a record cannot be turned back into an envelope.
#[derive(Debug, thiserror::Error)]
#[error("record {seq}: {field} is invalid")]
pub struct RecordError {
    /// The record's sequence number.
    pub seq: u64,
    /// The field.
    pub field: &'static str,
}

impl EnvelopeRecord {
    /// The record of a stored event.
    pub fn from_recorded(e: &RecordedEvent) -> EnvelopeRecord {
        let payload = payload_json(e);
        EnvelopeRecord {
            seq: e.seq,
            stream: e.stream.to_string(),
            version: e.version,
            event_id: e.event_id.to_string(),
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            recorded_at: Timestamp(e.recorded_at.0).to_string(),
            recorded_at_us: e.recorded_at.0,
            occurred_at: Timestamp(e.occurred_at.0).to_string(),
            occurred_at_us: e.occurred_at.0,
            actor: e.actor.clone(),
            correlation_id: e.correlation_id.map(|u| u.to_string()),
            causation_id: e.causation_id.map(|u| u.to_string()),
            idempotency_key: e.idempotency_key.clone(),
            payload,
            payload_msgpack: base64::engine::general_purpose::STANDARD.encode(&e.payload),
            prev_hash: e.prev_hash.to_hex(),
            hash: e.hash.to_hex(),
        }
    }

    /// The exact envelope back (the store checks hashes and order when restoring).
    pub fn to_recorded(&self) -> Result<RecordedEvent, RecordError> {
        let bad = |field| RecordError {
            seq: self.seq,
            field,
        };
        let uuid = |s: &Option<String>, field| {
            s.as_deref()
                .map(|s| Uuid::parse_str(s).map_err(|_| bad(field)))
                .transpose()
        };
        Ok(RecordedEvent {
            seq: self.seq,
            stream: StreamId::parse(self.stream.clone()).map_err(|_| bad("stream"))?,
            version: self.version,
            event_id: Uuid::parse_str(&self.event_id).map_err(|_| bad("event_id"))?,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            recorded_at: dealtrail_store::Timestamp(self.recorded_at_us),
            occurred_at: dealtrail_store::Timestamp(self.occurred_at_us),
            actor: self.actor.clone(),
            correlation_id: uuid(&self.correlation_id, "correlation_id")?,
            causation_id: uuid(&self.causation_id, "causation_id")?,
            idempotency_key: self.idempotency_key.clone(),
            payload: base64::engine::general_purpose::STANDARD
                .decode(&self.payload_msgpack)
                .map_err(|_| bad("payload_msgpack"))?,
            prev_hash: ChainHash::from_hex(&self.prev_hash).ok_or_else(|| bad("prev_hash"))?,
            hash: ChainHash::from_hex(&self.hash).ok_or_else(|| bad("hash"))?,
        })
    }
}
