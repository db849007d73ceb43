//! Whole-view comparison and digests, for replay verification.

use std::cmp::Ordering;

use fjall::Keyspace;
use rucket_schemas::LogPosition;
use sha2::Digest as _;

use crate::{ProjectionError, Projections};

/// One view's content summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewDigest {
    pub view: &'static str,
    pub records: u64,
    /// SHA-256 over every (key, value) in key order, hex.
    pub sha256: String,
}

/// How a record differs between two projections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffKind {
    OnlyInLeft,
    OnlyInRight,
    Differs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewDiff {
    pub view: &'static str,
    /// The record named for a person: `bucket`, `bucket/key` or `bucket/key@version`.
    pub record: String,
    pub kind: DiffKind,
}

impl Projections {
    fn views(&self) -> [(&'static str, &Keyspace); 12] {
        [
            ("buckets", &self.buckets),
            ("objects", &self.objects),
            ("versions", &self.versions),
            ("uploads", &self.uploads),
            ("parts", &self.parts),
            ("configs", &self.configs),
            ("tags", &self.tags),
            ("acls", &self.acls),
            ("meta", &self.meta),
            ("locks", &self.locks),
            ("seals", &self.seals),
            ("access_keys", &self.access_keys),
        ]
    }

    /// A consistent point-in-time view of these projections, for comparisons while
    /// writes go on.
    pub fn snapshot(&self) -> fjall::Snapshot {
        self.db.snapshot()
    }

    /// The applied position as `snapshot` saw it.
    pub fn applied_position_at(
        &self,
        snapshot: &fjall::Snapshot,
    ) -> Result<rucket_schemas::LogPosition, ProjectionError> {
        use fjall::Readable;
        Ok(snapshot
            .get(&self.meta, crate::keys::APPLIED)?
            .and_then(|v| rucket_schemas::LogPosition::from_key(&v))
            .unwrap_or_default())
    }

    /// A digest per view.
    pub fn digests(&self) -> Result<Vec<ViewDigest>, ProjectionError> {
        self.digests_at(&self.snapshot())
    }

    /// A digest per view, as `snapshot` saw them.
    pub fn digests_at(&self, snapshot: &fjall::Snapshot) -> Result<Vec<ViewDigest>, ProjectionError> {
        use fjall::Readable;
        let mut out = Vec::new();
        for (view, keyspace) in self.views() {
            let mut hasher = sha2::Sha256::new();
            let mut records = 0u64;
            for g in snapshot.iter(keyspace) {
                let (k, v) = g.into_inner()?;
                hasher.update((k.len() as u64).to_le_bytes());
                hasher.update(&k);
                hasher.update((v.len() as u64).to_le_bytes());
                hasher.update(&v);
                records += 1;
            }
            out.push(ViewDigest { view, records, sha256: hex::encode(hasher.finalize()) });
        }
        Ok(out)
    }

    /// Up to `limit` differences between `self` (left) and `other` (right), view by view
    /// in key order.
    pub fn diff(&self, other: &Projections, limit: usize) -> Result<Vec<ViewDiff>, ProjectionError> {
        self.diff_at(&self.snapshot(), other, &other.snapshot(), limit)
    }

    /// As [`Self::diff`], reading each side through its snapshot.
    pub fn diff_at(
        &self,
        mine: &fjall::Snapshot,
        other: &Projections,
        theirs: &fjall::Snapshot,
        limit: usize,
    ) -> Result<Vec<ViewDiff>, ProjectionError> {
        use fjall::Readable;
        let mut out = Vec::new();
        for ((view, left), (_, right)) in self.views().into_iter().zip(other.views()) {
            let mut l = mine.iter(left);
            let mut r = theirs.iter(right);
            let mut a = l.next().map(|g| g.into_inner()).transpose()?;
            let mut b = r.next().map(|g| g.into_inner()).transpose()?;
            while out.len() < limit {
                let kind = match (&a, &b) {
                    (None, None) => break,
                    (Some(_), None) => DiffKind::OnlyInLeft,
                    (None, Some(_)) => DiffKind::OnlyInRight,
                    (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                        Ordering::Less => DiffKind::OnlyInLeft,
                        Ordering::Greater => DiffKind::OnlyInRight,
                        Ordering::Equal if va == vb => {
                            a = l.next().map(|g| g.into_inner()).transpose()?;
                            b = r.next().map(|g| g.into_inner()).transpose()?;
                            continue;
                        }
                        Ordering::Equal => DiffKind::Differs,
                    },
                };
                let key = match kind {
                    DiffKind::OnlyInRight => b.as_ref().map(|(k, _)| k.to_vec()),
                    _ => a.as_ref().map(|(k, _)| k.to_vec()),
                }
                .unwrap_or_default();
                out.push(ViewDiff { view, record: describe(view, &key), kind: kind.clone() });
                if kind != DiffKind::OnlyInRight {
                    a = l.next().map(|g| g.into_inner()).transpose()?;
                }
                if kind != DiffKind::OnlyInLeft {
                    b = r.next().map(|g| g.into_inner()).transpose()?;
                }
            }
        }
        Ok(out)
    }
}

/// Names a record by its key layout (see `keys.rs`).
fn describe(view: &str, key: &[u8]) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match view {
        "objects" => text(key).replacen('\0', "/", 1),
        "parts" if key.first() == Some(&0) => format!("version {}", describe("versions", &key[1..])),
        "uploads" | "parts" | "configs" => text(key).replace('\0', "/"),
        "versions" if key.len() > 16 => {
            let (name, stamp) = key.split_at(key.len() - 16);
            let name = name.strip_suffix(&[0]).unwrap_or(name);
            let time = u64::MAX - u64::from_be_bytes(stamp[..8].try_into().unwrap_or_default());
            format!("{}@hlc:{time:x}", text(name).replacen('\0', "/", 1))
        }
        _ => text(key),
    }
}

