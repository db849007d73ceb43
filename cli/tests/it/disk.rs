//! A full volume: below the disk reserve new writes get 507 InsufficientStorage naming
//! the volume, deletes still work, and once space is freed writes resume with no restart.
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
