//! Subscriptions: catch-up from a sequence number, then live, in order, without gaps.
//!
//! A subscription never receives events pushed by the writer. The writer only announces the
//! new durable head on a `watch` channel (which never blocks it and keeps only the latest
//! value); the subscription then reads what it has not seen from the log itself. Catch-up and
//! live are therefore the same loop, so nothing can be skipped or delivered twice at the
//! switch, and a slow subscriber simply reads further behind without holding anyone up.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::StoreError;
use crate::query::LogFilter;
use crate::read::decode_at;
use crate::store::{Shared, Store};
use crate::types::RecordedEvent;

/// Events read from the log per refill of a subscription's buffer.
const PAGE: u64 = 512;

/// A live, ordered feed of the log; see [`Store::subscribe`].
pub struct Subscription {
    shared: Arc<Shared>,
    head: watch::Receiver<u64>,
    next_seq: u64,
    filter: LogFilter,
    buffer: VecDeque<RecordedEvent>,
}

impl Store {
    /// Every event from `from_seq` on that passes `filter`: first those already in the log,
    /// then each new one as soon as it is durable.
    pub fn subscribe(&self, from_seq: u64, filter: LogFilter) -> Subscription {
        Subscription {
            shared: self.shared().clone(),
            head: self.head_watch(),
            next_seq: from_seq.max(1),
            filter,
            buffer: VecDeque::new(),
        }
    }
}

impl Subscription {
    /// The next event, waiting for it if needed; `None` once the store is closed and every
    /// durable event has been delivered.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            let durable = *self.head.borrow_and_update();
            if self.next_seq <= durable {
                if let Err(e) = self.refill(durable) {
                    return Some(Err(e));
                }
                continue;
            }
            if self.head.changed().await.is_err() {
                // The writer is gone; deliver whatever became durable before it stopped.
                let durable = *self.head.borrow();
                if self.next_seq > durable {
                    return None;
                }
            }
        }
    }

    /// The sequence number the subscription will deliver (or skip, if filtered) next.
    pub fn position(&self) -> u64 {
        self.next_seq
    }

    fn refill(&mut self, durable: u64) -> Result<(), StoreError> {
        let end = durable.min(self.next_seq + PAGE - 1);
        let (next_seq, filter, buffer) = (&mut self.next_seq, &self.filter, &mut self.buffer);
        let shared = &self.shared;
        shared.for_each_record(*next_seq, end, |_, bytes| {
            let event = decode_at(bytes, *next_seq)?;
            *next_seq += 1;
            if filter.matches(&event) {
                buffer.push_back(event);
            }
            Ok::<_, StoreError>(())
        })?;
        if self.next_seq <= end {
            return Err(StoreError::corrupt(
                format!("seq {}", self.next_seq),
                "missing below the durable head",
            ));
        }
        Ok(())
    }
}
