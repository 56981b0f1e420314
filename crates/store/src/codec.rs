//! On-disk encoding: key layout of the log tree and the canonical bytes of an envelope.
//! The keys below are format 1's and those both formats share; format 2's blocks and
//! positions are in `crate::blocks`.
//!
//! Everything lives in one sled tree so that one `Batch` (atomic within a tree) can write an
//! append's events, indexes, stream head, chain head and idempotency record together.
//! See `docs/store.md` for the layout in prose.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod body;

use crate::blocks::Layout;
use crate::error::StoreError;
use crate::tree::{Frontier, Nodes, TreeHash, leaf_hash};
use crate::types::{ChainHash, Receipt, RecordedEvent, StreamId, Timestamp};

/// The on-disk format new folders get (format 2: blocks; `crate::blocks`).
pub const FORMAT_VERSION: u32 = 2;
/// The on-disk formats this build reads and writes: 1 (a key per record) and 2 (blocks).
pub const SUPPORTED_FORMATS: [u32; 2] = [1, 2];
/// The format of one record (its canonical bytes and hash), the same in both folder
/// formats: what the database's rows hold and what its head row names.
pub(crate) const RECORD_FORMAT: u32 = 1;

/// `M` + name: metadata (format version, number of streams).
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
/// Streams created so far (u64 BE), rewritten by the batch that creates one.
pub(crate) const META_STREAMS: &[u8] = b"Mstreams";
/// `E` + seq (u64 BE) -> record: the log in order.
pub(crate) const EVENT: u8 = b'E';
/// `S` + stream number (u64 BE) + version (u64 BE) -> record: a copy, so that a stream reads
/// as one short range scan instead of one point lookup per event.
pub(crate) const STREAM_EVENT: u8 = b'S';
/// `N` + stream id -> stream number (u64 BE), written when the stream is created.
pub(crate) const STREAM_HEAD: u8 = b'N';
/// `I` + idempotency key -> the original append's stream and receipt: keys of folders
/// written before keys were scoped per actor. Read, never written.
pub(crate) const IDEMPOTENCY: u8 = b'I';
/// `K` + actor length (u16 BE) + actor + idempotency key -> the original append's stream,
/// receipt and command fingerprint: a key belongs to the actor who used it.
pub(crate) const SCOPED_IDEMPOTENCY: u8 = b'K';
/// The tree head: number of leaves (u64 BE), root (32 bytes), hash of the last record (32
/// bytes); rewritten by every batch that appends.
pub(crate) const META_TREE: &[u8] = b"Mtree";
/// `T` + level (u8) + index (u64 BE) -> root of a complete subtree of the Merkle tree.
pub(crate) const TREE_NODE: u8 = b'T';

pub(crate) fn tree_node_key(level: u8, index: u64) -> [u8; 10] {
    let mut k = [TREE_NODE; 10];
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The stored tree head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredTreeHead {
    pub size: u64,
    pub root: TreeHash,
    pub last_hash: ChainHash,
}

impl StoredTreeHead {
    pub fn encode(&self) -> [u8; 72] {
        let mut v = [0u8; 72];
        v[..8].copy_from_slice(&self.size.to_be_bytes());
        v[8..40].copy_from_slice(&self.root);
        v[40..].copy_from_slice(&self.last_hash.0);
        v
    }

    pub fn decode(bytes: &[u8]) -> Result<StoredTreeHead, StoreError> {
        let bad = || StoreError::corrupt("tree head", "expected 72 bytes");
        if bytes.len() != 72 {
            return Err(bad());
        }
        Ok(StoredTreeHead {
            size: u64_at(bytes, 0).ok_or_else(bad)?,
            root: bytes[8..40].try_into().map_err(|_| bad())?,
            last_hash: ChainHash(bytes[40..].try_into().map_err(|_| bad())?),
        })
    }

    pub fn read(tree: &sled::Tree) -> Result<Option<StoredTreeHead>, StoreError> {
        tree.get(META_TREE)?
            .map(|v| StoredTreeHead::decode(&v))
            .transpose()
    }
}

/// The tree's nodes as the log tree holds them: leaves from the records' hashes, large
/// subtrees from `T` keys.
pub(crate) struct LogNodes<'a>(pub &'a sled::Tree, pub Layout);

