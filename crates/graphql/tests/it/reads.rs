//! Connections, accounts as of a moment, corrections, analyses across accounts, and the
//! status codes of GraphQL over HTTP.

use serde_json::{Value, json};

use super::*;

const ACCOUNT: &str = "0190a000-0000-7000-8000-000000000301";

fn ok(body: &Value) {
    assert!(body["errors"].is_null(), "{body}");
}

async fn account_with_deals(server: &Server, deals: usize) -> Vec<String> {
    ok(&server
        .post(
            Some("admin"),
            r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "Acme", industry: "medical" }) { version } }"#,
            json!({ "id": ACCOUNT }),
        )
        .await);
    let open = r#"mutation($id: String!, $a: String!, $amount: Decimal!) { openOpportunity(input: {
        id: $id, accountId: $a, title: "t", amount: $amount, currency: "USD", expectedClose: "2030-01-01" })
        { opportunity { id amount { amount } } account { name } } }"#;
    let mut ids = Vec::new();
    for n in 0..deals {
        let id = format!("0190a000-0000-7000-8000-0000000004{n:02}");
        let body = server
            .post(
                Some("anna"),
                open,
                json!({ "id": id, "a": ACCOUNT, "amount": format!("{}", 100 * (n + 1)) }),
            )
            .await;
        ok(&body);
        // A mutation answers with the entity it changed; a deal write has no account.
        assert_eq!(body["data"]["openOpportunity"]["opportunity"]["id"], id);
        assert_eq!(body["data"]["openOpportunity"]["account"], Value::Null);
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_page_forward_and_backward_with_cursors() {
    let server = Server::start().await;
    let ids = account_with_deals(&server, 5).await;
    let page = r#"query($after: String, $before: String, $first: Int, $last: Int) {
        opportunities(order: AMOUNT, after: $after, before: $before, first: $first, last: $last) {
            edges { cursor node { id } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"#;
    let ids_of = |body: &Value| -> Vec<String> {
        body["data"]["opportunities"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = server.post(Some("anna"), page, json!({ "first": 2 })).await;
    assert_eq!(ids_of(&first), ids[0..2]);
    let info = &first["data"]["opportunities"]["pageInfo"];
    assert_eq!(
        (&info["hasNextPage"], &info["hasPreviousPage"]),
        (&json!(true), &json!(false))
    );
    let second = server
        .post(
            Some("anna"),
            page,
            json!({ "first": 2, "after": info["endCursor"] }),
        )
        .await;
    assert_eq!(ids_of(&second), ids[2..4]);
    let last = server
        .post(
            Some("anna"),
            page,
            json!({ "last": 2, "before": second["data"]["opportunities"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(ids_of(&last), ids[1..3]);
    let tail = server.post(Some("anna"), page, json!({ "last": 1 })).await;
    assert_eq!(ids_of(&tail), ids[4..5]);
    assert_eq!(
        tail["data"]["opportunities"]["pageInfo"]["hasNextPage"],
        false
    );
    let too_big = server
        .post(Some("anna"), page, json!({ "first": 501 }))
        .await;
    assert_eq!(code(&too_big), Some("VALIDATION"));
    let foreign = server
        .post(Some("anna"), page, json!({ "after": "xyz" }))
        .await;
    assert_eq!(code(&foreign), Some("VALIDATION"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_pages_by_sequence_number_with_filters() {
    let server = Server::start().await;
    account_with_deals(&server, 3).await;
    let log = r#"query($after: String, $types: [String!], $actor: String) {
        events(first: 2, after: $after, eventTypes: $types, actor: $actor) {
            nodes { seq eventType actor } pageInfo { hasNextPage endCursor } } }"#;
    let page = server.post(Some("audrey"), log, json!({})).await;
    ok(&page);
    let seqs: Vec<u64> = page["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| n(&e["seq"]))
        .collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(page["data"]["events"]["pageInfo"]["hasNextPage"], true);
    // A cursor belongs to its filter: reused with another one it is refused.
    let end = page["data"]["events"]["pageInfo"]["endCursor"].clone();
    let filtered = json!({ "types": ["OpportunityOpened"], "actor": "anna" });
    let mut vars = filtered.clone();
    vars["after"] = end;
    let foreign = server.post(Some("audrey"), log, vars).await;
    assert_eq!(code(&foreign), Some("VALIDATION"), "{foreign}");
    // The filtered list pages on with its own cursors, and counts all it selects.
    let counted = r#"query($after: String, $types: [String!], $actor: String) {
        events(first: 2, after: $after, eventTypes: $types, actor: $actor) {
            totalCount nodes { seq } pageInfo { hasNextPage endCursor } } }"#;
    let first = server.post(Some("audrey"), counted, filtered.clone()).await;
    assert_eq!(first["data"]["events"]["totalCount"], "3", "{first}");
    let mut vars = filtered.clone();
    vars["after"] = first["data"]["events"]["pageInfo"]["endCursor"].clone();
    let second = server.post(Some("audrey"), counted, vars).await;
    let rest = second["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rest.len(), 1, "{second}");
    assert!(rest.iter().all(|e| n(&e["seq"]) > 2));
    assert_eq!(second["data"]["events"]["pageInfo"]["hasNextPage"], false);
    let history = server
        .post(
            Some("admin"),
            r#"query($s: String!) { streamHistory(stream: $s) { version events { version eventType } } }"#,
            json!({ "s": format!("account-{ACCOUNT}") }),
        )
        .await;
    assert_eq!(
        history["data"]["streamHistory"]["version"], "1",
        "{history}"
    );
    assert_eq!(
        history["data"]["streamHistory"]["events"][0]["eventType"],
        "AccountRegistered"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_as_it_stood_before_a_change_and_the_account_list() {
    let server = Server::start().await;
    account_with_deals(&server, 2).await;
    let first = server
        .post(
            Some("admin"),
            "{ events(first: 1) { nodes { recordedAt } } }",
            json!({}),
        )
        .await;
    let registered_at = first["data"]["events"]["nodes"][0]["recordedAt"].clone();
    let rename = server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { updateAccountProfile(accountId: $id, name: "Acme Health") { account { name version } } }"#,
            json!({ "id": ACCOUNT }),
        )
        .await;
    ok(&rename);
    assert_eq!(
        rename["data"]["updateAccountProfile"]["account"]["name"],
        "Acme Health"
    );
    let query = r#"query($id: String!, $at: String) { account(id: $id, asOf: $at) { name version industry } }"#;
    let now = server
        .post(Some("anna"), query, json!({ "id": ACCOUNT }))
        .await;
    assert_eq!(now["data"]["account"]["name"], "Acme Health");
    let then = server
        .post(
            Some("anna"),
            query,
            json!({ "id": ACCOUNT, "at": registered_at }),
        )
        .await;
    assert_eq!(then["data"]["account"]["name"], "Acme", "{then}");
    assert_eq!(then["data"]["account"]["version"], "1");
    let before = server
        .post(
            Some("anna"),
            query,
            json!({ "id": ACCOUNT, "at": "2001-01-01" }),
        )
        .await;
    assert_eq!(before["data"]["account"], Value::Null);

    let list = r#"query($q: String) { accounts(nameContains: $q, order: DEALS, descending: true) {
        nodes { id name } pageInfo { hasNextPage } } }"#;
    let found = server
        .post(Some("anna"), list, json!({ "q": "health" }))
        .await;
    assert_eq!(
        found["data"]["accounts"]["nodes"][0]["id"], ACCOUNT,
        "{found}"
    );
    let none = server
        .post(Some("anna"), list, json!({ "q": "zebra" }))
        .await;
    assert_eq!(none["data"]["accounts"]["nodes"], json!([]));
    let auditor = server.post(Some("audrey"), list, json!({})).await;
    assert_eq!(code(&auditor), Some("FORBIDDEN"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_amended_and_retracted_by_those_who_may() {
    let server = Server::start().await;
    let ids = account_with_deals(&server, 1).await;
    let deal = &ids[0];
    let follow = server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { logFollowUp(input: { opportunityId: $id, channel: "call", unregisteredParticipants: 1, summary: "first call" }) { events { seq } } }"#,
            json!({ "id": deal }),
        )
        .await;
    ok(&follow);
    let seq = follow["data"]["logFollowUp"]["events"][0]["seq"].clone();
    let amend = r#"mutation($id: String!, $seq: Int!) { amendOpportunityRecord(opportunityId: $id, seq: $seq,
        replacement: { followUp: { channel: "visit", unregisteredParticipants: 1, summary: "it was a visit" } }, reason: "wrong channel")
        { events { eventType payload } opportunity { followUps } } }"#;
    let by_bob = server
        .post(Some("bob"), amend, json!({ "id": deal, "seq": seq }))
        .await;
    assert_eq!(
        code(&by_bob),
        Some("FORBIDDEN"),
        "another rep's deal: {by_bob}"
    );
    let amended = server
        .post(Some("anna"), amend, json!({ "id": deal, "seq": seq }))
        .await;
    ok(&amended);
    let event = &amended["data"]["amendOpportunityRecord"]["events"][0];
    assert_eq!(event["eventType"], "OpportunityEventCorrected");
    assert_eq!(
        amended["data"]["amendOpportunityRecord"]["opportunity"]["followUps"], "1",
        "an amendment replaces, it does not add"
    );
    // A deal that does not exist, and a record number that is not one of this deal's.
    let missing = server
        .post(
            Some("admin"),
            r#"mutation { changeStage(opportunityId: "0190a000-0000-7000-8000-00000000ffff", stage: "Qualified") { version } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), Some("NOT_FOUND"), "{missing}");
    assert_eq!(
        code(
            &server
                .post(Some("anna"), amend, json!({ "id": deal, "seq": 1 }))
                .await
        ),
        Some("NOT_FOUND")
    );
    // A replacement of another kind is refused by the rules.
    let mismatch = r#"mutation($id: String!, $seq: Int!) { amendOpportunityRecord(opportunityId: $id, seq: $seq,
        replacement: { bid: { amount: "5", currency: "USD", submittedOn: "2030-01-01" } }, reason: "x") { version } }"#;
    assert_eq!(
        code(
            &server
                .post(Some("anna"), mismatch, json!({ "id": deal, "seq": seq }))
                .await
        ),
        Some("VALIDATION")
    );
    // Presales records belong to presales: a rep may not correct them.
    let record = server
        .post(
            Some("pat"),
            r#"mutation($id: String!) { addCrossFunctionalRecord(opportunityId: $id, kind: "solution_design", assessment: "positive", summary: "fits") { events { seq } } }"#,
            json!({ "id": deal }),
        )
        .await;
    let record_seq = record["data"]["addCrossFunctionalRecord"]["events"][0]["seq"].clone();
    let retract = r#"mutation($id: String!, $seq: Int!) { retractOpportunityRecord(opportunityId: $id, seq: $seq, reason: "duplicate") { version } }"#;
    assert_eq!(
        code(
            &server
                .post(
                    Some("anna"),
                    retract,
                    json!({ "id": deal, "seq": record_seq })
                )
                .await
        ),
        Some("FORBIDDEN")
    );
    ok(&server
        .post(
            Some("pat"),
            retract,
            json!({ "id": deal, "seq": record_seq }),
        )
        .await);
    assert_eq!(
        code(
            &server
                .post(
                    Some("pat"),
                    retract,
                    json!({ "id": deal, "seq": record_seq })
                )
                .await
        ),
        Some("VALIDATION"),
        "already retracted"
    );

    // Account records: purchases by sales, service interactions by support.
    let purchase = server
        .post(
            Some("anna"),
            r#"mutation($id: String!) { recordPurchase(accountId: $id, product: "GTX", quantity: 2, unit: "server",
                amount: "100", currency: "USD", purchasedOn: "2024-01-01") { events { seq } } }"#,
            json!({ "id": ACCOUNT }),
        )
        .await;
    let purchase_seq = purchase["data"]["recordPurchase"]["events"][0]["seq"].clone();
    let amend_purchase = r#"mutation($id: String!, $seq: Int!) { amendAccountRecord(accountId: $id, seq: $seq,
        replacement: { purchase: { product: "GTX", quantity: 3, unit: "server", amount: "150", currency: "USD",
        purchasedOn: "2024-01-01" } }, reason: "three, not two") { account { name } } }"#;
    assert_eq!(
        code(
            &server
                .post(
                    Some("sue"),
                    amend_purchase,
                    json!({ "id": ACCOUNT, "seq": purchase_seq })
                )
                .await
        ),
        Some("FORBIDDEN")
    );
    let amended = server
        .post(
            Some("anna"),
            amend_purchase,
            json!({ "id": ACCOUNT, "seq": purchase_seq }),
        )
        .await;
    ok(&amended);
    assert_eq!(
        amended["data"]["amendAccountRecord"]["account"]["name"],
        "Acme"
    );
    let retract_account = r#"mutation($id: String!, $seq: Int!) { retractAccountRecord(accountId: $id, seq: $seq, reason: "test order") { version } }"#;
    ok(&server
        .post(
            Some("manny"),
            retract_account,
            json!({ "id": ACCOUNT, "seq": purchase_seq }),
        )
        .await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_signals_and_data_health_answer_for_analysts() {
    let server = Server::start().await;
    account_with_deals(&server, 2).await;
    let trend = server
        .post(
            Some("ann-alyst"),
            r#"{ funnelTrend(from: "2020-01-01", to: "2031-01-01", points: 3, stepDays: 7) {
                windowStart windowEnd funnel { openDeals } } }"#,
            json!({}),
        )
        .await;
    ok(&trend);
    let points = trend["data"]["funnelTrend"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[2]["funnel"]["openDeals"], "2");
    assert!(points[0]["windowEnd"].as_str() < points[2]["windowEnd"].as_str());
    // The funnel is cached per question; a write in between makes the next answer new.
    let funnel = r#"{ funnel(from: "2020-01-01", to: "2031-01-01") { openDeals } }"#;
    let before = server.post(Some("ann-alyst"), funnel, json!({})).await;
    assert_eq!(before["data"]["funnel"]["openDeals"], "2", "{before}");
    let again = server.post(Some("ann-alyst"), funnel, json!({})).await;
    assert_eq!(again, before);
    ok(&server
        .post(
            Some("anna"),
            r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "third", amount: "5",
                currency: "USD", expectedClose: "2030-01-01" }) { version } }"#,
            json!({ "a": ACCOUNT }),
        )
        .await);
    let after = server.post(Some("ann-alyst"), funnel, json!({})).await;
    assert_eq!(after["data"]["funnel"]["openDeals"], "3", "{after}");
    let bad = server
        .post(
            Some("ann-alyst"),
            r#"{ funnelTrend(from: "2020-01-01", to: "2031-01-01", points: 30) { windowEnd } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&bad), Some("VALIDATION"));
    let health = server
        .post(
            Some("manny"),
            "{ dataHealth { number question answered accounts } signals { kind } }",
            json!({}),
        )
        .await;
    ok(&health);
    let rows = health["data"]["dataHealth"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r["accounts"] == "1"));
    let forbidden = server
        .post(Some("anna"), "{ dataHealth { number } }", json!({}))
        .await;
    assert_eq!(code(&forbidden), Some("FORBIDDEN"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_are_400_under_the_graphql_media_type_and_200_for_legacy_json() {
    let server = Server::start().await;
    let send = |accept: &'static str, query: &'static str| {
        server
            .client
            .post(&server.url)
            .bearer_auth(&server.tokens["admin"])
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    let modern = "application/graphql-response+json";
    for query in ["{ head { seq ", "{ noSuchField }"] {
        let r = send(modern, query).await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["errors"][0]["message"].is_string());
        let r = send("application/json", query).await.unwrap();
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=utf-8"
        );
    }
    // A field error is still a 200: the request was valid and ran.
    let r = send(modern, "{ opportunity(id: \"nope\") { id } }")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // GET never runs a mutation, however the document is arranged.
    let get = server
        .client
        .get(&server.url)
        .bearer_auth(&server.tokens["admin"])
        .query(&[
            ("query", "query A { head { seq } } mutation B { definePipeline(stages: [\"x\"], outcomes: [\"won\", \"lost\"]) { version } }"),
            ("operationName", "B"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_the_same_expected_version_one_wins() {
    let server = Server::start().await;
    let ids = account_with_deals(&server, 1).await;
    let deal = ids[0].clone();
    let change = r#"mutation($id: String!, $stage: String!) {
        changeStage(opportunityId: $id, stage: $stage, options: { expectedVersion: 1 }) { version } }"#;
    let stages = [
        "Qualified",
        "Solution",
        "Demo/POC",
        "Bid",
        "Negotiation",
        "Qualified",
    ];
    let answers =
        futures_util::future::join_all(stages.iter().map(|stage| {
            server.post(Some("manny"), change, json!({ "id": deal, "stage": stage }))
        }))
        .await;
    let won: Vec<&Value> = answers.iter().filter(|a| a["errors"].is_null()).collect();
    assert_eq!(won.len(), 1, "{answers:#?}");
    assert_eq!(won[0]["data"]["changeStage"]["version"], "2");
    for lost in answers.iter().filter(|a| !a["errors"].is_null()) {
        assert_eq!(code(lost), Some("CONFLICT"), "{lost}");
        let message = lost["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains('2'), "names the actual version: {message}");
    }
    let history = server
        .post(
            Some("admin"),
            r#"query($s: String!) { streamHistory(stream: $s) { version } }"#,
            json!({ "s": format!("opportunity-{deal}") }),
        )
        .await;
    assert_eq!(
        history["data"]["streamHistory"]["version"], "2",
        "one write landed"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_hold_their_place_while_deals_are_added_and_nodes_are_found_by_id() {
    let server = Server::start().await;
    let ids = account_with_deals(&server, 4).await;
    let list = r#"query($after: String) {
        opportunities(first: 2, after: $after, order: OPENED_AT, descending: true) {
            totalCount nodes { id } pageInfo { endCursor hasNextPage } } }"#;
    let first = server.post(Some("anna"), list, json!({})).await;
    ok(&first);
    assert_eq!(first["data"]["opportunities"]["totalCount"], "4");
    let page_ids = |body: &Value| -> Vec<String> {
        body["data"]["opportunities"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(page_ids(&first), [ids[3].clone(), ids[2].clone()]);
    // A deal opened while paging comes first in this order; the next page is unmoved.
    let newer = r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "new",
        amount: "1", currency: "USD", expectedClose: "2030-01-01" }) { version } }"#;
    ok(&server
        .post(Some("anna"), newer, json!({ "a": ACCOUNT }))
        .await);
    let after = first["data"]["opportunities"]["pageInfo"]["endCursor"].clone();
    let second = server
        .post(Some("anna"), list, json!({ "after": after }))
        .await;
    ok(&second);
    assert_eq!(page_ids(&second), [ids[1].clone(), ids[0].clone()]);
    assert_eq!(second["data"]["opportunities"]["totalCount"], "5");
    // The cursor of one order is refused by another, and first with last is refused.
    let other = server
        .post(
            Some("anna"),
            "query($after: String) { opportunities(after: $after, order: AMOUNT) { totalCount } }",
            json!({ "after": after }),
        )
        .await;
    assert_eq!(code(&other), Some("VALIDATION"), "{other}");
    let both = server
        .post(
            Some("anna"),
            "{ opportunities(first: 1, last: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&both), Some("VALIDATION"), "{both}");

    // node(id:) finds deals, accounts and events by the ids the API hands out.
    let node = r#"query($id: ID!) { node(id: $id) { __typename id
        ... on Deal { title } ... on Account { name } ... on EventEnvelope { seq eventType } } }"#;
    let deal = server
        .post(Some("anna"), node, json!({ "id": ids[0] }))
        .await;
    assert_eq!(deal["data"]["node"]["__typename"], "Deal", "{deal}");
    assert_eq!(deal["data"]["node"]["title"], "t");
    let account = server
        .post(Some("anna"), node, json!({ "id": ACCOUNT }))
        .await;
    assert_eq!(account["data"]["node"]["name"], "Acme", "{account}");
    let event = server
        .post(Some("audrey"), node, json!({ "id": "event-2" }))
        .await;
    assert_eq!(event["data"]["node"]["seq"], "2", "{event}");
    assert_eq!(event["data"]["node"]["id"], "event-2");
    let hidden = server
        .post(Some("anna"), node, json!({ "id": "event-2" }))
        .await;
    assert_eq!(code(&hidden), Some("FORBIDDEN"));
    let none = server
        .post(
            Some("anna"),
            node,
            json!({ "id": "0190a000-0000-7000-8000-00000000dead" }),
        )
        .await;
    assert_eq!(none["data"]["node"], Value::Null, "{none}");
    server.stop().await;
}