/// A stable, human-readable rendering of every view, sorted by view then key. Golden
/// replay tests compare it as text, so it names fields explicitly instead of relying on
/// `Debug`.
impl Projections {
    ///
    /// `body` finds the inline body archived at a position, so a version whose body stays
    /// in the archive renders as the bytes it stands for.
    pub fn dump_text(
        &self,
        body: &dyn Fn(LogPosition) -> Option<Vec<u8>>,
    ) -> Result<String, ProjectionError> {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (view, keyspace) in self.views() {
            let _ = writeln!(out, "[{view}]");
            for g in keyspace.iter() {
                let (k, v) = g.into_inner()?;
                let line = match view {
                    "buckets" => render_bucket(&crate::store::decode(&v, "buckets")?),
                    "objects" => format!(
                        "{} {}",
                        describe(view, &k),
                        render_record(&crate::store::decode(&v, "objects")?, body)
                    ),
                    "versions" => format!(
                        "{} {}",
                        describe(view, &k),
                        render_entry(&crate::store::decode(&v, "versions")?, body)
                    ),
                    "uploads" => {
                        format!("{} {}", describe(view, &k), render_upload(&crate::store::decode_upload(&v)?))
                    }
                    "parts" => match k.first() {
                        Some(0) => format!(
                            "{} {:?}",
                            describe(view, &k),
                            crate::store::decode::<crate::PartChecksums>(&v, "parts")?
                        ),
                        _ => format!(
                            "{} {}",
                            describe(view, &k),
                            render_part(&crate::store::decode(&v, "parts")?)
                        ),
                    },
                    "tags" => format!(
                        "{}:{} {}",
                        text_of(&k[..1]),
                        describe(if k.first() == Some(&b'v') { "versions" } else { "uploads" }, &k[1..]),
                        render_map(&crate::store::decode(&v, "tags")?)
                    ),
                    "locks" => format!(
                        "{}:{} {:?}",
                        text_of(&k[..1]),
                        describe(if k.first() == Some(&b'v') { "versions" } else { "uploads" }, &k[1..]),
                        crate::store::decode::<rucket_schemas::ObjectLock>(&v, "locks")?
                    ),
                    "seals" => format!(
                        "{}:{} {}",
                        text_of(&k[..1]),
                        describe("uploads", &k[1..]),
                        render_seal(&crate::store::decode(&v, "seals")?)
                    ),
                    "access_keys" => {
                        let r: crate::AccessKeyRecord = crate::store::decode(&v, "access_keys")?;
                        let sealed = hex::encode(&sha2::Sha256::digest(&r.secret.sealed)[..8]);
                        format!(
                            "{} user={} admin={} enabled={} secret=master:{}:sha256:{sealed} created={} policy={:?}",
                            r.access_key_id, r.user, r.admin, r.enabled, r.secret.key_id, r.created, r.policy
                        )
                    }
                    "configs" if k.ends_with(crate::keys::ENCRYPTION.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::BucketEncryption>(&v, "configs")?
                    ),
                    "acls" => format!(
                        "{} {}",
                        match k.strip_prefix(&[0]) {
                            Some(upload) => format!("upload {}", describe("uploads", upload)),
                            None => describe("versions", &k),
                        },
                        render_acl(&crate::store::decode_acl(&v, "acls")?)
                    ),
                    "configs" if k.ends_with(crate::keys::LOGGING.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::BucketLogging>(&v, "configs")?
                    ),
                    "configs" if k.ends_with(crate::keys::ENCRYPTION_KMS.as_bytes()) => {
                        format!("{} {}", describe(view, &k), crate::store::decode::<String>(&v, "configs")?)
                    }
                    "meta" if k.starts_with(crate::keys::KMS_KEY.as_bytes()) => {
                        let r: crate::KmsKeyRecord = crate::store::decode(&v, "meta")?;
                        let sealed = hex::encode(&sha2::Sha256::digest(&r.material.sealed)[..8]);
                        format!(
                            "{} enabled={} material=master:{}:sha256:{sealed} created={} description={:?}",
                            describe(view, &k),
                            r.enabled,
                            r.material.key_id,
                            r.created,
                            r.description
                        )
                    }
                    "configs" if k.ends_with(crate::keys::POLICY.as_bytes()) => {
                        format!("{} {}", describe(view, &k), crate::store::decode::<String>(&v, "configs")?)
                    }
                    "configs" if k.ends_with(crate::keys::PUBLIC_ACCESS_BLOCK.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::PublicAccessBlock>(&v, "configs")?
                    ),
                    "configs" if k.ends_with(crate::keys::OBJECT_LOCK.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::ObjectLockConfig>(&v, "configs")?
                    ),
                    "configs" if k.ends_with(crate::keys::OWNERSHIP.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::ObjectOwnership>(&v, "configs")?
                    ),
                    "configs" if k.ends_with(crate::keys::ACL.as_bytes()) => format!(
                        "{} {}",
                        describe(view, &k),
                        render_acl(&crate::store::decode_acl(&v, "configs")?)
                    ),
                    "configs" if k.ends_with(crate::keys::LIFECYCLE.as_bytes()) => format!(
                        "{} {:?}",
                        describe(view, &k),
                        crate::store::decode::<rucket_schemas::LifecycleConfig>(&v, "configs")?.rules
                    ),
                    "configs" if k.ends_with(crate::keys::TAGGING.as_bytes()) => format!(
                        "{} {}",
                        describe(view, &k),
                        render_map(&crate::store::decode(&v, "configs")?)
                    ),
                    "configs" if k.ends_with(crate::keys::CORS.as_bytes()) => format!(
                        "{} {}",
                        describe(view, &k),
                        render_cors(&crate::store::decode(&v, "configs")?)
                    ),
                    "configs" => format!(
                        "{} {}",
                        describe(view, &k),
                        render_notification(&crate::store::decode(&v, "configs")?)
                    ),
                    _ => format!("{} = {}", describe(view, &k), hex::encode(&v)),
                };
                let _ = writeln!(out, "{line}");
            }
        }
        Ok(out)
    }
}

