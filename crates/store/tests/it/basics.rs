//! Behaviour of single operations: appends, reads, errors, reopening, snapshots.

use dealtrail_store::{
    AppendOutcome, AppendRequest, ChainHash, Direction, ExpectedVersion, InvalidRequest, LogFilter,
    Store, StoreError, StreamId, Timestamp,
};

use super::{event, open, request, stepping_clock, stream};

#[test]
fn append_assigns_dense_sequence_and_versions_and_links_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store
        .append_blocking(request("a", ExpectedVersion::NoStream, &[1, 2]))
        .unwrap();
    let b = store
        .append_blocking(request("b", ExpectedVersion::Any, &[3]))
        .unwrap();
    let c = store
        .append_blocking(request("a", ExpectedVersion::Exact(2), &[4]))
        .unwrap();
    let receipts: Vec<_> = [a, b, c].iter().map(|o| o.receipt().unwrap()).collect();
    assert_eq!(
        receipts
            .iter()
            .map(|r| (r.first_seq, r.last_seq, r.first_version, r.last_version))
            .collect::<Vec<_>>(),
        vec![(1, 2, 1, 2), (3, 3, 1, 1), (4, 4, 3, 3)]
    );
    let all = store.read_all(1, 100).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].prev_hash, ChainHash::GENESIS);
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(store.head().seq, 4);
    assert_eq!(store.head().hash, all[3].hash);
    assert!(store.verify().unwrap().is_intact());
}

#[test]
fn conflict_reports_actual_version_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = store
        .append_blocking(request("a", ExpectedVersion::Any, &[1, 2, 3]))
        .unwrap();
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Exact(2)] {
        let outcome = store.append_blocking(request("a", expected, &[9])).unwrap();
        assert_eq!(
            outcome,
            AppendOutcome::Conflict {
                expected,
                actual: 3
            }
        );
    }
    let outcome = store
        .append_blocking(request("new", ExpectedVersion::Exact(1), &[9]))
        .unwrap();
    assert!(matches!(outcome, AppendOutcome::Conflict { actual: 0, .. }));
    assert_eq!(store.head().seq, 3);
    assert_eq!(store.stream_version(&stream("new")).unwrap(), 0);
}

#[test]
fn idempotent_retry_returns_original_receipt_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = open(dir.path());
        let req = request("a", ExpectedVersion::NoStream, &[1, 2])
            .with_idempotency_key("cmd-1")
            .unwrap();
        let first = store.append_blocking(req.clone()).unwrap();
        let again = store.append_blocking(req).unwrap();
        assert_eq!(again, AppendOutcome::Replayed(first.receipt().unwrap()));
        first.receipt().unwrap()
    };
    let store = open(dir.path());
    // Even with an expectation that would now conflict, the retry is recognised first.
    let retry = request("a", ExpectedVersion::NoStream, &[1, 2])
        .with_idempotency_key("cmd-1")
        .unwrap();
    assert_eq!(
        store.append_blocking(retry).unwrap(),
        AppendOutcome::Replayed(first)
    );
    let other_stream = request("b", ExpectedVersion::Any, &[1])
        .with_idempotency_key("cmd-1")
        .unwrap();
    assert_eq!(
        store.append_blocking(other_stream).unwrap(),
        AppendOutcome::IdempotencyKeyReused {
            original_stream: stream("a")
        }
    );
    assert_eq!(store.head().seq, 2);
    let hit = store
        .idempotent_receipt("tester", "cmd-1", None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (hit.stream, hit.receipt, hit.same_command),
        (stream("a"), first, true)
    );
    assert_eq!(
        store.idempotent_receipt("tester", "cmd-2", None).unwrap(),
        None
    );
    // Keys are each actor's own.
    assert_eq!(
        store
            .idempotent_receipt("someone-else", "cmd-1", None)
            .unwrap(),
        None
    );
}

