//! Folding events into the views. Deterministic: the result depends only on the event,
//! its stamp and the views before it.

use fjall::OwnedWriteBatch;
use rucket_schemas::{BlobId, BucketName, Hlc, ObjectKey, StorageEvent};

use crate::store::{decode, encode};
use crate::{keys, BucketRecord, ProjectionError, Projections, VersionEntry, Versioning};

impl Projections {
    /// Writes the effect of `event` (stamped `hlc`) into `batch` and returns the blobs
    /// that no version refers to any more.
    pub fn fold(
        &self,
        batch: &mut OwnedWriteBatch,
        hlc: Hlc,
        event: &StorageEvent,
    ) -> Result<Vec<BlobId>, ProjectionError> {
        let mut released = Vec::new();
        match event {
            StorageEvent::BucketCreated(e) => {
                let record = BucketRecord {
                    name: e.bucket.clone(),
                    owner: e.owner.clone(),
                    location: e.location.clone(),
                    created: hlc,
                    versioning: if e.object_lock_enabled {
                        Versioning::Enabled
                    } else {
                        Versioning::Unversioned
                    },
                    object_lock_enabled: e.object_lock_enabled,
                    default_encryption: None,
                };
                batch.insert(&self.buckets, e.bucket.as_str(), encode(&record)?);
            }
            StorageEvent::BucketDeleted(e) => {
                batch.remove(&self.buckets, e.bucket.as_str());
            }
            StorageEvent::ObjectCreated(e) => {
                let mut removed = Vec::new();
                if e.record.version_id.is_null() {
                    // A null version replaces the previous null version of the key.
                    if let Some((k, old)) = self.find_version(&e.bucket, &e.key, &e.record.version_id)? {
                        if let VersionEntry::Object(r) = &old {
                            released.extend(r.data.blob_id().cloned());
                        }
                        batch.remove(&self.versions, k.clone());
                        removed.push(k);
                    }
                }
                let entry = VersionEntry::Object(e.record.clone());
                let new_key = keys::version(&e.bucket, &e.key, e.record.hlc_timestamp);
                batch.insert(&self.versions, new_key.clone(), encode(&entry)?);
                self.refresh_current(batch, &e.bucket, &e.key, &removed, Some((new_key, entry)))?;
            }
            StorageEvent::ObjectDeleted(e) => {
                if e.delete_marker {
                    let entry = VersionEntry::DeleteMarker {
                        version_id: e.version_id.clone(),
                        owner: rucket_schemas::UserId::new(""),
                        hlc_timestamp: hlc,
                    };
                    let new_key = keys::version(&e.bucket, &e.key, hlc);
                    batch.insert(&self.versions, new_key.clone(), encode(&entry)?);
                    self.refresh_current(batch, &e.bucket, &e.key, &[], Some((new_key, entry)))?;
                } else if let Some((k, old)) = self.find_version(&e.bucket, &e.key, &e.version_id)? {
                    if let VersionEntry::Object(r) = &old {
                        released.extend(r.data.blob_id().cloned());
                    }
                    batch.remove(&self.versions, k.clone());
                    self.refresh_current(batch, &e.bucket, &e.key, &[k], None)?;
                }
            }
        }
        Ok(released)
    }

    /// Points `objects` at the newest remaining version of a key, given the version keys
    /// this fold removes and the one it adds (the batch cannot be read back).
    fn refresh_current(
        &self,
        batch: &mut OwnedWriteBatch,
        bucket: &BucketName,
        key: &ObjectKey,
        removed: &[Vec<u8>],
        added: Option<(Vec<u8>, VersionEntry)>,
    ) -> Result<(), ProjectionError> {
        let mut newest: Option<(Vec<u8>, VersionEntry)> = None;
        for g in self.versions.prefix(keys::versions_of(bucket, key)) {
            let (k, v) = g.into_inner()?;
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
        let object_key = keys::object(bucket, key);
        match newest {
            Some((_, VersionEntry::Object(record))) => {
                batch.insert(&self.objects, object_key, encode(&record)?);
            }
            Some((_, VersionEntry::DeleteMarker { .. })) | None => {
                batch.remove(&self.objects, object_key);
            }
        }
        Ok(())
    }
}
