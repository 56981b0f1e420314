//! Tamper evidence: a byte changed behind the store's back is found and named.

use dealtrail_store::{ExpectedVersion, ProblemKind};

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

/// Flips one byte of a value under `key` in the log tree, with sled directly.
fn flip(dir: &std::path::Path, key: &[u8], at: usize) {
    let db = super::raw_db(dir);
    let tree = db.open_tree("log").unwrap();
    let mut value = tree.get(key).unwrap().expect("key present").to_vec();
    value[at] ^= 0x01;
    tree.insert(key, value).unwrap();
    db.flush().unwrap();
}

fn event_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'E'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[test]
fn altered_payload_byte_is_named_by_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // The payload (8 bytes) sits just before the previous hash (2 + 32 bytes) and the
    // record's own hash (32 bytes) at the end of the record.
    let len = {
        let db = super::raw_db(dir.path());
        let v = db
            .open_tree("log")
            .unwrap()
            .get(event_key(17))
            .unwrap()
            .unwrap();
        v.len()
    };
    flip(dir.path(), &event_key(17), len - 32 - 34 - 3);
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
    let len = {
        let db = super::raw_db(dir.path());
        let v = db
            .open_tree("log")
            .unwrap()
            .get(event_key(5))
            .unwrap()
            .unwrap();
        v.len()
    };
    flip(dir.path(), &event_key(5), len - 1);
    let problem = open(dir.path()).verify().unwrap().problem.unwrap();
    assert_eq!((problem.seq, problem.kind), (5, ProblemKind::HashMismatch));
}

#[test]
fn altered_stream_index_copy_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // Stream s1 got seq 2, 6, 10, ... ; its third event (version 3) is seq 10.
    let num = {
        let db = super::raw_db(dir.path());
        let head = db.open_tree("log").unwrap().get(b"Ns1").unwrap().unwrap();
        u64::from_be_bytes(head[..8].try_into().unwrap())
    };
    let mut key = vec![b'S'];
    key.extend_from_slice(&num.to_be_bytes());
    key.extend_from_slice(&3u64.to_be_bytes());
    flip(dir.path(), &key, 12);
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
        let db = super::raw_db(dir.path());
        db.open_tree("log").unwrap().remove(event_key(12)).unwrap();
        db.flush().unwrap();
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
fn removed_tail_event_leaves_its_stream_copy_behind() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    {
        let db = super::raw_db(dir.path());
        db.open_tree("log").unwrap().remove(event_key(30)).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.head().seq, 29);
    let problem = store.verify().unwrap().problem.unwrap();
    assert_eq!(problem.seq, 29);
    assert_eq!(problem.kind, ProblemKind::ExtraIndexEntries { extra: 1 });
}
