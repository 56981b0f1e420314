//! The fold: the process facts of every deal that win/loss, coverage and cross-checks read.

use std::collections::{BTreeMap, BTreeSet};

use dealtrail_domain::account::AccountEvent;
use dealtrail_domain::opportunity::OpportunityEvent;
use dealtrail_domain::{
    AccountId, BuyingRole, ContactId, Date, Event, Function, Movement, Names, OpportunityId,
    OrgUnitId, Outcome, Pipeline, PipelineEvent, Projection, RecordKind, Recorded, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The win/loss read model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WinLoss {
    /// The pipeline definition in force (the default one until a definition exists).
    pub pipeline: Option<Pipeline>,
    /// Stage, rep, product-line and competitor names the deals refer to by number.
    pub names: Names,
    /// What the analyses need of each account.
    pub accounts: BTreeMap<AccountId, AccountFacts>,
    /// Every deal.
    pub deals: BTreeMap<OpportunityId, DealFacts>,
}

/// Account facts: segment attributes, contacts' roles, support's satisfaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// Industry.
    pub industry: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Headcount.
    pub employees: Option<u32>,
    /// Buying role and org unit of each registered contact.
    pub contact_roles: BTreeMap<ContactId, (BuyingRole, Option<OrgUnitId>)>,
    /// Satisfaction scores from support (sequence number, business time, score 1-5).
    pub satisfaction: Vec<(u64, Timestamp, u8)>,
}

impl AccountFacts {
    /// The latest satisfaction score recorded at or before `t`.
    pub fn satisfaction_at(&self, t: Timestamp) -> Option<u8> {
        self.satisfaction
            .iter()
            .filter(|(_, at, _)| *at <= t)
            .max_by_key(|(seq, at, _)| (*at, *seq))
            .map(|(_, _, s)| *s)
    }
}

/// A stay in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    /// The stage (a number in [`WinLoss::names`]).
    pub stage: u32,
    /// When the deal entered it.
    pub from: Timestamp,
    /// When it left (moved or closed); `None` while it is still there.
    pub until: Option<Timestamp>,
}

/// How a deal ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// The outcome.
    pub outcome: Outcome,
    /// When.
    pub at: Timestamp,
    /// The stage it was in (a number in [`WinLoss::names`]).
    pub stage: u32,
    /// The reason the rep stated.
    pub stated_reason: Option<String>,
    /// Who won instead.
    pub winning_competitor: Option<String>,
}

/// Everything the analyses keep of one deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFacts {
    /// The deal.
    pub id: OpportunityId,
    /// Its account.
    pub account: AccountId,
    /// Current owner (a number in [`WinLoss::names`]).
    pub owner: u32,
    /// Product line (a number in [`WinLoss::names`]).
    pub product_line: Option<u32>,
    /// The customer's department the deal serves.
    pub org_unit: Option<OrgUnitId>,
    /// Opening time.
    pub opened_at: Timestamp,
    /// Stays in stages, in order.
    pub stays: Vec<Stay>,
    /// Backward moves.
    pub regressions: u32,
    /// Moves into (or past) stages that had a gate in the pipeline then in force.
    pub gated_moves: u32,
    /// Gated moves recorded although a soft gate's evidence was missing.
    pub gates_bypassed: u32,
    /// Follow-ups: sequence number, business time, unregistered participants, the
    /// function of whoever logged it.
    pub follow_ups: Vec<(u64, Timestamp, u16, Function)>,
    /// Engaged contacts: sequence number, contact.
    pub contacts: Vec<(u64, ContactId)>,
    /// Cross-functional records: sequence number, kind, business time.
    pub records: Vec<(u64, RecordKind, Timestamp)>,
    /// Competitors named in bids or as the winner (numbers in [`WinLoss::names`]).
    pub competitors: BTreeSet<u32>,
    /// Times the expected close date moved later.
    pub slips: u32,
    /// Current expected close date.
    pub expected_close: Date,
    /// The latest ending (a reopened deal has none until it ends again).
    pub ending: Option<Ending>,
}

impl DealFacts {
    /// Distinct contacts engaged.
    pub fn distinct_contacts(&self) -> BTreeSet<ContactId> {
        self.contacts.iter().map(|(_, c)| *c).collect()
    }

