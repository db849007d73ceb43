//! What a node of a cluster does beyond its own Raft instance: forwarding a follower's
//! proposals to the leader, linearizable reads on any node (read index), membership
//! changes asked of any node, and answering its peers' calls.
//!
//! A forwarded command keeps its event id; the state machine drops a command whose id was
//! already applied and answers with the first outcome's position, so a forward retried
//! after a lost answer is never applied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers, ServerState};
use rucket_schemas::{Command, LogPosition, Outcome};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::network::{call, Rpc, Wire};
use crate::{codec, Liveness, Node, NodeId, PeerState, ProposeError};

/// How long a proposal may wait for a leader (an election, a partition healing) before
/// the client is told to retry.
const PROPOSE_DEADLINE: Duration = Duration::from_secs(15);
/// The deadline of one forwarded call.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before a proposal tries again after finding no leader.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The answer to a proposal the leader could not commit in time.
const UNCOMMITTED: &str = "the write was not committed within 15 s; its outcome is unknown";
/// How long a status call may take before the peer counts as down.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long adding a node may take (its catch-up included).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(600);

/// A node's part in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::Candidate => "candidate",
            Self::Learner => "learner",
            Self::Shutdown => "shutdown",
        }
    }
}

/// A node's view of itself, as it answers a status call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// The newest archived position (events applied).
    pub applied: LogPosition,
    /// The newest Raft index in the node's log.
    pub last_log_index: u64,
    /// The voters and learners with their cluster addresses, as this node knows them.
    pub voters: BTreeMap<NodeId, String>,
    pub learners: BTreeMap<NodeId, String>,
}

/// One member as `rucket cluster status` shows it.
#[derive(Clone, Debug)]
pub struct MemberStatus {
    pub id: NodeId,
    pub address: String,
    pub voter: bool,
    pub state: PeerState,
    /// The suspicion level of its silence (infinite when never heard from).
    pub phi: f64,
    /// Its own view of itself, when it answered just now.
    pub status: Option<NodeStatus>,
}

/// Pings every other member once a second (a status call) and records who answered, for
/// the phi-accrual detector in [`crate::Liveness`].
pub(crate) async fn run_pinger(
    raft: openraft::Raft<crate::TypeConfig>,
    me: NodeId,
    wire: Arc<dyn Wire>,
    liveness: Arc<Liveness>,
) {
    let mut ticker = tokio::time::interval(crate::PING_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let members: Vec<(NodeId, String)> = {
            let m = raft.metrics().borrow().clone();
            let membership = m.membership_config.membership();
            membership.nodes().filter(|(id, _)| **id != me).map(|(id, n)| (*id, n.addr.clone())).collect()
        };
        liveness.retain(|id| members.iter().any(|(m, _)| *m == id));
        for (id, address) in members {
            let (wire, liveness) = (Arc::clone(&wire), Arc::clone(&liveness));
            // Each ping on its own, so a slow peer delays no other's.
            tokio::spawn(async move {
                // A slow answer still counts (its lateness is what phi weighs).
                let answer =
                    call::<_, NodeStatus>(&*wire, id, &address, Rpc::Status, &(), 2 * crate::PING_EVERY)
                        .await;
                if answer.is_ok() {
                    liveness.record(id, std::time::Instant::now());
                }
            });
        }
    }
}

/// A change of the cluster's membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Adds a learner, waits until it has caught up, then makes it a voter.
    Add { id: NodeId, address: String },
    /// Removes a voter or learner.
    Remove { id: NodeId },
}

/// The shared read-index request of a node: readers that arrive while one request is in
/// flight wait for the next one, since the index it brings may predate them.
#[derive(Default)]
pub(crate) struct ReadIndex {
    arrivals: AtomicU64,
    /// (the last arrival the cached index covers, the index)
    cached: tokio::sync::Mutex<(u64, u64)>,
}

