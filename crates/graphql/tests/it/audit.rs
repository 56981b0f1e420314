//! Proofs over GraphQL, checked with the RFC 9162 verification algorithms.

use dealtrail_store::heads::unhex;
use dealtrail_store::tree::{verify_consistency, verify_inclusion};

use super::*;

fn hash(v: &Value) -> [u8; 32] {
    unhex::<32>(v.as_str().unwrap_or_else(|| panic!("not a hash: {v}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inclusion_and_consistency_proofs_verify_against_the_head() {
    let server = Server::start().await;
    for i in 0..5 {
        let body = server
            .post(
                Some("admin"),
                &format!(
                    "mutation {{ registerAccount(input: {{ name: \"Proof {i}\" }}) {{ version }} }}"
                ),
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let body = server
        .post(
            Some("audrey"),
            r#"{ head { seq root }
                 inclusionProof(seq: "2") { seq treeSize leafHash path root }
                 consistencyProof(fromSize: "3") { fromSize fromRoot toSize toRoot path } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let d = &body["data"];
    let size = n(&d["head"]["seq"]);
    let root = hash(&d["head"]["root"]);
    let p = &d["inclusionProof"];
    assert_eq!(n(&p["treeSize"]), size);
    let path: Vec<[u8; 32]> = p["path"].as_array().unwrap().iter().map(hash).collect();
    assert!(verify_inclusion(
        &hash(&p["leafHash"]),
        1,
        size,
        &path,
        &root
    ));
    let c = &d["consistencyProof"];
    let path: Vec<[u8; 32]> = c["path"].as_array().unwrap().iter().map(hash).collect();
    assert_eq!(hash(&c["toRoot"]), root);
    assert!(verify_consistency(
        3,
        size,
        &hash(&c["fromRoot"]),
        &root,
        &path
    ));
    // No signing key: no signed head, and sizes past the log are refused by name.
    let body = server
        .post(
            Some("audrey"),
            r#"{ signedTreeHead { treeSize } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["signedTreeHead"], Value::Null, "{body}");
    let body = server
        .post(
            Some("audrey"),
            r#"{ inclusionProof(seq: "999") { seq } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), Some("VALIDATION"), "{body}");
    let body = server
        .post(
            Some("anna"),
            r#"{ inclusionProof(seq: "1") { seq } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), Some("FORBIDDEN"), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_the_grown_head_by_itself_into_the_heads_file() {
    use dealtrail_store::heads::{SignedHead, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let heads = dir.path().join("heads.jsonl");
    let signer = dealtrail_graphql::audit::HeadSigner::new(
        SigningKey::generate().unwrap(),
        Some(heads.clone()),
    );
    let server = Server::start_with(ServerConfig {
        signer: Some(std::sync::Arc::new(signer)),
        sign_every: std::time::Duration::from_millis(20),
        ..unlimited()
    })
    .await;
    let body = server
        .post(
            Some("admin"),
            r#"mutation { registerAccount(input: { name: "Signed" }) { version } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let head = n(&server
        .post(Some("audrey"), "{ head { seq } }", json!({}))
        .await["data"]["head"]["seq"]);
    // Nobody asks for a signed head: the periodic signer writes one for the grown log.
    let mut signed = Vec::new();
    for _ in 0..500 {
        let text = std::fs::read_to_string(&heads).unwrap_or_default();
        signed = SignedHead::parse_file(&text).unwrap();
        if signed.iter().any(|h| h.head.size == head) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        signed.iter().any(|h| h.head.size == head),
        "no signed head of {head} events in {signed:?}"
    );
    // A log that did not grow is not signed again.
    let count = signed.len();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = SignedHead::parse_file(&std::fs::read_to_string(&heads).unwrap()).unwrap();
    assert_eq!(again.len(), count);
    server.stop().await;
}
