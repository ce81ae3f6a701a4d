//! What members see of the social layer: feeds ranked `new`, `hot` or `top`, threads, rooms
//! and chat, profiles, moderation state. (The checks made before this member signs a social
//! message are in [`crate::core::draft`].)
//!
//! Every view applies the same visibility rule, so every member shows the same thing for the
//! same set of messages (mutes aside, which are local): a message is hidden when its author
//! deleted it or an admin removed it. A ban hides nothing already accepted; it stops the
//! member's new messages at validation (§9 rule 7d). Text shown is that of the author's
//! latest edit.

use std::time::Duration;

use cove_crypto::{GroupId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::{Input, NodeError};
use crate::message::{Content, MessageId, Room, SignedMessage};
use crate::store::{hot_boost, hot_score, Ranking, StoredMessage};
use crate::view::View;

/// Most items a feed request returns.
pub const MAX_FEED_LIMIT: usize = 1000;

/// How a feed is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Post order, newest first.
    New,
    /// Recommendations with time decay: see [`crate::store::hot_score`].
    Hot,
    /// Most recommended.
    Top,
}

/// Why an item sits where it does (`--explain`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Explain {
    /// The ordering used.
    pub order: Order,
    /// Distinct members recommending it now.
    pub recommendations: u64,
    /// Age at query time, in hours (rounded down).
    pub age_hours: u64,
    /// `hot` only: `round(45_000_000 × log10(1 + recommendations))`, in ms of newness.
    pub boost_ms: u64,
    /// The sort key: `new`: created_at clamped to first seen (ms); `hot`: created_at (ms) +
    /// boost; `top`: recommendations (ties: newer first).
    pub score: u64,
}

/// A post, reply or chat line as shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedItem {
    /// Message id (hex).
    pub id: String,
    /// `post`, `reply` or `chat`.
    pub kind: String,
    /// Author pseudonym (hex public key).
    pub author: String,
    /// Short fingerprint of the author key, always shown next to the nickname.
    pub fingerprint: String,
    /// Author's latest nickname in this group, if they set one.
    pub nickname: Option<String>,
    /// Whether this node's member wrote it.
    pub mine: bool,
    /// Author's timestamp, unix ms.
    pub created_at: u64,
    /// Optional title (posts).
    pub title: Option<String>,
    /// The text (latest edit).
    pub text: String,
    /// Whether the author edited it.
    pub edited: bool,
    /// Distinct members recommending it.
    pub recommendations: u64,
    /// Whether *I* recommend it.
    pub recommended_by_me: bool,
    /// Replies in its thread (posts).
    pub replies: u64,
    /// The message replied to (replies).
    pub parent: Option<String>,
    /// Score components, when asked for.
    pub explain: Option<Explain>,
    /// For `kind: "ad"`: the ad, its offer and why it matched.
    #[serde(default)]
    pub ad: Option<crate::view::ads::AdView>,
}

/// A thread: the post and its replies, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Thread {
    /// The post.
    pub root: FeedItem,
    /// Visible replies with their depth (1 = direct reply).
    pub replies: Vec<ThreadReply>,
}

/// One reply in a thread.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadReply {
    /// Nesting depth, 1 for a reply to the post.
    pub depth: usize,
    /// The reply.
    pub item: FeedItem,
}

/// A chat room.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room id (hex): the id of its `room` message.
    pub id: String,
    /// Name.
    pub name: String,
    /// Group id (hex).
    pub group: String,
    /// Created, unix ms.
    pub created_at: u64,
}

/// A member's profile as shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileInfo {
    /// Group id (hex).
    pub group: String,
    /// Group name.
    pub group_name: String,
    /// Pseudonym (hex).
    pub member: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Nickname, if set.
    pub nickname: Option<String>,
    /// Bio, if set.
    pub bio: Option<String>,
    /// Whether it is this node's member.
    pub mine: bool,
}

/// Moderation state of a group.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModerationInfo {
    /// Group id (hex).
    pub group: String,
    /// Admin pseudonyms (hex) from the charter; the first is the founder.
    pub admins: Vec<String>,
    /// Banned pseudonyms (hex) with the time of the ban (unix ms).
    pub banned: Vec<(String, u64)>,
    /// Pseudonyms this member muted (local only).
    pub muted: Vec<String>,
}

