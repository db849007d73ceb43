//! The HTTP/2 wire between nodes: a client with two connection pools per peer (control:
//! Raft, forwarding, read index, status; bulk: blob copies and archive pages for a
//! snapshot install), so a large transfer never
//! delays a heartbeat, and the signing both sides share.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rucket_log::{NodeId, Rpc, Wire, WireError, WireFuture};
use sha2::Digest;

use super::Secret;

/// The protocol version every call names; a node refuses calls of another version.
pub const PROTOCOL_VERSION: &str = "5";
/// How far a call's timestamp may be from the receiver's clock.
const MAX_SKEW: Duration = Duration::from_secs(60);
/// How long opening a connection to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub const NODE: &str = "x-rucket-node";
pub const TIME: &str = "x-rucket-time";
pub const TARGET: &str = "x-rucket-target";
pub const NONCE: &str = "x-rucket-nonce";
pub const VERSION: &str = "x-rucket-version";
pub const KEYS: &str = "x-rucket-keys";
pub const BODY_SHA256: &str = "x-rucket-body-sha256";
pub const AUTH: &str = "x-rucket-auth";
/// A blob body's declared length (the whole file).
pub const BLOB_LEN: &str = "x-rucket-blob-len";
/// What a blob copy's body hash says: the bytes carry their own CRCs.
pub const UNSIGNED: &str = "UNSIGNED";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The signing of node-to-node calls, shared by the client and the listener.
pub struct Signer {
    node: NodeId,
    secret: Secret,
    fingerprint: String,
    /// Signatures of calls taken within the skew window: a call is taken once.
    seen: std::sync::Mutex<Seen>,
}

/// The nonces of calls taken within the skew window, and when they were last pruned.
#[derive(Default)]
struct Seen {
    nonces: std::collections::HashMap<String, u128>,
    pruned: u128,
}

/// The header carrying the answer's signature (over the call's signature, the status and
/// the answer's hash), so a peer's answer cannot be forged on the way either.
pub const ANSWER_AUTH: &str = "x-rucket-answer-auth";

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Missing or malformed headers, a bad signature, a stale timestamp.
    Unauthenticated(String),
    /// The caller's root credentials or master keys differ from this node's.
    KeysDiffer { theirs: String, ours: String },
}

impl Signer {
    pub fn new(node: NodeId, secret: Secret, fingerprint: String) -> Self {
        Self { node, secret, fingerprint, seen: Default::default() }
    }

