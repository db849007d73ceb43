//! Folding runs of events: many to a write batch (snapshot installs, imports), or
//! staged in memory and written as sorted tables (replay into a fresh generation).
//!
//! `fold` into a batch reads the committed views, never its own batch. So events can
//! share a batch only when none reads what another in it writes: PUTs and DELETEs of
//! distinct keys, whose folds read and write that key's history alone. Any other event is
//! folded in a batch of its own, as live apply does. A staged fold has no such limit: its
//! reads see what it staged.

use std::collections::HashSet;

use fjall::OwnedWriteBatch;
use rucket_schemas::{Hlc, LogPosition, StorageEvent};

use crate::tx::{FoldTx, Staged, View};
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

/// Folds events in position order into staged views in memory, writing them as sorted
/// tables (no memtable, no journal) whenever the stage outgrows its memory budget and at
/// [`Self::commit`], the applied position last.
///
/// For a fresh generation that nothing else reads or writes until the fold is done (a
/// rebuild, a verify's scratch views): a stage is written view by view, so a crash in the
/// middle of a write leaves views that only a fold from the start can be trusted to
/// repair (a rebuild deletes an unfinished generation before it starts again).
pub struct StagedFold<'a> {
    projections: &'a Projections,
    staged: Staged,
    /// Stage this many bytes at most before writing them out.
    budget: usize,
    last: Option<LogPosition>,
    committed: Option<LogPosition>,
}

/// The default budget of a staged fold: its memory use is about twice this (the maps'
/// own cost beyond the bytes counted; a new version's record, counted in both views it
/// is kept in, is stored once) plus fjall's caches.
pub const STAGE_BUDGET: usize = 256 << 20;

impl<'a> StagedFold<'a> {
    pub fn new(projections: &'a Projections, budget: usize) -> Result<Self, ProjectionError> {
        let stored = !projections.is_empty();
        Ok(Self { projections, staged: Staged::new(stored), budget, last: None, committed: None })
    }

    /// The last position written so far (also after an error).
    pub fn committed(&self) -> Option<LogPosition> {
        self.committed
    }

    /// Folds `event` (archived at `position`). On an error, everything staged since the
    /// last write is dropped (half an event must never be written).
    pub fn fold(
        &mut self,
        position: LogPosition,
        hlc: Hlc,
        event: &StorageEvent,
    ) -> Result<(), ProjectionError> {
        let folded = self.projections.fold_in(
            &mut FoldTx::staged(self.projections, &mut self.staged),
            position,
            hlc,
            event,
        );
        if let Err(e) = folded {
            self.staged = Staged::new(true);
            self.last = None;
            return Err(e);
        }
        self.last = Some(position);
        if self.staged.bytes() >= self.budget {
            self.commit()?;
        }
        Ok(())
    }

    /// Writes what is staged, with the last position as applied; returns that position
    /// (`None` when nothing was staged).
    pub fn commit(&mut self) -> Result<Option<LogPosition>, ProjectionError> {
        let Some(position) = self.last.take() else { return Ok(None) };
        FoldTx::staged(self.projections, &mut self.staged).insert(
            View::Meta,
            keys::APPLIED,
            position.to_key(),
        );
        self.staged.spill(self.projections)?;
        self.committed = Some(position);
        Ok(Some(position))
    }
}
