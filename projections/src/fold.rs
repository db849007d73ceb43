//! Folding events into the views. Deterministic: the result depends only on the event,
//! its stamp and the views before it.

use fjall::{OwnedWriteBatch, Slice};
use rucket_schemas::{
    BlobId, BucketCreated, BucketName, DataKeyRewrapped, Hlc, LogPosition, ObjectAclSet, ObjectData,
    ObjectDeleted, ObjectKey, ObjectRecord, PartRecord, PartUploaded, StorageEvent, UploadCreated, UploadId,
};

use crate::store::{self, decode, encode};
use crate::tx::{FoldTx, Reads, View};
use crate::{keys, BucketRecord, ProjectionError, Projections, UploadRecord, VersionEntry, Versioning};

/// What a new version brings besides its key.
struct NewVersion<'a> {
    record: &'a ObjectRecord,
    tags: &'a rucket_schemas::Tags,
    lock: &'a rucket_schemas::ObjectLock,
}

impl Projections {
    /// Writes the effect of `event` (archived at `position`, stamped `hlc`) into `batch`
    /// and returns the blobs that no version refers to any more. They are also recorded,
    /// in the same batch, in the garbage list the collector drains, so a crash cannot
    /// forget them.
    ///
    /// An inline body is not copied into the views: the version names `position`, where
    /// the event (and so the body) stays in the archive (see [`ObjectData::InArchive`]).
    pub fn fold(
        &self,
        batch: &mut OwnedWriteBatch,
        position: LogPosition,
        hlc: Hlc,
        event: &StorageEvent,
    ) -> Result<Vec<BlobId>, ProjectionError> {
        self.fold_in(&mut FoldTx::batch(self, batch), position, hlc, event)
    }

