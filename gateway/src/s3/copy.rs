//! CopyObject: the source's bytes stream into a new object (never buffered whole), with
//! its metadata copied or replaced. Each version owns its blobs, so a copy writes new
//! ones rather than sharing the source's.

use rucket_blobs::{ChecksumAlgorithm, IngestOptions};
use rucket_schemas::{
    CommandBody, CreateOperation, ObjectKey, ObjectRecord, ReplicationStatus, StorageClass, VersionId,
    WriteCondition,
};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::conditions::ReadConditions;
use super::{timestamp, Rucket};
use crate::errors;
use crate::sse::Requested;

fn refuse_unsupported(input: &CopyObjectInput) -> S3Result<()> {
    super::put::check_metadata(input.metadata.as_ref())?;
    if input.ssekms_encryption_context.is_some() {
        return Err(errors::not_implemented("SSE-KMS encryption contexts"));
    }
    if input.website_redirect_location.is_some() {
        return Err(errors::not_implemented("Website redirects"));
    }
    Ok(())
}

/// Source conditions of a copy: every failed condition is 412 (never 304).
pub(super) fn check_copy_source(conditions: &ReadConditions<'_>, source: &ObjectRecord) -> S3Result<()> {
    conditions.check(&source.etag, source.hlc_timestamp.unix_millis().div_euclid(1000)).map_err(|e| {
        if e.code() == &s3s::S3ErrorCode::NotModified {
            s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
        } else {
            e
        }
    })
}

