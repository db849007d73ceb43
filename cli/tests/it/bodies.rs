//! Request bodies the SDK will not produce on purpose: aws-chunked with trailing
//! checksums (good and bad), broken framing, bodies shorter than declared, and payloads
//! that do not match their signed hash. A refused body never leaves an object behind.

use std::time::SystemTime;

use base64::Engine as _;

use crate::support::{bucket, hex_sha256, send_raw, sign, Server, ROOT_KEY, ROOT_SECRET};

fn crc32_b64(data: &[u8]) -> String {
    let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data) as u32;
    base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())
}

fn chunked(data: &[u8], chunk: usize, trailer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailer.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out
}

fn request(
    server: &Server,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    payload_hash: &str,
) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder().method("PUT").uri(format!("{}{path}", server.endpoint));
    builder = builder.header("host", server.address.as_str()).header("x-amz-content-sha256", payload_hash);
    for (k, v) in headers {
        builder = builder.header(*k, v.as_str());
    }
    let mut req = builder.body(body).unwrap();
    sign(&mut req, ROOT_KEY, ROOT_SECRET, payload_hash, SystemTime::now());
    // The raw sender writes the path, not the absolute URI.
    *req.uri_mut() = path.parse().unwrap();
    req
}

async fn exists(server: &Server, name: &str, key: &str) -> bool {
    server.client().head_object().bucket(name).key(key).send().await.is_ok()
}

#[tokio::test]
async fn aws_chunked_trailing_checksums_are_verified() {
    let server = Server::start();
    let name = bucket("chunked");
    server.client().create_bucket().bucket(&name).send().await.unwrap();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let headers = |len: usize| {
        vec![
            ("content-encoding", "aws-chunked".to_owned()),
            ("x-amz-decoded-content-length", len.to_string()),
            ("x-amz-trailer", "x-amz-checksum-crc32".to_owned()),
        ]
    };
    const TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

    let body = chunked(&data, 16_384, &format!("x-amz-checksum-crc32:{}", crc32_b64(&data)));
    let req = request(&server, &format!("/{name}/good"), body, &headers(data.len()), TRAILER);
    let (status, text) = send_raw(&server.address, &req, None).await;
    assert_eq!(status, 200, "{text}");
    let got = server.client().get_object().bucket(&name).key("good").send().await.unwrap();
    assert_eq!(got.content_encoding(), None, "aws-chunked is not the object's encoding");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());

    let body = chunked(&data, 16_384, &format!("x-amz-checksum-crc32:{}", crc32_b64(b"other")));
    let req = request(&server, &format!("/{name}/bad-trailer"), body, &headers(data.len()), TRAILER);
    let (status, text) = send_raw(&server.address, &req, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>BadDigest</Code>"), "{text}");
    assert!(!exists(&server, &name, "bad-trailer").await);

    // A frame that claims more bytes than it carries.
    let mut body = b"ffff\r\n".to_vec();
    body.extend_from_slice(&data[..100]);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let req = request(&server, &format!("/{name}/broken"), body, &headers(0xffff), TRAILER);
    let (status, text) = send_raw(&server.address, &req, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("IncompleteBody"), "{text}");
    assert!(!exists(&server, &name, "broken").await);
}

#[tokio::test]
async fn short_bodies_and_hash_mismatches_store_nothing() {
    let server = Server::start();
    let name = bucket("short");
    server.client().create_bucket().bucket(&name).send().await.unwrap();
    let data = vec![7u8; 50_000];

    // The client declares 100,000 bytes, sends 50,000 and closes its side.
    let req = request(&server, &format!("/{name}/short"), data.clone(), &[], "UNSIGNED-PAYLOAD");
    let (status, text) = send_raw(&server.address, &req, Some(100_000)).await;
    assert!(status == 400 || status == 0, "a short body must not succeed: {text}");
    assert!(status == 0 || text.contains("IncompleteBody"), "{text}");
    assert!(!exists(&server, &name, "short").await);

    // The body does not match the SHA-256 that was signed.
    let signed_hash = hex_sha256(b"a different body");
    let req = request(&server, &format!("/{name}/mismatch"), data.clone(), &[], &signed_hash);
    let (status, text) = send_raw(&server.address, &req, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("XAmzContentSHA256Mismatch"), "{text}");
    assert!(!exists(&server, &name, "mismatch").await);

    // And the same body with its true hash is accepted.
    let req = request(&server, &format!("/{name}/signed"), data.clone(), &[], &hex_sha256(&data));
    let (status, text) = send_raw(&server.address, &req, None).await;
    assert_eq!(status, 200, "{text}");
    assert!(exists(&server, &name, "signed").await);
}
