//! Snapshot files: damaged or half-written ones are never loaded and a save cut short
//! leaves nothing once the store opens again, names stay inside the folder, and snapshots
//! an earlier version kept inside sled are still read.

use crate::open;

/// sled opened with the store's segment size (sled refuses another).
fn raw_sled(dir: &std::path::Path) -> sled::Db {
    sled::Config::new()
        .path(dir.join("log"))
        .segment_size(dealtrail_store::SLED_SEGMENT_SIZE)
        .open()
        .unwrap()
}

fn snapshot_files(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("snapshots").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_damaged_snapshot_is_passed_over_for_the_one_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.save_snapshot("funnel", 10, b"ten", 4).unwrap();
    store.save_snapshot("funnel", 20, b"twenty", 4).unwrap();
    let files = snapshot_files(dir.path(), "funnel");
    assert_eq!(files.len(), 2);
    // One byte of the newest state flipped on disk.
    let mut bytes = std::fs::read(&files[1]).unwrap();
    let at = bytes.len() - 33;
    bytes[at] ^= 1;
    std::fs::write(&files[1], bytes).unwrap();
    // A temporary file of a save that never finished, newer than both.
    std::fs::write(
        dir.path().join("snapshots/funnel/00000000000000000030.tmp"),
        b"half",
    )
    .unwrap();
    let loaded = store.load_snapshot("funnel", u64::MAX).unwrap().unwrap();
    assert_eq!((loaded.seq, loaded.bytes.as_slice()), (10, &b"ten"[..]));
    // Cut short: no longer a snapshot either.
    std::fs::write(&files[0], b"DTSNAP1\n").unwrap();
    assert_eq!(store.load_snapshot("funnel", u64::MAX).unwrap(), None);
}

#[test]
fn a_save_cut_short_leaves_no_file_once_the_store_is_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.save_snapshot("funnel", 10, b"ten", 4).unwrap();
    drop(store);
    // What a crash between creating and renaming the temporary file leaves behind, and a
    // file of another kind that is not the store's to remove.
    let folder = dir.path().join("snapshots/funnel");
    std::fs::write(folder.join("00000000000000000030.tmp"), b"half").unwrap();
    std::fs::write(folder.join("notes.tmp"), b"mine").unwrap();
    let store = open(dir.path());
    let names: Vec<_> = snapshot_files(dir.path(), "funnel")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["00000000000000000010.snap", "notes.tmp"]);
    let loaded = store.load_snapshot("funnel", u64::MAX).unwrap().unwrap();
    assert_eq!((loaded.seq, loaded.bytes.as_slice()), (10, &b"ten"[..]));
}

#[test]
fn a_name_with_separators_stays_inside_the_snapshots_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.save_snapshot("../../escape", 5, b"x", 1).unwrap();
    let inside = snapshot_files(dir.path(), "%2E%2E%2F%2E%2E%2Fescape");
    assert_eq!(inside.len(), 1);
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    let loaded = store.load_snapshot("../../escape", 5).unwrap().unwrap();
    assert_eq!(loaded.bytes, b"x");
}

#[test]
fn snapshots_kept_inside_sled_by_an_earlier_version_are_read_then_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    // What format 1 folders written before snapshot files hold: `P` name NUL seq (BE).
    {
        let db = raw_sled(dir.path());
        let tree = db.open_tree("projections").unwrap();
        let key = |seq: u64| [&b"Pfunnel\0"[..], &seq.to_be_bytes()].concat();
        tree.insert(key(7), &b"seven"[..]).unwrap();
        tree.insert(key(9), &b"nine"[..]).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    let at = |n| store.load_snapshot("funnel", n).unwrap().map(|s| s.bytes);
    assert_eq!(at(u64::MAX), Some(b"nine".to_vec()));
    assert_eq!(at(8), Some(b"seven".to_vec()));
    store.save_snapshot("funnel", 12, b"twelve", 4).unwrap();
    assert_eq!(at(u64::MAX), Some(b"twelve".to_vec()));
    assert_eq!(
        at(9),
        None,
        "the old snapshots left sled with the first file"
    );
    drop(store);
    let db = raw_sled(dir.path());
    let tree = db.open_tree("projections").unwrap();
    assert_eq!(tree.scan_prefix(b"P").count(), 0);
}
