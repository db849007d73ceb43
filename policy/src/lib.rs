//! The access language: bucket and identity policies, the JSON policy language (a subset of AWS IAM's), its validation with
//! MalformedPolicy messages, and its evaluation: an explicit Deny beats an Allow, which
//! beats the implicit deny.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// A parsed, validated bucket policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
struct Statement {
    allow: bool,
    /// `None`: everyone, anonymous included (`"*"`).
    principals: Option<Vec<Principal>>,
    /// `NotPrincipal` (Deny only): the statement covers everyone but `principals`.
    not_principal: bool,
    /// Actions, or with `not_action` the actions the statement does not cover.
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

/// Who a statement names. Accounts map to users: Rucket's users are its accounts.
#[derive(Clone, Debug, PartialEq)]
enum Principal {
    User(String),
    /// An AWS service (`logging.s3.amazonaws.com`): accepted, and no request of a user
    /// is ever one of them.
    Service(String),
}

#[derive(Clone, Debug, PartialEq)]
struct Condition {
    operator: Operator,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    /// `ArnEquals` and `ArnLike`, which IAM defines alike: each of an ARN's six
    /// colon-separated parts matched on its own, with `*` and `?` wildcards.
    ArnLike,
    ArnNotLike,
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "ArnEquals" | "ArnLike" => ArnLike,
            "ArnNotEquals" | "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Negated operators hold when the key is missing.
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotLike
        )
    }
}

/// What a policy says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deny,
    Allow,
    /// No statement applies: the request falls back to ownership and ACLs.
    Silent,
}

/// One request as a policy sees it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The requester's user id; `None` for anonymous requests.
    pub user: Option<String>,
    /// `s3:GetObject`, ...
    pub action: String,
    /// The name this operation had before it took IAM's (`s3:<Operation>`): statements
    /// written with it still match. See [`former_action`].
    pub former_action: Option<String>,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: String,
    /// Condition keys (lowercase) and their values.
    pub keys: BTreeMap<String, Vec<String>>,
}

/// Parsed policies by bucket, so a request parses its bucket's policy only when the
/// policy text changed since the last request.
#[derive(Default)]
pub struct PolicyCache {
    parsed: std::sync::Mutex<std::collections::HashMap<String, (String, std::sync::Arc<Policy>)>>,
}

impl PolicyCache {
    /// The parsed form of `text`, the current policy of `bucket`.
    pub fn get(&self, bucket: &str, text: &str) -> Result<std::sync::Arc<Policy>, String> {
        self.cached(bucket.to_owned(), text, || Policy::parse(text, bucket))
    }

    /// The parsed form of `text`, the identity policy of the access key `key_id`.
    pub fn get_identity(&self, key_id: &str, text: &str) -> Result<std::sync::Arc<Policy>, String> {
        // Bucket names never start with a NUL, so the two kinds cannot collide.
        self.cached(format!("\0key:{key_id}"), text, || Policy::parse_identity(text))
    }

    fn cached(
        &self,
        name: String,
        text: &str,
        parse: impl FnOnce() -> Result<Policy, String>,
    ) -> Result<std::sync::Arc<Policy>, String> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, policy)) = parsed.get(&name) {
            if cached == text {
                return Ok(policy.clone());
            }
        }
        let policy = std::sync::Arc::new(parse()?);
        parsed.insert(name, (text.to_owned(), policy.clone()));
        Ok(policy)
    }
}

/// The longest policy S3 accepts.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

fn malformed(message: impl Into<String>) -> String {
    message.into()
}

/// A string or an array of strings.
fn strings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(malformed(format!("{what} entries must be strings"))),
            })
            .collect(),
        _ => Err(malformed(format!("{what} must be a string or a non-empty list of strings"))),
    }
}

/// Condition values may be strings, numbers or booleans.
fn condition_values(value: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed("condition values must be strings, numbers or booleans")),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err(malformed("a condition needs at least one value")),
        v => Ok(vec![one(v)?]),
    }
}

