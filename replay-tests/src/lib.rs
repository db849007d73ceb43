//! Frozen event logs and the tools to replay them.
//!
//! A recorded log (`data/<scenario>/events.bin`) is a sequence of frames
//! `[u64 position, big endian][u32 length, little endian][envelope bytes]`, exactly as the
//! archive keeps them. The expected projection dump (`expected.txt`) is the sorted text
//! of `Projections::dump_text` after folding the log. Logs recorded with a released
//! schema version are frozen: the runner never rewrites an existing `events.bin`.

use std::path::Path;

use fjall::Database;
use rucket_projections::{Decision, ProjectionError, Projections, StagedFold};
use rucket_schemas::{CodecError, Command, Envelope, LogPosition, Outcome, StorageEvent};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("log framing: {0}")]
    Framing(String),
    #[error("event at position {position}: {source}")]
    Event { position: LogPosition, source: CodecError },
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Storage(#[from] fjall::Error),
}

/// Archived events with their positions, in order.
pub type EventLog = Vec<(LogPosition, Envelope)>;

/// Encodes archived events in the recorded-log framing.
pub fn write_log(events: &[(LogPosition, Envelope)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (position, envelope) in events {
        let bytes = envelope.to_bytes();
        out.extend_from_slice(&position.to_key());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Decodes a recorded log; every envelope is CRC-checked.
pub fn read_log(mut bytes: &[u8]) -> Result<EventLog, ReplayError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 12 {
            return Err(ReplayError::Framing(format!("{} stray bytes at the end", bytes.len())));
        }
        let position = LogPosition::from_key(&bytes[..8]).unwrap_or_default();
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let frame = bytes
            .get(12..12 + len)
            .ok_or_else(|| ReplayError::Framing(format!("the frame at position {position} is truncated")))?;
        let envelope =
            Envelope::from_bytes(frame).map_err(|source| ReplayError::Event { position, source })?;
        out.push((position, envelope));
        bytes = &bytes[12 + len..];
    }
    Ok(out)
}

/// Fresh projections in their own database under `dir`.
pub fn fresh_projections(dir: &Path) -> Result<Projections, ReplayError> {
    let db = Database::builder(dir).open()?;
    Ok(Projections::open(&db)?)
}

/// Folds events into projections, each with its applied position, one batch per event.
pub fn fold_events(projections: &Projections, events: &[(LogPosition, Envelope)]) -> Result<(), ReplayError> {
    for (position, envelope) in events {
        let event = envelope.open().map_err(|source| ReplayError::Event { position: *position, source })?;
        let mut batch = projections.database().batch();
        projections.fold(&mut batch, *position, envelope.hlc, &event)?;
        projections.set_applied(&mut batch, *position);
        batch.commit()?;
    }
    Ok(())
}

/// Folds events staged in memory as a rebuild does ([`StagedFold`]), writing what is
/// staged whenever it passes `budget` bytes (0: after every event) and at the end.
pub fn fold_events_staged(
    projections: &Projections,
    events: &[(LogPosition, Envelope)],
    budget: usize,
) -> Result<(), ReplayError> {
    let mut staged = StagedFold::new(projections, budget)?;
    for (position, envelope) in events {
        let event = envelope.open().map_err(|source| ReplayError::Event { position: *position, source })?;
        staged.fold(*position, envelope.hlc, &event)?;
    }
    staged.commit()?;
    Ok(())
}

/// Finds the inline body archived at a position among `events`, for
/// [`Projections::dump_text`]: the views name that position instead of holding the body.
pub fn body_in(events: &[(LogPosition, Envelope)]) -> impl Fn(LogPosition) -> Option<Vec<u8>> + '_ {
    move |position| {
        let i = events.binary_search_by_key(&position, |(p, _)| *p).ok()?;
        events[i].1.open().ok()?.inline_body().map(<[u8]>::to_vec)
    }
}

/// Runs commands the way the state machine does (decide, then seal and fold what they
/// become) and returns the archived events and each command's outcome.
pub fn record(
    projections: &Projections,
    commands: &[Command],
) -> Result<(EventLog, Vec<Outcome>), ReplayError> {
    let mut events = Vec::new();
    let mut outcomes = Vec::new();
    let mut position = projections.applied_position()?;
    for command in commands {
        let outcome = match projections.decide(command)? {
            Decision::Rejected(r) => Outcome::Rejected(r),
            Decision::Unchanged => Outcome::Unchanged,
            Decision::Event(event) => {
                position = LogPosition(position.0 + 1);
                let envelope = seal(&event, command)?;
                let mut batch = projections.database().batch();
                let released = projections.fold(&mut batch, position, command.hlc, &event)?;
                projections.set_applied(&mut batch, position);
                batch.commit()?;
                events.push((position, envelope));
                Outcome::Applied { position, released_blobs: released }
            }
        };
        outcomes.push(outcome);
    }
    Ok((events, outcomes))
}

/// Seals an event with its command's stamp, region and id, as the state machine does.
pub fn seal(event: &StorageEvent, command: &Command) -> Result<Envelope, ReplayError> {
    Envelope::seal(event, command.hlc, command.origin_region.clone(), command.event_id)
        .map_err(|source| ReplayError::Event { position: LogPosition(0), source })
}
