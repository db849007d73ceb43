//! A temporary archive and projections, and events to put in them.

use rucket_log::EventArchive;
use rucket_projections::Projections;
use rucket_schemas::{
    BucketCreated, BucketName, Envelope, EventId, Hlc, LogPosition, ObjectDeleted, ObjectKey, RegionId,
    StorageEvent, UserId, VersionId,
};

pub struct Store {
    _dir: tempfile::TempDir,
    pub db: fjall::Database,
    pub archive: EventArchive,
    pub projections: Projections,
    next_time: u64,
}

impl Store {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let archive = EventArchive::open(&db).unwrap();
        let projections = Projections::open(&db).unwrap();
        Self { _dir: dir, db, archive, projections, next_time: 1_800_000_000_000_000_000 }
    }

    pub fn path(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Folds `events` into the projections and archives them at the next positions, as a
    /// node's apply would; returns the last position.
    pub fn append(&mut self, events: &[StorageEvent]) -> LogPosition {
        let envelopes: Vec<Envelope> = events
            .iter()
            .map(|event| {
                self.next_time += 1 << 20;
                let id = EventId((self.next_time as u128).to_be_bytes());
                Envelope::seal(event, Hlc::new(self.next_time, 1), RegionId::new("us-east-1"), id).unwrap()
            })
            .collect();
        let mut batch = self.db.batch();
        let mut position = self.archive.head();
        for (event, envelope) in events.iter().zip(&envelopes) {
            position = LogPosition(position.0 + 1);
            self.projections.fold(&mut batch, position, envelope.hlc, event).unwrap();
        }
        batch.commit().unwrap();
        self.archive.append_offline(&self.db, &envelopes).unwrap()
    }
}

pub fn created(bucket: &str, owner: &str) -> StorageEvent {
    StorageEvent::BucketCreated(BucketCreated {
        bucket: BucketName::parse(bucket).unwrap(),
        owner: UserId::new(owner),
        location: String::new(),
        object_lock_enabled: false,
    })
}

/// A delete of `key` (an `s3:ObjectRemoved:Delete` event): the smallest object event.
pub fn deleted(bucket: &str, key: &str) -> StorageEvent {
    StorageEvent::ObjectDeleted(ObjectDeleted {
        bucket: BucketName::parse(bucket).unwrap(),
        key: ObjectKey::parse(key).unwrap(),
        version_id: VersionId::new("null"),
        delete_marker: false,
        owner: UserId::new("alice"),
    })
}

pub fn bucket(name: &str) -> BucketName {
    BucketName::parse(name).unwrap()
}
