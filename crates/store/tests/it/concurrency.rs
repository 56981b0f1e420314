//! Many writers racing on one stream with exact expected versions.

use std::collections::BTreeMap;

use dealtrail_store::{AppendOutcome, ExpectedVersion};

use super::{open, request, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_writer_wins_each_version() {
    const WRITERS: u64 = 12;
    const TARGET: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            let mut conflicts = 0u64;
            loop {
                let current = store.stream_version(&stream("race")).unwrap();
                if current >= TARGET {
                    break;
                }
                let req = request(
                    "race",
                    ExpectedVersion::Exact(current),
                    &[w * 1_000_000 + current],
                );
                match store.append(req).await.unwrap() {
                    AppendOutcome::Committed(r) => {
                        assert_eq!(r.first_version, current + 1);
                        wins.push(r.first_version);
                    }
                    AppendOutcome::Conflict { actual, .. } => {
                        assert_ne!(
                            actual, current,
                            "a conflict must report a different version"
                        );
                        conflicts += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            (wins, conflicts)
        }));
    }
    let mut winners: BTreeMap<u64, u32> = BTreeMap::new();
    let mut conflicts = 0;
    for t in tasks {
        let (wins, c) = t.await.unwrap();
        conflicts += c;
        for v in wins {
            *winners.entry(v).or_default() += 1;
        }
    }
    assert!(
        conflicts > 0,
        "writers never raced; the test proves nothing"
    );
    let versions: Vec<u64> = winners.keys().copied().collect();
    assert_eq!(versions.first(), Some(&1));
    assert!(
        winners.values().all(|n| *n == 1),
        "a version had two winners"
    );
    let last = *versions.last().unwrap();
    assert_eq!(versions, (1..=last).collect::<Vec<_>>());
    assert_eq!(store.head().seq, last);
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_many_streams_stay_dense() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for w in 0..32u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                let name = format!("w{w}");
                let out = store
                    .append(request(&name, ExpectedVersion::Exact(2 * i), &[i, i + 1]))
                    .await
                    .unwrap();
                assert!(matches!(out, AppendOutcome::Committed(_)), "{out:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.head().seq, 32 * 25 * 2);
    let seqs: Vec<u64> = store
        .read_all(1, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=1600).collect::<Vec<_>>());
    assert!(store.verify().unwrap().is_intact());
}
