//! Where a fold reads the views and where its changes go.
//!
//! Live apply folds each event into a write batch: its reads see the committed views and
//! never the batch. A replay into a fresh generation stages its changes in memory
//! instead ([`Staged`]): reads see the staged changes first, so any run of events can be
//! folded before anything is written, and the staged views reach the disk as sorted
//! tables (fjall's ingestion) rather than through the memtables and the journal.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use fjall::{Keyspace, OwnedWriteBatch, Slice};
use rucket_schemas::{BucketName, ObjectKey};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::{keys, ProjectionError, Projections};

/// The keyspaces a fold writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    Buckets,
    Objects,
    Versions,
    Uploads,
    Parts,
    Configs,
    Tags,
    Acls,
    Meta,
    Locks,
    Seals,
    AccessKeys,
    Garbage,
}

impl View {
    /// The views that keep something beside a version or an upload (tags, grants, locks,
    /// part checksums), removed with it though most versions and uploads never had any.
    pub(crate) const KEPT_BESIDE: [View; 4] = [View::Tags, View::Acls, View::Locks, View::Parts];

    pub(crate) const ALL: [View; 13] = [
        View::Buckets,
        View::Objects,
        View::Versions,
        View::Uploads,
        View::Parts,
        View::Configs,
        View::Tags,
        View::Acls,
        View::Meta,
        View::Locks,
        View::Seals,
        View::AccessKeys,
        View::Garbage,
    ];
}

impl Projections {
    pub(crate) fn keyspace(&self, view: View) -> &Keyspace {
        match view {
            View::Buckets => &self.buckets,
            View::Objects => &self.objects,
            View::Versions => &self.versions,
            View::Uploads => &self.uploads,
            View::Parts => &self.parts,
            View::Configs => &self.configs,
            View::Tags => &self.tags,
            View::Acls => &self.acls,
            View::Meta => &self.meta,
            View::Locks => &self.locks,
            View::Seals => &self.seals,
            View::AccessKeys => &self.access_keys,
            View::Garbage => &self.garbage,
        }
    }
}

/// A key and value read from a view.
pub(crate) type Item = (Slice, Slice);

/// What a prefix read yields, in key order.
pub(crate) type Items<'a> = Box<dyn Iterator<Item = Result<Item, ProjectionError>> + 'a>;

/// Point and prefix reads of the views, as one fold sees them.
pub(crate) trait Reads {
    fn get(&self, view: View, key: &[u8]) -> Result<Option<Slice>, ProjectionError>;
    fn prefix(&self, view: View, prefix: &[u8]) -> Items<'_>;

    /// A key's history in `versions`, newest first.
    fn history(&self, bucket: &BucketName, key: &ObjectKey) -> Items<'_> {
        self.prefix(View::Versions, &keys::versions_of(bucket, key))
    }
}

impl Reads for Projections {
    fn get(&self, view: View, key: &[u8]) -> Result<Option<Slice>, ProjectionError> {
        Ok(self.keyspace(view).get(key)?)
    }

    fn prefix(&self, view: View, prefix: &[u8]) -> Items<'_> {
        Box::new(self.keyspace(view).prefix(prefix).map(|g| g.into_inner().map_err(Into::into)))
    }
}

/// One fold's reads and writes: over a write batch (live apply) or over staged changes.
pub(crate) struct FoldTx<'a> {
    pub(crate) projections: &'a Projections,
    into: Sink<'a>,
}

