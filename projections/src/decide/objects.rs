//! Decides the object commands: puts (a copy arrives as a put of the copied record), the
//! delete of a key, of a named version or of a delete marker, and lifecycle expirations.

use rucket_schemas::{
    BucketName, CreateOperation, ExpireAction, Hlc, ObjectCreated, ObjectDeleted, ObjectKey, ObjectRecord,
    Rejection, StorageEvent, VersionId, WriteCondition,
};

use super::{event, Caller, Decision};
use crate::{ProjectionError, Projections, VersionEntry, Versioning};

impl Projections {
    /// PutObject: a writer's, when the write condition holds. The version keeps its id
    /// only under enabled versioning, and gets the bucket's default retention.
    pub(super) fn put_object(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        operation: CreateOperation,
        record: &ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<Decision, ProjectionError> {
        let b = match self.writable_bucket(caller, bucket)? {
            Ok(b) => b,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        if let Err(r) = self.condition_holds(bucket, key, condition)? {
            return Ok(Decision::Rejected(r));
        }
        if record.data.in_archive() {
            return Ok(Decision::Rejected(Rejection::InvalidData));
        }
        let mut record = Box::new(record.clone());
        if b.versioning != Versioning::Enabled {
            record.version_id = VersionId::null();
        }
        record.owner = self.version_owner(caller, bucket, &b, &record.owner)?;
        let lock = self.default_lock(&b, record.hlc_timestamp)?;
        Ok(event(StorageEvent::ObjectCreated(ObjectCreated {
            bucket: bucket.clone(),
            key: key.clone(),
            operation,
            record,
            tags: Default::default(),
            lock,
        })))
    }

    /// DeleteObject: a writer's. A named version (object or marker) goes for good unless
    /// Object Lock holds it; without one, the bucket's versioning says what happens.
    pub(super) fn delete_object(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        marker_version_id: &VersionId,
    ) -> Result<Decision, ProjectionError> {
        let b = match self.writable_bucket(caller, bucket)? {
            Ok(b) => b,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        let deleted = |version_id, delete_marker| deleted(caller, bucket, key, version_id, delete_marker);
        Ok(match (version_id, b.versioning) {
            // A named version (object or marker) is removed for good.
            (Some(v), _) => match self.version(bucket, key, v)? {
                None => Decision::Unchanged,
                Some(entry) if self.locked(bucket, key, &entry, caller.now(), caller.grants.bypass)? => {
                    Decision::Rejected(Rejection::ObjectLocked)
                }
                Some(entry) => deleted(entry.version_id().clone(), false),
            },
            // Never versioned: the null version goes; nothing there, no change.
            (None, Versioning::Unversioned) => match self.latest_version(bucket, key)? {
                None => Decision::Unchanged,
                Some(entry) => deleted(entry.version_id().clone(), false),
            },
            // Versioned: a marker hides the key, whether or not it exists.
            (None, Versioning::Enabled) => deleted(marker_version_id.clone(), true),
            // Suspended: a null marker, which replaces any null version.
            (None, Versioning::Suspended) => deleted(VersionId::null(), true),
        })
    }

    /// A lifecycle expiration the worker found due: the owner's (or an operator's), and
    /// only of what the worker looked at (a version written since is not expired in its
    /// place). Lifecycle never removes a locked version.
    pub(super) fn lifecycle_expire(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: &VersionId,
        expected: Hlc,
        action: &ExpireAction,
    ) -> Result<Decision, ProjectionError> {
        let b = match self.owned_bucket(caller, bucket)? {
            Ok(b) => b,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        let deleted = |version_id, delete_marker| deleted(caller, bucket, key, version_id, delete_marker);
        let still =
            |entry: &VersionEntry| entry.version_id() == version_id && entry.hlc_timestamp() == expected;
        Ok(match action {
            ExpireAction::Current { marker_version_id } => match self.latest_version(bucket, key)? {
                Some(entry @ VersionEntry::Object(_)) if still(&entry) => match b.versioning {
                    Versioning::Unversioned => deleted(version_id.clone(), false),
                    Versioning::Enabled => deleted(marker_version_id.clone(), true),
                    Versioning::Suspended => deleted(VersionId::null(), true),
                },
                _ => Decision::Unchanged,
            },
            ExpireAction::Version => match self.version(bucket, key, version_id)? {
                Some(entry) if still(&entry) && !self.locked(bucket, key, &entry, caller.now(), false)? => {
                    deleted(version_id.clone(), false)
                }
                _ => Decision::Unchanged,
            },
        })
    }
}

/// The removal of a version (or, with `delete_marker`, the new marker `version_id`), by
/// the requester.
fn deleted(
    caller: &Caller<'_>,
    bucket: &BucketName,
    key: &ObjectKey,
    version_id: VersionId,
    delete_marker: bool,
) -> Decision {
    event(StorageEvent::ObjectDeleted(ObjectDeleted {
        bucket: bucket.clone(),
        key: key.clone(),
        version_id,
        delete_marker,
        owner: caller.requester().clone(),
    }))
}
