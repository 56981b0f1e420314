//! Who may do what: the caller's identity, role checks, deal ownership.

use std::sync::Arc;

use async_graphql::Context;
use dealtrail_domain::OpportunityId;
use dealtrail_engine::Engine;

use crate::auth::{Identity, Role};
use crate::errors::{engine_error, error, field};

/// The caller. On a WebSocket the token is checked again for every operation, so that a
/// revoked token starts nothing more on a socket opened before the revocation.
pub(crate) fn identity<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Identity> {
    let who = ctx
        .data_opt::<Identity>()
        .ok_or_else(|| error("UNAUTHENTICATED", "a bearer token is required"))?;
    if let Some(live) = ctx.data_opt::<crate::auth::LiveToken>()
        && !live.is_valid()
    {
        return Err(error("UNAUTHENTICATED", "unknown or revoked token"));
    }
    Ok(who)
}

pub(crate) fn require(ctx: &Context<'_>, allowed: &[Role]) -> async_graphql::Result<Identity> {
    let who = identity(ctx)?;
    if allowed.contains(&who.role) {
        Ok(who.clone())
    } else {
        Err(error(
            "FORBIDDEN",
            format!("role {} may not do this", who.role.as_str()),
        ))
    }
}

pub(crate) fn engine<'a>(ctx: &'a Context<'_>) -> &'a Arc<Engine> {
    ctx.data_unchecked::<Arc<Engine>>()
}

/// A deal-writing caller and the deal: a writer's role, the parsed id, and for sales reps
/// the check that they own the deal.
pub(crate) fn owned_deal(
    ctx: &Context<'_>,
    opportunity_id: &str,
) -> async_graphql::Result<(Identity, OpportunityId)> {
    let who = require(ctx, &WRITERS)?;
    let id = field("opportunityId", OpportunityId::parse(opportunity_id))?;
    check_owner(ctx, &who, id)?;
    Ok((who, id))
}

/// Sales may only write to deals they own; managers and admins to any.
pub(crate) fn check_owner(
    ctx: &Context<'_>,
    who: &Identity,
    deal: OpportunityId,
) -> async_graphql::Result<()> {
    if who.role != Role::Sales {
        return Ok(());
    }
    let owner = engine(ctx)
        .sales()
        .read(|m| {
            m.deals
                .get(&deal)
                .and_then(|d| d.owners.current().map(|o| m.names.get(*o).to_owned()))
        })
        .map_err(engine_error)?;
    match owner {
        Some(o) if o != who.user.as_str() => Err(error(
            "FORBIDDEN",
            "a sales rep may only change the deals he owns",
        )),
        _ => Ok(()),
    }
}

pub(crate) const WRITERS: [Role; 3] = [Role::Sales, Role::Manager, Role::Admin];

/// Who may log follow-ups: the deal writers and the other functions that meet customers.
pub(crate) const FOLLOW_UP_WRITERS: &[Role] = &[
    Role::Sales,
    Role::Manager,
    Role::Admin,
    Role::Presales,
    Role::Engineering,
    Role::Support,
];

/// The function a role's follow-ups are recorded under.
pub(crate) fn writer_function(role: Role) -> dealtrail_domain::Function {
    use dealtrail_domain::Function;
    match role {
        Role::Presales => Function::Presales,
        Role::Engineering => Function::Engineering,
        Role::Support => Function::Support,
        Role::Manager => Function::Management,
        _ => Function::Sales,
    }
}

/// Who may read deals and profiles: everyone but auditors, who read the raw log.
pub(crate) const EVERYONE_BUT_AUDITORS: &[Role] = &[
    Role::Admin,
    Role::Manager,
    Role::Sales,
    Role::Presales,
    Role::Engineering,
    Role::Support,
    Role::Analyst,
];

/// Who the caller is, as the token says.
#[derive(async_graphql::SimpleObject)]
pub struct Viewer {
    /// The token's name: the actor of every event this caller writes.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
}

/// `viewer`: lets a front-end show what the caller's role may see.
#[derive(Default)]
pub struct ViewerQuery;

#[async_graphql::Object]
impl ViewerQuery {
    /// The caller's name and role. Everyone.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let who = identity(ctx)?;
        Ok(Viewer {
            name: who.user.to_string(),
            role: who.role,
        })
    }
}
