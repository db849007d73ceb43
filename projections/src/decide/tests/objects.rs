//! Object cases: puts (with their preconditions and wrappers), deletes of keys, versions
//! and markers, lifecycle expirations.

use rucket_schemas::{
    CommandBody, DefaultRetention, ExpireAction, Hlc, LockMode, VersioningStatus, WriteCondition,
};

use super::*;

fn expire(bucket: &str, key: &str, version: &str, expected: Hlc, action: ExpireAction) -> CommandBody {
    CommandBody::LifecycleExpire { bucket: b(bucket), key: k(key), version_id: v(version), expected, action }
}

fn current(marker: &str) -> ExpireAction {
    ExpireAction::Current { marker_version_id: v(marker) }
}

#[test]
fn put_object_needs_the_bucket_and_a_writer() {
    let mut h = with_buckets(&["bkt"]);
    let body = put(&h, "alice", "nope", "a", "null");
    check(&mut h, ALICE, body, "Rejected(NoSuchBucket)");
    let body = put(&h, "bob", "bkt", "a", "null");
    check(&mut h, BOB, body, "Rejected(AccessDenied)");
    let body = put(&h, "alice", "bkt", "a", "null");
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@null Put size=1");
    let body = put(&h, "root", "bkt", "a", "null");
    check(&mut h, ROOT, body, "ObjectCreated bkt/a@null Put size=1");
}

#[test]
fn put_object_by_a_write_grantee_or_a_policy() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    let body = put(&h, "bob", "bkt", "a", "null");
    check(&mut h, BOB, body, "ObjectCreated bkt/a@null Put size=1");
    let carol = As::User("carol");
    let body = put(&h, "carol", "bkt", "a", "null");
    check(&mut h, carol, body.clone(), "Rejected(AccessDenied)");
    // A verdict made before the log grants nothing; the policy apply holds does.
    let claimed = CommandBody::PolicyAllowed { inner: Box::new(body.clone()) };
    check(&mut h, carol, claimed, "Rejected(AccessDenied)");
    check(&mut h, carol, requested(carol, "PutObject", false, body.clone()), "Rejected(AccessDenied)");
    given(&mut h, ALICE, allow_all("bkt", "carol"));
    check(&mut h, carol, requested(carol, "PutObject", false, body), "ObjectCreated bkt/a@null Put size=1");
    // A policy grant does not make a missing bucket.
    let body = put(&h, "carol", "nope", "a", "null");
    check(&mut h, carol, requested(carol, "PutObject", false, body), "Rejected(NoSuchBucket)");
}

#[test]
fn put_object_keeps_its_version_id_only_when_versioning_is_enabled() {
    let mut h = with_buckets(&["plain", "von", "vof"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Suspended));
    let body = put(&h, "alice", "plain", "a", "v9");
    check(&mut h, ALICE, body, "ObjectCreated plain/a@null Put size=1");
    let body = put(&h, "alice", "von", "a", "v9");
    check(&mut h, ALICE, body, "ObjectCreated von/a@v9 Put size=1");
    let body = put(&h, "alice", "vof", "a", "v9");
    check(&mut h, ALICE, body, "ObjectCreated vof/a@null Put size=1");
}

#[test]
fn put_object_if_none_match_needs_no_current_version() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    let if_none =
        |h: &Harness| put_with(h, "alice", "bkt", "a", "v2", inline(b"y"), WriteCondition::IfNoneMatch);
    let body = if_none(&h);
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@v2 Put size=1");
    write(&mut h, ALICE, "bkt", "a", "v1");
    let body = if_none(&h);
    check(&mut h, ALICE, body, "Rejected(PreconditionFailed)");
    // A delete marker is no current version.
    given(&mut h, ALICE, delete("bkt", "a", None, "m1"));
    let body = if_none(&h);
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@v2 Put size=1");
}

#[test]
fn put_object_if_match_compares_the_current_etag() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    let if_match = |h: &Harness, key: &str, etag: &str| {
        put_with(h, "alice", "bkt", key, "null", inline(b"yy"), WriteCondition::IfMatch(etag.to_owned()))
    };
    let body = if_match(&h, "a", "etag-a-1");
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@null Put size=2");
    let body = if_match(&h, "a", "etag-other");
    check(&mut h, ALICE, body, "Rejected(PreconditionFailed)");
    let body = if_match(&h, "missing", "etag-a-1");
    check(&mut h, ALICE, body, "Rejected(NoSuchKey)");
    // The access check comes before the precondition.
    let body = if_match(&h, "missing", "etag-a-1");
    check(&mut h, BOB, body, "Rejected(AccessDenied)");
}

