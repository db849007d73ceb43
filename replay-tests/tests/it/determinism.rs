//! Folding is deterministic: the same log gives byte-identical projections whether it
//! is folded twice, or in chunks with a restart between them.

use rucket_replay_tests::{body_in, fold_events, fresh_projections};
use rucket_schemas::LogPosition;

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

/// `fold_archive` over a damaged archive: it stops where the damage is, having committed
/// every event before it, and never spins on a gap that reaches past where it stops.
#[test]
fn folding_a_damaged_archive_stops_at_the_damage_with_everything_before_it() {
    let scratch = tempfile::tempdir().unwrap();
    let source = fresh_projections(&scratch.path().join("source")).unwrap();
    let events = run_script(&source, &random_workload(300, 7));
    assert!(events.len() > 40, "the workload archived {} events", events.len());
    let db = fjall::Database::builder(scratch.path().join("damaged")).open().unwrap();
    let archive = rucket_log::EventArchive::open(&db).unwrap();
    // Position 11 is missing; position 30 holds bytes that are no record.
    for (position, envelope) in events.iter().take(40) {
        let bytes = match position.0 {
            11 => continue,
            30 => b"not an envelope".to_vec(),
            _ => envelope.to_bytes(),
        };
        archive.events_keyspace().insert(position.to_key(), bytes).unwrap();
    }
    let fold = |until: u64| {
        let dir = tempfile::tempdir().unwrap();
        let into = fresh_projections(dir.path()).unwrap();
        let folded = rucket_log::replay::fold_archive(&archive, &into, LogPosition(until), |_| {});
        (folded, into.applied_position().unwrap(), dir)
    };
    // The gap reaches past `until`: the fold ends at 10 (its caller reports the shortfall).
    let (folded, applied, _dir) = fold(11);
    assert_eq!(folded.unwrap(), LogPosition(10));
    assert_eq!(applied, LogPosition(10));
    // Past the gap: refused, naming the missing position, with 1..=10 folded.
    let (folded, applied, _dir) = fold(40);
    let message = folded.unwrap_err().to_string();
    assert!(message.contains("position 11") && message.contains("missing"), "{message}");
    assert_eq!(applied, LogPosition(10));

    // The undecodable record: everything before it is folded, and the error names it.
    archive.events_keyspace().insert(LogPosition(11).to_key(), events[10].1.to_bytes()).unwrap();
    let (folded, applied, _dir) = fold(40);
    let message = folded.unwrap_err().to_string();
    assert!(message.contains("position 30"), "{message}");
    assert_eq!(applied, LogPosition(29));
}
