//! The s3s access hook: tells the metrics layer which S3 operation a request was, and
//! applies the bucket's policy.
//!
//! Ownership and ACLs are decided by the handlers: unsigned requests reach only the
//! operations that check ACLs (GET, HEAD, listings, PUT and DELETE of objects, the ACL
//! APIs), and get only what grants to everyone allow. A bucket policy is evaluated here
//! for every request on a bucket: an explicit Deny refuses it (the bucket owner and the
//! operators may still read, change and delete the policy itself), an Allow is left in
//! the request's extensions as [`PolicyAllows`] for the handlers of object reads,
//! listings, writes and deletes to honour.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use rucket_projections::Projections;
use rucket_schemas::BucketName;
use s3s::access::{S3Access, S3AccessContext};
use s3s::{s3_error, S3Result};

use crate::credentials::Users;
use rucket_policy::{Policy, Request, Verdict};

/// Filled with the operation name by [`Access::check`]; read back by the metrics layer.
#[derive(Clone, Default)]
pub struct OperationSlot(pub Arc<Mutex<Option<String>>>);

/// Put in a request's extensions by the TLS listener.
#[derive(Clone, Copy, Debug)]
pub struct SecureTransport;

/// The policy of `bucket` allows this request (and only on that bucket: a copy's source
/// is judged by its own bucket's policy).
#[derive(Clone, Debug)]
pub struct PolicyAllows {
    pub bucket: String,
}

/// The policy of `bucket` lets the requester list it (`s3:ListBucket`): a missing key is
/// then NoSuchKey to an object read, not AccessDenied.
#[derive(Clone, Debug)]
pub struct PolicyLists {
    pub bucket: String,
}

/// Who asked and the condition keys of the request, for judging a copy's source against
/// its bucket's policy.
#[derive(Clone, Debug, Default)]
pub struct CopySourceFacts {
    pub user: Option<String>,
    pub keys: BTreeMap<String, Vec<String>>,
}

/// The bucket policy and the request as it saw it, for handlers that decide per key
/// (DeleteObjects, and PostObject, whose key is in the form).
#[derive(Clone)]
pub struct PolicyScope {
    pub policy: Arc<Policy>,
    pub request: Request,
    /// RestrictPublicBuckets turns this public policy's Allow into silence.
    pub restricted: bool,
}

impl PolicyScope {
    /// The verdict for `action` on one object of the bucket.
    pub fn on_object(&self, action: &str, bucket: &str, key: &str) -> Verdict {
        let request = Request {
            action: action.to_owned(),
            former_action: None,
            resource: format!("arn:aws:s3:::{bucket}/{key}"),
            ..self.request.clone()
        };
        match self.policy.evaluate(&request) {
            Verdict::Allow if self.restricted => Verdict::Silent,
            verdict => verdict,
        }
    }
}

/// An access key's identity policy and the request as it saw it, for handlers that
/// decide per key (DeleteObjects, PostObject).
#[derive(Clone)]
pub struct IdentityScope {
    pub policy: Arc<Policy>,
    pub request: Request,
}

impl IdentityScope {
    /// Whether the policy allows `action` on one object.
    pub fn allows(&self, action: &str, bucket: &str, key: &str) -> bool {
        let request = Request {
            action: action.to_owned(),
            former_action: None,
            resource: format!("arn:aws:s3:::{bucket}/{key}"),
            ..self.request.clone()
        };
        matches!(self.policy.evaluate(&request), Verdict::Allow)
    }
}

/// Whether `user` is the bucket's owner or an operator. A read error refuses.
pub fn owner_or_admin(
    projections: &Projections,
    bucket: &BucketName,
    user: Option<&crate::credentials::User>,
) -> S3Result<bool> {
    let Some(user) = user else { return Ok(false) };
    if user.admin {
        return Ok(true);
    }
    let record = projections.bucket(bucket).map_err(crate::errors::projection)?;
    Ok(record.is_some_and(|b| b.owner == user.id))
}

/// Whether RestrictPublicBuckets keeps `user` from a public policy's Allow on `bucket`.
/// A read error refuses the request rather than widening it.
pub fn restricted(
    projections: &Projections,
    policy: &Policy,
    bucket: &BucketName,
    user: Option<&crate::credentials::User>,
) -> S3Result<bool> {
    if !policy.is_public() || owner_or_admin(projections, bucket, user)? {
        return Ok(false);
    }
    let block = projections.public_access_block(bucket).map_err(crate::errors::projection)?;
    Ok(block.is_some_and(|b| b.restrict_public_buckets))
}

