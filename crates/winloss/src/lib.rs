//! Process-based win/loss analysis, coverage (multi-threading) and cross-check findings: a
//! pure fold over the log.
//!
//! [`WinLoss`] implements [`dealtrail_domain::Projection`] and depends on the domain only.
//! What it answers is computed from the process records (follow-ups, contacts reached,
//! stages, presales, engineering and support records, bids), not from what a rep says.

mod analysis;
mod model;

pub use analysis::{
    AccountCoverage, Coverage, DealStory, DeathRow, Finding, LONG_GAP_DAYS, LOW_SATISFACTION,
    LostDeal, MIN_STAYS_FOR_P90, Rate, Requirement, Rule, Signal, StoryStage, WinLossFilter,
    WinLossReport, default_rules,
};
pub use model::{AccountFacts, DealFacts, Ending, Stay, WinLoss};
