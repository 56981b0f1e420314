//! Mutations that record facts about accounts.

use async_graphql::{Context, InputObject, Object};
use dealtrail_domain::account::{AccountRegistered, ContactRegistered};
use dealtrail_domain::{
    AccountCommand, AccountId, BuyingRole, ContactId, ExternalId, Label, Name, OrgUnitId,
    Seniority, Text,
};
use dealtrail_engine::Command;

use crate::access::{WRITERS, require};
use crate::auth::Role;
use crate::corrections::{BusinessIndicatorInput, PurchaseInput, ServiceInteractionInput};
use crate::errors::{choice, error, field, optional};
use crate::scalars::{self, Decimal, MoneyInput, UInt64};
use crate::write::{CommandResult, WriteOptions, new_or, run};

/// A new customer enterprise.
#[derive(InputObject)]
pub struct RegisterAccountInput {
    /// Id to use (UUID); a new one if absent.
    pub id: Option<String>,
    /// Company name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// Headcount.
    pub employees: Option<UInt64>,
    /// Annual revenue.
    pub annual_revenue: Option<MoneyInput>,
    /// Region.
    pub region: Option<String>,
    /// The parent company, an account registered before.
    pub parent_id: Option<String>,
    /// Its id in the system it comes from (a re-import recognises it by this).
    pub external_id: Option<String>,
}

