//! A backup of a running server that keeps writing: `export events --url`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod support;

fn dealtrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_restores_to_a_head_the_live_log_had() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, token, address) = support::serve_demo(&data, 6);
    let url = format!("http://{address}");

    // A writer that keeps going for the whole backup.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, token, url) = (stop.clone(), token.clone(), url.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut written = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(format!("{url}/graphql"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "query": format!(
                        "mutation {{ registerAccount(input: {{ name: \"During backup {written}\" }}) {{ version }} }}"
                    ) }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                written += 1;
            }
            written
        })
    };
    let backup = dir.path().join("backup.jsonl");
    let out = {
        let (url, token, backup) = (url.clone(), token.clone(), backup.clone());
        tokio::task::spawn_blocking(move || {
            dealtrail()
                .args([
                    "export", "events", "--url", &url, "--token", &token, "--out",
                ])
                .arg(&backup)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0);

    // The server verifies its own log on request, while it runs.
    let verified = dealtrail()
        .args(["verify", "--url", &url, "--token", &token])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && said.starts_with("intact: "),
        "{said}"
    );

    // Refused for a rep, and without a token.
    let rep = dealtrail()
        .args([
            "token", "create", "--name", "rep", "--role", "sales", "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let rep = String::from_utf8(rep.stdout).unwrap();
    let refused = dealtrail()
        .args(["export", "events", "--url", &url, "--token", rep.trim()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());

    // The backup is a prefix of the log as it now stands, line for line.
    let full = dir.path().join("full.jsonl");
    let out = dealtrail()
        .args(["export", "events", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&full)
        .output()
        .unwrap();
    assert!(out.status.success());
    let backup_text = std::fs::read_to_string(&backup).unwrap();
    let full_text = std::fs::read_to_string(&full).unwrap();
    let lines = backup_text.lines().count();
    assert!(lines > 100);
    assert!(
        full_text.lines().count() > lines,
        "writes went on after the backup's head"
    );
    assert!(
        full_text.starts_with(&backup_text),
        "a prefix of the live log"
    );
    // And it restores.
    let restored = dir.path().join("restored");
    let out = dealtrail()
        .args(["import", "events"])
        .arg(&backup)
        .arg("--data")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = dealtrail()
        .args(["verify", "--data"])
        .arg(&restored)
        .output()
        .unwrap();
    let said = String::from_utf8(verify.stdout).unwrap();
    assert!(
        said.starts_with(&format!("intact: {lines} events")),
        "{said}"
    );
}
