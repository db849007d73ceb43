//! Replay: folding the event archive into projections, the same fold live apply uses.
//! `verify` folds into a scratch database and compares the result with the live views.

use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use fjall::Database;
use rucket_projections::{Projections, StagedFold, ViewDiff, ViewDigest, STAGE_BUDGET};
use rucket_schemas::LogPosition;

use crate::archive::StampedEvent;
use crate::{EventArchive, LogError};

/// Events read from the archive per step.
const READ_BATCH: usize = 1024;

/// Events decoded ahead of the fold, in pages of [`READ_BATCH`] (about 1.5 MiB each for
/// a store of small objects, whose inline bodies a page does not copy; a page of large
/// events, such as completions of uploads with thousands of parts, holds more). Deep
/// enough that the reading thread keeps decoding while the fold writes a stage out (a
/// quarter to half a second for the default budget), so the threads rarely wait.
const PAGES_AHEAD: usize = 32;

/// A page of decoded events, or why reading stopped.
type Page = Result<Vec<StampedEvent>, LogError>;

/// Folds archived events after `into`'s applied position, up to `until`, calling
/// `progress` with the last folded position after every step. Stops at the first event
/// that does not decode, naming its position, with everything before it written. A
/// second thread reads and decodes the archive ahead of the fold. The fold is staged in
/// memory and written as sorted tables ([`StagedFold`]): `into` must be views nothing else
/// uses meanwhile (a fresh generation or scratch views).
pub fn fold_archive(
    archive: &EventArchive,
    into: &Projections,
    until: LogPosition,
    progress: impl FnMut(LogPosition),
) -> Result<LogPosition, LogError> {
    fold_archive_within(archive, into, until, STAGE_BUDGET, progress)
}

/// [`fold_archive_within`] that must reach `until`: an archive that ends before it is
/// corrupt at the first position missing.
pub(crate) fn fold_whole(
    archive: &EventArchive,
    into: &Projections,
    until: LogPosition,
    budget: usize,
    progress: impl FnMut(LogPosition),
) -> Result<(), LogError> {
    let folded = fold_archive_within(archive, into, until, budget, progress)?;
    if folded != until {
        return Err(LogError::CorruptEvent {
            position: LogPosition(folded.0 + 1),
            reason: format!("the archive ends before position {until}"),
        });
    }
    Ok(())
}

/// [`fold_archive`] staging at most `budget` bytes before writing them (0: writes after
/// every event).
pub fn fold_archive_within(
    archive: &EventArchive,
    into: &Projections,
    until: LogPosition,
    budget: usize,
    mut progress: impl FnMut(LogPosition),
) -> Result<LogPosition, LogError> {
    let mut after = into.applied_position()?;
    let (pages, decoded) = std::sync::mpsc::sync_channel::<Page>(PAGES_AHEAD);
    let from = after;
    std::thread::scope(|scope| {
        scope.spawn(move || read_ahead(archive, from, until, pages));
        let mut group = StagedFold::new(into, budget)?;
        for page in decoded {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    group.commit()?;
                    return Err(e);
                }
            };
            for (position, (hlc, event)) in page {
                if position.0 != after.0 + 1 {
                    group.commit()?;
                    return Err(LogError::CorruptEvent {
                        position: LogPosition(after.0 + 1),
                        reason: format!("missing from the archive; the next event is at {position}"),
                    });
                }
                group.fold(position, hlc, &event)?;
                after = position;
            }
            progress(after);
        }
        group.commit()?;
        Ok(after)
    })
}

/// Reads and decodes the archive after `after`, up to `until`, into `pages`; stops at
/// the first error (sent as the last page) or when the fold stops listening.
fn read_ahead(archive: &EventArchive, mut after: LogPosition, until: LogPosition, pages: SyncSender<Page>) {
    while after < until {
        let (mut page, failed) = archive.read_stamped_after(after, READ_BATCH);
        let mut stop = failed.is_some() || page.is_empty();
        // Past the end (or a gap reaches past it): nothing more to fold, and damage
        // further on is not this fold's concern.
        let within = page.partition_point(|(position, _)| *position <= until);
        let past_until = within < page.len();
        if past_until {
            page.truncate(within);
            stop = true;
        }
        if let Some((position, _)) = page.last() {
            after = *position;
        }
        if !page.is_empty() && pages.send(Ok(page)).is_err() {
            return;
        }
        if let Some(e) = failed.filter(|_| !past_until) {
            let _ = pages.send(Err(e));
        }
        if stop {
            return;
        }
    }
}

