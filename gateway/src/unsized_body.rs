//! Object bodies sent with `Transfer-Encoding: chunked` and no `Content-Length` (some
//! HTTP clients stream a body of unknown size this way). s3s checks a signed body's hash
//! against a length it must know first, and refuses such a request (411). This reads the
//! body here, up to [`MAX_UNSIZED_BODY`], and hands it on with its length; a longer one is
//! refused with 411 MissingContentLength, naming the limit (after reading on a little, so
//! that the client has sent its body and reads the answer). Each such request reserves
//! room for a whole [`MAX_UNSIZED_BODY`] before it reads, out of [`UNSIZED_BUDGET`] for all
//! of them: a request that finds no room within [`ROOM_WAIT`] is answered 503 SlowDown.
//! Only signed requests reserve room: an unsigned body without a length is 411 at once.
//! `aws-chunked` bodies (which declare their decoded length) go to s3s as they are.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use tokio::sync::Semaphore;

/// The longest body taken without a declared length.
pub const MAX_UNSIZED_BODY: usize = 64 << 20;
/// The bytes every such body in flight may hold together: room for four at once.
pub const UNSIZED_BUDGET: usize = 4 * MAX_UNSIZED_BODY;
/// How long a request waits for room.
pub const ROOM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How much more of a body past the limit is read (and dropped) before it is refused.
const DRAIN: usize = 8 << 20;

/// The room unsized bodies share, in whole bodies, and the users whose keys may take it.
#[derive(Clone)]
pub struct Budget {
    room: Arc<Semaphore>,
    users: Arc<crate::credentials::Users>,
}

impl Budget {
    pub fn new(users: Arc<crate::credentials::Users>) -> Self {
        Self { room: Arc::new(Semaphore::new(UNSIZED_BUDGET / MAX_UNSIZED_BODY)), users }
    }
}

/// The access key a request names (SigV4 or SigV2, header or presigned), if any. The
/// signature itself is checked by s3s after this layer.
fn access_key(request: &Request) -> Option<String> {
    if let Some(auth) = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(v2) = auth.strip_prefix("AWS ") {
            return v2.split_once(':').map(|(key, _)| key.to_owned());
        }
        let credential = auth.split([',', ' ']).find_map(|p| p.trim().strip_prefix("Credential="))?;
        return credential.split('/').next().map(str::to_owned);
    }
    let query = request.uri().query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).find_map(|(k, v)| match k.as_ref() {
        "X-Amz-Credential" => v.split('/').next().map(str::to_owned),
        "AWSAccessKeyId" => Some(v.into_owned()),
        _ => None,
    })
}

/// Whether `request` is a write whose body has no declared length and is not aws-chunked.
fn unsized_write(request: &Request) -> bool {
    let headers = request.headers();
    let streaming =
        headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"))
            || headers.contains_key("x-amz-decoded-content-length");
    *request.method() == http::Method::PUT
        && !headers.contains_key(http::header::CONTENT_LENGTH)
        && headers.contains_key(http::header::TRANSFER_ENCODING)
        && !streaming
}

