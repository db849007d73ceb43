//! Webhook delivery: one worker per configured target follows the archive from a
//! durable cursor and POSTs every matching event as an S3 notification record,
//! retrying with backoff until the target answers 2xx. The cursor moves only past
//! delivered (or unmatched) events, so a restart loses nothing: delivery is
//! at-least-once, in log order per target.
//!
//! Which rules apply is decided with the configuration as the worker has folded it:
//! loaded from the projections the first time a bucket is seen, then updated by the
//! `BucketNotificationSet` events it reads.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rucket_log::EventArchive;
use rucket_projections::Projections;
use rucket_schemas::{BucketName, LogPosition, NotificationConfig, NotificationRule, StorageEvent};
use serde_json::json;
use tokio::sync::watch;

use crate::error::FeedError;
use crate::event::{decode, FeedEvent};
use crate::filter::EventPattern;
use crate::hub::stopped;
use crate::metrics::{WEBHOOK_DELIVERED, WEBHOOK_FAILURES, WEBHOOK_LAG_EVENTS, WEBHOOK_LAG_SECONDS};
use crate::record::s3_record;

const READ_BATCH: usize = 256;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Hands one notification to a target. The gateway implements it over HTTP; the feed
/// only decides what to deliver, in which order, and when to retry.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers `body` (a JSON `{"Records":[...]}` document) for the event at `position`;
    /// an error is retried with backoff, its text logged.
    fn deliver(&self, position: LogPosition, body: String)
        -> impl Future<Output = Result<(), String>> + Send;
}

