//! CORS: bucket configurations through the SDK, preflights and actual responses over
//! plain HTTP as a browser sends them.

use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::support::{self, Server, ROOT_KEY, ROOT_SECRET};

async fn preflight(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request =
        reqwest::Client::new().request(reqwest::Method::OPTIONS, format!("{}{path}", server.endpoint));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn preflights_and_responses_follow_the_bucket_rules() {
    let server = Server::start();
    let client = server.client();
    let bucket = support::bucket("cors");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let path = format!("/{bucket}/k");

    let err = client.get_bucket_cors().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchCORSConfiguration");
    assert_eq!(support::status(&err), 404);
    let before = preflight(
        &server,
        &path,
        &[("origin", "https://a.example.com"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(before.status(), 403);

    let config = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .id("app")
                .allowed_origins("https://*.example.com")
                .allowed_methods("GET")
                .allowed_methods("PUT")
                .allowed_headers("x-amz-*")
                .allowed_headers("content-type")
                .expose_headers("ETag")
                .max_age_seconds(600)
                .build()
                .unwrap(),
        )
        .cors_rules(CorsRule::builder().allowed_origins("*").allowed_methods("GET").build().unwrap())
        .build()
        .unwrap();
    client.put_bucket_cors().bucket(&bucket).cors_configuration(config).send().await.unwrap();
    let got = client.get_bucket_cors().bucket(&bucket).send().await.unwrap();
    assert_eq!(got.cors_rules().len(), 2);
    assert_eq!(got.cors_rules()[0].id(), Some("app"));
    assert_eq!(got.cors_rules()[0].allowed_headers(), ["x-amz-*", "content-type"]);
    assert_eq!(got.cors_rules()[0].max_age_seconds(), Some(600));

    let ok = preflight(
        &server,
        &path,
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "Content-Type, X-Amz-Date"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(header(&ok, "access-control-allow-methods").as_deref(), Some("GET, PUT"));
    assert_eq!(header(&ok, "access-control-allow-headers").as_deref(), Some("content-type, x-amz-date"));
    assert_eq!(header(&ok, "access-control-expose-headers").as_deref(), Some("ETag"));
    assert_eq!(header(&ok, "access-control-max-age").as_deref(), Some("600"));
    assert_eq!(header(&ok, "access-control-allow-credentials").as_deref(), Some("true"));

    // The catch-all rule answers other origins with `*`.
    let any = preflight(
        &server,
        &path,
        &[("origin", "https://other.org"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(any.status(), 200);
    assert_eq!(header(&any, "access-control-allow-origin").as_deref(), Some("*"));

    for (headers, status) in [
        (vec![("origin", "https://other.org"), ("access-control-request-method", "PUT")], 403),
        (vec![("origin", "https://app.example.com"), ("access-control-request-method", "DELETE")], 403),
        (
            vec![
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
            403,
        ),
        (vec![("access-control-request-method", "GET")], 400),
        (vec![("origin", "https://app.example.com")], 400),
    ] {
        let response = preflight(&server, &path, &headers).await;
        assert_eq!(response.status(), status, "{headers:?}");
        assert!(header(&response, "access-control-allow-origin").is_none());
    }

    // An actual (signed) request from an allowed origin carries the headers.
    let mut request = http::Request::builder()
        .method("GET")
        .uri(format!("{}{path}", server.endpoint))
        .header("host", server.address.as_str())
        .header("origin", "https://app.example.com")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body(Vec::new())
        .unwrap();
    support::sign(&mut request, ROOT_KEY, ROOT_SECRET, "UNSIGNED-PAYLOAD", SystemTime::now());
    let request = reqwest::Request::try_from(request.map(reqwest::Body::from)).unwrap();
    let response = reqwest::Client::new().execute(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(header(&response, "access-control-expose-headers").as_deref(), Some("ETag"));
    assert_eq!(response.text().await.unwrap(), "hello");

    // Bad configurations are refused and change nothing.
    let bad = CorsConfiguration::builder()
        .cors_rules(CorsRule::builder().allowed_origins("*").allowed_methods("PATCH").build().unwrap())
        .build()
        .unwrap();
    let err = client.put_bucket_cors().bucket(&bucket).cors_configuration(bad).send().await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidRequest");
    assert_eq!(client.get_bucket_cors().bucket(&bucket).send().await.unwrap().cors_rules().len(), 2);

    client.delete_bucket_cors().bucket(&bucket).send().await.unwrap();
    let err = client.get_bucket_cors().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchCORSConfiguration");
    let after = preflight(
        &server,
        &path,
        &[("origin", "https://other.org"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(after.status(), 403);

    // Another user may not configure the bucket.
    let alice = server.client_as(support::ALICE_KEY, support::ALICE_SECRET);
    let err = alice.get_bucket_cors().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");
}