impl Policy {
    /// Parses and validates a bucket policy for `bucket`; the error is the
    /// MalformedPolicy message.
    pub fn parse(text: &str, bucket: &str) -> Result<Self, String> {
        Self::parse_for(text, Some(bucket))
    }

    /// Parses and validates an identity policy (attached to an access key): no
    /// Principal (it is the key's user), resources in any bucket.
    pub fn parse_identity(text: &str) -> Result<Self, String> {
        Self::parse_for(text, None)
    }

    fn parse_for(text: &str, bucket: Option<&str>) -> Result<Self, String> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(malformed(format!("Policies are limited to {MAX_POLICY_BYTES} bytes")));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| malformed(format!("This policy is not valid JSON: {e}")))?;
        let Value::Object(doc) = doc else { return Err(malformed("A policy must be a JSON object")) };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {key}")));
            }
        }
        match doc.get("Version").and_then(Value::as_str) {
            None | Some("2012-10-17" | "2008-10-17") => {}
            Some(other) => return Err(malformed(format!("The policy version {other} is not supported"))),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements =
            statements.iter().map(|s| Statement::parse(s, bucket)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { statements })
    }

    /// Explicit Deny over Allow over silence.
    pub fn evaluate(&self, request: &Request) -> Verdict {
        let mut verdict = Verdict::Silent;
        for statement in &self.statements {
            if statement.applies(request) {
                if !statement.allow {
                    return Verdict::Deny;
                }
                verdict = Verdict::Allow;
            }
        }
        verdict
    }

    /// Whether some Allow statement lets anyone at all (`"*"`) in without a condition:
    /// the policy makes the bucket public.
    pub fn is_public(&self) -> bool {
        self.statements
            .iter()
            .any(|s| s.allow && s.principals.is_none() && !s.conditions.iter().any(Condition::narrows))
    }

    /// Whether some condition reads a key starting with `prefix` (lowercase), such as
    /// `s3:existingobjecttag/`: a caller loads such values only when a policy asks.
    pub fn reads_condition(&self, prefix: &str) -> bool {
        self.statements.iter().flat_map(|s| &s.conditions).any(|c| c.key.starts_with(prefix))
    }
}

/// The IAM action of an S3 operation (`s3:<Operation>` unless S3 names it otherwise);
/// `version_id`: the request names a version.
pub fn action(operation: &str, version_id: bool) -> String {
    let name = match operation {
        "GetObject" | "HeadObject" if version_id => "GetObjectVersion",
        "GetObject" | "HeadObject" => "GetObject",
        "DeleteObject" | "DeleteObjects" if version_id => "DeleteObjectVersion",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "PostObject" => "PutObject",
        "AbortMultipartUpload" => "AbortMultipartUpload",
        "GetObjectTagging" if version_id => "GetObjectVersionTagging",
        "PutObjectTagging" if version_id => "PutObjectVersionTagging",
        "GetObjectAcl" if version_id => "GetObjectVersionAcl",
        "PutObjectAcl" if version_id => "PutObjectVersionAcl",
        "DeleteObjectTagging" if version_id => "DeleteObjectVersionTagging",
        "DeleteObjects" => "DeleteObject",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "ListBuckets" => "ListAllMyBuckets",
        // Operations IAM names otherwise; a Delete is the Put of nothing.
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "DeleteBucketTagging" => "PutBucketTagging",
        "DeleteBucketOwnershipControls" => "PutBucketOwnershipControls",
        "PutBucketReplication" | "DeleteBucketReplication" => "PutReplicationConfiguration",
        "GetBucketReplication" => "GetReplicationConfiguration",
        other => other,
    };
    format!("s3:{name}")
}

