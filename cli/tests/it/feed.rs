//! The event feed against the real server: SSE and WebSocket subscribers, resume,
//! filters, access, slow subscribers, limits and MinIO-style listen.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use futures::{SinkExt, StreamExt};
use serde_json::Value;

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET, ROOT_KEY, ROOT_SECRET};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const WAIT: Duration = Duration::from_secs(30);

/// A signed GET of `path_and_query`, with extra headers.
fn signed(
    server: &Server,
    key: &str,
    secret: &str,
    path_and_query: &str,
    extra: &[(&str, &str)],
) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder()
        .method("GET")
        .uri(format!("{}{path_and_query}", server.endpoint))
        .header("host", server.address.as_str())
        .header("x-amz-content-sha256", EMPTY_SHA256);
    for (k, v) in extra {
        builder = builder.header(*k, *v);
    }
    let mut request = builder.body(Vec::new()).unwrap();
    support::sign(&mut request, key, secret, EMPTY_SHA256, SystemTime::now());
    request
}

pub(crate) async fn subscribe_as(
    server: &Server,
    key: &str,
    secret: &str,
    query: &str,
    last_id: Option<u64>,
) -> reqwest::Response {
    let last = last_id.map(|id| id.to_string());
    let mut headers = vec![("accept", "text/event-stream")];
    if let Some(last) = &last {
        headers.push(("last-event-id", last.as_str()));
    }
    let request = signed(server, key, secret, &format!("/_rucket/v1/events?{query}"), &headers);
    let request = reqwest::Request::try_from(request.map(reqwest::Body::from)).unwrap();
    reqwest::Client::new().execute(request).await.unwrap()
}

async fn subscribe(server: &Server, query: &str) -> Sse {
    let response = subscribe_as(server, ROOT_KEY, ROOT_SECRET, query, None).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    Sse::new(response)
}

/// One SSE frame.
#[derive(Debug, Default)]
struct Frame {
    id: Option<u64>,
    event: Option<String>,
    data: String,
    comment: String,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }

    fn is_event(&self) -> bool {
        self.event.is_none() && !self.data.is_empty()
    }
}

struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next frame, or `None` at the end of the stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        frame.id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        frame.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        frame.data.push_str(v);
                    } else if let Some(v) = line.strip_prefix(':') {
                        frame.comment.push_str(v.trim());
                    }
                }
                if frame.id.is_none() && frame.data.is_empty() && frame.event.is_none() {
                    continue; // the preamble (retry and a comment)
                }
                return Some(frame);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk()).await.expect("the feed went quiet");
            match chunk.unwrap() {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// The next event frame, skipping heartbeats.
    async fn next_event(&mut self) -> Frame {
        loop {
            let frame = self.next().await.expect("the feed ended");
            if frame.is_event() {
                return frame;
            }
        }
    }
}

async fn put(client: &Client, bucket: &str, key: &str) {
    client.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
}

async fn create(client: &Client, bucket: &str) {
    client.create_bucket().bucket(bucket).send().await.unwrap();
}

#[tokio::test]
async fn history_then_live_in_order_without_gap_or_duplicate() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-seam");
    create(&client, &bucket).await;
    for i in 0..30 {
        put(&client, &bucket, &format!("k{i:03}")).await;
    }
    let mut sse = subscribe(&server, &format!("bucket={bucket}&from=oldest")).await;
    // More writes while history is being read.
    let writer = {
        let client = client.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            for i in 30..80 {
                put(&client, &bucket, &format!("k{i:03}")).await;
            }
        })
    };
    let first = sse.next_event().await;
    assert_eq!(first.json()["event_name"], "rucket:BucketCreated");
    assert_eq!(first.id, Some(1));
    let mut previous = 1;
    for i in 0..80 {
        let frame = sse.next_event().await;
        let message = frame.json();
        let position = frame.id.unwrap();
        assert_eq!(position, previous + 1, "positions are dense for a single writer");
        assert_eq!(message["position"], position);
        assert_eq!(message["event_name"], "s3:ObjectCreated:Put");
        assert_eq!(message["event"]["key"], format!("k{i:03}"));
        assert_eq!(message["event"]["position"], position);
        assert!(message["event_id"].as_str().unwrap().len() == 32);
        assert_eq!(message["origin_region"], "us-east-1");
        assert!(message["hlc"]["time"].as_u64().unwrap() > 0);
        previous = position;
    }
    writer.await.unwrap();
}

