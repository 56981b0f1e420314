//! The fold: what the pipeline and the funnel keep of every deal and account.
//!
//! Each deal keeps its history (stage steps, amounts, owners, close dates) with the business
//! time of each change, so that "as occurred by T" questions are answered from the same
//! state without refolding the log: a deal's state at T is its history filtered to changes
//! that occurred by T, applied in log order.

use std::collections::BTreeMap;

use dealtrail_domain::account::AccountEvent;
use dealtrail_domain::opportunity::OpportunityEvent;
use dealtrail_domain::{
    AccountId, ContactId, Date, Event, Money, OpportunityId, OrgUnitId, Outcome, Pipeline,
    PipelineEvent, Projection, Recorded, StageName, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The pipeline and funnel read model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesPipeline {
    /// The pipeline definition in force (its stage order orders the funnel).
    pub pipeline: Option<Pipeline>,
    /// What segment filters need to know about accounts.
    pub accounts: BTreeMap<AccountId, AccountFacts>,
    /// Every deal.
    pub deals: BTreeMap<OpportunityId, Deal>,
    /// The last sequence number folded in.
    pub last_seq: u64,
}

/// Account attributes used to segment deals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// Company name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Headcount.
    pub employees: Option<u32>,
}

/// One change of a deal's position in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// Opened in a stage.
    Opened(StageName),
    /// Moved between open stages.
    Moved {
        /// From.
        from: StageName,
        /// To.
        to: StageName,
    },
    /// Closed with an outcome while in a stage.
    Closed {
        /// The outcome.
        outcome: Outcome,
        /// The stage it was in.
        stage: StageName,
        /// The amount booked, if any.
        final_amount: Option<Money>,
    },
    /// Reopened at a stage.
    Reopened(StageName),
}

/// A step with its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Log position.
    pub seq: u64,
    /// Business time.
    pub at: Timestamp,
    /// What happened.
    pub kind: StepKind,
}

/// A value that changes over time, with the business time of each change (in log order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<T>(pub Vec<(Timestamp, T)>);

impl<T> Default for History<T> {
    fn default() -> Self {
        History(Vec::new())
    }
}

impl<T> History<T> {
    /// The value last set (in log order) by a change that occurred by `t`.
    pub fn at(&self, t: Timestamp) -> Option<&T> {
        self.0.iter().rev().find(|(at, _)| *at <= t).map(|(_, v)| v)
    }

    /// The latest value.
    pub fn current(&self) -> Option<&T> {
        self.0.last().map(|(_, v)| v)
    }
}

/// Everything the pipeline and the funnel keep of one deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// The deal.
    pub id: OpportunityId,
    /// Its account.
    pub account: AccountId,
    /// Its title.
    pub title: String,
    /// Product line.
    pub product_line: Option<String>,
    /// The customer's department it serves.
    pub org_unit: Option<OrgUnitId>,
    /// Business time of the opening.
    pub opened_at: Timestamp,
    /// Stage steps, in log order.
    pub steps: Vec<Step>,
    /// Estimated amount over time.
    pub amounts: History<Money>,
    /// Owner over time.
    pub owners: History<String>,
    /// Expected close date over time.
    pub expected_close: History<Date>,
    /// Follow-ups by sequence number, with their business time (retractions remove them).
    pub follow_ups: BTreeMap<u64, Timestamp>,
    /// Engaged contacts by sequence number (retractions remove them).
    pub contacts: BTreeMap<u64, (Timestamp, ContactId)>,
}

/// A deal's position at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stage it is (or closed) in.
    pub stage: StageName,
    /// Business time it entered that stage.
    pub since: Timestamp,
    /// The outcome and its time, if closed.
    pub closed: Option<(Outcome, Timestamp, Option<Money>)>,
}

impl Deal {
    /// Where the deal stood as of business time `t` (`None` before its opening).
    pub fn position_at(&self, t: Timestamp) -> Option<Position> {
        let mut position: Option<Position> = None;
        for step in self.steps.iter().filter(|s| s.at <= t) {
            position = Some(match (&step.kind, position) {
                (StepKind::Opened(stage), _) => Position {
                    stage: stage.clone(),
                    since: step.at,
                    closed: None,
                },
                (StepKind::Moved { to, .. }, _) => Position {
                    stage: to.clone(),
                    since: step.at,
                    closed: None,
                },
                (
                    StepKind::Closed {
                        outcome,
                        stage,
                        final_amount,
                    },
                    p,
                ) => Position {
                    stage: stage.clone(),
                    since: p.map_or(step.at, |p| p.since),
                    closed: Some((*outcome, step.at, *final_amount)),
                },
                (StepKind::Reopened(stage), _) => Position {
                    stage: stage.clone(),
                    since: step.at,
                    closed: None,
                },
            });
        }
        position
    }

    /// Follow-ups that occurred by `t`.
    pub fn follow_ups_by(&self, t: Timestamp) -> usize {
        self.follow_ups.values().filter(|at| **at <= t).count()
    }

