//! The process analyses: `winLoss`, `crossCheckFindings`, `coverage`, `profile`,
//! `dealStory`, `accountCoverage`.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::{AccountId, OpportunityId, OrgUnitId, Timestamp};
use dealtrail_engine::Engine;

use crate::access::{EVERYONE_BUT_AUDITORS, require};
use crate::asof::{Clock, model_at, moment, past};
use crate::auth::Role;
use crate::deals::{DealFilterInput, SizeBandInput};
use crate::errors::{error, field, optional};
use crate::scalars::{DateTime, UInt64};
use crate::segments::{SegmentInput, admits};

/// Outcome counts of closed deals and the win rate (won / (won + lost)).
#[derive(SimpleObject)]
pub struct OutcomeRate {
    /// Segment dimension (`overall`, `follow_ups`, `contacts`, `decision_maker`, ...).
    pub dimension: String,
    /// Segment value (`3-5`, `true`, a competitor's name, ...).
    pub value: String,
    /// Won.
    pub won: UInt64,
    /// Lost.
    pub lost: UInt64,
    /// No decision.
    pub no_decision: UInt64,
    /// Withdrawn.
    pub withdrawn: UInt64,
    /// won / (won + lost).
    pub win_rate: Option<f64>,
}

pub(crate) fn outcome_rate(
    dimension: &str,
    value: &str,
    r: &dealtrail_winloss::Rate,
) -> OutcomeRate {
    OutcomeRate {
        dimension: dimension.into(),
        value: value.into(),
        won: r.won.into(),
        lost: r.lost.into(),
        no_decision: r.no_decision.into(),
        withdrawn: r.withdrawn.into(),
        win_rate: r.win_rate(),
    }
}

/// Lost deals that share a stated reason, and how many show each evidence signal.
#[derive(SimpleObject)]
pub struct StatedVersusEvidence {
    /// The reason reps stated.
    pub stated_reason: String,
    /// Lost deals with that reason.
    pub deals: UInt64,
    /// Signal name and the number of those deals showing it.
    pub signals: Vec<SignalCount>,
}

/// A signal and how often it occurs.
#[derive(SimpleObject)]
pub struct SignalCount {
    /// The signal (e.g. `SingleThreaded`, `NoDecisionMaker`).
    pub signal: String,
    /// Deals showing it.
    pub deals: UInt64,
}

/// Where lost deals die.
#[derive(SimpleObject)]
pub struct LossStage {
    /// The stage.
    pub stage: String,
    /// Lost deals whose furthest stage was this one.
    pub furthest: UInt64,
    /// Lost deals that were in this stage when lost.
    pub at_loss: UInt64,
}

/// Process-based win/loss of the deals that ended in a window.
#[derive(SimpleObject)]
pub struct WinLossAnalysis {
    /// Every segment, `overall` first.
    pub rates: Vec<OutcomeRate>,
    /// Where lost deals die, in pipeline order.
    pub where_lost: Vec<LossStage>,
    /// Stated reason next to the evidence.
    pub stated_versus_evidence: Vec<StatedVersusEvidence>,
}

/// An open deal that breaks a cross-check rule.
#[derive(SimpleObject)]
pub struct CrossCheckFinding {
    /// The deal.
    pub opportunity_id: String,
    /// Its owner.
    pub owner: String,
    /// The rule broken.
    pub rule: String,
    /// The deal's stage.
    pub stage: String,
    /// Since when.
    pub since: DateTime,
    /// The missing evidence.
    pub missing: String,
}

/// Who on the customer's side an open deal reaches.
#[derive(SimpleObject)]
pub struct DealCoverage {
    /// The deal.
    pub opportunity_id: String,
    /// Its owner.
    pub owner: String,
    /// Engaged contacts per buying role, as `role:count`.
    pub by_role: Vec<String>,
    /// A decision maker is engaged.
    pub decision_maker: bool,
    /// At most one contact engaged.
    pub single_threaded: bool,
    /// People met in follow-ups who are not registered contacts.
    pub unregistered_participants: UInt64,
    /// Org units the engaged contacts work in.
    pub org_units_reached: UInt64,
}

/// One of the eight data-health questions with its evidence.
#[derive(SimpleObject)]
pub struct HealthAnswer {
    /// 1 to 8.
    pub number: u8,
    /// "Do we have ..."
    pub question: String,
    /// Whether the company has this data.
    pub answered: bool,
    /// What the answer rests on.
    pub evidence: String,
}

