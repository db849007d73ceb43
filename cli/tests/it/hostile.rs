//! Slow and hostile clients cannot freeze the node: stalled uploads hold no thread and are
//! cut off after the body timeout, past the upload cap they are refused at once, half-sent
//! request heads are closed after the header timeout, and past the connection cap new
//! connections are refused at once; meanwhile a normal client is served.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use rucket_cli::sigv4::{Payload, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET};

/// Opens a signed PUT that declares 16 MiB, sends 64 KiB and stops.
async fn stalled_upload(server: &Server, bucket: &str, n: usize) -> TcpStream {
    let path = format!("/{bucket}/stalled-{n}");
    let signer = Signer::new(BOB_KEY, BOB_SECRET, "us-east-1").with_payload(Payload::Unsigned);
    let extra = format!("content-length: {}\r\n", 16 << 20);
    let mut socket =
        support::send_signed_head(server, &signer, ("PUT", &path), Bytes::from_static(b"x"), &extra).await;
    socket.write_all(&vec![1u8; 64 << 10]).await.unwrap();
    socket
}

/// What the server answered on a connection (until it closed it), within `wait`.
async fn answer(mut socket: TcpStream, wait: Duration) -> String {
    let mut response = Vec::new();
    let _ = tokio::time::timeout(wait, socket.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// Opens `n` connections that each send half a request head (`line` then a header cut
/// short), then waits up to 30 s for what the server answered on each.
async fn half_sent_heads(server: &Server, n: usize, line: &str) -> Vec<String> {
    let mut sockets = Vec::new();
    for _ in 0..n {
        let mut socket = TcpStream::connect(&server.address).await.unwrap();
        socket.write_all(format!("{line} HTTP/1.1\r\nhost: x\r\nx-half: ").as_bytes()).await.unwrap();
        sockets.push(socket);
    }
    futures::future::join_all(sockets.into_iter().map(|socket| answer(socket, Duration::from_secs(30)))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_hundred_stalled_uploads_neither_freeze_the_node_nor_leave_bytes_behind() {
    const BODY_TIMEOUT: u64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--body-timeout-secs", &BODY_TIMEOUT.to_string()]);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let stalled_bucket = support::bucket("stalled");
    let normal_bucket = support::bucket("normal");
    bob.create_bucket().bucket(&stalled_bucket).send().await.unwrap();
    alice.create_bucket().bucket(&normal_bucket).send().await.unwrap();

    let started = Instant::now();
    let mut stalled = Vec::new();
    for n in 0..600 {
        stalled.push(stalled_upload(&server, &stalled_bucket, n).await);
    }
    // Another user keeps working, and is served while the stalled bodies are still open.
    let body = vec![9u8; 256 << 10];
    for n in 0..20 {
        let key = format!("k{n}");
        let put = alice.put_object().bucket(&normal_bucket).key(&key);
        put.body(ByteStream::from(body.clone())).send().await.unwrap();
        let got = alice.get_object().bucket(&normal_bucket).key(&key).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), body.len());
    }
    let served_in = started.elapsed();
    assert!(served_in < Duration::from_secs(BODY_TIMEOUT), "the normal client waited {served_in:?}");
    let ready = reqwest::get(format!("{}/_rucket/health/ready", server.endpoint)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200, "the node is not saturated by one key's uploads");

    // Past the per-key cap the rest were refused at once; the others are cut off after
    // the body timeout, with nothing left behind.
    let answers = futures::future::join_all(
        stalled.into_iter().map(|socket| answer(socket, Duration::from_secs(BODY_TIMEOUT + 20))),
    )
    .await;
    let timed_out = answers.iter().filter(|a| a.contains("<Code>RequestTimeout</Code>")).count();
    let refused = answers.iter().filter(|a| a.starts_with("HTTP/1.1 503") && a.contains("SlowDown")).count();
    assert_eq!(timed_out, 256, "one key streams at most 256 bodies at once");
    assert_eq!(refused, 600 - 256, "{:?}", answers.iter().find(|a| !a.contains("RequestTimeout")));
    assert!(started.elapsed() >= Duration::from_secs(BODY_TIMEOUT));
    let listed = bob.list_objects_v2().bucket(&stalled_bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "no stalled upload became an object");
    // Give the aborted uploads' cleanup a moment, then no blob file is left.
    let blobs = server.data_dir().join("blobs");
    for _ in 0..100 {
        if support::files_under(&blobs) == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(support::files_under(&blobs), 20, "only the normal client's 20 objects have bytes");
    let timeouts = support::metric(&server, "rucket_rejections_total{reason=\"body_timeout\"}").await;
    assert_eq!(timeouts, Some(256.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_sent_request_heads_are_closed_and_excess_connections_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--header-timeout-secs", "5", "--max-connections", "300"]);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bucket = support::bucket("heads");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();

    let started = Instant::now();
    // Connections that never say a word are closed after the header timeout too.
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(TcpStream::connect(&server.address).await.unwrap());
    }
    let answers = half_sent_heads(&server, 500, "GET /").await;
    let refused = answers.iter().filter(|a| a.starts_with("HTTP/1.1 503") && a.contains("SlowDown")).count();
    // How many refusals are answered rather than closed depends on timing (128 answers in
    // flight at most, each draining its request for up to 200 ms; a loaded CI machine
    // once saw 71 of 200): that every excess connection was refused is the metric below.
    // (The header timeout, 5 s, outlasts opening the 500 connections, so none of the
    // first 300 is closed to make room before the rest arrive.)
    assert!(refused > 0, "past the cap of 300, connections are answered 503 at once ({refused})");
    let odd: Vec<_> = answers.iter().filter(|a| !a.is_empty() && !a.contains("SlowDown")).take(3).collect();
    assert!(odd.is_empty(), "a half-sent request got neither a refusal nor a close: {odd:?}");
    for mut socket in silent {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent connection was closed: {read:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(30), "every half-sent head was closed");
    // With them gone, a normal client is served and the node is ready.
    let put = alice.put_object().bucket(&bucket).key("after");
    put.body(ByteStream::from_static(b"ok")).send().await.unwrap();
    let ready = reqwest::get(format!("{}/_rucket/health/ready", server.endpoint)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let refusals = support::metric(&server, "rucket_rejections_total{reason=\"connections\"}").await;
    assert!(refusals.unwrap_or(0.0) >= 200.0, "past the cap of 300, connections are refused ({refusals:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_half_sent_requests_under_a_low_file_limit_leave_the_node_serving() {
    const HALF_SENT: usize = 2000;
    // This process holds the client ends: it needs more descriptors than the server.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 3 * HALF_SENT as u64 && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err()
        || hard < 3 * HALF_SENT as u64
    {
        eprintln!("SKIPPED: this process may not open {} files (limit {soft}/{hard})", 3 * HALF_SENT);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = Server::start_file_limited(dir.path(), 1024, &["--header-timeout-secs", "3"]) else {
        return;
    };
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("connection and upload caps lowered"), "{log}");
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bucket = support::bucket("low-files");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();

    let started = Instant::now();
    let answers = half_sent_heads(&server, HALF_SENT, "PUT /x").await;
    let odd: Vec<_> = answers.iter().filter(|a| !a.is_empty() && !a.contains("SlowDown")).take(3).collect();
    assert!(odd.is_empty(), "a half-sent request got neither a refusal nor a close: {odd:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "every half-sent request was closed");
    // The node never ran out of descriptors, and serves again.
    let put = alice.put_object().bucket(&bucket).key("after");
    put.body(ByteStream::from(vec![1u8; 100_000])).send().await.unwrap();
    let got = alice.get_object().bucket(&bucket).key("after").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 100_000);
    let ready = reqwest::get(format!("{}/_rucket/health/ready", server.endpoint)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let failed_accepts = support::metric(&server, "rucket_rejections_total{reason=\"accept_failed\"}").await;
    assert_eq!(failed_accepts.unwrap_or(0.0), 0.0, "an accept failed (out of descriptors?)");
    // 1,024 descriptors leave room for 256 connections at once; the rest are refused at
    // once (answered 503 while few refusals are in flight, else closed); a few more get
    // a slot as the first ones time out while the 2,000 connect.
    let refusals = support::metric(&server, "rucket_rejections_total{reason=\"connections\"}").await;
    assert!(refusals.unwrap_or(0.0) >= (HALF_SENT / 2) as f64, "too few refused: {refusals:?}");
    assert!(answers.iter().any(|a| a.contains("SlowDown")), "no refusal was answered 503 SlowDown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_the_server_reads_whole_time_out_too() {
    // Configuration bodies are read by the S3 layer, not streamed into the blob store:
    // with a declared length or chunked, a client that stalls is cut off all the same.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--body-timeout-secs", "2"]);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let bucket = support::bucket("stalled-xml");
    bob.create_bucket().bucket(&bucket).send().await.unwrap();
    let signer = Signer::new(BOB_KEY, BOB_SECRET, "us-east-1").with_payload(Payload::Unsigned);
    let path = format!("/{bucket}?tagging");
    let started = Instant::now();
    let mut declared =
        support::send_signed_head(&server, &signer, ("PUT", &path), Bytes::new(), "content-length: 1000\r\n")
            .await;
    declared.write_all(b"<Tagging><TagSet>").await.unwrap();
    let mut chunked = support::send_signed_head(
        &server,
        &signer,
        ("PUT", &path),
        Bytes::new(),
        "transfer-encoding: chunked\r\n",
    )
    .await;
    chunked.write_all(b"11\r\n<Tagging><TagSet>\r\n").await.unwrap();
    // An object body without a length is read whole too, to learn its length.
    let mut unsized_object = support::send_signed_head(
        &server,
        &signer,
        ("PUT", &format!("/{bucket}/unsized")),
        Bytes::new(),
        "transfer-encoding: chunked\r\n",
    )
    .await;
    unsized_object.write_all(b"5\r\nhello\r\n").await.unwrap();
    for socket in [declared, chunked, unsized_object] {
        let said = answer(socket, Duration::from_secs(20)).await;
        assert!(said.starts_with("HTTP/1.1 400") && said.contains("RequestTimeout"), "{said}");
    }
    assert!(started.elapsed() < Duration::from_secs(15), "the stalled bodies were cut off");
    let timeouts = support::metric(&server, "rucket_rejections_total{reason=\"body_timeout\"}").await;
    assert_eq!(timeouts, Some(3.0));
    // Nothing was applied.
    let tags = bob.get_bucket_tagging().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&tags), "NoSuchTagSet");
    let object = bob.head_object().bucket(&bucket).key("unsized").send().await.unwrap_err();
    assert_eq!(support::status(&object), 404);
}

#[tokio::test]
async fn limits_s3_enforces_are_enforced() {
    let server = Server::start();
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bucket = support::bucket("limits");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();

    // User metadata: 2 KB of names and values at most.
    let big = alice.put_object().bucket(&bucket).key("meta").metadata("big", "x".repeat(3000));
    let err = big.body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!((support::status(&err), support::code(&err).as_str()), (400, "MetadataTooLarge"));
    let fits = alice.put_object().bucket(&bucket).key("meta").metadata("ok", "x".repeat(2000));
    fits.body(ByteStream::from_static(b"x")).send().await.unwrap();
    let head = alice.head_object().bucket(&bucket).key("meta").send().await.unwrap();
    assert_eq!(head.metadata().and_then(|m| m.get("ok")).map(String::len), Some(2000));
    let upload = alice.create_multipart_upload().bucket(&bucket).key("mp").metadata("big", "y".repeat(3000));
    let err = upload.send().await.unwrap_err();
    assert_eq!(support::code(&err), "MetadataTooLarge");

    // A malformed tagging header.
    for bad in ["a=%ZZ", "a=%E2%28"] {
        let put = alice.put_object().bucket(&bucket).key("tagged").tagging(bad);
        let err = put.body(ByteStream::from_static(b"x")).send().await.unwrap_err();
        assert_eq!((support::status(&err), support::code(&err).as_str()), (400, "InvalidArgument"), "{bad}");
    }

    // Configuration bodies: refused past 1 MiB, naming the limit, before they are read.
    let signer = Signer::new(ALICE_KEY, ALICE_SECRET, "us-east-1");
    let padding = "x".repeat(2 << 20);
    let lifecycle = format!(
        "<LifecycleConfiguration><!-- {padding} --><Rule><ID>r</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>"
    );
    for (query, body) in
        [("lifecycle", lifecycle), ("policy", format!("{{\"Statement\":[],\"x\":\"{padding}\"}}"))]
    {
        // Sent by hand: the answer comes before the body is read, so only the head goes.
        let path = format!("/{bucket}?{query}");
        let extra = format!("content-length: {}\r\n", padding.len() + 200);
        let socket =
            support::send_signed_head(&server, &signer, ("PUT", &path), Bytes::from(body), &extra).await;
        let text = answer(socket, Duration::from_secs(10)).await;
        assert!(text.starts_with("HTTP/1.1 400"), "{query}: {text}");
        assert!(
            text.contains("<Code>MaxMessageLengthExceeded</Code>") && text.contains("1048576 bytes"),
            "{text}"
        );
    }
    // The same without a declared length (chunked): read up to the limit, then refused.
    let path = format!("/{bucket}?tagging");
    let chunked = "transfer-encoding: chunked\r\n";
    let mut socket =
        support::send_signed_head(&server, &signer, ("PUT", &path), Bytes::from_static(b"x"), chunked).await;
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..20 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if socket.write_all(&frame).await.is_err() {
            break;
        }
    }
    let text = answer(socket, Duration::from_secs(10)).await;
    assert!(text.contains("<Code>MaxMessageLengthExceeded</Code>"), "{text}");
    let lifecycle = alice.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&lifecycle), "NoSuchLifecycleConfiguration", "nothing was stored");
}
