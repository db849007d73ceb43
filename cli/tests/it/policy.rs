//! Bucket policies across users: a policy lets another user write and read part of a
//! bucket, decided at request time and carried through to apply time.

use aws_sdk_s3::primitives::ByteStream;

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET};

#[tokio::test]
async fn a_policy_lets_another_user_into_part_of_a_bucket() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let name = support::bucket("shared-by-policy");
    bob.create_bucket().bucket(&name).send().await.unwrap();
    let put = |client: &aws_sdk_s3::Client, key: &str| {
        client.put_object().bucket(&name).key(key).body(ByteStream::from_static(b"hello")).send()
    };
    let refused = put(&alice, "alice/one").await.unwrap_err();
    assert_eq!(support::code(&refused), "AccessDenied", "no grant, no policy: refused");

    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::000000000000:user/alice"]},
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": format!("arn:aws:s3:::{name}/alice/*"),
        }]
    });
    bob.put_bucket_policy().bucket(&name).policy(policy.to_string()).send().await.unwrap();
    put(&alice, "alice/one").await.unwrap();
    let got = alice.get_object().bucket(&name).key("alice/one").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");
    // Outside the policy's resources, and for actions it does not name, still refused.
    assert_eq!(support::code(&put(&alice, "bob/secret").await.unwrap_err()), "AccessDenied");
    let listing = alice.list_objects_v2().bucket(&name).send().await.unwrap_err();
    assert_eq!(support::code(&listing), "AccessDenied");
    let config = alice.get_bucket_policy().bucket(&name).send().await.unwrap_err();
    assert_eq!(support::code(&config), "AccessDenied", "the policy itself stays the owner's");
    alice.delete_object().bucket(&name).key("alice/one").send().await.unwrap();

    // Removing the policy takes the access away again.
    bob.delete_bucket_policy().bucket(&name).send().await.unwrap();
    assert_eq!(support::code(&put(&alice, "alice/two").await.unwrap_err()), "AccessDenied");
}

#[tokio::test]
async fn a_copy_reads_its_source_under_the_source_bucket_rules() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let victim = support::bucket("victim");
    let mine = support::bucket("mine");
    bob.create_bucket().bucket(&victim).send().await.unwrap();
    bob.put_object()
        .bucket(&victim)
        .key("secret")
        .body(ByteStream::from_static(b"s3cr3t"))
        .send()
        .await
        .unwrap();
    alice.create_bucket().bucket(&mine).send().await.unwrap();
    let allow_put = |bucket: &str, prefix: &str| {
        serde_json::json!({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*"),
        }]})
        .to_string()
    };
    let copy = |to_bucket: &str, to_key: &str| {
        alice.copy_object().bucket(to_bucket).key(to_key).copy_source(format!("{victim}/secret")).send()
    };
    // The destination's policy (alice's own bucket) says nothing about the source.
    alice.put_bucket_policy().bucket(&mine).policy(allow_put(&mine, "")).send().await.unwrap();
    assert_eq!(support::code(&copy(&mine, "loot").await.unwrap_err()), "AccessDenied");
    // A PutObject allowed inside the victim's bucket does not let alice read its objects.
    bob.put_bucket_policy().bucket(&victim).policy(allow_put(&victim, "uploads/")).send().await.unwrap();
    assert_eq!(support::code(&copy(&victim, "uploads/loot").await.unwrap_err()), "AccessDenied");
    let part_copy = async {
        let upload = alice.create_multipart_upload().bucket(&mine).key("parts").send().await.unwrap();
        alice
            .upload_part_copy()
            .bucket(&mine)
            .key("parts")
            .upload_id(upload.upload_id().unwrap())
            .part_number(1)
            .copy_source(format!("{victim}/secret"))
            .send()
            .await
    };
    assert_eq!(support::code(&part_copy.await.unwrap_err()), "AccessDenied");
    // The source bucket's own policy can let the read through.
    let allow_get = serde_json::json!({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{victim}/secret"),
    }]});
    bob.put_bucket_policy().bucket(&victim).policy(allow_get.to_string()).send().await.unwrap();
    copy(&mine, "shared-copy").await.unwrap();
    let got = alice.get_object().bucket(&mine).key("shared-copy").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"s3cr3t");
}
