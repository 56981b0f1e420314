//! Shared helpers of the benchmarks: realistic events and a populated store.

use dealtrail_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StreamId, Timestamp};
use uuid::Uuid;

pub mod postgres;
pub mod sqlite;

/// Bytes of payload per benchmark event, as the performance targets assume.
pub const PAYLOAD_LEN: usize = 200;

/// A deterministic, not very compressible payload of [`PAYLOAD_LEN`] bytes.
pub fn payload(n: u64) -> Vec<u8> {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..PAYLOAD_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half the bytes printable text, as MessagePack strings in real events are.
            if x & 1 == 0 {
                b'a' + (x % 26) as u8
            } else {
                (x >> 8) as u8
            }
        })
        .collect()
}

/// One event with a realistic type name and ids.
pub fn event(n: u64) -> NewEvent {
    const TYPES: [&str; 4] = [
        "FollowUpLogged",
        "StageChanged",
        "ContactEngaged",
        "CrossFunctionalRecordAdded",
    ];
    NewEvent {
        event_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n as u128),
        event_type: TYPES[(n % 4) as usize].into(),
        schema_version: 1,
        occurred_at: Timestamp(1_700_000_000_000_000 + n as i64),
        payload: payload(n),
        causation_id: None,
    }
}

/// A stream name shaped like the real ones (`opportunity-<uuid>`).
pub fn stream(n: u64) -> StreamId {
    StreamId::parse(format!("opportunity-{}", Uuid::from_u128(n as u128 * 7919)))
        .expect("valid stream id")
}

/// An append of `events` to stream `s`, numbered from `first`.
pub fn request(s: u64, first: u64, events: u64, actor: &str) -> AppendRequest {
    AppendRequest::new(
        stream(s),
        ExpectedVersion::Any,
        actor,
        (first..first + events).map(event).collect(),
    )
    .expect("valid request")
}

/// Fills `store` with `streams` × `per_stream` events, interleaved: each round appends one
/// event to every stream, in groups of `batch` streams per append call from 64 callers.
pub fn populate(store: &Store, streams: u64, per_stream: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let callers = 64u64;
        let mut tasks = Vec::new();
        for c in 0..callers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..per_stream {
                    let mut s = c;
                    while s < streams {
                        let n = round * streams + s;
                        let actor = format!("rep-{}", s % 50);
                        let outcome = store
                            .append(request(s, n, 1, &actor))
                            .await
                            .expect("append");
                        assert!(outcome.receipt().is_some());
                        s += callers;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
}

/// Bytes of all files under `dir`.
/// What a plain table of an event's envelope would hold: the fields, without indexes. The
/// "logical bytes" of the disk-per-logical-byte figures.
pub fn envelope_bytes(e: &dealtrail_store::RecordedEvent) -> u64 {
    (e.payload.len()
        + e.stream.as_str().len()
        + e.event_type.len()
        + e.actor.len()
        + 8 * 5 // seq, version, two clocks, schema version (rounded up)
        + 16 // event id
        + 64) as u64 // two hashes
}

pub fn disk_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            total += if path.is_dir() {
                disk_bytes(&path)
            } else {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

/// The sales pipeline of a data folder as a server would start with it: restored from the
/// snapshots and caught up with the log (all three models, as the engine folds them).
pub fn sales_pipeline(data: &str) -> Result<(Store, dealtrail_funnel::SalesPipeline), String> {
    use dealtrail_engine::{Restored, catch_up};
    let store = Store::open_path(data).map_err(|e| e.to_string())?;
    let mut sales =
        Restored::<dealtrail_funnel::SalesPipeline>::load(&store).map_err(|e| e.to_string())?;
    let mut winloss =
        Restored::<dealtrail_winloss::WinLoss>::load(&store).map_err(|e| e.to_string())?;
    let mut profiles =
        Restored::<dealtrail_profile::Profiles>::load(&store).map_err(|e| e.to_string())?;
    catch_up(
        &store,
        u64::MAX,
        None,
        (&mut sales, &mut winloss, &mut profiles),
    )
    .map_err(|e| e.to_string())?;
    Ok((store, sales.state))
}
