//! The fold: what the pipeline and the funnel keep of every deal and account.
//!
//! Each deal keeps its history (stage steps, amounts, owners, close dates) with the log
//! position and business time of each change, so that "as occurred by T" and "as recorded by
//! T" questions are answered from the live state without refolding the log: a deal's state
//! at a [`Cut`] is its history filtered to the changes the cut admits, applied in log order.

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

/// A moment to look from: changes count only if they occurred by `occurred_by` **and** were
/// recorded at or before sequence number `recorded_through`. The live model answers for any
/// cut without refolding the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// Business-time limit (occurred clock).
    pub occurred_by: Timestamp,
    /// Log-position limit (recorded clock, as a sequence number).
    pub recorded_through: u64,
}

impl Cut {
    /// Everything known.
    pub const ALL: Cut = Cut {
        occurred_by: Timestamp(i64::MAX),
        recorded_through: u64::MAX,
    };

    /// Everything that had occurred by `t`, as known now.
    pub fn occurred_by(t: Timestamp) -> Cut {
        Cut {
            occurred_by: t,
            recorded_through: u64::MAX,
        }
    }

    /// Whether a change recorded at `seq` that occurred at `at` counts.
    pub fn admits(&self, seq: u64, at: Timestamp) -> bool {
        at <= self.occurred_by && seq <= self.recorded_through
    }
}

/// One change of a value: log position, business time, new value.
pub type Change<T> = (u64, Timestamp, T);

/// A value that changes over time, with the position and business time of each change (in
/// log order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<T>(pub Vec<Change<T>>);

impl<T> Default for History<T> {
    fn default() -> Self {
        History(Vec::new())
    }
}

impl<T> History<T> {
    /// The value last set (in log order) by a change the cut admits.
    pub fn at(&self, cut: Cut) -> Option<&T> {
        self.0
            .iter()
            .rev()
            .find(|(seq, at, _)| cut.admits(*seq, *at))
            .map(|(_, _, v)| v)
    }

    /// The latest value.
    pub fn current(&self) -> Option<&T> {
        self.0.last().map(|(_, _, v)| v)
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
    /// Where the deal stood at a cut (`None` before its opening).
    pub fn position_at(&self, cut: Cut) -> Option<Position> {
        let mut position: Option<Position> = None;
        for step in self.steps.iter().filter(|s| cut.admits(s.seq, s.at)) {
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

    /// Follow-ups the cut admits (retractions apply whenever they were recorded).
    pub fn follow_ups_by(&self, cut: Cut) -> usize {
        self.follow_ups
            .iter()
            .filter(|(seq, at)| cut.admits(**seq, **at))
            .count()
    }

    /// Distinct contacts engaged, as far as the cut admits.
    pub fn contacts_by(&self, cut: Cut) -> usize {
        let mut ids: Vec<ContactId> = self
            .contacts
            .iter()
            .filter(|(seq, (at, _))| cut.admits(**seq, *at))
            .map(|(_, (_, c))| *c)
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    /// The last business time anything happened on the deal, as far as the cut admits.
    pub fn last_activity_by(&self, cut: Cut) -> Option<Timestamp> {
        let steps = self.steps.iter().map(|s| (s.seq, s.at));
        let follow_ups = self.follow_ups.iter().map(|(seq, at)| (*seq, *at));
        steps
            .chain(follow_ups)
            .filter(|(seq, at)| cut.admits(*seq, *at))
            .map(|(_, at)| at)
            .max()
    }

    /// How many times the expected close date moved later, as far as the cut admits.
    pub fn slips_by(&self, cut: Cut) -> usize {
        let dates: Vec<Date> = self
            .expected_close
            .0
            .iter()
            .filter(|(seq, at, _)| cut.admits(*seq, *at))
            .map(|(_, _, d)| *d)
            .collect();
        dates.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

impl Projection for SalesPipeline {
    const NAME: &'static str = "sales-pipeline";
    const VERSION: u32 = 1;

    fn apply(&mut self, recorded: &Recorded<Event>) {
        self.last_seq = recorded.seq;
        let seq = recorded.seq;
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
                    amounts: History(vec![(seq, at, e.amount)]),
                    owners: History(vec![(seq, at, e.owner.to_string())]),
                    expected_close: History(vec![(seq, at, e.expected_close)]),
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
                deal.amounts.0.push((seq, at, a));
            }
            if let Some(d) = e.expected_close {
                deal.expected_close.0.push((seq, at, d));
            }
        }
        OpportunityEvent::OwnerReassigned(e) => deal.owners.0.push((seq, at, e.to.to_string())),
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
