//! Where a blob's bytes go: straight to the disk with O_DIRECT through one reused aligned
//! buffer (fresh page-cache pages are slow on small VMs, and strict durability flushes
//! every byte anyway), or through the page cache where O_DIRECT is not available (tmpfs).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// O_DIRECT wants buffers, offsets and lengths aligned to the device's block size.
const ALIGN: usize = 4096;

/// A buffer of `len` bytes whose start is `ALIGN`-aligned, carved out of a slightly
/// larger allocation (no unsafe code needed).
pub(crate) struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        Self { storage, start, len }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

pub(crate) enum Sink {
    /// O_DIRECT for whole aligned blocks; the last partial block and the chunk table go
    /// through `buffered`, a second handle on the same file.
    Direct {
        direct: File,
        buffered: File,
        buf: AlignedBuf,
        filled: usize,
        offset: u64,
    },
    Buffered(std::io::BufWriter<File>),
}

impl Sink {
    /// A sink writing `file` (at `path`), `batch` bytes per write.
    pub(crate) fn new(path: &Path, file: File, batch: usize) -> Self {
        debug_assert!(batch.is_multiple_of(ALIGN));
        match File::options().write(true).custom_flags(libc::O_DIRECT).open(path) {
            Ok(direct) => {
                Sink::Direct { direct, buffered: file, buf: AlignedBuf::new(batch), filled: 0, offset: 0 }
            }
            Err(e) => {
                tracing::debug!(error = %e, "no O_DIRECT here; writing blobs through the page cache");
                Sink::Buffered(std::io::BufWriter::with_capacity(batch, file))
            }
        }
    }

    pub(crate) fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let Sink::Direct { direct, buf, filled, offset, buffered } = self else {
                let Sink::Buffered(out) = self else { unreachable!() };
                return out.write_all(bytes);
            };
            let space = buf.len - *filled;
            let n = space.min(bytes.len());
            buf.as_mut()[*filled..*filled + n].copy_from_slice(&bytes[..n]);
            *filled += n;
            bytes = &bytes[n..];
            if *filled < buf.len {
                continue;
            }
            match direct.write_all_at(buf.as_mut(), *offset) {
                Ok(()) => {
                    *offset += *filled as u64;
                    *filled = 0;
                }
                // Some file systems take the flag at open and refuse the writes: go on
                // through the page cache from the first block.
                Err(e) if *offset == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::debug!("O_DIRECT writes refused here; writing blobs through the page cache");
                    let mut out = std::io::BufWriter::with_capacity(buf.len, buffered.try_clone()?);
                    out.write_all(&buf.as_mut()[..*filled])?;
                    *self = Sink::Buffered(out);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes what is left, then `trailer` (the chunk table) after the data, and hands
    /// back the file to seal.
    pub(crate) fn finish(self, trailer: &[u8]) -> std::io::Result<File> {
        match self {
            Sink::Buffered(mut out) => {
                out.write_all(trailer)?;
                out.into_inner().map_err(|e| e.into_error())
            }
            Sink::Direct { direct, buffered, mut buf, filled, offset } => {
                let aligned = filled - filled % ALIGN;
                if aligned > 0 {
                    direct.write_all_at(&buf.as_mut()[..aligned], offset)?;
                }
                let mut rest = buf.as_mut()[aligned..filled].to_vec();
                rest.extend_from_slice(trailer);
                buffered.write_all_at(&rest, offset + aligned as u64)?;
                Ok(buffered)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_writes_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * ALIGN * 4 + 123).map(|i| (i % 251) as u8).collect();
        for piece in [1, 1000, ALIGN, 5 * ALIGN + 7, data.len()] {
            let path = dir.path().join(format!("blob-{piece}"));
            let file = File::options().write(true).create_new(true).open(&path).unwrap();
            let mut sink = Sink::new(&path, file, 4 * ALIGN);
            for chunk in data.chunks(piece) {
                sink.write(chunk).unwrap();
            }
            sink.finish(b"trailer").unwrap().sync_data().unwrap();
            let mut expected = data.clone();
            expected.extend_from_slice(b"trailer");
            assert_eq!(std::fs::read(&path).unwrap(), expected, "pieces of {piece}");
        }
    }
}
