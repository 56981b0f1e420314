//! Records that can be corrected, as inputs shared by the mutations that add them and those
//! that amend them, and the correction mutations (retract, amend) for deals and accounts.

use async_graphql::{Context, InputObject, Object, OneofObject};
use dealtrail_domain::account::{
    AccountEvent, BusinessIndicatorRecorded, PurchaseRecorded, ServiceInteractionRecorded,
};
use dealtrail_domain::opportunity::{
    BidSubmitted, ContactEngaged, CrossFunctionalRecordAdded, FollowUpLogged, OpportunityEvent,
};
use dealtrail_domain::{
    AccountCommand, AccountId, Assessment, BuyingRole, Channel, ContactId, Correction, Currency,
    Event, Function, Label, Money, OpportunityCommand, OpportunityId, Period, RecordKind,
    Satisfaction, ServiceKind, Text, Unit,
};
use dealtrail_engine::Command;

use crate::access::{WRITERS, check_owner, engine, identity, require};
use crate::auth::{Identity, Role};
use crate::errors::{choice, engine_error, error, field, optional};
use crate::scalars::{self, Decimal, UInt64};
use crate::write::{CommandResult, WriteOptions, run};

/// A follow-up with the customer: what a rep logs after a visit, call or message.
#[derive(InputObject)]
pub struct FollowUpRecordInput {
    /// visit, call, message, email or meeting.
    pub channel: String,
    /// Registered contacts who took part.
    pub contact_ids: Option<Vec<String>>,
    /// People met who are not registered contacts (at least as many as
    /// `unregisteredNames`, which it defaults to).
    pub unregistered_participants: Option<u16>,
    /// Names or e-mails of unregistered participants, for a manager to register.
    pub unregistered_names: Option<Vec<String>>,
    /// What happened.
    pub summary: String,
    /// The agreed next step.
    pub next_step: Option<String>,
    /// When the next step is due (needs `nextStep`).
    pub next_step_due: Option<scalars::Date>,
}

impl FollowUpRecordInput {
    /// The follow-up as recorded by someone of `function`.
    pub(crate) fn event(self, function: Function) -> async_graphql::Result<FollowUpLogged> {
        let unregistered_names = self
            .unregistered_names
            .unwrap_or_default()
            .into_iter()
            .map(|n| field("unregisteredNames", Label::parse(n)))
            .collect::<Result<Vec<_>, _>>()?;
        let named = u16::try_from(unregistered_names.len())
            .map_err(|_| error("VALIDATION", "unregisteredNames: at most 65,535"))?;
        Ok(FollowUpLogged {
            channel: choice::<Channel>("channel", &self.channel)?,
            contacts: self
                .contact_ids
                .unwrap_or_default()
                .iter()
                .map(|c| field("contactIds", ContactId::parse(c)))
                .collect::<Result<Vec<_>, _>>()?,
            unregistered_participants: self.unregistered_participants.unwrap_or(named),
            function,
            summary: field("summary", Text::parse(self.summary))?,
            next_step: optional("nextStep", self.next_step, Text::parse)?,
            next_step_due: self.next_step_due.map(|d| d.0),
            unregistered_names,
        })
    }
}

/// A presales, engineering, support or management record on a deal.
#[derive(InputObject)]
pub struct CrossFunctionalRecordInput {
    /// solution_design, technical_review, demo, proof_of_concept, satisfaction_check or
    /// management_review.
    pub kind: String,
    /// positive, neutral or negative.
    pub assessment: String,
    /// 1 to 5, for satisfaction checks.
    pub satisfaction: Option<u8>,
    /// What was found.
    pub summary: String,
}

impl CrossFunctionalRecordInput {
    pub(crate) fn event(self) -> async_graphql::Result<CrossFunctionalRecordAdded> {
        let kind = choice::<RecordKind>("kind", &self.kind)?;
        Ok(CrossFunctionalRecordAdded {
            function: kind.function(),
            kind,
            assessment: choice::<Assessment>("assessment", &self.assessment)?,
            satisfaction: optional("satisfaction", self.satisfaction, Satisfaction::parse)?,
            summary: field("summary", Text::parse(self.summary))?,
        })
    }
}

