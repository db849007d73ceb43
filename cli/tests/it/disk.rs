//! A full volume: below the disk reserve new writes get 507 InsufficientStorage naming
//! the volume, deletes still work, and once space is freed writes resume with no restart.
//! A log volume filled past the reserve (none set) makes `/live` fail, and the
//! restarted node has every acknowledged write.
//! Access records whose delivery the full volume refused are delivered once space returns.
//! The data dir lives on a small tmpfs the test mounts (skipped, saying so, where this
//! machine does not allow mounting).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::support::{self, Server};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self(at.to_owned())),
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount here: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_volume_refuses_writes_with_507_keeps_deletes_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_volume) = Tmpfs::mount(&dir.path().join("vol"), "96m") else { return };
    let mut server =
        Server::start_in(&dir.path().join("vol"), &["--disk-reserve-bytes", &(24u64 << 20).to_string()]);
    let s3 = server.client();
    let bucket = support::bucket("full");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let body = vec![5u8; 1 << 20];
    let mut stored = 0;
    let refusal = loop {
        assert!(stored < 96, "the reserve never refused a write");
        let put = s3.put_object().bucket(&bucket).key(format!("k{stored}"));
        match put.body(ByteStream::from(body.clone())).send().await {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(support::status(&refusal), 507, "{refusal:?}");
    assert_eq!(support::code(&refusal), "InsufficientStorage");
    let message = refusal.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
    assert!(message.contains("volume") && message.contains("reserve"), "{message}");
    assert!(stored > 20, "writes went through until the reserve ({stored})");
    // A write is refused when its declared size would take the volume below the reserve;
    // reads and deletes are not.
    let again = s3.put_object().bucket(&bucket).key("again").body(ByteStream::from(body.clone()));
    assert_eq!(support::status(&again.send().await.unwrap_err()), 507);
    let copy = s3.copy_object().bucket(&bucket).key("copied").copy_source(format!("{bucket}/k0"));
    assert_eq!(support::status(&copy.send().await.unwrap_err()), 507, "a copy writes bytes too");
    let got = s3.get_object().bucket(&bucket).key("k0").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), body.len());
    for n in 0..stored {
        s3.delete_object().bucket(&bucket).key(format!("k{n}")).send().await.unwrap();
    }
    // The collector frees the bytes in the background; writes resume with no restart.
    let mut resumed = false;
    for _ in 0..200 {
        let put = s3.put_object().bucket(&bucket).key("after");
        if put.body(ByteStream::from(body.clone())).send().await.is_ok() {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed, "writes did not resume after space was freed");
    let ready = reqwest::get(format!("{}/_rucket/health/ready", server.endpoint)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    server.stop();
}

/// Access records whose delivery a full volume refused are held and delivered once space
/// returns (they were dropped at the first failure before).
#[tokio::test]
async fn access_records_refused_by_a_full_volume_are_delivered_once_space_returns() {
    use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("vol");
    let Some(_volume) = Tmpfs::mount(&volume, "64m") else { return };
    let reserve = 16u64 << 20;
    let mut server = Server::start_in(
        &volume,
        &["--disk-reserve-bytes", &reserve.to_string(), "--access-log-flush-ms", "200"],
    );
    let s3 = server.client();
    let (source, target) = (support::bucket("logged"), support::bucket("logs"));
    for name in [&source, &target] {
        s3.create_bucket().bucket(name).send().await.unwrap();
    }
    let enabled = LoggingEnabled::builder().target_bucket(&target).target_prefix("logs/").build().unwrap();
    let status = BucketLoggingStatus::builder().logging_enabled(enabled).build();
    s3.put_bucket_logging().bucket(&source).bucket_logging_status(status).send().await.unwrap();
    s3.put_object().bucket(&source).key("a").body(ByteStream::from_static(b"abc")).send().await.unwrap();
    // The operations of the records delivered so far.
    let delivered = || async {
        let mut operations = Vec::new();
        let listed = s3.list_objects_v2().bucket(&target).prefix("logs/").send().await.unwrap();
        for object in listed.contents() {
            let got = s3.get_object().bucket(&target).key(object.key().unwrap()).send().await.unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            operations.extend(text.lines().filter_map(|l| l.split(' ').nth(7)).map(str::to_owned));
        }
        operations
    };
    let count = |operations: &[String], name: &str| operations.iter().filter(|o| *o == name).count();
    // Wait for the PUT's record, so that what follows is the GETs' alone.
    let mut put_delivered = false;
    for _ in 0..400 {
        put_delivered = count(&delivered().await, "REST.PUT.OBJECT") == 1;
        if put_delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(put_delivered, "the PUT's record was never delivered");

    // Below the reserve: the GETs are served, their records' delivery is refused.
    let ballast = volume.join("ballast");
    std::fs::write(&ballast, vec![1u8; (free_bytes(&volume) - reserve + (2 << 20)) as usize]).unwrap();
    for _ in 0..3 {
        s3.get_object().bucket(&source).key("a").send().await.unwrap();
    }
    let mut failed = 0.0;
    for _ in 0..400 {
        failed = support::metric(&server, "rucket_access_log_deliveries_failed_total").await.unwrap_or(0.0);
        if failed >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(failed >= 2.0, "no delivery was refused twice by the full volume ({failed})");
    assert_eq!(count(&delivered().await, "REST.GET.OBJECT"), 0, "nothing lands while the volume is full");

    std::fs::remove_file(&ballast).unwrap();
    let mut gets = 0;
    for _ in 0..400 {
        gets = count(&delivered().await, "REST.GET.OBJECT");
        if gets >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(gets, 3, "the held records were not delivered once space returned");
    let dropped = support::metric(&server, "rucket_access_log_records_dropped_total").await.unwrap_or(0.0);
    assert_eq!(dropped, 0.0, "no record is dropped");
    server.stop();
}

/// Free bytes on the filesystem holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let stat = nix::sys::statvfs::statvfs(path).unwrap();
    stat.blocks_available() * stat.fragment_size()
}

/// PUTs objects of `size` bytes (at most 4 KiB: inline, so they go to the log) from 8
/// clients until one is refused; returns the keys acknowledged and the first refusal.
async fn fill_log(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    size: usize,
) -> (
    Vec<String>,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError, support::HttpResponse>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let (s3, bucket, prefix, stop) = (s3.clone(), bucket.to_owned(), prefix.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..20_000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return (acked, None);
                    }
                    let key = format!("{prefix}-{w}-{i:05}");
                    let put =
                        s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(vec![w as u8; size]));
                    match put.send().await {
                        Ok(_) => acked.push(key),
                        Err(e) => {
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                            return (acked, Some(e));
                        }
                    }
                }
                (acked, None)
            })
        })
        .collect();
    let (mut acked, mut refusal) = (Vec::new(), None);
    for task in tasks {
        let (keys, error) = task.await.unwrap();
        acked.extend(keys);
        refusal = refusal.or(error);
    }
    (acked, refusal.expect("the log volume never filled"))
}

