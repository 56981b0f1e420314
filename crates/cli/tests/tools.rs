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
        let dir = tempfile::tempdir().unwrap();
        let (child, token, address) = support::serve_demo(&dir.path().join("data"), 10);
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
    let head: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(served.url())
                .bearer_auth(&served.token)
                .json(&serde_json::json!({ "query": "{ head { seq } }" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
    let seq = head["data"]["head"]["seq"].to_string();
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
