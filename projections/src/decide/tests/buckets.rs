//! Bucket cases: create, delete, versioning.

use rucket_schemas::{CommandBody, VersioningStatus};

use super::*;

fn delete_bucket(bucket: &str) -> CommandBody {
    CommandBody::DeleteBucket { bucket: b(bucket) }
}

#[test]
fn create_bucket_takes_a_free_name_for_the_requester() {
    let mut h = with_buckets(&[]);
    check(&mut h, ALICE, create("fresh"), "BucketCreated fresh owner=alice");
    check(&mut h, BOB, create("fresh"), "BucketCreated fresh owner=bob");
    let locked =
        CommandBody::CreateBucket { bucket: b("locked"), location: "eu".into(), object_lock_enabled: true };
    check(&mut h, ALICE, locked, "BucketCreated locked owner=alice object-lock");
}

#[test]
fn create_bucket_refuses_a_taken_name() {
    let mut h = with_buckets(&["taken"]);
    check(&mut h, ALICE, create("taken"), "Rejected(BucketAlreadyOwnedByYou)");
    check(&mut h, BOB, create("taken"), "Rejected(BucketAlreadyExists)");
    check(&mut h, ROOT, create("taken"), "Rejected(BucketAlreadyExists)");
}

#[test]
fn delete_bucket_needs_an_existing_bucket() {
    let mut h = with_buckets(&["here"]);
    check(&mut h, ALICE, delete_bucket("gone"), "Rejected(NoSuchBucket)");
    check(&mut h, ROOT, delete_bucket("gone"), "Rejected(NoSuchBucket)");
}

#[test]
fn delete_bucket_is_the_owners_or_an_operators() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, BOB, delete_bucket("bkt"), "Rejected(AccessDenied)");
    check(&mut h, ALICE, delete_bucket("bkt"), "BucketDeleted bkt");
    check(&mut h, ROOT, delete_bucket("bkt"), "BucketDeleted bkt");
}

#[test]
fn delete_bucket_refuses_a_bucket_with_an_object() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    check(&mut h, ALICE, delete_bucket("bkt"), "Rejected(BucketNotEmpty)");
    // The ownership check comes first.
    check(&mut h, BOB, delete_bucket("bkt"), "Rejected(AccessDenied)");
}

#[test]
fn delete_bucket_counts_delete_markers_and_old_versions() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    write(&mut h, ALICE, "bkt", "a", "v1");
    given(&mut h, ALICE, delete("bkt", "a", None, "m1"));
    given(&mut h, ALICE, delete("bkt", "a", Some("v1"), "unused"));
    // Only the marker is left.
    check(&mut h, ALICE, delete_bucket("bkt"), "Rejected(BucketNotEmpty)");
    given(&mut h, ALICE, delete("bkt", "a", Some("m1"), "unused"));
    check(&mut h, ALICE, delete_bucket("bkt"), "BucketDeleted bkt");
}

#[test]
fn delete_bucket_aborts_uploads_in_progress_and_releases_their_parts() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, super::multipart::create_upload("bkt", "k", 1));
    given(&mut h, ALICE, super::multipart::create_upload("bkt", "other", 2));
    given(&mut h, ALICE, super::multipart::upload_part("bkt", "k", 1, 1, 10));
    given(&mut h, ALICE, super::multipart::upload_part("bkt", "k", 1, 2, 10));
    check(&mut h, BOB, delete_bucket("bkt"), "Rejected(AccessDenied)");
    check(&mut h, ALICE, delete_bucket("bkt"), "BucketDeleted bkt aborted=k,other");
    let (_, released) = h.run_as("alice", false, delete_bucket("bkt"));
    let mut released: Vec<String> = released.iter().map(|b| b.to_string()).collect();
    released.sort();
    let mut parts: Vec<String> =
        [1u8, 2].iter().map(|n| rucket_schemas::BlobId::from_bytes([*n; 16]).to_string()).collect();
    parts.sort();
    assert_eq!(released, parts, "the aborted upload's parts are released");
    assert!(h.projections.uploads_in(&b("bkt")).unwrap().is_empty());
    // Past the cap (one event names every aborted upload), they must be aborted first.
    let mut h = with_buckets(&["many"]);
    for n in 0..=crate::decide::buckets::MAX_ABORTED_WITH_BUCKET {
        given(&mut h, ALICE, super::multipart::create_upload("many", &format!("k{n}"), 1));
    }
    check(&mut h, ALICE, delete_bucket("many"), "Rejected(BucketNotEmpty)");
    // A version still keeps a bucket.
    let mut h = with_buckets(&["kept"]);
    write(&mut h, ALICE, "kept", "a", "null");
    given(&mut h, ALICE, super::multipart::create_upload("kept", "k", 1));
    check(&mut h, ALICE, delete_bucket("kept"), "Rejected(BucketNotEmpty)");
}

#[test]
fn versioning_is_set_by_the_owner_or_an_operator() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled), "BucketVersioningSet bkt Enabled");
    check(
        &mut h,
        ROOT,
        set_versioning("bkt", VersioningStatus::Suspended),
        "BucketVersioningSet bkt Suspended",
    );
    check(&mut h, BOB, set_versioning("bkt", VersioningStatus::Enabled), "Rejected(AccessDenied)");
    check(&mut h, ALICE, set_versioning("nope", VersioningStatus::Enabled), "Rejected(NoSuchBucket)");
}

#[test]
fn versioning_cannot_be_suspended_under_object_lock() {
    let mut h = with_buckets(&[]);
    lock_bucket(&mut h, "locked");
    check(
        &mut h,
        ALICE,
        set_versioning("locked", VersioningStatus::Suspended),
        "Rejected(InvalidBucketState)",
    );
    check(
        &mut h,
        ALICE,
        set_versioning("locked", VersioningStatus::Enabled),
        "BucketVersioningSet locked Enabled",
    );
    // A stranger is refused before the bucket state is looked at.
    check(&mut h, BOB, set_versioning("locked", VersioningStatus::Suspended), "Rejected(AccessDenied)");
}
