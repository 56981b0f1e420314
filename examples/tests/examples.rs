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
    dealtrail_demo::generate(engine.clone(), size, start, end, 4, 4, Arc::new(|_| {}))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proof_checker_confirms_signed_heads_and_proofs_and_refuses_forgeries() {
    use dealtrail_store::heads::{SigningKey, tree_hex};
    let dir = tempfile::tempdir().unwrap();
    let engine = demo(&dir.path().join("data")).await;
    let store = engine.store();
    let size = store.head().seq;
    let key = SigningKey::generate().unwrap();
    let now = dealtrail_store::Timestamp::now();
    let old = store.tree_head_at(size / 3).unwrap();
    let new = store.tree_head();
    let heads = dir.path().join("heads.jsonl");
    let lines = [key.sign(old, now), key.sign(new, now)].map(|h| h.to_json_line());
    std::fs::write(&heads, lines.join("\n")).unwrap();
    // The proofs as `dealtrail proof` prints them.
    let seq = size / 2;
    let p = store.inclusion_proof(seq, None).unwrap();
    let inclusion = serde_json::json!({
        "seq": p.seq, "treeSize": p.tree_size, "leafHash": tree_hex(&p.leaf),
        "path": p.path.iter().map(tree_hex).collect::<Vec<_>>(), "root": tree_hex(&p.root),
    });
    let c = store.consistency_proof(old.size, None).unwrap();
    let consistency = serde_json::json!({
        "fromSize": c.old.size, "fromRoot": tree_hex(&c.old.root), "toSize": c.new.size,
        "toRoot": tree_hex(&c.new.root), "path": c.path.iter().map(tree_hex).collect::<Vec<_>>(),
    });
    let write = |name: &str, v: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        path
    };
    let inc = write("inclusion.json", &inclusion);
    let con = write("consistency.json", &consistency);
    let trail = dir.path().join("trail.jsonl");
    let events = store.read_all(1, size as usize).unwrap();
    let exported: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::to_string(&dealtrail_engine::backup::EnvelopeRecord::from_recorded(e))
                .unwrap()
        })
        .collect();
    std::fs::write(&trail, exported.join("\n")).unwrap();
    let bin = env!("CARGO_BIN_EXE_check-proof");
    let check = |args: &[&std::path::Path], what: &str| {
        let mut all: Vec<&std::ffi::OsStr> = vec![what.as_ref()];
        all.extend(args.iter().map(|p| p.as_os_str()));
        run(bin, &all, &[])
    };
    let (ok, out) = check(&[&heads], "heads");
    assert!(ok && out.contains("2 signed heads verify"), "{out}");
    let (ok, out) = check(&[&heads, &inc, &trail], "inclusion");
    assert!(ok, "{out}");
    let (ok, out) = check(&[&heads, &con], "consistency");
    assert!(ok, "{out}");

    // A proof for another event, a changed path, a log that does not extend the old head,
    // a head whose size was changed after signing: all refused.
    let mut other = inclusion.clone();
    other["seq"] = (seq + 1).into();
    let (ok, out) = check(&[&heads, &write("other.json", &other), &trail], "inclusion");
    assert!(!ok, "{out}");
    let mut bent = consistency.clone();
    bent["path"][0] = tree_hex(&[0u8; 32]).into();
    let (ok, out) = check(&[&heads, &write("bent.json", &bent)], "consistency");
    assert!(!ok && out.contains("does not extend"), "{out}");
    let forged = lines[1].replace(
        &format!("\"size\":{}", new.size),
        &format!("\"size\":{}", new.size + 1),
    );
    std::fs::write(&heads, format!("{}\n{forged}", lines[0])).unwrap();
    let (ok, out) = check(&[&heads], "heads");
    assert!(!ok && out.contains("does not verify"), "{out}");
}
