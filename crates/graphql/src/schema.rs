//! The GraphQL schema: its roots, merged from one object per concern, built over the
//! engine. Knows nothing of HTTP; the caller's identity arrives as request data.

use std::sync::Arc;

use async_graphql::Schema;
use dealtrail_engine::Engine;

use crate::cache::FunnelCache;
use crate::subscriptions::SubscriptionRoot;

/// The schema type served at `/graphql`.
pub type DealtrailSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Most items one page returns.
pub const MAX_PAGE: usize = 500;

/// Builds the schema over an engine. The checks every operation passes (depth, cost,
/// budget, error codes) run around it: `checks::execute`, `checks::Checked`.
pub fn build(
    engine: Arc<Engine>,
    introspection: bool,
    signer: Option<Arc<crate::audit::HeadSigner>>,
    alerts: Arc<dealtrail_funnel::AlertRules>,
) -> DealtrailSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(engine)
    .data(FunnelCache::default())
    .data(alerts)
    .limit_complexity(5_000);
    if let Some(signer) = signer {
        builder = builder.data(signer);
    }
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .finish()
    .sdl()
}

/// The query root, one object per concern: the raw log, deals, the funnel, the process
/// analyses, `node`, accounts and the analyses across them.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    crate::log::LogQuery,
    crate::audit::AuditQuery,
    crate::deals::DealQuery,
    crate::funnel::FunnelAnalysisQuery,
    crate::flow::FlowAnalysisQuery,
    crate::analyses::AnalysisQuery,
    crate::node::NodeQuery,
    crate::accounts::AccountQuery,
    crate::accounts::AnalysisOfAccounts,
    crate::process::ProcessQuery,
    crate::segments::SegmentQuery,
    crate::rates::RatesQuery,
    crate::access::ViewerQuery,
    crate::health::HealthQuery,
);

/// The mutation root: one object per aggregate, corrections merged in.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(
    crate::mutations::accounts::AccountMutation,
    crate::mutations::deals::DealMutation,
    crate::mutations::pipeline::PipelineMutation,
    crate::mutations::capture::CaptureMutation,
    crate::mutations::erasure::ErasureMutation,
    crate::corrections::CorrectionMutation,
    crate::rates::RatesMutation,
);
