//! Mutations that record the steps of deals.

use async_graphql::{Context, InputObject, Object};
use dealtrail_domain::opportunity::OpportunityOpened;
use dealtrail_domain::{
    AccountId, Currency, ExternalId, Label, Money, Name, OpportunityCommand, OpportunityId,
    OrgUnitId, Outcome, StageName, Text,
};
use dealtrail_engine::Command;

use crate::access::{
    FOLLOW_UP_WRITERS, WRITERS, check_owner, identity, owned_deal, require, writer_function,
};
use crate::auth::Role;
use crate::corrections::{
    BidInput, ContactEngagementInput, CrossFunctionalRecordInput, FollowUpRecordInput, may_record,
};
use crate::errors::{choice, error, field, optional};
use crate::scalars::{self, Decimal, MoneyInput};
use crate::write::{CommandResult, WriteOptions, first_stage, new_or, run};

/// A new deal.
#[derive(InputObject)]
pub struct OpenOpportunityInput {
    /// Id to use (UUID); a new one if absent.
    pub id: Option<String>,
    /// The account.
    pub account_id: String,
    /// What it is about.
    pub title: String,
    /// Estimated amount in the currency's major unit (e.g. "1250.50").
    pub amount: Decimal,
    /// Currency, an ISO 4217 code such as USD.
    pub currency: String,
    /// Expected close date.
    pub expected_close: scalars::Date,
    /// Product line.
    pub product_line: Option<String>,
    /// The customer's org unit (department) the deal is with: what coverage and
    /// cross-sell are built on.
    pub org_unit_id: Option<String>,
    /// Where the deal came from (inbound, referral, event, ...).
    pub source: Option<String>,
    /// Its id in the system it comes from.
    pub external_id: Option<String>,
    /// Owner; defaults to the caller.
    pub owner: Option<String>,
}

/// A follow-up with the customer.
#[derive(InputObject)]
pub struct LogFollowUpInput {
    /// The deal.
    pub opportunity_id: String,
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

/// Mutations that record the steps of deals.
#[derive(Default)]
pub struct DealMutation;

#[Object]
impl DealMutation {
    /// Opens a deal in the pipeline's first stage. Sales, managers, admins.
    async fn open_opportunity(
        &self,
        ctx: &Context<'_>,
        input: OpenOpportunityInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let id = OpportunityId(new_or(input.id, "id")?);
        let currency = field("currency", Currency::parse(&input.currency))?;
        let owner = match input.owner {
            Some(o) if who.role == Role::Sales && o != who.user.as_str() => {
                return Err(error("FORBIDDEN", "a sales rep opens deals for himself"));
            }
            Some(o) => field("owner", dealtrail_domain::UserId::parse(o))?,
            None => who.user.clone(),
        };
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Open(OpportunityOpened {
                account: field("accountId", AccountId::parse(&input.account_id))?,
                title: field("title", Name::parse(input.title))?,
                owner,
                product_line: optional("productLine", input.product_line, Label::parse)?,
                org_unit: optional("orgUnitId", input.org_unit_id, |u| OrgUnitId::parse(&u))?,
                amount: field("amount", Money::parse(&input.amount.0, currency))?,
                expected_close: input.expected_close.0,
                source: optional("source", input.source, Label::parse)?,
                stage: first_stage(ctx)?,
                external_id: optional("externalId", input.external_id, ExternalId::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Moves a deal to another stage. Its owner, managers, admins.
    async fn change_stage(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        stage: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let to = field("stage", StageName::parse(stage))?;
        run(
            ctx,
            who,
            options,
            Command::Opportunity(id, OpportunityCommand::ChangeStage { to }),
        )
        .await
    }

    /// Logs a visit, call, message, email or meeting. The follow-up's function is the
    /// writer's: sales reps (their own deals) and admins log sales follow-ups, presales,
    /// engineering and support engineers their own, managers management ones.
    async fn log_follow_up(
        &self,
        ctx: &Context<'_>,
        input: LogFollowUpInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, FOLLOW_UP_WRITERS)?;
        let id = field("opportunityId", OpportunityId::parse(&input.opportunity_id))?;
        check_owner(ctx, &who, id)?;
        let function = writer_function(who.role);
        let record = FollowUpRecordInput {
            channel: input.channel,
            contact_ids: input.contact_ids,
            unregistered_participants: input.unregistered_participants,
            unregistered_names: input.unregistered_names,
            summary: input.summary,
            next_step: input.next_step,
            next_step_due: input.next_step_due,
        };
        let command =
            Command::Opportunity(id, OpportunityCommand::LogFollowUp(record.event(function)?));
        run(ctx, who, options, command).await
    }

    /// Adds a presales, engineering, support or management record to a deal: the other
    /// functions' own evidence. Each role adds its own kinds: presales solution_design and
    /// technical_review, engineering demo and proof_of_concept, support satisfaction_check,
    /// managers management_review; admins any.
    #[allow(clippy::too_many_arguments)]
    async fn add_cross_functional_record(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(
            desc = "solution_design, technical_review, demo, proof_of_concept, satisfaction_check or management_review"
        )]
        kind: String,
        #[graphql(desc = "positive, neutral or negative")] assessment: String,
        #[graphql(desc = "1 to 5, for satisfaction checks")] satisfaction: Option<u8>,
        summary: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = identity(ctx)?.clone();
        let record = CrossFunctionalRecordInput {
            kind,
            assessment,
            satisfaction,
            summary,
        }
        .event()?;
        if !may_record(who.role, record.function) {
            return Err(error(
                "FORBIDDEN",
                format!(
                    "role {} may not add {} records",
                    who.role.as_str(),
                    record.kind
                ),
            ));
        }
        let id = field("opportunityId", OpportunityId::parse(&opportunity_id))?;
        let command =
            Command::Opportunity(id, OpportunityCommand::AddCrossFunctionalRecord(record));
        run(ctx, who, options, command).await
    }

    /// Involves a registered contact of the account in a deal. Its owner, managers, admins.
    async fn engage_contact(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        contact_id: String,
        #[graphql(desc = "The contact's part in this deal (a buying role)")] role: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let record = ContactEngagementInput { contact_id, role }.event()?;
        let command = Command::Opportunity(id, OpportunityCommand::EngageContact(record));
        run(ctx, who, options, command).await
    }

    /// Revises a deal's amount and/or expected close date. Its owner, managers, admins.
    async fn revise_forecast(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "In the deal's currency's major unit")] amount: Option<Decimal>,
        currency: Option<String>,
        expected_close: Option<scalars::Date>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let currency = field(
            "currency",
            Currency::parse(currency.as_deref().unwrap_or("USD")),
        )?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::ReviseForecast {
                amount: optional("amount", amount, |a| Money::parse(&a.0, currency))?,
                expected_close: expected_close.map(|d| d.0),
            },
        );
        run(ctx, who, options, command).await
    }

