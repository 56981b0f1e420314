//! The fold: what the pipeline and the funnel keep of every deal and account.
//!
//! Each deal keeps its history (stage steps, amounts, owners, close dates) with the log
//! position and business time of each change, so that "as occurred by T" and "as recorded by
//! T" questions are answered from the live state without refolding the log: a deal's state
//! at a [`Cut`] is its history filtered to the changes the cut admits, applied in log order.

use std::collections::{BTreeMap, BTreeSet};

use dealtrail_domain::account::AccountEvent;
use dealtrail_domain::opportunity::OpportunityEvent;
use dealtrail_domain::{
    AccountId, ContactId, Date, Event, Money, Names, OpportunityId, OrgUnitId, Outcome, Pipeline,
    PipelineEvent, Projection, Recorded, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::settled::{Scan, Settled};

/// The pipeline and funnel read model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesPipeline {
    /// The pipeline definition in force (its stage order orders the funnel).
    pub pipeline: Option<Pipeline>,
    /// Stage, user and product-line names that deals refer to by number.
    pub names: Names,
    /// What segment filters need to know about accounts.
    pub accounts: BTreeMap<AccountId, AccountFacts>,
    /// Every deal.
    pub deals: BTreeMap<OpportunityId, Deal>,
    /// The same deals' [`Scan`] entries, with the same keys: a funnel or a flow walks these
    /// side by side with `deals` and loads only the deals it cannot pass over.
    pub scan: BTreeMap<OpportunityId, Scan>,
    /// Deals open with every event applied: lists of open deals "now" walk these instead
    /// of every deal ever opened.
    pub open_now: BTreeSet<OpportunityId>,
    /// The same deals keyed by their last activity with every event applied (µs), then
    /// id: a page of open deals by last activity "now" reads its keys in order instead of
    /// computing and sorting one per open deal.
    pub open_by_activity: BTreeSet<(i64, OpportunityId)>,
    /// Counts the events that change something a funnel reads (pipeline, rates, account
    /// facts, a deal's opening, stages, closing, amount and owner; not follow-ups, contacts,
    /// corrections of those, or records no funnel counts): a funnel answer computed at one
    /// count holds until the count changes.
    pub funnel_inputs: u64,
    /// The latest business time of any deal event; a cut through the whole log at or after
    /// it sees every deal's position as it is now.
    pub latest_deal_event: Option<Timestamp>,
    /// Exchange rates, to sum deals of several currencies.
    #[serde(default)]
    pub rates: crate::rates::Rates,
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

/// A stage, by its number in [`SalesPipeline::names`].
pub type StageRef = u32;

/// One change of a deal's position in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// Opened in a stage.
    Opened(StageRef),
    /// Moved between open stages.
    Moved {
        /// From.
        from: StageRef,
        /// To.
        to: StageRef,
    },
    /// Closed with an outcome while in a stage.
    Closed {
        /// The outcome.
        outcome: Outcome,
        /// The stage it was in.
        stage: StageRef,
        /// The amount booked, if any.
        final_amount: Option<Money>,
    },
    /// Reopened at a stage.
    Reopened(StageRef),
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
    /// Product line (a number in [`SalesPipeline::names`]).
    pub product_line: Option<u32>,
    /// The customer's department it serves.
    pub org_unit: Option<OrgUnitId>,
    /// Business time of the opening.
    pub opened_at: Timestamp,
    /// Stage steps, in log order.
    pub steps: Vec<Step>,
    /// Estimated amount over time.
    pub amounts: History<Money>,
    /// Owner over time (numbers in [`SalesPipeline::names`]).
    pub owners: History<u32>,
    /// Expected close date over time.
    pub expected_close: History<Date>,
    /// Follow-ups: sequence number and business time, in log order (retractions remove
    /// them).
    pub follow_ups: Vec<(u64, Timestamp)>,
    /// Follow-ups that set a next step with a due date: sequence number, business time,
    /// due date, in log order (retractions remove them).
    pub next_steps: Vec<(u64, Timestamp, Date)>,
    /// Follow-ups that named participants who matched no registered contact: sequence
    /// number, business time (the names stay sealed in the log).
    pub unregistered: Vec<(u64, Timestamp)>,
    /// Engaged contacts: sequence number, business time, contact, in log order (retractions
    /// remove them).
    pub contacts: Vec<(u64, Timestamp, ContactId)>,
}

