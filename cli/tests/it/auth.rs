//! Authentication: signatures, unknown keys, anonymous requests, presigned URLs, skew.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;

use crate::support::{bucket, code, hex_sha256, send_raw, sign, status, Server, ROOT_KEY, ROOT_SECRET};

#[tokio::test]
async fn bad_credentials_are_refused() {
    let server = Server::start();
    let name = bucket("auth");
    server.client().create_bucket().bucket(&name).send().await.unwrap();

    let wrong_secret = server.client_as(ROOT_KEY, "not-the-secret");
    let err = wrong_secret.list_buckets().send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (403, "SignatureDoesNotMatch"));
    let unknown = server.client_as("NOSUCHKEY", "whatever");
    let err = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!((status(&err), code(&err).as_str()), (403, "InvalidAccessKeyId"));

    let anonymous = reqwest::get(format!("{}/{name}", server.endpoint)).await.unwrap();
    assert_eq!(anonymous.status(), 403);
    assert!(anonymous.text().await.unwrap().contains("<Code>AccessDenied</Code>"));

    // Signed an hour ago: outside the 15 minutes S3 allows.
    let mut request = http::Request::builder()
        .method("GET")
        .uri(format!("{}/", server.endpoint))
        .header("host", server.address.as_str())
        .header("x-amz-content-sha256", hex_sha256(b""))
        .body(Vec::new())
        .unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    sign(&mut request, ROOT_KEY, ROOT_SECRET, &hex_sha256(b""), old);
    *request.uri_mut() = "/".parse().unwrap();
    let (status, text) = send_raw(&server.address, &request, None).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("<Code>RequestTimeTooSkewed</Code>"), "{text}");
}

#[tokio::test]
async fn presigned_urls_work_until_they_expire() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("presigned");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_object()
        .bucket(&name)
        .key("doc.txt")
        .body(b"presigned body".to_vec().into())
        .send()
        .await
        .unwrap();

    let url = s3
        .get_object()
        .bucket(&name)
        .key("doc.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let response = reqwest::get(url.uri()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "presigned body");

    let put = s3
        .put_object()
        .bucket(&name)
        .key("uploaded.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let response = reqwest::Client::new().put(put.uri()).body("via url").send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let got = s3.get_object().bucket(&name).key("uploaded.txt").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"via url");

    let expired = s3
        .get_object()
        .bucket(&name)
        .key("doc.txt")
        .presigned(
            PresigningConfig::builder()
                .start_time(SystemTime::now() - Duration::from_secs(600))
                .expires_in(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let response = reqwest::get(expired.uri()).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("AccessDenied"));

    let tampered = url.uri().replace("doc.txt", "uploaded.txt");
    let response = reqwest::get(tampered).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn presigned_urls_serve_every_method_for_at_most_a_week() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("presigned-methods");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_object().bucket(&name).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let config = || PresigningConfig::expires_in(Duration::from_secs(60)).unwrap();
    let head = s3.head_object().bucket(&name).key("k").presigned(config()).await.unwrap();
    assert_eq!(reqwest::Client::new().head(head.uri()).send().await.unwrap().status(), 200);
    let delete = s3.delete_object().bucket(&name).key("k").presigned(config()).await.unwrap();
    assert_eq!(reqwest::Client::new().delete(delete.uri()).send().await.unwrap().status(), 204);

    // Eight days is more than S3 allows (the SDK refuses to make one, so sign by hand).
    let url = format!("{}/{name}/k", server.endpoint);
    let identity = aws_credential_types::Credentials::new(ROOT_KEY, ROOT_SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(8 * 24 * 3600));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [("host", server.address.as_str())];
    let signable =
        SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::UnsignedPayload).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method("GET").uri(&url).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let eight_days = request.uri().to_string();
    let response = reqwest::get(&eight_days).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    // A lifetime of zero or less is refused the same way; one that is no number is malformed.
    let expires = format!("X-Amz-Expires={}", 8 * 24 * 3600);
    for (value, status, code) in [
        ("0", 403, "AccessDenied"),
        ("-7", 403, "AccessDenied"),
        ("soon", 400, "AuthorizationQueryParametersError"),
    ] {
        let url = eight_days.replace(&expires, &format!("X-Amz-Expires={value}"));
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), status, "X-Amz-Expires={value}");
        assert!(
            response.text().await.unwrap().contains(&format!("<Code>{code}</Code>")),
            "X-Amz-Expires={value}"
        );
    }
}
