//! A request body that fails when the client sends nothing for a while. The blob store
//! times out the bodies it streams itself; this covers the rest: bodies s3s reads whole
//! (configuration XML, DeleteObjects, CompleteMultipartUpload, POST forms) and chunked
//! configuration bodies read to check their size. Without it, a client that sends its
//! headers and then stalls holds a connection and a task for as long as it likes.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

pin_project_lite::pin_project! {
    /// `inner`, failing once it has been waited on for `idle` with nothing received.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        idle: Duration,
        started: bool,
        fired: Arc<AtomicBool>,
    }
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, idle: Duration, fired: Arc<AtomicBool>) -> Self {
        Self { inner, sleep: tokio::time::sleep(idle), idle, started: false, fired }
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct BodyIdle(pub Duration);

impl<B> http_body::Body for IdleTimeout<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if !*this.started {
            // The clock runs from the first read, not from when the request arrived.
            *this.started = true;
            this.sleep.as_mut().reset(tokio::time::Instant::now() + *this.idle);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep.as_mut().reset(tokio::time::Instant::now() + *this.idle);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => {
                    this.fired.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(Box::new(BodyIdle(*this.idle)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: every request body gets an idle timeout a second longer than
/// `body_timeout` (the blob store's own, exact, fires first for the bodies it streams).
/// When it fires, whatever the handler answered becomes 400 RequestTimeout and the
/// connection closes.
pub async fn layer(State(body_timeout): State<Option<Duration>>, request: Request, next: Next) -> Response {
    // At most a year: a larger setting means "never" and must not overflow a deadline.
    let Some(idle) = body_timeout.map(|t| t.saturating_add(Duration::from_secs(1)).min(YEAR)) else {
        return next.run(request).await;
    };
    let http1 = request.version() < http::Version::HTTP_2;
    let fired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| Body::new(IdleTimeout::new(body, idle, Arc::clone(&fired))));
    let response = next.run(request).await;
    if !fired.load(Ordering::Acquire) {
        return response;
    }
    tracing::info!(?idle, "a request body stalled and was aborted");
    metrics::counter!(crate::metrics::REJECTIONS, "reason" => "body_timeout").increment(1);
    let message = format!(
        "Your socket connection to the server was not read from or written to within the timeout period ({} s).",
        idle.as_secs()
    );
    let mut response = crate::http::xml_error(http::StatusCode::BAD_REQUEST, "RequestTimeout", &message, "");
    if http1 {
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use http_body::Body as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_and_says_so() {
        let chunks = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"abc"))])
            .chain(futures::stream::pending());
        let fired = Arc::new(AtomicBool::new(false));
        let mut body =
            Box::pin(IdleTimeout::new(Body::from_stream(chunks), Duration::from_secs(5), Arc::clone(&fired)));
        let first = futures::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"abc"));
        assert!(!fired.load(Ordering::Acquire));
        let started = tokio::time::Instant::now();
        let stalled = futures::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await.unwrap();
        assert!(stalled.unwrap_err().to_string().contains("sent nothing"));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(fired.load(Ordering::Acquire));
    }
}