    /// Records a bid. Its owner, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn submit_bid(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "In the currency's major unit")] amount: Decimal,
        currency: String,
        submitted_on: scalars::Date,
        competitors: Option<Vec<String>>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let record = BidInput {
            amount,
            currency,
            submitted_on,
            competitors,
        }
        .event()?;
        let command = Command::Opportunity(id, OpportunityCommand::SubmitBid(record));
        run(ctx, who, options, command).await
    }

    /// Reopens a closed deal at a stage. Its owner, managers, admins.
    async fn reopen_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        stage: String,
        reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Reopen(dealtrail_domain::opportunity::OpportunityReopened {
                stage: field("stage", StageName::parse(stage))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Gives a deal to another rep. Managers, admins.
    async fn reassign_owner(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        owner: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Manager, Role::Admin])?;
        let command = Command::Opportunity(
            field("opportunityId", OpportunityId::parse(&opportunity_id))?,
            OpportunityCommand::ReassignOwner {
                to: field("owner", dealtrail_domain::UserId::parse(owner))?,
            },
        );
        run(ctx, who, options, command).await
    }

    /// Closes a deal: won, lost, no_decision or withdrawn. Its owner, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn close_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        outcome: String,
        #[graphql(desc = "The rep's stated reason")] reason: Option<String>,
        #[graphql(desc = "The amount won, where it is not the estimate (the deal's currency)")]
        final_amount: Option<MoneyInput>,
        #[graphql(desc = "Who won instead, for a lost deal")] winning_competitor: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let (who, id) = owned_deal(ctx, &opportunity_id)?;
        let outcome = choice::<Outcome>("outcome", &outcome)?;
        let command = Command::Opportunity(
            id,
            OpportunityCommand::Close {
                outcome,
                final_amount: final_amount.map(|m| m.parse("finalAmount")).transpose()?,
                winning_competitor: optional(
                    "winningCompetitor",
                    winning_competitor,
                    Label::parse,
                )?,
                reason: optional("reason", reason, Text::parse)?,
            },
        );
        run(ctx, who, options, command).await
    }
}