/// What `verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    /// Events in the archive (its head position).
    pub events: u64,
    /// The position the live projections say they applied.
    pub live_applied: LogPosition,
    pub digests: Vec<ViewDigest>,
    /// Up to 20 differences, live on the left and the fresh fold on the right.
    pub differences: Vec<ViewDiff>,
    pub fold_time: Duration,
}

impl VerifyReport {
    pub fn matches(&self) -> bool {
        self.differences.is_empty() && self.live_applied.0 == self.events
    }
}

/// Opens the database of a stopped node's log directory without creating one.
pub fn open_existing(log_dir: &Path) -> Result<Database, LogError> {
    if !log_dir.is_dir() {
        return Err(LogError::NoLog(log_dir.to_path_buf()));
    }
    crate::damage::open_checked(log_dir, |b| b)
}

/// Folds the archive of `log_dir` into a fresh database under `scratch` and compares it
/// with the live projections. Writes nothing to `log_dir`.
pub fn verify(
    log_dir: &Path,
    scratch: &Path,
    progress: impl FnMut(LogPosition, u64),
) -> Result<VerifyReport, LogError> {
    let live_db = open_existing(log_dir)?;
    let live = Projections::open(&live_db)?;
    if !live.format_is_current()? {
        return Err(LogError::OlderViews);
    }
    let archive = EventArchive::open(&live_db)?;
    let head = archive.head();
    let fresh_db = Database::builder(scratch).temporary(true).open()?;
    let fresh = Projections::open(&fresh_db)?;
    let mut progress = progress;
    let started = Instant::now();
    fold_whole(&archive, &fresh, head, STAGE_BUDGET, |p| progress(p, head.0))?;
    let fold_time = started.elapsed();
    Ok(VerifyReport {
        events: head.0,
        live_applied: live.applied_position()?,
        digests: fresh.digests()?,
        differences: live.diff(&fresh, 20)?,
        fold_time,
    })
}

/// What `rebuild` did.
#[derive(Debug)]
pub struct RebuildReport {
    pub events: u64,
    /// The generation the rebuilt projections live in.
    pub generation: u64,
    pub fold_time: Duration,
}

/// Replaces the projections of a stopped node's log directory with a fresh fold of its
/// archive. The fold goes into a new generation that becomes live in one durable write,
/// so a crash during the rebuild leaves the old projections in place.
pub fn rebuild(log_dir: &Path, progress: impl FnMut(LogPosition, u64)) -> Result<RebuildReport, LogError> {
    let db = open_existing(log_dir)?;
    let live = Projections::open(&db)?;
    let archive = EventArchive::open(&db)?;
    // The fold checks every record it reads (CRC, framing, dense positions from 1 to the
    // head), as `EventArchive::verify` would, and damage stops it before promotion; what
    // it cannot see is a tail that could not be read at open (the head is then the last
    // readable record), which the start-up check finds.
    archive.verify_tail(1)?;
    let head = archive.head();
    let started = Instant::now();
    let promoted = refold(&archive, live, progress)?;
    Ok(RebuildReport { events: head.0, generation: promoted.generation(), fold_time: started.elapsed() })
}

/// Folds the whole archive into a new generation of `live`'s views and makes it live
/// (see [`rebuild`]). Returns the new live views.
pub fn refold(
    archive: &EventArchive,
    live: Projections,
    mut progress: impl FnMut(LogPosition, u64),
) -> Result<Projections, LogError> {
    let head = archive.head();
    let next = live.next_generation()?;
    fold_whole(archive, &next, head, STAGE_BUDGET, |p| progress(p, head.0))?;
    Ok(next.promote(live)?)
}

/// Which archived events an export writes.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// Only events after this position (exclusive).
    pub after: LogPosition,
    /// Only events up to this position (inclusive); the head when `None`.
    pub until: Option<LogPosition>,
    /// Only events of this bucket.
    pub bucket: Option<String>,
}

