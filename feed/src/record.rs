//! The AWS S3 notification record (`eventVersion` 2.1), as webhooks, the MinIO-style
//! listen API and `format=s3` subscribers receive it.

use rucket_schemas::{Envelope, LogPosition, StorageEvent, UserId};
use serde_json::{json, Map, Value};

use crate::filter::event_key;

/// The `configurationId` of records that no notification configuration asked for.
pub const FEED_CONFIGURATION: &str = "rucket-feed";

/// Renders one event as an S3 notification record. The sequencer is the event's log
/// position as fixed-width hex, so it orders the events of a key exactly as the log does.
pub fn s3_record(
    position: LogPosition,
    envelope: &Envelope,
    event: &StorageEvent,
    configuration_id: &str,
) -> Value {
    let name = event.s3_event_name();
    let event_name = name.strip_prefix("s3:").unwrap_or(name);
    // Access key events have no bucket; only operators see them.
    let bucket = event.bucket().map_or("", |b| b.as_str());
    let mut object = Map::new();
    if let Some(key) = event_key(event) {
        object.insert("key".into(), json!(form_encode_key(key)));
    }
    let mut principal = None::<&UserId>;
    let (size, etag, version) = match event {
        StorageEvent::ObjectCreated(e) => {
            principal = Some(&e.record.owner);
            (Some(e.record.size), Some(e.record.etag.as_str()), Some(&e.record.version_id))
        }
        StorageEvent::MultipartCompleted(e) => {
            principal = Some(&e.record.owner);
            (Some(e.record.size), Some(e.record.etag.as_str()), Some(&e.record.version_id))
        }
        StorageEvent::ObjectDeleted(e) => {
            principal = Some(&e.owner);
            (None, None, Some(&e.version_id))
        }
        StorageEvent::PartUploaded(e) => (Some(e.part.size), Some(e.part.etag.as_str()), None),
        StorageEvent::UploadCreated(e) => {
            principal = Some(&e.owner);
            (None, None, None)
        }
        StorageEvent::BucketCreated(e) => {
            principal = Some(&e.owner);
            (None, None, None)
        }
        _ => (None, None, None),
    };
    if let Some(size) = size {
        object.insert("size".into(), json!(size));
    }
    if let Some(etag) = etag {
        object.insert("eTag".into(), json!(etag));
    }
    if let Some(version) = version.filter(|v| !v.is_null()) {
        object.insert("versionId".into(), json!(version.as_str()));
    }
    object.insert("sequencer".into(), json!(format!("{:016X}", position.0)));
    let principal = principal.map(|p| p.as_str()).unwrap_or_default();
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": envelope.origin_region.as_str(),
        "eventTime": envelope.hlc.to_rfc3339(),
        "eventName": event_name,
        "userIdentity": { "principalId": principal },
        "requestParameters": { "sourceIPAddress": "" },
        "responseElements": {
            "x-amz-request-id": envelope.event_id.to_string(),
            "x-amz-id-2": format!("{position}"),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": { "principalId": principal },
                "arn": format!("arn:aws:s3:::{bucket}"),
            },
            "object": Value::Object(object),
        },
    })
}

/// Form-encodes a key as S3 notifications do: spaces become `+`, slashes stay.
pub fn form_encode_key(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>().replace("%2F", "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rucket_schemas::{BucketName, EventId, Hlc, ObjectDeleted, ObjectKey, RegionId, VersionId};

    #[test]
    fn renders_a_delete_marker_as_aws_does() {
        let event = StorageEvent::ObjectDeleted(ObjectDeleted {
            bucket: BucketName::parse("logs").unwrap(),
            key: ObjectKey::parse("2026/11/a b+c.txt").unwrap(),
            version_id: VersionId::new("v1"),
            delete_marker: true,
            owner: UserId::new("alice"),
        });
        let hlc = Hlc::from_unix_nanos(1_700_000_000_000_000_000, 3);
        let env = Envelope::seal(&event, hlc, RegionId::new("us-east-1"), EventId([1; 16])).unwrap();
        let record = s3_record(LogPosition(42), &env, &event, FEED_CONFIGURATION);
        expect_test::expect![[r#"
            {"awsRegion":"us-east-1","eventName":"ObjectRemoved:DeleteMarkerCreated","eventSource":"aws:s3","eventTime":"2023-11-14T22:13:20.000Z","eventVersion":"2.1","requestParameters":{"sourceIPAddress":""},"responseElements":{"x-amz-id-2":"42","x-amz-request-id":"01010101010101010101010101010101"},"s3":{"bucket":{"arn":"arn:aws:s3:::logs","name":"logs","ownerIdentity":{"principalId":"alice"}},"configurationId":"rucket-feed","object":{"key":"2026/11/a+b%2Bc.txt","sequencer":"000000000000002A","versionId":"v1"},"s3SchemaVersion":"1.0"},"userIdentity":{"principalId":"alice"}}
        "#]]
        .assert_eq(&format!("{record}\n"));
    }
}