#[tokio::test]
async fn a_reconnect_with_the_last_id_resumes_exactly_after_it() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-resume");
    create(&client, &bucket).await;
    let writer = {
        let client = client.clone();
        let bucket = bucket.clone();
        tokio::spawn(async move {
            for i in 0..120 {
                put(&client, &bucket, &format!("k{i:03}")).await;
            }
        })
    };
    let mut keys = Vec::new();
    let mut last = 1u64; // BucketCreated
                         // Three connections, each dropped mid-stream while the writer goes on.
    for round in 0..4 {
        let query = format!("bucket={bucket}&events=s3:ObjectCreated:*");
        let response = subscribe_as(&server, ROOT_KEY, ROOT_SECRET, &query, Some(last)).await;
        let mut sse = Sse::new(response);
        let take = if round < 3 { 25 } else { 120 - keys.len() };
        for _ in 0..take {
            let frame = sse.next_event().await;
            let id = frame.id.unwrap();
            assert_eq!(id, last + 1, "no gap and no duplicate across reconnects");
            last = id;
            keys.push(frame.json()["event"]["key"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..120).map(|i| format!("k{i:03}")).collect();
    assert_eq!(keys, expected);
    writer.await.unwrap();
}

#[tokio::test]
async fn filters_formats_and_heartbeats() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-filter");
    let other = support::bucket("feed-other");
    create(&client, &bucket).await;
    create(&client, &other).await;
    for key in ["logs/a.txt", "logs/b.csv", "img/c.txt", "logs/a b.txt"] {
        put(&client, &bucket, key).await;
    }
    put(&client, &other, "logs/z.txt").await;
    client.delete_object().bucket(&bucket).key("logs/a.txt").send().await.unwrap();
    // A failed operation emits nothing.
    let failed = client
        .put_object()
        .bucket(&bucket)
        .key("logs/b.csv")
        .if_none_match("*")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::status(&failed), 412);

    let mut sse = subscribe(
        &server,
        &format!("bucket={bucket}&prefix=logs/&suffix=.txt&events=s3:ObjectCreated:*&from=oldest"),
    )
    .await;
    assert_eq!(sse.next_event().await.json()["event"]["key"], "logs/a.txt");
    assert_eq!(sse.next_event().await.json()["event"]["key"], "logs/a b.txt");

    let mut removed = subscribe(&server, "events=s3:ObjectRemoved:*&from=oldest&format=s3").await;
    let frame = removed.next_event().await;
    let record = &frame.json()["event"]["Records"][0];
    assert_eq!(record["eventName"], "ObjectRemoved:Delete");
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["s3"]["bucket"]["name"], bucket.as_str());
    assert_eq!(record["s3"]["object"]["key"], "logs/a.txt");
    assert_eq!(record["s3"]["object"]["sequencer"], format!("{:016X}", frame.id.unwrap()));

    let mut created =
        subscribe(&server, &format!("bucket={bucket}&prefix=logs/a&format=s3&from=oldest")).await;
    let spaced = created.next_event().await;
    assert_eq!(spaced.json()["event"]["Records"][0]["s3"]["object"]["key"], "logs/a.txt");
    let spaced = created.next_event().await;
    assert_eq!(spaced.json()["event"]["Records"][0]["s3"]["object"]["key"], "logs/a+b.txt", "form-encoded");

    // A filter nothing matches still advances through heartbeats that carry the head.
    let head = 8; // two buckets, five objects, one delete; the refused PUT emitted nothing
    let mut quiet =
        subscribe(&server, &format!("bucket={bucket}&prefix=nothing/&from=oldest&heartbeat=1")).await;
    // First the start (id 0, nothing served yet), then a heartbeat that has served it all.
    let start = quiet.next().await.unwrap();
    assert_eq!(start.id, Some(0));
    assert!(!start.is_event());
    let beat = quiet.next().await.unwrap();
    assert!(!beat.is_event());
    assert!(beat.comment.contains(&format!("head={head}")), "{beat:?}");
    assert_eq!(beat.id, Some(head));
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-errors");
    create(&client, &bucket).await;
    for (query, status, code) in [
        ("after=99", 400, "InvalidArgument"),
        ("events=s3:ObjectCreated:Putt", 400, "InvalidArgument"),
        ("bucket=t-no-such-bucket", 404, "NoSuchBucket"),
        ("from=oldest&after=1", 400, "InvalidArgument"),
    ] {
        let response = subscribe_as(&server, ROOT_KEY, ROOT_SECRET, query, None).await;
        assert_eq!(response.status(), status, "{query}");
        let body = response.text().await.unwrap();
        assert!(body.contains(&format!("<Code>{code}</Code>")), "{query}: {body}");
    }
    // Unsigned.
    let response = reqwest::get(format!("{}/_rucket/v1/events", server.endpoint)).await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn users_see_events_of_their_own_buckets_only() {
    let server = Server::start();
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let (a, b) = (support::bucket("feed-alice"), support::bucket("feed-bob"));
    create(&alice, &a).await;
    create(&bob, &b).await;

    let denied = subscribe_as(&server, ALICE_KEY, ALICE_SECRET, &format!("bucket={b}"), None).await;
    assert_eq!(denied.status(), 403);
    assert!(denied.text().await.unwrap().contains("AccessDenied"));

    let response = subscribe_as(&server, ALICE_KEY, ALICE_SECRET, "from=oldest", None).await;
    assert_eq!(response.status(), 200);
    let mut sse = Sse::new(response);
    put(&bob, &b, "secret").await;
    put(&alice, &a, "mine").await;
    let first = sse.next_event().await.json();
    assert_eq!(first["event_name"], "rucket:BucketCreated");
    assert_eq!(first["bucket"], a.as_str());
    let second = sse.next_event().await.json();
    assert_eq!(second["bucket"], a.as_str());
    assert_eq!(second["event"]["key"], "mine", "bob's event was not delivered to alice");

    // Ownership is followed through bucket events even when the filter drops them: a
    // bucket name alice gave up and bob took is bob's.
    let response = subscribe_as(&server, ALICE_KEY, ALICE_SECRET, "events=s3:ObjectCreated:*", None).await;
    let mut filtered = Sse::new(response);
    let reused = support::bucket("feed-reused");
    create(&alice, &reused).await;
    put(&alice, &reused, "alices").await;
    alice.delete_object().bucket(&reused).key("alices").send().await.unwrap();
    alice.delete_bucket().bucket(&reused).send().await.unwrap();
    create(&bob, &reused).await;
    put(&bob, &reused, "bobs").await;
    put(&alice, &a, "sentinel").await;
    assert_eq!(filtered.next_event().await.json()["event"]["key"], "alices");
    assert_eq!(filtered.next_event().await.json()["event"]["key"], "sentinel", "bob's object stays hidden");
}

