//! A three-node in-process cluster: replication, loss of the leader, re-election, and
//! no committed event lost.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::BasicNode;
use rucket_log::{Node, NodeConfig, NodeId};
use rucket_schemas::{LogPosition, Outcome};

use crate::support::{close, create_bucket, put, Router};

const WAIT: Duration = Duration::from_secs(15);

async fn start(router: &Router, root: &std::path::Path, id: NodeId) -> Node {
    let config = NodeConfig {
        node_id: id,
        bootstrap_single: false,
        heartbeat_ms: 30,
        election_timeout_ms: (150, 300),
        ..NodeConfig::single(root.join(format!("n{id}")))
    };
    let node = Node::open(config, router.clone()).await.expect("open node");
    router.rafts.lock().unwrap().insert(id, node.raft().clone());
    node
}

/// Starts nodes 1, 2 and 3 and forms them into one cluster.
async fn form_three(router: &Router, root: &std::path::Path) -> BTreeMap<NodeId, Node> {
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(router, root, id).await);
    }
    let members: BTreeMap<NodeId, BasicNode> =
        (1..=3).map(|id| (id, BasicNode::new(format!("n{id}")))).collect();
    nodes[&1].raft().initialize(members).await.expect("initialize");
    nodes
}

async fn leader_of(nodes: &BTreeMap<NodeId, Node>) -> NodeId {
    let any = nodes.values().next().unwrap();
    let metrics = any
        .raft()
        .wait(Some(WAIT))
        .metrics(|m| m.current_leader.is_some_and(|l| nodes.contains_key(&l)), "a live leader")
        .await
        .expect("leader elected");
    metrics.current_leader.unwrap()
}

async fn wait_head(node: &Node, head: LogPosition) {
    let mut rx = node.archive().subscribe();
    tokio::time::timeout(WAIT, rx.wait_for(|h| *h >= head)).await.expect("replicated in time").unwrap();
}

fn archive_dump(node: &Node) -> Vec<(u64, String)> {
    node.archive()
        .read_after(LogPosition(0), 10_000)
        .unwrap()
        .into_iter()
        .map(|(p, e)| (p.0, format!("{:?}", e.open().unwrap())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_survives_the_loss_of_its_leader() {
    let root = tempfile::tempdir().unwrap();
    let router = Router::default();
    let mut nodes = form_three(&router, root.path()).await;

    let leader = leader_of(&nodes).await;
    nodes[&leader].propose(create_bucket(1, "replicated")).await.unwrap();
    for i in 0..20 {
        let outcome = nodes[&leader].propose(put(10 + i, "replicated", &format!("before-{i}"), b"v")).await;
        assert!(matches!(outcome, Ok(Outcome::Applied { .. })), "{outcome:?}");
    }
    let head = nodes[&leader].archive().head();
    // The cluster's formation is archived first: three voters.
    assert_eq!(head, LogPosition(22));
    let formed = nodes[&leader].archive().get(LogPosition(1)).unwrap().unwrap().open().unwrap();
    match formed {
        rucket_schemas::StorageEvent::MembershipChanged(m) => {
            assert_eq!(m.voters.iter().map(|v| v.id).collect::<Vec<_>>(), [1, 2, 3]);
            assert_eq!(m.voters[1].address, "n2");
        }
        other => panic!("position 1 is {other:?}"),
    }
    for node in nodes.values() {
        wait_head(node, head).await;
    }

    // A follower refuses proposals and names the leader.
    let follower = *nodes.keys().find(|id| **id != leader).unwrap();
    let refused = nodes[&follower].propose(put(99, "replicated", "nope", b"v")).await;
    assert_eq!(refused, Err(rucket_log::ProposeError::NotLeader { leader: Some(leader) }));

    // Kill the leader: cut it off and stop it.
    router.rafts.lock().unwrap().remove(&leader);
    let old = nodes.remove(&leader).unwrap();
    close(old).await;

    let new_leader = leader_of(&nodes).await;
    assert_ne!(new_leader, leader);
    for i in 0..20 {
        let outcome =
            nodes[&new_leader].propose(put(100 + i, "replicated", &format!("after-{i}"), b"v")).await;
        assert!(matches!(outcome, Ok(Outcome::Applied { .. })), "{outcome:?}");
    }
    let head = nodes[&new_leader].archive().head();
    assert_eq!(head, LogPosition(42), "no committed event was lost or repeated");

    // The old leader restarts from its disk and catches up to the same archive.
    nodes.insert(leader, start(&router, root.path(), leader).await);
    for node in nodes.values() {
        wait_head(node, head).await;
    }
    let reference = archive_dump(&nodes[&new_leader]);
    assert_eq!(reference.len(), 42);
    for (id, node) in &nodes {
        assert_eq!(archive_dump(node), reference, "node {id} diverged");
    }
    for (_, node) in nodes {
        close(node).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_make_writes_durable_leaves_and_the_others_go_on() {
    let root = tempfile::tempdir().unwrap();
    let router = Router::default();
    let mut nodes = form_three(&router, root.path()).await;
    let leader = leader_of(&nodes).await;
    nodes[&leader].propose(create_bucket(1, "durable")).await.unwrap();

    // An fsync fails on the leader (as a relaxed-mode or collector fsync would report it).
    nodes[&leader].durability().record_failure("relaxed fsync", &"injected EIO");
    let refused = nodes[&leader].propose(put(2, "durable", "refused", b"v")).await;
    assert!(matches!(refused, Err(rucket_log::ProposeError::NotDurable { .. })), "{refused:?}");
    // It stops taking part in Raft, so the others elect a leader that can write.
    nodes[&leader]
        .raft()
        .wait(Some(WAIT))
        .metrics(|m| m.running_state.is_err(), "raft stopped")
        .await
        .expect("the failed leader leaves Raft");
    assert!(!nodes[&leader].is_leader(), "a node that left Raft does not call itself the leader");
    assert_eq!(
        nodes[&leader].readiness(),
        Err(rucket_log::NotReady::NotDurable("relaxed fsync failed: injected EIO".into()))
    );
    let failed = nodes.remove(&leader).unwrap();
    let new_leader = leader_of(&nodes).await;
    assert_ne!(new_leader, leader);
    let outcome = nodes[&new_leader].propose(put(3, "durable", "after", b"v")).await;
    assert!(matches!(outcome, Ok(Outcome::Applied { .. })), "{outcome:?}");
    close(failed).await;
    for (_, node) in nodes {
        close(node).await;
    }
}
