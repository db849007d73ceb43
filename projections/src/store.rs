//! The projection keyspaces and their point reads.

use std::collections::BTreeSet;
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};
use rucket_schemas::{
    decode_payload, encode_payload, BlobId, BucketName, ListedAcl, LogPosition, ObjectKey, ObjectRecord,
    PartRecord, UploadId, VersionId,
};

use crate::tx::{Reads, View};
use crate::{keys, BucketRecord, ProjectionError, UploadRecord, VersionEntry};

/// The key in `proj.current` that holds the live generation number.
const CURRENT: &[u8] = b"generation";

/// What [`Projections::may_have_logging`] knows.
const LOGGING_UNKNOWN: u8 = 0;
const LOGGING_NONE: u8 = 1;
const LOGGING_SEEN: u8 = 2;

/// The key in `proj.current` that holds the format the live generation is written in.
const FORMAT: &[u8] = b"format";

/// The format [`Projections::fold`] writes. Format 3 keeps the checksums of a completed
/// object's parts beside its version (format 2 dropped them with the upload). Format 2
/// leaves inline bodies in the archive (the views name their position). Format 1, never
/// marked, copied them into the objects and versions views. Older views are correct but
/// a fresh fold differs from them, so a node refolds them once (see
/// [`Projections::format_is_current`]).
pub const VIEW_FORMAT: u32 = 3;

/// Handles to the projection keyspaces inside the node's fjall database.
///
/// Projections come in generations (`proj.g<N>.<view>`); the pointer keyspace
/// `proj.current` names the live one. A rebuild folds into the next generation and then
/// moves the pointer in one durable write, so a crash leaves the old views or the new,
/// never a mix.
///
/// A clone shares the handles (the request path clones the views into every layer that
/// reads them, once per request).
#[derive(Clone)]
pub struct Projections(Arc<Views>);

impl std::ops::Deref for Projections {
    type Target = Views;

    fn deref(&self) -> &Views {
        &self.0
    }
}

/// The keyspace handles behind [`Projections`].
pub struct Views {
    pub(crate) db: Database,
    generation: u64,
    pub(crate) buckets: Keyspace,
    pub(crate) objects: Keyspace,
    pub(crate) versions: Keyspace,
    pub(crate) uploads: Keyspace,
    pub(crate) parts: Keyspace,
    /// Bucket configurations by kind (`<bucket> 0x00 <kind>`).
    pub(crate) configs: Keyspace,
    /// Tag sets of versions and of uploads in progress (see [`keys::version_tags`]).
    pub(crate) tags: Keyspace,
    /// Grants of object versions, by version key.
    pub(crate) acls: Keyspace,
    pub(crate) meta: Keyspace,
    /// Object Lock state of versions and of uploads in progress (keyed as `tags`).
    pub(crate) locks: Keyspace,
    /// The seals of encrypted uploads in progress (keyed as `tags`; a version's seal is
    /// part of its record).
    pub(crate) seals: Keyspace,
    /// Access keys made through the admin API, by id.
    pub(crate) access_keys: Keyspace,
    /// Blobs that events released and the collector has not removed yet. Shared by all
    /// generations (a rebuild may re-add blobs long gone; removing them again is a no-op)
    /// and outside the compared views, since draining it is local housekeeping.
    pub(crate) garbage: Keyspace,
    /// Whether some bucket may have server access logging on: unknown until first asked
    /// (then a scan of the configuration keys), set when a configuration is folded,
    /// never cleared (clones share it), so that the request path skips logging entirely on
    /// a store that never used it.
    logging_seen: std::sync::atomic::AtomicU8,
}

