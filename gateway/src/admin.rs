//! Operator requests served inside a running node, through s3s so that they share its
//! SigV4 authentication (headers or presigned URLs). Only the root user may call them.
//!
//! `GET /?rucket-admin=replay-verify`: verify the live projections against the archive at
//! a consistent snapshot; answers a JSON report.

use std::path::PathBuf;
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rucket_log::{replay, EventArchive};
use rucket_projections::{DiffKind, Projections};
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};

use crate::credentials::Users;

pub const VERIFY_QUERY: &str = "rucket-admin=replay-verify";

pub struct AdminRoute {
    pub users: Arc<Users>,
    pub projections: Projections,
    pub archive: EventArchive,
    /// Where scratch folds are made (inside the data dir, same filesystem).
    pub scratch_parent: PathBuf,
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        _headers: &HeaderMap,
        _extensions: &mut Extensions,
    ) -> bool {
        method == Method::GET
            && uri.path() == "/"
            && uri.query().is_some_and(|q| q.split('&').any(|p| p == VERIFY_QUERY))
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let credentials =
            req.credentials.as_ref().ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))?;
        match self.users.user(&credentials.access_key).map_err(crate::errors::projection)? {
            Some(user) if user.admin => Ok(()),
            _ => Err(s3_error!(AccessDenied, "Only the root user may run operator requests")),
        }
    }

    async fn call(&self, _req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let projections = self.projections.clone();
        let archive = self.archive.clone();
        let parent = self.scratch_parent.clone();
        let report = tokio::task::spawn_blocking(move || {
            let scratch = tempfile::Builder::new()
                .prefix("replay-verify-")
                .tempdir_in(&parent)
                .map_err(|e| e.to_string())?;
            replay::verify_live(&projections, &archive, scratch.path()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| crate::errors::internal("replay verify", e))?;
        let body = match report {
            Ok(report) => serde_json::json!({
                "ok": report.matches(),
                "position": report.events,
                "fold_seconds": report.fold_time.as_secs_f64(),
                "digests": report.digests.iter().map(|d| serde_json::json!({
                    "view": d.view, "records": d.records, "sha256": d.sha256,
                })).collect::<Vec<_>>(),
                "differences": report.differences.iter().map(|d| serde_json::json!({
                    "view": d.view,
                    "record": d.record,
                    "kind": match d.kind {
                        DiffKind::OnlyInLeft => "only in the live projections",
                        DiffKind::OnlyInRight => "missing from the live projections",
                        DiffKind::Differs => "differs",
                    },
                })).collect::<Vec<_>>(),
            }),
            Err(error) => serde_json::json!({ "ok": false, "error": error }),
        };
        let mut response = S3Response::with_status(Body::from(body.to_string()), StatusCode::OK);
        response.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }
}
