//! `POST /hooks/<name>`: signed deliveries are written once; bad, stale and oversized ones
//! are refused and write nothing.

use dealtrail_graphql::hooks::Hook;

use super::*;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_written_once_and_others_refused() {
    let hook = Hook::new("calendar", "a-shared-secret-of-some-length").unwrap();
    let server = Server::start_with(ServerConfig {
        hooks: vec![hook.clone()],
        ..unlimited()
    })
    .await;
    crate::api::with_deal(&server).await;
    let url = server.url.replace("/graphql", "/hooks/calendar");
    let send = |body: Vec<u8>, timestamp: u64, signature: String, delivery: &str| {
        server
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-dealtrail-timestamp", timestamp.to_string())
            .header("x-dealtrail-signature", signature)
            .header("x-dealtrail-delivery", delivery)
            .body(body)
            .send()
    };
    let head = || async {
        n(&server
            .post(Some("admin"), "{ head { seq } }", json!({}))
            .await["data"]["head"]["seq"])
    };
    let body = serde_json::to_vec(&json!({
        "opportunityId": crate::api::DEAL,
        "channel": "meeting",
        "summary": "Met the buying committee",
        "participants": ["Mei Chen", "tom@acme.test"],
        "nextStep": "Send the proposal"
    }))
    .unwrap();
    // Participants are matched as quickLog matches them: Mei Chen is a contact.
    let mei = server
        .post(
            Some("admin"),
            r#"mutation($a: String!) { registerContact(input: { accountId: $a, name: "Mei Chen",
                role: "influencer", seniority: "manager" }) { events { payload } } }"#,
            json!({ "a": crate::api::ACCOUNT }),
        )
        .await["data"]["registerContact"]["events"][0]["payload"]["ContactRegistered"]["contact"]
        .clone();
    assert!(mei.is_string(), "{mei}");
    let t = now();
    let before = head().await;

    let r = send(body.clone(), t, hook.sign(t, &body), "d-1")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["replayed"], false, "{answer}");
    assert_eq!(answer["matched"], json!([mei]), "{answer}");
    assert_eq!(
        answer["unregisteredParticipants"],
        json!(["tom@acme.test"]),
        "{answer}"
    );
    assert_eq!(head().await, before + 1);
    // The event: a follow-up by the hook's actor, one contact, one unregistered participant.
    let events = server
        .post(
            Some("admin"),
            "{ events(first: 1, actor: \"hook-calendar\") { nodes { eventType actor payload } } }",
            json!({}),
        )
        .await;
    let node = &events["data"]["events"]["nodes"][0];
    assert_eq!(node["eventType"], "FollowUpLogged", "{events}");
    assert_eq!(
        node["payload"]["FollowUpLogged"]["unregistered_participants"], 1,
        "{node}"
    );
    assert_eq!(
        node["payload"]["FollowUpLogged"]["contacts"],
        json!([mei]),
        "{node}"
    );

    // The same delivery again: answered, not written again.
    let r = send(body.clone(), t, hook.sign(t, &body), "d-1")
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["replayed"], true, "{answer}");
    assert_eq!(head().await, before + 1);

    // A wrong signature, a signature of other bytes, a stale one, no timestamp.
    let other = hook.sign(t, b"{}");
    let stale = t - 301;
    for (timestamp, signature) in [
        (t, "sha256=00".to_string()),
        (t, other),
        (stale, hook.sign(stale, &body)),
    ] {
        let r = send(body.clone(), timestamp, signature, "d-2")
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let refusal: Value = r.json().await.unwrap();
        assert_eq!(code(&refusal), Some("UNAUTHENTICATED"), "{refusal}");
    }
    // A body over the limit, signed properly.
    let big = vec![b' '; dealtrail_graphql::hooks::MAX_BODY + 1];
    let r = send(big.clone(), t, hook.sign(t, &big), "d-3")
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A hook that is not configured.
    let r = server
        .client
        .post(server.url.replace("/graphql", "/hooks/chat"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A bad channel is named.
    let bad = serde_json::to_vec(&json!({
        "opportunityId": crate::api::DEAL, "channel": "pigeon", "summary": "x"
    }))
    .unwrap();
    let r = send(bad.clone(), t, hook.sign(t, &bad), "d-4")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let refusal: Value = r.json().await.unwrap();
    assert!(
        refusal["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("one of: visit"),
        "{refusal}"
    );
    assert_eq!(head().await, before + 1, "nothing refused was written");

    // By account: its one open deal is taken; with a second one open, 409 and nothing
    // written.
    let by_account = serde_json::to_vec(&json!({
        "accountId": crate::api::ACCOUNT, "channel": "call", "summary": "Called",
        "participants": ["Mei Chen"]
    }))
    .unwrap();
    let r = send(by_account.clone(), t, hook.sign(t, &by_account), "d-5")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["opportunityId"], crate::api::DEAL, "{answer}");
    let opened = server
        .post(
            Some("admin"),
            r#"mutation($a: String!) { openOpportunity(input: { accountId: $a, title: "Second",
                amount: "10.00", currency: "USD", expectedClose: "2030-01-01" }) { version } }"#,
            json!({ "a": crate::api::ACCOUNT }),
        )
        .await;
    assert!(opened["errors"].is_null(), "{opened}");
    let written = head().await;
    let r = send(by_account.clone(), t, hook.sign(t, &by_account), "d-6")
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(code(&refusal), Some("AMBIGUOUS_DEAL"), "{refusal}");
    assert_eq!(head().await, written);
    server.stop().await;
}
