//! Object bytes. A body is streamed once: it is hashed (MD5 for the ETag plus any S3
//! checksums the client asked for) in the same pass that either keeps it in memory
//! (at or below the inline threshold, to travel inside the event) or writes it to a
//! blob file that is fsynced before the caller proposes the event that refers to it.
//! Every blob file carries a CRC32C per 64 KiB chunk, checked on every read. Bodies
//! encrypted at rest are sealed in chunks under per-object data keys that a master key
//! (or the customer's key) wraps: [`Keyring`].
//!
//! Architecture invariant: a blob is never visible to clients by itself; only an
//! applied event makes it part of an object, and a blob no event refers to is garbage.

mod checksum;
mod chunks;
mod error;
mod ingest;
mod keyring;
mod master_key;
mod seal;
mod sink;
mod store;
mod transfer;

pub use checksum::{composite_checksum, full_object_checksum, ChecksumAlgorithm, Checksums};
pub use chunks::{BlobReader, BlockRead, CHUNK, CORRUPTIONS_METRIC};
pub use error::{BlobError, KeyError};
pub use ingest::{IngestOptions, Ingested, Room};
pub use keyring::{
    customer_etag, CustomerKey, DataKey, Keyring, KmsKey, Requested, SealWith, MASTER_KEY_SETTINGS,
};
pub use master_key::MasterKey;
pub use seal::{ObjectCipher, ObjectContext, SealKey, SealedReader, PLAIN_CHUNK, TAG};
pub use store::{BlobStore, Durability};
