//! Two real `dealtrail serve` processes sharing one log in a throwaway PostgreSQL cluster:
//! a write on either is read back at once where it was made and reaches the other, and the
//! log moves between sled and PostgreSQL with its head hash.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dealtrail_testpg::Cluster;

mod support;

fn dealtrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
}

/// Kills the server when the test ends, however it ends.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn graphql(server: &str, token: &str, query: &str) -> serde_json::Value {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{server}/graphql"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

async fn head(server: &Server, token: &str) -> u64 {
    let data = graphql(&server.1, token, "{ head { seq } }").await;
    data["head"]["seq"].as_str().unwrap().parse().unwrap()
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Registers an account on `on` and waits until `other` shows it; returns how long that took.
async fn write_and_follow(on: &Server, other: &Server, token: &str, id: &str) -> Duration {
    let name = format!("Shared {id}");
    graphql(
        &on.1,
        token,
        &format!(r#"mutation {{ registerAccount(input: {{ id: "{id}", name: "{name}" }}) {{ version }} }}"#),
    )
    .await;
    let written = Instant::now();
    let query = format!(r#"{{ account(id: "{id}") {{ name }} }}"#);
    // Read-your-writes: the server that took the write shows it at once.
    let here = graphql(&on.1, token, &query).await;
    assert_eq!(here["account"]["name"], name.as_str(), "{here}");
    loop {
        let there = graphql(&other.1, token, &query).await;
        if there["account"]["name"] == name.as_str() {
            return written.elapsed();
        }
        assert!(
            written.elapsed() < Duration::from_secs(20),
            "the other server never showed the write"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_log_on_postgresql() {
    let Some(cluster) = Cluster::start("two servers on PostgreSQL") else {
        return;
    };
    let url = cluster.url("postgres");
    let dir = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (dir.path().join("a"), dir.path().join("b"));
    let (child, token, address) = support::serve_demo_with(&a_data, 6, &["--store", &url]);
    let a = Server(child, address);
    // The second server is a new machine: it gets the tokens, and the log from the database.
    std::fs::create_dir_all(&b_data).unwrap();
    std::fs::copy(a_data.join("tokens"), b_data.join("tokens")).unwrap();
    let (child, address) = support::serve_again_with(&b_data, &["--store", &url]);
    let b = Server(child, address);
    let demo = head(&a, &token).await;
    assert!(demo > 100);
    assert_eq!(
        head(&b, &token).await,
        demo,
        "b copied the demo before it listened"
    );

    let b_to_a = write_and_follow(&b, &a, &token, "00000000-0000-4000-8000-00000000000b").await;
    let a_to_b = write_and_follow(&a, &b, &token, "00000000-0000-4000-8000-00000000000a").await;
    eprintln!("a write on b showed on a after {b_to_a:?}; on a, on b after {a_to_b:?}");
    assert_eq!(head(&a, &token).await, demo + 2);
    assert_eq!(head(&b, &token).await, demo + 2);

    // A contact sealed on a is read on b (its key is in the database), and erased on a it
    // reads as erased on b.
    let account = "00000000-0000-4000-8000-00000000000a";
    let registered = graphql(
        &a.1,
        &token,
        &format!(
            r#"mutation {{ registerContact(input: {{ accountId: "{account}", name: "Dana Shared",
            email: "dana@example.com", role: "decision_maker" }}) {{ events {{ payload }} }} }}"#
        ),
    )
    .await;
    let contact =
        registered["registerContact"]["events"][0]["payload"]["ContactRegistered"]["contact"]
            .as_str()
            .unwrap()
            .to_owned();
    let contacts = format!(r#"{{ account(id: "{account}") {{ contacts {{ id name erased }} }} }}"#);
    let shows = |server: &Server, name: &'static str| {
        let (query, contact) = (contacts.clone(), contact.clone());
        let token = token.clone();
        let address = server.1.clone();
        async move {
            let started = Instant::now();
            loop {
                let data = graphql(&address, &token, &query).await;
                let found = data["account"]["contacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == contact.as_str() && c["name"] == name);
                if found {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "never showed {name}: {data}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    shows(&b, "Dana Shared").await;
    graphql(
        &a.1,
        &token,
        &format!(
            r#"mutation {{ eraseContact(accountId: "{account}", contactId: "{contact}", reason: "asked") {{ version }} }}"#
        ),
    )
    .await;
    shows(&b, "(erased)").await;
    let last = head(&a, &token).await;
    assert_eq!(last, demo + 4);
    drop(a);
    drop(b);

    // verify compares the database with a replica; export from it, import into a folder
    // of sled alone, and back into an empty database: one head hash throughout.
    let intact = ok(dealtrail()
        .args(["verify", "--store", &url])
        .arg("--data")
        .arg(&b_data));
    assert!(
        intact.starts_with(&format!("intact: {last} events")),
        "{intact}"
    );
    let head_hash = intact
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let export = dir.path().join("events.jsonl");
    ok(dealtrail()
        .args(["export", "events", "--store", &url, "--data"])
        .arg(&a_data)
        .arg("--out")
        .arg(&export));
    let on_sled = dir.path().join("sled");
    ok(dealtrail()
        .args(["import", "events"])
        .arg(&export)
        .arg("--data")
        .arg(&on_sled));
    let verified = ok(dealtrail().arg("verify").arg("--data").arg(&on_sled));
    assert_eq!(
        verified
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .last(),
        Some(head_hash.as_str()),
        "{verified}"
    );

    let second = cluster.create_database("second");
    let again = dir.path().join("again.jsonl");
    ok(dealtrail()
        .args(["export", "events", "--data"])
        .arg(&on_sled)
        .arg("--out")
        .arg(&again));
    let replica = dir.path().join("replica");
    ok(dealtrail()
        .args(["import", "events", "--store", &second])
        .arg(&again)
        .arg("--data")
        .arg(&replica));
    let fresh = dir.path().join("fresh");
    let verified = ok(dealtrail()
        .args(["verify", "--store", &second])
        .arg("--data")
        .arg(&fresh));
    assert_eq!(
        verified
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .last(),
        Some(head_hash.as_str()),
        "{verified}"
    );
    assert_eq!(
        std::fs::read(&export).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // A database edited behind the servers' backs fails verify.
    cluster.execute(
        "second",
        "UPDATE dealtrail_events SET record = overlay(record placing '\\xff'::bytea from 40) \
         WHERE seq = 7",
    );
    let out = dealtrail()
        .args(["verify", "--store", &second])
        .arg("--data")
        .arg(&fresh)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("first bad sequence number: 7"), "{text}");
}

/// Registers accounts `first..` from `writers` concurrent clients until told to stop;
/// returns the ids whose registration was acknowledged.
async fn register_until_stopped(
    address: String,
    token: String,
    writers: u32,
    stop: tokio::sync::watch::Receiver<bool>,
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (client, address, token, stop, acked) = (
            client.clone(),
            address.clone(),
            token.clone(),
            stop.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for n in 0u32.. {
                if *stop.borrow() {
                    break;
                }
                let id = format!("00000000-0000-4000-8000-{w:04x}{n:08x}");
                let query = format!(
                    r#"mutation {{ registerAccount(input: {{ id: "{id}", name: "Load {w} {n}" }}) {{ version }} }}"#
                );
                let sent = client
                    .post(format!("http://{address}/graphql"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "query": query }))
                    .send()
                    .await;
                // Once the server is killed every request fails: those were never
                // acknowledged.
                let Ok(response) = sent else { break };
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                if body.get("errors").is_none() && body["data"]["registerAccount"]["version"].is_string() {
                    mine.push(id);
                    acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgresql_killed_under_load_loses_no_acknowledged_write() {
    let Some(cluster) = Cluster::start("SIGKILL of a server on PostgreSQL") else {
        return;
    };
    let url = cluster.url("postgres");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let (child, token, address) = support::serve_demo_with(&data, 2, &["--store", &url]);
    let mut server = Server(child, address);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..3u32 {
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let load = tokio::spawn(register_until_stopped(
            server.1.clone(),
            token.clone(),
            16,
            stop_rx,
            acked.clone(),
        ));
        // Kill at a different point each round, while sixteen writers are in flight.
        let kill_after = 50 + 70 * round as usize;
        while acked.load(std::sync::atomic::Ordering::SeqCst) < kill_after {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        let _ = stop_tx.send(true);
        acknowledged.extend(load.await.unwrap());
        // The same folder serves again; it copies from the database what it lacks.
        let (child, address) = support::serve_again_with(&data, &["--store", &url]);
        server = Server(child, address);
    }
    drop(server);
    // A new server with an empty folder has only the database to go by.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(data.join("tokens"), fresh.join("tokens")).unwrap();
    let (child, address) = support::serve_again_with(&fresh, &["--store", &url]);
    let fresh_server = Server(child, address);
    for chunk in acknowledged.chunks(100) {
        let fields: String = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!(r#"a{i}: account(id: "{id}") {{ id }} "#))
            .collect();
        let data = graphql(&fresh_server.1, &token, &format!("{{ {fields} }}")).await;
        for (i, id) in chunk.iter().enumerate() {
            assert_eq!(
                data[format!("a{i}")]["id"],
                id.as_str(),
                "acknowledged {id} lost"
            );
        }
    }
    assert!(
        acknowledged.len() >= 50 + 120 + 190,
        "{}",
        acknowledged.len()
    );
    drop(fresh_server);
    let intact = ok(dealtrail()
        .args(["verify", "--store", &url])
        .arg("--data")
        .arg(&data));
    assert!(intact.starts_with("intact: "), "{intact}");
    eprintln!(
        "{} acknowledged registrations survived three SIGKILLs",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_database_is_gone_refuses_writes_with_503_and_still_answers_reads() {
    let Some(cluster) = Cluster::start("a server on PostgreSQL without its database") else {
        return;
    };
    let url = cluster.url("postgres");
    let dir = tempfile::tempdir().unwrap();
    let (child, token, address) =
        support::serve_demo_with(&dir.path().join("a"), 2, &["--store", &url]);
    let server = Server(child, address);
    let before = head(&server, &token).await;
    drop(cluster);
    let response = reqwest::Client::new()
        .post(format!("http://{}/graphql", server.1))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "query": r#"mutation { registerAccount(input: { name: "Nowhere" }) { version } }"#
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "STORAGE_UNAVAILABLE",
        "{body}"
    );
    // Reads are served from the replica.
    assert_eq!(head(&server, &token).await, before);
}
