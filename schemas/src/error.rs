//! Errors of the schemas crate: decoding failures and invalid names.

/// Why bytes could not be turned back into an envelope or a payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown envelope format version {0}")]
    UnknownFormat(u8),
    #[error("unknown event type {event_type} with schema version {schema_version}")]
    UnknownEvent { event_type: u16, schema_version: u16 },
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    #[error("origin region is not valid utf-8")]
    RegionNotUtf8,
    #[error("payload does not decode: {0}")]
    Payload(String),
    #[error("payload does not encode: {0}")]
    Encode(String),
}

/// Why a bucket name or object key is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("bucket name must be 3 to 63 characters long")]
    BucketLength,
    #[error("bucket name may hold only lowercase letters, digits, dots and hyphens")]
    BucketCharacters,
    #[error("bucket name must start and end with a letter or digit")]
    BucketEdges,
    #[error("bucket name must not contain two adjacent periods or a period next to a hyphen")]
    BucketDots,
    #[error("bucket name must not be formatted as an ip address")]
    BucketIpAddress,
    #[error("bucket name uses a reserved prefix or suffix")]
    BucketReserved,
    #[error("object key must not be empty")]
    KeyEmpty,
    #[error("object key is longer than 1024 bytes")]
    KeyTooLong,
    #[error("object key must not contain a NUL character")]
    KeyNul,
}
