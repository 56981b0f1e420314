//! Store format 1 against format 2 in one run: appends, disk, reads, restart, bulk restore;
//! SQLite and PostgreSQL holding the same events, and the disk's own `fdatasync`, as the
//! peers. PostgreSQL runs as a throwaway cluster (see crates/testpg) when its binaries are
//! installed.
//!
//! `cargo run --release -p dealtrail-benches --bin formats [-- STREAMS PER_STREAM ROUNDS]`
//! (default 20,000 streams × 50 events = 1M events, 1 round). Each round measures both
//! formats one after the other on the same machine, so their ratio is what to read.
//! Streams are written interleaved (each round of appends adds one event to every stream),
//! the worst case for a stream read: its events sit far apart in the log.

use std::io::Write;
use std::time::{Duration, Instant};

use dealtrail_benches::postgres::Peer as PgPeer;
use dealtrail_benches::sqlite::Peer;
use dealtrail_benches::{disk_bytes, envelope_bytes, populate, request, stream};
use dealtrail_store::{Config, Direction, RecordedEvent, Store};

/// Appends (and commits, and syncs) timed one at a time for the single-caller figures.
const LONE: usize = 2_000;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let streams = args.next().and_then(Result::ok).unwrap_or(20_000);
    let per_stream = args.next().and_then(Result::ok).unwrap_or(50);
    let rounds = args.next().and_then(Result::ok).unwrap_or(1);
    let events = streams * per_stream;
    println!("{events} events: {streams} streams x {per_stream}, interleaved");
    // One throwaway cluster for every round; a machine without PostgreSQL measures the rest.
    let cluster = dealtrail_testpg::Cluster::start("the formats benchmark's PostgreSQL peer");
    for round in 1..=rounds {
        println!("-- round {round}, the disk");
        println!("append 512 B + fdatasync: median {:.0?}", fdatasync());
        let mut events = Vec::new();
        for format in [1, 2] {
            println!("-- round {round}, format {format}");
            events = measure(format, streams, per_stream);
        }
        println!("-- round {round}, SQLite (WAL, synchronous=FULL), the same events");
        sqlite(&events, streams, per_stream);
        match &cluster {
            Some(cluster) => {
                println!("-- round {round}, PostgreSQL (default settings), the same events");
                postgres(cluster, round, &events, streams, per_stream);
            }
            None => println!("-- round {round}, PostgreSQL: not measured (no binaries)"),
        }
    }
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}/s", n as f64 / d.as_secs_f64())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The disk's own durable write: 512 bytes appended to a file, then `fdatasync`.
fn fdatasync() -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = std::fs::File::create(dir.path().join("probe")).expect("file");
    let block = [7u8; 512];
    let times = (0..LONE)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&block).expect("write");
            file.sync_data().expect("fdatasync");
            started.elapsed()
        })
        .collect();
    median(times)
}

/// Measures format `format`; the log it wrote, for the peer to hold.
fn measure(format: u32, streams: u64, per_stream: u64) -> Vec<RecordedEvent> {
    let events = streams * per_stream;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || Config::new(dir.path()).format(format);
    let store = Store::open(config()).expect("store");
    let started = Instant::now();
    populate(&store, streams, per_stream);
    let took = started.elapsed();
    println!("appends, 64 callers:     {}", rate(events, took));

    let mut logical = 0u64;
    for e in store.iter_from(1) {
        logical += envelope_bytes(&e.expect("event"));
    }
    store.close().expect("close");
    drop(store);
    let disk = disk_bytes(&dir.path().join("log"));
    println!(
        "disk / logical byte:     {:.2} ({} MB)",
        disk as f64 / logical as f64,
        disk >> 20
    );

    let started = Instant::now();
    let store = Store::open(config()).expect("reopen");
    println!("open:                    {:.0?}", started.elapsed());

    let started = Instant::now();
    let mut n = 0u64;
    store
        .scan(1, u64::MAX, |view| {
            n += view.payload.len() as u64 & 1;
            Ok::<_, dealtrail_store::StoreError>(())
        })
        .expect("scan");
    std::hint::black_box(n);
    println!(
        "full-log scan (views):   {}",
        rate(events, started.elapsed())
    );
    let started = Instant::now();
    let mut count = 0u64;
    for e in store.iter_from(1) {
        std::hint::black_box(e.expect("event"));
        count += 1;
    }
    assert_eq!(count, events);
    println!(
        "full-log read (decoded): {}",
        rate(events, started.elapsed())
    );

    // A stream read cold (its first read since the open) and warm (read again at once).
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..2_000u64 {
        let s = (i * 7_919) % streams;
        for times in [&mut cold, &mut warm] {
            let started = Instant::now();
            let got = store
                .read_stream(&stream(s), 1, Direction::Forward, 1_000)
                .expect("read");
            times.push(started.elapsed());
            assert_eq!(got.len() as u64, per_stream);
        }
    }
    cold.sort();
    warm.sort();
    println!(
        "one {per_stream}-event stream:     cold median {:.0?}, warm median {:.0?}",
        cold[cold.len() / 2],
        warm[warm.len() / 2]
    );

    // The store's bulk path: a backup restored into an empty folder, 1,000 events a call.
    let all: Vec<_> = store.iter_from(1).map(|e| e.expect("event")).collect();
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = Store::open(Config::new(copy_dir.path()).format(format)).expect("copy");
    let started = Instant::now();
    for chunk in all.chunks(1_000) {
        copy.restore_blocking(chunk.to_vec()).expect("restore");
    }
    println!(
        "restore, 1,000 a call:   {}",
        rate(events, started.elapsed())
    );
    assert_eq!(copy.head(), store.head());

    // One caller: each append durable before the next is sent, to streams of their own.
    let times = (0..LONE as u64)
        .map(|i| {
            let event = streams * per_stream + i;
            let started = Instant::now();
            let outcome = store
                .append_blocking(request(streams + i, event, 1, "rep-1"))
                .expect("append");
            let took = started.elapsed();
            assert!(outcome.receipt().is_some());
            took
        })
        .collect();
    println!("append, 1 caller:        median {:.0?}", median(times));
    all
}

