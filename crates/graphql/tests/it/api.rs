//! Behaviour over real HTTP: roles, errors, writes, conflicts, retries, schema.

use serde_json::json;

use super::*;

const SETUP: &str = r#"
mutation($id: String!) {
  registerAccount(input: { id: $id, name: "Acme", industry: "medical", employees: 1200 }) { version }
}"#;

const OPEN: &str = r#"
mutation($id: String!, $account: String!, $key: String) {
  openOpportunity(
    input: { id: $id, accountId: $account, title: "40 servers", amount: "120000.50",
             currency: "usd", expectedClose: "2030-06-30" }
    options: { idempotencyKey: $key }
  ) { version replayed events { seq eventType actor payload } }
}"#;

pub const ACCOUNT: &str = "0190a000-0000-7000-8000-000000000001";
pub const DEAL: &str = "0190a000-0000-7000-8000-000000000002";

pub async fn with_deal(server: &Server) {
    // The pipeline comes with the engine's first use through the demo or an admin; define it.
    let body = server
        .post(Some("admin"), SETUP, json!({ "id": ACCOUNT }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = server
        .post(
            Some("anna"),
            OPEN,
            json!({ "id": DEAL, "account": ACCOUNT }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_but_health_needs_a_token() {
    let server = Server::start().await;
    let body = server.post(None, "{ head { seq } }", json!({})).await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
    let health = reqwest::get(server.url.replace("/graphql", "/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(server.url.replace("/graphql", "/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    let wrong = server
        .client
        .post(&server.url)
        .bearer_auth("dt_not_a_token")
        .json(&json!({ "query": "{ head { seq } }" }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(code(&wrong), Some("UNAUTHENTICATED"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_reads_and_writes_what() {
    let server = Server::start().await;
    with_deal(&server).await;
    // The raw log: auditors and admins only.
    for (who, allowed) in [
        ("audrey", true),
        ("admin", true),
        ("anna", false),
        ("ann-alyst", false),
    ] {
        let body = server.post(Some(who), "{ head { seq } }", json!({})).await;
        assert_eq!(body["errors"].is_null(), allowed, "{who}: {body}");
        if !allowed {
            assert_eq!(code(&body), Some("FORBIDDEN"));
        }
    }
    // Analyses: analysts, managers, admins.
    let funnel = r#"{ funnel(from: "2020-01-01", to: "2031-01-01") { openDeals } }"#;
    for (who, allowed) in [
        ("ann-alyst", true),
        ("manny", true),
        ("anna", false),
        ("audrey", false),
    ] {
        let body = server.post(Some(who), funnel, json!({})).await;
        assert_eq!(body["errors"].is_null(), allowed, "{who}: {body}");
    }
    // Writes: an auditor may not write; a rep may not move another rep's deal.
    let change = r#"mutation($id: String!) { changeStage(opportunityId: $id, stage: "Qualified") { version } }"#;
    let body = server
        .post(Some("audrey"), change, json!({ "id": DEAL }))
        .await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    let body = server
        .post(Some("bob"), change, json!({ "id": DEAL }))
        .await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    let head = server
        .post(Some("admin"), "{ head { seq } }", json!({}))
        .await;
    assert_eq!(
        head["data"]["head"]["seq"], "2",
        "a forbidden write wrote nothing"
    );
    let body = server
        .post(Some("anna"), change, json!({ "id": DEAL }))
        .await;
    assert_eq!(body["data"]["changeStage"]["version"], "2", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_comes_from_the_token_and_reads_see_the_write() {
    let server = Server::start().await;
    with_deal(&server).await;
    let body = server
        .post(
            Some("audrey"),
            "{ events(stream: \"opportunity-0190a000-0000-7000-8000-000000000002\") { nodes { actor eventType payload } } }",
            json!({}),
        )
        .await;
    let event = &body["data"]["events"]["nodes"][0];
    assert_eq!(event["actor"], "anna");
    assert_eq!(event["eventType"], "OpportunityOpened");
    assert_eq!(
        event["payload"]["OpportunityOpened"]["amount"]["minor"],
        12_000_050
    );
    let deals = server
        .post(
            Some("anna"),
            "{ opportunities { nodes { id owner stage amount { amount currency } } } }",
            json!({}),
        )
        .await;
    assert_eq!(deals["data"]["opportunities"]["nodes"][0]["owner"], "anna");
    assert_eq!(deals["data"]["opportunities"]["nodes"][0]["stage"], "Lead");
    assert_eq!(
        deals["data"]["opportunities"]["nodes"][0]["amount"],
        json!({ "amount": "120000.50", "currency": "USD" })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_validation_error_naming_the_field() {
    let server = Server::start().await;
    with_deal(&server).await;
    let body = server
        .post(
            Some("anna"),
            OPEN.replace("120000.50", "-5").as_str(),
            json!({ "id": "0190a000-0000-7000-8000-000000000003", "account": ACCOUNT }),
        )
        .await;
    assert_eq!(code(&body), Some("VALIDATION"));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("amount"),
        "{body}"
    );
    let body = server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { changeStage(opportunityId: $id, stage: "Heaven") { version } }"#,
            json!({ "id": DEAL }),
        )
        .await;
    assert_eq!(code(&body), Some("VALIDATION"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_versions_conflict_and_retries_replay() {
    let server = Server::start().await;
    with_deal(&server).await;
    let change = r#"mutation($id: String!, $stage: String!, $v: Int) {
        changeStage(opportunityId: $id, stage: $stage, options: { expectedVersion: $v }) { version } }"#;
    let ok = server
        .post(
            Some("anna"),
            change,
            json!({ "id": DEAL, "stage": "Qualified", "v": 1 }),
        )
        .await;
    assert_eq!(ok["data"]["changeStage"]["version"], "2", "{ok}");
    let stale = server
        .post(
            Some("anna"),
            change,
            json!({ "id": DEAL, "stage": "Bid", "v": 1 }),
        )
        .await;
    assert_eq!(code(&stale), Some("CONFLICT"), "{stale}");

    let key =
        json!({ "id": "0190a000-0000-7000-8000-000000000009", "account": ACCOUNT, "key": "k-1" });
    let first = server.post(Some("anna"), OPEN, key.clone()).await;
    let again = server.post(Some("anna"), OPEN, key).await;
    assert_eq!(first["data"]["openOpportunity"]["replayed"], false);
    assert_eq!(again["data"]["openOpportunity"]["replayed"], true);
    assert_eq!(
        first["data"]["openOpportunity"]["events"][0]["seq"],
        again["data"]["openOpportunity"]["events"][0]["seq"]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_over_get_are_refused() {
    let server = Server::start().await;
    let response = server
        .client
        .get(&server.url)
        .query(&[(
            "query",
            "mutation { registerAccount(input: { name: \"X\" }) { version } }",
        )])
        .bearer_auth(&server.tokens["admin"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let head = server
        .post(Some("admin"), "{ head { seq } }", json!({}))
        .await;
    assert_eq!(head["data"]["head"]["seq"], "0");
    let query = server
        .client
        .get(&server.url)
        .query(&[("query", "{ head { seq } }")])
        .bearer_auth(&server.tokens["admin"])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    server.stop().await;
}

#[test]
fn the_checked_in_schema_graphql_equals_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql");
    let checked_in = std::fs::read_to_string(path).expect("schema.graphql at the repository root");
    assert_eq!(
        checked_in,
        dealtrail_graphql::sdl(),
        "schema.graphql is stale: run `cargo run -p dealtrail-cli -- schema > schema.graphql`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_shows_up_in_win_loss_next_to_its_evidence() {
    let server = Server::start().await;
    with_deal(&server).await;
    let close = r#"mutation($id: String!) {
        closeOpportunity(opportunityId: $id, outcome: "lost", reason: "price") { version } }"#;
    let body = server
        .post(Some("anna"), close, json!({ "id": DEAL }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let query = r#"{ winLoss(from: "2000-01-01", to: "2100-01-01") {
        rates { dimension value won lost winRate }
        statedVersusEvidence { statedReason deals signals { signal deals } } } }"#;
    let forbidden = server.post(Some("anna"), query, json!({})).await;
    assert_eq!(code(&forbidden), Some("FORBIDDEN"));
    let body = server.post(Some("ann-alyst"), query, json!({})).await;
    let analysis = &body["data"]["winLoss"];
    assert_eq!(analysis["rates"][0]["lost"], "1", "{body}");
    let row = &analysis["statedVersusEvidence"][0];
    assert_eq!(row["statedReason"], "price");
    let signals: Vec<&str> = row["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert!(
        signals.contains(&"SingleThreaded") && signals.contains(&"NoDecisionMaker"),
        "{signals:?}"
    );
    // The same segment filter as the funnel's.
    let segment = r#"query($f: DealFilterInput) { winLoss(from: "2000-01-01", to: "2100-01-01", filter: $f) {
        rates { dimension lost } } }"#;
    let lost = |body: serde_json::Value| body["data"]["winLoss"]["rates"][0]["lost"].clone();
    let theirs = server
        .post(
            Some("ann-alyst"),
            segment,
            json!({ "f": { "owner": "bob" } }),
        )
        .await;
    assert_eq!(lost(theirs), "0");
    let large = server
        .post(
            Some("ann-alyst"),
            segment,
            json!({ "f": { "owner": "anna", "sizeBand": "LARGE" } }),
        )
        .await;
    assert_eq!(lost(large), "1", "Acme has 1,200 employees");
    let small = server
        .post(
            Some("ann-alyst"),
            segment,
            json!({ "f": { "sizeBand": "SMALL" } }),
        )
        .await;
    assert_eq!(lost(small), "0");
    let stage = server
        .post(
            Some("ann-alyst"),
            segment,
            json!({ "f": { "stage": "Bid" } }),
        )
        .await;
    assert_eq!(code(&stage), Some("VALIDATION"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_answers_the_eight_questions() {
    let server = Server::start().await;
    with_deal(&server).await;
    let query = r#"query($id: String!) { profile(accountId: $id) {
        name health { number answered evidence } signals { kind } } }"#;
    let body = server
        .post(Some("anna"), query, json!({ "id": ACCOUNT }))
        .await;
    let profile = &body["data"]["profile"];
    assert_eq!(profile["name"], "Acme", "{body}");
    assert_eq!(profile["health"].as_array().unwrap().len(), 8);
    assert_eq!(profile["health"][2]["evidence"], "0 follow-ups");
    let body = server
        .post(Some("audrey"), query, json!({ "id": ACCOUNT }))
        .await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    let missing = server
        .post(
            Some("anna"),
            query,
            json!({ "id": "0190a000-0000-7000-8000-00000000ffff" }),
        )
        .await;
    assert_eq!(missing["data"]["profile"], serde_json::Value::Null);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_working_at_once() {
    let server = Server::start().await;
    let body = server
        .post(Some("audrey"), "{ head { seq } }", json!({}))
        .await;
    assert!(body["errors"].is_null());
    let tokens = dealtrail_graphql::Tokens::in_folder(server.data_dir());
    tokens.revoke("audrey").unwrap();
    let body = server
        .post(Some("audrey"), "{ head { seq } }", json!({}))
        .await;
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_adds_its_own_records_and_they_clear_findings() {
    let server = Server::start().await;
    with_deal(&server).await;
    let change = r#"mutation($id: String!) { changeStage(opportunityId: $id, stage: "Demo/POC") { version } }"#;
    let moved = server
        .post(Some("anna"), change, json!({ "id": DEAL }))
        .await;
    assert!(moved["errors"].is_null(), "{moved}");
    let findings = r#"{ crossCheckFindings { rule } }"#;
    let rules = |body: serde_json::Value| -> Vec<String> {
        let mut r: Vec<String> = body["data"]["crossCheckFindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r
    };
    let before = rules(server.post(Some("manny"), findings, json!({})).await);
    assert_eq!(
        before,
        vec!["demo-without-engineering", "solution-without-presales"]
    );
    let add = r#"mutation($id: String!, $kind: String!) {
        addCrossFunctionalRecord(opportunityId: $id, kind: $kind, assessment: "positive", summary: "done") { version } }"#;
    for (who, kind, allowed) in [
        ("anna", "solution_design", false),
        ("pat", "demo", false),
        ("pat", "solution_design", true),
        ("eng", "demo", true),
        ("sue", "management_review", false),
    ] {
        let body = server
            .post(Some(who), add, json!({ "id": DEAL, "kind": kind }))
            .await;
        assert_eq!(body["errors"].is_null(), allowed, "{who} {kind}: {body}");
        if !allowed {
            assert_eq!(code(&body), Some("FORBIDDEN"));
        }
    }
    let after = rules(server.post(Some("manny"), findings, json!({})).await);
    assert!(after.is_empty(), "{after:?}");
    let service = r#"mutation($id: String!) {
        recordServiceInteraction(accountId: $id, kind: "satisfaction_check", satisfaction: 2, summary: "slow") { version } }"#;
    let body = server
        .post(Some("sue"), service, json!({ "id": ACCOUNT }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = server
        .post(Some("anna"), service, json!({ "id": ACCOUNT }))
        .await;
    assert_eq!(code(&body), Some("FORBIDDEN"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_the_commands_work_over_http() {
    let server = Server::start().await;
    with_deal(&server).await;
    let ok = |body: &serde_json::Value| assert!(body["errors"].is_null(), "{body}");
    let acct = json!({ "id": ACCOUNT });
    ok(&server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { addOrgUnit(accountId: $id, name: "Lab") { version } }"#,
            acct.clone(),
        )
        .await);
    for (period, revenue) in [("2023", "1000000"), ("2024", "2500000")] {
        ok(&server
            .post(
                Some("anna"),
                r#"mutation($id: String!, $p: String!, $r: String!) {
                    recordBusinessIndicator(accountId: $id, period: $p, revenue: $r) { version } }"#,
                json!({ "id": ACCOUNT, "p": period, "r": revenue }),
            )
            .await);
    }
    ok(&server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { recordPurchase(accountId: $id, product: "GTX Pro", quantity: 10,
                unit: "server", amount: "48210", currency: "USD", purchasedOn: "2024-02-01") { version } }"#,
            acct.clone(),
        )
        .await);
    let deal = json!({ "id": DEAL });
    ok(&server.post(Some("anna"), r#"mutation($id: String!) { reviseForecast(opportunityId: $id, expectedClose: "2030-09-30") { version } }"#, deal.clone()).await);
    ok(&server.post(Some("anna"), r#"mutation($id: String!) { submitBid(opportunityId: $id, amount: "110000", currency: "USD", submittedOn: "2024-03-01", competitors: ["Initech"]) { version } }"#, deal.clone()).await);
    let follow = server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { logFollowUp(input: { opportunityId: $id, channel: "call",
                unregisteredParticipants: 1, summary: "call" }) { events { seq } } }"#,
            deal.clone(),
        )
        .await;
    let seq = &follow["data"]["logFollowUp"]["events"][0]["seq"];
    ok(&server
        .post(
            Some("anna"),
            r#"mutation($id: String!, $seq: UInt64!) { retractOpportunityRecord(opportunityId: $id, seq: $seq, reason: "wrong deal") { version } }"#,
            json!({ "id": DEAL, "seq": seq }),
        )
        .await);
    ok(&server.post(Some("anna"), r#"mutation($id: String!) { closeOpportunity(opportunityId: $id, outcome: "no_decision") { version } }"#, deal.clone()).await);
    ok(&server.post(Some("anna"), r#"mutation($id: String!) { reopenOpportunity(opportunityId: $id, stage: "Bid") { version } }"#, deal.clone()).await);
    let reassign =
        r#"mutation($id: String!) { reassignOwner(opportunityId: $id, owner: "bob") { version } }"#;
    assert_eq!(
        code(&server.post(Some("anna"), reassign, deal.clone()).await),
        Some("FORBIDDEN")
    );
    ok(&server.post(Some("manny"), reassign, deal.clone()).await);
    let define = r#"mutation { definePipeline(stages: ["Lead", "Won over"], outcomes: ["won", "lost"]) { version } }"#;
    assert_eq!(
        code(&server.post(Some("manny"), define, json!({})).await),
        Some("FORBIDDEN")
    );
    ok(&server.post(Some("admin"), define, json!({})).await);

    let deals = server
        .post(
            Some("bob"),
            "{ opportunities { nodes { owner stage followUps outcome } } }",
            json!({}),
        )
        .await;
    let row = &deals["data"]["opportunities"]["nodes"][0];
    assert_eq!(
        (row["owner"].as_str(), row["stage"].as_str()),
        (Some("bob"), Some("Bid"))
    );
    assert_eq!(
        row["followUps"], "0",
        "the retracted follow-up no longer counts"
    );
    let profile = server
        .post(Some("anna"), r#"query($id: String!) { profile(accountId: $id) { signals { kind } health { answered } } }"#, acct)
        .await;
    let kinds: Vec<&str> = profile["data"]["profile"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"upsell") && kinds.contains(&"cross_sell"),
        "{kinds:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deal_as_of_a_moment_and_the_pipeline_in_force() {
    let server = Server::start().await;
    with_deal(&server).await;
    let pipeline = server
        .post(Some("anna"), "{ pipeline { stages outcomes } }", json!({}))
        .await;
    assert_eq!(
        pipeline["data"]["pipeline"]["stages"][3], "Demo/POC",
        "{pipeline}"
    );
    let change =
        r#"mutation($id: String!) { changeStage(opportunityId: $id, stage: "Bid") { version } }"#;
    server
        .post(Some("anna"), change, json!({ "id": DEAL }))
        .await;
    let query =
        r#"query($id: String!, $at: String) { opportunity(id: $id, asOf: $at) { stage owner } }"#;
    let now = server
        .post(Some("anna"), query, json!({ "id": DEAL }))
        .await;
    assert_eq!(now["data"]["opportunity"]["stage"], "Bid", "{now}");
    let before = server
        .post(
            Some("anna"),
            query,
            json!({ "id": DEAL, "at": "2000-01-01" }),
        )
        .await;
    assert_eq!(
        before["data"]["opportunity"],
        serde_json::Value::Null,
        "not known in 2000"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400_and_the_graphql_media_type_is_honoured() {
    let server = Server::start().await;
    let malformed = server
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let typed = server
        .client
        .post(&server.url)
        .bearer_auth(&server.tokens["admin"])
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ head { seq } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), 200);
    assert_eq!(
        typed.headers()["content-type"],
        "application/graphql-response+json; charset=utf-8"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_the_callers_own_and_bound_to_its_command() {
    let server = Server::start().await;
    with_deal(&server).await;
    let visit = r#"mutation($id: String!, $summary: String!) { logFollowUp(
        input: { opportunityId: $id, channel: "visit", unregisteredParticipants: 1, summary: $summary },
        options: { idempotencyKey: "visit-1" }) { replayed events { seq actor payload } } }"#;
    let first = server
        .post(
            Some("anna"),
            visit,
            json!({ "id": DEAL, "summary": "Met IT" }),
        )
        .await;
    assert!(first["errors"].is_null(), "{first}");
    let seq = first["data"]["logFollowUp"]["events"][0]["seq"].clone();
    // The same request again is a retry: the first answer, nothing new.
    let again = server
        .post(
            Some("anna"),
            visit,
            json!({ "id": DEAL, "summary": "Met IT" }),
        )
        .await;
    assert_eq!(again["data"]["logFollowUp"]["replayed"], true);
    assert_eq!(again["data"]["logFollowUp"]["events"][0]["seq"], seq);
    // The key with another payload, or on another mutation, is refused: never answered with
    // the first write as if the second had been made.
    let other = server
        .post(
            Some("anna"),
            visit,
            json!({ "id": DEAL, "summary": "Met finance" }),
        )
        .await;
    assert_eq!(code(&other), Some("IDEMPOTENCY_KEY_REUSED"), "{other}");
    let stage = r#"mutation($id: String!) { changeStage(opportunityId: $id, stage: "Qualified",
        options: { idempotencyKey: "visit-1" }) { version } }"#;
    let moved = server
        .post(Some("anna"), stage, json!({ "id": DEAL }))
        .await;
    assert_eq!(code(&moved), Some("IDEMPOTENCY_KEY_REUSED"), "{moved}");
    // A manager's "visit-1" is his own key: his visit is written, not swallowed.
    let theirs = server
        .post(
            Some("manny"),
            visit,
            json!({ "id": DEAL, "summary": "Met IT" }),
        )
        .await;
    assert_eq!(theirs["data"]["logFollowUp"]["replayed"], false, "{theirs}");
    assert_eq!(theirs["data"]["logFollowUp"]["events"][0]["actor"], "manny");
    assert_ne!(theirs["data"]["logFollowUp"]["events"][0]["seq"], seq);
    server.stop().await;
}
