//! Server-side encryption at the HTTP edge: what a request asks for (the SSE and SSE-C
//! headers), whether it may ask over this connection, what a response echoes, and the
//! one mapping from the key hierarchy's errors ([`rucket_blobs::KeyError`]) to S3 errors.
//! The keys themselves live in `rucket_blobs` ([`Keyring`]).

use std::net::SocketAddr;

use base64::Engine as _;
use md5::Digest as _;
pub use rucket_blobs::{customer_etag, CustomerKey, DataKey, Keyring, KmsKey, Requested, SealWith};
use rucket_blobs::{KeyError, MASTER_KEY_SETTINGS};
use rucket_schemas::Seal;
use s3s::{s3_error, S3Error, S3Result};

/// The S3 error a client gets for a failure of the key hierarchy.
pub fn key_error(e: KeyError) -> S3Error {
    match e {
        KeyError::NoMasterKey => s3_error!(
            InvalidRequest,
            "Server-side encryption is not available: the server has no master key (set {MASTER_KEY_SETTINGS})"
        ),
        KeyError::CustomerKeyNotApplicable => {
            s3_error!(InvalidRequest, "The encryption parameters are not applicable to this object.")
        }
        KeyError::CustomerKeyRequired => s3_error!(
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        ),
        KeyError::CustomerKeyMismatch => {
            s3_error!(AccessDenied, "The provided customer key does not match this object")
        }
        KeyError::MasterKeyMissing { key_id } => {
            s3_error!(InternalError, "The master key {key_id} that encrypted this object is not configured")
        }
        KeyError::KmsKeyNotProvided { key_id } => {
            s3_error!(InternalError, "The KMS key {key_id} that encrypted this object could not be opened")
        }
        other => crate::errors::internal("opening a sealed key", other),
    }
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
    Ok(Some(CustomerKey::new(bytes, computed)))
}

/// The key store's id for a KMS key as a client names it: the id itself, `alias/<id>`,
/// or an ARN ending in `:key/<id>` or `:alias/<id>`.
pub fn kms_key_name(given: &str) -> &str {
    let given = given.trim();
    let name = match given.strip_prefix("arn:") {
        Some(arn) => {
            arn.split_once(":key/").or_else(|| arn.split_once(":alias/")).map_or(given, |(_, id)| id)
        }
        None => given,
    };
    name.strip_prefix("alias/").unwrap_or(name)
}

