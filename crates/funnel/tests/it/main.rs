//! Tests of the pipeline and funnel read models.

mod examples;
mod flow;
mod properties;
mod rates;
mod scan;

use dealtrail_domain::account::{AccountEvent, AccountRegistered};
use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use uuid::Uuid;

/// Day `n` of the test calendar (2024-01-01 is day 0), at midnight UTC.
pub fn day(n: i64) -> Timestamp {
    Timestamp(Timestamp::start_of(Date::parse("2024-01-01").unwrap()).0 + n * Timestamp::DAY)
}

pub fn stage(s: &str) -> StageName {
    StageName::parse(s).unwrap()
}

pub fn usd(units: i64) -> Money {
    Money::from_minor(units * 100, Currency::USD).unwrap()
}

pub fn account(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
}

pub fn deal(n: u128) -> OpportunityId {
    OpportunityId(Uuid::from_u128(1000 + n))
}

/// Builds a log: events get sequence numbers in the order they are added.
#[derive(Default)]
pub struct Log(pub Vec<Recorded<Event>>);

impl Log {
    pub fn add(&mut self, at: Timestamp, event: Event) -> u64 {
        let seq = self.0.len() as u64 + 1;
        self.0.push(Recorded {
            seq,
            recorded_at: Timestamp(day(1000).0 + seq as i64),
            occurred_at: at,
            actor: UserId::parse("tester").unwrap(),
            event,
        });
        seq
    }

    pub fn pipeline(&mut self) -> &mut Self {
        self.add(
            day(0),
            Event::Pipeline(PipelineEvent::PipelineDefined(Pipeline::default_b2b())),
        );
        self
    }

    pub fn account(&mut self, n: u128, industry: &str, employees: u32) -> &mut Self {
        self.add(
            day(0),
            Event::Account(
                account(n),
                AccountEvent::AccountRegistered(AccountRegistered {
                    name: Name::parse(format!("Account {n}")).unwrap(),
                    industry: Some(Label::parse(industry).unwrap()),
                    employees: Some(employees),
                    annual_revenue: None,
                    region: Some(Label::parse("Europe").unwrap()),
                    parent: None,
                    external_id: None,
                }),
            ),
        );
        self
    }

    pub fn open(&mut self, d: u128, acct: u128, owner: &str, amount: i64, at: i64) -> &mut Self {
        self.add(
            day(at),
            Event::Opportunity(
                deal(d),
                OpportunityEvent::OpportunityOpened(OpportunityOpened {
                    account: account(acct),
                    title: Name::parse("deal").unwrap(),
                    owner: UserId::parse(owner).unwrap(),
                    product_line: Some(Label::parse("GTX").unwrap()),
                    org_unit: None,
                    amount: usd(amount),
                    expected_close: Date::parse("2024-12-31").unwrap(),
                    source: None,
                    stage: stage("Lead"),
                    external_id: None,
                }),
            ),
        );
        self
    }

    pub fn moved(&mut self, d: u128, from: &str, to: &str, at: i64) -> &mut Self {
        let p = Pipeline::default_b2b();
        self.add(
            day(at),
            Event::Opportunity(
                deal(d),
                OpportunityEvent::StageChanged(StageChanged {
                    from: stage(from),
                    to: stage(to),
                    movement: p.movement(&stage(from), &stage(to)),
                    gate_missing: Vec::new(),
                }),
            ),
        );
        self
    }

    pub fn close(&mut self, d: u128, outcome: Outcome, in_stage: &str, at: i64) -> &mut Self {
        self.add(
            day(at),
            Event::Opportunity(
                deal(d),
                OpportunityEvent::OpportunityClosed(OpportunityClosed {
                    outcome,
                    stage: stage(in_stage),
                    final_amount: None,
                    winning_competitor: None,
                    stated_reason: None,
                }),
            ),
        );
        self
    }

    pub fn reopen(&mut self, d: u128, at_stage: &str, at: i64) -> &mut Self {
        self.add(
            day(at),
            Event::Opportunity(
                deal(d),
                OpportunityEvent::OpportunityReopened(OpportunityReopened {
                    stage: stage(at_stage),
                    reason: None,
                }),
            ),
        );
        self
    }

    pub fn fold(&self) -> dealtrail_funnel::SalesPipeline {
        let mut model = dealtrail_funnel::SalesPipeline::default();
        for e in &self.0 {
            model.apply(e);
        }
        model
    }
}

pub fn query(from: i64, to: i64) -> dealtrail_funnel::FunnelQuery {
    dealtrail_funnel::FunnelQuery {
        from: day(from),
        to: day(to),
        filter: Default::default(),
        currency: Currency::USD,
        as_occurred_by: None,
        as_recorded_through: None,
    }
}
