//! Sums over deals in several currencies: each amount converted at the rate in force on
//! the window's last day, as known at the cut; deals without a rate counted apart.

use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use dealtrail_funnel::{Cut, FlowQuery};

use crate::{Log, account, day, deal, query, stage};

fn money(amount: &str, currency: &str) -> Money {
    let c = Currency::parse(currency).unwrap();
    Money::parse(amount, c).unwrap()
}

fn open_in(log: &mut Log, d: u128, amount: Money, at: i64) {
    log.add(
        day(at),
        Event::Opportunity(
            deal(d),
            OpportunityEvent::OpportunityOpened(OpportunityOpened {
                account: account(1),
                title: Name::parse("deal").unwrap(),
                owner: UserId::parse("rep").unwrap(),
                product_line: None,
                org_unit: None,
                amount,
                expected_close: Date::parse("2024-03-31").unwrap(),
                source: None,
                stage: stage("Lead"),
                external_id: None,
            }),
        ),
    );
}

fn rate(log: &mut Log, from: &str, to: &str, r: &str, dated: i64) -> u64 {
    log.add(
        day(dated),
        Event::Pipeline(PipelineEvent::ExchangeRateRecorded(ExchangeRate {
            from: Currency::parse(from).unwrap(),
            to: Currency::parse(to).unwrap(),
            rate: Rate::parse(r).unwrap(),
            date: day(dated).date(),
            source: Label::parse("test bank").unwrap(),
        })),
    )
}

/// USD 100, EUR 100, CNY 1000 and GBP 50, with EUR→USD at 1.10 and USD→CNY at 7 from day 0.
fn three_currencies() -> Log {
    let mut log = Log::default();
    log.pipeline().account(1, "Retail", 500);
    rate(&mut log, "EUR", "USD", "1.10", 0);
    rate(&mut log, "USD", "CNY", "7", 0);
    open_in(&mut log, 1, money("100", "USD"), 1);
    open_in(&mut log, 2, money("100", "EUR"), 2);
    open_in(&mut log, 3, money("1000", "CNY"), 3);
    open_in(&mut log, 4, money("50", "GBP"), 4);
    log
}

fn lead_reached(model: &dealtrail_funnel::SalesPipeline, q: &dealtrail_funnel::FunnelQuery) -> i64 {
    model.funnel(q).stages[0].reached_amount_minor
}

#[test]
fn a_funnel_sums_every_currency_it_has_a_rate_for_and_counts_the_others() {
    let model = three_currencies().fold();
    let report = model.funnel(&query(0, 30));
    // 100 USD + 110 USD + 1000/7 = 142.857… → 142.86 USD (rounded per deal).
    assert_eq!(
        report.stages[0].reached_amount_minor,
        10_000 + 11_000 + 14_286
    );
    assert_eq!(report.other_currency_deals, 1, "GBP has no rate");
    let used: Vec<String> = report
        .rates_used
        .iter()
        .map(|(c, r, inverse, _)| format!("{c} {r} {inverse}"))
        .collect();
    assert_eq!(used, ["CNY 7 true", "EUR 1.10 false"]);
    // In CNY, the USD deal converts with the rate as recorded and EUR has no CNY rate.
    let mut in_cny = query(0, 30);
    in_cny.currency = Currency::parse("CNY").unwrap();
    let report = model.funnel(&in_cny);
    assert_eq!(report.stages[0].reached_amount_minor, 70_000 + 100_000);
    assert_eq!(report.other_currency_deals, 2);
}

