//! The HTTP contract standard clients rely on: authentication answers, GraphQL JSON bodies
//! with codes for every refusal, the body limit, GraphiQL served offline, introspection, CORS.

use serde_json::{Value, json};

use crate::{Server, code, unlimited};
use dealtrail_graphql::ServerConfig;

const MODERN: &str = "application/graphql-response+json";

async fn body(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let media = r
        .headers()
        .get("content-type")
        .map(|c| c.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text:?} (status {status})"));
    (status, media, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_answer_401_with_a_challenge() {
    let server = Server::start().await;
    for (token, message) in [
        (None, "a bearer token is required"),
        (Some("dt_not-a-token"), "unknown or revoked token"),
    ] {
        for query in [
            "{ head { seq } }",
            "{ __typename }",
            "{ __schema { queryType { name } } }",
        ] {
            let mut request = server
                .client
                .post(&server.url)
                .json(&json!({ "query": query }));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let r = request.send().await.unwrap();
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            let (status, _, b) = body(r).await;
            assert_eq!(status, 401, "{query}");
            assert_eq!(code(&b), Some("UNAUTHENTICATED"));
            assert!(
                b["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(message)
            );
            assert!(b.get("data").is_none());
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_introspection_serves_the_schema_and_nothing_else_without_a_token() {
    let server = Server::start_with(ServerConfig {
        public_introspection: true,
        ..ServerConfig::default()
    })
    .await;
    let schema = server
        .post(
            None,
            "{ __schema { queryType { name } } __typename }",
            json!({}),
        )
        .await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], "QueryRoot");
    for query in [
        "{ __typename head { seq } }",
        "mutation { __typename }",
        "query A { __typename } query B { head { seq } }",
    ] {
        let r = server
            .client
            .post(&server.url)
            .json(&json!({ "query": query, "operationName": "B" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{query}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_graphql_json_with_a_stable_code() {
    let server = Server::start().await;
    let admin = server.tokens["admin"].clone();
    let raw = |content_type: Option<&'static str>, accept: &'static str, text: &'static str| {
        let mut r = server
            .client
            .post(&server.url)
            .bearer_auth(&admin)
            .header("accept", accept)
            .body(text);
        if let Some(c) = content_type {
            r = r.header("content-type", c);
        }
        r.send()
    };
    let json_type = Some("application/json");
    let cases: Vec<(Option<&'static str>, &'static str, &'static str, u16, &str)> = vec![
        (
            json_type,
            MODERN,
            r#"[{"query": "{ head { seq } }"}]"#,
            400,
            "BATCH_NOT_SUPPORTED",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "{ a(x: \"\u12\") }"}"#,
            400,
            "BAD_REQUEST",
        ),
        (
            json_type,
            MODERN,
            r#"{"qeury": "{ head { seq } }"}"#,
            400,
            "BAD_REQUEST",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "{ head { seq } }", "variables": "x"}"#,
            400,
            "BAD_REQUEST",
        ),
        (json_type, MODERN, "", 400, "BAD_REQUEST"),
        (
            None,
            MODERN,
            r#"{"query": "{ head { seq } }"}"#,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            Some("text/plain"),
            MODERN,
            r#"{"query": "{ head { seq } }"}"#,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "{ head { seq "}"#,
            400,
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "{ noSuchField }"}"#,
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "query($n: Int) { events(first: $n) { nodes { seq } } }", "variables": {"n": "abc"}}"#,
            400,
            "BAD_USER_INPUT",
        ),
        (
            json_type,
            MODERN,
            r#"{"query": "query($id: ID!) { __typename }", "variables": {"id": null}}"#,
            400,
            "BAD_USER_INPUT",
        ),
        // Under plain JSON a document the server could read but not run is still a 200.
        (
            json_type,
            "application/json",
            r#"{"query": "{ head { seq "}"#,
            200,
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            json_type,
            "application/json",
            r#"{"query": "{ noSuchField }"}"#,
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (content_type, accept, text, status, want) in cases {
        let (got, media, b) = body(raw(content_type, accept, text).await.unwrap()).await;
        assert_eq!((got, code(&b)), (status, Some(want)), "{text}: {b}");
        assert!(media.starts_with(accept), "{media} for {accept}");
        assert!(b.get("data").is_none(), "{text}: {b}");
    }
    // GET carries no mutation, and other methods are refused, both in GraphQL JSON.
    let r = server
        .client
        .get(&server.url)
        .bearer_auth(&admin)
        .query(&[(
            "query",
            "mutation { definePipeline(stages: [\"x\"], outcomes: [\"won\"]) { version } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    let (status, _, b) = body(r).await;
    assert_eq!((status, code(&b)), (405, Some("METHOD_NOT_ALLOWED")));
    let (status, _, b) = body(server.client.put(&server.url).send().await.unwrap()).await;
    assert_eq!((status, code(&b)), (405, Some("METHOD_NOT_ALLOWED")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_whether_or_not_their_length_is_declared() {
    let server = Server::start().await;
    let limit = ServerConfig::default().max_body_bytes;
    let big = format!(
        r#"{{"query": "{{ __typename }}", "x": "{}"}}"#,
        "a".repeat(limit)
    );
    let declared = server
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, _, b) = body(declared).await;
    assert_eq!((status, code(&b)), (413, Some("PAYLOAD_TOO_LARGE")));
    // Sent in chunks with no Content-Length: the server stops reading at the limit and
    // answers while the client is still sending (the last chunk never comes).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/graphql");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(limit / chunk.len() + 2) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if socket.write_all(&frame).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("PAYLOAD_TOO_LARGE") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(k) => answer.extend_from_slice(&buf[..k]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_and_every_file_it_loads_come_from_this_server() {
    let server = Server::start().await;
    let page = server
        .client
        .get(&server.url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let origin = server.url.trim_end_matches("/graphql");
    let mut loaded = 0;
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let path = &piece[..piece.find('"').unwrap()];
            let r = server
                .client
                .get(format!("{origin}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(
                kind.starts_with("text/javascript") || kind.starts_with("text/css"),
                "{kind}"
            );
            assert!(!r.bytes().await.unwrap().is_empty());
            loaded += 1;
        }
    }
    assert!(
        loaded >= 4,
        "the page loads GraphiQL, React, ReactDOM and its start script"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_introspection_query_is_answered_and_deep_queries_are_not() {
    let server = Server::start().await;
    let query = include_str!("introspection.graphql");
    let r = server
        .client
        .post(&server.url)
        .bearer_auth(&server.tokens["admin"])
        .header("accept", MODERN)
        .json(&json!({ "query": query, "operationName": "IntrospectionQuery" }))
        .send()
        .await
        .unwrap();
    let (status, _, b) = body(r).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["errors"].is_null(), "{b}");
    let types = b["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "QueryRoot"));
    let deep = server
        .post(
            Some("admin"),
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&deep), Some("QUERY_TOO_DEEP"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_on_an_allowed_origin_pass_the_preflight_and_others_do_not() {
    let allowed = "http://crm.example.test";
    let server = Server::start_with(ServerConfig {
        allow_origins: vec![allowed.to_owned()],
        ..ServerConfig::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, &server.url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight(allowed).await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    let allowed_headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let other = preflight("http://evil.example.test").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let answer = server
        .client
        .post(&server.url)
        .header("origin", allowed)
        .bearer_auth(&server.tokens["admin"])
        .json(&json!({ "query": "{ head { seq } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], allowed);
    server.stop().await;

    // Off by default: OPTIONS says what is allowed, and no origin is.
    let server = Server::start().await;
    let r = server
        .client
        .request(reqwest::Method::OPTIONS, &server.url)
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(r.headers()["allow"], "GET, POST, OPTIONS");
    server.stop().await;
}

/// Fields and arguments typed `Int`, each bounded below 2^31 by what it is.
const BOUNDED_INTS: &[(&str, &str)] = &[
    ("first", "a page size, at most 500"),
    ("last", "a page size, at most 500"),
    ("points", "1 to 24 windows"),
    ("stepDays", "1 to 366 days"),
    (
        "daysInStage",
        "whole days between two instants of the log, clamped",
    ),
    ("satisfaction", "a score of 1 to 5"),
    ("number", "a data-health question, 1 to 8"),
    ("schemaVersion", "a u16"),
    ("unregisteredParticipants", "a u16"),
];

#[test]
fn no_field_or_argument_that_can_pass_two_to_the_31_is_an_int() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(dealtrail_graphql::sdl()).unwrap();
    let is_int = |ty: &async_graphql::parser::types::Type| {
        ty.to_string()
            .trim_matches(|c| matches!(c, '[' | ']' | '!'))
            == "Int"
    };
    let mut found = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let type_name = t.node.name.node.as_str();
        match &t.node.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    let f = &f.node;
                    if is_int(&f.ty.node) {
                        found.push(format!("{type_name}.{}", f.name.node));
                    }
                    for a in &f.arguments {
                        if is_int(&a.node.ty.node) {
                            found
                                .push(format!("{type_name}.{}({})", f.name.node, a.node.name.node));
                        }
                    }
                }
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    if is_int(&f.node.ty.node) {
                        found.push(format!("{type_name}.{}", f.node.name.node));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(!found.is_empty(), "the walk sees the schema's fields");
    for place in found {
        let name = place
            .rsplit(['.', '('])
            .next()
            .unwrap()
            .trim_end_matches(')');
        assert!(
            BOUNDED_INTS.iter().any(|(n, _)| *n == name),
            "{place} is an Int: make it UInt64 (or add it to BOUNDED_INTS with its bound)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_amounts_and_sequence_numbers_cross_the_api_as_strings() {
    let server = Server::start().await;
    let account = server
        .post(
            Some("admin"),
            r#"mutation { registerAccount(input: { name: "Big Buyer" }) { account { id } } }"#,
            json!({}),
        )
        .await;
    let account = account["data"]["registerAccount"]["account"]["id"].clone();
    let deal = server
        .post(
            Some("admin"),
            r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "Fleet",
                amount: "50000000.00", currency: "USD", expectedClose: "2027-06-30" }) {
                events { seq payload } opportunity { amount { amount currency } expectedClose } } }"#,
            json!({ "a": account }),
        )
        .await;
    let opened = &deal["data"]["openOpportunity"];
    assert_eq!(
        opened["opportunity"]["amount"]["amount"], "50000000.00",
        "{deal}"
    );
    assert_eq!(opened["opportunity"]["amount"]["currency"], "USD");
    assert_eq!(opened["opportunity"]["expectedClose"], "2027-06-30");
    assert_eq!(
        opened["events"][0]["payload"]["OpportunityOpened"]["amount"]["minor"],
        5_000_000_000_i64
    );
    assert!(opened["events"][0]["seq"].is_string());
    let far = server
        .post(
            Some("admin"),
            "query($s: UInt64) { events(fromSeq: $s) { nodes { seq } } }",
            json!({ "s": "7916164688053882" }),
        )
        .await;
    assert_eq!(far["data"]["events"]["nodes"], json!([]), "{far}");
    let over = server
        .post(
            Some("admin"),
            "query($s: UInt64) { events(fromSeq: $s) { nodes { seq } } }",
            json!({ "s": "18446744073709551616" }),
        )
        .await;
    assert_eq!(code(&over), Some("BAD_USER_INPUT"), "{over}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_arguments_and_misleading_text_are_refused_by_name() {
    let server = Server::start().await;
    let register = "mutation($n: String!) { registerAccount(input: { name: $n }) { version } }";
    for (name, want) in [
        ("Acme \u{202e}gnp.exe", "bidirectional override"),
        ("\u{200b}\u{200d}", "empty"),
        ("Acme\nCorp", "one line"),
    ] {
        let body = server
            .post(Some("admin"), register, json!({ "n": name }))
            .await;
        assert_eq!(code(&body), Some("VALIDATION"), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("name:") && message.contains(want),
            "{message}"
        );
    }
    let head = server
        .post(Some("admin"), "{ head { seq } }", json!({}))
        .await;
    assert_eq!(head["data"]["head"]["seq"], "0", "nothing was written");
    let ok = server
        .post(Some("admin"), register, json!({ "n": "Cafe\u{301}" }))
        .await;
    assert!(ok["errors"].is_null(), "{ok}");
    let account = server
        .post(Some("admin"), "{ accounts { nodes { name } } }", json!({}))
        .await;
    assert_eq!(
        account["data"]["accounts"]["nodes"][0]["name"], "Caf\u{e9}",
        "stored as NFC"
    );

    let open = r#"mutation($amount: Decimal!, $close: Date!) { openOpportunity(input: {
        accountId: "0190a000-0000-7000-8000-000000000001", title: "t", amount: $amount,
        currency: "USD", expectedClose: $close }) { version } }"#;
    for (amount, close) in [
        ("1,000.00", "2027-01-01"),
        ("1000", "0000-01-01"),
        ("1000", "9999-12-31"),
    ] {
        let body = server
            .post(
                Some("admin"),
                open,
                json!({ "amount": amount, "close": close }),
            )
            .await;
        assert_eq!(
            code(&body),
            Some("BAD_USER_INPUT"),
            "{amount} {close}: {body}"
        );
    }
    let trend = r#"{ funnelTrend(from: "2026-01-01", to: "2026-02-01", points: 24, stepDays: 2147483647) { windowEnd } }"#;
    let body = server.post(Some("admin"), trend, json!({})).await;
    assert_eq!(code(&body), Some("VALIDATION"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("stepDays")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_cost_is_refused_before_it_runs_and_answers_report_their_cost() {
    let server = Server::start().await;
    let send = |query: String| {
        server
            .client
            .post(&server.url)
            .bearer_auth(&server.tokens["admin"])
            .header("accept", MODERN)
            .json(&json!({ "query": query }))
            .send()
    };
    let pages: String = (0..1000)
        .map(|i| format!("a{i}: opportunities(first: 500) {{ nodes {{ id }} }} "))
        .collect();
    let analyses: String = (0..1200)
        .map(|i| {
            format!(
                "a{i}: winLoss(from: \"2024-01-01\", to: \"2025-01-01\", asOf: \"2025-01-{:02}T00:{:02}:00Z\", clock: OCCURRED) {{ rates {{ won }} }} ",
                i % 28 + 1,
                i % 60
            )
        })
        .collect();
    for query in [pages, analyses] {
        let (status, _, b) = body(send(format!("{{ {query} }}")).await.unwrap()).await;
        assert_eq!((status, code(&b)), (400, Some("QUERY_TOO_COSTLY")), "{b}");
        assert!(b.get("data").is_none());
        let requested = b["extensions"]["cost"]["requested"].as_u64().unwrap();
        assert!(requested > b["extensions"]["cost"]["limit"].as_u64().unwrap());
    }
    let (status, _, b) = body(
        send("{ opportunities(first: 20) { nodes { id } } }".into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["extensions"]["cost"]["requested"], 41, "{b}");
    let returned = b["data"]["opportunities"]["nodes"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(
        b["extensions"]["cost"]["actual"],
        1 + 2 * returned,
        "the page as it came back: {b}"
    );
    // The same analysis under many aliases is computed (and charged) once.
    let same: String = (0..1000)
        .map(|i| {
            format!(
                "a{i}: winLoss(from: \"2024-01-01\", to: \"2025-01-01\") {{ rates {{ won }} }} "
            )
        })
        .collect();
    let (status, _, b) = body(send(format!("{{ {same} }}")).await.unwrap()).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["extensions"]["cost"]["requested"], 50 + 1000 * 2, "{b}");
    assert_eq!(b["data"]["a0"], b["data"]["a999"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_time_answers_timeout_as_graphql_json() {
    // A limit of zero: every answer comes after it, however fast the machine is.
    let server = Server::start_with(ServerConfig {
        request_timeout: std::time::Duration::ZERO,
        ..unlimited()
    })
    .await;
    let replay = r#"{ winLoss(from: "2024-01-01", to: "2025-01-01", asOf: "2025-06-01T00:00:00Z", clock: OCCURRED) { rates { won } } }"#;
    let response = server
        .client
        .post(&server.url)
        .bearer_auth(&server.tokens["admin"])
        .header("accept", MODERN)
        .json(&json!({ "query": replay }))
        .send()
        .await
        .unwrap();
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(media.starts_with(MODERN), "{media}");
    let (status, _, b) = body(response).await;
    assert_eq!((status, code(&b)), (503, Some("TIMEOUT")), "{b}");
    assert!(b.get("data").is_none(), "{b}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_past_its_budget_gets_429_and_others_are_served() {
    use dealtrail_graphql::budget::Budget;
    let tight = Budget {
        capacity: 10_000,
        per_second: 1,
    };
    let server = Server::start_with(ServerConfig {
        budgets: [(dealtrail_graphql::Role::Sales, tight)]
            .into_iter()
            .collect(),
        ..ServerConfig::default()
    })
    .await;
    let ask_for = |who: &'static str, query: &'static str| {
        server
            .client
            .post(&server.url)
            .bearer_auth(&server.tokens[who])
            .json(&json!({ "query": query }))
            .send()
    };
    // A page is charged as asked (1,001), then refunded down to what came back.
    let (status, _, b) = body(
        ask_for("bob", "{ opportunities(first: 500) { nodes { id } } }")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let actual = b["extensions"]["cost"]["actual"].as_u64().unwrap();
    assert!(actual < 1_001, "{b}");
    let left = b["extensions"]["budget"]["remaining"].as_u64().unwrap();
    assert!(left >= 10_000 - actual, "refunded: {b}");
    // A replay of the log costs 2,502 and is computed in full.
    let replay = r#"{ winLoss(from: "2024-01-01", to: "2025-01-01", asOf: "2025-06-01T00:00:00Z", clock: OCCURRED) { rates { won } } }"#;
    let ask = |who: &'static str| ask_for(who, replay);
    let mut remaining = Vec::new();
    let refused = loop {
        let r = ask("anna").await.unwrap();
        if r.status() == 429 {
            break r;
        }
        let (status, _, b) = body(r).await;
        assert_eq!(status, 200, "{b}");
        remaining.push(b["extensions"]["budget"]["remaining"].as_u64().unwrap());
        assert!(
            remaining.len() <= 4,
            "a 10,000 budget pays for at most 4 of these"
        );
    };
    assert!(remaining.windows(2).all(|w| w[1] < w[0]), "{remaining:?}");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    let (_, _, b) = body(refused).await;
    assert_eq!(code(&b), Some("RATE_LIMITED"), "{b}");
    assert!(b.get("data").is_none());
    // Another rep's token, and an analyst's, have budgets of their own.
    let (status, _, _) = body(ask("bob").await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, _, b) = body(ask("ann-alyst").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(b["extensions"]["budget"]["capacity"], 100_000);
    server.stop().await;
}
