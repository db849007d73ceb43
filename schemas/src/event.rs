//! `StorageEvent`: what the archive keeps for every applied mutation, with one payload
//! struct per event type and schema version.
//!
//! Compatibility rule: a payload struct is frozen once released. A change adds a new
//! schema version (a new struct plus an upgrade from the previous one in
//! [`StorageEvent::decode`]); variants and fields are never reordered or removed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access_key::{
    AccessKeyCreated, AccessKeyDeleted, AccessKeyPolicySet, AccessKeyRewrapped, AccessKeyStatusSet,
};
use crate::cluster::{MembershipChanged, WebhookCursorSet};
use crate::kms::{KmsKeyCreated, KmsKeyRewrapped, KmsKeyStatusSet};
use crate::lock::{ObjectLock, ObjectLockConfig, Retention};
use crate::seal::{BucketEncryptionSet, BucketEncryptionSetV1, DataKeyRewrapped, Seal};
use crate::{
    codec, BlobId, BucketName, CodecError, Hlc, LogPosition, ObjectKey, RegionId, UploadId, UserId, VersionId,
};

/// The event type numbers written into the envelope. Never reused or renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum EventType {
    BucketCreated = 1,
    BucketDeleted = 2,
    ObjectCreated = 3,
    ObjectDeleted = 4,
    UploadCreated = 5,
    PartUploaded = 6,
    MultipartCompleted = 7,
    UploadAborted = 8,
    BucketVersioningSet = 9,
    BucketNotificationSet = 10,
    BucketCorsSet = 11,
    ObjectTaggingSet = 12,
    BucketTaggingSet = 13,
    BucketLifecycleSet = 14,
    BucketAclSet = 15,
    ObjectAclSet = 16,
    BucketOwnershipSet = 17,
    BucketObjectLockSet = 18,
    ObjectRetentionSet = 19,
    ObjectLegalHoldSet = 20,
    BucketPublicAccessBlockSet = 21,
    BucketPolicySet = 22,
    BucketEncryptionSet = 23,
    DataKeyRewrapped = 24,
    AccessKeyCreated = 25,
    AccessKeyStatusSet = 26,
    AccessKeyDeleted = 27,
    AccessKeyPolicySet = 28,
    AccessKeyRewrapped = 29,
    MembershipChanged = 30,
    WebhookCursorSet = 31,
    KmsKeyCreated = 32,
    KmsKeyStatusSet = 33,
    KmsKeyRewrapped = 34,
    BucketLoggingSet = 35,
}

impl EventType {
    /// The schema version that this build writes for the type.
    pub fn current_schema_version(self) -> u16 {
        match self {
            Self::BucketCreated => 1,
            Self::BucketDeleted => 2,
            Self::ObjectCreated => 4,
            Self::ObjectDeleted => 2,
            Self::UploadCreated => 6,
            Self::MultipartCompleted => 4,
            Self::BucketEncryptionSet => 2,
            Self::DataKeyRewrapped => 1,
            Self::KmsKeyCreated | Self::KmsKeyStatusSet | Self::KmsKeyRewrapped => 1,
            Self::BucketLoggingSet => 1,
            Self::AccessKeyCreated | Self::AccessKeyStatusSet | Self::AccessKeyDeleted => 1,
            Self::AccessKeyPolicySet | Self::AccessKeyRewrapped => 1,
            Self::MembershipChanged | Self::WebhookCursorSet => 1,
            Self::BucketObjectLockSet | Self::ObjectRetentionSet | Self::ObjectLegalHoldSet => 1,
            Self::BucketPublicAccessBlockSet | Self::BucketPolicySet => 1,
            Self::PartUploaded | Self::UploadAborted => 1,
            Self::ObjectTaggingSet | Self::BucketTaggingSet | Self::BucketLifecycleSet => 1,
            Self::BucketAclSet | Self::ObjectAclSet => 2,
            Self::BucketOwnershipSet => 1,
            Self::BucketVersioningSet | Self::BucketNotificationSet | Self::BucketCorsSet => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BucketCreated => "BucketCreated",
            Self::BucketDeleted => "BucketDeleted",
            Self::ObjectCreated => "ObjectCreated",
            Self::ObjectDeleted => "ObjectDeleted",
            Self::UploadCreated => "UploadCreated",
            Self::PartUploaded => "PartUploaded",
            Self::MultipartCompleted => "MultipartCompleted",
            Self::UploadAborted => "UploadAborted",
            Self::BucketVersioningSet => "BucketVersioningSet",
            Self::BucketNotificationSet => "BucketNotificationSet",
            Self::BucketCorsSet => "BucketCorsSet",
            Self::ObjectTaggingSet => "ObjectTaggingSet",
            Self::BucketTaggingSet => "BucketTaggingSet",
            Self::BucketLifecycleSet => "BucketLifecycleSet",
            Self::BucketAclSet => "BucketAclSet",
            Self::ObjectAclSet => "ObjectAclSet",
            Self::BucketOwnershipSet => "BucketOwnershipSet",
            Self::BucketObjectLockSet => "BucketObjectLockSet",
            Self::ObjectRetentionSet => "ObjectRetentionSet",
            Self::ObjectLegalHoldSet => "ObjectLegalHoldSet",
            Self::BucketPublicAccessBlockSet => "BucketPublicAccessBlockSet",
            Self::BucketPolicySet => "BucketPolicySet",
            Self::BucketEncryptionSet => "BucketEncryptionSet",
            Self::DataKeyRewrapped => "DataKeyRewrapped",
            Self::AccessKeyCreated => "AccessKeyCreated",
            Self::AccessKeyStatusSet => "AccessKeyStatusSet",
            Self::AccessKeyDeleted => "AccessKeyDeleted",
            Self::AccessKeyPolicySet => "AccessKeyPolicySet",
            Self::AccessKeyRewrapped => "AccessKeyRewrapped",
            Self::MembershipChanged => "MembershipChanged",
            Self::WebhookCursorSet => "WebhookCursorSet",
            Self::KmsKeyCreated => "KmsKeyCreated",
            Self::KmsKeyStatusSet => "KmsKeyStatusSet",
            Self::KmsKeyRewrapped => "KmsKeyRewrapped",
            Self::BucketLoggingSet => "BucketLoggingSet",
        }
    }
}

