//! Scripted scenarios. Each is recorded once (with `UPDATE_EXPECT=1`) into
//! `data/<name>/events.bin` and then frozen.

use std::collections::BTreeMap;

use rucket_schemas::{Acl, Grant, Grantee, Permission};
use rucket_schemas::{
    BlobId, BucketName, Command, CommandBody, CreateOperation, EventId, Hlc, ObjectData, ObjectDeleted,
    ObjectKey, ObjectRecord, PartRecord, RegionId, ReplicationStatus, StandardHeaders, StorageClass,
    StorageEvent, UploadId, UserId, VersionId, VersioningStatus, WriteCondition,
};
use rucket_schemas::{CorsConfig, CorsRule, DestinationKind, NotificationConfig, NotificationRule};
use rucket_schemas::{ExpireAction, LifecycleConfig, LifecycleFilterForm, LifecycleRule};

/// One step: a command run through decide, or an event written as is (for events no
/// command produces yet, such as delete markers).
pub enum Step {
    Command(Command),
    Raw(StorageEvent, Hlc),
}

#[derive(Default)]
pub struct Script {
    seq: u64,
    pub steps: Vec<Step>,
}

pub fn hlc(seq: u64) -> Hlc {
    Hlc::new((1_700_000_000 + seq) << 32, 1)
}

fn bytes16(seq: u64, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[8..].copy_from_slice(&seq.to_be_bytes());
    b
}

pub fn bucket(name: &str) -> BucketName {
    BucketName::parse(name).unwrap()
}

pub fn key(k: &str) -> ObjectKey {
    ObjectKey::parse(k).unwrap()
}

impl Script {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn command(&mut self, user: &str, body: CommandBody) -> &mut Self {
        let seq = self.next();
        self.steps.push(Step::Command(Command {
            hlc: hlc(seq),
            event_id: EventId(bytes16(seq, 0xe0)),
            origin_region: RegionId::new("us-east-1"),
            requester: UserId::new(user),
            requester_is_admin: false,
            body,
        }));
        self
    }

    pub fn raw(&mut self, event: StorageEvent) -> &mut Self {
        let seq = self.next();
        self.steps.push(Step::Raw(event, hlc(seq)));
        self
    }

    pub fn create(&mut self, user: &str, name: &str, lock: bool) -> &mut Self {
        self.command(
            user,
            CommandBody::CreateBucket {
                bucket: bucket(name),
                location: String::new(),
                object_lock_enabled: lock,
            },
        )
    }

    /// A record whose data is inline for small sizes and a blob otherwise.
    pub fn record(&self, size: u64, owner: &str) -> ObjectRecord {
        let seq = self.seq + 1;
        let data = if size <= 4096 {
            ObjectData::Inline((0..size).map(|i| (i as u8).wrapping_add(seq as u8)).collect())
        } else {
            ObjectData::Blob(BlobId::from_bytes(bytes16(seq, 0xb0)))
        };
        ObjectRecord {
            version_id: VersionId::new(hex16(seq)),
            size,
            etag: format!("{:032x}", seq * 7919),
            headers: StandardHeaders {
                content_type: Some("text/plain".into()),
                ..StandardHeaders::default()
            },
            user_metadata: BTreeMap::from([("seq".to_owned(), seq.to_string())]),
            data,
            owner: UserId::new(owner),
            hlc_timestamp: hlc(seq),
            placement_group: 0,
            home_region: RegionId::new("us-east-1"),
            storage_class: StorageClass::Standard,
            replication_status: ReplicationStatus::None,
            checksums: BTreeMap::new(),
        }
    }

    pub fn put(&mut self, user: &str, b: &str, k: &str, size: u64, condition: WriteCondition) -> &mut Self {
        let record = self.record(size, user);
        self.command(
            user,
            CommandBody::PutObject {
                bucket: bucket(b),
                key: key(k),
                operation: CreateOperation::Put,
                record: Box::new(record),
                condition,
            },
        )
    }

    pub fn delete(&mut self, user: &str, b: &str, k: &str, version: Option<&str>) -> &mut Self {
        self.command(
            user,
            CommandBody::DeleteObject {
                bucket: bucket(b),
                key: key(k),
                version_id: version.map(VersionId::new),
                marker_version_id: VersionId::new(format!("marker-{}", self.seq + 1)),
            },
        )
    }

    pub fn delete_bucket(&mut self, user: &str, b: &str) -> &mut Self {
        self.command(user, CommandBody::DeleteBucket { bucket: bucket(b) })
    }

    pub fn create_upload(&mut self, user: &str, b: &str, k: &str, id: &UploadId) -> &mut Self {
        self.command(
            user,
            CommandBody::CreateMultipartUpload {
                bucket: bucket(b),
                key: key(k),
                upload_id: id.clone(),
                headers: StandardHeaders::default(),
                user_metadata: BTreeMap::new(),
                storage_class: StorageClass::InfrequentAccess,
                checksum_algorithm: Some("CRC32".into()),
            },
        )
    }

    pub fn upload_part(
        &mut self,
        user: &str,
        b: &str,
        k: &str,
        id: &UploadId,
        n: u32,
        size: u64,
    ) -> &mut Self {
        self.upload_summed_part(user, (b, k, id), n, size, BTreeMap::new())
    }

    /// A part uploaded with checksums (algorithm name to value).
    pub fn upload_summed_part(
        &mut self,
        user: &str,
        (b, k, id): (&str, &str, &UploadId),
        n: u32,
        size: u64,
        checksums: BTreeMap<String, String>,
    ) -> &mut Self {
        let seq = self.seq + 1;
        let part = PartRecord {
            part_number: n,
            size,
            etag: format!("{:032x}", u64::from(n) * 1000 + seq),
            blob_id: BlobId::from_bytes(bytes16(seq, 0xa0)),
            checksums,
            hlc_timestamp: hlc(seq),
        };
        self.command(
            user,
            CommandBody::UploadPart { bucket: bucket(b), key: key(k), upload_id: id.clone(), part },
        )
    }

