//! GetObject, HeadObject, DeleteObject and DeleteObjects.

use bytes::Bytes;
use futures::stream::StreamExt;
use rucket_projections::VersionEntry;
use rucket_schemas::{
    BlobId, BucketName, CommandBody, ObjectData, ObjectKey, ObjectRecord, StorageClass, VersionId,
    WriteCondition,
};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::conditions::ReadConditions;
use super::{timestamp, Rucket};
use crate::credentials::User;
use crate::errors;
use crate::sse::{CustomerKey, DataKey};
use rucket_blobs::BlockRead;

/// Bytes read (and checked) per step of a GET: a multiple of the 64 KiB checksum chunk.
const READ_CHUNK: usize = 4 * rucket_blobs::CHUNK;

const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// A slice of one blob to stream: `len` bytes from `from` of a blob holding `size`
/// bytes (of plaintext, when `key` opens it).
struct Segment {
    id: BlobId,
    key: Option<rucket_blobs::SealKey>,
    size: u64,
    from: u64,
    len: u64,
}

/// What a GET or HEAD resolved to, before any body is read.
pub(super) struct Resolved {
    pub(super) record: ObjectRecord,
    pub(super) version_id: Option<String>,
}

fn delete_marker_error(err: S3Error, version_id: Option<&VersionId>) -> S3Error {
    marked(err, true, version_id)
}

/// `err` with `x-amz-delete-marker` saying whether the key's newest version is a delete
/// marker (`false` for a key with no version at all: Ceph's suite reads it on a HEAD after
/// a DELETE in an unversioned bucket; AWS leaves it out, which clients read as false).
fn marked(mut err: S3Error, delete_marker: bool, version_id: Option<&VersionId>) -> S3Error {
    let mut headers = http::HeaderMap::new();
    let value = if delete_marker { "true" } else { "false" };
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static(value));
    if let Some(v) = version_id.and_then(|v| http::HeaderValue::from_str(v.as_str()).ok()) {
        headers.insert("x-amz-version-id", v);
    }
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    err.set_headers(headers);
    err
}

impl Rucket {
    /// Finds the version a GET or HEAD names: the current one, or `version_id`.
    /// `user` needs READ on the version (owners always have it); without any access to
    /// the bucket, a missing key is AccessDenied rather than NoSuchKey, as in S3.
    pub(super) fn resolve(
        &self,
        user: &User,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<Resolved> {
        let (bucket, record) = self.existing_bucket(bucket)?;
        let key = ObjectKey::parse(key).map_err(errors::key_name)?;
        // A policy that allows the read does not allow listing: a missing key stays
        // AccessDenied for such a reader, as in S3 without s3:ListBucket.
        let may_list = user.admin
            || record.owner == user.id
            || user.policy_lists.as_deref() == Some(bucket.as_str())
            || self
                .projections()
                .effective_bucket_acl(&bucket)
                .map_err(errors::projection)?
                .allows(&user.id, rucket_schemas::Permission::Read);
        let resolved = match self.resolve_version(&bucket, &record, &key, version_id) {
            Err(e) if !may_list && e.code() != &s3s::S3ErrorCode::MethodNotAllowed => {
                return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied))
            }
            other => other?,
        };
        if !self.object_allows(
            user,
            &bucket,
            &record,
            &key,
            &resolved.record,
            rucket_schemas::Permission::Read,
        )? {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        Ok(resolved)
    }

    /// The version `version_id` names, or the current one; no access check.
    pub(super) fn resolve_version(
        &self,
        bucket: &BucketName,
        record: &rucket_projections::BucketRecord,
        key: &ObjectKey,
        version_id: Option<&str>,
    ) -> S3Result<Resolved> {
        let (bucket, key) = (bucket.clone(), key.clone());
        let projections = self.projections();
        if let Some(v) = version_id {
            // Rucket's version ids are `null` or 32 hex digits.
            if v != "null" && !(v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
            }
        }
        let show_version = record.versioning != rucket_projections::Versioning::Unversioned;
        match version_id {
            Some(v) => {
                let v = VersionId::new(v);
                match projections.version(&bucket, &key, &v).map_err(errors::projection)? {
                    Some(VersionEntry::Object(record)) => {
                        Ok(Resolved { record: *record, version_id: Some(v.to_string()) })
                    }
                    Some(VersionEntry::DeleteMarker { version_id, .. }) => Err(delete_marker_error(
                        s3_error!(
                            MethodNotAllowed,
                            "The specified method is not allowed against this resource."
                        ),
                        Some(&version_id),
                    )),
                    None => Err(s3_error!(NoSuchVersion, "The specified version does not exist.")),
                }
            }
            None => match projections.current_object(&bucket, &key).map_err(errors::projection)? {
                Some(record) => {
                    let version_id = show_version.then(|| record.version_id.to_string());
                    Ok(Resolved { record, version_id })
                }
                None => match projections.latest_version(&bucket, &key).map_err(errors::projection)? {
                    Some(VersionEntry::DeleteMarker { version_id, .. }) => Err(delete_marker_error(
                        s3_error!(NoSuchKey, "The specified key does not exist."),
                        Some(&version_id),
                    )),
                    _ => Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
                },
            },
        }
    }

