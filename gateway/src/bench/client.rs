//! A small SigV4 S3 client for the load generator: one pooled HTTP client, requests
//! signed per call. Lean on purpose, so the client's own CPU stays small next to the
//! server's.

use std::time::SystemTime;

use anyhow::Context;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bytes::Bytes;
use sha2::Digest as _;

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: String,
    unsigned_payload: bool,
}

impl S3Client {
    pub fn new(
        endpoint: &str,
        key: &str,
        secret: &str,
        region: &str,
        unsigned_payload: bool,
    ) -> anyhow::Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let uri: http::Uri = endpoint.parse().context("parsing --endpoint")?;
        let host = uri.authority().map(|a| a.to_string()).context("--endpoint has no host")?;
        let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1024).build()?;
        let identity = aws_credential_types::Credentials::new(key, secret, None, None, "rucket-bench").into();
        Ok(Self { http, endpoint, host, identity, region: region.to_owned(), unsigned_payload })
    }

    fn signed(&self, method: &str, path_and_query: &str, body: Bytes) -> anyhow::Result<reqwest::Request> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let payload_hash = if body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else if self.unsigned_payload {
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
        let headers = [("host", self.host.as_str()), ("x-amz-content-sha256", payload_hash.as_str())];
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.into_iter(),
            SignableBody::Precomputed(payload_hash.clone()),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(body)?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(reqwest::Request::try_from(request.map(reqwest::Body::from))?)
    }

    async fn send(&self, request: reqwest::Request) -> anyhow::Result<reqwest::Response> {
        let response = self.http.execute(request).await?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("{status}: {}", text.chars().take(200).collect::<String>());
        }
        Ok(response)
    }

    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let request = self.signed("PUT", &format!("/{bucket}"), Bytes::new())?;
        let response = self.http.execute(request).await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() || text.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            anyhow::bail!("creating bucket {bucket}: {status}: {text}")
        }
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Bytes) -> anyhow::Result<()> {
        self.send(self.signed("PUT", &format!("/{bucket}/{key}"), body)?).await?;
        Ok(())
    }

    /// Reads the whole object and returns its length.
    pub async fn get(&self, bucket: &str, key: &str) -> anyhow::Result<u64> {
        let mut response = self.send(self.signed("GET", &format!("/{bucket}/{key}"), Bytes::new())?).await?;
        let mut n = 0u64;
        while let Some(chunk) = response.chunk().await? {
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    pub async fn stat(&self, bucket: &str, key: &str) -> anyhow::Result<()> {
        self.send(self.signed("HEAD", &format!("/{bucket}/{key}"), Bytes::new())?).await?;
        Ok(())
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> anyhow::Result<()> {
        self.send(self.signed("DELETE", &format!("/{bucket}/{key}"), Bytes::new())?).await?;
        Ok(())
    }

    /// Lists one page of ListObjectsV2; returns the keys on it and the next token.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(u64, Option<String>)> {
        let encode = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut query = format!("/{bucket}?list-type=2&max-keys=1000&prefix={}", encode(prefix));
        if let Some(t) = token {
            query.push_str(&format!("&continuation-token={}", encode(t)));
        }
        let text = self.send(self.signed("GET", &query, Bytes::new())?).await?.text().await?;
        let keys = text.matches("<Key>").count() as u64;
        let next = text
            .split("<NextContinuationToken>")
            .nth(1)
            .and_then(|rest| rest.split("</NextContinuationToken>").next())
            .map(str::to_owned);
        Ok((keys, next))
    }
}
