//! Command validation: a command and the current views in, an event or a rejection out.

use rucket_schemas::{
    BucketCreated, BucketDeleted, Command, CommandBody, ObjectCreated, ObjectDeleted, Rejection,
    StorageEvent, VersionId, WriteCondition,
};

use crate::{BucketRecord, ProjectionError, Projections, Versioning};

/// What a command becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Event(StorageEvent),
    Unchanged,
    Rejected(Rejection),
}

impl Projections {
    /// Validates `command` against the current views. Reads only; never writes.
    pub fn decide(&self, command: &Command) -> Result<Decision, ProjectionError> {
        let may_act = |bucket: &BucketRecord| command.requester_is_admin || bucket.owner == command.requester;
        let decision = match &command.body {
            CommandBody::CreateBucket { bucket, location, object_lock_enabled } => {
                match self.bucket(bucket)? {
                    Some(existing) if existing.owner == command.requester => {
                        Decision::Rejected(Rejection::BucketAlreadyOwnedByYou)
                    }
                    Some(_) => Decision::Rejected(Rejection::BucketAlreadyExists),
                    None => Decision::Event(StorageEvent::BucketCreated(BucketCreated {
                        bucket: bucket.clone(),
                        owner: command.requester.clone(),
                        location: location.clone(),
                        object_lock_enabled: *object_lock_enabled,
                    })),
                }
            }
            CommandBody::DeleteBucket { bucket } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(_) if !self.bucket_is_empty(bucket)? => Decision::Rejected(Rejection::BucketNotEmpty),
                Some(_) => {
                    Decision::Event(StorageEvent::BucketDeleted(BucketDeleted { bucket: bucket.clone() }))
                }
            },
            CommandBody::PutObject { bucket, key, operation, record, condition } => {
                match self.bucket(bucket)? {
                    None => Decision::Rejected(Rejection::NoSuchBucket),
                    Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                    Some(b) => {
                        let current = self.current_object(bucket, key)?;
                        let holds = match condition {
                            WriteCondition::Always => Ok(()),
                            WriteCondition::IfNoneMatch => match current {
                                None => Ok(()),
                                Some(_) => Err(Rejection::PreconditionFailed),
                            },
                            WriteCondition::IfMatch(etag) => match current {
                                None => Err(Rejection::NoSuchKey),
                                Some(c) if &c.etag == etag => Ok(()),
                                Some(_) => Err(Rejection::PreconditionFailed),
                            },
                        };
                        match holds {
                            Err(r) => Decision::Rejected(r),
                            Ok(()) => {
                                let mut record = record.clone();
                                if b.versioning != Versioning::Enabled {
                                    record.version_id = VersionId::null();
                                }
                                Decision::Event(StorageEvent::ObjectCreated(ObjectCreated {
                                    bucket: bucket.clone(),
                                    key: key.clone(),
                                    operation: *operation,
                                    record,
                                }))
                            }
                        }
                    }
                }
            }
            CommandBody::DeleteObject { bucket, key, version_id } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(_) => {
                    let target = match version_id {
                        Some(v) => self.version(bucket, key, v)?,
                        None => self.latest_version(bucket, key)?,
                    };
                    match target {
                        // Deleting what is not there succeeds and changes nothing.
                        None => Decision::Unchanged,
                        Some(entry) => Decision::Event(StorageEvent::ObjectDeleted(ObjectDeleted {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            version_id: entry.version_id().clone(),
                            delete_marker: false,
                        })),
                    }
                }
            },
        };
        // Delete markers only exist on versioned buckets, which this phase does not create;
        // until then a latest entry is always an object version.
        debug_assert!(!matches!(
            &decision,
            Decision::Event(StorageEvent::ObjectDeleted(ObjectDeleted { delete_marker: true, .. }))
        ));
        Ok(decision)
    }
}
