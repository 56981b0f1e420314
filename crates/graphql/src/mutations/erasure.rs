//! Erasing a person at their request: `eraseContact` and `eraseParticipant`. The person's
//! key is destroyed, so their personal data reads as "(erased)" in every copy of the log,
//! and the erasure itself is recorded as an event. Admins.

use async_graphql::{Context, Object};
use dealtrail_domain::account::ContactErased;
use dealtrail_domain::opportunity::ParticipantErased;
use dealtrail_domain::{
    AccountCommand, AccountId, ContactId, OpportunityCommand, OpportunityId, Text,
};
use dealtrail_engine::Command;

use crate::access::require;
use crate::auth::Role;
use crate::errors::{field, optional};
use crate::write::{CommandResult, WriteOptions, run};

/// Erasure.
#[derive(Default)]
pub struct ErasureMutation;

#[Object]
impl ErasureMutation {
    /// Erases a contact's name, e-mail and phone from every event of the log by destroying
    /// their key (docs/operations.md, Erasure). The contact stays, as "(erased)", in the
    /// analyses. Admins.
    async fn erase_contact(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        contact_id: String,
        #[graphql(desc = "Why: a request's reference, never personal data")] reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Admin])?;
        let command = Command::Account(
            field("accountId", AccountId::parse(&account_id))?,
            AccountCommand::EraseContact(ContactErased {
                contact: field("contactId", ContactId::parse(&contact_id))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }

    /// Erases an unregistered participant's name (its `personId` from
    /// `unregisteredParticipants`) from the deal's follow-ups. Admins.
    async fn erase_participant(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        person_id: String,
        #[graphql(desc = "Why: a request's reference, never personal data")] reason: Option<String>,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Admin])?;
        let command = Command::Opportunity(
            field("opportunityId", OpportunityId::parse(&opportunity_id))?,
            OpportunityCommand::EraseParticipant(ParticipantErased {
                person: field("personId", uuid::Uuid::parse_str(&person_id))?,
                reason: optional("reason", reason, Text::parse)?,
            }),
        );
        run(ctx, who, options, command).await
    }
}
