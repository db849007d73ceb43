//! A seeded simulation of a three-node cluster in one process. The nodes are the real
//! log (openraft over fjall, the state machine, forwarding, read index, snapshot pulls
//! through `Rpc::ArchiveRange`); only the wire between them is simulated. It drops calls,
//! delays them, loses answers after delivery, cuts links one way or both, and stops and
//! restarts nodes, while clients write through random nodes and read their writes back
//! through other ones.
//!
//! Checked for every seed:
//! - at most one leader per term;
//! - at every step, every archive is a prefix of the longest;
//! - every acknowledged command is archived, once, at the position its answer named;
//! - no command is archived twice, and nothing is archived that no client sent;
//! - a read after a read barrier on any node sees every write acknowledged before it;
//! - after the faults stop, every node holds the same archive.
//!
//! Not simulated: a crash that loses what the OS had not written (a stopped node syncs
//! and closes its database; kill -9 is left to the multi-process tests), and relaxed
//! durability. Leadership is sampled from each node's metrics, so a leader that lasted
//! only between two samples is not seen.
//!
//! The seed fixes the plan (fault rates, the steps, the clients' choices); thread timing
//! still varies between runs, so a failing seed points at a schedule rather than replaying
//! it exactly. `RUCKET_SIM_SEEDS=1-200` runs more seeds than the default eight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rucket_log::{MembershipChange, Node, NodeConfig, NodeId, Rpc, Wire, WireError, WireFuture};
use rucket_schemas::{BucketName, Envelope, EventId, LogPosition, ObjectKey, Outcome};

use crate::support::{create_bucket, put};

const NODES: NodeId = 3;
const BUCKET: &str = "sim";
/// How long the cluster may take to settle once the faults stop.
const SETTLE: Duration = Duration::from_secs(40);
/// How long a client waits for one attempt before it tries again elsewhere.
const ATTEMPT: Duration = Duration::from_secs(2);
/// Clients writing at once.
const CLIENTS: u64 = 6;
/// Raft entries between snapshots.
const SNAPSHOT_EVERY: u64 = 20;

/// How often the wire misbehaves, drawn once per seed.
#[derive(Clone, Copy, Debug)]
struct Faults {
    drop: f64,
    lose_answer: f64,
    max_delay_ms: u64,
}

/// What happens between two steps of the plan.
#[derive(Clone, Copy, Debug)]
enum Step {
    Calm,
    Stop(NodeId),
    Restart,
    /// No call from the first node reaches the second.
    CutOneWay(NodeId, NodeId),
    /// The node is cut off from both others, both ways.
    Isolate(NodeId),
    Heal,
}

/// The simulated network: the running nodes, the cut links, and whether faults are on.
struct Net {
    nodes: Mutex<BTreeMap<NodeId, Arc<Node>>>,
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
    faults: Faults,
    calm: AtomicBool,
    /// Calls being served: (callee, call) → how many, for the report of a node held too long.
    serving: Mutex<BTreeMap<(NodeId, &'static str), usize>>,
    /// When set, how many more archive pages peers may serve; past that, none.
    pages_left: Mutex<Option<u64>>,
    /// The bytes of archive pages served so far.
    page_bytes: AtomicU64,
}

impl Net {
    fn node(&self, id: NodeId) -> Option<Arc<Node>> {
        self.nodes.lock().unwrap().get(&id).cloned()
    }

    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.lock().unwrap().contains(&(from, to))
    }

    fn live(&self) -> Vec<Arc<Node>> {
        self.nodes.lock().unwrap().values().cloned().collect()
    }
}

/// One node instance's end of the wire. A stopped instance's calls fail, so that work it
/// started before it stopped cannot reach its peers.
struct SimWire {
    from: NodeId,
    net: Arc<Net>,
    alive: Arc<AtomicBool>,
    rng: Mutex<StdRng>,
}

enum Fate {
    Lost,
    /// Neither delivered nor refused: the caller waits out its deadline.
    Hung,
    Delivered {
        delay_in: Duration,
        delay_out: Duration,
        lose_answer: bool,
    },
}