    /// [`Self::fold`] through `tx`: into a write batch, or into staged changes.
    pub(crate) fn fold_in(
        &self,
        tx: &mut FoldTx<'_>,
        position: LogPosition,
        hlc: Hlc,
        event: &StorageEvent,
    ) -> Result<Vec<BlobId>, ProjectionError> {
        let mut released = Vec::new();
        match event {
            StorageEvent::BucketCreated(e) => self.fold_bucket_created(tx, hlc, e)?,
            StorageEvent::BucketDeleted(e) => {
                for upload in &e.aborted_uploads {
                    self.remove_upload(tx, &e.bucket, &upload.key, &upload.upload_id, &[], &mut released)?;
                }
                tx.remove(View::Buckets, e.bucket.as_str());
                for kind in keys::CONFIG_KINDS {
                    tx.remove(View::Configs, keys::config(&e.bucket, kind));
                }
            }
            StorageEvent::BucketVersioningSet(e) => {
                self.update_bucket(tx, &e.bucket, |r| {
                    r.versioning = match e.status {
                        rucket_schemas::VersioningStatus::Enabled => Versioning::Enabled,
                        rucket_schemas::VersioningStatus::Suspended => Versioning::Suspended,
                    }
                })?;
            }
            StorageEvent::ObjectCreated(e) => {
                let in_archive;
                let record = match &e.record.data {
                    ObjectData::Inline(_) => {
                        in_archive = in_archive_at(&e.record, position);
                        &in_archive
                    }
                    _ => &e.record,
                };
                let new = NewVersion { record, tags: &e.tags, lock: &e.lock };
                self.fold_new_version(tx, &e.bucket, &e.key, new, &mut released)?;
            }
            StorageEvent::ObjectDeleted(e) => self.fold_object_deleted(tx, hlc, e, &mut released)?,
            StorageEvent::UploadCreated(e) => self.fold_upload_created(tx, hlc, e)?,
            StorageEvent::PartUploaded(e) => self.fold_part_uploaded(tx, e, &mut released)?,
            StorageEvent::MultipartCompleted(e) => {
                let kept: Vec<&BlobId> = e.record.data.blob_ids();
                // The ACL the upload asked for becomes the new version's, in this batch.
                let acl = tx.get(View::Acls, &keys::upload_acl(&e.bucket, &e.key, &e.upload_id))?;
                let uploaded =
                    self.remove_upload(tx, &e.bucket, &e.key, &e.upload_id, &kept, &mut released)?;
                let new = NewVersion { record: &e.record, tags: &e.tags, lock: &e.lock };
                self.fold_new_version(tx, &e.bucket, &e.key, new, &mut released)?;
                let version = keys::version(&e.bucket, &e.key, e.record.hlc_timestamp);
                // The parts' checksums stay with the object (GetObjectAttributes lists them).
                if let Some(checksums) = part_checksums(&e.record.data, &uploaded) {
                    tx.insert(View::Parts, keys::version_parts(&version), encode(&checksums)?);
                }
                if let Some(acl) = acl {
                    tx.insert(View::Acls, version, acl);
                }
            }
            StorageEvent::UploadAborted(e) => {
                self.remove_upload(tx, &e.bucket, &e.key, &e.upload_id, &[], &mut released)?;
            }
            StorageEvent::BucketPolicySet(e) => {
                self.put_config(tx, &e.bucket, keys::POLICY, e.policy.as_ref())?;
            }
            StorageEvent::BucketPublicAccessBlockSet(e) => {
                self.put_config(tx, &e.bucket, keys::PUBLIC_ACCESS_BLOCK, e.configuration.as_ref())?;
            }
            StorageEvent::BucketOwnershipSet(e) => {
                self.put_config(tx, &e.bucket, keys::OWNERSHIP, e.ownership.as_ref())?;
            }
            StorageEvent::BucketAclSet(e) => {
                let key = keys::config(&e.bucket, keys::ACL);
                match crate::store::encode_acl(&e.acl, e.whole)? {
                    None => tx.remove(View::Configs, key),
                    Some(value) => tx.insert(View::Configs, key, value),
                }
            }
            StorageEvent::ObjectAclSet(e) => self.fold_object_acl_set(tx, e)?,
            StorageEvent::BucketLifecycleSet(e) => {
                let config = Some(&e.configuration).filter(|c| !c.rules.is_empty());
                self.put_config(tx, &e.bucket, keys::LIFECYCLE, config)?;
            }
            StorageEvent::BucketTaggingSet(e) => {
                let tags = Some(&e.tags).filter(|t| !t.is_empty());
                self.put_config(tx, &e.bucket, keys::TAGGING, tags)?;
            }
            StorageEvent::BucketLoggingSet(e) => {
                if e.configuration.is_some() {
                    self.saw_logging();
                }
                self.put_config(tx, &e.bucket, keys::LOGGING, e.configuration.as_ref())?;
            }
            StorageEvent::ObjectTaggingSet(e) => {
                if let Some((k, _)) = store::find_version(tx, &e.bucket, &e.key, &e.version_id)? {
                    self.put_tags(tx, keys::version_tags(&k), &e.tags)?;
                }
            }
            StorageEvent::BucketCorsSet(e) => {
                let config = Some(&e.configuration).filter(|c| !c.rules.is_empty());
                self.put_config(tx, &e.bucket, keys::CORS, config)?;
            }
            StorageEvent::BucketNotificationSet(e) => {
                let config = Some(&e.configuration).filter(|c| !c.rules.is_empty());
                self.put_config(tx, &e.bucket, keys::NOTIFICATION, config)?;
            }
            StorageEvent::BucketEncryptionSet(e) => {
                self.put_config(tx, &e.bucket, keys::ENCRYPTION, e.configuration.as_ref())?;
                let kms_key = e.kms_key_id.as_ref().filter(|_| e.configuration.is_some());
                self.put_config(tx, &e.bucket, keys::ENCRYPTION_KMS, kms_key)?;
            }
            StorageEvent::DataKeyRewrapped(e) => self.fold_data_key_rewrapped(tx, e)?,
            StorageEvent::BucketObjectLockSet(e) => {
                self.update_bucket(tx, &e.bucket, |r| r.object_lock_enabled = true)?;
                self.put_config(tx, &e.bucket, keys::OBJECT_LOCK, Some(&e.configuration))?;
            }
            StorageEvent::ObjectRetentionSet(e) => {
                self.update_version_lock(tx, &e.bucket, &e.key, &e.version_id, |l| {
                    l.retention = e.retention
                })?;
            }
            StorageEvent::ObjectLegalHoldSet(e) => {
                self.update_version_lock(tx, &e.bucket, &e.key, &e.version_id, |l| l.legal_hold = e.on)?;
            }
            StorageEvent::AccessKeyCreated(e) => self.fold_access_key_created(tx, hlc, e)?,
            StorageEvent::AccessKeyStatusSet(e) => {
                self.update_access_key(tx, &e.access_key_id, |r| r.enabled = e.enabled)?;
            }
            StorageEvent::AccessKeyPolicySet(e) => {
                self.update_access_key(tx, &e.access_key_id, |r| r.policy = e.policy.clone())?;
            }
            StorageEvent::AccessKeyRewrapped(e) => {
                self.update_access_key(tx, &e.access_key_id, |r| r.secret = e.secret.clone())?;
            }
            StorageEvent::AccessKeyDeleted(e) => {
                tx.remove(View::AccessKeys, e.access_key_id.as_str());
            }
            // The log's own record: no S3 view changes (the membership lives in Raft).
            StorageEvent::MembershipChanged(_) => {}
            StorageEvent::WebhookCursorSet(e) => {
                tx.insert(View::Meta, keys::webhook_cursor(&e.target), LogPosition(e.position).to_key())
            }
            StorageEvent::KmsKeyCreated(e) => {
                let record = crate::KmsKeyRecord {
                    key_id: e.key_id.clone(),
                    description: e.description.clone(),
                    material: e.material.clone(),
                    enabled: true,
                    created: hlc,
                };
                tx.insert(View::Meta, keys::kms_key(&e.key_id), encode(&record)?);
            }
            StorageEvent::KmsKeyStatusSet(e) => {
                self.update_kms_key(tx, &e.key_id, |r| r.enabled = e.enabled)?
            }
            StorageEvent::KmsKeyRewrapped(e) => {
                self.update_kms_key(tx, &e.key_id, |r| r.material = e.material.clone())?;
            }
        }
        for id in &released {
            tx.insert(View::Garbage, id.as_str(), []);
        }
        Ok(released)
    }

