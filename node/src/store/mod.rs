//! Durable storage: one sled tree holding the messages and every index of them.
//!
//! The key layout is documented in [`layout`] (and in `docs/ARCHITECTURE.md`); the index
//! entries of a message are planned by the pure functions of [`plan`]; [`keyspace`] runs the
//! same store on sled or in memory; `sled_db` opens the sled database under it. Each message
//! is written with all its index entries (and, for one's own message, its outbox entry) as one
//! atomic sled batch: a crash leaves all of it or none. Deduplication by message id is
//! persistent, so a replay long after the gossip layer forgot the message is still recognised.
//!
//! There is one writer, [`Store`], owned by the node's actor (or by an offline command); it
//! reads what it plans against without a transaction because nothing else writes. Any number
//! of [`StoreReader`]s (sync serving, views) read concurrently.
//!
//! Reads never rescan: rankings are indexes kept up to date when a recommendation changes a
//! count, and message counts are counters. Edits, deletions and removals are checked when a
//! message is shown (only the author's own edits and deletions count; removals were checked to
//! come from an admin on arrival), so they may arrive before or after their target.
//!
//! This file is long (about 1 050 lines) and one concern: the store's API, one short method per
//! question a rule or a view asks, each reading one key or one range of the layout.

pub mod bucket;
pub mod keyspace;
pub mod layout;
pub mod plan;
mod sled_db;
mod v1;

use std::path::Path;
use std::sync::Arc;

use cove_crypto::{GroupId, GroupSecret, PublicKey};
use serde::{Deserialize, Serialize};
use sled::IVec;

use crate::message::{Content, Edit, MessageId, Profile, SignedMessage};
use keyspace::{Entries, Keyspace, Lookup};
use layout::{prefix, u64_at, MessageHeader};
pub(crate) use sled_db::is_lock_held;
use sled_db::{open_db, Checkpoint, OPEN_TRIES};
pub use sled_db::{CACHE_BYTES, SEGMENT_BYTES};

pub use layout::DAY_MS;
pub use plan::{hot_boost, hot_score};

/// The rankings kept as indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// Post order (`created_at` clamped to first seen), newest first.
    New,
    /// Recommendations with time decay ([`hot_score`]).
    Hot,
    /// Most recommendations.
    Top,
}

/// Messages planned per batch when many are written at once (migration, reindex).
const BULK_BATCH: usize = 1000;

/// Messages staged before the writer applies them as one batch (group commit; see
/// [`keyspace::SledSpace`]). The node's actor also applies them at most 500 ms after the
/// first was staged.
pub const GROUP_COMMIT: usize = 64;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption, lock held by another process).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record did not decode: the store was written by something else.
    #[error("store record {what} is corrupt: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The store was written by a newer Cove with a layout this one does not know.
    #[error(
        "the store has schema {found}, newer than the {supported} this cove understands; \
         run the cove that wrote it, or a newer one"
    )]
    NewerSchema {
        /// The store's schema.
        found: u32,
        /// The newest this binary reads.
        supported: u32,
    },
}

/// What this node keeps about a group it belongs to. The secret is wiped from memory when
/// the record is dropped and never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The group secret from which every group key derives.
    #[serde(with = "serde_bytes")]
    pub secret: [u8; 32],
    /// The group's name, from its charter.
    pub name: String,
    /// The founder-signed charter message, as signed.
    #[serde(with = "serde_bytes")]
    pub charter: Vec<u8>,
    /// Peers to dial for this group (from the invite), as multiaddr text.
    pub bootstrap: Vec<String>,
    /// When this node joined or created the group, unix ms.
    pub joined_at: u64,
    /// The epoch secrets after the first that reached this member (§15).
    #[serde(default)]
    pub epochs: Vec<crate::core::epochs::EpochRecord>,
}

impl Drop for GroupRecord {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl std::fmt::Debug for GroupRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRecord")
            .field("secret", &"<redacted>")
            .field("name", &self.name)
            .field("bootstrap", &self.bootstrap)
            .field("joined_at", &self.joined_at)
            .finish_non_exhaustive()
    }
}

impl GroupRecord {
    /// The group secret.
    pub fn secret(&self) -> GroupSecret {
        GroupSecret::from_bytes(self.secret)
    }
}

/// A message as stored: its wire form and when this node first saw it.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// The verified message with its exact bytes.
    pub signed: SignedMessage,
    /// First seen, unix ms.
    pub seen_at: u64,
}

impl StoredMessage {
    /// The feed order key: `created_at` clamped to `seen_at`.
    pub fn order(&self) -> u64 {
        self.signed.message.created_at.min(self.seen_at)
    }
}

