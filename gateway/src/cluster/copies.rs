//! Whole copies of blob files on other nodes, until erasure-coded placement exists.
//!
//! A body stored on one node is copied to its peers before the command that refers to it
//! is proposed: the write waits until a majority of the voters (this node included when
//! it votes) hold it fsynced, and the copies to the remaining nodes finish in the
//! background. A node asked for bytes it lacks (a copy that failed, a node that was down
//! or joined later) fetches them from a peer that has them; every copy is checked against
//! the file's own CRCs on arrival.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::TryStreamExt;
use http::{Method, StatusCode};
use rucket_blobs::BlobStore;
use rucket_log::{Node, NodeId, WireError};
use rucket_schemas::BlobId;

use super::wire::{refusal_text, HttpWire, BLOB_LEN};

/// The least time one copy may take; larger blobs get more at [`MIN_RATE`].
const COPY_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest transfer rate a copy is allowed before it counts as failed (bytes/s).
const MIN_RATE: u64 = 5 << 20;

/// Why a write's bytes could not reach enough nodes.
#[derive(Debug, thiserror::Error)]
#[error("the body reached {copies} of the {needed} nodes a write needs: {reasons}")]
pub struct TooFewCopies {
    pub copies: usize,
    pub needed: usize,
    pub reasons: String,
}

#[derive(Clone)]
pub struct Copies {
    wire: HttpWire,
    node: Arc<Node>,
    blobs: BlobStore,
}

impl Copies {
    pub fn new(wire: HttpWire, node: Arc<Node>, blobs: BlobStore) -> Self {
        Self { wire, node, blobs }
    }

    /// Every other member of the cluster and whether it votes.
    fn others(&self) -> (BTreeMap<NodeId, (String, bool)>, bool, usize) {
        let status = self.node.status();
        let me = status.id;
        let self_votes = status.voters.contains_key(&me);
        let voters = status.voters.len();
        let others = status
            .voters
            .into_iter()
            .map(|(id, addr)| (id, (addr, true)))
            .chain(status.learners.into_iter().map(|(id, addr)| (id, (addr, false))))
            .filter(|(id, _)| *id != me)
            .collect();
        (others, self_votes, voters)
    }

    /// Copies `ids` (stored and fsynced here) to the other members; returns once a
    /// majority of voters holds every one of them.
    pub async fn replicate(&self, ids: &[BlobId]) -> Result<(), TooFewCopies> {
        if ids.is_empty() {
            return Ok(());
        }
        let (others, self_votes, voters) = self.others();
        let majority = voters / 2 + 1;
        let needed = majority.saturating_sub(usize::from(self_votes));
        if others.is_empty() {
            return Ok(());
        }
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(others.len());
        for (id, (address, votes)) in others {
            let (copies, ids, done) = (self.clone(), ids.to_vec(), done_tx.clone());
            // Each copy runs to its end even after the write has its majority, so the
            // remaining nodes hold the bytes too.
            tokio::spawn(async move {
                let mut result = Ok(());
                for blob in &ids {
                    result = copies.send(id, &address, blob).await;
                    if result.is_err() {
                        break;
                    }
                }
                if let Err(e) = &result {
                    tracing::warn!(node = id, error = %e, "a blob copy failed; the node fetches it when asked");
                }
                let _ = done.send((votes, result)).await;
            });
        }
        drop(done_tx);
        let (mut copies, mut reasons) = (0usize, Vec::new());
        while copies < needed {
            match done_rx.recv().await {
                Some((true, Ok(()))) => copies += 1,
                Some((true, Err(e))) => reasons.push(e.to_string()),
                Some((false, _)) => {}
                None => break,
            }
        }
        if copies < needed {
            metrics::counter!(crate::metrics::CLUSTER_COPY_FAILURES).increment(1);
            return Err(TooFewCopies {
                copies: copies + usize::from(self_votes),
                needed: majority,
                reasons: reasons.join("; "),
            });
        }
        Ok(())
    }

    async fn send(&self, target: NodeId, address: &str, blob: &BlobId) -> Result<(), WireError> {
        let local = |e: rucket_blobs::BlobError| WireError::Refused {
            node: target,
            reason: format!("reading the local copy: {e}"),
        };
        let (file, len) = self.blobs.open_for_copy(blob).map_err(local)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10)
            .map_err(std::io::Error::other);
        // The length travels in the signed path.
        let path = format!("/_cluster/v1/blob/{blob}?len={len}");
        let deadline = COPY_TIMEOUT + Duration::from_secs(len / MIN_RATE);
        let exchange = async {
            let response =
                self.wire.bulk(target, address, Method::PUT, &path, &[], Body::from_stream(stream)).await?;
            if response.status() != StatusCode::OK {
                return Err(WireError::Refused { node: target, reason: refusal_text(response).await });
            }
            Ok(())
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .unwrap_or(Err(WireError::Timeout { node: target, after: deadline }))
    }

    /// Brings a blob this node lacks from a peer that holds it. `Ok(false)` when no peer
    /// has it either.
    pub async fn fetch(&self, blob: &BlobId) -> Result<bool, WireError> {
        let (others, _, _) = self.others();
        let path = format!("/_cluster/v1/blob/{blob}");
        let mut last_error = None;
        for (id, (address, _)) in others {
            let response = match self.wire.bulk(id, &address, Method::GET, &path, &[], Body::empty()).await {
                Ok(response) => response,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => continue,
                _ => {
                    last_error = Some(WireError::Refused { node: id, reason: refusal_text(response).await });
                    continue;
                }
            }
            let Some(len) =
                response.headers().get(BLOB_LEN).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
            else {
                last_error =
                    Some(WireError::Refused { node: id, reason: "no blob length in the answer".into() });
                continue;
            };
            let body = Body::new(response.into_body()).into_data_stream();
            let deadline = COPY_TIMEOUT + Duration::from_secs(len / MIN_RATE);
            match tokio::time::timeout(deadline, self.blobs.receive(blob, len, body)).await {
                Ok(Ok(())) => {
                    metrics::counter!(crate::metrics::CLUSTER_BLOBS_FETCHED).increment(1);
                    tracing::info!(blob = %blob, from = id, "fetched a missing blob from a peer");
                    return Ok(true);
                }
                Ok(Err(e)) => last_error = Some(WireError::Refused { node: id, reason: e.to_string() }),
                Err(_) => last_error = Some(WireError::Timeout { node: id, after: deadline }),
            }
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }
}
