//! What the analyst's web app reads, through HTTP: exchange rates and the sums they make
//! possible, the caller's role, a deal story's raw events, an account's records and the
//! data-health trend.

use serde_json::json;

use super::*;

const ACME: &str = "0190a000-0000-7000-8000-000000002001";

async fn account(server: &Server) {
    ok(
        server,
        "anna",
        r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "华信科技" },
            options: { occurredAt: "2020-01-01T00:00:00Z" }) { version } }"#,
        json!({ "id": ACME }),
    )
    .await;
}

async fn open(server: &Server, amount: &str, currency: &str) -> String {
    ok(
        server,
        "anna",
        r#"mutation($a: String!, $amount: Decimal!, $c: String!, $at: DateTime, $close: Date!) {
            openOpportunity(input: { accountId: $a, title: "Fleet", amount: $amount,
            currency: $c, expectedClose: $close }, options: { occurredAt: $at })
            { opportunity { id } } }"#,
        json!({ "a": ACME, "amount": amount, "c": currency, "at": ago(20.0), "close": day_ago(-30) }),
    )
    .await["openOpportunity"]["opportunity"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

const RATE: &str = r#"mutation($from: String!, $to: String!, $rate: String!, $date: Date!) {
    recordExchangeRate(input: { from: $from, to: $to, rate: $rate, date: $date,
    source: "ECB" }) { events { seq } } }"#;

