//! PutObject: stream the body once into the blob store (hashing as it goes), verify the
//! digests the client sent, then propose the object's event.

use std::collections::BTreeMap;

use base64::Engine as _;
use rucket_blobs::{ChecksumAlgorithm, IngestOptions, Ingested};
use rucket_schemas::{
    CommandBody, CreateOperation, ObjectKey, ObjectRecord, ReplicationStatus, StorageClass, VersionId,
    WriteCondition,
};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;

/// Checksum values the client declared, by algorithm: from headers now, from trailers
/// once the body has been read.
pub(super) struct Declared {
    content_md5: Option<[u8; 16]>,
    headers: Vec<(ChecksumAlgorithm, String)>,
    /// Algorithms announced in `x-amz-trailer`.
    trailers: Vec<ChecksumAlgorithm>,
}

/// The `x-amz-checksum-*` header values of a request, in `ChecksumAlgorithm::ALL` order.
pub(super) type ChecksumHeaders<'a> = [Option<&'a String>; 5];

impl Declared {
    fn from_request(req: &S3Request<PutObjectInput>) -> S3Result<Self> {
        let i = &req.input;
        let sums = [
            &i.checksum_crc32,
            &i.checksum_crc32c,
            &i.checksum_crc64nvme,
            &i.checksum_sha1,
            &i.checksum_sha256,
        ];
        Self::parse(i.content_md5.as_ref(), sums.map(Option::as_ref), &req.headers)
    }

    pub(super) fn parse(
        content_md5: Option<&String>,
        sums: ChecksumHeaders<'_>,
        request_headers: &http::HeaderMap,
    ) -> S3Result<Self> {
        let content_md5 = match content_md5 {
            None => None,
            Some(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
                Some(bytes)
            }
        };
        let headers: Vec<(ChecksumAlgorithm, String)> = ChecksumAlgorithm::ALL
            .into_iter()
            .zip(sums)
            .filter_map(|(a, v)| v.map(|v| (a, v.clone())))
            .collect();
        if headers.len() > 1 {
            return Err(s3_error!(
                InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            ));
        }
        let mut trailers = Vec::new();
        if let Some(value) = request_headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let algorithm = name
                    .strip_prefix("x-amz-checksum-")
                    .and_then(ChecksumAlgorithm::from_s3_name)
                    .ok_or_else(|| s3_error!(InvalidRequest, "Unsupported trailer {name}"))?;
                trailers.push(algorithm);
            }
        }
        Ok(Self { content_md5, headers, trailers })
    }

    /// Every algorithm the ingest pass must compute.
    pub(super) fn algorithms(
        &self,
        requested: Option<&s3s::dto::ChecksumAlgorithm>,
    ) -> S3Result<Vec<ChecksumAlgorithm>> {
        let mut out: Vec<ChecksumAlgorithm> =
            self.headers.iter().map(|(a, _)| *a).chain(self.trailers.iter().copied()).collect();
        if let Some(requested) = requested {
            let a = ChecksumAlgorithm::from_s3_name(requested.as_str()).ok_or_else(|| {
                s3_error!(InvalidRequest, "Checksum algorithm {} is not supported", requested.as_str())
            })?;
            out.push(a);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn bad_digest(algorithm: &str) -> S3Error {
    s3_error!(BadDigest, "The {algorithm} you specified did not match the calculated checksum.")
}

/// Compares what was computed with what the client declared (headers and trailers).
pub(super) fn verify(
    declared: &Declared,
    trailers: Option<&http::HeaderMap>,
    ingested: &Ingested,
) -> S3Result<BTreeMap<String, String>> {
    if let Some(md5) = declared.content_md5 {
        if md5 != ingested.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let computed = |a: ChecksumAlgorithm| ingested.checksums.iter().find(|(x, _)| *x == a).map(|(_, v)| v);
    let mut stored = BTreeMap::new();
    for (algorithm, value) in &declared.headers {
        if computed(*algorithm) != Some(value) {
            return Err(bad_digest(algorithm.s3_name()));
        }
        stored.insert(algorithm.s3_name().to_owned(), value.clone());
    }
    for algorithm in &declared.trailers {
        let name = format!("x-amz-checksum-{}", algorithm.s3_name().to_ascii_lowercase());
        let sent =
            trailers.and_then(|t| t.get(name.as_str())).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                s3_error!(IncompleteBody, "The trailing checksum {name} was announced but not sent.")
            })?;
        if computed(*algorithm).map(String::as_str) != Some(sent.trim()) {
            return Err(bad_digest(algorithm.s3_name()));
        }
        stored.insert(algorithm.s3_name().to_owned(), sent.trim().to_owned());
    }
    // A checksum the client only asked us to compute is stored too.
    for (algorithm, value) in &ingested.checksums {
        stored.entry(algorithm.s3_name().to_owned()).or_insert_with(|| value.clone());
    }
    Ok(stored)
}

/// The most user metadata (`x-amz-meta-*` names and values, in bytes) S3 accepts.
pub(super) const MAX_USER_METADATA: usize = 2 << 10;

/// Refuses user metadata larger than S3 allows (400 MetadataTooLarge).
pub(super) fn check_metadata(metadata: Option<&Metadata>) -> S3Result<()> {
    let size: usize = metadata.into_iter().flatten().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size ({size} of {MAX_USER_METADATA} bytes)"
        ));
    }
    Ok(())
}

