//! Load generator for a running `dealtrail serve`: many HTTP connections asking GraphQL
//! questions as fast as the server answers, reporting throughput and latency percentiles.
//!
//! `funnel` asks the funnel of the last year over and over; `mixed` is 90% reads (a deal,
//! a page of deals, the funnel) and 10% writes (follow-ups on open deals).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

#[derive(Clone, Copy, ValueEnum)]
enum Workload {
    Funnel,
    Mixed,
}

/// Drive a dealtrail server with concurrent GraphQL requests.
#[derive(Parser)]
struct Args {
    /// The GraphQL endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    url: String,
    /// A token with the admin role (reads analyses and writes to any deal).
    #[arg(long)]
    token: String,
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to run, in seconds, after a warm-up of the same length / 5.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// What to ask.
    #[arg(long, value_enum, default_value = "funnel")]
    workload: Workload,
    /// Start of the funnel's window.
    #[arg(long, default_value = "2025-01-01")]
    from: String,
    /// End of the funnel's window (exclusive).
    #[arg(long, default_value = "2026-01-01")]
    to: String,
}

const FUNNEL: &str = r#"query($from: DateTime!, $to: DateTime!) { funnel(from: $from, to: $to) {
    stages { stage entered reached nextConversion medianDaysInStage } openDeals winRate } }"#;
const DEAL: &str = r#"query($id: String!) { opportunity(id: $id) { id stage owner amount { amount currency } followUps } }"#;
const PAGE: &str = r#"query($after: String) { opportunities(first: 20, after: $after, filter: { open: true },
    order: LAST_ACTIVITY, descending: true) { nodes { id stage owner } } }"#;
const FOLLOW_UP: &str = r#"mutation($id: String!) { logFollowUp(input: { opportunityId: $id, channel: "call",
    unregisteredParticipants: 1, summary: "load test call" }) { version } }"#;

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

struct Shared {
    args: Args,
    deals: Vec<String>,
    window: (String, String),
}

async fn ask(
    client: &reqwest::Client,
    shared: &Shared,
    query: &str,
    vars: Value,
) -> Result<(), String> {
    let response = client
        .post(&shared.args.url)
        .bearer_auth(&shared.args.token)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() || !body["errors"].is_null() {
        return Err(format!("{status}: {}", body["errors"]));
    }
    Ok(())
}

async fn connection(
    shared: Arc<Shared>,
    worker: usize,
    until: Instant,
    warm_until: Instant,
) -> Tally {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap_or_default();
    let mut tally = Tally::default();
    // A small deterministic generator per connection keeps runs comparable.
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64 + 1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (from, to) = &shared.window;
    while Instant::now() < until {
        let roll = next() % 100;
        let pick = next() as usize % shared.deals.len().max(1);
        let deal = || shared.deals.get(pick).cloned().unwrap_or_default();
        let (query, vars) = match shared.args.workload {
            Workload::Funnel => (FUNNEL, json!({ "from": from, "to": to })),
            Workload::Mixed if roll < 10 => (FOLLOW_UP, json!({ "id": deal() })),
            Workload::Mixed if roll < 40 => (FUNNEL, json!({ "from": from, "to": to })),
            Workload::Mixed if roll < 80 => (DEAL, json!({ "id": deal() })),
            Workload::Mixed => (PAGE, json!({})),
        };
        let started = Instant::now();
        let outcome = ask(&client, &shared, query, vars).await;
        if started < warm_until {
            continue;
        }
        tally.latencies.push(started.elapsed());
        if let Err(e) = outcome {
            tally.errors += 1;
            tally.first_error.get_or_insert(e);
        }
    }
    tally
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let probe = reqwest::Client::new();
    // Open deals to write to and read, and the last year as the funnel's window.
    let mut deals = Vec::new();
    let mut after: Option<String> = None;
    while deals.len() < 2_000 {
        let body: Value = probe
            .post(&args.url)
            .bearer_auth(&args.token)
            .json(&json!({ "query": r#"query($after: String) { opportunities(first: 500, after: $after,
                filter: { open: true }) { nodes { id } pageInfo { hasNextPage endCursor } } }"#,
                "variables": { "after": after } }))
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", args.url))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let page = &body["data"]["opportunities"];
        let Some(nodes) = page["nodes"].as_array() else {
            return Err(format!("listing deals failed: {}", body["errors"]));
        };
        deals.extend(
            nodes
                .iter()
                .filter_map(|n| n["id"].as_str().map(str::to_owned)),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    if deals.is_empty() && matches!(args.workload, Workload::Mixed) {
        return Err("no open deals to write to; load a demo history first".into());
    }
    let window = ("2025-01-01".to_owned(), "2026-01-01".to_owned());
    let connections = args.connections;
    let seconds = args.seconds;
    let shared = Arc::new(Shared {
        args,
        deals,
        window,
    });
    let warm = Duration::from_secs(seconds.div_ceil(5));
    let start = Instant::now();
    let warm_until = start + warm;
    let until = warm_until + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|w| tokio::spawn(connection(shared.clone(), w, until, warm_until)))
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let tally = t.await.map_err(|e| e.to_string())?;
        all.extend(tally.latencies);
        errors += tally.errors;
        if first_error.is_none() {
            first_error = tally.first_error;
        }
    }
    all.sort_unstable();
    let measured = (Instant::now() - warm_until).as_secs_f64();
    println!(
        "workload {} · {connections} connections · {:.1} s measured",
        match shared.args.workload {
            Workload::Funnel => "funnel",
            Workload::Mixed => "mixed 90/10",
        },
        measured
    );
    println!(
        "requests {} · errors {errors} · {:.0} req/s",
        all.len(),
        all.len() as f64 / measured
    );
    println!(
        "latency ms: p50 {:.2} · p90 {:.2} · p99 {:.2} · max {:.2}",
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    Ok(())
}
