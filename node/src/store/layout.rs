//! The keyspace of store schema 4: one sled tree, every key starting with a one-byte prefix
//! that names its kind. All integers are big endian, so byte order is numeric order.
//!
//! | prefix | kind | key after the prefix | value |
//! |---|---|---|---|
//! | `00` | schema | `"schema"` | u32: the layout's version ([`SCHEMA`]) |
//! | `m` | message | message id (32) | [`MessageHeader`] (49) ‖ signed message bytes |
//! | `t` | timeline bucket | group (32) ‖ created_at (8) ‖ id (32) | entries `created_at (8) ‖ id (32)`, ascending, 1 to 16: every kind; the set history sync reconciles |
//! | `N` | message count | group (32) | u64: messages of the group stored |
//! | `n` | `new` feed bucket | group (32) ‖ order (8) ‖ post id (32) | entries `order (8) ‖ post id (32) ‖ flag (1)`, ascending, 1 to 16; flag `01` if the post is ranked apart (posts only) |
//! | `h` | `hot` ranking | group (32) ‖ hot score (8) ‖ post id (32) | empty (posts ranked apart only) |
//! | `o` | `top` ranking | group (32) ‖ recommendations (8) ‖ created_at (8) ‖ post id (32) | empty (posts ranked apart only) |
//! | `P` | profile | group (32) ‖ author (32) | latest register |
//! | `r` | thread | root post id (32) ‖ order (8) ‖ reply id (32) | parent id (32) |
//! | `R` | reply count | root post id (32) | u64 |
//! | `e` | edit | target id (32) ‖ created_at (8) ‖ edit id (32) | editor key (32) |
//! | `w` | withdrawal | target id (32) ‖ message id (32) | author key (32) ‖ kind (1: 0 delete, 1 remove) |
//! | `c` | recommendation | target id (32) ‖ author (32) | latest register ‖ active (1) |
//! | `C` | recommendation count | target id (32) | u64: authors whose latest recommendation is active |
//! | `b` | ban | group (32) ‖ member (32) | latest register ‖ active (1) |
//! | `k` | room | group (32) ‖ room id (32) | empty |
//! | `l` | chat line | room id (32) ‖ order (8) ‖ chat id (32) | empty |
//! | `g` | grant | group (32) ‖ grant id (32) | empty |
//! | `v` | revocation | grant id (32) | id of the first revocation indexed |
//! | `a` | advertiser | group (32) ‖ advertiser key (32) | latest register |
//! | `A` | ad | group (32) ‖ created_at (8) ‖ ad id (32) | empty |
//! | `d` | ad of a day | grant id (32) ‖ UTC day (8) ‖ created_at (8) ‖ ad id (32) | empty: daily quota ranks |
//! | `u` | member record | group (32) ‖ member (32) | latest register: the roster (§15) |
//! | `K` | re-key | group (32) ‖ epoch tag (4) ‖ re-key id (32) | empty: every chunk of an epoch |
//! | `z` | amendment | group (32) ‖ prev id (32) ‖ amendment id (32) | empty: the governance chain (§16) |
//! | `T` | ticket | group (32) ‖ ticket key (32) ‖ ticket record id (32) | empty: every record of a ticket (§17) |
//! | `Y` | admission | ticket record id (32) ‖ admit id (32) | empty: a ticket's uses |
//! | `U` | ticket withdrawn | ticket record id (32) | id of the first `uninvite` indexed |
//! | `G` | group | group id (32) | CBOR `GroupRecord` (local) |
//! | `x` | outbox | message id (32) | group id (32): own messages no member has confirmed (local) |
//! | `M` | mute | group (32) ‖ member (32) | empty (local, never sent) |
//! | `i` | interest | targeting key (UTF-8) | empty (local, never sent) |
//! | `V` | ad views | ad id (32) ‖ UTC day (8) | u64 impressions (local frequency cap) |
//!
//! Everything from `t` to `U` is an **index**: a function of the stored messages and their
//! first-seen times alone, planned by [`crate::store::plan`] and rebuilt by `cove store
//! reindex`. The rest (`m`, `G`, `x`, `M`, `i`, `V`) is the store's **ground truth**.
//!
//! `t` and `n` are **packed listings** ([`crate::store::bucket`]): a key holds up to 16
//! entries, and its key is a lower bound of them (the greatest bucket key not after an entry
//! is the bucket that holds it). Schema 3 had one key per entry, the same key as a bucket's
//! with an empty value (`t`) or the flag (`n`, empty for `00`); readers still see entries in
//! that shape.
//!
//! A *latest register* is `created_at (8) ‖ message id (32)`: per key the entry with the
//! greatest `(created_at, id)` wins, whatever order messages arrive in, so every member
//! converges on the same state. `order` is the author's `created_at` clamped to when this node
//! first saw the message, so a message claiming to come from the future cannot pin itself to
//! the top of a feed; ties are broken by the id.
//!
//! A post is *ranked apart* when it has a recommendation or is dated after it was first seen
//! ([`crate::store::plan::ranked_apart`]); only such posts have `h` and `o` entries, and their
//! `n` entry says so (`01`). For every other post the `n` entry, `order ‖ id` with `order =
//! created_at`, is also its place in `hot` (score `created_at`) and in `top` (`0 ‖ created_at`):
//! a ranking is the `h` (or `o`) entries merged with the `n` entries not ranked apart. Three new
//! keys per post instead of five (schema 2 gave every post all three listings).

