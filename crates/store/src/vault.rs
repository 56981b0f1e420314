//! The personal-data keys: one random 32-byte key per person, outside the log, in a file of
//! fixed-size slots. Personal data in the log is sealed under these keys (by the engine), so
//! that erasing a person, which overwrites their slot in place, leaves the chained bytes as
//! they were and makes that person's data unreadable in every copy of the log.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use uuid::Uuid;

use crate::error::StoreError;

/// The file's name inside the data folder.
pub const VAULT_FILE: &str = "personal.keys";

/// A slot: person id (16 bytes), state (1 byte), key (32 bytes), padding.
const SLOT: usize = 64;
const LIVE: u8 = 1;
const ERASED: u8 = 0xE5;

/// A 32-byte key.
pub type PersonKey = [u8; 32];

/// What the vault knows of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The key, usable.
    Live(PersonKey),
    /// The key was destroyed: the person's data cannot be read any more.
    Erased,
    /// No key was ever made for this id (in this folder).
    Unknown,
}

struct Slots {
    file: File,
    by_person: HashMap<Uuid, (u64, KeyState)>,
    len: u64,
}

impl Slots {
    /// Writes `person`'s slot in `state` at its place (appended if new), without syncing,
    /// and records it.
    fn write(&mut self, person: Uuid, state: KeyState) -> std::io::Result<()> {
        let mut slot = [0u8; SLOT];
        slot[..16].copy_from_slice(person.as_bytes());
        match state {
            KeyState::Live(key) => {
                slot[16] = LIVE;
                slot[17..49].copy_from_slice(&key);
            }
            KeyState::Erased | KeyState::Unknown => slot[16] = ERASED,
        }
        let at = match self.by_person.get(&person) {
            Some((at, _)) => *at,
            None => self.len,
        };
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(&slot)?;
        if at == self.len {
            self.len += SLOT as u64;
        }
        self.by_person.insert(person, (at, state));
        Ok(())
    }
}

/// The key file of one data folder; with the log in PostgreSQL, a cache of the database's
/// key table (see `pgkeys.rs`), which is then where keys are made, read and erased first.
pub struct Vault {
    path: PathBuf,
    slots: Mutex<Slots>,
    shared: OnceLock<crate::pgkeys::KeyLink>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("path", &self.path).finish()
    }
}