/// The read half of a store: cheap to clone, safe to use from any thread.
#[derive(Clone, Debug)]
pub struct StoreReader {
    ks: Keyspace,
    /// Shared by every clone; writes a snapshot when the last one is dropped (on disk only).
    _checkpoint: Option<Arc<Checkpoint>>,
}

/// The store's only writer, owned by the node's actor or an offline command. Reads go
/// through the [`StoreReader`] it dereferences to.
#[derive(Debug)]
pub struct Store {
    reader: StoreReader,
}

impl std::ops::Deref for Store {
    type Target = StoreReader;

    fn deref(&self) -> &StoreReader {
        &self.reader
    }
}

fn id_from(bytes: &[u8]) -> Result<MessageId, StoreError> {
    bytes
        .try_into()
        .map(MessageId)
        .map_err(|_| StoreError::Corrupt {
            what: "message id",
            detail: format!("{} bytes", bytes.len()),
        })
}

fn key_from(bytes: &[u8], what: &'static str) -> Result<PublicKey, StoreError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("key of {} bytes", bytes.len()),
    })?;
    PublicKey::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// The id at the end of an index key.
fn trailing_id(key: &[u8]) -> Result<MessageId, StoreError> {
    id_from(&key[key.len().saturating_sub(32)..])
}

impl Store {
    /// Opens (or creates) the store at `path` with a bounded cache. A store of schema 1 (one
    /// tree per kind) is migrated first: its messages are copied and indexed, its local
    /// records copied, and its trees dropped. A store of schema 2 or 3 is reindexed. A store of a
    /// newer schema is refused.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = open_db(path, OPEN_TRIES)?;
        let schema = db.get(layout::SCHEMA_KEY)?.map(|v| u64_at(&v, 0) as u32);
        let schema = match schema {
            Some(v) if v > layout::SCHEMA => {
                return Err(StoreError::NewerSchema {
                    found: v,
                    supported: layout::SCHEMA,
                })
            }
            Some(v) => v,
            None => 0,
        };
        let store = Self {
            reader: StoreReader {
                ks: Keyspace::sled(db.clone()),
                _checkpoint: Some(Arc::new(Checkpoint {
                    path: path.to_path_buf(),
                })),
            },
        };
        if schema < layout::SCHEMA {
            let started = std::time::Instant::now();
            if v1::is_v1(&db) {
                let messages = v1::migrate(&db, &store)?;
                tracing::info!(messages, elapsed = ?started.elapsed(), "store migrated from schema 1");
            } else if schema >= 2 {
                // Schemas 2 and 3 differ from this one in index entries only: indexing anew
                // is the migration. A crash part-way leaves the old schema, reindexed again.
                let messages = store.reindex()?;
                tracing::info!(messages, schema, elapsed = ?started.elapsed(), "store reindexed");
            }
            store.set_schema()?;
            v1::drop_trees(&db)?;
        }
        Ok(store)
    }

    /// A store in memory, for tests and the simulator: the same layout and code as on disk.
    pub fn memory() -> Self {
        let store = Self {
            reader: StoreReader {
                ks: Keyspace::memory(),
                _checkpoint: None,
            },
        };
        store.set_schema().expect("memory keyspaces do not fail");
        store
    }

    fn set_schema(&self) -> Result<(), StoreError> {
        let version = u64::from(layout::SCHEMA).to_be_bytes().to_vec();
        self.ks.apply(vec![(
            layout::SCHEMA_KEY.to_vec(),
            Some(IVec::from(version)),
        )])
    }

    /// A read half to hand to another task.
    pub fn reader(&self) -> StoreReader {
        self.reader.clone()
    }

    /// Stores a verified message with every index entry it adds, as one batch, unless its
    /// id is known. Returns whether it was new.
    pub fn insert_message(&self, signed: &SignedMessage, seen_at: u64) -> Result<bool, StoreError> {
        self.insert(signed, seen_at, false)
    }

    /// Stores one's own new message like [`Store::insert_message`], with its outbox entry in
    /// the same batch: it is offered to the group until a member has it.
    pub fn insert_own(&self, signed: &SignedMessage, seen_at: u64) -> Result<bool, StoreError> {
        self.insert(signed, seen_at, true)
    }

    fn insert(&self, signed: &SignedMessage, seen_at: u64, own: bool) -> Result<bool, StoreError> {
        let Some(mut writes) = plan::store_message(signed, seen_at, &self.ks)? else {
            return Ok(false);
        };
        if own {
            writes.push(outbox_entry(&signed.message.id, &signed.message.group));
        }
        if self.ks.stage(writes) >= GROUP_COMMIT {
            self.ks.settle()?;
        }
        Ok(true)
    }

    /// Applies the staged messages as one batch now (the actor does when it is idle; flushing
    /// does too).
    pub fn settle(&self) -> Result<(), StoreError> {
        self.ks.settle()
    }

    /// Whether messages are staged for the next batch.
    pub fn has_staged(&self) -> bool {
        self.ks.has_staged()
    }

    /// When the oldest staged message was staged.
    pub fn staged_since(&self) -> Option<std::time::Instant> {
        self.ks.staged_since()
    }

    /// Stores several verified messages, each with its index entries, as one batch: each is
    /// planned against the store with the ones before it staged, so the result is that of
    /// inserting them one by one. Returns for each whether it was new.
    pub fn insert_messages<'a>(
        &self,
        messages: impl IntoIterator<Item = (&'a SignedMessage, u64)>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut new = Vec::new();
        for (signed, seen_at) in messages {
            let writes = plan::store_message(signed, seen_at, &self.ks)?;
            new.push(writes.is_some());
            self.ks.stage(writes.unwrap_or_default());
        }
        self.ks.settle()?;
        Ok(new)
    }

    /// Deletes a group's messages created before `cutoff` (unix ms), except `keep` (the
    /// charter) and each member's current profile. Returns how many were deleted.
    pub fn prune(
        &self,
        group: &GroupId,
        cutoff: u64,
        keep: &MessageId,
    ) -> Result<usize, StoreError> {
        // Collect first: the deletions must not run under a live iterator of the same keys.
        let listed: Vec<(u64, MessageId)> = self
            .timeline(group, 0)
            .take_while(|e| e.as_ref().map_or(true, |(at, _)| *at < cutoff))
            .collect::<Result<_, _>>()?;
        let mut deleted = 0;
        for (created_at, id) in listed {
            if id == *keep {
                continue;
            }
            let Some(stored) = self.message(&id)? else {
                let sort = bucket::sort_key(created_at, &id);
                let writes = bucket::remove(&self.ks, bucket::TIMELINE, group.as_bytes(), &sort)?;
                self.ks.apply(writes)?;
                continue;
            };
            let msg = &stored.signed.message;
            if let Content::Profile(_) = msg.content {
                let current = self.register(prefix::PROFILE, &msg.group, &msg.author)?;
                if current == Some(id) {
                    continue;
                }
            }
            let recommendations = self.recommendations(&msg.id)?;
            let count = self.message_count(group) as u64;
            let order = stored.order();
            let writes = plan::unlist(msg, order, recommendations, count, &self.ks)?;
            self.ks.apply(writes)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Rebuilds every index from the stored messages (`cove store reindex`): clears the index
    /// prefixes, then plans each message's entries again. Returns the messages indexed.
    pub fn reindex(&self) -> Result<usize, StoreError> {
        for p in prefix::INDEXES {
            let keys: Vec<IVec> = self
                .ks
                .scan_prefix(&[p])
                .map(|e| e.map(|(k, _)| k))
                .collect::<Result<_, _>>()?;
            for chunk in keys.chunks(BULK_BATCH * 4) {
                self.ks
                    .apply(chunk.iter().map(|k| (k.to_vec(), None)).collect())?;
            }
        }
        let mut indexed = 0;
        for entry in self.ks.scan_prefix(&[prefix::MESSAGE]) {
            let (_, value) = entry?;
            let stored = decode_message(&value)?;
            let header = MessageHeader::read(&value).expect("decoded above");
            // Each message's entries are planned against those staged before it (a reply
            // count, a recommendation count), then applied a thousand messages at a time.
            let writes = plan::index_message(&stored.signed.message, &header, &self.ks)?;
            if self.ks.stage(writes) >= BULK_BATCH {
                self.ks.settle()?;
            }
            indexed += 1;
        }
        self.ks.settle()?;
        Ok(indexed)
    }

    /// Mutes (`true`) or unmutes a member locally.
    pub fn set_muted(
        &self,
        group: &GroupId,
        member: &PublicKey,
        muted: bool,
    ) -> Result<(), StoreError> {
        let key = layout::pair(prefix::MUTE, group.as_bytes(), member.as_bytes());
        self.ks.apply(vec![(key, muted.then(IVec::default))])
    }

    /// Adds (`true`) or removes a private interest.
    pub fn set_interest(&self, key: &str, on: bool) -> Result<(), StoreError> {
        let key = layout::key(prefix::INTEREST, &[key.as_bytes()]);
        self.ks.apply(vec![(key, on.then(IVec::default))])
    }

    /// Counts one local impression of an ad today; returns the count including this one.
    pub fn count_ad_view(&self, ad: &MessageId, now_ms: u64) -> Result<u64, StoreError> {
        let key = layout::ad_views(ad, now_ms);
        let next = plan::read_u64(&self.ks, &key)? + 1;
        self.ks
            .apply(vec![(key, Some(IVec::from(&next.to_be_bytes()[..])))])?;
        Ok(next)
    }

    /// Saves a group membership.
    pub fn put_group(&self, id: &GroupId, record: &GroupRecord) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(record, &mut bytes).expect("CBOR encoding into a Vec");
        let key = layout::key(prefix::GROUP, &[id.as_bytes()]);
        self.ks.apply(vec![(key, Some(IVec::from(bytes)))])
    }

    /// Remembers an own message that no member has confirmed yet.
    pub fn outbox_add(&self, id: &MessageId, group: &GroupId) -> Result<(), StoreError> {
        self.ks.apply(vec![outbox_entry(id, group)])
    }

    /// Forgets an outbox entry once a member has the message.
    pub fn outbox_remove(&self, id: &MessageId) -> Result<(), StoreError> {
        self.ks
            .apply(vec![(layout::key(prefix::OUTBOX, &[&id.0]), None)])
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Staged messages were accepted: apply them, as a clean stop would.
        if let Err(e) = self.ks.settle() {
            tracing::warn!(error = %e, "staged messages not applied at close");
        }
    }
}