    /// Whether a record of `kind` exists (retractions remove records).
    pub fn has_record(&self, kinds: &[RecordKind]) -> bool {
        self.records.iter().any(|(_, k, _)| kinds.contains(k))
    }

    /// The stage the deal is in (or closed in), as a number in [`WinLoss::names`].
    pub fn stage(&self) -> Option<u32> {
        self.stays.last().map(|s| s.stage)
    }
}

impl Projection for WinLoss {
    const NAME: &'static str = "winloss";
    const VERSION: u32 = 5;

    fn wants(event_type: &str) -> bool {
        !matches!(
            event_type,
            "OrgUnitAdded"
                | "BusinessIndicatorRecorded"
                | "AccountOwnerAssigned"
                | "PurchaseRecorded"
        )
    }

    fn apply(&mut self, recorded: &Recorded<Event>) {
        let (seq, at) = (recorded.seq, recorded.occurred_at);
        match &recorded.event {
            Event::Pipeline(PipelineEvent::PipelineDefined(p)) => self.pipeline = Some(p.clone()),
            Event::Pipeline(PipelineEvent::ExchangeRateRecorded(_)) => {}
            Event::Account(id, e) => {
                let facts = self.accounts.entry(*id).or_default();
                match e {
                    AccountEvent::AccountRegistered(r) => {
                        facts.industry = r.industry.as_ref().map(ToString::to_string);
                        facts.region = r.region.as_ref().map(ToString::to_string);
                        facts.employees = r.employees;
                    }
                    AccountEvent::AccountProfileUpdated(u) => {
                        if let Some(i) = &u.industry {
                            facts.industry = Some(i.to_string());
                        }
                        if let Some(r) = &u.region {
                            facts.region = Some(r.to_string());
                        }
                        if let Some(n) = u.employees {
                            facts.employees = Some(n);
                        }
                    }
                    AccountEvent::ContactRegistered(c) => {
                        facts.contact_roles.insert(c.contact, (c.role, c.org_unit));
                    }
                    AccountEvent::ContactUpdated(c) => {
                        if let Some(entry) = facts.contact_roles.get_mut(&c.contact) {
                            if let Some(role) = c.role {
                                entry.0 = role;
                            }
                            if let Some(unit) = c.org_unit {
                                entry.1 = Some(unit);
                            }
                        }
                    }
                    AccountEvent::ServiceInteractionRecorded(s) => {
                        if let Some(score) = s.satisfaction {
                            facts.satisfaction.push((seq, at, score.get()));
                        }
                    }
                    AccountEvent::AccountEventCorrected(c) => match c.replacement.as_deref() {
                        None => facts.satisfaction.retain(|(s, _, _)| *s != c.target_seq),
                        Some(AccountEvent::ServiceInteractionRecorded(s)) => {
                            facts.satisfaction.retain(|(s, _, _)| *s != c.target_seq);
                            if let Some(score) = s.satisfaction {
                                let original = c.target_seq;
                                facts.satisfaction.push((original, at, score.get()));
                            }
                        }
                        Some(_) => {}
                    },
                    _ => {}
                }
            }
            Event::Opportunity(id, OpportunityEvent::OpportunityOpened(o)) => {
                let names = &mut self.names;
                self.deals.insert(
                    *id,
                    DealFacts {
                        id: *id,
                        account: o.account,
                        owner: names.intern(o.owner.as_str()),
                        product_line: o.product_line.as_ref().map(|p| names.intern(p.as_str())),
                        org_unit: o.org_unit,
                        opened_at: at,
                        stays: vec![Stay {
                            stage: names.intern(o.stage.as_str()),
                            from: at,
                            until: None,
                        }],
                        regressions: 0,
                        gated_moves: 0,
                        gates_bypassed: 0,
                        follow_ups: Vec::new(),
                        contacts: Vec::new(),
                        records: Vec::new(),
                        competitors: BTreeSet::new(),
                        slips: 0,
                        expected_close: o.expected_close,
                        ending: None,
                    },
                );
            }
            Event::Opportunity(id, e) => {
                if let Some(deal) = self.deals.get_mut(id) {
                    if let OpportunityEvent::StageChanged(c) = e {
                        // The default pipeline has no gates.
                        if self.pipeline.as_ref().is_some_and(|p| passes_gate(p, c)) {
                            deal.gated_moves += 1;
                        }
                        if !c.gate_missing.is_empty() {
                            deal.gates_bypassed += 1;
                        }
                    }
                    apply_to_deal(deal, &mut self.names, seq, at, e);
                }
            }
        }
    }
}

