//! B2B customer profiles: the eight data-health questions with their evidence, upsell,
//! cross-sell and churn-risk signals, and relationship concentration. A pure fold over the
//! log ([`Profiles`] implements [`dealtrail_domain::Projection`]); definitions are in
//! `docs/analytics.md`.

use std::collections::BTreeMap;

use dealtrail_domain::account::AccountEvent;
use dealtrail_domain::opportunity::OpportunityEvent;
use dealtrail_domain::{
    AccountId, BuyingRole, ContactId, Date, Event, Names, OpportunityId, OrgUnitId, Period,
    Projection, Recorded, Timestamp,
};
use serde::{Deserialize, Serialize};

pub mod segment;
pub use segment::{Relationship, Segment, SegmentConfig, Trend, Value};

/// Everything the profiles keep of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountProfile {
    /// Company name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// The rep responsible now.
    pub owner: Option<String>,
    /// Reps who owned the account before.
    pub previous_owners: Vec<String>,
    /// Org units: id, name, when added.
    pub org_units: BTreeMap<OrgUnitId, (String, Timestamp)>,
    /// Business indicators by sequence number: period, revenue (minor units), headcount.
    pub indicators: BTreeMap<u64, (Period, Option<i64>, Option<u32>)>,
    /// Purchases by sequence number: product, quantity, amount (minor units).
    pub purchases: BTreeMap<u64, (String, u32, i64)>,
    /// The day of each purchase, by the same sequence numbers.
    pub purchased_on: BTreeMap<u64, Date>,
    /// Support records by sequence number: business time, satisfaction score if given.
    pub service: BTreeMap<u64, (Timestamp, Option<u8>)>,
    /// Contacts: buying role, left, who registered them (a number in [`Profiles::names`]).
    pub contacts: BTreeMap<ContactId, (BuyingRole, bool, u32)>,
    /// The account's deals and the org unit each serves.
    pub deals: BTreeMap<OpportunityId, Option<OrgUnitId>>,
    /// Stage changes on the account's deals.
    pub stage_changes: u32,
    /// Follow-ups on the account's deals: sequence number, who logged them (a number in
    /// [`Profiles::names`]), when; in log order.
    pub follow_ups: Vec<(u64, u32, Timestamp)>,
    /// Cross-functional records on the account's deals: sequence number, when.
    pub cross_records: Vec<(u64, Timestamp)>,
    /// Bids on the account's deals: sequence number, when.
    pub bids: Vec<(u64, Timestamp)>,
}

/// The profiles read model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profiles {
    /// Every account.
    pub accounts: BTreeMap<AccountId, AccountProfile>,
    /// Which account each deal belongs to.
    pub deal_accounts: BTreeMap<OpportunityId, AccountId>,
    /// Rep names the profiles refer to by number.
    pub names: Names,
}

/// Removes the entry with sequence number `seq` from a list kept in log order.
fn remove_seq<T>(list: &mut Vec<T>, seq: u64, key: impl Fn(&T) -> u64) {
    if let Ok(i) = list.binary_search_by_key(&seq, key) {
        list.remove(i);
    }
}

impl Projection for Profiles {
    const NAME: &'static str = "profiles";
    const VERSION: u32 = 3;

    fn wants(event_type: &str) -> bool {
        !matches!(
            event_type,
            "PipelineDefined"
                | "ContactEngaged"
                | "ForecastRevised"
                | "OpportunityClosed"
                | "OpportunityReopened"
        )
    }

