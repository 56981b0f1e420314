//! `pipelineFlow` through HTTP: it balances, each bucket drills down to its deals, and each
//! deal to the events that moved it in the period.

use dealtrail_domain::Timestamp;
use serde_json::json;

use super::*;

const OPEN: &str = r#"mutation($a: String!, $at: DateTime, $close: Date!, $amount: Decimal!) {
    openOpportunity(input: { accountId: $a, title: "Fleet", amount: $amount, currency: "USD",
    expectedClose: $close }, options: { occurredAt: $at }) { opportunity { id } } }"#;
const REVISE: &str = r#"mutation($d: String!, $amount: Decimal, $close: Date, $at: DateTime) {
    reviseForecast(opportunityId: $d, amount: $amount, expectedClose: $close,
    options: { occurredAt: $at }) { events { seq } } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_balances_and_drills_down_to_deals_and_their_events() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000001001";
    ok(
        &server,
        "anna",
        r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "Acme" },
            options: { occurredAt: "2020-01-01T00:00:00Z" }) { version } }"#,
        json!({ "id": ACME }),
    )
    .await;
    let open = |at: i64, close: i64, amount: &str| {
        let vars =
            json!({ "a": ACME, "at": ago(at as f64), "close": day_ago(close), "amount": amount });
        let server = &server;
        async move {
            ok(server, "anna", OPEN, vars).await["openOpportunity"]["opportunity"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // In the pipeline 30 days ago, raised 15 days ago.
    let grown = open(60, 1, "1000.00").await;
    let raised = ok(
        &server,
        "anna",
        REVISE,
        json!({ "d": grown, "amount": "1500.00", "at": ago(15.0) }),
    )
    .await["reviseForecast"]["events"][0]["seq"]
        .clone();
    // In it 30 days ago, then its close moved past today: pushed out.
    let pushed = open(50, 2, "400.00").await;
    ok(
        &server,
        "anna",
        REVISE,
        json!({ "d": pushed, "close": day_ago(-30), "at": ago(5.0) }),
    )
    .await;
    // Opened within the period, due by today: created.
    let created = open(10, 1, "250.00").await;

    let flow = r#"query($from: DateTime!, $to: DateTime!, $bucket: String) {
        pipelineFlow(from: $from, to: $to, bucket: $bucket) {
            start { deals amount { amount } } end { deals amount { amount } }
            buckets { bucket deals change { amount }
                moves { opportunityId startAmount { amount } endAmount { amount } change { amount }
                    events { seq eventType actor hash } } } } }"#;
    let to = Timestamp(dealtrail_engine::now().0 + 60_000_000).to_string();
    let all = ok(
        &server,
        "ann-alyst",
        flow,
        json!({ "from": ago(30.0), "to": to }),
    )
    .await;
    let f = &all["pipelineFlow"];
    assert_eq!(f["start"]["deals"], "2", "{f}");
    assert_eq!(f["start"]["amount"]["amount"], "1400.00");
    assert_eq!(f["end"]["deals"], "2");
    assert_eq!(f["end"]["amount"]["amount"], "1750.00");
    let bucket = |name: &str| {
        f["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bucket"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(bucket("increased")["change"]["amount"], "500.00");
    assert_eq!(bucket("pushed_out")["change"]["amount"], "-400.00");
    assert_eq!(bucket("created")["change"]["amount"], "250.00");
    assert_eq!(bucket("won")["deals"], "0");
    // 1400 + 500 − 400 + 250 = 1750.
    let up = &bucket("increased")["moves"][0];
    assert_eq!(up["opportunityId"], grown);
    assert_eq!(up["startAmount"]["amount"], "1000.00");
    assert_eq!(up["endAmount"]["amount"], "1500.00");
    let events = up["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "only what moved it in the period: {up}");
    assert_eq!(events[0]["seq"], raised);
    assert_eq!(events[0]["eventType"], "ForecastRevised");
    assert!(events[0]["hash"].as_str().is_some_and(|h| h.len() == 64));
    assert_eq!(bucket("created")["moves"][0]["opportunityId"], created);
    assert_eq!(bucket("pushed_out")["moves"][0]["opportunityId"], pushed);

    // One bucket's moves only; the counts stay.
    let one = ok(
        &server,
        "ann-alyst",
        flow,
        json!({ "from": ago(30.0), "to": to, "bucket": "created" }),
    )
    .await;
    for b in one["pipelineFlow"]["buckets"].as_array().unwrap() {
        let listed = b["moves"].as_array().unwrap().len();
        assert_eq!(listed, usize::from(b["bucket"] == "created"), "{b}");
    }
    let body = server
        .post(
            Some("ann-alyst"),
            flow,
            json!({ "from": ago(30.0), "to": to, "bucket": "moved" }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    let body = server
        .post(Some("anna"), flow, json!({ "from": ago(30.0), "to": to }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    server.stop().await;
}
