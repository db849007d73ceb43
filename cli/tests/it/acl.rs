//! ACLs: canned ACLs and grants on buckets and objects, the ACL APIs, and anonymous and
//! cross-user access exactly where a grant allows it.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission, Type};

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET};

async fn anonymous(method: reqwest::Method, url: String, body: &'static [u8]) -> u16 {
    reqwest::Client::new().request(method, url).body(body).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn canned_acls_open_exactly_what_they_name() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let (public, private, open, members) = (
        support::bucket("acl-public"),
        support::bucket("acl-private"),
        support::bucket("acl-open"),
        support::bucket("acl-members"),
    );
    bob.create_bucket().bucket(&public).acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    bob.create_bucket().bucket(&private).send().await.unwrap();
    bob.create_bucket().bucket(&open).acl(BucketCannedAcl::PublicReadWrite).send().await.unwrap();
    bob.create_bucket().bucket(&members).acl(BucketCannedAcl::AuthenticatedRead).send().await.unwrap();
    for bucket in [&public, &private, &members] {
        bob.put_object().bucket(bucket).key("doc").body(ByteStream::from_static(b"hi")).send().await.unwrap();
    }
    bob.put_object()
        .bucket(&private)
        .key("shared")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"shared"))
        .send()
        .await
        .unwrap();
    let url = |b: &str, k: &str| format!("{}/{b}/{k}", server.endpoint);
    use reqwest::Method;

    // A public-read bucket lists for everyone; its objects stay private unless granted.
    assert_eq!(anonymous(Method::GET, format!("{}/{public}", server.endpoint), b"").await, 200);
    assert_eq!(anonymous(Method::GET, url(&public, "doc"), b"").await, 403);
    assert_eq!(anonymous(Method::PUT, url(&public, "new"), b"x").await, 403);
    // An object granted to everyone reads anonymously, even in a private bucket.
    assert_eq!(anonymous(Method::GET, url(&private, "shared"), b"").await, 200);
    assert_eq!(anonymous(Method::HEAD, url(&private, "shared"), b"").await, 200);
    assert_eq!(anonymous(Method::GET, url(&private, "doc"), b"").await, 403);
    // Without any grant on the bucket a missing key is AccessDenied, not NoSuchKey.
    assert_eq!(anonymous(Method::GET, url(&private, "missing"), b"").await, 403);
    assert_eq!(anonymous(Method::GET, format!("{}/{private}", server.endpoint), b"").await, 403);
    // public-read-write lets anyone write; the writer owns the object.
    assert_eq!(anonymous(Method::PUT, url(&open, "dropped"), b"anon").await, 200);
    let acl = bob.get_object_acl().bucket(&open).key("dropped").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("anonymous"));
    assert_eq!(anonymous(Method::DELETE, url(&open, "dropped"), b"").await, 204);
    // authenticated-read: any signed user lists it, anonymous users do not.
    assert_eq!(anonymous(Method::GET, format!("{}/{members}", server.endpoint), b"").await, 403);
    let listed = alice.list_objects_v2().bucket(&members).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
    // Signed users other than the owner are held to the same grants.
    let err = alice.get_object().bucket(&private).key("doc").send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");
    let shared = alice.get_object().bucket(&private).key("shared").send().await.unwrap();
    assert_eq!(shared.body.collect().await.unwrap().into_bytes().as_ref(), b"shared");
    // Operations that are not governed by ACLs still need a signature.
    assert_eq!(anonymous(Method::PUT, format!("{}/acl-anon-bucket", server.endpoint), b"").await, 403);
}

