//! The openraft type configuration. One Raft entry carries a batch of commands, so that
//! concurrent proposals share one append and one fsync.

use std::io::Cursor;

use rucket_schemas::{Command, Outcome};
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// The payload of one Raft entry: commands proposed together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandBatch(pub Vec<Command>);

/// One outcome per command of the entry, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOutcome(pub Vec<Outcome>);

openraft::declare_raft_types!(
    pub TypeConfig:
        D = CommandBatch,
        R = BatchOutcome,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
