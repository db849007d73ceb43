//! The upkeep of a cluster node's blob files, until placement and repair exist.
//!
//! - **Resync.** Bodies that applied events name but that this node lacks are fetched from
//!   a peer (their CRCs checked on arrival): after a snapshot install, which brings the
//!   events but not their bodies; after the node was down while writes went on; after a
//!   copy to it failed. A pass runs once the node has caught up, after every snapshot
//!   install and every [`RESYNC_EVERY`].
//! - **Orphan collection.** Files that no applied event names and that are older than
//!   [`ORPHAN_GRACE`] are removed: copies of writes that never committed and versions
//!   whose release was not carried out. The grace period covers copies of writes still
//!   on their way through the log and a node that is behind; a pass runs once the node
//!   has caught up, then every grace period.

use crate::volumes::Volumes;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rucket_blobs::BlobStore;
use rucket_log::Node;
use rucket_schemas::BlobId;

use super::copies::Copies;

/// How often a node looks for bodies it lacks when nothing else prompts it.
pub const RESYNC_EVERY: Duration = Duration::from_secs(600);
/// How old an unreferenced blob file must be before it is removed.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);
/// Fetches in flight at once during a resync pass.
const FETCHES: usize = 4;

/// Starts the upkeep loop of a cluster node.
pub fn spawn(node: Arc<Node>, copies: Copies, blobs: BlobStore, volumes: Volumes) {
    tokio::spawn(async move {
        let mut installs = node.snapshot_installs();
        let mut last_sweep: Option<Instant> = None;
        loop {
            while let Err(e) = node.read_barrier().await {
                tracing::debug!(error = %e, "blob upkeep waits until this node has caught up");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            installs.mark_unchanged();
            if let Err(e) = resync(&node, &copies, &blobs, &volumes).await {
                tracing::error!(error = %e, "the blob resync pass failed");
            }
            // A resync pass may be long: the sweep checks again that the node is caught
            // up and that no install began (one that refolds empties the archive, and
            // every file would look unreferenced).
            let settled = node.read_barrier().await.is_ok()
                && !node.snapshot_installing()
                && !installs.has_changed().unwrap_or(true);
            if settled && last_sweep.is_none_or(|at| at.elapsed() >= ORPHAN_GRACE) {
                last_sweep = Some(Instant::now());
                let (swept_node, swept_blobs) = (Arc::clone(&node), blobs.clone());
                let swept = tokio::task::spawn_blocking(move || {
                    if let Err(e) = swept_blobs.remove_stale_incoming(ORPHAN_GRACE) {
                        tracing::warn!(error = %e, "could not remove stale partial copies");
                    }
                    crate::server::sweep_orphans(swept_node.projections(), &swept_blobs, ORPHAN_GRACE)
                })
                .await;
                if let Ok(Err(e)) | Err(e) = swept.map_err(anyhow::Error::from) {
                    tracing::error!(error = %e, "the orphan sweep failed");
                }
            }
            let next_sweep = match last_sweep {
                Some(at) => ORPHAN_GRACE.saturating_sub(at.elapsed()),
                None => Duration::from_secs(30),
            };
            tokio::select! {
                changed = installs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(RESYNC_EVERY.min(next_sweep)) => {}
            }
        }
    });
}

/// One resync pass: fetches every referenced body this node lacks, while its volumes are
/// above the reserve (a read of a body it lacks still fetches that one).
async fn resync(node: &Node, copies: &Copies, blobs: &BlobStore, volumes: &Volumes) -> anyhow::Result<()> {
    let (projections, store) = (node.projections().clone(), blobs.clone());
    let missing: Vec<BlobId> = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<BlobId>> {
        Ok(projections.referenced_blobs()?.into_iter().filter(|id| !store.contains(id)).collect())
    })
    .await??;
    metrics::gauge!(crate::metrics::CLUSTER_BLOBS_MISSING).set(missing.len() as f64);
    if missing.is_empty() {
        return Ok(());
    }
    tracing::info!(missing = missing.len(), "fetching bodies this node lacks from its peers");
    let outcomes: Vec<bool> = futures::stream::iter(missing)
        .map(|id| async move {
            if let Some(short) = volumes.short(0) {
                tracing::debug!(blob = %id, "not fetched: {}", short.message());
                return false;
            }
            match copies.fetch(&id).await {
                Ok(true) => true,
                Ok(false) => {
                    tracing::warn!(blob = %id, "no peer holds a body that an applied event names");
                    false
                }
                Err(e) => {
                    tracing::warn!(blob = %id, error = %e, "could not fetch a missing body");
                    false
                }
            }
        })
        .buffer_unordered(FETCHES)
        .collect()
        .await;
    let (fetched, left) =
        outcomes.iter().fold((0, 0), |(f, l), ok| if *ok { (f + 1, l) } else { (f, l + 1) });
    metrics::gauge!(crate::metrics::CLUSTER_BLOBS_MISSING).set(left as f64);
    match volumes.short(0) {
        Some(short) => tracing::warn!(fetched, left, "blob resync pass done; {}", short.message()),
        None => tracing::info!(fetched, left, "blob resync pass done"),
    }
    Ok(())
}
