//! Lifecycle configurations through the SDK, and the worker carrying them out on a server
//! whose lifecycle day lasts one second.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;

use crate::support::{self, Server};

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn put_config(client: &Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), String> {
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| support::code(&e))
}

/// Polls `check` until it holds (the worker runs every 200 ms).
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn keys(client: &Client, bucket: &str) -> Vec<String> {
    let out = client.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn configurations_are_validated_and_round_trip() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("lc-config");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let err = client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchLifecycleConfiguration");

    let rules = vec![
        rule("tmp", "tmp/").expiration(LifecycleExpiration::builder().days(7).build()).build().unwrap(),
        rule("history", "docs/")
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(30)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .build()
            .unwrap(),
        rule("uploads", "")
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(3).build(),
            )
            .build()
            .unwrap(),
    ];
    put_config(&client, &bucket, rules).await.unwrap();
    let got = client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    let ids: Vec<&str> = got.rules().iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids, ["tmp", "history", "uploads"]);
    assert_eq!(got.rules()[0].expiration().and_then(|e| e.days()), Some(7));
    assert_eq!(
        got.rules()[1].noncurrent_version_expiration().and_then(|e| e.newer_noncurrent_versions()),
        Some(2)
    );

    let zero_days = rule("z", "").expiration(LifecycleExpiration::builder().days(0).build()).build().unwrap();
    assert_eq!(put_config(&client, &bucket, vec![zero_days]).await.unwrap_err(), "InvalidArgument");
    let twice =
        rule("same", "a/").expiration(LifecycleExpiration::builder().days(1).build()).build().unwrap();
    assert_eq!(
        put_config(&client, &bucket, vec![twice.clone(), twice]).await.unwrap_err(),
        "InvalidArgument"
    );
    let no_action = rule("idle", "a/").build().unwrap();
    assert_eq!(put_config(&client, &bucket, vec![no_action]).await.unwrap_err(), "MalformedXML");
    let transition = rule("cold", "a/")
        .transitions(Transition::builder().days(30).storage_class(TransitionStorageClass::Glacier).build())
        .build()
        .unwrap();
    assert_eq!(put_config(&client, &bucket, vec![transition]).await.unwrap_err(), "NotImplemented");
    // Refused configurations changed nothing.
    let got = client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    assert_eq!(got.rules().len(), 3);

    client.delete_bucket_lifecycle().bucket(&bucket).send().await.unwrap();
    let err = client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchLifecycleConfiguration");
}

