//! The Opportunity aggregate: a deal following the customer's procurement process.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::command::Context;
use crate::error::DomainError;
use crate::event::{Correction, Recorded};
use crate::gate::{Enforcement, Evidence};
use crate::ids::{AccountId, ContactId, OrgUnitId};
use crate::pipeline::{Movement, Pipeline, StageName};
use crate::values::{Date, ExternalId, Label, Money, Name, Satisfaction, Text, Timestamp, UserId};
use crate::vocab::{Assessment, BuyingRole, Channel, Function, Outcome, RecordKind};

/// A deal was opened; it starts in the pipeline's first stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityOpened {
    /// The customer.
    pub account: AccountId,
    /// What the deal is about.
    pub title: Name,
    /// The rep who owns it.
    pub owner: UserId,
    /// The product line sold.
    pub product_line: Option<Label>,
    /// The customer's department the demand comes from.
    pub org_unit: Option<OrgUnitId>,
    /// Estimated amount.
    pub amount: Money,
    /// Expected close date.
    pub expected_close: Date,
    /// Where the lead came from.
    pub source: Option<Label>,
    /// The stage it starts in.
    pub stage: StageName,
    /// The id the deal had in the system it was imported from.
    pub external_id: Option<ExternalId>,
}

/// The deal moved to another stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChanged {
    /// Stage before.
    pub from: StageName,
    /// Stage after.
    pub to: StageName,
    /// Forward, skipping stages, or back.
    pub movement: Movement,
    /// The requirements of soft stage gates the deal did not meet when it moved (a
    /// finding), written `stage: alternatives`; empty when every gate was met.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate_missing: Vec<String>,
}

/// A visit, call, message, email or meeting with the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpLogged {
    /// How the customer was reached.
    pub channel: Channel,
    /// Registered contacts who took part.
    pub contacts: Vec<ContactId>,
    /// People met who are not registered contacts (the trace of a rep keeping contacts to
    /// himself).
    pub unregistered_participants: u16,
    /// The function of whoever logged it.
    pub function: Function,
    /// What happened.
    pub summary: Text,
    /// The agreed next step.
    pub next_step: Option<Text>,
    /// When the next step is due (alerts flag it once past).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step_due: Option<Date>,
    /// The participants, as the rep wrote them, who matched no registered contact: a
    /// manager's list of people to register. At most `unregistered_participants` of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unregistered_names: Vec<Label>,
}

impl FollowUpLogged {
    /// The rules every follow-up (and every amendment of one) obeys.
    fn check(&self, account: &Account) -> Result<(), DomainError> {
        if self.contacts.is_empty() && self.unregistered_participants == 0 {
            return Err(DomainError::NoParticipants);
        }
        if let Some(c) = self.contacts.iter().find(|c| !account.has_contact(**c)) {
            return Err(DomainError::UnknownContact { contact: *c });
        }
        if self.unregistered_names.len() > usize::from(self.unregistered_participants) {
            return Err(DomainError::InvalidFollowUp {
                reason: format!(
                    "{} names for {} unregistered participants",
                    self.unregistered_names.len(),
                    self.unregistered_participants
                ),
            });
        }
        if self.next_step_due.is_some() && self.next_step.is_none() {
            return Err(DomainError::InvalidFollowUp {
                reason: "a next-step due date needs a next step".into(),
            });
        }
        Ok(())
    }
}

/// A registered contact of the account is involved in this deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEngaged {
    /// The contact.
    pub contact: ContactId,
    /// Their part in this deal.
    pub role: BuyingRole,
}

/// Presales, engineering, support or management recorded its own view of the deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossFunctionalRecordAdded {
    /// The function recording.
    pub function: Function,
    /// What the record documents.
    pub kind: RecordKind,
    /// The function's own judgement.
    pub assessment: Assessment,
    /// A satisfaction score, for support's checks.
    pub satisfaction: Option<Satisfaction>,
    /// What was done or found.
    pub summary: Text,
}

/// The forecast changed: amount and/or expected close date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastRevised {
    /// New amount, if it changed.
    pub amount: Option<Money>,
    /// New expected close date, if it changed.
    pub expected_close: Option<Date>,
    /// The expected close date before, so slips are visible from the event alone.
    pub previous_close: Date,
}

