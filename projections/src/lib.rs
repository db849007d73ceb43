//! Projections: the views that the S3 API reads, folded from `StorageEvent`s into fjall.
//!
//! Two pure steps, both deterministic (no clock, no randomness, no hash-map order):
//! - [`Projections::decide`] validates a command against the current views and returns
//!   the event it becomes, or a rejection;
//! - [`Projections::fold`] writes an event's effect into a write batch, together with the
//!   applied position, so a crash never leaves a half-applied event.
//!
//! Live apply runs decide then fold; replay runs fold alone over the archive. Access is
//! judged in decide too, from the request's facts a command carries ([`Judgement`]).

mod access;
mod compare;
mod decide;
mod error;
mod fold;
mod group;
mod keys;
mod list;
mod records;
mod store;
mod tx;

pub use access::Judgement;
pub use compare::{DiffKind, ViewDiff, ViewDigest};
pub use decide::Decision;
pub use error::ProjectionError;
pub use group::{GroupedFold, StagedFold, STAGE_BUDGET};
pub use list::{ListPage, ListQuery, UploadPage, UploadQuery, VersionPage, VersionQuery};
pub use records::{
    AccessKeyRecord, BucketRecord, KmsKeyRecord, PartChecksums, UploadRecord, VersionEntry, Versioning,
};
pub use store::{Projections, Views};

#[cfg(test)]
mod tests;