    /// Distinct contacts engaged by `t`.
    pub fn contacts_by(&self, t: Timestamp) -> usize {
        let mut ids: Vec<ContactId> = self
            .contacts
            .values()
            .filter(|(at, _)| *at <= t)
            .map(|(_, c)| *c)
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    /// The last business time anything happened on the deal, by `t`.
    pub fn last_activity_by(&self, t: Timestamp) -> Option<Timestamp> {
        let steps = self.steps.iter().map(|s| s.at);
        let follow_ups = self.follow_ups.values().copied();
        steps.chain(follow_ups).filter(|at| *at <= t).max()
    }

    /// How many times the expected close date moved later, by `t`.
    pub fn slips_by(&self, t: Timestamp) -> usize {
        let dates: Vec<Date> = self
            .expected_close
            .0
            .iter()
            .filter(|(at, _)| *at <= t)
            .map(|(_, d)| *d)
            .collect();
        dates.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

impl Projection for SalesPipeline {
    const NAME: &'static str = "sales-pipeline";
    const VERSION: u32 = 1;

    fn apply(&mut self, recorded: &Recorded<Event>) {
        self.last_seq = recorded.seq;
        let at = recorded.occurred_at;
        match &recorded.event {
            Event::Pipeline(PipelineEvent::PipelineDefined(p)) => self.pipeline = Some(p.clone()),
            Event::Account(id, e) => self.apply_account(*id, e),
            Event::Opportunity(id, OpportunityEvent::OpportunityOpened(e)) => {
                let deal = Deal {
                    id: *id,
                    account: e.account,
                    title: e.title.to_string(),
                    product_line: e.product_line.as_ref().map(ToString::to_string),
                    org_unit: e.org_unit,
                    opened_at: at,
                    steps: vec![Step {
                        seq: recorded.seq,
                        at,
                        kind: StepKind::Opened(e.stage.clone()),
                    }],
                    amounts: History(vec![(at, e.amount)]),
                    owners: History(vec![(at, e.owner.to_string())]),
                    expected_close: History(vec![(at, e.expected_close)]),
                    follow_ups: BTreeMap::new(),
                    contacts: BTreeMap::new(),
                };
                self.deals.insert(*id, deal);
            }
            Event::Opportunity(id, e) => {
                if let Some(deal) = self.deals.get_mut(id) {
                    apply_to_deal(deal, recorded.seq, at, e);
                }
            }
        }
    }
}

impl SalesPipeline {
    fn apply_account(&mut self, id: AccountId, event: &AccountEvent) {
        match event {
            AccountEvent::AccountRegistered(e) => {
                self.accounts.insert(
                    id,
                    AccountFacts {
                        name: e.name.to_string(),
                        industry: e.industry.as_ref().map(ToString::to_string),
                        region: e.region.as_ref().map(ToString::to_string),
                        employees: e.employees,
                    },
                );
            }
            AccountEvent::AccountProfileUpdated(e) => {
                if let Some(a) = self.accounts.get_mut(&id) {
                    if let Some(n) = &e.name {
                        a.name = n.to_string();
                    }
                    if let Some(i) = &e.industry {
                        a.industry = Some(i.to_string());
                    }
                    if let Some(r) = &e.region {
                        a.region = Some(r.to_string());
                    }
                    if let Some(n) = e.employees {
                        a.employees = Some(n);
                    }
                }
            }
            _ => {}
        }
    }
}

fn apply_to_deal(deal: &mut Deal, seq: u64, at: Timestamp, event: &OpportunityEvent) {
    let step = |kind| Step { seq, at, kind };
    match event {
        OpportunityEvent::OpportunityOpened(_) => {}
        OpportunityEvent::StageChanged(e) => deal.steps.push(step(StepKind::Moved {
            from: e.from.clone(),
            to: e.to.clone(),
        })),
        OpportunityEvent::OpportunityClosed(e) => deal.steps.push(step(StepKind::Closed {
            outcome: e.outcome,
            stage: e.stage.clone(),
            final_amount: e.final_amount,
        })),
        OpportunityEvent::OpportunityReopened(e) => {
            deal.steps.push(step(StepKind::Reopened(e.stage.clone())))
        }
        OpportunityEvent::ForecastRevised(e) => {
            if let Some(a) = e.amount {
                deal.amounts.0.push((at, a));
            }
            if let Some(d) = e.expected_close {
                deal.expected_close.0.push((at, d));
            }
        }
        OpportunityEvent::OwnerReassigned(e) => deal.owners.0.push((at, e.to.to_string())),
        OpportunityEvent::FollowUpLogged(_) => {
            deal.follow_ups.insert(seq, at);
        }
        OpportunityEvent::ContactEngaged(e) => {
            deal.contacts.insert(seq, (at, e.contact));
        }
        OpportunityEvent::OpportunityEventCorrected(c) => {
            // A retraction removes the record; an amendment keeps its time and takes the
            // replacement's fields.
            match c.replacement.as_deref() {
                None => {
                    deal.follow_ups.remove(&c.target_seq);
                    deal.contacts.remove(&c.target_seq);
                }
                Some(OpportunityEvent::ContactEngaged(e)) => {
                    if let Some(entry) = deal.contacts.get_mut(&c.target_seq) {
                        entry.1 = e.contact;
                    }
                }
                Some(_) => {}
            }
        }
        OpportunityEvent::CrossFunctionalRecordAdded(_) | OpportunityEvent::BidSubmitted(_) => {}
    }
}
