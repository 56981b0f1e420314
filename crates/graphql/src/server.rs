//! The HTTP server: GraphQL over POST and GET, WebSocket subscriptions, GraphiQL, health,
//! CORS for the origins an operator allows.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dealtrail_engine::Engine;

use crate::auth::{Identity, Tokens};
use crate::http::{Media, Refusal, get_params, graphql_response, read_post_body, request_from};
use crate::schema::{self, DealtrailSchema};

/// Limits and switches of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted; larger ones answer 413 before they are read whole.
    pub max_body_bytes: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
    /// Whether the schema can be introspected (with a token).
    pub introspection: bool,
    /// Whether introspection is served without a token too (`serve --public-introspection`).
    pub public_introspection: bool,
    /// Origins whose browser pages may call the API (CORS); none by default.
    pub allow_origins: Vec<String>,
    /// Cost budgets of the roles whose default is not wanted (`serve --budget`).
    pub budgets: std::collections::BTreeMap<crate::auth::Role, crate::budget::Budget>,
    /// Signs tree heads (`serve --signing-key`); none by default.
    pub signer: Option<Arc<crate::audit::HeadSigner>>,
    /// How often the tree head is signed when it grew, with a signer.
    pub sign_every: Duration,
    /// Inbound webhooks (`serve --hook NAME=SECRET_FILE`), served at `/hooks/<name>`.
    pub hooks: Vec<crate::hooks::Hook>,
    /// Which follow-up alerts are raised and when (`serve --alerts FILE`).
    pub alerts: dealtrail_funnel::AlertRules,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            introspection: true,
            public_introspection: false,
            allow_origins: Vec::new(),
            budgets: Default::default(),
            signer: None,
            sign_every: Duration::from_secs(60),
            hooks: Vec::new(),
            alerts: dealtrail_funnel::AlertRules::default(),
        }
    }
}

impl ServerConfig {
    /// Refuses settings the server cannot run with (an origin that is not one).
    pub fn check(&self) -> Result<(), InvalidOrigin> {
        cors(&self.allow_origins).map(|_| ())
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: DealtrailSchema,
    pub(crate) budgets: Arc<crate::budget::Budgets>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) tokens: Arc<Tokens>,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

/// The router: `/graphql` (POST, GET queries, GraphiQL in a browser), `/graphiql/*` (its
/// files), `/graphql/ws` (subscriptions, both WebSocket protocols), `/healthz` (process up)
/// and `/readyz` (store open, read models following the log).
pub fn router(
    engine: Arc<Engine>,
    tokens: Arc<Tokens>,
    config: &ServerConfig,
) -> Result<Router, SetupError> {
    let state = AppState {
        schema: schema::build(
            engine.clone(),
            config.introspection,
            config.signer.clone(),
            Arc::new(config.alerts.clone()),
        ),
        budgets: Arc::new(crate::budget::Budgets::new(config.budgets.clone())),
        engine,
        tokens,
        config: Arc::new(config.clone()),
        metrics: Arc::new(crate::metrics::Metrics::new().map_err(SetupError::Metrics)?),
    };
    // The web app's files are text that gzip shrinks to about a third; GraphQL answers
    // stay as they are (their sizes are what the cost limits are reasoned in).
    let webapp = Router::new()
        .route("/", get(crate::webapp::index))
        .route("/app/{*path}", get(crate::webapp::asset))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .layer(tower_http::compression::CompressionLayer::new());
    let app = Router::new()
        .route(
            "/graphql",
            get(graphql_get)
                .post(graphql_post)
                .options(preflight)
                .fallback(method_not_allowed),
        )
        .route("/graphiql/{file}", get(crate::graphiql::asset))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/export/events", get(crate::backup::export_events))
        .route("/export/keys", get(crate::backup::export_keys))
        .route("/hooks/{name}", axum::routing::post(crate::hooks::receive))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
        .merge(webapp);
    Ok(match cors(&config.allow_origins)? {
        Some(layer) => app.layer(layer),
        None => app,
    })
}

/// Why the router could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A bad `--allow-origin`.
    #[error(transparent)]
    Origin(#[from] InvalidOrigin),
    /// The metrics registry refused a metric (two of one name).
    #[error("metrics: {0}")]
    Metrics(prometheus::Error),
}

/// An `--allow-origin` value that is not an origin.
#[derive(Debug, thiserror::Error)]
#[error("not an origin (scheme://host[:port]): {0:?}")]
pub struct InvalidOrigin(pub String);

fn cors(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>, InvalidOrigin> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let list = origins
        .iter()
        .map(|o| {
            let valid = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && o.split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.contains('/'));
            if !valid {
                return Err(InvalidOrigin(o.clone()));
            }
            HeaderValue::from_str(o).map_err(|_| InvalidOrigin(o.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .max_age(Duration::from_secs(600)),
    ))
}

/// OPTIONS without a CORS preflight the CORS layer answered: what the resource allows.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    r
}

async fn method_not_allowed(headers: HeaderMap) -> Response {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "use POST (or GET for queries)",
    )
    .with_header(header::ALLOW, "GET, POST, OPTIONS")
    .into_response(Media::negotiate(&headers))
}

