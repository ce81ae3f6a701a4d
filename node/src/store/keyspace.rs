//! The ordered key-value space a store lives in: one sled tree on disk, or a map in memory
//! with the same semantics, so that every rule, view and index test runs against both, and a
//! simulator can run hundreds of members without a disk.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use sled::IVec;

use super::StoreError;

/// One key-value entry.
pub type Entry = Result<(IVec, IVec), StoreError>;

/// Entries in key order; reversible, for "newest first" listings.
pub type Entries<'a> = Box<dyn DoubleEndedIterator<Item = Entry> + Send + 'a>;

/// Writes applied together: `None` deletes the key.
pub type Writes = Vec<(Vec<u8>, Option<IVec>)>;

/// What a store reads: the current value of a key, and the nearest key of a range.
pub trait Lookup {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError>;

    /// The entry with the smallest key in `[start, end)`, or the largest when `last`: how a
    /// packed listing finds the bucket an entry belongs in ([`super::bucket`]).
    fn seek(
        &self,
        start: &[u8],
        end: &[u8],
        last: bool,
    ) -> Result<Option<(IVec, IVec)>, StoreError>;
}

/// The backend of a store.
#[derive(Clone, Debug)]
pub enum Keyspace {
    /// sled's default tree, with writes staged for the next batch.
    Sled(Arc<SledSpace>),
    /// An ordered map in memory.
    Memory(Arc<RwLock<BTreeMap<Vec<u8>, IVec>>>),
}

/// sled's default tree, and the writes staged for it but not yet applied.
///
/// Every `sled::Batch` costs about 120 µs of CPU and a few hundred bytes of log whatever it
/// holds: sled 0.34 seals its IO buffer before and after each one (`pin_log`). So the writer
/// stages each message's writes here and applies many messages as one batch
/// ([`Keyspace::settle`]). Staged writes are seen by every point read at once; a range read
/// settles first. A crash loses staged writes as it loses sled's writes not yet flushed, and
/// never part of a message: each message's writes are staged together and applied together.
#[derive(Debug)]
pub struct SledSpace {
    db: sled::Db,
    staged: RwLock<Staged>,
}

#[derive(Debug, Default)]
struct Staged {
    writes: BTreeMap<Vec<u8>, Option<IVec>>,
    /// Groups of writes (messages) staged since the last batch.
    groups: usize,
    /// When the first of them was staged.
    since: Option<std::time::Instant>,
}

impl Keyspace {
    /// A keyspace on sled's default tree of `db`.
    pub fn sled(db: sled::Db) -> Self {
        Keyspace::Sled(Arc::new(SledSpace {
            db,
            staged: RwLock::default(),
        }))
    }

    /// An empty in-memory keyspace.
    pub fn memory() -> Self {
        Keyspace::Memory(Arc::default())
    }

    /// The sled database (`None` in memory).
    pub fn db(&self) -> Option<&sled::Db> {
        match self {
            Keyspace::Sled(space) => Some(&space.db),
            Keyspace::Memory(_) => None,
        }
    }

    /// Whether `key` holds a value.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(key)?.is_some())
    }

    /// Entries with keys in `[start, end)` (`end` `None`: to the end of the keyspace).
    pub fn range(&self, start: &[u8], end: Option<&[u8]>) -> Entries<'_> {
        match self {
            Keyspace::Sled(space) => {
                if let Err(e) = self.settle() {
                    return Box::new(std::iter::once(Err(e)));
                }
                let iter = match end {
                    Some(end) => space.db.range(start.to_vec()..end.to_vec()),
                    None => space.db.range(start.to_vec()..),
                };
                Box::new(iter.map(|e| e.map_err(StoreError::from)))
            }
            Keyspace::Memory(map) => {
                let end = end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec()));
                let entries: Vec<Entry> = read(map)
                    .range((Bound::Included(start.to_vec()), end))
                    .map(|(k, v)| Ok((IVec::from(k.as_slice()), v.clone())))
                    .collect();
                Box::new(entries.into_iter())
            }
        }
    }

    /// Entries whose key starts with `prefix`.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Entries<'_> {
        match prefix_end(prefix) {
            Some(end) => self.range(prefix, Some(&end)),
            None => self.range(prefix, None),
        }
    }

    /// Applies `writes` (with anything staged before them) atomically now: a crash leaves all
    /// of them or none.
    pub fn apply(&self, writes: Writes) -> Result<(), StoreError> {
        self.stage(writes);
        self.settle()
    }

    /// Stages `writes` for the next batch; they are seen by reads at once. Returns how many
    /// groups of writes are staged. In memory, applies them at once.
    pub fn stage(&self, writes: Writes) -> usize {
        match self {
            Keyspace::Sled(space) => {
                let mut staged = space.staged.write().unwrap_or_else(|e| e.into_inner());
                staged.writes.extend(writes);
                staged.groups += 1;
                staged.since.get_or_insert_with(std::time::Instant::now);
                staged.groups
            }
            Keyspace::Memory(map) => {
                let mut map = map.write().unwrap_or_else(|e| e.into_inner());
                for (key, value) in writes {
                    match value {
                        Some(value) => map.insert(key, value),
                        None => map.remove(&key),
                    };
                }
                0
            }
        }
    }

    /// Whether writes are staged.
    pub fn has_staged(&self) -> bool {
        self.staged_since().is_some()
    }

    /// When the oldest staged write was staged (`None`: nothing is staged).
    pub fn staged_since(&self) -> Option<std::time::Instant> {
        match self {
            Keyspace::Sled(space) => {
                let staged = space.staged.read().unwrap_or_else(|e| e.into_inner());
                staged.since.filter(|_| !staged.writes.is_empty())
            }
            Keyspace::Memory(_) => None,
        }
    }

    /// Applies everything staged as one sled batch.
    pub fn settle(&self) -> Result<(), StoreError> {
        let Keyspace::Sled(space) = self else {
            return Ok(());
        };
        // Held while sled applies the batch, so a reader sees each write staged or applied,
        // never neither.
        let mut staged = space.staged.write().unwrap_or_else(|e| e.into_inner());
        if staged.writes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (key, value) in &staged.writes {
            match value {
                Some(value) => batch.insert(key.as_slice(), value.clone()),
                None => batch.remove(key.as_slice()),
            }
        }
        space.db.apply_batch(batch)?;
        *staged = Staged::default();
        Ok(())
    }
}

