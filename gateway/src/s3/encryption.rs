//! Encryption at rest on the S3 surface: Put/Get/DeleteBucketEncryption, and the helpers
//! the object operations use to read SSE headers and open sealed data (the keys
//! themselves are in `crate::sse`).

use std::net::SocketAddr;

use rucket_schemas::{BucketEncryption, BucketName, CommandBody, ObjectData, ObjectRecord, Seal};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;
use crate::sse::{CustomerHeaders, CustomerKey, DataKey, KmsKey, Requested, SealWith};

/// The KMS key an `aws:kms` write uses when neither the request nor the bucket's default
/// names one (S3's `aws/s3`); the key store creates it on first use.
pub const DEFAULT_KMS_KEY: &str = "aws/s3";

/// The requester named on the command that creates [`DEFAULT_KMS_KEY`].
const KEY_STORE_USER: &str = "rucket-key-store";

fn kms_not_found(key_id: &str) -> s3s::S3Error {
    errors::with_status(
        "KMS.NotFoundException",
        &format!("Invalid keyId {key_id}: no such key in the key store"),
        http::StatusCode::BAD_REQUEST,
    )
}

fn kms_disabled(key_id: &str) -> s3s::S3Error {
    errors::with_status(
        "KMS.DisabledException",
        &format!("The KMS key {key_id} is disabled"),
        http::StatusCode::BAD_REQUEST,
    )
}