pub async fn layer(State(budget): State<Budget>, request: Request, next: Next) -> Response {
    if !unsized_write(&request) {
        return next.run(request).await;
    }
    // Room is only reserved for requests signed with a key that exists (the signature is
    // checked after): an anonymous body without a length is refused at once, so unsigned
    // clients cannot hold the room.
    let Some(key) = access_key(&request) else {
        let message = "You must provide the Content-Length HTTP header.";
        return crate::http::xml_error(
            http::StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            message,
            "",
        );
    };
    if !matches!(budget.users.user(&key), Ok(Some(_))) {
        let message = "The AWS Access Key Id you provided does not exist in our records.";
        return crate::http::xml_error(http::StatusCode::FORBIDDEN, "InvalidAccessKeyId", message, "");
    }
    let too_long = || {
        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "body_too_large").increment(1);
        let message = format!(
            "You must provide the Content-Length HTTP header: a body sent without it may be at most {MAX_UNSIZED_BODY} bytes."
        );
        crate::http::xml_error(http::StatusCode::LENGTH_REQUIRED, "MissingContentLength", &message, "")
    };
    let permit = match tokio::time::timeout(ROOM_WAIT, Arc::clone(&budget.room).acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            metrics::counter!(crate::metrics::REJECTIONS, "reason" => "uploads").increment(1);
            let message =
                "Too many uploads without a Content-Length are in progress; retry, or send Content-Length.";
            return crate::http::xml_error(http::StatusCode::SERVICE_UNAVAILABLE, "SlowDown", message, "");
        }
    };
    let (mut parts, body) = request.into_parts();
    let mut body = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(data) = body.next().await {
        let data = match data {
            Ok(data) => data,
            // A body that broke off (or stalled: the idle layer outside says so) is handed
            // on broken, for the handler to fail as it would any other.
            Err(e) => {
                let broken = futures::stream::once(async move { Err::<bytes::Bytes, _>(e) });
                return next.run(Request::from_parts(parts, Body::from_stream(broken))).await;
            }
        };
        if bytes.len() + data.len() > MAX_UNSIZED_BODY {
            drop(bytes);
            let mut drained = 0;
            while drained < DRAIN {
                match body.next().await {
                    Some(Ok(more)) => drained += more.len(),
                    _ => break,
                }
            }
            return too_long();
        }
        bytes.extend_from_slice(&data);
    }
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    // The room is given back once the handler has stored (or refused) the body.
    drop(permit);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method("PUT").uri("/b/k");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    /// A header naming the root key (its signature is s3s's to check, not this layer's).
    const SIGNED: &str =
        "AWS4-HMAC-SHA256 Credential=ROOT/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

    fn budget() -> Budget {
        let settings = crate::config::Settings::resolve(crate::config::ServeArgs {
            data_dir: Some(std::env::temp_dir()),
            access_key_id: Some("ROOT".into()),
            secret_access_key: Some("rootsecret".into()),
            ..Default::default()
        })
        .unwrap();
        Budget::new(Arc::new(crate::credentials::Users::load(&settings).unwrap().0))
    }

    fn unsized_put(body: &'static [u8]) -> Request {
        http::Request::builder()
            .method("PUT")
            .uri("/b/k")
            .header("transfer-encoding", "chunked")
            .header("authorization", SIGNED)
            .body(Body::from(body))
            .unwrap()
    }

    /// Four bodies read at once at most; a fifth waits, then is told to slow down; a body
    /// past the limit is refused with 411; one within it reaches the handler with its length.
    #[tokio::test(start_paused = true)]
    async fn bodies_share_room_and_keep_to_the_limit() {
        use tower::ServiceExt as _;
        let release = Arc::new(tokio::sync::Notify::new());
        let held = Arc::clone(&release);
        let app = axum::Router::new()
            .fallback(move |request: Request| {
                let held = Arc::clone(&held);
                async move {
                    let length = request.headers().get("content-length").cloned();
                    if request.uri().path() == "/hold" {
                        held.notified().await;
                    }
                    format!("{length:?}")
                }
            })
            .layer(axum::middleware::from_fn_with_state(budget(), layer));
        let hold = |app: axum::Router| {
            let request = http::Request::builder()
                .method("PUT")
                .uri("/hold")
                .header("transfer-encoding", "chunked")
                .header("authorization", SIGNED)
                .body(Body::from("x"))
                .unwrap();
            tokio::spawn(app.oneshot(request))
        };
        let holders: Vec<_> = (0..4).map(|_| hold(app.clone())).collect();
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        let refused = app.clone().oneshot(unsized_put(b"late")).await.unwrap();
        assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(started.elapsed(), ROOM_WAIT);
        release.notify_waiters();
        for holder in holders {
            assert_eq!(holder.await.unwrap().unwrap().status(), http::StatusCode::OK);
        }
        let fits = app.clone().oneshot(unsized_put(b"hello")).await.unwrap();
        let said = axum::body::to_bytes(fits.into_body(), 1024).await.unwrap();
        assert_eq!(&said[..], b"Some(\"5\")");
        let big: &'static [u8] = Box::leak(vec![0u8; MAX_UNSIZED_BODY + 1].into_boxed_slice());
        let too_long = app.clone().oneshot(unsized_put(big)).await.unwrap();
        assert_eq!(too_long.status(), http::StatusCode::LENGTH_REQUIRED);
        // An unsigned one is refused before it reserves anything.
        let (mut parts, body) = unsized_put(b"hello").into_parts();
        parts.headers.remove("authorization");
        let anonymous = app.clone().oneshot(Request::from_parts(parts, body)).await.unwrap();
        assert_eq!(anonymous.status(), http::StatusCode::LENGTH_REQUIRED);
        // A key that does not exist takes no room either.
        let (mut parts, body) = unsized_put(b"hello").into_parts();
        let unknown = SIGNED.replace("ROOT", "NOBODY");
        parts.headers.insert("authorization", http::HeaderValue::from_str(&unknown).unwrap());
        let unknown = app.oneshot(Request::from_parts(parts, body)).await.unwrap();
        assert_eq!(unknown.status(), http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_access_key_is_found_in_every_form_of_signature() {
        let with = |name: &str, value: &str| {
            let mut request = unsized_put(b"");
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
            access_key(&request)
        };
        assert_eq!(with("authorization", SIGNED).as_deref(), Some("ROOT"));
        assert_eq!(with("authorization", "AWS AK2:c2ln").as_deref(), Some("AK2"));
        let presigned = |query: &str| {
            let request = http::Request::builder().uri(format!("/b/k?{query}")).body(Body::empty()).unwrap();
            access_key(&request)
        };
        assert_eq!(
            presigned("X-Amz-Credential=AK3%2F20260101%2Fus-east-1%2Fs3%2Faws4_request").as_deref(),
            Some("AK3")
        );
        assert_eq!(presigned("AWSAccessKeyId=AK4&Signature=x").as_deref(), Some("AK4"));
        assert_eq!(presigned("x=1"), None);
    }

    #[test]
    fn only_unsized_plain_writes_are_read_here() {
        assert!(unsized_write(&request(&[("transfer-encoding", "chunked")])));
        assert!(unsized_write(&request(&[
            ("transfer-encoding", "chunked"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        ])));
        assert!(!unsized_write(&request(&[("content-length", "3")])));
        assert!(!unsized_write(&request(&[
            ("transfer-encoding", "chunked"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ])));
        assert!(!unsized_write(&request(&[
            ("transfer-encoding", "chunked"),
            ("x-amz-decoded-content-length", "3")
        ])));
    }
}
