//! One subscription: reads the archive from its cursor, then follows the hub, and hands
//! rendered messages to its transport through a bounded queue. The cursor only moves
//! forward over events it has seen, so history and live meet without a gap or a
//! duplicate, and a subscriber that fell off the live path resumes from the archive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rucket_projections::Projections;
use rucket_schemas::{BucketName, Hlc, LogPosition, StorageEvent, UserId};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::{decode, FeedEvent};
use crate::filter::Filter;
use crate::hub::Hub;
use crate::metrics::FEED_OVERFLOWS;
use crate::record::{s3_record, FEED_CONFIGURATION};

const READ_BATCH: usize = 256;

/// How events are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Rucket's own rendering inside the message envelope.
    Rucket,
    /// The AWS notification record inside the message envelope.
    S3,
    /// A bare `{"Records":[...]}` line, as MinIO's listen API writes.
    MinioLines,
}

/// What a transport receives.
#[derive(Debug)]
pub enum Item {
    Event {
        position: LogPosition,
        data: Arc<str>,
    },
    /// Every event up to `position` was delivered or filtered out.
    Heartbeat {
        position: LogPosition,
        head: LogPosition,
    },
}

/// Why a stream ended, told to the transport through [`EndSignal`]; the client resumes
/// after the last position it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The subscriber did not take messages for longer than the stall limit.
    Overflow,
    /// The server is stopping.
    Shutdown,
    /// The archive could not be read.
    Failed,
    /// The access key was disabled or deleted.
    Revoked,
}

/// Shared between a subscriber and its transport: set once, when the subscriber stops
/// for a reason the client must hear. On overflow the transport stops at once; on
/// shutdown or failure it first delivers what is queued.
#[derive(Clone, Default)]
pub struct EndSignal(Arc<AtomicU8>);

impl EndSignal {
    pub fn set(&self, reason: EndReason) {
        let code = match reason {
            EndReason::Overflow => 1,
            EndReason::Shutdown => 2,
            EndReason::Failed => 3,
            EndReason::Revoked => 4,
        };
        self.0.store(code, Ordering::Release);
    }

    pub fn get(&self) -> Option<EndReason> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(EndReason::Overflow),
            2 => Some(EndReason::Shutdown),
            3 => Some(EndReason::Failed),
            4 => Some(EndReason::Revoked),
            _ => None,
        }
    }
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overflow => "overflow",
            Self::Shutdown => "shutdown",
            Self::Revoked => "revoked",
            Self::Failed => "error",
        }
    }
}

/// Which events a user may see: all for operators; otherwise the events of buckets the
/// user owns, from the bucket's creation on (the history of a bucket name's earlier
/// owner stays hidden).
pub struct Visibility {
    admin: bool,
    user: UserId,
    projections: Projections,
    /// Each bucket's owner and creation as last known (`None`: no such bucket then).
    owners: HashMap<BucketName, Option<(UserId, Hlc)>>,
    /// The views' applied position when last read: they are asked about an event's bucket
    /// only once they have folded that event.
    applied: LogPosition,
}

impl Visibility {
    pub fn new(admin: bool, user: UserId, projections: Projections) -> Self {
        Self { admin, user, projections, owners: HashMap::new(), applied: LogPosition(0) }
    }

    fn visible(&mut self, event: &FeedEvent) -> bool {
        if self.admin {
            return true;
        }
        // Events with no bucket (access key changes) are the operators' alone.
        let Some(bucket) = event.event.bucket() else { return false };
        if let StorageEvent::BucketCreated(e) = &event.event {
            self.owners.insert(bucket.clone(), Some((e.owner.clone(), event.envelope.hlc)));
            return e.owner == self.user;
        }
        if !self.owners.contains_key(bucket) {
            // Views behind the event (a node that joined, still folding the archive it
            // copied) could name an earlier owner of a re-created bucket: the event is
            // hidden and nothing is remembered until they have folded it.
            if event.position > self.applied {
                self.applied = self.projections.applied_position().unwrap_or(self.applied);
                if event.position > self.applied {
                    return false;
                }
            }
            let found = self.projections.bucket(bucket).ok().flatten().map(|r| (r.owner, r.created));
            self.owners.insert(bucket.clone(), found);
        }
        let visible = self
            .owners
            .get(bucket)
            .and_then(Option::as_ref)
            .is_some_and(|(owner, created)| *owner == self.user && event.envelope.hlc >= *created);
        if matches!(event.event, StorageEvent::BucketDeleted(_)) {
            self.owners.insert(bucket.clone(), None);
        }
        visible
    }
}

/// Whether the access key a subscription was signed with may still read the feed; asked
/// at every heartbeat (the gateway answers from its users and the access keys view).
pub trait KeyCheck: Send + Sync {
    fn still_valid(&self) -> bool;
}

