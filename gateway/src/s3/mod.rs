//! The S3 API on top of the log: reads come from the projections, writes become
//! commands proposed to the log. One `impl S3` delegates to the modules by area.

mod acl;
mod bucket;
mod bucket_policy;
mod conditions;
mod copy;
mod encryption;
mod list;
mod lock;
mod logging;
mod multipart;
mod object;
mod put;
mod tagging;

use std::sync::Arc;

use rucket_blobs::BlobStore;
use rucket_log::Node;
use rucket_projections::{BucketRecord, Projections};
use rucket_schemas::{BlobId, BucketName, Command, CommandBody, EventId, Hlc, Outcome, RegionId};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

use crate::credentials::{User, Users};
use crate::errors;
use rucket_log::Clock;

#[derive(Clone)]
pub struct Rucket {
    /// The views reads come from.
    pub projections: Projections,
    /// The log writes go to; `None` when serving a read-only data dir.
    pub writer: Option<Arc<Node>>,
    /// The event archive, where small objects' bodies stay (the views name positions).
    pub archive: rucket_log::EventArchive,
    pub blobs: BlobStore,
    pub clock: Arc<Clock>,
    pub users: Arc<Users>,
    pub region: RegionId,
    pub inline_threshold: usize,
    /// A request body that sends nothing for this long is aborted (400 RequestTimeout).
    pub body_timeout: Option<std::time::Duration>,
    /// The upload slots, in all and per access key.
    pub uploads: Arc<crate::limits::Uploads>,
    /// Free space on the log and blob volumes, checked before every new write.
    pub volumes: crate::volumes::Volumes,
    /// Removes the blobs applied events release.
    pub collector: crate::gc::Collector,
    /// Parsed bucket policies (shared with the access hook).
    pub policies: Arc<rucket_policy::PolicyCache>,
    /// Webhook targets notification configurations may name.
    pub notifier: crate::notify::delivery::Notifier,
    /// Master keys for encryption at rest.
    pub keyring: Arc<crate::sse::Keyring>,
    /// SSE-C over plain HTTP from loopback clients (tests).
    pub allow_insecure_sse_c: bool,
    /// Serve requests signed for any region (see `scope.rs`).
    pub accept_any_signing_region: bool,
    /// Copies of bodies on the other nodes of a cluster (`None` on a single node).
    pub copies: Option<crate::cluster::copies::Copies>,
}

impl Rucket {
    fn projections(&self) -> &Projections {
        &self.projections
    }

    /// A slot for one more streaming body, or 503 SlowDown at once when the node (or the
    /// access key) already streams as many as it may.
    fn upload_slot(
        &self,
        credentials: &Option<s3s::auth::Credentials>,
        declared_len: Option<u64>,
    ) -> S3Result<crate::limits::UploadSlot> {
        self.volumes.room_for_writes(declared_len.unwrap_or(0))?;
        let key = credentials.as_ref().map_or("(anonymous)", |c| c.access_key.as_str());
        self.uploads.try_acquire(key).map_err(|why| {
            metrics::counter!(crate::metrics::REJECTIONS, "reason" => why.as_str()).increment(1);
            let mut err = S3Error::with_message(
                S3ErrorCode::SlowDown,
                match why {
                    crate::limits::Saturated::Uploads => {
                        "Please reduce your request rate: this node streams as many uploads as it may."
                    }
                    crate::limits::Saturated::KeyUploads => {
                        "Please reduce your request rate: this access key streams as many uploads as it may."
                    }
                },
            );
            err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
            err
        })
    }

    /// The user behind a signed request (s3s has verified the signature already).
    fn user<T>(&self, req: &S3Request<T>) -> S3Result<User> {
        let credentials = req
            .credentials
            .as_ref()
            .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
        let mut user = self
            .users
            .user(&credentials.access_key)
            .map_err(errors::projection)?
            .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        user.policy_allows = req.extensions.get::<crate::access::PolicyAllows>().map(|p| p.bucket.clone());
        user.policy_lists = req.extensions.get::<crate::access::PolicyLists>().map(|p| p.bucket.clone());
        user.facts = req.extensions.get::<Arc<rucket_schemas::RequestFacts>>().cloned();
        Ok(user)
    }

    fn bucket_name(name: &str) -> S3Result<BucketName> {
        BucketName::parse(name).map_err(errors::bucket_name)
    }

    /// The bucket and its record, if it exists (no access check).
    fn existing_bucket(&self, name: &str) -> S3Result<(BucketName, BucketRecord)> {
        let bucket = Self::bucket_name(name)?;
        let record = self
            .projections()
            .bucket(&bucket)
            .map_err(errors::projection)?
            .ok_or_else(|| errors::rejection(rucket_schemas::Rejection::NoSuchBucket))?;
        Ok((bucket, record))
    }

