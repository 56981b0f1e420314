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
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--skip",
            "postgres::",
            "--skip",
            "formats::",
            "--test-threads",
            "4",
        ])
        .env(SUITE_FORMAT, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the suite failed on format 1:\n{stdout}\n{stderr}"
    );
    let passed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= 30,
        "only {passed} tests ran on format 1:\n{stdout}"
    );
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
}
