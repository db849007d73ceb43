//! Commands: what the gateway proposes to the log. A command is validated against the
//! projections when it is applied, on every replica, and becomes an event or a
//! rejection. Everything apply needs that is not in the projections (the time, the
//! event id, a new version id) is chosen by the proposer and travels in the command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Acl, BlobId, BucketName, CorsConfig, CreateOperation, EventId, Hlc, LifecycleConfig, LogPosition,
    NotificationConfig, ObjectKey, ObjectOwnership, ObjectRecord, PartRecord, RegionId, StandardHeaders,
    StorageClass, Tags, UploadId, UserId, VersionId, VersioningStatus,
};
use crate::{
    BucketEncryption, ObjectLock, ObjectLockConfig, PublicAccessBlock, Retention, RewrapTarget, Seal,
    SealedSecret,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub hlc: Hlc,
    pub event_id: EventId,
    pub origin_region: RegionId,
    /// The user on whose behalf the command runs; ownership is checked at apply time.
    pub requester: UserId,
    /// Whether the requester may act on any bucket (the root user).
    pub requester_is_admin: bool,
    pub body: CommandBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandBody {
    CreateBucket {
        bucket: BucketName,
        location: String,
        object_lock_enabled: bool,
    },
    DeleteBucket {
        bucket: BucketName,
    },
    PutObject {
        bucket: BucketName,
        key: ObjectKey,
        operation: CreateOperation,
        record: Box<ObjectRecord>,
        condition: WriteCondition,
    },
    DeleteObject {
        bucket: BucketName,
        key: ObjectKey,
        /// `None` deletes the current version (or, on a versioned bucket, adds a marker).
        version_id: Option<VersionId>,
        /// The id a delete marker gets if this delete creates one (versioning enabled).
        marker_version_id: VersionId,
    },
    SetBucketVersioning {
        bucket: BucketName,
        status: VersioningStatus,
    },
    CreateMultipartUpload {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
        headers: StandardHeaders,
        user_metadata: BTreeMap<String, String>,
        storage_class: StorageClass,
        checksum_algorithm: Option<String>,
    },
    UploadPart {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
        part: PartRecord,
    },
    CompleteMultipartUpload {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
        /// The parts the client named, with the ETags it expects them to have.
        parts: Vec<(u32, String)>,
        /// The new version; `size` and `data` are filled from the stored parts at apply.
        record: Box<ObjectRecord>,
        condition: WriteCondition,
    },
    AbortMultipartUpload {
        bucket: BucketName,
        key: ObjectKey,
        upload_id: UploadId,
    },
    SetBucketNotification {
        bucket: BucketName,
        configuration: NotificationConfig,
    },
    SetBucketCors {
        bucket: BucketName,
        configuration: CorsConfig,
    },
    /// A write (PutObject, CreateMultipartUpload) whose new version or upload carries
    /// tags: decided as `inner`, with the tags attached to its event.
    Tagged {
        tags: Tags,
        inner: Box<CommandBody>,
    },
    /// Replaces the tags of one version (`None`: the current one); empty tags delete.
    SetObjectTagging {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<VersionId>,
        tags: Tags,
    },
    SetBucketTagging {
        bucket: BucketName,
        tags: Tags,
    },
    SetBucketLifecycle {
        bucket: BucketName,
        configuration: LifecycleConfig,
    },
    SetBucketAcl {
        bucket: BucketName,
        acl: Acl,
    },
    SetBucketOwnership {
        bucket: BucketName,
        ownership: Option<ObjectOwnership>,
    },
    /// Replaces the grants of one version (`None`: the current one).
    SetObjectAcl {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<VersionId>,
        acl: Acl,
    },
    /// A lifecycle expiration found due by the worker; applied only if the version it
    /// looked at is still what it saw (stamped `expected`), so a newer write is never
    /// expired in its place.
    LifecycleExpire {
        bucket: BucketName,
        key: ObjectKey,
        version_id: VersionId,
        expected: Hlc,
        action: ExpireAction,
    },
    /// A write (PutObject, CreateMultipartUpload, CompleteMultipartUpload) with Object
    /// Lock headers: decided as `inner` on a bucket with Object Lock on, its new version
    /// (or upload) carrying this lock. A retention given here replaces the bucket default.
    Locked {
        lock: ObjectLock,
        inner: Box<CommandBody>,
    },
    /// A version delete or retention change sent with
    /// `x-amz-bypass-governance-retention: true`; the bypass counts only if the requester
    /// may make it (the bucket owner or an operator), decided at apply time.
    BypassGovernance {
        inner: Box<CommandBody>,
    },
    /// PutObjectLockConfiguration: sets the default retention and turns Object Lock on.
    SetObjectLockConfig {
        bucket: BucketName,
        configuration: ObjectLockConfig,
    },
    /// PutObjectRetention on one version (`None`: the current one); `None` retention
    /// removes it.
    SetObjectRetention {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<VersionId>,
        retention: Option<Retention>,
    },
    /// Put/DeleteBucketPolicy (`None` deletes): the policy is validated JSON text. `public`
    /// is what the gateway found; apply decides publicity from the text itself.
    SetBucketPolicy {
        bucket: BucketName,
        policy: Option<String>,
        public: bool,
    },
    /// Written by earlier versions for a write the gateway found a bucket policy to allow.
    /// A verdict made before the log is not trusted: it is decided as `inner` alone (see
    /// [`CommandBody::Requested`]).
    PolicyAllowed {
        inner: Box<CommandBody>,
    },
    /// Put/DeletePublicAccessBlock (`None` deletes).
    SetPublicAccessBlock {
        bucket: BucketName,
        configuration: Option<PublicAccessBlock>,
    },
    /// PutObjectLegalHold on one version (`None`: the current one).
    SetObjectLegalHold {
        bucket: BucketName,
        key: ObjectKey,
        version_id: Option<VersionId>,
        on: bool,
    },
    /// A CreateMultipartUpload whose parts are to be encrypted: decided as `inner`, its
    /// upload carrying the seal.
    Sealed {
        seal: Seal,
        inner: Box<CommandBody>,
    },
    /// Put/DeleteBucketEncryption (`None` deletes).
    SetBucketEncryption {
        bucket: BucketName,
        configuration: Option<BucketEncryption>,
    },
    /// A master key rotation's re-wrap of one data key: applied only while the target
    /// still exists and still carries exactly the seal `from` the rotation re-wrapped (an
    /// overwritten `null` version has another data key, which `seal` must never replace).
    RewrapDataKey {
        bucket: BucketName,
        key: ObjectKey,
        target: RewrapTarget,
        from: Seal,
        seal: Seal,
    },
    /// Admin API: a new access key (its secret sealed by the master key) for `user`.
    CreateAccessKey {
        access_key_id: String,
        user: UserId,
        secret: SealedSecret,
        admin: bool,
    },
    /// Admin API: disable (or enable again) a key.
    SetAccessKeyStatus {
        access_key_id: String,
        enabled: bool,
    },
    /// Admin API: delete a key.
    DeleteAccessKey {
        access_key_id: String,
    },
    /// Admin API: attach (or, with `None`, remove) the key's identity policy.
    SetAccessKeyPolicy {
        access_key_id: String,
        policy: Option<String>,
    },
    /// A master key rotation's re-seal of one secret; applied only while the key still
    /// holds exactly `from`.
    RewrapAccessKey {
        access_key_id: String,
        from: SealedSecret,
        secret: SealedSecret,
    },
    /// A command from a client request, with the request's facts: apply judges the
    /// identity and bucket policies from them and its own views (in log order), then
    /// decides `inner` as that judgement allows.
    Requested {
        facts: Box<RequestFacts>,
        inner: Box<CommandBody>,
    },
    /// A delete sent with a precondition on the key's current version (`If-Match` on
    /// DeleteObject, an ETag in a DeleteObjects entry), decided in log order before what
    /// it wraps.
    IfMatched {
        condition: WriteCondition,
        inner: Box<CommandBody>,
    },
    /// Webhook target `target` was delivered every event up to `position` (the leader's
    /// webhook worker, as an operator); ignored unless it moves the cursor forward.
    SetWebhookCursor {
        target: String,
        position: u64,
    },
    /// The wrapped SetBucketAcl or SetObjectAcl names the whole ACL (grant headers, an
    /// AccessControlPolicy body): its owner's FULL_CONTROL is listed only if granted.
    /// Decided as what it wraps; the mark rides on its event.
    WholeAcl {
        inner: Box<CommandBody>,
    },
    /// The ACL a CreateMultipartUpload asked for, for the version its completion makes.
    /// Decided as the upload it wraps (a public ACL is refused while the bucket blocks
    /// public ACLs); the ACL rides on its UploadCreated event.
    UploadAcl {
        acl: crate::ListedAcl,
        inner: Box<CommandBody>,
    },
    /// Admin API: a new KMS key (its material sealed by the master key).
    CreateKmsKey {
        key_id: String,
        description: String,
        material: SealedSecret,
    },
    /// Admin API: disable (or enable again) a KMS key.
    SetKmsKeyStatus {
        key_id: String,
        enabled: bool,
    },
    /// A master key rotation's re-seal of one KMS key's material; applied only while the
    /// key still holds exactly `from`.
    RewrapKmsKey {
        key_id: String,
        from: SealedSecret,
        material: SealedSecret,
    },
    /// PutBucketEncryption with `aws:kms`: the bucket's default is SSE-KMS under `kms_key_id`.
    SetBucketKmsEncryption {
        bucket: BucketName,
        configuration: BucketEncryption,
        kms_key_id: String,
    },
    /// Put/DeleteBucketLogging (`None` turns server access logging off).
    SetBucketLogging {
        bucket: BucketName,
        configuration: Option<crate::BucketLogging>,
    },
    /// A CreateMultipartUpload that asked for a FULL_OBJECT checksum
    /// (`x-amz-checksum-type`). Decided as the upload it wraps; the mark rides on its
    /// UploadCreated event.
    FullObjectChecksum {
        inner: Box<CommandBody>,
    },
}

/// Who signed a request, as authenticated at the gateway (SigV4 is checked there): a
/// fact, never a verdict. Apply looks a managed key up in its own views.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// An unsigned request.
    Anonymous,
    /// The root key.
    Root,
    /// A key from the server's configuration file (`[[keys]]`).
    ConfigKey { access_key_id: String },
    /// A key made through the admin API (the `access_keys` view).
    ManagedKey { access_key_id: String },
}