    /// The signature of an answer to the call signed `call_auth`.
    pub fn answer_auth(&self, call_auth: &str, status: u16, body_sha: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret.0).expect("HMAC takes a key of any length");
        for part in ["rucket-cluster-answer-v1", call_auth, &status.to_string(), body_sha] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks an answer's signature.
    pub fn verify_answer(&self, call: &HeaderMap, answer: &HeaderMap, status: u16, body_sha: &str) -> bool {
        let (Some(call_auth), Some(given)) = (
            call.get(AUTH).and_then(|v| v.to_str().ok()),
            answer.get(ANSWER_AUTH).and_then(|v| v.to_str().ok()),
        ) else {
            return false;
        };
        let expected = self.answer_auth(call_auth, status, body_sha);
        // Both are hex of one length; compare without an early exit.
        expected.len() == given.len()
            && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Remembers a call's nonce; false when it was already taken (a replay).
    fn first_time(&self, nonce: &str, sent: u128) -> bool {
        let Ok(mut seen) = self.seen.lock() else { return false };
        let now = now_millis();
        // Forget nonces older than the window, at most once a second.
        if now.saturating_sub(seen.pruned) >= 1000 {
            let window = MAX_SKEW.as_millis();
            seen.nonces.retain(|_, at| now.abs_diff(*at) <= window);
            seen.pruned = now;
        }
        seen.nonces.insert(nonce.to_owned(), sent).is_none()
    }

    #[allow(clippy::too_many_arguments)]
    fn mac(
        &self,
        method: &str,
        path: &str,
        from: &str,
        to: &str,
        time: &str,
        nonce: &str,
        keys: &str,
        body_sha: &str,
    ) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret.0).expect("HMAC takes a key of any length");
        for part in ["rucket-cluster-v2", method, path, from, to, time, nonce, keys, body_sha] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The headers that authenticate a call to node `target`; `body` is `None` for a body
    /// that carries its own checksums (a blob copy). Each call has a fresh nonce.
    pub fn sign(&self, method: &Method, path: &str, target: NodeId, body: Option<&[u8]>) -> HeaderMap {
        let time = now_millis().to_string();
        let from = self.node.to_string();
        let to = target.to_string();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let body_sha = body.map_or_else(|| UNSIGNED.to_owned(), |b| hex::encode(sha2::Sha256::digest(b)));
        let mac = self.mac(method.as_str(), path, &from, &to, &time, &nonce, &self.fingerprint, &body_sha);
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            headers.insert(name, HeaderValue::from_str(value).expect("ASCII header value"));
        };
        put(NODE, &from);
        put(TARGET, &to);
        put(TIME, &time);
        put(NONCE, &nonce);
        put(VERSION, PROTOCOL_VERSION);
        put(KEYS, &self.fingerprint);
        put(BODY_SHA256, &body_sha);
        put(AUTH, &hex::encode(mac.finalize().into_bytes()));
        headers
    }

    /// Checks a call's headers: signed with the cluster secret, meant for this node, recent,
    /// not seen before, from a node with the same keys. Returns the sender and whether
    /// the body hash was signed (`Some(hash)`) or the body carries its own checksums.
    pub fn verify(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(NodeId, Option<String>), Refusal> {
        let get = |name: &str| -> Result<&str, Refusal> {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Refusal::Unauthenticated(format!("the {name} header is missing")))
        };
        let version = get(VERSION)?;
        if version != PROTOCOL_VERSION {
            return Err(Refusal::Unauthenticated(format!(
                "protocol version {version} is not this node's {PROTOCOL_VERSION}"
            )));
        }
        let (from, to, time, nonce, keys, body_sha, auth) =
            (get(NODE)?, get(TARGET)?, get(TIME)?, get(NONCE)?, get(KEYS)?, get(BODY_SHA256)?, get(AUTH)?);
        let mac = self.mac(method.as_str(), path, from, to, time, nonce, keys, body_sha);
        let given =
            hex::decode(auth).map_err(|_| Refusal::Unauthenticated("the signature is not hex".into()))?;
        mac.verify_slice(&given).map_err(|_| {
            Refusal::Unauthenticated("the signature does not match the cluster secret".into())
        })?;
        if to != self.node.to_string() {
            return Err(Refusal::Unauthenticated(format!("the call is for node {to}, not this node")));
        }
        let sent: u128 =
            time.parse().map_err(|_| Refusal::Unauthenticated("the timestamp is not a number".into()))?;
        let now = now_millis();
        if now.abs_diff(sent) > MAX_SKEW.as_millis() {
            return Err(Refusal::Unauthenticated(format!(
                "the call's timestamp is {} ms from this node's clock (at most {} ms)",
                now.abs_diff(sent),
                MAX_SKEW.as_millis()
            )));
        }
        if keys != self.fingerprint {
            return Err(Refusal::KeysDiffer { theirs: keys.to_owned(), ours: self.fingerprint.clone() });
        }
        if !self.first_time(nonce, sent) {
            return Err(Refusal::Unauthenticated("the call was already taken (a replay)".into()));
        }
        let node: NodeId =
            from.parse().map_err(|_| Refusal::Unauthenticated("the node id is not a number".into()))?;
        Ok((node, (body_sha != UNSIGNED).then(|| body_sha.to_owned())))
    }
}

