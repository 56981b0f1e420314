//! Editing a closed folder's log behind the store's back, in either format: what an attacker
//! or a failing disk does, for tests of tamper evidence. Not for use on live data.

use std::path::Path;

use crate::blocks::{self, Block, Layout};
use crate::codec::{self, u64_at};
use crate::error::StoreError;
use crate::types::StreamId;

/// A folder's log tree opened directly with sled.
pub struct RawLog {
    db: sled::Db,
    tree: sled::Tree,
    layout: Layout,
}

impl RawLog {
    /// Opens the sled database of a folder no store has open (waiting a moment for one just
    /// dropped to let go of sled's lock).
    pub fn open(folder: &Path) -> Result<RawLog, StoreError> {
        let config = sled::Config::new()
            .path(folder.join("log"))
            .segment_size(crate::store::SLED_SEGMENT_SIZE);
        let mut attempt = 0;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if attempt < 300 && e.to_string().contains("could not acquire lock") =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree("log")?;
        let format = tree
            .get(codec::META_FORMAT)?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map_or(0, u32::from_be_bytes);
        let layout = Layout::of_format(format).ok_or(StoreError::IncompatibleFormat {
            found: format,
            supported: codec::FORMAT_VERSION,
        })?;
        Ok(RawLog { db, tree, layout })
    }

    /// The folder's format.
    pub fn format(&self) -> u32 {
        match self.layout {
            Layout::Keys => 1,
            Layout::Blocks => 2,
        }
    }

    /// The log tree itself, for edits of keys both formats share (`N`, `K`, `M`, `T`).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The stored record of event `seq`.
    pub fn record(&self, seq: u64) -> Option<Vec<u8>> {
        self.layout
            .record(&self.tree, seq)
            .ok()
            .flatten()
            .map(|r| r.to_vec())
    }

    /// Replaces the stored record of event `seq` (its log entry only: format 1's stream copy
    /// keeps the old bytes).
    pub fn set_record(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        match self.layout {
            Layout::Keys => {
                self.tree.insert(codec::event_key(seq), bytes)?;
            }
            Layout::Blocks => {
                let block = blocks::read_block(&self.tree, seq)?
                    .ok_or_else(|| StoreError::corrupt(format!("seq {seq}"), "no block"))?;
                let records: Vec<Vec<u8>> = block
                    .records()
                    .map(|(s, r)| if s == seq { bytes.to_vec() } else { r.to_vec() })
                    .collect();
                let value = blocks::encode_block(records.iter().map(Vec::as_slice));
                self.tree.insert(blocks::block_key(block.first), value)?;
            }
        }
        Ok(())
    }

    /// Removes event `seq` from the log, leaving its neighbours where they are (in format 2
    /// the rest of its block moves to a block of its own).
    pub fn remove_record(&self, seq: u64) -> Result<(), StoreError> {
        match self.layout {
            Layout::Keys => {
                self.tree.remove(codec::event_key(seq))?;
            }
            Layout::Blocks => {
                let block = blocks::read_block(&self.tree, seq)?
                    .ok_or_else(|| StoreError::corrupt(format!("seq {seq}"), "no block"))?;
                self.tree.remove(blocks::block_key(block.first))?;
                self.put_records(&block, block.first, seq - 1)?;
                self.put_records(&block, seq + 1, block.last())?;
            }
        }
        Ok(())
    }

    fn put_records(&self, block: &Block, from: u64, to: u64) -> Result<(), StoreError> {
        if from > to || from < block.first || to > block.last() {
            return Ok(());
        }
        let records = (from..=to).filter_map(|s| block.get(s));
        self.tree
            .insert(blocks::block_key(from), blocks::encode_block(records))?;
        Ok(())
    }