#[test]
fn invalid_requests_are_refused_by_name() {
    assert_eq!(StreamId::parse(""), Err(InvalidRequest::EmptyStreamId));
    assert!(matches!(
        StreamId::parse("has space"),
        Err(InvalidRequest::StreamIdCharacters { .. })
    ));
    assert!(matches!(
        StreamId::parse("x".repeat(129)),
        Err(InvalidRequest::StreamIdTooLong { len: 129 })
    ));
    assert_eq!(
        AppendRequest::new(stream("a"), ExpectedVersion::Any, "me", vec![]),
        Err(InvalidRequest::NoEvents)
    );
    assert_eq!(
        AppendRequest::new(stream("a"), ExpectedVersion::Any, "", vec![event(1)]),
        Err(InvalidRequest::EmptyActor)
    );
    let mut bad = event(1);
    bad.event_type = String::new();
    assert!(matches!(
        AppendRequest::new(stream("a"), ExpectedVersion::Any, "me", vec![event(0), bad]),
        Err(InvalidRequest::EventType { index: 1, .. })
    ));
    let mut big = event(1);
    big.payload = vec![0; dealtrail_store::MAX_PAYLOAD_LEN + 1];
    assert!(matches!(
        AppendRequest::new(stream("a"), ExpectedVersion::Any, "me", vec![big]),
        Err(InvalidRequest::PayloadTooLarge { index: 0, .. })
    ));
    assert!(matches!(
        request("a", ExpectedVersion::Any, &[1]).with_idempotency_key(""),
        Err(InvalidRequest::IdempotencyKey { len: 0 })
    ));
}

#[test]
fn second_open_of_a_folder_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    match Store::open(crate::config(dir.path())) {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.path()),
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("expected Locked, got a second store"),
    }
    drop(store);
    open(dir.path());
}

#[test]
fn folder_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = super::raw_db(dir.path());
        let tree = db.open_tree("log").unwrap();
        tree.insert("Mformat", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    match Store::open(crate::config(dir.path())) {
        Err(StoreError::IncompatibleFormat { found, supported }) => {
            assert_eq!((found, supported), (99, dealtrail_store::FORMAT_VERSION));
        }
        Err(other) => panic!("expected IncompatibleFormat, got {other}"),
        Ok(_) => panic!("expected IncompatibleFormat, got a store"),
    }
}

#[test]
fn appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.close().unwrap();
    assert!(matches!(
        store.append_blocking(request("a", ExpectedVersion::Any, &[1])),
        Err(StoreError::Closed)
    ));
}

#[test]
fn streams_read_forwards_and_backwards_from_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..10u64 {
        let _ = store
            .append_blocking(request("s", ExpectedVersion::Any, &[i]))
            .unwrap();
        let _ = store
            .append_blocking(request("other", ExpectedVersion::Any, &[100 + i]))
            .unwrap();
    }
    let s = stream("s");
    let versions = |events: Vec<dealtrail_store::RecordedEvent>| {
        events.iter().map(|e| e.version).collect::<Vec<_>>()
    };
    assert_eq!(
        versions(store.read_stream(&s, 4, Direction::Forward, 3).unwrap()),
        vec![4, 5, 6]
    );
    assert_eq!(
        versions(store.read_stream(&s, 4, Direction::Backward, 10).unwrap()),
        vec![4, 3, 2, 1]
    );
    assert_eq!(
        versions(
            store
                .read_stream(&s, u64::MAX, Direction::Backward, 2)
                .unwrap()
        ),
        vec![10, 9]
    );
    assert!(
        store
            .read_stream(&stream("missing"), 1, Direction::Forward, 10)
            .unwrap()
            .is_empty()
    );
    let events = store.read_stream(&s, 1, Direction::Forward, 100).unwrap();
    assert!(events.iter().all(|e| e.stream == s));
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=19).step_by(2).collect::<Vec<_>>()
    );
}

