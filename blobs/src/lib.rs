//! Object bytes. A body is streamed once: it is hashed (MD5 for the ETag plus any S3
//! checksums the client asked for) in the same pass that either keeps it in memory
//! (at or below the inline threshold, to travel inside the event) or writes it to a
//! blob file that is fsynced before the caller proposes the event that refers to it.
//! Every blob file carries a CRC32C per 64 KiB chunk, checked on every read.
//!
//! Architecture invariant: a blob is never visible to clients by itself; only an
//! applied event makes it part of an object, and a blob no event refers to is garbage.

mod checksum;
mod chunks;
mod error;
mod ingest;
mod seal;
mod sink;
mod store;

pub use checksum::{composite_checksum, full_object_checksum, ChecksumAlgorithm, Checksums};
pub use chunks::{BlobReader, BlockRead, CHUNK, CORRUPTIONS_METRIC};
pub use error::BlobError;
pub use ingest::{IngestOptions, Ingested};
pub use seal::{ObjectCipher, ObjectContext, SealKey, SealedReader, PLAIN_CHUNK, TAG};
pub use store::{BlobStore, Durability};
