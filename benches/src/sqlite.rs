//! SQLite as the peer of the store's figures: the same events in a plain table, measured
//! in the same run (WAL mode, `synchronous=FULL`, as a careful application would run it).

use std::path::Path;
use std::time::{Duration, Instant};

use dealtrail_store::RecordedEvent;
use rusqlite::{Connection, params};

/// A SQLite database holding events as rows, one column per envelope field.
pub struct Peer {
    connection: Connection,
    file: std::path::PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    payload BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE UNIQUE INDEX events_by_stream ON events (stream, version);
";

const INSERT: &str = "INSERT INTO events (seq, stream, version, event_id, event_type,
    schema_version, recorded_at, occurred_at, actor, payload, prev_hash, hash)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// One row as the store's readers get it, so that reading costs what decoding costs.
type Row = (
    u64,
    String,
    u64,
    Vec<u8>,
    String,
    u16,
    i64,
    i64,
    String,
    Vec<u8>,
);

fn owned(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        row.get::<_, i64>(0)? as u64,
        row.get(1)?,
        row.get::<_, i64>(2)? as u64,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

/// The columns every read selects, in the order [`owned`] takes them.
const COLUMNS: &str = "seq, stream, version, event_id, event_type, schema_version, recorded_at,
    occurred_at, actor, payload";

impl Peer {
    /// Creates the database `events.db` in `dir`, with the table and its stream index.
    pub fn create(dir: &Path) -> rusqlite::Result<Peer> {
        let file = dir.join("events.db");
        let connection = Connection::open(&file)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Peer { connection, file })
    }

    /// Opens the database [`Peer::create`] made in `dir`, with a cold SQLite page cache.
    pub fn open(dir: &Path) -> rusqlite::Result<Peer> {
        let file = dir.join("events.db");
        let connection = Connection::open(&file)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        Ok(Peer { connection, file })
    }

    fn insert(statement: &mut rusqlite::Statement<'_>, e: &RecordedEvent) -> rusqlite::Result<()> {
        statement.execute(params![
            e.seq as i64,
            e.stream.as_str(),
            e.version as i64,
            e.event_id.as_bytes().as_slice(),
            e.event_type,
            e.schema_version,
            e.recorded_at.0,
            e.occurred_at.0,
            e.actor,
            e.payload,
            e.prev_hash.0.as_slice(),
            e.hash.0.as_slice(),
        ])?;
        Ok(())
    }

    /// Inserts `events` in one transaction and commits it; the time until the commit returns.
    pub fn load_in_one_transaction(
        &mut self,
        events: &[RecordedEvent],
    ) -> rusqlite::Result<Duration> {
        let started = Instant::now();
        let transaction = self.connection.transaction()?;
        {
            let mut statement = transaction.prepare_cached(INSERT)?;
            for e in events {
                Self::insert(&mut statement, e)?;
            }
        }
        transaction.commit()?;
        Ok(started.elapsed())
    }

    /// Inserts each of `events` in its own committed transaction (each one durable before the
    /// next, like one caller appending); the time of each commit.
    pub fn insert_one_by_one(
        &mut self,
        events: &[RecordedEvent],
    ) -> rusqlite::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(events.len());
        for e in events {
            let started = Instant::now();
            let transaction = self.connection.transaction()?;
            {
                let mut statement = transaction.prepare_cached(INSERT)?;
                Self::insert(&mut statement, e)?;
            }
            transaction.commit()?;
            times.push(started.elapsed());
        }
        Ok(times)
    }

    /// Reads every row in `seq` order into owned values; the number of rows.
    pub fn read_all(&self) -> rusqlite::Result<u64> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("SELECT {COLUMNS} FROM events ORDER BY seq"))?;
        let mut rows = statement.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            std::hint::black_box(owned(row)?);
            n += 1;
        }
        Ok(n)
    }

    /// Reads one stream's rows in version order; how many there were.
    pub fn read_stream(&self, stream: &str) -> rusqlite::Result<u64> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream = ?1 ORDER BY version"
        ))?;
        let mut rows = statement.query([stream])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            std::hint::black_box(owned(row)?);
            n += 1;
        }
        Ok(n)
    }

    /// Bytes of the database file once the write-ahead log is checkpointed into it.
    pub fn disk_bytes(&self) -> rusqlite::Result<u64> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let wal = self.file.with_extension("db-wal");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(size(&self.file) + size(&wal))
    }
}