#[test]
fn log_filters_by_type_actor_stream_and_recorded_time() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_700_000_000_000_000;
    let store = Store::open(crate::config(dir.path()).clock(stepping_clock(start))).unwrap();
    // One append per clock reading: seq n is recorded at start + (n-1) seconds.
    for n in 1..=20u64 {
        let name = if n % 3 == 0 { "three" } else { "rest" };
        let req = AppendRequest::new(
            stream(name),
            ExpectedVersion::Any,
            if n <= 10 { "early" } else { "late" },
            vec![event(n)],
        )
        .unwrap();
        let _ = store.append_blocking(req).unwrap();
    }
    let seqs = |f: &LogFilter, from: u64, limit: usize| {
        let page = store.read_log(f, from, limit).unwrap();
        (
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            page.next_seq,
        )
    };
    let by_type = LogFilter {
        event_types: ["Odd".to_string()].into(),
        ..Default::default()
    };
    assert_eq!(seqs(&by_type, 1, 3), (vec![1, 3, 5], Some(6)));
    let by_actor = LogFilter {
        actor: Some("late".into()),
        ..Default::default()
    };
    assert_eq!(seqs(&by_actor, 1, 100).0, (11..=20).collect::<Vec<_>>());
    let by_stream = LogFilter {
        stream: Some(stream("three")),
        ..Default::default()
    };
    assert_eq!(seqs(&by_stream, 4, 2), (vec![6, 9], Some(12)));
    let by_time = LogFilter {
        recorded_from: Some(Timestamp(start + 4_000_000)),
        recorded_until: Some(Timestamp(start + 7_000_000)),
        ..Default::default()
    };
    assert_eq!(seqs(&by_time, 1, 100), (vec![5, 6, 7], None));
    assert_eq!(store.seq_recorded_by(Timestamp(start - 1)).unwrap(), 0);
    assert_eq!(
        store.seq_recorded_by(Timestamp(start + 2_500_000)).unwrap(),
        3
    );
    assert_eq!(store.seq_recorded_by(Timestamp(i64::MAX)).unwrap(), 20);
}

#[test]
fn recorded_time_never_goes_backwards_even_if_the_clock_does() {
    let dir = tempfile::tempdir().unwrap();
    let readings = std::sync::Mutex::new(vec![50, 10, 70, 60].into_iter());
    let clock: dealtrail_store::Clock =
        std::sync::Arc::new(move || Timestamp(readings.lock().unwrap().next().unwrap_or(0)));
    let store = Store::open(crate::config(dir.path()).clock(clock)).unwrap();
    for n in 0..4 {
        let _ = store
            .append_blocking(request("a", ExpectedVersion::Any, &[n]))
            .unwrap();
    }
    let times: Vec<_> = store
        .read_all(1, 10)
        .unwrap()
        .iter()
        .map(|e| e.recorded_at.0)
        .collect();
    assert_eq!(times, vec![50, 50, 70, 70]);
}

#[test]
fn snapshots_keep_the_newest_and_load_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.load_snapshot("funnel", u64::MAX).unwrap(), None);
    for seq in [10u64, 20, 30, 40] {
        store
            .save_snapshot("funnel", seq, &seq.to_le_bytes(), 3)
            .unwrap();
    }
    store.save_snapshot("other", 35, b"x", 3).unwrap();
    let at = |n| store.load_snapshot("funnel", n).unwrap().map(|s| s.seq);
    assert_eq!(at(u64::MAX), Some(40));
    assert_eq!(at(39), Some(30));
    assert_eq!(at(19), None, "the oldest snapshot was pruned");
    assert_eq!(at(25), Some(20));
    store.save_checkpoint("funnel", 41).unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.load_checkpoint("funnel").unwrap(), Some(41));
    assert_eq!(
        store
            .load_snapshot("funnel", u64::MAX)
            .unwrap()
            .unwrap()
            .bytes,
        40u64.to_le_bytes()
    );
    store.drop_projection("funnel").unwrap();
    assert_eq!(store.load_checkpoint("funnel").unwrap(), None);
    assert_eq!(store.load_snapshot("funnel", u64::MAX).unwrap(), None);
    assert_eq!(
        store.load_snapshot("other", u64::MAX).unwrap().unwrap().seq,
        35
    );
    assert!(store.save_checkpoint("", 1).is_err());
}

