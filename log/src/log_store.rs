//! The Raft log and vote, stored in fjall keyspaces of the node's database.
//!
//! ```text
//! raft.log:  <index u64 BE>  -> entry (bincode via serde)
//! raft.meta: "vote" | "committed" | "last_purged" -> record
//! ```
//! In strict mode an append returns its flush callback only after fdatasync; one append
//! carries a whole batch of commands, so concurrent proposals share that fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};

use crate::codec;
use crate::{Durability, NodeId, TypeConfig};

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

#[derive(Clone)]
pub struct LogStore {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
    durability: Durability,
    /// The last committed Raft index openraft reported, for metrics.
    committed: Arc<AtomicU64>,
    /// Where a failed append (its write or fsync) is recorded, so the node stops
    /// acknowledging writes and says why.
    health: Arc<crate::health::Durability>,
    /// The highest Raft index the state machine has recorded as applied or as covered by
    /// a snapshot install it began; the log is never purged past it (see [`Self::purge`]).
    purge_gate: Option<tokio::sync::watch::Receiver<u64>>,
}

/// How long a purge waits for the state machine to record what it covers.
const PURGE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    pub fn open(db: &Database, durability: Durability) -> std::result::Result<Self, fjall::Error> {
        Ok(Self {
            db: db.clone(),
            log: db.keyspace("raft.log", KeyspaceCreateOptions::default)?,
            meta: db.keyspace("raft.meta", KeyspaceCreateOptions::default)?,
            durability,
            committed: Arc::default(),
            health: Arc::default(),
            purge_gate: None,
        })
    }

    /// Records append failures in `health` (the node's).
    /// Bounds purges by what the state machine has recorded (see [`Self::purge`]).
    pub fn with_purge_gate(mut self, gate: tokio::sync::watch::Receiver<u64>) -> Self {
        self.purge_gate = Some(gate);
        self
    }

    pub fn with_health(mut self, health: Arc<crate::health::Durability>) -> Self {
        self.health = health;
        self
    }

    /// A handle that always reads the last committed Raft index.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.meta.get(key).map_err(read_err)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v).map_err(read_err)?)),
        }
    }

    /// Writes a meta record and makes it durable before returning (a vote must survive).
    async fn put_meta<T: serde::Serialize>(&self, key: &'static [u8], value: &T, sync: bool) -> Result<()> {
        let bytes = codec::encode(value).map_err(write_err)?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || -> std::result::Result<(), fjall::Error> {
            store.meta.insert(key, bytes)?;
            if sync {
                store.db.persist(PersistMode::SyncData)?;
            }
            Ok(())
        })
        .await
        .map_err(write_err)?
        .map_err(write_err)
    }

    fn decode_entry(index: u64, bytes: &[u8]) -> Result<Entry<TypeConfig>> {
        codec::decode(bytes).map_err(|e| StorageIOError::read_log_at_index(index, &e).into())
    }
}

/// The most entry bytes (as stored) one AppendEntries carries. openraft gives each call
/// the heartbeat interval as its deadline and asks for up to `max_payload_entries` entries
/// at once: a follower far behind on large entries would get calls that can never finish
/// in time. Capped here, where openraft asks for them, it catches up in pieces that do.
pub const MAX_APPEND_BYTES: usize = 4 << 20;

