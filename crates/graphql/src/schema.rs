//! The GraphQL schema: queries, mutations and subscriptions over the engine. Knows nothing
//! of HTTP; the caller's identity arrives as request data.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, Object, Schema, SimpleObject, Subscription,
};
use dealtrail_domain::account::{AccountRegistered, ContactRegistered};
use dealtrail_domain::opportunity::OpportunityOpened;
use dealtrail_domain::{
    AccountCommand, AccountId, BuyingRole, ContactId, Currency, ExternalId, Label, Money, Name,
    OpportunityCommand, OpportunityId, OrgUnitId, Outcome, Seniority, StageName, Text, Timestamp,
};
use dealtrail_engine::{Command, Committed, Engine, EngineError, Issued};
use dealtrail_funnel::{Cut, DealFilter, DealSort, FunnelQuery, SizeBand};
use dealtrail_store::{ExpectedVersion, LogFilter, StreamId};

use crate::auth::{Identity, Role};
use crate::corrections::{
    BidInput, BusinessIndicatorInput, ContactEngagementInput, CrossFunctionalRecordInput,
    FollowUpRecordInput, PurchaseInput, ServiceInteractionInput, may_record,
};
use crate::page::{Page, PageArgs, connection, fingerprint};
use crate::scalars::{self, DateTime, Decimal, MoneyInput, UInt64};

/// The schema type served at `/graphql`.
pub type DealtrailSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Most items one page returns.
pub const MAX_PAGE: usize = 500;

/// Builds the schema over an engine.
pub fn build(engine: Arc<Engine>, introspection: bool) -> DealtrailSchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(engine)
    .data(FunnelCache::default())
    .extension(crate::checks::RequestChecks)
    .limit_complexity(5_000);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

/// A typed GraphQL error with a stable `extensions.code`.
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub(crate) fn engine_error(e: EngineError) -> async_graphql::Error {
    use dealtrail_domain::DomainError;
    match e {
        // The stream the command is addressed to does not exist (yet).
        EngineError::Rejected(
            d @ (DomainError::AccountNotRegistered
            | DomainError::OpportunityNotOpened
            | DomainError::UnknownEvent { .. }),
        ) => error("NOT_FOUND", d.to_string()),
        EngineError::Rejected(d) => error("VALIDATION", d.to_string()),
        EngineError::Invalid(i) => error("VALIDATION", i.to_string()),
        e @ EngineError::Conflict { .. } => error("CONFLICT", e.to_string()),
        e @ (EngineError::IdempotencyKeyReused { .. }
        | EngineError::IdempotencyKeyMismatch { .. }) => {
            error("IDEMPOTENCY_KEY_REUSED", e.to_string())
        }
        other => {
            tracing::error!(error = %other, "internal error");
            error("INTERNAL", "internal error")
        }
    }
}

pub(crate) fn field<T, E: std::fmt::Display>(
    name: &str,
    r: Result<T, E>,
) -> async_graphql::Result<T> {
    r.map_err(|e| error("VALIDATION", format!("{name}: {e}")))
}

pub(crate) fn identity<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Identity> {
    ctx.data_opt::<Identity>()
        .ok_or_else(|| error("UNAUTHENTICATED", "a bearer token is required"))
}

pub(crate) fn require(ctx: &Context<'_>, allowed: &[Role]) -> async_graphql::Result<Identity> {
    let who = identity(ctx)?;
    if allowed.contains(&who.role) {
        Ok(who.clone())
    } else {
        Err(error(
            "FORBIDDEN",
            format!("role {} may not do this", who.role.as_str()),
        ))
    }
}

pub(crate) fn engine<'a>(ctx: &'a Context<'_>) -> &'a Arc<Engine> {
    ctx.data_unchecked::<Arc<Engine>>()
}

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

/// A deal as the pipeline shows it.
#[derive(SimpleObject)]
pub struct Deal {
    /// Opportunity id (a UUID, also its global id for `node(id:)`).
    pub id: async_graphql::ID,
    /// Account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Title.
    pub title: String,
    /// Owner.
    pub owner: String,
    /// Current stage (or the stage it closed in).
    pub stage: String,
    /// Whole days in that stage.
    pub days_in_stage: i32,
    /// The estimated amount.
    pub amount: scalars::Money,
    /// Expected close date.
    pub expected_close: Option<scalars::Date>,
    /// Follow-ups logged.
    pub follow_ups: UInt64,
    /// Distinct contacts engaged.
    pub contacts_engaged: UInt64,
    /// Last activity.
    pub last_activity: Option<DateTime>,
    /// Outcome, if closed.
    pub outcome: Option<String>,
}

/// The pipeline definition in force.
#[derive(SimpleObject)]
pub struct PipelineDefinition {
    /// Open stages in procurement order.
    pub stages: Vec<String>,
    /// Outcomes that close a deal.
    pub outcomes: Vec<String>,
}

pub(crate) fn deal_row(d: dealtrail_funnel::DealView) -> Deal {
    Deal {
        id: d.id.to_string().into(),
        account_id: d.account.to_string(),
        account_name: d.account_name,
        title: d.title,
        owner: d.owner,
        stage: d.stage,
        days_in_stage: i32::try_from(d.days_in_stage).unwrap_or(i32::MAX),
        amount: scalars::Money::minor(d.amount_minor, d.currency),
        expected_close: d.expected_close.map(scalars::Date),
        follow_ups: d.follow_ups.into(),
        contacts_engaged: d.contacts_engaged.into(),
        last_activity: d.last_activity.map(DateTime),
        outcome: d.outcome.map(|o| o.to_string()),
    }
}

/// Which clock an "as of" moment is on.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// What had been recorded by then ("what we knew").
    Recorded,
    /// What had happened by then, as known now.
    Occurred,
}

/// How a deal list is sorted.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum DealOrder {
    /// Opening time.
    OpenedAt,
    /// Amount.
    Amount,
    /// Expected close date.
    ExpectedClose,
    /// Last activity.
    LastActivity,
    /// Days in the current stage.
    DaysInStage,
}

/// Account size by headcount.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SizeBandInput {
    /// Fewer than 250 employees.
    Small,
    /// 250 to 999.
    Mid,
    /// 1,000 to 4,999.
    Large,
    /// 5,000 or more.
    Enterprise,
    /// Not known.
    Unknown,
}

/// Narrows deals; every set field must match.
#[derive(InputObject, Default)]
pub struct DealFilterInput {
    /// Current stage (lists only).
    pub stage: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Product line.
    pub product_line: Option<String>,
    /// Org unit id.
    pub org_unit_id: Option<String>,
    /// Size band.
    pub size_band: Option<SizeBandInput>,
    /// Open (true) or closed (false) deals (lists only).
    pub open: Option<bool>,
}

impl DealFilterInput {
    fn parse(self) -> async_graphql::Result<DealFilter> {
        Ok(DealFilter {
            stage: optional("stage", self.stage, StageName::parse)?,
            owner: self.owner,
            account: optional("accountId", self.account_id, |a| AccountId::parse(&a))?,
            industry: self.industry,
            region: self.region,
            product_line: self.product_line,
            org_unit: optional("orgUnitId", self.org_unit_id, |u| OrgUnitId::parse(&u))?,
            size_band: self.size_band.map(|b| match b {
                SizeBandInput::Small => SizeBand::Small,
                SizeBandInput::Mid => SizeBand::Mid,
                SizeBandInput::Large => SizeBand::Large,
                SizeBandInput::Enterprise => SizeBand::Enterprise,
                SizeBandInput::Unknown => SizeBand::Unknown,
            }),
            open: self.open,
        })
    }
}