/// Whether a move enters or passes over a stage with a gate (moving back passes none).
fn passes_gate(pipeline: &Pipeline, c: &dealtrail_domain::opportunity::StageChanged) -> bool {
    pipeline
        .entered(&c.from, &c.to)
        .iter()
        .any(|s| pipeline.gate(s).is_some())
}

fn end_stay(deal: &mut DealFacts, at: Timestamp) {
    if let Some(stay) = deal.stays.last_mut()
        && stay.until.is_none()
    {
        stay.until = Some(at);
    }
}

fn apply_to_deal(
    deal: &mut DealFacts,
    names: &mut Names,
    seq: u64,
    at: Timestamp,
    event: &OpportunityEvent,
) {
    match event {
        OpportunityEvent::OpportunityOpened(_) | OpportunityEvent::ParticipantErased(_) => {}
        OpportunityEvent::StageChanged(c) => {
            end_stay(deal, at);
            // The event says how it moved along the pipeline in force at the time.
            if matches!(c.movement, Movement::Backward { .. }) {
                deal.regressions += 1;
            }
            deal.stays.push(Stay {
                stage: names.intern(c.to.as_str()),
                from: at,
                until: None,
            });
        }
        OpportunityEvent::FollowUpLogged(f) => {
            deal.follow_ups
                .push((seq, at, f.unregistered_participants, f.function))
        }
        OpportunityEvent::ContactEngaged(c) => deal.contacts.push((seq, c.contact)),
        OpportunityEvent::CrossFunctionalRecordAdded(r) => deal.records.push((seq, r.kind, at)),
        OpportunityEvent::ForecastRevised(f) => {
            if let Some(d) = f.expected_close {
                if d > deal.expected_close {
                    deal.slips += 1;
                }
                deal.expected_close = d;
            }
        }
        OpportunityEvent::BidSubmitted(b) => {
            for c in &b.competitors {
                deal.competitors.insert(names.intern(c.as_str()));
            }
        }
        OpportunityEvent::OpportunityClosed(c) => {
            end_stay(deal, at);
            if let Some(w) = &c.winning_competitor {
                deal.competitors.insert(names.intern(w.as_str()));
            }
            deal.ending = Some(Ending {
                outcome: c.outcome,
                at,
                stage: names.intern(c.stage.as_str()),
                stated_reason: c.stated_reason.as_ref().map(ToString::to_string),
                winning_competitor: c.winning_competitor.as_ref().map(ToString::to_string),
            });
        }
        OpportunityEvent::OpportunityReopened(r) => {
            deal.ending = None;
            deal.stays.push(Stay {
                stage: names.intern(r.stage.as_str()),
                from: at,
                until: None,
            });
        }
        OpportunityEvent::OwnerReassigned(o) => deal.owner = names.intern(o.to.as_str()),
        OpportunityEvent::OpportunityEventCorrected(c) => {
            let target = c.target_seq;
            deal.follow_ups.retain(|f| f.0 != target);
            deal.contacts.retain(|(s, _)| *s != target);
            deal.records.retain(|(s, _, _)| *s != target);
            // An amendment takes the place of the original, keeping its position.
            match c.replacement.as_deref() {
                Some(OpportunityEvent::FollowUpLogged(f)) => {
                    deal.follow_ups
                        .push((target, at, f.unregistered_participants, f.function));
                    deal.follow_ups.sort_by_key(|f| f.0);
                }
                Some(OpportunityEvent::ContactEngaged(e)) => {
                    deal.contacts.push((target, e.contact));
                    deal.contacts.sort_by_key(|(s, _)| *s);
                }
                Some(OpportunityEvent::CrossFunctionalRecordAdded(r)) => {
                    deal.records.push((target, r.kind, at));
                    deal.records.sort_by_key(|(s, _, _)| *s);
                }
                _ => {}
            }
        }
    }
}
