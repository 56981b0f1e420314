//! Proofs from a real folder verify with the RFC 9162 checks, and stop verifying once the
//! log they describe is altered.

use dealtrail_store::tree::{verify_consistency, verify_inclusion};
use dealtrail_store::{ExpectedVersion, InvalidRequest, StoreError};
use proptest::prelude::*;

use super::{open, request};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn proofs_from_the_store_verify(sizes in prop::collection::vec(1usize..5, 1..40), a in any::<u64>(), b in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut heads = Vec::new();
        let mut n = 0u64;
        for (i, size) in sizes.iter().enumerate() {
            let ns: Vec<u64> = (0..*size as u64).map(|k| n + k).collect();
            n += *size as u64;
            let _ = store.append_blocking(request(&format!("s{}", i % 3), ExpectedVersion::Any, &ns)).unwrap();
            heads.push(store.tree_head());
        }
        let total = store.head().seq;
        prop_assert_eq!(total, n);
        // Every head taken along the way is the head of that prefix.
        for h in &heads {
            prop_assert_eq!(store.tree_head_at(h.size).unwrap(), *h);
        }
        let size = a % total + 1;
        let seq = b % size + 1;
        let p = store.inclusion_proof(seq, Some(size)).unwrap();
        let root = store.tree_head_at(size).unwrap().root;
        prop_assert!(verify_inclusion(&p.leaf, seq - 1, size, &p.path, &root));
        prop_assert!(!verify_inclusion(&p.leaf, seq % size, size, &p.path, &root) || size == 1);
        let c = store.consistency_proof(size, None).unwrap();
        prop_assert!(verify_consistency(size, total, &c.old.root, &c.new.root, &c.path));
        prop_assert_eq!(c.new, store.tree_head());
        if size < total {
            // An old head with another root is not extended.
            let mut wrong = c.old.root;
            wrong[0] ^= 1;
            prop_assert!(!verify_consistency(size, total, &wrong, &c.new.root, &c.path));
        }
        let report = store.verify_against(&heads, |_| ()).unwrap();
        prop_assert!(report.is_intact(), "{:?}", report.problem);
    }
}

#[test]
fn proofs_past_the_log_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = store
        .append_blocking(request("s", ExpectedVersion::Any, &[1, 2, 3]))
        .unwrap();
    for err in [
        store.inclusion_proof(4, None).unwrap_err(),
        store.inclusion_proof(0, None).unwrap_err(),
        store.inclusion_proof(1, Some(9)).unwrap_err(),
        store.consistency_proof(0, None).unwrap_err(),
        store.consistency_proof(3, Some(2)).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::Invalid(InvalidRequest::ProofRange(_))),
            "{err}"
        );
    }
}
