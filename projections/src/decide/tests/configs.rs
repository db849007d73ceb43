//! Bucket configuration cases: policy, ACLs (bucket and object), tagging (bucket and
//! object), CORS, lifecycle, notifications, encryption, public access block, ownership.

use rucket_schemas::{
    BucketEncryption, CommandBody, CorsConfig, LifecycleConfig, NotificationConfig, ObjectOwnership,
    PublicAccessBlock, VersioningStatus,
};

use super::*;

/// Every change only the bucket's owner (or an operator) may make, with its event.
fn owner_only(bucket: &str) -> Vec<(CommandBody, String)> {
    let bkt = b(bucket);
    vec![
        (
            CommandBody::SetBucketTagging { bucket: bkt.clone(), tags: tag_set(&[("env", "prod")]) },
            "BucketTaggingSet {} tags=env=prod",
        ),
        (
            CommandBody::SetBucketCors { bucket: bkt.clone(), configuration: CorsConfig::default() },
            "BucketCorsSet {} rules=0",
        ),
        (
            CommandBody::SetBucketLifecycle {
                bucket: bkt.clone(),
                configuration: LifecycleConfig::default(),
            },
            "BucketLifecycleSet {} rules=0",
        ),
        (
            CommandBody::SetBucketNotification {
                bucket: bkt.clone(),
                configuration: NotificationConfig::default(),
            },
            "BucketNotificationSet {} rules=0",
        ),
        (
            CommandBody::SetBucketEncryption {
                bucket: bkt.clone(),
                configuration: Some(BucketEncryption { bucket_key_enabled: true }),
            },
            "BucketEncryptionSet {} Some(BucketEncryption { bucket_key_enabled: true })",
        ),
        (
            CommandBody::SetPublicAccessBlock { bucket: bkt.clone(), configuration: None },
            "BucketPublicAccessBlockSet {} None",
        ),
        (
            CommandBody::SetBucketOwnership {
                bucket: bkt.clone(),
                ownership: Some(ObjectOwnership::BucketOwnerEnforced),
            },
            "BucketOwnershipSet {} Some(BucketOwnerEnforced)",
        ),
        (
            CommandBody::SetBucketPolicy {
                bucket: bkt.clone(),
                policy: Some(policy_text(bucket, false)),
                public: false,
            },
            "BucketPolicySet {} Some(private)",
        ),
        (
            CommandBody::SetBucketPolicy { bucket: bkt.clone(), policy: None, public: false },
            "BucketPolicySet {} None",
        ),
        (CommandBody::SetBucketLogging { bucket: bkt, configuration: None }, "BucketLoggingSet {} off"),
    ]
    .into_iter()
    .map(|(body, expect)| (body, expect.replacen("{}", bucket, 1)))
    .collect()
}

/// A valid policy for `bucket`: public (anyone may read) or naming one user.
pub(super) fn policy_text(bucket: &str, public: bool) -> String {
    let principal = if public { r#""*""# } else { r#"{"AWS":"bob"}"# };
    format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    )
}

/// Sets a policy; `public` is the gateway's opinion, which apply does not trust.
fn policy(bucket: &str, public: bool) -> CommandBody {
    CommandBody::SetBucketPolicy { bucket: b(bucket), policy: Some(policy_text(bucket, public)), public }
}

fn object_acl(
    bucket: &str,
    key: &str,
    version: Option<&str>,
    grants: Vec<(Grantee, Permission)>,
) -> CommandBody {
    CommandBody::SetObjectAcl { bucket: b(bucket), key: k(key), version_id: version.map(v), acl: acl(grants) }
}

pub(super) fn object_tagging(bucket: &str, key: &str, version: Option<&str>) -> CommandBody {
    CommandBody::SetObjectTagging {
        bucket: b(bucket),
        key: k(key),
        version_id: version.map(v),
        tags: tag_set(&[("x", "1")]),
    }
}

fn public_read() -> Vec<(Grantee, Permission)> {
    vec![(Grantee::AllUsers, Permission::Read)]
}

#[test]
fn owner_only_configs_are_set_by_the_owner_or_an_operator() {
    let mut h = with_buckets(&["bkt"]);
    for (body, expect) in owner_only("bkt") {
        check(&mut h, ALICE, body.clone(), &expect);
        check(&mut h, ROOT, body, &expect);
    }
}

