//! Multipart uploads through the Rust SDK.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use aws_sdk_s3::primitives::ByteStream;

use crate::support::{self, bucket, code, status, Server};

const MIB: usize = 1 << 20;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) ^ (i >> 12) as u8).collect()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build()).collect(),
        ))
        .build()
}

fn blob_files(server: &Server) -> usize {
    crate::support::files_under(&server.data_dir().join("blobs"))
}

async fn wait_for_blobs(server: &Server, n: usize) -> usize {
    let mut found = 0;
    for _ in 0..200 {
        found = blob_files(server);
        if found == n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    found
}

#[tokio::test]
async fn upload_list_complete_and_read_back() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("multipart");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let created = s3
        .create_multipart_upload()
        .bucket(&name)
        .key("big/file.bin")
        .content_type("application/x-test")
        .metadata("origin", "multipart")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_owned();
    let bodies = [data(5 * MIB, 1), data(5 * MIB + 3, 2), data(1000, 3)];
    let mut etags = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let out = s3
            .upload_part()
            .bucket(&name)
            .key("big/file.bin")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let uploads = s3.list_multipart_uploads().bucket(&name).send().await.unwrap();
    assert_eq!(uploads.uploads().iter().map(|u| u.upload_id().unwrap()).collect::<Vec<_>>(), [id.as_str()]);
    let parts =
        s3.list_parts().bucket(&name).key("big/file.bin").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(parts.parts().iter().map(|p| p.part_number().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.parts()[1].size(), Some(5 * MIB as i64 + 3));
    let rest = s3
        .list_parts()
        .bucket(&name)
        .key("big/file.bin")
        .upload_id(&id)
        .part_number_marker(parts.next_part_number_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.parts().iter().map(|p| p.part_number().unwrap()).collect::<Vec<_>>(), [3]);
    let err = s3.get_object().bucket(&name).key("big/file.bin").send().await.unwrap_err();
    assert_eq!(status(&err), 404, "an incomplete upload keeps no visible object");
    // (Uploads in progress no longer keep a bucket: DeleteBucket aborts them, as S3 does;
    // see buckets and test_s3_multipart.py.)

    let done = s3
        .complete_multipart_upload()
        .bucket(&name)
        .key("big/file.bin")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]))
        .send()
        .await
        .unwrap();
    let etag = done.e_tag().unwrap().to_owned();
    assert!(etag.ends_with("-3\""), "{etag}");
    assert_eq!(blob_files(&server), 3, "the object refers to the part blobs; nothing was copied");

    let whole: Vec<u8> = bodies.concat();
    let got = s3.get_object().bucket(&name).key("big/file.bin").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.metadata().unwrap().get("origin").map(String::as_str), Some("multipart"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), whole.as_slice());

    let from = 5 * MIB - 10;
    let to = 10 * MIB + 10;
    let ranged = s3
        .get_object()
        .bucket(&name)
        .key("big/file.bin")
        .range(format!("bytes={from}-{to}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes().as_ref(),
        &whole[from..=to],
        "a range across parts"
    );
    let second = s3.get_object().bucket(&name).key("big/file.bin").part_number(2).send().await.unwrap();
    assert_eq!(second.parts_count(), Some(3));
    assert_eq!(second.body.collect().await.unwrap().into_bytes().as_ref(), bodies[1].as_slice());
    let head = s3.head_object().bucket(&name).key("big/file.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    assert!(s3.list_multipart_uploads().bucket(&name).send().await.unwrap().uploads().is_empty());

    // Overwriting the object releases every part blob.
    s3.put_object()
        .bucket(&name)
        .key("big/file.bin")
        .body(b"small now".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(wait_for_blobs(&server, 0).await, 0);
}

#[tokio::test]
async fn completion_errors_match_s3_and_abort_cleans_up() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("mp-errors");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut etags = Vec::new();
    for (n, size) in [(1, 5 * MIB), (2, 1000), (3, 2000)] {
        let out = s3
            .upload_part()
            .bucket(&name)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(data(size, n as u8).into())
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let complete = |parts: CompletedMultipartUpload| {
        s3.complete_multipart_upload().bucket(&name).key("k").upload_id(&id).multipart_upload(parts).send()
    };
    let err = complete(completed(&[(1, &etags[0]), (2, "\"00000000000000000000000000000000\"")]))
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidPart"));
    let err = complete(completed(&[(1, &etags[0]), (7, &etags[1])])).await.unwrap_err();
    assert_eq!(code(&err), "InvalidPart");
    let err = complete(completed(&[(2, &etags[1]), (1, &etags[0])])).await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "InvalidPartOrder"));
    let err = complete(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])])).await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (400, "EntityTooSmall"));
    let err = s3.head_object().bucket(&name).key("k").send().await.unwrap_err();
    assert_eq!(status(&err), 404, "failed completions create nothing");

    // Uploading part 2 again replaces it; its first blob is released.
    let again = s3
        .upload_part()
        .bucket(&name)
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(data(3000, 9).into())
        .send()
        .await
        .unwrap();
    assert_ne!(again.e_tag().unwrap(), etags[1]);
    assert_eq!(wait_for_blobs(&server, 3).await, 3);

    // An empty part is a valid part (here a last part of nothing).
    let empty = s3
        .upload_part()
        .bucket(&name)
        .key("k")
        .upload_id(&id)
        .part_number(4)
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    assert_eq!(empty.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    let err = s3
        .upload_part()
        .bucket(&name)
        .key("k")
        .upload_id("0123456789abcdef0123456789abcdef")
        .part_number(1)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (404, "NoSuchUpload"));
    let err = s3
        .upload_part()
        .bucket(&name)
        .key("k")
        .upload_id(&id)
        .part_number(10_001)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");

    assert_eq!(blob_files(&server), 4, "the empty part is a blob too");
    s3.abort_multipart_upload().bucket(&name).key("k").upload_id(&id).send().await.unwrap();
    assert_eq!(wait_for_blobs(&server, 0).await, 0, "aborting releases every part");
    let err = complete(completed(&[(1, &etags[0])])).await.unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    let err = s3.abort_multipart_upload().bucket(&name).key("k").upload_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");
    s3.delete_bucket().bucket(&name).send().await.unwrap();
}

