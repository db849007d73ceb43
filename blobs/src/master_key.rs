//! The master key: the top of the key hierarchy of encryption at rest. It wraps the
//! per-object data keys (which [`crate::seal`] uses on chunks) and seals access key
//! secrets. Its id (a hash of it) is recorded beside everything it wraps, so a rotation
//! can find and re-wrap it without touching object bytes.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use sha2::Digest as _;

use crate::error::KeyError;
use crate::seal::ObjectContext;

/// The key that wraps data keys. Never stored in the data dir.
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl MasterKey {
    /// Reads a master key given as base64 of 32 bytes; `setting` names where it came from
    /// for the error message.
    pub fn from_base64(text: &str, setting: &'static str) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64 { setting, reason: e.to_string() })?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError::WrongLength { setting, len: b.len() })?;
        Ok(Self::new(&key))
    }

    pub fn new(key: &[u8; 32]) -> Self {
        let id = hex::encode(&sha2::Sha256::digest([b"rucket-master-key-id:".as_slice(), key].concat())[..8]);
        Self { cipher: XChaCha20Poly1305::new(key.into()), id }
    }

    /// A short public name for this key (a hash of it), recorded beside what it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wraps a data key for the object `context` names: 24 random nonce bytes, then the
    /// sealed key.
    pub fn wrap(&self, data_key: &[u8; 32], context: &ObjectContext) -> Vec<u8> {
        let nonce: [u8; 24] = rand::random();
        let aad = [b"rucket-data-key:".as_slice(), &context.encode()].concat();
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: data_key, aad: &aad })
            .expect("wrapping cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Seals a small secret (an access key's) bound to `label`: 24 random nonce bytes,
    /// then the sealed bytes.
    pub fn seal_secret(&self, secret: &[u8], label: &str) -> Vec<u8> {
        let nonce: [u8; 24] = rand::random();
        let aad = [b"rucket-secret:".as_slice(), label.as_bytes()].concat();
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: secret, aad: &aad })
            .expect("sealing cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens a secret sealed by [`Self::seal_secret`] with the same label.
    pub fn open_secret(&self, sealed: &[u8], label: &str) -> Result<Vec<u8>, KeyError> {
        let bad = || KeyError::Unsealable { what: "secret" };
        if sealed.len() < 24 {
            return Err(bad());
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| bad())?;
        let aad = [b"rucket-secret:".as_slice(), label.as_bytes()].concat();
        self.cipher.decrypt(&nonce.into(), Payload { msg: body, aad: &aad }).map_err(|_| bad())
    }

    /// Unwraps a data key wrapped by [`Self::wrap`] for the same object.
    pub fn unwrap(&self, wrapped: &[u8], context: &ObjectContext) -> Result<[u8; 32], KeyError> {
        let bad = || KeyError::Unsealable { what: "data key" };
        if wrapped.len() < 24 {
            return Err(bad());
        }
        let (nonce, sealed) = wrapped.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| bad())?;
        let aad = [b"rucket-data-key:".as_slice(), &context.encode()].concat();
        let key =
            self.cipher.decrypt(&nonce.into(), Payload { msg: sealed, aad: &aad }).map_err(|_| bad())?;
        key.try_into().map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(part: u32) -> ObjectContext {
        ObjectContext { bucket: "b".into(), key: "k".into(), version_id: "v1".into(), part }
    }

    #[test]
    fn data_keys_unwrap_only_with_their_master_and_object() {
        let master = MasterKey::new(&[9; 32]);
        let wrapped = master.wrap(&[5; 32], &context(0));
        assert_eq!(master.unwrap(&wrapped, &context(0)).unwrap(), [5; 32]);
        assert!(master.unwrap(&wrapped, &context(1)).is_err());
        assert!(MasterKey::new(&[8; 32]).unwrap(&wrapped, &context(0)).is_err());
        assert!(master.unwrap(&wrapped[..10], &context(0)).is_err());
        assert_ne!(master.id(), MasterKey::new(&[8; 32]).id());
        let text = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert_eq!(MasterKey::from_base64(&text, "RUCKET_MASTER_KEY").unwrap().id(), master.id());
        let short = MasterKey::from_base64("AAAA", "RUCKET_MASTER_KEY").err().unwrap().to_string();
        assert!(short.contains("RUCKET_MASTER_KEY") && short.contains("32 bytes"), "{short}");
    }
}