/// A validated, applied mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageEvent {
    BucketCreated(BucketCreated),
    BucketDeleted(BucketDeleted),
    ObjectCreated(ObjectCreated),
    ObjectDeleted(ObjectDeleted),
    UploadCreated(UploadCreated),
    PartUploaded(PartUploaded),
    MultipartCompleted(MultipartCompleted),
    UploadAborted(UploadAborted),
    BucketVersioningSet(BucketVersioningSet),
    BucketNotificationSet(BucketNotificationSet),
    BucketCorsSet(BucketCorsSet),
    ObjectTaggingSet(ObjectTaggingSet),
    BucketTaggingSet(BucketTaggingSet),
    BucketLifecycleSet(BucketLifecycleSet),
    BucketAclSet(BucketAclSet),
    ObjectAclSet(ObjectAclSet),
    BucketOwnershipSet(BucketOwnershipSet),
    BucketObjectLockSet(BucketObjectLockSet),
    ObjectRetentionSet(ObjectRetentionSet),
    ObjectLegalHoldSet(ObjectLegalHoldSet),
    BucketPublicAccessBlockSet(BucketPublicAccessBlockSet),
    BucketPolicySet(BucketPolicySet),
    BucketEncryptionSet(BucketEncryptionSet),
    DataKeyRewrapped(DataKeyRewrapped),
    AccessKeyCreated(AccessKeyCreated),
    AccessKeyStatusSet(AccessKeyStatusSet),
    AccessKeyDeleted(AccessKeyDeleted),
    AccessKeyPolicySet(AccessKeyPolicySet),
    AccessKeyRewrapped(AccessKeyRewrapped),
    MembershipChanged(MembershipChanged),
    WebhookCursorSet(WebhookCursorSet),
    KmsKeyCreated(KmsKeyCreated),
    KmsKeyStatusSet(KmsKeyStatusSet),
    KmsKeyRewrapped(KmsKeyRewrapped),
    BucketLoggingSet(BucketLoggingSet),
}

/// Schema version 1 of `BucketObjectLockSet`: the bucket's Object Lock configuration was
/// set, which also turns Object Lock on for a bucket created without it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketObjectLockSet {
    pub bucket: BucketName,
    pub configuration: ObjectLockConfig,
}

/// Schema version 1 of `ObjectRetentionSet`: one version's retention was replaced
/// (`None`: removed, which only a GOVERNANCE bypass or an expired retention allows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectRetentionSet {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub retention: Option<Retention>,
}

/// Schema version 1 of `ObjectLegalHoldSet`: one version's legal hold was turned on or off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectLegalHoldSet {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub on: bool,
}

/// Schema version 1 of `BucketOwnershipSet`: the bucket's ownership controls were set
/// (`None`: DeleteBucketOwnershipControls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketOwnershipSet {
    pub bucket: BucketName,
    pub ownership: Option<ObjectOwnership>,
}

/// S3's object ownership setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// Objects written with `bucket-owner-full-control` belong to the bucket owner.
    BucketOwnerPreferred,
    /// The writer owns the object (the behaviour without controls).
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn from_s3_name(name: &str) -> Option<Self> {
        [Self::BucketOwnerEnforced, Self::BucketOwnerPreferred, Self::ObjectWriter]
            .into_iter()
            .find(|o| o.s3_name() == name)
    }
}

/// Schema version 2 of `BucketAclSet`: the bucket's grants were replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketAclSet {
    pub bucket: BucketName,
    pub acl: Acl,
    /// The grants are the whole ACL (grant headers, an AccessControlPolicy body): the
    /// owner's FULL_CONTROL is listed only when granted. Otherwise (canned ACLs, and
    /// every schema 1 event) it is implied before them.
    pub whole: bool,
}

/// Schema version 1 of `BucketAclSet` (no `whole`: the owner's grant is implied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketAclSetV1 {
    pub bucket: BucketName,
    pub acl: Acl,
}

impl From<BucketAclSetV1> for BucketAclSet {
    fn from(v1: BucketAclSetV1) -> Self {
        Self { bucket: v1.bucket, acl: v1.acl, whole: false }
    }
}

/// Schema version 2 of `ObjectAclSet`: one version's grants were replaced (`whole` as
/// in [`BucketAclSet`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectAclSet {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub acl: Acl,
    pub whole: bool,
}

/// Schema version 1 of `ObjectAclSet` (no `whole`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectAclSetV1 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub acl: Acl,
}

impl From<ObjectAclSetV1> for ObjectAclSet {
    fn from(v1: ObjectAclSetV1) -> Self {
        Self { bucket: v1.bucket, key: v1.key, version_id: v1.version_id, acl: v1.acl, whole: false }
    }
}

/// An ACL as the views keep it and GetBucketAcl/GetObjectAcl list it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ListedAcl {
    pub acl: Acl,
    /// As [`BucketAclSet::whole`]; an object or bucket with no ACL set lists the owner's
    /// FULL_CONTROL alone.
    pub whole: bool,
}

/// Grants beyond the owner's, who always has full control.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum Grantee {
    User(UserId),
    /// Everyone, signed or not.
    AllUsers,
    /// Every signed request.
    AuthenticatedUsers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Acl {
    /// Whether a grant gives `user` the permission (FULL_CONTROL includes every one).
    pub fn allows(&self, user: &UserId, permission: Permission) -> bool {
        self.grants.iter().any(|g| {
            let who = match &g.grantee {
                Grantee::AllUsers => true,
                Grantee::AuthenticatedUsers => !user.is_anonymous(),
                Grantee::User(id) => id == user,
            };
            who && (g.permission == permission || g.permission == Permission::FullControl)
        })
    }

    /// Whether a grant goes to everyone or to every authenticated user.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
    }

    /// The grants to named users only (what IgnorePublicAcls leaves in force).
    pub fn without_public(mut self) -> Self {
        self.grants.retain(|g| matches!(g.grantee, Grantee::User(_)));
        self
    }
}

/// A bucket's public access block: which public ACLs (and, once policies exist, public
/// policies) are refused or ignored.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct PublicAccessBlock {
    /// Refuse new ACLs that grant to everyone or to every authenticated user.
    pub block_public_acls: bool,
    /// Leave such grants out of every access decision.
    pub ignore_public_acls: bool,
    /// Refuse bucket policies that allow public access (kept for bucket policies).
    pub block_public_policy: bool,
    /// Limit a public policy to the owner and operators (kept for bucket policies).
    pub restrict_public_buckets: bool,
}

/// Schema version 1 of `BucketPolicySet`: the bucket policy, as validated JSON text
/// (`None`: DeleteBucketPolicy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketPolicySet {
    pub bucket: BucketName,
    pub policy: Option<String>,
}

/// Schema version 1 of `BucketPublicAccessBlockSet` (`None`: DeletePublicAccessBlock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketPublicAccessBlockSet {
    pub bucket: BucketName,
    pub configuration: Option<PublicAccessBlock>,
}

/// Schema version 1 of `BucketLifecycleSet`: the bucket's whole lifecycle configuration
/// was replaced (an empty one removes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketLifecycleSet {
    pub bucket: BucketName,
    pub configuration: LifecycleConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct LifecycleConfig {
    pub rules: Vec<LifecycleRule>,
}

/// One lifecycle rule: which versions it applies to and what it does to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    /// How the filter was written, so that GetBucketLifecycleConfiguration gives it back.
    pub filter_form: LifecycleFilterForm,
    pub prefix: String,
    /// Every tag must be on the version.
    pub tags: Tags,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
    /// Current versions expire this many days after creation...
    pub expiration_days: Option<u32>,
    /// ...or at this time (Unix seconds, a midnight UTC).
    pub expiration_date: Option<i64>,
    /// A delete marker that is a key's only version is removed.
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions expire this many days after they became noncurrent...
    pub noncurrent_days: Option<u32>,
    /// ...keeping this many of the newest noncurrent versions.
    pub newer_noncurrent_versions: Option<u32>,
    /// Uploads in progress are aborted this many days after they began.
    pub abort_incomplete_days: Option<u32>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub enum LifecycleFilterForm {
    /// The rule-level `Prefix` of older configurations.
    Legacy,
    /// `Filter` with a single condition (or none).
    #[default]
    Single,
    /// `Filter` with `And`.
    And,
}

