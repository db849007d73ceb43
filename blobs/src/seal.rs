//! Encryption at rest: sealing a body's chunks as it is written, and opening them on read,
//! with a data key the caller holds (the key hierarchy that wraps data keys is the
//! gateway's, `gateway/src/master_key.rs`).
//!
//! - [`ObjectCipher`]: XChaCha20-Poly1305 over fixed [`PLAIN_CHUNK`] plaintext chunks.
//!   Each chunk's nonce is the object's random 16-byte prefix followed by the chunk index,
//!   and its associated data names the object (bucket, key, version, part), the index and
//!   whether it is the last chunk. A chunk cannot be moved, reordered, swapped between
//!   objects or dropped from the end without failing to open, and a range read opens only
//!   the chunks it touches.
//! - [`Sealer`] (used by ingest) and [`SealedReader`]: a sealed blob is the sealed chunks,
//!   under the same CRC32C chunk table as any blob. The blob's random id is the nonce
//!   prefix, so blobs sealed with one data key (an upload's parts) never share a nonce.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use bytes::{Bytes, BytesMut};
use rucket_schemas::BlobId;

use crate::{BlobError, BlobReader, BlobStore, BlockRead};

/// Plaintext bytes per sealed chunk.
pub const PLAIN_CHUNK: usize = 64 * 1024;
/// The Poly1305 tag each sealed chunk carries.
pub const TAG: usize = 16;

/// Where an object's bytes belong, bound into every chunk's associated data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectContext {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    /// The part number for a multipart part, 0 for a single-part object.
    pub part: u32,
}

impl ObjectContext {
    /// The object's place as bytes, for associated data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for field in [&self.bucket, &self.key, &self.version_id] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.part.to_be_bytes());
        out
    }
}

/// Seals and opens the chunks of one object with its data key.
pub struct ObjectCipher {
    cipher: XChaCha20Poly1305,
    prefix: [u8; 16],
    context: Vec<u8>,
}

impl ObjectCipher {
    pub fn new(data_key: &[u8; 32], prefix: [u8; 16], context: &ObjectContext) -> Self {
        let cipher = XChaCha20Poly1305::new(data_key.into());
        Self { cipher, prefix, context: context.encode() }
    }

    fn nonce(&self, index: u64) -> XNonce {
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&self.prefix);
        nonce[16..].copy_from_slice(&index.to_be_bytes());
        nonce.into()
    }

    fn aad(&self, index: u64, last: bool) -> Vec<u8> {
        let mut aad = self.context.clone();
        aad.extend_from_slice(&index.to_be_bytes());
        aad.push(u8::from(last));
        aad
    }

    /// Seals chunk `index` (at most [`PLAIN_CHUNK`] bytes; only the last may be shorter).
    pub fn seal(&self, index: u64, last: bool, plaintext: &[u8]) -> Vec<u8> {
        debug_assert!(plaintext.len() <= PLAIN_CHUNK);
        let aad = self.aad(index, last);
        self.cipher
            .encrypt(&self.nonce(index), Payload { msg: plaintext, aad: &aad })
            .expect("sealing cannot fail for chunks of this size")
    }

    /// Opens chunk `index`; fails if it was altered, moved, or is not what `last` says.
    pub fn open(&self, index: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
        let aad = self.aad(index, last);
        self.cipher
            .decrypt(&self.nonce(index), Payload { msg: sealed, aad: &aad })
            .map_err(|_| BlobError::Sealed(format!("chunk {index} does not open with this key and place")))
    }

    /// The stored length of `plain` bytes of plaintext.
    pub fn sealed_len(plain: u64) -> u64 {
        plain + TAG as u64 * plain.div_ceil(PLAIN_CHUNK as u64).max(1)
    }

    /// The chunks a plaintext range `[start, start + len)` touches, and where they start
    /// in the stored bytes.
    pub fn chunks_for(start: u64, len: u64) -> (std::ops::Range<u64>, u64) {
        let first = start / PLAIN_CHUNK as u64;
        let end = (start + len).div_ceil(PLAIN_CHUNK as u64).max(first + 1);
        (first..end, first * (PLAIN_CHUNK + TAG) as u64)
    }
}

