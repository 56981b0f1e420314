//! The analyses: win rates by process, where deals die, stated reasons next to evidence,
//! coverage, and cross-check findings. Definitions are in `docs/analytics.md`.

use std::collections::BTreeMap;

use dealtrail_domain::{
    BuyingRole, ContactId, OpportunityId, Outcome, Pipeline, RecordKind, StageName, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::model::{DealFacts, WinLoss};

/// Days after the last follow-up beyond which a deal's decision came after a long silence.
pub const LONG_GAP_DAYS: f64 = 30.0;
/// Satisfaction at or below this is low.
pub const LOW_SATISFACTION: u8 = 2;
/// Stays needed in a stage before its 90th percentile is trusted for "stalled".
pub const MIN_STAYS_FOR_P90: usize = 5;

/// Which closed deals a win/loss question looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinLossFilter {
    /// Owner.
    pub owner: Option<String>,
    /// Account industry.
    pub industry: Option<String>,
    /// Account region.
    pub region: Option<String>,
    /// Product line.
    pub product_line: Option<String>,
    /// A competitor named in the deal's bids or as the winner.
    pub competitor: Option<String>,
    /// The customer's department the deal serves.
    pub org_unit: Option<dealtrail_domain::OrgUnitId>,
    /// Account size band by headcount: small (< 250), mid (250-999), large (1,000-4,999),
    /// enterprise (5,000 and more), unknown.
    pub size_band: Option<String>,
    /// Only deals of these accounts (a customer segment, computed from the profiles).
    pub accounts: Option<std::collections::BTreeSet<dealtrail_domain::AccountId>>,
}

/// The size band of a headcount (the funnel's bands).
pub fn size_band(employees: Option<u32>) -> &'static str {
    match employees {
        None => "unknown",
        Some(n) if n < 250 => "small",
        Some(n) if n < 1000 => "mid",
        Some(n) if n < 5000 => "large",
        Some(_) => "enterprise",
    }
}

/// Outcome counts and the win rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Won.
    pub won: usize,
    /// Lost.
    pub lost: usize,
    /// The customer decided not to buy.
    pub no_decision: usize,
    /// We withdrew.
    pub withdrawn: usize,
}

impl Rate {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Won => self.won += 1,
            Outcome::Lost => self.lost += 1,
            Outcome::NoDecision => self.no_decision += 1,
            Outcome::Withdrawn => self.withdrawn += 1,
        }
    }

    /// won / (won + lost): no-decision and withdrawn deals are kept apart.
    pub fn win_rate(&self) -> Option<f64> {
        let decided = self.won + self.lost;
        (decided > 0).then(|| self.won as f64 / decided as f64)
    }
}

/// An evidence-based signal computed from a deal's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Signal {
    /// At most one distinct contact engaged.
    SingleThreaded,
    /// No engaged contact is a decision maker.
    NoDecisionMaker,
    /// No presales solution design record.
    NoPresalesSolution,
    /// No engineering demo or proof-of-concept record.
    NoDemo,
    /// A stay in some stage longer than that stage's 90th percentile.
    Stalled,
    /// The expected close date slipped twice or more.
    CloseDateSlips,
    /// The deal moved back at least once.
    Regressions,
    /// More than 30 days between the last follow-up (or the opening) and the decision.
    LongFollowUpGap,
    /// Support's latest satisfaction score on the account was 2 or lower at the decision.
    LowSatisfaction,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 9] = [
        Signal::SingleThreaded,
        Signal::NoDecisionMaker,
        Signal::NoPresalesSolution,
        Signal::NoDemo,
        Signal::Stalled,
        Signal::CloseDateSlips,
        Signal::Regressions,
        Signal::LongFollowUpGap,
        Signal::LowSatisfaction,
    ];
}

/// One lost deal with its stated reason and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostDeal {
    /// The deal.
    pub id: OpportunityId,
    /// Its owner.
    pub owner: String,
    /// The reason the rep stated (empty if none).
    pub stated_reason: String,
    /// The signals found in its process.
    pub signals: Vec<Signal>,
}

