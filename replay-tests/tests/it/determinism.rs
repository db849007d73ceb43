//! Folding is deterministic: the same log gives byte-identical projections whether it
//! is folded twice, or in chunks with a restart between them.

use rucket_replay_tests::{body_in, fold_events, fresh_projections};

use crate::golden::run_script;
use crate::scenarios::random_workload;

#[test]
fn folding_twice_and_in_chunks_gives_identical_projections() {
    let scratch = tempfile::tempdir().unwrap();
    let source = fresh_projections(&scratch.path().join("source")).unwrap();
    let events = run_script(&source, &random_workload(1_500, 42));
    assert!(events.len() > 500, "the workload archived {} events", events.len());

    let a = fresh_projections(&scratch.path().join("a")).unwrap();
    fold_events(&a, &events).unwrap();
    let b = fresh_projections(&scratch.path().join("b")).unwrap();
    fold_events(&b, &events).unwrap();
    assert_eq!(a.dump_text(&body_in(&events)).unwrap(), b.dump_text(&body_in(&events)).unwrap());
    assert_eq!(a.digests().unwrap(), b.digests().unwrap());
    assert_eq!(a.digests().unwrap(), source.digests().unwrap(), "replay equals the live decide+fold");

    // Fold the first part, close the database as a restart would, reopen and finish.
    let chunked_dir = scratch.path().join("chunked");
    let split = events.len() / 3;
    {
        let c = fresh_projections(&chunked_dir).unwrap();
        fold_events(&c, &events[..split]).unwrap();
        c.database().persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let c = fresh_projections(&chunked_dir).unwrap();
    assert_eq!(
        c.applied_position().unwrap(),
        events[split - 1].0,
        "the restart resumes from the stored position"
    );
    fold_events(&c, &events[split..]).unwrap();
    assert_eq!(c.digests().unwrap(), a.digests().unwrap());
}
