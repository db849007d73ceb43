//! The hub follows the archive head once per node and hands each new event to the live
//! subscribers whose bucket filter can match it. A subscriber to an idle bucket is never
//! woken, and with no subscribers at all the hub decodes nothing, so subscribing costs
//! the write path nothing it did not ask for.
//!
//! A live subscriber's queue is bounded. When it is full the hub drops the subscriber
//! from the live set (closing its queue); the subscriber then reads the archive from its
//! own cursor and registers again. Events are never skipped, only delivered later.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rucket_log::{ArchiveFollower, EventArchive};
use rucket_schemas::{BucketName, LogPosition};
use tokio::sync::{mpsc, watch};

use crate::event::{decode, FeedEvent};
use crate::metrics::{FEED_LIVE_DROPS, FEED_SUBSCRIBERS};

/// How many events may wait in one live subscriber's queue.
const LIVE_QUEUE: usize = 1024;
/// How many events the hub reads from the archive at a time.
const READ_BATCH: usize = 512;

/// Limits on subscriptions, per node and per access key.
#[derive(Clone, Copy, Debug)]
pub struct FeedLimits {
    pub per_node: usize,
    pub per_key: usize,
}

pub struct Hub {
    archive: EventArchive,
    state: Mutex<HubState>,
    next_id: AtomicU64,
    limits: FeedLimits,
    subscribers: AtomicUsize,
    per_key: Mutex<HashMap<String, usize>>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default)]
struct HubState {
    /// Every event up to here has been handed to the live subscribers.
    position: LogPosition,
    live: HashMap<u64, Live>,
    /// Live subscribers without a bucket filter.
    all: HashSet<u64>,
    by_bucket: HashMap<BucketName, HashSet<u64>>,
}

struct Live {
    tx: mpsc::Sender<Arc<FeedEvent>>,
    buckets: Vec<BucketName>,
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("this node already serves {0} subscribers, its limit")]
    Node(usize),
    #[error("this access key already has {0} subscriptions, its limit")]
    Key(usize),
}

/// A place among the node's subscribers; given back on drop.
pub struct Permit {
    hub: Arc<Hub>,
    key: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
        let mut per_key = lock(&self.hub.per_key);
        if let Some(n) = per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                per_key.remove(&self.key);
            }
        }
        metrics::gauge!(FEED_SUBSCRIBERS).decrement(1.0);
    }
}

/// A live registration; unregisters on drop.
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
    /// Events after `at`, as the hub hands them over. Closed when the hub dropped the
    /// subscriber for falling behind.
    pub events: mpsc::Receiver<Arc<FeedEvent>>,
    /// Every event up to here is in the archive and will not come through `events`.
    pub at: LogPosition,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl Hub {
    /// Starts following the archive from its current head, until `shutdown` is set (the
    /// server runtime's one shutdown token), which also ends every subscription.
    pub fn start(archive: EventArchive, limits: FeedLimits, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let head = archive.head();
        let state = HubState { position: head, ..HubState::default() };
        let follower = archive.follow(head);
        let hub = Arc::new(Self {
            archive,
            state: Mutex::new(state),
            next_id: AtomicU64::new(1),
            limits,
            subscribers: AtomicUsize::new(0),
            per_key: Mutex::new(HashMap::new()),
            shutdown,
        });
        tokio::spawn(follow(Arc::clone(&hub), follower));
        hub
    }

    pub fn archive(&self) -> &EventArchive {
        &self.archive
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Takes a place for a new subscriber of `access_key`, within the limits.
    pub fn admit(self: &Arc<Self>, access_key: &str) -> Result<Permit, LimitError> {
        let mut per_key = lock(&self.per_key);
        let count = per_key.get(access_key).copied().unwrap_or(0);
        if count >= self.limits.per_key {
            return Err(LimitError::Key(self.limits.per_key));
        }
        if self.subscribers.fetch_add(1, Ordering::Relaxed) >= self.limits.per_node {
            self.subscribers.fetch_sub(1, Ordering::Relaxed);
            return Err(LimitError::Node(self.limits.per_node));
        }
        per_key.insert(access_key.to_owned(), count + 1);
        metrics::gauge!(FEED_SUBSCRIBERS).increment(1.0);
        Ok(Permit { hub: Arc::clone(self), key: access_key.to_owned() })
    }

    /// Joins the live set for events of `buckets` (all buckets when empty).
    pub fn register(self: &Arc<Self>, buckets: &[BucketName]) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, events) = mpsc::channel(LIVE_QUEUE);
        let mut state = lock(&self.state);
        if buckets.is_empty() {
            state.all.insert(id);
        }
        for bucket in buckets {
            state.by_bucket.entry(bucket.clone()).or_default().insert(id);
        }
        state.live.insert(id, Live { tx, buckets: buckets.to_vec() });
        let at = state.position;
        drop(state);
        Registration { hub: Arc::clone(self), id, events, at }
    }

    /// The position up to which every live subscriber has been handed its events.
    pub fn position(&self) -> LogPosition {
        lock(&self.state).position
    }

    fn unregister(&self, id: u64) {
        lock(&self.state).remove(id);
    }
}

impl HubState {
    fn remove(&mut self, id: u64) {
        let Some(live) = self.live.remove(&id) else { return };
        self.all.remove(&id);
        for bucket in live.buckets {
            if let Some(ids) = self.by_bucket.get_mut(&bucket) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_bucket.remove(&bucket);
                }
            }
        }
    }

    fn dispatch(&mut self, event: FeedEvent) {
        let position = event.position;
        let event = Arc::new(event);
        let targets: Vec<u64> = self
            .all
            .iter()
            .chain(event.event.bucket().and_then(|b| self.by_bucket.get(b)).into_iter().flatten())
            .copied()
            .collect();
        for id in targets {
            let delivered =
                self.live.get(&id).is_some_and(|live| live.tx.try_send(Arc::clone(&event)).is_ok());
            if !delivered {
                // Full or gone: the subscriber catches up from the archive.
                self.remove(id);
                metrics::counter!(FEED_LIVE_DROPS).increment(1);
            }
        }
        self.position = position;
    }
}

async fn follow(hub: Arc<Hub>, mut follower: ArchiveFollower) {
    let mut shutdown = hub.shutdown.clone();
    loop {
        let head = tokio::select! {
            head = follower.wait() => match head {
                Ok(head) => head,
                Err(_) => return,
            },
            _ = stopped(&mut shutdown) => return,
        };
        {
            let mut state = lock(&hub.state);
            if state.live.is_empty() {
                // Nobody to hand events to: skip them (registrations start from here).
                state.position = head;
                follower.seek(head);
                continue;
            }
        }
        let batch = match follower.read(READ_BATCH).await.map_err(Into::into).and_then(decode) {
            Ok(batch) => batch,
            Err(e) => {
                // Read again from where the live subscribers are: never skip an event.
                follower.seek(lock(&hub.state).position);
                tracing::error!(error = %e, "the event feed cannot read the archive");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => continue,
                    _ = stopped(&mut shutdown) => return,
                }
            }
        };
        if batch.is_empty() {
            // The archive is being replaced (a snapshot install): wait, never skip.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        let mut state = lock(&hub.state);
        for event in batch {
            if event.position > state.position {
                state.dispatch(event);
            }
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