    fn apply(&mut self, recorded: &Recorded<Event>) {
        let (seq, at, actor) = (recorded.seq, recorded.occurred_at, recorded.actor.as_str());
        match &recorded.event {
            Event::Account(id, e) => apply_account(
                self.accounts.entry(*id).or_default(),
                &mut self.names,
                seq,
                at,
                actor,
                e,
            ),
            Event::Opportunity(id, OpportunityEvent::OpportunityOpened(o)) => {
                self.deal_accounts.insert(*id, o.account);
                self.accounts
                    .entry(o.account)
                    .or_default()
                    .deals
                    .insert(*id, o.org_unit);
            }
            Event::Opportunity(id, e) => {
                let Some(account) = self.deal_accounts.get(id) else {
                    return;
                };
                let Some(p) = self.accounts.get_mut(account) else {
                    return;
                };
                // Appended in log order, so every list stays sorted by sequence number.
                match e {
                    OpportunityEvent::StageChanged(_) => p.stage_changes += 1,
                    OpportunityEvent::FollowUpLogged(_) => {
                        p.follow_ups.push((seq, self.names.intern(actor), at));
                    }
                    OpportunityEvent::CrossFunctionalRecordAdded(_) => {
                        p.cross_records.push((seq, at))
                    }
                    OpportunityEvent::BidSubmitted(_) => p.bids.push((seq, at)),
                    OpportunityEvent::OpportunityEventCorrected(c) if c.replacement.is_none() => {
                        remove_seq(&mut p.follow_ups, c.target_seq, |f| f.0);
                        remove_seq(&mut p.cross_records, c.target_seq, |r| r.0);
                        remove_seq(&mut p.bids, c.target_seq, |b| b.0);
                    }
                    _ => {}
                }
            }
            Event::Pipeline(_) => {}
        }
    }
}

fn apply_account(
    p: &mut AccountProfile,
    names: &mut Names,
    seq: u64,
    at: Timestamp,
    actor: &str,
    e: &AccountEvent,
) {
    match e {
        AccountEvent::AccountRegistered(r) => {
            p.name = r.name.to_string();
            p.industry = r.industry.as_ref().map(ToString::to_string);
        }
        AccountEvent::AccountProfileUpdated(u) => {
            if let Some(n) = &u.name {
                p.name = n.to_string();
            }
            if let Some(i) = &u.industry {
                p.industry = Some(i.to_string());
            }
        }
        AccountEvent::OrgUnitAdded(o) => {
            p.org_units.insert(o.org_unit, (o.name.to_string(), at));
        }
        AccountEvent::BusinessIndicatorRecorded(b) => {
            p.indicators
                .insert(seq, (b.period, b.revenue.map(|m| m.minor()), b.headcount));
        }
        AccountEvent::ContactRegistered(c) => {
            p.contacts
                .insert(c.contact, (c.role, false, names.intern(actor)));
        }
        AccountEvent::ContactUpdated(c) => {
            if let (Some(role), Some(entry)) = (c.role, p.contacts.get_mut(&c.contact)) {
                entry.0 = role;
            }
        }
        AccountEvent::ContactLeft(c) => {
            if let Some(entry) = p.contacts.get_mut(&c.contact) {
                entry.1 = true;
            }
        }
        AccountEvent::AccountOwnerAssigned(o) => {
            if let Some(previous) = p.owner.take() {
                p.previous_owners.push(previous);
            }
            p.owner = Some(o.owner.to_string());
        }
        AccountEvent::PurchaseRecorded(b) => {
            p.purchases
                .insert(seq, (b.product.to_string(), b.quantity, b.amount.minor()));
            p.purchased_on.insert(seq, b.purchased_on);
        }
        // The profiles keep no personal data; the contact still counts as a contact.
        AccountEvent::ContactErased(_) => {}
        AccountEvent::ServiceInteractionRecorded(s) => {
            p.service.insert(seq, (at, s.satisfaction.map(|x| x.get())));
        }
        AccountEvent::AccountEventCorrected(c) => {
            let target = c.target_seq;
            p.indicators.remove(&target);
            p.purchases.remove(&target);
            p.purchased_on.remove(&target);
            let kept_time = p.service.remove(&target).map(|(t, _)| t);
            // An amendment replaces the original in place.
            match c.replacement.as_deref() {
                Some(AccountEvent::BusinessIndicatorRecorded(b)) => {
                    p.indicators.insert(
                        target,
                        (b.period, b.revenue.map(|m| m.minor()), b.headcount),
                    );
                }
                Some(AccountEvent::PurchaseRecorded(b)) => {
                    p.purchases.insert(
                        target,
                        (b.product.to_string(), b.quantity, b.amount.minor()),
                    );
                    p.purchased_on.insert(target, b.purchased_on);
                }
                Some(AccountEvent::ServiceInteractionRecorded(s)) => {
                    p.service.insert(
                        target,
                        (kept_time.unwrap_or(at), s.satisfaction.map(|x| x.get())),
                    );
                }
                _ => {}
            }
        }
    }
}

