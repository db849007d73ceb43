//! Bucket notifications: configuration through the S3 API, and webhook delivery that
//! survives a crash of the server mid-delivery.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter, TopicConfiguration,
};
use serde_json::Value;

use crate::support::{self, Server};

const ARN: &str = "arn:rucket:sqs:us-east-1:audit:webhook";

/// A webhook receiver on loopback that fails its first `failures` requests.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receiver(failures: usize) -> Receiver {
    use axum::routing::post;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(0usize));
    let app = {
        let bodies = Arc::clone(&bodies);
        axum::Router::new().route(
            "/hook",
            post(move |body: String| {
                let bodies = Arc::clone(&bodies);
                let calls = Arc::clone(&calls);
                async move {
                    let n = {
                        let mut calls = calls.lock().unwrap();
                        *calls += 1;
                        *calls
                    };
                    if n <= failures {
                        return http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    // A slow receiver, so that a crash lands mid-delivery.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    bodies.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                    http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, bodies }
}

impl Receiver {
    /// Object keys of the records received so far.
    fn keys(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| b["Records"][0]["s3"]["object"]["key"].as_str().map(str::to_owned))
            .collect()
    }

    fn test_events(&self) -> usize {
        self.bodies.lock().unwrap().iter().filter(|b| b["Event"] == "s3:TestEvent").count()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; got {:?}",
                self.keys()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn webhook_config(url: &str) -> String {
    format!("[[webhooks]]\nid = \"audit\"\nendpoint = \"{url}\"\n")
}

fn queue(id: &str, events: &[&str], prefix: Option<&str>) -> QueueConfiguration {
    let mut builder = QueueConfiguration::builder().id(id).queue_arn(ARN);
    for e in events {
        builder = builder.events(Event::from(*e));
    }
    if let Some(prefix) = prefix {
        let rule = FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build();
        builder = builder.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(rule).build())
                .build(),
        );
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn configurations_are_validated_and_round_trip() {
    let hook = receiver(0).await;
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_with(temp.path(), &webhook_config(&hook.url), &[]);
    let client = server.client();
    let bucket = support::bucket("notify-config");
    client.create_bucket().bucket(&bucket).send().await.unwrap();

    let empty = client.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap();
    assert!(empty.queue_configurations().is_empty());

    let config = NotificationConfiguration::builder()
        .queue_configurations(queue("images", &["s3:ObjectCreated:*"], Some("images/")))
        .queue_configurations(queue("removals", &["s3:ObjectRemoved:*"], None))
        .build();
    client
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    let got = client.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap();
    let queues = got.queue_configurations();
    assert_eq!(queues.len(), 2);
    assert_eq!(queues[0].id(), Some("images"));
    assert_eq!(queues[0].queue_arn(), ARN);
    assert_eq!(queues[0].events(), &[Event::from("s3:ObjectCreated:*")]);
    let rules = queues[0].filter().unwrap().key().unwrap().filter_rules();
    assert_eq!(rules[0].value(), Some("images/"));
    hook.wait_for("the test event", |h| h.test_events() == 1).await;

    let refused = [
        NotificationConfiguration::builder()
            .queue_configurations(queue("a", &["s3:ObjectCreated:*"], Some("a/")))
            .queue_configurations(queue("b", &["s3:ObjectCreated:Put"], Some("a/b/")))
            .build(),
        NotificationConfiguration::builder()
            .queue_configurations(queue("a", &["s3:ObjectMoved:*"], None))
            .build(),
        NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .queue_arn("arn:rucket:sqs:us-east-1:nobody:webhook")
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .unwrap(),
            )
            .build(),
        NotificationConfiguration::builder()
            .topic_configurations(
                TopicConfiguration::builder()
                    .topic_arn("arn:aws:sns:us-east-1:123456789012:t")
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .unwrap(),
            )
            .build(),
    ];
    for config in refused {
        let err = client
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(config)
            .send()
            .await
            .unwrap_err();
        assert_eq!(support::code(&err), "InvalidArgument");
        assert_eq!(support::status(&err), 400);
    }
    // The refused puts changed nothing.
    let got = client.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap();
    assert_eq!(got.queue_configurations().len(), 2);

    // Another user may not read or change it.
    let alice = server.client_as(support::ALICE_KEY, support::ALICE_SECRET);
    let err = alice.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");

    // An empty configuration removes it.
    client
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let got = client.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap();
    assert!(got.queue_configurations().is_empty());
}

#[tokio::test]
async fn webhooks_get_every_event_across_a_crash() {
    let hook = receiver(3).await;
    let temp = tempfile::tempdir().unwrap();
    let config = webhook_config(&hook.url);
    let mut server = Server::start_with(temp.path(), &config, &[]);
    let client = server.client();
    let bucket = support::bucket("notify-crash");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let notification = NotificationConfiguration::builder()
        .queue_configurations(queue(
            "incoming",
            &["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
            Some("in/"),
        ))
        .build();
    client
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(notification)
        .send()
        .await
        .unwrap();
    let mut expected = BTreeSet::new();
    for i in 0..40 {
        let key = format!("in/{i:02}");
        client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        expected.insert(key);
    }
    client
        .put_object()
        .bucket(&bucket)
        .key("out/skip")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    client.delete_object().bucket(&bucket).key("in/00").send().await.unwrap();

    // Crash once some, but not all, have been delivered.
    hook.wait_for("the first deliveries", |h| h.keys().len() >= 5).await;
    server.kill();
    let before = hook.keys().len();
    assert!(before < 41, "the crash came after every delivery; make the receiver slower");

    let server = Server::start_with(temp.path(), &config, &[]);
    hook.wait_for("every event", |h| h.keys().iter().collect::<BTreeSet<_>>().len() == 40).await;
    hook.wait_for("the delete", |h| {
        h.bodies.lock().unwrap().iter().any(|b| b["Records"][0]["eventName"] == "ObjectRemoved:Delete")
    })
    .await;
    let keys = hook.keys();
    assert!(!keys.contains(&"out/skip".to_owned()), "the prefix filter applies");
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let bodies = hook.bodies.lock().unwrap().clone();
    let record = bodies.iter().find(|b| b["Records"].is_array()).unwrap()["Records"][0].clone();
    assert_eq!(record["s3"]["configurationId"], "incoming");
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["s3"]["bucket"]["name"], bucket.as_str());

    // Deliveries and the retried failures show in the metrics.
    let metrics =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("rucket_webhook_delivered_total{target=\"audit\"}"), "{metrics}");
}
