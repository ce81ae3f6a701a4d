//! The index planner: given a message, when this node first saw it and a view of the store,
//! the exact writes that store it with every index entry it adds or changes. Pure: it only
//! reads through [`Lookup`], so it runs over sled, over a map, or over a batch still being
//! built, and the result is applied as one atomic batch.

use sled::IVec;

use super::bucket::{self, sort_key};
use super::keyspace::{Lookup, Writes};
use super::layout::{self, kind_code, prefix, u64_at, MessageHeader, POST};
use super::StoreError;
use crate::message::{Content, Message, MessageId, SignedMessage};
use cove_crypto::GroupId;

/// The writes that store `signed`, first seen at `seen_at`, with its index entries; `None`
/// when its id is already stored (deduplication is persistent).
pub fn store_message(
    signed: &SignedMessage,
    seen_at: u64,
    db: &impl Lookup,
) -> Result<Option<Writes>, StoreError> {
    let msg = &signed.message;
    let message_key = layout::key(prefix::MESSAGE, &[&msg.id.0]);
    if db.get(&message_key)?.is_some() {
        return Ok(None);
    }
    let header = MessageHeader {
        seen_at,
        created_at: msg.created_at,
        kind: kind_code(&msg.content),
        group: msg.group,
    };
    let mut writes = index_message(msg, &header, db)?;
    writes.push((message_key, Some(IVec::from(header.value(&signed.bytes)))));
    Ok(Some(writes))
}

/// The index entries of a message (stored or about to be): everything [`store_message`]
/// writes but the message itself. `reindex` rebuilds the indexes with it.
pub fn index_message(
    msg: &Message,
    header: &MessageHeader,
    db: &impl Lookup,
) -> Result<Writes, StoreError> {
    // Room for what a post or a reply writes (the two listings' splits included), and the
    // message itself, so that planning one does not grow the list.
    let mut w = Plan(Vec::with_capacity(8));
    let timeline = sort_key(msg.created_at, &msg.id);
    w.0.extend(bucket::insert(
        db,
        bucket::TIMELINE,
        msg.group.as_bytes(),
        &timeline,
        &[],
    )?);
    let count_key = layout::key(prefix::COUNT, &[msg.group.as_bytes()]);
    let count = read_u64(db, &count_key)? + 1;
    w.put(count_key, count.to_be_bytes().to_vec());
    index(msg, header.order(), db, &mut w)?;
    Ok(w.0)
}

