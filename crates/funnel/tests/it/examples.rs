//! Worked examples: funnels computed by hand from small logs.

use dealtrail_domain::opportunity::{FollowUpLogged, OpportunityEvent};
use dealtrail_domain::*;
use dealtrail_funnel::{Cut, DealFilter, DealSort, SizeBand, StageRow};

use super::*;

/// Three deals in January (days 0-30):
/// - deal 1 (acct 1): Lead (d1) → Solution (d5, skips Qualified) → Qualified (d8, back) →
///   Bid (d10, skips Solution and Demo/POC) → won (d20).
/// - deal 2 (acct 1): Lead (d2) → Qualified (d4) → lost in Qualified (d6).
/// - deal 3 (acct 2): Lead (d3), still there.
fn january() -> Log {
    let mut log = Log::default();
    log.pipeline()
        .account(1, "medical", 3000)
        .account(2, "retail", 100)
        .open(1, 1, "anna", 1000, 1)
        .open(2, 1, "bob", 500, 2)
        .open(3, 2, "anna", 200, 3)
        .moved(2, "Lead", "Qualified", 4)
        .moved(1, "Lead", "Solution", 5)
        .close(2, Outcome::Lost, "Qualified", 6)
        .moved(1, "Solution", "Qualified", 8)
        .moved(1, "Qualified", "Bid", 10)
        .close(1, Outcome::Won, "Bid", 20);
    log
}

fn row<'a>(rows: &'a [StageRow], name: &str) -> &'a StageRow {
    rows.iter().find(|r| r.stage.as_str() == name).unwrap()
}

#[test]
fn entered_counts_deals_and_entries_count_re_entries() {
    let report = january().fold().funnel(&query(0, 31));
    let q = row(&report.stages, "Qualified");
    // Deal 2 entered once, deal 1 entered once (by regression): two deals, two entries.
    assert_eq!((q.entered, q.entries), (2, 2));
    let lead = row(&report.stages, "Lead");
    assert_eq!((lead.entered, lead.entries), (3, 3));
    assert_eq!(row(&report.stages, "Demo/POC").entered, 0);
}

#[test]
fn reached_credits_skipped_stages_and_wins_credit_every_stage() {
    let report = january().fold().funnel(&query(0, 31));
    let reached: Vec<usize> = report.stages.iter().map(|r| r.reached).collect();
    // Lead: all 3. Qualified: deals 1 and 2. Solution, Demo/POC, Bid: deal 1 (skips
    // credited). Negotiation: deal 1, because it was won.
    assert_eq!(reached, vec![3, 2, 1, 1, 1, 1]);
    assert_eq!(
        row(&report.stages, "Qualified").reached_amount_minor,
        150_000
    );
    let conversions: Vec<Option<f64>> = report.stages.iter().map(|r| r.next_conversion).collect();
    assert_eq!(conversions[0], Some(2.0 / 3.0));
    assert_eq!(conversions[1], Some(0.5));
    // The last stage converts into wins: deal 1 reached it and was won.
    assert_eq!(conversions[5], Some(1.0));
    assert_eq!(
        row(&report.stages, "Bid").cumulative_conversion,
        Some(1.0 / 3.0)
    );
}

#[test]
fn regressions_and_skips_are_counted_per_stage() {
    let report = january().fold().funnel(&query(0, 31));
    assert_eq!(row(&report.stages, "Solution").regressions_from, 1);
    assert_eq!(row(&report.stages, "Lead").skips_from, 1);
    assert_eq!(row(&report.stages, "Qualified").skips_from, 1);
    // Lead→Solution jumps over Qualified; Qualified→Bid over Solution and Demo/POC.
    assert_eq!(row(&report.stages, "Qualified").skipped_over, 1);
    assert_eq!(row(&report.stages, "Solution").skipped_over, 1);
    assert_eq!(row(&report.stages, "Demo/POC").skipped_over, 1);
    let moves: Vec<(String, String, usize)> = report
        .transitions
        .iter()
        .map(|t| (t.from.clone(), t.to.clone(), t.count))
        .collect();
    assert!(moves.contains(&("Lead".into(), "Solution".into(), 1)));
    assert!(moves.contains(&("Solution".into(), "Qualified".into(), 1)));
    assert!(moves.contains(&("Bid".into(), "won".into(), 1)));
    assert!(moves.contains(&("Qualified".into(), "lost".into(), 1)));
    assert_eq!(moves.len(), 6);
}

