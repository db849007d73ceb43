//! The live event feed: `GET /_rucket/v1/events` as Server-Sent Events or a WebSocket,
//! and MinIO's listen API (`GET /{bucket}?events=...`). Requests come through s3s as a
//! custom route, so they share its SigV4 checks (headers or presigned URLs).
//!
//! Every subscription reads committed events from the archive by log position; see
//! [`subscriber`] for how history and live meet and [`hub`] for the live fan-out.

mod transport;

use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use rucket_log::EventArchive;
use rucket_projections::Projections;
use rucket_schemas::{BucketName, LogPosition};
use s3s::route::S3Route;
use s3s::validation::{AwsNameValidation, NameValidation};
use s3s::{s3_error, Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use tokio::sync::mpsc;

use crate::credentials::{User, Users};
use rucket_feed::filter::{EventPattern, Filter};
pub use rucket_feed::FeedLimits;
use rucket_feed::{EndSignal, Format, Hub, KeyCheck, Subscriber, Visibility};

/// The access key a subscription was signed with: still valid while it is a known,
/// enabled key.
struct SignedWith {
    users: Arc<Users>,
    key: String,
}

impl KeyCheck for SignedWith {
    fn still_valid(&self) -> bool {
        // A read error ends the stream too (its client resumes from its position).
        matches!(self.users.user(&self.key), Ok(Some(_)))
    }
}

pub const FEED_PATH: &str = "/_rucket/v1/events";

/// Feed settings, from the server's configuration.
#[derive(Clone, Copy, Debug)]
pub struct FeedSettings {
    pub limits: FeedLimits,
    /// Messages that may wait for a subscriber's transport.
    pub buffer: usize,
    /// How long a subscriber may leave a full buffer untaken before it is disconnected.
    pub stall: Duration,
    /// Default interval of heartbeats.
    pub heartbeat: Duration,
}

pub struct FeedRoute {
    pub hub: Arc<Hub>,
    /// Virtual-hosted addressing, when a domain is configured.
    pub hosts: Option<Arc<crate::host::VirtualHosts>>,
    pub users: Arc<Users>,
    pub projections: Projections,
    pub settings: FeedSettings,
}

/// Where a subscription starts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Start {
    After(LogPosition),
    Oldest,
    Now,
    Since(time::OffsetDateTime),
}

/// A parsed subscription request.
#[derive(Debug)]
struct FeedQuery {
    filter: Filter,
    start: Start,
    format: Format,
    heartbeat: Option<Duration>,
}

impl FeedRoute {
    /// Whether a request belongs to the feed (the route table of [`crate::routes`]).
    pub fn is_match(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        method == Method::GET
            && (uri.path() == FEED_PATH || is_listen(uri, self.host_bucket(headers).is_some()))
    }

    /// The bucket a virtual-hosted request's Host names, if any.
    fn host_bucket<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        let host = headers.get(http::header::HOST)?.to_str().ok()?;
        self.hosts.as_ref()?.bucket_of(host)
    }

    pub async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let credentials = req
            .credentials
            .as_ref()
            .ok_or_else(|| s3_error!(AccessDenied, "Subscribing requires a signature"))?;
        let user = self
            .users
            .user(&credentials.access_key)
            .map_err(crate::errors::projection)?
            .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        if user.identity_policy.is_some() {
            return Err(s3_error!(
                AccessDenied,
                "A key limited by an identity policy may not subscribe to the event feed"
            ));
        }
        let listen = req.uri.path() != FEED_PATH;
        let query = if listen {
            parse_listen(&req.uri, self.host_bucket(&req.headers))?
        } else {
            parse_feed(&req.uri, &req.headers)?
        };
        self.check_buckets(&user, &query.filter.buckets)?;
        let permit = self.hub.admit(&credentials.access_key).map_err(|e| {
            let mut err = S3Error::with_message(S3ErrorCode::SlowDown, e.to_string());
            err.set_status_code(StatusCode::SERVICE_UNAVAILABLE);
            err
        })?;
        let cursor = resolve_start(self.hub.archive(), &query.start).await?;
        let (out, items) = mpsc::channel(self.settings.buffer.max(1));
        let end = EndSignal::default();
        let subscriber = Subscriber {
            hub: Arc::clone(&self.hub),
            filter: query.filter,
            visibility: Visibility::new(user.admin, user.id.clone(), self.projections.clone()),
            format: query.format,
            heartbeat: query.heartbeat.unwrap_or(self.settings.heartbeat),
            stall: self.settings.stall,
            cursor,
            out,
            end: end.clone(),
            key: Some(Arc::new(SignedWith {
                users: Arc::clone(&self.users),
                key: credentials.access_key.clone(),
            })),
        };
        let items = transport::Items {
            items,
            end,
            last: cursor,
            head: self.hub.archive().head(),
            stall: self.settings.stall,
            permit,
        };
        let upgrade = req
            .headers
            .get(http::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        let response = if listen {
            transport::listen(items)
        } else if upgrade {
            transport::websocket(req, items).await?
        } else {
            transport::sse(items)
        };
        tokio::spawn(subscriber.run());
        Ok(response)
    }

    /// A user other than an operator may name only buckets it owns.
    fn check_buckets(&self, user: &User, buckets: &[BucketName]) -> S3Result<()> {
        for bucket in buckets {
            let record = self
                .projections
                .bucket(bucket)
                .map_err(crate::errors::projection)?
                .ok_or_else(|| crate::errors::rejection(rucket_schemas::Rejection::NoSuchBucket))?;
            if !user.admin && record.owner != user.id {
                return Err(crate::errors::rejection(rucket_schemas::Rejection::AccessDenied));
            }
        }
        Ok(())
    }
}

