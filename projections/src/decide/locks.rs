//! Decides the Object Lock commands: the bucket's lock configuration, a version's
//! retention and legal hold, writes wrapped with a lock, whether a GOVERNANCE bypass
//! counts; and what a lock forbids, for the families that remove or create versions.

use rucket_schemas::{
    BucketName, BucketObjectLockSet, Command, CommandBody, Hlc, ObjectKey, ObjectLegalHoldSet, ObjectLock,
    ObjectLockConfig, ObjectRetentionSet, Rejection, Retention, StorageEvent, VersionId,
};

use super::{event, Caller, Decision, Grants};
use crate::{BucketRecord, ProjectionError, Projections, VersionEntry, Versioning};

impl Projections {
    /// PutObjectLockConfiguration: the owner's (or an operator's), on a bucket whose
    /// versioning is enabled.
    pub(super) fn set_object_lock_config(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: ObjectLockConfig,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.owned_bucket(caller, bucket)? {
            Err(r) => Decision::Rejected(r),
            Ok(b) if b.versioning != Versioning::Enabled => Decision::Rejected(Rejection::InvalidBucketState),
            Ok(_) => event(StorageEvent::BucketObjectLockSet(BucketObjectLockSet {
                bucket: bucket.clone(),
                configuration,
            })),
        })
    }

    /// PutObjectRetention: see [`Self::lock_target`]; a retention in force may only be
    /// tightened, unless it is GOVERNANCE and bypassed.
    pub(super) fn set_object_retention(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        retention: Option<Retention>,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.lock_target(caller, bucket, key, version_id)? {
            Err(r) => Decision::Rejected(r),
            Ok((_, lock))
                if !lock.allows_retention(retention.as_ref(), caller.now(), caller.grants.bypass) =>
            {
                Decision::Rejected(Rejection::ObjectLocked)
            }
            Ok((version_id, _)) => event(StorageEvent::ObjectRetentionSet(ObjectRetentionSet {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id,
                retention,
            })),
        })
    }

    /// PutObjectLegalHold: see [`Self::lock_target`].
    pub(super) fn set_object_legal_hold(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        on: bool,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.lock_target(caller, bucket, key, version_id)? {
            Err(r) => Decision::Rejected(r),
            Ok((version_id, _)) => event(StorageEvent::ObjectLegalHoldSet(ObjectLegalHoldSet {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id,
                on,
            })),
        })
    }

    /// A write wrapped with Object Lock headers (`inner`, already unwrapped): refused on a
    /// bucket without Object Lock, else decided as the write, the lock riding on its
    /// event.
    pub(super) fn decide_locked(
        &self,
        inner: &Command,
        grants: Grants,
        lock: &ObjectLock,
    ) -> Result<Decision, ProjectionError> {
        if self.bucket_of(&inner.body)?.is_some_and(|b| !b.object_lock_enabled) {
            return Ok(Decision::Rejected(Rejection::NoObjectLockConfiguration));
        }
        Ok(self.decide_as(inner, grants)?.with_event(|event| attach_lock(event, lock)))
    }

    /// Whether a GOVERNANCE bypass sent with `inner` counts: it is the bucket owner's (or
    /// an operator's) to make.
    pub(super) fn may_bypass(
        &self,
        caller: &Caller<'_>,
        inner: &CommandBody,
    ) -> Result<bool, ProjectionError> {
        Ok(self.bucket_of(inner)?.is_some_and(|b| caller.may_act(&b)))
    }

    /// The lock a new version gets from its bucket's default retention.
    pub(super) fn default_lock(
        &self,
        bucket: &BucketRecord,
        created: Hlc,
    ) -> Result<ObjectLock, ProjectionError> {
        if !bucket.object_lock_enabled {
            return Ok(Default::default());
        }
        let default = self.object_lock_config(&bucket.name)?.and_then(|c| c.default_retention);
        Ok(ObjectLock { retention: default.map(|d| d.apply(created.unix_millis())), legal_hold: false })
    }

    /// Whether Object Lock forbids removing a version at `now` (delete markers never
    /// carry a lock).
    pub(super) fn locked(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        entry: &VersionEntry,
        now: i64,
        bypass: bool,
    ) -> Result<bool, ProjectionError> {
        Ok(match entry {
            VersionEntry::Object(r) => {
                self.version_lock(bucket, key, r.hlc_timestamp)?.forbids_delete(now, bypass)
            }
            VersionEntry::DeleteMarker { .. } => false,
        })
    }

    /// The version a retention or legal-hold change names, with its current lock: the
    /// bucket must exist, belong to the requester, and have Object Lock on.
    fn lock_target(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
    ) -> Result<Result<(VersionId, ObjectLock), Rejection>, ProjectionError> {
        let b = match self.owned_bucket(caller, bucket)? {
            Ok(b) => b,
            Err(r) => return Ok(Err(r)),
        };
        if !b.object_lock_enabled {
            return Ok(Err(Rejection::NoObjectLockConfiguration));
        }
        Ok(match self.target_version(bucket, key, version_id)? {
            Err(r) => Err(r),
            Ok(record) => {
                let lock = self.version_lock(bucket, key, record.hlc_timestamp)?;
                Ok((record.version_id.clone(), lock))
            }
        })
    }
}

/// Puts a `Locked` wrapper's lock on the version or upload its write became: its legal
/// hold, and its retention in place of the bucket default if it gives one.
fn attach_lock(event: &mut StorageEvent, lock: &ObjectLock) {
    let target = match event {
        StorageEvent::ObjectCreated(e) => &mut e.lock,
        StorageEvent::UploadCreated(e) => &mut e.lock,
        StorageEvent::MultipartCompleted(e) => &mut e.lock,
        _ => return,
    };
    target.legal_hold = lock.legal_hold;
    if lock.retention.is_some() {
        target.retention = lock.retention;
    }
}