use cove_crypto::GroupId;

use crate::message::{Content, MessageId};

/// The layout's version, kept under [`SCHEMA_KEY`]. Schema 1 was one sled tree per kind;
/// schema 2 this layout with `h` and `o` entries for every post and one key per `t` and `n`
/// entry; schema 3 as schema 2 with `h` and `o` only for posts ranked apart (both opened by
/// reindexing).
pub const SCHEMA: u32 = 4;
/// Where the schema version lives.
pub const SCHEMA_KEY: &[u8] = b"\0schema";

/// Milliseconds in a UTC day: quotas count ads per `created_at / DAY_MS`.
pub const DAY_MS: u64 = 86_400_000;

/// Key prefixes, one byte each (see the table above).
pub mod prefix {
    /// A stored message.
    pub const MESSAGE: u8 = b'm';
    /// Every message of a group by created_at.
    pub const TIMELINE: u8 = b't';
    /// Messages stored per group.
    pub const COUNT: u8 = b'N';
    /// The `new` feed.
    pub const NEW: u8 = b'n';
    /// The `hot` ranking.
    pub const HOT: u8 = b'h';
    /// The `top` ranking.
    pub const TOP: u8 = b'o';
    /// Latest profile per member.
    pub const PROFILE: u8 = b'P';
    /// Replies of a thread.
    pub const THREAD: u8 = b'r';
    /// Replies per thread.
    pub const REPLY_COUNT: u8 = b'R';
    /// Edits of a message.
    pub const EDIT: u8 = b'e';
    /// Deletions and removals of a message.
    pub const WITHDRAWAL: u8 = b'w';
    /// Latest recommendation per member and target.
    pub const REC: u8 = b'c';
    /// Active recommendations per target.
    pub const REC_COUNT: u8 = b'C';
    /// Latest ban per member.
    pub const BAN: u8 = b'b';
    /// Rooms of a group.
    pub const ROOM: u8 = b'k';
    /// Chat lines of a room.
    pub const CHAT: u8 = b'l';
    /// Grants of a group.
    pub const GRANT: u8 = b'g';
    /// Revoked grants.
    pub const REVOCATION: u8 = b'v';
    /// Latest advertiser profile per key.
    pub const ADVERTISER: u8 = b'a';
    /// Ads of a group.
    pub const AD: u8 = b'A';
    /// Ads per grant and UTC day.
    pub const AD_DAY: u8 = b'd';
    /// Latest member record per member: the roster.
    pub const MEMBER: u8 = b'u';
    /// Re-key messages per epoch tag.
    pub const REKEY: u8 = b'K';
    /// Amendments by the state they follow.
    pub const AMEND: u8 = b'z';
    /// Ticket records by ticket key.
    pub const TICKET: u8 = b'T';
    /// Admissions by ticket.
    pub const ADMISSION: u8 = b'Y';
    /// The first withdrawal of a ticket.
    pub const UNINVITE: u8 = b'U';
    /// Groups this node belongs to.
    pub const GROUP: u8 = b'G';
    /// Own messages not yet confirmed.
    pub const OUTBOX: u8 = b'x';
    /// Locally muted members.
    pub const MUTE: u8 = b'M';
    /// Private interests.
    pub const INTEREST: u8 = b'i';
    /// Local ad impressions per day.
    pub const AD_VIEWS: u8 = b'V';

    /// The index prefixes: what `reindex` clears and rebuilds from the messages.
    pub const INDEXES: [u8; 26] = [
        TIMELINE,
        COUNT,
        NEW,
        HOT,
        TOP,
        PROFILE,
        THREAD,
        REPLY_COUNT,
        EDIT,
        WITHDRAWAL,
        REC,
        REC_COUNT,
        BAN,
        ROOM,
        CHAT,
        GRANT,
        REVOCATION,
        ADVERTISER,
        AD,
        AD_DAY,
        MEMBER,
        REKEY,
        AMEND,
        TICKET,
        ADMISSION,
        UNINVITE,
    ];
}

