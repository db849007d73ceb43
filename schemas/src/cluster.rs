//! Cluster events: changes of a cluster's membership, archived like every other change,
//! so an audit or a replay shows when each node joined, was promoted or left.

use serde::{Deserialize, Serialize};

/// One member of a cluster: its node id and the address its peers call.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct ClusterMember {
    pub id: u64,
    pub address: String,
}

/// Schema version 1 of `MembershipChanged`: the cluster's voters and learners once a
/// membership change committed (the cluster formed, a node was added, promoted or
/// removed). Written by the log itself, not by a command; ordered by node id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct MembershipChanged {
    pub voters: Vec<ClusterMember>,
    pub learners: Vec<ClusterMember>,
}

/// Schema version 1 of `WebhookCursorSet`: webhook target `target` has been delivered every
/// event up to `position`. The delivering node (a cluster's leader) records it now and
/// then, so a new leader resumes there instead of from its own older cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct WebhookCursorSet {
    pub target: String,
    pub position: u64,
}
