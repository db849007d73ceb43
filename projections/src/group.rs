//! Folding runs of events many to a write batch, for replay and snapshot installs.
//!
//! `fold` reads the committed views, never its own batch. So events can share a batch
//! only when none reads what another in it writes: PUTs and DELETEs of distinct keys,
//! whose folds read and write that key's history alone. Any other event is folded in a
//! batch of its own, as live apply does.

use std::collections::HashSet;

use fjall::OwnedWriteBatch;
use rucket_schemas::{Hlc, LogPosition, StorageEvent};

use crate::{keys, ProjectionError, Projections};

/// The most events one batch holds: bounds the batch's memory (a few hundred KiB of view
/// records) and the work a crash throws away.
const MAX_GROUP: usize = 256;

/// Folds events in position order, committing a batch whenever the next event cannot
/// join it. Each commit records the last folded position as applied, so a crash leaves
/// the views at a batch boundary. [`Self::commit`] must be called at the end.
pub struct GroupedFold<'a> {
    projections: &'a Projections,
    batch: OwnedWriteBatch,
    /// The key histories the batch's events touch.
    scopes: HashSet<Vec<u8>>,
    /// The last position folded into the batch and not yet committed.
    last: Option<LogPosition>,
    /// The last position committed.
    committed: Option<LogPosition>,
}

impl<'a> GroupedFold<'a> {
    pub fn new(projections: &'a Projections) -> Self {
        Self {
            projections,
            batch: projections.database().batch(),
            scopes: HashSet::new(),
            last: None,
            committed: None,
        }
    }

    /// The last position committed so far (also after an error).
    pub fn committed(&self) -> Option<LogPosition> {
        self.committed
    }

    /// Folds `event` (archived at `position`). `with` adds the caller's own writes for
    /// it (the archive record, the command id) to the same batch; they must not collide
    /// with another event's.
    pub fn fold(
        &mut self,
        position: LogPosition,
        hlc: Hlc,
        event: &StorageEvent,
        with: impl FnOnce(&mut OwnedWriteBatch),
    ) -> Result<(), ProjectionError> {
        let scope = fold_scope(event);
        let joins = scope.as_ref().is_some_and(|s| !self.scopes.contains(s)) && self.scopes.len() < MAX_GROUP;
        if !joins {
            self.commit()?;
        }
        with(&mut self.batch);
        if let Err(e) = self.projections.fold(&mut self.batch, position, hlc, event) {
            // Half an event must never be committed: drop the whole uncommitted batch.
            self.batch = self.projections.database().batch();
            self.scopes.clear();
            self.last = None;
            return Err(e);
        }
        self.last = Some(position);
        match scope {
            Some(s) => {
                self.scopes.insert(s);
            }
            None => {
                self.commit()?;
            }
        }
        Ok(())
    }

    /// Commits what the batch holds, with the last position as applied; returns that
    /// position (`None` when the batch was empty).
    pub fn commit(&mut self) -> Result<Option<LogPosition>, ProjectionError> {
        let Some(position) = self.last.take() else { return Ok(None) };
        self.projections.set_applied(&mut self.batch, position);
        let batch = std::mem::replace(&mut self.batch, self.projections.database().batch());
        batch.commit()?;
        self.scopes.clear();
        self.committed = Some(position);
        Ok(Some(position))
    }
}

/// The one key history whose fold of `event` reads and writes nothing else, if any.
fn fold_scope(event: &StorageEvent) -> Option<Vec<u8>> {
    match event {
        StorageEvent::ObjectCreated(e) => Some(keys::versions_of(&e.bucket, &e.key)),
        StorageEvent::ObjectDeleted(e) => Some(keys::versions_of(&e.bucket, &e.key)),
        _ => None,
    }
}
