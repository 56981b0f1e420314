//! What the binary's test files share: `dealtrail serve --demo` started on a free loopback
//! port, with the token and address it prints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `dealtrail serve --demo` on `data` with `accounts` demo accounts; returns the
/// process, the admin token and the address once it listens.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub fn serve_demo(data: &Path, accounts: u32) -> (Child, String, String) {
    serve_demo_with(data, accounts, &[])
}

/// [`serve_demo`] with more arguments for `serve`.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub fn serve_demo_with(data: &Path, accounts: u32, extra: &[&str]) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--demo-accounts",
        ])
        .arg(accounts.to_string())
        .arg("--data")
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut token, mut address) = (None, None);
    while address.is_none() {
        let line = lines.next().expect("server output").unwrap();
        if let Some(t) = line.strip_prefix("admin token (shown once): ") {
            token = Some(t.to_owned());
        }
        if let Some(a) = line.strip_prefix("listening on ") {
            address = Some(a.to_owned());
        }
    }
    (
        child,
        token.expect("a token is printed"),
        address.unwrap_or_default(),
    )
}

/// Starts `dealtrail serve` again on a folder that has its tokens already; returns the
/// process and the address once it listens.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub fn serve_again(data: &Path) -> (Child, String) {
    serve_again_with(data, &[])
}

/// [`serve_again`] with more arguments for `serve`.
#[allow(dead_code)] // not every test binary that shares this module uses it
pub fn serve_again_with(data: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_owned));
    (child, address.expect("the server says where it listens"))
}