    /// The common start of GET and HEAD: find the version, open its data key (with the
    /// request's SSE-C key, if it is the customer's; `None` when `opens` is false, for a
    /// HEAD, which only checks the keys), and check the conditional headers.
    /// `x-amz-server-side-encryption` belongs to writes: on a read it is refused.
    fn resolve_for_read(
        &self,
        user: &User,
        (bucket, key, version_id): (&str, &str, Option<&str>),
        (headers, customer): (&http::HeaderMap, Option<&CustomerKey>),
        conditions: ReadConditions<'_>,
        opens: bool,
    ) -> S3Result<(Resolved, Option<DataKey>)> {
        if headers.contains_key("x-amz-server-side-encryption") {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-server-side-encryption is only valid on writes; reads of SSE-S3 objects need no header"
            ));
        }
        let resolved = self.resolve(user, bucket, key, version_id).map_err(|e| {
            // A GET or HEAD of a key with no version says no delete marker stands for it.
            let unmarked = e.code() == &s3s::S3ErrorCode::NoSuchKey
                && e.headers().is_none_or(|h| !h.contains_key("x-amz-delete-marker"));
            if unmarked {
                marked(e, false, None)
            } else {
                e
            }
        })?;
        let record = &resolved.record;
        // S3 serves SSE-KMS objects to signed requests only, whatever their ACL says.
        if user.id.is_anonymous() && record.data.seal().and_then(rucket_schemas::Seal::kms_key_id).is_some() {
            return Err(s3_error!(
                AccessDenied,
                "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4."
            ));
        }
        let data_key = if opens {
            self.open_record(record, customer, (bucket, key))?
        } else {
            self.check_record_keys(record, customer, (bucket, key))?;
            None
        };
        conditions.check(&record.etag, record.hlc_timestamp.unix_millis().div_euclid(1000))?;
        Ok((resolved, data_key))
    }

    pub(super) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let user = self.principal(&req)?;
        let input = &req.input;
        let customer = self.customer_key(&req.extensions, super::encryption::customer_headers!(input))?;
        let (Resolved { record, version_id }, data_key) = self.resolve_for_read(
            &user,
            (&input.bucket, &input.key, input.version_id.as_deref()),
            (&req.headers, customer.as_ref()),
            ReadConditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
            true,
        )?;
        let part = part_range(&record, input.part_number)?;
        if part.is_some() && input.range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        let (start, len, content_range) = match &input.range {
            None => match part {
                None => (0, record.size, None),
                Some((start, len)) => (
                    start,
                    len,
                    Some(format!("bytes {start}-{}/{}", (start + len).saturating_sub(1), record.size)),
                ),
            },
            Some(range) => {
                let r = range.check(record.size)?;
                if r.start >= r.end {
                    return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
                }
                let len = r.end - r.start;
                (r.start, len, Some(format!("bytes {}-{}/{}", r.start, r.end - 1, record.size)))
            }
        };
        let body = match self.body(&record, data_key.as_ref(), start, len).await {
            Ok(body) => body,
            // The version was replaced between the lookup and the open, and its blob is
            // gone: S3 answers with the old object or the new one, never an error, so look
            // again and answer with what is current now.
            Err(e) if e.code() == &s3s::S3ErrorCode::InternalError && input.version_id.is_none() => {
                tracing::debug!("blob released during GET; resolving again");
                let again = self.resolve(&user, &input.bucket, &input.key, None)?;
                if again.record.hlc_timestamp == record.hlc_timestamp {
                    return Err(e);
                }
                return Box::pin(self.do_get_object(req)).await;
            }
            Err(e) => return Err(e),
        };
        metrics::counter!(crate::metrics::BYTES_OUT).increment(len);
        let with_checksums =
            input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == ChecksumMode::ENABLED)
                && content_range.is_none();
        let mut output = GetObjectOutput {
            body: Some(body),
            content_length: Some(len as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(ETag::Strong(record.etag.clone())),
            last_modified: Some(timestamp(record.hlc_timestamp)),
            version_id,
            parts_count: part.and(parts_count(&record)),
            tag_count: self.tag_count(&input.bucket, &input.key, &record)?,
            expiration: self.read_expiration(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &record,
            )?,
            ..Default::default()
        };
        super::encryption::echo_sse!(output, crate::sse::echo(record.data.seal(), customer.as_ref()));
        (
            output.object_lock_mode,
            output.object_lock_retain_until_date,
            output.object_lock_legal_hold_status,
        ) = self.lock_headers(&input.bucket, &input.key, &record)?;
        fill_headers(
            &record,
            &mut Headers {
                content_type: &mut output.content_type,
                cache_control: &mut output.cache_control,
                content_disposition: &mut output.content_disposition,
                content_encoding: &mut output.content_encoding,
                content_language: &mut output.content_language,
                expires: &mut output.expires,
                metadata: &mut output.metadata,
                storage_class: &mut output.storage_class,
            },
        );
        if with_checksums {
            fill_checksums(
                &record,
                &mut output.checksum_crc32,
                &mut output.checksum_crc32c,
                &mut output.checksum_crc64nvme,
                &mut output.checksum_sha1,
                &mut output.checksum_sha256,
            );
            output.checksum_type = super::put::checksum_type(&record.checksums);
        }
        Ok(S3Response::new(output))
    }

    /// GetObjectAttributes: the attributes asked for, of the current or a named version.
    pub(super) async fn do_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let user = self.user(&req)?;
        let input = &req.input;
        let customer = self.customer_key(&req.extensions, super::encryption::customer_headers!(input))?;
        let Resolved { record, version_id } =
            self.resolve(&user, &input.bucket, &input.key, input.version_id.as_deref())?;
        // The attributes of an SSE-C object (its plaintext checksums) need its key.
        self.check_record_keys(&record, customer.as_ref(), (&input.bucket, &input.key))?;
        // SDKs send the list as one comma-separated header.
        let wants = |name: &str| {
            input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).any(|a| a.trim() == name)
        };
        let mut output = GetObjectAttributesOutput {
            last_modified: Some(timestamp(record.hlc_timestamp)),
            version_id,
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            output.e_tag = Some(ETag::Strong(record.etag.clone()));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            output.object_size = Some(record.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            output.storage_class =
                Some(s3s::dto::StorageClass::from(record.storage_class.s3_name().to_owned()));
        }
        if wants(ObjectAttributes::CHECKSUM) && !record.checksums.is_empty() {
            let mut checksum = Checksum::default();
            fill_checksums(
                &record,
                &mut checksum.checksum_crc32,
                &mut checksum.checksum_crc32c,
                &mut checksum.checksum_crc64nvme,
                &mut checksum.checksum_sha1,
                &mut checksum.checksum_sha256,
            );
            checksum.checksum_type = super::put::checksum_type(&record.checksums);
            output.checksum = Some(checksum);
        }
        if let (true, ObjectData::Parts(parts)) =
            (wants(ObjectAttributes::OBJECT_PARTS), record.data.unsealed())
        {
            let max = input.max_parts.unwrap_or(1000).clamp(0, 1000);
            let marker = input.part_number_marker.unwrap_or(0);
            let after: Vec<_> = parts.iter().filter(|p| p.part_number as i32 > marker).collect();
            // Each part's checksums, as it was uploaded with them (S3 lists them per part).
            let sums: std::collections::BTreeMap<u32, _> =
                match (BucketName::parse(&input.bucket), ObjectKey::parse(&input.key)) {
                    (Ok(bucket), Ok(key)) => self
                        .projections()
                        .version_part_checksums(&bucket, &key, record.hlc_timestamp)
                        .map_err(errors::projection)?
                        .into_iter()
                        .collect(),
                    _ => Default::default(),
                };
            let page: Vec<ObjectPart> = after
                .iter()
                .take(max as usize)
                .map(|p| {
                    let mut part = ObjectPart {
                        part_number: Some(p.part_number as i32),
                        size: Some(p.size as i64),
                        ..Default::default()
                    };
                    if let Some(checksums) = sums.get(&p.part_number) {
                        [
                            part.checksum_crc32,
                            part.checksum_crc32c,
                            part.checksum_crc64nvme,
                            part.checksum_sha1,
                            part.checksum_sha256,
                        ] = super::put::checksum_fields(checksums);
                    }
                    part
                })
                .collect();
            let truncated = after.len() > page.len();
            output.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(max),
                next_part_number_marker: page.last().and_then(|p| p.part_number).filter(|_| truncated),
                part_number_marker: Some(marker),
                parts: Some(page),
                total_parts_count: Some(parts.len() as i32),
            });
        }
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let user = self.principal(&req)?;
        let input = &req.input;
        let customer = self.customer_key(&req.extensions, super::encryption::customer_headers!(input))?;
        let (Resolved { record, version_id }, _) = self.resolve_for_read(
            &user,
            (&input.bucket, &input.key, input.version_id.as_deref()),
            (&req.headers, customer.as_ref()),
            ReadConditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
            false,
        )?;
        let part = part_range(&record, input.part_number)?;
        let mut output = HeadObjectOutput {
            content_length: Some(part.map_or(record.size, |(_, len)| len) as i64),
            parts_count: part.and(parts_count(&record)),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(ETag::Strong(record.etag.clone())),
            last_modified: Some(timestamp(record.hlc_timestamp)),
            version_id,
            expiration: self.read_expiration(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &record,
            )?,
            ..Default::default()
        };
        super::encryption::echo_sse!(output, crate::sse::echo(record.data.seal(), customer.as_ref()));
        (
            output.object_lock_mode,
            output.object_lock_retain_until_date,
            output.object_lock_legal_hold_status,
        ) = self.lock_headers(&input.bucket, &input.key, &record)?;
        if let Some(range) = &input.range {
            let r = range.check(record.size)?;
            if r.start >= r.end {
                return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
            }
            output.content_length = Some((r.end - r.start) as i64);
            output.content_range = Some(format!("bytes {}-{}/{}", r.start, r.end - 1, record.size));
        }
        fill_headers(
            &record,
            &mut Headers {
                content_type: &mut output.content_type,
                cache_control: &mut output.cache_control,
                content_disposition: &mut output.content_disposition,
                content_encoding: &mut output.content_encoding,
                content_language: &mut output.content_language,
                expires: &mut output.expires,
                metadata: &mut output.metadata,
                storage_class: &mut output.storage_class,
            },
        );
        if input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) {
            fill_checksums(
                &record,
                &mut output.checksum_crc32,
                &mut output.checksum_crc32c,
                &mut output.checksum_crc64nvme,
                &mut output.checksum_sha1,
                &mut output.checksum_sha256,
            );
            output.checksum_type = super::put::checksum_type(&record.checksums);
        }
        // HeadObjectOutput has no field for it, but S3 sends the tag count on HEAD too.
        let tag_count = self.tag_count(&input.bucket, &input.key, &record)?;
        let mut response = S3Response::new(output);
        if let Some(n) = tag_count {
            response.headers.insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(response)
    }

    /// The `x-amz-expiration` of a GET or HEAD: a lifecycle Expiration rule expires the
    /// current version only, so a version named by id has one only while it is current.
    fn read_expiration(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        record: &ObjectRecord,
    ) -> S3Result<Option<String>> {
        if version_id.is_some() {
            let (Ok(b), Ok(k)) = (BucketName::parse(bucket), ObjectKey::parse(key)) else { return Ok(None) };
            if !self.has_lifecycle(&b)? {
                return Ok(None);
            }
            let current = self.projections().current_object(&b, &k).map_err(errors::projection)?;
            if current.is_none_or(|c| c.hlc_timestamp != record.hlc_timestamp) {
                return Ok(None);
            }
        }
        self.expiration(bucket, key, record, None)
    }

    /// The object's bytes from `start`, `len` long, as a stream. Sealed data needs its
    /// opened data key (see [`Self::open_record`]) and is decrypted chunk by chunk.
    pub(super) async fn body(
        &self,
        record: &ObjectRecord,
        data_key: Option<&DataKey>,
        start: u64,
        len: u64,
    ) -> S3Result<StreamingBlob> {
        if record.data.seal().is_some() != data_key.is_some() {
            return Err(errors::internal("reading an object", "its data key was not opened"));
        }
        let segment = |id: &BlobId, part: u32, size: u64, from: u64, n: u64| Segment {
            id: id.clone(),
            key: data_key.map(|k| k.for_part(part)),
            size,
            from,
            len: n,
        };
        match record.data.unsealed() {
            ObjectData::Inline(bytes) => Ok(inline_stream(bytes, start, len)),
            ObjectData::InArchive(position) => {
                let found = self
                    .archive
                    .inline_body(*position, record.hlc_timestamp)
                    .map_err(|e| errors::internal("reading an object", e))?;
                let Some(bytes) = found else {
                    tracing::warn!(%position, "the archive does not hold the body a view names there (a snapshot install refilling it?)");
                    return Err(s3_error!(ServiceUnavailable, "The body is being refilled; please retry"));
                };
                if bytes.len() as u64 != record.size {
                    return Err(errors::internal(
                        "reading an object",
                        format!("its archived body holds {} bytes, not {}", bytes.len(), record.size),
                    ));
                }
                Ok(inline_stream(&bytes, start, len))
            }
            ObjectData::Blob(id) => self.blob_stream(vec![segment(id, 0, record.size, start, len)]).await,
            ObjectData::Parts(parts) => {
                // The slices of each part blob that fall inside [start, start + len).
                let end = start + len;
                let mut segments = Vec::new();
                let mut offset = 0u64;
                for part in parts {
                    let (part_start, part_end) = (offset, offset + part.size);
                    if part_end > start && part_start < end {
                        let from = start.max(part_start) - part_start;
                        let to = end.min(part_end) - part_start;
                        segments.push(segment(&part.blob_id, part.part_number, part.size, from, to - from));
                    }
                    offset = part_end;
                }
                self.blob_stream(segments).await
            }
            ObjectData::Sealed { .. } => Err(errors::internal("reading an object", "a seal within a seal")),
        }
    }

    /// Streams slices `(blob, its size, from, length)` of blob files, each chunk checked
    /// against its CRC32C. Every blob is opened before answering (an open file stays
    /// readable even if a concurrent overwrite releases it mid-download), and the first
    /// block is read and checked too, so a corrupt start fails with an error status
    /// rather than a cut-off body.
    async fn blob_stream(&self, segments: Vec<Segment>) -> S3Result<StreamingBlob> {
        if let Some(copies) = &self.copies {
            // A node of a cluster may lack a body (a copy that failed, a node that was
            // down or joined later): it fetches it from a peer before reading.
            for segment in &segments {
                if !self.blobs.contains(&segment.id) {
                    if let Err(e) = copies.fetch(&segment.id).await {
                        tracing::warn!(blob = %segment.id, error = %e, "could not fetch a missing blob");
                    }
                }
            }
        }
        let store = self.blobs.clone();
        let (first, readers) = tokio::task::spawn_blocking(move || {
            let mut readers = segments
                .into_iter()
                .map(|s| -> Result<Box<dyn BlockRead>, rucket_blobs::BlobError> {
                    Ok(match &s.key {
                        Some(key) => Box::new(store.sealed_reader(&s.id, key, s.size, s.from, s.len)?),
                        None => Box::new(store.reader(&s.id, s.size, s.from, s.len)?),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let first = match readers.first_mut() {
                Some(reader) => reader.next_block(READ_CHUNK)?,
                None => None,
            };
            Ok::<_, rucket_blobs::BlobError>((first, readers))
        })
        .await
        .map_err(|e| errors::internal("opening blobs", e))?
        .map_err(errors::blob)?;
        let rest = futures::stream::iter(readers).flat_map(|reader| reader.into_stream(READ_CHUNK));
        Ok(StreamingBlob::wrap(futures::stream::iter(first.map(Ok)).chain(rest)))
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let user = self.principal(&req)?;
        let input = req.input;
        self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        if input.if_match_last_modified_time.is_some() || input.if_match_size.is_some() {
            return Err(errors::not_implemented("Deletes conditional on a time or size"));
        }
        let condition = input.if_match.as_ref().map(super::put::if_match_condition);
        let bucket = Self::bucket_name(&input.bucket)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let (delete_marker, version_id) = self
            .delete_one(&user, bucket, key, input.version_id, input.bypass_governance_retention, condition)
            .await?;
        Ok(S3Response::new(DeleteObjectOutput { delete_marker, version_id, ..Default::default() }))
    }

    /// Deletes one key or version; answers whether a delete marker is involved (created,
    /// or the version removed was one) and the version id to report.
    async fn delete_one(
        &self,
        user: &User,
        bucket: rucket_schemas::BucketName,
        key: ObjectKey,
        version_id: Option<String>,
        bypass_governance: Option<bool>,
        condition: Option<WriteCondition>,
    ) -> S3Result<(Option<bool>, Option<String>)> {
        let removes_marker = match &version_id {
            Some(v) => matches!(
                self.projections().version(&bucket, &key, &VersionId::new(v.as_str())),
                Ok(Some(VersionEntry::DeleteMarker { .. }))
            ),
            None => false,
        };
        let body = CommandBody::DeleteObject {
            bucket,
            key,
            version_id: version_id.clone().map(VersionId::new),
            marker_version_id: VersionId::new(hex::encode(rand::random::<[u8; 16]>())),
        };
        let body = super::lock::with_bypass(bypass_governance, body);
        let body = match condition {
            Some(condition) => CommandBody::IfMatched { condition, inner: Box::new(body) },
            None => body,
        };
        let outcome = self.propose(user, body).await?;
        match self.archived(&outcome) {
            Some(rucket_schemas::StorageEvent::ObjectDeleted(d)) if d.delete_marker => {
                Ok((Some(true), Some(d.version_id.to_string())))
            }
            _ => Ok((removes_marker.then_some(true), version_id)),
        }
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let user = self.principal(&req)?;
        let scope = req.extensions.get::<crate::access::PolicyScope>().cloned();
        let identity = req.extensions.get::<crate::access::IdentityScope>().cloned();
        let input = req.input;
        // With a bucket policy, each key is decided on its own below.
        let (bucket, may_write) =
            match self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write) {
                Ok((bucket, _)) => (bucket, true),
                Err(e) if scope.is_none() => return Err(e),
                Err(_) => (self.existing_bucket(&input.bucket)?.0, false),
            };
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > 1000 {
            return Err(s3_error!(MalformedXML, "A DeleteObjects request names 1 to 1000 keys"));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bypass = input.bypass_governance_retention;
        // Each key is its own command; proposed together they share a Raft entry.
        let results = futures::future::join_all(objects.into_iter().map(|object| {
            let bucket = bucket.clone();
            let mut user = user.clone();
            let verdict = scope.as_ref().map(|scope| {
                let action =
                    if object.version_id.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
                scope.on_object(action, bucket.as_str(), &object.key)
            });
            user.policy_allows =
                (verdict == Some(rucket_policy::Verdict::Allow)).then(|| bucket.as_str().to_owned());
            if let Some(facts) = &user.facts {
                // Apply judges each key's delete with its own version (a different action).
                let mut facts = (**facts).clone();
                facts.version_id = object.version_id.is_some();
                user.facts = Some(std::sync::Arc::new(facts));
            }
            let action =
                if object.version_id.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
            // The access key's identity policy, judged per key and version too.
            let identity_refuses =
                identity.as_ref().is_some_and(|i| !i.allows(action, bucket.as_str(), &object.key));
            let refused = identity_refuses
                || verdict == Some(rucket_policy::Verdict::Deny)
                || (!may_write && user.policy_allows.is_none());
            async move {
                if refused {
                    return (object, Err(errors::rejection(rucket_schemas::Rejection::AccessDenied)));
                }
                let unsupported = object.last_modified_time.is_some() || object.size.is_some();
                let condition = object.e_tag.as_ref().map(|e| match e.value() {
                    "*" => WriteCondition::IfExists,
                    etag => WriteCondition::IfMatch(etag.to_owned()),
                });
                let outcome = match ObjectKey::parse(&object.key) {
                    Err(e) => Err(errors::key_name(e)),
                    // Refused rather than ignored.
                    Ok(_) if unsupported => {
                        Err(errors::not_implemented("Deletes conditional on a time or size"))
                    }
                    Ok(key) => {
                        self.delete_one(&user, bucket, key, object.version_id.clone(), bypass, condition)
                            .await
                    }
                };
                (object, outcome)
            }
        }))
        .await;
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for (object, outcome) in results {
            match outcome {
                Ok((delete_marker, version_id)) => {
                    if !quiet {
                        let created_marker = object.version_id.is_none() && delete_marker == Some(true);
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            version_id: object.version_id,
                            delete_marker,
                            delete_marker_version_id: if created_marker { version_id } else { None },
                        });
                    }
                }
                Err(e) => failed.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(object.key),
                    message: e.message().map(str::to_owned),
                    version_id: object.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(failed),
            ..Default::default()
        }))
    }
}

