//! Account queries: one account now or as of a moment (folded from its own stream), and
//! the account list as a Relay connection.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject};
use dealtrail_domain::{AccountId, Timestamp};

use crate::page::{Page, PageArgs, connection, fingerprint};

/// The sort key of an account in the list: the count sorted by (0 when sorting by name),
/// the name, the id.
type AccountKey = (u64, String, AccountId);
use dealtrail_engine::Engine;

use crate::access::{EVERYONE_BUT_AUDITORS, engine, require};
use crate::asof::{Clock, Past, model_at, moment, past};
use crate::auth::Role;
use crate::errors::{engine_error, field};
use crate::scalars::{DateTime, UInt64};

/// A customer enterprise as its own records describe it.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Account {
    /// Account id (a UUID, also its global id for `node(id:)`).
    pub id: async_graphql::ID,
    /// Company name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// Headcount.
    pub employees: Option<UInt64>,
    /// Region.
    pub region: Option<String>,
    /// Id in the system it came from, if imported.
    pub external_id: Option<String>,
    /// The rep responsible.
    pub owner: Option<String>,
    /// Business time of the registration.
    pub registered_at: DateTime,
    /// Departments and business units.
    pub org_units: Vec<OrgUnit>,
    /// People at the customer, including those who left.
    pub contacts: Vec<Contact>,
    /// Events of the account's stream that this view reflects.
    pub version: UInt64,
    /// The cut the view was folded at, for the records read on demand.
    #[graphql(skip)]
    pub(crate) cut: (AccountId, u64, Timestamp),
    /// The account's records, read from its stream the first time a field asks for them
    /// (a list of accounts that does not select them reads none).
    #[graphql(skip)]
    pub(crate) records: Arc<std::sync::OnceLock<crate::records::Records>>,
}

#[async_graphql::ComplexObject]
impl Account {
    /// Business figures recorded (revenue, headcount per period), in log order.
    async fn business_figures(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::records::BusinessFigure>> {
        Ok(self.records(ctx)?.figures.clone())
    }

    /// What the customer bought, in log order.
    async fn purchases(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::records::Purchase>> {
        Ok(self.records(ctx)?.purchases.clone())
    }

    /// Service interactions, in log order.
    async fn service_interactions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::records::ServiceInteraction>> {
        Ok(self.records(ctx)?.service.clone())
    }
}

impl Account {
    /// The records as of the view's cut, read once for all three fields.
    fn records(&self, ctx: &Context<'_>) -> async_graphql::Result<&crate::records::Records> {
        if let Some(r) = self.records.get() {
            return Ok(r);
        }
        let (id, through, occurred) = self.cut;
        let read = engine(ctx)
            .account_records_at(id, through, occurred)
            .map_err(engine_error)?;
        Ok(self
            .records
            .get_or_init(|| crate::records::Records::of(&read)))
    }
}

/// A department or business unit of an account.
#[derive(SimpleObject, Clone)]
pub struct OrgUnit {
    /// Org unit id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A person at a customer.
#[derive(SimpleObject, Clone)]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Job title.
    pub title: Option<String>,
    /// Buying role.
    pub role: String,
    /// Seniority.
    pub seniority: String,
    /// The org unit the person works in.
    pub org_unit_id: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Whether the person has left the customer.
    pub left: bool,
    /// Whether the person's personal data was erased (name then reads "(erased)").
    pub erased: bool,
}

/// A signal on one account.
#[derive(SimpleObject)]
pub struct AccountSignalRow {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Kind (`upsell`, `cross_sell`, `churn_risk`, ...; see docs/analytics.md).
    pub kind: String,
    /// Why it fired, with the figures.
    pub reason: String,
}

/// How many accounts can answer one of the eight data-health questions.
#[derive(SimpleObject)]
pub struct HealthQuestionSummary {
    /// 1 to 8.
    pub number: u8,
    /// The question.
    pub question: String,
    /// Accounts whose records answer it.
    pub answered: UInt64,
    /// Accounts asked.
    pub accounts: UInt64,
}

/// How the account list is sorted.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccountOrder {
    /// Company name.
    Name,
    /// Number of deals.
    Deals,
    /// Number of registered contacts.
    Contacts,
}

/// Analyses across all accounts, merged into the query root.
#[derive(Default)]
pub struct AnalysisOfAccounts;

/// Account queries, merged into the query root.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// One account, now or as of a moment. Everyone but auditors.
    async fn account(
        &self,
        ctx: &Context<'_>,
        id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Option<Account>>> {
        crate::scope::once(ctx, async move {
            require(ctx, EVERYONE_BUT_AUDITORS)?;
            let id = field("id", AccountId::parse(&id))?;
            let (through, occurred) = match past(ctx, as_of, clock)? {
                None => (u64::MAX, Timestamp(i64::MAX)),
                Some(Past::Occurred(t)) => (u64::MAX, t),
                Some(Past::Recorded(t)) => (
                    engine(ctx)
                        .store()
                        .seq_recorded_by(dealtrail_store::Timestamp(t.0))
                        .map_err(|e| engine_error(e.into()))?,
                    Timestamp(i64::MAX),
                ),
            };
            account_view(ctx, id, through, occurred)
        })
        .await
    }

    /// Accounts, filtered and sorted, as a Relay connection. Everyone but auditors.
    #[allow(clippy::too_many_arguments)]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this industry")] industry: Option<String>,
        #[graphql(desc = "Only accounts this rep is responsible for")] owner: Option<String>,
        #[graphql(desc = "Name contains this, ignoring case")] name_contains: Option<String>,
        order: Option<AccountOrder>,
        descending: Option<bool>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> async_graphql::Result<Page<Account>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let order = order.unwrap_or(AccountOrder::Name);
        let descending = descending.unwrap_or(false);
        let print = fingerprint(
            "accounts",
            &(&industry, &owner, &name_contains, order, descending),
        );
        let window = PageArgs {
            after,
            before,
            first,
            last,
        }
        .check::<AccountKey>(&print)?;
        let needle = name_contains.map(|n| n.to_lowercase());
        let mut rows: Vec<(AccountKey, AccountId)> = engine(ctx)
            .profiles()
            .read(|m| {
                m.accounts
                    .iter()
                    .filter(|(_, p)| {
                        industry
                            .as_ref()
                            .is_none_or(|i| p.industry.as_ref() == Some(i))
                            && owner.as_ref().is_none_or(|o| p.owner.as_ref() == Some(o))
                            && needle
                                .as_ref()
                                .is_none_or(|n| p.name.to_lowercase().contains(n))
                    })
                    .map(|(id, p)| {
                        let count = match order {
                            AccountOrder::Name => 0,
                            AccountOrder::Deals => p.deals.len() as u64,
                            AccountOrder::Contacts => p.contacts.len() as u64,
                        };
                        ((count, p.name.clone(), *id), *id)
                    })
                    .collect()
            })
            .map_err(engine_error)?;
        rows.sort();
        if descending {
            rows.reverse();
        }
        let keys: Vec<AccountKey> = rows.iter().map(|(k, _)| k.clone()).collect();
        let range = window.range(&keys, descending);
        let mut items = Vec::with_capacity(range.len());
        for (key, id) in &rows[range.clone()] {
            if let Some(a) = account_view(ctx, *id, u64::MAX, Timestamp(i64::MAX))? {
                items.push((key.clone(), a));
            }
        }
        Ok(connection(&print, range, rows.len(), items))
    }
}

