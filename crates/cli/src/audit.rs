//! The auditor's commands: signing keys, tree heads, proofs, and `verify` (against saved
//! heads too).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use dealtrail_store::heads::{SignedHead, SigningKey, tree_hex, unhex};
use serde_json::json;

use crate::analysis::open_existing;

/// `dealtrail key ...`
#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an Ed25519 signing key for tree heads in a new file (readable by its owner
    /// only; keep it outside the data folder) and print its public key.
    Create {
        /// The new key file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `dealtrail proof ...`
#[derive(Subcommand)]
pub enum ProofCmd {
    /// Proof that an event is in the tree of a given size, as JSON.
    Inclusion {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// The event's sequence number.
        #[arg(long)]
        seq: u64,
        /// The tree's size (the log's when absent).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Proof that the tree of `--to` events extends the tree of `--from` events, as JSON.
    Consistency {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// The older tree's size.
        #[arg(long)]
        from: u64,
        /// The newer tree's size (the log's when absent).
        #[arg(long)]
        to: Option<u64>,
    },
}

pub fn key(action: KeyCmd) -> anyhow::Result<()> {
    match action {
        KeyCmd::Create { out } => {
            let key = SigningKey::generate()?;
            key.create_file(&out)?;
            println!("public key: {}", key.public_hex());
        }
    }
    Ok(())
}

/// Reads a signing key for `serve`, refusing one inside the data folder: whoever can
/// rewrite the folder must not be able to sign heads for the rewritten log.
pub fn signing_key(path: &Path, data: &Path) -> anyhow::Result<SigningKey> {
    let key_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .canonicalize()
        .with_context(|| format!("cannot find the folder of {}", path.display()))?;
    if let Ok(data) = data.canonicalize()
        && key_dir.starts_with(&data)
    {
        bail!(
            "the signing key {} is inside the data folder {}; keep it elsewhere",
            path.display(),
            data.display()
        );
    }
    Ok(SigningKey::from_file(path)?)
}

/// Prints the log's tree head, signed when a key is given (a line for a heads file).
pub fn head(data: &Path, key: Option<&Path>) -> anyhow::Result<()> {
    let store = open_existing(data)?;
    let head = store.tree_head();
    match key {
        Some(path) => {
            let key = signing_key(path, data)?;
            let signed = key.sign(head, dealtrail_store::Timestamp::now());
            println!("{}", signed.to_json_line());
        }
        None => println!(
            "{}",
            json!({ "size": head.size, "root": tree_hex(&head.root) })
        ),
    }
    Ok(())
}

pub fn proof(action: ProofCmd) -> anyhow::Result<()> {
    let value = match action {
        ProofCmd::Inclusion { data, seq, size } => {
            let p = open_existing(&data)?.inclusion_proof(seq, size)?;
            json!({
                "seq": p.seq,
                "treeSize": p.tree_size,
                "leafHash": tree_hex(&p.leaf),
                "path": p.path.iter().map(tree_hex).collect::<Vec<_>>(),
                "root": tree_hex(&p.root),
            })
        }
        ProofCmd::Consistency { data, from, to } => {
            let p = open_existing(&data)?.consistency_proof(from, to)?;
            json!({
                "fromSize": p.old.size,
                "fromRoot": tree_hex(&p.old.root),
                "toSize": p.new.size,
                "toRoot": tree_hex(&p.new.root),
                "path": p.path.iter().map(tree_hex).collect::<Vec<_>>(),
            })
        }
    };
    println!("{value}");
    Ok(())
}

/// Re-walks the log; with a heads file, also proves that the log extends every head in it
/// (signed by `key` when given). Exits 1 when anything is wrong.
pub fn verify(data: &Path, against: Option<&Path>, key: Option<&str>) -> anyhow::Result<()> {
    let saved = match against {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let heads = SignedHead::parse_file(&text)
                .with_context(|| format!("{} is not a heads file", path.display()))?;
            if let Some(key) = key {
                let pinned = unhex::<32>(key)
                    .context("--key: 64 hexadecimal characters (an Ed25519 public key)")?;
                if let Some(other) = heads.iter().find(|h| h.public_key != pinned) {
                    println!(
                        "a saved head (size {}) was signed by another key: {}",
                        other.head.size,
                        other.public_hex()
                    );
                    std::process::exit(1);
                }
            }
            heads
        }
    };
    let store = open_existing(data)?;
    let bar = indicatif::ProgressBar::new(store.head().seq);
    bar.set_style(
        indicatif::ProgressStyle::with_template("verifying {bar:40} {pos}/{len} events {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let heads: Vec<_> = saved.iter().map(|s| s.head).collect();
    let report = store
        .verify_against(&heads, |seq| {
            if seq.is_multiple_of(10_000) {
                bar.set_position(seq);
            }
        })
        .context("verify failed to run")?;
    bar.finish_and_clear();
    match report.problem {
        None => {
            let tree = store.tree_head();
            println!(
                "intact: {} events, {} streams, tree root {}, head {}",
                report.events_checked,
                report.streams_checked,
                tree_hex(&tree.root),
                report.last_good_hash
            );
            println!("store format {}", store.format());
            if !heads.is_empty() {
                println!("extends all {} saved heads", heads.len());
            }
            Ok(())
        }
        Some(problem) => {
            println!("first bad sequence number: {}", problem.seq);
            println!("problem: {}", problem.kind);
            std::process::exit(1);
        }
    }
}