/// The client side of the wire.
#[derive(Clone)]
pub struct HttpWire {
    signer: Arc<Signer>,
    control: Client<HttpConnector, Body>,
    bulk: Client<HttpConnector, Body>,
}

fn client(local: Option<std::net::IpAddr>) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // Calls leave from this node's own address, so peers (and firewalls) see who calls.
    connector.set_local_address(local);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_keep_alive_interval(Duration::from_secs(5))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        .build(connector)
}

impl HttpWire {
    /// A wire whose calls leave from `local` (this node's cluster address), if set.
    pub fn new(signer: Arc<Signer>, local: Option<std::net::IpAddr>) -> Self {
        Self { signer, control: client(local), bulk: client(local) }
    }

    /// Sends a signed request on the bulk pool (blob copies); the caller reads the answer.
    pub async fn bulk(
        &self,
        target: NodeId,
        address: &str,
        method: Method,
        path: &str,
        extra: &[(&'static str, String)],
        body: Body,
    ) -> Result<http::Response<hyper::body::Incoming>, WireError> {
        let mut request = Request::builder().method(method.clone()).uri(format!("http://{address}{path}"));
        for (name, value) in self.signer.sign(&method, path, target, None).iter() {
            request = request.header(name, value);
        }
        for (name, value) in extra {
            request = request.header(*name, value);
        }
        let request = request
            .body(body)
            .map_err(|e| WireError::Refused { node: target, reason: format!("building the request: {e}") })?;
        let call = request.headers().clone();
        let response = self.bulk.request(request).await.map_err(|e| connect_error(target, &e))?;
        let status = response.status().as_u16();
        let len = response.headers().get(BLOB_LEN).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        if !self.signer.verify_answer(&call, response.headers(), status, &len) {
            return Err(WireError::Refused {
                node: target,
                reason: format!("an unsigned or forged answer ({status})"),
            });
        }
        Ok(response)
    }
}

fn connect_error(node: NodeId, e: &hyper_util::client::legacy::Error) -> WireError {
    let reason = match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    };
    WireError::Unreachable { node, reason }
}

/// Reads an error answer's text (bounded) for the refusal it explains.
pub async fn refusal_text(response: http::Response<hyper::body::Incoming>) -> String {
    let status = response.status();
    let text = axum::body::to_bytes(Body::new(response.into_body()), 64 << 10).await.unwrap_or_default();
    format!("{status}: {}", String::from_utf8_lossy(&text))
}

impl Wire for HttpWire {
    fn call(&self, target: NodeId, address: &str, rpc: Rpc, body: Vec<u8>, deadline: Duration) -> WireFuture {
        let path = format!("/_cluster/v1/rpc/{}", rpc.name());
        let headers = self.signer.sign(&Method::POST, &path, target, Some(&body));
        let uri = format!("http://{address}{path}");
        let client = if rpc.is_bulk() { self.bulk.clone() } else { self.control.clone() };
        let signer = Arc::clone(&self.signer);
        Box::pin(async move {
            let mut request = Request::builder().method(Method::POST).uri(uri);
            for (name, value) in headers.iter() {
                request = request.header(name, value);
            }
            let request = request.body(Body::from(Bytes::from(body))).map_err(|e| WireError::Refused {
                node: target,
                reason: format!("building the request: {e}"),
            })?;
            let exchange = async {
                let response = client.request(request).await.map_err(|e| connect_error(target, &e))?;
                if response.status() != StatusCode::OK {
                    return Err(WireError::Refused { node: target, reason: refusal_text(response).await });
                }
                let answer_headers = response.headers().clone();
                let bytes =
                    axum::body::to_bytes(Body::new(response.into_body()), usize::MAX).await.map_err(|e| {
                        WireError::Unreachable { node: target, reason: format!("reading the answer: {e}") }
                    })?;
                let body_sha = hex::encode(sha2::Sha256::digest(&bytes));
                if !signer.verify_answer(&headers, &answer_headers, 200, &body_sha) {
                    return Err(WireError::Refused {
                        node: target,
                        reason: "an unsigned or forged answer".into(),
                    });
                }
                Ok(bytes.to_vec())
            };
            tokio::time::timeout(deadline, exchange)
                .await
                .unwrap_or(Err(WireError::Timeout { node: target, after: deadline }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str, keys: &str) -> Signer {
        Signer::new(2, Secret(secret.as_bytes().to_vec()), keys.to_owned())
    }

    #[test]
    fn a_signed_call_verifies_and_any_change_is_refused() {
        let ours = signer("0123456789abcdef", "keys-a");
        let headers = ours.sign(&Method::POST, "/_cluster/v1/rpc/vote", 2, Some(b"body"));
        let (node, body_sha) = ours.verify(&Method::POST, "/_cluster/v1/rpc/vote", &headers).unwrap();
        assert_eq!(node, 2);
        assert_eq!(body_sha.unwrap(), hex::encode(sha2::Sha256::digest(b"body")));

        // Another route, another secret, other keys, a tampered header.
        assert!(ours.verify(&Method::POST, "/_cluster/v1/rpc/propose", &headers).is_err());
        let stranger = signer("fedcba9876543210", "keys-a");
        assert!(matches!(
            stranger.verify(&Method::POST, "/_cluster/v1/rpc/vote", &headers),
            Err(Refusal::Unauthenticated(_))
        ));
        let other_keys = signer("0123456789abcdef", "keys-b");
        assert!(matches!(
            other_keys.verify(&Method::POST, "/_cluster/v1/rpc/vote", &headers),
            Err(Refusal::KeysDiffer { .. })
        ));
        let mut tampered = headers.clone();
        tampered.insert(NODE, HeaderValue::from_static("3"));
        assert!(ours.verify(&Method::POST, "/_cluster/v1/rpc/vote", &tampered).is_err());
        let mut stale = headers.clone();
        stale.insert(TIME, HeaderValue::from_static("1000"));
        assert!(ours.verify(&Method::POST, "/_cluster/v1/rpc/vote", &stale).is_err());

        // Two calls alike in every byte but their nonce are both taken.
        let twin = ours.sign(&Method::POST, "/_cluster/v1/rpc/vote", 2, Some(b"body"));
        assert!(ours.verify(&Method::POST, "/_cluster/v1/rpc/vote", &twin).is_ok());
        // A call for another node is refused (an answer could not vouch for the target).
        let elsewhere = ours.sign(&Method::POST, "/_cluster/v1/rpc/vote", 3, Some(b"body"));
        assert!(ours.verify(&Method::POST, "/_cluster/v1/rpc/vote", &elsewhere).is_err());
        let unsigned = ours.sign(&Method::PUT, "/_cluster/v1/blob/x?len=10", 2, None);
        assert_eq!(ours.verify(&Method::PUT, "/_cluster/v1/blob/x?len=10", &unsigned).unwrap().1, None);
        // A call is taken once: the same signed headers again are a replay.
        let again = ours.verify(&Method::PUT, "/_cluster/v1/blob/x?len=10", &unsigned).unwrap_err();
        assert!(matches!(again, Refusal::Unauthenticated(ref r) if r.contains("replay")), "{again:?}");

        // Answers are signed over the call's signature, the status and the body.
        let mut answer = HeaderMap::new();
        let call_auth = headers[AUTH].to_str().unwrap();
        answer.insert(ANSWER_AUTH, HeaderValue::from_str(&ours.answer_auth(call_auth, 200, "abc")).unwrap());
        assert!(ours.verify_answer(&headers, &answer, 200, "abc"));
        assert!(!ours.verify_answer(&headers, &answer, 200, "abd"));
        assert!(!ours.verify_answer(&headers, &answer, 500, "abc"));
        assert!(!stranger.verify_answer(&headers, &answer, 200, "abc"));
        assert!(!ours.verify_answer(&unsigned, &answer, 200, "abc"));
    }
}
