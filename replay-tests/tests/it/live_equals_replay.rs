//! Property: random command sequences applied by a real log node (Raft, state machine,
//! archive) leave projections equal to a fresh fold of the node's archive.

use std::time::Duration;

use proptest::prelude::*;
use rucket_log::{replay, NoPeers, Node, NodeConfig};
use rucket_schemas::WriteCondition;

use crate::scenarios::{Script, Step};

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Put(usize, usize, u64, bool),
    Delete(usize, usize),
    DeleteBucket(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Create),
        (0..3usize, 0..6usize, prop_oneof![0..100u64, 5_000..20_000u64], any::<bool>())
            .prop_map(|(b, k, s, c)| Op::Put(b, k, s, c)),
        (0..3usize, 0..6usize).prop_map(|(b, k)| Op::Delete(b, k)),
        (0..3usize).prop_map(Op::DeleteBucket),
    ]
}

const BUCKETS: [&str; 3] = ["one", "two", "three"];

fn script(ops: &[Op]) -> Script {
    let mut s = Script::default();
    for op in ops {
        match op {
            Op::Create(b) => s.create("alice", BUCKETS[*b], false),
            Op::Put(b, k, size, conditional) => {
                let condition =
                    if *conditional { WriteCondition::IfNoneMatch } else { WriteCondition::Always };
                s.put("alice", BUCKETS[*b], &format!("k{k}"), *size, condition)
            }
            Op::Delete(b, k) => s.delete("alice", BUCKETS[*b], &format!("k{k}"), None),
            Op::DeleteBucket(b) => s.delete_bucket("alice", BUCKETS[*b]),
        };
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_live_state_equals_the_replayed_state(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let node = Node::open(NodeConfig::single(dir.path().join("log")), NoPeers).await.unwrap();
            node.wait_ready(Duration::from_secs(10)).await.unwrap();
            // Propose in concurrent groups, so Raft entries carry several commands (the
            // group-commit and per-command progress paths), in an order Raft decides.
            let commands: Vec<_> = script(&ops)
                .steps
                .into_iter()
                .filter_map(|step| match step {
                    Step::Command(command) => Some(command),
                    Step::Raw(..) => None,
                })
                .collect();
            for group in commands.chunks(8) {
                let proposals = group.iter().cloned().map(|command| node.propose(command));
                for outcome in futures::future::join_all(proposals).await {
                    outcome.unwrap();
                }
            }
            let fresh_dir = tempfile::tempdir().unwrap();
            let fresh = rucket_replay_tests::fresh_projections(fresh_dir.path()).unwrap();
            let head = node.archive().head();
            let folded = replay::fold_archive(node.archive(), &fresh, head, |_| {}).unwrap();
            assert_eq!(folded, head);
            let diff = node.projections().diff(&fresh, 5).unwrap();
            assert!(diff.is_empty(), "live and replayed differ: {diff:?}");
            // The same fold written every few events (reads merge what is staged with
            // what is written).
            let spilled_dir = tempfile::tempdir().unwrap();
            let spilled = rucket_replay_tests::fresh_projections(spilled_dir.path()).unwrap();
            assert_eq!(replay::fold_archive_within(node.archive(), &spilled, head, 2048, |_| {}).unwrap(), head);
            let diff = node.projections().diff(&spilled, 5).unwrap();
            assert!(diff.is_empty(), "live and replayed (written every few events) differ: {diff:?}");
            assert_eq!(node.projections().applied_position().unwrap(), head);
            node.shutdown().await.unwrap();
        });
    }
}