/// Lost deals per stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeathRow {
    /// The stage.
    pub stage: StageName,
    /// Lost deals whose furthest stage was this one.
    pub furthest: usize,
    /// Lost deals that were in this stage when lost.
    pub at_loss: usize,
}

/// Win/loss for closed deals in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinLossReport {
    /// All closed deals.
    pub overall: Rate,
    /// Per dimension and value (e.g. `("follow_ups", "3-5")`).
    pub by: BTreeMap<(String, String), Rate>,
    /// Where lost deals die.
    pub where_lost: Vec<DeathRow>,
    /// Stated reason × signal: how many lost deals with that reason show the signal.
    pub stated_vs_evidence: BTreeMap<String, (usize, BTreeMap<Signal, usize>)>,
    /// Every lost deal with its signals.
    pub lost: Vec<LostDeal>,
}

fn days(from: Timestamp, to: Timestamp) -> f64 {
    ((to.0 - from.0) as f64 / Timestamp::DAY as f64).max(0.0)
}

fn bucket(n: usize, edges: &[(usize, &'static str)], last: &'static str) -> &'static str {
    edges
        .iter()
        .find(|(max, _)| n <= *max)
        .map_or(last, |(_, name)| name)
}

impl WinLoss {
    fn pipeline(&self) -> Pipeline {
        self.pipeline.clone().unwrap_or_else(Pipeline::default_b2b)
    }

    fn matches(&self, deal: &DealFacts, filter: &WinLossFilter) -> bool {
        let facts = self.accounts.get(&deal.account);
        let named = |n: &String| self.names.find(n);
        filter
            .owner
            .as_ref()
            .is_none_or(|o| named(o) == Some(deal.owner))
            && filter
                .industry
                .as_ref()
                .is_none_or(|i| facts.and_then(|f| f.industry.as_ref()) == Some(i))
            && filter
                .region
                .as_ref()
                .is_none_or(|r| facts.and_then(|f| f.region.as_ref()) == Some(r))
            && filter
                .product_line
                .as_ref()
                .is_none_or(|p| deal.product_line.is_some() && named(p) == deal.product_line)
            && filter
                .competitor
                .as_ref()
                .is_none_or(|c| named(c).is_some_and(|c| deal.competitors.contains(&c)))
            && filter.org_unit.is_none_or(|u| deal.org_unit == Some(u))
            && filter
                .accounts
                .as_ref()
                .is_none_or(|set| set.contains(&deal.account))
            && filter
                .size_band
                .as_deref()
                .is_none_or(|b| size_band(facts.and_then(|f| f.employees)) == b)
    }

    /// The 90th percentile (nearest rank) of completed stays per stage (by its number in
    /// [`WinLoss::names`]), where there are enough of them.
    pub fn stay_p90(&self) -> BTreeMap<u32, f64> {
        let mut by_stage: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for deal in self.deals.values() {
            for stay in &deal.stays {
                if let Some(until) = stay.until {
                    by_stage
                        .entry(stay.stage)
                        .or_default()
                        .push(days(stay.from, until));
                }
            }
        }
        by_stage
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_STAYS_FOR_P90)
            .map(|(stage, mut v)| {
                v.sort_by(f64::total_cmp);
                let rank = (90 * v.len()).div_ceil(100).max(1);
                (stage, v[rank - 1])
            })
            .collect()
    }

    /// The signals in one ended (or open, judged now) deal's process.
    pub fn signals(&self, deal: &DealFacts, p90: &BTreeMap<u32, f64>) -> Vec<Signal> {
        let facts = self.accounts.get(&deal.account);
        let contacts = deal.distinct_contacts();
        let decision_maker = contacts.iter().any(|c| {
            facts.and_then(|f| f.contact_roles.get(c)).map(|r| r.0)
                == Some(BuyingRole::DecisionMaker)
        });
        let end = deal.ending.as_ref().map_or(Timestamp(i64::MAX), |e| e.at);
        let last_touch = deal
            .follow_ups
            .iter()
            .map(|f| f.1)
            .filter(|at| *at <= end)
            .max()
            .unwrap_or(deal.opened_at);
        let stalled = deal.stays.iter().any(|s| {
            s.until
                .zip(p90.get(&s.stage))
                .is_some_and(|(until, p)| days(s.from, until) > *p)
        });
        let mut signals = Vec::new();
        let mut flag = |on: bool, s| {
            if on {
                signals.push(s);
            }
        };
        flag(contacts.len() <= 1, Signal::SingleThreaded);
        flag(!decision_maker, Signal::NoDecisionMaker);
        flag(
            !deal.has_record(&[RecordKind::SolutionDesign]),
            Signal::NoPresalesSolution,
        );
        flag(
            !deal.has_record(&[RecordKind::Demo, RecordKind::ProofOfConcept]),
            Signal::NoDemo,
        );
        flag(stalled, Signal::Stalled);
        flag(deal.slips >= 2, Signal::CloseDateSlips);
        flag(deal.regressions > 0, Signal::Regressions);
        flag(
            deal.ending.is_some() && days(last_touch, end) > LONG_GAP_DAYS,
            Signal::LongFollowUpGap,
        );
        flag(
            facts
                .and_then(|f| f.satisfaction_at(end))
                .is_some_and(|s| s <= LOW_SATISFACTION),
            Signal::LowSatisfaction,
        );
        signals
    }

    /// Win/loss of the deals that ended in `[from, to)`.
    pub fn report(&self, from: Timestamp, to: Timestamp, filter: &WinLossFilter) -> WinLossReport {
        let pipeline = self.pipeline();
        let position = |stage: u32| {
            StageName::parse(self.names.get(stage))
                .ok()
                .and_then(|s| pipeline.position(&s))
        };
        let p90 = self.stay_p90();
        let mut overall = Rate::default();
        let mut by: BTreeMap<(String, String), Rate> = BTreeMap::new();
        let mut furthest = vec![0usize; pipeline.stages.len()];
        let mut at_loss = vec![0usize; pipeline.stages.len()];
        let mut stated: BTreeMap<String, (usize, BTreeMap<Signal, usize>)> = BTreeMap::new();
        let mut lost = Vec::new();
        for deal in self.deals.values() {
            let Some(ending) = &deal.ending else { continue };
            if ending.at < from || ending.at >= to || !self.matches(deal, filter) {
                continue;
            }
            overall.add(ending.outcome);
            let signals = self.signals(deal, &p90);
            let facts = self.accounts.get(&deal.account);
            let contacts = deal.distinct_contacts().len();
            let mut dims: Vec<(&str, String)> = vec![
                (
                    "follow_ups",
                    bucket(
                        deal.follow_ups.len(),
                        &[(2, "0-2"), (5, "3-5"), (10, "6-10")],
                        "11+",
                    )
                    .into(),
                ),
                (
                    "contacts",
                    bucket(contacts, &[(1, "0-1"), (2, "2"), (3, "3")], "4+").into(),
                ),
                (
                    "decision_maker",
                    (!signals.contains(&Signal::NoDecisionMaker)).to_string(),
                ),
                (
                    "presales_solution",
                    (!signals.contains(&Signal::NoPresalesSolution)).to_string(),
                ),
                ("demo", (!signals.contains(&Signal::NoDemo)).to_string()),
                (
                    "satisfaction",
                    match facts.and_then(|f| f.satisfaction_at(ending.at)) {
                        None => "unknown".into(),
                        Some(s) if s <= LOW_SATISFACTION => "low".into(),
                        Some(_) => "ok".into(),
                    },
                ),
                (
                    "cycle_days",
                    bucket(
                        days(deal.opened_at, ending.at) as usize,
                        &[(30, "0-30"), (90, "31-90"), (180, "91-180")],
                        "181+",
                    )
                    .into(),
                ),
                (
                    "stage_gates",
                    match (deal.gated_moves, deal.gates_bypassed) {
                        (0, _) => "no_gate",
                        (_, 0) => "met",
                        _ => "bypassed",
                    }
                    .into(),
                ),
                (
                    "close_date_slips",
                    bucket(deal.slips as usize, &[(0, "0"), (1, "1")], "2+").into(),
                ),
            ];
            for c in &deal.competitors {
                dims.push(("competitor", self.names.get(*c).to_owned()));
            }
            for (dimension, value) in dims {
                by.entry((dimension.to_owned(), value))
                    .or_default()
                    .add(ending.outcome);
            }
            if ending.outcome == Outcome::Lost {
                let reached = deal.stays.iter().filter_map(|s| position(s.stage)).max();
                if let Some(p) = reached {
                    furthest[p] += 1;
                }
                if let Some(p) = position(ending.stage) {
                    at_loss[p] += 1;
                }
                let reason = ending.stated_reason.clone().unwrap_or_default();
                let row = stated.entry(reason.clone()).or_default();
                row.0 += 1;
                for s in &signals {
                    *row.1.entry(*s).or_default() += 1;
                }
                lost.push(LostDeal {
                    id: deal.id,
                    owner: self.names.get(deal.owner).to_owned(),
                    stated_reason: reason,
                    signals,
                });
            }
        }
        WinLossReport {
            overall,
            by,
            where_lost: pipeline
                .stages
                .iter()
                .enumerate()
                .map(|(p, stage)| DeathRow {
                    stage: stage.clone(),
                    furthest: furthest[p],
                    at_loss: at_loss[p],
                })
                .collect(),
            stated_vs_evidence: stated,
            lost,
        }
    }
}

