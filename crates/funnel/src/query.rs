//! Questions asked of the read model: deal lists and the funnel. Definitions are in
//! `docs/analytics.md`; every number here can be recomputed by hand from the events.

use std::collections::BTreeMap;

use dealtrail_domain::{
    AccountId, Currency, Date, Money, OpportunityId, OrgUnitId, Outcome, Pipeline, StageName,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::model::{Cut, Deal, SalesPipeline, StageRef, StepKind};

/// Account size by headcount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SizeBand {
    /// Fewer than 250 employees.
    Small,
    /// 250 to 999.
    Mid,
    /// 1,000 to 4,999.
    Large,
    /// 5,000 or more.
    Enterprise,
    /// Headcount not known.
    Unknown,
}

impl SizeBand {
    /// The band of a headcount.
    pub fn of(employees: Option<u32>) -> SizeBand {
        match employees {
            None => SizeBand::Unknown,
            Some(n) if n < 250 => SizeBand::Small,
            Some(n) if n < 1000 => SizeBand::Mid,
            Some(n) if n < 5000 => SizeBand::Large,
            Some(_) => SizeBand::Enterprise,
        }
    }
}

/// Which deals a list or a funnel looks at; every set field narrows the selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFilter {
    /// Current stage (lists only).
    pub stage: Option<StageName>,
    /// Owner.
    pub owner: Option<String>,
    /// Account.
    pub account: Option<AccountId>,
    /// Account industry.
    pub industry: Option<String>,
    /// Account region.
    pub region: Option<String>,
    /// Product line.
    pub product_line: Option<String>,
    /// The customer's department.
    pub org_unit: Option<OrgUnitId>,
    /// Account size band.
    pub size_band: Option<SizeBand>,
    /// Open (`true`) or closed (`false`) deals (lists only).
    pub open: Option<bool>,
    /// Only deals of these accounts (a customer segment, computed from the profiles).
    pub accounts: Option<std::collections::BTreeSet<AccountId>>,
}

impl DealFilter {
    /// Whether a deal is in the segment (owner at the cut; account attributes as known).
    pub(crate) fn segment_matches(&self, model: &SalesPipeline, deal: &Deal, t: Cut) -> bool {
        // The account lookup is a map search per deal: only pay it when a filter needs it.
        let needs_facts =
            self.industry.is_some() || self.region.is_some() || self.size_band.is_some();
        let facts = if needs_facts {
            model.accounts.get(&deal.account)
        } else {
            None
        };
        self.owner
            .as_ref()
            .is_none_or(|o| deal.owners.at(t).map(|i| model.names.get(*i)) == Some(o.as_str()))
            && self.account.is_none_or(|a| a == deal.account)
            && self
                .accounts
                .as_ref()
                .is_none_or(|set| set.contains(&deal.account))
            && self
                .industry
                .as_ref()
                .is_none_or(|i| facts.and_then(|f| f.industry.as_ref()) == Some(i))
            && self
                .region
                .as_ref()
                .is_none_or(|r| facts.and_then(|f| f.region.as_ref()) == Some(r))
            && self
                .product_line
                .as_ref()
                .is_none_or(|p| deal.product_line.map(|i| model.names.get(i)) == Some(p.as_str()))
            && self.org_unit.is_none_or(|u| deal.org_unit == Some(u))
            && self
                .size_band
                .is_none_or(|b| SizeBand::of(facts.and_then(|f| f.employees)) == b)
    }
}

/// The place of a deal in a sorted list: the sort value, then the id.
pub type DealKey = (i64, OpportunityId);

/// How a deal list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DealSort {
    /// By opening time (the default).
    #[default]
    OpenedAt,
    /// By current amount.
    Amount,
    /// By expected close date.
    ExpectedClose,
    /// By last activity.
    LastActivity,
    /// By days in the current stage.
    DaysInStage,
}

/// One row of a deal list: a deal's state as of a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealView {
    /// The deal.
    pub id: OpportunityId,
    /// Its account.
    pub account: AccountId,
    /// The account's name.
    pub account_name: String,
    /// Title.
    pub title: String,
    /// Owner.
    pub owner: String,
    /// Current stage (the stage it closed in, if closed).
    pub stage: String,
    /// Whole days in the current stage (until the close, if closed).
    pub days_in_stage: i64,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Currency of the amount.
    pub currency: Currency,
    /// Expected close date.
    pub expected_close: Option<Date>,
    /// Follow-ups logged.
    pub follow_ups: usize,
    /// Distinct contacts engaged.
    pub contacts_engaged: usize,
    /// Last business time anything happened.
    pub last_activity: Option<Timestamp>,
    /// The outcome, if closed.
    pub outcome: Option<Outcome>,
    /// Opening time.
    pub opened_at: Timestamp,
    /// Product line.
    pub product_line: Option<String>,
    /// Department.
    pub org_unit: Option<OrgUnitId>,
}