#[tokio::test]
async fn presigned_urls_subscribe_like_an_event_source() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-presigned");
    create(&client, &bucket).await;
    put(&client, &bucket, "a").await;

    let url = format!("{}/_rucket/v1/events?bucket={bucket}&from=oldest", server.endpoint);
    let identity = aws_credential_types::Credentials::new(ROOT_KEY, ROOT_SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [("host", server.address.as_str())];
    let signable =
        SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::UnsignedPayload).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method("GET").uri(&url).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    assert!(presigned.contains("X-Amz-Signature="));

    let response =
        reqwest::Client::new().get(&presigned).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut sse = Sse::new(response);
    assert_eq!(sse.next_event().await.json()["event_name"], "rucket:BucketCreated");
    assert_eq!(sse.next_event().await.json()["event"]["key"], "a");

    // A tampered URL is refused.
    let tampered = presigned.replace("from=oldest", "from=now");
    let response = reqwest::get(&tampered).await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn since_starts_at_a_time() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-since");
    create(&client, &bucket).await;
    put(&client, &bucket, "before").await;
    tokio::time::sleep(Duration::from_millis(20)).await; // two distinct instants
    let since =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    put(&client, &bucket, "after").await;
    let mut sse = subscribe(&server, &format!("bucket={bucket}&since={since}")).await;
    assert_eq!(sse.next_event().await.json()["event"]["key"], "after");
}

#[tokio::test]
async fn subscriber_limits_answer_slow_down() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(temp.path(), &["--feed-max-per-key", "2"]);
    let first = subscribe(&server, "").await;
    let second = subscribe(&server, "").await;
    let third = subscribe_as(&server, ROOT_KEY, ROOT_SECRET, "", None).await;
    assert_eq!(third.status(), 503);
    let body = third.text().await.unwrap();
    assert!(body.contains("<Code>SlowDown</Code>") && body.contains("limit"), "{body}");
    // Another key has its own allowance.
    let other = subscribe_as(&server, ALICE_KEY, ALICE_SECRET, "", None).await;
    assert_eq!(other.status(), 200);
    drop((first, second));
}