    fn fold_bucket_created(
        &self,
        tx: &mut FoldTx<'_>,
        hlc: Hlc,
        e: &BucketCreated,
    ) -> Result<(), ProjectionError> {
        let record = BucketRecord {
            name: e.bucket.clone(),
            owner: e.owner.clone(),
            location: e.location.clone(),
            created: hlc,
            versioning: if e.object_lock_enabled { Versioning::Enabled } else { Versioning::Unversioned },
            object_lock_enabled: e.object_lock_enabled,
            default_encryption: None,
        };
        tx.insert(View::Buckets, e.bucket.as_str(), encode(&record)?);
        Ok(())
    }

    /// Removes a version (or, with `delete_marker`, adds a marker, which replaces the
    /// key's null version when it is the null marker of a suspended bucket).
    fn fold_object_deleted(
        &self,
        tx: &mut FoldTx<'_>,
        hlc: Hlc,
        e: &ObjectDeleted,
        released: &mut Vec<BlobId>,
    ) -> Result<(), ProjectionError> {
        if e.delete_marker {
            // A null marker (versioning suspended) replaces the key's null version.
            let mut removed = Vec::new();
            if e.version_id.is_null() {
                if let Some((k, old)) = store::find_version(tx, &e.bucket, &e.key, &e.version_id)? {
                    if let VersionEntry::Object(r) = &old {
                        released.extend(r.data.blob_ids().into_iter().cloned());
                    }
                    self.remove_version(tx, &k);
                    removed.push(k);
                }
            }
            let entry = VersionEntry::DeleteMarker {
                version_id: e.version_id.clone(),
                owner: e.owner.clone(),
                hlc_timestamp: hlc,
            };
            let new_key = keys::version(&e.bucket, &e.key, hlc);
            tx.insert(View::Versions, new_key.clone(), encode(&entry)?);
            self.refresh_current(tx, &e.bucket, &e.key, &removed, Some((new_key, entry)))?;
        } else if let Some((k, old)) = store::find_version(tx, &e.bucket, &e.key, &e.version_id)? {
            if let VersionEntry::Object(r) = &old {
                released.extend(r.data.blob_ids().into_iter().cloned());
            }
            self.remove_version(tx, &k);
            self.refresh_current(tx, &e.bucket, &e.key, &[k], None)?;
        }
        Ok(())
    }

