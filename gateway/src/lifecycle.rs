//! Lifecycle: bucket configurations (Put/Get/DeleteBucketLifecycleConfiguration, validated
//! as S3 does) and the worker that carries them out. The worker proposes ordinary
//! commands (`LifecycleExpire`, `AbortMultipartUpload`), so its deletions are events like
//! any other: replicated, replayed and fed to subscribers.
//!
//! Days are S3's: an object created at `t` with `Days: n` expires at the first midnight
//! UTC at or after `t + n days`. The length of a day is a setting (`lifecycle_day_secs`)
//! so that tests need not wait for one.

use std::sync::Arc;
use std::time::Duration;

use rucket_log::Node;
use rucket_projections::{Projections, VersionEntry};
use rucket_schemas::{
    BucketName, Command, CommandBody, EventId, ExpireAction, Hlc, LifecycleConfig, LifecycleFilterForm,
    LifecycleRule, ObjectKey, Outcome, RegionId, Tags, UserId, VersionId,
};
use s3s::dto::{self, BucketLifecycleConfiguration, ExpirationStatus};
use s3s::{S3Error, S3ErrorCode, S3Result};
use tokio::sync::watch;

use rucket_log::Clock;

const MAX_RULES: usize = 1000;
/// The requester lifecycle commands are proposed as.
pub const LIFECYCLE_USER: &str = "rucket-lifecycle";

fn malformed(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, message.to_owned())
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

fn positive_days(value: Option<i32>, what: &str) -> S3Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(d) if d > 0 => Ok(Some(d as u32)),
        Some(_) => Err(invalid(format!("'{what}' in a lifecycle rule must be a positive integer"))),
    }
}

fn tag_pairs(tags: impl IntoIterator<Item = dto::Tag>) -> S3Result<Tags> {
    let mut out = Tags::new();
    for tag in tags {
        let key = tag.key.ok_or_else(|| malformed("A lifecycle Tag needs a Key"))?;
        if out.insert(key, tag.value.unwrap_or_default()).is_some() {
            return Err(invalid("Duplicate Tag Keys are not allowed.".into()));
        }
    }
    Ok(out)
}

fn size(value: Option<i64>, what: &str) -> S3Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) if v >= 0 => Ok(Some(v as u64)),
        Some(_) => Err(invalid(format!("{what} must not be negative"))),
    }
}