/// The byte range a `partNumber` names: part 1 of a single-part object is all of it.
fn part_range(record: &ObjectRecord, part_number: Option<i32>) -> S3Result<Option<(u64, u64)>> {
    let Some(n) = part_number else { return Ok(None) };
    // 400 InvalidPart, as Ceph's suite expects of S3 (test_multipart_get_part,
    // test_non_multipart_get_part); AWS's documentation names 416 InvalidPartNumber.
    let invalid = || {
        let mut e = S3Error::with_message(
            s3s::S3ErrorCode::InvalidPart,
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        e
    };
    match record.data.unsealed() {
        ObjectData::Parts(parts) => {
            let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).filter(|i| *i < parts.len());
            let index = index.ok_or_else(invalid)?;
            let start: u64 = parts[..index].iter().map(|p| p.size).sum();
            Ok(Some((start, parts[index].size)))
        }
        _ if n == 1 => Ok(Some((0, record.size))),
        _ => Err(invalid()),
    }
}

fn parts_count(record: &ObjectRecord) -> Option<i32> {
    match record.data.unsealed() {
        ObjectData::Parts(parts) => Some(parts.len() as i32),
        _ => Some(1),
    }
}

struct Headers<'a> {
    content_type: &'a mut Option<ContentType>,
    cache_control: &'a mut Option<CacheControl>,
    content_disposition: &'a mut Option<ContentDisposition>,
    content_encoding: &'a mut Option<ContentEncoding>,
    content_language: &'a mut Option<ContentLanguage>,
    expires: &'a mut Option<Expires>,
    metadata: &'a mut Option<Metadata>,
    storage_class: &'a mut Option<StorageClass_>,
}

