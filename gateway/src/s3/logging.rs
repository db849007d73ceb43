//! Server access logging on the S3 surface: Put/GetBucketLogging, and the delivery of
//! access records (gathered by `crate::access_log`) as objects in the target bucket.

use rucket_schemas::{
    BucketLogging, BucketName, CommandBody, CreateOperation, LogKeyFormat, ObjectKey, ObjectRecord,
    ReplicationStatus, StandardHeaders, VersionId,
};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;
use crate::sse::Requested;

fn to_config(enabled: LoggingEnabled) -> S3Result<BucketLogging> {
    if enabled.target_grants.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(errors::not_implemented("Target grants of server access logging"));
    }
    let target_bucket = BucketName::parse(&enabled.target_bucket).map_err(|_| {
        errors::with_status(
            "InvalidTargetBucketForLogging",
            "The target bucket for logging does not exist",
            http::StatusCode::BAD_REQUEST,
        )
    })?;
    if enabled.target_prefix.len() > 512 {
        return Err(s3_error!(InvalidArgument, "The target prefix is longer than 512 bytes"));
    }
    let key_format = match enabled.target_object_key_format {
        Some(TargetObjectKeyFormat { partitioned_prefix: Some(p), simple_prefix: None }) => {
            let delivery_time = match p.partition_date_source.as_ref().map(|s| s.as_str()) {
                None | Some(PartitionDateSource::EVENT_TIME) => false,
                Some(PartitionDateSource::DELIVERY_TIME) => true,
                Some(other) => {
                    return Err(s3_error!(MalformedXML, "PartitionDateSource {other:?} is not valid"))
                }
            };
            LogKeyFormat::PartitionedPrefix { delivery_time }
        }
        Some(TargetObjectKeyFormat { partitioned_prefix: Some(_), simple_prefix: Some(_) }) => {
            return Err(s3_error!(MalformedXML, "TargetObjectKeyFormat names both key formats"))
        }
        _ => LogKeyFormat::SimplePrefix,
    };
    Ok(BucketLogging { target_bucket, target_prefix: enabled.target_prefix, key_format })
}

impl Rucket {
    pub(super) async fn do_put_bucket_logging(
        &self,
        req: S3Request<PutBucketLoggingInput>,
    ) -> S3Result<S3Response<PutBucketLoggingOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = req.input.bucket_logging_status.logging_enabled.map(to_config).transpose()?;
        self.propose(&user, CommandBody::SetBucketLogging { bucket, configuration }).await?;
        Ok(S3Response::new(PutBucketLoggingOutput::default()))
    }

    pub(super) async fn do_get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = self.projections().bucket_logging(&bucket).map_err(errors::projection)?;
        let logging_enabled = configuration.map(|c| LoggingEnabled {
            target_bucket: c.target_bucket.to_string(),
            target_grants: None,
            target_object_key_format: Some(match c.key_format {
                LogKeyFormat::SimplePrefix => {
                    TargetObjectKeyFormat { partitioned_prefix: None, simple_prefix: Some(SimplePrefix {}) }
                }
                LogKeyFormat::PartitionedPrefix { delivery_time } => TargetObjectKeyFormat {
                    partitioned_prefix: Some(PartitionedPrefix {
                        partition_date_source: Some(PartitionDateSource::from_static(if delivery_time {
                            PartitionDateSource::DELIVERY_TIME
                        } else {
                            PartitionDateSource::EVENT_TIME
                        })),
                    }),
                    simple_prefix: None,
                },
            }),
            target_prefix: c.target_prefix,
        });
        Ok(S3Response::new(GetBucketLoggingOutput { logging_enabled }))
    }

    /// Writes `body` (access records of `source`) to `key` in `target`, sealed as the
    /// bucket's default encryption says; stored and replicated like any PUT. It is the
    /// source owner's write, judged in log order like theirs (not an operator's): a target
    /// deleted and made again by someone else refuses it, and the records are dropped.
    pub async fn deliver_access_log(
        &self,
        source: &BucketName,
        target: &BucketName,
        key: &str,
        body: Vec<u8>,
    ) -> S3Result<()> {
        let projections = self.projections();
        let record = projections
            .bucket(target)
            .map_err(errors::projection)?
            .ok_or_else(|| errors::rejection(rucket_schemas::Rejection::NoSuchLoggingTarget))?;
        let source_owner = projections.bucket(source).map_err(errors::projection)?.map(|b| b.owner);
        let Some(source_owner) = source_owner.filter(|o| *o == record.owner) else {
            return Err(errors::rejection(rucket_schemas::Rejection::LoggingTargetNotOwned));
        };
        let key = ObjectKey::parse(key).map_err(errors::key_name)?;
        // Refused at once below the disk reserve, as a PUT of this size is (the blob path
        // checks only every 64 KiB), so the records are held for a later delivery.
        self.volumes.room_for_writes(body.len() as u64)?;
        let facts = rucket_schemas::RequestFacts {
            // Trusted like a configured key: the source owner's identity, no key policy.
            principal: rucket_schemas::Principal::ConfigKey { access_key_id: "rucket-access-log".to_owned() },
            operation: "PutObject".to_owned(),
            version_id: false,
            keys: Default::default(),
            retain_until: None,
        };
        let user = crate::credentials::User {
            facts: Some(std::sync::Arc::new(facts)),
            ..crate::credentials::User::new(source_owner, false)
        };
        let version_id = VersionId::new(hex::encode(rand::random::<[u8; 16]>()));
        let sealed = self.new_seal(&Requested::None, (target, key.as_str(), version_id.as_str())).await?;
        let seal_key = sealed.as_ref().map(|(_, data_key)| data_key.for_part(0));
        let size = body.len() as u64;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(body)) });
        let ingested = self
            .blobs
            .ingest(
                Box::pin(stream),
                rucket_blobs::IngestOptions {
                    inline_threshold: self.inline_threshold,
                    expected_len: Some(size),
                    checksums: &[],
                    seal: seal_key.as_ref(),
                    idle_timeout: None,
                    room: Some(&self.volumes),
                },
            )
            .await
            .map_err(errors::blob)?;
        let hlc = self.clock.now();
        let seal = sealed.map(|(seal, _)| seal);
        let object = ObjectRecord {
            version_id,
            size: ingested.size,
            etag: hex::encode(ingested.md5),
            headers: StandardHeaders {
                content_type: Some("text/plain".to_owned()),
                ..StandardHeaders::default()
            },
            user_metadata: Default::default(),
            data: super::encryption::sealed_data(seal.as_ref(), ingested.data.clone()),
            owner: record.owner,
            hlc_timestamp: hlc,
            placement_group: 0,
            home_region: self.region.clone(),
            storage_class: Default::default(),
            replication_status: ReplicationStatus::None,
            checksums: Default::default(),
        };
        let body = CommandBody::PutObject {
            bucket: target.clone(),
            key,
            operation: CreateOperation::Put,
            record: Box::new(object),
            condition: Default::default(),
        };
        self.propose_ingested(&user, hlc, body, &ingested).await.map(|_| ())
    }
}