pub struct Subscriber {
    pub hub: Arc<Hub>,
    pub filter: Filter,
    pub visibility: Visibility,
    pub format: Format,
    pub heartbeat: Duration,
    /// How long the transport may leave a full queue untaken before the stream ends.
    pub stall: Duration,
    /// Exclusive: the next event delivered is the first after it.
    pub cursor: LogPosition,
    pub out: mpsc::Sender<Item>,
    /// How the stream ended, for the transport.
    pub end: EndSignal,
    /// The access key the subscription was signed with, checked again at every
    /// heartbeat: a key disabled or deleted ends the stream.
    pub key: Option<Arc<dyn KeyCheck>>,
}

enum Stop {
    /// The transport went away.
    Gone,
    Overflow,
    Shutdown,
    Failed,
    Revoked,
}

impl Subscriber {
    /// Follows the log until the client goes or the stream must end; dropping `out`
    /// then lets the transport finish.
    pub async fn run(mut self) {
        match self.follow().await {
            Stop::Gone => {}
            Stop::Overflow => {
                self.end.set(EndReason::Overflow);
                metrics::counter!(FEED_OVERFLOWS).increment(1);
                tracing::info!(cursor = %self.cursor, "a slow subscriber was disconnected");
            }
            Stop::Shutdown => self.end.set(EndReason::Shutdown),
            Stop::Failed => self.end.set(EndReason::Failed),
            Stop::Revoked => self.end.set(EndReason::Revoked),
        }
    }

    async fn follow(&mut self) -> Stop {
        let mut shutdown = self.hub.shutdown_signal();
        let mut next_heartbeat = Instant::now() + self.heartbeat;
        loop {
            let mut registration = self.hub.register(&self.filter.buckets);
            // History: everything the hub handed out before this registration.
            while self.cursor < registration.at {
                let mut history = self.hub.archive().follow(self.cursor);
                let batch = match history.read(READ_BATCH).await.map_err(Into::into).and_then(decode) {
                    Ok(batch) if !batch.is_empty() => batch,
                    Ok(_) => {
                        // The archive is being replaced (a snapshot install): wait, never
                        // skip over positions not read yet.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let stopping = *shutdown.borrow();
                        if stopping {
                            return Stop::Shutdown;
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a subscriber cannot read the archive");
                        return Stop::Failed;
                    }
                };
                for event in &batch {
                    if let Err(stop) = self.offer(event).await {
                        return stop;
                    }
                }
                let stopping = *shutdown.borrow();
                if stopping {
                    return Stop::Shutdown;
                }
                if Instant::now() >= next_heartbeat {
                    if let Err(stop) = self.heartbeat(None).await {
                        return stop;
                    }
                    next_heartbeat = Instant::now() + self.heartbeat;
                }
            }
            // Live: events after the registration point, as the hub hands them over.
            loop {
                tokio::select! {
                    biased;
                    _ = crate::hub::stopped(&mut shutdown) => return Stop::Shutdown,
                    _ = self.out.closed() => return Stop::Gone,
                    event = registration.events.recv() => match event {
                        Some(event) => {
                            if let Err(stop) = self.offer(&event).await {
                                return stop;
                            }
                        }
                        // Dropped from the live set for falling behind: back to the archive.
                        None => break,
                    },
                    _ = tokio::time::sleep_until(next_heartbeat) => {
                        if let Err(stop) = self.heartbeat(Some(&mut registration.events)).await {
                            return stop;
                        }
                        next_heartbeat = Instant::now() + self.heartbeat;
                    }
                }
            }
        }
    }

    /// Delivers one event if it is new to this subscriber and passes its filter.
    async fn offer(&mut self, event: &FeedEvent) -> Result<(), Stop> {
        if event.position <= self.cursor {
            return Ok(());
        }
        self.cursor = event.position;
        // Visibility first: it follows bucket ownership through events the filter drops.
        if !self.visibility.visible(event) || !self.filter.matches(&event.event) {
            return Ok(());
        }
        let data = render(self.format, event);
        self.send(Item::Event { position: event.position, data }).await
    }

    /// Tells the client how far it has been served, so a filtered subscriber advances.
    async fn heartbeat(&mut self, live: Option<&mut mpsc::Receiver<Arc<FeedEvent>>>) -> Result<(), Stop> {
        if let Some(key) = &self.key {
            if !key.still_valid() {
                return Err(Stop::Revoked);
            }
        }
        if let Some(live) = live {
            // Everything the hub handed out up to its position is in our queue: take it
            // first, then everything up to that position has been seen.
            let handed_out = self.hub.position();
            loop {
                match live.try_recv() {
                    Ok(event) => self.offer(&event).await?,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        self.cursor = self.cursor.max(handed_out);
                        break;
                    }
                    // Dropped from the live set meanwhile: events up to `handed_out` may
                    // have passed us by, so the cursor stays where we really are.
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            }
        }
        let head = self.hub.archive().head();
        self.send(Item::Heartbeat { position: self.cursor, head }).await
    }

    async fn send(&mut self, item: Item) -> Result<(), Stop> {
        match tokio::time::timeout(self.stall, self.out.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Overflow),
        }
    }
}

