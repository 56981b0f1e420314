//! The raw log for auditors: `head`, `events`, `streamHistory`, `verify`.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::Timestamp;
use dealtrail_store::{LogFilter, StreamId};

use crate::access::{engine, require};
use crate::auth::Role;
use crate::errors::{engine_error, error, field, optional};
use crate::page::{PageArgs, fingerprint};
use crate::scalars::{DateTime, UInt64};

/// One event of the raw log with its whole envelope.
#[derive(SimpleObject)]
pub struct EventEnvelope {
    /// Global id (`event-<seq>`), for `node(id:)`.
    pub id: async_graphql::ID,
    /// Global position, dense from 1.
    pub seq: UInt64,
    /// Stream (`account-<id>`, `opportunity-<id>`, `pipeline`).
    pub stream: String,
    /// Position in the stream, dense from 1.
    pub version: UInt64,
    /// Stable type name.
    pub event_type: String,
    /// Version of the payload's schema.
    pub schema_version: u16,
    /// When the server recorded it.
    pub recorded_at: DateTime,
    /// The business time stated for it.
    pub occurred_at: DateTime,
    /// Who recorded it (from the token, never from input).
    pub actor: String,
    /// The request it belongs to.
    pub correlation_id: Option<String>,
    /// What caused it.
    pub causation_id: Option<String>,
    /// The payload as JSON.
    pub payload: async_graphql::Json<serde_json::Value>,
    /// Hash of the previous event (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

pub(crate) fn envelope(e: &dealtrail_store::RecordedEvent) -> EventEnvelope {
    let payload = dealtrail_engine::backup::payload_json(e);
    EventEnvelope {
        id: crate::node::event_id(e.seq),
        seq: e.seq.into(),
        stream: e.stream.to_string(),
        version: e.version.into(),
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        recorded_at: DateTime(Timestamp(e.recorded_at.0)),
        occurred_at: DateTime(Timestamp(e.occurred_at.0)),
        actor: e.actor.clone(),
        correlation_id: e.correlation_id.map(|u| u.to_string()),
        causation_id: e.causation_id.map(|u| u.to_string()),
        payload: async_graphql::Json(payload),
        prev_hash: e.prev_hash.to_hex(),
        hash: e.hash.to_hex(),
    }
}

/// Part of one stream's history.
#[derive(SimpleObject)]
pub struct StreamHistory {
    /// The stream.
    pub stream: String,
    /// Its version (events in it) now.
    pub version: UInt64,
    /// The events asked for, in stream order.
    pub events: Vec<EventEnvelope>,
}

/// The end of the log.
#[derive(SimpleObject)]
pub struct LogHead {
    /// Last sequence number.
    pub seq: UInt64,
    /// Its hash (hex).
    pub hash: String,
    /// The root of the Merkle tree over events 1 to `seq` (hex, SHA-256; docs/store.md).
    pub root: String,
}

/// The result of re-walking the log.
#[derive(SimpleObject)]
pub struct Verification {
    /// True when every check passed.
    pub intact: bool,
    /// Events checked.
    pub events_checked: UInt64,
    /// The first bad sequence number, if any.
    pub first_bad_seq: Option<UInt64>,
    /// What is wrong there.
    pub problem: Option<String>,
}

/// What the `events` connection says besides its edges.
pub struct LogTotals {
    filter: LogFilter,
    from_seq: u64,
}

#[Object]
impl LogTotals {
    /// Events the filter selects in the whole log (every page). With a stream, type, actor
    /// or time filter this reads the log through the selected range.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<UInt64> {
        let engine = engine(ctx).clone();
        let (filter, from_seq) = (self.filter.clone(), self.from_seq);
        let seq_range_only = LogFilter {
            to_seq: filter.to_seq,
            ..LogFilter::default()
        } == filter;
        tokio::task::spawn_blocking(move || {
            let head = engine
                .store()
                .head()
                .seq
                .min(filter.to_seq.unwrap_or(u64::MAX));
            if seq_range_only {
                return Ok(head.saturating_sub(from_seq - 1));
            }
            let mut total = 0u64;
            let mut next = Some(from_seq);
            while let Some(from) = next {
                let page = engine.store().read_log(&filter, from, 10_000)?;
                total += page.events.len() as u64;
                next = page.next_seq;
            }
            Ok::<_, dealtrail_store::StoreError>(total)
        })
        .await
        .map_err(|_| error("INTERNAL", "internal error"))?
        .map(UInt64)
        .map_err(|e| engine_error(e.into()))
    }
}

/// The raw log for auditors: head, events, stream histories, verification.
#[derive(Default)]
pub struct LogQuery;

#[Object]
impl LogQuery {
    /// The end of the raw log. Auditors and admins.
    async fn head(&self, ctx: &Context<'_>) -> async_graphql::Result<LogHead> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let head = engine(ctx).store().head();
        Ok(LogHead {
            seq: head.seq.into(),
            hash: head.hash.to_hex(),
            root: dealtrail_store::heads::tree_hex(&head.root),
        })
    }

