//! Encryption at rest against the real server: SSE refused (naming the setting) without
//! a master key, SSE-C refused over plain HTTP, and a master key rotation that re-wraps
//! data keys (and re-seals KMS keys) without rewriting object bytes.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use base64::Engine as _;

use crate::support::{self, Server};

/// Every blob file under the data dir, with its bytes.
fn blob_files(server: &Server) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for sub in std::fs::read_dir(server.data_dir().join("blobs")).unwrap() {
        for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            files.insert(path.clone(), std::fs::read(path).unwrap());
        }
    }
    files
}

#[tokio::test]
async fn sse_needs_a_master_key_and_ssec_needs_tls() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("sse-nokey");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let err = client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "InvalidRequest");
    let message = err.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
    assert!(message.contains("RUCKET_MASTER_KEY_FILE"), "{message}");

    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    let err = client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64.encode(key))
        .sse_customer_key_md5(b64.encode(<md5::Md5 as md5::Digest>::digest(key)))
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "InvalidRequest");
    let message = err.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
    assert!(message.contains("secure connection"), "{message}");
    let listed = client.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing was written");
}

#[tokio::test]
async fn rotation_rewraps_data_keys_without_rewriting_objects() {
    let keys = tempfile::tempdir().unwrap();
    let (old, new, unrelated) = (
        support::write_master_key(keys.path(), "old", 1),
        support::write_master_key(keys.path(), "new", 2),
        support::write_master_key(keys.path(), "x", 3),
    );
    let dir = tempfile::tempdir().unwrap();
    let bucket = support::bucket("rotate");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let part: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 241) as u8).collect();

    let mut server = Server::start_in(dir.path(), &["--master-key-file", &old]);
    let client = server.client();
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("object")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    // SSE-KMS under the store's default key, created on this first use and sealed by the
    // old master key.
    let put = client
        .put_object()
        .bucket(&bucket)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id(), Some("aws/s3"));
    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("upload")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    let etag = client
        .upload_part()
        .bucket(&bucket)
        .key("upload")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    server.stop();
    let before = blob_files(&server);

    // The new key with the old one as previous: everything is re-wrapped in the background.
    let mut server =
        Server::start_in(dir.path(), &["--master-key-file", &new, "--previous-master-key-file", &old]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while support::metric(&server, "rucket_data_keys_under_previous_master_keys").await != Some(0.0) {
        assert!(tokio::time::Instant::now() < deadline, "the rotation did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        support::metric(&server, "rucket_data_keys_rewrapped_total").await,
        Some(3.0),
        "one object, one upload, one KMS key (its objects' data keys stay under it)"
    );
    server.stop();
    assert_eq!(blob_files(&server), before, "no object byte was rewritten");

    // The old key is gone: everything still opens, the upload completes.
    let mut server = Server::start_in(dir.path(), &["--master-key-file", &new]);
    let client = server.client();
    let got = client.get_object().bucket(&bucket).key("object").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());
    let got = client.get_object().bucket(&bucket).key("kms").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("upload")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = client.get_object().bucket(&bucket).key("upload").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), part.as_slice());
    server.stop();

    // A master key that wrapped nothing here opens nothing.
    let server = Server::start_in(dir.path(), &["--master-key-file", &unrelated]);
    let err = server.client().get_object().bucket(&bucket).key("object").send().await.unwrap_err();
    assert_eq!(support::code(&err), "InternalError");
    let err = server.client().get_object().bucket(&bucket).key("kms").send().await.unwrap_err();
    assert_eq!(support::code(&err), "InternalError");
}
