//! Encryption at rest as the log records it: which key sealed an object's bytes (never
//! the key itself), and a bucket's default encryption.

use serde::{Deserialize, Serialize};

/// How an object version (or a multipart upload) is sealed. Carried in its creation
/// event, so a replay knows which objects are encrypted and under what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct Seal {
    pub kind: SealKind,
    /// The object's data key, wrapped (sealed) by the master key or the customer's key.
    #[serde(with = "serde_bytes")]
    pub wrapped_key: Vec<u8>,
    /// The version id (or, for a multipart upload, the upload id) bound into the
    /// associated data of every chunk and of the wrapped key.
    pub context_id: String,
}

/// Who holds the key that unwraps the data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum SealKind {
    /// SSE-S3: the server's master key, named by its public id.
    MasterKey { key_id: String },
    /// SSE-C: the customer's key, which is never stored; a salted MAC recognises it.
    CustomerKey {
        #[serde(with = "serde_bytes")]
        salt: Vec<u8>,
        #[serde(with = "serde_bytes")]
        mac: Vec<u8>,
    },
    /// SSE-KMS: a key of Rucket's own key store (see `KmsKeyCreated`), named by its id;
    /// that key's material, itself sealed by the master key, wraps the data key.
    KmsKey { key_id: String },
}

impl Seal {
    /// Whether the customer holds the key (SSE-C) rather than the server (SSE-S3).
    pub fn is_customer_key(&self) -> bool {
        matches!(self.kind, SealKind::CustomerKey { .. })
    }

    /// The KMS key that holds the data key (SSE-KMS), if any.
    pub fn kms_key_id(&self) -> Option<&str> {
        match &self.kind {
            SealKind::KmsKey { key_id } => Some(key_id),
            _ => None,
        }
    }
}

/// A bucket's default encryption (PutBucketEncryption).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketEncryption {
    /// Whether the client asked for S3 Bucket Keys (recorded and echoed; every object
    /// has its own data key regardless).
    pub bucket_key_enabled: bool,
}

/// Schema version 2 of `BucketEncryptionSet`: Put/DeleteBucketEncryption (`None` deletes).
/// `kms_key_id` names the KMS key of an `aws:kms` default (`None`: SSE-S3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketEncryptionSet {
    pub bucket: crate::BucketName,
    pub configuration: Option<BucketEncryption>,
    pub kms_key_id: Option<String>,
}

/// Schema version 1 of `BucketEncryptionSet` (frozen): SSE-S3 defaults only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketEncryptionSetV1 {
    pub bucket: crate::BucketName,
    pub configuration: Option<BucketEncryption>,
}

impl From<BucketEncryptionSetV1> for BucketEncryptionSet {
    fn from(v1: BucketEncryptionSetV1) -> Self {
        Self { bucket: v1.bucket, configuration: v1.configuration, kms_key_id: None }
    }
}

/// Schema version 1 of `DataKeyRewrapped`: a master key rotation re-wrapped the data key
/// of one version or upload under the current master key; the object bytes are untouched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct DataKeyRewrapped {
    pub bucket: crate::BucketName,
    pub key: crate::ObjectKey,
    pub target: RewrapTarget,
    /// The seal before (`from_key_id`) and after the rotation.
    pub from_key_id: String,
    pub seal: Seal,
}

/// What a re-wrap applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum RewrapTarget {
    Version(crate::VersionId),
    Upload(crate::UploadId),
}
