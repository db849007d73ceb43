//! Object Lock cases: the bucket configuration, retention, legal hold, locked writes,
//! GOVERNANCE bypass, and what a lock forbids.

use rucket_schemas::{
    CommandBody, DefaultRetention, ExpireAction, LockMode, ObjectLock, Retention, VersioningStatus,
};

use super::*;

fn governance(until: i64) -> Retention {
    Retention { mode: LockMode::Governance, retain_until_ms: until }
}

fn compliance(until: i64) -> Retention {
    Retention { mode: LockMode::Compliance, retain_until_ms: until }
}

fn retention(bucket: &str, key: &str, version: Option<&str>, retention: Option<Retention>) -> CommandBody {
    CommandBody::SetObjectRetention { bucket: b(bucket), key: k(key), version_id: version.map(v), retention }
}

fn legal_hold(bucket: &str, key: &str, version: Option<&str>, on: bool) -> CommandBody {
    CommandBody::SetObjectLegalHold { bucket: b(bucket), key: k(key), version_id: version.map(v), on }
}

fn bypass(inner: CommandBody) -> CommandBody {
    CommandBody::BypassGovernance { inner: Box::new(inner) }
}

fn locked(lock: ObjectLock, inner: CommandBody) -> CommandBody {
    CommandBody::Locked { lock, inner: Box::new(inner) }
}

/// Alice's lock bucket `lck` with version `v1` of `a`, retained as given.
fn retained(r: Option<Retention>) -> Harness {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "lck");
    write(&mut h, ALICE, "lck", "a", "v1");
    if r.is_some() {
        given(&mut h, ALICE, retention("lck", "a", Some("v1"), r));
    }
    h
}

#[test]
fn object_lock_config_needs_versioning_enabled() {
    let mut h = with_buckets(&["plain", "von", "vof"]);
    given(&mut h, ALICE, set_versioning("von", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Enabled));
    given(&mut h, ALICE, set_versioning("vof", VersioningStatus::Suspended));
    let default = DefaultRetention { mode: LockMode::Governance, days: Some(1), years: None };
    check(&mut h, ALICE, lock_config("plain", None), "Rejected(InvalidBucketState)");
    check(&mut h, ALICE, lock_config("vof", None), "Rejected(InvalidBucketState)");
    check(&mut h, ALICE, lock_config("von", None), "BucketObjectLockSet von");
    check(
        &mut h,
        ROOT,
        lock_config("von", Some(default)),
        "BucketObjectLockSet von default=Governance/1d/0y",
    );
    check(&mut h, BOB, lock_config("von", None), "Rejected(AccessDenied)");
    check(&mut h, BOB, lock_config("plain", None), "Rejected(AccessDenied)");
    check(&mut h, ALICE, lock_config("nope", None), "Rejected(NoSuchBucket)");
}

#[test]
fn retention_needs_object_lock_the_owner_and_an_object_version() {
    let mut h = retained(None);
    given(&mut h, ALICE, create("plain"));
    write(&mut h, ALICE, "plain", "a", "null");
    let r = Some(governance(100_000));
    check(
        &mut h,
        ALICE,
        retention("lck", "a", None, r),
        "ObjectRetentionSet lck/a@v1 retention=Governance<100000",
    );
    check(
        &mut h,
        ROOT,
        retention("lck", "a", Some("v1"), r),
        "ObjectRetentionSet lck/a@v1 retention=Governance<100000",
    );
    check(&mut h, ALICE, retention("plain", "a", None, r), "Rejected(NoObjectLockConfiguration)");
    check(&mut h, BOB, retention("plain", "a", None, r), "Rejected(AccessDenied)");
    check(&mut h, BOB, retention("lck", "a", None, r), "Rejected(AccessDenied)");
    check(&mut h, ALICE, retention("nope", "a", None, r), "Rejected(NoSuchBucket)");
    check(&mut h, ALICE, retention("lck", "b", None, r), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, retention("lck", "a", Some("v9"), r), "Rejected(NoSuchVersion)");
    given(&mut h, ALICE, delete("lck", "a", None, "m1"));
    check(&mut h, ALICE, retention("lck", "a", None, r), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, retention("lck", "a", Some("m1"), r), "Rejected(MethodNotAllowed)");
}