/// The index entries of one new message, by kind.
fn index(msg: &Message, order: u64, db: &impl Lookup, w: &mut Plan) -> Result<(), StoreError> {
    let group = msg.group.as_bytes();
    match &msg.content {
        Content::Post(_) => {
            // Recommendations may have arrived before the post.
            let count = read_u64(db, &layout::key(prefix::REC_COUNT, &[&msg.id.0]))?;
            let apart = ranked_apart(count, msg.created_at, order);
            let entry = sort_key(order, &msg.id);
            let flag = layout::new_entry(apart);
            w.0.extend(bucket::insert(db, bucket::NEW, group, &entry, &flag)?);
            if apart {
                for key in ranking_keys(&msg.group, count, msg.created_at, &msg.id) {
                    w.mark(key);
                }
            }
        }
        Content::Profile(_) => {
            w.register(
                db,
                layout::pair(prefix::PROFILE, group, msg.author.as_bytes()),
                msg,
                None,
            )?;
        }
        Content::Reply(r) => {
            w.put(
                layout::listed(prefix::THREAD, &r.root.0, order, &msg.id),
                r.parent.0.to_vec(),
            );
            let key = layout::key(prefix::REPLY_COUNT, &[&r.root.0]);
            let count = read_u64(db, &key)? + 1;
            w.put(key, count.to_be_bytes().to_vec());
        }
        Content::Edit(e) => {
            w.put(
                layout::listed(prefix::EDIT, &e.target.0, msg.created_at, &msg.id),
                msg.author.as_bytes().to_vec(),
            );
        }
        Content::Delete(t) | Content::Remove(t) => {
            let mut value = msg.author.as_bytes().to_vec();
            value.push(u8::from(matches!(msg.content, Content::Remove(_))));
            w.put(
                layout::pair(prefix::WITHDRAWAL, &t.target.0, &msg.id.0),
                value,
            );
        }
        Content::Recommend(r) => {
            let key = layout::pair(prefix::REC, &r.target.0, msg.author.as_bytes());
            let previous = db.get(&key)?;
            if !w.register(db, key, msg, Some(r.active))? {
                return Ok(());
            }
            let was_active = previous.as_deref().is_some_and(layout::register_active);
            if was_active != r.active {
                recount(db, w, &r.target, r.active)?;
            }
        }
        Content::Ban(b) => {
            w.register(
                db,
                layout::pair(prefix::BAN, group, b.member.as_bytes()),
                msg,
                Some(b.active),
            )?;
        }
        Content::Room(_) => w.mark(layout::pair(prefix::ROOM, group, &msg.id.0)),
        Content::Chat(c) => w.mark(layout::listed(prefix::CHAT, &c.room.0, order, &msg.id)),
        Content::Grant(_) => w.mark(layout::pair(prefix::GRANT, group, &msg.id.0)),
        Content::Revoke(r) => {
            let key = layout::key(prefix::REVOCATION, &[&r.grant.0]);
            if db.get(&key)?.is_none() {
                w.put(key, msg.id.0.to_vec());
            }
        }
        Content::Advertiser(_) => {
            let key = layout::pair(prefix::ADVERTISER, group, msg.author.as_bytes());
            w.register(db, key, msg, None)?;
        }
        Content::Ad(ad) => {
            w.mark(layout::listed(prefix::AD, group, msg.created_at, &msg.id));
            w.mark(layout::ad_day(&ad.grant, msg.created_at, &msg.id));
        }
        Content::Member(_) => {
            let key = layout::pair(prefix::MEMBER, group, msg.author.as_bytes());
            w.register(db, key, msg, None)?;
        }
        Content::Rekey(r) => w.mark(layout::key(
            prefix::REKEY,
            &[group, &r.tag.to_be_bytes(), &msg.id.0],
        )),
        Content::Amend(a) => w.mark(layout::key(prefix::AMEND, &[group, &a.prev.0, &msg.id.0])),
        Content::Ticket(t) => w.mark(layout::key(
            prefix::TICKET,
            &[group, t.id.as_bytes(), &msg.id.0],
        )),
        Content::Admit(a) => w.mark(layout::pair(prefix::ADMISSION, &a.ticket.0, &msg.id.0)),
        Content::Uninvite(u) => {
            let key = layout::key(prefix::UNINVITE, &[&u.ticket.0]);
            if db.get(&key)?.is_none() {
                w.put(key, msg.id.0.to_vec());
            }
        }
        Content::Charter(_) => {}
    }
    Ok(())
}

/// Moves `target`'s recommendation count one up or down, and re-ranks it if it is a stored
/// post (otherwise the post's own insert reads the count when it arrives).
fn recount(db: &impl Lookup, w: &mut Plan, target: &MessageId, up: bool) -> Result<(), StoreError> {
    let count_key = layout::key(prefix::REC_COUNT, &[&target.0]);
    let old = read_u64(db, &count_key)?;
    let new = if up { old + 1 } else { old.saturating_sub(1) };
    w.put(count_key, new.to_be_bytes().to_vec());
    let Some(post) = post_header(db, target)? else {
        return Ok(());
    };
    let (group, created_at, order) = (&post.group, post.created_at, post.order());
    let was_apart = ranked_apart(old, created_at, order);
    let is_apart = ranked_apart(new, created_at, order);
    if was_apart {
        for key in ranking_keys(group, old, created_at, target) {
            w.delete(key);
        }
    }
    if is_apart {
        for key in ranking_keys(group, new, created_at, target) {
            w.mark(key);
        }
    }
    if was_apart != is_apart {
        let entry = sort_key(order, target);
        let flag = layout::new_entry(is_apart);
        w.0.extend(bucket::set_extra(
            db,
            bucket::NEW,
            group.as_bytes(),
            &entry,
            &flag,
        )?);
    }
    Ok(())
}