/// MinIO's listen API: a GET on the root or a bucket with an `events` parameter.
/// With a virtual-hosted bucket only the root path is a listen request.
fn is_listen(uri: &Uri, virtual_host: bool) -> bool {
    let path = uri.path().trim_start_matches('/');
    let bucket_or_root = if virtual_host { path.is_empty() } else { !path.contains('/') };
    bucket_or_root && query_pairs(uri).any(|(k, _)| k == "events")
}

fn query_pairs(uri: &Uri) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

fn parse_events(value: &str, into: &mut Vec<EventPattern>) -> S3Result<()> {
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        into.push(EventPattern::parse(name).map_err(invalid)?);
    }
    Ok(())
}

fn parse_bucket(name: &str) -> S3Result<BucketName> {
    BucketName::parse(name).map_err(|e| invalid(format!("bucket `{name}`: {e}")))
}

fn parse_position(name: &str, value: &str) -> S3Result<LogPosition> {
    value
        .trim()
        .parse::<u64>()
        .map(LogPosition)
        .map_err(|_| invalid(format!("{name} must be a log position (a decimal number), not `{value}`")))
}

fn parse_feed(uri: &Uri, headers: &HeaderMap) -> S3Result<FeedQuery> {
    let mut filter = Filter::default();
    let mut starts = Vec::new();
    let mut format = Format::Rucket;
    let mut heartbeat = None;
    for (key, value) in query_pairs(uri) {
        match key.as_str() {
            "bucket" => filter.buckets.push(parse_bucket(&value)?),
            "prefix" => filter.prefix = value,
            "suffix" => filter.suffix = value,
            "events" => parse_events(&value, &mut filter.events)?,
            "after" => starts.push(Start::After(parse_position("after", &value)?)),
            "from" => starts.push(match value.as_str() {
                "oldest" => Start::Oldest,
                "now" => Start::Now,
                other => return Err(invalid(format!("from must be `oldest` or `now`, not `{other}`"))),
            }),
            "since" => starts.push(Start::Since(
                time::OffsetDateTime::parse(&value, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| invalid(format!("since must be an RFC 3339 time: {e}")))?,
            )),
            "format" => {
                format = match value.as_str() {
                    "rucket" => Format::Rucket,
                    "s3" => Format::S3,
                    other => return Err(invalid(format!("format must be `rucket` or `s3`, not `{other}`"))),
                }
            }
            "heartbeat" => heartbeat = Some(parse_seconds("heartbeat", &value)?),
            k if k.starts_with("X-Amz-") || k.starts_with("x-amz-") => {}
            other => return Err(invalid(format!("unknown parameter `{other}`"))),
        }
    }
    if starts.len() > 1 {
        return Err(invalid("give at most one of after, from and since".into()));
    }
    // An EventSource reconnecting sends the last id it saw; it wins over the URL's start.
    let start = match headers.get("last-event-id").map(|v| v.to_str().unwrap_or_default()) {
        Some(id) if !id.trim().is_empty() => Start::After(parse_position("Last-Event-ID", id)?),
        _ => starts.pop().unwrap_or(Start::Now),
    };
    filter.buckets.sort();
    filter.buckets.dedup();
    Ok(FeedQuery { filter, start, format, heartbeat })
}

