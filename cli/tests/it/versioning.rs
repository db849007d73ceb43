//! Bucket versioning: version ids, delete markers, suspended null versions, by-version
//! reads and deletes, and the listing test suites clean up with.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::support::{bucket, code, status, Server};

fn config(status: BucketVersioningStatus) -> VersioningConfiguration {
    VersioningConfiguration::builder().status(status).build()
}

async fn body(s3: &aws_sdk_s3::Client, b: &str, k: &str, v: Option<&str>) -> Vec<u8> {
    let got = s3.get_object().bucket(b).key(k).set_version_id(v.map(str::to_owned)).send().await.unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn versions_markers_and_suspension() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("versioned");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let never = s3.get_bucket_versioning().bucket(&name).send().await.unwrap();
    assert_eq!(never.status(), None, "a never-versioned bucket reports no status");
    s3.put_object().bucket(&name).key("doc").body(b"v0 (null)".to_vec().into()).send().await.unwrap();

    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(config(BucketVersioningStatus::Enabled))
        .send()
        .await
        .unwrap();
    let enabled = s3.get_bucket_versioning().bucket(&name).send().await.unwrap();
    assert_eq!(enabled.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = s3.put_object().bucket(&name).key("doc").body(b"v1".to_vec().into()).send().await.unwrap();
    let v2 = s3.put_object().bucket(&name).key("doc").body(b"v2".to_vec().into()).send().await.unwrap();
    let (v1, v2) = (v1.version_id().unwrap().to_owned(), v2.version_id().unwrap().to_owned());
    assert_ne!(v1, v2);
    assert_eq!(body(&s3, &name, "doc", None).await, b"v2");
    assert_eq!(body(&s3, &name, "doc", Some(&v1)).await, b"v1");
    assert_eq!(
        body(&s3, &name, "doc", Some("null")).await,
        b"v0 (null)",
        "the pre-versioning object is version null"
    );
    let head = s3.head_object().bucket(&name).key("doc").send().await.unwrap();
    assert_eq!(head.version_id(), Some(v2.as_str()));

    // DELETE without a version id adds a marker; the key then looks gone.
    let deleted = s3.delete_object().bucket(&name).key("doc").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    let err = s3.get_object().bucket(&name).key("doc").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));
    assert_eq!(err.raw_response().unwrap().headers().get("x-amz-delete-marker"), Some("true"));
    let err = s3.get_object().bucket(&name).key("doc").version_id(&marker).send().await.unwrap_err();
    assert_eq!(status(&err), 405, "GET of a delete marker by id");
    assert!(s3.list_objects_v2().bucket(&name).send().await.unwrap().contents().is_empty());
    let versions = s3.list_object_versions().bucket(&name).send().await.unwrap();
    assert_eq!(versions.versions().len(), 3);
    assert_eq!(versions.delete_markers().len(), 1);
    assert_eq!(versions.delete_markers()[0].is_latest(), Some(true));
    assert_eq!(versions.versions().iter().filter(|v| v.is_latest() == Some(true)).count(), 0);

    // Removing the marker by id brings v2 back; removing v2 by id leaves v1 current.
    let undone = s3.delete_object().bucket(&name).key("doc").version_id(&marker).send().await.unwrap();
    assert_eq!(undone.delete_marker(), Some(true), "the removed version was a marker");
    assert_eq!(body(&s3, &name, "doc", None).await, b"v2");
    s3.delete_object().bucket(&name).key("doc").version_id(&v2).send().await.unwrap();
    assert_eq!(body(&s3, &name, "doc", None).await, b"v1");

    // Suspended: writes make null versions that replace the previous null version.
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(config(BucketVersioningStatus::Suspended))
        .send()
        .await
        .unwrap();
    s3.put_object().bucket(&name).key("doc").body(b"s1".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket(&name).key("doc").body(b"s2".to_vec().into()).send().await.unwrap();
    assert_eq!(body(&s3, &name, "doc", Some("null")).await, b"s2");
    assert_eq!(body(&s3, &name, "doc", Some(&v1)).await, b"v1", "versioned history is kept");
    let ids: Vec<String> = s3
        .list_object_versions()
        .bucket(&name)
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["null".to_owned(), v1.clone()], "one null version, replaced in place");
    let suspended_delete = s3.delete_object().bucket(&name).key("doc").send().await.unwrap();
    assert_eq!((suspended_delete.delete_marker(), suspended_delete.version_id()), (Some(true), Some("null")));
    let after = s3.list_object_versions().bucket(&name).send().await.unwrap();
    assert_eq!(after.versions().len(), 1, "the null marker replaced the null version");
    assert_eq!(after.delete_markers()[0].version_id(), Some("null"));

    let err = s3
        .put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(VersioningConfiguration::builder().build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "MalformedXML");
}

#[tokio::test]
async fn delete_objects_reports_markers() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("multi-markers");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(config(BucketVersioningStatus::Enabled))
        .send()
        .await
        .unwrap();
    s3.put_object().bucket(&name).key("a").body(b"1".to_vec().into()).send().await.unwrap();
    let ids = vec![aws_sdk_s3::types::ObjectIdentifier::builder().key("a").build().unwrap()];
    let out = s3
        .delete_objects()
        .bucket(&name)
        .delete(aws_sdk_s3::types::Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let d = &out.deleted()[0];
    assert_eq!(d.delete_marker(), Some(true));
    assert!(d.delete_marker_version_id().is_some_and(|v| v != "null"));
    // The cleanup loop of test suites: delete every version and marker, then the bucket.
    let all = s3.list_object_versions().bucket(&name).send().await.unwrap();
    for v in all.versions() {
        s3.delete_object()
            .bucket(&name)
            .key(v.key().unwrap())
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    for m in all.delete_markers() {
        s3.delete_object()
            .bucket(&name)
            .key(m.key().unwrap())
            .version_id(m.version_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&name).send().await.unwrap();
}
