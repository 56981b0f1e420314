//! The process tools from the command line: `export alerts` under configured rules and
//! `export segments`, on a demo history, through the real binary.

use std::process::{Command, Output};

fn dealtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(args)
        .output()
        .unwrap()
}

fn rows(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn alerts_follow_the_rules_file_and_segments_cover_every_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = dealtrail(&["demo", "--data", data, "--accounts", "40"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let all = rows(&dealtrail(&[
        "export", "alerts", "--data", data, "--format", "json",
    ]));
    assert!(
        !all.is_empty(),
        "the demo's neglected open deals raise alerts"
    );
    let kinds: std::collections::BTreeSet<&str> =
        all.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains("no_follow_up"), "{kinds:?}");

    // Only the kinds the rules name, and a longer allowance raises fewer.
    let rules = dir.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "kinds = [\"no_follow_up\"]\nno_follow_up_days = 3650\n",
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let lenient = rows(&dealtrail(&[
        "export", "alerts", "--data", data, "--format", "json", "--alerts", rules,
    ]));
    assert!(lenient.iter().all(|a| a["kind"] == "no_follow_up"));
    let strict = all.iter().filter(|a| a["kind"] == "no_follow_up").count();
    assert!(lenient.len() < strict, "{} vs {strict}", lenient.len());

    // Per-stage days and the p90's minimum of stays, as the rules file sets them: no stay
    // count reaches a million, and only one stage allows no day without a follow-up.
    let stage = all.iter().find(|a| a["kind"] == "no_follow_up").unwrap()["stage"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_stage = dir.path().join("by-stage.toml");
    std::fs::write(
        &by_stage,
        format!(
            "kinds = [\"no_follow_up\", \"stalled\"]\nno_follow_up_days = 3650\n\
             min_stays_for_p90 = 1000000\n[no_follow_up_days_by_stage]\n\"{stage}\" = 0\n"
        ),
    )
    .unwrap();
    let staged = rows(&dealtrail(&[
        "export",
        "alerts",
        "--data",
        data,
        "--format",
        "json",
        "--alerts",
        by_stage.to_str().unwrap(),
    ]));
    assert!(!staged.is_empty());
    assert!(
        staged
            .iter()
            .all(|a| a["kind"] == "no_follow_up" && a["stage"] == stage.as_str()),
        "{staged:?}"
    );
    let strict_in_stage = all
        .iter()
        .filter(|a| a["kind"] == "no_follow_up" && a["stage"] == stage.as_str())
        .count();
    assert!(
        staged.len() >= strict_in_stage,
        "0 days raise at least what 14 do"
    );

    // A typo in the rules is named, and nothing is printed.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "no_folow_up_days = 3\n").unwrap();
    let out = dealtrail(&[
        "export",
        "alerts",
        "--data",
        data,
        "--alerts",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_folow_up_days"), "{err}");

    let segments = rows(&dealtrail(&[
        "export", "segments", "--data", data, "--format", "json",
    ]));
    assert_eq!(segments.len(), 40, "one row per account");
    let trends: std::collections::BTreeSet<&str> = segments
        .iter()
        .map(|s| s["business_trend"].as_str().unwrap())
        .collect();
    assert!(trends.contains("stable"), "{trends:?}");
    assert!(
        trends.len() >= 2,
        "the demo has growing or declining customers: {trends:?}"
    );
}

#[test]
fn export_flow_balances_between_its_two_dates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = dealtrail(&["demo", "--data", data, "--accounts", "40"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dealtrail(&[
        "export",
        "flow",
        "--data",
        data,
        "--from",
        "2026-03-01",
        "--to",
        "2026-09-01",
        "--format",
        "json",
    ]);
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    let moves = rows(&out);
    assert!(!moves.is_empty());
    // "pipeline due by D: N deals (X USD) at the start, M (Y USD) at the end"
    let amounts: Vec<f64> = summary
        .split('(')
        .skip(1)
        .map(|s| s.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let change: f64 = moves
        .iter()
        .map(|m| m["change"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(
        (amounts[0] + change - amounts[1]).abs() < 0.005,
        "{summary}: {change}"
    );
    let out = dealtrail(&["export", "flow", "--data", data]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
}