fn outbox_entry(id: &MessageId, group: &GroupId) -> (Vec<u8>, Option<IVec>) {
    (
        layout::key(prefix::OUTBOX, &[&id.0]),
        Some(IVec::from(&group.as_bytes()[..])),
    )
}

impl StoreReader {
    /// Makes every write so far durable (staged messages are applied first).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.ks.settle()?;
        if let Some(db) = self.ks.db() {
            db.flush_async().await?;
        }
        Ok(())
    }

    /// Makes every write so far durable, blocking the thread (offline commands, benchmarks).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.ks.settle()?;
        if let Some(db) = self.ks.db() {
            db.flush()?;
        }
        Ok(())
    }

    /// Bytes the database occupies on disk (0 in memory).
    pub fn size_on_disk(&self) -> u64 {
        self.ks.db().map_or(0, |db| db.size_on_disk().unwrap_or(0))
    }

    /// Whether a message id is stored.
    pub fn contains(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.ks.contains(&layout::key(prefix::MESSAGE, &[&id.0]))
    }

    /// A stored message by id.
    pub fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        self.ks
            .get(&layout::key(prefix::MESSAGE, &[&id.0]))?
            .map(|v| decode_message(&v))
            .transpose()
    }

    /// The newest `limit` posts of a group, newest first.
    pub fn feed(&self, group: &GroupId, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        self.ranked(group, Ranking::New)
            .take(limit)
            .map(|id| {
                let id = id?;
                self.message(&id)?.ok_or(StoreError::Corrupt {
                    what: "feed index",
                    detail: format!("points at missing message {id}"),
                })
            })
            .collect()
    }

    /// Number of messages of every kind stored for a group (a counter: no scan).
    pub fn message_count(&self, group: &GroupId) -> usize {
        plan::read_u64(&self.ks, &layout::key(prefix::COUNT, &[group.as_bytes()])).unwrap_or(0)
            as usize
    }

    /// `(created_at, id)` of every message of a group created at or after `since` (unix ms),
    /// in ascending order: the set history sync reconciles. Reads only the index.
    pub fn sync_items(
        &self,
        group: &GroupId,
        since: u64,
    ) -> Result<Vec<(u64, MessageId)>, StoreError> {
        self.timeline(group, since).collect()
    }

    /// `(created_at, id)` of a group's messages created at or after `since`, ascending.
    fn timeline(
        &self,
        group: &GroupId,
        since: u64,
    ) -> impl Iterator<Item = Result<(u64, MessageId), StoreError>> + '_ {
        let from = bucket::sort_key(since, &MessageId([0; 32]));
        bucket::entries(&self.ks, bucket::TIMELINE, group.as_bytes(), Some(from)).map(|entry| {
            let (key, _) = entry?;
            Ok((u64_at(&key, LISTING_HEAD), trailing_id(&key)?))
        })
    }

    /// The exact stored bytes of a message of `group`, as sync serves them (without decoding:
    /// `None` also for a message of another group).
    pub fn message_bytes(
        &self,
        group: &GroupId,
        id: &MessageId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(value) = self.ks.get(&layout::key(prefix::MESSAGE, &[&id.0]))? else {
            return Ok(None);
        };
        Ok(MessageHeader::read(&value)
            .filter(|h| h.group == *group)
            .map(|_| value[MessageHeader::LEN..].to_vec()))
    }

    /// The latest profile of `author` in `group`.
    pub fn profile(
        &self,
        group: &GroupId,
        author: &PublicKey,
    ) -> Result<Option<Profile>, StoreError> {
        Ok(self.latest(prefix::PROFILE, group, author)?.and_then(|m| {
            match m.signed.message.content {
                Content::Profile(p) => Some(p),
                _ => None,
            }
        }))
    }

    /// The member record of `member` in `group` (§15), if one is stored.
    pub fn member_record(
        &self,
        group: &GroupId,
        member: &PublicKey,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.latest(prefix::MEMBER, group, member)
    }

    /// Every member record of `group`, one per member (banned ones included).
    pub fn member_records(&self, group: &GroupId) -> Result<Vec<StoredMessage>, StoreError> {
        let mut out = Vec::new();
        for entry in self.ks.scan_prefix(&group_prefix(prefix::MEMBER, group)) {
            let (_, reg) = entry?;
            if reg.len() < 40 {
                return Err(StoreError::Corrupt {
                    what: "member register",
                    detail: format!("{} bytes", reg.len()),
                });
            }
            out.extend(self.message(&id_from(&reg[8..40])?)?);
        }
        Ok(out)
    }

    /// The amendments of `group` that follow the state `prev` (the charter or an amendment).
    pub fn amendments_after(
        &self,
        group: &GroupId,
        prev: &MessageId,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.listed_messages(&layout::key(prefix::AMEND, &[group.as_bytes(), &prev.0]))
    }

    /// Every stored record of the ticket whose key is `ticket` in `group` (§17); a group with
    /// `None`: the records of every ticket.
    pub fn tickets(
        &self,
        group: &GroupId,
        ticket: Option<&PublicKey>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut parts: Vec<&[u8]> = vec![group.as_bytes()];
        parts.extend(ticket.map(PublicKey::as_bytes).map(|k| k.as_slice()));
        self.listed_messages(&layout::key(prefix::TICKET, &parts))
    }

    /// The `admit` records of a ticket record.
    pub fn admissions(&self, ticket: &MessageId) -> Result<Vec<StoredMessage>, StoreError> {
        self.listed_messages(&layout::key(prefix::ADMISSION, &[&ticket.0]))
    }

    /// Whether a ticket record was withdrawn (`uninvite`).
    pub fn uninvited(&self, ticket: &MessageId) -> Result<bool, StoreError> {
        self.ks
            .contains(&layout::key(prefix::UNINVITE, &[&ticket.0]))
    }

    /// Every stored re-key message (each chunk) of the epoch tagged `tag` in `group`.
    pub fn rekeys(&self, group: &GroupId, tag: u32) -> Result<Vec<StoredMessage>, StoreError> {
        self.listed_messages(&layout::key(
            prefix::REKEY,
            &[group.as_bytes(), &tag.to_be_bytes()],
        ))
    }

    /// The id a latest-wins register under `p` holds for `(group, key)`.
    fn register(
        &self,
        p: u8,
        group: &GroupId,
        key: &PublicKey,
    ) -> Result<Option<MessageId>, StoreError> {
        let key = layout::pair(p, group.as_bytes(), key.as_bytes());
        match self.ks.get(&key)? {
            Some(reg) if reg.len() >= 40 => Ok(Some(id_from(&reg[8..40])?)),
            Some(reg) => Err(StoreError::Corrupt {
                what: "register",
                detail: format!("{} bytes", reg.len()),
            }),
            None => Ok(None),
        }
    }

    /// The message a latest-wins register under `p` points at for `(group, key)`.
    fn latest(
        &self,
        p: u8,
        group: &GroupId,
        key: &PublicKey,
    ) -> Result<Option<StoredMessage>, StoreError> {
        match self.register(p, group, key)? {
            Some(id) => self.message(&id),
            None => Ok(None),
        }
    }

    /// Post ids of a group by descending rank: `new` order, `hot` score or `top` count (ties:
    /// newer first, then larger id). Lazy: a query reads only as many entries as it shows.
    ///
    /// `hot` and `top` merge two listings ([`layout`]): the `h` or `o` entries of the posts
    /// ranked apart, and the `n` entries of the others, whose `order ‖ id` is their `hot` key
    /// and, after a zero count, their `top` key. The `n` listing is read only as far down as
    /// the other's next entry, so a page of a ranking reads about as many entries as before.
    pub fn ranked(
        &self,
        group: &GroupId,
        by: Ranking,
    ) -> Box<dyn Iterator<Item = Result<MessageId, StoreError>> + Send + '_> {
        let new = bucket::entries(&self.ks, bucket::NEW, group.as_bytes(), None).rev();
        let (p, pad) = match by {
            Ranking::New => return Box::new(self.ids(new)),
            Ranking::Hot => (prefix::HOT, 0),
            Ranking::Top => (prefix::TOP, 8),
        };
        let apart = self.ks.scan_prefix(&group_prefix(p, group)).rev();
        Box::new(Merged {
            apart: apart.peekable(),
            new: new.peekable(),
            pad,
        })
    }

    /// The trailing ids of index entries.
    fn ids<'a>(
        &self,
        entries: impl Iterator<Item = keyspace::Entry> + 'a,
    ) -> impl Iterator<Item = Result<MessageId, StoreError>> + 'a {
        entries.map(|entry| trailing_id(&entry?.0))
    }

    /// `created_at` of a stored post, from its header (without decoding the message).
    pub fn post_created_at(&self, id: &MessageId) -> Result<Option<u64>, StoreError> {
        Ok(plan::post_header(&self.ks, id)?.map(|h| h.created_at))
    }

    /// How many distinct members currently recommend `target`.
    pub fn recommendations(&self, target: &MessageId) -> Result<u64, StoreError> {
        plan::read_u64(&self.ks, &layout::key(prefix::REC_COUNT, &[&target.0]))
    }

    /// Whether `author`'s latest recommendation of `target` is active.
    pub fn recommends(&self, target: &MessageId, author: &PublicKey) -> Result<bool, StoreError> {
        let key = layout::pair(prefix::REC, &target.0, author.as_bytes());
        Ok(self
            .ks
            .get(&key)?
            .is_some_and(|v| layout::register_active(&v)))
    }

    /// Number of replies in the thread of `root`.
    pub fn reply_count(&self, root: &MessageId) -> Result<u64, StoreError> {
        plan::read_u64(&self.ks, &layout::key(prefix::REPLY_COUNT, &[&root.0]))
    }

    /// The replies of a thread, oldest first, with their parent ids.
    pub fn thread(&self, root: &MessageId) -> Result<Vec<(MessageId, MessageId)>, StoreError> {
        self.ks
            .scan_prefix(&layout::key(prefix::THREAD, &[&root.0]))
            .map(|entry| {
                let (key, parent) = entry?;
                Ok((trailing_id(&key)?, id_from(&parent)?))
            })
            .collect()
    }

    /// The latest edit of `target` made by `author` (edits by anyone else never count).
    pub fn latest_edit(
        &self,
        target: &MessageId,
        author: &PublicKey,
    ) -> Result<Option<Edit>, StoreError> {
        for entry in self
            .ks
            .scan_prefix(&layout::key(prefix::EDIT, &[&target.0]))
            .rev()
        {
            let (key, editor) = entry?;
            if editor.as_ref() != author.as_bytes() {
                continue;
            }
            if let Some(m) = self.message(&trailing_id(&key)?)? {
                if let Content::Edit(edit) = m.signed.message.content {
                    return Ok(Some(edit));
                }
            }
        }
        Ok(None)
    }

    /// Whether `target` (written by `author`) was deleted by its author or removed by an
    /// admin (admin rights were checked when the removal arrived).
    pub fn withdrawn(&self, target: &MessageId, author: &PublicKey) -> Result<bool, StoreError> {
        for entry in self
            .ks
            .scan_prefix(&layout::key(prefix::WITHDRAWAL, &[&target.0]))
        {
            let (_, value) = entry?;
            let removal = value.get(32) == Some(&1);
            if removal || value.get(..32) == Some(author.as_bytes().as_slice()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// When `member`'s current ban in `group` was issued (unix ms), if they are banned.
    pub fn banned_since(
        &self,
        group: &GroupId,
        member: &PublicKey,
    ) -> Result<Option<u64>, StoreError> {
        let key = layout::pair(prefix::BAN, group.as_bytes(), member.as_bytes());
        Ok(self
            .ks
            .get(&key)?
            .filter(|v| layout::register_active(v))
            .map(|v| u64_at(&v, 0)))
    }

    /// Every currently banned member of `group` with the time of their ban.
    pub fn bans(&self, group: &GroupId) -> Result<Vec<(PublicKey, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.ks.scan_prefix(&group_prefix(prefix::BAN, group)) {
            let (key, value) = entry?;
            if layout::register_active(&value) {
                out.push((key_from(&key[33..], "ban")?, u64_at(&value, 0)));
            }
        }
        Ok(out)
    }

    /// The messages whose ids end the keys under `prefix` (rooms, grants of a group).
    fn listed_messages(&self, prefix: &[u8]) -> Result<Vec<StoredMessage>, StoreError> {
        let mut out = Vec::new();
        for id in self.ids(self.ks.scan_prefix(prefix)) {
            out.extend(self.message(&id?)?);
        }
        Ok(out)
    }

    /// The rooms of a group.
    pub fn rooms(&self, group: &GroupId) -> Result<Vec<StoredMessage>, StoreError> {
        self.listed_messages(&group_prefix(prefix::ROOM, group))
    }

    /// The last `limit` chat lines of a room, oldest first.
    pub fn chats(&self, room: &MessageId, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        let mut lines = Vec::new();
        let entries = self
            .ks
            .scan_prefix(&layout::key(prefix::CHAT, &[&room.0]))
            .rev();
        for id in self.ids(entries).take(limit) {
            lines.extend(self.message(&id?)?);
        }
        lines.reverse();
        Ok(lines)
    }

    /// The grants stored for a group (any state).
    pub fn grants(&self, group: &GroupId) -> Result<Vec<StoredMessage>, StoreError> {
        self.listed_messages(&group_prefix(prefix::GRANT, group))
    }

    /// Whether a grant was revoked.
    pub fn revoked(&self, grant: &MessageId) -> Result<bool, StoreError> {
        self.ks
            .contains(&layout::key(prefix::REVOCATION, &[&grant.0]))
    }

    /// The latest profile of an advertiser key in a group.
    pub fn advertiser(
        &self,
        group: &GroupId,
        key: &PublicKey,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.latest(prefix::ADVERTISER, group, key)
    }

    /// A group's ad ids, newest first.
    pub fn ads(&self, group: &GroupId) -> impl Iterator<Item = Result<MessageId, StoreError>> + '_ {
        self.ids(self.ks.scan_prefix(&group_prefix(prefix::AD, group)).rev())
    }

    /// How many ads under `grant` on the UTC day of `created_at` sort before `(created_at, id)`:
    /// the ad's rank for the daily quota.
    pub fn ad_rank(
        &self,
        grant: &MessageId,
        created_at: u64,
        id: &MessageId,
    ) -> Result<u64, StoreError> {
        let start = layout::ad_day(grant, (created_at / DAY_MS) * DAY_MS, &MessageId([0; 32]));
        let end = layout::ad_day(grant, created_at, id);
        Ok(self.ks.range(&start, Some(&end)).count() as u64)
    }

    /// This member's private interests (targeting keys). Local only.
    pub fn interests(&self) -> Result<Vec<String>, StoreError> {
        self.ks
            .scan_prefix(&[prefix::INTEREST])
            .map(|e| Ok(String::from_utf8_lossy(&e?.0[1..]).into_owned()))
            .collect()
    }

    /// Local impressions of an ad today.
    pub fn ad_views(&self, ad: &MessageId, now_ms: u64) -> Result<u64, StoreError> {
        plan::read_u64(&self.ks, &layout::ad_views(ad, now_ms))
    }

    /// Members muted locally in `group`.
    pub fn muted(&self, group: &GroupId) -> Result<Vec<PublicKey>, StoreError> {
        self.ks
            .scan_prefix(&group_prefix(prefix::MUTE, group))
            .map(|e| key_from(&e?.0[33..], "mute"))
            .collect()
    }

    /// Whether a member is muted locally.
    pub fn is_muted(&self, group: &GroupId, member: &PublicKey) -> Result<bool, StoreError> {
        self.ks.contains(&layout::pair(
            prefix::MUTE,
            group.as_bytes(),
            member.as_bytes(),
        ))
    }

    /// A group membership by id.
    pub fn group(&self, id: &GroupId) -> Result<Option<GroupRecord>, StoreError> {
        self.ks
            .get(&layout::key(prefix::GROUP, &[id.as_bytes()]))?
            .map(|v| decode_group(&v))
            .transpose()
    }

    /// Every group this node belongs to.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, StoreError> {
        self.ks
            .scan_prefix(&[prefix::GROUP])
            .map(|entry| {
                let (key, value) = entry?;
                let id: [u8; 32] = key[1..].try_into().map_err(|_| StoreError::Corrupt {
                    what: "group id",
                    detail: format!("{} bytes", key.len() - 1),
                })?;
                Ok((GroupId::from_bytes(id), decode_group(&value)?))
            })
            .collect()
    }

    /// Own messages no member has confirmed yet, with their group.
    pub fn outbox(&self) -> Result<Vec<(MessageId, GroupId)>, StoreError> {
        self.ks
            .scan_prefix(&[prefix::OUTBOX])
            .map(|entry| {
                let (key, value) = entry?;
                let group: [u8; 32] =
                    value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        what: "outbox entry",
                        detail: format!("{} bytes", value.len()),
                    })?;
                Ok((id_from(&key[1..])?, GroupId::from_bytes(group)))
            })
            .collect()
    }

    /// Every entry of the keyspace in key order (`cove store` diagnostics and tests).
    pub fn entries(&self) -> Entries<'_> {
        self.ks.range(&[], None)
    }

    /// The keyspace itself, for benchmarks that isolate the cost of one kind of key.
    pub fn keyspace(&self) -> &Keyspace {
        &self.ks
    }
}

