//! The log on PostgreSQL: the whole suite again with every folder a replica of a log of its
//! own in a throwaway cluster, and what only a shared database can break — commit order,
//! several replicas of one log, a database edited behind the servers' backs, migration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use dealtrail_store::{
    AppendOutcome, Config, ExpectedVersion, LogFilter, ProblemKind, Store, StoreError,
};
use dealtrail_testpg::{Cluster, on_thread};

use super::relay::{Mischief, relay};
use super::{request, request_by};

/// Set for the child run of the suite: the cluster's URL.
const SUITE_ON: &str = "DEALTRAIL_TEST_POSTGRES_URL";

/// In the child run, the log a folder replicates: a schema of its own, made on first sight.
pub fn log_for(dir: &Path) -> Option<String> {
    static LOGS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let base = std::env::var(SUITE_ON).ok()?;
    let mut logs = LOGS.lock().unwrap();
    let logs = logs.get_or_insert_with(HashMap::new);
    let n = logs.len();
    let url = logs.entry(dir.to_path_buf()).or_insert_with(|| {
        let schema = format!("log{n}");
        let (server, sql) = (base.clone(), format!("CREATE SCHEMA {schema}"));
        on_thread(move || {
            let mut client = postgres::Client::connect(&server, postgres::NoTls)?;
            client.batch_execute(&sql)
        })
        .expect("create a schema for the folder");
        schema_url(&base, &schema)
    });
    Some(url.clone())
}

fn schema_url(base: &str, schema: &str) -> String {
    format!("{base}?options=-c%20search_path%3D{schema}")
}

/// Whether this is the child run of the suite, on PostgreSQL.
pub fn in_child() -> bool {
    std::env::var_os(SUITE_ON).is_some()
}

#[test]
fn whole_suite_runs_on_postgresql() {
    if in_child() {
        return;
    }
    let Some(cluster) = Cluster::start("the store suite on PostgreSQL") else {
        return;
    };
    super::run_suite_again((SUITE_ON, &cluster.url("postgres")), "on PostgreSQL");
}

/// A replica of `url`'s log in a fresh folder.
fn replica(url: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Config::new(dir.path()).upstream(url)).unwrap();
    (dir, store)
}

fn start(test: &str) -> Option<Cluster> {
    if in_child() {
        return None;
    }
    Cluster::start(test)
}

