//! Errors of the log crate. `LogError` is fatal (the node cannot open or must stop);
//! `ProposeError` is an answer a caller can act on.

use rucket_schemas::LogPosition;

use crate::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log storage: {0}")]
    Storage(#[from] fjall::Error),
    #[error(transparent)]
    Projection(#[from] rucket_projections::ProjectionError),
    #[error("corrupt event at log position {position}: {reason}")]
    CorruptEvent { position: LogPosition, reason: String },
    #[error(
        "projections are at position {applied} but the event archive ends at {head}; \
         run `rucket replay rebuild` to rebuild them from the archive"
    )]
    ProjectionsAhead { applied: LogPosition, head: LogPosition },
    #[error("raft: {0}")]
    Raft(String),
    #[error("no leader elected within {0:?}")]
    NoLeader(std::time::Duration),
    #[error("export failed: {0}")]
    Export(String),
    #[error("import failed: {0}")]
    Import(String),
    #[error("a blocking task of the log failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("the node is shutting down")]
    Stopped,
    #[error("the log failed: {0}")]
    Fatal(String),
}
