//! The log of record on PostgreSQL, which several servers share.
//!
//! The data folder stays: it becomes this server's replica of the database's log, and it is
//! only ever written with events the database has committed, so every read stays local and
//! as fast as on sled alone. The writer thread decides a group of appends exactly as it does
//! without a database, but inside one transaction that first locks the database's head row:
//! it copies whatever other servers committed since its replica's head, decides the group on
//! that state (expected versions, idempotency, hashes), inserts the group's rows, moves the
//! head row and commits, and only then applies the rows to the replica and answers. Since no
//! transaction can read the head before the previous one has committed and become visible,
//! commit order is sequence order: a reader of `seq > n` always sees a gap-free prefix.
//!
//! Only SQL that CockroachDB and YugabyteDB also run is used (see docs/store.md), and
//! LISTEN/NOTIFY only as a wake-up: followers also poll, so they keep up without it.

use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, SimpleQueryMessage, Statement};
use tokio::sync::{mpsc, watch};

use crate::codec;
use crate::error::StoreError;
use crate::types::{ChainHash, RecordedEvent};
use crate::vault::Vault;
use crate::writer::Work;

/// The channel a committing server notifies and followers listen on.
const CHANNEL: &str = "dealtrail_log";
/// Rows fetched per catch-up query.
pub(crate) const FETCH_ROWS: i64 = 1_000;
/// How often a follower looks for new events when no notification woke it.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// Tables and the head row; every statement is safe to run again and by several servers.
const SCHEMA: &str = "
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS dealtrail_head (
    id INT PRIMARY KEY,
    format INT NOT NULL,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    keys_changed BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dealtrail_events (
    seq BIGINT PRIMARY KEY,
    stream TEXT NOT NULL,
    version BIGINT NOT NULL,
    record BYTEA NOT NULL,
    fingerprint BYTEA,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS dealtrail_keys (
    person BYTEA PRIMARY KEY,
    key BYTEA,
    erased_epoch BIGINT
);
";

/// One event as the database stores it: the replica's own record bytes (hash included),
/// with the columns the database indexes and the command's fingerprint, which is not in the
/// log but must reach every server's idempotency records.
pub(crate) struct Row {
    pub seq: u64,
    pub stream: String,
    pub version: u64,
    pub record: sled::IVec,
    pub fingerprint: Option<[u8; 32]>,
}

/// An event read back from the database.
pub(crate) struct Fetched {
    pub event: RecordedEvent,
    pub fingerprint: Option<[u8; 32]>,
}

fn failed(context: &str, e: postgres::Error) -> StoreError {
    StoreError::Upstream(format!("{context}: {e}"))
}

/// A connection with the statements a writer runs, prepared once: a statement sent as text
/// costs a second round trip to be prepared every time.
struct Conn {
    client: Client,
    fetch: Statement,
    insert: Statement,
}

impl Conn {
    fn open(url: &str) -> Result<Conn, StoreError> {
        Conn::prepare(crate::pgconnect::connect(url)?)
    }

    fn prepare(mut client: Client) -> Result<Conn, StoreError> {
        let fetch = client
            .prepare(
                "SELECT seq, record, fingerprint FROM dealtrail_events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .map_err(|e| failed("cannot prepare a statement", e))?;
        let insert = client
            .prepare(
                "INSERT INTO dealtrail_events (seq, stream, version, record, fingerprint) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[], \
                 $5::BYTEA[])",
            )
            .map_err(|e| failed("cannot prepare a statement", e))?;
        Ok(Conn {
            client,
            fetch,
            insert,
        })
    }
}

/// A connection to the database holding the log; reconnects after a failure.
pub(crate) struct Upstream {
    url: String,
    conn: Option<Conn>,
    /// Whether the database takes `NOTIFY` (CockroachDB does not); found out at connect.
    notify: bool,
    /// This store's mark on its notifications, so that its own follower can pass them by.
    origin: String,
}

impl Upstream {
    /// Connects and creates the tables if the database has none yet.
    pub fn connect(url: &str, origin: &str) -> Result<Upstream, StoreError> {
        let mut client = crate::pgconnect::connect(url)?;
        // Two servers creating the schema at once may collide in the catalogue; the second
        // attempt finds the tables.
        let created = client
            .batch_execute(SCHEMA)
            .or_else(|_| client.batch_execute(SCHEMA));
        created.map_err(|e| failed("cannot create the log's tables", e))?;
        client
            .execute(
                "INSERT INTO dealtrail_head (id, format, seq, hash) VALUES (1, $1, 0, $2) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &(codec::RECORD_FORMAT as i32),
                    &ChainHash::GENESIS.0.as_slice(),
                ],
            )
            .map_err(|e| failed("cannot create the log's head row", e))?;
        let row = client
            .query_one("SELECT format FROM dealtrail_head WHERE id = 1", &[])
            .map_err(|e| failed("cannot read the log's head row", e))?;
        let found: i32 = row.get(0);
        if found as u32 != codec::RECORD_FORMAT {
            return Err(StoreError::IncompatibleFormat {
                found: found as u32,
                supported: codec::RECORD_FORMAT,
            });
        }
        let notify = client.batch_execute(&format!("NOTIFY {CHANNEL}")).is_ok();
        // The connection that made the schema goes on as the writer's.
        Ok(Upstream {
            url: url.to_string(),
            conn: Some(Conn::prepare(client)?),
            notify,
            origin: origin.to_string(),
        })
    }

    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = Some(Conn::open(&self.url)?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Upstream("no connection".into()))
    }

    /// Forgets the connection after an error, so the next call starts a fresh one.
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// The committed head: last sequence number and hash.
    pub fn head(&mut self) -> Result<(u64, ChainHash), StoreError> {
        let row = self
            .conn()?
            .client
            .query_one("SELECT seq, hash FROM dealtrail_head WHERE id = 1", &[])
            .map_err(|e| failed("cannot read the head", e))?;
        head_of(&row)
    }

    /// Committed events after `after`, in order, at most [`FETCH_ROWS`]. No lock is needed:
    /// commit order is sequence order, so what this sees is a prefix without gaps.
    pub fn fetch(&mut self, after: u64) -> Result<Vec<Fetched>, StoreError> {
        fetch(self.conn()?, after)
    }

    /// Begins the transaction of one group, in one round trip with the lock on the head
    /// row, which it holds until commit or rollback.
    pub fn lock(&mut self) -> Result<Locked<'_>, StoreError> {
        let (notify, origin) = (self.notify, self.origin.clone());
        let conn = self.conn()?;
        let answers = conn
            .client
            .simple_query(
                "BEGIN; SELECT seq, encode(hash, 'hex') FROM dealtrail_head WHERE id = 1 FOR UPDATE",
            )
            .map_err(|e| failed("cannot lock the head", e))?;
        let mut locked = Locked {
            conn,
            seq: 0,
            hash: ChainHash::GENESIS,
            notify,
            origin,
            open: true,
        };
        let row = answers.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((row.get(0), row.get(1))),
            _ => None,
        });
        let bad = || StoreError::corrupt("the database's head row", "missing or unreadable");
        let (Some(Some(seq)), Some(Some(hash))) = (row.map(|r| r.0), row.map(|r| r.1)) else {
            return Err(bad());
        };
        locked.seq = seq.parse().map_err(|_| bad())?;
        locked.hash = ChainHash::from_hex(hash).ok_or_else(bad)?;
        Ok(locked)
    }
}