impl Nodes for LogNodes<'_> {
    fn leaves(&self, start: u64, count: u64) -> Result<Vec<TreeHash>, StoreError> {
        let mut out = Vec::with_capacity(count as usize);
        self.1
            .for_each(self.0, start + 1, start + count, |seq, bytes| {
                let hash = stored_hash(bytes)
                    .ok_or_else(|| StoreError::corrupt(format!("seq {seq}"), "short record"))?;
                out.push(leaf_hash(&hash.0));
                Ok::<_, StoreError>(())
            })?;
        Ok(out)
    }

    fn stored(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError> {
        match self.0.get(tree_node_key(level, index))? {
            None => Ok(None),
            Some(v) => v.as_ref().try_into().map(Some).map_err(|_| {
                StoreError::corrupt(format!("tree node {level}/{index}"), "expected 32 bytes")
            }),
        }
    }
}

pub(crate) fn event_key(seq: u64) -> [u8; 9] {
    let mut k = [EVENT; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn stream_event_key(stream_num: u64, version: u64) -> [u8; 17] {
    let mut k = [STREAM_EVENT; 17];
    k[1..9].copy_from_slice(&stream_num.to_be_bytes());
    k[9..].copy_from_slice(&version.to_be_bytes());
    k
}

pub(crate) fn stream_head_key(stream: &StreamId) -> Vec<u8> {
    prefixed(STREAM_HEAD, stream.as_str().as_bytes())
}

pub(crate) fn idempotency_key(key: &str) -> Vec<u8> {
    prefixed(IDEMPOTENCY, key.as_bytes())
}

pub(crate) fn scoped_idempotency_key(actor: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + actor.len() + key.len());
    k.push(SCOPED_IDEMPOTENCY);
    // Actors are at most MAX_ACTOR_LEN bytes, far below u16::MAX.
    k.extend_from_slice(&(actor.len() as u16).to_be_bytes());
    k.extend_from_slice(actor.as_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// The actor (for scoped records) and the key of an idempotency record's key.
pub(crate) fn split_idempotency_key(key: &[u8]) -> Option<(Option<String>, String)> {
    match *key.first()? {
        IDEMPOTENCY => Some((None, String::from_utf8(key[1..].to_vec()).ok()?)),
        SCOPED_IDEMPOTENCY => {
            let len = usize::from(u16::from_be_bytes(key.get(1..3)?.try_into().ok()?));
            let actor = String::from_utf8(key.get(3..3 + len)?.to_vec()).ok()?;
            let idem = String::from_utf8(key.get(3 + len..)?.to_vec()).ok()?;
            Some((Some(actor), idem))
        }
        _ => None,
    }
}

/// The record of `actor`'s earlier use of `key`: the scoped record, or else a record from
/// before keys were scoped, if the append it names was `actor`'s.
pub(crate) fn find_idempotency(
    tree: &sled::Tree,
    layout: Layout,
    actor: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    if let Some(bytes) = tree.get(scoped_idempotency_key(actor, key))? {
        return IdempotencyRecord::decode(&bytes, key).map(Some);
    }
    let Some(bytes) = tree.get(idempotency_key(key))? else {
        return Ok(None);
    };
    let record = IdempotencyRecord::decode(&bytes, key)?;
    let Some(event) = layout.record(tree, record.receipt.first_seq)? else {
        // An append still being written: not yet a record anyone can rely on.
        return Ok(None);
    };
    let view = view_record(&event)
        .map_err(|e| StoreError::corrupt(format!("seq {}", record.receipt.first_seq), e))?;
    Ok((view.actor == actor).then_some(record))
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
}

/// Head of one stream: its internal number and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamHead {
    pub num: u64,
    pub version: u64,
}

/// The stream's number, written once when the stream is created.
pub(crate) fn decode_stream_num(bytes: &[u8], stream: &StreamId) -> Result<u64, StoreError> {
    match (bytes.len(), u64_at(bytes, 0)) {
        (8, Some(num)) => Ok(num),
        _ => Err(StoreError::corrupt(
            format!("number of stream {stream}"),
            "expected 8 bytes",
        )),
    }
}

/// Looks up a stream's number and derives its version from its last index entry.
///
/// The version is not stored separately: writing it with every append would cost one more
/// sled insert per event, about a third of the write path.
pub(crate) fn load_stream_head(
    tree: &sled::Tree,
    layout: Layout,
    stream: &StreamId,
) -> Result<Option<StreamHead>, StoreError> {
    let Some(num) = tree.get(stream_head_key(stream))? else {
        return Ok(None);
    };
    let num = decode_stream_num(&num, stream)?;
    if layout == Layout::Blocks {
        let version = crate::blocks::stream_version(tree, num)?;
        return Ok(Some(StreamHead { num, version }));
    }
    let last = tree
        .range(stream_event_key(num, 0)..=stream_event_key(num, u64::MAX))
        .keys()
        .next_back()
        .transpose()?;
    let version = match last {
        Some(key) => u64_at(&key, 9)
            .ok_or_else(|| StoreError::corrupt(format!("stream {stream}"), "short index key"))?,
        None => 0,
    };
    Ok(Some(StreamHead { num, version }))
}

/// The end of the chain as the writer tracks it.
///
/// Nothing of it is stored separately: the last record carries seq, hash and time, and
/// `Mstreams` the stream count. A separate head key would cost one more sled insert per
/// append, and it would protect nothing that `verify` does not already catch (a truncated
/// tail leaves `S` copies behind; a thorough attacker could rewrite any key anyway, which
/// is what anchoring the head hash outside the store is for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainState {
    pub last_seq: u64,
    pub last_hash: ChainHash,
    pub last_recorded_at: Timestamp,
    pub stream_count: u64,
    /// The Merkle tree's right edge over the same events.
    pub tree: Frontier,
}

impl ChainState {
    /// Recovers the chain state from the last record and the stream counter.
    pub fn load(tree: &sled::Tree, layout: Layout) -> Result<ChainState, StoreError> {
        let stream_count = match tree.get(META_STREAMS)? {
            Some(v) => u64_at(&v, 0)
                .filter(|_| v.len() == 8)
                .ok_or_else(|| StoreError::corrupt("stream counter", "expected 8 bytes"))?,
            None => 0,
        };
        let Some((seq, bytes)) = layout.last_record(tree)? else {
            if let Some(stored) = StoredTreeHead::read(tree)?
                && stored.size > 0
            {
                return Err(cut(stored.size, 0));
            }
            return Ok(ChainState {
                last_seq: 0,
                last_hash: ChainHash::GENESIS,
                last_recorded_at: Timestamp(i64::MIN),
                stream_count,
                tree: Frontier::default(),
            });
        };
        let event =
            decode_record(&bytes).map_err(|e| StoreError::corrupt(format!("seq {seq}"), e))?;
        if event.seq != seq {
            return Err(StoreError::corrupt(
                format!("seq {seq}"),
                format!("record says seq {}", event.seq),
            ));
        }
        // A folder from before the tree has none yet: it is built when the store opens.
        let tree_state = match StoredTreeHead::read(tree)? {
            None => Frontier::default(),
            Some(stored) => {
                if stored.size != seq {
                    return Err(cut(stored.size, seq));
                }
                if stored.last_hash != event.hash {
                    return Err(StoreError::corrupt(
                        "tree head",
                        format!(
                            "it names {} as the hash of event {seq}, the record's is {}: \
                             the end of the log was rewritten",
                            stored.last_hash, event.hash
                        ),
                    ));
                }
                let frontier = Frontier::load(&LogNodes(tree, layout), seq)?;
                if frontier.root() != stored.root {
                    return Err(StoreError::corrupt(
                        "tree head",
                        "its root is not the root of the stored tree: the log or its tree \
                         was altered",
                    ));
                }
                frontier
            }
        };
        Ok(ChainState {
            last_seq: seq,
            last_hash: event.hash,
            last_recorded_at: event.recorded_at,
            stream_count,
            tree: tree_state,
        })
    }

    /// Whether the tree covers the log (false for a folder written before the tree).
    pub fn tree_complete(&self) -> bool {
        self.tree.size() == self.last_seq
    }

    /// Adds event `hash`'s leaf to the tree, putting the subtrees it completes in `batch`.
    pub fn push_leaf(&mut self, hash: &ChainHash, batch: &mut sled::Batch) {
        self.tree.push(leaf_hash(&hash.0), |level, index, node| {
            if level >= crate::tree::STORED_LEVEL {
                batch.insert(&tree_node_key(level, index), node);
            }
        });
    }

    /// The tree head to store with the batch that brought the log to this state.
    pub fn tree_head(&self) -> StoredTreeHead {
        StoredTreeHead {
            size: self.tree.size(),
            root: self.tree.root(),
            last_hash: self.last_hash,
        }
    }
}

fn cut(tree_size: u64, log_end: u64) -> StoreError {
    StoreError::corrupt(
        "tree head",
        format!(
            "it covers {tree_size} events, the log ends at event {log_end}: events were \
             removed from the end of the log, or the tree head was altered"
        ),
    )
}

/// What an idempotency key remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    pub stream: StreamId,
    pub receipt: Receipt,
    /// What the command was, as the caller fingerprinted it; absent in records from before
    /// fingerprints, and in records rebuilt from a backup.
    #[serde(default)]
    pub fingerprint: Option<[u8; 32]>,
}

