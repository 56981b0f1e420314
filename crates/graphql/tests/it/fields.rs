//! Every field of every command can be set through the API: each mutation is called with
//! every argument it has, and the raw event it wrote must have a value in every field. A
//! field added to an event later that no mutation sets shows up here as a null; a mutation
//! added later without a case here fails the coverage check.

use serde_json::{Value, json};

use super::*;

/// Fields that stay empty by design, with the reason `docs/api.md` gives.
const EMPTY_BY_DESIGN: &[(&str, &str)] = &[("replacement", "a retraction replaces nothing")];

/// Paths of the leaves that are null or empty lists.
fn empty_leaves(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_owned()),
        Value::Array(a) if a.is_empty() => out.push(path.to_owned()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empty_leaves(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if EMPTY_BY_DESIGN.iter().any(|(f, _)| f == k) && x.is_null() {
                    continue;
                }
                empty_leaves(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

struct Calls<'a> {
    server: &'a Server,
    covered: Vec<String>,
}

impl Calls<'_> {
    /// Runs `mutation` (its field is `name`) as `who`; returns the payload of the first
    /// event it wrote, with its sequence number under `__seq`.
    async fn raw(&self, who: &str, name: &str, args: &str, vars: Value) -> Value {
        let declared: Vec<String> = [
            ("v", "String!"),
            ("w", "String!"),
            ("x", "String!"),
            ("s", "UInt64!"),
        ]
        .iter()
        .filter(|(v, _)| args.contains(&format!("${v}")))
        .map(|(v, t)| format!("${v}: {t}"))
        .collect();
        let declared = if declared.is_empty() {
            String::new()
        } else {
            format!("({})", declared.join(", "))
        };
        // quickLog answers the write beside how it matched the participants.
        let (open, close) = if name == "quickLog" {
            ("write { ", " }")
        } else {
            ("", "")
        };
        let query = format!(
            "mutation{declared} {{ {name}{args} {{ {open}events {{ seq eventType payload }}{close} }} }}"
        );
        let body = self.server.post(Some(who), &query, vars).await;
        assert!(body["errors"].is_null(), "{name}: {body}");
        let result = &body["data"][name];
        let event = &result.get("write").unwrap_or(result)["events"][0];
        let mut payload = event["payload"]
            .as_object()
            .and_then(|m| m.values().next())
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no payload in {body}"));
        payload["__type"] = event["eventType"].clone();
        payload["__seq"] = event["seq"].clone();
        payload
    }

    /// Like `raw`, and checks that the event has a value in every field.
    async fn full(&mut self, who: &str, name: &str, args: &str, vars: Value) -> Value {
        let payload = self.raw(who, name, args, vars).await;
        let mut empty = Vec::new();
        empty_leaves(
            &payload,
            payload["__type"].as_str().unwrap_or(name),
            &mut empty,
        );
        assert!(empty.is_empty(), "{name} left fields unset: {empty:?}");
        self.covered.push(name.to_owned());
        payload
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_every_command_can_be_set_through_the_api() {
    let server = Server::start().await;
    let mut c = Calls {
        server: &server,
        covered: Vec::new(),
    };
    const PARENT: &str = "0190a000-0000-7000-8000-000000000701";
    const ACME: &str = "0190a000-0000-7000-8000-000000000702";
    const DEAL: &str = "0190a000-0000-7000-8000-000000000703";
    c.full("admin", "definePipeline", r#"(stages: ["Lead", "Qualified", "Solution", "Bid", "Negotiation"], outcomes: ["won", "lost", "no_decision", "withdrawn"],
        gates: [{ stage: "Negotiation", requires: ["record:demo|record:proof_of_concept", "bid"], enforcement: "soft" }])"#, json!({})).await;
    let register = r#"(input: { id: $v, name: "Holding", industry: "retail", employees: "90000",
        annualRevenue: { amount: "9000000000.00", currency: "EUR" }, region: "EMEA",
        parentId: $w, externalId: $x })"#;
    // The parent itself needs a parent to fill every field; the first account cannot.
    c.raw(
        "admin",
        "registerAccount",
        r#"(input: { id: $v, name: "Top" })"#,
        json!({ "v": "0190a000-0000-7000-8000-000000000700" }),
    )
    .await;
    c.full(
        "anna",
        "registerAccount",
        register,
        json!({ "v": PARENT, "w": "0190a000-0000-7000-8000-000000000700", "x": "crm-1" }),
    )
    .await;
    c.full(
        "anna",
        "registerAccount",
        &register.replace("Holding", "Acme"),
        json!({ "v": ACME, "w": PARENT, "x": "crm-2" }),
    )
    .await;
    c.full(
        "anna",
        "updateAccountProfile",
        r#"(accountId: $v, name: "Acme Corp", industry: "medical", employees: "1200",
        annualRevenue: { amount: "125000000", currency: "JPY" }, region: "APAC", parentId: $w)"#,
        json!({ "v": ACME, "w": "0190a000-0000-7000-8000-000000000700" }),
    )
    .await;
    // The first unit has no parent to name; the others do.
    let it = c
        .raw(
            "anna",
            "addOrgUnit",
            r#"(accountId: $v, name: "IT", needs: "servers")"#,
            json!({ "v": ACME }),
        )
        .await["org_unit"]
        .as_str()
        .unwrap()
        .to_owned();
    let ops = c
        .full(
            "anna",
            "addOrgUnit",
            r#"(accountId: $v, name: "Operations", parentId: $w, needs: "licences")"#,
            json!({ "v": ACME, "w": it }),
        )
        .await["org_unit"]
        .as_str()
        .unwrap()
        .to_owned();
    c.full(
        "anna",
        "addOrgUnit",
        r#"(accountId: $v, name: "Finance", parentId: $w, needs: "reports")"#,
        json!({ "v": ACME, "w": ops }),
    )
    .await;
    let contact = c
        .full("anna", "registerContact", r#"(input: { accountId: $v, name: "Dana Buyer", role: "decision_maker",
            seniority: "executive", title: "CFO", orgUnitId: $w, email: "dana@acme.example", phone: "+1 555 0100" })"#,
            json!({ "v": ACME, "w": ops }))
        .await["contact"]
        .as_str()
        .unwrap()
        .to_owned();
    c.full(
        "anna",
        "updateContact",
        r#"(accountId: $v, contactId: $w, title: "CEO", orgUnitId: $x, role: "influencer",
        seniority: "director", email: "dana@acme.test", phone: "+1 555 0199")"#,
        json!({ "v": ACME, "w": contact, "x": it }),
    )
    .await;
    // The first owner has no predecessor to record.
    c.raw(
        "admin",
        "assignAccountOwner",
        r#"(accountId: $v, owner: "bob")"#,
        json!({ "v": ACME }),
    )
    .await;
    c.full(
        "admin",
        "assignAccountOwner",
        r#"(accountId: $v, owner: "anna")"#,
        json!({ "v": ACME }),
    )
    .await;
    let figures = c
        .full("anna", "recordBusinessIndicator", r#"(accountId: $v, period: "2026-Q2", revenue: "31000000.00",
            currency: "USD", headcount: "1250", source: "annual report", note: "after the merger")"#, json!({ "v": ACME }))
        .await;
    c.full(
        "anna",
        "openOpportunity",
        r#"(input: { id: $w, accountId: $v, title: "Servers", amount: "50000000.00",
        currency: "USD", expectedClose: "2027-06-30", productLine: "hardware", orgUnitId: $x,
        source: "referral", externalId: "crm-deal-9", owner: "anna" })"#,
        json!({ "v": ACME, "w": DEAL, "x": ops }),
    )
    .await;
    c.full(
        "anna",
        "recordPurchase",
        r#"(accountId: $v, product: "Rack server", quantity: "40", unit: "server",
        amount: "800000.00", currency: "USD", purchasedOn: "2026-05-01", opportunityId: $w)"#,
        json!({ "v": ACME, "w": DEAL }),
    )
    .await;
    let service = c
        .full(
            "sue",
            "recordServiceInteraction",
            r#"(accountId: $v, kind: "satisfaction_check", satisfaction: 4,
            summary: "Happy with support")"#,
            json!({ "v": ACME }),
        )
        .await;
    c.full(
        "anna",
        "changeStage",
        r#"(opportunityId: $v, stage: "Qualified")"#,
        json!({ "v": DEAL }),
    )
    .await;
    let visit = c
        .full(
            "pat",
            "logFollowUp",
            r#"(input: { opportunityId: $v, channel: "visit", contactIds: [$w],
            unregisteredParticipants: 2, unregisteredNames: ["Mei Chen"], summary: "Workshop",
            nextStep: "Send the design", nextStepDue: "2026-12-20" })"#,
            json!({ "v": DEAL, "w": contact }),
        )
        .await;
    // Both are left out of the payload when empty, so `full` alone would not see them.
    let day = |d: &str| serde_json::to_value(dealtrail_domain::Date::parse(d).unwrap()).unwrap();
    assert_eq!(visit["next_step_due"], day("2026-12-20"), "{visit}");
    // Names are sealed in the log; `unregisteredParticipants` below reads them back.
    assert!(
        visit["unregistered_names"][0]["sealed_for"].is_string(),
        "{visit}"
    );
    let quick = c
        .full(
            "anna",
            "quickLog",
            r#"(input: { accountId: $v, participants: ["DANA@acme.test", "Jan Novak"],
            channel: "meeting", summary: "Steering committee", nextStep: "Send the offer",
            nextStepDue: "2026-12-22" })"#,
            json!({ "v": ACME }),
        )
        .await;
    assert_eq!(quick["contacts"], json!([contact]), "{quick}");
    assert_eq!(
        quick["unregistered_names"].as_array().map(Vec::len),
        Some(1),
        "{quick}"
    );
    assert_eq!(quick["next_step_due"], day("2026-12-22"), "{quick}");
    assert_eq!(
        visit["function"], "Presales",
        "the function comes from the writer's role"
    );
    c.full(
        "anna",
        "engageContact",
        r#"(opportunityId: $v, contactId: $w, role: "decision_maker")"#,
        json!({ "v": DEAL, "w": contact }),
    )
    .await;
    c.full(
        "sue",
        "addCrossFunctionalRecord",
        r#"(opportunityId: $v, kind: "satisfaction_check",
        assessment: "positive", satisfaction: 5, summary: "Reference customer")"#,
        json!({ "v": DEAL }),
    )
    .await;
    c.full("anna", "reviseForecast", r#"(opportunityId: $v, amount: "52000000.00", currency: "USD", expectedClose: "2027-07-31")"#,
        json!({ "v": DEAL })).await;
    let bid = c
        .full(
            "anna",
            "submitBid",
            r#"(opportunityId: $v, amount: "51000000.00", currency: "USD",
            submittedOn: "2027-05-02", competitors: ["Globex"])"#,
            json!({ "v": DEAL }),
        )
        .await;
    c.full("anna", "amendOpportunityRecord", r#"(opportunityId: $v, seq: $s, reason: "typo in the amount",
        replacement: { bid: { amount: "51500000.00", currency: "USD", submittedOn: "2027-05-02", competitors: ["Globex", "Initech"] } })"#,
        json!({ "v": DEAL, "s": bid["__seq"] })).await;
    c.full("pat", "amendOpportunityRecord", r#"(opportunityId: $v, seq: $s, reason: "wrong summary",
        replacement: { followUp: { channel: "meeting", contactIds: [$w], unregisteredParticipants: 1, summary: "Design review", nextStep: "Quote" } })"#,
        json!({ "v": DEAL, "s": visit["__seq"], "w": contact })).await;
    c.full("anna", "amendOpportunityRecord", r#"(opportunityId: $v, seq: $s, reason: "again",
        replacement: { bid: { amount: "51600000.00", currency: "USD", submittedOn: "2027-05-03", competitors: ["Globex"] } })"#,
        json!({ "v": DEAL, "s": bid["__seq"] })).await;
    c.full(
        "anna",
        "retractOpportunityRecord",
        r#"(opportunityId: $v, seq: $s, reason: "duplicate")"#,
        json!({ "v": DEAL, "s": bid["__seq"] }),
    )
    .await;
    c.full("anna", "amendAccountRecord", r#"(accountId: $v, seq: $s, reason: "restated",
        replacement: { businessIndicator: { period: "2026-Q2", revenue: "30500000.00", currency: "USD", headcount: "1240", source: "audit", note: "restated" } })"#,
        json!({ "v": ACME, "s": figures["__seq"] })).await;
    c.full(
        "sue",
        "retractAccountRecord",
        r#"(accountId: $v, seq: $s, reason: "wrong account")"#,
        json!({ "v": ACME, "s": service["__seq"] }),
    )
    .await;
    c.full(
        "manny",
        "reassignOwner",
        r#"(opportunityId: $v, owner: "bob")"#,
        json!({ "v": DEAL }),
    )
    .await;
    let closed = c
        .full(
            "bob",
            "closeOpportunity",
            r#"(opportunityId: $v, outcome: "lost", reason: "price",
            finalAmount: { amount: "0.00", currency: "USD" }, winningCompetitor: "Globex")"#,
            json!({ "v": DEAL }),
        )
        .await;
    assert_eq!(closed["winning_competitor"], "Globex");
    c.full(
        "bob",
        "reopenOpportunity",
        r#"(opportunityId: $v, stage: "Bid", reason: "budget came back")"#,
        json!({ "v": DEAL }),
    )
    .await;
    c.full(
        "anna",
        "recordContactLeft",
        r#"(accountId: $v, contactId: $w, reason: "retired")"#,
        json!({ "v": ACME, "w": contact }),
    )
    .await;

    // Personal fields are sealed in the payload; the account shows them opened.
    let shown = server
        .post(
            Some("anna"),
            "query($v: String!) { account(id: $v) { contacts { id name email phone erased } } }",
            json!({ "v": ACME }),
        )
        .await;
    let dana = shown["data"]["account"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == contact.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(
        dana,
        json!({ "id": contact, "name": "Dana Buyer", "email": "dana@acme.test",
            "phone": "+1 555 0199", "erased": false })
    );
    let listed = server
        .post(
            Some("admin"),
            "query($v: String) { unregisteredParticipants(accountId: $v) { written personId opportunityId } }",
            json!({ "v": ACME }),
        )
        .await;
    let jan = listed["data"]["unregisteredParticipants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["written"] == "Jan Novak")
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    c.full(
        "admin",
        "eraseParticipant",
        r#"(opportunityId: $v, personId: $w, reason: "request 17")"#,
        json!({ "v": jan["opportunityId"], "w": jan["personId"] }),
    )
    .await;
    c.full(
        "manny",
        "recordExchangeRate",
        r#"(input: { from: "EUR", to: "USD", rate: "1.0850", date: "2026-01-02", source: "ECB" })"#,
        json!({}),
    )
    .await;
    c.full(
        "admin",
        "eraseContact",
        r#"(accountId: $v, contactId: $w, reason: "request 18")"#,
        json!({ "v": ACME, "w": contact }),
    )
    .await;

    // Every mutation of the schema has a case above.
    let doc = async_graphql::parser::parse_schema(dealtrail_graphql::sdl()).unwrap();
    let mut mutations = Vec::new();
    for def in &doc.definitions {
        if let async_graphql::parser::types::TypeSystemDefinition::Type(t) = def
            && t.node.name.node == "MutationRoot"
            && let async_graphql::parser::types::TypeKind::Object(o) = &t.node.kind
        {
            mutations.extend(o.fields.iter().map(|f| f.node.name.node.to_string()));
        }
    }
    assert!(mutations.len() > 20, "{mutations:?}");
    for m in mutations {
        assert!(
            c.covered.contains(&m),
            "{m} has no case: add one that sets all its fields"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_open_in_the_first_stage_of_the_pipeline_in_force() {
    let server = Server::start().await;
    let define = r#"mutation { definePipeline(stages: ["Discovery", "Proposal"], outcomes: ["won", "lost"]) { version } }"#;
    assert!(server.post(Some("admin"), define, json!({})).await["errors"].is_null());
    let account = server
        .post(
            Some("anna"),
            r#"mutation { registerAccount(input: { name: "Initech" }) { account { id } } }"#,
            json!({}),
        )
        .await;
    let id = account["data"]["registerAccount"]["account"]["id"].clone();
    let deal = server
        .post(
            Some("anna"),
            r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "t", amount: "10",
                currency: "JPY", expectedClose: "2027-01-01" }) { opportunity { stage amount { amount } } } }"#,
            json!({ "a": id }),
        )
        .await;
    assert_eq!(
        deal["data"]["openOpportunity"]["opportunity"]["stage"], "Discovery",
        "{deal}"
    );
    assert_eq!(
        deal["data"]["openOpportunity"]["opportunity"]["amount"]["amount"],
        "10"
    );
    server.stop().await;
}
