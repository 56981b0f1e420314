//! What auditors ask the log for: tree heads, inclusion proofs and consistency proofs, all
//! over the durable log and checkable with [`crate::tree::verify_inclusion`] and
//! [`crate::tree::verify_consistency`] (or any RFC 9162 implementation).

use crate::codec::LogNodes;
use crate::error::{InvalidRequest, StoreError};
use crate::store::Store;
use crate::tree::{self, TreeHash};

/// The tree over the first `size` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Leaves (events) in the tree.
    pub size: u64,
    /// Its root.
    pub root: TreeHash,
}

/// Proof that event `seq` is leaf `seq - 1` of the tree of `tree_size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The event.
    pub seq: u64,
    /// The tree's size.
    pub tree_size: u64,
    /// The event's leaf hash: `SHA-256(0x00 || record hash)`.
    pub leaf: TreeHash,
    /// The audit path, nearest the leaf first.
    pub path: Vec<TreeHash>,
    /// The tree's root.
    pub root: TreeHash,
}

/// Proof that the tree of `new_size` events extends the tree of `old_size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree.
    pub old: TreeHead,
    /// The newer tree.
    pub new: TreeHead,
    /// The proof's hashes, in the RFC's order.
    pub path: Vec<TreeHash>,
}

impl Store {
    /// The tree head of the durable log now.
    pub fn tree_head(&self) -> TreeHead {
        let head = self.head();
        TreeHead {
            size: head.seq,
            root: head.root,
        }
    }

    /// The tree head over the first `size` events of the durable log.
    pub fn tree_head_at(&self, size: u64) -> Result<TreeHead, StoreError> {
        let size = self.tree_size(Some(size))?;
        let root = tree::subtree(
            &LogNodes(&self.shared().tree, self.shared().layout),
            0,
            size,
        )?;
        Ok(TreeHead { size, root })
    }

    /// Proof that event `seq` is in the tree of `tree_size` events (the durable log's size
    /// when `None`).
    pub fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, StoreError> {
        let size = self.tree_size(tree_size)?;
        if seq == 0 || seq > size {
            return Err(range(format!(
                "event {seq} is not in a tree of {size} events (events are 1 to {size})"
            )));
        }
        let nodes = LogNodes(&self.shared().tree, self.shared().layout);
        let leaf = nodes_leaf(&nodes, seq - 1)?;
        let path = tree::inclusion_path(&nodes, seq - 1, size)?;
        let root = tree::subtree(&nodes, 0, size)?;
        Ok(InclusionProof {
            seq,
            tree_size: size,
            leaf,
            path,
            root,
        })
    }

    /// Proof that the tree of `new_size` events (the durable log's size when `None`) extends
    /// the tree of `old_size` events.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: Option<u64>,
    ) -> Result<ConsistencyProof, StoreError> {
        let new_size = self.tree_size(new_size)?;
        if old_size == 0 || old_size > new_size {
            return Err(range(format!(
                "a consistency proof needs 1 <= old size <= new size; asked {old_size} and \
                 {new_size}"
            )));
        }
        let nodes = LogNodes(&self.shared().tree, self.shared().layout);
        Ok(ConsistencyProof {
            old: TreeHead {
                size: old_size,
                root: tree::subtree(&nodes, 0, old_size)?,
            },
            new: TreeHead {
                size: new_size,
                root: tree::subtree(&nodes, 0, new_size)?,
            },
            path: tree::consistency_path(&nodes, old_size, new_size)?,
        })
    }

    fn tree_size(&self, size: Option<u64>) -> Result<u64, StoreError> {
        let durable = self.head().seq;
        match size {
            None => Ok(durable),
            Some(s) if s <= durable => Ok(s),
            Some(s) => Err(range(format!(
                "tree size {s} is past the durable log's {durable} events"
            ))),
        }
    }
}

fn nodes_leaf(nodes: &LogNodes<'_>, index: u64) -> Result<TreeHash, StoreError> {
    use crate::tree::Nodes;
    nodes
        .leaves(index, 1)?
        .pop()
        .ok_or_else(|| StoreError::corrupt(format!("seq {}", index + 1), "missing"))
}

fn range(detail: String) -> StoreError {
    StoreError::Invalid(InvalidRequest::ProofRange(detail))
}