/// The data key and place of one blob's sealed bytes: what a writer seals with and a
/// reader opens with. The blob's own random id is the nonce prefix, so no two blobs
/// sealed with one data key (the parts of an upload) share a nonce.
#[derive(Clone)]
pub struct SealKey {
    pub data_key: [u8; 32],
    pub context: ObjectContext,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey").field("context", &self.context).finish_non_exhaustive()
    }
}

impl SealKey {
    pub(crate) fn cipher(&self, blob: &BlobId) -> ObjectCipher {
        let mut prefix = [0u8; 16];
        // Blob ids are 32 hex digits of random bytes (checked by `BlobId`).
        hex::decode_to_slice(blob.as_str(), &mut prefix).expect("a blob id is 16 bytes of hex");
        ObjectCipher::new(&self.data_key, prefix, &self.context)
    }
}

/// Cuts a plaintext stream into chunks and seals them. A full chunk is held back until
/// more bytes arrive, since only the end of the stream says which chunk is the last.
pub(crate) struct Sealer {
    cipher: ObjectCipher,
    pending: Vec<u8>,
    index: u64,
}

impl Sealer {
    pub(crate) fn new(cipher: ObjectCipher) -> Self {
        Self { cipher, pending: Vec::with_capacity(PLAIN_CHUNK), index: 0 }
    }

