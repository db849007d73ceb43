//! Object and bucket tagging: tag sets validated as S3 does, carried on writes
//! (`x-amz-tagging`) and replaced by Put/DeleteObjectTagging and Put/DeleteBucketTagging.

use rucket_schemas::{BucketName, CommandBody, ObjectKey, ObjectRecord, StorageEvent, Tags, VersionId};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::Rucket;
use crate::errors;

/// Most tags an object version may carry.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags a bucket may carry.
pub const MAX_BUCKET_TAGS: usize = 50;

/// Validates key/value pairs: count, lengths (in characters), unique keys, and no
/// `aws:` prefix (reserved for AWS's own tags).
fn validate(pairs: Vec<(String, String)>, max: usize, what: &str) -> S3Result<Tags> {
    if pairs.len() > max {
        return Err(s3_error!(InvalidTag, "{what} tags cannot be greater than {max}"));
    }
    let mut tags = Tags::new();
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if value.chars().count() > 256 {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(s3_error!(InvalidTag, "Your TagKey cannot be prefixed with aws:"));
        }
        if tags.insert(key, value).is_some() {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(tags)
}

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub(super) fn from_header(value: Option<&str>) -> S3Result<Tags> {
    let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(Tags::new()) };
    let malformed = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters."
        )
    };
    let mut pairs = Vec::new();
    for pair in value.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_OBJECT_TAGS {
            return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {MAX_OBJECT_TAGS}"));
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A repeated name is refused by `validate` (InvalidTag, as for a tag set).
        pairs.push((url_decode(key).ok_or_else(malformed)?, url_decode(value).ok_or_else(malformed)?));
    }
    validate(pairs, MAX_OBJECT_TAGS, "Object")
}

/// Strict URL decoding: `+` is a space, every `%` starts two hex digits, and the result
/// is UTF-8 (form decoders accept `%ZZ` and bad UTF-8 silently; S3 does not).
fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The tags of a browser upload's `tagging` field, a Tagging document as S3 takes it (s3s
/// reads only an `x-amz-tagging` field, in the header's form).
pub(super) fn from_form(xml: &[u8]) -> S3Result<Tags> {
    use s3s::xml::Deserialize as _;
    let mut d = s3s::xml::Deserializer::new(xml);
    let tagging = Tagging::deserialize(&mut d)
        .and_then(|t| d.expect_eof().map(|()| t))
        .map_err(|_| s3_error!(MalformedXML, "The form's tagging field is not a Tagging document"))?;
    from_tag_set(tagging.tag_set, MAX_OBJECT_TAGS, "Object")
}

fn from_tag_set(tag_set: TagSet, max: usize, what: &str) -> S3Result<Tags> {
    let mut pairs = Vec::new();
    for tag in tag_set {
        let key = tag.key.ok_or_else(|| s3_error!(MalformedXML, "A Tag needs a Key"))?;
        pairs.push((key, tag.value.unwrap_or_default()));
    }
    validate(pairs, max, what)
}

