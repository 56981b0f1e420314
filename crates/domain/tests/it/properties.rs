//! Property tests over random command sequences.

use dealtrail_domain::account::*;
use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

#[derive(Debug, Clone)]
enum Cmd {
    Account(AccountCommand),
    /// A command for opportunity `n` of a small pool.
    Deal(usize, OpportunityCommand),
}

fn stage_strategy() -> impl Strategy<Value = StageName> {
    prop_oneof![
        Just("Lead"),
        Just("Qualified"),
        Just("Solution"),
        Just("Demo/POC"),
        Just("Bid"),
        Just("Negotiation"),
        Just("Nowhere"),
    ]
    .prop_map(stage)
}

fn money_strategy() -> impl Strategy<Value = Money> {
    (0i64..1_000_000, prop_oneof![Just("USD"), Just("EUR")])
        .prop_map(|(m, c)| Money::from_minor(m, Currency::parse(c).unwrap()).unwrap())
}

fn account_command() -> impl Strategy<Value = AccountCommand> {
    let AccountEvent::AccountRegistered(reg) = registered() else {
        unreachable!()
    };
    prop_oneof![
        Just(AccountCommand::Register(reg)),
        (0u128..4, proptest::option::of(0u128..4)).prop_map(|(u, parent)| {
            AccountCommand::AddOrgUnit(OrgUnitAdded {
                org_unit: unit(u),
                name: name("Unit"),
                parent: parent.map(unit),
                needs: None,
            })
        }),
        (0u128..5, 0usize..6, proptest::option::of(0u128..4)).prop_map(|(c, role, u)| {
            AccountCommand::RegisterContact(ContactRegistered {
                contact: contact(c),
                name: name("Someone"),
                title: None,
                org_unit: u.map(unit),
                role: BuyingRole::ALL[role],
                seniority: Seniority::Staff,
                email: None,
                phone: None,
            })
        }),
        (0u128..5).prop_map(|c| AccountCommand::RecordContactLeft(ContactLeft {
            contact: contact(c),
            reason: None
        })),
        prop_oneof![Just("anna"), Just("bob")]
            .prop_map(|o| AccountCommand::AssignOwner { owner: user(o) }),
        (0u32..5000).prop_map(|e| AccountCommand::UpdateProfile(AccountProfileUpdated {
            employees: Some(e),
            ..Default::default()
        })),
        money_strategy().prop_map(|m| AccountCommand::RecordPurchase(PurchaseRecorded {
            product: label("GTX Pro"),
            quantity: 3,
            unit: Unit::Server,
            amount: m,
            purchased_on: date("2024-01-01"),
            opportunity: None,
        })),
        (1u64..30, any::<bool>()).prop_map(|(seq, amend)| {
            AccountCommand::Correct(Correction {
                target_seq: seq,
                replacement: amend.then(|| {
                    Box::new(AccountEvent::ServiceInteractionRecorded(
                        ServiceInteractionRecorded {
                            kind: ServiceKind::Ticket,
                            satisfaction: None,
                            summary: text("fixed"),
                        },
                    ))
                }),
                reason: text("correction"),
            })
        }),
        Just(AccountCommand::RecordServiceInteraction(
            ServiceInteractionRecorded {
                kind: ServiceKind::SatisfactionCheck,
                satisfaction: Some(Satisfaction::parse(3).unwrap()),
                summary: text("ok"),
            }
        )),
    ]
}

fn deal_command() -> impl Strategy<Value = OpportunityCommand> {
    prop_oneof![
        (money_strategy(), proptest::option::of(0u128..4)).prop_map(|(amount, u)| {
            OpportunityCommand::Open(OpportunityOpened {
                account: ACCOUNT,
                title: name("Deal"),
                owner: user("anna"),
                product_line: None,
                org_unit: u.map(unit),
                amount,
                expected_close: date("2024-06-30"),
                source: None,
                stage: stage("Lead"),
                external_id: None,
            })
        }),
        stage_strategy().prop_map(|to| OpportunityCommand::ChangeStage { to }),
        stage_strategy().prop_map(|to| OpportunityCommand::ChangeStage { to }),
        (proptest::collection::vec(0u128..5, 0..3), 0u16..2).prop_map(|(cs, u)| {
            OpportunityCommand::LogFollowUp(FollowUpLogged {
                channel: Channel::Visit,
                contacts: cs.into_iter().map(contact).collect(),
                unregistered_participants: u,
                function: Function::Sales,
                summary: text("visit"),
                next_step: None,
                next_step_due: None,
                unregistered_names: Vec::new(),
            })
        }),
        (0u128..5).prop_map(|c| OpportunityCommand::EngageContact(ContactEngaged {
            contact: contact(c),
            role: BuyingRole::Influencer,
        })),
        (0usize..6, 0usize..5).prop_map(|(k, f)| {
            OpportunityCommand::AddCrossFunctionalRecord(CrossFunctionalRecordAdded {
                function: Function::ALL[f],
                kind: RecordKind::ALL[k],
                assessment: Assessment::Neutral,
                satisfaction: None,
                summary: text("record"),
            })
        }),
        (
            proptest::option::of(money_strategy()),
            proptest::option::of(0i32..400)
        )
            .prop_map(|(amount, days)| OpportunityCommand::ReviseForecast {
                amount,
                expected_close: days.map(|d| date("2024-06-30").plus_days(d)),
            }),
        money_strategy().prop_map(|amount| OpportunityCommand::SubmitBid(BidSubmitted {
            amount,
            submitted_on: date("2024-05-01"),
            competitors: vec![],
        })),
        (0usize..4).prop_map(|o| OpportunityCommand::Close {
            outcome: Outcome::ALL[o],
            final_amount: None,
            winning_competitor: None,
            reason: None,
        }),
        stage_strategy().prop_map(|s| OpportunityCommand::Reopen(OpportunityReopened {
            stage: s,
            reason: None,
        })),
        prop_oneof![Just("anna"), Just("bob")]
            .prop_map(|to| OpportunityCommand::ReassignOwner { to: user(to) }),
        (1u64..40).prop_map(|seq| OpportunityCommand::Correct(Correction {
            target_seq: seq,
            replacement: None,
            reason: text("wrong deal"),
        })),
    ]
}