fn head_of(row: &postgres::Row) -> Result<(u64, ChainHash), StoreError> {
    let seq: i64 = row.get(0);
    let hash: &[u8] = row.get(1);
    let hash = <[u8; 32]>::try_from(hash)
        .map_err(|_| StoreError::corrupt("the database's head row", "hash is not 32 bytes"))?;
    Ok((seq as u64, ChainHash(hash)))
}

fn fetch(conn: &mut Conn, after: u64) -> Result<Vec<Fetched>, StoreError> {
    let rows = conn
        .client
        .query(&conn.fetch, &[&(after as i64), &FETCH_ROWS])
        .map_err(|e| failed("cannot read events", e))?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.get(0);
            let record: &[u8] = row.get(1);
            let fingerprint: Option<&[u8]> = row.get(2);
            let location = || format!("event {seq} in the database");
            let event =
                codec::decode_record(record).map_err(|e| StoreError::corrupt(location(), e))?;
            if event.seq != seq as u64 {
                return Err(StoreError::corrupt(
                    location(),
                    format!("its record says sequence number {}", event.seq),
                ));
            }
            let fingerprint =
                match fingerprint {
                    None => None,
                    Some(bytes) => Some(<[u8; 32]>::try_from(bytes).map_err(|_| {
                        StoreError::corrupt(location(), "fingerprint is not 32 bytes")
                    })?),
                };
            Ok(Fetched { event, fingerprint })
        })
        .collect()
}

