//! Decides the configuration commands: a bucket's policy, ACL, tags, CORS rules,
//! lifecycle rules, notifications, default encryption, public access block and ownership
//! controls, and an object version's ACL and tags.

use rucket_schemas::{
    Acl, BucketAclSet, BucketCorsSet, BucketEncryption, BucketEncryptionSet, BucketLifecycleSet, BucketName,
    BucketNotificationSet, BucketOwnershipSet, BucketPolicySet, BucketPublicAccessBlockSet, BucketTaggingSet,
    CorsConfig, Grantee, LifecycleConfig, NotificationConfig, ObjectAclSet, ObjectKey, ObjectOwnership,
    ObjectTaggingSet, Permission, PublicAccessBlock, Rejection, StorageEvent, Tags, VersionId,
};

use super::{event, Caller, Decision};
use crate::{BucketRecord, ProjectionError, Projections};

impl Projections {
    /// Put/DeleteBucketPolicy: the owner's (or an operator's); a public policy (judged
    /// from its text here, not from what the gateway found) is refused while the bucket
    /// blocks public policies, and text that does not parse is refused outright.
    pub(super) fn set_bucket_policy(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        policy: Option<&String>,
    ) -> Result<Decision, ProjectionError> {
        if let Some(text) = policy {
            let Ok(parsed) = rucket_policy::Policy::parse(text, bucket.as_str()) else {
                return Ok(Decision::Rejected(Rejection::AccessDenied));
            };
            if parsed.is_public() && self.public_access_block(bucket)?.is_some_and(|b| b.block_public_policy)
            {
                return Ok(Decision::Rejected(Rejection::AccessDenied));
            }
        }
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketPolicySet(BucketPolicySet { bucket: bucket.clone(), policy: policy.cloned() })
        })
    }

    /// PutBucketAcl: the owner's, an operator's or a WRITE_ACP grantee's; a public ACL is
    /// refused (to everyone) while the bucket blocks public ACLs.
    pub(super) fn set_bucket_acl(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        acl: &Acl,
    ) -> Result<Decision, ProjectionError> {
        Ok(match self.bucket(bucket)? {
            None => Decision::Rejected(Rejection::NoSuchBucket),
            Some(_) if self.blocks_public(bucket, acl)? => Decision::Rejected(Rejection::AccessDenied),
            Some(b) if self.refused_while_acls_off(bucket, &b, acl)? => {
                Decision::Rejected(Rejection::AccessDenied)
            }
            Some(b)
                if !caller.may_act(&b)
                    && !self
                        .effective_bucket_acl(bucket)?
                        .allows(caller.requester(), Permission::WriteAcp) =>
            {
                Decision::Rejected(Rejection::AccessDenied)
            }
            Some(_) => {
                let acl = acl.clone();
                event(StorageEvent::BucketAclSet(BucketAclSet { bucket: bucket.clone(), acl, whole: false }))
            }
        })
    }

    /// PutObjectAcl on one version (`None`: the current one): the bucket owner's, an
    /// operator's, the version owner's or a WRITE_ACP grantee's; public ACLs as for the
    /// bucket.
    pub(super) fn set_object_acl(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        acl: &Acl,
    ) -> Result<Decision, ProjectionError> {
        let b = match self.bucket(bucket)? {
            None => return Ok(Decision::Rejected(Rejection::NoSuchBucket)),
            Some(_) if self.blocks_public(bucket, acl)? => {
                return Ok(Decision::Rejected(Rejection::AccessDenied))
            }
            Some(b) if self.refused_while_acls_off(bucket, &b, acl)? => {
                return Ok(Decision::Rejected(Rejection::AccessDenied))
            }
            Some(b) => b,
        };
        let enforced = self.acls_off(bucket)?;
        let record = match self.target_version(bucket, key, version_id)? {
            Ok(record) => record,
            Err(r) => return Ok(Decision::Rejected(r)),
        };
        let granted = self
            .effective_version_acl(bucket, key, record.hlc_timestamp)?
            .allows(caller.requester(), Permission::WriteAcp);
        // (Under BucketOwnerEnforced an older object's writer is no longer its owner.)
        let writer = record.owner == *caller.requester() && !enforced;
        Ok(if !caller.may_act(&b) && !writer && !granted {
            Decision::Rejected(Rejection::AccessDenied)
        } else {
            event(StorageEvent::ObjectAclSet(ObjectAclSet {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id: record.version_id.clone(),
                acl: acl.clone(),
                whole: false,
            }))
        })
    }

    /// PutObjectTagging on one version (`None`: the current one): the bucket owner's, an
    /// operator's, or a bucket policy's grantee's.
    pub(super) fn set_object_tagging(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<&VersionId>,
        tags: &Tags,
    ) -> Result<Decision, ProjectionError> {
        // The bucket's owner's (as in S3: not the object's writer's), or whoever a bucket
        // policy allows.
        match self.bucket(bucket)? {
            None => return Ok(Decision::Rejected(Rejection::NoSuchBucket)),
            Some(b) if !caller.may_act(&b) && !caller.grants.policy => {
                return Ok(Decision::Rejected(Rejection::AccessDenied))
            }
            Some(_) => {}
        }
        Ok(match self.target_version(bucket, key, version_id)? {
            Err(r) => Decision::Rejected(r),
            Ok(record) => event(StorageEvent::ObjectTaggingSet(ObjectTaggingSet {
                bucket: bucket.clone(),
                key: key.clone(),
                version_id: record.version_id.clone(),
                tags: tags.clone(),
            })),
        })
    }

    /// PutBucketTagging: the owner's (or an operator's).
    pub(super) fn set_bucket_tagging(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        tags: &Tags,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketTaggingSet(BucketTaggingSet { bucket: bucket.clone(), tags: tags.clone() })
        })
    }

    /// Put/DeleteBucketLogging: the owner's (or an operator's); the target bucket must
    /// exist and have the same owner (deliveries are then the owner's own writes).
    pub(super) fn set_bucket_logging(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: Option<&rucket_schemas::BucketLogging>,
    ) -> Result<Decision, ProjectionError> {
        let source = match self.owned_bucket(caller, bucket)? {
            Err(r) => return Ok(Decision::Rejected(r)),
            Ok(source) => source,
        };
        if let Some(c) = configuration {
            match self.bucket(&c.target_bucket)? {
                None => return Ok(Decision::Rejected(Rejection::NoSuchLoggingTarget)),
                Some(target) if target.owner != source.owner => {
                    return Ok(Decision::Rejected(Rejection::LoggingTargetNotOwned))
                }
                Some(_) => {}
            }
        }
        Ok(super::event(StorageEvent::BucketLoggingSet(rucket_schemas::BucketLoggingSet {
            bucket: bucket.clone(),
            configuration: configuration.cloned(),
        })))
    }

    /// PutBucketCors: the owner's (or an operator's).
    pub(super) fn set_bucket_cors(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: &CorsConfig,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketCorsSet(BucketCorsSet {
                bucket: bucket.clone(),
                configuration: configuration.clone(),
            })
        })
    }

    /// PutBucketLifecycleConfiguration: the owner's (or an operator's).
    pub(super) fn set_bucket_lifecycle(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: &LifecycleConfig,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketLifecycleSet(BucketLifecycleSet {
                bucket: bucket.clone(),
                configuration: configuration.clone(),
            })
        })
    }

    /// PutBucketNotificationConfiguration: the owner's (or an operator's).
    pub(super) fn set_bucket_notification(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: &NotificationConfig,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketNotificationSet(BucketNotificationSet {
                bucket: bucket.clone(),
                configuration: configuration.clone(),
            })
        })
    }

    /// Put/DeleteBucketEncryption: the owner's (or an operator's).
    pub(super) fn set_bucket_encryption(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: Option<&BucketEncryption>,
        kms_key_id: Option<&String>,
    ) -> Result<Decision, ProjectionError> {
        let decision = self.owner_only(caller, bucket, || {
            StorageEvent::BucketEncryptionSet(BucketEncryptionSet {
                bucket: bucket.clone(),
                configuration: configuration.cloned(),
                kms_key_id: kms_key_id.cloned(),
            })
        })?;
        // Checked after the owner's right, so others learn nothing of the key store.
        match kms_key_id {
            Some(id) if matches!(decision, Decision::Event(_)) && self.kms_key(id)?.is_none() => {
                Ok(Decision::Rejected(Rejection::NoSuchKmsKey))
            }
            _ => Ok(decision),
        }
    }

    /// Put/DeletePublicAccessBlock: the owner's (or an operator's).
    pub(super) fn set_public_access_block(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        configuration: Option<PublicAccessBlock>,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketPublicAccessBlockSet(BucketPublicAccessBlockSet {
                bucket: bucket.clone(),
                configuration,
            })
        })
    }

    /// Put/DeleteBucketOwnershipControls: the owner's (or an operator's).
    pub(super) fn set_bucket_ownership(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        ownership: Option<ObjectOwnership>,
    ) -> Result<Decision, ProjectionError> {
        self.owner_only(caller, bucket, || {
            StorageEvent::BucketOwnershipSet(BucketOwnershipSet { bucket: bucket.clone(), ownership })
        })
    }

    /// Whether the bucket's ownership controls (BucketOwnerEnforced) turn ACLs off and
    /// `acl` is more than the default or its owner's FULL_CONTROL (the gateway says
    /// AccessControlListNotSupported first; this holds if the controls changed since).
    fn refused_while_acls_off(
        &self,
        bucket: &BucketName,
        b: &BucketRecord,
        acl: &Acl,
    ) -> Result<bool, ProjectionError> {
        let owner_only = acl
            .grants
            .iter()
            .all(|g| g.permission == Permission::FullControl && g.grantee == Grantee::User(b.owner.clone()));
        Ok(!owner_only && self.acls_off(bucket)?)
    }

    /// Whether the bucket's public access block refuses `acl` (it grants publicly).
    pub(super) fn blocks_public(&self, bucket: &BucketName, acl: &Acl) -> Result<bool, ProjectionError> {
        Ok(acl.is_public() && self.public_access_block(bucket)?.is_some_and(|b| b.block_public_acls))
    }
}