/// One open stage of the funnel (definitions in `docs/analytics.md`).
#[derive(SimpleObject)]
pub struct FunnelStage {
    /// The stage.
    pub stage: String,
    /// Distinct deals that entered it in the window.
    pub entered: UInt64,
    /// Entries, re-entries included.
    pub entries: UInt64,
    /// Deals that entered it or a later stage, or won (skips credited).
    pub reached: UInt64,
    /// Amount of the deals that reached it, in the funnel's currency.
    pub reached_amount: scalars::Money,
    /// reached(next) / reached(this).
    pub next_conversion: Option<f64>,
    /// reached(this) / reached(first).
    pub cumulative_conversion: Option<f64>,
    /// Median days in the stage (stays ended in the window, summed per deal).
    pub median_days_in_stage: Option<f64>,
    /// 90th percentile of the same.
    pub p90_days_in_stage: Option<f64>,
    /// Backward moves out of the stage.
    pub regressions_from: UInt64,
    /// Forward moves out of the stage that skipped stages.
    pub skips_from: UInt64,
}

/// A kind of move and how often it happened.
#[derive(SimpleObject)]
pub struct FunnelTransition {
    /// From (stage or outcome).
    pub from: String,
    /// To (stage or outcome).
    pub to: String,
    /// Moves in the window.
    pub count: UInt64,
}

/// The funnel of a window.
#[derive(SimpleObject)]
pub struct Funnel {
    /// Open stages in pipeline order.
    pub stages: Vec<FunnelStage>,
    /// The transition matrix, as a list of non-zero cells.
    pub transitions: Vec<FunnelTransition>,
    /// Deals open at the end of the window.
    pub open_deals: UInt64,
    /// Won / closed in the window.
    pub win_rate: Option<f64>,
    /// Median days from opening to winning.
    pub median_cycle_days: Option<f64>,
    /// Expected won amount per day (minor units).
    pub velocity_per_day_minor: Option<f64>,
}

/// The funnel of one window of a trend.
#[derive(SimpleObject)]
pub struct FunnelTrendPoint {
    /// Window start.
    pub window_start: DateTime,
    /// Window end, exclusive.
    pub window_end: DateTime,
    /// The funnel of that window.
    pub funnel: Funnel,
}

/// The funnel question the arguments of `funnel` and `funnelTrend` ask.
#[allow(clippy::too_many_arguments)]
fn funnel_query(
    ctx: &Context<'_>,
    from: DateTime,
    to: DateTime,
    filter: Option<DealFilterInput>,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
    currency: Option<String>,
) -> async_graphql::Result<FunnelQuery> {
    let filter = filter.unwrap_or_default().parse()?;
    let (from, to) = (from.0, to.0);
    if to <= from {
        return Err(error("VALIDATION", "to: must be after from"));
    }
    let currency = field(
        "currency",
        Currency::parse(currency.as_deref().unwrap_or("USD")),
    )?;
    let (as_occurred_by, as_recorded_through) = if as_of.is_some() {
        let cut = cut(ctx, as_of, clock)?;
        (
            (cut.occurred_by.0 < i64::MAX).then_some(cut.occurred_by),
            (cut.recorded_through < u64::MAX).then_some(cut.recorded_through),
        )
    } else {
        // "Now" only matters for a window that reaches past it; a whole minute keeps such
        // questions cacheable (ages are then at most a minute old).
        let now = dealtrail_engine::now();
        let minute = 60 * 1_000_000;
        let now = Timestamp(now.0 - now.0.rem_euclid(minute) + minute);
        ((to.0 > now.0).then_some(now), None)
    };
    Ok(FunnelQuery {
        from,
        to,
        filter,
        currency,
        as_occurred_by,
        as_recorded_through,
    })
}

fn funnel_object(report: dealtrail_funnel::FunnelReport, currency: Currency) -> Funnel {
    Funnel {
        stages: report
            .stages
            .into_iter()
            .map(|r| FunnelStage {
                stage: r.stage.to_string(),
                entered: r.entered.into(),
                entries: r.entries.into(),
                reached: r.reached.into(),
                reached_amount: scalars::Money::minor(r.reached_amount_minor, currency),
                next_conversion: r.next_conversion,
                cumulative_conversion: r.cumulative_conversion,
                median_days_in_stage: r.time_in_stage.median_days,
                p90_days_in_stage: r.time_in_stage.p90_days,
                regressions_from: r.regressions_from.into(),
                skips_from: r.skips_from.into(),
            })
            .collect(),
        transitions: report
            .transitions
            .into_iter()
            .map(|t| FunnelTransition {
                from: t.from,
                to: t.to,
                count: t.count.into(),
            })
            .collect(),
        open_deals: report.velocity.open_deals.into(),
        win_rate: report.velocity.win_rate,
        median_cycle_days: report.velocity.median_cycle_days,
        velocity_per_day_minor: report.velocity.per_day_minor,
    }
}

/// Funnel answers by question. A funnel over 100k deals takes tens of milliseconds and
/// dashboards ask the same few questions over and over, so each question is computed at
/// most once at a time: an answer at or past the read model's applied sequence number is
/// served as is; while a newer one is being computed, askers get the newest finished
/// answer (at most one computation old); otherwise the asker starts the computation and
/// waits for it. On a quiet server every answer is therefore current.
#[derive(Default)]
pub struct FunnelCache {
    slots: Arc<std::sync::Mutex<std::collections::HashMap<String, FunnelSlot>>>,
}

type PendingFunnel = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<Arc<Funnel>, String>>,
>;

#[derive(Default)]
struct FunnelSlot {
    /// The newest answer and the sequence number it reflects (at least).
    latest: Option<(u64, Arc<Funnel>)>,
    /// The computation under way, if any.
    pending: Option<PendingFunnel>,
}

/// Questions kept before the cache starts over (each answer is a few kilobytes).
const FUNNEL_CACHE_LIMIT: usize = 512;

impl FunnelCache {
    async fn get(
        &self,
        engine: &Arc<Engine>,
        query: FunnelQuery,
    ) -> async_graphql::Result<Arc<Funnel>> {
        use futures_util::FutureExt;
        let applied = engine.sales().applied();
        let key = format!("{query:?}");
        let pending = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| error("INTERNAL", "internal error"))?;
            if slots.len() >= FUNNEL_CACHE_LIMIT && !slots.contains_key(&key) {
                slots.retain(|_, slot| slot.pending.is_some());
            }
            let slot = slots.entry(key.clone()).or_default();
            if let Some((seq, answer)) = &slot.latest
                && (*seq >= applied || slot.pending.is_some())
            {
                return Ok(answer.clone());
            }
            match &slot.pending {
                Some(p) => p.clone(),
                None => {
                    let slots = self.slots.clone();
                    let engine = engine.clone();
                    let currency = query.currency;
                    // A task of its own, so the computation finishes (and the slot is freed)
                    // even if every asker goes away.
                    let task = tokio::spawn(async move {
                        let computed = tokio::task::spawn_blocking(move || {
                            engine.sales().read(|m| m.funnel(&query))
                        })
                        .await;
                        let result = match computed {
                            Ok(Ok(report)) => Ok(Arc::new(funnel_object(report, currency))),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                        if let Ok(mut slots) = slots.lock()
                            && let Some(slot) = slots.get_mut(&key)
                        {
                            slot.pending = None;
                            if let Ok(answer) = &result
                                && slot.latest.as_ref().is_none_or(|(s, _)| *s <= applied)
                            {
                                slot.latest = Some((applied, answer.clone()));
                            }
                        }
                        result
                    });
                    let pending = async move { task.await.map_err(|e| e.to_string())? }
                        .boxed()
                        .shared();
                    slot.pending = Some(pending.clone());
                    pending
                }
            }
        };
        pending.await.map_err(|e| {
            tracing::error!(error = %e, "funnel failed");
            error("INTERNAL", "internal error")
        })
    }
}

