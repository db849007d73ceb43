//! Access judged at apply time, in log order, from the facts of the request a command
//! came from and this replica's own views: the access key's identity policy, then the
//! bucket policy (with RestrictPublicBuckets). The gateway may refuse a request early,
//! but never allows on apply's behalf: a Deny committed after the gateway looked still
//! refuses, and a replay of the log reaches the same verdicts.
//!
//! Every failure refuses: a managed key that no longer exists or is disabled, a stored
//! policy that does not parse, a view that cannot be read (that last one as an error).
//! Time comes from the command's stamp, never the clock.

use std::collections::BTreeMap;

use rucket_policy::{Policy, Request, Verdict};
use rucket_schemas::{
    BucketName, Command, CommandBody, ObjectKey, Principal, Rejection, RequestFacts, VersionId,
};

use crate::{ProjectionError, Projections, VersionEntry};

/// What apply concluded from a request's facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// The requester acts as an operator (the root key).
    pub admin: bool,
    /// A managed key that may use the admin API (an admin token with no identity policy).
    pub key_admin: bool,
    /// The bucket policy allows this request (a grant the object-write checks honour).
    pub policy_allows: bool,
}

/// The bucket, key and version a command acts on, looking through its wrappers.
pub(crate) fn target(body: &CommandBody) -> Option<(&BucketName, Option<&ObjectKey>, Option<&VersionId>)> {
    use CommandBody as C;
    Some(match body {
        C::PutObject { bucket, key, .. }
        | C::CreateMultipartUpload { bucket, key, .. }
        | C::UploadPart { bucket, key, .. }
        | C::CompleteMultipartUpload { bucket, key, .. }
        | C::AbortMultipartUpload { bucket, key, .. }
        | C::RewrapDataKey { bucket, key, .. } => (bucket, Some(key), None),
        C::DeleteObject { bucket, key, version_id, .. }
        | C::SetObjectTagging { bucket, key, version_id, .. }
        | C::SetObjectAcl { bucket, key, version_id, .. }
        | C::SetObjectRetention { bucket, key, version_id, .. }
        | C::SetObjectLegalHold { bucket, key, version_id, .. } => (bucket, Some(key), version_id.as_ref()),
        C::LifecycleExpire { bucket, key, version_id, .. } => (bucket, Some(key), Some(version_id)),
        other => match other.wrapped() {
            Some(inner) => return target(inner),
            None => (other.bucket()?, None, None),
        },
    })
}

