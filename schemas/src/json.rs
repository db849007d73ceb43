//! The JSON rendering of events that subscribers and exports see ("rucket" format).
//! Inline object bytes are never rendered; sizes and ETags are.

use serde_json::{json, Map, Value};

use crate::{Envelope, LogPosition, ObjectData, RewrapTarget, Seal, SealKind, StorageEvent};

/// Renders one archived event. `position` is the event's log position.
pub fn render_event_json(position: LogPosition, envelope: &Envelope, event: &StorageEvent) -> Value {
    let mut out = Map::new();
    out.insert("position".into(), json!(position.0));
    out.insert("event_id".into(), json!(envelope.event_id.to_string()));
    out.insert("type".into(), json!(event.event_type().name()));
    out.insert("schema_version".into(), json!(envelope.schema_version));
    out.insert("event_name".into(), json!(event.s3_event_name()));
    out.insert("hlc".into(), json!({ "time": envelope.hlc.time, "node": envelope.hlc.node }));
    out.insert("time".into(), json!(envelope.hlc.to_rfc3339()));
    out.insert("origin_region".into(), json!(envelope.origin_region.as_str()));
    out.insert("bucket".into(), json!(event.bucket().map(|b| b.as_str())));
    match event {
        StorageEvent::BucketCreated(e) => {
            out.insert("owner".into(), json!(e.owner.as_str()));
            out.insert("location".into(), json!(e.location));
            out.insert("object_lock_enabled".into(), json!(e.object_lock_enabled));
        }
        StorageEvent::BucketDeleted(e) => {
            let aborted: Vec<_> = e
                .aborted_uploads
                .iter()
                .map(|u| json!({ "key": u.key.as_str(), "upload_id": u.upload_id.as_str() }))
                .collect();
            out.insert("aborted_uploads".into(), json!(aborted));
        }
        StorageEvent::ObjectCreated(e) => {
            let r = &e.record;
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(r.version_id.as_str()));
            out.insert("size".into(), json!(r.size));
            out.insert("etag".into(), json!(r.etag));
            out.insert("content_type".into(), json!(r.headers.content_type));
            out.insert("user_metadata".into(), json!(r.user_metadata));
            out.insert("owner".into(), json!(r.owner.as_str()));
            out.insert("storage_class".into(), json!(r.storage_class.s3_name()));
            out.insert("home_region".into(), json!(r.home_region.as_str()));
            out.insert("placement_group".into(), json!(r.placement_group));
            out.insert("inline".into(), json!(matches!(r.data, ObjectData::Inline(_))));
            insert_encryption(&mut out, r.data.seal());
            out.insert("checksums".into(), json!(r.checksums));
            out.insert("tags".into(), json!(e.tags));
            if !e.lock.is_empty() {
                out.insert("lock".into(), json!(e.lock));
            }
        }
        StorageEvent::BucketPolicySet(e) => {
            out.insert("policy".into(), json!(e.policy));
        }
        StorageEvent::BucketPublicAccessBlockSet(e) => {
            out.insert("public_access_block".into(), json!(e.configuration));
        }
        StorageEvent::BucketObjectLockSet(e) => {
            out.insert("default_retention".into(), json!(e.configuration.default_retention));
        }
        StorageEvent::ObjectRetentionSet(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(e.version_id.as_str()));
            out.insert("retention".into(), json!(e.retention));
        }
        StorageEvent::ObjectLegalHoldSet(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(e.version_id.as_str()));
            out.insert("legal_hold".into(), json!(e.on));
        }
        StorageEvent::ObjectDeleted(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(e.version_id.as_str()));
            out.insert("delete_marker".into(), json!(e.delete_marker));
            out.insert("owner".into(), json!(e.owner.as_str()));
        }
        StorageEvent::ObjectTaggingSet(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(e.version_id.as_str()));
            out.insert("tags".into(), json!(e.tags));
        }
        StorageEvent::BucketOwnershipSet(e) => {
            out.insert("ownership".into(), json!(e.ownership.map(|o| o.s3_name())));
        }
        StorageEvent::BucketAclSet(e) => {
            out.insert("grants".into(), json!(e.acl.grants));
            out.insert("whole".into(), json!(e.whole));
        }
        StorageEvent::ObjectAclSet(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("version_id".into(), json!(e.version_id.as_str()));
            out.insert("grants".into(), json!(e.acl.grants));
            out.insert("whole".into(), json!(e.whole));
        }
        StorageEvent::BucketLifecycleSet(e) => {
            out.insert("rules".into(), json!(e.configuration.rules));
        }
        StorageEvent::BucketTaggingSet(e) => {
            out.insert("tags".into(), json!(e.tags));
        }
        StorageEvent::BucketCorsSet(e) => {
            out.insert("rules".into(), json!(e.configuration.rules));
        }
        StorageEvent::BucketNotificationSet(e) => {
            out.insert("rules".into(), json!(e.configuration.rules));
        }
        StorageEvent::BucketVersioningSet(e) => {
            out.insert("status".into(), json!(format!("{:?}", e.status)));
        }
        StorageEvent::UploadCreated(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("upload_id".into(), json!(e.upload_id.as_str()));
            out.insert("owner".into(), json!(e.owner.as_str()));
            insert_encryption(&mut out, e.seal.as_deref());
        }
        StorageEvent::AccessKeyCreated(e) => {
            out.insert("access_key_id".into(), json!(e.access_key_id));
            out.insert("user".into(), json!(e.user.as_str()));
            out.insert("admin".into(), json!(e.admin));
            out.insert("master_key".into(), json!(e.secret.key_id));
        }
        StorageEvent::AccessKeyStatusSet(e) => {
            out.insert("access_key_id".into(), json!(e.access_key_id));
            out.insert("enabled".into(), json!(e.enabled));
        }
        StorageEvent::AccessKeyDeleted(e) => {
            out.insert("access_key_id".into(), json!(e.access_key_id));
        }
        StorageEvent::MembershipChanged(e) => {
            let members = |m: &[crate::ClusterMember]| -> Vec<serde_json::Value> {
                m.iter().map(|m| json!({ "id": m.id, "address": m.address })).collect()
            };
            out.insert("voters".into(), json!(members(&e.voters)));
            out.insert("learners".into(), json!(members(&e.learners)));
        }
        StorageEvent::WebhookCursorSet(e) => {
            out.insert("target".into(), json!(e.target));
            out.insert("delivered_up_to".into(), json!(e.position));
        }
        StorageEvent::AccessKeyPolicySet(e) => {
            out.insert("access_key_id".into(), json!(e.access_key_id));
            out.insert("policy".into(), json!(e.policy));
        }
        StorageEvent::AccessKeyRewrapped(e) => {
            out.insert("access_key_id".into(), json!(e.access_key_id));
            out.insert("from_master_key".into(), json!(e.from_key_id));
            out.insert("master_key".into(), json!(e.secret.key_id));
        }
        StorageEvent::BucketEncryptionSet(e) => {
            let algorithm = e.configuration.as_ref().map(|_| match e.kms_key_id {
                Some(_) => "aws:kms",
                None => "AES256",
            });
            out.insert("encryption".into(), json!(algorithm));
            if let Some(kms_key) = &e.kms_key_id {
                out.insert("kms_key".into(), json!(kms_key));
            }
        }
        StorageEvent::DataKeyRewrapped(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            match &e.target {
                RewrapTarget::Version(v) => out.insert("version_id".into(), json!(v.as_str())),
                RewrapTarget::Upload(u) => out.insert("upload_id".into(), json!(u.as_str())),
            };
            out.insert("from_master_key".into(), json!(e.from_key_id));
            insert_encryption(&mut out, Some(&e.seal));
        }
        StorageEvent::PartUploaded(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("upload_id".into(), json!(e.upload_id.as_str()));
            out.insert("part_number".into(), json!(e.part.part_number));
            out.insert("size".into(), json!(e.part.size));
            out.insert("etag".into(), json!(e.part.etag));
        }
        StorageEvent::MultipartCompleted(e) => {
            let r = &e.record;
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("upload_id".into(), json!(e.upload_id.as_str()));
            out.insert("version_id".into(), json!(r.version_id.as_str()));
            out.insert("size".into(), json!(r.size));
            out.insert("etag".into(), json!(r.etag));
            out.insert("owner".into(), json!(r.owner.as_str()));
            out.insert("storage_class".into(), json!(r.storage_class.s3_name()));
            out.insert("tags".into(), json!(e.tags));
            if !e.lock.is_empty() {
                out.insert("lock".into(), json!(e.lock));
            }
            out.insert(
                "parts".into(),
                json!(match r.data.unsealed() {
                    ObjectData::Parts(p) => p.len(),
                    _ => 0,
                }),
            );
            insert_encryption(&mut out, r.data.seal());
        }
        StorageEvent::UploadAborted(e) => {
            out.insert("key".into(), json!(e.key.as_str()));
            out.insert("upload_id".into(), json!(e.upload_id.as_str()));
        }
        StorageEvent::BucketLoggingSet(e) => {
            let target = e.configuration.as_ref().map(|c| {
                json!({
                    "bucket": c.target_bucket.as_str(),
                    "prefix": c.target_prefix,
                    "partitioned": matches!(c.key_format, crate::LogKeyFormat::PartitionedPrefix { .. }),
                })
            });
            out.insert("logging_target".into(), json!(target));
        }
        StorageEvent::KmsKeyCreated(e) => {
            out.insert("kms_key".into(), json!(e.key_id));
            out.insert("description".into(), json!(e.description));
            out.insert("master_key".into(), json!(e.material.key_id));
        }
        StorageEvent::KmsKeyStatusSet(e) => {
            out.insert("kms_key".into(), json!(e.key_id));
            out.insert("enabled".into(), json!(e.enabled));
        }
        StorageEvent::KmsKeyRewrapped(e) => {
            out.insert("kms_key".into(), json!(e.key_id));
            out.insert("from_master_key".into(), json!(e.from_key_id));
            out.insert("master_key".into(), json!(e.material.key_id));
        }
    }
    Value::Object(out)
}