#[test]
fn a_restored_copy_is_identical_down_to_the_hashes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let original = open(a.path());
    for i in 0..40u64 {
        let mut req = request(&format!("s{}", i % 5), ExpectedVersion::Any, &[i, i + 100]);
        if i % 3 == 0 {
            req = req.with_idempotency_key(format!("k{i}")).unwrap();
        }
        let _ = original.append_blocking(req).unwrap();
    }
    let events = original.read_all(1, usize::MAX).unwrap();
    let copy = open(b.path());
    for chunk in events.chunks(7) {
        copy.restore_blocking(chunk.to_vec()).unwrap();
    }
    assert_eq!(copy.head(), original.head());
    assert_eq!(copy.read_all(1, usize::MAX).unwrap(), events);
    assert!(copy.verify().unwrap().is_intact());
    assert_eq!(
        copy.idempotent_receipt("tester", "k9", None).unwrap(),
        original.idempotent_receipt("tester", "k9", None).unwrap()
    );
    // Appends continue the restored chain.
    let next = copy
        .append_blocking(request("s1", ExpectedVersion::Exact(16), &[1]))
        .unwrap();
    assert_eq!(next.receipt().unwrap().first_seq, 81);
    assert!(copy.verify().unwrap().is_intact());
}

#[test]
fn a_restore_that_does_not_continue_the_log_writes_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let original = open(a.path());
    for i in 0..5u64 {
        let _ = original
            .append_blocking(request("s", ExpectedVersion::Any, &[i]))
            .unwrap();
    }
    let events = original.read_all(1, 10).unwrap();
    let copy = open(b.path());
    let mut altered = events.clone();
    altered[3].payload[0] ^= 1;
    match copy.restore_blocking(altered) {
        Err(StoreError::Restore { seq, .. }) => assert_eq!(seq, 4),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(copy.head().seq, 0, "nothing of the batch was written");
    match copy.restore_blocking(events[1..].to_vec()) {
        Err(StoreError::Restore { seq, .. }) => assert_eq!(seq, 2),
        other => panic!("expected a refusal, got {other:?}"),
    }
    copy.restore_blocking(events).unwrap();
    assert_eq!(copy.head(), original.head());
}

#[test]
fn keys_are_each_actors_own_and_a_key_reused_for_another_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let anna = |expected, ns: &[u64], command: u8| {
        super::request_by("anna", "a", expected, ns)
            .with_idempotency_key("visit-1")
            .unwrap()
            .with_fingerprint([command; 32])
    };
    let first = store
        .append_blocking(anna(ExpectedVersion::Any, &[1], 1))
        .unwrap()
        .receipt()
        .unwrap();
    assert_eq!(
        store
            .append_blocking(anna(ExpectedVersion::Any, &[1], 1))
            .unwrap(),
        AppendOutcome::Replayed(first)
    );
    assert_eq!(
        store
            .append_blocking(anna(ExpectedVersion::Any, &[2], 2))
            .unwrap(),
        AppendOutcome::IdempotencyKeyMismatch { original: first }
    );
    // Bob's "visit-1" is his own: it writes, and does not receive Anna's receipt.
    let bob = super::request_by("bob", "a", ExpectedVersion::Any, &[3])
        .with_idempotency_key("visit-1")
        .unwrap();
    assert!(matches!(
        store.append_blocking(bob).unwrap(),
        AppendOutcome::Committed(r) if r.first_seq == 2
    ));
    assert_eq!(store.head().seq, 2);
}

