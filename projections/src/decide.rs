//! Command validation: a command and the current views in, an event or a rejection out.

use rucket_schemas::{
    BucketCreated, BucketDeleted, BucketName, BucketVersioningSet, Command, CommandBody, MultipartCompleted,
    ObjectCreated, ObjectData, ObjectDeleted, ObjectKey, PartRef, PartUploaded, Rejection, StorageEvent,
    UploadAborted, UploadCreated, VersionId, VersioningStatus, WriteCondition,
};

use crate::{BucketRecord, ProjectionError, Projections, Versioning};

/// The smallest part S3 accepts, except for the last part of an upload.
pub const MIN_PART_SIZE: u64 = 5 << 20;

fn event(event: StorageEvent) -> Decision {
    Decision::Event(Box::new(event))
}

/// What the gateway established for a command beyond its requester: a GOVERNANCE bypass
/// the requester may make, and a bucket policy that allows the request.
#[derive(Clone, Copy, Debug, Default)]
struct Grants {
    bypass: bool,
    policy: bool,
}

/// What a command becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Event(Box<StorageEvent>),
    Unchanged,
    Rejected(Rejection),
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

    fn decide_as(&self, command: &Command, grants: Grants) -> Result<Decision, ProjectionError> {
        let bypass = grants.bypass;
        let may_act = |bucket: &BucketRecord| command.requester_is_admin || bucket.owner == command.requester;
        let now = command.hlc.unix_millis();
        let unwrapped = |inner: &CommandBody| Command { body: inner.clone(), ..command.clone() };
        if let CommandBody::BypassGovernance { inner } = &command.body {
            // The bypass is the bucket owner's (or an operator's) to make.
            let allowed = self.bucket_of(inner)?.is_some_and(|b| may_act(&b));
            return self.decide_as(&unwrapped(inner), Grants { bypass: allowed, ..grants });
        }
        if let CommandBody::PolicyAllowed { inner } = &command.body {
            return self.decide_as(&unwrapped(inner), Grants { policy: true, ..grants });
        }
        if let CommandBody::Locked { lock, inner } = &command.body {
            if self.bucket_of(inner)?.is_some_and(|b| !b.object_lock_enabled) {
                return Ok(Decision::Rejected(Rejection::NoObjectLockConfiguration));
            }
            // Decided as the write it wraps; the lock rides on its event, a retention
            // given replacing the bucket default.
            return Ok(match self.decide_as(&unwrapped(inner), grants)? {
                Decision::Event(mut event) => {
                    let target = match event.as_mut() {
                        StorageEvent::ObjectCreated(e) => Some(&mut e.lock),
                        StorageEvent::UploadCreated(e) => Some(&mut e.lock),
                        StorageEvent::MultipartCompleted(e) => Some(&mut e.lock),
                        _ => None,
                    };
                    if let Some(target) = target {
                        target.legal_hold = lock.legal_hold;
                        if lock.retention.is_some() {
                            target.retention = lock.retention;
                        }
                    }
                    Decision::Event(event)
                }
                other => other,
            });
        }
        if let CommandBody::Sealed { seal, inner } = &command.body {
            // Decided as the upload it wraps; the seal rides on its event.
            return Ok(match self.decide_as(&unwrapped(inner), grants)? {
                Decision::Event(mut event) => {
                    if let StorageEvent::UploadCreated(e) = event.as_mut() {
                        e.seal = Some(Box::new(seal.clone()));
                    }
                    Decision::Event(event)
                }
                other => other,
            });
        }
        if let CommandBody::Tagged { tags, inner } = &command.body {
            // Decided as the write it wraps; the tags ride on its event.
            return Ok(match self.decide_as(&unwrapped(inner), grants)? {
                Decision::Event(mut event) => {
                    match event.as_mut() {
                        StorageEvent::ObjectCreated(e) => e.tags = tags.clone(),
                        StorageEvent::UploadCreated(e) => e.tags = tags.clone(),
                        _ => {}
                    }
                    Decision::Event(event)
                }
                other => other,
            });
        }
        let decision = match &command.body {
            CommandBody::CreateBucket { bucket, location, object_lock_enabled } => {
                match self.bucket(bucket)? {
                    Some(existing) if existing.owner == command.requester => {
                        Decision::Rejected(Rejection::BucketAlreadyOwnedByYou)
                    }
                    Some(_) => Decision::Rejected(Rejection::BucketAlreadyExists),
                    None => event(StorageEvent::BucketCreated(BucketCreated {
                        bucket: bucket.clone(),
                        owner: command.requester.clone(),
                        location: location.clone(),
                        object_lock_enabled: *object_lock_enabled,
                    })),
                }
            }
            CommandBody::DeleteBucket { bucket } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(_) if !self.bucket_is_empty(bucket)? => Decision::Rejected(Rejection::BucketNotEmpty),
                Some(_) => event(StorageEvent::BucketDeleted(BucketDeleted { bucket: bucket.clone() })),
            },
            CommandBody::PutObject { bucket, key, operation, record, condition } => {
                match self.bucket(bucket)? {
                    None => Decision::Rejected(Rejection::NoSuchBucket),
                    Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                        Decision::Rejected(Rejection::AccessDenied)
                    }
                    Some(b) => match self.condition_holds(bucket, key, condition)? {
                        Err(r) => Decision::Rejected(r),
                        Ok(()) => {
                            let mut record = record.clone();
                            if b.versioning != Versioning::Enabled {
                                record.version_id = VersionId::null();
                            }
                            let lock = self.default_lock(&b, record.hlc_timestamp)?;
                            event(StorageEvent::ObjectCreated(ObjectCreated {
                                bucket: bucket.clone(),
                                key: key.clone(),
                                operation: *operation,
                                record,
                                tags: Default::default(),
                                lock,
                            }))
                        }
                    },
                }
            }
            CommandBody::CreateMultipartUpload {
                bucket,
                key,
                upload_id,
                headers,
                user_metadata,
                storage_class,
                checksum_algorithm,
            } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                    Decision::Rejected(Rejection::AccessDenied)
                }
                Some(_) => event(StorageEvent::UploadCreated(UploadCreated {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    upload_id: upload_id.clone(),
                    owner: command.requester.clone(),
                    headers: headers.clone(),
                    user_metadata: user_metadata.clone(),
                    storage_class: *storage_class,
                    checksum_algorithm: checksum_algorithm.clone(),
                    tags: Default::default(),
                    lock: Default::default(),
                    seal: None,
                })),
            },
            CommandBody::UploadPart { bucket, key, upload_id, part } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                    Decision::Rejected(Rejection::AccessDenied)
                }
                Some(_) if self.upload(bucket, key, upload_id)?.is_none() => {
                    Decision::Rejected(Rejection::NoSuchUpload)
                }
                Some(_) => event(StorageEvent::PartUploaded(PartUploaded {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    upload_id: upload_id.clone(),
                    part: part.clone(),
                })),
            },
            CommandBody::CompleteMultipartUpload { bucket, key, upload_id, parts, record, condition } => {
                match self.bucket(bucket)? {
                    None => Decision::Rejected(Rejection::NoSuchBucket),
                    Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                        Decision::Rejected(Rejection::AccessDenied)
                    }
                    Some(b) => match self.upload(bucket, key, upload_id)? {
                        None => Decision::Rejected(Rejection::NoSuchUpload),
                        Some(_) => match self.assemble(bucket, key, upload_id, parts)? {
                            Err(r) => Decision::Rejected(r),
                            Ok((size, refs)) => match self.condition_holds(bucket, key, condition)? {
                                Err(r) => Decision::Rejected(r),
                                Ok(()) => {
                                    let mut record = record.clone();
                                    record.size = size;
                                    record.data = match self.upload_seal(bucket, key, upload_id)? {
                                        // The parts were sealed with the upload's data key.
                                        Some(seal) => ObjectData::Sealed {
                                            seal,
                                            data: Box::new(ObjectData::Parts(refs)),
                                        },
                                        None => ObjectData::Parts(refs),
                                    };
                                    if b.versioning != Versioning::Enabled {
                                        record.version_id = VersionId::null();
                                    }
                                    // The upload's lock; without a retention of its own,
                                    // the bucket default as of completion.
                                    let mut lock = self.upload_lock(bucket, key, upload_id)?;
                                    if lock.retention.is_none() {
                                        lock.retention =
                                            self.default_lock(&b, record.hlc_timestamp)?.retention;
                                    }
                                    event(StorageEvent::MultipartCompleted(MultipartCompleted {
                                        bucket: bucket.clone(),
                                        key: key.clone(),
                                        upload_id: upload_id.clone(),
                                        record,
                                        tags: self.upload_tags(bucket, key, upload_id)?,
                                        lock,
                                    }))
                                }
                            },
                        },
                    },
                }
            }
            CommandBody::AbortMultipartUpload { bucket, key, upload_id } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                    Decision::Rejected(Rejection::AccessDenied)
                }
                Some(_) if self.upload(bucket, key, upload_id)?.is_none() => {
                    Decision::Rejected(Rejection::NoSuchUpload)
                }
                Some(_) => event(StorageEvent::UploadAborted(UploadAborted {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    upload_id: upload_id.clone(),
                })),
            },
            CommandBody::DeleteObject { bucket, key, version_id, marker_version_id } => {
                match self.bucket(bucket)? {
                    None => Decision::Rejected(Rejection::NoSuchBucket),
                    Some(b) if !grants.policy && !self.may_write(command, &b)? => {
                        Decision::Rejected(Rejection::AccessDenied)
                    }
                    Some(b) => {
                        let deleted = |version_id: VersionId, delete_marker: bool| {
                            event(StorageEvent::ObjectDeleted(ObjectDeleted {
                                bucket: bucket.clone(),
                                key: key.clone(),
                                version_id,
                                delete_marker,
                                owner: command.requester.clone(),
                            }))
                        };
                        match (version_id, b.versioning) {
                            // A named version (object or marker) is removed for good.
                            (Some(v), _) => match self.version(bucket, key, v)? {
                                None => Decision::Unchanged,
                                Some(entry) if self.locked(bucket, key, &entry, now, bypass)? => {
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
                        }
                    }
                }
            }
            CommandBody::Tagged { .. }
            | CommandBody::Locked { .. }
            | CommandBody::Sealed { .. }
            | CommandBody::BypassGovernance { .. }
            | CommandBody::PolicyAllowed { .. } => unreachable!("unwrapped above"),
            CommandBody::SetBucketPolicy { bucket, public: true, .. }
                if self.public_access_block(bucket)?.is_some_and(|b| b.block_public_policy) =>
            {
                Decision::Rejected(Rejection::AccessDenied)
            }
            CommandBody::SetBucketPolicy { bucket, policy, .. } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketPolicySet(rucket_schemas::BucketPolicySet {
                        bucket: bucket.clone(),
                        policy: policy.clone(),
                    })
                })?
            }
            CommandBody::CreateAccessKey { access_key_id, user, secret, admin } => {
                if !command.requester_is_admin {
                    Decision::Rejected(Rejection::AccessDenied)
                } else if self.access_key(access_key_id)?.is_some() {
                    Decision::Rejected(Rejection::AccessKeyExists)
                } else {
                    event(StorageEvent::AccessKeyCreated(rucket_schemas::AccessKeyCreated {
                        access_key_id: access_key_id.clone(),
                        user: user.clone(),
                        secret: secret.clone(),
                        admin: *admin,
                    }))
                }
            }
            CommandBody::SetAccessKeyStatus { access_key_id, enabled } => {
                self.key_admin_only(command, access_key_id, || {
                    StorageEvent::AccessKeyStatusSet(rucket_schemas::AccessKeyStatusSet {
                        access_key_id: access_key_id.clone(),
                        enabled: *enabled,
                    })
                })?
            }
            CommandBody::DeleteAccessKey { access_key_id } => {
                self.key_admin_only(command, access_key_id, || {
                    StorageEvent::AccessKeyDeleted(rucket_schemas::AccessKeyDeleted {
                        access_key_id: access_key_id.clone(),
                    })
                })?
            }
            CommandBody::SetAccessKeyPolicy { access_key_id, policy } => {
                self.key_admin_only(command, access_key_id, || {
                    StorageEvent::AccessKeyPolicySet(rucket_schemas::AccessKeyPolicySet {
                        access_key_id: access_key_id.clone(),
                        policy: policy.clone(),
                    })
                })?
            }
            CommandBody::RewrapAccessKey { access_key_id, from, secret } => {
                if !command.requester_is_admin {
                    Decision::Rejected(Rejection::AccessDenied)
                } else if self.access_key(access_key_id)?.is_none_or(|k| k.secret != *from) {
                    // Deleted or re-sealed since the rotation looked.
                    Decision::Unchanged
                } else {
                    event(StorageEvent::AccessKeyRewrapped(rucket_schemas::AccessKeyRewrapped {
                        access_key_id: access_key_id.clone(),
                        from_key_id: from.key_id.clone(),
                        secret: secret.clone(),
                    }))
                }
            }
            CommandBody::SetBucketEncryption { bucket, configuration } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketEncryptionSet(rucket_schemas::BucketEncryptionSet {
                        bucket: bucket.clone(),
                        configuration: configuration.clone(),
                    })
                })?
            }
            CommandBody::RewrapDataKey { bucket, key, target, from, seal } => {
                let current = match target {
                    rucket_schemas::RewrapTarget::Upload(upload_id) => {
                        self.upload_seal(bucket, key, upload_id)?
                    }
                    rucket_schemas::RewrapTarget::Version(version_id) => {
                        match self.find_version(bucket, key, version_id)? {
                            Some((_, crate::VersionEntry::Object(record))) => record.data.seal().cloned(),
                            _ => None,
                        }
                    }
                };
                let still_old = current.as_ref() == Some(from);
                if !command.requester_is_admin {
                    Decision::Rejected(Rejection::AccessDenied)
                } else if !still_old {
                    // Deleted, completed or re-wrapped since the rotation looked.
                    Decision::Unchanged
                } else {
                    event(StorageEvent::DataKeyRewrapped(rucket_schemas::DataKeyRewrapped {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        target: target.clone(),
                        from_key_id: match &from.kind {
                            rucket_schemas::SealKind::MasterKey { key_id } => key_id.clone(),
                            rucket_schemas::SealKind::CustomerKey { .. } => String::new(),
                        },
                        seal: seal.clone(),
                    }))
                }
            }
            CommandBody::SetPublicAccessBlock { bucket, configuration } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketPublicAccessBlockSet(rucket_schemas::BucketPublicAccessBlockSet {
                        bucket: bucket.clone(),
                        configuration: *configuration,
                    })
                })?
            }
            CommandBody::SetObjectLockConfig { bucket, configuration } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(b) if b.versioning != Versioning::Enabled => {
                    Decision::Rejected(Rejection::InvalidBucketState)
                }
                Some(_) => event(StorageEvent::BucketObjectLockSet(rucket_schemas::BucketObjectLockSet {
                    bucket: bucket.clone(),
                    configuration: *configuration,
                })),
            },
            CommandBody::SetObjectRetention { bucket, key, version_id, retention } => {
                match self.lock_target(bucket, key, version_id.as_ref(), &may_act)? {
                    Err(r) => Decision::Rejected(r),
                    Ok((_, lock)) if !lock.allows_retention(retention.as_ref(), now, bypass) => {
                        Decision::Rejected(Rejection::ObjectLocked)
                    }
                    Ok((version_id, _)) => {
                        event(StorageEvent::ObjectRetentionSet(rucket_schemas::ObjectRetentionSet {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            version_id,
                            retention: *retention,
                        }))
                    }
                }
            }
            CommandBody::SetObjectLegalHold { bucket, key, version_id, on } => {
                match self.lock_target(bucket, key, version_id.as_ref(), &may_act)? {
                    Err(r) => Decision::Rejected(r),
                    Ok((version_id, _)) => {
                        event(StorageEvent::ObjectLegalHoldSet(rucket_schemas::ObjectLegalHoldSet {
                            bucket: bucket.clone(),
                            key: key.clone(),
                            version_id,
                            on: *on,
                        }))
                    }
                }
            }
            CommandBody::SetObjectTagging { bucket, key, version_id, tags } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(_) => match self.target_version(bucket, key, version_id.as_ref())? {
                    Err(r) => Decision::Rejected(r),
                    Ok(record) => event(StorageEvent::ObjectTaggingSet(rucket_schemas::ObjectTaggingSet {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        version_id: record.version_id.clone(),
                        tags: tags.clone(),
                    })),
                },
            },
            CommandBody::SetBucketOwnership { bucket, ownership } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketOwnershipSet(rucket_schemas::BucketOwnershipSet {
                        bucket: bucket.clone(),
                        ownership: *ownership,
                    })
                })?
            }
            CommandBody::SetBucketAcl { bucket, acl } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(_) if self.blocks_public(bucket, acl)? => Decision::Rejected(Rejection::AccessDenied),
                Some(b)
                    if !may_act(&b)
                        && !self
                            .effective_bucket_acl(bucket)?
                            .allows(&command.requester, rucket_schemas::Permission::WriteAcp) =>
                {
                    Decision::Rejected(Rejection::AccessDenied)
                }
                Some(_) => event(StorageEvent::BucketAclSet(rucket_schemas::BucketAclSet {
                    bucket: bucket.clone(),
                    acl: acl.clone(),
                })),
            },
            CommandBody::SetObjectAcl { bucket, key, version_id, acl } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(_) if self.blocks_public(bucket, acl)? => Decision::Rejected(Rejection::AccessDenied),
                Some(b) => match self.target_version(bucket, key, version_id.as_ref())? {
                    Err(r) => Decision::Rejected(r),
                    Ok(record) => {
                        let granted = self
                            .effective_version_acl(bucket, key, record.hlc_timestamp)?
                            .allows(&command.requester, rucket_schemas::Permission::WriteAcp);
                        if !may_act(&b) && record.owner != command.requester && !granted {
                            Decision::Rejected(Rejection::AccessDenied)
                        } else {
                            event(StorageEvent::ObjectAclSet(rucket_schemas::ObjectAclSet {
                                bucket: bucket.clone(),
                                key: key.clone(),
                                version_id: record.version_id.clone(),
                                acl: acl.clone(),
                            }))
                        }
                    }
                },
            },
            CommandBody::SetBucketLifecycle { bucket, configuration } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketLifecycleSet(rucket_schemas::BucketLifecycleSet {
                        bucket: bucket.clone(),
                        configuration: configuration.clone(),
                    })
                })?
            }
            CommandBody::LifecycleExpire { bucket, key, version_id, expected, action } => {
                match self.bucket(bucket)? {
                    None => Decision::Rejected(Rejection::NoSuchBucket),
                    Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                    Some(b) => {
                        let deleted = |version_id: VersionId, delete_marker: bool| {
                            event(StorageEvent::ObjectDeleted(ObjectDeleted {
                                bucket: bucket.clone(),
                                key: key.clone(),
                                version_id,
                                delete_marker,
                                owner: command.requester.clone(),
                            }))
                        };
                        // Only what the worker looked at: a version written since is not
                        // expired in its place.
                        let still = |entry: &crate::VersionEntry| {
                            entry.version_id() == version_id && entry.hlc_timestamp() == *expected
                        };
                        match action {
                            rucket_schemas::ExpireAction::Current { marker_version_id } => {
                                match self.latest_version(bucket, key)? {
                                    Some(entry @ crate::VersionEntry::Object(_)) if still(&entry) => {
                                        match b.versioning {
                                            Versioning::Unversioned => deleted(version_id.clone(), false),
                                            Versioning::Enabled => deleted(marker_version_id.clone(), true),
                                            Versioning::Suspended => deleted(VersionId::null(), true),
                                        }
                                    }
                                    _ => Decision::Unchanged,
                                }
                            }
                            rucket_schemas::ExpireAction::Version => {
                                // Lifecycle never removes a locked version.
                                match self.version(bucket, key, version_id)? {
                                    Some(entry)
                                        if still(&entry)
                                            && !self.locked(bucket, key, &entry, now, false)? =>
                                    {
                                        deleted(version_id.clone(), false)
                                    }
                                    _ => Decision::Unchanged,
                                }
                            }
                        }
                    }
                }
            }
            CommandBody::SetBucketTagging { bucket, tags } => self.owner_only(bucket, &may_act, || {
                StorageEvent::BucketTaggingSet(rucket_schemas::BucketTaggingSet {
                    bucket: bucket.clone(),
                    tags: tags.clone(),
                })
            })?,
            CommandBody::SetBucketCors { bucket, configuration } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketCorsSet(rucket_schemas::BucketCorsSet {
                        bucket: bucket.clone(),
                        configuration: configuration.clone(),
                    })
                })?
            }
            CommandBody::SetBucketNotification { bucket, configuration } => {
                self.owner_only(bucket, &may_act, || {
                    StorageEvent::BucketNotificationSet(rucket_schemas::BucketNotificationSet {
                        bucket: bucket.clone(),
                        configuration: configuration.clone(),
                    })
                })?
            }
            CommandBody::SetBucketVersioning { bucket, status } => match self.bucket(bucket)? {
                None => Decision::Rejected(Rejection::NoSuchBucket),
                Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
                Some(b) if b.object_lock_enabled && *status == VersioningStatus::Suspended => {
                    Decision::Rejected(Rejection::InvalidBucketState)
                }
                Some(_) => event(StorageEvent::BucketVersioningSet(BucketVersioningSet {
                    bucket: bucket.clone(),
                    status: *status,
                })),
            },
        };
        Ok(decision)
    }
}