/// Validates a PutBucketLifecycleConfiguration body and converts it.
pub fn from_s3(config: BucketLifecycleConfiguration) -> S3Result<LifecycleConfig> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(malformed("A lifecycle configuration has 1 to 1000 rules"));
    }
    let mut rules: Vec<LifecycleRule> = Vec::new();
    for rule in config.rules {
        if rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
            || rule.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
        {
            return Err(crate::errors::not_implemented("Lifecycle transitions to other storage classes"));
        }
        let id = rule.id.filter(|i| !i.is_empty()).unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
        if id.chars().count() > 255 {
            return Err(invalid("ID length should not exceed allowed limit of 255".into()));
        }
        if rules.iter().any(|r| r.id == id) {
            return Err(invalid("Rule ID must be unique. Found same ID for more than one rule".into()));
        }
        let enabled = match rule.status.as_str() {
            ExpirationStatus::ENABLED => true,
            ExpirationStatus::DISABLED => false,
            _ => return Err(malformed("A rule's Status is Enabled or Disabled")),
        };
        let mut out = LifecycleRule { id, enabled, ..LifecycleRule::default() };
        match (rule.prefix, rule.filter) {
            (Some(_), Some(_)) => return Err(malformed("A rule has a Filter or a Prefix, not both")),
            (Some(prefix), None) => {
                out.filter_form = LifecycleFilterForm::Legacy;
                out.prefix = prefix;
            }
            (None, None) => out.filter_form = LifecycleFilterForm::Single,
            (None, Some(filter)) => {
                let conditions = [
                    filter.prefix.is_some(),
                    filter.tag.is_some(),
                    filter.object_size_greater_than.is_some(),
                    filter.object_size_less_than.is_some(),
                    filter.and.is_some(),
                ];
                if conditions.iter().filter(|c| **c).count() > 1 {
                    return Err(malformed("A Filter has one condition; combine several with And"));
                }
                if let Some(and) = filter.and {
                    out.filter_form = LifecycleFilterForm::And;
                    out.prefix = and.prefix.unwrap_or_default();
                    out.tags = tag_pairs(and.tags.unwrap_or_default())?;
                    out.size_greater_than = size(and.object_size_greater_than, "ObjectSizeGreaterThan")?;
                    out.size_less_than = size(and.object_size_less_than, "ObjectSizeLessThan")?;
                } else {
                    out.filter_form = LifecycleFilterForm::Single;
                    out.prefix = filter.prefix.unwrap_or_default();
                    out.tags = tag_pairs(filter.tag)?;
                    out.size_greater_than = size(filter.object_size_greater_than, "ObjectSizeGreaterThan")?;
                    out.size_less_than = size(filter.object_size_less_than, "ObjectSizeLessThan")?;
                }
            }
        }
        if let (Some(gt), Some(lt)) = (out.size_greater_than, out.size_less_than) {
            if gt >= lt {
                return Err(invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into()));
            }
        }
        if let Some(expiration) = rule.expiration {
            let marker = expiration.expired_object_delete_marker.unwrap_or(false);
            let given = [
                expiration.days.is_some(),
                expiration.date.is_some(),
                expiration.expired_object_delete_marker.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(malformed(
                    "An Expiration has exactly one of Days, Date and ExpiredObjectDeleteMarker",
                ));
            }
            out.expiration_days = positive_days(expiration.days, "Days")?;
            if let Some(date) = expiration.date {
                let date: time::OffsetDateTime = date.into();
                if date.time() != time::Time::MIDNIGHT || date.offset() != time::UtcOffset::UTC {
                    return Err(invalid("'Date' must be at midnight GMT".into()));
                }
                out.expiration_date = Some(date.unix_timestamp());
            }
            if marker && !out.tags.is_empty() {
                return Err(invalid("ExpiredObjectDeleteMarker cannot be specified with tags".into()));
            }
            out.expired_object_delete_marker = marker;
        }
        if let Some(noncurrent) = rule.noncurrent_version_expiration {
            out.noncurrent_days = positive_days(noncurrent.noncurrent_days, "NoncurrentDays")?;
            if out.noncurrent_days.is_none() {
                return Err(malformed("NoncurrentVersionExpiration needs NoncurrentDays"));
            }
            out.newer_noncurrent_versions = match noncurrent.newer_noncurrent_versions {
                None => None,
                Some(n) if (1..=100).contains(&n) => Some(n as u32),
                Some(_) => return Err(invalid("NewerNoncurrentVersions must be from 1 to 100".into())),
            };
        }
        if let Some(abort) = rule.abort_incomplete_multipart_upload {
            out.abort_incomplete_days = positive_days(abort.days_after_initiation, "DaysAfterInitiation")?;
            if out.abort_incomplete_days.is_none() {
                return Err(malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation"));
            }
            if !out.tags.is_empty() {
                return Err(invalid("AbortIncompleteMultipartUpload cannot be specified with tags".into()));
            }
        }
        let has_action = out.expiration_days.is_some()
            || out.expiration_date.is_some()
            || out.expired_object_delete_marker
            || out.noncurrent_days.is_some()
            || out.abort_incomplete_days.is_some();
        if !has_action {
            return Err(malformed("At least one action needs to be specified in a rule"));
        }
        rules.push(out);
    }
    Ok(LifecycleConfig { rules })
}

/// Renders a stored configuration as S3 returns it.
pub fn to_s3(config: &LifecycleConfig) -> Vec<dto::LifecycleRule> {
    config.rules.iter().map(rule_to_s3).collect()
}

