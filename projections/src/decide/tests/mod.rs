//! Table-driven decide cases, one module per command family: the views are built by
//! running commands through the shared [`Harness`], then [`check`] decides one command
//! (without applying it) and compares its outcome, rendered by [`outcome`], with the
//! expected one.

use std::collections::BTreeMap;

use rucket_schemas::{
    Acl, BlobId, BucketName, CommandBody, Grant, Grantee, Hlc, ObjectData, ObjectKey, ObjectLock,
    ObjectLockConfig, ObjectRecord, Permission, PublicAccessBlock, Retention, Seal, SealKind, StorageEvent,
    Tags, VersionId, VersioningStatus, WriteCondition,
};

use crate::tests::{bucket_name, create, inline, put_body, Harness};
use crate::Decision;

mod access;
mod buckets;
mod configs;
mod keys;
mod locks;
mod multipart;
mod objects;

/// Who a case runs as.
#[derive(Clone, Copy, Debug)]
enum As {
    User(&'static str),
    /// An operator (`requester_is_admin`), named `root`.
    Admin,
}

/// The owner of every bucket the cases make.
const ALICE: As = As::User("alice");
/// A stranger to alice's buckets, unless a case grants her something.
const BOB: As = As::User("bob");
const ROOT: As = As::Admin;

impl As {
    fn user(self) -> &'static str {
        match self {
            As::User(user) => user,
            As::Admin => "root",
        }
    }

    fn admin(self) -> bool {
        matches!(self, As::Admin)
    }
}

/// Decides `body` as `who` against the views `h` holds, without applying it, and
/// compares the outcome (see [`outcome`]) with `expect`.
#[track_caller]
fn check(h: &mut Harness, who: As, body: CommandBody, expect: &str) {
    let command = h.command(who.user(), who.admin(), body);
    let decision = h.projections.decide(&command).unwrap();
    assert_eq!(outcome(&decision), expect, "deciding {:?} as {who:?}", command.body);
}

/// A policy on `bucket` that lets `user` do anything on it and its objects.
fn allow_all(bucket: &str, user: &str) -> CommandBody {
    let text = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":"s3:*","Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
    );
    CommandBody::SetBucketPolicy { bucket: bucket_name(bucket), policy: Some(text), public: false }
}

/// `body` as a client request of `operation` signed by `who` (a configured key, or the
/// root key for an operator) proposes it: with its facts, for apply to judge.
fn requested(who: As, operation: &str, version_id: bool, body: CommandBody) -> CommandBody {
    let principal = match who {
        As::Admin => rucket_schemas::Principal::Root,
        As::User(user) => rucket_schemas::Principal::ConfigKey { access_key_id: format!("AK-{user}") },
    };
    let facts = rucket_schemas::RequestFacts {
        principal,
        operation: operation.to_owned(),
        version_id,
        keys: BTreeMap::new(),
        retain_until: None,
    };
    CommandBody::Requested { facts: Box::new(facts), inner: Box::new(body) }
}

/// Runs a setup command as `who`, which must become an event.
#[track_caller]
fn given(h: &mut Harness, who: As, body: CommandBody) {
    let (decision, _) = h.run_as(who.user(), who.admin(), body);
    assert!(matches!(decision, Decision::Event(_)), "setup: {decision:?}");
}

/// A decision in one line: `Rejected(..)`, `Unchanged`, or the event's summary.
fn outcome(decision: &Decision) -> String {
    match decision {
        Decision::Rejected(r) => format!("Rejected({r:?})"),
        Decision::Unchanged => "Unchanged".to_owned(),
        Decision::Event(event) => summary(event),
    }
}

