//! Multipart cases: create (sealed, tagged, locked), upload part, complete, abort.

use std::collections::BTreeMap;

use rucket_schemas::{
    BlobId, CommandBody, DefaultRetention, LockMode, ObjectLock, PartRecord, StandardHeaders, StorageClass,
    UploadId, VersioningStatus, WriteCondition,
};

use super::*;
use crate::decide::MIN_PART_SIZE;

fn upload_id(n: u8) -> UploadId {
    UploadId::from_bytes([n; 16])
}

pub(super) fn create_upload(bucket: &str, key: &str, id: u8) -> CommandBody {
    create_upload_summed(bucket, key, id, None)
}

/// As [`create_upload`], declaring a checksum algorithm for the parts.
fn create_upload_summed(bucket: &str, key: &str, id: u8, algorithm: Option<&str>) -> CommandBody {
    CommandBody::CreateMultipartUpload {
        bucket: b(bucket),
        key: k(key),
        upload_id: upload_id(id),
        headers: StandardHeaders::default(),
        user_metadata: BTreeMap::new(),
        storage_class: StorageClass::Standard,
        checksum_algorithm: algorithm.map(str::to_owned),
    }
}

fn etag(n: u32) -> String {
    format!("{n:032x}")
}

pub(super) fn upload_part(bucket: &str, key: &str, id: u8, n: u32, size: u64) -> CommandBody {
    CommandBody::UploadPart {
        bucket: b(bucket),
        key: k(key),
        upload_id: upload_id(id),
        part: PartRecord {
            part_number: n,
            size,
            etag: etag(n),
            blob_id: BlobId::from_bytes([n as u8; 16]),
            checksums: BTreeMap::new(),
            hlc_timestamp: Hlc::new(1, 1),
        },
    }
}

fn complete(
    h: &Harness,
    at: (&str, &str, u8),
    parts: &[(u32, String)],
    condition: WriteCondition,
) -> CommandBody {
    let (bucket, key, id) = at;
    let record = record_of(&put(h, "alice", bucket, key, "v1"));
    CommandBody::CompleteMultipartUpload {
        bucket: b(bucket),
        key: k(key),
        upload_id: upload_id(id),
        parts: parts.to_vec(),
        record,
        condition,
    }
}

fn abort(bucket: &str, key: &str, id: u8) -> CommandBody {
    CommandBody::AbortMultipartUpload { bucket: b(bucket), key: k(key), upload_id: upload_id(id) }
}

/// Upload 1 of `bkt/k` with parts 1 (the minimum size), 2 and 3 (10 bytes each).
fn three_parts(h: &mut Harness, bucket: &str) {
    given(h, ALICE, create_upload(bucket, "k", 1));
    given(h, ALICE, upload_part(bucket, "k", 1, 1, MIN_PART_SIZE));
    given(h, ALICE, upload_part(bucket, "k", 1, 2, 10));
    given(h, ALICE, upload_part(bucket, "k", 1, 3, 10));
}

fn named(numbers: &[u32]) -> Vec<(u32, String)> {
    numbers.iter().map(|n| (*n, etag(*n))).collect()
}

#[test]
fn create_upload_needs_the_bucket_and_a_writer() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, ALICE, create_upload("nope", "k", 1), "Rejected(NoSuchBucket)");
    check(&mut h, BOB, create_upload("bkt", "k", 1), "Rejected(AccessDenied)");
    check(&mut h, ALICE, create_upload("bkt", "k", 1), "UploadCreated bkt/k owner=alice");
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    check(&mut h, BOB, create_upload("bkt", "k", 1), "UploadCreated bkt/k owner=bob");
    let carol = As::User("carol");
    let allowed = requested(carol, "CreateMultipartUpload", false, create_upload("bkt", "k", 1));
    check(&mut h, carol, allowed.clone(), "Rejected(AccessDenied)");
    given(&mut h, ALICE, allow_all("bkt", "carol"));
    check(&mut h, carol, allowed, "UploadCreated bkt/k owner=carol");
}

