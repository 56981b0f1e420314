//! Erasure on the command path: keys destroyed before the record is written, and refused
//! for personal data an older build wrote in plaintext.

use dealtrail_domain::account::{ContactErased, ContactRegistered};
use dealtrail_domain::*;
use dealtrail_engine::{Command, EngineError};
use dealtrail_store::{AppendRequest, ExpectedVersion, NewEvent};
use uuid::Uuid;

use super::*;

fn erase(contact: u128) -> Command {
    Command::Account(
        ACCOUNT,
        AccountCommand::EraseContact(ContactErased {
            contact: ContactId(Uuid::from_u128(contact)),
            reason: None,
        }),
    )
}

fn contact_of(
    engine: &dealtrail_engine::Engine,
    contact: u128,
) -> dealtrail_domain::account::ContactState {
    engine
        .account_at(ACCOUNT, u64::MAX, Timestamp(i64::MAX))
        .unwrap()
        .unwrap()
        .contacts[&ContactId(Uuid::from_u128(contact))]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_contact_reads_as_erased_and_cannot_be_erased_or_updated_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1_000);
    setup(&engine).await;
    assert_eq!(contact_of(&engine, 9).details.name.as_str(), "Dana");
    engine.execute(rep(), erase(9)).await.unwrap();
    let erased = contact_of(&engine, 9);
    assert!(erased.erased);
    assert_eq!(erased.details.name.as_str(), "(erased)");
    assert!(matches!(
        engine.execute(rep(), erase(9)).await,
        Err(EngineError::Rejected(DomainError::ContactErased { .. }))
    ));
    engine.shutdown().await.unwrap();
    drop(engine);
    // Folded again from the log after a restart: still erased, the chain unchanged.
    let engine = super::engine(dir.path(), 1_000);
    let replayed = engine
        .store()
        .read_stream(
            &dealtrail_engine::stream_id(StreamName::Account(ACCOUNT)),
            1,
            dealtrail_store::Direction::Forward,
            100,
        )
        .unwrap();
    let registered = replayed
        .iter()
        .find(|e| e.event_type == "ContactRegistered")
        .unwrap();
    let decoded = dealtrail_engine::decode(registered, engine.store().vault()).unwrap();
    let Event::Account(_, AccountEvent::ContactRegistered(c)) = decoded.event else {
        panic!("{decoded:?}")
    };
    assert_eq!(c.name.as_str(), "(erased)");
    assert!(engine.store().verify().unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_written_by_an_older_build_is_not_erasable_and_says_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1_000);
    setup(&engine).await;
    // A contact as the first builds wrote it: schema version 1, the name in the payload.
    let old = Event::Account(
        ACCOUNT,
        AccountEvent::ContactRegistered(ContactRegistered {
            contact: ContactId(Uuid::from_u128(10)),
            name: Name::parse("Old Plaintext").unwrap(),
            title: None,
            org_unit: None,
            role: BuyingRole::User,
            seniority: Seniority::Staff,
            email: None,
            phone: None,
        }),
    );
    let stream = dealtrail_engine::stream_id(StreamName::Account(ACCOUNT));
    let request = AppendRequest::new(
        stream,
        ExpectedVersion::Any,
        "anna",
        vec![NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "ContactRegistered".into(),
            schema_version: 1,
            occurred_at: dealtrail_store::Timestamp(dealtrail_engine::now().0),
            payload: old.encode(),
            causation_id: None,
        }],
    )
    .unwrap();
    let seq = match engine.store().append(request).await.unwrap() {
        dealtrail_store::AppendOutcome::Committed(r) => r.first_seq,
        other => panic!("{other:?}"),
    };
    let head = engine.store().head().seq;
    match engine.execute(rep(), erase(10)).await {
        Err(EngineError::ErasureImpossible { seqs, .. }) => assert_eq!(seqs, vec![seq]),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.store().head().seq, head, "nothing written");
    assert_eq!(
        contact_of(&engine, 10).details.name.as_str(),
        "Old Plaintext"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_without_its_key_file_reads_personal_data_as_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1_000);
    setup(&engine).await;
    engine.shutdown().await.unwrap();
    drop(engine);
    // As a restore of the events without `import keys` leaves it.
    std::fs::remove_file(dir.path().join(dealtrail_store::vault::VAULT_FILE)).unwrap();
    let engine = super::engine(dir.path(), 1_000);
    let dana = contact_of(&engine, 9);
    assert_eq!(dana.details.name.as_str(), "(sealed)");
    assert!(!dana.erased);
    assert!(engine.store().verify().unwrap().is_intact());
}
