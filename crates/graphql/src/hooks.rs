//! Inbound webhooks: `POST /hooks/<name>` from a chat or calendar tool ("meeting held"),
//! authenticated by an HMAC-SHA256 signature of the timestamp and the body with the hook's
//! secret (as Stripe signs its webhooks), refused when older than five minutes, and written
//! as a follow-up of the deal it names (participants matched as `quickLog` matches them),
//! under the actor `hook-<name>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dealtrail_domain::{AccountId, Channel, Date, Function, OpportunityId, Text, UserId};
use dealtrail_engine::Issued;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use crate::capture::{Capture, resolve};
use crate::http::{Media, Refusal, read_bytes};
use crate::server::AppState;

/// How old a signed delivery may be (and how far in the future its clock may run).
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Largest body a hook accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// A configured hook: its name (in the URL and the actor) and its secret.
#[derive(Clone)]
pub struct Hook {
    /// The name, `[a-z0-9-]`.
    pub name: String,
    /// The shared secret the sender signs with.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook").field("name", &self.name).finish()
    }
}

impl Hook {
    /// A hook named `name` with the secret in `text` (surrounding whitespace ignored).
    pub fn new(name: &str, text: &str) -> Result<Hook, String> {
        Hook::check_name(name)?;
        let secret = text.trim().as_bytes().to_vec();
        if secret.len() < 16 {
            return Err(format!(
                "hook {name}: the secret needs at least 16 characters"
            ));
        }
        Ok(Hook {
            name: name.to_owned(),
            secret,
        })
    }

    /// Refuses a name that cannot be a URL segment and an actor: 1 to 64 of a-z, 0-9, -.
    pub fn check_name(name: &str) -> Result<(), String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(())
        } else {
            Err(format!("hook name {name:?}: 1 to 64 of a-z, 0-9 and -"))
        }
    }

    /// The signature header's value for `timestamp` and `body`: `sha256=<hex>`.
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        format!(
            "sha256={}",
            dealtrail_store::heads::hex(&self.mac(timestamp, body).finalize().into_bytes())
        )
    }

    fn mac(&self, timestamp: u64, body: &[u8]) -> Hmac<sha2::Sha256> {
        // Any key length is valid for HMAC.
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Whether `signature` (`sha256=<hex>`) is this hook's for `timestamp` and `body`,
    /// compared in constant time.
    fn verifies(&self, timestamp: u64, body: &[u8], signature: &str) -> bool {
        let Some(hex) = signature.strip_prefix("sha256=") else {
            return false;
        };
        let Some(bytes) = dealtrail_store::heads::unhex::<32>(hex) else {
            return false;
        };
        self.mac(timestamp, body).verify_slice(&bytes).is_ok()
    }
}

/// What a sender posts: a follow-up held on a deal.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Delivery {
    /// The deal (or `accountId`, whose one open deal is taken).
    opportunity_id: Option<String>,
    /// The account, when the deal is not known.
    account_id: Option<String>,
    /// visit, call, message, email or meeting.
    channel: String,
    /// What happened.
    summary: String,
    /// Who took part, by name or e-mail, matched to registered contacts as `quickLog` does.
    #[serde(default)]
    participants: Vec<String>,
    /// The agreed next step.
    next_step: Option<String>,
    /// When it is due, `YYYY-MM-DD`.
    next_step_due: Option<String>,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    Refusal::new(status, code, message).into_response(Media::Json)
}