/// Number of subscribers ended for overflow, from the metrics endpoint.
async fn overflows(server: &Server) -> u64 {
    let text =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("rucket_feed_overflows_total "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_slow_subscriber_is_closed_with_its_resume_position() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(temp.path(), &["--feed-buffer", "4", "--feed-stall-ms", "200"]);
    let client = server.client();
    let bucket = support::bucket("feed-slow");
    create(&client, &bucket).await;

    // A subscriber with a tiny receive window that does not read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.address.parse().unwrap()).await.unwrap();
    let request = signed(
        &server,
        ROOT_KEY,
        ROOT_SECRET,
        &format!("/_rucket/v1/events?bucket={bucket}"),
        &[("accept", "text/event-stream")],
    );
    let mut head = format!("GET {} HTTP/1.1\r\n", request.uri().path_and_query().unwrap());
    for (k, v) in request.headers() {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();

    // Write until the server gives up on the subscriber.
    let metadata = "m".repeat(1800);
    let mut written = 0;
    while overflows(&server).await == 0 {
        assert!(written < 20_000, "the subscriber was never disconnected");
        let mut puts = Vec::new();
        for _ in 0..100 {
            let request = client
                .put_object()
                .bucket(&bucket)
                .key(format!("k{written:05}"))
                .metadata("pad", &metadata)
                .body(ByteStream::from_static(b"x"));
            puts.push(request.send());
            written += 1;
        }
        for put in futures::future::join_all(puts).await {
            put.unwrap();
        }
    }

    // Everything it was sent, then the overflow notice naming the last delivered id.
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&received);
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let mut ids = Vec::new();
    let mut notice = None;
    for block in body.split("\n\n") {
        let dechunked: Vec<&str> = block.lines().collect();
        if let Some(id) = dechunked.iter().find_map(|l| l.strip_prefix("id: ")) {
            ids.push(id.parse::<u64>().unwrap());
        }
        if dechunked.contains(&"event: overflow") {
            let data = dechunked.iter().find_map(|l| l.strip_prefix("data: ")).unwrap();
            notice = Some(serde_json::from_str::<Value>(data).unwrap());
        }
    }
    let notice = notice.expect("the stream ends with an overflow notice");
    let last = ids.last().copied().unwrap_or(1);
    assert_eq!(notice["position"], last, "the notice names the last delivered position");
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no gap before the overflow");
    }

    // Resuming after it delivers the rest, without a gap.
    let response =
        subscribe_as(&server, ROOT_KEY, ROOT_SECRET, &format!("bucket={bucket}"), Some(last)).await;
    let mut sse = Sse::new(response);
    let total = written as u64 + 1; // and BucketCreated at 1
    let mut expected = last + 1;
    while expected <= total {
        let frame = sse.next_event().await;
        assert_eq!(frame.id, Some(expected));
        expected += 1;
    }
}

#[tokio::test]
async fn websocket_subscribers_receive_events_and_resume() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-ws");
    create(&client, &bucket).await;
    put(&client, &bucket, "a").await;

    let connect = |query: String| {
        let path = format!("/_rucket/v1/events?{query}");
        let signed = signed(
            &server,
            ROOT_KEY,
            ROOT_SECRET,
            &path,
            &[
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        );
        let mut request = format!("ws://{}{path}", server.address).into_client_request().unwrap();
        for (k, v) in signed.headers() {
            request.headers_mut().insert(k, v.clone());
        }
        tokio_tungstenite::connect_async(request)
    };
    let (mut ws, response) = connect(format!("bucket={bucket}&from=oldest&heartbeat=1")).await.unwrap();
    assert_eq!(response.status(), 101);
    let start = next_json(&mut ws).await;
    assert_eq!((start["type"].as_str(), start["position"].as_u64()), (Some("heartbeat"), Some(0)));
    assert_eq!(next_json(&mut ws).await["event_name"], "rucket:BucketCreated");
    let a = next_json(&mut ws).await;
    assert_eq!(a["event"]["key"], "a");
    put(&client, &bucket, "b").await;
    let b = next_json(&mut ws).await;
    assert_eq!(b["event"]["key"], "b");
    assert_eq!(b["position"], 3);
    let beat = next_json(&mut ws).await;
    assert_eq!(beat["type"], "heartbeat");
    assert_eq!(beat["position"], 3);
    ws.close(None).await.unwrap();

    // Resume after `a`: `b` comes next.
    let (mut ws, _) = connect(format!("bucket={bucket}&after=2")).await.unwrap();
    assert_eq!(next_json(&mut ws).await["position"], 2, "the start heartbeat names the cursor");
    let message = next_json(&mut ws).await;
    assert_eq!(message["event"]["key"], "b");
    ws.send(Message::Close(None)).await.unwrap();
}

