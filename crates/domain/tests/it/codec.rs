//! Payload codec: every event round-trips, types are stable, old versions are upgraded.

use dealtrail_domain::opportunity::FollowUpLogged;
use dealtrail_domain::upgrade::FollowUpLoggedV1;
use dealtrail_domain::*;
use uuid::Uuid;

use super::*;

#[test]
fn follow_up_logged_v1_is_upgraded_on_read() {
    let v1 = FollowUpLoggedV1 {
        channel: Channel::Call,
        contact: Some(contact(3)),
        summary: text("called the CIO"),
        next_step: Some(text("send the quote")),
    };
    let bytes = rmp_serde::to_vec_named(&v1).unwrap();
    let stream = format!("opportunity-{}", Uuid::from_u128(1));
    let event = Event::decode(&stream, "FollowUpLogged", 1, &bytes).unwrap();
    let Event::Opportunity(_, OpportunityEvent::FollowUpLogged(e)) = event else {
        panic!("decoded as {event:?}")
    };
    assert_eq!(
        e,
        FollowUpLogged {
            channel: Channel::Call,
            contacts: vec![contact(3)],
            unregistered_participants: 0,
            function: Function::Sales,
            summary: text("called the CIO"),
            next_step: Some(text("send the quote")),
            next_step_due: None,
            unregistered_names: Vec::new(),
        }
    );
    // A v1 record with nobody registered still met someone.
    let anonymous = FollowUpLoggedV1 {
        contact: None,
        ..v1
    };
    let bytes = rmp_serde::to_vec_named(&anonymous).unwrap();
    let Event::Opportunity(_, OpportunityEvent::FollowUpLogged(e)) =
        Event::decode(&stream, "FollowUpLogged", 1, &bytes).unwrap()
    else {
        panic!()
    };
    assert_eq!((e.contacts.len(), e.unregistered_participants), (0, 1));
}

#[test]
fn current_follow_up_is_version_2_and_round_trips() {
    let e = OpportunityEvent::FollowUpLogged(FollowUpLogged {
        channel: Channel::Visit,
        contacts: vec![contact(1)],
        unregistered_participants: 2,
        function: Function::Presales,
        summary: text("site survey"),
        next_step: None,
        next_step_due: None,
        unregistered_names: Vec::new(),
    });
    assert_eq!(e.schema_version(), 2);
    let back = OpportunityEvent::decode("x", e.event_type(), 2, &e.encode()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn unknown_types_versions_and_streams_are_typed_errors() {
    let stream = format!("account-{}", Uuid::from_u128(1));
    assert!(matches!(
        Event::decode(&stream, "Teleported", 1, &[]),
        Err(DecodeError::UnknownType { .. })
    ));
    assert!(matches!(
        Event::decode(&stream, "AccountRegistered", 9, &[]),
        Err(DecodeError::UnknownVersion { version: 9, .. })
    ));
    assert!(matches!(
        Event::decode(&stream, "AccountRegistered", 1, &[0xc1]),
        Err(DecodeError::Malformed { .. })
    ));
    assert!(matches!(
        Event::decode("elsewhere", "AccountRegistered", 1, &[]),
        Err(DecodeError::UnknownStream(_))
    ));
}

#[test]
fn invalid_values_in_a_payload_are_refused_on_read() {
    // A negative amount cannot exist, not even by decoding it.
    #[derive(serde::Serialize)]
    struct Raw {
        minor: i64,
        currency: &'static str,
    }
    let bytes = rmp_serde::to_vec_named(&Raw {
        minor: -5,
        currency: "USD",
    })
    .unwrap();
    assert!(rmp_serde::from_slice::<Money>(&bytes).is_err());
}

#[test]
fn type_names_are_unique_and_stable() {
    let mut names: Vec<&str> = AccountEvent::TYPES
        .iter()
        .chain(OpportunityEvent::TYPES)
        .chain(PipelineEvent::TYPES)
        .map(|(n, _)| *n)
        .collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
    // These names are stored in every envelope: renaming one orphans the old events.
    assert!(names.contains(&"StageChanged"));
    assert!(names.contains(&"OpportunityClosed"));
}

#[test]
fn company_wide_events_are_read_only_from_their_own_stream() {
    let rate = PipelineEvent::ExchangeRateRecorded(ExchangeRate {
        from: Currency::parse("EUR").unwrap(),
        to: Currency::USD,
        rate: Rate::parse("1.1").unwrap(),
        date: Date::parse("2024-01-01").unwrap(),
        source: Label::parse("ECB").unwrap(),
    });
    let event = Event::Pipeline(rate.clone());
    assert_eq!(event.stream().to_string(), "exchange-rates");
    let bytes = rate.encode();
    let read = Event::decode("exchange-rates", "ExchangeRateRecorded", 1, &bytes).unwrap();
    assert_eq!(read, event);
    assert!(matches!(
        Event::decode("pipeline", "ExchangeRateRecorded", 1, &bytes),
        Err(DecodeError::UnknownType { .. })
    ));
    let defined = PipelineEvent::PipelineDefined(Pipeline::default_b2b()).encode();
    assert!(matches!(
        Event::decode("exchange-rates", "PipelineDefined", 1, &defined),
        Err(DecodeError::UnknownType { .. })
    ));
}
