//! Packed listings (store schema 4): the timeline `t` and the `new` feed `n` keep their
//! entries several to a key, in buckets, because almost every message adds an entry to one of
//! them and sled 0.34 pays about 0.9 KB of log for each new key however small it is, but far
//! less for a rewrite of a key a batch already holds (PERFORMANCE.md, "Packed listings").
//!
//! An entry is a sort key `n (8) ‖ id (32)` (`created_at` or `order`, then the message id)
//! followed by the listing's fixed extra bytes (none for `t`; the `n` entry's flag). A bucket
//! is one key `prefix ‖ group (32) ‖ sort key (40)` whose value is 1 to [`BUCKET_ENTRIES`]
//! entries in ascending order. Its key is a lower bound: every entry of a bucket sorts at or
//! after the bucket's key and before the next bucket's key, so an entry belongs in the bucket
//! with the greatest key not after it. A full bucket splits: an entry appended after its last
//! starts a new bucket (time-ordered listings fill their buckets), any other splits it in
//! half. An entry before every bucket joins the first bucket (which is re-keyed) while it has
//! room. A bucket whose last entry is removed is deleted; its key is not raised.
//!
//! Readers see the unpacked layout of schema 3: [`entries`] yields one entry per listed
//! message, keyed `prefix ‖ group ‖ sort key`, valued by its extra bytes.

use sled::IVec;

use super::keyspace::{prefix_end, Entries, Entry, Keyspace, Lookup, Writes};
use super::layout::{self, prefix};
use super::{StoreError, LISTING_HEAD as HEAD_LEN};
use crate::message::MessageId;

/// Bytes of an entry's sort key: `n (8) ‖ id (32)`.
pub const SORT_LEN: usize = 40;
/// Most entries a bucket holds. Measured (PERFORMANCE.md, "Packed listings"): larger buckets
/// write less when a batch holds many messages and more when it holds one.
pub const BUCKET_ENTRIES: usize = 16;

/// A packed listing: its prefix and the bytes each entry carries after its sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The key prefix of its buckets.
    pub prefix: u8,
    /// Bytes after an entry's sort key.
    pub extra: usize,
}

/// The timeline: every message of a group by `created_at`.
pub const TIMELINE: Listing = Listing {
    prefix: prefix::TIMELINE,
    extra: 0,
};

/// The `new` feed: posts by `order`, each with its flag ([`layout::new_entry`]).
pub const NEW: Listing = Listing {
    prefix: prefix::NEW,
    extra: 1,
};

/// The sort key of an entry: `n ‖ id`.
pub fn sort_key(n: u64, id: &MessageId) -> [u8; SORT_LEN] {
    let mut key = [0; SORT_LEN];
    key[..8].copy_from_slice(&n.to_be_bytes());
    key[8..].copy_from_slice(&id.0);
    key
}

impl Listing {
    fn entry_len(self) -> usize {
        SORT_LEN + self.extra
    }

    /// `prefix ‖ group`: where the group's buckets start.
    fn head(self, group: &[u8; 32]) -> Vec<u8> {
        layout::key(self.prefix, &[group])
    }

    /// The entries of a bucket's value, with room for one more.
    fn parse(self, value: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
        if value.is_empty() || !value.len().is_multiple_of(self.entry_len()) {
            return Err(StoreError::Corrupt {
                what: "listing bucket",
                detail: format!(
                    "{} bytes, not a whole number of {}-byte entries",
                    value.len(),
                    self.entry_len()
                ),
            });
        }
        let mut entries = Vec::with_capacity(value.len() / self.entry_len() + 1);
        entries.extend(value.chunks_exact(self.entry_len()));
        Ok(entries)
    }
}

/// The bucket `sort` belongs in: the one with the greatest key not after it.
fn floor(
    db: &impl Lookup,
    head: &[u8],
    sort: &[u8; SORT_LEN],
) -> Result<Option<(IVec, IVec)>, StoreError> {
    // Just past `head ‖ sort`: the floor may be `sort`'s own bucket.
    let mut end = Vec::with_capacity(head.len() + SORT_LEN + 1);
    end.extend_from_slice(head);
    end.extend_from_slice(sort);
    end.push(0);
    db.seek(head, &end, true)
}

