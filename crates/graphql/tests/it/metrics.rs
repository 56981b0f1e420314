//! `GET /metrics`: the counters move when requests are made.

use super::*;

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(server: &Server) -> String {
    let url = server.url.trim_end_matches("/graphql").to_owned() + "/metrics";
    let r = server.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_when_requests_are_made() {
    let server = Server::start().await;
    let before = scrape(&server).await;
    let ok_queries = r#"dealtrail_graphql_requests_total{operation="query",outcome="ok"}"#;
    let unauthenticated =
        r#"dealtrail_graphql_requests_total{operation="query",outcome="UNAUTHENTICATED"}"#;
    let appended = "dealtrail_store_appended_events";
    let was = |series| sample(&before, series).unwrap_or(0.0);

    server
        .post(Some("admin"), "{ head { seq } }", json!({}))
        .await;
    server.post(None, "{ head { seq } }", json!({})).await;
    let body = server
        .post(
            Some("admin"),
            r#"mutation { registerAccount(input: { name: "Metrics" }) { version } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_sink, _stream) = crate::subscription::subscribe_to(
        &server,
        "audrey",
        "graphql-transport-ws",
        "subscription { events(fromSeq: 1) { seq } }",
    )
    .await;

    let after = scrape(&server).await;
    let now = |series| sample(&after, series).unwrap_or(0.0);
    assert_eq!(now(ok_queries), was(ok_queries) + 1.0, "{after}");
    assert_eq!(now(unauthenticated), was(unauthenticated) + 1.0);
    assert_eq!(
        now(r#"dealtrail_graphql_requests_total{operation="mutation",outcome="ok"}"#),
        1.0
    );
    assert!(now(appended) > was(appended), "{after}");
    assert!(now("dealtrail_websockets_open") >= 1.0, "{after}");
    assert!(now("dealtrail_log_head_seq") >= 1.0);
    assert_eq!(now("dealtrail_store_write_failing"), 0.0);
    assert!(
        after.contains(r#"dealtrail_read_model_lag_events{model="sales-pipeline"}"#),
        "{after}"
    );
    assert!(now(r#"dealtrail_graphql_request_duration_seconds_count{operation="query"}"#) >= 2.0);
    server.stop().await;
}