/// Why a stored policy that no longer parses refuses requests (stored policies were
/// validated; one that fails now must not silently grant or stop denying).
fn unparsable(what: &str, e: &str) -> s3s::S3Error {
    tracing::error!(error = %e, "a stored {what} does not parse");
    s3_error!(AccessDenied, "Access Denied: the stored {what} does not parse")
}

pub struct Access {
    pub projections: Projections,
    pub users: Arc<Users>,
    pub policies: Arc<rucket_policy::PolicyCache>,
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        crate::access_log::LogNote::mark_checked(cx.extensions_mut());
        let name = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<OperationSlot>() {
            if let Ok(mut guard) = slot.0.lock() {
                *guard = Some(name.clone());
            }
        }
        let note = cx.extensions_mut().get::<crate::access_log::LogNote>().cloned();
        if let (Some(note), Some(bucket)) = (&note, cx.s3_path().get_bucket_name()) {
            if let Ok(mut guard) = note.0.lock() {
                *guard = Some(crate::access_log::Noted {
                    operation: name.clone(),
                    bucket: bucket.to_owned(),
                    key: cx.s3_path().get_object_key().map(str::to_owned),
                    requester: None,
                });
            }
        }
        let user = match cx.credentials() {
            Some(c) => Some(
                self.users
                    .user(&c.access_key)
                    .map_err(crate::errors::projection)?
                    .ok_or_else(|| s3_error!(InvalidAccessKeyId))?,
            ),
            None => None,
        };
        if let (Some(note), Some(user)) = (&note, &user) {
            if let Some(noted) = note.0.lock().ok().as_mut().and_then(|g| g.as_mut()) {
                noted.requester = Some(user.id.to_string());
            }
        }
        if let Some(user) = &user {
            self.check_identity_policy(cx, user, &name)?;
        }
        let facts = self.facts(cx, &name);
        cx.extensions_mut().insert(Arc::new(facts));
        let Some(bucket) = cx.s3_path().get_bucket_name().map(str::to_owned) else { return Ok(()) };
        // A bad name is refused by the handler with InvalidBucketName; nothing to judge.
        let Ok(bucket_name) = BucketName::parse(&bucket) else { return Ok(()) };
        // `x-amz-expected-bucket-owner`: a request meant for another owner's bucket of this
        // name is refused (403), whoever sends it.
        if let Some(expected) = cx.headers().get("x-amz-expected-bucket-owner") {
            let record = self.projections.bucket(&bucket_name).map_err(crate::errors::projection)?;
            if let Some(record) = record {
                if expected.as_bytes() != record.owner.as_str().as_bytes() {
                    // The same words as any refusal: a guess at the owner learns nothing.
                    return Err(s3_error!(AccessDenied, "Access Denied"));
                }
            }
        }
        let text = self
            .projections
            .bucket_policy(&bucket_name)
            .map_err(|e| crate::errors::internal("reading a bucket policy", e))?;
        let copies = matches!(name.as_str(), "CopyObject" | "UploadPartCopy");
        if text.is_none() && !copies {
            return Ok(());
        }
        let extensions = cx.extensions_mut();
        let connection = Connection {
            peer: extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            secure: extensions.get::<SecureTransport>().is_some(),
        };
        let query = cx.uri().query().unwrap_or_default().to_owned();
        let version_id = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "versionId");
        let action = rucket_policy::action(&name, version_id);
        let resource = match cx.s3_path().get_object_key() {
            Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
            None => format!("arn:aws:s3:::{bucket}"),
        };
        let mut request = Request {
            user: user.as_ref().map(|u| u.id.to_string()),
            action,
            former_action: rucket_policy::former_action(&name),
            resource,
            keys: condition_keys(cx, &connection, &query, user.as_ref()),
        };
        let owner_or_admin = owner_or_admin(&self.projections, &bucket_name, user.as_ref())?;
        let policy = match &text {
            None => None,
            Some(text) => match self.policies.get(&bucket, text) {
                Ok(policy) => Some(policy),
                // The owner and the operators may still replace or delete a broken policy.
                Err(_) if owner_or_admin && name.ends_with("BucketPolicy") => return Ok(()),
                Err(e) => return Err(unparsable("bucket policy", &e)),
            },
        };
        let wants_tags = policy.as_ref().is_some_and(|p| p.reads_condition("s3:existingobjecttag/"));
        if let (true, Some(key)) = (wants_tags, cx.s3_path().get_object_key()) {
            let version = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "versionId")
                .map(|(_, v)| v.into_owned());
            for (k, v) in self.existing_tags(&bucket_name, key, version.as_deref())? {
                request.keys.insert(format!("s3:existingobjecttag/{}", k.to_ascii_lowercase()), vec![v]);
            }
        }
        if copies {
            // The source bucket's policy is judged by the handler, which knows the source.
            cx.extensions_mut()
                .insert(CopySourceFacts { user: request.user.clone(), keys: request.keys.clone() });
        }
        let Some(policy) = policy else { return Ok(()) };
        let restricted = restricted(&self.projections, &policy, &bucket_name, user.as_ref())?;
        if matches!(name.as_str(), "DeleteObjects" | "PostObject") {
            // Decided per key by the handler.
            cx.extensions_mut().insert(PolicyScope { policy, request, restricted });
            return Ok(());
        }
        if let (Some(key), false) = (cx.s3_path().get_object_key(), restricted) {
            // Could the requester list this key? Judged as a listing of exactly it: the
            // listing keys of this request's query (the requester's to choose) are left
            // out, and its prefix is the key.
            let mut keys = request.keys.clone();
            for listing_key in ["s3:prefix", "s3:delimiter", "s3:max-keys"] {
                keys.remove(listing_key);
            }
            keys.insert("s3:prefix".to_owned(), vec![key.to_owned()]);
            let listing = Request {
                action: "s3:ListBucket".to_owned(),
                former_action: None,
                resource: format!("arn:aws:s3:::{bucket}"),
                keys,
                ..request.clone()
            };
            if policy.evaluate(&listing) == Verdict::Allow {
                cx.extensions_mut().insert(PolicyLists { bucket: bucket.clone() });
            }
        }
        match policy.evaluate(&request) {
            Verdict::Deny if owner_or_admin && name.ends_with("BucketPolicy") => Ok(()),
            Verdict::Deny => Err(s3_error!(AccessDenied, "Access Denied by the bucket policy")),
            Verdict::Allow if restricted => Ok(()),
            Verdict::Allow => {
                cx.extensions_mut().insert(PolicyAllows { bucket });
                Ok(())
            }
            Verdict::Silent => Ok(()),
        }
    }
}

