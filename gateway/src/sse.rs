//! Server-side encryption: what a request asks for, the master keys, and the seals that
//! record (in the log) how an object's data key is wrapped.
//!
//! Key hierarchy: a master key (SSE-S3) or the customer's key (SSE-C) wraps a random
//! per-object data key; the data key seals the object's 64 KiB chunks (see
//! `rucket_blobs::seal`). Only wrapped data keys are stored. A customer's key is never
//! stored: a salted hash of it recognises it when it comes back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use md5::Digest as _;
use rucket_blobs::{ObjectContext, SealKey};

use crate::master_key::MasterKey;
use rucket_schemas::{Seal, SealKind};
use s3s::{s3_error, S3Result};

/// The settings that name the master key, for error messages.
pub const MASTER_KEY_SETTINGS: &str = "RUCKET_MASTER_KEY_FILE (or RUCKET_MASTER_KEY)";

/// The master keys this node holds: the current one wraps new data keys; previous ones
/// still unwrap what they wrapped until a rotation re-wraps it.
#[derive(Default)]
pub struct Keyring {
    current: Option<MasterKey>,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.as_ref().map(MasterKey::id))
            .field("previous", &self.previous.iter().map(MasterKey::id).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Reads the master key from a file (`file`) or from base64 text (`text`, from the
    /// environment), and retired keys from `previous` files. Each holds 32 bytes as base64.
    pub fn load(file: Option<&Path>, text: Option<&str>, previous: &[PathBuf]) -> anyhow::Result<Self> {
        let read = |path: &Path, setting: &str| -> anyhow::Result<MasterKey> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the master key file {} ({setting})", path.display()))?;
            MasterKey::from_base64(&text, setting).map_err(anyhow::Error::msg)
        };
        let current = match (file, text) {
            (Some(_), Some(_)) => {
                anyhow::bail!("set one of RUCKET_MASTER_KEY_FILE and RUCKET_MASTER_KEY, not both")
            }
            (Some(path), None) => Some(read(path, "RUCKET_MASTER_KEY_FILE")?),
            (None, Some(text)) => {
                Some(MasterKey::from_base64(text, "RUCKET_MASTER_KEY").map_err(anyhow::Error::msg)?)
            }
            (None, None) => None,
        };
        let previous = previous
            .iter()
            .map(|p| read(p, "RUCKET_PREVIOUS_MASTER_KEY_FILE"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if current.is_none() && !previous.is_empty() {
            anyhow::bail!("a previous master key needs a current one: set {MASTER_KEY_SETTINGS}");
        }
        Ok(Self { current, previous })
    }

    /// The key that wraps new data keys; refused with the setting's name when none is set.
    pub fn current(&self) -> S3Result<&MasterKey> {
        self.current.as_ref().ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "Server-side encryption is not available: the server has no master key (set {MASTER_KEY_SETTINGS})"
            )
        })
    }

    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(MasterKey::id)
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        self.current.iter().chain(&self.previous).find(|k| k.id() == id)
    }

    /// Whether any key other than the current one is held (a rotation is under way).
    pub fn has_previous(&self) -> bool {
        !self.previous.is_empty()
    }
}

/// A customer-provided key (SSE-C), checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    /// The base64 MD5 the client sent, echoed in responses.
    pub md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey").field("md5", &self.md5).finish_non_exhaustive()
    }
}

/// What a request asked for.
#[derive(Clone, Debug)]
pub enum Requested {
    None,
    /// `x-amz-server-side-encryption: AES256`.
    ServerKey,
    Customer(CustomerKey),
}

/// The three SSE-C headers of a request (or its copy-source variants).
#[derive(Clone, Copy, Default)]
pub struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
}

/// Parses the SSE-C headers: all three or none, AES256, a 32-byte key whose MD5 matches.
pub fn customer_key(headers: CustomerHeaders<'_>) -> S3Result<Option<CustomerKey>> {
    let CustomerHeaders { algorithm, key, key_md5 } = headers;
    if algorithm.is_none() && key.is_none() && key_md5.is_none() {
        return Ok(None);
    }
    let algorithm = algorithm.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
        )
    })?;
    if algorithm != "AES256" {
        return Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256."
        ));
    }
    let key = key.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
        )
    })?;
    let md5 = key_md5.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
        )
    })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bytes = b64.decode(key.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
        s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm.")
    })?;
    let computed = b64.encode(md5::Md5::digest(bytes));
    if computed != md5.trim() {
        return Err(s3_error!(
            InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided."
        ));
    }
    Ok(Some(CustomerKey { key: bytes, md5: computed }))
}