    /// Removes events `from..` and their stream copies or positions; with `with_tree`, also
    /// every stored subtree and the tree head.
    pub fn remove_from(&self, from: u64, with_tree: bool) -> Result<(), StoreError> {
        let last = self
            .layout
            .last_record(&self.tree)?
            .map_or(0, |(seq, _)| seq);
        match self.layout {
            Layout::Keys => {
                let mut gone = Vec::new();
                for seq in from..=last {
                    if let Some(v) = self.tree.remove(codec::event_key(seq))? {
                        gone.push(v);
                    }
                }
                for item in self.tree.scan_prefix([codec::STREAM_EVENT]) {
                    let (k, v) = item?;
                    if gone.contains(&v) {
                        self.tree.remove(k)?;
                    }
                }
            }
            Layout::Blocks => {
                if let Some(block) = blocks::read_block(&self.tree, from)? {
                    self.tree.remove(blocks::block_key(block.first))?;
                    self.put_records(&block, block.first, from - 1)?;
                }
                for key in self.tree.range(blocks::block_key(from)..).keys() {
                    let key = key?;
                    if key.first() != Some(&blocks::BLOCK) {
                        break;
                    }
                    self.tree.remove(key)?;
                }
                for item in self.tree.scan_prefix([blocks::POSITIONS]) {
                    let (k, v) = item?;
                    let kept: Vec<u8> = v
                        .chunks(blocks::ENTRY)
                        .take_while(|c| u64_at(c, 0).is_some_and(|seq| seq < from))
                        .flatten()
                        .copied()
                        .collect();
                    if kept.is_empty() {
                        self.tree.remove(k)?;
                    } else if kept.len() != v.len() {
                        self.tree.insert(k, kept)?;
                    }
                }
            }
        }
        if with_tree {
            self.remove_tree()?;
        }
        Ok(())
    }

    /// Removes the tree head and every stored subtree.
    pub fn remove_tree(&self) -> Result<(), StoreError> {
        self.tree.remove(codec::META_TREE)?;
        for key in self.tree.scan_prefix([codec::TREE_NODE]).keys() {
            self.tree.remove(key?)?;
        }
        Ok(())
    }

    /// Damages how the stream index finds version `version` of `stream`: format 1's copy
    /// gets a changed byte, format 2's position names the next event instead.
    pub fn damage_stream_index(&self, stream: &StreamId, version: u64) -> Result<(), StoreError> {
        let num = self
            .tree
            .get(codec::stream_head_key(stream))?
            .and_then(|v| u64_at(&v, 0))
            .ok_or_else(|| StoreError::corrupt(format!("stream {stream}"), "not registered"))?;
        match self.layout {
            Layout::Keys => {
                let key = codec::stream_event_key(num, version);
                let mut value = self.tree.get(key)?.unwrap_or_default().to_vec();
                if let Some(b) = value.get_mut(12) {
                    *b ^= 1;
                }
                self.tree.insert(key, value)?;
            }
            Layout::Blocks => {
                let v = version - 1;
                let key = blocks::chunk_key(num, v / blocks::CHUNK);
                let mut value = self.tree.get(key)?.unwrap_or_default().to_vec();
                let at = (v % blocks::CHUNK) as usize * blocks::ENTRY;
                let seq = u64_at(&value, at).ok_or_else(|| {
                    StoreError::corrupt(format!("stream {stream}"), "no position")
                })?;
                value[at..at + 8].copy_from_slice(&(seq + 1).to_be_bytes());
                self.tree.insert(key, value)?;
            }
        }
        Ok(())
    }

    /// Every key and value of the log from event `from` on (records or blocks, and the
    /// stream copies or positions), to be written into another folder with [`RawLog::put`].
    /// In format 2 the folders must have cut their logs into the same blocks (written in
    /// the same groups), since positions name blocks.
    pub fn log_end(&self, from: u64) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
        let mut out = Vec::new();
        match self.layout {
            Layout::Keys => {
                for item in self.tree.range(codec::event_key(from)..) {
                    let (k, v) = item?;
                    if k.first() == Some(&codec::EVENT) {
                        out.push((k, v));
                    }
                }
                for item in self.tree.scan_prefix([codec::STREAM_EVENT]) {
                    out.push(item?);
                }
            }
            Layout::Blocks => {
                let start = blocks::read_block(&self.tree, from)?.map_or(from, |b| b.first);
                for item in self.tree.range(blocks::block_key(start)..) {
                    let (k, v) = item?;
                    if k.first() == Some(&blocks::BLOCK) {
                        out.push((k, v));
                    }
                }
                for item in self.tree.scan_prefix([blocks::POSITIONS]) {
                    out.push(item?);
                }
            }
        }
        Ok(out)
    }

    /// Writes keys and values as they are.
    pub fn put(&self, pairs: Vec<(sled::IVec, sled::IVec)>) -> Result<(), StoreError> {
        for (k, v) in pairs {
            self.tree.insert(k, v)?;
        }
        Ok(())
    }

    /// Flushes the edits to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}
