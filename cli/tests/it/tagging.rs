//! Object and bucket tagging through the SDK: on writes, copies and multipart uploads,
//! by version, and the S3 limits.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Tag, Tagging, TaggingDirective,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;

use crate::support::{self, Server};

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let mut builder = Tagging::builder();
    for (k, v) in pairs {
        builder = builder.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    builder.build().unwrap()
}

async fn tags_of(client: &Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<(String, String)> {
    let out = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap();
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn object_tags_on_put_by_api_and_on_get() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("tags");
    client.create_bucket().bucket(&bucket).send().await.unwrap();

    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .tagging("project=blue&note=two%20words")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&client, &bucket, "k", None).await,
        pairs(&[("note", "two words"), ("project", "blue")])
    );
    let got = client.get_object().bucket(&bucket).key("k").send().await.unwrap();
    assert_eq!(got.tag_count(), Some(2));

    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&[("c", "3")]))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&client, &bucket, "k", None).await, pairs(&[("c", "3")]));

    client.delete_object_tagging().bucket(&bucket).key("k").send().await.unwrap();
    assert!(tags_of(&client, &bucket, "k", None).await.is_empty());
    assert_eq!(client.get_object().bucket(&bucket).key("k").send().await.unwrap().tag_count(), None);

    // An overwrite starts from the new request's tags.
    client
        .put_object_tagging()
        .bucket(&bucket)
        .key("k")
        .tagging(tagging(&[("old", "1")]))
        .send()
        .await
        .unwrap();
    client.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"y")).send().await.unwrap();
    assert!(tags_of(&client, &bucket, "k", None).await.is_empty());

    // The limits.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let too_many = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for bad in [
        tagging(&too_many),
        tagging(&[("a", "1"), ("a", "2")]),
        tagging(&[(long_key.as_str(), "v")]),
        tagging(&[("k", long_value.as_str())]),
        tagging(&[("aws:reserved", "v")]),
    ] {
        let err = client.put_object_tagging().bucket(&bucket).key("k").tagging(bad).send().await.unwrap_err();
        assert_eq!(support::code(&err), "InvalidTag");
        assert_eq!(support::status(&err), 400);
    }
    let err = client
        .put_object()
        .bucket(&bucket)
        .key("bad")
        .tagging("a=1&a=2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "InvalidTag");
    let err = client.head_object().bucket(&bucket).key("bad").send().await.unwrap_err();
    assert_eq!(support::status(&err), 404, "a refused PUT stores nothing");

    let err = client.get_object_tagging().bucket(&bucket).key("missing").send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchKey");
    let err = client
        .put_object_tagging()
        .bucket(&bucket)
        .key("missing")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "NoSuchKey");

    let alice = server.client_as(support::ALICE_KEY, support::ALICE_SECRET);
    let err = alice.get_object_tagging().bucket(&bucket).key("k").send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");
}

#[tokio::test]
async fn tags_belong_to_versions() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("tags-versions");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = client
        .put_object()
        .bucket(&bucket)
        .key("doc")
        .tagging("gen=1")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    client.put_object().bucket(&bucket).key("doc").body(ByteStream::from_static(b"2")).send().await.unwrap();
    assert!(tags_of(&client, &bucket, "doc", None).await.is_empty());
    assert_eq!(tags_of(&client, &bucket, "doc", Some(&v1)).await, pairs(&[("gen", "1")]));

    let out = client
        .put_object_tagging()
        .bucket(&bucket)
        .key("doc")
        .version_id(&v1)
        .tagging(tagging(&[("gen", "9")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    assert_eq!(tags_of(&client, &bucket, "doc", Some(&v1)).await, pairs(&[("gen", "9")]));
    assert!(tags_of(&client, &bucket, "doc", None).await.is_empty());

    let marker = client.delete_object().bucket(&bucket).key("doc").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    let err = client.get_object_tagging().bucket(&bucket).key("doc").send().await.unwrap_err();
    assert_eq!(support::status(&err), 404);
    let err =
        client.get_object_tagging().bucket(&bucket).key("doc").version_id(&marker).send().await.unwrap_err();
    assert_eq!(support::status(&err), 405);
    let err = client
        .put_object_tagging()
        .bucket(&bucket)
        .key("doc")
        .version_id(&marker)
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "MethodNotAllowed");
    let err = client
        .get_object_tagging()
        .bucket(&bucket)
        .key("doc")
        .version_id("0000000000000000000000000000dead")
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "NoSuchVersion");
}

#[tokio::test]
async fn copies_and_multipart_uploads_carry_tags() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("tags-copy");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("src")
        .tagging("from=source")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    let source = format!("{bucket}/src");
    client.copy_object().bucket(&bucket).key("copied").copy_source(&source).send().await.unwrap();
    assert_eq!(tags_of(&client, &bucket, "copied", None).await, pairs(&[("from", "source")]));
    client
        .copy_object()
        .bucket(&bucket)
        .key("replaced")
        .copy_source(&source)
        .tagging_directive(TaggingDirective::Replace)
        .tagging("new=tag")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&client, &bucket, "replaced", None).await, pairs(&[("new", "tag")]));

    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("big")
        .tagging("kind=multipart")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = client
        .upload_part()
        .bucket(&bucket)
        .key("big")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("big")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&client, &bucket, "big", None).await, pairs(&[("kind", "multipart")]));
}

#[tokio::test]
async fn bucket_tags() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("tags-bucket");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let err = client.get_bucket_tagging().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchTagSet");
    assert_eq!(support::status(&err), 404);

    client
        .put_bucket_tagging()
        .bucket(&bucket)
        .tagging(tagging(&[("env", "prod"), ("team", "a")]))
        .send()
        .await
        .unwrap();
    let got = client.get_bucket_tagging().bucket(&bucket).send().await.unwrap();
    let got: Vec<(String, String)> =
        got.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    assert_eq!(got, pairs(&[("env", "prod"), ("team", "a")]));

    let fifty_one: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let too_many = fifty_one.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>();
    let err =
        client.put_bucket_tagging().bucket(&bucket).tagging(tagging(&too_many)).send().await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidTag");

    client.delete_bucket_tagging().bucket(&bucket).send().await.unwrap();
    let err = client.get_bucket_tagging().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchTagSet");
}