/// Sets the encryption response headers (`crate::sse::Echo`) on an S3 output struct.
macro_rules! echo_sse {
    ($output:expr, $echo:expr) => {{
        let echo: crate::sse::Echo = $echo;
        $output.server_side_encryption = echo.server_side_encryption;
        $output.sse_customer_algorithm = echo.sse_customer_algorithm;
        $output.sse_customer_key_md5 = echo.sse_customer_key_md5;
        $output.ssekms_key_id = echo.ssekms_key_id;
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

    /// What a write asks for: `x-amz-server-side-encryption` (with a KMS key id) or
    /// SSE-C headers.
    pub(super) fn requested_sse(
        &self,
        extensions: &http::Extensions,
        sse: Option<&ServerSideEncryption>,
        kms_key_id: Option<&str>,
        headers: CustomerHeaders<'_>,
    ) -> S3Result<Requested> {
        let requested = crate::sse::requested(sse.map(|s| s.as_str()), kms_key_id, headers)?;
        if let Requested::Customer(key) = &requested {
            self.check_transport(extensions, Some(key))?;
        }
        Ok(requested)
    }

    /// A seal for a new object or upload in `bucket`: as requested, else the bucket's
    /// default encryption, else none.
    pub(super) async fn new_seal(
        &self,
        requested: &Requested,
        (bucket, key, context_id): (&BucketName, &str, &str),
    ) -> S3Result<Option<(Seal, DataKey)>> {
        let projections = self.projections();
        let default_kms = || projections.bucket_kms_key(bucket).map_err(errors::projection);
        // The bucket's default, read only for a write that asks for none (one read when
        // the bucket has no default, as before SSE-KMS).
        let bucket_default = match requested {
            Requested::None => projections.bucket_encryption(bucket).map_err(errors::projection)?,
            _ => None,
        };
        let kms_key_id = match requested {
            Requested::Kms(Some(id)) => Some(id.clone()),
            Requested::Kms(None) => Some(default_kms()?.unwrap_or_else(|| DEFAULT_KMS_KEY.to_owned())),
            Requested::None if bucket_default.is_some() => default_kms()?,
            Requested::None | Requested::ServerKey | Requested::Customer(_) => None,
        };
        let kms = match &kms_key_id {
            Some(id) => Some(self.kms_for_write(id).await?),
            None => None,
        };
        let with = match (requested, &kms) {
            (_, Some(kms)) => Some(SealWith::Kms(kms)),
            (Requested::Customer(customer), None) => Some(SealWith::Customer(customer)),
            (Requested::ServerKey, None) => Some(SealWith::MasterKey),
            (Requested::None, None) => bucket_default.map(|_| SealWith::MasterKey),
            (Requested::Kms(_), None) => unreachable!("an aws:kms request always names a key"),
        };
        self.keyring.new_seal(with, (bucket.as_str(), key, context_id)).map_err(crate::sse::key_error)
    }

    /// KMS key `key_id`, opened to seal a new object: it must exist and be enabled. The
    /// store's default key is created on its first use.
    async fn kms_for_write(&self, key_id: &str) -> S3Result<KmsKey> {
        let mut record = self.kms_key_seen_by_all(key_id).await?;
        if record.is_none() && key_id == DEFAULT_KMS_KEY {
            let material = self.keyring.new_kms_material(key_id).map_err(crate::sse::key_error)?;
            let command = rucket_schemas::Command {
                hlc: self.clock.now(),
                event_id: rucket_schemas::EventId(rand::random()),
                origin_region: self.region.clone(),
                requester: rucket_schemas::UserId::new(KEY_STORE_USER),
                requester_is_admin: true,
                body: CommandBody::CreateKmsKey {
                    key_id: key_id.to_owned(),
                    description: "The default key of aws:kms writes that name none".to_owned(),
                    material,
                },
            };
            // Another request may create it first: either way it exists afterwards.
            let writer = self.writer.as_ref().ok_or_else(|| kms_not_found(key_id))?;
            match writer.propose(command).await.map_err(errors::propose)? {
                rucket_schemas::Outcome::Rejected(rucket_schemas::Rejection::KmsKeyExists)
                | rucket_schemas::Outcome::Applied { .. }
                | rucket_schemas::Outcome::Unchanged => {}
                rucket_schemas::Outcome::Rejected(r) => return Err(errors::rejection(r)),
            }
            record = self.kms_key_seen_by_all(key_id).await?;
        }
        self.open_enabled(&record.ok_or_else(|| kms_not_found(key_id))?)
    }

    /// A KMS key's material, opened, unless the key is disabled.
    fn open_enabled(&self, record: &rucket_projections::KmsKeyRecord) -> S3Result<KmsKey> {
        if !record.enabled {
            return Err(kms_disabled(&record.key_id));
        }
        self.keyring.open_kms(&record.key_id, &record.material).map_err(crate::sse::key_error)
    }

    /// KMS key `key_id` as this node's views hold it; when they do not, after a read
    /// barrier (in a cluster, a key made through another node may not be applied here yet).
    async fn kms_key_seen_by_all(&self, key_id: &str) -> S3Result<Option<rucket_projections::KmsKeyRecord>> {
        let record = self.projections().kms_key(key_id).map_err(errors::projection)?;
        match (&record, &self.writer) {
            (None, Some(writer)) => {
                writer.read_barrier().await.map_err(errors::propose)?;
                self.projections().kms_key(key_id).map_err(errors::projection)
            }
            _ => Ok(record),
        }
    }

    /// The opened KMS key that `seal` names, for reading (`None` for other seals).
    fn kms_for_seal(&self, seal: Option<&Seal>) -> S3Result<Option<KmsKey>> {
        let Some(key_id) = seal.and_then(Seal::kms_key_id) else { return Ok(None) };
        let record = self.projections().kms_key(key_id).map_err(errors::projection)?.ok_or_else(|| {
            tracing::error!(key_id, "an object is sealed under a KMS key the key store does not hold");
            s3_error!(
                InternalError,
                "The KMS key {key_id} that encrypted this object is not in the key store"
            )
        })?;
        self.open_enabled(&record).map(Some)
    }

    /// Opens the data key of a stored version for reading, with the customer key the
    /// request brought (SSE-C) or the KMS key it names (SSE-KMS).
    pub(super) fn open_record(
        &self,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
        (bucket, key): (&str, &str),
    ) -> S3Result<Option<DataKey>> {
        let kms = self.kms_for_seal(record.data.seal())?;
        self.keyring
            .open(record.data.seal(), customer, kms.as_ref(), (bucket, key))
            .map_err(crate::sse::key_error)
    }

    /// Checks that a read that needs no data (HEAD, GetObjectAttributes) may see the
    /// version: as [`Self::open_record`] (an SSE-C object needs its key), except that an
    /// SSE-KMS object's key is not opened, so its metadata stays readable while its KMS
    /// key is disabled (as in S3).
    pub(super) fn check_record_keys(
        &self,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
        place: (&str, &str),
    ) -> S3Result<()> {
        match (record.data.seal().and_then(Seal::kms_key_id), customer) {
            (Some(_), None) => Ok(()),
            _ => self.open_record(record, customer, place).map(|_| ()),
        }
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
        let kms = self.kms_for_seal(seal.as_ref())?;
        let data_key = self
            .keyring
            .open(seal.as_ref(), customer.as_ref(), kms.as_ref(), (bucket.as_str(), key.as_str()))
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
        let kms_key_id = match default.sse_algorithm.as_str() {
            ServerSideEncryption::AES256 if default.kms_master_key_id.is_some() => {
                return Err(s3_error!(InvalidArgument, "KMSMasterKeyID is only allowed with aws:kms"))
            }
            ServerSideEncryption::AES256 => None,
            ServerSideEncryption::AWS_KMS => Some(
                default
                    .kms_master_key_id
                    .as_deref()
                    .map_or(DEFAULT_KMS_KEY, crate::sse::kms_key_name)
                    .to_owned(),
            ),
            "aws:kms:dsse" => {
                return Err(errors::not_implemented("Dual-layer server-side encryption (aws:kms:dsse)"))
            }
            other => {
                return Err(s3_error!(
                    MalformedXML,
                    "The SSEAlgorithm {other:?} is not valid (use AES256 or aws:kms)"
                ))
            }
        };
        // Refused now, not on every later PUT, when the server cannot encrypt.
        self.keyring.current().map_err(crate::sse::key_error)?;
        let configuration = BucketEncryption { bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false) };
        let body = match kms_key_id {
            Some(kms_key_id) => {
                // The key must exist and be enabled now (apply checks it exists again).
                self.kms_for_write(&kms_key_id).await?;
                CommandBody::SetBucketKmsEncryption { bucket, configuration, kms_key_id }
            }
            None => CommandBody::SetBucketEncryption { bucket, configuration: Some(configuration) },
        };
        self.propose(&user, body).await?;
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
        let kms_key_id = self.projections().bucket_kms_key(&bucket).map_err(errors::projection)?;
        let algorithm = match kms_key_id {
            Some(_) => ServerSideEncryption::AWS_KMS,
            None => ServerSideEncryption::AES256,
        };
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: ServerSideEncryption::from_static(algorithm),
                kms_master_key_id: kms_key_id,
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
