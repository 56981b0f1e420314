//! `export keys` and `import keys`: the folder's personal-data keys, for a backup that can
//! be restored with its contacts' names (docs/operations.md, Erasure and backups).

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use dealtrail_store::vault::KeyState;
use serde::{Deserialize, Serialize};

/// One line of a key export: a person's key in hex, or null once erased.
#[derive(Serialize, Deserialize)]
struct KeyLine {
    person: uuid::Uuid,
    key: Option<String>,
}

/// Writes every key of `data` (erased ones as null) as JSON lines to `out` or stdout.
pub fn export(data: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let store = crate::analysis::open_existing(data)?;
    let mut lines = String::new();
    let entries = store.vault().entries();
    for (person, state) in &entries {
        let key = match state {
            KeyState::Live(k) => Some(dealtrail_store::heads::hex(k)),
            _ => None,
        };
        lines.push_str(&serde_json::to_string(&KeyLine {
            person: *person,
            key,
        })?);
        lines.push('\n');
    }
    match out {
        Some(path) => {
            std::fs::write(path, lines)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{} keys written to {}", entries.len(), path.display());
        }
        // A closed pipe is recognised by `main`.
        None => std::io::stdout().lock().write_all(lines.as_bytes())?,
    }
    Ok(())
}

/// Restores the keys of a key export into `data`; erased keys stay erased.
pub fn import(file: &Path, data: &Path) -> anyhow::Result<()> {
    let store = crate::analysis::open_existing(data)?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let mut restored = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", file.display(), i + 1);
        let entry: KeyLine =
            serde_json::from_str(&line).with_context(|| format!("{}: not a key line", at()))?;
        let state = match entry.key {
            None => KeyState::Erased,
            Some(hex) => match dealtrail_store::heads::unhex::<32>(&hex) {
                Some(k) => KeyState::Live(k),
                None => bail!("{}: the key is not 64 hex digits", at()),
            },
        };
        store
            .vault()
            .restore(entry.person, state)
            .with_context(at)?;
        restored += 1;
    }
    eprintln!("{restored} keys restored into {}", data.display());
    Ok(())
}
