//! Closed deals that a question starting later can pass over without reading their history.
//!
//! Most deals of a long history were closed long before the window a funnel or a flow asks
//! about. Such a deal adds nothing to the answer, but finding that out by folding its steps
//! and amounts costs two memory loads per deal, most of a scan's time. A [`Scan`] entry,
//! kept beside the deal in a small map of its own, holds what it takes to decide that
//! without loading the deal.

use dealtrail_domain::{Currency, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{Cut, Deal, SalesPipeline, StepKind};

/// What a scan needs to know of a deal to pass over it; small, so that the entries of all
/// deals stay in the processor's cache where the deals themselves do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// Business time of the deal's opening.
    pub opened_at: Timestamp,
    /// Set while the deal's last step closes it.
    pub settled: Option<Settled>,
}

impl Scan {
    pub(crate) fn opened(at: Timestamp) -> Scan {
        Scan {
            opened_at: at,
            settled: None,
        }
    }
}

impl SalesPipeline {
    /// The deals, in id order, whose scan entry `keep` accepts; the others are not loaded.
    pub(crate) fn touched<'a>(
        &'a self,
        keep: impl Fn(&Scan) -> bool + 'a,
    ) -> Box<dyn Iterator<Item = &'a Deal> + 'a> {
        // The fold adds a deal and its entry together and removes neither, so both maps
        // hold the same ids and walking them side by side pairs each deal with its entry.
        // A model put together otherwise is scanned whole.
        if self.scan.len() != self.deals.len() {
            return Box::new(self.deals.values());
        }
        Box::new(
            self.scan
                .values()
                .zip(self.deals.values())
                .filter(move |(s, _)| keep(s))
                .map(|(_, d)| d),
        )
    }
}

/// Set while the deal's last step in log order closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// The closing step's sequence number: the last of the deal's steps in the log.
    pub seq: u64,
    /// The latest business time of any step (a close may be dated before a move).
    pub last_at: Timestamp,
    /// The currency of every estimated amount, if they share one.
    pub currency: Option<Currency>,
}

impl Settled {
    /// What `deal` is now, from its steps and amounts.
    pub(crate) fn of(deal: &Deal) -> Option<Settled> {
        let last = deal.steps.last()?;
        if !matches!(last.kind, StepKind::Closed { .. }) {
            return None;
        }
        let last_at = deal.steps.iter().map(|s| s.at).max().unwrap_or(last.at);
        let mut currencies = deal.amounts.0.iter().map(|(_, _, m)| m.currency());
        let first = currencies.next();
        let currency = first.filter(|c| currencies.all(|other| other == *c));
        Some(Settled {
            seq: last.seq,
            last_at: last_at.max(deal.opened_at),
            currency,
        })
    }

    /// Whether `cut` sees every step, so the deal is closed at the cut exactly as it is now.
    fn closed_at(&self, cut: Cut) -> bool {
        self.last_at <= cut.occurred_by && self.seq <= cut.recorded_through
    }

    /// Whether a funnel whose window starts at `from`, judged at `cut`, in `currency`, would
    /// count nothing of the deal: closed at the cut, every step before the window, and no
    /// amount that would be converted or counted as another currency.
    pub(crate) fn outside_funnel(&self, from: Timestamp, cut: Cut, currency: Currency) -> bool {
        self.last_at < from && self.closed_at(cut) && self.currency == Some(currency)
    }

    /// Whether a flow from `start` to `end` would count nothing of the deal: closed at both
    /// cuts, so it is in neither pipeline and did not close within the period.
    pub(crate) fn outside_flow(&self, start: Cut, end: Cut) -> bool {
        self.closed_at(start) && self.closed_at(end)
    }
}
