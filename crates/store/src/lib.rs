//! The event log of dealtrail: an append-only, hash-chained store of event envelopes on sled.
//!
//! It knows envelopes, streams and bytes, never business rules. Appends go through one
//! writer thread that commits concurrent callers together (one atomic batch, one flush) and
//! answers only once the events are durable. Reads, subscriptions and `verify` see only
//! durable events.

mod audit;
pub(crate) mod blocks;
pub(crate) mod codec;
mod error;
pub mod heads;
pub(crate) mod pg;
mod pgconnect;
mod pgkeys;
mod query;
#[doc(hidden)]
pub mod raw;
mod read;
mod snapshot;
mod store;
mod subscribe;
pub mod tree;
mod types;
pub mod vault;
mod verify;
mod writer;

pub use audit::{ConsistencyProof, InclusionProof, TreeHead};
pub use codec::{EventView, FORMAT_VERSION, SUPPORTED_FORMATS, record_hash};
pub use error::{InvalidRequest, StoreError};
pub use query::{LogFilter, MAX_SCAN_PER_PAGE, Page};
pub use read::{IdempotentHit, LogIter};
pub use snapshot::{Snapshot, SnapshotError};
pub use store::{
    Clock, Config, Durability, GROUP_SIZE_CLASSES, MAX_CACHE_BYTES, MIN_CACHE_BYTES,
    SLED_SEGMENT_SIZE, Store, WriteStats, default_cache_capacity,
};
pub use subscribe::Subscription;
pub use types::{
    AppendOutcome, AppendRequest, ChainHash, Direction, ExpectedVersion, Head, MAX_ACTOR_LEN,
    MAX_EVENT_TYPE_LEN, MAX_EVENTS_PER_APPEND, MAX_IDEMPOTENCY_KEY_LEN, MAX_PAYLOAD_LEN,
    MAX_STREAM_ID_LEN, NewEvent, Receipt, RecordedEvent, StreamId, Timestamp,
};
pub use verify::{Problem, ProblemKind, VerifyReport};