/// What a cross-check rule requires of a deal from a stage on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requirement {
    /// A record of one of these kinds.
    Record(Vec<RecordKind>),
    /// Support's latest satisfaction on the account above [`LOW_SATISFACTION`].
    Satisfaction,
}

/// A rule comparing the rep's claimed stage with what other functions recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable name.
    pub name: String,
    /// The rule applies to open deals at or past this stage.
    pub from_stage: StageName,
    /// What must exist.
    pub requires: Requirement,
    /// What a finding means, for people.
    pub description: String,
}

/// The rules shipped by default (documented in `docs/analytics.md`).
pub fn default_rules() -> Vec<Rule> {
    let stage = |s: &str| StageName::parse(s).expect("default stage names are valid");
    vec![
        Rule {
            name: "solution-without-presales".into(),
            from_stage: stage("Solution"),
            requires: Requirement::Record(vec![RecordKind::SolutionDesign]),
            description: "at or past Solution, but presales recorded no solution design".into(),
        },
        Rule {
            name: "demo-without-engineering".into(),
            from_stage: stage("Demo/POC"),
            requires: Requirement::Record(vec![RecordKind::Demo, RecordKind::ProofOfConcept]),
            description:
                "at or past Demo/POC, but engineering recorded no demo or proof of concept".into(),
        },
        Rule {
            name: "bid-without-design".into(),
            from_stage: stage("Bid"),
            requires: Requirement::Record(vec![
                RecordKind::SolutionDesign,
                RecordKind::TechnicalReview,
            ]),
            description: "bidding without a solution design or technical review".into(),
        },
        Rule {
            name: "optimistic-despite-low-satisfaction".into(),
            from_stage: stage("Bid"),
            requires: Requirement::Satisfaction,
            description: "a late stage claimed while support records low satisfaction".into(),
        },
    ]
}

