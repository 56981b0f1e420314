//! Subscriptions: catch-up then live, every event once, in order.

use dealtrail_store::{ExpectedVersion, LogFilter};

use super::{open, request, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriber_started_mid_stream_gets_every_later_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..300u64 {
        let _ = store
            .append(request(
                &format!("pre{}", i % 7),
                ExpectedVersion::Any,
                &[i],
            ))
            .await
            .unwrap();
    }
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 400;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let _ = store
                        .append(request(&format!("live{w}"), ExpectedVersion::Any, &[i]))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let from = 150;
    let mut sub = store.subscribe(from, LogFilter::default());
    let total = 300 + WRITERS * PER_WRITER;
    let mut seen = Vec::new();
    while (seen.len() as u64) < total - from + 1 {
        let event = sub.next().await.expect("store open").unwrap();
        seen.push(event.seq);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen, (from..=total).collect::<Vec<_>>());
    // Nothing more arrives: the next event would be a duplicate or invented.
    let _ = store
        .append(request("after", ExpectedVersion::Any, &[1]))
        .await
        .unwrap();
    assert_eq!(sub.next().await.unwrap().unwrap().seq, total + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_subscription_skips_other_streams_and_ends_when_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let filter = LogFilter {
        stream: Some(stream("wanted")),
        ..Default::default()
    };
    let mut sub = store.subscribe(1, filter);
    for i in 0..20u64 {
        let name = if i % 4 == 0 { "wanted" } else { "other" };
        let _ = store
            .append(request(name, ExpectedVersion::Any, &[i]))
            .await
            .unwrap();
    }
    store.close().unwrap();
    let mut got = Vec::new();
    while let Some(event) = sub.next().await {
        got.push(event.unwrap().seq);
    }
    assert_eq!(got, vec![1, 5, 9, 13, 17]);
}
