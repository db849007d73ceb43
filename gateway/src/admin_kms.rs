//! Rucket's key store for SSE-KMS through the admin API (`/_rucket/v1/admin/kms-keys`),
//! served by [`KeysRoute`] beside the access keys and called by `rucket kms`:
//!
//! - `POST /_rucket/v1/admin/kms-keys` `{"id": "app-1", "description": "..."}`: a new key
//!   (the id is generated when absent); its material never leaves the server.
//! - `GET /_rucket/v1/admin/kms-keys`, `GET .../kms-keys/<id>`: keys without material.
//! - `PUT .../kms-keys/<id>/status` `{"enabled": false}`: disable (or enable again).
//!
//! A key is never deleted (the objects sealed under it would become unreadable). Each
//! change is a command decided at apply time and archived as an event; the material is
//! sealed by the master key before it reaches the log, and re-sealed by a rotation.

use http::{Method, StatusCode};
use rucket_projections::KmsKeyRecord;
use rucket_schemas::CommandBody;
use s3s::{s3_error, Body, S3Response, S3Result};
use serde_json::{json, Value};

use crate::admin_keys::{json_response, malformed, KeysRoute};
use crate::credentials::User;
use crate::errors;

pub const KMS_KEYS_PATH: &str = "/_rucket/v1/admin/kms-keys";

/// A key id: 1 to 64 letters, digits and `-_/.`, not an ARN or alias form (clients name
/// keys those ways, see [`crate::sse::kms_key_name`]).
fn check_key_id(id: &str) -> S3Result<()> {
    // Every `/`-separated segment is a name: no empty, `.` or `..` segment (URLs would
    // fold them away), and no `status` (the admin API's suffix).
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b))
        && !id.starts_with("alias/")
        && id.split('/').all(|segment| !matches!(segment, "" | "." | ".." | "status"))
        && crate::sse::kms_key_name(id) == id;
    if ok {
        Ok(())
    } else {
        Err(malformed(format!(
            "The KMS key id {id:?} is not valid: 1 to 64 letters, digits and -_/. (not starting with alias/)"
        )))
    }
}

fn describe(record: &KmsKeyRecord) -> Value {
    json!({
        "id": record.key_id,
        "description": record.description,
        "enabled": record.enabled,
        "master_key": record.material.key_id,
        "created": record.created.to_rfc3339(),
    })
}

impl KeysRoute {
    fn existing_kms_key(&self, id: &str) -> S3Result<KmsKeyRecord> {
        self.projections.kms_key(id).map_err(errors::projection)?.ok_or_else(|| {
            errors::with_status("NoSuchEntity", "The KMS key does not exist", StatusCode::NOT_FOUND)
        })
    }

    /// Serves a request under [`KMS_KEYS_PATH`]; `rest` is the path after it.
    pub(crate) async fn kms(
        &self,
        caller: &User,
        method: &Method,
        rest: &str,
        body: &[u8],
    ) -> S3Result<S3Response<Body>> {
        // The keys hold every user's SSE-KMS data: the root user's alone, not a scoped
        // admin token's (whose power is over access keys).
        if !caller.admin {
            return Err(s3_error!(AccessDenied, "Only the root user may manage the KMS key store"));
        }
        // Key ids may hold slashes (`aws/s3`): a status change is the one suffix.
        let rest = rest.trim_start_matches('/');
        let (id, status) = match rest.strip_suffix("/status") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        match (method, id, status) {
            (&Method::POST, "", false) => self.create_kms_key(caller, body).await,
            (&Method::GET, "", false) => {
                let keys = self.projections.kms_keys().map_err(errors::projection)?;
                Ok(json_response(&json!({ "keys": keys.iter().map(describe).collect::<Vec<_>>() })))
            }
            (&Method::GET, id, false) => Ok(json_response(&describe(&self.existing_kms_key(id)?))),
            (&Method::PUT, id, true) if !id.is_empty() => {
                let value: Value = serde_json::from_slice(body)
                    .map_err(|e| malformed(format!("The body is not JSON: {e}")))?;
                let enabled = value
                    .get("enabled")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| malformed("The body must be {\"enabled\": true|false}"))?;
                self.existing_kms_key(id)?;
                self.propose(caller, CommandBody::SetKmsKeyStatus { key_id: id.to_owned(), enabled }).await?;
                tracing::info!(kms_key = id, enabled, by = %caller.id, "KMS key status set");
                Ok(json_response(&describe(&self.existing_kms_key(id)?)))
            }
            (_, _, false) => {
                Err(s3_error!(MethodNotAllowed, "{method} is not allowed on {KMS_KEYS_PATH}/{rest}"))
            }
            _ => Err(errors::with_status(
                "NotFound",
                &format!("{KMS_KEYS_PATH}/{rest} is not an admin API resource"),
                StatusCode::NOT_FOUND,
            )),
        }
    }

    async fn create_kms_key(&self, caller: &User, body: &[u8]) -> S3Result<S3Response<Body>> {
        let request: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| malformed(format!("The body is not JSON: {e}")))?
        };
        let Value::Object(fields) = &request else { return Err(malformed("The body must be a JSON object")) };
        if let Some(unknown) = fields.keys().find(|k| !matches!(k.as_str(), "id" | "description")) {
            return Err(malformed(format!("Unknown field {unknown}")));
        }
        let key_id = match fields.get("id") {
            None | Some(Value::Null) => uuid_like(),
            Some(Value::String(id)) => id.clone(),
            Some(_) => return Err(malformed("`id` must be a string")),
        };
        check_key_id(&key_id)?;
        let description = match fields.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(d)) if d.len() <= 256 => d.clone(),
            Some(_) => return Err(malformed("`description` must be a string of at most 256 bytes")),
        };
        let material = self.keyring.new_kms_material(&key_id).map_err(crate::sse::key_error)?;
        self.propose(caller, CommandBody::CreateKmsKey { key_id: key_id.clone(), description, material })
            .await?;
        tracing::info!(kms_key = key_id, by = %caller.id, "KMS key created");
        Ok(json_response(&describe(&self.existing_kms_key(&key_id)?)))
    }
}

/// A random key id in the form of AWS's (a UUID).
fn uuid_like() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_checked() {
        for good in ["app-1", "aws/s3", "team.a_b", &uuid_like(), &"x".repeat(64)] {
            assert!(check_key_id(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "alias/app",
            "arn:aws:kms:us-east-1:1:key/app",
            "/lead",
            "trail/",
            "a//b",
            "a/../b",
            "./a",
            "x/status",
            "sp ace",
            &"x".repeat(65),
        ] {
            assert!(check_key_id(bad).is_err(), "{bad:?}");
        }
    }
}