/// The `hot` and `top` keys of a post ranked apart with `count` recommendations.
fn ranking_keys(group: &GroupId, count: u64, created_at: u64, id: &MessageId) -> [Vec<u8>; 2] {
    [
        layout::listed(
            prefix::HOT,
            group.as_bytes(),
            hot_score(created_at, count),
            id,
        ),
        layout::top(group, count, created_at, id),
    ]
}

/// Whether a post has `hot` and `top` entries of its own. A post with no recommendation
/// that is not dated after it was first seen has none: its `hot` score is its `created_at`
/// (`hot_boost(0)` is 0) and its `top` key is `(0, created_at)`, and `created_at` equals its
/// `new` order, so its `new` entry stands for both ([`StoreReader::ranked`] merges the two).
/// That saves two of a post's five new keys, about 2 KB of sled log each post (PERFORMANCE.md,
/// "Store v2").
///
/// [`StoreReader::ranked`]: super::StoreReader::ranked
pub fn ranked_apart(recommendations: u64, created_at: u64, order: u64) -> bool {
    recommendations > 0 || order != created_at
}

/// The header of a stored post (`None`: not stored, or not a post).
pub fn post_header(db: &impl Lookup, id: &MessageId) -> Result<Option<MessageHeader>, StoreError> {
    let Some(value) = db.get(&layout::key(prefix::MESSAGE, &[&id.0]))? else {
        return Ok(None);
    };
    let header = MessageHeader::read(&value).ok_or(StoreError::Corrupt {
        what: "message",
        detail: "shorter than its header".into(),
    })?;
    Ok((header.kind == POST).then_some(header))
}