/// One deal breaking one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The deal.
    pub deal: OpportunityId,
    /// Its owner.
    pub owner: String,
    /// The rule's name.
    pub rule: String,
    /// The deal's stage now.
    pub stage: StageName,
    /// Since when the rule has applied (the deal first reached the rule's stage or later).
    pub since: Timestamp,
    /// What evidence is missing.
    pub missing: String,
}

/// Coverage of one open deal: who on the customer's side we reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// The deal.
    pub deal: OpportunityId,
    /// Its owner.
    pub owner: String,
    /// Engaged contacts per buying role.
    pub by_role: BTreeMap<BuyingRole, usize>,
    /// Whether a decision maker is engaged.
    pub decision_maker: bool,
    /// At most one contact engaged.
    pub single_threaded: bool,
    /// People met in follow-ups who are not registered contacts.
    pub unregistered_participants: u32,
    /// Org units the engaged contacts work in.
    pub org_units_reached: usize,
}

/// Coverage of one account across its open deals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCoverage {
    /// The account.
    pub account: dealtrail_domain::AccountId,
    /// Open deals.
    pub open_deals: usize,
    /// Distinct contacts engaged on any open deal, per buying role.
    pub by_role: BTreeMap<BuyingRole, usize>,
    /// Whether any open deal reaches a decision maker.
    pub decision_maker: bool,
    /// Org units reached through engaged contacts.
    pub org_units_reached: usize,
    /// Open deals with at most one contact engaged.
    pub single_threaded_deals: usize,
}

