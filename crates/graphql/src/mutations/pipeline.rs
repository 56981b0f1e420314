//! The pipeline definition: `definePipeline`.

use async_graphql::{Context, Object};
use dealtrail_domain::{Outcome, StageName};
use dealtrail_engine::Command;

use crate::access::require;
use crate::auth::Role;
use crate::errors::{choice, field};
use crate::write::{CommandResult, WriteOptions, run};

/// The pipeline definition.
#[derive(Default)]
pub struct PipelineMutation;

#[Object]
impl PipelineMutation {
    /// Puts a new pipeline definition in force. Admins.
    async fn define_pipeline(
        &self,
        ctx: &Context<'_>,
        stages: Vec<String>,
        #[graphql(desc = "won and lost are required; no_decision and withdrawn optional")]
        outcomes: Vec<String>,
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
        };
        run(ctx, who, options, command).await
    }
}
