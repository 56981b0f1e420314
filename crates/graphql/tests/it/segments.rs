//! Customer segments through HTTP: the classification, and the filter every analysis takes,
//! both as of the moment asked.

use serde_json::{Value, json};

use super::*;

const GROWING: &str = "0190a000-0000-7000-8000-000000000e01";
const SHRINKING: &str = "0190a000-0000-7000-8000-000000000e02";

/// An account with revenue in 2024 and (recorded in February 2026) 2025, and one deal.
async fn customer(server: &Server, id: &str, name: &str, revenue_2025: &str) {
    ok(
        server,
        "anna",
        r#"mutation($id: String!, $name: String!) { registerAccount(input: { id: $id, name: $name },
            options: { occurredAt: "2024-01-01T00:00:00Z" }) { version } }"#,
        json!({ "id": id, "name": name }),
    )
    .await;
    for (period, revenue, at) in [
        ("2024", "1000000.00", "2025-02-01T00:00:00Z"),
        ("2025", revenue_2025, "2026-02-01T00:00:00Z"),
    ] {
        ok(
            server,
            "anna",
            r#"mutation($a: String!, $p: String!, $r: Decimal!, $at: DateTime) {
                recordBusinessIndicator(accountId: $a, period: $p, revenue: $r, currency: "USD",
                options: { occurredAt: $at }) { version } }"#,
            json!({ "a": id, "p": period, "r": revenue, "at": at }),
        )
        .await;
    }
    ok(
        server,
        "anna",
        r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "Renewal",
            amount: "5000.00", currency: "USD", expectedClose: "2030-01-01" },
            options: { occurredAt: "2024-06-01T00:00:00Z" }) { version } }"#,
        json!({ "a": id }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_classify_accounts_and_narrow_every_analysis_as_of_a_moment() {
    let server = Server::start().await;
    customer(&server, GROWING, "Growing Co", "1200000.00").await;
    customer(&server, SHRINKING, "Shrinking Co", "900000.00").await;
    // A purchase this month makes the growing customer's value medium (10,000 or more).
    let today = dealtrail_engine::now().date().to_string();
    ok(
        &server,
        "anna",
        r#"mutation($a: String!, $d: Date!) { recordPurchase(accountId: $a, product: "Licences",
            quantity: "10", unit: "licence", amount: "12000.00", currency: "USD", purchasedOn: $d) { version } }"#,
        json!({ "a": GROWING, "d": today }),
    )
    .await;

    let segments = r#"query($t: String, $asOf: DateTime) { accountSegments(businessTrend: $t, asOf: $asOf, clock: OCCURRED) {
        accountName businessTrend comparedPeriods change customerValue purchasesLastYearMinor relationship } }"#;
    let all = ok(&server, "ann-alyst", segments, json!({})).await;
    assert_eq!(
        all["accountSegments"],
        json!([
            { "accountName": "Growing Co", "businessTrend": "growing", "comparedPeriods": ["2024", "2025"],
              "change": 0.2, "customerValue": "medium", "purchasesLastYearMinor": "1200000",
              "relationship": "weak" },
            { "accountName": "Shrinking Co", "businessTrend": "declining", "comparedPeriods": ["2024", "2025"],
              "change": -0.1, "customerValue": "none", "purchasesLastYearMinor": "0",
              "relationship": "weak" }
        ])
    );
    // Before the 2025 figures were in, neither trend was known.
    let before = ok(
        &server,
        "ann-alyst",
        segments,
        json!({ "asOf": "2025-12-31T00:00:00Z", "t": "unknown" }),
    )
    .await;
    assert_eq!(
        before["accountSegments"].as_array().unwrap().len(),
        2,
        "{before}"
    );

    // The same segment narrows the deal list and the funnel, now and as of a moment.
    let list = r#"query($t: String, $asOf: DateTime) { opportunities(filter: { businessTrend: $t }, asOf: $asOf, clock: OCCURRED) {
        nodes { accountName } } }"#;
    let growing = ok(&server, "anna", list, json!({ "t": "growing" })).await;
    assert_eq!(
        growing["opportunities"]["nodes"],
        json!([{ "accountName": "Growing Co" }])
    );
    let then = ok(
        &server,
        "anna",
        list,
        json!({ "t": "growing", "asOf": "2025-12-31T00:00:00Z" }),
    )
    .await;
    assert_eq!(then["opportunities"]["nodes"], json!([]), "{then}");
    let funnel = r#"query($t: String) { funnel(from: "2024-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z",
        filter: { businessTrend: $t }) { stages { stage entered } } }"#;
    let entered = |v: &Value| v["funnel"]["stages"][0]["entered"].clone();
    assert_eq!(
        entered(&ok(&server, "ann-alyst", funnel, json!({})).await),
        "2"
    );
    assert_eq!(
        entered(&ok(&server, "ann-alyst", funnel, json!({ "t": "declining" })).await),
        "1"
    );
    // Every other analysis takes the same segment.
    let health = r#"query($t: String) { dataHealth(segment: { businessTrend: $t }) { accounts } }"#;
    let asked = |v: &Value| v["dataHealth"][0]["accounts"].clone();
    assert_eq!(
        asked(&ok(&server, "ann-alyst", health, json!({})).await),
        "2"
    );
    assert_eq!(
        asked(&ok(&server, "ann-alyst", health, json!({ "t": "growing" })).await),
        "1"
    );
    for (query, field) in [
        (
            "query($t: String) { alerts(kind: \"no_follow_up\", segment: { businessTrend: $t }) { opportunityId } }",
            "alerts",
        ),
        (
            "query($t: String) { coverage(segment: { businessTrend: $t }) { opportunityId } }",
            "coverage",
        ),
        (
            "query($t: String) { accountCoverage(segment: { businessTrend: $t }) { accountId } }",
            "accountCoverage",
        ),
    ] {
        let all = ok(&server, "ann-alyst", query, json!({})).await[field]
            .as_array()
            .unwrap()
            .len();
        let growing = ok(&server, "ann-alyst", query, json!({ "t": "growing" })).await[field]
            .as_array()
            .unwrap()
            .len();
        assert_eq!((all, growing), (2, 1), "{field}");
    }

    // Win/loss too: the growing customer's lost deal is not in the declining segment.
    let ids = ok(
        &server,
        "anna",
        "{ opportunities(filter: { businessTrend: \"growing\" }) { nodes { id } } }",
        json!({}),
    )
    .await;
    ok(
        &server,
        "anna",
        r#"mutation($d: String!) { closeOpportunity(opportunityId: $d, outcome: "lost") { version } }"#,
        json!({ "d": ids["opportunities"]["nodes"][0]["id"] }),
    )
    .await;
    let winloss = r#"query($t: String) { winLoss(from: "2024-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z",
        filter: { businessTrend: $t }) { rates { dimension lost } } }"#;
    let lost = |v: &Value| v["winLoss"]["rates"][0]["lost"].clone();
    assert_eq!(
        lost(&ok(&server, "ann-alyst", winloss, json!({ "t": "growing" })).await),
        "1"
    );
    assert_eq!(
        lost(&ok(&server, "ann-alyst", winloss, json!({ "t": "declining" })).await),
        "0"
    );
    let body = server
        .post(Some("ann-alyst"), funnel, json!({ "t": "shrinking" }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("growing, stable, declining, unknown"),
        "{body}"
    );
    server.stop().await;
}