const FUNNEL: &str = r#"query($from: DateTime!, $to: DateTime!, $c: String) {
    funnel(from: $from, to: $to, currency: $c) { stages { stage reachedAmount { amount currency } }
    otherCurrencyDeals ratesUsed { currency rate inverse date } } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funnel_over_eur_usd_and_cny_deals_sums_all_of_them_once_rates_are_recorded() {
    let server = Server::start().await;
    account(&server).await;
    open(&server, "100.00", "USD").await;
    open(&server, "100.00", "EUR").await;
    open(&server, "1000.00", "CNY").await;
    let window = json!({ "from": ago(30.0), "to": ago(-1.0) });
    let before = ok(&server, "ann-alyst", FUNNEL, window.clone()).await;
    assert_eq!(
        before["funnel"]["stages"][0]["reachedAmount"]["amount"],
        "100.00"
    );
    assert_eq!(before["funnel"]["otherCurrencyDeals"], "2");

    // Analysts may not record rates; a pair of one currency and a bad rate are refused.
    let vars = |from: &str, to: &str, rate: &str| json!({ "from": from, "to": to, "rate": rate, "date": day_ago(40) });
    let (code, _) = refused(&server, "ann-alyst", RATE, vars("EUR", "USD", "1.1")).await;
    assert_eq!(code, "FORBIDDEN");
    let (code, e) = refused(&server, "manny", RATE, vars("EUR", "EUR", "1")).await;
    assert_eq!(code, "VALIDATION", "{e}");
    let (code, e) = refused(&server, "manny", RATE, vars("EUR", "USD", "-1.1")).await;
    assert_eq!(code, "VALIDATION");
    assert!(e["message"].as_str().unwrap().contains("input.rate"), "{e}");

    ok(&server, "manny", RATE, vars("EUR", "USD", "1.10")).await;
    ok(&server, "manny", RATE, vars("USD", "CNY", "8")).await;
    let after = ok(&server, "ann-alyst", FUNNEL, window.clone()).await;
    // 100 + 110 + 1000 / 8.
    assert_eq!(
        after["funnel"]["stages"][0]["reachedAmount"]["amount"],
        "335.00"
    );
    assert_eq!(after["funnel"]["otherCurrencyDeals"], "0");
    assert_eq!(after["funnel"]["ratesUsed"][0]["currency"], "CNY");
    assert_eq!(after["funnel"]["ratesUsed"][0]["inverse"], true);
    // In CNY: EUR has no rate to CNY (no cross rates), so it is counted apart.
    let mut in_cny = window.clone();
    in_cny["c"] = json!("CNY");
    let cny = ok(&server, "ann-alyst", FUNNEL, in_cny).await;
    assert_eq!(
        cny["funnel"]["stages"][0]["reachedAmount"]["amount"],
        "1800.00"
    );
    assert_eq!(cny["funnel"]["otherCurrencyDeals"], "1");
    let rates = ok(
        &server,
        "anna",
        r#"{ exchangeRates(currency: "EUR") { from to rate date source } }"#,
        json!({}),
    )
    .await;
    assert_eq!(rates["exchangeRates"].as_array().unwrap().len(), 1);
    assert_eq!(rates["exchangeRates"][0]["source"], "ECB");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_a_story_s_events_an_account_s_records_and_the_health_trend() {
    let server = Server::start().await;
    let viewer = ok(&server, "ann-alyst", "{ viewer { name role } }", json!({})).await;
    assert_eq!(
        viewer["viewer"],
        json!({ "name": "ann-alyst", "role": "ANALYST" })
    );
    account(&server).await;
    let deal = open(&server, "100.00", "USD").await;
    let story = ok(
        &server,
        "ann-alyst",
        r#"query($d: String!) { dealStory(opportunityId: $d) { events { seq eventType hash } } }"#,
        json!({ "d": deal }),
    )
    .await;
    let events = story["dealStory"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventType"], "OpportunityOpened");

    let figure = ok(
        &server,
        "anna",
        r#"mutation($a: String!) { recordBusinessIndicator(accountId: $a, period: "2025",
            revenue: "5000000.00", currency: "CNY", headcount: 120) { events { seq } } }"#,
        json!({ "a": ACME }),
    )
    .await;
    let figure_seq = figure["recordBusinessIndicator"]["events"][0]["seq"].clone();
    ok(
        &server,
        "anna",
        r#"mutation($a: String!, $d: String!) { recordPurchase(accountId: $a, product: "GTX",
            quantity: 3, unit: "licence", amount: "900.00", currency: "USD",
            purchasedOn: "2026-01-05", opportunityId: $d) { events { seq } } }"#,
        json!({ "a": ACME, "d": deal }),
    )
    .await;
    ok(
        &server,
        "sue",
        r#"mutation($a: String!) { recordServiceInteraction(accountId: $a, kind: "ticket",
            satisfaction: 2, summary: "打印机故障") { events { seq } } }"#,
        json!({ "a": ACME }),
    )
    .await;
    let read = r#"query($a: String!) { account(id: $a) {
        businessFigures { seq period revenue { amount currency } headcount }
        purchases { product quantity unit amount { amount } purchasedOn opportunityId }
        serviceInteractions { kind satisfaction summary } } }"#;
    let a = ok(&server, "ann-alyst", read, json!({ "a": ACME })).await;
    assert_eq!(a["account"]["businessFigures"][0]["period"], "2025");
    assert_eq!(
        a["account"]["businessFigures"][0]["revenue"]["currency"],
        "CNY"
    );
    assert_eq!(a["account"]["purchases"][0]["quantity"], "3");
    assert_eq!(a["account"]["purchases"][0]["opportunityId"], deal.as_str());
    assert_eq!(
        a["account"]["serviceInteractions"][0]["summary"],
        "打印机故障"
    );
    // A retracted figure is gone from the list.
    ok(
        &server,
        "anna",
        r#"mutation($a: String!, $s: UInt64!) { retractAccountRecord(accountId: $a, seq: $s,
            reason: "typo") { events { seq } } }"#,
        json!({ "a": ACME, "s": figure_seq }),
    )
    .await;
    let a = ok(&server, "ann-alyst", read, json!({ "a": ACME })).await;
    assert_eq!(a["account"]["businessFigures"], json!([]));

    let trend = r#"query($from: DateTime!, $to: DateTime!, $a: String) {
        dataHealthTrend(from: $from, to: $to, accountId: $a) { at questions { number answered accounts } } }"#;
    let t = ok(
        &server,
        "ann-alyst",
        trend,
        json!({ "from": ago(70.0), "to": ago(-1.0), "a": ACME }),
    )
    .await;
    let points = t["dataHealthTrend"].as_array().unwrap();
    assert!((2..=4).contains(&points.len()), "{t}");
    // Everything was recorded in the last minutes: the earlier months know no account.
    assert_eq!(points[0]["questions"], json!([]));
    let (code, _) = refused(
        &server,
        "ann-alyst",
        trend,
        json!({ "from": "2000-01-01", "to": "2026-01-01" }),
    )
    .await;
    assert_eq!(code, "VALIDATION");
    // On the occurred clock the account, registered in 2020, is there at every point, and
    // its records count from when they occurred (now): nothing answered before.
    let occurred = r#"query($from: DateTime!, $to: DateTime!, $a: String) {
        dataHealthTrend(from: $from, to: $to, accountId: $a, clock: OCCURRED) {
            at questions { number answered accounts } } }"#;
    let t = ok(
        &server,
        "ann-alyst",
        occurred,
        json!({ "from": ago(70.0), "to": ago(-40.0), "a": ACME }),
    )
    .await;
    let points = t["dataHealthTrend"].as_array().unwrap();
    let answered = |p: &Value| {
        p["questions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["answered"] != "0")
            .count()
    };
    assert_eq!(points[0]["questions"][0]["accounts"], "1", "{t}");
    assert_eq!(answered(&points[0]), 0, "{t}");
    // Service records (2) and purchases (7); the figure was retracted, the deal never moved.
    assert_eq!(answered(points.last().unwrap()), 2, "{t}");
    let (code, _) = refused(
        &server,
        "ann-alyst",
        occurred,
        json!({ "from": ago(70.0), "to": ago(-1.0) }),
    )
    .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = refused(
        &server,
        "anna",
        trend,
        json!({ "from": ago(70.0), "to": ago(-1.0) }),
    )
    .await;
    assert_eq!(code, "FORBIDDEN");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_is_served_compressed_with_a_policy_that_allows_this_server_only() {
    let server = Server::start().await;
    let origin = server.url.trim_end_matches("/graphql").to_owned();
    let get = |path: &str, gzip: bool| {
        let mut request = server.client.get(format!("{origin}{path}"));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request.send()
    };
    let page = get("/", false).await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(part), "{policy}");
    }
    assert!(page.text().await.unwrap().contains("/app/js/app.js"));
    // Every file the app loads, compressed when the browser accepts it, smaller so.
    for path in dealtrail_graphql::webapp::FILES.iter().map(|(p, _, _)| *p) {
        let plain = get(&format!("/app/{path}"), false).await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.bytes().await.unwrap().len();
        let packed = get(&format!("/app/{path}"), true).await.unwrap();
        assert_eq!(packed.headers()["content-encoding"], "gzip", "{path}");
        assert!(packed.headers().contains_key("content-security-policy"));
        let packed = packed.bytes().await.unwrap().len();
        assert!(packed < plain, "{path}: {packed} of {plain} bytes");
    }
    assert_eq!(get("/app/js/nope.js", false).await.unwrap().status(), 404);
    assert_eq!(
        get("/app/../Cargo.toml", false).await.unwrap().status(),
        404
    );
    server.stop().await;
}
