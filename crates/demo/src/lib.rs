//! A realistic, deterministic sales history, written through the engine's command path.
//!
//! The same seed and sizes always give the same commands (ids, names, amounts, business
//! times); only `recorded_at` differs between runs. Every command goes through
//! [`Engine::execute`], so the rules apply to the demo as to any client.
//!
//! Planted phenomena (so that the analyses have something to find):
//! - reps have habits: `rep-01` to `rep-03` are single-threaded (they engage one junior
//!   contact and rarely log follow-ups) and lose more; the others engage several contacts
//!   including decision makers;
//! - about a third of the deals move past Solution without a presales solution record, and
//!   they are lost more often;
//! - some accounts grow (revenue doubles between two indicator years) and some add a new
//!   department late in their history;
//! - support's satisfaction falls on some accounts;
//! - deals skip stages, move back, slip their close dates, get reassigned and reopened;
//! - deals of customers in Germany are priced in EUR and in China in CNY (those customers
//!   and their people have Chinese names), with monthly EUR→USD and USD→CNY rates, so that
//!   sums need conversion.

use std::sync::Arc;

use dealtrail_domain::account::*;
use dealtrail_domain::gate::parse_requirement;
use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use dealtrail_engine::{Command, Engine, EngineError, Issued};
use uuid::Uuid;

/// The size of a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Accounts.
    pub accounts: u32,
    /// Deals per account, on average.
    pub deals_per_account: u32,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Size {
    /// Roughly how many events this size writes (about 15 per account and 10 per deal).
    pub fn approximate_events(&self) -> u64 {
        self.accounts as u64 * (15 + 10 * self.deals_per_account as u64)
    }
}

/// A small, fast, seedable random source (SplitMix64): deterministic across platforms.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One command of a script, with who issues it and when it happened.
#[derive(Debug, Clone)]
pub struct Step {
    /// Business time.
    pub at: Timestamp,
    /// The user issuing it.
    pub actor: UserId,
    /// The command.
    pub command: Command,
}

const INDUSTRIES: [&str; 8] = [
    "medical",
    "retail",
    "software",
    "technology",
    "finance",
    "telecommunications",
    "marketing",
    "entertainment",
];
const REGIONS: [&str; 6] = [
    "United States",
    "Germany",
    "Japan",
    "Brazil",
    "Kenya",
    "China",
];
/// Company and person names of the Chinese customers.
const CN_COMPANIES: [&str; 8] = [
    "华信", "东方", "长城", "海川", "金山", "天成", "中远", "联创",
];
const CN_SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵"];
const CN_GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "磊", "强", "洋"];
const PRODUCTS: [&str; 4] = ["GTX", "MG", "GTK", "Services"];
const REPS: usize = 12;
const SINGLE_THREADED_REPS: usize = 3;
const COMPETITORS: [&str; 4] = ["Initech", "Globex", "Umbrella", "Hooli"];

fn name(s: impl AsRef<str>) -> Name {
    Name::parse(s).expect("generated names are valid")
}
fn label(s: impl AsRef<str>) -> Label {
    Label::parse(s).expect("generated labels are valid")
}
fn text(s: impl AsRef<str>) -> Text {
    Text::parse(s).expect("generated texts are valid")
}
fn user(s: impl AsRef<str>) -> UserId {
    UserId::parse(s).expect("generated users are valid")
}
fn rep(n: usize) -> UserId {
    user(format!("rep-{:02}", n + 1))
}
fn usd(units: u64) -> Money {
    Money::from_minor(units as i64 * 100, Currency::USD).expect("generated amounts are valid")
}
/// The currency a region's deals are priced in.
fn currency_of(region: &str) -> Currency {
    match region {
        "Germany" => Currency::parse("EUR").expect("ISO code"),
        "China" => Currency::parse("CNY").expect("ISO code"),
        _ => Currency::USD,
    }
}
/// `units` dollars' worth in `currency`, in round figures.
fn priced(units: u64, currency: Currency) -> Money {
    let units = if currency.as_str() == "CNY" {
        units * 7
    } else {
        units
    };
    Money::from_minor(units as i64 * 100, currency).expect("generated amounts are valid")
}
fn id(seed: u64, kind: u64, n: u64) -> Uuid {
    // Deterministic version-4-shaped ids: the same history always has the same ids.
    let mut rng = Rng::new(seed ^ (kind << 56) ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D));
    uuid::Builder::from_random_bytes(
        [rng.next_u64().to_le_bytes(), rng.next_u64().to_le_bytes()]
            .concat()
            .try_into()
            .expect("16 bytes"),
    )
    .into_uuid()
}

