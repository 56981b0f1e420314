//! Standard GraphQL tools against the real `dealtrail serve --demo`: the graphql-http audit
//! suite, graphql-js loading the schema from the URL, and GraphiQL in headless Chromium
//! with no network beyond loopback. They need Node.js with the packages of `tests/node`
//! (`npm ci --prefix crates/cli/tests/node`) and, for the browser, Chromium; where those are
//! missing the tests say so loudly and pass, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

mod support;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Whether the programs a test needs are here; when not, fails under CI and otherwise
/// prints why the test did not run.
fn available(test: &str, browser: bool) -> bool {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (Debian package nodejs)".to_owned());
    }
    if !node_dir().join("node_modules/graphql-http").is_dir() {
        missing.push("the npm packages (npm ci --prefix crates/cli/tests/node)".to_owned());
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if browser && !Path::new(&chromium).exists() {
        missing.push(format!("{chromium} (Debian package chromium)"));
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test} DID NOT RUN: missing {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("\n!!!!!!!! {why} !!!!!!!!\n");
    false
}

/// `dealtrail serve --demo` on a free loopback port, killed when dropped.
struct Served {
    child: Child,
    origin: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Served {
        Served::with_accounts(10)
    }

    fn with_accounts(accounts: u32) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let (child, token, address) = support::serve_demo(&dir.path().join("data"), accounts);
        Served {
            child,
            origin: format!("http://{address}"),
            token,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("{}/graphql", self.origin)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a script of `tests/node` and returns whether it succeeded and what it printed.
fn node(script: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("node")
        .arg(node_dir().join(script))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_graphql_over_http_audit_finds_no_error_and_no_warning() {
    if !available("the graphql-http audit", false) {
        return;
    }
    let served = Served::start();
    let (ok, out) = node("audit.mjs", &[&served.url(), &served.token]);
    assert!(ok, "{out}");
    assert!(out.contains("errors: 0, warnings: 0"), "{out}");
}

#[test]
fn graphql_js_loads_the_schema_from_the_url_and_it_equals_schema_graphql() {
    if !available("the schema comparison", false) {
        return;
    }
    let served = Served::start();
    let sdl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql");
    let (ok, out) = node(
        "schema.mjs",
        &[&served.url(), &served.token, sdl.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert!(out.contains("changes: 0"), "{out}");
}

#[test]
fn graphiql_renders_and_runs_a_query_in_chromium_with_nothing_from_outside() {
    if !available("the GraphiQL browser test", true) {
        return;
    }
    let served = Served::start();
    let head = api(&served, "{ head { seq } }", serde_json::json!({}));
    let seq = head["head"]["seq"].to_string();
    let seq = seq.trim_matches('"');
    assert!(!seq.is_empty() && seq != "null", "{head}");
    let shot = std::env::var("GRAPHIQL_SCREENSHOT").unwrap_or_default();
    let (ok, out) = node(
        "graphiql.mjs",
        &[
            &served.origin,
            &served.token,
            "{ head { seq hash } }",
            &shot,
        ],
    );
    assert!(ok, "{out}");
    let result = out
        .lines()
        .find_map(|l| l.strip_prefix("result: "))
        .unwrap_or("");
    assert!(result.contains("\"head\""), "{out}");
    // GraphiQL shows the same head the API answers.
    assert!(result.contains(seq), "{result} lacks {seq}");
}

/// Runs `query` against the served API as the admin and returns its `data`.
fn api(served: &Served, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let body: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(served.url())
                .bearer_auth(&served.token)
                .json(&serde_json::json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

/// The `name: json` lines the web app script printed.
fn printed(out: &str, name: &str) -> serde_json::Value {
    let prefix = format!("{name}: ");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_analyst_web_app_shows_the_api_s_figures_in_chromium_with_nothing_from_outside() {
    if !available("the web app browser test", true) {
        return;
    }
    // Enough customers for Chinese names of several stems and a rep with deals.
    let served = Served::with_accounts(80);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("webapp-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let day = |days: i64| {
        let now = dealtrail_domain::Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64,
        );
        dealtrail_domain::Timestamp(now.0 + days * dealtrail_domain::Timestamp::DAY)
            .date()
            .to_string()
    };
    let (from, to, owner) = (day(-365), day(1), "rep-04");
    let (ok, out) = node(
        "webapp.mjs",
        &[
            &served.origin,
            &served.token,
            shots.to_str().unwrap(),
            &from,
            &to,
            owner,
        ],
    );
    assert!(ok, "{out}");
    eprintln!("screenshots in {}", shots.display());

    // Signing in: a bad token is refused, the printed one signs in as the admin.
    assert!(
        printed(&out, "bad-token")
            .as_str()
            .unwrap()
            .contains("unknown or revoked")
    );
    assert_eq!(printed(&out, "viewer"), "ADMIN");

    // The funnel chart's figures are the API's for the same window and owner.
    let funnel = api(
        &served,
        "query($from: DateTime!, $to: DateTime!, $owner: String) { funnel(from: $from, to: $to,
            filter: { owner: $owner }) { stages { stage reached } } }",
        serde_json::json!({ "from": from, "to": to, "owner": owner }),
    );
    let stages = funnel["funnel"]["stages"].as_array().unwrap();
    let chart = printed(&out, "funnel-chart");
    let labels: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    let reached: Vec<u64> = stages
        .iter()
        .map(|s| s["reached"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(chart["labels"], serde_json::json!(labels));
    assert_eq!(chart["reached"], serde_json::json!(reached));
    assert!(reached[0] > 0, "the owner has deals in the window: {chart}");
    // The CSV holds the first stage's raw figures.
    let csv = printed(&out, "funnel-csv");
    assert!(
        csv.as_str()
            .unwrap()
            .starts_with(&format!("{},", labels[0])),
        "{csv}"
    );

    // The flow balances, its buckets are the API's, and a drill-down shows a deal's events.
    assert_eq!(printed(&out, "flow-balanced"), "true");
    let flow = api(
        &served,
        "query($from: DateTime!, $to: DateTime!) { pipelineFlow(from: $from, to: $to) {
            buckets { bucket deals moves(first: 100) { totalCount nodes { opportunityId
            events { hash } } } } } }",
        serde_json::json!({ "from": from, "to": to }),
    );
    let buckets = flow["pipelineFlow"]["buckets"].as_array().unwrap();
    let shown = printed(&out, "flow-buckets");
    for (b, s) in buckets.iter().zip(shown.as_array().unwrap()) {
        assert_eq!(b["bucket"], s["bucket"]);
        assert_eq!(b["deals"].as_str().unwrap(), s["deals"].to_string());
    }
    let drill = printed(&out, "flow-drill");
    let bucket = buckets
        .iter()
        .find(|b| b["bucket"] == drill["bucket"])
        .unwrap();
    // The page shows the first 25 of the bucket's deals, and says how many there are.
    let total: u64 = bucket["deals"].as_str().unwrap().parse().unwrap();
    assert_eq!(bucket["moves"]["totalCount"], bucket["deals"]);
    assert_eq!(drill["total"], total);
    assert_eq!(drill["deals"], total.min(25));
    let nodes = bucket["moves"]["nodes"].as_array().unwrap();
    match total {
        26.. => assert_eq!(printed(&out, "flow-next"), nodes[25]["opportunityId"]),
        _ => assert!(!out.contains("flow-next: "), "no second page of {total}"),
    }
    let deal = nodes
        .iter()
        .find(|m| m["opportunityId"] == drill["deal"])
        .expect("the drilled deal is in the bucket");
    let events = deal["events"].as_array().unwrap();
    assert_eq!(drill["events"], events.len());
    assert_eq!(drill["hash"], events[0]["hash"]);

    // Why deals were lost: where they die and a win rate per process factor.
    let charts = printed(&out, "lost-charts");
    assert!(charts.as_array().unwrap().len() > 3, "{charts}");
    assert!(charts.as_array().unwrap().contains(&"where-lost".into()));

    // A deal's story lists every event of the deal.
    let story = printed(&out, "story");
    let events = api(
        &served,
        "query($d: String!) { dealStory(opportunityId: $d) { events { seq } } }",
        serde_json::json!({ "d": story["deal"] }),
    );
    assert_eq!(
        story["timeline"],
        events["dealStory"]["events"].as_array().unwrap().len()
    );
    assert_eq!(printed(&out, "story-raw"), true);

    // In Chinese: the page's words, the API's accounts, sorted in pinyin order (海 hǎi before
    // 华 huá, 金 jīn before 联 lián), where code points would put them the other way round.
    assert_eq!(printed(&out, "accounts-title"), "客户");
    let names: Vec<String> = serde_json::from_value(printed(&out, "accounts-names")).unwrap();
    let listed = api(
        &served,
        r#"{ accounts(nameContains: "科技", first: 100) { nodes { name } } }"#,
        serde_json::json!({}),
    );
    let mut expected: Vec<String> = listed["accounts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    let first = |stem: &str| names.iter().position(|n| n.starts_with(stem));
    let mut checked = 0;
    for (before, after) in [("海川", "华信"), ("金山", "联创")] {
        if let (Some(b), Some(a)) = (first(before), first(after)) {
            assert!(b < a, "{before} sorts before {after}: {names:?}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no pair to compare in {names:?}");
    assert_eq!(printed(&out, "account-health"), 8);
    assert_eq!(printed(&out, "account-trend"), 1);
    for page in [
        "signin",
        "funnel",
        "flow",
        "flow-drill-down",
        "why-lost",
        "story",
    ] {
        assert!(shots.join(format!("{page}.png")).is_file(), "{page}.png");
    }
}
