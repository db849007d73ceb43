//! The hub: live fan-out by bucket, dropping a subscriber that falls behind, and limits.

use std::time::Duration;

use rucket_feed::{FeedLimits, Hub, LimitError};
use rucket_schemas::LogPosition;

use crate::support::{bucket, deleted, Store};

const LIMITS: FeedLimits = FeedLimits { per_node: 3, per_key: 2 };

/// A hub on `store`'s archive and the shutdown token that ends it.
fn start(store: &Store) -> (std::sync::Arc<Hub>, tokio::sync::watch::Sender<bool>) {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    (Hub::start(store.archive.clone(), LIMITS, shutdown), stop)
}

async fn next(registration: &mut rucket_feed::Registration) -> Option<LogPosition> {
    tokio::time::timeout(Duration::from_secs(5), registration.events.recv()).await.ok()?.map(|e| e.position)
}

#[tokio::test(start_paused = true)]
async fn live_events_reach_only_the_subscribers_of_their_bucket() {
    let mut store = Store::new();
    store.append(&[deleted("alpha", "before")]);
    let (hub, stop) = start(&store);
    let mut of_a = hub.register(&[bucket("alpha")]);
    let mut of_b = hub.register(&[bucket("bravo")]);
    let mut of_all = hub.register(&[]);
    assert_eq!(of_a.at, LogPosition(1), "registration starts at the head the hub has handed out");
    store.append(&[deleted("alpha", "one"), deleted("bravo", "two"), deleted("alpha", "three")]);
    assert_eq!(next(&mut of_a).await, Some(LogPosition(2)));
    assert_eq!(next(&mut of_a).await, Some(LogPosition(4)));
    assert_eq!(next(&mut of_b).await, Some(LogPosition(3)));
    for expected in 2..=4 {
        assert_eq!(next(&mut of_all).await, Some(LogPosition(expected)));
    }
    assert!(of_b.events.try_recv().is_err(), "b's subscriber is not woken for a's events");
    assert_eq!(hub.position(), LogPosition(4));
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn with_no_subscriber_the_hub_skips_ahead_and_later_registrations_start_there() {
    let mut store = Store::new();
    let (hub, stop) = start(&store);
    store.append(&[deleted("alpha", "x"), deleted("alpha", "y")]);
    for _ in 0..100 {
        if hub.position() == LogPosition(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hub.position(), LogPosition(2));
    let mut late = hub.register(&[]);
    assert_eq!(late.at, LogPosition(2), "history before this comes from the archive, not the hub");
    store.append(&[deleted("alpha", "z")]);
    assert_eq!(next(&mut late).await, Some(LogPosition(3)));
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_whose_queue_is_full_is_dropped_from_the_live_set() {
    let mut store = Store::new();
    let (hub, stop) = start(&store);
    let mut slow = hub.register(&[]);
    let mut fast = hub.register(&[]);
    // The fast one reads everything each append brings before the next append; the slow
    // one never reads, so its bounded queue fills.
    let mut expected = 1;
    for round in 0..11 {
        let events: Vec<_> = (0..100).map(|i| deleted("alpha", &format!("k{round}-{i}"))).collect();
        store.append(&events);
        for _ in 0..100 {
            assert_eq!(next(&mut fast).await, Some(LogPosition(expected)));
            expected += 1;
        }
    }
    let mut received = 0;
    while let Some(event) = slow.events.recv().await {
        received += 1;
        assert_eq!(event.position, LogPosition(received), "in order, no gap before the cut");
    }
    assert!(received < 1100, "the slow subscriber's queue was closed after {received} events");
    assert!(received >= 1000, "it got what its queue held first ({received})");
    stop.send_replace(true);
}

#[tokio::test]
async fn admission_is_limited_per_key_and_per_node_and_given_back_on_drop() {
    let store = Store::new();
    let (hub, stop) = start(&store);
    let a1 = hub.admit("AK1").unwrap();
    let a2 = hub.admit("AK1").unwrap();
    assert!(matches!(hub.admit("AK1"), Err(LimitError::Key(2))));
    let b1 = hub.admit("AK2").unwrap();
    assert!(matches!(hub.admit("AK3"), Err(LimitError::Node(3))));
    drop(a1);
    let a3 = hub.admit("AK1").unwrap();
    drop((a2, a3, b1));
    for key in ["AK4", "AK5", "AK6"] {
        std::mem::forget(hub.admit(key).unwrap());
    }
    assert!(matches!(hub.admit("AK7"), Err(LimitError::Node(3))));
    stop.send_replace(true);
}