/// A deal's position at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stage it is (or closed) in.
    pub stage: StageRef,
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
                    stage: *stage,
                    since: step.at,
                    closed: None,
                },
                (StepKind::Moved { to, .. }, _) => Position {
                    stage: *to,
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
                    stage: *stage,
                    since: p.map_or(step.at, |p| p.since),
                    closed: Some((*outcome, step.at, *final_amount)),
                },
                (StepKind::Reopened(stage), _) => Position {
                    stage: *stage,
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
            .filter(|(seq, at)| cut.admits(*seq, *at))
            .count()
    }

    /// Distinct contacts engaged, as far as the cut admits.
    pub fn contacts_by(&self, cut: Cut) -> usize {
        let mut ids: Vec<ContactId> = self
            .contacts
            .iter()
            .filter(|(seq, at, _)| cut.admits(*seq, *at))
            .map(|(_, _, c)| *c)
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    /// The last business time anything happened on the deal, as far as the cut admits.
    pub fn last_activity_by(&self, cut: Cut) -> Option<Timestamp> {
        let steps = self.steps.iter().map(|s| (s.seq, s.at));
        let follow_ups = self.follow_ups.iter().copied();
        steps
            .chain(follow_ups)
            .filter(|(seq, at)| cut.admits(*seq, *at))
            .map(|(_, at)| at)
            .max()
    }
}

impl Projection for SalesPipeline {
    const NAME: &'static str = "sales-pipeline";
    const VERSION: u32 = 9;

    fn wants(event_type: &str) -> bool {
        matches!(
            event_type,
            "PipelineDefined"
                | "ExchangeRateRecorded"
                | "AccountRegistered"
                | "AccountProfileUpdated"
                | "OpportunityOpened"
                | "StageChanged"
                | "OpportunityClosed"
                | "OpportunityReopened"
                | "ForecastRevised"
                | "OwnerReassigned"
                | "FollowUpLogged"
                | "ContactEngaged"
                | "OpportunityEventCorrected"
        )
    }

    fn apply(&mut self, recorded: &Recorded<Event>) {
        let seq = recorded.seq;
        let at = recorded.occurred_at;
        // Named one by one, so that a model folded with `wants` skipping other types counts
        // the same as one given every event.
        if matches!(
            &recorded.event,
            Event::Pipeline(_)
                | Event::Account(
                    _,
                    AccountEvent::AccountRegistered(_) | AccountEvent::AccountProfileUpdated(_)
                )
                | Event::Opportunity(
                    _,
                    OpportunityEvent::OpportunityOpened(_)
                        | OpportunityEvent::StageChanged(_)
                        | OpportunityEvent::OpportunityClosed(_)
                        | OpportunityEvent::OpportunityReopened(_)
                        | OpportunityEvent::ForecastRevised(_)
                        | OpportunityEvent::OwnerReassigned(_)
                )
        ) {
            self.funnel_inputs += 1;
        }
        match &recorded.event {
            Event::Pipeline(PipelineEvent::PipelineDefined(p)) => self.pipeline = Some(p.clone()),
            Event::Pipeline(PipelineEvent::ExchangeRateRecorded(r)) => {
                self.rates.record(seq, at, r)
            }
            Event::Account(id, e) => self.apply_account(*id, e),
            Event::Opportunity(id, OpportunityEvent::OpportunityOpened(e)) => {
                let deal = Deal {
                    id: *id,
                    account: e.account,
                    title: e.title.to_string(),
                    product_line: e
                        .product_line
                        .as_ref()
                        .map(|p| self.names.intern(p.as_str())),
                    org_unit: e.org_unit,
                    opened_at: at,
                    steps: vec![Step {
                        seq: recorded.seq,
                        at,
                        kind: StepKind::Opened(self.names.intern(e.stage.as_str())),
                    }],
                    amounts: History(vec![(seq, at, e.amount)]),
                    owners: History(vec![(seq, at, self.names.intern(e.owner.as_str()))]),
                    expected_close: History(vec![(seq, at, e.expected_close)]),
                    follow_ups: Vec::new(),
                    next_steps: Vec::new(),
                    unregistered: Vec::new(),
                    contacts: Vec::new(),
                };
                self.scan.insert(*id, Scan::opened(at));
                self.open_by_activity.insert((activity_key(&deal), *id));
                self.deals.insert(*id, deal);
                self.open_now.insert(*id);
                self.saw_deal_event(at);
            }
            Event::Opportunity(id, e) => {
                if let Some(deal) = self.deals.get_mut(id) {
                    if self.open_now.contains(id) {
                        self.open_by_activity.remove(&(activity_key(deal), *id));
                    }
                    apply_to_deal(deal, &mut self.names, recorded.seq, at, e);
                    if let Some(scan) = self.scan.get_mut(id) {
                        scan.settled = Settled::of(deal);
                    }
                    if deal
                        .position_at(Cut::ALL)
                        .is_some_and(|p| p.closed.is_none())
                    {
                        self.open_now.insert(*id);
                        self.open_by_activity.insert((activity_key(deal), *id));
                    } else {
                        self.open_now.remove(id);
                    }
                    self.saw_deal_event(at);
                }
            }
        }
    }
}

