//! Object Lock: the bucket configuration, per-version retention and legal hold, and the
//! lock headers of writes and reads. Whether a lock forbids a change is decided in the
//! projections at apply time, against the command's stamp; this module parses and
//! validates requests and renders answers.

use rucket_schemas::{
    BucketName, CommandBody, DefaultRetention, LockMode, ObjectKey, ObjectLock, ObjectLockConfig, Retention,
    VersionId,
};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;

fn mode_of(text: &str, malformed: bool) -> S3Result<LockMode> {
    LockMode::parse(text).ok_or_else(|| {
        if malformed {
            s3_error!(MalformedXML, "Unknown Object Lock mode {text:?}")
        } else {
            s3_error!(InvalidArgument, "Unknown Object Lock mode {text:?}")
        }
    })
}

fn millis(t: &Timestamp) -> i64 {
    let t = time::OffsetDateTime::from(t.clone());
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn timestamp(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

fn now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The lock the Object Lock headers of a write ask for (`None`: no headers). Mode and
/// date come together, the date in the future.
pub(super) fn requested(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<Option<ObjectLock>> {
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(mode), Some(until)) => {
            let retain_until_ms = millis(until);
            if retain_until_ms <= now_millis() {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            Some(Retention { mode: mode_of(mode.as_str(), false)?, retain_until_ms })
        }
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ))
        }
    };
    let legal_hold = match hold.map(|h| h.as_str()) {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(other) => return Err(s3_error!(InvalidArgument, "Unknown legal hold status {other:?}")),
    };
    if retention.is_none() && hold.is_none() {
        return Ok(None);
    }
    Ok(Some(ObjectLock { retention, legal_hold }))
}

/// Wraps a write so its version carries `lock`.
pub(super) fn with_lock(lock: Option<ObjectLock>, body: CommandBody) -> CommandBody {
    match lock {
        None => body,
        Some(lock) => CommandBody::Locked { lock, inner: Box::new(body) },
    }
}

/// Wraps a version delete or retention change sent with the bypass header.
pub(super) fn with_bypass(bypass: Option<bool>, body: CommandBody) -> CommandBody {
    if bypass == Some(true) {
        CommandBody::BypassGovernance { inner: Box::new(body) }
    } else {
        body
    }
}

/// The Object Lock headers of a GET or HEAD answer: mode, retain-until date, legal hold.
pub(super) type LockHeaders = (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>);

fn headers(lock: &ObjectLock) -> LockHeaders {
    let mode = lock.retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned()));
    let until = lock.retention.map(|r| timestamp(r.retain_until_ms));
    let hold = lock.legal_hold.then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
    (mode, until, hold)
}

/// Parses a PutObjectLockConfiguration body.
fn configuration(c: Option<ObjectLockConfiguration>) -> S3Result<ObjectLockConfig> {
    let c = c.ok_or_else(|| s3_error!(MalformedXML, "The ObjectLockConfiguration element is missing"))?;
    if c.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
    }
    let Some(rule) = c.rule else { return Ok(ObjectLockConfig::default()) };
    let Some(d) = rule.default_retention else {
        return Err(s3_error!(MalformedXML, "A Rule needs a DefaultRetention"));
    };
    let mode = match &d.mode {
        Some(m) => mode_of(m.as_str(), true)?,
        None => return Err(s3_error!(MalformedXML, "DefaultRetention needs a Mode")),
    };
    let positive = |n: i32| {
        u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
            let mut e = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("InvalidRetentionPeriod".into()),
                "Default retention period must be a positive integer value",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            e
        })
    };
    let (days, years) = match (d.days, d.years) {
        (Some(_), Some(_)) => return Err(s3_error!(MalformedXML, "Days and Years cannot both be set")),
        (None, None) => return Err(s3_error!(MalformedXML, "DefaultRetention needs Days or Years")),
        (Some(days), None) => (Some(positive(days)?.min(36_500)), None),
        (None, Some(years)) => (None, Some(positive(years)?.min(100))),
    };
    Ok(ObjectLockConfig { default_retention: Some(DefaultRetention { mode, days, years }) })
}

fn no_configuration() -> s3s::S3Error {
    let mut e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::Custom("ObjectLockConfigurationNotFoundError".into()),
        "Object Lock configuration does not exist for this bucket",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub(super) fn bucket_without_lock() -> s3s::S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration")
}

