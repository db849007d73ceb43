//! Errors of the feed.

use rucket_schemas::LogPosition;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("reading the event archive: {0}")]
    Archive(Box<rucket_log::FollowError>),
    #[error("the archived event at {position} does not decode: {source}")]
    Decode { position: LogPosition, source: rucket_schemas::CodecError },
    #[error("reading the projections: {0}")]
    Projection(#[from] rucket_projections::ProjectionError),
    #[error("webhook cursor file {path}: {source}")]
    Cursor { path: std::path::PathBuf, source: std::io::Error },
    #[error("webhook cursor file {path} does not hold a log position")]
    CursorText { path: std::path::PathBuf },
}

impl From<rucket_log::FollowError> for FeedError {
    fn from(e: rucket_log::FollowError) -> Self {
        Self::Archive(Box::new(e))
    }
}

impl From<rucket_log::LogError> for FeedError {
    fn from(e: rucket_log::LogError) -> Self {
        Self::Archive(Box::new(rucket_log::FollowError::Read(e)))
    }
}

impl FeedError {
    /// Whether the archive's writer is gone (the node stopped): nothing more will come.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Archive(e) if matches!(**e, rucket_log::FollowError::Closed(_)))
    }
}