/// A deal's key in [`SalesPipeline::open_by_activity`]: the key a list sorted by last
/// activity gives it at a cut that admits everything.
pub(crate) fn activity_key(deal: &Deal) -> i64 {
    deal.last_activity_by(Cut::ALL).map_or(i64::MIN, |t| t.0)
}

impl SalesPipeline {
    fn saw_deal_event(&mut self, at: Timestamp) {
        self.latest_deal_event = Some(self.latest_deal_event.map_or(at, |t| t.max(at)));
    }

    /// Whether a cut sees every deal as it is now (so `open_now` answers "open at the cut").
    pub fn cut_sees_now(&self, cut: Cut) -> bool {
        cut.recorded_through == u64::MAX
            && self.latest_deal_event.is_none_or(|t| cut.occurred_by >= t)
    }

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

fn apply_to_deal(
    deal: &mut Deal,
    names: &mut Names,
    seq: u64,
    at: Timestamp,
    event: &OpportunityEvent,
) {
    let step = |kind| Step { seq, at, kind };
    match event {
        OpportunityEvent::OpportunityOpened(_) => {}
        OpportunityEvent::StageChanged(e) => deal.steps.push(step(StepKind::Moved {
            from: names.intern(e.from.as_str()),
            to: names.intern(e.to.as_str()),
        })),
        OpportunityEvent::OpportunityClosed(e) => deal.steps.push(step(StepKind::Closed {
            outcome: e.outcome,
            stage: names.intern(e.stage.as_str()),
            final_amount: e.final_amount,
        })),
        OpportunityEvent::OpportunityReopened(e) => deal
            .steps
            .push(step(StepKind::Reopened(names.intern(e.stage.as_str())))),
        OpportunityEvent::ForecastRevised(e) => {
            if let Some(a) = e.amount {
                deal.amounts.0.push((seq, at, a));
            }
            if let Some(d) = e.expected_close {
                deal.expected_close.0.push((seq, at, d));
            }
        }
        OpportunityEvent::OwnerReassigned(e) => {
            let to = names.intern(e.to.as_str());
            deal.owners.0.push((seq, at, to))
        }
        // Appended in log order, so both lists stay sorted by sequence number.
        OpportunityEvent::FollowUpLogged(f) => {
            deal.follow_ups.push((seq, at));
            note_follow_up(deal, seq, at, f);
        }
        OpportunityEvent::ContactEngaged(e) => deal.contacts.push((seq, at, e.contact)),
        OpportunityEvent::OpportunityEventCorrected(c) => {
            // A retraction removes the record; an amendment keeps its time and takes the
            // replacement's fields.
            match c.replacement.as_deref() {
                None => {
                    if let Ok(i) = deal.follow_ups.binary_search_by_key(&c.target_seq, |f| f.0) {
                        deal.follow_ups.remove(i);
                    }
                    forget_follow_up(deal, c.target_seq);
                    if let Ok(i) = deal.contacts.binary_search_by_key(&c.target_seq, |c| c.0) {
                        deal.contacts.remove(i);
                    }
                }
                Some(OpportunityEvent::FollowUpLogged(f)) => {
                    let at = deal
                        .follow_ups
                        .binary_search_by_key(&c.target_seq, |f| f.0)
                        .map_or(at, |i| deal.follow_ups[i].1);
                    forget_follow_up(deal, c.target_seq);
                    note_follow_up(deal, c.target_seq, at, f);
                    // Both lists must stay sorted by sequence number.
                    deal.next_steps.sort_by_key(|n| n.0);
                    deal.unregistered.sort_by_key(|u| u.0);
                }
                Some(OpportunityEvent::ContactEngaged(e)) => {
                    if let Ok(i) = deal.contacts.binary_search_by_key(&c.target_seq, |c| c.0) {
                        deal.contacts[i].2 = e.contact;
                    }
                }
                Some(_) => {}
            }
        }
        OpportunityEvent::CrossFunctionalRecordAdded(_)
        | OpportunityEvent::BidSubmitted(_)
        | OpportunityEvent::ParticipantErased(_) => {}
    }
}

/// Keeps what alerts and the registration list need of a follow-up.
fn note_follow_up(
    deal: &mut Deal,
    seq: u64,
    at: Timestamp,
    f: &dealtrail_domain::opportunity::FollowUpLogged,
) {
    if let Some(due) = f.next_step_due {
        deal.next_steps.push((seq, at, due));
    }
    if !f.unregistered_names.is_empty() {
        deal.unregistered.push((seq, at));
    }
}

fn forget_follow_up(deal: &mut Deal, seq: u64) {
    deal.next_steps.retain(|n| n.0 != seq);
    deal.unregistered.retain(|u| u.0 != seq);
}
