//! Random documents and variables, well-formed and broken, sent to a real server: every
//! answer is GraphQL JSON with a code on each error and no 5xx, the server keeps serving,
//! and a request that was refused wrote nothing.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const FIELDS: &[&str] = &[
    "head",
    "events",
    "opportunities",
    "opportunity",
    "funnel",
    "funnelTrend",
    "winLoss",
    "account",
    "accounts",
    "node",
    "__schema",
    "__type",
    "__typename",
    "registerAccount",
    "openOpportunity",
    "changeStage",
    "definePipeline",
    "logFollowUp",
    "seq",
    "nodes",
    "id",
    "name",
    "stages",
];
const ARGUMENTS: &[&str] = &[
    "first", "last", "after", "fromSeq", "from", "to", "id", "input", "stepDays", "points", "asOf",
    "stages", "outcomes", "name",
];
const VALUES: &[&str] = &[
    "1",
    "-1",
    "2147483648",
    "99999999999999999999999",
    "\"x\"",
    "\"2026-01-01\"",
    "\"0000-01-01\"",
    "\"18446744073709551616\"",
    "null",
    "true",
    "[1, \"a\"]",
    "{ name: \"Acme\" }",
    "{ name: \"\\u202e\" }",
    "$v",
    "\"\"",
    "1.5e308",
];
const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ":",
    ",",
    "$v",
    "...",
    "query",
    "mutation",
    "subscription",
    "fragment F on QueryRoot",
    "@include(if: $v)",
    "\"",
    "#",
    "!",
    "[",
    "]",
    "=",
    "on",
];

/// A document built from the schema's vocabulary, nested up to `depth`.
fn selection(depth: u32) -> BoxedStrategy<String> {
    let field = (
        prop::sample::select(FIELDS),
        prop::option::of((
            prop::sample::select(ARGUMENTS),
            prop::sample::select(VALUES),
        )),
    )
        .prop_map(|(f, a)| match a {
            Some((name, value)) => format!("{f}({name}: {value})"),
            None => f.to_owned(),
        });
    if depth == 0 {
        return field.boxed();
    }
    (field, prop::collection::vec(selection(depth - 1), 0..3))
        .prop_map(|(f, inner)| {
            if inner.is_empty() {
                f
            } else {
                format!("{f} {{ {} }}", inner.join(" "))
            }
        })
        .boxed()
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        // Shaped like GraphQL, mostly wrong in what it asks.
        3 => (
            prop::sample::select(&["", "query", "mutation", "query Q($v: Int)", "mutation M($v: String)"][..]),
            prop::collection::vec(selection(3), 1..4),
        )
            .prop_map(|(op, s)| format!("{op} {{ {} }}", s.join(" "))),
        // Token soup.
        1 => prop::collection::vec(
            prop_oneof![prop::sample::select(TOKENS), prop::sample::select(FIELDS)],
            0..30
        )
        .prop_map(|t| t.join(" ")),
        // Any text at all.
        1 => ".{0,200}",
    ]
}

fn variables() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        Just(json!({})),
        value.clone().prop_map(|v| json!({ "v": v })),
        value,
    ]
}

#[test]
fn random_requests_get_graphql_json_with_codes_and_write_nothing_when_refused() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::start());
    let head = |server: &Server| {
        let body = runtime.block_on(server.post(Some("admin"), "{ head { seq } }", json!({})));
        body["data"]["head"]["seq"].as_str().unwrap().to_owned()
    };
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        document(),
        variables(),
        prop::sample::select(&["admin", "anna", "none"][..]),
    );
    runner
        .run(&strategy, |(query, vars, who)| {
            let before = head(&server);
            let body = json!({ "query": query, "variables": vars });
            let response = runtime.block_on(async {
                let mut r = server.client.post(&server.url).json(&body);
                if who != "none" {
                    r = r.bearer_auth(&server.tokens[who]);
                }
                let r = r.send().await.expect("the server answers");
                let status = r.status().as_u16();
                (status, r.text().await.expect("a body"))
            });
            let (status, text) = response;
            prop_assert!(status < 500, "{status} for {query:?}: {text}");
            let answer: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
            let errors = answer["errors"].as_array().cloned().unwrap_or_default();
            for e in &errors {
                prop_assert!(
                    e["extensions"]["code"].is_string(),
                    "no code: {e} for {query:?}"
                );
            }
            prop_assert!(
                answer.get("data").is_some() || !errors.is_empty(),
                "{answer}"
            );
            // Refused: errors, and no field answered (a mutation that ran has its field).
            let refused = !errors.is_empty()
                && answer["data"]
                    .as_object()
                    .is_none_or(|d| d.values().all(Value::is_null));
            if refused {
                prop_assert_eq!(head(&server), before, "{:?} was refused but wrote", query);
            }
            Ok(())
        })
        .unwrap();
    runtime.block_on(server.stop());
}
