//! Command validation: a command and the current views in, an event or a rejection out.
//!
//! [`Projections::decide`] takes off the wrappers a command may come in (tags, a lock, a
//! seal, a GOVERNANCE bypass, a bucket policy's grant) and hands what they wrap to its
//! family: [`buckets`], [`objects`], [`multipart`], [`configs`], [`locks`], [`keys`]. The
//! checks more than one family makes live here.

pub(crate) mod buckets;
mod configs;
mod keys;
mod locks;
mod multipart;
mod objects;
#[cfg(test)]
mod tests;

use rucket_schemas::{
    BucketName, Command, CommandBody, ObjectKey, ObjectRecord, Rejection, StorageEvent, Tags, UserId,
    VersionId, WriteCondition,
};

use multipart::UploadAt;

use crate::{BucketRecord, ProjectionError, Projections, VersionEntry};

/// The smallest part S3 accepts, except for the last part of an upload.
pub const MIN_PART_SIZE: u64 = 5 << 20;

/// What a command becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Event(Box<StorageEvent>),
    Unchanged,
    Rejected(Rejection),
}

impl Decision {
    /// Adds a wrapper's part to the event a command became; a rejection or no change stays.
    fn with_event(self, change: impl FnOnce(&mut StorageEvent)) -> Self {
        match self {
            Decision::Event(mut event) => {
                change(&mut event);
                Decision::Event(event)
            }
            other => other,
        }
    }
}

fn event(event: StorageEvent) -> Decision {
    Decision::Event(Box::new(event))
}

/// What apply established for a command beyond its requester: a GOVERNANCE bypass the
/// requester may make, and a bucket policy that allows the request (judged from the
/// request's facts, [`crate::access`]).
#[derive(Clone, Copy, Debug, Default)]
struct Grants {
    bypass: bool,
    policy: bool,
}

/// The command being decided, as a family sees it: who asks, when, with what grants.
#[derive(Clone, Copy)]
struct Caller<'a> {
    command: &'a Command,
    grants: Grants,
}

impl Caller<'_> {
    fn requester(&self) -> &UserId {
        &self.command.requester
    }

    fn is_admin(&self) -> bool {
        self.command.requester_is_admin
    }

    /// The command's time, in Unix milliseconds: Object Lock is decided as of it.
    fn now(&self) -> i64 {
        self.command.hlc.unix_millis()
    }

    /// Whether the requester acts for the bucket's owner: an operator, or the owner.
    fn may_act(&self, bucket: &BucketRecord) -> bool {
        self.command.requester_is_admin || bucket.owner == self.command.requester
    }
}

impl Projections {
    /// Validates `command` against the current views. Reads only; never writes.
    pub fn decide(&self, command: &Command) -> Result<Decision, ProjectionError> {
        self.decide_with(command, false)
    }

    /// As [`Self::decide`]; `bypass` is a GOVERNANCE bypass the requester may make.
    fn decide_with(&self, command: &Command, bypass: bool) -> Result<Decision, ProjectionError> {
        self.decide_as(command, Grants { bypass, policy: false })
    }

