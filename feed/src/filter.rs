//! What a subscriber asked for: buckets, key prefix and suffix, and event names with `*`
//! at the last level. Parsing refuses unknown names so that a typo is an error, not a
//! silent feed of nothing.

use rucket_schemas::{BucketName, StorageEvent};

/// Every event name a filter may use: the S3 notification names (including those this
/// server does not emit yet, so that standard configurations parse) and Rucket's own.
pub const KNOWN_EVENTS: &[&str] = &[
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAccessed:Get",
    "s3:ObjectAccessed:Head",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:ReducedRedundancyLostObject",
    "s3:IntelligentTiering",
    "s3:ObjectAcl:Put",
    "s3:ObjectRetention:Put",
    "s3:ObjectLegalHold:Put",
    "rucket:BucketCreated",
    "rucket:BucketDeleted",
    "rucket:BucketVersioningSet",
    "rucket:BucketNotificationSet",
    "rucket:BucketCorsSet",
    "rucket:BucketTaggingSet",
    "rucket:BucketLifecycleSet",
    "rucket:BucketAclSet",
    "rucket:BucketOwnershipSet",
    "rucket:BucketObjectLockSet",
    "rucket:MultipartUploadCreated",
    "rucket:MultipartPartUploaded",
    "rucket:MultipartUploadAborted",
];

/// One entry of an `events` filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPattern {
    Exact(String),
    /// `s3:ObjectCreated:*` is stored as `s3:ObjectCreated:`.
    Prefix(String),
}

impl EventPattern {
    /// Parses one name; `*` may stand only for the whole last level.
    pub fn parse(name: &str) -> Result<Self, String> {
        if let Some(stem) = name.strip_suffix('*') {
            let well_formed = (stem.is_empty() || stem.ends_with(':')) && !stem.contains('*');
            if !well_formed {
                return Err(format!("event name `{name}`: `*` may only stand for the whole last level"));
            }
            if !KNOWN_EVENTS.iter().any(|known| known.starts_with(stem)) {
                return Err(format!("event name `{name}` matches no event"));
            }
            return Ok(Self::Prefix(stem.to_owned()));
        }
        if KNOWN_EVENTS.contains(&name) {
            Ok(Self::Exact(name.to_owned()))
        } else {
            Err(format!("unknown event name `{name}`"))
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(e) => e == name,
            Self::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// Whether some name matches both patterns (for the overlap rule of notifications).
    pub fn overlaps(&self, other: &Self) -> bool {
        KNOWN_EVENTS.iter().any(|name| self.matches(name) && other.matches(name))
    }
}

/// A subscriber's filter. Empty lists mean "all".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub buckets: Vec<BucketName>,
    pub prefix: String,
    pub suffix: String,
    pub events: Vec<EventPattern>,
}

impl Filter {
    pub fn matches(&self, event: &StorageEvent) -> bool {
        if !self.buckets.is_empty() && !event.bucket().is_some_and(|b| self.buckets.contains(b)) {
            return false;
        }
        if !self.events.is_empty() {
            let name = event.s3_event_name();
            if !self.events.iter().any(|p| p.matches(name)) {
                return false;
            }
        }
        if self.prefix.is_empty() && self.suffix.is_empty() {
            return true;
        }
        // Key filters apply to events about a key; bucket events have none and pass
        // only an unfiltered key.
        match event_key(event) {
            Some(key) => key.starts_with(&self.prefix) && key.ends_with(&self.suffix),
            None => false,
        }
    }
}

/// The object key an event is about, if any.
pub fn event_key(event: &StorageEvent) -> Option<&str> {
    event.key().map(|k| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_only_at_the_last_level() {
        assert_eq!(
            EventPattern::parse("s3:ObjectCreated:*").unwrap(),
            EventPattern::Prefix("s3:ObjectCreated:".into())
        );
        assert!(EventPattern::parse("*").is_ok());
        assert!(EventPattern::parse("s3:*").is_ok());
        assert!(EventPattern::parse("s3:Object*").is_err());
        assert!(EventPattern::parse("s3:*:Put").is_err());
        assert!(EventPattern::parse("s3:ObjectCreated:Putt").is_err());
        assert!(EventPattern::parse("s3:Nothing:*").is_err());
        let created = EventPattern::parse("s3:ObjectCreated:*").unwrap();
        assert!(created.matches("s3:ObjectCreated:CompleteMultipartUpload"));
        assert!(!created.matches("s3:ObjectRemoved:Delete"));
        assert!(created.overlaps(&EventPattern::parse("s3:ObjectCreated:Put").unwrap()));
        assert!(!created.overlaps(&EventPattern::parse("s3:ObjectRemoved:*").unwrap()));
    }
}