#[tokio::test]
async fn upload_part_copy_builds_parts_from_source_ranges() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket("part-copy");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let source: Vec<u8> = (0..6 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    client
        .put_object()
        .bucket(&bucket)
        .key("source")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let copy_source = format!("{bucket}/source");
    let upload = client.create_multipart_upload().bucket(&bucket).key("assembled").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, range) in
        [(1, format!("bytes=0-{}", 5 * MIB - 1)), (2, format!("bytes={}-{}", 5 * MIB, 6 * MIB - 1))]
    {
        let out = client
            .upload_part_copy()
            .bucket(&bucket)
            .key("assembled")
            .upload_id(upload_id)
            .part_number(n)
            .copy_source(&copy_source)
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let etag = out.copy_part_result().unwrap().e_tag().unwrap().to_owned();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let listed =
        client.list_parts().bucket(&bucket).key("assembled").upload_id(upload_id).send().await.unwrap();
    assert_eq!(
        listed.parts().iter().map(|p| p.size().unwrap()).collect::<Vec<_>>(),
        [5 * MIB as i64, MIB as i64]
    );
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("assembled")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let got = client.get_object().bucket(&bucket).key("assembled").send().await.unwrap();
    assert!(got.body.collect().await.unwrap().into_bytes() == source, "the copied parts equal the source");

    // The whole source without a range; its ETag is the source's MD5.
    let upload = client.create_multipart_upload().bucket(&bucket).key("whole").send().await.unwrap();
    let whole_id = upload.upload_id().unwrap();
    let out = client
        .upload_part_copy()
        .bucket(&bucket)
        .key("whole")
        .upload_id(whole_id)
        .part_number(1)
        .copy_source(&copy_source)
        .send()
        .await
        .unwrap();
    let md5 = {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(&source))
    };
    assert_eq!(out.copy_part_result().unwrap().e_tag(), Some(format!("\"{md5}\"").as_str()));

    // Bad requests.
    let attempt = |range: Option<&str>, if_match: Option<&str>, upload: &str, source: &str| {
        client
            .upload_part_copy()
            .bucket(&bucket)
            .key("whole")
            .upload_id(upload)
            .part_number(2)
            .copy_source(source)
            .set_copy_source_range(range.map(str::to_owned))
            .set_copy_source_if_match(if_match.map(str::to_owned))
            .send()
    };
    let err = attempt(Some("bytes=0-99999999"), None, whole_id, &copy_source).await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidRange");
    let err = attempt(Some("bytes=5-"), None, whole_id, &copy_source).await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidArgument");
    let err = attempt(None, Some("\"not-the-etag\""), whole_id, &copy_source).await.unwrap_err();
    assert_eq!(support::status(&err), 412);
    let err = attempt(None, None, "00000000000000000000000000000000", &copy_source).await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchUpload");
    let err = attempt(None, None, whole_id, &format!("{bucket}/missing")).await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchKey");
    let listed = client.list_parts().bucket(&bucket).key("whole").upload_id(whole_id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 1, "refused copies add no part");
}

