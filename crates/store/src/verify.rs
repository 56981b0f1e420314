//! Verification: re-walk the whole log and prove it is intact, or name the first bad event.

use std::collections::HashMap;

use crate::audit::TreeHead;
use crate::blocks::{self, Layout};
use crate::codec;
use crate::error::StoreError;
use crate::store::Store;
use crate::tree::{self, Frontier, TreeHash};
use crate::types::{ChainHash, StreamId};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events walked before stopping.
    pub events_checked: u64,
    /// Streams whose heads were compared.
    pub streams_checked: u64,
    /// Hash of the last intact event.
    pub last_good_hash: ChainHash,
    /// The first problem, if any: the log is intact when this is `None`.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether the whole log verified.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first inconsistency found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The first bad sequence number (for a problem found after the walk, such as a stray
    /// index entry or a wrong chain head: the last event walked).
    pub seq: u64,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// The kinds of damage `verify` recognises.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// A sequence number is missing from the log.
    #[error("sequence gap: expected {expected}, found {found}")]
    Gap {
        /// The sequence number that should come next.
        expected: u64,
        /// The one found instead.
        found: u64,
    },
    /// The record cannot be decoded.
    #[error("undecodable record: {0}")]
    Undecodable(String),
    /// The record's stored hash is not the hash of its bytes: the record was altered.
    #[error("hash mismatch: the record's bytes were altered")]
    HashMismatch,
    /// The record links to a hash other than its predecessor's.
    #[error("chain broken: previous hash {found} where {expected} was expected")]
    ChainBroken {
        /// The predecessor's hash.
        expected: ChainHash,
        /// The hash the record links to.
        found: ChainHash,
    },
    /// The record's stream version does not follow the stream's previous event.
    #[error("stream {stream} version {found} where {expected} was expected")]
    StreamVersion {
        /// The stream.
        stream: StreamId,
        /// The version that should come next.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The stream index copy of the event is missing or differs from the log.
    #[error("stream index entry of {stream} version {version} is missing or differs")]
    StreamIndex {
        /// The stream.
        stream: StreamId,
        /// Its version.
        version: u64,
    },
    /// The stream index holds an entry the log does not.
    #[error("stream index has {extra} entries that are not in the log")]
    ExtraIndexEntries {
        /// How many.
        extra: u64,
    },
    /// An event's stream has no registered stream number.
    #[error("stream {stream} of this event is not registered")]
    UnknownStream {
        /// The stream.
        stream: StreamId,
    },
    /// The chain's head or counters disagree with the events.
    #[error("chain head or counters disagree with the events: {0}")]
    ChainHead(String),
    /// The stored Merkle tree (a subtree root or the tree head) is not the tree of the
    /// events.
    #[error("the stored Merkle tree disagrees with the events: {0}")]
    Tree(String),
    /// The log does not extend a tree head saved earlier: events were removed from its end,
    /// or rewritten.
    #[error("the log does not extend the saved head of {size} events: {detail}")]
    SavedHead {
        /// The saved head's size.
        size: u64,
        /// What differs.
        detail: String,
    },
    /// The database that holds the log of record disagrees with the folder that replicates
    /// it: an event missing, altered or added there, or its head moved.
    #[error("the database's log differs from the folder's: {0}")]
    Database(String),
    /// An idempotency record names an append the log does not hold.
    #[error("idempotency record {key:?} of {actor:?}: {detail}")]
    Idempotency {
        /// Whose key.
        actor: String,
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

impl Store {
    /// Walks every event: sequence density, each record's hash, the chain links, stream
    /// versions, the stream index copies, the stream heads and the chain head.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.verify_with_progress(|_| {})
    }

    /// [`Store::verify`], calling `progress` with each sequence number checked.
    pub fn verify_with_progress(
        &self,
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, StoreError> {
        self.verify_against(&[], progress)
    }

    /// [`Store::verify`], and that the log extends every head in `saved` (tree heads kept
    /// elsewhere): the root of its first `size` events is the saved root. That is what
    /// catches a cut or rewritten end, which leaves a log that is consistent in itself.
    /// With a database holding the log, the folder is checked this way and then compared
    /// with the database's copy, row by row (see [`ProblemKind::Database`]).
    pub fn verify_against(
        &self,
        saved: &[TreeHead],
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, StoreError> {
        let head = self.head();
        let mut report = self.verify_folder(saved, progress)?;
        if let (true, Some(url)) = (report.is_intact(), self.upstream_url()) {
            report.problem = crate::pg::compare(url, self, head)?;
        }
        Ok(report)
    }

    fn verify_folder(
        &self,
        saved: &[TreeHead],
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, StoreError> {
        let tree = &self.shared().tree;
        let mut report = VerifyReport {
            events_checked: 0,
            streams_checked: 0,
            last_good_hash: ChainHash::GENESIS,
            problem: None,
        };
        // stream -> (stream number, last version seen)
        let mut streams: HashMap<StreamId, (u64, u64)> = HashMap::new();
        let fail = |report: &mut VerifyReport, seq, kind| {
            report.problem = Some(Problem { seq, kind });
        };
        // Everything up to the durable head at the start is checked; appends that land
        // meanwhile are left for the next run.
        let head = self.head();
        if let Some(longest) = saved
            .iter()
            .filter(|h| h.size > head.seq)
            .max_by_key(|h| h.size)
        {
            let kind = ProblemKind::SavedHead {
                size: longest.size,
                detail: format!(
                    "the log has {} events: events were removed from its end",
                    head.seq
                ),
            };
            fail(&mut report, head.seq + 1, kind);
            return Ok(report);
        }
        let mut saved_at: HashMap<u64, Vec<TreeHash>> = HashMap::new();
        for h in saved {
            saved_at.entry(h.size).or_default().push(h.root);
        }
        if let Some(roots) = saved_at.get(&0)
            && roots.iter().any(|r| *r != tree::empty_root())
        {
            let kind = ProblemKind::SavedHead {
                size: 0,
                detail: "its root is not the empty tree's".into(),
            };
            fail(&mut report, 0, kind);
            return Ok(report);
        }
        let mut frontier = Frontier::default();
        let mut tree_problem: Option<String> = None;
        let mut expected_seq = 1u64;
        let layout = self.shared().layout;
        for item in layout.records(tree, 1, head.seq) {
            let (seq, bytes) = match item {
                Ok(found) => found,
                Err(StoreError::Corrupt { location, detail }) => {
                    let kind = ProblemKind::Undecodable(format!("{location}: {detail}"));
                    fail(&mut report, expected_seq, kind);
                    return Ok(report);
                }
                Err(e) => return Err(e),
            };
            if seq != expected_seq {
                fail(
                    &mut report,
                    expected_seq,
                    ProblemKind::Gap {
                        expected: expected_seq,
                        found: seq,
                    },
                );
                return Ok(report);
            }
            let event = match codec::decode_record(&bytes) {
                Ok(e) if e.seq == seq => e,
                Ok(e) => {
                    let kind = ProblemKind::Undecodable(format!("record says seq {}", e.seq));
                    fail(&mut report, seq, kind);
                    return Ok(report);
                }
                Err(e) => {
                    fail(&mut report, seq, ProblemKind::Undecodable(e));
                    return Ok(report);
                }
            };
            if !codec::record_hash_matches(&bytes) {
                fail(&mut report, seq, ProblemKind::HashMismatch);
                return Ok(report);
            }
            if event.prev_hash != report.last_good_hash {
                let kind = ProblemKind::ChainBroken {
                    expected: report.last_good_hash,
                    found: event.prev_hash,
                };
                fail(&mut report, seq, kind);
                return Ok(report);
            }
            let entry = match streams.get_mut(&event.stream) {
                Some(entry) => entry,
                None => {
                    let head = codec::load_stream_head(tree, self.shared().layout, &event.stream)?;
                    let Some(head) = head else {
                        let kind = ProblemKind::UnknownStream {
                            stream: event.stream.clone(),
                        };
                        fail(&mut report, seq, kind);
                        return Ok(report);
                    };
                    streams.entry(event.stream.clone()).or_insert((head.num, 0))
                }
            };
            if event.version != entry.1 + 1 {
                let kind = ProblemKind::StreamVersion {
                    stream: event.stream.clone(),
                    expected: entry.1 + 1,
                    found: event.version,
                };
                fail(&mut report, seq, kind);
                return Ok(report);
            }
            entry.1 = event.version;
            let indexed = match layout {
                Layout::Keys => {
                    let copy = tree.get(codec::stream_event_key(entry.0, event.version))?;
                    copy.as_deref() == Some(&bytes[..])
                }
                Layout::Blocks => blocks::position(tree, entry.0, event.version)? == Some(seq),
            };
            if !indexed {
                let kind = ProblemKind::StreamIndex {
                    stream: event.stream.clone(),
                    version: event.version,
                };
                fail(&mut report, seq, kind);
                return Ok(report);
            }
            // The tree: every stored subtree root is the root of the events it covers.
            frontier.push(tree::leaf_hash(&event.hash.0), |level, index, node| {
                if level >= tree::STORED_LEVEL && tree_problem.is_none() {
                    match tree.get(codec::tree_node_key(level, index)) {
                        Ok(Some(v)) if v.as_ref() == node => {}
                        Ok(_) => {
                            tree_problem = Some(format!(
                                "the root of subtree {index} at level {level} is missing or \
                                 differs"
                            ));
                        }
                        Err(e) => tree_problem = Some(e.to_string()),
                    }
                }
            });
            if let Some(detail) = tree_problem.take() {
                fail(&mut report, seq, ProblemKind::Tree(detail));
                return Ok(report);
            }
            if let Some(roots) = saved_at.get(&seq) {
                let root = frontier.root();
                if roots.iter().any(|r| *r != root) {
                    let kind = ProblemKind::SavedHead {
                        size: seq,
                        detail: "the root of the log's first events differs: events up to \
                                 there were rewritten"
                            .into(),
                    };
                    fail(&mut report, seq, kind);
                    return Ok(report);
                }
            }
            report.last_good_hash = event.hash;
            report.events_checked = seq;
            progress(seq);
            expected_seq += 1;
        }
        let last_seq = expected_seq - 1;
        if last_seq < head.seq {
            let kind = ProblemKind::Gap {
                expected: expected_seq,
                found: 0,
            };
            fail(&mut report, expected_seq, kind);
            return Ok(report);
        }

        // Index entries past what the walk covered are only allowed for events written after
        // verification began.
        let walked: HashMap<u64, u64> = streams.values().copied().collect();
        let mut extra = match layout {
            Layout::Keys => 0,
            Layout::Blocks => self.extra_positions(&walked, head.seq)?,
        };
        for item in tree.scan_prefix([codec::STREAM_EVENT]) {
            let (key, bytes) = item?;
            let num = codec::u64_at(&key, 1).unwrap_or(0);
            let version = codec::u64_at(&key, 9).unwrap_or(0);
            if walked.get(&num).is_some_and(|v| version <= *v) {
                continue;
            }
            // Appended after the walk began: then its log entry exists and is identical.
            let appended_since = match codec::decode_record(&bytes) {
                Ok(e) if e.seq > head.seq => {
                    tree.get(codec::event_key(e.seq))?.as_deref() == Some(&bytes[..])
                }
                _ => false,
            };
            if !appended_since {
                extra += 1;
            }
        }
        if extra > 0 {
            fail(
                &mut report,
                last_seq,
                ProblemKind::ExtraIndexEntries { extra },
            );
            return Ok(report);
        }
        let mut nums = HashMap::new();
        for key in tree.scan_prefix([codec::STREAM_HEAD]).keys() {
            let key = key?;
            report.streams_checked += 1;
            let value = tree.get(&key)?.unwrap_or_default();
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let walked_stream = StreamId::parse(&name)
                .ok()
                .and_then(|id| streams.get(&id).copied());
            match walked_stream {
                Some((num, _)) if value.as_ref() != num.to_be_bytes() => {
                    let kind = ProblemKind::ChainHead(format!(
                        "stream {name} is registered under another number than its events' "
                    ));
                    fail(&mut report, last_seq, kind);
                    return Ok(report);
                }
                None if self.head() == head => {
                    let kind = ProblemKind::ChainHead(format!(
                        "stream {name} is registered but has no events in the log"
                    ));
                    fail(&mut report, last_seq, kind);
                    return Ok(report);
                }
                _ => {}
            }
            if let Some(previous) = nums.insert(value.to_vec(), name.clone()) {
                let kind = ProblemKind::ChainHead(format!(
                    "streams {previous} and {name} share one stream number"
                ));
                fail(&mut report, last_seq, kind);
                return Ok(report);
            }
        }
        if report.last_good_hash != head.hash {
            let detail = format!(
                "head says seq {} hash {}, the log ends at seq {last_seq} hash {}",
                head.seq, head.hash, report.last_good_hash
            );
            fail(&mut report, last_seq, ProblemKind::ChainHead(detail));
            return Ok(report);
        }
        if head.root != frontier.root() {
            fail(
                &mut report,
                last_seq,
                ProblemKind::Tree("the tree head's root is not the root of the events".into()),
            );
            return Ok(report);
        }
        if let Some(kind) = self.check_idempotency(head.seq)? {
            fail(&mut report, last_seq, kind);
            return Ok(report);
        }
        // The stored tree head and the stream counter are only comparable when nothing was
        // appended meanwhile.
        if self.head() == head {
            let stored = codec::StoredTreeHead::read(tree)?;
            let expected = codec::StoredTreeHead {
                size: last_seq,
                root: frontier.root(),
                last_hash: report.last_good_hash,
            };
            if last_seq > 0 && stored != Some(expected) {
                let kind =
                    ProblemKind::Tree("the stored tree head is not the head of the events".into());
                fail(&mut report, last_seq, kind);
                return Ok(report);
            }
        }
        let counter = tree
            .get(codec::META_STREAMS)?
            .and_then(|v| codec::u64_at(&v, 0))
            .unwrap_or(0);
        if self.head() == head && counter != report.streams_checked {
            let detail = format!(
                "the stream counter says {counter} streams, {} are registered",
                report.streams_checked
            );
            fail(&mut report, last_seq, ProblemKind::ChainHead(detail));
        }
        Ok(report)
    }
}

impl Store {
    /// Positions (format 2) past the versions the walk covered that are not events appended
    /// since it began.
    fn extra_positions(&self, walked: &HashMap<u64, u64>, head: u64) -> Result<u64, StoreError> {
        let tree = &self.shared().tree;
        let layout = self.shared().layout;
        let mut extra = 0u64;
        for item in tree.scan_prefix([blocks::POSITIONS]) {
            let (key, value) = item?;
            let num = codec::u64_at(&key, 1).unwrap_or(0);
            let base = codec::u64_at(&key, 9).unwrap_or(0) * blocks::CHUNK;
            if value.len() % blocks::ENTRY != 0 {
                extra += 1;
            }
            for (i, blocks::Position { seq, block }) in blocks::entries(&value).enumerate() {
                let version = base + i as u64 + 1;
                let in_block = blocks::read_block(tree, seq)?.is_some_and(|b| b.first == block);
                if seq <= head && !in_block {
                    // A position that names the wrong block would make reads fail.
                    extra += 1;
                    continue;
                }
                if walked.get(&num).is_some_and(|v| version <= *v) {
                    continue;
                }
                // Appended after the walk began: then the record is that stream's version.
                let appended_since = seq > head
                    && layout
                        .record(tree, seq)?
                        .and_then(|r| codec::view_record(&r).ok().map(|v| v.version))
                        == Some(version);
                if !appended_since {
                    extra += 1;
                }
            }
        }
        Ok(extra)
    }

    /// Every idempotency record names an append of the log: its events exist up to the
    /// durable head, belong to the record's stream, carry the key, were written by the
    /// key's actor (for scoped records), and the receipt's versions and time are theirs.
    fn check_idempotency(&self, durable: u64) -> Result<Option<ProblemKind>, StoreError> {
        let tree = &self.shared().tree;
        for prefix in [codec::SCOPED_IDEMPOTENCY, codec::IDEMPOTENCY] {
            for item in tree.scan_prefix([prefix]) {
                let (key, value) = item?;
                let Some((actor, idem)) = codec::split_idempotency_key(&key) else {
                    return Ok(Some(ProblemKind::Idempotency {
                        actor: String::new(),
                        key: String::from_utf8_lossy(&key[1..]).into_owned(),
                        detail: "the key cannot be read".into(),
                    }));
                };
                let bad = |detail: String| {
                    Some(ProblemKind::Idempotency {
                        actor: actor.clone().unwrap_or_default(),
                        key: idem.clone(),
                        detail,
                    })
                };
                let record = match codec::IdempotencyRecord::decode(&value, &idem) {
                    Ok(r) => r,
                    Err(e) => return Ok(bad(e.to_string())),
                };
                let r = record.receipt;
                if r.first_seq > durable {
                    // Written by an append that is not durable yet.
                    continue;
                }
                if r.first_seq == 0
                    || r.last_seq < r.first_seq
                    || r.last_seq - r.first_seq != r.last_version.wrapping_sub(r.first_version)
                {
                    return Ok(bad(format!(
                        "its receipt {r:?} is not a range of one append"
                    )));
                }
                for seq in r.first_seq..=r.last_seq.min(durable) {
                    let Some(bytes) = self.shared().layout.record(tree, seq)? else {
                        return Ok(bad(format!("it names event {seq}, which is missing")));
                    };
                    let event = match codec::decode_record(&bytes) {
                        Ok(e) => e,
                        Err(e) => return Ok(bad(format!("event {seq}: {e}"))),
                    };
                    let version = r.first_version + (seq - r.first_seq);
                    let matches = event.stream == record.stream
                        && event.version == version
                        && event.recorded_at == r.recorded_at
                        && event.idempotency_key.as_deref() == Some(idem.as_str())
                        && actor.as_ref().is_none_or(|a| *a == event.actor);
                    if !matches {
                        return Ok(bad(format!(
                            "it names event {seq}, which is not that append's (stream, \
                             version, time, key or actor differ)"
                        )));
                    }
                }
            }
        }
        Ok(None)
    }
}
