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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rucket_log::EventArchive;
use rucket_projections::Projections;
use rucket_schemas::{BucketName, LogPosition, NotificationConfig, StorageEvent};
use serde_json::json;
use tokio::sync::watch;

use super::{rule_matches, webhook_id, WebhookTarget};
use crate::feed::hub::{read_decoded, stopped, FeedEvent};
use crate::feed::record::s3_record;

const READ_BATCH: usize = 256;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Worker {
    pub target: WebhookTarget,
    pub archive: EventArchive,
    pub projections: Projections,
    /// Where this target's cursor is kept.
    pub cursor_path: PathBuf,
    pub shutdown: watch::Receiver<bool>,
    pub client: reqwest::Client,
}

/// The cursor file of `target` under the data dir.
pub fn cursor_path(data_dir: &Path, target: &str) -> PathBuf {
    data_dir.join("notify").join(format!("{target}.cursor"))
}

/// Starts one worker per target.
pub fn start(
    targets: &[WebhookTarget],
    data_dir: &Path,
    archive: &EventArchive,
    projections: &Projections,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir.join("notify")).context("creating the notify dir")?;
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
    for target in targets {
        let worker = Worker {
            target: target.clone(),
            archive: archive.clone(),
            projections: projections.clone(),
            cursor_path: cursor_path(data_dir, &target.id),
            shutdown: shutdown.clone(),
            client: client.clone(),
        };
        tokio::spawn(async move {
            let id = worker.target.id.clone();
            if let Err(e) = worker.run().await {
                tracing::error!(target = %id, error = %format!("{e:#}"), "webhook delivery stopped");
            }
        });
    }
    Ok(())
}

