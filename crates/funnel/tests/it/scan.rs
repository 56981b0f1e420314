//! Passing over settled deals changes no answer: every funnel and flow equals the same
//! question asked of the model with its scan entries taken away (so every deal is folded).

use dealtrail_domain::*;
use dealtrail_funnel::{Cut, DealFilter, FlowQuery, SalesPipeline, StepKind};
use proptest::prelude::*;

use super::properties::{build, ops};
use super::*;

/// The model as a scan of every deal sees it.
fn unskipped(model: &SalesPipeline) -> SalesPipeline {
    let mut all = model.clone();
    all.scan.clear();
    all
}

/// A cut from a business day and, if `through` is below the log's length, a log position.
fn cut(at: i64, through: u64, len: u64) -> Cut {
    Cut {
        occurred_by: day(at),
        recorded_through: if through < len { through } else { u64::MAX },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The scan entries hold the same deals, and a deal is settled exactly while its last
    /// step closes it.
    #[test]
    fn the_scan_entries_match_the_deals(ops in ops()) {
        let model = build(&ops).fold();
        prop_assert!(model.scan.keys().eq(model.deals.keys()));
        for (id, deal) in &model.deals {
            let closed = deal.steps.last().is_some_and(|s| matches!(s.kind, StepKind::Closed { .. }));
            let scan = model.scan[id];
            prop_assert_eq!(scan.settled.is_some(), closed);
            prop_assert_eq!(scan.opened_at, deal.opened_at);
            if let Some(s) = scan.settled {
                prop_assert_eq!(Some(s.seq), deal.steps.last().map(|l| l.seq));
                prop_assert_eq!(Some(s.last_at), deal.steps.iter().map(|l| l.at).max());
            }
        }
    }

    /// Funnels of any window, at any cut, in the deals' currency or another one.
    #[test]
    fn a_funnel_is_the_same_with_every_deal_folded(
        ops in ops(), from in 0i64..70, len in 0i64..70, back in 0i64..40, through in 0u64..120,
        euros in any::<bool>(), owner in any::<bool>(),
    ) {
        let log = build(&ops);
        let model = log.fold();
        let all = unskipped(&model);
        let mut q = query(from, from + len);
        q.as_occurred_by = (back > 0).then(|| day(from + len - back));
        q.as_recorded_through = (through < log.0.len() as u64).then_some(through);
        if euros {
            q.currency = Currency::parse("EUR").expect("a currency");
        }
        if owner {
            q.filter.owner = Some("anna".into());
        }
        prop_assert_eq!(model.funnel(&q), all.funnel(&q));
    }

    /// Flows between any two cuts.
    #[test]
    fn a_flow_is_the_same_with_every_deal_folded(
        ops in ops(), start in 0i64..70, len in 0i64..40, due in 0i64..90,
        through in (0u64..120, 0u64..120),
    ) {
        let log = build(&ops);
        let model = log.fold();
        let n = log.0.len() as u64;
        let q = FlowQuery {
            start: cut(start, through.0, n),
            end: cut(start + len, through.1, n),
            due_by: day(due).date(),
            currency: Currency::USD,
            filter: DealFilter::default(),
        };
        prop_assert_eq!(model.flow(&q), unskipped(&model).flow(&q));
    }
}
