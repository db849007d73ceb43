//! The event archive: every applied event's envelope under its log position, kept
//! forever (Raft's own log may be purged; this never is). Readers follow the head
//! through a watch channel, so the feed and replay never touch the Raft log.

use fjall::config::{BlockSizePolicy, CompressionPolicy};
use fjall::{CompressionType, Keyspace, KeyspaceCreateOptions};
use rucket_schemas::{Envelope, Hlc, LogPosition, StorageEvent};
use tokio::sync::watch;

use crate::LogError;

/// The most events a read reserves room for up front.
const READ_CAPACITY: usize = 4096;

/// An archived event: its position, its record and the event it holds.
pub type ArchivedEvent = (LogPosition, Envelope, StorageEvent);

/// An archived event's position, stamp and event.
pub type StampedEvent = (LogPosition, (Hlc, StorageEvent));

/// A handle for reading archived events and following the head.
#[derive(Clone)]
pub struct EventArchive {
    pub(crate) events: Keyspace,
    head: watch::Sender<LogPosition>,
    /// Set when the newest record could not be read at open: the head is then the
    /// newest position a forward read reached, and the start-up check refuses it.
    pub(crate) unreadable_tail: Option<String>,
}

impl EventArchive {
    pub fn open(db: &fjall::Database) -> Result<Self, LogError> {
        let events = db.keyspace("archive.events", || {
            // Events are read in position order (replay, the feed, installs): blocks of
            // 64 KiB hold many small-object events each, where the 4 KiB default held one.
            // Object bodies rarely compress (media, archives, encrypted data), so blocks
            // are stored as they are rather than LZ4-compressed at the deeper levels,
            // which cost CPU at every compaction and every read. Both apply to archives
            // created from now on (docs/benchmarks/results.md).
            KeyspaceCreateOptions::default()
                .data_block_size_policy(BlockSizePolicy::all(64 * 1024))
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
        })?;
        let (head, unreadable_tail) = match events.last_key_value().map(|g| g.key()) {
            None => (LogPosition(0), None),
            Some(Ok(key)) => (LogPosition::from_key(&key).unwrap_or_default(), None),
            Some(Err(e)) => {
                let reached = events.iter().map_while(|g| g.key().ok()).last();
                (reached.and_then(|k| LogPosition::from_key(&k)).unwrap_or_default(), Some(e.to_string()))
            }
        };
        Ok(Self { events, head: watch::Sender::new(head), unreadable_tail })
    }

    /// The keyspace events live in, for tools that build archives offline (importers,
    /// benchmarks); a node writes it only from the state machine.
    pub fn events_keyspace(&self) -> &Keyspace {
        &self.events
    }

    /// Appends events at the next positions and moves the head, outside any node: for
    /// tools that build an archive offline and for tests of the archive's readers. A
    /// running node writes the archive only from its state machine.
    pub fn append_offline(
        &self,
        db: &fjall::Database,
        envelopes: &[Envelope],
    ) -> Result<LogPosition, LogError> {
        let mut position = self.head();
        let mut batch = db.batch();
        for envelope in envelopes {
            position = LogPosition(position.0 + 1);
            batch.insert(&self.events, position.to_key(), envelope.to_bytes());
        }
        batch.commit()?;
        self.advance(position);
        Ok(position)
    }

    /// The position of the newest archived event (0 when empty).
    pub fn head(&self) -> LogPosition {
        *self.head.borrow()
    }

    /// The oldest archived position, if any event is archived.
    pub fn first(&self) -> Result<Option<LogPosition>, LogError> {
        match self.events.first_key_value() {
            None => Ok(None),
            Some(g) => Ok(LogPosition::from_key(&g.key()?)),
        }
    }

    /// A receiver that changes whenever new events are archived.
    pub fn subscribe(&self) -> watch::Receiver<LogPosition> {
        self.head.subscribe()
    }

    pub(crate) fn advance(&self, position: LogPosition) {
        self.head.send_if_modified(|h| {
            let moved = position > *h;
            if moved {
                *h = position;
            }
            moved
        });
    }

    /// Sets the head after the archive was replaced wholesale (snapshot install).
    pub(crate) fn reset_head(&self, position: LogPosition) {
        self.head.send_replace(position);
    }

    /// One event by position; a record that does not decode is an error naming it.
    pub fn get(&self, position: LogPosition) -> Result<Option<Envelope>, LogError> {
        match self.events.get(position.to_key())? {
            None => Ok(None),
            Some(bytes) => decode_at(position, &bytes).map(Some),
        }
    }