/// One member of a group's roster (§15), as `cove members` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    /// Pseudonym (hex).
    pub member: String,
    /// Its fingerprint (first 4 bytes of SHA-256, hex): for humans.
    pub fingerprint: String,
    /// Nickname from its latest profile, if it has one.
    pub nickname: Option<String>,
    /// Whether the charter names it admin.
    pub admin: bool,
    /// `created_at` of its member record (unix ms): when it joined, by its own clock.
    pub since: u64,
    /// Whether this is you.
    pub mine: bool,
}

pub(crate) fn parse_member(text: &str) -> Result<PublicKey, NodeError> {
    text.trim()
        .parse()
        .map_err(|e| NodeError::invalid(Input::Member, format!("{text:?} is not a pseudonym: {e}")))
}

pub(crate) fn parse_id(text: &str) -> Result<MessageId, NodeError> {
    Ok(text.parse::<MessageId>()?)
}

impl View {
    /// The stored message `id`, or a clear error.
    pub(crate) fn known(&self, id: &MessageId) -> Result<StoredMessage, NodeError> {
        self.store()
            .message(id)?
            .filter(|m| self.group(&m.signed.message.group).is_some())
            .ok_or_else(|| {
                NodeError::invalid(
                    Input::Message,
                    format!("unknown message {id}: no group of yours holds it"),
                )
            })
    }

    /// Whether the visibility rule hides this message (muted authors are hidden separately).
    /// A ban hides nothing: it stops a member's messages from being accepted from the moment
    /// this node knows it (§9 rule 7d), whatever they claim as their date, and what was
    /// accepted before stays, so that an admin cannot erase a member's history by dating a
    /// ban in the past. Admins hide individual messages with `remove`.
    fn hidden(&self, msg: &crate::message::Message) -> Result<bool, NodeError> {
        Ok(self.store().withdrawn(&msg.id, &msg.author)?)
    }

    fn hidden_or_muted(&self, msg: &crate::message::Message) -> Result<bool, NodeError> {
        Ok(self.hidden(msg)? || self.store().is_muted(&msg.group, &msg.author)?)
    }

    /// A message as shown; `None` when it is not a post, reply or chat line.
    fn item(
        &self,
        stored: &StoredMessage,
        explain: Option<Explain>,
    ) -> Result<Option<FeedItem>, NodeError> {
        let msg = &stored.signed.message;
        let me = self.group_or_err(&msg.group)?.me;
        let (title, text, parent) = match &msg.content {
            Content::Post(p) => (p.title.clone(), p.text.clone(), None),
            Content::Reply(r) => (None, r.text.clone(), Some(r.parent.to_string())),
            Content::Chat(c) => (None, c.text.clone(), None),
            _ => return Ok(None),
        };
        let edit = self.store().latest_edit(&msg.id, &msg.author)?;
        let edited = edit.is_some();
        let (title, text) = match edit {
            Some(e) if matches!(msg.content, Content::Post(_)) => (e.title.or(title), e.text),
            Some(e) => (title, e.text),
            None => (title, text),
        };
        Ok(Some(FeedItem {
            id: msg.id.to_string(),
            kind: msg.content.kind().to_string(),
            author: msg.author.to_string(),
            fingerprint: msg.author.fingerprint(),
            nickname: self
                .store()
                .profile(&msg.group, &msg.author)?
                .map(|p| p.nickname),
            mine: msg.author == me,
            created_at: msg.created_at,
            title,
            text,
            edited,
            recommendations: self.store().recommendations(&msg.id)?,
            recommended_by_me: self.store().recommends(&msg.id, &me)?,
            replies: self.store().reply_count(&msg.id)?,
            parent,
            explain,
            ad: None,
        }))
    }