#[test]
fn a_later_rate_counts_from_its_date_and_only_once_it_was_recorded() {
    let mut log = three_currencies();
    let before = log.0.len() as u64;
    rate(&mut log, "EUR", "USD", "1.20", 20);
    let model = log.fold();
    // The window ends after day 20: the new rate is in force.
    assert_eq!(
        lead_reached(&model, &query(0, 30)),
        10_000 + 12_000 + 14_286
    );
    // A window ending before it still uses the old rate.
    assert_eq!(
        lead_reached(&model, &query(0, 15)),
        10_000 + 11_000 + 14_286
    );
    // As recorded before the new rate existed: the old rate, whatever the window.
    let mut then = query(0, 30);
    then.as_recorded_through = Some(before);
    assert_eq!(lead_reached(&model, &then), 10_000 + 11_000 + 14_286);
    // Recording another rate for the same pair and day corrects it.
    rate(&mut log, "EUR", "USD", "1.25", 20);
    assert_eq!(
        lead_reached(&log.fold(), &query(0, 30)),
        10_000 + 12_500 + 14_286
    );
}

#[test]
fn the_flow_values_both_ends_at_the_end_rates_so_a_rate_change_moves_no_deal() {
    let mut log = three_currencies();
    let start = Cut::occurred_by(day(10));
    rate(&mut log, "EUR", "USD", "1.20", 20);
    let model = log.fold();
    let report = model.flow(&FlowQuery {
        start,
        end: Cut::occurred_by(day(30)),
        due_by: Date::parse("2024-03-31").unwrap(),
        currency: Currency::USD,
        filter: Default::default(),
    });
    assert_eq!(report.start, (3, 10_000 + 12_000 + 14_286));
    assert_eq!(report.end, report.start);
    assert_eq!(report.other_currencies, 1);
    let unchanged = report
        .buckets
        .iter()
        .find(|b| b.bucket == dealtrail_funnel::FlowBucket::Unchanged)
        .unwrap();
    assert_eq!(unchanged.deals, 3);
}

#[test]
fn rates_are_positive_decimals_of_bounded_precision() {
    for bad in [
        "0",
        "0.000",
        "-1",
        "1e5",
        "1,5",
        ".5",
        "5.",
        "",
        "1234567890123456",
        "1.12345678901",
    ] {
        assert!(Rate::parse(bad).is_err(), "{bad:?} accepted");
    }
    for good in ["7", "0.000153", "7.10", "150", "123456789.012345"] {
        assert_eq!(Rate::parse(good).unwrap().to_string(), good);
    }
    let eur = Currency::parse("EUR").unwrap();
    let jpy = Currency::parse("JPY").unwrap();
    let kwd = Currency::parse("KWD").unwrap();
    let r = Rate::parse("161.25").unwrap();
    // 10.00 EUR → 1612.5 JPY → 1613 (half away from zero); back: 1613 JPY → 10.00 EUR.
    assert_eq!(r.convert(1_000, eur, jpy), Some(1_613));
    assert_eq!(r.convert_back(1_613, eur, jpy), Some(1_000));
    // Three decimals on the way out.
    let r = Rate::parse("0.3075").unwrap();
    assert_eq!(r.convert(100_000, Currency::USD, kwd), Some(307_500));
    // The largest amount at the largest rate does not overflow silently.
    let big = Rate::parse("999999999999999").unwrap();
    assert_eq!(big.convert(Money::MAX_MINOR, Currency::USD, kwd), None);
}

#[test]
fn of_both_directions_the_later_date_wins_and_on_one_date_the_later_record() {
    let mut log = three_currencies();
    // USD→EUR on the same day as EUR→USD 1.10, recorded later: 1 / 0.8 = 1.25.
    rate(&mut log, "USD", "EUR", "0.8", 0);
    assert_eq!(
        lead_reached(&log.fold(), &query(0, 30)),
        10_000 + 12_500 + 14_286
    );
    // A later-dated EUR→USD wins over the inverse again.
    rate(&mut log, "EUR", "USD", "1.30", 5);
    let model = log.fold();
    assert_eq!(
        lead_reached(&model, &query(0, 30)),
        10_000 + 13_000 + 14_286
    );
    let used = model.funnel(&query(0, 30)).rates_used;
    assert!(
        used.iter()
            .any(|(c, r, inverse, _)| c.as_str() == "EUR" && r.to_string() == "1.30" && !inverse)
    );
}
