//! Filtered reads of the global log, for auditors and analysts.
//!
//! A stream filter uses the stream's own index; a recorded-time range becomes a sequence
//! range by binary search (recorded time never decreases along the log). Event type and actor
//! filters are a **scan** of the sequence range: each call examines at most
//! [`MAX_SCAN_PER_PAGE`] events and hands back a cursor to continue from.

use std::collections::BTreeSet;

use crate::error::StoreError;
use crate::store::Store;
use crate::types::{Direction, RecordedEvent, StreamId, Timestamp};

/// Most events one filtered read examines before it returns with a cursor.
pub const MAX_SCAN_PER_PAGE: usize = 100_000;

/// Which events of the log to return; every field narrows the selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this stream.
    pub stream: Option<StreamId>,
    /// Only these event types (empty: all).
    pub event_types: BTreeSet<String>,
    /// Only events recorded by this actor.
    pub actor: Option<String>,
    /// Only events recorded at or after this time.
    pub recorded_from: Option<Timestamp>,
    /// Only events recorded strictly before this time.
    pub recorded_until: Option<Timestamp>,
    /// Only sequence numbers at or below this.
    pub to_seq: Option<u64>,
}

impl LogFilter {
    /// Whether one event passes the filter.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.stream.as_ref().is_none_or(|s| *s == event.stream)
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && self.actor.as_ref().is_none_or(|a| *a == event.actor)
            && self.recorded_from.is_none_or(|t| event.recorded_at >= t)
            && self.recorded_until.is_none_or(|t| event.recorded_at < t)
            && self.to_seq.is_none_or(|s| event.seq <= s)
    }
}

/// One page of a filtered read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The matching events, in log order.
    pub events: Vec<RecordedEvent>,
    /// Where to continue (pass it as `from_seq`), or `None` when the range is exhausted.
    pub next_seq: Option<u64>,
}

impl Store {
    /// Up to `limit` events from `from_seq` on that pass `filter`, in log order.
    pub fn read_log(
        &self,
        filter: &LogFilter,
        from_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let mut lo = from_seq.max(1);
        let mut hi = self.durable_seq();
        if let Some(to) = filter.to_seq {
            hi = hi.min(to);
        }
        if let Some(t) = filter.recorded_from {
            lo = lo.max(self.seq_recorded_by(Timestamp(t.0.saturating_sub(1)))? + 1);
        }
        if let Some(t) = filter.recorded_until {
            hi = hi.min(self.seq_recorded_by(Timestamp(t.0.saturating_sub(1)))?);
        }
        let mut events = Vec::new();
        if lo > hi || limit == 0 {
            let next_seq = (lo <= hi).then_some(lo);
            return Ok(Page { events, next_seq });
        }
        if let Some(stream) = &filter.stream {
            return self.read_log_in_stream(stream, filter, lo, hi, limit);
        }
        let mut next = lo;
        for item in self.iter_from(lo).take_while(|e| match e {
            Ok(e) => e.seq <= hi,
            Err(_) => true,
        }) {
            let event = item?;
            next = event.seq + 1;
            if filter.matches(&event) {
                events.push(event);
                if events.len() >= limit {
                    break;
                }
            }
            if next - lo >= MAX_SCAN_PER_PAGE as u64 {
                break;
            }
        }
        Ok(Page {
            events,
            next_seq: (next <= hi).then_some(next),
        })
    }

    fn read_log_in_stream(
        &self,
        stream: &StreamId,
        filter: &LogFilter,
        lo: u64,
        hi: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        const CHUNK: usize = 1_024;
        let mut events = Vec::new();
        let mut version = 1;
        loop {
            let chunk = self.read_stream(stream, version, Direction::Forward, CHUNK)?;
            let done = chunk.len() < CHUNK;
            for event in chunk {
                version = event.version + 1;
                if event.seq > hi {
                    return Ok(Page {
                        events,
                        next_seq: None,
                    });
                }
                if event.seq >= lo && filter.matches(&event) {
                    if events.len() >= limit {
                        return Ok(Page {
                            next_seq: Some(event.seq),
                            events,
                        });
                    }
                    events.push(event);
                }
            }
            if done {
                return Ok(Page {
                    events,
                    next_seq: None,
                });
            }
        }
    }
}
