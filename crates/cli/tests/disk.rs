//! A disk that fills up, for real: the server runs on a 16 MiB tmpfs mounted in a user and
//! mount namespace of its own (`unshare -rm`, no privileges needed), and writes until the
//! file system refuses them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-rm", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_fails_readiness_and_stop_exits_non_zero() {
    if !unshare_works() {
        let message = "DID NOT RUN: `unshare -rm` (util-linux, user namespaces) is not available";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n*** {message} ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let bin = env!("CARGO_BIN_EXE_dealtrail");
    let data = mnt.join("data");
    let script = format!(
        "mount -t tmpfs -o size=16m none '{m}' && '{bin}' token create --create --data '{d}' --name admin \
         --role admin && exec '{bin}' serve --data '{d}' --listen 127.0.0.1:0",
        m = mnt.display(),
        d = data.display(),
    );
    let mut child = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    let address = loop {
        let line = lines.next().expect("server output").unwrap();
        if line.starts_with("dt_") {
            token = Some(line.clone());
        }
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.to_owned();
        }
    };
    let token = token.expect("a token is printed");
    let url = format!("http://{address}/graphql");
    let client = reqwest::Client::new();
    let post = |query: String| {
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
    };
    let r =
        post(r#"mutation { registerAccount(input: {name: "Acme"}) { events { stream } } }"#.into())
            .await
            .unwrap();
    let body: Value = r.json().await.unwrap();
    let stream = body["data"]["registerAccount"]["events"][0]["stream"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let account = stream.trim_start_matches("account-").to_owned();
    let needs = "n".repeat(4_000);
    let mut written = 1u64;
    let refusal = loop {
        assert!(written < 20_000, "16 MiB never filled up");
        let r = post(format!(
            r#"mutation {{ addOrgUnit(accountId: "{account}", name: "Unit {written}", needs: "{needs}") {{ version }} }}"#
        ))
        .await
        .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        written += 1;
    };
    assert_eq!(
        refusal["errors"][0]["extensions"]["code"], "STORAGE_UNAVAILABLE",
        "{refusal}"
    );
    // Every later write is refused the same way, and readiness says why.
    let again = post(format!(
        r#"mutation {{ addOrgUnit(accountId: "{account}", name: "After", needs: "x") {{ version }} }}"#
    ))
    .await
    .unwrap();
    assert_eq!(again.status(), 503);
    let ready = client
        .get(format!("http://{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    let reason = ready["store"]["failed"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{ready}");
    // Reads go on, and nothing acknowledged is missing.
    let head: Value = post("{ head { seq } }".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seq: u64 = head["data"]["head"]["seq"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    assert!(seq >= written, "{seq} events, {written} acknowledged");
    // A stop whose last flush fails says so and exits non-zero.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exit {status:?}\n{stderr}");
    assert!(stderr.contains("the final flush failed"), "{stderr}");
}