impl SalesPipeline {
    /// The deals matching `filter` at a cut, sorted by `sort` (descending if asked). The
    /// cut's business time is "now" for counting days in stage.
    pub fn list(
        &self,
        filter: &DealFilter,
        sort: DealSort,
        descending: bool,
        at: Cut,
    ) -> Vec<DealView> {
        self.list_window(filter, sort, descending, at, |keys| 0..keys.len())
            .1
            .into_iter()
            .map(|(_, row)| row)
            .collect()
    }

    /// Like [`list`](Self::list), but only the rows of the window that `window` picks from
    /// the sort keys of the matching deals, in list order: the sort runs on plain keys and
    /// only the window's rows are built, so a page of a large pipeline costs little more
    /// than the filter. A key is the sort value and the deal's id, which makes it unique, so
    /// a page can start after a key however the list changed since. Returns the number of
    /// matching deals and the window's rows with their keys.
    pub fn list_window(
        &self,
        filter: &DealFilter,
        sort: DealSort,
        descending: bool,
        at: Cut,
        window: impl FnOnce(&[DealKey]) -> std::ops::Range<usize>,
    ) -> (usize, Vec<(DealKey, DealView)>) {
        let keys = self
            .open_page_by_activity(filter, sort, descending, at)
            .unwrap_or_else(|| self.sorted_keys(filter, sort, descending, at));
        let total = keys.len();
        let range = window(&keys);
        let rows = keys
            .get(range.start.min(total)..range.end.min(total))
            .unwrap_or_default()
            .iter()
            .filter_map(|k| Some((*k, self.view(self.deals.get(&k.1)?, at)?)))
            .collect();
        (total, rows)
    }

    /// The keys of every deal `filter` selects at `at`, in the list's order, computed and
    /// sorted one per deal.
    fn sorted_keys(
        &self,
        filter: &DealFilter,
        sort: DealSort,
        descending: bool,
        at: Cut,
    ) -> Vec<DealKey> {
        let candidates: Box<dyn Iterator<Item = &Deal>> =
            if filter.open == Some(true) && self.cut_sees_now(at) {
                Box::new(self.open_now.iter().filter_map(|id| self.deals.get(id)))
            } else {
                Box::new(self.deals.values())
            };
        let mut keyed: Vec<(i64, &Deal)> = candidates
            .filter(|d| filter.segment_matches(self, d, at))
            .filter_map(|d| {
                let position = d.position_at(at)?;
                let amount = d.amounts.at(at)?;
                if filter
                    .stage
                    .as_ref()
                    .is_some_and(|s| s.as_str() != self.names.get(position.stage))
                    || filter.open.is_some_and(|o| o != position.closed.is_none())
                {
                    return None;
                }
                let key = match sort {
                    DealSort::OpenedAt => d.opened_at.0,
                    DealSort::Amount => amount.minor(),
                    DealSort::ExpectedClose => {
                        d.expected_close.at(at).map_or(i64::MIN, |e| i64::from(e.0))
                    }
                    DealSort::LastActivity => d.last_activity_by(at).map_or(i64::MIN, |t| t.0),
                    DealSort::DaysInStage => {
                        let until = position.closed.map_or(at.occurred_by, |(_, t, _)| t);
                        position.since.days_until(until).max(0)
                    }
                };
                Some((key, d))
            })
            .collect();
        keyed.sort_by(|a, b| {
            let order = a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id));
            if descending { order.reverse() } else { order }
        });
        keyed.into_iter().map(|(k, d)| (k, d.id)).collect()
    }

    /// The sorted keys of every deal open now by last activity, read off
    /// [`SalesPipeline::open_by_activity`], when the question is exactly that: open deals
    /// only, no other filter, a cut that admits every deal event. `None` otherwise.
    fn open_page_by_activity(
        &self,
        filter: &DealFilter,
        sort: DealSort,
        descending: bool,
        at: Cut,
    ) -> Option<Vec<DealKey>> {
        let open_only = DealFilter {
            open: Some(true),
            ..DealFilter::default()
        };
        // Every key at or before the cut means the cut admits each deal's every activity
        // (a corrected time may lie beyond the latest event's own).
        let admitted = self
            .open_by_activity
            .last()
            .is_none_or(|(k, _)| *k <= at.occurred_by.0);
        if sort != DealSort::LastActivity
            || *filter != open_only
            || !self.cut_sees_now(at)
            || !admitted
        {
            return None;
        }
        Some(if descending {
            self.open_by_activity.iter().rev().copied().collect()
        } else {
            self.open_by_activity.iter().copied().collect()
        })
    }

    /// One deal at a cut.
    pub fn view(&self, deal: &Deal, at: Cut) -> Option<DealView> {
        let position = deal.position_at(at)?;
        let amount = deal.amounts.at(at).copied()?;
        let until = position
            .closed
            .map_or(at.occurred_by, |(_, closed_at, _)| closed_at);
        Some(DealView {
            id: deal.id,
            account: deal.account,
            account_name: self
                .accounts
                .get(&deal.account)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            title: deal.title.clone(),
            owner: deal
                .owners
                .at(at)
                .map(|i| self.names.get(*i).to_owned())
                .unwrap_or_default(),
            stage: self.names.get(position.stage).to_owned(),
            days_in_stage: position.since.days_until(until).max(0),
            amount_minor: amount.minor(),
            currency: amount.currency(),
            expected_close: deal.expected_close.at(at).copied(),
            follow_ups: deal.follow_ups_by(at),
            contacts_engaged: deal.contacts_by(at),
            last_activity: deal.last_activity_by(at),
            outcome: position.closed.map(|(o, _, _)| o),
            opened_at: deal.opened_at,
            product_line: deal.product_line.map(|i| self.names.get(i).to_owned()),
            org_unit: deal.org_unit,
        })
    }
}

