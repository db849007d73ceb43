//! kill -9 during concurrent writes loses no acknowledged object and leaves no object
//! half-visible.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::support::{bucket, Server};

fn body_for(worker: usize, i: usize) -> Vec<u8> {
    // Alternate inline (small) and blob (large) objects; every body is distinct.
    let size = if i.is_multiple_of(2) { 1_000 } else { 150_000 };
    let seed = (worker * 7919 + i * 104_729) as u32;
    (0..size as u32).map(|j| (seed.wrapping_add(j.wrapping_mul(2_654_435_761)) >> 13) as u8).collect()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_writes_loses_no_acknowledged_object() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let name = bucket("crash");
    server.client().create_bucket().bucket(&name).send().await.unwrap();

    const WORKERS: usize = 8;
    const KILL_AFTER: usize = 150;
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let attempted: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let (enough_tx, mut enough_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let s3 = server.client();
        let name = name.clone();
        let acked = acked.clone();
        let attempted = attempted.clone();
        let enough = enough_tx.clone();
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("w{w}/obj-{i:05}");
                let body = body_for(w, i);
                attempted.lock().unwrap().insert(key.clone(), md5_hex(&body));
                match s3.put_object().bucket(&name).key(&key).body(body.clone().into()).send().await {
                    Ok(out) => {
                        let etag = out.e_tag().unwrap().trim_matches('"').to_owned();
                        assert_eq!(etag, md5_hex(&body));
                        let n = {
                            let mut a = acked.lock().unwrap();
                            a.insert(key, etag);
                            a.len()
                        };
                        if n == KILL_AFTER {
                            let _ = enough.try_send(());
                        }
                    }
                    Err(_) => return, // the server died under us
                }
            }
        }));
    }
    drop(enough_tx);
    enough_rx.recv().await.expect("writes were acknowledged before the kill");
    server.kill();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();

    let server = Server::start_in(dir.path(), &[]);
    let s3 = server.client();
    for (key, etag) in &acked {
        let got = s3
            .get_object()
            .bucket(&name)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} lost: {e:?}"));
        assert_eq!(got.e_tag().unwrap().trim_matches('"'), etag);
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&md5_hex(&bytes), etag, "{key} has the acknowledged bytes");
    }
    // An attempt that was not acknowledged is either absent or whole, never partial.
    let mut unacked_visible = 0;
    let mut listed = 0;
    let mut token = None;
    loop {
        let page = s3.list_objects_v2().bucket(&name).set_continuation_token(token).send().await.unwrap();
        for object in page.contents() {
            listed += 1;
            let key = object.key().unwrap();
            let expected = attempted.get(key).unwrap_or_else(|| panic!("{key} was never written"));
            let got = s3.get_object().bucket(&name).key(key).send().await.unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            assert_eq!(&md5_hex(&bytes), expected, "{key} is whole");
            if !acked.contains_key(key) {
                unacked_visible += 1;
            }
        }
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert!(listed >= acked.len());
    // Every blob file left on disk belongs to a listed object: orphans were swept (by a
    // sweep that runs beside the listener, so it is waited for).
    let large_listed = {
        let mut n = 0;
        let mut token = None;
        loop {
            let page = s3.list_objects_v2().bucket(&name).set_continuation_token(token).send().await.unwrap();
            n += page.contents().iter().filter(|o| o.size().unwrap() > 4096).count();
            if !page.is_truncated().unwrap() {
                break;
            }
            token = page.next_continuation_token().map(str::to_owned);
        }
        n
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut blobs = crate::support::files_under(&server.data_dir().join("blobs"));
    while blobs != large_listed && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        blobs = crate::support::files_under(&server.data_dir().join("blobs"));
    }
    assert_eq!(blobs, large_listed, "no orphaned blob survives a restart");
    println!(
        "crash test: {} acknowledged, {} attempted, {} unacknowledged but committed, {} listed after restart, {} blobs",
        acked.len(),
        attempted.len(),
        unacked_visible,
        listed,
        blobs
    );
}