enum Sink<'a> {
    Batch(&'a mut OwnedWriteBatch),
    Staged(&'a mut Staged),
}

impl<'a> FoldTx<'a> {
    pub(crate) fn batch(projections: &'a Projections, batch: &'a mut OwnedWriteBatch) -> Self {
        Self { projections, into: Sink::Batch(batch) }
    }

    pub(crate) fn staged(projections: &'a Projections, staged: &'a mut Staged) -> Self {
        Self { projections, into: Sink::Staged(staged) }
    }

    pub(crate) fn insert(&mut self, view: View, key: impl Into<Slice>, value: impl Into<Slice>) {
        match &mut self.into {
            Sink::Batch(batch) => batch.insert(self.projections.keyspace(view), key, value),
            Sink::Staged(staged) => staged.put(view, key.into(), Some(value.into())),
        }
    }

    pub(crate) fn remove(&mut self, view: View, key: impl Into<Slice>) {
        match &mut self.into {
            Sink::Batch(batch) => batch.remove(self.projections.keyspace(view), key),
            Sink::Staged(staged) => staged.put(view, key.into(), None),
        }
    }
}

impl Reads for FoldTx<'_> {
    fn get(&self, view: View, key: &[u8]) -> Result<Option<Slice>, ProjectionError> {
        if let Sink::Staged(staged) = &self.into {
            if let Some(change) = staged.views[view as usize].get(&Descending(Slice::from(key))) {
                return Ok(change.clone());
            }
            if !staged.stored {
                return Ok(None);
            }
        }
        self.projections.get(view, key)
    }

    fn history(&self, bucket: &BucketName, key: &ObjectKey) -> Items<'_> {
        let prefix = keys::versions_of(bucket, key);
        match &self.into {
            Sink::Staged(staged) if !staged.may_have_written(&prefix) => {
                staged.changes(View::Versions, &prefix)
            }
            _ => self.prefix(View::Versions, &prefix),
        }
    }

    fn prefix(&self, view: View, prefix: &[u8]) -> Items<'_> {
        let Sink::Staged(staged) = &self.into else { return self.projections.prefix(view, prefix) };
        if !staged.stored {
            return staged.changes(view, prefix);
        }
        Box::new(Merged {
            changes: staged.changes_under(view, prefix).peekable(),
            stored: self.projections.prefix(view, prefix).peekable(),
        })
    }
}

/// Staged changes (`None`: removed) in front of stored items, in key order.
struct Merged<C: Iterator<Item = (Slice, Option<Slice>)>, S: Iterator<Item = Result<Item, ProjectionError>>> {
    changes: std::iter::Peekable<C>,
    stored: std::iter::Peekable<S>,
}

impl<C, S> Iterator for Merged<C, S>
where
    C: Iterator<Item = (Slice, Option<Slice>)>,
    S: Iterator<Item = Result<Item, ProjectionError>>,
{
    type Item = Result<Item, ProjectionError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let stored_key = match self.stored.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => return self.stored.next(),
                None => None,
            };
            let change_first = match (self.changes.peek(), &stored_key) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((ck, _)), Some(sk)) => {
                    if ck == sk {
                        // The staged change replaces what is stored.
                        self.stored.next();
                    }
                    ck <= sk
                }
            };
            if !change_first {
                return self.stored.next();
            }
            if let Some((k, Some(v))) = self.changes.next() {
                return Some(Ok((k, v)));
            }
        }
    }
}

/// Changes folded but not yet written, per view, in key order (`None`: removed).
///
/// Made for a fresh generation: while nothing is stored in its views every read is
/// answered from memory and a removal simply forgets the key.
pub(crate) struct Staged {
    views: Vec<BTreeMap<Descending, Option<Slice>>>,
    /// Bytes staged (keys, values and a share of the map's own cost).
    bytes: usize,
    /// Whether the stored views may hold something (then reads fall through to them and
    /// removals are written too).
    stored: bool,
    /// Hashes of the key histories (`versions` prefixes) this stage has written, when
    /// every stored version came through it: a history not among them has nothing stored,
    /// so reading it needs no trip to the tables. Nearly every PUT reads its key's
    /// history, so this keeps a fold past its first write about as fast as before it.
    written_histories: Option<HashSet<u64>>,
    /// Likewise, hashes of the keys this stage has written to the views of
    /// [`View::KEPT_BESIDE`]: removing a key not among them needs no tombstone (an
    /// overwritten version or a finished upload removes its tags, grants, lock and part
    /// checksums, which it rarely had).
    written_beside: Option<HashSet<u64>>,
}

/// A staged key, kept in descending order. A fold's keys tend to arrive in ascending
/// order (a fill, keys named by time or sequence), and a B-tree searches each node from
/// its smallest key: in descending order the newest key is found after one comparison per
/// node rather than after all of them (these keys share long prefixes, so comparisons are
/// most of a staged insert's cost).
#[derive(Clone, PartialEq, Eq)]
struct Descending(Slice);

