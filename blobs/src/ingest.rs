//! The one pass over a request body: hash, then inline or write to a blob file.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rucket_schemas::ObjectData;

use crate::chunks::ChunkSums;
use crate::seal::Sealer;
use crate::sink::Sink;
use crate::{BlobError, BlobStore, ChecksumAlgorithm, Checksums, SealKey};

/// Bytes gathered per write to the blob file.
const WRITE_BATCH: usize = 1 << 20;

/// Bodies at least this long (or of unknown length) are hashed on a thread of their own,
/// beside the thread that writes them: a single large stream then uses two cores.
const SPLIT_HASHING: u64 = 8 << 20;

pub struct IngestOptions<'a> {
    /// Bodies of at most this many bytes stay in memory and travel inside the event.
    pub inline_threshold: usize,
    /// The length the client declared, if any; a shorter or longer body is an error.
    pub expected_len: Option<u64>,
    /// S3 checksums to compute besides MD5.
    pub checksums: &'a [ChecksumAlgorithm],
    /// Seal the bytes with this key. A sealed body always becomes a blob (never inline:
    /// inline bytes travel in the log) holding the sealed chunks; the digests and the
    /// size are still the plaintext's.
    pub seal: Option<&'a SealKey>,
    /// A body that sends nothing for this long is aborted ([`BlobError::BodyTimeout`]).
    pub idle_timeout: Option<std::time::Duration>,
    /// Asked every [`Room::every`] bytes whether the disk still has room for more: an
    /// upload whose length was not declared (or other writes since it began) can take
    /// the volume below its reserve. An `Err` aborts the body with
    /// [`BlobError::NoRoom`] and its message.
    pub room: Option<&'a dyn Room>,
}

