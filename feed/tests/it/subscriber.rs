//! One subscription: history then live without a gap or a duplicate, filters and
//! visibility, heartbeats that advance a filtered cursor, and the ways a stream ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rucket_feed::filter::{EventPattern, Filter};
use rucket_feed::{EndReason, EndSignal, FeedLimits, Format, Hub, Item, KeyCheck, Subscriber, Visibility};
use rucket_schemas::{LogPosition, UserId};
use tokio::sync::mpsc;

use crate::support::{bucket, created, deleted, Store};

const HEARTBEAT: Duration = Duration::from_secs(15);
const STALL: Duration = Duration::from_secs(30);

struct Running {
    items: mpsc::Receiver<Item>,
    end: EndSignal,
    task: tokio::task::JoinHandle<()>,
}

struct Options {
    filter: Filter,
    admin: bool,
    user: &'static str,
    cursor: LogPosition,
    buffer: usize,
    key: Option<Arc<dyn KeyCheck>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            filter: Filter::default(),
            admin: true,
            user: "root",
            cursor: LogPosition(0),
            buffer: 64,
            key: None,
        }
    }
}

fn start(hub: &Arc<Hub>, store: &Store, options: Options) -> Running {
    let (out, items) = mpsc::channel(options.buffer);
    let end = EndSignal::default();
    let subscriber = Subscriber {
        hub: Arc::clone(hub),
        filter: options.filter,
        visibility: Visibility::new(options.admin, UserId::new(options.user), store.projections.clone()),
        format: Format::Rucket,
        heartbeat: HEARTBEAT,
        stall: STALL,
        cursor: options.cursor,
        out,
        end: end.clone(),
        key: options.key,
    };
    Running { items, end, task: tokio::spawn(subscriber.run()) }
}

fn hub(store: &Store) -> (Arc<Hub>, tokio::sync::watch::Sender<bool>) {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    (Hub::start(store.archive.clone(), FeedLimits { per_node: 100, per_key: 100 }, shutdown), stop)
}

/// The positions of the next `n` events (heartbeats skipped).
async fn events(running: &mut Running, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(60), running.items.recv()).await {
            Ok(Some(Item::Event { position, .. })) => out.push(position.0),
            Ok(Some(Item::Heartbeat { .. })) => {}
            Ok(None) | Err(_) => break,
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn history_and_live_meet_without_a_gap_or_a_duplicate() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    let history: Vec<_> = (0..600).map(|i| deleted("alpha", &format!("h{i}"))).collect();
    store.append(&history);
    let mut running = start(&hub, &store, Options::default());
    // Live events arrive while the subscriber is still reading history.
    let live: Vec<_> = (0..300).map(|i| deleted("alpha", &format!("l{i}"))).collect();
    store.append(&live);
    assert_eq!(events(&mut running, 900).await, (1..=900).collect::<Vec<_>>());
    store.append(&[deleted("alpha", "last")]);
    assert_eq!(events(&mut running, 1).await, vec![901]);
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn a_cursor_resumes_after_the_last_position_received() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    store.append(&(0..10).map(|i| deleted("alpha", &format!("k{i}"))).collect::<Vec<_>>());
    let mut running = start(&hub, &store, Options { cursor: LogPosition(7), ..Options::default() });
    assert_eq!(events(&mut running, 3).await, vec![8, 9, 10]);
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn filters_pick_events_and_heartbeats_move_the_cursor_past_the_rest() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    let filter = Filter {
        buckets: vec![bucket("alpha")],
        prefix: "logs/".into(),
        suffix: ".gz".into(),
        events: vec![EventPattern::parse("s3:ObjectRemoved:*").unwrap()],
    };
    let mut running = start(&hub, &store, Options { filter, ..Options::default() });
    store.append(&[
        deleted("alpha", "logs/1.gz"),
        deleted("bravo", "logs/2.gz"),
        deleted("alpha", "logs/3.txt"),
        deleted("alpha", "data/4.gz"),
        deleted("alpha", "logs/5.gz"),
    ]);
    assert_eq!(events(&mut running, 2).await, vec![1, 5]);
    store.append(&[deleted("bravo", "logs/6.gz")]);
    // Nothing matches any more; the next heartbeat still reports the position served.
    tokio::time::sleep(HEARTBEAT + Duration::from_secs(1)).await;
    let mut last = None;
    while let Ok(item) = running.items.try_recv() {
        if let Item::Heartbeat { position, head } = item {
            last = Some((position, head));
        }
    }
    assert_eq!(last, Some((LogPosition(6), LogPosition(6))));
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn a_user_sees_only_the_buckets_it_owns_from_their_creation_on() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    // An earlier owner's bucket of the same name stays hidden.
    store.append(&[created("shared", "bob"), deleted("shared", "bobs")]);
    store.append(&[rucket_schemas::StorageEvent::BucketDeleted(rucket_schemas::BucketDeleted {
        bucket: bucket("shared"),
        aborted_uploads: Vec::new(),
    })]);
    store.append(&[created("shared", "alice"), deleted("shared", "alices"), created("other", "bob")]);
    store.append(&[deleted("other", "hidden"), deleted("shared", "mine")]);
    let mut running = start(&hub, &store, Options { admin: false, user: "alice", ..Options::default() });
    assert_eq!(events(&mut running, 3).await, vec![4, 5, 8]);
    let mut admin = start(&hub, &store, Options::default());
    assert_eq!(events(&mut admin, 8).await, (1..=8).collect::<Vec<_>>());
    stop.send_replace(true);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_cut_off_after_the_stall_limit() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    let running = start(&hub, &store, Options { buffer: 2, ..Options::default() });
    store.append(&(0..10).map(|i| deleted("alpha", &format!("k{i}"))).collect::<Vec<_>>());
    tokio::time::sleep(STALL + Duration::from_secs(1)).await;
    running.task.await.unwrap();
    assert_eq!(running.end.get(), Some(EndReason::Overflow));
    stop.send_replace(true);
}

struct Switch(AtomicBool);

impl KeyCheck for Switch {
    fn still_valid(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_ends_the_stream_at_the_next_heartbeat() {
    let store = Store::new();
    let (hub, _stop) = hub(&store);
    let key = Arc::new(Switch(AtomicBool::new(true)));
    let mut running = start(&hub, &store, Options { key: Some(key.clone()), ..Options::default() });
    tokio::time::sleep(HEARTBEAT + Duration::from_secs(1)).await;
    assert!(matches!(running.items.try_recv(), Ok(Item::Heartbeat { .. })), "still served while valid");
    key.0.store(false, Ordering::Relaxed);
    tokio::time::sleep(HEARTBEAT + Duration::from_secs(1)).await;
    running.task.await.unwrap();
    assert_eq!(running.end.get(), Some(EndReason::Revoked));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_every_stream_with_its_reason() {
    let mut store = Store::new();
    let (hub, stop) = hub(&store);
    let mut running = start(&hub, &store, Options::default());
    store.append(&[deleted("alpha", "k")]);
    assert_eq!(events(&mut running, 1).await, vec![1]);
    stop.send_replace(true);
    running.task.await.unwrap();
    assert_eq!(running.end.get(), Some(EndReason::Shutdown));
}
