//! Reading the log: single events, the global log, streams, and idempotency records, in
//! either store format.

use std::sync::Arc;

use crate::blocks::Layout;
use crate::codec;
use crate::error::StoreError;
use crate::store::{Shared, Store};
use crate::types::{Direction, Receipt, RecordedEvent, StreamId, Timestamp};

impl Store {
    /// The event at a sequence number, if it is durable.
    pub fn event(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        if seq == 0 || seq > self.durable_seq() {
            return Ok(None);
        }
        let shared = &self.shared();
        let found = match shared.layout {
            Layout::Keys => shared.tree.get(codec::event_key(seq))?,
            Layout::Blocks => shared
                .blocks
                .get(&shared.tree, seq)?
                .and_then(|b| b.get_owned(seq)),
        };
        match found {
            Some(bytes) => decode_at(&bytes, seq).map(Some),
            None => Err(StoreError::corrupt(
                format!("seq {seq}"),
                "missing below the durable head",
            )),
        }
    }

    /// Up to `limit` events of the global log from `from_seq` on, in order.
    pub fn read_all(&self, from_seq: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.iter_from(from_seq).take(limit).collect()
    }

    /// Every durable event from `from_seq` on, read lazily in log order.
    ///
    /// The end is fixed when the iterator is made, so a replay has a definite end.
    pub fn iter_from(&self, from_seq: u64) -> LogIter {
        LogIter {
            shared: self.shared().clone(),
            buffer: std::collections::VecDeque::new(),
            failed: None,
            next: from_seq.max(1),
            end: self.durable_seq(),
        }
    }

    /// Calls `f` with a borrowed view of every durable event from `from_seq` to `until`
    /// (inclusive), in order, stopping at the first error. The fast path for folding the
    /// log: nothing is allocated per event.
    pub fn scan<E: From<StoreError>>(
        &self,
        from_seq: u64,
        until: u64,
        mut f: impl FnMut(codec::EventView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let end = self.durable_seq().min(until);
        let start = from_seq.max(1);
        if start > end {
            return Ok(());
        }
        let mut expected = start;
        let shared = &self.shared();
        shared.for_each_record(start, end, |_, bytes| {
            let view = codec::view_record(bytes)
                .map_err(|e| StoreError::corrupt(format!("seq {expected}"), e))?;
            if view.seq != expected {
                return Err(StoreError::corrupt(
                    format!("seq {expected}"),
                    format!("record says seq {}", view.seq),
                )
                .into());
            }
            f(view)?;
            expected += 1;
            Ok::<(), E>(())
        })?;
        if expected <= end {
            return Err(StoreError::corrupt(
                format!("seq {expected}"),
                "missing below the durable head",
            )
            .into());
        }
        Ok(())
    }

    /// The stream's version: how many durable events it holds.
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        Ok(self
            .read_stream(stream, u64::MAX, Direction::Backward, 1)?
            .first()
            .map_or(0, |e| e.version))
    }

