//! The example programs, run as a user would run them, against a small demo history.

use std::process::Command;
use std::sync::Arc;

use dealtrail_engine::{Engine, EngineConfig};

async fn demo(dir: &std::path::Path) -> Arc<Engine> {
    let engine = Arc::new(Engine::open(EngineConfig::new(dir)).unwrap());
    let end = dealtrail_engine::now();
    let start = dealtrail_domain::Timestamp(end.0 - 400 * dealtrail_domain::Timestamp::DAY);
    let size = dealtrail_demo::Size {
        accounts: 12,
        deals_per_account: 5,
        seed: 7,
    };
    dealtrail_demo::generate(engine.clone(), size, start, end, 4, Arc::new(|_| {}))
        .await
        .unwrap();
    engine
}

fn run(bin: &str, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_checker_confirms_an_export_and_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let engine = demo(&dir.path().join("data")).await;
    let head = engine.store().head();
    let events = engine.store().read_all(1, head.seq as usize).unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::to_string(&dealtrail_engine::backup::EnvelopeRecord::from_recorded(e))
                .unwrap()
        })
        .collect();
    let export = dir.path().join("trail.jsonl");
    std::fs::write(&export, lines.join("\n")).unwrap();
    let bin = env!("CARGO_BIN_EXE_verify-audit-trail");
    let hash = head.hash.to_hex();
    let (ok, out) = run(bin, &[export.as_os_str(), hash.as_ref()], &[]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        format!("intact: {} events, head {hash}", head.seq)
    );

    // Someone rewrites who recorded event 5.
    let mut forged = lines.clone();
    let original = forged[4].clone();
    let actor = serde_json::from_str::<serde_json::Value>(&original).unwrap()["actor"].clone();
    forged[4] = original.replace(&format!("\"actor\":{actor}"), "\"actor\":\"mallory\"");
    assert_ne!(forged[4], original);
    std::fs::write(&export, forged.join("\n")).unwrap();
    let (ok, out) = run(bin, &[export.as_os_str()], &[]);
    assert!(!ok);
    assert!(
        out.contains("event 5: its content does not match its hash"),
        "{out}"
    );

    // Someone deletes event 3.
    let mut cut = lines.clone();
    cut.remove(2);
    std::fs::write(&export, cut.join("\n")).unwrap();
    let (ok, out) = run(bin, &[export.as_os_str()], &[]);
    assert!(!ok && out.contains("an event is missing"), "{out}");

    // Someone drops the last event: only the head written down elsewhere shows it.
    std::fs::write(&export, lines[..lines.len() - 1].join("\n")).unwrap();
    let (ok, out) = run(bin, &[export.as_os_str(), hash.as_ref()], &[]);
    assert!(!ok && out.contains("but the head is"), "{out}");
    engine.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_is_explained_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = demo(&data).await;
    engine.shutdown().await.unwrap();
    drop(engine);
    let (ok, out) = run(env!("CARGO_BIN_EXE_explain-loss"), &[data.as_os_str()], &[]);
    assert!(ok, "{out}");
    assert!(out.starts_with("Deal "), "{out}");
    assert!(
        out.contains("the rep said:") && out.contains("the process shows:"),
        "{out}"
    );
    assert!(out.contains("30 days before"), "{out}");
    let (ok, out) = run(
        env!("CARGO_BIN_EXE_explain-loss"),
        &[data.as_os_str(), "not-an-id".as_ref()],
        &[],
    );
    assert!(!ok && out.contains("opportunity id"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_is_logged_through_the_api_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = demo(&dir.path().join("data")).await;
    let tokens = Arc::new(dealtrail_graphql::Tokens::in_folder(
        &dir.path().join("data"),
    ));
    let token = tokens
        .create("manny", dealtrail_graphql::Role::Manager)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dealtrail_graphql::run(
        listener,
        engine.clone(),
        tokens,
        dealtrail_graphql::ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let bin = env!("CARGO_BIN_EXE_log-visit");
    let before = engine.store().head().seq;
    // The program is a client of this process's server: run it off the async threads.
    let (ok, out) = tokio::task::spawn_blocking(move || {
        let env = [
            ("DEALTRAIL_URL", url.as_str()),
            ("DEALTRAIL_TOKEN", token.as_str()),
        ];
        run(bin, &["Met the CFO".as_ref()], &env)
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("Recorded FollowUpLogged as event"), "{out}");
    assert!(
        out.contains("by manny"),
        "the actor is the token's user: {out}"
    );
    assert_eq!(engine.store().head().seq, before + 1);
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(
            bin,
            &["Met the CFO".as_ref()],
            &[
                ("DEALTRAIL_URL", "http://127.0.0.1:9/graphql"),
                ("DEALTRAIL_TOKEN", "x"),
            ],
        )
    })
    .await
    .unwrap();
    assert!(!ok && out.contains("cannot reach"), "{out}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
