//! The process tools through HTTP and WebSocket: quick capture, stage gates, alerts.

use serde_json::{Value, json};

use super::*;

async fn head(server: &Server) -> u64 {
    n(&ok(server, "admin", "{ head { seq } }", json!({})).await["head"]["seq"])
}

const REGISTER: &str = r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "Acme 中国" },
    options: { occurredAt: "2020-01-01T00:00:00Z" }) { version } }"#;
const CONTACT: &str = r#"mutation($a: String!, $name: String!, $email: String, $role: String!) {
    registerContact(input: { accountId: $a, name: $name, email: $email, role: $role,
    seniority: "manager" }, options: { occurredAt: "2020-01-01T00:00:00Z" }) {
    events { payload } } }"#;
const OPEN: &str = r#"mutation($a: String!, $at: DateTime, $close: Date!) { openOpportunity(input: {
    accountId: $a, title: "Fleet", amount: "1000.00", currency: "USD", expectedClose: $close },
    options: { occurredAt: $at }) { opportunity { id } } }"#;

async fn account(server: &Server, id: &str) {
    ok(server, "anna", REGISTER, json!({ "id": id })).await;
}

async fn contact(
    server: &Server,
    account: &str,
    name: &str,
    email: Option<&str>,
    role: &str,
) -> String {
    let data = ok(
        server,
        "anna",
        CONTACT,
        json!({ "a": account, "name": name, "email": email, "role": role }),
    )
    .await;
    data["registerContact"]["events"][0]["payload"]["ContactRegistered"]["contact"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn open(
    server: &Server,
    who: &str,
    account: &str,
    at: Option<String>,
    close: &str,
) -> String {
    let data = ok(
        server,
        who,
        OPEN,
        json!({ "a": account, "at": at, "close": close }),
    )
    .await;
    data["openOpportunity"]["opportunity"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{data}"))
        .to_owned()
}

const QUICK: &str = r#"mutation($input: QuickLogInput!, $key: String) {
    quickLog(input: $input, options: { idempotencyKey: $key }) {
        opportunityId matched { written contactId name } unregisteredParticipants
        write { replayed events { seq payload } } } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_log_matches_people_picks_the_open_deal_and_writes_once() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000000a01";
    const EMPTY: &str = "0190a000-0000-7000-8000-000000000a02";
    account(&server, ACME).await;
    account(&server, EMPTY).await;
    let mei = contact(
        &server,
        ACME,
        "Mei Chen",
        Some("mei@acme.test"),
        "decision_maker",
    )
    .await;
    let li = contact(&server, ACME, "李娜", None, "influencer").await;
    let deal = open(&server, "anna", ACME, None, "2030-01-01").await;

    let input = json!({ "accountId": ACME, "channel": "visit", "summary": "Walked the site",
        "participants": ["MEI@acme.test", "李 娜", "Jan Novak <jan@partner.test>"],
        "nextStep": "Send the offer", "nextStepDue": "2030-01-02" });
    let first = ok(
        &server,
        "anna",
        QUICK,
        json!({ "input": input, "key": "visit-1" }),
    )
    .await;
    let q = &first["quickLog"];
    assert_eq!(q["opportunityId"], deal, "the account's one open deal: {q}");
    let matched: Vec<&str> = q["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["contactId"].as_str().unwrap())
        .collect();
    assert_eq!(matched, [mei.as_str(), li.as_str()]);
    assert_eq!(
        q["unregisteredParticipants"],
        json!(["Jan Novak <jan@partner.test>"])
    );
    let event = &q["write"]["events"][0]["payload"]["FollowUpLogged"];
    assert_eq!(event["contacts"], json!([mei, li]), "{event}");
    assert_eq!(event["unregistered_participants"], 1, "{event}");
    let written = head(&server).await;

    // A retry with the same key answers the first write and writes nothing.
    let again = ok(
        &server,
        "anna",
        QUICK,
        json!({ "input": input, "key": "visit-1" }),
    )
    .await;
    assert_eq!(again["quickLog"]["write"]["replayed"], true);
    assert_eq!(head(&server).await, written);

    // The unmatched participant is on the manager's list until registered.
    let list = r#"query($a: String) { unregisteredParticipants(accountId: $a) { written opportunityId } }"#;
    let listed = ok(&server, "manny", list, json!({ "a": ACME })).await;
    assert_eq!(
        listed["unregisteredParticipants"],
        json!([{ "written": "Jan Novak <jan@partner.test>", "opportunityId": deal }])
    );
    assert_eq!(
        refused(&server, "anna", list, json!({ "a": ACME })).await.0,
        "FORBIDDEN"
    );
    contact(&server, ACME, "Jan Novak", Some("jan@partner.test"), "user").await;
    let listed = ok(&server, "manny", list, json!({ "a": ACME })).await;
    assert_eq!(listed["unregisteredParticipants"], json!([]));

    // Without a deal to pick, or with several, nothing is written.
    let before = head(&server).await;
    let on = |account: &str| {
        json!({ "input": { "accountId": account, "channel": "call", "summary": "x",
            "participants": ["Mei Chen"] } })
    };
    assert_eq!(
        refused(&server, "anna", QUICK, on(EMPTY)).await.0,
        "NOT_FOUND"
    );
    let other = open(&server, "anna", ACME, None, "2030-01-01").await;
    let (code, e) = refused(&server, "anna", QUICK, on(ACME)).await;
    assert_eq!(code, "AMBIGUOUS_DEAL");
    assert!(e["message"].as_str().unwrap().contains(&other), "{e}");
    // Another rep's deal is not his to log on; naming the deal settles the choice.
    let named = json!({ "input": { "opportunityId": deal, "channel": "call", "summary": "x",
        "participants": ["Mei Chen"] } });
    assert_eq!(
        refused(&server, "bob", QUICK, named.clone()).await.0,
        "FORBIDDEN"
    );
    let bad_due = json!({ "input": { "opportunityId": deal, "channel": "call", "summary": "x",
        "participants": ["Mei Chen"], "nextStepDue": "2030-01-02" } });
    assert_eq!(
        refused(&server, "anna", QUICK, bad_due).await.0,
        "VALIDATION"
    );
    let nobody = json!({ "input": { "opportunityId": deal, "channel": "call", "summary": "x",
        "participants": [] } });
    assert_eq!(
        refused(&server, "anna", QUICK, nobody).await.0,
        "VALIDATION"
    );
    assert_eq!(
        head(&server).await,
        before + 1,
        "only the second deal was written"
    );
    ok(&server, "anna", QUICK, named).await;
    server.stop().await;
}

const MOVE: &str = r#"mutation($d: String!, $s: String!) { changeStage(opportunityId: $d, stage: $s) {
    version events { payload } } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_gates_refuse_a_move_and_soft_gates_record_what_was_missing() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000000b01";
    let define = r#"mutation { definePipeline(stages: ["Lead", "Qualified", "Solution", "Bid"],
        outcomes: ["won", "lost"], gates: [
          { stage: "Solution", requires: ["engaged:decision_maker"], enforcement: "hard" },
          { stage: "Bid", requires: ["record:solution_design", "follow_up|bid"], enforcement: "soft" }
        ]) { version } }"#;
    ok(&server, "admin", define, json!({})).await;
    let shown = ok(
        &server,
        "anna",
        "{ pipeline { gates { stage requires enforcement } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        shown["pipeline"]["gates"],
        json!([
            { "stage": "Solution", "requires": ["engaged:decision_maker"], "enforcement": "hard" },
            { "stage": "Bid", "requires": ["record:solution_design", "follow_up|bid"], "enforcement": "soft" }
        ])
    );
    let (code, _) = refused(
        &server,
        "admin",
        r#"mutation { definePipeline(stages: ["Lead", "Bid"], outcomes: ["won", "lost"],
            gates: [{ stage: "Demo", requires: ["bid"], enforcement: "hard" }]) { version } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code, "VALIDATION", "a gate on a stage the pipeline lacks");

    account(&server, ACME).await;
    let dm = contact(&server, ACME, "Dana Boss", None, "decision_maker").await;
    let deal = open(&server, "anna", ACME, None, "2030-01-01").await;
    ok(
        &server,
        "anna",
        MOVE,
        json!({ "d": deal, "s": "Qualified" }),
    )
    .await;
    let before = head(&server).await;
    let (code, e) = refused(&server, "anna", MOVE, json!({ "d": deal, "s": "Solution" })).await;
    assert_eq!(code, "GATE_NOT_MET", "{e}");
    assert_eq!(e["extensions"]["stage"], "Solution");
    assert_eq!(
        e["extensions"]["missing"],
        json!(["engaged:decision_maker"])
    );
    // Skipping the stage does not skip its gate.
    let (code, _) = refused(&server, "anna", MOVE, json!({ "d": deal, "s": "Bid" })).await;
    assert_eq!(code, "GATE_NOT_MET");
    assert_eq!(head(&server).await, before, "a refused move writes nothing");

    ok(
        &server,
        "anna",
        r#"mutation($d: String!, $c: String!) { engageContact(opportunityId: $d, contactId: $c,
            role: "decision_maker") { version } }"#,
        json!({ "d": deal, "c": dm }),
    )
    .await;
    let moved = ok(&server, "anna", MOVE, json!({ "d": deal, "s": "Solution" })).await;
    let changed = &moved["changeStage"]["events"][0]["payload"]["StageChanged"];
    assert!(changed.get("gate_missing").is_none(), "{changed}");
    // The soft gate lets the deal in and records both requirements it lacked.
    let moved = ok(&server, "anna", MOVE, json!({ "d": deal, "s": "Bid" })).await;
    let changed = &moved["changeStage"]["events"][0]["payload"]["StageChanged"];
    assert_eq!(
        changed["gate_missing"],
        json!(["Bid: record:solution_design", "Bid: follow_up|bid"])
    );
    // Moving back passes no gate.
    ok(&server, "anna", MOVE, json!({ "d": deal, "s": "Lead" })).await;

    // Win/loss tells the deals that bypassed a gate from the others.
    ok(
        &server,
        "anna",
        r#"mutation($d: String!) { closeOpportunity(opportunityId: $d, outcome: "lost") { version } }"#,
        json!({ "d": deal }),
    )
    .await;
    let winloss = ok(
        &server,
        "ann-alyst",
        r#"{ winLoss(from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z") { rates { dimension value lost } } }"#,
        json!({}),
    )
    .await;
    let gates: Vec<&Value> = winloss["winLoss"]["rates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dimension"] == "stage_gates")
        .collect();
    assert_eq!(
        gates,
        [&json!({ "dimension": "stage_gates", "value": "bypassed", "lost": "1" })]
    );
    server.stop().await;
}

