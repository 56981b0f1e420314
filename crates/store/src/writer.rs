//! The single writer: group commit of concurrent appends into atomic batches and shared
//! flushes.
//!
//! Two threads share the work. The **writer** owns every write to the log tree: it blocks
//! for the first queued append, drains whatever else is already queued (up to
//! [`MAX_GROUP_EVENTS`]), checks each request against the stream heads as they will be after
//! the earlier requests of the same group, and applies all accepted events as one atomic
//! `sled::Batch`. It then hands the group's replies to the **flusher** and goes on with the
//! next group at once. The flusher takes every group handed to it so far, flushes once, and
//! only then publishes the new durable head and answers the callers, in order. When the
//! writer finds nobody else queued and nothing in the flusher's hands, it flushes the group
//! itself, which spares a lone caller one thread hand-off.
//!
//! So while one flush waits on the disk, the next groups are being applied, and one flush
//! covers however many groups piled up meanwhile: durable throughput grows with the number
//! of concurrent callers instead of being capped at one fsync per append. No caller hears
//! back before its events (and everything before them) are on disk, and readers never see
//! past the durable head, so nothing a crash can take away is ever shown.
//!
//! Both are plain threads rather than tokio tasks because sled's writes and flushes block.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use tokio::sync::{mpsc, oneshot, watch};

use crate::blocks::LogBatch;
use crate::codec::{self, ChainState, IdempotencyRecord, StreamHead};
use crate::error::StoreError;
use crate::pg::{Row, Upstream};

mod replica;
use crate::store::Shared;
use crate::types::{AppendOutcome, AppendRequest, Head, Receipt, RecordedEvent, StreamId};

/// Most events applied in one group; bounds the size of one batch.
pub(crate) const MAX_GROUP_EVENTS: usize = 1_000;
/// Applied groups that may wait for a flush before the writer waits for the flusher.
pub(crate) const MAX_UNFLUSHED_GROUPS: usize = 64;
/// Stream heads cached by the writer before the cache is cleared.
const HEAD_CACHE_LIMIT: usize = 200_000;

pub(crate) type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

pub(crate) struct Job {
    pub request: AppendRequest,
    pub reply: Reply,
}

/// Envelopes copied from another log (a backup), to be written exactly as they are.
pub(crate) struct RestoreJob {
    pub events: Vec<RecordedEvent>,
    pub reply: oneshot::Sender<Result<u64, StoreError>>,
}

/// What the writer's queue carries.
pub(crate) enum Work {
    Append(Job),
    /// Appends sent together ([`crate::Store::append_many`]): decided in one group, each
    /// on its own.
    Many(Vec<Job>),
    Restore(RestoreJob),
    /// Copy what other servers committed to the database (PostgreSQL mode only).
    CatchUp,
}

/// An applied group waiting for its flush.
pub(crate) struct Ticket {
    answers: Vec<(Reply, AppendOutcome)>,
    /// The chain head after this group, if it wrote anything.
    head: Option<Head>,
}

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Work>,
    pub flush_tx: SyncSender<Ticket>,
    pub durability: Arc<Durable>,
    pub state: ChainState,
    /// Heads of recently written streams. The writer is the only one to change heads, so the
    /// cache cannot go stale.
    pub heads: HashMap<StreamId, StreamHead>,
    /// The database holding the log of record, when the folder is its replica.
    pub upstream: Option<Upstream>,
}

/// How a writer of a database's replica starts: where the database is, the mark its
/// notifications carry, and whom to tell once connected and caught up.
pub(crate) struct Start {
    pub url: String,
    pub origin: String,
    pub ready: std::sync::mpsc::Sender<Result<(), StoreError>>,
}

/// A group decided, not yet written.
struct Prepared {
    batch: sled::Batch,
    state: ChainState,
    heads: HashMap<StreamId, StreamHead>,
    fates: Vec<Pending>,
    /// The group's events as the database stores them (PostgreSQL mode only).
    rows: Vec<Row>,
}

/// Restored envelopes checked, not yet written.
struct Restored {
    batch: sled::Batch,
    state: ChainState,
    heads: HashMap<StreamId, StreamHead>,
    rows: Vec<Row>,
}

/// One request's fate inside a group, before the batch is written.
enum Pending {
    Done(AppendOutcome),
    Commit(Receipt),
}