impl SimWire {
    fn fate(&self) -> Fate {
        let f = self.net.faults;
        if self.net.calm.load(Ordering::Relaxed) {
            return Fate::Delivered {
                delay_in: Duration::ZERO,
                delay_out: Duration::ZERO,
                lose_answer: false,
            };
        }
        let mut rng = self.rng.lock().unwrap();
        if rng.random_bool(f.drop) {
            return if rng.random_bool(0.2) { Fate::Hung } else { Fate::Lost };
        }
        let mut delay = || Duration::from_millis(rng.random_range(0..=f.max_delay_ms));
        let (delay_in, delay_out) = (delay(), delay());
        Fate::Delivered { delay_in, delay_out, lose_answer: rng.random_bool(f.lose_answer) }
    }
}

impl Wire for SimWire {
    fn call(
        &self,
        target: NodeId,
        _address: &str,
        rpc: Rpc,
        body: Vec<u8>,
        deadline: Duration,
    ) -> WireFuture {
        let fate = self.fate();
        let (from, net, alive) = (self.from, Arc::clone(&self.net), Arc::clone(&self.alive));
        let unreachable = move |why: &str| WireError::Unreachable { node: target, reason: why.to_owned() };
        Box::pin(async move {
            let attempt = async {
                let (delay_in, delay_out, lose_answer) = match fate {
                    Fate::Lost => return Err(unreachable("the call was dropped")),
                    Fate::Hung => std::future::pending().await,
                    Fate::Delivered { delay_in, delay_out, lose_answer } => {
                        (delay_in, delay_out, lose_answer)
                    }
                };
                tokio::time::sleep(delay_in).await;
                if !alive.load(Ordering::Relaxed) || net.is_cut(from, target) {
                    return Err(unreachable("the link is cut"));
                }
                let node = net.node(target).ok_or_else(|| unreachable("the node is down"))?;
                if rpc == Rpc::ArchiveRange {
                    let mut left = net.pages_left.lock().unwrap();
                    match left.as_mut() {
                        Some(0) => return Err(unreachable("no more pages")),
                        Some(n) => *n -= 1,
                        None => {}
                    }
                }
                // The callee finishes its work even when the caller stops waiting, as a
                // server does.
                *net.serving.lock().unwrap().entry((target, rpc.name())).or_default() += 1;
                let counted = Arc::clone(&net);
                let served = tokio::spawn(async move {
                    let answer = node.serve_rpc(rpc, &body).await;
                    *counted.serving.lock().unwrap().entry((target, rpc.name())).or_default() -= 1;
                    answer
                });
                let answer = served.await.map_err(|e| unreachable(&format!("the callee failed: {e}")))?;
                if let (Rpc::ArchiveRange, Ok(page)) = (rpc, &answer) {
                    net.page_bytes.fetch_add(page.len() as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(delay_out).await;
                if lose_answer || net.is_cut(target, from) || !alive.load(Ordering::Relaxed) {
                    // Delivered, but the caller never hears back.
                    return Err(WireError::Timeout { node: target, after: deadline });
                }
                answer.map_err(|reason| WireError::Refused { node: target, reason })
            };
            tokio::time::timeout(deadline, attempt)
                .await
                .unwrap_or(Err(WireError::Timeout { node: target, after: deadline }))
        })
    }
}

/// What the run observed, checked at the end.
#[derive(Default)]
struct Record {
    /// term → the node that led it.
    leaders: BTreeMap<u64, NodeId>,
    violations: Vec<String>,
    /// Every command a client sent: event id → the key it writes.
    sent: BTreeMap<EventId, String>,
    /// Acknowledged commands: event id → the position their answer named.
    acknowledged: BTreeMap<EventId, LogPosition>,
    /// Reads after a barrier that found the acknowledged write.
    reads_checked: u64,
    /// Attempts whose outcome the client did not learn (retried with the same command).
    unknown: u64,
    /// Snapshots installed by the nodes that stopped.
    installs: u64,
}

struct Sim {
    seed: u64,
    root: tempfile::TempDir,
    net: Arc<Net>,
    record: Arc<Mutex<Record>>,
    /// The wire flag of each running instance.
    alive: BTreeMap<NodeId, Arc<AtomicBool>>,
    /// Node instances started so far (each gets a random stream of its own).
    starts: u64,
}

impl Sim {
    /// A calm network (faults off until told) and nodes 1 to 3 running on it.
    async fn start(seed: u64, faults: Faults) -> Self {
        let net = Arc::new(Net {
            nodes: Mutex::default(),
            cut: Mutex::default(),
            faults,
            calm: AtomicBool::new(true),
            serving: Mutex::default(),
            pages_left: Mutex::default(),
            page_bytes: AtomicU64::new(0),
        });
        let mut sim = Sim {
            seed,
            root: tempfile::tempdir().unwrap(),
            net,
            record: Arc::default(),
            alive: BTreeMap::new(),
            starts: 0,
        };
        for id in 1..=NODES {
            sim.start_node(id).await;
        }
        sim
    }

    async fn start_node(&mut self, id: NodeId) {
        let config = NodeConfig {
            node_id: id,
            bootstrap_single: false,
            // A node past the first three joins later, as a learner.
            members: (1..=NODES).filter(|_| id <= NODES).map(|n| (n, format!("n{n}"))).collect(),
            heartbeat_ms: 30,
            election_timeout_ms: (150, 300),
            // Small, so that snapshots, purges and catch-up through a snapshot all happen.
            snapshot_every: SNAPSHOT_EVERY,
            // The liveness pings run too (they share the wire's faults).
            ping_peers: true,
            ..NodeConfig::single(self.root.path().join(format!("n{id}")))
        };
        let alive = Arc::new(AtomicBool::new(true));
        let wire = SimWire {
            from: id,
            net: Arc::clone(&self.net),
            alive: Arc::clone(&alive),
            rng: Mutex::new(StdRng::seed_from_u64(self.seed * 1_000 + self.starts)),
        };
        self.starts += 1;
        let node = Node::open_cluster(config, Arc::new(wire)).await.expect("open node");
        watch_leadership(&node, Arc::clone(&self.record));
        self.net.nodes.lock().unwrap().insert(id, Arc::new(node));
        self.alive.insert(id, alive);
    }

    /// Stops a node the way a crash would look to its peers: its calls fail at once and
    /// it stops answering; then its Raft stops and its files are released.
    /// Returns the last Raft index the node held.
    async fn stop_node(&mut self, id: NodeId) -> u64 {
        self.alive[&id].store(false, Ordering::Relaxed);
        let node = self.net.nodes.lock().unwrap().remove(&id).expect("stopping a running node");
        self.record.lock().unwrap().installs += *node.snapshot_installs().borrow();
        node.shutdown().await.expect("node stops");
        // Calls and clients still holding the node finish within their deadlines.
        let released = Instant::now() + Duration::from_secs(30);
        while Arc::strong_count(&node) > 1 {
            assert!(
                Instant::now() < released,
                "seed {}: node {id} still in use 30 s after it stopped; calls being served: {:?}",
                self.seed,
                self.net.serving.lock().unwrap().iter().filter(|(_, n)| **n > 0).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Read once nothing can append any more.
        let last_index = node.raft().metrics().borrow().last_log_index.unwrap_or_default();
        last_index
    }

    fn down(&self) -> Option<NodeId> {
        let running = self.net.nodes.lock().unwrap();
        (1..=NODES).find(|id| !running.contains_key(id))
    }

    /// Every archive is a prefix of the longest.
    fn check_prefixes(&self, when: &str) {
        let dumps: Vec<(NodeId, Vec<Envelope>)> =
            self.net.live().iter().map(|n| (n.id(), archive_of(n, self.seed))).collect();
        let (longest_id, longest) = dumps.iter().max_by_key(|(_, d)| d.len()).expect("a running node");
        for (id, dump) in &dumps {
            if let Some(at) = dump.iter().zip(longest).position(|(a, b)| a != b) {
                panic!(
                    "seed {}, {when}: node {id}'s archive differs from node {longest_id}'s at position {}",
                    self.seed,
                    at + 1
                );
            }
        }
    }
}

/// The archive of a node, checked to be dense from position 1.
fn archive_of(node: &Node, seed: u64) -> Vec<Envelope> {
    let events = node.archive().read_after(LogPosition(0), usize::MAX).expect("read archive");
    events
        .into_iter()
        .enumerate()
        .map(|(i, (position, event))| {
            assert_eq!(position.0, i as u64 + 1, "seed {seed}: node {}'s archive has a gap", node.id());
            event
        })
        .collect()
}

/// Records each term's leader as the node itself reports it.
fn watch_leadership(node: &Node, record: Arc<Mutex<Record>>) {
    let mut metrics = node.raft().metrics();
    tokio::spawn(async move {
        loop {
            {
                let m = metrics.borrow_and_update();
                if m.state == ServerState::Leader {
                    let mut record = record.lock().unwrap();
                    let first = *record.leaders.entry(m.current_term).or_insert(m.id);
                    if first != m.id {
                        let v = format!("term {} has two leaders: {first} and {}", m.current_term, m.id);
                        record.violations.push(v);
                    }
                }
            }
            if metrics.changed().await.is_err() {
                break;
            }
        }
    });
}

/// A running node at random.
fn pick(net: &Net, rng: &mut StdRng) -> Arc<Node> {
    let live = net.live();
    Arc::clone(&live[rng.random_range(0..live.len())])
}

/// One client: writes keys of its own through random nodes, retrying a write whose
/// outcome it did not learn with the same command, and reads each acknowledged write
/// back through a random node after a read barrier.
async fn client(net: Arc<Net>, record: Arc<Mutex<Record>>, stop: Arc<AtomicBool>, seed: u64, n: u64) {
    let mut rng = StdRng::seed_from_u64(seed * 1_000 + 100 + n);
    let bucket = BucketName::parse(BUCKET).unwrap();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let seq = (n + 1) * 1_000_000 + i;
        let key = format!("c{n}/{i}");
        let command = put(seq, BUCKET, &key, format!("{seed}:{key}").as_bytes());
        record.lock().unwrap().sent.insert(command.event_id, key.clone());
        for _attempt in 0..4 {
            // Only the chosen node is held, not every running one.
            let node = pick(&net, &mut rng);
            let answer = tokio::time::timeout(ATTEMPT, node.propose(command.clone())).await;
            match answer {
                Ok(Ok(Outcome::Applied { position, .. })) => {
                    record.lock().unwrap().acknowledged.insert(command.event_id, position);
                    let reader = pick(&net, &mut rng);
                    if let Ok(Ok(())) = tokio::time::timeout(ATTEMPT, reader.read_barrier()).await {
                        let object = ObjectKey::parse(&key).unwrap();
                        let found =
                            reader.projections().current_object(&bucket, &object).expect("read views");
                        let mut record = record.lock().unwrap();
                        match found {
                            Some(r) if r.etag == format!("{seq:032x}") => record.reads_checked += 1,
                            other => record.violations.push(format!(
                                "node {} read {key} after a barrier and found {:?}, acknowledged at {position}",
                                reader.id(),
                                other.map(|r| r.etag)
                            )),
                        }
                    }
                    break;
                }
                Ok(Ok(other)) => {
                    record.lock().unwrap().violations.push(format!("{key} was answered {other:?}"));
                    break;
                }
                // The outcome is unknown: the same command goes again, maybe elsewhere.
                Ok(Err(_)) | Err(_) => record.lock().unwrap().unknown += 1,
            }
        }
    }
}

/// Runs one seed; returns the snapshots its nodes installed.
async fn run(seed: u64) -> u64 {
    let mut plan = StdRng::seed_from_u64(seed);
    let faults = Faults {
        drop: plan.random_range(0.0..0.08),
        lose_answer: plan.random_range(0.0..0.05),
        max_delay_ms: plan.random_range(0..15),
    };
    let mut sim = Sim::start(seed, faults).await;
    let net = Arc::clone(&sim.net);
    let setup = create_bucket(1, BUCKET);
    sim.record.lock().unwrap().sent.insert(setup.event_id, format!("bucket {BUCKET}"));
    propose_until_applied(&net, setup, seed).await;
    net.calm.store(false, Ordering::Relaxed);

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(Arc::clone(&net), Arc::clone(&sim.record), Arc::clone(&stop), seed, n)))
        .collect();
    let mut steps = Vec::new();
    for _ in 0..10 {
        let node = plan.random_range(1..=NODES);
        let step = match plan.random_range(0..6) {
            0 => Step::Calm,
            1 if sim.down().is_none() => Step::Stop(node),
            2 if sim.down().is_some() => Step::Restart,
            3 => Step::CutOneWay(node, node % NODES + 1),
            4 => Step::Isolate(node),
            _ => Step::Heal,
        };
        steps.push(step);
        match step {
            Step::Calm => {}
            Step::Stop(id) => {
                sim.stop_node(id).await;
            }
            Step::Restart => sim.start_node(sim.down().unwrap()).await,
            Step::CutOneWay(a, b) => {
                net.cut.lock().unwrap().insert((a, b));
            }
            Step::Isolate(id) => {
                let mut cut = net.cut.lock().unwrap();
                for other in (1..=NODES).filter(|o| *o != id) {
                    cut.insert((id, other));
                    cut.insert((other, id));
                }
            }
            Step::Heal => net.cut.lock().unwrap().clear(),
        }
        tokio::time::sleep(Duration::from_millis(plan.random_range(150..400))).await;
        sim.check_prefixes(&format!("after {step:?}"));
    }

    // The faults stop; every node runs again and the cluster settles.
    net.calm.store(true, Ordering::Relaxed);
    net.cut.lock().unwrap().clear();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    if let Some(id) = sim.down() {
        sim.start_node(id).await;
    }
    // A node far behind catches up, most often through a snapshot: it is stopped while the
    // others write until each has purged its log past what it held. (openraft may report a
    // purge before the entries are gone, so the node may still catch up from the log: the
    // installs are counted over all seeds of a test.)
    let lagging = plan.random_range(1..=NODES);
    let held = sim.stop_node(lagging).await;
    for i in 0.. {
        let command = put(9_000_000 + i, BUCKET, &format!("behind/{i}"), b"written while a node was down");
        sim.record.lock().unwrap().sent.insert(command.event_id, format!("behind/{i}"));
        let position = propose_until_applied(&net, command.clone(), seed).await;
        sim.record.lock().unwrap().acknowledged.insert(command.event_id, position);
        let purged = |n: &Arc<Node>| n.raft().metrics().borrow().purged.map(|l| l.index);
        if net.live().iter().all(|n| purged(n) > Some(held)) {
            break;
        }
        assert!(i < 50 * SNAPSHOT_EVERY, "seed {seed}: the log was never purged past index {held}");
    }
    sim.start_node(lagging).await;
    let last_write = create_bucket(2, "settled");
    sim.record.lock().unwrap().sent.insert(last_write.event_id, "bucket settled".into());
    let last = propose_until_applied(&net, last_write, seed).await;
    let settled = Instant::now() + SETTLE;
    for node in net.live() {
        let mut head = node.archive().subscribe();
        let remaining = settled.saturating_duration_since(Instant::now());
        tokio::time::timeout(remaining, head.wait_for(|h| *h >= last))
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: node {} did not catch up after {steps:?}", node.id()))
            .unwrap();
    }

    // Checked in a scope of its own: the record's lock is not held across the stops below.
    {
        let record = sim.record.lock().unwrap();
        assert!(record.violations.is_empty(), "seed {seed} after {steps:?}: {:#?}", record.violations);
        sim.check_prefixes("after settling");
        let archives: Vec<Vec<Envelope>> = net.live().iter().map(|n| archive_of(n, seed)).collect();
        for (i, archive) in archives.iter().enumerate() {
            assert_eq!(archive, &archives[0], "seed {seed}: archive {i} differs after settling");
        }
        let archive = &archives[0];
        let mut archived: BTreeMap<EventId, u64> = BTreeMap::new();
        for (i, event) in archive.iter().enumerate() {
            let kind = event.open().expect("event decodes");
            let is_membership = matches!(kind, rucket_schemas::StorageEvent::MembershipChanged(_));
            assert!(
                is_membership || record.sent.contains_key(&event.event_id),
                "seed {seed}: position {} holds an event nobody sent: {kind:?}",
                i + 1
            );
            if let Some(first) = archived.insert(event.event_id, i as u64 + 1) {
                panic!("seed {seed}: event {:?} archived twice, at {first} and {}", event.event_id, i + 1);
            }
        }
        for (id, position) in &record.acknowledged {
            assert_eq!(
                archived.get(id),
                Some(&position.0),
                "seed {seed}: the acknowledged write {} is not at the position its answer named",
                record.sent[id]
            );
        }
        assert!(!record.acknowledged.is_empty(), "seed {seed}: no write was acknowledged after {steps:?}");
        assert!(record.reads_checked > 0, "seed {seed}: no read after a barrier succeeded");
        assert!(!record.leaders.is_empty());
        println!(
        "seed {seed}: {faults:?}, {} sent, {} acknowledged, {} unknown, {} reads checked, {} terms, {} events, steps {steps:?}",
        record.sent.len(),
        record.acknowledged.len(),
        record.unknown,
        record.reads_checked,
        record.leaders.len(),
        archive.len()
    );
    }
    for id in 1..=NODES {
        sim.stop_node(id).await;
    }
    let installs = sim.record.lock().unwrap().installs;
    println!("seed {seed}: {installs} snapshots installed, {:?} in all", started.elapsed());
    installs
}

/// Proposes through any node until the command is applied; returns its position.
async fn propose_until_applied(net: &Net, command: rucket_schemas::Command, seed: u64) -> LogPosition {
    let give_up = Instant::now() + SETTLE;
    loop {
        for node in net.live() {
            if let Ok(Ok(Outcome::Applied { position, .. })) =
                tokio::time::timeout(Duration::from_secs(5), node.propose(command.clone())).await
            {
                return position;
            }
        }
        if Instant::now() >= give_up {
            // What each node's Raft thought, to tell a stuck election from a stuck leader.
            let metrics: Vec<String> = net
                .live()
                .iter()
                .map(|n| format!("node {}: {}", n.id(), *n.raft().metrics().borrow()))
                .collect();
            panic!("seed {seed}: no node took a write within {SETTLE:?} of calm; {metrics:#?}");
        }
    }
}

/// The seeds to run: `RUCKET_SIM_SEEDS` as `A-B`, or 1-8.
fn seeds() -> Vec<u64> {
    let range = std::env::var("RUCKET_SIM_SEEDS").unwrap_or_else(|_| "1-8".into());
    let (a, b) = range.split_once('-').unwrap_or((&range, &range));
    let parse = |s: &str| s.trim().parse::<u64>().expect("RUCKET_SIM_SEEDS is A-B");
    (parse(a)..=parse(b)).collect()
}

// Two tests split the seeds so the harness runs two simulations at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_faults_keep_every_promise_a() {
    let mut installs = 0;
    for seed in seeds().into_iter().step_by(2) {
        installs += run(seed).await;
    }
    assert!(installs > 0, "no node caught up through a snapshot in any seed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_faults_keep_every_promise_b() {
    let mut installs = 0;
    for seed in seeds().into_iter().skip(1).step_by(2) {
        installs += run(seed).await;
    }
    assert!(installs > 0 || seeds().len() < 2, "no node caught up through a snapshot in any seed");
}

/// A node that joins empty copies the archive page by page without folding it, then folds
/// it whole; stopped halfway through the copy, it keeps what it copied, pulls only the
/// rest and folds views equal to a fresh fold of its archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_empty_copies_the_archive_then_folds_it_and_resumes_a_stopped_copy() {
    let mut sim = Sim::start(0, Faults { drop: 0.0, lose_answer: 0.0, max_delay_ms: 0 }).await;
    let net = Arc::clone(&sim.net);
    propose_until_applied(&net, create_bucket(1, BUCKET), 0).await;
    // About 26 MB of bodies (several pages of a pull) and enough entries that every log
    // is purged far past the start.
    let mut last = LogPosition(0);
    for i in 0..200u64 {
        let body = if i % 8 == 0 { vec![i as u8; 1 << 20] } else { format!("small {i}").into_bytes() };
        last = propose_until_applied(&net, put(10 + i, BUCKET, &format!("k{i:03}"), &body), 0).await;
    }
    for node in net.live() {
        let mut head = node.archive().subscribe();
        tokio::time::timeout(SETTLE, head.wait_for(|h| *h >= last)).await.expect("replicated").unwrap();
    }