#[test]
fn owner_only_configs_refuse_strangers_and_missing_buckets() {
    let mut h = with_buckets(&["bkt"]);
    // Even a grantee of every ACL permission is no owner.
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::FullControl)]));
    for (body, _) in owner_only("bkt") {
        check(&mut h, BOB, body, "Rejected(AccessDenied)");
    }
    for (body, _) in owner_only("nope") {
        check(&mut h, ALICE, body, "Rejected(NoSuchBucket)");
    }
}

#[test]
fn public_policy_is_refused_under_block_public_policy() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, ALICE, policy("bkt", true), "BucketPolicySet bkt Some(public)");
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { block_public_policy: true, ..Default::default() }),
    );
    check(&mut h, ALICE, policy("bkt", true), "Rejected(AccessDenied)");
    check(&mut h, ROOT, policy("bkt", true), "Rejected(AccessDenied)");
    check(&mut h, ALICE, policy("bkt", false), "BucketPolicySet bkt Some(private)");
    check(&mut h, ALICE, policy("nope", true), "Rejected(NoSuchBucket)");
    // Blocking public ACLs says nothing of policies.
    let mut h = with_buckets(&["bkt"]);
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { block_public_acls: true, ..Default::default() }),
    );
    check(&mut h, ALICE, policy("bkt", true), "BucketPolicySet bkt Some(public)");
}

#[test]
fn bucket_acl_is_set_by_the_owner_or_a_write_acp_grantee() {
    let mut h = with_buckets(&["bkt"]);
    let grants = || vec![(user("dave"), Permission::Read)];
    check(&mut h, ALICE, bucket_acl("bkt", grants()), "BucketAclSet bkt grants=1");
    check(&mut h, ROOT, bucket_acl("bkt", vec![]), "BucketAclSet bkt grants=0");
    check(&mut h, BOB, bucket_acl("bkt", grants()), "Rejected(AccessDenied)");
    check(&mut h, ALICE, bucket_acl("nope", grants()), "Rejected(NoSuchBucket)");
    given(
        &mut h,
        ALICE,
        bucket_acl(
            "bkt",
            vec![(user("bob"), Permission::WriteAcp), (user("carol"), Permission::FullControl)],
        ),
    );
    check(&mut h, BOB, bucket_acl("bkt", grants()), "BucketAclSet bkt grants=1");
    check(&mut h, As::User("carol"), bucket_acl("bkt", grants()), "BucketAclSet bkt grants=1");
    check(&mut h, As::User("dave"), bucket_acl("bkt", grants()), "Rejected(AccessDenied)");
}

#[test]
fn public_acls_are_refused_under_block_public_acls() {
    let mut h = with_buckets(&["bkt"]);
    check(&mut h, ALICE, bucket_acl("bkt", public_read()), "BucketAclSet bkt grants=1");
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { block_public_acls: true, ..Default::default() }),
    );
    check(&mut h, ALICE, bucket_acl("bkt", public_read()), "Rejected(AccessDenied)");
    check(&mut h, ROOT, bucket_acl("bkt", public_read()), "Rejected(AccessDenied)");
    check(
        &mut h,
        ALICE,
        bucket_acl("bkt", vec![(user("bob"), Permission::Read)]),
        "BucketAclSet bkt grants=1",
    );
    write(&mut h, ALICE, "bkt", "a", "null");
    check(&mut h, ALICE, object_acl("bkt", "a", None, public_read()), "Rejected(AccessDenied)");
    // The block is looked at before the key.
    check(&mut h, ALICE, object_acl("bkt", "missing", None, public_read()), "Rejected(AccessDenied)");
    check(&mut h, ALICE, object_acl("bkt", "a", None, vec![]), "ObjectAclSet bkt/a@null grants=0");
}

#[test]
fn ignored_public_grants_do_not_let_anyone_change_an_acl() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(Grantee::AuthenticatedUsers, Permission::WriteAcp)]));
    check(&mut h, BOB, bucket_acl("bkt", vec![]), "BucketAclSet bkt grants=0");
    given(
        &mut h,
        ALICE,
        block_public("bkt", PublicAccessBlock { ignore_public_acls: true, ..Default::default() }),
    );
    check(&mut h, BOB, bucket_acl("bkt", vec![]), "Rejected(AccessDenied)");
    check(&mut h, ALICE, bucket_acl("bkt", vec![]), "BucketAclSet bkt grants=0");
}

