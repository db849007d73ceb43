//! Webhook delivery: matching records in log order, retried until taken, never skipped,
//! resumed from the durable cursor after a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rucket_feed::webhook::{Deliver, Worker};
use rucket_schemas::{
    BucketNotificationSet, DestinationKind, LogPosition, NotificationConfig, NotificationRule, StorageEvent,
};
use tokio::sync::watch;

use crate::support::{bucket, deleted, Store};

/// Records what it was handed; fails the first `failures` attempts.
#[derive(Default)]
struct Recorder {
    delivered: Mutex<Vec<(u64, String)>>,
    attempts: Mutex<u32>,
    failures: u32,
}

impl Deliver for Recorder {
    async fn deliver(&self, position: LogPosition, body: String) -> Result<(), String> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            *attempts += 1;
            *attempts
        };
        if attempt <= self.failures {
            return Err(format!("attempt {attempt} refused"));
        }
        self.delivered.lock().unwrap().push((position.0, body));
        Ok(())
    }
}

fn rules(bucket_name: &str, prefix: &str) -> StorageEvent {
    StorageEvent::BucketNotificationSet(BucketNotificationSet {
        bucket: bucket(bucket_name),
        configuration: NotificationConfig {
            rules: vec![NotificationRule {
                id: "r1".into(),
                destination: DestinationKind::Queue,
                arn: "arn:rucket:sqs:us-east-1:hook:webhook".into(),
                events: vec!["s3:ObjectRemoved:*".into()],
                prefix: prefix.into(),
                suffix: String::new(),
            }],
        },
    })
}

fn worker(store: &Store, delivery: &Arc<Recorder>, shutdown: watch::Receiver<bool>) -> Worker<Recorder> {
    Worker {
        target: "hook".into(),
        delivery: Arc::clone(delivery),
        archive: store.archive.clone(),
        projections: store.projections.clone(),
        cursor_path: rucket_feed::webhook::cursor_path(store.path(), "hook"),
        shutdown,
        active: Arc::new(|| true),
        shared: None,
        delivered_since_shared: false,
        shared_at: None,
    }
}