#[test]
fn sealed_and_tagged_uploads_carry_the_seal_and_tags() {
    let mut h = with_buckets(&["bkt"]);
    let sealed =
        |inner: CommandBody| CommandBody::Sealed { seal: master_seal("mk1", "up"), inner: Box::new(inner) };
    check(&mut h, ALICE, sealed(create_upload("bkt", "k", 1)), "UploadCreated bkt/k owner=alice sealed");
    let tagged = CommandBody::Tagged {
        tags: tag_set(&[("a", "1")]),
        inner: Box::new(sealed(create_upload("bkt", "k", 1))),
    };
    check(&mut h, ALICE, tagged, "UploadCreated bkt/k owner=alice tags=a=1 sealed");
    check(&mut h, BOB, sealed(create_upload("bkt", "k", 1)), "Rejected(AccessDenied)");
    // A seal only rides on an upload; a sealed put keeps its seal in its data.
    let body = put(&h, "alice", "bkt", "a", "null");
    check(&mut h, ALICE, sealed(body), "ObjectCreated bkt/a@null Put size=1");
}

#[test]
fn a_full_object_checksum_rides_on_its_upload_into_the_view() {
    let mut h = with_buckets(&["bkt"]);
    let typed = |inner: CommandBody| CommandBody::FullObjectChecksum { inner: Box::new(inner) };
    let with_algorithm = |id, algorithm| create_upload_summed("bkt", "k", id, algorithm);
    let crc = |id| with_algorithm(id, Some("CRC32"));
    check(&mut h, ALICE, typed(crc(1)), "UploadCreated bkt/k owner=alice full_object");
    check(&mut h, BOB, typed(crc(1)), "Rejected(AccessDenied)");
    // Only a CRC's part values combine into a whole-body checksum (a peer's malformed
    // command is refused, not stored).
    check(&mut h, ALICE, typed(with_algorithm(1, Some("SHA256"))), "Rejected(InvalidChecksumType)");
    check(&mut h, ALICE, typed(with_algorithm(1, None)), "Rejected(InvalidChecksumType)");
    let sealed = CommandBody::Sealed { seal: master_seal("mk1", "up"), inner: Box::new(crc(1)) };
    check(&mut h, ALICE, typed(sealed), "UploadCreated bkt/k owner=alice sealed full_object");
    given(&mut h, ALICE, typed(crc(1)));
    given(&mut h, ALICE, crc(2));
    let view = |id| h.projections.upload(&b("bkt"), &k("k"), &upload_id(id)).unwrap().unwrap();
    assert!(view(1).full_object_checksum);
    assert!(!view(2).full_object_checksum);
    // An upload without the mark keeps the view's earlier form, byte for byte.
    let stored = |id| {
        h.projections.uploads.get(crate::keys::upload(&b("bkt"), &k("k"), &upload_id(id))).unwrap().unwrap()
    };
    let as_v1 =
        |bytes: &[u8]| crate::store::decode::<crate::records::UploadRecordV1>(bytes, "uploads").is_ok();
    assert!(as_v1(&stored(2)) && !as_v1(&stored(1)));
}

#[test]
fn an_upload_carries_the_acl_of_its_version_and_a_blocked_public_one_is_refused() {
    let mut h = with_buckets(&["bkt"]);
    let with_acl = |grants, whole, inner: CommandBody| CommandBody::UploadAcl {
        acl: rucket_schemas::ListedAcl { acl: acl(grants), whole },
        inner: Box::new(inner),
    };
    let public = || vec![(Grantee::AllUsers, Permission::Read)];
    check(
        &mut h,
        ALICE,
        with_acl(public(), false, create_upload("bkt", "k", 1)),
        "UploadCreated bkt/k owner=alice acl=1",
    );
    check(
        &mut h,
        ALICE,
        with_acl(vec![], true, create_upload("bkt", "k", 2)),
        "UploadCreated bkt/k owner=alice acl=0 whole",
    );
    check(&mut h, BOB, with_acl(public(), false, create_upload("bkt", "k", 3)), "Rejected(AccessDenied)");
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { block_public_acls: true, ..Default::default() }),
    );
    check(&mut h, ALICE, with_acl(public(), false, create_upload("bkt", "k", 4)), "Rejected(AccessDenied)");
    check(
        &mut h,
        ALICE,
        with_acl(vec![(user("bob"), Permission::Read)], true, create_upload("bkt", "k", 5)),
        "UploadCreated bkt/k owner=alice acl=1 whole",
    );
}

