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