/// We submitted a bid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidSubmitted {
    /// Our bid.
    pub amount: Money,
    /// Day of submission.
    pub submitted_on: Date,
    /// Competitors known to bid.
    pub competitors: Vec<Label>,
}

/// The deal ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityClosed {
    /// How it ended.
    pub outcome: Outcome,
    /// The stage it was in when it ended.
    pub stage: StageName,
    /// The amount won (for won deals: the estimate, unless stated).
    pub final_amount: Option<Money>,
    /// Who won instead, if lost to a competitor.
    pub winning_competitor: Option<Label>,
    /// The reason the rep states.
    pub stated_reason: Option<Text>,
}

/// A closed deal came back to life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityReopened {
    /// The stage it resumes in.
    pub stage: StageName,
    /// Why.
    pub reason: Option<Text>,
}

/// Another rep owns the deal now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerReassigned {
    /// The owner before.
    pub from: UserId,
    /// The owner now.
    pub to: UserId,
}

/// An unregistered participant's name, recorded in a follow-up of this deal, was erased at
/// their request: its key is destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantErased {
    /// The id the name was sealed under.
    pub person: uuid::Uuid,
    /// Why (a request's reference, say); never personal data.
    pub reason: Option<Text>,
}

/// Everything that can happen to a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpportunityEvent {
    /// See [`OpportunityOpened`].
    OpportunityOpened(OpportunityOpened),
    /// See [`StageChanged`].
    StageChanged(StageChanged),
    /// See [`FollowUpLogged`].
    FollowUpLogged(FollowUpLogged),
    /// See [`ContactEngaged`].
    ContactEngaged(ContactEngaged),
    /// See [`CrossFunctionalRecordAdded`].
    CrossFunctionalRecordAdded(CrossFunctionalRecordAdded),
    /// See [`ForecastRevised`].
    ForecastRevised(ForecastRevised),
    /// See [`BidSubmitted`].
    BidSubmitted(BidSubmitted),
    /// See [`OpportunityClosed`].
    OpportunityClosed(OpportunityClosed),
    /// See [`OpportunityReopened`].
    OpportunityReopened(OpportunityReopened),
    /// See [`OwnerReassigned`].
    OwnerReassigned(OwnerReassigned),
    /// An earlier record of this deal is retracted or amended.
    OpportunityEventCorrected(Correction<OpportunityEvent>),
    /// See [`ParticipantErased`].
    ParticipantErased(ParticipantErased),
}

impl OpportunityEvent {
    /// Whether this kind of event is a record that a correction may retract or amend. Stage
    /// changes, outcomes and owners are corrected by new events (move back, reopen, reassign).
    pub fn is_correctable(&self) -> bool {
        matches!(
            self,
            OpportunityEvent::FollowUpLogged(_)
                | OpportunityEvent::ContactEngaged(_)
                | OpportunityEvent::CrossFunctionalRecordAdded(_)
                | OpportunityEvent::BidSubmitted(_)
        )
    }
}

/// What a command wants to happen to a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpportunityCommand {
    /// Open a deal. Its `stage` is ignored: deals start in the pipeline's first stage.
    Open(OpportunityOpened),
    /// Move to another stage.
    ChangeStage {
        /// The target stage.
        to: StageName,
    },
    /// Log a follow-up.
    LogFollowUp(FollowUpLogged),
    /// Involve a registered contact.
    EngageContact(ContactEngaged),
    /// Add a presales, engineering, support or management record.
    AddCrossFunctionalRecord(CrossFunctionalRecordAdded),
    /// Revise amount and/or expected close date.
    ReviseForecast {
        /// New amount.
        amount: Option<Money>,
        /// New expected close date.
        expected_close: Option<Date>,
    },
    /// Record a bid.
    SubmitBid(BidSubmitted),
    /// Close with an outcome.
    Close {
        /// How it ended.
        outcome: Outcome,
        /// Amount won, if not the estimate.
        final_amount: Option<Money>,
        /// Who won instead.
        winning_competitor: Option<Label>,
        /// The rep's stated reason.
        reason: Option<Text>,
    },
    /// Reopen a closed deal at a stage.
    Reopen(OpportunityReopened),
    /// Give the deal to another rep.
    ReassignOwner {
        /// The new owner.
        to: UserId,
    },
    /// Retract or amend an earlier record of this deal.
    Correct(Correction<OpportunityEvent>),
    /// Erase an unregistered participant's name (the engine checks the deal recorded it).
    EraseParticipant(ParticipantErased),
}