    /// The bucket, if it exists and `user` may use it.
    fn bucket_for(&self, user: &User, name: &str) -> S3Result<(BucketName, BucketRecord)> {
        let (bucket, record) = self.existing_bucket(name)?;
        if !user.admin && record.owner != user.id {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        Ok((bucket, record))
    }

    /// Stamps, proposes and waits for a command; maps rejections to S3 errors and wakes
    /// the collector for the blobs it released.
    async fn propose(&self, user: &User, body: CommandBody) -> S3Result<Outcome> {
        self.propose_at(user, self.clock.now(), body).await
    }

    /// As [`Self::propose`], with a stamp chosen by the caller (an object version's
    /// creation time and its event share one stamp).
    async fn propose_at(&self, user: &User, hlc: Hlc, body: CommandBody) -> S3Result<Outcome> {
        self.propose_owning(user, hlc, body, Vec::new()).await
    }

    /// As [`Self::propose_at`], for a command that refers to freshly stored `blobs`. The
    /// proposal then runs to its outcome even if the request goes away meanwhile, and a
    /// rejected command's blobs (which no event will ever refer to) are removed. When the
    /// outcome is unknown (the log failed or is stopping) they are left to the start-up
    /// sweep, since the command may have committed.
    pub(super) async fn propose_owning(
        &self,
        user: &User,
        hlc: Hlc,
        body: CommandBody,
        blobs: Vec<BlobId>,
    ) -> S3Result<Outcome> {
        // Apply judges the request's access again from its facts, in log order: the
        // check made here is only an early refusal. Every S3 request passes the access hook, which records its facts; a write
        // without them would be judged by the gateway's word alone, so it is refused.
        let facts = user.facts.as_ref().ok_or_else(|| {
            tracing::error!(user = %user.id, "a write reached the log path without its request's facts");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        })?;
        // Below the disk reserve only what frees space goes through.
        // (Through the wrappers a delete may carry: a condition, a bypass.)
        let mut unwrapped = &body;
        while let CommandBody::IfMatched { inner, .. } | CommandBody::BypassGovernance { inner } = unwrapped {
            unwrapped = inner;
        }
        let frees_space = matches!(
            unwrapped,
            CommandBody::DeleteObject { .. }
                | CommandBody::DeleteBucket { .. }
                | CommandBody::AbortMultipartUpload { .. }
                // Completing stores no new bytes (the parts are stored); a lifecycle
                // configuration is how space gets freed.
                | CommandBody::CompleteMultipartUpload { .. }
                | CommandBody::SetBucketLifecycle { .. }
        );
        if !frees_space && blobs.is_empty() {
            // (A blob-backed write checked before it stored its body.)
            self.volumes.room_for_writes(0)?;
        }
        let body = CommandBody::Requested { facts: Box::new((**facts).clone()), inner: Box::new(body) };
        let command = Command {
            hlc,
            event_id: EventId(rand::random()),
            origin_region: self.region.clone(),
            requester: user.id.clone(),
            requester_is_admin: user.admin,
            body,
        };
        let writer = self.writer.as_ref().ok_or_else(|| {
            s3_error!(AccessDenied, "This server serves a read-only, point-in-time data dir")
        })?;
        if let (Some(copies), false) = (&self.copies, blobs.is_empty()) {
            // Bytes first, on a majority of the voters: an acknowledged write survives
            // the loss of any minority of nodes.
            if let Err(e) = copies.replicate(&blobs).await {
                tracing::warn!(error = %e, "a write's body did not reach enough nodes");
                remove_unreferenced(self.blobs.clone(), blobs).await;
                return Err(s3_error!(ServiceUnavailable, "The cluster cannot store the body now: {e}"));
            }
        }
        let started = std::time::Instant::now();
        let leader_here = writer.is_leader();
        let outcome = if blobs.is_empty() {
            writer.propose(command).await
        } else {
            let (writer, store) = (Arc::clone(writer), self.blobs.clone());
            tokio::spawn(async move {
                let outcome = writer.propose(command).await;
                if matches!(outcome, Ok(Outcome::Rejected(_))) {
                    remove_unreferenced(store, blobs).await;
                }
                outcome
            })
            .await
            .map_err(|e| errors::internal("a proposal task failed", e))?
        };
        if self.copies.is_some() && !leader_here {
            metrics::histogram!(crate::metrics::CLUSTER_FORWARD_SECONDS)
                .record(started.elapsed().as_secs_f64());
        }
        match outcome.map_err(errors::propose)? {
            Outcome::Rejected(r) => Err(errors::rejection(r)),
            outcome => {
                if matches!(&outcome, Outcome::Applied { released_blobs, .. } if !released_blobs.is_empty()) {
                    self.collector.wake();
                }
                Ok(outcome)
            }
        }
    }

    /// The event an applied command became, read back from the archive.
    fn archived(&self, outcome: &Outcome) -> Option<rucket_schemas::StorageEvent> {
        let Outcome::Applied { position, .. } = outcome else { return None };
        let envelope = self.writer.as_ref()?.archive().get(*position).ok()??;
        envelope.open().ok()
    }

    /// The version id an applied write created, for `x-amz-version-id` (`None` for a
    /// `null` version, which a never-versioned or suspended bucket writes: S3 and Ceph's
    /// suite send no version id for those writes).
    fn created_version(&self, bucket: &BucketName, outcome: &Outcome) -> Option<String> {
        // A never-versioned bucket (which never becomes one again) has only `null`
        // versions: no need to read the event back. Otherwise the event says, not the
        // bucket's state now, which may have changed since the write.
        let versioning = self.projections().bucket(bucket).ok()??.versioning;
        if versioning == rucket_projections::Versioning::Unversioned {
            return None;
        }
        let record = match self.archived(outcome)? {
            rucket_schemas::StorageEvent::ObjectCreated(e) => e.record,
            rucket_schemas::StorageEvent::MultipartCompleted(e) => e.record,
            _ => return None,
        };
        (!record.version_id.is_null()).then(|| record.version_id.to_string())
    }
}

/// Removes blobs that were stored for a write no event refers to.
pub(crate) async fn remove_unreferenced(store: BlobStore, blobs: Vec<BlobId>) {
    let removed = tokio::task::spawn_blocking(move || {
        for id in blobs {
            if let Err(e) = store.remove(&id) {
                tracing::warn!(blob = %id, error = %e, "could not remove an unreferenced blob");
            }
        }
    })
    .await;
    if let Err(e) = removed {
        tracing::warn!(error = %e, "removing unreferenced blobs failed");
    }
}

pub(crate) fn timestamp(hlc: Hlc) -> Timestamp {
    Timestamp::from(hlc.to_datetime())
}

pub(crate) fn owner(users: &Users, user: &rucket_schemas::UserId) -> Owner {
    Owner { display_name: Some(users.display_name(user)), id: Some(user.to_string()) }
}

#[async_trait::async_trait]
impl S3 for Rucket {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    /// Torrents are not served; a key that does not exist is still NoSuchKey, as in S3.
    async fn get_object_torrent(
        &self,
        req: S3Request<GetObjectTorrentInput>,
    ) -> S3Result<S3Response<GetObjectTorrentOutput>> {
        let user = self.principal(&req)?;
        self.resolve(&user, &req.input.bucket, &req.input.key, None)?;
        Err(errors::not_implemented("GetObjectTorrent"))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.do_list_object_versions(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.do_put_bucket_versioning(req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.do_get_bucket_versioning(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.do_get_object_attributes(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.do_put_public_access_block(req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.do_get_public_access_block(req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.do_delete_public_access_block(req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.do_put_bucket_encryption(req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.do_get_bucket_encryption(req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.do_delete_bucket_encryption(req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.do_get_bucket_policy_status(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.do_put_bucket_policy(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.do_get_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.do_delete_bucket_policy(req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.do_put_bucket_ownership_controls(req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.do_get_bucket_ownership_controls(req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.do_delete_bucket_ownership_controls(req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }

    async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
        self.do_post_object(req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.do_put_object_lock_configuration(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.do_get_object_lock_configuration(req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.do_put_object_retention(req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.do_get_object_retention(req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.do_put_object_legal_hold(req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.do_get_object_legal_hold(req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.do_get_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.do_delete_object_tagging(req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.do_put_bucket_tagging(req).await
    }

    async fn put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        self.do_put_bucket_logging(req).await
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.do_get_bucket_logging(req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.do_get_bucket_tagging(req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.do_delete_bucket_tagging(req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let config = req
            .input
            .lifecycle_configuration
            .ok_or_else(|| s3_error!(MalformedXML, "The request has no lifecycle configuration"))?;
        let configuration = crate::lifecycle::from_s3(config)?;
        self.propose(&user, CommandBody::SetBucketLifecycle { bucket, configuration }).await?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        match self.projections().lifecycle(&bucket).map_err(errors::projection)? {
            Some(config) => Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
                rules: Some(crate::lifecycle::to_s3(&config)),
                ..Default::default()
            })),
            None => {
                Err(s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist"))
            }
        }
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = rucket_schemas::LifecycleConfig::default();
        self.propose(&user, CommandBody::SetBucketLifecycle { bucket, configuration }).await?;
        Ok(S3Response::with_status(DeleteBucketLifecycleOutput {}, http::StatusCode::NO_CONTENT))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = crate::cors::from_s3(req.input.cors_configuration)?;
        self.propose(&user, CommandBody::SetBucketCors { bucket, configuration }).await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        match self.projections().cors(&bucket).map_err(errors::projection)? {
            Some(config) => {
                Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(crate::cors::to_s3(&config)) }))
            }
            None => Err(s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist")),
        }
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = rucket_schemas::CorsConfig::default();
        self.propose(&user, CommandBody::SetBucketCors { bucket, configuration }).await?;
        Ok(S3Response::with_status(DeleteBucketCorsOutput {}, http::StatusCode::NO_CONTENT))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        self.do_put_bucket_notification(req).await
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.do_get_bucket_notification(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }
}