/// A tag set: keys are unique, so a map (S3 does not order tags).
pub type Tags = BTreeMap<String, String>;

/// Schema version 1 of `ObjectTaggingSet`: the tags of one version were replaced (empty:
/// DeleteObjectTagging).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectTaggingSet {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub tags: Tags,
}

/// Where a bucket's server access logs go (PutBucketLogging).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketLogging {
    pub target_bucket: BucketName,
    pub target_prefix: String,
    pub key_format: LogKeyFormat,
}

/// How log objects are named: `<prefix><date-time>-<unique>`, or partitioned by source
/// and date (`<prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/<date-time>-<unique>`,
/// dated by the first record's time or by the delivery's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum LogKeyFormat {
    SimplePrefix,
    PartitionedPrefix { delivery_time: bool },
}

/// Schema version 1 of `BucketLoggingSet`: Put/DeleteBucketLogging (`None` turns logging
/// off).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketLoggingSet {
    pub bucket: BucketName,
    pub configuration: Option<BucketLogging>,
}

/// Schema version 1 of `BucketTaggingSet` (empty tags: DeleteBucketTagging).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketTaggingSet {
    pub bucket: BucketName,
    pub tags: Tags,
}

/// Schema version 6 of `UploadCreated`: a multipart upload began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct UploadCreated {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    /// The headers and metadata the completed object will carry.
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    /// The checksum algorithm the client declared for its parts, if any.
    pub checksum_algorithm: Option<String>,
    /// Tags the completed object will carry (`x-amz-tagging`). Added in version 2.
    pub tags: Tags,
    /// The lock the completed version will carry (headers on CreateMultipartUpload).
    /// Added in version 3.
    pub lock: ObjectLock,
    /// How every part (and so the completed version) is encrypted. Added in version 4.
    pub seal: Option<Box<Seal>>,
    /// The ACL the completed version will carry (a canned ACL or grant headers on
    /// CreateMultipartUpload; `None`: private). Added in version 5.
    pub acl: Option<ListedAcl>,
    /// The completed object's checksum is FULL_OBJECT (`x-amz-checksum-type` on
    /// CreateMultipartUpload; a CRC of the whole body), not COMPOSITE. Added in version 6.
    pub full_object_checksum: bool,
}

/// Schema version 5 of `UploadCreated`, frozen. Upgraded with no checksum type asked for.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadCreatedV5 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
    pub tags: Tags,
    pub lock: ObjectLock,
    pub seal: Option<Box<Seal>>,
    pub acl: Option<ListedAcl>,
}

impl From<UploadCreatedV5> for UploadCreated {
    fn from(v5: UploadCreatedV5) -> Self {
        Self {
            bucket: v5.bucket,
            key: v5.key,
            upload_id: v5.upload_id,
            owner: v5.owner,
            headers: v5.headers,
            user_metadata: v5.user_metadata,
            storage_class: v5.storage_class,
            checksum_algorithm: v5.checksum_algorithm,
            tags: v5.tags,
            lock: v5.lock,
            seal: v5.seal,
            acl: v5.acl,
            full_object_checksum: false,
        }
    }
}

/// Schema version 4 of `UploadCreated`, frozen. Upgraded private.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadCreatedV4 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
    pub tags: Tags,
    pub lock: ObjectLock,
    pub seal: Option<Box<Seal>>,
}

impl From<UploadCreatedV4> for UploadCreated {
    fn from(v4: UploadCreatedV4) -> Self {
        Self {
            bucket: v4.bucket,
            key: v4.key,
            upload_id: v4.upload_id,
            owner: v4.owner,
            headers: v4.headers,
            user_metadata: v4.user_metadata,
            storage_class: v4.storage_class,
            checksum_algorithm: v4.checksum_algorithm,
            tags: v4.tags,
            lock: v4.lock,
            seal: v4.seal,
            acl: None,
            full_object_checksum: false,
        }
    }
}

/// Schema version 3 of `UploadCreated`, frozen. Upgraded unencrypted.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadCreatedV3 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
    pub tags: Tags,
    pub lock: ObjectLock,
}

impl From<UploadCreatedV3> for UploadCreated {
    fn from(v3: UploadCreatedV3) -> Self {
        Self {
            bucket: v3.bucket,
            key: v3.key,
            upload_id: v3.upload_id,
            owner: v3.owner,
            headers: v3.headers,
            user_metadata: v3.user_metadata,
            storage_class: v3.storage_class,
            checksum_algorithm: v3.checksum_algorithm,
            tags: v3.tags,
            lock: v3.lock,
            seal: None,
            acl: None,
            full_object_checksum: false,
        }
    }
}

/// Schema version 2 of `UploadCreated`, frozen. Upgraded with no lock.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadCreatedV2 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
    pub tags: Tags,
}

impl From<UploadCreatedV2> for UploadCreated {
    fn from(v2: UploadCreatedV2) -> Self {
        Self {
            bucket: v2.bucket,
            key: v2.key,
            upload_id: v2.upload_id,
            owner: v2.owner,
            headers: v2.headers,
            user_metadata: v2.user_metadata,
            storage_class: v2.storage_class,
            checksum_algorithm: v2.checksum_algorithm,
            tags: v2.tags,
            lock: ObjectLock::default(),
            seal: None,
            acl: None,
            full_object_checksum: false,
        }
    }
}

/// Schema version 1 of `UploadCreated`, frozen. Upgraded with no tags.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadCreatedV1 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
}

impl From<UploadCreatedV1> for UploadCreated {
    fn from(v1: UploadCreatedV1) -> Self {
        Self {
            bucket: v1.bucket,
            key: v1.key,
            upload_id: v1.upload_id,
            owner: v1.owner,
            headers: v1.headers,
            user_metadata: v1.user_metadata,
            storage_class: v1.storage_class,
            checksum_algorithm: v1.checksum_algorithm,
            tags: Tags::new(),
            lock: ObjectLock::default(),
            seal: None,
            acl: None,
            full_object_checksum: false,
        }
    }
}

/// Schema version 1 of `PartUploaded`: a part was stored (replacing any earlier part
/// with the same number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct PartUploaded {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub part: PartRecord,
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct PartRecord {
    pub part_number: u32,
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub blob_id: BlobId,
    pub checksums: BTreeMap<String, String>,
    pub hlc_timestamp: Hlc,
}