    fn fold_upload_created(
        &self,
        tx: &mut FoldTx<'_>,
        hlc: Hlc,
        e: &UploadCreated,
    ) -> Result<(), ProjectionError> {
        let record = UploadRecord {
            key: e.key.clone(),
            upload_id: e.upload_id.clone(),
            owner: e.owner.clone(),
            initiated: hlc,
            headers: e.headers.clone(),
            user_metadata: e.user_metadata.clone(),
            storage_class: e.storage_class,
            checksum_algorithm: e.checksum_algorithm.clone(),
            full_object_checksum: e.full_object_checksum,
        };
        let value = crate::store::encode_upload(&record)?;
        tx.insert(View::Uploads, keys::upload(&e.bucket, &e.key, &e.upload_id), value);
        self.put_tags(tx, keys::upload_tags(&e.bucket, &e.key, &e.upload_id), &e.tags)?;
        self.put_lock(tx, keys::upload_tags(&e.bucket, &e.key, &e.upload_id), &e.lock)?;
        if let Some(seal) = &e.seal {
            tx.insert(View::Seals, keys::upload_tags(&e.bucket, &e.key, &e.upload_id), encode(seal)?);
        }
        if let Some(listed) = &e.acl {
            if let Some(value) = crate::store::encode_acl(&listed.acl, listed.whole)? {
                tx.insert(View::Acls, keys::upload_acl(&e.bucket, &e.key, &e.upload_id), value);
            }
        }
        Ok(())
    }

    /// Stores a part; a re-uploaded part releases the blob it replaces.
    fn fold_part_uploaded(
        &self,
        tx: &mut FoldTx<'_>,
        e: &PartUploaded,
        released: &mut Vec<BlobId>,
    ) -> Result<(), ProjectionError> {
        let k = keys::part(&e.bucket, &e.key, &e.upload_id, e.part.part_number);
        if let Some(old) = tx.get(View::Parts, &k)? {
            let old: PartRecord = decode(&old, "parts")?;
            if old.blob_id != e.part.blob_id {
                released.push(old.blob_id);
            }
        }
        tx.insert(View::Parts, k, encode(&e.part)?);
        Ok(())
    }

    /// Removes an upload (completed or aborted) with its parts, tags, lock and seal; the
    /// parts' blobs are released unless `kept` (by the completed version).
    fn remove_upload(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
        kept: &[&BlobId],
        released: &mut Vec<BlobId>,
    ) -> Result<Vec<PartRecord>, ProjectionError> {
        let parts = store::read_parts(tx, bucket, key, upload_id)?;
        for part in &parts {
            if !kept.contains(&&part.blob_id) {
                released.push(part.blob_id.clone());
            }
            tx.remove(View::Parts, keys::part(bucket, key, upload_id, part.part_number));
        }
        tx.remove(View::Uploads, keys::upload(bucket, key, upload_id));
        tx.remove(View::Tags, keys::upload_tags(bucket, key, upload_id));
        tx.remove(View::Locks, keys::upload_tags(bucket, key, upload_id));
        tx.remove(View::Seals, keys::upload_tags(bucket, key, upload_id));
        tx.remove(View::Acls, keys::upload_acl(bucket, key, upload_id));
        Ok(parts)
    }