/// A person at a customer.
#[derive(InputObject)]
pub struct RegisterContactInput {
    /// The account.
    pub account_id: String,
    /// Full name.
    pub name: String,
    /// Buying role: decision_maker, influencer, procurement, technical_evaluator, user, other.
    pub role: String,
    /// Seniority: executive, director, manager, staff, unknown.
    pub seniority: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The org unit (department) the person works in.
    pub org_unit_id: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// Mutations that record facts about accounts.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Registers a customer enterprise. Sales, managers, admins.
    async fn register_account(
        &self,
        ctx: &Context<'_>,
        input: RegisterAccountInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let id = AccountId(new_or(input.id, "id")?);
        let label = |n, v: Option<String>| v.map(|s| field(n, Label::parse(s))).transpose();
        let command = Command::Account(
            id,
            AccountCommand::Register(AccountRegistered {
                name: field("name", Name::parse(input.name))?,
                industry: label("industry", input.industry)?,
                employees: input.employees.map(|e| e.to_u32("employees")).transpose()?,
                annual_revenue: input
                    .annual_revenue
                    .map(|m| m.parse("annualRevenue"))
                    .transpose()?,
                region: label("region", input.region)?,
                parent: optional("parentId", input.parent_id, |p| AccountId::parse(&p))?,
                external_id: optional("externalId", input.external_id, ExternalId::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Registers a person at a customer. Sales, managers, admins.
    async fn register_contact(
        &self,
        ctx: &Context<'_>,
        input: RegisterContactInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let account = field("accountId", AccountId::parse(&input.account_id))?;
        let role = BuyingRole::parse(&input.role).ok_or_else(|| {
            error(
                "VALIDATION",
                format!("role: unknown buying role {:?}", input.role),
            )
        })?;
        let seniority = match input.seniority {
            Some(s) => choice::<Seniority>("seniority", &s)?,
            None => Seniority::Unknown,
        };
        let command = Command::Account(
            account,
            AccountCommand::RegisterContact(ContactRegistered {
                contact: ContactId(uuid::Uuid::now_v7()),
                name: field("name", Name::parse(input.name))?,
                title: optional("title", input.title, Label::parse)?,
                org_unit: optional("orgUnitId", input.org_unit_id, |u| OrgUnitId::parse(&u))?,
                role,
                seniority,
                email: optional("email", input.email, Label::parse)?,
                phone: optional("phone", input.phone, Label::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Records a customer-service interaction on an account. Support, managers, admins.
    async fn record_service_interaction(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        #[graphql(desc = "ticket, satisfaction_check, training or other")] kind: String,
        #[graphql(desc = "1 to 5, where given")] satisfaction: Option<u8>,
        summary: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Support, Role::Manager, Role::Admin])?;
        let record = ServiceInteractionInput {
            kind,
            satisfaction,
            summary,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordServiceInteraction(record),
        );
        run(ctx, who, options, command).await
    }

    /// Adds a department or business unit to an account. Sales, managers, admins.
    async fn add_org_unit(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        name: String,
        parent_id: Option<String>,
        needs: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::AddOrgUnit(dealtrail_domain::account::OrgUnitAdded {
                org_unit: OrgUnitId(uuid::Uuid::now_v7()),
                name: field("name", Name::parse(name))?,
                parent: optional("parentId", parent_id, |p| OrgUnitId::parse(&p))?,
                needs: optional("needs", needs, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Records an account's business figures for a period (2024, 2024-Q2 or 2024-05).
    /// Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn record_business_indicator(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        period: String,
        #[graphql(desc = "In the currency's major unit")] revenue: Option<Decimal>,
        currency: Option<String>,
        headcount: Option<UInt64>,
        #[graphql(desc = "Where the figures come from")] source: Option<String>,
        #[graphql(desc = "A remark on the figures")] note: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let record = BusinessIndicatorInput {
            period,
            revenue,
            currency,
            headcount,
            source,
            note,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordBusinessIndicator(record),
        );
        run(ctx, who, options, command).await
    }

    /// Records a purchase (consumption history). Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn record_purchase(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        product: String,
        quantity: UInt64,
        #[graphql(desc = "licence, server, seat, subscription or item")] unit: String,
        #[graphql(desc = "In the currency's major unit")] amount: Decimal,
        currency: String,
        purchased_on: scalars::Date,
        #[graphql(desc = "The deal it was bought through, if any")] opportunity_id: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let record = PurchaseInput {
            product,
            quantity,
            opportunity_id,
            unit,
            amount,
            currency,
            purchased_on,
        }
        .event()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordPurchase(record),
        );
        run(ctx, who, options, command).await
    }

    /// Changes account profile fields; fields equal to the current value are ignored, and an
    /// update that changes nothing is refused. Sales, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn update_account_profile(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        name: Option<String>,
        industry: Option<String>,
        employees: Option<UInt64>,
        annual_revenue: Option<MoneyInput>,
        region: Option<String>,
        #[graphql(desc = "The parent company, an account registered before")] parent_id: Option<
            String,
        >,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let label = |n, v: Option<String>| v.map(|s| field(n, Label::parse(s))).transpose();
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::UpdateProfile(dealtrail_domain::account::AccountProfileUpdated {
                name: optional("name", name, Name::parse)?,
                industry: label("industry", industry)?,
                employees: employees.map(|e| e.to_u32("employees")).transpose()?,
                annual_revenue: annual_revenue
                    .map(|m| m.parse("annualRevenue"))
                    .transpose()?,
                region: label("region", region)?,
                parent: optional("parentId", parent_id, |p| AccountId::parse(&p))?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Changes a contact's title, org unit, buying role, seniority, e-mail or phone. Sales,
    /// managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        contact_id: String,
        title: Option<String>,
        org_unit_id: Option<String>,
        role: Option<String>,
        seniority: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let role = role.map(|r| choice::<BuyingRole>("role", &r)).transpose()?;
        let seniority = seniority
            .map(|x| choice::<Seniority>("seniority", &x))
            .transpose()?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::UpdateContact(dealtrail_domain::account::ContactUpdated {
                contact: field("contactId", ContactId::parse(&contact_id))?,
                title: optional("title", title, Label::parse)?,
                org_unit: optional("orgUnitId", org_unit_id, |u| OrgUnitId::parse(&u))?,
                role,
                seniority,
                email: optional("email", email, Label::parse)?,
                phone: optional("phone", phone, Label::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Records that a contact left the customer. Sales, managers, admins.
    async fn record_contact_left(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        contact_id: String,
        reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &WRITERS)?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::RecordContactLeft(dealtrail_domain::account::ContactLeft {
                contact: field("contactId", ContactId::parse(&contact_id))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Makes a rep responsible for an account. Managers, admins.
    async fn assign_account_owner(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        owner: String,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Manager, Role::Admin])?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::AssignOwner {
                owner: field("owner", dealtrail_domain::UserId::parse(owner))?,
            },
        );
        run(ctx, who, options, command).await
    }
}
