//! Access keys through the admin API (`/_rucket/v1/admin/keys`) and the `rucket key`
//! commands that call it. Requests are SigV4-signed like S3 requests, by the root user or
//! a scoped admin token (a key created with `admin: true`).
//!
//! - `POST /_rucket/v1/admin/keys` `{"user": "alice", "admin": false, "policy": {...}}`:
//!   a new key; the answer holds the secret, shown this once and never again.
//! - `GET /_rucket/v1/admin/keys`, `GET .../keys/<id>`: keys without their secrets.
//! - `DELETE .../keys/<id>`; `PUT .../keys/<id>/status` `{"enabled": false}`.
//! - `PUT .../keys/<id>/policy` with an identity policy; `DELETE .../keys/<id>/policy`.
//!
//! Every change is a command decided at apply time and archived as an event; secrets are
//! sealed by the master key before they reach the log.

use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rucket_log::Node;
use rucket_projections::{AccessKeyRecord, Projections};
use rucket_schemas::{Command, CommandBody, EventId, Outcome, RegionId, UserId};
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Error, S3Request, S3Response, S3Result};
use serde_json::{json, Value};

use crate::credentials::{User, Users};
use crate::errors;
use crate::sse::Keyring;
use rucket_log::Clock;

pub const KEYS_PATH: &str = "/_rucket/v1/admin/keys";

/// The largest request body the admin API reads (an identity policy is at most 20 KiB).
const MAX_BODY: usize = 64 << 10;

pub struct KeysRoute {
    pub users: Arc<Users>,
    pub projections: Projections,
    /// `None` when serving a read-only data dir.
    pub node: Option<Arc<Node>>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<Clock>,
    pub region: RegionId,
}

pub(crate) fn malformed(message: impl Into<String>) -> S3Error {
    errors::with_status("MalformedRequest", &message.into(), StatusCode::BAD_REQUEST)
}

/// The key id and what follows it in a path under [`KEYS_PATH`].
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix(KEYS_PATH).unwrap_or_default().split('/').filter(|s| !s.is_empty()).collect()
}

/// A user name for a new key: what S3 user ids may be here, and never the root's or the
/// anonymous principal's.
fn check_user_name(name: &str) -> S3Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+=,-".contains(&b))
        && name != crate::credentials::ROOT_USER
        && name != rucket_schemas::ANONYMOUS;
    if ok {
        Ok(())
    } else {
        Err(malformed(format!(
            "The user name {name:?} is not valid: 1 to 64 letters, digits and ._@+=,- (and not `root`)"
        )))
    }
}

/// Validates an identity policy given as JSON text; the error is MalformedPolicy.
fn identity_policy(text: &str) -> S3Result<String> {
    rucket_policy::Policy::parse_identity(text)
        .map_err(|e| S3Error::with_message(s3s::S3ErrorCode::MalformedPolicy, e))?;
    Ok(text.to_owned())
}

fn describe(record: &AccessKeyRecord) -> Value {
    json!({
        "access_key_id": record.access_key_id,
        "user": record.user.as_str(),
        "admin": record.admin,
        "enabled": record.enabled,
        "policy": record.policy.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        "created": record.created.to_rfc3339(),
    })
}

