//! The one pass over a request body: hash, then inline or write to a blob file.

use std::fs::File;
use std::io::Write;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rucket_schemas::ObjectData;

use crate::{BlobError, BlobStore, ChecksumAlgorithm, Checksums};

/// Bytes gathered before a write is handed to the blocking pool.
const WRITE_BATCH: usize = 1 << 20;

pub struct IngestOptions<'a> {
    /// Bodies of at most this many bytes stay in memory and travel inside the event.
    pub inline_threshold: usize,
    /// The length the client declared, if any; a shorter or longer body is an error.
    pub expected_len: Option<u64>,
    /// S3 checksums to compute besides MD5.
    pub checksums: &'a [ChecksumAlgorithm],
}

/// A body that has been stored (durably, for blobs in strict mode) and hashed.
#[derive(Debug)]
pub struct Ingested {
    pub data: ObjectData,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

impl BlobStore {
    /// Streams `body` once. On any error a partly written blob is removed.
    pub async fn ingest<S, E>(&self, body: S, options: IngestOptions<'_>) -> Result<Ingested, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut guard = PartialBlob { store: self, written: None };
        let result = self.ingest_inner(body, &options, &mut guard.written).await;
        if result.is_ok() {
            // The blob is complete and sealed: it is the caller's now.
            guard.written = None;
        }
        result
    }

    async fn ingest_inner<S, E>(
        &self,
        mut body: S,
        options: &IngestOptions<'_>,
        written: &mut Option<(rucket_schemas::BlobId, File)>,
    ) -> Result<Ingested, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut hashes = Checksums::new(options.checksums);
        let mut pending: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if let Some(expected) = options.expected_len {
                if size > expected {
                    return Err(BlobError::BodyTooLong { expected });
                }
            }
            hashes.update(&chunk);
            pending.extend_from_slice(&chunk);
            if pending.len() > options.inline_threshold && written.is_none() {
                *written = Some(self.create()?);
            }
            if written.is_some() && pending.len() >= WRITE_BATCH {
                let file = written.as_mut().map(|(_, f)| f);
                pending = write_batch(file, pending).await?;
            }
        }
        if let Some(expected) = options.expected_len {
            if size != expected {
                return Err(BlobError::IncompleteBody { expected, received: size });
            }
        }
        if written.is_none() && options.inline_threshold == 0 {
            // A threshold of 0 asks for a blob even for an empty body (an empty part).
            *written = Some(self.create()?);
        }
        let (md5, checksums) = hashes.finish();
        let data = match written {
            None => ObjectData::Inline(pending),
            Some((id, file)) => {
                // The caller removes the file if this fails, since `written` still names it.
                let store = self.clone();
                let sealed_id = id.clone();
                let mut handle = file.try_clone()?;
                tokio::task::spawn_blocking(move || -> Result<(), BlobError> {
                    handle.write_all(&pending)?;
                    store.seal(&sealed_id, &mut handle)
                })
                .await
                .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
                ObjectData::Blob(id.clone())
            }
        };
        Ok(Ingested { data, size, md5, checksums })
    }
}

/// Removes a blob that was started but not finished, also when the request future is
/// dropped mid-body (a client that went away).
struct PartialBlob<'a> {
    store: &'a BlobStore,
    written: Option<(rucket_schemas::BlobId, File)>,
}

impl Drop for PartialBlob<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.written.take() {
            if let Err(e) = self.store.remove(&id) {
                tracing::warn!(blob = %id, error = %e, "could not remove an unfinished blob");
            }
        }
    }
}

/// Writes a batch on the blocking pool and hands back the emptied buffer for reuse.
async fn write_batch(file: Option<&mut File>, mut pending: Vec<u8>) -> Result<Vec<u8>, BlobError> {
    let Some(file) = file else { return Ok(pending) };
    let mut handle = file.try_clone()?;
    let buffer = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, std::io::Error> {
        handle.write_all(&pending)?;
        pending.clear();
        Ok(pending)
    })
    .await
    .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;
    use crate::Durability;

    fn body(chunks: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
    }

    fn options(expected_len: Option<u64>) -> IngestOptions<'static> {
        IngestOptions { inline_threshold: 8, expected_len, checksums: &[] }
    }

    #[tokio::test]
    async fn small_bodies_stay_inline() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let got = store.ingest(body(vec![b"abc", b"de"]), options(Some(5))).await.unwrap();
        assert_eq!(got.data, ObjectData::Inline(b"abcde".to_vec()));
        assert_eq!(got.size, 5);
        assert!(store.list().unwrap().is_empty());
    }

    #[tokio::test]
    async fn large_bodies_become_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let got = store.ingest(body(vec![b"0123456789", b"abcdef"]), options(None)).await.unwrap();
        let ObjectData::Blob(id) = &got.data else { panic!("expected a blob, got {:?}", got.data) };
        assert_eq!(std::fs::read(store.path_of(id)).unwrap(), b"0123456789abcdef");
        assert_eq!(store.list().unwrap(), vec![id.clone()]);
        assert_eq!(hex::encode(got.md5), "4032af8d61035123906e58e067140cc5");
    }

    #[tokio::test]
    async fn a_zero_threshold_makes_a_blob_even_of_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let options = IngestOptions { inline_threshold: 0, expected_len: Some(0), checksums: &[] };
        let got = store.ingest(body(vec![]), options).await.unwrap();
        let ObjectData::Blob(id) = &got.data else { panic!("expected a blob, got {:?}", got.data) };
        assert_eq!(std::fs::read(store.path_of(id)).unwrap(), b"");
    }

    #[tokio::test]
    async fn a_dropped_upload_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        // A body that sends one chunk and then never ends, like a client that stalls.
        let stalled =
            stream::iter(vec![Ok::<_, String>(Bytes::from(vec![1u8; 100]))]).chain(stream::pending());
        let ingest = store.ingest(Box::pin(stalled), options(None));
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), ingest).await;
        assert!(timed_out.is_err(), "the ingest was still waiting for the body");
        assert!(
            store.list().unwrap().is_empty(),
            "the unfinished blob was removed when the request went away"
        );
    }

    #[tokio::test]
    async fn short_and_long_bodies_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let short = store.ingest(body(vec![b"0123456789"]), options(Some(20))).await;
        assert!(matches!(short, Err(BlobError::IncompleteBody { expected: 20, received: 10 })));
        let long = store.ingest(body(vec![b"0123456789", b"x"]), options(Some(10))).await;
        assert!(matches!(long, Err(BlobError::BodyTooLong { expected: 10 })));
        let broken = stream::iter(vec![Ok(Bytes::from_static(b"0123456789")), Err("reset".to_owned())]);
        let failed = store.ingest(broken, options(None)).await;
        assert!(matches!(failed, Err(BlobError::Body(ref m)) if m == "reset"));
        assert!(store.list().unwrap().is_empty());
    }
}
