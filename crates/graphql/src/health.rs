//! The eight data-health questions summed over accounts, and `dataHealthTrend`: the same
//! answers month by month, to see whether record-keeping habits improve.

use std::collections::BTreeSet;

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::{AccountId, Date, Timestamp};

use crate::access::{engine, require};
use crate::accounts::HealthQuestionSummary;
use crate::auth::Role;
use crate::errors::{engine_error, error, field};
use crate::scalars::{DateTime, UInt64};

/// Most points a trend answers.
const MAX_POINTS: usize = 60;

/// How many of `accounts` (every account if `None`) answer each question.
pub(crate) fn summarize(
    m: &dealtrail_profile::Profiles,
    accounts: &Option<BTreeSet<AccountId>>,
) -> Vec<HealthQuestionSummary> {
    let mut rows: Vec<HealthQuestionSummary> = Vec::new();
    for (_, p) in m
        .accounts
        .iter()
        .filter(|(id, _)| crate::segments::admits(accounts, **id))
    {
        for a in p.health() {
            let i = usize::from(a.number.saturating_sub(1));
            while rows.len() <= i {
                rows.push(HealthQuestionSummary {
                    number: rows.len() as u8 + 1,
                    question: String::new(),
                    answered: UInt64(0),
                    accounts: UInt64(0),
                });
            }
            rows[i].question = a.question.into();
            rows[i].accounts.0 += 1;
            rows[i].answered.0 += u64::from(a.answered);
        }
    }
    rows
}

/// The data-health answers as recorded at one month's start.
#[derive(SimpleObject)]
pub struct HealthPoint {
    /// The moment (the first instant of a month, UTC).
    pub at: DateTime,
    /// Each question: how many of the accounts asked were answered then.
    pub questions: Vec<HealthQuestionSummary>,
}

/// The first instant of every month from `from`'s month to `to`, at most `MAX_POINTS`.
fn month_starts(from: Timestamp, to: Timestamp) -> async_graphql::Result<Vec<Timestamp>> {
    let (mut y, mut m, _) = from.date().ymd();
    let mut out = Vec::new();
    loop {
        let day =
            Date::from_ymd(y, m, 1).ok_or_else(|| error("VALIDATION", "from: no such month"))?;
        let t = Timestamp::start_of(day);
        if t > to {
            return Ok(out);
        }
        if t >= from {
            out.push(t);
        }
        if out.len() > MAX_POINTS {
            return Err(error(
                "VALIDATION",
                format!("from..to spans more than {MAX_POINTS} months"),
            ));
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
}

/// One account's trend on the occurred clock: its streams folded once per moment, keeping
/// the events that had occurred by then, in log order.
async fn occurred_trend(
    ctx: &Context<'_>,
    id: AccountId,
    moments: Vec<Timestamp>,
) -> async_graphql::Result<Vec<HealthPoint>> {
    use dealtrail_domain::Projection;
    let engine = engine(ctx).clone();
    tokio::task::spawn_blocking(move || {
        let deals: Vec<_> = engine.profiles().read(|m| {
            m.accounts
                .get(&id)
                .map(|p| p.deals.keys().copied().collect())
                .unwrap_or_default()
        })?;
        let events = engine.account_history(id, deals)?;
        let only = Some(BTreeSet::from([id]));
        Ok(moments
            .iter()
            .map(|t| {
                let mut m = dealtrail_profile::Profiles::default();
                for e in events.iter().filter(|e| e.occurred_at <= *t) {
                    m.apply(e);
                }
                HealthPoint {
                    at: DateTime(*t),
                    questions: summarize(&m, &only),
                }
            })
            .collect())
    })
    .await
    .map_err(|_| error("INTERNAL", "internal error"))?
    .map_err(engine_error)
}

/// The data-health trend.
#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// The eight questions at the start of every month from `from` to `to`, over all
    /// accounts, one account, or a segment (judged now). At most 60 months. On the
    /// recorded clock (the default): as the records stood then. On the occurred clock
    /// (one account only): what the records now say had happened by then. Analysts,
    /// managers, admins.
    async fn data_health_trend(
        &self,
        ctx: &Context<'_>,
        from: DateTime,
        to: DateTime,
        #[graphql(desc = "Only this account")] account_id: Option<String>,
        #[graphql(desc = "Only accounts in this segment")] segment: Option<
            crate::segments::SegmentInput,
        >,
        clock: Option<crate::asof::Clock>,
    ) -> async_graphql::Result<Vec<HealthPoint>> {
        require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
        if to.0 < from.0 {
            return Err(error("VALIDATION", "to: must not be before from"));
        }
        let moments = month_starts(from.0, to.0)?;
        if clock == Some(crate::asof::Clock::Occurred) {
            let Some(id) = account_id else {
                return Err(error(
                    "VALIDATION",
                    "clock: OCCURRED needs accountId (it refolds one account's streams)",
                ));
            };
            let id = field("accountId", AccountId::parse(&id))?;
            return occurred_trend(ctx, id, moments).await;
        }
        let mut accounts = crate::segments::SegmentInput::accounts(segment, ctx, None).await?;
        if let Some(id) = account_id {
            let id = field("accountId", AccountId::parse(&id))?;
            accounts = Some(match accounts {
                Some(set) => set.into_iter().filter(|a| *a == id).collect(),
                None => BTreeSet::from([id]),
            });
        }
        let engine = engine(ctx).clone();
        let cancel = crate::scope::cancel(ctx);
        let points = tokio::task::spawn_blocking(move || {
            engine
                .profiles()
                .series_recorded_or_cancel(&moments, &cancel, |m| summarize(m, &accounts))
                .map(|series| {
                    moments
                        .iter()
                        .zip(series)
                        .map(|(t, questions)| HealthPoint {
                            at: DateTime(*t),
                            questions,
                        })
                        .collect::<Vec<_>>()
                })
        })
        .await
        .map_err(|_| error("INTERNAL", "internal error"))?
        .map_err(engine_error)?;
        Ok(points)
    }
}