/// An upsell, cross-sell or churn-risk signal.
#[derive(SimpleObject)]
pub struct ProfileSignal {
    /// `upsell`, `cross_sell` or `churn_risk`.
    pub kind: String,
    /// Why, with the figures.
    pub reason: String,
}

/// A customer enterprise as the company knows it.
#[derive(SimpleObject)]
pub struct CustomerProfile {
    /// Account id.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// The rep responsible now.
    pub owner: Option<String>,
    /// The eight questions.
    pub health: Vec<HealthAnswer>,
    /// Signals as of now.
    pub signals: Vec<ProfileSignal>,
    /// The rep holding most of the relationship (by follow-ups).
    pub top_rep: Option<String>,
    /// Share of follow-ups by that rep.
    pub top_rep_follow_up_share: Option<f64>,
    /// Share of registered contacts that rep registered.
    pub top_rep_contact_share: Option<f64>,
    /// That rep no longer owns the account.
    pub top_rep_reassigned_away: bool,
}

/// One stay of a deal's story.
#[derive(SimpleObject)]
pub struct StoryStay {
    /// The stage.
    pub stage: String,
    /// Entered.
    pub from: DateTime,
    /// Left; null while still there.
    pub until: Option<DateTime>,
    /// Follow-ups during the stay, as `function:count`.
    pub follow_ups: Vec<String>,
    /// Cross-functional records made during the stay.
    pub records: Vec<String>,
}

/// A deal's timeline digested, for the analyst studying one loss.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Story {
    /// The deal.
    pub opportunity_id: String,
    /// Owner.
    pub owner: String,
    /// Stays in order.
    pub stages: Vec<StoryStay>,
    /// Buying roles of the contacts engaged.
    pub contact_roles: Vec<String>,
    /// The outcome, if ended.
    pub outcome: Option<String>,
    /// The reason the rep stated.
    pub stated_reason: Option<String>,
    /// Evidence signals from the process.
    pub signals: Vec<String>,
    #[graphql(skip)]
    pub cut: dealtrail_funnel::Cut,
}

#[async_graphql::ComplexObject]
impl Story {
    /// The deal's raw events as of the story's moment, in log order: what every line of
    /// the story was read from.
    async fn events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::log::EventEnvelope>> {
        let cut = self.cut;
        crate::flow::deal_events(ctx, &self.opportunity_id, |seq, at| cut.admits(seq, at))
    }
}

/// Who on one customer's side its open deals reach.
#[derive(SimpleObject)]
pub struct AccountReach {
    /// The account.
    pub account_id: String,
    /// Open deals.
    pub open_deals: UInt64,
    /// Distinct contacts engaged per buying role, as `role:count`.
    pub by_role: Vec<String>,
    /// A decision maker is engaged on some open deal.
    pub decision_maker: bool,
    /// Org units reached through engaged contacts.
    pub org_units_reached: UInt64,
    /// Open deals with at most one contact engaged.
    pub single_threaded_deals: UInt64,
}

pub(crate) fn customer_profile(
    m: &dealtrail_profile::Profiles,
    id: AccountId,
    now: Timestamp,
) -> Option<CustomerProfile> {
    let config = dealtrail_profile::SignalConfig::default();
    m.accounts.get(&id).map(|p| {
        let c = p.concentration(&m.names);
        CustomerProfile {
            account_id: id.to_string(),
            name: p.name.clone(),
            industry: p.industry.clone(),
            owner: p.owner.clone(),
            health: p
                .health()
                .into_iter()
                .map(|a| HealthAnswer {
                    number: a.number,
                    question: a.question.into(),
                    answered: a.answered,
                    evidence: a.evidence,
                })
                .collect(),
            signals: p
                .signals(&config, now)
                .into_iter()
                .map(|s| ProfileSignal {
                    kind: s.kind.into(),
                    reason: s.reason,
                })
                .collect(),
            top_rep: c.top_rep,
            top_rep_follow_up_share: c.follow_up_share,
            top_rep_contact_share: c.contact_share,
            top_rep_reassigned_away: c.top_rep_reassigned_away,
        }
    })
}

/// Whether a deal belongs to an account of the segment (every deal without one).
fn deal_in_segment(
    m: &dealtrail_winloss::WinLoss,
    accounts: &Option<std::collections::BTreeSet<dealtrail_domain::AccountId>>,
    deal: OpportunityId,
) -> bool {
    m.deals
        .get(&deal)
        .is_some_and(|d| admits(accounts, d.account))
}

