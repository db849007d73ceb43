//! Server access logging against the real binary: records the server still holds when it
//! stops (SIGTERM) are delivered before it exits.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};

use crate::support::{self, Server};

#[tokio::test]
async fn held_records_are_delivered_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    // An hour between deliveries: only the stop delivers.
    let mut server = Server::start_in(dir.path(), &["--access-log-flush-ms", "3600000"]);
    let client = server.client();
    let (source, target) = (support::bucket("logged"), support::bucket("logs"));
    for name in [&source, &target] {
        client.create_bucket().bucket(name).send().await.unwrap();
    }
    let enabled = LoggingEnabled::builder().target_bucket(&target).target_prefix("logs/").build().unwrap();
    client
        .put_bucket_logging()
        .bucket(&source)
        .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(enabled).build())
        .send()
        .await
        .unwrap();
    client.put_object().bucket(&source).key("a").body(ByteStream::from_static(b"abc")).send().await.unwrap();
    client.get_object().bucket(&source).key("a").send().await.unwrap();
    let listed = client.list_objects_v2().bucket(&target).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing is delivered before the stop");
    server.stop();

    let server = Server::start_in(dir.path(), &[]);
    let client = server.client();
    let listed = client.list_objects_v2().bucket(&target).prefix("logs/").send().await.unwrap();
    let mut lines = Vec::new();
    for object in listed.contents() {
        let got = client.get_object().bucket(&target).key(object.key().unwrap()).send().await.unwrap();
        let text = String::from_utf8(got.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    let find = |operation: &str| {
        lines
            .iter()
            .find(|l| l.split(' ').nth(7) == Some(operation))
            .unwrap_or_else(|| panic!("no {operation} in {lines:#?}"))
    };
    for operation in ["REST.PUT.OBJECT", "REST.GET.OBJECT"] {
        // bucket [time +0000] ip requester id operation key "METHOD URI VERSION" status
        let fields: Vec<&str> = find(operation).split(' ').collect();
        assert_eq!((fields[1], fields[8], fields[12]), (source.as_str(), "a", "200"), "{fields:?}");
    }
}

/// A request still running when SIGTERM arrives is recorded and delivered too: the last
/// delivery waits for the last connection.
#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_delivered() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &["--access-log-flush-ms", "3600000"]);
    let client = server.client();
    let (source, target) = (support::bucket("inflight"), support::bucket("inflight-logs"));
    for name in [&source, &target] {
        client.create_bucket().bucket(name).send().await.unwrap();
    }
    let enabled = LoggingEnabled::builder().target_bucket(&target).target_prefix("l/").build().unwrap();
    client
        .put_bucket_logging()
        .bucket(&source)
        .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(enabled).build())
        .send()
        .await
        .unwrap();
    let url = client
        .put_object()
        .bucket(&source)
        .key("slow")
        .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap())
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
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while support::metric(&server, "rucket_uploads_in_flight").await != Some(1.0) {
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.signal(nix::sys::signal::Signal::SIGTERM);
    // The server is stopping once it takes no new connection; only then does the upload
    // finish.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&server.address).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the server kept accepting connections");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    socket.write_all(&body[100..]).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
    server.stop();

    let server = Server::start_in(dir.path(), &[]);
    let client = server.client();
    let listed = client.list_objects_v2().bucket(&target).prefix("l/").send().await.unwrap();
    let mut text = String::new();
    for object in listed.contents() {
        let got = client.get_object().bucket(&target).key(object.key().unwrap()).send().await.unwrap();
        let bytes = got.body.collect().await.unwrap().into_bytes();
        text.push_str(std::str::from_utf8(&bytes).unwrap());
    }
    assert!(
        text.lines().any(|l| l.contains(" REST.PUT.OBJECT slow ") && l.contains(" 200 ")),
        "the in-flight PUT was not delivered: {text}"
    );
}
