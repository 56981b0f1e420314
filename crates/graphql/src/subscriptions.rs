//! Subscriptions: `events` (the raw log, live) and `opportunityChanged`.

use async_graphql::{Context, Subscription};
use dealtrail_domain::OpportunityId;
use dealtrail_funnel::Cut;
use dealtrail_store::{LogFilter, StreamId};

use crate::access::{EVERYONE_BUT_AUDITORS, engine, require};
use crate::auth::Role;
use crate::deals::{Deal, deal_row};
use crate::errors::{field, optional};
use crate::log::{EventEnvelope, envelope};
use crate::scalars::UInt64;

/// The subscription root: the log's and the process tools'.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(LogSubscription, crate::process::ProcessSubscription);

/// The raw log and deals, live.
#[derive(Default)]
pub struct LogSubscription;

#[Subscription]
impl LogSubscription {
    /// Every event from a sequence number on: first those in the log, then each new one as
    /// soon as it is durable, in order, once each. Auditors and admins.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First sequence number to deliver")] from_seq: Option<UInt64>,
        #[graphql(desc = "Only this stream")] stream: Option<String>,
        #[graphql(desc = "Only these event types")] event_types: Option<Vec<String>>,
        #[graphql(desc = "Only events recorded by this user")] actor: Option<String>,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = EventEnvelope>> {
        require(ctx, &[Role::Auditor, Role::Admin])?;
        let filter = LogFilter {
            stream: optional("stream", stream, StreamId::parse)?,
            event_types: event_types.unwrap_or_default().into_iter().collect(),
            actor,
            ..Default::default()
        };
        let subscription = engine(ctx)
            .store()
            .subscribe(from_seq.map_or(1, |s| s.0), filter);
        Ok(futures_util::stream::unfold(
            subscription,
            |mut s| async move {
                match s.next().await {
                    Some(Ok(e)) => Some((envelope(&e), s)),
                    _ => None,
                }
            },
        ))
    }

    /// A deal as the pipeline shows it after each write to it, from now on or from a
    /// sequence number (each view as it stood right after that write). Everyone but
    /// auditors.
    async fn opportunity_changed(
        &self,
        ctx: &Context<'_>,
        id: String,
        #[graphql(desc = "First sequence number to consider; now if absent")] from_seq: Option<
            UInt64,
        >,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = Deal>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let id = field("id", OpportunityId::parse(&id))?;
        let engine = engine(ctx).clone();
        let filter = LogFilter {
            stream: Some(dealtrail_engine::stream_id(
                dealtrail_domain::StreamName::Opportunity(id),
            )),
            ..Default::default()
        };
        let start = from_seq.map_or_else(|| engine.store().head().seq + 1, |s| s.0);
        let subscription = engine.store().subscribe(start, filter);
        Ok(futures_util::stream::unfold(
            (subscription, engine),
            move |(mut s, engine)| async move {
                loop {
                    let e = match s.next().await {
                        Some(Ok(e)) => e,
                        _ => return None,
                    };
                    engine.sales().wait_for(e.seq).await.ok()?;
                    let after_write = Cut {
                        recorded_through: e.seq,
                        ..Cut::ALL
                    };
                    let deal = engine
                        .sales()
                        .read(|m| m.deals.get(&id).and_then(|d| m.view(d, after_write)))
                        .ok()?;
                    if let Some(deal) = deal {
                        return Some((deal_row(deal), (s, engine)));
                    }
                }
            },
        ))
    }
}
