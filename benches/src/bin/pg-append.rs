//! The log on PostgreSQL next to PostgreSQL itself, in one run on one throwaway cluster
//! (fsync on, default settings): durable appends at 1, 8 and 64 concurrent callers through
//! a replica beside `pgbench` inserting single 200-byte rows with as many clients; a fresh
//! replica copying the whole log; the database's bytes per logical byte.
//!
//! `cargo run --release -p dealtrail-benches --bin pg-append [-- SECONDS [CALLERS,…]]`
//! (default 10 s per step, callers 1,8,64). Needs PostgreSQL's binaries (see crates/testpg).

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dealtrail_benches::{disk_bytes, envelope_bytes};
use dealtrail_store::{
    AppendRequest, Config, ExpectedVersion, NewEvent, Store, StreamId, Timestamp,
};
use dealtrail_testpg::Cluster;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let steps: Vec<u64> = std::env::args()
        .nth(2)
        .map(|list| list.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64]);
    let Some(cluster) = Cluster::start("the PostgreSQL append benchmark") else {
        std::process::exit(2);
    };
    println!("PostgreSQL: {}", version(&cluster));
    let script = pgbench_script(&cluster);
    let url = cluster.url("postgres");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(Config::new(dir.path()).upstream(&url)).expect("replica");
    println!("callers  dealtrail events/s  pgbench rows/s  ratio");
    for callers in steps {
        let ours = appends(&store, callers, Duration::from_secs(seconds));
        let theirs = pgbench(&cluster, &script, callers, seconds);
        println!(
            "{callers:>7}  {ours:>18.0}  {theirs:>14.0}  {:>5.2}",
            ours / theirs
        );
    }
    let events = store.head().seq;
    let logical: u64 = cluster.query_i64(
        "postgres",
        "SELECT COALESCE(SUM(length(record)), 0)::bigint FROM dealtrail_events",
    )[0] as u64;
    let table: u64 = cluster.query_i64(
        "postgres",
        "SELECT pg_total_relation_size('dealtrail_events')",
    )[0] as u64;
    drop(store);
    let fresh = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let copy = Store::open(Config::new(fresh.path()).upstream(&url)).expect("fresh replica");
    let copied = started.elapsed();
    assert_eq!(copy.head().seq, events);
    println!(
        "a fresh replica copied {events} events in {copied:.2?}: {:.0} events/s",
        events as f64 / copied.as_secs_f64()
    );
    println!(
        "dealtrail_events with indexes: {table} bytes for {logical} bytes of records ({:.2} per record byte)",
        table as f64 / logical as f64
    );
    let envelope: u64 = copy
        .iter_from(1)
        .map(|e| envelope_bytes(&e.expect("event")))
        .sum();
    let (cluster_disk, replica_disk) = (cluster.disk_bytes(), disk_bytes(fresh.path()));
    println!(
        "per logical byte ({envelope} bytes of envelopes): the table {:.2}, the whole cluster \
         (WAL and catalogue included) {:.2}, a replica folder {:.2}",
        table as f64 / envelope as f64,
        cluster_disk as f64 / envelope as f64,
        replica_disk as f64 / envelope as f64
    );
}

fn version(cluster: &Cluster) -> String {
    let out = cluster
        .tool("psql")
        .args(["-At", "-c", "SHOW server_version", "postgres"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Appends of one 200-byte event from `callers` concurrent tasks, each on its own stream,
/// for `length`; events per second.
fn appends(store: &Store, callers: u64, length: Duration) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let (store, done) = (store.clone(), done.clone());
                tokio::spawn(async move {
                    let stream = StreamId::parse(format!("bench-{callers}-{c}")).expect("stream");
                    while started.elapsed() < length {
                        let event = NewEvent {
                            event_id: uuid::Uuid::now_v7(),
                            event_type: "Benched".into(),
                            schema_version: 1,
                            occurred_at: Timestamp::now(),
                            payload: vec![0xAB; 200],
                            causation_id: None,
                        };
                        let request = AppendRequest::new(
                            stream.clone(),
                            ExpectedVersion::Any,
                            "bench",
                            vec![event],
                        )
                        .expect("request");
                        let _ = store.append(request).await.expect("append");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn pgbench_script(cluster: &Cluster) -> std::path::PathBuf {
    cluster.execute(
        "postgres",
        "CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)",
    );
    // pgbench runs as the cluster's user, which must be able to read the script.
    let path = std::env::temp_dir().join(format!("dealtrail-pgbench-{}.sql", std::process::id()));
    std::fs::write(
        &path,
        "INSERT INTO bench_rows (payload) VALUES (decode(repeat('ab', 200), 'hex'));\n",
    )
    .expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

/// pgbench's transactions per second with `clients` clients for `seconds`.
fn pgbench(cluster: &Cluster, script: &std::path::Path, clients: u64, seconds: u64) -> f64 {
    let out = cluster
        .tool("pgbench")
        .args(["-n", "-f"])
        .arg(script)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &seconds.to_string(), "postgres"])
        .output()
        .expect("pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no tps from pgbench: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