/// The pipeline every history starts with: the default stages with soft gates, so that
/// the moves that lacked evidence are recorded as findings.
pub fn demo_pipeline() -> Pipeline {
    let gate = |stage: &str, requires: &[&str]| StageGate {
        stage: StageName::parse(stage).expect("a default stage"),
        requires: requires
            .iter()
            .map(|r| parse_requirement(r).expect("valid evidence"))
            .collect(),
        enforcement: Enforcement::Soft,
    };
    Pipeline::default_b2b()
        .with_gates(vec![
            gate("Solution", &["engaged:decision_maker"]),
            gate("Bid", &["record:solution_design"]),
            gate("Negotiation", &["record:demo|record:proof_of_concept"]),
        ])
        .expect("the default stages have these")
}

/// The monthly exchange rates of a history from `start` to `end`: EUR→USD about 1.08 and
/// USD→CNY about 7.1, wobbling by a few per mille.
pub fn rate_steps(seed: u64, start: Timestamp, end: Timestamp) -> Vec<Step> {
    let mut rng = Rng::new(seed ^ 0x5241_5445);
    let mut steps = Vec::new();
    let mut day = start.date();
    while Timestamp::start_of(day) <= end {
        for (from, to, base) in [("EUR", "USD", 10_800i64), ("USD", "CNY", 71_000)] {
            let wobble = rng.below(81) as i64 - 40;
            let rate = base + base * wobble / 1_000 / 10;
            steps.push(Step {
                at: Timestamp::start_of(day),
                actor: user("admin"),
                command: Command::RecordExchangeRate(ExchangeRate {
                    from: Currency::parse(from).expect("ISO code"),
                    to: Currency::parse(to).expect("ISO code"),
                    rate: Rate::parse(&format!("{}.{:04}", rate / 10_000, rate % 10_000))
                        .expect("a valid rate"),
                    date: day,
                    source: label("demo central bank"),
                }),
            });
        }
        day = day.plus_days(30);
    }
    steps
}

/// The pipeline definition every history starts with.
pub fn pipeline_step(at: Timestamp) -> Step {
    let p = demo_pipeline();
    Step {
        at,
        actor: user("admin"),
        command: Command::DefinePipeline {
            stages: p.stages,
            outcomes: p.outcomes,
            gates: p.gates,
        },
    }
}

