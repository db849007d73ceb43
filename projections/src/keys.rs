//! Key layouts in the projection keyspaces. Every key starts with the bucket name and a
//! NUL (bucket names never contain one), so a bucket's rows are one contiguous range
//! in S3's byte order.
//!
//! ```text
//! buckets:  <bucket>
//! objects:  <bucket> 0x00 <key>                          current version of a key
//! versions: <bucket> 0x00 <key> 0x00 <!hlc.time> <!hlc.node>   newest first
//! uploads:  <bucket> 0x00 <key> 0x00 <upload id>           multipart uploads in progress
//! parts:    <bucket> 0x00 <key> 0x00 <upload id> 0x00 <part u32 BE>
//!           0x00 <version key>                         checksums of a completed object's parts
//! configs:  <bucket> 0x00 <kind>                          bucket configurations
//! tags:     'v' <version key> | 'u' <upload key>           object and upload tag sets
//! acls:     <version key>                                 grants of object versions
//! locks:    'v' <version key> | 'u' <upload key>           Object Lock state (as in tags)
//! seals:    'u' <upload key>                              encryption of uploads in progress
//! access_keys: <access key id>                            keys made through the admin API
//! meta:     "applied"                                   last applied log position
//!           "webhook-cursor/" <target>                  webhook delivery cursors
//!           "kms-key/" <key id>                         the SSE-KMS key store
//! ```

use rucket_schemas::{BucketName, Hlc, ObjectKey, UploadId};

pub fn bucket_prefix(bucket: &BucketName) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.as_str().len() + 1);
    k.extend_from_slice(bucket.as_str().as_bytes());
    k.push(0);
    k
}

pub fn object(bucket: &BucketName, key: &ObjectKey) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    k.extend_from_slice(key.as_str().as_bytes());
    k
}

pub fn versions_of(bucket: &BucketName, key: &ObjectKey) -> Vec<u8> {
    let mut k = object(bucket, key);
    k.push(0);
    k
}

pub fn version(bucket: &BucketName, key: &ObjectKey, hlc: Hlc) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(&(u64::MAX - hlc.time).to_be_bytes());
    k.extend_from_slice(&(u64::MAX - hlc.node).to_be_bytes());
    k
}

/// Splits a `versions` key back into its object key part (without bucket prefix).
pub fn object_key_of_version(bucket_prefix_len: usize, key: &[u8]) -> Option<&str> {
    let rest = key.get(bucket_prefix_len..key.len().checked_sub(17)?)?;
    std::str::from_utf8(rest).ok()
}

pub fn upload(bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(upload_id.as_str().as_bytes());
    k
}

pub fn parts_of(bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId) -> Vec<u8> {
    let mut k = upload(bucket, key, upload_id);
    k.push(0);
    k
}

pub fn part(bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId, part_number: u32) -> Vec<u8> {
    let mut k = parts_of(bucket, key, upload_id);
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

pub const APPLIED: &[u8] = b"applied";

/// Where webhook target `target`'s delivery cursor is kept in `meta`.
pub fn webhook_cursor(target: &str) -> Vec<u8> {
    format!("webhook-cursor/{target}").into_bytes()
}

/// The `configs` kind of a bucket's notification configuration.
pub const NOTIFICATION: &str = "notification";
/// The `configs` kind of a bucket's CORS configuration.
pub const CORS: &str = "cors";
/// The `configs` kind of a bucket's tag set.
pub const TAGGING: &str = "tagging";
/// The `configs` kind of a bucket's lifecycle configuration.
pub const LIFECYCLE: &str = "lifecycle";
/// The `configs` kind of a bucket's grants.
pub const ACL: &str = "acl";
/// The `configs` kind of a bucket's ownership controls.
pub const OWNERSHIP: &str = "ownership";
/// Every `configs` kind, removed with the bucket.
/// Object Lock configuration kind.
pub const OBJECT_LOCK: &str = "object-lock";
/// Public access block configuration kind.
pub const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
/// Bucket policy kind (the JSON text).
pub const POLICY: &str = "policy";
/// Default encryption kind.
pub const ENCRYPTION: &str = "encryption";
/// The KMS key of an `aws:kms` default encryption (beside [`ENCRYPTION`]).
pub const ENCRYPTION_KMS: &str = "encryption-kms";
/// Server access logging kind (where the bucket's access logs go).
pub const LOGGING: &str = "logging";
/// The `meta` prefix of the SSE-KMS key store's records.
pub const KMS_KEY: &str = "kms-key/";

pub fn kms_key(key_id: &str) -> Vec<u8> {
    [KMS_KEY.as_bytes(), key_id.as_bytes()].concat()
}

pub const CONFIG_KINDS: [&str; 12] = [
    NOTIFICATION,
    CORS,
    TAGGING,
    LIFECYCLE,
    ACL,
    OWNERSHIP,
    OBJECT_LOCK,
    PUBLIC_ACCESS_BLOCK,
    POLICY,
    ENCRYPTION,
    ENCRYPTION_KMS,
    LOGGING,
];

/// The `tags` key of an object version, given its `versions` key.
pub fn version_tags(version_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(version_key.len() + 1);
    k.push(b'v');
    k.extend_from_slice(version_key);
    k
}

/// The `acls` key of the ACL a multipart upload in progress asked for. Version keys
/// there start with a bucket name, which never starts with a zero byte.
pub fn upload_acl(bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId) -> Vec<u8> {
    let mut k = vec![0];
    k.extend_from_slice(&upload(bucket, key, upload_id));
    k
}

/// The `parts` key of a completed multipart object's part checksums, given its `versions`
/// key. Part keys there start with a bucket name, which never starts with a zero byte.
pub fn version_parts(version_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(version_key.len() + 1);
    k.push(0);
    k.extend_from_slice(version_key);
    k
}

/// The `tags` key of a multipart upload in progress.
pub fn upload_tags(bucket: &BucketName, key: &ObjectKey, upload_id: &UploadId) -> Vec<u8> {
    let mut k = vec![b'u'];
    k.extend_from_slice(&upload(bucket, key, upload_id));
    k
}

pub fn config(bucket: &BucketName, kind: &str) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    k.extend_from_slice(kind.as_bytes());
    k
}