type StorageClass_ = s3s::dto::StorageClass;

fn fill_headers(record: &ObjectRecord, out: &mut Headers<'_>) {
    let h = &record.headers;
    *out.content_type = Some(h.content_type.clone().unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()));
    *out.cache_control = h.cache_control.clone();
    *out.content_disposition = h.content_disposition.clone();
    *out.content_encoding = h.content_encoding.clone();
    *out.content_language = h.content_language.clone();
    *out.expires = h.expires.as_deref().and_then(|e| Timestamp::parse(TimestampFormat::HttpDate, e).ok());
    if !record.user_metadata.is_empty() {
        *out.metadata = Some(record.user_metadata.clone().into_iter().collect());
    }
    if record.storage_class != StorageClass::Standard {
        *out.storage_class = Some(StorageClass_::from(record.storage_class.s3_name().to_owned()));
    }
}

fn fill_checksums(
    record: &ObjectRecord,
    crc32: &mut Option<String>,
    crc32c: &mut Option<String>,
    crc64nvme: &mut Option<String>,
    sha1: &mut Option<String>,
    sha256: &mut Option<String>,
) {
    for (name, value) in &record.checksums {
        let slot = match name.as_str() {
            "CRC32" => &mut *crc32,
            "CRC32C" => &mut *crc32c,
            "CRC64NVME" => &mut *crc64nvme,
            "SHA1" => &mut *sha1,
            "SHA256" => &mut *sha256,
            _ => continue,
        };
        *slot = Some(value.clone());
    }
}

/// `len` bytes of a small body from `start`, as a one-chunk stream.
fn inline_stream(bytes: &[u8], start: u64, len: u64) -> StreamingBlob {
    let slice = Bytes::copy_from_slice(&bytes[start as usize..(start + len) as usize]);
    StreamingBlob::wrap(futures::stream::iter([Ok::<_, std::io::Error>(slice)]))
}