/// The script of account `n`: its registration, people, structure, figures, deals and
/// service record, in business-time order, all between `start` and `end`.
pub fn account_script(size: &Size, n: u32, start: Timestamp, end: Timestamp) -> Vec<Step> {
    let mut rng = Rng::new(size.seed ^ (n as u64).wrapping_mul(0x9E37_79B9));
    let seed = size.seed;
    let account = AccountId(id(seed, 1, n as u64));
    let span_days = start.days_until(end).max(60);
    let mut t = Timestamp(start.0 + rng.below(30) as i64 * Timestamp::DAY);
    let owner = rng.below(REPS as u64) as usize;
    let mut steps = Vec::new();
    let mut push = |at: Timestamp, actor: &UserId, command: Command| {
        steps.push(Step {
            at,
            actor: actor.clone(),
            command,
        })
    };
    let acct = |c: AccountCommand| Command::Account(account, c);
    let employees = 50 + rng.below(20_000) as u32;
    let revenue = employees as u64 * (80 + rng.below(200));
    let admin = user("admin");
    let industry = *rng.pick(&INDUSTRIES);
    let region = *rng.pick(&REGIONS);
    let chinese = region == "China";
    let currency = currency_of(region);
    push(
        t,
        &admin,
        acct(AccountCommand::Register(AccountRegistered {
            name: name(if chinese {
                format!("{}科技 {n:05}", CN_COMPANIES[n as usize % 8])
            } else {
                format!("Company {n:05}")
            }),
            industry: Some(label(industry)),
            employees: Some(employees),
            annual_revenue: Some(usd(revenue * 1000)),
            region: Some(label(region)),
            parent: None,
            external_id: None,
        })),
    );
    push(
        t,
        &admin,
        acct(AccountCommand::AssignOwner { owner: rep(owner) }),
    );
    let units: Vec<OrgUnitId> = (0..2 + rng.below(2))
        .map(|u| OrgUnitId(id(seed, 2, (n as u64) << 8 | u)))
        .collect();
    for (u, unit) in units.iter().enumerate() {
        push(
            t,
            &rep(owner),
            acct(AccountCommand::AddOrgUnit(OrgUnitAdded {
                org_unit: *unit,
                name: name(["IT", "Operations", "Finance", "Research"][u % 4]),
                parent: None,
                needs: Some(text("capacity for growth")),
            })),
        );
    }
    let roles = [
        (BuyingRole::DecisionMaker, Seniority::Executive),
        (BuyingRole::TechnicalEvaluator, Seniority::Manager),
        (BuyingRole::Procurement, Seniority::Manager),
        (BuyingRole::Influencer, Seniority::Director),
        (BuyingRole::User, Seniority::Staff),
        (BuyingRole::User, Seniority::Staff),
    ];
    let contact_count = 3 + rng.below(4) as usize;
    let contacts: Vec<(ContactId, BuyingRole)> = (0..contact_count)
        .map(|c| {
            (
                ContactId(id(seed, 3, (n as u64) << 8 | c as u64)),
                roles[c % roles.len()].0,
            )
        })
        .collect();
    for (c, (contact, role)) in contacts.iter().enumerate() {
        push(
            t,
            &rep(owner),
            acct(AccountCommand::RegisterContact(ContactRegistered {
                contact: *contact,
                name: name(if chinese {
                    let k = n as usize + c * 3;
                    format!("{}{}", CN_SURNAMES[k % 8], CN_GIVEN[(k / 8 + c) % 8])
                } else {
                    format!("Person {n}-{c}")
                }),
                title: None,
                org_unit: Some(units[c % units.len()]),
                role: *role,
                seniority: roles[c % roles.len()].1,
                email: None,
                phone: None,
            })),
        );
    }
    // A fifth of the customers grow, a fifth of the others shrink: the segments' trends.
    let grows = rng.chance(0.2);
    let shrinks = !grows && rng.chance(0.2);
    for (i, year) in [2024, 2025].iter().enumerate() {
        // In tenths of the first year's figures.
        let tenths = match (i, grows, shrinks) {
            (1, true, _) => 20,
            (1, _, true) => 8,
            _ => 10,
        };
        push(
            Timestamp(t.0 + (i as i64 * 200 + 10) * Timestamp::DAY).min(end),
            &rep(owner),
            acct(AccountCommand::RecordBusinessIndicator(
                BusinessIndicatorRecorded {
                    period: Period::Year(*year),
                    revenue: Some(usd(revenue * 100 * tenths)),
                    headcount: Some((employees * tenths as u32 / 10).max(1)),
                    note: None,
                    source: Some(label("annual report")),
                },
            )),
        );
    }

    // Deals, each opened at a random time and run to its end.
    let deals = rng.below(2 * size.deals_per_account as u64 + 1);
    for d in 0..deals {
        let deal = OpportunityId(id(seed, 4, (n as u64) << 16 | d));
        let owner = if rng.chance(0.8) {
            owner
        } else {
            rng.below(REPS as u64) as usize
        };
        let opened = Timestamp(t.0 + rng.below(span_days as u64 * 3 / 4) as i64 * Timestamp::DAY);
        deal_script(
            &mut rng, &mut push, deal, account, owner, &contacts, &units, opened, end, currency,
        );
    }
    t = Timestamp(t.0 + rng.below(span_days as u64) as i64 * Timestamp::DAY).min(end);
    let falling = rng.chance(0.15);
    for s in 0..2 {
        let score = if falling { 4 - 2 * s } else { 4 + s % 2 };
        push(
            t,
            &user("support-1"),
            acct(AccountCommand::RecordServiceInteraction(
                ServiceInteractionRecorded {
                    kind: ServiceKind::SatisfactionCheck,
                    satisfaction: Satisfaction::parse(score as u8).ok(),
                    summary: text("quarterly satisfaction check"),
                },
            )),
        );
    }
    if rng.chance(0.1) {
        push(
            end,
            &rep(owner),
            acct(AccountCommand::AddOrgUnit(OrgUnitAdded {
                org_unit: OrgUnitId(id(seed, 2, (n as u64) << 8 | 99)),
                name: name("New venture"),
                parent: None,
                needs: Some(text("a platform for a new business line")),
            })),
        );
    }
    steps.sort_by_key(|s| s.at);
    steps
}