    // Node 4 joins empty; its peers serve it four pages only.
    *net.pages_left.lock().unwrap() = Some(4);
    net.page_bytes.store(0, Ordering::Relaxed);
    sim.start_node(4).await;
    let first = net.node(1).unwrap();
    let add = MembershipChange::Add { id: 4, address: "n4".into() };
    let joined = tokio::spawn(async move { first.change_membership(add).await });
    let fourth = net.node(4).unwrap();
    let mut head = fourth.archive().subscribe();
    tokio::time::timeout(SETTLE, head.wait_for(|h| h.0 > 0)).await.expect("a page copied").unwrap();
    let deadline = Instant::now() + SETTLE;
    while *net.pages_left.lock().unwrap() != Some(0) || !fourth.snapshot_installing() {
        assert!(Instant::now() < deadline, "node 4 never pulled its four pages");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let copied = fourth.archive().head();
    assert!(copied.0 > 1 && copied < last, "pages are part of the archive: {copied} of {last}");
    // Copied, not folded: the views wait for the whole archive.
    assert_eq!(fourth.projections().applied_position().unwrap(), LogPosition(0));
    let pulled_first = net.page_bytes.load(Ordering::Relaxed);
    drop((fourth, head));
    sim.stop_node(4).await;

    // Started again with its peers serving, it finishes the install before it opens.
    *net.pages_left.lock().unwrap() = None;
    sim.start_node(4).await;
    joined.await.unwrap().expect("node 4 joins");
    let fourth = net.node(4).unwrap();
    let mut head = fourth.archive().subscribe();
    tokio::time::timeout(SETTLE, head.wait_for(|h| *h >= last)).await.expect("node 4 caught up").unwrap();
    let first = net.node(1).unwrap();
    let ours = archive_of(&fourth, 0);
    assert_eq!(ours[..], archive_of(&first, 0)[..ours.len()]);
    // Only what it lacked travelled again: less than the whole archive (a page also
    // carries the record it follows, for the check of the asker's head).
    let archive_bytes: u64 = first
        .archive()
        .read_after(LogPosition(0), usize::MAX)
        .unwrap()
        .iter()
        .map(|(_, e)| e.payload.len() as u64)
        .sum();
    let pulled_again = net.page_bytes.load(Ordering::Relaxed) - pulled_first;
    assert!(
        pulled_again < archive_bytes,
        "{pulled_again} bytes pulled after the restart, {pulled_first} before, of {archive_bytes}"
    );
    // Its views are the fold of its archive, and it serves what was written.
    let check = |node: &Node, when: &str| {
        let scratch = tempfile::tempdir().unwrap();
        let report =
            rucket_log::replay::verify_live(node.projections(), node.archive(), scratch.path()).unwrap();
        assert!(report.differences.is_empty(), "{when}: {:?}", report.differences);
        assert!(report.live_applied >= last, "{when}: {} < {last}", report.live_applied);
        let bucket = BucketName::parse(BUCKET).unwrap();
        let found = node.projections().current_object(&bucket, &ObjectKey::parse("k199").unwrap()).unwrap();
        assert_eq!(found.map(|r| r.etag), Some(format!("{:032x}", 10 + 199)), "{when}");
    };
    check(&fourth, "after the install");
    // The views written as tables are still there after another start (nothing the
    // journal replays at an open empties them).
    drop((fourth, head));
    sim.stop_node(4).await;
    sim.start_node(4).await;
    let fourth = net.node(4).unwrap();
    check(&fourth, "after a restart");
    drop((first, fourth));
    for id in 1..=NODES + 1 {
        sim.stop_node(id).await;
    }
}
