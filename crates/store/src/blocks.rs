//! Store format 2: the log in blocks of many records, and a compact index of each stream.
//!
//! Format 1 keeps every event twice, each copy under its own sled key, and sled's cost is
//! per key. Format 2 keeps each record once, inside a block: the events of one group commit,
//! cut into blocks of about [`BLOCK_TARGET`] bytes, each one sled value compressed with
//! zstd. A stream is found through its positions: chunks of [`CHUNK`] sequence numbers, one
//! sled value per chunk. The records themselves are the canonical bytes and hash of format 1,
//! so hashes, the Merkle tree and the database's rows do not depend on the format.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::codec::u64_at;
use crate::error::StoreError;

mod batch;
pub(crate) use batch::LogBatch;

/// `B` + the sequence number of its first record (u64 BE) -> a block.
pub(crate) const BLOCK: u8 = b'B';
/// `P` + stream number (u64 BE) + chunk (u64 BE) -> where versions `chunk * CHUNK + 1 ..`
/// are: per version its sequence number (u64 BE) and its place in its block (u32 BE), so a
/// read goes to the block's key at once instead of searching for it.
pub(crate) const POSITIONS: u8 = b'P';
/// Versions per position chunk: a stream's append rewrites at most this many numbers.
pub(crate) const CHUNK: u64 = 64;
/// Bytes of one version's entry in a position chunk.
pub(crate) const ENTRY: usize = 12;
/// Uncompressed bytes after which a group's records start a new block. Small enough that a
/// stream read which misses the block cache decompresses little; large enough for zstd to
/// find the repetition between records (stream names, types, actors, field names).
pub(crate) const BLOCK_TARGET: usize = 16 * 1024;
/// zstd level: the fastest levels compress these records nearly as well as level 9.
const LEVEL: i32 = 1;
/// Decompressed bytes the block cache keeps.
const CACHE_BYTES: usize = 32 << 20;

const RAW: u8 = 0;
const ZSTD: u8 = 1;

/// How a folder lays out its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Format 1: `E` + seq and `S` + stream + version, one record per key, twice.
    Keys,
    /// Format 2: blocks and position chunks.
    Blocks,
}

impl Layout {
    pub fn of_format(format: u32) -> Option<Layout> {
        match format {
            1 => Some(Layout::Keys),
            2 => Some(Layout::Blocks),
            _ => None,
        }
    }
}

impl Layout {
    /// The record at `seq`, if the log has it (no cache).
    pub fn record(self, tree: &sled::Tree, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        match self {
            Layout::Keys => Ok(tree.get(crate::codec::event_key(seq))?),
            Layout::Blocks => Ok(read_block(tree, seq)?.and_then(|b| b.get_owned(seq))),
        }
    }

    /// Calls `f` with every stored record from `from` to `to` (inclusive) and the sequence
    /// number its place in the log gives it, in order; see [`for_each`].
    pub fn for_each<E: From<StoreError>>(
        self,
        tree: &sled::Tree,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Layout::Keys => {
                if from > to {
                    return Ok(());
                }
                let range = crate::codec::event_key(from)..=crate::codec::event_key(to);
                for item in tree.range(range) {
                    let (key, bytes) = item.map_err(StoreError::from)?;
                    f(u64_at(&key, 1).unwrap_or(0), &bytes)?;
                }
                Ok(())
            }
            Layout::Blocks => for_each(tree, from, to, f),
        }
    }

    /// Every stored record from `from` to `to` (inclusive) with the sequence number its
    /// place gives it, in order, as an iterator (for walks that stop early). A block that
    /// cannot be decoded is an error naming it.
    pub fn records(self, tree: &sled::Tree, from: u64, to: u64) -> Records {
        let range = match self {
            Layout::Keys => crate::codec::event_key(from)..=crate::codec::event_key(to),
            Layout::Blocks => {
                let start = tree
                    .range(block_key(0)..=block_key(from))
                    .keys()
                    .next_back()
                    .and_then(Result::ok)
                    .and_then(|k| u64_at(&k, 1))
                    .unwrap_or(from);
                block_key(start)..=block_key(to)
            }
        };
        Records {
            layout: self,
            inner: tree.range(range),
            block: None,
            from,
            to,
            done: false,
        }
    }

    /// The last stored record and its sequence number.
    pub fn last_record(self, tree: &sled::Tree) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        match self {
            Layout::Keys => {
                let last = tree
                    .scan_prefix([crate::codec::EVENT])
                    .next_back()
                    .transpose()?;
                Ok(last.map(|(key, bytes)| (u64_at(&key, 1).unwrap_or(0), bytes)))
            }
            Layout::Blocks => last_record(tree),
        }
    }
}

