//! The bulk path: many units of commands, on different streams, decided one by one by the
//! rules and appended in one group. For generators and imports that bring in many deals.

use dealtrail_domain::Timestamp;
use dealtrail_store::AppendOutcome;

use crate::command::{self, Command, Committed, Issued};
use crate::{Engine, EngineError, now};

/// One unit: what [`Engine::execute_batch`] takes.
pub type Unit = (Issued, Vec<(Option<Timestamp>, Command)>);

impl Engine {
    /// Runs many units as [`Engine::execute_batch`] would run each, and answers each at its
    /// place. Each unit is all or nothing and decided by the rules on the stored state of
    /// its stream. Units on streams that no other unit of the call writes to are decided
    /// together and appended in one group; an idempotency key is honoured as by
    /// `execute_batch`. The rest (a second unit on a stream, a unit with an expected version
    /// of its own, a unit that lost a race to another writer) run one after another
    /// through `execute_batch` afterwards. So units of one
    /// call must not depend on each other's events unless they share a stream.
    pub async fn execute_many(&self, units: Vec<Unit>) -> Vec<Result<Committed, EngineError>> {
        let now = now();
        let mut answers: Vec<Option<Result<Committed, EngineError>>> =
            (0..units.len()).map(|_| None).collect();
        let mut seen = std::collections::HashSet::new();
        let mut bulk = Vec::new();
        let mut later = Vec::new();
        for (i, unit) in units.into_iter().enumerate() {
            let plain = unit.0.expected.is_none();
            let stream = unit.1.first().map(|(_, c)| c.stream());
            match stream {
                Some(stream) if plain && seen.insert(stream) => bulk.push((i, unit)),
                _ => later.push((i, unit)),
            }
        }
        // Stripes in ascending order, each once, so that two bulk calls cannot deadlock.
        let mut stripes: Vec<usize> = bulk
            .iter()
            .filter_map(|(_, (_, steps))| steps.first().map(|(_, c)| self.stripe_of(c)))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut turns = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            turns.push(self.stripes[stripe].lock().await);
        }
        let mut requests = Vec::new();
        let mut sent = Vec::new();
        for (i, unit) in bulk {
            match command::prepare(&self.store, &self.caches, now, &unit.0, &unit.1) {
                Ok(command::Prepared::Append(request)) => {
                    requests.push(request);
                    sent.push((i, unit));
                }
                Ok(command::Prepared::Answered(earlier)) => answers[i] = Some(Ok(earlier)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        if !requests.is_empty() {
            match self.store.append_many(requests).await {
                Ok(outcomes) => {
                    for ((i, unit), outcome) in sent.into_iter().zip(outcomes) {
                        answers[i] = match outcome {
                            Ok(AppendOutcome::Committed(receipt)) => {
                                Some(command::read_back(&self.store, receipt).map(|events| {
                                    Committed {
                                        receipt,
                                        events,
                                        replayed: false,
                                    }
                                }))
                            }
                            Ok(AppendOutcome::Replayed(receipt)) => {
                                Some(command::replayed(&self.store, receipt))
                            }
                            Ok(AppendOutcome::IdempotencyKeyReused { original_stream }) => {
                                Some(Err(EngineError::IdempotencyKeyReused { original_stream }))
                            }
                            Ok(AppendOutcome::IdempotencyKeyMismatch { original }) => {
                                Some(Err(EngineError::IdempotencyKeyMismatch {
                                    first_seq: original.first_seq,
                                }))
                            }
                            // Another writer moved the stream since it was read: decide again.
                            Ok(AppendOutcome::Conflict { .. }) => {
                                later.push((i, unit));
                                None
                            }
                            Err(e) => Some(Err(self.failed(e.into()))),
                        };
                    }
                }
                // The writer is gone: none of them was answered.
                Err(_) => {
                    for (i, _) in sent {
                        answers[i] = Some(Err(dealtrail_store::StoreError::Closed.into()));
                    }
                }
            }
        }
        drop(turns);
        later.sort_by_key(|(i, _)| *i);
        for (i, (issued, steps)) in later {
            answers[i] = Some(self.execute_batch(issued, steps).await);
        }
        let last = answers
            .iter()
            .filter_map(|a| a.as_ref()?.as_ref().ok().map(|c| c.receipt.last_seq))
            .max();
        // Read-your-writes, as for every command: the read models have applied them all.
        if let Some(last) = last
            && self.wait_for_models(last).await.is_err()
        {
            return answers
                .iter()
                .map(|_| Err(EngineError::ShuttingDown))
                .collect();
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(EngineError::ShuttingDown)))
            .collect()
    }
}