    /// Takes a wrapper off (deciding what it wraps, with its grant or its addition to the
    /// event), or hands the command to its family.
    fn decide_as(&self, command: &Command, grants: Grants) -> Result<Decision, ProjectionError> {
        use CommandBody as C;
        let unwrapped = |inner: &CommandBody| Command { body: inner.clone(), ..command.clone() };
        let caller = &Caller { command, grants };
        match &command.body {
            C::BypassGovernance { inner } => {
                let bypass = self.may_bypass(caller, inner)?;
                self.decide_as(&unwrapped(inner), Grants { bypass, ..grants })
            }
            // A verdict computed before the log: not trusted, decided as what it wraps.
            C::PolicyAllowed { inner } => self.decide_as(&unwrapped(inner), grants),
            C::Requested { facts, inner } => match self.judge(command, facts, inner)? {
                Err(rejection) => Ok(Decision::Rejected(rejection)),
                Ok(judgement) => {
                    // An admin token acts as an operator on access keys only (not on the
                    // KMS key store, whose keys hold other users' data).
                    let access_key_command = matches!(
                        **inner,
                        CommandBody::CreateAccessKey { .. }
                            | CommandBody::SetAccessKeyStatus { .. }
                            | CommandBody::DeleteAccessKey { .. }
                            | CommandBody::SetAccessKeyPolicy { .. }
                    );
                    let admin = judgement.admin || (judgement.key_admin && access_key_command);
                    let inner =
                        Command { body: (**inner).clone(), requester_is_admin: admin, ..command.clone() };
                    self.decide_as(&inner, Grants { policy: judgement.policy_allows, ..grants })
                }
            },
            C::Locked { lock, inner } => self.decide_locked(&unwrapped(inner), grants, lock),
            C::IfMatched { condition, inner } => {
                // The bucket and the right to write first, then the condition on the
                // key's current version (404 NoSuchKey or 412), then the write itself.
                // (A condition names a key's version: on anything else it cannot hold.)
                let Some((bucket, Some(key), version)) = crate::access::target(inner) else {
                    return Ok(Decision::Rejected(Rejection::PreconditionFailed));
                };
                // Who may write comes before what the condition would reveal.
                if let Err(r) = self.writable_bucket(caller, bucket)? {
                    return Ok(Decision::Rejected(r));
                }
                let holds = match version {
                    // A named version is compared, not the current one.
                    Some(version) => self.condition_holds_on_version(bucket, key, version, condition)?,
                    None => self.condition_holds(bucket, key, condition)?,
                };
                if let Err(r) = holds {
                    return Ok(Decision::Rejected(r));
                }
                self.decide_as(&unwrapped(inner), grants)
            }
            C::Sealed { seal, inner } => {
                // Decided as the upload it wraps; the seal rides on its event.
                let decision = self.decide_as(&unwrapped(inner), grants)?;
                let decision = self.unless_kms_key_unusable(decision, Some(seal))?;
                Ok(decision.with_event(|event| multipart::attach_seal(event, seal)))
            }
            C::WholeAcl { inner } => {
                // Decided as the ACL change it wraps; the mark rides on its event.
                Ok(self.decide_as(&unwrapped(inner), grants)?.with_event(|event| match event {
                    StorageEvent::BucketAclSet(e) => e.whole = true,
                    StorageEvent::ObjectAclSet(e) => e.whole = true,
                    _ => {}
                }))
            }
            C::FullObjectChecksum { inner } => {
                // Only a CRC's part values combine into a whole-body checksum.
                let mut create = &**inner;
                while let Some(next) = create.wrapped() {
                    create = next;
                }
                let crc = matches!(
                    create,
                    C::CreateMultipartUpload { checksum_algorithm: Some(a), .. }
                        if ["CRC32", "CRC32C", "CRC64NVME"].iter().any(|c| a.eq_ignore_ascii_case(c))
                );
                if !crc {
                    return Ok(Decision::Rejected(Rejection::InvalidChecksumType));
                }
                Ok(self.decide_as(&unwrapped(inner), grants)?.with_event(|event| {
                    if let StorageEvent::UploadCreated(e) = event {
                        e.full_object_checksum = true;
                    }
                }))
            }
            C::UploadAcl { acl, inner } => {
                if let Some(bucket) = inner.bucket() {
                    if self.blocks_public(bucket, &acl.acl)? {
                        return Ok(Decision::Rejected(Rejection::AccessDenied));
                    }
                }
                Ok(self.decide_as(&unwrapped(inner), grants)?.with_event(|event| {
                    if let StorageEvent::UploadCreated(e) = event {
                        e.acl = Some(acl.clone());
                    }
                }))
            }
            C::Tagged { tags, inner } => {
                // Decided as the write it wraps; the tags ride on its event.
                Ok(self.decide_as(&unwrapped(inner), grants)?.with_event(|event| attach_tags(event, tags)))
            }
            // Buckets.
            C::CreateBucket { bucket, location, object_lock_enabled } => {
                self.create_bucket(caller, bucket, location, *object_lock_enabled)
            }
            C::DeleteBucket { bucket } => self.delete_bucket(caller, bucket),
            C::SetBucketVersioning { bucket, status } => self.set_versioning(caller, bucket, *status),
            // Objects.
            C::PutObject { bucket, key, operation, record, condition } => {
                let decision = self.put_object(caller, bucket, key, *operation, record, condition)?;
                self.unless_kms_key_unusable(decision, record.data.seal())
            }
            C::DeleteObject { bucket, key, version_id, marker_version_id } => {
                self.delete_object(caller, bucket, key, version_id.as_ref(), marker_version_id)
            }
            C::LifecycleExpire { bucket, key, version_id, expected, action } => {
                self.lifecycle_expire(caller, bucket, key, version_id, *expected, action)
            }
            // Multipart uploads.
            C::CreateMultipartUpload {
                bucket,
                key,
                upload_id,
                headers,
                user_metadata,
                storage_class,
                checksum_algorithm,
            } => {
                let at = UploadAt { bucket, key, upload_id };
                let checksum_algorithm = checksum_algorithm.as_ref();
                self.create_upload(caller, at, headers, user_metadata, *storage_class, checksum_algorithm)
            }
            // A part or a completion writes under the upload's seal.
            C::UploadPart { bucket, key, upload_id, part } => {
                let decision = self.upload_part(caller, UploadAt { bucket, key, upload_id }, part)?;
                self.unless_kms_key_unusable(decision, self.upload_seal(bucket, key, upload_id)?.as_ref())
            }
            C::CompleteMultipartUpload { bucket, key, upload_id, parts, record, condition } => {
                let seal = self.upload_seal(bucket, key, upload_id)?;
                let at = UploadAt { bucket, key, upload_id };
                let decision = self.complete_upload(caller, at, parts, record, condition)?;
                self.unless_kms_key_unusable(decision, seal.as_ref())
            }
            C::AbortMultipartUpload { bucket, key, upload_id } => {
                self.abort_upload(caller, UploadAt { bucket, key, upload_id })
            }
            // Bucket (and object) configurations.
            C::SetBucketPolicy { bucket, policy, public: _ } => {
                self.set_bucket_policy(caller, bucket, policy.as_ref())
            }
            C::SetBucketAcl { bucket, acl } => self.set_bucket_acl(caller, bucket, acl),
            C::SetObjectAcl { bucket, key, version_id, acl } => {
                self.set_object_acl(caller, bucket, key, version_id.as_ref(), acl)
            }
            C::SetBucketTagging { bucket, tags } => self.set_bucket_tagging(caller, bucket, tags),
            C::SetBucketLogging { bucket, configuration } => {
                self.set_bucket_logging(caller, bucket, configuration.as_ref())
            }
            C::SetObjectTagging { bucket, key, version_id, tags } => {
                self.set_object_tagging(caller, bucket, key, version_id.as_ref(), tags)
            }
            C::SetBucketCors { bucket, configuration } => self.set_bucket_cors(caller, bucket, configuration),
            C::SetBucketLifecycle { bucket, configuration } => {
                self.set_bucket_lifecycle(caller, bucket, configuration)
            }
            C::SetBucketNotification { bucket, configuration } => {
                self.set_bucket_notification(caller, bucket, configuration)
            }
            C::SetBucketEncryption { bucket, configuration } => {
                self.set_bucket_encryption(caller, bucket, configuration.as_ref(), None)
            }
            C::SetBucketKmsEncryption { bucket, configuration, kms_key_id } => {
                self.set_bucket_encryption(caller, bucket, Some(configuration), Some(kms_key_id))
            }
            C::SetPublicAccessBlock { bucket, configuration } => {
                self.set_public_access_block(caller, bucket, *configuration)
            }
            C::SetBucketOwnership { bucket, ownership } => {
                self.set_bucket_ownership(caller, bucket, *ownership)
            }
            // Object Lock.
            C::SetObjectLockConfig { bucket, configuration } => {
                self.set_object_lock_config(caller, bucket, *configuration)
            }
            C::SetObjectRetention { bucket, key, version_id, retention } => {
                self.set_object_retention(caller, bucket, key, version_id.as_ref(), *retention)
            }
            C::SetObjectLegalHold { bucket, key, version_id, on } => {
                self.set_object_legal_hold(caller, bucket, key, version_id.as_ref(), *on)
            }
            // Access keys and re-wraps.
            C::CreateAccessKey { access_key_id, user, secret, admin } => {
                self.create_access_key(caller, access_key_id, user, secret, *admin)
            }
            C::SetAccessKeyStatus { access_key_id, enabled } => {
                self.set_access_key_status(caller, access_key_id, *enabled)
            }
            C::DeleteAccessKey { access_key_id } => self.delete_access_key(caller, access_key_id),
            C::SetAccessKeyPolicy { access_key_id, policy } => {
                self.set_access_key_policy(caller, access_key_id, policy.as_ref())
            }
            C::RewrapAccessKey { access_key_id, from, secret } => {
                self.rewrap_access_key(caller, access_key_id, from, secret)
            }
            C::CreateKmsKey { key_id, description, material } => {
                self.create_kms_key(caller, key_id, description, material)
            }
            C::SetKmsKeyStatus { key_id, enabled } => self.set_kms_key_status(caller, key_id, *enabled),
            C::RewrapKmsKey { key_id, from, material } => self.rewrap_kms_key(caller, key_id, from, material),
            // The node's own webhook worker, as an operator; the cursor only moves forward.
            C::SetWebhookCursor { target, position } => {
                if !caller.is_admin() {
                    return Ok(Decision::Rejected(Rejection::AccessDenied));
                }
                if self.webhook_cursor(target)?.is_some_and(|c| c >= *position) {
                    return Ok(Decision::Unchanged);
                }
                Ok(event(StorageEvent::WebhookCursorSet(rucket_schemas::WebhookCursorSet {
                    target: target.clone(),
                    position: *position,
                })))
            }
            C::RewrapDataKey { bucket, key, target, from, seal } => {
                self.rewrap_data_key(caller, bucket, key, target, from, seal)
            }
        }
    }
}

