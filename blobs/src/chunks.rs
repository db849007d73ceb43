//! Per-chunk CRC32C on stored blobs, so a corrupted chunk is never served.
//!
//! A blob file is its data, then one little-endian CRC32C per [`CHUNK`] bytes of data
//! (the last chunk may be short), then a footer: [`MAGIC`] and the chunk size as a
//! little-endian `u32`. The data length comes from the object record, so the table
//! needs no index: it starts right after the data. A file exactly as long as its data
//! was written before chunk checksums existed and is read without checks; a file of any
//! other length (cut short, or grown) is refused as corrupt.

use std::fs::File;
use std::os::unix::fs::FileExt;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use rucket_schemas::BlobId;

use crate::{BlobError, BlobStore};

/// Bytes of data covered by one CRC32C.
pub const CHUNK: usize = 64 * 1024;
const MAGIC: &[u8; 8] = b"RKTCRC32";
const FOOTER: u64 = MAGIC.len() as u64 + 4;

/// The metric counting chunks whose CRC32C did not match (and were not served).
pub const CORRUPTIONS_METRIC: &str = "rucket_blob_corruptions_total";

fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

fn chunks_in(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64)
}

/// The length a blob file with `size` bytes of data and its table has.
pub(crate) fn file_len(size: u64) -> u64 {
    size + 4 * chunks_in(size) + FOOTER
}

/// Builds the CRC table while the data streams past, in whatever pieces it arrives.
pub(crate) struct ChunkSums {
    table: Vec<u8>,
    digest: crc_fast::Digest,
    fill: usize,
}

impl ChunkSums {
    pub(crate) fn new() -> Self {
        Self { table: Vec::new(), digest: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi), fill: 0 }
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = (CHUNK - self.fill).min(bytes.len());
            self.digest.update(&bytes[..n]);
            self.fill += n;
            bytes = &bytes[n..];
            if self.fill == CHUNK {
                self.close_chunk();
            }
        }
    }

    fn close_chunk(&mut self) {
        let crc = self.digest.finalize_reset() as u32;
        self.table.extend_from_slice(&crc.to_le_bytes());
        self.fill = 0;
    }

    /// The table and footer to append after the data.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.fill > 0 {
            self.close_chunk();
        }
        self.table.extend_from_slice(MAGIC);
        self.table.extend_from_slice(&(CHUNK as u32).to_le_bytes());
        self.table
    }
}

/// Reads a byte range of a blob in whole chunks, checking each chunk's CRC32C before
/// any of its bytes are handed out.
pub struct BlobReader {
    id: BlobId,
    file: File,
    /// The CRCs of the chunks the range touches (`None`: a file from before the table).
    sums: Option<Vec<u8>>,
    first_chunk: u64,
    size: u64,
    /// The next (chunk-aligned) data offset to read.
    pos: u64,
    /// Bytes at the front of the next read that lie before the range.
    skip: usize,
    /// Bytes of the range not yet handed out.
    remaining: u64,
}

impl BlobStore {
    /// Opens `len` bytes from `start` of a blob holding `size` bytes of data. The open
    /// file stays readable even if the blob is released (unlinked) meanwhile.
    pub fn reader(&self, id: &BlobId, size: u64, start: u64, len: u64) -> Result<BlobReader, BlobError> {
        let file = self.open_file(id)?;
        let on_disk = file.metadata()?.len();
        let first_chunk = start / CHUNK as u64;
        let end_chunk = chunks_in(start + len).max(first_chunk);
        let sums = if on_disk == file_len(size) {
            let mut footer = [0u8; FOOTER as usize];
            file.read_exact_at(&mut footer, on_disk - FOOTER)?;
            if &footer[..MAGIC.len()] != MAGIC || footer[MAGIC.len()..] != (CHUNK as u32).to_le_bytes() {
                return Err(self.corrupt(id, size, "the chunk table footer is damaged"));
            }
            let mut sums = vec![0u8; 4 * (end_chunk - first_chunk) as usize];
            file.read_exact_at(&mut sums, size + 4 * first_chunk)?;
            Some(sums)
        } else if on_disk == size && size > 0 {
            tracing::debug!(blob = %id, "a blob without a chunk table: read unchecked");
            None
        } else {
            let detail = format!("the file holds {on_disk} bytes for {size} bytes of data");
            return Err(self.corrupt(id, 0, &detail));
        };
        Ok(BlobReader {
            id: id.clone(),
            file,
            sums,
            first_chunk,
            size,
            pos: first_chunk * CHUNK as u64,
            skip: (start % CHUNK as u64) as usize,
            remaining: len,
        })
    }

