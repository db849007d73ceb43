//! Server access logging against the real binary: records the server still holds when it
//! stops (SIGTERM) are delivered before it exits, those of a request still running then
//! too.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};

use crate::support::{self, Server};

/// A server in `dir` that delivers only when it stops (an hour between deliveries), with
/// buckets `source` and `target` and the source's records going to `target` under `prefix`.
async fn logged_server(dir: &std::path::Path, source: &str, target: &str, prefix: &str) -> Server {
    let server = Server::start_in(dir, &["--access-log-flush-ms", "3600000"]);
    let client = server.client();
    for name in [source, target] {
        client.create_bucket().bucket(name).send().await.unwrap();
    }
    let enabled = LoggingEnabled::builder().target_bucket(target).target_prefix(prefix).build().unwrap();
    client
        .put_bucket_logging()
        .bucket(source)
        .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(enabled).build())
        .send()
        .await
        .unwrap();
    server
}

/// Every record delivered to `target` under `prefix`, read through a server restarted in
/// `dir`.
async fn delivered(dir: &std::path::Path, target: &str, prefix: &str) -> Vec<String> {
    let server = Server::start_in(dir, &[]);
    let client = server.client();
    let listed = client.list_objects_v2().bucket(target).prefix(prefix).send().await.unwrap();
    let mut lines = Vec::new();
    for object in listed.contents() {
        let got = client.get_object().bucket(target).key(object.key().unwrap()).send().await.unwrap();
        let bytes = got.body.collect().await.unwrap().into_bytes();
        lines.extend(std::str::from_utf8(&bytes).unwrap().lines().map(str::to_owned));
    }
    lines
}

/// The fields of the record of `operation` on `key`:
/// `owner bucket [time +0000] ip requester id operation key "METHOD URI VERSION" status ...`
fn record<'a>(lines: &'a [String], operation: &str, key: &str) -> Vec<&'a str> {
    let line = lines
        .iter()
        .find(|l| l.split(' ').nth(7) == Some(operation) && l.split(' ').nth(8) == Some(key))
        .unwrap_or_else(|| panic!("no {operation} of {key} in {lines:#?}"));
    line.split(' ').collect()
}

#[tokio::test]
async fn held_records_are_delivered_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (support::bucket("logged"), support::bucket("logs"));
    let mut server = logged_server(dir.path(), &source, &target, "logs/").await;
    let client = server.client();
    client.put_object().bucket(&source).key("a").body(ByteStream::from_static(b"abc")).send().await.unwrap();
    client.get_object().bucket(&source).key("a").send().await.unwrap();
    let listed = client.list_objects_v2().bucket(&target).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing is delivered before the stop");
    server.stop();

    let lines = delivered(dir.path(), &target, "logs/").await;
    for operation in ["REST.PUT.OBJECT", "REST.GET.OBJECT"] {
        let fields = record(&lines, operation, "a");
        assert_eq!((fields[1], fields[12]), (source.as_str(), "200"), "{fields:?}");
    }
}

/// A request still running when SIGTERM arrives is recorded and delivered too: the last
/// delivery waits for the last connection.
#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_delivered() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (support::bucket("inflight"), support::bucket("inflight-logs"));
    let mut server = logged_server(dir.path(), &source, &target, "l/").await;
    let url = server
        .client()
        .put_object()
        .bucket(&source)
        .key("slow")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    let body = vec![b'x'; 4096];
    let mut socket = tokio::net::TcpStream::connect(&server.address).await.unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        uri.path_and_query().unwrap(),
        server.address,
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body[..100]).await.unwrap();
    // The handler holds an upload slot once it reads the body.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while support::metric(&server, "rucket_uploads_in_flight").await != Some(1.0) {
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal(nix::sys::signal::Signal::SIGTERM);
    // The server is stopping once it takes no new connection; only then does the upload
    // finish.
    while tokio::net::TcpStream::connect(&server.address).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the server kept accepting connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    socket.write_all(&body[100..]).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
    server.stop();

    let lines = delivered(dir.path(), &target, "l/").await;
    let fields = record(&lines, "REST.PUT.OBJECT", "slow");
    assert_eq!((fields[1], fields[12]), (source.as_str(), "200"), "{fields:?}");
}

/// Requests refused before their signature is checked are recorded as S3 records them:
/// anonymous, under the bucket and key they address, with the error code.
#[tokio::test]
async fn requests_refused_before_their_signature_is_checked_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (support::bucket("refused"), support::bucket("refused-logs"));
    let mut server = logged_server(dir.path(), &source, &target, "r/").await;
    let client = server.client();
    client
        .put_object()
        .bucket(&source)
        .key("a b")
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .unwrap();
    let wrong_secret = server.client_as(support::ROOT_KEY, "not-the-secret");
    let refused = wrong_secret.get_object().bucket(&source).key("a b").send().await.unwrap_err();
    assert_eq!(support::code(&refused), "SignatureDoesNotMatch");
    let unknown = server.client_as("NOSUCHKEY0000000000", "whatever");
    let refused = unknown.head_bucket().bucket(&source).send().await.unwrap_err();
    assert_eq!(support::status(&refused), 403);
    server.stop();

    let lines = delivered(dir.path(), &target, "r/").await;
    let fields = record(&lines, "REST.GET.OBJECT", "a%20b");
    // requester, status, error code
    assert_eq!((fields[5], fields[12], fields[13]), ("-", "403", "SignatureDoesNotMatch"), "{fields:?}");
    let fields = record(&lines, "REST.HEAD.BUCKET", "-");
    assert_eq!((fields[1], fields[5], fields[12]), (source.as_str(), "-", "403"), "{fields:?}");
    assert_eq!(fields[13], "InvalidAccessKeyId", "{fields:?}");
}