/// Outcome counts of closed deals and the win rate (won / (won + lost)).
#[derive(SimpleObject)]
pub struct OutcomeRate {
    /// Segment dimension (`overall`, `follow_ups`, `contacts`, `decision_maker`, ...).
    pub dimension: String,
    /// Segment value (`3-5`, `true`, a competitor's name, ...).
    pub value: String,
    /// Won.
    pub won: UInt64,
    /// Lost.
    pub lost: UInt64,
    /// No decision.
    pub no_decision: UInt64,
    /// Withdrawn.
    pub withdrawn: UInt64,
    /// won / (won + lost).
    pub win_rate: Option<f64>,
}

fn outcome_rate(dimension: &str, value: &str, r: &dealtrail_winloss::Rate) -> OutcomeRate {
    OutcomeRate {
        dimension: dimension.into(),
        value: value.into(),
        won: r.won.into(),
        lost: r.lost.into(),
        no_decision: r.no_decision.into(),
        withdrawn: r.withdrawn.into(),
        win_rate: r.win_rate(),
    }
}

/// Lost deals that share a stated reason, and how many show each evidence signal.
#[derive(SimpleObject)]
pub struct StatedVersusEvidence {
    /// The reason reps stated.
    pub stated_reason: String,
    /// Lost deals with that reason.
    pub deals: UInt64,
    /// Signal name and the number of those deals showing it.
    pub signals: Vec<SignalCount>,
}

/// A signal and how often it occurs.
#[derive(SimpleObject)]
pub struct SignalCount {
    /// The signal (e.g. `SingleThreaded`, `NoDecisionMaker`).
    pub signal: String,
    /// Deals showing it.
    pub deals: UInt64,
}

/// Where lost deals die.
#[derive(SimpleObject)]
pub struct LossStage {
    /// The stage.
    pub stage: String,
    /// Lost deals whose furthest stage was this one.
    pub furthest: UInt64,
    /// Lost deals that were in this stage when lost.
    pub at_loss: UInt64,
}

/// Process-based win/loss of the deals that ended in a window.
#[derive(SimpleObject)]
pub struct WinLossAnalysis {
    /// Every segment, `overall` first.
    pub rates: Vec<OutcomeRate>,
    /// Where lost deals die, in pipeline order.
    pub where_lost: Vec<LossStage>,
    /// Stated reason next to the evidence.
    pub stated_versus_evidence: Vec<StatedVersusEvidence>,
}

/// An open deal that breaks a cross-check rule.
#[derive(SimpleObject)]
pub struct CrossCheckFinding {
    /// The deal.
    pub opportunity_id: String,
    /// Its owner.
    pub owner: String,
    /// The rule broken.
    pub rule: String,
    /// The deal's stage.
    pub stage: String,
    /// Since when.
    pub since: DateTime,
    /// The missing evidence.
    pub missing: String,
}

/// Who on the customer's side an open deal reaches.
#[derive(SimpleObject)]
pub struct DealCoverage {
    /// The deal.
    pub opportunity_id: String,
    /// Its owner.
    pub owner: String,
    /// Engaged contacts per buying role, as `role:count`.
    pub by_role: Vec<String>,
    /// A decision maker is engaged.
    pub decision_maker: bool,
    /// At most one contact engaged.
    pub single_threaded: bool,
    /// People met in follow-ups who are not registered contacts.
    pub unregistered_participants: UInt64,
    /// Org units the engaged contacts work in.
    pub org_units_reached: UInt64,
}

/// One of the eight data-health questions with its evidence.
#[derive(SimpleObject)]
pub struct HealthAnswer {
    /// 1 to 8.
    pub number: u8,
    /// "Do we have ..."
    pub question: String,
    /// Whether the company has this data.
    pub answered: bool,
    /// What the answer rests on.
    pub evidence: String,
}

/// An upsell, cross-sell or churn-risk signal.
#[derive(SimpleObject)]
pub struct ProfileSignal {
    /// `upsell`, `cross_sell` or `churn_risk`.
    pub kind: String,
    /// Why, with the figures.
    pub reason: String,
}

/// A customer enterprise as the company knows it.
#[derive(SimpleObject)]
pub struct CustomerProfile {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// The rep responsible now.
    pub owner: Option<String>,
    /// The eight questions.
    pub health: Vec<HealthAnswer>,
    /// Signals as of now.
    pub signals: Vec<ProfileSignal>,
    /// The rep holding most of the relationship (by follow-ups).
    pub top_rep: Option<String>,
    /// Share of follow-ups by that rep.
    pub top_rep_follow_up_share: Option<f64>,
    /// Share of registered contacts that rep registered.
    pub top_rep_contact_share: Option<f64>,
    /// That rep no longer owns the account.
    pub top_rep_reassigned_away: bool,
}

/// One stay of a deal's story.
#[derive(SimpleObject)]
pub struct StoryStay {
    /// The stage.
    pub stage: String,
    /// Entered.
    pub from: DateTime,
    /// Left; null while still there.
    pub until: Option<DateTime>,
    /// Follow-ups during the stay, as `function:count`.
    pub follow_ups: Vec<String>,
    /// Cross-functional records made during the stay.
    pub records: Vec<String>,
}

/// A deal's timeline digested, for the analyst studying one loss.
#[derive(SimpleObject)]
pub struct Story {
    /// The deal.
    pub opportunity_id: String,
    /// Owner.
    pub owner: String,
    /// Stays in order.
    pub stages: Vec<StoryStay>,
    /// Buying roles of the contacts engaged.
    pub contact_roles: Vec<String>,
    /// The outcome, if ended.
    pub outcome: Option<String>,
    /// The reason the rep stated.
    pub stated_reason: Option<String>,
    /// Evidence signals from the process.
    pub signals: Vec<String>,
}

/// Who on one customer's side its open deals reach.
#[derive(SimpleObject)]
pub struct AccountReach {
    /// The account.
    pub account_id: String,
    /// Open deals.
    pub open_deals: UInt64,
    /// Distinct contacts engaged per buying role, as `role:count`.
    pub by_role: Vec<String>,
    /// A decision maker is engaged on some open deal.
    pub decision_maker: bool,
    /// Org units reached through engaged contacts.
    pub org_units_reached: UInt64,
    /// Open deals with at most one contact engaged.
    pub single_threaded_deals: UInt64,
}

/// The query root: the core queries here plus the account queries.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    CoreQuery,
    crate::node::NodeQuery,
    crate::accounts::AccountQuery,
    crate::accounts::AnalysisOfAccounts,
);

/// Log, deal and analysis queries.
#[derive(Default)]
pub struct CoreQuery;

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