#[test]
fn governance_in_force_may_only_be_tightened_unless_bypassed() {
    let mut h = retained(Some(governance(1_000_000)));
    let set = |r| retention("lck", "a", Some("v1"), r);
    check(&mut h, ALICE, set(Some(governance(500_000))), "Rejected(ObjectLocked)");
    check(&mut h, ALICE, set(None), "Rejected(ObjectLocked)");
    check(
        &mut h,
        ALICE,
        set(Some(governance(2_000_000))),
        "ObjectRetentionSet lck/a@v1 retention=Governance<2000000",
    );
    // A change of mode is no extension: GOVERNANCE becomes COMPLIANCE only with the bypass.
    check(&mut h, ALICE, set(Some(compliance(3_000_000))), "Rejected(ObjectLocked)");
    check(
        &mut h,
        ALICE,
        bypass(set(Some(governance(500_000)))),
        "ObjectRetentionSet lck/a@v1 retention=Governance<500000",
    );
    check(&mut h, ROOT, bypass(set(None)), "ObjectRetentionSet lck/a@v1 retention=none");
}

#[test]
fn compliance_in_force_is_never_loosened() {
    let mut h = retained(Some(compliance(1_000_000)));
    let set = |r| retention("lck", "a", Some("v1"), r);
    check(&mut h, ALICE, bypass(set(None)), "Rejected(ObjectLocked)");
    check(&mut h, ROOT, bypass(set(Some(compliance(999_999)))), "Rejected(ObjectLocked)");
    check(&mut h, ALICE, set(Some(governance(2_000_000))), "Rejected(ObjectLocked)");
    check(
        &mut h,
        ALICE,
        set(Some(compliance(1_000_000))),
        "ObjectRetentionSet lck/a@v1 retention=Compliance<1000000",
    );
}

#[test]
fn an_expired_retention_changes_freely() {
    // 1 ms after the epoch: long past at the harness clock.
    let mut h = retained(Some(compliance(1)));
    check(
        &mut h,
        ALICE,
        retention("lck", "a", Some("v1"), None),
        "ObjectRetentionSet lck/a@v1 retention=none",
    );
    check(&mut h, ALICE, delete("lck", "a", Some("v1"), "unused"), "ObjectDeleted lck/a@v1 by=alice");
}

#[test]
fn legal_hold_is_the_owners_to_set_on_a_lock_bucket() {
    let mut h = retained(Some(compliance(1_000_000)));
    given(&mut h, ALICE, create("plain"));
    write(&mut h, ALICE, "plain", "a", "null");
    check(&mut h, ALICE, legal_hold("lck", "a", None, true), "ObjectLegalHoldSet lck/a@v1 on=true");
    check(&mut h, ROOT, legal_hold("lck", "a", Some("v1"), false), "ObjectLegalHoldSet lck/a@v1 on=false");
    check(&mut h, BOB, legal_hold("lck", "a", None, true), "Rejected(AccessDenied)");
    check(&mut h, ALICE, legal_hold("plain", "a", None, true), "Rejected(NoObjectLockConfiguration)");
    check(&mut h, ALICE, legal_hold("lck", "a", Some("v9"), true), "Rejected(NoSuchVersion)");
    given(&mut h, ALICE, delete("lck", "a", None, "m1"));
    check(&mut h, ALICE, legal_hold("lck", "a", None, true), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, legal_hold("lck", "a", Some("m1"), true), "Rejected(MethodNotAllowed)");
}

#[test]
fn locked_writes_need_a_lock_bucket_and_carry_the_lock() {
    let mut h = with_buckets(&["plain"]);
    lock_bucket(&mut h, "lck");
    let lock = ObjectLock { retention: Some(governance(5_000_000)), legal_hold: true };
    let body = put(&h, "alice", "plain", "a", "v1");
    check(&mut h, ALICE, locked(lock, body), "Rejected(NoObjectLockConfiguration)");
    // Refused for the bucket's state before the requester's rights are looked at.
    let body = put(&h, "bob", "plain", "a", "v1");
    check(&mut h, BOB, locked(lock, body), "Rejected(NoObjectLockConfiguration)");
    let body = put(&h, "alice", "nope", "a", "v1");
    check(&mut h, ALICE, locked(lock, body), "Rejected(NoSuchBucket)");
    let body = put(&h, "bob", "lck", "a", "v1");
    check(&mut h, BOB, locked(lock, body), "Rejected(AccessDenied)");
    let body = put(&h, "alice", "lck", "a", "v1");
    check(
        &mut h,
        ALICE,
        locked(lock, body),
        "ObjectCreated lck/a@v1 Put size=1 lock=Governance<5000000+hold",
    );
    let upload = super::multipart::create_upload("lck", "k", 1);
    check(
        &mut h,
        ALICE,
        locked(lock, upload),
        "UploadCreated lck/k owner=alice lock=Governance<5000000+hold",
    );
}