/// See [`Layout::records`].
pub(crate) struct Records {
    layout: Layout,
    inner: sled::Iter,
    /// The block being read and the next sequence number in it.
    block: Option<(Block, u64)>,
    from: u64,
    to: u64,
    done: bool,
}

impl Iterator for Records {
    type Item = Result<(u64, sled::IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some((block, next)) = &mut self.block {
                let seq = *next;
                if seq <= block.last() && seq <= self.to {
                    *next += 1;
                    if seq < self.from {
                        continue;
                    }
                    return block.get_owned(seq).map(|r| Ok((seq, r)));
                }
                if seq > self.to {
                    return None;
                }
                self.block = None;
            }
            let (key, value) = match self.inner.next()? {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let seq = u64_at(&key, 1).unwrap_or(0);
            match self.layout {
                Layout::Keys => return Some(Ok((seq, value))),
                Layout::Blocks => match Block::decode(seq, &value) {
                    Ok(block) => self.block = Some((block, seq)),
                    Err(e) => {
                        // Nothing after a block that cannot be read is trustworthy.
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            }
        }
        None
    }
}

pub(crate) fn block_key(first_seq: u64) -> [u8; 9] {
    let mut k = [BLOCK; 9];
    k[1..].copy_from_slice(&first_seq.to_be_bytes());
    k
}

pub(crate) fn chunk_key(num: u64, chunk: u64) -> [u8; 17] {
    let mut k = [POSITIONS; 17];
    k[1..9].copy_from_slice(&num.to_be_bytes());
    k[9..].copy_from_slice(&chunk.to_be_bytes());
    k
}

thread_local! {
    // A context per thread: making one costs more than compressing a small block.
    static COMPRESSOR: RefCell<zstd::block::Compressor> =
        RefCell::new(zstd::block::Compressor::new());
    static DECOMPRESSOR: RefCell<zstd::block::Decompressor> =
        RefCell::new(zstd::block::Decompressor::new());
}

/// The stored value of a block holding `records`: a kind byte, then either the records as
/// they are or, when zstd makes them smaller, their uncompressed length (u32 LE) and a zstd
/// frame. Each record is its length (u32 LE) and its bytes.
pub(crate) fn encode_block<'a>(records: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut raw = vec![RAW];
    for r in records {
        raw.extend_from_slice(&(r.len() as u32).to_le_bytes());
        raw.extend_from_slice(r);
    }
    let packed = COMPRESSOR.with(|c| c.borrow_mut().compress(&raw[1..], LEVEL).ok());
    match packed {
        Some(packed) if packed.len() + 5 < raw.len() => {
            let mut out = Vec::with_capacity(packed.len() + 5);
            out.push(ZSTD);
            out.extend_from_slice(&((raw.len() - 1) as u32).to_le_bytes());
            out.extend_from_slice(&packed);
            out
        }
        _ => raw,
    }
}

/// A block's records, decompressed.
pub(crate) struct Block {
    pub first: u64,
    data: sled::IVec,
    /// Start and length of each record in `data`.
    spans: Vec<(u32, u32)>,
}

impl Block {
    /// Decodes the value stored under `block_key(first)`.
    pub fn decode(first: u64, value: &sled::IVec) -> Result<Block, StoreError> {
        let data = match value.first() {
            Some(&RAW) => value.subslice(1, value.len() - 1),
            _ => {
                let mut out = Vec::new();
                unpack(first, value, &mut out)?;
                sled::IVec::from(out)
            }
        };
        let mut spans = Vec::new();
        walk(first, &data, |start, len| spans.push((start as u32, len)))?;
        Ok(Block { first, data, spans })
    }

    /// Sequence number of the last record.
    pub fn last(&self) -> u64 {
        self.first + self.spans.len() as u64 - 1
    }

    pub fn contains(&self, seq: u64) -> bool {
        seq >= self.first && seq <= self.last()
    }

    /// The record at `seq`, borrowed.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let (start, len) = *self.spans.get(i)?;
        self.data.get(start as usize..(start + len) as usize)
    }

