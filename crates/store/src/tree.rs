//! The Merkle tree over the log, as RFC 9162 (Certificate Transparency 2.0, section 2.1)
//! defines it: SHA-256, leaf `i` is the hash of event `i + 1`'s record hash, and the tree of
//! `n` leaves splits at the largest power of two below `n`. Its head (size and root) is
//! what auditors keep; inclusion and consistency proofs let them check one event, or that
//! today's log extends an old head, from a few dozen hashes.
//!
//! The store keeps the root of every complete, aligned subtree of [`STORED_LEVEL`] or more
//! levels (1/16 of the leaves, about 3% of the log's bytes); smaller subtrees are recomputed
//! from the records, at most 15 leaves per proof step.

use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// A node of the tree: 32 bytes of SHA-256.
pub type TreeHash = [u8; 32];

/// Subtrees of this many levels and more are stored; below, they are recomputed.
pub const STORED_LEVEL: u8 = 4;

/// The root of the empty tree: the hash of no bytes.
pub fn empty_root() -> TreeHash {
    Sha256::digest([]).into()
}

/// A leaf: `SHA-256(0x00 || record hash)`.
pub fn leaf_hash(record_hash: &[u8; 32]) -> TreeHash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record_hash);
    h.finalize().into()
}

/// An inner node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The right edge of a tree: the roots of the complete subtrees its leaves fall into,
/// largest first, one per set bit of its size. Enough to append and to compute the root.
#[derive(Clone, Copy)]
pub struct Frontier {
    size: u64,
    len: u8,
    nodes: [TreeHash; 64],
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.edge() == other.edge()
    }
}

impl Eq for Frontier {}

impl std::fmt::Debug for Frontier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontier")
            .field("size", &self.size)
            .field("edge", &self.edge().len())
            .finish()
    }
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier {
            size: 0,
            len: 0,
            nodes: [[0; 32]; 64],
        }
    }
}

impl Frontier {
    /// The frontier of the first `size` leaves, read from `nodes`.
    pub(crate) fn load(nodes: &impl Nodes, size: u64) -> Result<Frontier, StoreError> {
        let mut frontier = Frontier::default();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                frontier.nodes[usize::from(frontier.len)] = complete(nodes, level, start >> level)?;
                frontier.len += 1;
                start += 1 << level;
            }
        }
        frontier.size = size;
        Ok(frontier)
    }

    /// The roots of the complete subtrees on the right edge, largest first.
    fn edge(&self) -> &[TreeHash] {
        &self.nodes[..usize::from(self.len)]
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf; `completed(level, index, hash)` hears of every subtree it completes
    /// (level 1 and up).
    pub fn push(&mut self, leaf: TreeHash, mut completed: impl FnMut(u8, u64, &TreeHash)) {
        let mut hash = leaf;
        let mut level = 0u8;
        while self.size >> level & 1 == 1 {
            self.len -= 1;
            hash = node_hash(&self.nodes[usize::from(self.len)], &hash);
            level += 1;
            completed(level, ((self.size + 1) >> level) - 1, &hash);
        }
        self.nodes[usize::from(self.len)] = hash;
        self.len += 1;
        self.size += 1;
    }

    /// The tree's root.
    pub fn root(&self) -> TreeHash {
        let Some((last, rest)) = self.edge().split_last() else {
            return empty_root();
        };
        rest.iter().rev().fold(*last, |r, n| node_hash(n, &r))
    }
}

