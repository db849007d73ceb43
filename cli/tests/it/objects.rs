//! Object reads and writes through the Rust SDK.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, ObjectIdentifier};
use base64::Engine as _;

use crate::support::{bucket, code, status, Server};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[tokio::test]
async fn bodies_metadata_and_headers_round_trip() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("roundtrip");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    // Inline (small), just over the threshold, and a multi-megabyte streamed body.
    for (key, size) in
        [("empty", 0), ("small", 100), ("threshold", 4096), ("over", 4097), ("large", 9 * 1024 * 1024 + 7)]
    {
        let body = pattern(size, size as u8);
        let put = s3
            .put_object()
            .bucket(&name)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .content_type("text/x-rucket")
            .cache_control("max-age=60")
            .content_disposition("attachment; filename=\"a.txt\"")
            .content_encoding("identity")
            .content_language("en")
            .expires(DateTime::from_secs(2_000_000_000))
            .metadata("color", "blue")
            .metadata("camera", "x100")
            .send()
            .await
            .unwrap();
        assert_eq!(put.e_tag(), Some(format!("\"{}\"", md5_hex(&body)).as_str()), "{key}");

        let got = s3.get_object().bucket(&name).key(key).send().await.unwrap();
        assert_eq!(got.content_length(), Some(size as i64));
        assert_eq!(got.content_type(), Some("text/x-rucket"));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.content_disposition(), Some("attachment; filename=\"a.txt\""));
        assert_eq!(got.content_encoding(), Some("identity"));
        assert_eq!(got.content_language(), Some("en"));
        assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
        let meta = got.metadata().unwrap();
        assert_eq!(
            (meta.get("color").map(String::as_str), meta.get("camera").map(String::as_str)),
            (Some("blue"), Some("x100"))
        );
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice(), "{key}");

        let head = s3.head_object().bucket(&name).key(key).send().await.unwrap();
        assert_eq!(head.content_length(), Some(size as i64));
        assert_eq!(head.e_tag(), put.e_tag());
    }
}

#[tokio::test]
async fn ranges_and_conditional_reads() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("ranges");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let body = pattern(100_000, 7);
    let put = s3.put_object().bucket(&name).key("r").body(body.clone().into()).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();

    for (range, expect) in [
        ("bytes=0-9", &body[0..10]),
        ("bytes=99990-", &body[99_990..]),
        ("bytes=-5", &body[99_995..]),
        ("bytes=50000-50000", &body[50_000..50_001]),
    ] {
        let got = s3.get_object().bucket(&name).key("r").range(range).send().await.unwrap();
        assert!(got.content_range().unwrap().starts_with("bytes "), "{range}");
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), expect, "{range}");
    }
    let err = s3.get_object().bucket(&name).key("r").range("bytes=100000-").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (416, "InvalidRange"));
    s3.put_object().bucket(&name).key("empty").body(Vec::new().into()).send().await.unwrap();
    for range in ["bytes=-5", "bytes=0-0"] {
        let err = s3.get_object().bucket(&name).key("empty").range(range).send().await.unwrap_err();
        assert_eq!((status(&err), code(&err).as_str()), (416, "InvalidRange"), "{range} on an empty object");
    }

    // Presigned links override response headers with response-* parameters.
    let url = s3
        .get_object()
        .bucket(&name)
        .key("r")
        .response_content_disposition("attachment; filename=\"report.bin\"")
        .response_content_type("application/x-report")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap(),
        )
        .await
        .unwrap();
    let response = reqwest::get(url.uri()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"report.bin\"");
    assert_eq!(response.headers()["content-type"], "application/x-report");

    let got = s3.get_object().bucket(&name).key("r").if_match(&etag).send().await.unwrap();
    assert_eq!(got.content_length(), Some(100_000));
    let err = s3.get_object().bucket(&name).key("r").if_match("\"0000\"").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (412, "PreconditionFailed"));
    let err = s3.get_object().bucket(&name).key("r").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(status(&err), 304);
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    s3.get_object().bucket(&name).key("r").if_modified_since(past).send().await.unwrap();
    let err = s3.get_object().bucket(&name).key("r").if_modified_since(future).send().await.unwrap_err();
    assert_eq!(status(&err), 304);
    let err = s3.get_object().bucket(&name).key("r").if_unmodified_since(past).send().await.unwrap_err();
    assert_eq!(status(&err), 412);
    let err = s3.head_object().bucket(&name).key("r").if_match("\"0000\"").send().await.unwrap_err();
    assert_eq!(status(&err), 412);
}