/// One stay of a deal's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryStage {
    /// The stage.
    pub stage: String,
    /// Entered.
    pub from: Timestamp,
    /// Left (none while still there).
    pub until: Option<Timestamp>,
    /// Follow-ups that occurred during the stay, by the function that logged them.
    pub follow_ups: BTreeMap<dealtrail_domain::Function, usize>,
    /// Cross-functional records made during the stay.
    pub records: Vec<RecordKind>,
}

/// A deal's timeline digested, for the analyst studying one loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealStory {
    /// The deal.
    pub deal: OpportunityId,
    /// Owner.
    pub owner: String,
    /// Stays in order.
    pub stages: Vec<StoryStage>,
    /// Contacts engaged, with their buying roles.
    pub contacts: Vec<BuyingRole>,
    /// The outcome, if ended, with the stated reason.
    pub outcome: Option<(Outcome, Option<String>)>,
    /// Evidence signals, as for a lost deal.
    pub signals: Vec<Signal>,
}

/// Contacts counted by buying role, and the org units they work in.
fn reach(
    facts: Option<&crate::model::AccountFacts>,
    contacts: &std::collections::BTreeSet<ContactId>,
) -> (
    BTreeMap<BuyingRole, usize>,
    std::collections::BTreeSet<dealtrail_domain::OrgUnitId>,
) {
    let mut by_role = BTreeMap::new();
    let mut units = std::collections::BTreeSet::new();
    for c in contacts {
        let (role, unit) = facts
            .and_then(|f| f.contact_roles.get(c))
            .copied()
            .unwrap_or((BuyingRole::Other, None));
        *by_role.entry(role).or_insert(0) += 1;
        units.extend(unit);
    }
    (by_role, units)
}

impl WinLoss {
    /// Open deals that break a rule.
    pub fn findings(&self, rules: &[Rule]) -> Vec<Finding> {
        let pipeline = self.pipeline();
        let position = |stage: u32| {
            StageName::parse(self.names.get(stage))
                .ok()
                .and_then(|s| pipeline.position(&s))
        };
        let mut out = Vec::new();
        for deal in self.deals.values().filter(|d| d.ending.is_none()) {
            let Some(stage) = deal.stage() else { continue };
            let Some(now) = position(stage) else {
                continue;
            };
            for rule in rules {
                let Some(from) = pipeline.position(&rule.from_stage) else {
                    continue;
                };
                if now < from {
                    continue;
                }
                let missing = match &rule.requires {
                    Requirement::Record(kinds) => (!deal.has_record(kinds)).then(|| {
                        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                        format!("a {} record", names.join(" or "))
                    }),
                    Requirement::Satisfaction => self
                        .accounts
                        .get(&deal.account)
                        .and_then(|f| f.satisfaction_at(Timestamp(i64::MAX)))
                        .filter(|s| *s <= LOW_SATISFACTION)
                        .map(|s| format!("satisfaction above {LOW_SATISFACTION} (latest is {s})")),
                };
                if let Some(missing) = missing {
                    let since = deal
                        .stays
                        .iter()
                        .find(|s| position(s.stage).is_some_and(|p| p >= from))
                        .map_or(deal.opened_at, |s| s.from);
                    out.push(Finding {
                        deal: deal.id,
                        owner: self.names.get(deal.owner).to_owned(),
                        rule: rule.name.clone(),
                        stage: pipeline.stages[now].clone(),
                        since,
                        missing,
                    });
                }
            }
        }
        out
    }