pub(crate) fn json_response(value: &Value) -> S3Response<Body> {
    let mut response = S3Response::with_status(Body::from(value.to_string()), StatusCode::OK);
    response.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn denied(message: &str) -> S3Error {
    S3Error::with_message(s3s::S3ErrorCode::AccessDenied, message.to_owned())
}

impl KeysRoute {
    /// Whether `name` is a user already: a configured key's, a managed key's, or the
    /// owner of a bucket (whose keys may all have been deleted).
    fn user_exists(&self, name: &str) -> S3Result<bool> {
        if self.users.static_user_ids().any(|id| id.as_str() == name) {
            return Ok(true);
        }
        let keys = self.projections.access_keys().map_err(errors::projection)?;
        if keys.iter().any(|k| k.user.as_str() == name) {
            return Ok(true);
        }
        let buckets = self.projections.buckets().map_err(errors::projection)?;
        Ok(buckets.iter().any(|b| b.owner.as_str() == name))
    }

    /// The key a change names, if `caller` may change it: the root user may change any;
    /// an admin token neither its own key nor another admin token.
    fn changeable(&self, caller: &User, id: &str) -> S3Result<AccessKeyRecord> {
        let record = self.existing(id)?;
        if !caller.admin && (record.admin || caller.managed_key.as_deref() == Some(id)) {
            return Err(denied("Only the root user may change an admin token (or a token its own key)"));
        }
        Ok(record)
    }

    /// Proposes a key command with the facts of the caller's request: apply admits only
    /// the root key and admin tokens that are still enabled and unlimited when it applies.
    pub(crate) async fn propose(&self, caller: &User, body: CommandBody) -> S3Result<()> {
        let node = self
            .node
            .as_ref()
            .ok_or_else(|| s3_error!(AccessDenied, "This node serves a read-only data dir"))?;
        let principal = match (&caller.managed_key, caller.admin) {
            (_, true) => rucket_schemas::Principal::Root,
            (Some(key), false) => rucket_schemas::Principal::ManagedKey { access_key_id: key.clone() },
            (None, false) => {
                return Err(denied("Only the root user and admin tokens may manage access keys"))
            }
        };
        let operation = match &body {
            CommandBody::CreateAccessKey { .. } => "CreateAccessKey",
            CommandBody::SetAccessKeyStatus { .. } => "SetAccessKeyStatus",
            CommandBody::SetAccessKeyPolicy { .. } => "SetAccessKeyPolicy",
            CommandBody::DeleteAccessKey { .. } => "DeleteAccessKey",
            CommandBody::CreateKmsKey { .. } => "CreateKmsKey",
            CommandBody::SetKmsKeyStatus { .. } => "SetKmsKeyStatus",
            _ => "AdminKeys",
        };
        let facts = rucket_schemas::RequestFacts {
            principal,
            operation: operation.to_owned(),
            version_id: false,
            keys: Default::default(),
            retain_until: None,
        };
        let command = Command {
            hlc: self.clock.now(),
            event_id: EventId(rand::random()),
            origin_region: self.region.clone(),
            requester: caller.id.clone(),
            // Apply decides who administers keys, from the facts.
            requester_is_admin: false,
            body: CommandBody::Requested { facts: Box::new(facts), inner: Box::new(body) },
        };
        match node.propose(command).await.map_err(errors::propose)? {
            Outcome::Applied { .. } | Outcome::Unchanged => Ok(()),
            Outcome::Rejected(r) => Err(errors::rejection(r)),
        }
    }

    fn existing(&self, id: &str) -> S3Result<AccessKeyRecord> {
        self.projections
            .access_key(id)
            .map_err(errors::projection)?
            .ok_or_else(|| errors::rejection(rucket_schemas::Rejection::NoSuchAccessKey))
    }

    async fn create(&self, caller: &User, body: &[u8]) -> S3Result<S3Response<Body>> {
        let requester = &caller.id;
        let request: Value =
            serde_json::from_slice(body).map_err(|e| malformed(format!("The body is not JSON: {e}")))?;
        let Value::Object(fields) = &request else { return Err(malformed("The body must be a JSON object")) };
        if let Some(unknown) = fields.keys().find(|k| !matches!(k.as_str(), "user" | "admin" | "policy")) {
            return Err(malformed(format!("Unknown field {unknown}")));
        }
        let user =
            fields.get("user").and_then(Value::as_str).ok_or_else(|| malformed("`user` is required"))?;
        check_user_name(user)?;
        let admin = match fields.get("admin") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(malformed("`admin` must be true or false")),
        };
        if !caller.admin && admin {
            return Err(denied("Only the root user may create admin tokens"));
        }
        if !caller.admin && self.user_exists(user)? {
            // A token that could add keys to an existing user could act as that user.
            return Err(denied("The user exists: only the root user may add keys to an existing user"));
        }
        let policy = match fields.get("policy") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(identity_policy(text)?),
            Some(doc @ Value::Object(_)) => Some(identity_policy(&doc.to_string())?),
            Some(_) => return Err(malformed("`policy` must be a policy document")),
        };
        let access_key_id = loop {
            let id = format!("AK{}", hex::encode_upper(rand::random::<[u8; 9]>()));
            if !self.users.is_static(&id) {
                break id;
            }
        };
        let secret = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 30]>())
        };
        let sealed = self.keyring.seal_secret(&access_key_id, &secret).map_err(crate::sse::key_error)?;
        let body = CommandBody::CreateAccessKey {
            access_key_id: access_key_id.clone(),
            user: UserId::new(user),
            secret: sealed,
            admin,
        };
        self.propose(caller, body).await?;
        if let Some(policy) = &policy {
            // Nobody knows the secret before this answer, so the key is unusable until its
            // policy is on; if that fails, the key goes again.
            let body = CommandBody::SetAccessKeyPolicy {
                access_key_id: access_key_id.clone(),
                policy: Some(policy.clone()),
            };
            if let Err(e) = self.propose(caller, body).await {
                let undo = CommandBody::DeleteAccessKey { access_key_id: access_key_id.clone() };
                if let Err(undo_error) = self.propose(caller, undo).await {
                    tracing::error!(access_key_id, error = ?undo_error, "a key whose policy failed could not be deleted");
                }
                return Err(e);
            }
        }
        tracing::info!(access_key_id, user, admin, by = %requester, "access key created");
        Ok(json_response(&json!({
            "access_key_id": access_key_id,
            "secret_access_key": secret,
            "user": user,
            "admin": admin,
            "policy": policy.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        })))
    }
}

