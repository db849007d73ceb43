//! openraft's storage conformance suite against the fjall log store and state machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use rucket_log::{
    Durability, EventArchive, LogStore, NodeId, Rpc, StateMachine, TypeConfig, Wire, WireError, WireFuture,
};
use rucket_projections::Projections;

/// The suite hands a snapshot from one state machine to another in one process: a
/// snapshot names an archive prefix that the installing side pulls from its peers, so
/// every peer here is the longest archive built so far.
#[derive(Clone, Default)]
struct Loopback {
    archives: Arc<Mutex<Vec<EventArchive>>>,
}

impl Wire for Loopback {
    fn call(
        &self,
        target: NodeId,
        _address: &str,
        rpc: Rpc,
        body: Vec<u8>,
        _deadline: Duration,
    ) -> WireFuture {
        let longest = self.archives.lock().unwrap().iter().max_by_key(|a| a.head()).cloned();
        Box::pin(async move {
            match (rpc, longest) {
                (Rpc::ArchiveRange, Some(archive)) => rucket_log::serve_range(&archive, &body)
                    .await
                    .map_err(|reason| WireError::Refused { node: target, reason }),
                _ => Err(WireError::Unreachable {
                    node: target,
                    reason: format!("{rpc:?} is not served here"),
                }),
            }
        })
    }
}

#[derive(Default)]
struct FjallStores {
    peers: Loopback,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for FjallStores {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let io = |e: &dyn std::fmt::Display| -> StorageError<NodeId> {
            StorageIOError::write(&std::io::Error::other(e.to_string())).into()
        };
        let dir = tempfile::tempdir().map_err(|e| io(&e))?;
        let db = fjall::Database::builder(dir.path()).open().map_err(|e| io(&e))?;
        let log = LogStore::open(&db, Durability::Strict).map_err(|e| io(&e))?;
        let projections = Projections::open(&db).map_err(|e| io(&e))?;
        let archive = EventArchive::open(&db).map_err(|e| io(&e))?;
        let sm = StateMachine::open(&db, projections, archive.clone()).map_err(|e| io(&e))?;
        let mut archives = self.peers.archives.lock().unwrap();
        archives.push(archive);
        sm.connect(100 + archives.len() as NodeId, Arc::new(self.peers.clone()));
        Ok((dir, log, sm))
    }
}

#[test]
fn fjall_stores_pass_the_openraft_suite() {
    Suite::test_all(FjallStores::default()).expect("openraft storage suite");
}
