//! Helpers shared by the log tests: commands and an in-process Raft router.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use rucket_log::{NodeId, TypeConfig};
use rucket_schemas::{
    BucketName, Command, CommandBody, CreateOperation, EventId, Hlc, ObjectData, ObjectKey, ObjectRecord,
    RegionId, ReplicationStatus, StandardHeaders, StorageClass, UserId, VersionId, WriteCondition,
};

pub fn command(seq: u64, body: CommandBody) -> Command {
    let mut event_id = [0u8; 16];
    event_id[..8].copy_from_slice(&seq.to_be_bytes());
    Command {
        hlc: Hlc::new(seq << 20, 1),
        event_id: EventId(event_id),
        origin_region: RegionId::new("us-east-1"),
        requester: UserId::new("root"),
        requester_is_admin: true,
        body,
    }
}

pub fn create_bucket(seq: u64, name: &str) -> Command {
    command(
        seq,
        CommandBody::CreateBucket {
            bucket: BucketName::parse(name).unwrap(),
            location: String::new(),
            object_lock_enabled: false,
        },
    )
}

pub fn put(seq: u64, bucket: &str, key: &str, body: &[u8]) -> Command {
    command(
        seq,
        CommandBody::PutObject {
            bucket: BucketName::parse(bucket).unwrap(),
            key: ObjectKey::parse(key).unwrap(),
            operation: CreateOperation::Put,
            condition: WriteCondition::Always,
            record: Box::new(ObjectRecord {
                version_id: VersionId::null(),
                size: body.len() as u64,
                etag: format!("{seq:032x}"),
                headers: StandardHeaders::default(),
                user_metadata: BTreeMap::new(),
                data: ObjectData::Inline(body.to_vec()),
                owner: UserId::new("root"),
                hlc_timestamp: Hlc::new(seq << 20, 1),
                placement_group: 0,
                home_region: RegionId::new("us-east-1"),
                storage_class: StorageClass::Standard,
                replication_status: ReplicationStatus::None,
                checksums: BTreeMap::new(),
            }),
        },
    )
}

pub type Rafts = Arc<Mutex<BTreeMap<NodeId, Raft<TypeConfig>>>>;

/// Routes RPCs between Raft instances of one process; a node missing from the map is
/// unreachable (stopped or cut off).
#[derive(Clone, Default)]
pub struct Router {
    pub rafts: Rafts,
}

pub struct Connection {
    target: NodeId,
    rafts: Rafts,
}

impl Connection {
    fn target(&self) -> Result<Raft<TypeConfig>, Unreachable> {
        let found = self.rafts.lock().unwrap().get(&self.target).cloned();
        found.ok_or_else(|| {
            let e = std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!("node {} is down", self.target),
            );
            Unreachable::new(&e)
        })
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Self::Network {
        Connection { target, rafts: self.rafts.clone() }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.target()?;
        raft.append_entries(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let raft = self.target()?;
        raft.install_snapshot(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.target()?;
        raft.vote(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(20)))
    }
}

/// Stops a node and drops it, releasing its data directory for a reopen.
pub async fn close(node: rucket_log::Node) {
    node.shutdown().await.expect("clean shutdown");
    drop(node);
}
