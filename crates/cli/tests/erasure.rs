//! Erasing a person through the real server and binary: the chain still verifies, and the
//! person's data is unreadable in the folder, the log's copies and the exports.

use std::process::Command;

use serde_json::{Value, json};

mod support;

fn dealtrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
}

const NAME: &str = "Zdenka Erasmus-Quill";
const EMAIL: &str = "zdenka.eq@erase.test";
const PARTICIPANT: &str = "Wojciech Unlisted";

async fn post(url: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

/// Every file under `dir`, read whole.
fn folder_bytes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(folder_bytes(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_absent(dir: &std::path::Path, needle: &str) {
    for (path, bytes) in folder_bytes(dir) {
        assert!(
            !contains(&bytes, needle.as_bytes()),
            "{needle:?} in plaintext in {}",
            path.display()
        );
    }
}

fn run(args: &[&str]) -> String {
    let out = dealtrail().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn keys(data: &str) -> Vec<Value> {
    run(&["export", "keys", "--data", data])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_contact_is_unreadable_everywhere_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("data");
    let data = data_path.to_str().unwrap();
    let (mut child, token, address) = support::serve_demo(&data_path, 2);
    let url = format!("http://{address}");

    let deal = post(
        &url,
        &token,
        "{ opportunities(first: 1, filter: { open: true }) { nodes { id accountId } } }",
        json!({}),
    )
    .await["opportunities"]["nodes"][0]
        .clone();
    let account = deal["accountId"].as_str().unwrap().to_owned();
    let registered = post(
        &url,
        &token,
        r#"mutation($a: String!, $n: String!, $e: String!) { registerContact(input: { accountId: $a,
            name: $n, email: $e, phone: "+420 555 0101", role: "decision_maker", seniority: "executive" }) {
            events { payload } } }"#,
        json!({ "a": account, "n": NAME, "e": EMAIL }),
    )
    .await;
    let contact =
        registered["registerContact"]["events"][0]["payload"]["ContactRegistered"]["contact"]
            .as_str()
            .unwrap()
            .to_owned();
    post(
        &url,
        &token,
        r#"mutation($d: String!, $c: String!, $p: String!) { logFollowUp(input: { opportunityId: $d,
            channel: "visit", contactIds: [$c], unregisteredNames: [$p], summary: "site visit" }) { version } }"#,
        json!({ "d": deal["id"], "c": contact, "p": PARTICIPANT }),
    )
    .await;
    let shown = post(
        &url,
        &token,
        "query($a: String!) { account(id: $a) { contacts { id name email erased } } }",
        json!({ "a": account }),
    )
    .await;
    assert!(
        shown["account"]["contacts"]
            .as_array()
            .unwrap()
            .contains(&json!({ "id": contact, "name": NAME, "email": EMAIL, "erased": false })),
        "{shown}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Sealed from the start: the name is in no file of the folder, in no copy of the log.
    assert_absent(&data_path, NAME);
    assert_absent(&data_path, EMAIL);
    assert_absent(&data_path, PARTICIPANT);
    let before = keys(data);
    let key_of = |keys: &[Value], person: &str| {
        keys.iter()
            .find(|k| k["person"] == person)
            .map(|k| k["key"].clone())
            .unwrap_or_else(|| panic!("no key for {person}"))
    };
    let contact_key = key_of(&before, &contact).as_str().unwrap().to_owned();
    let key_backup = dir.path().join("keys-before.jsonl");
    run(&[
        "export",
        "keys",
        "--data",
        data,
        "--out",
        key_backup.to_str().unwrap(),
    ]);

    // Erase both, through the restarted server.
    let (mut child, address) = support::serve_again(&data_path);
    let url = format!("http://{address}");
    let listed = post(
        &url,
        &token,
        "query($a: String) { unregisteredParticipants(accountId: $a) { written personId opportunityId } }",
        json!({ "a": account }),
    )
    .await;
    // The online key export is the folder's.
    let online = dir.path().join("keys-online.jsonl");
    run(&[
        "export",
        "keys",
        "--url",
        &url,
        "--token",
        &token,
        "--out",
        online.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&online).unwrap(),
        std::fs::read_to_string(&key_backup).unwrap()
    );
    let participant = listed["unregisteredParticipants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["written"] == PARTICIPANT)
        .cloned()
        .unwrap_or_else(|| panic!("{listed}"));
    post(
        &url,
        &token,
        r#"mutation($a: String!, $c: String!) { eraseContact(accountId: $a, contactId: $c, reason: "request 1") { version } }"#,
        json!({ "a": account, "c": contact }),
    )
    .await;
    post(
        &url,
        &token,
        r#"mutation($d: String!, $p: String!) { eraseParticipant(opportunityId: $d, personId: $p) { version } }"#,
        json!({ "d": participant["opportunityId"], "p": participant["personId"] }),
    )
    .await;
    let shown = post(
        &url,
        &token,
        "query($a: String!) { account(id: $a) { contacts { id name email erased } } }",
        json!({ "a": account }),
    )
    .await;
    assert!(
        shown["account"]["contacts"]
            .as_array()
            .unwrap()
            .contains(&json!({ "id": contact, "name": "(erased)", "email": null, "erased": true })),
        "{shown}"
    );
    let listed = post(
        &url,
        &token,
        "query($a: String) { unregisteredParticipants(accountId: $a) { written } }",
        json!({ "a": account }),
    )
    .await;
    assert!(
        !listed.to_string().contains(PARTICIPANT),
        "an erased name is not listed: {listed}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // The chain is untouched, and the key is gone from the key file itself.
    let verified = run(&["verify", "--data", data]);
    assert!(verified.contains("intact"), "{verified}");
    let after = keys(data);
    assert_eq!(key_of(&after, &contact), Value::Null);
    assert_eq!(
        key_of(&after, participant["personId"].as_str().unwrap()),
        Value::Null
    );
    let key_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&contact_key[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    for (path, bytes) in folder_bytes(&data_path) {
        assert!(
            !contains(&bytes, &key_bytes),
            "the key is still in {}",
            path.display()
        );
    }
    assert_absent(&data_path, NAME);

    // An export carries the sealed bytes only, and a folder restored from it (with the
    // keys as they are now) reads the contact as erased.
    let export = run(&["export", "events", "--data", data]);
    assert!(!export.contains(NAME) && !export.contains(EMAIL) && !export.contains(PARTICIPANT));
    assert!(export.contains("sealed_for"));
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &export).unwrap();
    let restored = dir.path().join("restored");
    let restored = restored.to_str().unwrap();
    run(&[
        "import",
        "events",
        events.to_str().unwrap(),
        "--data",
        restored,
    ]);
    let key_now = dir.path().join("keys-now.jsonl");
    run(&[
        "export",
        "keys",
        "--data",
        data,
        "--out",
        key_now.to_str().unwrap(),
    ]);
    run(&[
        "import",
        "keys",
        key_now.to_str().unwrap(),
        "--data",
        restored,
    ]);
    assert_eq!(key_of(&keys(restored), &contact), Value::Null);
    assert!(run(&["verify", "--data", restored]).contains("intact"));
    // What erasure cannot reach: a key backup taken before it still opens the data, which
    // is why docs/operations.md says to expire key backups.
    let text = std::fs::read_to_string(&key_backup).unwrap();
    assert!(text.contains(&contact_key));
}
