//! Relay's `Node` interface: deals, accounts and events fetched again by their global id.

use async_graphql::{Context, ID, Interface, Object};
use dealtrail_domain::{AccountId, OpportunityId, Timestamp};
use dealtrail_funnel::Cut;

use crate::access::{EVERYONE_BUT_AUDITORS, engine, require};
use crate::accounts::{Account, account_view};
use crate::auth::Role;
use crate::deals::{Deal, deal_row};
use crate::errors::{engine_error, error};
use crate::log::{EventEnvelope, envelope};

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "&ID", desc = "The global id, for `node(id:)`."))]
pub enum Node {
    /// A deal.
    Deal(Deal),
    /// An account.
    Account(Account),
    /// An event of the raw log.
    EventEnvelope(EventEnvelope),
}

/// The global id of the event with sequence number `seq`.
pub fn event_id(seq: u64) -> ID {
    ID(format!("event-{seq}"))
}

/// The `node` query, merged into the query root.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The deal, account or event with this global id as it stands now; null when there is
    /// none. Deals and accounts: everyone but auditors; events: auditors and admins.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        if let Some(seq) = id.strip_prefix("event-") {
            require(ctx, &[Role::Auditor, Role::Admin])?;
            let seq: u64 = seq
                .parse()
                .map_err(|_| error("VALIDATION", "id: not a global id"))?;
            let event = engine(ctx)
                .store()
                .event(seq)
                .map_err(|e| engine_error(e.into()))?;
            return Ok(event.map(|e| Node::EventEnvelope(envelope(&e))));
        }
        let uuid =
            uuid::Uuid::parse_str(&id).map_err(|_| error("VALIDATION", "id: not a global id"))?;
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let deal = OpportunityId(uuid);
        let row = engine(ctx)
            .sales()
            .read(|m| m.deals.get(&deal).and_then(|d| m.view(d, Cut::ALL)))
            .map_err(engine_error)?;
        if let Some(row) = row {
            return Ok(Some(Node::Deal(deal_row(row))));
        }
        Ok(account_view(ctx, AccountId(uuid), u64::MAX, Timestamp(i64::MAX))?.map(Node::Account))
    }
}
