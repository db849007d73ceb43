//! Copying blob files between nodes. A copy travels as the file itself (data, CRC table,
//! footer); the receiving side checks every chunk against the table as the bytes stream
//! in, fsyncs, and only then gives the file its name, so a blob file is either whole and
//! verified or absent. How the bytes travel (the network) is the runtime's business.

use std::io::Write;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rucket_schemas::BlobId;

use crate::chunks::{file_len, ChunkSums, CHUNK};
use crate::{BlobError, BlobStore};

/// The data length of a blob file `len` bytes long, if a file of that length can hold
/// data, a CRC table and a footer.
fn data_len(len: u64) -> Option<u64> {
    let chunk = CHUNK as u64;
    let guess = len.checked_sub(12)? / (chunk + 4);
    (guess.saturating_sub(1)..=guess + 1)
        .filter_map(|chunks| len.checked_sub(12 + 4 * chunks))
        .find(|size| file_len(*size) == len)
}

impl BlobStore {
    /// Whether this node holds the blob's file.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.path_of(id).is_file()
    }

    /// Opens a blob file to send it whole; returns it with its length.
    pub fn open_for_copy(&self, id: &BlobId) -> Result<(std::fs::File, u64), BlobError> {
        let file = self.open_file(id)?;
        let len = file.metadata()?.len();
        Ok((file, len))
    }

    /// Stores a copy of blob `id` that arrives as `body`, a whole blob file of `len`
    /// bytes. Every chunk is checked against the file's own CRC table; a short, long or
    /// damaged copy is refused and leaves nothing behind. A blob already here is kept
    /// (copies of one blob are identical).
    pub async fn receive<S, E>(&self, id: &BlobId, len: u64, body: S) -> Result<(), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let corrupt = |detail: String| {
            tracing::warn!(blob = %id, detail, "refused a blob copy");
            BlobError::Corrupt { blob: id.to_string(), offset: 0 }
        };
        let size = data_len(len).ok_or_else(|| corrupt(format!("{len} bytes cannot be a blob file")))?;
        if self.contains(id) {
            // Drain nothing: the caller drops the body.
            return Ok(());
        }
        let final_path = self.path_of(id);
        let temp = final_path.with_extension(format!("incoming-{:016x}", rand::random::<u64>()));
        let mut file = std::fs::File::options().write(true).create_new(true).open(&temp)?;
        // Removes the partial file however the copy ends (an error, or the caller
        // dropping this future on a timeout or a reset stream) unless it was named.
        let mut guard = Incoming { path: Some(temp.clone()) };
        let result = async {
            let mut sums = ChunkSums::new();
            let mut tail = Vec::with_capacity((len - size) as usize);
            let mut seen = 0u64;
            let mut body = std::pin::pin!(body);
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|e| std::io::Error::other(format!("the copy broke off: {e}")))?;
                let data_part = (size.saturating_sub(seen)).min(piece.len() as u64) as usize;
                sums.update(&piece[..data_part]);
                tail.extend_from_slice(&piece[data_part..]);
                seen += piece.len() as u64;
                if seen > len {
                    return Err(corrupt(format!("more than the announced {len} bytes")));
                }
                file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                    file.write_all(&piece)?;
                    Ok(file)
                })
                .await
                .map_err(std::io::Error::other)??;
            }
            if seen != len {
                return Err(corrupt(format!("{seen} of {len} bytes arrived")));
            }
            if sums.finish() != tail {
                return Err(corrupt("a chunk does not match its CRC32C".into()));
            }
            let store = self.clone();
            let (id, temp, final_path) = (id.clone(), temp.clone(), final_path.clone());
            tokio::task::spawn_blocking(move || -> Result<(), BlobError> {
                let mut file = file;
                store.seal(&id, &mut file)?;
                std::fs::rename(&temp, &final_path)?;
                store.seal(&id, &mut file)?;
                Ok(())
            })
            .await
            .map_err(std::io::Error::other)?
        }
        .await;
        if result.is_ok() {
            guard.path = None;
        }
        result
    }

    /// Removes partial copies (`*.incoming-*`) older than `age` that a crash left.
    pub fn remove_stale_incoming(&self, age: std::time::Duration) -> Result<usize, BlobError> {
        let mut removed = 0;
        let now = std::time::SystemTime::now();
        for i in 0..=255u8 {
            for entry in std::fs::read_dir(
                self.path_of(&BlobId::from_bytes([i; 16])).parent().expect("a fan-out dir"),
            )? {
                let entry = entry?;
                if !entry.file_name().to_string_lossy().contains(".incoming-") {
                    continue;
                }
                // A copy that finishes or goes meanwhile is not an error.
                let old = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|m| now.duration_since(m).ok());
                if old.is_some_and(|old| old >= age) {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// A partial copy's file, removed when dropped while still set.
struct Incoming {
    path: Option<std::path::PathBuf>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_length_gives_back_its_data_length() {
        for size in [0u64, 1, 100, CHUNK as u64 - 1, CHUNK as u64, CHUNK as u64 + 1, 10 * CHUNK as u64 + 7] {
            assert_eq!(data_len(file_len(size)), Some(size), "size {size}");
        }
        assert_eq!(data_len(5), None);
    }

    fn blob_file(data: &[u8]) -> Vec<u8> {
        let mut sums = ChunkSums::new();
        sums.update(data);
        let mut file = data.to_vec();
        file.extend(sums.finish());
        file
    }

    fn pieces(file: &[u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let pieces: Vec<_> = file.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(pieces)
    }

    #[tokio::test]
    async fn a_copy_is_checked_chunk_by_chunk_and_named_only_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), crate::Durability::Strict).unwrap();
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let file = blob_file(&data);

        let good = BlobId::from_bytes([1; 16]);
        store.receive(&good, file.len() as u64, pieces(&file)).await.unwrap();
        let mut reader = store.reader(&good, data.len() as u64, 0, data.len() as u64).unwrap();
        let mut got = Vec::new();
        while let Some(block) = crate::BlockRead::next_block(&mut reader, CHUNK).unwrap() {
            got.extend_from_slice(&block);
        }
        assert_eq!(got, data);

        let mut damaged = file.clone();
        damaged[CHUNK + 3] ^= 1;
        let bad = BlobId::from_bytes([2; 16]);
        let err = store.receive(&bad, damaged.len() as u64, pieces(&damaged)).await.unwrap_err();
        assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
        let short = &file[..file.len() - 1];
        let err = store.receive(&bad, file.len() as u64, pieces(short)).await.unwrap_err();
        assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
        assert!(!store.contains(&bad));
        let leftovers: Vec<_> = std::fs::read_dir(store.path_of(&bad).parent().unwrap()).unwrap().collect();
        assert!(leftovers.is_empty(), "no temporary file is left: {leftovers:?}");
    }
}
