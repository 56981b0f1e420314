//! The real `dealtrail` binary: serve with a demo, answer over HTTP, stop on SIGTERM, verify.

use std::process::Command;

mod support;

fn dealtrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_answers_stops_cleanly_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, token, address) = support::serve_demo(&data, 8);
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ head { seq } opportunities(first: 500) { nodes { id } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seq: u64 = body["data"]["head"]["seq"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seq > 100, "{body}");
    assert!(
        !body["data"]["opportunities"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "graceful shutdown exits 0");

    let verify = dealtrail()
        .arg("verify")
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(verify.status.success());
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(out.starts_with(&format!("intact: {seq} events")), "{out}");

    // Alter one stored byte of event 7 behind the store's back.
    {
        let raw = dealtrail_store::raw::RawLog::open(&data).unwrap();
        let mut record = raw.record(7).unwrap();
        record[40] ^= 1;
        raw.set_record(7, &record).unwrap();
        raw.flush().unwrap();
    }
    let verify = dealtrail()
        .arg("verify")
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(out.contains("first bad sequence number: 7"), "{out}");
}

#[test]
fn tokens_are_created_listed_and_revoked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        dealtrail()
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let created = run(&[
        "token", "create", "--create", "--name", "ann", "--role", "analyst",
    ]);
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap();
    assert!(token.starts_with("dt_") && token.trim().len() > 60);
    let stored = std::fs::read_to_string(dir.path().join("tokens")).unwrap();
    assert!(!stored.contains(token.trim()), "only the hash is stored");
    let again = run(&["token", "create", "--name", "ann", "--role", "analyst"]);
    assert!(!again.status.success());
    let bad_role = run(&["token", "create", "--name", "x", "--role", "king"]);
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
    let list = run(&["token", "list"]);
    assert_eq!(String::from_utf8(list.stdout).unwrap(), "ann\tanalyst\n");
    assert!(run(&["token", "revoke", "--name", "ann"]).status.success());
    assert_eq!(run(&["token", "list"]).stdout, b"");
}

#[test]
fn export_then_import_reproduces_the_identical_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let export = dir.path().join("events.jsonl");
    let ok = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // The log moves from a folder of format 1 into one of format 2 (the default).
    ok(dealtrail()
        .args(["demo", "--accounts", "6", "--store-format", "1"])
        .arg("--data")
        .arg(&a));
    ok(dealtrail()
        .args(["export", "events", "--format", "jsonl"])
        .arg("--data")
        .arg(&a)
        .arg("--out")
        .arg(&export));
    let imported = ok(dealtrail()
        .args(["import", "events"])
        .arg(&export)
        .arg("--data")
        .arg(&b));
    let verify_a = ok(dealtrail().arg("verify").arg("--data").arg(&a));
    let verify_b = ok(dealtrail().arg("verify").arg("--data").arg(&b));
    let (intact_a, format_a) = verify_a.split_once('\n').unwrap();
    let (intact_b, format_b) = verify_b.split_once('\n').unwrap();
    assert_eq!(intact_a, intact_b, "same events, streams and head hash");
    assert_eq!(
        (format_a.trim(), format_b.trim()),
        ("store format 1", "store format 2")
    );
    let head = intact_a.split_whitespace().last().unwrap();
    assert!(
        imported.trim_end().ends_with(head),
        "{imported} / {verify_a}"
    );
    let again = dir.path().join("again.jsonl");
    ok(dealtrail()
        .args(["export", "events"])
        .arg("--data")
        .arg(&b)
        .arg("--out")
        .arg(&again));
    assert_eq!(
        std::fs::read(&export).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // The same export does not continue the restored log: refused, nothing written.
    let twice = dealtrail()
        .args(["import", "events"])
        .arg(&export)
        .arg("--data")
        .arg(&b)
        .output()
        .unwrap();
    assert!(!twice.status.success());
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(
        stderr.contains("(event 1): expected sequence number")
            && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert_eq!(
        ok(dealtrail().arg("verify").arg("--data").arg(&b)),
        verify_b
    );

    // A bad line deep in a large export (beyond the first write batch): refused before
    // anything is written.
    let big = dir.path().join("big");
    ok(dealtrail()
        .args(["demo", "--accounts", "30"])
        .arg("--data")
        .arg(&big));
    let big_export = dir.path().join("big.jsonl");
    ok(dealtrail()
        .args(["export", "events"])
        .arg("--data")
        .arg(&big)
        .arg("--out")
        .arg(&big_export));
    let mut lines: Vec<String> = std::fs::read_to_string(&big_export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 1_500, "{} events", lines.len());
    let mut event: serde_json::Value = serde_json::from_str(&lines[1_400]).unwrap();
    event["actor"] = "mallory".into();
    lines[1_400] = event.to_string();
    std::fs::write(&big_export, lines.join("\n")).unwrap();
    let target = dir.path().join("untouched");
    let refused = dealtrail()
        .args(["import", "events"])
        .arg(&big_export)
        .arg("--data")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "line 1401 (event 1401): its hash does not match its contents; nothing was imported"
        ),
        "{stderr}"
    );
    let after = ok(dealtrail().arg("verify").arg("--data").arg(&target));
    assert!(after.starts_with("intact: 0 events"), "{after}");

    let csv = ok(dealtrail()
        .args(["export", "events", "--format", "csv"])
        .arg("--data")
        .arg(&a));
    let lines = csv.lines().count();
    let events = std::fs::read_to_string(&export).unwrap().lines().count();
    assert!(csv.starts_with("seq,stream,version,event_id,event_type"));
    assert!(
        lines > events,
        "a header and one row per event (rows may span lines)"
    );
}

