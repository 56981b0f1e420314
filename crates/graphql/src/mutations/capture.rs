//! `quickLog`: one round trip from a mobile form or a chat bot after a visit.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use dealtrail_domain::{AccountId, Channel, OpportunityId, Text};

use crate::access::{FOLLOW_UP_WRITERS, engine, require, writer_function};
use crate::auth::Role;
use crate::capture::{Capture, resolve};
use crate::errors::{choice, error, field, optional};
use crate::scalars;
use crate::write::{CommandResult, WriteOptions, run};

/// What a rep has in hand after a visit.
#[derive(InputObject)]
pub struct QuickLogInput {
    /// The deal; without it, the account's one open deal (the caller's own, for sales reps).
    pub opportunity_id: Option<String>,
    /// The account, when the deal is not known.
    pub account_id: Option<String>,
    /// Who took part: names, e-mails, or `Name <e-mail>`, matched to registered contacts.
    pub participants: Vec<String>,
    /// visit, call, message, email or meeting.
    pub channel: String,
    /// What happened.
    pub summary: String,
    /// The agreed next step.
    pub next_step: Option<String>,
    /// When the next step is due (needs `nextStep`).
    pub next_step_due: Option<scalars::Date>,
}

/// A participant matched to a registered contact.
#[derive(SimpleObject)]
pub struct MatchedParticipant {
    /// As written.
    pub written: String,
    /// The contact.
    pub contact_id: String,
    /// The contact's registered name.
    pub name: String,
}

/// What `quickLog` wrote and how it read the participants.
#[derive(SimpleObject)]
pub struct QuickLogResult {
    /// The follow-up written.
    pub write: CommandResult,
    /// The deal it was written to.
    pub opportunity_id: String,
    /// Participants recorded as registered contacts.
    pub matched: Vec<MatchedParticipant>,
    /// Participants matching no contact (or several), recorded by name for a manager to
    /// register.
    pub unregistered_participants: Vec<String>,
}

/// Quick capture.
#[derive(Default)]
pub struct CaptureMutation;

#[Object]
impl CaptureMutation {
    /// Logs a follow-up from what a rep has after a visit, in one event: the deal (or the
    /// account's one open deal), participants matched by e-mail or name, a summary, a next
    /// step and its due date. Retry with `options.idempotencyKey` to write it once.
    async fn quick_log(
        &self,
        ctx: &Context<'_>,
        input: QuickLogInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<QuickLogResult> {
        let who = require(ctx, FOLLOW_UP_WRITERS)?;
        let capture = Capture {
            deal: optional("opportunityId", input.opportunity_id, |s| {
                OpportunityId::parse(&s)
            })?,
            account: optional("accountId", input.account_id, |s| AccountId::parse(&s))?,
            participants: input.participants,
            channel: choice::<Channel>("channel", &input.channel)?,
            summary: field("summary", Text::parse(input.summary))?,
            next_step: optional("nextStep", input.next_step, Text::parse)?,
            next_step_due: input.next_step_due.map(|d| d.0),
        };
        let owned_by = (who.role == Role::Sales).then(|| who.user.to_string());
        let captured = resolve(
            engine(ctx),
            capture,
            writer_function(who.role),
            owned_by.as_deref(),
        )
        .map_err(|e| error(e.code, e.message))?;
        let write = run(ctx, who, options, captured.command).await?;
        Ok(QuickLogResult {
            write,
            opportunity_id: captured.deal.to_string(),
            matched: captured
                .matched
                .into_iter()
                .map(|(written, id, name)| MatchedParticipant {
                    written,
                    contact_id: id.to_string(),
                    name,
                })
                .collect(),
            unregistered_participants: captured.unmatched,
        })
    }
}