    /// Takes more plaintext; `out` receives each chunk sealed so far.
    pub(crate) fn push(
        &mut self,
        mut bytes: &[u8],
        mut out: impl FnMut(&[u8]) -> Result<(), BlobError>,
    ) -> Result<(), BlobError> {
        while !bytes.is_empty() {
            if self.pending.len() == PLAIN_CHUNK {
                out(&self.cipher.seal(self.index, false, &self.pending))?;
                self.index += 1;
                self.pending.clear();
            }
            let n = (PLAIN_CHUNK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Seals the last chunk (empty for an empty body).
    pub(crate) fn finish(self) -> Vec<u8> {
        self.cipher.seal(self.index, true, &self.pending)
    }
}

/// Reads a plaintext range of a sealed blob: only the chunks it touches are read (each
/// checked against its CRC32C first) and opened.
pub struct SealedReader {
    inner: BlobReader,
    cipher: ObjectCipher,
    /// The index of the next chunk to open, and of the object's last chunk.
    index: u64,
    last: u64,
    /// Sealed bytes read but not yet opened.
    pending: BytesMut,
    /// Plaintext bytes before the range in the next opened chunk.
    skip: usize,
    remaining: u64,
}

impl BlobStore {
    /// Opens `len` plaintext bytes from `start` of a blob sealed with `key` that holds
    /// `size` bytes of plaintext.
    pub fn sealed_reader(
        &self,
        id: &BlobId,
        key: &SealKey,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<SealedReader, BlobError> {
        let stored = ObjectCipher::sealed_len(size);
        let (chunks, stored_start) = ObjectCipher::chunks_for(start, len);
        let stored_end = (chunks.end * SEALED_CHUNK as u64).min(stored);
        let inner = self.reader(id, stored, stored_start, stored_end.saturating_sub(stored_start))?;
        Ok(SealedReader {
            inner,
            cipher: key.cipher(id),
            index: chunks.start,
            last: size.div_ceil(PLAIN_CHUNK as u64).max(1) - 1,
            pending: BytesMut::new(),
            skip: (start % PLAIN_CHUNK as u64) as usize,
            remaining: len,
        })
    }
}

/// The stored length of one full sealed chunk.
const SEALED_CHUNK: usize = PLAIN_CHUNK + TAG;

impl BlockRead for SealedReader {
    fn next_block(&mut self, block: usize) -> Result<Option<Bytes>, BlobError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let mut out = BytesMut::new();
        while out.len() < block && self.remaining > 0 {
            let want = if self.index == self.last { TAG } else { SEALED_CHUNK };
            while self.pending.len() < SEALED_CHUNK {
                match self.inner.next_block(block.max(crate::CHUNK))? {
                    Some(bytes) => self.pending.extend_from_slice(&bytes),
                    None => break,
                }
            }
            if self.pending.len() < want {
                return Err(BlobError::Sealed(format!("chunk {} is cut short", self.index)));
            }
            let take = self.pending.len().min(SEALED_CHUNK);
            let sealed = self.pending.split_to(take);
            let plain = self.cipher.open(self.index, self.index == self.last, &sealed)?;
            self.index += 1;
            let from = self.skip.min(plain.len());
            let n = ((plain.len() - from) as u64).min(self.remaining) as usize;
            out.extend_from_slice(&plain[from..from + n]);
            self.skip = 0;
            self.remaining -= n as u64;
        }
        Ok(Some(out.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn context(part: u32) -> ObjectContext {
        ObjectContext { bucket: "b".into(), key: "k".into(), version_id: "v1".into(), part }
    }

    /// Seals `data` chunk by chunk, as a writer would.
    fn seal_all(cipher: &ObjectCipher, data: &[u8]) -> Vec<u8> {
        let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(PLAIN_CHUNK).collect() };
        let n = chunks.len();
        chunks.iter().enumerate().flat_map(|(i, c)| cipher.seal(i as u64, i + 1 == n, c)).collect()
    }

    #[test]
    fn chunks_open_only_in_their_place() {
        let cipher = ObjectCipher::new(&[7; 32], [1; 16], &context(0));
        let data: Vec<u8> = (0..2 * PLAIN_CHUNK + 100).map(|i| (i % 251) as u8).collect();
        let sealed = seal_all(&cipher, &data);
        assert_eq!(sealed.len() as u64, ObjectCipher::sealed_len(data.len() as u64));
        let stored = PLAIN_CHUNK + TAG;
        let chunk = |i: usize| &sealed[i * stored..((i + 1) * stored).min(sealed.len())];
        assert_eq!(cipher.open(1, false, chunk(1)).unwrap(), &data[PLAIN_CHUNK..2 * PLAIN_CHUNK]);
        assert!(cipher.open(0, false, chunk(1)).is_err(), "moved");
        assert!(cipher.open(1, true, chunk(1)).is_err(), "claimed to be the last");
        let other_object = ObjectCipher::new(&[7; 32], [1; 16], &context(2));
        assert!(other_object.open(1, false, chunk(1)).is_err(), "swapped between objects");
        let mut flipped = chunk(2).to_vec();
        flipped[3] ^= 1;
        assert!(cipher.open(2, true, &flipped).is_err(), "altered");
        assert_eq!(ObjectCipher::chunks_for(PLAIN_CHUNK as u64 + 5, 10), (1..2, stored as u64));
        assert_eq!(ObjectCipher::sealed_len(0), TAG as u64);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any body seals and opens back, chunk by chunk.
        #[test]
        fn round_trips(data in prop::collection::vec(any::<u8>(), 0..3 * PLAIN_CHUNK), prefix in any::<[u8; 16]>()) {
            let cipher = ObjectCipher::new(&[3; 32], prefix, &context(4));
            let sealed = seal_all(&cipher, &data);
            let stored = PLAIN_CHUNK + TAG;
            let n = sealed.len().div_ceil(stored);
            let mut opened = Vec::new();
            for i in 0..n {
                let chunk = &sealed[i * stored..((i + 1) * stored).min(sealed.len())];
                opened.extend(cipher.open(i as u64, i + 1 == n, chunk).unwrap());
            }
            prop_assert_eq!(opened, data);
        }
    }
}
