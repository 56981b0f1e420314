//! What the command says when things go wrong, through the real binary: closed pipes, typed
//! folders, locked folders, logs in files, help and argument errors.

use std::io::Read;
use std::process::{Command, Output, Stdio};

fn dealtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn demo(dir: &std::path::Path) -> String {
    let data = dir.join("data");
    let out = dealtrail(&["demo", "--data", data.to_str().unwrap(), "--accounts", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    data.to_str().unwrap().to_owned()
}

#[test]
fn a_reader_that_stops_reading_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    for args in [
        vec!["export", "winloss", "--format", "json"],
        vec!["export", "deals", "--format", "json"],
        vec!["export", "events"],
        vec!["export", "events", "--format", "csv"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
            .args(&args)
            .args(["--data", &data])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read ten bytes, then close the pipe, as `| head -c 10` does.
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "{args:?}: {status:?} {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

#[test]
fn mistyped_folders_and_files_are_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dealtrail-dat");
    let t = typo.to_str().unwrap();
    let out = dealtrail(&[
        "token", "create", "--data", t, "--name", "a", "--role", "admin",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no dealtrail data folder"),
        "{}",
        stderr(&out)
    );
    let out = dealtrail(&["token", "list", "--data", t]);
    assert!(!out.status.success());
    for args in [
        vec!["import", "events", "missing.jsonl", "--data", t],
        vec!["import", "crm", "missing.toml", "--data", t],
    ] {
        let out = dealtrail(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains("missing."), "{}", stderr(&out));
    }
    assert!(!typo.exists(), "no folder was created on the way");
    // With --create the folder is meant.
    let out = dealtrail(&[
        "token", "create", "--create", "--data", t, "--name", "a", "--role", "admin",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(typo.join("tokens").is_file());
}

#[test]
fn a_locked_folder_is_named_once_and_logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let mut server = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data,
            "--cache-mb",
            "16",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    while !line.starts_with("listening on") {
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    }
    let refused = dealtrail(&["verify", "--data", &data]);
    let message = stderr(&refused);
    assert!(!refused.status.success());
    assert_eq!(message.matches(&data).count(), 1, "{message}");
    assert!(message.contains("in use"), "{message}");
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let status = server.wait().unwrap();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{status:?} {log}");
    assert!(log.contains("sled page cache: 16 MiB"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in a piped log: {log:?}"
    );
}

#[test]
fn help_and_argument_errors_say_what_is_allowed() {
    let top = String::from_utf8(dealtrail(&["--help"]).stdout).unwrap();
    assert!(top.contains("import and export"), "{top}");
    let import = String::from_utf8(dealtrail(&["import", "--help"]).stdout).unwrap();
    assert!(import.contains("CRM"), "{import}");
    let export = String::from_utf8(dealtrail(&["export", "events", "--help"]).stdout).unwrap();
    assert!(export.contains("possible values: jsonl, csv"), "{export}");
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short-secret");
    std::fs::write(&short, "too short").unwrap();
    for (hook, said) in [
        (
            "calendar=/nonexistent/secret".to_owned(),
            "/nonexistent/secret",
        ),
        (
            format!("calendar={}", short.display()),
            "at least 16 characters",
        ),
        ("Bad Name=x".to_owned(), "hook name"),
    ] {
        let out = dealtrail(&["serve", "--listen", "127.0.0.1:0", "--hook", &hook]);
        assert_eq!(out.status.code(), Some(2), "{hook}");
        assert!(stderr(&out).contains(said), "{hook}: {}", stderr(&out));
    }
    let data = demo(dir.path());
    let out = dealtrail(&["replay", "--data", &data, "--as-of", "2026-02-30", "funnel"]);
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));
    let out = dealtrail(&[
        "replay",
        "--data",
        &data,
        "--as-of",
        "2026-02-01",
        "--window-days",
        "-5",
        "funnel",
    ]);
    assert!(
        stderr(&out).contains("--window-days: must be at least 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_page_cache_out_of_range_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    for command in ["serve", "demo"] {
        let out = dealtrail(&[command, "--data", d, "--cache-mb", "4"]);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("--cache-mb") && said.contains("8..=65536"),
            "{said}"
        );
        assert!(!data.exists(), "{command} created the folder");
    }
}

#[test]
fn the_demo_reports_the_events_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = dealtrail(&["demo", "--data", d, "--accounts", "4"]);
    let said = stderr(&out);
    assert!(
        !said.contains("about"),
        "no estimate that the run then contradicts: {said}"
    );
    let wrote: u64 = said
        .split("commands (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    let verify = String::from_utf8(dealtrail(&["verify", "--data", d]).stdout).unwrap();
    assert!(
        verify.starts_with(&format!("intact: {wrote} events")),
        "{verify} / {said}"
    );
}

#[test]
fn import_crm_says_what_it_assumed_and_can_skip_undated_open_deals() {
    let mapping = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/maven-crm/mapping.toml");
    let m = mapping.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |folder: &str, extra: &[&str]| {
        let data = dir.path().join(folder);
        let mut args = vec!["import", "crm", m, "--allow-rejects", "--data"];
        args.push(data.to_str().unwrap());
        args.extend_from_slice(extra);
        let out = dealtrail(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let imported = |text: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix("deals: "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"))
    };
    let default = run("a", &[]);
    let undated: usize = default
        .lines()
        .find_map(|l| {
            l.strip_prefix("note: ")
                .filter(|l| l.ends_with("open deals without an engage date, opened at import time"))
        })
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the assumption is in the report: {default}"));
    assert!(undated > 0);
    let skipped = run("b", &["--undated-open", "skip"]);
    assert_eq!(
        imported(&skipped),
        imported(&default) - undated,
        "{skipped}"
    );
    assert!(!skipped.contains("opened at import time"), "{skipped}");
}

#[test]
fn a_bad_activity_refuses_its_deal_only_when_asked() {
    let history =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/stage-history");
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("export");
    std::fs::create_dir(&files).unwrap();
    for f in ["mapping.toml", "accounts.csv", "stage_history.csv"] {
        std::fs::copy(history.join(f), files.join(f)).unwrap();
    }
    let activities = std::fs::read_to_string(history.join("activities.csv")).unwrap();
    // An activity long before its deal existed.
    let bad = activities.replacen("2025-01-08 10:00", "2019-01-08 10:00", 1);
    assert_ne!(bad, activities);
    std::fs::write(files.join("activities.csv"), bad).unwrap();
    let mapping = files.join("mapping.toml");
    let run = |folder: &str, mode: &str| {
        let data = dir.path().join(folder);
        let out = dealtrail(&[
            "import",
            "crm",
            mapping.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--bad-activity",
            mode,
        ]);
        assert_eq!(out.status.code(), Some(1), "a row was not imported");
        String::from_utf8(out.stdout).unwrap()
    };
    let skip = run("skip", "skip");
    assert!(
        skip.contains("activities.csv line 2: activity at") && skip.contains("skipped"),
        "{skip}"
    );
    let refuse = run("refuse", "refuse-deal");
    assert!(
        refuse.contains("activities.csv line 2: deal OPP-1001 not imported"),
        "{refuse}"
    );
    let count = |text: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix("deals: "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert_eq!(count(&skip), count(&refuse) + 1);
}