/// Writes archived events as JSON Lines, one event per line:
/// `{"position": N, "event": <Rucket rendering>, "envelope": "<base64 of the exact bytes>"}`.
/// Streams: memory does not grow with the archive. Returns the number written.
pub fn export(
    archive: &EventArchive,
    filter: &ExportFilter,
    out: &mut impl std::io::Write,
) -> Result<u64, LogError> {
    use base64::Engine as _;
    let until = filter.until.unwrap_or_else(|| archive.head());
    let mut after = filter.after;
    let mut written = 0;
    while after < until {
        let events = archive.read_after(after, READ_BATCH)?;
        if events.is_empty() {
            break;
        }
        for (position, envelope) in events {
            if position > until {
                break;
            }
            after = position;
            let event =
                envelope.open().map_err(|e| LogError::CorruptEvent { position, reason: e.to_string() })?;
            if filter.bucket.as_deref().is_some_and(|b| Some(b) != event.bucket().map(|b| b.as_str())) {
                continue;
            }
            let line = serde_json::json!({
                "position": position.0,
                "event": rucket_schemas::render_event_json(position, &envelope, &event),
                "envelope": base64::engine::general_purpose::STANDARD.encode(envelope.to_bytes()),
            });
            serde_json::to_writer(&mut *out, &line).map_err(|e| LogError::Export(e.to_string()))?;
            out.write_all(b"\n").map_err(|e| LogError::Export(e.to_string()))?;
            written += 1;
        }
    }
    Ok(written)
}

/// Folds an export into a fresh log directory: the archive and the projections. Events
/// are renumbered densely from 1 in file order (a filtered export has gaps). Refuses a
/// directory that already holds a log. Returns the number of events imported. The
/// events are archived first, each checked as it is read, then folded as a rebuild folds
/// ([`fold_archive`]).
pub fn import(input: impl std::io::BufRead, log_dir: &Path) -> Result<u64, LogError> {
    use base64::Engine as _;
    refuse_data(log_dir, "import needs a fresh data dir")?;
    let db = Database::builder(log_dir).open()?;
    let projections = Projections::open(&db)?;
    let archive = EventArchive::open(&db)?;
    let mut copy = ArchiveCopy::new(&db, &archive);
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| LogError::Import(format!("line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| LogError::Import(format!("line {}: {why}", n + 1));
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let bytes = value["envelope"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(|| bad("no base64 envelope"))?;
        let envelope = rucket_schemas::Envelope::from_bytes(&bytes).map_err(|e| bad(&e.to_string()))?;
        envelope.open().map_err(|e| bad(&e.to_string()))?;
        copy.push(LogPosition(copy.position.0 + 1), bytes)?;
    }
    let head = copy.finish()?;
    fold_copy(&db, &archive, &projections, head)?;
    Ok(head.0)
}

/// Refuses a directory that exists and is not empty.
fn refuse_data(dir: &Path, why: &str) -> Result<(), LogError> {
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(LogError::Import(format!("{} already holds data; {why}", dir.display())));
    }
    Ok(())
}

/// Archive records written into a fresh log directory in batches of [`READ_BATCH`].
struct ArchiveCopy<'a> {
    db: &'a Database,
    archive: &'a EventArchive,
    batch: fjall::OwnedWriteBatch,
    pending: usize,
    /// The last position pushed.
    position: LogPosition,
}

impl<'a> ArchiveCopy<'a> {
    fn new(db: &'a Database, archive: &'a EventArchive) -> Self {
        Self { db, archive, batch: db.batch(), pending: 0, position: LogPosition(0) }
    }

    fn push(&mut self, position: LogPosition, bytes: Vec<u8>) -> Result<(), LogError> {
        self.batch.insert(&self.archive.events, position.to_key(), bytes);
        self.position = position;
        self.pending += 1;
        if self.pending == READ_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LogError> {
        std::mem::replace(&mut self.batch, self.db.batch()).commit()?;
        self.archive.advance(self.position);
        self.pending = 0;
        Ok(())
    }

    /// Writes what is pending; returns the last position copied.
    fn finish(mut self) -> Result<LogPosition, LogError> {
        self.flush()?;
        Ok(self.position)
    }
}

/// Folds a freshly copied archive up to `head` into the copy's empty views, then makes
/// the copy durable and marks its views as of the current format.
fn fold_copy(
    db: &Database,
    archive: &EventArchive,
    projections: &Projections,
    head: LogPosition,
) -> Result<(), LogError> {
    fold_whole(archive, projections, head, STAGE_BUDGET, |_| {})?;
    db.persist(fjall::PersistMode::SyncAll)?;
    projections.mark_format()?;
    Ok(())
}

/// The moment a point-in-time copy stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The copy holds events up to and including this position.
    Position(LogPosition),
    /// The copy holds the longest prefix of the archive whose events are all stamped at
    /// or before this instant (nanoseconds since the Unix epoch). A prefix, so the copy is
    /// a state the store really was in.
    Time(u128),
}

#[derive(Debug)]
pub struct PointInTimeReport {
    /// The last position the copy holds.
    pub position: LogPosition,
    /// Blobs the copy's projections refer to.
    pub referenced_blobs: std::collections::BTreeSet<rucket_schemas::BlobId>,
}

