//! `pipelineFlow`: the open pipeline at two moments and every deal's movement between them,
//! each bucket with its deals and each deal with the events that moved it.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, SimpleObject};
use dealtrail_domain::{Currency, OpportunityId, StreamName, Timestamp};
use dealtrail_engine::Engine;
use dealtrail_funnel::{Cut, FlowBucket, FlowMove, FlowQuery, FlowReport};

use crate::access::{engine, require};
use crate::asof::{Clock, cut, model_at};
use crate::auth::Role;
use crate::deals::DealFilterInput;
use crate::errors::{engine_error, error, field};
use crate::log::{EventEnvelope, envelope};
use crate::page::{Page, PageArgs, connection, fingerprint};
use crate::scalars::{self, DateTime, UInt64};

/// The pipeline at one end of the period.
#[derive(SimpleObject, Clone)]
pub struct FlowEnd {
    /// The moment.
    pub at: DateTime,
    /// Open deals due by the period's last day.
    pub deals: UInt64,
    /// Their amount.
    pub amount: scalars::Money,
}

/// One deal's move in a bucket.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct FlowDeal {
    /// The deal.
    pub opportunity_id: String,
    /// Its title.
    pub title: String,
    /// Its account.
    pub account_id: String,
    /// Its owner at the end.
    pub owner: String,
    /// Its amount in the start pipeline.
    pub start_amount: Option<scalars::Money>,
    /// Its amount in the end pipeline.
    pub end_amount: Option<scalars::Money>,
    /// What the move adds (negative: takes away).
    pub change: scalars::Money,
    #[graphql(skip)]
    pub window: (Cut, Cut),
}

#[ComplexObject]
impl FlowDeal {
    /// The deal's events that the end of the period admits and its start did not: what
    /// moved it, each with its sequence number, actor, times and hash.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EventEnvelope>> {
        let (start, end) = self.window;
        deal_events(ctx, &self.opportunity_id, |seq, at| {
            end.admits(seq, at) && !start.admits(seq, at)
        })
    }
}

/// The events of a deal's stream that `admits` (sequence number, business time) keeps.
pub(crate) fn deal_events(
    ctx: &Context<'_>,
    opportunity_id: &str,
    admits: impl Fn(u64, Timestamp) -> bool,
) -> async_graphql::Result<Vec<EventEnvelope>> {
    let id = field("opportunityId", OpportunityId::parse(opportunity_id))?;
    let stream = dealtrail_engine::stream_id(StreamName::Opportunity(id));
    let stored = engine(ctx)
        .store()
        .read_stream(&stream, 1, dealtrail_store::Direction::Forward, 10_000)
        .map_err(|e| engine_error(e.into()))?;
    Ok(stored
        .iter()
        .filter(|e| admits(e.seq, Timestamp(e.occurred_at.0)))
        .map(envelope)
        .collect())
}

/// A bucket of the flow.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct FlowBucketRow {
    /// `created`, `pulled_in`, `increased`, `decreased`, `pushed_out`, `won`, `lost` or
    /// `unchanged` (docs/analytics.md, Pipeline flow).
    pub bucket: String,
    /// Moves in it.
    pub deals: UInt64,
    /// Their summed change (negative: taken away from the pipeline).
    pub change: scalars::Money,
    #[graphql(skip)]
    pub moves: Arc<Moves>,
    #[graphql(skip)]
    pub of: FlowBucket,
    #[graphql(skip)]
    pub listed: bool,
}

/// What a bucket's `moves` pages over: the whole flow's moves and how to show them.
pub struct Moves {
    report: FlowReport,
    window: (Cut, Cut),
    currency: Currency,
    fingerprint: String,
}

/// A move's place in its bucket's list: the largest change first, then by deal.
type MoveKey = (u64, OpportunityId);

fn move_key(m: &FlowMove) -> MoveKey {
    (u64::MAX - m.change_minor.unsigned_abs(), m.deal)
}

