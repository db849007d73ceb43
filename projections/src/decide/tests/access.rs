//! Access judged at apply from a request's facts: the bucket policy's Deny and Allow in
//! force when the command is decided, RestrictPublicBuckets, an access key's identity
//! policy and its state, and conditions read from the command's stamp and the views.

use rucket_schemas::{CommandBody, Principal, RequestFacts, SealedSecret, UserId};

use super::*;

fn set_policy(bucket: &str, statement: &str) -> CommandBody {
    let text = format!(r#"{{"Statement":[{statement}]}}"#);
    CommandBody::SetBucketPolicy { bucket: b(bucket), policy: Some(text), public: false }
}

fn as_key(
    user: &str,
    key: &str,
    operation: &str,
    keys: &[(&str, &str)],
    body: CommandBody,
) -> (As, CommandBody) {
    let facts = RequestFacts {
        principal: Principal::ManagedKey { access_key_id: key.to_owned() },
        operation: operation.to_owned(),
        version_id: false,
        keys: keys.iter().map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()])).collect(),
        retain_until: None,
    };
    let user: &'static str = Box::leak(user.to_owned().into_boxed_str());
    (As::User(user), CommandBody::Requested { facts: Box::new(facts), inner: Box::new(body) })
}

fn create_key(id: &str, user: &str, admin: bool) -> CommandBody {
    CommandBody::CreateAccessKey {
        access_key_id: id.to_owned(),
        user: UserId::new(user),
        secret: SealedSecret { key_id: "mk".into(), sealed: vec![1] },
        admin,
    }
}