/// The facts of the request a command came from, from which apply judges the identity
/// policy, the bucket policy and the grants in log order: who signed it, which S3
/// operation it was, and the condition values it offered (lowercase keys: source IP,
/// secure transport, query and header values). Time keys come from the command's HLC and
/// existing object tags from the views, at apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    pub principal: Principal,
    /// The S3 operation name (`PutObject`, `DeleteObjects`, ...).
    pub operation: String,
    /// Whether the request named a version (`?versionId`), which changes the action's name.
    pub version_id: bool,
    pub keys: BTreeMap<String, Vec<String>>,
    /// `x-amz-object-lock-retain-until-date` (RFC 3339) as sent: apply derives
    /// `s3:object-lock-remaining-retention-days` from it and the command's stamp.
    pub retain_until: Option<String>,
}

/// What a lifecycle expiration does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireAction {
    /// Expire the current version: delete it (never-versioned), or hide it behind a
    /// delete marker with this id (versioned; `null` when suspended).
    Current { marker_version_id: VersionId },
    /// Remove this noncurrent version or expired delete marker for good.
    Version,
}

impl CommandBody {
    /// The command a wrapper (tags, a seal, a lock, a condition, request facts) carries.
    pub fn wrapped(&self) -> Option<&CommandBody> {
        match self {
            Self::Tagged { inner, .. }
            | Self::Sealed { inner, .. }
            | Self::Locked { inner, .. }
            | Self::BypassGovernance { inner }
            | Self::PolicyAllowed { inner }
            | Self::IfMatched { inner, .. }
            | Self::WholeAcl { inner }
            | Self::UploadAcl { inner, .. }
            | Self::FullObjectChecksum { inner }
            | Self::Requested { inner, .. } => Some(inner),
            _ => None,
        }
    }