    /// The raw log, filtered, as a forward Relay connection whose cursors are sequence
    /// numbers. Auditors and admins.
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Continue after this cursor (a sequence number)")] after: Option<String>,
        #[graphql(desc = "At most this many (up to 500; 100 if absent)")] first: Option<i32>,
        #[graphql(desc = "Only this stream (`account-<id>`, `opportunity-<id>`, `pipeline`)")]
        stream: Option<String>,
        #[graphql(desc = "Only these event types")] event_types: Option<Vec<String>>,
        #[graphql(desc = "Only events recorded by this user")] actor: Option<String>,
        #[graphql(desc = "Recorded at or after")] recorded_from: Option<DateTime>,
        #[graphql(desc = "Recorded before")] recorded_until: Option<DateTime>,
        #[graphql(desc = "From this sequence number on")] from_seq: Option<UInt64>,
        #[graphql(desc = "Up to and including this sequence number")] to_seq: Option<UInt64>,
    ) -> async_graphql::Result<Connection<String, EventEnvelope, LogTotals>> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let first = crate::page::page_size(first)?;
        let ts = |v: Option<DateTime>| v.map(|t| dealtrail_store::Timestamp(t.0.0));
        let filter = LogFilter {
            stream: optional("stream", stream, StreamId::parse)?,
            event_types: event_types.unwrap_or_default().into_iter().collect(),
            actor,
            recorded_from: ts(recorded_from),
            recorded_until: ts(recorded_until),
            to_seq: to_seq.map(|s| s.0),
        };
        let from_seq = from_seq.map_or(1, |s| s.0.max(1));
        let print = fingerprint("events", &(&filter, from_seq));
        let after = PageArgs {
            after,
            before: None,
            first: None,
            last: None,
        }
        .check::<u64>(&print)?
        .after()
        .copied();
        let start = after.map_or(from_seq, |a| a.saturating_add(1).max(from_seq));
        let engine = engine(ctx).clone();
        let wanted = filter.clone();
        // A page of the store stops after a bounded scan; keep reading until the page is
        // full or the log ends, so that every page but the last is full and has a cursor.
        let (events, more) = tokio::task::spawn_blocking(move || {
            let mut events = Vec::new();
            let mut next = Some(start);
            while let Some(from) = next {
                if events.len() >= first {
                    break;
                }
                let page = engine
                    .store()
                    .read_log(&wanted, from, first - events.len())?;
                events.extend(page.events);
                next = page.next_seq;
            }
            Ok::<_, dealtrail_store::StoreError>((events, next.is_some()))
        })
        .await
        .map_err(|_| error("INTERNAL", "internal error"))?
        .map_err(|e| engine_error(e.into()))?;
        let mut c = Connection::with_additional_fields(
            start > from_seq,
            more,
            LogTotals { filter, from_seq },
        );
        c.edges = events
            .iter()
            .map(|e| Edge::new(crate::page::cursor(&print, &e.seq), envelope(e)))
            .collect();
        Ok(c)
    }

    /// One stream's full history in order (an account, a deal or the pipeline), from a
    /// version on. Auditors and admins.
    async fn stream_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`account-<id>`, `opportunity-<id>` or `pipeline`")] stream: String,
        #[graphql(desc = "First version to return (from 1)")] from_version: Option<UInt64>,
        #[graphql(desc = "At most this many (up to 500; 100 if absent)")] first: Option<i32>,
    ) -> async_graphql::Result<StreamHistory> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let id = field("stream", StreamId::parse(stream))?;
        let first = crate::page::page_size(first)?;
        let store = engine(ctx).store();
        let version = store
            .stream_version(&id)
            .map_err(|e| engine_error(e.into()))?;
        let events = store
            .read_stream(
                &id,
                from_version.map_or(1, |v| v.0).max(1),
                dealtrail_store::Direction::Forward,
                first,
            )
            .map_err(|e| engine_error(e.into()))?;
        Ok(StreamHistory {
            stream: id.to_string(),
            version: version.into(),
            events: events.iter().map(envelope).collect(),
        })
    }

    /// Re-walks the whole log and its indexes. Auditors and admins.
    async fn verify(&self, ctx: &Context<'_>) -> async_graphql::Result<Arc<Verification>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Auditor, Role::Admin])?;
            let engine = engine(ctx).clone();
            let report = tokio::task::spawn_blocking(move || engine.store().verify())
                .await
                .map_err(|_| error("INTERNAL", "internal error"))?
                .map_err(|e| engine_error(e.into()))?;
            Ok(Verification {
                intact: report.is_intact(),
                events_checked: report.events_checked.into(),
                first_bad_seq: report.problem.as_ref().map(|p| p.seq.into()),
                problem: report.problem.map(|p| p.kind.to_string()),
            })
        })
        .await
    }
}
