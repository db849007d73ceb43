//! The key hierarchy of encryption at rest: a master key (SSE-S3), the customer's key
//! (SSE-C) or a KMS key of Rucket's key store (SSE-KMS) wraps a random per-object data
//! key; the data key seals the object's 64 KiB chunks (see [`crate::seal`]). Only wrapped
//! data keys are stored. A customer's key is never stored: a salted hash of it recognises
//! it when it comes back. A KMS key's material is stored sealed by the master key.

use std::path::{Path, PathBuf};

use rucket_schemas::{Seal, SealKind, SealedSecret};
use sha2::Digest as _;

use crate::error::KeyError;
use crate::master_key::MasterKey;
use crate::seal::{ObjectContext, SealKey};

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

/// A customer-provided key (SSE-C), already checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    /// The base64 MD5 the client sent, echoed in responses.
    pub md5: String,
}

impl CustomerKey {
    pub fn new(key: [u8; 32], md5: String) -> Self {
        Self { key, md5 }
    }
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey").field("md5", &self.md5).finish_non_exhaustive()
    }
}

/// What a write asked for.
#[derive(Clone, Debug)]
pub enum Requested {
    None,
    /// `x-amz-server-side-encryption: AES256`.
    ServerKey,
    Customer(CustomerKey),
    /// `x-amz-server-side-encryption: aws:kms`, with the key id the request named (`None`:
    /// the bucket's default KMS key, else the store's default key).
    Kms(Option<String>),
}

/// An opened KMS key: its id and material.
#[derive(Clone)]
pub struct KmsKey {
    pub id: String,
    material: [u8; 32],
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What seals a new object.
#[derive(Clone, Copy, Debug)]
pub enum SealWith<'a> {
    MasterKey,
    Customer(&'a CustomerKey),
    Kms(&'a KmsKey),
}

/// The label a KMS key's material is sealed under (distinct from every access key id).
fn kms_label(key_id: &str) -> String {
    format!("kms-key:{key_id}")
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
    /// A keyring of the given keys, for tests and tools.
    pub fn new(current: Option<MasterKey>, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// Reads the master key from a file (`file`) or from base64 text (`text`, from the
    /// environment), and retired keys from `previous` files. Each holds 32 bytes as base64.
    pub fn load(file: Option<&Path>, text: Option<&str>, previous: &[PathBuf]) -> Result<Self, KeyError> {
        let read = |path: &Path, setting: &'static str| -> Result<MasterKey, KeyError> {
            let text = std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
                path: path.to_owned(),
                setting,
                source,
            })?;
            MasterKey::from_base64(&text, setting)
        };
        let current = match (file, text) {
            (Some(_), Some(_)) => return Err(KeyError::BothSettings),
            (Some(path), None) => Some(read(path, "RUCKET_MASTER_KEY_FILE")?),
            (None, Some(text)) => Some(MasterKey::from_base64(text, "RUCKET_MASTER_KEY")?),
            (None, None) => None,
        };
        let previous = previous
            .iter()
            .map(|p| read(p, "RUCKET_PREVIOUS_MASTER_KEY_FILE"))
            .collect::<Result<Vec<_>, _>>()?;
        if current.is_none() && !previous.is_empty() {
            return Err(KeyError::PreviousWithoutCurrent);
        }
        Ok(Self { current, previous })
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> Result<&MasterKey, KeyError> {
        self.current.as_ref().ok_or(KeyError::NoMasterKey)
    }

    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(MasterKey::id)
    }

    fn find(&self, id: &str) -> Result<&MasterKey, KeyError> {
        self.current
            .iter()
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or_else(|| KeyError::MasterKeyMissing { key_id: id.to_owned() })
    }

    /// Whether any key other than the current one is held (a rotation is under way).
    pub fn has_previous(&self) -> bool {
        !self.previous.is_empty()
    }

