//! Integration tests of the event log, one binary for the whole crate.

mod audit;
mod basics;
mod concurrency;
mod formats;
mod model;
mod postgres;
mod relay;
mod snapshots;
mod subscription;
mod tamper;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dealtrail_store::{
    AppendRequest, Config, ExpectedVersion, NewEvent, Store, StreamId, Timestamp,
};
use uuid::Uuid;

/// A clock that moves one second per reading, so recorded times are predictable.
pub fn stepping_clock(start: i64) -> dealtrail_store::Clock {
    let now = Arc::new(AtomicI64::new(start));
    Arc::new(move || Timestamp(now.fetch_add(1_000_000, Ordering::SeqCst)))
}

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(config(dir).cache_capacity(16 * 1024 * 1024)).expect("open store")
}

/// How a test opens a folder: on sled alone (in the format of `formats::format`), or, when this suite runs again on PostgreSQL
/// (`postgres::whole_suite_runs_on_postgresql`), as the replica of a log of its own there.
pub fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir);
    if let Some(format) = formats::format() {
        config = config.format(format);
    }
    match postgres::log_for(dir) {
        Some(url) => config.upstream(url),
        None => config,
    }
}

pub fn stream(name: &str) -> StreamId {
    StreamId::parse(name).unwrap()
}

pub fn event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::from_u128(n as u128 + 1),
        event_type: if n.is_multiple_of(2) { "Even" } else { "Odd" }.into(),
        schema_version: 1,
        occurred_at: Timestamp(n as i64),
        payload: n.to_be_bytes().to_vec(),
        causation_id: None,
    }
}

pub fn request(name: &str, expected: ExpectedVersion, ns: &[u64]) -> AppendRequest {
    request_by("tester", name, expected, ns)
}

/// Like `request`, by another actor.
pub fn request_by(actor: &str, name: &str, expected: ExpectedVersion, ns: &[u64]) -> AppendRequest {
    AppendRequest::new(
        stream(name),
        expected,
        actor,
        ns.iter().map(|n| event(*n)).collect(),
    )
    .unwrap()
}

/// The folder's sled database opened directly, as an attacker (or a bug) would.
///
/// sled's background threads let go of its file lock a moment after a store is dropped;
/// like `Store::open`, this waits for that (bounded) instead of failing.
pub fn raw_db(dir: &std::path::Path) -> sled::Db {
    let config = sled::Config::new()
        .path(dir.join("log"))
        .segment_size(dealtrail_store::SLED_SEGMENT_SIZE);
    for _ in 0..300 {
        match config.open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
    panic!("sled's lock was not released within 3 s");
}

/// Runs this test binary again in a child process with `env` set, skipping the tests that
/// start such runs, and fails unless at least 30 tests passed there: how the whole suite
/// runs once more on another configuration (`what`).
pub fn run_suite_again(env: (&str, &str), what: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--skip",
            "postgres::",
            "--skip",
            "formats::",
            "--test-threads",
            "4",
        ])
        .env(env.0, env.1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the suite failed {what}:\n{stdout}\n{stderr}"
    );
    let passed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 30, "only {passed} tests ran {what}:\n{stdout}");
}