/// A key: its prefix, then the parts in order.
pub fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    key.push(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// `prefix ‖ a (32) ‖ n (8) ‖ id (32)`: the shape of every time- or score-ordered listing.
pub fn listed(prefix: u8, a: &[u8; 32], n: u64, id: &MessageId) -> Vec<u8> {
    key(prefix, &[a, &n.to_be_bytes(), &id.0])
}

/// `prefix ‖ a (32) ‖ b (32)`.
pub fn pair(prefix: u8, a: &[u8; 32], b: &[u8; 32]) -> Vec<u8> {
    key(prefix, &[a, b])
}

/// The flag of a post's `n` entry: whether it is ranked apart (has `h` and `o` entries).
pub fn new_entry(ranked_apart: bool) -> [u8; 1] {
    [u8::from(ranked_apart)]
}

/// Whether an `n` entry's value marks its post as ranked apart.
pub fn is_ranked_apart(new_entry: &[u8]) -> bool {
    new_entry.first() == Some(&1)
}

/// The `top` key: ties of the count broken by newness, then id.
pub fn top(group: &GroupId, count: u64, created_at: u64, id: &MessageId) -> Vec<u8> {
    key(
        prefix::TOP,
        &[
            group.as_bytes(),
            &count.to_be_bytes(),
            &created_at.to_be_bytes(),
            &id.0,
        ],
    )
}

/// The key of an ad in its grant's day.
pub fn ad_day(grant: &MessageId, created_at: u64, id: &MessageId) -> Vec<u8> {
    key(
        prefix::AD_DAY,
        &[
            &grant.0,
            &(created_at / DAY_MS).to_be_bytes(),
            &created_at.to_be_bytes(),
            &id.0,
        ],
    )
}

/// The key of one ad's local impressions on the UTC day of `now_ms`.
pub fn ad_views(ad: &MessageId, now_ms: u64) -> Vec<u8> {
    key(prefix::AD_VIEWS, &[&ad.0, &(now_ms / DAY_MS).to_be_bytes()])
}

/// The fixed part of a stored message's value, before its signed bytes:
/// `seen_at (8) ‖ created_at (8) ‖ kind (1) ‖ group (32)`. Enough to list or re-rank a message
/// without decoding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// When this node first saw the message, unix ms.
    pub seen_at: u64,
    /// The author's `created_at`.
    pub created_at: u64,
    /// [`kind_code`] of the content.
    pub kind: u8,
    /// The group it belongs to.
    pub group: GroupId,
}

impl MessageHeader {
    /// Bytes before the signed message.
    pub const LEN: usize = 8 + 8 + 1 + 32;

    /// The feed order: `created_at` clamped to `seen_at`.
    pub fn order(&self) -> u64 {
        self.created_at.min(self.seen_at)
    }

    /// The value of a stored message: this header, then the bytes.
    pub fn value(&self, bytes: &[u8]) -> Vec<u8> {
        let mut value = Vec::with_capacity(Self::LEN + bytes.len());
        value.extend_from_slice(&self.seen_at.to_be_bytes());
        value.extend_from_slice(&self.created_at.to_be_bytes());
        value.push(self.kind);
        value.extend_from_slice(self.group.as_bytes());
        value.extend_from_slice(bytes);
        value
    }

    /// Reads the header of a stored value (`None` if it is too short).
    pub fn read(value: &[u8]) -> Option<Self> {
        if value.len() < Self::LEN {
            return None;
        }
        Some(Self {
            seen_at: u64_at(value, 0),
            created_at: u64_at(value, 8),
            kind: value[16],
            group: GroupId::from_bytes(value[17..49].try_into().expect("32 bytes")),
        })
    }
}

/// The kind byte of a stored message: the position of its kind in §8.2's list.
pub fn kind_code(content: &Content) -> u8 {
    match content {
        Content::Charter(_) => 0,
        Content::Profile(_) => 1,
        Content::Post(_) => 2,
        Content::Reply(_) => 3,
        Content::Edit(_) => 4,
        Content::Delete(_) => 5,
        Content::Room(_) => 6,
        Content::Chat(_) => 7,
        Content::Recommend(_) => 8,
        Content::Ban(_) => 9,
        Content::Remove(_) => 10,
        Content::Grant(_) => 11,
        Content::Revoke(_) => 12,
        Content::Advertiser(_) => 13,
        Content::Ad(_) => 14,
        Content::Member(_) => 15,
        Content::Rekey(_) => 16,
        Content::Amend(_) => 17,
        Content::Ticket(_) => 18,
        Content::Admit(_) => 19,
        Content::Uninvite(_) => 20,
    }
}

/// [`kind_code`] of a post.
pub const POST: u8 = 2;

/// The big-endian u64 at `at`, or 0 when the value is shorter (an absent counter).
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

/// A latest-wins register value: created_at (8) ‖ message id (32) [‖ active (1)].
pub fn register(created_at: u64, id: &MessageId, active: Option<bool>) -> Vec<u8> {
    let mut value = Vec::with_capacity(41);
    value.extend_from_slice(&created_at.to_be_bytes());
    value.extend_from_slice(&id.0);
    value.extend(active.map(u8::from));
    value
}

/// Whether `(created_at, id)` beats the register `current`.
pub fn beats(current: Option<&[u8]>, created_at: u64, id: &MessageId) -> bool {
    match current {
        Some(cur) if cur.len() >= 40 => {
            (created_at.to_be_bytes(), id.0)
                > (
                    cur[..8].try_into().expect("8"),
                    cur[8..40].try_into().expect("32"),
                )
        }
        _ => true,
    }
}

/// Whether a register with an `active` byte is active.
pub fn register_active(value: &[u8]) -> bool {
    value.get(40) == Some(&1)
}