/// Whether a write under way may go on.
pub trait Room: Send + Sync {
    /// `Err` with a message naming the volume when there is no room left.
    fn room_left(&self) -> Result<(), String>;
    /// Bytes received between two checks: all uploads at once may write this much each
    /// past the last check, so it is small enough to keep that within the reserve.
    fn every(&self) -> u64;
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
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
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
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Bytes stay here while they fit the inline threshold; once the body outgrows it,
        // a writer thread takes over hashing and writing, so this task only receives
        // (and s3s verifies the payload SHA-256 on this side, MD5 runs on the other).
        let mut pending: Vec<u8> = Vec::new();
        let inline_threshold = if options.seal.is_some() { 0 } else { options.inline_threshold };
        let mut writer: Option<Writer> = None;
        let mut size: u64 = 0;
        let mut room_checked: u64 = 0;
        loop {
            let next = match options.idle_timeout {
                Some(idle) => tokio::time::timeout(idle, body.next())
                    .await
                    .map_err(|_| BlobError::BodyTimeout { idle })?,
                None => body.next().await,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| BlobError::Body(e.into()))?;
            size += chunk.len() as u64;
            if let Some(room) = options.room {
                if size - room_checked >= room.every() {
                    room_checked = size;
                    room.room_left().map_err(BlobError::NoRoom)?;
                }
            }
            if let Some(expected) = options.expected_len {
                if size > expected {
                    return Err(BlobError::BodyTooLong { expected });
                }
            }
            match &mut writer {
                Some(w) => w.send(chunk).await?,
                None => {
                    pending.extend_from_slice(&chunk);
                    if pending.len() > inline_threshold {
                        let split = options.expected_len.is_none_or(|n| n >= SPLIT_HASHING);
                        let mut w = self.start_writer(options, written, split)?;
                        w.send(Bytes::from(std::mem::take(&mut pending))).await?;
                        writer = Some(w);
                    }
                }
            }
        }
        if let Some(expected) = options.expected_len {
            if size != expected {
                return Err(BlobError::IncompleteBody { expected, received: size });
            }
        }
        if writer.is_none() && inline_threshold == 0 {
            // A threshold of 0 asks for a blob even for an empty body (an empty part).
            writer = Some(self.start_writer(options, written, false)?);
        }
        match writer {
            None => {
                let mut hashes = Checksums::new(options.checksums);
                hashes.update(&pending);
                let (md5, checksums) = hashes.finish();
                Ok(Ingested { data: ObjectData::Inline(pending), size, md5, checksums })
            }
            Some(w) => {
                let (md5, checksums) = w.finish().await?;
                let id = written.as_ref().map(|(id, _)| id.clone()).ok_or(BlobError::WriterGone)?;
                Ok(Ingested { data: ObjectData::Blob(id), size, md5, checksums })
            }
        }
    }

    /// Creates the blob file and a thread that writes what it is sent (with its chunk
    /// CRCs), then seals the file once told the body is complete. The MD5 and requested
    /// checksums are computed by that thread, or, with `split_hashing`, by a second one.
    fn start_writer(
        &self,
        options: &IngestOptions<'_>,
        written: &mut Option<(rucket_schemas::BlobId, File)>,
        split_hashing: bool,
    ) -> Result<Writer, BlobError> {
        let algorithms = options.checksums;
        let (id, file) = self.create()?;
        let handle = file.try_clone()?;
        let path = self.path_of(&id);
        *written = Some((id.clone(), file));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITER_QUEUE);
        let hasher = split_hashing.then(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITER_QUEUE);
            let algorithms = algorithms.to_vec();
            let task = tokio::spawn(async move {
                let mut hashes = Checksums::new(&algorithms);
                while let Some(batch) = next_batch(&mut rx).await {
                    hashes = blocking(move || {
                        for bytes in &batch {
                            hashes.update(bytes);
                        }
                        Ok(hashes)
                    })
                    .await?;
                }
                Ok(hashes.finish())
            });
            (tx, task)
        });
        let complete = Arc::new(AtomicBool::new(false));
        let store = self.clone();
        let done = complete.clone();
        let hashes = (!split_hashing).then(|| Checksums::new(algorithms));
        let sealer = options.seal.map(|key| Sealer::new(key.cipher(&id)));
        // Received chunks are written in batches, each on a blocking thread only while it
        // writes: a client that stalls mid-body holds no thread, only this task.
        let task = tokio::spawn(async move {
            // Opening the O_DIRECT handle is file IO too.
            let mut state = blocking(move || {
                Ok(WriteState {
                    sums: ChunkSums::new(),
                    sink: Sink::new(&path, handle, WRITE_BATCH),
                    hashes,
                    sealer,
                })
            })
            .await?;
            while let Some(batch) = next_batch(&mut rx).await {
                state = blocking(move || {
                    for bytes in &batch {
                        state.write(bytes)?;
                    }
                    Ok(state)
                })
                .await?;
            }
            if !done.load(Ordering::Acquire) {
                // The request failed or went away: no fsync for a file that will be removed.
                return Err(BlobError::WriterGone);
            }
            blocking(move || state.seal(&store, &id)).await
        });
        let (hash_tx, hash_task) = hasher.unzip();
        Ok(Writer { tx: Some(tx), hash_tx, hash_task, complete, task })
    }
}

/// The MD5 and the requested checksums of a body.
type Digests = ([u8; 16], Vec<(ChecksumAlgorithm, String)>);

/// What a blob's writer carries between batches: the file, its chunk CRCs, the digests
/// (unless a hashing task computes them) and the sealer of an encrypted body.
struct WriteState {
    sums: ChunkSums,
    sink: Sink,
    hashes: Option<Checksums>,
    sealer: Option<Sealer>,
}

impl WriteState {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        if let Some(hashes) = &mut self.hashes {
            hashes.update(bytes);
        }
        let Self { sums, sink, sealer, .. } = self;
        match sealer {
            Some(sealer) => sealer.push(bytes, |sealed| {
                sums.update(sealed);
                Ok(sink.write(sealed)?)
            }),
            None => {
                sums.update(bytes);
                Ok(sink.write(bytes)?)
            }
        }
    }

    /// Writes the sealer's last chunk and the chunk table, fsyncs, and gives the digests.
    fn seal(mut self, store: &BlobStore, id: &rucket_schemas::BlobId) -> Result<Option<Digests>, BlobError> {
        if let Some(sealer) = self.sealer.take() {
            let last = sealer.finish();
            self.sums.update(&last);
            self.sink.write(&last)?;
        }
        let mut file = self.sink.finish(&self.sums.finish())?;
        store.seal(id, &mut file)?;
        Ok(self.hashes.map(Checksums::finish))
    }
}

