//! Benchmarks of the event log: durable appends, the disk's fsync rate, and reads.
//!
//! Run with `cargo bench -p dealtrail-benches --bench store`; figures go to
//! `docs/performance.md`.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dealtrail_benches::{populate, request, stream};
use dealtrail_store::{Config, Direction, Durability, Store};

fn fsync_rate(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = std::fs::File::create(dir.path().join("probe")).expect("file");
    let block = vec![7u8; 512];
    let mut group = c.benchmark_group("disk");
    group.throughput(Throughput::Elements(1));
    group.bench_function("write_512b_and_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
    // The floor under any store on sled: two 400-byte inserts in one batch and sled's flush.
    let db = sled::Config::new()
        .path(dir.path().join("sled"))
        .segment_size(dealtrail_store::SLED_SEGMENT_SIZE)
        .open()
        .expect("sled");
    let value = vec![7u8; 400];
    let mut n = 0u64;
    group.bench_function("sled_batch_of_2_inserts_and_flush", |b| {
        b.iter(|| {
            n += 1;
            let mut batch = sled::Batch::default();
            batch.insert([b"E".as_slice(), &n.to_be_bytes()].concat(), value.clone());
            batch.insert([b"S".as_slice(), &n.to_be_bytes()].concat(), value.clone());
            db.apply_batch(batch).expect("apply");
            db.flush().expect("flush");
        })
    });
    group.finish();
}

fn durable_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_durable");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));

    for (name, durability) in [
        ("1_caller_1_event_per_call", Durability::Flush),
        (
            "1_caller_1_event_per_call_fdatasync",
            Durability::FlushAndSync,
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(Config::new(dir.path()).durability(durability)).expect("store");
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let outcome = store
                    .append_blocking(request(n % 1000, n, 1, "bench"))
                    .expect("append");
                assert!(black_box(outcome).receipt().is_some());
            })
        });
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    for (name, durability) in [
        ("64_callers_1_event_per_call", Durability::FlushAndSync),
        ("64_callers_1_event_per_call_flush_only", Durability::Flush),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(Config::new(dir.path()).durability(durability)).expect("store");
        sixty_four_callers(&mut group, name, &store, &runtime);
    }
    group.finish();
}

/// 64 tasks appending one event per call, each waiting for its acknowledgement.
fn sixty_four_callers(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) {
    const CALLERS: u64 = 64;
    let mut base = 0u64;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let per_caller = iters.div_ceil(CALLERS);
            let start_n = base;
            base += per_caller * CALLERS;
            let start = Instant::now();
            runtime.block_on(async {
                let tasks: Vec<_> = (0..CALLERS)
                    .map(|c| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            for i in 0..per_caller {
                                let n = start_n + c * per_caller + i;
                                let outcome = store
                                    .append(request(n % 10_000, n, 1, "bench"))
                                    .await
                                    .expect("append");
                                assert!(black_box(outcome).receipt().is_some());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            });
            // Scale to the requested iteration count (callers may have done a few more).
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_caller * CALLERS) as f64)
        })
    });
}

/// What keeping the Merkle tree costs an append: one leaf and the new root, as the writer
/// computes them for a group of one event.
fn tree_upkeep(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree");
    group.throughput(Throughput::Elements(1));
    let mut tree = dealtrail_store::tree::Frontier::default();
    let mut n = 0u64;
    group.bench_function("append_one_leaf_and_compute_the_root", |b| {
        b.iter(|| {
            n += 1;
            let leaf = dealtrail_store::tree::leaf_hash(blake3::hash(&n.to_be_bytes()).as_bytes());
            tree.push(leaf, |_, _, node| {
                black_box(node);
            });
            black_box(tree.root());
        })
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    const STREAMS: u64 = 20_000;
    const PER_STREAM: u64 = 50;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(dir.path());
    // To see what a page cache too small for the log does to reads.
    if let Some(mb) = std::env::var("DEALTRAIL_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        config = config.cache_capacity(mb * 1024 * 1024);
    }
    let store = Store::open(config).expect("store");
    let started = Instant::now();
    populate(&store, STREAMS, PER_STREAM);
    eprintln!(
        "populated {} events in {:.1?}",
        STREAMS * PER_STREAM,
        started.elapsed()
    );

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(PER_STREAM));
    let mut s = 0u64;
    group.bench_function("one_50_event_stream_decoded", |b| {
        b.iter(|| {
            s = (s + 7_919) % STREAMS;
            let events = store
                .read_stream(&stream(s), 1, Direction::Forward, 100)
                .expect("read");
            assert_eq!(events.len(), PER_STREAM as usize);
            black_box(events);
        })
    });
    group.throughput(Throughput::Elements(STREAMS * PER_STREAM));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("full_log_decoded", |b| {
        b.iter(|| {
            let mut count = 0u64;
            for event in store.iter_from(1) {
                black_box(event.expect("event"));
                count += 1;
            }
            assert_eq!(count, STREAMS * PER_STREAM);
        })
    });
    let head = store.head().seq;
    let mut k = 0u64;
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("inclusion_proof_1m", |b| {
        b.iter(|| {
            k = (k + 104_729) % head;
            black_box(store.inclusion_proof(k + 1, None).expect("proof"));
        })
    });
    group.bench_function("consistency_proof_1m", |b| {
        b.iter(|| {
            k = (k + 104_729) % head;
            black_box(store.consistency_proof(k + 1, None).expect("proof"));
        })
    });
    group.finish();
}

criterion_group!(benches, fsync_rate, durable_appends, tree_upkeep, reads);
criterion_main!(benches);
