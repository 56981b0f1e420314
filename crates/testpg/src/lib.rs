//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
//! folder, the server on a free loopback port as a non-root user, stopped and deleted when
//! the handle is dropped.
//!
//! Where no PostgreSQL binaries are installed, [`Cluster::start`] says so loudly on stderr
//! and returns `None`, so the test can return without pretending to have run; under
//! `CI=true` it panics instead, because CI installs PostgreSQL and a skipped test there
//! would hide a failure.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the server runs as when the tests run as root (PostgreSQL refuses root).
const UNPRIVILEGED: &str = "nobody";

/// A running throwaway cluster; dropping it stops the server and deletes its files.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
    as_root: bool,
    /// With TLS: the certificate of the authority that signed the server's.
    ca: Option<PathBuf>,
}

/// The folder of `initdb`, `postgres` and `pgbench`: `DEALTRAIL_PG_BIN`, else the newest
/// of Debian's `/usr/lib/postgresql/*/bin`, else the one holding `initdb` on `PATH`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DEALTRAIL_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
    })
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl Cluster {
    /// Starts a cluster for `test` (named in the message when PostgreSQL is missing).
    pub fn start(test: &str) -> Option<Cluster> {
        Cluster::start_as(test, false)
    }

    /// [`Cluster::start`] with TLS on (and plain connections still accepted): the server's
    /// certificate, for IP 127.0.0.1, is signed by a throwaway authority ([`Cluster::ca`]).
    pub fn start_tls(test: &str) -> Option<Cluster> {
        Cluster::start_as(test, true)
    }

    fn start_as(test: &str, tls: bool) -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            if under_ci() {
                panic!("{test}: PostgreSQL is not installed, and under CI=true this test must run");
            }
            eprintln!(
                "\n*** {test} DID NOT RUN: no PostgreSQL binaries (install the Debian package \
                 `postgresql`, or set DEALTRAIL_PG_BIN) ***\n"
            );
            return None;
        };
        match Cluster::start_in(&bin, tls) {
            Ok(cluster) => Some(cluster),
            Err(e) => panic!(
                "{test}: cannot start a PostgreSQL cluster from {}: {e}",
                bin.display()
            ),
        }
    }

    fn start_in(bin: &Path, tls: bool) -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("dealtrail-pg-")
            .tempdir()
            .map_err(|e| format!("temporary folder: {e}"))?;
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if as_root {
            run(Command::new("chown").arg(UNPRIVILEGED).arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            port: 0,
            server: None,
            as_root,
            ca: None,
        };
        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        if tls {
            cluster.ca = Some(cluster.certificates()?);
        }
        // A free port may be taken between our probe and the server's bind: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            match cluster.serve(&data, port) {
                Ok(()) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", UNPRIVILEGED, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn serve(&mut self, data: &Path, port: u16) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("server.log"))
            .map_err(|e| format!("server log: {e}"))?;
        let mut server = self.command("postgres");
        server
            .arg("-D")
            .arg(data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "max_connections=200", "-c", "shared_buffers=64MB"])
            .args(self.ca.as_ref().map_or_else(Vec::new, |_| {
                let dir = self.dir.path();
                vec![
                    "-c".to_string(),
                    "ssl=on".to_string(),
                    "-c".to_string(),
                    format!("ssl_cert_file={}", dir.join("server.pem").display()),
                    "-c".to_string(),
                    format!("ssl_key_file={}", dir.join("server.key").display()),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = server.spawn().map_err(|e| format!("postgres: {e}"))?;
        self.port = port;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("the server exited ({status}): {log}"));
            }
            if self.connect_once("postgres").is_ok() {
                self.server = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("the server did not accept connections within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn connect_once(&self, database: &str) -> Result<(), String> {
        let url = self.url(database);
        on_thread(move || postgres::Client::connect(&url, postgres::NoTls).map(drop))
            .map_err(|e| e.to_string())
    }

    /// Makes a throwaway authority and a server certificate for 127.0.0.1 signed by it, with
    /// the `openssl` command; returns the authority's certificate.
    fn certificates(&self) -> Result<PathBuf, String> {
        let dir = self.dir.path();
        let at = |name: &str| dir.join(name);
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=dealtrail test authority", "-keyout"])
            .arg(at("ca.key"))
            .arg("-out")
            .arg(at("ca.pem")))?;
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
            ])
            .arg(at("server.key"))
            .arg("-out")
            .arg(at("server.csr")))?;
        std::fs::write(
            at("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| format!("certificate extensions: {e}"))?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(at("server.csr"))
            .arg("-CA")
            .arg(at("ca.pem"))
            .arg("-CAkey")
            .arg(at("ca.key"))
            .args(["-CAcreateserial", "-out"])
            .arg(at("server.pem"))
            .arg("-extfile")
            .arg(at("server.ext")))?;
        // The server reads its key only if it owns it and nobody else may read it.
        if self.as_root {
            run(Command::new("chown")
                .arg(UNPRIVILEGED)
                .arg(at("server.key"))
                .arg(at("server.pem")))?;
        }
        run(Command::new("chmod").arg("600").arg(at("server.key")))?;
        Ok(at("ca.pem"))
    }

    /// With [`Cluster::start_tls`], the authority's certificate (PEM) to verify the server.
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL of `database` (the cluster's own is `postgres`).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.execute("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs SQL statements in `database` (as the superuser), panicking on an error: tests use
    /// it to set up, or to tamper with what the server wrote.
    pub fn execute(&self, database: &str, sql: &str) {
        let (url, owned) = (self.url(database), sql.to_string());
        let done = on_thread(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.batch_execute(&owned)
        });
        if let Err(e) = done {
            let head = sql
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            panic!("{head}: {e}");
        }
    }

    /// Runs a query returning one BIGINT column per row.
    pub fn query_i64(&self, database: &str, sql: &str) -> Vec<i64> {
        let (url, sql) = (self.url(database), sql.to_string());
        on_thread(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok::<_, postgres::Error>(
                client
                    .query(sql.as_str(), &[])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
            )
        })
        .unwrap_or_else(|e| panic!("query: {e}"))
    }

    /// A command of the cluster's binaries (`pgbench`, `psql`), run as the server's user.
    pub fn tool(&self, program: &str) -> Command {
        let mut c = self.command(program);
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        c
    }

    /// Bytes the cluster's files take on disk.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.blocks() * 512,
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.dir.path().join("data"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // A fast shutdown through pg_ctl (it signals the server as its own user); the
        // runuser wrapper ends with the server.
        let data = self.dir.path().join("data");
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]);
        stop.stdout(Stdio::null()).stderr(Stdio::null());
        if !stop.status().is_ok_and(|s| s.success()) {
            let _ = server.kill();
        }
        let _ = server.wait();
    }
}

/// Runs `f` on a thread of its own: the synchronous client starts a runtime of its own,
/// which may not happen on a thread that is inside an async runtime.
pub fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
