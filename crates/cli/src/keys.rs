//! `export keys` and `import keys`: the folder's personal-data keys, for a backup that can
//! be restored with its contacts' names (docs/operations.md, Backup and restore).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

/// Writes every key of `data` (erased ones as null) as JSON lines to `out` or stdout.
pub fn export(data: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let store = crate::analysis::open_existing(data)?;
    let lines = store
        .vault()
        .export_lines()
        .context("cannot read the personal-data keys")?;
    write(&lines, out)
}

/// Writes key lines to `out` or, when it is absent, standard output.
pub fn write(lines: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, lines)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "{} keys written to {}",
                lines.lines().count(),
                path.display()
            );
        }
        // A closed pipe is recognised by `main`.
        None => std::io::stdout().lock().write_all(lines.as_bytes())?,
    }
    Ok(())
}

/// Restores the keys of a key export into `data`; erased keys stay erased.
pub fn import(file: &Path, data: &Path) -> anyhow::Result<()> {
    let store = crate::analysis::open_existing(data)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match store.vault().restore_lines(&text) {
        Ok(n) => eprintln!("{n} keys restored into {}", data.display()),
        Err(e) => bail!("{}: {e}", file.display()),
    }
    Ok(())
}
