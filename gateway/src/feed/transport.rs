//! The three transports of a subscription: Server-Sent Events, WebSocket, and MinIO's
//! newline-delimited listen stream. Each turns the subscriber's items into its framing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderValue, StatusCode};
use rucket_schemas::LogPosition;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};
use serde_json::json;
use tokio::sync::mpsc;

use rucket_feed::{EndReason, EndSignal, Item, Permit};

/// The receiving end of a subscription.
pub struct Items {
    pub items: mpsc::Receiver<Item>,
    pub end: EndSignal,
    /// The position the client has been served up to (its resume cursor).
    pub last: LogPosition,
    pub head: LogPosition,
    /// How long one write to a WebSocket may take before the connection is dropped.
    pub stall: Duration,
    /// The subscription's place within the limits, held as long as the connection is.
    pub permit: Permit,
}

/// What a transport writes, in order. The stream ends after an `End`.
enum Delivery {
    Event { position: LogPosition, data: Arc<str> },
    Heartbeat { position: LogPosition, head: LogPosition },
    End { reason: EndReason, position: LogPosition },
}

impl Items {
    /// The deliveries: first a heartbeat naming the start cursor (so a client that
    /// drops before any event still has a resume point), then what the subscriber
    /// sends. On overflow the stream stops taking queued messages and ends with the
    /// position of the last one delivered; on shutdown it delivers what is queued first.
    fn deliveries(self) -> impl Stream<Item = Delivery> + Send {
        let Items { mut items, end, mut last, head, permit, .. } = self;
        async_stream::stream! {
            let _permit = permit;
            yield Delivery::Heartbeat { position: last, head };
            loop {
                if end.get() == Some(EndReason::Overflow) {
                    yield Delivery::End { reason: EndReason::Overflow, position: last };
                    break;
                }
                match items.recv().await {
                    Some(Item::Event { position, data }) => {
                        last = position;
                        yield Delivery::Event { position, data };
                    }
                    Some(Item::Heartbeat { position, head }) => {
                        last = last.max(position);
                        yield Delivery::Heartbeat { position: last, head };
                    }
                    None => {
                        if let Some(reason) = end.get() {
                            yield Delivery::End { reason, position: last };
                        }
                        break;
                    }
                }
            }
        }
    }
}

fn end_message(reason: EndReason, position: LogPosition) -> String {
    json!({ "type": reason.as_str(), "position": position.0, "resume_after": position.0 }).to_string()
}

fn streaming(
    status: StatusCode,
    content_type: &'static str,
    body: impl Stream<Item = Bytes> + Send + 'static,
) -> S3Response<Body> {
    let body = axum::body::Body::from_stream(body.map(Ok::<_, std::convert::Infallible>));
    let body = Body::http_body_unsync(body);
    let mut response = S3Response::with_status(body, status);
    response.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Server-Sent Events. Event ids are log positions; heartbeats are comments that also
/// set the id, so a filtered EventSource's Last-Event-ID advances without a message.
pub fn sse(items: Items) -> S3Response<Body> {
    let preamble = Bytes::from_static(b"retry: 1000\n: rucket event feed\n\n");
    let frames = items.deliveries().map(|d| {
        Bytes::from(match d {
            Delivery::Event { position, data } => format!("id: {position}\ndata: {data}\n\n"),
            Delivery::Heartbeat { position, head } => format!(": heartbeat head={head}\nid: {position}\n\n"),
            Delivery::End { reason, position } => {
                format!("event: {}\ndata: {}\n\n", reason.as_str(), end_message(reason, position))
            }
        })
    });
    let body = futures::stream::once(async move { preamble }).chain(frames);
    streaming(StatusCode::OK, "text/event-stream", body)
}

/// MinIO's listen stream: one `{"Records":[...]}` line per event and `{"Records":[]}`
/// as keepalive. The protocol has no resume token, so an overflow ends the stream.
pub fn listen(items: Items) -> S3Response<Body> {
    let lines = items.deliveries().filter_map(|d| async move {
        match d {
            Delivery::Event { data, .. } => Some(Bytes::from(format!("{data}\n"))),
            Delivery::Heartbeat { .. } => Some(Bytes::from_static(b"{\"Records\":[]}\n")),
            Delivery::End { .. } => None,
        }
    });
    streaming(StatusCode::OK, "application/json", lines)
}

/// A WebSocket: events and heartbeats as JSON text messages (heartbeats also as pings
/// carrying the position); the end as a message, then a close frame.
pub async fn websocket(req: S3Request<Body>, items: Items) -> S3Result<S3Response<Body>> {
    let mut request = http::Request::builder()
        .method(req.method)
        .uri(req.uri)
        .body(())
        .map_err(|e| crate::errors::internal("websocket", e))?;
    *request.headers_mut() = req.headers;
    *request.extensions_mut() = req.extensions;
    let (mut parts, ()) = request.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| s3_error!(InvalidRequest, "not a valid WebSocket upgrade: {}", e))?;
    let response = upgrade.on_upgrade(move |socket| pump(socket, items));
    let (parts, _) = response.into_parts();
    let mut out = S3Response::with_status(Body::empty(), parts.status);
    out.headers = parts.headers;
    Ok(out)
}

async fn pump(mut socket: WebSocket, items: Items) {
    let stall = items.stall;
    let deliveries = items.deliveries();
    futures::pin_mut!(deliveries);
    loop {
        tokio::select! {
            delivery = deliveries.next() => {
                let Some(delivery) = delivery else { return };
                let mut messages = Vec::new();
                let mut closing = false;
                match delivery {
                    Delivery::Event { data, .. } => messages.push(Message::Text(data.as_ref().into())),
                    Delivery::Heartbeat { position, head } => {
                        let text = json!({ "type": "heartbeat", "position": position.0, "head": head.0 }).to_string();
                        messages.push(Message::Ping(Bytes::from(position.0.to_string())));
                        messages.push(Message::Text(text.into()));
                    }
                    Delivery::End { reason, position } => {
                        messages.push(Message::Text(end_message(reason, position).into()));
                        let code = match reason {
                            EndReason::Overflow => 4000,
                            EndReason::Shutdown => 1001,
                            EndReason::Failed => 1011,
                            EndReason::Revoked => 1008,
                        };
                        let reason = format!("{}; resume after {position}", reason.as_str());
                        messages.push(Message::Close(Some(CloseFrame { code, reason: reason.into() })));
                        closing = true;
                    }
                }
                for message in messages {
                    // A client that takes nothing for the stall limit is dropped.
                    match tokio::time::timeout(stall, socket.send(message)).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                }
                if closing {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
