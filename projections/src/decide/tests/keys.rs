//! Access key cases (operators only) and the re-wraps of a master key rotation.

use rucket_schemas::{CommandBody, RewrapTarget, SealKind, SealedSecret, UploadId, UserId, WriteCondition};

use super::*;

fn secret(key_id: &str) -> SealedSecret {
    SealedSecret { key_id: key_id.to_owned(), sealed: key_id.as_bytes().to_vec() }
}

fn create_key(id: &str) -> CommandBody {
    CommandBody::CreateAccessKey {
        access_key_id: id.to_owned(),
        user: UserId::new("bob"),
        secret: secret("mk1"),
        admin: false,
    }
}

/// The changes to an existing key, with their events.
fn key_changes(id: &str) -> Vec<(CommandBody, String)> {
    let id = id.to_owned();
    vec![
        (
            CommandBody::SetAccessKeyStatus { access_key_id: id.clone(), enabled: false },
            format!("AccessKeyStatusSet {id} enabled=false"),
        ),
        (
            CommandBody::SetAccessKeyPolicy { access_key_id: id.clone(), policy: Some("{}".to_owned()) },
            format!("AccessKeyPolicySet {id} Some(\"{{}}\")"),
        ),
        (CommandBody::DeleteAccessKey { access_key_id: id.clone() }, format!("AccessKeyDeleted {id}")),
    ]
}

fn rewrap_key(id: &str, from: &str, to: &str) -> CommandBody {
    CommandBody::RewrapAccessKey { access_key_id: id.to_owned(), from: secret(from), secret: secret(to) }
}

fn rewrap_data(bucket: &str, key: &str, target: RewrapTarget, from: Seal, to: &str) -> CommandBody {
    CommandBody::RewrapDataKey { bucket: b(bucket), key: k(key), target, from, seal: master_seal(to, "ctx") }
}

fn version(id: &str) -> RewrapTarget {
    RewrapTarget::Version(v(id))
}

fn upload(n: u8) -> RewrapTarget {
    RewrapTarget::Upload(UploadId::from_bytes([n; 16]))
}

/// Writes `bkt/a` (null version) with `data`.
fn write_data(h: &mut Harness, data: ObjectData) {
    let body = put_with(h, "alice", "bkt", "a", "null", data, WriteCondition::Always);
    given(h, ALICE, body);
}

