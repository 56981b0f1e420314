//! The real server on 127.0.0.1:0 with a temporary data folder, spoken to over HTTP.

mod api;
mod audit;
mod fields;
mod flow;
mod fuzz;
mod hooks;
mod metrics;
mod process;
mod protocol;
mod reads;
mod segments;
mod subscription;
mod workspace;

use std::sync::Arc;

use dealtrail_domain::Timestamp;
use dealtrail_engine::{Engine, EngineConfig};
use dealtrail_graphql::{Role, ServerConfig, Tokens};
use serde_json::{Value, json};

/// The default configuration with budgets no test run exhausts.
pub fn unlimited() -> ServerConfig {
    let unlimited = dealtrail_graphql::budget::Budget {
        capacity: u64::MAX / 4,
        per_second: u64::MAX / 4,
    };
    ServerConfig {
        budgets: Role::ALL.into_iter().map(|r| (r, unlimited)).collect(),
        ..ServerConfig::default()
    }
}

/// A running server and a token per role.
pub struct Server {
    pub url: String,
    pub tokens: std::collections::HashMap<&'static str, String>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A server whose budgets no test run exhausts (the budget test sets its own).
    pub async fn start() -> Server {
        Server::start_with(unlimited()).await
    }

    /// A server with other limits or switches.
    pub async fn start_with(config: ServerConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(EngineConfig::new(dir.path())).unwrap());
        let tokens = Arc::new(Tokens::in_folder(dir.path()));
        let mut by_role = std::collections::HashMap::new();
        for (name, role) in [
            ("admin", Role::Admin),
            ("anna", Role::Sales),
            ("bob", Role::Sales),
            ("ann-alyst", Role::Analyst),
            ("audrey", Role::Auditor),
            ("manny", Role::Manager),
            ("pat", Role::Presales),
            ("eng", Role::Engineering),
            ("sue", Role::Support),
        ] {
            by_role.insert(name, tokens.create(name, role).unwrap());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/graphql", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(dealtrail_graphql::run(
            listener,
            engine,
            tokens,
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            url,
            tokens: by_role,
            client: reqwest::Client::new(),
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// POSTs a query as `who` (None: no token) and returns the JSON body.
    pub async fn post(&self, who: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(who) = who {
            request = request.bearer_auth(&self.tokens[who]);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// The server's data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A `UInt64` the API sent (a string of digits) as a number.
pub fn n(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a UInt64: {v}"))
}

/// The `extensions.code` of the first error, if any.
pub fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Runs `query` as `who` and returns its `data`, failing on any error.
pub async fn ok(server: &Server, who: &str, query: &str, vars: Value) -> Value {
    let body = server.post(Some(who), query, vars).await;
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

/// Runs `query` as `who` and returns the code of its one error.
pub async fn refused(server: &Server, who: &str, query: &str, vars: Value) -> (String, Value) {
    let body = server.post(Some(who), query, vars).await;
    let error = &body["errors"][0];
    assert!(!error.is_null(), "{query} was not refused: {body}");
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        error.clone(),
    )
}

/// `days` ago, as the API writes times.
pub fn ago(days: f64) -> String {
    let now = dealtrail_engine::now();
    Timestamp(now.0 - (days * Timestamp::DAY as f64) as i64).to_string()
}

/// The calendar day `days` ago, as the API writes dates.
pub fn day_ago(days: i64) -> String {
    let now = dealtrail_engine::now();
    Timestamp(now.0 - days * Timestamp::DAY).date().to_string()
}