/// An event's variant and the fields a decision chooses.
fn summary(event: &StorageEvent) -> String {
    use StorageEvent as E;
    match event {
        E::BucketCreated(e) => {
            let lock = if e.object_lock_enabled { " object-lock" } else { "" };
            format!("BucketCreated {} owner={}{lock}", e.bucket, e.owner)
        }
        E::BucketDeleted(e) if e.aborted_uploads.is_empty() => format!("BucketDeleted {}", e.bucket),
        E::BucketDeleted(e) => {
            let keys: Vec<&str> = e.aborted_uploads.iter().map(|u| u.key.as_str()).collect();
            format!("BucketDeleted {} aborted={}", e.bucket, keys.join(","))
        }
        E::BucketVersioningSet(e) => format!("BucketVersioningSet {} {:?}", e.bucket, e.status),
        E::ObjectCreated(e) => format!(
            "ObjectCreated {}/{}@{} {:?} size={}{}{}",
            e.bucket,
            e.key,
            e.record.version_id,
            e.operation,
            e.record.size,
            tags(&e.tags),
            lock(&e.lock)
        ),
        E::ObjectDeleted(e) => {
            let marker = if e.delete_marker { " marker" } else { "" };
            format!("ObjectDeleted {}/{}@{}{marker} by={}", e.bucket, e.key, e.version_id, e.owner)
        }
        E::UploadCreated(e) => format!(
            "UploadCreated {}/{} owner={}{}{}{}{}{}",
            e.bucket,
            e.key,
            e.owner,
            tags(&e.tags),
            lock(&e.lock),
            if e.seal.is_some() { " sealed" } else { "" },
            match &e.acl {
                Some(listed) =>
                    format!(" acl={}{}", listed.acl.grants.len(), if listed.whole { " whole" } else { "" }),
                None => String::new(),
            },
            if e.full_object_checksum { " full_object" } else { "" }
        ),
        E::PartUploaded(e) => format!("PartUploaded {}/{} part={}", e.bucket, e.key, e.part.part_number),
        E::MultipartCompleted(e) => {
            let parts = match e.record.data.unsealed() {
                ObjectData::Parts(parts) => {
                    parts.iter().map(|p| p.part_number.to_string()).collect::<Vec<_>>().join(",")
                }
                other => format!("{other:?}"),
            };
            let sealed = if e.record.data.seal().is_some() { " sealed" } else { "" };
            format!(
                "MultipartCompleted {}/{}@{} size={} parts={parts}{sealed}{}{}",
                e.bucket,
                e.key,
                e.record.version_id,
                e.record.size,
                tags(&e.tags),
                lock(&e.lock)
            )
        }
        E::UploadAborted(e) => format!("UploadAborted {}/{}", e.bucket, e.key),
        E::BucketNotificationSet(e) => {
            format!("BucketNotificationSet {} rules={}", e.bucket, e.configuration.rules.len())
        }
        E::BucketCorsSet(e) => format!("BucketCorsSet {} rules={}", e.bucket, e.configuration.rules.len()),
        E::BucketLifecycleSet(e) => {
            format!("BucketLifecycleSet {} rules={}", e.bucket, e.configuration.rules.len())
        }
        E::BucketTaggingSet(e) => format!("BucketTaggingSet {}{}", e.bucket, tags(&e.tags)),
        E::ObjectTaggingSet(e) => {
            format!("ObjectTaggingSet {}/{}@{}{}", e.bucket, e.key, e.version_id, tags(&e.tags))
        }
        E::BucketAclSet(e) => {
            let whole = if e.whole { " whole" } else { "" };
            format!("BucketAclSet {} grants={}{whole}", e.bucket, e.acl.grants.len())
        }
        E::ObjectAclSet(e) => {
            let whole = if e.whole { " whole" } else { "" };
            format!(
                "ObjectAclSet {}/{}@{} grants={}{whole}",
                e.bucket,
                e.key,
                e.version_id,
                e.acl.grants.len()
            )
        }
        E::BucketOwnershipSet(e) => format!("BucketOwnershipSet {} {:?}", e.bucket, e.ownership),
        E::BucketPublicAccessBlockSet(e) => {
            format!("BucketPublicAccessBlockSet {} {:?}", e.bucket, e.configuration)
        }
        E::BucketPolicySet(e) => {
            let kind =
                e.policy.as_ref().map(|text| match rucket_policy::Policy::parse(text, e.bucket.as_str()) {
                    Ok(p) if p.is_public() => "public",
                    Ok(_) => "private",
                    Err(_) => "unparsable",
                });
            format!("BucketPolicySet {} {kind:?}", e.bucket).replace('"', "")
        }
        E::BucketEncryptionSet(e) => match &e.kms_key_id {
            Some(kms) => format!("BucketEncryptionSet {} {:?} kms={kms}", e.bucket, e.configuration),
            None => format!("BucketEncryptionSet {} {:?}", e.bucket, e.configuration),
        },
        E::BucketObjectLockSet(e) => {
            let default = e
                .configuration
                .default_retention
                .map(|d| format!(" default={:?}/{}d/{}y", d.mode, d.days.unwrap_or(0), d.years.unwrap_or(0)));
            format!("BucketObjectLockSet {}{}", e.bucket, default.unwrap_or_default())
        }
        E::ObjectRetentionSet(e) => format!(
            "ObjectRetentionSet {}/{}@{} retention={}",
            e.bucket,
            e.key,
            e.version_id,
            e.retention.map_or("none".to_owned(), |r| retention(&r))
        ),
        E::ObjectLegalHoldSet(e) => {
            format!("ObjectLegalHoldSet {}/{}@{} on={}", e.bucket, e.key, e.version_id, e.on)
        }
        E::DataKeyRewrapped(e) => {
            let target = match &e.target {
                rucket_schemas::RewrapTarget::Version(v) => format!("version={v}"),
                rucket_schemas::RewrapTarget::Upload(_) => "upload".to_owned(),
            };
            format!(
                "DataKeyRewrapped {}/{} {target} from={:?} to={}",
                e.bucket,
                e.key,
                e.from_key_id,
                seal_name(&e.seal)
            )
        }
        E::AccessKeyCreated(e) => {
            format!(
                "AccessKeyCreated {} user={} admin={} secret={}",
                e.access_key_id, e.user, e.admin, e.secret.key_id
            )
        }
        E::AccessKeyStatusSet(e) => format!("AccessKeyStatusSet {} enabled={}", e.access_key_id, e.enabled),
        E::AccessKeyDeleted(e) => format!("AccessKeyDeleted {}", e.access_key_id),
        E::AccessKeyPolicySet(e) => format!("AccessKeyPolicySet {} {:?}", e.access_key_id, e.policy),
        E::AccessKeyRewrapped(e) => {
            format!("AccessKeyRewrapped {} from={} to={}", e.access_key_id, e.from_key_id, e.secret.key_id)
        }
        E::MembershipChanged(e) => format!("MembershipChanged voters={}", e.voters.len()),
        E::WebhookCursorSet(e) => format!("WebhookCursorSet {}={}", e.target, e.position),
        E::BucketLoggingSet(e) => match &e.configuration {
            Some(c) => format!(
                "BucketLoggingSet {} to={}/{} {:?}",
                e.bucket, c.target_bucket, c.target_prefix, c.key_format
            ),
            None => format!("BucketLoggingSet {} off", e.bucket),
        },
        E::KmsKeyCreated(e) => format!("KmsKeyCreated {} material={}", e.key_id, e.material.key_id),
        E::KmsKeyStatusSet(e) => format!("KmsKeyStatusSet {} enabled={}", e.key_id, e.enabled),
        E::KmsKeyRewrapped(e) => {
            format!("KmsKeyRewrapped {} from={} to={}", e.key_id, e.from_key_id, e.material.key_id)
        }
    }
}

