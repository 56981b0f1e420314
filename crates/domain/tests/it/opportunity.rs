//! Given/when/then tests of the Opportunity aggregate.

use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;

use super::*;

fn opening() -> OpportunityOpened {
    OpportunityOpened {
        account: ACCOUNT,
        title: name("40 servers for the data centre"),
        owner: user("anna"),
        product_line: Some(label("GTX")),
        org_unit: None,
        amount: usd(200_000),
        expected_close: date("2024-06-30"),
        source: None,
        stage: stage("Lead"),
        external_id: None,
    }
}

fn opened() -> OpportunityEvent {
    OpportunityEvent::OpportunityOpened(opening())
}

fn account() -> Vec<AccountEvent> {
    vec![
        registered(),
        contact_registered(1, BuyingRole::DecisionMaker),
        contact_registered(2, BuyingRole::User),
        org_unit_added(1),
    ]
}

fn moved(from: &str, to: &str) -> OpportunityEvent {
    let p = Pipeline::default_b2b();
    OpportunityEvent::StageChanged(StageChanged {
        from: stage(from),
        to: stage(to),
        movement: p.movement(&stage(from), &stage(to)),
        gate_missing: Vec::new(),
    })
}

fn closed(outcome: Outcome) -> OpportunityEvent {
    OpportunityEvent::OpportunityClosed(OpportunityClosed {
        outcome,
        stage: stage("Lead"),
        final_amount: None,
        winning_competitor: None,
        stated_reason: None,
    })
}

fn follow_up(contacts: Vec<ContactId>, unregistered: u16) -> FollowUpLogged {
    FollowUpLogged {
        channel: Channel::Visit,
        contacts,
        unregistered_participants: unregistered,
        function: Function::Sales,
        summary: text("walked through the offer"),
        next_step: None,
        next_step_due: None,
        unregistered_names: Vec::new(),
    }
}

#[test]
fn opening_starts_in_the_first_stage_whatever_the_command_says() {
    let mut command = opening();
    command.stage = stage("Bid");
    given_deal(&account(), &[])
        .when(OpportunityCommand::Open(command))
        .then(vec![opened()]);
}

#[test]
fn opening_needs_a_registered_account_a_known_unit_and_a_pipeline() {
    given_deal(&[], &[])
        .when(OpportunityCommand::Open(opening()))
        .then_err(DomainError::AccountNotRegistered);
    let mut in_unit = opening();
    in_unit.org_unit = Some(unit(5));
    given_deal(&account(), &[])
        .when(OpportunityCommand::Open(in_unit))
        .then_err(DomainError::UnknownOrgUnit { org_unit: unit(5) });
    given_deal(&account(), &[])
        .without_pipeline()
        .when(OpportunityCommand::Open(opening()))
        .then_err(DomainError::NoPipeline);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::Open(opening()))
        .then_err(DomainError::OpportunityAlreadyOpened);
}

#[test]
fn commands_on_a_deal_never_opened_are_refused() {
    given_deal(&account(), &[])
        .when(OpportunityCommand::ChangeStage { to: stage("Bid") })
        .then_err(DomainError::OpportunityNotOpened);
}

#[test]
fn stage_changes_say_whether_they_go_forward_skip_or_back() {
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("Qualified"),
        })
        .then(vec![moved("Lead", "Qualified")]);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("Demo/POC"),
        })
        .then(vec![OpportunityEvent::StageChanged(StageChanged {
            from: stage("Lead"),
            to: stage("Demo/POC"),
            movement: Movement::Skip { skipped: 2 },
            gate_missing: Vec::new(),
        })]);
    given_deal(&account(), &[opened(), moved("Lead", "Bid")])
        .when(OpportunityCommand::ChangeStage {
            to: stage("Solution"),
        })
        .then(vec![OpportunityEvent::StageChanged(StageChanged {
            from: stage("Bid"),
            to: stage("Solution"),
            movement: Movement::Backward { by: 2 },
            gate_missing: Vec::new(),
        })]);
}

#[test]
fn stage_must_exist_and_differ_from_the_current_one() {
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ChangeStage {
            to: stage("Dreaming"),
        })
        .then_err(DomainError::UnknownStage {
            stage: stage("Dreaming"),
        });
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ChangeStage { to: stage("Lead") })
        .then_err(DomainError::SameStage {
            stage: stage("Lead"),
        });
}

