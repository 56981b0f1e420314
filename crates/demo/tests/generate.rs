//! The demo history goes through the rules and is the same every time.

use std::sync::Arc;

use dealtrail_demo::{Size, account_script, generate};
use dealtrail_domain::Timestamp;
use dealtrail_engine::{Engine, EngineConfig};

fn window() -> (Timestamp, Timestamp) {
    let end = Timestamp::parse("2026-06-30").unwrap();
    (Timestamp(end.0 - 720 * Timestamp::DAY), end)
}

/// Every event, decoded with the folder's keys: sealed personal data differs in its bytes
/// from one folder to the next (each has its own keys), the events themselves do not.
async fn payloads(
    dir: &std::path::Path,
    size: Size,
    together: u32,
) -> Vec<(String, String, String)> {
    let engine = Arc::new(Engine::open(EngineConfig::new(dir)).unwrap());
    let (start, end) = window();
    let done = generate(
        engine.clone(),
        size,
        start,
        end,
        8,
        together,
        Arc::new(|_| {}),
    )
    .await
    .expect("every generated command passes the rules");
    assert!(done as usize > size.accounts as usize * 10, "{done}");
    let mut out: Vec<_> = engine
        .store()
        .iter_from(1)
        .map(|e| {
            let e = e.unwrap();
            let decoded = dealtrail_engine::decode(&e, engine.store().vault()).unwrap();
            (
                e.stream.to_string(),
                e.event_type,
                format!("{:?}", decoded.event),
            )
        })
        .collect();
    // Accounts are written concurrently, so only each stream's order is fixed.
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_writes_the_same_history_through_the_rules() {
    let size = Size {
        accounts: 12,
        deals_per_account: 3,
        seed: 7,
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = payloads(a.path(), size, 1).await;
    let second = payloads(b.path(), size, 1).await;
    assert_eq!(first, second);
    // The bulk path (several accounts' units decided one by one, appended in one group)
    // writes the very same history.
    let bulk = payloads(tempfile::tempdir().unwrap().path(), size, 5).await;
    assert_eq!(first, bulk);
    let other = payloads(
        tempfile::tempdir().unwrap().path(),
        Size { seed: 8, ..size },
        1,
    )
    .await;
    assert_ne!(first, other);
}

#[test]
fn scripts_stay_inside_their_window_and_in_order() {
    let (start, end) = window();
    let size = Size {
        accounts: 50,
        deals_per_account: 4,
        seed: 1,
    };
    for n in 0..size.accounts {
        let script = account_script(&size, n, start, end);
        assert!(script.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(script.iter().all(|s| s.at >= start && s.at <= end));
    }
}