#[Object]
impl CoreQuery {
    /// The end of the raw log. Auditors and admins.
    async fn head(&self, ctx: &Context<'_>) -> async_graphql::Result<LogHead> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let head = engine(ctx).store().head();
        Ok(LogHead {
            seq: head.seq.into(),
            hash: head.hash.to_hex(),
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
    async fn verify(&self, ctx: &Context<'_>) -> async_graphql::Result<Verification> {
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
    }

    /// Deals as the pipeline shows them, now or as of a moment, filtered and sorted, as a
    /// Relay connection. Everyone but auditors.
    // Each GraphQL argument is a parameter; grouping them would change the schema.
    #[allow(clippy::too_many_arguments)]
    async fn opportunities(
        &self,
        ctx: &Context<'_>,
        filter: Option<DealFilterInput>,
        order: Option<DealOrder>,
        descending: Option<bool>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<Page<Deal>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let filter = filter.unwrap_or_default().parse()?;
        let cut = cut(ctx, as_of, clock)?;
        let sort = match order.unwrap_or(DealOrder::OpenedAt) {
            DealOrder::OpenedAt => DealSort::OpenedAt,
            DealOrder::Amount => DealSort::Amount,
            DealOrder::ExpectedClose => DealSort::ExpectedClose,
            DealOrder::LastActivity => DealSort::LastActivity,
            DealOrder::DaysInStage => DealSort::DaysInStage,
        };
        let descending = descending.unwrap_or(false);
        let print = fingerprint("opportunities", &(&filter, sort, descending));
        let window = PageArgs {
            after,
            before,
            first,
            last,
        }
        .check::<(i64, OpportunityId)>(&print)?;
        let (total, rows, range) = model_at(ctx, None, Engine::sales, move |m| {
            let mut range = 0..0;
            let (total, rows) = m.list_window(&filter, sort, descending, cut, |keys| {
                range = window.range(keys, descending);
                range.clone()
            });
            (total, rows, range)
        })
        .await?;
        let items = rows.into_iter().map(|(key, row)| (key, deal_row(row)));
        Ok(connection(&print, range, total, items))
    }

    /// One deal as the pipeline shows it, now or as of a moment. Everyone but auditors.
    async fn opportunity(
        &self,
        ctx: &Context<'_>,
        id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Option<Deal>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let id = field("id", OpportunityId::parse(&id))?;
        let cut = cut(ctx, as_of, clock)?;
        let row = engine(ctx)
            .sales()
            .read(|m| m.deals.get(&id).and_then(|d| m.view(d, cut)))
            .map_err(engine_error)?;
        Ok(row.map(deal_row))
    }

    /// The pipeline definition in force: open stages in order and the outcomes. Everyone.
    async fn pipeline(&self, ctx: &Context<'_>) -> async_graphql::Result<PipelineDefinition> {
        identity(ctx)?;
        let (_, state) = engine(ctx).pipeline_state().map_err(engine_error)?;
        let p = state
            .current
            .unwrap_or_else(dealtrail_domain::Pipeline::default_b2b);
        Ok(PipelineDefinition {
            stages: p.stages.iter().map(ToString::to_string).collect(),
            outcomes: p.outcomes.iter().map(ToString::to_string).collect(),
        })
    }

    /// The funnel of a window of business time. Analysts, managers and admins.
    #[allow(clippy::too_many_arguments)]
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window start")] from: DateTime,
        #[graphql(desc = "Window end, exclusive")] to: DateTime,
        filter: Option<DealFilterInput>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
        currency: Option<String>,
    ) -> async_graphql::Result<Arc<Funnel>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let query = funnel_query(ctx, from, to, filter, as_of, clock, currency)?;
        ctx.data_unchecked::<FunnelCache>()
            .get(engine(ctx), query)
            .await
    }

    /// The funnel of equally long windows ending a step apart, oldest first: how conversion
    /// and velocity move. Analysts, managers and admins.
    #[allow(clippy::too_many_arguments)]
    async fn funnel_trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the latest window")] from: DateTime,
        #[graphql(desc = "End of the latest window, exclusive")] to: DateTime,
        #[graphql(desc = "Windows, the latest included (1 to 24; 6 if absent)")] points: Option<
            i32,
        >,
        #[graphql(desc = "Days between window ends (1 to 366; 30 if absent)")] step_days: Option<
            i32,
        >,
        filter: Option<DealFilterInput>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
        currency: Option<String>,
    ) -> async_graphql::Result<Vec<FunnelTrendPoint>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let points = points.unwrap_or(6);
        if !(1..=24).contains(&points) {
            return Err(error("VALIDATION", "points: between 1 and 24"));
        }
        let step = i64::from(step_days.unwrap_or(30));
        if !(1..=366).contains(&step) {
            return Err(error("VALIDATION", "stepDays: between 1 and 366"));
        }
        let query = funnel_query(ctx, from, to, filter, as_of, clock, currency)?;
        let currency = query.currency;
        let ends: Vec<Timestamp> = (0..i64::from(points))
            .rev()
            .map(|k| Timestamp(query.to.0 - k * step * Timestamp::DAY))
            .collect();
        let length = query.to.0 - query.from.0;
        let wanted = ends.clone();
        let reports = model_at(ctx, None, Engine::sales, move |m| m.trend(&query, &wanted)).await?;
        Ok(ends
            .iter()
            .zip(reports)
            .map(|(end, r)| FunnelTrendPoint {
                window_start: DateTime(Timestamp(end.0 - length)),
                window_end: DateTime(*end),
                funnel: funnel_object(r, currency),
            })
            .collect())
    }

    /// Process-based win/loss of deals that ended in a window. Analysts, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn win_loss(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window start")] from: DateTime,
        #[graphql(desc = "Window end, exclusive")] to: DateTime,
        #[graphql(
            desc = "The segment, as for the funnel (stage, open and accountId do not apply)"
        )]
        filter: Option<DealFilterInput>,
        #[graphql(desc = "Only deals where this competitor was known to bid")] competitor: Option<
            String,
        >,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<WinLossAnalysis> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let (from, to) = (from.0, to.0);
        let segment = filter.unwrap_or_default();
        for (name, set) in [
            ("filter.stage", segment.stage.is_some()),
            ("filter.open", segment.open.is_some()),
            ("filter.accountId", segment.account_id.is_some()),
        ] {
            if set {
                return Err(error(
                    "VALIDATION",
                    format!("{name}: does not apply to win/loss (closed deals by segment)"),
                ));
            }
        }
        let filter = dealtrail_winloss::WinLossFilter {
            owner: segment.owner,
            industry: segment.industry,
            region: segment.region,
            product_line: segment.product_line,
            competitor,
            org_unit: optional("filter.orgUnitId", segment.org_unit_id, |u| {
                OrgUnitId::parse(&u)
            })?,
            size_band: segment.size_band.map(|b| {
                match b {
                    SizeBandInput::Small => "small",
                    SizeBandInput::Mid => "mid",
                    SizeBandInput::Large => "large",
                    SizeBandInput::Enterprise => "enterprise",
                    SizeBandInput::Unknown => "unknown",
                }
                .to_owned()
            }),
        };
        let report = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, move |m| {
            m.report(from, to, &filter)
        })
        .await?;
        let mut rates = vec![outcome_rate("overall", "all", &report.overall)];
        rates.extend(report.by.iter().map(|((d, v), r)| outcome_rate(d, v, r)));
        Ok(WinLossAnalysis {
            rates,
            where_lost: report
                .where_lost
                .into_iter()
                .map(|r| LossStage {
                    stage: r.stage.to_string(),
                    furthest: r.furthest.into(),
                    at_loss: r.at_loss.into(),
                })
                .collect(),
            stated_versus_evidence: report
                .stated_vs_evidence
                .into_iter()
                .map(|(reason, (deals, signals))| StatedVersusEvidence {
                    stated_reason: reason,
                    deals: deals.into(),
                    signals: signals
                        .into_iter()
                        .map(|(s, n)| SignalCount {
                            signal: format!("{s:?}"),
                            deals: n.into(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Open deals whose claimed stage lacks the other functions' evidence. Managers,
    /// analysts, admins.
    async fn cross_check_findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this rep's deals")] owner: Option<String>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Vec<CrossCheckFinding>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let rules = dealtrail_winloss::default_rules();
        let mut findings = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, move |m| {
            m.findings(&rules)
        })
        .await?;
        if let Some(owner) = owner {
            findings.retain(|f| f.owner == owner);
        }
        Ok(findings
            .into_iter()
            .map(|f| CrossCheckFinding {
                opportunity_id: f.deal.to_string(),
                owner: f.owner,
                rule: f.rule,
                stage: f.stage.to_string(),
                since: DateTime(f.since),
                missing: f.missing,
            })
            .collect())
    }

    /// Coverage of every open deal. Managers, analysts, admins.
    async fn coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this rep's deals")] owner: Option<String>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Vec<DealCoverage>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let mut rows = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, |m| {
            m.coverage()
        })
        .await?;
        if let Some(owner) = owner {
            rows.retain(|c| c.owner == owner);
        }
        Ok(rows
            .into_iter()
            .map(|c| DealCoverage {
                opportunity_id: c.deal.to_string(),
                owner: c.owner,
                by_role: c
                    .by_role
                    .iter()
                    .map(|(role, n)| format!("{role}:{n}"))
                    .collect(),
                decision_maker: c.decision_maker,
                single_threaded: c.single_threaded,
                unregistered_participants: c.unregistered_participants.into(),
                org_units_reached: c.org_units_reached.into(),
            })
            .collect())
    }

    /// A customer profile: the eight questions, signals and relationship concentration.
    /// Everyone but auditors.
    async fn profile(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Option<CustomerProfile>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let id = field("accountId", AccountId::parse(&account_id))?;
        let when = past(ctx, as_of, clock)?;
        let now = moment(when);
        model_at(ctx, when, Engine::profiles, move |m| {
            customer_profile(m, id, now)
        })
        .await
    }

    /// One deal's story: stays with dates, follow-ups and records per stay, contacts,
    /// outcome and evidence. Analysts, managers, admins.
    async fn deal_story(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Option<Story>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let id = field("opportunityId", OpportunityId::parse(&opportunity_id))?;
        let story = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, move |m| {
            m.story(id)
        })
        .await?;
        Ok(story.map(|s| Story {
            opportunity_id: s.deal.to_string(),
            owner: s.owner,
            stages: s
                .stages
                .into_iter()
                .map(|st| StoryStay {
                    stage: st.stage,
                    from: DateTime(st.from),
                    until: st.until.map(DateTime),
                    follow_ups: st
                        .follow_ups
                        .iter()
                        .map(|(f, n)| format!("{f}:{n}"))
                        .collect(),
                    records: st.records.iter().map(|r| r.to_string()).collect(),
                })
                .collect(),
            contact_roles: s.contacts.iter().map(|r| r.to_string()).collect(),
            outcome: s.outcome.as_ref().map(|(o, _)| o.to_string()),
            stated_reason: s.outcome.and_then(|(_, r)| r),
            signals: s.signals.iter().map(|x| format!("{x:?}")).collect(),
        }))
    }

    /// Coverage per account across its open deals. Managers, analysts, admins.
    async fn account_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Vec<AccountReach>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        let rows = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, |m| {
            m.account_coverage()
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|c| AccountReach {
                account_id: c.account.to_string(),
                open_deals: c.open_deals.into(),
                by_role: c.by_role.iter().map(|(r, n)| format!("{r}:{n}")).collect(),
                decision_maker: c.decision_maker,
                org_units_reached: c.org_units_reached.into(),
                single_threaded_deals: c.single_threaded_deals.into(),
            })
            .collect())
    }
}