#[tokio::test]
async fn the_worker_expires_versions_markers_and_uploads() {
    let temp = tempfile::tempdir().unwrap();
    let server =
        Server::start_in(temp.path(), &["--lifecycle-interval-ms", "200", "--lifecycle-day-secs", "1"]);
    let client = server.client();

    // Never versioned: current versions under tmp/ expire, others stay; old uploads go.
    let plain = support::bucket("lc-plain");
    client.create_bucket().bucket(&plain).send().await.unwrap();
    for key in ["tmp/a", "tmp/b", "keep/c"] {
        client.put_object().bucket(&plain).key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    client.create_multipart_upload().bucket(&plain).key("stalled").send().await.unwrap();
    put_config(
        &client,
        &plain,
        vec![
            rule("tmp", "tmp/").expiration(LifecycleExpiration::builder().days(1).build()).build().unwrap(),
            rule("uploads", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    eventually("tmp/ to expire", || async { keys(&client, &plain).await == ["keep/c"] }).await;
    eventually("the upload to be aborted", || async {
        client.list_multipart_uploads().bucket(&plain).send().await.unwrap().uploads().is_empty()
    })
    .await;

    // Versioned: noncurrent versions and lone delete markers go; current versions stay.
    let versioned = support::bucket("lc-versioned");
    client.create_bucket().bucket(&versioned).send().await.unwrap();
    client
        .put_bucket_versioning()
        .bucket(&versioned)
        .versioning_configuration(
            VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    for body in ["one", "two"] {
        client
            .put_object()
            .bucket(&versioned)
            .key("v/doc")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
    }
    let gone = client
        .put_object()
        .bucket(&versioned)
        .key("m/gone")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    client.delete_object().bucket(&versioned).key("m/gone").send().await.unwrap();
    client
        .delete_object()
        .bucket(&versioned)
        .key("m/gone")
        .version_id(gone.version_id().unwrap())
        .send()
        .await
        .unwrap();
    put_config(
        &client,
        &versioned,
        vec![
            rule("history", "v/")
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder().noncurrent_days(1).build(),
                )
                .build()
                .unwrap(),
            rule("markers", "m/")
                .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    let versions = || async {
        let out = client.list_object_versions().bucket(&versioned).send().await.unwrap();
        (
            out.versions().iter().map(|v| v.key().unwrap_or_default().to_owned()).collect::<Vec<_>>(),
            out.delete_markers().len(),
        )
    };
    eventually("the noncurrent version and the lone marker to go", || async {
        versions().await == (vec!["v/doc".to_owned()], 0)
    })
    .await;
    let current = client.get_object().bucket(&versioned).key("v/doc").send().await.unwrap();
    assert_eq!(current.body.collect().await.unwrap().into_bytes().as_ref(), b"two");

    let metrics =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    let actions: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rucket_lifecycle_actions_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(actions >= 5.0, "two expirations, one abort, one version, one marker: {actions}");
}

#[tokio::test]
async fn the_worker_never_removes_a_locked_version() {
    let temp = tempfile::tempdir().unwrap();
    let server =
        Server::start_in(temp.path(), &["--lifecycle-interval-ms", "200", "--lifecycle-day-secs", "1"]);
    let client = server.client();
    let vault = support::bucket("lc-vault");
    client.create_bucket().bucket(&vault).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let put = |key: &'static str, hold: bool| {
        let mut request = client.put_object().bucket(&vault).key(key).body(ByteStream::from_static(b"x"));
        if hold {
            request = request.object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On);
        }
        async move { request.send().await.unwrap().version_id().unwrap().to_owned() }
    };
    // The held version becomes noncurrent first, so it is due no later than the free one.
    let held = put("held", true).await;
    put("held", false).await;
    put("free", false).await;
    put("free", false).await;
    put_config(
        &client,
        &vault,
        vec![rule("history", "")
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
            .build()
            .unwrap()],
    )
    .await
    .unwrap();
    let versions_of = |key: &'static str| {
        let client = client.clone();
        let vault = vault.clone();
        async move {
            let out = client.list_object_versions().bucket(&vault).prefix(key).send().await.unwrap();
            out.versions().iter().filter_map(|v| v.version_id().map(str::to_owned)).collect::<Vec<_>>()
        }
    };
    eventually("the free noncurrent version to expire", || async { versions_of("free").await.len() == 1 })
        .await;
    let kept = versions_of("held").await;
    assert_eq!(kept.len(), 2, "the held noncurrent version is still there: {kept:?}");
    assert!(kept.contains(&held));
}

#[tokio::test]
async fn the_worker_expires_only_what_a_rules_tags_and_size_take() {
    use aws_sdk_s3::types::{LifecycleRuleAndOperator, Tag};
    let temp = tempfile::tempdir().unwrap();
    let server =
        Server::start_in(temp.path(), &["--lifecycle-interval-ms", "200", "--lifecycle-day-secs", "1"]);
    let client = server.client();
    let bucket = support::bucket("lc-filters");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let big = [b'x'; 100];
    for (key, body, tagging) in [
        ("f/tagged-big", &big[..], Some("temp=yes&other=1")),
        ("f/tagged-small", &b"x"[..], Some("temp=yes")),
        ("f/untagged-big", &big[..], None),
        ("f/wrong-tag-big", &big[..], Some("temp=no")),
        ("g/tagged-big", &big[..], Some("temp=yes")),
        ("z/sentinel", &b"x"[..], None),
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .set_tagging(tagging.map(str::to_owned))
            .send()
            .await
            .unwrap();
    }
    let filter = LifecycleRuleAndOperator::builder()
        .prefix("f/")
        .tags(Tag::builder().key("temp").value("yes").build().unwrap())
        .object_size_greater_than(10)
        .build();
    let filtered = LifecycleRule::builder()
        .id("tagged-and-big")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().and(filter).build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    // A scan proposes in key order: once the last key (taken by a plain rule) has gone,
    // every key before it has been judged by a scan that saw them all due.
    let sentinel =
        rule("sentinel", "z/").expiration(LifecycleExpiration::builder().days(1).build()).build().unwrap();
    put_config(&client, &bucket, vec![filtered, sentinel]).await.unwrap();
    eventually("z/sentinel to expire", || async {
        !keys(&client, &bucket).await.contains(&"z/sentinel".into())
    })
    .await;
    assert_eq!(
        keys(&client, &bucket).await,
        ["f/tagged-small", "f/untagged-big", "f/wrong-tag-big", "g/tagged-big"]
    );
}
