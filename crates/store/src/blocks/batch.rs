//! A group's records on their way into its sled batch, in either layout.

use std::collections::HashMap;

use super::{BLOCK_TARGET, CHUNK, ENTRY, Layout, block_key, chunk_key, encode_block, entry};
use crate::error::StoreError;

/// A group's records on their way into one sled batch, in the folder's layout.
pub(crate) struct LogBatch {
    layout: Layout,
    /// Everything else the group writes (stream numbers, tree, idempotency keys).
    pub batch: sled::Batch,
    records: Vec<(u64, sled::IVec)>,
    /// Stream number -> (first new version, sequence numbers of the new versions).
    positions: HashMap<u64, (u64, Vec<u64>)>,
}

impl LogBatch {
    pub fn new(layout: Layout) -> LogBatch {
        LogBatch {
            layout,
            batch: sled::Batch::default(),
            records: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Adds event `seq`, version `version` of stream `num`. Events come in log order, and
    /// each stream's versions one after another.
    pub fn push(&mut self, num: u64, version: u64, seq: u64, record: sled::IVec) {
        match self.layout {
            Layout::Keys => {
                self.batch
                    .insert(&crate::codec::event_key(seq), record.clone());
                self.batch
                    .insert(&crate::codec::stream_event_key(num, version), record);
            }
            Layout::Blocks => {
                self.records.push((seq, record));
                self.positions
                    .entry(num)
                    .or_insert_with(|| (version, Vec::new()))
                    .1
                    .push(seq);
            }
        }
    }

    /// The batch to apply: blocks and position chunks added (reading the chunks the group
    /// continues).
    pub fn finish(self, tree: &sled::Tree) -> Result<sled::Batch, StoreError> {
        let LogBatch {
            mut batch,
            records,
            positions,
            ..
        } = self;
        let mut start = 0;
        let mut size = 0;
        // The first sequence number of each block, in order.
        let mut firsts = Vec::new();
        for i in 0..records.len() {
            size += records[i].1.len() + 4;
            if size >= BLOCK_TARGET || i + 1 == records.len() {
                let block = encode_block(records[start..=i].iter().map(|(_, r)| r.as_ref()));
                batch.insert(&block_key(records[start].0), block);
                firsts.push(records[start].0);
                start = i + 1;
                size = 0;
            }
        }
        let block_of = |seq: u64| match firsts.binary_search(&seq) {
            Ok(i) => firsts[i],
            Err(i) => firsts[i.saturating_sub(1)],
        };
        for (num, (first_version, seqs)) in positions {
            let mut chunk = (first_version - 1) / CHUNK;
            let before = (first_version - 1) % CHUNK;
            let mut value = Vec::with_capacity(CHUNK as usize * ENTRY);
            if before > 0 {
                let old = tree.get(chunk_key(num, chunk))?.unwrap_or_default();
                if old.len() as u64 != before * ENTRY as u64 {
                    return Err(StoreError::corrupt(
                        format!("positions of stream number {num}"),
                        format!(
                            "chunk {chunk} holds {} bytes, expected {}",
                            old.len(),
                            before * ENTRY as u64
                        ),
                    ));
                }
                value.extend_from_slice(&old);
            }
            for seq in seqs {
                value.extend_from_slice(&entry(seq, block_of(seq)));
                if value.len() == CHUNK as usize * ENTRY {
                    batch.insert(&chunk_key(num, chunk), std::mem::take(&mut value));
                    chunk += 1;
                }
            }
            if !value.is_empty() {
                batch.insert(&chunk_key(num, chunk), value);
            }
        }
        Ok(batch)
    }
}
