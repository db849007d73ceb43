//! The vocabulary every Rucket crate shares: ids, the HLC stamp, commands, `StorageEvent`
//! with its versioned payloads, the frozen envelope codec and the JSON rendering.
//!
//! Architecture invariant: this crate does no IO, reads no clock and spawns nothing.

mod access_key;
mod cluster;
mod codec;
mod command;
mod envelope;
mod error;
mod event;
mod hlc;
mod ids;
mod json;
mod kms;
mod lock;
mod seal;

pub use access_key::{
    AccessKeyCreated, AccessKeyDeleted, AccessKeyPolicySet, AccessKeyRewrapped, AccessKeyStatusSet,
    SealedSecret,
};
pub use cluster::{ClusterMember, MembershipChanged, WebhookCursorSet};
pub use codec::{decode_payload, encode_payload, encode_payload_into, encoded_len};
pub use command::{
    Command, CommandBody, ExpireAction, Outcome, Principal, Rejection, RequestFacts, WriteCondition,
};
pub use envelope::{Envelope, FORMAT_VERSION};
pub use error::{CodecError, NameError};
pub use event::{
    AbortedUpload, BucketCorsSet, BucketCreated, BucketDeleted, BucketDeletedV1, BucketNotificationSet,
    BucketVersioningSet, CorsConfig, CorsRule, CreateOperation, DestinationKind, EventType,
    MultipartCompleted, NotificationConfig, NotificationRule, ObjectCreated, ObjectData, ObjectDeleted,
    ObjectDeletedV1, ObjectRecord, PartRecord, PartRef, PartUploaded, ReplicationStatus, StandardHeaders,
    StorageClass, StorageEvent, UploadAborted, UploadCreated, VersioningStatus,
};
pub use event::{
    Acl, BucketAclSet, BucketAclSetV1, BucketLifecycleSet, BucketLogging, BucketLoggingSet,
    BucketOwnershipSet, BucketTaggingSet, Grant, Grantee, LifecycleConfig, LifecycleFilterForm,
    LifecycleRule, ListedAcl, LogKeyFormat, MultipartCompletedV1, ObjectAclSet, ObjectAclSetV1,
    ObjectCreatedV1, ObjectOwnership, ObjectTaggingSet, Permission, Tags, UploadCreatedV1,
};
pub use event::{
    BucketObjectLockSet, BucketPolicySet, BucketPublicAccessBlockSet, MultipartCompletedV2, ObjectCreatedV2,
    ObjectLegalHoldSet, ObjectRetentionSet, PublicAccessBlock, UploadCreatedV2, UploadCreatedV3,
    UploadCreatedV4, UploadCreatedV5,
};
pub use hlc::Hlc;
pub use ids::{
    BlobId, BucketName, EventId, LogPosition, ObjectKey, RegionId, UploadId, UserId, VersionId, ANONYMOUS,
};
pub use json::render_event_json;
pub use kms::{KmsKeyCreated, KmsKeyRewrapped, KmsKeyStatusSet};
pub use lock::{DefaultRetention, LockMode, ObjectLock, ObjectLockConfig, Retention};
pub use seal::{
    BucketEncryption, BucketEncryptionSet, BucketEncryptionSetV1, DataKeyRewrapped, RewrapTarget, Seal,
    SealKind,
};
