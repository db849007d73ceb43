//! Blob files on disk: `<dir>/<first two hex digits>/<blob id>`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rucket_schemas::BlobId;

use crate::BlobError;

/// What an acknowledged write promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Blob bytes and their directory entry are fsynced before the event is proposed.
    #[default]
    Strict,
    /// Blob bytes are left to the kernel's writeback; a crash may lose recent objects.
    Relaxed,
}

/// The directory of blob files.
#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
    durability: Durability,
}

impl BlobStore {
    /// Opens (creating if needed) a blob directory with its 256 fan-out folders, so the
    /// write path never creates a directory.
    pub fn open(dir: impl Into<PathBuf>, durability: Durability) -> Result<Self, BlobError> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        for i in 0..=255u8 {
            let sub = dir.join(format!("{i:02x}"));
            if !sub.is_dir() {
                fs::create_dir(&sub)?;
            }
        }
        sync_dir(&dir)?;
        Ok(Self { dir, durability })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn path_of(&self, id: &BlobId) -> PathBuf {
        self.dir.join(&id.as_str()[..2]).join(id.as_str())
    }

    /// Creates a new, empty blob file under a fresh random id.
    pub(crate) fn create(&self) -> Result<(BlobId, File), BlobError> {
        loop {
            let id = BlobId::from_bytes(rand::random());
            match File::options().write(true).create_new(true).open(self.path_of(&id)) {
                Ok(file) => return Ok((id, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes a finished blob durable according to the store's mode.
    pub(crate) fn seal(&self, id: &BlobId, file: &mut File) -> Result<(), BlobError> {
        file.flush()?;
        if self.durability == Durability::Strict {
            file.sync_data()?;
            sync_dir(&self.dir.join(&id.as_str()[..2]))?;
        }
        Ok(())
    }

    /// Opens a blob file for reading (see [`BlobStore::reader`]).
    pub(crate) fn open_file(&self, id: &BlobId) -> Result<File, BlobError> {
        File::open(self.path_of(id)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(id.to_string()),
            _ => e.into(),
        })
    }

    /// Deletes a blob; a blob that is already gone is not an error.
    pub fn remove(&self, id: &BlobId) -> Result<(), BlobError> {
        match fs::remove_file(self.path_of(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every blob id on disk, for the orphan sweep.
    pub fn list(&self) -> Result<Vec<BlobId>, BlobError> {
        let mut ids = Vec::new();
        for i in 0..=255u8 {
            let sub = self.dir.join(format!("{i:02x}"));
            for entry in fs::read_dir(&sub)? {
                let entry = entry?;
                if let Some(id) = entry.file_name().to_str().and_then(BlobId::from_file_name) {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}