#[test]
fn create_access_key_is_an_operators() {
    let mut h = with_buckets(&[]);
    check(&mut h, ROOT, create_key("AK1"), "AccessKeyCreated AK1 user=bob admin=false secret=mk1");
    check(&mut h, ALICE, create_key("AK1"), "Rejected(AccessDenied)");
    given(&mut h, ROOT, create_key("AK1"));
    check(&mut h, ROOT, create_key("AK1"), "Rejected(AccessKeyExists)");
    check(&mut h, ALICE, create_key("AK1"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, create_key("AK2"), "AccessKeyCreated AK2 user=bob admin=false secret=mk1");
}

#[test]
fn key_changes_are_an_operators_on_an_existing_key() {
    let mut h = with_buckets(&[]);
    given(&mut h, ROOT, create_key("AK1"));
    for (body, expect) in key_changes("AK1") {
        check(&mut h, ROOT, body.clone(), &expect);
        check(&mut h, ALICE, body.clone(), "Rejected(AccessDenied)");
        // Even the key's own user may not.
        check(&mut h, BOB, body, "Rejected(AccessDenied)");
    }
    for (body, _) in key_changes("AK9") {
        check(&mut h, ROOT, body.clone(), "Rejected(NoSuchAccessKey)");
        check(&mut h, ALICE, body, "Rejected(AccessDenied)");
    }
}

#[test]
fn rewrap_access_key_applies_only_to_the_secret_it_read() {
    let mut h = with_buckets(&[]);
    given(&mut h, ROOT, create_key("AK1"));
    check(&mut h, ROOT, rewrap_key("AK1", "mk1", "mk2"), "AccessKeyRewrapped AK1 from=mk1 to=mk2");
    check(&mut h, ALICE, rewrap_key("AK1", "mk1", "mk2"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, rewrap_key("AK1", "mk0", "mk2"), "Unchanged");
    check(&mut h, ROOT, rewrap_key("AK9", "mk1", "mk2"), "Unchanged");
    given(&mut h, ROOT, rewrap_key("AK1", "mk1", "mk2"));
    check(&mut h, ROOT, rewrap_key("AK1", "mk1", "mk3"), "Unchanged");
    check(&mut h, ROOT, rewrap_key("AK1", "mk2", "mk3"), "AccessKeyRewrapped AK1 from=mk2 to=mk3");
}

#[test]
fn rewrap_data_key_of_a_version_applies_only_to_the_seal_it_read() {
    let mut h = with_buckets(&["bkt"]);
    write_data(&mut h, sealed(master_seal("mk1", "null")));
    let from = || master_seal("mk1", "null");
    check(
        &mut h,
        ROOT,
        rewrap_data("bkt", "a", version("null"), from(), "mk2"),
        "DataKeyRewrapped bkt/a version=null from=\"mk1\" to=mk2",
    );
    check(&mut h, ALICE, rewrap_data("bkt", "a", version("null"), from(), "mk2"), "Rejected(AccessDenied)");
    check(
        &mut h,
        ROOT,
        rewrap_data("bkt", "a", version("null"), master_seal("mk0", "null"), "mk2"),
        "Unchanged",
    );
    check(&mut h, ROOT, rewrap_data("bkt", "a", version("v7"), from(), "mk2"), "Unchanged");
    check(&mut h, ROOT, rewrap_data("bkt", "b", version("null"), from(), "mk2"), "Unchanged");
    check(&mut h, ROOT, rewrap_data("nope", "a", version("null"), from(), "mk2"), "Unchanged");
    // An overwrite has another data key, which the rotation must not replace.
    write_data(&mut h, sealed(master_seal("mk1", "other")));
    check(&mut h, ROOT, rewrap_data("bkt", "a", version("null"), from(), "mk2"), "Unchanged");
    write_data(&mut h, inline(b"plain"));
    check(&mut h, ROOT, rewrap_data("bkt", "a", version("null"), from(), "mk2"), "Unchanged");
}

#[test]
fn rewrap_data_key_names_no_master_key_for_a_customer_key() {
    let mut h = with_buckets(&["bkt"]);
    let customer = Seal {
        kind: SealKind::CustomerKey { salt: vec![1], mac: vec![2] },
        wrapped_key: vec![3],
        context_id: "null".to_owned(),
    };
    write_data(&mut h, sealed(customer.clone()));
    check(
        &mut h,
        ROOT,
        rewrap_data("bkt", "a", version("null"), customer, "mk2"),
        "DataKeyRewrapped bkt/a version=null from=\"\" to=mk2",
    );
}

#[test]
fn rewrap_data_key_of_an_upload_needs_it_in_progress_and_sealed() {
    let mut h = with_buckets(&["bkt"]);
    let sealed_upload = CommandBody::Sealed {
        seal: master_seal("mk1", "up"),
        inner: Box::new(super::multipart::create_upload("bkt", "k", 1)),
    };
    given(&mut h, ALICE, sealed_upload);
    given(&mut h, ALICE, super::multipart::create_upload("bkt", "k", 2));
    let from = || master_seal("mk1", "up");
    check(
        &mut h,
        ROOT,
        rewrap_data("bkt", "k", upload(1), from(), "mk2"),
        "DataKeyRewrapped bkt/k upload from=\"mk1\" to=mk2",
    );
    check(&mut h, ALICE, rewrap_data("bkt", "k", upload(1), from(), "mk2"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, rewrap_data("bkt", "k", upload(2), from(), "mk2"), "Unchanged");
    check(&mut h, ROOT, rewrap_data("bkt", "k", upload(3), from(), "mk2"), "Unchanged");
    let abort = CommandBody::AbortMultipartUpload {
        bucket: b("bkt"),
        key: k("k"),
        upload_id: UploadId::from_bytes([1; 16]),
    };
    given(&mut h, ALICE, abort);
    check(&mut h, ROOT, rewrap_data("bkt", "k", upload(1), from(), "mk2"), "Unchanged");
}

#[test]
fn a_webhook_cursor_moves_only_forward_and_only_for_an_operator() {
    let mut h = with_buckets(&[]);
    let set = |position| CommandBody::SetWebhookCursor { target: "hook".into(), position };
    check(&mut h, ALICE, set(5), "Rejected(AccessDenied)");
    check(&mut h, ROOT, set(5), "WebhookCursorSet hook=5");
    given(&mut h, ROOT, set(5));
    assert_eq!(h.projections.webhook_cursor("hook").unwrap(), Some(5));
    check(&mut h, ROOT, set(5), "Unchanged");
    check(&mut h, ROOT, set(3), "Unchanged");
    check(&mut h, ROOT, set(9), "WebhookCursorSet hook=9");
    assert_eq!(h.projections.webhook_cursor("other").unwrap(), None);
}

fn create_kms(id: &str) -> CommandBody {
    CommandBody::CreateKmsKey { key_id: id.to_owned(), description: String::new(), material: secret("mk1") }
}

fn kms_seal(key_id: &str) -> Seal {
    Seal {
        kind: SealKind::KmsKey { key_id: key_id.to_owned() },
        wrapped_key: vec![3],
        context_id: "ctx".into(),
    }
}

#[test]
fn kms_keys_are_an_operators_to_create_disable_and_reseal() {
    let mut h = with_buckets(&[]);
    check(&mut h, ALICE, create_kms("app"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, create_kms("app"), "KmsKeyCreated app material=mk1");
    given(&mut h, ROOT, create_kms("app"));
    check(&mut h, ROOT, create_kms("app"), "Rejected(KmsKeyExists)");
    let disable = |id: &str| CommandBody::SetKmsKeyStatus { key_id: id.to_owned(), enabled: false };
    check(&mut h, ALICE, disable("app"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, disable("app"), "KmsKeyStatusSet app enabled=false");
    check(&mut h, ROOT, disable("nope"), "Rejected(NoSuchKmsKey)");
    let reseal = |from: &str, to: &str| CommandBody::RewrapKmsKey {
        key_id: "app".into(),
        from: secret(from),
        material: secret(to),
    };
    check(&mut h, ALICE, reseal("mk1", "mk2"), "Rejected(AccessDenied)");
    check(&mut h, ROOT, reseal("mk0", "mk2"), "Unchanged");
    given(&mut h, ROOT, reseal("mk1", "mk2"));
    check(&mut h, ROOT, reseal("mk1", "mk3"), "Unchanged");
    check(&mut h, ROOT, reseal("mk2", "mk3"), "KmsKeyRewrapped app from=mk2 to=mk3");
}

#[test]
fn a_write_under_a_kms_key_is_refused_once_the_key_is_disabled_in_log_order() {
    let mut h = with_buckets(&["bkt"]);
    given(&mut h, ROOT, create_kms("app"));
    let body = put_with(&h, "alice", "bkt", "a", "null", sealed(kms_seal("app")), WriteCondition::Always);
    check(&mut h, ALICE, body.clone(), "ObjectCreated bkt/a@null Put size=100");
    // Without the right to write, the key store's state is not what answers.
    check(&mut h, BOB, body.clone(), "Rejected(AccessDenied)");
    given(&mut h, ROOT, CommandBody::SetKmsKeyStatus { key_id: "app".into(), enabled: false });
    check(&mut h, ALICE, body.clone(), "Rejected(KmsKeyDisabled)");
    check(&mut h, BOB, body, "Rejected(AccessDenied)");
    let upload = CommandBody::Sealed {
        seal: kms_seal("app"),
        inner: Box::new(super::multipart::create_upload("bkt", "k", 1)),
    };
    check(&mut h, ALICE, upload.clone(), "Rejected(KmsKeyDisabled)");
    given(&mut h, ROOT, CommandBody::SetKmsKeyStatus { key_id: "app".into(), enabled: true });
    check(&mut h, ALICE, upload, "UploadCreated bkt/k owner=alice sealed");
    let unknown = put_with(&h, "alice", "bkt", "a", "null", sealed(kms_seal("gone")), WriteCondition::Always);
    check(&mut h, ALICE, unknown, "Rejected(NoSuchKmsKey)");
}

#[test]
fn a_bucket_default_under_a_kms_key_needs_the_key_and_the_owner() {
    let mut h = with_buckets(&["bkt"]);
    let set = |kms: &str| CommandBody::SetBucketKmsEncryption {
        bucket: b("bkt"),
        configuration: rucket_schemas::BucketEncryption { bucket_key_enabled: false },
        kms_key_id: kms.to_owned(),
    };
    check(&mut h, ALICE, set("app"), "Rejected(NoSuchKmsKey)");
    check(&mut h, BOB, set("app"), "Rejected(AccessDenied)");
    given(&mut h, ROOT, create_kms("app"));
    check(
        &mut h,
        ALICE,
        set("app"),
        "BucketEncryptionSet bkt Some(BucketEncryption { bucket_key_enabled: false }) kms=app",
    );
    given(&mut h, ALICE, set("app"));
    assert_eq!(h.projections.bucket_kms_key(&b("bkt")).unwrap().as_deref(), Some("app"));
    given(&mut h, ALICE, CommandBody::SetBucketEncryption { bucket: b("bkt"), configuration: None });
    assert_eq!(h.projections.bucket_kms_key(&b("bkt")).unwrap(), None, "deleting the default drops its key");
}
