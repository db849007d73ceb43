//! CORS: bucket configurations (Put/Get/DeleteBucketCors) and the HTTP layer that
//! answers preflight `OPTIONS` requests from them and adds CORS headers to actual
//! responses. Preflights are anonymous, as browsers send them, so the layer runs in
//! front of s3s.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rucket_projections::Projections;
use rucket_schemas::{BucketName, CorsConfig, CorsRule};
use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::host::VirtualHosts;

const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];
const MAX_RULES: usize = 100;

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, message)
}

fn one_wildcard(kind: &str, value: &str) -> S3Result<()> {
    if value.matches('*').count() > 1 {
        return Err(invalid(format!("{kind} \"{value}\" can not have more than one wildcard.")));
    }
    Ok(())
}

/// Validates a PutBucketCors body as S3 does and converts it.
pub fn from_s3(config: CORSConfiguration) -> S3Result<CorsConfig> {
    if config.cors_rules.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    if config.cors_rules.len() > MAX_RULES {
        return Err(invalid(format!("A CORS configuration may have at most {MAX_RULES} rules")));
    }
    let mut rules = Vec::new();
    for rule in config.cors_rules {
        let CORSRule {
            allowed_headers,
            allowed_methods,
            allowed_origins,
            expose_headers,
            id,
            max_age_seconds,
        } = rule;
        if allowed_methods.is_empty() || allowed_origins.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "Each CORSRule needs at least one AllowedMethod and one AllowedOrigin",
            ));
        }
        for method in &allowed_methods {
            if !METHODS.contains(&method.as_str()) {
                return Err(invalid(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
                )));
            }
        }
        for origin in &allowed_origins {
            one_wildcard("AllowedOrigin", origin)?;
        }
        let allowed_headers = allowed_headers.unwrap_or_default();
        for header in &allowed_headers {
            one_wildcard("AllowedHeader", header)?;
        }
        if max_age_seconds.is_some_and(|m| m < 0) {
            return Err(invalid("MaxAgeSeconds must not be negative".into()));
        }
        rules.push(CorsRule {
            id,
            allowed_origins,
            allowed_methods,
            allowed_headers,
            expose_headers: expose_headers.unwrap_or_default(),
            max_age_seconds,
        });
    }
    Ok(CorsConfig { rules })
}

pub fn to_s3(config: &CorsConfig) -> Vec<CORSRule> {
    config
        .rules
        .iter()
        .map(|r| CORSRule {
            allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
            allowed_methods: r.allowed_methods.clone(),
            allowed_origins: r.allowed_origins.clone(),
            expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
            id: r.id.clone(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

/// Matches `value` against a pattern with at most one `*` (case-insensitive when asked).
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (pattern, value) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
    }
}

/// The first rule that allows `origin` to use `method`, and (for a preflight) every
/// requested header.
pub fn find_rule<'a>(
    config: &'a CorsConfig,
    origin: &str,
    method: &str,
    request_headers: &[String],
) -> Option<&'a CorsRule> {
    config.rules.iter().find(|rule| {
        rule.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && rule.allowed_methods.iter().any(|m| m == method)
            && request_headers.iter().all(|h| rule.allowed_headers.iter().any(|a| wildcard(a, h, true)))
    })
}