fn sqlite(events: &[RecordedEvent], streams: u64, per_stream: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut peer = Peer::create(dir.path()).expect("sqlite");
    let took = peer.load_in_one_transaction(events).expect("load");
    println!(
        "insert, one transaction: {}",
        rate(events.len() as u64, took)
    );
    let logical: u64 = events.iter().map(envelope_bytes).sum();
    let disk = peer.disk_bytes().expect("size");
    println!(
        "disk / logical byte:     {:.2} ({} MB)",
        disk as f64 / logical as f64,
        disk >> 20
    );
    drop(peer);
    let mut peer = Peer::open(dir.path()).expect("reopen");
    let started = Instant::now();
    assert_eq!(peer.read_all().expect("read"), events.len() as u64);
    println!(
        "full table read (owned): {}",
        rate(events.len() as u64, started.elapsed())
    );
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..2_000u64 {
        let s = stream((i * 7_919) % streams);
        for times in [&mut cold, &mut warm] {
            let started = Instant::now();
            assert_eq!(peer.read_stream(s.as_str()).expect("read"), per_stream);
            times.push(started.elapsed());
        }
    }
    println!(
        "one {per_stream}-event stream:     cold median {:.0?}, warm median {:.0?}",
        median(cold),
        median(warm)
    );
    let times = peer
        .insert_one_by_one(&lone_events(events, streams))
        .expect("insert");
    println!("insert, 1 row a commit:  median {:.0?}", median(times));
}

fn postgres(
    cluster: &dealtrail_testpg::Cluster,
    round: u64,
    events: &[RecordedEvent],
    streams: u64,
    per_stream: u64,
) {
    let url = cluster.create_database(&format!("formats_{round}"));
    let mut peer = PgPeer::create(&url).expect("postgres");
    let took = peer.copy_in_one_transaction(events).expect("copy");
    println!(
        "COPY, one transaction:   {}",
        rate(events.len() as u64, took)
    );
    let logical: u64 = events.iter().map(envelope_bytes).sum();
    let disk = peer.disk_bytes().expect("size");
    println!(
        "disk / logical byte:     {:.2} ({} MB)",
        disk as f64 / logical as f64,
        disk >> 20
    );
    let started = Instant::now();
    assert_eq!(peer.read_all().expect("read"), events.len() as u64);
    println!(
        "full table read (owned): {}",
        rate(events.len() as u64, started.elapsed())
    );
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..2_000u64 {
        let s = stream((i * 7_919) % streams);
        for times in [&mut cold, &mut warm] {
            let started = Instant::now();
            assert_eq!(peer.read_stream(s.as_str()).expect("read"), per_stream);
            times.push(started.elapsed());
        }
    }
    println!(
        "one {per_stream}-event stream:     first median {:.0?}, again median {:.0?}",
        median(cold),
        median(warm)
    );
    let times = peer
        .insert_one_by_one(&lone_events(events, streams))
        .expect("insert");
    println!("insert, 1 row a commit:  median {:.0?}", median(times));
}

/// Events for the single-caller figures of a peer: copies of the first ones, after the
/// log's end, each in a stream of its own.
fn lone_events(events: &[RecordedEvent], streams: u64) -> Vec<RecordedEvent> {
    let last = events.last().map_or(0, |e| e.seq);
    events
        .iter()
        .take(LONE)
        .map(|e| {
            let mut e = e.clone();
            e.seq += last;
            e.stream = stream(streams + e.seq);
            e
        })
        .collect()
}
