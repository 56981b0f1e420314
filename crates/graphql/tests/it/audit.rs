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