fn refuse_unsupported(input: &PutObjectInput) -> S3Result<()> {
    check_metadata(input.metadata.as_ref())?;
    if input.ssekms_encryption_context.is_some() {
        return Err(errors::not_implemented("SSE-KMS encryption contexts"));
    }
    if input.website_redirect_location.is_some() {
        return Err(errors::not_implemented("Website redirects"));
    }
    if input.write_offset_bytes.is_some() {
        return Err(errors::not_implemented("Appending writes"));
    }
    Ok(())
}

fn condition(input: &PutObjectInput) -> S3Result<WriteCondition> {
    write_condition(input.if_none_match.as_ref(), input.if_match.as_ref())
}

/// `If-None-Match` and `If-Match` on a write (an ETag or `*`), decided in log order.
pub(super) fn write_condition(
    if_none_match: Option<&ETagCondition>,
    if_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_none_match, if_match) {
        (Some(_), Some(_)) => {
            Err(s3_error!(NotImplemented, "If-Match and If-None-Match together are not supported"))
        }
        (Some(cond), None) => Ok(match cond.as_etag() {
            None => WriteCondition::IfNoneMatch,
            Some(etag) => WriteCondition::IfNoneMatchETag(etag.value().to_owned()),
        }),
        (None, Some(cond)) => Ok(if_match_condition(cond)),
        (None, None) => Ok(WriteCondition::Always),
    }
}

/// `If-Match: <etag>` or `If-Match: *`.
pub(super) fn if_match_condition(cond: &ETagCondition) -> WriteCondition {
    match cond.as_etag() {
        Some(etag) => WriteCondition::IfMatch(etag.value().to_owned()),
        None => WriteCondition::IfExists,
    }
}

/// The standard headers a write's input carries (PutObject, CopyObject and
/// CreateMultipartUpload name the six fields alike); moves them out of `$input`.
macro_rules! standard_headers {
    ($input:expr) => {
        rucket_schemas::StandardHeaders {
            content_type: $input.content_type,
            cache_control: $input.cache_control,
            content_disposition: $input.content_disposition,
            content_encoding: $crate::s3::put::stored_content_encoding($input.content_encoding),
            content_language: $input.content_language,
            expires: $input.expires.as_ref().and_then($crate::s3::put::http_date),
        }
    };
}
pub(super) use standard_headers;

