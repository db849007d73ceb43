//! Server access logging: a record of every S3 request to a bucket whose logging is on
//! (PutBucketLogging), in S3's access log format, delivered now and then as an object in
//! the target bucket. Records come from the request path, not the event log, since reads
//! are logged too: the [`layer`] sees the request and its answer, the access hook fills in
//! what s3s parsed ([`LogNote`]), and the [`Deliverer`] writes each source bucket's
//! records as one object per flush (every `access_log_flush_ms`, sooner when a bucket's
//! records pass [`FLUSH_BYTES`], and once more when the server stops, after its last
//! connection). Like S3's, delivery is best effort: records a node holds when it is killed
//! are lost, and each node of a cluster delivers the records of the requests it served. A
//! delivery the store fails (a full volume, no leader) is tried again at the next flush,
//! under the same key, up to [`DELIVERY_ATTEMPTS`] times; one the target refuses is
//! dropped and counted.
//! A store where no bucket ever had logging on skips all of it (see
//! `Projections::may_have_logging`), as does a read-only server, which cannot deliver.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rucket_projections::Projections;
use rucket_schemas::{BucketLogging, BucketName, LogKeyFormat};
use time::OffsetDateTime;

/// What the access hook learned of a request (set only for requests to a bucket).
#[derive(Clone, Debug, Default)]
pub struct Noted {
    pub operation: String,
    pub bucket: String,
    pub key: Option<String>,
    /// The signer's user id; `None` for an anonymous request.
    pub requester: Option<String>,
}

/// Put in a request's extensions by [`layer`]; filled by the access hook.
#[derive(Clone, Default)]
pub struct LogNote(pub Arc<Mutex<Option<Noted>>>, Arc<AtomicBool>);

impl LogNote {
    /// Says that the request's signature was checked and its access decided (by the S3
    /// access hook or a custom route's check): a refusal after that is not one "before
    /// the signature was checked" and is not recorded from the host and path.
    pub fn mark_checked(extensions: &http::Extensions) {
        if let Some(note) = extensions.get::<LogNote>() {
            note.1.store(true, Ordering::Relaxed);
        }
    }
}

/// The request id the outermost layer gave the request (its `x-amz-request-id`).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A source bucket's records are delivered early once they pass this many bytes.
pub const FLUSH_BYTES: usize = 1 << 20;
/// Records held for delivery, in all; past it new records are dropped (and counted).
const MAX_HELD_BYTES: usize = 64 << 20;
/// Records dropped because delivery could not keep up or failed.
pub const DROPPED: &str = "rucket_access_log_records_dropped_total";
/// Deliveries that failed (each attempt counts; a retried one may succeed later).
pub const FAILED: &str = "rucket_access_log_deliveries_failed_total";
/// A delivery refused by the store itself (a 5xx: a full volume, a forward that timed
/// out, a cluster without a leader) is tried again at the next flush, this many times in
/// all; one the target refuses (4xx: deleted, re-made by another owner) is dropped.
const DELIVERY_ATTEMPTS: u32 = 10;
/// Log objects delivered.
pub const DELIVERED: &str = "rucket_access_log_objects_delivered_total";

/// Records of one source bucket under one logging configuration.
struct Pending {
    source: BucketName,
    config: BucketLogging,
    /// When the first record was taken (a partitioned key's event time).
    first: OffsetDateTime,
    lines: String,
    count: u64,
    /// Deliveries of these records tried so far.
    attempts: u32,
    /// The object key of the first attempt, kept for the retries: a delivery whose outcome
    /// was unknown (a forward that timed out) may have landed, and the retry then
    /// overwrites it with the same records and those taken since, not a second copy.
    key: Option<String>,
}

/// The records waiting for delivery.
#[derive(Clone)]
pub struct AccessLog {
    projections: Projections,
    /// Virtual-hosted-style addressing, to name the bucket of a request refused before
    /// its signature was checked.
    hosts: Option<Arc<crate::host::VirtualHosts>>,
    /// `false` on a read-only server, which records nothing (it cannot deliver).
    enabled: bool,
    pending: Arc<Mutex<Vec<Pending>>>,
    /// Bytes of records held, until their delivery ends (waiting or being delivered).
    held: Arc<AtomicUsize>,
    wake: Arc<tokio::sync::Notify>,
}

