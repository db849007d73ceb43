//! One archived event as subscribers see it: decoded once, with its renderings made once
//! and shared by every subscriber that gets it.

use std::sync::{Arc, OnceLock};

use rucket_schemas::{Envelope, LogPosition, StorageEvent};

use crate::error::FeedError;

pub struct FeedEvent {
    pub position: LogPosition,
    pub envelope: Envelope,
    pub event: StorageEvent,
    /// Renderings, made once by the first subscriber that needs each and shared by the
    /// rest (index: [`crate::Format`] as usize).
    pub(crate) rendered: [OnceLock<Arc<str>>; 3],
}

impl FeedEvent {
    pub fn new(position: LogPosition, envelope: Envelope, event: StorageEvent) -> Self {
        Self { position, envelope, event, rendered: Default::default() }
    }
}

/// Opens a batch read from the archive.
pub fn decode(batch: Vec<(LogPosition, Envelope)>) -> Result<Vec<FeedEvent>, FeedError> {
    batch
        .into_iter()
        .map(|(position, envelope)| {
            let event = envelope.open().map_err(|source| FeedError::Decode { position, source })?;
            Ok(FeedEvent::new(position, envelope, event))
        })
        .collect()
}
