//! The credential scope must name this node's region and the `s3` service: S3's errors
//! for a wrong one (with the expected region, so SDKs re-sign), `US` as us-east-1, and the
//! setting that accepts any signing region.

use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use rucket_cli::sigv4::Signer;

use crate::support::{Server, ROOT_KEY, ROOT_SECRET};

async fn list_buckets_signed_for(server: &Server, region: &str) -> (u16, String, Option<String>) {
    let request = Signer::new(ROOT_KEY, ROOT_SECRET, region).request(
        "GET",
        &format!("{}/", server.endpoint),
        Bytes::new(),
    );
    let response = reqwest::Client::new().execute(request.unwrap()).await.unwrap();
    let region = response.headers().get("x-amz-bucket-region").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), response.text().await.unwrap(), region)
}

#[tokio::test]
async fn a_request_signed_for_another_region_or_service_is_refused_as_s3_does() {
    let server = Server::start();
    let (status, _, _) = list_buckets_signed_for(&server, "us-east-1").await;
    assert_eq!(status, 200);
    // `US` (the legacy name of us-east-1) is told to sign for us-east-1, like a wrong
    // region: s3s 0.14.1 cannot verify a signature made for a name that is not lowercase.
    for region in ["eu-west-1", "bogus-region-zz", "US"] {
        let (status, body, header) = list_buckets_signed_for(&server, region).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("<Code>AuthorizationHeaderMalformed</Code>"), "{body}");
        assert!(body.contains(&format!("the region '{region}' is wrong; expecting 'us-east-1'")), "{body}");
        assert!(body.contains("<Region>us-east-1</Region>"), "{body}");
        assert_eq!(header.as_deref(), Some("us-east-1"));
    }

    // Another service in the scope: a signature error, not NotImplemented.
    let request = Signer::new(ROOT_KEY, ROOT_SECRET, "us-east-1")
        .request("GET", &format!("{}/", server.endpoint), Bytes::new())
        .unwrap();
    let auth =
        request.headers()["authorization"].to_str().unwrap().replace("/s3/aws4_request", "/sqs/aws4_request");
    let response = reqwest::Client::new()
        .get(format!("{}/", server.endpoint))
        .header("authorization", auth)
        .header("x-amz-date", request.headers()["x-amz-date"].clone())
        .header("x-amz-content-sha256", request.headers()["x-amz-content-sha256"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("<Code>AuthorizationHeaderMalformed</Code>")
            && body.contains("incorrect service 'sqs'"),
        "{body}"
    );

    // A presigned URL for another region.
    let eu = aws_sdk_s3::Client::from_conf(
        server.config_as(ROOT_KEY, ROOT_SECRET).region(aws_sdk_s3::config::Region::new("eu-west-1")).build(),
    );
    let presigned = eu
        .get_object()
        .bucket("any")
        .key("k")
        .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let response = reqwest::get(presigned.uri()).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains("<Code>AuthorizationQueryParametersError</Code>"), "{body}");
    assert!(body.contains("<Region>us-east-1</Region>"), "{body}");
}

#[tokio::test]
async fn accepting_any_signing_region_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--accept-any-signing-region"]);
    let (status, body, _) = list_buckets_signed_for(&server, "eu-west-1").await;
    assert_eq!(status, 200, "{body}");
}
