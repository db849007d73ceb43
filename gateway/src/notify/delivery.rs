//! Webhook delivery over HTTP: the [`rucket_feed::webhook::Deliver`] implementation that
//! POSTs each notification record to a configured target, and S3's test event.

use std::sync::Arc;
use std::time::Duration;

use rucket_schemas::LogPosition;
use serde_json::json;

use super::WebhookTarget;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs records to one target, with its bearer token when set.
pub struct HttpDelivery {
    pub target: WebhookTarget,
    pub client: reqwest::Client,
}

impl rucket_feed::webhook::Deliver for HttpDelivery {
    async fn deliver(&self, position: LogPosition, body: String) -> Result<(), String> {
        let mut request = self
            .client
            .post(&self.target.endpoint)
            .header("content-type", "application/json")
            .header("x-rucket-position", position.0.to_string())
            .body(body);
        if let Some(token) = &self.target.auth_token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The HTTP client webhook requests use.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()
}

/// Starts one delivery worker per target.
pub fn start(
    targets: &[WebhookTarget],
    client: &reqwest::Client,
    data_dir: &std::path::Path,
    archive: &rucket_log::EventArchive,
    projections: &rucket_projections::Projections,
    shutdown: tokio::sync::watch::Receiver<bool>,
    gate: rucket_feed::webhook::Gate,
) -> Result<(), rucket_feed::FeedError> {
    let targets = targets
        .iter()
        .map(|t| (t.id.clone(), Arc::new(HttpDelivery { target: t.clone(), client: client.clone() })))
        .collect();
    rucket_feed::webhook::start(targets, data_dir, archive, projections, shutdown, gate)
}

/// The webhook cursors of a cluster, kept in the log: read from the projections, moved
/// by a `SetWebhookCursor` command the (leader's) worker proposes as an operator.
pub struct LogCursor {
    pub node: Arc<rucket_log::Node>,
    pub clock: Arc<rucket_log::Clock>,
    pub region: rucket_schemas::RegionId,
}

/// The user the webhook workers' cursor commands run as.
const WEBHOOK_USER: &str = "rucket-webhooks";

impl rucket_feed::webhook::SharedCursor for LogCursor {
    fn load(&self, target: &str) -> Option<rucket_schemas::LogPosition> {
        match self.node.projections().webhook_cursor(target) {
            Ok(position) => position.map(rucket_schemas::LogPosition),
            Err(e) => {
                tracing::warn!(target, error = %e, "could not read the cluster's webhook cursor");
                None
            }
        }
    }

    fn save(
        &self,
        target: &str,
        position: rucket_schemas::LogPosition,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let command = rucket_schemas::Command {
            hlc: self.clock.now(),
            event_id: rucket_schemas::EventId(rand::random()),
            origin_region: self.region.clone(),
            requester: rucket_schemas::UserId::new(WEBHOOK_USER),
            requester_is_admin: true,
            body: rucket_schemas::CommandBody::SetWebhookCursor {
                target: target.to_owned(),
                position: position.0,
            },
        };
        let (node, target) = (Arc::clone(&self.node), target.to_owned());
        Box::pin(async move {
            if let Err(e) = node.propose(command).await {
                tracing::warn!(target, error = %e, "could not record the webhook cursor in the log");
            }
        })
    }
}

/// Sends S3's test event to a target after a configuration names it (best effort).
pub fn send_test_event(client: reqwest::Client, target: WebhookTarget, bucket: String) {
    tokio::spawn(async move {
        let body = json!({
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "Bucket": bucket,
            "RequestId": hex::encode_upper(rand::random::<[u8; 8]>()),
            "HostId": "rucket",
        });
        let mut request =
            client.post(&target.endpoint).header("content-type", "application/json").body(body.to_string());
        if let Some(token) = &target.auth_token {
            request = request.bearer_auth(token);
        }
        if let Err(e) = request.send().await {
            tracing::warn!(target = %target.id, error = %e, "could not send the test event");
        }
    });
}

/// Shared state the S3 handlers need to validate and test configurations.
#[derive(Clone)]
pub struct Notifier {
    pub targets: Arc<Vec<WebhookTarget>>,
    pub client: reqwest::Client,
}