impl AccessLog {
    pub fn new(
        projections: Projections,
        enabled: bool,
        hosts: Option<Arc<crate::host::VirtualHosts>>,
    ) -> Self {
        Self {
            projections,
            hosts,
            enabled,
            pending: Arc::default(),
            held: Arc::default(),
            wake: Arc::default(),
        }
    }

    fn push(&self, source: BucketName, config: BucketLogging, line: String) {
        let Ok(mut pending) = self.pending.lock() else { return };
        if self.held.load(Ordering::Relaxed) + line.len() + 1 > MAX_HELD_BYTES {
            metrics::counter!(DROPPED).increment(1);
            return;
        }
        self.held.fetch_add(line.len() + 1, Ordering::Relaxed);
        let index = match pending.iter().position(|p| p.source == source && p.config == config) {
            Some(i) => i,
            None => {
                pending.push(Pending {
                    source,
                    config,
                    first: OffsetDateTime::now_utc(),
                    lines: String::new(),
                    count: 0,
                    attempts: 0,
                    key: None,
                });
                pending.len() - 1
            }
        };
        let group = &mut pending[index];
        group.lines.push_str(&line);
        group.lines.push('\n');
        group.count += 1;
        // Records held for a retry wait for the next delivery rather than hasten it.
        if group.lines.len() >= FLUSH_BYTES && group.attempts == 0 {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<Pending> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }

    /// Holds records whose delivery failed for the next flush, ahead of (and merged with)
    /// records of the same bucket and configuration taken since; their bytes stay held.
    fn put_back(&self, mut group: Pending) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match pending.iter().position(|p| p.source == group.source && p.config == group.config) {
            Some(i) => {
                let newer = pending.remove(i);
                group.lines.push_str(&newer.lines);
                group.count += newer.count;
                pending.insert(i, group);
            }
            None => pending.push(group),
        }
    }
}

/// Writes held records to their target buckets.
pub struct Deliverer {
    pub log: AccessLog,
    pub rucket: crate::s3::Rucket,
    pub region: String,
    pub every: Duration,
}

impl Deliverer {
    /// Delivers every `every` (or sooner when woken) until `stop` says so, then once more:
    /// the server stops it after its last connection ended, so no record comes later.
    pub fn start(self, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.every) => {}
                    _ = self.log.wake.notified() => {}
                    _ = rucket_feed::stopped(&mut stop) => break,
                }
                self.flush(false).await;
            }
            self.flush(true).await;
        })
    }

    /// Delivers what is held now, one object per source bucket and configuration. A
    /// delivery the store failed is held for the next flush, unless this is the `last`.
    async fn flush(&self, last: bool) {
        for mut group in self.log.take() {
            let now = OffsetDateTime::now_utc();
            let key = group
                .key
                .get_or_insert_with(|| {
                    object_key(&group.config, &self.region, &group.source, group.first, now)
                })
                .clone();
            let target = group.config.target_bucket.clone();
            let bytes = group.lines.len();
            // A copy, so that a failed delivery can be tried again.
            let body = group.lines.as_bytes().to_vec();
            let delivered = self.rucket.deliver_access_log(&group.source, &target, &key, body).await;
            group.attempts += 1;
            let error = match delivered {
                Ok(()) => {
                    self.log.held.fetch_sub(bytes, Ordering::Relaxed);
                    metrics::counter!(DELIVERED).increment(1);
                    continue;
                }
                Err(e) => e,
            };
            metrics::counter!(FAILED).increment(1);
            let by_store = error.status_code().is_none_or(|s| s.is_server_error());
            if by_store && group.attempts < DELIVERY_ATTEMPTS && !last {
                tracing::warn!(source = %group.source, target = %target, error = ?error.code(), message = error.message(), records = group.count, attempts = group.attempts, "access log records could not be delivered; trying again at the next delivery");
                self.log.put_back(group);
                continue;
            }
            self.log.held.fetch_sub(bytes, Ordering::Relaxed);
            metrics::counter!(DROPPED).increment(group.count);
            tracing::warn!(source = %group.source, target = %target, error = ?error.code(), message = error.message(), records = group.count, attempts = group.attempts, "access log records could not be delivered; dropped");
        }
    }
}