/// A `hot` or `top` ranking, highest first: the entries of the posts ranked apart merged
/// with the `n` entries of the others (see [`StoreReader::ranked`]).
struct Merged<'a> {
    /// `h` or `o` entries, highest first.
    apart: std::iter::Peekable<std::iter::Rev<Entries<'a>>>,
    /// `n` entries, highest first; those marked ranked apart are skipped.
    new: std::iter::Peekable<std::iter::Rev<Entries<'a>>>,
    /// Zero bytes before an `n` entry's `order ‖ id` to make it a key of the ranking: 0 for
    /// `hot` (score = `created_at`), 8 for `top` (a count of 0).
    pad: usize,
}

/// Bytes of `p ‖ group` at the start of every listing key.
const LISTING_HEAD: usize = 33;

/// Whether the `n` entry `new` ranks above the ranking's entry `apart` (`pad`: see
/// [`Merged`]).
fn new_first(pad: usize, apart: &[u8], new: &[u8]) -> Result<bool, StoreError> {
    let apart = apart.get(LISTING_HEAD..).unwrap_or_default();
    let new = new.get(LISTING_HEAD..).unwrap_or_default();
    if apart.len() != pad + 40 || new.len() != 40 {
        return Err(StoreError::Corrupt {
            what: "ranking index",
            detail: format!("entries of {} and {} bytes", apart.len(), new.len()),
        });
    }
    let (count, rest) = apart.split_at(pad);
    Ok(count.iter().all(|b| *b == 0) && new > rest)
}

