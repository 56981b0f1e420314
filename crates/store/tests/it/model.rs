//! Model-based test: random operations on sled and on a plain in-memory model must agree.

use std::collections::BTreeMap;

use dealtrail_store::{AppendOutcome, Direction, ExpectedVersion, Receipt, RecordedEvent};
use proptest::prelude::*;

use super::{open, stream};

#[derive(Debug, Clone)]
enum Op {
    Append {
        stream: u8,
        expected: ExpectedVersion,
        count: u8,
        key: Option<u8>,
        /// Which of two actors appends.
        actor: u8,
        /// Which of two commands it is (the fingerprint), if it states one.
        command: Option<u8>,
    },
    ReadStream {
        stream: u8,
        from: u64,
        backward: bool,
        limit: usize,
    },
    ReadAll {
        from: u64,
        limit: usize,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let expected = prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        (0u64..6).prop_map(ExpectedVersion::Exact),
    ];
    prop_oneof![
        6 => (
            (0u8..3, expected, 1u8..4),
            (proptest::option::of(0u8..4), 0u8..2, proptest::option::of(0u8..2)),
        )
            .prop_map(|((stream, expected, count), (key, actor, command))| Op::Append {
                stream,
                expected,
                count,
                key,
                actor,
                command,
            }),
        2 => (0u8..4, 0u64..8, any::<bool>(), 1usize..6).prop_map(
            |(stream, from, backward, limit)| Op::ReadStream { stream, from, backward, limit }
        ),
        2 => (0u64..25, 1usize..12).prop_map(|(from, limit)| Op::ReadAll { from, limit }),
        1 => Just(Op::Reopen),
    ]
}

/// What the model keeps of an event: enough to compare every caller-visible field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    seq: u64,
    stream: String,
    version: u64,
    payload: Vec<u8>,
    key: Option<String>,
}

impl From<&RecordedEvent> for Seen {
    fn from(e: &RecordedEvent) -> Seen {
        Seen {
            seq: e.seq,
            stream: e.stream.to_string(),
            version: e.version,
            payload: e.payload.clone(),
            key: e.idempotency_key.clone(),
        }
    }
}

/// First and last sequence number, first and last version.
type Positions = (u64, u64, u64, u64);

#[derive(Default)]
struct Model {
    log: Vec<Seen>,
    streams: BTreeMap<String, Vec<usize>>,
    /// (actor, key) -> stream, receipt and the command's fingerprint.
    keys: BTreeMap<(u8, String), (String, Positions, Option<u8>)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Committed((u64, u64, u64, u64)),
    Replayed((u64, u64, u64, u64)),
    Conflict(u64),
    Reused(String),
    Mismatch((u64, u64, u64, u64)),
}

fn positions(r: &Receipt) -> (u64, u64, u64, u64) {
    (r.first_seq, r.last_seq, r.first_version, r.last_version)
}

impl Model {
    fn append(
        &mut self,
        name: &str,
        expected: ExpectedVersion,
        payloads: &[u64],
        key: Option<String>,
        actor: u8,
        command: Option<u8>,
    ) -> Outcome {
        if let Some((original, receipt, first)) = key
            .as_ref()
            .and_then(|k| self.keys.get(&(actor, k.clone())))
        {
            return if original != name {
                Outcome::Reused(original.clone())
            } else if first.is_some() && command.is_some() && *first != command {
                Outcome::Mismatch(*receipt)
            } else {
                Outcome::Replayed(*receipt)
            };
        }
        let actual = self.streams.get(name).map_or(0, |s| s.len() as u64);
        if !expected.admits(actual) {
            return Outcome::Conflict(actual);
        }
        let first_seq = self.log.len() as u64 + 1;
        for (i, p) in payloads.iter().enumerate() {
            self.streams
                .entry(name.into())
                .or_default()
                .push(self.log.len());
            self.log.push(Seen {
                seq: self.log.len() as u64 + 1,
                stream: name.into(),
                version: actual + 1 + i as u64,
                payload: p.to_be_bytes().to_vec(),
                key: key.clone(),
            });
        }
        let n = payloads.len() as u64;
        let receipt = (first_seq, first_seq + n - 1, actual + 1, actual + n);
        if let Some(k) = key {
            self.keys
                .insert((actor, k), (name.into(), receipt, command));
        }
        Outcome::Committed(receipt)
    }

    fn read_stream(&self, name: &str, from: u64, backward: bool, limit: usize) -> Vec<Seen> {
        let events = self.streams.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
        let events = events.iter().map(|i| self.log[*i].clone());
        if backward {
            events
                .rev()
                .filter(|e| e.version <= from)
                .take(limit)
                .collect()
        } else {
            events.filter(|e| e.version >= from).take(limit).collect()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_in_memory_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let mut model = Model::default();
        let mut payload = 0u64;
        for op in ops {
            match op {
                Op::Append { stream: s, expected, count, key, actor, command } => {
                    let name = format!("s{s}");
                    let payloads: Vec<u64> = (0..count as u64).map(|i| payload + i).collect();
                    payload += count as u64;
                    let key = key.map(|k| format!("key-{k}"));
                    let mut req = super::request_by(&format!("actor-{actor}"), &name, expected, &payloads);
                    if let Some(k) = &key {
                        req = req.with_idempotency_key(k.clone()).unwrap();
                    }
                    if let Some(c) = command {
                        req = req.with_fingerprint([c; 32]);
                    }
                    let got = match store.append_blocking(req).unwrap() {
                        AppendOutcome::Committed(r) => Outcome::Committed(positions(&r)),
                        AppendOutcome::Replayed(r) => Outcome::Replayed(positions(&r)),
                        AppendOutcome::Conflict { actual, .. } => Outcome::Conflict(actual),
                        AppendOutcome::IdempotencyKeyReused { original_stream } => {
                            Outcome::Reused(original_stream.to_string())
                        }
                        AppendOutcome::IdempotencyKeyMismatch { original } => {
                            Outcome::Mismatch(positions(&original))
                        }
                    };
                    prop_assert_eq!(got, model.append(&name, expected, &payloads, key, actor, command));
                }
                Op::ReadStream { stream: s, from, backward, limit } => {
                    let name = format!("s{s}");
                    let dir = if backward { Direction::Backward } else { Direction::Forward };
                    let got: Vec<Seen> = store
                        .read_stream(&stream(&name), from, dir, limit)
                        .unwrap()
                        .iter()
                        .map(Seen::from)
                        .collect();
                    prop_assert_eq!(got, model.read_stream(&name, from, backward, limit));
                    prop_assert_eq!(
                        store.stream_version(&stream(&name)).unwrap(),
                        model.streams.get(&name).map_or(0, |v| v.len() as u64)
                    );
                }
                Op::ReadAll { from, limit } => {
                    let got: Vec<Seen> =
                        store.read_all(from, limit).unwrap().iter().map(Seen::from).collect();
                    let want: Vec<Seen> = model
                        .log
                        .iter()
                        .skip(from.saturating_sub(1) as usize)
                        .take(limit)
                        .cloned()
                        .collect();
                    prop_assert_eq!(got, want);
                }
                Op::Reopen => {
                    drop(store);
                    store = open(dir.path());
                }
            }
            prop_assert_eq!(store.head().seq, model.log.len() as u64);
        }
        let report = store.verify().unwrap();
        prop_assert!(report.is_intact(), "{:?}", report);
        prop_assert_eq!(report.events_checked, model.log.len() as u64);
    }
}
