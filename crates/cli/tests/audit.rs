//! The auditor's commands through the real binary: keys, signed heads from the command line
//! and from the server, proofs, verify against a heads file, and a resumed restore.

use std::path::Path;
use std::process::{Command, Output};

mod support;

use dealtrail_store::heads::unhex;
use dealtrail_store::tree::{verify_consistency, verify_inclusion};
use serde_json::Value;

fn dealtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = dealtrail(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn hash(v: &Value) -> [u8; 32] {
    unhex::<32>(v.as_str().unwrap()).unwrap()
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array().unwrap().iter().map(hash).collect()
}

#[test]
fn signed_heads_and_proofs_from_the_command_line_catch_a_cut_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("key");
    let heads = dir.path().join("heads.jsonl");
    ok(&["demo", "--data", s(&data), "--accounts", "4"]);
    let out = ok(&["key", "create", "--out", s(&key)]);
    let public = out.trim().strip_prefix("public key: ").unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !dealtrail(&["key", "create", "--out", s(&key)])
            .status
            .success()
    );
    // A key inside the data folder is refused.
    let inside = data.join("key");
    std::fs::copy(&key, &inside).unwrap();
    let out = dealtrail(&["head", "--data", s(&data), "--signing-key", s(&inside)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the data folder"));
    std::fs::remove_file(&inside).unwrap();

    let line = ok(&["head", "--data", s(&data), "--signing-key", s(&key)]);
    std::fs::write(&heads, &line).unwrap();
    let head: Value = serde_json::from_str(&line).unwrap();
    let size = head["size"].as_u64().unwrap();
    assert!(size > 100);
    assert_eq!(head["publicKey"], public.as_str());
    let out = ok(&[
        "verify",
        "--data",
        s(&data),
        "--against",
        s(&heads),
        "--key",
        &public,
    ]);
    assert!(out.contains("extends all 1 saved heads"), "{out}");
    let other_key = "00".repeat(32);
    assert!(
        !dealtrail(&[
            "verify",
            "--data",
            s(&data),
            "--against",
            s(&heads),
            "--key",
            &other_key
        ])
        .status
        .success()
    );

    // Proofs, checked with the RFC's algorithms against the signed root.
    let p: Value = serde_json::from_str(&ok(&[
        "proof",
        "inclusion",
        "--data",
        s(&data),
        "--seq",
        "42",
    ]))
    .unwrap();
    assert_eq!(p["root"], head["root"]);
    assert!(verify_inclusion(
        &hash(&p["leafHash"]),
        41,
        size,
        &hashes(&p["path"]),
        &hash(&head["root"])
    ));
    let c: Value = serde_json::from_str(&ok(&[
        "proof",
        "consistency",
        "--data",
        s(&data),
        "--from",
        "100",
    ]))
    .unwrap();
    assert!(verify_consistency(
        100,
        size,
        &hash(&c["fromRoot"]),
        &hash(&head["root"]),
        &hashes(&c["path"])
    ));

    // Cut the last ten events, their stream copies, the tree and its head: the folder opens
    // (it gains a new tree) and verifies in itself, but not against the saved head.
    {
        let raw = dealtrail_store::raw::RawLog::open(&data).unwrap();
        raw.remove_from(size - 9, true).unwrap();
        let keys: Vec<_> = raw
            .tree()
            .scan_prefix(b"K")
            .keys()
            .map(|k| k.unwrap())
            .collect();
        for k in keys {
            raw.tree().remove(k).unwrap();
        }
        raw.flush().unwrap();
    }
    let out = ok(&["verify", "--data", s(&data)]);
    assert!(out.starts_with("intact"), "{out}");
    let out = dealtrail(&["verify", "--data", s(&data), "--against", s(&heads)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("does not extend the saved head"), "{text}");
}

#[test]
fn a_restore_that_stopped_resumes_and_ends_with_the_identical_head() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&["demo", "--data", s(&data), "--accounts", "3"]);
    let export = dir.path().join("events.jsonl");
    ok(&["export", "events", "--data", s(&data), "--out", s(&export)]);
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // What a restore killed midway leaves: a valid prefix.
    let half = dir.path().join("half.jsonl");
    std::fs::write(&half, lines[..lines.len() / 2].join("\n")).unwrap();
    let copy = dir.path().join("copy");
    ok(&["import", "events", s(&half), "--data", s(&copy)]);
    let out = dealtrail(&["import", "events", s(&export), "--data", s(&copy)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    // A file that differs in the part already imported is refused, and changes nothing.
    let mut altered = lines.clone();
    altered[3] = altered[3].replace("\"actor\":\"", "\"actor\":\"x");
    let altered_file = dir.path().join("altered.jsonl");
    std::fs::write(&altered_file, altered.join("\n")).unwrap();
    let out = dealtrail(&[
        "import",
        "events",
        s(&altered_file),
        "--data",
        s(&copy),
        "--resume",
    ]);
    assert!(!out.status.success());
    let out = ok(&[
        "import",
        "events",
        s(&export),
        "--data",
        s(&copy),
        "--resume",
    ]);
    let original = ok(&["head", "--data", s(&data)]);
    let restored = ok(&["head", "--data", s(&copy)]);
    assert_eq!(original, restored);
    assert!(
        out.contains(&format!(
            "imported {} events",
            lines.len() - lines.len() / 2
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_heads_on_demand_into_its_heads_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("key");
    let heads = dir.path().join("heads.jsonl");
    ok(&["key", "create", "--out", s(&key)]);
    let (mut child, token, address) = support::serve_demo_with(
        &data,
        3,
        &["--signing-key", s(&key), "--heads-file", s(&heads)],
    );
    let body: Value = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ head { seq root } signedTreeHead { treeSize root line } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed = &body["data"]["signedTreeHead"];
    assert_eq!(signed["treeSize"], body["data"]["head"]["seq"], "{body}");
    assert_eq!(signed["root"], body["data"]["head"]["root"]);
    let kept = std::fs::read_to_string(&heads).unwrap();
    assert!(
        kept.lines().any(|l| l == signed["line"].as_str().unwrap()),
        "{kept}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let out = ok(&["verify", "--data", s(&data), "--against", s(&heads)]);
    assert!(out.contains("saved heads"), "{out}");
}
