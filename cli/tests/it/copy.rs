//! CopyObject: bytes streamed into a new object, metadata copied or replaced, copy from
//! a version, source conditions, and the refusals S3 gives.

use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, MetadataDirective,
    VersioningConfiguration,
};

use crate::support::{bucket, code, status, Server, BOB_KEY, BOB_SECRET};

async fn read(s3: &aws_sdk_s3::Client, b: &str, k: &str) -> Vec<u8> {
    s3.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn copies_stream_bytes_and_handle_metadata() {
    let server = Server::start();
    let s3 = server.client();
    let (src, dst) = (bucket("copy-src"), bucket("copy-dst"));
    for b in [&src, &dst] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let small = b"small body".to_vec();
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    s3.put_object()
        .bucket(&src)
        .key("small")
        .body(small.clone().into())
        .content_type("text/plain")
        .metadata("k", "v")
        .send()
        .await
        .unwrap();
    s3.put_object().bucket(&src).key("large").body(large.clone().into()).send().await.unwrap();

    let copied = s3
        .copy_object()
        .bucket(&dst)
        .key("small-copy")
        .copy_source(format!("{src}/small"))
        .send()
        .await
        .unwrap();
    assert!(copied.copy_object_result().unwrap().e_tag().is_some());
    let got = s3.get_object().bucket(&dst).key("small-copy").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"), "COPY keeps the source's headers");
    assert_eq!(got.metadata().unwrap().get("k").map(String::as_str), Some("v"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), small.as_slice());

    s3.copy_object().bucket(&dst).key("large-copy").copy_source(format!("{src}/large")).send().await.unwrap();
    assert_eq!(read(&s3, &dst, "large-copy").await, large);
    // The copy owns its bytes: deleting the source leaves it intact.
    s3.delete_object().bucket(&src).key("large").send().await.unwrap();
    assert_eq!(read(&s3, &dst, "large-copy").await, large);

    let replaced = s3
        .copy_object()
        .bucket(&dst)
        .key("replaced")
        .copy_source(format!("{src}/small"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/x-new")
        .metadata("fresh", "yes")
        .send()
        .await
        .unwrap();
    assert!(replaced.copy_object_result().is_some());
    let head = s3.head_object().bucket(&dst).key("replaced").send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-new"));
    assert_eq!(head.metadata().unwrap().get("fresh").map(String::as_str), Some("yes"));
    assert!(head.metadata().unwrap().get("k").is_none(), "REPLACE drops the old metadata");

    // Copying onto itself needs REPLACE.
    let err = s3
        .copy_object()
        .bucket(&src)
        .key("small")
        .copy_source(format!("{src}/small"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidRequest"));
    s3.copy_object()
        .bucket(&src)
        .key("small")
        .copy_source(format!("{src}/small"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("k", "changed")
        .send()
        .await
        .unwrap();

    // Source conditions fail with 412, never 304.
    let etag = s3.head_object().bucket(&src).key("small").send().await.unwrap().e_tag().unwrap().to_owned();
    s3.copy_object()
        .bucket(&dst)
        .key("cond")
        .copy_source(format!("{src}/small"))
        .copy_source_if_match(&etag)
        .send()
        .await
        .unwrap();
    let err = s3
        .copy_object()
        .bucket(&dst)
        .key("cond")
        .copy_source(format!("{src}/small"))
        .copy_source_if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (412, "PreconditionFailed"));
    let err = s3
        .copy_object()
        .bucket(&dst)
        .key("cond")
        .copy_source(format!("{src}/small"))
        .copy_source_if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412);

    let err =
        s3.copy_object().bucket(&dst).key("x").copy_source(format!("{src}/absent")).send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    bob.create_bucket().bucket(bucket("bobs")).send().await.unwrap();
    let err = bob
        .copy_object()
        .bucket(bucket("bobs"))
        .key("stolen")
        .copy_source(format!("{src}/small"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDenied", "reading the source needs access to it");
}

#[tokio::test]
async fn copies_from_versions_and_multipart_sources() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("copy-versions");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = s3.put_object().bucket(&name).key("doc").body(b"first".to_vec().into()).send().await.unwrap();
    s3.put_object().bucket(&name).key("doc").body(b"second".to_vec().into()).send().await.unwrap();
    let v1 = v1.version_id().unwrap();
    let copied = s3
        .copy_object()
        .bucket(&name)
        .key("restored")
        .copy_source(format!("{name}/doc?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), Some(v1));
    assert!(copied.version_id().is_some(), "the copy is a new version of a versioned bucket");
    assert_eq!(read(&s3, &name, "restored").await, b"first");

    // A multipart source is copied into one object with the same bytes.
    let id = s3
        .create_multipart_upload()
        .bucket(&name)
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let parts: Vec<Vec<u8>> = vec![vec![1u8; 5 << 20], vec![2u8; 1234]];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(&name)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(p.clone().into())
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    s3.complete_multipart_upload()
        .bucket(&name)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    s3.copy_object().bucket(&name).key("mp-copy").copy_source(format!("{name}/mp")).send().await.unwrap();
    assert_eq!(read(&s3, &name, "mp-copy").await, parts.concat());
}