/// `s3:<Operation>` for the operations whose IAM action Rucket named that way before it
/// took IAM's names (policies stored since keep matching them).
pub fn former_action(operation: &str) -> Option<String> {
    let renamed = matches!(
        operation,
        "PutPublicAccessBlock"
            | "DeletePublicAccessBlock"
            | "GetPublicAccessBlock"
            | "PutBucketCors"
            | "DeleteBucketCors"
            | "GetBucketCors"
            | "PutBucketLifecycleConfiguration"
            | "DeleteBucketLifecycle"
            | "GetBucketLifecycleConfiguration"
            | "PutBucketNotificationConfiguration"
            | "GetBucketNotificationConfiguration"
            | "PutObjectLockConfiguration"
            | "GetObjectLockConfiguration"
            | "DeleteBucketTagging"
            | "DeleteBucketOwnershipControls"
            | "PutBucketReplication"
            | "DeleteBucketReplication"
            | "GetBucketReplication"
            | "DeleteObjectTagging"
    );
    renamed.then(|| format!("s3:{operation}"))
}

impl Statement {
    /// `bucket`: the bucket of a bucket policy; `None` for an identity policy.
    fn parse(value: &Value, bucket: Option<&str>) -> Result<Self, String> {
        let Value::Object(s) = value else { return Err(malformed("Each Statement must be a JSON object")) };
        for key in s.keys() {
            let known = matches!(
                key.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            );
            if !known {
                return Err(malformed(format!("Unknown field {key} in a Statement")));
            }
        }
        let allow = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => true,
            Some("Deny") => false,
            _ => return Err(malformed("Invalid effect: Effect must be Allow or Deny")),
        };
        let (principal, not_principal) = match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(p), None) => (Some(p), false),
            (None, Some(p)) => (Some(p), true),
            (None, None) => (None, false),
            (Some(_), Some(_)) => {
                return Err(malformed("A Statement names one of Principal and NotPrincipal, not both"))
            }
        };
        if not_principal && allow {
            return Err(malformed("NotPrincipal may only be used with \"Effect\": \"Deny\""));
        }
        let principals = match (principal, bucket) {
            (Some(_), None) => {
                return Err(malformed("An identity policy names no Principal: it is the key's user"))
            }
            (None, None) => None,
            (None, Some(_)) => return Err(malformed("Missing required field Principal")),
            (Some(principal), Some(_)) => principals(principal)?,
        };
        let (actions, not_action) = match (s.get("Action"), s.get("NotAction")) {
            (Some(a), None) => (strings(a, "Action")?, false),
            (None, Some(a)) => (strings(a, "NotAction")?, true),
            _ => return Err(malformed("A Statement needs exactly one of Action and NotAction")),
        };
        for action in &actions {
            if action != "*" && !action.to_ascii_lowercase().starts_with("s3:") {
                return Err(malformed(format!("Policy has invalid action {action}")));
            }
        }
        let (resources, not_resource) = match (s.get("Resource"), s.get("NotResource")) {
            (Some(r), None) => (strings(r, "Resource")?, false),
            (None, Some(r)) => (strings(r, "NotResource")?, true),
            _ => return Err(malformed("A Statement needs exactly one of Resource and NotResource")),
        };
        for resource in &resources {
            // A bucket policy's resources are in its bucket: the part before the first
            // `/` names it, or is a pattern that matches it (`*`, `*/*`).
            let inside = match bucket {
                Some(bucket) => resource.strip_prefix("arn:aws:s3:::").is_some_and(|rest| {
                    wildcard(rest.split_once('/').map_or(rest, |(name, _)| name), bucket)
                }),
                None => resource == "*" || resource.starts_with("arn:aws:s3:::"),
            };
            if !inside {
                return Err(malformed(format!("Policy has invalid resource {resource}")));
            }
        }
        let mut conditions = Vec::new();
        match s.get("Condition") {
            None => {}
            Some(Value::Object(ops)) => {
                for (name, block) in ops {
                    let (base, if_exists) = match name.strip_suffix("IfExists") {
                        Some(base) => (base, true),
                        None => (name.as_str(), false),
                    };
                    let operator = Operator::parse(base)
                        .ok_or_else(|| malformed(format!("Invalid Condition type : {name}")))?;
                    let Value::Object(block) = block else {
                        return Err(malformed(format!("The {name} condition must be a JSON object")));
                    };
                    for (key, values) in block {
                        let values = condition_values(values)?;
                        check_values(operator, key, &values)?;
                        conditions.push(Condition {
                            operator,
                            if_exists,
                            key: key.to_ascii_lowercase(),
                            values,
                        });
                    }
                }
            }
            Some(_) => return Err(malformed("Condition must be a JSON object")),
        }
        Ok(Self {
            allow,
            principals,
            not_principal,
            actions,
            not_action,
            resources,
            not_resource,
            conditions,
        })
    }

    fn applies(&self, request: &Request) -> bool {
        let named = match (&self.principals, &request.user) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(list), Some(user)) => list.iter().any(|p| matches!(p, Principal::User(u) if u == user)),
        };
        let principal = named != self.not_principal;
        let names = std::iter::once(&request.action).chain(&request.former_action);
        let names: Vec<String> = names.map(|n| n.to_ascii_lowercase()).collect();
        let action = self.actions.iter().any(|a| names.iter().any(|n| wildcard(&a.to_ascii_lowercase(), n)));
        let resource = self.resources.iter().any(|r| wildcard(r, &request.resource));
        principal
            && action != self.not_action
            && resource != self.not_resource
            && self.conditions.iter().all(|c| c.holds(request))
    }
}

