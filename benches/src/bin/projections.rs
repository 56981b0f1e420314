//! Figures of the read models on a realistic history: generation through the command path,
//! full rebuild rate, funnel as of past dates on both clocks, resident memory, and restart
//! from a fresh snapshot.
//!
//! `cargo run --release -p dealtrail-benches --bin projections [-- ACCOUNTS [DEALS_PER_ACCOUNT]]`
//! (default 10,000 accounts × 10 deals, about 1.1M events). Set `DEALTRAIL_BENCH_DIR` to keep
//! the generated folder and reuse it on the next run.

use std::sync::Arc;
use std::time::Instant;

use dealtrail_demo::{Size, generate};
use dealtrail_domain::{Currency, Projection, Timestamp};
use dealtrail_engine::{
    Engine, EngineConfig, ProjectionHost, Restored, RunnerConfig, catch_up, fold_log,
};
use dealtrail_funnel::{FunnelQuery, SalesPipeline};
use dealtrail_profile::Profiles;
use dealtrail_winloss::WinLoss;

/// Counts live heap bytes, so that the read model's own size can be measured.
struct Counting;

static LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts sizes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as i64, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(
            new as i64 - layout.size() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_mb() -> f64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
}

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let accounts = args.next().and_then(Result::ok).unwrap_or(10_000);
    let deals = args.next().and_then(Result::ok).unwrap_or(10);
    let kept = std::env::var("DEALTRAIL_BENCH_DIR").ok();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = kept.clone().map_or(temp.path().to_path_buf(), Into::into);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let end = Timestamp::parse("2026-10-31").expect("date");
    let start = Timestamp(end.0 - 720 * Timestamp::DAY);

    runtime.block_on(async {
        let fresh = !dir.join("log").exists();
        let engine = Arc::new(Engine::open(EngineConfig::new(&dir)).expect("engine"));
        if fresh {
            let size = Size {
                accounts,
                deals_per_account: deals,
                seed: 42,
            };
            let started = Instant::now();
            let commands = generate(engine.clone(), size, start, end, 8, 16, Arc::new(|_| {}))
                .await
                .expect("generate");
            let secs = started.elapsed().as_secs_f64();
            let events = engine.store().head().seq;
            println!(
                "generated {commands} commands, {events} events in {secs:.1} s ({:.0} events/s through the command path, 64 concurrent writers)",
                events as f64 / secs
            );
        }
        let head = engine.store().head().seq;
        let deals_count = engine.sales().read(|m| m.deals.len()).expect("read");
        println!("log: {head} events, {deals_count} deals");
        engine.shutdown().await.expect("shutdown");
        drop(engine);

        // 1. Full rebuild: read, decode and fold every event on one thread.
        let store = dealtrail_store::Store::open_path(&dir).expect("store");
        // Warm sled's page cache first, so that both rebuilds below are measured alike.
        let mut count = 0u64;
        store
            .scan(1, u64::MAX, |_| {
                count += 1;
                Ok::<(), dealtrail_store::StoreError>(())
            })
            .expect("warm-up scan");
        assert_eq!(count, head);
        let started = Instant::now();
        let (model, _) = fold_log::<SalesPipeline>(&store).expect("rebuild");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "rebuild of the sales pipeline: {head} events in {secs:.2} s = {:.0} events/s (one thread: read, skip or decode, fold)",
            head as f64 / secs
        );
        // All read models together, each event read and decoded once.
        let started = Instant::now();
        let (mut a, mut b, mut c) = (
            Restored::<SalesPipeline>::empty(),
            Restored::<WinLoss>::empty(),
            Restored::<Profiles>::empty(),
        );
        catch_up(&store, u64::MAX, None, (&mut a, &mut b, &mut c)).expect("rebuild all");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "rebuild of all read models (pipeline, win/loss, profiles) in one pass: {secs:.2} s = {:.0} events/s",
            head as f64 / secs
        );
        let mut sizes = Vec::new();
        let heap = heap_mb();
        drop(a);
        sizes.push(heap - heap_mb());
        let heap = heap_mb();
        drop(b);
        sizes.push(heap - heap_mb());
        let heap = heap_mb();
        drop(c);
        sizes.push(heap - heap_mb());
        println!(
            "heap of all read models together: {:.0} MB (pipeline {:.0}, win/loss {:.0}, profiles {:.0})",
            sizes.iter().sum::<f64>(),
            sizes[0],
            sizes[1],
            sizes[2]
        );

        // 2. Funnel as of past dates, on the live model.
        let mut timings = Vec::new();
        let mut recorded = Vec::new();
        for i in 0..20i64 {
            let as_of = Timestamp(start.0 + (60 + i * 30) * Timestamp::DAY);
            let query = FunnelQuery {
                from: Timestamp(as_of.0 - 90 * Timestamp::DAY),
                to: Timestamp(as_of.0 + 1),
                filter: Default::default(),
                currency: Currency::USD,
                as_occurred_by: Some(as_of),
                as_recorded_through: None,
            };
            let t = Instant::now();
            let report = model.funnel(&query);
            timings.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!report.stages.is_empty());
            let through = head * (i as u64 + 1) / 20;
            let query = FunnelQuery {
                as_occurred_by: None,
                as_recorded_through: Some(through),
                ..query
            };
            let t = Instant::now();
            let _ = model.funnel(&query);
            recorded.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let stats = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[v.len() - 1])
        };
        let (m, x) = stats(timings);
        println!("funnel as occurred by a past date (90-day window, 20 dates): median {m:.1} ms, max {x:.1} ms");
        let (m, x) = stats(recorded);
        println!("funnel as recorded through a past position (20 positions): median {m:.1} ms, max {x:.1} ms");

        // 2b. Pipeline flow over a quarter, and one bucket's deals with their events (the
        // drill-down reads each listed deal's stream, as the API does).
        let (mut flows, mut drills, mut moves) = (Vec::new(), Vec::new(), 0);
        for i in 0..20i64 {
            let to = Timestamp(start.0 + (120 + i * 30) * Timestamp::DAY);
            let query = dealtrail_funnel::FlowQuery {
                start: dealtrail_funnel::Cut::occurred_by(Timestamp(to.0 - 91 * Timestamp::DAY)),
                end: dealtrail_funnel::Cut::occurred_by(to),
                due_by: to.date(),
                currency: Currency::USD,
                filter: Default::default(),
            };
            let t = Instant::now();
            let report = model.flow(&query);
            flows.push(t.elapsed().as_secs_f64() * 1000.0);
            moves = moves.max(report.moves.len());
            // A drill-down as the API answers it: the flow again, one bucket's moves sorted
            // largest change first, and the events of the 25 deals of the app's first page.
            let t = Instant::now();
            let report = model.flow(&query);
            let mut won: Vec<_> = report
                .moves
                .iter()
                .filter(|m| m.bucket == dealtrail_funnel::FlowBucket::Won)
                .collect();
            won.sort_unstable_by_key(|m| (std::cmp::Reverse(m.change_minor.unsigned_abs()), m.deal));
            for m in won.iter().take(25) {
                let stream =
                    dealtrail_engine::stream_id(dealtrail_domain::StreamName::Opportunity(m.deal));
                let events = store
                    .read_stream(&stream, 1, dealtrail_store::Direction::Forward, 10_000)
                    .expect("stream");
                assert!(!events.is_empty());
            }
            drills.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (m, x) = stats(flows);
        println!(
            "pipeline flow over a quarter ({deals_count} deals, at most {moves} moves; 20 quarters): median {m:.1} ms, max {x:.1} ms"
        );
        let (m, x) = stats(drills);
        println!("flow drill-down into won, with the events of its first 25 deals: median {m:.1} ms, max {x:.1} ms");

        // 3. Restart with a fresh snapshot.
        let bytes = model.snapshot();
        store
            .save_snapshot(SalesPipeline::NAME, head, &bytes, 4)
            .expect("snapshot");
        println!("snapshot: {:.1} MB", bytes.len() as f64 / 1e6);
        // What dropping the model gives back is what it held (sled's page cache, also on
        // the heap, stays).
        let (heap, rss) = (heap_mb(), rss_mb());
        drop(model);
        println!(
            "read model heap: {:.0} MB (process RSS {rss:.0} MB with sled's page cache)",
            heap - heap_mb()
        );
        let t = Instant::now();
        let host: ProjectionHost<SalesPipeline> =
            ProjectionHost::start(store.clone(), RunnerConfig::default()).expect("start");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(host.applied(), head);
        println!("restart from a fresh snapshot: {secs:.2} s");
        host.shutdown().await.expect("shutdown");
    });
    if kept.is_none() {
        drop(temp);
    }
}