    /// A new seal (and its data key) for an object or upload; `None` for a plain object.
    pub fn new_seal(
        &self,
        with: Option<SealWith<'_>>,
        (bucket, key, context_id): (&str, &str, &str),
    ) -> Result<Option<(Seal, DataKey)>, KeyError> {
        let data_key = DataKey {
            key: rand::random(),
            bucket: bucket.to_owned(),
            object_key: key.to_owned(),
            context_id: context_id.to_owned(),
        };
        let context = data_key.context(0);
        let (kind, wrapped_key) = match with {
            None => return Ok(None),
            Some(SealWith::MasterKey) => {
                let master = self.current()?;
                (SealKind::MasterKey { key_id: master.id().to_owned() }, master.wrap(&data_key.key, &context))
            }
            Some(SealWith::Customer(customer)) => {
                let salt: [u8; 16] = rand::random();
                let mac = customer_mac(&customer.key, &salt);
                let wrapped = MasterKey::new(&customer.key).wrap(&data_key.key, &context);
                (SealKind::CustomerKey { salt: salt.to_vec(), mac }, wrapped)
            }
            Some(SealWith::Kms(kms)) => {
                let wrapped = MasterKey::new(&kms.material).wrap(&data_key.key, &context);
                (SealKind::KmsKey { key_id: kms.id.clone() }, wrapped)
            }
        };
        Ok(Some((Seal { kind, wrapped_key, context_id: context_id.to_owned() }, data_key)))
    }