fn tags(tags: &Tags) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" tags={}", pairs.join(","))
}

fn lock(lock: &ObjectLock) -> String {
    let mut parts: Vec<String> = lock.retention.iter().map(retention).collect();
    if lock.legal_hold {
        parts.push("hold".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" lock={}", parts.join("+"))
    }
}

fn retention(r: &Retention) -> String {
    format!("{:?}<{}", r.mode, r.retain_until_ms)
}

fn seal_name(seal: &Seal) -> String {
    match &seal.kind {
        SealKind::MasterKey { key_id } => key_id.clone(),
        SealKind::CustomerKey { .. } => "customer".to_owned(),
        SealKind::KmsKey { key_id } => format!("kms:{key_id}"),
    }
}

// Builders for the commands and views the cases share.

fn b(name: &str) -> BucketName {
    bucket_name(name)
}

fn k(key: &str) -> ObjectKey {
    ObjectKey::parse(key).unwrap()
}

fn v(id: &str) -> VersionId {
    VersionId::new(id)
}

/// A harness with alice's buckets `names` (Object Lock off, never versioned).
fn with_buckets(names: &[&str]) -> Harness {
    let mut h = Harness::new();
    for name in names {
        given(&mut h, ALICE, create(name));
    }
    h
}

/// Alice's bucket `name` with Object Lock on (and so versioning enabled).
fn lock_bucket(h: &mut Harness, name: &str) {
    let body =
        CommandBody::CreateBucket { bucket: b(name), location: String::new(), object_lock_enabled: true };
    given(h, ALICE, body);
}