/// A statement's `Principal` (or `NotPrincipal`); `None` for everyone.
fn principals(value: &Value) -> Result<Option<Vec<Principal>>, String> {
    let map = match value {
        Value::String(star) if star == "*" => return Ok(None),
        Value::Object(map) => map,
        _ => return Err(malformed("Invalid principal in policy")),
    };
    let mut out = Vec::new();
    for (kind, v) in map {
        let names = strings(v, "Principal")?;
        match kind.as_str() {
            "AWS" if names.iter().any(|n| n == "*") => return Ok(None),
            "AWS" => {
                for name in names {
                    out.push(Principal::User(principal_user(&name)?));
                }
            }
            "CanonicalUser" => {
                for name in names {
                    out.push(Principal::User(principal_user(&name)?));
                }
            }
            "Service" => out.extend(names.into_iter().map(Principal::Service)),
            other => {
                return Err(malformed(format!(
                    "Invalid principal kind {other}: AWS, CanonicalUser and Service principals exist here"
                )))
            }
        }
    }
    Ok(Some(out))
}

/// The user a principal names: `arn:aws:iam::<account>:user/<name>` is the user
/// `<name>`, `arn:aws:iam::<account>:root` the user `<account>` (an account that is no
/// user here names nobody), a bare name that user.
fn principal_user(principal: &str) -> Result<String, String> {
    if let Some(rest) = principal.strip_prefix("arn:aws:iam::") {
        let name = match rest.split_once(':') {
            Some((_, user)) if user.starts_with("user/") => user.rsplit('/').next(),
            Some((account, "root")) => Some(account),
            _ => None,
        };
        return name
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("Invalid principal in policy: {principal}")));
    }
    if principal.is_empty() || principal.contains(['*', ':', '/']) {
        return Err(malformed(format!("Invalid principal in policy: {principal}")));
    }
    Ok(principal.to_owned())
}

/// Refuses values an operator could never compare.
fn check_values(operator: Operator, key: &str, values: &[String]) -> Result<(), String> {
    use Operator::*;
    let bad = |what: &str, v: &str| Err(malformed(format!("{key}: {v:?} is not a valid {what}")));
    for v in values {
        match operator {
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals
                if v.parse::<f64>().is_err() =>
            {
                return bad("number", v)
            }
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals
                if date(v).is_none() =>
            {
                return bad("date", v)
            }
            Bool | Null if v != "true" && v != "false" => return bad("boolean", v),
            IpAddress | NotIpAddress if Cidr::parse(v).is_none() => {
                return bad("IP address or CIDR block", v)
            }
            _ => {}
        }
    }
    Ok(())
}

