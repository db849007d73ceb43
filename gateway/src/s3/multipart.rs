//! Multipart uploads. Parts stream into their own blobs; completing an upload creates a
//! version whose data lists the parts' blobs, so no byte is copied or concatenated.

use md5::Digest as _;
use rucket_blobs::IngestOptions;
use rucket_schemas::{
    CommandBody, ObjectData, ObjectKey, ObjectRecord, PartRecord, ReplicationStatus, UploadId, VersionId,
};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::put::{verify, write_condition, Declared};
use super::{owner, timestamp, Rucket};
use crate::errors;
use crate::sse::Requested;

const MAX_PART_NUMBER: i32 = 10_000;
const MAX_PARTS_LISTED: i32 = 1000;

fn upload_id(id: &str) -> S3Result<UploadId> {
    UploadId::parse(id).ok_or_else(|| s3_error!(NoSuchUpload, "The specified upload does not exist."))
}

/// The object checksum a CompleteMultipartUpload request declares, if any.
struct DeclaredObjectChecksum {
    values: [(&'static str, Option<String>); 5],
    /// `x-amz-checksum-type`: FULL_OBJECT (`true`) or COMPOSITE.
    full_object: Option<bool>,
}

/// What `x-amz-checksum-type` on CreateMultipartUpload asks for (`Some(true)`:
/// FULL_OBJECT), checked as S3 checks it: it needs a checksum algorithm, FULL_OBJECT a CRC
/// one, and CRC64NVME is FULL_OBJECT only.
fn asked_checksum_type(
    checksum_type: Option<&ChecksumType>,
    algorithm: Option<&ChecksumAlgorithm>,
) -> S3Result<Option<bool>> {
    let Some(checksum_type) = checksum_type else { return Ok(None) };
    let full = match checksum_type.as_str() {
        ChecksumType::FULL_OBJECT => true,
        ChecksumType::COMPOSITE => false,
        other => {
            return Err(s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid: {other}"))
        }
    };
    let algorithm = algorithm
        .and_then(|a| rucket_blobs::ChecksumAlgorithm::from_s3_name(a.as_str()))
        .ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            )
        })?;
    if full && !algorithm.is_crc() {
        return Err(s3_error!(
            InvalidRequest,
            "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
            algorithm.s3_name().to_ascii_lowercase()
        ));
    }
    if !full && algorithm == rucket_blobs::ChecksumAlgorithm::Crc64Nvme {
        return Err(s3_error!(
            InvalidRequest,
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
        ));
    }
    Ok(Some(full))
}

/// The byte range of `x-amz-copy-source-range` (`bytes=first-last`, both inclusive and
/// required) within a source of `size` bytes; the whole source when absent.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else { return Ok((0, size)) };
    let malformed = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(malformed)?;
    let (first, last): (u64, u64) =
        (first.trim().parse().map_err(|_| malformed())?, last.trim().parse().map_err(|_| malformed())?);
    if first > last {
        return Err(malformed());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "Range specified is not valid for source object of size: {size}"
        ));
    }
    Ok((first, last - first + 1))
}

/// The multipart ETag: MD5 of the parts' binary MD5s, then `-` and the part count.
fn multipart_etag(parts: &[(u32, String)]) -> S3Result<String> {
    let mut hasher = md5::Md5::new();
    for (_, etag) in parts {
        let bytes = hex::decode(etag.trim_matches('"'))
            .map_err(|_| s3_error!(InvalidPart, "One or more of the specified parts could not be found."))?;
        hasher.update(bytes);
    }
    Ok(format!("{}-{}", hex::encode(hasher.finalize()), parts.len()))
}

