//! Verify an exported audit trail without trusting dealtrail's own code.
//!
//! ```sh
//! dealtrail export events --format jsonl --out trail.jsonl
//! cargo run -p dealtrail-examples --bin verify-audit-trail -- trail.jsonl [EXPECTED_HEAD_HASH]
//! ```
//!
//! Each line of the export is one event's envelope. Following `docs/store.md`, this program
//! rebuilds every event's canonical bytes (a MessagePack array of 14 fields), hashes them
//! with BLAKE3 and checks that the hash matches the one recorded, that each event names its
//! predecessor's hash, and that sequence numbers are dense. Pass the head hash you wrote
//! down earlier to prove nothing was cut from the end.

use serde::{Deserialize, Serialize};

/// One line of `dealtrail export events --format jsonl` (the fields this check needs).
#[derive(Deserialize)]
struct Line {
    seq: u64,
    stream: String,
    version: u64,
    event_id: uuid::Uuid,
    event_type: String,
    schema_version: u16,
    recorded_at_us: i64,
    occurred_at_us: i64,
    actor: String,
    correlation_id: Option<uuid::Uuid>,
    causation_id: Option<uuid::Uuid>,
    idempotency_key: Option<String>,
    /// The payload's exact bytes, base64.
    payload_msgpack: String,
    prev_hash: String,
    hash: String,
}

/// The canonical bytes, field by field in the documented order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    stream: &'a str,
    version: u64,
    event_id: uuid::Uuid,
    event_type: &'a str,
    schema_version: u16,
    recorded_at: i64,
    occurred_at: i64,
    actor: &'a str,
    correlation_id: Option<uuid::Uuid>,
    causation_id: Option<uuid::Uuid>,
    idempotency_key: Option<&'a str>,
    #[serde(with = "serde_bytes")]
    payload: &'a [u8],
    #[serde(with = "serde_bytes")]
    prev_hash: &'a [u8],
}

fn hex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

fn base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Checks one event against its predecessor's hash; the event's own hash if it holds.
fn check(line: &Line, prev: &[u8; 32]) -> Result<[u8; 32], String> {
    let payload = base64(&line.payload_msgpack).ok_or("payload is not base64")?;
    if hex(&line.prev_hash).as_deref() != Some(&prev[..]) {
        return Err("does not name the previous event's hash".into());
    }
    let canonical = Canonical {
        seq: line.seq,
        stream: &line.stream,
        version: line.version,
        event_id: line.event_id,
        event_type: &line.event_type,
        schema_version: line.schema_version,
        recorded_at: line.recorded_at_us,
        occurred_at: line.occurred_at_us,
        actor: &line.actor,
        correlation_id: line.correlation_id,
        causation_id: line.causation_id,
        idempotency_key: line.idempotency_key.as_deref(),
        payload: &payload,
        prev_hash: prev,
    };
    let bytes = rmp_serde::to_vec(&canonical).map_err(|e| e.to_string())?;
    let hash = *blake3::hash(&bytes).as_bytes();
    if hex(&line.hash).as_deref() != Some(&hash[..]) {
        return Err("its content does not match its hash (changed after it was written)".into());
    }
    Ok(hash)
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: verify-audit-trail EXPORT.jsonl [EXPECTED_HEAD_HASH]");
        return std::process::ExitCode::from(2);
    };
    let expected_head = args.next();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut prev = [0u8; 32];
    let mut count = 0u64;
    for (n, raw) in text.lines().enumerate() {
        let verdict = serde_json::from_str::<Line>(raw)
            .map_err(|e| format!("line {}: not an event envelope: {e}", n + 1))
            .and_then(|line| {
                if line.seq != count + 1 {
                    return Err(format!(
                        "event {}: expected sequence number {} (an event is missing)",
                        line.seq,
                        count + 1
                    ));
                }
                check(&line, &prev).map_err(|why| format!("event {}: {why}", line.seq))
            });
        match verdict {
            Ok(hash) => {
                prev = hash;
                count += 1;
            }
            Err(why) => {
                println!("BROKEN after {count} good events: {why}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let head: String = prev.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(expected) = expected_head
        && expected != head
    {
        println!("BROKEN: {count} events chain correctly, but the head is {head}, not {expected}");
        return std::process::ExitCode::FAILURE;
    }
    println!("intact: {count} events, head {head}");
    std::process::ExitCode::SUCCESS
}
