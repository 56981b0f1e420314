//! What every command carries besides its own fields: who, when, and the server's now.

use crate::error::DomainError;
use crate::values::{Timestamp, UserId};

/// How far in the future a stated business time may lie (clock skew of a phone, say).
pub const FUTURE_TOLERANCE_MICROS: i64 = 5 * 60 * 1_000_000;

/// The circumstances of a command. The domain reads no clock: `now` comes from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Who issues the command (from the authenticated identity, never from input).
    pub actor: UserId,
    /// The business time the command states.
    pub occurred_at: Timestamp,
    /// The server's time when the command arrived.
    pub now: Timestamp,
}

impl Context {
    pub(crate) fn check_not_future(&self) -> Result<(), DomainError> {
        if self.occurred_at.0 > self.now.0.saturating_add(FUTURE_TOLERANCE_MICROS) {
            return Err(DomainError::OccurredInFuture {
                occurred_at: self.occurred_at,
                now: self.now,
            });
        }
        Ok(())
    }

    pub(crate) fn check_not_before(&self, start: Timestamp) -> Result<(), DomainError> {
        if self.occurred_at < start {
            return Err(DomainError::OccurredBeforeStart {
                occurred_at: self.occurred_at,
                start,
            });
        }
        Ok(())
    }
}
