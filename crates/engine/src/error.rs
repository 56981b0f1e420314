//! Errors of the engine: refusals the caller can act on, and failures it cannot.

use dealtrail_domain::{DecodeError, DomainError};
use dealtrail_store::{ExpectedVersion, InvalidRequest, SnapshotError, StoreError, StreamId};

/// Why a command or a query did not go through.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The business rules refuse the command; nothing was written.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The stream moved on since the caller read it; nothing was written.
    #[error("version conflict on {stream}: expected {expected}, the stream is at {actual}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// What the stream holds.
        actual: u64,
    },
    /// The actor already used the idempotency key for another stream; nothing was
    /// written.
    #[error("idempotency key already used for stream {original_stream}")]
    IdempotencyKeyReused {
        /// The stream it was used for.
        original_stream: StreamId,
    },
    /// The actor already used the idempotency key for another command; nothing was
    /// written.
    #[error(
        "idempotency key already used for another command (the one written at seq {first_seq})"
    )]
    IdempotencyKeyMismatch {
        /// Where the first command's events begin.
        first_seq: u64,
    },
    /// The request is malformed (stream id, actor, sizes); nothing was written.
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    /// A stored event cannot be decoded by this build.
    #[error("event {seq} cannot be decoded: {source}")]
    Decode {
        /// Its sequence number.
        seq: u64,
        /// Why.
        source: DecodeError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A contact's personal data sits in plaintext in chained events an older build wrote:
    /// destroying a key cannot erase it.
    #[error(
        "person {person}'s personal data is in plaintext in events {seqs:?}, written before \
         personal data was sealed; erasing it would break the chain"
    )]
    ErasureImpossible {
        /// The person.
        person: uuid::Uuid,
        /// The events holding it.
        seqs: Vec<u64>,
    },
    /// No follow-up of the deal names this participant.
    #[error("no follow-up of this deal names participant {person}")]
    UnknownPerson {
        /// The id given.
        person: uuid::Uuid,
    },
    /// Personal data could not be sealed (no randomness from the system).
    #[error("cannot seal personal data: {0}")]
    Sealing(String),
    /// A batch of commands must all write to one stream.
    #[error("the commands of one batch must all write to the same stream")]
    MixedStreams,
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The caller abandoned the work (see [`crate::Cancel`]); nothing was written.
    #[error("the work was cancelled")]
    Cancelled,
}

impl From<SnapshotError> for EngineError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::Invalid(i) => EngineError::Invalid(i),
            SnapshotError::Store(s) => EngineError::Store(s),
            other => EngineError::Store(StoreError::Corrupt {
                location: "snapshot".into(),
                detail: other.to_string(),
            }),
        }
    }
}
