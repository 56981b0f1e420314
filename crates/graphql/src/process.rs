//! The process tools' reads: follow-up alerts (a query and `alertStarted`) and the
//! participants still to register.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject, Subscription};
use dealtrail_domain::{AccountId, Timestamp};
use dealtrail_engine::Engine;
use dealtrail_funnel::{Alert, AlertKind, AlertRules};
use dealtrail_store::LogFilter;

use crate::access::{EVERYONE_BUT_AUDITORS, engine, require};
use crate::asof::{Clock, model_at, moment, past};
use crate::capture::find_contact;
use crate::errors::{error, optional};
use crate::scalars::{DateTime, UInt64};

/// One alert on one open deal.
#[derive(SimpleObject, Clone)]
pub struct AlertRow {
    /// The deal.
    pub opportunity_id: String,
    /// Its title.
    pub title: String,
    /// Its account.
    pub account_id: String,
    /// Its owner.
    pub owner: String,
    /// The stage it is in.
    pub stage: String,
    /// `no_follow_up`, `next_step_overdue`, `stalled` or `close_date_passed`.
    pub kind: String,
    /// When the alert started.
    pub since: DateTime,
    /// The facts behind it.
    pub detail: String,
}

fn row(a: Alert) -> AlertRow {
    AlertRow {
        opportunity_id: a.deal.to_string(),
        title: a.title,
        account_id: a.account.to_string(),
        owner: a.owner,
        stage: a.stage,
        kind: a.kind.as_str().to_owned(),
        since: DateTime(a.since),
        detail: a.detail,
    }
}

fn kinds(kind: Option<String>) -> async_graphql::Result<Option<AlertKind>> {
    kind.map(|k| {
        AlertKind::parse(&k).ok_or_else(|| {
            error(
                "VALIDATION",
                format!(
                    "kind: unknown value {k:?} (one of: {})",
                    AlertKind::ALL.map(AlertKind::as_str).join(", ")
                ),
            )
        })
    })
    .transpose()
}

fn rules(ctx: &Context<'_>) -> Arc<AlertRules> {
    ctx.data_opt::<Arc<AlertRules>>()
        .cloned()
        .unwrap_or_default()
}

/// A participant a follow-up recorded by name who matches no registered contact now.
#[derive(SimpleObject)]
pub struct UnregisteredParticipant {
    /// As the rep wrote it.
    pub written: String,
    /// The id its name is sealed under (for `eraseParticipant`); null for names written
    /// before names were sealed.
    pub person_id: Option<String>,
    /// The account met.
    pub account_id: String,
    /// The deal of the follow-up.
    pub opportunity_id: String,
    /// The follow-up's sequence number.
    pub seq: UInt64,
    /// When the follow-up took place.
    pub occurred_at: DateTime,
}

/// The process tools' queries.
#[derive(Default)]
pub struct ProcessQuery;

#[Object]
impl ProcessQuery {
    /// The follow-up alerts in force on open deals, now or as of a moment, by deal. The
    /// rules are the server's (`serve --alerts`). Everyone but auditors.
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deals this user owns")] owner: Option<String>,
        #[graphql(desc = "Only this kind")] kind: Option<String>,
        #[graphql(desc = "Only deals of accounts in this segment")] segment: Option<
            crate::segments::SegmentInput,
        >,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<AlertRow>>> {
        crate::scope::once(ctx, async move {
            require(ctx, EVERYONE_BUT_AUDITORS)?;
            let kind = kinds(kind)?;
            let when = past(ctx, as_of, clock)?;
            let accounts = crate::segments::SegmentInput::accounts(segment, ctx, when).await?;
            let now = moment(when);
            let rules = rules(ctx);
            model_at(ctx, when, Engine::sales, move |m| {
                m.alerts(now, &rules)
                    .into_iter()
                    .filter(|a| kind.is_none_or(|k| k == a.kind))
                    .filter(|a| owner.as_deref().is_none_or(|o| o == a.owner))
                    .filter(|a| crate::segments::admits(&accounts, a.account))
                    .map(row)
                    .collect()
            })
            .await
        })
        .await
    }

