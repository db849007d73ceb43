//! A log node: the fjall database, the Raft instance over it, and the proposer that
//! groups concurrent commands into one Raft entry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fjall::{Database, PersistMode};
use openraft::error::{ClientWriteError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use rucket_projections::Projections;
use rucket_schemas::{Command, Outcome};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::health::Durability as DurabilityHealth;
use crate::{
    CommandBatch, EventArchive, LogError, LogStore, NodeId, ProposeError, StateMachine, TypeConfig, Wire,
};

/// What an acknowledged write promises about the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The entry is fdatasynced before the proposal is acknowledged.
    #[default]
    Strict,
    /// Entries reach the OS at once and are fdatasynced every `relaxed_interval`.
    Relaxed,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// Where the fjall database (Raft log, archive, projections) lives.
    pub dir: PathBuf,
    pub durability: Durability,
    /// How often relaxed mode fsyncs.
    pub relaxed_interval: Duration,
    /// Bootstrap a one-voter cluster on first start.
    pub bootstrap_single: bool,
    /// The voters of a cluster formed on first start: node id → cluster address. Every
    /// node starts with the same list; an empty list is a single node (or a node that
    /// joins an existing cluster as a learner).
    pub members: BTreeMap<NodeId, String>,
    /// The region stamped on the events the log writes by itself.
    pub region: rucket_schemas::RegionId,
    /// The most commands one Raft entry carries.
    pub max_batch: usize,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: (u64, u64),
    /// A snapshot is taken after this many Raft entries; the log keeps a tenth of that
    /// behind it, and a follower further behind catches up from the snapshot.
    pub snapshot_every: u64,
    /// Ping every member once a second for `rucket cluster status`'s liveness (a node of
    /// a cluster only).
    pub ping_peers: bool,
}

impl NodeConfig {
    pub fn single(dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id: 1,
            dir: dir.into(),
            durability: Durability::Strict,
            relaxed_interval: Duration::from_millis(50),
            bootstrap_single: true,
            members: BTreeMap::new(),
            region: rucket_schemas::RegionId::new("us-east-1"),
            max_batch: 512,
            heartbeat_ms: 50,
            election_timeout_ms: (150, 300),
            snapshot_every: 1_000,
            ping_peers: true,
        }
    }
}

type Proposal = (Command, oneshot::Sender<Result<Outcome, ProposeError>>);

/// A running log node.
pub struct Node {
    id: NodeId,
    raft: Raft<TypeConfig>,
    /// How this node reaches its peers (forwarding, read index); `None` on a single node.
    wire: Option<Arc<dyn Wire>>,
    /// One read-index request in flight, shared by every read that waits for it.
    read_index: crate::cluster::ReadIndex,
    db: Database,
    state_machine: StateMachine,
    proposals: mpsc::Sender<Proposal>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    committed: Arc<std::sync::atomic::AtomicU64>,
    health: Arc<DurabilityHealth>,
    /// What this node has heard from each peer (pinged once a second in a cluster).
    liveness: Arc<crate::Liveness>,
}

/// Why a node is not ready to serve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("raft has stopped")]
    Stopped,
    #[error("no leader is known yet")]
    NoLeader,
    #[error("the log is not applied yet")]
    Applying,
    #[error("writes cannot be made durable: {0}")]
    NotDurable(String),
}

/// The newest archived events checked at every start (see `EventArchive::verify_tail`).
const START_CHECK: usize = 10_000;
/// Table files the log keeps open at most (fjall's default is 900): the gateway keeps
/// this many descriptors aside when it fits its connection caps to the open file limit.
pub const LOG_OPEN_FILES: usize = 256;

/// The encoded bytes past which a Raft entry takes no more commands (inline bodies, large
/// completes and configurations), so that an entry fits well within one AppendEntries
/// (see [`crate::log_store::MAX_APPEND_BYTES`]).
const MAX_ENTRY_BYTES: usize = 2 << 20;

/// Proposals in flight at once; while they wait, new commands gather into the next batch.
const IN_FLIGHT: usize = 4;

/// How long a proposal in flight holds its slot. openraft answers a write only when its
/// entry is applied or truncated: a leader cut off from the others keeps accepting writes
/// it cannot commit, and when it later installs a snapshot past them, nothing answers
/// them. Their slots are freed after this long (the wait for the answer goes on), so the
/// node can propose again, as a leader, rather than hang every write for good.
const SLOT_HELD: Duration = Duration::from_secs(20);