/// Schema version 4 of `MultipartCompleted`: an upload became an object version whose
/// data refers to the parts' blobs (no bytes are copied). Version 4 adds no field: it
/// may carry [`ObjectData::Sealed`], which version 3 readers do not know, so a version 3
/// payload decodes with this struct unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct MultipartCompleted {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub record: Box<ObjectRecord>,
    /// The new version's tags (the upload's). Added in version 2.
    pub tags: Tags,
    /// The new version's lock. Added in version 3.
    pub lock: ObjectLock,
}

/// Schema version 2 of `MultipartCompleted`, frozen. Upgraded with no lock.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct MultipartCompletedV2 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub record: Box<ObjectRecord>,
    pub tags: Tags,
}

impl From<MultipartCompletedV2> for MultipartCompleted {
    fn from(v2: MultipartCompletedV2) -> Self {
        Self {
            bucket: v2.bucket,
            key: v2.key,
            upload_id: v2.upload_id,
            record: v2.record,
            tags: v2.tags,
            lock: ObjectLock::default(),
        }
    }
}

/// Schema version 1 of `MultipartCompleted`, frozen. Upgraded with no tags.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct MultipartCompletedV1 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub record: Box<ObjectRecord>,
}

impl From<MultipartCompletedV1> for MultipartCompleted {
    fn from(v1: MultipartCompletedV1) -> Self {
        Self {
            bucket: v1.bucket,
            key: v1.key,
            upload_id: v1.upload_id,
            record: v1.record,
            tags: Tags::new(),
            lock: ObjectLock::default(),
        }
    }
}

/// Schema version 1 of `UploadAborted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct UploadAborted {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
}

/// Schema version 1 of `BucketCreated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketCreated {
    pub bucket: BucketName,
    pub owner: UserId,
    /// The LocationConstraint the client asked for (empty for the default region).
    pub location: String,
    /// Whether Object Lock was requested at creation (it also turns versioning on).
    pub object_lock_enabled: bool,
}

/// Schema version 2 of `BucketDeleted` (the current one): v1 plus the multipart uploads the
/// deletion aborted. S3 deletes a bucket's incomplete uploads with it; naming them in the
/// event lets every fold release exactly their parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketDeleted {
    pub bucket: BucketName,
    pub aborted_uploads: Vec<AbortedUpload>,
}

/// An upload in progress that a bucket's deletion aborted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AbortedUpload {
    pub key: ObjectKey,
    pub upload_id: UploadId,
}

/// Schema version 1 of `BucketDeleted`, frozen (a bucket with uploads in progress could
/// not be deleted). Upgraded with none aborted.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct BucketDeletedV1 {
    pub bucket: BucketName,
}

impl From<BucketDeletedV1> for BucketDeleted {
    fn from(v1: BucketDeletedV1) -> Self {
        Self { bucket: v1.bucket, aborted_uploads: Vec::new() }
    }
}

/// Schema version 4 of `ObjectCreated`. Version 4 adds no field: it may carry
/// [`ObjectData::Sealed`], which version 3 readers do not know, so a version 3 payload
/// decodes with this struct unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectCreated {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub operation: CreateOperation,
    pub record: Box<ObjectRecord>,
    /// The new version's tags. Added in version 2.
    pub tags: Tags,
    /// The new version's lock. Added in version 3.
    pub lock: ObjectLock,
}

/// Schema version 2 of `ObjectCreated`, frozen. Upgraded with no lock.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ObjectCreatedV2 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub operation: CreateOperation,
    pub record: Box<ObjectRecord>,
    pub tags: Tags,
}

impl From<ObjectCreatedV2> for ObjectCreated {
    fn from(v2: ObjectCreatedV2) -> Self {
        Self {
            bucket: v2.bucket,
            key: v2.key,
            operation: v2.operation,
            record: v2.record,
            tags: v2.tags,
            lock: ObjectLock::default(),
        }
    }
}

/// Schema version 1 of `ObjectCreated`, frozen. Upgraded with no tags.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ObjectCreatedV1 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub operation: CreateOperation,
    pub record: Box<ObjectRecord>,
}

impl From<ObjectCreatedV1> for ObjectCreated {
    fn from(v1: ObjectCreatedV1) -> Self {
        Self {
            bucket: v1.bucket,
            key: v1.key,
            operation: v1.operation,
            record: v1.record,
            tags: Tags::new(),
            lock: ObjectLock::default(),
        }
    }
}

/// Which S3 operation created an object version; it names the notification event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum CreateOperation {
    Put,
    Post,
    Copy,
    CompleteMultipartUpload,
}

/// Schema version 2 of `ObjectDeleted` (the current one): v1 plus the requester, who
/// owns a delete marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectDeleted {
    pub bucket: BucketName,
    pub key: ObjectKey,
    /// The version removed, or, when `delete_marker` is set, the id of the new marker.
    pub version_id: VersionId,
    pub delete_marker: bool,
    pub owner: UserId,
}

/// Schema version 1 of `ObjectDeleted`, frozen. Upgraded with an empty owner.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ObjectDeletedV1 {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub version_id: VersionId,
    pub delete_marker: bool,
}

impl From<ObjectDeletedV1> for ObjectDeleted {
    fn from(v1: ObjectDeletedV1) -> Self {
        Self {
            bucket: v1.bucket,
            key: v1.key,
            version_id: v1.version_id,
            delete_marker: v1.delete_marker,
            owner: UserId::new(""),
        }
    }
}

/// Versioning states a bucket can be put in (never-versioned is the absence of both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

/// Schema version 1 of `BucketVersioningSet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketVersioningSet {
    pub bucket: BucketName,
    pub status: VersioningStatus,
}

/// Schema version 1 of `BucketNotificationSet`: the bucket's whole notification
/// configuration was replaced (an empty one removes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketNotificationSet {
    pub bucket: BucketName,
    pub configuration: NotificationConfig,
}

/// Schema version 1 of `BucketCorsSet`: the bucket's CORS configuration was replaced
/// (an empty one removes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketCorsSet {
    pub bucket: BucketName,
    pub configuration: CorsConfig,
}

/// A bucket's CORS rules, in the order PutBucketCors gave them (the first match wins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct CorsConfig {
    pub rules: Vec<CorsRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct CorsRule {
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// HTTP methods: GET, PUT, HEAD, POST, DELETE.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for, each with at most one `*`.
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// A bucket's notification configuration, as PutBucketNotificationConfiguration gave it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct NotificationConfig {
    pub rules: Vec<NotificationRule>,
}

/// One rule: which events of which keys go to which destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct NotificationRule {
    /// The configuration id (S3's `Id`), reported as `configurationId` in records.
    pub id: String,
    pub destination: DestinationKind,
    /// The destination ARN as the client gave it.
    pub arn: String,
    /// S3 event names, `*` allowed at the last level.
    pub events: Vec<String>,
    pub prefix: String,
    pub suffix: String,
}

/// Which list of the S3 configuration a rule came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum DestinationKind {
    Queue,
    Topic,
    Lambda,
}