#[test]
fn replay_prints_an_analysis_as_of_a_moment_on_either_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let demo = dealtrail()
        .args(["demo", "--accounts", "6"])
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(demo.status.success());
    let replay = |args: &[&str]| {
        dealtrail()
            .arg("replay")
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    // Everything was recorded today: as recorded by 2000 nothing was known.
    let empty = replay(&["--as-of", "2000-01-01", "winloss"]);
    assert!(empty.status.success());
    let text = String::from_utf8(empty.stdout).unwrap();
    let overall: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("overall"))
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        overall,
        ["overall", "all", "0", "0", "0", "0", "-"],
        "{text}"
    );
    let known = replay(&["--as-of", "2100-01-01", "--window-days", "50000", "health"]);
    let text = String::from_utf8(known.stdout).unwrap();
    let consumption = text
        .lines()
        .find(|l| l.contains("the customer's consumption history"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(consumption.trim_start().starts_with("7 "), "{consumption}");
    assert!(
        consumption.split_whitespace().any(|w| w == "6"),
        "six accounts asked: {consumption}"
    );
    // On the occurred clock the history is there even as recorded now.
    let occurred = replay(&[
        "--as-of",
        "2100-01-01",
        "--clock",
        "occurred",
        "--window-days",
        "50000",
        "deals",
    ]);
    let rows = String::from_utf8(occurred.stdout).unwrap().lines().count();
    assert!(rows > 10, "a header and the deals");
    let wrong = replay(&["--as-of", "2024-01-01", "--clock", "sideways", "funnel"]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("invalid value 'sideways'"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn analyses_export_as_csv_and_json_and_survive_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = dealtrail()
            .args(args)
            .arg("--data")
            .arg(&data)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let missing = run(&["export", "funnel"]);
    assert!(!missing.0, "no data folder yet");
    assert!(
        missing.2.starts_with("error: no dealtrail data folder"),
        "{}",
        missing.2
    );
    assert!(
        !missing.2.contains("backtrace"),
        "a message, not a stack trace"
    );
    assert!(!data.exists(), "a read never creates the folder");
    assert!(run(&["demo", "--accounts", "8"]).0);
    let (ok, json, _) = run(&["export", "deals", "--format", "json"]);
    assert!(ok);
    let deals: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(deals.len() > 20, "{}", deals.len());
    assert!(
        deals
            .iter()
            .all(|d| d["opportunity"].is_string() && d["amount_minor"].is_i64())
    );
    let (ok, csv, _) = run(&["export", "deals", "--format", "csv"]);
    assert!(ok);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.records().count(),
        deals.len(),
        "one CSV row per deal"
    );
    let (ok, winloss, _) = run(&[
        "export",
        "winloss",
        "--format",
        "json",
        "--window-days",
        "3650",
    ]);
    assert!(ok);
    let rates: Vec<serde_json::Value> = serde_json::from_str(&winloss).unwrap();
    let overall = &rates[0];
    let won = deals.iter().filter(|d| d["outcome"] == "won").count();
    assert_eq!(overall["dimension"], "overall");
    assert_eq!(
        overall["won"].as_u64(),
        Some(won as u64),
        "the deals' outcomes, counted"
    );
    let before = run(&["export", "findings"]).1;
    let (ok, said, _) = run(&["rebuild"]);
    assert!(ok && said.starts_with("rebuilt"), "{said}");
    assert_eq!(
        run(&["export", "findings"]).1,
        before,
        "the same models after a rebuild"
    );
    assert_eq!(run(&["export", "deals", "--format", "json"]).1, json);
    let bad = run(&["export", "funnel", "--window-days", "0"]);
    assert!(!bad.0 && bad.2.contains("--window-days"), "{}", bad.2);
}

#[test]
fn import_crm_brings_the_bundled_export_in_once_and_reports_dirty_rows() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    // Straight from the CSV files: deals with a known account, and their outcomes.
    let accounts: std::collections::HashSet<String> =
        csv::Reader::from_path(root.join("maven-crm/accounts.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap()[0].to_owned())
            .collect();
    let (mut deals, mut won, mut lost, mut skipped) = (0, 0, 0, 0);
    for row in csv::Reader::from_path(root.join("maven-crm/sales_pipeline.csv"))
        .unwrap()
        .records()
    {
        let row = row.unwrap();
        if !accounts.contains(&row[3]) {
            skipped += 1;
            continue;
        }
        deals += 1;
        won += usize::from(&row[4] == "Won");
        lost += usize::from(&row[4] == "Lost");
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = dir.path().join("rejected.csv");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = dealtrail()
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mapping = root.join("maven-crm/mapping.toml");
    let first = run(&[
        "import".as_ref(),
        "crm".as_ref(),
        mapping.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "--allow-rejects".as_ref(),
    ]);
    assert!(
        first.contains(&format!(
            "deals: {deals} imported, 0 already present ({won} won, {lost} lost"
        )),
        "{first}"
    );
    let rejected = std::fs::read_to_string(&report).unwrap();
    assert_eq!(
        rejected.lines().count(),
        1 + skipped,
        "a header and a line per skipped row"
    );
    assert!(
        rejected
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("sales_pipeline.csv,")
    );
    // What the log now says, counted by an analysis rather than by the importer.
    let exported = run(&[
        "export".as_ref(),
        "deals".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&exported).unwrap();
    assert_eq!(rows.len(), deals);
    assert_eq!(rows.iter().filter(|d| d["outcome"] == "won").count(), won);
    assert_eq!(rows.iter().filter(|d| d["outcome"] == "lost").count(), lost);
    let head = run(&["verify".as_ref()]);
    let again = run(&[
        "import".as_ref(),
        "crm".as_ref(),
        mapping.as_os_str(),
        "--allow-rejects".as_ref(),
    ]);
    assert!(
        again.contains(&format!("deals: 0 imported, {deals} already present")),
        "{again}"
    );
    assert_eq!(run(&["verify".as_ref()]), head, "a re-import adds nothing");

    // A stage-history export with a dirty row: reported with file and line, the deal left
    // out whole, the rest imported.
    let dirty = dir.path().join("dirty");
    std::fs::create_dir(&dirty).unwrap();
    for f in ["mapping.toml", "accounts.csv", "activities.csv"] {
        std::fs::copy(root.join("stage-history").join(f), dirty.join(f)).unwrap();
    }
    let mut history =
        std::fs::read_to_string(root.join("stage-history/stage_history.csv")).unwrap();
    history = history.replacen(
        "OPP-1002,,,,Prospecting,Qualification,2025-02-17 13:20,Lena Wolf",
        "OPP-1002,,,,Prospecting,Qualification,17 Feb 2025,Lena Wolf",
        1,
    );
    std::fs::write(dirty.join("stage_history.csv"), &history).unwrap();
    let line = history
        .lines()
        .position(|l| l.contains("17 Feb 2025"))
        .unwrap()
        + 1;
    let out = dealtrail()
        .args(["import", "crm"])
        .arg(dirty.join("mapping.toml"))
        .arg("--data")
        .arg(dir.path().join("history-data"))
        .output()
        .unwrap();
    // Rows were rejected: the report is printed, and the exit status says so.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 row was not imported"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "stage_history.csv line {line}: time \"17 Feb 2025\" is not a time"
        )),
        "{text}"
    );
    assert!(text.contains("deals: 7 imported"), "{text}");
}

#[test]
fn serve_refuses_a_budget_it_cannot_use_before_opening_anything() {
    let dir = tempfile::tempdir().unwrap();
    for (budget, said) in [
        ("sales=10/1", "could not pay for the costliest request"),
        ("wizard=50000/5", "unknown role"),
        ("sales=50000", "CAPACITY/PER_SECOND"),
    ] {
        let out = dealtrail()
            .args(["serve", "--listen", "127.0.0.1:0", "--budget", budget])
            .arg("--data")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{budget}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said), "{budget}: {err}");
    }
    assert!(!dir.path().join("data").exists(), "nothing was created");
}