    /// Opens the data key of sealed data in `bucket`/`key` with the customer key the
    /// request brought (needed for SSE-C, refused otherwise) or the opened KMS key the
    /// seal names (SSE-KMS). `None` for plain data, which refuses a customer key too, as
    /// S3 does.
    pub fn open(
        &self,
        seal: Option<&Seal>,
        customer: Option<&CustomerKey>,
        kms: Option<&KmsKey>,
        (bucket, key): (&str, &str),
    ) -> Result<Option<DataKey>, KeyError> {
        let Some(seal) = seal else {
            return match customer {
                Some(_) => Err(KeyError::CustomerKeyNotApplicable),
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
            (SealKind::MasterKey { .. } | SealKind::KmsKey { .. }, Some(_)) => {
                return Err(KeyError::CustomerKeyNotApplicable)
            }
            (SealKind::KmsKey { key_id }, None) => match kms {
                Some(kms) if kms.id == *key_id => {
                    MasterKey::new(&kms.material).unwrap(&seal.wrapped_key, &context)?
                }
                _ => return Err(KeyError::KmsKeyNotProvided { key_id: key_id.clone() }),
            },
            (SealKind::MasterKey { key_id }, None) => {
                let master = self.find(key_id).inspect_err(|_| {
                    tracing::error!(key_id, "an object is sealed under a master key this node does not hold");
                })?;
                master.unwrap(&seal.wrapped_key, &context)?
            }
            (SealKind::CustomerKey { .. }, None) => return Err(KeyError::CustomerKeyRequired),
            (SealKind::CustomerKey { salt, mac }, Some(customer)) => {
                if customer_mac(&customer.key, salt) != *mac {
                    return Err(KeyError::CustomerKeyMismatch);
                }
                MasterKey::new(&customer.key)
                    .unwrap(&seal.wrapped_key, &context)
                    .map_err(|_| KeyError::CustomerKeyMismatch)?
            }
        };
        Ok(Some(data_key))
    }

    /// The seal re-wrapped under the current master key, for a rotation; `None` when it
    /// is not a master key seal under a previous key.
    pub fn rewrap(&self, seal: &Seal, (bucket, key): (&str, &str)) -> Result<Option<Seal>, KeyError> {
        let (SealKind::MasterKey { key_id }, Some(current)) = (&seal.kind, &self.current) else {
            return Ok(None);
        };
        if key_id == current.id() {
            return Ok(None);
        }
        let old = self.find(key_id)?;
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

    /// New material for KMS key `key_id`, sealed under the current master key.
    pub fn new_kms_material(&self, key_id: &str) -> Result<SealedSecret, KeyError> {
        let master = self.current()?;
        let material: [u8; 32] = rand::random();
        Ok(SealedSecret {
            key_id: master.id().to_owned(),
            sealed: master.seal_secret(&material, &kms_label(key_id)),
        })
    }

    /// Opens KMS key `key_id`'s material with whichever configured master key sealed it.
    pub fn open_kms(&self, key_id: &str, material: &SealedSecret) -> Result<KmsKey, KeyError> {
        let master = self.find(&material.key_id)?;
        let bytes = master.open_secret(&material.sealed, &kms_label(key_id))?;
        let material =
            <[u8; 32]>::try_from(bytes).map_err(|_| KeyError::Unsealable { what: "KMS key material" })?;
        Ok(KmsKey { id: key_id.to_owned(), material })
    }

    /// A KMS key's material re-sealed under the current master key, for a rotation;
    /// `None` when it already is.
    pub fn reseal_kms(
        &self,
        key_id: &str,
        material: &SealedSecret,
    ) -> Result<Option<SealedSecret>, KeyError> {
        let Some(current) = &self.current else { return Ok(None) };
        if current.id() == material.key_id {
            return Ok(None);
        }
        let opened = self.open_kms(key_id, material)?;
        Ok(Some(SealedSecret {
            key_id: current.id().to_owned(),
            sealed: current.seal_secret(&opened.material, &kms_label(key_id)),
        }))
    }

    /// Seals an access key's secret under the current master key, bound to the key id.
    pub fn seal_secret(&self, access_key_id: &str, secret: &str) -> Result<SealedSecret, KeyError> {
        let master = self.current()?;
        Ok(SealedSecret {
            key_id: master.id().to_owned(),
            sealed: master.seal_secret(secret.as_bytes(), access_key_id),
        })
    }

    /// Opens an access key's secret with whichever configured master key sealed it.
    pub fn open_secret(&self, access_key_id: &str, secret: &SealedSecret) -> Result<String, KeyError> {
        let master = self.find(&secret.key_id)?;
        String::from_utf8(master.open_secret(&secret.sealed, access_key_id)?)
            .map_err(|_| KeyError::SecretNotText)
    }

    /// The secret re-sealed under the current master key, for a rotation; `None` when it
    /// already is.
    pub fn reseal_secret(
        &self,
        access_key_id: &str,
        secret: &SealedSecret,
    ) -> Result<Option<SealedSecret>, KeyError> {
        if self.current_id().is_none_or(|id| id == secret.key_id) {
            return Ok(None);
        }
        let plain = self.open_secret(access_key_id, secret)?;
        Ok(Some(self.seal_secret(access_key_id, &plain)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(byte: u8) -> CustomerKey {
        CustomerKey::new([byte; 32], String::new())
    }

    #[test]
    fn seals_open_only_with_their_key_and_rotate_to_the_current_master() {
        let old = Keyring::new(Some(MasterKey::new(&[1; 32])), vec![]);
        let place = ("b", "k");
        let (seal, data_key) = old.new_seal(Some(SealWith::MasterKey), ("b", "k", "v1")).unwrap().unwrap();
        let opened = old.open(Some(&seal), None, None, place).unwrap().unwrap();
        assert_eq!(opened.key, data_key.key);
        assert!(matches!(
            old.open(Some(&seal), None, None, ("b", "other")),
            Err(KeyError::Unsealable { .. })
        ));

        let rotated = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![MasterKey::new(&[1; 32])]);
        assert_eq!(rotated.open(Some(&seal), None, None, place).unwrap().unwrap().key, data_key.key);
        let new_seal = rotated.rewrap(&seal, place).unwrap().unwrap();
        assert!(rotated.rewrap(&new_seal, place).unwrap().is_none(), "already current");
        let only_new = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![]);
        assert_eq!(only_new.open(Some(&new_seal), None, None, place).unwrap().unwrap().key, data_key.key);
        assert!(matches!(
            only_new.open(Some(&seal), None, None, place),
            Err(KeyError::MasterKeyMissing { .. })
        ));

        let none = Keyring::default();
        assert!(matches!(
            none.new_seal(Some(SealWith::MasterKey), ("b", "k", "v")),
            Err(KeyError::NoMasterKey)
        ));
        assert!(none.new_seal(None, ("b", "k", "v")).unwrap().is_none());

        let (seal, data_key) =
            none.new_seal(Some(SealWith::Customer(&customer(9))), ("b", "k", "v2")).unwrap().unwrap();
        assert!(seal.is_customer_key());
        assert_eq!(
            none.open(Some(&seal), Some(&customer(9)), None, place).unwrap().unwrap().key,
            data_key.key
        );
        assert!(matches!(none.open(Some(&seal), None, None, place), Err(KeyError::CustomerKeyRequired)));
        assert!(matches!(
            none.open(Some(&seal), Some(&customer(10)), None, place),
            Err(KeyError::CustomerKeyMismatch)
        ));
        assert!(matches!(
            none.open(None, Some(&customer(9)), None, place),
            Err(KeyError::CustomerKeyNotApplicable)
        ));
    }

    #[test]
    fn kms_keys_seal_under_their_material_and_reseal_with_the_master() {
        let place = ("b", "k");
        let old = Keyring::new(Some(MasterKey::new(&[1; 32])), vec![]);
        let material = old.new_kms_material("app").unwrap();
        let kms = old.open_kms("app", &material).unwrap();
        assert!(
            matches!(old.open_kms("other", &material), Err(KeyError::Unsealable { .. })),
            "bound to its key id"
        );
        let (seal, data_key) = old.new_seal(Some(SealWith::Kms(&kms)), ("b", "k", "v1")).unwrap().unwrap();
        assert_eq!(seal.kms_key_id(), Some("app"));
        assert_eq!(old.open(Some(&seal), None, Some(&kms), place).unwrap().unwrap().key, data_key.key);
        assert!(matches!(old.open(Some(&seal), None, None, place), Err(KeyError::KmsKeyNotProvided { .. })));
        let other = old.open_kms("other", &old.new_kms_material("other").unwrap()).unwrap();
        assert!(matches!(
            old.open(Some(&seal), None, Some(&other), place),
            Err(KeyError::KmsKeyNotProvided { .. })
        ));
        assert!(matches!(
            old.open(Some(&seal), Some(&customer(9)), Some(&kms), place),
            Err(KeyError::CustomerKeyNotApplicable)
        ));
        assert!(old.rewrap(&seal, place).unwrap().is_none(), "a KMS seal does not name the master key");

        assert!(old.reseal_kms("app", &material).unwrap().is_none(), "already current");
        let rotated = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![MasterKey::new(&[1; 32])]);
        let resealed = rotated.reseal_kms("app", &material).unwrap().unwrap();
        let only_new = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![]);
        let reopened = only_new.open_kms("app", &resealed).unwrap();
        assert_eq!(
            only_new.open(Some(&seal), None, Some(&reopened), place).unwrap().unwrap().key,
            data_key.key
        );
        assert!(matches!(only_new.open_kms("app", &material), Err(KeyError::MasterKeyMissing { .. })));
    }

    #[test]
    fn secrets_reseal_under_the_current_key() {
        let old = Keyring::new(Some(MasterKey::new(&[1; 32])), vec![]);
        let sealed = old.seal_secret("AK1", "s3cret").unwrap();
        assert_eq!(old.open_secret("AK1", &sealed).unwrap(), "s3cret");
        assert!(
            matches!(old.open_secret("AK2", &sealed), Err(KeyError::Unsealable { .. })),
            "bound to its key id"
        );
        assert!(old.reseal_secret("AK1", &sealed).unwrap().is_none());
        let rotated = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![MasterKey::new(&[1; 32])]);
        let resealed = rotated.reseal_secret("AK1", &sealed).unwrap().unwrap();
        let only_new = Keyring::new(Some(MasterKey::new(&[2; 32])), vec![]);
        assert_eq!(only_new.open_secret("AK1", &resealed).unwrap(), "s3cret");
        assert!(matches!(only_new.open_secret("AK1", &sealed), Err(KeyError::MasterKeyMissing { .. })));
    }
}
