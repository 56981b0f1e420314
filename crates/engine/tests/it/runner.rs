//! The projection runner: snapshots, restarts, rebuilds and as-of replays.

use dealtrail_domain::{Projection, Timestamp};
use dealtrail_funnel::SalesPipeline;

use super::*;

async fn history(engine: &Engine) {
    setup(engine).await;
    for n in 0..6u128 {
        engine
            .execute(rep(), open(n, 1000 * (n as i64 + 1)))
            .await
            .unwrap();
    }
    for (n, stage) in [
        (0, "Qualified"),
        (1, "Solution"),
        (0, "Bid"),
        (2, "Qualified"),
    ] {
        engine.execute(rep(), move_to(n, stage)).await.unwrap();
        engine.execute(rep(), follow_up(n)).await.unwrap();
    }
}

/// The model folded from the first `seq` events of the log, without the runner.
fn fold_prefix(engine: &Engine, seq: u64) -> SalesPipeline {
    let mut model = SalesPipeline::default();
    for e in engine.store().iter_from(1).take(seq as usize) {
        model.apply(&dealtrail_engine::decode(&e.unwrap(), engine.store().vault()).unwrap());
    }
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_any_sequence_equals_a_fold_of_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    // A snapshot every 4 events, so most replays start from one.
    let engine = engine(dir.path(), 4);
    history(&engine).await;
    let head = engine.store().head().seq;
    assert!(
        engine
            .store()
            .load_snapshot(SalesPipeline::NAME, head)
            .unwrap()
            .is_some()
    );
    for seq in 0..=head {
        assert_eq!(
            engine.sales().at_seq(seq).unwrap(),
            fold_prefix(&engine, seq),
            "seq {seq}"
        );
    }
    // Recorded time: the clock moves one minute per append, starting 2024-01-01T00:00.
    let t = Timestamp::parse("2024-01-01T00:05:30Z").unwrap();
    let seq = engine
        .store()
        .seq_recorded_by(dealtrail_store::Timestamp(t.0))
        .unwrap();
    assert!(seq > 0 && seq < head);
    assert_eq!(
        engine.sales().as_recorded_by(t).unwrap(),
        fold_prefix(&engine, seq)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_snapshot_and_matches_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let engine = engine(dir.path(), 1000);
        history(&engine).await;
        let live = engine.sales().read(|m| m.clone()).unwrap();
        engine.shutdown().await.unwrap();
        live
    };
    let engine = engine(dir.path(), 1000);
    let head = engine.store().head().seq;
    // The shutdown snapshot covers the whole log: nothing had to be replayed.
    let snapshot = engine
        .store()
        .load_snapshot(SalesPipeline::NAME, u64::MAX)
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.seq, head);
    assert_eq!(engine.sales().read(|m| m.clone()).unwrap(), live);
    assert_eq!(engine.sales().rebuild().unwrap(), head);
    assert_eq!(engine.sales().read(|m| m.clone()).unwrap(), live);
    assert_eq!(fold_prefix(&engine, head), live);
}

