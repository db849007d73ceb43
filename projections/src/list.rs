//! List queries in S3's byte order: objects (v1 and v2 share one query) and versions.

use std::ops::Bound;

use rucket_schemas::{BucketName, ObjectRecord};

use crate::store::decode;
use crate::{keys, ProjectionError, Projections, UploadRecord, VersionEntry};

/// One page of a ListObjects query.
#[derive(Clone, Debug, Default)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Exclusive: list what sorts after this key (marker, start-after or a continuation
    /// token). A common prefix at or before it is not listed again.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectRecord)>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix on the page: the marker for the next page.
    pub last: Option<String>,
}

/// One page of a ListObjectVersions query.
#[derive(Clone, Debug, Default)]
pub struct VersionQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub version_id_marker: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, Default)]
pub struct VersionPage {
    /// Key, entry and whether the entry is the key's latest version.
    pub entries: Vec<(String, VersionEntry, bool)>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// One page of a ListMultipartUploads query.
#[derive(Clone, Debug, Default)]
pub struct UploadQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max_uploads: usize,
}

#[derive(Clone, Debug, Default)]
pub struct UploadPage {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

/// A byte above every byte of valid UTF-8: `prefix + SKIP` sorts after all keys that
/// start with `prefix`.
const SKIP: u8 = 0xff;

/// The common prefix a key rolls up into, if any.
fn rolled_up<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = &key[prefix.len()..];
    rest.find(delimiter).map(|i| &key[..prefix.len() + i + delimiter.len()])
}

