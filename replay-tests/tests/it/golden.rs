//! The golden runner: every recorded log folds to its expected projection dump.
//!
//! `UPDATE_EXPECT=1` records scenarios that have no log yet and writes missing
//! expectations. It never rewrites an existing `events.bin` (those are frozen) nor an
//! existing `expected.txt`.

use std::path::{Path, PathBuf};

use rucket_projections::Projections;
use rucket_replay_tests::{
    body_in, fold_events, fold_events_staged, fresh_projections, read_log, record, write_log,
};
use rucket_schemas::{Envelope, EventId, LogPosition, RegionId};

use crate::scenarios::{self, Script, Step};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some()
}

/// Runs a script on `projections` and returns the events it archived.
pub fn run_script(projections: &Projections, script: &Script) -> Vec<(LogPosition, Envelope)> {
    let mut events = Vec::new();
    for step in &script.steps {
        match step {
            Step::Command(command) => {
                let (mut archived, _) = record(projections, std::slice::from_ref(command)).unwrap();
                events.append(&mut archived);
            }
            Step::Raw(event, hlc) => {
                let position = LogPosition(projections.applied_position().unwrap().0 + 1);
                let envelope =
                    Envelope::seal(event, *hlc, RegionId::new("us-east-1"), EventId([0xee; 16])).unwrap();
                fold_events(projections, &[(position, envelope.clone())]).unwrap();
                events.push((position, envelope));
            }
        }
    }
    events
}

fn dump_of(events: &[(LogPosition, Envelope)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let projections = fresh_projections(dir.path()).unwrap();
    fold_events(&projections, events).unwrap();
    projections.dump_text(&body_in(events)).unwrap()
}

#[test]
fn every_scripted_scenario_is_recorded_and_still_agrees() {
    for (name, script) in scenarios::all() {
        let dir = data_dir().join(name);
        let log_path = dir.join("events.bin");
        let scratch = tempfile::tempdir().unwrap();
        let live = fresh_projections(scratch.path()).unwrap();
        let events = run_script(&live, &script);
        if !log_path.exists() {
            assert!(updating(), "scenario {name} has no recorded log; run with UPDATE_EXPECT=1 to record it");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&log_path, write_log(&events)).unwrap();
        }
        // Today's code, run from the script, reaches what folding the frozen log reaches.
        let frozen = read_log(&std::fs::read(&log_path).unwrap()).unwrap();
        assert_eq!(
            live.dump_text(&body_in(&events)).unwrap(),
            dump_of(&frozen),
            "scenario {name}: live decide+fold differs from replay"
        );
    }
}

#[test]
fn recorded_logs_fold_to_their_expected_projections() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(data_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for dir in entries.into_iter().filter(|p| p.join("events.bin").exists()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let events = read_log(&std::fs::read(dir.join("events.bin")).unwrap()).unwrap();
        let dump = dump_of(&events);
        let expected_path = dir.join("expected.txt");
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) => {
                if expected != dump {
                    let first = expected.lines().zip(dump.lines()).position(|(a, b)| a != b);
                    panic!("{name}: the fold differs from expected.txt (first differing line: {first:?})\n--- got ---\n{dump}");
                }
            }
            Err(_) => {
                assert!(updating(), "{name} has no expected.txt; run with UPDATE_EXPECT=1 to write it");
                std::fs::write(&expected_path, &dump).unwrap();
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} recorded scenarios were found");
}

/// A rebuild stages its fold in memory and writes sorted tables: every recorded log folds
/// to the same views that way, whether everything stays staged to the end or each event
/// is written at once (reads then merge the staged changes with the written tables, and
/// removals are written as tombstones), or stages of a few KiB are written as they fill
/// (a key's history and an upload's parts then span stages and tables).
#[test]
fn recorded_logs_fold_the_same_when_staged() {
    let mut checked = 0;
    for dir in std::fs::read_dir(data_dir()).unwrap().map(|e| e.unwrap().path()) {
        let Ok(bytes) = std::fs::read(dir.join("events.bin")) else { continue };
        let events = read_log(&bytes).unwrap();
        let expected = dump_of(&events);
        for budget in [usize::MAX, 0, 4 << 10] {
            let scratch = tempfile::tempdir().unwrap();
            let projections = fresh_projections(scratch.path()).unwrap();
            fold_events_staged(&projections, &events, budget).unwrap();
            let staged = projections.dump_text(&body_in(&events)).unwrap();
            assert_eq!(staged, expected, "{}: staged with a budget of {budget}", dir.display());
            assert_eq!(projections.applied_position().unwrap(), events.last().unwrap().0);
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} recorded scenarios were found");
}

#[test]
fn every_event_type_appears_in_some_recorded_log() {
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path().join("events.bin");
        if let Ok(bytes) = std::fs::read(path) {
            for (_, envelope) in read_log(&bytes).unwrap() {
                seen.insert(envelope.event_type);
            }
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), (1..=35).collect::<Vec<u16>>());
}

#[test]
fn a_damaged_log_is_refused_with_its_position() {
    let bytes = std::fs::read(data_dir().join("buckets_and_objects/events.bin")).unwrap();
    let mut flipped = bytes.clone();
    let third = {
        // Walk two frames to reach the third.
        let mut at = 0;
        for _ in 0..2 {
            let len = u32::from_le_bytes(flipped[at + 8..at + 12].try_into().unwrap()) as usize;
            at += 12 + len;
        }
        at
    };
    flipped[third + 20] ^= 0x08;
    let err = read_log(&flipped).unwrap_err().to_string();
    assert!(err.contains("event at position 3") && err.contains("crc mismatch"), "{err}");
    let err = read_log(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
    assert!(err.contains("truncated") || err.contains("stray"), "{err}");
}