impl Projections {
    /// The bucket a wrapped command acts on, if it names one that exists.
    fn bucket_of(&self, inner: &CommandBody) -> Result<Option<BucketRecord>, ProjectionError> {
        match inner.bucket() {
            Some(bucket) => self.bucket(bucket),
            None => Ok(None),
        }
    }

    /// An access key change: an operator's to make, on a key that exists.
    fn key_admin_only(
        &self,
        command: &Command,
        access_key_id: &str,
        event: impl FnOnce() -> StorageEvent,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !command.requester_is_admin {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.access_key(access_key_id)?.is_none() {
            Decision::Rejected(Rejection::NoSuchAccessKey)
        } else {
            Decision::Event(Box::new(event()))
        })
    }

    /// Whether the bucket's public access block refuses `acl` (it grants publicly).
    fn blocks_public(&self, bucket: &BucketName, acl: &rucket_schemas::Acl) -> Result<bool, ProjectionError> {
        Ok(acl.is_public() && self.public_access_block(bucket)?.is_some_and(|b| b.block_public_acls))
    }

    /// The lock a new version gets from its bucket's default retention.
    fn default_lock(
        &self,
        bucket: &BucketRecord,
        created: rucket_schemas::Hlc,
    ) -> Result<rucket_schemas::ObjectLock, ProjectionError> {
        if !bucket.object_lock_enabled {
            return Ok(Default::default());
        }
        let default = self.object_lock_config(&bucket.name)?.and_then(|c| c.default_retention);
        Ok(rucket_schemas::ObjectLock {
            retention: default.map(|d| d.apply(created.unix_millis())),
            legal_hold: false,
        })
    }