#[tokio::test]
async fn missing_things_and_bad_keys() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("missing");
    let err = s3.get_object().bucket(&name).key("k").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchBucket"));
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let err = s3.get_object().bucket(&name).key("k").send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchKey"));
    let err = s3.head_object().bucket(&name).key("k").send().await.unwrap_err();
    assert_eq!(status(&err), 404);
    let long = "k".repeat(1025);
    let err = s3.put_object().bucket(&name).key(&long).body(b"x".to_vec().into()).send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "KeyTooLongError"));
    let err = s3
        .put_object()
        .bucket(&name)
        .key("k")
        .body(b"x".to_vec().into())
        .storage_class("NOT_A_CLASS".into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidStorageClass");
    let err = s3
        .put_object()
        .bucket(&name)
        .key("k")
        .body(b"x".to_vec().into())
        .website_redirect_location("/elsewhere")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (501, "NotImplemented"));
    let listed = s3.list_objects_v2().bucket(&name).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "refused writes store nothing");
    // Deleting what is not there succeeds, as in S3.
    s3.delete_object().bucket(&name).key("never-was").send().await.unwrap();
}

#[tokio::test]
async fn digests_are_verified_and_bad_ones_store_nothing() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("digests");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = pattern(10_000, 3);
    use md5::Digest;
    let good_md5 = b64.encode(md5::Md5::digest(&body));
    s3.put_object()
        .bucket(&name)
        .key("md5")
        .body(body.clone().into())
        .content_md5(&good_md5)
        .send()
        .await
        .unwrap();
    let wrong_md5 = b64.encode(md5::Md5::digest(b"something else"));
    let err = s3
        .put_object()
        .bucket(&name)
        .key("bad-md5")
        .body(body.clone().into())
        .content_md5(&wrong_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "BadDigest"));
    let err = s3
        .put_object()
        .bucket(&name)
        .key("bad-md5")
        .body(body.clone().into())
        .content_md5("not base64!")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidDigest"));

    let crc = b64.encode(&crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &body).to_be_bytes()[4..]);
    s3.put_object()
        .bucket(&name)
        .key("crc")
        .body(body.clone().into())
        .checksum_crc32(&crc)
        .send()
        .await
        .unwrap();
    let err = s3
        .put_object()
        .bucket(&name)
        .key("bad-crc")
        .body(body.clone().into())
        .checksum_crc32("AAAAAA==")
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "BadDigest"));

    let err = s3.head_object().bucket(&name).key("bad-md5").send().await.unwrap_err();
    assert_eq!(status(&err), 404);
    let err = s3.head_object().bucket(&name).key("bad-crc").send().await.unwrap_err();
    assert_eq!(status(&err), 404);

    // The SDK's own checksum (computed and sent by default) is stored and returned.
    s3.put_object()
        .bucket(&name)
        .key("sdk")
        .body(body.clone().into())
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .unwrap();
    let head =
        s3.head_object().bucket(&name).key("sdk").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    let expect =
        b64.encode(&crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &body).to_be_bytes()[4..]);
    assert_eq!(head.checksum_crc32_c(), Some(expect.as_str()));
    let got =
        s3.get_object().bucket(&name).key("crc").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc.as_str()));
}

#[tokio::test]
async fn overwrite_and_delete_leave_no_garbage() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("garbage");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let big = pattern(200_000, 1);
    s3.put_object().bucket(&name).key("k").body(big.clone().into()).send().await.unwrap();
    s3.put_object().bucket(&name).key("k").body(pattern(300_000, 2).into()).send().await.unwrap();
    s3.put_object().bucket(&name).key("gone").body(big.into()).send().await.unwrap();
    s3.delete_object().bucket(&name).key("gone").send().await.unwrap();
    let blobs = server.data_dir().join("blobs");
    // Releases run off the request path; wait for them by polling the directory.
    let mut files = 0;
    for _ in 0..200 {
        files = crate::support::files_under(&blobs);
        if files == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(files, 1, "only the current version of k keeps a blob");
    let got = s3.get_object().bucket(&name).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), pattern(300_000, 2).as_slice());
    // A write the log rejects (here a failed If-None-Match) leaves nothing behind either,
    // and by the time the client hears the refusal.
    let refused = s3
        .put_object()
        .bucket(&name)
        .key("k")
        .if_none_match("*")
        .body(pattern(250_000, 4).into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert_eq!(crate::support::files_under(&blobs), 1, "the refused body was removed");
    let metrics =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "rucket_blobs_collected_total 2"),
        "the collector removed the two released blobs:\n{metrics}"
    );
}