/// One of the eight data-health questions, answered with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The question's number (1 to 8).
    pub number: u8,
    /// The question.
    pub question: &'static str,
    /// Whether the company has this data.
    pub answered: bool,
    /// What the answer rests on.
    pub evidence: String,
}

/// A business opportunity or risk read from the account's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSignal {
    /// `upsell`, `cross_sell` or `churn_risk`.
    pub kind: &'static str,
    /// Why, with the figures.
    pub reason: String,
}

/// Thresholds of the signals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignalConfig {
    /// Revenue growth between consecutive periods that suggests upsell (0.3 = +30%).
    pub upsell_growth: f64,
    /// Satisfaction at or below this is a churn risk.
    pub low_satisfaction: u8,
    /// Days without any follow-up that make an account a churn risk.
    pub silent_days: i64,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            upsell_growth: 0.3,
            low_satisfaction: 2,
            silent_days: 90,
        }
    }
}

/// How much of an account's relationship sits with one rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    /// The rep who logged the most follow-ups.
    pub top_rep: Option<String>,
    /// Share of follow-ups that rep logged.
    pub follow_up_share: Option<f64>,
    /// Share of registered contacts that rep registered.
    pub contact_share: Option<f64>,
    /// True when that rep no longer owns the account: its relationships sit with someone
    /// who was reassigned away.
    pub top_rep_reassigned_away: bool,
}

impl AccountProfile {
    /// The eight data-health questions.
    pub fn health(&self) -> Vec<Answer> {
        let live_contacts = self.contacts.values().filter(|c| !c.1).count();
        let decision_makers = self
            .contacts
            .values()
            .filter(|c| !c.1 && c.0 == BuyingRole::DecisionMaker)
            .count();
        let service = self.service.len();
        let answer = |number, question, answered, evidence: String| Answer {
            number,
            question,
            answered,
            evidence,
        };
        vec![
            answer(
                1,
                "records of the customer's procurement progress",
                self.stage_changes > 0,
                format!(
                    "{} stage changes on {} deals",
                    self.stage_changes,
                    self.deals.len()
                ),
            ),
            answer(
                2,
                "records from presales, engineering and customer service",
                !self.cross_records.is_empty() || service > 0,
                format!(
                    "{} cross-functional records on deals, {service} service records",
                    self.cross_records.len()
                ),
            ),
            answer(
                3,
                "visit and communication records",
                !self.follow_ups.is_empty(),
                format!("{} follow-ups", self.follow_ups.len()),
            ),
            answer(
                4,
                "several contacts, including decision makers",
                live_contacts >= 2 && decision_makers >= 1,
                format!("{live_contacts} current contacts, {decision_makers} decision makers"),
            ),
            answer(
                5,
                "the customer's organisation structure",
                !self.org_units.is_empty(),
                format!("{} org units", self.org_units.len()),
            ),
            answer(
                6,
                "the customer's business indicators",
                !self.indicators.is_empty(),
                format!("{} indicator records", self.indicators.len()),
            ),
            answer(
                7,
                "the customer's consumption history",
                !self.purchases.is_empty(),
                format!("{} purchases", self.purchases.len()),
            ),
            answer(
                8,
                "bid records",
                !self.bids.is_empty(),
                format!("{} bids", self.bids.len()),
            ),
        ]
    }

