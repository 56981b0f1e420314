//! Worked scenarios and properties of the customer profiles.

use dealtrail_domain::account::*;
use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use dealtrail_profile::*;
use proptest::prelude::*;
use uuid::Uuid;

const ACCOUNT: AccountId = AccountId(Uuid::from_u128(1));
fn day(n: i64) -> Timestamp {
    Timestamp(Timestamp::parse("2024-01-01").unwrap().0 + n * Timestamp::DAY)
}
fn usd(units: i64) -> Money {
    Money::from_minor(units * 100, Currency::USD).unwrap()
}
fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}

#[derive(Default)]
struct Log(Vec<Recorded<Event>>);

impl Log {
    fn add(&mut self, at: i64, actor: &str, event: Event) -> u64 {
        let seq = self.0.len() as u64 + 1;
        self.0.push(Recorded {
            seq,
            recorded_at: day(at),
            occurred_at: day(at),
            actor: UserId::parse(actor).unwrap(),
            event,
        });
        seq
    }
    fn acct(&mut self, at: i64, actor: &str, e: AccountEvent) -> u64 {
        self.add(at, actor, Event::Account(ACCOUNT, e))
    }
    fn fold(&self) -> Profiles {
        let mut p = Profiles::default();
        for e in &self.0 {
            p.apply(e);
        }
        p
    }
    fn profile(&self) -> AccountProfile {
        self.fold().accounts[&ACCOUNT].clone()
    }
}

fn registered(log: &mut Log) {
    log.acct(
        0,
        "anna",
        AccountEvent::AccountRegistered(AccountRegistered {
            name: Name::parse("Acme").unwrap(),
            industry: None,
            employees: None,
            annual_revenue: None,
            region: None,
            parent: None,
            external_id: None,
        }),
    );
}

fn indicator(log: &mut Log, year: i32, revenue: i64) -> u64 {
    log.acct(
        1,
        "anna",
        AccountEvent::BusinessIndicatorRecorded(BusinessIndicatorRecorded {
            period: Period::Year(year),
            revenue: Some(usd(revenue)),
            headcount: None,
            note: None,
            source: None,
        }),
    )
}

fn satisfaction(log: &mut Log, at: i64, score: u8) -> u64 {
    log.acct(
        at,
        "support",
        AccountEvent::ServiceInteractionRecorded(ServiceInteractionRecorded {
            kind: ServiceKind::SatisfactionCheck,
            satisfaction: Some(Satisfaction::parse(score).unwrap()),
            summary: text("check"),
        }),
    )
}

fn deal(log: &mut Log, n: u128, unit: Option<OrgUnitId>, owner: &str) -> OpportunityId {
    let id = OpportunityId(Uuid::from_u128(100 + n));
    log.add(
        2,
        owner,
        Event::Opportunity(
            id,
            OpportunityEvent::OpportunityOpened(OpportunityOpened {
                account: ACCOUNT,
                title: Name::parse("deal").unwrap(),
                owner: UserId::parse(owner).unwrap(),
                product_line: None,
                org_unit: unit,
                amount: usd(10),
                expected_close: Date::parse("2024-12-31").unwrap(),
                source: None,
                stage: StageName::parse("Lead").unwrap(),
                external_id: None,
            }),
        ),
    );
    id
}

fn follow_up(log: &mut Log, id: OpportunityId, at: i64, by: &str) -> u64 {
    log.add(
        at,
        by,
        Event::Opportunity(
            id,
            OpportunityEvent::FollowUpLogged(FollowUpLogged {
                channel: Channel::Visit,
                contacts: vec![],
                unregistered_participants: 1,
                function: Function::Sales,
                summary: text("visit"),
                next_step: None,
                next_step_due: None,
                unregistered_names: Vec::new(),
            }),
        ),
    )
}

fn kinds(signals: &[AccountSignal]) -> Vec<&str> {
    signals.iter().map(|s| s.kind).collect()
}

#[test]
fn a_customer_whose_revenue_doubles_raises_an_upsell_signal() {
    let mut log = Log::default();
    registered(&mut log);
    indicator(&mut log, 2023, 1_000_000);
    let second = indicator(&mut log, 2024, 2_000_000);
    log.acct(
        3,
        "anna",
        AccountEvent::PurchaseRecorded(PurchaseRecorded {
            product: Label::parse("GTX Pro").unwrap(),
            quantity: 40,
            unit: Unit::Server,
            amount: usd(200_000),
            purchased_on: Date::parse("2023-05-01").unwrap(),
            opportunity: None,
        }),
    );
    let signals = log.profile().signals(&SignalConfig::default(), day(10));
    let upsell: Vec<_> = signals.iter().filter(|s| s.kind == "upsell").collect();
    assert_eq!(upsell.len(), 1, "{signals:?}");
    assert!(
        upsell[0]
            .reason
            .contains("revenue up 100% from 2023 to 2024"),
        "{}",
        upsell[0].reason
    );
    assert!(upsell[0].reason.contains("about 80"));
    // A correction of the second figure to modest growth removes the signal.
    log.acct(
        4,
        "anna",
        AccountEvent::AccountEventCorrected(Correction {
            target_seq: second,
            replacement: Some(Box::new(AccountEvent::BusinessIndicatorRecorded(
                BusinessIndicatorRecorded {
                    period: Period::Year(2024),
                    revenue: Some(usd(1_100_000)),
                    headcount: None,
                    note: None,
                    source: None,
                },
            ))),
            reason: text("restated"),
        }),
    );
    assert!(!kinds(&log.profile().signals(&SignalConfig::default(), day(10))).contains(&"upsell"));
}