/// The key of a log object: `<prefix>YYYY-MM-DD-hh-mm-ss-<unique>`, or partitioned as
/// `<prefix><owner account>/<region>/<bucket>/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-<unique>`
/// (with the event-time date source, dated by the first record, time of day zero).
fn object_key(
    config: &BucketLogging,
    region: &str,
    source: &BucketName,
    first: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let unique = hex::encode_upper(rand::random::<[u8; 8]>());
    let stamp = |t: OffsetDateTime| {
        format!(
            "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    match config.key_format {
        LogKeyFormat::SimplePrefix => format!("{}{}-{unique}", config.target_prefix, stamp(now)),
        LogKeyFormat::PartitionedPrefix { delivery_time } => {
            let dated = if delivery_time { now } else { first.replace_time(time::Time::MIDNIGHT) };
            format!(
                "{}{}/{region}/{source}/{:04}/{:02}/{:02}/{}-{unique}",
                config.target_prefix,
                ACCOUNT,
                dated.year(),
                u8::from(dated.month()),
                dated.day(),
                stamp(dated)
            )
        }
    }
}

/// The account id in partitioned keys (Rucket has one account).
const ACCOUNT: &str = "000000000000";

/// Records each request to a bucket whose logging is on (see the module docs).
pub async fn layer(State(log): State<AccessLog>, mut request: Request, next: Next) -> Response {
    if !log.enabled || !log.projections.may_have_logging() {
        return next.run(request).await;
    }
    let note = LogNote::default();
    request.extensions_mut().insert(note.clone());
    let started = Instant::now();
    let seen = Seen::of(&request);
    let response = next.run(request).await;
    let noted = note.0.lock().ok().and_then(|mut n| n.take());
    // A request refused before the access hook saw it (a bad signature, an unknown access
    // key, an expired URL) is recorded as S3 records it: anonymous, under the bucket and
    // key its host and path name.
    let refused_early = !note.1.load(Ordering::Relaxed) && response.status().as_u16() >= 400;
    let refused_early = || refused_early.then(|| seen.addressed(log.hosts.as_deref())).flatten();
    let Some(noted) = noted.or_else(refused_early) else { return response };
    let Ok(source) = BucketName::parse(&noted.bucket) else { return response };
    let config = match log.projections.bucket_logging(&source) {
        Ok(Some(config)) => config,
        _ => return response,
    };
    let owner = match log.projections.bucket(&source) {
        Ok(Some(record)) => record.owner.to_string(),
        _ => "-".to_owned(),
    };
    let (response, error_code) = error_code(response).await;
    let line = seen.line(&noted, &owner, &response, error_code.as_deref(), started.elapsed());
    log.push(source, config, line);
    response
}

/// What the layer reads from the request before passing it on.
struct Seen {
    time: OffsetDateTime,
    remote: Option<String>,
    request_id: Option<String>,
    request_line: String,
    method: String,
    query: String,
    referer: Option<String>,
    user_agent: Option<String>,
    host: Option<String>,
    path: String,
    /// A browser upload (POST with a form).
    form: bool,
    request_length: Option<String>,
    copy: bool,
    signature: &'static str,
    auth_type: &'static str,
}

impl Seen {
    fn of(request: &Request) -> Self {
        let header =
            |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let authorization = header("authorization").unwrap_or_default();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let (signature, auth_type) = if authorization.starts_with("AWS4-") {
            ("SigV4", "AuthHeader")
        } else if authorization.starts_with("AWS ") {
            ("SigV2", "AuthHeader")
        } else if query.contains("X-Amz-Algorithm=") {
            ("SigV4", "QueryString")
        } else if query.contains("Signature=") {
            ("SigV2", "QueryString")
        } else {
            ("-", "-")
        };
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        Self {
            time: OffsetDateTime::now_utc(),
            remote: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
            request_line: format!("{} {target} {:?}", request.method(), request.version()),
            method: request.method().to_string(),
            query,
            referer: header("referer"),
            user_agent: header("user-agent"),
            // HTTP/2 carries the host as `:authority` (s3s reads it there too).
            host: header("host").or_else(|| {
                request
                    .uri()
                    .authority()
                    .filter(|_| request.version() >= http::Version::HTTP_2)
                    .map(|a| a.to_string())
            }),
            path: request.uri().path().to_owned(),
            form: request.method() == http::Method::POST
                && header("content-type").is_some_and(|t| t.starts_with("multipart/form-data")),
            // A streamed (aws-chunked) body's length without its framing.
            request_length: header("x-amz-decoded-content-length").or_else(|| header("content-length")),
            copy: request.headers().contains_key("x-amz-copy-source"),
            signature,
            auth_type,
        }
    }

    /// The bucket and key the request's host and path name (its operation unknown, its
    /// requester anonymous): `None` for a request to no bucket.
    fn addressed(&self, hosts: Option<&crate::host::VirtualHosts>) -> Option<Noted> {
        let path = percent_encoding::percent_decode_str(&self.path).decode_utf8().ok()?;
        let path = path.strip_prefix('/').unwrap_or(&path);
        let in_host = hosts.zip(self.host.as_deref()).and_then(|(hosts, host)| hosts.bucket_of(host));
        let (bucket, key) = match in_host {
            Some(bucket) => (bucket, path),
            None => path.split_once('/').unwrap_or((path, "")),
        };
        (!bucket.is_empty()).then(|| Noted {
            operation: if self.form && key.is_empty() { "PostObject" } else { "" }.to_owned(),
            bucket: bucket.to_owned(),
            // A key past S3's limit (refused as KeyTooLong) is not copied into the record.
            key: (!key.is_empty() && key.len() <= 1024).then(|| key.to_owned()),
            requester: None,
        })
    }

    /// The record in S3's access log format (fields S3 would fill and Rucket cannot are
    /// `-`).
    fn line(
        &self,
        noted: &Noted,
        owner: &str,
        response: &Response,
        error_code: Option<&str>,
        elapsed: Duration,
    ) -> String {
        let dash = |v: Option<&str>| v.filter(|s| !s.is_empty()).unwrap_or("-").to_owned();
        let quoted = |v: Option<&str>| format!("\"{}\"", v.unwrap_or("-").replace('"', "%22"));
        let response_header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes_sent = match response.status().as_u16() {
            204 | 304 => None,
            _ if self.method == "HEAD" => None,
            _ => response_header("content-length").filter(|n| n != "0"),
        };
        let object_size = match (response_header("content-range"), self.method.as_str()) {
            (Some(range), _) => range.rsplit('/').next().map(str::to_owned),
            (None, "GET" | "HEAD") if noted.key.is_some() => response_header("content-length"),
            (None, "PUT" | "POST") if noted.key.is_some() && !self.copy => self.request_length.clone(),
            _ => None,
        };
        let version_id = form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == "versionId")
            .map(|(_, v)| v.into_owned())
            .or_else(|| response_header("x-amz-version-id"));
        let key = noted.key.as_deref().map(|k| {
            percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/")
                .replace("%2E", ".")
                .replace("%2D", "-")
                .replace("%5F", "_")
        });
        let millis = elapsed.as_millis().to_string();
        let fields = [
            dash(Some(owner)),
            noted.bucket.clone(),
            timestamp(self.time),
            dash(self.remote.as_deref()),
            dash(noted.requester.as_deref()),
            dash(self.request_id.as_deref()),
            rest_operation(&self.method, noted.key.is_some(), &self.query, self.copy, &noted.operation),
            dash(key.as_deref()),
            quoted(Some(&self.request_line)),
            response.status().as_u16().to_string(),
            dash(error_code),
            dash(bytes_sent.as_deref()),
            dash(object_size.as_deref()),
            millis.clone(),
            millis,
            quoted(self.referer.as_deref()),
            quoted(self.user_agent.as_deref()),
            dash(version_id.as_deref()),
            dash(self.request_id.as_deref()),
            self.signature.to_owned(),
            "-".to_owned(),
            self.auth_type.to_owned(),
            dash(self.host.as_deref()),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ];
        fields.join(" ")
    }
}

