//! Deals as the pipeline shows them: `opportunities`, `opportunity`, `pipeline`, and the
//! deal filter the analyses share.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use dealtrail_domain::{AccountId, OpportunityId, OrgUnitId, StageName};
use dealtrail_engine::Engine;
use dealtrail_funnel::{DealFilter, DealSort, SizeBand};

use crate::access::{EVERYONE_BUT_AUDITORS, engine, identity, require};
use crate::asof::{Clock, cut, model_at};
use crate::errors::{engine_error, field, optional};
use crate::page::{Page, PageArgs, connection, fingerprint};
use crate::scalars::{self, DateTime, UInt64};

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
    /// The evidence stages ask of deals entering them.
    pub gates: Vec<Gate>,
}

/// A stage gate: what a deal must show to enter (or pass over) a stage.
#[derive(SimpleObject)]
pub struct Gate {
    /// The stage guarded.
    pub stage: String,
    /// Every requirement must be met; each is met by any of its alternatives, written
    /// joined by `|` (`record:demo|record:proof_of_concept`).
    pub requires: Vec<String>,
    /// `hard` (the move is refused) or `soft` (the move is recorded with what was missing).
    pub enforcement: String,
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
    /// Accounts whose business is `growing`, `stable`, `declining` or `unknown` at the
    /// moment asked (docs/analytics.md, Customer segments).
    pub business_trend: Option<String>,
    /// Accounts of `high`, `medium`, `low` or `none` value to us at that moment.
    pub customer_value: Option<String>,
    /// Accounts whose relationship with us is `strong`, `moderate` or `weak` then.
    pub relationship: Option<String>,
}

impl DealFilterInput {
    /// The customer segment the filter asks for.
    pub(crate) fn segment(&self) -> async_graphql::Result<crate::segments::Wanted> {
        crate::segments::Wanted::parse(
            self.business_trend.as_deref(),
            self.customer_value.as_deref(),
            self.relationship.as_deref(),
        )
    }

    /// The whole filter, its customer segment resolved to the accounts in it at `when`
    /// (now without it).
    pub(crate) async fn resolve(
        self,
        ctx: &Context<'_>,
        when: Option<crate::asof::Past>,
    ) -> async_graphql::Result<DealFilter> {
        let segment = self.segment()?;
        let mut filter = self.parse()?;
        filter.accounts = segment.accounts(ctx, when).await?;
        Ok(filter)
    }

    /// The filter without its segment (`accounts` is filled from [`Self::segment`]).
    pub(crate) fn parse(self) -> async_graphql::Result<DealFilter> {
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
            accounts: None,
        })
    }
}

/// Deals as the pipeline shows them, and the pipeline in force.
#[derive(Default)]
pub struct DealQuery;

#[Object]
impl DealQuery {
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
        let filter = filter
            .unwrap_or_default()
            .resolve(ctx, crate::asof::past(ctx, as_of, clock)?)
            .await?;
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
            gates: p
                .gates
                .iter()
                .map(|g| Gate {
                    stage: g.stage.to_string(),
                    requires: g
                        .requires
                        .iter()
                        .map(|r| dealtrail_domain::gate::requirement_text(r))
                        .collect(),
                    enforcement: g.enforcement.as_str().to_owned(),
                })
                .collect(),
        })
    }
}
