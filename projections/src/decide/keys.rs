//! Decides the access key commands (an operator's to make) and the re-wraps of a master
//! key rotation: of an access key's secret, and of an object version's or an upload's
//! data key.

use rucket_schemas::{
    AccessKeyCreated, AccessKeyDeleted, AccessKeyPolicySet, AccessKeyRewrapped, AccessKeyStatusSet,
    BucketName, DataKeyRewrapped, KmsKeyCreated, KmsKeyRewrapped, KmsKeyStatusSet, ObjectKey, Rejection,
    RewrapTarget, Seal, SealKind, SealedSecret, StorageEvent, UserId,
};

use super::{event, Caller, Decision};
use crate::{ProjectionError, Projections, VersionEntry};

impl Projections {
    /// CreateAccessKey: an operator's, under an id no key has.
    pub(super) fn create_access_key(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
        user: &UserId,
        secret: &SealedSecret,
        admin: bool,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.access_key(access_key_id)?.is_some() {
            Decision::Rejected(Rejection::AccessKeyExists)
        } else {
            event(StorageEvent::AccessKeyCreated(AccessKeyCreated {
                access_key_id: access_key_id.to_owned(),
                user: user.clone(),
                secret: secret.clone(),
                admin,
            }))
        })
    }

    /// Disables (or enables again) a key: see [`Self::key_admin_only`].
    pub(super) fn set_access_key_status(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
        enabled: bool,
    ) -> Result<Decision, ProjectionError> {
        self.key_admin_only(caller, access_key_id, || {
            StorageEvent::AccessKeyStatusSet(AccessKeyStatusSet {
                access_key_id: access_key_id.to_owned(),
                enabled,
            })
        })
    }

    /// Deletes a key: see [`Self::key_admin_only`].
    pub(super) fn delete_access_key(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
    ) -> Result<Decision, ProjectionError> {
        self.key_admin_only(caller, access_key_id, || {
            StorageEvent::AccessKeyDeleted(AccessKeyDeleted { access_key_id: access_key_id.to_owned() })
        })
    }

    /// Attaches (or removes) a key's identity policy: see [`Self::key_admin_only`].
    pub(super) fn set_access_key_policy(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
        policy: Option<&String>,
    ) -> Result<Decision, ProjectionError> {
        self.key_admin_only(caller, access_key_id, || {
            StorageEvent::AccessKeyPolicySet(AccessKeyPolicySet {
                access_key_id: access_key_id.to_owned(),
                policy: policy.cloned(),
            })
        })
    }

    /// A rotation's re-seal of a key's secret: an operator's, applied only while the key
    /// still holds exactly `from` (not deleted or re-sealed since the rotation looked).
    pub(super) fn rewrap_access_key(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
        from: &SealedSecret,
        secret: &SealedSecret,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.access_key(access_key_id)?.is_none_or(|k| k.secret != *from) {
            // Deleted or re-sealed since the rotation looked.
            Decision::Unchanged
        } else {
            event(StorageEvent::AccessKeyRewrapped(AccessKeyRewrapped {
                access_key_id: access_key_id.to_owned(),
                from_key_id: from.key_id.clone(),
                secret: secret.clone(),
            }))
        })
    }

    /// A rotation's re-wrap of one data key: an operator's, applied only while the target
    /// version or upload still carries exactly the seal `from`.
    pub(super) fn rewrap_data_key(
        &self,
        caller: &Caller<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        target: &RewrapTarget,
        from: &Seal,
        seal: &Seal,
    ) -> Result<Decision, ProjectionError> {
        let current = match target {
            RewrapTarget::Upload(upload_id) => self.upload_seal(bucket, key, upload_id)?,
            RewrapTarget::Version(version_id) => match self.find_version(bucket, key, version_id)? {
                Some((_, VersionEntry::Object(record))) => record.data.seal().cloned(),
                _ => None,
            },
        };
        let still_old = current.as_ref() == Some(from);
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if !still_old {
            // Deleted, completed or re-wrapped since the rotation looked.
            Decision::Unchanged
        } else {
            event(StorageEvent::DataKeyRewrapped(DataKeyRewrapped {
                bucket: bucket.clone(),
                key: key.clone(),
                target: target.clone(),
                from_key_id: match &from.kind {
                    SealKind::MasterKey { key_id } => key_id.clone(),
                    SealKind::CustomerKey { .. } | SealKind::KmsKey { .. } => String::new(),
                },
                seal: seal.clone(),
            }))
        })
    }

    /// CreateKmsKey: an operator's, under an id no KMS key has.
    pub(super) fn create_kms_key(
        &self,
        caller: &Caller<'_>,
        key_id: &str,
        description: &str,
        material: &SealedSecret,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.kms_key(key_id)?.is_some() {
            Decision::Rejected(Rejection::KmsKeyExists)
        } else {
            event(StorageEvent::KmsKeyCreated(KmsKeyCreated {
                key_id: key_id.to_owned(),
                description: description.to_owned(),
                material: material.clone(),
            }))
        })
    }

    /// Disables (or enables again) a KMS key: an operator's, on a key that exists.
    pub(super) fn set_kms_key_status(
        &self,
        caller: &Caller<'_>,
        key_id: &str,
        enabled: bool,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.kms_key(key_id)?.is_none() {
            Decision::Rejected(Rejection::NoSuchKmsKey)
        } else {
            event(StorageEvent::KmsKeyStatusSet(KmsKeyStatusSet { key_id: key_id.to_owned(), enabled }))
        })
    }

    /// A rotation's re-seal of a KMS key's material: an operator's, applied only while the
    /// key still holds exactly `from`.
    pub(super) fn rewrap_kms_key(
        &self,
        caller: &Caller<'_>,
        key_id: &str,
        from: &SealedSecret,
        material: &SealedSecret,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.kms_key(key_id)?.is_none_or(|k| k.material != *from) {
            Decision::Unchanged
        } else {
            event(StorageEvent::KmsKeyRewrapped(KmsKeyRewrapped {
                key_id: key_id.to_owned(),
                from_key_id: from.key_id.clone(),
                material: material.clone(),
            }))
        })
    }

    /// An access key change: an operator's to make, on a key that exists.
    fn key_admin_only(
        &self,
        caller: &Caller<'_>,
        access_key_id: &str,
        make: impl FnOnce() -> StorageEvent,
    ) -> Result<Decision, ProjectionError> {
        Ok(if !caller.is_admin() {
            Decision::Rejected(Rejection::AccessDenied)
        } else if self.access_key(access_key_id)?.is_none() {
            Decision::Rejected(Rejection::NoSuchAccessKey)
        } else {
            event(make())
        })
    }
}