#[test]
fn keys_written_before_scoping_stay_valid_for_the_actor_who_used_them() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = open(dir.path());
        let req = request("a", ExpectedVersion::Any, &[1])
            .with_idempotency_key("old-key")
            .unwrap();
        store.append_blocking(req).unwrap().receipt().unwrap()
    };
    {
        // Rewrite the record as a folder of the earlier format holds it: under `I` + key,
        // as [stream, receipt] without a fingerprint.
        let db = super::raw_db(dir.path());
        let tree = db.open_tree("log").unwrap();
        let mut scoped = vec![b'K'];
        scoped.extend_from_slice(&(b"tester".len() as u16).to_be_bytes());
        scoped.extend_from_slice(b"tester");
        scoped.extend_from_slice(b"old-key");
        let value = tree.remove(&scoped).unwrap().expect("the scoped record");
        assert_eq!(
            (value[0], value[value.len() - 1]),
            (0x93, 0xc0),
            "[stream, receipt, nil]"
        );
        let mut legacy = vec![0x92];
        legacy.extend_from_slice(&value[1..value.len() - 1]);
        tree.insert([b"I".as_slice(), b"old-key"].concat(), legacy)
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    let retry = request("a", ExpectedVersion::Any, &[1])
        .with_idempotency_key("old-key")
        .unwrap()
        .with_fingerprint([7; 32]);
    assert_eq!(
        store.append_blocking(retry).unwrap(),
        AppendOutcome::Replayed(first)
    );
    let someone_else = super::request_by("bob", "b", ExpectedVersion::Any, &[2])
        .with_idempotency_key("old-key")
        .unwrap();
    assert!(matches!(
        store.append_blocking(someone_else).unwrap(),
        AppendOutcome::Committed(_)
    ));
}

#[test]
fn the_page_cache_is_chosen_for_the_data_unless_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(crate::config(dir.path())).unwrap();
    // An empty folder gets the floor; a set size is taken as it is.
    assert_eq!(store.cache_capacity(), dealtrail_store::MIN_CACHE_BYTES);
    drop(store);
    let store = Store::open(crate::config(dir.path()).cache_capacity(12 << 20)).unwrap();
    assert_eq!(store.cache_capacity(), 12 << 20);
    assert_eq!(
        dealtrail_store::default_cache_capacity(600 << 20),
        150 << 20
    );
    assert_eq!(
        dealtrail_store::default_cache_capacity(40 << 30),
        dealtrail_store::MAX_CACHE_BYTES
    );
}

#[test]
fn appends_sent_together_are_decided_each_alone_in_one_group() {
    use dealtrail_store::AppendOutcome;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = store
        .append_blocking(request("s1", ExpectedVersion::Any, &[0]))
        .unwrap();
    let groups = |s: &dealtrail_store::Store| s.write_stats().groups_by_size.iter().sum::<u64>();
    let before = groups(&store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = runtime
        .block_on(store.append_many(vec![
            request("s2", ExpectedVersion::NoStream, &[1, 2]),
            request("s1", ExpectedVersion::NoStream, &[3]),
            request("s3", ExpectedVersion::Any, &[4]),
            // Decided on the state the first request of the same call left.
            request("s2", ExpectedVersion::Exact(2), &[5]),
        ]))
        .unwrap();
    let out: Vec<AppendOutcome> = out.into_iter().map(Result::unwrap).collect();
    let receipt = |o: &AppendOutcome| o.receipt().map(|r| (r.first_seq, r.last_version));
    assert_eq!(receipt(&out[0]), Some((2, 2)));
    assert!(
        matches!(out[1], AppendOutcome::Conflict { actual: 1, .. }),
        "{:?}",
        out[1]
    );
    assert_eq!(receipt(&out[2]), Some((4, 1)));
    assert_eq!(receipt(&out[3]), Some((5, 3)));
    assert_eq!(groups(&store) - before, 1, "one group for the whole call");
    assert_eq!(store.head().seq, 5);
    assert!(store.verify().unwrap().is_intact());
}