    fn fold_object_acl_set(&self, tx: &mut FoldTx<'_>, e: &ObjectAclSet) -> Result<(), ProjectionError> {
        if let Some((k, _)) = store::find_version(tx, &e.bucket, &e.key, &e.version_id)? {
            match crate::store::encode_acl(&e.acl, e.whole)? {
                None => tx.remove(View::Acls, k),
                Some(value) => tx.insert(View::Acls, k, value),
            }
        }
        Ok(())
    }

    /// Replaces the seal of an upload or version that still has one (the current object
    /// too, when the version is current).
    fn fold_data_key_rewrapped(
        &self,
        tx: &mut FoldTx<'_>,
        e: &DataKeyRewrapped,
    ) -> Result<(), ProjectionError> {
        match &e.target {
            rucket_schemas::RewrapTarget::Upload(upload_id) => {
                let k = keys::upload_tags(&e.bucket, &e.key, upload_id);
                if tx.get(View::Seals, &k)?.is_some() {
                    tx.insert(View::Seals, k, encode(&e.seal)?);
                }
            }
            rucket_schemas::RewrapTarget::Version(version_id) => {
                if let Some((k, VersionEntry::Object(mut record))) =
                    store::find_version(tx, &e.bucket, &e.key, version_id)?
                {
                    if let rucket_schemas::ObjectData::Sealed { seal, .. } = &mut record.data {
                        *seal = e.seal.clone();
                        let current = store::read_current_object(tx, &e.bucket, &e.key)?;
                        if current.is_some_and(|c| c.hlc_timestamp == record.hlc_timestamp) {
                            tx.insert(View::Objects, keys::object(&e.bucket, &e.key), encode(&record)?);
                        }
                        tx.insert(View::Versions, k, encode(&VersionEntry::Object(record))?);
                    }
                }
            }
        }
        Ok(())
    }

    fn fold_access_key_created(
        &self,
        tx: &mut FoldTx<'_>,
        hlc: Hlc,
        e: &rucket_schemas::AccessKeyCreated,
    ) -> Result<(), ProjectionError> {
        let record = crate::AccessKeyRecord {
            access_key_id: e.access_key_id.clone(),
            user: e.user.clone(),
            secret: e.secret.clone(),
            admin: e.admin,
            enabled: true,
            policy: None,
            created: hlc,
        };
        tx.insert(View::AccessKeys, e.access_key_id.as_str(), encode(&record)?);
        Ok(())
    }

    /// Changes a bucket's record, if the bucket exists.
    fn update_bucket(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        change: impl FnOnce(&mut BucketRecord),
    ) -> Result<(), ProjectionError> {
        if let Some(mut record) = store::read_bucket(tx, bucket)? {
            change(&mut record);
            tx.insert(View::Buckets, bucket.as_str(), encode(&record)?);
        }
        Ok(())
    }

    /// Changes a version's lock, if the version exists.
    fn update_version_lock(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: &rucket_schemas::VersionId,
        change: impl FnOnce(&mut rucket_schemas::ObjectLock),
    ) -> Result<(), ProjectionError> {
        if let Some((k, _)) = store::find_version(tx, bucket, key, version_id)? {
            let lock_key = keys::version_tags(&k);
            let mut lock = Self::lock_at(tx, &lock_key)?;
            change(&mut lock);
            self.put_lock(tx, lock_key, &lock)?;
        }
        Ok(())
    }