    /// Whether Object Lock forbids removing a version at `now` (delete markers never
    /// carry a lock).
    fn locked(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        entry: &crate::VersionEntry,
        now: i64,
        bypass: bool,
    ) -> Result<bool, ProjectionError> {
        Ok(match entry {
            crate::VersionEntry::Object(r) => {
                self.version_lock(bucket, key, r.hlc_timestamp)?.forbids_delete(now, bypass)
            }
            crate::VersionEntry::DeleteMarker { .. } => false,
        })
    }

    /// The version a retention or legal-hold change names, with its current lock: the
    /// bucket must exist, have Object Lock on, and belong to the requester.
    fn lock_target(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        may_act: &dyn Fn(&BucketRecord) -> bool,
    ) -> Result<Result<(VersionId, rucket_schemas::ObjectLock), Rejection>, ProjectionError> {
        let b = match self.bucket(bucket)? {
            None => return Ok(Err(Rejection::NoSuchBucket)),
            Some(b) => b,
        };
        if !may_act(&b) {
            return Ok(Err(Rejection::AccessDenied));
        }
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

    /// A change only the bucket's owner (or an operator) may make.
    fn owner_only(
        &self,
        bucket: &BucketName,
        may_act: &dyn Fn(&BucketRecord) -> bool,
        make: impl FnOnce() -> StorageEvent,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.bucket(bucket)? {
            None => Decision::Rejected(Rejection::NoSuchBucket),
            Some(b) if !may_act(&b) => Decision::Rejected(Rejection::AccessDenied),
            Some(_) => event(make()),
        })
    }