/// The writes that delete a message and the listings that show it (timeline, feed, rankings,
/// thread, room): retention forgets content, not votes, so registers and counters it
/// contributed to stay. `recommendations` is the post's current count (it places the
/// ranking entries).
pub fn unlist(
    msg: &Message,
    order: u64,
    recommendations: u64,
    group_count: u64,
    db: &impl Lookup,
) -> Result<Writes, StoreError> {
    let group = msg.group.as_bytes();
    let mut w = Plan::default();
    w.delete(layout::key(prefix::MESSAGE, &[&msg.id.0]));
    let timeline = sort_key(msg.created_at, &msg.id);
    w.0.extend(bucket::remove(db, bucket::TIMELINE, group, &timeline)?);
    w.put(
        layout::key(prefix::COUNT, &[group]),
        group_count.saturating_sub(1).to_be_bytes().to_vec(),
    );
    match &msg.content {
        Content::Post(_) => {
            w.0.extend(bucket::remove(
                db,
                bucket::NEW,
                group,
                &sort_key(order, &msg.id),
            )?);
            if ranked_apart(recommendations, msg.created_at, order) {
                for key in ranking_keys(&msg.group, recommendations, msg.created_at, &msg.id) {
                    w.delete(key);
                }
            }
        }
        Content::Reply(r) => w.delete(layout::listed(prefix::THREAD, &r.root.0, order, &msg.id)),
        Content::Chat(c) => w.delete(layout::listed(prefix::CHAT, &c.room.0, order, &msg.id)),
        _ => {}
    }
    Ok(w.0)
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

/// The counter under `key` (0 when absent).
pub fn read_u64(db: &impl Lookup, key: &[u8]) -> Result<u64, StoreError> {
    Ok(db.get(key)?.map_or(0, |v| u64_at(&v, 0)))
}

/// Writes being planned.
#[derive(Default)]
struct Plan(Writes);

impl Plan {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.push((key, Some(IVec::from(value))));
    }

    /// A key whose presence is the fact (empty value).
    fn mark(&mut self, key: Vec<u8>) {
        self.0.push((key, Some(IVec::default())));
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.0.push((key, None));
    }

    /// Sets the latest-wins register `key` to `msg` if it beats the current one; returns
    /// whether it did.
    fn register(
        &mut self,
        db: &impl Lookup,
        key: Vec<u8>,
        msg: &Message,
        active: Option<bool>,
    ) -> Result<bool, StoreError> {
        let current = db.get(&key)?;
        if !layout::beats(current.as_deref(), msg.created_at, &msg.id) {
            return Ok(false);
        }
        self.put(key, layout::register(msg.created_at, &msg.id, active));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cove_crypto::{GroupId, GroupSecret, MasterSeed};

    use super::*;
    use crate::message::{sign, Post, Recommend};

    type Map = BTreeMap<Vec<u8>, IVec>;

    fn apply(map: &mut Map, writes: Writes) {
        for (k, v) in writes {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
    }

    fn group() -> GroupId {
        GroupSecret::from_bytes([9; 32]).id()
    }

    fn signed(seed: u8, at: u64, content: Content) -> SignedMessage {
        let g = group();
        sign(
            &MasterSeed::from_bytes([seed; 32]).pseudonym(&g),
            &g,
            at,
            content,
        )
        .unwrap()
    }

    fn post(seed: u8, at: u64) -> SignedMessage {
        signed(
            seed,
            at,
            Content::Post(Post {
                title: None,
                text: "hi".into(),
            }),
        )
    }

    fn rec(seed: u8, at: u64, target: MessageId, active: bool) -> SignedMessage {
        signed(seed, at, Content::Recommend(Recommend { target, active }))
    }

    fn with_prefix(map: &Map, p: u8) -> Vec<Vec<u8>> {
        map.keys().filter(|k| k[0] == p).cloned().collect()
    }

    /// The `n` entries of the buckets in `map`, unpacked: `(key of schema 3, flag)`.
    fn new_entries(map: &Map) -> BTreeMap<Vec<u8>, Vec<u8>> {
        map.iter()
            .filter(|(k, _)| k[0] == prefix::NEW)
            .flat_map(|(k, v)| {
                v.chunks_exact(41)
                    .map(|e| ([&k[..33], &e[..40]].concat(), e[40..].to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_post_is_stored_listed_ranked_and_counted() {
        let mut map = Map::new();
        let p = post(1, 1_000);
        let writes = store_message(&p, 900, &map).unwrap().unwrap();
        apply(&mut map, writes);
        let header = post_header(&map, &p.message.id).unwrap().unwrap();
        assert_eq!(
            (header.seen_at, header.created_at, header.order()),
            (900, 1_000, 900)
        );
        assert_eq!(
            new_entries(&map).into_keys().collect::<Vec<_>>(),
            [layout::listed(
                prefix::NEW,
                group().as_bytes(),
                900,
                &p.message.id
            )]
        );
        assert_eq!(with_prefix(&map, prefix::HOT).len(), 1);
        assert_eq!(
            with_prefix(&map, prefix::TOP),
            [layout::top(&group(), 0, 1_000, &p.message.id)]
        );
        assert_eq!(
            read_u64(&map, &layout::key(prefix::COUNT, &[group().as_bytes()])).unwrap(),
            1
        );
        assert!(
            store_message(&p, 5_000, &map).unwrap().is_none(),
            "a stored id plans nothing"
        );
    }

    #[test]
    fn recommendations_converge_whatever_the_arrival_order() {
        let p = post(1, 1_000);
        let id = p.message.id;
        let messages = [
            p.clone(),
            rec(2, 2_000, id, true),
            rec(3, 2_000, id, true),
            rec(2, 3_000, id, false),
            rec(2, 2_500, id, true),
        ];
        let mut results = Vec::new();
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2]] {
            let mut map = Map::new();
            for i in order {
                let writes = store_message(&messages[i], 5_000, &map).unwrap().unwrap();
                apply(&mut map, writes);
            }
            results.push(map);
        }
        for map in &results {
            assert_eq!(
                read_u64(map, &layout::key(prefix::REC_COUNT, &[&id.0])).unwrap(),
                1
            );
            assert_eq!(
                with_prefix(map, prefix::TOP),
                [layout::top(&group(), 1, 1_000, &id)]
            );
            assert_eq!(
                with_prefix(map, prefix::HOT),
                [layout::listed(
                    prefix::HOT,
                    group().as_bytes(),
                    hot_score(1_000, 1),
                    &id
                )]
            );
        }
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], results[2]);
    }

    #[test]
    fn a_post_is_ranked_apart_only_while_recommended_or_dated_ahead() {
        let mut map = Map::new();
        let p = post(1, 1_000);
        let id = p.message.id;
        let writes = store_message(&p, 1_000, &map).unwrap().unwrap();
        apply(&mut map, writes);
        let new_key = layout::listed(prefix::NEW, group().as_bytes(), 1_000, &id);
        assert_eq!(
            new_entries(&map)[&new_key],
            [0],
            "its `n` entry stands for the rest"
        );
        assert!(with_prefix(&map, prefix::HOT).is_empty());
        assert!(with_prefix(&map, prefix::TOP).is_empty());

        let writes = store_message(&rec(2, 2_000, id, true), 2_000, &map)
            .unwrap()
            .unwrap();
        apply(&mut map, writes);
        assert!(layout::is_ranked_apart(&new_entries(&map)[&new_key]));
        assert_eq!(
            with_prefix(&map, prefix::TOP),
            [layout::top(&group(), 1, 1_000, &id)]
        );
        assert_eq!(with_prefix(&map, prefix::HOT).len(), 1);

        let writes = store_message(&rec(2, 3_000, id, false), 3_000, &map)
            .unwrap()
            .unwrap();
        apply(&mut map, writes);
        assert_eq!(new_entries(&map)[&new_key], [0], "back to the tail");
        assert!(with_prefix(&map, prefix::HOT).is_empty());
        assert!(with_prefix(&map, prefix::TOP).is_empty());

        // Dated after it was first seen: its `new` order is not its `hot` score.
        let ahead = post(3, 9_000);
        let writes = store_message(&ahead, 8_000, &map).unwrap().unwrap();
        apply(&mut map, writes);
        let key = layout::listed(prefix::NEW, group().as_bytes(), 8_000, &ahead.message.id);
        assert!(layout::is_ranked_apart(&new_entries(&map)[&key]));
        assert_eq!(
            with_prefix(&map, prefix::TOP),
            [layout::top(&group(), 0, 9_000, &ahead.message.id)]
        );
        let writes = unlist(&ahead.message, 8_000, 0, 2, &map).unwrap();
        apply(&mut map, writes);
        assert_eq!(new_entries(&map).len(), 1, "only the first post is listed");
        assert!(with_prefix(&map, prefix::HOT).is_empty());
        assert!(with_prefix(&map, prefix::TOP).is_empty());
    }

    #[test]
    fn unlisting_removes_what_the_listing_added() {
        let mut map = Map::new();
        let p = post(1, 1_000);
        let writes = store_message(&p, 1_000, &map).unwrap().unwrap();
        apply(&mut map, writes);
        let writes = unlist(&p.message, 1_000, 0, 1, &map).unwrap();
        apply(&mut map, writes);
        assert_eq!(
            map.keys().map(|k| k[0]).collect::<Vec<_>>(),
            [prefix::COUNT],
            "only the (zero) count is left"
        );
    }
}
