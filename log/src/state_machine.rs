//! The Raft state machine. Each committed command is decided against the projections;
//! an event is sealed, archived under the next log position and folded, and the applied
//! markers are written, all in one fjall batch per command.
//!
//! A Raft entry holds several commands. Progress inside an entry is recorded
//! (`partial`), so a crash between two of its commands resumes after the last one done
//! instead of applying it twice or skipping the rest.
//!
//! Snapshots are the archive itself: the events up to the snapshot's position. A node
//! that installs one refolds them, which is exactly what replay does.

use std::io::Cursor;
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use rucket_projections::{Decision, Projections};
use rucket_schemas::{
    ClusterMember, Command, Envelope, EventId, EventType, LogPosition, MembershipChanged, Outcome, RegionId,
    StorageEvent,
};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::{BatchOutcome, EventArchive, NodeId, TypeConfig};

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const PARTIAL: &[u8] = b"partial";
const SNAPSHOT: &[u8] = b"snapshot";

/// The last fully applied Raft entry and the archive position reached at its end, written
/// in the batch that finishes the entry; a snapshot cuts the archive exactly there.
#[derive(Serialize, Deserialize)]
struct AppliedMark {
    log_id: LogId<NodeId>,
    position: LogPosition,
}

/// Commands of entry `index` already applied before a crash.
#[derive(Serialize, Deserialize)]
struct Partial {
    index: u64,
    done: u32,
}

/// The stored description of the current snapshot: its Raft meta and the archive
/// position it covers.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    position: LogPosition,
}

#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    projections: Projections,
    archive: EventArchive,
    meta: Keyspace,
    /// The region stamped on events the log writes by itself (membership changes).
    region: RegionId,
    /// Event id → archive position of every command applied as an event since this
    /// index exists: a retried command (a forward whose answer was lost) is found here
    /// and answered with its first outcome instead of being applied again.
    event_ids: Keyspace,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

impl StateMachine {
    pub fn open(
        db: &Database,
        projections: Projections,
        archive: EventArchive,
    ) -> std::result::Result<Self, fjall::Error> {
        Self::open_in(db, projections, archive, RegionId::new("us-east-1"))
    }

    /// As [`Self::open`], for a node of `region`.
    pub fn open_in(
        db: &Database,
        projections: Projections,
        archive: EventArchive,
        region: RegionId,
    ) -> std::result::Result<Self, fjall::Error> {
        let meta = db.keyspace("raft.sm", KeyspaceCreateOptions::default)?;
        let event_ids = db.keyspace("raft.event_ids", KeyspaceCreateOptions::default)?;
        let inner = Inner { db: db.clone(), projections, archive, meta, region, event_ids };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }

    pub fn archive(&self) -> &EventArchive {
        &self.inner.archive
    }

