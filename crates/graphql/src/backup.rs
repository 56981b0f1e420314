//! `GET /export/events`: the log as `dealtrail export events` writes it (one JSON envelope
//! per line, restorable with `import events`), streamed from a running server, so that a
//! backup needs no downtime. It reads up to the durable head as it stood when the request
//! began: whatever is written meanwhile, the backup restores to a log the server had.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Role;
use crate::http::{Media, Refusal};
use crate::server::{AppState, authenticate, unauthenticated};

/// Events read per chunk of the answer.
const PAGE: usize = 1_000;

/// Whether the token is good and its role one of `roles`; else the refusal (401, or 403
/// with `forbidden`).
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    roles: &[Role],
    forbidden: &'static str,
) -> Result<(), Refusal> {
    let who = match authenticate(state, headers) {
        Ok(who) => who,
        Err(Ok(why)) => return Err(unauthenticated(why)),
        Err(Err(refusal)) => return Err(refusal),
    };
    if !roles.contains(&who.role) {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "FORBIDDEN", forbidden));
    }
    Ok(())
}

/// Streams events `from` (default 1) to the durable head, for admins and auditors.
pub(crate) async fn export_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let media = Media::Json;
    if let Err(refused) = authorize(
        &state,
        &headers,
        &[Role::Admin, Role::Auditor],
        "only admins and auditors may export the log",
    ) {
        return refused.into_response(Media::Json);
    }
    let from = match params.get("from").map(|f| f.parse::<u64>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return Refusal::bad_request("from: a sequence number, 1 or more").into_response(media);
        }
    };
    let store = state.engine.store().clone();
    let head = store.head().seq;
    let pages = futures_util::stream::unfold(from, move |next| {
        let store = store.clone();
        async move {
            if next > head {
                return None;
            }
            let limit = PAGE.min(usize::try_from(head - next + 1).unwrap_or(PAGE));
            let read = tokio::task::spawn_blocking(move || store.read_all(next, limit)).await;
            let chunk = match read {
                Ok(Ok(events)) if !events.is_empty() => {
                    let mut out = Vec::with_capacity(events.len() * 900);
                    for e in &events {
                        let record = dealtrail_engine::backup::EnvelopeRecord::from_recorded(e);
                        if serde_json::to_writer(&mut out, &record).is_err() {
                            return Some((Err(std::io::Error::other("encoding")), head + 1));
                        }
                        out.push(b'\n');
                    }
                    let last = events.last().map_or(head, |e| e.seq);
                    return Some((Ok(Bytes::from(out)), last + 1));
                }
                Ok(Ok(_)) => Err(std::io::Error::other(format!("event {next} is missing"))),
                Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            // Ending the body with an error breaks the response off: the client sees an
            // incomplete transfer, never a silently short backup.
            tracing::error!(error = ?chunk.as_ref().err(), "export stream failed");
            Some((chunk, head + 1))
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    // The head the export ends at, so a client can tell a complete transfer.
    headers.insert("x-dealtrail-head", header::HeaderValue::from(head));
    response
}

/// `GET /export/keys`: the personal-data keys as `dealtrail export keys` writes them, so an
/// online backup can be restored with its contacts' names. Admins only: the keys open
/// personal data, which auditors do not read.
pub(crate) async fn export_keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(
        &state,
        &headers,
        &[Role::Admin],
        "only admins may export the personal-data keys",
    ) {
        return refused.into_response(Media::Json);
    }
    let lines = match state.engine.store().vault().export_lines() {
        Ok(lines) => lines,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the personal-data keys");
            return Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "STORAGE_UNAVAILABLE",
                "the personal-data keys cannot be read now; no partial export is sent",
            )
            .into_response(Media::Json);
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/x-ndjson"),
        )],
        lines,
    )
        .into_response()
}