/// The question a funnel answers: a window of business time, a segment, and optionally an
/// earlier moment ("as occurred by") to look from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelQuery {
    /// Start of the window (inclusive).
    pub from: Timestamp,
    /// End of the window (exclusive).
    pub to: Timestamp,
    /// The segment.
    pub filter: DealFilter,
    /// Amounts are summed in this currency: those in others are converted at the rates in
    /// force on the window's last day (as known at the cut); deals without a rate for their
    /// currency are counted, not summed.
    pub currency: Currency,
    /// Look only at what had occurred by this time (the occurred clock).
    pub as_occurred_by: Option<Timestamp>,
    /// Look only at what had been recorded up to this sequence number (the recorded clock;
    /// the engine turns a recorded time into the last sequence number recorded by then).
    pub as_recorded_through: Option<u64>,
}

/// Duration statistics in days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    /// How many deals contributed.
    pub deals: usize,
    /// Median, nearest-rank.
    pub median_days: Option<f64>,
    /// 90th percentile, nearest-rank.
    pub p90_days: Option<f64>,
}

impl Durations {
    fn of(mut days: Vec<f64>) -> Durations {
        days.sort_by(f64::total_cmp);
        Durations {
            deals: days.len(),
            median_days: percentile(&days, 50),
            p90_days: percentile(&days, 90),
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// One open stage of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// The stage.
    pub stage: StageName,
    /// Distinct deals that entered it in the window.
    pub entered: usize,
    /// Entries in the window, re-entries included.
    pub entries: usize,
    /// Distinct deals that entered it or any later stage (or won) in the window.
    pub reached: usize,
    /// Summed amount of the deals that entered it.
    pub entered_amount_minor: i64,
    /// Summed amount of the deals that reached it.
    pub reached_amount_minor: i64,
    /// reached(next stage) / reached(this stage); for the last stage, won / reached.
    pub next_conversion: Option<f64>,
    /// reached(this stage) / reached(first stage).
    pub cumulative_conversion: Option<f64>,
    /// Time spent in the stage per deal, summed over re-entries, for stays that ended in
    /// the window.
    pub time_in_stage: Durations,
    /// Age of the stays still open in the stage at the end of the window.
    pub current_age: Durations,
    /// Backward moves out of this stage in the window.
    pub regressions_from: usize,
    /// Forward moves out of this stage that skipped at least one stage.
    pub skips_from: usize,
    /// Moves in the window that jumped over this stage.
    pub skipped_over: usize,
}

/// Counts of one kind of move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// From stage (or outcome, for reopenings).
    pub from: String,
    /// To stage (or outcome, for closings).
    pub to: String,
    /// How many such moves happened in the window.
    pub count: usize,
}

/// Deals opened in the window and what became of them by its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cohort {
    /// Deals opened in the window.
    pub opened: usize,
    /// Share of them that reached each open stage, in pipeline order.
    pub reached_share: Vec<(StageName, f64)>,
    /// Share won.
    pub won_share: f64,
    /// Share lost, no decision or withdrawn.
    pub closed_other_share: f64,
    /// Share still open.
    pub open_share: f64,
}