/// A registered contact's part in a deal.
#[derive(InputObject)]
pub struct ContactEngagementInput {
    /// The contact.
    pub contact_id: String,
    /// The contact's part in this deal (a buying role).
    pub role: String,
}

impl ContactEngagementInput {
    pub(crate) fn event(self) -> async_graphql::Result<ContactEngaged> {
        Ok(ContactEngaged {
            contact: field("contactId", ContactId::parse(&self.contact_id))?,
            role: choice::<BuyingRole>("role", &self.role)?,
        })
    }
}

/// A bid submitted to the customer.
#[derive(InputObject)]
pub struct BidInput {
    /// In the currency's major unit.
    pub amount: Decimal,
    /// Currency, an ISO 4217 code such as USD.
    pub currency: String,
    /// When it was submitted.
    pub submitted_on: scalars::Date,
    /// Competitors known to bid.
    pub competitors: Option<Vec<String>>,
}

impl BidInput {
    pub(crate) fn event(self) -> async_graphql::Result<BidSubmitted> {
        let currency = field("currency", Currency::parse(&self.currency))?;
        Ok(BidSubmitted {
            amount: field("amount", Money::parse(&self.amount.0, currency))?,
            submitted_on: self.submitted_on.0,
            competitors: self
                .competitors
                .unwrap_or_default()
                .into_iter()
                .map(|c| field("competitors", Label::parse(c)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// An account's business figures for a period.
#[derive(InputObject)]
pub struct BusinessIndicatorInput {
    /// 2024, 2024-Q2 or 2024-05.
    pub period: String,
    /// Revenue in the currency's major unit.
    pub revenue: Option<Decimal>,
    /// Currency of the revenue; USD if absent.
    pub currency: Option<String>,
    /// Headcount.
    pub headcount: Option<UInt64>,
    /// Where the figures come from.
    pub source: Option<String>,
    /// A remark on the figures.
    pub note: Option<String>,
}

impl BusinessIndicatorInput {
    pub(crate) fn event(self) -> async_graphql::Result<BusinessIndicatorRecorded> {
        let currency = field(
            "currency",
            Currency::parse(self.currency.as_deref().unwrap_or("USD")),
        )?;
        Ok(BusinessIndicatorRecorded {
            period: field("period", Period::parse(&self.period))?,
            revenue: optional("revenue", self.revenue, |r| Money::parse(&r.0, currency))?,
            headcount: self.headcount.map(|h| h.to_u32("headcount")).transpose()?,
            note: optional("note", self.note, Text::parse)?,
            source: optional("source", self.source, Label::parse)?,
        })
    }
}

/// A purchase (consumption history).
#[derive(InputObject)]
pub struct PurchaseInput {
    /// The product.
    pub product: String,
    /// How many units.
    pub quantity: UInt64,
    /// The deal it was bought through, if any.
    pub opportunity_id: Option<String>,
    /// licence, server, seat, subscription or item.
    pub unit: String,
    /// In the currency's major unit.
    pub amount: Decimal,
    /// Currency, an ISO 4217 code such as USD.
    pub currency: String,
    /// When it was bought.
    pub purchased_on: scalars::Date,
}

impl PurchaseInput {
    pub(crate) fn event(self) -> async_graphql::Result<PurchaseRecorded> {
        let currency = field("currency", Currency::parse(&self.currency))?;
        Ok(PurchaseRecorded {
            product: field("product", Label::parse(self.product))?,
            quantity: self.quantity.to_u32("quantity")?,
            unit: choice::<Unit>("unit", &self.unit)?,
            amount: field("amount", Money::parse(&self.amount.0, currency))?,
            purchased_on: self.purchased_on.0,
            opportunity: optional("opportunityId", self.opportunity_id, |o| {
                OpportunityId::parse(&o)
            })?,
        })
    }
}

/// A customer-service interaction.
#[derive(InputObject)]
pub struct ServiceInteractionInput {
    /// ticket, satisfaction_check, training or other.
    pub kind: String,
    /// 1 to 5, where given.
    pub satisfaction: Option<u8>,
    /// What happened.
    pub summary: String,
}

impl ServiceInteractionInput {
    pub(crate) fn event(self) -> async_graphql::Result<ServiceInteractionRecorded> {
        Ok(ServiceInteractionRecorded {
            kind: choice::<ServiceKind>("kind", &self.kind)?,
            satisfaction: optional("satisfaction", self.satisfaction, Satisfaction::parse)?,
            summary: field("summary", Text::parse(self.summary))?,
        })
    }
}

/// The corrected version of a deal record: exactly one of these, of the original's kind.
#[derive(OneofObject)]
pub enum OpportunityRecordInput {
    /// A follow-up.
    FollowUp(FollowUpRecordInput),
    /// A presales, engineering, support or management record.
    CrossFunctionalRecord(CrossFunctionalRecordInput),
    /// A contact's engagement.
    ContactEngaged(ContactEngagementInput),
    /// A bid.
    Bid(BidInput),
}

/// The corrected version of an account record: exactly one of these, of the original's
/// kind.
#[derive(OneofObject)]
pub enum AccountRecordInput {
    /// Business figures.
    BusinessIndicator(BusinessIndicatorInput),
    /// A purchase.
    Purchase(PurchaseInput),
    /// A service interaction.
    ServiceInteraction(ServiceInteractionInput),
}

/// Whether a role may add (and so correct) cross-functional records of a function: each
/// function its own, managers the management reviews, admins all.
pub(crate) fn may_record(role: Role, function: Function) -> bool {
    match role {
        Role::Admin => true,
        Role::Presales => function == Function::Presales,
        Role::Engineering => function == Function::Engineering,
        Role::Support => function == Function::Support,
        Role::Manager => function == Function::Management,
        _ => false,
    }
}

/// The function of the record at `seq` when it is another function's than sales: a
/// cross-functional record, or a follow-up that presales, engineering, support or a manager
/// logged. Those records are that function's to correct.
fn record_function(ctx: &Context<'_>, seq: u64) -> async_graphql::Result<Option<Function>> {
    let Some(e) = stored(ctx, seq)? else {
        return Ok(None);
    };
    let decoded =
        dealtrail_engine::decode(&e, engine(ctx).store().vault()).map_err(engine_error)?;
    Ok(match decoded.event {
        Event::Opportunity(_, OpportunityEvent::CrossFunctionalRecordAdded(r)) => Some(r.function),
        Event::Opportunity(_, OpportunityEvent::FollowUpLogged(f))
            if f.function != Function::Sales =>
        {
            Some(f.function)
        }
        _ => None,
    })
}

/// The event a correction names, if the log has it.
fn stored(
    ctx: &Context<'_>,
    seq: u64,
) -> async_graphql::Result<Option<dealtrail_store::RecordedEvent>> {
    engine(ctx)
        .store()
        .event(seq)
        .map_err(|e| engine_error(e.into()))
}

/// Who may correct a deal record: for cross-functional records the role that adds them; for
/// the rest the deal's writers (its owner, managers, admins).
fn deal_corrector(
    ctx: &Context<'_>,
    opportunity_id: &str,
    function: Option<Function>,
) -> async_graphql::Result<(Identity, OpportunityId)> {
    let who = identity(ctx)?.clone();
    let id = field("opportunityId", OpportunityId::parse(opportunity_id))?;
    match function {
        Some(f) if may_record(who.role, f) => Ok((who, id)),
        Some(f) => Err(error(
            "FORBIDDEN",
            format!("role {} may not correct {f} records", who.role.as_str()),
        )),
        None => {
            let who = require(ctx, &WRITERS)?;
            check_owner(ctx, &who, id)?;
            Ok((who, id))
        }
    }
}

/// Who may correct an account record: service interactions support, managers and admins;
/// figures and purchases sales, managers and admins.
fn account_corrector(ctx: &Context<'_>, service: bool) -> async_graphql::Result<Identity> {
    if service {
        require(ctx, &[Role::Support, Role::Manager, Role::Admin])
    } else {
        require(ctx, &WRITERS)
    }
}

fn is_service_record(ctx: &Context<'_>, seq: u64) -> async_graphql::Result<bool> {
    Ok(stored(ctx, seq)?.is_some_and(|e| e.event_type == "ServiceInteractionRecorded"))
}

/// Corrections: the log keeps the original and the correction; read models apply both.
#[derive(Default)]
pub struct CorrectionMutation;

#[Object]
impl CorrectionMutation {
    /// Retracts an earlier record of a deal (a follow-up, engaged contact, cross-functional
    /// record or bid), naming it by sequence number. Cross-functional records: the role that
    /// adds them; the rest: the deal's owner, managers, admins.
    async fn retract_opportunity_record(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        seq: UInt64,
        reason: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let function = record_function(ctx, seq.0)?;
        let (who, id) = deal_corrector(ctx, &opportunity_id, function)?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Correct(Correction {
                target_seq: seq.0,
                replacement: None,
                reason: field("reason", Text::parse(reason))?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Replaces an earlier record of a deal with a corrected one of the same kind, naming
    /// it by sequence number. Who may: as for retraction.
    async fn amend_opportunity_record(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        seq: UInt64,
        replacement: OpportunityRecordInput,
        reason: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        // Both the original's function and the replacement's must be the caller's to touch;
        // an amended follow-up keeps the function of the one it replaces.
        let original = record_function(ctx, seq.0)?;
        let replacement = match replacement {
            OpportunityRecordInput::FollowUp(r) => {
                OpportunityEvent::FollowUpLogged(r.event(original.unwrap_or(Function::Sales))?)
            }
            OpportunityRecordInput::CrossFunctionalRecord(r) => {
                OpportunityEvent::CrossFunctionalRecordAdded(r.event()?)
            }
            OpportunityRecordInput::ContactEngaged(r) => {
                OpportunityEvent::ContactEngaged(r.event()?)
            }
            OpportunityRecordInput::Bid(r) => OpportunityEvent::BidSubmitted(r.event()?),
        };
        let (who, id) = deal_corrector(ctx, &opportunity_id, original)?;
        if let OpportunityEvent::CrossFunctionalRecordAdded(r) = &replacement {
            deal_corrector(ctx, &opportunity_id, Some(r.function))?;
        }
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Correct(Correction {
                target_seq: seq.0,
                replacement: Some(Box::new(replacement)),
                reason: field("reason", Text::parse(reason))?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Retracts an earlier record of an account (business figures, a purchase, a service
    /// interaction), naming it by sequence number. Service interactions: support, managers,
    /// admins; the rest: sales, managers, admins.
    async fn retract_account_record(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        seq: UInt64,
        reason: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = account_corrector(ctx, is_service_record(ctx, seq.0)?)?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::Correct(Correction {
                target_seq: seq.0,
                replacement: None,
                reason: field("reason", Text::parse(reason))?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Replaces an earlier record of an account with a corrected one of the same kind,
    /// naming it by sequence number. Who may: as for retraction.
    async fn amend_account_record(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        seq: UInt64,
        replacement: AccountRecordInput,
        reason: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let service = is_service_record(ctx, seq.0)?
            || matches!(replacement, AccountRecordInput::ServiceInteraction(_));
        let who = account_corrector(ctx, service)?;
        let replacement = match replacement {
            AccountRecordInput::BusinessIndicator(r) => {
                AccountEvent::BusinessIndicatorRecorded(r.event()?)
            }
            AccountRecordInput::Purchase(r) => AccountEvent::PurchaseRecorded(r.event()?),
            AccountRecordInput::ServiceInteraction(r) => {
                AccountEvent::ServiceInteractionRecorded(r.event()?)
            }
        };
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::Correct(Correction {
                target_seq: seq.0,
                replacement: Some(Box::new(replacement)),
                reason: field("reason", Text::parse(reason))?,
            }),
        );
        run(ctx, who, options, command).await
    }
}