#[test]
fn object_acl_is_set_by_the_bucket_owner_the_object_owner_or_a_grantee() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    write(&mut h, ALICE, "bkt", "hers", "null");
    write(&mut h, BOB, "bkt", "his", "null");
    let carol = As::User("carol");
    let grants = || vec![(user("carol"), Permission::WriteAcp)];
    check(&mut h, BOB, object_acl("bkt", "his", None, grants()), "ObjectAclSet bkt/his@null grants=1");
    check(&mut h, ALICE, object_acl("bkt", "his", None, grants()), "ObjectAclSet bkt/his@null grants=1");
    check(&mut h, BOB, object_acl("bkt", "hers", None, grants()), "Rejected(AccessDenied)");
    check(&mut h, carol, object_acl("bkt", "hers", None, grants()), "Rejected(AccessDenied)");
    given(&mut h, ALICE, object_acl("bkt", "hers", None, grants()));
    check(&mut h, carol, object_acl("bkt", "hers", None, vec![]), "ObjectAclSet bkt/hers@null grants=0");
}

#[test]
fn object_acl_names_an_object_version() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    write(&mut h, ALICE, "bkt", "a", "v1");
    given(&mut h, ALICE, delete("bkt", "a", None, "m1"));
    let none = Vec::new;
    check(&mut h, ALICE, object_acl("bkt", "a", Some("v1"), none()), "ObjectAclSet bkt/a@v1 grants=0");
    check(&mut h, ALICE, object_acl("bkt", "a", None, none()), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, object_acl("bkt", "a", Some("m1"), none()), "Rejected(MethodNotAllowed)");
    check(&mut h, ALICE, object_acl("bkt", "a", Some("v9"), none()), "Rejected(NoSuchVersion)");
    check(&mut h, ALICE, object_acl("bkt", "b", None, none()), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, object_acl("nope", "a", None, none()), "Rejected(NoSuchBucket)");
    // The version is looked up before the requester's rights.
    check(&mut h, BOB, object_acl("bkt", "b", None, none()), "Rejected(NoSuchKey)");
    check(&mut h, BOB, object_acl("bkt", "a", Some("v1"), none()), "Rejected(AccessDenied)");
}

#[test]
fn object_tagging_is_the_bucket_owners_or_an_operators() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::FullControl)]));
    write(&mut h, ALICE, "bkt", "a", "null");
    write(&mut h, BOB, "bkt", "his", "null");
    check(&mut h, ALICE, object_tagging("bkt", "a", None), "ObjectTaggingSet bkt/a@null tags=x=1");
    check(&mut h, ROOT, object_tagging("bkt", "a", Some("null")), "ObjectTaggingSet bkt/a@null tags=x=1");
    check(&mut h, BOB, object_tagging("bkt", "a", None), "Rejected(AccessDenied)");
    // Unlike its ACL, the writer of an object may not tag it.
    check(&mut h, BOB, object_tagging("bkt", "his", None), "Rejected(AccessDenied)");
    check(&mut h, ALICE, object_tagging("nope", "a", None), "Rejected(NoSuchBucket)");
}

#[test]
fn object_tagging_names_an_object_version() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, set_versioning("bkt", VersioningStatus::Enabled));
    write(&mut h, ALICE, "bkt", "a", "v1");
    write(&mut h, ALICE, "bkt", "a", "v2");
    check(&mut h, ALICE, object_tagging("bkt", "a", None), "ObjectTaggingSet bkt/a@v2 tags=x=1");
    check(&mut h, ALICE, object_tagging("bkt", "a", Some("v1")), "ObjectTaggingSet bkt/a@v1 tags=x=1");
    check(&mut h, ALICE, object_tagging("bkt", "a", Some("v9")), "Rejected(NoSuchVersion)");
    check(&mut h, ALICE, object_tagging("bkt", "b", None), "Rejected(NoSuchKey)");
    given(&mut h, ALICE, delete("bkt", "a", None, "m1"));
    check(&mut h, ALICE, object_tagging("bkt", "a", None), "Rejected(NoSuchKey)");
    check(&mut h, ALICE, object_tagging("bkt", "a", Some("m1")), "Rejected(MethodNotAllowed)");
    // The owner check comes before the version lookup.
    check(&mut h, BOB, object_tagging("bkt", "b", None), "Rejected(AccessDenied)");
}

