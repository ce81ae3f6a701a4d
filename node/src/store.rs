//! Durable storage on sled.
//!
//! Trees and their keys (all integers big endian, so byte order is numeric order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `messages` | message id (32) | seen_at (u64 ms) ‖ group id (32) ‖ signed message bytes |
//! | `timeline` | group id (32) ‖ created_at (u64 ms) ‖ message id (32) | empty: every kind; the set that history sync reconciles |
//! | `feed` | group id (32) ‖ order (u64 ms) ‖ message id (32) | empty (posts only) |
//! | `profiles` | group id (32) ‖ author key (32) | message id of the latest profile |
//! | `groups` | group id (32) | CBOR [`GroupRecord`] |
//! | `outbox` | message id (32) | group id (32): own messages not yet handed to a peer |
//!
//! `order` is the author's `created_at` clamped to when this node first saw the message, so a
//! message claiming to come from the future cannot pin itself to the top of a feed. Ties are
//! broken by message id, so the same set of messages gives every member the same order.
//!
//! A message and its index entries are written in one sled transaction: a crash leaves either
//! all of them or none. Deduplication by message id is persistent, so a replay long after the
//! gossip layer forgot the message is still recognised.

use std::path::Path;

use cove_crypto::{GroupId, GroupSecret, PublicKey};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::message::{verify_and_decode, Content, MessageId, Profile, SignedMessage};

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

/// What this node keeps about a group it belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    profiles: sled::Tree,
    groups: sled::Tree,
    outbox: sled::Tree,
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
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        Ok(Self {
            messages: db.open_tree("messages")?,
            timeline: db.open_tree("timeline")?,
            feed: db.open_tree("feed")?,
            profiles: db.open_tree("profiles")?,
            groups: db.open_tree("groups")?,
            outbox: db.open_tree("outbox")?,
            db,
        })
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Stores a verified message unless its id is known. Returns whether it was new.
    pub fn insert_message(&self, signed: &SignedMessage, seen_at: u64) -> Result<bool, StoreError> {
        let msg = &signed.message;
        let stored = StoredMessage {
            signed: signed.clone(),
            seen_at,
        };
        let feed_key = index_key(&msg.group, stored.order(), &msg.id);
        let timeline_key = index_key(&msg.group, msg.created_at, &msg.id);
        let mut value = Vec::with_capacity(VALUE_HEADER + signed.bytes.len());
        value.extend_from_slice(&seen_at.to_be_bytes());
        value.extend_from_slice(msg.group.as_bytes());
        value.extend_from_slice(&signed.bytes);
        let profile_key = pair_key(msg.group.as_bytes(), msg.author.as_bytes());
        let newer_profile = match &msg.content {
            Content::Profile(_) => self.is_newer_profile(&profile_key, msg.created_at, &msg.id)?,
            _ => false,
        };
        let is_post = matches!(msg.content, Content::Post(_));

        let result = (&self.messages, &self.timeline, &self.feed, &self.profiles).transaction(
            |(messages, timeline, feed, profiles)| {
                if messages.get(msg.id.0)?.is_some() {
                    return Ok(false);
                }
                messages.insert(&msg.id.0, value.as_slice())?;
                timeline.insert(&timeline_key[..], &[])?;
                if is_post {
                    feed.insert(&feed_key[..], &[])?;
                }
                if newer_profile {
                    profiles.insert(&profile_key[..], &msg.id.0)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(true)
            },
        )?;
        Ok(result)
    }

    fn is_newer_profile(
        &self,
        key: &[u8; 64],
        created_at: u64,
        id: &MessageId,
    ) -> Result<bool, StoreError> {
        let Some(current) = self.profiles.get(key)? else {
            return Ok(true);
        };
        let current = self.message(&id_from(&current)?)?;
        Ok(match current {
            Some(cur) => (created_at, *id) > (cur.signed.message.created_at, cur.signed.message.id),
            None => true,
        })
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
        decode_stored(&value).map(Some)
    }

    /// The newest `limit` posts of a group, newest first.
    pub fn feed(&self, group: &GroupId, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        self.feed
            .scan_prefix(group.as_bytes())
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, _) = entry?;
                let id = id_from(&key[40..])?;
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
        for entry in self.timeline.range(start..end) {
            let (key, _) = entry?;
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
                if current.as_deref() == Some(&id.0[..]) {
                    continue;
                }
            }
            let feed_key = index_key(group, stored.order(), &id);
            (&self.messages, &self.timeline, &self.feed).transaction(
                |(messages, timeline, feed)| {
                    messages.remove(&id.0)?;
                    timeline.remove(&key)?;
                    feed.remove(&feed_key[..])?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                },
            )?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The latest profile of `author` in `group`.
    pub fn profile(
        &self,
        group: &GroupId,
        author: &PublicKey,
    ) -> Result<Option<Profile>, StoreError> {
        let Some(id) = self
            .profiles
            .get(pair_key(group.as_bytes(), author.as_bytes()))?
        else {
            return Ok(None);
        };
        Ok(self
            .message(&id_from(&id)?)?
            .and_then(|m| match m.signed.message.content {
                Content::Profile(p) => Some(p),
                _ => None,
            }))
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

/// seen_at (8) and group id (32) before the message bytes.
const VALUE_HEADER: usize = 8 + 32;

fn decode_stored(value: &[u8]) -> Result<StoredMessage, StoreError> {
    if value.len() < VALUE_HEADER {
        return Err(StoreError::Corrupt {
            what: "message",
            detail: "shorter than its header".into(),
        });
    }
    let seen_at = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
    let signed = verify_and_decode(&value[VALUE_HEADER..]).map_err(|e| StoreError::Corrupt {
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