/// The state a deal's rules need, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opportunity {
    /// How the deal was opened; `None` until then.
    pub opened: Option<OpportunityOpened>,
    /// Business time of the opening.
    pub opened_at: Timestamp,
    /// Current stage (the stage it closed in, when closed).
    pub stage: Option<StageName>,
    /// The outcome, while closed.
    pub closed: Option<Outcome>,
    /// Current owner.
    pub owner: Option<UserId>,
    /// Current estimated amount.
    pub amount: Option<Money>,
    /// Current expected close date.
    pub expected_close: Option<Date>,
    /// Correctable records by sequence number, with whether they were retracted.
    pub records: BTreeMap<u64, (&'static str, bool)>,
    /// What each record still in force shows, for stage gates, by sequence number.
    pub evidence: BTreeMap<u64, Evidence>,
    /// Events applied.
    pub version: u64,
}

/// The evidence a record shows.
fn evidence_of(event: &OpportunityEvent) -> Option<Evidence> {
    match event {
        OpportunityEvent::FollowUpLogged(_) => Some(Evidence::FollowUp),
        OpportunityEvent::ContactEngaged(e) => Some(Evidence::Engaged(e.role)),
        OpportunityEvent::CrossFunctionalRecordAdded(e) => Some(Evidence::Record(e.kind)),
        OpportunityEvent::BidSubmitted(_) => Some(Evidence::Bid),
        _ => None,
    }
}

/// What else an opportunity's rules read: its account and the pipeline in force.
#[derive(Debug, Clone, Copy)]
pub struct OpportunityDeps<'a> {
    /// The deal's account (for a new deal: the account it names).
    pub account: &'a Account,
    /// The pipeline in force now.
    pub pipeline: Option<&'a Pipeline>,
}

