//! What one page of open deals costs in the read model, step by step: finding the open
//! deals, their positions, their last activity, and the whole sorted page.
//!
//! `cargo run --release -p dealtrail-benches --bin deal-page -- DATA_FOLDER`
//! (a folder written by `dealtrail demo`, not in use by a server).

use std::time::{Duration, Instant};

use dealtrail_funnel::{Cut, DealFilter, DealSort};

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() -> Result<(), String> {
    let data = std::env::args()
        .nth(1)
        .ok_or("usage: deal-page DATA_FOLDER")?;
    let (_, m) = dealtrail_benches::sales_pipeline(&data)?;
    let now = Cut::occurred_by(dealtrail_engine::now());
    let open = DealFilter {
        open: Some(true),
        ..Default::default()
    };
    println!(
        "{} deals, {} open; the index is used: {}",
        m.deals.len(),
        m.open_now.len(),
        m.cut_sees_now(now)
    );
    let deals: Vec<_> = m.open_now.iter().filter_map(|id| m.deals.get(id)).collect();
    let runs = 11;
    let find = median(runs, || {
        let found = m.open_now.iter().filter_map(|id| m.deals.get(id)).count();
        assert_eq!(found, deals.len());
    });
    let positions = median(runs, || {
        let n = deals
            .iter()
            .filter(|d| d.position_at(now).is_some())
            .count();
        assert_eq!(n, deals.len());
    });
    let activity = median(runs, || {
        let n = deals.iter().filter_map(|d| d.last_activity_by(now)).count();
        assert!(n <= deals.len());
    });
    let page = median(runs, || {
        let (total, rows) = m.list_window(&open, DealSort::LastActivity, true, now, |_| 0..20);
        assert_eq!((total, rows.len()), (deals.len(), 20.min(deals.len())));
    });
    let all = median(runs, || {
        m.list_window(
            &DealFilter::default(),
            DealSort::LastActivity,
            true,
            now,
            |_| 0..20,
        );
    });
    println!("median of {runs} runs:");
    println!("  find the open deals   {find:?}");
    println!("  their positions       {positions:?}");
    println!("  their last activity   {activity:?}");
    println!("  page of 20 open deals {page:?}");
    println!("  page of 20, all deals {all:?}");
    Ok(())
}
