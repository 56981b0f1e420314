//! Integration tests of the engine: the command path and the projection runner, on a real
//! store in a temporary folder.

mod commands;
mod erasure;
mod runner;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dealtrail_domain::account::{AccountRegistered, ContactRegistered};
use dealtrail_domain::opportunity::{FollowUpLogged, OpportunityOpened};
use dealtrail_domain::*;
use dealtrail_engine::{Command, Engine, EngineConfig, Issued, RunnerConfig};
use uuid::Uuid;

pub const ACCOUNT: AccountId = AccountId(Uuid::from_u128(1));

pub fn deal(n: u128) -> OpportunityId {
    OpportunityId(Uuid::from_u128(100 + n))
}

/// An engine on `dir` whose recorded clock starts at 2024-01-01 and moves one minute per
/// append, so recorded-time questions have definite answers.
pub fn engine(dir: &std::path::Path, snapshot_every: u64) -> Engine {
    let start = Timestamp::parse("2024-01-01T00:00:00Z").unwrap().0;
    let now = Arc::new(AtomicI64::new(start));
    let clock: dealtrail_store::Clock =
        Arc::new(move || dealtrail_store::Timestamp(now.fetch_add(60_000_000, Ordering::SeqCst)));
    let mut config = EngineConfig::new(dir);
    config.store = config.store.clock(clock).cache_capacity(32 << 20);
    config.runner = RunnerConfig {
        snapshot_every,
        keep_snapshots: 100,
    };
    Engine::open(config).expect("engine opens")
}

pub fn rep() -> Issued {
    Issued::by(UserId::parse("anna").unwrap())
}

pub async fn setup(engine: &Engine) {
    setup_as(engine, rep).await
}

/// [`setup`] with every command issued as `issued()` says (e.g. at a past business time).
pub async fn setup_as(engine: &Engine, issued: impl Fn() -> Issued) {
    engine
        .execute(
            issued(),
            Command::DefinePipeline {
                stages: Pipeline::default_b2b().stages,
                outcomes: Outcome::ALL.to_vec(),
                gates: Vec::new(),
            },
        )
        .await
        .unwrap();
    engine
        .execute(
            issued(),
            Command::Account(
                ACCOUNT,
                AccountCommand::Register(AccountRegistered {
                    name: Name::parse("Acme").unwrap(),
                    industry: Some(Label::parse("medical").unwrap()),
                    employees: Some(1200),
                    annual_revenue: None,
                    region: None,
                    parent: None,
                    external_id: None,
                }),
            ),
        )
        .await
        .unwrap();
    engine
        .execute(
            issued(),
            Command::Account(
                ACCOUNT,
                AccountCommand::RegisterContact(ContactRegistered {
                    contact: ContactId(Uuid::from_u128(9)),
                    name: Name::parse("Dana").unwrap(),
                    title: None,
                    org_unit: None,
                    role: BuyingRole::DecisionMaker,
                    seniority: Seniority::Executive,
                    email: None,
                    phone: None,
                }),
            ),
        )
        .await
        .unwrap();
}

pub fn open(n: u128, amount: i64) -> Command {
    Command::Opportunity(
        deal(n),
        OpportunityCommand::Open(OpportunityOpened {
            account: ACCOUNT,
            title: Name::parse(format!("deal {n}")).unwrap(),
            owner: UserId::parse("anna").unwrap(),
            product_line: None,
            org_unit: None,
            amount: Money::from_minor(amount, Currency::USD).unwrap(),
            expected_close: Date::parse("2024-12-31").unwrap(),
            source: None,
            stage: StageName::parse("Lead").unwrap(),
            external_id: None,
        }),
    )
}

pub fn move_to(n: u128, stage: &str) -> Command {
    Command::Opportunity(
        deal(n),
        OpportunityCommand::ChangeStage {
            to: StageName::parse(stage).unwrap(),
        },
    )
}

pub fn follow_up(n: u128) -> Command {
    Command::Opportunity(
        deal(n),
        OpportunityCommand::LogFollowUp(FollowUpLogged {
            channel: Channel::Call,
            contacts: vec![ContactId(Uuid::from_u128(9))],
            unregistered_participants: 0,
            function: Function::Sales,
            summary: Text::parse("call").unwrap(),
            next_step: None,
            next_step_due: None,
            unregistered_names: Vec::new(),
        }),
    )
}