#[test]
fn put_object_gets_the_bucket_default_retention() {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "lck");
    let default = DefaultRetention { mode: LockMode::Governance, days: Some(1), years: None };
    given(&mut h, ALICE, lock_config("lck", Some(default)));
    // The third command: its stamp is 3 s, so the retention runs to 3 s + 1 day.
    let body = put(&h, "alice", "lck", "a", "v1");
    check(&mut h, ALICE, body, "ObjectCreated lck/a@v1 Put size=1 lock=Governance<86403000");
}

#[test]
fn tagged_put_carries_its_tags() {
    let mut h = with_buckets(&["bkt"]);
    let tagged = |h: &Harness, bucket: &str| CommandBody::Tagged {
        tags: tag_set(&[("team", "red"), ("tier", "1")]),
        inner: Box::new(put(h, "alice", bucket, "a", "null")),
    };
    let body = tagged(&h, "bkt");
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@null Put size=1 tags=team=red,tier=1");
    let body = tagged(&h, "nope");
    check(&mut h, ALICE, body, "Rejected(NoSuchBucket)");
}

#[test]
fn delete_object_on_a_never_versioned_bucket_removes_the_null_version() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    check(&mut h, ALICE, delete("bkt", "a", None, "m1"), "ObjectDeleted bkt/a@null by=alice");
    check(&mut h, ALICE, delete("bkt", "missing", None, "m1"), "Unchanged");
    check(&mut h, ALICE, delete("nope", "a", None, "m1"), "Rejected(NoSuchBucket)");
    check(&mut h, BOB, delete("bkt", "a", None, "m1"), "Rejected(AccessDenied)");
}

#[test]
fn delete_object_on_a_versioned_bucket_adds_a_marker() {
    let mut h = with_buckets(&["von", "vof"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Suspended));
    write(&mut h, ALICE, "von", "a", "v1");
    check(&mut h, ALICE, delete("von", "a", None, "m1"), "ObjectDeleted von/a@m1 marker by=alice");
    // Whether or not the key exists.
    check(
        &mut h,
        ALICE,
        delete("von", "missing", None, "m1"),
        "ObjectDeleted von/missing@m1 marker by=alice",
    );
    // Suspended: a null marker.
    check(&mut h, ALICE, delete("vof", "a", None, "m1"), "ObjectDeleted vof/a@null marker by=alice");
}

#[test]
fn delete_object_of_a_named_version_removes_it_for_good() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    write(&mut h, ALICE, "bkt", "a", "v1");
    write(&mut h, ALICE, "bkt", "a", "v2");
    given(&mut h, ALICE, delete("bkt", "a", None, "m1"));
    check(&mut h, ALICE, delete("bkt", "a", Some("v1"), "unused"), "ObjectDeleted bkt/a@v1 by=alice");
    // A named marker goes too; no new marker is made.
    check(&mut h, ALICE, delete("bkt", "a", Some("m1"), "unused"), "ObjectDeleted bkt/a@m1 by=alice");
    check(&mut h, ALICE, delete("bkt", "a", Some("v7"), "unused"), "Unchanged");
    check(&mut h, BOB, delete("bkt", "a", Some("v1"), "unused"), "Rejected(AccessDenied)");
}

#[test]
fn delete_object_by_a_write_grantee_or_a_policy() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    check(&mut h, BOB, delete("bkt", "a", None, "m1"), "ObjectDeleted bkt/a@null by=bob");
    let carol = As::User("carol");
    check(&mut h, carol, delete("bkt", "a", None, "m1"), "Rejected(AccessDenied)");
    let claimed = CommandBody::PolicyAllowed { inner: Box::new(delete("bkt", "a", None, "m1")) };
    check(&mut h, carol, claimed, "Rejected(AccessDenied)");
    given(&mut h, ALICE, allow_all("bkt", "carol"));
    let allowed = requested(carol, "DeleteObject", false, delete("bkt", "a", None, "m1"));
    check(&mut h, carol, allowed, "ObjectDeleted bkt/a@null by=carol");
}