impl Rucket {
    /// The version a copy reads; naming a delete marker is a bad request (not 405).
    /// The version a copy reads, if `user` may read it: by ownership, ACL, or the source
    /// bucket's own policy (never the destination's), which may also deny it.
    pub(super) fn resolve_copy_source(
        &self,
        user: &crate::credentials::User,
        facts: Option<&crate::access::CopySourceFacts>,
        (bucket, key, version_id): (&str, &str, Option<&str>),
    ) -> S3Result<super::object::Resolved> {
        if let (Some(text), Some(key_id)) = (&user.identity_policy, &user.managed_key) {
            // The access key's identity policy must allow reading the source too.
            let policy = self.policies.get_identity(key_id, text).map_err(|e| {
                tracing::error!(error = %e, "a stored identity policy does not parse");
                s3_error!(AccessDenied, "Access Denied: the stored identity policy does not parse")
            })?;
            let request = rucket_policy::Request {
                user: Some(user.id.to_string()),
                action: rucket_policy::action("GetObject", version_id.is_some()),
                former_action: None,
                resource: format!("arn:aws:s3:::{bucket}/{key}"),
                keys: facts.map(|f| f.keys.clone()).unwrap_or_default(),
            };
            if !matches!(policy.evaluate(&request), rucket_policy::Verdict::Allow) {
                return Err(s3_error!(
                    AccessDenied,
                    "Access Denied: the access key's policy does not allow reading the copy source"
                ));
            }
        }
        let mut reader = user.clone();
        reader.policy_allows = None;
        if let Ok(name) = rucket_schemas::BucketName::parse(bucket) {
            let text = self.projections().bucket_policy(&name).map_err(errors::projection)?;
            let policy = match text {
                Some(text) => Some(self.policies.get(bucket, &text).map_err(|e| {
                    tracing::error!(bucket, error = %e, "a stored bucket policy does not parse");
                    s3_error!(AccessDenied, "Access Denied: the source bucket's stored policy does not parse")
                })?),
                None => None,
            };
            if let Some(policy) = policy {
                let facts = facts.cloned().unwrap_or_default();
                let request = rucket_policy::Request {
                    user: facts.user,
                    action: rucket_policy::action("GetObject", version_id.is_some()),
                    former_action: None,
                    resource: format!("arn:aws:s3:::{bucket}/{key}"),
                    keys: facts.keys,
                };
                match policy.evaluate(&request) {
                    rucket_policy::Verdict::Deny => {
                        return Err(s3_error!(AccessDenied, "Access Denied by the source bucket's policy"))
                    }
                    rucket_policy::Verdict::Allow
                        if !crate::access::restricted(self.projections(), &policy, &name, Some(user))? =>
                    {
                        reader.policy_allows = Some(bucket.to_owned());
                    }
                    _ => {}
                }
            }
        }
        self.resolve(&reader, bucket, key, version_id).map_err(|e| {
            if e.code() == &s3s::S3ErrorCode::MethodNotAllowed {
                s3_error!(
                    InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id."
                )
            } else {
                e
            }
        })
    }

    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let user = self.user(&req)?;
        refuse_unsupported(&req.input)?;
        // The source opens with its own SSE-C key; the copy is sealed as its own request
        // (or the destination bucket's default) says, never as the source was.
        let source_key =
            self.customer_key(&req.extensions, super::encryption::copy_source_customer_headers!(req.input))?;
        let requested = self.requested_sse(
            &req.extensions,
            req.input.server_side_encryption.as_ref(),
            req.input.ssekms_key_id.as_deref(),
            super::encryption::customer_headers!(req.input),
        )?;
        let input = req.input;
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
        // Writing the copy is a write like PutObject: the owner, a WRITE grant, or a policy.
        let (dest_bucket, dest_record) =
            self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Write)?;
        let dest_key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        // The copy's ACL comes from its own headers (private by default), as on PutObject.
        let acl = super::acl::object_acl!(req, input, &dest_record.owner, &self.users)?;
        self.check_grantees(acl.as_ref(), &[&dest_record.owner, &user.id])?;
        self.check_acls_enabled(&dest_bucket, acl.as_ref(), &dest_record.owner)?;
        // The copy's lock comes from its own headers (or the destination's default),
        // never from the source.
        let lock = super::lock::requested(
            input.object_lock_mode.as_ref(),
            input.object_lock_retain_until_date.as_ref(),
            input.object_lock_legal_hold_status.as_ref(),
        )?;
        if lock.is_some() && !dest_record.object_lock_enabled {
            return Err(super::lock::bucket_without_lock());
        }
        check_copy_source(
            &ReadConditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
            &source.record,
        )?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(other) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive {other}")),
        };
        let storage_class = match &input.storage_class {
            None => None,
            Some(sc) => Some(StorageClass::from_s3_name(sc.as_str()).ok_or_else(|| {
                s3_error!(InvalidStorageClass, "The storage class you specified is not valid")
            })?),
        };
        // Tags: the source's (COPY, the default) or the request's (REPLACE).
        let tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None | Some(TaggingDirective::COPY) => {
                let src_bucket = Self::bucket_name(src_bucket)?;
                let src_key = ObjectKey::parse(src_key).map_err(errors::key_name)?;
                self.tags_of(&src_bucket, &src_key, &source.record)?
            }
            Some(TaggingDirective::REPLACE) => super::tagging::from_header(input.tagging.as_deref())?,
            Some(other) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive {other}")),
        };
        let source_data_key = self.open_record(&source.record, source_key.as_ref(), (src_bucket, src_key))?;
        let same_object =
            src_bucket.as_ref() == dest_bucket.as_str() && src_key.as_ref() == dest_key.as_str();
        let changes_encryption = !matches!(requested, Requested::None);
        if same_object
            && !replace
            && !changes_encryption
            && storage_class.is_none_or(|c| c == source.record.storage_class)
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }

        let src = source.record;
        let version_id = VersionId::new(hex::encode(rand::random::<[u8; 16]>()));
        let sealed =
            self.new_seal(&requested, (&dest_bucket, dest_key.as_str(), version_id.as_str())).await?;
        let seal_key = sealed.as_ref().map(|(_, data_key)| data_key.for_part(0));
        self.volumes.room_for_writes(src.size)?;
        let body = self.body(&src, source_data_key.as_ref(), 0, src.size).await?;
        let algorithms: Vec<ChecksumAlgorithm> =
            src.checksums.keys().filter_map(|name| ChecksumAlgorithm::from_s3_name(name)).collect();
        let ingested = self
            .blobs
            .ingest(
                body,
                IngestOptions {
                    inline_threshold: self.inline_threshold,
                    expected_len: Some(src.size),
                    checksums: &algorithms,
                    seal: seal_key.as_ref(),
                    idle_timeout: None,
                    room: Some(&self.volumes),
                },
            )
            .await
            .map_err(errors::blob)?;
        let (headers, user_metadata) = if replace {
            (super::put::standard_headers!(input), input.metadata.unwrap_or_default().into_iter().collect())
        } else {
            (src.headers.clone(), src.user_metadata.clone())
        };
        let etag = super::encryption::etag_of(&requested, &ingested.md5);
        let hlc = self.clock.now();
        let seal = sealed.map(|(seal, _)| seal);
        let owner = self.asked_owner(&user, &dest_bucket, &dest_record.owner, acl.as_ref())?;
        let record = ObjectRecord {
            version_id,
            size: ingested.size,
            etag: etag.clone(),
            headers,
            user_metadata,
            data: super::encryption::sealed_data(seal.as_ref(), ingested.data.clone()),
            owner: owner.clone(),
            hlc_timestamp: hlc,
            placement_group: 0,
            home_region: self.region.clone(),
            storage_class: storage_class.unwrap_or(src.storage_class),
            replication_status: ReplicationStatus::None,
            checksums: ingested.checksums.iter().map(|(a, v)| (a.s3_name().to_owned(), v.clone())).collect(),
        };
        let expiration = self.expiration(dest_bucket.as_str(), dest_key.as_str(), &record, Some(&tags))?;
        let command = super::tagging::tagged(
            tags,
            super::lock::with_lock(
                lock,
                CommandBody::PutObject {
                    bucket: dest_bucket.clone(),
                    key: dest_key.clone(),
                    operation: CreateOperation::Copy,
                    record: Box::new(record),
                    condition: WriteCondition::Always,
                },
            ),
        );
        let outcome = self.propose_ingested(&user, hlc, command, &ingested).await?;
        let mut output = CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(timestamp(hlc)),
                ..Default::default()
            }),
            version_id: self.created_version(&dest_bucket, &outcome),
            copy_source_version_id: source.version_id,
            expiration,
            ..Default::default()
        };
        let customer = match &requested {
            Requested::Customer(key) => Some(key),
            _ => None,
        };
        super::encryption::echo_sse!(output, crate::sse::echo(seal.as_ref(), customer));
        // (As after a PutObject: a copy apply gave the bucket's owner needs no ACL of its own.)
        let owner = match acl {
            Some(_) => self.committed_owner(&outcome).unwrap_or(owner),
            None => owner,
        };
        if let Some(acl) = acl.filter(|_| owner == user.id) {
            // The copy exists, private, from here; its grants follow in their own event.
            self.apply_object_acl(&user, &dest_bucket, &dest_key, output.version_id.clone(), acl).await?;
        }
        Ok(S3Response::new(output))
    }
}