    /// The bucket the command acts on; `None` for access key commands.
    pub fn bucket(&self) -> Option<&BucketName> {
        Some(match self {
            Self::CreateBucket { bucket, .. }
            | Self::DeleteBucket { bucket }
            | Self::PutObject { bucket, .. }
            | Self::DeleteObject { bucket, .. }
            | Self::CreateMultipartUpload { bucket, .. }
            | Self::UploadPart { bucket, .. }
            | Self::CompleteMultipartUpload { bucket, .. }
            | Self::AbortMultipartUpload { bucket, .. }
            | Self::SetBucketVersioning { bucket, .. }
            | Self::SetBucketNotification { bucket, .. }
            | Self::SetBucketCors { bucket, .. }
            | Self::SetObjectTagging { bucket, .. }
            | Self::SetBucketTagging { bucket, .. }
            | Self::SetBucketLifecycle { bucket, .. }
            | Self::SetBucketAcl { bucket, .. }
            | Self::SetBucketOwnership { bucket, .. }
            | Self::SetObjectAcl { bucket, .. }
            | Self::LifecycleExpire { bucket, .. }
            | Self::SetObjectLockConfig { bucket, .. }
            | Self::SetObjectRetention { bucket, .. }
            | Self::SetObjectLegalHold { bucket, .. }
            | Self::SetPublicAccessBlock { bucket, .. }
            | Self::SetBucketPolicy { bucket, .. }
            | Self::SetBucketEncryption { bucket, .. }
            | Self::SetBucketKmsEncryption { bucket, .. }
            | Self::SetBucketLogging { bucket, .. }
            | Self::RewrapDataKey { bucket, .. } => bucket,
            Self::Tagged { .. }
            | Self::Sealed { .. }
            | Self::Locked { .. }
            | Self::BypassGovernance { .. }
            | Self::PolicyAllowed { .. }
            | Self::IfMatched { .. }
            | Self::WholeAcl { .. }
            | Self::UploadAcl { .. }
            | Self::FullObjectChecksum { .. }
            | Self::Requested { .. } => return self.wrapped().and_then(Self::bucket),
            Self::CreateAccessKey { .. }
            | Self::SetAccessKeyStatus { .. }
            | Self::DeleteAccessKey { .. }
            | Self::SetAccessKeyPolicy { .. }
            | Self::RewrapAccessKey { .. }
            | Self::CreateKmsKey { .. }
            | Self::SetKmsKeyStatus { .. }
            | Self::RewrapKmsKey { .. }
            | Self::SetWebhookCursor { .. } => return None,
        })
    }
}