impl IdempotencyRecord {
    /// Whether a request with `fingerprint` is the command this record remembers: unknown
    /// on either side counts as the same.
    pub fn same_command(&self, fingerprint: Option<[u8; 32]>) -> bool {
        match (self.fingerprint, fingerprint) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl IdempotencyRecord {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("encoding a fixed struct into a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8], key: &str) -> Result<IdempotencyRecord, StoreError> {
        rmp_serde::from_slice(bytes)
            .map_err(|e| StoreError::corrupt(format!("idempotency key {key:?}"), e.to_string()))
    }
}

/// The envelope without its own hash, in field order: these are the canonical bytes.
///
/// MessagePack array encoding is positional and therefore fixed by the format version; any
/// change to this struct is a new [`FORMAT_VERSION`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Body<'a> {
    seq: u64,
    #[serde(borrow)]
    stream: &'a str,
    version: u64,
    event_id: Uuid,
    event_type: &'a str,
    schema_version: u16,
    recorded_at: i64,
    occurred_at: i64,
    actor: &'a str,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    idempotency_key: Option<&'a str>,
    #[serde(with = "serde_bytes")]
    payload: &'a [u8],
    #[serde(with = "serde_bytes")]
    prev_hash: &'a [u8],
}

/// The body of canonical bytes: read directly when they have the serializer's shape (every
/// record the store wrote), through rmp-serde otherwise, whose error then names the fault.
fn read_body(canonical: &[u8]) -> Result<Body<'_>, String> {
    match body::read(canonical) {
        Some(body) => Ok(body),
        None => rmp_serde::from_slice(canonical).map_err(|e| e.to_string()),
    }
}