    fn corrupt(&self, id: &BlobId, offset: u64, detail: &str) -> BlobError {
        tracing::error!(blob = %id, offset, detail, path = %self.path_of(id).display(), "corrupt blob: not served");
        metrics::counter!(CORRUPTIONS_METRIC).increment(1);
        BlobError::Corrupt { blob: id.to_string(), offset }
    }
}

/// A reader that hands out a blob's bytes in blocks, checked before they leave it.
pub trait BlockRead: Send + Sync + 'static {
    /// Reads, checks and returns the next piece of the range (about `block` bytes, a
    /// multiple of [`CHUNK`]); `None` once the range is complete.
    fn next_block(&mut self, block: usize) -> Result<Option<Bytes>, BlobError>;

    /// The rest of the range as a stream of checked blocks, each read on the blocking pool.
    fn into_stream(self, block: usize) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
    where
        Self: Sized,
    {
        futures::stream::unfold(Some(self), move |state| async move {
            let mut reader = state?;
            let read = tokio::task::spawn_blocking(move || {
                let got = reader.next_block(block);
                (reader, got)
            })
            .await;
            match read {
                Ok((reader, Ok(Some(bytes)))) => Some((Ok(bytes), Some(reader))),
                Ok((_, Ok(None))) => None,
                Ok((_, Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        })
    }
}

impl<R: BlockRead + ?Sized> BlockRead for Box<R> {
    fn next_block(&mut self, block: usize) -> Result<Option<Bytes>, BlobError> {
        (**self).next_block(block)
    }
}

impl BlockRead for BlobReader {
    fn next_block(&mut self, block: usize) -> Result<Option<Bytes>, BlobError> {
        debug_assert!(block >= CHUNK && block.is_multiple_of(CHUNK));
        if self.remaining == 0 {
            return Ok(None);
        }
        let wanted_end = self.pos + self.skip as u64 + self.remaining;
        let chunk_end = wanted_end.div_ceil(CHUNK as u64) * CHUNK as u64;
        let read_end = chunk_end.min(self.size).min(self.pos + block as u64);
        let mut buf = BytesMut::zeroed((read_end - self.pos) as usize);
        self.file.read_exact_at(&mut buf, self.pos)?;
        for (i, chunk) in buf.chunks(CHUNK).enumerate() {
            let Some(sums) = &self.sums else { break };
            let index = self.pos / CHUNK as u64 + i as u64;
            let at = 4 * (index - self.first_chunk) as usize;
            let expected = u32::from_le_bytes(sums[at..at + 4].try_into().expect("4 bytes"));
            if crc32c(chunk) != expected {
                let offset = index * CHUNK as u64;
                tracing::error!(blob = %self.id, offset, "chunk CRC32C mismatch: not served");
                metrics::counter!(CORRUPTIONS_METRIC).increment(1);
                return Err(BlobError::Corrupt { blob: self.id.to_string(), offset });
            }
        }
        let data = buf.freeze();
        let take = ((data.len() - self.skip) as u64).min(self.remaining) as usize;
        let out = data.slice(self.skip..self.skip + take);
        self.pos = read_end;
        self.skip = 0;
        self.remaining -= take as u64;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::Durability;

    /// Writes `data` as a blob with its table, the way the ingest writer does.
    fn write_blob(store: &BlobStore, data: &[u8], pieces: usize) -> BlobId {
        let (id, mut file) = store.create().unwrap();
        let mut sums = ChunkSums::new();
        for piece in data.chunks(pieces.max(1)) {
            sums.update(piece);
            file.write_all(piece).unwrap();
        }
        file.write_all(&sums.finish()).unwrap();
        id
    }

    fn read_all(
        store: &BlobStore,
        id: &BlobId,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, BlobError> {
        let mut reader = store.reader(id, size, start, len)?;
        let mut out = Vec::new();
        while let Some(block) = reader.next_block(2 * CHUNK)? {
            out.extend_from_slice(&block);
        }
        Ok(out)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn ranges_read_back_exactly_whatever_the_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Relaxed).unwrap();
        let data = pattern(3 * CHUNK + 1234);
        let id = write_blob(&store, &data, 7777);
        let size = data.len() as u64;
        assert_eq!(std::fs::metadata(store.path_of(&id)).unwrap().len(), file_len(size));
        for (start, len) in
            [(0, size), (1, 10), (CHUNK as u64 - 1, 2), (CHUNK as u64, CHUNK as u64), (size - 5, 5)]
        {
            let got = read_all(&store, &id, size, start, len).unwrap();
            assert_eq!(got, &data[start as usize..(start + len) as usize], "range {start}+{len}");
        }
        assert!(read_all(&store, &id, size, 10, 0).unwrap().is_empty());
    }

    #[test]
    fn an_empty_blob_has_only_a_footer() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Relaxed).unwrap();
        let id = write_blob(&store, b"", 1);
        assert_eq!(std::fs::metadata(store.path_of(&id)).unwrap().len(), FOOTER);
        assert!(read_all(&store, &id, 0, 0, 0).unwrap().is_empty());
    }

    #[test]
    fn a_flipped_bit_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Relaxed).unwrap();
        let data = pattern(2 * CHUNK + 10);
        let id = write_blob(&store, &data, CHUNK);
        let mut bytes = std::fs::read(store.path_of(&id)).unwrap();
        bytes[CHUNK + 100] ^= 0x10;
        std::fs::write(store.path_of(&id), &bytes).unwrap();
        let size = data.len() as u64;
        // The first chunk is intact; a range inside it still reads.
        assert_eq!(read_all(&store, &id, size, 0, 100).unwrap(), &data[..100]);
        let err = read_all(&store, &id, size, CHUNK as u64 + 200, 10).unwrap_err();
        assert!(matches!(err, BlobError::Corrupt { offset, .. } if offset == CHUNK as u64), "{err:?}");
        // A whole read fails at the damaged chunk, having handed out only what it checked.
        let mut reader = store.reader(&id, size, 0, size).unwrap();
        assert_eq!(reader.next_block(CHUNK).unwrap().unwrap().as_ref(), &data[..CHUNK]);
        assert!(matches!(reader.next_block(CHUNK), Err(BlobError::Corrupt { .. })));
    }

    #[test]
    fn truncated_files_and_damaged_footers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Relaxed).unwrap();
        let data = pattern(CHUNK + 10);
        let size = data.len() as u64;
        let id = write_blob(&store, &data, 1000);
        let path = store.path_of(&id);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(store.reader(&id, size, 0, size), Err(BlobError::Corrupt { .. })));
        std::fs::write(&path, &bytes[..100]).unwrap();
        assert!(matches!(store.reader(&id, size, 0, size), Err(BlobError::Corrupt { .. })));
    }

    #[test]
    fn files_from_before_the_table_are_read_unchecked() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Relaxed).unwrap();
        let (id, mut file) = store.create().unwrap();
        file.write_all(b"data with no chunk table").unwrap();
        assert_eq!(read_all(&store, &id, 24, 5, 4).unwrap(), b"with");
        // Any other length is damage.
        assert!(matches!(read_all(&store, &id, 30, 0, 30), Err(BlobError::Corrupt { offset: 0, .. })));
    }
}