/// The writes that list `sort ‖ extra` in `group`'s listing `l` (replacing the extra bytes of
/// an entry with the same sort key).
pub fn insert(
    db: &impl Lookup,
    l: Listing,
    group: &[u8; 32],
    sort: &[u8; SORT_LEN],
    extra: &[u8],
) -> Result<Writes, StoreError> {
    debug_assert_eq!(extra.len(), l.extra);
    let head = l.head(group);
    let entry = [&sort[..], extra].concat();
    let Some((key, value)) = floor(db, &head, sort)? else {
        // Before every bucket: join the first while it has room, re-keyed to this entry.
        let start = [&head[..], sort].concat();
        let end = prefix_end(&head).unwrap_or_default();
        let mut writes = Vec::new();
        let mut entries = vec![entry.as_slice()];
        // Bound here: its entries are borrowed until they are packed below.
        let first = db.seek(&start, &end, false)?;
        if let Some((key, value)) = &first {
            let after = l.parse(value)?;
            if after.len() < BUCKET_ENTRIES {
                entries.extend(after);
                writes.push((key.to_vec(), None));
            }
        }
        writes.push((start, Some(pack(&entries))));
        return Ok(writes);
    };
    let mut entries = l.parse(&value)?;
    let at = match entries.binary_search_by(|e| e[..SORT_LEN].cmp(sort)) {
        Ok(at) if entries[at] == entry.as_slice() => return Ok(Vec::new()),
        Ok(at) => {
            entries[at] = &entry;
            return Ok(vec![(key.to_vec(), Some(pack(&entries)))]);
        }
        Err(at) => at,
    };
    entries.insert(at, &entry);
    if entries.len() <= BUCKET_ENTRIES {
        return Ok(vec![(key.to_vec(), Some(pack(&entries)))]);
    }
    // Full: an entry after the last starts the next bucket; any other splits it in half.
    let split = if at == entries.len() - 1 {
        at
    } else {
        entries.len() / 2
    };
    let (left, right) = entries.split_at(split);
    let right_key = [&head[..], &right[0][..SORT_LEN]].concat();
    Ok(vec![
        (key.to_vec(), Some(pack(left))),
        (right_key, Some(pack(right))),
    ])
}

/// The writes that remove the entry `sort` from `group`'s listing `l` (none if absent).
pub fn remove(
    db: &impl Lookup,
    l: Listing,
    group: &[u8; 32],
    sort: &[u8; SORT_LEN],
) -> Result<Writes, StoreError> {
    let Some((key, value)) = floor(db, &l.head(group), sort)? else {
        return Ok(Vec::new());
    };
    let mut entries = l.parse(&value)?;
    let Ok(at) = entries.binary_search_by(|e| e[..SORT_LEN].cmp(sort)) else {
        return Ok(Vec::new());
    };
    entries.remove(at);
    let value = (!entries.is_empty()).then(|| pack(&entries));
    Ok(vec![(key.to_vec(), value)])
}

/// The writes that change the extra bytes of the entry `sort` (none if it is not listed or
/// already says so).
pub fn set_extra(
    db: &impl Lookup,
    l: Listing,
    group: &[u8; 32],
    sort: &[u8; SORT_LEN],
    extra: &[u8],
) -> Result<Writes, StoreError> {
    let Some((key, value)) = floor(db, &l.head(group), sort)? else {
        return Ok(Vec::new());
    };
    let mut entries = l.parse(&value)?;
    let Ok(at) = entries.binary_search_by(|e| e[..SORT_LEN].cmp(sort)) else {
        return Ok(Vec::new());
    };
    if entries[at][SORT_LEN..] == *extra {
        return Ok(Vec::new());
    }
    let entry = [&sort[..], extra].concat();
    entries[at] = &entry;
    Ok(vec![(key.to_vec(), Some(pack(&entries)))])
}

fn pack(entries: &[&[u8]]) -> IVec {
    IVec::from(entries.concat())
}