/// docs/operations.md: the `snapshots/` folder may be deleted with the server stopped; the
/// next start refolds the log and saves them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_snapshot_files_cost_a_refold_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let engine = engine(dir.path(), 1000);
        history(&engine).await;
        let live = engine.sales().read(|m| m.clone()).unwrap();
        engine.shutdown().await.unwrap();
        live
    };
    let snapshots = dir.path().join("snapshots");
    assert!(snapshots.join(SalesPipeline::NAME).is_dir());
    std::fs::remove_dir_all(&snapshots).unwrap();
    let refolded = engine(dir.path(), 1000);
    assert_eq!(
        refolded
            .store()
            .load_snapshot(SalesPipeline::NAME, u64::MAX)
            .unwrap(),
        None
    );
    assert_eq!(refolded.sales().read(|m| m.clone()).unwrap(), live);
    let head = refolded.store().head().seq;
    refolded.shutdown().await.unwrap();
    drop(refolded);
    let engine = engine(dir.path(), 1000);
    let saved = engine
        .store()
        .load_snapshot(SalesPipeline::NAME, u64::MAX)
        .unwrap();
    assert_eq!(saved.map(|s| s.seq), Some(head));
    assert_eq!(engine.sales().read(|m| m.clone()).unwrap(), live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_version_is_discarded_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (live, head) = {
        let engine = engine(dir.path(), 1000);
        history(&engine).await;
        let live = engine.sales().read(|m| m.clone()).unwrap();
        let head = engine.store().head().seq;
        engine.shutdown().await.unwrap();
        drop(engine);
        // A snapshot claiming to be newer than the shutdown one, from a future version.
        let mut bytes = (SalesPipeline::VERSION + 1).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"not this version's encoding");
        let store = dealtrail_store::Store::open_path(dir.path()).unwrap();
        store
            .save_snapshot(SalesPipeline::NAME, head, &bytes, 100)
            .unwrap();
        (live, head)
    };
    let engine = engine(dir.path(), 1000);
    assert_eq!(engine.sales().read(|m| m.clone()).unwrap(), live);
    assert_eq!(engine.sales().applied(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_model_follows_writes_made_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 3);
    history(&engine).await;
    engine.execute(rep(), move_to(3, "Demo/POC")).await.unwrap();
    let head = engine.store().head().seq;
    assert_eq!(engine.sales().applied(), head);
    assert_eq!(
        engine.sales().read(|m| m.clone()).unwrap(),
        fold_prefix(&engine, head)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_occurred_by_folds_only_what_had_happened() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    let day = |n: i64| Timestamp(Timestamp::parse("2024-03-01").unwrap().0 + n * Timestamp::DAY);
    let at = |n: i64| Issued {
        occurred_at: Some(day(n)),
        ..rep()
    };
    setup_as(&engine, || at(0)).await;
    engine.execute(at(1), open(1, 100)).await.unwrap();
    engine.execute(at(5), move_to(1, "Bid")).await.unwrap();
    // Logged late: it happened on day 3.
    engine.execute(at(3), follow_up(1)).await.unwrap();
    for cut in [0, 2, 3, 4, 6] {
        let mut expected = SalesPipeline::default();
        for e in engine.store().iter_from(1) {
            let e = dealtrail_engine::decode(&e.unwrap(), engine.store().vault()).unwrap();
            if e.occurred_at <= day(cut) {
                expected.apply(&e);
            }
        }
        assert_eq!(
            engine.sales().as_occurred_by(day(cut)).unwrap(),
            expected,
            "day {cut}"
        );
    }
    let at_4 = engine.sales().as_occurred_by(day(4)).unwrap();
    let deal = at_4.deals.values().next().unwrap();
    assert_eq!((deal.steps.len(), deal.follow_ups.len()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_replay_stops_with_cancelled_and_an_uncancelled_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    // Enough events that the folds look at the flag on the way, not only at the end.
    for n in 1..=300 {
        engine.execute(rep(), open(n, 100)).await.unwrap();
    }
    let live = engine.sales().read(|m| m.clone()).unwrap();
    let far = Timestamp(i64::MAX);
    let cancel = dealtrail_engine::Cancel::new();
    assert_eq!(
        engine
            .sales()
            .as_occurred_by_or_cancel(far, &cancel)
            .unwrap(),
        live
    );
    let guard = cancel.on_drop();
    drop(guard);
    assert!(cancel.is_cancelled(), "dropping the guard sets the flag");
    let head = engine.store().head().seq;
    assert!(matches!(
        engine.sales().as_occurred_by_or_cancel(far, &cancel),
        Err(dealtrail_engine::EngineError::Cancelled)
    ));
    assert!(matches!(
        engine.sales().at_seq_or_cancel(head, &cancel),
        Err(dealtrail_engine::EngineError::Cancelled)
    ));
    let kept = dealtrail_engine::Cancel::new();
    kept.on_drop().disarm();
    assert!(
        !kept.is_cancelled(),
        "a disarmed guard leaves the work running"
    );
}
