//! What one uncached funnel costs in the read model: the last year now, a 90-day window as
//! occurred by past dates, and as recorded through past log positions; the pipeline flow
//! over the last quarter; and the year's funnel again on a clone of the model.
//!
//! `cargo run --release -p dealtrail-benches --bin funnel -- DATA_FOLDER [RUNS]`
//! (a folder written by `dealtrail demo`, not in use by a server).

use std::time::Instant;

use dealtrail_domain::{Currency, Timestamp};
use dealtrail_funnel::{Cut, FlowQuery, FunnelQuery};

/// Median and maximum of `times`, in milliseconds.
fn stats(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1])
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let data = args.next().ok_or("usage: funnel DATA_FOLDER [RUNS]")?;
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let (store, model) = dealtrail_benches::sales_pipeline(&data)?;
    let head = store.head().seq;
    let last = model
        .deals
        .values()
        .filter_map(|d| d.steps.last().map(|s| s.at))
        .max()
        .ok_or("the folder holds no deals")?;
    println!(
        "{} deals, {head} events, last step {last}",
        model.deals.len()
    );
    let year = FunnelQuery {
        from: Timestamp(last.0 - 365 * Timestamp::DAY),
        to: Timestamp(last.0 + 1),
        filter: Default::default(),
        currency: Currency::USD,
        as_occurred_by: None,
        as_recorded_through: None,
    };
    let (mut now, mut occurred, mut recorded) = (Vec::new(), Vec::new(), Vec::new());
    let mut flows = Vec::new();
    let quarter = FlowQuery {
        start: Cut::occurred_by(Timestamp(last.0 - 91 * Timestamp::DAY)),
        end: Cut::occurred_by(last),
        due_by: last.date(),
        filter: Default::default(),
        currency: Currency::USD,
    };
    for i in 0..runs {
        let t = Instant::now();
        let report = model.funnel(&year);
        now.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!report.stages.is_empty());
        // Past dates spread over the second half of the history.
        let back = (i as i64 % 20 + 1) * 15 * Timestamp::DAY;
        let as_of = Timestamp(last.0 - back);
        let past = FunnelQuery {
            from: Timestamp(as_of.0 - 90 * Timestamp::DAY),
            to: Timestamp(as_of.0 + 1),
            as_occurred_by: Some(as_of),
            ..year.clone()
        };
        let t = Instant::now();
        std::hint::black_box(model.funnel(&past));
        occurred.push(t.elapsed().as_secs_f64() * 1e3);
        let through = head - head * (i as u64 % 20 + 1) / 40;
        let past = FunnelQuery {
            as_occurred_by: None,
            as_recorded_through: Some(through),
            ..past
        };
        let t = Instant::now();
        std::hint::black_box(model.funnel(&past));
        recorded.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(model.flow(&quarter));
        flows.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // The same model with every deal's lists freshly allocated one deal after another, as
    // a restore from a snapshot leaves them; a model folded from the log has them scattered.
    let fresh = model.clone();
    let cloned = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(fresh.funnel(&year));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    for (what, times) in [
        ("funnel of the last 365 days, now", now),
        ("funnel of 90 days as occurred by a past date", occurred),
        (
            "funnel of 90 days as recorded through a past position",
            recorded,
        ),
        ("pipeline flow over the last 91 days", flows),
        (
            "funnel of the last 365 days, now, on a clone of the model",
            cloned,
        ),
    ] {
        let (m, x) = stats(times);
        println!("{what}: median {m:.2} ms, max {x:.2} ms ({runs} runs)");
    }
    Ok(())
}
