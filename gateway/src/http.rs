//! The axum router: health, metrics, then everything else to the S3 service.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{HeaderValue, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use rucket_log::{EventArchive, Node};

use crate::access::OperationSlot;

#[derive(Clone)]
pub struct AppState {
    /// The log node; `None` for a read-only server.
    pub node: Option<Arc<Node>>,
    pub archive: EventArchive,
    pub metrics: PrometheusHandle,
    /// The upload slots: a node whose every slot is taken is not ready for more.
    pub uploads: Arc<crate::limits::Uploads>,
    /// Server access logging's records waiting for delivery.
    pub access_log: crate::access_log::AccessLog,
}

/// Makes every S3 request on a node of a cluster see every write acknowledged before it
/// (read index); `node` is `None` on a single node or with `read_consistency=local`.
#[derive(Clone)]
pub struct ReadBarrier {
    pub node: Option<Arc<Node>>,
}

async fn read_barrier(State(barrier): State<ReadBarrier>, request: Request, next: Next) -> Response {
    if let Some(node) = &barrier.node {
        // Before authentication too: a key created on another node signs requests here.
        if let Err(e) = node.read_barrier().await {
            tracing::warn!(error = %e, "a read could not be made linearizable");
            let message = format!("The node cannot serve requests right now: {e}");
            return xml_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &message, "");
        }
    }
    next.run(request).await
}

/// Publishes this node's part in its cluster, and each follower's lag on the leader.
fn cluster_metrics(node: &Node) {
    let raft = node.raft().metrics().borrow().clone();
    let leads = raft.current_leader == Some(node.id());
    metrics::gauge!(crate::metrics::CLUSTER_ROLE).set(if leads { 1.0 } else { 0.0 });
    metrics::gauge!(crate::metrics::CLUSTER_TERM).set(raft.current_term as f64);
    metrics::gauge!(crate::metrics::CLUSTER_LEADER).set(raft.current_leader.unwrap_or_default() as f64);
    if let Some(replication) = &raft.replication {
        let last = raft.last_log_index.unwrap_or_default();
        for (follower, matched) in replication {
            let lag = last.saturating_sub(matched.map(|l| l.index).unwrap_or_default());
            metrics::gauge!(crate::metrics::CLUSTER_REPLICATION_LAG, "follower" => follower.to_string())
                .set(lag as f64);
        }
    }
}

/// Counts the changes of leader this node sees.
pub fn count_leader_changes(node: &Arc<Node>) {
    let mut watch = node.raft().metrics();
    tokio::spawn(async move {
        let mut leader = watch.borrow().current_leader;
        while watch.changed().await.is_ok() {
            let now = watch.borrow().current_leader;
            if now != leader {
                if now.is_some() {
                    metrics::counter!(crate::metrics::CLUSTER_LEADER_CHANGES).increment(1);
                }
                tracing::info!(from = ?leader, to = ?now, "the cluster's leader changed");
                leader = now;
            }
        }
    });
}

pub fn router(
    state: AppState,
    cors: crate::cors::CorsLayer,
    scope: crate::scope::ScopeCheck,
    barrier: ReadBarrier,
    s3: s3s::service::S3Service,
    body_timeout: Option<std::time::Duration>,
    unsized_bodies: crate::unsized_body::Budget,
) -> Router {
    let access_log = state.access_log.clone();
    let s3 = axum::error_handling::HandleError::new(s3, on_http_error);
    let hosts = cors.hosts.clone();
    let s3_routes = Router::new()
        .fallback_service(s3)
        .layer(middleware::from_fn(observe_s3))
        .layer(middleware::from_fn(post_policy_errors))
        .layer(middleware::from_fn(crate::post_form::layer))
        .layer(middleware::from_fn(unquoted_attributes_etag))
        .layer(middleware::from_fn(presigned_expiry_limit))
        .layer(middleware::from_fn_with_state(hosts, sigv2_bucket_resource))
        .layer(middleware::from_fn_with_state(unsized_bodies, crate::unsized_body::layer))
        .layer(middleware::from_fn(configuration_body_limit))
        .layer(middleware::from_fn_with_state(body_timeout, crate::idle_body::layer))
        .layer(middleware::from_fn_with_state(scope, crate::scope::layer))
        .layer(middleware::from_fn_with_state(barrier, read_barrier))
        // Outside the layers that answer for s3s (POST policy errors, ...), so a record
        // names the status the client got.
        .layer(middleware::from_fn_with_state(access_log, crate::access_log::layer))
        .layer(middleware::from_fn_with_state(cors, crate::cors::layer));
    Router::new()
        .route("/_rucket/health/live", get(live))
        .route("/_rucket/health/ready", get(ready))
        .route("/_rucket/metrics", get(render_metrics))
        .with_state(state)
        .merge(s3_routes)
        .layer(middleware::from_fn(request_ids))
        .layer(middleware::from_fn(close_after_refused_bodies))
}

