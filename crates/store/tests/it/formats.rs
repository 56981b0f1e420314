//! Store formats: the whole suite again on format 1 (a key per record), and logs that read
//! back identically through format 2's blocks, across restarts and migrations.

use dealtrail_store::{
    AppendRequest, Config, Direction, ExpectedVersion, NewEvent, RecordedEvent, Store, Timestamp,
};
use proptest::prelude::*;
use uuid::Uuid;

/// Set for the child run of the suite: the format new folders get.
const SUITE_FORMAT: &str = "DEALTRAIL_TEST_FORMAT";

/// The format the suite's folders are made in: the default, or the child run's.
pub fn format() -> Option<u32> {
    std::env::var(SUITE_FORMAT).ok()?.parse().ok()
}

#[test]
fn whole_suite_runs_on_format_1() {
    if format().is_some() || super::postgres::in_child() {
        return;
    }
    super::run_suite_again((SUITE_FORMAT, "1"), "on format 1");
}

fn open_in(dir: &std::path::Path, format: u32) -> Store {
    Store::open(Config::new(dir).format(format).cache_capacity(16 << 20)).unwrap()
}

/// One append: a stream (of a few), how many events, and each payload's size.
fn append() -> impl Strategy<Value = (u8, Vec<u16>)> {
    (0u8..6, proptest::collection::vec(0u16..3_000, 1..40))
}

fn fill(store: &Store, appends: &[(u8, Vec<u16>)]) {
    for (i, (stream, sizes)) in appends.iter().enumerate() {
        let events = sizes
            .iter()
            .enumerate()
            .map(|(j, size)| NewEvent {
                event_id: Uuid::from_u128((i * 1_000 + j) as u128 + 1),
                event_type: format!("Type{}", j % 3),
                schema_version: 1,
                occurred_at: Timestamp(i as i64),
                // Incompressible payloads too, so blocks of every kind are written.
                payload: (0..*size)
                    .map(|k| (u32::from(k).wrapping_mul(2_654_435_761) >> (i % 24)) as u8)
                    .collect(),
                causation_id: None,
            })
            .collect();
        let stream = super::stream(&format!("s{stream}"));
        let request = AppendRequest::new(stream, ExpectedVersion::Any, "tester", events).unwrap();
        let _ = store.append_blocking(request).unwrap();
    }
}

/// Everything a reader can ask of the log: all of it, every stream both ways and in pages,
/// single events, and the heads.
fn everything(store: &Store) -> (Vec<RecordedEvent>, Vec<Vec<RecordedEvent>>, String) {
    let all = store.read_all(1, usize::MAX).unwrap();
    let mut streams = Vec::new();
    for s in 0..6 {
        let stream = super::stream(&format!("s{s}"));
        let version = store.stream_version(&stream).unwrap();
        streams.push(
            store
                .read_stream(&stream, 1, Direction::Forward, usize::MAX)
                .unwrap(),
        );
        streams.push(
            store
                .read_stream(&stream, u64::MAX, Direction::Backward, 7)
                .unwrap(),
        );
        streams.push(
            store
                .read_stream(&stream, version / 2 + 1, Direction::Forward, 5)
                .unwrap(),
        );
        streams.push(
            store
                .read_stream(&stream, version / 2, Direction::Backward, 3)
                .unwrap(),
        );
    }
    let singles: Vec<RecordedEvent> = (1..=store.head().seq)
        .map(|seq| store.event(seq).unwrap().unwrap())
        .collect();
    assert_eq!(singles, all, "single reads agree with the log");
    let mut scanned = Vec::new();
    store
        .scan(1, u64::MAX, |view| {
            scanned.push((view.seq, view.payload.to_vec()));
            Ok::<_, dealtrail_store::StoreError>(())
        })
        .unwrap();
    let expected: Vec<_> = all.iter().map(|e| (e.seq, e.payload.clone())).collect();
    assert_eq!(scanned, expected, "a scan agrees with the log");
    let heads = format!("{:?} {:?}", store.head(), store.tree_head());
    (all, streams, heads)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_log_reads_back_identically_through_blocks_across_restarts_and_migrations(
        appends in proptest::collection::vec(append(), 1..30)
    ) {
        let old = tempfile::tempdir().unwrap();
        let before = {
            let store = open_in(old.path(), 1);
            fill(&store, &appends);
            prop_assert_eq!(store.format(), 1);
            everything(&store)
        };
        // Format 1 keeps its format across a restart, even when 2 is asked for.
        let store = open_in(old.path(), 2);
        prop_assert_eq!(store.format(), 1);
        prop_assert_eq!(&everything(&store), &before);

        let new = tempfile::tempdir().unwrap();
        let migrated = open_in(new.path(), 2);
        migrated.restore_blocking(store.read_all(1, usize::MAX).unwrap()).unwrap();
        prop_assert_eq!(migrated.format(), 2);
        prop_assert_eq!(&everything(&migrated), &before);
        prop_assert!(migrated.verify().unwrap().is_intact());
        drop(migrated);

        let reopened = open_in(new.path(), 1);
        prop_assert_eq!(reopened.format(), 2);
        prop_assert_eq!(&everything(&reopened), &before);
        prop_assert!(reopened.verify().unwrap().is_intact());

        // And back to format 1, by the same path.
        let back = tempfile::tempdir().unwrap();
        let again = open_in(back.path(), 1);
        again.restore_blocking(reopened.read_all(1, usize::MAX).unwrap()).unwrap();
        prop_assert_eq!(&everything(&again), &before);
    }
}

