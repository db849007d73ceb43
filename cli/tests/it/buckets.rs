//! Bucket operations and their errors.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::support::{bucket, code, status, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET};

#[tokio::test]
async fn create_list_head_locate_and_delete() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("lifecycle");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [name.as_str()]);
    assert!(listed.buckets()[0].creation_date().is_some());
    s3.head_bucket().bucket(&name).send().await.unwrap();
    let location = s3.get_bucket_location().bucket(&name).send().await.unwrap();
    // us-east-1 is the empty <LocationConstraint/>, which the SDK reads as "".
    assert_eq!(location.location_constraint().map(|c| c.as_str()).unwrap_or(""), "");

    let eu = bucket("in-eu");
    s3.create_bucket()
        .bucket(&eu)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let location = s3.get_bucket_location().bucket(&eu).send().await.unwrap();
    assert_eq!(location.location_constraint(), Some(&BucketLocationConstraint::EuWest1));

    s3.delete_bucket().bucket(&name).send().await.unwrap();
    let err = s3.head_bucket().bucket(&name).send().await.unwrap_err();
    assert_eq!(status(&err), 404);
    let err = s3.delete_bucket().bucket(&name).send().await.unwrap_err();
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn bucket_errors_match_s3() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("errors");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    // In us-east-1 the owner's re-create answers 200 and changes nothing (not its ACL).
    let again = s3.create_bucket().bucket(&name).acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead);
    again.send().await.unwrap();
    let acl = s3.get_bucket_acl().bucket(&name).send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "still private: {:?}", acl.grants());
    // Elsewhere it is BucketAlreadyOwnedByYou.
    let dir = tempfile::tempdir().unwrap();
    let eu_server = Server::start_in(dir.path(), &["--region", "eu-west-1"]);
    let eu = aws_sdk_s3::Client::from_conf(
        eu_server
            .config_as(crate::support::ROOT_KEY, crate::support::ROOT_SECRET)
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .build(),
    );
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    eu.create_bucket().bucket(&name).create_bucket_configuration(location.clone()).send().await.unwrap();
    let err =
        eu.create_bucket().bucket(&name).create_bucket_configuration(location).send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (409, "BucketAlreadyOwnedByYou"));

    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let err = alice.create_bucket().bucket(&name).send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (409, "BucketAlreadyExists"));

    for bad in ["ab", "Upper-Case", "under_score", "192.168.1.1", "-leading", "trailing-", "a..b"] {
        let err = s3.create_bucket().bucket(bad).send().await.unwrap_err();
        assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidBucketName"), "bucket {bad:?}");
    }

    s3.put_object().bucket(&name).key("k").body(b"v".to_vec().into()).send().await.unwrap();
    let err = s3.delete_bucket().bucket(&name).send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (409, "BucketNotEmpty"));

    // Object Lock at creation turns versioning on.
    let locked = bucket("locked");
    s3.create_bucket().bucket(&locked).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let versioning = s3.get_bucket_versioning().bucket(&locked).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
}

#[tokio::test]
async fn each_key_is_its_own_user() {
    let server = Server::start();
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let root = server.client();
    let name = bucket("alices");
    alice.create_bucket().bucket(&name).send().await.unwrap();
    alice.put_object().bucket(&name).key("secret.txt").body(b"hers".to_vec().into()).send().await.unwrap();

    let err = bob.get_object().bucket(&name).key("secret.txt").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (403, "AccessDenied"));
    let err = bob.put_object().bucket(&name).key("mine").body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    let err = bob.list_objects_v2().bucket(&name).send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    let err = bob.delete_bucket().bucket(&name).send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    let err = bob.delete_object().bucket(&name).key("secret.txt").send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDenied");
    assert!(bob.list_buckets().send().await.unwrap().buckets().is_empty(), "bob sees only his buckets");

    let listed = root.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1, "root administers every bucket");
    let got = root.get_object().bucket(&name).key("secret.txt").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hers");
}

#[tokio::test]
async fn list_buckets_pages_with_max_buckets_and_a_token() {
    let server = Server::start();
    let s3 = server.client();
    let names: Vec<String> = (0..5).map(|i| bucket(&format!("page-{i}"))).collect();
    for name in &names {
        s3.create_bucket().bucket(name).send().await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = s3
            .list_buckets()
            .max_buckets(2)
            .prefix(bucket("page-"))
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.buckets().len() <= 2);
        seen.extend(page.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names);
    let other_region = s3.list_buckets().bucket_region("eu-west-1").send().await.unwrap();
    assert!(other_region.buckets().is_empty(), "every bucket is in this node's region");
    let err = s3.list_buckets().max_buckets(0).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
    let err = s3.list_buckets().continuation_token("%%%").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
}
