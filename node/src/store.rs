//! Durable storage on sled.
//!
//! Trees and their keys (all integers big endian, so byte order is numeric order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `messages` | message id (32) | seen_at (u64 ms) ‖ group id (32) ‖ signed message bytes |
//! | `timeline` | group id (32) ‖ created_at (u64 ms) ‖ message id (32) | empty: every kind; the set that history sync reconciles |
//! | `feed` | group id (32) ‖ order (u64 ms) ‖ message id (32) | empty (posts only): `new` |
//! | `hot` | group id (32) ‖ hot score (u64) ‖ post id (32) | empty: `hot` ranking |
//! | `top` | group id (32) ‖ recommendations (u64) ‖ created_at (u64) ‖ post id (32) | empty: `top` ranking |
//! | `posts` | post id (32) | group id (32) ‖ created_at (u64): what re-ranking needs |
//! | `profiles` | group id (32) ‖ author key (32) | latest register: created_at ‖ message id |
//! | `threads` | root post id (32) ‖ order (u64) ‖ reply id (32) | parent id (32) |
//! | `reply_counts` | root post id (32) | u64 |
//! | `edits` | target id (32) ‖ created_at (u64) ‖ edit id (32) | editor key (32) |
//! | `withdrawals` | target id (32) ‖ message id (32) | author key (32) ‖ kind (0 delete, 1 remove) |
//! | `recs` | target id (32) ‖ author key (32) | latest register: created_at ‖ message id ‖ active (1) |
//! | `rec_counts` | target id (32) | u64: distinct authors whose latest recommendation is active |
//! | `bans` | group id (32) ‖ member key (32) | latest register: created_at ‖ message id ‖ active (1) |
//! | `rooms` | group id (32) ‖ room id (32) | empty |
//! | `chats` | room id (32) ‖ order (u64) ‖ chat id (32) | empty |
//! | `mutes` | group id (32) ‖ member key (32) | empty: local only, never sent |
//! | `grants` | group id (32) ‖ grant id (32) | empty |
//! | `revocations` | grant id (32) | id of the first revocation stored |
//! | `advertisers` | group id (32) ‖ advertiser key (32) | latest register: created_at ‖ message id |
//! | `ads` | group id (32) ‖ created_at (u64) ‖ ad id (32) | empty |
//! | `ad_days` | grant id (32) ‖ UTC day (u64) ‖ created_at (u64) ‖ ad id (32) | empty: daily quota ranks |
//! | `interests` | targeting key (UTF-8) | empty: local only, never sent |
//! | `ad_views` | ad id (32) ‖ UTC day (u64) | u64 impressions: local frequency cap |
//! | `groups` | group id (32) | CBOR [`GroupRecord`] |
//! | `outbox` | message id (32) | group id (32): own messages not yet handed to a peer |
//!
//! "Latest register": per key the entry with the greatest `(created_at, message id)` wins,
//! whatever order messages arrive in, so every member converges on the same state. Ranking
//! reads `hot`/`top`, which are kept up to date when a recommendation changes a count; no
//! query rescans all posts. Edits, deletions and removals are checked when a message is shown
//! (only the author's own edits and deletions count; removals were checked to come from an
//! admin on arrival), so they may arrive before or after their target.
//!
//! `order` is the author's `created_at` clamped to when this node first saw the message, so a
//! message claiming to come from the future cannot pin itself to the top of a feed. Ties are
//! broken by message id, so the same set of messages gives every member the same order.
//!
//! A message and its index entries are written in one sled transaction: a crash leaves either
//! all of them or none. Deduplication by message id is persistent, so a replay long after the
//! gossip layer forgot the message is still recognised.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cove_crypto::{GroupId, GroupSecret, PublicKey};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::message::{Content, Edit, Message, MessageId, Profile, SignedMessage};

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

/// sled's page cache. Its default is 1 GiB; a chat node needs far less.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

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
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
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

/// The sled store.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    messages: sled::Tree,
    timeline: sled::Tree,
    feed: sled::Tree,
    hot: sled::Tree,
    top: sled::Tree,
    posts: sled::Tree,
    profiles: sled::Tree,
    threads: sled::Tree,
    reply_counts: sled::Tree,
    edits: sled::Tree,
    withdrawals: sled::Tree,
    recs: sled::Tree,
    rec_counts: sled::Tree,
    bans: sled::Tree,
    rooms: sled::Tree,
    chats: sled::Tree,
    mutes: sled::Tree,
    grants: sled::Tree,
    revocations: sled::Tree,
    advertisers: sled::Tree,
    ads: sled::Tree,
    ad_days: sled::Tree,
    interests: sled::Tree,
    ad_views: sled::Tree,
    groups: sled::Tree,
    outbox: sled::Tree,
    /// Declared last, so it drops after every sled handle of the last clone of this store.
    _checkpoint: Arc<Checkpoint>,
}

/// Has sled write a fresh snapshot when the last clone of a [`Store`] is dropped.
///
/// sled 0.34 writes its snapshot (the page table an open starts from) only while opening a
/// database, and an open replays all the log written since the previous open: after taking
/// in 100 000 messages that is about 750 MB and 350-900 ms. Opening the database once more
/// after the last handle closed moves that replay to shutdown, so the next start reads a
/// current snapshot. After a crash the next open replays, as before; an error here only
/// costs that.
#[derive(Debug)]
struct Checkpoint {
    path: PathBuf,
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        let started = std::time::Instant::now();
        match open_db(&self.path, CHECKPOINT_TRIES) {
            Ok(db) => {
                drop(db);
                tracing::debug!(elapsed = ?started.elapsed(), "store snapshot written");
            }
            Err(e) => tracing::warn!(error = %e, "store snapshot on close skipped"),
        }
    }
}

