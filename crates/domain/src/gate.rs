//! Stage gates: the evidence a deal must show to enter a stage, as data of the pipeline.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::pipeline::StageName;
use crate::vocab::{BuyingRole, RecordKind};

/// One thing a deal can show. Written `engaged:<buying role>`, `record:<record kind>`,
/// `bid` or `follow_up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Evidence {
    /// A contact engaged in the deal in this buying role.
    Engaged(BuyingRole),
    /// A presales, engineering, support or management record of this kind.
    Record(RecordKind),
    /// A bid was submitted.
    Bid,
    /// A follow-up was logged.
    FollowUp,
}

impl Evidence {
    /// Parses the written form; the error names the forms allowed.
    pub fn parse(s: &str) -> Result<Evidence, FieldError> {
        let bad = || FieldError::Evidence { value: s.into() };
        let t = s.trim();
        match t.split_once(':') {
            Some(("engaged", role)) => BuyingRole::parse(role)
                .map(Evidence::Engaged)
                .ok_or_else(bad),
            Some(("record", kind)) => RecordKind::parse(kind)
                .map(Evidence::Record)
                .ok_or_else(bad),
            None if t == "bid" => Ok(Evidence::Bid),
            None if t == "follow_up" => Ok(Evidence::FollowUp),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Engaged(r) => write!(f, "engaged:{r}"),
            Evidence::Record(k) => write!(f, "record:{k}"),
            Evidence::Bid => f.write_str("bid"),
            Evidence::FollowUp => f.write_str("follow_up"),
        }
    }
}

impl TryFrom<String> for Evidence {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Evidence, FieldError> {
        Evidence::parse(&s)
    }
}

impl From<Evidence> for String {
    fn from(e: Evidence) -> String {
        e.to_string()
    }
}

/// What happens when a deal lacks a gate's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// The stage change is refused, naming what is missing.
    Hard,
    /// The stage change is recorded with what was missing: a finding.
    Soft,
}

impl Enforcement {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Hard => "hard",
            Enforcement::Soft => "soft",
        }
    }
}

/// The evidence needed to enter one stage. Every requirement must be met; a requirement is
/// met by any one of its alternatives (`record:demo|record:proof_of_concept`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageGate {
    /// The stage guarded.
    pub stage: StageName,
    /// The requirements, each a non-empty list of alternatives.
    pub requires: Vec<Vec<Evidence>>,
    /// Refuse or record.
    pub enforcement: Enforcement,
}

impl StageGate {
    /// The requirements `shown` does not meet, each written as its alternatives joined by `|`.
    pub fn missing(&self, shown: &BTreeSet<Evidence>) -> Vec<String> {
        self.requires
            .iter()
            .filter(|alternatives| !alternatives.iter().any(|e| shown.contains(e)))
            .map(|alternatives| requirement_text(alternatives))
            .collect()
    }
}

/// A requirement as written: its alternatives joined by `|`.
pub fn requirement_text(alternatives: &[Evidence]) -> String {
    alternatives
        .iter()
        .map(Evidence::to_string)
        .collect::<Vec<_>>()
        .join("|")
}

/// Parses a requirement written as alternatives joined by `|`.
pub fn parse_requirement(s: &str) -> Result<Vec<Evidence>, FieldError> {
    s.split('|').map(Evidence::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_back_what_it_writes() {
        for text in [
            "engaged:decision_maker",
            "record:solution_design",
            "record:proof_of_concept",
            "bid",
            "follow_up",
        ] {
            assert_eq!(Evidence::parse(text).unwrap().to_string(), text);
        }
        for bad in ["engaged:ceo", "record", "bids", "demo", ""] {
            assert!(Evidence::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_requirement_is_met_by_any_alternative() {
        let gate = StageGate {
            stage: StageName::parse("Negotiation").unwrap(),
            requires: vec![
                parse_requirement("record:demo|record:proof_of_concept").unwrap(),
                vec![Evidence::Bid],
            ],
            enforcement: Enforcement::Hard,
        };
        let poc = BTreeSet::from([Evidence::Record(RecordKind::ProofOfConcept)]);
        assert_eq!(gate.missing(&poc), vec!["bid".to_string()]);
        let both = BTreeSet::from([Evidence::Record(RecordKind::Demo), Evidence::Bid]);
        assert!(gate.missing(&both).is_empty());
        assert_eq!(gate.missing(&BTreeSet::new()).len(), 2);
    }
}
