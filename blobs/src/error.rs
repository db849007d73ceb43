//! Errors of the blob store.

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store io: {0}")]
    Io(#[from] std::io::Error),
    #[error("request body failed: {0}")]
    Body(String),
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