impl Rucket {
    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let user = self.user(&req)?;
        if req.input.ssekms_encryption_context.is_some() {
            return Err(errors::not_implemented("SSE-KMS encryption contexts"));
        }
        let requested = self.requested_sse(
            &req.extensions,
            req.input.server_side_encryption.as_ref(),
            req.input.ssekms_key_id.as_deref(),
            super::encryption::customer_headers!(req.input),
        )?;
        let input = req.input;
        let (bucket, bucket_record) =
            self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let tags = super::tagging::from_header(input.tagging.as_deref())?;
        // The completed version's ACL, kept with the upload until then.
        let acl = super::acl::object_acl!(req, input, &bucket_record.owner, &self.users)?;
        self.check_grantees(acl.as_ref(), &[&bucket_record.owner, &user.id])?;
        self.check_acls_enabled(&bucket, acl.as_ref(), &bucket_record.owner)?;
        let storage_class = super::put::storage_class(input.storage_class.as_ref())?.unwrap_or_default();
        if let Some(a) = &input.checksum_algorithm {
            if rucket_blobs::ChecksumAlgorithm::from_s3_name(a.as_str()).is_none() {
                return Err(s3_error!(InvalidRequest, "Checksum algorithm {} is not supported", a.as_str()));
            }
        }
        let full_object =
            asked_checksum_type(input.checksum_type.as_ref(), input.checksum_algorithm.as_ref())?;
        let lock = super::lock::requested(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
        super::put::check_metadata(input.metadata.as_ref())?;
        let id = UploadId::from_bytes(rand::random());
        // Every part is sealed with one data key, bound to the upload id.
        let seal =
            self.new_seal(&requested, (&bucket, key.as_str(), id.as_str())).await?.map(|(seal, _)| seal);
        let sealed = |body: CommandBody| match &seal {
            Some(seal) => CommandBody::Sealed { seal: seal.clone(), inner: Box::new(body) },
            None => body,
        };
        let with_acl = |body: CommandBody| match acl {
            Some(acl) => CommandBody::UploadAcl { acl, inner: Box::new(body) },
            None => body,
        };
        let typed = |body: CommandBody| match full_object {
            Some(true) => CommandBody::FullObjectChecksum { inner: Box::new(body) },
            _ => body,
        };
        self.propose(
            &user,
            typed(with_acl(sealed(super::tagging::tagged(
                tags,
                super::lock::with_lock(
                    lock,
                    CommandBody::CreateMultipartUpload {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        upload_id: id.clone(),
                        headers: super::put::standard_headers!(input),
                        user_metadata: input.metadata.unwrap_or_default().into_iter().collect(),
                        storage_class,
                        checksum_algorithm: input.checksum_algorithm.as_ref().map(|a| a.as_str().to_owned()),
                    },
                ),
            )))),
        )
        .await?;
        let mut output = CreateMultipartUploadOutput {
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            upload_id: Some(id.to_string()),
            checksum_type: input.checksum_algorithm.as_ref().map(|a| {
                let full = full_object.unwrap_or(a.as_str().eq_ignore_ascii_case("CRC64NVME"));
                ChecksumType::from_static(if full {
                    ChecksumType::FULL_OBJECT
                } else {
                    ChecksumType::COMPOSITE
                })
            }),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        };
        let customer = match &requested {
            Requested::Customer(key) => Some(key),
            _ => None,
        };
        super::encryption::echo_sse!(output, crate::sse::echo(seal.as_ref(), customer));
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_access(&user, &req.input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&req.input.key).map_err(errors::key_name)?;
        let id = upload_id(&req.input.upload_id)?;
        if !(1..=MAX_PART_NUMBER).contains(&req.input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let Some(upload) = self.projections().upload(&bucket, &key, &id).map_err(errors::projection)? else {
            return Err(errors::rejection(rucket_schemas::Rejection::NoSuchUpload));
        };
        let (seal, customer, data_key) = self.upload_data_key(
            &req.extensions,
            (&bucket, &key, &id),
            super::encryption::customer_headers!(req.input),
        )?;
        let seal_key = data_key.map(|k| k.for_part(req.input.part_number as u32));
        let i = &req.input;
        let sums = [
            &i.checksum_crc32,
            &i.checksum_crc32c,
            &i.checksum_crc64nvme,
            &i.checksum_sha1,
            &i.checksum_sha256,
        ];
        let declared = Declared::parse(i.content_md5.as_ref(), sums.map(Option::as_ref), &req.headers)?;
        let mut algorithms = declared.algorithms(i.checksum_algorithm.as_ref())?;
        // A FULL_OBJECT upload's checksum is built from every part's: a part sent without
        // one gets it computed.
        let upload_algorithm =
            upload.checksum_algorithm.as_deref().and_then(rucket_blobs::ChecksumAlgorithm::from_s3_name);
        if let Some(a) = upload_algorithm.filter(|a| upload.full_object_checksum && !algorithms.contains(a)) {
            algorithms.push(a);
        }
        let expected_len = i.content_length.map(|n| n.max(0) as u64);
        let part_number = i.part_number as u32;
        let body =
            req.input.body.take().ok_or_else(|| s3_error!(IncompleteBody, "The request has no body"))?;
        let _slot = self.upload_slot(&req.credentials, expected_len)?;
        // Parts always become blobs: completion refers to them by blob id.
        let ingested = self
            .blobs
            .ingest(
                body,
                IngestOptions {
                    inline_threshold: 0,
                    expected_len,
                    checksums: &algorithms,
                    seal: seal_key.as_ref(),
                    idle_timeout: self.body_timeout,
                    room: Some(&self.volumes),
                },
            )
            .await
            .map_err(errors::blob)?;
        metrics::counter!(crate::metrics::BYTES_IN).increment(ingested.size);
        let trailers = req.trailing_headers.as_ref().and_then(|t| t.take());
        let checksums = match verify(&declared, trailers.as_ref(), &ingested) {
            Ok(c) => c,
            Err(e) => {
                self.discard(&ingested);
                return Err(e);
            }
        };
        let (etag, _) = self
            .propose_part(&user, (bucket, key, id), (part_number, customer.as_ref()), &ingested, &checksums)
            .await?;
        let mut output = UploadPartOutput { e_tag: Some(ETag::Strong(etag)), ..Default::default() };
        super::encryption::echo_sse!(output, crate::sse::echo(seal.as_ref(), customer.as_ref()));
        [
            output.checksum_crc32,
            output.checksum_crc32c,
            output.checksum_crc64nvme,
            output.checksum_sha1,
            output.checksum_sha256,
        ] = super::put::checksum_fields(&checksums);
        Ok(S3Response::new(output))
    }

    /// Records an ingested part (always a blob) of an upload; answers its ETag and stamp.
    async fn propose_part(
        &self,
        user: &crate::credentials::User,
        (bucket, key, upload_id): (rucket_schemas::BucketName, ObjectKey, UploadId),
        (part_number, customer): (u32, Option<&crate::sse::CustomerKey>),
        ingested: &rucket_blobs::Ingested,
        checksums: &std::collections::BTreeMap<String, String>,
    ) -> S3Result<(String, rucket_schemas::Hlc)> {
        let ObjectData::Blob(blob_id) = &ingested.data else {
            return Err(errors::internal("storing a part", "the part was not stored as a blob"));
        };
        let etag = match customer {
            Some(key) => crate::sse::customer_etag(key, &ingested.md5),
            None => hex::encode(ingested.md5),
        };
        let hlc = self.clock.now();
        let part = PartRecord {
            part_number,
            size: ingested.size,
            etag: etag.clone(),
            blob_id: blob_id.clone(),
            checksums: checksums.clone(),
            hlc_timestamp: hlc,
        };
        self.propose_ingested(user, hlc, CommandBody::UploadPart { bucket, key, upload_id, part }, ingested)
            .await?;
        Ok((etag, hlc))
    }

    /// UploadPartCopy: a part made from (a range of) another object, streamed from its
    /// bytes into the part's own blob.
    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let id = upload_id(&input.upload_id)?;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let source_key =
            self.customer_key(&req.extensions, super::encryption::copy_source_customer_headers!(input))?;
        let upload = self
            .projections()
            .upload(&bucket, &key, &id)
            .map_err(errors::projection)?
            .ok_or_else(|| errors::rejection(rucket_schemas::Rejection::NoSuchUpload))?;
        let CopySource::Bucket { bucket: src_bucket, key: src_key, version_id: src_version } =
            &input.copy_source
        else {
            return Err(errors::not_implemented("Copying from an access point"));
        };
        let source = self.resolve_copy_source(
            &user,
            req.extensions.get::<crate::access::CopySourceFacts>(),
            (src_bucket, src_key, src_version.as_deref()),
        )?;
        super::copy::check_copy_source(
            &super::conditions::ReadConditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
            &source.record,
        )?;
        let (start, len) = copy_range(input.copy_source_range.as_deref(), source.record.size)?;
        let source_data_key = self.open_record(&source.record, source_key.as_ref(), (src_bucket, src_key))?;
        let (seal, customer, data_key) = self.upload_data_key(
            &req.extensions,
            (&bucket, &key, &id),
            super::encryption::customer_headers!(input),
        )?;
        let seal_key = data_key.map(|k| k.for_part(input.part_number as u32));
        self.volumes.room_for_writes(len)?;
        let body = self.body(&source.record, source_data_key.as_ref(), start, len).await?;
        let algorithms: Vec<rucket_blobs::ChecksumAlgorithm> = upload
            .checksum_algorithm
            .as_deref()
            .and_then(rucket_blobs::ChecksumAlgorithm::from_s3_name)
            .into_iter()
            .collect();
        let ingested = self
            .blobs
            .ingest(
                body,
                IngestOptions {
                    inline_threshold: 0,
                    expected_len: Some(len),
                    checksums: &algorithms,
                    seal: seal_key.as_ref(),
                    idle_timeout: None,
                    room: Some(&self.volumes),
                },
            )
            .await
            .map_err(errors::blob)?;
        let checksums: std::collections::BTreeMap<String, String> =
            ingested.checksums.iter().map(|(a, v)| (a.s3_name().to_owned(), v.clone())).collect();
        let part_number = input.part_number as u32;
        let (etag, hlc) = self
            .propose_part(&user, (bucket, key, id), (part_number, customer.as_ref()), &ingested, &checksums)
            .await?;
        let mut result = CopyPartResult {
            e_tag: Some(ETag::Strong(etag)),
            last_modified: Some(timestamp(hlc)),
            ..Default::default()
        };
        [
            result.checksum_crc32,
            result.checksum_crc32c,
            result.checksum_crc64nvme,
            result.checksum_sha1,
            result.checksum_sha256,
        ] = super::put::checksum_fields(&checksums);
        let mut output = UploadPartCopyOutput {
            copy_part_result: Some(result),
            copy_source_version_id: source.version_id,
            ..Default::default()
        };
        super::encryption::echo_sse!(output, crate::sse::echo(seal.as_ref(), customer.as_ref()));
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, bucket_record) =
            self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let id = upload_id(&input.upload_id)?;
        let completed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        let Some(upload) = self.projections().upload(&bucket, &key, &id).map_err(errors::projection)? else {
            // A retried Complete (an SDK retries after a timeout) gets the first one's answer.
            return self.completed_before(&user, &bucket, &key, &completed);
        };
        let seal = self.projections().upload_seal(&bucket, &key, &id).map_err(errors::projection)?;
        let acl = self.projections().upload_acl(&bucket, &key, &id).map_err(errors::projection)?;
        let owner = self.asked_owner(&user, &bucket, &bucket_record.owner, acl.as_ref())?;
        let declared = DeclaredObjectChecksum {
            values: [
                ("CRC32", input.checksum_crc32.clone()),
                ("CRC32C", input.checksum_crc32c.clone()),
                ("CRC64NVME", input.checksum_crc64nvme.clone()),
                ("SHA1", input.checksum_sha1.clone()),
                ("SHA256", input.checksum_sha256.clone()),
            ],
            full_object: match (
                input.checksum_type.as_ref().map(|t| t.as_str() == ChecksumType::FULL_OBJECT),
                upload.full_object_checksum,
            ) {
                (Some(false), true) => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The upload was created using the FULL_OBJECT checksum mode. The complete request must use the same checksum mode."
                    ))
                }
                (_, true) => Some(true),
                (asked, false) => asked,
            },
        };
        let checksums = self.object_checksums(
            &bucket,
            &key,
            &id,
            upload.checksum_algorithm.as_deref(),
            &completed,
            &declared,
        )?;
        let named: Vec<(u32, String)> = completed
            .clone()
            .into_iter()
            .map(|p| {
                let number =
                    p.part_number.filter(|n| (1..=MAX_PART_NUMBER).contains(n)).ok_or_else(|| {
                        s3_error!(InvalidPart, "One or more of the specified parts could not be found.")
                    })?;
                let etag = p.e_tag.map(|e| e.value().to_owned()).unwrap_or_default();
                Ok((number as u32, etag))
            })
            .collect::<S3Result<_>>()?;
        if named.is_empty() {
            return Err(s3_error!(MalformedXML, "You must specify at least one part"));
        }
        let condition = write_condition(input.if_none_match.as_ref(), input.if_match.as_ref())?;
        let etag = multipart_etag(&named)?;
        let hlc = self.clock.now();
        let record = ObjectRecord {
            version_id: VersionId::new(hex::encode(rand::random::<[u8; 16]>())),
            size: 0,
            etag: etag.clone(),
            headers: upload.headers,
            user_metadata: upload.user_metadata,
            data: ObjectData::Parts(Vec::new()),
            owner,
            hlc_timestamp: hlc,
            placement_group: 0,
            home_region: self.region.clone(),
            storage_class: upload.storage_class,
            replication_status: ReplicationStatus::None,
            checksums: checksums.clone(),
        };
        let proposed = self
            .propose_at(
                &user,
                hlc,
                CommandBody::CompleteMultipartUpload {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    upload_id: id,
                    parts: named,
                    record: Box::new(record),
                    condition,
                },
            )
            .await;
        let outcome = match proposed {
            // Two Completes of one upload raced and the other won: the same answer.
            Err(e) if e.code() == &s3s::S3ErrorCode::NoSuchUpload => {
                return self.completed_before(&user, &bucket, &key, &completed)
            }
            other => other?,
        };
        let mut output = CompleteMultipartUploadOutput {
            version_id: self.created_version(&bucket, &outcome),
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            e_tag: Some(ETag::Strong(etag)),
            location: Some(format!("/{bucket}/{key}")),
            ..Default::default()
        };
        // The completed version's size and tags are apply's: read them from its event.
        if self.has_lifecycle(&bucket)? {
            if let Some(rucket_schemas::StorageEvent::MultipartCompleted(e)) = self.archived(&outcome) {
                output.expiration =
                    self.expiration(bucket.as_str(), key.as_str(), &e.record, Some(&e.tags))?;
            }
        }
        let echo = crate::sse::echo(seal.as_ref(), None);
        (output.server_side_encryption, output.ssekms_key_id) =
            (echo.server_side_encryption, echo.ssekms_key_id);
        [
            output.checksum_crc32,
            output.checksum_crc32c,
            output.checksum_crc64nvme,
            output.checksum_sha1,
            output.checksum_sha256,
        ] = super::put::checksum_fields(&checksums);
        output.checksum_type = super::put::checksum_type(&checksums);
        Ok(S3Response::new(output))
    }

    /// The answer to a Complete of an upload that is no longer in progress: the same 200
    /// as the first Complete gave when the key's current version is what these parts
    /// made (its ETag is the MD5 of their MD5s); NoSuchUpload otherwise.
    fn completed_before(
        &self,
        user: &crate::credentials::User,
        bucket: &rucket_schemas::BucketName,
        key: &ObjectKey,
        completed: &[CompletedPart],
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let no_such_upload = || errors::rejection(rucket_schemas::Rejection::NoSuchUpload);
        let named: Vec<(u32, String)> = completed
            .iter()
            .map(|p| {
                (
                    p.part_number.unwrap_or_default() as u32,
                    p.e_tag.as_ref().map(|e| e.value().to_owned()).unwrap_or_default(),
                )
            })
            .collect();
        let Ok(etag) = multipart_etag(&named) else { return Err(no_such_upload()) };
        let Some(record) = self.projections().current_object(bucket, key).map_err(errors::projection)? else {
            return Err(no_such_upload());
        };
        let numbers: Vec<u32> = match record.data.unsealed() {
            ObjectData::Parts(parts) => parts.iter().map(|p| p.part_number).collect(),
            _ => return Err(no_such_upload()),
        };
        // Only the writer of that version hears it again (the version does not name the
        // upload that made it, so the parts and the writer stand for it); under ownership
        // controls that gave it to the bucket's owner, the owner stands for the writer.
        let handed_over = self.projections().owner_takes_objects(bucket).map_err(errors::projection)?
            && self
                .projections()
                .bucket(bucket)
                .map_err(errors::projection)?
                .is_some_and(|b| b.owner == record.owner);
        if named.is_empty()
            || record.etag != etag
            || (record.owner != user.id && !handed_over)
            || numbers != named.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        {
            return Err(no_such_upload());
        }
        let versioned = self
            .projections()
            .bucket(bucket)
            .map_err(errors::projection)?
            .is_some_and(|b| b.versioning != rucket_projections::Versioning::Unversioned);
        let mut output = CompleteMultipartUploadOutput {
            version_id: versioned.then(|| record.version_id.to_string()),
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            e_tag: Some(ETag::Strong(etag)),
            location: Some(format!("/{bucket}/{key}")),
            expiration: self.expiration(bucket.as_str(), key.as_str(), &record, None)?,
            ..Default::default()
        };
        let echo = crate::sse::echo(record.data.seal(), None);
        (output.server_side_encryption, output.ssekms_key_id) =
            (echo.server_side_encryption, echo.ssekms_key_id);
        [
            output.checksum_crc32,
            output.checksum_crc32c,
            output.checksum_crc64nvme,
            output.checksum_sha1,
            output.checksum_sha256,
        ] = super::put::checksum_fields(&record.checksums);
        output.checksum_type = super::put::checksum_type(&record.checksums);
        Ok(S3Response::new(output))
    }

    /// The whole-object checksum of a completing upload, from its parts' checksums: for
    /// the upload's algorithm (or the one the client declares), COMPOSITE by default and
    /// FULL_OBJECT for CRC64NVME or when asked (CRCs only). Part checksums named in the
    /// request and a declared object checksum must match what was stored and computed.
    fn object_checksums(
        &self,
        bucket: &rucket_schemas::BucketName,
        key: &ObjectKey,
        id: &UploadId,
        upload_algorithm: Option<&str>,
        completed: &[CompletedPart],
        declared: &DeclaredObjectChecksum,
    ) -> S3Result<std::collections::BTreeMap<String, String>> {
        let stored = self.projections().parts(bucket, key, id).map_err(errors::projection)?;
        let find = |n: Option<i32>| stored.iter().find(|p| Some(p.part_number as i32) == n);
        // Part checksums the client names must be the ones stored.
        for part in completed {
            let named = [
                ("CRC32", &part.checksum_crc32),
                ("CRC32C", &part.checksum_crc32c),
                ("CRC64NVME", &part.checksum_crc64nvme),
                ("SHA1", &part.checksum_sha1),
                ("SHA256", &part.checksum_sha256),
            ];
            for (name, value) in named {
                let (Some(value), Some(stored)) = (value, find(part.part_number)) else { continue };
                if stored.checksums.get(name).is_some_and(|s| s != value) {
                    return Err(s3_error!(
                        InvalidPart,
                        "The {name} checksum of part {} does not match the uploaded part",
                        stored.part_number
                    ));
                }
            }
        }
        let declared_value = declared.values.iter().find_map(|(n, v)| v.as_ref().map(|v| (*n, v.clone())));
        let Some(name) = upload_algorithm
            .map(str::to_ascii_uppercase)
            .or_else(|| declared_value.as_ref().map(|(n, _)| n.to_string()))
        else {
            return Ok(Default::default());
        };
        let Some(algorithm) = rucket_blobs::ChecksumAlgorithm::from_s3_name(&name) else {
            return Ok(Default::default());
        };
        let mut part_sums = Vec::new();
        for part in completed {
            match find(part.part_number)
                .and_then(|p| p.checksums.get(algorithm.s3_name()).map(|c| (c.as_str(), p.size)))
            {
                Some(sum) => part_sums.push(sum),
                None if declared_value.is_some() => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Part {} has no {} checksum to build the object's checksum from",
                        part.part_number.unwrap_or_default(),
                        algorithm.s3_name()
                    ))
                }
                None => return Ok(Default::default()),
            }
        }
        let declared_for_algorithm =
            declared_value.as_ref().filter(|(n, _)| *n == algorithm.s3_name()).map(|(_, v)| v.clone());
        // Without an asked type, a declared value without a part count asks for a full-object
        // checksum, where the algorithm has one (the CRCs): a SHA's object checksum is
        // always a composite, so a declared value that is not one simply does not match.
        let sha = matches!(
            algorithm,
            rucket_blobs::ChecksumAlgorithm::Sha1 | rucket_blobs::ChecksumAlgorithm::Sha256
        );
        let full_object = declared
            .full_object
            .or_else(|| declared_for_algorithm.as_ref().filter(|_| !sha).map(|v| !v.contains('-')))
            .unwrap_or(algorithm == rucket_blobs::ChecksumAlgorithm::Crc64Nvme);
        let computed = if full_object {
            rucket_blobs::full_object_checksum(algorithm, &part_sums)
        } else {
            let sums: Vec<&str> = part_sums.iter().map(|(s, _)| *s).collect();
            rucket_blobs::composite_checksum(algorithm, &sums)
        }
        .ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "A {} checksum of this kind cannot be built from parts",
                algorithm.s3_name()
            )
        })?;
        if let Some(declared) = declared_for_algorithm {
            if declared != computed {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum",
                    algorithm.s3_name()
                ));
            }
        }
        Ok([(algorithm.s3_name().to_owned(), computed)].into_iter().collect())
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let bucket = Self::bucket_name(&input.bucket)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let id = upload_id(&input.upload_id)?;
        self.propose(&user, CommandBody::AbortMultipartUpload { bucket, key, upload_id: id }).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let id = upload_id(&input.upload_id)?;
        let projections = self.projections();
        let upload = projections
            .upload(&bucket, &key, &id)
            .map_err(errors::projection)?
            .ok_or_else(|| errors::rejection(rucket_schemas::Rejection::NoSuchUpload))?;
        let max = match input.max_parts {
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-parts must be a non-negative integer"))
            }
            Some(n) => n.min(MAX_PARTS_LISTED),
            None => MAX_PARTS_LISTED,
        } as usize;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let all: Vec<PartRecord> = projections
            .parts(&bucket, &key, &id)
            .map_err(errors::projection)?
            .into_iter()
            .filter(|p| p.part_number > marker)
            .collect();
        let is_truncated = all.len() > max;
        let page: Vec<&PartRecord> = all.iter().take(max).collect();
        let next = page.last().map(|p| p.part_number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            upload_id: Some(id.to_string()),
            max_parts: Some(max as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if is_truncated { next } else { None },
            is_truncated: Some(is_truncated),
            owner: Some(owner(&self.users, &upload.owner)),
            initiator: Some(Initiator {
                display_name: Some(self.users.display_name(&upload.owner)),
                id: Some(upload.owner.to_string()),
            }),
            storage_class: Some(s3s::dto::StorageClass::from(upload.storage_class.s3_name().to_owned())),
            checksum_algorithm: upload.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_algorithm.as_ref().map(|a| {
                let full = upload.full_object_checksum || a.eq_ignore_ascii_case("CRC64NVME");
                ChecksumType::from_static(if full {
                    ChecksumType::FULL_OBJECT
                } else {
                    ChecksumType::COMPOSITE
                })
            }),
            parts: Some(
                page.into_iter()
                    .map(|p| Part {
                        part_number: Some(p.part_number as i32),
                        e_tag: Some(ETag::Strong(p.etag.clone())),
                        size: Some(p.size as i64),
                        last_modified: Some(timestamp(p.hlc_timestamp)),
                        checksum_crc32: p.checksums.get("CRC32").cloned(),
                        checksum_crc32c: p.checksums.get("CRC32C").cloned(),
                        checksum_crc64nvme: p.checksums.get("CRC64NVME").cloned(),
                        checksum_sha1: p.checksums.get("SHA1").cloned(),
                        checksum_sha256: p.checksums.get("SHA256").cloned(),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let max = match input.max_uploads {
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-uploads must be a non-negative integer"))
            }
            Some(n) => n.min(1000),
            None => 1000,
        } as usize;
        let render = super::list::Render(super::list::url_encoding(input.encoding_type.as_ref())?);
        let prefix = input.prefix.clone().unwrap_or_default();
        let query = rucket_projections::UploadQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            key_marker: input.key_marker.as_deref(),
            upload_id_marker: input.upload_id_marker.as_deref(),
            max_uploads: max,
        };
        let page = self.projections().list_uploads(&bucket, &query).map_err(errors::projection)?;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(bucket.to_string()),
            prefix: Some(render.s(&prefix)),
            delimiter: render.opt(input.delimiter.as_deref()),
            key_marker: render.opt(input.key_marker.as_deref()),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            next_key_marker: render.opt(page.next_key_marker.as_deref()).filter(|_| page.is_truncated),
            next_upload_id_marker: page.next_upload_id_marker.filter(|_| page.is_truncated),
            common_prefixes: Some(
                page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(render.s(p)) }).collect(),
            ),
            uploads: Some(
                page.uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(render.s(u.key.as_str())),
                        upload_id: Some(u.upload_id.to_string()),
                        initiated: Some(timestamp(u.initiated)),
                        owner: Some(owner(&self.users, &u.owner)),
                        initiator: Some(Initiator {
                            display_name: Some(self.users.display_name(&u.owner)),
                            id: Some(u.owner.to_string()),
                        }),
                        storage_class: Some(s3s::dto::StorageClass::from(
                            u.storage_class.s3_name().to_owned(),
                        )),
                        checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                        ..Default::default()
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_follow_s3() {
        // Two parts whose MD5s are those of "a" and "b".
        let parts = vec![
            (1, "0cc175b9c0f1b6a831c399e269772661".to_owned()),
            (2, "\"92eb5ffee6ae2fec3ad71c777531578f\"".to_owned()),
        ];
        let mut joined = hex::decode("0cc175b9c0f1b6a831c399e269772661").unwrap();
        joined.extend(hex::decode("92eb5ffee6ae2fec3ad71c777531578f").unwrap());
        let expect = format!("{}-2", hex::encode(md5::Md5::digest(&joined)));
        assert_eq!(multipart_etag(&parts).unwrap(), expect);
        assert!(multipart_etag(&[(1, "not-hex".into())]).is_err());
    }
}
