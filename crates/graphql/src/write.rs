//! The command path of every mutation: options, the engine call, the result, and the
//! fingerprint that binds an idempotency key to its command.

use async_graphql::{Context, InputObject, SimpleObject};
use dealtrail_domain::{StageName, Timestamp};
use dealtrail_engine::{Command, Committed, Issued};
use dealtrail_funnel::Cut;
use dealtrail_store::ExpectedVersion;

use crate::access::engine;
use crate::auth::Identity;
use crate::deals::{Deal, deal_row};
use crate::errors::{engine_error, error, field};
use crate::log::{EventEnvelope, envelope};
use crate::scalars::{DateTime, UInt64};

/// What a mutation wrote.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CommandResult {
    /// The stream written to.
    #[graphql(skip)]
    pub target: dealtrail_domain::StreamName,
    /// The events written (or, for a retry, written the first time).
    pub events: Vec<EventEnvelope>,
    /// True when this was a retry answered from the first attempt.
    pub replayed: bool,
    /// The stream's version after the write.
    pub version: UInt64,
}

#[async_graphql::ComplexObject]
impl CommandResult {
    /// The deal written to, as it stands after the write (null for other streams).
    async fn opportunity(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Deal>> {
        let dealtrail_domain::StreamName::Opportunity(id) = self.target else {
            return Ok(None);
        };
        let row = engine(ctx)
            .sales()
            .read(|m| m.deals.get(&id).and_then(|d| m.view(d, Cut::ALL)))
            .map_err(engine_error)?;
        Ok(row.map(deal_row))
    }

    /// The account written to, as it stands after the write (null for other streams).
    async fn account(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::accounts::Account>> {
        let dealtrail_domain::StreamName::Account(id) = self.target else {
            return Ok(None);
        };
        crate::accounts::account_view(ctx, id, u64::MAX, Timestamp(i64::MAX))
    }
}

/// Options every mutation takes.
#[derive(InputObject, Default)]
pub struct WriteOptions {
    /// Fail with CONFLICT unless the stream holds exactly this many events.
    pub expected_version: Option<UInt64>,
    /// A retry with the same key returns the first result and writes nothing.
    pub idempotency_key: Option<String>,
    /// Business time; defaults to now.
    pub occurred_at: Option<DateTime>,
}

pub(crate) async fn run(
    ctx: &Context<'_>,
    who: Identity,
    options: Option<WriteOptions>,
    command: Command,
) -> async_graphql::Result<CommandResult> {
    let options = options.unwrap_or_default();
    let target = command.stream();
    let fingerprint = match &options.idempotency_key {
        Some(_) => Some(command_fingerprint(ctx)?),
        None => None,
    };
    let issued = Issued {
        actor: who.user,
        occurred_at: options.occurred_at.map(|t| t.0),
        expected: options
            .expected_version
            .map(|v| ExpectedVersion::Exact(v.0)),
        idempotency_key: options.idempotency_key,
        fingerprint,
    };
    let committed: Committed = engine(ctx)
        .execute(issued, command)
        .await
        .map_err(engine_error)?;
    let stored = engine(ctx)
        .store()
        .read_all(committed.receipt.first_seq, committed.events.len())
        .map_err(|e| engine_error(e.into()))?;
    Ok(CommandResult {
        target,
        events: stored.iter().map(envelope).collect(),
        replayed: committed.replayed,
        version: committed.receipt.last_version.into(),
    })
}

/// A hash of the mutation as the client stated it: its name and its arguments with
/// variables resolved, objects with sorted keys. A retry sends the same; another command
/// under the same idempotency key does not.
pub(crate) fn command_fingerprint(ctx: &Context<'_>) -> async_graphql::Result<[u8; 32]> {
    let field = ctx.field();
    let mut arguments = field.arguments()?;
    arguments.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = blake3::Hasher::new();
    hasher.update(field.name().as_bytes());
    for (name, value) in arguments {
        let value =
            serde_json::to_value(&value).map_err(|_| error("INTERNAL", "internal error"))?;
        hasher.update(b"\0");
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.to_string().as_bytes());
    }
    Ok(*hasher.finalize().as_bytes())
}

pub(crate) fn new_or(id: Option<String>, name: &str) -> async_graphql::Result<uuid::Uuid> {
    match id {
        Some(s) => field(name, uuid::Uuid::parse_str(&s)),
        None => Ok(uuid::Uuid::now_v7()),
    }
}

/// The first stage of the pipeline in force, where every deal opens.
pub(crate) fn first_stage(ctx: &Context<'_>) -> async_graphql::Result<StageName> {
    let (_, state) = engine(ctx).pipeline_state().map_err(engine_error)?;
    Ok(state
        .current
        .unwrap_or_else(dealtrail_domain::Pipeline::default_b2b)
        .first_stage()
        .clone())
}
