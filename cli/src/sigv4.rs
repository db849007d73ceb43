//! The one SigV4 client of the command line: signs requests with aws-sigv4 for any S3
//! endpoint (ours or a peer's), for the load generator and the operator commands alike.

use std::time::SystemTime;

use anyhow::Context;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bytes::Bytes;
use sha2::Digest as _;

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How the payload is covered by the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `x-amz-content-sha256` is the body's SHA-256.
    Signed,
    /// `UNSIGNED-PAYLOAD` for non-empty bodies (cheaper for a load generator).
    Unsigned,
}

/// Credentials and region to sign with.
#[derive(Clone)]
pub struct Signer {
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: String,
    payload: Payload,
}

impl Signer {
    pub fn new(key: &str, secret: &str, region: &str) -> Self {
        let identity = aws_credential_types::Credentials::new(key, secret, None, None, "rucket-cli").into();
        Self { identity, region: region.to_owned(), payload: Payload::Signed }
    }

    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// A signed request for `url` with `body`.
    pub fn request(&self, method: &str, url: &str, body: Bytes) -> anyhow::Result<reqwest::Request> {
        let parsed: http::Uri = url.parse().with_context(|| format!("parsing {url}"))?;
        let host = parsed.authority().map(|a| a.to_string()).with_context(|| format!("{url} has no host"))?;
        let payload_hash = if body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else if self.payload == Payload::Unsigned {
            UNSIGNED.to_owned()
        } else {
            hex::encode(sha2::Sha256::digest(&body))
        };
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = [("host", host.as_str()), ("x-amz-content-sha256", payload_hash.as_str())];
        let signable = SignableRequest::new(
            method,
            url,
            headers.into_iter(),
            SignableBody::Precomputed(payload_hash.clone()),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(body)?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(reqwest::Request::try_from(request.map(reqwest::Body::from))?)
    }
}

/// Sends one operator request on a one-off runtime: the status and the body's text.
pub fn send(request: reqwest::Request) -> anyhow::Result<(reqwest::StatusCode, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let response = reqwest::Client::new().execute(request).await?;
        let status = response.status();
        anyhow::Ok((status, response.text().await?))
    })
}

/// The server and root (or admin token) keys an operator command signs with, shared by
/// `rucket key` and `rucket cluster`.
#[derive(clap::Args, Debug)]
pub struct Endpoint {
    /// The server (any node of a cluster), such as http://127.0.0.1:9000.
    #[arg(long, env = "RUCKET_ENDPOINT", default_value = "http://127.0.0.1:9000", global = true)]
    pub endpoint: String,
    /// The root key, or an admin token's.
    #[arg(long, env = "RUCKET_ACCESS_KEY_ID", global = true)]
    pub access_key_id: Option<String>,
    #[arg(long, env = "RUCKET_SECRET_ACCESS_KEY", hide_env_values = true, global = true)]
    pub secret_access_key: Option<String>,
    /// The region to sign for.
    #[arg(long, env = "RUCKET_REGION", default_value = "us-east-1", global = true)]
    pub region: String,
}

impl Endpoint {
    /// The signer for these keys; an error naming the variables when they are unset.
    pub fn signer(&self) -> anyhow::Result<Signer> {
        let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) else {
            anyhow::bail!(
                "set RUCKET_ACCESS_KEY_ID and RUCKET_SECRET_ACCESS_KEY (the root key; `rucket key` also takes an admin token)"
            );
        };
        Ok(Signer::new(key, secret, &self.region))
    }

    /// `path` (with its query) on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_a_v4_signature_for_their_region() {
        let signer = Signer::new("AKID", "secret", "eu-west-1");
        let request = signer.request("PUT", "http://127.0.0.1:9000/b/k", Bytes::from_static(b"hi")).unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"), "{auth}");
        assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            hex::encode(sha2::Sha256::digest(b"hi")).as_str()
        );
        let unsigned = signer.with_payload(Payload::Unsigned);
        let request =
            unsigned.request("PUT", "http://127.0.0.1:9000/b/k", Bytes::from_static(b"hi")).unwrap();
        assert_eq!(request.headers()["x-amz-content-sha256"], UNSIGNED);
        let empty = unsigned.request("GET", "http://127.0.0.1:9000/b/k", Bytes::new()).unwrap();
        assert_eq!(empty.headers()["x-amz-content-sha256"], EMPTY_SHA256);
        assert!(Signer::new("a", "b", "r").request("GET", "/no/host", Bytes::new()).is_err());
    }
}
