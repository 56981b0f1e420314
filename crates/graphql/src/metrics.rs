//! `GET /metrics` in the Prometheus text format: requests by operation type and outcome,
//! their latency, open WebSockets, and, read when scraped, what the store's writer has done,
//! whether writes fail, and how far each read model lags behind the log.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use dealtrail_engine::Engine;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// WebSockets open now.
    pub websockets: IntGauge,
    appended: IntGauge,
    groups: IntGaugeVec,
    failed_batches: IntGauge,
    write_failing: IntGauge,
    lag: IntGaugeVec,
    head: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("dealtrail".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "graphql_requests_total",
                "GraphQL requests over HTTP by operation type and outcome (ok or the first error code)",
            ),
            &["operation", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "graphql_request_duration_seconds",
                "Time from authentication to the answer, by operation type",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
            ]),
            &["operation"],
        )?;
        let websockets = IntGauge::new("websockets_open", "WebSocket connections open now")?;
        // Read from the store when scraped, so gauges holding running totals.
        let appended = IntGauge::new(
            "store_appended_events",
            "Events appended (or restored) since the store was opened",
        )?;
        let groups = IntGaugeVec::new(
            Opts::new(
                "store_commit_groups",
                "Group commits applied since the store was opened, by events per group (upper bound)",
            ),
            &["events_le"],
        )?;
        let failed_batches = IntGauge::new(
            "store_failed_batches",
            "Batches the storage engine refused since the store was opened",
        )?;
        let write_failing = IntGauge::new(
            "store_write_failing",
            "1 while the store cannot write (a full or failing disk), else 0",
        )?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "read_model_lag_events",
                "Events of the log a read model has not applied yet (-1: the model stopped)",
            ),
            &["model"],
        )?;
        let head = IntGauge::new("log_head_seq", "The last durable sequence number")?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(websockets.clone()),
            Box::new(appended.clone()),
            Box::new(groups.clone()),
            Box::new(failed_batches.clone()),
            Box::new(write_failing.clone()),
            Box::new(lag.clone()),
            Box::new(head.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            websockets,
            appended,
            groups,
            failed_batches,
            write_failing,
            lag,
            head,
        })
    }

    /// Counts one answered request.
    pub fn request(&self, operation: &str, outcome: &str, seconds: f64) {
        self.requests.with_label_values(&[operation, outcome]).inc();
        self.latency
            .with_label_values(&[operation])
            .observe(seconds);
    }

    /// The text a scrape gets, with the store and read-model figures read now.
    pub fn render(&self, engine: &Engine) -> String {
        let store = engine.store();
        let stats = store.write_stats();
        self.appended.set(as_gauge(stats.events));
        for (bound, count) in dealtrail_store::GROUP_SIZE_CLASSES
            .iter()
            .zip(stats.groups_by_size)
        {
            let label = if *bound == u64::MAX {
                "+Inf".to_owned()
            } else {
                bound.to_string()
            };
            self.groups
                .with_label_values(&[label.as_str()])
                .set(as_gauge(count));
        }
        self.failed_batches.set(as_gauge(stats.failed_batches));
        self.write_failing
            .set(i64::from(store.write_failure().is_some()));
        let (head, models) = engine.readiness();
        self.head.set(as_gauge(head));
        for (name, state) in models {
            let lag = match state {
                Ok(applied) => as_gauge(head.saturating_sub(applied)),
                Err(_) => -1,
            };
            self.lag.with_label_values(&[name]).set(lag);
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}

fn as_gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