impl Projections {
    pub fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery<'_>,
    ) -> Result<ListPage, ProjectionError> {
        let mut page = ListPage::default();
        if query.max_keys == 0 {
            return Ok(page);
        }
        let base = keys::bucket_prefix(bucket);
        let scope: Vec<u8> = [base.as_slice(), query.prefix.as_bytes()].concat();
        let mut start = Bound::Included(scope.clone());
        if let Some(after) = query.after.filter(|a| *a >= query.prefix) {
            start = Bound::Excluded([base.as_slice(), after.as_bytes()].concat());
        }
        let mut iter = self.objects.range::<Vec<u8>, _>((start, Bound::Unbounded));
        let mut count = 0;
        while let Some(g) = iter.next() {
            let (k, v) = g.into_inner()?;
            if !k.starts_with(&scope) {
                break;
            }
            let Ok(key) = std::str::from_utf8(&k[base.len()..]) else { continue };
            if let Some(cp) = rolled_up(key, query.prefix, query.delimiter) {
                let seen = query.after.is_some_and(|a| cp <= a);
                if !seen {
                    if count == query.max_keys {
                        page.is_truncated = true;
                        break;
                    }
                    page.common_prefixes.push(cp.to_owned());
                    page.last = Some(cp.to_owned());
                    count += 1;
                }
                let mut next = [base.as_slice(), cp.as_bytes()].concat();
                next.push(SKIP);
                iter = self.objects.range::<Vec<u8>, _>((Bound::Included(next), Bound::Unbounded));
                continue;
            }
            if count == query.max_keys {
                page.is_truncated = true;
                break;
            }
            page.objects.push((key.to_owned(), decode(&v, "objects")?));
            page.last = Some(key.to_owned());
            count += 1;
        }
        Ok(page)
    }

    pub fn list_versions(
        &self,
        bucket: &BucketName,
        query: &VersionQuery<'_>,
    ) -> Result<VersionPage, ProjectionError> {
        let mut page = VersionPage::default();
        if query.max_keys == 0 {
            return Ok(page);
        }
        let base = keys::bucket_prefix(bucket);
        let scope: Vec<u8> = [base.as_slice(), query.prefix.as_bytes()].concat();
        let mut start = Bound::Included(scope.clone());
        if let Some(marker) = query.key_marker.filter(|m| *m >= query.prefix && !m.is_empty()) {
            let mut from = [base.as_slice(), marker.as_bytes()].concat();
            if query.version_id_marker.is_none() {
                // Skip every version of the marker key: its version keys are
                // `marker 0x00 ...`, and `marker 0x01` sorts after all of them.
                from.push(1);
            }
            start = Bound::Included(from);
        }
        // Within the marker key, skip up to and including the marker version.
        let mut skipping_to_version =
            query.key_marker.zip(query.version_id_marker).filter(|(m, _)| !m.is_empty());
        let mut iter = self.versions.range::<Vec<u8>, _>((start, Bound::Unbounded));
        let mut previous_key: Option<String> = None;
        let mut count = 0;
        while let Some(g) = iter.next() {
            let (k, v) = g.into_inner()?;
            if !k.starts_with(&scope) {
                break;
            }
            let Some(key) = keys::object_key_of_version(base.len(), &k) else { continue };
            let key = key.to_owned();
            let entry: VersionEntry = decode(&v, "versions")?;
            let is_latest = previous_key.as_deref() != Some(key.as_str());
            previous_key = Some(key.clone());
            if let Some((marker_key, marker_version)) = skipping_to_version {
                if key == marker_key {
                    if entry.version_id().as_str() == marker_version {
                        skipping_to_version = None;
                    }
                    continue;
                }
                skipping_to_version = None;
            }
            if let Some(cp) = rolled_up(&key, query.prefix, query.delimiter) {
                let seen = query.key_marker.is_some_and(|m| cp <= m);
                if !seen {
                    if count == query.max_keys {
                        page.is_truncated = true;
                        break;
                    }
                    page.common_prefixes.push(cp.to_owned());
                    page.next_key_marker = Some(cp.to_owned());
                    page.next_version_id_marker = None;
                    count += 1;
                }
                let mut next = [base.as_slice(), cp.as_bytes()].concat();
                next.push(SKIP);
                iter = self.versions.range::<Vec<u8>, _>((Bound::Included(next), Bound::Unbounded));
                continue;
            }
            if count == query.max_keys {
                page.is_truncated = true;
                break;
            }
            page.next_key_marker = Some(key.clone());
            page.next_version_id_marker = Some(entry.version_id().to_string());
            page.entries.push((key, entry, is_latest));
            count += 1;
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        Ok(page)
    }

    /// Uploads in progress, by key then upload id.
    pub fn list_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadQuery<'_>,
    ) -> Result<UploadPage, ProjectionError> {
        let mut page = UploadPage::default();
        if query.max_uploads == 0 {
            return Ok(page);
        }
        let scope: Vec<u8> = [keys::bucket_prefix(bucket).as_slice(), query.prefix.as_bytes()].concat();
        let mut count = 0;
        let mut last_prefix: Option<String> = None;
        for g in self.uploads.prefix(&scope) {
            let upload: UploadRecord = crate::store::decode_upload(&g.value()?)?;
            let key = upload.key.as_str();
            let id = upload.upload_id.as_str();
            if let Some(marker) = query.key_marker.filter(|m| !m.is_empty()) {
                let after = match query.upload_id_marker {
                    Some(id_marker) => key > marker || (key == marker && id > id_marker),
                    None => key > marker,
                };
                if !after {
                    continue;
                }
            }
            if let Some(cp) = rolled_up(key, query.prefix, query.delimiter) {
                if last_prefix.as_deref() == Some(cp) || query.key_marker.is_some_and(|m| cp <= m) {
                    continue;
                }
                if count == query.max_uploads {
                    page.is_truncated = true;
                    break;
                }
                last_prefix = Some(cp.to_owned());
                page.common_prefixes.push(cp.to_owned());
                page.next_key_marker = Some(cp.to_owned());
                page.next_upload_id_marker = None;
                count += 1;
                continue;
            }
            if count == query.max_uploads {
                page.is_truncated = true;
                break;
            }
            page.next_key_marker = Some(key.to_owned());
            page.next_upload_id_marker = Some(id.to_owned());
            page.uploads.push(upload);
            count += 1;
        }
        Ok(page)
    }
}
