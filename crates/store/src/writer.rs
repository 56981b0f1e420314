//! The single writer: group commit of concurrent appends into one atomic batch and one flush.
//!
//! One thread owns every write to the log tree. It blocks for the first queued append, then
//! drains whatever else is already queued (up to [`MAX_GROUP_EVENTS`]), checks each request
//! against the stream heads as they will be after the earlier requests of the same group,
//! writes all accepted events in one `sled::Batch`, flushes once, and only then answers every
//! caller. Durable throughput therefore grows with the number of concurrent callers instead
//! of being capped at one fsync per append.
//!
//! It is a plain thread rather than a tokio task because `flush` blocks on the disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::{self, ChainState, IdempotencyRecord, StreamHead};
use crate::error::StoreError;
use crate::store::Shared;
use crate::types::{AppendOutcome, AppendRequest, Head, Receipt, RecordedEvent, StreamId};

/// Most events committed in one group; bounds the batch a flush has to write.
pub(crate) const MAX_GROUP_EVENTS: usize = 1_000;
/// Stream heads cached by the writer before the cache is cleared.
const HEAD_CACHE_LIMIT: usize = 200_000;

pub(crate) type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

pub(crate) struct Job {
    pub request: AppendRequest,
    pub reply: Reply,
}

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Job>,
    /// Announces each new durable head to subscriptions; dropped with the writer, which
    /// tells them the store is closed.
    pub head_tx: watch::Sender<u64>,
    pub state: ChainState,
    /// Heads of recently written streams. The writer is the only one to change heads, so the
    /// cache cannot go stale.
    pub heads: HashMap<StreamId, StreamHead>,
    /// Set after a failed flush; every later append gets this error.
    pub failed: Option<String>,
}

/// One request's fate inside a group, before the batch is written.
enum Pending {
    Done(AppendOutcome),
    Commit(Receipt),
}