    fn get<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.inner.meta.get(key).map_err(read_err)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v).map_err(read_err)?)),
        }
    }

    /// Applies one command. `last_of_entry` carries the entry's log id when this is its
    /// final command, so the entry is marked applied in the same batch.
    fn apply_command(
        &self,
        index: u64,
        offset: usize,
        command: &Command,
        last_of_entry: Option<&LogId<NodeId>>,
    ) -> Result<Outcome> {
        let inner = &self.inner;
        let earlier = inner.event_ids.get(command.event_id.0).map_err(read_err)?;
        let decision = match &earlier {
            // Applied before: decided once, never again.
            Some(_) => Decision::Unchanged,
            None => inner.projections.decide(command).map_err(sm_err)?,
        };
        let mut batch = inner.db.batch();
        let mut advanced = None;
        let outcome = match decision {
            Decision::Unchanged if earlier.is_some() => {
                let position = earlier.as_deref().and_then(LogPosition::from_key).unwrap_or_default();
                Outcome::Applied { position, released_blobs: Vec::new() }
            }
            Decision::Rejected(r) => Outcome::Rejected(r),
            Decision::Unchanged => Outcome::Unchanged,
            Decision::Event(event) => {
                let position = LogPosition(inner.archive.head().0 + 1);
                let envelope =
                    Envelope::seal(&event, command.hlc, command.origin_region.clone(), command.event_id)
                        .map_err(sm_err)?;
                batch.insert(&inner.archive.events, position.to_key(), envelope.to_bytes());
                batch.insert(&inner.event_ids, command.event_id.0, position.to_key());
                let released = inner.projections.fold(&mut batch, command.hlc, &event).map_err(sm_err)?;
                inner.projections.set_applied(&mut batch, position);
                advanced = Some(position);
                Outcome::Applied { position, released_blobs: released }
            }
        };
        match last_of_entry {
            Some(log_id) => {
                let position = advanced.unwrap_or_else(|| inner.archive.head());
                let mark = AppliedMark { log_id: *log_id, position };
                batch.insert(&inner.meta, LAST_APPLIED, codec::encode(&mark).map_err(sm_err)?);
                batch.remove(&inner.meta, PARTIAL);
            }
            None => {
                let partial = Partial { index, done: offset as u32 + 1 };
                batch.insert(&inner.meta, PARTIAL, codec::encode(&partial).map_err(sm_err)?);
            }
        }
        batch.commit().map_err(sm_err)?;
        if let Some(position) = advanced {
            inner.archive.advance(position);
        }
        Ok(outcome)
    }

    fn apply_entry(&self, entry: Entry<TypeConfig>) -> Result<BatchOutcome> {
        let inner = &self.inner;
        match entry.payload {
            EntryPayload::Normal(batch) if !batch.0.is_empty() => {
                let skip = match self.get::<Partial>(PARTIAL)? {
                    Some(p) if p.index == entry.log_id.index => p.done as usize,
                    _ => 0,
                };
                let n = batch.0.len();
                let mut outcomes = Vec::with_capacity(n);
                for (offset, command) in batch.0.iter().enumerate() {
                    if offset < skip {
                        // Applied before a restart; nobody waits for this answer any more.
                        outcomes.push(Outcome::Unchanged);
                        continue;
                    }
                    let last = (offset + 1 == n).then_some(&entry.log_id);
                    outcomes.push(self.apply_command(entry.log_id.index, offset, command, last)?);
                }
                Ok(BatchOutcome(outcomes))
            }
            payload => {
                let mut batch = inner.db.batch();
                let mut position = inner.archive.head();
                let mut advanced = None;
                if let EntryPayload::Membership(m) = &payload {
                    if let Some(event) = membership_event(m) {
                        // Archived like any event, so an audit sees the cluster change;
                        // stamped with the newest event's HLC (the log reads no clock),
                        // its id derived from the entry, so every replica writes the
                        // same bytes.
                        let last = inner.archive.get(position).map_err(read_err)?;
                        let hlc = last.map(|e| e.hlc).unwrap_or_default();
                        let mut id = [0u8; 16];
                        id[..8].copy_from_slice(&entry.log_id.leader_id.term.to_be_bytes());
                        id[8..].copy_from_slice(&entry.log_id.index.to_be_bytes());
                        let envelope =
                            Envelope::seal(&event, hlc, inner.region.clone(), EventId(id)).map_err(sm_err)?;
                        position = LogPosition(position.0 + 1);
                        batch.insert(&inner.archive.events, position.to_key(), envelope.to_bytes());
                        inner.projections.fold(&mut batch, hlc, &event).map_err(sm_err)?;
                        inner.projections.set_applied(&mut batch, position);
                        advanced = Some(position);
                    }
                }
                let mark = AppliedMark { log_id: entry.log_id, position };
                batch.insert(&inner.meta, LAST_APPLIED, codec::encode(&mark).map_err(sm_err)?);
                if let EntryPayload::Membership(m) = payload {
                    let stored = StoredMembership::new(Some(entry.log_id), m);
                    batch.insert(&inner.meta, MEMBERSHIP, codec::encode(&stored).map_err(sm_err)?);
                }
                batch.commit().map_err(sm_err)?;
                if let Some(position) = advanced {
                    inner.archive.advance(position);
                }
                Ok(BatchOutcome::default())
            }
        }
    }

    /// The archive up to `position`, framed as `[u64 position][u32 len][envelope]`.
    fn snapshot_data(&self, snapshot: &fjall::Snapshot, position: LogPosition) -> Result<Vec<u8>> {
        use fjall::Readable;
        let mut data = Vec::new();
        for g in snapshot.range(&self.inner.archive.events, ..=position.to_key()) {
            let (k, v) = g.into_inner().map_err(read_err)?;
            data.extend_from_slice(&k);
            data.extend_from_slice(&(v.len() as u32).to_le_bytes());
            data.extend_from_slice(&v);
        }
        Ok(data)
    }
}