/// How an object is encrypted, by name only: wrapped keys and MACs are not rendered.
fn insert_encryption(out: &mut Map<String, Value>, seal: Option<&Seal>) {
    if let Some(seal) = seal {
        let rendered = match &seal.kind {
            SealKind::MasterKey { key_id } => json!({ "kind": "SSE-S3", "master_key": key_id }),
            SealKind::CustomerKey { .. } => json!({ "kind": "SSE-C" }),
            SealKind::KmsKey { key_id } => json!({ "kind": "SSE-KMS", "kms_key": key_id }),
        };
        out.insert("encryption".into(), rendered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BucketName, EventId, Hlc, ObjectDeleted, ObjectKey, RegionId, UserId, VersionId};

    #[test]
    fn renders_a_delete_marker() {
        let event = StorageEvent::ObjectDeleted(ObjectDeleted {
            bucket: BucketName::parse("logs").unwrap(),
            key: ObjectKey::parse("2026/11/a.txt").unwrap(),
            version_id: VersionId::new("v1"),
            delete_marker: true,
            owner: UserId::new("alice"),
        });
        let hlc = Hlc::from_unix_nanos(1_700_000_000_000_000_000, 3);
        let env = Envelope::seal(&event, hlc, RegionId::new("us-east-1"), EventId([1; 16])).unwrap();
        let rendered = render_event_json(LogPosition(42), &env, &event);
        expect_test::expect![[r#"
            {"bucket":"logs","delete_marker":true,"event_id":"01010101010101010101010101010101","event_name":"s3:ObjectRemoved:DeleteMarkerCreated","hlc":{"node":3,"time":7301444403200000000},"key":"2026/11/a.txt","origin_region":"us-east-1","owner":"alice","position":42,"schema_version":2,"time":"2023-11-14T22:13:20.000Z","type":"ObjectDeleted","version_id":"v1"}
        "#]]
        .assert_eq(&format!("{}\n", rendered));
    }
}
