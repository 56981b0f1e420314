//! Tamper evidence: a byte changed behind the store's back is found and named.

use dealtrail_store::raw::RawLog;
use dealtrail_store::{ExpectedVersion, ProblemKind, Store};

use super::{open, request};

fn fill(dir: &std::path::Path) {
    let store = open(dir);
    for i in 0..30u64 {
        let _ = store
            .append_blocking(request(&format!("s{}", i % 4), ExpectedVersion::Any, &[i]))
            .unwrap();
    }
    assert!(store.verify().unwrap().is_intact());
}

/// Flips one byte of event `seq`'s stored record (`at` counts from its end), with sled
/// directly, in whatever format the folder has.
fn flip(dir: &std::path::Path, seq: u64, from_end: usize) {
    let raw = RawLog::open(dir).unwrap();
    let mut record = raw.record(seq).expect("record present");
    let at = record.len() - from_end;
    record[at] ^= 0x01;
    raw.set_record(seq, &record).unwrap();
    raw.flush().unwrap();
}

#[test]
fn altered_payload_byte_is_named_by_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // The payload (8 bytes) sits just before the previous hash (2 + 32 bytes) and the
    // record's own hash (32 bytes) at the end of the record.
    flip(dir.path(), 17, 32 + 34 + 3);
    let report = open(dir.path()).verify().unwrap();
    let problem = report.problem.expect("tampering must be found");
    assert_eq!(problem.seq, 17);
    assert_eq!(problem.kind, ProblemKind::HashMismatch);
    assert_eq!(report.events_checked, 16);
}

#[test]
fn altered_stored_hash_breaks_the_record() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    flip(dir.path(), 5, 1);
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert_eq!((problem.seq, problem.kind), (5, ProblemKind::HashMismatch));
}

#[test]
fn altered_stream_index_copy_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // Stream s1 got seq 2, 6, 10, ... ; its third event (version 3) is seq 10.
    {
        let raw = RawLog::open(dir.path()).unwrap();
        raw.damage_stream_index(&super::stream("s1"), 3).unwrap();
        raw.flush().unwrap();
    }
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert_eq!(problem.seq, 10);
    assert!(
        matches!(problem.kind, ProblemKind::StreamIndex { version: 3, .. }),
        "{problem:?}"
    );
}

#[test]
fn removed_event_in_the_middle_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    {
        let raw = RawLog::open(dir.path()).unwrap();
        raw.remove_record(12).unwrap();
        raw.flush().unwrap();
    }
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert_eq!(problem.seq, 12);
    assert!(matches!(
        problem.kind,
        ProblemKind::Gap {
            expected: 12,
            found: 13
        }
    ));
}

#[test]
fn cutting_the_last_event_is_refused_when_the_folder_opens() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    remove_events_from(dir.path(), 30, false);
    let err = match Store::open(crate::config(dir.path())) {
        Ok(_) => panic!("a cut log must not open"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("covers 30 events"), "{err}");
    assert!(err.contains("removed from the end"), "{err}");
}

#[test]
fn cutting_the_end_with_its_tree_head_is_caught_by_a_saved_head() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let saved = open(dir.path()).tree_head();
    assert_eq!(saved.size, 30);
    // A careful attacker removes the events, their copies, the tree and the tree head: the
    // folder then looks like one written before the tree, and gains a new one.
    remove_events_from(dir.path(), 26, true);
    let store = open(dir.path());
    if super::postgres::in_child() {
        // A replica copies the missing end back from the log of record.
        assert_eq!(store.head().seq, 30);
        assert!(store.verify_against(&[saved], |_| {}).unwrap().is_intact());
        return;
    }
    assert_eq!(store.head().seq, 25);
    assert!(store.verify().unwrap().is_intact(), "consistent in itself");
    let problem = store
        .verify_against(&[saved], |_| {})
        .unwrap()
        .problem
        .unwrap();
    assert!(
        matches!(problem.kind, ProblemKind::SavedHead { size: 30, .. }),
        "{problem:?}"
    );
}