/// A group's transaction, holding the head row's lock; rolled back when dropped uncommitted.
pub(crate) struct Locked<'a> {
    conn: &'a mut Conn,
    /// The committed head when the lock was taken.
    pub seq: u64,
    pub hash: ChainHash,
    notify: bool,
    origin: String,
    open: bool,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.open {
            // A broken connection rolls back by itself; the writer then reconnects.
            let _ = self.conn.client.batch_execute("ROLLBACK");
        }
    }
}

impl Locked<'_> {
    /// Committed events after `after` (see [`Upstream::fetch`]).
    pub fn fetch(&mut self, after: u64) -> Result<Vec<Fetched>, StoreError> {
        fetch(self.conn, after)
    }

    /// Inserts the group's rows, then moves the head row to `head`, notifies followers and
    /// commits in one round trip. `Err(StoreError::UpstreamUnknown)` when that was sent but
    /// its answer lost: the rows may or may not be in the log.
    pub fn commit(mut self, rows: &[Row], head: (u64, ChainHash)) -> Result<(), StoreError> {
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq as i64).collect();
        let streams: Vec<&str> = rows.iter().map(|r| r.stream.as_str()).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.version as i64).collect();
        let records: Vec<&[u8]> = rows.iter().map(|r| &r.record[..]).collect();
        let fingerprints: Vec<Option<&[u8]>> = rows
            .iter()
            .map(|r| r.fingerprint.as_ref().map(|f| &f[..]))
            .collect();
        let conn = &mut *self.conn;
        conn.client
            .execute(
                &conn.insert,
                &[&seqs, &streams, &versions, &records, &fingerprints],
            )
            .map_err(|e| failed("cannot insert events", e))?;
        // Every value below is ours (a number, hex digits, the store's hex mark), never input.
        let mut finish = format!(
            "UPDATE dealtrail_head SET seq = {}, hash = decode('{}', 'hex') WHERE id = 1;",
            head.0,
            head.1.to_hex()
        );
        if self.notify {
            finish.push_str(&format!(" NOTIFY {CHANNEL}, '{}';", self.origin));
        }
        finish.push_str(" COMMIT");
        let sent = conn.client.batch_execute(&finish);
        match sent {
            Ok(()) => {
                self.open = false;
                Ok(())
            }
            // The database refused a statement: nothing is committed, and dropping `self`
            // rolls the transaction back.
            Err(e) if e.as_db_error().is_some() => Err(failed("cannot commit events", e)),
            Err(e) => {
                self.open = false;
                Err(StoreError::UpstreamUnknown(format!(
                    "the commit of events {}..={} was sent but not answered: {e}",
                    rows.first().map_or(0, |r| r.seq),
                    head.0
                )))
            }
        }
    }
}

/// A connection that waits for commits of other servers: returns after a notification or
/// after [`POLL`], whichever comes first.
pub(crate) struct Listener {
    url: String,
    client: Option<Client>,
    /// Whether the database took `LISTEN` (CockroachDB does not): without it, only polls.
    listening: bool,
}

impl Listener {
    pub fn new(url: &str) -> Listener {
        Listener {
            url: url.to_string(),
            client: None,
            listening: false,
        }
    }

    /// Waits for a notification, at most [`POLL`]; a lost connection is retried on the next
    /// call (and until then this only sleeps, so polling goes on). Returns whether the
    /// database is worth asking: not when every notification came from `origin` (this
    /// server's own writer, whose commits its folder has already).
    pub fn wait(&mut self, origin: &str) -> bool {
        use postgres::fallible_iterator::FallibleIterator;
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = crate::pgconnect::connect(&self.url).ok();
            self.listening = self
                .client
                .as_mut()
                .is_some_and(|c| c.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok());
        }
        let Some(client) = self.client.as_mut().filter(|_| self.listening) else {
            std::thread::sleep(POLL);
            return true;
        };
        let (lost, look) = {
            let mut notifications = client.notifications();
            let woke = notifications.timeout_iter(POLL).next();
            match woke {
                Ok(Some(first)) => {
                    // Several commits may have notified meanwhile: one catch-up reads them all.
                    let mut others = first.payload() != origin;
                    while let Ok(Some(n)) = notifications.iter().next() {
                        others |= n.payload() != origin;
                    }
                    (false, others)
                }
                Ok(None) => (false, true),
                Err(_) => (true, true),
            }
        };
        if lost {
            self.client = None;
        }
        look
    }

    /// The database's committed head and erasure counter, if they can be read now.
    pub fn committed(&mut self) -> Option<(u64, i64)> {
        let client = self.client.as_mut()?;
        match client.query_one(
            "SELECT seq, keys_changed FROM dealtrail_head WHERE id = 1",
            &[],
        ) {
            Ok(row) => Some((row.get::<_, i64>(0) as u64, row.get(1))),
            Err(_) => {
                self.client = None;
                None
            }
        }
    }
}

