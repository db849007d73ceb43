//! The credential scope of a SigV4 request (`<key>/<date>/<region>/<service>/aws4_request`,
//! in the Authorization header or a presigned URL's `X-Amz-Credential`) must name this
//! node's region and the `s3` service, as S3 requires: a request signed for another region
//! must not act here (with geo regions it would act on the wrong one). A wrong region is
//! answered as S3 does, with the expected region in the error body and in
//! `x-amz-bucket-region`, so boto3 and s3cmd re-sign for the right region by themselves.
//! `US`, the legacy name of us-east-1, cannot be served as it is: s3s 0.14.1 verifies
//! signatures only for lowercase region names. A request signed for it (or for any name
//! that is not lowercase) gets the same answer as a wrong region, naming the region to
//! sign for, so a client configured with `US` re-signs for us-east-1 by itself.
//! `accept_any_signing_region` turns the region check off for clients that cannot be
//! configured (it gives up the protection).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

/// What the scope check compares with.
#[derive(Clone, Debug)]
pub struct ScopeCheck {
    pub region: String,
    pub accept_any_region: bool,
}

/// Why a credential scope is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ScopeFault {
    Region { given: String },
    Service { given: String },
}

impl ScopeCheck {
    /// Checks a credential (`<key>/<date>/<region>/<service>/aws4_request`); a credential
    /// of another shape is left to the signature check.
    pub fn check(&self, credential: &str) -> Result<(), ScopeFault> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [_key, _date, region, service, _terminator] = parts.as_slice() else { return Ok(()) };
        if *service != "s3" {
            return Err(ScopeFault::Service { given: (*service).to_owned() });
        }
        let verifiable = region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !verifiable || (!self.accept_any_region && *region != self.region) {
            return Err(ScopeFault::Region { given: (*region).to_owned() });
        }
        Ok(())
    }
}

/// The credential of a SigV4 request, from its Authorization header or its query.
fn credential(request: &Request) -> Option<(String, bool)> {
    if let Some(auth) = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
        let credential = rest.split(',').find_map(|part| part.trim().strip_prefix("Credential="))?;
        return Some((credential.trim().to_owned(), false));
    }
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .map(|(_, v)| (v.into_owned(), true))
}

pub async fn layer(State(check): State<ScopeCheck>, request: Request, next: Next) -> Response {
    let Some((credential, presigned)) = credential(&request) else { return next.run(request).await };
    let Err(fault) = check.check(&credential) else { return next.run(request).await };
    let code = if presigned { "AuthorizationQueryParametersError" } else { "AuthorizationHeaderMalformed" };
    let what = if presigned {
        "Error parsing the X-Amz-Credential parameter"
    } else {
        "The authorization header is malformed"
    };
    let (message, region) = match &fault {
        ScopeFault::Region { given } => {
            (format!("{what}; the region '{given}' is wrong; expecting '{}'", check.region), true)
        }
        ScopeFault::Service { given } => {
            (format!("{what}; incorrect service '{given}'. This endpoint belongs to 's3'."), false)
        }
    };
    let region_element = if region { format!("<Region>{}</Region>", check.region) } else { String::new() };
    let mut response = crate::http::xml_error(StatusCode::BAD_REQUEST, code, &message, &region_element);
    if let Ok(value) = http::HeaderValue::from_str(&check.region) {
        response.headers_mut().insert("x-amz-bucket-region", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_names_this_region_and_s3() {
        let check = ScopeCheck { region: "us-east-1".into(), accept_any_region: false };
        assert_eq!(check.check("AK/20261202/us-east-1/s3/aws4_request"), Ok(()));
        assert_eq!(
            check.check("AK/20261202/US/s3/aws4_request"),
            Err(ScopeFault::Region { given: "US".into() }),
            "the legacy name is answered with the region to sign for"
        );
        let any = ScopeCheck { region: "us-east-1".into(), accept_any_region: true };
        assert_eq!(any.check("AK/20261202/eu-west-1/s3/aws4_request"), Ok(()));
        assert_eq!(
            any.check("AK/20261202/US/s3/aws4_request"),
            Err(ScopeFault::Region { given: "US".into() })
        );
        assert_eq!(
            check.check("AK/20261202/eu-west-1/s3/aws4_request"),
            Err(ScopeFault::Region { given: "eu-west-1".into() })
        );
        assert_eq!(
            check.check("AK/20261202/us-east-1/sqs/aws4_request"),
            Err(ScopeFault::Service { given: "sqs".into() })
        );
        let eu = ScopeCheck { region: "eu-west-1".into(), accept_any_region: false };
        assert!(eu.check("AK/20261202/US/s3/aws4_request").is_err(), "US is us-east-1 only");
        let any = ScopeCheck { region: "us-east-1".into(), accept_any_region: true };
        assert_eq!(any.check("AK/20261202/bogus-region-zz/s3/aws4_request"), Ok(()));
        assert!(
            any.check("AK/20261202/bogus-region-zz/iam/aws4_request").is_err(),
            "the service still counts"
        );
    }
}
