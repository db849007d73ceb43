//! The listener peers call (`--cluster-listen`): HTTP/2 without TLS, every call signed
//! with the cluster secret. Routes:
//!
//! ```text
//! POST /_cluster/v1/rpc/{name}   a log message (Raft, forwarded proposal, read index, status)
//! GET  /_cluster/v1/hello        who answers (checks the caller's keys like every call)
//! PUT  /_cluster/v1/blob/{id}?len=N  a copy of a blob file (N bytes, signed), checked
//!                                against its CRCs
//! GET  /_cluster/v1/blob/{id}    a blob file, for a node that lacks it
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::TryStreamExt;
use http::{HeaderMap, Method, StatusCode};
use rucket_blobs::{BlobError, BlobStore};
use rucket_log::{Node, Rpc};
use rucket_schemas::BlobId;
use sha2::Digest;

use super::wire::{Refusal, Signer, BLOB_LEN};
use crate::volumes::Volumes;

/// The largest log message a peer may send (a Raft entry of many inline bodies).
const MAX_MESSAGE: usize = 512 << 20;
/// Peer connections open at once.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Clone)]
struct Peers {
    node: Arc<Node>,
    blobs: BlobStore,
    /// A copy for a new write is refused below the reserve, as the write itself would be.
    volumes: Volumes,
    signer: Arc<Signer>,
}

fn refuse(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Unauthenticated(reason) => {
            tracing::warn!(reason, "refused an unauthenticated cluster call");
            (StatusCode::UNAUTHORIZED, reason).into_response()
        }
        Refusal::KeysDiffer { theirs, ours } => {
            let text = format!(
                "the caller's root credentials, master keys or region differ from this node's (key fingerprint {theirs} there, {ours} here): every node of a cluster needs the same RUCKET_ACCESS_KEY_ID, RUCKET_SECRET_ACCESS_KEY, master key and region"
            );
            tracing::error!("{text}");
            (StatusCode::CONFLICT, text).into_response()
        }
    }
}

async fn rpc(
    State(peers): State<Peers>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = format!("/_cluster/v1/rpc/{name}");
    let signed = match peers.signer.verify(&Method::POST, &path, &headers) {
        Ok((_, Some(hash))) => hash,
        Ok((_, None)) => {
            return (StatusCode::UNAUTHORIZED, "a log message must sign its body").into_response()
        }
        Err(refusal) => return refuse(refusal),
    };
    let Some(rpc) = Rpc::from_name(&name) else {
        return (StatusCode::NOT_FOUND, format!("no call named {name}")).into_response();
    };
    let body = match axum::body::to_bytes(body, MAX_MESSAGE).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("reading the message: {e}")).into_response(),
    };
    if hex::encode(sha2::Sha256::digest(&body)) != signed {
        return (StatusCode::UNAUTHORIZED, "the body does not match its signed hash").into_response();
    }
    match peers.node.serve_rpc(rpc, &body).await {
        Ok(answer) => (StatusCode::OK, answer).into_response(),
        Err(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
    }
}

async fn hello(State(peers): State<Peers>, headers: HeaderMap) -> Response {
    match peers.signer.verify(&Method::GET, "/_cluster/v1/hello", &headers) {
        Ok(_) => (StatusCode::OK, format!("node {}", peers.node.id())).into_response(),
        Err(refusal) => refuse(refusal),
    }
}

fn blob_id(id: &str) -> Result<BlobId, Box<Response>> {
    BlobId::from_file_name(id).ok_or_else(|| {
        Box::new((StatusCode::BAD_REQUEST, format!("`{id}` is not a blob id")).into_response())
    })
}