    /// The record at `seq`, sharing the block's memory.
    pub fn get_owned(&self, seq: u64) -> Option<sled::IVec> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let (start, len) = *self.spans.get(i)?;
        Some(self.data.subslice(start as usize, len as usize))
    }

    /// Every record with its sequence number, in order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.spans.iter().enumerate().map(|(i, (start, len))| {
            (
                self.first + i as u64,
                &self.data[*start as usize..(*start + *len) as usize],
            )
        })
    }

    /// The records from `from` to `to` (inclusive) that the block holds.
    pub fn records_in(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &[u8])> {
        self.records()
            .skip_while(move |(s, _)| *s < from)
            .take_while(move |(s, _)| *s <= to)
    }

    fn bytes(&self) -> usize {
        self.data.len() + self.spans.len() * 8 + 64
    }
}

/// The record bytes of the block value stored under `block_key(first)`: the value itself
/// when it is stored raw, or `buf` (cleared first) with it decompressed.
fn unpack<'a>(first: u64, value: &'a [u8], buf: &'a mut Vec<u8>) -> Result<&'a [u8], StoreError> {
    let bad = |detail: String| StoreError::corrupt(format!("block at seq {first}"), detail);
    match value.first() {
        Some(&RAW) => Ok(&value[1..]),
        Some(&ZSTD) => {
            let len = value
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| bad("short compressed block".into()))?;
            buf.clear();
            buf.reserve(len as usize);
            let n = DECOMPRESSOR
                .with(|d| d.borrow_mut().decompress_to_buffer(&value[5..], buf))
                .map_err(|e| bad(format!("cannot decompress: {e}")))?;
            if n != len as usize || buf.len() != n {
                return Err(bad("decompressed length differs from the stored one".into()));
            }
            Ok(buf)
        }
        Some(other) => Err(bad(format!("unknown block kind {other}"))),
        None => Err(bad("empty block".into())),
    }
}

/// Calls `each` with the start and length of every record in a block's record bytes,
/// checking that the lengths tile them exactly.
fn walk(first: u64, data: &[u8], mut each: impl FnMut(usize, u32)) -> Result<(), StoreError> {
    let bad = |detail: &str| StoreError::corrupt(format!("block at seq {first}"), detail);
    let mut at = 0usize;
    let mut records = 0usize;
    while at < data.len() {
        let len = data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| bad("a record's length is cut"))?;
        let start = at + 4;
        let end = start
            .checked_add(len as usize)
            .filter(|end| *end <= data.len())
            .ok_or_else(|| bad("a record runs past the block's end"))?;
        each(start, len);
        records += 1;
        at = end;
    }
    if records == 0 {
        return Err(bad("a block without records"));
    }
    Ok(())
}

/// The block holding `seq`, read from the tree.
pub(crate) fn read_block(tree: &sled::Tree, seq: u64) -> Result<Option<Block>, StoreError> {
    let Some((key, value)) = tree
        .range(block_key(0)..=block_key(seq))
        .next_back()
        .transpose()?
    else {
        return Ok(None);
    };
    let first = u64_at(&key, 1).unwrap_or(0);
    let block = Block::decode(first, &value)?;
    Ok(block.contains(seq).then_some(block))
}

/// Recently read blocks, decompressed: a stream's events sit in blocks written when each
/// was appended, and the command path reads the same recent streams again and again.
#[derive(Default)]
pub(crate) struct BlockCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    blocks: BTreeMap<u64, Arc<Block>>,
    order: VecDeque<u64>,
    bytes: usize,
}

/// Reads that start at most this many events behind the durable head go through the block
/// cache: followers of the log's end read the same recent blocks again and again, while
/// long scans would only push out what stream reads keep there.
pub(crate) const CACHED_READ: u64 = 4_096;

impl BlockCache {
    /// [`for_each`] through the cache: for the short reads of followers.
    pub fn for_each<E: From<StoreError>>(
        &self,
        tree: &sled::Tree,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut seq = from;
        while seq <= to {
            // A missing record ends the read here; the caller notices the shortfall.
            let Some(block) = self.get(tree, seq)? else {
                return Ok(());
            };
            for (s, record) in block.records_in(seq, to) {
                f(s, record)?;
            }
            seq = block.last() + 1;
        }
        Ok(())
    }

    /// The block whose first record is `first`, from the cache or the tree.
    pub fn get_at(&self, tree: &sled::Tree, first: u64) -> Result<Option<Arc<Block>>, StoreError> {
        if let Ok(inner) = self.inner.lock()
            && let Some(block) = inner.blocks.get(&first)
        {
            return Ok(Some(block.clone()));
        }
        let Some(value) = tree.get(block_key(first))? else {
            return Ok(None);
        };
        Ok(Some(self.keep(Block::decode(first, &value)?)))
    }