/// Read models further behind the log than this are reported as not ready.
const READY_LAG: u64 = 10_000;

/// The Prometheus scrape; like the health routes it needs no token (it says nothing of the
/// data, only of the server).
async fn metrics(State(state): State<AppState>) -> Response {
    let engine = state.engine.clone();
    let metrics = state.metrics.clone();
    match tokio::task::spawn_blocking(move || metrics.render(&engine)).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let (head, models) = state.engine.readiness();
    let mut ready = true;
    let mut body = serde_json::Map::new();
    body.insert("head".into(), head.into());
    for (name, state) in models {
        let value = match state {
            Ok(applied) => {
                ready &= head.saturating_sub(applied) <= READY_LAG;
                serde_json::json!({ "applied": applied })
            }
            Err(reason) => {
                ready = false;
                serde_json::json!({ "failed": reason })
            }
        };
        body.insert(name.into(), value);
    }
    if let Some(reason) = state.engine.store().write_failure() {
        ready = false;
        body.insert("store".into(), serde_json::json!({ "failed": reason }));
    }
    body.insert("ready".into(), ready.into());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}

/// Whether the operation a request would run is a mutation.
fn runs_mutation(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    selected_operation(request).is_some_and(|op| op.ty == OperationType::Mutation)
}

/// The operation a request selects, from the request's own parsed document: it is parsed
/// once, kept in the request, and not parsed again when the request runs.
fn selected_operation(
    request: &mut async_graphql::Request,
) -> Option<async_graphql::parser::types::OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    match &doc.operations {
        DocumentOperations::Single(op) => Some(op.node.clone()),
        DocumentOperations::Multiple(ops) => match &name {
            Some(name) => ops.get(name.as_str()).map(|op| op.node.clone()),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.clone()),
            None => None,
        },
    }
}

/// Whether the operation selects only the schema's own fields (`__schema`, `__type`,
/// `__typename`), which `--public-introspection` serves without a token.
fn only_introspection(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::{OperationType, Selection};
    let Some(op) = selected_operation(request) else {
        return false;
    };
    op.ty == OperationType::Query
        && op.selection_set.node.items.iter().all(|s| match &s.node {
            Selection::Field(f) => f.node.name.node.starts_with("__"),
            _ => false,
        })
}

/// Why a request carries no usable identity.
pub(crate) enum NoIdentity {
    Missing,
    Unknown,
}

pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Identity, Result<NoIdentity, Refusal>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Ok(NoIdentity::Missing));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Ok(NoIdentity::Unknown))?;
    match state.tokens.authenticate(token) {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => Err(Ok(NoIdentity::Unknown)),
        Err(e) => {
            tracing::error!(error = %e, "token file unreadable");
            Err(Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )))
        }
    }
}