impl Writer {
    pub fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut group_events = first.request.events.len();
            let mut group = vec![first];
            while group_events < MAX_GROUP_EVENTS {
                match self.rx.try_recv() {
                    Ok(job) => {
                        group_events += job.request.events.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<Job>) {
        if let Some(reason) = &self.failed {
            for job in group {
                let _ = job
                    .reply
                    .send(Err(StoreError::WriterFailed(reason.clone())));
            }
            return;
        }
        match self.prepare(&group) {
            Err(e) => {
                let text = e.to_string();
                for job in group {
                    let _ = job.reply.send(Err(StoreError::WriterFailed(text.clone())));
                }
            }
            Ok((batch, next_state, new_heads, fates)) => {
                let any_commit = fates.iter().any(|f| matches!(f, Pending::Commit(_)));
                if any_commit {
                    if let Err(e) = self.shared.tree.apply_batch(batch) {
                        // Nothing of the batch is applied, so the in-memory state stays valid.
                        for job in group {
                            let _ = job.reply.send(Err(StoreError::Sled(e.clone())));
                        }
                        return;
                    }
                    if let Err(e) = self.shared.db.flush() {
                        // The batch may or may not be on disk; refuse to go on guessing.
                        let text = format!("flush failed: {e}");
                        self.failed = Some(text.clone());
                        for job in group {
                            let _ = job.reply.send(Err(StoreError::WriterFailed(text.clone())));
                        }
                        return;
                    }
                    self.state = next_state;
                    if self.heads.len() + new_heads.len() > HEAD_CACHE_LIMIT {
                        self.heads.clear();
                    }
                    self.heads.extend(new_heads);
                    // Readers and subscribers only look up to the durable head, so they never
                    // see an event that a crash could still take away.
                    if let Ok(mut head) = self.shared.durable_head.lock() {
                        *head = Head {
                            seq: next_state.last_seq,
                            hash: next_state.last_hash,
                        };
                    }
                    self.shared
                        .durable_seq
                        .store(next_state.last_seq, Ordering::Release);
                    self.head_tx.send_replace(next_state.last_seq);
                }
                for (job, fate) in group.into_iter().zip(fates) {
                    let outcome = match fate {
                        Pending::Done(outcome) => outcome,
                        Pending::Commit(receipt) => AppendOutcome::Committed(receipt),
                    };
                    let _ = job.reply.send(Ok(outcome));
                }
            }
        }
    }

    /// Decides every request of the group and builds the batch, touching nothing but reads.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        group: &[Job],
    ) -> Result<
        (
            sled::Batch,
            ChainState,
            HashMap<StreamId, StreamHead>,
            Vec<Pending>,
        ),
        StoreError,
    > {
        let mut batch = sled::Batch::default();
        let mut state = self.state;
        let mut heads: HashMap<StreamId, StreamHead> = HashMap::new();
        let mut keys: HashMap<&str, IdempotencyRecord> = HashMap::new();
        let mut fates = Vec::with_capacity(group.len());
        let recorded_at = (self.shared.clock)().max(state.last_recorded_at);

        for job in group {
            let req = &job.request;
            if let Some(key) = req.idempotency_key.as_deref() {
                let earlier = match keys.get(key) {
                    Some(record) => Some(record.clone()),
                    None => self.load_idempotency(key)?,
                };
                if let Some(record) = earlier {
                    fates.push(Pending::Done(if record.stream == req.stream {
                        AppendOutcome::Replayed(record.receipt)
                    } else {
                        AppendOutcome::IdempotencyKeyReused {
                            original_stream: record.stream,
                        }
                    }));
                    continue;
                }
            }
            let head = match heads.get(&req.stream) {
                Some(h) => Some(*h),
                None => self.load_head(&req.stream)?,
            };
            let actual = head.map_or(0, |h| h.version);
            if !req.expected.admits(actual) {
                fates.push(Pending::Done(AppendOutcome::Conflict {
                    expected: req.expected,
                    actual,
                }));
                continue;
            }
            let mut head = head.unwrap_or_else(|| {
                state.stream_count += 1;
                StreamHead {
                    num: state.stream_count,
                    version: 0,
                }
            });
            let receipt = Receipt {
                first_seq: state.last_seq + 1,
                last_seq: state.last_seq + req.events.len() as u64,
                first_version: head.version + 1,
                last_version: head.version + req.events.len() as u64,
                recorded_at,
            };
            for new in &req.events {
                head.version += 1;
                let event = RecordedEvent {
                    seq: state.last_seq + 1,
                    stream: req.stream.clone(),
                    version: head.version,
                    event_id: new.event_id,
                    event_type: new.event_type.clone(),
                    schema_version: new.schema_version,
                    recorded_at,
                    occurred_at: new.occurred_at,
                    actor: req.actor.clone(),
                    correlation_id: req.correlation_id,
                    causation_id: new.causation_id,
                    idempotency_key: req.idempotency_key.clone(),
                    payload: new.payload.clone(),
                    prev_hash: state.last_hash,
                    hash: Default::default(),
                };
                let (record, hash) = codec::encode_record(&event);
                let record = sled::IVec::from(record);
                batch.insert(&codec::event_key(event.seq), record.clone());
                batch.insert(&codec::stream_event_key(head.num, head.version), record);
                state.last_seq = event.seq;
                state.last_hash = hash;
            }
            state.last_recorded_at = recorded_at;
            batch.insert(codec::stream_head_key(&req.stream), &head.encode());
            heads.insert(req.stream.clone(), head);
            if let Some(key) = req.idempotency_key.as_deref() {
                let record = IdempotencyRecord {
                    stream: req.stream.clone(),
                    receipt,
                };
                batch.insert(codec::idempotency_key(key), record.encode());
                keys.insert(key, record);
            }
            fates.push(Pending::Commit(receipt));
        }
        batch.insert(codec::META_HEAD, state.encode());
        Ok((batch, state, heads, fates))
    }

    fn load_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        if let Some(head) = self.heads.get(stream) {
            return Ok(Some(*head));
        }
        match self.shared.tree.get(codec::stream_head_key(stream))? {
            Some(bytes) => Ok(Some(StreamHead::decode(&bytes, stream)?)),
            None => Ok(None),
        }
    }

    fn load_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.shared.tree.get(codec::idempotency_key(key))? {
            Some(bytes) => Ok(Some(IdempotencyRecord::decode(&bytes, key)?)),
            None => Ok(None),
        }
    }
}
