//! Pipeline flow between two moments: the open pipeline due by the end of the period at its
//! start and at its end, and every deal's movement between them in buckets, so that
//! start + gains − losses = end to the minor unit (definitions in docs/analytics.md).

use dealtrail_domain::{AccountId, Currency, Date, OpportunityId, Outcome};
use serde::{Deserialize, Serialize};

use crate::model::{Cut, Deal, SalesPipeline};
use crate::query::DealFilter;

/// What moved a deal into, within or out of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowBucket {
    /// Opened in the period (a gain).
    Created,
    /// Existed before, entered the pipeline in the period: its close date moved into the
    /// period, or it was reopened (a gain).
    PulledIn,
    /// In the pipeline at both ends with a higher amount (a gain of the difference).
    Increased,
    /// In the pipeline at both ends with a lower amount (a loss of the difference).
    Decreased,
    /// Left the pipeline still open: its close date moved past the period (a loss).
    PushedOut,
    /// Closed as won in the period (a loss to the pipeline).
    Won,
    /// Closed otherwise in the period: lost, no decision, withdrawn (a loss).
    Lost,
    /// In the pipeline at both ends with the same amount.
    Unchanged,
}

impl FlowBucket {
    /// Every bucket, in the order a waterfall shows them.
    pub const ALL: [FlowBucket; 8] = [
        FlowBucket::Created,
        FlowBucket::PulledIn,
        FlowBucket::Increased,
        FlowBucket::Decreased,
        FlowBucket::PushedOut,
        FlowBucket::Won,
        FlowBucket::Lost,
        FlowBucket::Unchanged,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowBucket::Created => "created",
            FlowBucket::PulledIn => "pulled_in",
            FlowBucket::Increased => "increased",
            FlowBucket::Decreased => "decreased",
            FlowBucket::PushedOut => "pushed_out",
            FlowBucket::Won => "won",
            FlowBucket::Lost => "lost",
            FlowBucket::Unchanged => "unchanged",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<FlowBucket> {
        FlowBucket::ALL.into_iter().find(|b| b.as_str() == s.trim())
    }
}

/// The question: the two moments, the last day a deal's expected close may fall on to be in
/// the pipeline, the currency summed, the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowQuery {
    /// The start of the period.
    pub start: Cut,
    /// The end of the period.
    pub end: Cut,
    /// The period's last day: the pipeline holds open deals expected to close by then.
    pub due_by: Date,
    /// The currency summed: amounts in others are converted, at both ends, at the rates in
    /// force on `due_by` as known at the end; deals without a rate are counted apart.
    pub currency: Currency,
    /// The segment (owner at the end, account attributes).
    pub filter: DealFilter,
}

/// One deal's movement (a deal created or pulled in and closed within the period has two:
/// its gain and its close, of the same amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowMove {
    /// The deal.
    pub deal: OpportunityId,
    /// Its account.
    pub account: AccountId,
    /// Its title.
    pub title: String,
    /// Its owner at the end.
    pub owner: String,
    /// The bucket.
    pub bucket: FlowBucket,
    /// Its amount in the start pipeline (minor units), if it was in it.
    pub start_minor: Option<i64>,
    /// Its amount in the end pipeline, if it is in it.
    pub end_minor: Option<i64>,
    /// What this move adds to the pipeline (negative: takes away), in minor units.
    pub change_minor: i64,
}

/// A bucket's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTotal {
    /// The bucket.
    pub bucket: FlowBucket,
    /// Moves in it.
    pub deals: usize,
    /// Their summed change (minor units).
    pub change_minor: i64,
}

/// The flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowReport {
    /// Deals in the start pipeline, and their amount (minor units).
    pub start: (usize, i64),
    /// Deals in the end pipeline, and their amount.
    pub end: (usize, i64),
    /// Every bucket, in [`FlowBucket::ALL`] order.
    pub buckets: Vec<BucketTotal>,
    /// Every move, by deal.
    pub moves: Vec<FlowMove>,
    /// Deals of the segment in the pipeline at either end in another currency without a
    /// rate, left out.
    pub other_currencies: usize,
    /// The rates amounts in other currencies were converted with (as in the funnel).
    pub rates_used: Vec<(Currency, dealtrail_domain::Rate, bool, Date)>,
}

