//! Errors of the blob store.

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store io: {0}")]
    Io(#[from] std::io::Error),
    /// The body stream failed; the error is the stream's own (the gateway tells a bad
    /// payload hash or chunk signature from a broken connection).
    #[error("request body failed: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error("the body sent nothing for {idle:?}")]
    BodyTimeout { idle: std::time::Duration },
    /// The disk has no room for more of the body (below its reserve).
    #[error("no room for the body: {0}")]
    NoRoom(String),
    #[error("body ended after {received} of {expected} bytes")]
    IncompleteBody { expected: u64, received: u64 },
    #[error("body is longer than the declared {expected} bytes")]
    BodyTooLong { expected: u64 },
    #[error("blob {0} not found")]
    NotFound(String),
    #[error("encrypted data does not open: {0}")]
    Sealed(String),
    #[error("blob {blob} is corrupt at byte {offset}")]
    Corrupt { blob: String, offset: u64 },
    #[error("the blob writer stopped before the body was complete")]
    WriterGone,
}

/// Why a key of the encryption hierarchy could not be loaded, used or opened. The
/// gateway maps each to an S3 error; nothing here knows S3.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading the master key file {path} ({setting}): {source}")]
    Unreadable { path: std::path::PathBuf, setting: &'static str, source: std::io::Error },
    #[error("{setting} is not base64: {reason}")]
    NotBase64 { setting: &'static str, reason: String },
    #[error("{setting} must hold 32 bytes, not {len}")]
    WrongLength { setting: &'static str, len: usize },
    #[error("set one of RUCKET_MASTER_KEY_FILE and RUCKET_MASTER_KEY, not both")]
    BothSettings,
    #[error("a previous master key needs a current one: set {}", crate::keyring::MASTER_KEY_SETTINGS)]
    PreviousWithoutCurrent,
    /// Encryption was asked for and the node holds no master key.
    #[error("the server has no master key (set {})", crate::keyring::MASTER_KEY_SETTINGS)]
    NoMasterKey,
    /// Data is sealed under a master key this node does not hold.
    #[error("the master key {key_id} that sealed this data is not configured")]
    MasterKeyMissing { key_id: String },
    /// A sealed key or secret does not open (wrong key, or bound to another place).
    #[error("the {what} does not open with this key")]
    Unsealable { what: &'static str },
    /// An opened secret is not text.
    #[error("an opened secret is not UTF-8")]
    SecretNotText,
    /// A customer key came with data that is not sealed by a customer key.
    #[error("the customer key is not applicable to this data")]
    CustomerKeyNotApplicable,
    /// Data sealed by a customer key was asked for without one.
    #[error("this data is sealed by a customer key, which the request did not provide")]
    CustomerKeyRequired,
    /// The customer key is not the one that sealed the data.
    #[error("the customer key does not match the one that sealed this data")]
    CustomerKeyMismatch,
    /// Data sealed under a KMS key was opened without that key's material.
    #[error("the KMS key {key_id} that sealed this data was not provided")]
    KmsKeyNotProvided { key_id: String },
}