#[Object]
impl AnalysisOfAccounts {
    /// Upsell, cross-sell and risk signals across all accounts (or one kind), now or as of
    /// a moment. Analysts, managers, admins.
    async fn signals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this kind")] kind: Option<String>,
        #[graphql(desc = "Only accounts in this segment")] segment: Option<
            crate::segments::SegmentInput,
        >,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<AccountSignalRow>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let when = past(ctx, as_of, clock)?;
            let accounts = crate::segments::SegmentInput::accounts(segment, ctx, when).await?;
            let now = moment(when);
            let config = dealtrail_profile::SignalConfig::default();
            model_at(ctx, when, Engine::profiles, move |m| {
                m.accounts
                    .iter()
                    .filter(|(id, _)| crate::segments::admits(&accounts, **id))
                    .flat_map(|(id, p)| {
                        p.signals(&config, now)
                            .into_iter()
                            .filter(|s| kind.as_deref().is_none_or(|k| k == s.kind))
                            .map(|s| AccountSignalRow {
                                account_id: id.to_string(),
                                account_name: p.name.clone(),
                                kind: s.kind.into(),
                                reason: s.reason,
                            })
                    })
                    .collect()
            })
            .await
        })
        .await
    }

    /// The eight data-health questions across all accounts: how many accounts' records
    /// answer each, now or as of a moment. Analysts, managers, admins.
    async fn data_health(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only accounts in this segment")] segment: Option<
            crate::segments::SegmentInput,
        >,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<HealthQuestionSummary>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let when = past(ctx, as_of, clock)?;
            let accounts = crate::segments::SegmentInput::accounts(segment, ctx, when).await?;
            model_at(ctx, when, Engine::profiles, move |m| {
                crate::health::summarize(m, &accounts)
            })
            .await
        })
        .await
    }
}

/// The account folded from its stream up to a cut, with org unit names from the profiles.
pub(crate) fn account_view(
    ctx: &Context<'_>,
    id: AccountId,
    through: u64,
    occurred: Timestamp,
) -> async_graphql::Result<Option<Account>> {
    let engine = engine(ctx);
    let Some(a) = engine
        .account_at(id, through, occurred)
        .map_err(engine_error)?
    else {
        return Ok(None);
    };
    let Some(profile) = a.profile.as_ref() else {
        return Ok(None);
    };
    let unit_names = engine
        .profiles()
        .read(|m| {
            m.accounts
                .get(&id)
                .map(|p| {
                    p.org_units
                        .iter()
                        .map(|(u, (name, _))| (*u, name.clone()))
                        .collect::<std::collections::BTreeMap<_, _>>()
                })
                .unwrap_or_default()
        })
        .map_err(engine_error)?;
    Ok(Some(Account {
        cut: (id, through, occurred),
        records: Arc::default(),
        id: id.to_string().into(),
        name: profile.name.to_string(),
        industry: profile.industry.as_ref().map(ToString::to_string),
        employees: profile.employees.map(UInt64::from),
        region: profile.region.as_ref().map(ToString::to_string),
        external_id: profile.external_id.as_ref().map(ToString::to_string),
        owner: a.owner.as_ref().map(ToString::to_string),
        registered_at: DateTime(a.registered_at),
        org_units: a
            .org_units
            .iter()
            .map(|u| OrgUnit {
                id: u.to_string(),
                name: unit_names.get(u).cloned().unwrap_or_default(),
            })
            .collect(),
        contacts: a
            .contacts
            .iter()
            .map(|(cid, c)| Contact {
                id: cid.to_string(),
                name: c.details.name.to_string(),
                title: c.details.title.as_ref().map(ToString::to_string),
                role: c.details.role.to_string(),
                seniority: c.details.seniority.to_string(),
                org_unit_id: c.details.org_unit.map(|u| u.to_string()),
                email: c.details.email.as_ref().map(ToString::to_string),
                phone: c.details.phone.as_ref().map(ToString::to_string),
                left: c.left,
                erased: c.erased,
            })
            .collect(),
        version: a.version.into(),
    }))
}