/// One object version as the projections keep it. Carried whole inside
/// `ObjectCreated`, so the fields that later phases need exist from the first event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectRecord {
    pub version_id: VersionId,
    pub size: u64,
    /// Hex MD5 of the body for single-part objects, without quotes.
    pub etag: String,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub data: ObjectData,
    pub owner: UserId,
    /// The creation stamp of this version; replicas keep the origin's.
    pub hlc_timestamp: Hlc,
    /// The placement group holding the bytes (always 0 on a single node).
    pub placement_group: u32,
    pub home_region: RegionId,
    pub storage_class: StorageClass,
    pub replication_status: ReplicationStatus,
    /// Additional checksums the client supplied, by S3 algorithm name (`CRC32`, ...),
    /// base64 as S3 renders them.
    pub checksums: BTreeMap<String, String>,
}

/// The standard headers that round-trip with an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct StandardHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    /// The Expires header as the client sent it (an HTTP date).
    pub expires: Option<String>,
}

const IN_ARCHIVE_IN_EVENT: &str = "an event cannot name an archive position as its data (only views do)";

/// Where an object's bytes live. Decoded by hand (the same wire form the derive would
/// read) so that replay can step over inline bodies: see [`StorageEvent::decode_as_viewed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode)]
pub enum ObjectData {
    /// Small objects travel inside the event itself. Serialized as bytes (not a sequence
    /// of numbers) for serde formats; bincode's wire form is the same either way.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Larger objects live in the blob store under this id.
    Blob(BlobId),
    /// A completed multipart upload: its parts' blobs, in part order.
    Parts(Vec<PartRef>),
    /// Encrypted bytes (a `Blob` or `Parts`, never `Inline`): each blob holds the
    /// chunks sealed with the data key `seal` wraps. Added with `ObjectCreated` and
    /// `MultipartCompleted` version 4.
    Sealed { seal: Seal, data: Box<ObjectData> },
    /// Only in the views, never in an event: an inline body left where it already is,
    /// in the event archive, inside the `ObjectCreated` at this position. The views
    /// name it instead of holding a second copy; a GET reads it from the archive.
    InArchive(LogPosition),
}

thread_local! {
    /// Set while [`StorageEvent::decode_as_viewed`] decodes on this thread: inline bodies
    /// are stepped over (checked to be there, not copied) and decoded as empty.
    static SKIP_INLINE_BODIES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl<Context> bincode::Decode<Context> for ObjectData {
    fn decode<D: bincode::de::Decoder<Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        use bincode::de::read::Reader;
        // The variant's index, then its fields, as bincode's derive writes them.
        match u32::decode(decoder)? {
            0 => {
                if SKIP_INLINE_BODIES.get() {
                    let len = u64::decode(decoder)?;
                    let len = usize::try_from(len)
                        .map_err(|_| bincode::error::DecodeError::OutsideUsizeRange(len))?;
                    decoder.claim_container_read::<u8>(len)?;
                    // A slice reader can step over the body; any other reader reads it.
                    if decoder.reader().peek_read(len).is_some() {
                        decoder.reader().consume(len);
                    } else {
                        decoder.reader().read(&mut vec![0; len])?;
                    }
                    return Ok(Self::Inline(Vec::new()));
                }
                Ok(Self::Inline(Vec::decode(decoder)?))
            }
            1 => Ok(Self::Blob(BlobId::decode(decoder)?)),
            2 => Ok(Self::Parts(Vec::decode(decoder)?)),
            3 => Ok(Self::Sealed { seal: Seal::decode(decoder)?, data: Box::decode(decoder)? }),
            4 => Ok(Self::InArchive(LogPosition::decode(decoder)?)),
            found => Err(bincode::error::DecodeError::UnexpectedVariant {
                type_name: "ObjectData",
                allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 4 },
                found,
            }),
        }
    }
}
bincode::impl_borrow_decode!(ObjectData);

/// One part of a multipart object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct PartRef {
    pub part_number: u32,
    pub size: u64,
    pub blob_id: BlobId,
}

impl ObjectData {
    /// Every blob the data refers to.
    pub fn blob_ids(&self) -> Vec<&BlobId> {
        match self {
            Self::Inline(_) | Self::InArchive(_) => Vec::new(),
            Self::Blob(id) => vec![id],
            Self::Parts(parts) => parts.iter().map(|p| &p.blob_id).collect(),
            Self::Sealed { data, .. } => data.blob_ids(),
        }
    }

    /// The seal of encrypted data.
    pub fn seal(&self) -> Option<&Seal> {
        match self {
            Self::Sealed { seal, .. } => Some(seal),
            _ => None,
        }
    }

    /// Whether the data names an archive position (views only; see [`Self::InArchive`]).
    pub fn in_archive(&self) -> bool {
        matches!(self.unsealed(), Self::InArchive(_))
    }

    /// The data under any seal.
    pub fn unsealed(&self) -> &ObjectData {
        match self {
            Self::Sealed { data, .. } => data.unsealed(),
            other => other,
        }
    }
}

/// Storage classes, named as Rucket thinks of them; `s3_name` maps them to S3.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub enum StorageClass {
    #[default]
    Standard,
    InfrequentAccess,
    Archive,
}

impl StorageClass {
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::InfrequentAccess => "STANDARD_IA",
            Self::Archive => "GLACIER",
        }
    }

    /// Accepts S3's storage class names; `None` for a name S3 does not define.
    pub fn from_s3_name(name: &str) -> Option<Self> {
        match name {
            "STANDARD" | "REDUCED_REDUNDANCY" | "EXPRESS_ONEZONE" => Some(Self::Standard),
            "STANDARD_IA" | "ONEZONE_IA" | "INTELLIGENT_TIERING" => Some(Self::InfrequentAccess),
            "GLACIER" | "GLACIER_IR" | "DEEP_ARCHIVE" => Some(Self::Archive),
            _ => None,
        }
    }
}

/// Where a version stands in cross-region replication.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum ReplicationStatus {
    #[default]
    None,
    Pending {
        targets: Vec<RegionId>,
    },
    Replicated {
        regions: Vec<RegionId>,
        hlc: Hlc,
    },
    Failed {
        reason: String,
    },
}

