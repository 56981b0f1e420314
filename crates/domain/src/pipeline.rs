//! The pipeline: ordered open stages and the outcomes that close a deal. Stages are data.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldError};
use crate::gate::StageGate;
use crate::vocab::Outcome;

/// The name of an open stage (`Qualified`, `Demo/POC`): 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageName(String);

impl StageName {
    /// Trims and collapses inner whitespace, so `" demo / poc "` and `"demo / poc"` agree.
    pub fn parse(s: impl AsRef<str>) -> Result<StageName, FieldError> {
        let collapsed = s.as_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = collapsed.chars().count();
        if chars == 0 || chars > 64 || collapsed.chars().any(char::is_control) {
            return Err(FieldError::Stage {
                value: s.as_ref().into(),
            });
        }
        Ok(StageName(collapsed))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name with case and spacing folded, for matching imported stage names.
    pub fn key(&self) -> String {
        self.0
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    }
}

impl TryFrom<String> for StageName {
    type Error = FieldError;
    fn try_from(s: String) -> Result<StageName, FieldError> {
        StageName::parse(s)
    }
}

impl From<StageName> for String {
    fn from(s: StageName) -> String {
        s.0
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pipeline definition: what `PipelineDefined` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Open stages in procurement order; a new deal starts in the first.
    pub stages: Vec<StageName>,
    /// Outcomes that close a deal.
    pub outcomes: Vec<Outcome>,
    /// The evidence some stages ask of a deal that enters them (none in older definitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<StageGate>,
}

impl Pipeline {
    /// Checks a definition: at least one stage, no duplicates (case- and space-insensitive),
    /// and both `won` and `lost` among the outcomes.
    pub fn new(stages: Vec<StageName>, outcomes: Vec<Outcome>) -> Result<Pipeline, DomainError> {
        let invalid = |reason: String| DomainError::InvalidPipeline { reason };
        if stages.is_empty() {
            return Err(invalid("it needs at least one open stage".into()));
        }
        let mut keys: Vec<String> = stages.iter().map(StageName::key).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("stage {:?} appears twice", pair[0])));
        }
        for needed in [Outcome::Won, Outcome::Lost] {
            if !outcomes.contains(&needed) {
                return Err(invalid(format!("outcome {needed} is missing")));
            }
        }
        let mut unique = outcomes.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != outcomes.len() {
            return Err(invalid("an outcome appears twice".into()));
        }
        Ok(Pipeline {
            stages,
            outcomes,
            gates: Vec::new(),
        })
    }

    /// The same pipeline with stage gates; each gate names a stage of it other than the
    /// first (deals open there without moving), at most one gate per stage, and every
    /// requirement has at least one alternative.
    pub fn with_gates(mut self, gates: Vec<StageGate>) -> Result<Pipeline, DomainError> {
        let invalid = |reason: String| DomainError::InvalidPipeline { reason };
        for (i, gate) in gates.iter().enumerate() {
            match self.position(&gate.stage) {
                None => return Err(invalid(format!("gate on {}: no such stage", gate.stage))),
                Some(0) => {
                    return Err(invalid(format!(
                        "gate on {}: deals open in the first stage, no move enters it",
                        gate.stage
                    )));
                }
                Some(_) => {}
            }
            if gates[..i].iter().any(|g| g.stage == gate.stage) {
                return Err(invalid(format!("stage {} has two gates", gate.stage)));
            }
            if gate.requires.is_empty() || gate.requires.iter().any(Vec::is_empty) {
                return Err(invalid(format!(
                    "gate on {}: every requirement needs at least one alternative",
                    gate.stage
                )));
            }
        }
        self.gates = gates;
        Ok(self)
    }

    /// The stages a move from `from` to `to` enters or passes over, in order: empty for a
    /// move back; only `to` when `from` is a stage this pipeline dropped. Their gates are
    /// the ones the move is judged against.
    pub fn entered(&self, from: &StageName, to: &StageName) -> &[StageName] {
        let Some(to) = self.position(to) else {
            return &[];
        };
        let first = self.position(from).map_or(to, |f| f + 1);
        if first > to {
            return &[];
        }
        &self.stages[first..=to]
    }

    /// The gate of a stage, if it has one.
    pub fn gate(&self, stage: &StageName) -> Option<&StageGate> {
        self.gates.iter().find(|g| &g.stage == stage)
    }

    /// The default B2B procurement pipeline: Lead → Qualified → Solution → Demo/POC → Bid →
    /// Negotiation, closed as won, lost, no decision or withdrawn.
    pub fn default_b2b() -> Pipeline {
        let stages = [
            "Lead",
            "Qualified",
            "Solution",
            "Demo/POC",
            "Bid",
            "Negotiation",
        ]
        .into_iter()
        .map(|s| StageName(s.to_owned()))
        .collect();
        Pipeline {
            stages,
            outcomes: Outcome::ALL.to_vec(),
            gates: Vec::new(),
        }
    }

    /// The stage a new deal starts in.
    pub fn first_stage(&self) -> &StageName {
        &self.stages[0]
    }

    /// Position of a stage (0-based), if it is in this pipeline.
    pub fn position(&self, stage: &StageName) -> Option<usize> {
        self.stages.iter().position(|s| s == stage)
    }

    /// Finds the stage whose name matches `name` ignoring case and spacing.
    pub fn find(&self, name: &str) -> Option<&StageName> {
        let key = StageName::parse(name).ok()?.key();
        self.stages.iter().find(|s| s.key() == key)
    }

    /// How a move from `from` to `to` travels along this pipeline.
    pub fn movement(&self, from: &StageName, to: &StageName) -> Movement {
        match (self.position(from), self.position(to)) {
            (Some(f), Some(t)) if t == f + 1 => Movement::Forward,
            (Some(f), Some(t)) if t > f => Movement::Skip {
                skipped: (t - f - 1) as u32,
            },
            (Some(f), Some(t)) => Movement::Backward { by: (f - t) as u32 },
            // The old stage was dropped by a redefinition: nothing to compare with.
            _ => Movement::Forward,
        }
    }
}

/// The direction of a stage change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Movement {
    /// To the next stage.
    Forward,
    /// Forward past `skipped` stages.
    Skip {
        /// Stages passed over.
        skipped: u32,
    },
    /// Back by `by` stages (a regression).
    Backward {
        /// Stages moved back.
        by: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(s: &str) -> StageName {
        StageName::parse(s).unwrap()
    }

    #[test]
    fn movements_are_classified_along_the_pipeline() {
        let p = Pipeline::default_b2b();
        assert_eq!(
            p.movement(&stage("Lead"), &stage("Qualified")),
            Movement::Forward
        );
        assert_eq!(
            p.movement(&stage("Lead"), &stage("Demo/POC")),
            Movement::Skip { skipped: 2 }
        );
        assert_eq!(
            p.movement(&stage("Bid"), &stage("Solution")),
            Movement::Backward { by: 2 }
        );
        assert_eq!(p.find(" demo/poc "), Some(&stage("Demo/POC")));
    }

    #[test]
    fn definitions_are_checked() {
        assert!(Pipeline::new(vec![], vec![Outcome::Won, Outcome::Lost]).is_err());
        assert!(
            Pipeline::new(
                vec![stage("A"), stage(" a ")],
                vec![Outcome::Won, Outcome::Lost]
            )
            .is_err()
        );
        assert!(Pipeline::new(vec![stage("A")], vec![Outcome::Won]).is_err());
        assert!(Pipeline::new(vec![stage("A")], vec![Outcome::Won, Outcome::Lost]).is_ok());
    }
}
