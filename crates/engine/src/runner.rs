//! The projection runner: feeds a read model from the store (catch-up from its snapshot, then
//! live), snapshots it every N events and on shutdown, rebuilds it on demand, and folds log
//! prefixes for "as recorded by" questions.

use std::sync::{Arc, Mutex, RwLock};

use dealtrail_domain::{Projection, Recorded, Timestamp};
use dealtrail_store::{LogFilter, Store};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::cancel::Cancel;
use crate::codec;
use crate::error::EngineError;

/// How often a read model is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Save a snapshot after this many events.
    pub snapshot_every: u64,
    /// Snapshots kept per read model (older ones are pruned); "as recorded by" replays start
    /// from the newest kept snapshot at or before the moment asked.
    pub keep_snapshots: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            snapshot_every: 100_000,
            keep_snapshots: 16,
        }
    }
}

struct Shared<P> {
    state: RwLock<P>,
    /// The last sequence number folded in.
    applied: watch::Sender<u64>,
    /// Why the live fold stopped, if it failed.
    failure: Mutex<Option<String>>,
}

/// A read model kept up to date from the log.
pub struct ProjectionHost<P: Projection> {
    store: Store,
    config: RunnerConfig,
    shared: Arc<Shared<P>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<P: Projection + Sync> ProjectionHost<P> {
    /// Restores the newest snapshot (or starts empty), catches up with the log, and starts
    /// following it live on the current tokio runtime.
    pub fn start(store: Store, config: RunnerConfig) -> Result<ProjectionHost<P>, EngineError> {
        let (mut state, mut seq) = restore::<P>(&store, u64::MAX)?;
        let head = store.head().seq;
        fold(&store, &mut state, &mut seq, head, &Cancel::new())?;
        Ok(Self::start_from(store, config, state, seq))
    }

    /// Starts following the log live with a model already folded up to `seq` (see
    /// [`Restored`] for catching several models up in one pass).
    pub fn start_from(store: Store, config: RunnerConfig, state: P, seq: u64) -> ProjectionHost<P> {
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            applied: watch::channel(seq).0,
            failure: Mutex::new(None),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(follow(store.clone(), config, shared.clone(), seq, stop_rx));
        ProjectionHost {
            store,
            config,
            shared,
            stop: Mutex::new(Some(stop_tx)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Reads the live model.
    pub fn read<R>(&self, f: impl FnOnce(&P) -> R) -> Result<R, EngineError> {
        if let Some(reason) = self.shared.failure.lock().ok().and_then(|f| f.clone()) {
            return Err(EngineError::Store(dealtrail_store::StoreError::Corrupt {
                location: format!("projection {}", P::NAME),
                detail: reason,
            }));
        }
        let state = self
            .shared
            .state
            .read()
            .map_err(|_| EngineError::ShuttingDown)?;
        Ok(f(&state))
    }

    /// The last sequence number folded into the live model.
    pub fn applied(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Waits until the live model has folded `seq` (read-your-writes after a command).
    pub async fn wait_for(&self, seq: u64) -> Result<(), EngineError> {
        let mut rx = self.shared.applied.subscribe();
        rx.wait_for(|applied| *applied >= seq)
            .await
            .map(|_| ())
            .map_err(|_| EngineError::ShuttingDown)
    }

    /// The model as it stood after event `seq`: from the newest snapshot at or before it,
    /// folding only the events after the snapshot.
    pub fn at_seq(&self, seq: u64) -> Result<P, EngineError> {
        self.at_seq_or_cancel(seq, &Cancel::new())
    }

    /// [`Self::at_seq`], stopping with [`EngineError::Cancelled`] once `cancel` is set.
    pub fn at_seq_or_cancel(&self, seq: u64, cancel: &Cancel) -> Result<P, EngineError> {
        let (mut state, mut folded) = restore::<P>(&self.store, seq)?;
        fold(&self.store, &mut state, &mut folded, seq, cancel)?;
        cancel.check()?;
        Ok(state)
    }

    /// The model as it stood with what had been recorded by `at` ("what we knew at T").
    pub fn as_recorded_by(&self, at: Timestamp) -> Result<P, EngineError> {
        self.as_recorded_by_or_cancel(at, &Cancel::new())
    }

    /// [`Self::as_recorded_by`], stopping once `cancel` is set.
    pub fn as_recorded_by_or_cancel(
        &self,
        at: Timestamp,
        cancel: &Cancel,
    ) -> Result<P, EngineError> {
        let seq = self
            .store
            .seq_recorded_by(dealtrail_store::Timestamp(at.0))?;
        self.at_seq_or_cancel(seq, cancel)
    }

    /// The model as recorded by each of `moments` (ascending), in one pass from the newest
    /// snapshot before the first: `f` reads the model at each moment.
    pub fn series_recorded_or_cancel<R>(
        &self,
        moments: &[Timestamp],
        cancel: &Cancel,
        mut f: impl FnMut(&P) -> R,
    ) -> Result<Vec<R>, EngineError> {
        let mut out = Vec::with_capacity(moments.len());
        let Some(first) = moments.first() else {
            return Ok(out);
        };
        let seq_at = |t: &Timestamp| self.store.seq_recorded_by(dealtrail_store::Timestamp(t.0));
        let (mut state, mut folded) = restore::<P>(&self.store, seq_at(first)?)?;
        for moment in moments {
            let until = seq_at(moment)?;
            if until > folded {
                fold(&self.store, &mut state, &mut folded, until, cancel)?;
                folded = until;
            }
            cancel.check()?;
            out.push(f(&state));
        }
        Ok(out)
    }

    /// The model folded from only the events that had occurred by `at` (business time), in
    /// log order: "what had happened by T, as we know it now". This replays the whole log.
    pub fn as_occurred_by(&self, at: Timestamp) -> Result<P, EngineError> {
        self.as_occurred_by_or_cancel(at, &Cancel::new())
    }

    /// [`Self::as_occurred_by`], stopping once `cancel` is set.
    pub fn as_occurred_by_or_cancel(
        &self,
        at: Timestamp,
        cancel: &Cancel,
    ) -> Result<P, EngineError> {
        let mut state = P::default();
        self.store.scan(1, u64::MAX, |view| {
            if view.seq % CANCEL_EVERY == 0 {
                cancel.check()?;
            }
            if view.occurred_at.0 <= at.0 && P::wants(view.event_type) {
                state.apply(&codec::decode_view(&view, self.store.vault())?);
            }
            Ok::<(), EngineError>(())
        })?;
        cancel.check()?;
        Ok(state)
    }

    /// Drops every snapshot and refolds the whole log; the live model is replaced once the
    /// new one has caught up.
    pub fn rebuild(&self) -> Result<u64, EngineError> {
        self.store.drop_projection(P::NAME)?;
        let (mut state, mut seq) = fold_log::<P>(&self.store)?;
        let mut live = self
            .shared
            .state
            .write()
            .map_err(|_| EngineError::ShuttingDown)?;
        // Events that arrived during the rebuild, up to what the live model has seen.
        let live_seq = *self.shared.applied.borrow();
        fold(&self.store, &mut state, &mut seq, live_seq, &Cancel::new())?;
        *live = state;
        drop(live);
        self.store.save_snapshot(
            P::NAME,
            seq,
            &self.snapshot_bytes()?,
            self.config.keep_snapshots,
        )?;
        Ok(seq)
    }

    fn snapshot_bytes(&self) -> Result<Vec<u8>, EngineError> {
        self.read(|p| p.snapshot())
    }

    /// Stops following the log and saves a final snapshot.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        let seq = self.applied();
        let failed = self.shared.failure.lock().map_or(true, |f| f.is_some());
        // A model that stopped on an event it could not read is incomplete: never save it.
        if seq > 0 && !failed {
            let bytes = self.snapshot_bytes()?;
            self.store
                .save_snapshot(P::NAME, seq, &bytes, self.config.keep_snapshots)?;
        }
        Ok(())
    }
}

impl<P: Projection> Drop for ProjectionHost<P> {
    fn drop(&mut self) {
        // Without this the follower task would keep the store open after the engine is gone.
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
    }
}

/// The newest usable snapshot at or before `seq`, or an empty model. A snapshot written by
/// another version of the projection is discarded, never misread.
fn restore<P: Projection>(store: &Store, seq: u64) -> Result<(P, u64), EngineError> {
    match store.load_snapshot(P::NAME, seq)? {
        Some(snapshot) => match P::restore(&snapshot.bytes) {
            Some(state) => Ok((state, snapshot.seq)),
            None => {
                tracing::warn!(
                    projection = P::NAME,
                    "snapshot of another version discarded; rebuilding from the log"
                );
                store.drop_projection(P::NAME)?;
                Ok((P::default(), 0))
            }
        },
        None => Ok((P::default(), 0)),
    }
}

/// Events folded between two looks at a [`Cancel`] flag: a few hundred microseconds.
const CANCEL_EVERY: u64 = 256;

/// Folds events after `*seq` up to `until` into `state`.
fn fold<P: Projection>(
    store: &Store,
    state: &mut P,
    seq: &mut u64,
    until: u64,
    cancel: &Cancel,
) -> Result<(), EngineError> {
    store.scan(*seq + 1, until, |view| {
        if view.seq % CANCEL_EVERY == 0 {
            cancel.check()?;
        }
        if P::wants(view.event_type) {
            state.apply(&codec::decode_view(&view, store.vault())?);
        }
        *seq = view.seq;
        Ok::<(), EngineError>(())
    })
}

/// A read model restored from its newest snapshot, to be caught up with others in one pass
/// over the log ([`catch_up`]), so that each event is read and decoded once, not once per
/// model.
pub struct Restored<P: Projection> {
    /// The model.
    pub state: P,
    /// The last sequence number folded into it.
    pub seq: u64,
}

impl<P: Projection> Restored<P> {
    /// The newest usable snapshot of `P`, or an empty model.
    pub fn load(store: &Store) -> Result<Restored<P>, EngineError> {
        let (state, seq) = restore::<P>(store, u64::MAX)?;
        Ok(Restored { state, seq })
    }

    /// An empty model, for a rebuild from the start of the log.
    pub fn empty() -> Restored<P> {
        Restored {
            state: P::default(),
            seq: 0,
        }
    }

    fn wants(&self, seq: u64, event_type: &str) -> bool {
        seq > self.seq && P::wants(event_type)
    }

    fn apply(&mut self, seq: u64, event: Option<&Recorded<dealtrail_domain::Event>>) {
        if seq > self.seq {
            if let Some(e) = event {
                self.state.apply(e);
            }
            self.seq = seq;
        }
    }
}

/// Catches three models up with the log (up to sequence number `until`) in one pass: each
/// event is decoded once, if any of them reads its type, and applied to every model that
/// has not seen it yet. `occurred_by` keeps only events that had occurred by then.
pub fn catch_up<A: Projection, B: Projection, C: Projection>(
    store: &Store,
    until: u64,
    occurred_by: Option<Timestamp>,
    models: (&mut Restored<A>, &mut Restored<B>, &mut Restored<C>),
) -> Result<(), EngineError> {
    let (a, b, c) = models;
    let from = a.seq.min(b.seq).min(c.seq);
    let until = until.min(store.head().seq);
    store.scan(from + 1, until, |view| {
        let (seq, kind) = (view.seq, view.event_type);
        if occurred_by.is_some_and(|t| view.occurred_at.0 > t.0) {
            a.apply(seq, None);
            b.apply(seq, None);
            c.apply(seq, None);
            return Ok(());
        }
        let decoded = if a.wants(seq, kind) || b.wants(seq, kind) || c.wants(seq, kind) {
            Some(codec::decode_view(&view, store.vault())?)
        } else {
            None
        };
        let for_ = |wants: bool| if wants { decoded.as_ref() } else { None };
        let (wa, wb, wc) = (A::wants(kind), B::wants(kind), C::wants(kind));
        a.apply(seq, for_(wa));
        b.apply(seq, for_(wb));
        c.apply(seq, for_(wc));
        Ok::<(), EngineError>(())
    })
}

/// Folds the whole log into a fresh model: what a rebuild does before it swaps models.
pub fn fold_log<P: Projection>(store: &Store) -> Result<(P, u64), EngineError> {
    let mut state = P::default();
    let mut seq = 0;
    fold(
        store,
        &mut state,
        &mut seq,
        store.head().seq,
        &Cancel::new(),
    )?;
    Ok((state, seq))
}

async fn follow<P: Projection + Sync>(
    store: Store,
    config: RunnerConfig,
    shared: Arc<Shared<P>>,
    from: u64,
    mut stop: oneshot::Receiver<()>,
) {
    let mut subscription = store.subscribe(from + 1, LogFilter::default());
    let mut since_snapshot = 0u64;
    loop {
        let next = tokio::select! {
            _ = &mut stop => return,
            next = subscription.next() => next,
        };
        let Some(next) = next else { return };
        // A read the storage engine failed (a full or failing disk) is not a bad event:
        // wait, then read again from where the model is, instead of stopping for good.
        if let Err(
            e @ (dealtrail_store::StoreError::Sled(_) | dealtrail_store::StoreError::Io { .. }),
        ) = &next
        {
            tracing::warn!(projection = P::NAME, error = %e, "reading the log failed; retrying");
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            let applied = *shared.applied.borrow();
            subscription = store.subscribe(applied + 1, LogFilter::default());
            continue;
        }
        if let Ok(e) = &next
            && !P::wants(&e.event_type)
        {
            shared.applied.send_replace(e.seq);
            continue;
        }
        let decoded = next
            .map_err(EngineError::from)
            .and_then(|e| codec::decode(&e, store.vault()));
        let recorded = match decoded {
            Ok(r) => r,
            Err(e) => {
                // A model that skipped an event would answer wrongly; stop and say why.
                tracing::error!(projection = P::NAME, error = %e, "projection stopped");
                if let Ok(mut f) = shared.failure.lock() {
                    *f = Some(e.to_string());
                }
                // Wake everyone waiting for read-your-writes: their writes are committed, and
                // their next read reports the failure instead of hanging.
                shared.applied.send_replace(u64::MAX);
                return;
            }
        };
        let seq = recorded.seq;
        match shared.state.write() {
            Ok(mut state) => state.apply(&recorded),
            Err(_) => return,
        }
        shared.applied.send_replace(seq);
        since_snapshot += 1;
        if since_snapshot >= config.snapshot_every {
            since_snapshot = 0;
            let bytes = match shared.state.read() {
                Ok(state) => state.snapshot(),
                Err(_) => return,
            };
            if let Err(e) = store.save_snapshot(P::NAME, seq, &bytes, config.keep_snapshots) {
                tracing::warn!(projection = P::NAME, error = %e, "snapshot not saved");
            }
        }
    }
}