/// The next chunks waiting, at least one (`None` once the sender is gone), so that one
/// blocking call handles what arrived together.
async fn next_batch(rx: &mut tokio::sync::mpsc::Receiver<Bytes>) -> Option<Vec<Bytes>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < WRITER_QUEUE {
        match rx.try_recv() {
            Ok(bytes) => batch.push(bytes),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Runs blocking work (disk writes, hashing) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| BlobError::Io(std::io::Error::other(e)))?
}

/// How many received chunks may wait for the writer thread (backpressure on the client).
const WRITER_QUEUE: usize = 8;

/// The handles of a blob's writer thread and, for large bodies, its hashing thread.
struct Writer {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    hash_tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    hash_task: Option<tokio::task::JoinHandle<Result<Digests, BlobError>>>,
    complete: Arc<AtomicBool>,
    /// The digests, unless a hashing thread computes them.
    task: tokio::task::JoinHandle<Result<Option<Digests>, BlobError>>,
}

impl Writer {
    async fn send(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        if let Some(hash_tx) = &self.hash_tx {
            // The hasher only stops when its sender is dropped.
            hash_tx.send(bytes.clone()).await.map_err(|_| BlobError::WriterGone)?;
        }
        let Some(tx) = &self.tx else { return Err(BlobError::WriterGone) };
        if tx.send(bytes).await.is_err() {
            // The thread stopped early: its error says why.
            self.tx = None;
            return Err(match (&mut self.task).await {
                Ok(Err(e)) => e,
                _ => BlobError::WriterGone,
            });
        }
        Ok(())
    }

    /// Tells the thread the body is complete and waits for the sealed file's digests.
    async fn finish(mut self) -> Result<Digests, BlobError> {
        self.complete.store(true, Ordering::Release);
        self.tx = None;
        self.hash_tx = None;
        let joined = |e: tokio::task::JoinError| BlobError::Io(std::io::Error::other(e));
        let written = (&mut self.task).await.map_err(joined)??;
        match (written, self.hash_task.take()) {
            (Some(digests), _) => Ok(digests),
            (None, Some(hasher)) => hasher.await.map_err(joined)?,
            (None, None) => Err(BlobError::WriterGone),
        }
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

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;
    use crate::{BlockRead, Durability};

    fn body(chunks: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
    }

    fn options(expected_len: Option<u64>) -> IngestOptions<'static> {
        IngestOptions {
            inline_threshold: 8,
            expected_len,
            checksums: &[],
            seal: None,
            idle_timeout: None,
            room: None,
        }
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
        let mut reader = store.reader(id, 16, 0, 16).unwrap();
        assert_eq!(reader.next_block(crate::CHUNK).unwrap().unwrap().as_ref(), b"0123456789abcdef");
        assert_eq!(store.list().unwrap(), vec![id.clone()]);
        assert_eq!(hex::encode(got.md5), "4032af8d61035123906e58e067140cc5");
    }