    /// The blocks whose first records are `firsts`, in that order: one lock for those the
    /// cache holds (a stream read wants dozens), the tree for the rest.
    pub fn get_all_at(
        &self,
        tree: &sled::Tree,
        firsts: &[u64],
    ) -> Result<Vec<Option<Arc<Block>>>, StoreError> {
        let mut out: Vec<Option<Arc<Block>>> = match self.inner.lock() {
            Ok(inner) => firsts
                .iter()
                .map(|f| inner.blocks.get(f).cloned())
                .collect(),
            Err(_) => vec![None; firsts.len()],
        };
        for (slot, first) in out.iter_mut().zip(firsts) {
            if slot.is_none() {
                *slot = self.get_at(tree, *first)?;
            }
        }
        Ok(out)
    }

    fn keep(&self, block: Block) -> Arc<Block> {
        let block = Arc::new(block);
        if let Ok(mut inner) = self.inner.lock() {
            inner.bytes += block.bytes();
            inner.order.push_back(block.first);
            if let Some(old) = inner.blocks.insert(block.first, block.clone()) {
                inner.bytes -= old.bytes();
            }
            while inner.bytes > CACHE_BYTES {
                let Some(first) = inner.order.pop_front() else {
                    break;
                };
                if let Some(old) = inner.blocks.remove(&first) {
                    inner.bytes -= old.bytes();
                }
            }
        }
        block
    }

    /// The block holding `seq`, from the cache or the tree.
    pub fn get(&self, tree: &sled::Tree, seq: u64) -> Result<Option<Arc<Block>>, StoreError> {
        if let Ok(inner) = self.inner.lock()
            && let Some((_, block)) = inner.blocks.range(..=seq).next_back()
            && block.contains(seq)
        {
            return Ok(Some(block.clone()));
        }
        let Some(block) = read_block(tree, seq)? else {
            return Ok(None);
        };
        Ok(Some(self.keep(block)))
    }
}

/// Calls `f` with every record from `from` to `to` (inclusive) of a format 2 log, with the
/// sequence number its position gives it, in order. Stops at the first error; a record
/// missing in between is for the caller to notice (the numbers jump).
pub(crate) fn for_each<E: From<StoreError>>(
    tree: &sled::Tree,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    if from > to {
        return Ok(());
    }
    // The block holding `from` starts at or before it.
    let start = tree
        .range(block_key(0)..=block_key(from))
        .keys()
        .next_back()
        .transpose()
        .map_err(StoreError::from)?
        .and_then(|k| u64_at(&k, 1))
        .unwrap_or(from);
    // One buffer for every block of the walk: a long scan then neither allocates nor copies
    // per block, which a cached `Block` would. A block is checked whole before any of its records is handed out.
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    for item in tree.range(block_key(start)..=block_key(to)) {
        let (key, value) = item.map_err(StoreError::from)?;
        let first = u64_at(&key, 1).unwrap_or(0);
        let data = unpack(first, &value, &mut buf)?;
        spans.clear();
        walk(first, data, |start, len| spans.push((start, len as usize)))?;
        for (i, &(start, len)) in spans.iter().enumerate() {
            let seq = first + i as u64;
            if seq < from {
                continue;
            }
            if seq > to {
                break;
            }
            f(seq, &data[start..start + len])?;
        }
    }
    Ok(())
}

/// The last record of a format 2 log.
pub(crate) fn last_record(tree: &sled::Tree) -> Result<Option<(u64, sled::IVec)>, StoreError> {
    let Some((key, value)) = tree.scan_prefix([BLOCK]).next_back().transpose()? else {
        return Ok(None);
    };
    let block = Block::decode(u64_at(&key, 1).unwrap_or(0), &value)?;
    let last = block.last();
    Ok(block.get_owned(last).map(|r| (last, r)))
}

/// The version of stream `num`: what its last position chunk says.
pub(crate) fn stream_version(tree: &sled::Tree, num: u64) -> Result<u64, StoreError> {
    let last = tree
        .range(chunk_key(num, 0)..=chunk_key(num, u64::MAX))
        .next_back()
        .transpose()?;
    Ok(match last {
        Some((key, value)) => {
            let chunk = u64_at(&key, 9).unwrap_or(0);
            chunk * CHUNK + (value.len() / ENTRY) as u64
        }
        None => 0,
    })
}