#[test]
fn rewriting_the_last_event_is_refused_at_open_and_caught_by_a_saved_head() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let saved = open(dir.path()).tree_head();
    // The same log with another 30th event, hashes and all, as a forger would build it.
    let forged = tempfile::tempdir().unwrap();
    {
        let original = open(dir.path());
        let copy = open(forged.path());
        // One event a group, as they were appended, so format 2's blocks are the same.
        for event in original.read_all(1, 29).unwrap() {
            copy.restore_blocking(vec![event]).unwrap();
        }
        let _ = copy
            .append_blocking(request("s1", ExpectedVersion::Any, &[999]))
            .unwrap();
    }
    {
        let end = RawLog::open(forged.path()).unwrap().log_end(30).unwrap();
        let raw = RawLog::open(dir.path()).unwrap();
        raw.put(end).unwrap();
        raw.flush().unwrap();
    }
    let err = match Store::open(crate::config(dir.path())) {
        Ok(_) => panic!("a rewritten end must not open"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("rewritten"), "{err}");
    // With the tree head removed as well, only the saved head tells.
    remove_keys(dir.path(), |k| k == b"Mtree" || k.first() == Some(&b'T'));
    if super::postgres::in_child() {
        // A replica compares its end with the log of record's.
        match Store::open(crate::config(dir.path())) {
            Err(dealtrail_store::StoreError::Diverged(d)) => assert!(d.contains("30"), "{d}"),
            Err(other) => panic!("expected Diverged, got {other}"),
            Ok(_) => panic!("a replica with a rewritten end opened"),
        }
        return;
    }
    let store = open(dir.path());
    assert!(store.verify().unwrap().is_intact());
    let problem = store
        .verify_against(&[saved], |_| {})
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.seq, 30);
    assert!(matches!(
        problem.kind,
        ProblemKind::SavedHead { size: 30, .. }
    ));
}

#[test]
fn a_log_re_chained_from_the_middle_does_not_extend_saved_heads() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let original = open(dir.path());
    let heads = [
        original.tree_head_at(10).unwrap(),
        original.tree_head_at(20).unwrap(),
        original.tree_head(),
    ];
    let forged = tempfile::tempdir().unwrap();
    let copy = open(forged.path());
    copy.restore_blocking(original.read_all(1, 14).unwrap())
        .unwrap();
    for i in 0..16u64 {
        let _ = copy
            .append_blocking(request(
                &format!("s{}", i % 4),
                ExpectedVersion::Any,
                &[500 + i],
            ))
            .unwrap();
    }
    assert!(copy.verify().unwrap().is_intact());
    assert!(
        copy.verify_against(&heads[..1], |_| {})
            .unwrap()
            .is_intact()
    );
    let problem = copy
        .verify_against(&heads, |_| {})
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.seq, 20, "the first saved head past the fork");
    assert!(original.verify_against(&heads, |_| {}).unwrap().is_intact());
}

#[test]
fn a_changed_idempotency_record_is_found() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for key in ["k1", "k2"] {
            let req = request("s1", ExpectedVersion::Any, &[1, 2])
                .with_idempotency_key(key)
                .unwrap();
            let _ = store.append_blocking(req).unwrap();
        }
        assert!(store.verify().unwrap().is_intact());
    }
    // k2's record made to hand out k1's receipt.
    {
        let db = super::raw_db(dir.path());
        let tree = db.open_tree("log").unwrap();
        let records: Vec<_> = tree.scan_prefix(b"K").map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 2);
        tree.insert(&records[1].0, records[0].1.clone()).unwrap();
        db.flush().unwrap();
    }
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert!(
        matches!(&problem.kind, ProblemKind::Idempotency { key, .. } if key == "k2"),
        "{problem:?}"
    );
}

#[test]
fn a_stream_registered_without_events_is_found() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    {
        let db = super::raw_db(dir.path());
        let tree = db.open_tree("log").unwrap();
        tree.insert(b"Nghost", &99u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert!(
        matches!(&problem.kind, ProblemKind::ChainHead(d) if d.contains("ghost")),
        "{problem:?}"
    );
}

#[test]
fn a_folder_without_a_tree_gains_the_same_tree_on_open() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let before = open(dir.path()).tree_head();
    remove_keys(dir.path(), |k| k == b"Mtree" || k.first() == Some(&b'T'));
    let store = open(dir.path());
    assert_eq!(store.tree_head(), before);
    assert!(store.verify().unwrap().is_intact());
}

/// Removes events `from..` with (if `with_tree`) the whole tree and its head, and their
/// stream copies or positions, with sled directly.
fn remove_events_from(dir: &std::path::Path, from: u64, with_tree: bool) {
    let raw = RawLog::open(dir).unwrap();
    raw.remove_from(from, with_tree).unwrap();
    raw.flush().unwrap();
}

fn remove_keys(dir: &std::path::Path, which: impl Fn(&[u8]) -> bool) {
    let db = super::raw_db(dir);
    let tree = db.open_tree("log").unwrap();
    for item in tree.iter() {
        let (k, _) = item.unwrap();
        if which(&k) {
            tree.remove(k).unwrap();
        }
    }
    db.flush().unwrap();
}
