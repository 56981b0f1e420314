//! The writer's part when the folder replicates a log kept in PostgreSQL (see
//! `crate::pg`): deciding a group inside the database's transaction, restoring into the
//! database, and copying what other servers committed.

use super::{Job, Prepared, Writer};
use crate::error::StoreError;
use crate::pg::{FETCH_ROWS, Fetched, Locked, Upstream};
use crate::types::RecordedEvent;

impl Writer {
    /// Decides a group inside the database's transaction: with the head row locked, copies
    /// what other servers committed, decides on that state, commits the rows. The folder is
    /// written afterwards, by [`Writer::finish_group`].
    pub(super) fn group_upstream(
        &mut self,
        upstream: &mut Upstream,
        group: &[Job],
    ) -> Result<Prepared, StoreError> {
        let locked = self.lock_caught_up(upstream)?;
        let prepared = self.prepare(group, true)?;
        if !prepared.rows.is_empty() {
            locked.commit(
                &prepared.rows,
                (prepared.state.last_seq, prepared.state.last_hash),
            )?;
        }
        // A group that only replays receipts or reports conflicts commits nothing; dropping
        // the transaction rolls it back and frees the head.
        Ok(prepared)
    }

    /// A restore into the database: the same checks as into a folder, then one transaction.
    pub(super) fn restore_upstream(
        &mut self,
        upstream: &mut Upstream,
        events: &[RecordedEvent],
    ) -> Result<u64, StoreError> {
        if let Some(reason) = self.shared.failure() {
            return Err(StoreError::WriterFailed(reason));
        }
        let locked = self.lock_caught_up(upstream)?;
        let restored = self.prepare_restore(events, &[])?;
        if !restored.rows.is_empty() {
            locked.commit(
                &restored.rows,
                (restored.state.last_seq, restored.state.last_hash),
            )?;
        }
        self.apply_restored(restored).map_err(|e| {
            let text = format!("events the database committed could not be written: {e}");
            self.shared.set_failure(text.clone());
            StoreError::WriterFailed(text)
        })
    }

    /// Locks the database's head and brings the folder to it, so that what is decided next
    /// is decided on the whole log.
    fn lock_caught_up<'u>(&mut self, upstream: &'u mut Upstream) -> Result<Locked<'u>, StoreError> {
        let mut locked = upstream.lock()?;
        // Most groups find the database where the folder is, and spare the query.
        if locked.seq > self.state.last_seq {
            self.catch_up(|after| locked.fetch(after))?;
        }
        self.check_head(locked.seq, locked.hash)?;
        Ok(locked)
    }

    /// Copies committed events the folder lacks, in pages, checking each as a restore does.
    fn catch_up(
        &mut self,
        mut fetch: impl FnMut(u64) -> Result<Vec<Fetched>, StoreError>,
    ) -> Result<(), StoreError> {
        loop {
            let page = fetch(self.state.last_seq)?;
            let full = page.len() as i64 == FETCH_ROWS;
            if page.is_empty() {
                return Ok(());
            }
            let (events, fingerprints): (Vec<_>, Vec<_>) =
                page.into_iter().map(|f| (f.event, f.fingerprint)).unzip();
            let restored = self
                .prepare_restore(&events, &fingerprints)
                .map_err(|e| match e {
                    StoreError::Restore { seq, detail } => StoreError::Diverged(format!(
                        "event {seq} of the database does not continue the folder's log: {detail}"
                    )),
                    other => other,
                })?;
            self.apply_restored(restored)?;
            if !full {
                return Ok(());
            }
        }
    }

    /// The folder, caught up, must end where the database's head is.
    fn check_head(&self, seq: u64, hash: crate::types::ChainHash) -> Result<(), StoreError> {
        if seq < self.state.last_seq {
            return Err(StoreError::Diverged(format!(
                "the folder holds {} events, the database {seq}",
                self.state.last_seq
            )));
        }
        if seq == self.state.last_seq && hash != self.state.last_hash {
            return Err(StoreError::Diverged(format!(
                "event {seq} differs between the folder and the database"
            )));
        }
        Ok(())
    }

    pub(super) fn start_upstream(&mut self, url: &str, origin: &str) -> Result<(), StoreError> {
        let mut upstream = Upstream::connect(url, origin)?;
        self.catch_up(|after| upstream.fetch(after))?;
        let (seq, hash) = upstream.head()?;
        self.check_head(seq, hash)?;
        self.upstream = Some(upstream);
        Ok(())
    }

    /// Copies other servers' commits when nothing else is queued (a follower woke us).
    pub(super) fn catch_up_idle(&mut self) {
        if self.shared.failure().is_some() {
            return;
        }
        if let Some(mut upstream) = self.upstream.take() {
            let result = self.catch_up(|after| upstream.fetch(after));
            self.settle(upstream, &result);
        }
    }

    /// Puts the connection back after a piece of work; a divergence stops the writer, any
    /// other database error only drops the connection, so the next work reconnects.
    pub(super) fn settle<T>(&mut self, mut upstream: Upstream, result: &Result<T, StoreError>) {
        match result {
            Err(e @ (StoreError::Diverged(_) | StoreError::Corrupt { .. })) => {
                self.shared.set_failure(e.to_string());
            }
            Err(e) => {
                self.shared.set_write_error(Some(e.to_string()));
                upstream.reset();
            }
            Ok(_) => {}
        }
        self.upstream = Some(upstream);
    }
}