    /// Up to `limit` events of one stream, forwards from version `from` (inclusive) or
    /// backwards from it (`u64::MAX` reads backwards from the end).
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let shared = &self.shared();
        let Some(num) = shared.tree.get(codec::stream_head_key(stream))? else {
            return Ok(Vec::new());
        };
        let num = codec::decode_stream_num(&num, stream)?;
        let durable = self.durable_seq();
        if shared.layout == Layout::Blocks {
            let forward = direction == Direction::Forward;
            let seqs = crate::blocks::positions(&shared.tree, num, from, forward, limit, durable)?;
            let mut firsts: Vec<u64> = seqs.iter().map(|p| p.block).collect();
            firsts.dedup();
            let blocks = shared.blocks.get_all_at(&shared.tree, &firsts)?;
            let mut blocks = blocks.iter().zip(&firsts).peekable();
            let mut out = Vec::with_capacity(seqs.len());
            for crate::blocks::Position { seq, block: first } in seqs {
                while blocks.next_if(|(_, f)| **f != first).is_some() {}
                let record = blocks
                    .peek()
                    .and_then(|(b, _)| b.as_ref())
                    .and_then(|b| b.get(seq))
                    .ok_or_else(|| {
                        StoreError::corrupt(
                            format!("stream {stream}"),
                            format!("event {seq} is missing"),
                        )
                    })?;
                out.push(decode_in_stream(record, stream)?);
            }
            return Ok(out);
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        let lo = codec::stream_event_key(num, 1);
        let hi = codec::stream_event_key(num, u64::MAX);
        match direction {
            Direction::Forward => {
                let from = codec::stream_event_key(num, from.max(1));
                for item in shared.tree.range(from..=hi) {
                    if out.len() >= limit {
                        break;
                    }
                    let (_, bytes) = item?;
                    let event = decode_in_stream(&bytes, stream)?;
                    if event.seq > durable {
                        break;
                    }
                    out.push(event);
                }
            }
            Direction::Backward => {
                let from = codec::stream_event_key(num, from);
                for item in shared.tree.range(lo..=from).rev() {
                    if out.len() >= limit {
                        break;
                    }
                    let (_, bytes) = item?;
                    let event = decode_in_stream(&bytes, stream)?;
                    if event.seq <= durable {
                        out.push(event);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The last sequence number recorded at or before `at` (0 if none): "what we knew at T".
    ///
    /// A binary search over the log, valid because the writer never lets `recorded_at` go
    /// backwards along the sequence.
    pub fn seq_recorded_by(&self, at: Timestamp) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0u64, self.durable_seq());
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let event = self.event(mid)?.ok_or_else(|| {
                StoreError::corrupt(format!("seq {mid}"), "missing below the durable head")
            })?;
            if event.recorded_at <= at {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// What `actor`'s earlier append with an idempotency key was, if any: its stream, its
    /// receipt, and whether `fingerprint` names the same command. Lets a caller recognise a
    /// retry before re-running its own rules.
    pub fn idempotent_receipt(
        &self,
        actor: &str,
        key: &str,
        fingerprint: Option<[u8; 32]>,
    ) -> Result<Option<IdempotentHit>, StoreError> {
        let shared = &self.shared();
        let Some(record) = codec::find_idempotency(&shared.tree, shared.layout, actor, key)? else {
            return Ok(None);
        };
        if record.receipt.last_seq > self.durable_seq() {
            return Ok(None);
        }
        Ok(Some(IdempotentHit {
            same_command: record.same_command(fingerprint),
            stream: record.stream,
            receipt: record.receipt,
        }))
    }
}

/// An earlier append with the same actor and idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentHit {
    /// The stream it wrote to.
    pub stream: StreamId,
    /// What it wrote.
    pub receipt: Receipt,
    /// Whether it was the same command (unknown counts as the same).
    pub same_command: bool,
}

/// Lazy reader of the global log; see [`Store::iter_from`].
pub struct LogIter {
    shared: Arc<Shared>,
    buffer: std::collections::VecDeque<RecordedEvent>,
    /// An error met while filling the buffer, delivered after what came before it.
    failed: Option<StoreError>,
    /// The next sequence number to read into the buffer.
    next: u64,
    end: u64,
}

/// Events a [`LogIter`] decodes ahead.
const LOG_ITER_PAGE: u64 = 256;

impl Iterator for LogIter {
    type Item = Result<RecordedEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.buffer.pop_front() {
            return Some(Ok(event));
        }
        if self.next > self.end {
            return self.failed.take().map(Err);
        }
        let to = self.end.min(self.next + LOG_ITER_PAGE - 1);
        let buffer = &mut self.buffer;
        let mut expected = self.next;
        let read = self.shared.for_each_record(self.next, to, |_, bytes| {
            buffer.push_back(decode_at(bytes, expected)?);
            expected += 1;
            Ok::<_, StoreError>(())
        });
        let failed = read.err().or_else(|| {
            (expected <= to).then(|| {
                StoreError::corrupt(format!("seq {expected}"), "missing below the durable head")
            })
        });
        self.next = to + 1;
        if let Some(e) = failed {
            // What decoded before the error comes first, then the error, then the end.
            self.next = self.end + 1;
            self.failed = Some(e);
        }
        self.buffer
            .pop_front()
            .map(Ok)
            .or_else(|| self.failed.take().map(Err))
    }
}

pub(crate) fn decode_at(bytes: &[u8], seq: u64) -> Result<RecordedEvent, StoreError> {
    let event =
        codec::decode_record(bytes).map_err(|e| StoreError::corrupt(format!("seq {seq}"), e))?;
    if event.seq != seq {
        return Err(StoreError::corrupt(
            format!("seq {seq}"),
            format!("record says seq {}", event.seq),
        ));
    }
    Ok(event)
}

fn decode_in_stream(bytes: &[u8], stream: &StreamId) -> Result<RecordedEvent, StoreError> {
    codec::decode_record_of(bytes, Some(stream))
        .map_err(|e| StoreError::corrupt(format!("stream {stream}"), e))
}
