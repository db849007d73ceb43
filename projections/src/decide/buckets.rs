//! Decides the bucket commands: create, delete, and the versioning state.

use rucket_schemas::{
    AbortedUpload, BucketCreated, BucketDeleted, BucketName, BucketVersioningSet, Rejection, StorageEvent,
    VersioningStatus,
};

use super::{event, Caller, Decision};
use crate::{ProjectionError, Projections};

/// The most uploads in progress a DeleteBucket aborts with the bucket (each named in the
/// event, about 1 KiB at most): past it the bucket is BucketNotEmpty until they are
/// aborted.
pub const MAX_ABORTED_WITH_BUCKET: usize = 1000;

impl Projections {
    /// CreateBucket: a name nobody holds becomes the requester's.
    pub(super) fn create_bucket(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        location: &str,
        object_lock_enabled: bool,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.bucket(bucket)? {
            Some(existing) if existing.owner == *caller.requester() => {
                Decision::Rejected(Rejection::BucketAlreadyOwnedByYou)
            }
            Some(_) => Decision::Rejected(Rejection::BucketAlreadyExists),
            None => event(StorageEvent::BucketCreated(BucketCreated {
                bucket: bucket.clone(),
                owner: caller.requester().clone(),
                location: location.to_owned(),
                object_lock_enabled,
            })),
        })
    }

    /// DeleteBucket: the owner's (or an operator's), once no version or delete marker is
    /// left in it; its uploads in progress (up to [`MAX_ABORTED_WITH_BUCKET`]) go with it.
    pub(super) fn delete_bucket(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.owned_bucket(caller, bucket)? {
            Err(r) => Decision::Rejected(r),
            // Versions and delete markers keep a bucket; uploads in progress do not: S3
            // deletes them with the bucket, and the event names them so their parts go.
            Ok(_) if self.bucket_has_versions(bucket)? => Decision::Rejected(Rejection::BucketNotEmpty),
            Ok(_) => {
                let uploads = self.uploads_in(bucket)?;
                if uploads.len() > MAX_ABORTED_WITH_BUCKET {
                    // One event names them all: past this many it would grow without bound,
                    // so the uploads must be aborted first (as before S3's behaviour).
                    return Ok(Decision::Rejected(Rejection::BucketNotEmpty));
                }
                let aborted_uploads = uploads
                    .into_iter()
                    .map(|u| AbortedUpload { key: u.key, upload_id: u.upload_id })
                    .collect();
                event(StorageEvent::BucketDeleted(BucketDeleted { bucket: bucket.clone(), aborted_uploads }))
            }
        })
    }

    /// PutBucketVersioning: the owner's (or an operator's); a bucket with Object Lock on
    /// may not suspend versioning.
    pub(super) fn set_versioning(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        status: VersioningStatus,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.owned_bucket(caller, bucket)? {
            Err(r) => Decision::Rejected(r),
            Ok(b) if b.object_lock_enabled && status == VersioningStatus::Suspended => {
                Decision::Rejected(Rejection::InvalidBucketState)
            }
            Ok(_) => event(StorageEvent::BucketVersioningSet(BucketVersioningSet {
                bucket: bucket.clone(),
                status,
            })),
        })
    }
}