async fn put_blob(
    State(peers): State<Peers>,
    Path(id): Path<String>,
    uri: http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The length travels in the signed path, so a copy cannot be cut or grown on the way.
    let signed_path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
    if let Err(refusal) = peers.signer.verify(&Method::PUT, signed_path, &headers) {
        return refuse(refusal);
    }
    let id = match blob_id(&id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let len = uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "len"))
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let Some(len) = len else {
        return (StatusCode::BAD_REQUEST, "the blob length is missing").into_response();
    };
    if let Some(short) = peers.volumes.short(len) {
        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "disk_reserve").increment(1);
        tracing::warn!(blob = %id, "refused a blob copy: {}", short.message());
        return (StatusCode::INSUFFICIENT_STORAGE, short.message()).into_response();
    }
    match peers.blobs.receive(&id, len, body.into_data_stream()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(BlobError::Corrupt { .. }) => {
            (StatusCode::BAD_REQUEST, "the copy does not match its CRCs or its length").into_response()
        }
        Err(e) => {
            tracing::error!(blob = %id, error = %e, "could not store a blob copy");
            (StatusCode::INSUFFICIENT_STORAGE, e.to_string()).into_response()
        }
    }
}

async fn get_blob(State(peers): State<Peers>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refusal) = peers.signer.verify(&Method::GET, &format!("/_cluster/v1/blob/{id}"), &headers) {
        return refuse(refusal);
    }
    let id = match blob_id(&id) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match peers.blobs.open_for_copy(&id) {
        Ok((file, len)) => {
            let stream =
                tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10)
                    .map_err(std::io::Error::other);
            Response::builder()
                .status(StatusCode::OK)
                .header(BLOB_LEN, len)
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Err(BlobError::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Signs every answer for the caller: over the call's signature, the status and either
/// the body's SHA-256 (log messages, held in memory anyway) or the blob length (blob
/// bodies carry their CRCs and stream).
async fn sign_answers(
    State(peers): State<Peers>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let call_auth = request.headers().get(super::wire::AUTH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let is_message = request.uri().path().starts_with("/_cluster/v1/rpc/");
    let response = next.run(request).await;
    let Some(call_auth) = call_auth else { return response };
    let status = response.status().as_u16();
    // A refused call gets no signature: whoever sent it may not hold the secret.
    if status == StatusCode::UNAUTHORIZED.as_u16() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let (body, body_sha) = if is_message {
        match axum::body::to_bytes(body, MAX_MESSAGE).await {
            Ok(bytes) => {
                let sha = hex::encode(sha2::Sha256::digest(&bytes));
                (Body::from(bytes), sha)
            }
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    } else {
        let len = parts.headers.get(BLOB_LEN).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (body, len)
    };
    let signature = peers.signer.answer_auth(&call_auth, status, &body_sha);
    if let Ok(value) = http::HeaderValue::from_str(&signature) {
        parts.headers.insert(super::wire::ANSWER_AUTH, value);
    }
    Response::from_parts(parts, body)
}

/// Binds the cluster listener and serves peers in the background.
pub async fn start(
    address: SocketAddr,
    node: Arc<Node>,
    blobs: BlobStore,
    volumes: Volumes,
    signer: Arc<Signer>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("binding the cluster listener {address}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/_cluster/v1/rpc/{name}", post(rpc))
        .route("/_cluster/v1/hello", get(hello))
        .route("/_cluster/v1/blob/{id}", get(get_blob).put(put_blob))
        .layer(axum::middleware::from_fn_with_state(
            Peers {
                node: Arc::clone(&node),
                blobs: blobs.clone(),
                volumes: volumes.clone(),
                signer: Arc::clone(&signer),
            },
            sign_answers,
        ))
        .with_state(Peers { node, blobs, volumes, signer });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder.http2().timer(hyper_util::rt::TokioTimer::new()).max_concurrent_streams(4096);
        let builder = builder.http2_only();
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                tracing::warn!(%peer, "too many peer connections; closing one");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let builder = builder.clone();
            tokio::spawn(async move {
                if let Err(e) = builder.serve_connection(hyper_util::rt::TokioIo::new(tcp), service).await {
                    tracing::debug!(%peer, error = %e, "peer connection ended with an error");
                }
                drop(slot);
            });
        }
    });
    Ok(bound)
}