impl Projections {
    /// Opens (creating if needed) the live generation of the projections in `db`.
    pub fn open(db: &Database) -> Result<Self, ProjectionError> {
        let pointer = Self::pointer(db)?;
        let generation = match pointer.get(CURRENT)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| ProjectionError::Corrupt {
                keyspace: "current",
                source: rucket_schemas::CodecError::Payload("generation is not 8 bytes".into()),
            })?),
            None => 0,
        };
        Self::open_generation(db, generation)
    }

    fn pointer(db: &Database) -> Result<Keyspace, ProjectionError> {
        Ok(db.keyspace("proj.current", KeyspaceCreateOptions::default)?)
    }

    fn open_generation(db: &Database, generation: u64) -> Result<Self, ProjectionError> {
        let open =
            |view: &str| db.keyspace(&format!("proj.g{generation}.{view}"), KeyspaceCreateOptions::default);
        Ok(Self(Arc::new(Views {
            db: db.clone(),
            generation,
            buckets: open("buckets")?,
            objects: open("objects")?,
            versions: open("versions")?,
            uploads: open("uploads")?,
            parts: open("parts")?,
            configs: open("configs")?,
            tags: open("tags")?,
            acls: open("acls")?,
            meta: open("meta")?,
            locks: open("locks")?,
            seals: open("seals")?,
            access_keys: open("access_keys")?,
            garbage: db.keyspace("blobs.garbage", KeyspaceCreateOptions::default)?,
            logging_seen: Default::default(),
        })))
    }

    /// Whether some bucket may have server access logging on (false: none has). The
    /// first call scans the configuration keys (not their values); a failed scan answers
    /// yes.
    pub fn may_have_logging(&self) -> bool {
        use std::sync::atomic::Ordering;
        match self.logging_seen.load(Ordering::Relaxed) {
            LOGGING_NONE => false,
            LOGGING_SEEN => true,
            _ => {
                let suffix = [&[0u8][..], keys::LOGGING.as_bytes()].concat();
                let found = self.configs.iter().any(|g| g.key().map_or(true, |k| k.ends_with(&suffix)));
                let state = if found { LOGGING_SEEN } else { LOGGING_NONE };
                // A configuration folded meanwhile has already said SEEN.
                let _ = self.logging_seen.compare_exchange(
                    LOGGING_UNKNOWN,
                    state,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                self.logging_seen.load(Ordering::Relaxed) == LOGGING_SEEN
            }
        }
    }

    pub(crate) fn saw_logging(&self) {
        self.logging_seen.store(LOGGING_SEEN, std::sync::atomic::Ordering::Relaxed);
    }

    /// An empty generation after the live one, for a rebuild to fold into. Its keyspaces
    /// are deleted and made anew first (leftovers of an interrupted rebuild go with them),
    /// never cleared: a clear is a journal record that fjall replays at every open until
    /// the journal is recycled, and a keyspace with nothing on disk holds its journal, so a
    /// clear would empty the generation again after a staged fold wrote its tables beside
    /// the journal ([`crate::StagedFold`]).
    pub fn next_generation(&self) -> Result<Self, ProjectionError> {
        let leftovers = Self::open_generation(&self.db, self.generation + 1)?;
        for keyspace in leftovers.keyspaces() {
            self.db.delete_keyspace(keyspace)?;
        }
        Self::open_generation(&self.db, self.generation + 1)
    }

    /// Makes `self` the live generation: fsyncs what it holds, then moves the pointer in
    /// one durable write and drops the previous generation's keyspaces.
    pub fn promote(self, previous: Projections) -> Result<Self, ProjectionError> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        let pointer = Self::pointer(&self.db)?;
        let mut batch = self.db.batch().durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(&pointer, CURRENT, self.generation.to_be_bytes());
        batch.insert(&pointer, FORMAT, VIEW_FORMAT.to_be_bytes());
        batch.commit()?;
        let db = self.db.clone();
        for keyspace in previous.keyspaces() {
            db.delete_keyspace(keyspace)?;
        }
        Ok(self)
    }

    /// Whether the live views are in the format today's fold writes: marked so, or empty
    /// (nothing folded yet, so nothing to convert).
    pub fn format_is_current(&self) -> Result<bool, ProjectionError> {
        Ok(self.format()? == Some(VIEW_FORMAT) || self.applied_position()? == LogPosition(0))
    }

    /// Marks the views as written in today's format, durably, unless they already are.
    /// Only for views that [`Self::format_is_current`] accepts.
    pub fn mark_format(&self) -> Result<(), ProjectionError> {
        if self.format()? != Some(VIEW_FORMAT) {
            let pointer = Self::pointer(&self.db)?;
            let mut batch = self.db.batch().durability(Some(fjall::PersistMode::SyncAll));
            batch.insert(&pointer, FORMAT, VIEW_FORMAT.to_be_bytes());
            batch.commit()?;
        }
        Ok(())
    }

    fn format(&self) -> Result<Option<u32>, ProjectionError> {
        let pointer = Self::pointer(&self.db)?;
        Ok(pointer.get(FORMAT)?.and_then(|v| v.as_ref().try_into().ok()).map(u32::from_be_bytes))
    }

    /// The generation number of these views.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn keyspaces(&self) -> [Keyspace; 12] {
        [
            self.buckets.clone(),
            self.objects.clone(),
            self.versions.clone(),
            self.uploads.clone(),
            self.parts.clone(),
            self.configs.clone(),
            self.tags.clone(),
            self.acls.clone(),
            self.meta.clone(),
            self.locks.clone(),
            self.seals.clone(),
            self.access_keys.clone(),
        ]
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether no view holds anything (the shared garbage list aside, which folds only
    /// ever add to and never read).
    pub fn is_empty(&self) -> bool {
        View::ALL
            .iter()
            .filter(|v| **v != View::Garbage)
            .all(|v| self.keyspace(*v).first_key_value().is_none())
    }

    /// Empties every view (before a snapshot install refolds the archive into them).
    /// The clear is a journal record that fjall replays at every open until the journal is
    /// recycled, so cleared views must be refilled through write batches (which replay
    /// after it), never by a [`crate::StagedFold`], whose tables a replayed clear would
    /// drop (see [`Self::next_generation`]).
    pub fn clear(&self) -> Result<(), ProjectionError> {
        for keyspace in [
            &self.buckets,
            &self.objects,
            &self.versions,
            &self.uploads,
            &self.parts,
            &self.configs,
            &self.tags,
            &self.acls,
            &self.meta,
            &self.locks,
            &self.seals,
            &self.access_keys,
        ] {
            keyspace.clear()?;
        }
        Ok(())
    }

    /// The last log position folded into the views; 0 when nothing was applied.
    pub fn applied_position(&self) -> Result<LogPosition, ProjectionError> {
        Ok(self.meta.get(keys::APPLIED)?.and_then(|v| LogPosition::from_key(&v)).unwrap_or_default())
    }

    /// Where webhook target `target` was last recorded as delivered (in the log, by a
    /// cluster's leader); `None` before the first record.
    pub fn webhook_cursor(&self, target: &str) -> Result<Option<u64>, ProjectionError> {
        Ok(self.meta.get(keys::webhook_cursor(target))?.and_then(|v| LogPosition::from_key(&v)).map(|p| p.0))
    }

    /// Records the applied position in the same batch as the change it belongs to.
    pub fn set_applied(&self, batch: &mut OwnedWriteBatch, position: LogPosition) {
        batch.insert(&self.meta, keys::APPLIED, position.to_key());
    }

    pub fn bucket(&self, bucket: &BucketName) -> Result<Option<BucketRecord>, ProjectionError> {
        read_bucket(self, bucket)
    }

    /// The bucket's notification configuration (empty when none is set).
    pub fn notification(
        &self,
        bucket: &BucketName,
    ) -> Result<rucket_schemas::NotificationConfig, ProjectionError> {
        let key = keys::config(bucket, keys::NOTIFICATION);
        Ok(self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()?.unwrap_or_default())
    }

    /// The bucket's CORS configuration, if one is set.
    pub fn cors(&self, bucket: &BucketName) -> Result<Option<rucket_schemas::CorsConfig>, ProjectionError> {
        let key = keys::config(bucket, keys::CORS);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket's lifecycle configuration, if one is set.
    pub fn lifecycle(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::LifecycleConfig>, ProjectionError> {
        let key = keys::config(bucket, keys::LIFECYCLE);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// Calls `f` with each key of a bucket and its history, newest first (for the
    /// lifecycle worker). Stops early when `f` returns an error.
    pub fn for_each_history(
        &self,
        bucket: &BucketName,
        mut f: impl FnMut(&ObjectKey, &[VersionEntry]) -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        let prefix = keys::bucket_prefix(bucket);
        let mut current: Option<(String, Vec<VersionEntry>)> = None;
        for g in self.versions.prefix(&prefix) {
            let (k, v) = g.into_inner()?;
            let Some(name) = keys::object_key_of_version(prefix.len(), &k) else { continue };
            let entry: VersionEntry = decode(&v, "versions")?;
            match &mut current {
                Some((n, entries)) if n == name => entries.push(entry),
                _ => {
                    if let Some((n, entries)) = current.take() {
                        if let Ok(key) = ObjectKey::parse(&n) {
                            f(&key, &entries)?;
                        }
                    }
                    current = Some((name.to_owned(), vec![entry]));
                }
            }
        }
        if let Some((n, entries)) = current {
            if let Ok(key) = ObjectKey::parse(&n) {
                f(&key, &entries)?;
            }
        }
        Ok(())
    }

    /// Every multipart upload in progress in a bucket.
    pub fn uploads_in(&self, bucket: &BucketName) -> Result<Vec<UploadRecord>, ProjectionError> {
        self.uploads.prefix(keys::bucket_prefix(bucket)).map(|g| decode_upload(&g.value()?)).collect()
    }

    /// The bucket's ownership controls, if set.
    pub fn ownership(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::ObjectOwnership>, ProjectionError> {
        let key = keys::config(bucket, keys::OWNERSHIP);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// Whether the bucket's ownership controls are BucketOwnerEnforced: ACLs are off and
    /// its owner owns every object.
    pub fn acls_off(&self, bucket: &BucketName) -> Result<bool, ProjectionError> {
        Ok(self.ownership(bucket)? == Some(rucket_schemas::ObjectOwnership::BucketOwnerEnforced))
    }

    /// Whether the bucket's ownership controls let its owner take objects others write
    /// (BucketOwnerPreferred, with `bucket-owner-full-control`, or BucketOwnerEnforced).
    pub fn owner_takes_objects(&self, bucket: &BucketName) -> Result<bool, ProjectionError> {
        use rucket_schemas::ObjectOwnership as O;
        Ok(matches!(self.ownership(bucket)?, Some(O::BucketOwnerPreferred | O::BucketOwnerEnforced)))
    }

    /// The bucket's grants (its owner has full control whatever they say).
    pub fn bucket_acl(&self, bucket: &BucketName) -> Result<rucket_schemas::Acl, ProjectionError> {
        Ok(self.bucket_acl_listed(bucket)?.acl)
    }

    /// The bucket's ACL as GetBucketAcl lists it.
    pub fn bucket_acl_listed(&self, bucket: &BucketName) -> Result<ListedAcl, ProjectionError> {
        let key = keys::config(bucket, keys::ACL);
        Ok(self.configs.get(key)?.map(|v| decode_acl(&v, "configs")).transpose()?.unwrap_or_default())
    }

    /// The bucket's policy (its JSON text), if one is set.
    pub fn bucket_policy(&self, bucket: &BucketName) -> Result<Option<String>, ProjectionError> {
        let key = keys::config(bucket, keys::POLICY);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket's public access block, if one is set.
    pub fn public_access_block(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::PublicAccessBlock>, ProjectionError> {
        let key = keys::config(bucket, keys::PUBLIC_ACCESS_BLOCK);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket ACL as access decisions see it: without public grants when the bucket's
    /// public access block says to ignore them, and empty under BucketOwnerEnforced.
    pub fn effective_bucket_acl(&self, bucket: &BucketName) -> Result<rucket_schemas::Acl, ProjectionError> {
        self.effective(bucket, self.bucket_acl(bucket)?)
    }

    /// A version's ACL as access decisions see it (see [`Self::effective_bucket_acl`]).
    pub fn effective_version_acl(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<rucket_schemas::Acl, ProjectionError> {
        self.effective(bucket, self.version_acl(bucket, key, hlc)?)
    }

    fn effective(
        &self,
        bucket: &BucketName,
        acl: rucket_schemas::Acl,
    ) -> Result<rucket_schemas::Acl, ProjectionError> {
        if acl.grants.is_empty() {
            return Ok(acl);
        }
        // BucketOwnerEnforced turns ACLs off: they grant nothing.
        if self.acls_off(bucket)? {
            return Ok(rucket_schemas::Acl::default());
        }
        let ignore = self.public_access_block(bucket)?.is_some_and(|b| b.ignore_public_acls);
        Ok(if ignore { acl.without_public() } else { acl })
    }

    /// The grants of the version of `key` stamped `hlc`.
    pub fn version_acl(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<rucket_schemas::Acl, ProjectionError> {
        Ok(self.version_acl_listed(bucket, key, hlc)?.acl)
    }

    /// The ACL of the version of `key` stamped `hlc`, as GetObjectAcl lists it.
    pub fn version_acl_listed(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<ListedAcl, ProjectionError> {
        let k = keys::version(bucket, key, hlc);
        Ok(self.acls.get(k)?.map(|v| decode_acl(&v, "acls")).transpose()?.unwrap_or_default())
    }

    /// The ACL a multipart upload in progress asked for its completed version (`None`:
    /// private).
    pub fn upload_acl(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Option<ListedAcl>, ProjectionError> {
        let k = keys::upload_acl(bucket, key, upload_id);
        self.acls.get(k)?.map(|v| decode_acl(&v, "acls")).transpose()
    }

    /// The Object Lock state of one version (empty when it has none).
    pub fn version_lock(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<rucket_schemas::ObjectLock, ProjectionError> {
        let k = keys::version_tags(&keys::version(bucket, key, hlc));
        Ok(self.locks.get(k)?.map(|v| decode(&v, "locks")).transpose()?.unwrap_or_default())
    }

    /// The lock a multipart upload in progress will give its version.
    pub fn upload_lock(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<rucket_schemas::ObjectLock, ProjectionError> {
        let k = keys::upload_tags(bucket, key, upload_id);
        Ok(self.locks.get(k)?.map(|v| decode(&v, "locks")).transpose()?.unwrap_or_default())
    }

    /// The seal of an encrypted multipart upload in progress.
    pub fn upload_seal(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Option<rucket_schemas::Seal>, ProjectionError> {
        let k = keys::upload_tags(bucket, key, upload_id);
        self.seals.get(k)?.map(|v| decode(&v, "seals")).transpose()
    }

    /// An access key made through the admin API.
    pub fn access_key(&self, access_key_id: &str) -> Result<Option<crate::AccessKeyRecord>, ProjectionError> {
        read_access_key(self, access_key_id)
    }

    /// Every access key made through the admin API, by id.
    pub fn access_keys(&self) -> Result<Vec<crate::AccessKeyRecord>, ProjectionError> {
        self.access_keys.iter().map(|g| decode(&g.value()?, "access_keys")).collect()
    }

    /// A key of the SSE-KMS key store.
    pub fn kms_key(&self, key_id: &str) -> Result<Option<crate::KmsKeyRecord>, ProjectionError> {
        read_kms_key(self, key_id)
    }

    /// Every key of the SSE-KMS key store, by id.
    pub fn kms_keys(&self) -> Result<Vec<crate::KmsKeyRecord>, ProjectionError> {
        self.meta.prefix(keys::KMS_KEY).map(|g| decode(&g.value()?, "meta")).collect()
    }

    /// The KMS key of the bucket's default encryption, when that default is `aws:kms`.
    pub fn bucket_kms_key(&self, bucket: &BucketName) -> Result<Option<String>, ProjectionError> {
        let key = keys::config(bucket, keys::ENCRYPTION_KMS);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket's default encryption (PutBucketEncryption), if set.
    pub fn bucket_encryption(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::BucketEncryption>, ProjectionError> {
        let key = keys::config(bucket, keys::ENCRYPTION);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket's Object Lock configuration, if Object Lock was configured.
    pub fn object_lock_config(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::ObjectLockConfig>, ProjectionError> {
        let key = keys::config(bucket, keys::OBJECT_LOCK);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// Where the bucket's server access logs go, if logging is on.
    pub fn bucket_logging(
        &self,
        bucket: &BucketName,
    ) -> Result<Option<rucket_schemas::BucketLogging>, ProjectionError> {
        let key = keys::config(bucket, keys::LOGGING);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The bucket's tag set, if one is set.
    pub fn bucket_tags(&self, bucket: &BucketName) -> Result<Option<rucket_schemas::Tags>, ProjectionError> {
        let key = keys::config(bucket, keys::TAGGING);
        self.configs.get(key)?.map(|v| decode(&v, "configs")).transpose()
    }

    /// The tags of the version of `key` stamped `hlc` (an object record's
    /// `hlc_timestamp`); empty when it has none.
    pub fn version_tags(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<rucket_schemas::Tags, ProjectionError> {
        let k = keys::version_tags(&keys::version(bucket, key, hlc));
        Ok(self.tags.get(k)?.map(|v| decode(&v, "tags")).transpose()?.unwrap_or_default())
    }

    /// The checksums the parts of the multipart version of `key` stamped `hlc` were
    /// uploaded with; empty when none had any (or the version is not multipart).
    pub fn version_part_checksums(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        hlc: rucket_schemas::Hlc,
    ) -> Result<crate::PartChecksums, ProjectionError> {
        let k = keys::version_parts(&keys::version(bucket, key, hlc));
        Ok(self.parts.get(k)?.map(|v| decode(&v, "parts")).transpose()?.unwrap_or_default())
    }

    /// The tags of a multipart upload in progress.
    pub fn upload_tags(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<rucket_schemas::Tags, ProjectionError> {
        let k = keys::upload_tags(bucket, key, upload_id);
        Ok(self.tags.get(k)?.map(|v| decode(&v, "tags")).transpose()?.unwrap_or_default())
    }

    /// All buckets in name order.
    pub fn buckets(&self) -> Result<Vec<BucketRecord>, ProjectionError> {
        self.buckets.iter().map(|g| decode(&g.value()?, "buckets")).collect()
    }

    /// The current version of a key, if it has one that is not a delete marker.
    pub fn current_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<ObjectRecord>, ProjectionError> {
        read_current_object(self, bucket, key)
    }

    /// The newest entry of a key's history (which may be a delete marker).
    pub fn latest_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<VersionEntry>, ProjectionError> {
        match self.versions.prefix(keys::versions_of(bucket, key)).next() {
            None => Ok(None),
            Some(g) => Ok(Some(decode(&g.value()?, "versions")?)),
        }
    }

    /// A specific version of a key, with its storage key.
    pub fn version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: &VersionId,
    ) -> Result<Option<VersionEntry>, ProjectionError> {
        Ok(self.find_version(bucket, key, version_id)?.map(|(_, entry)| entry))
    }

    pub(crate) fn find_version(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: &VersionId,
    ) -> Result<Option<(Vec<u8>, VersionEntry)>, ProjectionError> {
        find_version(self, bucket, key, version_id)
    }

    /// Whether any version or delete marker is in the bucket (what keeps it from deletion).
    pub fn bucket_has_versions(&self, bucket: &BucketName) -> Result<bool, ProjectionError> {
        Ok(self.versions.prefix(keys::bucket_prefix(bucket)).next().is_some())
    }

    /// A multipart upload in progress.
    pub fn upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Option<UploadRecord>, ProjectionError> {
        self.uploads.get(keys::upload(bucket, key, upload_id))?.map(|v| decode_upload(&v)).transpose()
    }

    /// The parts of an upload, by part number.
    pub fn parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> Result<Vec<PartRecord>, ProjectionError> {
        read_parts(self, bucket, key, upload_id)
    }

    /// Up to `limit` released blobs that still wait for removal.
    pub fn garbage(&self, limit: usize) -> Result<Vec<BlobId>, ProjectionError> {
        let mut out = Vec::new();
        for g in self.garbage.iter().take(limit) {
            let key = g.key()?;
            let id = std::str::from_utf8(&key).ok().and_then(BlobId::from_file_name).ok_or_else(|| {
                ProjectionError::Corrupt {
                    keyspace: "garbage",
                    source: rucket_schemas::CodecError::Payload("not a blob id".into()),
                }
            })?;
            out.push(id);
        }
        Ok(out)
    }

    /// Forgets released blobs whose files are gone.
    pub fn forget_garbage(&self, ids: &[BlobId]) -> Result<(), ProjectionError> {
        let mut batch = self.db.batch();
        for id in ids {
            batch.remove(&self.garbage, id.as_str());
        }
        batch.commit()?;
        Ok(())
    }

    /// Every blob that some version refers to; the orphan sweep keeps exactly these.
    pub fn referenced_blobs(&self) -> Result<BTreeSet<BlobId>, ProjectionError> {
        let mut out = BTreeSet::new();
        for g in self.versions.iter() {
            if let VersionEntry::Object(r) = decode::<VersionEntry>(&g.value()?, "versions")? {
                out.extend(r.data.blob_ids().into_iter().cloned());
            }
        }
        for g in self.parts.iter() {
            let (key, value) = g.into_inner()?;
            // Completed objects' part checksums (their blobs are their versions').
            if key.first() != Some(&0) {
                out.insert(decode::<PartRecord>(&value, "parts")?.blob_id);
            }
        }
        Ok(out)
    }
}

// The reads a fold makes, from the committed views or through a fold's staged changes.

pub(crate) fn read_bucket(
    r: &impl Reads,
    bucket: &BucketName,
) -> Result<Option<BucketRecord>, ProjectionError> {
    r.get(View::Buckets, bucket.as_str().as_bytes())?.map(|v| decode(&v, "buckets")).transpose()
}

pub(crate) fn read_access_key(
    r: &impl Reads,
    access_key_id: &str,
) -> Result<Option<crate::AccessKeyRecord>, ProjectionError> {
    r.get(View::AccessKeys, access_key_id.as_bytes())?.map(|v| decode(&v, "access_keys")).transpose()
}

pub(crate) fn read_kms_key(
    r: &impl Reads,
    key_id: &str,
) -> Result<Option<crate::KmsKeyRecord>, ProjectionError> {
    r.get(View::Meta, &keys::kms_key(key_id))?.map(|v| decode(&v, "meta")).transpose()
}

pub(crate) fn read_current_object(
    r: &impl Reads,
    bucket: &BucketName,
    key: &ObjectKey,
) -> Result<Option<ObjectRecord>, ProjectionError> {
    r.get(View::Objects, &keys::object(bucket, key))?.map(|v| decode(&v, "objects")).transpose()
}

/// A version of a key by id, with its storage key.
pub(crate) fn find_version(
    r: &impl Reads,
    bucket: &BucketName,
    key: &ObjectKey,
    version_id: &VersionId,
) -> Result<Option<(Vec<u8>, VersionEntry)>, ProjectionError> {
    for item in r.history(bucket, key) {
        let (k, v) = item?;
        let entry: VersionEntry = decode(&v, "versions")?;
        if entry.version_id() == version_id {
            return Ok(Some((k.to_vec(), entry)));
        }
    }
    Ok(None)
}

pub(crate) fn read_parts(
    r: &impl Reads,
    bucket: &BucketName,
    key: &ObjectKey,
    upload_id: &UploadId,
) -> Result<Vec<PartRecord>, ProjectionError> {
    r.prefix(View::Parts, &keys::parts_of(bucket, key, upload_id))
        .map(|item| decode(&item?.1, "parts"))
        .collect()
}

pub(crate) fn decode<T: bincode::Decode<()>>(
    bytes: &[u8],
    keyspace: &'static str,
) -> Result<T, ProjectionError> {
    decode_payload(bytes).map_err(|source| ProjectionError::Corrupt { keyspace, source })
}

pub(crate) fn encode<T: bincode::Encode>(value: &T) -> Result<Vec<u8>, ProjectionError> {
    encode_payload(value).map_err(ProjectionError::Encode)
}

/// How the views keep an upload: in the form every view had before FULL_OBJECT checksums
/// could be asked for at creation unless one was (then with one more byte), so that
/// older folds stay byte for byte the same.
pub(crate) fn encode_upload(record: &crate::UploadRecord) -> Result<Vec<u8>, ProjectionError> {
    if record.full_object_checksum {
        return encode(record);
    }
    encode(&crate::records::UploadRecordV1 {
        key: record.key.clone(),
        upload_id: record.upload_id.clone(),
        owner: record.owner.clone(),
        initiated: record.initiated,
        headers: record.headers.clone(),
        user_metadata: record.user_metadata.clone(),
        storage_class: record.storage_class,
        checksum_algorithm: record.checksum_algorithm.clone(),
    })
}

/// Reads what [`encode_upload`] wrote (each form fails to decode as the other: a byte is
/// missing or left over).
pub(crate) fn decode_upload(bytes: &[u8]) -> Result<crate::UploadRecord, ProjectionError> {
    if let Ok(record) = decode_payload::<crate::UploadRecord>(bytes) {
        return Ok(record);
    }
    let v1: crate::records::UploadRecordV1 = decode(bytes, "uploads")?;
    Ok(crate::UploadRecord {
        key: v1.key,
        upload_id: v1.upload_id,
        owner: v1.owner,
        initiated: v1.initiated,
        headers: v1.headers,
        user_metadata: v1.user_metadata,
        storage_class: v1.storage_class,
        checksum_algorithm: v1.checksum_algorithm,
        full_object_checksum: false,
    })
}

/// How the views keep an ACL: nothing for one that lists the owner alone (the default),
/// the grants for one that follows the owner's implied FULL_CONTROL (the form every view
/// had before whole ACLs existed, so their folds stay byte for byte the same), and a
/// [`ListedAcl`] (the grants and one more byte) for a whole ACL.
pub(crate) fn encode_acl(acl: &rucket_schemas::Acl, whole: bool) -> Result<Option<Vec<u8>>, ProjectionError> {
    match (whole, acl.grants.is_empty()) {
        (false, true) => Ok(None),
        (false, false) => encode(acl).map(Some),
        (true, _) => encode(&ListedAcl { acl: acl.clone(), whole: true }).map(Some),
    }
}

/// Reads what [`encode_acl`] wrote: a grant list alone cannot decode as a [`ListedAcl`]
/// (its last byte is missing), and a [`ListedAcl`] cannot as a grant list (one byte is
/// left over).
pub(crate) fn decode_acl(bytes: &[u8], keyspace: &'static str) -> Result<ListedAcl, ProjectionError> {
    match decode_payload::<ListedAcl>(bytes) {
        Ok(listed) => Ok(listed),
        Err(_) => Ok(ListedAcl { acl: decode(bytes, keyspace)?, whole: false }),
    }
}
