//! Operator requests served inside a running node, through s3s so that they share its
//! SigV4 authentication (headers or presigned URLs). Only the root user may call them.
//!
//! `GET /?rucket-admin=replay-verify`: verify the live projections against the archive at
//! a consistent snapshot; answers a JSON report.
//! `GET /?rucket-admin=cluster-status`: every member's id, address, role, liveness and
//! applied position, and the leader (JSON).
//! `POST /?rucket-admin=cluster-add-node&id=N&address=ADDR`: adds a learner, waits until it
//! has caught up, then makes it a voter. `POST /?rucket-admin=cluster-remove-node&id=N`.

use std::path::PathBuf;
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rucket_log::{replay, EventArchive};
use rucket_projections::{DiffKind, Projections};
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};

use crate::credentials::Users;

pub const VERIFY_QUERY: &str = "rucket-admin=replay-verify";
const CLUSTER_STATUS: &str = "cluster-status";
const ADD_NODE: &str = "cluster-add-node";
const REMOVE_NODE: &str = "cluster-remove-node";

/// The `rucket-admin` operation a request names.
fn admin_operation(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "rucket-admin")
        .map(|(_, v)| v.into_owned())
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub struct AdminRoute {
    pub users: Arc<Users>,
    pub projections: Projections,
    pub archive: EventArchive,
    /// Where scratch folds are made (inside the data dir, same filesystem).
    pub scratch_parent: PathBuf,
    /// The log node, for cluster requests (`None` on a read-only server).
    pub node: Option<Arc<rucket_log::Node>>,
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
        if uri.path() != "/" {
            return false;
        }
        match admin_operation(uri).as_deref() {
            Some("replay-verify" | CLUSTER_STATUS) => method == Method::GET,
            Some(ADD_NODE | REMOVE_NODE) => method == Method::POST,
            _ => false,
        }
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        crate::access_log::LogNote::mark_checked(&req.extensions);
        let credentials =
            req.credentials.as_ref().ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))?;
        match self.users.user(&credentials.access_key).map_err(crate::errors::projection)? {
            Some(user) if user.admin => Ok(()),
            _ => Err(s3_error!(AccessDenied, "Only the root user may run operator requests")),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        match admin_operation(&req.uri).as_deref() {
            Some(CLUSTER_STATUS) => return self.cluster_status().await,
            Some(ADD_NODE | REMOVE_NODE) => return self.change_membership(&req.uri).await,
            _ => {}
        }
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
        Ok(json(&body))
    }
}

fn json(body: &serde_json::Value) -> S3Response<Body> {
    let mut response = S3Response::with_status(Body::from(body.to_string()), StatusCode::OK);
    response.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl AdminRoute {
    fn node(&self) -> S3Result<&Arc<rucket_log::Node>> {
        self.node.as_ref().ok_or_else(|| s3_error!(InvalidRequest, "This server serves a read-only data dir"))
    }

    async fn cluster_status(&self) -> S3Result<S3Response<Body>> {
        let node = self.node()?;
        let own = node.status();
        let members = node.cluster_status().await;
        let nodes: Vec<serde_json::Value> = members
            .into_iter()
            .map(|member| {
                let rucket_log::MemberStatus { id, address, voter, state, phi, status } = member;
                let state = match &status {
                    Some(s) if s.role == rucket_log::Role::Shutdown => rucket_log::PeerState::Down,
                    _ => state,
                };
                serde_json::json!({
                    "id": id,
                    "address": address,
                    "voter": voter,
                    "state": state.as_str(),
                    "phi": phi.is_finite().then_some((phi * 100.0).round() / 100.0),
                    "role": status.as_ref().map(|s| s.role.as_str()),
                    "term": status.as_ref().map(|s| s.term),
                    "applied": status.as_ref().map(|s| s.applied.0),
                    "last_log_index": status.as_ref().map(|s| s.last_log_index),
                })
            })
            .collect();
        Ok(json(&serde_json::json!({
            "node": own.id,
            "leader": own.leader,
            "term": own.term,
            "nodes": nodes,
            "degraded_groups": 0,
        })))
    }

    async fn change_membership(&self, uri: &Uri) -> S3Result<S3Response<Body>> {
        let node = self.node()?;
        let id: u64 = query_param(uri, "id")
            .and_then(|v| v.parse().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| s3_error!(InvalidArgument, "id must be a node id (a number from 1)"))?;
        let change = match admin_operation(uri).as_deref() {
            Some(ADD_NODE) => {
                let address = query_param(uri, "address")
                    .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
                    .ok_or_else(|| {
                        s3_error!(InvalidArgument, "address must be the node's cluster-listen IP:port")
                    })?;
                rucket_log::MembershipChange::Add { id, address }
            }
            _ => rucket_log::MembershipChange::Remove { id },
        };
        tracing::info!(?change, "changing the cluster's membership");
        node.change_membership(change).await.map_err(|e| match e {
            rucket_log::ProposeError::Raft(text) => {
                s3_error!(InvalidRequest, "The membership change was refused: {text}")
            }
            other => crate::errors::propose(other),
        })?;
        // A change forwarded to the leader is committed there before this node applies
        // it: the status this node answers with must already show it.
        // Briefly: a node that removed itself (or the leader) may never catch up.
        match tokio::time::timeout(std::time::Duration::from_secs(2), node.read_barrier()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the membership changed, but this node could not catch up to show it")
            }
            Err(_) => {
                tracing::warn!("the membership changed, but this node did not catch up within 2 s to show it")
            }
        }
        self.cluster_status().await
    }
}