    /// Upsell, cross-sell and churn-risk signals as of `now`.
    pub fn signals(&self, config: &SignalConfig, now: Timestamp) -> Vec<AccountSignal> {
        let mut out = Vec::new();
        // Upsell: revenue growth between consecutive periods with figures.
        let mut periods: Vec<(Period, i64)> = self
            .indicators
            .values()
            .filter_map(|(p, revenue, _)| revenue.map(|r| (*p, r)))
            .collect();
        periods.sort();
        for pair in periods.windows(2) {
            let ((p0, r0), (p1, r1)) = (pair[0], pair[1]);
            if r0 > 0 {
                let growth = (r1 - r0) as f64 / r0 as f64;
                if growth >= config.upsell_growth {
                    let bought: u64 = self.purchases.values().map(|(_, q, _)| *q as u64).sum();
                    out.push(AccountSignal {
                        kind: "upsell",
                        reason: format!(
                            "revenue up {:.0}% from {p0} to {p1}; at that scale the {bought} units bought so far would become about {:.0}",
                            growth * 100.0,
                            bought as f64 * (1.0 + growth)
                        ),
                    });
                }
            }
        }
        // Cross-sell: an org unit no deal serves.
        for (unit, (name, _)) in &self.org_units {
            if !self.deals.values().any(|u| *u == Some(*unit)) {
                out.push(AccountSignal {
                    kind: "cross_sell",
                    reason: format!("org unit {name} has no deal yet"),
                });
            }
        }
        // Churn risk: falling or low satisfaction; silence.
        let mut scores: Vec<(Timestamp, u64, u8)> = self
            .service
            .iter()
            .filter_map(|(seq, (at, s))| s.map(|s| (*at, *seq, s)))
            .collect();
        scores.sort();
        if let Some(&(_, _, last)) = scores.last() {
            let previous = scores.len().checked_sub(2).map(|i| scores[i].2);
            if last <= config.low_satisfaction || previous.is_some_and(|p| last < p) {
                out.push(AccountSignal {
                    kind: "churn_risk",
                    reason: match previous {
                        Some(p) if last < p => format!("satisfaction fell from {p} to {last}"),
                        _ => format!("satisfaction is {last}"),
                    },
                });
            }
        }
        let last_touch = self.follow_ups.iter().map(|(_, _, at)| *at).max();
        if !self.deals.is_empty() {
            let silent = last_touch.is_none_or(|t| t.days_until(now) > config.silent_days);
            if silent {
                out.push(AccountSignal {
                    kind: "churn_risk",
                    reason: match last_touch {
                        Some(t) => format!("no follow-up since {t}"),
                        None => "no follow-up ever logged".into(),
                    },
                });
            }
        }
        out
    }

    /// How much of the relationship sits with one rep (`names`: [`Profiles::names`]).
    pub fn concentration(&self, names: &Names) -> Concentration {
        let mut by_rep: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, rep, _) in &self.follow_ups {
            *by_rep.entry(names.get(*rep)).or_default() += 1;
        }
        let top = by_rep
            .iter()
            .max_by_key(|(rep, n)| (**n, std::cmp::Reverse(**rep)))
            .map(|(rep, n)| (rep.to_string(), *n));
        let total = self.follow_ups.len();
        let contacts = self.contacts.len();
        match top {
            None => Concentration {
                top_rep: None,
                follow_up_share: None,
                contact_share: None,
                top_rep_reassigned_away: false,
            },
            Some((rep, n)) => {
                let registered = self
                    .contacts
                    .values()
                    .filter(|c| names.get(c.2) == rep)
                    .count();
                Concentration {
                    top_rep_reassigned_away: self.previous_owners.contains(&rep)
                        && self.owner.as_deref() != Some(rep.as_str()),
                    follow_up_share: Some(n as f64 / total as f64),
                    contact_share: (contacts > 0).then(|| registered as f64 / contacts as f64),
                    top_rep: Some(rep),
                }
            }
        }
    }
}
