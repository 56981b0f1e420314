//! Customers classified by business outcome: the customer's own trend (growing, stable,
//! declining), crossed with the value it brings (purchases) and the strength of the
//! relationship (coverage, concentration, recency). Thresholds are in `docs/analytics.md`.

use std::collections::BTreeSet;

use dealtrail_domain::{Date, Names, Period, Timestamp};
use serde::{Deserialize, Serialize};

use crate::AccountProfile;

/// The customer's business result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Revenue (or, without it, headcount) up by the growth threshold or more.
    Growing,
    /// Within the threshold either way.
    Stable,
    /// Down by the threshold or more.
    Declining,
    /// Fewer than two comparable periods recorded.
    Unknown,
}

/// What the customer bought from us in the last twelve months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// At least the high threshold.
    High,
    /// At least the medium threshold.
    Medium,
    /// Something, below the medium threshold.
    Low,
    /// Nothing.
    None,
}

/// How strong our relationship with the customer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// All three of coverage, spread and recency.
    Strong,
    /// Two of them.
    Moderate,
    /// One or none.
    Weak,
}

macro_rules! names {
    ($t:ty { $($v:ident = $s:literal),+ }) => {
        impl $t {
            /// Every value.
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];
            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }
            /// Parses the stable name.
            pub fn parse(s: &str) -> Option<$t> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s.trim())
            }
        }
    };
}
names!(Trend { Growing = "growing", Stable = "stable", Declining = "declining", Unknown = "unknown" });
names!(Value { High = "high", Medium = "medium", Low = "low", None = "none" });
names!(Relationship { Strong = "strong", Moderate = "moderate", Weak = "weak" });

/// The thresholds of the classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentConfig {
    /// A change of at least this share is growth or decline.
    pub growth: f64,
    /// Twelve-month purchases (minor units) from which value is high.
    pub high_value_minor: i64,
    /// Twelve-month purchases (minor units) from which value is medium.
    pub medium_value_minor: i64,
    /// Coverage: distinct buying roles among contacts still at the customer.
    pub min_roles: usize,
    /// Spread: the top rep's share of follow-ups at most this.
    pub max_top_share: f64,
    /// Recency: a follow-up within this many days.
    pub recent_days: i64,
}

impl Default for SegmentConfig {
    fn default() -> SegmentConfig {
        SegmentConfig {
            growth: 0.05,
            high_value_minor: 100_000 * 100,
            medium_value_minor: 10_000 * 100,
            min_roles: 3,
            max_top_share: 0.8,
            recent_days: 90,
        }
    }
}

/// An account's segment and the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The business trend.
    pub trend: Trend,
    /// The two periods compared and the relative change, when there are two.
    pub compared: Option<(Period, Period, f64)>,
    /// The value brought.
    pub value: Value,
    /// Purchases in the twelve months before the moment (minor units, all currencies
    /// added as recorded).
    pub purchases_minor: i64,
    /// The relationship's strength.
    pub relationship: Relationship,
    /// Distinct buying roles among current contacts.
    pub roles: usize,
    /// The top rep's share of follow-ups.
    pub top_share: Option<f64>,
    /// The latest follow-up by the moment.
    pub last_follow_up: Option<Timestamp>,
}

/// The same period one year earlier.
fn year_before(p: Period) -> Period {
    match p {
        Period::Year(y) => Period::Year(y - 1),
        Period::Quarter(y, q) => Period::Quarter(y - 1, q),
        Period::Month(y, m) => Period::Month(y - 1, m),
    }
}

fn same_kind(a: Period, b: Period) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

/// The latest period with a figure against the same period a year before, or else the
/// latest earlier period of its kind: `(earlier, later, change)`.
fn compare(figures: &[(Period, i64)]) -> Option<(Period, Period, f64)> {
    let (latest, now) = *figures.iter().max_by_key(|(p, _)| (p.start(), *p))?;
    let find = |p: Period| figures.iter().find(|(q, _)| *q == p).map(|f| f.1);
    let (before, then) = match find(year_before(latest)) {
        Some(v) => (year_before(latest), v),
        None => *figures
            .iter()
            .filter(|(p, _)| same_kind(*p, latest) && p.start() < latest.start())
            .max_by_key(|(p, _)| p.start())?,
    };
    if then == 0 {
        return None;
    }
    Some((before, latest, (now - then) as f64 / then.abs() as f64))
}

impl AccountProfile {
    /// The account's segment at `now` (`names`: the profiles' rep names).
    pub fn segment(&self, names: &Names, config: &SegmentConfig, now: Timestamp) -> Segment {
        let revenue: Vec<(Period, i64)> = self
            .indicators
            .values()
            .filter_map(|(p, r, _)| r.map(|r| (*p, r)))
            .collect();
        let headcount: Vec<(Period, i64)> = self
            .indicators
            .values()
            .filter_map(|(p, _, h)| h.map(|h| (*p, i64::from(h))))
            .collect();
        let compared = compare(&revenue).or_else(|| compare(&headcount));
        let trend = match compared {
            None => Trend::Unknown,
            Some((_, _, c)) if c >= config.growth => Trend::Growing,
            Some((_, _, c)) if c <= -config.growth => Trend::Declining,
            Some(_) => Trend::Stable,
        };
        let today = now.date();
        let year_ago = Date(today.0 - 365);
        let purchases_minor: i64 = self
            .purchases
            .iter()
            .filter(|(seq, _)| {
                self.purchased_on
                    .get(seq)
                    .is_some_and(|d| *d > year_ago && *d <= today)
            })
            .map(|(_, p)| p.2)
            .sum();
        let value = if purchases_minor >= config.high_value_minor {
            Value::High
        } else if purchases_minor >= config.medium_value_minor {
            Value::Medium
        } else if purchases_minor > 0 {
            Value::Low
        } else {
            Value::None
        };
        let roles = self
            .contacts
            .values()
            .filter(|c| !c.1)
            .map(|c| c.0)
            .collect::<BTreeSet<_>>()
            .len();
        let top_share = self.concentration(names).follow_up_share;
        let last_follow_up = self
            .follow_ups
            .iter()
            .map(|f| f.2)
            .filter(|t| *t <= now)
            .max();
        let points = [
            roles >= config.min_roles,
            top_share.is_some_and(|s| s <= config.max_top_share),
            last_follow_up.is_some_and(|t| t.days_until(now) <= config.recent_days),
        ]
        .into_iter()
        .filter(|p| *p)
        .count();
        let relationship = match points {
            3 => Relationship::Strong,
            2 => Relationship::Moderate,
            _ => Relationship::Weak,
        };
        Segment {
            trend,
            compared,
            value,
            purchases_minor,
            relationship,
            roles,
            top_share,
            last_follow_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_compared_with_the_year_before_or_else_the_one_before() {
        let q = |y, n| Period::Quarter(y, n);
        let yoy = compare(&[(q(2024, 3), 100), (q(2025, 2), 90), (q(2025, 3), 110)]).unwrap();
        assert_eq!((yoy.0, yoy.1), (q(2024, 3), q(2025, 3)));
        assert!((yoy.2 - 0.10).abs() < 1e-9);
        let sequential = compare(&[(q(2025, 2), 100), (q(2025, 3), 90)]).unwrap();
        assert!((sequential.2 + 0.10).abs() < 1e-9);
        // Years are not compared with quarters.
        assert_eq!(
            compare(&[(Period::Year(2024), 400), (q(2025, 1), 90)]),
            None
        );
        assert_eq!(compare(&[(q(2025, 1), 90)]), None);
    }
}
