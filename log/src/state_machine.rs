//! The Raft state machine. Each committed command is decided against the projections;
//! an event is sealed, archived under the next log position and folded, and the applied
//! markers are written, all in one fjall batch per command.
//!
//! A Raft entry holds several commands. Progress inside an entry is recorded
//! (`partial`), so a crash between two of its commands resumes after the last one done
//! instead of applying it twice or skipping the rest.
//!
//! Snapshots are the archive itself: the events up to the snapshot's position. A node
//! that installs one pulls the events after its own head from a peer and folds them,
//! which is exactly what replay does (see [`crate::snapshot`]). A node with no views to
//! keep (it joins empty, or starts over) copies the archive first and then folds it
//! whole, staged in memory, as a rebuild does.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use rucket_projections::{Decision, GroupedFold, Projections};
use rucket_schemas::{
    ClusterMember, Command, Envelope, EventId, EventType, LogPosition, MembershipChanged, Outcome, RegionId,
    StorageEvent,
};
use serde::{Deserialize, Serialize};

use crate::network::{call, Rpc, Wire, WireError};
use crate::snapshot::{self, Manifest, RangePage, RangeRequest};
use crate::{codec, BatchOutcome, EventArchive, LogError, NodeId, TypeConfig};

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const PARTIAL: &[u8] = b"partial";
const SNAPSHOT: &[u8] = b"snapshot";
const INSTALLING: &[u8] = b"installing";
/// Written when a node first opens with nothing recorded, and removed (durably, for good)
/// before its views are first cleared: views refilled after a clear are folded through
/// write batches, never staged (see [`Projections::clear`]). A data dir of an older
/// release, which may hold a clear it did not mark, has none either.
const NEVER_CLEARED: &[u8] = b"views_never_cleared";

/// The memory a snapshot install stages before it writes views (a quarter of a rebuild's:
/// the server goes on beside it).
const INSTALL_STAGE: usize = rucket_projections::STAGE_BUDGET / 4;

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