impl Opportunity {
    /// Folds events into a fresh deal.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a Recorded<OpportunityEvent>>,
    ) -> Opportunity {
        let mut opportunity = Opportunity::default();
        for e in events {
            opportunity.apply(e);
        }
        opportunity
    }

    /// The account the deal belongs to, once opened.
    pub fn account(&self) -> Option<AccountId> {
        self.opened.as_ref().map(|o| o.account)
    }

    /// Changes state; never fails and never checks a rule.
    pub fn apply(&mut self, recorded: &Recorded<OpportunityEvent>) {
        self.version += 1;
        let event = &recorded.event;
        if event.is_correctable() {
            self.records.insert(
                recorded.seq,
                (crate::event::type_name_of_opportunity(event), false),
            );
        }
        if let Some(e) = evidence_of(event) {
            self.evidence.insert(recorded.seq, e);
        }
        match event {
            OpportunityEvent::OpportunityOpened(e) => {
                self.opened = Some(e.clone());
                self.opened_at = recorded.occurred_at;
                self.stage = Some(e.stage.clone());
                self.owner = Some(e.owner.clone());
                self.amount = Some(e.amount);
                self.expected_close = Some(e.expected_close);
            }
            OpportunityEvent::StageChanged(e) => self.stage = Some(e.to.clone()),
            OpportunityEvent::ForecastRevised(e) => {
                if let Some(a) = e.amount {
                    self.amount = Some(a);
                }
                if let Some(d) = e.expected_close {
                    self.expected_close = Some(d);
                }
            }
            OpportunityEvent::OpportunityClosed(e) => self.closed = Some(e.outcome),
            OpportunityEvent::OpportunityReopened(e) => {
                self.closed = None;
                self.stage = Some(e.stage.clone());
            }
            OpportunityEvent::OwnerReassigned(e) => self.owner = Some(e.to.clone()),
            OpportunityEvent::OpportunityEventCorrected(c) => {
                if c.replacement.is_none()
                    && let Some(record) = self.records.get_mut(&c.target_seq)
                {
                    record.1 = true;
                }
                match c.replacement.as_deref().and_then(evidence_of) {
                    Some(e) => self.evidence.insert(c.target_seq, e),
                    None => self.evidence.remove(&c.target_seq),
                };
            }
            OpportunityEvent::FollowUpLogged(_)
            | OpportunityEvent::ContactEngaged(_)
            | OpportunityEvent::CrossFunctionalRecordAdded(_)
            | OpportunityEvent::BidSubmitted(_)
            | OpportunityEvent::ParticipantErased(_) => {}
        }
    }

    /// Applies the rules to a command and says which events it produces.
    pub fn decide(
        &self,
        ctx: &Context,
        deps: OpportunityDeps<'_>,
        command: OpportunityCommand,
    ) -> Result<Vec<OpportunityEvent>, DomainError> {
        ctx.check_not_future()?;
        let account = deps.account;
        if let OpportunityCommand::Open(mut e) = command {
            if self.opened.is_some() {
                return Err(DomainError::OpportunityAlreadyOpened);
            }
            if !account.is_registered() {
                return Err(DomainError::AccountNotRegistered);
            }
            ctx.check_not_before(account.registered_at)?;
            if let Some(unit) = e.org_unit
                && !account.org_units.contains(&unit)
            {
                return Err(DomainError::UnknownOrgUnit { org_unit: unit });
            }
            let pipeline = deps.pipeline.ok_or(DomainError::NoPipeline)?;
            e.stage = pipeline.first_stage().clone();
            return Ok(vec![OpportunityEvent::OpportunityOpened(e)]);
        }
        let Some(opened) = &self.opened else {
            return Err(DomainError::OpportunityNotOpened);
        };
        ctx.check_not_before(self.opened_at)?;
        let currency = opened.amount.currency();
        let check_currency = |m: &Money| {
            if m.currency() == currency {
                Ok(())
            } else {
                Err(DomainError::CurrencyMismatch {
                    expected: currency,
                    found: m.currency(),
                })
            }
        };
        let open_only = || match self.closed {
            Some(outcome) => Err(DomainError::OpportunityClosed { outcome }),
            None => Ok(()),
        };
        let current_stage = self.stage.clone().unwrap_or_else(|| opened.stage.clone());
        let event = match command {
            OpportunityCommand::Open(_) => unreachable!("handled above"),
            OpportunityCommand::ChangeStage { to } => {
                open_only()?;
                let pipeline = deps.pipeline.ok_or(DomainError::NoPipeline)?;
                if pipeline.position(&to).is_none() {
                    return Err(DomainError::UnknownStage { stage: to });
                }
                if to == current_stage {
                    return Err(DomainError::SameStage { stage: to });
                }
                let gate_missing = self.judge_gates(pipeline, &current_stage, &to)?;
                OpportunityEvent::StageChanged(StageChanged {
                    movement: pipeline.movement(&current_stage, &to),
                    from: current_stage,
                    to,
                    gate_missing,
                })
            }
            OpportunityCommand::LogFollowUp(e) => {
                open_only()?;
                e.check(account)?;
                OpportunityEvent::FollowUpLogged(e)
            }
            OpportunityCommand::EngageContact(e) => {
                open_only()?;
                match account.contacts.get(&e.contact) {
                    None => return Err(DomainError::UnknownContact { contact: e.contact }),
                    Some(c) if c.left => {
                        return Err(DomainError::ContactLeft { contact: e.contact });
                    }
                    Some(_) => {}
                }
                OpportunityEvent::ContactEngaged(e)
            }
            OpportunityCommand::AddCrossFunctionalRecord(e) => {
                if e.kind.function() != e.function {
                    return Err(DomainError::RecordKindNotForFunction {
                        kind: e.kind,
                        expected: e.kind.function(),
                        found: e.function,
                    });
                }
                OpportunityEvent::CrossFunctionalRecordAdded(e)
            }
            OpportunityCommand::ReviseForecast {
                amount,
                expected_close,
            } => {
                open_only()?;
                if let Some(a) = &amount {
                    check_currency(a)?;
                }
                let previous_close = self.expected_close.unwrap_or(opened.expected_close);
                let amount = amount.filter(|a| Some(*a) != self.amount);
                let expected_close = expected_close.filter(|d| *d != previous_close);
                if amount.is_none() && expected_close.is_none() {
                    return Err(DomainError::NothingChanged);
                }
                OpportunityEvent::ForecastRevised(ForecastRevised {
                    amount,
                    expected_close,
                    previous_close,
                })
            }
            OpportunityCommand::SubmitBid(e) => {
                open_only()?;
                check_currency(&e.amount)?;
                OpportunityEvent::BidSubmitted(e)
            }
            OpportunityCommand::Close {
                outcome,
                final_amount,
                winning_competitor,
                reason,
            } => {
                open_only()?;
                let pipeline = deps.pipeline.ok_or(DomainError::NoPipeline)?;
                if !pipeline.outcomes.contains(&outcome) {
                    return Err(DomainError::UnknownOutcome { outcome });
                }
                if let Some(a) = &final_amount {
                    check_currency(a)?;
                }
                let final_amount = match outcome {
                    Outcome::Won => final_amount.or(self.amount),
                    _ => final_amount,
                };
                OpportunityEvent::OpportunityClosed(OpportunityClosed {
                    outcome,
                    stage: current_stage,
                    final_amount,
                    winning_competitor,
                    stated_reason: reason,
                })
            }
            OpportunityCommand::Reopen(e) => {
                if self.closed.is_none() {
                    return Err(DomainError::OpportunityNotClosed);
                }
                let pipeline = deps.pipeline.ok_or(DomainError::NoPipeline)?;
                if pipeline.position(&e.stage).is_none() {
                    return Err(DomainError::UnknownStage { stage: e.stage });
                }
                OpportunityEvent::OpportunityReopened(e)
            }
            OpportunityCommand::ReassignOwner { to } => {
                let from = self.owner.clone().unwrap_or_else(|| opened.owner.clone());
                if from == to {
                    return Err(DomainError::SameOwner {
                        owner: to.to_string(),
                    });
                }
                OpportunityEvent::OwnerReassigned(OwnerReassigned { from, to })
            }
            OpportunityCommand::EraseParticipant(e) => OpportunityEvent::ParticipantErased(e),
            OpportunityCommand::Correct(c) => {
                crate::event::check_correction(&self.records, &c, |r| {
                    (
                        r.is_correctable(),
                        crate::event::type_name_of_opportunity(r),
                    )
                })?;
                if let Some(replacement) = c.replacement.as_deref() {
                    self.check_replacement(account, replacement, check_currency)?;
                }
                OpportunityEvent::OpportunityEventCorrected(c)
            }
        };
        Ok(vec![event])
    }

    /// The gates of every stage a forward move enters or passes over, judged against the
    /// pipeline in force: a hard gate not met refuses the move; what soft gates miss is
    /// returned to be recorded. Moving back passes no gate.
    fn judge_gates(
        &self,
        pipeline: &Pipeline,
        from: &StageName,
        to: &StageName,
    ) -> Result<Vec<String>, DomainError> {
        let shown: std::collections::BTreeSet<Evidence> = self.evidence.values().copied().collect();
        let mut soft = Vec::new();
        for stage in pipeline.entered(from, to) {
            let Some(gate) = pipeline.gate(stage) else {
                continue;
            };
            let missing = gate.missing(&shown);
            if missing.is_empty() {
                continue;
            }
            match gate.enforcement {
                Enforcement::Hard => {
                    return Err(DomainError::GateNotMet {
                        stage: stage.clone(),
                        missing,
                    });
                }
                Enforcement::Soft => {
                    soft.extend(missing.into_iter().map(|m| format!("{stage}: {m}")));
                }
            }
        }
        Ok(soft)
    }

    /// An amendment obeys the rules its original had to obey.
    fn check_replacement(
        &self,
        account: &Account,
        replacement: &OpportunityEvent,
        check_currency: impl Fn(&Money) -> Result<(), DomainError>,
    ) -> Result<(), DomainError> {
        match replacement {
            OpportunityEvent::FollowUpLogged(e) => {
                e.check(account)?;
                // A correction's bytes are not sealed: names of people stay out of them.
                if !e.unregistered_names.is_empty() {
                    return Err(DomainError::InvalidFollowUp {
                        reason: "an amendment cannot name unregistered participants; log a \
                                 new follow-up for them"
                            .into(),
                    });
                }
            }
            OpportunityEvent::ContactEngaged(e) if !account.has_contact(e.contact) => {
                return Err(DomainError::UnknownContact { contact: e.contact });
            }
            OpportunityEvent::CrossFunctionalRecordAdded(e) if e.kind.function() != e.function => {
                return Err(DomainError::RecordKindNotForFunction {
                    kind: e.kind,
                    expected: e.kind.function(),
                    found: e.function,
                });
            }
            OpportunityEvent::BidSubmitted(e) => check_currency(&e.amount)?,
            _ => {}
        }
        Ok(())
    }
}
