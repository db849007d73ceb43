//! Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus. The policy language and its
//! evaluation live in `crate::policy`; enforcement is in the access hook.

use rucket_schemas::CommandBody;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;
use rucket_policy::Policy;

fn malformed(message: &str) -> s3s::S3Error {
    s3s::S3Error::with_message(s3s::S3ErrorCode::MalformedPolicy, message.to_owned())
}

impl Rucket {
    pub(super) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let text = req.input.policy;
        let policy = Policy::parse(&text, bucket.as_str()).map_err(|e| malformed(&e))?;
        let block = self.projections().public_access_block(&bucket).map_err(errors::projection)?;
        if policy.is_public() && block.is_some_and(|b| b.block_public_policy) {
            return Err(s3s::s3_error!(
                AccessDenied,
                "The bucket's public access block refuses public policies"
            ));
        }
        let public = policy.is_public();
        self.propose(&user, CommandBody::SetBucketPolicy { bucket, policy: Some(text), public }).await?;
        Ok(S3Response::new(PutBucketPolicyOutput::default()))
    }

    pub(super) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let policy = self.projections().bucket_policy(&bucket).map_err(errors::projection)?;
        let policy = policy.ok_or_else(|| {
            s3s::S3Error::with_message(
                s3s::S3ErrorCode::NoSuchBucketPolicy,
                "The bucket policy does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub(super) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        self.propose(&user, CommandBody::SetBucketPolicy { bucket, policy: None, public: false }).await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
    }

    /// A bucket is public when its policy lets everyone in without conditions, or its ACL
    /// grants to everyone or every signed user and no public access block ignores that.
    pub(super) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let by_acl =
            self.projections().effective_bucket_acl(&bucket).map_err(errors::projection)?.is_public();
        let by_policy = self
            .projections()
            .bucket_policy(&bucket)
            .map_err(errors::projection)?
            .and_then(|text| Policy::parse(&text, bucket.as_str()).ok())
            .is_some_and(|p| p.is_public());
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus { is_public: Some(by_acl || by_policy) }),
        }))
    }
}