/// A snapshot whose install began and has not finished. openraft purges the log the
/// snapshot covers and records later commits before the install is done, so a node that
/// stops meanwhile cannot catch up from its log: it finishes the install first.
#[derive(Serialize, Deserialize)]
struct Installing {
    meta: SnapshotMeta<NodeId, BasicNode>,
    manifest: Manifest,
    /// The archive and the state folded from it are being emptied for a refold from 0:
    /// a node that stopped meanwhile empties them again before it resumes.
    refold: bool,
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
    /// This node's id and how it reaches its peers, on a node of a cluster: installing a
    /// snapshot pulls the archive's missing suffix over it.
    peers: OnceLock<(NodeId, Arc<dyn Wire>)>,
    /// Counts installed snapshots, so that the server can fetch the bodies they name.
    installs: tokio::sync::watch::Sender<u64>,
    /// Set when the node stops: an install waiting on its peers gives up (it resumes at
    /// the next start from its durable record) instead of holding the database open.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Whether a snapshot install is running (the archive may be emptied meanwhile).
    installing: std::sync::atomic::AtomicBool,
    /// The highest Raft index recorded as applied, or as covered by an install that has
    /// begun: the log store purges no further (see `LogStore::purge`).
    recorded: tokio::sync::watch::Sender<u64>,
    /// Serializes writes of the current snapshot's record (a build and an install may
    /// race; the newer one wins).
    snapshot_record: std::sync::Mutex<()>,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

/// What a peer answers when asked for archive events.
type PageAnswer = std::result::Result<std::result::Result<RangePage, String>, WireError>;

/// Asks peer `id` for the archive events of `request`.
async fn ask_page(wire: &dyn Wire, id: NodeId, address: &str, request: &RangeRequest) -> PageAnswer {
    call(wire, id, address, Rpc::ArchiveRange, request, snapshot::PAGE_DEADLINE).await
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
        if meta.first_key_value().is_none() {
            meta.insert(NEVER_CLEARED, [])?;
        }
        let stored = |key: &[u8]| meta.get(key).ok().flatten();
        let applied = stored(LAST_APPLIED).and_then(|v| codec::decode::<AppliedMark>(&v).ok());
        let installing = stored(INSTALLING).and_then(|v| codec::decode::<Installing>(&v).ok());
        let recorded = applied
            .map(|m| m.log_id.index)
            .max(installing.and_then(|i| i.meta.last_log_id).map(|l| l.index))
            .unwrap_or_default();
        let inner = Inner {
            db: db.clone(),
            projections,
            archive,
            meta,
            region,
            event_ids,
            peers: OnceLock::new(),
            installs: tokio::sync::watch::Sender::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
            installing: Default::default(),
            recorded: tokio::sync::watch::Sender::new(recorded),
            snapshot_record: Default::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Lets this node, `id` of a cluster, install snapshots by pulling from its peers
    /// (a [`crate::Node`] of a cluster does this itself).
    pub fn connect(&self, id: NodeId, wire: Arc<dyn Wire>) {
        let _ = self.inner.peers.set((id, wire));
    }

    /// A receiver that changes each time a snapshot is installed.
    pub fn snapshot_installs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.installs.subscribe()
    }

    /// Whether a snapshot install is running.
    pub fn snapshot_installing(&self) -> bool {
        self.inner.installing.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The highest Raft index recorded as applied or as covered by a begun install.
    pub(crate) fn purge_gate(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.recorded.subscribe()
    }

    fn record(&self, index: u64) {
        self.inner.recorded.send_if_modified(|r| {
            let moved = index > *r;
            if moved {
                *r = index;
            }
            moved
        });
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
                let released =
                    inner.projections.fold(&mut batch, position, command.hlc, &event).map_err(sm_err)?;
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
        if let Some(log_id) = last_of_entry {
            self.record(log_id.index);
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
                        inner.projections.fold(&mut batch, position, hlc, &event).map_err(sm_err)?;
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
                self.record(entry.log_id.index);
                Ok(BatchOutcome::default())
            }
        }
    }
}

/// Makes the state machine's records agree with an archive cut after `last_good` (see
/// `damage::cut_archive`): command ids of events past it are forgotten (a retry of one is
/// decided again), the applied mark points no further than it and a snapshot past it is
/// dropped.
pub(crate) fn forget_after(db: &Database, last_good: LogPosition) -> std::result::Result<(), LogError> {
    let meta = db.keyspace("raft.sm", KeyspaceCreateOptions::default)?;
    let event_ids = db.keyspace("raft.event_ids", KeyspaceCreateOptions::default)?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| LogError::CorruptEvent {
        position: last_good,
        reason: format!("the state machine's {what} record does not decode: {e}"),
    };
    // Ids go in pages (an archive cut may forget millions); the marks go last, with the
    // final page, and a repair stopped midway removes the rest when run again.
    let mut batch = db.batch();
    let mut in_batch = 0;
    for g in event_ids.iter() {
        let (id, position) = g.into_inner()?;
        if LogPosition::from_key(&position).is_none_or(|p| p > last_good) {
            batch.remove(&event_ids, id);
            in_batch += 1;
            if in_batch == 10_000 {
                batch.commit()?;
                batch = db.batch();
                in_batch = 0;
            }
        }
    }
    if let Some(v) = meta.get(LAST_APPLIED)? {
        let mut mark: AppliedMark = codec::decode(&v).map_err(|e| corrupt("last_applied", &e))?;
        if mark.position > last_good {
            mark.position = last_good;
            batch.insert(&meta, LAST_APPLIED, codec::encode(&mark).map_err(|e| corrupt("last_applied", &e))?);
        }
    }
    // A snapshot past the cut would claim Raft entries whose events are gone: openraft
    // cuts a new one when it needs one.
    if let Some(v) = meta.get(SNAPSHOT)? {
        let stored: StoredSnapshot = codec::decode(&v).map_err(|e| corrupt("snapshot", &e))?;
        if stored.position > last_good {
            batch.remove(&meta, SNAPSHOT);
        }
    }
    batch.commit()?;
    Ok(())
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
            let _record = inner.snapshot_record.lock().unwrap_or_else(|e| e.into_inner());
            // An install may have recorded a newer snapshot meanwhile; it stays current.
            if let Some(current) = this.get::<StoredSnapshot>(SNAPSHOT)? {
                if current.meta.last_log_id >= last_log_id {
                    return Ok(Snapshot { meta: current.meta, snapshot: Box::new(Cursor::new(Vec::new())) });
                }
            }
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
        if let Some(Installing { meta, manifest, refold }) = self.get(INSTALLING)? {
            tracing::info!(position = %manifest.position, "finishing a snapshot install that a stop interrupted");
            if refold {
                self.blocking(|sm| sm.reset()).await?;
            }
            self.install(meta, manifest).await?;
        }
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
        let manifest: Manifest = codec::decode(snapshot.get_ref()).map_err(sm_err)?;
        self.install(meta.clone(), manifest).await
    }