#[test]
fn lifecycle_expires_the_current_version_it_looked_at() {
    let mut h = with_buckets(&["plain", "von", "vof"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Suspended));
    let plain = write(&mut h, ALICE, "plain", "a", "null");
    let on = write(&mut h, ALICE, "von", "a", "v1");
    let off = write(&mut h, ALICE, "vof", "a", "null");
    check(
        &mut h,
        ROOT,
        expire("plain", "a", "null", plain, current("m1")),
        "ObjectDeleted plain/a@null by=root",
    );
    check(&mut h, ROOT, expire("von", "a", "v1", on, current("m1")), "ObjectDeleted von/a@m1 marker by=root");
    check(
        &mut h,
        ROOT,
        expire("vof", "a", "null", off, current("m1")),
        "ObjectDeleted vof/a@null marker by=root",
    );
    check(
        &mut h,
        ALICE,
        expire("plain", "a", "null", plain, current("m1")),
        "ObjectDeleted plain/a@null by=alice",
    );
}

#[test]
fn lifecycle_leaves_a_version_written_since() {
    let mut h = with_buckets(&["von"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    let old = write(&mut h, ALICE, "von", "a", "v1");
    let new = write(&mut h, ALICE, "von", "a", "v2");
    check(&mut h, ROOT, expire("von", "a", "v1", old, current("m1")), "Unchanged");
    check(&mut h, ROOT, expire("von", "a", "v2", old, current("m1")), "Unchanged");
    check(
        &mut h,
        ROOT,
        expire("von", "a", "v2", new, current("m1")),
        "ObjectDeleted von/a@m1 marker by=root",
    );
    // A current delete marker is not expired as a current version.
    let marker = h.next_hlc();
    given(&mut h, ALICE, delete("von", "a", None, "m0"));
    check(&mut h, ROOT, expire("von", "a", "m0", marker, current("m1")), "Unchanged");
}

#[test]
fn lifecycle_expires_noncurrent_versions() {
    let mut h = with_buckets(&["von"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    let old = write(&mut h, ALICE, "von", "a", "v1");
    write(&mut h, ALICE, "von", "a", "v2");
    check(
        &mut h,
        ROOT,
        expire("von", "a", "v1", old, ExpireAction::Version),
        "ObjectDeleted von/a@v1 by=root",
    );
    let later = h.next_hlc();
    check(&mut h, ROOT, expire("von", "a", "v1", later, ExpireAction::Version), "Unchanged");
    check(&mut h, ROOT, expire("von", "a", "v5", old, ExpireAction::Version), "Unchanged");
}

#[test]
fn lifecycle_expiry_is_the_owners_or_an_operators() {
    let mut h = with_buckets(&["bkt"]);
    let at = write(&mut h, ALICE, "bkt", "a", "null");
    check(&mut h, BOB, expire("bkt", "a", "null", at, current("m1")), "Rejected(AccessDenied)");
    check(&mut h, ROOT, expire("nope", "a", "null", at, current("m1")), "Rejected(NoSuchBucket)");
}

#[test]
fn put_object_if_match_any_and_if_none_match_an_etag() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    let with = |h: &Harness, key: &str, condition: WriteCondition| {
        put_with(h, "alice", "bkt", key, "null", inline(b"yy"), condition)
    };
    let body = with(&h, "missing", WriteCondition::IfExists);
    check(&mut h, ALICE, body, "Rejected(NoSuchKey)");
    let body = with(&h, "a", WriteCondition::IfExists);
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@null Put size=2");
    let current = h.projections.current_object(&b("bkt"), &k("a")).unwrap().unwrap().etag;
    let body = with(&h, "a", WriteCondition::IfNoneMatchETag(current));
    check(&mut h, ALICE, body, "Rejected(PreconditionFailed)");
    let body = with(&h, "a", WriteCondition::IfNoneMatchETag("etag-other".into()));
    check(&mut h, ALICE, body, "ObjectCreated bkt/a@null Put size=2");
    let body = with(&h, "missing", WriteCondition::IfNoneMatchETag("etag-other".into()));
    check(&mut h, ALICE, body, "ObjectCreated bkt/missing@null Put size=2");
}

#[test]
fn a_conditional_delete_is_decided_on_the_current_version_after_the_access_check() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    let cond = |key: &str, condition: WriteCondition| CommandBody::IfMatched {
        condition,
        inner: Box::new(delete("bkt", key, None, "m1")),
    };
    check(&mut h, BOB, cond("missing", WriteCondition::IfExists), "Rejected(AccessDenied)");
    check(&mut h, ALICE, cond("missing", WriteCondition::IfExists), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, cond("missing", WriteCondition::IfMatch("etag-a-1".into())), "Rejected(NoSuchKey)");
    check(
        &mut h,
        ALICE,
        cond("a", WriteCondition::IfMatch("etag-other".into())),
        "Rejected(PreconditionFailed)",
    );
    let on_nope = CommandBody::IfMatched {
        condition: WriteCondition::IfExists,
        inner: Box::new(delete("nope", "a", None, "m1")),
    };
    check(&mut h, ALICE, on_nope, "Rejected(NoSuchBucket)");
    check(
        &mut h,
        ALICE,
        cond("a", WriteCondition::IfMatch("etag-a-1".into())),
        "ObjectDeleted bkt/a@null by=alice",
    );
}

#[test]
fn a_conditional_delete_of_a_named_version_compares_that_version() {
    let mut h = with_buckets(&["von"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    write(&mut h, ALICE, "von", "a", "v1");
    let second = put_with(&h, "alice", "von", "a", "v2", inline(b"yy"), WriteCondition::Always);
    given(&mut h, ALICE, second);
    let etag = |h: &Harness, v: &str| match h.projections.version(&b("von"), &k("a"), &super::v(v)).unwrap() {
        Some(crate::VersionEntry::Object(r)) => r.etag,
        Some(other) => panic!("{other:?}"),
        None => panic!("no version {v}"),
    };
    let (first, current) = (etag(&h, "v1"), etag(&h, "v2"));
    assert_ne!(first, current);
    let cond = |version: &str, condition: WriteCondition| CommandBody::IfMatched {
        condition,
        inner: Box::new(delete("von", "a", Some(version), "m1")),
    };
    check(&mut h, ALICE, cond("v1", WriteCondition::IfMatch(current)), "Rejected(PreconditionFailed)");
    check(&mut h, ALICE, cond("v9", WriteCondition::IfExists), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, cond("v1", WriteCondition::IfMatch(first)), "ObjectDeleted von/a@v1 by=alice");
}

#[test]
fn ownership_controls_decide_who_owns_a_version_others_write() {
    use rucket_schemas::ObjectOwnership as O;
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    // `put(.., owner, ..)` names the owner the write asks for; bob signs every one.
    let owner_of = |h: &mut Harness, asked: &str| {
        let body = requested(BOB, "PutObject", false, put(h, asked, "bkt", "k", "null"));
        match h.run_as("bob", false, body).0 {
            Decision::Event(event) => match *event {
                StorageEvent::ObjectCreated(e) => e.record.owner.to_string(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    let controls =
        |ownership| CommandBody::SetBucketOwnership { bucket: b("bkt"), ownership: Some(ownership) };
    assert_eq!(owner_of(&mut h, "alice"), "bob", "without controls the writer owns what it writes");
    given(&mut h, ALICE, controls(O::BucketOwnerPreferred));
    assert_eq!(owner_of(&mut h, "alice"), "alice", "handed over with bucket-owner-full-control");
    assert_eq!(owner_of(&mut h, "bob"), "bob");
    assert_eq!(owner_of(&mut h, "carol"), "bob", "nobody else can be named");
    given(&mut h, ALICE, controls(O::BucketOwnerEnforced));
    // ACLs grant nothing now: bob's WRITE grant no longer lets him write; a policy does.
    let by_acl = requested(BOB, "PutObject", false, put(&h, "bob", "bkt", "k", "null"));
    check(&mut h, BOB, by_acl, "Rejected(AccessDenied)");
    given(&mut h, ALICE, allow_all("bkt", "bob"));
    assert_eq!(owner_of(&mut h, "bob"), "alice", "the bucket's owner owns everything in it");
    given(&mut h, ALICE, controls(O::ObjectWriter));
    assert_eq!(owner_of(&mut h, "alice"), "bob");
}