impl Iterator for Merged<'_> {
    type Item = Result<MessageId, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pad = self.pad;
        loop {
            let new_first = match (self.apart.peek(), self.new.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.apart.next().and_then(Result::err).map(Err),
                (_, Some(Err(_))) => return self.new.next().and_then(Result::err).map(Err),
                (Some(Ok(_)), None) => false,
                (None, Some(Ok(_))) => true,
                (Some(Ok((apart, _))), Some(Ok((new, _)))) => match new_first(pad, apart, new) {
                    Ok(first) => first,
                    Err(e) => return Some(Err(e)),
                },
            };
            let from = if new_first {
                &mut self.new
            } else {
                &mut self.apart
            };
            let (key, value) = match from.next()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e)),
            };
            // A post ranked apart is listed by its own entry, not by its `n` entry.
            if new_first && layout::is_ranked_apart(&value) {
                continue;
            }
            return Some(trailing_id(&key));
        }
    }
}

/// `p ‖ group`: the prefix of a group's entries of one kind.
fn group_prefix(p: u8, group: &GroupId) -> Vec<u8> {
    layout::key(p, &[group.as_bytes()])
}

fn decode_message(value: &[u8]) -> Result<StoredMessage, StoreError> {
    let header = MessageHeader::read(value).ok_or(StoreError::Corrupt {
        what: "message",
        detail: "shorter than its header".into(),
    })?;
    // Verified before it was stored; the store is not the wire.
    let signed = crate::message::decode_stored(&value[MessageHeader::LEN..]).map_err(|e| {
        StoreError::Corrupt {
            what: "message",
            detail: e.to_string(),
        }
    })?;
    Ok(StoredMessage {
        signed,
        seen_at: header.seen_at,
    })
}

fn decode_group(value: &[u8]) -> Result<GroupRecord, StoreError> {
    ciborium::from_reader(value).map_err(|e| StoreError::Corrupt {
        what: "group",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