#[test]
fn a_whole_acl_is_marked_on_its_event_and_decided_as_what_it_wraps() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    let whole = |body: CommandBody| CommandBody::WholeAcl { inner: Box::new(body) };
    check(&mut h, ALICE, whole(bucket_acl("bkt", vec![])), "BucketAclSet bkt grants=0 whole");
    let object = CommandBody::SetObjectAcl {
        bucket: b("bkt"),
        key: k("a"),
        version_id: None,
        acl: acl(vec![(user("bob"), Permission::Read)]),
    };
    check(&mut h, ALICE, whole(object.clone()), "ObjectAclSet bkt/a@null grants=1 whole");
    check(&mut h, ALICE, object.clone(), "ObjectAclSet bkt/a@null grants=1");
    check(&mut h, BOB, whole(object), "Rejected(AccessDenied)");
}

#[test]
fn acls_are_refused_in_log_order_once_the_bucket_owner_enforces_ownership() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, bucket_acl("bkt", vec![(user("bob"), Permission::Write)]));
    write(&mut h, BOB, "bkt", "his", "null");
    let enforced = CommandBody::SetBucketOwnership {
        bucket: b("bkt"),
        ownership: Some(rucket_schemas::ObjectOwnership::BucketOwnerEnforced),
    };
    given(&mut h, ALICE, enforced);
    let public = || vec![(Grantee::AllUsers, Permission::Read)];
    check(&mut h, ALICE, bucket_acl("bkt", public()), "Rejected(AccessDenied)");
    check(
        &mut h,
        ALICE,
        bucket_acl("bkt", vec![(user("alice"), Permission::FullControl)]),
        "BucketAclSet bkt grants=1",
    );
    let object = |grants| CommandBody::SetObjectAcl {
        bucket: b("bkt"),
        key: k("his"),
        version_id: None,
        acl: acl(grants),
    };
    check(&mut h, ALICE, object(public()), "Rejected(AccessDenied)");
    // Its writer no longer owns it: not even the harmless ACL is his to set.
    check(&mut h, BOB, object(vec![]), "Rejected(AccessDenied)");
    check(&mut h, ALICE, object(vec![]), "ObjectAclSet bkt/his@null grants=0");
}

fn logging_to(bucket: &str, target: &str) -> CommandBody {
    CommandBody::SetBucketLogging {
        bucket: b(bucket),
        configuration: Some(rucket_schemas::BucketLogging {
            target_bucket: b(target),
            target_prefix: "logs/".into(),
            key_format: rucket_schemas::LogKeyFormat::SimplePrefix,
        }),
    }
}

#[test]
fn logging_needs_an_existing_target_of_the_same_owner() {
    let mut h = with_buckets(&["bkt", "logs"]);
    given(&mut h, BOB, create("bobs"));
    check(&mut h, ALICE, logging_to("bkt", "logs"), "BucketLoggingSet bkt to=logs/logs/ SimplePrefix");
    check(&mut h, ALICE, logging_to("bkt", "bkt"), "BucketLoggingSet bkt to=bkt/logs/ SimplePrefix");
    check(&mut h, ALICE, logging_to("bkt", "nope"), "Rejected(NoSuchLoggingTarget)");
    check(&mut h, ALICE, logging_to("bkt", "bobs"), "Rejected(LoggingTargetNotOwned)");
    // An operator may not aim one user's logs at another's bucket either.
    check(&mut h, ROOT, logging_to("bkt", "bobs"), "Rejected(LoggingTargetNotOwned)");
    // A stranger learns nothing about targets.
    check(&mut h, BOB, logging_to("bkt", "nope"), "Rejected(AccessDenied)");
    given(&mut h, ALICE, logging_to("bkt", "logs"));
    assert_eq!(h.projections.bucket_logging(&b("bkt")).unwrap().unwrap().target_bucket, b("logs"));
    given(&mut h, ALICE, CommandBody::SetBucketLogging { bucket: b("bkt"), configuration: None });
    assert_eq!(h.projections.bucket_logging(&b("bkt")).unwrap(), None);
}
