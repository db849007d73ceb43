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
    let body = encode_request(target, request)?;
    call_encoded(wire, target, address, rpc, body, deadline).await
}

fn encode_request<Req: Serialize>(target: NodeId, request: &Req) -> Result<Vec<u8>, WireError> {
    codec::encode(request)
        .map_err(|e| WireError::Refused { node: target, reason: format!("encoding the request: {e}") })
}

/// As [`call`], with the request encoded already.
async fn call_encoded<Resp: DeserializeOwned>(
    wire: &dyn Wire,
    target: NodeId,
    address: &str,
    rpc: Rpc,
    body: Vec<u8>,
    deadline: Duration,
) -> Result<Resp, WireError> {
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
        let body =
            encode_request(self.target, request).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        self.send_encoded(rpc, body, option).await
    }

    async fn send_encoded<Resp, E>(
        &self,
        rpc: Rpc,
        body: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let deadline = option.hard_ttl();
        let answer: Result<Resp, RaftError<NodeId, E>> =
            call_encoded(&*self.wire, self.target, &self.address, rpc, body, deadline).await.map_err(
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

/// The most entry bytes one AppendEntries carries. openraft gives each call the heartbeat
/// interval as its deadline, and sends up to `max_payload_entries` entries of up to
/// `max_batch` commands each: a follower far behind on large entries would get calls that
/// can never finish in time. Capped, it catches up in pieces that do.
pub const MAX_APPEND_BYTES: usize = 4 << 20;

/// Keeps the longest prefix of `entries` within `cap` encoded bytes (at least one entry);
/// returns the log id of the last one kept when some were cut.
fn cap_entries(
    entries: &mut Vec<openraft::Entry<TypeConfig>>,
    cap: usize,
) -> Option<openraft::LogId<NodeId>> {
    let mut total = 0usize;
    let keep = entries
        .iter()
        .position(|entry| {
            // An entry that cannot be encoded fails when the request is; count it as large.
            total = total.saturating_add(codec::encoded_len(entry).unwrap_or(usize::MAX));
            total > cap
        })
        .map(|first_over| first_over.max(1))?;
    if keep >= entries.len() {
        return None;
    }
    entries.truncate(keep);
    entries.last().map(|entry| entry.log_id)
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let unencodable = |e: WireError| RPCError::Unreachable(Unreachable::new(&e));
        let mut body = encode_request(self.target, &rpc).map_err(unencodable)?;
        let mut cut = None;
        if body.len() > MAX_APPEND_BYTES {
            cut = cap_entries(&mut rpc.entries, MAX_APPEND_BYTES);
            body = encode_request(self.target, &rpc).map_err(unencodable)?;
        }
        let answer = self.send_encoded(Rpc::AppendEntries, body, &option).await?;
        // The follower took what was sent; openraft sends the rest next.
        Ok(match (answer, cut) {
            (AppendEntriesResponse::Success, Some(last)) => AppendEntriesResponse::PartialSuccess(Some(last)),
            (answer, _) => answer,
        })
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};

    use super::*;
    use crate::CommandBatch;

    /// A peer that takes every AppendEntries and records how many entries it carried.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<usize>>,
    }

    impl Wire for Recorder {
        fn call(&self, _: NodeId, _: &str, _: Rpc, body: Vec<u8>, _: Duration) -> WireFuture {
            let request: AppendEntriesRequest<TypeConfig> = codec::decode(&body).unwrap();
            self.sent.lock().unwrap().push(request.entries.len());
            let answer: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
                Ok(AppendEntriesResponse::Success);
            let answer = codec::encode(&answer).unwrap();
            Box::pin(async move { Ok(answer) })
        }
    }

    /// An entry of about `len` bytes (a command whose only large field is that long).
    fn entry(index: u64, len: usize) -> Entry<TypeConfig> {
        use rucket_schemas::{BucketName, Command, CommandBody, EventId, Hlc, RegionId, UserId};
        let command = Command {
            hlc: Hlc::new(index << 32, 1),
            event_id: EventId([index as u8; 16]),
            origin_region: RegionId::new("us-east-1"),
            requester: UserId::new("root"),
            requester_is_admin: true,
            body: CommandBody::CreateBucket {
                bucket: BucketName::parse("capped").unwrap(),
                location: "x".repeat(len),
                object_lock_enabled: false,
            },
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(CommandBatch(vec![command])),
        }
    }

    async fn append(recorder: &Arc<Recorder>, sizes: &[usize]) -> AppendEntriesResponse<NodeId> {
        let wire: Arc<dyn Wire> = Arc::clone(recorder) as Arc<dyn Wire>;
        let mut peer = PeerConnection { wire, target: 2, address: "n2".into() };
        let request = AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), 1)),
            leader_commit: None,
            entries: sizes.iter().enumerate().map(|(i, len)| entry(i as u64 + 2, *len)).collect(),
        };
        peer.append_entries(request, RPCOption::new(Duration::from_secs(5))).await.unwrap()
    }

    #[tokio::test]
    async fn append_entries_carries_at_most_the_byte_cap_and_reports_what_it_sent() {
        let recorder = Arc::new(Recorder::default());
        let mib = 1 << 20;
        // Ten entries of a MiB: the first three fit in 4 MiB with their framing, and the
        // answer names the last entry sent, so openraft sends the rest next.
        let answer = append(&recorder, &[mib; 10]).await;
        let last_sent = LogId::new(CommittedLeaderId::new(1, 1), 4);
        assert_eq!(answer, AppendEntriesResponse::PartialSuccess(Some(last_sent)));
        // Within the cap: sent whole, answered as the peer answered.
        assert_eq!(append(&recorder, &[mib, mib]).await, AppendEntriesResponse::Success);
        // One entry larger than the cap still goes, alone.
        let answer = append(&recorder, &[5 * mib, 10]).await;
        let last_sent = LogId::new(CommittedLeaderId::new(1, 1), 2);
        assert_eq!(answer, AppendEntriesResponse::PartialSuccess(Some(last_sent)));
        // A heartbeat (no entries) is untouched.
        assert_eq!(append(&recorder, &[]).await, AppendEntriesResponse::Success);
        assert_eq!(*recorder.sent.lock().unwrap(), [3, 2, 1, 0]);
    }
}
