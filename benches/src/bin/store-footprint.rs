//! Bytes on disk per logical byte after writing a realistic log.
//!
//! `cargo run --release -p dealtrail-benches --bin store-footprint [-- STREAMS PER_STREAM]`
//! (default 20,000 streams × 50 events = 1M events of 200-byte payloads). Add
//! `--features dealtrail-store/compression` and set `DEALTRAIL_ZSTD_LEVEL` to try sled's
//! compression.

use std::time::Instant;

use dealtrail_benches::{disk_bytes, envelope_bytes, populate};
use dealtrail_store::{Config, Store};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let streams = args.next().and_then(Result::ok).unwrap_or(20_000);
    let per_stream = args.next().and_then(Result::ok).unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    #[allow(unused_mut)]
    let mut config = Config::new(dir.path());
    #[cfg(feature = "compression")]
    {
        let level = std::env::var("DEALTRAIL_ZSTD_LEVEL")
            .ok()
            .and_then(|l| l.parse().ok());
        println!("zstd level: {level:?}");
        config = config.compression(level);
    }
    let store = Store::open(config).expect("store");
    let started = Instant::now();
    populate(&store, streams, per_stream);
    let elapsed = started.elapsed();
    let events = streams * per_stream;

    let mut payload = 0u64;
    let mut envelope = 0u64;
    for event in store.iter_from(1) {
        let e = event.expect("event");
        payload += e.payload.len() as u64;
        envelope += envelope_bytes(&e);
    }
    store.close().expect("close");
    drop(store);
    let disk = disk_bytes(dir.path());
    println!("events:                {events}");
    println!(
        "written in:            {elapsed:.1?} ({:.0} events/s with 64 callers)",
        events as f64 / elapsed.as_secs_f64()
    );
    println!("payload bytes:         {payload}");
    println!("logical envelope bytes:{envelope}");
    println!("bytes on disk:         {disk}");
    println!(
        "disk / logical:        {:.2}",
        disk as f64 / envelope as f64
    );
    println!("disk / payload:        {:.2}", disk as f64 / payload as f64);
    // The Merkle tree's share: its keys and values against the log's records (both
    // copies), as sled holds them before its own overhead.
    let db = sled::Config::new()
        .path(dir.path().join("log"))
        .segment_size(dealtrail_store::SLED_SEGMENT_SIZE)
        .open()
        .expect("sled");
    let tree = db.open_tree("log").expect("log tree");
    let bytes = |prefix: u8| -> u64 {
        tree.scan_prefix([prefix])
            .map(|kv| kv.map_or(0, |(k, v)| (k.len() + v.len()) as u64))
            .sum()
    };
    let (nodes, records) = (bytes(b'T'), bytes(b'E') + bytes(b'S'));
    println!(
        "tree bytes:            {nodes} ({:.2}% of the records' {records})",
        100.0 * nodes as f64 / records as f64
    );
}