fn customer_profile(
    m: &dealtrail_profile::Profiles,
    id: AccountId,
    now: Timestamp,
) -> Option<CustomerProfile> {
    let config = dealtrail_profile::SignalConfig::default();
    m.accounts.get(&id).map(|p| {
        let c = p.concentration(&m.names);
        CustomerProfile {
            account_id: id.to_string(),
            name: p.name.clone(),
            industry: p.industry.clone(),
            owner: p.owner.clone(),
            health: p
                .health()
                .into_iter()
                .map(|a| HealthAnswer {
                    number: a.number,
                    question: a.question.into(),
                    answered: a.answered,
                    evidence: a.evidence,
                })
                .collect(),
            signals: p
                .signals(&config, now)
                .into_iter()
                .map(|s| ProfileSignal {
                    kind: s.kind.into(),
                    reason: s.reason,
                })
                .collect(),
            top_rep: c.top_rep,
            top_rep_follow_up_share: c.follow_up_share,
            top_rep_contact_share: c.contact_share,
            top_rep_reassigned_away: c.top_rep_reassigned_away,
        }
    })
}

/// Runs `f` on a read model now, or on the model as it stood at a past moment, off the
/// async threads: an analysis takes milliseconds to seconds, a past model replays part or
/// all of the log.
pub(crate) async fn model_at<P, R>(
    ctx: &Context<'_>,
    when: Option<Past>,
    host: fn(&Engine) -> &dealtrail_engine::ProjectionHost<P>,
    f: impl FnOnce(&P) -> R + Send + 'static,
) -> async_graphql::Result<R>
where
    P: dealtrail_domain::Projection + Sync + 'static,
    R: Send + 'static,
{
    let engine = engine(ctx).clone();
    tokio::task::spawn_blocking(move || {
        let model = match when {
            None => return host(&engine).read(f),
            Some(Past::Recorded(t)) => host(&engine).as_recorded_by(t),
            Some(Past::Occurred(t)) => host(&engine).as_occurred_by(t),
        }?;
        Ok(f(&model))
    })
    .await
    .map_err(|_| error("INTERNAL", "internal error"))?
    .map_err(engine_error)
}

/// The moment a question is asked from: the past moment, or now.
pub(crate) fn moment(when: Option<Past>) -> Timestamp {
    match when {
        None => dealtrail_engine::now(),
        Some(Past::Recorded(t) | Past::Occurred(t)) => t,
    }
}

/// A past moment on one of the clocks.
#[derive(Clone, Copy)]
pub(crate) enum Past {
    Recorded(Timestamp),
    Occurred(Timestamp),
}

pub(crate) fn past(
    _ctx: &Context<'_>,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
) -> async_graphql::Result<Option<Past>> {
    let Some(DateTime(t)) = as_of else {
        return Ok(None);
    };
    Ok(Some(match clock.unwrap_or(Clock::Recorded) {
        Clock::Recorded => Past::Recorded(t),
        Clock::Occurred => Past::Occurred(t),
    }))
}

/// Turns an "as of" argument into a cut of the live model.
pub(crate) fn cut(
    ctx: &Context<'_>,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
) -> async_graphql::Result<Cut> {
    let now = dealtrail_engine::now();
    let Some(DateTime(t)) = as_of else {
        return Ok(Cut::occurred_by(now));
    };
    match clock.unwrap_or(Clock::Recorded) {
        Clock::Occurred => Ok(Cut::occurred_by(t)),
        Clock::Recorded => {
            let seq = engine(ctx)
                .store()
                .seq_recorded_by(dealtrail_store::Timestamp(t.0))
                .map_err(|e| engine_error(e.into()))?;
            Ok(Cut {
                occurred_by: t,
                recorded_through: seq,
            })
        }
    }
}

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

/// A new customer enterprise.
#[derive(InputObject)]
pub struct RegisterAccountInput {
    /// Id to use (UUID); a new one if absent.
    pub id: Option<String>,
    /// Company name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// Headcount.
    pub employees: Option<UInt64>,
    /// Annual revenue.
    pub annual_revenue: Option<MoneyInput>,
    /// Region.
    pub region: Option<String>,
    /// The parent company, an account registered before.
    pub parent_id: Option<String>,
    /// Its id in the system it comes from (a re-import recognises it by this).
    pub external_id: Option<String>,
}