#[async_trait::async_trait]
impl S3Route for KeysRoute {
    fn is_match(
        &self,
        _method: &Method,
        uri: &Uri,
        _headers: &HeaderMap,
        _extensions: &mut Extensions,
    ) -> bool {
        [KEYS_PATH, crate::admin_kms::KMS_KEYS_PATH]
            .iter()
            .any(|base| uri.path() == *base || uri.path().starts_with(&format!("{base}/")))
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        crate::access_log::LogNote::mark_checked(&req.extensions);
        let credentials =
            req.credentials.as_ref().ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))?;
        match self.users.user(&credentials.access_key).map_err(errors::projection)? {
            Some(user) if user.may_administer() => Ok(()),
            _ => Err(s3_error!(AccessDenied, "Only the root user and admin tokens may manage access keys")),
        }
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let credentials =
            req.credentials.as_ref().ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))?;
        let caller = self
            .users
            .user(&credentials.access_key)
            .map_err(errors::projection)?
            .ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))?;
        let requester = caller.id.clone();
        let body = req.input.store_all_limited(MAX_BODY).await.map_err(|e| {
            errors::with_status(
                "EntityTooLarge",
                &format!("The body could not be read (at most {MAX_BODY} bytes): {e}"),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        })?;
        let path = req.uri.path().to_owned();
        if let Some(rest) = path.strip_prefix(crate::admin_kms::KMS_KEYS_PATH) {
            return self.kms(&caller, &req.method, rest, &body).await;
        }
        let parts = segments(&path);
        match (&req.method, parts.as_slice()) {
            (&Method::POST, []) => self.create(&caller, &body).await,
            (&Method::GET, []) => {
                let keys = self.projections.access_keys().map_err(errors::projection)?;
                Ok(json_response(&json!({ "keys": keys.iter().map(describe).collect::<Vec<_>>() })))
            }
            (&Method::GET, [id]) => Ok(json_response(&describe(&self.existing(id)?))),
            (&Method::DELETE, [id]) => {
                self.changeable(&caller, id)?;
                self.propose(&caller, CommandBody::DeleteAccessKey { access_key_id: (*id).to_owned() })
                    .await?;
                tracing::info!(access_key_id = id, by = %requester, "access key deleted");
                Ok(json_response(&json!({ "deleted": id })))
            }
            (&Method::PUT, [id, "status"]) => {
                let value: Value = serde_json::from_slice(&body)
                    .map_err(|e| malformed(format!("The body is not JSON: {e}")))?;
                let enabled = value
                    .get("enabled")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| malformed("The body must be {\"enabled\": true|false}"))?;
                self.changeable(&caller, id)?;
                let body = CommandBody::SetAccessKeyStatus { access_key_id: (*id).to_owned(), enabled };
                self.propose(&caller, body).await?;
                Ok(json_response(&describe(&self.existing(id)?)))
            }
            (&Method::PUT, [id, "policy"]) => {
                self.changeable(&caller, id)?;
                let text = std::str::from_utf8(&body).map_err(|_| malformed("The policy is not UTF-8"))?;
                let policy = identity_policy(text)?;
                let body =
                    CommandBody::SetAccessKeyPolicy { access_key_id: (*id).to_owned(), policy: Some(policy) };
                self.propose(&caller, body).await?;
                Ok(json_response(&describe(&self.existing(id)?)))
            }
            (&Method::DELETE, [id, "policy"]) => {
                self.changeable(&caller, id)?;
                let body = CommandBody::SetAccessKeyPolicy { access_key_id: (*id).to_owned(), policy: None };
                self.propose(&caller, body).await?;
                Ok(json_response(&describe(&self.existing(id)?)))
            }
            (_, [] | [_] | [_, "status" | "policy"]) => {
                Err(s3_error!(MethodNotAllowed, "{} is not allowed on {path}", req.method))
            }
            _ => Err(errors::with_status(
                "NotFound",
                &format!("{path} is not an admin API resource"),
                StatusCode::NOT_FOUND,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_are_checked() {
        assert_eq!(segments("/_rucket/v1/admin/keys"), Vec::<&str>::new());
        assert_eq!(segments("/_rucket/v1/admin/keys/AK1/policy"), vec!["AK1", "policy"]);
        assert!(check_user_name("alice.smith@example").is_ok());
        for bad in ["", "root", "a/b", "sp ace", &"x".repeat(65)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        assert!(
            identity_policy(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#).is_ok()
        );
        let with_principal =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert_eq!(identity_policy(with_principal).unwrap_err().code().as_str(), "MalformedPolicy");
    }
}