/// Attempts of [`Checkpoint`] to re-open a store whose lock is still held, 10 ms apart.
const CHECKPOINT_TRIES: usize = 50;

/// Attempts of [`Store::open`] to open a store whose lock is still held, 10 ms apart (2 s):
/// a node stopped in this process releases the lock a moment after it replied, once sled's
/// I/O threads and the last blocking reader are done, and a restart must not fail on that.
const OPEN_TRIES: usize = 200;

/// Opens the database at `path`, trying again while its lock is held (up to `tries` times,
/// 10 ms apart): sled's I/O threads may hold the file, and its lock, a moment after the last
/// handle was dropped.
fn open_db(path: &Path, tries: usize) -> Result<sled::Db, sled::Error> {
    let mut tries = tries.max(1);
    loop {
        match config(path).open() {
            Err(e) if is_lock_held(&e) && tries > 1 => {
                tries -= 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Whether opening failed because another handle holds the database's lock. sled 0.34 reports
/// that as an `Other` I/O error whose text names the lock (wrapping the `WouldBlock` of
/// `flock`), so the text is the only thing to go by.
fn is_lock_held(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(e) => {
            e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// The sled configuration of every open.
fn config(path: &Path) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(CACHE_BYTES)
}

fn index_key(group: &GroupId, order: u64, id: &MessageId) -> [u8; 72] {
    let mut key = [0u8; 72];
    key[..32].copy_from_slice(group.as_bytes());
    key[32..40].copy_from_slice(&order.to_be_bytes());
    key[40..].copy_from_slice(&id.0);
    key
}

fn pair_key(a: &[u8; 32], b: &[u8; 32]) -> [u8; 64] {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(a);
    key[32..].copy_from_slice(b);
    key
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

impl Store {
    /// Opens (or creates) the store at `path` with a bounded cache.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = open_db(path, OPEN_TRIES)?;
        // The per-author index that rule 7p used to count (until the limit moved onto the
        // node's clock, `crate::rate`): nothing reads it, so a data dir written before frees it.
        db.drop_tree("authored")?;
        Ok(Self {
            messages: db.open_tree("messages")?,
            timeline: db.open_tree("timeline")?,
            feed: db.open_tree("feed")?,
            hot: db.open_tree("hot")?,
            top: db.open_tree("top")?,
            posts: db.open_tree("posts")?,
            profiles: db.open_tree("profiles")?,
            threads: db.open_tree("threads")?,
            reply_counts: db.open_tree("reply_counts")?,
            edits: db.open_tree("edits")?,
            withdrawals: db.open_tree("withdrawals")?,
            recs: db.open_tree("recs")?,
            rec_counts: db.open_tree("rec_counts")?,
            bans: db.open_tree("bans")?,
            rooms: db.open_tree("rooms")?,
            chats: db.open_tree("chats")?,
            mutes: db.open_tree("mutes")?,
            grants: db.open_tree("grants")?,
            revocations: db.open_tree("revocations")?,
            advertisers: db.open_tree("advertisers")?,
            ads: db.open_tree("ads")?,
            ad_days: db.open_tree("ad_days")?,
            interests: db.open_tree("interests")?,
            ad_views: db.open_tree("ad_views")?,
            groups: db.open_tree("groups")?,
            outbox: db.open_tree("outbox")?,
            db,
            _checkpoint: Arc::new(Checkpoint {
                path: path.to_path_buf(),
            }),
        })
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Stores a verified message and updates every index it touches, in one transaction,
    /// unless its id is known. Returns whether it was new.
    pub fn insert_message(&self, signed: &SignedMessage, seen_at: u64) -> Result<bool, StoreError> {
        let msg = &signed.message;
        let order = msg.created_at.min(seen_at);
        let mut value = Vec::with_capacity(VALUE_HEADER + signed.bytes.len());
        value.extend_from_slice(&seen_at.to_be_bytes());
        value.extend_from_slice(msg.group.as_bytes());
        value.extend_from_slice(&signed.bytes);
        // Built once: a retried closure clones a reference count, not the bytes.
        let value = sled::IVec::from(value);
        // Only the trees this kind touches: each tree of a transaction costs an overlay and
        // a commit pass even when nothing is written to it.
        let mut trees: Vec<&sled::Tree> = vec![&self.messages, &self.timeline];
        trees.extend_from_slice(&self.index_trees(&msg.content));
        let result = trees[..].transaction(|t| {
            let tx = Tx { t };
            if tx.messages().get(msg.id.0)?.is_some() {
                return Ok(false);
            }
            tx.messages().insert(&msg.id.0, value.clone())?;
            tx.timeline()
                .insert(&index_key(&msg.group, msg.created_at, &msg.id)[..], &[])?;
            tx.index(msg, order)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(true)
        })?;
        Ok(result)
    }

    /// The index trees `insert_message` writes (or reads) for a kind, after `messages` and
    /// `timeline`, in the order [`Tx::index`] takes them.
    fn index_trees(&self, content: &Content) -> Vec<&sled::Tree> {
        match content {
            Content::Post(_) => vec![
                &self.feed,
                &self.posts,
                &self.rec_counts,
                &self.hot,
                &self.top,
            ],
            Content::Recommend(_) => vec![
                &self.recs,
                &self.rec_counts,
                &self.posts,
                &self.hot,
                &self.top,
            ],
            Content::Profile(_) => vec![&self.profiles],
            Content::Reply(_) => vec![&self.threads, &self.reply_counts],
            Content::Edit(_) => vec![&self.edits],
            Content::Delete(_) | Content::Remove(_) => vec![&self.withdrawals],
            Content::Ban(_) => vec![&self.bans],
            Content::Room(_) => vec![&self.rooms],
            Content::Chat(_) => vec![&self.chats],
            Content::Grant(_) => vec![&self.grants],
            Content::Revoke(_) => vec![&self.revocations],
            Content::Advertiser(_) => vec![&self.advertisers],
            Content::Ad(_) => vec![&self.ads, &self.ad_days],
            Content::Charter(_) => vec![],
        }
    }

    /// Whether a message id is stored.
    pub fn contains(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.messages.contains_key(id.0)?)
    }

    /// A stored message by id.
    pub fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let Some(value) = self.messages.get(id.0)? else {
            return Ok(None);
        };
        decode_value(&value).map(Some)
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

    /// Number of messages of every kind stored for a group.
    pub fn message_count(&self, group: &GroupId) -> usize {
        self.timeline.scan_prefix(group.as_bytes()).count()
    }

    /// `(created_at, id)` of every message of a group created at or after `since` (unix ms),
    /// in ascending order: the set history sync reconciles. Reads only the index.
    pub fn sync_items(
        &self,
        group: &GroupId,
        since: u64,
    ) -> Result<Vec<(u64, MessageId)>, StoreError> {
        let start = index_key(group, since, &MessageId([0; 32]));
        let end = index_key(group, u64::MAX, &MessageId([0xff; 32]));
        self.timeline
            .range(start..=end)
            .map(|entry| {
                let (key, _) = entry?;
                let created_at = u64::from_be_bytes(key[32..40].try_into().expect("8 bytes"));
                Ok((created_at, id_from(&key[40..])?))
            })
            .collect()
    }

    /// The exact stored bytes of a message of `group`, as sync serves them (without decoding:
    /// `None` also for a message of another group).
    pub fn message_bytes(
        &self,
        group: &GroupId,
        id: &MessageId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .messages
            .get(id.0)?
            .filter(|v| v.len() > VALUE_HEADER && v[8..VALUE_HEADER] == group.as_bytes()[..])
            .map(|v| v[VALUE_HEADER..].to_vec()))
    }

    /// Deletes a group's messages created before `cutoff` (unix ms), except `keep` (the charter)
    /// and each member's current profile. Returns how many were deleted.
    pub fn prune(
        &self,
        group: &GroupId,
        cutoff: u64,
        keep: &MessageId,
    ) -> Result<usize, StoreError> {
        let start = index_key(group, 0, &MessageId([0; 32]));
        let end = index_key(group, cutoff, &MessageId([0; 32]));
        let mut deleted = 0;
        // Collect first: sled transactions must not run under a live iterator of their trees.
        let keys: Vec<sled::IVec> = self
            .timeline
            .range(start..end)
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            let id = id_from(&key[40..])?;
            if id == *keep {
                continue;
            }
            let Some(stored) = self.message(&id)? else {
                self.timeline.remove(&key)?;
                continue;
            };
            let msg = &stored.signed.message;
            if let Content::Profile(_) = msg.content {
                let current = self
                    .profiles
                    .get(pair_key(msg.group.as_bytes(), msg.author.as_bytes()))?;
                if current.is_some_and(|reg| register_id(&reg).ok() == Some(id)) {
                    continue;
                }
            }
            self.unlist(&stored, &key)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes a message and the listing entries that show it (feed, rankings, thread, room).
    /// Registers and counters it contributed to stay: retention forgets content, not votes.
    fn unlist(&self, stored: &StoredMessage, timeline_key: &[u8]) -> Result<(), StoreError> {
        let msg = &stored.signed.message;
        let order = stored.order();
        let count = read_u64(self.rec_counts.get(msg.id.0)?.as_deref());
        let trees = [
            &self.messages,
            &self.timeline,
            &self.feed,
            &self.hot,
            &self.top,
            &self.posts,
            &self.threads,
            &self.chats,
        ];
        trees[..].transaction(|t| {
            let [messages, timeline, feed, hot, top, posts, threads, chats] = &t[..] else {
                unreachable!("eight trees")
            };
            messages.remove(&msg.id.0)?;
            timeline.remove(timeline_key)?;
            let listed = |prefix: &[u8; 32]| {
                let mut key = [0u8; 72];
                key[..32].copy_from_slice(prefix);
                key[32..40].copy_from_slice(&order.to_be_bytes());
                key[40..].copy_from_slice(&msg.id.0);
                key
            };
            match &msg.content {
                Content::Post(_) => {
                    feed.remove(&index_key(&msg.group, order, &msg.id)[..])?;
                    hot.remove(
                        &index_key(&msg.group, hot_score(msg.created_at, count), &msg.id)[..],
                    )?;
                    top.remove(&top_key(&msg.group, count, msg.created_at, &msg.id)[..])?;
                    posts.remove(&msg.id.0)?;
                }
                Content::Reply(r) => {
                    threads.remove(&listed(&r.root.0)[..])?;
                }
                Content::Chat(c) => {
                    chats.remove(&listed(&c.room.0)[..])?;
                }
                _ => {}
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    /// The latest profile of `author` in `group`.
    pub fn profile(
        &self,
        group: &GroupId,
        author: &PublicKey,
    ) -> Result<Option<Profile>, StoreError> {
        Ok(self.latest(&self.profiles, group, author)?.and_then(|m| {
            match m.signed.message.content {
                Content::Profile(p) => Some(p),
                _ => None,
            }
        }))
    }

    /// The message a latest-wins register of `tree` points at for `(group, key)`.
    fn latest(
        &self,
        tree: &sled::Tree,
        group: &GroupId,
        key: &PublicKey,
    ) -> Result<Option<StoredMessage>, StoreError> {
        match tree.get(pair_key(group.as_bytes(), key.as_bytes()))? {
            Some(reg) => self.message(&register_id(&reg)?),
            None => Ok(None),
        }
    }

    /// Post ids of a group by descending rank: `hot` score or `top` count (ties: newer first,
    /// then larger id). Lazy: a query reads only as many entries as it shows.
    pub fn ranked(
        &self,
        group: &GroupId,
        by: Ranking,
    ) -> impl Iterator<Item = Result<MessageId, StoreError>> + '_ {
        let tree = match by {
            Ranking::New => &self.feed,
            Ranking::Hot => &self.hot,
            Ranking::Top => &self.top,
        };
        tree.scan_prefix(group.as_bytes()).rev().map(|entry| {
            let (key, _) = entry?;
            id_from(&key[key.len() - 32..])
        })
    }

    /// `created_at` of a stored post, from its small `posts` record.
    pub fn post_created_at(&self, id: &MessageId) -> Result<Option<u64>, StoreError> {
        Ok(self.posts.get(id.0)?.map(|meta| read_u64(meta.get(32..40))))
    }

    /// How many distinct members currently recommend `target`.
    pub fn recommendations(&self, target: &MessageId) -> Result<u64, StoreError> {
        Ok(read_u64(self.rec_counts.get(target.0)?.as_deref()))
    }

    /// Whether `author`'s latest recommendation of `target` is active.
    pub fn recommends(&self, target: &MessageId, author: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .recs
            .get(pair_key(&target.0, author.as_bytes()))?
            .is_some_and(|v| register_active(&v)))
    }

    /// Number of replies in the thread of `root`.
    pub fn reply_count(&self, root: &MessageId) -> Result<u64, StoreError> {
        Ok(read_u64(self.reply_counts.get(root.0)?.as_deref()))
    }

    /// The replies of a thread, oldest first, with their parent ids.
    pub fn thread(&self, root: &MessageId) -> Result<Vec<(MessageId, MessageId)>, StoreError> {
        self.threads
            .scan_prefix(root.0)
            .map(|entry| {
                let (key, parent) = entry?;
                Ok((id_from(&key[40..])?, id_from(&parent)?))
            })
            .collect()
    }

    /// The latest edit of `target` made by `author` (edits by anyone else never count).
    pub fn latest_edit(
        &self,
        target: &MessageId,
        author: &PublicKey,
    ) -> Result<Option<Edit>, StoreError> {
        for entry in self.edits.scan_prefix(target.0).rev() {
            let (key, editor) = entry?;
            if editor.as_ref() != author.as_bytes() {
                continue;
            }
            if let Some(m) = self.message(&id_from(&key[40..])?)? {
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
        for entry in self.withdrawals.scan_prefix(target.0) {
            let (_, value) = entry?;
            let removal = value.get(32) == Some(&1);
            if removal || &value[..32] == author.as_bytes() {
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
        Ok(self
            .bans
            .get(pair_key(group.as_bytes(), member.as_bytes()))?
            .filter(|v| register_active(v))
            .map(|v| read_u64(Some(&v[..8]))))
    }

    /// Every currently banned member of `group` with the time of their ban.
    pub fn bans(&self, group: &GroupId) -> Result<Vec<(PublicKey, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.bans.scan_prefix(group.as_bytes()) {
            let (key, value) = entry?;
            if !register_active(&value) {
                continue;
            }
            let key_bytes: [u8; 32] = key[32..].try_into().expect("32 bytes");
            let member = PublicKey::from_bytes(key_bytes).map_err(|e| StoreError::Corrupt {
                what: "ban",
                detail: e.to_string(),
            })?;
            out.push((member, read_u64(Some(&value[..8]))));
        }
        Ok(out)
    }

    /// The rooms of a group.
    pub fn rooms(&self, group: &GroupId) -> Result<Vec<StoredMessage>, StoreError> {
        let mut rooms = Vec::new();
        for entry in self.rooms.scan_prefix(group.as_bytes()) {
            let (key, _) = entry?;
            rooms.extend(self.message(&id_from(&key[32..])?)?);
        }
        Ok(rooms)
    }

    /// The last `limit` chat lines of a room, oldest first.
    pub fn chats(&self, room: &MessageId, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        let mut lines = Vec::new();
        for entry in self.chats.scan_prefix(room.0).rev().take(limit) {
            let (key, _) = entry?;
            lines.extend(self.message(&id_from(&key[40..])?)?);
        }
        lines.reverse();
        Ok(lines)
    }

    /// Mutes (`true`) or unmutes a member locally.
    pub fn set_muted(
        &self,
        group: &GroupId,
        member: &PublicKey,
        muted: bool,
    ) -> Result<(), StoreError> {
        let key = pair_key(group.as_bytes(), member.as_bytes());
        if muted {
            self.mutes.insert(&key[..], &[])?;
        } else {
            self.mutes.remove(&key[..])?;
        }
        Ok(())
    }

    /// The grants stored for a group (any state).
    pub fn grants(&self, group: &GroupId) -> Result<Vec<StoredMessage>, StoreError> {
        let mut out = Vec::new();
        for entry in self.grants.scan_prefix(group.as_bytes()) {
            let (key, _) = entry?;
            out.extend(self.message(&id_from(&key[32..])?)?);
        }
        Ok(out)
    }

    /// Whether a grant was revoked.
    pub fn revoked(&self, grant: &MessageId) -> Result<bool, StoreError> {
        Ok(self.revocations.contains_key(grant.0)?)
    }

    /// The latest profile of an advertiser key in a group.
    pub fn advertiser(
        &self,
        group: &GroupId,
        key: &PublicKey,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.latest(&self.advertisers, group, key)
    }

    /// A group's ad ids, newest first.
    pub fn ads(&self, group: &GroupId) -> impl Iterator<Item = Result<MessageId, StoreError>> + '_ {
        self.ads.scan_prefix(group.as_bytes()).rev().map(|entry| {
            let (key, _) = entry?;
            id_from(&key[40..])
        })
    }

    /// How many ads under `grant` on the UTC day of `created_at` sort before `(created_at, id)`:
    /// the ad's rank for the daily quota.
    pub fn ad_rank(
        &self,
        grant: &MessageId,
        created_at: u64,
        id: &MessageId,
    ) -> Result<u64, StoreError> {
        let start = ad_day_key(grant, (created_at / DAY_MS) * DAY_MS, &MessageId([0; 32]));
        let end = ad_day_key(grant, created_at, id);
        Ok(self.ad_days.range(start..end).count() as u64)
    }

    /// This member's private interests (targeting keys). Local only.
    pub fn interests(&self) -> Result<Vec<String>, StoreError> {
        self.interests
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// Adds (`true`) or removes a private interest.
    pub fn set_interest(&self, key: &str, on: bool) -> Result<(), StoreError> {
        if on {
            self.interests.insert(key.as_bytes(), &[])?;
        } else {
            self.interests.remove(key.as_bytes())?;
        }
        Ok(())
    }

    /// Counts one local impression of an ad today; returns the count including this one.
    pub fn count_ad_view(&self, ad: &MessageId, now_ms: u64) -> Result<u64, StoreError> {
        let mut key = [0u8; 40];
        key[..32].copy_from_slice(&ad.0);
        key[32..].copy_from_slice(&(now_ms / DAY_MS).to_be_bytes());
        let next = read_u64(self.ad_views.get(key)?.as_deref()) + 1;
        self.ad_views.insert(&key[..], &next.to_be_bytes())?;
        Ok(next)
    }

    /// Local impressions of an ad today.
    pub fn ad_views(&self, ad: &MessageId, now_ms: u64) -> Result<u64, StoreError> {
        let mut key = [0u8; 40];
        key[..32].copy_from_slice(&ad.0);
        key[32..].copy_from_slice(&(now_ms / DAY_MS).to_be_bytes());
        Ok(read_u64(self.ad_views.get(key)?.as_deref()))
    }

    /// Members muted locally in `group`.
    pub fn muted(&self, group: &GroupId) -> Result<Vec<PublicKey>, StoreError> {
        self.mutes
            .scan_prefix(group.as_bytes())
            .map(|entry| {
                let (key, _) = entry?;
                let bytes: [u8; 32] = key[32..].try_into().expect("32 bytes");
                PublicKey::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
                    what: "mute",
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Whether a member is muted locally.
    pub fn is_muted(&self, group: &GroupId, member: &PublicKey) -> Result<bool, StoreError> {
        Ok(self
            .mutes
            .contains_key(pair_key(group.as_bytes(), member.as_bytes()))?)
    }

    /// Saves a group membership.
    pub fn put_group(&self, id: &GroupId, record: &GroupRecord) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(record, &mut bytes).expect("CBOR encoding into a Vec");
        self.groups.insert(id.as_bytes(), bytes)?;
        Ok(())
    }

    /// A group membership by id.
    pub fn group(&self, id: &GroupId) -> Result<Option<GroupRecord>, StoreError> {
        self.groups
            .get(id.as_bytes())?
            .map(|v| decode_group(&v))
            .transpose()
    }

    /// Every group this node belongs to.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, StoreError> {
        self.groups
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id: [u8; 32] = key.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "group id",
                    detail: format!("{} bytes", key.len()),
                })?;
                Ok((GroupId::from_bytes(id), decode_group(&value)?))
            })
            .collect()
    }

    /// Remembers an own message that no peer has received yet.
    pub fn outbox_add(&self, id: &MessageId, group: &GroupId) -> Result<(), StoreError> {
        self.outbox.insert(id.0, group.as_bytes())?;
        Ok(())
    }

    /// Forgets an outbox entry once a peer took the message.
    pub fn outbox_remove(&self, id: &MessageId) -> Result<(), StoreError> {
        self.outbox.remove(id.0)?;
        Ok(())
    }

    /// Own messages waiting for a peer, with their group.
    pub fn outbox(&self) -> Result<Vec<(MessageId, GroupId)>, StoreError> {
        self.outbox
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let group: [u8; 32] =
                    value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        what: "outbox entry",
                        detail: format!("{} bytes", value.len()),
                    })?;
                Ok((id_from(&key)?, GroupId::from_bytes(group)))
            })
            .collect()
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The trees of one `insert_message` transaction, in the order `insert_message` lists them.
struct Tx<'a> {
    t: &'a [sled::transaction::TransactionalTree],
}

impl Tx<'_> {
    fn messages(&self) -> &sled::transaction::TransactionalTree {
        &self.t[0]
    }
    fn timeline(&self) -> &sled::transaction::TransactionalTree {
        &self.t[1]
    }

    /// The index updates of one new message, by kind.
    fn index(&self, msg: &Message, order: u64) -> TxResult<()> {
        // The trees of `Store::index_trees` for this kind.
        let kind = &self.t[2..];
        let group = msg.group.as_bytes();
        match &msg.content {
            Content::Post(_) => {
                let [feed, posts, rec_counts, hot, top] = kind else {
                    unreachable!("index_trees")
                };
                feed.insert(&index_key(&msg.group, order, &msg.id)[..], &[])?;
                let mut meta = [0u8; 40];
                meta[..32].copy_from_slice(group);
                meta[32..].copy_from_slice(&msg.created_at.to_be_bytes());
                posts.insert(&msg.id.0, &meta[..])?;
                // Recommendations may have arrived before the post.
                let count = read_u64(rec_counts.get(msg.id.0)?.as_deref());
                hot.insert(
                    &index_key(&msg.group, hot_score(msg.created_at, count), &msg.id)[..],
                    &[],
                )?;
                top.insert(
                    &top_key(&msg.group, count, msg.created_at, &msg.id)[..],
                    &[],
                )?;
            }
            Content::Profile(_) => {
                let [profiles] = kind else {
                    unreachable!("index_trees")
                };
                let key = pair_key(group, msg.author.as_bytes());
                if newer(profiles.get(key)?.as_deref(), msg) {
                    profiles.insert(&key[..], &register(msg, None)[..])?;
                }
            }
            Content::Reply(r) => {
                let [threads, reply_counts] = kind else {
                    unreachable!("index_trees")
                };
                let mut key = [0u8; 72];
                key[..32].copy_from_slice(&r.root.0);
                key[32..40].copy_from_slice(&order.to_be_bytes());
                key[40..].copy_from_slice(&msg.id.0);
                threads.insert(&key[..], &r.parent.0)?;
                let count = read_u64(reply_counts.get(r.root.0)?.as_deref()) + 1;
                reply_counts.insert(&r.root.0, &count.to_be_bytes())?;
            }
            Content::Edit(e) => {
                let [edits] = kind else {
                    unreachable!("index_trees")
                };
                let mut key = [0u8; 72];
                key[..32].copy_from_slice(&e.target.0);
                key[32..40].copy_from_slice(&msg.created_at.to_be_bytes());
                key[40..].copy_from_slice(&msg.id.0);
                edits.insert(&key[..], msg.author.as_bytes())?;
            }
            Content::Delete(t) | Content::Remove(t) => {
                let [withdrawals] = kind else {
                    unreachable!("index_trees")
                };
                let mut value = [0u8; 33];
                value[..32].copy_from_slice(msg.author.as_bytes());
                value[32] = u8::from(matches!(msg.content, Content::Remove(_)));
                withdrawals.insert(&pair_key(&t.target.0, &msg.id.0)[..], &value[..])?;
            }
            Content::Recommend(r) => {
                let [recs, rec_counts, posts, hot, top] = kind else {
                    unreachable!("index_trees")
                };
                let key = pair_key(&r.target.0, msg.author.as_bytes());
                let previous = recs.get(key)?;
                if !newer(previous.as_deref(), msg) {
                    return Ok(());
                }
                recs.insert(&key[..], &register(msg, Some(r.active))[..])?;
                let was_active = previous.as_deref().is_some_and(register_active);
                if was_active == r.active {
                    return Ok(());
                }
                let old = read_u64(rec_counts.get(r.target.0)?.as_deref());
                let new = if r.active {
                    old + 1
                } else {
                    old.saturating_sub(1)
                };
                rec_counts.insert(&r.target.0, &new.to_be_bytes())?;
                // Re-rank the post if it is here; otherwise its insert reads the count.
                if let Some(meta) = posts.get(r.target.0)? {
                    let post_group = GroupId::from_bytes(meta[..32].try_into().expect("32 bytes"));
                    let created_at = read_u64(Some(&meta[32..40]));
                    hot.remove(&index_key(&post_group, hot_score(created_at, old), &r.target)[..])?;
                    hot.insert(
                        &index_key(&post_group, hot_score(created_at, new), &r.target)[..],
                        &[],
                    )?;
                    top.remove(&top_key(&post_group, old, created_at, &r.target)[..])?;
                    top.insert(&top_key(&post_group, new, created_at, &r.target)[..], &[])?;
                }
            }
            Content::Ban(b) => {
                let [bans] = kind else {
                    unreachable!("index_trees")
                };
                let key = pair_key(group, b.member.as_bytes());
                if newer(bans.get(key)?.as_deref(), msg) {
                    bans.insert(&key[..], &register(msg, Some(b.active))[..])?;
                }
            }
            Content::Room(_) => {
                let [rooms] = kind else {
                    unreachable!("index_trees")
                };
                rooms.insert(&pair_key(group, &msg.id.0)[..], &[])?;
            }
            Content::Chat(c) => {
                let [chats] = kind else {
                    unreachable!("index_trees")
                };
                let mut key = [0u8; 72];
                key[..32].copy_from_slice(&c.room.0);
                key[32..40].copy_from_slice(&order.to_be_bytes());
                key[40..].copy_from_slice(&msg.id.0);
                chats.insert(&key[..], &[])?;
            }
            Content::Grant(_) => {
                let [grants] = kind else {
                    unreachable!("index_trees")
                };
                grants.insert(&pair_key(group, &msg.id.0)[..], &[])?;
            }
            Content::Revoke(r) => {
                let [revocations] = kind else {
                    unreachable!("index_trees")
                };
                if revocations.get(r.grant.0)?.is_none() {
                    revocations.insert(&r.grant.0, &msg.id.0)?;
                }
            }
            Content::Advertiser(_) => {
                let [advertisers] = kind else {
                    unreachable!("index_trees")
                };
                let key = pair_key(group, msg.author.as_bytes());
                if newer(advertisers.get(key)?.as_deref(), msg) {
                    advertisers.insert(&key[..], &register(msg, None)[..])?;
                }
            }
            Content::Ad(ad) => {
                let [ads, ad_days] = kind else {
                    unreachable!("index_trees")
                };
                ads.insert(&index_key(&msg.group, msg.created_at, &msg.id)[..], &[])?;
                ad_days.insert(&ad_day_key(&ad.grant, msg.created_at, &msg.id)[..], &[])?;
            }
            Content::Charter(_) => {}
        }
        Ok(())
    }
}

/// Milliseconds in a UTC day: quotas count ads per `created_at / DAY_MS`.
pub const DAY_MS: u64 = 86_400_000;

fn ad_day_key(grant: &MessageId, created_at: u64, id: &MessageId) -> [u8; 80] {
    let mut key = [0u8; 80];
    key[..32].copy_from_slice(&grant.0);
    key[32..40].copy_from_slice(&(created_at / DAY_MS).to_be_bytes());
    key[40..48].copy_from_slice(&created_at.to_be_bytes());
    key[48..].copy_from_slice(&id.0);
    key
}

/// The `hot` score of a post, in milliseconds: `created_at` plus 12.5 hours per factor of
/// ten in (1 + recommendations). It does not depend on the time of the query, so it can be
/// indexed; a post needs about ten times the recommendations to stay level with one 12.5 h
/// older. One recommendation is worth 3.8 h of newness, two 6 h, nine 12.5 h.
pub fn hot_score(created_at_ms: u64, recommendations: u64) -> u64 {
    created_at_ms + hot_boost(recommendations)
}

/// The recommendation part of [`hot_score`]: `round(45_000_000 × log10(1 + n))` ms.
pub fn hot_boost(recommendations: u64) -> u64 {
    (45_000_000.0 * ((recommendations as f64) + 1.0).log10()).round() as u64
}

fn top_key(group: &GroupId, count: u64, created_at: u64, id: &MessageId) -> [u8; 80] {
    let mut key = [0u8; 80];
    key[..32].copy_from_slice(group.as_bytes());
    key[32..40].copy_from_slice(&count.to_be_bytes());
    key[40..48].copy_from_slice(&created_at.to_be_bytes());
    key[48..].copy_from_slice(&id.0);
    key
}

fn read_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| b.get(..8))
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

/// A latest-wins register value: created_at (8) ‖ message id (32) [‖ active (1)].
fn register(msg: &Message, active: Option<bool>) -> Vec<u8> {
    let mut value = Vec::with_capacity(41);
    value.extend_from_slice(&msg.created_at.to_be_bytes());
    value.extend_from_slice(&msg.id.0);
    value.extend(active.map(u8::from));
    value
}

/// Whether `msg` beats the register `current` (greater `(created_at, id)`).
fn newer(current: Option<&[u8]>, msg: &Message) -> bool {
    match current {
        Some(cur) if cur.len() >= 40 => {
            (msg.created_at.to_be_bytes(), msg.id.0)
                > (
                    cur[..8].try_into().expect("8"),
                    cur[8..40].try_into().expect("32"),
                )
        }
        _ => true,
    }
}

fn register_active(value: &[u8]) -> bool {
    value.get(40) == Some(&1)
}

fn register_id(value: &[u8]) -> Result<MessageId, StoreError> {
    value
        .get(8..40)
        .ok_or(StoreError::Corrupt {
            what: "register",
            detail: format!("{} bytes", value.len()),
        })
        .and_then(id_from)
}

/// seen_at (8) and group id (32) before the message bytes.
const VALUE_HEADER: usize = 8 + 32;

fn decode_value(value: &[u8]) -> Result<StoredMessage, StoreError> {
    if value.len() < VALUE_HEADER {
        return Err(StoreError::Corrupt {
            what: "message",
            detail: "shorter than its header".into(),
        });
    }
    let seen_at = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
    // Verified before it was stored; the store is not the wire.
    let signed =
        crate::message::decode_stored(&value[VALUE_HEADER..]).map_err(|e| StoreError::Corrupt {
            what: "message",
            detail: e.to_string(),
        })?;
    Ok(StoredMessage { signed, seen_at })
}

fn decode_group(value: &[u8]) -> Result<GroupRecord, StoreError> {
    ciborium::from_reader(value).map_err(|e| StoreError::Corrupt {
        what: "group",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{sign, Post};
    use cove_crypto::{GroupSecret, MasterSeed};

    fn post(group: &GroupId, seed: u8, at: u64, text: &str) -> SignedMessage {
        let me = MasterSeed::from_bytes([seed; 32]).pseudonym(group);
        let content = Content::Post(Post {
            title: None,
            text: text.into(),
        });
        sign(&me, group, at, content).unwrap()
    }

    /// sled's snapshot files (`snap.<log position>`) in a store dir.
    fn snapshots(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("snap."))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_store_written_with_the_authored_index_opens_and_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = config(dir.path()).open().unwrap();
            db.open_tree("authored").unwrap().insert(b"k", b"").unwrap();
            db.flush().unwrap();
        }
        drop(Store::open(dir.path()).unwrap());
        let db = config(dir.path()).open().unwrap();
        assert!(!db.tree_names().iter().any(|n| n.as_ref() == b"authored"));
    }

    #[test]
    fn open_waits_briefly_for_a_handle_still_being_released() {
        // A node stopped in this process may drop its last handle (a blocking reader, sled's
        // I/O threads) just after it replied; a restart must not fail on the lock.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let releasing = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(store);
        });
        let reopened = Store::open(dir.path());
        releasing.join().unwrap();
        assert!(reopened.is_ok(), "{:?}", reopened.err());
    }

    #[test]
    fn closing_the_last_handle_writes_a_snapshot_and_releases_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupSecret::from_bytes([3; 32]).id();
        let store = Store::open(dir.path()).unwrap();
        let at_open = snapshots(dir.path());
        let clone = store.clone();
        for i in 0..200 {
            assert!(clone
                .insert_message(&post(&group, 1, 1_000 + i, "text"), 1_000 + i)
                .unwrap());
        }
        drop(store);
        assert_eq!(snapshots(dir.path()), at_open, "a clone is still open");
        drop(clone);
        let at_close = snapshots(dir.path());
        assert_ne!(at_close, at_open, "the last close writes a newer snapshot");
        // Closed for good: it opens again at once, with everything in it.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.feed(&group, 1_000).unwrap().len(), 200);
    }

    #[test]
    fn dedup_is_persistent_and_feed_is_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupSecret::from_bytes([3; 32]).id();
        let first = post(&group, 1, 1_000, "first");
        let second = post(&group, 2, 2_000, "second");
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.insert_message(&second, 2_000).unwrap());
            assert!(store.insert_message(&first, 1_500).unwrap());
            assert!(!store.insert_message(&first, 9_000).unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(
            !store.insert_message(&first, 9_999).unwrap(),
            "dedup survives reopen"
        );
        let feed = store.feed(&group, 10).unwrap();
        let texts: Vec<_> = feed
            .iter()
            .map(|m| match &m.signed.message.content {
                Content::Post(p) => p.text.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(texts, ["second", "first"]);
        assert_eq!(store.message_count(&group), 2);
    }

    #[test]
    fn future_timestamps_are_clamped_to_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let group = GroupSecret::from_bytes([4; 32]).id();
        let liar = post(&group, 1, 10_000, "from the future");
        let honest = post(&group, 2, 5_000, "now");
        store.insert_message(&liar, 4_000).unwrap();
        store.insert_message(&honest, 5_000).unwrap();
        let feed = store.feed(&group, 10).unwrap();
        assert_eq!(feed[0].signed.message.id, honest.message.id);
    }

    #[test]
    fn sync_items_and_prune_respect_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let group = GroupSecret::from_bytes([6; 32]).id();
        let old = post(&group, 1, 1_000, "old");
        let new = post(&group, 1, 5_000, "new");
        store.insert_message(&old, 9_000).unwrap();
        store.insert_message(&new, 9_000).unwrap();
        let all = store.sync_items(&group, 0).unwrap();
        assert_eq!(all, vec![(1_000, old.message.id), (5_000, new.message.id)]);
        assert_eq!(
            store.sync_items(&group, 2_000).unwrap(),
            vec![(5_000, new.message.id)]
        );
        assert_eq!(
            store
                .message_bytes(&group, &old.message.id)
                .unwrap()
                .unwrap(),
            old.bytes
        );
        let other = GroupSecret::from_bytes([7; 32]).id();
        assert_eq!(store.message_bytes(&other, &old.message.id).unwrap(), None);
        assert_eq!(store.prune(&group, 2_000, &MessageId([0; 32])).unwrap(), 1);
        assert!(!store.contains(&old.message.id).unwrap());
        assert_eq!(store.feed(&group, 10).unwrap().len(), 1);
        assert_eq!(store.sync_items(&group, 0).unwrap().len(), 1);
    }

    #[test]
    fn latest_profile_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let group = GroupSecret::from_bytes([5; 32]).id();
        let me = MasterSeed::from_bytes([1; 32]).pseudonym(&group);
        let profile = |nick: &str, at| {
            let content = Content::Profile(Profile {
                nickname: nick.into(),
                bio: None,
            });
            sign(&me, &group, at, content).unwrap()
        };
        store.insert_message(&profile("new", 20), 20).unwrap();
        store.insert_message(&profile("old", 10), 30).unwrap();
        let got = store.profile(&group, &me.public()).unwrap().unwrap();
        assert_eq!(got.nickname, "new");
    }
}