/// The process analyses: win/loss, cross-checks, coverage, profiles, deal stories.
#[derive(Default)]
pub struct AnalysisQuery;

#[Object]
impl AnalysisQuery {
    /// Process-based win/loss of deals that ended in a window. Analysts, managers, admins.
    #[allow(clippy::too_many_arguments)]
    async fn win_loss(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window start")] from: DateTime,
        #[graphql(desc = "Window end, exclusive")] to: DateTime,
        #[graphql(
            desc = "The segment, as for the funnel (stage, open and accountId do not apply)"
        )]
        filter: Option<DealFilterInput>,
        #[graphql(desc = "Only deals where this competitor was known to bid")] competitor: Option<
            String,
        >,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<WinLossAnalysis>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let (from, to) = (from.0, to.0);
            let segment = filter.unwrap_or_default();
            let accounts = segment
                .segment()?
                .accounts(ctx, past(ctx, as_of, clock)?)
                .await?;
            for (name, set) in [
                ("filter.stage", segment.stage.is_some()),
                ("filter.open", segment.open.is_some()),
                ("filter.accountId", segment.account_id.is_some()),
            ] {
                if set {
                    return Err(error(
                        "VALIDATION",
                        format!("{name}: does not apply to win/loss (closed deals by segment)"),
                    ));
                }
            }
            let filter = dealtrail_winloss::WinLossFilter {
                owner: segment.owner,
                industry: segment.industry,
                region: segment.region,
                product_line: segment.product_line,
                competitor,
                org_unit: optional("filter.orgUnitId", segment.org_unit_id, |u| {
                    OrgUnitId::parse(&u)
                })?,
                size_band: segment.size_band.map(|b| {
                    match b {
                        SizeBandInput::Small => "small",
                        SizeBandInput::Mid => "mid",
                        SizeBandInput::Large => "large",
                        SizeBandInput::Enterprise => "enterprise",
                        SizeBandInput::Unknown => "unknown",
                    }
                    .to_owned()
                }),
                accounts,
            };
            let report = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, move |m| {
                m.report(from, to, &filter)
            })
            .await?;
            let mut rates = vec![outcome_rate("overall", "all", &report.overall)];
            rates.extend(report.by.iter().map(|((d, v), r)| outcome_rate(d, v, r)));
            Ok(WinLossAnalysis {
                rates,
                where_lost: report
                    .where_lost
                    .into_iter()
                    .map(|r| LossStage {
                        stage: r.stage.to_string(),
                        furthest: r.furthest.into(),
                        at_loss: r.at_loss.into(),
                    })
                    .collect(),
                stated_versus_evidence: report
                    .stated_vs_evidence
                    .into_iter()
                    .map(|(reason, (deals, signals))| StatedVersusEvidence {
                        stated_reason: reason,
                        deals: deals.into(),
                        signals: signals
                            .into_iter()
                            .map(|(s, n)| SignalCount {
                                signal: format!("{s:?}"),
                                deals: n.into(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
        })
        .await
    }

    /// Open deals whose claimed stage lacks the other functions' evidence. Managers,
    /// analysts, admins.
    async fn cross_check_findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this rep's deals")] owner: Option<String>,
        #[graphql(desc = "Only deals of accounts in this segment")] segment: Option<SegmentInput>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<CrossCheckFinding>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let rules = dealtrail_winloss::default_rules();
            let when = past(ctx, as_of, clock)?;
            let accounts = SegmentInput::accounts(segment, ctx, when).await?;
            let mut findings = model_at(ctx, when, Engine::winloss, move |m| {
                let mut found = m.findings(&rules);
                found.retain(|f| deal_in_segment(m, &accounts, f.deal));
                found
            })
            .await?;
            if let Some(owner) = owner {
                findings.retain(|f| f.owner == owner);
            }
            Ok(findings
                .into_iter()
                .map(|f| CrossCheckFinding {
                    opportunity_id: f.deal.to_string(),
                    owner: f.owner,
                    rule: f.rule,
                    stage: f.stage.to_string(),
                    since: DateTime(f.since),
                    missing: f.missing,
                })
                .collect())
        })
        .await
    }

    /// Coverage of every open deal. Managers, analysts, admins.
    async fn coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this rep's deals")] owner: Option<String>,
        #[graphql(desc = "Only deals of accounts in this segment")] segment: Option<SegmentInput>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<DealCoverage>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let when = past(ctx, as_of, clock)?;
            let accounts = SegmentInput::accounts(segment, ctx, when).await?;
            let mut rows = model_at(ctx, when, Engine::winloss, move |m| {
                let mut rows = m.coverage();
                rows.retain(|c| deal_in_segment(m, &accounts, c.deal));
                rows
            })
            .await?;
            if let Some(owner) = owner {
                rows.retain(|c| c.owner == owner);
            }
            Ok(rows
                .into_iter()
                .map(|c| DealCoverage {
                    opportunity_id: c.deal.to_string(),
                    owner: c.owner,
                    by_role: c
                        .by_role
                        .iter()
                        .map(|(role, n)| format!("{role}:{n}"))
                        .collect(),
                    decision_maker: c.decision_maker,
                    single_threaded: c.single_threaded,
                    unregistered_participants: c.unregistered_participants.into(),
                    org_units_reached: c.org_units_reached.into(),
                })
                .collect())
        })
        .await
    }

    /// A customer profile: the eight questions, signals and relationship concentration.
    /// Everyone but auditors.
    async fn profile(
        &self,
        ctx: &Context<'_>,
        account_id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Option<CustomerProfile>>> {
        crate::scope::once(ctx, async move {
            require(ctx, EVERYONE_BUT_AUDITORS)?;
            let id = field("accountId", AccountId::parse(&account_id))?;
            let when = past(ctx, as_of, clock)?;
            let now = moment(when);
            model_at(ctx, when, Engine::profiles, move |m| {
                customer_profile(m, id, now)
            })
            .await
        })
        .await
    }

    /// One deal's story: stays with dates, follow-ups and records per stay, contacts,
    /// outcome and evidence. Analysts, managers, admins.
    async fn deal_story(
        &self,
        ctx: &Context<'_>,
        opportunity_id: String,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Option<Story>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let id = field("opportunityId", OpportunityId::parse(&opportunity_id))?;
            let story = model_at(ctx, past(ctx, as_of, clock)?, Engine::winloss, move |m| {
                m.story(id)
            })
            .await?;
            let cut = crate::asof::cut(ctx, as_of, clock)?;
            Ok(story.map(|s| Story {
                cut,
                opportunity_id: s.deal.to_string(),
                owner: s.owner,
                stages: s
                    .stages
                    .into_iter()
                    .map(|st| StoryStay {
                        stage: st.stage,
                        from: DateTime(st.from),
                        until: st.until.map(DateTime),
                        follow_ups: st
                            .follow_ups
                            .iter()
                            .map(|(f, n)| format!("{f}:{n}"))
                            .collect(),
                        records: st.records.iter().map(|r| r.to_string()).collect(),
                    })
                    .collect(),
                contact_roles: s.contacts.iter().map(|r| r.to_string()).collect(),
                outcome: s.outcome.as_ref().map(|(o, _)| o.to_string()),
                stated_reason: s.outcome.and_then(|(_, r)| r),
                signals: s.signals.iter().map(|x| format!("{x:?}")).collect(),
            }))
        })
        .await
    }

    /// Coverage per account across its open deals. Managers, analysts, admins.
    async fn account_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only accounts in this segment")] segment: Option<SegmentInput>,
        #[graphql(desc = "Look from this moment")] as_of: Option<DateTime>,
        clock: Option<Clock>,
    ) -> async_graphql::Result<Arc<Vec<AccountReach>>> {
        crate::scope::once(ctx, async move {
            require(ctx, &[Role::Analyst, Role::Manager, Role::Admin])?;
            let when = past(ctx, as_of, clock)?;
            let accounts = SegmentInput::accounts(segment, ctx, when).await?;
            let mut rows = model_at(ctx, when, Engine::winloss, |m| m.account_coverage()).await?;
            rows.retain(|c| admits(&accounts, c.account));
            Ok(rows
                .into_iter()
                .map(|c| AccountReach {
                    account_id: c.account.to_string(),
                    open_deals: c.open_deals.into(),
                    by_role: c.by_role.iter().map(|(r, n)| format!("{r}:{n}")).collect(),
                    decision_maker: c.decision_maker,
                    org_units_reached: c.org_units_reached.into(),
                    single_threaded_deals: c.single_threaded_deals.into(),
                })
                .collect())
        })
        .await
    }
}