#[test]
fn a_locked_write_keeps_the_default_retention_unless_it_gives_one() {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "lck");
    let default = DefaultRetention { mode: LockMode::Compliance, days: None, years: Some(1) };
    given(&mut h, ALICE, lock_config("lck", Some(default)));
    // The third command: 3 s plus 365 days.
    let hold = ObjectLock { retention: None, legal_hold: true };
    let body = put(&h, "alice", "lck", "a", "v1");
    check(
        &mut h,
        ALICE,
        locked(hold, body),
        "ObjectCreated lck/a@v1 Put size=1 lock=Compliance<31536003000+hold",
    );
    let own = ObjectLock { retention: Some(governance(7_000)), legal_hold: false };
    let body = put(&h, "alice", "lck", "a", "v1");
    check(&mut h, ALICE, locked(own, body), "ObjectCreated lck/a@v1 Put size=1 lock=Governance<7000");
}

#[test]
fn a_locked_version_is_not_deleted_without_a_bypass() {
    let mut h = retained(Some(governance(1_000_000)));
    check(&mut h, ALICE, delete("lck", "a", Some("v1"), "unused"), "Rejected(ObjectLocked)");
    // A marker hides a locked version without removing it.
    check(&mut h, ALICE, delete("lck", "a", None, "m1"), "ObjectDeleted lck/a@m1 marker by=alice");
    check(&mut h, ALICE, bypass(delete("lck", "a", Some("v1"), "unused")), "ObjectDeleted lck/a@v1 by=alice");
    check(&mut h, ROOT, bypass(delete("lck", "a", Some("v1"), "unused")), "ObjectDeleted lck/a@v1 by=root");
}

#[test]
fn only_the_owner_or_an_operator_may_bypass_governance() {
    let mut h = retained(Some(governance(1_000_000)));
    given(&mut h, ALICE, bucket_acl("lck", vec![(user("bob"), Permission::Write)]));
    check(&mut h, BOB, bypass(delete("lck", "a", Some("v1"), "unused")), "Rejected(ObjectLocked)");
    given(&mut h, ALICE, allow_all("lck", "carol"));
    let carol = As::User("carol");
    let allowed = requested(carol, "DeleteObject", true, delete("lck", "a", Some("v1"), "unused"));
    check(&mut h, carol, bypass(allowed), "Rejected(ObjectLocked)");
    check(&mut h, BOB, bypass(delete("nope", "a", Some("v1"), "unused")), "Rejected(NoSuchBucket)");
}

#[test]
fn nothing_bypasses_compliance_or_a_legal_hold() {
    let mut h = retained(Some(compliance(1_000_000)));
    check(&mut h, ROOT, bypass(delete("lck", "a", Some("v1"), "unused")), "Rejected(ObjectLocked)");
    let mut h = retained(None);
    given(&mut h, ALICE, legal_hold("lck", "a", Some("v1"), true));
    check(&mut h, ALICE, bypass(delete("lck", "a", Some("v1"), "unused")), "Rejected(ObjectLocked)");
    given(&mut h, ALICE, legal_hold("lck", "a", Some("v1"), false));
    check(&mut h, ALICE, delete("lck", "a", Some("v1"), "unused"), "ObjectDeleted lck/a@v1 by=alice");
}

#[test]
fn lifecycle_never_expires_a_locked_version() {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "lck");
    let old = h.next_hlc();
    let body = locked(
        ObjectLock { retention: Some(governance(1_000_000)), legal_hold: false },
        put(&h, "alice", "lck", "a", "v1"),
    );
    given(&mut h, ALICE, body);
    let new = write(&mut h, ALICE, "lck", "a", "v2");
    let expire = |version: &str, expected, action| CommandBody::LifecycleExpire {
        bucket: b("lck"),
        key: k("a"),
        version_id: v(version),
        expected,
        action,
    };
    check(&mut h, ROOT, expire("v1", old, ExpireAction::Version), "Unchanged");
    check(&mut h, ROOT, bypass(expire("v1", old, ExpireAction::Version)), "Unchanged");
    let current = ExpireAction::Current { marker_version_id: v("m1") };
    check(&mut h, ROOT, expire("v2", new, current), "ObjectDeleted lck/a@m1 marker by=root");
}
