//! Deals from a stage-history export: one row per stage change (deal, from, to, when, by),
//! with optional activities (deal, type, when, by). Each deal's rows become its opening,
//! its moves, its close (and reopenings), with its activities as follow-ups in between, all
//! checked before anything is written.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use dealtrail_domain::opportunity::{FollowUpLogged, OpportunityReopened};
use dealtrail_domain::{
    Channel, Function, Money, OpportunityCommand, Outcome, StageName, Text, Timestamp, UserId,
};
use dealtrail_engine::Command;
use serde::Deserialize;

use crate::{
    BadActivity, Context, ImportError, Planned, Rejection, Report, Table, Target, first_time, get,
    key, parse_time,
};

/// Columns of the stage-history file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The deal's id in the source.
    pub deal: String,
    /// Optional: the stage before the change, empty on the row that creates the deal.
    /// Without it (exports that list only the stage entered, like Salesforce's
    /// OpportunityHistory), each row moves the deal on from the row before it in time.
    pub from: Option<String>,
    /// The stage or outcome after the change.
    pub to: String,
    /// When the change happened.
    pub at: String,
    /// Who made it; the first row's author owns the deal.
    pub by: String,
    /// The deal's account (its name, or its id with `[accounts] id`); read from the deal's
    /// first row that has one. Optional with `[deal_details]`.
    pub account: Option<String>,
    /// The deal's amount (the final amount of a won deal); the first non-empty value.
    pub amount: Option<String>,
    /// The deal's product.
    pub product: Option<String>,
    /// Optional: the stated reason, read from the row that closes the deal.
    pub reason: Option<String>,
    /// Optional: who won instead, read from the row that closes the deal.
    pub competitor: Option<String>,
}

/// A file of one row per deal that the history refers to by deal id, for what the history
/// rows lack (Salesforce's Opportunity next to its OpportunityHistory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealDetailColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The deal's id, as the history names it.
    pub id: String,
    /// Optional: the account (name, or id with `[accounts] id`).
    pub account: Option<String>,
    /// Optional: the amount.
    pub amount: Option<String>,
    /// Optional: the product.
    pub product: Option<String>,
}

/// A deal's row of the details file.
#[derive(Default, Clone)]
struct Details {
    account: String,
    amount: String,
    product: String,
}

/// Columns of the activities file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The deal's id in the source.
    pub deal: String,
    /// The kind of activity (mapped to a channel through `[activity_kinds]`).
    pub kind: String,
    /// When it happened.
    pub at: String,
    /// Who did it.
    pub by: String,
}

/// One row of a deal's history, read.
struct Change {
    line: usize,
    from: Option<Target>,
    from_text: String,
    to: Target,
    at: Timestamp,
    by: UserId,
    /// The stated reason and the winning competitor the row gives (for a close).
    reason: Option<dealtrail_domain::Text>,
    competitor: Option<dealtrail_domain::Label>,
}

/// What an activity becomes: a follow-up on a channel, or another function's record.
#[derive(Clone, Copy)]
enum Becomes {
    FollowUp(Channel),
    Record(dealtrail_domain::RecordKind),
}

/// One activity of a deal, read, with where it came from.
struct Activity {
    becomes: Becomes,
    at: Timestamp,
    summary: Text,
    line: usize,
    file: String,
}

/// Rows of one deal, in file order.
#[derive(Default)]
struct DealRows {
    history: Vec<(usize, csv::StringRecord)>,
    activities: Vec<Activity>,
    details: Details,
    /// The first unreadable activity row: with `BadActivity::RefuseDeal` it refuses the
    /// deal, otherwise it is only reported.
    bad_activity: Option<(String, usize, String)>,
}

/// Where a deal's plan failed: a file, a line, why.
type Failure = (String, usize, String);