fn rule_to_s3(r: &LifecycleRule) -> dto::LifecycleRule {
    let tags: Vec<dto::Tag> =
        r.tags.iter().map(|(k, v)| dto::Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect();
    let gt = r.size_greater_than.map(|v| v as i64);
    let lt = r.size_less_than.map(|v| v as i64);
    let (prefix, filter) = match r.filter_form {
        LifecycleFilterForm::Legacy => (Some(r.prefix.clone()), None),
        LifecycleFilterForm::And => (
            None,
            Some(dto::LifecycleRuleFilter {
                and: Some(dto::LifecycleRuleAndOperator {
                    object_size_greater_than: gt,
                    object_size_less_than: lt,
                    prefix: Some(r.prefix.clone()),
                    tags: (!tags.is_empty()).then_some(tags),
                }),
                ..Default::default()
            }),
        ),
        LifecycleFilterForm::Single => (
            None,
            Some(dto::LifecycleRuleFilter {
                prefix: (tags.is_empty() && gt.is_none() && lt.is_none()).then(|| r.prefix.clone()),
                tag: tags.into_iter().next(),
                object_size_greater_than: gt,
                object_size_less_than: lt,
                ..Default::default()
            }),
        ),
    };
    let expiration = (r.expiration_days.is_some()
        || r.expiration_date.is_some()
        || r.expired_object_delete_marker)
        .then(|| dto::LifecycleExpiration {
            days: r.expiration_days.map(|d| d as i32),
            date: r
                .expiration_date
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .map(dto::Timestamp::from),
            expired_object_delete_marker: r.expired_object_delete_marker.then_some(true),
        });
    dto::LifecycleRule {
        abort_incomplete_multipart_upload: r
            .abort_incomplete_days
            .map(|d| dto::AbortIncompleteMultipartUpload { days_after_initiation: Some(d as i32) }),
        expiration,
        filter,
        id: Some(r.id.clone()),
        noncurrent_version_expiration: r.noncurrent_days.map(|d| dto::NoncurrentVersionExpiration {
            noncurrent_days: Some(d as i32),
            newer_noncurrent_versions: r.newer_noncurrent_versions.map(|n| n as i32),
        }),
        noncurrent_version_transitions: None,
        prefix,
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        transitions: None,
    }
}

/// When something stamped `from` and given `days` is due: the first day boundary at or
/// after `from + days` (a midnight UTC for real days).
pub fn due(from_secs: i64, days: u32, day_secs: u64) -> i64 {
    let day = day_secs.max(1) as i64;
    let at = from_secs + i64::from(days) * day;
    at.div_euclid(day) * day + if at.rem_euclid(day) == 0 { 0 } else { day }
}

fn secs(hlc: Hlc) -> i64 {
    hlc.unix_millis().div_euclid(1000)
}

/// Whether `rule`'s filter takes a version of `key`: `size` is `None` for a delete marker
/// (which no size or tag condition takes); `tags` is called only when the rule names tags.
fn takes<E>(
    rule: &LifecycleRule,
    key: &str,
    size: Option<u64>,
    tags: &mut dyn FnMut() -> Result<Tags, E>,
) -> Result<bool, E> {
    if !key.starts_with(&rule.prefix) {
        return Ok(false);
    }
    let Some(size) = size else {
        return Ok(rule.tags.is_empty() && rule.size_greater_than.is_none() && rule.size_less_than.is_none());
    };
    if rule.size_greater_than.is_some_and(|gt| size <= gt) || rule.size_less_than.is_some_and(|lt| size >= lt)
    {
        return Ok(false);
    }
    if rule.tags.is_empty() {
        return Ok(true);
    }
    let tags = tags()?;
    Ok(rule.tags.iter().all(|(k, v)| tags.get(k) == Some(v)))
}

/// S3's `x-amz-expiration` for a current version of `key` (`size` bytes, created at
/// `created`): the earliest expiry among the enabled rules whose Expiration (Days or Date)
/// takes it, as `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="rule1"`.
///
/// Days here are always S3's calendar days, whatever `lifecycle_day_secs` says: the header
/// names the date S3 would, as Ceph's gateway does under its debug interval (a shortened
/// day is for tests of the worker).
pub fn expiration_header<E>(
    config: &LifecycleConfig,
    key: &str,
    size: u64,
    created: Hlc,
    mut tags: impl FnMut() -> Result<Tags, E>,
) -> Result<Option<String>, E> {
    let mut earliest: Option<(i64, &str)> = None;
    for rule in config.rules.iter().filter(|r| r.enabled) {
        let due_at = match (rule.expiration_days, rule.expiration_date) {
            (Some(days), _) => due(secs(created), days, 86_400),
            (None, Some(date)) => date,
            _ => continue,
        };
        if earliest.is_some_and(|(at, _)| at <= due_at) || !takes(rule, key, Some(size), &mut tags)? {
            continue;
        }
        earliest = Some((due_at, &rule.id));
    }
    let Some((at, id)) = earliest else { return Ok(None) };
    let Ok(date) = time::OffsetDateTime::from_unix_timestamp(at) else { return Ok(None) };
    let mut text = Vec::new();
    if dto::Timestamp::from(date).format(dto::TimestampFormat::HttpDate, &mut text).is_err() {
        return Ok(None);
    }
    // A rule id is any text of up to 255 characters; a header value is visible ASCII.
    let id: String = id
        .bytes()
        .map(|b| match b {
            b'"' | b'%' => format!("%{b:02X}"),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Ok(Some(format!("expiry-date=\"{}\", rule-id=\"{id}\"", String::from_utf8_lossy(&text))))
}

/// Lifecycle settings.
#[derive(Clone, Copy, Debug)]
pub struct LifecycleSettings {
    /// How often the worker looks for due work.
    pub interval: Duration,
    /// The length of a lifecycle day.
    pub day: Duration,
}

/// The worker: every `interval`, each bucket with a configuration is scanned and due
/// expirations and aborts are proposed.
pub struct Worker {
    pub projections: Projections,
    pub node: Arc<Node>,
    pub collector: crate::gc::Collector,
    pub clock: Arc<Clock>,
    pub region: RegionId,
    pub settings: LifecycleSettings,
    pub shutdown: watch::Receiver<bool>,
}

impl Worker {
    pub fn start(self) {
        tokio::spawn(self.run());
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = rucket_feed::stopped(&mut self.shutdown) => return,
            }
            // One cluster, one worker: the leader's (it moves with leadership).
            if !self.node.is_leader() {
                continue;
            }
            let projections = self.projections.clone();
            let day_secs = self.settings.day.as_secs().max(1);
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let work = tokio::task::spawn_blocking(move || plan(&projections, now, day_secs)).await;
            let commands = match work {
                Ok(Ok(commands)) => commands,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "lifecycle scan failed");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "lifecycle scan panicked");
                    continue;
                }
            };
            for body in commands {
                self.propose(body).await;
            }
        }
    }

    async fn propose(&self, body: CommandBody) {
        let command = Command {
            hlc: self.clock.now(),
            event_id: EventId(rand::random()),
            origin_region: self.region.clone(),
            requester: UserId::new(LIFECYCLE_USER),
            requester_is_admin: true,
            body,
        };
        match self.node.propose(command).await {
            Ok(Outcome::Applied { released_blobs, .. }) => {
                metrics::counter!(crate::metrics::LIFECYCLE_ACTIONS).increment(1);
                if !released_blobs.is_empty() {
                    self.collector.wake();
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a lifecycle command was not applied"),
        }
    }
}

/// The commands due at `now` (Unix seconds) under every bucket's configuration.
pub fn plan(projections: &Projections, now: i64, day_secs: u64) -> anyhow::Result<Vec<CommandBody>> {
    let mut commands = Vec::new();
    for bucket in projections.buckets()? {
        let Some(config) = projections.lifecycle(&bucket.name)? else { continue };
        let rules: Vec<&LifecycleRule> = config.rules.iter().filter(|r| r.enabled).collect();
        if rules.is_empty() {
            continue;
        }
        plan_bucket(projections, &bucket.name, &rules, now, day_secs, &mut commands)?;
    }
    Ok(commands)
}

fn plan_bucket(
    projections: &Projections,
    bucket: &BucketName,
    rules: &[&LifecycleRule],
    now: i64,
    day_secs: u64,
    commands: &mut Vec<CommandBody>,
) -> anyhow::Result<()> {
    let expire = |key: &ObjectKey, entry: &VersionEntry, action: ExpireAction| CommandBody::LifecycleExpire {
        bucket: bucket.clone(),
        key: key.clone(),
        version_id: entry.version_id().clone(),
        expected: entry.hlc_timestamp(),
        action,
    };
    projections.for_each_history(bucket, |key, history| {
        let applies = |rule: &LifecycleRule,
                       entry: &VersionEntry|
         -> Result<bool, rucket_projections::ProjectionError> {
            let (size, hlc) = match entry {
                VersionEntry::Object(record) => (Some(record.size), record.hlc_timestamp),
                VersionEntry::DeleteMarker { hlc_timestamp, .. } => (None, *hlc_timestamp),
            };
            takes(rule, key.as_str(), size, &mut || projections.version_tags(bucket, key, hlc))
        };
        let Some(current) = history.first() else { return Ok(()) };
        // The current version.
        match current {
            VersionEntry::Object(record) => {
                for rule in rules {
                    let due_at = match (rule.expiration_days, rule.expiration_date) {
                        (Some(days), _) => Some(due(secs(record.hlc_timestamp), days, day_secs)),
                        (None, Some(date)) => Some(date),
                        _ => None,
                    };
                    if due_at.is_some_and(|d| now >= d) && applies(rule, current)? {
                        let marker = VersionId::new(hex::encode(rand::random::<[u8; 16]>()));
                        commands.push(expire(
                            key,
                            current,
                            ExpireAction::Current { marker_version_id: marker },
                        ));
                        break;
                    }
                }
            }
            VersionEntry::DeleteMarker { .. } if history.len() == 1 => {
                if rules.iter().any(|r| r.expired_object_delete_marker && key.as_str().starts_with(&r.prefix))
                {
                    commands.push(expire(key, current, ExpireAction::Version));
                }
            }
            VersionEntry::DeleteMarker { .. } => {}
        }
        // Noncurrent versions: each became noncurrent when the next newer one was made.
        for (i, entry) in history.iter().enumerate().skip(1) {
            let since = secs(history[i - 1].hlc_timestamp());
            let rank = (i - 1) as u32; // 0: the newest noncurrent version
            for rule in rules {
                let Some(days) = rule.noncurrent_days else { continue };
                if rule.newer_noncurrent_versions.is_some_and(|keep| rank < keep) {
                    continue;
                }
                if now >= due(since, days, day_secs) && applies(rule, entry)? {
                    commands.push(expire(key, entry, ExpireAction::Version));
                    break;
                }
            }
        }
        Ok(())
    })?;
    for upload in projections.uploads_in(bucket)? {
        let due_now = rules.iter().any(|rule| {
            rule.abort_incomplete_days.is_some_and(|days| {
                upload.key.as_str().starts_with(&rule.prefix)
                    && now >= due(secs(upload.initiated), days, day_secs)
            })
        });
        if due_now {
            commands.push(CommandBody::AbortMultipartUpload {
                bucket: bucket.clone(),
                key: upload.key.clone(),
                upload_id: upload.upload_id.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_up_to_the_next_day_boundary() {
        let day = 86_400;
        // Created at 10:00 on day 100, one day: due at midnight starting day 102.
        assert_eq!(due(100 * day + 36_000, 1, day as u64), 102 * day);
        // Created exactly at midnight: due exactly one day later.
        assert_eq!(due(100 * day, 1, day as u64), 101 * day);
        // Test days of one second.
        assert_eq!(due(1_000, 2, 1), 1_002);
    }

    #[test]
    fn the_expiration_header_names_the_earliest_rule_that_takes_the_version() {
        let day = 86_400_i64;
        // 2021-01-01 10:00 UTC.
        let created = Hlc::new(((18_628 * day + 36_000) as u64) << 32, 0);
        let days = |id: &str, prefix: &str, n: u32| LifecycleRule {
            id: id.into(),
            enabled: true,
            prefix: prefix.into(),
            expiration_days: Some(n),
            ..LifecycleRule::default()
        };
        let tagged = LifecycleRule {
            tags: [("temp".to_owned(), "yes".to_owned())].into_iter().collect(),
            ..days("tag \"q\" é", "", 1)
        };
        let off = LifecycleRule { enabled: false, ..days("off", "", 1) };
        let config =
            LifecycleConfig { rules: vec![off, days("logs", "logs/", 3), tagged, days("all", "", 2)] };
        let header = |key: &str, tags: &[(&str, &str)]| {
            let tags: Tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            expiration_header::<()>(&config, key, 10, created, || Ok(tags.clone())).unwrap()
        };
        assert_eq!(
            header("logs/x", &[]).unwrap(),
            r#"expiry-date="Mon, 04 Jan 2021 00:00:00 GMT", rule-id="all""#
        );
        assert_eq!(
            header("logs/x", &[("temp", "yes")]).unwrap(),
            r#"expiry-date="Sun, 03 Jan 2021 00:00:00 GMT", rule-id="tag %22q%22 %C3%A9""#
        );
        let only_logs = LifecycleConfig { rules: vec![days("logs", "logs/", 3)] };
        assert_eq!(expiration_header::<()>(&only_logs, "other", 10, created, || Ok(Tags::new())), Ok(None));
    }

    #[test]
    fn a_filter_takes_by_prefix_size_and_tags_and_markers_only_without_conditions() {
        let sized = LifecycleRule {
            prefix: "tmp/".into(),
            size_greater_than: Some(10),
            size_less_than: Some(100),
            ..LifecycleRule::default()
        };
        let no_tags = &mut || -> Result<Tags, ()> { panic!("no tag condition, no tag read") };
        assert_eq!(takes(&sized, "tmp/a", Some(50), no_tags), Ok(true));
        assert_eq!(takes(&sized, "tmp/a", Some(10), no_tags), Ok(false));
        assert_eq!(takes(&sized, "tmp/a", Some(100), no_tags), Ok(false));
        assert_eq!(takes(&sized, "other", Some(50), no_tags), Ok(false));
        assert_eq!(takes(&sized, "tmp/a", None, no_tags), Ok(false));
        let plain = LifecycleRule { prefix: "tmp/".into(), ..LifecycleRule::default() };
        assert_eq!(takes(&plain, "tmp/a", None, no_tags), Ok(true));
        let tagged = LifecycleRule {
            tags: [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())].into_iter().collect(),
            ..LifecycleRule::default()
        };
        let with = |pairs: &[(&str, &str)]| {
            let tags: Tags = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            takes::<()>(&tagged, "k", Some(1), &mut || Ok(tags.clone()))
        };
        assert_eq!(with(&[("a", "1"), ("b", "2"), ("c", "3")]), Ok(true));
        assert_eq!(with(&[("a", "1")]), Ok(false));
        assert_eq!(with(&[("a", "1"), ("b", "3")]), Ok(false));
    }

    fn rule(f: impl FnOnce(&mut dto::LifecycleRule)) -> BucketLifecycleConfiguration {
        let mut rule = dto::LifecycleRule {
            abort_incomplete_multipart_upload: None,
            expiration: Some(dto::LifecycleExpiration { days: Some(1), ..Default::default() }),
            filter: Some(dto::LifecycleRuleFilter { prefix: Some("tmp/".into()), ..Default::default() }),
            id: Some("r".into()),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            transitions: None,
        };
        f(&mut rule);
        BucketLifecycleConfiguration { rules: vec![rule] }
    }

    #[test]
    fn validation_follows_s3() {
        let ok = from_s3(rule(|_| {})).unwrap();
        assert_eq!(ok.rules[0].expiration_days, Some(1));
        assert_eq!(from_s3(BucketLifecycleConfiguration { rules: to_s3(&ok) }).unwrap(), ok);
        let code = |c: BucketLifecycleConfiguration| from_s3(c).unwrap_err().code().clone();
        assert_eq!(
            code(rule(
                |r| r.expiration = Some(dto::LifecycleExpiration { days: Some(0), ..Default::default() })
            )),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(code(rule(|r| r.expiration = None)), S3ErrorCode::MalformedXML);
        assert_eq!(code(rule(|r| r.prefix = Some("x".into()))), S3ErrorCode::MalformedXML);
        assert_eq!(
            code(rule(|r| r.status = ExpirationStatus::from("Sometimes".to_owned()))),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            code(rule(
                |r| r.transitions = Some(vec![dto::Transition { days: Some(30), ..Default::default() }])
            )),
            S3ErrorCode::NotImplemented
        );
        let mut two = rule(|_| {});
        two.rules.push(two.rules[0].clone());
        assert_eq!(code(two), S3ErrorCode::InvalidArgument);
        let date = time::macros::datetime!(2030-01-01 12:00 UTC);
        assert_eq!(
            code(rule(|r| r.expiration =
                Some(dto::LifecycleExpiration { date: Some(date.into()), ..Default::default() }))),
            S3ErrorCode::InvalidArgument
        );
    }
}
