//! Given/when/then tests of the Account aggregate.

use dealtrail_domain::account::*;
use dealtrail_domain::*;

use super::*;

#[test]
fn registering_a_new_account_records_it() {
    let AccountEvent::AccountRegistered(e) = registered() else {
        unreachable!()
    };
    given_account(&[])
        .when(AccountCommand::Register(e))
        .then(vec![registered()]);
}

#[test]
fn registering_twice_is_refused() {
    let AccountEvent::AccountRegistered(e) = registered() else {
        unreachable!()
    };
    given_account(&[registered()])
        .when(AccountCommand::Register(e))
        .then_err(DomainError::AccountAlreadyRegistered);
}

#[test]
fn commands_on_unregistered_account_are_refused() {
    given_account(&[])
        .when(AccountCommand::AssignOwner { owner: user("bob") })
        .then_err(DomainError::AccountNotRegistered);
}

#[test]
fn profile_update_records_only_changed_fields() {
    let update = AccountProfileUpdated {
        name: Some(name("Acme Corporation")),
        employees: Some(3000),
        region: Some(label("United States")),
        ..Default::default()
    };
    given_account(&[registered()])
        .when(AccountCommand::UpdateProfile(update))
        .then(vec![AccountEvent::AccountProfileUpdated(
            AccountProfileUpdated {
                employees: Some(3000),
                ..Default::default()
            },
        )]);
}

#[test]
fn profile_update_that_changes_nothing_is_refused() {
    let update = AccountProfileUpdated {
        employees: Some(2822),
        ..Default::default()
    };
    given_account(&[registered()])
        .when(AccountCommand::UpdateProfile(update))
        .then_err(DomainError::NothingChanged);
}

#[test]
fn org_units_form_a_tree_of_known_units() {
    let child = OrgUnitAdded {
        org_unit: unit(2),
        name: name("Data centre"),
        parent: Some(unit(1)),
        needs: Some(text("more storage")),
    };
    given_account(&[registered(), org_unit_added(1)])
        .when(AccountCommand::AddOrgUnit(child.clone()))
        .then(vec![AccountEvent::OrgUnitAdded(child.clone())]);
    given_account(&[registered()])
        .when(AccountCommand::AddOrgUnit(child))
        .then_err(DomainError::UnknownOrgUnit { org_unit: unit(1) });
}

#[test]
fn org_unit_ids_are_unique() {
    let AccountEvent::OrgUnitAdded(again) = org_unit_added(1) else {
        unreachable!()
    };
    given_account(&[registered(), org_unit_added(1)])
        .when(AccountCommand::AddOrgUnit(again))
        .then_err(DomainError::OrgUnitAlreadyExists { org_unit: unit(1) });
}

#[test]
fn business_indicators_need_a_figure() {
    let empty = BusinessIndicatorRecorded {
        period: Period::Year(2024),
        revenue: None,
        headcount: None,
        note: None,
        source: None,
    };
    given_account(&[registered()])
        .when(AccountCommand::RecordBusinessIndicator(empty.clone()))
        .then_err(DomainError::NothingChanged);
    let figures = BusinessIndicatorRecorded {
        revenue: Some(usd(2_000_000)),
        headcount: Some(4000),
        ..empty
    };
    given_account(&[registered()])
        .when(AccountCommand::RecordBusinessIndicator(figures.clone()))
        .then(vec![AccountEvent::BusinessIndicatorRecorded(figures)]);
}

#[test]
fn contacts_are_registered_once_in_known_units() {
    let AccountEvent::ContactRegistered(mut c) = contact_registered(1, BuyingRole::DecisionMaker)
    else {
        unreachable!()
    };
    given_account(&[registered()])
        .when(AccountCommand::RegisterContact(c.clone()))
        .then(vec![AccountEvent::ContactRegistered(c.clone())]);
    given_account(&[registered(), contact_registered(1, BuyingRole::User)])
        .when(AccountCommand::RegisterContact(c.clone()))
        .then_err(DomainError::ContactAlreadyRegistered {
            contact: contact(1),
        });
    c.org_unit = Some(unit(9));
    given_account(&[registered()])
        .when(AccountCommand::RegisterContact(c))
        .then_err(DomainError::UnknownOrgUnit { org_unit: unit(9) });
}

#[test]
fn contact_update_records_changes_and_refuses_unknown_or_departed_contacts() {
    let update = ContactUpdated {
        contact: contact(1),
        title: Some(label("CIO")),
        org_unit: None,
        role: Some(BuyingRole::User),
        seniority: Some(Seniority::Executive),
        email: None,
        phone: None,
    };
    let expected = ContactUpdated {
        role: None,
        ..update.clone()
    };
    given_account(&[registered(), contact_registered(1, BuyingRole::User)])
        .when(AccountCommand::UpdateContact(update.clone()))
        .then(vec![AccountEvent::ContactUpdated(expected)]);
    given_account(&[registered()])
        .when(AccountCommand::UpdateContact(update.clone()))
        .then_err(DomainError::UnknownContact {
            contact: contact(1),
        });
    let left = AccountEvent::ContactLeft(ContactLeft {
        contact: contact(1),
        reason: None,
    });
    given_account(&[registered(), contact_registered(1, BuyingRole::User), left])
        .when(AccountCommand::UpdateContact(update))
        .then_err(DomainError::ContactLeft {
            contact: contact(1),
        });
}

#[test]
fn contact_update_without_change_is_refused() {
    let same = ContactUpdated {
        contact: contact(1),
        title: None,
        org_unit: None,
        role: Some(BuyingRole::User),
        seniority: None,
        email: None,
        phone: None,
    };
    given_account(&[registered(), contact_registered(1, BuyingRole::User)])
        .when(AccountCommand::UpdateContact(same))
        .then_err(DomainError::NothingChanged);
}