/// Parses what a write asks for: `x-amz-server-side-encryption`, the KMS key id and the
/// SSE-C headers.
pub fn requested(
    sse: Option<&str>,
    kms_key_id: Option<&str>,
    customer: CustomerHeaders<'_>,
) -> S3Result<Requested> {
    let customer = customer_key(customer)?;
    if kms_key_id.is_some() && !matches!(sse, Some("aws:kms" | "aws:kms:dsse")) {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        ));
    }
    match (sse, customer) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        )),
        (None, Some(key)) => Ok(Requested::Customer(key)),
        (None, None) => Ok(Requested::None),
        (Some("AES256"), None) => Ok(Requested::ServerKey),
        (Some("aws:kms"), None) => Ok(Requested::Kms(kms_key_id.map(|id| kms_key_name(id).to_owned()))),
        (Some("aws:kms:dsse"), None) => {
            Err(crate::errors::not_implemented("Dual-layer server-side encryption (aws:kms:dsse)"))
        }
        (Some(other), None) => Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported: {other:?} (use AES256 or aws:kms)"
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
    pub ssekms_key_id: Option<String>,
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
        (Some(seal), _) if seal.kms_key_id().is_some() => Echo {
            server_side_encryption: Some(s3s::dto::ServerSideEncryption::from_static(
                s3s::dto::ServerSideEncryption::AWS_KMS,
            )),
            ssekms_key_id: seal.kms_key_id().map(str::to_owned),
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
        let both = requested(Some("AES256"), None, ok).unwrap_err();
        assert_eq!(both.code().as_str(), "InvalidArgument");
        let none = CustomerHeaders::default();
        assert!(matches!(requested(Some("aws:kms"), None, none), Ok(Requested::Kms(None))));
        assert!(matches!(
            requested(Some("aws:kms"), Some("arn:aws:kms:us-east-1:123:key/app-1"), none),
            Ok(Requested::Kms(Some(id))) if id == "app-1"
        ));
        let code = |sse, kms| requested(sse, kms, none).unwrap_err().code().as_str().to_owned();
        assert_eq!(code(Some("aws:kms:dsse"), None), "NotImplemented");
        assert_eq!(code(Some("AES256"), Some("app-1")), "InvalidArgument", "a KMS key id needs aws:kms");
        assert_eq!(code(None, Some("app-1")), "InvalidArgument");
        assert_eq!(code(Some("AES128"), None), "InvalidArgument");
        assert_eq!(requested(Some("aws:kms"), None, ok).unwrap_err().code().as_str(), "InvalidArgument");
    }

    #[test]
    fn kms_key_names_come_as_ids_aliases_or_arns() {
        assert_eq!(kms_key_name("app-1"), "app-1");
        assert_eq!(kms_key_name("alias/app-1"), "app-1");
        assert_eq!(kms_key_name("arn:aws:kms:us-east-1:123456789012:key/app-1"), "app-1");
        assert_eq!(kms_key_name("arn:aws:kms:us-east-1:123456789012:alias/aws/s3"), "aws/s3");
        assert_eq!(kms_key_name("arn:something-else"), "arn:something-else");
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
    fn key_hierarchy_failures_answer_with_s3_codes() {
        use rucket_blobs::MasterKey;
        let old = Keyring::new(Some(MasterKey::new(&[1; 32])), vec![]);
        let place = ("b", "k");
        let (seal, _) = old.new_seal(Some(SealWith::MasterKey), ("b", "k", "v1")).unwrap().unwrap();
        let code = |r: Result<Option<DataKey>, KeyError>| {
            r.map_err(key_error).unwrap_err().code().as_str().to_owned()
        };
        assert_eq!(
            code(old.open(Some(&seal), None, None, ("b", "other"))),
            "InternalError",
            "bound to its object"
        );
        let only_new = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![]);
        assert_eq!(code(only_new.open(Some(&seal), None, None, place)), "InternalError");

        let none = Keyring::default();
        let refused =
            none.new_seal(Some(SealWith::MasterKey), ("b", "k", "v")).map_err(key_error).unwrap_err();
        assert!(refused.message().unwrap_or_default().contains("RUCKET_MASTER_KEY_FILE"), "{refused:?}");

        let (key, md5) = headers_for(&[9; 32]);
        let customer =
            customer_key(CustomerHeaders { algorithm: Some("AES256"), key: Some(&key), key_md5: Some(&md5) })
                .unwrap()
                .unwrap();
        let (seal, _) =
            none.new_seal(Some(SealWith::Customer(&customer)), ("b", "k", "v2")).unwrap().unwrap();
        assert!(none.open(Some(&seal), Some(&customer), None, place).is_ok());
        assert_eq!(code(none.open(Some(&seal), None, None, place)), "InvalidRequest");
        let (other, other_md5) = headers_for(&[10; 32]);
        let wrong = customer_key(CustomerHeaders {
            algorithm: Some("AES256"),
            key: Some(&other),
            key_md5: Some(&other_md5),
        })
        .unwrap();
        assert_eq!(code(none.open(Some(&seal), wrong.as_ref(), None, place)), "AccessDenied");
        assert_eq!(code(none.open(None, Some(&customer), None, place)), "InvalidRequest");
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
            let result = requested(sse.as_deref(), None, headers);
            let well_formed_customer = algorithm.as_deref() == Some("AES256")
                && key_bytes.as_ref().is_some_and(|k| k.len() == 32)
                && md5_matches;
            match &result {
                Ok(Requested::Customer(_)) => prop_assert!(well_formed_customer && sse.is_none()),
                Ok(Requested::ServerKey) => prop_assert!(sse.as_deref() == Some("AES256") && key.is_none() && algorithm.is_none()),
                Ok(Requested::None) => prop_assert!(sse.is_none() && key.is_none() && algorithm.is_none()),
                Ok(Requested::Kms(None)) => prop_assert!(sse.as_deref() == Some("aws:kms") && key.is_none() && algorithm.is_none()),
                Ok(Requested::Kms(Some(_))) => prop_assert!(false, "no KMS key id was given"),
                Err(e) => prop_assert!(e.status_code().is_some_and(|s| s.is_client_error() || s.as_u16() == 501)),
            }
        }
    }
}