    pub fn complete(
        &mut self,
        user: &str,
        b: &str,
        k: &str,
        id: &UploadId,
        parts: Vec<(u32, String)>,
    ) -> &mut Self {
        let mut record = self.record(0, user);
        record.etag = format!("{:032x}-{}", self.seq, parts.len());
        self.command(
            user,
            CommandBody::CompleteMultipartUpload {
                bucket: bucket(b),
                key: key(k),
                upload_id: id.clone(),
                parts,
                record: Box::new(record),
                condition: WriteCondition::Always,
            },
        )
    }

    /// Wraps the last command in `Tagged`, so that its new version or upload carries
    /// `tags`.
    pub fn with_tags(&mut self, tags: &[(&str, &str)]) -> &mut Self {
        if let Some(Step::Command(c)) = self.steps.last_mut() {
            let inner =
                std::mem::replace(&mut c.body, CommandBody::DeleteBucket { bucket: bucket("placeholder") });
            c.body = CommandBody::Tagged { tags: tag_map(tags), inner: Box::new(inner) };
        }
        self
    }

    /// Wraps the last command in `Locked`, so that its new version or upload carries `lock`.
    pub fn with_lock(&mut self, lock: rucket_schemas::ObjectLock) -> &mut Self {
        self.wrap_last(|inner| CommandBody::Locked { lock, inner: Box::new(inner) })
    }

    /// Wraps the last command in `Requested`, as a client request of `operation` signed
    /// by its requester's configured key proposes it: apply judges it against the
    /// policies it holds.
    pub fn as_request(&mut self, operation: &str) -> &mut Self {
        let requester = match self.steps.last() {
            Some(Step::Command(c)) => c.requester.to_string(),
            _ => String::new(),
        };
        let facts = rucket_schemas::RequestFacts {
            principal: rucket_schemas::Principal::ConfigKey { access_key_id: format!("AK-{requester}") },
            operation: operation.to_owned(),
            version_id: false,
            keys: Default::default(),
            retain_until: None,
        };
        self.wrap_last(|inner| CommandBody::Requested { facts: Box::new(facts), inner: Box::new(inner) })
    }

    /// Wraps the last command in `BypassGovernance`.
    pub fn bypassing(&mut self) -> &mut Self {
        self.wrap_last(|inner| CommandBody::BypassGovernance { inner: Box::new(inner) })
    }

    fn wrap_last(&mut self, wrap: impl FnOnce(CommandBody) -> CommandBody) -> &mut Self {
        if let Some(Step::Command(c)) = self.steps.last_mut() {
            let inner =
                std::mem::replace(&mut c.body, CommandBody::DeleteBucket { bucket: bucket("placeholder") });
            c.body = wrap(inner);
        }
        self
    }

    /// Seals the last command's new version (a PutObject) or upload (wrapped in `Sealed`).
    pub fn with_seal(&mut self, seal: rucket_schemas::Seal) -> &mut Self {
        if let Some(Step::Command(c)) = self.steps.last_mut() {
            if let CommandBody::PutObject { record, .. } = &mut c.body {
                let data = std::mem::replace(&mut record.data, ObjectData::Parts(Vec::new()));
                record.data = ObjectData::Sealed { seal, data: Box::new(data) };
                return self;
            }
        }
        self.wrap_last(|inner| CommandBody::Sealed { seal, inner: Box::new(inner) })
    }

    /// Marks the last command as an operator's.
    pub fn as_admin(&mut self) -> &mut Self {
        if let Some(Step::Command(c)) = self.steps.last_mut() {
            c.requester_is_admin = true;
        }
        self
    }

    pub fn abort(&mut self, user: &str, b: &str, k: &str, id: &UploadId) -> &mut Self {
        self.command(
            user,
            CommandBody::AbortMultipartUpload { bucket: bucket(b), key: key(k), upload_id: id.clone() },
        )
    }
}

