//! Bucket operations.

use rucket_schemas::CommandBody;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::{owner, timestamp, Rucket};
use crate::errors;

impl Rucket {
    /// ListBuckets in name order, with `prefix`, `bucket-region`, and pages of
    /// `max-buckets` (1 to 10,000) continued by an opaque token (the last name, base64).
    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        use base64::Engine as _;
        let user = self.user(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = match input.max_buckets {
            None => None,
            Some(n) if (1..=10_000).contains(&n) => Some(n as usize),
            Some(_) => return Err(s3s::s3_error!(InvalidArgument, "max-buckets must be from 1 to 10000")),
        };
        let after = match &input.continuation_token {
            None => None,
            Some(token) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        s3s::s3_error!(InvalidArgument, "The continuation token provided is incorrect")
                    })?,
            ),
        };
        let region_matches = input.bucket_region.as_deref().is_none_or(|r| r == self.region.as_str());
        let mut visible = self
            .projections()
            .buckets()
            .map_err(errors::projection)?
            .into_iter()
            .filter(|b| (user.admin || b.owner == user.id) && b.name.as_str().starts_with(&prefix))
            .filter(|b| region_matches && after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .peekable();
        let mut buckets = Vec::new();
        for b in visible.by_ref() {
            buckets.push(Bucket {
                name: Some(b.name.to_string()),
                creation_date: Some(timestamp(b.created)),
                bucket_region: Some(self.region.to_string()),
            });
            if max.is_some_and(|m| buckets.len() >= m) {
                break;
            }
        }
        let continuation_token = match (visible.peek(), buckets.last()) {
            (Some(_), Some(last)) => last
                .name
                .as_ref()
                .map(|n| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.as_bytes())),
            _ => None,
        };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&self.users, &user.id)),
            prefix: input.prefix,
            continuation_token,
        }))
    }

    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let bucket = Self::bucket_name(&input.bucket)?;
        let acl = super::acl::requested(
            input.acl.as_ref().map(|a| a.as_str()),
            super::acl::GrantHeaders {
                full_control: input.grant_full_control.as_deref(),
                read: input.grant_read.as_deref(),
                read_acp: input.grant_read_acp.as_deref(),
                write: input.grant_write.as_deref(),
                write_acp: input.grant_write_acp.as_deref(),
            },
            &user.id,
            &self.users,
        )?
        .filter(super::acl::sets_something);
        self.check_grantees(acl.as_ref(), &[&user.id])?;
        let ownership = match &input.object_ownership {
            None => None,
            Some(o) => Some(rucket_schemas::ObjectOwnership::from_s3_name(o.as_str()).ok_or_else(|| {
                s3s::s3_error!(InvalidArgument, "Unknown x-amz-object-ownership {}", o.as_str())
            })?),
        };
        if ownership == Some(rucket_schemas::ObjectOwnership::BucketOwnerEnforced) && acl.is_some() {
            return Err(s3s::s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ));
        }
        let location = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default();
        let created = self
            .propose(
                &user,
                CommandBody::CreateBucket {
                    bucket: bucket.clone(),
                    location,
                    object_lock_enabled: input.object_lock_enabled_for_bucket == Some(true),
                },
            )
            .await;
        match created {
            Ok(_) => {}
            // S3 in us-east-1 answers an owner's re-create with 200 and leaves the bucket
            // (its ACL, its ownership) as it was; other regions say BucketAlreadyOwnedByYou.
            Err(e)
                if e.code() == &s3s::S3ErrorCode::BucketAlreadyOwnedByYou
                    && self.region.as_str() == "us-east-1" =>
            {
                return Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }));
            }
            Err(e) => return Err(e),
        }
        if ownership.is_some() {
            self.propose(&user, CommandBody::SetBucketOwnership { bucket: bucket.clone(), ownership })
                .await?;
        }
        if let Some(listed) = acl {
            // The bucket exists, private, from here; its grants follow in their own event.
            let body = CommandBody::SetBucketAcl { bucket: bucket.clone(), acl: listed.acl.clone() };
            self.propose(&user, super::acl::acl_command(&listed, body)).await?;
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let user = self.principal(&req)?;
        self.bucket_access(&user, &req.input.bucket, rucket_schemas::Permission::Read)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.to_string()),
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let user = self.user(&req)?;
        let bucket = Self::bucket_name(&req.input.bucket)?;
        self.propose(&user, CommandBody::DeleteBucket { bucket }).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let user = self.user(&req)?;
        let (_, record) = self.bucket_for(&user, &req.input.bucket)?;
        // us-east-1 is reported as an empty constraint, as S3 does.
        let location = Some(record.location)
            .map(|l| if l.is_empty() { self.region.to_string() } else { l })
            .filter(|l| l != "us-east-1")
            .map(BucketLocationConstraint::from);
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint: location }))
    }

    pub(super) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let bucket = Self::bucket_name(&input.bucket)?;
        let config = input.versioning_configuration;
        if config.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
            return Err(errors::not_implemented("MFA delete"));
        }
        let status = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => rucket_schemas::VersioningStatus::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => rucket_schemas::VersioningStatus::Suspended,
            _ => return Err(s3s::s3_error!(MalformedXML, "Status must be Enabled or Suspended")),
        };
        self.propose(&user, CommandBody::SetBucketVersioning { bucket, status }).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let user = self.user(&req)?;
        let (_, record) = self.bucket_for(&user, &req.input.bucket)?;
        let status = match record.versioning {
            rucket_projections::Versioning::Unversioned => None,
            rucket_projections::Versioning::Enabled => {
                Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED))
            }
            rucket_projections::Versioning::Suspended => {
                Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED))
            }
        };
        Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
    }

    pub(super) async fn do_put_bucket_notification(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let (bucket, _) = self.bucket_for(&user, &input.bucket)?;
        let configuration = crate::notify::from_s3(input.notification_configuration, &self.notifier.targets)?;
        let named: std::collections::BTreeSet<String> = configuration
            .rules
            .iter()
            .filter_map(|r| crate::notify::webhook_id(&r.arn).map(str::to_owned))
            .collect();
        self.propose(&user, CommandBody::SetBucketNotification { bucket: bucket.clone(), configuration })
            .await?;
        // As S3 does, tell each destination that it was configured.
        for target in self.notifier.targets.iter().filter(|t| named.contains(&t.id)) {
            crate::notify::delivery::send_test_event(
                self.notifier.client.clone(),
                target.clone(),
                bucket.to_string(),
            );
        }
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
    }

    pub(super) async fn do_get_bucket_notification(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let config = self.projections().notification(&bucket).map_err(errors::projection)?;
        let s3 = crate::notify::to_s3(&config);
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: None,
            lambda_function_configurations: s3.lambda_function_configurations,
            queue_configurations: s3.queue_configurations,
            topic_configurations: s3.topic_configurations,
        }))
    }
}