/// `POST /hooks/<name>`.
pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = state.config.hooks.iter().find(|h| h.name == name).cloned() else {
        return refused(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no hook {name:?}"),
        );
    };
    let bytes = match read_bytes(&headers, body, MAX_BODY).await {
        Ok(b) => b,
        Err(refusal) => return refusal.into_response(Media::Json),
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let Some(timestamp) = header("x-dealtrail-timestamp").and_then(|t| t.parse::<u64>().ok())
    else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "X-Dealtrail-Timestamp (seconds since the Unix epoch) is required",
        );
    };
    let signature = header("x-dealtrail-signature").unwrap_or_default();
    if !hook.verifies(timestamp, &bytes, signature) {
        return refused(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "X-Dealtrail-Signature is not this hook's HMAC-SHA256 of the timestamp, '.', and the body",
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(timestamp) > MAX_AGE.as_secs() {
        return refused(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            format!(
                "the delivery was signed {} s from now; at most {} s are accepted (a replay?)",
                now.abs_diff(timestamp),
                MAX_AGE.as_secs()
            ),
        );
    }
    let delivery: Delivery = match serde_json::from_slice(&bytes) {
        Ok(d) => d,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body: {e}"),
            );
        }
    };
    let capture = match capture(delivery) {
        Ok(c) => c,
        Err(message) => return refused(StatusCode::BAD_REQUEST, "VALIDATION", message),
    };
    let captured = match resolve(&state.engine, capture, Function::Sales, None) {
        Ok(c) => c,
        Err(e) => {
            let status = match e.code {
                "NOT_FOUND" => StatusCode::NOT_FOUND,
                "AMBIGUOUS_DEAL" => StatusCode::CONFLICT,
                "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            return refused(status, e.code, e.message);
        }
    };
    let actor = match UserId::parse(format!("hook-{}", hook.name)) {
        Ok(a) => a,
        Err(e) => return refused(StatusCode::BAD_REQUEST, "VALIDATION", e.to_string()),
    };
    let issued = Issued {
        // A sender that retries a delivery with its id writes it once.
        idempotency_key: header("x-dealtrail-delivery").map(|d| format!("hook:{d}")),
        fingerprint: Some(*blake3::hash(&bytes).as_bytes()),
        ..Issued::by(actor)
    };
    match state.engine.execute(issued, captured.command).await {
        Ok(done) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "seq": done.receipt.last_seq.to_string(),
                "replayed": done.replayed,
                "opportunityId": captured.deal.to_string(),
                "matched": captured.matched.iter().map(|m| m.1.to_string()).collect::<Vec<_>>(),
                "unregisteredParticipants": captured.unmatched,
            })),
        )
            .into_response(),
        Err(e) => {
            let error = crate::errors::engine_error(e);
            let code = error.extensions.as_ref().and_then(|x| x.get("code"));
            let is = |c: &str| code == Some(&async_graphql::Value::from(c));
            let (status, code) = if is("NOT_FOUND") {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            } else if is("STORAGE_UNAVAILABLE") {
                (StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE")
            } else if is("IDEMPOTENCY_KEY_REUSED") {
                (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED")
            } else if is("INTERNAL") {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
            } else {
                (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION")
            };
            refused(status, code, error.message)
        }
    }
}

/// The capture a delivery describes.
fn capture(d: Delivery) -> Result<Capture, String> {
    let deal = d
        .opportunity_id
        .map(|s| OpportunityId::parse(&s))
        .transpose()
        .map_err(|e| format!("opportunityId: {e}"))?;
    let account = d
        .account_id
        .map(|s| AccountId::parse(&s))
        .transpose()
        .map_err(|e| format!("accountId: {e}"))?;
    let channel = Channel::parse(&d.channel).ok_or_else(|| {
        format!(
            "channel: unknown value {:?} (one of: {})",
            d.channel,
            <Channel as dealtrail_domain::Vocabulary>::names()
        )
    })?;
    let summary = Text::parse(d.summary).map_err(|e| format!("summary: {e}"))?;
    let next_step = d
        .next_step
        .map(Text::parse)
        .transpose()
        .map_err(|e| format!("nextStep: {e}"))?;
    let next_step_due = d
        .next_step_due
        .map(|s| Date::parse(&s))
        .transpose()
        .map_err(|e| format!("nextStepDue: {e}"))?;
    Ok(Capture {
        deal,
        account,
        participants: d.participants,
        channel,
        summary,
        next_step,
        next_step_due,
    })
}