    /// A sealed body is a blob of sealed chunks with no plaintext in it; every range
    /// reads back through the sealed reader, and only with the right key and place.
    #[tokio::test]
    async fn sealed_bodies_hold_no_plaintext_and_read_back_in_ranges() {
        use crate::{ObjectCipher, ObjectContext, SealKey, PLAIN_CHUNK};
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let context = ObjectContext { bucket: "b".into(), key: "k".into(), version_id: "v".into(), part: 0 };
        let key = SealKey { data_key: [4; 32], context: context.clone() };
        let marker = b"PLAINTEXT-MARKER";
        let data: Vec<u8> = marker.iter().copied().cycle().take(2 * PLAIN_CHUNK + 321).collect();
        let pieces: Vec<Result<Bytes, String>> =
            data.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let options = IngestOptions {
            inline_threshold: 1 << 20,
            expected_len: None,
            checksums: &[],
            seal: Some(&key),
            idle_timeout: None,
            room: None,
        };
        let got = store.ingest(stream::iter(pieces), options).await.unwrap();
        assert_eq!(got.size, data.len() as u64);
        assert_eq!(
            hex::encode(got.md5),
            hex::encode(<md5::Md5 as md5::Digest>::digest(&data)),
            "plaintext MD5"
        );
        let ObjectData::Blob(id) = &got.data else {
            panic!("a sealed body is always a blob: {:?}", got.data)
        };
        let raw = std::fs::read(store.path_of(id)).unwrap();
        assert!(!raw.windows(marker.len()).any(|w| w == marker), "plaintext found on disk");
        let size = data.len() as u64;
        let read = |key: &SealKey, start: u64, len: u64| -> Result<Vec<u8>, BlobError> {
            let mut reader = store.sealed_reader(id, key, size, start, len)?;
            let mut out = Vec::new();
            while let Some(block) = reader.next_block(4 * crate::CHUNK)? {
                out.extend_from_slice(&block);
            }
            Ok(out)
        };
        let chunk = PLAIN_CHUNK as u64;
        for (start, len) in
            [(0, size), (5, 10), (chunk - 3, 6), (chunk, chunk), (size - 7, 7), (2 * chunk, 321)]
        {
            assert_eq!(
                read(&key, start, len).unwrap(),
                &data[start as usize..(start + len) as usize],
                "{start}+{len}"
            );
        }
        let other_place = SealKey { context: ObjectContext { part: 1, ..context }, ..key.clone() };
        assert!(matches!(read(&other_place, 0, 10), Err(BlobError::Sealed(_))));
        let other_key = SealKey { data_key: [5; 32], ..key.clone() };
        assert!(matches!(read(&other_key, chunk, 10), Err(BlobError::Sealed(_))));
        assert_eq!(raw.len() as u64, crate::chunks::file_len(ObjectCipher::sealed_len(size)));

        // An empty sealed body is one sealed (empty, last) chunk.
        let empty = IngestOptions {
            inline_threshold: 8,
            expected_len: Some(0),
            checksums: &[],
            seal: Some(&key),
            idle_timeout: None,
            room: None,
        };
        let got = store.ingest(body(vec![]), empty).await.unwrap();
        let ObjectData::Blob(id) = &got.data else { panic!("a sealed body is always a blob") };
        assert!(store.sealed_reader(id, &key, 0, 0, 0).unwrap().next_block(crate::CHUNK).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_zero_threshold_makes_a_blob_even_of_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        let options = IngestOptions {
            inline_threshold: 0,
            expected_len: Some(0),
            checksums: &[],
            seal: None,
            idle_timeout: None,
            room: None,
        };
        let got = store.ingest(body(vec![]), options).await.unwrap();
        let ObjectData::Blob(id) = &got.data else { panic!("expected a blob, got {:?}", got.data) };
        assert!(store.reader(id, 0, 0, 0).unwrap().next_block(crate::CHUNK).unwrap().is_none());
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
    async fn a_body_that_outgrows_the_room_left_is_aborted_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), Durability::Strict).unwrap();
        struct FillsUp(std::sync::atomic::AtomicU64);
        impl Room for FillsUp {
            // Room for the first check, none at the second: the volume filled meanwhile.
            fn room_left(&self) -> Result<(), String> {
                match self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                    0 => Ok(()),
                    _ => Err("the blobs volume is below its reserve".to_owned()),
                }
            }
            fn every(&self) -> u64 {
                4 << 20
            }
        }
        let room = FillsUp(std::sync::atomic::AtomicU64::new(0));
        let asked = &room.0;
        let chunks = (0..12).map(|_| Ok::<_, String>(Bytes::from(vec![7u8; 1 << 20])));
        let options = IngestOptions { room: Some(&room), ..options(None) };
        let got = store.ingest(stream::iter(chunks), options).await;
        assert!(matches!(got, Err(BlobError::NoRoom(ref m)) if m.contains("reserve")), "{got:?}");
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(store.list().unwrap().is_empty(), "the partial blob was removed");
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
        assert!(matches!(failed, Err(BlobError::Body(ref e)) if e.to_string() == "reset"));
        assert!(store.list().unwrap().is_empty());
    }
}