#[test]
fn a_public_upload_acl_is_refused_at_completion_once_the_bucket_blocks_public_acls() {
    let mut h = with_buckets(&["bkt"]);
    let public =
        rucket_schemas::ListedAcl { acl: acl(vec![(Grantee::AllUsers, Permission::Read)]), whole: false };
    given(
        &mut h,
        ALICE,
        CommandBody::UploadAcl { acl: public, inner: Box::new(create_upload("bkt", "k", 1)) },
    );
    given(&mut h, ALICE, upload_part("bkt", "k", 1, 1, 10));
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { block_public_acls: true, ..Default::default() }),
    );
    let done = complete(&h, ("bkt", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, done.clone(), "Rejected(AccessDenied)");
    given(&mut h, ALICE, block_public("bkt", PublicAccessBlock::default()));
    check(&mut h, ALICE, done, "MultipartCompleted bkt/k@null size=10 parts=1");
}

#[test]
fn upload_part_needs_the_upload() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, ALICE, upload_part("bkt", "k", 1, 1, 10), "Rejected(NoSuchUpload)");
    given(&mut h, ALICE, create_upload("bkt", "k", 1));
    check(&mut h, ALICE, upload_part("bkt", "k", 1, 1, 10), "PartUploaded bkt/k part=1");
    check(&mut h, ALICE, upload_part("bkt", "other", 1, 1, 10), "Rejected(NoSuchUpload)");
    check(&mut h, ALICE, upload_part("bkt", "k", 2, 1, 10), "Rejected(NoSuchUpload)");
    check(&mut h, ALICE, upload_part("nope", "k", 1, 1, 10), "Rejected(NoSuchBucket)");
    check(&mut h, BOB, upload_part("bkt", "k", 1, 1, 10), "Rejected(AccessDenied)");
    // The access check comes before the upload's.
    check(&mut h, BOB, upload_part("bkt", "k", 9, 1, 10), "Rejected(AccessDenied)");
}

#[test]
fn complete_checks_the_named_parts() {
    let mut h = with_buckets(&["bkt"]);
    three_parts(&mut h, "bkt");
    let at = ("bkt", "k", 1);
    let cases: [(Vec<(u32, String)>, &str); 7] = [
        (vec![], "Rejected(InvalidPart)"),
        (named(&[2, 1]), "Rejected(InvalidPartOrder)"),
        (named(&[1, 1]), "Rejected(InvalidPartOrder)"),
        (named(&[1, 4]), "Rejected(InvalidPart)"),
        (vec![(1, "f".repeat(32))], "Rejected(InvalidPart)"),
        (named(&[2, 3]), "Rejected(EntityTooSmall)"),
        (named(&[1, 3]), "MultipartCompleted bkt/k@null size=5242890 parts=1,3"),
    ];
    for (parts, expect) in cases {
        let body = complete(&h, at, &parts, WriteCondition::Always);
        check(&mut h, ALICE, body, expect);
    }
    // ETags may come quoted and in upper case; the last part may be small.
    let parts = vec![(1, format!("\"{}\"", etag(1).to_uppercase())), (2, etag(2)), (3, etag(3))];
    let body = complete(&h, at, &parts, WriteCondition::Always);
    check(&mut h, ALICE, body, "Rejected(EntityTooSmall)");
    let parts = vec![(1, format!("\"{}\"", etag(1).to_uppercase())), (2, etag(2))];
    let body = complete(&h, at, &parts, WriteCondition::Always);
    check(&mut h, ALICE, body, "MultipartCompleted bkt/k@null size=5242890 parts=1,2");
}

#[test]
fn complete_needs_the_bucket_a_writer_and_the_upload() {
    let mut h = with_buckets(&["bkt"]);
    three_parts(&mut h, "bkt");
    let body = complete(&h, ("nope", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, body, "Rejected(NoSuchBucket)");
    let body = complete(&h, ("bkt", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, BOB, body, "Rejected(AccessDenied)");
    let body = complete(&h, ("bkt", "k", 2), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, body, "Rejected(NoSuchUpload)");
    let body = complete(&h, ("bkt", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ROOT, body, "MultipartCompleted bkt/k@null size=5242880 parts=1");
}

#[test]
fn complete_checks_the_write_condition_after_the_parts() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "k", "null");
    three_parts(&mut h, "bkt");
    let at = ("bkt", "k", 1);
    let body = complete(&h, at, &named(&[4]), WriteCondition::IfNoneMatch);
    check(&mut h, ALICE, body, "Rejected(InvalidPart)");
    let body = complete(&h, at, &named(&[1]), WriteCondition::IfNoneMatch);
    check(&mut h, ALICE, body, "Rejected(PreconditionFailed)");
    let body = complete(&h, at, &named(&[1]), WriteCondition::IfMatch("etag-k-1".to_owned()));
    check(&mut h, ALICE, body, "MultipartCompleted bkt/k@null size=5242880 parts=1");
}

#[test]
fn complete_on_a_versioned_bucket_keeps_the_version_id() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    three_parts(&mut h, "bkt");
    let body = complete(&h, ("bkt", "k", 1), &named(&[1, 2]), WriteCondition::Always);
    check(&mut h, ALICE, body, "MultipartCompleted bkt/k@v1 size=5242890 parts=1,2");
}