#[ComplexObject]
impl FlowBucketRow {
    /// The bucket's moves, the largest change first, as a Relay connection (a drill-down
    /// page reads only the events of the deals it shows). Empty, with a total of 0, for
    /// the buckets that the flow's `bucket` argument leaves out: page through one bucket
    /// by naming it there.
    async fn moves(
        &self,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<Page<FlowDeal>> {
        let all = &self.moves;
        if !self.listed {
            // Its cursors, if any, are another bucket's: a page of one bucket names it.
            return Ok(connection::<MoveKey, FlowDeal>("", 0..0, 0, []));
        }
        let print = format!("{}:{}", all.fingerprint, self.of.as_str());
        let window = PageArgs {
            after,
            before,
            first,
            last,
        }
        .check::<MoveKey>(&print)?;
        let mut listed: Vec<(MoveKey, &FlowMove)> = all
            .report
            .moves
            .iter()
            .filter(|m| m.bucket == self.of)
            .map(|m| (move_key(m), m))
            .collect();
        listed.sort_unstable_by_key(|(k, _)| *k);
        let keys: Vec<MoveKey> = listed.iter().map(|(k, _)| *k).collect();
        let range = window.range(&keys, false);
        let money = |minor: i64| scalars::Money::minor(minor, all.currency);
        let items = listed[range.clone()].iter().map(|(key, m)| {
            let deal = FlowDeal {
                opportunity_id: m.deal.to_string(),
                title: m.title.clone(),
                account_id: m.account.to_string(),
                owner: m.owner.clone(),
                start_amount: m.start_minor.map(money),
                end_amount: m.end_minor.map(money),
                change: money(m.change_minor),
                window: all.window,
            };
            (*key, deal)
        });
        Ok(connection(&print, range, keys.len(), items))
    }
}

/// The pipeline flow of a period.
#[derive(SimpleObject)]
pub struct PipelineFlow {
    /// The pipeline at the start.
    pub start: FlowEnd,
    /// The pipeline at the end.
    pub end: FlowEnd,
    /// Every bucket, in waterfall order: start + the changes of all buckets = end.
    pub buckets: Vec<FlowBucketRow>,
    /// Deals in the pipeline at either end in a currency without a rate, left out of every
    /// figure.
    pub other_currency_deals: UInt64,
    /// The rates amounts in other currencies were converted with (both ends at the end's).
    pub rates_used: Vec<crate::rates::RateUsed>,
}

/// The pipeline flow query.
#[derive(Default)]
pub struct FlowAnalysisQuery;

#[Object]
impl FlowAnalysisQuery {
    /// The open pipeline due by the period's last day at `from` and at `to`, and every
    /// deal's movement between them, in buckets that balance to the minor unit. Analysts,
    /// managers and admins.
    #[allow(clippy::too_many_arguments)]
    async fn pipeline_flow(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period's start")] from: DateTime,
        #[graphql(desc = "The period's end")] to: DateTime,
        #[graphql(desc = "OCCURRED (default: business time) or RECORDED")] clock: Option<Clock>,
        filter: Option<DealFilterInput>,
        #[graphql(desc = "Only this bucket's moves are listed (all buckets are counted)")]
        bucket: Option<String>,
        currency: Option<String>,
    ) -> async_graphql::Result<Arc<PipelineFlow>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            if to.0 <= from.0 {
                return Err(error("VALIDATION", "to: must be after from"));
            }
            let only = bucket
                .map(|b| {
                    FlowBucket::parse(&b).ok_or_else(|| {
                        error(
                            "VALIDATION",
                            format!(
                                "bucket: unknown value {b:?} (one of: {})",
                                FlowBucket::ALL.map(FlowBucket::as_str).join(", ")
                            ),
                        )
                    })
                })
                .transpose()?;
            let currency = field(
                "currency",
                Currency::parse(currency.as_deref().unwrap_or("USD")),
            )?;
            let clock = Some(clock.unwrap_or(Clock::Occurred));
            let (start, end) = (cut(ctx, Some(from), clock)?, cut(ctx, Some(to), clock)?);
            let deals = filter
                .unwrap_or_default()
                .resolve(ctx, crate::asof::past(ctx, Some(to), clock)?)
                .await?;
            let query = FlowQuery {
                start,
                end,
                due_by: to.0.date(),
                currency,
                filter: deals,
            };
            let fingerprint = fingerprint("pipelineFlow.moves", &query);
            let report = model_at(ctx, None, Engine::sales, move |m| m.flow(&query)).await?;
            let money = |minor: i64| scalars::Money::minor(minor, currency);
            let totals: Vec<_> = report.buckets.clone();
            let (start_end, other, rates) = (
                (report.start, report.end),
                report.other_currencies,
                crate::rates::RateUsed::rows(&report.rates_used),
            );
            let moves = Arc::new(Moves {
                report,
                window: (start, end),
                currency,
                fingerprint,
            });
            let buckets = totals
                .iter()
                .map(|b| FlowBucketRow {
                    bucket: b.bucket.as_str().into(),
                    deals: b.deals.into(),
                    change: money(b.change_minor),
                    moves: moves.clone(),
                    of: b.bucket,
                    listed: only.is_none_or(|o| o == b.bucket),
                })
                .collect();
            let report = (start_end.0, start_end.1);
            Ok(PipelineFlow {
                start: FlowEnd {
                    at: from,
                    deals: report.0.0.into(),
                    amount: money(report.0.1),
                },
                end: FlowEnd {
                    at: to,
                    deals: report.1.0.into(),
                    amount: money(report.1.1),
                },
                buckets,
                other_currency_deals: other.into(),
                rates_used: rates,
            })
        })
        .await
    }
}
