//! Follow-up alerts per open deal: no follow-up for too long, a next step past its due
//! date, stalled in a stage longer than that stage's p90, an expected close in the past.

use std::collections::BTreeMap;

use dealtrail_domain::{AccountId, Date, OpportunityId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{Cut, Deal, SalesPipeline, StepKind};

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// The kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// No follow-up logged for the stage's number of days.
    NoFollowUp,
    /// The latest follow-up's next step is past its due date with no follow-up since.
    NextStepOverdue,
    /// In the current stage longer than the stage's 90th percentile of completed stays.
    Stalled,
    /// Still open after its expected close date.
    CloseDatePassed,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 4] = [
        AlertKind::NoFollowUp,
        AlertKind::NextStepOverdue,
        AlertKind::Stalled,
        AlertKind::CloseDatePassed,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NoFollowUp => "no_follow_up",
            AlertKind::NextStepOverdue => "next_step_overdue",
            AlertKind::Stalled => "stalled",
            AlertKind::CloseDatePassed => "close_date_passed",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// Which alerts are raised and when: the configuration `serve --alerts` and
/// `export alerts --config` read (TOML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertRules {
    /// The kinds raised.
    pub kinds: Vec<AlertKind>,
    /// Days without a follow-up before `no_follow_up`, for stages not listed below.
    pub no_follow_up_days: u32,
    /// Days without a follow-up per stage name.
    pub no_follow_up_days_by_stage: BTreeMap<String, u32>,
    /// Completed stays a stage needs before its p90 is trusted for `stalled`.
    pub min_stays_for_p90: usize,
}

impl Default for AlertRules {
    fn default() -> AlertRules {
        AlertRules {
            kinds: AlertKind::ALL.to_vec(),
            no_follow_up_days: 14,
            no_follow_up_days_by_stage: BTreeMap::new(),
            min_stays_for_p90: 5,
        }
    }
}

/// One alert on one deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The deal.
    pub deal: OpportunityId,
    /// Its title.
    pub title: String,
    /// Its account.
    pub account: AccountId,
    /// Its owner now.
    pub owner: String,
    /// The stage it is in.
    pub stage: String,
    /// What is wrong.
    pub kind: AlertKind,
    /// When the alert started: the moment the condition became true.
    pub since: Timestamp,
    /// The facts behind it, for people.
    pub detail: String,
}

fn plus_days(t: Timestamp, days: f64) -> Timestamp {
    Timestamp(t.0.saturating_add((days * DAY_MICROS as f64) as i64))
}

fn day_after(d: Date) -> Timestamp {
    Timestamp::start_of(Date(d.0.saturating_add(1)))
}

impl SalesPipeline {
    /// The 90th percentile (nearest rank) in days of the stays completed by `now`, per
    /// stage, where at least `min` stays completed.
    pub fn stay_p90_at(&self, now: Timestamp, min: usize) -> BTreeMap<u32, f64> {
        let cut = Cut::occurred_by(now);
        let mut by_stage: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for deal in self.deals.values() {
            let mut current: Option<(u32, Timestamp)> = None;
            for step in deal.steps.iter().filter(|s| cut.admits(s.seq, s.at)) {
                let next = match &step.kind {
                    StepKind::Opened(s) | StepKind::Reopened(s) => Some(*s),
                    StepKind::Moved { to, .. } => Some(*to),
                    StepKind::Closed { .. } => None,
                };
                if let Some((stage, since)) = current {
                    let days = (step.at.0 - since.0) as f64 / DAY_MICROS as f64;
                    by_stage.entry(stage).or_default().push(days);
                }
                current = next.map(|s| (s, step.at));
            }
        }
        by_stage
            .into_iter()
            .filter(|(_, v)| v.len() >= min.max(1))
            .map(|(stage, mut v)| {
                v.sort_by(f64::total_cmp);
                let rank = (90 * v.len()).div_ceil(100).max(1);
                (stage, v[rank - 1])
            })
            .collect()
    }