impl Condition {
    /// Whether the condition limits who can be let in: to some source addresses (not
    /// `/0`) or to named users. Conditions on anything else leave a `*` policy public.
    fn narrows(&self) -> bool {
        match (self.operator, self.key.as_str()) {
            (Operator::IpAddress, "aws:sourceip") => {
                !self.values.iter().any(|v| Cidr::parse(v).is_some_and(|c| c.bits == 0))
            }
            (
                Operator::StringEquals | Operator::StringEqualsIgnoreCase | Operator::StringLike,
                "aws:username" | "aws:userid",
            ) => !self.values.iter().any(|v| v.contains('*')),
            _ => false,
        }
    }

    fn holds(&self, request: &Request) -> bool {
        let actual = request.keys.get(&self.key);
        if self.operator == Operator::Null {
            let wants_absent = self.values.iter().any(|v| v == "true");
            return actual.is_none() == wants_absent;
        }
        let Some(actual) = actual else { return self.if_exists || self.operator.negated() };
        // Any value of the request matching any value of the policy (negated operators:
        // none matching).
        let positive = actual.iter().any(|a| self.values.iter().any(|v| self.matches(a, v)));
        if self.operator.negated() {
            !positive
        } else {
            positive
        }
    }

    /// The positive form of the comparison of a request value `a` with a policy value `v`.
    fn matches(&self, a: &str, v: &str) -> bool {
        use Operator::*;
        let numbers = || Some((a.parse::<f64>().ok()?, v.parse::<f64>().ok()?));
        let dates = || Some((date(a)?, date(v)?));
        match self.operator {
            StringEquals | StringNotEquals => a == v,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => a.eq_ignore_ascii_case(v),
            StringLike | StringNotLike => wildcard(v, a),
            NumericEquals | NumericNotEquals => numbers().is_some_and(|(a, v)| a == v),
            NumericLessThan => numbers().is_some_and(|(a, v)| a < v),
            NumericLessThanEquals => numbers().is_some_and(|(a, v)| a <= v),
            NumericGreaterThan => numbers().is_some_and(|(a, v)| a > v),
            NumericGreaterThanEquals => numbers().is_some_and(|(a, v)| a >= v),
            DateEquals | DateNotEquals => dates().is_some_and(|(a, v)| a == v),
            DateLessThan => dates().is_some_and(|(a, v)| a < v),
            DateLessThanEquals => dates().is_some_and(|(a, v)| a <= v),
            DateGreaterThan => dates().is_some_and(|(a, v)| a > v),
            DateGreaterThanEquals => dates().is_some_and(|(a, v)| a >= v),
            Bool => a.eq_ignore_ascii_case(v),
            IpAddress | NotIpAddress => {
                a.parse::<IpAddr>().ok().is_some_and(|ip| Cidr::parse(v).is_some_and(|c| c.contains(ip)))
            }
            ArnLike | ArnNotLike => {
                let (a, v): (Vec<&str>, Vec<&str>) = (a.splitn(6, ':').collect(), v.splitn(6, ':').collect());
                a.len() == 6 && v.len() == 6 && v.iter().zip(&a).all(|(v, a)| wildcard(v, a))
            }
            Null => false,
        }
    }
}

/// A date as Unix seconds: RFC 3339, or a number of seconds (`aws:EpochTime`).
fn date(text: &str) -> Option<i128> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds));
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(i128::from(t.unix_timestamp()))
}

/// An IP network: an address and a prefix length (a bare address is the whole length).
struct Cidr {
    net: IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u32>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Self { net: addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        if self.bits == 0 {
            return true;
        }
        let shift = width - self.bits;
        (net >> shift) == (ip >> shift)
    }
}

