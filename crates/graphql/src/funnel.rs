//! The funnel: `funnel` and `funnelTrend`.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::{Currency, Timestamp};
use dealtrail_engine::Engine;
use dealtrail_funnel::FunnelQuery;

use crate::access::{engine, require};
use crate::asof::{Clock, cut, model_at};
use crate::auth::Role;
use crate::cache::FunnelCache;
use crate::deals::DealFilterInput;
use crate::errors::{error, field};
use crate::scalars::{self, DateTime, UInt64};

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
    /// The deals opened in the window, followed to now: how far they got.
    pub cohort: FunnelCohort,
    /// Deals in another currency without a rate to convert them: counted, left out of sums.
    pub other_currency_deals: UInt64,
    /// The rates amounts in other currencies were converted with.
    pub rates_used: Vec<crate::rates::RateUsed>,
}

/// The cohort view: the deals opened in the window and what became of them (the snapshot
/// view, `stages`, counts what happened in the window to any deal).
#[derive(SimpleObject)]
pub struct FunnelCohort {
    /// Deals opened in the window.
    pub opened: UInt64,
    /// Share of them that reached each open stage, in pipeline order.
    pub reached: Vec<CohortStage>,
    /// Share won.
    pub won_share: f64,
    /// Share lost, no decision or withdrawn.
    pub closed_other_share: f64,
    /// Share still open.
    pub open_share: f64,
}

/// A stage of the cohort view.
#[derive(SimpleObject)]
pub struct CohortStage {
    /// The stage.
    pub stage: String,
    /// Share of the cohort that reached it.
    pub share: f64,
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
pub(crate) fn funnel_query(
    ctx: &Context<'_>,
    from: DateTime,
    to: DateTime,
    filter: dealtrail_funnel::DealFilter,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
    currency: Option<String>,
) -> async_graphql::Result<FunnelQuery> {
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

pub(crate) fn funnel_object(report: dealtrail_funnel::FunnelReport, currency: Currency) -> Funnel {
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
        cohort: FunnelCohort {
            opened: report.cohort.opened.into(),
            reached: report
                .cohort
                .reached_share
                .iter()
                .map(|(stage, share)| CohortStage {
                    stage: stage.to_string(),
                    share: *share,
                })
                .collect(),
            won_share: report.cohort.won_share,
            closed_other_share: report.cohort.closed_other_share,
            open_share: report.cohort.open_share,
        },
        other_currency_deals: report.other_currency_deals.into(),
        rates_used: crate::rates::RateUsed::rows(&report.rates_used),
    }
}

/// The funnel of a window, and its trend.
#[derive(Default)]
pub struct FunnelAnalysisQuery;

#[Object]
impl FunnelAnalysisQuery {
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
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let filter = filter
                .unwrap_or_default()
                .resolve(ctx, crate::asof::past(ctx, as_of, clock)?)
                .await?;
            let query = funnel_query(ctx, from, to, filter, as_of, clock, currency)?;
            ctx.data_unchecked::<FunnelCache>()
                .get(engine(ctx), query)
                .await
        })
        .await
        .map(|shared: Arc<Arc<Funnel>>| Arc::clone(&*shared))
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
    ) -> async_graphql::Result<Arc<Vec<FunnelTrendPoint>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let points = points.unwrap_or(6);
            if !(1..=24).contains(&points) {
                return Err(error("VALIDATION", "points: between 1 and 24"));
            }
            let step = i64::from(step_days.unwrap_or(30));
            if !(1..=366).contains(&step) {
                return Err(error("VALIDATION", "stepDays: between 1 and 366"));
            }
            let filter = filter
                .unwrap_or_default()
                .resolve(ctx, crate::asof::past(ctx, as_of, clock)?)
                .await?;
            let query = funnel_query(ctx, from, to, filter, as_of, clock, currency)?;
            let currency = query.currency;
            let ends: Vec<Timestamp> = (0..i64::from(points))
                .rev()
                .map(|k| Timestamp(query.to.0 - k * step * Timestamp::DAY))
                .collect();
            let length = query.to.0 - query.from.0;
            let wanted = ends.clone();
            let reports =
                model_at(ctx, None, Engine::sales, move |m| m.trend(&query, &wanted)).await?;
            Ok(ends
                .iter()
                .zip(reports)
                .map(|(end, r)| FunnelTrendPoint {
                    window_start: DateTime(Timestamp(end.0 - length)),
                    window_end: DateTime(*end),
                    funnel: funnel_object(r, currency),
                })
                .collect())
        })
        .await
    }
}
