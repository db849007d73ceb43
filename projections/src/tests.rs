//! Decide-then-fold scenarios against a real fjall database in a temp dir.

use std::collections::BTreeMap;

use rucket_schemas::{
    BlobId, BucketName, Command, CommandBody, CreateOperation, EventId, Hlc, LogPosition, ObjectData,
    ObjectKey, ObjectRecord, RegionId, Rejection, ReplicationStatus, StandardHeaders, StorageClass, UserId,
    VersionId, WriteCondition,
};

use crate::{Decision, ListQuery, Projections, VersionQuery};

/// Views over a fresh fjall database in a temp dir, with a clock and a log position, so
/// commands can be decided (and their events folded) as the state machine does.
pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    pub(crate) projections: Projections,
    clock: u64,
    position: u64,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let projections = Projections::open(&db).unwrap();
        Self { _dir: dir, projections, clock: 0, position: 0 }
    }

    /// The stamp the next command gets (one second after the last one's).
    pub(crate) fn next_hlc(&self) -> Hlc {
        Hlc::new((self.clock + 1) << 32, 1)
    }

    /// A command from `user` (an operator when `admin`), stamped with the next tick.
    pub(crate) fn command(&mut self, user: &str, admin: bool, body: CommandBody) -> Command {
        let hlc = self.next_hlc();
        self.clock += 1;
        Command {
            hlc,
            event_id: EventId([0; 16]),
            origin_region: RegionId::new("us-east-1"),
            requester: UserId::new(user),
            requester_is_admin: admin,
            body,
        }
    }

    /// Runs one command as the state machine does; returns the decision and released blobs.
    pub(crate) fn run(&mut self, user: &str, body: CommandBody) -> (Decision, Vec<BlobId>) {
        self.run_as(user, false, body)
    }

    /// As [`Self::run`], for a requester who is an operator when `admin`.
    pub(crate) fn run_as(&mut self, user: &str, admin: bool, body: CommandBody) -> (Decision, Vec<BlobId>) {
        let command = self.command(user, admin, body);
        let decision = self.projections.decide(&command).unwrap();
        let mut released = Vec::new();
        if let Decision::Event(event) = &decision {
            self.position += 1;
            let mut batch = self.projections.database().batch();
            released =
                self.projections.fold(&mut batch, LogPosition(self.position), command.hlc, event).unwrap();
            self.projections.set_applied(&mut batch, LogPosition(self.position));
            batch.commit().unwrap();
        }
        (decision, released)
    }

    pub(crate) fn rejected(&mut self, user: &str, body: CommandBody) -> Rejection {
        match self.run(user, body).0 {
            Decision::Rejected(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    pub(crate) fn put(&mut self, bucket: &str, key: &str, data: ObjectData) -> Vec<BlobId> {
        let hlc = self.next_hlc();
        let (decision, released) =
            self.run("alice", put_body(bucket, key, data, hlc, WriteCondition::Always));
        assert!(matches!(decision, Decision::Event(_)), "put {key}: {decision:?}");
        released
    }

    fn keys(&self, bucket: &str, query: ListQuery<'_>) -> String {
        let page = self.projections.list_objects(&bucket_name(bucket), &query).unwrap();
        let mut out: Vec<String> = page.objects.iter().map(|(k, _)| k.clone()).collect();
        out.extend(page.common_prefixes.iter().map(|p| format!("{p}*")));
        format!("{} truncated={} last={:?}", out.join(","), page.is_truncated, page.last)
    }
}

pub(crate) fn bucket_name(name: &str) -> BucketName {
    BucketName::parse(name).unwrap()
}

pub(crate) fn create(bucket: &str) -> CommandBody {
    CommandBody::CreateBucket {
        bucket: bucket_name(bucket),
        location: String::new(),
        object_lock_enabled: false,
    }
}

pub(crate) fn put_body(
    bucket: &str,
    key: &str,
    data: ObjectData,
    hlc: Hlc,
    condition: WriteCondition,
) -> CommandBody {
    let size = match &data {
        ObjectData::Inline(b) => b.len() as u64,
        _ => 100,
    };
    CommandBody::PutObject {
        bucket: bucket_name(bucket),
        key: ObjectKey::parse(key).unwrap(),
        operation: CreateOperation::Put,
        condition,
        record: Box::new(ObjectRecord {
            version_id: VersionId::null(),
            size,
            etag: format!("etag-{key}-{size}"),
            headers: StandardHeaders::default(),
            user_metadata: BTreeMap::new(),
            data,
            owner: UserId::new("alice"),
            hlc_timestamp: hlc,
            placement_group: 0,
            home_region: RegionId::new("us-east-1"),
            storage_class: StorageClass::Standard,
            replication_status: ReplicationStatus::None,
            checksums: BTreeMap::new(),
        }),
    }
}

pub(crate) fn inline(bytes: &[u8]) -> ObjectData {
    ObjectData::Inline(bytes.to_vec())
}

#[test]
fn bucket_lifecycle_and_rejections() {
    let mut h = Harness::new();
    assert!(matches!(h.run("alice", create("photos")).0, Decision::Event(_)));
    assert_eq!(h.rejected("alice", create("photos")), Rejection::BucketAlreadyOwnedByYou);
    assert_eq!(h.rejected("bob", create("photos")), Rejection::BucketAlreadyExists);
    assert_eq!(
        h.rejected("bob", CommandBody::DeleteBucket { bucket: bucket_name("photos") }),
        Rejection::AccessDenied
    );
    h.put("photos", "a", inline(b"1"));
    assert_eq!(
        h.rejected("alice", CommandBody::DeleteBucket { bucket: bucket_name("photos") }),
        Rejection::BucketNotEmpty
    );
    assert_eq!(
        h.rejected("alice", CommandBody::DeleteBucket { bucket: bucket_name("nope") }),
        Rejection::NoSuchBucket
    );
    let delete_a = CommandBody::DeleteObject {
        bucket: bucket_name("photos"),
        key: ObjectKey::parse("a").unwrap(),
        version_id: None,
        marker_version_id: VersionId::new("m1"),
    };
    assert!(matches!(h.run("alice", delete_a.clone()).0, Decision::Event(_)));
    assert_eq!(h.run("alice", delete_a).0, Decision::Unchanged);
    assert!(matches!(
        h.run("alice", CommandBody::DeleteBucket { bucket: bucket_name("photos") }).0,
        Decision::Event(_)
    ));
    assert!(h.projections.buckets().unwrap().is_empty());
    assert_eq!(h.projections.applied_position().unwrap(), LogPosition(4));
}

#[test]
fn overwriting_releases_the_old_blob() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    let first = BlobId::from_bytes([1; 16]);
    assert!(h.put("bk1", "k", ObjectData::Blob(first.clone())).is_empty());
    assert_eq!(
        h.projections.referenced_blobs().unwrap().into_iter().collect::<Vec<_>>(),
        vec![first.clone()]
    );
    assert_eq!(h.put("bk1", "k", inline(b"small")), vec![first]);
    assert!(h.projections.referenced_blobs().unwrap().is_empty());
    let current = h.projections.current_object(&bucket_name("bk1"), &ObjectKey::parse("k").unwrap()).unwrap();
    // The small body stays in the archive; the views name the position that holds it.
    assert_eq!(current.unwrap().data, ObjectData::InArchive(LogPosition(h.position)));
    // One null version remains.
    let versions = h
        .projections
        .list_versions(&bucket_name("bk1"), &VersionQuery { max_keys: 10, ..Default::default() })
        .unwrap();
    assert_eq!(versions.entries.len(), 1);
    assert!(versions.entries[0].2, "the only version is the latest");
}

#[test]
fn conditional_writes_are_decided_against_the_current_version() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    let hlc = Hlc::new(1 << 40, 1);
    let if_none = put_body("bk1", "k", inline(b"x"), hlc, WriteCondition::IfNoneMatch);
    assert!(matches!(h.run("alice", if_none.clone()).0, Decision::Event(_)));
    assert_eq!(h.rejected("alice", if_none), Rejection::PreconditionFailed);
    let wrong = put_body("bk1", "k", inline(b"y"), hlc, WriteCondition::IfMatch("nope".into()));
    assert_eq!(h.rejected("alice", wrong), Rejection::PreconditionFailed);
    let right = put_body("bk1", "k", inline(b"y"), hlc, WriteCondition::IfMatch("etag-k-1".into()));
    assert!(matches!(h.run("alice", right).0, Decision::Event(_)));
    let missing = put_body("bk1", "other", inline(b"y"), hlc, WriteCondition::IfMatch("etag".into()));
    assert_eq!(h.rejected("alice", missing), Rejection::NoSuchKey);
    let no_bucket = put_body("zzz", "k", inline(b"y"), hlc, WriteCondition::Always);
    assert_eq!(h.rejected("alice", no_bucket), Rejection::NoSuchBucket);
    let not_owner = put_body("bk1", "k", inline(b"y"), hlc, WriteCondition::Always);
    assert_eq!(h.rejected("bob", not_owner), Rejection::AccessDenied);
}

