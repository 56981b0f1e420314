//! Per-token budgets: each token spends the cost of its requests from a bucket that refills
//! over time, so that one client in a loop cannot take the server from everyone else.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::{Identity, Role};

/// How much a token of one role may spend: a bucket of `capacity`, refilled by `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most a token can have in hand (and so spend in a burst).
    pub capacity: u64,
    /// What flows back each second.
    pub per_second: u64,
}

impl Budget {
    /// Parses `CAPACITY/PER_SECOND` (`20000/500`).
    pub fn parse(s: &str) -> Option<Budget> {
        let (capacity, per_second) = s.split_once('/')?;
        Some(Budget {
            capacity: capacity.trim().parse().ok()?,
            per_second: per_second.trim().parse().ok()?,
        })
    }
}

/// The budgets of every role when the operator states none: people who read analyses get
/// more than the writers' front-ends and scripts.
pub fn default_budgets() -> BTreeMap<Role, Budget> {
    Role::ALL
        .into_iter()
        .map(|role| {
            let budget = match role {
                Role::Admin | Role::Analyst | Role::Manager | Role::Auditor => Budget {
                    capacity: 100_000,
                    per_second: 2_000,
                },
                _ => Budget {
                    capacity: 30_000,
                    per_second: 500,
                },
            };
            (role, budget)
        })
        .collect()
}

/// The buckets of the tokens seen so far.
pub struct Budgets {
    by_role: BTreeMap<Role, Budget>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// What is left after a charge, or how long until the charge would pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Charge {
    /// Charged; this much is left, of `capacity`.
    Done {
        /// Left in the bucket.
        remaining: u64,
        /// The bucket's size.
        capacity: u64,
    },
    /// Not charged: the bucket holds less than the cost.
    Refused {
        /// When enough will have flowed back.
        retry_after: Duration,
        /// Left in the bucket.
        remaining: u64,
        /// The bucket's size.
        capacity: u64,
    },
}

impl Budgets {
    /// Buckets with these budgets per role (roles not named get the default).
    pub fn new(by_role: BTreeMap<Role, Budget>) -> Budgets {
        let mut all = default_budgets();
        all.extend(by_role);
        Budgets {
            by_role: all,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends `cost` from the caller's bucket if it holds that much.
    pub fn charge(&self, who: &Identity, cost: u64) -> Charge {
        let Some(budget) = self.by_role.get(&who.role).copied() else {
            return Charge::Done {
                remaining: 0,
                capacity: 0,
            };
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (level, last) = buckets
            .entry(who.user.to_string())
            .or_insert((budget.capacity as f64, now));
        let refilled = now.duration_since(*last).as_secs_f64() * budget.per_second as f64;
        *level = (*level + refilled).min(budget.capacity as f64);
        *last = now;
        let cost = cost as f64;
        if cost <= *level {
            *level -= cost;
            Charge::Done {
                remaining: *level as u64,
                capacity: budget.capacity,
            }
        } else {
            let wait = if budget.per_second == 0 {
                Duration::from_secs(3600)
            } else {
                Duration::from_secs_f64((cost - *level) / budget.per_second as f64)
            };
            Charge::Refused {
                retry_after: wait,
                remaining: *level as u64,
                capacity: budget.capacity,
            }
        }
    }

    /// Gives back what a request was charged beyond what it turned out to cost (a page
    /// shorter than asked for), up to the bucket's size; returns what is left.
    pub fn refund(&self, who: &Identity, amount: u64) -> Option<u64> {
        let budget = self.by_role.get(&who.role).copied()?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (level, _) = buckets.get_mut(who.user.as_str())?;
        *level = (*level + amount as f64).min(budget.capacity as f64);
        Some(*level as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep() -> Identity {
        Identity {
            user: dealtrail_domain::UserId::parse("anna").unwrap(),
            role: Role::Sales,
        }
    }

    #[test]
    fn a_bucket_is_spent_then_refuses_and_says_how_long_to_wait() {
        let mut roles = BTreeMap::new();
        roles.insert(
            Role::Sales,
            Budget {
                capacity: 100,
                per_second: 10,
            },
        );
        let budgets = Budgets::new(roles);
        assert!(matches!(
            budgets.charge(&rep(), 60),
            Charge::Done {
                remaining: 40,
                capacity: 100
            }
        ));
        match budgets.charge(&rep(), 60) {
            Charge::Refused { retry_after, .. } => {
                assert!(
                    retry_after > Duration::from_millis(1900)
                        && retry_after <= Duration::from_secs(2)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(budgets.refund(&rep(), 30), Some(70));
        assert_eq!(
            budgets.refund(&rep(), 1_000),
            Some(100),
            "never past the capacity"
        );
        assert_eq!(
            Budget::parse("20000/500"),
            Some(Budget {
                capacity: 20_000,
                per_second: 500
            })
        );
        assert_eq!(Budget::parse("20000"), None);
    }
}
