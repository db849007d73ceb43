//! Encryption at rest on the S3 surface: Put/Get/DeleteBucketEncryption, and the helpers
//! the object operations use to read SSE headers and open sealed data (the keys
//! themselves are in `crate::sse`).

use std::net::SocketAddr;

use rucket_schemas::{BucketEncryption, BucketName, CommandBody, ObjectData, ObjectRecord, Seal};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;
use crate::sse::{CustomerHeaders, CustomerKey, DataKey, Requested};

/// Sets the encryption response headers (`crate::sse::Echo`) on an S3 output struct.
macro_rules! echo_sse {
    ($output:expr, $echo:expr) => {{
        let echo: crate::sse::Echo = $echo;
        $output.server_side_encryption = echo.server_side_encryption;
        $output.sse_customer_algorithm = echo.sse_customer_algorithm;
        $output.sse_customer_key_md5 = echo.sse_customer_key_md5;
    }};
}
pub(super) use echo_sse;

/// The SSE-C headers of an S3 input struct.
macro_rules! customer_headers {
    ($input:expr) => {
        crate::sse::CustomerHeaders {
            algorithm: $input.sse_customer_algorithm.as_deref(),
            key: $input.sse_customer_key.as_deref(),
            key_md5: $input.sse_customer_key_md5.as_deref(),
        }
    };
}
pub(super) use customer_headers;

/// The copy source's SSE-C headers of an S3 input struct.
macro_rules! copy_source_customer_headers {
    ($input:expr) => {
        crate::sse::CustomerHeaders {
            algorithm: $input.copy_source_sse_customer_algorithm.as_deref(),
            key: $input.copy_source_sse_customer_key.as_deref(),
            key_md5: $input.copy_source_sse_customer_key_md5.as_deref(),
        }
    };
}
pub(super) use copy_source_customer_headers;

/// Stored bytes under their seal, if they have one.
pub(super) fn sealed_data(seal: Option<&Seal>, data: ObjectData) -> ObjectData {
    match seal {
        Some(seal) => ObjectData::Sealed { seal: seal.clone(), data: Box::new(data) },
        None => data,
    }
}

/// The ETag of a new single-part object: the plaintext MD5, except under SSE-C.
pub(super) fn etag_of(requested: &Requested, md5: &[u8; 16]) -> String {
    match requested {
        Requested::Customer(key) => crate::sse::customer_etag(key, md5),
        _ => hex::encode(md5),
    }
}

impl Rucket {
    /// Refuses SSE-C keys over plain HTTP unless the server allows them from loopback.
    fn check_transport(&self, extensions: &http::Extensions, key: Option<&CustomerKey>) -> S3Result<()> {
        let secure = extensions.get::<crate::access::SecureTransport>().is_some();
        let peer = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0);
        crate::sse::check_transport(key, secure, peer, self.allow_insecure_sse_c)
    }

    /// The SSE-C key a request brings (in `headers`), refused over plain HTTP unless
    /// the server allows it from loopback.
    pub(super) fn customer_key(
        &self,
        extensions: &http::Extensions,
        headers: CustomerHeaders<'_>,
    ) -> S3Result<Option<CustomerKey>> {
        let key = crate::sse::customer_key(headers)?;
        self.check_transport(extensions, key.as_ref())?;
        Ok(key)
    }

    /// What a write asks for: `x-amz-server-side-encryption` or SSE-C headers.
    pub(super) fn requested_sse(
        &self,
        extensions: &http::Extensions,
        sse: Option<&ServerSideEncryption>,
        headers: CustomerHeaders<'_>,
    ) -> S3Result<Requested> {
        let requested = crate::sse::requested(sse.map(|s| s.as_str()), headers)?;
        if let Requested::Customer(key) = &requested {
            self.check_transport(extensions, Some(key))?;
        }
        Ok(requested)
    }

    /// A seal for a new object or upload in `bucket`: as requested, else the bucket's
    /// default encryption, else none.
    pub(super) fn new_seal(
        &self,
        requested: &Requested,
        (bucket, key, context_id): (&BucketName, &str, &str),
    ) -> S3Result<Option<(Seal, DataKey)>> {
        let default = matches!(requested, Requested::None)
            && self.projections().bucket_encryption(bucket).map_err(errors::projection)?.is_some();
        self.keyring
            .new_seal(requested, default, (bucket.as_str(), key, context_id))
            .map_err(crate::sse::key_error)
    }

    /// Opens the data key of a stored version for reading, with the customer key the
    /// request brought (SSE-C).
    pub(super) fn open_record(
        &self,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
        (bucket, key): (&str, &str),
    ) -> S3Result<Option<DataKey>> {
        self.keyring.open(record.data.seal(), customer, (bucket, key)).map_err(crate::sse::key_error)
    }

    /// The seal of an upload in progress and, when sealed, its opened data key (with the
    /// SSE-C key each part request must bring again).
    pub(super) fn upload_data_key(
        &self,
        extensions: &http::Extensions,
        (bucket, key, upload_id): (&BucketName, &rucket_schemas::ObjectKey, &rucket_schemas::UploadId),
        headers: CustomerHeaders<'_>,
    ) -> S3Result<(Option<Seal>, Option<CustomerKey>, Option<DataKey>)> {
        let customer = self.customer_key(extensions, headers)?;
        let seal = self.projections().upload_seal(bucket, key, upload_id).map_err(errors::projection)?;
        let data_key = self
            .keyring
            .open(seal.as_ref(), customer.as_ref(), (bucket.as_str(), key.as_str()))
            .map_err(crate::sse::key_error)?;
        Ok((seal, customer, data_key))
    }

    pub(super) async fn do_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let rules = req.input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "The encryption configuration holds exactly one rule"));
        };
        let default = rule.apply_server_side_encryption_by_default.as_ref().ok_or_else(|| {
            s3_error!(MalformedXML, "The rule needs an ApplyServerSideEncryptionByDefault element")
        })?;
        match default.sse_algorithm.as_str() {
            ServerSideEncryption::AES256 if default.kms_master_key_id.is_some() => {
                return Err(s3_error!(InvalidArgument, "KMSMasterKeyID is only allowed with aws:kms"))
            }
            ServerSideEncryption::AES256 => {}
            "aws:kms" | "aws:kms:dsse" => {
                return Err(errors::not_implemented("Server-side encryption with KMS keys (SSE-KMS)"))
            }
            other => {
                return Err(s3_error!(MalformedXML, "The SSEAlgorithm {other:?} is not valid (use AES256)"))
            }
        }
        // Refused now, not on every later PUT, when the server cannot encrypt.
        self.keyring.current().map_err(crate::sse::key_error)?;
        let configuration = BucketEncryption { bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false) };
        self.propose(&user, CommandBody::SetBucketEncryption { bucket, configuration: Some(configuration) })
            .await?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(super) async fn do_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let configuration = self.projections().bucket_encryption(&bucket).map_err(errors::projection)?;
        let configuration = configuration.ok_or_else(|| {
            let mut e = s3_error!(
                ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found"
            );
            // S3 answers 404, as for the other missing bucket configurations.
            e.set_status_code(http::StatusCode::NOT_FOUND);
            e
        })?;
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
                kms_master_key_id: None,
            }),
            bucket_key_enabled: Some(configuration.bucket_key_enabled),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![rule],
            }),
        }))
    }

    pub(super) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        self.propose(&user, CommandBody::SetBucketEncryption { bucket, configuration: None }).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
    }
}