/// Reads the history (and activities) files and plans every deal they describe.
pub(crate) fn plan(
    ctx: &Context<'_>,
    h: &HistoryColumns,
    dir: &Path,
    report: &mut Report,
) -> Result<Vec<Planned>, ImportError> {
    let table = Table::read(dir.join(&h.file))?;
    let c = |name: &str| table.column(name);
    let from_col = h.from.as_ref().map(|f| c(f)).transpose()?;
    let (deal_col, to_col, at_col, by_col) = (c(&h.deal)?, c(&h.to)?, c(&h.at)?, c(&h.by)?);
    let account_col = h.account.as_ref().map(|a| c(a)).transpose()?;
    let details = match &ctx.mapping.deal_details {
        Some(d) => read_details(d, dir, report)?,
        None if account_col.is_none() => {
            return Err(ImportError::Mapping {
                path: dir.join(&h.file),
                detail: "[history] needs an account column, or [deal_details] with one".into(),
            });
        }
        None => HashMap::new(),
    };
    let amount_col = h.amount.as_ref().map(|a| c(a)).transpose()?;
    let product_col = h.product.as_ref().map(|p| c(p)).transpose()?;
    let reason_col = h.reason.as_ref().map(|r| c(r)).transpose()?;
    let competitor_col = h.competitor.as_ref().map(|r| c(r)).transpose()?;
    let history_file = table.file_name();

    let mut order: Vec<String> = Vec::new();
    let mut deals: HashMap<String, DealRows> = HashMap::new();
    let mut seen = HashSet::new();
    for (line, row) in &table.rows {
        if !first_time(&mut seen, row, report) {
            continue;
        }
        let id = get(row, Some(deal_col));
        if id.is_empty() {
            report.rejected.push(Rejection {
                file: history_file.clone(),
                line: *line,
                reason: "no deal id".into(),
            });
            continue;
        }
        let rows = deals.entry(id.to_owned()).or_insert_with(|| {
            order.push(id.to_owned());
            DealRows {
                details: details.get(id).cloned().unwrap_or_default(),
                ..DealRows::default()
            }
        });
        rows.history.push((*line, row.clone()));
    }

    for a in ctx.mapping.activity_files() {
        let table = Table::read(dir.join(&a.file))?;
        let activity_file = table.file_name();
        let c = |name: &str| table.column(name);
        let (deal_col, kind_col, at_col, by_col) = (c(&a.deal)?, c(&a.kind)?, c(&a.at)?, c(&a.by)?);
        let kinds: HashMap<String, Channel> = ctx
            .mapping
            .activity_kinds
            .iter()
            .filter_map(|(k, v)| Channel::parse(v).map(|ch| (key(k), ch)))
            .collect();
        let records: HashMap<String, dealtrail_domain::RecordKind> = ctx
            .mapping
            .activity_records
            .iter()
            .filter_map(|(k, v)| dealtrail_domain::RecordKind::parse(v).map(|r| (key(k), r)))
            .collect();
        let mut seen = HashSet::new();
        for (line, row) in &table.rows {
            if !first_time(&mut seen, row, report) {
                continue;
            }
            let reject = |reason: String| Rejection {
                file: table.file_name(),
                line: *line,
                reason,
            };
            let id = get(row, Some(deal_col));
            let Some(rows) = deals.get_mut(id) else {
                report
                    .rejected
                    .push(reject(format!("activity of unknown deal {id:?}")));
                continue;
            };
            let kind = get(row, Some(kind_col));
            let read = (|| {
                let becomes = match records.get(&key(kind)) {
                    Some(record) => Becomes::Record(*record),
                    None => Becomes::FollowUp(
                        kinds
                            .get(&key(kind))
                            .copied()
                            .or_else(|| Channel::parse(&kind.to_lowercase()))
                            .ok_or_else(|| {
                                format!("activity kind {kind:?} is not in the mapping")
                            })?,
                    ),
                };
                let at_text = get(row, Some(at_col));
                let at = parse_time(at_text)
                    .ok_or_else(|| format!("activity time {at_text:?} is not a time"))?;
                let by = get(row, Some(by_col));
                let summary = Text::parse(format!("{kind} by {by} (imported)"))
                    .map_err(|e| format!("activity: {e}"))?;
                Ok::<_, String>(Activity {
                    becomes,
                    at,
                    summary,
                    line: *line,
                    file: activity_file.clone(),
                })
            })();
            match read {
                Ok(activity) => rows.activities.push(activity),
                Err(reason) => {
                    report.rejected.push(reject(reason.clone()));
                    rows.bad_activity
                        .get_or_insert((activity_file.clone(), *line, reason));
                }
            }
        }
    }

    let columns = Columns {
        from: from_col,
        to: to_col,
        at: at_col,
        by: by_col,
        account: account_col,
        amount: amount_col,
        product: product_col,
        reason: reason_col,
        competitor: competitor_col,
    };
    let mut planned = Vec::new();
    for id in order {
        let Some(rows) = deals.remove(&id) else {
            continue;
        };
        if ctx.bad_activity == BadActivity::RefuseDeal
            && let Some((file, line, reason)) = &rows.bad_activity
        {
            report.rejected.push(Rejection {
                file: file.clone(),
                line: *line,
                reason: format!("deal {id} not imported: {reason}"),
            });
            continue;
        }
        match plan_deal(ctx, &id, &rows, &columns, &history_file) {
            Ok((p, skipped)) => {
                report.rejected.extend(skipped);
                planned.push(p);
            }
            Err((file, line, reason)) => report.rejected.push(Rejection { file, line, reason }),
        }
    }
    Ok(planned)
}