    /// The object version a per-version change names (`None`: the current one): a delete
    /// marker has none to change.
    fn target_version(
        &self,
        bucket: &BucketName,
        key: &rucket_schemas::ObjectKey,
        version_id: Option<&VersionId>,
    ) -> Result<Result<Box<rucket_schemas::ObjectRecord>, Rejection>, ProjectionError> {
        let entry = match version_id {
            None => self.latest_version(bucket, key)?,
            Some(v) => self.version(bucket, key, v)?,
        };
        Ok(match (entry, version_id) {
            (Some(crate::VersionEntry::Object(record)), _) => Ok(record),
            (None | Some(crate::VersionEntry::DeleteMarker { .. }), None) => Err(Rejection::NoSuchKey),
            (None, Some(_)) => Err(Rejection::NoSuchVersion),
            (Some(crate::VersionEntry::DeleteMarker { .. }), Some(_)) => Err(Rejection::MethodNotAllowed),
        })
    }

    /// Whether the requester may write objects into the bucket: an operator, the owner,
    /// or a grantee of WRITE (or FULL_CONTROL) in the bucket's ACL.
    fn may_write(&self, command: &Command, bucket: &BucketRecord) -> Result<bool, ProjectionError> {
        if command.requester_is_admin || bucket.owner == command.requester {
            return Ok(true);
        }
        Ok(self
            .effective_bucket_acl(&bucket.name)?
            .allows(&command.requester, rucket_schemas::Permission::Write))
    }
}

impl Projections {
    /// Decides a write precondition against the key's current version.
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
        })
    }

    /// Checks the parts a client named against the stored ones: ascending numbers, each
    /// present with the named ETag, each but the last at least `MIN_PART_SIZE`.
    fn assemble(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &rucket_schemas::UploadId,
        named: &[(u32, String)],
    ) -> Result<Result<(u64, Vec<PartRef>), Rejection>, ProjectionError> {
        if named.is_empty() {
            return Ok(Err(Rejection::InvalidPart));
        }
        if named.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Ok(Err(Rejection::InvalidPartOrder));
        }
        let stored = self.parts(bucket, key, upload_id)?;
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
