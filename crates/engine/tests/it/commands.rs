//! The command path: decide on the stored state, append with the version read.

use dealtrail_domain::*;
use dealtrail_engine::{Command, EngineError, Issued};
use dealtrail_funnel::{Cut, DealFilter, DealSort};
use dealtrail_store::ExpectedVersion;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_decided_on_stored_state_and_visible_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let opened = engine.execute(rep(), open(1, 50_000)).await.unwrap();
    assert_eq!(opened.events.len(), 1);
    assert_eq!(opened.receipt.first_version, 1);
    let moved = engine.execute(rep(), move_to(1, "Solution")).await.unwrap();
    let Event::Opportunity(_, opportunity::OpportunityEvent::StageChanged(change)) =
        &moved.events[0].event
    else {
        panic!("{:?}", moved.events)
    };
    assert_eq!(change.movement, Movement::Skip { skipped: 1 });
    assert_eq!(moved.events[0].actor.as_str(), "anna");
    // Read-your-writes: the list already shows the move.
    let rows = engine
        .sales()
        .read(|m| m.list(&DealFilter::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].stage.as_str(), "Solution");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_violations_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let head = engine.store().head().seq;
    let err = engine.execute(rep(), move_to(7, "Bid")).await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Rejected(DomainError::OpportunityNotOpened)
        ),
        "{err}"
    );
    engine.execute(rep(), open(1, 10)).await.unwrap();
    let err = engine
        .execute(rep(), move_to(1, "Heaven"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Rejected(DomainError::UnknownStage { .. })),
        "{err}"
    );
    assert_eq!(engine.store().head().seq, head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_expected_version_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    engine.execute(rep(), open(1, 10)).await.unwrap();
    engine.execute(rep(), follow_up(1)).await.unwrap();
    let stale = Issued {
        expected: Some(ExpectedVersion::Exact(1)),
        ..rep()
    };
    let err = engine.execute(stale, follow_up(1)).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Conflict { actual: 2, .. }),
        "{err}"
    );
    let fresh = Issued {
        expected: Some(ExpectedVersion::Exact(2)),
        ..rep()
    };
    engine.execute(fresh, follow_up(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_key_returns_the_first_result() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let keyed = || Issued {
        idempotency_key: Some("open-1".into()),
        ..rep()
    };
    let first = engine.execute(keyed(), open(1, 10)).await.unwrap();
    // Deciding again would fail (already opened); the retry is answered from the log.
    let again = engine.execute(keyed(), open(1, 10)).await.unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.receipt, first.receipt);
    assert_eq!(again.events, first.events);
    let elsewhere = engine.execute(keyed(), open(2, 10)).await.unwrap_err();
    assert!(
        matches!(elsewhere, EngineError::IdempotencyKeyReused { .. }),
        "{elsewhere}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_deal_are_all_applied_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let engine = std::sync::Arc::new(engine(dir.path(), 1000));
    setup(&engine).await;
    engine.execute(rep(), open(1, 10)).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    engine.execute(rep(), follow_up(1)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stream = dealtrail_store::StreamId::parse(format!("opportunity-{}", deal(1))).unwrap();
    assert_eq!(engine.store().stream_version(&stream).unwrap(), 21);
    let rows = engine
        .sales()
        .read(|m| m.list(&DealFilter::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(rows[0].follow_ups, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_decided_step_by_step_and_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let head = engine.store().head().seq;
    let bad = vec![
        (None, open(1, 10)),
        (None, move_to(1, "Solution")),
        (None, move_to(1, "Heaven")),
    ];
    let err = engine.execute_batch(rep(), bad).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Rejected(DomainError::UnknownStage { .. })),
        "{err}"
    );
    assert_eq!(
        engine.store().head().seq,
        head,
        "nothing of the batch was written"
    );
    let good = vec![
        (None, open(1, 10)),
        (None, move_to(1, "Solution")),
        (None, follow_up(1)),
    ];
    let done = engine.execute_batch(rep(), good).await.unwrap();
    assert_eq!(
        (done.receipt.first_version, done.receipt.last_version),
        (1, 3)
    );
    let mixed = vec![(None, follow_up(1)), (None, open(2, 10))];
    assert!(matches!(
        engine.execute_batch(rep(), mixed).await.unwrap_err(),
        EngineError::MixedStreams
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_sees_account_changes_made_after_it_last_read_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    engine.execute(rep(), open(1, 10)).await.unwrap();
    let newcomer = ContactId(uuid::Uuid::from_u128(77));
    let engage = Command::Opportunity(
        deal(1),
        OpportunityCommand::EngageContact(dealtrail_domain::opportunity::ContactEngaged {
            contact: newcomer,
            role: BuyingRole::Influencer,
        }),
    );
    let err = engine.execute(rep(), engage.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Rejected(DomainError::UnknownContact { .. })
        ),
        "{err}"
    );
    engine
        .execute(
            rep(),
            Command::Account(
                ACCOUNT,
                AccountCommand::RegisterContact(dealtrail_domain::account::ContactRegistered {
                    contact: newcomer,
                    name: Name::parse("New Person").unwrap(),
                    title: None,
                    org_unit: None,
                    role: BuyingRole::Influencer,
                    seniority: Seniority::Staff,
                    email: None,
                    phone: None,
                }),
            ),
        )
        .await
        .unwrap();
    engine.execute(rep(), engage).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_rates_have_a_stream_of_their_own_and_a_same_rate_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let (pipeline_version, _) = engine.pipeline_state().unwrap();
    let rate = |r: &str| {
        Command::RecordExchangeRate(ExchangeRate {
            from: Currency::parse("EUR").unwrap(),
            to: Currency::USD,
            rate: Rate::parse(r).unwrap(),
            date: Date::parse("2024-01-01").unwrap(),
            source: Label::parse("ECB").unwrap(),
        })
    };
    let recorded = engine.execute(rep(), rate("1.10")).await.unwrap();
    assert_eq!(
        engine
            .store()
            .read_all(recorded.receipt.last_seq, 1)
            .unwrap()[0]
            .stream
            .as_str(),
        "exchange-rates"
    );
    // The pipeline, which every deal command reads, did not grow.
    assert_eq!(engine.pipeline_state().unwrap().0, pipeline_version);
    let err = engine.execute(rep(), rate("1.10")).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Rejected(DomainError::NothingChanged)),
        "{err}"
    );
    // Another rate for the same day corrects it.
    engine.execute(rep(), rate("1.12")).await.unwrap();
    let err = engine
        .execute_batch(
            rep(),
            vec![
                (None, rate("1.2")),
                (
                    None,
                    Command::DefinePipeline {
                        stages: Pipeline::default_b2b().stages,
                        outcomes: Outcome::ALL.to_vec(),
                        gates: Vec::new(),
                    },
                ),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::MixedStreams), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_run_together_are_each_decided_by_the_rules_and_answered_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), 1000);
    setup(&engine).await;
    let head = engine.store().head().seq;
    let keyed = Issued {
        idempotency_key: Some("bulk-1".into()),
        ..rep()
    };
    let answers = engine
        .execute_many(vec![
            (rep(), vec![(None, open(1, 100))]),
            // Refused by the rules: nothing of it is written, the others go on.
            (rep(), vec![(None, move_to(2, "Bid"))]),
            (rep(), vec![(None, open(3, 300))]),
            // The same stream again: it runs after the first and sees its event.
            (rep(), vec![(None, move_to(1, "Solution"))]),
            // A key is kept, as on the one-by-one path.
            (keyed.clone(), vec![(None, open(4, 400))]),
        ])
        .await;
    assert_eq!(answers.len(), 5);
    let version = |i: usize| answers[i].as_ref().map(|c| c.receipt.last_version).ok();
    assert_eq!(version(0), Some(1));
    assert!(
        matches!(
            answers[1],
            Err(EngineError::Rejected(DomainError::OpportunityNotOpened))
        ),
        "{:?}",
        answers[1].as_ref().err()
    );
    assert_eq!(version(2), Some(1));
    assert_eq!(version(3), Some(2), "decided on the first unit's event");
    assert_eq!(version(4), Some(1));
    assert_eq!(engine.store().head().seq, head + 4);
    let again = engine
        .execute_many(vec![
            (keyed.clone(), vec![(None, open(4, 400))]),
            // The same key for another deal: refused, nothing written.
            (keyed, vec![(None, open(5, 500))]),
        ])
        .await;
    assert!(
        again[0].as_ref().is_ok_and(|c| c.replayed),
        "the key was kept"
    );
    assert!(
        matches!(again[1], Err(EngineError::IdempotencyKeyReused { .. })),
        "{:?}",
        again[1].as_ref().err()
    );
    assert_eq!(engine.store().head().seq, head + 4);
    // Read-your-writes for the whole call.
    let rows = engine
        .sales()
        .read(|m| m.list(&DealFilter::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(rows.len(), 3);
}
