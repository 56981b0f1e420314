//! The sales vocabulary of dealtrail: ids, values, events, commands, the Account and
//! Opportunity aggregates and the pipeline definition.
//!
//! Pure: no I/O, no clock, no async runtime, no storage. Time and ids come in with the
//! command ([`Context`]). `decide` holds every rule and returns events; `apply` only changes
//! state and never fails, so replaying events never re-runs rules.

pub mod account;
mod command;
mod error;
mod event;
pub mod gate;
mod ids;
pub mod opportunity;
pub mod personal;
mod pipeline;
mod projection;
pub mod rates;
pub mod upgrade;
mod values;
mod vocab;

pub use account::{Account, AccountCommand, AccountEvent};
pub use command::{Context, FUTURE_TOLERANCE_MICROS};
pub use error::{DomainError, FieldError};
pub use event::{Correction, DecodeError, Event, PipelineEvent, Recorded};
pub use gate::{Enforcement, Evidence, StageGate};
pub use ids::{AccountId, ContactId, OpportunityId, OrgUnitId, StreamName};
pub use opportunity::{Opportunity, OpportunityCommand, OpportunityDeps, OpportunityEvent};
pub use pipeline::{Movement, Pipeline, StageName};
pub use projection::{Names, Projection};
pub use rates::{Conversion, ExchangeRate, Rate};
pub use values::{
    Currency, Date, ExternalId, Label, Money, Name, Period, Satisfaction, Text, Timestamp, UserId,
};
pub use vocab::{
    Assessment, BuyingRole, Channel, Function, Outcome, RecordKind, Seniority, ServiceKind, Unit,
    Vocabulary,
};

/// The pipeline definition in force, folded from the `pipeline` stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineState {
    /// The newest definition, if any.
    pub current: Option<Pipeline>,
    /// The latest rate recorded for each pair and day.
    pub rates: Vec<ExchangeRate>,
    /// Events applied.
    pub version: u64,
}

impl PipelineState {
    /// Changes state; never fails.
    pub fn apply(&mut self, recorded: &Recorded<PipelineEvent>) {
        self.version += 1;
        match &recorded.event {
            PipelineEvent::PipelineDefined(p) => self.current = Some(p.clone()),
            PipelineEvent::ExchangeRateRecorded(r) => {
                self.rates
                    .retain(|k| (k.from, k.to, k.date) != (r.from, r.to, r.date));
                self.rates.push(r.clone());
            }
        }
    }

    /// Defining a pipeline checks it and refuses a definition equal to the one in force.
    pub fn decide(
        &self,
        ctx: &Context,
        stages: Vec<StageName>,
        outcomes: Vec<Outcome>,
        gates: Vec<StageGate>,
    ) -> Result<Vec<PipelineEvent>, DomainError> {
        ctx.check_not_future()?;
        let pipeline = Pipeline::new(stages, outcomes)?.with_gates(gates)?;
        if self.current.as_ref() == Some(&pipeline) {
            return Err(DomainError::NothingChanged);
        }
        Ok(vec![PipelineEvent::PipelineDefined(pipeline)])
    }

    /// Recording a rate refuses a pair of one currency, and the same rate again for the same
    /// pair and day (a different rate for that day replaces it: a correction).
    pub fn decide_rate(
        &self,
        ctx: &Context,
        rate: ExchangeRate,
    ) -> Result<Vec<PipelineEvent>, DomainError> {
        ctx.check_not_future()?;
        if rate.from == rate.to {
            return Err(DomainError::SameCurrency {
                currency: rate.from.to_string(),
            });
        }
        if self
            .rates
            .iter()
            .any(|r| (r.from, r.to, r.date, r.rate) == (rate.from, rate.to, rate.date, rate.rate))
        {
            return Err(DomainError::NothingChanged);
        }
        Ok(vec![PipelineEvent::ExchangeRateRecorded(rate)])
    }
}