/// Deals closed in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClosedSummary {
    /// Per outcome: deals and summed amount (final amount if stated, else the estimate).
    pub by_outcome: BTreeMap<Outcome, (usize, i64)>,
}

/// Sales velocity at the end of the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Velocity {
    /// Deals open at the end of the window.
    pub open_deals: usize,
    /// Their average amount.
    pub average_amount_minor: f64,
    /// Won / all closed in the window.
    pub win_rate: Option<f64>,
    /// Average days from opening to winning, of deals won in the window.
    pub average_cycle_days: Option<f64>,
    /// Median of the same.
    pub median_cycle_days: Option<f64>,
    /// open deals × average amount × win rate / average cycle: expected won amount per day.
    pub per_day_minor: Option<f64>,
}

/// The whole funnel for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelReport {
    /// The question.
    pub query: FunnelQuery,
    /// Open stages in pipeline order.
    pub stages: Vec<StageRow>,
    /// Every kind of move in the window.
    pub transitions: Vec<Transition>,
    /// Deals opened in the window.
    pub cohort: Cohort,
    /// Deals closed in the window.
    pub closed: ClosedSummary,
    /// Velocity at the end of the window.
    pub velocity: Velocity,
    /// Deals in the segment whose amount is in another currency without a rate (counted,
    /// not summed).
    pub other_currency_deals: usize,
    /// The rates amounts in other currencies were converted with: currency, rate as
    /// recorded, whether the recorded pair is the inverse, the rate's date.
    pub rates_used: Vec<(Currency, dealtrail_domain::Rate, bool, Date)>,
}

/// Days between two instants, as a fraction, never negative.
fn days(from: Timestamp, to: Timestamp) -> f64 {
    ((to.0 - from.0) as f64 / Timestamp::DAY as f64).max(0.0)
}

impl SalesPipeline {
    /// The funnel for one window; see `docs/analytics.md` for every definition.
    pub fn funnel(&self, query: &FunnelQuery) -> FunnelReport {
        let default;
        let stages: &[StageName] = match &self.pipeline {
            Some(p) => &p.stages,
            None => {
                // Until a pipeline is defined, the default one is in force.
                default = Pipeline::default_b2b();
                &default.stages
            }
        };
        let n = stages.len();
        // Pipeline position of every stage name the deals refer to.
        let positions: Vec<Option<usize>> = (0..self.names.len() as u32)
            .map(|i| stages.iter().position(|s| s.as_str() == self.names.get(i)))
            .collect();
        let pos = |s: &StageRef| positions.get(*s as usize).copied().flatten();
        // Codes in the transition matrix: open stages 0..n, outcomes n.., unknown stages last.
        let outcome_code = |o: Outcome| n + Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0);
        let unknown_code = n + Outcome::ALL.len();
        let code = |s: &StageRef| pos(s).unwrap_or(unknown_code);
        let won_pos = n;
        // Everything is judged as of the window's end, or earlier if asked.
        let end = match query.as_occurred_by {
            Some(t) if t.0 < query.to.0 - 1 => t,
            _ => Timestamp(query.to.0 - 1),
        };
        let in_window = |t: Timestamp| t >= query.from && t <= end;
        let cut = Cut {
            occurred_by: end,
            recorded_through: query.as_recorded_through.unwrap_or(u64::MAX),
        };
        let convert = self.rates.converter(query.currency, end.date(), cut);
        let mut converted = std::collections::BTreeSet::new();