fn command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        1 => account_command().prop_map(Cmd::Account),
        3 => (0usize..3, deal_command()).prop_map(|(n, c)| Cmd::Deal(n, c)),
    ]
}

fn deal_id(n: usize) -> OpportunityId {
    OpportunityId(Uuid::from_u128(500 + n as u128))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Runs random commands the way the engine will: decide on the current state, then
    /// apply what was decided. Checks that refolding the log reproduces every state, that
    /// deciding is deterministic, and that every event survives its payload codec.
    #[test]
    fn folding_the_log_reproduces_the_states_decide_saw(
        commands in proptest::collection::vec(command(), 1..60)
    ) {
        let pipeline = Pipeline::default_b2b();
        let mut log: Vec<Recorded<Event>> = Vec::new();
        let mut account = Account::default();
        let mut deals = vec![Opportunity::default(); 3];
        let ctx = ctx();
        for cmd in commands {
            let decided: Result<Vec<Event>, DomainError> = match &cmd {
                Cmd::Account(c) => {
                    let first = account.decide(&ctx, c.clone());
                    prop_assert_eq!(&first, &account.decide(&ctx, c.clone()));
                    first.map(|es| es.into_iter().map(|e| Event::Account(ACCOUNT, e)).collect())
                }
                Cmd::Deal(n, c) => {
                    let deps = OpportunityDeps { account: &account, pipeline: Some(&pipeline) };
                    let first = deals[*n].decide(&ctx, deps, c.clone());
                    prop_assert_eq!(&first, &deals[*n].decide(&ctx, deps, c.clone()));
                    first.map(|es| es.into_iter().map(|e| Event::Opportunity(deal_id(*n), e)).collect())
                }
            };
            let Ok(events) = decided else { continue };
            prop_assert!(!events.is_empty());
            for event in events {
                let recorded = Recorded {
                    seq: log.len() as u64 + 1,
                    recorded_at: ctx.now,
                    occurred_at: ctx.occurred_at,
                    actor: ctx.actor.clone(),
                    event: event.clone(),
                };
                let decoded = Event::decode(
                    &event.stream().to_string(),
                    event.event_type(),
                    event.schema_version(),
                    &event.encode(),
                );
                prop_assert_eq!(decoded.as_ref(), Ok(&event));
                match &event {
                    Event::Account(_, e) => account.apply(&recorded.with(e.clone())),
                    Event::Opportunity(id, e) => {
                        let n = (id.0.as_u128() - 500) as usize;
                        deals[n].apply(&recorded.with(e.clone()));
                        // Every stage a deal is in is a stage of the pipeline.
                        if let Some(s) = &deals[n].stage {
                            prop_assert!(pipeline.position(s).is_some());
                        }
                    }
                    Event::Pipeline(_) => {}
                }
                log.push(recorded);
            }
        }
        let refolded_account = Account::from_events(&log.iter().filter_map(|r| match &r.event {
            Event::Account(_, e) => Some(r.with(e.clone())),
            _ => None,
        }).collect::<Vec<_>>());
        prop_assert_eq!(refolded_account, account);
        for (n, deal) in deals.iter().enumerate() {
            let refolded = Opportunity::from_events(&log.iter().filter_map(|r| match &r.event {
                Event::Opportunity(id, e) if *id == deal_id(n) => Some(r.with(e.clone())),
                _ => None,
            }).collect::<Vec<_>>());
            prop_assert_eq!(&refolded, deal);
        }
    }
}

proptest! {
    /// Dates and instants print as they parse, across the years business dates may have.
    #[test]
    fn dates_and_instants_round_trip_through_their_text(
        day in -25_567i32..376_200,
        micros in 0i64..dealtrail_domain::Timestamp::DAY,
    ) {
        use dealtrail_domain::{Date, Timestamp};
        let date = Date(day);
        let (y, m, d) = date.ymd();
        prop_assert_eq!(Date::from_ymd(y, m, d), Some(date));
        prop_assert_eq!(Date::parse(&date.to_string()), Ok(date));
        let t = Timestamp(Timestamp::start_of(date).0 + micros);
        prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        prop_assert_eq!(t.date(), date);
    }
}

#[test]
fn business_dates_outside_the_documented_years_are_refused() {
    use dealtrail_domain::{Date, FieldError, Timestamp};
    for bad in ["0000-01-01", "9999-12-31", "1899-12-31", "3000-01-01"] {
        assert!(
            matches!(Date::parse(bad), Err(FieldError::DateOutOfRange { .. })),
            "{bad}"
        );
        assert!(Timestamp::parse(bad).is_err(), "{bad}");
    }
    assert!(Timestamp::parse("0001-01-01T00:00:00Z").is_err());
    for bad in ["2024-02-30", "+2024-01-01", "20240-01-01", "2024-1-01"] {
        assert!(Date::parse(bad).is_err(), "{bad}");
    }
    assert!(Date::parse("1900-01-01").is_ok() && Date::parse("2999-12-31").is_ok());
}