#[test]
fn a_contact_can_leave_once() {
    let left = ContactLeft {
        contact: contact(1),
        reason: Some(text("joined a competitor")),
    };
    given_account(&[registered(), contact_registered(1, BuyingRole::User)])
        .when(AccountCommand::RecordContactLeft(left.clone()))
        .then(vec![AccountEvent::ContactLeft(left.clone())]);
    given_account(&[
        registered(),
        contact_registered(1, BuyingRole::User),
        AccountEvent::ContactLeft(left.clone()),
    ])
    .when(AccountCommand::RecordContactLeft(left))
    .then_err(DomainError::ContactLeft {
        contact: contact(1),
    });
}

#[test]
fn owner_assignment_remembers_the_previous_owner() {
    let first = AccountEvent::AccountOwnerAssigned(AccountOwnerAssigned {
        owner: user("anna"),
        previous: None,
    });
    given_account(&[registered(), first.clone()])
        .when(AccountCommand::AssignOwner { owner: user("bob") })
        .then(vec![AccountEvent::AccountOwnerAssigned(
            AccountOwnerAssigned {
                owner: user("bob"),
                previous: Some(user("anna")),
            },
        )]);
    given_account(&[registered(), first])
        .when(AccountCommand::AssignOwner {
            owner: user("anna"),
        })
        .then_err(DomainError::SameOwner {
            owner: "anna".into(),
        });
}

#[test]
fn purchases_and_service_interactions_are_recorded() {
    let purchase = PurchaseRecorded {
        product: label("GTX Pro"),
        quantity: 40,
        unit: Unit::Server,
        amount: usd(192_840),
        purchased_on: date("2024-05-02"),
        opportunity: None,
    };
    given_account(&[registered()])
        .when(AccountCommand::RecordPurchase(purchase.clone()))
        .then(vec![AccountEvent::PurchaseRecorded(purchase)]);
    let service = ServiceInteractionRecorded {
        kind: ServiceKind::SatisfactionCheck,
        satisfaction: Some(Satisfaction::parse(2).unwrap()),
        summary: text("slow responses"),
    };
    given_account(&[registered()])
        .when(AccountCommand::RecordServiceInteraction(service.clone()))
        .then(vec![AccountEvent::ServiceInteractionRecorded(service)]);
}

#[test]
fn business_time_may_not_precede_registration_or_lie_in_the_future() {
    let mut early = ctx();
    early.occurred_at = Timestamp(T0.0 - 1);
    given_account(&[registered()])
        .when_at(
            early.clone(),
            AccountCommand::AssignOwner { owner: user("bob") },
        )
        .then_err(DomainError::OccurredBeforeStart {
            occurred_at: early.occurred_at,
            start: T0,
        });
    let mut future = ctx();
    future.occurred_at = Timestamp(future.now.0 + FUTURE_TOLERANCE_MICROS + 1);
    given_account(&[registered()])
        .when_at(
            future.clone(),
            AccountCommand::AssignOwner { owner: user("bob") },
        )
        .then_err(DomainError::OccurredInFuture {
            occurred_at: future.occurred_at,
            now: future.now,
        });
    let mut slightly_ahead = ctx();
    slightly_ahead.occurred_at = Timestamp(slightly_ahead.now.0 + FUTURE_TOLERANCE_MICROS);
    assert_eq!(
        given_account(&[registered()])
            .when_at(
                slightly_ahead,
                AccountCommand::AssignOwner { owner: user("bob") }
            )
            .events()
            .len(),
        1
    );
}

fn indicator() -> AccountEvent {
    AccountEvent::BusinessIndicatorRecorded(BusinessIndicatorRecorded {
        period: Period::Year(2023),
        revenue: Some(usd(1_000)),
        headcount: None,
        note: None,
        source: None,
    })
}

#[test]
fn a_record_can_be_retracted_once() {
    // Seq 1 is the registration, seq 2 the indicator.
    let retract = Correction {
        target_seq: 2,
        replacement: None,
        reason: text("typo in revenue"),
    };
    given_account(&[registered(), indicator()])
        .when(AccountCommand::Correct(retract.clone()))
        .then(vec![AccountEvent::AccountEventCorrected(retract.clone())]);
    given_account(&[
        registered(),
        indicator(),
        AccountEvent::AccountEventCorrected(retract.clone()),
    ])
    .when(AccountCommand::Correct(retract))
    .then_err(DomainError::AlreadyRetracted { seq: 2 });
}

#[test]
fn state_changes_cannot_be_corrected_and_amendments_keep_their_type() {
    let not_a_record = Correction {
        target_seq: 1,
        replacement: None,
        reason: text("oops"),
    };
    given_account(&[registered(), indicator()])
        .when(AccountCommand::Correct(not_a_record))
        .then_err(DomainError::UnknownEvent { seq: 1 });
    let wrong_type = Correction {
        target_seq: 2,
        replacement: Some(Box::new(AccountEvent::ServiceInteractionRecorded(
            ServiceInteractionRecorded {
                kind: ServiceKind::Ticket,
                satisfaction: None,
                summary: text("x"),
            },
        ))),
        reason: text("oops"),
    };
    given_account(&[registered(), indicator()])
        .when(AccountCommand::Correct(wrong_type))
        .then_err(DomainError::AmendmentTypeMismatch {
            seq: 2,
            expected: "BusinessIndicatorRecorded",
            found: "ServiceInteractionRecorded",
        });
    let amend = Correction {
        target_seq: 2,
        replacement: Some(Box::new(indicator())),
        reason: text("restated"),
    };
    given_account(&[registered(), indicator()])
        .when(AccountCommand::Correct(amend.clone()))
        .then(vec![AccountEvent::AccountEventCorrected(amend)]);
}