/// The next text message of a WebSocket, as JSON (pings are skipped).
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Text(text) => return serde_json::from_str::<Value>(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn minio_listen_streams_records_lines() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-listen");
    create(&client, &bucket).await;
    let request = signed(
        &server,
        ROOT_KEY,
        ROOT_SECRET,
        &format!("/{bucket}?events=s3:ObjectCreated:*&prefix=p/&ping=1"),
        &[],
    );
    let request = reqwest::Request::try_from(request.map(reqwest::Body::from)).unwrap();
    let mut response = reqwest::Client::new().execute(request).await.unwrap();
    assert_eq!(response.status(), 200);
    put(&client, &bucket, "q/skip").await;
    put(&client, &bucket, "p/one").await;
    let mut buffer = String::new();
    let mut records = Vec::new();
    let mut keepalives = 0;
    while records.is_empty() || keepalives == 0 {
        let chunk = tokio::time::timeout(WAIT, response.chunk()).await.unwrap().unwrap().unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let value: Value = serde_json::from_str(line.trim()).unwrap();
            let list = value["Records"].as_array().unwrap().clone();
            if list.is_empty() {
                keepalives += 1;
            }
            records.extend(list);
        }
    }
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["eventName"], "s3:ObjectCreated:Put", "MinIO keeps the s3: prefix");
    assert_eq!(records[0]["s3"]["object"]["key"], "p/one");
}

#[tokio::test]
async fn stopping_the_server_ends_subscriptions_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(temp.path(), &[]);
    let client = server.client();
    let bucket = support::bucket("feed-stop");
    create(&client, &bucket).await;
    let mut sse = subscribe(&server, "from=oldest").await;
    assert_eq!(sse.next_event().await.id, Some(1));
    tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    let end = sse.next().await.expect("an end notice");
    assert_eq!(end.event.as_deref(), Some("shutdown"));
    assert_eq!(end.json()["position"], 1);
    assert!(sse.next().await.is_none());
}

/// Runs `rucket events tail` with `args` against `server` and returns its stdout lines.
async fn tail(server: &Server, args: &[&str]) -> Vec<String> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"));
    command
        .args(["events", "tail", "--endpoint", &server.endpoint])
        .args(["--access-key", ROOT_KEY, "--secret-key", ROOT_SECRET])
        .args(args)
        .stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || command.output()))
        .await
        .expect("tail did not finish")
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn events_tail_prints_events_and_resumes_from_its_state_file() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("feed-tail");
    create(&client, &bucket).await;
    for key in ["a", "b", "c"] {
        put(&client, &bucket, key).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cursor");
    let state = state.to_str().unwrap();
    let lines = tail(
        &server,
        &["--bucket", &bucket, "--from", "oldest", "--count", "2", "--format", "line", "--state", state],
    )
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("1\t") && lines[0].contains("rucket:BucketCreated"), "{lines:?}");
    assert!(lines[1].starts_with("2\t") && lines[1].ends_with(&format!("{bucket}/a")), "{lines:?}");
    assert_eq!(std::fs::read_to_string(state).unwrap().trim(), "2");

    // The next run resumes after the state file's position (its --from is ignored).
    let lines =
        tail(&server, &["--bucket", &bucket, "--from", "now", "--count", "2", "--state", state]).await;
    let keys: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["event"]["key"].clone()).collect();
    assert_eq!(keys, ["b", "c"]);
    assert_eq!(std::fs::read_to_string(state).unwrap().trim(), "4");

    // A refusal is an error with the server's reason.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"));
    let output = command
        .args(["events", "tail", "--endpoint", &server.endpoint, "--access-key", ROOT_KEY])
        .args(["--secret-key", ROOT_SECRET, "--after", "999"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ahead of the archive head"));
}