impl Node {
    /// The answer of every peer call. An undecodable request is the caller's error.
    pub async fn serve_rpc(&self, rpc: Rpc, body: &[u8]) -> Result<Vec<u8>, String> {
        fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
            codec::encode(value).map_err(|e| format!("encoding the answer: {e}"))
        }
        fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
            codec::decode(body).map_err(|e| format!("decoding the request: {e}"))
        }
        let raft = self.raft();
        match rpc {
            Rpc::AppendEntries => encode(&raft.append_entries(decode(body)?).await),
            Rpc::Vote => encode(&raft.vote(decode(body)?).await),
            Rpc::InstallSnapshot => encode(&raft.install_snapshot(decode(body)?).await),
            Rpc::Propose => {
                let command: Command = decode(body)?;
                // A leader that cannot make writes durable takes none, forwarded or not; it
                // is leaving Raft, so the follower asks again (a retry of the same command
                // is recognised by its id) and reaches the next leader.
                if let Some(reason) = self.durability().failure() {
                    return encode(&Err::<Outcome, _>(ProposeError::Unavailable(format!(
                        "the leader cannot make writes durable: {reason}"
                    ))));
                }
                // Never forwarded again: a node that is no longer the leader says so and
                // the follower asks the new one.
                let answer = match self.propose_here(command).await {
                    Err(ProposeError::Stopped) => {
                        Err(ProposeError::Unavailable("the leader is stopping".into()))
                    }
                    other => other,
                };
                encode(&answer)
            }
            Rpc::ReadIndex => {
                let answer: Result<u64, ProposeError> = match raft.get_read_log_id().await {
                    Ok((read, _applied)) => Ok(read.map(|l| l.index).unwrap_or_default()),
                    Err(e) => Err(not_leader_or(e.forward_to_leader().map(|f| f.leader_id), e.to_string())),
                };
                encode(&answer)
            }
            Rpc::ChangeMembership => encode(&self.change_membership_here(decode(body)?).await),
            Rpc::Status => encode(&self.status()),
            Rpc::ArchiveRange => crate::snapshot::serve_range(self.archive(), body).await,
        }
    }

    /// This node's view of itself.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let address = |id: NodeId| membership.get_node(&id).map(|n| n.addr.clone()).unwrap_or_default();
        let voters: BTreeMap<NodeId, String> = membership.voter_ids().map(|id| (id, address(id))).collect();
        let learners: BTreeMap<NodeId, String> =
            membership.learner_ids().map(|id| (id, address(id))).collect();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        NodeStatus {
            id: self.id(),
            role,
            term: m.current_term,
            leader: m.current_leader,
            applied: self.archive().head(),
            last_log_index: m.last_log_index.unwrap_or_default(),
            voters,
            learners,
        }
    }

    /// The status of every member, asked of each (this node answers for itself), with its
    /// liveness from the pings; a member that did not answer now is at least suspected.
    pub async fn cluster_status(&self) -> Vec<MemberStatus> {
        let own = self.status();
        let members = own
            .voters
            .iter()
            .map(|(id, addr)| (*id, addr.clone(), true))
            .chain(own.learners.iter().map(|(id, addr)| (*id, addr.clone(), false)))
            .collect::<Vec<_>>();
        let asks = members.into_iter().map(|(id, address, voter)| {
            let own = own.clone();
            async move {
                if id == own.id {
                    let status = Some(own);
                    return MemberStatus { id, address, voter, state: PeerState::Up, phi: 0.0, status };
                }
                let status = match self.wire() {
                    Some(wire) => {
                        call::<_, NodeStatus>(&**wire, id, &address, Rpc::Status, &(), STATUS_TIMEOUT)
                            .await
                            .ok()
                    }
                    None => None,
                };
                let (mut state, phi) = self.liveness().state(id, std::time::Instant::now());
                match (&status, state) {
                    // Silent to the pings, but it answers now (or no ping went out yet).
                    (Some(_), PeerState::Down) => state = PeerState::Up,
                    (None, PeerState::Up) => state = PeerState::Suspect,
                    _ => {}
                }
                MemberStatus { id, address, voter, state, phi, status }
            }
        });
        futures::future::join_all(asks).await
    }

    /// The cluster address of `node`, from the membership this node knows.
    fn address_of(&self, node: NodeId) -> Option<String> {
        let m = self.raft().metrics().borrow().clone();
        m.membership_config.membership().get_node(&node).map(|n| n.addr.clone())
    }

    /// Proposes on whichever node leads: here, or forwarded. Waits for a leader during an
    /// election, and until this node has applied an applied outcome.
    pub(crate) async fn propose_anywhere(&self, command: Command) -> Result<Outcome, ProposeError> {
        let give_up = Instant::now() + PROPOSE_DEADLINE;
        loop {
            if self.raft_stopped() {
                return Err(ProposeError::Stopped);
            }
            let leader = self.raft().metrics().borrow().current_leader;
            let attempt = match leader {
                // Bounded here too: a leader cut off from its majority never commits.
                Some(l) if l == self.id() => {
                    let proposed = tokio::time::timeout_at(give_up, self.propose_here(command.clone())).await;
                    proposed.unwrap_or_else(|_| Err(ProposeError::Unavailable(UNCOMMITTED.into())))
                }
                Some(l) => self.forward(l, &command).await,
                None => Err(ProposeError::NotLeader { leader: None }),
            };
            match attempt {
                Ok(outcome) => {
                    self.wait_applied(&outcome, give_up).await;
                    return Ok(outcome);
                }
                Err(ProposeError::NotLeader { .. } | ProposeError::Unavailable(_))
                    if Instant::now() < give_up =>
                {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(ProposeError::NotLeader { .. }) => {
                    return Err(ProposeError::Unavailable(format!(
                        "no leader could take the write within {PROPOSE_DEADLINE:?}"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn forward(&self, leader: NodeId, command: &Command) -> Result<Outcome, ProposeError> {
        let wire = self.wire().ok_or(ProposeError::NotLeader { leader: Some(leader) })?;
        let address = self
            .address_of(leader)
            .ok_or_else(|| ProposeError::Unavailable(format!("the leader {leader} has no known address")))?;
        let started = std::time::Instant::now();
        let call = call::<_, Result<Outcome, ProposeError>>(
            &**wire,
            leader,
            &address,
            Rpc::Propose,
            command,
            FORWARD_TIMEOUT,
        );
        let answer =
            self.while_leader(leader, call).await?.map_err(|e| ProposeError::Unavailable(e.to_string()))?;
        tracing::trace!(leader, elapsed = ?started.elapsed(), "forwarded a proposal");
        answer
    }

    /// Runs a call to `leader`, given up as soon as this node learns of another leader (or
    /// of none): a call to a cut-off leader would otherwise stall until its deadline.
    async fn while_leader<T>(
        &self,
        leader: NodeId,
        call: impl std::future::Future<Output = T>,
    ) -> Result<T, ProposeError> {
        let mut metrics = self.raft().metrics();
        let changed = async move {
            loop {
                if metrics.borrow_and_update().current_leader != Some(leader) {
                    return;
                }
                if metrics.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        tokio::select! {
            answer = call => Ok(answer),
            () = changed => Err(ProposeError::NotLeader { leader: None }),
        }
    }

    /// Waits until this node has applied `outcome`'s event, so the caller reads its own
    /// write here. A node too slow to apply in time still answers: the write is committed.
    async fn wait_applied(&self, outcome: &Outcome, give_up: Instant) {
        let Outcome::Applied { position, .. } = outcome else { return };
        let mut head = self.archive().subscribe();
        let waited = tokio::time::timeout_at(give_up.max(Instant::now() + FORWARD_TIMEOUT), async {
            head.wait_for(|h| h >= position).await.is_ok()
        })
        .await;
        if !matches!(waited, Ok(true)) {
            tracing::warn!(%position, "a committed write was not applied here in time");
        }
    }

    /// Waits until a read on this node sees every write acknowledged anywhere before the
    /// call: the leader confirms its leadership and names its commit index, and this node
    /// applies up to it. Immediate on a single node.
    pub async fn read_barrier(&self) -> Result<(), ProposeError> {
        if self.wire().is_none() {
            return Ok(());
        }
        let give_up = Instant::now() + PROPOSE_DEADLINE;
        let index = self.read_index(give_up).await?;
        let left = give_up.saturating_duration_since(Instant::now());
        self.raft()
            .wait(Some(left))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map_err(|e| ProposeError::Unavailable(format!("waiting to apply the read index: {e}")))?;
        Ok(())
    }

    async fn read_index(&self, give_up: Instant) -> Result<u64, ProposeError> {
        let shared = self.read_index_state();
        let ticket = shared.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
        let unavailable = || ProposeError::Unavailable(format!("no read index within {PROPOSE_DEADLINE:?}"));
        let mut cached =
            tokio::time::timeout_at(give_up, shared.cached.lock()).await.map_err(|_| unavailable())?;
        if cached.0 >= ticket {
            return Ok(cached.1);
        }
        // Every reader that arrived so far is covered by an index asked for from now on.
        let covers = shared.arrivals.load(Ordering::SeqCst);
        loop {
            if self.raft_stopped() {
                return Err(ProposeError::Stopped);
            }
            let leader = self.raft().metrics().borrow().current_leader;
            // Every attempt ends by the reader's deadline, so queued readers never wait
            // behind calls that outlive theirs.
            let left = give_up.saturating_duration_since(Instant::now()).min(FORWARD_TIMEOUT);
            if left.is_zero() {
                return Err(unavailable());
            }
            let attempt = match leader {
                Some(l) if l == self.id() => {
                    match tokio::time::timeout(left, self.raft().get_read_log_id()).await {
                        Ok(Ok((read, _))) => Ok(read.map(|l| l.index).unwrap_or_default()),
                        Ok(Err(e)) => {
                            Err(not_leader_or(e.forward_to_leader().map(|f| f.leader_id), e.to_string()))
                        }
                        Err(_) => Err(unavailable()),
                    }
                }
                Some(l) => match (self.wire(), self.address_of(l)) {
                    (Some(wire), Some(address)) => {
                        let call = call::<_, Result<u64, ProposeError>>(
                            &**wire,
                            l,
                            &address,
                            Rpc::ReadIndex,
                            &(),
                            left,
                        );
                        match self.while_leader(l, call).await {
                            Ok(answer) => {
                                answer.unwrap_or_else(|e| Err(ProposeError::Unavailable(e.to_string())))
                            }
                            Err(e) => Err(e),
                        }
                    }
                    _ => Err(ProposeError::Unavailable(format!("the leader {l} has no known address"))),
                },
                None => Err(ProposeError::NotLeader { leader: None }),
            };
            match attempt {
                Ok(index) => {
                    *cached = (covers, index);
                    return Ok(index);
                }
                Err(ProposeError::NotLeader { .. } | ProposeError::Unavailable(_))
                    if Instant::now() < give_up =>
                {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Changes the membership on the leader, wherever it is asked.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), ProposeError> {
        let give_up = Instant::now() + PROPOSE_DEADLINE;
        loop {
            let leader = self.raft().metrics().borrow().current_leader;
            let attempt = match leader {
                Some(l) if l == self.id() => self.change_membership_here(change.clone()).await,
                Some(l) => match (self.wire(), self.address_of(l)) {
                    (Some(wire), Some(address)) => call::<_, Result<(), ProposeError>>(
                        &**wire,
                        l,
                        &address,
                        Rpc::ChangeMembership,
                        &change,
                        MEMBERSHIP_TIMEOUT,
                    )
                    .await
                    .unwrap_or_else(|e| Err(ProposeError::Unavailable(e.to_string()))),
                    _ => Err(ProposeError::Unavailable(format!("the leader {l} has no known address"))),
                },
                None => Err(ProposeError::NotLeader { leader: None }),
            };
            match attempt {
                Err(ProposeError::NotLeader { .. }) if Instant::now() < give_up => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
    }

    async fn change_membership_here(&self, change: MembershipChange) -> Result<(), ProposeError> {
        let raft = self.raft();
        let failed =
            |e: openraft::error::RaftError<NodeId, openraft::error::ClientWriteError<NodeId, BasicNode>>| {
                match e.forward_to_leader() {
                    Some(f) => ProposeError::NotLeader { leader: f.leader_id },
                    None => ProposeError::Raft(e.to_string()),
                }
            };
        match change {
            MembershipChange::Add { id, address } => {
                // Blocks until the learner has caught up with the leader's log.
                raft.add_learner(id, BasicNode::new(address), true).await.map_err(failed)?;
                raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(failed)?;
            }
            MembershipChange::Remove { id } => {
                // The membership read below is current only on a confirmed leader that
                // has applied everything it committed.
                raft.ensure_linearizable().await.map_err(|e| match e.forward_to_leader() {
                    Some(f) => ProposeError::NotLeader { leader: f.leader_id },
                    None => ProposeError::Raft(e.to_string()),
                })?;
                let (voters, learners): (BTreeSet<NodeId>, BTreeSet<NodeId>) = {
                    let metrics = raft.metrics().borrow().clone();
                    let membership = metrics.membership_config.membership();
                    (membership.voter_ids().collect(), membership.learner_ids().collect())
                };
                if !voters.contains(&id) && !learners.contains(&id) {
                    let members: Vec<String> = voters.union(&learners).map(|m| m.to_string()).collect();
                    return Err(ProposeError::Raft(format!(
                        "node {id} is not a member of the cluster (members: {})",
                        members.join(", ")
                    )));
                }
                if voters.contains(&id) {
                    raft.change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                        .await
                        .map_err(failed)?;
                } else {
                    raft.change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                        .await
                        .map_err(failed)?;
                }
            }
        }
        Ok(())
    }

    /// Makes the membership name `address` for this node: a data dir that began as a
    /// single node knows itself as "local", which its new peers cannot reach. Only the
    /// leader can change it; a node that is not the leader within `wait` leaves it.
    pub async fn set_own_address(&self, address: &str, wait: Duration) -> Result<(), ProposeError> {
        let leads = self
            .raft()
            .wait(Some(wait))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .is_ok_and(|m| m.current_leader == Some(self.id()));
        // Only the placeholder of a former single node is replaced, and never by an
        // address peers cannot call (0.0.0.0).
        let known = self.address_of(self.id());
        let unspecified = address.parse::<std::net::SocketAddr>().map_or(true, |a| a.ip().is_unspecified());
        if !leads || known.as_deref() != Some("local") || unspecified {
            return Ok(());
        }
        tracing::info!(from = ?known, to = address, "this node's cluster address changed; updating the membership");
        self.raft()
            .change_membership(
                ChangeMembers::SetNodes(BTreeMap::from([(self.id(), BasicNode::new(address))])),
                true,
            )
            .await
            .map_err(|e| ProposeError::Raft(e.to_string()))?;
        Ok(())
    }

    /// Whether this node leads the cluster now (work that must run once per cluster runs
    /// on the leader only).
    /// Whether this node leads (a node whose Raft stopped keeps its last metrics, which
    /// may still name it).
    pub fn is_leader(&self) -> bool {
        let m = self.raft().metrics().borrow().clone();
        m.running_state.is_ok() && m.current_leader == Some(self.id())
    }

    /// Whether this node's Raft has stopped (shut down, a storage failure, or left after
    /// losing durability): nothing it could ask of Raft will come.
    fn raft_stopped(&self) -> bool {
        self.raft().metrics().borrow().running_state.is_err()
    }
}

/// NotLeader when the error names a leader to ask, otherwise Unavailable.
fn not_leader_or(leader: Option<Option<NodeId>>, text: String) -> ProposeError {
    match leader {
        Some(leader) => ProposeError::NotLeader { leader },
        None => ProposeError::Unavailable(text),
    }
}
