//! Schema 1, read once to migrate: one sled tree per kind. Only the trees that hold ground
//! truth are read; every index is rebuilt by planning each message again.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `messages` | message id (32) | seen_at (u64 ms) ‖ group id (32) ‖ signed message bytes |
//! | `groups` | group id (32) | CBOR `GroupRecord` (unchanged in schema 2) |
//! | `outbox` | message id (32) | group id (32) |
//! | `mutes` | group id (32) ‖ member key (32) | empty |
//! | `interests` | targeting key (UTF-8) | empty |
//! | `ad_views` | ad id (32) ‖ UTC day (u64) | u64 impressions |
//!
//! The index trees of schema 1 (`timeline`, `feed`, `hot`, `top`, `posts`, `profiles`,
//! `threads`, `reply_counts`, `edits`, `withdrawals`, `recs`, `rec_counts`, `bans`, `rooms`,
//! `chats`, `grants`, `revocations`, `advertisers`, `ads`, `ad_days`, and the older
//! `authored`) are dropped unread.
//!
//! The migration is idempotent: each message is written with its index entries in one batch
//! and a stored id is never planned twice, so a crash part-way is finished by the next open;
//! the schema key is written, and the old trees dropped, only once everything is copied.

use sled::IVec;

use super::layout::{self, prefix};
use super::{plan, Store, StoreError, BULK_BATCH};

/// The trees of schema 1 that hold local records, with their schema-2 prefix (same keys).
const LOCAL: [(&str, u8); 5] = [
    ("groups", prefix::GROUP),
    ("outbox", prefix::OUTBOX),
    ("mutes", prefix::MUTE),
    ("interests", prefix::INTEREST),
    ("ad_views", prefix::AD_VIEWS),
];

/// Every tree schema 1 had.
const TREES: [&str; 27] = [
    "messages",
    "timeline",
    "feed",
    "hot",
    "top",
    "posts",
    "profiles",
    "threads",
    "reply_counts",
    "edits",
    "withdrawals",
    "recs",
    "rec_counts",
    "bans",
    "rooms",
    "chats",
    "mutes",
    "grants",
    "revocations",
    "advertisers",
    "ads",
    "ad_days",
    "interests",
    "ad_views",
    "groups",
    "outbox",
    "authored",
];

/// seen_at (8) and group id (32) before a schema-1 message's bytes.
const HEADER: usize = 8 + 32;

/// Whether the database holds schema-1 trees.
pub(super) fn is_v1(db: &sled::Db) -> bool {
    db.tree_names()
        .iter()
        .any(|name| TREES.iter().any(|t| t.as_bytes() == name.as_ref()))
}

/// Copies schema 1's messages (indexed anew) and local records into `store`. Returns the
/// number of messages read.
pub(super) fn migrate(db: &sled::Db, store: &Store) -> Result<usize, StoreError> {
    let messages = db.open_tree("messages")?;
    let mut count = 0;
    for entry in messages.iter() {
        let (_, value) = entry?;
        if value.len() < HEADER {
            return Err(StoreError::Corrupt {
                what: "schema-1 message",
                detail: "shorter than its header".into(),
            });
        }
        let seen_at = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
        let signed =
            crate::message::decode_stored(&value[HEADER..]).map_err(|e| StoreError::Corrupt {
                what: "schema-1 message",
                detail: e.to_string(),
            })?;
        let writes = plan::store_message(&signed, seen_at, &store.ks)?.unwrap_or_default();
        if store.ks.stage(writes) >= BULK_BATCH {
            store.ks.settle()?;
        }
        count += 1;
    }
    store.ks.settle()?;
    for (name, p) in LOCAL {
        let tree = db.open_tree(name)?;
        let mut writes = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            writes.push((layout::key(p, &[&key]), Some(IVec::from(value.to_vec()))));
        }
        store.ks.apply(writes)?;
    }
    db.flush()?;
    Ok(count)
}

/// Drops every schema-1 tree (after the schema key is written).
pub(super) fn drop_trees(db: &sled::Db) -> Result<(), StoreError> {
    for name in TREES {
        db.drop_tree(name)?;
    }
    db.flush()?;
    Ok(())
}
