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