impl Node {
    /// Opens a node with the given network (use [`crate::NoPeers`] for a single node).
    /// Proposals on a follower are refused with [`ProposeError::NotLeader`].
    pub async fn open<N>(config: NodeConfig, network: N) -> Result<Self, LogError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        Self::open_with(config, network, None).await
    }

    /// Opens a node of a cluster whose peers are reached over `wire`: a follower forwards
    /// proposals to the leader and asks it for read indexes.
    pub async fn open_cluster(config: NodeConfig, wire: Arc<dyn Wire>) -> Result<Self, LogError> {
        Self::open_with(config, crate::network::Peers::new(Arc::clone(&wire)), Some(wire)).await
    }

    async fn open_with<N>(
        config: NodeConfig,
        network: N,
        wire: Option<Arc<dyn Wire>>,
    ) -> Result<Self, LogError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        std::fs::create_dir_all(&config.dir).map_err(|e| LogError::Storage(e.into()))?;
        let dir = config.dir.clone();
        // Object bodies reach the journal inline; they are rarely compressible, so the
        // journal does not spend CPU compressing them.
        let db = tokio::task::spawn_blocking(move || {
            crate::damage::open_checked(&dir, |b| {
                b.journal_compression(fjall::CompressionType::None).max_cached_files(Some(LOG_OPEN_FILES))
            })
        })
        .await??;
        let projections = Projections::open(&db)?;
        let archive = EventArchive::open(&db)?;
        let n_events = match archive.verify_tail(START_CHECK) {
            Ok(n) => n,
            // The tail check reads backwards; a forward read finds the last good position.
            Err(e) => {
                let source = archive.clone();
                let damage =
                    tokio::task::spawn_blocking(move || crate::damage::scan_archive(&source)).await?;
                return Err(damage.map_or(e, |d| LogError::DamagedArchive(Box::new(d))));
            }
        };
        let applied = projections.applied_position()?;
        if applied > archive.head() {
            return Err(LogError::ProjectionsAhead { applied, head: archive.head() });
        }
        tracing::info!(checked = n_events, head = %archive.head(), applied = %applied, "event archive checked (the newest events; `rucket replay verify` checks all)");
        let projections = if projections.format_is_current()? {
            projections.mark_format()?;
            projections
        } else {
            // Views an older release wrote differ from a fresh fold (copies of small bodies,
            // no part checksums; see VIEW_FORMAT), so they are folded again from the
            // archive, once.
            tracing::info!(events = %archive.head(), "the views are in an older format; folding them again from the archive");
            let started = std::time::Instant::now();
            let source = archive.clone();
            let projections =
                tokio::task::spawn_blocking(move || crate::replay::refold(&source, projections, |_, _| {}))
                    .await??;
            tracing::info!(seconds = started.elapsed().as_secs_f64(), "views folded again");
            projections
        };
        let health = Arc::new(DurabilityHealth::default());
        let state_machine = StateMachine::open_in(&db, projections, archive, config.region.clone())?;
        let log_store = LogStore::open(&db, config.durability)?
            .with_health(Arc::clone(&health))
            .with_purge_gate(state_machine.purge_gate());
        // A damaged journal names keyspaces by id; this keeps their names beside it.
        if let Err(e) = crate::damage::KeyspaceNames::record(&db, &config.dir) {
            tracing::warn!(error = %e, "could not record the keyspaces' names (a damaged journal would name them by id)");
        }
        let committed = log_store.committed_index();
        if let Some(wire) = &wire {
            state_machine.connect(config.node_id, Arc::clone(wire));
        }

        let raft_config = Config {
            cluster_name: "rucket".into(),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.election_timeout_ms.0,
            election_timeout_max: config.election_timeout_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: config.snapshot_every / 10,
            // openraft gives each AppendEntries the heartbeat interval as its deadline:
            // keep catch-up payloads small enough to land within it.
            max_payload_entries: 64,
            // The snapshot is a manifest; installing it pulls the missing archive suffix,
            // which takes as long as the follower is behind and may outlast this. The
            // leader then offers the snapshot again; the follower's handler waits for the
            // running install and finds nothing left to do.
            install_snapshot_timeout: 30_000,
            ..Config::default()
        }
        .validate()?;
        let raft =
            Raft::new(config.node_id, Arc::new(raft_config), network, log_store, state_machine.clone())
                .await?;

        if !raft.is_initialized().await? {
            let members: BTreeMap<NodeId, BasicNode> = if !config.members.is_empty() {
                config.members.iter().map(|(id, addr)| (*id, BasicNode::new(addr))).collect()
            } else if config.bootstrap_single {
                BTreeMap::from([(config.node_id, BasicNode::new("local"))])
            } else {
                BTreeMap::new()
            };
            if !members.is_empty() {
                // Every node of a new cluster initializes with the same voters; a node
                // that already heard from a leader is told NotAllowed, which is fine.
                match raft.initialize(members).await {
                    Ok(()) => {}
                    Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }

        let (tx, rx) = mpsc::channel(config.max_batch * IN_FLIGHT);
        let mut tasks = vec![
            tokio::spawn(run_proposer(raft.clone(), rx, config.max_batch)),
            tokio::spawn(leave_raft_when_not_durable(raft.clone(), Arc::clone(&health))),
        ];
        let liveness = Arc::new(crate::Liveness::default());
        if let (Some(wire), true) = (&wire, config.ping_peers) {
            tasks.push(tokio::spawn(crate::cluster::run_pinger(
                raft.clone(),
                config.node_id,
                Arc::clone(wire),
                Arc::clone(&liveness),
            )));
        }
        if config.durability == Durability::Relaxed {
            let db = db.clone();
            let fsync = move || db.persist(PersistMode::SyncData);
            tasks.push(tokio::spawn(run_relaxed_fsync(fsync, config.relaxed_interval, Arc::clone(&health))));
        }
        Ok(Self {
            id: config.node_id,
            raft,
            wire,
            read_index: Default::default(),
            db,
            state_machine,
            proposals: tx,
            tasks,
            committed,
            health,
            liveness,
        })
    }

    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The peers' wire, on a node of a cluster.
    pub(crate) fn wire(&self) -> Option<&Arc<dyn Wire>> {
        self.wire.as_ref()
    }

    pub(crate) fn read_index_state(&self) -> &crate::cluster::ReadIndex {
        &self.read_index
    }

    /// The last Raft index known to be committed.
    pub fn committed_index(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn projections(&self) -> &Projections {
        self.state_machine.projections()
    }

    pub fn archive(&self) -> &EventArchive {
        self.state_machine.archive()
    }

    /// A receiver that changes each time this node installs a snapshot: its archive
    /// then names bodies that it never received.
    pub fn snapshot_installs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state_machine.snapshot_installs()
    }

    /// Whether this node is installing a snapshot (its archive may be emptied meanwhile).
    pub fn snapshot_installing(&self) -> bool {
        self.state_machine.snapshot_installing()
    }

    /// Waits until this node knows a leader and has applied everything in its log.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), LogError> {
        let metrics = self
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(|_| LogError::NoLeader(timeout))?;
        let last = metrics.last_log_index;
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.last_applied.map(|l| l.index) >= last, "log applied")
            .await
            .map_err(|_| LogError::NotApplied(timeout))?;
        Ok(())
    }

    /// Whether this node can serve: writes are durable, a leader is known and everything
    /// in its own log is applied.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if let Some(reason) = self.health.failure() {
            return Err(NotReady::NotDurable(reason.to_owned()));
        }
        let m = self.raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return Err(NotReady::Stopped);
        }
        if m.current_leader.is_none() {
            return Err(NotReady::NoLeader);
        }
        if m.last_applied.map(|l| l.index) < m.last_log_index {
            return Err(NotReady::Applying);
        }
        Ok(())
    }

    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// Whether writes can still be made durable, and how many fsyncs failed.
    pub fn durability(&self) -> &DurabilityHealth {
        &self.health
    }

    /// What this node has heard from its peers.
    pub fn liveness(&self) -> &crate::Liveness {
        &self.liveness
    }

    /// Proposes a command and waits for its outcome in log order. Refused at once when
    /// an earlier fsync failed. On a follower of a cluster the command is forwarded to
    /// the leader, and the answer comes once this node has applied it too.
    pub async fn propose(&self, command: Command) -> Result<Outcome, ProposeError> {
        if let Some(reason) = self.health.failure() {
            return Err(ProposeError::NotDurable { reason: reason.to_owned() });
        }
        if self.wire.is_some() {
            return self.propose_anywhere(command).await;
        }
        self.propose_here(command).await
    }

    /// Proposes through this node's own Raft instance (it must be the leader).
    pub(crate) async fn propose_here(&self, command: Command) -> Result<Outcome, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.proposals.send((command, tx)).await.map_err(|_| ProposeError::Stopped)?;
        rx.await.map_err(|_| ProposeError::Stopped)?
    }

    /// Makes everything applied so far durable (fdatasync of the shared journal). A
    /// failure stops the node from acknowledging writes (see [`DurabilityHealth`]).
    pub fn sync(&self) -> Result<(), LogError> {
        self.db.persist(PersistMode::SyncData).map_err(|e| {
            self.health.record_failure("fsync of the log", &e);
            LogError::Storage(e)
        })
    }

    /// Stops Raft and flushes the database.
    pub async fn shutdown(&self) -> Result<(), LogError> {
        for task in &self.tasks {
            task.abort();
        }
        self.state_machine.stop();
        self.raft.shutdown().await?;
        // openraft's state machine worker outlives the core: an install under way ends at
        // its next wait on a peer (or its page's fold), releasing the database.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.state_machine.snapshot_installing() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.persist(PersistMode::SyncAll)).await??;
        Ok(())
    }
}