        let mut entered = vec![(0usize, 0i64); n];
        let mut entries = vec![0usize; n];
        let mut reached = vec![(0usize, 0i64); n];
        let mut won_reached = 0usize;
        let mut stay_days: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut ages: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut regressions = vec![0usize; n];
        let mut skips = vec![0usize; n];
        let mut skipped_over = vec![0usize; n];
        // Counts by (from, to) code in one flat table: a step costs an index, not a search.
        let codes = unknown_code + 1;
        let mut transitions = vec![0usize; codes * codes];
        let mut count = |from: usize, to: usize| transitions[from * codes + to] += 1;
        let mut cohort = Cohort::default();
        let mut cohort_reached = vec![0usize; n];
        let (mut cohort_won, mut cohort_other, mut cohort_open) = (0usize, 0usize, 0usize);
        let mut closed = ClosedSummary::default();
        let mut cycles = Vec::new();
        let (mut open_deals, mut open_amount) = (0usize, 0i64);
        let mut other_currency = 0usize;
        // Per-deal scratch, reused.
        let mut deal_entered = vec![false; n];
        let mut deal_stay = vec![None::<f64>; n];

        // Decided from the deal's own fields, before its history is loaded.
        let touched = self.touched(|s| {
            s.opened_at <= end
                && !s
                    .settled
                    .is_some_and(|s| s.outside_funnel(query.from, cut, query.currency))
        });
        for deal in crate::prefetch::prefetched(touched) {
            // Asked again for a model scanned whole (`touched` without its entries).
            if deal.opened_at > end || !query.filter.segment_matches(self, deal, cut) {
                continue;
            }
            let Some(amount) = deal.amounts.at(cut) else {
                continue;
            };
            let amount_minor = match convert.minor(amount) {
                Some(minor) => {
                    if amount.currency() != query.currency {
                        converted.insert(amount.currency());
                    }
                    minor
                }
                None => {
                    other_currency += 1;
                    0
                }
            };
            deal_entered.iter_mut().for_each(|e| *e = false);
            deal_stay.iter_mut().for_each(|d| *d = None);
            let mut stay: Option<(usize, Timestamp)> = None;
            let mut closed_at: Option<(Outcome, Timestamp, Option<Money>)> = None;
            let mut max_reached: Option<usize> = None;
            let mut ever_max: Option<usize> = None;
            let mut admitted = 0usize;
            for step in deal.steps.iter().filter(|s| cut.admits(s.seq, s.at)) {
                admitted += 1;
                let window = in_window(step.at);
                // Every step ends the stay in progress.
                if let Some((p, since)) = stay.take()
                    && window
                {
                    *deal_stay[p].get_or_insert(0.0) += days(since, step.at);
                }
                let entry = match &step.kind {
                    StepKind::Opened(s) => pos(s),
                    StepKind::Reopened(s) => {
                        if window {
                            let from = closed_at.map_or(unknown_code, |(o, _, _)| outcome_code(o));
                            count(from, code(s));
                        }
                        pos(s)
                    }
                    StepKind::Moved { from, to } => {
                        let (f, t) = (pos(from), pos(to));
                        if window {
                            count(code(from), code(to));
                            if let (Some(f), Some(t)) = (f, t) {
                                if t < f {
                                    regressions[f] += 1;
                                } else if t > f + 1 {
                                    skips[f] += 1;
                                    for over in &mut skipped_over[f + 1..t] {
                                        *over += 1;
                                    }
                                }
                            }
                        }
                        t
                    }
                    StepKind::Closed {
                        outcome,
                        stage,
                        final_amount,
                    } => {
                        if window {
                            count(code(stage), outcome_code(*outcome));
                        }
                        closed_at = Some((*outcome, step.at, *final_amount));
                        if *outcome == Outcome::Won {
                            ever_max = Some(won_pos);
                            if window {
                                max_reached = Some(won_pos);
                            }
                        }
                        continue;
                    }
                };
                closed_at = None;
                if let Some(p) = entry {
                    stay = Some((p, step.at));
                    if window {
                        deal_entered[p] = true;
                        entries[p] += 1;
                        max_reached = Some(max_reached.map_or(p, |m| m.max(p)));
                    }
                    ever_max = Some(ever_max.map_or(p, |m| m.max(p)));
                }
            }
            if admitted == 0 {
                continue;
            }
            for p in 0..n {
                if deal_entered[p] {
                    entered[p].0 += 1;
                    entered[p].1 += amount_minor;
                }
                if let Some(d) = deal_stay[p] {
                    stay_days[p].push(d);
                }
            }
            if let Some(m) = max_reached {
                for r in &mut reached[..(m + 1).min(n)] {
                    r.0 += 1;
                    r.1 += amount_minor;
                }
                if m == won_pos {
                    won_reached += 1;
                }
            }
            match closed_at {
                None => {
                    if let Some((p, since)) = stay {
                        ages[p].push(days(since, end));
                    }
                    open_deals += 1;
                    open_amount += amount_minor;
                }
                Some((outcome, at, final_amount)) if in_window(at) => {
                    let booked = final_amount
                        .and_then(|m| convert.minor(&m))
                        .unwrap_or(amount_minor);
                    let entry = closed.by_outcome.entry(outcome).or_default();
                    entry.0 += 1;
                    entry.1 += booked;
                    if outcome == Outcome::Won {
                        cycles.push(days(deal.opened_at, at));
                    }
                }
                Some(_) => {}
            }
            if in_window(deal.opened_at) {
                cohort.opened += 1;
                if let Some(m) = ever_max {
                    for c in &mut cohort_reached[..(m + 1).min(n)] {
                        *c += 1;
                    }
                }
                match closed_at {
                    Some((Outcome::Won, _, _)) => cohort_won += 1,
                    Some(_) => cohort_other += 1,
                    None => cohort_open += 1,
                }
            }
        }