    /// People that follow-ups recorded by name and who match no registered contact of the
    /// account now: a manager's list of contacts to register, newest first (erased names
    /// are left out). Managers, admins.
    async fn unregistered_participants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this account")] account_id: Option<String>,
    ) -> async_graphql::Result<Vec<UnregisteredParticipant>> {
        require(ctx, &[crate::auth::Role::Manager, crate::auth::Role::Admin])?;
        let only = optional("accountId", account_id, |s| AccountId::parse(&s))?;
        let engine = engine(ctx);
        let mut follow_ups: Vec<(AccountId, dealtrail_domain::OpportunityId, u64, Timestamp)> =
            engine
                .sales()
                .read(|m| {
                    m.deals
                        .values()
                        .filter(|d| only.is_none_or(|a| a == d.account))
                        .flat_map(|d| {
                            d.unregistered
                                .iter()
                                .map(move |(seq, at)| (d.account, d.id, *seq, *at))
                        })
                        .collect()
                })
                .map_err(crate::errors::engine_error)?;
        follow_ups.sort_by_key(|f| std::cmp::Reverse(f.2));
        let mut out = Vec::new();
        let mut contacts = std::collections::BTreeMap::new();
        for (account, deal, seq, at) in follow_ups {
            let stored = engine
                .store()
                .read_all(seq, 1)
                .map_err(|e| crate::errors::engine_error(e.into()))?;
            let Some(stored) = stored.first() else {
                continue;
            };
            let known = match contacts.entry(account) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    engine
                        .account_at(account, u64::MAX, Timestamp(i64::MAX))
                        .map_err(crate::errors::engine_error)?
                        .map(|a| a.contacts)
                        .unwrap_or_default(),
                ),
            };
            for (person, name) in
                dealtrail_engine::personal::participants(engine.store().vault(), stored)
            {
                if find_contact(&name, known).is_some() {
                    continue;
                }
                out.push(UnregisteredParticipant {
                    written: name,
                    person_id: person.map(|p| p.to_string()),
                    account_id: account.to_string(),
                    opportunity_id: deal.to_string(),
                    seq: UInt64(seq),
                    occurred_at: DateTime(at),
                });
            }
        }
        Ok(out)
    }
}

/// The process tools' subscription.
#[derive(Default)]
pub struct ProcessSubscription;

#[Subscription]
impl ProcessSubscription {
    /// Each alert as it starts, from now on: when time passes its threshold or a write
    /// makes it true. Alerts already in force when the subscription starts are not sent.
    /// Everyone but auditors.
    async fn alert_started(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deals this user owns")] owner: Option<String>,
        #[graphql(desc = "Only this kind")] kind: Option<String>,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = AlertRow>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let kind = kinds(kind)?;
        let rules = rules(ctx);
        let engine = engine(ctx).clone();
        let wanted = move |a: &Alert| {
            kind.is_none_or(|k| k == a.kind) && owner.as_deref().is_none_or(|o| o == a.owner)
        };
        let key = |a: &Alert| (a.deal, a.kind, a.since);
        let now = dealtrail_engine::now();
        let (current, next) = engine
            .sales()
            .read(|m| m.alerts_and_next(now, &rules))
            .map_err(crate::errors::engine_error)?;
        let seen: std::collections::BTreeSet<_> = current.iter().map(key).collect();
        let log = engine
            .store()
            .subscribe(engine.store().head().seq + 1, LogFilter::default());
        // The state between items: what was seen, what is queued, and when the next alert
        // starts if nothing is written meanwhile.
        let queue = std::collections::VecDeque::new();
        Ok(futures_util::stream::unfold(
            (engine, rules, log, seen, queue, next),
            move |(engine, rules, mut log, mut seen, mut queue, mut next)| {
                let wanted = wanted.clone();
                async move {
                    loop {
                        if let Some(a) = queue.pop_front() {
                            return Some((row(a), (engine, rules, log, seen, queue, next)));
                        }
                        let now = dealtrail_engine::now();
                        // Wake at the next threshold, or each minute to catch what time
                        // alone changes (a p90 moved by other deals).
                        let wait =
                            next.map_or(60.0, |t| ((t.0 - now.0) as f64 / 1e6).clamp(0.0, 60.0));
                        tokio::select! {
                            e = log.next() => {
                                let e = e?.ok()?;
                                engine.sales().wait_for(e.seq).await.ok()?;
                            }
                            () = tokio::time::sleep(std::time::Duration::from_secs_f64(wait + 0.001)) => {}
                        }
                        let now = dealtrail_engine::now();
                        let current;
                        (current, next) = engine
                            .sales()
                            .read(|m| m.alerts_and_next(now, &rules))
                            .ok()?;
                        for a in current {
                            if seen.insert(key(&a)) && wanted(&a) {
                                queue.push_back(a);
                            }
                        }
                    }
                }
            },
        ))
    }
}