/// Starts the thread that keeps the folder following the database: it wakes on a
/// notification or every [`POLL`], and when the database is ahead of the folder asks the
/// writer to catch up. It ends soon after the store closes (it holds no strong handle).
pub(crate) fn follow(
    url: String,
    origin: String,
    vault: Arc<Vault>,
    mut head: watch::Receiver<u64>,
    writer: mpsc::WeakSender<Work>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("dealtrail-follower".into())
        .spawn(move || {
            let mut listener = Listener::new(&url);
            // Erasures seen so far (the head row's `keys_changed`): none at start, so the
            // first round erases this folder's copies of everything erased while it was away.
            let mut erasures = 0;
            loop {
                if !listener.wait(&origin) {
                    continue;
                }
                // The head's announcer goes with the store's threads: the store has closed.
                if head.has_changed().is_err() {
                    return;
                }
                let local = *head.borrow_and_update();
                let Some((seq, erased)) = listener.committed() else {
                    continue;
                };
                if erased > erasures
                    && let Some(client) = listener.client.as_mut()
                    && let Ok(people) = crate::pgkeys::erased_since(client, erasures)
                    && people.iter().all(|p| vault.erase_copy(*p).is_ok())
                {
                    erasures = erased;
                }
                if seq > local {
                    let Some(writer) = writer.upgrade() else {
                        return;
                    };
                    // A full queue means the writer is busy and catches up with its next
                    // group anyway.
                    let _ = writer.try_send(Work::CatchUp);
                }
            }
        })
        .map(drop)
}

/// Compares the database's copy of the log with the folder's, up to the folder's `head`:
/// the head row, then every row, byte for byte. `None` when they agree. The folder is
/// checked on its own first ([`crate::Store::verify`]); this finds what was done to the
/// database behind the servers' backs, such as a cut end or an edited row.
pub(crate) fn compare(
    url: &str,
    store: &crate::Store,
    head: crate::Head,
) -> Result<Option<crate::Problem>, StoreError> {
    let (url, store) = (url.to_string(), store.clone());
    let walk = move || -> Result<Option<crate::Problem>, StoreError> {
        let problem = |seq, detail: String| {
            Ok(Some(crate::Problem {
                seq,
                kind: crate::ProblemKind::Database(detail),
            }))
        };
        let mut client = crate::pgconnect::connect(&url)?;
        let row = client
            .query_one("SELECT seq, hash FROM dealtrail_head WHERE id = 1", &[])
            .map_err(|e| failed("cannot read the head", e))?;
        let (db_seq, db_hash) = head_of(&row)?;
        if db_seq < head.seq {
            return problem(
                db_seq + 1,
                format!(
                    "its head is at event {db_seq}, the folder holds {}: events were removed \
                     from its end",
                    head.seq
                ),
            );
        }
        let row = client
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM dealtrail_events", &[])
            .map_err(|e| failed("cannot read events", e))?;
        let last: i64 = row.get(0);
        if last as u64 != db_seq {
            return problem(
                db_seq,
                format!("its head row says {db_seq} events, its last row is event {last}"),
            );
        }
        let mut expected = 1;
        while expected <= head.seq {
            let rows = client
                .query(
                    "SELECT seq, record FROM dealtrail_events WHERE seq >= $1 AND seq <= $2 \
                     ORDER BY seq LIMIT $3",
                    &[&(expected as i64), &(head.seq as i64), &FETCH_ROWS],
                )
                .map_err(|e| failed("cannot read events", e))?;
            let Some(last) = rows.last().map(|r| r.get::<_, i64>(0) as u64) else {
                return problem(expected, format!("event {expected} is missing from it"));
            };
            let folder = store.record_bytes(expected, last)?;
            for row in &rows {
                let seq = row.get::<_, i64>(0) as u64;
                if seq != expected {
                    return problem(expected, format!("event {expected} is missing from it"));
                }
                let record: &[u8] = row.get(1);
                if folder.get(&seq).map(Vec::as_slice) != Some(record) {
                    return problem(seq, format!("event {seq} differs from the folder's"));
                }
                expected += 1;
            }
        }
        if db_seq == head.seq && db_hash != head.hash {
            return problem(db_seq, "its head row's hash is not the last event's".into());
        }
        Ok(None)
    };
    std::thread::spawn(walk).join().unwrap_or_else(|_| {
        Err(StoreError::Upstream(
            "the comparison thread panicked".into(),
        ))
    })
}
