//! ListObjects v1, v2 and ListObjectVersions.

use aws_sdk_s3::types::EncodingType;

use crate::support::{bucket, code, Server};

async fn fill(s3: &aws_sdk_s3::Client, name: &str, keys: &[&str]) {
    s3.create_bucket().bucket(name).send().await.unwrap();
    for key in keys {
        s3.put_object().bucket(name).key(*key).body(key.as_bytes().to_vec().into()).send().await.unwrap();
    }
}

#[tokio::test]
async fn v2_pages_with_continuation_tokens_and_delimiters() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("v2");
    let keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "z z", "über"];
    fill(&s3, &name, &keys).await;

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&name)
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.key_count().unwrap() <= 3);
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, keys, "every key once, in byte order");

    let page = s3.list_objects_v2().bucket(&name).delimiter("/").send().await.unwrap();
    let objects: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    let prefixes: Vec<_> = page.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(objects, ["b", "d", "z z", "über"]);
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(page.key_count(), Some(6));

    let page = s3.list_objects_v2().bucket(&name).prefix("c/").delimiter("/").send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["c/y"]);
    assert_eq!(page.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect::<Vec<_>>(), ["c/x/"]);

    let page = s3.list_objects_v2().bucket(&name).start_after("c/y").send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["d", "z z", "über"]);

    let page =
        s3.list_objects_v2().bucket(&name).prefix("z").encoding_type(EncodingType::Url).send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["z%20z"]);

    let page = s3.list_objects_v2().bucket(&name).fetch_owner(true).max_keys(1).send().await.unwrap();
    assert_eq!(page.contents()[0].owner().and_then(|o| o.id()), Some("root"));
    assert_eq!(page.contents()[0].size(), Some(3));

    let err = s3.list_objects_v2().bucket(&name).max_keys(-1).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
    let err = s3.list_objects_v2().bucket(&name).continuation_token("%%%").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgument");
}

#[tokio::test]
async fn v1_markers() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("v1");
    fill(&s3, &name, &["a/1", "a/2", "b", "c"]).await;
    let page = s3.list_objects().bucket(&name).max_keys(2).send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["a/1", "a/2"]);
    assert_eq!(page.is_truncated(), Some(true));
    let page = s3.list_objects().bucket(&name).marker("a/2").send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(page.is_truncated(), Some(false));

    let page = s3.list_objects().bucket(&name).delimiter("/").max_keys(1).send().await.unwrap();
    assert_eq!(page.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect::<Vec<_>>(), ["a/"]);
    assert_eq!(page.next_marker(), Some("a/"));
    let page = s3.list_objects().bucket(&name).delimiter("/").marker("a/").send().await.unwrap();
    assert_eq!(page.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), ["b", "c"]);
    assert!(page.common_prefixes().is_empty(), "the marker's prefix is not listed again");
}

#[tokio::test]
async fn versions_list_null_versions_for_cleanup() {
    let server = Server::start();
    let s3 = server.client();
    let name = bucket("versions");
    fill(&s3, &name, &["a", "b", "c"]).await;
    let out = s3.list_object_versions().bucket(&name).max_keys(2).send().await.unwrap();
    let versions: Vec<_> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(versions, [("a", "null", true), ("b", "null", true)]);
    assert_eq!(out.is_truncated(), Some(true));
    let out = s3
        .list_object_versions()
        .bucket(&name)
        .key_marker(out.next_key_marker().unwrap())
        .version_id_marker(out.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.versions().iter().map(|v| v.key().unwrap()).collect::<Vec<_>>(), ["c"]);
    // The cleanup loop test suites run: delete every listed version, then the bucket.
    let all = s3.list_object_versions().bucket(&name).send().await.unwrap();
    for v in all.versions() {
        s3.delete_object()
            .bucket(&name)
            .key(v.key().unwrap())
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&name).send().await.unwrap();
}
