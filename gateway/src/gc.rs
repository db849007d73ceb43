//! The blob collector: removes the files of blobs that applied events released (an
//! overwritten or deleted version, a replaced part, an aborted or completed upload).
//!
//! It is driven by the events, never by guessing: folding an event records the blobs it
//! releases in the projections' garbage list in the same write as the rest of its
//! effect, and this task drains that list. A crash between the two loses nothing; the
//! list is still there at the next start. Bodies that never became an event (a rejected
//! or failed write) are removed by the request that stored them, and the start-up sweep
//! catches those a crash interrupted.

use std::sync::Arc;
use std::time::Duration;

use rucket_blobs::BlobStore;
use rucket_log::Node;
use tokio::sync::Notify;

/// Blobs removed per round before the list is read again.
const ROUND: usize = 1024;
/// How long the collector sleeps when nobody wakes it (catches a missed wake-up).
const IDLE: Duration = Duration::from_secs(5);

/// A handle that tells the collector there is garbage.
#[derive(Clone, Default)]
pub struct Collector {
    wake: Arc<Notify>,
}

impl Collector {
    /// A handle whose wake-ups nobody hears (a read-only server collects nothing).
    pub fn idle() -> Self {
        Self::default()
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the collector for `node`'s garbage list. With `sync_first` (relaxed
    /// durability) the log is synced before files go, so a crash never revives a version
    /// whose bytes are gone.
    pub fn start(node: Arc<Node>, blobs: BlobStore, sync_first: bool) -> Self {
        let collector = Self::default();
        let wake = Arc::clone(&collector.wake);
        tokio::spawn(async move {
            loop {
                let node = Arc::clone(&node);
                let blobs = blobs.clone();
                let round = tokio::task::spawn_blocking(move || collect(&node, &blobs, sync_first)).await;
                let more = match round {
                    Ok(Ok(removed)) => removed == ROUND,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the blob collector failed; retrying later");
                        false
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the blob collector panicked; retrying later");
                        false
                    }
                };
                if !more {
                    let _ = tokio::time::timeout(IDLE, wake.notified()).await;
                }
            }
        });
        collector
    }
}

/// One round: removes up to [`ROUND`] released blobs and forgets them. A blob that
/// cannot be removed is logged, counted and forgotten too, so one bad file never stops
/// the collection of the others (the start-up sweep tries it again).
fn collect(node: &Node, blobs: &BlobStore, sync_first: bool) -> anyhow::Result<usize> {
    let projections = node.projections();
    let ids = projections.garbage(ROUND)?;
    if ids.is_empty() {
        return Ok(0);
    }
    if sync_first {
        node.sync()?;
    }
    let mut removed = 0u64;
    for id in &ids {
        match blobs.remove(id) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::error!(blob = %id, error = %e, "could not remove a released blob");
                metrics::counter!(crate::metrics::BLOBS_COLLECT_FAILURES).increment(1);
            }
        }
    }
    projections.forget_garbage(&ids)?;
    metrics::counter!(crate::metrics::BLOBS_COLLECTED).increment(removed);
    tracing::debug!(removed, "collected released blobs");
    Ok(ids.len())
}
