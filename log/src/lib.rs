//! The replicated log. Commands are proposed to openraft in batches (group commit); the
//! Raft log and vote live in fjall; the state machine validates each committed command
//! against the projections, archives the resulting event under its log position and
//! folds it, in one atomic fjall batch.
//!
//! Architecture invariant: the event archive is never purged by Raft. Raft may drop its
//! own log after a snapshot; the archive keeps every applied event.

// openraft's storage traits fix `StorageError` (about 224 bytes) as the error type of
// every storage call; the helpers here return it unchanged rather than boxing it twice.
#![allow(clippy::result_large_err)]

mod archive;
mod clock;
mod cluster;
mod codec;
pub mod damage;
mod error;
mod follower;
mod health;
mod liveness;
mod log_store;
mod network;
mod node;
pub mod replay;
mod snapshot;
mod state_machine;
mod types;

pub use archive::EventArchive;
pub use clock::{Clock, MAX_DRIFT};
pub use cluster::{MemberStatus, MembershipChange, NodeStatus, Role};
pub use error::{LogError, ProposeError};
pub use follower::{ArchiveClosed, ArchiveFollower, FollowError};
pub use health::Durability as DurabilityHealth;
pub use liveness::{Liveness, PeerState, DOWN_AFTER, PING_EVERY, SUSPECT_PHI};
pub use log_store::LogStore;
pub use network::{NoPeers, Rpc, Wire, WireError, WireFuture};
pub use node::{Durability, Node, NodeConfig, NotReady, LOG_OPEN_FILES};
pub use snapshot::serve_range;
pub use state_machine::StateMachine;
pub use types::{BatchOutcome, CommandBatch, NodeId, TypeConfig};