#[tokio::test]
async fn a_corrupted_chunk_is_never_served() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("bitrot");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let data = pattern(300_000, 3);
    s3.put_object().bucket(&name).key("k").body(data.clone().into()).send().await.unwrap();
    let files = crate::support::paths_under(&server.data_dir().join("blobs"));
    assert_eq!(files.len(), 1, "one blob: {files:?}");
    // Flip one bit in the third 64 KiB chunk, as a failing disk might.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[2 * 65536 + 7] ^= 0x04;
    std::fs::write(&files[0], &bytes).unwrap();

    let err = s3.get_object().bucket(&name).key("k").range("bytes=140000-140100").send().await.unwrap_err();
    let service = err.into_service_error();
    assert_eq!(service.meta().code(), Some("RucketDataCorrupt"), "{service:?}");
    // The whole object: the first block is fine, so the answer has begun, and the body is
    // cut off at the damaged chunk instead of carrying bad bytes.
    match s3.get_object().bucket(&name).key("k").send().await {
        Ok(got) => assert!(got.body.collect().await.is_err(), "the damaged body was served"),
        Err(e) => assert_eq!(e.into_service_error().meta().code(), Some("RucketDataCorrupt")),
    }
    // Chunks before the damage still read.
    let head = s3.get_object().bucket(&name).key("k").range("bytes=0-99999").send().await.unwrap();
    assert_eq!(head.body.collect().await.unwrap().into_bytes().as_ref(), &data[..100_000]);
    let metrics =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    let count: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rucket_blob_corruptions_total "))
        .expect("the corruption counter is exported")
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 2.0, "each refused read counts: {count}");
}

#[tokio::test]
async fn delete_objects_reports_each_key() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("multi-delete");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    for i in 0..5 {
        s3.put_object().bucket(&name).key(format!("k{i}")).body(b"v".to_vec().into()).send().await.unwrap();
    }
    let ids: Vec<ObjectIdentifier> = ["k0", "k1", "k2", "absent"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let out = s3
        .delete_objects()
        .bucket(&name)
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["absent", "k0", "k1", "k2"]);
    assert!(out.errors().is_empty());
    let listed = s3.list_objects_v2().bucket(&name).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["k3", "k4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_writes_have_exactly_one_winner() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("races");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    for round in 0..3 {
        let key = format!("lock-{round}");
        let racers = (0..24).map(|i| {
            let s3 = s3.clone();
            let (name, key) = (name.clone(), key.clone());
            async move {
                let body = format!("racer {i}").into_bytes();
                (i, s3.put_object().bucket(&name).key(&key).if_none_match("*").body(body.into()).send().await)
            }
        });
        let results = futures::future::join_all(racers).await;
        let winners: Vec<usize> = results.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins, got {winners:?}");
        for (_, r) in results.iter().filter(|(_, r)| r.is_err()) {
            let err = r.as_ref().unwrap_err();
            assert_eq!((status(err), code(err).as_str()), (412, "PreconditionFailed"));
        }
        let got = s3.get_object().bucket(&name).key(&key).send().await.unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            body.as_ref(),
            format!("racer {}", winners[0]).as_bytes(),
            "the stored object is the winner's"
        );
    }
    // If-Match races: every writer names the current ETag; only the first in log order wins.
    let current =
        s3.head_object().bucket(&name).key("lock-0").send().await.unwrap().e_tag().unwrap().to_owned();
    let racers = (0..16).map(|i| {
        let (s3, name, etag) = (s3.clone(), name.clone(), current.clone());
        async move {
            s3.put_object()
                .bucket(&name)
                .key("lock-0")
                .if_match(etag)
                .body(format!("next {i}").into_bytes().into())
                .send()
                .await
        }
    });
    let results = futures::future::join_all(racers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "one If-Match writer wins");
}