struct Columns {
    from: Option<usize>,
    to: usize,
    at: usize,
    by: usize,
    account: Option<usize>,
    amount: Option<usize>,
    product: Option<usize>,
    reason: Option<usize>,
    competitor: Option<usize>,
}

/// One deal's opening, moves, closes and activities in time order, with the activities left
/// out because they fall outside the deal's life (with `BadActivity::Skip`); or the file,
/// line and reason it cannot be imported.
fn plan_deal(
    ctx: &Context<'_>,
    external: &str,
    rows: &DealRows,
    col: &Columns,
    file: &str,
) -> Result<(Planned, Vec<Rejection>), Failure> {
    let in_history = |(line, reason): (usize, String)| (file.to_owned(), line, reason);
    plan_deal_rows(ctx, external, rows, col, file).map_err(|e| match e {
        Located::History(line, reason) => in_history((line, reason)),
        Located::Activity(activity_file, line, reason) => (activity_file, line, reason),
    })
}

/// Which file a failure points into.
enum Located {
    History(usize, String),
    Activity(String, usize, String),
}

impl From<(usize, String)> for Located {
    fn from((line, reason): (usize, String)) -> Located {
        Located::History(line, reason)
    }
}

fn plan_deal_rows(
    ctx: &Context<'_>,
    external: &str,
    rows: &DealRows,
    col: &Columns,
    file: &str,
) -> Result<(Planned, Vec<Rejection>), Located> {
    let first_line = rows.history.first().map_or(0, |(l, _)| *l);
    let mut changes = Vec::new();
    for (line, row) in &rows.history {
        let fail = |reason: String| (*line, reason);
        let from_text = get(row, col.from);
        let from = match from_text {
            "" => None,
            t => Some(ctx.target(t).map_err(fail)?),
        };
        let to = ctx.target(get(row, Some(col.to))).map_err(fail)?;
        let at_text = get(row, Some(col.at));
        let at =
            parse_time(at_text).ok_or_else(|| fail(format!("time {at_text:?} is not a time")))?;
        let by = UserId::parse(get(row, Some(col.by))).map_err(|e| fail(format!("by: {e}")))?;
        let (reason, competitor) =
            crate::close_details(row, col.reason, col.competitor).map_err(fail)?;
        changes.push(Change {
            line: *line,
            from,
            from_text: from_text.to_owned(),
            to,
            at,
            by,
            reason,
            competitor,
        });
    }
    // Exports list changes in any order; the chain must hold once they are in time order.
    changes.sort_by_key(|c| c.at);
    if col.from.is_none() {
        // Each row moves the deal on from where the row before it left it; an export that
        // repeats the stage the deal is in (an amount change, say) moves nothing.
        for i in 1..changes.len() {
            let previous = match &changes[i - 1].to {
                Target::Stage(s) => Target::Stage(s.clone()),
                Target::Outcome(o) => Target::Outcome(*o),
            };
            changes[i].from = Some(previous);
        }
    }
    let first = changes
        .first()
        .ok_or_else(|| (first_line, "no history".to_string()))?;
    // The first non-empty value of a column in the deal's rows, else the details file's.
    let first_of = |column: Option<usize>, detail: &'_ str| -> String {
        rows.history
            .iter()
            .map(|(_, r)| get(r, column))
            .find(|v| !v.is_empty())
            .unwrap_or(detail)
            .to_owned()
    };
    let named = first_of(col.account, &rows.details.account);
    let account = ctx.account(&named).map_err(|e| (first_line, e))?;
    let account_name = ctx.display_name(&account, &named);
    let account_name = account_name.as_str();
    let product_text = first_of(col.product, &rows.details.product);
    let product = ctx.product(&product_text);
    let amount_text = first_of(col.amount, &rows.details.amount);
    let amount = match Some(amount_text.as_str()).filter(|a| !a.is_empty()) {
        Some(t) => Some(
            Money::parse_grouped(t, ctx.currency)
                .map_err(|e| (first_line, format!("amount: {e}")))?,
        ),
        None => None,
    };
    let estimate = amount
        .or_else(|| ctx.prices.get(&key(product)).copied())
        .unwrap_or(Money::zero(ctx.currency));

    let id = ctx.deal_id(external);
    let first_stage = ctx.pipeline.first_stage().clone();
    let last_close = changes.iter().rev().find_map(|c| match c.to {
        Target::Outcome(_) => Some(c.at.date()),
        Target::Stage(_) => None,
    });
    let expected_close = last_close.unwrap_or_else(|| first.at.date().plus_days(90));
    let open = ctx
        .open(
            id,
            external,
            account_name,
            first.by.clone(),
            product,
            estimate,
            expected_close,
        )
        .map_err(|e| (first.line, e))?;
    let mut timeline: Vec<(Timestamp, usize, Command)> = vec![(first.at, 0, open)];
    let mut skipped = Vec::new();
    for engaged in ctx.engagements(external, id, &account, &mut skipped) {
        timeline.push((first.at, timeline.len(), engaged));
    }
    // Where the deal is: an open stage, or closed with an outcome.
    let mut current: Result<StageName, Outcome> = Ok(first_stage.clone());
    let mut outcome = None;
    for (i, change) in changes.iter().enumerate() {
        let out_of_order = |expected: &str| {
            (
                change.line,
                format!(
                    "history out of order: moves from {:?} but the deal is in {expected} then",
                    change.from_text
                ),
            )
        };
        // Where this row says the deal was; the first row may open it in a later stage.
        match (&change.from, i) {
            (None, 0) => {}
            (Some(Target::Stage(s)), 0) => {
                if *s != first_stage {
                    timeline.push((
                        change.at,
                        timeline.len(),
                        Command::Opportunity(id, OpportunityCommand::ChangeStage { to: s.clone() }),
                    ));
                    current = Ok(s.clone());
                }
            }
            (None, _) => return Err(out_of_order(&describe(&current)).into()),
            (Some(Target::Stage(s)), _) if current.as_ref().ok() == Some(s) => {}
            (Some(Target::Outcome(o)), _) if current.as_ref().err() == Some(o) => {}
            (Some(_), _) => return Err(out_of_order(&describe(&current)).into()),
        }
        let command = match (&change.to, &current) {
            (Target::Stage(to), Ok(now)) if to == now => continue,
            (Target::Stage(to), Ok(_)) => OpportunityCommand::ChangeStage { to: to.clone() },
            (Target::Stage(to), Err(_)) => OpportunityCommand::Reopen(OpportunityReopened {
                stage: to.clone(),
                reason: None,
            }),
            (Target::Outcome(o), Ok(_)) => OpportunityCommand::Close {
                outcome: *o,
                final_amount: amount.filter(|_| *o == Outcome::Won),
                winning_competitor: change.competitor.clone(),
                reason: change.reason.clone(),
            },
            (Target::Outcome(_), Err(_)) => {
                return Err(Located::History(
                    change.line,
                    "history out of order: closes a deal that is already closed".into(),
                ));
            }
        };
        current = match &change.to {
            Target::Stage(s) => Ok(s.clone()),
            Target::Outcome(o) => Err(*o),
        };
        outcome = current.as_ref().err().copied();
        timeline.push((change.at, timeline.len(), Command::Opportunity(id, command)));
    }
    // The stage history in time order (at equal times, in file order).
    timeline.sort_by_key(|(at, n, _)| (*at, *n));
    // The deal's life: from its first row to its last close, if it ends closed.
    let born = first.at;
    let closed_at = match current {
        Err(o) => changes
            .iter()
            .rev()
            .find(|c| matches!(c.to, Target::Outcome(_)))
            .map(|c| (c.at, o)),
        Ok(_) => None,
    };
    for a in &rows.activities {
        let outside = if a.at < born {
            Some(format!(
                "activity at {} comes before the deal was created ({})",
                a.at, born
            ))
        } else {
            closed_at.filter(|(end, _)| a.at > *end).map(|(end, o)| {
                format!(
                    "activity at {} comes after the deal was closed ({o} at {end})",
                    a.at
                )
            })
        };
        if let Some(reason) = outside {
            match ctx.bad_activity {
                BadActivity::RefuseDeal => {
                    return Err(Located::Activity(
                        a.file.clone(),
                        a.line,
                        format!("deal {external} not imported: {reason}"),
                    ));
                }
                BadActivity::Skip => {
                    skipped.push(Rejection {
                        file: a.file.clone(),
                        line: a.line,
                        reason: format!("{reason}; the activity was skipped, the deal kept"),
                    });
                    continue;
                }
            }
        }
        // Before the first change after it, and before a close at the same instant: a call
        // at the closing instant belongs to the deal's life.
        let at = timeline
            .iter()
            .position(|(t, _, command)| {
                *t > a.at
                    || (*t == a.at
                        && matches!(
                            command,
                            Command::Opportunity(_, OpportunityCommand::Close { .. })
                        ))
            })
            .unwrap_or(timeline.len());
        timeline.insert(
            at,
            (
                a.at,
                0,
                Command::Opportunity(
                    id,
                    match a.becomes {
                        Becomes::FollowUp(channel) => {
                            OpportunityCommand::LogFollowUp(FollowUpLogged {
                                channel,
                                contacts: Vec::new(),
                                // The export names no participants; a follow-up involves
                                // someone.
                                unregistered_participants: 1,
                                function: Function::Sales,
                                summary: a.summary.clone(),
                                next_step: None,
                                next_step_due: None,
                                unregistered_names: Vec::new(),
                            })
                        }
                        // The function the record kind belongs to; the export states no
                        // judgement, so it is neutral.
                        Becomes::Record(kind) => OpportunityCommand::AddCrossFunctionalRecord(
                            dealtrail_domain::opportunity::CrossFunctionalRecordAdded {
                                function: kind.function(),
                                kind,
                                assessment: dealtrail_domain::Assessment::Neutral,
                                satisfaction: None,
                                summary: a.summary.clone(),
                            },
                        ),
                    },
                ),
            ),
        );
    }
    Ok((
        Planned {
            account,
            account_name: account_name.to_owned(),
            steps: timeline
                .into_iter()
                .map(|(at, _, command)| (Some(at), command))
                .collect(),
            outcome,
            file: file.to_owned(),
            line: first_line,
        },
        skipped,
    ))
}

fn describe(current: &Result<StageName, Outcome>) -> String {
    match current {
        Ok(s) => format!("{:?}", s.as_str()),
        Err(o) => format!("closed ({o})"),
    }
}

/// Reads the deal details file, by deal id.
fn read_details(
    d: &DealDetailColumns,
    dir: &Path,
    report: &mut Report,
) -> Result<HashMap<String, Details>, ImportError> {
    let table = Table::read(dir.join(&d.file))?;
    let c = |name: &Option<String>| name.as_ref().map(|n| table.column(n)).transpose();
    let id_col = table.column(&d.id)?;
    let (account, amount, product) = (c(&d.account)?, c(&d.amount)?, c(&d.product)?);
    let mut out = HashMap::new();
    let mut seen = HashSet::new();
    for (_, row) in &table.rows {
        if !first_time(&mut seen, row, report) {
            continue;
        }
        out.insert(
            get(row, Some(id_col)).to_owned(),
            Details {
                account: get(row, account).to_owned(),
                amount: get(row, amount).to_owned(),
                product: get(row, product).to_owned(),
            },
        );
    }
    Ok(out)
}
