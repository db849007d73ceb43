//! Access keys managed through the admin API: events with no bucket. A secret is kept
//! only sealed by the master key (SigV4 needs the secret itself, so it cannot be hashed).

use serde::{Deserialize, Serialize};

use crate::UserId;

/// A secret access key as the log keeps it: sealed by the master key `key_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct SealedSecret {
    pub key_id: String,
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// Schema version 1 of `AccessKeyCreated`: a key for `user` (created with its first key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AccessKeyCreated {
    pub access_key_id: String,
    pub user: UserId,
    pub secret: SealedSecret,
    /// A scoped admin token: it may call the admin API (and is otherwise an ordinary user).
    pub admin: bool,
}

/// Schema version 1 of `AccessKeyStatusSet`: a key disabled or enabled again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AccessKeyStatusSet {
    pub access_key_id: String,
    pub enabled: bool,
}

/// Schema version 1 of `AccessKeyDeleted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AccessKeyDeleted {
    pub access_key_id: String,
}

/// Schema version 1 of `AccessKeyPolicySet`: the identity policy that limits what the key
/// may do (`None` removes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AccessKeyPolicySet {
    pub access_key_id: String,
    pub policy: Option<String>,
}

/// Schema version 1 of `AccessKeyRewrapped`: a master key rotation re-sealed the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct AccessKeyRewrapped {
    pub access_key_id: String,
    pub from_key_id: String,
    pub secret: SealedSecret,
}