    /// Coverage of every open deal.
    pub fn coverage(&self) -> Vec<Coverage> {
        self.deals
            .values()
            .filter(|d| d.ending.is_none())
            .map(|deal| {
                let facts = self.accounts.get(&deal.account);
                let contacts = deal.distinct_contacts();
                let (by_role, units) = reach(facts, &contacts);
                Coverage {
                    deal: deal.id,
                    owner: self.names.get(deal.owner).to_owned(),
                    decision_maker: by_role.contains_key(&BuyingRole::DecisionMaker),
                    by_role,
                    single_threaded: contacts.len() <= 1,
                    unregistered_participants: deal.follow_ups.iter().map(|f| f.2 as u32).sum(),
                    org_units_reached: units.len(),
                }
            })
            .collect()
    }

    /// Coverage per account, across its open deals.
    pub fn account_coverage(&self) -> Vec<AccountCoverage> {
        let mut out: BTreeMap<
            dealtrail_domain::AccountId,
            (usize, std::collections::BTreeSet<ContactId>, usize),
        > = BTreeMap::new();
        for deal in self.deals.values().filter(|d| d.ending.is_none()) {
            let entry = out.entry(deal.account).or_default();
            entry.0 += 1;
            let contacts = deal.distinct_contacts();
            if contacts.len() <= 1 {
                entry.2 += 1;
            }
            entry.1.extend(contacts);
        }
        out.into_iter()
            .map(|(account, (open_deals, contacts, single))| {
                let facts = self.accounts.get(&account);
                let (by_role, units) = reach(facts, &contacts);
                AccountCoverage {
                    account,
                    open_deals,
                    decision_maker: by_role.contains_key(&BuyingRole::DecisionMaker),
                    by_role,
                    org_units_reached: units.len(),
                    single_threaded_deals: single,
                }
            })
            .collect()
    }

    /// One deal's timeline digested: stays with dates, follow-ups per stay by function,
    /// records per stay, contacts reached, outcome and evidence.
    pub fn story(&self, id: OpportunityId) -> Option<DealStory> {
        let deal = self.deals.get(&id)?;
        let facts = self.accounts.get(&deal.account);
        let p90 = self.stay_p90();
        let within = |at: Timestamp, from: Timestamp, until: Option<Timestamp>| {
            at >= from && until.is_none_or(|u| at < u)
        };
        let stages = deal
            .stays
            .iter()
            .map(|stay| {
                let mut follow_ups = BTreeMap::new();
                for f in deal
                    .follow_ups
                    .iter()
                    .filter(|f| within(f.1, stay.from, stay.until))
                {
                    *follow_ups.entry(f.3).or_insert(0) += 1;
                }
                StoryStage {
                    stage: self.names.get(stay.stage).to_owned(),
                    from: stay.from,
                    until: stay.until,
                    follow_ups,
                    records: deal
                        .records
                        .iter()
                        .filter(|r| within(r.2, stay.from, stay.until))
                        .map(|r| r.1)
                        .collect(),
                }
            })
            .collect();
        Some(DealStory {
            deal: id,
            owner: self.names.get(deal.owner).to_owned(),
            stages,
            contacts: deal
                .distinct_contacts()
                .iter()
                .map(|c| {
                    facts
                        .and_then(|f| f.contact_roles.get(c))
                        .map_or(BuyingRole::Other, |r| r.0)
                })
                .collect(),
            outcome: deal
                .ending
                .as_ref()
                .map(|e| (e.outcome, e.stated_reason.clone())),
            signals: self.signals(deal, &p90),
        })
    }
}
