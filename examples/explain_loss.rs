//! Replay history to explain a loss.
//!
//! ```sh
//! cargo run -p dealtrail-examples --bin explain-loss -- ./dealtrail-data [OPPORTUNITY_ID]
//! ```
//!
//! Opens a data folder (not while a server has it open), picks a lost deal (the one given,
//! or the lost deal whose process shows the most warning signals), and tells its story from
//! the log: each stage with its dates, follow-ups and cross-functional records, who was
//! reached, what the rep said and what the process shows. Then it looks back: where the deal
//! stood 30 days before the loss (the occurred clock: what had happened by then).

use dealtrail_domain::{OpportunityId, Timestamp};
use dealtrail_engine::{Engine, EngineConfig};
use dealtrail_funnel::Cut;

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .ok_or("usage: explain-loss DATA_FOLDER [OPPORTUNITY_ID]")?;
    let wanted = args
        .next()
        .map(|id| OpportunityId::parse(&id).map_err(|e| format!("opportunity id: {e}")))
        .transpose()?;
    let engine = Engine::open(EngineConfig::new(&data)).map_err(|e| format!("{data}: {e}"))?;

    // The lost deals of all time, each with the signals its process shows.
    let lost = engine
        .winloss()
        .read(|m| {
            m.report(
                Timestamp(i64::MIN / 2),
                Timestamp(i64::MAX / 2),
                &Default::default(),
            )
            .lost
        })
        .map_err(|e| e.to_string())?;
    let deal = match wanted {
        Some(id) => lost
            .iter()
            .find(|d| d.id == id)
            .ok_or("that deal was not lost")?,
        None => lost
            .iter()
            .max_by_key(|d| d.signals.len())
            .ok_or("no lost deal in this folder")?,
    };
    let story = engine
        .winloss()
        .read(|m| m.story(deal.id))
        .map_err(|e| e.to_string())?
        .ok_or("the deal has no story")?;

    println!("Deal {} (owner {})", story.deal, story.owner);
    for stay in &story.stages {
        let until = stay
            .until
            .map_or("now".to_owned(), |t| t.date().to_string());
        let follow_ups: Vec<String> = stay
            .follow_ups
            .iter()
            .map(|(function, n)| format!("{n} by {function}"))
            .collect();
        let records: Vec<String> = stay.records.iter().map(ToString::to_string).collect();
        println!(
            "  {:<12} {} to {:<10}  follow-ups: {:<16} records: {}",
            stay.stage,
            stay.from.date(),
            until,
            if follow_ups.is_empty() {
                "none".into()
            } else {
                follow_ups.join(", ")
            },
            if records.is_empty() {
                "none".into()
            } else {
                records.join(", ")
            },
        );
    }
    let reached: Vec<String> = story.contacts.iter().map(ToString::to_string).collect();
    println!(
        "  contacts reached: {}",
        if reached.is_empty() {
            "nobody registered".into()
        } else {
            reached.join(", ")
        }
    );
    let said = story
        .outcome
        .as_ref()
        .and_then(|(_, reason)| reason.clone())
        .unwrap_or_else(|| "(no reason given)".into());
    println!("  the rep said:       {said}");
    let shown: Vec<String> = story.signals.iter().map(|s| format!("{s:?}")).collect();
    println!("  the process shows:  {}", shown.join(", "));

    // Looking back: where the deal stood 30 days before the loss.
    if let Some(last) = story.stages.last() {
        let lost_at = last.until.unwrap_or(last.from);
        let before = Timestamp(lost_at.0 - 30 * Timestamp::DAY);
        let then = engine
            .sales()
            .read(|m| {
                m.deals
                    .get(&story.deal)
                    .and_then(|d| m.view(d, Cut::occurred_by(before)))
            })
            .map_err(|e| e.to_string())?;
        match then {
            Some(v) => println!(
                "  30 days before ({}): stage {}, {} days in it, {} follow-ups, expected to close {}",
                before.date(),
                v.stage,
                v.days_in_stage,
                v.follow_ups,
                v.expected_close.map_or("-".into(), |d| d.to_string())
            ),
            None => println!(
                "  30 days before ({}): the deal did not exist yet",
                before.date()
            ),
        }
    }
    engine.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
}
