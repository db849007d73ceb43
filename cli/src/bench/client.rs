//! A small SigV4 S3 client for the load generator: one pooled HTTP client, requests
//! signed per call. Lean on purpose, so the client's own CPU stays small next to the
//! server's.

use anyhow::Context;
use bytes::Bytes;

use crate::sigv4::{Payload, Signer};

#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: String,
    signer: Signer,
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
        uri.authority().context("--endpoint has no host")?;
        let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1024).build()?;
        let payload = if unsigned_payload { Payload::Unsigned } else { Payload::Signed };
        let signer = Signer::new(key, secret, region).with_payload(payload);
        Ok(Self { http, endpoint, signer })
    }

    fn signed(&self, method: &str, path_and_query: &str, body: Bytes) -> anyhow::Result<reqwest::Request> {
        self.signer.request(method, &format!("{}{}", self.endpoint, path_and_query), body)
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
        self.list(bucket, prefix, token.map(|t| ("continuation-token", t))).await
    }

    /// Lists the page of up to 1,000 keys after `start_after`.
    pub async fn list_page_after(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
    ) -> anyhow::Result<u64> {
        Ok(self.list(bucket, prefix, Some(("start-after", start_after))).await?.0)
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        from: Option<(&str, &str)>,
    ) -> anyhow::Result<(u64, Option<String>)> {
        let encode = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut query = format!("/{bucket}?list-type=2&max-keys=1000&prefix={}", encode(prefix));
        if let Some((name, value)) = from {
            query.push_str(&format!("&{name}={}", encode(value)));
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
