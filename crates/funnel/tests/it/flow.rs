//! The pipeline flow balances on random histories, and each bucket equals what the two
//! as-of deal lists say independently; plus each bucket's edge cases.

use std::collections::BTreeMap;

use dealtrail_domain::*;
use dealtrail_funnel::{Cut, DealFilter, DealSort, FlowBucket, FlowQuery, SalesPipeline};
use proptest::prelude::*;

use super::properties::{build, ops};
use super::*;

fn query(start: Cut, end: Cut, due: i64) -> FlowQuery {
    FlowQuery {
        start,
        end,
        due_by: day(due).date(),
        currency: Currency::USD,
        filter: DealFilter::default(),
    }
}

/// The open pipeline due by `due` at `cut`, from the deal list as the API shows it.
fn pipeline(m: &SalesPipeline, cut: Cut, due: Date) -> BTreeMap<OpportunityId, i64> {
    let open = DealFilter {
        open: Some(true),
        ..DealFilter::default()
    };
    m.list(&open, DealSort::OpenedAt, false, cut)
        .into_iter()
        .filter(|d| d.expected_close.is_some_and(|c| c <= due))
        .map(|d| (d.id, d.amount_minor))
        .collect()
}

/// The buckets computed from the two pipelines and each deal's view at the end.
fn expected(m: &SalesPipeline, q: &FlowQuery) -> BTreeMap<FlowBucket, (usize, i64)> {
    let (a, b) = (pipeline(m, q.start, q.due_by), pipeline(m, q.end, q.due_by));
    let mut out: BTreeMap<FlowBucket, (usize, i64)> = BTreeMap::new();
    let mut add = |bucket, change: i64| {
        let e = out.entry(bucket).or_default();
        e.0 += 1;
        e.1 += change;
    };
    for deal in m.deals.values() {
        let before = m.view(deal, q.start);
        let after = m.view(deal, q.end);
        let closed = match (&before, &after) {
            (b, Some(a)) if b.as_ref().is_none_or(|b| b.outcome.is_none()) => a.outcome,
            _ => None,
        }
        .map(|o| {
            if o == Outcome::Won {
                FlowBucket::Won
            } else {
                FlowBucket::Lost
            }
        });
        let gain = if before.is_some() {
            FlowBucket::PulledIn
        } else {
            FlowBucket::Created
        };
        match (a.get(&deal.id), b.get(&deal.id)) {
            (Some(s), Some(e)) if e > s => add(FlowBucket::Increased, e - s),
            (Some(s), Some(e)) if e < s => add(FlowBucket::Decreased, e - s),
            (Some(_), Some(_)) => add(FlowBucket::Unchanged, 0),
            (Some(s), None) => add(closed.unwrap_or(FlowBucket::PushedOut), -s),
            (None, Some(e)) => add(gain, *e),
            (None, None) => {
                if let (Some(close), Some(view)) = (closed, &after) {
                    add(gain, view.amount_minor);
                    add(close, -view.amount_minor);
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// start + gains − losses = end, and every bucket is what the as-of lists say.
    #[test]
    fn the_flow_balances_and_matches_the_two_pipelines(
        ops in ops(), from in 0i64..60, len in 0i64..40, recorded in any::<bool>(), k in 0u64..100,
    ) {
        let log = build(&ops);
        let model = log.fold();
        let to = from + len;
        let (start, end) = if recorded {
            // On the recorded clock: the first k events against all of them.
            (Cut { occurred_by: Timestamp(i64::MAX), recorded_through: k }, Cut::ALL)
        } else {
            (Cut::occurred_by(day(from)), Cut::occurred_by(day(to)))
        };
        let q = query(start, end, to);
        let report = model.flow(&q);
        let change: i64 = report.buckets.iter().map(|b| b.change_minor).sum();
        prop_assert_eq!(report.start.1 + change, report.end.1);
        prop_assert_eq!(report.start.0, pipeline(&model, start, q.due_by).len());
        prop_assert_eq!(report.end.0, pipeline(&model, end, q.due_by).len());
        let got: BTreeMap<FlowBucket, (usize, i64)> = report
            .buckets
            .iter()
            .filter(|b| b.deals > 0)
            .map(|b| (b.bucket, (b.deals, b.change_minor)))
            .collect();
        prop_assert_eq!(got, expected(&model, &q));
    }
}

fn revise(log: &mut Log, d: u128, at: i64, amount: Option<i64>, close: Option<i64>) {
    log.add(
        day(at),
        Event::Opportunity(
            deal(d),
            dealtrail_domain::opportunity::OpportunityEvent::ForecastRevised(
                dealtrail_domain::opportunity::ForecastRevised {
                    amount: amount.map(usd),
                    expected_close: close.map(|c| day(c).date()),
                    previous_close: Date::parse("2024-12-31").unwrap(),
                },
            ),
        ),
    );
}

#[test]
fn each_bucket_at_its_edges() {
    let mut log = Log::default();
    log.pipeline().account(1, "medical", 300);
    // Open before the period with a close inside it, one per case.
    for d in 1..=7 {
        log.open(d, 1, "anna", 100, 1);
        revise(&mut log, d, 1, None, Some(40));
    }
    revise(&mut log, 1, 20, Some(150), None); // increased by 50
    revise(&mut log, 2, 20, Some(60), None); // decreased by 40
    revise(&mut log, 3, 20, None, Some(90)); // pushed out
    log.close(3, Outcome::Lost, "Lead", 25); // ... then lost: the close wins, −100
    revise(&mut log, 4, 20, None, Some(90)); // pushed out, −100
    log.close(5, Outcome::Won, "Lead", 30); // won, −100
    log.close(6, Outcome::NoDecision, "Lead", 30); // lost, −100
    // 7 stays as it was: unchanged.
    // Before the period but due later, then pulled in: +100.
    log.open(8, 1, "bob", 100, 2);
    revise(&mut log, 8, 15, None, Some(45));
    // Created in the period, due in it: +70.
    log.open(9, 1, "bob", 70, 12);
    revise(&mut log, 9, 12, None, Some(45));
    // Created and won within the period: +30 created and −30 won.
    log.open(10, 1, "bob", 30, 12);
    log.close(10, Outcome::Won, "Lead", 14);
    // Exactly on the period's end: counted (the cut includes its own instant).
    log.open(11, 1, "bob", 5, 50);
    revise(&mut log, 11, 50, None, Some(50));
    let model = log.fold();
    let report = model.flow(&query(
        Cut::occurred_by(day(10)),
        Cut::occurred_by(day(50)),
        50,
    ));
    let of = |b: FlowBucket| {
        let t = report.buckets.iter().find(|x| x.bucket == b).unwrap();
        (t.deals, t.change_minor / 100)
    };
    assert_eq!(report.start, (7, 700 * 100));
    assert_eq!(of(FlowBucket::Increased), (1, 50));
    assert_eq!(of(FlowBucket::Decreased), (1, -40));
    assert_eq!(of(FlowBucket::PushedOut), (1, -100));
    assert_eq!(of(FlowBucket::Lost), (2, -200));
    assert_eq!(of(FlowBucket::Won), (2, -130));
    assert_eq!(of(FlowBucket::Unchanged), (1, 0));
    assert_eq!(of(FlowBucket::PulledIn), (1, 100));
    assert_eq!(of(FlowBucket::Created), (3, 105));
    assert_eq!(report.end, (6, (150 + 60 + 100 + 100 + 70 + 5) * 100));
    let moved: i64 = report.buckets.iter().map(|b| b.change_minor).sum();
    assert_eq!(report.start.1 + moved, report.end.1);
}