/// `[06/Feb/2019:00:00:38 +0000]`
fn timestamp(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "[{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000]",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// S3's name of the operation in access logs: `REST.<method>.<resource>`, the resource
/// named by the request's subresource (`REST.GET.ACL`, `REST.PUT.PART`, ...), else
/// `OBJECT` or `BUCKET`; copies are `REST.COPY.OBJECT` and `REST.COPY.PART`, and a few
/// operations have names of their own.
fn rest_operation(method: &str, has_key: bool, query: &str, copy: bool, operation: &str) -> String {
    let special = match operation {
        "DeleteObjects" => Some("REST.POST.MULTI_OBJECT_DELETE"),
        "ListObjectVersions" => Some("REST.GET.BUCKETVERSIONS"),
        "GetBucketPolicy" => Some("REST.GET.BUCKETPOLICY"),
        "PutBucketPolicy" => Some("REST.PUT.BUCKETPOLICY"),
        "DeleteBucketPolicy" => Some("REST.DELETE.BUCKETPOLICY"),
        "GetObjectLockConfiguration" => Some("REST.GET.OBJECT_LOCK_CONFIGURATION"),
        "PutObjectLockConfiguration" => Some("REST.PUT.OBJECT_LOCK_CONFIGURATION"),
        "GetObjectTagging" => Some("REST.GET.OBJECT_TAGGING"),
        "PutObjectTagging" => Some("REST.PUT.OBJECT_TAGGING"),
        "DeleteObjectTagging" => Some("REST.DELETE.OBJECT_TAGGING"),
        "PostObject" => Some("REST.POST.OBJECT"),
        _ => None,
    };
    if let Some(name) = special {
        return name.to_owned();
    }
    let params: Vec<String> = form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect();
    let has = |name: &str| params.iter().any(|p| p == name);
    let resource = if has("uploadId") && has("partNumber") {
        "PART"
    } else if has("uploadId") {
        "UPLOAD"
    } else if has("uploads") {
        "UPLOADS"
    } else if let Some(sub) = [
        "acl",
        "tagging",
        "versioning",
        "policy",
        "lifecycle",
        "cors",
        "encryption",
        "logging",
        "notification",
        "object-lock",
        "retention",
        "legal-hold",
        "ownershipControls",
        "publicAccessBlock",
        "location",
        "attributes",
        "versions",
        "delete",
        "restore",
        "torrent",
        "website",
        "replication",
    ]
    .iter()
    .find(|s| has(s))
    {
        return format!("REST.{method}.{}", sub.replace('-', "_").to_uppercase());
    } else if has_key {
        "OBJECT"
    } else {
        "BUCKET"
    };
    let method = if copy && matches!(operation, "CopyObject" | "UploadPartCopy") { "COPY" } else { method };
    format!("REST.{method}.{resource}")
}

/// The S3 error code of an error answer (its XML body's `Code`), with the answer rebuilt;
/// bodies that are not small and of known length are left alone.
async fn error_code(response: Response) -> (Response, Option<String>) {
    use http_body::Body as _;
    let small = response.body().size_hint().upper().is_some_and(|n| n <= 64 << 10);
    if !small || (!response.status().is_client_error() && !response.status().is_server_error()) {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return (Response::from_parts(parts, axum::body::Body::empty()), None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned());
    (Response::from_parts(parts, axum::body::Body::from(bytes)), code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_request_is_recorded_under_the_bucket_and_key_it_addresses() {
        let hosts = crate::host::VirtualHosts::new("s3.example.com");
        let addressed = |host: &str, path: &str| {
            let request = Request::builder().uri(path).header("host", host).body(axum::body::Body::empty());
            Seen::of(&request.unwrap()).addressed(Some(&hosts)).map(|n| (n.bucket, n.key))
        };
        let some = |bucket: &str, key: Option<&str>| Some((bucket.to_owned(), key.map(str::to_owned)));
        assert_eq!(
            addressed("127.0.0.1:9000", "/photos/2024/a%20b.jpg"),
            some("photos", Some("2024/a b.jpg"))
        );
        assert_eq!(addressed("127.0.0.1:9000", "/photos"), some("photos", None));
        assert_eq!(addressed("127.0.0.1:9000", "/photos/"), some("photos", None));
        assert_eq!(addressed("photos.s3.example.com", "/2024/a.jpg"), some("photos", Some("2024/a.jpg")));
        assert_eq!(addressed("photos.s3.example.com:9000", "/"), some("photos", None));
        assert_eq!(addressed("s3.example.com", "/"), None, "ListBuckets names no bucket");
        let long = format!("/photos/{}", "k".repeat(1025));
        assert_eq!(addressed("127.0.0.1:9000", &long), some("photos", None), "a key past S3's limit");

        // HTTP/2 names the host in `:authority`, not a Host header.
        let h2 = Request::builder()
            .version(http::Version::HTTP_2)
            .uri("https://photos.s3.example.com/2024/a.jpg")
            .body(axum::body::Body::empty())
            .unwrap();
        let noted = Seen::of(&h2).addressed(Some(&hosts)).unwrap();
        assert_eq!((noted.bucket.as_str(), noted.key.as_deref()), ("photos", Some("2024/a.jpg")));

        // A browser upload is named as S3 names it, accepted or not.
        let form = Request::builder()
            .method("POST")
            .uri("/photos")
            .header("host", "127.0.0.1:9000")
            .header("content-type", "multipart/form-data; boundary=x")
            .body(axum::body::Body::empty())
            .unwrap();
        let noted = Seen::of(&form).addressed(Some(&hosts)).unwrap();
        assert_eq!(rest_operation("POST", false, "", false, &noted.operation), "REST.POST.OBJECT");
    }

    #[test]
    fn operations_are_named_as_s3_names_them() {
        assert_eq!(rest_operation("GET", true, "", false, "GetObject"), "REST.GET.OBJECT");
        assert_eq!(rest_operation("GET", false, "list-type=2", false, "ListObjectsV2"), "REST.GET.BUCKET");
        assert_eq!(
            rest_operation("PUT", true, "partNumber=2&uploadId=x", false, "UploadPart"),
            "REST.PUT.PART"
        );
        assert_eq!(
            rest_operation("POST", true, "uploads", false, "CreateMultipartUpload"),
            "REST.POST.UPLOADS"
        );
        assert_eq!(
            rest_operation("POST", true, "uploadId=x", false, "CompleteMultipartUpload"),
            "REST.POST.UPLOAD"
        );
        assert_eq!(rest_operation("GET", false, "acl", false, "GetBucketAcl"), "REST.GET.ACL");
        assert_eq!(
            rest_operation("PUT", true, "legal-hold", false, "PutObjectLegalHold"),
            "REST.PUT.LEGAL_HOLD"
        );
        assert_eq!(rest_operation("PUT", true, "", true, "CopyObject"), "REST.COPY.OBJECT");
        assert_eq!(
            rest_operation("PUT", true, "partNumber=1&uploadId=x", true, "UploadPartCopy"),
            "REST.COPY.PART"
        );
        let named = |method, key, query, op| rest_operation(method, key, query, false, op);
        assert_eq!(named("POST", false, "delete", "DeleteObjects"), "REST.POST.MULTI_OBJECT_DELETE");
        assert_eq!(named("GET", true, "tagging", "GetObjectTagging"), "REST.GET.OBJECT_TAGGING");
        assert_eq!(named("GET", false, "tagging", "GetBucketTagging"), "REST.GET.TAGGING");
        assert_eq!(named("GET", false, "versions", "ListObjectVersions"), "REST.GET.BUCKETVERSIONS");
    }

    #[test]
    fn keys_name_the_prefix_and_the_time() {
        let t = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        let config = |key_format| BucketLogging {
            target_bucket: BucketName::parse("logs").unwrap(),
            target_prefix: "src/".into(),
            key_format,
        };
        let source = BucketName::parse("data").unwrap();
        let later = time::macros::datetime!(2026-03-05 01:02:03 UTC);
        let simple = object_key(&config(LogKeyFormat::SimplePrefix), "us-east-1", &source, t, later);
        assert!(
            simple.starts_with("src/2026-03-05-01-02-03-")
                && simple.len() == "src/2026-03-05-01-02-03-".len() + 16
        );
        let by_event = object_key(
            &config(LogKeyFormat::PartitionedPrefix { delivery_time: false }),
            "us-east-1",
            &source,
            t,
            later,
        );
        assert!(
            by_event.starts_with("src/000000000000/us-east-1/data/2026/03/04/2026-03-04-00-00-00-"),
            "{by_event}"
        );
        let by_delivery = object_key(
            &config(LogKeyFormat::PartitionedPrefix { delivery_time: true }),
            "us-east-1",
            &source,
            t,
            later,
        );
        assert!(
            by_delivery.starts_with("src/000000000000/us-east-1/data/2026/03/05/2026-03-05-01-02-03-"),
            "{by_delivery}"
        );
        assert_eq!(timestamp(t), "[04/Mar/2026:05:06:07 +0000]");
    }
}