impl Ord for Descending {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

impl PartialOrd for Descending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Adds `hashes` to a set of written keys; past [`MAX_WRITTEN_HASHES`] the set is dropped,
/// and every read or removal it would have spared asks the tables, as in a generation that
/// did not start empty.
fn remember(written: &mut Option<HashSet<u64>>, hashes: impl Iterator<Item = u64>) {
    if let Some(set) = written {
        set.extend(hashes);
        if set.len() > MAX_WRITTEN_HASHES {
            *written = None;
        }
    }
}

/// The hash [`Staged`] remembers a key written beside a version by.
fn beside_hash(view: View, key: &[u8]) -> u64 {
    xxh3_64_with_seed(key, view as u64)
}

/// The most hashes each of [`Staged`]'s sets of written keys holds (about 16 bytes each
/// with the table's own cost); past it, that set is dropped.
const MAX_WRITTEN_HASHES: usize = 8 << 20;

/// What one staged entry costs beyond its key and value (the map's node share, the two
/// slices' headers), roughly.
const ENTRY_OVERHEAD: usize = 80;

impl Staged {
    /// `stored`: whether the views may already hold something.
    pub(crate) fn new(stored: bool) -> Self {
        Self {
            views: View::ALL.iter().map(|_| BTreeMap::new()).collect(),
            bytes: 0,
            stored,
            written_histories: (!stored).then(HashSet::new),
            written_beside: (!stored).then(HashSet::new),
        }
    }

    /// Whether the tables may hold `key` of `view`: never while nothing is stored; once
    /// something is, always for views not tracked.
    fn may_hold(&self, view: View, key: &[u8]) -> bool {
        self.stored
            && (!View::KEPT_BESIDE.contains(&view)
                || self.written_beside.as_ref().is_none_or(|w| w.contains(&beside_hash(view, key))))
    }

    /// Whether the tables may hold some of the history under `prefix` (a
    /// [`keys::versions_of`] prefix).
    fn may_have_written(&self, prefix: &[u8]) -> bool {
        self.stored && self.written_histories.as_ref().is_none_or(|h| h.contains(&xxh3_64(prefix)))
    }

    /// The staged changes under `prefix`, in key order (`None`: removed).
    fn changes_under(&self, view: View, prefix: &[u8]) -> impl Iterator<Item = (Slice, Option<Slice>)> + '_ {
        let owned = prefix.to_vec();
        // Every key from `prefix` up, in ascending order.
        self.views[view as usize]
            .range(..=Descending(Slice::from(prefix)))
            .rev()
            .take_while(move |(k, _)| k.0.starts_with(&owned))
            .map(|(k, v)| (k.0.clone(), v.clone()))
    }

    /// The staged items under `prefix`, for reads that need nothing from the tables.
    fn changes(&self, view: View, prefix: &[u8]) -> Items<'_> {
        Box::new(self.changes_under(view, prefix).filter_map(|(k, v)| v.map(|v| Ok((k, v)))))
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn put(&mut self, view: View, key: Slice, value: Option<Slice>) {
        let size =
            |k: &Slice, v: &Option<Slice>| k.len() + v.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        // Removing a key the tables cannot hold only forgets what is staged for it.
        let forget = value.is_none() && !self.may_hold(view, &key);
        let map = &mut self.views[view as usize];
        let old = if forget {
            map.remove_entry(&Descending(key)).map(|(k, v)| (k.0, v))
        } else {
            self.bytes += size(&key, &value);
            map.insert(Descending(key.clone()), value).map(|old| (key, old))
        };
        if let Some((k, v)) = old {
            self.bytes -= size(&k, &v);
        }
    }