impl Writer {
    /// Serves the queue until every sender is gone. With `start`, first connects to the
    /// database at its URL and copies what the folder lacks, and tells the opener how that
    /// went (it stops at once if it failed).
    pub fn run(mut self, start: Option<Start>) {
        if let Some(Start { url, origin, ready }) = start {
            let result = self.start_upstream(&url, &origin);
            let failed = result.is_err();
            let _ = ready.send(result);
            if failed {
                return;
            }
        }
        let mut next = self.rx.blocking_recv();
        while let Some(work) = next.take() {
            let first = match work {
                Work::Restore(job) => {
                    self.restore(job);
                    next = self.rx.blocking_recv();
                    continue;
                }
                Work::CatchUp => {
                    self.catch_up_idle();
                    next = self.rx.blocking_recv();
                    continue;
                }
                Work::Append(job) => vec![job],
                Work::Many(jobs) => jobs,
            };
            let mut group_events: usize = first.iter().map(|j| j.request.events.len()).sum();
            let mut group = first;
            while group_events < MAX_GROUP_EVENTS {
                match self.rx.try_recv() {
                    Ok(Work::Append(job)) => {
                        group_events += job.request.events.len();
                        group.push(job);
                    }
                    Ok(Work::Many(jobs)) => {
                        group_events += jobs.iter().map(|j| j.request.events.len()).sum::<usize>();
                        group.extend(jobs);
                    }
                    Ok(other) => {
                        // Handled after this group, in queue order.
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.apply_group(group);
            }
            if next.is_none() {
                next = self.rx.blocking_recv();
            }
        }
        // Dropping `self` drops `flush_tx`, which lets the flusher finish and stop.
    }

    /// Writes copied envelopes after checking that each continues the log exactly: next
    /// sequence number, next stream version, previous hash, its own hash, and no step back
    /// in recorded time. Nothing is written unless the whole batch passes.
    fn restore(&mut self, job: RestoreJob) {
        let result = match self.upstream.take() {
            Some(mut upstream) => {
                let result = self.restore_upstream(&mut upstream, &job.events);
                self.settle(upstream, &result);
                result
            }
            None => self.try_restore(&job.events),
        };
        let _ = job.reply.send(result);
    }

    fn try_restore(&mut self, events: &[RecordedEvent]) -> Result<u64, StoreError> {
        if let Some(reason) = self.shared.failure() {
            return Err(StoreError::WriterFailed(reason));
        }
        let restored = self.prepare_restore(events, &[])?;
        self.apply_restored(restored)
    }

    /// Checks copied envelopes against the log, touching nothing but reads.
    /// `fingerprints`, when not empty, holds each event's command fingerprint.
    fn prepare_restore(
        &self,
        events: &[RecordedEvent],
        fingerprints: &[Option<[u8; 32]>],
    ) -> Result<Restored, StoreError> {
        // Earlier groups must be durable first, so the durable head only moves forward.
        while self.durability.in_flight.load(Ordering::Acquire) > 0 {
            std::thread::yield_now();
        }
        let mut state = self.state;
        let mut heads: HashMap<StreamId, StreamHead> = HashMap::new();
        let mut keys: HashMap<Vec<u8>, IdempotencyRecord> = HashMap::new();
        let mut log = LogBatch::new(self.shared.layout);
        let mut rows = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let bad = |detail: String| StoreError::Restore {
                seq: event.seq,
                detail,
            };
            if event.seq != state.last_seq + 1 {
                return Err(bad(format!(
                    "expected sequence number {}",
                    state.last_seq + 1
                )));
            }
            if event.prev_hash != state.last_hash {
                return Err(bad("its previous hash is not the log's last hash".into()));
            }
            if event.recorded_at < state.last_recorded_at {
                return Err(bad("recorded time goes backwards".into()));
            }
            let head = match heads.get(&event.stream) {
                Some(h) => Some(*h),
                None => self.load_head(&event.stream)?,
            };
            let mut head = match head {
                Some(h) => h,
                None => {
                    state.stream_count += 1;
                    let num = state.stream_count;
                    log.batch
                        .insert(codec::stream_head_key(&event.stream), &num.to_be_bytes());
                    StreamHead { num, version: 0 }
                }
            };
            if event.version != head.version + 1 {
                return Err(bad(format!(
                    "expected version {} of stream {}",
                    head.version + 1,
                    event.stream
                )));
            }
            let (record, hash) = codec::encode_record(event);
            if hash != event.hash {
                return Err(bad("its hash does not match its contents".into()));
            }
            head.version = event.version;
            let record = sled::IVec::from(record);
            log.push(head.num, head.version, event.seq, record.clone());
            heads.insert(event.stream.clone(), head);
            rows.push(Row {
                seq: event.seq,
                stream: event.stream.to_string(),
                version: event.version,
                record,
                fingerprint: fingerprints.get(i).copied().flatten(),
            });
            if let Some(key) = &event.idempotency_key {
                // Consecutive events of one stream with one key were one append. Restored
                // keys are scoped to the actor who wrote them, whatever folder they came
                // from; the command's fingerprint is not in the log, so it is known only
                // when the database that holds the log kept it beside the events.
                let scoped = codec::scoped_idempotency_key(&event.actor, key);
                let earlier = match keys.get(&scoped) {
                    Some(r) => Some(r.clone()),
                    None => codec::find_idempotency(
                        &self.shared.tree,
                        self.shared.layout,
                        &event.actor,
                        key,
                    )?,
                };
                let (receipt, fingerprint) = match earlier {
                    Some(r) if r.stream == event.stream && r.receipt.last_seq + 1 == event.seq => (
                        Receipt {
                            last_seq: event.seq,
                            last_version: event.version,
                            ..r.receipt
                        },
                        r.fingerprint,
                    ),
                    _ => (
                        Receipt {
                            first_seq: event.seq,
                            last_seq: event.seq,
                            first_version: event.version,
                            last_version: event.version,
                            recorded_at: event.recorded_at,
                        },
                        fingerprints.get(i).copied().flatten(),
                    ),
                };
                let record = IdempotencyRecord {
                    stream: event.stream.clone(),
                    receipt,
                    fingerprint,
                };
                log.batch.insert(scoped.clone(), record.encode());
                keys.insert(scoped, record);
            }
            state.last_seq = event.seq;
            state.last_hash = hash;
            state.last_recorded_at = event.recorded_at;
            state.push_leaf(&hash, &mut log.batch);
        }
        if state.stream_count != self.state.stream_count {
            log.batch
                .insert(codec::META_STREAMS, &state.stream_count.to_be_bytes());
        }
        if !events.is_empty() {
            log.batch
                .insert(codec::META_TREE, &state.tree_head().encode()[..]);
        }
        Ok(Restored {
            batch: log.finish(&self.shared.tree)?,
            state,
            heads,
            rows,
        })
    }

    /// Writes checked envelopes to the folder and makes them durable; returns the new head.
    fn apply_restored(&mut self, restored: Restored) -> Result<u64, StoreError> {
        let Restored {
            batch,
            state,
            heads,
            ..
        } = restored;
        if state.last_seq == self.state.last_seq {
            return Ok(state.last_seq);
        }
        self.shared.tree.apply_batch(batch)?;
        self.shared
            .stats
            .applied(state.last_seq - self.state.last_seq);
        self.state = state;
        self.heads.extend(heads);
        let ticket = Ticket {
            answers: Vec::new(),
            head: Some(Head {
                seq: state.last_seq,
                hash: state.last_hash,
                root: state.tree.root(),
            }),
        };
        self.durability
            .complete(vec![ticket])
            .map_err(StoreError::WriterFailed)?;
        Ok(state.last_seq)
    }

    fn apply_group(&mut self, group: Vec<Job>) {
        if let Some(reason) = self.shared.failure() {
            return fail_all(group, || StoreError::WriterFailed(reason.clone()));
        }
        if let Some(mut upstream) = self.upstream.take() {
            let result = self.group_upstream(&mut upstream, &group);
            self.settle(upstream, &result);
            return match result {
                Ok(prepared) => self.finish_group(group, prepared),
                Err(e) => {
                    let unknown = matches!(e, StoreError::UpstreamUnknown(_));
                    let text = e.to_string();
                    fail_all(group, || {
                        if unknown {
                            StoreError::UpstreamUnknown(text.clone())
                        } else {
                            StoreError::Upstream(text.clone())
                        }
                    })
                }
            };
        }
        let prepared = match self.prepare(&group, false) {
            Ok(prepared) => prepared,
            Err(e) => {
                let text = e.to_string();
                return fail_all(group, || StoreError::WriterFailed(text.clone()));
            }
        };
        self.finish_group(group, prepared);
    }

    /// Writes a decided group to the folder and answers it once durable.
    fn finish_group(&mut self, group: Vec<Job>, prepared: Prepared) {
        let Prepared {
            batch,
            state: next_state,
            heads: new_heads,
            fates,
            ..
        } = prepared;
        let wrote = fates.iter().any(|f| matches!(f, Pending::Commit(_)));
        if wrote {
            if let Err(e) = self.shared.tree.apply_batch(batch) {
                // Nothing of the batch is applied, so the in-memory state stays valid.
                self.shared.set_write_error(Some(e.to_string()));
                self.shared.stats.failed();
                return fail_all(group, || StoreError::Sled(e.clone()));
            }
            self.shared.set_write_error(None);
            self.shared
                .stats
                .applied(next_state.last_seq - self.state.last_seq);
            self.state = next_state;
            if self.heads.len() + new_heads.len() > HEAD_CACHE_LIMIT {
                self.heads.clear();
            }
            self.heads.extend(new_heads);
        }
        let answers = group
            .into_iter()
            .zip(fates)
            .map(|(job, fate)| {
                let outcome = match fate {
                    Pending::Done(outcome) => outcome,
                    Pending::Commit(receipt) => AppendOutcome::Committed(receipt),
                };
                (job.reply, outcome)
            })
            .collect();
        let head = wrote.then_some(Head {
            seq: next_state.last_seq,
            hash: next_state.last_hash,
            root: next_state.tree.root(),
        });
        let ticket = Ticket { answers, head };
        // Nobody else waiting and no earlier group in the flusher's hands: flushing here saves
        // a thread hand-off, which is most of the overhead a lone caller sees. The flusher is
        // idle, so durable heads are still published in order.
        if self.rx.is_empty() && self.durability.in_flight.load(Ordering::Acquire) == 0 {
            // A failed flush has already answered every caller of the group.
            let _ = self.durability.complete(vec![ticket]);
            return;
        }
        // Even a group that wrote nothing goes through the flusher: a replayed receipt or a
        // conflict may only be reported once the events it refers to are durable.
        self.durability.in_flight.fetch_add(1, Ordering::AcqRel);
        if let Err(lost) = self.flush_tx.send(ticket) {
            self.durability.in_flight.fetch_sub(1, Ordering::AcqRel);
            for (reply, _) in lost.0.answers {
                let _ = reply.send(Err(StoreError::Closed));
            }
        }
    }

    /// Decides every request of the group and builds the batch, touching nothing but reads;
    /// with `rows`, also the rows the database stores.
    fn prepare(&self, group: &[Job], with_rows: bool) -> Result<Prepared, StoreError> {
        let mut rows = Vec::new();
        let mut log = LogBatch::new(self.shared.layout);
        let mut state = self.state;
        let mut heads: HashMap<StreamId, StreamHead> = HashMap::new();
        let mut keys: HashMap<Vec<u8>, IdempotencyRecord> = HashMap::new();
        let mut fates = Vec::with_capacity(group.len());
        let recorded_at = (self.shared.clock)().max(state.last_recorded_at);

        for job in group {
            let req = &job.request;
            if let Some(key) = req.idempotency_key.as_deref() {
                let scoped = codec::scoped_idempotency_key(&req.actor, key);
                let earlier = match keys.get(&scoped) {
                    Some(record) => Some(record.clone()),
                    None => codec::find_idempotency(
                        &self.shared.tree,
                        self.shared.layout,
                        &req.actor,
                        key,
                    )?,
                };
                if let Some(record) = earlier {
                    fates.push(Pending::Done(if record.stream != req.stream {
                        AppendOutcome::IdempotencyKeyReused {
                            original_stream: record.stream,
                        }
                    } else if !record.same_command(req.fingerprint) {
                        AppendOutcome::IdempotencyKeyMismatch {
                            original: record.receipt,
                        }
                    } else {
                        AppendOutcome::Replayed(record.receipt)
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
            let mut head = match head {
                Some(head) => head,
                None => {
                    state.stream_count += 1;
                    let num = state.stream_count;
                    log.batch
                        .insert(codec::stream_head_key(&req.stream), &num.to_be_bytes());
                    StreamHead { num, version: 0 }
                }
            };
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
                log.push(head.num, head.version, event.seq, record.clone());
                if with_rows {
                    rows.push(Row {
                        seq: event.seq,
                        stream: req.stream.to_string(),
                        version: event.version,
                        record,
                        // Kept once per append, on its first event, as restores read it.
                        fingerprint: if event.version == receipt.first_version {
                            req.fingerprint.filter(|_| req.idempotency_key.is_some())
                        } else {
                            None
                        },
                    });
                }
                state.last_seq = event.seq;
                state.last_hash = hash;
                state.push_leaf(&hash, &mut log.batch);
            }
            state.last_recorded_at = recorded_at;
            heads.insert(req.stream.clone(), head);
            if let Some(key) = req.idempotency_key.as_deref() {
                let record = IdempotencyRecord {
                    stream: req.stream.clone(),
                    receipt,
                    fingerprint: req.fingerprint,
                };
                let scoped = codec::scoped_idempotency_key(&req.actor, key);
                log.batch.insert(scoped.clone(), record.encode());
                keys.insert(scoped, record);
            }
            fates.push(Pending::Commit(receipt));
        }
        if state.stream_count != self.state.stream_count {
            log.batch
                .insert(codec::META_STREAMS, &state.stream_count.to_be_bytes());
        }
        if state.last_seq != self.state.last_seq {
            log.batch
                .insert(codec::META_TREE, &state.tree_head().encode()[..]);
        }
        Ok(Prepared {
            batch: log.finish(&self.shared.tree)?,
            state,
            heads,
            fates,
            rows,
        })
    }

    fn load_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        if let Some(head) = self.heads.get(stream) {
            return Ok(Some(*head));
        }
        codec::load_stream_head(&self.shared.tree, self.shared.layout, stream)
    }
}

fn fail_all(group: Vec<Job>, error: impl Fn() -> StoreError) {
    for job in group {
        let _ = job.reply.send(Err(error()));
    }
}

/// Makes applied groups durable, publishes the durable head, answers the callers. Used by
/// the flusher thread, and by the writer itself when nothing else is in flight.
pub(crate) struct Durable {
    pub shared: Arc<Shared>,
    /// Announces each new durable head to subscriptions; dropped with the last of the two
    /// threads, which tells them the store is closed.
    pub head_tx: watch::Sender<u64>,
    /// sled's data file, synced after each flush under [`crate::Durability::FlushAndSync`].
    pub sync_file: Option<std::fs::File>,
    /// Tickets handed to the flusher and not yet answered.
    pub in_flight: AtomicUsize,
    /// The folder replicates a database's log: what is acknowledged is committed there, so
    /// the folder is left to sled's own periodic flush and a crash costs only a copy of the
    /// lost end at the next open.
    pub replica: bool,
}

impl Durable {
    /// Flushes, publishes the durable head and answers; `Err` (with the reason) if the
    /// flush failed, in which case every answer is that failure.
    fn complete(&self, tickets: Vec<Ticket>) -> Result<(), String> {
        let head = tickets.iter().filter_map(|t| t.head).next_back();
        if let Some(head) = head {
            if let Err(e) = self.flush() {
                // Some of these events may be on disk and some not; the writer must not
                // build on a state nobody can vouch for.
                let text = format!("flush failed: {e}");
                self.shared.set_failure(text.clone());
                for ticket in tickets {
                    for (reply, _) in ticket.answers {
                        let _ = reply.send(Err(StoreError::WriterFailed(text.clone())));
                    }
                }
                return Err(text);
            }
            if let Ok(mut durable) = self.shared.durable_head.lock() {
                *durable = head;
            }
            self.shared.durable_seq.store(head.seq, Ordering::Release);
            self.head_tx.send_replace(head.seq);
        }
        for ticket in tickets {
            for (reply, outcome) in ticket.answers {
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), sled::Error> {
        if self.replica {
            return Ok(());
        }
        self.shared.db.flush()?;
        if let Some(file) = &self.sync_file {
            file.sync_data()?;
        }
        Ok(())
    }
}

/// The flusher thread: completes groups the writer handed over, many per flush.
pub(crate) struct Flusher {
    pub rx: Receiver<Ticket>,
    pub durability: Arc<Durable>,
}

impl Flusher {
    pub fn run(self) {
        while let Ok(first) = self.rx.recv() {
            let mut tickets = vec![first];
            tickets.extend(self.rx.try_iter());
            let count = tickets.len();
            // A failed flush has already answered every caller of these groups.
            let _ = self.durability.complete(tickets);
            self.durability.in_flight.fetch_sub(count, Ordering::AcqRel);
        }
    }
}