#[test]
fn a_deny_in_force_at_apply_refuses_even_the_owner_but_not_on_the_policy_itself() {
    let mut h = with_buckets(&["bkt"]);
    let body = put(&h, "alice", "bkt", "a", "null");
    check(&mut h, ALICE, requested(ALICE, "PutObject", false, body), "ObjectCreated bkt/a@null Put size=1");
    given(
        &mut h,
        ALICE,
        set_policy(
            "bkt",
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/*"]}"#,
        ),
    );
    let body = put(&h, "alice", "bkt", "a", "null");
    check(&mut h, ALICE, requested(ALICE, "PutObject", false, body.clone()), "Rejected(AccessDenied)");
    check(&mut h, ROOT, requested(ROOT, "PutObject", false, body), "Rejected(AccessDenied)");
    let delete_it = requested(ALICE, "DeleteBucket", false, CommandBody::DeleteBucket { bucket: b("bkt") });
    check(&mut h, ALICE, delete_it, "Rejected(AccessDenied)");
    // The owner may still replace or delete the policy that locks everyone out.
    let removal = CommandBody::SetBucketPolicy { bucket: b("bkt"), policy: None, public: false };
    check(
        &mut h,
        ALICE,
        requested(ALICE, "DeleteBucketPolicy", false, removal.clone()),
        "BucketPolicySet bkt None",
    );
    check(&mut h, BOB, requested(BOB, "DeleteBucketPolicy", false, removal), "Rejected(AccessDenied)");
}

#[test]
fn an_allow_counts_only_while_it_is_in_force() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ALICE, allow_all("bkt", "bob"));
    let body = put(&h, "bob", "bkt", "bob/a", "null");
    check(
        &mut h,
        BOB,
        requested(BOB, "PutObject", false, body.clone()),
        "ObjectCreated bkt/bob/a@null Put size=1",
    );
    given(&mut h, ALICE, CommandBody::SetBucketPolicy { bucket: b("bkt"), policy: None, public: false });
    check(&mut h, BOB, requested(BOB, "PutObject", false, body), "Rejected(AccessDenied)");
}

#[test]
fn restrict_public_buckets_keeps_a_public_allow_from_strangers() {
    let mut h = with_buckets(&["bkt"]);
    given(
        &mut h,
        ALICE,
        set_policy(
            "bkt",
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"}"#,
        ),
    );
    let body = put(&h, "bob", "bkt", "a", "null");
    check(
        &mut h,
        BOB,
        requested(BOB, "PutObject", false, body.clone()),
        "ObjectCreated bkt/a@null Put size=1",
    );
    let block = PublicAccessBlock { restrict_public_buckets: true, ..Default::default() };
    given(&mut h, ALICE, CommandBody::SetPublicAccessBlock { bucket: b("bkt"), configuration: Some(block) });
    check(&mut h, BOB, requested(BOB, "PutObject", false, body), "Rejected(AccessDenied)");
}

#[test]
fn a_managed_key_is_judged_by_its_record_and_identity_policy_at_apply() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ROOT, create_key("AKBOB", "alice", false));
    let body = put(&h, "alice", "bkt", "a", "null");
    let (who, command) = as_key("alice", "AKBOB", "PutObject", &[], body.clone());
    check(&mut h, who, command, "ObjectCreated bkt/a@null Put size=1");
    // Signed by a key of another user: refused.
    let (who, command) = as_key("bob", "AKBOB", "PutObject", &[], body.clone());
    check(&mut h, who, command, "Rejected(AccessDenied)");
    // An identity policy that allows reads only refuses the write.
    let read_only = r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    given(
        &mut h,
        ROOT,
        CommandBody::SetAccessKeyPolicy { access_key_id: "AKBOB".into(), policy: Some(read_only.into()) },
    );
    let (who, command) = as_key("alice", "AKBOB", "PutObject", &[], body.clone());
    check(&mut h, who, command, "Rejected(AccessDenied)");
    // A key disabled (or deleted) while the request was in flight: refused.
    given(&mut h, ROOT, CommandBody::SetAccessKeyPolicy { access_key_id: "AKBOB".into(), policy: None });
    given(&mut h, ROOT, CommandBody::SetAccessKeyStatus { access_key_id: "AKBOB".into(), enabled: false });
    let (who, command) = as_key("alice", "AKBOB", "PutObject", &[], body.clone());
    check(&mut h, who, command, "Rejected(AccessDenied)");
    given(&mut h, ROOT, CommandBody::DeleteAccessKey { access_key_id: "AKBOB".into() });
    let (who, command) = as_key("alice", "AKBOB", "PutObject", &[], body);
    check(&mut h, who, command, "Rejected(AccessDenied)");
}

#[test]
fn an_admin_token_administers_keys_only_while_it_is_one() {
    let mut h = Harness::new();
    given(&mut h, ROOT, create_key("AKADM", "ops", true));
    let (who, command) = as_key("ops", "AKADM", "CreateAccessKey", &[], create_key("AKNEW", "carol", false));
    check(&mut h, who, command, "AccessKeyCreated AKNEW user=carol admin=false secret=mk");
    // Limited by an identity policy, it is no admin token any more.
    let limited = r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    given(
        &mut h,
        ROOT,
        CommandBody::SetAccessKeyPolicy { access_key_id: "AKADM".into(), policy: Some(limited.into()) },
    );
    let (who, command) = as_key("ops", "AKADM", "CreateAccessKey", &[], create_key("AKNEW", "carol", false));
    check(&mut h, who, command, "Rejected(AccessDenied)");
}

#[test]
fn conditions_read_the_commands_stamp_the_requests_facts_and_the_views() {
    let mut h = with_buckets(&["bkt"]);
    // Writes allowed until 10 s after the epoch (the harness stamps tick n at n s).
    given(
        &mut h,
        ALICE,
        set_policy(
            "bkt",
            r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"DateLessThan":{"aws:CurrentTime":"1970-01-01T00:00:10Z"},"IpAddress":{"aws:SourceIp":"10.1.0.0/16"}}}"#,
        ),
    );
    let from = |ip: &str, body: CommandBody| {
        let facts = RequestFacts {
            principal: Principal::ConfigKey { access_key_id: "AK-bob".into() },
            operation: "PutObject".into(),
            version_id: false,
            keys: [("aws:sourceip".to_owned(), vec![ip.to_owned()])].into(),
            retain_until: None,
        };
        CommandBody::Requested { facts: Box::new(facts), inner: Box::new(body) }
    };
    let body = put(&h, "bob", "bkt", "a", "null");
    check(&mut h, BOB, from("10.1.2.3", body.clone()), "ObjectCreated bkt/a@null Put size=1");
    check(&mut h, BOB, from("10.2.0.1", body), "Rejected(AccessDenied)");
    while h.next_hlc().to_rfc3339().as_str() < "1970-01-01T00:00:10" {
        h.command("alice", false, create("filler"));
    }
    let body = put(&h, "bob", "bkt", "a", "null");
    check(&mut h, BOB, from("10.1.2.3", body), "Rejected(AccessDenied)");
}

#[test]
fn existing_object_tags_come_from_the_views_at_apply() {
    let mut h = with_buckets(&["bkt"]);
    let tagged = CommandBody::Tagged {
        tags: tag_set(&[("keep", "yes")]),
        inner: Box::new(put(&h, "alice", "bkt", "kept", "null")),
    };
    given(&mut h, ALICE, tagged);
    write(&mut h, ALICE, "bkt", "free", "null");
    given(
        &mut h,
        ALICE,
        set_policy(
            "bkt",
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/keep":"yes"}}}"#,
        ),
    );
    let delete_kept = requested(ALICE, "DeleteObject", false, delete("bkt", "kept", None, "m1"));
    check(&mut h, ALICE, delete_kept, "Rejected(AccessDenied)");
    let delete_free = requested(ALICE, "DeleteObject", false, delete("bkt", "free", None, "m1"));
    check(&mut h, ALICE, delete_free, "ObjectDeleted bkt/free@null by=alice");
}

#[test]
fn a_bucket_policy_lets_others_tag_objects() {
    let mut h = with_buckets(&["bkt"]);
    write(&mut h, ALICE, "bkt", "a", "null");
    let allow = r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::bkt/*"}"#;
    given(&mut h, ALICE, set_policy("bkt", allow));
    let tag = |who: As, key: &str| {
        requested(who, "PutObjectTagging", false, super::configs::object_tagging("bkt", key, None))
    };
    check(&mut h, BOB, tag(BOB, "a"), "ObjectTaggingSet bkt/a@null tags=x=1");
    check(&mut h, As::User("carol"), tag(As::User("carol"), "a"), "Rejected(AccessDenied)");
    check(&mut h, BOB, tag(BOB, "b"), "Rejected(NoSuchKey)");
}