/// Parses what a write asks for: `x-amz-server-side-encryption` and the SSE-C headers.
pub fn requested(sse: Option<&str>, customer: CustomerHeaders<'_>) -> S3Result<Requested> {
    let customer = customer_key(customer)?;
    match (sse, customer) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        )),
        (None, Some(key)) => Ok(Requested::Customer(key)),
        (None, None) => Ok(Requested::None),
        (Some("AES256"), None) => Ok(Requested::ServerKey),
        (Some("aws:kms" | "aws:kms:dsse"), None) => {
            Err(crate::errors::not_implemented("Server-side encryption with KMS keys (SSE-KMS)"))
        }
        (Some(other), None) => Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported: {other:?} (use AES256)"
        )),
    }
}

/// SSE-C keys travel in the clear in headers, so S3 refuses them over plain HTTP. With
/// `allow_insecure`, a loopback client may (for tests).
pub fn check_transport(
    key: Option<&CustomerKey>,
    secure: bool,
    peer: Option<SocketAddr>,
    allow_insecure: bool,
) -> S3Result<()> {
    if key.is_none() || secure || (allow_insecure && peer.is_some_and(|p| p.ip().is_loopback())) {
        return Ok(());
    }
    Err(s3_error!(
        InvalidRequest,
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
    ))
}

/// An opened data key and the object it belongs to.
#[derive(Clone)]
pub struct DataKey {
    key: [u8; 32],
    bucket: String,
    object_key: String,
    context_id: String,
}

impl DataKey {
    /// The key for one blob of the object: part 0 for a single blob, else its part number.
    pub fn for_part(&self, part: u32) -> SealKey {
        SealKey { data_key: self.key, context: self.context(part) }
    }

    fn context(&self, part: u32) -> ObjectContext {
        ObjectContext {
            bucket: self.bucket.clone(),
            key: self.object_key.clone(),
            version_id: self.context_id.clone(),
            part,
        }
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("context_id", &self.context_id).finish_non_exhaustive()
    }
}

/// The salted hash that recognises a customer key.
fn customer_mac(key: &[u8; 32], salt: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest([b"rucket-sse-c-mac:".as_slice(), salt, key].concat()).to_vec()
}

/// The ETag of an SSE-C object: derived from the plaintext MD5 under the customer's key,
/// so it reveals nothing about the plaintext to whoever lacks the key.
pub fn customer_etag(key: &CustomerKey, md5: &[u8; 16]) -> String {
    hex::encode(&sha2::Sha256::digest([b"rucket-sse-c-etag:".as_slice(), &key.key, md5].concat())[..16])
}

impl Keyring {
    /// A new seal (and its data key) for an object or upload, per what the request
    /// asked for, else the bucket's default; `None` for a plain object.
    pub fn new_seal(
        &self,
        requested: &Requested,
        bucket_default: bool,
        (bucket, key, context_id): (&str, &str, &str),
    ) -> S3Result<Option<(Seal, DataKey)>> {
        let data_key = DataKey {
            key: rand::random(),
            bucket: bucket.to_owned(),
            object_key: key.to_owned(),
            context_id: context_id.to_owned(),
        };
        let context = data_key.context(0);
        let (kind, wrapped_key) = match requested {
            Requested::None if !bucket_default => return Ok(None),
            Requested::None | Requested::ServerKey => {
                let master = self.current()?;
                (SealKind::MasterKey { key_id: master.id().to_owned() }, master.wrap(&data_key.key, &context))
            }
            Requested::Customer(customer) => {
                let salt: [u8; 16] = rand::random();
                let mac = customer_mac(&customer.key, &salt);
                let wrapped = MasterKey::new(&customer.key).wrap(&data_key.key, &context);
                (SealKind::CustomerKey { salt: salt.to_vec(), mac }, wrapped)
            }
        };
        Ok(Some((Seal { kind, wrapped_key, context_id: context_id.to_owned() }, data_key)))
    }