pub(crate) fn unauthenticated(why: NoIdentity) -> Refusal {
    let (message, challenge) = match why {
        NoIdentity::Missing => (
            "a bearer token is required (Authorization: Bearer <token>)",
            "Bearer realm=\"dealtrail\"",
        ),
        NoIdentity::Unknown => (
            "unknown or revoked token",
            "Bearer realm=\"dealtrail\", error=\"invalid_token\"",
        ),
    };
    Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
        .with_header(header::WWW_AUTHENTICATE, challenge)
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
) -> Response {
    let media = Media::negotiate(headers);
    let operation = request.operation_name.clone().unwrap_or_default();
    let started = std::time::Instant::now();
    let kind = operation_kind(&mut request);
    let count = |outcome: &str| {
        state
            .metrics
            .request(kind, outcome, started.elapsed().as_secs_f64());
    };
    let (request, who) = match authenticate(state, headers) {
        Ok(identity) => (request.data(identity.clone()), Some(identity)),
        Err(Ok(_)) if state.config.public_introspection && only_introspection(&mut request) => {
            (request, None)
        }
        Err(Ok(why)) => {
            count("UNAUTHENTICATED");
            return unauthenticated(why).into_response(media);
        }
        Err(Err(refusal)) => {
            count("UNAUTHENTICATED");
            return refusal.into_response(media);
        }
    };
    let timeout = state.config.request_timeout;
    let role = who.as_ref().map_or("anonymous", |w| w.role.as_str());
    let run = crate::checks::execute(&state.schema, &state.budgets, who.as_ref(), request);
    // An answer that arrives after the limit is refused like one that never arrived, so
    // that the limit is the same whether the timer or the work finishes first.
    let response = match tokio::time::timeout(timeout, run).await {
        Ok(r) if started.elapsed() <= timeout => r,
        _ => {
            count("TIMEOUT");
            tracing::warn!(operation, "request timed out");
            return Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TIMEOUT",
                format!(
                    "the request ran longer than {} ms and was stopped",
                    timeout.as_millis()
                ),
            )
            .into_response(media);
        }
    };
    tracing::debug!(
        operation,
        role,
        duration_ms = started.elapsed().as_millis() as u64,
        ok = response.errors.is_empty(),
        "graphql request"
    );
    let outcome = response.errors.first().map_or("ok", |e| {
        match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(code)) => code.as_str(),
            _ => "error",
        }
    });
    count(outcome);
    graphql_response(media, response)
}

/// The operation's type as a metrics label: `query`, `mutation`, `subscription`, or
/// `invalid` for a document that does not parse or select one operation.
fn operation_kind(request: &mut async_graphql::Request) -> &'static str {
    use async_graphql::parser::types::OperationType;
    match selected_operation(request).map(|op| op.ty) {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "invalid",
    }
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let media = Media::negotiate(&headers);
    let request = match read_post_body(&headers, body, state.config.max_body_bytes)
        .await
        .and_then(request_from)
    {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(media),
    };
    execute(&state, &headers, request).await
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let media = Media::negotiate(&headers);
    let params = match get_params(pairs) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(media),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    // A browser asks for a page (its `?query=` fills GraphiQL's editor); GraphQL clients
    // ask for JSON.
    if wants_html {
        return crate::graphiql::page();
    }
    let Some(params) = params else {
        return Refusal::bad_request("query: a GraphQL document is required").into_response(media);
    };
    let mut request = match request_from(params) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(media),
    };
    // GET may carry queries only: a mutation over GET could be triggered by a link.
    if runs_mutation(&mut request) {
        return Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations need POST",
        )
        .with_header(header::ALLOW, "POST")
        .into_response(media);
    }
    execute(&state, &headers, request).await
}

async fn graphql_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    use async_graphql::http::WebSocketProtocols;
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        });
    let Some(protocol) = protocol else {
        return Refusal::bad_request(
            "Sec-WebSocket-Protocol: graphql-transport-ws or graphql-ws is required",
        )
        .into_response(Media::Json);
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol))
}

/// The close code of a socket whose token is missing, unknown or revoked.
const CLOSE_FORBIDDEN: u16 = 4403;

/// How often an open socket's token is checked again: revoking a token closes its sockets
/// within this time (and every operation checks it when it starts).
const TOKEN_RECHECK: Duration = Duration::from_millis(500);

