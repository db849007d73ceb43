//! Errors of the projections crate. All are fatal for the node: a projection that
//! cannot be read or written must not be served.

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection storage: {0}")]
    Storage(#[from] fjall::Error),
    #[error("corrupt projection record in {keyspace}: {source}")]
    Corrupt { keyspace: &'static str, source: rucket_schemas::CodecError },
    #[error("record does not encode: {0}")]
    Encode(rucket_schemas::CodecError),
}
