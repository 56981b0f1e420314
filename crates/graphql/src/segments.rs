//! Customer segments by business outcome: the `accountSegments` query and the segment
//! fields of every deal filter, resolved to the accounts in the segment at the moment asked.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::AccountId;
use dealtrail_engine::Engine;
use dealtrail_profile::{Relationship, Segment, SegmentConfig, Trend, Value};

use crate::access::require;
use crate::asof::{Clock, Past, model_at, moment, past};
use crate::auth::Role;
use crate::errors::error;
use crate::scalars::{DateTime, UInt64};

/// A customer segment by business outcome; unset parts match every account.
#[derive(async_graphql::InputObject, Default)]
pub struct SegmentInput {
    /// `growing`, `stable`, `declining` or `unknown`.
    pub business_trend: Option<String>,
    /// `high`, `medium`, `low` or `none`.
    pub customer_value: Option<String>,
    /// `strong`, `moderate` or `weak`.
    pub relationship: Option<String>,
}

impl SegmentInput {
    /// The accounts in the segment at the moment `when` (now without it); `None` when no
    /// segment is asked for.
    pub(crate) async fn accounts(
        segment: Option<SegmentInput>,
        ctx: &Context<'_>,
        when: Option<Past>,
    ) -> async_graphql::Result<Option<BTreeSet<AccountId>>> {
        let s = segment.unwrap_or_default();
        Wanted::parse(
            s.business_trend.as_deref(),
            s.customer_value.as_deref(),
            s.relationship.as_deref(),
        )?
        .accounts(ctx, when)
        .await
    }
}

/// Whether an account is in a segment that [`SegmentInput::accounts`] resolved.
pub(crate) fn admits(set: &Option<BTreeSet<AccountId>>, account: AccountId) -> bool {
    set.as_ref().is_none_or(|s| s.contains(&account))
}

/// The segment a filter asks for; unset parts match every account.
#[derive(Clone, Copy, Default)]
pub(crate) struct Wanted {
    trend: Option<Trend>,
    value: Option<Value>,
    relationship: Option<Relationship>,
}

fn parse<T: Copy>(
    name: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    text: fn(T) -> &'static str,
) -> async_graphql::Result<Option<T>> {
    value
        .map(|v| {
            parse(v).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|t| text(*t)).collect();
                error(
                    "VALIDATION",
                    format!("{name}: unknown value {v:?} (one of: {})", names.join(", ")),
                )
            })
        })
        .transpose()
}

impl Wanted {
    /// The segment named by a filter's `businessTrend`, `customerValue`, `relationship`.
    pub(crate) fn parse(
        trend: Option<&str>,
        value: Option<&str>,
        relationship: Option<&str>,
    ) -> async_graphql::Result<Wanted> {
        Ok(Wanted {
            trend: parse(
                "filter.businessTrend",
                trend,
                Trend::parse,
                Trend::ALL,
                Trend::as_str,
            )?,
            value: parse(
                "filter.customerValue",
                value,
                Value::parse,
                Value::ALL,
                Value::as_str,
            )?,
            relationship: parse(
                "filter.relationship",
                relationship,
                Relationship::parse,
                Relationship::ALL,
                Relationship::as_str,
            )?,
        })
    }

    fn admits(&self, s: &Segment) -> bool {
        self.trend.is_none_or(|t| t == s.trend)
            && self.value.is_none_or(|v| v == s.value)
            && self.relationship.is_none_or(|r| r == s.relationship)
    }

    /// The accounts in the segment at the moment `when` (now without it), or `None` when the
    /// filter asks for no segment.
    pub(crate) async fn accounts(
        self,
        ctx: &Context<'_>,
        when: Option<Past>,
    ) -> async_graphql::Result<Option<BTreeSet<AccountId>>> {
        if self.trend.is_none() && self.value.is_none() && self.relationship.is_none() {
            return Ok(None);
        }
        let now = moment(when);
        let config = SegmentConfig::default();
        let set = model_at(ctx, when, Engine::profiles, move |m| {
            m.accounts
                .iter()
                .filter(|(_, p)| self.admits(&p.segment(&m.names, &config, now)))
                .map(|(id, _)| *id)
                .collect()
        })
        .await?;
        Ok(Some(set))
    }
}

/// One account's segment and the figures behind it.
#[derive(SimpleObject, Clone)]
pub struct AccountSegment {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// `growing`, `stable`, `declining` or `unknown`.
    pub business_trend: String,
    /// The periods compared, earlier first (`2025-Q3`), when there were two.
    pub compared_periods: Vec<String>,
    /// Their relative change (0.1 for +10%).
    pub change: Option<f64>,
    /// `high`, `medium`, `low` or `none`.
    pub customer_value: String,
    /// Purchases in the twelve months before the moment, in minor units (cents), all
    /// currencies added as recorded.
    pub purchases_last_year_minor: UInt64,
    /// `strong`, `moderate` or `weak`.
    pub relationship: String,
    /// Distinct buying roles among current contacts.
    pub roles_covered: UInt64,
    /// The top rep's share of follow-ups.
    pub top_rep_share: Option<f64>,
    /// The latest follow-up.
    pub last_follow_up: Option<DateTime>,
}

/// The segments query.
#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// Every account's segment by business outcome (docs/analytics.md), now or as of a
    /// moment, optionally only one segment. Analysts, managers, admins.
    async fn account_segments(
        &self,
        ctx: &Context<'_>,
        business_trend: Option<String>,
        customer_value: Option<String>,
        relationship: Option<String>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<AccountSegment>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let wanted = Wanted::parse(
                business_trend.as_deref(),
                customer_value.as_deref(),
                relationship.as_deref(),
            )?;
            let when = past(ctx, as_of, clock)?;
            let now = moment(when);
            let config = SegmentConfig::default();
            model_at(ctx, when, Engine::profiles, move |m| {
                m.accounts
                    .iter()
                    .filter(|(_, p)| !p.name.is_empty())
                    .map(|(id, p)| (id, p, p.segment(&m.names, &config, now)))
                    .filter(|(_, _, s)| wanted.admits(s))
                    .map(|(id, p, s)| AccountSegment {
                        account_id: id.to_string(),
                        account_name: p.name.clone(),
                        business_trend: s.trend.as_str().into(),
                        compared_periods: s
                            .compared
                            .map(|(a, b, _)| vec![a.to_string(), b.to_string()])
                            .unwrap_or_default(),
                        change: s.compared.map(|c| (c.2 * 10_000.0).round() / 10_000.0),
                        customer_value: s.value.as_str().into(),
                        purchases_last_year_minor: UInt64(s.purchases_minor.max(0) as u64),
                        relationship: s.relationship.as_str().into(),
                        roles_covered: UInt64(s.roles as u64),
                        top_rep_share: s.top_share.map(|x| (x * 1000.0).round() / 1000.0),
                        last_follow_up: s.last_follow_up.map(DateTime),
                    })
                    .collect()
            })
            .await
        })
        .await
    }
}
