//! Errors of the store: bad requests, which the caller fixes, and failures, which it cannot.

use std::path::PathBuf;

/// A request the store refuses before anything reaches the writer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// A stream id must not be empty.
    #[error("stream id is empty")]
    EmptyStreamId,
    /// A stream id is limited in length.
    #[error("stream id is {len} bytes long, more than the 128 allowed")]
    StreamIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A stream id may not contain whitespace or control characters.
    #[error("stream id {stream:?} contains whitespace or control characters")]
    StreamIdCharacters {
        /// The offending id.
        stream: String,
    },
    /// Every event needs an actor.
    #[error("actor is empty")]
    EmptyActor,
    /// An actor is limited in length.
    #[error("actor is {len} bytes long, more than the 256 allowed")]
    ActorTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// An append must carry at least one event.
    #[error("an append needs at least one event")]
    NoEvents,
    /// An append carries at most [`crate::MAX_EVENTS_PER_APPEND`] events.
    #[error("an append carries {count} events, more than the 1000 allowed")]
    TooManyEvents {
        /// How many it carried.
        count: usize,
    },
    /// An event type name must be 1 to 128 bytes.
    #[error("event {index} has an invalid type name {event_type:?} (1 to 128 bytes)")]
    EventType {
        /// Position of the event in the request.
        index: usize,
        /// The offending name.
        event_type: String,
    },
    /// A payload is limited in size.
    #[error("event {index} has a payload of {len} bytes, more than the 1 MiB allowed")]
    PayloadTooLarge {
        /// Position of the event in the request.
        index: usize,
        /// Its size in bytes.
        len: usize,
    },
    /// An idempotency key must be 1 to 256 bytes.
    #[error("idempotency key is {len} bytes long (1 to 256 allowed)")]
    IdempotencyKey {
        /// Its length in bytes.
        len: usize,
    },
    /// A proof was asked for sizes or events the durable log does not have.
    #[error("{0}")]
    ProofRange(String),
    /// A projection name must be 1 to 128 bytes without NUL.
    #[error("projection name {name:?} is invalid (1 to 128 bytes, no NUL)")]
    ProjectionName {
        /// The offending name.
        name: String,
    },
}

/// A failure of the store itself: the disk, the folder or the data on it.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) has the folder open.
    #[error("the data folder {path} is in use by another process")]
    Locked {
        /// The folder.
        path: PathBuf,
    },
    /// The folder was written by a version of dealtrail with another on-disk format.
    #[error(
        "the data was written in store format {found}, this build reads formats 1 to {supported} only"
    )]
    IncompatibleFormat {
        /// The format found on disk.
        found: u32,
        /// The newest format this build reads.
        supported: u32,
    },
    /// Data on disk could not be decoded or contradicts itself.
    #[error("corrupt data at {location}: {detail}")]
    Corrupt {
        /// Which key or sequence number.
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// sled failed.
    #[error("storage engine error: {0}")]
    Sled(#[from] sled::Error),
    /// The person's personal-data key was destroyed (erasure): nothing more can be sealed
    /// under it.
    #[error("person {person} was erased")]
    Erased {
        /// The person.
        person: uuid::Uuid,
    },
    /// The file system failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A flush failed after a write: the writer stops accepting appends, since what is on
    /// disk can no longer be told apart from what was acknowledged.
    #[error("the writer stopped after an earlier failure: {0}")]
    WriterFailed(String),
    /// A restored envelope does not continue the log exactly; nothing of its batch was
    /// written.
    #[error("cannot restore event {seq}: {detail}")]
    Restore {
        /// Its sequence number.
        seq: u64,
        /// What does not fit.
        detail: String,
    },
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
    /// The PostgreSQL database holding the log failed or could not be reached; nothing of
    /// the request was committed.
    #[error("the database holding the log failed: {0}")]
    Upstream(String),
    /// The commit was sent to the database but its answer was lost: the events may or may
    /// not be in the log (an append retried with its idempotency key finds out).
    #[error("the outcome of a commit is unknown: {0}")]
    UpstreamUnknown(String),
    /// The data folder is not a replica of the database's log: it holds events the database
    /// does not have, or other ones.
    #[error("the data folder does not replicate the database's log: {0}")]
    Diverged(String),
    /// A read asked for something the log does not have (a proof past its end).
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
}

impl StoreError {
    pub(crate) fn corrupt(location: impl Into<String>, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            location: location.into(),
            detail: detail.into(),
        }
    }
}