#[test]
fn complete_carries_the_uploads_seal_tags_and_lock() {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "lck");
    let create =
        CommandBody::Sealed { seal: master_seal("mk1", "up"), inner: Box::new(create_upload("lck", "k", 1)) };
    let create = CommandBody::Tagged { tags: tag_set(&[("a", "1")]), inner: Box::new(create) };
    let hold = ObjectLock { retention: None, legal_hold: true };
    given(&mut h, ALICE, CommandBody::Locked { lock: hold, inner: Box::new(create) });
    given(&mut h, ALICE, upload_part("lck", "k", 1, 1, 10));
    let body = complete(&h, ("lck", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, body, "MultipartCompleted lck/k@v1 size=10 parts=1 sealed tags=a=1 lock=hold");
    // Without a retention of its own, the upload gets the bucket default as of completion.
    let default = DefaultRetention { mode: LockMode::Compliance, days: Some(2), years: None };
    given(&mut h, ALICE, lock_config("lck", Some(default)));
    // The sixth command (the checks tick too): 6 s plus two days.
    let body = complete(&h, ("lck", "k", 1), &named(&[1]), WriteCondition::Always);
    check(
        &mut h,
        ALICE,
        body,
        "MultipartCompleted lck/k@v1 size=10 parts=1 sealed tags=a=1 lock=Compliance<172806000+hold",
    );
}

#[test]
fn abort_needs_the_bucket_a_writer_and_the_upload() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, create_upload("bkt", "k", 1));
    check(&mut h, ALICE, abort("bkt", "k", 1), "UploadAborted bkt/k");
    check(&mut h, ALICE, abort("bkt", "k", 2), "Rejected(NoSuchUpload)");
    check(&mut h, ALICE, abort("nope", "k", 1), "Rejected(NoSuchBucket)");
    check(&mut h, BOB, abort("bkt", "k", 1), "Rejected(AccessDenied)");
    given(&mut h, ALICE, allow_all("bkt", "bob"));
    let allowed = requested(BOB, "AbortMultipartUpload", false, abort("bkt", "k", 1));
    check(&mut h, BOB, allowed, "UploadAborted bkt/k");
}

#[test]
fn parts_and_completion_under_a_disabled_kms_key_are_refused_in_log_order() {
    let mut h = with_buckets(&["bkt"]);
    let material = rucket_schemas::SealedSecret { key_id: "mk1".into(), sealed: vec![1] };
    let create_key = CommandBody::CreateKmsKey { key_id: "app".into(), description: String::new(), material };
    given(&mut h, ROOT, create_key);
    let seal = Seal {
        kind: rucket_schemas::SealKind::KmsKey { key_id: "app".into() },
        wrapped_key: vec![3],
        context_id: "up".into(),
    };
    given(&mut h, ALICE, CommandBody::Sealed { seal, inner: Box::new(create_upload("bkt", "k", 1)) });
    given(&mut h, ALICE, upload_part("bkt", "k", 1, 1, 10));
    let status = |enabled| CommandBody::SetKmsKeyStatus { key_id: "app".into(), enabled };
    given(&mut h, ROOT, status(false));
    check(&mut h, ALICE, upload_part("bkt", "k", 1, 2, 10), "Rejected(KmsKeyDisabled)");
    let body = complete(&h, ("bkt", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, body, "Rejected(KmsKeyDisabled)");
    // Who may not write learns nothing of the key store.
    check(&mut h, BOB, upload_part("bkt", "k", 1, 2, 10), "Rejected(AccessDenied)");
    given(&mut h, ROOT, status(true));
    check(&mut h, ALICE, upload_part("bkt", "k", 1, 2, 10), "PartUploaded bkt/k part=2");
    let body = complete(&h, ("bkt", "k", 1), &named(&[1]), WriteCondition::Always);
    check(&mut h, ALICE, body, "MultipartCompleted bkt/k@null size=10 parts=1 sealed");
}
