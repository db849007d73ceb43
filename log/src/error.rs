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
    #[error(
        "the views were written by an older release (small bodies copied into them), so a fresh \
         fold differs from them: start the node once (it folds them again) or run `rucket replay rebuild`"
    )]
    OlderViews,
    /// The journal holds a damaged batch (checked before fjall opens it).
    #[error("{0}. The node does not start on it: `rucket repair --data-dir <this data dir>` shows what it can recover (docs/operations.md, \"Damaged data\")")]
    DamagedJournal(Box<crate::damage::JournalDamage>),
    #[error("{0}. The node does not start on it: `rucket repair --data-dir <this data dir>` shows what it can recover (docs/operations.md, \"Damaged data\")")]
    DamagedArchive(Box<crate::damage::ArchiveDamage>),
    #[error("an archive cut that `rucket repair --truncate` began in {} is unfinished: run `rucket repair --data-dir <this data dir>` again to finish it", .0.display())]
    UnfinishedRepair(std::path::PathBuf),
    #[error("the log in {} is in use: stop the node first", .0.display())]
    Running(std::path::PathBuf),
    /// fjall could not open the database for a reason other than a journal batch.
    #[error("the log database in {} cannot be opened: {source}. `rucket repair --data-dir <this data dir>` shows what it can recover; otherwise restore the data dir from a backup (docs/operations.md, \"Damaged data\")", dir.display())]
    Unopenable { dir: std::path::PathBuf, source: fjall::Error },
    #[error("raft configuration: {0}")]
    RaftConfig(#[from] openraft::ConfigError),
    #[error("raft stopped: {0}")]
    RaftFatal(Box<openraft::error::Fatal<NodeId>>),
    #[error("initializing the cluster: {0}")]
    Initialize(Box<InitializeError>),
    #[error("no leader elected within {0:?}")]
    NoLeader(std::time::Duration),
    #[error("the log was not applied within {0:?}")]
    NotApplied(std::time::Duration),
    #[error("no Rucket log at {}", .0.display())]
    NoLog(std::path::PathBuf),
    #[error("export failed: {0}")]
    Export(String),
    #[error("import failed: {0}")]
    Import(String),
    #[error("a blocking task of the log failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

type InitializeError =
    openraft::error::RaftError<NodeId, openraft::error::InitializeError<NodeId, openraft::BasicNode>>;

impl From<openraft::error::Fatal<NodeId>> for LogError {
    fn from(e: openraft::error::Fatal<NodeId>) -> Self {
        Self::RaftFatal(Box::new(e))
    }
}

impl From<InitializeError> for LogError {
    fn from(e: InitializeError) -> Self {
        Self::Initialize(Box::new(e))
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("the node is shutting down")]
    Stopped,
    /// A write could not be made durable earlier; the node refuses writes until restart.
    #[error("the node cannot make writes durable ({reason}); it refuses writes until restarted")]
    NotDurable { reason: String },
    /// The state machine answered fewer outcomes than the entry had commands.
    #[error("the state machine returned no outcome for a command")]
    MissingOutcome,
    /// Raft stopped on a storage error (the log or the state machine failed).
    #[error("the log's storage failed: {0}")]
    Storage(String),
    /// No leader could be reached in time (an election, a partition, a peer down); the
    /// write may be retried.
    #[error("the cluster cannot take the write now: {0}")]
    Unavailable(String),
    /// Any other error Raft reported (its text; openraft's error is not comparable).
    #[error("raft: {0}")]
    Raft(String),
}