#[test]
fn listing_follows_s3_order_delimiters_and_markers() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    h.run("alice", create("bk2"));
    for key in ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "é"] {
        h.put("bk1", key, inline(b"v"));
    }
    h.put("bk2", "a/1", inline(b"other bucket"));
    let q = |prefix, delimiter, after, max_keys| ListQuery { prefix, delimiter, after, max_keys };
    assert_eq!(
        h.keys("bk1", q("", None, None, 100)),
        r#"a/1,a/2,b,c/x/1,c/y,d,é truncated=false last=Some("é")"#
    );
    assert_eq!(h.keys("bk1", q("", Some("/"), None, 100)), r#"b,d,é,a/*,c/* truncated=false last=Some("é")"#);
    assert_eq!(h.keys("bk1", q("c/", Some("/"), None, 100)), r#"c/y,c/x/* truncated=false last=Some("c/y")"#);
    assert_eq!(h.keys("bk1", q("", Some("/"), None, 2)), r#"b,a/* truncated=true last=Some("b")"#);
    // The next page starts after the marker and does not repeat the rolled-up prefix.
    assert_eq!(h.keys("bk1", q("", Some("/"), Some("b"), 2)), r#"d,c/* truncated=true last=Some("d")"#);
    assert_eq!(h.keys("bk1", q("", Some("/"), Some("a/"), 1)), r#"b truncated=true last=Some("b")"#);
    assert_eq!(h.keys("bk1", q("", None, Some("c/x/1"), 100)), r#"c/y,d,é truncated=false last=Some("é")"#);
    assert_eq!(
        h.keys("bk1", q("", Some("x"), None, 100)),
        r#"a/1,a/2,b,c/y,d,é,c/x* truncated=false last=Some("é")"#
    );
    assert_eq!(h.keys("bk1", q("zz", None, None, 100)), " truncated=false last=None");
    assert_eq!(h.keys("bk1", q("", None, None, 0)), " truncated=false last=None");
}

#[test]
fn version_listing_pages_with_markers() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    for key in ["a", "b", "c"] {
        h.put("bk1", key, inline(b"v"));
    }
    let first = h
        .projections
        .list_versions(&bucket_name("bk1"), &VersionQuery { max_keys: 2, ..Default::default() })
        .unwrap();
    let keys: Vec<&str> = first.entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert!(first.is_truncated);
    assert_eq!(first.next_key_marker.as_deref(), Some("b"));
    assert_eq!(first.next_version_id_marker.as_deref(), Some("null"));
    let second = h
        .projections
        .list_versions(
            &bucket_name("bk1"),
            &VersionQuery {
                key_marker: first.next_key_marker.as_deref(),
                version_id_marker: first.next_version_id_marker.as_deref(),
                max_keys: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let keys: Vec<&str> = second.entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["c"]);
    assert!(!second.is_truncated);
}

mod multipart {
    use rucket_schemas::{PartRecord, UploadId};

    use super::*;
    use crate::decide::MIN_PART_SIZE;

    fn part(n: u32, size: u64, blob: u8) -> PartRecord {
        PartRecord {
            part_number: n,
            size,
            etag: format!("{n:032x}"),
            blob_id: BlobId::from_bytes([blob; 16]),
            checksums: BTreeMap::new(),
            hlc_timestamp: Hlc::new(1, 1),
        }
    }

    fn upload_body(id: &UploadId) -> CommandBody {
        CommandBody::CreateMultipartUpload {
            bucket: bucket_name("bkt"),
            key: ObjectKey::parse("k").unwrap(),
            upload_id: id.clone(),
            headers: StandardHeaders::default(),
            user_metadata: BTreeMap::new(),
            storage_class: StorageClass::Standard,
            checksum_algorithm: None,
        }
    }

    fn complete(id: &UploadId, parts: Vec<(u32, String)>) -> CommandBody {
        let CommandBody::PutObject { record, .. } =
            put_body("bkt", "k", inline(b""), Hlc::new(9 << 32, 1), WriteCondition::Always)
        else {
            unreachable!()
        };
        CommandBody::CompleteMultipartUpload {
            bucket: bucket_name("bkt"),
            key: ObjectKey::parse("k").unwrap(),
            upload_id: id.clone(),
            parts,
            record,
            condition: WriteCondition::Always,
        }
    }

    #[test]
    fn parts_are_validated_and_blobs_released_exactly_once() {
        let mut h = Harness::new();
        h.run("alice", create("bkt"));
        let id = UploadId::from_bytes([7; 16]);
        let upload_part = |p: PartRecord| CommandBody::UploadPart {
            bucket: bucket_name("bkt"),
            key: ObjectKey::parse("k").unwrap(),
            upload_id: id.clone(),
            part: p,
        };
        assert_eq!(h.rejected("alice", upload_part(part(1, MIN_PART_SIZE, 1))), Rejection::NoSuchUpload);
        assert!(matches!(h.run("alice", upload_body(&id)).0, Decision::Event(_)));
        h.run("alice", upload_part(part(1, MIN_PART_SIZE, 1)));
        h.run("alice", upload_part(part(2, 10, 2)));
        // Re-uploading part 2 releases the blob it replaces.
        let (_, released) = h.run("alice", upload_part(part(2, 10, 3)));
        assert_eq!(released, vec![BlobId::from_bytes([2; 16])]);
        h.run("alice", upload_part(part(3, 10, 4)));

        let e = |n: u32| format!("{n:032x}");
        assert_eq!(
            h.rejected("alice", complete(&id, vec![(2, e(2)), (1, e(1))])),
            Rejection::InvalidPartOrder
        );
        assert_eq!(h.rejected("alice", complete(&id, vec![(1, e(1)), (4, e(4))])), Rejection::InvalidPart);
        assert_eq!(h.rejected("alice", complete(&id, vec![(1, "f".repeat(32))])), Rejection::InvalidPart);
        assert_eq!(h.rejected("alice", complete(&id, vec![(2, e(2)), (3, e(3))])), Rejection::EntityTooSmall);

        // Completing with parts 1 and 3 keeps their blobs and releases part 2's.
        let (decision, released) = h.run("alice", complete(&id, vec![(1, e(1)), (3, e(3))]));
        assert!(matches!(decision, Decision::Event(_)));
        assert_eq!(released, vec![BlobId::from_bytes([3; 16])]);
        let current = h
            .projections
            .current_object(&bucket_name("bkt"), &ObjectKey::parse("k").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(current.size, MIN_PART_SIZE + 10);
        let referenced: Vec<_> = h.projections.referenced_blobs().unwrap().into_iter().collect();
        assert_eq!(referenced, vec![BlobId::from_bytes([1; 16]), BlobId::from_bytes([4; 16])]);
        // Every released blob waits in the garbage list until the collector forgets it.
        let garbage = h.projections.garbage(10).unwrap();
        assert_eq!(garbage, vec![BlobId::from_bytes([2; 16]), BlobId::from_bytes([3; 16])]);
        h.projections.forget_garbage(&garbage[..1]).unwrap();
        assert_eq!(h.projections.garbage(10).unwrap(), vec![BlobId::from_bytes([3; 16])]);
        assert!(h
            .projections
            .upload(&bucket_name("bkt"), &ObjectKey::parse("k").unwrap(), &id)
            .unwrap()
            .is_none());
        assert_eq!(h.rejected("alice", complete(&id, vec![(1, e(1))])), Rejection::NoSuchUpload);
    }

    #[test]
    fn a_completed_object_keeps_its_parts_checksums_until_the_version_goes() {
        let mut h = Harness::new();
        h.run("alice", create("bkt"));
        let id = UploadId::from_bytes([8; 16]);
        let (b, k) = (bucket_name("bkt"), ObjectKey::parse("k").unwrap());
        let upload_part = |n: u32, blob: u8, sha: &str| CommandBody::UploadPart {
            bucket: b.clone(),
            key: k.clone(),
            upload_id: id.clone(),
            part: PartRecord {
                checksums: [("SHA256".to_owned(), sha.to_owned())].into_iter().collect(),
                ..part(n, if n == 1 { MIN_PART_SIZE } else { 10 }, blob)
            },
        };
        h.run("alice", upload_body(&id));
        h.run("alice", upload_part(1, 1, "one"));
        h.run("alice", upload_part(2, 2, "replaced"));
        h.run("alice", upload_part(2, 3, "two"));
        let e = |n: u32| format!("{n:032x}");
        assert!(matches!(h.run("alice", complete(&id, vec![(1, e(1)), (2, e(2))])).0, Decision::Event(_)));
        let current = h.projections.current_object(&b, &k).unwrap().unwrap();
        let sha = |v: &str| [("SHA256".to_owned(), v.to_owned())].into_iter().collect::<BTreeMap<_, _>>();
        assert_eq!(
            h.projections.version_part_checksums(&b, &k, current.hlc_timestamp).unwrap(),
            vec![(1, sha("one")), (2, sha("two"))]
        );
        // Kept beside the version, not as an upload's part: no blob is named twice.
        let referenced: Vec<_> = h.projections.referenced_blobs().unwrap().into_iter().collect();
        assert_eq!(referenced, vec![BlobId::from_bytes([1; 16]), BlobId::from_bytes([3; 16])]);
        let dump = h.projections.dump_text(&|_| None).unwrap();
        assert!(
            dump.contains(r#"version bkt/k@hlc:900000000 [(1, {"SHA256": "one"}), (2, {"SHA256": "two"})]"#),
            "{dump}"
        );
        // The version goes (an unversioned bucket's delete), and its part checksums with it.
        let delete = CommandBody::DeleteObject {
            bucket: b.clone(),
            key: k.clone(),
            version_id: None,
            marker_version_id: VersionId::new("m1"),
        };
        assert!(matches!(h.run("alice", delete).0, Decision::Event(_)));
        assert!(h.projections.version_part_checksums(&b, &k, current.hlc_timestamp).unwrap().is_empty());
        assert!(!h.projections.dump_text(&|_| None).unwrap().contains("SHA256"));
    }
}

#[test]
fn only_views_name_archive_positions() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    let hlc = h.next_hlc();
    let named = ObjectData::InArchive(LogPosition(1));
    let body = put_body("bk1", "k", named.clone(), hlc, WriteCondition::Always);
    assert_eq!(h.rejected("alice", body), Rejection::InvalidData);
    // Nor can such an event be sealed or read back.
    let event = rucket_schemas::StorageEvent::ObjectCreated(rucket_schemas::ObjectCreated {
        bucket: bucket_name("bk1"),
        key: ObjectKey::parse("k").unwrap(),
        operation: CreateOperation::Put,
        record: match put_body("bk1", "k", named, hlc, WriteCondition::Always) {
            CommandBody::PutObject { record, .. } => record,
            _ => unreachable!(),
        },
        tags: Default::default(),
        lock: Default::default(),
    });
    let refused = rucket_schemas::Envelope::seal(&event, hlc, RegionId::new("us-east-1"), EventId([1; 16]));
    assert!(refused.unwrap_err().to_string().contains("archive position"));
}

#[test]
fn an_unpromoted_generation_never_becomes_live() {
    let mut h = Harness::new();
    h.run("alice", create("bkt"));
    h.put("bkt", "k", inline(b"v"));
    let live = h.projections.clone();
    let next = live.next_generation().unwrap();
    assert_eq!(next.generation(), 1);
    assert!(next.buckets().unwrap().is_empty(), "a new generation starts empty");
    // A rebuild that stops here (a crash) leaves the pointer on the old generation.
    drop(next);
    let reopened = Projections::open(h.projections.database()).unwrap();
    assert_eq!(reopened.generation(), 0);
    assert_eq!(reopened.buckets().unwrap().len(), 1);

    // Promoting moves the pointer; a reopen then sees the new generation.
    let next = live.next_generation().unwrap();
    let mut batch = h.projections.database().batch();
    let event = rucket_schemas::StorageEvent::BucketCreated(rucket_schemas::BucketCreated {
        bucket: bucket_name("other"),
        owner: UserId::new("alice"),
        location: String::new(),
        object_lock_enabled: false,
    });
    next.fold(&mut batch, LogPosition(1), Hlc::new(1, 1), &event).unwrap();
    batch.commit().unwrap();
    let promoted = next.promote(live).unwrap();
    assert_eq!(promoted.generation(), 1);
    let reopened = Projections::open(h.projections.database()).unwrap();
    assert_eq!(reopened.generation(), 1);
    let names: Vec<String> = reopened.buckets().unwrap().into_iter().map(|b| b.name.to_string()).collect();
    assert_eq!(names, ["other"]);
}

#[test]
fn block_public_policy_holds_at_apply_time() {
    let mut h = Harness::new();
    h.run("alice", create("pol"));
    // Apply judges publicity from the text; `public` (the gateway's opinion) says the same.
    const PUBLIC: &str = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#;
    const PRIVATE: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#;
    let policy = |public| CommandBody::SetBucketPolicy {
        bucket: bucket_name("pol"),
        policy: Some(if public { PUBLIC } else { PRIVATE }.to_owned()),
        public,
    };
    let block = CommandBody::SetPublicAccessBlock {
        bucket: bucket_name("pol"),
        configuration: Some(rucket_schemas::PublicAccessBlock {
            block_public_policy: true,
            ..Default::default()
        }),
    };
    // A public policy proposed before the block but applied after it is refused.
    h.run("alice", block);
    assert_eq!(h.rejected("alice", policy(true)), Rejection::AccessDenied);
    assert!(matches!(h.run("alice", policy(false)).0, Decision::Event(_)));
    assert_eq!(h.projections.bucket_policy(&bucket_name("pol")).unwrap().as_deref(), Some(PRIVATE));
    // The gateway's opinion is not trusted: a public text called private is refused too.
    let disguised = CommandBody::SetBucketPolicy {
        bucket: bucket_name("pol"),
        policy: Some(PUBLIC.to_owned()),
        public: false,
    };
    assert_eq!(h.rejected("alice", disguised), Rejection::AccessDenied);
}

/// A new version's record is encoded once for both views: the version entry built from
/// the record's bytes must be what encoding the entry itself gives, and decode back to it.
#[test]
fn a_version_entry_is_its_records_encoding_behind_the_variant() {
    let mut h = Harness::new();
    h.run("alice", create("bk1"));
    h.put("bk1", "k", ObjectData::Blob(BlobId::from_bytes([7; 16])));
    let (bucket, key) = (bucket_name("bk1"), ObjectKey::parse("k").unwrap());
    let record = h.projections.current_object(&bucket, &key).unwrap().unwrap();
    let entry = crate::VersionEntry::Object(Box::new(record.clone()));
    let built = crate::VersionEntry::encode_object(&record).unwrap();
    let at = crate::VersionEntry::RECORD_AT;
    assert_eq!(&built[at..], &crate::store::encode(&record).unwrap()[..]);
    assert_eq!(&built[..], &crate::store::encode(&entry).unwrap()[..]);
    assert_eq!(crate::store::decode::<crate::VersionEntry>(&built, "versions").unwrap(), entry);
    // And the history holds that entry.
    let stored = h
        .projections
        .versions
        .prefix(crate::keys::versions_of(&bucket, &key))
        .next()
        .unwrap()
        .value()
        .unwrap();
    assert_eq!(&stored[..], &built[..]);
}
