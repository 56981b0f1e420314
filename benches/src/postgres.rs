//! PostgreSQL as the second peer of the store's figures: the same events in a plain table
//! of a throwaway cluster (default settings, so fsync and synchronous commit on), measured
//! in the same run as the store and SQLite.

use std::time::{Duration, Instant};

use dealtrail_store::RecordedEvent;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

/// A table of events in a PostgreSQL database, one column per envelope field.
pub struct Peer {
    client: Client,
    stream: postgres::Statement,
}

const SCHEMA: &str = "
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    stream TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_id BYTEA NOT NULL,
    event_type TEXT NOT NULL,
    schema_version SMALLINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    payload BYTEA NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE UNIQUE INDEX events_by_stream ON events (stream, version);
";

const COLUMN_TYPES: [Type; 12] = [
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::BYTEA,
    Type::TEXT,
    Type::INT2,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
];

const INSERT: &str = "INSERT INTO events (seq, stream, version, event_id, event_type,
    schema_version, recorded_at, occurred_at, actor, payload, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The columns every read selects.
const COLUMNS: &str = "seq, stream, version, event_id, event_type, schema_version, recorded_at,
    occurred_at, actor, payload";

/// One row as the store's readers get it, so that reading costs what decoding costs.
type Row = (
    i64,
    String,
    i64,
    Vec<u8>,
    String,
    i16,
    i64,
    i64,
    String,
    Vec<u8>,
);

fn owned(row: &postgres::Row) -> Result<Row, postgres::Error> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
        row.try_get(9)?,
    ))
}

/// Binds `e`'s fields in the table's column order, for a COPY row or an INSERT.
fn with_fields<T>(e: &RecordedEvent, f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let (seq, version) = (e.seq as i64, e.version as i64);
    let schema = e.schema_version as i16;
    f(&[
        &seq,
        &e.stream.as_str(),
        &version,
        &e.event_id.as_bytes().as_slice(),
        &e.event_type,
        &schema,
        &e.recorded_at.0,
        &e.occurred_at.0,
        &e.actor,
        &e.payload,
        &e.prev_hash.0.as_slice(),
        &e.hash.0.as_slice(),
    ])
}

impl Peer {
    /// Connects to `url` and creates the table and its stream index.
    pub fn create(url: &str) -> Result<Peer, postgres::Error> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(SCHEMA)?;
        let stream = client.prepare(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream = $1 ORDER BY version"
        ))?;
        Ok(Peer { client, stream })
    }

    /// Writes `events` with one binary COPY in one transaction; the time until the commit
    /// returns. COPY is the fastest way PostgreSQL offers to load rows.
    pub fn copy_in_one_transaction(
        &mut self,
        events: &[RecordedEvent],
    ) -> Result<Duration, postgres::Error> {
        let started = Instant::now();
        let mut transaction = self.client.transaction()?;
        {
            let sink = transaction.copy_in(
                "COPY events (seq, stream, version, event_id, event_type, schema_version,
                 recorded_at, occurred_at, actor, payload, prev_hash, hash)
                 FROM STDIN BINARY",
            )?;
            let mut writer = BinaryCopyInWriter::new(sink, &COLUMN_TYPES);
            for e in events {
                with_fields(e, |fields| writer.write(fields))?;
            }
            writer.finish()?;
        }
        transaction.commit()?;
        Ok(started.elapsed())
    }

    /// Inserts each of `events` in its own committed statement (each durable before the
    /// next, like one caller appending); the time of each.
    pub fn insert_one_by_one(
        &mut self,
        events: &[RecordedEvent],
    ) -> Result<Vec<Duration>, postgres::Error> {
        let statement = self.client.prepare(INSERT)?;
        let mut times = Vec::with_capacity(events.len());
        for e in events {
            let started = Instant::now();
            with_fields(e, |fields| self.client.execute(&statement, fields))?;
            times.push(started.elapsed());
        }
        Ok(times)
    }

    /// Reads every row in `seq` order into owned values, streamed; the number of rows.
    pub fn read_all(&mut self) -> Result<u64, postgres::Error> {
        let sql = format!("SELECT {COLUMNS} FROM events ORDER BY seq");
        count_owned(self.client.query_raw(&sql, std::iter::empty::<&str>())?)
    }

    /// Reads one stream's rows in version order through a prepared statement; how many
    /// there were.
    pub fn read_stream(&mut self, stream: &str) -> Result<u64, postgres::Error> {
        count_owned(self.client.query_raw(&self.stream, [stream])?)
    }

    /// Bytes of the table with its indexes and TOAST (the cluster's write-ahead log aside,
    /// as SQLite's is checkpointed away before it is measured).
    pub fn disk_bytes(&mut self) -> Result<u64, postgres::Error> {
        let row = self
            .client
            .query_one("SELECT pg_total_relation_size('events')", &[])?;
        Ok(row.try_get::<_, i64>(0)? as u64)
    }
}

fn count_owned(mut rows: postgres::RowIter<'_>) -> Result<u64, postgres::Error> {
    let mut n = 0;
    while let Some(row) = rows.next()? {
        std::hint::black_box(owned(&row)?);
        n += 1;
    }
    Ok(n)
}