/// The grants, and ` whole` for a whole ACL (older dumps had no whole ACLs).
fn render_acl(listed: &rucket_schemas::ListedAcl) -> String {
    let whole = if listed.whole { " whole" } else { "" };
    format!("{:?}{whole}", listed.acl.grants)
}

fn render_map(map: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

fn render_bucket(b: &crate::BucketRecord) -> String {
    format!(
        "{} owner={} location={:?} created={} versioning={:?} lock={} encryption={:?}",
        b.name, b.owner, b.location, b.created, b.versioning, b.object_lock_enabled, b.default_encryption
    )
}

type BodyAt<'a> = &'a dyn Fn(LogPosition) -> Option<Vec<u8>>;

fn render_data(data: &rucket_schemas::ObjectData, body: BodyAt) -> String {
    match data {
        rucket_schemas::ObjectData::Inline(bytes) => render_inline(bytes),
        rucket_schemas::ObjectData::InArchive(position) => match body(*position) {
            Some(bytes) => render_inline(&bytes),
            None => format!("in-archive({position}, not found)"),
        },
        rucket_schemas::ObjectData::Blob(id) => format!("blob({id})"),
        rucket_schemas::ObjectData::Parts(parts) => {
            let parts: Vec<String> =
                parts.iter().map(|p| format!("{}:{}:{}", p.part_number, p.size, p.blob_id)).collect();
            format!("parts({})", parts.join(" "))
        }
        rucket_schemas::ObjectData::Sealed { seal, data } => {
            format!("sealed({} {})", render_seal(seal), render_data(data, body))
        }
    }
}

/// A seal by its kind and key; the wrapped key is shown as a short hash.
fn render_seal(seal: &rucket_schemas::Seal) -> String {
    let kind = match &seal.kind {
        rucket_schemas::SealKind::MasterKey { key_id } => format!("master:{key_id}"),
        rucket_schemas::SealKind::CustomerKey { .. } => "customer".to_owned(),
        rucket_schemas::SealKind::KmsKey { key_id } => format!("kms:{key_id}"),
    };
    let wrapped = hex::encode(&sha2::Sha256::digest(&seal.wrapped_key)[..8]);
    format!("{kind} context={} wrapped=sha256:{wrapped}", seal.context_id)
}

fn render_inline(bytes: &[u8]) -> String {
    format!("inline({} bytes, sha256:{})", bytes.len(), hex::encode(&sha2::Sha256::digest(bytes)[..8]))
}

fn render_record(r: &rucket_schemas::ObjectRecord, body: BodyAt) -> String {
    let h = &r.headers;
    format!(
        "version={} size={} etag={} data={} owner={} created={} group={} home={} class={} replication={:?} \
         meta={} checksums={} type={:?} cache={:?} disposition={:?} encoding={:?} language={:?} expires={:?}",
        r.version_id,
        r.size,
        r.etag,
        render_data(&r.data, body),
        r.owner,
        r.hlc_timestamp,
        r.placement_group,
        r.home_region,
        r.storage_class.s3_name(),
        r.replication_status,
        render_map(&r.user_metadata),
        render_map(&r.checksums),
        h.content_type,
        h.cache_control,
        h.content_disposition,
        h.content_encoding,
        h.content_language,
        h.expires
    )
}

fn render_entry(e: &crate::VersionEntry, body: BodyAt) -> String {
    match e {
        crate::VersionEntry::Object(r) => render_record(r, body),
        crate::VersionEntry::DeleteMarker { version_id, owner, hlc_timestamp } => {
            format!("delete-marker version={version_id} owner={owner} created={hlc_timestamp}")
        }
    }
}

fn render_upload(u: &crate::UploadRecord) -> String {
    format!(
        "key={} owner={} initiated={} class={} meta={} checksum={:?}{}",
        u.key,
        u.owner,
        u.initiated,
        u.storage_class.s3_name(),
        render_map(&u.user_metadata),
        u.checksum_algorithm,
        if u.full_object_checksum { " FULL_OBJECT" } else { "" }
    )
}

fn render_part(p: &rucket_schemas::PartRecord) -> String {
    format!(
        "part={} size={} etag={} blob={} created={}",
        p.part_number, p.size, p.etag, p.blob_id, p.hlc_timestamp
    )
}

fn render_notification(c: &rucket_schemas::NotificationConfig) -> String {
    let rules: Vec<String> = c
        .rules
        .iter()
        .map(|r| {
            format!(
                "id={} destination={:?} arn={} events=[{}] prefix={:?} suffix={:?}",
                r.id,
                r.destination,
                r.arn,
                r.events.join(","),
                r.prefix,
                r.suffix
            )
        })
        .collect();
    format!("rules=[{}]", rules.join("; "))
}

fn render_cors(c: &rucket_schemas::CorsConfig) -> String {
    let rules: Vec<String> = c
        .rules
        .iter()
        .map(|r| {
            format!(
                "id={:?} origins=[{}] methods=[{}] headers=[{}] expose=[{}] max_age={:?}",
                r.id,
                r.allowed_origins.join(","),
                r.allowed_methods.join(","),
                r.allowed_headers.join(","),
                r.expose_headers.join(","),
                r.max_age_seconds
            )
        })
        .collect();
    format!("rules=[{}]", rules.join("; "))
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
