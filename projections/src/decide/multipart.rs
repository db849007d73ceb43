//! Decides the multipart upload commands: create an upload, upload a part, complete the
//! upload from the parts the client names, abort it.

use std::collections::BTreeMap;

use rucket_schemas::{
    BucketName, MultipartCompleted, ObjectData, ObjectKey, ObjectRecord, PartRecord, PartRef, PartUploaded,
    Rejection, Seal, StandardHeaders, StorageClass, StorageEvent, UploadAborted, UploadCreated, UploadId,
    VersionId, WriteCondition,
};

use super::{event, Caller, Decision, MIN_PART_SIZE};
use crate::{BucketRecord, ProjectionError, Projections, Versioning};

/// The upload a multipart command names.
#[derive(Clone, Copy)]
pub(super) struct UploadAt<'a> {
    pub(super) bucket: &'a BucketName,
    pub(super) key: &'a ObjectKey,
    pub(super) upload_id: &'a UploadId,
}

/// Puts a `Sealed` wrapper's seal on the upload its CreateMultipartUpload became.
pub(super) fn attach_seal(event: &mut StorageEvent, seal: &Seal) {
    if let StorageEvent::UploadCreated(e) = event {
        e.seal = Some(Box::new(seal.clone()));
    }
}

impl Projections {
    /// CreateMultipartUpload: a writer's; the upload is the requester's.
    pub(super) fn create_upload(
        &self,
        caller: &Caller<'_>,
        at: UploadAt<'_>,
        headers: &StandardHeaders,
        user_metadata: &BTreeMap<String, String>,
        storage_class: StorageClass,
        checksum_algorithm: Option<&String>,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.writable_bucket(caller, at.bucket)? {
            Err(r) => Decision::Rejected(r),
            Ok(_) => event(StorageEvent::UploadCreated(UploadCreated {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
                upload_id: at.upload_id.clone(),
                owner: caller.requester().clone(),
                headers: headers.clone(),
                user_metadata: user_metadata.clone(),
                storage_class,
                checksum_algorithm: checksum_algorithm.cloned(),
                tags: Default::default(),
                lock: Default::default(),
                seal: None,
                acl: None,
                full_object_checksum: false,
            })),
        })
    }

    /// UploadPart: a writer's, into an upload in progress.
    pub(super) fn upload_part(
        &self,
        caller: &Caller<'_>,
        at: UploadAt<'_>,
        part: &PartRecord,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.open_upload(caller, at)? {
            Err(r) => Decision::Rejected(r),
            Ok(_) => event(StorageEvent::PartUploaded(PartUploaded {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
                upload_id: at.upload_id.clone(),
                part: part.clone(),
            })),
        })
    }

    /// CompleteMultipartUpload: a writer's, on an upload in progress whose named parts
    /// check out, when the write condition holds. The new version is made of the parts
    /// (under the upload's seal, if any) and carries the upload's tags and lock.
    pub(super) fn complete_upload(
        &self,
        caller: &Caller<'_>,
        at: UploadAt<'_>,
        parts: &[(u32, String)],
        record: &ObjectRecord,
        condition: &WriteCondition,
    ) -> Result<Decision, ProjectionError> {
        let b = match self.open_upload(caller, at)? {
            Ok(b) => b,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        let (size, refs) = match self.assemble(at, parts)? {
            Ok(assembled) => assembled,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        if let Err(r) = self.condition_holds(at.bucket, at.key, condition)? {
            return Ok(Decision::Rejected(r));
        }
        let UploadAt { bucket, key, upload_id } = at;
        // The upload's ACL becomes the version's as it completes: a public one is refused
        // if the bucket has come to block public ACLs since the upload began.
        if let Some(listed) = self.upload_acl(bucket, key, upload_id)? {
            if self.blocks_public(bucket, &listed.acl)? {
                return Ok(Decision::Rejected(Rejection::AccessDenied));
            }
        }
        let mut record = Box::new(record.clone());
        record.size = size;
        record.data = match self.upload_seal(bucket, key, upload_id)? {
            // The parts were sealed with the upload's data key.
            Some(seal) => ObjectData::Sealed { seal, data: Box::new(ObjectData::Parts(refs)) },
            None => ObjectData::Parts(refs),
        };
        if b.versioning != Versioning::Enabled {
            record.version_id = VersionId::null();
        }
        record.owner = self.version_owner(caller, bucket, &b, &record.owner)?;
        // The upload's lock; without a retention of its own, the bucket default as of
        // completion.
        let mut lock = self.upload_lock(bucket, key, upload_id)?;
        if lock.retention.is_none() {
            lock.retention = self.default_lock(&b, record.hlc_timestamp)?.retention;
        }
        Ok(event(StorageEvent::MultipartCompleted(MultipartCompleted {
            bucket: bucket.clone(),
            key: key.clone(),
            upload_id: upload_id.clone(),
            record,
            tags: self.upload_tags(bucket, key, upload_id)?,
            lock,
        })))
    }

    /// AbortMultipartUpload: a writer's, of an upload in progress.
    pub(super) fn abort_upload(
        &self,
        caller: &Caller<'_>,
        at: UploadAt<'_>,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.open_upload(caller, at)? {
            Err(r) => Decision::Rejected(r),
            Ok(_) => event(StorageEvent::UploadAborted(UploadAborted {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
                upload_id: at.upload_id.clone(),
            })),
        })
    }

    /// The bucket of an upload in progress that the requester may write into.
    fn open_upload(
        &self,
        caller: &Caller<'_>,
        at: UploadAt<'_>,
    ) -> Result<Result<BucketRecord, Rejection>, ProjectionError> {
        Ok(match self.writable_bucket(caller, at.bucket)? {
            Err(r) => Err(r),
            Ok(_) if self.upload(at.bucket, at.key, at.upload_id)?.is_none() => Err(Rejection::NoSuchUpload),
            Ok(b) => Ok(b),
        })
    }

    /// Checks the parts a client named against the stored ones: ascending numbers, each
    /// present with the named ETag, each but the last at least `MIN_PART_SIZE`.
    fn assemble(
        &self,
        at: UploadAt<'_>,
        named: &[(u32, String)],
    ) -> Result<Result<(u64, Vec<PartRef>), Rejection>, ProjectionError> {
        if named.is_empty() {
            return Ok(Err(Rejection::InvalidPart));
        }
        if named.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Ok(Err(Rejection::InvalidPartOrder));
        }
        let stored = self.parts(at.bucket, at.key, at.upload_id)?;
        let mut size = 0u64;
        let mut refs = Vec::with_capacity(named.len());
        for (i, (number, etag)) in named.iter().enumerate() {
            let Some(part) = stored.iter().find(|p| p.part_number == *number) else {
                return Ok(Err(Rejection::InvalidPart));
            };
            if !part.etag.eq_ignore_ascii_case(etag.trim_matches('"')) {
                return Ok(Err(Rejection::InvalidPart));
            }
            if i + 1 < named.len() && part.size < MIN_PART_SIZE {
                return Ok(Err(Rejection::EntityTooSmall));
            }
            size += part.size;
            refs.push(PartRef {
                part_number: part.part_number,
                size: part.size,
                blob_id: part.blob_id.clone(),
            });
        }
        Ok(Ok((size, refs)))
    }
}
