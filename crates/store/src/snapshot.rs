//! Checkpoints and snapshots for projections: opaque bytes plus the sequence they reflect.
//!
//! They live in their own tree: they are derived data, never part of the chain, and may be
//! dropped at any time (a projection then replays the log from the start).

use crate::error::{InvalidRequest, StoreError};
use crate::store::Store;

const CHECKPOINT: u8 = b'C';
const SNAPSHOT: u8 = b'P';

/// A projection's saved state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last sequence number folded into `bytes`.
    pub seq: u64,
    /// The projection's own encoding of its state.
    pub bytes: Vec<u8>,
}

fn check_name(name: &str) -> Result<(), InvalidRequest> {
    if name.is_empty() || name.len() > 128 || name.contains('\0') {
        return Err(InvalidRequest::ProjectionName { name: name.into() });
    }
    Ok(())
}

fn snapshot_prefix(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(SNAPSHOT);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k
}

fn snapshot_key(name: &str, seq: u64) -> Vec<u8> {
    let mut k = snapshot_prefix(name);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn checkpoint_key(name: &str) -> Vec<u8> {
    let mut k = vec![CHECKPOINT];
    k.extend_from_slice(name.as_bytes());
    k
}

fn seq_of(key: &[u8], prefix_len: usize) -> Result<u64, StoreError> {
    crate::codec::u64_at(key, prefix_len)
        .ok_or_else(|| StoreError::corrupt("snapshot key", "missing sequence number"))
}

/// Error of a snapshot call: a bad name, or a failure of the store.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The projection name is not acceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for SnapshotError {
    fn from(e: sled::Error) -> Self {
        SnapshotError::Store(e.into())
    }
}

impl Store {
    /// Records that projection `name` has folded everything up to `seq`, durably.
    pub fn save_checkpoint(&self, name: &str, seq: u64) -> Result<(), SnapshotError> {
        check_name(name)?;
        let shared = self.shared();
        shared
            .projections
            .insert(checkpoint_key(name), &seq.to_be_bytes())?;
        shared.projections.flush()?;
        Ok(())
    }

    /// The last checkpoint of projection `name`.
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, SnapshotError> {
        check_name(name)?;
        match self.shared().projections.get(checkpoint_key(name))? {
            Some(v) => Ok(Some(seq_of(&v, 0)?)),
            None => Ok(None),
        }
    }

    /// Stores a snapshot of projection `name` as of `seq`, durably, and keeps the newest
    /// `keep` snapshots of that name (at least one).
    pub fn save_snapshot(
        &self,
        name: &str,
        seq: u64,
        bytes: &[u8],
        keep: usize,
    ) -> Result<(), SnapshotError> {
        check_name(name)?;
        let tree = &self.shared().projections;
        tree.insert(snapshot_key(name, seq), bytes)?;
        let old: Vec<_> = tree
            .scan_prefix(snapshot_prefix(name))
            .keys()
            .rev()
            .skip(keep.max(1))
            .collect::<Result<_, _>>()?;
        for key in old {
            tree.remove(key)?;
        }
        tree.flush()?;
        Ok(())
    }

    /// The newest snapshot of `name` that reflects no event after `at_or_before` (use
    /// `u64::MAX` for the newest of all).
    pub fn load_snapshot(
        &self,
        name: &str,
        at_or_before: u64,
    ) -> Result<Option<Snapshot>, SnapshotError> {
        check_name(name)?;
        let prefix = snapshot_prefix(name);
        let end = snapshot_key(name, at_or_before);
        let found = self
            .shared()
            .projections
            .range(prefix.clone()..=end)
            .next_back()
            .transpose()?;
        match found {
            Some((key, value)) => Ok(Some(Snapshot {
                seq: seq_of(&key, prefix.len())?,
                bytes: value.to_vec(),
            })),
            None => Ok(None),
        }
    }

    /// Removes every snapshot and checkpoint of `name` (a rebuild starts from the log).
    pub fn drop_projection(&self, name: &str) -> Result<(), SnapshotError> {
        check_name(name)?;
        let tree = &self.shared().projections;
        let keys: Vec<_> = tree
            .scan_prefix(snapshot_prefix(name))
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            tree.remove(key)?;
        }
        tree.remove(checkpoint_key(name))?;
        tree.flush()?;
        Ok(())
    }
}