impl Drop for Node {
    /// A node dropped without [`Node::shutdown`] still ends its tasks, which hold Raft
    /// handles (and through them the database) otherwise.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Takes every queued proposal (up to `max_batch`) into one Raft entry, keeps up to
/// `IN_FLIGHT` entries in flight, and answers each caller with its own outcome.
async fn run_proposer(raft: Raft<TypeConfig>, mut rx: mpsc::Receiver<Proposal>, max_batch: usize) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let mut bytes = crate::codec::encoded_len(&first.0);
        let mut proposals = vec![first];
        while proposals.len() < max_batch && bytes < MAX_ENTRY_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += crate::codec::encoded_len(&p.0);
                    proposals.push(p);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (commands, waiters): (Vec<_>, Vec<_>) = proposals.into_iter().unzip();
            let write = raft.client_write(CommandBatch(commands));
            tokio::pin!(write);
            let result = match tokio::time::timeout(SLOT_HELD, &mut write).await {
                Ok(result) => result,
                Err(_) => {
                    drop(permit);
                    tracing::warn!(
                        "a proposal had no answer in {SLOT_HELD:?}; its slot is freed while it waits"
                    );
                    write.await
                }
            };
            match result {
                Ok(response) => {
                    let mut outcomes = response.data.0.into_iter();
                    for waiter in waiters {
                        let outcome = outcomes.next().ok_or(ProposeError::MissingOutcome);
                        let _ = waiter.send(outcome);
                    }
                }
                Err(e) => {
                    let error = match &e {
                        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                            ProposeError::NotLeader { leader: f.leader_id }
                        }
                        RaftError::Fatal(openraft::error::Fatal::Stopped) => ProposeError::Stopped,
                        RaftError::Fatal(openraft::error::Fatal::StorageError(e)) => {
                            ProposeError::Storage(e.to_string())
                        }
                        other => ProposeError::Raft(other.to_string()),
                    };
                    for waiter in waiters {
                        let _ = waiter.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}

/// A node that can no longer make writes durable gives up its part in Raft: in a cluster
/// the others elect a leader that can, instead of following one that refuses every write
/// (a failed Raft append already stops Raft; a failed relaxed or collector fsync does not
/// by itself). The node goes on serving reads from what it holds; `/live` fails, and a
/// restart brings it back from what is durable.
async fn leave_raft_when_not_durable(raft: Raft<TypeConfig>, health: Arc<DurabilityHealth>) {
    health.failed().await;
    tracing::error!("this node cannot make writes durable: it leaves Raft until it is restarted");
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "stopping Raft after a durability failure");
    }
}