    /// A group's posts in `order`, only those created within `window` of `now_ms` if given.
    /// Reads the order's index lazily and stops once `limit` visible posts are found.
    pub fn feed_ranked(
        &self,
        group: &GroupId,
        order: Order,
        window: Option<Duration>,
        limit: usize,
        explain: bool,
        now_ms: u64,
    ) -> Result<Vec<FeedItem>, NodeError> {
        self.group_or_err(group)?;
        let since = window
            .map(|w| now_ms.saturating_sub(w.as_millis() as u64))
            .unwrap_or(0);
        let ranking = match order {
            Order::New => Ranking::New,
            Order::Hot => Ranking::Hot,
            Order::Top => Ranking::Top,
        };
        let mut items = Vec::new();
        for id in self.store().ranked(group, ranking) {
            if items.len() >= limit.min(MAX_FEED_LIMIT) {
                break;
            }
            let id = id?;
            // The window is checked on the small `posts` record, before loading the message.
            if self.store().post_created_at(&id)?.unwrap_or(0) < since {
                // `new` is time-ordered: nothing older follows.
                if order == Order::New {
                    break;
                }
                continue;
            }
            let Some(stored) = self.store().message(&id)? else {
                continue;
            };
            let msg = &stored.signed.message;
            if self.hidden_or_muted(msg)? {
                continue;
            }
            let explanation = explain.then(|| -> Result<Explain, NodeError> {
                let recommendations = self.store().recommendations(&msg.id)?;
                Ok(Explain {
                    order,
                    recommendations,
                    age_hours: now_ms.saturating_sub(msg.created_at) / 3_600_000,
                    boost_ms: if order == Order::Hot {
                        hot_boost(recommendations)
                    } else {
                        0
                    },
                    score: match order {
                        Order::New => stored.order(),
                        Order::Hot => hot_score(msg.created_at, recommendations),
                        Order::Top => recommendations,
                    },
                })
            });
            items.extend(self.item(&stored, explanation.transpose()?)?);
        }
        Ok(items)
    }

    /// The newest posts of a group, newest first.
    pub fn feed(&self, group: &GroupId, limit: usize) -> Result<Vec<FeedItem>, NodeError> {
        self.feed_ranked(group, Order::New, None, limit, false, 0)
    }

    /// A post and its visible replies.
    pub fn thread(&self, root: &str) -> Result<Thread, NodeError> {
        let root_id = parse_id(root)?;
        let stored = self.known(&root_id)?;
        let msg = &stored.signed.message;
        let root_id = match &msg.content {
            Content::Post(_) => root_id,
            Content::Reply(r) => r.root,
            other => {
                return Err(NodeError::invalid(
                    Input::Message,
                    format!("{root} is a {}, not a post", other.kind()),
                ))
            }
        };
        let stored = self.known(&root_id)?;
        if self.hidden(&stored.signed.message)? {
            return Err(NodeError::invalid(
                Input::Message,
                format!("post {root_id} was deleted or removed"),
            ));
        }
        let root_item = self.item(&stored, None)?.expect("a post is shown");
        let mut depth_of = std::collections::HashMap::from([(root_id, 0usize)]);
        let mut replies = Vec::new();
        for (id, parent) in self.store().thread(&root_id)? {
            let Some(reply) = self.store().message(&id)? else {
                continue;
            };
            let depth = depth_of.get(&parent).copied().unwrap_or(0) + 1;
            depth_of.insert(id, depth);
            if self.hidden_or_muted(&reply.signed.message)? {
                continue;
            }
            if let Some(item) = self.item(&reply, None)? {
                replies.push(ThreadReply { depth, item });
            }
        }
        Ok(Thread {
            root: root_item,
            replies,
        })
    }

    /// One visible post, reply or chat line.
    pub fn show(&self, id: &str) -> Result<FeedItem, NodeError> {
        let stored = self.known(&parse_id(id)?)?;
        if self.hidden(&stored.signed.message)? {
            return Err(NodeError::invalid(
                Input::Message,
                format!("message {id} was deleted or removed"),
            ));
        }
        self.item(&stored, None)?.ok_or_else(|| {
            NodeError::invalid(
                Input::Message,
                format!(
                    "message {id} is a {}, not a post, reply or chat line",
                    stored.signed.message.content.kind()
                ),
            )
        })
    }

    /// The group a message belongs to, for commands that name only a message id.
    pub fn group_of(&self, id: &str) -> Result<GroupId, NodeError> {
        Ok(self.known(&parse_id(id)?)?.signed.message.group)
    }