#[allow(clippy::too_many_arguments)]
fn deal_script(
    rng: &mut Rng,
    push: &mut impl FnMut(Timestamp, &UserId, Command),
    deal: OpportunityId,
    account: AccountId,
    owner: usize,
    contacts: &[(ContactId, BuyingRole)],
    units: &[OrgUnitId],
    opened: Timestamp,
    end: Timestamp,
    currency: Currency,
) {
    let single_threaded = owner < SINGLE_THREADED_REPS;
    let me = rep(owner);
    let cmd = |c: OpportunityCommand| Command::Opportunity(deal, c);
    let mut t = opened;
    let amount = 1_000 + rng.below(200) * 500;
    let close_date = opened.date().plus_days(60 + rng.below(120) as i32);
    push(
        t,
        &me,
        cmd(OpportunityCommand::Open(OpportunityOpened {
            account,
            title: name(format!("{} expansion", rng.pick(&PRODUCTS))),
            owner: me.clone(),
            product_line: Some(label(rng.pick(&PRODUCTS))),
            org_unit: Some(*rng.pick(units)),
            amount: priced(amount, currency),
            expected_close: close_date,
            source: Some(label("inbound")),
            stage: StageName::parse("Lead").expect("stage"),
            external_id: None,
        })),
    );
    let engaged: Vec<ContactId> = if single_threaded {
        // One junior contact: the last registered ones are users.
        vec![contacts[contacts.len() - 1].0]
    } else {
        contacts
            .iter()
            .take(2 + rng.below(2) as usize)
            .map(|c| c.0)
            .collect()
    };
    let stages = Pipeline::default_b2b().stages;
    let mut position = 0usize;
    let mut presales = false;
    let skips_presales = rng.chance(0.33);
    let mut slips = 0;
    let advance = |rng: &mut Rng, t: &mut Timestamp| {
        *t = Timestamp(t.0 + (3 + rng.below(25) as i64) * Timestamp::DAY);
    };
    for c in &engaged {
        advance(rng, &mut t);
        let role = contacts
            .iter()
            .find(|(id, _)| id == c)
            .map_or(BuyingRole::Other, |(_, r)| *r);
        push(
            t.min(end),
            &me,
            cmd(OpportunityCommand::EngageContact(ContactEngaged {
                contact: *c,
                role,
            })),
        );
    }
    // Walk the stages; each step may skip ahead or fall back.
    let target = 1 + rng.below(stages.len() as u64 - 1) as usize;
    while position < target {
        advance(rng, &mut t);
        if t > end {
            return;
        }
        let follow_ups = if single_threaded { 1 } else { 1 + rng.below(3) };
        for _ in 0..follow_ups {
            push(
                t,
                &me,
                cmd(OpportunityCommand::LogFollowUp(FollowUpLogged {
                    channel: *rng.pick(&[Channel::Visit, Channel::Call, Channel::Email]),
                    contacts: vec![*rng.pick(&engaged)],
                    unregistered_participants: if single_threaded { 1 } else { 0 },
                    function: Function::Sales,
                    summary: text("discussed requirements"),
                    next_step: Some(text("follow up next week")),
                    next_step_due: Some(t.date().plus_days(7)),
                    unregistered_names: Vec::new(),
                })),
            );
        }
        let next = if rng.chance(0.15) && position + 2 < stages.len() {
            position + 2
        } else if rng.chance(0.08) && position > 0 {
            position - 1
        } else {
            position + 1
        };
        push(
            t,
            &me,
            cmd(OpportunityCommand::ChangeStage {
                to: stages[next].clone(),
            }),
        );
        position = next;
        if stages[position].as_str() == "Solution" && !skips_presales && !presales {
            presales = true;
            push(
                t,
                &user("presales-1"),
                cmd(OpportunityCommand::AddCrossFunctionalRecord(
                    CrossFunctionalRecordAdded {
                        function: Function::Presales,
                        kind: RecordKind::SolutionDesign,
                        assessment: Assessment::Positive,
                        satisfaction: None,
                        summary: text("solution designed with the customer's IT"),
                    },
                )),
            );
        }
        if stages[position].as_str() == "Demo/POC" && rng.chance(0.7) {
            push(
                t,
                &user("engineer-1"),
                cmd(OpportunityCommand::AddCrossFunctionalRecord(
                    CrossFunctionalRecordAdded {
                        function: Function::Engineering,
                        kind: RecordKind::Demo,
                        assessment: Assessment::Neutral,
                        satisfaction: None,
                        summary: text("demo given"),
                    },
                )),
            );
        }
        if rng.chance(0.2) {
            slips += 1;
            push(
                t,
                &me,
                cmd(OpportunityCommand::ReviseForecast {
                    amount: None,
                    expected_close: Some(close_date.plus_days(30 * slips)),
                }),
            );
        }
    }
    if position >= 4 {
        push(
            t,
            &me,
            cmd(OpportunityCommand::SubmitBid(BidSubmitted {
                amount: priced(amount * 95 / 100, currency),
                submitted_on: t.date(),
                competitors: vec![label(rng.pick(&COMPETITORS))],
            })),
        );
    }
    advance(rng, &mut t);
    if t > end || rng.chance(0.15) {
        return; // still open
    }
    let mut win = 0.45;
    if single_threaded {
        win -= 0.25;
    }
    if skips_presales && position >= 2 {
        win -= 0.15;
    }
    win += 0.05 * position as f64;
    let outcome = if rng.chance(win) {
        Outcome::Won
    } else if rng.chance(0.8) {
        Outcome::Lost
    } else {
        Outcome::NoDecision
    };
    push(
        t,
        &me,
        cmd(OpportunityCommand::Close {
            outcome,
            final_amount: None,
            winning_competitor: (outcome == Outcome::Lost).then(|| label(rng.pick(&COMPETITORS))),
            reason: (outcome == Outcome::Lost)
                .then(|| text(*rng.pick(&["price", "timing", "features"]))),
        }),
    );
    if outcome == Outcome::Won {
        // What was won becomes consumption history.
        push(
            t,
            &me,
            Command::Account(
                account,
                AccountCommand::RecordPurchase(PurchaseRecorded {
                    product: label(rng.pick(&PRODUCTS)),
                    quantity: 1 + rng.below(50) as u32,
                    unit: *rng.pick(&[Unit::Licence, Unit::Server, Unit::Seat]),
                    amount: usd(amount),
                    purchased_on: t.date(),
                    opportunity: Some(deal),
                }),
            ),
        );
    }
}