/// Renders one event for a transport, once per event and format.
pub fn render(format: Format, event: &FeedEvent) -> Arc<str> {
    Arc::clone(event.rendered[format as usize].get_or_init(|| render_uncached(format, event).into()))
}

fn render_uncached(format: Format, event: &FeedEvent) -> String {
    let FeedEvent { position, envelope, event, .. } = event;
    let body = match format {
        Format::Rucket => rucket_schemas::render_event_json(*position, envelope, event),
        Format::S3 => json!({ "Records": [s3_record(*position, envelope, event, FEED_CONFIGURATION)] }),
        Format::MinioLines => {
            // MinIO keeps the `s3:` prefix in listen records, and `mc watch` relies on it.
            let mut record = s3_record(*position, envelope, event, FEED_CONFIGURATION);
            record["eventName"] = json!(event.s3_event_name());
            return json!({ "Records": [record] }).to_string();
        }
    };
    message(*position, envelope, event, body).to_string()
}

fn message(
    position: LogPosition,
    envelope: &rucket_schemas::Envelope,
    event: &StorageEvent,
    body: Value,
) -> Value {
    json!({
        "type": "event",
        "position": position.0,
        "event_id": envelope.event_id.to_string(),
        "hlc": { "time": envelope.hlc.time, "node": envelope.hlc.node },
        "time": envelope.hlc.to_rfc3339(),
        "origin_region": envelope.origin_region.as_str(),
        "event_name": event.s3_event_name(),
        "bucket": event.bucket().map(|b| b.as_str()),
        "event": body,
    })
}

#[cfg(test)]
mod tests {
    use rucket_schemas::{BucketCreated, Envelope, EventId, ObjectDeleted, ObjectKey, RegionId, VersionId};

    use super::*;

    fn feed_event(position: u64, hlc: Hlc, event: StorageEvent) -> FeedEvent {
        let envelope =
            Envelope::seal(&event, hlc, RegionId::new("us-east-1"), EventId([position as u8; 16])).unwrap();
        FeedEvent::new(LogPosition(position), envelope, event)
    }

    /// A bucket's owner is asked of the views only once they have folded the event (on a
    /// node still folding the archive it joined with, they lag): until then its events are
    /// hidden and nothing is remembered, and then its owner sees them.
    #[test]
    fn a_bucket_the_views_lack_is_looked_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let projections = Projections::open(&db).unwrap();
        let (alice, bucket) = (UserId::new("alice"), BucketName::parse("photos").unwrap());
        let removed = |position| {
            let event = StorageEvent::ObjectDeleted(ObjectDeleted {
                bucket: bucket.clone(),
                key: ObjectKey::parse("a.jpg").unwrap(),
                version_id: VersionId::null(),
                delete_marker: false,
                owner: alice.clone(),
            });
            feed_event(position, Hlc::new(position * 10, 1), event)
        };
        let mut visibility = Visibility::new(false, alice.clone(), projections.clone());
        assert!(!visibility.visible(&removed(2)), "the views have not folded the bucket yet");
        let created = StorageEvent::BucketCreated(BucketCreated {
            bucket: bucket.clone(),
            owner: alice.clone(),
            location: String::new(),
            object_lock_enabled: false,
        });
        let mut batch = db.batch();
        projections.fold(&mut batch, LogPosition(1), Hlc::new(10, 1), &created).unwrap();
        projections.set_applied(&mut batch, LogPosition(1));
        batch.commit().unwrap();
        assert!(!visibility.visible(&removed(3)), "the views are still behind this event");
        let mut batch = db.batch();
        projections.set_applied(&mut batch, LogPosition(4));
        batch.commit().unwrap();
        assert!(visibility.visible(&removed(4)), "the views now name alice as the owner");
        // Another user's subscription does not see it.
        let mut bob = Visibility::new(false, UserId::new("bob"), projections.clone());
        assert!(!bob.visible(&removed(4)));
        // Once the views have folded past an event, a bucket they lack is remembered as
        // gone: events of it stay hidden even if a later lookup would find a newer bucket.
        let mut carol = Visibility::new(false, UserId::new("carol"), projections);
        let other = BucketName::parse("gone").unwrap();
        let old_event = StorageEvent::ObjectDeleted(ObjectDeleted {
            bucket: other.clone(),
            key: ObjectKey::parse("x").unwrap(),
            version_id: VersionId::null(),
            delete_marker: false,
            owner: UserId::new("carol"),
        });
        assert!(!carol.visible(&feed_event(4, Hlc::new(40, 1), old_event)));
        assert_eq!(carol.owners.get(&other), Some(&None));
    }
}