/// The archived record of a committed membership, or `None` for a single node's own
/// bootstrap (one voter known as "local"), which is no cluster change.
fn membership_event(m: &openraft::Membership<NodeId, BasicNode>) -> Option<StorageEvent> {
    let member = |id: NodeId| ClusterMember {
        id,
        address: m.get_node(&id).map(|n| n.addr.clone()).unwrap_or_default(),
    };
    let voters: Vec<ClusterMember> = m.voter_ids().map(member).collect();
    let learners: Vec<ClusterMember> = m.learner_ids().map(member).collect();
    if learners.is_empty() && voters.len() == 1 && voters[0].address == "local" {
        return None;
    }
    Some(StorageEvent::MembershipChanged(MembershipChanged { voters, learners }))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Records which archive prefix the snapshot is. openraft keeps only the meta of a
    /// built snapshot, so no data is read here; `get_current_snapshot` produces it when a
    /// follower needs it.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || -> Result<Snapshot<TypeConfig>> {
            use fjall::Readable;
            let inner = &this.inner;
            // The archive must be durable before Raft may purge the log it came from.
            inner.db.persist(PersistMode::SyncData).map_err(sm_err)?;
            let snap = inner.db.snapshot();
            let read = |key: &[u8]| -> Result<Option<Vec<u8>>> {
                Ok(snap.get(&inner.meta, key).map_err(read_err)?.map(|v| v.to_vec()))
            };
            // The mark and the events it covers come from one consistent snapshot, so a
            // half-applied entry is never included.
            let mark: Option<AppliedMark> =
                read(LAST_APPLIED)?.map(|v| codec::decode(&v)).transpose().map_err(read_err)?;
            let last_membership: StoredMembership<NodeId, BasicNode> = read(MEMBERSHIP)?
                .map(|v| codec::decode(&v))
                .transpose()
                .map_err(read_err)?
                .unwrap_or_default();
            let last_log_id = mark.as_ref().map(|m| m.log_id);
            let position = mark.as_ref().map(|m| m.position).unwrap_or_default();
            let snapshot_id = format!("{}-{}", last_log_id.map(|l| l.index).unwrap_or_default(), position);
            let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
            let stored = StoredSnapshot { meta: meta.clone(), position };
            inner.meta.insert(SNAPSHOT, codec::encode(&stored).map_err(sm_err)?).map_err(sm_err)?;
            Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(Vec::new())) })
        })
        .await
        .map_err(sm_err)?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let mark: Option<AppliedMark> = self.get(LAST_APPLIED)?;
        Ok((mark.map(|m| m.log_id), self.get(MEMBERSHIP)?.unwrap_or_default()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchOutcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let this = self.clone();
        tokio::task::spawn_blocking(move || entries.into_iter().map(|e| this.apply_entry(e)).collect())
            .await
            .map_err(sm_err)?
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let this = self.clone();
        let meta = meta.clone();
        let data = snapshot.into_inner();
        tokio::task::spawn_blocking(move || this.install(meta, data)).await.map_err(sm_err)?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let Some(stored) = self.get::<StoredSnapshot>(SNAPSHOT)? else { return Ok(None) };
        let snap = self.inner.db.snapshot();
        let data = self.snapshot_data(&snap, stored.position)?;
        Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl StateMachine {
    /// Replaces the state with the archive carried by a snapshot, refolding each event.
    fn install(&self, meta: SnapshotMeta<NodeId, BasicNode>, data: Vec<u8>) -> Result<()> {
        let inner = &self.inner;
        inner.projections.clear().map_err(sm_err)?;
        inner.archive.events.clear().map_err(sm_err)?;
        inner.event_ids.clear().map_err(sm_err)?;
        let mut rest = data.as_slice();
        let mut position = LogPosition(0);
        while !rest.is_empty() {
            let corrupt = || sm_err(std::io::Error::other("snapshot framing is truncated"));
            if rest.len() < 12 {
                return Err(corrupt());
            }
            position = LogPosition::from_key(&rest[..8]).ok_or_else(corrupt)?;
            let len = u32::from_le_bytes(rest[8..12].try_into().map_err(|_| corrupt())?) as usize;
            let bytes = rest.get(12..12 + len).ok_or_else(corrupt)?;
            rest = &rest[12 + len..];
            let envelope = Envelope::from_bytes(bytes).map_err(sm_err)?;
            let event = envelope.open().map_err(sm_err)?;
            let mut batch = inner.db.batch();
            batch.insert(&inner.archive.events, position.to_key(), bytes.to_vec());
            // As apply does: command ids only (the log's own membership records have none).
            if envelope.event_type != EventType::MembershipChanged as u16 {
                batch.insert(&inner.event_ids, envelope.event_id.0, position.to_key());
            }
            inner.projections.fold(&mut batch, envelope.hlc, &event).map_err(sm_err)?;
            inner.projections.set_applied(&mut batch, position);
            batch.commit().map_err(sm_err)?;
        }
        inner.archive.reset_head(position);
        tracing::info!(events = position.0, "installed a snapshot from the leader");
        let mut batch = inner.db.batch();
        match meta.last_log_id {
            Some(log_id) => {
                let mark = AppliedMark { log_id, position };
                batch.insert(&inner.meta, LAST_APPLIED, codec::encode(&mark).map_err(sm_err)?)
            }
            None => batch.remove(&inner.meta, LAST_APPLIED),
        }
        batch.insert(&inner.meta, MEMBERSHIP, codec::encode(&meta.last_membership).map_err(sm_err)?);
        batch.remove(&inner.meta, PARTIAL);
        let stored = StoredSnapshot { meta, position };
        batch.insert(&inner.meta, SNAPSHOT, codec::encode(&stored).map_err(sm_err)?);
        batch.commit().map_err(sm_err)?;
        inner.db.persist(PersistMode::SyncData).map_err(sm_err)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};
    use rucket_schemas::{BucketName, CommandBody, EventId, Hlc, RegionId, UserId};

    use super::*;
    use crate::CommandBatch;

    fn create(seq: u64, name: &str) -> Command {
        Command {
            hlc: Hlc::new(seq << 32, 1),
            event_id: EventId([seq as u8; 16]),
            origin_region: RegionId::new("us-east-1"),
            requester: UserId::new("root"),
            requester_is_admin: true,
            body: CommandBody::CreateBucket {
                bucket: BucketName::parse(name).unwrap(),
                location: String::new(),
                object_lock_enabled: false,
            },
        }
    }

    fn entry(index: u64, commands: Vec<Command>) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(CommandBatch(commands)),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_interrupted_by_a_crash_resumes_after_its_last_applied_command() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let archive = EventArchive::open(&db).unwrap();
        let mut sm = StateMachine::open(&db, Projections::open(&db).unwrap(), archive.clone()).unwrap();

        // Entry 1 applies in full.
        let out = sm.apply(vec![entry(1, vec![create(1, "aaa"), create(2, "bbb")])]).await.unwrap();
        assert_eq!(out[0].0.len(), 2);
        assert_eq!(archive.head(), LogPosition(2));

        // Entry 2 crashed after its first command: that command's batch (event and the
        // progress marker) committed, the rest did not.
        let commands = vec![create(3, "ccc"), create(4, "ddd"), create(5, "eee")];
        sm.apply_command(2, 0, &commands[0], None).unwrap();
        assert_eq!(archive.head(), LogPosition(3));

        // On restart Raft applies entry 2 again: the first command is skipped, not
        // applied twice, and positions stay dense.
        let out = sm.apply(vec![entry(2, commands)]).await.unwrap();
        assert_eq!(out[0].0[0], Outcome::Unchanged);
        assert!(matches!(out[0].0[1], Outcome::Applied { position: LogPosition(4), .. }));
        assert!(matches!(out[0].0[2], Outcome::Applied { position: LogPosition(5), .. }));
        let names: Vec<String> =
            sm.projections().buckets().unwrap().into_iter().map(|b| b.name.to_string()).collect();
        assert_eq!(names, ["aaa", "bbb", "ccc", "ddd", "eee"]);
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(2));

        // A snapshot covers exactly the events of fully applied entries.
        let snapshot = sm.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.snapshot_id, "2-5");
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert!(!current.snapshot.into_inner().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retried_command_is_answered_with_its_first_outcome_not_applied_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let archive = EventArchive::open(&db).unwrap();
        let mut sm = StateMachine::open(&db, Projections::open(&db).unwrap(), archive.clone()).unwrap();

        let first = sm.apply(vec![entry(1, vec![create(1, "aaa"), create(2, "bbb")])]).await.unwrap();
        assert!(matches!(first[0].0[1], Outcome::Applied { position: LogPosition(2), .. }));
        // The forward of "bbb" is retried after its answer was lost: it arrives again in
        // a later entry, beside a new command.
        let again = sm.apply(vec![entry(2, vec![create(2, "bbb"), create(3, "ccc")])]).await.unwrap();
        assert_eq!(again[0].0[0], Outcome::Applied { position: LogPosition(2), released_blobs: vec![] });
        assert!(matches!(again[0].0[1], Outcome::Applied { position: LogPosition(3), .. }));
        assert_eq!(archive.head(), LogPosition(3), "nothing was archived twice");
        let events = archive.read_after(LogPosition(0), 10).unwrap();
        assert_eq!(events.len(), 3);
    }
}