/// Writes a whole history through `engine` with `concurrency` writers, calling `progress`
/// with the number of accounts done (known in advance, unlike the number of commands or
/// events). Returns how many commands were executed.
///
/// Each writer takes `together` accounts at a time and hands the engine the next unit of
/// each of them in one call ([`Engine::execute_many`]: decided one by one, appended as one
/// group); with 1 it runs every unit alone. Accounts do not depend on each other, and one
/// account's units run in order either way, so the history is the same.
pub async fn generate(
    engine: Arc<Engine>,
    size: Size,
    start: Timestamp,
    end: Timestamp,
    concurrency: usize,
    together: u32,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<u64, EngineError> {
    let first = pipeline_step(start);
    engine.execute(issued(&first), first.command).await?;
    let rates = rate_steps(size.seed, start, end);
    let rate_count = rates.len() as u64;
    for step in rates {
        engine.execute(issued(&step), step.command).await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(1 + rate_count));
    let accounts_done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (engine, next, done, progress) =
            (engine.clone(), next.clone(), done.clone(), progress.clone());
        let accounts_done = accounts_done.clone();
        workers.push(tokio::spawn(async move {
            let together = together.max(1);
            loop {
                let n = next.fetch_add(together, std::sync::atomic::Ordering::Relaxed);
                if n >= size.accounts {
                    return Ok::<(), EngineError>(());
                }
                let mut scripts: Vec<std::vec::IntoIter<Vec<Step>>> =
                    (n..size.accounts.min(n.saturating_add(together)))
                        .map(|a| batches(account_script(&size, a, start, end)).into_iter())
                        .collect();
                let unit = |batch: Vec<Step>| {
                    let issued = Issued::by(batch[0].actor.clone());
                    let steps: Vec<_> =
                        batch.into_iter().map(|s| (Some(s.at), s.command)).collect();
                    (issued, steps)
                };
                loop {
                    let units: Vec<_> = scripts
                        .iter_mut()
                        .filter_map(Iterator::next)
                        .map(unit)
                        .collect();
                    if units.is_empty() {
                        break;
                    }
                    let count: u64 = units.iter().map(|(_, steps)| steps.len() as u64).sum();
                    if units.len() == 1 && together == 1 {
                        let (issued, steps) =
                            units.into_iter().next().ok_or(EngineError::ShuttingDown)?;
                        engine.execute_batch(issued, steps).await?;
                    } else {
                        for answer in engine.execute_many(units).await {
                            answer?;
                        }
                    }
                    done.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                }
                let accounts = scripts.len() as u64;
                progress(
                    accounts_done.fetch_add(accounts, std::sync::atomic::Ordering::Relaxed)
                        + accounts,
                );
            }
        }));
    }
    for w in workers {
        w.await.map_err(|_| EngineError::ShuttingDown)??;
    }
    Ok(done.load(std::sync::atomic::Ordering::Relaxed))
}