#[test]
fn time_in_stage_sums_re_entries_and_current_age_counts_open_stays() {
    let report = january().fold().funnel(&query(0, 31));
    // Qualified: deal 2 stayed d4→d6 (2 days), deal 1 stayed d8→d10 (2 days).
    let q = row(&report.stages, "Qualified");
    assert_eq!(
        (q.time_in_stage.deals, q.time_in_stage.median_days),
        (2, Some(2.0))
    );
    // Lead: deal 1 four days (d1→d5), deal 2 two days; deal 3 is still there.
    let lead = row(&report.stages, "Lead");
    assert_eq!(lead.time_in_stage.deals, 2);
    assert_eq!(lead.time_in_stage.p90_days, Some(4.0));
    // Deal 3 entered Lead on day 3; the window ends just before day 31.
    let age = lead.current_age.median_days.unwrap();
    assert!((age - 28.0).abs() < 0.001, "{age}");
    // Bid: deal 1 from d10 to the win on d20.
    assert_eq!(
        row(&report.stages, "Bid").time_in_stage.median_days,
        Some(10.0)
    );
}

#[test]
fn cohort_snapshot_and_velocity() {
    let report = january().fold().funnel(&query(0, 31));
    assert_eq!(report.cohort.opened, 3);
    assert!((report.cohort.won_share - 1.0 / 3.0).abs() < 1e-9);
    assert!((report.cohort.open_share - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(report.closed.by_outcome[&Outcome::Won], (1, 100_000));
    assert_eq!(report.closed.by_outcome[&Outcome::Lost], (1, 50_000));
    let v = &report.velocity;
    assert_eq!(v.open_deals, 1);
    assert_eq!(v.win_rate, Some(0.5));
    assert_eq!(v.average_cycle_days, Some(19.0));
    // 1 open deal × $200 × 0.5 / 19 days.
    assert!((v.per_day_minor.unwrap() - 20_000.0 * 0.5 / 19.0).abs() < 1e-6);
}

#[test]
fn the_window_only_counts_moves_inside_it() {
    // Days 5 to 9: deal 1's moves to Solution (d5) and back to Qualified (d8), deal 2's loss.
    let report = january().fold().funnel(&query(5, 10));
    assert_eq!(row(&report.stages, "Lead").entered, 0);
    assert_eq!(row(&report.stages, "Solution").entered, 1);
    // Deal 1 moved to Solution in the window: it reached Lead, Qualified and Solution.
    let reached: Vec<usize> = report.stages.iter().map(|r| r.reached).collect();
    assert_eq!(reached, vec![1, 1, 1, 0, 0, 0]);
    assert_eq!(
        report.closed.by_outcome.get(&Outcome::Lost),
        Some(&(1, 50_000))
    );
    assert_eq!(report.cohort.opened, 0);
}

#[test]
fn as_occurred_by_looks_from_an_earlier_moment() {
    let model = january().fold();
    let mut q = query(0, 31);
    q.as_occurred_by = Some(day(7));
    let report = model.funnel(&q);
    // By day 7 deal 1 sat in Solution, deal 2 was lost, nothing was won.
    assert_eq!(row(&report.stages, "Bid").reached, 0);
    assert_eq!(row(&report.stages, "Solution").reached, 1);
    assert_eq!(report.closed.by_outcome.get(&Outcome::Won), None);
    assert_eq!(report.velocity.open_deals, 2);
}

#[test]
fn reopened_deals_re_enter_and_count_their_last_outcome() {
    let mut log = january();
    log.reopen(2, "Negotiation", 25)
        .close(2, Outcome::Won, "Negotiation", 28);
    let report = log.fold().funnel(&query(0, 31));
    let n = row(&report.stages, "Negotiation");
    assert_eq!((n.entered, n.reached), (1, 2));
    assert_eq!(report.closed.by_outcome.get(&Outcome::Lost), None);
    assert_eq!(report.closed.by_outcome[&Outcome::Won].0, 2);
    assert!(
        report
            .transitions
            .iter()
            .any(|t| t.from == "lost" && t.to == "Negotiation" && t.count == 1)
    );
}

#[test]
fn segment_filters_narrow_the_deals() {
    let model = january().fold();
    let mut q = query(0, 31);
    q.filter = DealFilter {
        industry: Some("retail".into()),
        ..Default::default()
    };
    assert_eq!(model.funnel(&q).stages[0].reached, 1);
    q.filter = DealFilter {
        size_band: Some(SizeBand::Large),
        owner: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(model.funnel(&q).stages[0].reached, 1);
}

#[test]
fn deal_list_filters_sorts_and_counts_activity() {
    let mut log = january();
    let seq = log.add(
        day(12),
        Event::Opportunity(
            deal(3),
            OpportunityEvent::FollowUpLogged(FollowUpLogged {
                channel: Channel::Visit,
                contacts: vec![],
                unregistered_participants: 2,
                function: Function::Sales,
                summary: Text::parse("visit").unwrap(),
                next_step: None,
                next_step_due: None,
                unregistered_names: Vec::new(),
            }),
        ),
    );
    let model = log.fold();
    let open = model.list(
        &DealFilter {
            open: Some(true),
            ..Default::default()
        },
        DealSort::Amount,
        true,
        Cut::occurred_by(day(30)),
    );
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, deal(3));
    assert_eq!((open[0].follow_ups, open[0].days_in_stage), (1, 27));
    assert_eq!(open[0].last_activity, Some(day(12)));
    let all = model.list(
        &DealFilter::default(),
        DealSort::Amount,
        true,
        Cut::occurred_by(day(30)),
    );
    assert_eq!(
        all.iter().map(|d| d.amount_minor).collect::<Vec<_>>(),
        vec![100_000, 50_000, 20_000]
    );
    // A retraction removes the follow-up from every count.
    log.add(
        day(13),
        Event::Opportunity(
            deal(3),
            OpportunityEvent::OpportunityEventCorrected(Correction {
                target_seq: seq,
                replacement: None,
                reason: Text::parse("wrong deal").unwrap(),
            }),
        ),
    );
    let view = &log.fold().list(
        &DealFilter::default(),
        DealSort::OpenedAt,
        false,
        Cut::occurred_by(day(30)),
    )[2];
    assert_eq!((view.follow_ups, view.last_activity), (0, Some(day(3))));
}

#[test]
fn a_trend_is_the_same_funnel_at_each_window_end() {
    let model = january().fold();
    let q = query(0, 10);
    let ends = [day(10), day(21), day(31)];
    let trend = model.trend(&q, &ends);
    assert_eq!(trend.len(), 3);
    for (report, end) in trend.iter().zip(ends) {
        let expected = model.funnel(&dealtrail_funnel::FunnelQuery {
            from: Timestamp(end.0 - 10 * Timestamp::DAY),
            to: end,
            ..q.clone()
        });
        assert_eq!(report, &expected);
    }
    // Days 11-20 hold only deal 1's win on day 20: it reached every stage in that window.
    assert_eq!(trend[1].stages[5].reached, 1);
    assert_eq!(trend[1].stages[0].entered, 0);
    // Days 0-9 hold the three openings; days 21-30 hold nothing.
    assert_eq!(trend[0].stages[0].entered, 3);
    assert!(trend[2].stages.iter().all(|r| r.reached == 0));
}