impl Rucket {
    pub(super) async fn do_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, _) = self.bucket_for(&user, &input.bucket)?;
        let configuration = configuration(input.object_lock_configuration)?;
        self.propose(&user, CommandBody::SetObjectLockConfig { bucket, configuration }).await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn do_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let user = self.user(&req)?;
        let (bucket, record) = self.bucket_for(&user, &req.input.bucket)?;
        if !record.object_lock_enabled {
            return Err(no_configuration());
        }
        let config = self.projections().object_lock_config(&bucket).map_err(errors::projection)?;
        let rule = config.and_then(|c| c.default_retention).map(|d| ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_owned())),
                days: d.days.map(|n| n as i32),
                years: d.years.map(|n| n as i32),
            }),
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
                rule,
            }),
        }))
    }

    pub(super) async fn do_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, key) = target(&input.bucket, &input.key)?;
        let retention = match input.retention {
            None => return Err(s3_error!(MalformedXML, "The Retention element is missing")),
            Some(ObjectLockRetention { mode: None, retain_until_date: None }) => None,
            Some(ObjectLockRetention { mode: Some(mode), retain_until_date: Some(until) }) => {
                let retain_until_ms = millis(&until);
                if retain_until_ms <= now_millis() {
                    return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
                }
                Some(Retention { mode: mode_of(mode.as_str(), true)?, retain_until_ms })
            }
            Some(_) => return Err(s3_error!(MalformedXML, "Retention needs both Mode and RetainUntilDate")),
        };
        let version_id = input.version_id.map(VersionId::new);
        let body = CommandBody::SetObjectRetention { bucket, key, version_id, retention };
        self.propose(&user, with_bypass(input.bypass_governance_retention, body)).await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn do_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let lock = self.version_lock(&user, &input.bucket, &input.key, input.version_id)?;
        let retention = lock.retention.ok_or_else(|| {
            let mut e = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("NoSuchObjectLockConfiguration".into()),
                "The specified object does not have a ObjectLock configuration",
            );
            e.set_status_code(http::StatusCode::NOT_FOUND);
            e
        })?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(retention.mode.as_str().to_owned())),
                retain_until_date: Some(timestamp(retention.retain_until_ms)),
            }),
        }))
    }

    pub(super) async fn do_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, key) = target(&input.bucket, &input.key)?;
        let on = match input.legal_hold.and_then(|h| h.status).as_ref().map(|s| s.as_str()) {
            Some("ON") => true,
            Some("OFF") => false,
            _ => return Err(s3_error!(MalformedXML, "LegalHold Status must be ON or OFF")),
        };
        let version_id = input.version_id.map(VersionId::new);
        self.propose(&user, CommandBody::SetObjectLegalHold { bucket, key, version_id, on }).await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) async fn do_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let lock = self.version_lock(&user, &input.bucket, &input.key, input.version_id)?;
        let status =
            if lock.legal_hold { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(status)),
            }),
        }))
    }

    /// The Object Lock headers of a GET or HEAD of `record`.
    pub(super) fn lock_headers(
        &self,
        bucket: &str,
        key: &str,
        record: &rucket_schemas::ObjectRecord,
    ) -> S3Result<LockHeaders> {
        let (Ok(bucket), Ok(key)) = (BucketName::parse(bucket), ObjectKey::parse(key)) else {
            return Ok((None, None, None));
        };
        let lock = self
            .projections()
            .version_lock(&bucket, &key, record.hlc_timestamp)
            .map_err(errors::projection)?;
        Ok(headers(&lock))
    }

    /// The lock of a version (`None`: the current one) in a bucket with Object Lock on.
    fn version_lock(
        &self,
        user: &crate::credentials::User,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
    ) -> S3Result<ObjectLock> {
        let (bucket, record) = self.bucket_for(user, bucket)?;
        let key = ObjectKey::parse(key).map_err(errors::key_name)?;
        if !record.object_lock_enabled {
            return Err(bucket_without_lock());
        }
        let resolved = self.resolve(user, bucket.as_str(), key.as_str(), version_id.as_deref())?;
        self.projections()
            .version_lock(&bucket, &key, resolved.record.hlc_timestamp)
            .map_err(errors::projection)
    }
}

fn target(bucket: &str, key: &str) -> S3Result<(BucketName, ObjectKey)> {
    Ok((Rucket::bucket_name(bucket)?, ObjectKey::parse(key).map_err(errors::key_name)?))
}