#[tokio::test]
async fn get_object_attributes_reports_what_is_asked() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectAttributes};
    let server = Server::start();
    let client = server.client();
    let bucket = bucket("attributes");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("single")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"hello attributes"))
        .send()
        .await
        .unwrap();
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::ObjectSize,
        ObjectAttributes::StorageClass,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
    ];
    let got = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("single")
        .set_object_attributes(Some(all.to_vec()))
        .send()
        .await
        .unwrap();
    let md5 = {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(b"hello attributes"))
    };
    // AWS sends this ETag unquoted; s3s always quotes ETags in XML.
    assert_eq!(got.e_tag().map(|e| e.trim_matches('"')), Some(md5.as_str()));
    assert_eq!(got.object_size(), Some(16));
    assert_eq!(got.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    assert!(got.checksum().and_then(|c| c.checksum_sha256()).is_some());
    assert!(got.object_parts().is_none(), "a single-part object has no parts");
    // Only what is asked.
    let size_only = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("single")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!((size_only.object_size(), size_only.e_tag()), (Some(16), None));

    // A multipart object lists its parts, a page at a time.
    let upload = client.create_multipart_upload().bucket(&bucket).key("multi").send().await.unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, data(5 * MIB, 1)), (2, data(100, 2))] {
        let out = client
            .upload_part()
            .bucket(&bucket)
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("multi")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let got = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("multi")
        .object_attributes(ObjectAttributes::ObjectParts)
        .max_parts(1)
        .send()
        .await
        .unwrap();
    let object_parts = got.object_parts().unwrap();
    assert_eq!(object_parts.total_parts_count(), Some(2));
    assert_eq!(object_parts.is_truncated(), Some(true));
    assert_eq!(object_parts.parts().len(), 1);
    assert_eq!(object_parts.parts()[0].size(), Some(5 * MIB as i64));
    assert_eq!(object_parts.next_part_number_marker(), Some("1"));

    let err = client
        .get_object_attributes()
        .bucket(&bucket)
        .key("missing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoSuchKey");
}

#[tokio::test]
async fn multipart_objects_get_composite_and_full_object_checksums() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
    use base64::Engine as _;
    let server = Server::start();
    let client = server.client();
    let bucket = bucket("mp-checksums");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let bodies = [data(5 * MIB, 7), data(1000, 8)];
    let b64 = base64::engine::general_purpose::STANDARD;

    for algorithm in [ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Crc64Nvme] {
        let key = format!("obj-{}", algorithm.as_str());
        let upload = client
            .create_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap();
        let mut parts = Vec::new();
        for (n, body) in bodies.iter().enumerate() {
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(id)
                .part_number(n as i32 + 1)
                .checksum_algorithm(algorithm.clone())
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(n as i32 + 1)
                    .e_tag(out.e_tag().unwrap())
                    .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                    .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_owned))
                    .build(),
            );
        }
        // A part checksum that is not the stored one is refused.
        let mut wrong = parts.clone();
        wrong[1] = CompletedPart::builder()
            .part_number(2)
            .e_tag(parts[1].e_tag().unwrap())
            .checksum_sha256(b64.encode([0u8; 32]))
            .checksum_crc64_nvme(b64.encode([0u8; 8]))
            .build();
        let err = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(wrong)).build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidPart");
        let done = client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .unwrap();
        let got = client
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        match algorithm {
            ChecksumAlgorithm::Sha256 => {
                let composite = done.checksum_sha256().unwrap();
                assert!(composite.ends_with("-2"), "{composite}");
                assert_eq!(got.checksum_sha256(), Some(composite));
            }
            _ => {
                let whole = crc_fast::checksum(
                    crc_fast::CrcAlgorithm::Crc64Nvme,
                    &[&bodies[0][..], &bodies[1][..]].concat(),
                );
                let expected = b64.encode(whole.to_be_bytes());
                assert_eq!(
                    done.checksum_crc64_nvme(),
                    Some(expected.as_str()),
                    "the full-object CRC of the body"
                );
                assert_eq!(got.checksum_crc64_nvme(), Some(expected.as_str()));
            }
        }
    }
}