impl Lookup for Keyspace {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        match self {
            Keyspace::Sled(space) => {
                let staged = space.staged.read().unwrap_or_else(|e| e.into_inner());
                match staged.writes.get(key) {
                    Some(value) => Ok(value.clone()),
                    None => Ok(space.db.get(key)?),
                }
            }
            Keyspace::Memory(map) => Ok(read(map).get(key).cloned()),
        }
    }

    fn seek(
        &self,
        start: &[u8],
        end: &[u8],
        last: bool,
    ) -> Result<Option<(IVec, IVec)>, StoreError> {
        match self {
            Keyspace::Sled(space) => {
                let staged = space.staged.read().unwrap_or_else(|e| e.into_inner());
                let staged = staged.writes.range::<[u8], _>(between(start, end));
                let db = space.db.range(start..end);
                if last {
                    seek_staged(staged.rev(), db.rev(), |a, b| b.cmp(a))
                } else {
                    seek_staged(staged, db, |a, b| a.cmp(b))
                }
            }
            Keyspace::Memory(map) => read(map).seek(start, end, last),
        }
    }
}

/// The first entry of sled's range `db` as the staged writes over it change it: a staged
/// value replaces sled's, a staged deletion hides it. Both iterators run in the seek's
/// direction, which `order` gives.
fn seek_staged<'a>(
    staged: impl Iterator<Item = (&'a Vec<u8>, &'a Option<IVec>)>,
    db: impl Iterator<Item = sled::Result<(IVec, IVec)>>,
    order: impl Fn(&[u8], &[u8]) -> std::cmp::Ordering,
) -> Result<Option<(IVec, IVec)>, StoreError> {
    let (mut staged, mut db) = (staged.peekable(), db.peekable());
    loop {
        let db_head = match db.peek() {
            Some(Ok((key, _))) => Some(key.clone()),
            Some(Err(_)) => return Err(db.next().expect("peeked").expect_err("peeked").into()),
            None => None,
        };
        let staged_first = match (staged.peek(), &db_head) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((key, _)), Some(db_key)) => order(key, db_key) != std::cmp::Ordering::Greater,
        };
        if !staged_first {
            return Ok(db.next().transpose()?);
        }
        let (key, value) = staged.next().expect("peeked");
        if db_head.as_deref() == Some(key.as_slice()) {
            db.next();
        }
        if let Some(value) = value {
            return Ok(Some((IVec::from(key.as_slice()), value.clone())));
        }
    }
}

/// `[start, end)` over borrowed keys, so that ranging a map of `Vec<u8>` copies neither.
fn between<'a>(start: &'a [u8], end: &'a [u8]) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(start), Bound::Excluded(end))
}

fn read(
    map: &RwLock<BTreeMap<Vec<u8>, IVec>>,
) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, IVec>> {
    map.read().unwrap_or_else(|e| e.into_inner())
}

