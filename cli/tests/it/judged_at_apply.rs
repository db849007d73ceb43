//! Access is judged where the log decides: a command carries its request's facts and
//! apply evaluates the policies from its own views, so a Deny committed between the
//! gateway's check and the write's apply still refuses the write.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use rucket_cli::sigv4::{Payload, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET};

fn policy(effect: &str, bucket: &str) -> String {
    serde_json::json!({
        "Statement": [{
            "Effect": effect,
            "Principal": {"AWS": ["arn:aws:iam::000000000000:user/alice"]},
            "Action": ["s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/alice/*"),
        }]
    })
    .to_string()
}

#[tokio::test]
async fn a_deny_committed_while_a_body_uploads_refuses_the_write_at_apply() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let name = support::bucket("deny-mid-upload");
    bob.create_bucket().bucket(&name).send().await.unwrap();
    bob.put_bucket_policy().bucket(&name).policy(policy("Allow", &name)).send().await.unwrap();

    // Alice starts a 64 MiB PUT the policy allows and sends half of its body.
    let total: usize = 64 << 20;
    let path = format!("/{name}/alice/big");
    let signer = Signer::new(ALICE_KEY, ALICE_SECRET, "us-east-1").with_payload(Payload::Unsigned);
    let extra = format!("content-length: {total}\r\nconnection: close\r\n");
    let mut socket =
        support::send_signed_head(&server, &signer, ("PUT", &path), Bytes::from_static(b"x"), &extra).await;
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..32 {
        socket.write_all(&chunk).await.unwrap();
    }
    // 32 MiB is far past what socket buffers hold: the server is reading the body, so its
    // own access check has passed. Now the owner denies Alice.
    bob.put_bucket_policy().bucket(&name).policy(policy("Deny", &name)).send().await.unwrap();
    for _ in 32..64 {
        socket.write_all(&chunk).await.unwrap();
    }
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("<Code>AccessDenied</Code>"), "{response}");
    let missing = bob.head_object().bucket(&name).key("alice/big").send().await.unwrap_err();
    assert_eq!(support::status(&missing), 404, "nothing is visible");

    // With the Allow back, the same write goes through.
    bob.put_bucket_policy().bucket(&name).policy(policy("Allow", &name)).send().await.unwrap();
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let put = alice.put_object().bucket(&name).key("alice/small");
    put.body(ByteStream::from_static(b"ok")).send().await.unwrap();
}