impl Access {
    /// The facts of a request, for apply to judge its access again in log order: who
    /// signed it, the operation, and the condition keys it offers (without the time,
    /// which apply takes from the command's stamp, and without existing tags, which it
    /// reads from its own views).
    fn facts(&self, cx: &mut S3AccessContext<'_>, operation: &str) -> rucket_schemas::RequestFacts {
        let query = cx.uri().query().unwrap_or_default().to_owned();
        let extensions = cx.extensions_mut();
        let connection = Connection {
            peer: extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            secure: extensions.get::<SecureTransport>().is_some(),
        };
        let mut keys = condition_keys(cx, &connection, &query, None);
        for timed in ["aws:currenttime", "aws:epochtime", "s3:object-lock-remaining-retention-days"] {
            keys.remove(timed);
        }
        let retain_until = cx
            .headers()
            .get("x-amz-object-lock-retain-until-date")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        rucket_schemas::RequestFacts {
            principal: self.users.principal(cx.credentials().map(|c| c.access_key.as_str())),
            operation: operation.to_owned(),
            version_id: form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "versionId"),
            keys,
            retain_until,
        }
    }

    /// A key made through the admin API with an identity policy may do only what that
    /// policy allows: an explicit Deny or silence refuses the request. DeleteObjects and
    /// POST uploads name their keys in the body: their handlers judge each key through
    /// [`IdentityScope`]; a copy's source is judged by its handler too.
    fn check_identity_policy(
        &self,
        cx: &mut S3AccessContext<'_>,
        user: &crate::credentials::User,
        operation: &str,
    ) -> S3Result<()> {
        let (Some(text), Some(key_id)) = (&user.identity_policy, &user.managed_key) else { return Ok(()) };
        let policy =
            self.policies.get_identity(key_id, text).map_err(|e| unparsable("identity policy", &e))?;
        let query = cx.uri().query().unwrap_or_default().to_owned();
        let version_id = form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "versionId");
        let bucket = cx.s3_path().get_bucket_name().map(str::to_owned);
        let object = cx.s3_path().get_object_key().map(str::to_owned);
        let resource = match (&bucket, &object) {
            (Some(bucket), Some(key)) => format!("arn:aws:s3:::{bucket}/{key}"),
            (Some(bucket), None) => format!("arn:aws:s3:::{bucket}"),
            (None, _) => "*".to_owned(),
        };
        let extensions = cx.extensions_mut();
        let connection = Connection {
            peer: extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            secure: extensions.get::<SecureTransport>().is_some(),
        };
        let mut request = Request {
            user: Some(user.id.to_string()),
            action: rucket_policy::action(operation, version_id),
            former_action: rucket_policy::former_action(operation),
            resource,
            keys: condition_keys(cx, &connection, &query, Some(user)),
        };
        let wants_tags = policy.reads_condition("s3:existingobjecttag/");
        if let (true, Some(bucket), Some(key)) = (wants_tags, &bucket, &object) {
            if let Ok(bucket) = BucketName::parse(bucket) {
                let version = form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "versionId")
                    .map(|(_, v)| v.into_owned());
                for (k, v) in self.existing_tags(&bucket, key, version.as_deref())? {
                    request.keys.insert(format!("s3:existingobjecttag/{}", k.to_ascii_lowercase()), vec![v]);
                }
            }
        }
        if matches!(operation, "DeleteObjects" | "PostObject") {
            // Their keys are in the body: the handler judges each one.
            cx.extensions_mut().insert(IdentityScope { policy, request });
            return Ok(());
        }
        match policy.evaluate(&request) {
            Verdict::Allow => Ok(()),
            Verdict::Deny | Verdict::Silent => Err(s3_error!(
                AccessDenied,
                "Access Denied: the access key's policy does not allow {} on {}",
                request.action,
                request.resource
            )),
        }
    }

    /// The tags of the version a request names (the current one without a versionId),
    /// for `s3:ExistingObjectTag/<key>`. A key or version that does not exist has none;
    /// a read error refuses the request.
    fn existing_tags(
        &self,
        bucket: &BucketName,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<rucket_schemas::Tags> {
        let key = rucket_schemas::ObjectKey::parse(key).map_err(|e| s3_error!(InvalidArgument, "{e}"))?;
        let record = match version {
            None => self.projections.current_object(bucket, &key).map_err(crate::errors::projection)?,
            Some(v) => match self
                .projections
                .version(bucket, &key, &rucket_schemas::VersionId::new(v))
                .map_err(crate::errors::projection)?
            {
                Some(rucket_projections::VersionEntry::Object(r)) => Some(*r),
                _ => None,
            },
        };
        match record {
            Some(r) => self
                .projections
                .version_tags(bucket, &key, r.hlc_timestamp)
                .map_err(crate::errors::projection),
            None => Ok(Default::default()),
        }
    }
}