    /// The inline body of the version stamped `version` that the `ObjectCreated` archived
    /// at `position` created: where the views send a read of a small object (they name
    /// the position instead of keeping a copy). `None` when that position holds no such
    /// version: the record was read before a snapshot install began refilling the archive
    /// (or the archive is damaged), and the reader should try again.
    pub fn inline_body(
        &self,
        position: LogPosition,
        version: rucket_schemas::Hlc,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let Some(bytes) = self.events.get(position.to_key())? else { return Ok(None) };
        let (_, event) = open_stamped_at(position, &bytes)?;
        Ok(match event {
            StorageEvent::ObjectCreated(e) if e.record.hlc_timestamp == version => match e.record.data {
                rucket_schemas::ObjectData::Inline(body) => Some(body),
                _ => None,
            },
            _ => None,
        })
    }

    /// Up to `limit` events after `after` (exclusive), in position order.
    pub fn read_after(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> Result<Vec<(LogPosition, Envelope)>, LogError> {
        match self.read_events_after(after, limit) {
            (_, Some(e)) => Err(e),
            (events, None) => {
                Ok(events.into_iter().map(|(position, envelope, _)| (position, envelope)).collect())
            }
        }
    }

    /// Up to `limit` events after `after` (exclusive), in position order, each decoded
    /// once. A record that does not decode ends the page: the events before it come back
    /// with its error.
    pub fn read_events_after(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> (Vec<ArchivedEvent>, Option<LogError>) {
        let (read, failed) = self.read_with(after, limit, open_at);
        (read.into_iter().map(|(position, (envelope, event))| (position, envelope, event)).collect(), failed)
    }

    /// As [`Self::read_events_after`], but each event with its stamp alone and as the
    /// views record it: the record's payload is decoded where it lies, and an inline body
    /// is named by its position rather than copied out (replay folds every event this
    /// way, and the fold would put the position in its place).
    pub fn read_stamped_after(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> (Vec<StampedEvent>, Option<LogError>) {
        self.read_with(after, limit, |position, bytes| {
            Envelope::open_bytes_as_viewed(bytes, position)
                .map_err(|e| LogError::CorruptEvent { position, reason: e.to_string() })
        })
    }

    /// Up to `limit` records after `after`, in position order, each decoded by `decode`;
    /// the first that cannot be read or decoded ends the page with its error.
    fn read_with<T>(
        &self,
        after: LogPosition,
        limit: usize,
        decode: impl Fn(LogPosition, &[u8]) -> Result<T, LogError>,
    ) -> (Vec<(LogPosition, T)>, Option<LogError>) {
        // Sized once: pages of large events grown by doubling were a tenth of a fold's
        // time (each growth a copy into fresh pages the kernel zeroes).
        let left = usize::try_from(self.head().0.saturating_sub(after.0)).unwrap_or(usize::MAX);
        let mut out: Vec<(LogPosition, T)> = Vec::with_capacity(limit.min(left).min(READ_CAPACITY));
        for g in self.events.range(LogPosition(after.0.saturating_add(1)).to_key()..).take(limit) {
            let next = LogPosition(out.last().map_or(after.0, |(p, _)| p.0) + 1);
            let read = g.into_inner().map_err(|e| unreadable(next, e)).and_then(|(k, v)| {
                let position = LogPosition::from_key(&k).unwrap_or_default();
                decode(position, &v).map(|decoded| (position, decoded))
            });
            match read {
                Ok(item) => out.push(item),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// The start-up check: the newest `n` records' CRC and framing, that they are dense
    /// and end at the head, and that the archive starts at position 1. Older records are
    /// checked whenever they are read (every read decodes and checks its CRC) and all at
    /// once by [`Self::verify`] (`rucket replay verify`); reading them all at every start
    /// would make a restart take as long as the archive is large. Returns the records
    /// checked.
    pub fn verify_tail(&self, n: usize) -> Result<u64, LogError> {
        let head = self.head();
        if let Some(e) = &self.unreadable_tail {
            return Err(LogError::CorruptEvent {
                position: LogPosition(head.0 + 1),
                reason: format!("the archive's newest records cannot be read ({e})"),
            });
        }
        if let Some(first) = self.first()? {
            if first.0 != 1 {
                return Err(LogError::CorruptEvent {
                    position: LogPosition(1),
                    reason: format!("missing; the archive starts at position {first}"),
                });
            }
        }
        let mut expected = head.0;
        for g in self.events.iter().rev().take(n) {
            check_record(g, expected, "older")?;
            expected -= 1;
        }
        Ok(head.0 - expected)
    }

    /// Checks every archived record's CRC and framing, and that positions are dense.
    /// Returns the number of events checked.
    pub fn verify(&self) -> Result<u64, LogError> {
        let mut expected = 1u64;
        for g in self.events.iter() {
            check_record(g, expected, "next")?;
            expected += 1;
        }
        Ok(expected - 1)
    }
}

/// Checks that an archive record sits at `expected` and decodes; `direction` names the
/// way the scan runs, for the message when a position is missing.
fn check_record(g: fjall::Guard, expected: u64, direction: &str) -> Result<(), LogError> {
    let (k, v) = g.into_inner().map_err(|e| unreadable(LogPosition(expected), e))?;
    let position = LogPosition::from_key(&k).ok_or_else(|| LogError::CorruptEvent {
        position: LogPosition(expected),
        reason: format!("archive key of {} bytes", k.len()),
    })?;
    if position.0 != expected {
        return Err(LogError::CorruptEvent {
            position: LogPosition(expected),
            reason: format!("missing; the {direction} archived position is {position}"),
        });
    }
    decode_at(position, &v).map(|_| ())
}

/// A record the storage engine could not read (a table block failing its checksum):
/// `position` is the first one the read could not reach.
fn unreadable(position: LogPosition, e: fjall::Error) -> LogError {
    LogError::CorruptEvent { position, reason: format!("the archive's table block cannot be read ({e})") }
}

fn decode_at(position: LogPosition, bytes: &[u8]) -> Result<Envelope, LogError> {
    open_at(position, bytes).map(|(envelope, _)| envelope)
}

/// Checks a record and decodes its event without copying the payload; a failure names
/// the position.
fn open_stamped_at(position: LogPosition, bytes: &[u8]) -> Result<(Hlc, StorageEvent), LogError> {
    Envelope::open_bytes(bytes).map_err(|e| LogError::CorruptEvent { position, reason: e.to_string() })
}

/// Decodes a record and its event, checking both; a failure names the position.
fn open_at(position: LogPosition, bytes: &[u8]) -> Result<(Envelope, StorageEvent), LogError> {
    let corrupt = |e: rucket_schemas::CodecError| LogError::CorruptEvent { position, reason: e.to_string() };
    let envelope = Envelope::from_bytes(bytes).map_err(corrupt)?;
    let event = envelope.open().map_err(corrupt)?;
    Ok((envelope, event))
}

#[cfg(test)]
pub(crate) mod tests {
    use rucket_schemas::{BucketCreated, BucketName, EventId, Hlc, RegionId, StorageEvent, UserId};

    use super::*;

    /// The sealed record of the `i`th test event; its bucket name (`bucket-000042`) can be
    /// found in the files it is written to.
    pub(crate) fn envelope(i: u64) -> Envelope {
        let event = StorageEvent::BucketCreated(BucketCreated {
            bucket: BucketName::parse(&format!("bucket-{i:06}")).unwrap(),
            owner: UserId::new("root"),
            location: String::new(),
            object_lock_enabled: false,
        });
        Envelope::seal(&event, Hlc::new(i << 20, 1), RegionId::new("us-east-1"), EventId([i as u8; 16]))
            .unwrap()
    }

    #[test]
    fn the_start_up_check_reads_the_newest_records_and_the_first_position() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let archive = EventArchive::open(&db).unwrap();
        archive.append_offline(&db, &(1..=5).map(envelope).collect::<Vec<_>>()).unwrap();
        assert_eq!(archive.verify_tail(3).unwrap(), 3);
        assert_eq!(archive.verify_tail(100).unwrap(), 5);

        // A damaged old record: outside the newest three, found by the full check.
        let mut bytes = archive.events.get(LogPosition(1).to_key()).unwrap().unwrap().to_vec();
        bytes[10] ^= 1;
        archive.events.insert(LogPosition(1).to_key(), bytes).unwrap();
        assert_eq!(archive.verify_tail(3).unwrap(), 3);
        assert!(matches!(
            archive.verify_tail(5),
            Err(LogError::CorruptEvent { position: LogPosition(1), .. })
        ));
        assert!(archive.verify().is_err());

        // A gap in the tail, and an archive that does not start at 1.
        archive.events.remove(LogPosition(4).to_key()).unwrap();
        assert!(matches!(
            archive.verify_tail(3),
            Err(LogError::CorruptEvent { position: LogPosition(4), .. })
        ));
        archive.events.insert(LogPosition(4).to_key(), envelope(4).to_bytes()).unwrap();
        archive.events.remove(LogPosition(1).to_key()).unwrap();
        assert!(matches!(
            archive.verify_tail(3),
            Err(LogError::CorruptEvent { position: LogPosition(1), .. })
        ));
    }
}
