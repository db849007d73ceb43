//! Builds a data dir whose archive holds N events, for measuring replay at scale:
//!
//! ```text
//! cargo run --release -p rucket-replay-tests --bin replay-archive-gen -- --events 1000000 --data-dir /tmp/big
//! /usr/bin/time -v target/release/rucket replay verify --data-dir /tmp/big
//! ```
//!
//! The events are what a busy bucket sees (small inline PUTs, overwrites, deletes),
//! archived and folded exactly as a node does, one atomic batch per event.

use std::collections::BTreeMap;
use std::time::Instant;

use rucket_log::EventArchive;
use rucket_projections::Projections;
use rucket_schemas::{
    BucketCreated, BucketName, CreateOperation, Envelope, EventId, Hlc, LogPosition, ObjectCreated,
    ObjectData, ObjectDeleted, ObjectKey, ObjectRecord, RegionId, ReplicationStatus, StandardHeaders,
    StorageClass, StorageEvent, UserId, VersionId,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut events: u64 = 1_000_000;
    let mut data_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => events = args.next().ok_or("--events needs a number")?.parse()?,
            "--data-dir" => {
                data_dir = Some(std::path::PathBuf::from(args.next().ok_or("--data-dir needs a path")?))
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let data_dir = data_dir.ok_or("--data-dir is required")?;
    let log_dir = data_dir.join("log");
    if log_dir.exists() {
        return Err(format!("{} already exists", log_dir.display()).into());
    }
    let db = fjall::Database::builder(&log_dir).open()?;
    let projections = Projections::open(&db)?;
    let archive = EventArchive::open(&db)?;
    let region = RegionId::new("us-east-1");
    let bucket = BucketName::parse("bench")?;
    let started = Instant::now();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for n in 1..=events {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let hlc = Hlc::new((1_700_000_000u64 << 32) + (n << 12), 1);
        let key = ObjectKey::parse(&format!("dir{}/object-{:06}", state % 100, (state >> 8) % 200_000))?;
        let event = if n == 1 {
            StorageEvent::BucketCreated(BucketCreated {
                bucket: bucket.clone(),
                owner: UserId::new("root"),
                location: String::new(),
                object_lock_enabled: false,
            })
        } else if state.is_multiple_of(10) && projections.current_object(&bucket, &key)?.is_some() {
            StorageEvent::ObjectDeleted(ObjectDeleted {
                bucket: bucket.clone(),
                key,
                version_id: VersionId::null(),
                delete_marker: false,
                owner: UserId::new("root"),
            })
        } else {
            let body: Vec<u8> = (0..64 + state % 64).map(|i| (i as u8) ^ (n as u8)).collect();
            StorageEvent::ObjectCreated(ObjectCreated {
                bucket: bucket.clone(),
                key,
                operation: CreateOperation::Put,
                record: Box::new(ObjectRecord {
                    version_id: VersionId::null(),
                    size: body.len() as u64,
                    etag: format!("{state:032x}"),
                    headers: StandardHeaders {
                        content_type: Some("text/plain".into()),
                        ..Default::default()
                    },
                    user_metadata: BTreeMap::new(),
                    data: ObjectData::Inline(body),
                    owner: UserId::new("root"),
                    hlc_timestamp: hlc,
                    placement_group: 0,
                    home_region: region.clone(),
                    storage_class: StorageClass::Standard,
                    replication_status: ReplicationStatus::None,
                    checksums: BTreeMap::new(),
                }),
                tags: Default::default(),
                lock: Default::default(),
            })
        };
        let envelope = Envelope::seal(&event, hlc, region.clone(), EventId((n as u128).to_be_bytes()))?;
        let position = LogPosition(n);
        let mut batch = db.batch();
        batch.insert(archive.events_keyspace(), position.to_key(), envelope.to_bytes());
        projections.fold(&mut batch, position, hlc, &event)?;
        projections.set_applied(&mut batch, position);
        batch.commit()?;
        if n.is_multiple_of(100_000) {
            eprintln!("{n} events, {:.0} events/s", n as f64 / started.elapsed().as_secs_f64());
        }
    }
    db.persist(fjall::PersistMode::SyncAll)?;
    projections.mark_format()?;
    println!("wrote {events} events to {} in {:.1} s", log_dir.display(), started.elapsed().as_secs_f64());
    Ok(())
}