impl Projections {
    /// Judges a command that carries its request's facts; `Err(Rejection::AccessDenied)`
    /// refuses it.
    pub fn judge(
        &self,
        command: &Command,
        facts: &RequestFacts,
        inner: &CommandBody,
    ) -> Result<Result<Judgement, Rejection>, ProjectionError> {
        let mut judgement = Judgement::default();
        let user = (!command.requester.is_anonymous()).then(|| command.requester.to_string());
        let target = target(inner);
        let mut request = Request {
            user,
            action: rucket_policy::action(&facts.operation, facts.version_id),
            former_action: rucket_policy::former_action(&facts.operation),
            resource: match target {
                Some((bucket, Some(key), _)) => format!("arn:aws:s3:::{bucket}/{key}"),
                Some((bucket, None, _)) => format!("arn:aws:s3:::{bucket}"),
                None => "*".to_owned(),
            },
            keys: self.condition_keys(command, facts),
        };
        match &facts.principal {
            Principal::Root => judgement.admin = true,
            Principal::Anonymous | Principal::ConfigKey { .. } => {}
            Principal::ManagedKey { access_key_id } => {
                let Some(record) = self.access_key(access_key_id)? else {
                    return Ok(Err(Rejection::AccessDenied));
                };
                if !record.enabled || record.user != command.requester {
                    return Ok(Err(Rejection::AccessDenied));
                }
                judgement.key_admin = record.admin && record.policy.is_none();
                if let Some(text) = &record.policy {
                    let Ok(policy) = Policy::parse_identity(text) else {
                        return Ok(Err(Rejection::AccessDenied));
                    };
                    self.add_existing_tags(&policy, target, &mut request.keys)?;
                    if policy.evaluate(&request) != Verdict::Allow {
                        return Ok(Err(Rejection::AccessDenied));
                    }
                }
            }
        }
        let Some((bucket, _, _)) = target else { return Ok(Ok(judgement)) };
        if matches!(inner, CommandBody::CreateBucket { .. }) {
            // A new bucket has no policy of its own yet (an old one of that name is gone).
            return Ok(Ok(judgement));
        }
        let Some(text) = self.bucket_policy(bucket)? else { return Ok(Ok(judgement)) };
        let owner_or_admin =
            judgement.admin || self.bucket(bucket)?.is_some_and(|b| b.owner == command.requester);
        // The owner and the operators may always replace or delete the bucket's policy.
        let on_the_policy = matches!(inner, CommandBody::SetBucketPolicy { .. }) && owner_or_admin;
        let policy = match Policy::parse(&text, bucket.as_str()) {
            Ok(policy) => policy,
            Err(_) if on_the_policy => return Ok(Ok(judgement)),
            Err(_) => return Ok(Err(Rejection::AccessDenied)),
        };
        self.add_existing_tags(&policy, target, &mut request.keys)?;
        match policy.evaluate(&request) {
            Verdict::Deny if on_the_policy => {}
            Verdict::Deny => return Ok(Err(Rejection::AccessDenied)),
            Verdict::Allow => {
                let restricted = policy.is_public()
                    && !owner_or_admin
                    && self.public_access_block(bucket)?.is_some_and(|b| b.restrict_public_buckets);
                judgement.policy_allows = !restricted;
            }
            Verdict::Silent => {}
        }
        Ok(Ok(judgement))
    }

    /// The request's condition keys plus what apply knows itself: the time of the
    /// command's stamp and the requester's name.
    fn condition_keys(&self, command: &Command, facts: &RequestFacts) -> BTreeMap<String, Vec<String>> {
        let mut keys = facts.keys.clone();
        keys.insert("aws:currenttime".into(), vec![command.hlc.to_rfc3339()]);
        keys.insert("aws:epochtime".into(), vec![command.hlc.to_datetime().unix_timestamp().to_string()]);
        if !command.requester.is_anonymous() {
            keys.insert("aws:username".into(), vec![command.requester.to_string()]);
            keys.insert("aws:userid".into(), vec![command.requester.to_string()]);
        }
        let until = facts.retain_until.as_deref().and_then(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        });
        if let Some(until) = until {
            let days = (until - command.hlc.to_datetime()).whole_days().max(0);
            keys.insert("s3:object-lock-remaining-retention-days".into(), vec![days.to_string()]);
        }
        keys
    }

    /// `s3:existingobjecttag/<key>` values of the version a command names (the current
    /// one without a version id), read only when the policy asks for them.
    fn add_existing_tags(
        &self,
        policy: &Policy,
        target: Option<(&BucketName, Option<&ObjectKey>, Option<&VersionId>)>,
        keys: &mut BTreeMap<String, Vec<String>>,
    ) -> Result<(), ProjectionError> {
        let Some((bucket, Some(key), version)) = target else { return Ok(()) };
        if !policy.reads_condition("s3:existingobjecttag/") {
            return Ok(());
        }
        let record = match version {
            None => self.current_object(bucket, key)?,
            Some(version) => match self.version(bucket, key, version)? {
                Some(VersionEntry::Object(record)) => Some(*record),
                _ => None,
            },
        };
        if let Some(record) = record {
            for (name, value) in self.version_tags(bucket, key, record.hlc_timestamp)? {
                keys.insert(format!("s3:existingobjecttag/{}", name.to_ascii_lowercase()), vec![value]);
            }
        }
        Ok(())
    }
}