fn parse_listen(uri: &Uri, host_bucket: Option<&str>) -> S3Result<FeedQuery> {
    let mut filter = Filter::default();
    let bucket = host_bucket.unwrap_or_else(|| uri.path().trim_matches('/'));
    if !bucket.is_empty() {
        filter.buckets.push(parse_bucket(bucket)?);
    }
    let mut heartbeat = None;
    for (key, value) in query_pairs(uri) {
        match key.as_str() {
            "prefix" => filter.prefix = value,
            "suffix" => filter.suffix = value,
            // MinIO accepts names Rucket never emits (`s3:ObjectAccessed:*`, ...): keep
            // them as names that match nothing rather than refusing the listener.
            "events" => {
                for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    filter
                        .events
                        .push(EventPattern::parse(name).unwrap_or(EventPattern::Exact(name.to_owned())));
                }
            }
            "ping" => heartbeat = Some(parse_seconds("ping", &value)?),
            _ => {}
        }
    }
    if filter.events.is_empty() {
        // Listen carries S3 events only, not Rucket's own.
        filter.events.push(EventPattern::Prefix("s3:".into()));
    }
    Ok(FeedQuery {
        filter,
        start: Start::Now,
        format: Format::MinioLines,
        heartbeat: heartbeat.or(Some(Duration::from_secs(10))),
    })
}

fn parse_seconds(name: &str, value: &str) -> S3Result<Duration> {
    match value.parse::<u64>() {
        Ok(s) if (1..=3600).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(invalid(format!("{name} must be a number of seconds from 1 to 3600, not `{value}`"))),
    }
}

/// Turns a start into an exclusive cursor, refusing positions the archive cannot serve.
async fn resolve_start(archive: &EventArchive, start: &Start) -> S3Result<LogPosition> {
    let head = archive.head();
    match start {
        Start::Now => Ok(head),
        Start::Oldest => Ok(LogPosition(first_retained(archive)?.0.saturating_sub(1))),
        Start::After(after) => {
            if *after > head {
                return Err(invalid(format!("position {after} is ahead of the archive head {head}")));
            }
            let first = first_retained(archive)?;
            check_retained(*after, first)?;
            Ok(*after)
        }
        Start::Since(t) => {
            let archive = archive.clone();
            let nanos = t.unix_timestamp_nanos().max(0) as u128;
            let since = rucket_schemas::Hlc::from_unix_nanos(nanos, 0);
            tokio::task::spawn_blocking(move || first_at_or_after(&archive, since, head))
                .await
                .map_err(|e| crate::errors::internal("feed start", e))?
        }
    }
}

fn first_retained(archive: &EventArchive) -> S3Result<LogPosition> {
    archive
        .first()
        .map_err(|e| crate::errors::internal("reading the archive", e))
        .map(|p| p.unwrap_or(LogPosition(1)))
}

/// A cursor `after` can be served only when the event after it is still archived.
fn check_retained(after: LogPosition, first: LogPosition) -> S3Result<()> {
    if after.0.saturating_add(1) < first.0 {
        let mut err = S3Error::with_message(
            S3ErrorCode::Custom("EventsNoLongerRetained".into()),
            format!("events after {after} are no longer retained; the oldest archived position is {first}"),
        );
        err.set_status_code(StatusCode::GONE);
        return Err(err);
    }
    Ok(())
}

