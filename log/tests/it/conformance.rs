//! openraft's storage conformance suite against the fjall log store and state machine.

use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use rucket_log::{Durability, EventArchive, LogStore, NodeId, StateMachine, TypeConfig};
use rucket_projections::Projections;

struct FjallStores;

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
        let sm = StateMachine::open(&db, projections, archive).map_err(|e| io(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn fjall_stores_pass_the_openraft_suite() {
    Suite::test_all(FjallStores).expect("openraft storage suite");
}
