//! Object bodies sent with `Transfer-Encoding: chunked` and no `Content-Length` (some
//! HTTP clients stream a body of unknown size this way). s3s checks a signed body's hash
//! against a length it must know first, and refuses such a request (411). This reads the
//! body here, up to [`MAX_UNSIZED_BODY`], and hands it on with its length; a longer one is
//! refused with 411 MissingContentLength, naming the limit. The bytes held this way by all
//! requests together stay within [`UNSIZED_BUDGET`]: a request waits for room rather than
//! letting many of them exhaust memory. `aws-chunked` bodies (which declare their decoded
//! length) go to s3s as they are.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use tokio::sync::Semaphore;

/// The longest body taken without a declared length.
pub const MAX_UNSIZED_BODY: usize = 64 << 20;
/// The bytes every such body in flight may hold together.
pub const UNSIZED_BUDGET: usize = 256 << 20;
/// Room is counted in KiB.
const UNIT: usize = 1024;

/// The room unsized bodies share.
#[derive(Clone)]
pub struct Budget(Arc<Semaphore>);

impl Default for Budget {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(UNSIZED_BUDGET / UNIT)))
    }
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
    let too_long = || {
        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "body_too_large").increment(1);
        let message = format!(
            "You must provide the Content-Length HTTP header: a body sent without it may be at most {MAX_UNSIZED_BODY} bytes."
        );
        crate::http::xml_error(http::StatusCode::LENGTH_REQUIRED, "MissingContentLength", &message, "")
    };
    let (mut parts, body) = request.into_parts();
    let mut body = body.into_data_stream();
    let mut held = Vec::new();
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
            return too_long();
        }
        let units = u32::try_from(data.len().div_ceil(UNIT)).unwrap_or(u32::MAX);
        match Arc::clone(&budget.0).acquire_many_owned(units).await {
            Ok(permit) => held.push(permit),
            Err(_) => return too_long(),
        }
        bytes.extend_from_slice(&data);
    }
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(bytes.len()));
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    // The room is given back once the handler has stored (or refused) the body.
    drop(held);
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