impl Worker {
    async fn run(mut self) -> anyhow::Result<()> {
        let mut cursor = self.start_cursor()?;
        let labels = [("target", self.target.id.clone())];
        let mut configs: HashMap<BucketName, NotificationConfig> = HashMap::new();
        let mut head_rx = self.archive.subscribe();
        let mut backoff = Duration::from_millis(100);
        loop {
            let head = *head_rx.borrow_and_update();
            metrics::gauge!(crate::metrics::WEBHOOK_LAG_EVENTS, &labels)
                .set(head.0.saturating_sub(cursor.0) as f64);
            if cursor < head {
                match self.deliver_batch(&mut cursor, &mut configs).await {
                    Ok(true) => backoff = Duration::from_millis(100),
                    Ok(false) => return Ok(()), // stopping
                    Err(e) => {
                        // A read or cursor write failed: retry later, never skip.
                        tracing::warn!(target = %self.target.id, error = %format!("{e:#}"), retry_in = ?backoff, "webhook worker error");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped(&mut self.shutdown) => return Ok(()),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            }
            tokio::select! {
                changed = head_rx.changed() => if changed.is_err() { return Ok(()) },
                _ = stopped(&mut self.shutdown) => return Ok(()),
            }
        }
    }

    /// The stored cursor, or the head for a new target (it is told about what happens
    /// from now on). A cursor past the head (a relaxed-mode crash lost the archive's
    /// tail) is brought back to the head.
    fn start_cursor(&self) -> anyhow::Result<LogPosition> {
        let head = self.archive.head();
        match read_cursor(&self.cursor_path)? {
            Some(c) if c <= head => Ok(c),
            Some(c) => {
                tracing::warn!(target = %self.target.id, cursor = %c, %head, "webhook cursor is past the archive head; resuming at the head");
                write_cursor(&self.cursor_path, head)?;
                Ok(head)
            }
            None => {
                write_cursor(&self.cursor_path, head)?;
                Ok(head)
            }
        }
    }

    /// Delivers the next batch of events; `false` when the server stops first. The
    /// cursor is stored after each delivered event and at the end of the batch.
    async fn deliver_batch(
        &mut self,
        cursor: &mut LogPosition,
        configs: &mut HashMap<BucketName, NotificationConfig>,
    ) -> anyhow::Result<bool> {
        let archive = self.archive.clone();
        let after = *cursor;
        let batch = tokio::task::spawn_blocking(move || read_decoded(&archive, after, READ_BATCH)).await??;
        if batch.is_empty() {
            // The archive is being replaced (a snapshot install): wait, never skip.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(true);
        }
        for event in &batch {
            let records = self.records_for(event, configs)?;
            for record in &records {
                if !self.deliver(record, event).await {
                    return Ok(false);
                }
            }
            *cursor = event.position;
            if !records.is_empty() {
                write_cursor(&self.cursor_path, *cursor)?;
            }
        }
        write_cursor(&self.cursor_path, *cursor)?;
        Ok(true)
    }

    /// The records this target gets for `event`: one per matching rule.
    fn records_for(
        &self,
        event: &FeedEvent,
        configs: &mut HashMap<BucketName, NotificationConfig>,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
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
            .filter(|rule| webhook_id(&rule.arn) == Some(self.target.id.as_str()))
            .filter(|rule| rule_matches(rule, name, key.as_str()))
            .map(|rule| json!({ "Records": [s3_record(event.position, &event.envelope, &event.event, &rule.id)] }))
            .collect())
    }

    /// POSTs one record until the target takes it; `false` when the server stops first.
    async fn deliver(&mut self, record: &serde_json::Value, event: &FeedEvent) -> bool {
        let labels = [("target", self.target.id.clone())];
        let body = record.to_string();
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut request = self
                .client
                .post(&self.target.endpoint)
                .header("content-type", "application/json")
                .header("x-rucket-position", event.position.0.to_string())
                .body(body.clone());
            if let Some(token) = &self.target.auth_token {
                request = request.bearer_auth(token);
            }
            let failure = match request.send().await {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!(crate::metrics::WEBHOOK_DELIVERED, &labels).increment(1);
                    let age = time::OffsetDateTime::now_utc() - event.envelope.hlc.to_datetime();
                    metrics::gauge!(crate::metrics::WEBHOOK_LAG_SECONDS, &labels)
                        .set(age.as_seconds_f64().max(0.0));
                    return true;
                }
                Ok(r) => format!("status {}", r.status()),
                Err(e) => e.to_string(),
            };
            metrics::counter!(crate::metrics::WEBHOOK_FAILURES, &labels).increment(1);
            tracing::warn!(target = %self.target.id, position = %event.position, error = %failure, retry_in = ?backoff, "webhook delivery failed");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped(&mut self.shutdown) => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Sends S3's test event to a target after a configuration names it (best effort).
pub fn send_test_event(client: reqwest::Client, target: WebhookTarget, bucket: String) {
    tokio::spawn(async move {
        let body = json!({
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "Bucket": bucket,
            "RequestId": hex::encode_upper(rand::random::<[u8; 8]>()),
            "HostId": "rucket",
        });
        let mut request =
            client.post(&target.endpoint).header("content-type", "application/json").body(body.to_string());
        if let Some(token) = &target.auth_token {
            request = request.bearer_auth(token);
        }
        if let Err(e) = request.send().await {
            tracing::warn!(target = %target.id, error = %e, "could not send the test event");
        }
    });
}

fn read_cursor(path: &Path) -> anyhow::Result<Option<LogPosition>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(LogPosition(
            text.trim()
                .parse()
                .with_context(|| format!("{} does not hold a log position", path.display()))?,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the cursor file (write and fsync, then rename). After a crash the cursor may
/// be older than the last delivery, which redelivers (at-least-once), never skips.
fn write_cursor(path: &Path, position: LogPosition) -> anyhow::Result<()> {
    use std::io::Write as _;
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(format!("{}\n", position.0).as_bytes())?;
    file.sync_data()?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Shared state the S3 handlers need to validate and test configurations.
#[derive(Clone)]
pub struct Notifier {
    pub targets: Arc<Vec<WebhookTarget>>,
    pub client: reqwest::Client,
}
