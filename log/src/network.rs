//! The node-to-node network. openraft's network traits are implemented here over a
//! [`Wire`]: something that carries one encoded request to a peer and brings back its
//! encoded answer. The wire itself (HTTP/2, authentication, connection pools) belongs to
//! the server runtime, which knows HTTP; this crate owns the messages, their codec and
//! what a node does with each ([`crate::Node::serve_rpc`]).
//!
//! [`NoPeers`] is the network of a single-node cluster: every peer is unreachable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Timeout, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::{NodeId, TypeConfig};

/// The calls one node makes to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
    /// A command forwarded by a follower to the leader.
    Propose,
    /// A follower asks the leader for the index a linearizable read must wait for.
    ReadIndex,
    /// A membership change asked of the leader.
    ChangeMembership,
    /// A node's view of itself (role, term, applied position).
    Status,
    /// A page of the archive, for a node installing a snapshot.
    ArchiveRange,
}

impl Rpc {
    /// The name the wire routes by.
    pub fn name(self) -> &'static str {
        match self {
            Self::AppendEntries => "append-entries",
            Self::Vote => "vote",
            Self::InstallSnapshot => "install-snapshot",
            Self::Propose => "propose",
            Self::ReadIndex => "read-index",
            Self::ChangeMembership => "change-membership",
            Self::Status => "status",
            Self::ArchiveRange => "archive-range",
        }
    }

    /// Whether the call carries bulk bytes, which travel apart from Raft's own traffic so
    /// that they never delay a heartbeat.
    pub fn is_bulk(self) -> bool {
        matches!(self, Self::ArchiveRange)
    }

    fn openraft_type(self) -> openraft::network::RPCTypes {
        match self {
            Self::Vote => openraft::network::RPCTypes::Vote,
            Self::InstallSnapshot => openraft::network::RPCTypes::InstallSnapshot,
            _ => openraft::network::RPCTypes::AppendEntries,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::AppendEntries,
            Self::Vote,
            Self::InstallSnapshot,
            Self::Propose,
            Self::ReadIndex,
            Self::ChangeMembership,
            Self::Status,
            Self::ArchiveRange,
        ]
        .into_iter()
        .find(|rpc| rpc.name() == name)
    }
}

/// Why a call did not bring back an answer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WireError {
    /// The peer could not be reached (no connection); nothing was delivered.
    #[error("node {node} is unreachable: {reason}")]
    Unreachable { node: NodeId, reason: String },
    /// The call did not finish before its deadline; it may or may not have been delivered.
    #[error("the call to node {node} timed out after {after:?}")]
    Timeout { node: NodeId, after: Duration },
    /// The peer answered with an error of the wire (refused authentication, a bad request).
    #[error("node {node} refused the call: {reason}")]
    Refused { node: NodeId, reason: String },
}

/// A boxed future, so that a wire can live behind `Arc<dyn Wire>`.
pub type WireFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, WireError>> + Send>>;

/// Carries one encoded request to `address` (node `target`'s cluster address) and
/// returns the encoded answer. Implementations enforce `deadline`.
pub trait Wire: Send + Sync + 'static {
    fn call(&self, target: NodeId, address: &str, rpc: Rpc, body: Vec<u8>, deadline: Duration) -> WireFuture;
}

/// Encodes a request, sends it over `wire` and decodes the answer.
pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
    wire: &dyn Wire,
    target: NodeId,
    address: &str,
    rpc: Rpc,
    request: &Req,
    deadline: Duration,
) -> Result<Resp, WireError> {
    let body = codec::encode(request)
        .map_err(|e| WireError::Refused { node: target, reason: format!("encoding the request: {e}") })?;
    let answer = wire.call(target, address, rpc, body, deadline).await?;
    codec::decode(&answer)
        .map_err(|e| WireError::Refused { node: target, reason: format!("decoding the answer: {e}") })
}

/// The network of a cluster: each peer is reached over the wire at the address its
/// membership entry names.
#[derive(Clone)]
pub struct Peers {
    wire: Arc<dyn Wire>,
}

impl Peers {
    pub fn new(wire: Arc<dyn Wire>) -> Self {
        Self { wire }
    }
}

pub struct PeerConnection {
    wire: Arc<dyn Wire>,
    target: NodeId,
    address: String,
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerConnection { wire: Arc::clone(&self.wire), target, address: node.addr.clone() }
    }
}

impl PeerConnection {
    async fn send<Req, Resp, E>(
        &self,
        rpc: Rpc,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let deadline = option.hard_ttl();
        let answer: Result<Resp, RaftError<NodeId, E>> =
            call(&*self.wire, self.target, &self.address, rpc, request, deadline).await.map_err(
                |e| match e {
                    WireError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                    WireError::Timeout { .. } => RPCError::Timeout(Timeout {
                        action: rpc.openraft_type(),
                        id: 0,
                        target: self.target,
                        timeout: deadline,
                    }),
                    // A refusal (a bad signature, other keys, a clock far off) does not pass
                    // by itself: openraft backs off from an unreachable peer, not from a
                    // network error.
                    WireError::Refused { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                },
            )?;
        answer.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send(Rpc::Vote, &rpc, &option).await
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct NoPeers;

pub struct NoConnection(NodeId);

impl NoConnection {
    fn unreachable(&self) -> Unreachable {
        let e = std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!("node {} is not reachable from a single-node cluster", self.0),
        );
        Unreachable::new(&e)
    }
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        NoConnection(target)
    }
}

impl RaftNetwork<TypeConfig> for NoConnection {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable().into())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable().into())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable().into())
    }
}