    /// Adds an object version; a `null` version replaces the key's previous one.
    fn fold_new_version(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        NewVersion { record, tags, lock }: NewVersion<'_>,
        released: &mut Vec<BlobId>,
    ) -> Result<(), ProjectionError> {
        // One pass over the key's history, newest first: the version a null version
        // replaces (the key's null version) and the newest version that stays.
        let replaces_null = record.version_id.is_null();
        let mut replaced = None;
        let mut newest_kept: Option<(Vec<u8>, VersionEntry)> = None;
        for g in tx.history(bucket, key) {
            let (k, v) = g?;
            let old: VersionEntry = decode(&v, "versions")?;
            if replaces_null && replaced.is_none() && old.version_id().is_null() {
                replaced = Some((k.to_vec(), old));
            } else if newest_kept.is_none() {
                newest_kept = Some((k.to_vec(), old));
            }
            if newest_kept.is_some() && (!replaces_null || replaced.is_some()) {
                break;
            }
        }
        if let Some((k, old)) = replaced {
            if let VersionEntry::Object(r) = &old {
                released.extend(r.data.blob_ids().into_iter().cloned());
            }
            self.remove_version(tx, &k);
        }
        // The record is encoded once, into one buffer both views share: the version
        // entry's encoding is the record's behind its variant index, and the current
        // version, when it is this one, is the record.
        let entry = VersionEntry::encode_object(record).map_err(ProjectionError::Encode)?;
        let record_bytes = entry.slice(VersionEntry::RECORD_AT..);
        let new_key = Slice::from(keys::version(bucket, key, record.hlc_timestamp));
        tx.insert(View::Versions, new_key.clone(), entry);
        // A new version's key is new (its stamp is), so nothing is there to remove: empty
        // tags and locks write nothing rather than a tombstone per PUT.
        if !tags.is_empty() {
            self.put_tags(tx, keys::version_tags(&new_key), tags)?;
        }
        if !lock.is_empty() {
            self.put_lock(tx, keys::version_tags(&new_key), lock)?;
        }
        // Version keys sort newest first (a tie, which distinct stamps never make, keeps
        // the stored entry, as before).
        match newest_kept {
            Some((kept, kept_entry)) if kept[..] <= new_key[..] => {
                self.set_current(tx, bucket, key, Some(kept_entry))
            }
            _ => {
                tx.insert(View::Objects, keys::object(bucket, key), record_bytes);
                Ok(())
            }
        }
    }

    /// Sets a bucket configuration of one kind, or removes it (`None`).
    fn put_config<T: bincode::Encode>(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        kind: &str,
        value: Option<&T>,
    ) -> Result<(), ProjectionError> {
        let key = keys::config(bucket, kind);
        match value {
            None => tx.remove(View::Configs, key),
            Some(v) => tx.insert(View::Configs, key, encode(v)?),
        }
        Ok(())
    }

    /// Removes a version and what is kept beside it (tags, grants, lock, part checksums).
    fn remove_version(&self, tx: &mut FoldTx<'_>, version_key: &[u8]) {
        tx.remove(View::Versions, version_key.to_vec());
        tx.remove(View::Tags, keys::version_tags(version_key));
        tx.remove(View::Acls, version_key.to_vec());
        tx.remove(View::Locks, keys::version_tags(version_key));
        tx.remove(View::Parts, keys::version_parts(version_key));
    }

    /// Changes a KMS key's record, if the key exists.
    fn update_kms_key(
        &self,
        tx: &mut FoldTx<'_>,
        key_id: &str,
        change: impl FnOnce(&mut crate::KmsKeyRecord),
    ) -> Result<(), ProjectionError> {
        if let Some(mut record) = store::read_kms_key(tx, key_id)? {
            change(&mut record);
            tx.insert(View::Meta, keys::kms_key(key_id), encode(&record)?);
        }
        Ok(())
    }

    /// Changes an access key's record, if the key exists.
    fn update_access_key(
        &self,
        tx: &mut FoldTx<'_>,
        access_key_id: &str,
        change: impl FnOnce(&mut crate::AccessKeyRecord),
    ) -> Result<(), ProjectionError> {
        if let Some(mut record) = store::read_access_key(tx, access_key_id)? {
            change(&mut record);
            tx.insert(View::AccessKeys, access_key_id, encode(&record)?);
        }
        Ok(())
    }

    /// The lock stored under a `locks` key (empty when none).
    fn lock_at(tx: &FoldTx<'_>, lock_key: &[u8]) -> Result<rucket_schemas::ObjectLock, ProjectionError> {
        Ok(tx.get(View::Locks, lock_key)?.map(|v| decode(&v, "locks")).transpose()?.unwrap_or_default())
    }

