//! Errors of the feed.

use rucket_schemas::LogPosition;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("reading the event archive: {0}")]
    Archive(#[from] rucket_log::FollowError),
    #[error("the archived event at {position} does not decode: {source}")]
    Decode { position: LogPosition, source: rucket_schemas::CodecError },
    #[error("reading the projections: {0}")]
    Projection(#[from] rucket_projections::ProjectionError),
    #[error("webhook cursor file {path}: {source}")]
    Cursor { path: std::path::PathBuf, source: std::io::Error },
    #[error("webhook cursor file {path} does not hold a log position")]
    CursorText { path: std::path::PathBuf },
}

impl From<rucket_log::LogError> for FeedError {
    fn from(e: rucket_log::LogError) -> Self {
        Self::Archive(rucket_log::FollowError::Read(e))
    }
}