#[test]
fn a_format_the_build_does_not_know_is_refused_for_a_new_folder() {
    let dir = tempfile::tempdir().unwrap();
    match Store::open(Config::new(dir.path()).format(3)) {
        Err(dealtrail_store::StoreError::IncompatibleFormat {
            found: 3,
            supported,
        }) => {
            assert_eq!(supported, dealtrail_store::FORMAT_VERSION);
        }
        Err(other) => panic!("expected IncompatibleFormat, got {other}"),
        Ok(_) => panic!("a folder in format 3 was made"),
    }
    // Nothing is left behind: a later open in the default format starts a fresh folder.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the refusal left {left:?}");
    let missing = dir.path().join("new");
    assert!(Store::open(Config::new(&missing).format(0)).is_err());
    assert!(!missing.exists(), "the refusal created the folder");
}

/// A folder of format 2 holding one append of 40 compressible events (one block) and one
/// more append.
fn one_block(dir: &std::path::Path) -> Store {
    let store = open_in(dir, 2);
    let events: Vec<u64> = (0..40).collect();
    let _ = store
        .append_blocking(super::request("s1", ExpectedVersion::Any, &events))
        .unwrap();
    let _ = store
        .append_blocking(super::request("s2", ExpectedVersion::Any, &[40]))
        .unwrap();
    assert!(store.verify().unwrap().is_intact());
    store
}

#[test]
fn a_damaged_compressed_block_is_found_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    drop(one_block(dir.path()));
    {
        let raw = dealtrail_store::raw::RawLog::open(dir.path()).unwrap();
        let mut key = vec![b'B'];
        key.extend_from_slice(&1u64.to_be_bytes());
        let mut value = raw.tree().get(&key).unwrap().unwrap().to_vec();
        assert_eq!(value[0], 1, "the block is compressed");
        let middle = value.len() / 2;
        value[middle] ^= 0xff;
        raw.tree().insert(key, value).unwrap();
        raw.flush().unwrap();
    }
    let problem = match Store::open(Config::new(dir.path())) {
        // The last block is intact, so the folder opens; verify finds the damage.
        Ok(store) => store.verify().unwrap().problem.expect("damage found"),
        Err(e) => panic!("the folder should open: {e}"),
    };
    // zstd keeps no checksum of its own: a frame that still decompresses yields a record
    // whose hash no longer matches, one that does not is named by the block's first event.
    assert!((1..=40).contains(&problem.seq), "{problem:?}");
    assert!(
        matches!(
            problem.kind,
            dealtrail_store::ProblemKind::Undecodable(_)
                | dealtrail_store::ProblemKind::HashMismatch
        ),
        "{problem:?}"
    );
}

#[test]
fn a_position_naming_the_wrong_block_is_found() {
    let dir = tempfile::tempdir().unwrap();
    drop(one_block(dir.path()));
    {
        // s2's only event is seq 41, first of its block: say it is the 2nd of the block
        // before instead.
        let raw = dealtrail_store::raw::RawLog::open(dir.path()).unwrap();
        let num = raw.tree().get(b"Ns2").unwrap().unwrap();
        let mut key = vec![b'P'];
        key.extend_from_slice(&num);
        key.extend_from_slice(&0u64.to_be_bytes());
        let mut value = raw.tree().get(&key).unwrap().unwrap().to_vec();
        assert_eq!(value.len(), 12);
        value[8..].copy_from_slice(&2u32.to_be_bytes());
        raw.tree().insert(key, value).unwrap();
        raw.flush().unwrap();
    }
    let store = Store::open(Config::new(dir.path())).unwrap();
    let problem = store.verify().unwrap().problem.expect("found");
    assert!(
        matches!(
            problem.kind,
            dealtrail_store::ProblemKind::ExtraIndexEntries { extra: 1 }
        ),
        "{problem:?}"
    );
    assert!(
        store
            .read_stream(&super::stream("s2"), 1, Direction::Forward, 10)
            .is_err(),
        "a read through the wrong block fails instead of returning another event"
    );
}

#[test]
fn a_stream_reads_whole_on_both_sides_of_each_position_chunk() {
    // Position chunks hold 64 versions; a forward read goes on to the next chunk only
    // when one is full.
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path(), 2);
    let s = super::stream("edges");
    let mut written = 0u64;
    for len in [63u64, 64, 65, 128, 129] {
        let more: Vec<u64> = (written..len).collect();
        let _ = store
            .append_blocking(super::request("edges", ExpectedVersion::Any, &more))
            .unwrap();
        written = len;
        let all = store
            .read_stream(&s, 1, Direction::Forward, usize::MAX)
            .unwrap();
        let versions: Vec<u64> = all.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=len).collect::<Vec<_>>(), "at {len} events");
        let tail = store.read_stream(&s, 60, Direction::Forward, 10).unwrap();
        let versions: Vec<u64> = tail.iter().map(|e| e.version).collect();
        assert_eq!(versions, (60..70.min(len + 1)).collect::<Vec<_>>());
        assert_eq!(store.stream_version(&s).unwrap(), len);
    }
}