impl Vault {
    /// Opens (or creates) the key file of the folder `dir`. A slot cut short by a crash
    /// while it was appended is dropped: its key was never used, since a key is durable
    /// before anything is sealed under it.
    pub fn open(dir: &Path) -> Result<Vault, StoreError> {
        let path = dir.join(VAULT_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let whole = bytes.len() - bytes.len() % SLOT;
        if whole != bytes.len() {
            file.set_len(whole as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let mut by_person = HashMap::new();
        for (i, slot) in bytes[..whole].chunks_exact(SLOT).enumerate() {
            let id = Uuid::from_slice(&slot[..16]).map_err(|_| StoreError::Corrupt {
                location: path.display().to_string(),
                detail: format!("slot {i}"),
            })?;
            let state = match slot[16] {
                LIVE => {
                    let mut key = [0u8; 32];
                    key.copy_from_slice(&slot[17..49]);
                    KeyState::Live(key)
                }
                ERASED => KeyState::Erased,
                other => {
                    return Err(StoreError::Corrupt {
                        location: path.display().to_string(),
                        detail: format!("slot {i} has state {other:#x}"),
                    });
                }
            };
            by_person.insert(id, ((i * SLOT) as u64, state));
        }
        Ok(Vault {
            path,
            slots: Mutex::new(Slots {
                file,
                by_person,
                len: whole as u64,
            }),
            shared: OnceLock::new(),
        })
    }

    /// Makes the database behind `link` the keys' place of record.
    pub(crate) fn link(&self, link: crate::pgkeys::KeyLink) {
        let _ = self.shared.set(link);
    }

    /// Keeps what the database answered in the file, as a cache (not synced: the
    /// database has it).
    fn cache(&self, slots: &mut Slots, found: &[(Uuid, KeyState)]) -> Result<(), StoreError> {
        for (person, state) in found {
            if slots.by_person.get(person).map(|s| s.1) != Some(*state) {
                slots.write(*person, *state).map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    /// Erases this folder's copy of a key that the database says was erased (by another
    /// server); synced, like any erasure.
    pub(crate) fn erase_copy(&self, person: Uuid) -> Result<(), StoreError> {
        let mut slots = self.lock();
        if matches!(slots.by_person.get(&person), Some((_, KeyState::Live(_)))) {
            slots
                .write(person, KeyState::Erased)
                .and_then(|()| slots.file.sync_data())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves the map as consistent as the file: each
        // change writes the file first.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// What the vault holds for `person`.
    pub fn state(&self, person: Uuid) -> KeyState {
        let mut slots = self.lock();
        let local = slots
            .by_person
            .get(&person)
            .map_or(KeyState::Unknown, |s| s.1);
        let Some(link) = self.shared.get().filter(|_| local == KeyState::Unknown) else {
            return local;
        };
        // A key made by another server: committed before anything was sealed under it.
        match link.get(&[person]) {
            Ok(found) => {
                if let Err(e) = self.cache(&mut slots, &found) {
                    tracing::warn!(error = %e, "cannot cache a key");
                }
                found.first().map_or(KeyState::Unknown, |f| f.1)
            }
            Err(e) => {
                tracing::warn!(error = %e, %person, "cannot read a key from the database");
                KeyState::Unknown
            }
        }
    }

    /// The live keys of `people`, making (and syncing to disk, once) those that do not exist
    /// yet. A person whose key was destroyed gets no new one: [`StoreError::Erased`].
    pub fn keys_for(&self, people: &[Uuid]) -> Result<Vec<PersonKey>, StoreError> {
        let mut slots = self.lock();
        if let Some(link) = self.shared.get() {
            self.keys_from_database(link, &mut slots, people)?;
        }
        let mut out = Vec::with_capacity(people.len());
        let mut appended = false;
        for person in people {
            match slots.by_person.get(person).map(|s| s.1) {
                Some(KeyState::Live(key)) => out.push(key),
                Some(_) => return Err(StoreError::Erased { person: *person }),
                None => {
                    let mut key = [0u8; 32];
                    getrandom::fill(&mut key)
                        .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
                    slots
                        .write(*person, KeyState::Live(key))
                        .map_err(|e| self.io(e))?;
                    appended = true;
                    out.push(key);
                }
            }
        }
        if appended {
            slots.file.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(out)
    }

    /// Fetches, or makes in the database, the keys of `people` the file lacks, so that what
    /// follows finds them all in the file.
    fn keys_from_database(
        &self,
        link: &crate::pgkeys::KeyLink,
        slots: &mut Slots,
        people: &[Uuid],
    ) -> Result<(), StoreError> {
        let missing: Vec<Uuid> = people
            .iter()
            .filter(|p| !slots.by_person.contains_key(p))
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let found = link.get(&missing)?;
        self.cache(slots, &found)?;
        let mut new = Vec::new();
        for person in missing {
            if !slots.by_person.contains_key(&person) {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
                new.push((person, key));
            }
        }
        if !new.is_empty() {
            let stored = link.put(new)?;
            self.cache(slots, &stored)?;
        }
        Ok(())
    }

    /// Destroys `person`'s key: its slot is overwritten in place and synced before this
    /// returns (with the log in PostgreSQL, first in the database). Returns whether there
    /// was a live key.
    pub fn erase(&self, person: Uuid) -> Result<bool, StoreError> {
        let mut slots = self.lock();
        let shared_live = match self.shared.get() {
            Some(link) => link.erase(person)?,
            None => false,
        };
        if !matches!(slots.by_person.get(&person), Some((_, KeyState::Live(_)))) {
            if shared_live {
                slots
                    .write(person, KeyState::Erased)
                    .and_then(|()| slots.file.sync_data())
                    .map_err(|e| self.io(e))?;
            }
            return Ok(shared_live);
        }
        slots
            .write(person, KeyState::Erased)
            .and_then(|()| slots.file.sync_data())
            .map_err(|e| self.io(e))?;
        Ok(true)
    }

    /// Every slot, live or erased, in file order: what `export keys` writes.
    /// With the log in PostgreSQL, the database's keys: an export made while it cannot be
    /// read fails rather than holding only this folder's copies.
    pub fn entries(&self) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
        if let Some(link) = self.shared.get() {
            return link.all();
        }
        let slots = self.lock();
        let mut all: Vec<(u64, Uuid, KeyState)> = slots
            .by_person
            .iter()
            .map(|(id, (at, s))| (*at, *id, *s))
            .collect();
        all.sort_by_key(|e| e.0);
        Ok(all.into_iter().map(|(_, id, s)| (id, s)).collect())
    }

    /// Restores one slot from a key export. An erased slot stays erased; a live key for a
    /// person the vault has already is refused if it differs.
    pub fn restore(&self, person: Uuid, state: KeyState) -> Result<(), StoreError> {
        if let Some(link) = self.shared.get() {
            match state {
                KeyState::Live(key) => {
                    let stored = link.put(vec![(person, key)])?;
                    if stored.iter().any(|s| s.1 == KeyState::Live(key)) {
                        // The database took it (or had it): the file follows below.
                    } else if stored.iter().any(|s| matches!(s.1, KeyState::Live(_))) {
                        return Err(StoreError::Corrupt {
                            location: "the database's keys".into(),
                            detail: format!("a different key for person {person} exists already"),
                        });
                    }
                }
                KeyState::Erased => {
                    link.erase(person)?;
                }
                KeyState::Unknown => {}
            }
        }
        let mut slots = self.lock();
        match (slots.by_person.get(&person).map(|c| c.1), state) {
            (_, KeyState::Unknown) | (Some(KeyState::Erased), _) => return Ok(()),
            (Some(a), b) if a == b => return Ok(()),
            (Some(KeyState::Live(_)), KeyState::Live(_)) => {
                return Err(StoreError::Corrupt {
                    location: self.path.display().to_string(),
                    detail: format!("a different key for person {person} exists already"),
                });
            }
            _ => {}
        }
        slots
            .write(person, state)
            .and_then(|()| slots.file.sync_data())
            .map_err(|e| self.io(e))
    }
}

/// One line of a key export: a person and their key in hex, or null once erased.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyLine {
    person: Uuid,
    key: Option<String>,
}

impl Vault {
    /// Every slot as JSON lines (`{"person": …, "key": hex or null}`): what `export keys`
    /// writes and [`Vault::restore_lines`] reads.
    pub fn export_lines(&self) -> Result<String, StoreError> {
        let mut out = String::new();
        for (person, state) in self.entries()? {
            let key = match state {
                KeyState::Live(k) => Some(crate::heads::hex(&k)),
                _ => None,
            };
            let line =
                serde_json::to_string(&KeyLine { person, key }).expect("a key line always encodes");
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    /// Restores the slots of a key export, line by line; an error names the line.
    pub fn restore_lines(&self, text: &str) -> Result<usize, String> {
        let mut restored = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = i + 1;
            let entry: KeyLine = serde_json::from_str(line)
                .map_err(|e| format!("line {at}: not a key line: {e}"))?;
            let state = match entry.key {
                None => KeyState::Erased,
                Some(hex) => KeyState::Live(
                    crate::heads::unhex::<32>(&hex)
                        .ok_or_else(|| format!("line {at}: the key is not 64 hex digits"))?,
                ),
            };
            self.restore(entry.person, state)
                .map_err(|e| format!("line {at}: {e}"))?;
            restored += 1;
        }
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_reopening_and_erasure_overwrites_them_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let vault = Vault::open(dir.path()).unwrap();
        let keys = vault.keys_for(&[a, b]).unwrap();
        assert_ne!(keys[0], keys[1]);
        assert_eq!(vault.keys_for(&[a]).unwrap(), vec![keys[0]]);
        drop(vault);
        let vault = Vault::open(dir.path()).unwrap();
        assert_eq!(vault.state(a), KeyState::Live(keys[0]));
        assert!(vault.erase(a).unwrap());
        assert!(!vault.erase(a).unwrap(), "erased once");
        assert!(matches!(
            vault.keys_for(&[a]),
            Err(StoreError::Erased { .. })
        ));
        let file = std::fs::read(dir.path().join(VAULT_FILE)).unwrap();
        assert_eq!(
            file.len(),
            2 * SLOT,
            "erasure rewrites the slot, appends nothing"
        );
        assert!(
            !file.windows(32).any(|w| w == keys[0]),
            "the key's bytes are gone from the file"
        );
        assert!(file.windows(32).any(|w| w == keys[1]));
        drop(vault);
        let vault = Vault::open(dir.path()).unwrap();
        assert_eq!(vault.state(a), KeyState::Erased);
        assert_eq!(vault.state(b), KeyState::Live(keys[1]));
        assert_eq!(vault.state(Uuid::from_u128(3)), KeyState::Unknown);

        // An export restores into another folder, erased slots erased.
        let other = tempfile::tempdir().unwrap();
        let copy = Vault::open(other.path()).unwrap();
        assert_eq!(copy.restore_lines(&vault.export_lines().unwrap()), Ok(2));
        assert_eq!(copy.state(a), KeyState::Erased);
        assert_eq!(copy.state(b), KeyState::Live(keys[1]));
        assert!(copy.restore_lines("{\"person\": 1}").is_err());
    }

    #[test]
    fn a_slot_torn_by_a_crash_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path()).unwrap();
        let key = vault.keys_for(&[Uuid::from_u128(1)]).unwrap()[0];
        drop(vault);
        let path = dir.path().join(VAULT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[7u8; 20]);
        std::fs::write(&path, bytes).unwrap();
        let vault = Vault::open(dir.path()).unwrap();
        assert_eq!(vault.state(Uuid::from_u128(1)), KeyState::Live(key));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SLOT as u64);
    }
}