/// Groups an account's script into units the engine can take at once: first the account's
/// own commands, then each deal's, split wherever the stream or the actor changes. Every
/// command is still decided on the state the earlier ones produced.
pub fn batches(script: Vec<Step>) -> Vec<Vec<Step>> {
    let (account, deals): (Vec<Step>, Vec<Step>) = script
        .into_iter()
        .partition(|s| matches!(s.command, Command::Account(..)));
    let mut by_deal: Vec<(dealtrail_domain::StreamName, Vec<Step>)> = Vec::new();
    for step in deals {
        let stream = step.command.stream();
        match by_deal.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, steps)) => steps.push(step),
            None => by_deal.push((stream, vec![step])),
        }
    }
    let mut out: Vec<Vec<Step>> = Vec::new();
    for steps in std::iter::once(account).chain(by_deal.into_iter().map(|(_, s)| s)) {
        for step in steps {
            match out.last_mut() {
                Some(last)
                    if last[0].actor == step.actor
                        && last[0].command.stream() == step.command.stream() =>
                {
                    last.push(step)
                }
                _ => out.push(vec![step]),
            }
        }
    }
    out
}

fn issued(step: &Step) -> Issued {
    Issued {
        occurred_at: Some(step.at),
        ..Issued::by(step.actor.clone())
    }
}
