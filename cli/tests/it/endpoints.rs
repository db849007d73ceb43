//! Health, metrics, virtual-hosted-style addressing and graceful shutdown.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;

use crate::support::{bucket, Server, ROOT_KEY, ROOT_SECRET};

#[tokio::test]
async fn health_and_metrics() {
    let server = Server::start();
    let live = reqwest::get(format!("{}/_rucket/health/live", server.endpoint)).await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = reqwest::get(format!("{}/_rucket/health/ready", server.endpoint)).await.unwrap();
    assert_eq!(ready.status(), 200);

    let s3 = server.client();
    let name = bucket("metrics");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_object().bucket(&name).key("k").body(b"12345".to_vec().into()).send().await.unwrap();
    let _ = s3.get_object().bucket(&name).key("absent").send().await;
    let text =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    for needle in [
        r#"rucket_requests_total{operation="PutObject",status="200"} 1"#,
        r#"rucket_requests_total{operation="GetObject",status="404"} 1"#,
        r#"rucket_requests_total{operation="CreateBucket",status="200"} 1"#,
        "rucket_request_duration_seconds_bucket",
        "rucket_bytes_in_total 5",
        "rucket_applied_position 2",
        "rucket_raft_committed_index",
        "rucket_raft_applied_index",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
}

#[tokio::test]
async fn virtual_hosted_style_names_the_bucket_in_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--domain", "s3.rucket.test"]);
    let s3 = server.client();
    let name = bucket("vhost");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_object().bucket(&name).key("hello.txt").body(b"virtual".to_vec().into()).send().await.unwrap();

    let port = server.address.rsplit(':').next().unwrap();
    let vhost_client = aws_sdk_s3::Client::from_conf(
        server
            .config_as(ROOT_KEY, ROOT_SECRET)
            .endpoint_url(format!("http://s3.rucket.test:{port}"))
            .force_path_style(false)
            .build(),
    );
    let url = vhost_client
        .get_object()
        .bucket(&name)
        .key("hello.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    assert!(
        url.uri().starts_with(&format!("http://{name}.s3.rucket.test:{port}/hello.txt")),
        "{}",
        url.uri()
    );
    let http = reqwest::Client::builder()
        .resolve(&format!("{name}.s3.rucket.test"), server.address.parse().unwrap())
        .build()
        .unwrap();
    let response = http.get(url.uri()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "virtual");

    // SigV2 too: a virtual-hosted path names a key, even one that looks like a bucket.
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60;
    let signed = sigv2_signature(&format!("GET\n\n\n{expires}\n/{name}/hello.txt"));
    let url = format!(
        "http://{name}.s3.rucket.test:{port}/hello.txt?AWSAccessKeyId={ROOT_KEY}&Expires={expires}&Signature={signed}"
    );
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "virtual");
}

/// A SigV2 signature of `string_to_sign` with the root secret, URL-encoded.
fn sigv2_signature(string_to_sign: &str) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(ROOT_SECRET.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    signature.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let name = bucket("restart");
    server.client().create_bucket().bucket(&name).send().await.unwrap();
    server.client().put_object().bucket(&name).key("k").body(b"kept".to_vec().into()).send().await.unwrap();
    server.stop();
    let server = Server::start_in(dir.path(), &[]);
    let got = server.client().get_object().bucket(&name).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("shutting down"), "the first server logged its shutdown");
}