#[test]
fn closed_opportunity_rejects_stage_changes_follow_ups_bids_and_forecasts() {
    let given = || given_deal(&account(), &[opened(), closed(Outcome::Lost)]);
    let refused = DomainError::OpportunityClosed {
        outcome: Outcome::Lost,
    };
    given()
        .when(OpportunityCommand::ChangeStage { to: stage("Bid") })
        .then_err(refused.clone());
    given()
        .when(OpportunityCommand::LogFollowUp(follow_up(
            vec![contact(1)],
            0,
        )))
        .then_err(refused.clone());
    given()
        .when(OpportunityCommand::SubmitBid(BidSubmitted {
            amount: usd(1),
            submitted_on: date("2024-01-01"),
            competitors: vec![],
        }))
        .then_err(refused.clone());
    given()
        .when(OpportunityCommand::ReviseForecast {
            amount: Some(usd(5)),
            expected_close: None,
        })
        .then_err(refused.clone());
    given()
        .when(OpportunityCommand::Close {
            outcome: Outcome::Won,
            final_amount: None,
            winning_competitor: None,
            reason: None,
        })
        .then_err(refused);
}

#[test]
fn follow_ups_name_registered_contacts_or_count_unregistered_ones() {
    let ok = follow_up(vec![contact(1), contact(2)], 1);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::LogFollowUp(ok.clone()))
        .then(vec![OpportunityEvent::FollowUpLogged(ok)]);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::LogFollowUp(follow_up(
            vec![contact(9)],
            0,
        )))
        .then_err(DomainError::UnknownContact {
            contact: contact(9),
        });
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::LogFollowUp(follow_up(vec![], 0)))
        .then_err(DomainError::NoParticipants);
}

#[test]
fn engaged_contacts_belong_to_the_account_and_are_still_there() {
    let engage = ContactEngaged {
        contact: contact(1),
        role: BuyingRole::DecisionMaker,
    };
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::EngageContact(engage.clone()))
        .then(vec![OpportunityEvent::ContactEngaged(engage)]);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::EngageContact(ContactEngaged {
            contact: contact(3),
            role: BuyingRole::User,
        }))
        .then_err(DomainError::UnknownContact {
            contact: contact(3),
        });
    let mut departed = account();
    departed.push(AccountEvent::ContactLeft(
        dealtrail_domain::account::ContactLeft {
            contact: contact(2),
            reason: None,
        },
    ));
    given_deal(&departed, &[opened()])
        .when(OpportunityCommand::EngageContact(ContactEngaged {
            contact: contact(2),
            role: BuyingRole::User,
        }))
        .then_err(DomainError::ContactLeft {
            contact: contact(2),
        });
}

#[test]
fn cross_functional_records_come_from_their_own_function_even_after_close() {
    let demo = CrossFunctionalRecordAdded {
        function: Function::Engineering,
        kind: RecordKind::Demo,
        assessment: Assessment::Positive,
        satisfaction: None,
        summary: text("demo of failover"),
    };
    given_deal(&account(), &[opened(), closed(Outcome::Won)])
        .when(OpportunityCommand::AddCrossFunctionalRecord(demo.clone()))
        .then(vec![OpportunityEvent::CrossFunctionalRecordAdded(
            demo.clone(),
        )]);
    let by_sales = CrossFunctionalRecordAdded {
        function: Function::Sales,
        ..demo
    };
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::AddCrossFunctionalRecord(by_sales))
        .then_err(DomainError::RecordKindNotForFunction {
            kind: RecordKind::Demo,
            expected: Function::Engineering,
            found: Function::Sales,
        });
}

#[test]
fn forecast_revisions_record_the_slip_and_keep_the_currency() {
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ReviseForecast {
            amount: Some(usd(200_000)),
            expected_close: Some(date("2024-09-30")),
        })
        .then(vec![OpportunityEvent::ForecastRevised(ForecastRevised {
            amount: None,
            expected_close: Some(date("2024-09-30")),
            previous_close: date("2024-06-30"),
        })]);
    let eur = Money::from_minor(1, Currency::parse("EUR").unwrap()).unwrap();
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ReviseForecast {
            amount: Some(eur),
            expected_close: None,
        })
        .then_err(DomainError::CurrencyMismatch {
            expected: Currency::USD,
            found: eur.currency(),
        });
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ReviseForecast {
            amount: None,
            expected_close: Some(date("2024-06-30")),
        })
        .then_err(DomainError::NothingChanged);
}

#[test]
fn bids_are_recorded_with_competitors() {
    let bid = BidSubmitted {
        amount: usd(190_000),
        submitted_on: date("2024-05-01"),
        competitors: vec![label("Initech")],
    };
    given_deal(&account(), &[opened(), moved("Lead", "Bid")])
        .when(OpportunityCommand::SubmitBid(bid.clone()))
        .then(vec![OpportunityEvent::BidSubmitted(bid)]);
}