#[tokio::test]
async fn acl_apis_and_grants() {
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let alice = server.client_as(ALICE_KEY, ALICE_SECRET);
    let bucket = support::bucket("acl-grants");
    bob.create_bucket().bucket(&bucket).acl(BucketCannedAcl::PublicRead).send().await.unwrap();

    let status = bob.get_bucket_policy_status().bucket(&bucket).send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(true), "public-read is public");
    let acl = bob.get_bucket_acl().bucket(&bucket).send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("bob"));
    let grants: Vec<(Option<String>, Option<String>, Permission)> = acl
        .grants()
        .iter()
        .map(|g| {
            let grantee = g.grantee().unwrap();
            (
                grantee.id().map(str::to_owned),
                grantee.uri().map(str::to_owned),
                g.permission().unwrap().clone(),
            )
        })
        .collect();
    // A canned ACL follows the owner's FULL_CONTROL; groups are listed first.
    assert_eq!(
        grants,
        vec![
            (None, Some("http://acs.amazonaws.com/groups/global/AllUsers".into()), Permission::Read),
            (Some("bob".into()), None, Permission::FullControl),
        ]
    );

    // alice may not write until granted WRITE.
    let put = |client: &aws_sdk_s3::Client, key: &str| {
        client.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send()
    };
    assert_eq!(support::code(&put(&alice, "a").await.unwrap_err()), "AccessDenied");
    let err = alice.put_bucket_acl().bucket(&bucket).grant_write("id=\"alice\"").send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied", "only the owner changes the ACL");
    bob.put_bucket_acl().bucket(&bucket).grant_write("id=\"alice\"").send().await.unwrap();
    put(&alice, "a").await.unwrap();
    let object_acl = bob.get_object_acl().bucket(&bucket).key("a").send().await.unwrap();
    assert_eq!(object_acl.owner().and_then(|o| o.id()), Some("alice"), "the writer owns the object");
    // Grant headers are the whole ACL: alice's WRITE alone (bob keeps his rights as owner).
    let granted = bob.get_bucket_acl().bucket(&bucket).send().await.unwrap();
    let [only] = granted.grants() else { panic!("one grant: {:?}", granted.grants()) };
    assert!(
        only.grantee().and_then(|e| e.id()) == Some("alice")
            && only.permission() == Some(&Permission::Write)
            && only.grantee().map(|e| e.r#type()) == Some(&Type::CanonicalUser)
    );
    // Replacing the ACL replaces every grant: public-read is gone.
    let status = bob.get_bucket_policy_status().bucket(&bucket).send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(false));
    assert_eq!(anonymous(reqwest::Method::GET, format!("{}/{bucket}", server.endpoint), b"").await, 403);

    // Object ACLs: the object's owner may change them; others may not.
    bob.put_object().bucket(&bucket).key("b").body(ByteStream::from_static(b"b")).send().await.unwrap();
    let err = alice
        .put_object_acl()
        .bucket(&bucket)
        .key("b")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");
    bob.put_object_acl().bucket(&bucket).key("b").acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(anonymous(reqwest::Method::GET, format!("{}/{bucket}/b", server.endpoint), b"").await, 200);
    bob.put_object_acl().bucket(&bucket).key("b").acl(ObjectCannedAcl::Private).send().await.unwrap();
    assert_eq!(anonymous(reqwest::Method::GET, format!("{}/{bucket}/b", server.endpoint), b"").await, 403);

    // Bad requests.
    let err = bob
        .put_object()
        .bucket(&bucket)
        .key("c")
        .acl(ObjectCannedAcl::PublicRead)
        .grant_read("id=\"alice\"")
        .body(ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "InvalidRequest");
    let err = bob
        .put_bucket_acl()
        .bucket(&bucket)
        .grant_read("emailAddress=\"a@example.com\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "UnresolvableGrantByEmailAddress");
    // A grant by a user's e-mail address (set in its `[[keys]]` entry) names the user.
    bob.put_bucket_acl()
        .bucket(&bucket)
        .grant_read("emailAddress=\"Alice@Example.com\"")
        .send()
        .await
        .unwrap();
    let granted = bob.get_bucket_acl().bucket(&bucket).send().await.unwrap();
    let [only] = granted.grants() else { panic!("one grant: {:?}", granted.grants()) };
    let grantee = only.grantee().unwrap();
    assert_eq!((grantee.id(), grantee.email_address()), (Some("alice"), None), "listed by id");
    assert_eq!(grantee.r#type(), &Type::CanonicalUser);
    // Display names: the configured one, else the user's id.
    assert_eq!(grantee.display_name(), Some("A. Liddell"));
    assert_eq!(granted.owner().and_then(|o| o.display_name()), Some("bob"));
    let listed = server.client().list_buckets().send().await.unwrap();
    assert_eq!(listed.owner().and_then(|o| o.display_name()), Some("The Root"), "root_display_name");
    let objects = bob.list_objects_v2().bucket(&bucket).fetch_owner(true).send().await.unwrap();
    assert!(!objects.contents().is_empty() && objects.contents().iter().all(|o| o.owner().is_some()));
    for owner in objects.contents().iter().filter_map(|o| o.owner()) {
        let named = if owner.id() == Some("alice") { Some("A. Liddell") } else { owner.id() };
        assert_eq!(owner.display_name(), named);
    }
    alice.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let err = bob.get_object_acl().bucket(&bucket).key("missing").send().await.unwrap_err();
    assert_eq!(support::code(&err), "NoSuchKey");
}

#[tokio::test]
async fn ownership_controls_can_disable_acls() {
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    let server = Server::start();
    let bob = server.client_as(BOB_KEY, BOB_SECRET);
    let bucket = support::bucket("acl-owned");
    bob.create_bucket().bucket(&bucket).send().await.unwrap();
    let err = bob.get_bucket_ownership_controls().bucket(&bucket).send().await.unwrap_err();
    assert_eq!(support::code(&err), "OwnershipControlsNotFoundError");
    let controls = |o: ObjectOwnership| {
        OwnershipControls::builder()
            .rules(OwnershipControlsRule::builder().object_ownership(o).build().unwrap())
            .build()
            .unwrap()
    };
    bob.put_bucket_ownership_controls()
        .bucket(&bucket)
        .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .unwrap();
    let got = bob.get_bucket_ownership_controls().bucket(&bucket).send().await.unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership(), &ObjectOwnership::BucketOwnerEnforced);

    let put = |acl: ObjectCannedAcl| {
        bob.put_object().bucket(&bucket).key("k").acl(acl).body(ByteStream::from_static(b"x")).send()
    };
    let err = put(ObjectCannedAcl::PublicRead).await.unwrap_err();
    assert_eq!((support::status(&err), support::code(&err).as_str()), (400, "AccessControlListNotSupported"));
    put(ObjectCannedAcl::BucketOwnerFullControl).await.unwrap();
    let err = bob.put_bucket_acl().bucket(&bucket).acl(BucketCannedAcl::PublicRead).send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessControlListNotSupported");

    let other = support::bucket("acl-owned-new");
    let err = bob
        .create_bucket()
        .bucket(&other)
        .acl(BucketCannedAcl::PublicRead)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap_err();
    assert_eq!(support::code(&err), "InvalidBucketAclWithObjectOwnership");
    assert!(bob.head_bucket().bucket(&other).send().await.is_err(), "nothing was created");

    bob.delete_bucket_ownership_controls().bucket(&bucket).send().await.unwrap();
    put(ObjectCannedAcl::PublicRead).await.unwrap();
}