/// In relaxed mode, makes everything written so far durable on a fixed interval. The
/// first failure (or a panic of the fsync) is recorded in `health`, which stops the node
/// from acknowledging writes, and ends the loop: no later fsync can vouch for the data
/// the failed one dropped.
async fn run_relaxed_fsync<F>(fsync: F, interval: Duration, health: Arc<DurabilityHealth>)
where
    F: Fn() -> Result<(), fjall::Error> + Clone + Send + 'static,
{
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match tokio::task::spawn_blocking(fsync.clone()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return health.record_failure("relaxed fsync", &e),
            Err(e) => return health.record_failure("relaxed fsync", &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failed_relaxed_fsync_is_recorded_once_and_ends_the_loop() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let fsync = move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n < 2 {
                Ok(())
            } else {
                Err(fjall::Error::Io(std::io::Error::other("injected EIO")))
            }
        };
        let health = Arc::new(DurabilityHealth::default());
        run_relaxed_fsync(fsync, Duration::from_millis(50), Arc::clone(&health)).await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3, "the loop ends at the failure");
        assert_eq!(health.failures(), 1);
        let reason = health.failure().expect("recorded");
        assert!(reason.contains("relaxed fsync failed") && reason.contains("injected EIO"), "{reason}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_fsync_is_a_failure_too() {
        let health = Arc::new(DurabilityHealth::default());
        let fsync = || -> Result<(), fjall::Error> { panic!("fsync panicked") };
        run_relaxed_fsync(fsync, Duration::from_millis(50), Arc::clone(&health)).await;
        assert!(health.failure().is_some());
    }
}