/// The CORS headers for a request from `origin` that `rule` allows.
fn rule_headers(rule: &CorsRule, origin: &str, request_headers: Option<&[String]>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let allow_origin = if any_origin { "*" } else { origin };
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("access-control-allow-origin", allow_origin.to_owned());
    put("access-control-allow-methods", rule.allowed_methods.join(", "));
    if let Some(requested) = request_headers.filter(|h| !h.is_empty()) {
        put("access-control-allow-headers", requested.join(", "));
    }
    if !rule.expose_headers.is_empty() {
        put("access-control-expose-headers", rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        put("access-control-max-age", age.to_string());
    }
    if !any_origin {
        put("access-control-allow-credentials", "true".to_owned());
    }
    put("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned());
    headers
}

/// What the layer needs: the views and how to find a request's bucket.
#[derive(Clone)]
pub struct CorsLayer {
    pub projections: Projections,
    pub hosts: Option<Arc<VirtualHosts>>,
}

impl CorsLayer {
    /// The bucket a request addresses, virtual-hosted or path-style.
    fn bucket_of(&self, request: &Request) -> Option<BucketName> {
        let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok());
        if let (Some(hosts), Some(host)) = (&self.hosts, host) {
            if let Some(bucket) = hosts.bucket_of(host) {
                return BucketName::parse(bucket).ok();
            }
        }
        let path = request.uri().path().trim_start_matches('/');
        let name = path.split('/').next().unwrap_or_default();
        let name = percent_encoding::percent_decode_str(name).decode_utf8().ok()?;
        BucketName::parse(&name).ok()
    }
}

fn forbidden(message: &str) -> Response {
    error_response(StatusCode::FORBIDDEN, "AccessForbidden", message)
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(http::header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// The axum middleware.
pub async fn layer(State(cors): State<CorsLayer>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(http::header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if request.method() == Method::OPTIONS {
        return match cors.bucket_of(&request) {
            Some(bucket) => preflight(&cors, &bucket, request.headers(), origin.as_deref()),
            None => next.run(request).await,
        };
    }
    let Some(origin) = origin else { return next.run(request).await };
    let bucket = cors.bucket_of(&request);
    let method = request.method().as_str().to_owned();
    let mut response = next.run(request).await;
    let config = bucket.and_then(|b| cors.projections.cors(&b).ok().flatten());
    if let Some(rule) = config.as_ref().and_then(|c| find_rule(c, &origin, &method, &[])) {
        response.headers_mut().extend(rule_headers(rule, &origin, None));
    }
    response
}

fn preflight(cors: &CorsLayer, bucket: &BucketName, headers: &HeaderMap, origin: Option<&str>) -> Response {
    let Some(origin) = origin else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let Some(method) = headers.get("access-control-request-method").and_then(|v| v.to_str().ok()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid Access-Control-Request-Method: null",
        );
    };
    let requested: Vec<String> = headers
        .get_all("access-control-request-headers")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let config = match cors.projections.cors(bucket) {
        Ok(Some(config)) => config,
        Ok(None) => return forbidden("CORSResponse: CORS is not enabled for this bucket."),
        Err(e) => {
            tracing::error!(error = %e, "reading a CORS configuration");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error.",
            );
        }
    };
    match find_rule(&config, origin, method, &requested) {
        Some(rule) => {
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().extend(rule_headers(rule, origin, Some(&requested)));
            response
        }
        None => forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CORSRule {
        CORSRule {
            allowed_headers: Some(headers.iter().map(|s| s.to_string()).collect()),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            expose_headers: None,
            id: None,
            max_age_seconds: None,
        }
    }

    #[test]
    fn rules_match_origins_methods_and_headers() {
        let config = from_s3(CORSConfiguration {
            cors_rules: vec![
                rule(&["https://*.example.com"], &["GET", "PUT"], &["x-amz-*", "content-type"]),
                rule(&["*"], &["GET"], &[]),
            ],
        })
        .unwrap();
        let first = &config.rules[0];
        let hit = |o, m, h: &[&str]| {
            find_rule(&config, o, m, &h.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map(|r| r == first)
        };
        assert_eq!(hit("https://app.example.com", "PUT", &["x-amz-date", "content-type"]), Some(true));
        assert_eq!(hit("https://app.example.com", "PUT", &["authorization"]), None);
        assert_eq!(hit("https://example.org", "GET", &[]), Some(false), "the catch-all rule");
        assert_eq!(hit("https://example.org", "DELETE", &[]), None);
        assert!(wildcard("X-Amz-*", "x-amz-date", true));
        assert!(!wildcard("https://*.example.com", "https://example.com", false));
    }

    #[test]
    fn refuses_what_s3_refuses() {
        let bad = |r: CORSRule| from_s3(CORSConfiguration { cors_rules: vec![r] }).unwrap_err();
        assert_eq!(bad(rule(&["*"], &["PATCH"], &[])).code(), &S3ErrorCode::InvalidRequest);
        assert_eq!(bad(rule(&["http://*.*.com"], &["GET"], &[])).code(), &S3ErrorCode::InvalidRequest);
        assert_eq!(bad(rule(&["*"], &["GET"], &["a*b*"])).code(), &S3ErrorCode::InvalidRequest);
        assert_eq!(bad(rule(&[], &["GET"], &[])).code(), &S3ErrorCode::MalformedXML);
        assert!(from_s3(CORSConfiguration { cors_rules: vec![] }).is_err());
    }
}
