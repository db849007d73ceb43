//! `StorageEvent`: what the archive keeps for every applied mutation, with one payload
//! struct per event type and schema version.
//!
//! Compatibility rule: a payload struct is frozen once released. A change adds a new
//! schema version (a new struct plus an upgrade from the previous one in
//! [`StorageEvent::decode`]); variants and fields are never reordered or removed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{codec, BlobId, BucketName, CodecError, Hlc, ObjectKey, RegionId, UserId, VersionId};

/// The event type numbers written into the envelope. Never reused or renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum EventType {
    BucketCreated = 1,
    BucketDeleted = 2,
    ObjectCreated = 3,
    ObjectDeleted = 4,
}

impl EventType {
    /// The schema version that this build writes for the type.
    pub fn current_schema_version(self) -> u16 {
        match self {
            Self::BucketCreated | Self::BucketDeleted | Self::ObjectCreated => 1,
            Self::ObjectDeleted => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BucketCreated => "BucketCreated",
            Self::BucketDeleted => "BucketDeleted",
            Self::ObjectCreated => "ObjectCreated",
            Self::ObjectDeleted => "ObjectDeleted",
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

/// Schema version 1 of `BucketDeleted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct BucketDeleted {
    pub bucket: BucketName,
}

/// Schema version 1 of `ObjectCreated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectCreated {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub operation: CreateOperation,
    pub record: Box<ObjectRecord>,
}

/// Which S3 operation created an object version; it names the notification event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum CreateOperation {
    Put,
    Post,
    Copy,
    CompleteMultipartUpload,
}

/// Schema version 1 of `ObjectDeleted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct ObjectDeleted {
    pub bucket: BucketName,
    pub key: ObjectKey,
    /// The version removed, or, when `delete_marker` is set, the id of the new marker.
    pub version_id: VersionId,
    pub delete_marker: bool,
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

/// Where an object's bytes live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum ObjectData {
    /// Small objects travel inside the event itself.
    Inline(Vec<u8>),
    /// Larger objects live in the blob store under this id.
    Blob(BlobId),
}

impl ObjectData {
    pub fn blob_id(&self) -> Option<&BlobId> {
        match self {
            Self::Inline(_) => None,
            Self::Blob(id) => Some(id),
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
        }
    }

    pub fn bucket(&self) -> &BucketName {
        match self {
            Self::BucketCreated(e) => &e.bucket,
            Self::BucketDeleted(e) => &e.bucket,
            Self::ObjectCreated(e) => &e.bucket,
            Self::ObjectDeleted(e) => &e.bucket,
        }
    }

    pub fn key(&self) -> Option<&ObjectKey> {
        match self {
            Self::BucketCreated(_) | Self::BucketDeleted(_) => None,
            Self::ObjectCreated(e) => Some(&e.key),
            Self::ObjectDeleted(e) => Some(&e.key),
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
        }
    }

    /// Encodes the payload at the current schema version.
    pub fn encode(&self) -> Result<(EventType, u16, Vec<u8>), CodecError> {
        let event_type = self.event_type();
        let bytes = match self {
            Self::BucketCreated(p) => codec::encode_payload(p)?,
            Self::BucketDeleted(p) => codec::encode_payload(p)?,
            Self::ObjectCreated(p) => codec::encode_payload(p)?,
            Self::ObjectDeleted(p) => codec::encode_payload(p)?,
        };
        Ok((event_type, event_type.current_schema_version(), bytes))
    }

    /// Decodes a payload of any released schema version, upgrading it to the current
    /// in-memory form.
    pub fn decode(event_type: u16, schema_version: u16, bytes: &[u8]) -> Result<Self, CodecError> {
        match (event_type, schema_version) {
            (1, 1) => Ok(Self::BucketCreated(codec::decode_payload(bytes)?)),
            (2, 1) => Ok(Self::BucketDeleted(codec::decode_payload(bytes)?)),
            (3, 1) => Ok(Self::ObjectCreated(codec::decode_payload(bytes)?)),
            (4, 1) => Ok(Self::ObjectDeleted(codec::decode_payload(bytes)?)),
            _ => Err(CodecError::UnknownEvent { event_type, schema_version }),
        }
    }
}