/// A request refused before its body was read leaves that body on the connection (or,
/// after `Expect: 100-continue`, leaves the client unsure whether to send it), and a
/// client that reuses the connection may read a garbled next response: botocore did, now
/// and then, after an SSE-C key refusal. A refused HTTP/1 request with a body therefore
/// closes its connection.
async fn close_after_refused_bodies(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let has_body = headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    let http1 = req.version() < http::Version::HTTP_2;
    let mut response = next.run(req).await;
    let refused = response.status().is_client_error() || response.status().is_server_error();
    if has_body && http1 && refused {
        response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn on_http_error(err: s3s::HttpError) -> Response {
    tracing::error!(error = ?err, "s3 service failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Alive unless only a restart can help: the log lost durability (a failed fsync, or its
/// storage engine poisoned by a full disk) or Raft stopped. A supervisor that restarts
/// the node on a failing `/live` brings it back from what is durable.
async fn live(State(state): State<AppState>) -> Response {
    match state.node.as_ref().map(|node| node.readiness()) {
        Some(Err(why @ (rucket_log::NotReady::NotDurable(_) | rucket_log::NotReady::Stopped))) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not live: {why}; restart the node\n")).into_response()
        }
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.uploads.saturated() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: every upload slot is taken\n").into_response();
    }
    match state.node.as_ref().map(|node| node.readiness()) {
        None | Some(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Some(Err(why)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    if let Some(node) = &state.node {
        let raft = node.raft().metrics().borrow().clone();
        metrics::gauge!(crate::metrics::RAFT_COMMITTED).set(node.committed_index() as f64);
        metrics::gauge!(crate::metrics::RAFT_APPLIED)
            .set(raft.last_applied.map(|l| l.index).unwrap_or_default() as f64);
        metrics::gauge!(crate::metrics::RAFT_LAST_LOG).set(raft.last_log_index.unwrap_or_default() as f64);
        let durability = node.durability();
        metrics::gauge!(crate::metrics::LOG_DURABLE).set(if durability.failure().is_none() {
            1.0
        } else {
            0.0
        });
        metrics::gauge!(crate::metrics::LOG_FSYNC_FAILURES).set(durability.failures() as f64);
        cluster_metrics(node);
    }
    metrics::gauge!(crate::metrics::APPLIED_POSITION).set(state.archive.head().0 as f64);
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Records the S3 operation (named by the access hook), status and latency.
async fn observe_s3(mut request: Request, next: Next) -> Response {
    let slot = OperationSlot::default();
    request.extensions_mut().insert(slot.clone());
    let started = Instant::now();
    let response = next.run(request).await;
    let operation = slot.0.lock().ok().and_then(|g| g.clone()).unwrap_or_else(|| "Unknown".to_owned());
    crate::metrics::record_request(&operation, response.status().as_u16(), started.elapsed());
    response
}

/// GetObjectAttributes sends the ETag without quotes (unlike every other S3 answer);
/// s3s always quotes it, so the small XML answer is unquoted here.
async fn unquoted_attributes_etag(request: Request, next: Next) -> Response {
    let attributes = request.method() == http::Method::GET
        && request
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "attributes"));
    let response = next.run(request).await;
    // Its answer is small; anything large (or of unknown size) is some other answer.
    let small = axum::body::HttpBody::size_hint(response.body()).upper().is_some_and(|len| len <= 64 << 10);
    if !attributes || response.status() != StatusCode::OK || !small {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    // Only GetObjectAttributes's own answer (not a listing that carried a stray
    // `?attributes`).
    if !text.contains("<GetObjectAttributesResponse") {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let text = text.replace("<ETag>\"", "<ETag>").replace("\"</ETag>", "</ETag>");
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// s3s answers a POST upload whose policy condition fails with 400
/// InvalidPolicyDocument; S3 answers 403 AccessDenied ("Invalid according to Policy")
/// and keeps 400 for a policy that cannot be read. Only small error bodies are read.
async fn post_policy_errors(request: Request, next: Next) -> Response {
    let is_post = request.method() == http::Method::POST;
    let response = next.run(request).await;
    if !is_post || response.status() != StatusCode::BAD_REQUEST {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "could not read an error body\n").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    // (A form naming another bucket than its URL is refused the same way.)
    let refused = text.contains("Policy condition") || text.contains("does not match bucket in URL");
    if text.contains("<Code>InvalidPolicyDocument</Code>") && refused {
        let detail = text
            .split("<Message>")
            .nth(1)
            .and_then(|m| m.split("</Message>").next())
            .unwrap_or("Policy Condition failed");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: {detail}</Message></Error>"
        );
        let mut response = Response::from_parts(parts, axum::body::Body::from(body));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        return response;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// An S3 error answered before s3s sees the request: `extra` is more XML inside `<Error>`.
pub fn xml_error(status: StatusCode, code: &str, message: &str, extra: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
    );
    (status, [(http::header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// SigV2 signs a bucket-level request's resource as `/bucket/` (S3's CanonicalizedResource;
/// botocore and s3cmd sign it so), while s3s builds it from the path as sent (`/bucket`):
/// such requests are taken as addressed to `/bucket/`, which names the same bucket. (A
/// virtual-hosted request names its bucket in the host: its path is a key.)
async fn sigv2_bucket_resource(
    State(hosts): State<Option<Arc<crate::host::VirtualHosts>>>,
    mut request: Request,
    next: Next,
) -> Response {
    // The host as s3s takes it: the Host header, or HTTP/2's :authority.
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .filter(|_| request.version() >= http::Version::HTTP_2)
                .map(|a| a.as_str())
        })
        .unwrap_or_default();
    if hosts.as_ref().is_some_and(|hosts| hosts.bucket_of(host).is_some()) {
        return next.run(request).await;
    }
    let query = request.uri().query().unwrap_or_default();
    let names: Vec<String> = form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect();
    let v2 =
        request.headers().get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS "))
            || (names.iter().any(|n| n == "AWSAccessKeyId") && names.iter().any(|n| n == "Signature"));
    let path = request.uri().path();
    let bucket_level = path.len() > 1 && path.starts_with('/') && !path[1..].contains('/');
    if v2 && bucket_level {
        let target = match request.uri().query() {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        if let Ok(uri) = target.parse::<http::uri::PathAndQuery>() {
            let mut parts = request.uri().clone().into_parts();
            parts.path_and_query = Some(uri);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    next.run(request).await
}

/// A presigned URL may live at most a week, as in S3 (s3s checks only that it has not
/// expired).
async fn presigned_expiry_limit(request: Request, next: Next) -> Response {
    const MAX_EXPIRES: u64 = 604_800;
    let expires = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "X-Amz-Expires").map(|(_, v)| v.into_owned())
    });
    if let Some(value) = expires {
        // A lifetime out of range refuses access, as S3 does (403); one that is not a
        // number is a malformed request.
        match value.parse::<i64>() {
            Ok(s) if (1..=MAX_EXPIRES as i64).contains(&s) => {}
            Ok(_) => {
                let message = "Request has expired: X-Amz-Expires must be 1 to 604800 seconds (a week)";
                return xml_error(StatusCode::FORBIDDEN, "AccessDenied", message, "");
            }
            Err(_) => {
                let message = "X-Amz-Expires should be a number";
                return xml_error(StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", message, "");
            }
        }
    }
    next.run(request).await
}

/// The largest configuration body (XML or a policy) a request may send; S3's own limits
/// are smaller per kind (a policy: 20 KiB, checked after reading).
pub const MAX_CONFIGURATION_BODY: u64 = 1 << 20;
/// The largest DeleteObjects or CompleteMultipartUpload body (1,000 keys or 10,000 parts).
pub const MAX_LIST_BODY: u64 = 8 << 20;

/// Subresources whose PUT or POST carries a configuration document.
const CONFIGURATION_SUBRESOURCES: &[&str] = &[
    "acl",
    "policy",
    "cors",
    "lifecycle",
    "tagging",
    "notification",
    "encryption",
    "object-lock",
    "versioning",
    "ownershipControls",
    "publicAccessBlock",
    "legal-hold",
    "retention",
    "replication",
    "website",
    "logging",
    "accelerate",
    "requestPayment",
    "intelligent-tiering",
    "analytics",
    "inventory",
    "metrics",
    "restore",
];

/// Bodies that s3s reads whole into memory (configurations, DeleteObjects, the parts of
/// CompleteMultipartUpload) are capped: a larger declared length is refused before it is
/// read, and a chunked one is cut off at the limit (400 MaxMessageLengthExceeded, naming
/// the limit), so a huge configuration cannot exhaust memory or pass as valid.
async fn configuration_body_limit(request: Request, next: Next) -> Response {
    if !matches!(*request.method(), http::Method::PUT | http::Method::POST) {
        return next.run(request).await;
    }
    let query = request.uri().query().unwrap_or_default();
    let names: Vec<String> = form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect();
    let limit = if names.iter().any(|n| n == "delete" || n == "uploadId")
        && *request.method() == http::Method::POST
    {
        MAX_LIST_BODY
    } else if names.iter().any(|n| CONFIGURATION_SUBRESOURCES.contains(&n.as_str())) {
        MAX_CONFIGURATION_BODY
    } else {
        return next.run(request).await;
    };
    let too_big = || {
        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "body_too_large").increment(1);
        let message = format!("Your request was too big: this request's body may be at most {limit} bytes.");
        xml_error(StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", &message, "")
    };
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_big();
    }
    if declared.is_some() {
        // The declared length is within the limit, and hyper holds the body to it.
        return next.run(request).await;
    }
    // No declared length (chunked): read it here, up to the limit, then hand it on.
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit as usize).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => too_big(),
    }
}

/// An S3 error body names the request id its `x-amz-request-id` header carries (and the
/// same as its HostId), as S3's do: clients log it and users quote it.
async fn with_request_id_in_error(response: Response, id: &str) -> Response {
    let is_xml_error = (response.status().is_client_error() || response.status().is_server_error())
        && response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("xml"));
    if !is_xml_error {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "could not read an error body\n").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let body = match text.rfind("</Error>") {
        Some(end) if !text.contains("<RequestId>") => {
            format!("{}<RequestId>{id}</RequestId><HostId>{id}</HostId></Error>", &text[..end])
        }
        _ => text.into_owned(),
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Every response carries a request id, as S3's do.
async fn request_ids(mut request: Request, next: Next) -> Response {
    let id = hex::encode_upper(rand::random::<[u8; 8]>());
    request.extensions_mut().insert(crate::access_log::RequestId(id.clone()));
    let mut response = with_request_id_in_error(next.run(request).await, &id).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-amz-request-id", v.clone());
        headers.insert("x-amz-id-2", v);
    }
    headers.insert(http::header::SERVER, HeaderValue::from_static("Rucket"));
    response
}