/// The target id an ARN names, if it names a webhook.
pub fn webhook_id(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", "rucket" | "minio", "sqs", _region, id, "webhook"] if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// Whether a stored rule asks for an event named `event_name` about `key`.
pub fn rule_matches(rule: &NotificationRule, event_name: &str, key: &str) -> bool {
    key.starts_with(&rule.prefix)
        && key.ends_with(&rule.suffix)
        && rule.events.iter().filter_map(|e| EventPattern::parse(e).ok()).any(|p| p.matches(event_name))
}

pub struct Worker<D> {
    /// The id destination ARNs name.
    pub target: String,
    pub delivery: Arc<D>,
    pub archive: EventArchive,
    pub projections: Projections,
    /// Where this target's cursor is kept.
    pub cursor_path: PathBuf,
    pub shutdown: watch::Receiver<bool>,
    /// Whether this node delivers now (in a cluster, only the leader does).
    pub active: Active,
    /// In a cluster, the cursor every node can read (kept in the log): the worker that
    /// becomes active resumes from it, and the active one records its progress in it.
    pub shared: Option<Arc<dyn SharedCursor>>,
    /// Whether records were delivered since the shared cursor was last told.
    pub delivered_since_shared: bool,
    /// When the shared cursor was last told.
    pub shared_at: Option<tokio::time::Instant>,
}

/// A delivery cursor kept where every node of a cluster reads it (the log).
pub trait SharedCursor: Send + Sync + 'static {
    /// The position up to which `target` was last recorded as delivered.
    fn load(&self, target: &str) -> Option<LogPosition>;
    /// Records that `target` was delivered every event up to `position` (best effort:
    /// a failure is logged and the next record covers it).
    fn save(&self, target: &str, position: LogPosition)
        -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Who delivers in a cluster: whether this node is active (the leader) and the cursor
/// the nodes share. A single node is always active and shares nothing.
#[derive(Clone)]
pub struct Gate {
    pub active: Active,
    pub shared: Option<Arc<dyn SharedCursor>>,
}

/// How often the active worker records its progress in the shared cursor (at most).
const SHARE_EVERY: Duration = Duration::from_secs(5);

/// Whether a worker should deliver now.
pub type Active = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// How often an inactive worker looks again.
const INACTIVE_PAUSE: Duration = Duration::from_millis(250);

/// The cursor file of `target` under the data dir.
pub fn cursor_path(data_dir: &Path, target: &str) -> PathBuf {
    data_dir.join("notify").join(format!("{target}.cursor"))
}

/// Starts one worker per target: `(id, delivery)` pairs.
pub fn start<D: Deliver>(
    targets: Vec<(String, Arc<D>)>,
    data_dir: &Path,
    archive: &EventArchive,
    projections: &Projections,
    shutdown: watch::Receiver<bool>,
    gate: Gate,
) -> Result<(), FeedError> {
    let dir = data_dir.join("notify");
    std::fs::create_dir_all(&dir).map_err(|source| FeedError::Cursor { path: dir, source })?;
    for (target, delivery) in targets {
        let worker = Worker {
            cursor_path: cursor_path(data_dir, &target),
            target,
            delivery,
            archive: archive.clone(),
            projections: projections.clone(),
            shutdown: shutdown.clone(),
            active: Arc::clone(&gate.active),
            shared: gate.shared.clone(),
            delivered_since_shared: false,
            shared_at: None,
        };
        tokio::spawn(async move {
            let id = worker.target.clone();
            if let Err(e) = worker.run().await {
                tracing::error!(target = %id, error = %e, "webhook delivery stopped");
            }
        });
    }
    Ok(())
}

impl<D: Deliver> Worker<D> {
    pub async fn run(mut self) -> Result<(), FeedError> {
        let start = self.start_cursor()?;
        let labels = [("target", self.target.clone())];
        let mut configs: HashMap<BucketName, NotificationConfig> = HashMap::new();
        let mut follower = self.archive.follow(start);
        // Every event up to here was delivered (or matched nothing), and `configs` holds
        // the notification rules as of here: a retry resumes here, never elsewhere.
        let mut done = start;
        let mut backoff = Duration::from_millis(100);
        let mut was_active = false;
        loop {
            metrics::gauge!(WEBHOOK_LAG_EVENTS, &labels)
                .set(self.archive.head().0.saturating_sub(done.0) as f64);
            if !(self.active)() {
                if was_active {
                    // Stepping down: what this node delivered last is recorded for the
                    // next leader (the proposal is forwarded to it).
                    self.share(done, true);
                }
                was_active = false;
                tokio::select! {
                    _ = tokio::time::sleep(INACTIVE_PAUSE) => continue,
                    _ = stopped(&mut self.shutdown) => return Ok(()),
                }
            }
            if !was_active {
                was_active = true;
                self.shared_at = Some(tokio::time::Instant::now());
            }
            // What another node delivered (an old leader, whose last records may apply
            // here after this node took over) is not delivered again. Any recorded value
            // was really delivered, so moving forward to it is safe.
            if let Some(recorded) = self.shared.as_ref().and_then(|s| s.load(&self.target)) {
                if recorded > done && recorded <= self.archive.head() {
                    tracing::info!(target = %self.target, from = %done, to = %recorded, "resuming webhook delivery where the cluster recorded it");
                    done = recorded;
                    follower.seek(done);
                    configs.clear();
                    if let Err(e) = write_cursor(&self.cursor_path, done) {
                        tracing::warn!(target = %self.target, error = %e, "could not write the webhook cursor file");
                    }
                }
            }
            self.share(done, false);
            let due = self.shared_at.unwrap_or_else(tokio::time::Instant::now) + SHARE_EVERY;
            let pending = self.shared.is_some() && self.delivered_since_shared;
            let batch = tokio::select! {
                batch = follower.next(READ_BATCH) => batch,
                // While a record is owed, wake often enough to notice losing leadership.
                _ = tokio::time::sleep_until(due.min(tokio::time::Instant::now() + INACTIVE_PAUSE)), if pending => continue,
                _ = stopped(&mut self.shutdown) => return Ok(()),
            };
            let delivered = match batch.map_err(FeedError::from).and_then(decode) {
                Ok(batch) => self.deliver_batch(&batch, &mut configs, &mut done).await,
                Err(e) => Err(e),
            };
            match delivered {
                Ok(true) => backoff = Duration::from_millis(100),
                Ok(false) => return Ok(()), // stopping
                Err(e) if e.is_closed() => return Ok(()),
                Err(e) => {
                    // A read or cursor write failed: retry from the last event handled.
                    tracing::warn!(target = %self.target, error = %e, retry_in = ?backoff, "webhook worker error");
                    follower.seek(done);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut self.shutdown) => return Ok(()),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The stored cursor, or the head for a new target (it is told about what happens
    /// from now on). A cursor past the head (a relaxed-mode crash lost the archive's
    /// tail) is brought back to the head. In a cluster, the later of this node's file
    /// and the cluster's record.
    fn start_cursor(&self) -> Result<LogPosition, FeedError> {
        let head = self.archive.head();
        let file = read_cursor(&self.cursor_path)?;
        // (A recorded position past this archive's head is no position here.)
        let shared = self.shared.as_ref().and_then(|s| s.load(&self.target)).filter(|s| *s <= head);
        let stored = match (file, shared) {
            (Some(f), Some(s)) => Some(f.max(s)),
            (f, s) => f.or(s),
        };
        match stored {
            Some(c) if c <= head => Ok(c),
            Some(c) => {
                tracing::warn!(target = %self.target, cursor = %c, %head, "webhook cursor is past the archive head; resuming at the head");
                write_cursor(&self.cursor_path, head)?;
                Ok(head)
            }
            None => {
                write_cursor(&self.cursor_path, head)?;
                Ok(head)
            }
        }
    }

    /// Delivers a batch of events, moving `done` past each one handled; `false` when the
    /// server stops first. The cursor file is written after each delivered event and at
    /// the end of the batch.
    async fn deliver_batch(
        &mut self,
        batch: &[FeedEvent],
        configs: &mut HashMap<BucketName, NotificationConfig>,
        done: &mut LogPosition,
    ) -> Result<bool, FeedError> {
        let stored = *done;
        for event in batch {
            let records = self.records_for(event, configs)?;
            for record in &records {
                if !self.deliver(record, event).await {
                    if *done > stored {
                        write_cursor(&self.cursor_path, *done)?;
                    }
                    return Ok(false);
                }
            }
            *done = event.position;
            if !records.is_empty() {
                write_cursor(&self.cursor_path, event.position)?;
                // A long batch (a slow target) records its progress as it goes.
                self.share(*done, false);
            }
        }
        write_cursor(&self.cursor_path, *done)?;
        Ok(true)
    }

    /// Records `done` in the shared cursor when records were delivered since the last
    /// record and `SHARE_EVERY` has passed (or `now`). The record is itself an event,
    /// which delivers nothing, so it never calls for another.
    fn share(&mut self, done: LogPosition, now: bool) {
        let Some(shared) = &self.shared else { return };
        if !self.delivered_since_shared {
            return;
        }
        let due = self.shared_at.is_none_or(|at| at + SHARE_EVERY <= tokio::time::Instant::now());
        if now || due {
            tokio::spawn(shared.save(&self.target, done));
            self.shared_at = Some(tokio::time::Instant::now());
            self.delivered_since_shared = false;
        }
    }

    /// The records this target gets for `event`: one per matching rule.
    fn records_for(
        &self,
        event: &FeedEvent,
        configs: &mut HashMap<BucketName, NotificationConfig>,
    ) -> Result<Vec<serde_json::Value>, FeedError> {
        // Bucket notifications never carry access key events.
        let Some(bucket) = event.event.bucket() else { return Ok(Vec::new()) };
        match &event.event {
            StorageEvent::BucketNotificationSet(e) => {
                configs.insert(bucket.clone(), e.configuration.clone());
                return Ok(Vec::new());
            }
            StorageEvent::BucketDeleted(_) | StorageEvent::BucketCreated(_) => {
                configs.insert(bucket.clone(), NotificationConfig::default());
                return Ok(Vec::new());
            }
            _ => {}
        }
        let Some(key) = event.event.key() else { return Ok(Vec::new()) };
        let name = event.event.s3_event_name();
        if !name.starts_with("s3:") {
            return Ok(Vec::new());
        }
        if !configs.contains_key(bucket) {
            configs.insert(bucket.clone(), self.projections.notification(bucket)?);
        }
        let config = &configs[bucket];
        Ok(config
            .rules
            .iter()
            .filter(|rule| webhook_id(&rule.arn) == Some(self.target.as_str()))
            .filter(|rule| rule_matches(rule, name, key.as_str()))
            .map(|rule| json!({ "Records": [s3_record(event.position, &event.envelope, &event.event, &rule.id)] }))
            .collect())
    }

    /// Delivers one record until the target takes it; `false` when the server stops first.
    async fn deliver(&mut self, record: &serde_json::Value, event: &FeedEvent) -> bool {
        let labels = [("target", self.target.clone())];
        let body = record.to_string();
        let mut backoff = Duration::from_millis(100);
        loop {
            let delivered = tokio::select! {
                delivered = self.delivery.deliver(event.position, body.clone()) => delivered,
                _ = stopped(&mut self.shutdown) => return false,
            };
            let failure = match delivered {
                Ok(()) => {
                    self.delivered_since_shared = true;
                    metrics::counter!(WEBHOOK_DELIVERED, &labels).increment(1);
                    let age = time::OffsetDateTime::now_utc() - event.envelope.hlc.to_datetime();
                    metrics::gauge!(WEBHOOK_LAG_SECONDS, &labels).set(age.as_seconds_f64().max(0.0));
                    return true;
                }
                Err(failure) => failure,
            };
            metrics::counter!(WEBHOOK_FAILURES, &labels).increment(1);
            tracing::warn!(target = %self.target, position = %event.position, error = %failure, retry_in = ?backoff, "webhook delivery failed");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped(&mut self.shutdown) => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn read_cursor(path: &Path) -> Result<Option<LogPosition>, FeedError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(LogPosition(
            text.trim().parse().map_err(|_| FeedError::CursorText { path: path.to_owned() })?,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FeedError::Cursor { path: path.to_owned(), source }),
    }
}

/// Replaces the cursor file (write and fsync, then rename). After a crash the cursor may
/// be older than the last delivery, which redelivers (at-least-once), never skips.
fn write_cursor(path: &Path, position: LogPosition) -> Result<(), FeedError> {
    use std::io::Write as _;
    let temp = path.with_extension("tmp");
    let io = |source| FeedError::Cursor { path: path.to_owned(), source };
    let mut file = std::fs::File::create(&temp).map_err(io)?;
    file.write_all(format!("{}\n", position.0).as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}
