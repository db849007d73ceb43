//! Free space on the volumes that hold the log and the blobs. Below the reserve, new
//! writes are refused at once with 507 InsufficientStorage naming the volume, while
//! deletes (which free space) still go through; when space returns, writes resume with
//! no restart. The reserve keeps the log's storage engine from ever hitting a full disk
//! mid-write (which it survives only by a restart).

use std::path::{Path, PathBuf};

use s3s::S3Error;

#[derive(Clone, Debug)]
pub struct Volumes {
    /// What is checked, by name: `log` and `blobs`.
    volumes: Vec<(&'static str, PathBuf)>,
    reserve: u64,
    /// Bytes a body under way receives between two checks (see [`rucket_blobs::Room`]).
    every: u64,
}

/// A volume below its reserve.
#[derive(Debug, PartialEq, Eq)]
pub struct Short {
    pub volume: &'static str,
    pub path: PathBuf,
    pub free: u64,
    pub reserve: u64,
}

impl Volumes {
    pub fn new(data_dir: &Path, reserve: u64) -> Self {
        Self {
            volumes: vec![("log", data_dir.join("log")), ("blobs", data_dir.join("blobs"))],
            reserve,
            every: 32 << 20,
        }
    }

    /// Checks a body under way often enough that `uploads` bodies at once, each writing
    /// up to a check's worth past its last one, use at most half the reserve: every
    /// 128 KiB with the default reserve and upload cap, at most every 32 MiB.
    pub fn for_uploads(mut self, uploads: usize) -> Self {
        let share = self.reserve / (2 * uploads.max(1) as u64);
        self.every = share.clamp(64 << 10, 32 << 20);
        self
    }

    /// The first volume that would be below its reserve after `needed` more bytes, if
    /// any. A volume whose free space cannot be read counts as short (the safe side).
    pub fn short(&self, needed: u64) -> Option<Short> {
        self.volumes.iter().find_map(|(volume, path)| {
            let free = free_bytes(path).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the free space of a volume");
                0
            });
            (free < self.reserve.saturating_add(needed)).then(|| Short {
                volume,
                path: path.clone(),
                free,
                reserve: self.reserve,
            })
        })
    }

    /// Refuses a new write of about `needed` bytes (its declared length; 0 when unknown)
    /// that would take a volume below its reserve.
    pub fn room_for_writes(&self, needed: u64) -> Result<(), S3Error> {
        let Some(short) = self.short(needed) else { return Ok(()) };
        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "disk_reserve").increment(1);
        Err(insufficient_storage(&short.message()))
    }
}

impl rucket_blobs::Room for Volumes {
    /// The message of the volume below its reserve, if one is (the write is aborted
    /// with 507).
    fn room_left(&self) -> Result<(), String> {
        self.short(0).map_or(Ok(()), |short| Err(short.message()))
    }

    fn every(&self) -> u64 {
        self.every
    }
}

impl Short {
    pub fn message(&self) -> String {
        format!(
            "The {} volume ({}) has {} bytes free, below its reserve of {} bytes: new writes are refused until space is freed (deletes still work).",
            self.volume,
            self.path.display(),
            self.free,
            self.reserve
        )
    }
}

/// 507 InsufficientStorage with `message`.
pub fn insufficient_storage(message: &str) -> S3Error {
    crate::errors::with_status("InsufficientStorage", message, http::StatusCode::INSUFFICIENT_STORAGE)
}

/// Bytes available to this process on the filesystem holding `path`.
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_under_way_check_often_enough_for_every_upload_at_once() {
        use rucket_blobs::Room as _;
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Volumes::new(dir.path(), 256 << 20).for_uploads(1024).every(), 128 << 10);
        assert_eq!(Volumes::new(dir.path(), 1 << 20).for_uploads(1024).every(), 64 << 10);
        assert_eq!(Volumes::new(dir.path(), 1 << 40).for_uploads(4).every(), 32 << 20);
        assert_eq!(Volumes::new(dir.path(), 256 << 20).every(), 32 << 20);
    }

    #[test]
    fn a_volume_below_its_reserve_refuses_writes_with_507() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        assert!(Volumes::new(dir.path(), 0).room_for_writes(0).is_ok());
        assert!(
            Volumes::new(dir.path(), 0).room_for_writes(u64::MAX / 2).is_err(),
            "a write larger than the disk"
        );
        let err = Volumes::new(dir.path(), u64::MAX).room_for_writes(0).unwrap_err();
        assert_eq!(err.status_code().map(|s| s.as_u16()), Some(507));
        assert!(err.message().unwrap_or_default().contains("The log volume"), "{err:?}");
        // A volume that cannot be read is short.
        let gone = Volumes::new(&dir.path().join("missing"), 1).short(0).unwrap();
        assert_eq!(gone.free, 0);
    }
}
