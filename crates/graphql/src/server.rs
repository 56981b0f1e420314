//! The HTTP server: GraphQL over POST and GET, WebSocket subscriptions, GraphiQL, health.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dealtrail_engine::Engine;

use crate::auth::{Identity, Tokens};
use crate::schema::{self, DealtrailSchema};

/// Limits and switches of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
    /// Whether the schema can be introspected.
    pub introspection: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            introspection: true,
        }
    }
}

#[derive(Clone)]
struct AppState {
    schema: DealtrailSchema,
    engine: Arc<Engine>,
    tokens: Arc<Tokens>,
    timeout: Duration,
}

/// The router: `/graphql` (POST, GET queries, GraphiQL in a browser), `/graphql/ws`
/// (subscriptions, both WebSocket protocols), `/healthz` (process up) and `/readyz` (store
/// open, read models following the log).
pub fn router(engine: Arc<Engine>, tokens: Arc<Tokens>, config: &ServerConfig) -> Router {
    let state = AppState {
        schema: schema::build(engine.clone(), config.introspection),
        engine,
        tokens,
        timeout: config.request_timeout,
    };
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

/// Read models further behind the log than this are reported as not ready.
const READY_LAG: u64 = 10_000;

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
    body.insert("ready".into(), ready.into());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(serde_json::Value::Object(body))).into_response()
}

/// The media type of GraphQL responses: `application/graphql-response+json` unless the
/// client asks for `application/json` only (legacy clients).
fn legacy_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.contains("application/json") && !a.contains("application/graphql-response+json")
        })
}

/// Whether the operation a request would run is a mutation (or the document cannot say).
fn runs_mutation(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops
                .get(name.as_str())
                .is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn identify(state: &AppState, token: Option<&str>) -> Option<Identity> {
    let token = token?;
    match state.tokens.authenticate(token) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::error!(error = %e, "token file unreadable");
            None
        }
    }
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> Response {
    let operation = request.operation_name.clone().unwrap_or_default();
    let mut request = request;
    let role = match identify(state, bearer(headers)) {
        Some(identity) => {
            let role = identity.role.as_str();
            request = request.data(identity);
            role
        }
        None => "anonymous",
    };
    let started = std::time::Instant::now();
    let response = match tokio::time::timeout(state.timeout, state.schema.execute(request)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(operation, "request timed out");
            return (StatusCode::SERVICE_UNAVAILABLE, "request timed out").into_response();
        }
    };
    tracing::info!(
        operation,
        role,
        duration_ms = started.elapsed().as_millis() as u64,
        ok = response.errors.is_empty(),
        "graphql request"
    );
    // Errors without a path come before execution (syntax, validation, limits): the
    // request was not a GraphQL request this server can run.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let legacy = legacy_json(headers);
    let mut http = GraphQLResponse::from(response).into_response();
    if legacy {
        http.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    } else if request_error {
        *http.status_mut() = StatusCode::BAD_REQUEST;
    }
    http
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    execute(&state, &headers, request.into_inner()).await
}

async fn graphql_get(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    match request.ok() {
        None if wants_html && method == Method::GET => Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response(),
        None => (StatusCode::BAD_REQUEST, "missing query").into_response(),
        Some(request) => {
            let request = request.into_inner();
            // GET may carry queries only: a mutation over GET could be triggered by a link.
            if runs_mutation(&request) {
                return (StatusCode::METHOD_NOT_ALLOWED, "mutations need POST").into_response();
            }
            execute(&state, &headers, request).await
        }
    }
}

async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = state.schema.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    // The token comes in the connection_init payload, as
                    // {"authorization": "Bearer <token>"} or {"token": "<token>"}.
                    let token = payload
                        .get("authorization")
                        .or_else(|| payload.get("Authorization"))
                        .and_then(|v| v.as_str())
                        .map(|v| v.trim_start_matches("Bearer ").to_owned())
                        .or_else(|| {
                            payload
                                .get("token")
                                .and_then(|v| v.as_str())
                                .map(str::to_owned)
                        });
                    let mut data = async_graphql::Data::default();
                    if let Some(identity) = identify(&state, token.as_deref()) {
                        data.insert(identity);
                    }
                    Ok(data)
                })
                .serve()
                .await
        })
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
    let app = router(engine.clone(), tokens, &config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Err(e) = engine.shutdown().await {
        tracing::error!(error = %e, "shutdown incomplete");
    }
    Ok(())
}