/// Puts a `Tagged` wrapper's tags on the new version or upload its write became.
fn attach_tags(event: &mut StorageEvent, tags: &Tags) {
    match event {
        StorageEvent::ObjectCreated(e) => e.tags = tags.clone(),
        StorageEvent::UploadCreated(e) => e.tags = tags.clone(),
        _ => {}
    }
}

/// The checks more than one family makes.
impl Projections {
    /// A write sealed under a KMS key is refused once that key is disabled (or if it does
    /// not exist), in log order; checked after the write's own rights, so a caller
    /// without them learns nothing of the key store.
    fn unless_kms_key_unusable(
        &self,
        decision: Decision,
        seal: Option<&rucket_schemas::Seal>,
    ) -> Result<Decision, ProjectionError> {
        let Some(key_id) = seal.and_then(rucket_schemas::Seal::kms_key_id) else { return Ok(decision) };
        if !matches!(decision, Decision::Event(_)) {
            return Ok(decision);
        }
        Ok(match self.kms_key(key_id)? {
            None => Decision::Rejected(Rejection::NoSuchKmsKey),
            Some(k) if !k.enabled => Decision::Rejected(Rejection::KmsKeyDisabled),
            Some(_) => decision,
        })
    }

    /// The bucket a wrapped command acts on, if it names one that exists.
    fn bucket_of(&self, inner: &CommandBody) -> Result<Option<BucketRecord>, ProjectionError> {
        match inner.bucket() {
            Some(bucket) => self.bucket(bucket),
            None => Ok(None),
        }
    }

