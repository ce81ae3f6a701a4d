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

/// What a store reads: the current value of a key.
pub trait Lookup {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError>;
}

/// The backend of a store.
#[derive(Clone, Debug)]
pub enum Keyspace {
    /// sled's default tree.
    Sled(sled::Db),
    /// An ordered map in memory.
    Memory(Arc<RwLock<BTreeMap<Vec<u8>, IVec>>>),
}

impl Keyspace {
    /// An empty in-memory keyspace.
    pub fn memory() -> Self {
        Keyspace::Memory(Arc::default())
    }

    /// Whether `key` holds a value.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        match self {
            Keyspace::Sled(db) => Ok(db.contains_key(key)?),
            Keyspace::Memory(map) => Ok(read(map).contains_key(key)),
        }
    }

    /// Entries with keys in `[start, end)` (`end` `None`: to the end of the keyspace).
    pub fn range(&self, start: &[u8], end: Option<&[u8]>) -> Entries<'_> {
        match self {
            Keyspace::Sled(db) => {
                let iter = match end {
                    Some(end) => db.range(start.to_vec()..end.to_vec()),
                    None => db.range(start.to_vec()..),
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
        match self {
            Keyspace::Sled(db) => {
                Box::new(db.scan_prefix(prefix).map(|e| e.map_err(StoreError::from)))
            }
            Keyspace::Memory(_) => match prefix_end(prefix) {
                Some(end) => self.range(prefix, Some(&end)),
                None => self.range(prefix, None),
            },
        }
    }

    /// Applies `writes` atomically: a crash leaves all of them or none.
    pub fn apply(&self, writes: Writes) -> Result<(), StoreError> {
        match self {
            Keyspace::Sled(db) => {
                let mut batch = sled::Batch::default();
                for (key, value) in writes {
                    match value {
                        Some(value) => batch.insert(key, value),
                        None => batch.remove(key),
                    }
                }
                db.apply_batch(batch)?;
            }
            Keyspace::Memory(map) => {
                let mut map = map.write().unwrap_or_else(|e| e.into_inner());
                for (key, value) in writes {
                    match value {
                        Some(value) => map.insert(key, value),
                        None => map.remove(&key),
                    };
                }
            }
        }
        Ok(())
    }
}

impl Lookup for Keyspace {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        match self {
            Keyspace::Sled(db) => Ok(db.get(key)?),
            Keyspace::Memory(map) => Ok(read(map).get(key).cloned()),
        }
    }
}

fn read(
    map: &RwLock<BTreeMap<Vec<u8>, IVec>>,
) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, IVec>> {
    map.read().unwrap_or_else(|e| e.into_inner())
}

/// The smallest key greater than every key starting with `prefix` (`None`: there is none).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Writes planned but not yet applied, in front of a keyspace: reads see them, so several
/// messages can be planned one after another and applied as one batch.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Keyspace,
    pending: BTreeMap<Vec<u8>, Option<IVec>>,
}

impl<'a> Overlay<'a> {
    /// Nothing pending yet.
    pub fn new(base: &'a Keyspace) -> Self {
        Self {
            base,
            pending: BTreeMap::new(),
        }
    }

    /// Adds writes on top of what is pending.
    pub fn extend(&mut self, writes: Writes) {
        self.pending.extend(writes);
    }

    /// Number of keys written.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Applies everything pending as one batch.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let writes = std::mem::take(&mut self.pending).into_iter().collect();
        self.base.apply(writes)
    }
}

impl Lookup for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        match self.pending.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }
}

impl Lookup for BTreeMap<Vec<u8>, IVec> {
    fn get(&self, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        Ok(BTreeMap::get(self, key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> [Keyspace; 2] {
        let db = sled::Config::new().temporary(true).open().unwrap();
        [Keyspace::Sled(db), Keyspace::memory()]
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
    fn an_overlay_reads_its_pending_writes_first() {
        let ks = Keyspace::memory();
        ks.apply(vec![(b"k".to_vec(), Some(IVec::from(&b"old"[..])))])
            .unwrap();
        let mut overlay = Overlay::new(&ks);
        overlay.extend(vec![(b"k".to_vec(), None)]);
        assert_eq!(overlay.get(b"k").unwrap(), None);
        assert!(ks.contains(b"k").unwrap(), "nothing applied before commit");
        overlay.commit().unwrap();
        assert!(!ks.contains(b"k").unwrap());
    }

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