/// `aws-chunked` is a transfer detail, not the object's encoding: it is taken out, and
/// the other encodings are kept as the client wrote them (a value without it verbatim).
pub(super) fn stored_content_encoding(value: Option<String>) -> Option<String> {
    let value = value.filter(|v| !v.trim().is_empty())?;
    let tokens: Vec<&str> = value.split(',').map(str::trim).collect();
    if !tokens.iter().any(|e| e.eq_ignore_ascii_case("aws-chunked")) {
        return Some(value);
    }
    let kept: Vec<&str> =
        tokens.into_iter().filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked")).collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// The storage class a request names (`None` when it names none); an unknown name is
/// InvalidStorageClass.
pub(super) fn storage_class(requested: Option<&s3s::dto::StorageClass>) -> S3Result<Option<StorageClass>> {
    requested
        .map(|sc| {
            StorageClass::from_s3_name(sc.as_str())
                .ok_or_else(|| s3_error!(InvalidStorageClass, "The storage class you specified is not valid"))
        })
        .transpose()
}

/// Stored checksums as the five `x-amz-checksum-*` response fields, in
/// `ChecksumAlgorithm::ALL` order.
pub(super) fn checksum_fields(checksums: &BTreeMap<String, String>) -> [Option<String>; 5] {
    ChecksumAlgorithm::ALL.map(|a| checksums.get(a.s3_name()).cloned())
}

/// The `x-amz-checksum-type` of stored checksums: COMPOSITE for a checksum of part
/// checksums (`<base64>-<parts>`), FULL_OBJECT for one over all the bytes.
pub(super) fn checksum_type(checksums: &BTreeMap<String, String>) -> Option<ChecksumType> {
    let value = checksums.values().next()?;
    let kind = if value.contains('-') { ChecksumType::COMPOSITE } else { ChecksumType::FULL_OBJECT };
    Some(ChecksumType::from_static(kind))
}

pub(super) fn http_date(ts: &Timestamp) -> Option<String> {
    let mut out = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

impl Rucket {
    pub(super) async fn do_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.put_object_as(req, CreateOperation::Put).await
    }

    /// A browser upload (POST with a signed policy): s3s checks the signature and the
    /// policy's conditions and hands over the form as a PutObject; the event names it
    /// `s3:ObjectCreated:Post`.
    pub(super) async fn do_post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        let checksum = req.extensions.get::<crate::post_form::PostChecksum>().cloned();
        let mut put = req.map_input(post_to_put);
        // A checksum field the policy does not name, taken out of s3s's sight (post_form.rs).
        if let Some(crate::post_form::PostChecksum(name, value)) = checksum {
            let input = &mut put.input;
            match name.as_str() {
                "x-amz-checksum-crc32" => input.checksum_crc32 = Some(value),
                "x-amz-checksum-crc32c" => input.checksum_crc32c = Some(value),
                "x-amz-checksum-crc64nvme" => input.checksum_crc64nvme = Some(value),
                "x-amz-checksum-sha1" => input.checksum_sha1 = Some(value),
                "x-amz-checksum-sha256" => input.checksum_sha256 = Some(value),
                other => return Err(s3_error!(InvalidRequest, "Unknown checksum field {other}")),
            }
        }
        let mut response = self.put_object_as(put, CreateOperation::Post).await?;
        // s3s writes no header of a POST's output; it adds the response's own headers.
        if let Some(value) =
            response.output.expiration.as_deref().and_then(|e| http::HeaderValue::from_str(e).ok())
        {
            response.headers.insert("x-amz-expiration", value);
        }
        Ok(response.map_output(|out| PostObjectOutput {
            e_tag: out.e_tag,
            version_id: out.version_id,
            expiration: out.expiration,
            checksum_crc32: out.checksum_crc32,
            checksum_crc32c: out.checksum_crc32c,
            checksum_crc64nvme: out.checksum_crc64nvme,
            checksum_sha1: out.checksum_sha1,
            checksum_sha256: out.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn put_object_as(
        &self,
        mut req: S3Request<PutObjectInput>,
        operation: CreateOperation,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if operation == CreateOperation::Post && !self.accept_any_signing_region {
            // A browser upload names its credential in the form, out of the scope check's
            // sight (scope.rs): s3s hands the form's region over, checked here.
            if let Some(region) = req.region.as_ref().filter(|r| r.as_str() != self.region.as_str()) {
                return Err(s3_error!(
                    AuthorizationQueryParametersError,
                    "Error parsing the X-Amz-Credential parameter; the region '{}' is wrong; expecting '{}'",
                    region.as_str(),
                    self.region.as_str()
                ));
            }
        }
        let mut user = self.principal(&req)?;
        if let Some(identity) = req.extensions.get::<crate::access::IdentityScope>() {
            // A POST names its key in the form: the key's identity policy is judged on it here.
            if !identity.allows("s3:PutObject", &req.input.bucket, &req.input.key) {
                return Err(s3_error!(AccessDenied, "Access Denied by the access key's policy"));
            }
        }
        if let Some(scope) = req.extensions.get::<crate::access::PolicyScope>() {
            // A POST names its key in the form: the bucket policy is judged on it here.
            match scope.on_object("s3:PutObject", &req.input.bucket, &req.input.key) {
                rucket_policy::Verdict::Deny => {
                    return Err(s3_error!(AccessDenied, "Access Denied by the bucket policy"))
                }
                rucket_policy::Verdict::Allow => user.policy_allows = Some(req.input.bucket.clone()),
                rucket_policy::Verdict::Silent => {}
            }
        }
        let (bucket, bucket_record) =
            self.bucket_access(&user, &req.input.bucket, rucket_schemas::Permission::Write)?;
        let key = ObjectKey::parse(&req.input.key).map_err(errors::key_name)?;
        refuse_unsupported(&req.input)?;
        let acl = super::acl::object_acl!(req, req.input, &bucket_record.owner, &self.users)?;
        self.check_grantees(acl.as_ref(), &[&bucket_record.owner, &user.id])?;
        self.check_acls_enabled(&bucket, acl.as_ref(), &bucket_record.owner)?;
        let condition = condition(&req.input)?;
        let lock = super::lock::requested(
            req.input.object_lock_mode.as_ref(),
            req.input.object_lock_retain_until_date.as_ref(),
            req.input.object_lock_legal_hold_status.as_ref(),
        )?;
        if lock.is_some() && !bucket_record.object_lock_enabled {
            return Err(super::lock::bucket_without_lock());
        }
        let tags = match req.extensions.get::<crate::post_form::PostTagging>() {
            Some(_) if req.input.tagging.is_some() => {
                return Err(s3_error!(
                    InvalidArgument,
                    "The form names tags twice: tagging and x-amz-tagging"
                ));
            }
            Some(crate::post_form::PostTagging(xml)) => super::tagging::from_form(xml)?,
            None => super::tagging::from_header(req.input.tagging.as_deref())?,
        };
        let storage_class = storage_class(req.input.storage_class.as_ref())?.unwrap_or_default();
        let declared = Declared::from_request(&req)?;
        let algorithms = declared.algorithms(req.input.checksum_algorithm.as_ref())?;
        let expected_len = req.input.content_length.map(|n| n.max(0) as u64);
        let requested = self.requested_sse(
            &req.extensions,
            req.input.server_side_encryption.as_ref(),
            req.input.ssekms_key_id.as_deref(),
            super::encryption::customer_headers!(req.input),
        )?;
        let version_id = VersionId::new(hex::encode(rand::random::<[u8; 16]>()));
        let sealed = self.new_seal(&requested, (&bucket, key.as_str(), version_id.as_str())).await?;
        let seal_key = sealed.as_ref().map(|(_, data_key)| data_key.for_part(0));
        let body =
            req.input.body.take().ok_or_else(|| s3_error!(IncompleteBody, "The request has no body"))?;
        let _slot = self.upload_slot(&req.credentials, expected_len)?;
        let ingested = self
            .blobs
            .ingest(
                body,
                IngestOptions {
                    inline_threshold: self.inline_threshold,
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

        let input = req.input;
        let etag = super::encryption::etag_of(&requested, &ingested.md5);
        let hlc = self.clock.now();
        let seal = sealed.map(|(seal, _)| seal);
        let owner = self.asked_owner(&user, &bucket, &bucket_record.owner, acl.as_ref())?;
        let record = ObjectRecord {
            version_id,
            size: ingested.size,
            etag: etag.clone(),
            headers: super::put::standard_headers!(input),
            user_metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            data: super::encryption::sealed_data(seal.as_ref(), ingested.data.clone()),
            owner: owner.clone(),
            hlc_timestamp: hlc,
            placement_group: 0,
            home_region: self.region.clone(),
            storage_class,
            replication_status: ReplicationStatus::None,
            checksums: checksums.clone(),
        };
        let expiration = self.expiration(bucket.as_str(), key.as_str(), &record, Some(&tags))?;
        let body = super::tagging::tagged(
            tags,
            super::lock::with_lock(
                lock,
                CommandBody::PutObject {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    operation,
                    record: Box::new(record),
                    condition,
                },
            ),
        );
        let outcome = self.propose_ingested(&user, hlc, body, &ingested).await?;
        let mut output = PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            version_id: self.created_version(&bucket, &outcome),
            expiration,
            ..Default::default()
        };
        let customer = match &requested {
            crate::sse::Requested::Customer(key) => Some(key),
            _ => None,
        };
        super::encryption::echo_sse!(output, crate::sse::echo(seal.as_ref(), customer));
        // The ACL goes on a version its writer owns; one that apply gave the bucket's owner
        // (its ownership controls) has, as that owner's, all an ACL could say.
        let owner = match acl {
            Some(_) => self.committed_owner(&outcome).unwrap_or(owner),
            None => owner,
        };
        if let Some(acl) = acl.filter(|_| owner == user.id) {
            // The version exists, private, from here; its grants follow in their own event.
            self.apply_object_acl(&user, &bucket, &key, output.version_id.clone(), acl).await?;
        }
        [
            output.checksum_crc32,
            output.checksum_crc32c,
            output.checksum_crc64nvme,
            output.checksum_sha1,
            output.checksum_sha256,
        ] = checksum_fields(&checksums);
        output.checksum_type = checksum_type(&checksums);
        Ok(S3Response::new(output))
    }

    /// Proposes a write whose bytes were ingested (see [`Self::propose_owning`]).
    pub(super) async fn propose_ingested(
        &self,
        user: &crate::credentials::User,
        hlc: rucket_schemas::Hlc,
        body: CommandBody,
        ingested: &Ingested,
    ) -> S3Result<rucket_schemas::Outcome> {
        let blobs = ingested.data.blob_ids().into_iter().cloned().collect();
        self.propose_owning(user, hlc, body, blobs).await
    }

    /// Removes the blob of a body that will never be referenced.
    pub(super) fn discard(&self, ingested: &Ingested) {
        let blobs: Vec<_> = ingested.data.blob_ids().into_iter().cloned().collect();
        if !blobs.is_empty() {
            tokio::spawn(super::remove_unreferenced(self.blobs.clone(), blobs));
        }
    }
}

/// The PutObject a POST form amounts to (the fields s3s parsed from the form).
fn post_to_put(p: PostObjectInput) -> PutObjectInput {
    PutObjectInput {
        acl: p.acl,
        body: p.body,
        bucket: p.bucket,
        bucket_key_enabled: p.bucket_key_enabled,
        cache_control: p.cache_control,
        checksum_algorithm: p.checksum_algorithm,
        checksum_crc32: p.checksum_crc32,
        checksum_crc32c: p.checksum_crc32c,
        checksum_crc64nvme: p.checksum_crc64nvme,
        checksum_sha1: p.checksum_sha1,
        checksum_sha256: p.checksum_sha256,
        content_disposition: p.content_disposition,
        content_encoding: p.content_encoding,
        content_language: p.content_language,
        content_length: p.content_length,
        content_md5: p.content_md5,
        content_type: p.content_type,
        expected_bucket_owner: p.expected_bucket_owner,
        expires: p.expires,
        grant_full_control: p.grant_full_control,
        grant_read: p.grant_read,
        grant_read_acp: p.grant_read_acp,
        grant_write_acp: p.grant_write_acp,
        if_match: p.if_match,
        if_none_match: p.if_none_match,
        key: p.key,
        metadata: p.metadata,
        object_lock_legal_hold_status: p.object_lock_legal_hold_status,
        object_lock_mode: p.object_lock_mode,
        object_lock_retain_until_date: p.object_lock_retain_until_date,
        request_payer: p.request_payer,
        sse_customer_algorithm: p.sse_customer_algorithm,
        sse_customer_key: p.sse_customer_key,
        sse_customer_key_md5: p.sse_customer_key_md5,
        ssekms_encryption_context: p.ssekms_encryption_context,
        ssekms_key_id: p.ssekms_key_id,
        server_side_encryption: p.server_side_encryption,
        storage_class: p.storage_class,
        tagging: p.tagging,
        website_redirect_location: p.website_redirect_location,
        write_offset_bytes: p.write_offset_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_stored_as_an_encoding() {
        assert_eq!(stored_content_encoding(Some("aws-chunked".into())), None);
        assert_eq!(stored_content_encoding(Some("aws-chunked,gzip".into())), Some("gzip".into()));
        assert_eq!(stored_content_encoding(Some("gzip".into())), Some("gzip".into()));
        assert_eq!(stored_content_encoding(Some("deflate, gzip".into())), Some("deflate, gzip".into()));
        assert_eq!(stored_content_encoding(Some("gzip, aws-chunked".into())), Some("gzip".into()));
        assert_eq!(
            stored_content_encoding(Some("deflate, aws-chunked,gzip".into())),
            Some("deflate, gzip".into())
        );
        assert_eq!(stored_content_encoding(Some("aws-chunked, aws-chunked".into())), None);
        assert_eq!(stored_content_encoding(None), None);
    }
}