    /// The bucket, if it exists and the requester acts for its owner.
    fn owned_bucket(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
    ) -> Result<Result<BucketRecord, Rejection>, ProjectionError> {
        Ok(match self.bucket(bucket)? {
            None => Err(Rejection::NoSuchBucket),
            Some(b) if !caller.may_act(&b) => Err(Rejection::AccessDenied),
            Some(b) => Ok(b),
        })
    }

    /// A change only the bucket's owner (or an operator) may make.
    fn owner_only(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        make: impl FnOnce() -> StorageEvent,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.owned_bucket(caller, bucket)? {
            Err(r) => Decision::Rejected(r),
            Ok(_) => event(make()),
        })
    }

    /// Who owns a version a write makes, by the bucket's ownership controls: the bucket's
    /// owner under BucketOwnerEnforced, and under BucketOwnerPreferred when the write asked
    /// for it (its record names the bucket's owner: it came with `bucket-owner-full-control`);
    /// otherwise the writer (ObjectWriter, and buckets without controls).
    fn version_owner(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        b: &BucketRecord,
        asked: &UserId,
    ) -> Result<UserId, ProjectionError> {
        use rucket_schemas::ObjectOwnership as O;
        Ok(match self.ownership(bucket)? {
            Some(O::BucketOwnerEnforced) => b.owner.clone(),
            Some(O::BucketOwnerPreferred) if *asked == b.owner => b.owner.clone(),
            _ => caller.requester().clone(),
        })
    }

    /// The bucket, if it exists and the requester may write objects into it: a bucket
    /// policy allows the request, or [`Self::may_write`].
    fn writable_bucket(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
    ) -> Result<Result<BucketRecord, Rejection>, ProjectionError> {
        Ok(match self.bucket(bucket)? {
            None => Err(Rejection::NoSuchBucket),
            Some(b) if !caller.grants.policy && !self.may_write(caller, &b)? => Err(Rejection::AccessDenied),
            Some(b) => Ok(b),
        })
    }

    /// Whether the requester may write objects into the bucket: an operator, the owner,
    /// or a grantee of WRITE (or FULL_CONTROL) in the bucket's ACL.
    fn may_write(&self, caller: &Caller<'_>, bucket: &BucketRecord) -> Result<bool, ProjectionError> {
        if caller.may_act(bucket) {
            return Ok(true);
        }
        Ok(self
            .effective_bucket_acl(&bucket.name)?
            .allows(caller.requester(), rucket_schemas::Permission::Write))
    }

    /// The object version a per-version change names (`None`: the current one): a delete
    /// marker has none to change.
    fn target_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
    ) -> Result<Result<Box<ObjectRecord>, Rejection>, ProjectionError> {
        let entry = match version_id {
            None => self.latest_version(bucket, key)?,
            Some(v) => self.version(bucket, key, v)?,
        };
        Ok(match (entry, version_id) {
            (Some(VersionEntry::Object(record)), _) => Ok(record),
            (None | Some(VersionEntry::DeleteMarker { .. }), None) => Err(Rejection::NoSuchKey),
            (None, Some(_)) => Err(Rejection::NoSuchVersion),
            (Some(VersionEntry::DeleteMarker { .. }), Some(_)) => Err(Rejection::MethodNotAllowed),
        })
    }

    /// Decides a write precondition against the key's current version.
    /// A condition on one named version: its ETag (a delete marker has none, so only
    /// `If-Match: *` holds on it); a version that does not exist is 404 NoSuchKey.
    fn condition_holds_on_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version: &VersionId,
        condition: &WriteCondition,
    ) -> Result<Result<(), Rejection>, ProjectionError> {
        let entry = self.version(bucket, key, version)?;
        Ok(match (entry, condition) {
            (None, WriteCondition::IfMatch(_) | WriteCondition::IfExists) => Err(Rejection::NoSuchKey),
            (Some(_), WriteCondition::IfExists) => Ok(()),
            (Some(crate::VersionEntry::Object(r)), WriteCondition::IfMatch(etag)) if &r.etag == etag => {
                Ok(())
            }
            (Some(_), WriteCondition::IfMatch(_)) => Err(Rejection::PreconditionFailed),
            (entry, WriteCondition::IfNoneMatchETag(etag)) => match entry {
                Some(crate::VersionEntry::Object(r)) if &r.etag == etag => Err(Rejection::PreconditionFailed),
                _ => Ok(()),
            },
            (None, _) => Ok(()),
            (Some(_), WriteCondition::IfNoneMatch) => Err(Rejection::PreconditionFailed),
            (Some(_), WriteCondition::Always) => Ok(()),
        })
    }

    fn condition_holds(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        condition: &WriteCondition,
    ) -> Result<Result<(), Rejection>, ProjectionError> {
        let current = self.current_object(bucket, key)?;
        Ok(match condition {
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
            WriteCondition::IfExists => match current {
                None => Err(Rejection::NoSuchKey),
                Some(_) => Ok(()),
            },
            WriteCondition::IfNoneMatchETag(etag) => match current {
                Some(c) if &c.etag == etag => Err(Rejection::PreconditionFailed),
                _ => Ok(()),
            },
        })
    }
}
