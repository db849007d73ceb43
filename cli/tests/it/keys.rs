//! Access keys through the admin API and `rucket key`: created with a secret shown once
//! and stored only sealed, used, limited by an identity policy, disabled, deleted, kept
//! across restarts and master key rotation; refused to everyone but operators.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::support::{self, Server, ALICE_KEY, ALICE_SECRET, ROOT_KEY, ROOT_SECRET};

/// Runs `rucket key <args>` against `server` as `key`; the JSON answer, or stderr.
fn key_cli(server: &Server, (key, secret): (&str, &str), args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_rucket"))
        .arg("key")
        .args(args)
        .args(["--endpoint", &server.endpoint])
        .env("RUCKET_ACCESS_KEY_ID", key)
        .env("RUCKET_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the CLI prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn files_containing(root: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn access_keys_through_the_admin_api() {
    let keys = tempfile::tempdir().unwrap();
    let (old, new) =
        (support::write_master_key(keys.path(), "old", 1), support::write_master_key(keys.path(), "new", 2));
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &["--master-key-file", &old]);
    let root = (ROOT_KEY, ROOT_SECRET);

    // Created by root: the secret is shown once, never listed, never stored in the clear.
    let created = key_cli(&server, root, &["create", "--user", "carol"]).unwrap();
    let id = created["access_key_id"].as_str().unwrap().to_owned();
    let secret = created["secret_access_key"].as_str().unwrap().to_owned();
    assert_eq!(created["user"], "carol");
    let carol = server.client_as(&id, &secret);
    let bucket = support::bucket("carol");
    carol.create_bucket().bucket(&bucket).send().await.unwrap();
    for key in ["public/a", "private/b"] {
        carol.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let listed = key_cli(&server, root, &["list"]).unwrap();
    let entry =
        listed["keys"].as_array().unwrap().iter().find(|k| k["access_key_id"] == id.as_str()).unwrap();
    assert_eq!((entry["user"].as_str(), entry["enabled"].as_bool()), (Some("carol"), Some(true)));
    assert!(!listed.to_string().contains(&secret), "a listing never shows a secret");
    assert!(
        files_containing(&server.data_dir(), secret.as_bytes()).is_empty(),
        "the secret is stored sealed"
    );

    // Only operators manage keys; bad input changes nothing.
    let refused = key_cli(&server, (ALICE_KEY, ALICE_SECRET), &["list"]).unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    let bad_user = key_cli(&server, root, &["create", "--user", "root"]).unwrap_err();
    assert!(bad_user.contains("400 Bad Request") && bad_user.contains("not valid"), "{bad_user}");
    let policy_file = dir.path().join("policy.json");
    std::fs::write(
        &policy_file,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let malformed =
        key_cli(&server, root, &["allow", &id, "--policy", policy_file.to_str().unwrap()]).unwrap_err();
    assert!(malformed.contains("MalformedPolicy"), "{malformed}");
    let missing = key_cli(&server, root, &["delete", "AKNOSUCHKEY"]).unwrap_err();
    assert!(missing.contains("NoSuchEntity"), "{missing}");

    // An identity policy limits the key to reads under public/.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/public/*"}}]}}"#
    );
    std::fs::write(&policy_file, policy).unwrap();
    key_cli(&server, root, &["allow", &id, "--policy", policy_file.to_str().unwrap()]).unwrap();
    carol.get_object().bucket(&bucket).key("public/a").send().await.unwrap();
    let err = carol.get_object().bucket(&bucket).key("private/b").send().await.unwrap_err();
    assert_eq!(support::code(&err), "AccessDenied");
    let err =
        carol.put_object().bucket(&bucket).key("public/c").body(ByteStream::from_static(b"y")).send().await;
    assert_eq!(support::code(&err.unwrap_err()), "AccessDenied");
    assert_eq!(support::code(&carol.list_buckets().send().await.unwrap_err()), "AccessDenied");
    let feed = crate::feed::subscribe_as(&server, &id, &secret, "from=oldest", None).await;
    assert_eq!(feed.status(), 403, "a policy-limited key may not follow the feed");

    // A copy's source and each key of a DeleteObjects are judged by the policy too.
    let policy = format!(
        r#"{{"Statement":[
            {{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::{bucket}/public/*"}},
            {{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{bucket}/public/keep*"}}]}}"#
    );
    std::fs::write(&policy_file, policy).unwrap();
    key_cli(&server, root, &["allow", &id, "--policy", policy_file.to_str().unwrap()]).unwrap();
    let copy = carol
        .copy_object()
        .bucket(&bucket)
        .key("public/copy")
        .copy_source(format!("{bucket}/private/b"))
        .send();
    assert_eq!(support::code(&copy.await.unwrap_err()), "AccessDenied", "the source is outside the policy");
    carol
        .copy_object()
        .bucket(&bucket)
        .key("public/keep")
        .copy_source(format!("{bucket}/public/a"))
        .send()
        .await
        .unwrap();
    let delete = aws_sdk_s3::types::Delete::builder()
        .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("public/keep").build().unwrap())
        .objects(aws_sdk_s3::types::ObjectIdentifier::builder().key("public/a").build().unwrap())
        .build()
        .unwrap();
    let out = carol.delete_objects().bucket(&bucket).delete(delete).send().await.unwrap();
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    let errors: Vec<_> =
        out.errors().iter().map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default())).collect();
    assert_eq!(deleted, ["public/a"]);
    assert_eq!(errors, [("public/keep", "AccessDenied")]);
    carol
        .put_object()
        .bucket(&bucket)
        .key("public/a")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    key_cli(&server, root, &["allow", &id, "--clear"]).unwrap();
    carol.get_object().bucket(&bucket).key("private/b").send().await.unwrap();

    // A scoped admin token manages keys (and nothing more than its own buckets).
    let token = key_cli(&server, root, &["create", "--user", "ops", "--admin"]).unwrap();
    let token = (
        token["access_key_id"].as_str().unwrap().to_owned(),
        token["secret_access_key"].as_str().unwrap().to_owned(),
    );
    // A token cannot make itself more: no admin tokens, no keys for existing users, no
    // changes to its own key.
    let escalate =
        key_cli(&server, (&token.0, &token.1), &["create", "--user", "erin", "--admin"]).unwrap_err();
    assert!(escalate.contains("AccessDenied"), "{escalate}");
    for existing in ["alice", "carol"] {
        let impersonate =
            key_cli(&server, (&token.0, &token.1), &["create", "--user", existing]).unwrap_err();
        assert!(impersonate.contains("AccessDenied"), "{existing}: {impersonate}");
    }
    let own = key_cli(&server, (&token.0, &token.1), &["delete", &token.0]).unwrap_err();
    assert!(own.contains("AccessDenied"), "{own}");
    let erin = key_cli(&server, (&token.0, &token.1), &["create", "--user", "erin"]).unwrap();
    assert_eq!(erin["user"], "erin");
    key_cli(&server, (&token.0, &token.1), &["disable", &id]).unwrap();
    let err = carol.get_object().bucket(&bucket).key("public/a").send().await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidAccessKeyId");
    assert!(server
        .client_as(&token.0, &token.1)
        .get_object()
        .bucket(&bucket)
        .key("public/a")
        .send()
        .await
        .is_err());
    key_cli(&server, (&token.0, &token.1), &["enable", &id]).unwrap();

    // A subscription ends at its next heartbeat once its key is disabled.
    let mut feed = crate::feed::subscribe_as(&server, &token.0, &token.1, "heartbeat=1", None).await;
    assert_eq!(feed.status(), 200);
    key_cli(&server, root, &["disable", &token.0]).unwrap();
    let mut seen = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = feed.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("revoked") {
                return true;
            }
        }
        false
    });
    assert!(ended.await.unwrap_or(false), "the stream did not end as revoked: {seen}");

    // Keys survive a restart and a master key rotation (secrets are re-sealed).
    server.stop();
    let mut server =
        Server::start_in(dir.path(), &["--master-key-file", &new, "--previous-master-key-file", &old]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while support::metric(&server, "rucket_data_keys_under_previous_master_keys").await != Some(0.0) {
        assert!(tokio::time::Instant::now() < deadline, "the rotation did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop();
    let server = Server::start_in(dir.path(), &["--master-key-file", &new]);
    let carol = server.client_as(&id, &secret);
    carol.get_object().bucket(&bucket).key("public/a").send().await.unwrap();

    key_cli(&server, root, &["delete", &id]).unwrap();
    let err = carol.get_object().bucket(&bucket).key("public/a").send().await.unwrap_err();
    assert_eq!(support::code(&err), "InvalidAccessKeyId");
    let listed = key_cli(&server, root, &["list"]).unwrap();
    assert!(!listed.to_string().contains(&id));
}

#[tokio::test]
async fn keys_need_a_master_key() {
    let server = Server::start();
    let refused = key_cli(&server, (ROOT_KEY, ROOT_SECRET), &["create", "--user", "dave"]).unwrap_err();
    assert!(refused.contains("RUCKET_MASTER_KEY_FILE"), "{refused}");
    let listed = key_cli(&server, (ROOT_KEY, ROOT_SECRET), &["list"]).unwrap();
    assert_eq!(listed["keys"], serde_json::json!([]));

    // The admin API's other refusals, by status.
    let base = format!("{}/_rucket/v1/admin/keys", server.endpoint);
    let send = |method: &str, url: String, body: Vec<u8>| {
        let request = rucket_cli::sigv4::Signer::new(ROOT_KEY, ROOT_SECRET, "us-east-1")
            .request(method, &url, body.into())
            .unwrap();
        async move { reqwest::Client::new().execute(request).await.unwrap().status().as_u16() }
    };
    assert_eq!(send("PATCH", base.clone(), Vec::new()).await, 405);
    assert_eq!(send("GET", format!("{base}/AK1/policy/extra"), Vec::new()).await, 404);
    assert_eq!(send("POST", base.clone(), vec![b' '; 70 << 10]).await, 413);
    assert_eq!(send("POST", base.clone(), b"{\"user\": 1}".to_vec()).await, 400);
    let unsigned = reqwest::get(&base).await.unwrap().status().as_u16();
    assert_eq!(unsigned, 403);
}