    /// Sets a lock (removes it when empty).
    fn put_lock(
        &self,
        tx: &mut FoldTx<'_>,
        key: Vec<u8>,
        lock: &rucket_schemas::ObjectLock,
    ) -> Result<(), ProjectionError> {
        if lock.is_empty() {
            tx.remove(View::Locks, key);
        } else {
            tx.insert(View::Locks, key, encode(lock)?);
        }
        Ok(())
    }

    /// Sets a tag set (removes it when empty).
    fn put_tags(
        &self,
        tx: &mut FoldTx<'_>,
        key: Vec<u8>,
        tags: &rucket_schemas::Tags,
    ) -> Result<(), ProjectionError> {
        if tags.is_empty() {
            tx.remove(View::Tags, key);
        } else {
            tx.insert(View::Tags, key, encode(tags)?);
        }
        Ok(())
    }

    /// Points `objects` at the newest remaining version of a key, given the version keys
    /// this fold removes and the one it adds (the batch cannot be read back).
    fn refresh_current(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        removed: &[Vec<u8>],
        added: Option<(Vec<u8>, VersionEntry)>,
    ) -> Result<(), ProjectionError> {
        let mut newest: Option<(Vec<u8>, VersionEntry)> = None;
        for g in tx.history(bucket, key) {
            let (k, v) = g?;
            if removed.iter().any(|r| r.as_slice() == &*k) {
                continue;
            }
            newest = Some((k.to_vec(), decode(&v, "versions")?));
            break;
        }
        if let Some((k, entry)) = added {
            // Version keys sort newest first.
            if newest.as_ref().is_none_or(|(nk, _)| k < *nk) {
                newest = Some((k, entry));
            }
        }
        self.set_current(tx, bucket, key, newest.map(|(_, entry)| entry))
    }

    /// Points `objects` at `newest`, the newest version of a key (none, or a delete
    /// marker: the key has no current object).
    fn set_current(
        &self,
        tx: &mut FoldTx<'_>,
        bucket: &BucketName,
        key: &ObjectKey,
        newest: Option<VersionEntry>,
    ) -> Result<(), ProjectionError> {
        let object_key = keys::object(bucket, key);
        match newest {
            Some(VersionEntry::Object(record)) => {
                tx.insert(View::Objects, object_key, encode(&record)?);
            }
            Some(VersionEntry::DeleteMarker { .. }) | None => {
                tx.remove(View::Objects, object_key);
            }
        }
        Ok(())
    }
}

/// `record` as the views keep it when its body is inline: everything but the body, which
/// stays in the archived event at `position`.
fn in_archive_at(record: &ObjectRecord, position: LogPosition) -> ObjectRecord {
    ObjectRecord {
        version_id: record.version_id.clone(),
        size: record.size,
        etag: record.etag.clone(),
        headers: record.headers.clone(),
        user_metadata: record.user_metadata.clone(),
        data: ObjectData::InArchive(position),
        owner: record.owner.clone(),
        hlc_timestamp: record.hlc_timestamp,
        placement_group: record.placement_group,
        home_region: record.home_region.clone(),
        storage_class: record.storage_class,
        replication_status: record.replication_status.clone(),
        checksums: record.checksums.clone(),
    }
}

/// The checksums each part of a completed object was uploaded with, in the object's part
/// order (`uploaded`: the upload's parts as the views held them); `None` when no part has
/// any, so that most completions write nothing.
fn part_checksums(data: &ObjectData, uploaded: &[PartRecord]) -> Option<crate::PartChecksums> {
    let ObjectData::Parts(parts) = data.unsealed() else { return None };
    let checksums: crate::PartChecksums = parts
        .iter()
        .map(|part| {
            let sums = uploaded
                .iter()
                .find(|u| u.part_number == part.part_number && u.blob_id == part.blob_id)
                .map(|u| u.checksums.clone())
                .unwrap_or_default();
            (part.part_number, sums)
        })
        .collect();
    checksums.iter().any(|(_, sums)| !sums.is_empty()).then_some(checksums)
}
