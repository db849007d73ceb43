//! The records the views store. Their encoding is internal to the projections: a change
//! here is handled by rebuilding the projections from the archive, not by versioning.

use std::collections::BTreeMap;

use byteview::ByteView;
use rucket_schemas::{
    BucketName, Hlc, ObjectKey, ObjectRecord, StandardHeaders, StorageClass, UploadId, UserId, VersionId,
};

/// Versioning state of a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Versioning {
    /// Never enabled: every version is `null` and replaces the previous one.
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// One bucket. Room for the configurations later phases attach (encryption, lock).
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct BucketRecord {
    pub name: BucketName,
    pub owner: UserId,
    pub location: String,
    pub created: Hlc,
    pub versioning: Versioning,
    pub object_lock_enabled: bool,
    /// Default server-side encryption algorithm, when one is configured.
    pub default_encryption: Option<String>,
}

/// The checksums (algorithm name to value) each part of a completed multipart object was
/// uploaded with, by part number in the object's order.
pub type PartChecksums = Vec<(u32, std::collections::BTreeMap<String, String>)>;

/// One entry in a key's version history: an object version or a delete marker.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum VersionEntry {
    Object(Box<ObjectRecord>),
    DeleteMarker { version_id: VersionId, owner: UserId, hlc_timestamp: Hlc },
}

impl VersionEntry {
    /// Where the record starts in [`Self::encode_object`]'s bytes (after a variant index of 0,
    /// which the zeroed buffer already holds).
    pub(crate) const RECORD_AT: usize = 1;

    /// The encoding of `VersionEntry::Object(record)`, whose bytes after the first are
    /// `record`'s own encoding: the variant's index (0, one byte as a varint) and then the
    /// record, as the derive writes it. Written straight into the one buffer a fold stores
    /// for a new version's entry and (sliced at [`Self::RECORD_AT`]) its current version.
    pub(crate) fn encode_object(record: &ObjectRecord) -> Result<ByteView, rucket_schemas::CodecError> {
        let mut bytes = ByteView::with_size(Self::RECORD_AT + rucket_schemas::encoded_len(record)?);
        let mut out = bytes.get_mut().expect("a new buffer has no other owner");
        rucket_schemas::encode_payload_into(record, &mut out[Self::RECORD_AT..])?;
        drop(out);
        Ok(bytes)
    }

    pub fn version_id(&self) -> &VersionId {
        match self {
            Self::Object(r) => &r.version_id,
            Self::DeleteMarker { version_id, .. } => version_id,
        }
    }

    pub fn hlc_timestamp(&self) -> Hlc {
        match self {
            Self::Object(r) => r.hlc_timestamp,
            Self::DeleteMarker { hlc_timestamp, .. } => *hlc_timestamp,
        }
    }
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct UploadRecord {
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub initiated: Hlc,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
    /// The completed object's checksum is FULL_OBJECT (asked for at creation).
    pub full_object_checksum: bool,
}

/// The form every upload had before FULL_OBJECT checksums could be asked for at creation;
/// the views still keep uploads without one this way (see `store::encode_upload`), so
/// their folds stay byte for byte the same.
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct UploadRecordV1 {
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub owner: UserId,
    pub initiated: Hlc,
    pub headers: StandardHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<String>,
}

/// A key of the SSE-KMS key store, created through the admin API.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct KmsKeyRecord {
    pub key_id: String,
    pub description: String,
    /// The key material, sealed by the master key it names.
    pub material: rucket_schemas::SealedSecret,
    pub enabled: bool,
    pub created: Hlc,
}

/// An access key created through the admin API.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub user: UserId,
    /// The secret, sealed by the master key it names.
    pub secret: rucket_schemas::SealedSecret,
    /// A scoped admin token (may call the admin API).
    pub admin: bool,
    pub enabled: bool,
    /// The identity policy that limits the key, as validated JSON.
    pub policy: Option<String>,
    pub created: Hlc,
}
