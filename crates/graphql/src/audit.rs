//! What auditors read besides the raw log: signed tree heads and the proofs that tie events
//! and old heads to them (`signedTreeHead`, `inclusionProof`, `consistencyProof`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::Timestamp;
use dealtrail_store::Store;
use dealtrail_store::heads::{SignedHead, SigningKey, tree_hex};

use crate::access::{engine, require};
use crate::auth::Role;
use crate::errors::{engine_error, error};
use crate::scalars::{DateTime, UInt64};

/// Signs the log's tree head when asked and when it grew, keeping the latest, and appends
/// each new one to a heads file if the operator gave one.
pub struct HeadSigner {
    key: SigningKey,
    heads_file: Option<PathBuf>,
    latest: Mutex<Option<SignedHead>>,
}

impl std::fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSigner")
            .field("public_key", &self.key.public_hex())
            .field("heads_file", &self.heads_file)
            .finish()
    }
}

impl HeadSigner {
    /// A signer with this key, appending signed heads to `heads_file` if given.
    pub fn new(key: SigningKey, heads_file: Option<PathBuf>) -> HeadSigner {
        HeadSigner {
            key,
            heads_file,
            latest: Mutex::new(None),
        }
    }

    /// The latest signed head: the one signed before if the log has not grown since, else
    /// a new one (appended to the heads file first, so that no head is handed out that the
    /// file lacks).
    pub fn current(&self, store: &Store) -> Result<SignedHead, String> {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let head = store.tree_head();
        if let Some(signed) = *latest
            && signed.head == head
        {
            return Ok(signed);
        }
        let signed = self.key.sign(head, dealtrail_store::Timestamp::now());
        if let Some(path) = &self.heads_file {
            append_line(path, &signed.to_json_line())
                .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
        }
        *latest = Some(signed);
        Ok(signed)
    }
}

fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

/// A tree head signed by the server's key.
#[derive(SimpleObject)]
pub struct SignedTreeHead {
    /// Events in the tree.
    pub tree_size: UInt64,
    /// The tree's root (hex, SHA-256).
    pub root: String,
    /// When it was signed.
    pub signed_at: DateTime,
    /// The Ed25519 public key that signed it (hex).
    pub public_key: String,
    /// The Ed25519 signature (hex) of the tag, size, time and root (docs/store.md).
    pub signature: String,
    /// The head as one line of a heads file, to keep for `dealtrail verify --against`.
    pub line: String,
}

fn signed_object(s: &SignedHead) -> SignedTreeHead {
    SignedTreeHead {
        tree_size: s.head.size.into(),
        root: tree_hex(&s.head.root),
        signed_at: DateTime(Timestamp(s.timestamp.0)),
        public_key: s.public_hex(),
        signature: dealtrail_store::heads::hex(&s.signature),
        line: s.to_json_line(),
    }
}

/// Proof that an event is in the tree of a given size.
#[derive(SimpleObject)]
pub struct InclusionProof {
    /// The event.
    pub seq: UInt64,
    /// The tree's size.
    pub tree_size: UInt64,
    /// The event's leaf: SHA-256 of 0x00 and its record hash (hex).
    pub leaf_hash: String,
    /// The audit path, nearest the leaf first (hex).
    pub path: Vec<String>,
    /// The tree's root (hex).
    pub root: String,
}

/// Proof that a tree extends an older one.
#[derive(SimpleObject)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub from_size: UInt64,
    /// Its root (hex).
    pub from_root: String,
    /// The newer tree's size.
    pub to_size: UInt64,
    /// Its root (hex).
    pub to_root: String,
    /// The proof (hex), in RFC 9162's order.
    pub path: Vec<String>,
}

/// Runs a store read off the async threads (a proof reads a few dozen records).
async fn on_store<T: Send + 'static>(
    ctx: &Context<'_>,
    read: impl FnOnce(&Store) -> Result<T, dealtrail_store::StoreError> + Send + 'static,
) -> async_graphql::Result<T> {
    let engine = engine(ctx).clone();
    tokio::task::spawn_blocking(move || read(engine.store()))
        .await
        .map_err(|_| error("INTERNAL", "internal error"))?
        .map_err(|e| engine_error(e.into()))
}

/// Signed heads and proofs, merged into the query root.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The latest signed tree head (signed now if the log grew since the last one); null
    /// when the server runs without `--signing-key`. Auditors and admins.
    async fn signed_tree_head(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Arc<Option<SignedTreeHead>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Auditor, Role::Admin])?;
            let Some(signer) = ctx.data_opt::<Arc<HeadSigner>>().cloned() else {
                return Ok(None);
            };
            let engine = engine(ctx).clone();
            let signed = tokio::task::spawn_blocking(move || signer.current(engine.store()))
                .await
                .map_err(|_| error("INTERNAL", "internal error"))?
                .map_err(|e| {
                    tracing::error!(error = %e, "signing a tree head failed");
                    error("STORAGE_UNAVAILABLE", "the signed head could not be stored")
                })?;
            Ok(Some(signed_object(&signed)))
        })
        .await
    }

    /// Proof that event `seq` is in the tree of `treeSize` events (the log's size when
    /// absent). Auditors and admins.
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        seq: UInt64,
        tree_size: Option<UInt64>,
    ) -> async_graphql::Result<Arc<InclusionProof>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Auditor, Role::Admin])?;
            let p = on_store(ctx, move |store| {
                store.inclusion_proof(seq.0, tree_size.map(|s| s.0))
            })
            .await?;
            Ok(InclusionProof {
                seq: p.seq.into(),
                tree_size: p.tree_size.into(),
                leaf_hash: tree_hex(&p.leaf),
                path: p.path.iter().map(tree_hex).collect(),
                root: tree_hex(&p.root),
            })
        })
        .await
    }

    /// Proof that the tree of `toSize` events (the log's size when absent) extends the tree
    /// of `fromSize` events. Auditors and admins.
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        from_size: UInt64,
        to_size: Option<UInt64>,
    ) -> async_graphql::Result<Arc<ConsistencyProof>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Auditor, Role::Admin])?;
            let p = on_store(ctx, move |store| {
                store.consistency_proof(from_size.0, to_size.map(|s| s.0))
            })
            .await?;
            Ok(ConsistencyProof {
                from_size: p.old.size.into(),
                from_root: tree_hex(&p.old.root),
                to_size: p.new.size.into(),
                to_root: tree_hex(&p.new.root),
                path: p.path.iter().map(tree_hex).collect(),
            })
        })
        .await
    }
}
