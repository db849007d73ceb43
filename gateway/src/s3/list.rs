//! ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rucket_projections::{ListQuery, VersionEntry, VersionQuery};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::{owner, timestamp, Rucket};
use crate::errors;

const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` leaves alone: unreserved characters and `/`.
const URL_KEEP: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must be a non-negative integer")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

pub(super) fn url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(|e| e.as_str()) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case(EncodingType::URL) => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

/// Renders a key, prefix or marker, URL-encoded when the client asked for it.
pub(super) struct Render(pub(super) bool);

impl Render {
    pub(super) fn s(&self, value: &str) -> String {
        if self.0 {
            utf8_percent_encode(value, URL_KEEP).to_string()
        } else {
            value.to_owned()
        }
    }

    /// An optional value as echoed in a listing; an empty one (`delimiter=`) is not
    /// echoed, as in S3.
    pub(super) fn opt(&self, value: Option<&str>) -> Option<String> {
        value.filter(|v| !v.is_empty()).map(|v| self.s(v))
    }
}

fn object_entry(
    key: &str,
    record: &rucket_schemas::ObjectRecord,
    render: &Render,
    owners: Option<&crate::credentials::Users>,
) -> Object {
    Object {
        key: Some(render.s(key)),
        e_tag: Some(ETag::Strong(record.etag.clone())),
        last_modified: Some(timestamp(record.hlc_timestamp)),
        size: Some(record.size as i64),
        storage_class: Some(ObjectStorageClass::from(record.storage_class.s3_name().to_owned())),
        owner: owners.map(|users| owner(users, &record.owner)),
        ..Default::default()
    }
}

fn prefixes(list: Vec<String>, render: &Render) -> Option<Vec<CommonPrefix>> {
    Some(list.into_iter().map(|p| CommonPrefix { prefix: Some(render.s(&p)) }).collect())
}

fn continuation_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

/// `allow-unordered=true` (an extension Ceph's gateway offers; listings here are always
/// in order, which it permits) cannot go with a delimiter: 400 InvalidArgument, as there.
fn unordered_with_delimiter(uri: &http::Uri, delimiter: Option<&str>) -> S3Result<()> {
    let unordered = uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "allow-unordered" && v == "true")
    });
    if unordered && delimiter.is_some_and(|d| !d.is_empty()) {
        return Err(s3_error!(InvalidArgument, "allow-unordered cannot be used with a delimiter"));
    }
    Ok(())
}

impl Rucket {
    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let user = self.principal(&req)?;
        unordered_with_delimiter(&req.uri, req.input.delimiter.as_deref())?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Read)?;
        let render = Render(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let query = ListQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            after: input.marker.as_deref().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self.projections().list_objects(&bucket, &query).map_err(errors::projection)?;
        let next_marker = (page.is_truncated && input.delimiter.as_deref().is_some_and(|d| !d.is_empty()))
            .then(|| page.last.clone())
            .flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(bucket.to_string()),
            prefix: Some(render.s(&prefix)),
            marker: Some(render.s(input.marker.as_deref().unwrap_or_default())),
            max_keys: Some(max as i32),
            delimiter: render.opt(input.delimiter.as_deref()),
            is_truncated: Some(page.is_truncated),
            next_marker: render.opt(next_marker.as_deref()),
            contents: Some(
                page.objects.iter().map(|(k, r)| object_entry(k, r, &render, Some(&self.users))).collect(),
            ),
            common_prefixes: prefixes(page.common_prefixes, &render),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let user = self.principal(&req)?;
        unordered_with_delimiter(&req.uri, req.input.delimiter.as_deref())?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Read)?;
        let render = Render(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let token = input.continuation_token.as_deref().map(decode_token).transpose()?;
        let after = token.as_deref().or(input.start_after.as_deref()).filter(|a| !a.is_empty());
        let query =
            ListQuery { prefix: &prefix, delimiter: input.delimiter.as_deref(), after, max_keys: max };
        let page = self.projections().list_objects(&bucket, &query).map_err(errors::projection)?;
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        let next = page.is_truncated.then(|| page.last.as_deref().map(continuation_token)).flatten();
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(bucket.to_string()),
            prefix: Some(render.s(&prefix)),
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            delimiter: render.opt(input.delimiter.as_deref()),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            start_after: render.opt(input.start_after.as_deref()),
            contents: Some(
                page.objects
                    .iter()
                    .map(|(k, r)| object_entry(k, r, &render, fetch_owner.then_some(&*self.users)))
                    .collect(),
            ),
            common_prefixes: prefixes(page.common_prefixes, &render),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let user = self.principal(&req)?;
        unordered_with_delimiter(&req.uri, req.input.delimiter.as_deref())?;
        let input = req.input;
        let (bucket, _) = self.bucket_access(&user, &input.bucket, rucket_schemas::Permission::Read)?;
        let render = Render(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        if input.version_id_marker.is_some() && input.key_marker.as_deref().unwrap_or_default().is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        let query = VersionQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            key_marker: input.key_marker.as_deref(),
            version_id_marker: input.version_id_marker.as_deref(),
            max_keys: max,
        };
        let page = self.projections().list_versions(&bucket, &query).map_err(errors::projection)?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for (key, entry, is_latest) in page.entries {
            match entry {
                VersionEntry::Object(r) => versions.push(ObjectVersion {
                    key: Some(render.s(&key)),
                    version_id: Some(r.version_id.to_string()),
                    is_latest: Some(is_latest),
                    e_tag: Some(ETag::Strong(r.etag.clone())),
                    last_modified: Some(timestamp(r.hlc_timestamp)),
                    size: Some(r.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from(
                        r.storage_class.s3_name().to_owned(),
                    )),
                    owner: Some(owner(&self.users, &r.owner)),
                    ..Default::default()
                }),
                VersionEntry::DeleteMarker { version_id, owner: who, hlc_timestamp } => {
                    markers.push(DeleteMarkerEntry {
                        key: Some(render.s(&key)),
                        version_id: Some(version_id.to_string()),
                        is_latest: Some(is_latest),
                        last_modified: Some(timestamp(hlc_timestamp)),
                        owner: Some(owner(&self.users, &who)),
                    })
                }
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(bucket.to_string()),
            prefix: Some(render.s(&prefix)),
            key_marker: Some(render.s(input.key_marker.as_deref().unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.clone().unwrap_or_default()),
            max_keys: Some(max as i32),
            delimiter: render.opt(input.delimiter.as_deref()),
            is_truncated: Some(page.is_truncated),
            next_key_marker: render.opt(page.next_key_marker.as_deref()),
            next_version_id_marker: page.next_version_id_marker,
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: prefixes(page.common_prefixes, &render),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