/// The entries of `group`'s listing `l` whose sort key is not before `from` (`None`: all), in
/// the unpacked layout: key `prefix ‖ group ‖ sort key`, value the entry's extra bytes.
/// Reversible, and lazy by bucket.
pub fn entries<'a>(
    ks: &'a Keyspace,
    l: Listing,
    group: &[u8; 32],
    from: Option<[u8; SORT_LEN]>,
) -> Entries<'a> {
    let head = l.head(group);
    let start = match from.map(|sort| floor(ks, &head, &sort)).transpose() {
        Ok(Some(Some((key, _)))) => key.to_vec(),
        Ok(_) => head.clone(),
        Err(e) => return Box::new(std::iter::once(Err(e))),
    };
    let end = prefix_end(&head);
    Box::new(
        ks.range(&start, end.as_deref())
            .flat_map(move |bucket| unpack(l, bucket))
            .filter(move |entry| match (entry, from) {
                (Ok((key, _)), Some(from)) => key[HEAD_LEN..] >= from[..],
                _ => true,
            }),
    )
}

/// The entries of one bucket, in the unpacked layout.
fn unpack(l: Listing, bucket: Entry) -> Vec<Entry> {
    let unpacked = bucket.and_then(|(key, value)| {
        if key.len() != HEAD_LEN + SORT_LEN {
            return Err(StoreError::Corrupt {
                what: "listing bucket",
                detail: format!("key of {} bytes", key.len()),
            });
        }
        let entries = l.parse(&value)?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let key = [&key[..HEAD_LEN], &e[..SORT_LEN]].concat();
                Ok((IVec::from(key), IVec::from(&e[SORT_LEN..])))
            })
            .collect())
    });
    unpacked.unwrap_or_else(|e| vec![Err(e)])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    type Map = BTreeMap<Vec<u8>, IVec>;

    const GROUP: [u8; 32] = [7; 32];

    fn apply(map: &mut Map, writes: Writes) {
        for (key, value) in writes {
            match value {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            };
        }
    }

    /// Plans against `map`, then applies the writes.
    fn with(map: &mut Map, plan: impl FnOnce(&Map) -> Result<Writes, StoreError>) {
        let writes = plan(map).unwrap();
        apply(map, writes);
    }

    fn sort(n: u64) -> [u8; SORT_LEN] {
        sort_key(n, &MessageId([n as u8; 32]))
    }

    /// The listing as `(n, extra)` pairs, read back through [`entries`] from a keyspace.
    fn listed(map: &Map, l: Listing, from: Option<u64>) -> Vec<(u64, Vec<u8>)> {
        let ks = Keyspace::memory();
        ks.apply(
            map.iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        )
        .unwrap();
        entries(&ks, l, &GROUP, from.map(sort))
            .map(|e| {
                let (key, value) = e.unwrap();
                (layout::u64_at(&key, HEAD_LEN), value.to_vec())
            })
            .collect()
    }

    /// Entries per bucket, in key order.
    fn buckets(map: &Map, l: Listing) -> Vec<usize> {
        map.values().map(|v| v.len() / l.entry_len()).collect()
    }

    #[test]
    fn appended_entries_fill_their_buckets() {
        let mut map = Map::new();
        const B: usize = BUCKET_ENTRIES;
        for n in 0..100 {
            with(&mut map, |m| insert(m, NEW, &GROUP, &sort(n), &[0]));
        }
        let full = vec![B; 100 / B];
        assert_eq!(buckets(&map, NEW), [full, vec![100 % B]].concat());
        let all = listed(&map, NEW, None);
        assert_eq!(
            all.iter().map(|e| e.0).collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
        let from_50: Vec<u64> = listed(&map, NEW, Some(50)).iter().map(|e| e.0).collect();
        assert_eq!(from_50, (50..100).collect::<Vec<_>>());
    }

    #[test]
    fn any_order_gives_the_same_listing_in_bounded_buckets() {
        // Scenario: the same 300 entries in ascending, descending and shuffled order. Assert:
        // the same listing each time; every bucket holds 1 to BUCKET_ENTRIES entries.
        let ascending: Vec<u64> = (0..300).map(|n| n * 3).collect();
        let descending: Vec<u64> = ascending.iter().rev().copied().collect();
        let shuffled: Vec<u64> = (0..300u64).map(|i| (i * 7919) % 300 * 3).collect();
        let mut listings = Vec::new();
        for order in [ascending, descending, shuffled] {
            let mut map = Map::new();
            for n in order {
                with(&mut map, |m| insert(m, TIMELINE, &GROUP, &sort(n), &[]));
            }
            assert!(buckets(&map, TIMELINE)
                .iter()
                .all(|b| (1..=BUCKET_ENTRIES).contains(b)));
            listings.push(listed(&map, TIMELINE, None));
        }
        assert_eq!(listings[0].len(), 300);
        assert!(listings.iter().all(|l| *l == listings[0]));
    }

    #[test]
    fn flags_change_in_place_and_removal_empties_buckets() {
        const B: u64 = BUCKET_ENTRIES as u64;
        let mut map = Map::new();
        for n in 1..=B + 8 {
            with(&mut map, |m| insert(m, NEW, &GROUP, &sort(n), &[0]));
        }
        assert_eq!(buckets(&map, NEW), [B as usize, 8]);
        with(&mut map, |m| set_extra(m, NEW, &GROUP, &sort(B + 3), &[1]));
        assert!(set_extra(&map, NEW, &GROUP, &sort(B + 3), &[1])
            .unwrap()
            .is_empty());
        assert!(set_extra(&map, NEW, &GROUP, &sort(99), &[1])
            .unwrap()
            .is_empty());
        assert!(
            insert(&map, NEW, &GROUP, &sort(B + 3), &[1])
                .unwrap()
                .is_empty(),
            "listed"
        );
        let flagged: Vec<u64> = listed(&map, NEW, None)
            .into_iter()
            .filter(|e| e.1 == [1])
            .map(|e| e.0)
            .collect();
        assert_eq!(flagged, [B + 3]);
        for n in B + 1..=B + 8 {
            with(&mut map, |m| remove(m, NEW, &GROUP, &sort(n)));
        }
        assert_eq!(
            buckets(&map, NEW),
            [B as usize],
            "the emptied bucket is gone"
        );
        assert!(remove(&map, NEW, &GROUP, &sort(B + 1)).unwrap().is_empty());
        // An entry before the first bucket's key joins it, re-keyed, while it has room.
        with(&mut map, |m| remove(m, NEW, &GROUP, &sort(1)));
        with(&mut map, |m| insert(m, NEW, &GROUP, &sort(0), &[0]));
        assert_eq!(buckets(&map, NEW), [B as usize]);
        let first_key = map.keys().next().unwrap();
        assert_eq!(first_key[HEAD_LEN..], sort(0));
        let listing: Vec<u64> = listed(&map, NEW, None).iter().map(|e| e.0).collect();
        assert_eq!(listing, [vec![0], (2..=B).collect()].concat());
    }

    #[test]
    fn other_groups_and_listings_are_not_read() {
        let mut map = Map::new();
        with(&mut map, |m| insert(m, NEW, &GROUP, &sort(5), &[0]));
        let other = [8; 32];
        with(&mut map, |m| insert(m, NEW, &other, &sort(1), &[0]));
        with(&mut map, |m| insert(m, TIMELINE, &GROUP, &sort(2), &[]));
        assert_eq!(listed(&map, NEW, None), [(5, vec![0])]);
        assert_eq!(listed(&map, TIMELINE, None), [(2, vec![])]);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn a_corrupt_bucket_is_an_error_not_a_panic() {
        let ks = Keyspace::memory();
        let key = [&NEW.head(&GROUP)[..], &sort(1)].concat();
        ks.apply(vec![(key, Some(IVec::from(&[1u8, 2, 3][..])))])
            .unwrap();
        assert!(entries(&ks, NEW, &GROUP, None).any(|e| e.is_err()));
        assert!(insert(&ks, NEW, &GROUP, &sort(2), &[0]).is_err());
        let short = NEW.head(&GROUP);
        let ks = Keyspace::memory();
        ks.apply(vec![(short, Some(IVec::from(vec![0; 41])))])
            .unwrap();
        assert!(entries(&ks, NEW, &GROUP, None).any(|e| e.is_err()));
    }
}
