//! Snapshots as the missing suffix of the archive.
//!
//! A follower's archive is always a prefix of every other replica's: positions are the
//! same everywhere and archived bytes are identical. So a snapshot carries no data, only
//! a [`Manifest`]: the position it covers and the node that cut it. The node installing
//! it pulls the events it lacks, after its own head, page by page over the bulk
//! connection ([`crate::Rpc::ArchiveRange`]), each page read from the source's archive
//! on disk. Before folding a page it checks that the source's event at its own head is
//! byte for byte the one it holds; a node whose archive differs (it was restored from
//! elsewhere, or damaged) starts over from position 0.

use std::time::Duration;

use fjall::Keyspace;
use rucket_schemas::{Envelope, LogPosition};
use serde::{Deserialize, Serialize};

use crate::NodeId;

/// What a snapshot carries: the archive up to `position`, held by `source`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub position: LogPosition,
    pub source: NodeId,
}

/// Asks a peer for archived events after `after`, up to `upto`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangeRequest {
    pub after: LogPosition,
    pub upto: LogPosition,
    /// The page ends after the event that reaches this many bytes.
    pub max_bytes: u64,
}

/// A page of a peer's archive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangePage {
    /// The peer's newest archived position.
    pub head: LogPosition,
    /// The peer's record at `after` (absent for `after` = 0 and past its head), which the
    /// asker compares with its own before taking the page.
    pub base: Option<Vec<u8>>,
    /// Records at `after + 1`, `after + 2`, ... in order.
    pub events: Vec<(LogPosition, Vec<u8>)>,
}

/// The size a page aims at: large enough to amortize a round trip, small enough to hold
/// in memory on both sides.
pub(crate) const PAGE_BYTES: u64 = 4 << 20;
/// How long one page may take.
pub(crate) const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// Answers an encoded [`crate::Rpc::ArchiveRange`] call from `archive`: what a node does
/// when a peer installing a snapshot asks it for events.
pub async fn serve_range(archive: &crate::EventArchive, body: &[u8]) -> Result<Vec<u8>, String> {
    let request: RangeRequest =
        crate::codec::decode(body).map_err(|e| format!("decoding the request: {e}"))?;
    let archive = archive.clone();
    let page = tokio::task::spawn_blocking(move || read_page(&archive.events, archive.head(), &request))
        .await
        .map_err(|e| e.to_string())?;
    crate::codec::encode(&page).map_err(|e| format!("encoding the answer: {e}"))
}

/// Reads a page of `events` (an archive keyspace) for `request`.
pub(crate) fn read_page(
    events: &Keyspace,
    head: LogPosition,
    request: &RangeRequest,
) -> Result<RangePage, String> {
    let failed = |e: fjall::Error| format!("reading the archive: {e}");
    let base = match request.after.0 {
        0 => None,
        _ => events.get(request.after.to_key()).map_err(failed)?.map(|v| v.to_vec()),
    };
    let mut page = RangePage { head, base, events: Vec::new() };
    if request.upto <= request.after {
        return Ok(page);
    }
    let (mut bytes, first) = (0u64, LogPosition(request.after.0 + 1));
    for g in events.range(first.to_key()..=request.upto.to_key()) {
        let (k, v) = g.into_inner().map_err(failed)?;
        let position = LogPosition::from_key(&k).ok_or("an archive key of the wrong size")?;
        bytes += v.len() as u64;
        page.events.push((position, v.to_vec()));
        if bytes >= request.max_bytes {
            break;
        }
    }
    Ok(page)
}

/// Checks that a page continues the archive after `after` densely, stays within `upto`
/// and holds only records that open; returns them decoded.
pub(crate) fn check_page(
    page: Vec<(LogPosition, Vec<u8>)>,
    after: LogPosition,
    upto: LogPosition,
) -> Result<Vec<(LogPosition, Vec<u8>, Envelope)>, String> {
    let mut out = Vec::with_capacity(page.len());
    for (expected, (position, bytes)) in (after.0 + 1..).zip(page) {
        if position.0 != expected || position > upto {
            return Err(format!("the page holds position {position} where {expected} was due"));
        }
        let envelope = Envelope::from_bytes(&bytes).map_err(|e| format!("event {position}: {e}"))?;
        envelope.open().map_err(|e| format!("event {position}: {e}"))?;
        out.push((position, bytes, envelope));
    }
    Ok(out)
}

/// How long to wait after `failures` rounds in which no peer could give a page.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(200u64 << failures.min(5))
}

#[cfg(test)]
mod tests {
    use rucket_schemas::{BucketName, EventId, Hlc, RegionId, StorageEvent};

    use super::*;

    fn envelope(i: u64) -> Vec<u8> {
        let event = StorageEvent::BucketCreated(rucket_schemas::BucketCreated {
            bucket: BucketName::parse(&format!("bucket{i}")).unwrap(),
            owner: rucket_schemas::UserId::new("root"),
            location: String::new(),
            object_lock_enabled: false,
        });
        Envelope::seal(&event, Hlc::new(i << 20, 1), RegionId::new("us-east-1"), EventId([i as u8; 16]))
            .unwrap()
            .to_bytes()
    }

    #[test]
    fn pages_cut_at_their_byte_budget_and_stop_at_upto() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let events = db.keyspace("archive.events", fjall::KeyspaceCreateOptions::default).unwrap();
        for i in 1..=10 {
            events.insert(LogPosition(i).to_key(), envelope(i)).unwrap();
        }
        let size = envelope(1).len() as u64;
        let ask = |after, upto, max_bytes| {
            read_page(
                &events,
                LogPosition(10),
                &RangeRequest { after: LogPosition(after), upto: LogPosition(upto), max_bytes },
            )
            .unwrap()
        };
        let page = ask(0, 10, size * 3);
        assert_eq!(page.base, None);
        assert_eq!(page.events.iter().map(|(p, _)| p.0).collect::<Vec<_>>(), [1, 2, 3]);
        let page = ask(3, 5, u64::MAX);
        assert_eq!(page.base, Some(envelope(3)));
        assert_eq!(page.events.iter().map(|(p, _)| p.0).collect::<Vec<_>>(), [4, 5]);
        assert!(check_page(page.events.clone(), LogPosition(3), LogPosition(5)).is_ok());
        // A gap, a page past the snapshot, a damaged record: each refused.
        assert!(check_page(page.events.clone(), LogPosition(2), LogPosition(5)).is_err());
        assert!(check_page(page.events.clone(), LogPosition(3), LogPosition(4)).is_err());
        let mut damaged = page.events;
        let last = damaged[1].1.len() - 1;
        damaged[1].1[last] ^= 1;
        assert!(check_page(damaged, LogPosition(3), LogPosition(5)).is_err());
        // Past the peer's head: no base, nothing to give.
        let page = ask(12, 14, u64::MAX);
        assert_eq!((page.base, page.events.len()), (None, 0));
    }
}
