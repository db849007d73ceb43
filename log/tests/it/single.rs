//! A single-node log: bootstrap, group commit, restart recovery and corruption checks.

use std::time::Duration;

use rucket_log::{LogError, NoPeers, Node, NodeConfig};
use rucket_schemas::{BucketName, LogPosition, ObjectData, ObjectKey, Outcome, Rejection, StorageEvent};

use crate::support::{close, create_bucket, put};

const READY: Duration = Duration::from_secs(10);

async fn open(dir: &std::path::Path) -> Node {
    let node = Node::open(NodeConfig::single(dir), NoPeers).await.expect("open node");
    node.wait_ready(READY).await.expect("ready");
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_become_archived_events_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    assert_eq!(
        node.propose(create_bucket(1, "photos")).await.unwrap(),
        Outcome::Applied { position: LogPosition(1), released_blobs: vec![] }
    );
    assert_eq!(
        node.propose(create_bucket(2, "photos")).await.unwrap(),
        Outcome::Rejected(Rejection::BucketAlreadyOwnedByYou)
    );
    assert!(matches!(
        node.propose(put(3, "photos", "cat.png", b"meow")).await.unwrap(),
        Outcome::Applied { position: LogPosition(2), .. }
    ));
    assert_eq!(node.archive().head(), LogPosition(2));
    close(node).await;

    let node = open(dir.path()).await;
    let bucket = BucketName::parse("photos").unwrap();
    let key = ObjectKey::parse("cat.png").unwrap();
    let object = node.projections().current_object(&bucket, &key).unwrap().expect("object survives");
    // The body is stored once, in the archive; the view names its position.
    assert_eq!(object.data, ObjectData::InArchive(LogPosition(2)));
    let version = object.hlc_timestamp;
    assert_eq!(node.archive().inline_body(LogPosition(2), version).unwrap().unwrap(), b"meow");
    // A position that holds another event, another version, or nothing is no body.
    assert_eq!(node.archive().inline_body(LogPosition(1), version).unwrap(), None);
    assert_eq!(node.archive().inline_body(LogPosition(2), rucket_schemas::Hlc::new(1, 1)).unwrap(), None);
    assert_eq!(node.archive().inline_body(LogPosition(9), version).unwrap(), None);
    let events = node.archive().read_after(LogPosition(0), 10).unwrap();
    let types: Vec<_> = events.iter().map(|(p, e)| (p.0, e.open().unwrap().event_type().name())).collect();
    assert_eq!(types, [(1, "BucketCreated"), (2, "ObjectCreated")]);
    // New events continue the positions; they never restart or repeat.
    assert!(matches!(
        node.propose(put(4, "photos", "dog.png", b"woof")).await.unwrap(),
        Outcome::Applied { position: LogPosition(3), .. }
    ));
    close(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_of_an_older_format_are_folded_again_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    node.propose(create_bucket(1, "photos")).await.unwrap();
    node.propose(put(2, "photos", "cat.png", b"meow")).await.unwrap();
    assert_eq!(node.projections().generation(), 0);
    close(node).await;

    // Views written before the format marker existed (an older release) carry none.
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let pointer = db.keyspace("proj.current", fjall::KeyspaceCreateOptions::default).unwrap();
        assert!(pointer.get("format").unwrap().is_some(), "a node marks the format it writes");
        pointer.remove("format").unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    // Offline verify does not convert them; it says what to do instead of diffing.
    let scratch = tempfile::tempdir().unwrap();
    let refused = rucket_log::replay::verify(dir.path(), scratch.path(), |_, _| {}).unwrap_err();
    assert!(matches!(refused, LogError::OlderViews), "{refused}");
    let node = open(dir.path()).await;
    assert_eq!(node.projections().generation(), 1, "the views were folded into a new generation");
    let bucket = BucketName::parse("photos").unwrap();
    let key = ObjectKey::parse("cat.png").unwrap();
    let object = node.projections().current_object(&bucket, &key).unwrap().expect("object survives");
    assert_eq!(object.data, ObjectData::InArchive(LogPosition(2)));
    close(node).await;

    let node = open(dir.path()).await;
    assert_eq!(node.projections().generation(), 1, "folded once, not at every start");
    close(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_share_raft_entries() {
    let dir = tempfile::tempdir().unwrap();
    let node = std::sync::Arc::new(open(dir.path()).await);
    node.propose(create_bucket(1, "bulk")).await.unwrap();
    let before = node.raft().metrics().borrow().last_log_index.unwrap();
    let n = 400u64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            node.propose(put(10 + i, "bulk", &format!("k{i:04}"), b"x")).await.unwrap()
        }));
    }
    let mut positions = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Applied { position, .. } => positions.push(position.0),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    positions.sort_unstable();
    assert_eq!(positions, (2..2 + n).collect::<Vec<_>>(), "every event has its own dense position");
    let entries = node.raft().metrics().borrow().last_log_index.unwrap() - before;
    assert!(entries < n, "{n} proposals took {entries} raft entries; group commit did not batch");
    let node = std::sync::Arc::into_inner(node).unwrap();
    close(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_archived_event_stops_the_node_naming_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    node.propose(create_bucket(1, "photos")).await.unwrap();
    node.propose(put(2, "photos", "a", b"1")).await.unwrap();
    close(node).await;

    // Flip one bit of the second event, as a bad disk would.
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let events = db.keyspace("archive.events", fjall::KeyspaceCreateOptions::default).unwrap();
        let mut bytes = events.get(LogPosition(2).to_key()).unwrap().unwrap().to_vec();
        bytes[10] ^= 0x01;
        events.insert(LogPosition(2).to_key(), bytes).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    match Node::open(NodeConfig::single(dir.path()), NoPeers).await {
        Err(LogError::DamagedArchive(damage)) => {
            assert_eq!(damage.last_good, LogPosition(1));
            assert!(damage.reason.contains("log position 2") && damage.reason.contains("crc"), "{damage}");
        }
        Err(other) => panic!("expected a damaged-archive error, got {other}"),
        Ok(_) => panic!("a node opened on a corrupt archive"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_commands_emit_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    assert_eq!(
        node.propose(put(1, "missing", "k", b"v")).await.unwrap(),
        Outcome::Rejected(Rejection::NoSuchBucket)
    );
    assert_eq!(node.archive().head(), LogPosition(0));
    node.propose(create_bucket(2, "present")).await.unwrap();
    let (_, envelope) = node.archive().read_after(LogPosition(0), 1).unwrap().remove(0);
    assert!(matches!(envelope.open().unwrap(), StorageEvent::BucketCreated(_)));
    close(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_fsync_the_node_is_not_ready_and_refuses_writes_until_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path()).await;
    assert!(node.propose(create_bucket(1, "before")).await.is_ok());
    assert_eq!(node.readiness(), Ok(()));
    node.durability().record_failure("fsync of the log", &"EIO (injected)");
    let refused = node.propose(create_bucket(2, "after")).await.unwrap_err();
    assert!(
        matches!(&refused, rucket_log::ProposeError::NotDurable { reason } if reason.contains("EIO")),
        "{refused:?}"
    );
    assert!(matches!(node.readiness(), Err(rucket_log::NotReady::NotDurable(_))));
    assert_eq!(node.durability().failures(), 1);
    assert_eq!(node.archive().head(), LogPosition(1), "nothing was written after the failure");
    close(node).await;

    // A restart starts from what is durable and takes writes again.
    let node = open(dir.path()).await;
    assert_eq!(node.readiness(), Ok(()));
    assert!(node.propose(create_bucket(3, "after")).await.is_ok());
    close(node).await;
}