fn to_tag_set(tags: &Tags) -> TagSet {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// Wraps a write so that its new version (or upload) carries `tags`.
pub(super) fn tagged(tags: Tags, body: CommandBody) -> CommandBody {
    if tags.is_empty() {
        body
    } else {
        CommandBody::Tagged { tags, inner: Box::new(body) }
    }
}

impl Rucket {
    /// The `x-amz-tagging-count` of a version (`None` without tags).
    pub(super) fn tag_count(&self, bucket: &str, key: &str, record: &ObjectRecord) -> S3Result<Option<i32>> {
        let (Ok(bucket), Ok(key)) = (BucketName::parse(bucket), ObjectKey::parse(key)) else {
            return Ok(None);
        };
        let tags = self
            .projections()
            .version_tags(&bucket, &key, record.hlc_timestamp)
            .map_err(errors::projection)?;
        Ok((!tags.is_empty()).then_some(tags.len() as i32))
    }

    /// The `x-amz-expiration` of `record` as the current version of `key` under the
    /// bucket's lifecycle configuration (see [`crate::lifecycle::expiration_header`]);
    /// `tags` are the version's when the caller has them, else read if a rule needs them.
    pub(super) fn expiration(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        tags: Option<&Tags>,
    ) -> S3Result<Option<String>> {
        let (Ok(bucket), Ok(key)) = (BucketName::parse(bucket), ObjectKey::parse(key)) else {
            return Ok(None);
        };
        let projections = self.projections();
        let Some(config) = projections.lifecycle(&bucket).map_err(errors::projection)? else {
            return Ok(None);
        };
        crate::lifecycle::expiration_header(&config, key.as_str(), record.size, record.hlc_timestamp, || {
            match tags {
                Some(tags) => Ok(tags.clone()),
                None => projections.version_tags(&bucket, &key, record.hlc_timestamp),
            }
        })
        .map_err(errors::projection)
    }

    /// Whether the bucket has a lifecycle configuration (before reads only its header needs).
    pub(super) fn has_lifecycle(&self, bucket: &BucketName) -> S3Result<bool> {
        Ok(self.projections().lifecycle(bucket).map_err(errors::projection)?.is_some())
    }

    /// The tags of a version (its whole tag set, for copies with the COPY directive).
    pub(super) fn tags_of(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        record: &ObjectRecord,
    ) -> S3Result<Tags> {
        self.projections().version_tags(bucket, key, record.hlc_timestamp).map_err(errors::projection)
    }

    /// Proposes a tag set for a version and answers with the version it was applied to.
    async fn set_object_tags(
        &self,
        user: &crate::credentials::User,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        tags: Tags,
    ) -> S3Result<Option<String>> {
        // The bucket's owner's, or whoever its policy allows (apply decides again).
        let (bucket, record) = self.existing_bucket(bucket)?;
        let key = ObjectKey::parse(key).map_err(errors::key_name)?;
        if !(user.admin || record.owner == user.id || user.policy_allows(bucket.as_str())) {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        let version_id = version_id.map(VersionId::new);
        let outcome =
            self.propose(user, CommandBody::SetObjectTagging { bucket, key, version_id, tags }).await?;
        Ok(match self.archived(&outcome) {
            Some(StorageEvent::ObjectTaggingSet(e)) => Some(e.version_id.to_string()),
            _ => None,
        })
    }

    pub(super) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let tags = from_tag_set(input.tagging.tag_set, MAX_OBJECT_TAGS, "Object")?;
        let version_id =
            self.set_object_tags(&user, &input.bucket, &input.key, input.version_id, tags).await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let user = self.user(&req)?;
        let input = req.input;
        let version_id =
            self.set_object_tags(&user, &input.bucket, &input.key, input.version_id, Tags::new()).await?;
        Ok(S3Response::with_status(DeleteObjectTaggingOutput { version_id }, http::StatusCode::NO_CONTENT))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let user = self.user(&req)?;
        let input = &req.input;
        let resolved = self.resolve(&user, &input.bucket, &input.key, input.version_id.as_deref())?;
        let bucket = Self::bucket_name(&input.bucket)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let tags = self.tags_of(&bucket, &key, &resolved.record)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_tag_set(&tags),
            version_id: resolved.version_id,
        }))
    }

    pub(super) async fn do_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let tags = from_tag_set(req.input.tagging.tag_set, MAX_BUCKET_TAGS, "Bucket")?;
        self.propose(&user, CommandBody::SetBucketTagging { bucket, tags }).await?;
        Ok(S3Response::with_status(PutBucketTaggingOutput {}, http::StatusCode::NO_CONTENT))
    }

    pub(super) async fn do_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        match self.projections().bucket_tags(&bucket).map_err(errors::projection)? {
            Some(tags) => Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_tag_set(&tags) })),
            None => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist")),
        }
    }

    pub(super) async fn do_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        self.propose(&user, CommandBody::SetBucketTagging { bucket, tags: Tags::new() }).await?;
        Ok(S3Response::with_status(DeleteBucketTaggingOutput {}, http::StatusCode::NO_CONTENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tags_are_a_tagging_document() {
        let xml = b"<Tagging><TagSet><Tag><Key>0</Key><Value>zero</Value></Tag><Tag><Key>1</Key><Value></Value></Tag></TagSet></Tagging>";
        let tags = from_form(xml).unwrap();
        assert_eq!(
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
            [("0", "zero"), ("1", "")]
        );
        assert!(from_form(b"a=b").is_err(), "the header's form is not a document");
        let twice = b"<Tagging><TagSet><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></TagSet></Tagging>";
        assert!(from_form(twice).is_err());
    }

    #[test]
    fn header_tags_are_validated_like_s3() {
        assert_eq!(
            from_header(Some("a=1&b=two%20words")).unwrap().get("b").map(String::as_str),
            Some("two words")
        );
        assert!(from_header(None).unwrap().is_empty());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        for bad in [
            eleven.join("&"),
            "a=1&a=2".into(),
            format!("{}=v", "k".repeat(129)),
            format!("k={}", "v".repeat(257)),
            "aws:x=1".into(),
            "=v".into(),
        ] {
            assert_eq!(from_header(Some(&bad)).unwrap_err().code(), &s3s::S3ErrorCode::InvalidTag, "{bad}");
        }
        assert!(from_header(Some(&format!("{}={}", "k".repeat(128), "v".repeat(256)))).is_ok());
    }
}