/// A precondition on the current version of a key, decided in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: the key must have no current version.
    IfNoneMatch,
    /// `If-Match: <etag>`: the current version must have this ETag (no quotes).
    IfMatch(String),
    /// `If-Match: *`: the key must have a current version.
    IfExists,
    /// `If-None-Match: <etag>`: the current version, if any, must not have this ETag.
    IfNoneMatchETag(String),
}

/// Why a command was refused at apply time. The gateway maps each to its S3 error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    NoSuchBucket,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchKey,
    NoSuchVersion,
    PreconditionFailed,
    AccessDenied,
    NoSuchUpload,
    /// A part named in CompleteMultipartUpload is missing or has another ETag.
    InvalidPart,
    /// The parts named in CompleteMultipartUpload are not in ascending order.
    InvalidPartOrder,
    /// A part other than the last is smaller than the 5 MiB minimum.
    EntityTooSmall,
    /// The bucket's state forbids the change (suspending versioning under Object Lock).
    InvalidBucketState,
    /// The version named is a delete marker, which has no tags or body.
    MethodNotAllowed,
    /// Object Lock forbids it: a retention or legal hold in force (403 AccessDenied).
    ObjectLocked,
    /// An Object Lock request on a bucket without Object Lock (400 InvalidRequest).
    NoObjectLockConfiguration,
    /// CreateAccessKey with an id that exists.
    AccessKeyExists,
    /// An access key command naming a key that does not exist.
    NoSuchAccessKey,
    /// A command whose object data names an archive position, which only the views may
    /// do (no gateway builds one; a peer's malformed command must not stop apply).
    InvalidData,
    /// CreateKmsKey with an id that exists.
    KmsKeyExists,
    /// A KMS key command (or an SSE-KMS write) naming a key that does not exist.
    NoSuchKmsKey,
    /// An SSE-KMS write under a disabled key.
    KmsKeyDisabled,
    /// PutBucketLogging naming a target bucket that does not exist.
    NoSuchLoggingTarget,
    /// PutBucketLogging naming a target bucket another user owns.
    LoggingTargetNotOwned,
    /// A FULL_OBJECT checksum asked for an upload whose algorithm is not a CRC.
    InvalidChecksumType,
}

/// The result of applying one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command became the event archived at `position`. `released_blobs` are blobs
    /// that no version refers to any more and that the blob store may delete.
    Applied {
        position: LogPosition,
        released_blobs: Vec<BlobId>,
    },
    /// The command held and changed nothing (deleting a key that does not exist).
    Unchanged,
    Rejected(Rejection),
}
