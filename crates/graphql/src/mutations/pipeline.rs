//! The pipeline definition: `definePipeline`.

use async_graphql::{Context, InputObject, Object};
use dealtrail_domain::gate::parse_requirement;
use dealtrail_domain::{Enforcement, Outcome, StageGate, StageName};
use dealtrail_engine::Command;

use crate::access::require;
use crate::auth::Role;
use crate::errors::{choice, error, field};
use crate::write::{CommandResult, WriteOptions, run};

/// A stage gate to put in force with a pipeline.
#[derive(InputObject)]
pub struct GateInput {
    /// The stage guarded (not the first: deals open there).
    pub stage: String,
    /// Requirements, all needed; each is one piece of evidence or alternatives joined by
    /// `|`: `engaged:<buying role>`, `record:<record kind>`, `bid`, `follow_up`.
    pub requires: Vec<String>,
    /// `hard` refuses a move without the evidence; `soft` records it as a finding.
    pub enforcement: String,
}

impl GateInput {
    fn gate(self) -> async_graphql::Result<StageGate> {
        let enforcement = match self.enforcement.trim() {
            "hard" => Enforcement::Hard,
            "soft" => Enforcement::Soft,
            other => {
                return Err(error(
                    "VALIDATION",
                    format!("gates.enforcement: unknown value {other:?} (one of: hard, soft)"),
                ));
            }
        };
        Ok(StageGate {
            stage: field("gates.stage", StageName::parse(self.stage))?,
            requires: self
                .requires
                .iter()
                .map(|r| field("gates.requires", parse_requirement(r)))
                .collect::<Result<_, _>>()?,
            enforcement,
        })
    }
}

/// The pipeline definition.
#[derive(Default)]
pub struct PipelineMutation;

#[Object]
impl PipelineMutation {
    /// Puts a new pipeline definition in force, with its stage gates. Admins.
    async fn define_pipeline(
        &self,
        ctx: &Context<'_>,
        stages: Vec<String>,
        #[graphql(desc = "won and lost are required; no_decision and withdrawn optional")]
        outcomes: Vec<String>,
        gates: Option<Vec<GateInput>>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Admin])?;
        let command = Command::DefinePipeline {
            stages: stages
                .into_iter()
                .map(|s| field("stages", StageName::parse(s)))
                .collect::<Result<_, _>>()?,
            outcomes: outcomes
                .iter()
                .map(|o| choice::<Outcome>("outcomes", o))
                .collect::<Result<_, _>>()?,
            gates: gates
                .unwrap_or_default()
                .into_iter()
                .map(GateInput::gate)
                .collect::<Result<_, _>>()?,
        };
        run(ctx, who, options, command).await
    }
}