    /// The snapshot's manifest: its position and this node as the source to pull from.
    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let Some(stored) = self.get::<StoredSnapshot>(SNAPSHOT)? else { return Ok(None) };
        let source = self.inner.peers.get().map(|(id, _)| *id).unwrap_or_default();
        let manifest = Manifest { position: stored.position, source };
        let data = codec::encode(&manifest).map_err(read_err)?;
        Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl StateMachine {
    /// Brings the archive up to the snapshot's position and takes the snapshot's place in
    /// the log: pulls the events after this node's head from the snapshot's source (or
    /// any other member) and folds each, as apply does; or, when the views are empty,
    /// archives each page and folds the whole archive at the end (see [`Self::pull`]).
    ///
    /// A pull that no peer can serve is retried with a growing pause rather than failing:
    /// openraft stops a node whose state machine returns an error, and a node that needs a
    /// snapshot cannot do anything else meanwhile.
    async fn install(&self, meta: SnapshotMeta<NodeId, BasicNode>, manifest: Manifest) -> Result<()> {
        let (me, wire) = match self.inner.peers.get().cloned() {
            Some((me, wire)) => (me, Some(wire)),
            None => (0, None),
        };
        let membership = meta.last_membership.membership();
        let mut sources: Vec<(NodeId, String)> = membership
            .nodes()
            .filter(|(id, _)| **id != me)
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect();
        // The node that cut the snapshot first: it holds every event up to its position.
        sources.sort_by_key(|(id, _)| *id != manifest.source);
        self.inner.installing.store(true, std::sync::atomic::Ordering::Release);
        let upto = manifest.position;
        let result = async {
            let started = self.pull(&meta, &manifest, &sources, wire.as_ref()).await?;
            self.blocking(move |sm| sm.finish_install(meta, upto)).await?;
            Ok::<_, StorageError<NodeId>>(started)
        }
        .await;
        self.inner.installing.store(false, std::sync::atomic::Ordering::Release);
        let started = result?;
        tracing::info!(from = %started, events = upto.0 - started.0, position = %upto, "installed a snapshot from the leader");
        self.inner.installs.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Records the install (durably, before anything changes), then pulls and folds the
    /// archive up to the manifest's position. Returns the head it started from.
    async fn pull(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        manifest: &Manifest,
        sources: &[(NodeId, String)],
        wire: Option<&Arc<dyn Wire>>,
    ) -> Result<LogPosition> {
        self.record_installing(meta, manifest, false).await?;
        if let Some(l) = meta.last_log_id {
            self.record(l.index);
        }
        let upto = manifest.position;
        let mut after = self.inner.archive.head();
        let applied = self.inner.projections.applied_position().map_err(read_err)?;
        if after > upto {
            tracing::warn!(head = %after, snapshot = %upto, "this archive is longer than the snapshot; refolding from the start");
            after = self.refold(meta, manifest).await?;
        } else if applied != after {
            if self.can_stage()? {
                // An install that copies the archive stopped before its fold began: the
                // archive was checked page by page as it came, and the copy goes on.
                tracing::info!(head = %after, "resuming the copy of the archive that a stop interrupted");
            } else {
                tracing::warn!(head = %after, applied = %applied, snapshot = %upto, "the views are not folded to this archive's head; refolding from the start");
                after = self.refold(meta, manifest).await?;
            }
        }
        // With no views to keep, the pulled events are only archived, and the whole
        // archive is folded at the end as a rebuild folds it (staged in memory, written as
        // sorted tables): a node that joins folds at replay speed, not event by event.
        let mut copying = self.can_stage()?;
        let started = after;
        tracing::info!(after = %after, upto = %upto, source = manifest.source, copying, "installing a snapshot: pulling the archive events this node lacks");
        let mut failures = 0u32;
        // The next page, asked of the peer that served the last one while that one was
        // written: (peer, the position it follows, the page).
        let mut ahead: Option<(NodeId, LogPosition, RangePage)> = None;
        while after < upto {
            let Some(wire) = wire else {
                let e =
                    std::io::Error::other("the snapshot names events this node lacks and it has no peers");
                return Err(sm_err(e));
            };
            let mut progressed = false;
            // The peer whose next page came ahead is tried first.
            let first = ahead.as_ref().map(|(id, ..)| *id);
            let order = sources.iter().filter(|(id, _)| Some(*id) == first);
            for (id, address) in order.chain(sources.iter().filter(|(id, _)| Some(*id) != first)) {
                let answer = match ahead.take() {
                    Some((from, at, page)) if from == *id && at == after => Ok(Ok(page)),
                    _ => {
                        let request = RangeRequest { after, upto, max_bytes: snapshot::PAGE_BYTES };
                        self.unless_stopping(ask_page(&**wire, *id, address, &request)).await?
                    }
                };
                let page = match answer {
                    Ok(Ok(page)) => page,
                    Ok(Err(reason)) => {
                        tracing::warn!(node = id, %reason, "a peer could not give archive events");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(node = id, error = %e, "a peer could not give archive events");
                        continue;
                    }
                };
                if after.0 > 0 {
                    // A peer that has no record at our head (it is behind, or itself
                    // refolding) cannot serve us; only the snapshot's own source, which
                    // holds the whole prefix, is believed when its record differs.
                    let Some(base) = page.base.as_deref() else { continue };
                    let ours = self.inner.archive.events.get(after.to_key()).map_err(read_err)?;
                    if ours.as_deref() != Some(base) {
                        if *id != manifest.source {
                            tracing::warn!(node = id, position = %after, "a peer's archive differs from this one; asking another");
                            continue;
                        }
                        tracing::warn!(node = id, position = %after, "this archive differs from the cluster's; refolding from the start");
                        after = self.refold(meta, manifest).await?;
                        copying = false;
                        progressed = true;
                        break;
                    }
                }
                let events = match snapshot::check_page(page.events, after, upto) {
                    Ok(events) if !events.is_empty() => events,
                    Ok(_) => continue,
                    Err(reason) => {
                        tracing::warn!(node = id, %reason, "a peer sent a bad page of archive events");
                        continue;
                    }
                };
                // While this page is written, the next one travels (its base is checked
                // against what this write leaves, like any page's).
                let Some(&(last, ..)) = events.last() else { continue };
                let store = if copying { Self::archive_page } else { Self::fold_page };
                let write = self.blocking(move |sm| store(sm, events));
                if last < upto {
                    let next = RangeRequest { after: last, upto, max_bytes: snapshot::PAGE_BYTES };
                    let fetch = self.unless_stopping(ask_page(&**wire, *id, address, &next));
                    // A failed write returns at once; a stop still waits for the write.
                    let (written, fetched) =
                        tokio::try_join!(write, async { Ok::<_, StorageError<NodeId>>(fetch.await) })?;
                    after = written;
                    // A next page that did not come is asked again like any other.
                    ahead = match fetched? {
                        Ok(Ok(page)) => Some((*id, last, page)),
                        _ => None,
                    };
                } else {
                    after = write.await?;
                }
                progressed = true;
                break;
            }
            if progressed {
                failures = 0;
            } else {
                failures += 1;
                self.unless_stopping(tokio::time::sleep(snapshot::backoff(failures))).await?;
            }
        }
        if copying && after > LogPosition(0) {
            let began = std::time::Instant::now();
            self.blocking(move |sm| sm.fold_copied(upto)).await?;
            tracing::info!(
                events = upto.0,
                seconds = began.elapsed().as_secs_f64(),
                "folded the copied archive"
            );
        }
        Ok(started)
    }

    /// Stops a running install's waits on peers (see `Inner::stopping`).
    pub(crate) fn stop(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Runs `wait` unless the node stops first.
    async fn unless_stopping<T>(&self, wait: impl std::future::Future<Output = T>) -> Result<T> {
        let mut stopping = self.inner.stopping.subscribe();
        tokio::select! {
            done = wait => Ok(done),
            _ = stopping.wait_for(|stop| *stop) => Err(sm_err(std::io::Error::other(
                "the node is stopping; the snapshot install resumes at its next start",
            ))),
        }
    }

    /// Records a begun install durably; `refold` while the archive is being emptied.
    async fn record_installing(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        manifest: &Manifest,
        refold: bool,
    ) -> Result<()> {
        let installing = Installing { meta: meta.clone(), manifest: manifest.clone(), refold };
        let installing = codec::encode(&installing).map_err(sm_err)?;
        self.blocking(move |sm| {
            sm.inner.meta.insert(INSTALLING, installing).map_err(sm_err)?;
            sm.inner.db.persist(PersistMode::SyncData).map_err(sm_err)
        })
        .await
    }

    /// Empties the archive and its state for a refold from position 0, so that a stop
    /// in the middle empties them again on resuming.
    async fn refold(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        manifest: &Manifest,
    ) -> Result<LogPosition> {
        self.record_installing(meta, manifest, true).await?;
        let head = self.blocking(|sm| sm.reset()).await?;
        self.record_installing(meta, manifest, false).await?;
        Ok(head)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this)).await.map_err(sm_err)?
    }

    /// Whether the views are empty and were never cleared, so that an install may fold
    /// into them staged (see [`Self::fold_copied`]).
    fn can_stage(&self) -> Result<bool> {
        let inner = &self.inner;
        let never_cleared = inner.meta.get(NEVER_CLEARED).map_err(read_err)?.is_some();
        Ok(never_cleared && inner.projections.is_empty())
    }

    /// Empties the archive and the state folded from it, for a refold from position 0.
    fn reset(&self) -> Result<LogPosition> {
        let inner = &self.inner;
        inner.meta.remove(NEVER_CLEARED).map_err(sm_err)?;
        inner.db.persist(PersistMode::SyncData).map_err(sm_err)?;
        inner.projections.clear().map_err(sm_err)?;
        inner.archive.events.clear().map_err(sm_err)?;
        inner.event_ids.clear().map_err(sm_err)?;
        inner.archive.reset_head(LogPosition(0));
        Ok(LogPosition(0))
    }

    /// Archives and folds a checked page, each event in one batch with its archive record
    /// (PUTs and DELETEs of distinct keys share batches; see [`GroupedFold`]); returns
    /// the new head.
    fn fold_page(&self, events: Vec<(LogPosition, Vec<u8>, Envelope)>) -> Result<LogPosition> {
        let inner = &self.inner;
        let mut group = GroupedFold::new(&inner.projections);
        let fold_all = || -> Result<()> {
            for (position, bytes, envelope) in events {
                let event = envelope.open().map_err(sm_err)?;
                // As apply does: command ids only (the log's own membership records have
                // none).
                let command = envelope.event_type != EventType::MembershipChanged as u16;
                group
                    .fold(position, envelope.hlc, &event, |batch| {
                        batch.insert(&inner.archive.events, position.to_key(), bytes);
                        if command {
                            batch.insert(&inner.event_ids, envelope.event_id.0, position.to_key());
                        }
                    })
                    .map_err(sm_err)?;
            }
            group.commit().map_err(sm_err)?;
            Ok(())
        };
        let folded = fold_all();
        // What was committed is archived, even when a later event failed.
        if let Some(position) = group.committed() {
            inner.archive.advance(position);
        }
        folded.map(|()| inner.archive.head())
    }

    /// Archives a checked page without folding it (see [`Self::fold_copied`]); returns
    /// the new head.
    fn archive_page(&self, events: Vec<(LogPosition, Vec<u8>, Envelope)>) -> Result<LogPosition> {
        let inner = &self.inner;
        let Some(last) = events.last().map(|(position, _, _)| *position) else {
            return Ok(inner.archive.head());
        };
        let mut batch = inner.db.batch();
        for (position, bytes, envelope) in events {
            // As apply does: command ids only (the log's own membership records have none).
            if envelope.event_type != EventType::MembershipChanged as u16 {
                batch.insert(&inner.event_ids, envelope.event_id.0, position.to_key());
            }
            batch.insert(&inner.archive.events, position.to_key(), bytes);
        }
        batch.commit().map_err(sm_err)?;
        inner.archive.advance(last);
        Ok(last)
    }

    /// Folds the archive, copied up to `upto`, into the empty views, staged in memory and
    /// written as sorted tables as a rebuild does. Only for views never cleared: a clear
    /// replayed at the next open would drop the tables ([`Projections::clear`]). The copy
    /// is made durable first: the tables are, as they are written, and views must never
    /// be ahead of the archive. A stop in the middle leaves views that hold something
    /// below the archive's head, which the next start refolds from position 0.
    fn fold_copied(&self, upto: LogPosition) -> Result<()> {
        let inner = &self.inner;
        inner.db.persist(PersistMode::SyncData).map_err(sm_err)?;
        crate::replay::fold_whole(&inner.archive, &inner.projections, upto, INSTALL_STAGE, |_| {})
            .map_err(sm_err)
    }

    /// Records the snapshot as applied and current, durably.
    fn finish_install(&self, meta: SnapshotMeta<NodeId, BasicNode>, position: LogPosition) -> Result<()> {
        let inner = &self.inner;
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
        batch.remove(&inner.meta, INSTALLING);
        let _record = inner.snapshot_record.lock().unwrap_or_else(|e| e.into_inner());
        let newer = match self.get::<StoredSnapshot>(SNAPSHOT)? {
            Some(current) => current.meta.last_log_id < meta.last_log_id,
            None => true,
        };
        if newer {
            let stored = StoredSnapshot { meta, position };
            batch.insert(&inner.meta, SNAPSHOT, codec::encode(&stored).map_err(sm_err)?);
        }
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

    /// Only views that were never cleared are staged into: a fresh node's, not one that
    /// emptied its views once (for good, across restarts), nor a data dir of a release
    /// that cleared without saying so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn views_are_staged_into_only_while_never_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let open = |path: &std::path::Path| {
            let db = fjall::Database::builder(path).open().unwrap();
            let archive = EventArchive::open(&db).unwrap();
            StateMachine::open(&db, Projections::open(&db).unwrap(), archive).unwrap()
        };
        let mut sm = open(dir.path());
        assert!(sm.can_stage().unwrap(), "a fresh node");
        sm.apply(vec![entry(1, vec![create(1, "aaa")])]).await.unwrap();
        assert!(!sm.can_stage().unwrap(), "views that hold something");
        sm.reset().unwrap();
        assert!(sm.inner.projections.is_empty());
        assert!(!sm.can_stage().unwrap(), "emptied by a clear");
        sm.inner.db.persist(PersistMode::SyncAll).unwrap();
        drop(sm);
        assert!(!open(dir.path()).can_stage().unwrap(), "still after a restart");

        // An older release's data dir: records in `raft.sm`, no mark.
        let older = tempfile::tempdir().unwrap();
        {
            let db = fjall::Database::builder(older.path()).open().unwrap();
            let meta = db.keyspace("raft.sm", KeyspaceCreateOptions::default).unwrap();
            meta.insert(INSTALLING, b"an install of an older release").unwrap();
            db.persist(PersistMode::SyncAll).unwrap();
        }
        assert!(!open(older.path()).can_stage().unwrap(), "an older data dir");
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
        let manifest: Manifest = codec::decode(current.snapshot.get_ref()).unwrap();
        assert_eq!(manifest.position, LogPosition(5), "the manifest names the archive prefix");
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