#[test]
fn a_new_department_without_a_deal_raises_cross_sell() {
    let mut log = Log::default();
    registered(&mut log);
    let (it, lab) = (OrgUnitId(Uuid::from_u128(7)), OrgUnitId(Uuid::from_u128(8)));
    for (unit, name) in [(it, "IT"), (lab, "New lab")] {
        log.acct(
            1,
            "anna",
            AccountEvent::OrgUnitAdded(OrgUnitAdded {
                org_unit: unit,
                name: Name::parse(name).unwrap(),
                parent: None,
                needs: None,
            }),
        );
    }
    let d = deal(&mut log, 1, Some(it), "anna");
    follow_up(&mut log, d, 9, "anna");
    let signals = log.profile().signals(&SignalConfig::default(), day(10));
    assert_eq!(kinds(&signals), vec!["cross_sell"]);
    assert!(signals[0].reason.contains("New lab"));
}

#[test]
fn falling_satisfaction_and_silence_are_churn_risks() {
    let mut log = Log::default();
    registered(&mut log);
    satisfaction(&mut log, 1, 5);
    satisfaction(&mut log, 5, 3);
    let d = deal(&mut log, 1, None, "anna");
    follow_up(&mut log, d, 6, "anna");
    let reasons: Vec<String> = log
        .profile()
        .signals(&SignalConfig::default(), day(200))
        .into_iter()
        .map(|s| format!("{}: {}", s.kind, s.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            "churn_risk: satisfaction fell from 5 to 3".to_string(),
            format!("churn_risk: no follow-up since {}", day(6)),
        ]
    );
    assert!(
        log.profile()
            .signals(&SignalConfig::default(), day(30))
            .len()
            == 1
    );
}

#[test]
fn the_eight_questions_are_answered_with_evidence() {
    let mut log = Log::default();
    registered(&mut log);
    let health = log.profile().health();
    assert_eq!(health.len(), 8);
    assert!(health.iter().all(|a| !a.answered), "{health:?}");
    for (n, role) in [(1, BuyingRole::DecisionMaker), (2, BuyingRole::User)] {
        log.acct(
            1,
            "anna",
            AccountEvent::ContactRegistered(ContactRegistered {
                contact: ContactId(Uuid::from_u128(n)),
                name: Name::parse("P").unwrap(),
                title: None,
                org_unit: None,
                role,
                seniority: Seniority::Staff,
                email: None,
                phone: None,
            }),
        );
    }
    let q4 = &log.profile().health()[3];
    assert!(q4.answered);
    assert_eq!(q4.evidence, "2 current contacts, 1 decision makers");
    log.acct(
        2,
        "anna",
        AccountEvent::ContactLeft(ContactLeft {
            contact: ContactId(Uuid::from_u128(1)),
            reason: None,
        }),
    );
    assert!(
        !log.profile().health()[3].answered,
        "the decision maker left"
    );
}

#[test]
fn relationships_left_with_a_reassigned_rep_are_flagged() {
    let mut log = Log::default();
    registered(&mut log);
    log.acct(
        0,
        "admin",
        AccountEvent::AccountOwnerAssigned(AccountOwnerAssigned {
            owner: UserId::parse("anna").unwrap(),
            previous: None,
        }),
    );
    let d = deal(&mut log, 1, None, "anna");
    for at in 3..6 {
        follow_up(&mut log, d, at, "anna");
    }
    follow_up(&mut log, d, 7, "bob");
    log.acct(
        8,
        "admin",
        AccountEvent::AccountOwnerAssigned(AccountOwnerAssigned {
            owner: UserId::parse("bob").unwrap(),
            previous: Some(UserId::parse("anna").unwrap()),
        }),
    );
    let profiles = log.fold();
    let c = profiles.accounts[&ACCOUNT].concentration(&profiles.names);
    assert_eq!(c.top_rep.as_deref(), Some("anna"));
    assert_eq!(c.follow_up_share, Some(0.75));
    assert!(c.top_rep_reassigned_away);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn restart_from_a_snapshot_changes_nothing(
        ops in proptest::collection::vec((0u8..5, 1u8..6, 0i64..300), 0..40),
        cut in 0usize..60,
    ) {
        let mut log = Log::default();
        registered(&mut log);
        let d = deal(&mut log, 1, None, "anna");
        let mut retractable = Vec::new();
        for (what, score, at) in ops {
            match what {
                0 => retractable.push(satisfaction(&mut log, at, score)),
                1 => retractable.push(indicator(&mut log, 2000 + at as i32 % 20, at * 1000)),
                2 => { follow_up(&mut log, d, at, ["anna", "bob"][score as usize % 2]); }
                3 if !retractable.is_empty() => {
                    let target = retractable.remove(score as usize % retractable.len());
                    log.acct(at, "anna", AccountEvent::AccountEventCorrected(Correction {
                        target_seq: target,
                        replacement: None,
                        reason: text("x"),
                    }));
                }
                _ => { log.acct(at, "admin", AccountEvent::AccountOwnerAssigned(AccountOwnerAssigned {
                    owner: UserId::parse(["anna", "bob"][score as usize % 2]).unwrap(),
                    previous: None,
                })); }
            }
        }
        let whole = log.fold();
        let cut = cut.min(log.0.len());
        let mut first = Profiles::default();
        for e in &log.0[..cut] { first.apply(e); }
        let mut resumed = Profiles::restore(&first.snapshot()).expect("own snapshot");
        for e in &log.0[cut..] { resumed.apply(e); }
        prop_assert_eq!(&resumed, &whole);
        let (a, b) = (&resumed.accounts[&ACCOUNT], &whole.accounts[&ACCOUNT]);
        prop_assert_eq!(a.signals(&SignalConfig::default(), day(400)), b.signals(&SignalConfig::default(), day(400)));
        prop_assert_eq!(a.health(), b.health());
    }
}