        let share = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
        let first_reached = reached.first().map_or(0, |r| r.0);
        let rows = stages
            .iter()
            .enumerate()
            .map(|(p, stage)| {
                let next = if p + 1 < n {
                    reached[p + 1].0
                } else {
                    won_reached
                };
                StageRow {
                    stage: stage.clone(),
                    entered: entered[p].0,
                    entries: entries[p],
                    reached: reached[p].0,
                    entered_amount_minor: entered[p].1,
                    reached_amount_minor: reached[p].1,
                    next_conversion: share(next, reached[p].0),
                    cumulative_conversion: share(reached[p].0, first_reached),
                    time_in_stage: Durations::of(std::mem::take(&mut stay_days[p])),
                    current_age: Durations::of(std::mem::take(&mut ages[p])),
                    regressions_from: regressions[p],
                    skips_from: skips[p],
                    skipped_over: skipped_over[p],
                }
            })
            .collect();
        cohort.reached_share = stages
            .iter()
            .zip(&cohort_reached)
            .map(|(s, c)| (s.clone(), share(*c, cohort.opened).unwrap_or(0.0)))
            .collect();
        cohort.won_share = share(cohort_won, cohort.opened).unwrap_or(0.0);
        cohort.closed_other_share = share(cohort_other, cohort.opened).unwrap_or(0.0);
        cohort.open_share = share(cohort_open, cohort.opened).unwrap_or(0.0);

        let closed_count: usize = closed.by_outcome.values().map(|(c, _)| c).sum();
        let won_count = closed.by_outcome.get(&Outcome::Won).map_or(0, |(c, _)| *c);
        let win_rate = share(won_count, closed_count);
        let average_cycle_days =
            (!cycles.is_empty()).then(|| cycles.iter().sum::<f64>() / cycles.len() as f64);
        let average_amount_minor = if open_deals > 0 {
            open_amount as f64 / open_deals as f64
        } else {
            0.0
        };
        let per_day_minor = match (win_rate, average_cycle_days) {
            (Some(w), Some(c)) if c > 0.0 => Some(open_deals as f64 * average_amount_minor * w / c),
            _ => None,
        };
        let median_cycle_days = Durations::of(cycles).median_days;
        let name = |c: usize| {
            if c < n {
                stages[c].to_string()
            } else if c < unknown_code {
                Outcome::ALL[c - n].to_string()
            } else {
                "(other)".to_string()
            }
        };
        FunnelReport {
            query: query.clone(),
            stages: rows,
            transitions: transitions
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(i, count)| Transition {
                    from: name(i / codes),
                    to: name(i % codes),
                    count: *count,
                })
                .collect(),
            cohort,
            closed,
            velocity: Velocity {
                open_deals,
                average_amount_minor,
                win_rate,
                average_cycle_days,
                median_cycle_days,
                per_day_minor,
            },
            other_currency_deals: other_currency,
            rates_used: convert
                .used()
                .filter(|(c, ..)| converted.contains(c))
                .collect(),
        }
    }

    /// The funnel at each of a series of window ends, each window as long as `query`'s.
    pub fn trend(&self, query: &FunnelQuery, ends: &[Timestamp]) -> Vec<FunnelReport> {
        let length = query.to.0 - query.from.0;
        ends.iter()
            .map(|end| {
                let q = FunnelQuery {
                    from: Timestamp(end.0 - length),
                    to: *end,
                    ..query.clone()
                };
                self.funnel(&q)
            })
            .collect()
    }
}