/// A person at a customer.
#[derive(InputObject)]
pub struct RegisterContactInput {
    /// The account.
    pub account_id: String,
    /// Full name.
    pub name: String,
    /// Buying role: decision_maker, influencer, procurement, technical_evaluator, user, other.
    pub role: String,
    /// Seniority: executive, director, manager, staff, unknown.
    pub seniority: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The org unit (department) the person works in.
    pub org_unit_id: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// A new deal.
#[derive(InputObject)]
pub struct OpenOpportunityInput {
    /// Id to use (UUID); a new one if absent.
    pub id: Option<String>,
    /// The account.
    pub account_id: String,
    /// What it is about.
    pub title: String,
    /// Estimated amount in the currency's major unit (e.g. "1250.50").
    pub amount: Decimal,
    /// Currency, an ISO 4217 code such as USD.
    pub currency: String,
    /// Expected close date.
    pub expected_close: scalars::Date,
    /// Product line.
    pub product_line: Option<String>,
    /// The customer's org unit (department) the deal is with: what coverage and
    /// cross-sell are built on.
    pub org_unit_id: Option<String>,
    /// Where the deal came from (inbound, referral, event, ...).
    pub source: Option<String>,
    /// Its id in the system it comes from.
    pub external_id: Option<String>,
    /// Owner; defaults to the caller.
    pub owner: Option<String>,
}

/// A follow-up with the customer.
#[derive(InputObject)]
pub struct LogFollowUpInput {
    /// The deal.
    pub opportunity_id: String,
    /// visit, call, message, email or meeting.
    pub channel: String,
    /// Registered contacts who took part.
    pub contact_ids: Option<Vec<String>>,
    /// People met who are not registered contacts.
    pub unregistered_participants: Option<u16>,
    /// What happened.
    pub summary: String,
    /// The agreed next step.
    pub next_step: Option<String>,
}

/// The mutation root: one mutation per command, corrections merged in.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(CoreMutation, crate::corrections::CorrectionMutation);

/// Mutations that add facts.
#[derive(Default)]
pub struct CoreMutation;

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
fn command_fingerprint(ctx: &Context<'_>) -> async_graphql::Result<[u8; 32]> {
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

/// A deal-writing caller and the deal: a writer's role, the parsed id, and for sales reps
/// the check that they own the deal.
pub(crate) fn owned_deal(
    ctx: &Context<'_>,
    opportunity_id: &str,
) -> async_graphql::Result<(Identity, OpportunityId)> {
    let who = require(ctx, &WRITERS)?;
    let id = field("opportunityId", OpportunityId::parse(opportunity_id))?;
    check_owner(ctx, &who, id)?;
    Ok((who, id))
}

/// One of a closed vocabulary (a channel, a buying role, ...), or a VALIDATION error naming
/// the field.
pub(crate) fn choice<T>(
    name: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> async_graphql::Result<T> {
    parse(value).ok_or_else(|| error("VALIDATION", format!("{name}: unknown value {value:?}")))
}

/// An optional input parsed by `parse`, or a VALIDATION error naming the field.
pub(crate) fn optional<V, T, E: std::fmt::Display>(
    name: &str,
    value: Option<V>,
    parse: impl Fn(V) -> Result<T, E>,
) -> async_graphql::Result<Option<T>> {
    value.map(|v| field(name, parse(v))).transpose()
}

/// Sales may only write to deals they own; managers and admins to any.
pub(crate) fn check_owner(
    ctx: &Context<'_>,
    who: &Identity,
    deal: OpportunityId,
) -> async_graphql::Result<()> {
    if who.role != Role::Sales {
        return Ok(());
    }
    let owner = engine(ctx)
        .sales()
        .read(|m| {
            m.deals
                .get(&deal)
                .and_then(|d| d.owners.current().map(|o| m.names.get(*o).to_owned()))
        })
        .map_err(engine_error)?;
    match owner {
        Some(o) if o != who.user.as_str() => Err(error(
            "FORBIDDEN",
            "a sales rep may only change the deals he owns",
        )),
        _ => Ok(()),
    }
}

pub(crate) const WRITERS: [Role; 3] = [Role::Sales, Role::Manager, Role::Admin];

/// Who may log follow-ups: the deal writers and the other functions that meet customers.
pub(crate) const FOLLOW_UP_WRITERS: &[Role] = &[
    Role::Sales,
    Role::Manager,
    Role::Admin,
    Role::Presales,
    Role::Engineering,
    Role::Support,
];

/// The function a role's follow-ups are recorded under.
pub(crate) fn writer_function(role: Role) -> dealtrail_domain::Function {
    use dealtrail_domain::Function;
    match role {
        Role::Presales => Function::Presales,
        Role::Engineering => Function::Engineering,
        Role::Support => Function::Support,
        Role::Manager => Function::Management,
        _ => Function::Sales,
    }
}

/// The first stage of the pipeline in force, where every deal opens.
fn first_stage(ctx: &Context<'_>) -> async_graphql::Result<StageName> {
    let (_, state) = engine(ctx).pipeline_state().map_err(engine_error)?;
    Ok(state
        .current
        .unwrap_or_else(dealtrail_domain::Pipeline::default_b2b)
        .first_stage()
        .clone())
}

/// Who may read deals and profiles: everyone but auditors, who read the raw log.
pub(crate) const EVERYONE_BUT_AUDITORS: &[Role] = &[
    Role::Admin,
    Role::Manager,
    Role::Sales,
    Role::Presales,
    Role::Engineering,
    Role::Support,
    Role::Analyst,
];

#[Object]
impl CoreMutation {
    /// Registers a customer enterprise. Sales, managers, admins.
    async fn register_account(
        &self,
        ctx: &Context<'_>,
        input: RegisterAccountInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let id = AccountId(new_or(input.id, "id")?);
        let label = |n, v: Option<String>| v.map(|s| field(n, Label::parse(s))).transpose();
        let command = Command::Account(
            id,
            AccountCommand::Register(AccountRegistered {
                name: field("name", Name::parse(input.name))?,
                industry: label("industry", input.industry)?,
                employees: input.employees.map(|e| e.to_u32("employees")).transpose()?,
                annual_revenue: input
                    .annual_revenue
                    .map(|m| m.parse("annualRevenue"))
                    .transpose()?,
                region: label("region", input.region)?,
                parent: optional("parentId", input.parent_id, |p| AccountId::parse(&p))?,
                external_id: optional("externalId", input.external_id, ExternalId::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Registers a person at a customer. Sales, managers, admins.
    async fn register_contact(
        &self,
        ctx: &Context<'_>,
        input: RegisterContactInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let account = field("accountId", AccountId::parse(&input.account_id))?;
        let role = BuyingRole::parse(&input.role).ok_or_else(|| {
            error(
                "VALIDATION",
                format!("role: unknown buying role {:?}", input.role),
            )
        })?;
        let seniority = match input.seniority {
            Some(s) => choice("seniority", &s, Seniority::parse)?,
            None => Seniority::Unknown,
        };
        let command = Command::Account(
            account,
            AccountCommand::RegisterContact(ContactRegistered {
                contact: ContactId(uuid::Uuid::now_v7()),
                name: field("name", Name::parse(input.name))?,
                title: optional("title", input.title, Label::parse)?,
                org_unit: optional("orgUnitId", input.org_unit_id, |u| OrgUnitId::parse(&u))?,
                role,
                seniority,
                email: optional("email", input.email, Label::parse)?,
                phone: optional("phone", input.phone, Label::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Opens a deal in the pipeline's first stage. Sales, managers, admins.
    async fn open_opportunity(
        &self,
        ctx: &Context<'_>,
        input: OpenOpportunityInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let id = OpportunityId(new_or(input.id, "id")?);
        let currency = field("currency", Currency::parse(&input.currency))?;
        let owner = match input.owner {
            Some(o) if who.role == Role::Sales && o != who.user.as_str() => {
                return Err(error("FORBIDDEN", "a sales rep opens deals for himself"));
            }
            Some(o) => field("owner", dealtrail_domain::UserId::parse(o))?,
            None => who.user.clone(),
        };
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Open(OpportunityOpened {
                account: field("accountId", AccountId::parse(&input.account_id))?,
                title: field("title", Name::parse(input.title))?,
                owner,
                product_line: optional("productLine", input.product_line, Label::parse)?,
                org_unit: optional("orgUnitId", input.org_unit_id, |u| OrgUnitId::parse(&u))?,
                amount: field("amount", Money::parse(&input.amount.0, currency))?,
                expected_close: input.expected_close.0,
                source: optional("source", input.source, Label::parse)?,
                stage: first_stage(ctx)?,
                external_id: optional("externalId", input.external_id, ExternalId::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Moves a deal to another stage. Its owner, managers, admins.
    async fn change_stage(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        stage: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let to = field("stage", StageName::parse(stage))?;
        run(
            ctx,
            who,
            options,
            Command::Opportunity(id, OpportunityCommand::ChangeStage { to }),
        )
        .await
    }

    /// Logs a visit, call, message, email or meeting. The follow-up's function is the
    /// writer's: sales reps (their own deals) and admins log sales follow-ups, presales,
    /// engineering and support engineers their own, managers management ones.
    async fn log_follow_up(
        &self,
        ctx: &Context<'_>,
        input: LogFollowUpInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, FOLLOW_UP_WRITERS)?;
        let id = field("opportunityId", OpportunityId::parse(&input.opportunity_id))?;
        check_owner(ctx, &who, id)?;
        let function = writer_function(who.role);
        let record = FollowUpRecordInput {
            channel: input.channel,
            contact_ids: input.contact_ids,
            unregistered_participants: input.unregistered_participants,
            summary: input.summary,
            next_step: input.next_step,
        };
        let command =
            Command::Opportunity(id, OpportunityCommand::LogFollowUp(record.event(function)?));
        run(ctx, who, options, command).await
    }

    /// Adds a presales, engineering, support or management record to a deal: the other
    /// functions' own evidence. Each role adds its own kinds: presales solution_design and
    /// technical_review, engineering demo and proof_of_concept, support satisfaction_check,
    /// managers management_review; admins any.
    #[allow(clippy::too_many_arguments)]
    async fn add_cross_functional_record(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(
            desc = "solution_design, technical_review, demo, proof_of_concept, satisfaction_check or management_review"
        )]
        kind: String,
        #[graphql(desc = "positive, neutral or negative")] assessment: String,
        #[graphql(desc = "1 to 5, for satisfaction checks")] satisfaction: Option<u8>,
        summary: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = identity(ctx)?.clone();
        let record = CrossFunctionalRecordInput {
            kind,
            assessment,
            satisfaction,
            summary,
        }
        .event()?;
        if !may_record(who.role, record.function) {
            return Err(error(
                "FORBIDDEN",
                format!(
                    "role {} may not add {} records",
                    who.role.as_str(),
                    record.kind
                ),
            ));
        }
        let id = field("opportunityId", OpportunityId::parse(&opportunity_id))?;
        let command =
            Command::Opportunity(id, OpportunityCommand::AddCrossFunctionalRecord(record));
        run(ctx, who, options, command).await
    }

    /// Involves a registered contact of the account in a deal. Its owner, managers, admins.
    async fn engage_contact(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        contact_id: String,
        #[graphql(desc = "The contact's part in this deal (a buying role)")] role: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let record = ContactEngagementInput { contact_id, role }.event()?;
        let command = Command::Opportunity(id, OpportunityCommand::EngageContact(record));
        run(ctx, who, options, command).await
    }

    /// Records a customer-service interaction on an account. Support, managers, admins.
    async fn record_service_interaction(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        #[graphql(desc = "ticket, satisfaction_check, training or other")] kind: String,
        #[graphql(desc = "1 to 5, where given")] satisfaction: Option<u8>,
        summary: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Support, Role::Manager, Role::Admin])?;
        let record = ServiceInteractionInput {
            kind,
            satisfaction,
            summary,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordServiceInteraction(record),
        );
        run(ctx, who, options, command).await
    }

    /// Adds a department or business unit to an account. Sales, managers, admins.
    async fn add_org_unit(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        name: String,
        parent_id: Option<String>,
        needs: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::AddOrgUnit(dealtrail_domain::account::OrgUnitAdded {
                org_unit: OrgUnitId(uuid::Uuid::now_v7()),
                name: field("name", Name::parse(name))?,
                parent: optional("parentId", parent_id, |p| OrgUnitId::parse(&p))?,
                needs: optional("needs", needs, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Records an account's business figures for a period (2024, 2024-Q2 or 2024-05).
    /// Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn record_business_indicator(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        period: String,
        #[graphql(desc = "In the currency's major unit")] revenue: Option<Decimal>,
        currency: Option<String>,
        headcount: Option<UInt64>,
        #[graphql(desc = "Where the figures come from")] source: Option<String>,
        #[graphql(desc = "A remark on the figures")] note: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let record = BusinessIndicatorInput {
            period,
            revenue,
            currency,
            headcount,
            source,
            note,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordBusinessIndicator(record),
        );
        run(ctx, who, options, command).await
    }

    /// Records a purchase (consumption history). Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn record_purchase(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        product: String,
        quantity: UInt64,
        #[graphql(desc = "licence, server, seat, subscription or item")] unit: String,
        #[graphql(desc = "In the currency's major unit")] amount: Decimal,
        currency: String,
        purchased_on: scalars::Date,
        #[graphql(desc = "The deal it was bought through, if any")] opportunity_id: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let record = PurchaseInput {
            product,
            quantity,
            opportunity_id,
            unit,
            amount,
            currency,
            purchased_on,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordPurchase(record),
        );
        run(ctx, who, options, command).await
    }

    /// Changes account profile fields; fields equal to the current value are ignored, and an
    /// update that changes nothing is refused. Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn update_account_profile(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        name: Option<String>,
        industry: Option<String>,
        employees: Option<UInt64>,
        annual_revenue: Option<MoneyInput>,
        region: Option<String>,
        #[graphql(desc = "The parent company, an account registered before")] parent_id: Option<
            String,
        >,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let label = |n, v: Option<String>| v.map(|s| field(n, Label::parse(s))).transpose();
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::UpdateProfile(dealtrail_domain::account::AccountProfileUpdated {
                name: optional("name", name, Name::parse)?,
                industry: label("industry", industry)?,
                employees: employees.map(|e| e.to_u32("employees")).transpose()?,
                annual_revenue: annual_revenue
                    .map(|m| m.parse("annualRevenue"))
                    .transpose()?,
                region: label("region", region)?,
                parent: optional("parentId", parent_id, |p| AccountId::parse(&p))?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Changes a contact's title, org unit, buying role, seniority, e-mail or phone. Sales,
    /// managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        contact_id: String,
        title: Option<String>,
        org_unit_id: Option<String>,
        role: Option<String>,
        seniority: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let role = role
            .map(|r| choice("role", &r, BuyingRole::parse))
            .transpose()?;
        let seniority = seniority
            .map(|x| choice("seniority", &x, Seniority::parse))
            .transpose()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::UpdateContact(dealtrail_domain::account::ContactUpdated {
                contact: field("contactId", ContactId::parse(&contact_id))?,
                title: optional("title", title, Label::parse)?,
                org_unit: optional("orgUnitId", org_unit_id, |u| OrgUnitId::parse(&u))?,
                role,
                seniority,
                email: optional("email", email, Label::parse)?,
                phone: optional("phone", phone, Label::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Records that a contact left the customer. Sales, managers, admins.
    async fn record_contact_left(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        contact_id: String,
        reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordContactLeft(dealtrail_domain::account::ContactLeft {
                contact: field("contactId", ContactId::parse(&contact_id))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Makes a rep responsible for an account. Managers, admins.
    async fn assign_account_owner(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        owner: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Manager, Role::Admin])?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::AssignOwner {
                owner: field("owner", dealtrail_domain::UserId::parse(owner))?,
            },
        );
        run(ctx, who, options, command).await
    }

    /// Revises a deal's amount and/or expected close date. Its owner, managers, admins.
    async fn revise_forecast(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "In the deal's currency's major unit")] amount: Option<Decimal>,
        currency: Option<String>,
        expected_close: Option<scalars::Date>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let currency = field(
            "currency",
            Currency::parse(currency.as_deref().unwrap_or("USD")),
        )?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::ReviseForecast {
                amount: optional("amount", amount, |a| Money::parse(&a.0, currency))?,
                expected_close: expected_close.map(|d| d.0),
            },
        );
        run(ctx, who, options, command).await
    }

    /// Records a bid. Its owner, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn submit_bid(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "In the currency's major unit")] amount: Decimal,
        currency: String,
        submitted_on: scalars::Date,
        competitors: Option<Vec<String>>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let record = BidInput {
            amount,
            currency,
            submitted_on,
            competitors,
        }
        .event()?;
        let command = Command::Opportunity(id, OpportunityCommand::SubmitBid(record));
        run(ctx, who, options, command).await
    }

    /// Reopens a closed deal at a stage. Its owner, managers, admins.
    async fn reopen_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        stage: String,
        reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Reopen(dealtrail_domain::opportunity::OpportunityReopened {
                stage: field("stage", StageName::parse(stage))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Gives a deal to another rep. Managers, admins.
    async fn reassign_owner(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        owner: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Manager, Role::Admin])?;
        let command = Command::Opportunity(
            field("opportunityId", OpportunityId::parse(&opportunity_id))?,
            OpportunityCommand::ReassignOwner {
                to: field("owner", dealtrail_domain::UserId::parse(owner))?,
            },
        );
        run(ctx, who, options, command).await
    }

    /// Puts a new pipeline definition in force. Admins.
    async fn define_pipeline(
        &self,
        ctx: &Context<'_>,
        stages: Vec<String>,
        #[graphql(desc = "won and lost are required; no_decision and withdrawn optional")]
        outcomes: Vec<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Admin])?;
        let command = Command::DefinePipeline {
            stages: stages
                .into_iter()
                .map(|s| field("stages", StageName::parse(s)))
                .collect::<Result<_, _>>()?,
            outcomes: outcomes
                .iter()
                .map(|o| choice("outcomes", o, Outcome::parse))
                .collect::<Result<_, _>>()?,
        };
        run(ctx, who, options, command).await
    }

    /// Closes a deal: won, lost, no_decision or withdrawn. Its owner, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn close_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        outcome: String,
        #[graphql(desc = "The rep's stated reason")] reason: Option<String>,
        #[graphql(desc = "The amount won, where it is not the estimate (the deal's currency)")]
        final_amount: Option<MoneyInput>,
        #[graphql(desc = "Who won instead, for a lost deal")] winning_competitor: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let outcome = choice("outcome", &outcome, Outcome::parse)?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Close {
                outcome,
                final_amount: final_amount.map(|m| m.parse("finalAmount")).transpose()?,
                winning_competitor: optional(
                    "winningCompetitor",
                    winning_competitor,
                    Label::parse,
                )?,
                reason: optional("reason", reason, Text::parse)?,
            },
        );
        run(ctx, who, options, command).await
    }
}

/// The subscription root.
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every event from a sequence number on: first those in the log, then each new one as
    /// soon as it is durable, in order, once each. Auditors and admins.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First sequence number to deliver")] from_seq: Option<UInt64>,
        #[graphql(desc = "Only this stream")] stream: Option<String>,
        #[graphql(desc = "Only these event types")] event_types: Option<Vec<String>>,
        #[graphql(desc = "Only events recorded by this user")] actor: Option<String>,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = EventEnvelope>> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let filter = LogFilter {
            stream: optional("stream", stream, StreamId::parse)?,
            event_types: event_types.unwrap_or_default().into_iter().collect(),
            actor,
            ..Default::default()
        };
        let subscription = engine(ctx)
            .store()
            .subscribe(from_seq.map_or(1, |s| s.0), filter);
        Ok(futures_util::stream::unfold(
            subscription,
            |mut s| async move {
                match s.next().await {
                    Some(Ok(e)) => Some((envelope(&e), s)),
                    _ => None,
                }
            },
        ))
    }

    /// A deal as the pipeline shows it after each write to it, from now on or from a
    /// sequence number (each view as it stood right after that write). Everyone but
    /// auditors.
    async fn opportunity_changed(
        &self,
        ctx: &Context<'_>,
        id: String,
        #[graphql(desc = "First sequence number to consider; now if absent")] from_seq: Option<
            UInt64,
        >,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = Deal>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let id = field("id", OpportunityId::parse(&id))?;
        let engine = engine(ctx).clone();
        let filter = LogFilter {
            stream: Some(dealtrail_engine::stream_id(
                dealtrail_domain::StreamName::Opportunity(id),
            )),
            ..Default::default()
        };
        let start = from_seq.map_or_else(|| engine.store().head().seq + 1, |s| s.0);
        let subscription = engine.store().subscribe(start, filter);
        Ok(futures_util::stream::unfold(
            (subscription, engine),
            move |(mut s, engine)| async move {
                loop {
                    let e = match s.next().await {
                        Some(Ok(e)) => e,
                        _ => return None,
                    };
                    engine.sales().wait_for(e.seq).await.ok()?;
                    let after_write = Cut {
                        recorded_through: e.seq,
                        ..Cut::ALL
                    };
                    let deal = engine
                        .sales()
                        .read(|m| m.deals.get(&id).and_then(|d| m.view(d, after_write)))
                        .ok()?;
                    if let Some(deal) = deal {
                        return Some((deal_row(deal), (s, engine)));
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &async_graphql::Error) -> Option<async_graphql::Value> {
        e.extensions.as_ref().and_then(|x| x.get("code")).cloned()
    }

    #[test]
    fn internal_errors_say_nothing_of_the_internals() {
        let e = engine_error(EngineError::Store(dealtrail_store::StoreError::Corrupt {
            location: "/srv/secret/log".into(),
            detail: "checksum of page 7".into(),
        }));
        assert_eq!(code(&e), Some("INTERNAL".into()));
        assert_eq!(e.message, "internal error");
    }

    #[test]
    fn rule_violations_are_validation_and_missing_streams_not_found() {
        let rejected = engine_error(EngineError::Rejected(
            dealtrail_domain::DomainError::NothingChanged,
        ));
        assert_eq!(code(&rejected), Some("VALIDATION".into()));
        let missing = engine_error(EngineError::Rejected(
            dealtrail_domain::DomainError::OpportunityNotOpened,
        ));
        assert_eq!(code(&missing), Some("NOT_FOUND".into()));
    }
}
