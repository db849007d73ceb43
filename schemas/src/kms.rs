//! Payloads of Rucket's own key store for SSE-KMS: named keys whose 32-byte material is
//! sealed by the master key (bound to the key id) before it reaches the log. A key is
//! never deleted, since objects sealed under it would become unreadable; it is disabled.

use serde::{Deserialize, Serialize};

use crate::access_key::SealedSecret;

/// Schema version 1 of `KmsKeyCreated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct KmsKeyCreated {
    pub key_id: String,
    pub description: String,
    /// The key material, sealed by the master key.
    pub material: SealedSecret,
}

/// Schema version 1 of `KmsKeyStatusSet`: a key disabled (nothing is sealed or opened
/// with it) or enabled again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct KmsKeyStatusSet {
    pub key_id: String,
    pub enabled: bool,
}

/// Schema version 1 of `KmsKeyRewrapped`: a master key rotation re-sealed the material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct KmsKeyRewrapped {
    pub key_id: String,
    pub from_key_id: String,
    pub material: SealedSecret,
}