/// The sequence number of version `version` of stream `num`, as its positions say.
pub(crate) fn position(
    tree: &sled::Tree,
    num: u64,
    version: u64,
) -> Result<Option<u64>, StoreError> {
    let Some(v) = version.checked_sub(1) else {
        return Ok(None);
    };
    let chunk = tree.get(chunk_key(num, v / CHUNK))?;
    let at = (v % CHUNK) as usize * ENTRY;
    Ok(chunk
        .and_then(|c| c.get(at..at + ENTRY).and_then(|e| entries(e).next()))
        .map(|p| p.seq))
}

/// Where one version of a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub seq: u64,
    /// The first sequence number of the block holding it.
    pub block: u64,
}

fn entry(seq: u64, block: u64) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    e[..8].copy_from_slice(&seq.to_be_bytes());
    // A block holds one group's records at most, far fewer than u32::MAX.
    e[8..].copy_from_slice(&((seq - block) as u32).to_be_bytes());
    e
}

/// The entries of a position chunk, in version order.
pub(crate) fn entries(value: &[u8]) -> impl Iterator<Item = Position> + '_ {
    value.chunks_exact(ENTRY).filter_map(|e| {
        let seq = u64_at(e, 0)?;
        let back = u32::from_be_bytes(e[8..].try_into().ok()?);
        Some(Position {
            seq,
            block: seq.checked_sub(u64::from(back))?,
        })
    })
}

/// Where up to `limit` versions of stream `num` no later than `durable` are, forwards from
/// version `from` or backwards from it.
pub(crate) fn positions(
    tree: &sled::Tree,
    num: u64,
    from: u64,
    forward: bool,
    limit: usize,
    durable: u64,
) -> Result<Vec<Position>, StoreError> {
    // Most reads want one chunk's worth; a larger buffer up front costs more in malloc
    // than growing it does.
    let mut out = Vec::with_capacity(limit.min(CHUNK as usize));
    if !forward && from == 0 {
        return Ok(out);
    }
    let from = from.max(1);
    let chunk = (from - 1) / CHUNK;
    let seqs = |value: &sled::IVec| -> Vec<Position> { entries(value).collect() };
    if forward {
        // Chunks fill in order, so only a full chunk can have a next one. Point reads: a
        // sled range costs several times a get to set up, and most streams have one chunk.
        for chunk in chunk.. {
            let Some(value) = tree.get(chunk_key(num, chunk))? else {
                break;
            };
            let base = chunk * CHUNK;
            for (i, p) in entries(&value).enumerate() {
                let version = base + i as u64 + 1;
                if version < from {
                    continue;
                }
                if out.len() >= limit || p.seq > durable {
                    return Ok(out);
                }
                out.push(p);
            }
            if value.len() < CHUNK as usize * ENTRY {
                break;
            }
        }
    } else {
        for item in tree.range(chunk_key(num, 0)..=chunk_key(num, chunk)).rev() {
            let (key, value) = item?;
            let base = u64_at(&key, 9).unwrap_or(0) * CHUNK;
            for (i, p) in seqs(&value).into_iter().enumerate().rev() {
                let version = base + i as u64 + 1;
                if version > from || p.seq > durable {
                    continue;
                }
                if out.len() >= limit {
                    return Ok(out);
                }
                out.push(p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_gives_back_its_records_compressed_or_not() {
        let records: Vec<Vec<u8>> = (0..50u8)
            .map(|i| vec![i % 3; 40 + usize::from(i)])
            .collect();
        let value = encode_block(records.iter().map(Vec::as_slice));
        assert_eq!(value[0], ZSTD, "repetitive records compress");
        let block = Block::decode(10, &sled::IVec::from(value)).unwrap();
        assert_eq!(block.last(), 59);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(block.get(10 + i as u64), Some(r.as_slice()));
        }
        assert_eq!(block.get(60), None);
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let value = encode_block([noise.as_slice()].into_iter());
        assert_eq!(value[0], RAW, "what zstd cannot shrink is kept as it is");
        let block = Block::decode(1, &sled::IVec::from(value)).unwrap();
        assert_eq!(block.get(1), Some(noise.as_slice()));
    }

    #[test]
    fn a_damaged_block_is_refused_with_its_position() {
        let mut value = encode_block([&[7u8; 300][..]].into_iter());
        let n = value.len();
        value[n - 2] ^= 0xff;
        value.truncate(n - 1);
        let err = Block::decode(5, &sled::IVec::from(value)).err().unwrap();
        assert!(err.to_string().contains("block at seq 5"), "{err}");
    }
}
