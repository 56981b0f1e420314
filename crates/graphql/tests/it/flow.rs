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
                moves { totalCount edges { node { opportunityId startAmount { amount }
                    endAmount { amount } change { amount } events { seq eventType actor hash } } } }
            } } }"#;
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
    let up = &bucket("increased")["moves"]["edges"][0]["node"];
    assert_eq!(up["opportunityId"], grown);
    assert_eq!(up["startAmount"]["amount"], "1000.00");
    assert_eq!(up["endAmount"]["amount"], "1500.00");
    let events = up["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "only what moved it in the period: {up}");
    assert_eq!(events[0]["seq"], raised);
    assert_eq!(events[0]["eventType"], "ForecastRevised");
    assert!(events[0]["hash"].as_str().is_some_and(|h| h.len() == 64));
    let first = |b: &str| bucket(b)["moves"]["edges"][0]["node"]["opportunityId"].clone();
    assert_eq!(first("created"), created);
    assert_eq!(first("pushed_out"), pushed);

    // One bucket's moves only; the counts stay.
    let one = ok(
        &server,
        "ann-alyst",
        flow,
        json!({ "from": ago(30.0), "to": to, "bucket": "created" }),
    )
    .await;
    for b in one["pipelineFlow"]["buckets"].as_array().unwrap() {
        let listed = b["moves"]["edges"].as_array().unwrap().len();
        assert_eq!(listed, usize::from(b["bucket"] == "created"), "{b}");
        assert_eq!(b["moves"]["totalCount"], listed.to_string(), "{b}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_s_moves_page_largest_first_without_repeats_and_refuse_foreign_cursors() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000001002";
    ok(
        &server,
        "anna",
        r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "Acme" },
            options: { occurredAt: "2020-01-01T00:00:00Z" }) { version } }"#,
        json!({ "id": ACME }),
    )
    .await;
    // Seven deals created in the period, two of them with the same amount (the tie is
    // broken by the deal's id), and one already in the pipeline at the start.
    for amount in [
        "300.00", "100.00", "700.00", "100.00", "50.00", "900.00", "20.00",
    ] {
        let vars = json!({ "a": ACME, "at": ago(10.0), "close": day_ago(1), "amount": amount });
        ok(&server, "anna", OPEN, vars).await;
    }
    let vars = json!({ "a": ACME, "at": ago(60.0), "close": day_ago(1), "amount": "5.00" });
    ok(&server, "anna", OPEN, vars).await;
    let page = r#"query($from: DateTime!, $to: DateTime!, $first: Int, $after: String,
        $bucket: String) { pipelineFlow(from: $from, to: $to, bucket: $bucket) { buckets { bucket moves(first: $first, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } edges { cursor node { opportunityId
            change { amount } } } } } } }"#;
    let to = Timestamp(dealtrail_engine::now().0 + 60_000_000).to_string();
    let window = json!({ "from": ago(30.0), "to": to, "bucket": "created" });
    let created = |body: &serde_json::Value| {
        body["pipelineFlow"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bucket"] == "created")
            .unwrap()["moves"]
            .clone()
    };
    let mut vars = window.clone();
    vars["first"] = json!(100);
    let whole = created(&ok(&server, "ann-alyst", page, vars).await);
    assert_eq!(whole["totalCount"], "7", "{whole}");
    let ids = |edges: &serde_json::Value| -> Vec<String> {
        edges
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["opportunityId"].as_str().unwrap().to_owned())
            .collect()
    };
    let amounts: Vec<f64> = whole["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["node"]["change"]["amount"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(amounts, [900.0, 700.0, 300.0, 100.0, 100.0, 50.0, 20.0]);

    // Pages of two walk the same list, each starting after the last one's end.
    let (mut walked, mut after) = (Vec::new(), None::<String>);
    loop {
        let mut vars = window.clone();
        vars["first"] = json!(2);
        vars["after"] = json!(after);
        let moves = created(&ok(&server, "ann-alyst", page, vars).await);
        assert_eq!(moves["totalCount"], "7");
        walked.extend(ids(&moves["edges"]));
        if moves["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = moves["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(walked, ids(&whole["edges"]));

    // A cursor of the created bucket is not one of `unchanged`.
    let mut vars = window.clone();
    vars["after"] = whole["edges"][0]["cursor"].clone();
    vars["bucket"] = json!("unchanged");
    let body = server.post(Some("ann-alyst"), page, vars).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another filter or order")),
        "{body}"
    );
    let mut vars = window.clone();
    vars["first"] = json!(100_000);
    let body = server.post(Some("ann-alyst"), page, vars).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    server.stop().await;
}