/// Where a tree's nodes come from: the records for leaves, stored roots for large subtrees.
pub(crate) trait Nodes {
    /// The leaf hashes of leaves `start .. start + count`.
    fn leaves(&self, start: u64, count: u64) -> Result<Vec<TreeHash>, StoreError>;
    /// The stored root of the complete subtree `index` of `level` (`level >= STORED_LEVEL`).
    fn stored(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError>;
}

/// The root of the complete subtree `index` of `level` (leaves `index << level` on).
pub(crate) fn complete(nodes: &impl Nodes, level: u8, index: u64) -> Result<TreeHash, StoreError> {
    if level >= STORED_LEVEL {
        return nodes.stored(level, index)?.ok_or_else(|| {
            StoreError::corrupt(
                "Merkle tree",
                format!("the root of subtree {index} at level {level} is missing"),
            )
        });
    }
    let mut layer = nodes.leaves(index << level, 1 << level)?;
    if layer.len() != 1 << level {
        return Err(StoreError::corrupt(
            "Merkle tree",
            format!("leaves of subtree {index} at level {level} are missing"),
        ));
    }
    while layer.len() > 1 {
        layer = layer
            .chunks(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    Ok(layer[0])
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start : start + size])` in the RFC's notation.
pub(crate) fn subtree(nodes: &impl Nodes, start: u64, size: u64) -> Result<TreeHash, StoreError> {
    if size == 0 {
        return Ok(empty_root());
    }
    if size.is_power_of_two() && start.is_multiple_of(size) {
        return complete(nodes, size.trailing_zeros() as u8, start / size);
    }
    let k = split(size);
    Ok(node_hash(
        &subtree(nodes, start, k)?,
        &subtree(nodes, start + k, size - k)?,
    ))
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162,
/// 2.1.3.1), nearest the leaf first.
pub(crate) fn inclusion_path(
    nodes: &impl Nodes,
    index: u64,
    size: u64,
) -> Result<Vec<TreeHash>, StoreError> {
    let mut path = Vec::new();
    // Walk down from the root, collecting the sibling of each subtree the leaf is in.
    let (mut start, mut n, mut m) = (0u64, size, index);
    let mut siblings = Vec::new();
    while n > 1 {
        let k = split(n);
        if m < k {
            siblings.push((start + k, n - k));
            n = k;
        } else {
            siblings.push((start, k));
            start += k;
            m -= k;
            n -= k;
        }
    }
    for (s, len) in siblings.into_iter().rev() {
        path.push(subtree(nodes, s, len)?);
    }
    Ok(path)
}

/// The consistency proof between the trees of the first `old` and `new` leaves (RFC 9162,
/// 2.1.4.1), `0 < old <= new`.
pub(crate) fn consistency_path(
    nodes: &impl Nodes,
    old: u64,
    new: u64,
) -> Result<Vec<TreeHash>, StoreError> {
    let mut parts = Vec::new();
    let (mut start, mut m, mut n, mut whole) = (0u64, old, new, true);
    while m != n {
        let k = split(n);
        if m <= k {
            parts.push((start + k, n - k));
            n = k;
        } else {
            parts.push((start, k));
            start += k;
            m -= k;
            n -= k;
            whole = false;
        }
    }
    let mut path = Vec::new();
    if !whole {
        path.push(subtree(nodes, start, m)?);
    }
    for (s, len) in parts.into_iter().rev() {
        path.push(subtree(nodes, s, len)?);
    }
    Ok(path)
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(
    leaf: &TreeHash,
    index: u64,
    size: u64,
    path: &[TreeHash],
    root: &TreeHash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof between an old head and a new one (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    path: &[TreeHash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return path.is_empty() && old_root == new_root;
    }
    let mut proof: Vec<TreeHash> = Vec::with_capacity(path.len() + 1);
    if old_size.is_power_of_two() {
        proof.push(*old_root);
    }
    proof.extend_from_slice(path);
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Leaves in memory, every subtree root stored, as the store keeps them.
    struct Memory {
        leaves: Vec<TreeHash>,
        stored: std::collections::HashMap<(u8, u64), TreeHash>,
    }

    impl Memory {
        fn of(n: u64) -> Memory {
            let leaves: Vec<TreeHash> = (0..n)
                .map(|i| leaf_hash(blake3::hash(&i.to_be_bytes()).as_bytes()))
                .collect();
            let mut stored = std::collections::HashMap::new();
            let mut f = Frontier::default();
            for l in &leaves {
                f.push(*l, |level, index, h| {
                    if level >= STORED_LEVEL {
                        stored.insert((level, index), *h);
                    }
                });
            }
            Memory { leaves, stored }
        }
    }

    impl Nodes for Memory {
        fn leaves(&self, start: u64, count: u64) -> Result<Vec<TreeHash>, StoreError> {
            let end = (start + count).min(self.leaves.len() as u64);
            Ok(self.leaves[start as usize..end as usize].to_vec())
        }
        fn stored(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError> {
            Ok(self.stored.get(&(level, index)).copied())
        }
    }

    /// The RFC's definition, recursively, straight from the leaves.
    fn mth(leaves: &[TreeHash]) -> TreeHash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_empty_tree_and_known_small_trees() {
        // SHA-256 of no bytes.
        assert_eq!(
            empty_root()[..4],
            [0xe3, 0xb0, 0xc4, 0x42],
            "the RFC's empty root"
        );
        let m = Memory::of(3);
        let expected = node_hash(&node_hash(&m.leaves[0], &m.leaves[1]), &m.leaves[2]);
        assert_eq!(subtree(&m, 0, 3).unwrap(), expected);
    }

    /// The roots of RFC 6962's test tree (the data of its eight leaves below), as the
    /// Certificate Transparency implementations test against them.
    #[test]
    fn the_ct_test_vectors() {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut f = Frontier::default();
        for (d, root) in data.iter().zip(roots) {
            let leaf: TreeHash = Sha256::new()
                .chain_update([0u8])
                .chain_update(d)
                .finalize()
                .into();
            f.push(leaf, |_, _, _| {});
            let hex: String = f.root().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, root, "tree of {}", f.size());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn frontier_and_stored_nodes_give_the_rfc_root(n in 0u64..300) {
            let m = Memory::of(n);
            let mut f = Frontier::default();
            for l in &m.leaves { f.push(*l, |_, _, _| {}); }
            prop_assert_eq!(f.root(), mth(&m.leaves));
            prop_assert_eq!(subtree(&m, 0, n).unwrap(), mth(&m.leaves));
            prop_assert_eq!(Frontier::load(&m, n).unwrap(), f);
        }

        #[test]
        fn inclusion_proofs_verify_and_altered_ones_do_not(n in 1u64..300, pick in any::<u64>(), flip in any::<(usize, u8)>()) {
            let m = Memory::of(n);
            let index = pick % n;
            let root = mth(&m.leaves);
            let path = inclusion_path(&m, index, n).unwrap();
            prop_assert!(verify_inclusion(&m.leaves[index as usize], index, n, &path, &root));
            // Another leaf, another index, or a changed hash in the path: refused.
            let other = leaf_hash(&[7; 32]);
            prop_assert!(!verify_inclusion(&other, index, n, &path, &root));
            if n > 1 {
                prop_assert!(!verify_inclusion(&m.leaves[index as usize], (index + 1) % n, n, &path, &root));
                let mut bad = path.clone();
                let (i, bit) = (flip.0 % bad.len(), flip.1 % 8);
                bad[i][0] ^= 1 << bit;
                prop_assert!(!verify_inclusion(&m.leaves[index as usize], index, n, &bad, &root));
            }
        }

        #[test]
        fn consistency_proofs_verify_and_altered_logs_do_not(new in 1u64..300, pick in any::<u64>(), changed in any::<u64>()) {
            let m = Memory::of(new);
            let old = pick % new + 1;
            let old_root = mth(&m.leaves[..old as usize]);
            let new_root = mth(&m.leaves);
            let path = consistency_path(&m, old, new).unwrap();
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &path));
            // A log whose first `old` leaves differ in one leaf does not extend the old head.
            let mut altered = Memory::of(new);
            let at = (changed % old) as usize;
            altered.leaves[at] = leaf_hash(&[9; 32]);
            altered.stored.clear();
            let mut f = Frontier::default();
            for l in &altered.leaves.clone() {
                f.push(*l, |level, index, h| if level >= STORED_LEVEL { altered.stored.insert((level, index), *h); });
            }
            let altered_root = mth(&altered.leaves);
            let altered_path = consistency_path(&altered, old, new).unwrap();
            prop_assert!(!verify_consistency(old, new, &old_root, &altered_root, &altered_path));
            prop_assert!(!verify_consistency(old, new, &old_root, &altered_root, &path));
        }
    }
}
