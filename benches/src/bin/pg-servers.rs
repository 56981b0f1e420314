//! Two `dealtrail serve` processes on one PostgreSQL log against one: the combined
//! throughput of the mixed 90/10 workload (the `load` generator), one server with 64
//! connections, then two servers with 32 each, in one run on one throwaway cluster.
//!
//! Then `dealtrail rebuild` on a new, empty folder: the log copied from the database and every
//! read model folded, in events/s.
//!
//! `cargo build --release -p dealtrail-cli -p dealtrail-benches` first, then
//! `target/release/pg-servers [SECONDS [ACCOUNTS]]` (default 15 s, 300 demo accounts).
//! On one machine both servers, the database and the load share its cores: the figure is
//! what a second server costs or gains there, not what a second machine would add.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use dealtrail_testpg::Cluster;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

/// Starts a server with `args`; returns it and the token it printed, if any.
fn serve(args: &[&str], data: &Path) -> (Server, Option<String>) {
    let mut child = Command::new(release("dealtrail"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--budget", "admin=1000000000/1000000000"])
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dealtrail serve (build it with --release first)");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut token, mut address) = (None, None);
    while address.is_none() {
        let line = lines.next().expect("server output").expect("line");
        if let Some(t) = line.strip_prefix("admin token (shown once): ") {
            token = Some(t.to_owned());
        }
        if let Some(a) = line.strip_prefix("listening on ") {
            address = Some(a.to_owned());
        }
    }
    // Whatever the server prints later must find a reader.
    std::thread::spawn(move || lines.for_each(drop));
    let address = address.unwrap_or_default();
    (Server { child, address }, token)
}

/// Runs the load generator against each server at once; returns the summed requests/s.
fn load(servers: &[&Server], token: &str, connections: usize, seconds: u64) -> f64 {
    let runs: Vec<Child> = servers
        .iter()
        .map(|s| {
            Command::new(release("load"))
                .args(["--url", &format!("http://{}/graphql", s.address)])
                .args(["--token", token, "--workload", "mixed"])
                .args(["--connections", &connections.to_string()])
                .args(["--seconds", &seconds.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("load (build it with --release first)")
        })
        .collect();
    let mut total = 0.0;
    for run in runs {
        let out = run.wait_with_output().expect("load");
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        let rate: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("requests "))
            .and_then(|l| l.split(" · ").nth(2))
            .and_then(|r| r.strip_suffix(" req/s"))
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no rate from load: {text}"));
        total += rate;
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let accounts: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let Some(cluster) = Cluster::start("the two-server benchmark") else {
        std::process::exit(2);
    };
    let url = cluster.url("postgres");
    let dir = tempfile::tempdir().expect("temp dir");
    let (a_data, b_data) = (dir.path().join("a"), dir.path().join("b"));
    let demo = accounts.to_string();
    let (a, token) = serve(
        &["--demo", "--demo-accounts", &demo, "--store", &url],
        &a_data,
    );
    let token = token.expect("the demo prints a token");
    std::fs::create_dir_all(&b_data).expect("folder");
    std::fs::copy(a_data.join("tokens"), b_data.join("tokens")).expect("tokens");
    let (b, _) = serve(&["--store", &url], &b_data);

    println!("-- one server, 64 connections");
    let one = load(&[&a], &token, 64, seconds);
    println!("-- two servers, 32 connections each");
    let two = load(&[&a, &b], &token, 32, seconds);
    println!(
        "one server: {one:.0} req/s; two servers: {two:.0} req/s; ratio {:.2}",
        two / one
    );
    drop((a, b));

    // A rebuild of every read model on a new machine: copy the log from the database into
    // an empty folder, then fold it.
    let events = cluster.query_i64("postgres", "SELECT max(seq) FROM dealtrail_events")[0];
    let fresh = dir.path().join("fresh");
    let started = std::time::Instant::now();
    let out = Command::new(release("dealtrail"))
        .args(["rebuild", "--store", &url, "--data"])
        .arg(&fresh)
        .output()
        .expect("dealtrail rebuild");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "rebuild from PostgreSQL into an empty folder: {events} events in {took:.2?}, {:.0} events/s",
        events as f64 / took.as_secs_f64()
    );
}