async fn until(recorder: &Recorder, n: usize) -> Vec<u64> {
    for _ in 0..10_000 {
        if positions(recorder).len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    positions(recorder)
}

fn positions(recorder: &Recorder) -> Vec<u64> {
    recorder.delivered.lock().unwrap().iter().map(|(p, _)| *p).collect()
}

#[tokio::test(start_paused = true)]
async fn matching_events_are_delivered_in_order_and_the_cursor_survives_a_restart() {
    let mut store = Store::new();
    std::fs::create_dir_all(store.path().join("notify")).unwrap();
    let recorder = Arc::new(Recorder::default());
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(worker(&store, &recorder, shutdown).run());
    // A new target starts at the head: history from before it is not replayed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.append(&[
        rules("alpha", "logs/"),
        deleted("alpha", "logs/1"),
        deleted("alpha", "data/2"),
        deleted("bravo", "logs/3"),
    ]);
    store.append(&[deleted("alpha", "logs/5")]);
    assert_eq!(until(&recorder, 2).await, vec![2, 5]);
    let body: serde_json::Value = serde_json::from_str(&recorder.delivered.lock().unwrap()[0].1).unwrap();
    assert_eq!(body["Records"][0]["s3"]["object"]["key"], "logs/1");
    assert_eq!(body["Records"][0]["s3"]["configurationId"], "r1");
    stop.send_replace(true);
    running.await.unwrap().unwrap();

    // Restarted, the worker goes on after what it delivered.
    store.append(&[deleted("alpha", "logs/6")]);
    let (_stop, shutdown) = watch::channel(false);
    let again = Arc::new(Recorder::default());
    tokio::spawn(worker(&store, &again, shutdown).run());
    assert_eq!(until(&again, 1).await, vec![6]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_delivery_is_retried_with_backoff_and_nothing_after_it_skips_ahead() {
    let mut store = Store::new();
    std::fs::create_dir_all(store.path().join("notify")).unwrap();
    let recorder = Arc::new(Recorder { failures: 5, ..Recorder::default() });
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(worker(&store, &recorder, shutdown).run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    store.append(&[rules("alpha", ""), deleted("alpha", "one"), deleted("alpha", "two")]);
    assert_eq!(until(&recorder, 2).await, vec![2, 3], "the refused record first, then the next, in order");
    assert_eq!(*recorder.attempts.lock().unwrap(), 7);
    // Backoff doubles from 100 ms: 100 + 200 + 400 + 800 + 1600 ms before the sixth try.
    assert!(started.elapsed() >= Duration::from_millis(3100), "{:?}", started.elapsed());
    let cursor = std::fs::read_to_string(rucket_feed::webhook::cursor_path(store.path(), "hook")).unwrap();
    assert_eq!(cursor.trim(), "3");
}

#[tokio::test(start_paused = true)]
async fn an_inactive_worker_delivers_nothing_until_it_becomes_active() {
    let mut store = Store::new();
    std::fs::create_dir_all(store.path().join("notify")).unwrap();
    let recorder = Arc::new(Recorder::default());
    let (_stop, shutdown) = watch::channel(false);
    // A follower of a cluster: not the leader, so not the one that delivers.
    let leads = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut idle = worker(&store, &recorder, shutdown);
    let flag = Arc::clone(&leads);
    idle.active = Arc::new(move || flag.load(std::sync::atomic::Ordering::Relaxed));
    tokio::spawn(idle.run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.append(&[rules("alpha", ""), deleted("alpha", "one")]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(positions(&recorder).is_empty(), "an inactive worker delivered");
    // It becomes the leader: what happened meanwhile is delivered, in order.
    leads.store(true, std::sync::atomic::Ordering::Relaxed);
    store.append(&[deleted("alpha", "two")]);
    assert_eq!(until(&recorder, 2).await, vec![2, 3]);
}

/// A cluster's shared cursor, in memory: what `load` answers and what `save` was told.
#[derive(Default)]
struct SharedMemory {
    position: Mutex<Option<LogPosition>>,
    saved: Mutex<Vec<u64>>,
}

impl rucket_feed::webhook::SharedCursor for SharedMemory {
    fn load(&self, _target: &str) -> Option<LogPosition> {
        *self.position.lock().unwrap()
    }

    fn save(
        &self,
        _target: &str,
        position: LogPosition,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.saved.lock().unwrap().push(position.0);
        *self.position.lock().unwrap() = Some(position);
        Box::pin(async {})
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_leader_resumes_from_the_shared_cursor_and_records_its_progress() {
    let mut store = Store::new();
    std::fs::create_dir_all(store.path().join("notify")).unwrap();
    let recorder = Arc::new(Recorder::default());
    let (_stop, shutdown) = watch::channel(false);
    let leads = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shared = Arc::new(SharedMemory::default());
    let mut follower = worker(&store, &recorder, shutdown);
    let flag = Arc::clone(&leads);
    follower.active = Arc::new(move || flag.load(std::sync::atomic::Ordering::Relaxed));
    follower.shared = Some(Arc::clone(&shared) as Arc<dyn rucket_feed::webhook::SharedCursor>);
    tokio::spawn(follower.run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.append(&[rules("alpha", ""), deleted("alpha", "one"), deleted("alpha", "two")]);
    // Another node (the old leader) delivered up to position 2 and recorded it.
    *shared.position.lock().unwrap() = Some(LogPosition(2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(positions(&recorder).is_empty());
    // This node becomes the leader: it delivers what follows 2, not 2 again.
    leads.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(until(&recorder, 1).await, vec![3]);
    // And records its progress for the next leader, within a few seconds.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(shared.saved.lock().unwrap().last(), Some(&3));
    let cursor = std::fs::read_to_string(rucket_feed::webhook::cursor_path(store.path(), "hook")).unwrap();
    assert_eq!(cursor.trim(), "3");
    // Stepping down records what it delivered last at once, not a period later.
    store.append(&[deleted("alpha", "three")]);
    assert_eq!(until(&recorder, 2).await, vec![3, 4]);
    leads.store(false, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(shared.saved.lock().unwrap().last(), Some(&4));
}