    /// Every alert in force at `now` on the deals open then, by deal, then kind.
    pub fn alerts(&self, now: Timestamp, rules: &AlertRules) -> Vec<Alert> {
        self.alerts_and_next(now, rules).0
    }

    /// [`Self::alerts`], and when the next alert starts if nothing is recorded meanwhile
    /// (the earliest start after `now`), from one pass over the deals.
    pub fn alerts_and_next(
        &self,
        now: Timestamp,
        rules: &AlertRules,
    ) -> (Vec<Alert>, Option<Timestamp>) {
        let (current, later): (Vec<Alert>, Vec<Alert>) = self
            .candidates(now, rules)
            .into_iter()
            .partition(|a| a.since <= now);
        (current, later.iter().map(|a| a.since).min())
    }

    /// The alerts of the deals open at `now`, including those that start later.
    fn candidates(&self, now: Timestamp, rules: &AlertRules) -> Vec<Alert> {
        let p90 = if rules.kinds.contains(&AlertKind::Stalled) {
            self.stay_p90_at(now, rules.min_stays_for_p90)
        } else {
            BTreeMap::new()
        };
        let mut out = Vec::new();
        for deal in self.deals.values() {
            self.deal_alerts(deal, now, rules, &p90, &mut out);
        }
        out
    }

    fn deal_alerts(
        &self,
        deal: &Deal,
        now: Timestamp,
        rules: &AlertRules,
        p90: &BTreeMap<u32, f64>,
        out: &mut Vec<Alert>,
    ) {
        let cut = Cut::occurred_by(now);
        let Some(position) = deal.position_at(cut) else {
            return;
        };
        if position.closed.is_some() {
            return;
        }
        let stage = self.names.get(position.stage).to_owned();
        let owner = deal
            .owners
            .at(cut)
            .map(|o| self.names.get(*o).to_owned())
            .unwrap_or_default();
        // The latest follow-up by business time (log order breaks ties): its time ends
        // `no_follow_up`, its next step is the one `next_step_overdue` watches.
        let latest = deal
            .follow_ups
            .iter()
            .filter(|(seq, at)| cut.admits(*seq, *at))
            .max_by_key(|f| (f.1, f.0));
        let last_follow_up = latest.map(|f| f.1);
        let mut raise = |kind: AlertKind, since: Timestamp, detail: String| {
            if rules.kinds.contains(&kind) {
                out.push(Alert {
                    deal: deal.id,
                    title: deal.title.clone(),
                    account: deal.account,
                    owner: owner.clone(),
                    stage: stage.clone(),
                    kind,
                    since,
                    detail,
                });
            }
        };
        let days = rules
            .no_follow_up_days_by_stage
            .get(&stage)
            .copied()
            .unwrap_or(rules.no_follow_up_days);
        let touched = last_follow_up.unwrap_or(deal.opened_at);
        raise(
            AlertKind::NoFollowUp,
            plus_days(touched, f64::from(days)),
            match last_follow_up {
                Some(t) => format!("last follow-up on {}; {stage} allows {days} days", t.date()),
                None => format!("no follow-up since it opened; {stage} allows {days} days"),
            },
        );
        if let Some((seq, _)) = latest
            && let Some((_, _, due)) = deal.next_steps.iter().find(|n| n.0 == *seq)
        {
            raise(
                AlertKind::NextStepOverdue,
                day_after(*due),
                format!("next step was due on {due}"),
            );
        }
        if let Some(p) = p90.get(&position.stage) {
            raise(
                AlertKind::Stalled,
                plus_days(position.since, *p),
                format!(
                    "in {stage} since {}; 90% of stays there ended within {p:.1} days",
                    position.since.date()
                ),
            );
        }
        if let Some(close) = deal.expected_close.at(cut) {
            raise(
                AlertKind::CloseDatePassed,
                day_after(*close),
                format!("expected to close on {close}"),
            );
        }
    }
}
