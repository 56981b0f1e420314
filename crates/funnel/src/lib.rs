//! The pipeline and funnel read models of dealtrail: a pure fold over the log.
//!
//! [`SalesPipeline`] implements [`dealtrail_domain::Projection`]: the engine feeds it events
//! (live, in a rebuild, or up to a past moment) and asks it deal lists and funnels. It
//! depends on the domain only, never on the store.

mod alerts;
mod flow;
mod model;
mod prefetch;
mod query;
mod rates;
mod settled;

pub use alerts::{Alert, AlertKind, AlertRules};
pub use flow::{BucketTotal, FlowBucket, FlowMove, FlowQuery, FlowReport};
pub use model::{
    AccountFacts, Change, Cut, Deal, History, Position, SalesPipeline, StageRef, Step, StepKind,
};
pub use query::{
    ClosedSummary, Cohort, DealFilter, DealKey, DealSort, DealView, Durations, FunnelQuery,
    FunnelReport, SizeBand, StageRow, Transition, Velocity,
};
pub use rates::{Converter, RateRecord, Rates};
pub use settled::{Scan, Settled};