/// Length of the hash that follows the canonical bytes in a stored record.
const HASH_LEN: usize = 32;

/// Encodes the envelope; the returned record is `canonical bytes ++ BLAKE3(canonical bytes)`,
/// and the canonical bytes include the previous hash, which is what chains the log.
pub(crate) fn encode_record(event: &RecordedEvent) -> (Vec<u8>, ChainHash) {
    let body = Body {
        seq: event.seq,
        stream: event.stream.as_str(),
        version: event.version,
        event_id: event.event_id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        recorded_at: event.recorded_at.0,
        occurred_at: event.occurred_at.0,
        actor: &event.actor,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        idempotency_key: event.idempotency_key.as_deref(),
        payload: &event.payload,
        prev_hash: &event.prev_hash.0,
    };
    let mut bytes = Vec::with_capacity(event.payload.len() + 160);
    rmp_serde::encode::write(&mut bytes, &body)
        .expect("encoding an envelope into a Vec cannot fail");
    let hash = ChainHash(*blake3::hash(&bytes).as_bytes());
    bytes.extend_from_slice(&hash.0);
    (bytes, hash)
}

/// The hash an event's record must carry: BLAKE3 of its canonical bytes (which include the
/// previous hash). Lets a restore check a whole backup before writing any of it.
pub fn record_hash(event: &RecordedEvent) -> ChainHash {
    encode_record(event).1
}

/// Decodes a stored record without checking its hash (reads trust the disk; `verify` does not).
pub(crate) fn decode_record(bytes: &[u8]) -> Result<RecordedEvent, String> {
    decode_record_of(bytes, None)
}

