//! Tests of the domain, read as sentences: given events, when a command, then events or an
//! error.

mod account;
mod codec;
mod opportunity;
mod properties;

use dealtrail_domain::*;
use uuid::Uuid;

/// The business time at which every given event happened.
pub const T0: Timestamp = Timestamp(1_700_000_000_000_000);

pub fn ctx() -> Context {
    Context {
        actor: user("anna"),
        occurred_at: Timestamp(T0.0 + Timestamp::DAY),
        now: Timestamp(T0.0 + 2 * Timestamp::DAY),
    }
}

pub fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}
pub fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}
pub fn label(s: &str) -> Label {
    Label::parse(s).unwrap()
}
pub fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}
pub fn stage(s: &str) -> StageName {
    StageName::parse(s).unwrap()
}
pub fn usd(units: i64) -> Money {
    Money::from_minor(units * 100, Currency::USD).unwrap()
}
pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}
pub fn contact(n: u128) -> ContactId {
    ContactId(Uuid::from_u128(n))
}
pub fn unit(n: u128) -> OrgUnitId {
    OrgUnitId(Uuid::from_u128(1000 + n))
}
pub const ACCOUNT: AccountId = AccountId(Uuid::from_u128(7));

/// Wraps events in envelopes numbered from 1, all at [`T0`].
pub fn recorded<E: Clone>(events: &[E]) -> Vec<Recorded<E>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Recorded {
            seq: i as u64 + 1,
            recorded_at: T0,
            occurred_at: T0,
            actor: user("anna"),
            event: e.clone(),
        })
        .collect()
}

pub fn registered() -> AccountEvent {
    AccountEvent::AccountRegistered(dealtrail_domain::account::AccountRegistered {
        name: name("Acme Corporation"),
        industry: Some(label("technology")),
        employees: Some(2822),
        annual_revenue: Some(usd(1_100_040_000)),
        region: Some(label("United States")),
        parent: None,
        external_id: None,
    })
}

pub fn contact_registered(n: u128, role: BuyingRole) -> AccountEvent {
    AccountEvent::ContactRegistered(dealtrail_domain::account::ContactRegistered {
        contact: contact(n),
        name: name(&format!("Person {n}")),
        title: None,
        org_unit: None,
        role,
        seniority: Seniority::Manager,
        email: None,
        phone: None,
    })
}

pub fn org_unit_added(n: u128) -> AccountEvent {
    AccountEvent::OrgUnitAdded(dealtrail_domain::account::OrgUnitAdded {
        org_unit: unit(n),
        name: name(&format!("Unit {n}")),
        parent: None,
        needs: None,
    })
}

/// A scenario on one account.
pub struct GivenAccount(Vec<AccountEvent>);

pub fn given_account(events: &[AccountEvent]) -> GivenAccount {
    GivenAccount(events.to_vec())
}

impl GivenAccount {
    pub fn when(self, command: AccountCommand) -> Then<AccountEvent> {
        self.when_at(ctx(), command)
    }

    pub fn when_at(self, ctx: Context, command: AccountCommand) -> Then<AccountEvent> {
        let state = Account::from_events(&recorded(&self.0));
        Then(state.decide(&ctx, command))
    }
}

/// A scenario on one deal of [`ACCOUNT`], with the default pipeline in force.
pub struct GivenDeal {
    account: Vec<AccountEvent>,
    deal: Vec<OpportunityEvent>,
    pipeline: Option<Pipeline>,
}

pub fn given_deal(account: &[AccountEvent], deal: &[OpportunityEvent]) -> GivenDeal {
    GivenDeal {
        account: account.to_vec(),
        deal: deal.to_vec(),
        pipeline: Some(Pipeline::default_b2b()),
    }
}

impl GivenDeal {
    pub fn with_pipeline(mut self, pipeline: Pipeline) -> GivenDeal {
        self.pipeline = Some(pipeline);
        self
    }

    pub fn without_pipeline(mut self) -> GivenDeal {
        self.pipeline = None;
        self
    }

    pub fn when(self, command: OpportunityCommand) -> Then<OpportunityEvent> {
        self.when_at(ctx(), command)
    }

    pub fn when_at(self, ctx: Context, command: OpportunityCommand) -> Then<OpportunityEvent> {
        let account = Account::from_events(&recorded(&self.account));
        let deal = Opportunity::from_events(&recorded(&self.deal));
        let deps = OpportunityDeps {
            account: &account,
            pipeline: self.pipeline.as_ref(),
        };
        Then(deal.decide(&ctx, deps, command))
    }
}

/// What `when` produced.
pub struct Then<E>(Result<Vec<E>, DomainError>);

impl<E: std::fmt::Debug + PartialEq> Then<E> {
    #[track_caller]
    pub fn then(self, expected: Vec<E>) {
        assert_eq!(self.0, Ok(expected));
    }

    #[track_caller]
    pub fn then_err(self, expected: DomainError) {
        assert_eq!(self.0, Err(expected));
    }

    /// The events, for tests that check a part of them.
    #[track_caller]
    pub fn events(self) -> Vec<E> {
        self.0.expect("command accepted")
    }
}
