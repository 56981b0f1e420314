//! Durability under SIGKILL: acknowledged means durable.
//!
//! The test runs its own binary again as the child writer (selected by an environment
//! variable), so it needs no helper program. The child appends from several threads and
//! prints each acknowledged sequence number; the parent kills it with SIGKILL at a random
//! moment, reopens the folder and checks that every acknowledged event is there, intact, and
//! that `verify` passes. It repeats on the same folder so recovery after recovery is tested.
//!
//! Then it does it all again with the log kept in a throwaway PostgreSQL cluster, and at the
//! end reads every acknowledged event from a fresh replica, which has only the database to
//! copy from.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use dealtrail_store::{
    AppendRequest, Config, ExpectedVersion, NewEvent, Store, StreamId, Timestamp,
};
use uuid::Uuid;

const CHILD_ENV: &str = "DEALTRAIL_CRASH_CHILD_DIR";
/// The database the child keeps its log in, for the PostgreSQL rounds.
const UPSTREAM_ENV: &str = "DEALTRAIL_CRASH_UPSTREAM";
const THREADS: u64 = 4;
const ROUNDS: u32 = 6;

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    rounds(None);
    if let Some(cluster) = dealtrail_testpg::Cluster::start("the SIGKILL test on PostgreSQL") {
        let url = cluster.url("postgres");
        let acked = rounds(Some(&url));
        let fresh = tempfile::tempdir().expect("temp dir");
        let store = Store::open(Config::new(fresh.path()).upstream(&url)).expect("a new replica");
        check(&store, &acked);
        println!(
            "a new replica holds all {} acknowledged events",
            acked.len()
        );
    }
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}

fn config(dir: &std::path::Path, upstream: Option<&str>) -> Config {
    match upstream {
        Some(url) => Config::new(dir).upstream(url),
        None => Config::new(dir),
    }
}

/// Every acknowledged event is there, unaltered, and the log verifies.
fn check(store: &Store, acked: &BTreeMap<u64, (u64, u64)>) {
    for (seq, (thread, counter)) in acked {
        let event = store
            .event(*seq)
            .expect("read")
            .unwrap_or_else(|| panic!("acknowledged seq {seq} lost after SIGKILL"));
        assert_eq!(
            event.payload,
            payload(*thread, *counter),
            "seq {seq} altered"
        );
    }
    let report = store.verify().expect("verify");
    assert!(report.is_intact(), "{report:?}");
}

fn rounds(upstream: Option<&str>) -> BTreeMap<u64, (u64, u64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acked: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for round in 0..ROUNDS {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(round * 7919);
        let kill_after = 20 + (seed % 600) as usize;
        let mut child = Command::new(std::env::current_exe().expect("own path"));
        if let Some(url) = upstream {
            child.env(UPSTREAM_ENV, url);
        }
        let mut child = child
            .env(CHILD_ENV, dir.path())
            .env("DEALTRAIL_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut read = 0;
        while read < kill_after {
            let Some(line) = lines.next() else { break };
            record(&mut acked, &line.expect("line"));
            read += 1;
        }
        child.kill().expect("SIGKILL");
        // Lines already in the pipe were acknowledged before the kill: they count too.
        for line in lines {
            record(&mut acked, &line.expect("line"));
        }
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the child was killed, not finished");

        let store = Store::open(config(dir.path(), upstream)).expect("reopen after SIGKILL");
        check(&store, &acked);
        println!(
            "round {round}{}: killed after {read} acks, {} acknowledged in all, head {}",
            if upstream.is_some() {
                " (PostgreSQL)"
            } else {
                ""
            },
            acked.len(),
            store.head().seq
        );
    }
    acked
}

fn record(acked: &mut BTreeMap<u64, (u64, u64)>, line: &str) {
    let parts: Vec<u64> = line
        .split_whitespace()
        .map(|p| p.parse().expect("number"))
        .collect();
    let [seq, thread, counter] = parts[..] else {
        panic!("bad line {line:?}")
    };
    assert!(
        acked.insert(seq, (thread, counter)).is_none(),
        "seq {seq} acknowledged twice"
    );
}

fn payload(thread: u64, counter: u64) -> Vec<u8> {
    let mut p = thread.to_be_bytes().to_vec();
    p.extend_from_slice(&counter.to_be_bytes());
    p.resize(200, 0xAB);
    p
}

fn child(dir: &str) {
    let round: u64 = std::env::var("DEALTRAIL_CRASH_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let upstream = std::env::var(UPSTREAM_ENV).ok();
    let store = Store::open(config(std::path::Path::new(dir), upstream.as_deref()))
        .expect("child opens store");
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                let thread = round * THREADS + t;
                for counter in 0.. {
                    let req = AppendRequest::new(
                        StreamId::parse(format!("crash-{thread}")).expect("stream"),
                        ExpectedVersion::Exact(counter),
                        "crash-test",
                        vec![NewEvent {
                            event_id: Uuid::now_v7(),
                            event_type: "Written".into(),
                            schema_version: 1,
                            occurred_at: Timestamp::now(),
                            payload: payload(thread, counter),
                            causation_id: None,
                        }],
                    )
                    .expect("request");
                    let outcome = store.append_blocking(req).expect("append");
                    let seq = outcome.receipt().expect("committed").first_seq;
                    let mut out = out.lock().expect("stdout");
                    // A broken pipe means the parent is gone; the kill is coming.
                    if writeln!(out, "{seq} {thread} {counter}")
                        .and_then(|_| out.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
