//! The one way to follow the event archive: from a position, history first (read from
//! the archive in batches), then live as the head moves. The feed hub, each feed
//! subscriber's catch-up, webhook delivery and (later) geo shipping all use it, so none
//! of them touches the Raft log or waits on the head by hand.

use std::time::Duration;

use rucket_schemas::{Envelope, LogPosition};
use tokio::sync::watch;

use crate::{EventArchive, LogError};

/// How long to wait before reading again when the head is ahead of what the archive
/// returns (the archive is being replaced by a snapshot install).
const REPLACED_RETRY: Duration = Duration::from_millis(50);

/// A cursor over the archive. Reads are cancel-safe: the cursor moves only when a batch
/// is returned, so dropping a pending [`ArchiveFollower::next`] loses nothing.
pub struct ArchiveFollower {
    archive: EventArchive,
    after: LogPosition,
    head: watch::Receiver<LogPosition>,
}

/// The archive's writer is gone (the node stopped): nothing more will be archived.
#[derive(Debug, thiserror::Error)]
#[error("the event archive is closed")]
pub struct ArchiveClosed;

impl EventArchive {
    /// Follows the archive from just after `after`.
    pub fn follow(&self, after: LogPosition) -> ArchiveFollower {
        ArchiveFollower { archive: self.clone(), after, head: self.subscribe() }
    }
}

impl ArchiveFollower {
    /// Every event up to here has been returned (or skipped by [`Self::seek`]).
    pub fn position(&self) -> LogPosition {
        self.after
    }

    /// The archive's head as last seen.
    pub fn head(&self) -> LogPosition {
        *self.head.borrow()
    }

    pub fn archive(&self) -> &EventArchive {
        &self.archive
    }

    /// Moves the cursor: the next event returned is the first after `after`.
    pub fn seek(&mut self, after: LogPosition) {
        self.after = after;
    }

    /// Waits until the archive holds an event after the cursor, and returns the head.
    pub async fn wait(&mut self) -> Result<LogPosition, ArchiveClosed> {
        let after = self.after;
        let head = self.head.wait_for(|head| *head > after).await.map_err(|_| ArchiveClosed)?;
        Ok(*head)
    }

    /// Up to `limit` events after the cursor, read now without waiting (possibly none).
    pub async fn read(&mut self, limit: usize) -> Result<Vec<(LogPosition, Envelope)>, LogError> {
        let archive = self.archive.clone();
        let after = self.after;
        let batch = tokio::task::spawn_blocking(move || archive.read_after(after, limit)).await??;
        if let Some((last, _)) = batch.last() {
            self.after = *last;
        }
        Ok(batch)
    }

    /// The next batch of up to `limit` events after the cursor, waiting for the archive to
    /// grow when the cursor is at its head. Never skips a position: when the head is
    /// ahead but the archive returns nothing (a snapshot install is replacing it), it
    /// waits and reads again.
    pub async fn next(&mut self, limit: usize) -> Result<Vec<(LogPosition, Envelope)>, FollowError> {
        loop {
            self.wait().await?;
            let batch = self.read(limit).await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            tokio::time::sleep(REPLACED_RETRY).await;
        }
    }
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Closed(#[from] ArchiveClosed),
    #[error(transparent)]
    Read(#[from] LogError),
}