/// Copies the archive of a stopped node up to `until` into a fresh log directory and
/// folds it, so the copy's projections show the state as of that moment.
pub fn materialize(
    src_log_dir: &Path,
    until: Until,
    out_log_dir: &Path,
) -> Result<PointInTimeReport, LogError> {
    refuse_data(out_log_dir, "a point-in-time copy needs a fresh directory")?;
    let src = open_existing(src_log_dir)?;
    let source = EventArchive::open(&src)?;
    let db = Database::builder(out_log_dir).open()?;
    let projections = Projections::open(&db)?;
    let archive = EventArchive::open(&db)?;
    let mut copy = ArchiveCopy::new(&db, &archive);
    'copy: loop {
        let events = source.read_after(copy.position, READ_BATCH)?;
        if events.is_empty() {
            break;
        }
        for (position, envelope) in events {
            let beyond = match until {
                Until::Position(p) => position > p,
                Until::Time(t) => envelope.hlc.unix_nanos() > t,
            };
            if beyond {
                break 'copy;
            }
            copy.push(position, envelope.to_bytes())?;
        }
    }
    let head = copy.finish()?;
    fold_copy(&db, &archive, &projections, head)?;
    Ok(PointInTimeReport { position: head, referenced_blobs: projections.referenced_blobs()? })
}

/// Verifies a running node's projections against its archive: folds the archive up to
/// the applied position of a consistent snapshot into a scratch database and compares
/// the snapshot's views with the fold. Writes may continue meanwhile.
pub fn verify_live(
    live: &Projections,
    archive: &EventArchive,
    scratch: &Path,
) -> Result<VerifyReport, LogError> {
    if !live.format_is_current()? {
        return Err(LogError::OlderViews);
    }
    let snapshot = live.snapshot();
    let position = live.applied_position_at(&snapshot)?;
    let fresh_db = Database::builder(scratch).temporary(true).open()?;
    let fresh = Projections::open(&fresh_db)?;
    let started = Instant::now();
    fold_whole(archive, &fresh, position, STAGE_BUDGET, |_| {})?;
    let fold_time = started.elapsed();
    let fresh_snapshot = fresh.snapshot();
    Ok(VerifyReport {
        events: position.0,
        live_applied: position,
        digests: fresh.digests_at(&fresh_snapshot)?,
        differences: live.diff_at(&snapshot, &fresh, &fresh_snapshot, 20)?,
        fold_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tests::envelope;

    /// A fold across several pages read ahead sees every event in order, and damage in a
    /// later page stops it at the right position with everything before it written.
    #[test]
    fn folds_across_pages_and_stops_at_damage_in_a_later_page() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).open().unwrap();
        let archive = EventArchive::open(&db).unwrap();
        let events = 3 * READ_BATCH as u64 + 7;
        let envelopes: Vec<_> = (1..=events).map(envelope).collect();
        archive.append_offline(&db, &envelopes).unwrap();
        let fold = |until: u64| {
            let scratch = tempfile::tempdir().unwrap();
            let fresh_db = Database::builder(scratch.path()).temporary(true).open().unwrap();
            let into = Projections::open(&fresh_db).unwrap();
            let folded = fold_archive(&archive, &into, LogPosition(until), |_| {});
            (folded, into.applied_position().unwrap(), into.buckets().unwrap().len())
        };
        let (folded, applied, buckets) = fold(events);
        assert_eq!(
            (folded.unwrap(), applied, buckets as u64),
            (LogPosition(events), LogPosition(events), events)
        );

        // A missing position in the third page.
        let missing = 2 * READ_BATCH as u64 + 10;
        archive.events_keyspace().remove(LogPosition(missing).to_key()).unwrap();
        let (folded, applied, _) = fold(events);
        let message = folded.unwrap_err().to_string();
        assert!(message.contains(&format!("position {missing}")) && message.contains("missing"), "{message}");
        assert_eq!(applied, LogPosition(missing - 1));

        // An undecodable record in the second page stops the fold before the gap after it.
        let broken = READ_BATCH as u64 + 3;
        archive.events_keyspace().insert(LogPosition(broken).to_key(), b"not an envelope").unwrap();
        let (folded, applied, _) = fold(events);
        let message = folded.unwrap_err().to_string();
        assert!(message.contains(&format!("position {broken}")), "{message}");
        assert_eq!(applied, LogPosition(broken - 1));
    }
}
