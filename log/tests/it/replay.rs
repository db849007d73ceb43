//! Replay refuses bad archives with the position and the reason, and never folds
//! garbage; a node refuses projections that are ahead of its archive.

use rucket_log::{replay, LogError, NoPeers, Node, NodeConfig};
use rucket_schemas::{Envelope, EventId, Hlc, LogPosition, RegionId};

use crate::support::{close, create_bucket, put};

async fn node_with_events(dir: &std::path::Path) {
    let node = Node::open(NodeConfig::single(dir), NoPeers).await.unwrap();
    node.wait_ready(std::time::Duration::from_secs(10)).await.unwrap();
    node.propose(create_bucket(1, "replayed")).await.unwrap();
    for i in 0..4 {
        node.propose(put(10 + i, "replayed", &format!("k{i}"), b"v")).await.unwrap();
    }
    close(node).await;
}

fn with_db(dir: &std::path::Path, f: impl FnOnce(&fjall::Database)) {
    let db = fjall::Database::builder(dir).open().unwrap();
    f(&db);
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

fn events(db: &fjall::Database) -> fjall::Keyspace {
    db.keyspace("archive.events", fjall::KeyspaceCreateOptions::default).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_event_is_named_and_nothing_is_folded_past_it() {
    let dir = tempfile::tempdir().unwrap();
    node_with_events(dir.path()).await;
    with_db(dir.path(), |db| events(db).remove(LogPosition(3).to_key()).unwrap());
    let scratch = tempfile::tempdir().unwrap();
    match replay::verify(dir.path(), scratch.path(), |_, _| {}) {
        Err(LogError::CorruptEvent { position, reason }) => {
            assert_eq!(position, LogPosition(3));
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected a corrupt-event error, got {other:?}"),
    }
    match replay::rebuild(dir.path(), |_, _| {}) {
        Err(LogError::CorruptEvent { position, .. }) => assert_eq!(position, LogPosition(3)),
        other => panic!("expected a corrupt-event error, got {other:?}"),
    }
    // The refused rebuild left the live projections (generation 0) in place.
    with_db(dir.path(), |db| {
        let projections = rucket_projections::Projections::open(db).unwrap();
        assert_eq!(projections.generation(), 0);
        assert_eq!(projections.applied_position().unwrap(), LogPosition(5));
    });
}

/// A rebuild writes its views as tables beside the journal; they must still be there when
/// the database opens again, also when an earlier rebuild was interrupted after clearing
/// the next generation (a clear is a journal record fjall replays at every open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_generation_survives_reopening_after_an_interrupted_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    node_with_events(dir.path()).await;
    with_db(dir.path(), |db| {
        for view in ["buckets", "objects", "versions", "meta"] {
            db.keyspace(&format!("proj.g1.{view}"), fjall::KeyspaceCreateOptions::default)
                .unwrap()
                .clear()
                .unwrap();
        }
    });
    let report = replay::rebuild(dir.path(), |_, _| {}).unwrap();
    assert_eq!((report.events, report.generation), (5, 1));
    let scratch = tempfile::tempdir().unwrap();
    let verified = replay::verify(dir.path(), scratch.path(), |_, _| {}).unwrap();
    assert!(verified.matches(), "{:?}", verified.differences);
    with_db(dir.path(), |db| {
        let projections = rucket_projections::Projections::open(db).unwrap();
        assert_eq!(projections.generation(), 1);
        let bucket = rucket_schemas::BucketName::parse("replayed").unwrap();
        for i in 0..4 {
            let key = rucket_schemas::ObjectKey::parse(&format!("k{i}")).unwrap();
            assert!(projections.current_object(&bucket, &key).unwrap().is_some(), "k{i}");
        }
    });
}

/// A rebuild stopped after writing part of the next generation (tables written, the
/// pointer not moved: what a kill leaves) is replaced whole by the next rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_after_one_stopped_halfway_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    node_with_events(dir.path()).await;
    with_db(dir.path(), |db| {
        let live = rucket_projections::Projections::open(db).unwrap();
        let archive = rucket_log::EventArchive::open(db).unwrap();
        let next = live.next_generation().unwrap();
        let folded = replay::fold_archive_within(&archive, &next, LogPosition(3), 0, |_| {}).unwrap();
        assert_eq!((folded, next.applied_position().unwrap()), (LogPosition(3), LogPosition(3)));
    });
    let report = replay::rebuild(dir.path(), |_, _| {}).unwrap();
    assert_eq!((report.events, report.generation), (5, 1));
    let scratch = tempfile::tempdir().unwrap();
    let verified = replay::verify(dir.path(), scratch.path(), |_, _| {}).unwrap();
    assert!(verified.matches(), "{:?}", verified.differences);
    assert_eq!(verified.live_applied, LogPosition(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_type_is_refused_by_position() {
    let dir = tempfile::tempdir().unwrap();
    node_with_events(dir.path()).await;
    with_db(dir.path(), |db| {
        // A well-formed envelope (valid CRC) of a type this build does not know.
        let alien = Envelope {
            event_type: 99,
            schema_version: 1,
            hlc: Hlc::new(1, 1),
            origin_region: RegionId::new("us-east-1"),
            event_id: EventId([9; 16]),
            payload: vec![1, 2, 3],
        };
        events(db).insert(LogPosition(6).to_key(), alien.to_bytes()).unwrap();
    });
    let scratch = tempfile::tempdir().unwrap();
    match replay::verify(dir.path(), scratch.path(), |_, _| {}) {
        Err(LogError::CorruptEvent { position, reason }) => {
            assert_eq!(position, LogPosition(6));
            assert!(reason.contains("unknown event type 99"), "{reason}");
        }
        other => panic!("expected a corrupt-event error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_ahead_of_the_archive_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    node_with_events(dir.path()).await;
    with_db(dir.path(), |db| {
        let projections = rucket_projections::Projections::open(db).unwrap();
        let mut batch = db.batch();
        projections.set_applied(&mut batch, LogPosition(50));
        batch.commit().unwrap();
    });
    match Node::open(NodeConfig::single(dir.path()), NoPeers).await {
        Err(e @ LogError::ProjectionsAhead { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("position 50") && message.contains("rucket replay rebuild"),
                "{message}"
            );
        }
        Err(other) => panic!("expected ProjectionsAhead, got {other}"),
        Ok(_) => panic!("a node started on projections ahead of its archive"),
    }
}