fn set_versioning(bucket: &str, status: VersioningStatus) -> CommandBody {
    CommandBody::SetBucketVersioning { bucket: b(bucket), status }
}

/// A PutObject of a one-byte body as `owner` with version id `version` (nulled unless
/// the bucket is versioned) and the next stamp.
fn put(h: &Harness, owner: &str, bucket: &str, key: &str, version: &str) -> CommandBody {
    put_with(h, owner, bucket, key, version, inline(b"x"), WriteCondition::Always)
}

fn put_with(
    h: &Harness,
    owner: &str,
    bucket: &str,
    key: &str,
    version: &str,
    data: ObjectData,
    condition: WriteCondition,
) -> CommandBody {
    let mut body = put_body(bucket, key, data, h.next_hlc(), condition);
    if let CommandBody::PutObject { record, .. } = &mut body {
        record.version_id = v(version);
        record.owner = rucket_schemas::UserId::new(owner);
    }
    body
}

/// Writes a version as `who` and returns its stamp.
fn write(h: &mut Harness, who: As, bucket: &str, key: &str, version: &str) -> Hlc {
    let hlc = h.next_hlc();
    let body = put(h, who.user(), bucket, key, version);
    given(h, who, body);
    hlc
}

fn record_of(body: &CommandBody) -> Box<ObjectRecord> {
    match body {
        CommandBody::PutObject { record, .. } => record.clone(),
        other => panic!("not a put: {other:?}"),
    }
}

fn delete(bucket: &str, key: &str, version: Option<&str>, marker: &str) -> CommandBody {
    CommandBody::DeleteObject {
        bucket: b(bucket),
        key: k(key),
        version_id: version.map(v),
        marker_version_id: v(marker),
    }
}

fn bucket_acl(bucket: &str, grants: Vec<(Grantee, Permission)>) -> CommandBody {
    CommandBody::SetBucketAcl { bucket: b(bucket), acl: acl(grants) }
}

fn acl(grants: Vec<(Grantee, Permission)>) -> Acl {
    Acl { grants: grants.into_iter().map(|(grantee, permission)| Grant { grantee, permission }).collect() }
}

fn user(name: &str) -> Grantee {
    Grantee::User(rucket_schemas::UserId::new(name))
}

fn block_public(bucket: &str, block: PublicAccessBlock) -> CommandBody {
    CommandBody::SetPublicAccessBlock { bucket: b(bucket), configuration: Some(block) }
}

fn lock_config(bucket: &str, default_retention: Option<rucket_schemas::DefaultRetention>) -> CommandBody {
    CommandBody::SetObjectLockConfig {
        bucket: b(bucket),
        configuration: ObjectLockConfig { default_retention },
    }
}

fn master_seal(key_id: &str, context: &str) -> Seal {
    Seal {
        kind: SealKind::MasterKey { key_id: key_id.to_owned() },
        wrapped_key: key_id.as_bytes().to_vec(),
        context_id: context.to_owned(),
    }
}

fn sealed(seal: Seal) -> ObjectData {
    ObjectData::Sealed { seal, data: Box::new(ObjectData::Blob(BlobId::from_bytes([9; 16]))) }
}

fn tag_set(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>()
}