/// What the listener knows about the connection.
struct Connection {
    peer: Option<String>,
    secure: bool,
}

/// The condition keys a request offers (lowercase names).
fn condition_keys(
    cx: &S3AccessContext<'_>,
    connection: &Connection,
    query: &str,
    user: Option<&crate::credentials::User>,
) -> BTreeMap<String, Vec<String>> {
    let mut keys = BTreeMap::new();
    let mut put = |k: &str, v: String| keys.entry(k.to_owned()).or_insert_with(Vec::new).push(v);
    let now = time::OffsetDateTime::now_utc();
    put("aws:currenttime", now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
    put("aws:epochtime", now.unix_timestamp().to_string());
    put("aws:securetransport", connection.secure.to_string());
    if let Some(ip) = &connection.peer {
        put("aws:sourceip", ip.clone());
    }
    if let Some(user) = user {
        put("aws:username", user.id.to_string());
        put("aws:userid", user.id.to_string());
    }
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "prefix" => put("s3:prefix", v.into_owned()),
            "delimiter" => put("s3:delimiter", v.into_owned()),
            "max-keys" => put("s3:max-keys", v.into_owned()),
            "versionId" => put("s3:versionid", v.into_owned()),
            _ => {}
        }
    }
    let header = |name: &str| cx.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Headers whose values a policy may test as they are, under the key `s3:<header>`.
    for name in [
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write",
        "x-amz-grant-write-acp",
        "x-amz-metadata-directive",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-storage-class",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-legal-hold",
    ] {
        if let Some(value) = header(name) {
            put(&format!("s3:{name}"), value);
        }
    }
    // `bucket/key` as the request names it, decoded, without a leading `/` or a version.
    if let Some(source) = header("x-amz-copy-source") {
        let path = source.split_once("?versionId=").map_or(source.as_str(), |(path, _)| path);
        let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        put("s3:x-amz-copy-source", path.trim_start_matches('/').to_owned());
    }
    if let Some(referer) = header("referer") {
        put("aws:referer", referer);
    }
    if let Some(tagging) = header("x-amz-tagging") {
        for (k, v) in form_urlencoded::parse(tagging.as_bytes()) {
            put(&format!("s3:requestobjecttag/{}", k.to_ascii_lowercase()), v.into_owned());
        }
    }
    if let Some(until) = header("x-amz-object-lock-retain-until-date") {
        if let Ok(until) = time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
        {
            put("s3:object-lock-remaining-retention-days", ((until - now).whole_days().max(0)).to_string());
        }
    }
    keys
}