impl StorageEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::BucketCreated(_) => EventType::BucketCreated,
            Self::BucketDeleted(_) => EventType::BucketDeleted,
            Self::ObjectCreated(_) => EventType::ObjectCreated,
            Self::ObjectDeleted(_) => EventType::ObjectDeleted,
            Self::UploadCreated(_) => EventType::UploadCreated,
            Self::PartUploaded(_) => EventType::PartUploaded,
            Self::MultipartCompleted(_) => EventType::MultipartCompleted,
            Self::UploadAborted(_) => EventType::UploadAborted,
            Self::BucketVersioningSet(_) => EventType::BucketVersioningSet,
            Self::BucketNotificationSet(_) => EventType::BucketNotificationSet,
            Self::BucketCorsSet(_) => EventType::BucketCorsSet,
            Self::ObjectTaggingSet(_) => EventType::ObjectTaggingSet,
            Self::BucketTaggingSet(_) => EventType::BucketTaggingSet,
            Self::BucketLifecycleSet(_) => EventType::BucketLifecycleSet,
            Self::BucketAclSet(_) => EventType::BucketAclSet,
            Self::ObjectAclSet(_) => EventType::ObjectAclSet,
            Self::BucketOwnershipSet(_) => EventType::BucketOwnershipSet,
            Self::BucketObjectLockSet(_) => EventType::BucketObjectLockSet,
            Self::ObjectRetentionSet(_) => EventType::ObjectRetentionSet,
            Self::ObjectLegalHoldSet(_) => EventType::ObjectLegalHoldSet,
            Self::BucketPublicAccessBlockSet(_) => EventType::BucketPublicAccessBlockSet,
            Self::BucketPolicySet(_) => EventType::BucketPolicySet,
            Self::BucketEncryptionSet(_) => EventType::BucketEncryptionSet,
            Self::DataKeyRewrapped(_) => EventType::DataKeyRewrapped,
            Self::AccessKeyCreated(_) => EventType::AccessKeyCreated,
            Self::AccessKeyStatusSet(_) => EventType::AccessKeyStatusSet,
            Self::AccessKeyDeleted(_) => EventType::AccessKeyDeleted,
            Self::AccessKeyPolicySet(_) => EventType::AccessKeyPolicySet,
            Self::AccessKeyRewrapped(_) => EventType::AccessKeyRewrapped,
            Self::MembershipChanged(_) => EventType::MembershipChanged,
            Self::WebhookCursorSet(_) => EventType::WebhookCursorSet,
            Self::KmsKeyCreated(_) => EventType::KmsKeyCreated,
            Self::KmsKeyStatusSet(_) => EventType::KmsKeyStatusSet,
            Self::KmsKeyRewrapped(_) => EventType::KmsKeyRewrapped,
            Self::BucketLoggingSet(_) => EventType::BucketLoggingSet,
        }
    }

    /// The bucket the event belongs to; `None` for access key events, which have none.
    pub fn bucket(&self) -> Option<&BucketName> {
        match self {
            Self::BucketCreated(e) => Some(&e.bucket),
            Self::BucketDeleted(e) => Some(&e.bucket),
            Self::ObjectCreated(e) => Some(&e.bucket),
            Self::ObjectDeleted(e) => Some(&e.bucket),
            Self::UploadCreated(e) => Some(&e.bucket),
            Self::PartUploaded(e) => Some(&e.bucket),
            Self::MultipartCompleted(e) => Some(&e.bucket),
            Self::UploadAborted(e) => Some(&e.bucket),
            Self::BucketVersioningSet(e) => Some(&e.bucket),
            Self::BucketNotificationSet(e) => Some(&e.bucket),
            Self::BucketCorsSet(e) => Some(&e.bucket),
            Self::ObjectTaggingSet(e) => Some(&e.bucket),
            Self::BucketTaggingSet(e) => Some(&e.bucket),
            Self::BucketLoggingSet(e) => Some(&e.bucket),
            Self::BucketLifecycleSet(e) => Some(&e.bucket),
            Self::BucketAclSet(e) => Some(&e.bucket),
            Self::ObjectAclSet(e) => Some(&e.bucket),
            Self::BucketOwnershipSet(e) => Some(&e.bucket),
            Self::BucketObjectLockSet(e) => Some(&e.bucket),
            Self::ObjectRetentionSet(e) => Some(&e.bucket),
            Self::ObjectLegalHoldSet(e) => Some(&e.bucket),
            Self::BucketPublicAccessBlockSet(e) => Some(&e.bucket),
            Self::BucketPolicySet(e) => Some(&e.bucket),
            Self::BucketEncryptionSet(e) => Some(&e.bucket),
            Self::DataKeyRewrapped(e) => Some(&e.bucket),
            Self::AccessKeyCreated(_)
            | Self::AccessKeyStatusSet(_)
            | Self::AccessKeyDeleted(_)
            | Self::AccessKeyPolicySet(_)
            | Self::AccessKeyRewrapped(_)
            | Self::MembershipChanged(_)
            | Self::WebhookCursorSet(_)
            | Self::KmsKeyCreated(_)
            | Self::KmsKeyStatusSet(_)
            | Self::KmsKeyRewrapped(_) => None,
        }
    }

    pub fn key(&self) -> Option<&ObjectKey> {
        match self {
            Self::BucketCreated(_) | Self::BucketDeleted(_) => None,
            Self::ObjectCreated(e) => Some(&e.key),
            Self::ObjectDeleted(e) => Some(&e.key),
            Self::UploadCreated(e) => Some(&e.key),
            Self::PartUploaded(e) => Some(&e.key),
            Self::MultipartCompleted(e) => Some(&e.key),
            Self::UploadAborted(e) => Some(&e.key),
            Self::ObjectTaggingSet(e) => Some(&e.key),
            Self::BucketTaggingSet(_) | Self::BucketLifecycleSet(_) | Self::BucketAclSet(_) => None,
            Self::BucketLoggingSet(_) => None,
            Self::ObjectAclSet(e) => Some(&e.key),
            Self::BucketOwnershipSet(_)
            | Self::BucketObjectLockSet(_)
            | Self::BucketPublicAccessBlockSet(_)
            | Self::BucketPolicySet(_)
            | Self::BucketEncryptionSet(_) => None,
            Self::DataKeyRewrapped(e) => Some(&e.key),
            Self::AccessKeyCreated(_)
            | Self::AccessKeyStatusSet(_)
            | Self::AccessKeyDeleted(_)
            | Self::AccessKeyPolicySet(_)
            | Self::AccessKeyRewrapped(_)
            | Self::MembershipChanged(_)
            | Self::WebhookCursorSet(_)
            | Self::KmsKeyCreated(_)
            | Self::KmsKeyStatusSet(_)
            | Self::KmsKeyRewrapped(_) => None,
            Self::ObjectRetentionSet(e) => Some(&e.key),
            Self::ObjectLegalHoldSet(e) => Some(&e.key),
            Self::BucketVersioningSet(_) | Self::BucketNotificationSet(_) | Self::BucketCorsSet(_) => None,
        }
    }

    /// The S3 notification name of the event (`s3:ObjectCreated:Put`, ...); bucket
    /// events, which S3 does not notify, use the `rucket:` prefix.
    pub fn s3_event_name(&self) -> &'static str {
        match self {
            Self::BucketCreated(_) => "rucket:BucketCreated",
            Self::BucketDeleted(_) => "rucket:BucketDeleted",
            Self::ObjectCreated(e) => match e.operation {
                CreateOperation::Put => "s3:ObjectCreated:Put",
                CreateOperation::Post => "s3:ObjectCreated:Post",
                CreateOperation::Copy => "s3:ObjectCreated:Copy",
                CreateOperation::CompleteMultipartUpload => "s3:ObjectCreated:CompleteMultipartUpload",
            },
            Self::ObjectDeleted(e) if e.delete_marker => "s3:ObjectRemoved:DeleteMarkerCreated",
            Self::ObjectDeleted(_) => "s3:ObjectRemoved:Delete",
            Self::MultipartCompleted(_) => "s3:ObjectCreated:CompleteMultipartUpload",
            Self::UploadCreated(_) => "rucket:MultipartUploadCreated",
            Self::PartUploaded(_) => "rucket:MultipartPartUploaded",
            Self::UploadAborted(_) => "rucket:MultipartUploadAborted",
            Self::BucketVersioningSet(_) => "rucket:BucketVersioningSet",
            Self::BucketNotificationSet(_) => "rucket:BucketNotificationSet",
            Self::BucketCorsSet(_) => "rucket:BucketCorsSet",
            Self::ObjectTaggingSet(e) if e.tags.is_empty() => "s3:ObjectTagging:Delete",
            Self::ObjectTaggingSet(_) => "s3:ObjectTagging:Put",
            Self::BucketTaggingSet(_) => "rucket:BucketTaggingSet",
            Self::BucketLifecycleSet(_) => "rucket:BucketLifecycleSet",
            Self::BucketAclSet(_) => "rucket:BucketAclSet",
            Self::ObjectAclSet(_) => "s3:ObjectAcl:Put",
            Self::BucketOwnershipSet(_) => "rucket:BucketOwnershipSet",
            Self::BucketObjectLockSet(_) => "rucket:BucketObjectLockSet",
            Self::ObjectRetentionSet(_) => "s3:ObjectRetention:Put",
            Self::ObjectLegalHoldSet(_) => "s3:ObjectLegalHold:Put",
            Self::BucketPublicAccessBlockSet(_) => "rucket:BucketPublicAccessBlockSet",
            Self::BucketPolicySet(_) => "rucket:BucketPolicySet",
            Self::BucketEncryptionSet(_) => "rucket:BucketEncryptionSet",
            Self::DataKeyRewrapped(_) => "rucket:DataKeyRewrapped",
            Self::AccessKeyCreated(_) => "rucket:AccessKeyCreated",
            Self::AccessKeyStatusSet(_) => "rucket:AccessKeyStatusSet",
            Self::AccessKeyDeleted(_) => "rucket:AccessKeyDeleted",
            Self::AccessKeyPolicySet(_) => "rucket:AccessKeyPolicySet",
            Self::AccessKeyRewrapped(_) => "rucket:AccessKeyRewrapped",
            Self::MembershipChanged(_) => "rucket:MembershipChanged",
            Self::WebhookCursorSet(_) => "rucket:WebhookCursorSet",
            Self::KmsKeyCreated(_) => "rucket:KmsKeyCreated",
            Self::KmsKeyStatusSet(_) => "rucket:KmsKeyStatusSet",
            Self::KmsKeyRewrapped(_) => "rucket:KmsKeyRewrapped",
            Self::BucketLoggingSet(_) => "rucket:BucketLoggingSet",
        }
    }

    /// Encodes the payload at the current schema version.
    pub fn encode(&self) -> Result<(EventType, u16, Vec<u8>), CodecError> {
        if self.refers_to_archive() {
            return Err(CodecError::Encode(IN_ARCHIVE_IN_EVENT.into()));
        }
        let event_type = self.event_type();
        let bytes = match self {
            Self::BucketCreated(p) => codec::encode_payload(p)?,
            Self::BucketDeleted(p) => codec::encode_payload(p)?,
            Self::ObjectCreated(p) => codec::encode_payload(p)?,
            Self::ObjectDeleted(p) => codec::encode_payload(p)?,
            Self::UploadCreated(p) => codec::encode_payload(p)?,
            Self::PartUploaded(p) => codec::encode_payload(p)?,
            Self::MultipartCompleted(p) => codec::encode_payload(p)?,
            Self::UploadAborted(p) => codec::encode_payload(p)?,
            Self::BucketVersioningSet(p) => codec::encode_payload(p)?,
            Self::BucketNotificationSet(p) => codec::encode_payload(p)?,
            Self::BucketCorsSet(p) => codec::encode_payload(p)?,
            Self::ObjectTaggingSet(p) => codec::encode_payload(p)?,
            Self::BucketTaggingSet(p) => codec::encode_payload(p)?,
            Self::BucketLifecycleSet(p) => codec::encode_payload(p)?,
            Self::BucketAclSet(p) => codec::encode_payload(p)?,
            Self::ObjectAclSet(p) => codec::encode_payload(p)?,
            Self::BucketOwnershipSet(p) => codec::encode_payload(p)?,
            Self::BucketObjectLockSet(p) => codec::encode_payload(p)?,
            Self::ObjectRetentionSet(p) => codec::encode_payload(p)?,
            Self::ObjectLegalHoldSet(p) => codec::encode_payload(p)?,
            Self::BucketPublicAccessBlockSet(p) => codec::encode_payload(p)?,
            Self::BucketPolicySet(p) => codec::encode_payload(p)?,
            Self::BucketEncryptionSet(p) => codec::encode_payload(p)?,
            Self::DataKeyRewrapped(p) => codec::encode_payload(p)?,
            Self::AccessKeyCreated(p) => codec::encode_payload(p)?,
            Self::AccessKeyStatusSet(p) => codec::encode_payload(p)?,
            Self::AccessKeyDeleted(p) => codec::encode_payload(p)?,
            Self::AccessKeyPolicySet(p) => codec::encode_payload(p)?,
            Self::AccessKeyRewrapped(p) => codec::encode_payload(p)?,
            Self::MembershipChanged(p) => codec::encode_payload(p)?,
            Self::WebhookCursorSet(p) => codec::encode_payload(p)?,
            Self::KmsKeyCreated(p) => codec::encode_payload(p)?,
            Self::KmsKeyStatusSet(p) => codec::encode_payload(p)?,
            Self::KmsKeyRewrapped(p) => codec::encode_payload(p)?,
            Self::BucketLoggingSet(p) => codec::encode_payload(p)?,
        };
        Ok((event_type, event_type.current_schema_version(), bytes))
    }

    /// Decodes a payload of any released schema version, upgrading it to the current
    /// in-memory form.
    pub fn decode(event_type: u16, schema_version: u16, bytes: &[u8]) -> Result<Self, CodecError> {
        let event = Self::decode_any(event_type, schema_version, bytes)?;
        if event.refers_to_archive() {
            return Err(CodecError::Payload(IN_ARCHIVE_IN_EVENT.into()));
        }
        Ok(event)
    }

    /// Decodes an archived event as the views record it: an inline body is named by
    /// `position`, where the archived event keeps it (`ObjectData::InArchive`), instead of
    /// being copied out. For replay, which folds every body in the archive and needs none
    /// of their bytes. The body's length is still checked against the payload.
    pub fn decode_as_viewed(
        event_type: u16,
        schema_version: u16,
        bytes: &[u8],
        position: LogPosition,
    ) -> Result<Self, CodecError> {
        struct Skipping;
        impl Drop for Skipping {
            fn drop(&mut self) {
                SKIP_INLINE_BODIES.set(false);
            }
        }
        SKIP_INLINE_BODIES.set(true);
        let skipping = Skipping;
        let event = Self::decode(event_type, schema_version, bytes);
        drop(skipping);
        match event? {
            Self::ObjectCreated(mut e) if matches!(e.record.data, ObjectData::Inline(_)) => {
                e.record.data = ObjectData::InArchive(position);
                Ok(Self::ObjectCreated(e))
            }
            // An inline body anywhere else (which no writer makes) stays in the event, as
            // `decode` gives it.
            Self::ObjectCreated(e) if matches!(e.record.data.unsealed(), ObjectData::Inline(_)) => {
                Self::decode(event_type, schema_version, bytes)
            }
            Self::MultipartCompleted(e) if matches!(e.record.data.unsealed(), ObjectData::Inline(_)) => {
                Self::decode(event_type, schema_version, bytes)
            }
            event => Ok(event),
        }
    }

    /// The body an `ObjectCreated` carries inline; `None` for any other event.
    pub fn inline_body(&self) -> Option<&[u8]> {
        match self {
            Self::ObjectCreated(e) => match &e.record.data {
                ObjectData::Inline(bytes) => Some(bytes),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the event's data names an archive position, which only the views may do.
    fn refers_to_archive(&self) -> bool {
        match self {
            Self::ObjectCreated(e) => e.record.data.in_archive(),
            Self::MultipartCompleted(e) => e.record.data.in_archive(),
            _ => false,
        }
    }

    fn decode_any(event_type: u16, schema_version: u16, bytes: &[u8]) -> Result<Self, CodecError> {
        match (event_type, schema_version) {
            (1, 1) => Ok(Self::BucketCreated(codec::decode_payload(bytes)?)),
            (2, 1) => Ok(Self::BucketDeleted(codec::decode_payload::<BucketDeletedV1>(bytes)?.into())),
            (2, 2) => Ok(Self::BucketDeleted(codec::decode_payload(bytes)?)),
            (3, 1) => Ok(Self::ObjectCreated(codec::decode_payload::<ObjectCreatedV1>(bytes)?.into())),
            (3, 2) => Ok(Self::ObjectCreated(codec::decode_payload::<ObjectCreatedV2>(bytes)?.into())),
            (3, 3 | 4) => Ok(Self::ObjectCreated(codec::decode_payload(bytes)?)),
            (4, 1) => Ok(Self::ObjectDeleted(codec::decode_payload::<ObjectDeletedV1>(bytes)?.into())),
            (4, 2) => Ok(Self::ObjectDeleted(codec::decode_payload(bytes)?)),
            (5, 1) => Ok(Self::UploadCreated(codec::decode_payload::<UploadCreatedV1>(bytes)?.into())),
            (5, 2) => Ok(Self::UploadCreated(codec::decode_payload::<UploadCreatedV2>(bytes)?.into())),
            (5, 3) => Ok(Self::UploadCreated(codec::decode_payload::<UploadCreatedV3>(bytes)?.into())),
            (5, 4) => Ok(Self::UploadCreated(codec::decode_payload::<UploadCreatedV4>(bytes)?.into())),
            (5, 5) => Ok(Self::UploadCreated(codec::decode_payload::<UploadCreatedV5>(bytes)?.into())),
            (5, 6) => Ok(Self::UploadCreated(codec::decode_payload(bytes)?)),
            (6, 1) => Ok(Self::PartUploaded(codec::decode_payload(bytes)?)),
            (7, 1) => {
                Ok(Self::MultipartCompleted(codec::decode_payload::<MultipartCompletedV1>(bytes)?.into()))
            }
            (7, 2) => {
                Ok(Self::MultipartCompleted(codec::decode_payload::<MultipartCompletedV2>(bytes)?.into()))
            }
            (7, 3 | 4) => Ok(Self::MultipartCompleted(codec::decode_payload(bytes)?)),
            (8, 1) => Ok(Self::UploadAborted(codec::decode_payload(bytes)?)),
            (9, 1) => Ok(Self::BucketVersioningSet(codec::decode_payload(bytes)?)),
            (10, 1) => Ok(Self::BucketNotificationSet(codec::decode_payload(bytes)?)),
            (11, 1) => Ok(Self::BucketCorsSet(codec::decode_payload(bytes)?)),
            (12, 1) => Ok(Self::ObjectTaggingSet(codec::decode_payload(bytes)?)),
            (13, 1) => Ok(Self::BucketTaggingSet(codec::decode_payload(bytes)?)),
            (14, 1) => Ok(Self::BucketLifecycleSet(codec::decode_payload(bytes)?)),
            (15, 1) => Ok(Self::BucketAclSet(codec::decode_payload::<BucketAclSetV1>(bytes)?.into())),
            (15, 2) => Ok(Self::BucketAclSet(codec::decode_payload(bytes)?)),
            (16, 1) => Ok(Self::ObjectAclSet(codec::decode_payload::<ObjectAclSetV1>(bytes)?.into())),
            (16, 2) => Ok(Self::ObjectAclSet(codec::decode_payload(bytes)?)),
            (17, 1) => Ok(Self::BucketOwnershipSet(codec::decode_payload(bytes)?)),
            (18, 1) => Ok(Self::BucketObjectLockSet(codec::decode_payload(bytes)?)),
            (19, 1) => Ok(Self::ObjectRetentionSet(codec::decode_payload(bytes)?)),
            (20, 1) => Ok(Self::ObjectLegalHoldSet(codec::decode_payload(bytes)?)),
            (21, 1) => Ok(Self::BucketPublicAccessBlockSet(codec::decode_payload(bytes)?)),
            (22, 1) => Ok(Self::BucketPolicySet(codec::decode_payload(bytes)?)),
            (23, 1) => {
                Ok(Self::BucketEncryptionSet(codec::decode_payload::<BucketEncryptionSetV1>(bytes)?.into()))
            }
            (23, 2) => Ok(Self::BucketEncryptionSet(codec::decode_payload(bytes)?)),
            (24, 1) => Ok(Self::DataKeyRewrapped(codec::decode_payload(bytes)?)),
            (25, 1) => Ok(Self::AccessKeyCreated(codec::decode_payload(bytes)?)),
            (26, 1) => Ok(Self::AccessKeyStatusSet(codec::decode_payload(bytes)?)),
            (27, 1) => Ok(Self::AccessKeyDeleted(codec::decode_payload(bytes)?)),
            (28, 1) => Ok(Self::AccessKeyPolicySet(codec::decode_payload(bytes)?)),
            (29, 1) => Ok(Self::AccessKeyRewrapped(codec::decode_payload(bytes)?)),
            (30, 1) => Ok(Self::MembershipChanged(codec::decode_payload(bytes)?)),
            (31, 1) => Ok(Self::WebhookCursorSet(codec::decode_payload(bytes)?)),
            (32, 1) => Ok(Self::KmsKeyCreated(codec::decode_payload(bytes)?)),
            (33, 1) => Ok(Self::KmsKeyStatusSet(codec::decode_payload(bytes)?)),
            (34, 1) => Ok(Self::KmsKeyRewrapped(codec::decode_payload(bytes)?)),
            (35, 1) => Ok(Self::BucketLoggingSet(codec::decode_payload(bytes)?)),
            _ => Err(CodecError::UnknownEvent { event_type, schema_version }),
        }
    }
}