/// The smallest key greater than every key starting with `prefix` (`None`: there is none).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Lookup for BTreeMap<Vec<u8>, IVec> {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        Ok(BTreeMap::get(self, key).cloned())
    }

    fn seek(
        &self,
        start: &[u8],
        end: &[u8],
        last: bool,
    ) -> Result<Option<(IVec, IVec)>, StoreError> {
        let mut range = self.range::<[u8], _>(between(start, end));
        let entry = if last {
            range.next_back()
        } else {
            range.next()
        };
        Ok(entry.map(|(k, v)| (IVec::from(k.as_slice()), v.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> [Keyspace; 2] {
        let db = sled::Config::new().temporary(true).open().unwrap();
        [Keyspace::sled(db), Keyspace::memory()]
    }

    #[test]
    fn ranges_and_prefixes_agree_on_both_backends() {
        for ks in both() {
            ks.apply(vec![
                (b"a1".to_vec(), Some(IVec::from(&b"x"[..]))),
                (b"a2".to_vec(), Some(IVec::from(&b"y"[..]))),
                (b"a\xff".to_vec(), Some(IVec::from(&b"z"[..]))),
                (b"b1".to_vec(), Some(IVec::from(&b"w"[..]))),
            ])
            .unwrap();
            fn keys(it: impl Iterator<Item = Entry>) -> Vec<Vec<u8>> {
                it.map(|e| e.unwrap().0.to_vec()).collect()
            }
            assert_eq!(keys(ks.scan_prefix(b"a")), [&b"a1"[..], b"a2", b"a\xff"]);
            assert_eq!(keys(ks.scan_prefix(b"a").rev()).len(), 3);
            assert_eq!(keys(ks.range(b"a2", Some(b"b1"))), [&b"a2"[..], b"a\xff"]);
            assert_eq!(keys(ks.range(b"a\xff", None)), [&b"a\xff"[..], b"b1"]);
            ks.apply(vec![(b"a1".to_vec(), None)]).unwrap();
            assert!(!ks.contains(b"a1").unwrap());
            assert_eq!(ks.get(b"b1").unwrap().unwrap(), b"w");
        }
    }

    #[test]
    fn seek_finds_the_nearest_key_through_staged_writes() {
        let ks = Keyspace::sled(sled::Config::new().temporary(true).open().unwrap());
        let value = |v: &[u8]| Some(IVec::from(v));
        ks.apply(vec![
            (b"k1".to_vec(), value(b"1")),
            (b"k3".to_vec(), value(b"3")),
            (b"k5".to_vec(), value(b"5")),
        ])
        .unwrap();
        // Staged: k3 deleted, k4 added, k5 changed; sled itself still has the old state.
        ks.stage(vec![
            (b"k3".to_vec(), None),
            (b"k4".to_vec(), value(b"4")),
            (b"k5".to_vec(), value(b"five")),
        ]);
        let seek = |ks: &Keyspace, start: &[u8], end: &[u8], last: bool| {
            ks.seek(start, end, last)
                .unwrap()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
        };
        let memory = Keyspace::memory();
        memory
            .apply(vec![
                (b"k1".to_vec(), value(b"1")),
                (b"k4".to_vec(), value(b"4")),
                (b"k5".to_vec(), value(b"five")),
            ])
            .unwrap();
        /// `(start, end, last, expected entry)`.
        type Case<'a> = (&'a [u8], &'a [u8], bool, Option<(&'a [u8], &'a [u8])>);
        let cases: [Case; 6] = [
            (b"k", b"k4", true, Some((b"k1", b"1"))),
            (b"k2", b"k9", false, Some((b"k4", b"4"))),
            (b"k", b"k9", true, Some((b"k5", b"five"))),
            (b"k3", b"k4", false, None),
            (b"k", b"k1", true, None),
            (b"k5", b"k6", false, Some((b"k5", b"five"))),
        ];
        for (start, end, last, expected) in cases {
            let expected = expected.map(|(k, v)| (k.to_vec(), v.to_vec()));
            assert_eq!(
                seek(&ks, start, end, last),
                expected,
                "{start:?}..{end:?} {last}"
            );
            assert_eq!(seek(&memory, start, end, last), expected, "memory");
        }
        ks.settle().unwrap();
        assert_eq!(
            seek(&ks, b"k2", b"k9", false),
            Some((b"k4".to_vec(), b"4".to_vec()))
        );
    }

    #[test]
    fn staged_writes_are_read_at_once_and_applied_together() {
        let ks = Keyspace::sled(sled::Config::new().temporary(true).open().unwrap());
        ks.apply(vec![(b"k".to_vec(), Some(IVec::from(&b"old"[..])))])
            .unwrap();
        assert_eq!(ks.stage(vec![(b"k".to_vec(), None)]), 1);
        assert_eq!(ks.stage(vec![(b"n".to_vec(), Some(IVec::default()))]), 2);
        assert_eq!(
            ks.get(b"k").unwrap(),
            None,
            "a staged delete hides the value"
        );
        let db = ks.db().unwrap();
        assert!(db.contains_key(b"k").unwrap(), "not applied yet");
        // A range read settles first, so it sees the staged writes.
        let keys: Vec<_> = ks.range(b"", None).map(|e| e.unwrap().0).collect();
        assert_eq!(keys, [IVec::from(&b"n"[..])]);
        assert!(!ks.has_staged());
        assert!(!db.contains_key(b"k").unwrap());
    }

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