async fn put_4k(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.put_object().bucket(bucket).key(key).body(ByteStream::from(vec![9u8; 4096])).send().await.unwrap();
}

async fn all_readable(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String], size: usize) {
    for key in keys {
        let got = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), size, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_log_volume_refuses_writes_then_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("data/log");
    let Some(_volume) = Tmpfs::mount(&log_dir, "64m") else { return };
    let reserve = 16u64 << 20;
    let mut server = Server::start_in(dir.path(), &["--disk-reserve-bytes", &reserve.to_string()]);
    let s3 = server.client();
    let bucket = support::bucket("log-full");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // Leave 3 MiB above the reserve, so a few hundred small PUTs reach it.
    let ballast = log_dir.join("ballast");
    std::fs::write(&ballast, vec![1u8; (free_bytes(&log_dir) - reserve - (3 << 20)) as usize]).unwrap();
    let (acked, refusal) = fill_log(&s3, &bucket, "a", 4096).await;
    assert_eq!(support::status(&refusal), 507, "{refusal:?}");
    let message = refusal.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
    assert!(message.contains("The log volume"), "{message}");
    assert!(!acked.is_empty());
    s3.delete_object().bucket(&bucket).key(&acked[0]).send().await.unwrap();

    // Space returns: writes resume with no restart.
    std::fs::remove_file(&ballast).unwrap();
    let freed = std::time::Instant::now();
    put_4k(&s3, &bucket, "resumed").await;
    eprintln!("log volume: the first write after space returned took {:?}", freed.elapsed());
    all_readable(&s3, &bucket, &acked[1..], 4096).await;

    // With no reserve the storage engine itself runs out of space: writes fail, `/live`
    // fails so a supervisor restarts the node, and the restarted node has every
    // acknowledged write once space is freed.
    server.stop();
    let mut server = Server::start_in(dir.path(), &["--disk-reserve-bytes", "0"]);
    let s3 = server.client();
    std::fs::write(&ballast, vec![1u8; (free_bytes(&log_dir) - (3 << 20)) as usize]).unwrap();
    let (more, mut failure) = fill_log(&s3, &bucket, "b", 4096).await;
    // A write is refused by its declared size when fewer bytes than that are free, even
    // with no reserve; empty bodies are never refused so, and fill the log to the end.
    let mut empty = Vec::new();
    if support::status(&failure) == 507 {
        (empty, failure) = fill_log(&s3, &bucket, "c", 0).await;
    }
    eprintln!(
        "log volume: {} PUTs before the reserve, {} before the disk filled ({})",
        acked.len(),
        more.len(),
        support::code(&failure)
    );
    assert!(support::status(&failure) >= 500, "{failure:?}");
    let live = reqwest::get(format!("{}/_rucket/health/live", server.endpoint)).await.unwrap();
    assert_eq!(live.status().as_u16(), 503, "a node that cannot write its log is not live");
    server.kill();
    std::fs::remove_file(&ballast).unwrap();
    let restarted = std::time::Instant::now();
    let server = Server::start_in(dir.path(), &["--disk-reserve-bytes", "0"]);
    eprintln!("log volume: restart after the disk filled took {:?}", restarted.elapsed());
    let s3 = server.client();
    all_readable(&s3, &bucket, &acked[1..], 4096).await;
    all_readable(&s3, &bucket, &more, 4096).await;
    all_readable(&s3, &bucket, &empty, 0).await;
    put_4k(&s3, &bucket, "after-restart").await;
}