impl RaftLogReader<TypeConfig> for LogStore {
    /// The entries from `start`, up to `end` (exclusive) or [`MAX_APPEND_BYTES`], whichever
    /// comes first; at least one.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for g in self.log.range::<[u8; 8], _>(start.to_be_bytes()..end.to_be_bytes()) {
            let (k, v) = g.into_inner().map_err(read_err)?;
            if !out.is_empty() && bytes + v.len() > MAX_APPEND_BYTES {
                break;
            }
            bytes += v.len();
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default());
            out.push(Self::decode_entry(index, &v)?);
        }
        Ok(out)
    }

    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(i.to_be_bytes()),
            Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(i.to_be_bytes()),
            Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for g in self.log.range::<[u8; 8], _>((start, end)) {
            let (k, v) = g.into_inner().map_err(read_err)?;
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default());
            out.push(Self::decode_entry(index, &v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        let last = match self.log.last_key_value() {
            None => last_purged,
            Some(g) => {
                let (k, v) = g.into_inner().map_err(read_err)?;
                let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default());
                Some(Self::decode_entry(index, &v)?.log_id)
            }
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        self.put_meta(VOTE, vote, true).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        if let Some(c) = committed {
            self.committed.store(c.index, Ordering::Relaxed);
        }
        // The commit index is a hint for faster recovery; it rides on the next fsync.
        self.put_meta(COMMITTED, &committed, false).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id.index.to_be_bytes(), codec::encode(&entry).map_err(write_err)?));
        }
        let store = self.clone();
        let result = tokio::task::spawn_blocking(move || -> std::result::Result<(), fjall::Error> {
            let mut batch = store.db.batch();
            for (k, v) in encoded {
                batch.insert(&store.log, k, v);
            }
            batch.commit()?;
            if store.durability == Durability::Strict {
                store.db.persist(PersistMode::SyncData)?;
            }
            Ok(())
        })
        .await
        .map_err(write_err)?;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                self.health.record_failure("appending to the Raft log", &e);
                let message = e.to_string();
                callback.log_io_completed(Err(std::io::Error::other(message)));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let mut batch = self.db.batch();
        for g in self.log.range::<[u8; 8], _>(log_id.index.to_be_bytes()..) {
            batch.remove(&self.log, g.key().map_err(write_err)?);
        }
        batch.commit().map_err(write_err)
    }

    /// Removes entries up to `log_id`. openraft asks for it as soon as it accepts a
    /// snapshot, before the state machine has begun to install it: a node stopped in
    /// between would have neither the entries nor a record of the install. So a purge
    /// first waits until the state machine has recorded an applied entry or a begun
    /// install at `log_id`; if that does not come in time, this purge is skipped (the
    /// entries stay, and the next purge removes them).
    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        if let Some(gate) = &mut self.purge_gate {
            let recorded = tokio::time::timeout(PURGE_WAIT, gate.wait_for(|i| *i >= log_id.index)).await;
            if !matches!(recorded, Ok(Ok(_))) {
                tracing::warn!(
                    index = log_id.index,
                    "the log is not purged: the state machine has not recorded what the purge covers"
                );
                return Ok(());
            }
        }
        // From the last purge on: the range before it is tombstones that every purge
        // would otherwise walk again until compaction drops them.
        let from = self.get_meta::<LogId<NodeId>>(LAST_PURGED)?.map_or(0, |l| l.index + 1);
        let mut batch = self.db.batch();
        batch.insert(&self.meta, LAST_PURGED, codec::encode(&log_id).map_err(write_err)?);
        for g in self.log.range::<[u8; 8], _>(from.to_be_bytes()..=log_id.index.to_be_bytes()) {
            batch.remove(&self.log, g.key().map_err(write_err)?);
        }
        batch.commit().map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};
    use rucket_schemas::{BucketName, Command, CommandBody, EventId, Hlc, RegionId, UserId};

    use super::*;
    use crate::CommandBatch;

    /// An entry of about `len` bytes (one command whose only large field is that long).
    fn entry(index: u64, len: usize) -> Entry<TypeConfig> {
        let command = Command {
            hlc: Hlc::new(index << 32, 1),
            event_id: EventId([index as u8; 16]),
            origin_region: RegionId::new("us-east-1"),
            requester: UserId::new("root"),
            requester_is_admin: true,
            body: CommandBody::CreateBucket {
                bucket: BucketName::parse("capped").unwrap(),
                location: "x".repeat(len),
                object_lock_enabled: false,
            },
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(CommandBatch(vec![command])),
        }
    }

    #[tokio::test]
    async fn a_payload_for_a_follower_stops_at_the_byte_cap_but_always_has_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let mut store = LogStore::open(&db, Durability::Relaxed).unwrap();
        let mib = 1 << 20;
        let sizes = [mib, mib, mib, mib, mib, 5 * mib, 10, 10];
        for (i, len) in sizes.iter().enumerate() {
            let e = entry(i as u64 + 1, *len);
            store.log.insert(e.log_id.index.to_be_bytes(), codec::encode(&e).unwrap()).unwrap();
        }
        let indexes =
            |entries: Vec<Entry<TypeConfig>>| entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>();
        // Three entries of a MiB fit in 4 MiB with their framing; a fourth does not.
        assert_eq!(indexes(store.limited_get_log_entries(1, 9).await.unwrap()), [1, 2, 3]);
        assert_eq!(indexes(store.limited_get_log_entries(4, 9).await.unwrap()), [4, 5]);
        // An entry larger than the cap still goes, alone.
        assert_eq!(indexes(store.limited_get_log_entries(6, 9).await.unwrap()), [6]);
        assert_eq!(indexes(store.limited_get_log_entries(7, 9).await.unwrap()), [7, 8]);
        // The range's end still holds.
        assert_eq!(indexes(store.limited_get_log_entries(1, 2).await.unwrap()), [1]);
    }
}