/// `*` matches any run of characters, `?` any one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases per fuzz property: `default` on every test run, or `RUCKET_FUZZ_CASES` for a
    /// longer campaign.
    fn fuzz_cases(default: u32) -> u32 {
        std::env::var("RUCKET_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    fn request(user: Option<&str>, action: &str, resource: &str, keys: &[(&str, &str)]) -> Request {
        Request {
            user: user.map(str::to_owned),
            action: action.to_owned(),
            former_action: None,
            resource: resource.to_owned(),
            keys: keys.iter().map(|(k, v)| (k.to_ascii_lowercase(), vec![(*v).to_owned()])).collect(),
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c"));
        assert!(wildcard("s3:get*", "s3:getobject"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("arn:aws:s3:::b/private/*", "arn:aws:s3:::b/public/x"));
    }

    #[test]
    fn deny_beats_allow_beats_silence() {
        let policy = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
                {"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"},
                {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},
                 "NotAction":["s3:DeleteObject"],"Resource":"arn:aws:s3:::b/alice/*"}]}"#,
            "b",
        )
        .unwrap();
        assert!(policy.is_public());
        let get = |user, key: &str| {
            policy.evaluate(&request(user, "s3:GetObject", &format!("arn:aws:s3:::b/{key}"), &[]))
        };
        assert_eq!(get(None, "page"), Verdict::Allow);
        assert_eq!(get(Some("alice"), "secret/x"), Verdict::Deny);
        let put = |user, key: &str| {
            policy.evaluate(&request(user, "s3:PutObject", &format!("arn:aws:s3:::b/{key}"), &[]))
        };
        assert_eq!(put(Some("alice"), "alice/x"), Verdict::Allow);
        assert_eq!(put(Some("carol"), "alice/x"), Verdict::Silent);
        assert_eq!(put(None, "page"), Verdict::Silent);
        let delete =
            policy.evaluate(&request(Some("alice"), "s3:DeleteObject", "arn:aws:s3:::b/alice/x", &[]));
        assert_eq!(delete, Verdict::Silent, "NotAction leaves DeleteObject out");
    }

    #[test]
    fn principals_name_users_accounts_and_services() {
        let policy = Policy::parse(
            r#"{"Statement":[
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:user/team/alice","arn:aws:iam::bob:root"],
                 "CanonicalUser":"carol","Service":"logging.s3.amazonaws.com"},
                 "Action":"s3:GetObject","Resource":["arn:aws:s3:::*","arn:aws:s3:::*/*"]},
                {"Effect":"Deny","NotPrincipal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/alice/*"}]}"#,
            "b",
        )
        .unwrap();
        assert!(!policy.is_public(), "named principals and services are not everyone");
        let get = |user: Option<&str>, key: &str| {
            policy.evaluate(&request(user, "s3:GetObject", &format!("arn:aws:s3:::b/{key}"), &[]))
        };
        for user in ["alice", "bob", "carol"] {
            assert_eq!(get(Some(user), "x"), Verdict::Allow, "{user}");
        }
        assert_eq!(get(Some("logging.s3.amazonaws.com"), "x"), Verdict::Silent, "a service is no user");
        assert_eq!(get(None, "x"), Verdict::Silent);
        assert_eq!(get(Some("alice"), "alice/x"), Verdict::Allow);
        assert_eq!(get(Some("bob"), "alice/x"), Verdict::Deny, "NotPrincipal denies everyone else");
        assert_eq!(get(None, "alice/x"), Verdict::Deny);
    }

    #[test]
    fn operations_match_iam_names_and_the_names_they_had_before() {
        let deny = |action: &str| {
            let text = format!(
                r#"{{"Statement":{{"Effect":"Deny","Principal":"*","Action":"{action}","Resource":"arn:aws:s3:::b"}}}}"#
            );
            Policy::parse(&text, "b").unwrap()
        };
        let request = |operation: &str| Request {
            action: super::action(operation, false),
            former_action: former_action(operation),
            resource: "arn:aws:s3:::b".into(),
            ..Request::default()
        };
        assert_eq!(super::action("DeletePublicAccessBlock", false), "s3:PutBucketPublicAccessBlock");
        assert_eq!(
            deny("s3:PutBucketPublicAccessBlock").evaluate(&request("DeletePublicAccessBlock")),
            Verdict::Deny
        );
        assert_eq!(
            deny("s3:DeletePublicAccessBlock").evaluate(&request("DeletePublicAccessBlock")),
            Verdict::Deny
        );
        assert_eq!(
            deny("s3:DeletePublicAccessBlock").evaluate(&request("PutPublicAccessBlock")),
            Verdict::Silent
        );
        assert_eq!(deny("s3:GetBucketCORS").evaluate(&request("GetBucketCors")), Verdict::Deny);
        assert_eq!(former_action("GetObject"), None);
    }

    #[test]
    fn conditions() {
        let policy = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
                "Condition":{"StringLike":{"s3:prefix":["home/*","public/"]},
                             "IpAddress":{"aws:SourceIp":"10.0.0.0/8"},
                             "NumericLessThanEquals":{"s3:max-keys":100},
                             "BoolIfExists":{"aws:SecureTransport":"true"},
                             "DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},
                             "Null":{"s3:delimiter":"true"}}}]}"#,
            "b",
        )
        .unwrap();
        assert!(!policy.is_public(), "the source address limits it");
        let anywhere = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
                "Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"},"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            "b",
        )
        .unwrap();
        assert!(anywhere.is_public(), "conditions that let anyone in leave it public");
        let list =
            |keys: &[(&str, &str)]| policy.evaluate(&request(None, "s3:ListBucket", "arn:aws:s3:::b", keys));
        let good = [
            ("s3:prefix", "home/alice"),
            ("aws:SourceIp", "10.1.2.3"),
            ("s3:max-keys", "50"),
            ("aws:CurrentTime", "2026-11-24T12:00:00Z"),
        ];
        assert_eq!(list(&good), Verdict::Allow);
        let with = |k: &str, v: &str| {
            let mut keys: Vec<(&str, &str)> = good.iter().filter(|(g, _)| *g != k).copied().collect();
            keys.push((k, v));
            list(&keys.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>())
        };
        assert_eq!(with("s3:prefix", "etc/passwd"), Verdict::Silent);
        assert_eq!(with("aws:SourceIp", "192.168.0.1"), Verdict::Silent);
        assert_eq!(with("s3:max-keys", "1000"), Verdict::Silent);
        assert_eq!(with("aws:SecureTransport", "false"), Verdict::Silent);
        assert_eq!(with("s3:delimiter", "/"), Verdict::Silent);
        assert_eq!(with("aws:CurrentTime", "2031-01-01T00:00:00Z"), Verdict::Silent);
        let ipv6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(ipv6.contains("2001:db8::1".parse().unwrap()));
        assert!(!ipv6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains("::ffff:127.0.0.1".parse().unwrap()));
    }

    /// `ArnLike`/`ArnEquals` (and their negations) match an ARN part by part, as the log
    /// delivery policies S3's documentation and Ceph's suite write use them.
    #[test]
    fn arn_conditions_match_each_part() {
        let policy = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
                "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::src-*"},
                             "ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::*:user/mallory"}}}]}"#,
            "b",
        )
        .unwrap();
        let get =
            |keys: &[(&str, &str)]| policy.evaluate(&request(None, "s3:GetObject", "arn:aws:s3:::b/k", keys));
        assert_eq!(get(&[("aws:SourceArn", "arn:aws:s3:::src-logs")]), Verdict::Allow);
        // A wildcard stays within its part: `*` in the resource part does not reach across a colon.
        assert_eq!(get(&[("aws:SourceArn", "arn:aws:s3:::other")]), Verdict::Silent);
        assert_eq!(get(&[("aws:SourceArn", "arn:aws:s3:eu:1:src-x")]), Verdict::Silent);
        assert_eq!(get(&[("aws:SourceArn", "not-an-arn")]), Verdict::Silent);
        assert_eq!(get(&[]), Verdict::Silent, "a missing key does not match a positive operator");
        let with_user =
            |user: &str| get(&[("aws:SourceArn", "arn:aws:s3:::src-a"), ("aws:PrincipalArn", user)]);
        assert_eq!(with_user("arn:aws:iam::123:user/mallory"), Verdict::Silent);
        assert_eq!(with_user("arn:aws:iam::123:user/alice"), Verdict::Allow);
    }

    #[test]
    fn malformed_policies_say_why() {
        let bad = [
            ("not json", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"Statement":[]}"#, "Statement"),
            (r#"{"Version":"2020-01-01","Statement":{}}"#, "version"),
            (
                r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#,
                "Effect",
            ),
            (r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#, "Principal"),
            (r#"{"Statement":{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::b"}}"#, "Action"),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::b"}}"#,
                "action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}}"#,
                "resource",
            ),
            (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}"#, "Resource"),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"StringSoundsLike":{"a":"b"}}}}"#,
                "Condition type",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}}}"#,
                "IP",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#,
                "principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"alice"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#,
                "NotPrincipal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:group/g"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#,
                "principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::c*/*"}}"#,
                "resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Extra":1}}"#,
                "Unknown",
            ),
        ];
        for (text, needle) in bad {
            let err = Policy::parse(text, "b").unwrap_err();
            assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{text}: {err}");
        }
        let big = format!(r#"{{"Statement":{{"Sid":"{}"}}}}"#, "x".repeat(MAX_POLICY_BYTES));
        assert!(Policy::parse(&big, "b").unwrap_err().contains("limited"));
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        /// Arbitrary JSON, biased toward the policy grammar's own words.
        fn json() -> impl Strategy<Value = Value> {
            let word = prop_oneof![
                Just("Version".to_owned()),
                Just("Statement".to_owned()),
                Just("Effect".to_owned()),
                Just("Allow".to_owned()),
                Just("Deny".to_owned()),
                Just("Principal".to_owned()),
                Just("*".to_owned()),
                Just("AWS".to_owned()),
                Just("Action".to_owned()),
                Just("NotAction".to_owned()),
                Just("s3:*".to_owned()),
                Just("Resource".to_owned()),
                Just("arn:aws:s3:::b/*".to_owned()),
                Just("Condition".to_owned()),
                Just("StringLikeIfExists".to_owned()),
                Just("IpAddress".to_owned()),
                Just("Null".to_owned()),
                Just("aws:SourceIp".to_owned()),
                Just("10.0.0.0/8".to_owned()),
                "\\PC{0,12}",
            ];
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                word.clone().prop_map(Value::String),
            ];
            leaf.prop_recursive(5, 64, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(word.clone(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            // RUCKET_FUZZ_CASES runs a longer campaign (docs/security.md, Fuzzed).
            #![proptest_config(ProptestConfig { cases: super::fuzz_cases(4096), ..ProptestConfig::default() })]

            /// The parser never panics, and whatever it accepts evaluates without
            /// panicking either.
            #[test]
            fn parsing_never_panics(doc in json()) {
                if let Ok(policy) = Policy::parse(&doc.to_string(), "b") {
                    let request = Request {
                        user: Some("alice".into()),
                        action: "s3:GetObject".into(),
                        former_action: None,
                        resource: "arn:aws:s3:::b/k".into(),
                        keys: [("aws:sourceip".to_owned(), vec!["10.0.0.1".to_owned()])].into_iter().collect(),
                    };
                    let _ = policy.evaluate(&request);
                    let _ = policy.is_public();
                }
                if let Ok(policy) = Policy::parse_identity(&doc.to_string()) {
                    let request = Request {
                        user: Some("carol".into()),
                        action: "s3:PutObject".into(),
                        former_action: None,
                        resource: "arn:aws:s3:::any/k".into(),
                        keys: Default::default(),
                    };
                    let _ = policy.evaluate(&request);
                }
            }

            #[test]
            fn raw_text_never_panics(text in "\\PC{0,200}") {
                let _ = Policy::parse(&text, "b");
                let _ = Policy::parse_identity(&text);
            }

            #[test]
            fn wildcard_star_matches_everything(text in "\\PC{0,40}") {
                prop_assert!(wildcard("*", &text));
                prop_assert!(wildcard(&text.replace(['*', '?'], ""), &text.replace(['*', '?'], "")));
            }
        }
    }
}