/// The cursor just before the first event stamped at or after `since` (binary search:
/// stamps follow log order up to the skew between concurrent proposers).
fn first_at_or_after(
    archive: &EventArchive,
    since: rucket_schemas::Hlc,
    head: LogPosition,
) -> S3Result<LogPosition> {
    let first = first_retained(archive)?;
    let (mut lo, mut hi) = (first.0, head.0 + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let stamp = archive
            .get(LogPosition(mid))
            .map_err(|e| crate::errors::internal("reading the archive", e))?
            .map(|e| e.hlc);
        match stamp {
            Some(stamp) if stamp < since => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(LogPosition(lo.saturating_sub(1)))
}

/// S3's bucket-name rules, plus `_rucket` so that `/_rucket/v1/events` reaches the custom
/// route (bucket names themselves are still validated by Rucket's own rules).
pub struct Names;

impl NameValidation for Names {
    fn validate_bucket_name(&self, name: &str) -> bool {
        name == "_rucket" || AwsNameValidation::new().validate_bucket_name(name)
    }
}

/// Route matching for s3s (it allows one custom route): operator requests and the feed.
pub struct Routes {
    pub admin: crate::admin::AdminRoute,
    pub feed: FeedRoute,
    pub keys: crate::admin_keys::KeysRoute,
}

#[async_trait::async_trait]
impl S3Route for Routes {
    fn is_match(&self, method: &Method, uri: &Uri, headers: &HeaderMap, extensions: &mut Extensions) -> bool {
        self.feed.is_match(method, uri, headers)
            || self.keys.is_match(method, uri, headers, extensions)
            || self.admin.is_match(method, uri, headers, extensions)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        crate::access_log::LogNote::mark_checked(&req.extensions);
        if self.feed.is_match(&req.method, &req.uri, &req.headers) {
            // Per-bucket checks happen in `call`, once the filter is parsed.
            return match req.credentials {
                Some(_) => Ok(()),
                None => Err(s3_error!(AccessDenied, "Subscribing requires a signature")),
            };
        }
        if self.keys.is_match(&req.method, &req.uri, &req.headers, &mut req.extensions) {
            return self.keys.check_access(req).await;
        }
        self.admin.check_access(req).await
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if self.feed.is_match(&req.method, &req.uri, &req.headers) {
            return self.feed.call(req).await;
        }
        if self.keys.is_match(&req.method, &req.uri, &req.headers, &mut req.extensions.clone()) {
            return self.keys.call(req).await;
        }
        self.admin.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(query: &str) -> S3Result<FeedQuery> {
        let uri: Uri = format!("{FEED_PATH}?{query}").parse().unwrap();
        parse_feed(&uri, &HeaderMap::new())
    }

    #[test]
    fn parses_filters_and_starts() {
        let q = feed("bucket=bk1&bucket=bk2&prefix=logs/&events=s3:ObjectCreated:*,s3:ObjectRemoved:Delete&after=7&format=s3")
            .unwrap();
        assert_eq!(q.filter.buckets.len(), 2);
        assert_eq!(q.filter.prefix, "logs/");
        assert_eq!(q.filter.events.len(), 2);
        assert_eq!(q.start, Start::After(LogPosition(7)));
        assert_eq!(q.format, Format::S3);
        assert_eq!(feed("").unwrap().start, Start::Now);
        assert_eq!(feed("from=oldest").unwrap().start, Start::Oldest);
        assert!(matches!(feed("since=2026-11-24T10:00:00Z").unwrap().start, Start::Since(_)));
    }

    #[test]
    fn refuses_bad_parameters_with_the_reason() {
        for (query, reason) in [
            ("after=x", "log position"),
            ("after=1&from=now", "at most one"),
            ("from=yesterday", "oldest"),
            ("events=s3:Object*", "last level"),
            ("format=xml", "format"),
            ("heartbeat=0", "heartbeat"),
            ("bucket=No_Such", "bucket"),
            ("buckets=a", "unknown parameter"),
        ] {
            let err = feed(query).unwrap_err();
            assert_eq!(err.code(), &S3ErrorCode::InvalidArgument, "{query}");
            assert!(err.message().unwrap_or_default().contains(reason), "{query}: {:?}", err.message());
        }
    }

    #[test]
    fn last_event_id_wins_over_the_url() {
        let uri: Uri = format!("{FEED_PATH}?after=3").parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", "12".parse().unwrap());
        assert_eq!(parse_feed(&uri, &headers).unwrap().start, Start::After(LogPosition(12)));
    }

    #[test]
    fn a_cursor_before_the_retained_range_is_refused() {
        assert!(check_retained(LogPosition(0), LogPosition(1)).is_ok());
        assert!(check_retained(LogPosition(9), LogPosition(10)).is_ok());
        let err = check_retained(LogPosition(3), LogPosition(10)).unwrap_err();
        assert_eq!(err.status_code(), Some(StatusCode::GONE));
    }

    #[test]
    fn listen_requests_are_recognised() {
        let listen = |s: &str| is_listen(&s.parse().unwrap(), false) || s.starts_with(FEED_PATH);
        assert!(is_listen(&"/?events=x".parse().unwrap(), true));
        assert!(!is_listen(&"/key?events=x".parse().unwrap(), true));
        assert!(listen("/photos?events=s3:ObjectCreated:*"));
        assert!(listen("/?events=s3:ObjectCreated:*&prefix=a"));
        assert!(listen(FEED_PATH));
        assert!(!listen("/photos?list-type=2"));
        assert!(!listen("/photos/key?events=x"));
    }
}