    /// Opens the data key of sealed data in `bucket`/`key` with the customer key the
    /// request brought (needed for SSE-C, refused otherwise). `None` for plain data, which
    /// refuses a customer key too, as S3 does.
    pub fn open(
        &self,
        seal: Option<&Seal>,
        customer: Option<&CustomerKey>,
        (bucket, key): (&str, &str),
    ) -> S3Result<Option<DataKey>> {
        let Some(seal) = seal else {
            return match customer {
                Some(_) => Err(s3_error!(
                    InvalidRequest,
                    "The encryption parameters are not applicable to this object."
                )),
                None => Ok(None),
            };
        };
        let mut data_key = DataKey {
            key: [0; 32],
            bucket: bucket.to_owned(),
            object_key: key.to_owned(),
            context_id: seal.context_id.clone(),
        };
        let context = data_key.context(0);
        data_key.key = match (&seal.kind, customer) {
            (SealKind::MasterKey { .. }, Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The encryption parameters are not applicable to this object."
                ))
            }
            (SealKind::MasterKey { key_id }, None) => {
                let master = self.find(key_id).ok_or_else(|| {
                    tracing::error!(key_id, "an object is sealed under a master key this node does not hold");
                    s3_error!(
                        InternalError,
                        "The master key {key_id} that encrypted this object is not configured"
                    )
                })?;
                master
                    .unwrap(&seal.wrapped_key, &context)
                    .map_err(|e| crate::errors::internal("unwrapping a data key", e))?
            }
            (SealKind::CustomerKey { .. }, None) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
                ))
            }
            (SealKind::CustomerKey { salt, mac }, Some(customer)) => {
                let denied = || s3_error!(AccessDenied, "The provided customer key does not match this object");
                if customer_mac(&customer.key, salt) != *mac {
                    return Err(denied());
                }
                MasterKey::new(&customer.key).unwrap(&seal.wrapped_key, &context).map_err(|_| denied())?
            }
        };
        Ok(Some(data_key))
    }

    /// The seal re-wrapped under the current master key, for a rotation; `None` when it
    /// is not a master key seal under a previous key.
    pub fn rewrap(&self, seal: &Seal, (bucket, key): (&str, &str)) -> anyhow::Result<Option<Seal>> {
        let (SealKind::MasterKey { key_id }, Some(current)) = (&seal.kind, &self.current) else {
            return Ok(None);
        };
        if key_id == current.id() {
            return Ok(None);
        }
        let old = self
            .find(key_id)
            .with_context(|| format!("master key {key_id} is not among the configured keys"))?;
        let context = ObjectContext {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: seal.context_id.clone(),
            part: 0,
        };
        let data_key = old.unwrap(&seal.wrapped_key, &context)?;
        Ok(Some(Seal {
            kind: SealKind::MasterKey { key_id: current.id().to_owned() },
            wrapped_key: current.wrap(&data_key, &context),
            context_id: seal.context_id.clone(),
        }))
    }
}

impl Keyring {
    /// Seals an access key's secret under the current master key, bound to the key id.
    pub fn seal_secret(&self, access_key_id: &str, secret: &str) -> S3Result<rucket_schemas::SealedSecret> {
        let master = self.current()?;
        Ok(rucket_schemas::SealedSecret {
            key_id: master.id().to_owned(),
            sealed: master.seal_secret(secret.as_bytes(), access_key_id),
        })
    }

    /// Opens an access key's secret with whichever configured master key sealed it.
    pub fn open_secret(
        &self,
        access_key_id: &str,
        secret: &rucket_schemas::SealedSecret,
    ) -> anyhow::Result<String> {
        let master = self.find(&secret.key_id).with_context(|| {
            format!("master key {} (which sealed this secret) is not configured", secret.key_id)
        })?;
        Ok(String::from_utf8(master.open_secret(&secret.sealed, access_key_id)?)?)
    }

    /// The secret re-sealed under the current master key, for a rotation; `None` when it
    /// already is.
    pub fn reseal_secret(
        &self,
        access_key_id: &str,
        secret: &rucket_schemas::SealedSecret,
    ) -> anyhow::Result<Option<rucket_schemas::SealedSecret>> {
        if self.current_id().is_none_or(|id| id == secret.key_id) {
            return Ok(None);
        }
        let plain = self.open_secret(access_key_id, secret)?;
        Ok(Some(self.seal_secret(access_key_id, &plain).map_err(|e| anyhow::anyhow!("{e:?}"))?))
    }
}

