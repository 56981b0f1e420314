//! A WebSocket subscription receives the events written after it started, in order, once.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::*;

async fn subscribe(
    server: &Server,
    who: &str,
    protocol: &str,
) -> (
    impl futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin + use<>,
    impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
    + Unpin
    + use<>,
) {
    subscribe_to(
        server,
        who,
        protocol,
        "subscription { events(fromSeq: 1) { seq eventType actor } }",
    )
    .await
}

pub async fn subscribe_to(
    server: &Server,
    who: &str,
    protocol: &str,
    query: &str,
) -> (
    impl futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin + use<>,
    impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
    + Unpin
    + use<>,
) {
    let url = server.url.replace("http://", "ws://") + "/ws";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut tx, mut rx) = socket.split();
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", server.tokens[who]) } });
    tx.send(Message::text(init.to_string())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = rx.next().await else {
            panic!("no ack")
        };
        let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
        if msg["type"] == "connection_ack" {
            break;
        }
    }
    let start = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    let subscribe = json!({
        "id": "1",
        "type": start,
        "payload": { "query": query }
    });
    tx.send(Message::text(subscribe.to_string())).await.unwrap();
    (tx, rx)
}

pub(crate) async fn next_payload(
    rx: &mut (
             impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
             + Unpin
         ),
) -> serde_json::Value {
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => {
                let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
                match msg["type"].as_str() {
                    Some("next") | Some("data") => return msg["payload"].clone(),
                    Some("ka") | Some("ping") | Some("pong") => continue,
                    _ => panic!("unexpected message {msg}"),
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_later_writes_in_order_exactly_once_on_both_protocols() {
    let server = Server::start().await;
    let register = r#"mutation($id: String!, $name: String!) {
        registerAccount(input: { id: $id, name: $name }) { version } }"#;
    // One event before the subscriptions start: they catch up from seq 1.
    server
        .post(
            Some("admin"),
            register,
            json!({ "id": "0190a000-0000-7000-8000-000000000100", "name": "First" }),
        )
        .await;
    let (_tx1, mut modern) = subscribe(&server, "audrey", "graphql-transport-ws").await;
    let (_tx2, mut legacy) = subscribe(&server, "admin", "graphql-ws").await;
    for n in 1..=5 {
        let body = server
            .post(
                Some("admin"),
                register,
                json!({ "id": format!("0190a000-0000-7000-8000-00000000010{n}"), "name": format!("Company {n}") }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    for rx in [&mut modern, &mut legacy] {
        let mut seqs = Vec::new();
        for _ in 0..6 {
            let payload = next_payload(rx).await;
            assert!(payload["errors"].is_null(), "{payload}");
            assert_eq!(payload["data"]["events"]["actor"], "admin");
            seqs.push(crate::n(&payload["data"]["events"]["seq"]));
        }
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_need_an_auditor_or_admin() {
    let server = Server::start().await;
    let (_tx, mut rx) = subscribe(&server, "anna", "graphql-transport-ws").await;
    let Some(Ok(Message::Text(text))) = rx.next().await else {
        panic!("no answer")
    };
    let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The refusal arrives as the subscription's one result, with no data.
    assert_eq!(msg["payload"]["data"], serde_json::Value::Null, "{msg}");
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_watcher_sees_each_change_of_that_deal_only() {
    let server = Server::start().await;
    let account = "0190a000-0000-7000-8000-000000000200";
    let deal = "0190a000-0000-7000-8000-000000000201";
    let other = "0190a000-0000-7000-8000-000000000202";
    let ok = |body: serde_json::Value| assert!(body["errors"].is_null(), "{body}");
    ok(server
        .post(
            Some("admin"),
            r#"mutation($id: String!) { registerAccount(input: { id: $id, name: "Watched" }) { version } }"#,
            json!({ "id": account }),
        )
        .await);
    let open = r#"mutation($id: String!, $a: String!) { openOpportunity(input: { id: $id, accountId: $a,
        title: "t", amount: "10", currency: "USD", expectedClose: "2030-01-01" }) { version } }"#;
    for id in [deal, other] {
        ok(server
            .post(Some("anna"), open, json!({ "id": id, "a": account }))
            .await);
    }
    // Starting right after the current head makes the test independent of when the server
    // registers the subscription.
    let head = server
        .post(Some("admin"), "{ head { seq } }", json!({}))
        .await;
    let head = crate::n(&head["data"]["head"]["seq"]);
    let watch = format!(
        "subscription {{ opportunityChanged(id: \"{deal}\", fromSeq: {}) {{ id stage }} }}",
        head + 1
    );
    let (_tx, mut rx) = subscribe_to(&server, "anna", "graphql-transport-ws", &watch).await;
    let change = r#"mutation($id: String!, $s: String!) { changeStage(opportunityId: $id, stage: $s) { version } }"#;
    let mut stages = Vec::new();
    ok(server
        .post(
            Some("anna"),
            change,
            json!({ "id": other, "s": "Qualified" }),
        )
        .await);
    for stage in ["Qualified", "Solution", "Bid"] {
        ok(server
            .post(Some("anna"), change, json!({ "id": deal, "s": stage }))
            .await);
    }
    while stages.len() < 3 {
        let payload = next_payload(&mut rx).await;
        assert!(payload["errors"].is_null(), "{payload}");
        assert_eq!(payload["data"]["opportunityChanged"]["id"], deal);
        stages.push(
            payload["data"]["opportunityChanged"]["stage"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(stages, ["Qualified", "Solution", "Bid"]);
    server.stop().await;
}

/// Opens a socket and sends `connection_init` with `token`; returns the socket.
async fn connect(
    server: &Server,
    protocol: &str,
    token: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = server.url.replace("http://", "ws://") + "/ws";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match token {
        Some(t) => json!({ "authorization": format!("Bearer {t}") }),
        None => json!({}),
    };
    let init = json!({ "type": "connection_init", "payload": payload });
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket
}

/// The close code the socket ends with, skipping other messages; bounded by `within`.
async fn close_code(
    socket: &mut (
             impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
             + Unpin
         ),
    within: std::time::Duration,
) -> Option<u16> {
    let wait = async {
        while let Some(m) = socket.next().await {
            match m {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(Message::Text(text)) => {
                    // A refusal may come as the operation's one result: errors, no data.
                    let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
                    assert_ne!(
                        msg["type"], "connection_ack",
                        "a refused socket is not acked"
                    );
                    assert!(msg["payload"]["data"].is_null(), "nothing is served: {msg}");
                    if !msg["payload"]["errors"].is_null() {
                        assert_eq!(
                            msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                            "{msg}"
                        );
                    }
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(within, wait).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_a_valid_token_is_closed_at_init_with_4403() {
    let server = Server::start().await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for token in [None, Some("dt_not-a-token")] {
            let mut socket = connect(&server, protocol, token).await;
            let code = close_code(&mut socket, std::time::Duration::from_secs(5)).await;
            assert_eq!(code, Some(4403), "{protocol} with {token:?}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_closes_its_open_sockets_within_two_seconds() {
    let server = Server::start().await;
    let tokens = Tokens::in_folder(server.data_dir());
    let mut token = tokens.create("temp-auditor", Role::Auditor).unwrap();
    for (n, protocol) in ["graphql-transport-ws", "graphql-ws"]
        .into_iter()
        .enumerate()
    {
        let mut socket = connect(&server, protocol, Some(&token)).await;
        let Some(Ok(Message::Text(ack))) = socket.next().await else {
            panic!("no ack")
        };
        assert!(ack.contains("connection_ack"), "{ack}");
        if n == 1 {
            // Revoked while the socket is open: the socket is closed, nothing more served.
            tokens.revoke("temp-auditor").unwrap();
        }
        let start = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        let subscribe = json!({ "id": "1", "type": start,
            "payload": { "query": "subscription { events(fromSeq: 1) { seq } }" } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        if n == 0 {
            // Served while the token is valid.
            let (mut tx, mut rx) = socket.split();
            let register =
                r#"mutation { registerAccount(input: { name: "Watched" }) { version } }"#;
            assert!(server.post(Some("admin"), register, json!({})).await["errors"].is_null());
            let payload = next_payload(&mut rx).await;
            assert_eq!(payload["data"]["events"]["seq"], "1", "{payload}");
            tokens.revoke("temp-auditor").unwrap();
            let started = std::time::Instant::now();
            let code = close_code(&mut rx, std::time::Duration::from_secs(5)).await;
            assert_eq!(code, Some(4403));
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
            let _ = tx.close().await;
            token = tokens.create("temp-auditor", Role::Auditor).unwrap();
        } else {
            let code = close_code(&mut socket, std::time::Duration::from_secs(5)).await;
            assert_eq!(code, Some(4403));
        }
    }
    server.stop().await;
}