    /// Writes every staged change into `projections`' views as new sorted tables, the
    /// `meta` view (with the applied position) last, and empties the stage.
    pub(crate) fn spill(&mut self, projections: &Projections) -> Result<(), ProjectionError> {
        let order = View::ALL.iter().filter(|v| **v != View::Meta).chain([&View::Meta]);
        for view in order {
            let changes = std::mem::take(&mut self.views[*view as usize]);
            if changes.is_empty() {
                continue;
            }
            if *view == View::Versions {
                // A version key is its history's prefix and a 16-byte stamp.
                let histories = changes.keys().map(|k| xxh3_64(&k.0[..k.0.len().saturating_sub(16)]));
                remember(&mut self.written_histories, histories);
            }
            if View::KEPT_BESIDE.contains(view) {
                remember(&mut self.written_beside, changes.keys().map(|k| beside_hash(*view, &k.0)));
            }
            let mut ingestion = projections.keyspace(*view).start_ingestion()?;
            for (Descending(key), value) in changes.into_iter().rev() {
                match value {
                    Some(value) => ingestion.write(key, value)?,
                    None => ingestion.write_tombstone(key)?,
                }
            }
            ingestion.finish()?;
        }
        self.bytes = 0;
        self.stored = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a fresh generation, removing a key kept beside a version stages a tombstone
    /// only when an earlier write of the stage put that key in the tables.
    #[test]
    fn removals_beside_versions_are_tombstones_only_for_written_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let projections = Projections::open(&db).unwrap();
        let mut staged = Staged::new(false);
        let key = |k: &str| Slice::from(k.as_bytes());
        staged.put(View::Tags, key("written"), Some(key("tags")));
        staged.put(View::Versions, key("version"), Some(key("entry")));
        staged.spill(&projections).unwrap();
        for k in ["written", "never", "version"] {
            staged.put(View::Tags, key(k), None);
        }
        staged.put(View::Versions, key("version"), None);
        staged.put(View::Versions, key("other"), None);
        let tombstones = |view: View| -> Vec<Vec<u8>> {
            staged.views[view as usize]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.0.to_vec())
                .collect()
        };
        assert_eq!(tombstones(View::Tags), vec![b"written".to_vec()]);
        // Removals from views not tracked are always written once the tables hold something.
        assert_eq!(tombstones(View::Versions), vec![b"version".to_vec(), b"other".to_vec()]);
        // A key staged and then removed before any write is simply forgotten.
        staged.put(View::Acls, key("fresh"), Some(key("grants")));
        staged.put(View::Acls, key("fresh"), None);
        assert!(staged.views[View::Acls as usize].is_empty());
        // Reads find neither the forgotten key nor the removed one; a key put again after
        // its removal is read back.
        staged.put(View::Tags, key("again"), None);
        staged.put(View::Tags, key("again"), Some(key("tags again")));
        let tx = FoldTx::staged(&projections, &mut staged);
        assert_eq!(tx.get(View::Tags, b"never").unwrap(), None);
        assert_eq!(tx.get(View::Tags, b"written").unwrap(), None);
        assert_eq!(tx.get(View::Tags, b"again").unwrap(), Some(key("tags again")));
        let listed: Vec<_> = tx.prefix(View::Tags, b"").map(|item| item.unwrap().0.to_vec()).collect();
        assert_eq!(listed, vec![b"again".to_vec()]);
    }

    /// Keys are staged in descending order; reads and writes still see them ascending.
    #[test]
    fn staged_prefix_reads_are_in_ascending_key_order() {
        let mut staged = Staged::new(false);
        let keys: [&[u8]; 6] = [b"b", b"ab\0x", b"a", b"abc", b"ab", b"aa"];
        for key in keys {
            staged.put(View::Versions, Slice::from(key), Some(Slice::from(key)));
        }
        fn under(staged: &Staged, prefix: &[u8]) -> Vec<Vec<u8>> {
            staged.changes_under(View::Versions, prefix).map(|(k, _)| k.to_vec()).collect()
        }
        assert_eq!(under(&staged, b"ab"), vec![b"ab".to_vec(), b"ab\0x".to_vec(), b"abc".to_vec()]);
        assert_eq!(under(&staged, b"a").len(), 5);
        assert!(under(&staged, b"c").is_empty());
        assert_eq!(under(&staged, b""), vec![&b"a"[..], b"aa", b"ab", b"ab\0x", b"abc", b"b"]);
        // Nothing is stored, so a removal forgets the key.
        staged.put(View::Versions, Slice::from(&b"abc"[..]), None);
        assert_eq!(under(&staged, b"ab"), vec![b"ab".to_vec(), b"ab\0x".to_vec()]);
    }
}