/// Cases per fuzz property: `default` on every test run, or `RUCKET_FUZZ_CASES` for a
/// longer campaign.
#[cfg(test)]
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("RUCKET_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The response headers that say how an object is encrypted.
#[derive(Default)]
pub struct Echo {
    pub server_side_encryption: Option<s3s::dto::ServerSideEncryption>,
    pub sse_customer_algorithm: Option<String>,
    pub sse_customer_key_md5: Option<String>,
}

/// What to echo for sealed data opened with `customer` (SSE-C; without it, as on
/// CompleteMultipartUpload, only the algorithm is echoed).
pub fn echo(seal: Option<&Seal>, customer: Option<&CustomerKey>) -> Echo {
    match (seal, customer) {
        (Some(seal), customer) if seal.is_customer_key() => Echo {
            sse_customer_algorithm: Some("AES256".into()),
            sse_customer_key_md5: customer.map(|c| c.md5.clone()),
            ..Echo::default()
        },
        (Some(_), _) => Echo {
            server_side_encryption: Some(s3s::dto::ServerSideEncryption::from_static(
                s3s::dto::ServerSideEncryption::AES256,
            )),
            ..Echo::default()
        },
        (None, _) => Echo::default(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn headers_for(key: &[u8]) -> (String, String) {
        let b64 = base64::engine::general_purpose::STANDARD;
        (b64.encode(key), b64.encode(md5::Md5::digest(key)))
    }

    #[test]
    fn customer_keys_are_checked_header_by_header() {
        let (key, md5) = headers_for(&[7; 32]);
        let ok = CustomerHeaders { algorithm: Some("AES256"), key: Some(&key), key_md5: Some(&md5) };
        assert!(customer_key(ok).unwrap().is_some());
        assert!(customer_key(CustomerHeaders::default()).unwrap().is_none());
        let code = |h: CustomerHeaders<'_>| customer_key(h).unwrap_err().code().as_str().to_owned();
        assert_eq!(
            code(CustomerHeaders { algorithm: Some("AES128"), ..ok }),
            "InvalidEncryptionAlgorithmError"
        );
        assert_eq!(code(CustomerHeaders { key: None, ..ok }), "InvalidArgument");
        assert_eq!(code(CustomerHeaders { key_md5: None, ..ok }), "InvalidArgument");
        assert_eq!(code(CustomerHeaders { algorithm: None, ..ok }), "InvalidArgument");
        let (short, short_md5) = headers_for(&[7; 16]);
        assert_eq!(
            code(CustomerHeaders { key: Some(&short), key_md5: Some(&short_md5), ..ok }),
            "InvalidArgument"
        );
        let (_, other_md5) = headers_for(&[8; 32]);
        assert_eq!(code(CustomerHeaders { key_md5: Some(&other_md5), ..ok }), "InvalidArgument");
        let both = requested(Some("AES256"), ok).unwrap_err();
        assert_eq!(both.code().as_str(), "InvalidArgument");
        assert_eq!(
            requested(Some("aws:kms"), CustomerHeaders::default()).unwrap_err().code().as_str(),
            "NotImplemented"
        );
        assert_eq!(
            requested(Some("AES128"), CustomerHeaders::default()).unwrap_err().code().as_str(),
            "InvalidArgument"
        );
    }

    #[test]
    fn customer_keys_need_a_secure_or_allowed_loopback_connection() {
        let (key, md5) = headers_for(&[7; 32]);
        let ck =
            customer_key(CustomerHeaders { algorithm: Some("AES256"), key: Some(&key), key_md5: Some(&md5) })
                .unwrap();
        let loopback: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let remote: SocketAddr = "10.0.0.9:9000".parse().unwrap();
        assert!(check_transport(ck.as_ref(), false, Some(loopback), false).is_err());
        assert!(check_transport(ck.as_ref(), false, Some(loopback), true).is_ok());
        assert!(check_transport(ck.as_ref(), false, Some(remote), true).is_err());
        assert!(check_transport(ck.as_ref(), true, Some(remote), false).is_ok());
        assert!(check_transport(None, false, Some(remote), false).is_ok());
    }

    #[test]
    fn seals_open_only_with_their_key_and_rotate_to_the_current_master() {
        let old = Keyring { current: Some(MasterKey::new(&[1; 32])), previous: vec![] };
        let place = ("b", "k");
        let (seal, data_key) = old.new_seal(&Requested::ServerKey, false, ("b", "k", "v1")).unwrap().unwrap();
        let opened = old.open(Some(&seal), None, place).unwrap().unwrap();
        assert_eq!(opened.key, data_key.key);
        assert!(old.open(Some(&seal), None, ("b", "other")).is_err(), "bound to its object");

        let rotated =
            Keyring { current: Some(MasterKey::new(&[2; 32])), previous: vec![MasterKey::new(&[1; 32])] };
        assert_eq!(rotated.open(Some(&seal), None, place).unwrap().unwrap().key, data_key.key);
        let new_seal = rotated.rewrap(&seal, place).unwrap().unwrap();
        assert!(rotated.rewrap(&new_seal, place).unwrap().is_none(), "already current");
        let only_new = Keyring { current: Some(MasterKey::new(&[2; 32])), previous: vec![] };
        assert_eq!(only_new.open(Some(&new_seal), None, place).unwrap().unwrap().key, data_key.key);
        assert_eq!(only_new.open(Some(&seal), None, place).unwrap_err().code().as_str(), "InternalError");

        let none = Keyring::default();
        let refused = none.new_seal(&Requested::ServerKey, false, ("b", "k", "v")).unwrap_err();
        assert!(refused.message().unwrap_or_default().contains("RUCKET_MASTER_KEY_FILE"), "{refused:?}");
        assert!(none.new_seal(&Requested::None, false, ("b", "k", "v")).unwrap().is_none());

        let (key, md5) = headers_for(&[9; 32]);
        let customer =
            customer_key(CustomerHeaders { algorithm: Some("AES256"), key: Some(&key), key_md5: Some(&md5) })
                .unwrap()
                .unwrap();
        let (seal, data_key) =
            none.new_seal(&Requested::Customer(customer.clone()), true, ("b", "k", "v2")).unwrap().unwrap();
        assert!(seal.is_customer_key());
        assert_eq!(none.open(Some(&seal), Some(&customer), place).unwrap().unwrap().key, data_key.key);
        assert_eq!(none.open(Some(&seal), None, place).unwrap_err().code().as_str(), "InvalidRequest");
        let (other, other_md5) = headers_for(&[10; 32]);
        let wrong = customer_key(CustomerHeaders {
            algorithm: Some("AES256"),
            key: Some(&other),
            key_md5: Some(&other_md5),
        })
        .unwrap();
        assert_eq!(
            none.open(Some(&seal), wrong.as_ref(), place).unwrap_err().code().as_str(),
            "AccessDenied"
        );
        assert_eq!(none.open(None, Some(&customer), place).unwrap_err().code().as_str(), "InvalidRequest");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: fuzz_cases(2048), ..ProptestConfig::default() })]

        /// The SSE header parser never panics and accepts exactly the well-formed
        /// combinations, whatever the header values.
        #[test]
        fn the_header_parser_takes_anything(
            sse in proptest::option::of(prop_oneof![Just("AES256".to_owned()), Just("aws:kms".to_owned()), ".{0,12}"]),
            algorithm in proptest::option::of(prop_oneof![Just("AES256".to_owned()), ".{0,8}"]),
            key_bytes in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            raw_key in proptest::option::of(".{0,48}"),
            md5_matches in any::<bool>(),
        ) {
            let (key, md5) = match (&key_bytes, &raw_key) {
                (Some(bytes), _) => {
                    let (k, m) = headers_for(bytes);
                    (Some(k), Some(if md5_matches { m } else { "AAAA".to_owned() }))
                }
                (None, Some(raw)) => (Some(raw.clone()), Some(raw.clone())),
                (None, None) => (None, None),
            };
            let headers = CustomerHeaders { algorithm: algorithm.as_deref(), key: key.as_deref(), key_md5: md5.as_deref() };
            let result = requested(sse.as_deref(), headers);
            let well_formed_customer = algorithm.as_deref() == Some("AES256")
                && key_bytes.as_ref().is_some_and(|k| k.len() == 32)
                && md5_matches;
            match &result {
                Ok(Requested::Customer(_)) => prop_assert!(well_formed_customer && sse.is_none()),
                Ok(Requested::ServerKey) => prop_assert!(sse.as_deref() == Some("AES256") && key.is_none() && algorithm.is_none()),
                Ok(Requested::None) => prop_assert!(sse.is_none() && key.is_none() && algorithm.is_none()),
                Err(e) => prop_assert!(e.status_code().is_some_and(|s| s.is_client_error() || s.as_u16() == 501)),
            }
        }
    }
}