const ALERTS: &str = r#"query($asOf: DateTime, $kind: String) { alerts(asOf: $asOf, clock: OCCURRED, kind: $kind) {
    opportunityId kind since owner stage detail } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_follow_the_rules_now_and_as_of_a_past_moment() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000000c01";
    account(&server, ACME).await;
    contact(&server, ACME, "Mei Chen", None, "user").await;
    // Five deals each spent one day in Lead, 7 to 11 days ago: Lead's p90 is one day.
    for i in 0..5 {
        let d = open(
            &server,
            "anna",
            ACME,
            Some(ago(8.0 + i as f64)),
            "2030-01-01",
        )
        .await;
        ok(
            &server,
            "anna",
            r#"mutation($d: String!, $at: DateTime) { changeStage(opportunityId: $d, stage: "Qualified",
                options: { occurredAt: $at }) { version } }"#,
            json!({ "d": d, "at": ago(7.0 + i as f64) }),
        )
        .await;
        ok(
            &server,
            "anna",
            r#"mutation($d: String!) { quickLog(input: { opportunityId: $d, channel: "call",
                summary: "weekly", participants: ["Mei Chen"] }) { opportunityId } }"#,
            json!({ "d": d }),
        )
        .await;
    }
    // Opened 30 days ago, expected to close 3 days ago, last touched 20 days ago with a
    // next step due 10 days ago: every rule fires.
    let late = open(&server, "bob", ACME, Some(ago(30.0)), &day_ago(3)).await;
    ok(
        &server,
        "bob",
        r#"mutation($d: String!, $at: DateTime, $due: Date) { quickLog(input: { opportunityId: $d,
            channel: "visit", summary: "demo", participants: ["Mei Chen"], nextStep: "quote",
            nextStepDue: $due }, options: { occurredAt: $at }) { opportunityId } }"#,
        json!({ "d": late, "at": ago(20.0), "due": day_ago(10) }),
    )
    .await;
    let kinds_of = |v: &Value| {
        let mut kinds: Vec<String> = v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                assert_eq!(a["opportunityId"], late, "only the neglected deal: {v}");
                a["kind"].as_str().unwrap().to_owned()
            })
            .collect();
        kinds.sort();
        kinds
    };
    let now = ok(&server, "manny", ALERTS, json!({})).await;
    assert_eq!(
        kinds_of(&now),
        [
            "close_date_passed",
            "next_step_overdue",
            "no_follow_up",
            "stalled"
        ]
    );
    let stalled = now["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "stalled")
        .unwrap();
    assert_eq!(stalled["owner"], "bob");
    assert_eq!(stalled["stage"], "Lead");
    // 5 days ago: six days past the 14 without a follow-up, the next step overdue for
    // four, Lead's stays completed; the close date was still ahead.
    let then = ok(&server, "manny", ALERTS, json!({ "asOf": ago(5.0) })).await;
    assert_eq!(
        kinds_of(&then),
        ["next_step_overdue", "no_follow_up", "stalled"]
    );
    // 12 days ago: the follow-up was 8 days old and its step not yet due; no stay in Lead
    // had completed, so nothing was stalled.
    let earlier = ok(&server, "manny", ALERTS, json!({ "asOf": ago(12.0) })).await;
    assert_eq!(kinds_of(&earlier), Vec::<String>::new());
    let only = ok(&server, "manny", ALERTS, json!({ "kind": "stalled" })).await;
    assert_eq!(kinds_of(&only), ["stalled"]);
    let (code, _) = refused(&server, "manny", ALERTS, json!({ "kind": "late" })).await;
    assert_eq!(code, "VALIDATION");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_started_fires_when_a_write_or_the_clock_starts_an_alert() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000000d01";
    account(&server, ACME).await;
    // Opened 14 days less 4 seconds ago: `no_follow_up` starts 4 seconds from now.
    let soon = open(
        &server,
        "anna",
        ACME,
        Some(ago(14.0 - 4.0 / 86_400.0)),
        "2030-01-01",
    )
    .await;
    let (_tx, mut rx) = crate::subscription::subscribe_to(
        &server,
        "manny",
        "graphql-transport-ws",
        "subscription { alertStarted { opportunityId kind } }",
    )
    .await;
    let first = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        crate::subscription::next_payload(&mut rx),
    )
    .await
    .expect("the clock starts an alert");
    assert_eq!(
        first["data"]["alertStarted"],
        json!({ "opportunityId": soon, "kind": "no_follow_up" })
    );
    // A revised close date in the past starts `close_date_passed` with the write.
    ok(
        &server,
        "anna",
        r#"mutation($d: String!, $c: Date) { reviseForecast(opportunityId: $d, expectedClose: $c) { version } }"#,
        json!({ "d": soon, "c": day_ago(2) }),
    )
    .await;
    let second = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        crate::subscription::next_payload(&mut rx),
    )
    .await
    .expect("the write starts an alert");
    assert_eq!(
        second["data"]["alertStarted"],
        json!({ "opportunityId": soon, "kind": "close_date_passed" })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_export_the_personal_data_keys() {
    let server = Server::start().await;
    const ACME: &str = "0190a000-0000-7000-8000-000000000f01";
    account(&server, ACME).await;
    let mei = contact(&server, ACME, "Mei Chen", None, "user").await;
    let url = server.url.replace("/graphql", "/export/keys");
    for who in ["audrey", "manny", "anna"] {
        let r = server
            .client
            .get(&url)
            .bearer_auth(&server.tokens[who])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{who}");
    }
    let r = server.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = server
        .client
        .get(&url)
        .bearer_auth(&server.tokens["admin"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines: Vec<Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["person"], mei.as_str());
    assert_eq!(lines[0]["key"].as_str().map(str::len), Some(64));
    server.stop().await;
}