/// [`decode_record`] for a record expected in `stream`, whose id it then shares instead of
/// copying (a stream read decodes dozens of records of one stream).
pub(crate) fn decode_record_of(
    bytes: &[u8],
    stream: Option<&StreamId>,
) -> Result<RecordedEvent, String> {
    let split = bytes
        .len()
        .checked_sub(HASH_LEN)
        .ok_or_else(|| format!("record of {} bytes is too short", bytes.len()))?;
    let (canonical, hash) = bytes.split_at(split);
    let body = read_body(canonical)?;
    let prev_hash: [u8; 32] = body
        .prev_hash
        .try_into()
        .map_err(|_| "previous hash is not 32 bytes".to_string())?;
    // Validated when written; a changed byte is caught by `verify`, not by every read.
    let stream = match stream {
        Some(known) if known.as_str() == body.stream => known.clone(),
        _ => StreamId::trusted(body.stream),
    };
    Ok(RecordedEvent {
        seq: body.seq,
        stream,
        version: body.version,
        event_id: body.event_id,
        event_type: body.event_type.to_owned(),
        schema_version: body.schema_version,
        recorded_at: Timestamp(body.recorded_at),
        occurred_at: Timestamp(body.occurred_at),
        actor: body.actor.to_owned(),
        correlation_id: body.correlation_id,
        causation_id: body.causation_id,
        idempotency_key: body.idempotency_key.map(str::to_owned),
        payload: body.payload.to_vec(),
        prev_hash: ChainHash(prev_hash),
        hash: ChainHash(hash.try_into().expect("split leaves exactly 32 bytes")),
    })
}

/// The parts of a stored record that readers folding the log need, borrowed from the
/// record's bytes: no allocation per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    /// Global position.
    pub seq: u64,
    /// Stream id.
    pub stream: &'a str,
    /// Position in the stream.
    pub version: u64,
    /// Type name.
    pub event_type: &'a str,
    /// Payload schema version.
    pub schema_version: u16,
    /// Recorded time.
    pub recorded_at: Timestamp,
    /// Business time.
    pub occurred_at: Timestamp,
    /// Who recorded it.
    pub actor: &'a str,
    /// The payload bytes.
    pub payload: &'a [u8],
}

pub(crate) fn view_record(bytes: &[u8]) -> Result<EventView<'_>, String> {
    let split = bytes
        .len()
        .checked_sub(HASH_LEN)
        .ok_or_else(|| format!("record of {} bytes is too short", bytes.len()))?;
    let body = read_body(&bytes[..split])?;
    Ok(EventView {
        seq: body.seq,
        stream: body.stream,
        version: body.version,
        event_type: body.event_type,
        schema_version: body.schema_version,
        recorded_at: Timestamp(body.recorded_at),
        occurred_at: Timestamp(body.occurred_at),
        actor: body.actor,
        payload: body.payload,
    })
}

/// Recomputes the hash of a stored record and compares it with the one stored beside it.
/// The hash stored at the end of a record (not checked against its bytes).
pub(crate) fn stored_hash(bytes: &[u8]) -> Option<ChainHash> {
    let split = bytes.len().checked_sub(HASH_LEN)?;
    bytes[split..].try_into().ok().map(ChainHash)
}

pub(crate) fn record_hash_matches(bytes: &[u8]) -> bool {
    match bytes.len().checked_sub(HASH_LEN) {
        Some(split) => {
            let (canonical, hash) = bytes.split_at(split);
            blake3::hash(canonical).as_bytes() == hash
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordedEvent {
        RecordedEvent {
            seq: 7,
            stream: StreamId::parse("opportunity-1").unwrap(),
            version: 3,
            event_id: Uuid::from_u128(42),
            event_type: "StageChanged".into(),
            schema_version: 2,
            recorded_at: Timestamp(1_700_000_000_000_000),
            occurred_at: Timestamp(1_690_000_000_000_000),
            actor: "rep:anna".into(),
            correlation_id: Some(Uuid::from_u128(1)),
            causation_id: None,
            idempotency_key: Some("k-1".into()),
            payload: vec![1, 2, 3, 255],
            prev_hash: ChainHash([9; 32]),
            hash: ChainHash::GENESIS,
        }
    }

    #[test]
    fn record_round_trips_and_carries_its_hash() {
        let event = sample();
        let (bytes, hash) = encode_record(&event);
        let decoded = decode_record(&bytes).unwrap();
        assert_eq!(decoded, RecordedEvent { hash, ..event });
        assert!(record_hash_matches(&bytes));
    }

    #[test]
    fn hash_depends_on_previous_hash() {
        let a = sample();
        let b = RecordedEvent {
            prev_hash: ChainHash([8; 32]),
            ..sample()
        };
        assert_ne!(encode_record(&a).1, encode_record(&b).1);
    }

    #[test]
    fn flipped_byte_breaks_the_hash() {
        let (mut bytes, _) = encode_record(&sample());
        bytes[20] ^= 1;
        assert!(!record_hash_matches(&bytes));
    }
}
