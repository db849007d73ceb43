//! Every error on the access path refuses the request, never widens it: a view that
//! cannot be read gives 500, a stored policy that no longer parses gives 403. Failures
//! are injected by damaging the stored view while the server is stopped.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, PublicAccessBlockConfiguration};

use crate::support::{self, Server, BOB_KEY, BOB_SECRET};

/// Runs `damage` on the stopped server's database, then starts it again.
fn with_database(
    server: &mut Server,
    dir: &std::path::Path,
    damage: impl FnOnce(&fjall::Database),
) -> Server {
    server.stop();
    {
        let db = fjall::Database::builder(server.data_dir().join("log")).open().unwrap();
        damage(&db);
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    Server::start_in(dir, &[])
}

fn configs(db: &fjall::Database) -> fjall::Keyspace {
    db.keyspace("proj.g0.configs", fjall::KeyspaceCreateOptions::default).unwrap()
}

async fn anonymous_get(server: &Server, bucket: &str, key: &str) -> u16 {
    reqwest::get(format!("{}/{bucket}/{key}", server.endpoint)).await.unwrap().status().as_u16()
}

fn deny_tagged_deletes(bucket: &str, condition_key: &str) -> String {
    format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{bucket}/*","Condition":{{"StringEquals":{{"{condition_key}":"yes"}}}}}}]}}"#
    )
}

#[tokio::test]
async fn unreadable_tags_refuse_a_request_that_a_tag_condition_would_deny() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let name = support::bucket("tag-deny");
    bob.create_bucket().bucket(&name).send().await.unwrap();
    let put = bob.put_object().bucket(&name).key("keep").tagging("protected=yes");
    put.body(ByteStream::from_static(b"x")).send().await.unwrap();
    let policy = deny_tagged_deletes(&name, "s3:ExistingObjectTag/protected");
    bob.put_bucket_policy().bucket(&name).policy(policy).send().await.unwrap();
    let refused = bob.delete_object().bucket(&name).key("keep").send().await.unwrap_err();
    assert_eq!(support::code(&refused), "AccessDenied");

    let server = with_database(&mut server, dir.path(), |db| {
        let tags = db.keyspace("proj.g0.tags", fjall::KeyspaceCreateOptions::default).unwrap();
        let prefix = format!("v{name}\0keep\0");
        let keys: Vec<_> = tags.prefix(prefix.as_bytes()).map(|g| g.key().unwrap()).collect();
        assert!(!keys.is_empty(), "the version's tags are stored");
        for key in keys {
            tags.insert(key, b"").unwrap();
        }
    });
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let refused = bob.delete_object().bucket(&name).key("keep").send().await.unwrap_err();
    assert_eq!(support::status(&refused), 500, "{refused:?}");
    let listed = bob.list_objects_v2().bucket(&name).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1), "nothing was deleted");
}

#[tokio::test]
async fn an_unreadable_public_access_block_refuses_instead_of_letting_a_public_policy_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let name = support::bucket("restricted");
    bob.create_bucket().bucket(&name).send().await.unwrap();
    bob.put_object().bucket(&name).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let public = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}"#
    );
    bob.put_bucket_policy().bucket(&name).policy(public).send().await.unwrap();
    assert_eq!(anonymous_get(&server, &name, "k").await, 200, "the public policy lets anyone read");
    let block = PublicAccessBlockConfiguration::builder().restrict_public_buckets(true).build();
    bob.put_public_access_block()
        .bucket(&name)
        .public_access_block_configuration(block)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get(&server, &name, "k").await, 403, "RestrictPublicBuckets holds");

    let server = with_database(&mut server, dir.path(), |db| {
        configs(db).insert(format!("{name}\0public-access-block"), b"").unwrap();
    });
    assert_eq!(anonymous_get(&server, &name, "k").await, 500, "an unreadable block refuses");
}

#[tokio::test]
async fn a_stored_policy_that_no_longer_parses_refuses_and_its_owner_can_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let name = support::bucket("broken-policy");
    bob.create_bucket().bucket(&name).acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    bob.put_object().bucket(&name).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let put = bob.put_object_acl().bucket(&name).key("k");
    put.acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(anonymous_get(&server, &name, "k").await, 200, "the ACLs let anyone read");
    let deny = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}"#
    );
    bob.put_bucket_policy().bucket(&name).policy(deny).send().await.unwrap();
    assert_eq!(anonymous_get(&server, &name, "k").await, 403, "the policy's Deny beats the ACL");

    let server = with_database(&mut server, dir.path(), |db| {
        let broken = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"*"}],"Bogus":1}"#;
        let value = rucket_schemas::encode_payload(&broken.to_owned()).unwrap();
        configs(db).insert(format!("{name}\0policy"), value).unwrap();
    });
    assert_eq!(anonymous_get(&server, &name, "k").await, 403, "a broken Deny still refuses");
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let got = bob.get_object().bucket(&name).key("k").send().await.unwrap_err();
    assert_eq!(support::code(&got), "AccessDenied", "the owner's reads too");
    bob.delete_bucket_policy().bucket(&name).send().await.unwrap();
    assert_eq!(anonymous_get(&server, &name, "k").await, 200, "the owner removed the broken policy");
}

#[tokio::test]
async fn a_tag_condition_written_with_json_escapes_still_loads_the_tags() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let name = support::bucket("escaped-tag-key");
    bob.create_bucket().bucket(&name).send().await.unwrap();
    let put = bob.put_object().bucket(&name).key("keep").tagging("protected=yes");
    put.body(ByteStream::from_static(b"x")).send().await.unwrap();
    // `\u0045` is `E`: the same condition key, spelt so that a text search misses it.
    let policy = deny_tagged_deletes(&name, r"s3:\u0045xistingObjectTag/protected");
    bob.put_bucket_policy().bucket(&name).policy(policy).send().await.unwrap();
    let refused = bob.delete_object().bucket(&name).key("keep").send().await.unwrap_err();
    assert_eq!(support::code(&refused), "AccessDenied");
}