/// Where a deal stood at a cut, if it had been opened by then (as the deal list sees it: a
/// deal exists from its opening).
fn position(deal: &Deal, cut: Cut) -> Option<crate::model::Position> {
    deal.amounts.at(cut)?;
    deal.position_at(cut)
}

/// A deal's place in the pipeline at one cut: open, due by the period's end, its amount.
fn in_pipeline(deal: &Deal, cut: Cut, due_by: Date) -> Option<dealtrail_domain::Money> {
    let position = position(deal, cut)?;
    if position.closed.is_some() {
        return None;
    }
    let close = deal.expected_close.at(cut)?;
    if *close > due_by {
        return None;
    }
    deal.amounts.at(cut).copied()
}

impl SalesPipeline {
    /// The pipeline flow of `q`.
    pub fn flow(&self, q: &FlowQuery) -> FlowReport {
        let mut moves = Vec::new();
        let (mut start, mut end, mut other) = ((0, 0), (0, 0), 0);
        let convert = self.rates.converter(q.currency, q.due_by, q.end);
        let mut seen = std::collections::BTreeSet::new();
        let touched = self.touched(|s| !s.settled.is_some_and(|s| s.outside_flow(q.start, q.end)));
        for deal in crate::prefetch::prefetched(touched) {
            if !q.filter.segment_matches(self, deal, q.end) {
                continue;
            }
            let mut minor = |m: dealtrail_domain::Money| {
                if m.currency() != q.currency {
                    seen.insert(m.currency());
                }
                convert.minor(&m)
            };
            let at_start = in_pipeline(deal, q.start, q.due_by).map(&mut minor);
            let at_end = in_pipeline(deal, q.end, q.due_by).map(&mut minor);
            if matches!(at_start, Some(None)) || matches!(at_end, Some(None)) {
                other += 1;
                continue;
            }
            let (s, e) = (at_start.flatten(), at_end.flatten());
            if let Some(s) = s {
                start = (start.0 + 1, start.1 + s);
            }
            if let Some(e) = e {
                end = (end.0 + 1, end.1 + e);
            }
            let existed = position(deal, q.start).is_some();
            let closed_in_period = match (position(deal, q.start), position(deal, q.end)) {
                (before, Some(after)) if before.as_ref().is_none_or(|p| p.closed.is_none()) => {
                    after.closed.map(|(o, _, _)| {
                        if o == Outcome::Won {
                            FlowBucket::Won
                        } else {
                            FlowBucket::Lost
                        }
                    })
                }
                _ => None,
            };
            let owner = deal
                .owners
                .at(q.end)
                .map(|o| self.names.get(*o).to_owned())
                .unwrap_or_default();
            let mut push = |bucket, change_minor| {
                moves.push(FlowMove {
                    deal: deal.id,
                    account: deal.account,
                    title: deal.title.clone(),
                    owner: owner.clone(),
                    bucket,
                    start_minor: s,
                    end_minor: e,
                    change_minor,
                })
            };
            let gain = if existed {
                FlowBucket::PulledIn
            } else {
                FlowBucket::Created
            };
            match (s, e) {
                (Some(s), Some(e)) => push(
                    match e.cmp(&s) {
                        std::cmp::Ordering::Greater => FlowBucket::Increased,
                        std::cmp::Ordering::Less => FlowBucket::Decreased,
                        std::cmp::Ordering::Equal => FlowBucket::Unchanged,
                    },
                    e - s,
                ),
                (Some(s), None) => push(closed_in_period.unwrap_or(FlowBucket::PushedOut), -s),
                (None, Some(e)) => push(gain, e),
                (None, None) => {
                    // Came in and went out within the period: counted on both sides, with
                    // its amount at the end, so that it balances and the close is seen.
                    if let Some(close) = closed_in_period
                        && let Some(minor) = deal.amounts.at(q.end).and_then(|m| convert.minor(m))
                    {
                        push(gain, minor);
                        push(close, -minor);
                    }
                }
            }
        }
        let buckets = FlowBucket::ALL
            .into_iter()
            .map(|bucket| {
                let of: Vec<_> = moves.iter().filter(|m| m.bucket == bucket).collect();
                BucketTotal {
                    bucket,
                    deals: of.len(),
                    change_minor: of.iter().map(|m| m.change_minor).sum(),
                }
            })
            .collect();
        FlowReport {
            start,
            end,
            buckets,
            moves,
            other_currencies: other,
            rates_used: convert.used().filter(|(c, ..)| seen.contains(c)).collect(),
        }
    }
}