/// Serves one WebSocket: the GraphQL protocol from async-graphql, with the token checked at
/// `connection_init` (a missing or bad one closes the socket with 4403 instead of an ack),
/// kept with the connection for every operation, and checked again while the socket is
/// open, so that revoking it closes the socket with 4403.
async fn serve_socket(
    socket: axum::extract::ws::WebSocket,
    state: AppState,
    protocol: async_graphql::http::WebSocketProtocols,
) {
    use axum::extract::ws::{CloseFrame, Message};
    use futures_util::{SinkExt, StreamExt};

    /// Counts the socket as open for as long as this function runs, however it ends.
    struct Open(prometheus::IntGauge);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    state.metrics.websockets.inc();
    let _open = Open(state.metrics.websockets.clone());

    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|m| futures_util::future::ready(m.is_ok()))
        .filter_map(|m| {
            futures_util::future::ready(match m {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
                _ => None,
            })
        });
    let live: Arc<std::sync::Mutex<Option<crate::auth::LiveToken>>> = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checked = crate::checks::Checked {
        schema: state.schema.clone(),
        budgets: state.budgets.clone(),
        who: Arc::default(),
    };
    let init = {
        let (live, refused, tokens) = (live.clone(), refused.clone(), state.tokens.clone());
        let who = checked.who.clone();
        move |payload: serde_json::Value| async move {
            // The token comes in the connection_init payload, as
            // {"authorization": "Bearer <token>"} or {"token": "<token>"}.
            let token = payload
                .get("authorization")
                .or_else(|| payload.get("Authorization"))
                .and_then(|v| v.as_str())
                .map(|v| v.trim_start_matches("Bearer ").trim().to_owned())
                .or_else(|| {
                    payload
                        .get("token")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                });
            let identity = match &token {
                Some(t) => tokens.authenticate(t).ok().flatten(),
                None => None,
            };
            let (Some(token), Some(identity)) = (token, identity) else {
                refused.store(true, std::sync::atomic::Ordering::Release);
                return Err(async_graphql::Error::new(
                    "a valid bearer token is required",
                ));
            };
            let token = crate::auth::LiveToken { token, tokens };
            if let Ok(mut slot) = live.lock() {
                *slot = Some(token.clone());
            }
            if let Ok(mut slot) = who.lock() {
                *slot = Some(identity.clone());
            }
            let mut data = async_graphql::Data::default();
            data.insert(identity);
            data.insert(token);
            Ok(data)
        }
    };
    let outgoing =
        async_graphql::http::WebSocket::new(checked, input, protocol).on_connection_init(init);
    futures_util::pin_mut!(outgoing);
    let forbidden = |reason: &str| {
        Message::Close(Some(CloseFrame {
            code: CLOSE_FORBIDDEN,
            reason: reason.to_owned().into(),
        }))
    };
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    loop {
        tokio::select! {
            item = outgoing.next() => {
                let Some(item) = item else { break };
                let message = match item {
                    async_graphql::http::WsMessage::Text(text) => Message::Text(text.into()),
                    async_graphql::http::WsMessage::Close(_, reason)
                        if refused.load(std::sync::atomic::Ordering::Acquire) =>
                    {
                        forbidden(&reason)
                    }
                    async_graphql::http::WsMessage::Close(code, reason) => {
                        Message::Close(Some(CloseFrame { code, reason: reason.into() }))
                    }
                };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
            _ = recheck.tick() => {
                let token = live.lock().ok().and_then(|slot| slot.clone());
                if token.is_some_and(|t| !t.is_valid()) {
                    let _ = sink.send(forbidden("token revoked")).await;
                    return;
                }
            }
        }
    }
    // The legacy protocol answers a refused init with a connection_error message; close
    // the socket with the same code as the current protocol does.
    if refused.load(std::sync::atomic::Ordering::Acquire) {
        let _ = sink
            .send(forbidden("a valid bearer token is required"))
            .await;
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests and
/// shuts the engine down (read-model snapshots, store flush).
pub async fn run(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    tokens: Arc<Tokens>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(engine.clone(), tokens, &config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let signing = config
        .signer
        .clone()
        .map(|signer| tokio::spawn(sign_periodically(signer, engine.clone(), config.sign_every)));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = signing {
        task.abort();
    }
    served?;
    // The last flush and the read models' snapshots: a failure here means acknowledged
    // work may not be where the next start expects it, so the caller must hear of it.
    engine
        .shutdown()
        .await
        .map_err(|e| std::io::Error::other(format!("the final flush failed: {e}")))?;
    Ok(())
}

/// Signs the tree head every `every` if the log grew, so that heads exist (and reach the
/// heads file) even when nobody asks for one.
async fn sign_periodically(
    signer: Arc<crate::audit::HeadSigner>,
    engine: Arc<Engine>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let (signer, engine) = (signer.clone(), engine.clone());
        match tokio::task::spawn_blocking(move || signer.current(engine.store())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "signing the tree head failed"),
            Err(e) => tracing::error!(error = %e, "signing the tree head failed"),
        }
    }
}