    /// The group's roster: every member with a member record who is not banned.
    pub fn members(&self, group: &GroupId) -> Result<Vec<MemberInfo>, NodeError> {
        let g = self.group_or_err(group)?;
        let mut out = Vec::new();
        for m in crate::core::roster(self.store().clone(), group)? {
            out.push(MemberInfo {
                member: m.member.to_string(),
                fingerprint: m.member.fingerprint(),
                nickname: self.store().profile(group, &m.member)?.map(|p| p.nickname),
                admin: g.charter.admins.contains(&m.member),
                since: m.since,
                mine: m.member == g.me,
            });
        }
        Ok(out)
    }

    /// Moderation state of a group.
    pub fn moderation(&self, group: &GroupId) -> Result<ModerationInfo, NodeError> {
        let g = self.group_or_err(group)?;
        let banned = self
            .store()
            .bans(group)?
            .into_iter()
            .map(|(k, at)| (k.to_string(), at))
            .collect();
        let mut muted = Vec::new();
        for member in self.store().muted(group)? {
            muted.push(member.to_string());
        }
        Ok(ModerationInfo {
            group: group.to_string(),
            admins: g.charter.admins.iter().map(|k| k.to_string()).collect(),
            banned,
            muted,
        })
    }

    /// The visible posts, replies and chat lines of `member` (hex) in a group, oldest first:
    /// what an admin removes one by one to take a member's words down, since a ban hides
    /// nothing already accepted (§14). Reads every message of the group once.
    pub fn authored(&self, group: &GroupId, member: &str) -> Result<Vec<MessageId>, NodeError> {
        self.group_or_err(group)?;
        let member = parse_member(member)?;
        let mut ids = Vec::new();
        for (_, id) in self.store().sync_items(group, 0)? {
            let Some(stored) = self.store().message(&id)? else {
                continue;
            };
            let msg = &stored.signed.message;
            let shown = matches!(
                msg.content,
                Content::Post(_) | Content::Reply(_) | Content::Chat(_)
            );
            if msg.author == member && shown && !self.hidden(msg)? {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Profiles: of one pseudonym (in the groups where it is known), or this member's own.
    pub fn profiles(&self, member: Option<&str>) -> Result<Vec<ProfileInfo>, NodeError> {
        let wanted = member.map(parse_member).transpose()?;
        let mut out = Vec::new();
        for g in self.groups() {
            let me = g.me;
            let key = wanted.unwrap_or(me);
            let profile = self.store().profile(&g.id, &key)?;
            if wanted.is_some() && profile.is_none() && key != me {
                continue;
            }
            out.push(ProfileInfo {
                group: g.id.to_string(),
                group_name: g.charter.name.clone(),
                member: key.to_string(),
                fingerprint: key.fingerprint(),
                nickname: profile.as_ref().map(|p| p.nickname.clone()),
                bio: profile.and_then(|p| p.bio),
                mine: key == me,
            });
        }
        if out.is_empty() {
            if let Some(member) = member {
                return Err(NodeError::invalid(
                    Input::Member,
                    format!("no profile of {member} in any of your groups"),
                ));
            }
        }
        Ok(out)
    }

    /// The rooms of a group, oldest first.
    pub fn rooms(&self, group: &GroupId) -> Result<Vec<RoomInfo>, NodeError> {
        self.group_or_err(group)?;
        let mut rooms = Vec::new();
        for stored in self.store().rooms(group)? {
            let msg = &stored.signed.message;
            if let Content::Room(Room { name }) = &msg.content {
                if !self.hidden(msg)? {
                    rooms.push(RoomInfo {
                        id: msg.id.to_string(),
                        name: name.clone(),
                        group: group.to_string(),
                        created_at: msg.created_at,
                    });
                }
            }
        }
        rooms.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rooms)
    }

    /// A room by id or name (the oldest room of that name).
    pub fn resolve_room(&self, group: &GroupId, room: &str) -> Result<MessageId, NodeError> {
        let rooms = self.rooms(group)?;
        rooms
            .iter()
            .find(|r| r.id == room.trim() || r.name == room.trim())
            .map(|r| parse_id(&r.id))
            .transpose()?
            .ok_or_else(|| {
                let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
                NodeError::invalid(
                    Input::Room,
                    format!(
                        "unknown room {room:?}; rooms: [{}] (create one with `cove room create`)",
                        names.join(", ")
                    ),
                )
            })
    }

    /// The last `limit` visible lines of a room, oldest first.
    pub fn chat_history(
        &self,
        group: &GroupId,
        room: &str,
        limit: usize,
    ) -> Result<Vec<FeedItem>, NodeError> {
        let room = self.resolve_room(group, room)?;
        let mut lines = Vec::new();
        for stored in self.store().chats(&room, limit.min(MAX_FEED_LIMIT))? {
            if !self.hidden_or_muted(&stored.signed.message)? {
                lines.extend(self.item(&stored, None)?);
            }
        }
        Ok(lines)
    }

    /// A newly accepted message as a live chat line of `room`, if it is one and visible.
    pub fn live_chat_line(
        &self,
        signed: &SignedMessage,
        room: &MessageId,
    ) -> Result<Option<FeedItem>, NodeError> {
        match &signed.message.content {
            Content::Chat(c) if c.room == *room => {}
            _ => return Ok(None),
        }
        let Some(stored) = self.store().message(&signed.message.id)? else {
            return Ok(None);
        };
        if self.hidden_or_muted(&stored.signed.message)? {
            return Ok(None);
        }
        self.item(&stored, None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use cove_crypto::MasterSeed;

    use super::*;
    use crate::message::{sign, Post, Recommend};
    use crate::store::Store;
    use crate::testing::each_store;

    /// SplitMix64: the same sequence for a seed on every machine.
    struct Mix(u64);

    impl Mix {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    /// A post, as the brute force sees it.
    #[derive(Clone, Copy)]
    struct Listed {
        id: MessageId,
        created_at: u64,
        seen_at: u64,
    }

    /// The rankings by their definitions, over every stored post: `new` by `created_at`
    /// clamped to first seen, `hot` by [`hot_score`], `top` by count then `created_at`; ties
    /// by id; highest first.
    fn brute_force(
        posts: &[Listed],
        counts: &HashMap<MessageId, u64>,
        by: Ranking,
    ) -> Vec<MessageId> {
        let mut keyed: Vec<(RankKey, MessageId)> = posts
            .iter()
            .map(|p| {
                let n = counts.get(&p.id).copied().unwrap_or(0);
                let key = match by {
                    Ranking::New => (p.created_at.min(p.seen_at), 0, p.id.0),
                    Ranking::Hot => (hot_score(p.created_at, n), 0, p.id.0),
                    Ranking::Top => (n, p.created_at, p.id.0),
                };
                (key, p.id)
            })
            .collect();
        keyed.sort_by_key(|k| std::cmp::Reverse(k.0));
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    /// A ranking's sort key: up to two numbers, then the id.
    type RankKey = (u64, u64, [u8; 32]);

    /// A member's latest recommendation of a target: `(created_at, id)` and whether active.
    type Latest = ((u64, [u8; 32]), bool);

    fn ranked(store: &Store, group: &GroupId, by: Ranking) -> Vec<MessageId> {
        store.ranked(group, by).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn rankings_and_feeds_equal_a_brute_force_ranking() {
        // Scenario: posts (many on the same millisecond, some dated up to 2 s after this node
        // first saw them) and recommendations, some withdrawn and some arriving before their
        // post, stored in a random order. Assert: at every step each ranking equals the
        // brute-force one, and feeds (with and without a window) show its first items.
        each_store(|stores| {
            for seed in 0..4 {
                let mut rng = Mix(seed);
                let mut ant = stores.core(1);
                let group = ant.create_group("club", 1_000).unwrap();
                let base = 10_000_000;
                let mut messages = Vec::new();
                let mut posts = Vec::new();
                for i in 0..48 {
                    let author = MasterSeed::from_bytes([10 + (i % 6) as u8; 32]).pseudonym(&group);
                    let created_at = base + rng.below(16) * 1_000;
                    // Seen up to 3 s after created_at, or up to 2 s before it (dated ahead).
                    let seen_at = created_at + rng.below(5_000) - 2_000;
                    let post = Content::Post(Post {
                        title: None,
                        text: format!("post {i}"),
                    });
                    let signed = sign(&author, &group, created_at, post).unwrap();
                    posts.push(Listed {
                        id: signed.message.id,
                        created_at,
                        seen_at,
                    });
                    messages.push((signed, seen_at));
                }
                // Latest register per (target, member): (created_at, id) -> active.
                let mut latest: BTreeMap<(MessageId, u8), Latest> = BTreeMap::new();
                for _ in 0..120 {
                    let target = posts[rng.below(12) as usize * 4 % posts.len()].id;
                    let member = 20 + rng.below(8) as u8;
                    let created_at = base + rng.below(40) * 500;
                    let active = rng.below(3) > 0;
                    let author = MasterSeed::from_bytes([member; 32]).pseudonym(&group);
                    let rec = Content::Recommend(Recommend { target, active });
                    let signed = sign(&author, &group, created_at, rec).unwrap();
                    if messages
                        .iter()
                        .any(|(m, _)| m.message.id == signed.message.id)
                    {
                        continue; // drawn twice: the same message
                    }
                    let key = (created_at, signed.message.id.0);
                    let slot = latest.entry((target, member)).or_insert((key, active));
                    if key > slot.0 {
                        *slot = (key, active);
                    }
                    messages.push((signed, base + 30_000));
                }
                let mut counts: HashMap<MessageId, u64> = HashMap::new();
                for ((target, _), (_, active)) in &latest {
                    *counts.entry(*target).or_default() += u64::from(*active);
                }
                // A random arrival order (Fisher-Yates).
                for i in (1..messages.len()).rev() {
                    messages.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let store = ant.store();
                for (step, (signed, seen_at)) in messages.iter().enumerate() {
                    assert!(store.insert_message(signed, *seen_at).unwrap());
                    if step % 40 == 39 {
                        // Mid-way: the posts stored so far, ranked by their counts so far.
                        let stored: Vec<Listed> = posts
                            .iter()
                            .filter(|p| store.contains(&p.id).unwrap())
                            .copied()
                            .collect();
                        let live: HashMap<MessageId, u64> = stored
                            .iter()
                            .map(|p| (p.id, store.recommendations(&p.id).unwrap()))
                            .collect();
                        for by in [Ranking::New, Ranking::Hot, Ranking::Top] {
                            assert_eq!(
                                ranked(store, &group, by),
                                brute_force(&stored, &live, by),
                                "seed {seed}, step {step}, {by:?}"
                            );
                        }
                    }
                }
                for by in [Ranking::New, Ranking::Hot, Ranking::Top] {
                    assert_eq!(
                        ranked(store, &group, by),
                        brute_force(&posts, &counts, by),
                        "seed {seed}, {by:?}"
                    );
                }
                let created: HashMap<MessageId, u64> =
                    posts.iter().map(|p| (p.id, p.created_at)).collect();
                let now = base + 60_000;
                for (order, by) in [
                    (Order::New, Ranking::New),
                    (Order::Hot, Ranking::Hot),
                    (Order::Top, Ranking::Top),
                ] {
                    for window in [None, Some(Duration::from_millis(60_000 - 7_500))] {
                        let since = window.map_or(0, |w| now - w.as_millis() as u64);
                        let ranking = brute_force(&posts, &counts, by).into_iter();
                        // `new` stops at the first post created before the window (its order
                        // is time order, except for posts dated ahead of when they were
                        // seen); the rankings skip such posts and read on.
                        let in_window: Vec<MessageId> = if order == Order::New {
                            ranking.take_while(|id| created[id] >= since).collect()
                        } else {
                            ranking.filter(|id| created[id] >= since).collect()
                        };
                        let expected: Vec<String> =
                            in_window.iter().take(10).map(|id| id.to_string()).collect();
                        let shown: Vec<String> = ant
                            .view()
                            .feed_ranked(&group, order, window, 10, false, now)
                            .unwrap()
                            .into_iter()
                            .map(|item| item.id)
                            .collect();
                        assert_eq!(shown, expected, "seed {seed}, {order:?}, {window:?}");
                    }
                }
            }
        });
    }
}