#[test]
fn winning_without_a_final_amount_books_the_estimate_and_the_stage() {
    given_deal(&account(), &[opened(), moved("Lead", "Negotiation")])
        .when(OpportunityCommand::Close {
            outcome: Outcome::Won,
            final_amount: None,
            winning_competitor: None,
            reason: None,
        })
        .then(vec![OpportunityEvent::OpportunityClosed(
            OpportunityClosed {
                outcome: Outcome::Won,
                stage: stage("Negotiation"),
                final_amount: Some(usd(200_000)),
                winning_competitor: None,
                stated_reason: None,
            },
        )]);
}

#[test]
fn outcomes_must_be_offered_by_the_pipeline() {
    let strict = Pipeline::new(vec![stage("Lead")], vec![Outcome::Won, Outcome::Lost]).unwrap();
    given_deal(&account(), &[opened()])
        .with_pipeline(strict)
        .when(OpportunityCommand::Close {
            outcome: Outcome::Withdrawn,
            final_amount: None,
            winning_competitor: None,
            reason: None,
        })
        .then_err(DomainError::UnknownOutcome {
            outcome: Outcome::Withdrawn,
        });
}

#[test]
fn only_closed_deals_reopen_and_only_at_known_stages() {
    let back = OpportunityReopened {
        stage: stage("Negotiation"),
        reason: Some(text("budget freed up")),
    };
    given_deal(&account(), &[opened(), closed(Outcome::NoDecision)])
        .when(OpportunityCommand::Reopen(back.clone()))
        .then(vec![OpportunityEvent::OpportunityReopened(back.clone())]);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::Reopen(back))
        .then_err(DomainError::OpportunityNotClosed);
    given_deal(&account(), &[opened(), closed(Outcome::Lost)])
        .when(OpportunityCommand::Reopen(OpportunityReopened {
            stage: stage("Heaven"),
            reason: None,
        }))
        .then_err(DomainError::UnknownStage {
            stage: stage("Heaven"),
        });
}

#[test]
fn reopened_deal_accepts_stage_changes_again() {
    let reopened = OpportunityEvent::OpportunityReopened(OpportunityReopened {
        stage: stage("Bid"),
        reason: None,
    });
    given_deal(&account(), &[opened(), closed(Outcome::Lost), reopened])
        .when(OpportunityCommand::ChangeStage {
            to: stage("Negotiation"),
        })
        .then(vec![moved("Bid", "Negotiation")]);
}

#[test]
fn reassignment_names_both_owners() {
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ReassignOwner { to: user("bob") })
        .then(vec![OpportunityEvent::OwnerReassigned(OwnerReassigned {
            from: user("anna"),
            to: user("bob"),
        })]);
    given_deal(&account(), &[opened()])
        .when(OpportunityCommand::ReassignOwner { to: user("anna") })
        .then_err(DomainError::SameOwner {
            owner: "anna".into(),
        });
}

#[test]
fn business_time_may_not_precede_the_opening() {
    let mut early = ctx();
    early.occurred_at = Timestamp(T0.0 - Timestamp::DAY);
    given_deal(&account(), &[opened()])
        .when_at(
            early.clone(),
            OpportunityCommand::ChangeStage { to: stage("Bid") },
        )
        .then_err(DomainError::OccurredBeforeStart {
            occurred_at: early.occurred_at,
            start: T0,
        });
}

#[test]
fn follow_ups_can_be_retracted_but_stage_changes_cannot() {
    // Seq 1 opened, 2 stage change, 3 follow-up.
    let given = || {
        given_deal(
            &account(),
            &[
                opened(),
                moved("Lead", "Qualified"),
                OpportunityEvent::FollowUpLogged(follow_up(vec![contact(1)], 0)),
            ],
        )
    };
    let retract = Correction {
        target_seq: 3,
        replacement: None,
        reason: text("logged on the wrong deal"),
    };
    given()
        .when(OpportunityCommand::Correct(retract.clone()))
        .then(vec![OpportunityEvent::OpportunityEventCorrected(retract)]);
    given()
        .when(OpportunityCommand::Correct(Correction {
            target_seq: 2,
            replacement: None,
            reason: text("no"),
        }))
        .then_err(DomainError::UnknownEvent { seq: 2 });
    let bad_amendment = Correction {
        target_seq: 3,
        replacement: Some(Box::new(OpportunityEvent::FollowUpLogged(follow_up(
            vec![contact(42)],
            0,
        )))),
        reason: text("fix contacts"),
    };
    given()
        .when(OpportunityCommand::Correct(bad_amendment))
        .then_err(DomainError::UnknownContact {
            contact: contact(42),
        });
}