fn tag_map(tags: &[(&str, &str)]) -> BTreeMap<String, String> {
    tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn hex16(seq: u64) -> String {
    format!("{seq:032x}")
}

/// The etag the script gave the part uploaded at `seq` as part `n`.
fn part_etag(n: u32, seq: u64) -> String {
    format!("{:032x}", u64::from(n) * 1000 + seq)
}

const MIB5: u64 = 5 << 20;

pub fn all() -> Vec<(&'static str, Script)> {
    let mut out = Vec::new();

    let mut s = Script::default();
    s.create("alice", "photos", false)
        .create("bob", "docs", false)
        .create("bob", "photos", false) // rejected: BucketAlreadyExists
        .put("alice", "photos", "a/cat.png", 300, WriteCondition::Always)
        .put("alice", "photos", "a/dog.png", 10_000, WriteCondition::Always)
        .put("alice", "photos", "b.txt", 5, WriteCondition::Always)
        .put("alice", "photos", "a/cat.png", 20_000, WriteCondition::Always) // overwrite inline with blob
        .put("bob", "photos", "intruder", 1, WriteCondition::Always) // rejected: AccessDenied
        .delete("alice", "photos", "b.txt", None)
        .delete("alice", "photos", "never-was", None) // unchanged
        .put("bob", "docs", "readme.md", 42, WriteCondition::Always)
        .delete("bob", "docs", "readme.md", None)
        .delete_bucket("bob", "docs")
        .delete_bucket("alice", "photos"); // rejected: BucketNotEmpty
    out.push(("buckets_and_objects", s));

    let mut s = Script::default();
    s.create("alice", "races", false)
        .put("alice", "races", "lock", 10, WriteCondition::IfNoneMatch)
        .put("alice", "races", "lock", 11, WriteCondition::IfNoneMatch) // rejected: PreconditionFailed
        .put("alice", "races", "lock", 12, WriteCondition::IfMatch(format!("{:032x}", 2 * 7919)))
        .put("alice", "races", "lock", 13, WriteCondition::IfMatch("stale".into())) // rejected
        .put("alice", "races", "ghost", 1, WriteCondition::IfMatch("x".into())); // rejected: NoSuchKey
    out.push(("conditional_writes", s));

    let mut s = Script::default();
    let first = UploadId::from_bytes([1; 16]);
    let second = UploadId::from_bytes([2; 16]);
    s.create("alice", "uploads", false)
        .create_upload("alice", "uploads", "video.mp4", &first)
        .upload_part("alice", "uploads", "video.mp4", &first, 1, MIB5) // seq 3
        .upload_part("alice", "uploads", "video.mp4", &first, 2, 100) // seq 4
        .upload_part("alice", "uploads", "video.mp4", &first, 2, 200) // seq 5, replaces part 2
        .upload_part("alice", "uploads", "video.mp4", &first, 3, 50) // seq 6, left out of the object
        .complete("alice", "uploads", "video.mp4", &first, vec![(2, part_etag(2, 5)), (1, part_etag(1, 3))]) // rejected: order
        .complete("alice", "uploads", "video.mp4", &first, vec![(1, part_etag(1, 3)), (2, part_etag(2, 4))]) // rejected: stale part
        .complete("alice", "uploads", "video.mp4", &first, vec![(1, part_etag(1, 3)), (2, part_etag(2, 5))])
        .create_upload("alice", "uploads", "abandoned.bin", &second)
        .upload_part("alice", "uploads", "abandoned.bin", &second, 1, 10)
        .abort("alice", "uploads", "abandoned.bin", &second)
        .abort("alice", "uploads", "abandoned.bin", &second); // rejected: NoSuchUpload
    out.push(("multipart", s));

    // A completed object keeps the checksums its parts were uploaded with (the latest
    // upload of a part number's), beside its version, until the version goes.
    let mut s = Script::default();
    let summed = UploadId::from_bytes([3; 16]);
    let replaced = UploadId::from_bytes([4; 16]);
    let sha = |v: &str| BTreeMap::from([("SHA256".to_owned(), v.to_owned())]);
    s.create("alice", "summed", false)
        .create_upload("alice", "summed", "kept.bin", &summed)
        .upload_summed_part("alice", ("summed", "kept.bin", &summed), 1, MIB5, sha("one")) // seq 3
        .upload_summed_part("alice", ("summed", "kept.bin", &summed), 2, 10, sha("stale")) // seq 4
        .upload_summed_part("alice", ("summed", "kept.bin", &summed), 2, 20, sha("two")) // seq 5
        .complete("alice", "summed", "kept.bin", &summed, vec![(1, part_etag(1, 3)), (2, part_etag(2, 5))])
        .create_upload("alice", "summed", "gone.bin", &replaced)
        .upload_summed_part("alice", ("summed", "gone.bin", &replaced), 1, 10, sha("gone")) // seq 8
        .complete("alice", "summed", "gone.bin", &replaced, vec![(1, part_etag(1, 8))])
        .put("alice", "summed", "gone.bin", 5, WriteCondition::Always); // replaces the null version
    out.push(("multipart_part_checksums", s));

    // Deleting a bucket aborts its uploads in progress (BucketDeleted v2 names them, and
    // their parts are released); versions still keep a bucket.
    let mut s = Script::default();
    let open = UploadId::from_bytes([5; 16]);
    let kept = UploadId::from_bytes([6; 16]);
    s.create("alice", "scratch", false)
        .create_upload("alice", "scratch", "big.iso", &open)
        .upload_part("alice", "scratch", "big.iso", &open, 1, 10)
        .delete_bucket("alice", "scratch")
        .create("alice", "keeper", false)
        .put("alice", "keeper", "file", 3, WriteCondition::Always)
        .create_upload("alice", "keeper", "more", &kept)
        .delete_bucket("alice", "keeper"); // rejected: BucketNotEmpty (a version)
    out.push(("delete_bucket_with_uploads", s));

    let mut s = Script::default();
    s.create("alice", "history", true) // Object Lock turns versioning on
        .put("alice", "history", "doc", 10, WriteCondition::Always) // seq 2
        .put("alice", "history", "doc", 20, WriteCondition::Always) // seq 3
        .raw(StorageEvent::ObjectDeleted(ObjectDeleted {
            bucket: bucket("history"),
            key: key("doc"),
            version_id: VersionId::new("marker-1"),
            delete_marker: true,
            // Recorded at schema version 1, which had no owner.
            owner: UserId::new(""),
        }))
        .put("alice", "history", "other", 5, WriteCondition::Always)
        .delete("alice", "history", "doc", Some(&hex16(2))); // removes the oldest version
    out.push(("versions_and_delete_markers", s));

    let notify = |b: &str| CommandBody::SetBucketNotification {
        bucket: bucket(b),
        configuration: NotificationConfig {
            rules: vec![NotificationRule {
                id: "uploads".into(),
                destination: DestinationKind::Queue,
                arn: "arn:rucket:sqs:us-east-1:audit:webhook".into(),
                events: vec!["s3:ObjectCreated:*".into()],
                prefix: "incoming/".into(),
                suffix: String::new(),
            }],
        },
    };
    let versioning = |b: &str, status| CommandBody::SetBucketVersioning { bucket: bucket(b), status };
    let mut s = Script::default();
    s.create("alice", "configured", false)
        .command("alice", versioning("configured", VersioningStatus::Enabled))
        .command("alice", notify("configured"))
        .command("bob", notify("configured")) // rejected: AccessDenied
        .put("alice", "configured", "incoming/a", 5, WriteCondition::Always)
        .command("alice", versioning("configured", VersioningStatus::Suspended))
        .create("bob", "short-lived", false)
        .command("bob", notify("short-lived"))
        .delete_bucket("bob", "short-lived") // takes its configuration with it
        .command("bob", notify("short-lived")); // rejected: NoSuchBucket
    out.push(("bucket_configurations", s));

    let cors = |b: &str, origins: &[&str]| CommandBody::SetBucketCors {
        bucket: bucket(b),
        configuration: CorsConfig {
            rules: vec![CorsRule {
                id: Some("web".into()),
                allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec!["x-amz-*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(600),
            }],
        },
    };
    let mut s = Script::default();
    s.create("alice", "site", false)
        .command("alice", cors("site", &["https://*.example.com"]))
        .command("alice", cors("site", &["*"])) // replaces the first
        .command("bob", cors("site", &["https://evil.example"])) // rejected: AccessDenied
        .create("alice", "cleared", false)
        .command("alice", cors("cleared", &["*"]))
        .command(
            "alice",
            CommandBody::SetBucketCors { bucket: bucket("cleared"), configuration: CorsConfig::default() },
        );
    out.push(("cors_rules", s));

    let set_tags =
        |b: &str, k: &str, version: Option<u64>, tags: &[(&str, &str)]| CommandBody::SetObjectTagging {
            bucket: bucket(b),
            key: key(k),
            version_id: version.map(|seq| VersionId::new(hex16(seq))),
            tags: tag_map(tags),
        };
    let big = UploadId::from_bytes([3; 16]);
    let mut s = Script::default();
    s.create("alice", "tagged", true) // versioned
        .put("alice", "tagged", "doc", 10, WriteCondition::Always) // seq 2
        .with_tags(&[("gen", "1")])
        .put("alice", "tagged", "doc", 20, WriteCondition::Always) // seq 3, no tags
        .command("alice", set_tags("tagged", "doc", Some(2), &[("gen", "9")]))
        .command("alice", set_tags("tagged", "doc", None, &[("current", "yes")])) // seq 3's
        .command("bob", set_tags("tagged", "doc", None, &[("evil", "1")])) // rejected: AccessDenied
        .command("alice", set_tags("tagged", "nothing", None, &[("a", "1")])) // rejected: NoSuchKey
        .delete("alice", "tagged", "doc", Some(&hex16(2))) // the version and its tags go
        .create_upload("alice", "tagged", "big", &big) // seq 9
        .with_tags(&[("kind", "multipart")])
        .upload_part("alice", "tagged", "big", &big, 1, 100) // seq 10
        .complete("alice", "tagged", "big", &big, vec![(1, part_etag(1, 10))])
        .command(
            "alice",
            CommandBody::SetBucketTagging { bucket: bucket("tagged"), tags: tag_map(&[("env", "prod")]) },
        )
        .create("alice", "plain", false)
        .put("alice", "plain", "p", 5, WriteCondition::Always)
        .with_tags(&[("x", "1")])
        .command("alice", set_tags("plain", "p", None, &[])) // DeleteObjectTagging
        .put("alice", "plain", "q", 5, WriteCondition::Always)
        .with_tags(&[("y", "2")])
        .put("alice", "plain", "q", 6, WriteCondition::Always); // the null version's tags go with it
    out.push(("tagging", s));

    let lifecycle = |b: &str| CommandBody::SetBucketLifecycle {
        bucket: bucket(b),
        configuration: LifecycleConfig {
            rules: vec![LifecycleRule {
                id: "tmp".into(),
                enabled: true,
                filter_form: LifecycleFilterForm::Single,
                prefix: "tmp/".into(),
                expiration_days: Some(1),
                noncurrent_days: Some(1),
                abort_incomplete_days: Some(2),
                ..LifecycleRule::default()
            }],
        },
    };
    let expire =
        |b: &str, k: &str, version: VersionId, seq: u64, action: ExpireAction| CommandBody::LifecycleExpire {
            bucket: bucket(b),
            key: key(k),
            version_id: version,
            expected: hlc(seq),
            action,
        };
    let current = || ExpireAction::Current { marker_version_id: VersionId::new("lifecycle-marker") };
    let mut s = Script::default();
    s.create("alice", "aging", false)
        .command("alice", lifecycle("aging"))
        .put("alice", "aging", "tmp/a", 5, WriteCondition::Always) // seq 3
        .put("alice", "aging", "tmp/b", 5, WriteCondition::Always) // seq 4
        .command("alice", expire("aging", "tmp/a", VersionId::null(), 3, current())) // deleted
        .command("alice", expire("aging", "tmp/b", VersionId::null(), 99, current())) // unchanged: not what was seen
        .create("alice", "aging-v", true) // seq 7, versioned
        .put("alice", "aging-v", "tmp/doc", 5, WriteCondition::Always) // seq 8
        .put("alice", "aging-v", "tmp/doc", 6, WriteCondition::Always) // seq 9
        .command("alice", expire("aging-v", "tmp/doc", VersionId::new(hex16(8)), 8, ExpireAction::Version))
        .command("alice", expire("aging-v", "tmp/doc", VersionId::new(hex16(9)), 9, current())) // a marker
        .command("bob", expire("aging-v", "tmp/doc", VersionId::new(hex16(9)), 9, ExpireAction::Version)) // AccessDenied
        .command(
            "alice",
            CommandBody::SetBucketLifecycle {
                bucket: bucket("aging"),
                configuration: LifecycleConfig::default(),
            },
        );
    out.push(("lifecycle", s));

    let grants = |list: &[(Grantee, Permission)]| Acl {
        grants: list
            .iter()
            .map(|(grantee, permission)| Grant { grantee: grantee.clone(), permission: *permission })
            .collect(),
    };
    let alice = || Grantee::User(UserId::new("alice"));
    let mut s = Script::default();
    s.create("bob", "shared", false)
        .command(
            "bob",
            CommandBody::SetBucketAcl {
                bucket: bucket("shared"),
                acl: grants(&[(Grantee::AllUsers, Permission::Read), (alice(), Permission::Write)]),
            },
        )
        .put("alice", "shared", "from-alice", 5, WriteCondition::Always) // by the WRITE grant; seq 3
        .command(
            "alice",
            CommandBody::SetObjectAcl {
                bucket: bucket("shared"),
                key: key("from-alice"),
                version_id: None,
                acl: grants(&[(Grantee::AuthenticatedUsers, Permission::Read)]),
            },
        )
        .command(
            "carol",
            CommandBody::SetObjectAcl {
                bucket: bucket("shared"),
                key: key("from-alice"),
                version_id: None,
                acl: Acl::default(),
            },
        ) // rejected: AccessDenied
        .put("carol", "shared", "intruder", 5, WriteCondition::Always) // rejected: AccessDenied
        .command("bob", CommandBody::SetBucketAcl { bucket: bucket("shared"), acl: Acl::default() })
        .put("alice", "shared", "too-late", 5, WriteCondition::Always); // rejected: AccessDenied
    out.push(("acls", s));

    // Whole ACLs (BucketAclSet and ObjectAclSet v2): grant headers or a policy body name
    // every grant, the owner's included or not; an empty one revokes everything.
    let whole = |body: CommandBody| CommandBody::WholeAcl { inner: Box::new(body) };
    let mut s = Script::default();
    s.create("bob", "listed", false)
        .command(
            "bob",
            whole(CommandBody::SetBucketAcl {
                bucket: bucket("listed"),
                acl: grants(&[(alice(), Permission::Read), (alice(), Permission::Write)]),
            }),
        )
        .put("alice", "listed", "note", 4, WriteCondition::Always) // by the WRITE grant; seq 3
        .command(
            "alice",
            whole(CommandBody::SetObjectAcl {
                bucket: bucket("listed"),
                key: key("note"),
                version_id: None,
                acl: grants(&[(Grantee::User(UserId::new("bob")), Permission::FullControl)]),
            }),
        )
        .command("bob", whole(CommandBody::SetBucketAcl { bucket: bucket("listed"), acl: Acl::default() }))
        .put("alice", "listed", "late", 4, WriteCondition::Always); // rejected: AccessDenied
    out.push(("whole_acls", s));

    // Uploads carry the ACL their completed version will get (UploadCreated v5); an
    // aborted upload's goes with it.
    let with_acl = |grants: Acl, whole: bool, id: &UploadId| CommandBody::UploadAcl {
        acl: rucket_schemas::ListedAcl { acl: grants, whole },
        inner: Box::new(CommandBody::CreateMultipartUpload {
            bucket: bucket("parts"),
            key: key("report.pdf"),
            upload_id: id.clone(),
            headers: StandardHeaders::default(),
            user_metadata: BTreeMap::new(),
            storage_class: StorageClass::Standard,
            checksum_algorithm: None,
        }),
    };
    let (kept, dropped) = (UploadId::from_bytes([7; 16]), UploadId::from_bytes([8; 16]));
    let mut s = Script::default();
    s.create("alice", "parts", false)
        .command("alice", with_acl(grants(&[(Grantee::AllUsers, Permission::Read)]), false, &kept))
        .command("alice", with_acl(grants(&[(alice(), Permission::FullControl)]), true, &dropped))
        .abort("alice", "parts", "report.pdf", &dropped);
    out.push(("multipart_acl", s));

    // Completing an upload makes its ACL the new version's, in the same batch.
    let mut s = Script::default();
    s.create("alice", "parts", false)
        .command("alice", with_acl(grants(&[(Grantee::AllUsers, Permission::Read)]), false, &kept))
        .upload_part("alice", "parts", "report.pdf", &kept, 1, 100) // seq 3
        .complete("alice", "parts", "report.pdf", &kept, vec![(1, part_etag(1, 3))]);
    out.push(("multipart_acl_completed", s));

    let own = |b: &str, o: Option<rucket_schemas::ObjectOwnership>| CommandBody::SetBucketOwnership {
        bucket: bucket(b),
        ownership: o,
    };
    let mut s = Script::default();
    s.create("bob", "owned", false)
        .command("bob", own("owned", Some(rucket_schemas::ObjectOwnership::BucketOwnerEnforced)))
        .command("alice", own("owned", None)) // rejected: AccessDenied
        .create("bob", "relaxed", false)
        .command("bob", own("relaxed", Some(rucket_schemas::ObjectOwnership::ObjectWriter)))
        .command("bob", own("relaxed", None));
    out.push(("ownership", s));

    // Public access blocks: public grants refused, then ignored, then in force again.
    let pab = |b: &str, block: bool, ignore: bool| CommandBody::SetPublicAccessBlock {
        bucket: bucket(b),
        configuration: Some(rucket_schemas::PublicAccessBlock {
            block_public_acls: block,
            ignore_public_acls: ignore,
            block_public_policy: false,
            restrict_public_buckets: false,
        }),
    };
    let public_write = grants(&[(Grantee::AuthenticatedUsers, Permission::Write)]);
    let mut s = Script::default();
    s.create("bob", "open", false)
        .command("bob", CommandBody::SetBucketAcl { bucket: bucket("open"), acl: public_write.clone() })
        .put("alice", "open", "by-grant", 5, WriteCondition::Always) // allowed by the public grant
        .command("bob", pab("open", true, false))
        .command("bob", CommandBody::SetBucketAcl { bucket: bucket("open"), acl: public_write.clone() }) // rejected
        .put("alice", "open", "still", 5, WriteCondition::Always) // the existing grant still counts
        .command("bob", pab("open", false, true))
        .put("alice", "open", "ignored", 5, WriteCondition::Always) // rejected: grant ignored
        .command("alice", pab("open", false, false)) // rejected: owner only
        .command("bob", CommandBody::SetPublicAccessBlock { bucket: bucket("open"), configuration: None })
        .put("alice", "open", "again", 5, WriteCondition::Always);
    out.push(("public_access_block", s));

    // Bucket policies: stored as text; apply judges a request's write against the policy.
    let policy = |b: &str, text: Option<&str>| CommandBody::SetBucketPolicy {
        bucket: bucket(b),
        policy: text.map(str::to_owned),
        public: false,
    };
    let text = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::polb/alice/*"}]}"#;
    let mut s = Script::default();
    s.create("bob", "polb", false)
        .command("bob", policy("polb", Some(text)))
        .put("alice", "polb", "alice/plain", 5, WriteCondition::Always) // rejected: no grant
        .put("alice", "polb", "alice/allowed", 5, WriteCondition::Always)
        .as_request("PutObject")
        .command("alice", policy("polb", None)) // rejected: owner only
        .command("bob", policy("polb", None));
    out.push(("bucket_policy", s));

    // Object Lock, decided by the commands' stamps (one second apart): seq n is hlc(n).
    use rucket_schemas::{LockMode, ObjectLock, Retention};
    let ms = |seq: u64| hlc(seq).unix_millis();
    let retention =
        |b: &str, k: &str, v: Option<u64>, r: Option<Retention>| CommandBody::SetObjectRetention {
            bucket: bucket(b),
            key: key(k),
            version_id: v.map(|seq| VersionId::new(hex16(seq))),
            retention: r,
        };
    let upload = UploadId::from_bytes([0x10; 16]);
    let mut s = Script::default();
    s.create("bob", "vault", true) // seq 1
        .command(
            "bob",
            CommandBody::SetObjectLockConfig {
                bucket: bucket("vault"),
                configuration: rucket_schemas::ObjectLockConfig {
                    default_retention: Some(rucket_schemas::DefaultRetention {
                        mode: LockMode::Governance,
                        days: Some(1),
                        years: None,
                    }),
                },
            },
        )
        .put("bob", "vault", "doc", 5, WriteCondition::Always) // seq 3: governance for a day
        .delete("bob", "vault", "doc", Some(&hex16(3))) // rejected: locked
        .command(
            "bob",
            retention(
                "vault",
                "doc",
                Some(3),
                Some(Retention { mode: LockMode::Compliance, retain_until_ms: ms(8) }),
            ),
        )
        .bypassing() // seq 5: shortened (bypass) and made COMPLIANCE until seq 8
        .delete("bob", "vault", "doc", Some(&hex16(3)))
        .bypassing() // seq 6: rejected, COMPLIANCE yields to no bypass
        .put("bob", "vault", "held", 5, WriteCondition::Always)
        .with_lock(ObjectLock { retention: None, legal_hold: true }) // seq 7
        .command(
            "bob",
            CommandBody::SetObjectLegalHold {
                bucket: bucket("vault"),
                key: key("held"),
                version_id: None,
                on: false,
            },
        )
        .delete("bob", "vault", "doc", Some(&hex16(3))) // seq 9: the retention ended at seq 8
        .command(
            "bob",
            CommandBody::SetBucketVersioning {
                bucket: bucket("vault"),
                status: rucket_schemas::VersioningStatus::Suspended,
            },
        ) // rejected: InvalidBucketState
        .command("alice", retention("vault", "held", None, None)) // rejected: AccessDenied
        .create_upload("bob", "vault", "big", &upload)
        .with_lock(ObjectLock {
            retention: Some(Retention { mode: LockMode::Compliance, retain_until_ms: ms(100) }),
            legal_hold: false,
        }) // seq 12
        .upload_part("bob", "vault", "big", &upload, 1, 10)
        .complete("bob", "vault", "big", &upload, vec![(1, part_etag(1, 13))])
        .create("bob", "plain", false) // seq 15
        .put("bob", "plain", "k", 5, WriteCondition::Always)
        .with_lock(ObjectLock { retention: None, legal_hold: true }) // rejected: no Object Lock
        .command(
            "bob",
            CommandBody::SetObjectLockConfig {
                bucket: bucket("plain"),
                configuration: rucket_schemas::ObjectLockConfig::default(),
            },
        ); // rejected: InvalidBucketState (not versioned)
    out.push(("object_lock", s));

    // Encryption at rest: a bucket default, sealed versions and uploads (SSE-S3 and
    // SSE-C), and a master key rotation's re-wraps, one of them stale.
    let master = |key_id: &str, context: &str| rucket_schemas::Seal {
        kind: rucket_schemas::SealKind::MasterKey { key_id: key_id.into() },
        wrapped_key: context.bytes().cycle().take(72).collect(),
        context_id: context.into(),
    };
    let upload = UploadId::from_bytes([0x20; 16]);
    let mut s = Script::default();
    s.create("bob", "safe", false) // seq 1
        .command(
            "bob",
            CommandBody::SetBucketEncryption {
                bucket: bucket("safe"),
                configuration: Some(rucket_schemas::BucketEncryption { bucket_key_enabled: true }),
            },
        )
        .command("alice", CommandBody::SetBucketEncryption { bucket: bucket("safe"), configuration: None }) // rejected: AccessDenied
        .put("bob", "safe", "doc", 10_000, WriteCondition::Always)
        .with_seal(master("aaaa", &hex16(4))) // seq 4
        .put("bob", "safe", "mine", 10, WriteCondition::Always)
        .with_seal(rucket_schemas::Seal {
            kind: rucket_schemas::SealKind::CustomerKey { salt: vec![1; 16], mac: vec![2; 32] },
            wrapped_key: vec![3; 72],
            context_id: hex16(5),
        }) // seq 5
        .create_upload("bob", "safe", "big", &upload)
        .with_seal(master("aaaa", "upload")) // seq 6
        .command(
            "rotation",
            CommandBody::RewrapDataKey {
                bucket: bucket("safe"),
                key: key("big"),
                target: rucket_schemas::RewrapTarget::Upload(upload.clone()),
                from: master("aaaa", "upload"),
                seal: master("bbbb", "upload"),
            },
        )
        .as_admin() // seq 7: the upload's data key re-wrapped
        .upload_part("bob", "safe", "big", &upload, 1, 10)
        .complete("bob", "safe", "big", &upload, vec![(1, part_etag(1, 8))]) // seq 9: sealed under bbbb
        .command(
            "rotation",
            CommandBody::RewrapDataKey {
                bucket: bucket("safe"),
                key: key("doc"),
                target: rucket_schemas::RewrapTarget::Version(VersionId::null()),
                from: master("aaaa", &hex16(4)),
                seal: master("bbbb", &hex16(4)),
            },
        )
        .as_admin() // seq 10: re-wrapped
        .command(
            "rotation",
            CommandBody::RewrapDataKey {
                bucket: bucket("safe"),
                key: key("doc"),
                target: rucket_schemas::RewrapTarget::Version(VersionId::null()),
                from: master("aaaa", &hex16(4)),
                seal: master("cccc", &hex16(4)),
            },
        )
        .as_admin() // unchanged: no longer under aaaa
        .command(
            "bob",
            CommandBody::RewrapDataKey {
                bucket: bucket("safe"),
                key: key("doc"),
                target: rucket_schemas::RewrapTarget::Version(VersionId::null()),
                from: master("bbbb", &hex16(4)),
                seal: master("dddd", &hex16(4)),
            },
        ); // rejected: only an operator rotates keys
    out.push(("encryption", s));

    // Access keys: operators only, no duplicates, policies, disabling, deleting, and a
    // rotation's re-seal (one stale).
    let sealed = |key_id: &str, fill: u8| rucket_schemas::SealedSecret {
        key_id: key_id.into(),
        sealed: vec![fill; 64],
    };
    let create = |id: &str, user: &str, fill: u8| CommandBody::CreateAccessKey {
        access_key_id: id.into(),
        user: UserId::new(user),
        secret: sealed("aaaa", fill),
        admin: false,
    };
    let mut s = Script::default();
    s.command("root", create("AKCAROL", "carol", 1))
        .as_admin() // seq 1
        .command("carol", create("AKMALLORY", "mallory", 2)) // rejected: AccessDenied
        .command("root", create("AKCAROL", "someone", 3))
        .as_admin() // rejected: AccessKeyExists
        .command(
            "root",
            CommandBody::SetAccessKeyPolicy {
                access_key_id: "AKCAROL".into(),
                policy: Some(
                    r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
                ),
            },
        )
        .as_admin() // seq 4
        .command("root", CommandBody::SetAccessKeyStatus { access_key_id: "AKCAROL".into(), enabled: false })
        .as_admin() // seq 5
        .command("root", CommandBody::SetAccessKeyStatus { access_key_id: "AKNONE".into(), enabled: false })
        .as_admin() // rejected: NoSuchAccessKey
        .command(
            "rotation",
            CommandBody::RewrapAccessKey {
                access_key_id: "AKCAROL".into(),
                from: sealed("aaaa", 1),
                secret: sealed("bbbb", 9),
            },
        )
        .as_admin() // seq 7: re-sealed
        .command(
            "rotation",
            CommandBody::RewrapAccessKey {
                access_key_id: "AKCAROL".into(),
                from: sealed("aaaa", 1),
                secret: sealed("cccc", 8),
            },
        )
        .as_admin() // unchanged: no longer under aaaa
        .command("root", create("AKTEMP", "temp", 4))
        .as_admin() // seq 9
        .command("root", CommandBody::DeleteAccessKey { access_key_id: "AKTEMP".into() })
        .as_admin(); // seq 10
    out.push(("access_keys", s));

    // A cluster's membership changes are archived by the log itself among the S3 events:
    // formed with three voters, a fourth added as a learner then promoted, one removed.
    let member = |id: u64| rucket_schemas::ClusterMember { id, address: format!("127.0.0.{id}:7000") };
    let members = |voters: &[u64], learners: &[u64]| {
        StorageEvent::MembershipChanged(rucket_schemas::MembershipChanged {
            voters: voters.iter().map(|id| member(*id)).collect(),
            learners: learners.iter().map(|id| member(*id)).collect(),
        })
    };
    let mut s = Script::default();
    s.raw(members(&[1, 2, 3], &[]))
        .create("alice", "shared", false)
        .put("alice", "shared", "a", 4, WriteCondition::Always)
        .raw(members(&[1, 2, 3], &[4]))
        .raw(members(&[1, 2, 3, 4], &[]))
        .put("alice", "shared", "b", 4, WriteCondition::Always)
        .raw(members(&[1, 2, 4], &[]));
    out.push(("cluster_membership", s));

    // A cluster's webhook cursors live in the log: recorded by the leader's worker as an
    // operator, only ever forward.
    let cursor = |position| CommandBody::SetWebhookCursor { target: "audit".into(), position };
    let mut s = Script::default();
    s.create("alice", "watched", false)
        .put("alice", "watched", "a", 4, WriteCondition::Always)
        .command("root", cursor(2))
        .as_admin() // seq 3
        .command("root", cursor(1))
        .as_admin() // unchanged: backwards
        .command("alice", cursor(9)) // rejected: not an operator
        .put("alice", "watched", "b", 4, WriteCondition::Always)
        .command("root", cursor(4))
        .as_admin();
    out.push(("webhook_cursors", s));

    // SSE-KMS: the key store (operators only, no duplicates, disabling, a rotation's
    // re-seal, one stale), a bucket's KMS default, and writes sealed under a KMS key,
    // refused in log order while it is disabled.
    let material = |key_id: &str, fill: u8| rucket_schemas::SealedSecret {
        key_id: key_id.into(),
        sealed: vec![fill; 60],
    };
    let create = |id: &str, fill: u8| CommandBody::CreateKmsKey {
        key_id: id.into(),
        description: format!("key {id}"),
        material: material("aaaa", fill),
    };
    let status = |enabled| CommandBody::SetKmsKeyStatus { key_id: "app".into(), enabled };
    let under_app = |context: &str| rucket_schemas::Seal {
        kind: rucket_schemas::SealKind::KmsKey { key_id: "app".into() },
        wrapped_key: context.bytes().cycle().take(72).collect(),
        context_id: context.into(),
    };
    let upload = UploadId::from_bytes([0x30; 16]);
    let mut s = Script::default();
    s.command("root", create("app", 1))
        .as_admin() // seq 1
        .command("carol", create("carols", 2)) // rejected: AccessDenied
        .command("root", create("app", 3))
        .as_admin() // rejected: KmsKeyExists
        .create("bob", "kept", false) // seq 2
        .command(
            "bob",
            CommandBody::SetBucketKmsEncryption {
                bucket: bucket("kept"),
                configuration: rucket_schemas::BucketEncryption { bucket_key_enabled: false },
                kms_key_id: "none".into(),
            },
        ) // rejected: NoSuchKmsKey
        .command(
            "bob",
            CommandBody::SetBucketKmsEncryption {
                bucket: bucket("kept"),
                configuration: rucket_schemas::BucketEncryption { bucket_key_enabled: true },
                kms_key_id: "app".into(),
            },
        ) // seq 3
        .put("bob", "kept", "doc", 10_000, WriteCondition::Always)
        .with_seal(under_app(&hex16(4))) // seq 4
        .command("root", status(false))
        .as_admin() // seq 5
        .put("bob", "kept", "late", 10, WriteCondition::Always)
        .with_seal(under_app(&hex16(6))) // rejected: KmsKeyDisabled
        .command("root", status(true))
        .as_admin() // seq 6
        .create_upload("bob", "kept", "big", &upload)
        .with_seal(under_app("upload")) // seq 7
        .command(
            "rotation",
            CommandBody::RewrapKmsKey {
                key_id: "app".into(),
                from: material("aaaa", 1),
                material: material("bbbb", 9),
            },
        )
        .as_admin() // seq 8: re-sealed
        .command(
            "rotation",
            CommandBody::RewrapKmsKey {
                key_id: "app".into(),
                from: material("aaaa", 1),
                material: material("cccc", 8),
            },
        )
        .as_admin() // unchanged: no longer under aaaa
        .command("root", create("other", 4))
        .as_admin(); // seq 9
    out.push(("kms_keys", s));

    // Server access logging: the owner's to set, a target that exists and has the same
    // owner, both key formats, turning it off; a deleted bucket takes its configuration.
    let logging = |target: &str, prefix: &str, key_format| {
        Some(rucket_schemas::BucketLogging {
            target_bucket: bucket(target),
            target_prefix: prefix.into(),
            key_format,
        })
    };
    let set_logging =
        |b: &str, configuration| CommandBody::SetBucketLogging { bucket: bucket(b), configuration };
    let mut s = Script::default();
    s.create("alice", "site", false) // seq 1
        .create("alice", "site-logs", false) // seq 2
        .create("bob", "bobs-logs", false) // seq 3
        .create("alice", "scratch", false) // seq 4
        .command(
            "alice",
            set_logging("site", logging("site-logs", "site/", rucket_schemas::LogKeyFormat::SimplePrefix)),
        ) // seq 5
        .command("bob", set_logging("site", None)) // rejected: AccessDenied
        .command(
            "alice",
            set_logging("site", logging("nowhere", "x/", rucket_schemas::LogKeyFormat::SimplePrefix)),
        ) // rejected: NoSuchLoggingTarget
        .command(
            "alice",
            set_logging("site", logging("bobs-logs", "x/", rucket_schemas::LogKeyFormat::SimplePrefix)),
        ) // rejected: LoggingTargetNotOwned
        .command(
            "alice",
            set_logging(
                "scratch",
                logging(
                    "site-logs",
                    "scratch/",
                    rucket_schemas::LogKeyFormat::PartitionedPrefix { delivery_time: true },
                ),
            ),
        ) // seq 6
        .command("alice", set_logging("scratch", None)) // seq 7
        .command(
            "alice",
            set_logging(
                "scratch",
                logging(
                    "site-logs",
                    "s/",
                    rucket_schemas::LogKeyFormat::PartitionedPrefix { delivery_time: false },
                ),
            ),
        ) // seq 8
        .command("alice", CommandBody::DeleteBucket { bucket: bucket("scratch") }); // seq 9
    out.push(("bucket_logging", s));

    // A multipart upload that asked for a FULL_OBJECT checksum at creation (UploadCreated
    // schema 6), kept in the uploads view beside one that did not, and completed.
    let (full, plain) = (UploadId::from_bytes([0x40; 16]), UploadId::from_bytes([0x41; 16]));
    let mut s = Script::default();
    s.create("alice", "sums", false) // seq 1
        .create_upload("alice", "sums", "whole", &full)
        .wrap_last(|inner| CommandBody::FullObjectChecksum { inner: Box::new(inner) }) // seq 2
        .create_upload("alice", "sums", "open", &full)
        .wrap_last(|inner| CommandBody::FullObjectChecksum { inner: Box::new(inner) }) // seq 3
        .create_upload("alice", "sums", "plain", &plain) // seq 4
        .upload_part("alice", "sums", "whole", &full, 1, 10) // seq 5
        .complete("alice", "sums", "whole", &full, vec![(1, part_etag(1, 5))]); // seq 6
    out.push(("multipart_full_object", s));

    out.push(("random_workload", random_workload(2_000, 0x5eed)));
    out
}

/// A long seeded workload over a few buckets and keys (a small xorshift, so the script
/// is the same on every machine).
pub fn random_workload(n: usize, seed: u64) -> Script {
    let mut state = seed;
    let mut next = move |m: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    };
    let mut s = Script::default();
    let buckets = ["red", "green", "blue"];
    for b in buckets {
        s.create("alice", b, false);
    }
    for _ in 0..n {
        let b = buckets[next(3) as usize];
        let k = format!("dir{}/key{}", next(4), next(25));
        match next(10) {
            0..=5 => {
                let size = if next(4) == 0 { 5_000 + next(100_000) } else { next(300) };
                let condition =
                    if next(8) == 0 { WriteCondition::IfNoneMatch } else { WriteCondition::Always };
                s.put("alice", b, &k, size, condition);
            }
            6..=8 => {
                s.delete("alice", b, &k, None);
            }
            _ => {
                s.delete_bucket("alice", b);
            }
        }
    }
    s
}