#[test]
fn commit_order_is_sequence_order_while_an_appending_transaction_is_held_open() {
    let Some(cluster) = start("commit order on PostgreSQL") else {
        return;
    };
    let url = cluster.url("postgres");
    let (_a_dir, a) = replica(&url);
    let (_b_dir, b) = replica(&url);
    let _ = a
        .append_blocking(request("s0", ExpectedVersion::Any, &[0]))
        .unwrap();

    // A reader of the table, as a follower of any make would read it: every answer must
    // continue the last one without a gap.
    let reader = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let last = seen.last().copied().unwrap_or(0);
                let rows = client
                    .query(
                        "SELECT seq FROM dealtrail_events WHERE seq > $1 ORDER BY seq",
                        &[&last],
                    )
                    .unwrap();
                for row in rows {
                    let seq: i64 = row.get(0);
                    assert_eq!(seq, seen.len() as i64 + 1, "a reader skipped or reordered");
                    seen.push(seq);
                }
                if seen.len() > 8 * 25 {
                    return seen;
                }
            }
        })
    };

    // An appending transaction held open: it has written event 2 and not committed. The
    // first writer's insert of event 2 waits on it, holding the head; the others queue on
    // the head. Nothing may become visible past event 1 meanwhile.
    let mut holder = on_thread({
        let url = url.clone();
        move || postgres::Client::connect(&url, postgres::NoTls).unwrap()
    });
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let holding = std::thread::spawn(move || {
        let mut tx = holder.transaction().unwrap();
        tx.execute(
            "INSERT INTO dealtrail_events (seq, stream, version, record) \
             VALUES (2, 'held', 1, '\\x00'::bytea)",
            &[],
        )
        .unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        tx.rollback().unwrap();
    });
    held_rx.recv().unwrap();
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let store = if w % 2 == 0 { a.clone() } else { b.clone() };
        writers.push(std::thread::spawn(move || {
            for i in 0..25 {
                let outcome = store
                    .append_blocking(request(
                        &format!("s{w}"),
                        ExpectedVersion::Any,
                        &[w * 100 + i],
                    ))
                    .unwrap();
                assert!(matches!(outcome, AppendOutcome::Committed(_)));
            }
        }));
    }
    // Both replicas' writers are waiting on the lock, and nothing was committed past it.
    let waiting = || {
        cluster.query_i64(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        )[0]
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while waiting() < 2 {
        assert!(std::time::Instant::now() < deadline, "writers never queued");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        cluster.query_i64("postgres", "SELECT max(seq) FROM dealtrail_events"),
        vec![1]
    );
    release_tx.send(()).unwrap();
    holding.join().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let seen = reader.join().unwrap();
    assert_eq!(seen, (1..=201).collect::<Vec<i64>>());

    // Each replica, caught up, holds the same dense log, and its subscription showed it in
    // order from the start across the catch-up/live switch.
    for store in [&a, &b] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while store.head().seq < 201 {
            assert!(
                std::time::Instant::now() < deadline,
                "a replica did not catch up"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let seqs: Vec<u64> = store
            .read_all(1, 1000)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=201).collect::<Vec<u64>>());
        assert!(store.verify().unwrap().is_intact());
    }
    assert_eq!(a.head(), b.head());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_one_log_decide_as_one_store() {
    let Some(cluster) = start("two replicas on PostgreSQL") else {
        return;
    };
    let url = cluster.url("postgres");
    let (_a_dir, a) = replica(&url);
    let (_b_dir, b) = replica(&url);
    let mut follow = b.subscribe(0, LogFilter::default());

    // A write on one replica reaches the other's subscription.
    let first = a
        .append(request("deal", ExpectedVersion::NoStream, &[1, 2]))
        .await
        .unwrap();
    let first = first.receipt().unwrap();
    for seq in [1, 2] {
        let event = tokio::time::timeout(Duration::from_secs(10), follow.next())
            .await
            .expect("the other replica did not see the write")
            .unwrap()
            .unwrap();
        assert_eq!(event.seq, seq);
    }
    // Expected versions are judged on the shared log, not on what a replica had seen.
    match b
        .append(request("deal", ExpectedVersion::NoStream, &[3]))
        .await
        .unwrap()
    {
        AppendOutcome::Conflict { actual, .. } => assert_eq!(actual, 2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // An idempotency key used on one replica is known to the other, fingerprint included.
    let keyed = |fingerprint: u8| {
        request_by("rep", "other", ExpectedVersion::Any, &[9])
            .with_idempotency_key("k-1")
            .unwrap()
            .with_fingerprint([fingerprint; 32])
    };
    let done = a.append(keyed(1)).await.unwrap().receipt().unwrap();
    assert!(matches!(
        b.append(keyed(1)).await.unwrap(),
        AppendOutcome::Replayed(r) if r == done
    ));
    assert!(matches!(
        b.append(keyed(2)).await.unwrap(),
        AppendOutcome::IdempotencyKeyMismatch { .. }
    ));
    // What b writes, a reads back once it has heard of it.
    let third = b
        .append(request("deal", ExpectedVersion::Exact(2), &[3]))
        .await
        .unwrap()
        .receipt()
        .unwrap();
    assert_eq!(third.first_seq, first.last_seq + 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.head().seq < third.last_seq {
        assert!(
            std::time::Instant::now() < deadline,
            "a never heard of b's write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a.head(), b.head());
    assert_eq!(a.stream_version(&super::stream("deal")).unwrap(), 3);
}

#[test]
fn verify_finds_what_was_done_to_the_database() {
    let Some(cluster) = start("tampering with the database") else {
        return;
    };
    let url = cluster.url("postgres");
    let (_dir, store) = replica(&url);
    for n in 0..5 {
        let _ = store
            .append_blocking(request("s", ExpectedVersion::Any, &[n]))
            .unwrap();
    }
    assert!(store.verify().unwrap().is_intact());
    let problem = |store: &Store| match store.verify().unwrap().problem {
        Some(p) => p,
        None => panic!("verify found nothing"),
    };

    // An edited row.
    cluster.execute(
        "postgres",
        "UPDATE dealtrail_events SET record = overlay(record placing '\\xff'::bytea from 40) \
         WHERE seq = 3",
    );
    let p = problem(&store);
    assert_eq!(p.seq, 3);
    assert!(
        matches!(p.kind, ProblemKind::Database(ref d) if d.contains("differs")),
        "{p:?}"
    );
    // A fresh replica refuses to copy it.
    let dir = tempfile::tempdir().unwrap();
    match Store::open(Config::new(dir.path()).upstream(&url)) {
        Err(StoreError::Diverged(_) | StoreError::Corrupt { .. }) => {}
        Err(other) => panic!("expected the edited row to be refused, got {other}"),
        Ok(_) => panic!("a replica copied an edited row"),
    }

    // A row added past the head row.
    cluster.execute(
        "postgres",
        "UPDATE dealtrail_events SET record = (SELECT record FROM dealtrail_events WHERE seq = 2) \
         WHERE seq = 3; \
         INSERT INTO dealtrail_events (seq, stream, version, record) \
         SELECT 9, 'extra', 1, record FROM dealtrail_events WHERE seq = 1",
    );
    let p = problem(&store);
    assert!(
        matches!(p.kind, ProblemKind::Database(ref d) if d.contains("last row is event 9")),
        "{p:?}"
    );
    cluster.execute("postgres", "DELETE FROM dealtrail_events WHERE seq = 9");

    // The end cut, head row and all: consistent in itself, but not what the folder holds.
    let second = store.read_all(2, 1).unwrap()[0].hash.to_hex();
    cluster.execute(
        "postgres",
        &format!(
            "DELETE FROM dealtrail_events WHERE seq >= 3; \
             UPDATE dealtrail_head SET seq = 2, hash = '\\x{second}'::bytea WHERE id = 1"
        ),
    );
    let p = problem(&store);
    assert_eq!(p.seq, 3);
    assert!(
        matches!(p.kind, ProblemKind::Database(ref d) if d.contains("removed")),
        "{p:?}"
    );
    drop(store);
    // And the folder, reopened, will not follow a log that lost its end.
    match Store::open(Config::new(_dir.path()).upstream(&url)) {
        Err(StoreError::Diverged(d)) => assert!(d.contains("5"), "{d}"),
        Err(other) => panic!("expected Diverged, got {other}"),
        Ok(_) => panic!("a replica followed a log shorter than itself"),
    }
}

#[test]
fn a_folder_of_another_log_is_refused() {
    let Some(cluster) = start("a folder of another log") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(Config::new(dir.path())).unwrap();
        let _ = store
            .append_blocking(request("mine", ExpectedVersion::Any, &[1]))
            .unwrap();
        store.close().unwrap();
    }
    match Store::open(Config::new(dir.path()).upstream(cluster.url("postgres"))) {
        Err(StoreError::Diverged(d)) => assert!(d.contains("the folder holds 1"), "{d}"),
        Err(other) => panic!("expected Diverged, got {other}"),
        Ok(_) => panic!("an unrelated folder was taken for a replica"),
    }
    // A database gone while a replica runs: writes fail and say why, reads go on.
    let (_live_dir, live) = replica(&cluster.url("postgres"));
    let written = live
        .append_blocking(request("s", ExpectedVersion::Any, &[1]))
        .unwrap();
    assert!(matches!(written, AppendOutcome::Committed(_)));
    // An unreachable database is an error that says so, not a hang.
    let dir = tempfile::tempdir().unwrap();
    let port = cluster.port();
    drop(cluster);
    match live.append_blocking(request("s", ExpectedVersion::Any, &[2])) {
        Err(StoreError::Upstream(_)) => {}
        other => panic!("expected Upstream, got {other:?}"),
    }
    assert_eq!(live.head().seq, 1);
    assert_eq!(live.read_all(1, 10).unwrap().len(), 1);
    assert!(
        live.write_failure().is_some(),
        "the failure is reported for health checks"
    );
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=5");
    match Store::open(Config::new(dir.path()).upstream(url)) {
        Err(StoreError::Upstream(d)) => assert!(d.contains("cannot connect"), "{d}"),
        Err(other) => panic!("expected Upstream, got {other}"),
        Ok(_) => panic!("opened a replica of a database that is gone"),
    }
}

#[test]
fn migration_to_postgresql_and_back_keeps_the_head() {
    let Some(cluster) = start("migration between sled and PostgreSQL") else {
        return;
    };
    let sled_dir = tempfile::tempdir().unwrap();
    let from = Store::open(Config::new(sled_dir.path())).unwrap();
    for n in 0..300u64 {
        let req = request(&format!("s{}", n % 7), ExpectedVersion::Any, &[n]);
        let req = if n % 5 == 0 {
            req.with_idempotency_key(format!("k{n}")).unwrap()
        } else {
            req
        };
        let _ = from.append_blocking(req).unwrap();
    }
    let events = from.read_all(1, 1000).unwrap();

    let (_pg_dir, to) = replica(&cluster.url("postgres"));
    for chunk in events.chunks(128) {
        to.restore_blocking(chunk.to_vec()).unwrap();
    }
    assert_eq!(to.head(), from.head());
    assert!(to.verify().unwrap().is_intact());
    assert_eq!(
        cluster.query_i64("postgres", "SELECT count(*) FROM dealtrail_events"),
        vec![300]
    );
    // Another replica copies it from the database alone.
    let (_c_dir, copy) = replica(&cluster.url("postgres"));
    assert_eq!(copy.head(), from.head());

    let back_dir = tempfile::tempdir().unwrap();
    let back = Store::open(Config::new(back_dir.path())).unwrap();
    back.restore_blocking(copy.read_all(1, 1000).unwrap())
        .unwrap();
    assert_eq!(back.head(), from.head());
    assert_eq!(back.read_all(1, 1000).unwrap(), events);
}

#[test]
fn personal_keys_are_shared_and_an_erasure_reaches_every_replica() {
    use dealtrail_store::vault::{KeyState, VAULT_FILE};
    let Some(cluster) = start("personal-data keys on PostgreSQL") else {
        return;
    };
    let url = cluster.url("postgres");
    let (_a_dir, a) = replica(&url);
    let (b_dir, b) = replica(&url);
    let (p, q) = (uuid::Uuid::from_u128(77), uuid::Uuid::from_u128(78));

    // A key made on one replica is the key on the other, never a second one.
    let key = a.vault().keys_for(&[p]).unwrap()[0];
    assert_eq!(b.vault().state(p), KeyState::Live(key));
    assert_eq!(b.vault().keys_for(&[p]).unwrap(), vec![key]);
    let other = b.vault().keys_for(&[q]).unwrap()[0];
    assert_eq!(a.vault().state(q), KeyState::Live(other));

    // Erased on a: b's copy is overwritten by its follower, in its file too.
    assert!(a.vault().erase(p).unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.vault().state(p) != KeyState::Erased {
        assert!(std::time::Instant::now() < deadline, "b kept an erased key");
        std::thread::sleep(Duration::from_millis(5));
    }
    let file = std::fs::read(b_dir.path().join(VAULT_FILE)).unwrap();
    assert!(
        !file.windows(32).any(|w| w == key),
        "the key's bytes are gone from b's file"
    );
    assert!(file.windows(32).any(|w| w == other));
    assert!(matches!(
        b.vault().keys_for(&[p]),
        Err(StoreError::Erased { .. })
    ));
    // The database itself keeps no key for p; an export from a new replica says so.
    assert_eq!(
        cluster.query_i64(
            "postgres",
            "SELECT count(*) FROM dealtrail_keys WHERE key IS NOT NULL"
        ),
        vec![1]
    );
    let (_c_dir, c) = replica(&url);
    assert_eq!(
        c.vault().entries().unwrap(),
        vec![(p, KeyState::Erased), (q, KeyState::Live(other))]
    );
    // With the database gone an export fails instead of holding only this folder's copies.
    drop(cluster);
    assert!(matches!(
        c.vault().export_lines(),
        Err(StoreError::Upstream(_))
    ));
}

#[test]
fn tls_is_used_and_the_server_verified_when_the_connection_string_asks() {
    if in_child() {
        return;
    }
    let Some(cluster) = Cluster::start_tls("TLS to PostgreSQL") else {
        return;
    };
    let ca = cluster.ca().unwrap().display().to_string();
    let url = format!(
        "{}?sslmode=require&sslrootcert={ca}",
        cluster.url("postgres")
    );
    let (_dir, store) = replica(&url);
    let written = store
        .append_blocking(request("s", ExpectedVersion::Any, &[1]))
        .unwrap();
    assert!(matches!(written, AppendOutcome::Committed(_)));
    // The writer's connection is an encrypted one (this test's own queries are not).
    let encrypted = cluster.query_i64("postgres", "SELECT count(*) FROM pg_stat_ssl WHERE ssl")[0];
    assert!(encrypted >= 1, "{encrypted} encrypted connections");
    // Without the authority the server's certificate is not trusted: refused, not
    // downgraded to plain text.
    let dir = tempfile::tempdir().unwrap();
    let untrusted = format!("{}?sslmode=require", cluster.url("postgres"));
    match Store::open(Config::new(dir.path()).upstream(untrusted)) {
        Err(StoreError::Upstream(d)) => assert!(d.contains("certificate"), "{d}"),
        Err(other) => panic!("expected Upstream, got {other}"),
        Ok(_) => panic!("connected to a server whose certificate nobody vouched for"),
    }
}

#[test]
fn a_replica_that_cannot_listen_follows_by_polling() {
    let Some(cluster) = start("following without LISTEN") else {
        return;
    };
    let quiet = relay(cluster.port(), Mischief::RefuseListen);
    let (_a_dir, a) = replica(&cluster.url("postgres"));
    let (_b_dir, b) = replica(&format!("postgres://postgres@127.0.0.1:{quiet}/postgres"));
    // b's follower asked to LISTEN and was refused, so only its poll can tell it of a's
    // write (without the poll this test fails: b never catches up).
    let written = a
        .append_blocking(request("s", ExpectedVersion::Any, &[1, 2, 3]))
        .unwrap();
    assert!(matches!(written, AppendOutcome::Committed(_)));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.head().seq < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "b never polled a's write"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(b.head(), a.head());
}

#[test]
fn a_commit_whose_answer_is_lost_is_outcome_unknown_and_a_retry_finds_it_done() {
    let Some(cluster) = start("a lost commit answer") else {
        return;
    };
    let lossy = relay(cluster.port(), Mischief::LoseOneCommitAnswer);
    let url = format!("postgres://postgres@127.0.0.1:{lossy}/postgres");
    let (_dir, store) = replica(&url);
    let keyed = || {
        request("s", ExpectedVersion::NoStream, &[7])
            .with_idempotency_key("once")
            .unwrap()
            .with_fingerprint([7; 32])
    };
    match store.append_blocking(keyed()) {
        Err(StoreError::UpstreamUnknown(d)) => assert!(d.contains("not answered"), "{d}"),
        other => panic!("expected UpstreamUnknown, got {other:?}"),
    }
    // It was committed, though the writer could not know.
    assert_eq!(
        cluster.query_i64("postgres", "SELECT count(*) FROM dealtrail_events"),
        vec![1]
    );
    // The retry reconnects, copies the event it had not heard of, and replays its receipt.
    match store.append_blocking(keyed()).unwrap() {
        AppendOutcome::Replayed(r) => assert_eq!((r.first_seq, r.last_seq), (1, 1)),
        other => panic!("expected Replayed, got {other:?}"),
    }
    assert_eq!(store.head().seq, 1);
    assert!(store.verify().unwrap().is_intact());
}
