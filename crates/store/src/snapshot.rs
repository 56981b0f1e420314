//! Checkpoints and snapshots for projections: opaque bytes plus the sequence they reflect.
//!
//! They are derived data, never part of the chain, and may be dropped at any time (a
//! projection then replays the log from the start). Checkpoints are a few bytes in the
//! `projections` tree. Snapshots are files under `<data>/snapshots/`, one per snapshot:
//! inside sled, several snapshots of tens of MB shared one node, so every save rewrote and
//! every load held in memory hundreds of MB (docs/performance.md, Memory).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{InvalidRequest, StoreError};
use crate::store::Store;

const CHECKPOINT: u8 = b'C';
/// The key prefix of snapshots kept in the `projections` tree by earlier versions; they are
/// still read, and removed once a snapshot of the same name is saved as a file.
const SNAPSHOT: u8 = b'P';
/// The first bytes of a snapshot file; then the sequence number (u64 BE), the length of the
/// state (u64 BE), the state, and the BLAKE3 hash of everything before it.
const MAGIC: &[u8; 8] = b"DTSNAP1\n";
const HEADER_LEN: usize = 24;
const HASH_LEN: usize = 32;

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

/// The folder of a projection's snapshot files: the name with every byte outside
/// `[A-Za-z0-9_-]` written as `%XX`, so that no name reaches outside `snapshots/`.
fn snapshot_dir(root: &Path, name: &str) -> PathBuf {
    let mut file = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            file.push(char::from(b));
        } else {
            file.push_str(&format!("%{b:02X}"));
        }
    }
    root.join("snapshots").join(file)
}

fn file_of(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.snap"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sequence numbers of the snapshot files in `dir`, oldest first; temporary files and
/// anything else are ignored.
fn files_in(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut seqs = Vec::new();
    for entry in entries {
        let name = entry.map_err(io(dir))?.file_name();
        seqs.extend(seq_named(&name, ".snap"));
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The sequence number in a file name of 20 digits and `suffix`, as [`write_file`] names
/// its files; `None` for any other name.
fn seq_named(name: &std::ffi::OsStr, suffix: &str) -> Option<u64> {
    name.to_str()
        .and_then(|n| n.strip_suffix(suffix))
        .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

/// Removes the temporary files of snapshot saves that a crash cut short, in every
/// projection's folder under `root`. Called when the store opens: the folder's lock is held
/// and no save of this process has started, so every temporary file found is a leftover.
/// A file that cannot be removed is reported and left; it is never loaded.
pub(crate) fn remove_leftovers(root: &Path) {
    let Ok(folders) = fs::read_dir(root.join("snapshots")) else {
        return;
    };
    for folder in folders.flatten() {
        let Ok(files) = fs::read_dir(folder.path()) else {
            continue;
        };
        for file in files.flatten() {
            if seq_named(&file.file_name(), ".tmp").is_some()
                && let Err(e) = fs::remove_file(file.path())
            {
                tracing::warn!(file = %file.path().display(), error = %e,
                    "a snapshot save's temporary file could not be removed");
            }
        }
    }
}

/// Writes a snapshot file whole or not at all: a temporary file, synced, renamed into place,
/// and the folder synced, so that a crash leaves the old set of snapshots or the new one.
fn write_file(dir: &Path, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!("{seq:020}.tmp"));
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&seq.to_be_bytes());
    header[16..].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    hasher.update(bytes);
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(&header).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.write_all(hasher.finalize().as_bytes())
        .map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    let path = file_of(dir, seq);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads a snapshot file, or says what is wrong with it.
fn read_file(path: &Path, seq: u64) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| e.to_string())?;
    if data.len() < HEADER_LEN + HASH_LEN || &data[..8] != MAGIC {
        return Err("not a snapshot file".into());
    }
    let (body, hash) = data.split_at(data.len() - HASH_LEN);
    if blake3::hash(body).as_bytes() != hash {
        return Err("its hash does not match its bytes".into());
    }
    let stated_seq = crate::codec::u64_at(body, 8);
    let len = crate::codec::u64_at(body, 16);
    if stated_seq != Some(seq) || len != Some((body.len() - HEADER_LEN) as u64) {
        return Err("its header does not match its name or length".into());
    }
    data.truncate(body.len());
    data.drain(..HEADER_LEN);
    Ok(data)
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
        let dir = snapshot_dir(&self.shared().path, name);
        write_file(&dir, seq, bytes)?;
        let seqs = files_in(&dir)?;
        let old = seqs.len().saturating_sub(keep.max(1));
        for seq in &seqs[..old] {
            let path = file_of(&dir, *seq);
            fs::remove_file(&path).map_err(io(&path))?;
        }
        self.drop_tree_snapshots(name)?;
        Ok(())
    }

    /// The newest snapshot of `name` that reflects no event after `at_or_before` (use
    /// `u64::MAX` for the newest of all). A damaged file is passed over for an older one.
    pub fn load_snapshot(
        &self,
        name: &str,
        at_or_before: u64,
    ) -> Result<Option<Snapshot>, SnapshotError> {
        check_name(name)?;
        let dir = snapshot_dir(&self.shared().path, name);
        for seq in files_in(&dir)?
            .into_iter()
            .rev()
            .filter(|s| *s <= at_or_before)
        {
            let path = file_of(&dir, seq);
            match read_file(&path, seq) {
                Ok(bytes) => return Ok(Some(Snapshot { seq, bytes })),
                Err(problem) => tracing::warn!(
                    file = %path.display(),
                    problem,
                    "snapshot passed over"
                ),
            }
        }
        self.load_tree_snapshot(name, at_or_before)
    }

    /// Removes every snapshot and checkpoint of `name` (a rebuild starts from the log).
    pub fn drop_projection(&self, name: &str) -> Result<(), SnapshotError> {
        check_name(name)?;
        let dir = snapshot_dir(&self.shared().path, name);
        for seq in files_in(&dir)? {
            let path = file_of(&dir, seq);
            fs::remove_file(&path).map_err(io(&path))?;
        }
        self.drop_tree_snapshots(name)?;
        let tree = &self.shared().projections;
        tree.remove(checkpoint_key(name))?;
        tree.flush()?;
        Ok(())
    }

    /// A snapshot an earlier version kept in the `projections` tree.
    fn load_tree_snapshot(
        &self,
        name: &str,
        at_or_before: u64,
    ) -> Result<Option<Snapshot>, SnapshotError> {
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

    fn drop_tree_snapshots(&self, name: &str) -> Result<(), SnapshotError> {
        let tree = &self.shared().projections;
        let keys: Vec<_> = tree
            .scan_prefix(snapshot_prefix(name))
            .keys()
            .collect::<Result<_, _>>()?;
        if !keys.is_empty() {
            for key in keys {
                tree.remove(key)?;
            }
            tree.flush()?;
        }
        Ok(())
    }
}
