//! The message model (v1) and its wire codec.
//!
//! A message travels as a [`SignedMessage`]: the CBOR map `{"v": 1, "body": bstr, "sig": bstr}`.
//! `body` holds the CBOR-encoded [`Body`] exactly as the author encoded it; the signature and
//! the [`MessageId`] are computed over those bytes and never over a re-encoding, so a message
//! keeps its id and stays verifiable whichever node relays it and whichever CBOR library
//! decoded it. The only way from wire bytes to a [`Message`] is [`verify_and_decode`], which
//! checks the size limit first, then that the bytes are deterministic CBOR ([`crate::message::cbor`]),
//! then the version, then the signature, then the content.
//!
//! See `docs/PROTOCOL.md` §8 for the byte-level description.

pub mod cbor;

use std::fmt;

use ciborium::Value;
use cove_crypto::{Domain, GroupId, Pseudonym, PublicKey, Signature};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::message::cbor::{check_canonical, to_canonical_vec, CanonicalError};

/// Version of the signed-message map (`"v"`).
pub const MESSAGE_VERSION: u8 = 1;
/// Largest signed message (the CBOR map, before sealing) a node accepts or creates.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest post text, in bytes of UTF-8.
pub const MAX_POST_TEXT_BYTES: usize = 16 * 1024;
/// Largest post title, in bytes of UTF-8.
pub const MAX_TITLE_BYTES: usize = 256;
/// Largest group name and nickname, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest profile bio, in bytes of UTF-8.
pub const MAX_BIO_BYTES: usize = 1024;
/// Most admins a charter may list.
pub const MAX_ADMINS: usize = 64;
/// Largest chat line, in bytes of UTF-8.
pub const MAX_CHAT_BYTES: usize = 2048;
/// Every kind this version knows, for error messages.
pub const KINDS: &str = "charter, profile, post, reply, edit, delete, room, chat, recommend, ban, remove, grant, revoke, advertiser, ad";
/// Largest ad body, in bytes of UTF-8.
pub const MAX_AD_BODY_BYTES: usize = 2048;
/// Most targeting keys in a grant or an ad's targeting expression.
pub const MAX_TARGETING_KEYS: usize = 32;
/// Deepest nesting of an ad's targeting expression.
pub const MAX_TARGETING_DEPTH: usize = 4;
/// Longest targeting key, e.g. `interest:coffee`.
pub const MAX_TARGETING_KEY_BYTES: usize = 64;
/// Largest short field of ads and advertiser profiles (place name, address, contact, coupon).
pub const MAX_FIELD_BYTES: usize = 256;

/// The id of a message: SHA-256 of its body bytes (the bytes the author signed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

impl MessageId {
    /// The id of a message whose body encodes to `body`.
    pub fn of_body(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    /// The first 8 hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            <D::Error as serde::de::Error>::custom(format!(
                "message id is {} bytes, expected 32",
                bytes.len()
            ))
        })?;
        Ok(MessageId(arr))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.short())
    }
}

impl std::str::FromStr for MessageId {
    type Err = MessageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| MessageError::BadId(s.to_string()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| MessageError::BadId(s.to_string()))?;
        Ok(Self(arr))
    }
}

/// Why wire bytes are not a valid message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message is {len} bytes, larger than the limit of {max}")]
    TooLarge {
        /// Size received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not CBOR of the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Valid CBOR, but not the one deterministic encoding of its value (§8.4): a relay or a
    /// careless encoder changed bytes that the signature or the id depend on.
    #[error("{part} is not deterministic CBOR: {error}")]
    NotCanonical {
        /// `"signed message"` (the outer map) or `"body"`.
        part: &'static str,
        /// What is not canonical.
        error: CanonicalError,
    },
    /// A version this node does not know.
    #[error("message version {got} is not supported (max {max})")]
    UnsupportedVersion {
        /// Version in the message.
        got: u64,
        /// Highest supported.
        max: u8,
    },
    /// The signature does not verify for the author key over the body bytes.
    #[error("signature does not verify for author {0}")]
    BadSignature(String),
    /// A kind this node does not know.
    #[error("unknown message kind {0:?} (expected one of {KINDS})")]
    UnknownKind(String),
    /// A field breaks a limit or a rule of its kind.
    #[error("invalid {kind}: {detail}")]
    Invalid {
        /// Message kind.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message id string that is not 64 hex characters.
    #[error("{0:?} is not a message id (expected 64 hex characters)")]
    BadId(String),
}

/// The founder-signed constitution of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charter {
    /// Human name of the group (not secret from members, never on the wire unsealed).
    pub name: String,
    /// The founder's pseudonym in this group; must equal the charter message's author.
    #[serde(with = "key_bytes")]
    pub founder: PublicKey,
    /// Pseudonyms allowed to moderate and authorize advertisers. Includes the founder.
    #[serde(with = "key_list")]
    pub admins: Vec<PublicKey>,
    /// Group rules that every node enforces.
    pub policy: Policy,
}

/// Rules of a group, fixed by its charter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// How far in the future a message's `created_at` may lie, in seconds.
    pub max_future_skew_secs: u64,
    /// How many messages one pseudonym may author per window; `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_future_skew_secs: 300,
            rate_limit: Some(RateLimit::default()),
        }
    }
}

impl Policy {
    /// The default policy with the rate limit given as text: `"MAX/WINDOW"` (see
    /// [`RateLimit`]'s `FromStr`) or `"none"`; `None` keeps the default limit.
    pub fn with_rate_limit(text: Option<&str>) -> Result<Policy, String> {
        let rate_limit = match text.map(str::trim) {
            None => Some(RateLimit::default()),
            Some("none") => None,
            Some(text) => Some(text.parse()?),
        };
        Ok(Policy {
            rate_limit,
            ..Policy::default()
        })
    }
}

/// A per-pseudonym rate limit: a node stores at most `max_messages` messages of one author
/// per `window_secs` of its own clock, whatever dates they claim (§9 rule 7p; enforced by
/// [`crate::core::rate::AuthorRates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Messages allowed per author and window (at least 1).
    pub max_messages: u32,
    /// Window length in seconds (1 to 86 400).
    pub window_secs: u32,
}

impl Default for RateLimit {
    /// 100 messages per 10 s: far above a person typing or a busy bot, far below a flood.
    fn default() -> Self {
        Self {
            max_messages: 100,
            window_secs: 10,
        }
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.max_messages, self.window_secs)
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// Parses `MAX/WINDOW`, e.g. `100/10s` or `20/1m` (WINDOW in humantime units, 1 s to 1 day).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected MAX/WINDOW, e.g. 100/10s";
        let (max, window) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a rate limit ({expected})"))?;
        let max_messages: u32 = max
            .trim()
            .parse()
            .map_err(|_| format!("{max:?} is not a message count ({expected})"))?;
        let window_secs = humantime::parse_duration(window.trim())
            .map_err(|e| format!("{window:?} is not a window: {e} ({expected})"))?
            .as_secs();
        let limit = RateLimit {
            max_messages,
            window_secs: u32::try_from(window_secs).unwrap_or(u32::MAX),
        };
        limit.check()?;
        Ok(limit)
    }
}

impl RateLimit {
    fn check(&self) -> Result<(), String> {
        if self.max_messages == 0 {
            return Err("a rate limit must allow at least 1 message per window".into());
        }
        if !(1..=86_400).contains(&self.window_secs) {
            return Err(format!(
                "a rate limit window of {} s is outside 1 s to 1 day",
                self.window_secs
            ));
        }
        Ok(())
    }
}

/// A member's pseudonymous profile in one group; the latest one by `created_at` wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Display name; not unique (the key fingerprint tells members apart).
    pub nickname: String,
    /// Optional short self-description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
}

/// A post in a group's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Optional title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The text.
    pub text: String,
}

/// A reply in a thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The post that starts the thread.
    pub root: MessageId,
    /// The post or reply answered (equal to `root` for a direct reply).
    pub parent: MessageId,
    /// The text.
    pub text: String,
}

/// A new version of the author's own post, reply or chat line; the latest edit wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// The message edited.
    pub target: MessageId,
    /// New title (posts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New text.
    pub text: String,
}

/// Withdraws one of the author's own messages, or (kind `remove`) any message by an admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The message.
    pub target: MessageId,
}

/// A chat room; its id is the id of this message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Room name, unique per group by convention (the oldest room of a name wins lookups).
    pub name: String,
}

/// A line of chat in a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// The room (id of its `room` message).
    pub room: MessageId,
    /// The line.
    pub text: String,
}

/// A recommendation of a post or reply (`active: true`) or its withdrawal (`false`); per
/// author and target the latest one wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommend {
    /// The post or reply.
    pub target: MessageId,
    /// Recommended (true) or withdrawn (false).
    pub active: bool,
}

/// An admin's ban (`active: true`) or unban of a pseudonym; per pseudonym the latest wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The banned pseudonym.
    #[serde(with = "key_bytes")]
    pub member: PublicKey,
    /// Banned (true) or unbanned (false).
    pub active: bool,
}

/// An admin's authorisation of an advertiser key to publish ads in the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The advertiser's own key (not a member pseudonym).
    #[serde(with = "key_bytes")]
    pub advertiser: PublicKey,
    /// Display name the admin approved.
    pub name: String,
    /// Ads must be created at or after this time (unix ms).
    pub not_before: u64,
    /// Ads must be created at or before this time (unix ms).
    pub not_after: u64,
    /// Most ads per UTC day (by the ads' `created_at`).
    pub daily_quota: u32,
    /// Targeting keys the advertiser may use, e.g. `interest:coffee`.
    pub targeting: Vec<String>,
}

/// An admin's revocation of a grant: the advertiser's ads under it are hidden and new ones
/// refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    /// The grant (its message id).
    pub grant: MessageId,
}

/// A physical place, for advertiser profiles and offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Name of the place.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

impl Eq for Place {}

/// An advertiser's public profile, signed by the advertiser key; the latest wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advertiser {
    /// Display name.
    pub name: String,
    /// Where the business is.
    pub place: Place,
    /// How to reach it (phone, web, e-mail).
    pub contact: String,
}

/// Which members an ad is for, matched on each member's own device against private interests:
/// exactly one of `key`, `any`, `all`. `{"all": []}` matches everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Targeting {
    /// Matches a member who has this interest key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Matches when any sub-expression matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Targeting>>,
    /// Matches when every sub-expression matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Targeting>>,
}

impl Targeting {
    /// Every key the expression uses.
    pub fn keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.key.iter().map(String::as_str).collect();
        for sub in self.any.iter().chain(self.all.iter()).flatten() {
            out.extend(sub.keys());
        }
        out
    }

    /// Whether `interests` satisfy the expression; `matched` collects the keys that did.
    pub fn matches(&self, interests: &[String], matched: &mut Vec<String>) -> bool {
        if let Some(key) = &self.key {
            let hit = interests.iter().any(|i| i == key);
            if hit {
                matched.push(key.clone());
            }
            return hit;
        }
        if let Some(any) = &self.any {
            // Evaluate all, so the explanation lists every matching key.
            let hits: Vec<bool> = any.iter().map(|t| t.matches(interests, matched)).collect();
            return hits.into_iter().any(|h| h);
        }
        if let Some(all) = &self.all {
            return all.iter().all(|t| t.matches(interests, matched));
        }
        false
    }

    fn check(&self, depth: usize) -> Result<(), String> {
        let set = [self.key.is_some(), self.any.is_some(), self.all.is_some()];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err("each targeting node needs exactly one of key, any, all".into());
        }
        if depth > MAX_TARGETING_DEPTH {
            return Err(format!(
                "targeting is nested deeper than {MAX_TARGETING_DEPTH}"
            ));
        }
        for sub in self.any.iter().chain(self.all.iter()).flatten() {
            sub.check(depth + 1)?;
        }
        Ok(())
    }
}

/// An online-to-offline offer attached to an ad.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Where to redeem it.
    pub place: Place,
    /// Coupon code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
    /// Last moment the offer is valid (unix ms); expired offers are hidden.
    pub valid_until: u64,
}

/// An ad, signed by an advertiser key under a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ad {
    /// The grant that authorises it (its message id).
    pub grant: MessageId,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Who it is for.
    pub targeting: Targeting,
    /// Optional offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Offer>,
}

/// What a message says; its CBOR form is the body's `content` map and its kind the `kind` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// `"charter"`
    Charter(Charter),
    /// `"profile"`
    Profile(Profile),
    /// `"post"`
    Post(Post),
    /// `"reply"`
    Reply(Reply),
    /// `"edit"`
    Edit(Edit),
    /// `"delete"`: the author withdraws their own message.
    Delete(Target),
    /// `"room"`
    Room(Room),
    /// `"chat"`
    Chat(Chat),
    /// `"recommend"`
    Recommend(Recommend),
    /// `"ban"` (admins only)
    Ban(Ban),
    /// `"remove"` (admins only): a message disappears for everyone.
    Remove(Target),
    /// `"grant"` (admins only): authorises an advertiser.
    Grant(Grant),
    /// `"revoke"` (admins only): withdraws a grant.
    Revoke(Revoke),
    /// `"advertiser"`: an advertiser's profile, signed by the advertiser key.
    Advertiser(Advertiser),
    /// `"ad"`: signed by the advertiser key.
    Ad(Ad),
}

impl Content {
    /// The `kind` string on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Charter(_) => "charter",
            Content::Profile(_) => "profile",
            Content::Post(_) => "post",
            Content::Reply(_) => "reply",
            Content::Edit(_) => "edit",
            Content::Delete(_) => "delete",
            Content::Room(_) => "room",
            Content::Chat(_) => "chat",
            Content::Recommend(_) => "recommend",
            Content::Ban(_) => "ban",
            Content::Remove(_) => "remove",
            Content::Grant(_) => "grant",
            Content::Revoke(_) => "revoke",
            Content::Advertiser(_) => "advertiser",
            Content::Ad(_) => "ad",
        }
    }

    /// The message this one refers to, if any.
    pub fn target(&self) -> Option<MessageId> {
        match self {
            Content::Reply(r) => Some(r.parent),
            Content::Edit(e) => Some(e.target),
            Content::Delete(t) | Content::Remove(t) => Some(t.target),
            Content::Chat(c) => Some(c.room),
            Content::Recommend(r) => Some(r.target),
            Content::Revoke(r) => Some(r.grant),
            _ => None,
        }
    }

    /// Whether only charter admins may send this kind.
    pub fn is_admin_only(&self) -> bool {
        matches!(
            self,
            Content::Ban(_) | Content::Remove(_) | Content::Grant(_) | Content::Revoke(_)
        )
    }

    /// Checks the size limits and shape rules of the content alone.
    pub fn check_limits(&self) -> Result<(), MessageError> {
        let kind = self.kind();
        let too_long = |field: &str, len: usize, max: usize| MessageError::Invalid {
            kind,
            detail: format!("{field} is {len} bytes, longer than the limit of {max}"),
        };
        match self {
            Content::Charter(c) => {
                if c.name.trim().is_empty() {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: "group name is empty".into(),
                    });
                }
                if c.name.len() > MAX_NAME_BYTES {
                    return Err(too_long("group name", c.name.len(), MAX_NAME_BYTES));
                }
                if c.admins.len() > MAX_ADMINS {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: format!("{} admins, more than {MAX_ADMINS}", c.admins.len()),
                    });
                }
                if !c.admins.contains(&c.founder) {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: "the founder is not listed among the admins".into(),
                    });
                }
                if let Some(limit) = &c.policy.rate_limit {
                    limit
                        .check()
                        .map_err(|detail| MessageError::Invalid { kind, detail })?;
                }
            }
            Content::Profile(p) => {
                if p.nickname.trim().is_empty() {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: "nickname is empty".into(),
                    });
                }
                if p.nickname.len() > MAX_NAME_BYTES {
                    return Err(too_long("nickname", p.nickname.len(), MAX_NAME_BYTES));
                }
                if let Some(bio) = &p.bio {
                    if bio.len() > MAX_BIO_BYTES {
                        return Err(too_long("bio", bio.len(), MAX_BIO_BYTES));
                    }
                }
            }
            Content::Post(Post { title, text }) | Content::Edit(Edit { title, text, .. }) => {
                check_text(kind, text, MAX_POST_TEXT_BYTES)?;
                if let Some(title) = title {
                    if title.len() > MAX_TITLE_BYTES {
                        return Err(too_long("title", title.len(), MAX_TITLE_BYTES));
                    }
                }
            }
            Content::Reply(r) => check_text(kind, &r.text, MAX_POST_TEXT_BYTES)?,
            Content::Chat(c) => check_text(kind, &c.text, MAX_CHAT_BYTES)?,
            Content::Room(r) => {
                check_text(kind, &r.name, MAX_NAME_BYTES)?;
            }
            Content::Delete(_)
            | Content::Remove(_)
            | Content::Recommend(_)
            | Content::Ban(_)
            | Content::Revoke(_) => {}
            Content::Grant(g) => {
                check_text(kind, &g.name, MAX_NAME_BYTES)?;
                if g.not_after < g.not_before {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: "not_after is before not_before".into(),
                    });
                }
                check_keys(kind, g.targeting.iter().map(String::as_str))?;
            }
            Content::Advertiser(a) => {
                check_text(kind, &a.name, MAX_NAME_BYTES)?;
                check_place(kind, &a.place)?;
                check_text(kind, &a.contact, MAX_FIELD_BYTES)?;
            }
            Content::Ad(ad) => {
                check_text(kind, &ad.title, MAX_TITLE_BYTES)?;
                check_text(kind, &ad.body, MAX_AD_BODY_BYTES)?;
                ad.targeting
                    .check(1)
                    .map_err(|detail| MessageError::Invalid { kind, detail })?;
                check_keys(kind, ad.targeting.keys().into_iter())?;
                if let Some(offer) = &ad.offer {
                    check_place(kind, &offer.place)?;
                    if let Some(coupon) = &offer.coupon {
                        check_text(kind, coupon, MAX_FIELD_BYTES)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn to_value(&self) -> ciborium::Value {
        use ciborium::Value;
        let value = match self {
            Content::Charter(c) => Value::serialized(c),
            Content::Profile(p) => Value::serialized(p),
            Content::Post(p) => Value::serialized(p),
            Content::Reply(r) => Value::serialized(r),
            Content::Edit(e) => Value::serialized(e),
            Content::Delete(t) | Content::Remove(t) => Value::serialized(t),
            Content::Room(r) => Value::serialized(r),
            Content::Chat(c) => Value::serialized(c),
            Content::Recommend(r) => Value::serialized(r),
            Content::Ban(b) => Value::serialized(b),
            Content::Grant(g) => Value::serialized(g),
            Content::Revoke(r) => Value::serialized(r),
            Content::Advertiser(a) => Value::serialized(a),
            Content::Ad(a) => Value::serialized(a),
        };
        // Serialising these plain structs into a CBOR value cannot fail.
        value.expect("content serialises to a CBOR value")
    }

    fn from_value(kind: &str, value: Value) -> Result<Self, MessageError> {
        fn parse<T: DeserializeOwned>(kind: &'static str, value: Value) -> Result<T, MessageError> {
            value.deserialized().map_err(|e| MessageError::Invalid {
                kind,
                detail: e.to_string(),
            })
        }
        Ok(match kind {
            "charter" => Content::Charter(parse("charter", value)?),
            "profile" => Content::Profile(parse("profile", value)?),
            "post" => Content::Post(parse("post", value)?),
            "reply" => Content::Reply(parse("reply", value)?),
            "edit" => Content::Edit(parse("edit", value)?),
            "delete" => Content::Delete(parse("delete", value)?),
            "room" => Content::Room(parse("room", value)?),
            "chat" => Content::Chat(parse("chat", value)?),
            "recommend" => Content::Recommend(parse("recommend", value)?),
            "ban" => Content::Ban(parse("ban", value)?),
            "remove" => Content::Remove(parse("remove", value)?),
            "grant" => Content::Grant(parse("grant", value)?),
            "revoke" => Content::Revoke(parse("revoke", value)?),
            "advertiser" => Content::Advertiser(parse("advertiser", value)?),
            "ad" => Content::Ad(parse("ad", value)?),
            other => return Err(MessageError::UnknownKind(other.to_string())),
        })
    }
}

/// A decoded, verified message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// SHA-256 of the body bytes.
    pub id: MessageId,
    /// The group the author addressed.
    pub group: GroupId,
    /// The author's pseudonym in that group.
    pub author: PublicKey,
    /// Author's clock, unix milliseconds.
    pub created_at: u64,
    /// What it says.
    pub content: Content,
}

/// A message together with the exact wire bytes it came in (or was created as).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMessage {
    /// The CBOR `{"v", "body", "sig"}` map, byte for byte.
    pub bytes: Vec<u8>,
    /// What the bytes say.
    pub message: Message,
}

#[derive(Serialize, Deserialize)]
struct WireMessage {
    v: u64,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    sig: Vec<u8>,
}

impl WireMessage {
    /// The outer map is closed: exactly `v`, `body` and `sig`. Nothing outside `body` is
    /// signed, so any other key would let a relay change a message without changing its id.
    /// The version is checked before the keys, so a later version is reported as such.
    fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Map(entries) = value else {
            return Err(MessageError::Malformed(
                "the signed message is not a CBOR map".into(),
            ));
        };
        let (mut v, mut body, mut sig, mut unknown) = (None, None, None, None);
        for (key, value) in entries {
            match key.as_text() {
                Some("v") => v = Some(value),
                Some("body") => body = Some(value),
                Some("sig") => sig = Some(value),
                _ => {
                    unknown.get_or_insert(key);
                }
            }
        }
        let v = uint(field(v, "signed message", "v")?, "\"v\"")?;
        if v != u64::from(MESSAGE_VERSION) {
            return Err(MessageError::UnsupportedVersion {
                got: v,
                max: MESSAGE_VERSION,
            });
        }
        if let Some(key) = unknown {
            return Err(MessageError::Malformed(format!(
                "unknown key {key:?} in the signed-message map (only \"v\", \"body\", \"sig\")"
            )));
        }
        Ok(WireMessage {
            v,
            body: bytes(field(body, "signed message", "body")?, "\"body\"")?,
            sig: bytes(field(sig, "signed message", "sig")?, "\"sig\"")?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct WireBody {
    #[serde(with = "serde_bytes")]
    group: Vec<u8>,
    #[serde(with = "serde_bytes")]
    author: Vec<u8>,
    kind: String,
    created_at: u64,
    content: Value,
}

impl WireBody {
    /// The body's fields with their exact CBOR types; keys this version does not know are
    /// ignored (they are signed, so only the author can have put them there).
    fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Map(entries) = value else {
            return Err(MessageError::Malformed("body is not a CBOR map".into()));
        };
        let (mut group, mut author, mut kind, mut created_at, mut content) =
            (None, None, None, None, None);
        for (key, value) in entries {
            match key.as_text() {
                Some("group") => group = Some(value),
                Some("author") => author = Some(value),
                Some("kind") => kind = Some(value),
                Some("created_at") => created_at = Some(value),
                Some("content") => content = Some(value),
                _ => {}
            }
        }
        let kind = match field(kind, "body", "kind")? {
            Value::Text(kind) => kind,
            _ => {
                return Err(MessageError::Malformed(
                    "body: kind is not a text string".into(),
                ))
            }
        };
        Ok(WireBody {
            group: bytes(field(group, "body", "group")?, "body: group")?,
            author: bytes(field(author, "body", "author")?, "body: author")?,
            kind,
            created_at: uint(field(created_at, "body", "created_at")?, "body: created_at")?,
            content: field(content, "body", "content")?,
        })
    }
}

fn field(value: Option<Value>, map: &str, key: &str) -> Result<Value, MessageError> {
    value.ok_or_else(|| MessageError::Malformed(format!("{map} lacks {key:?}")))
}

fn uint(value: Value, what: &str) -> Result<u64, MessageError> {
    match value {
        Value::Integer(i) => u64::try_from(i).ok(),
        _ => None,
    }
    .ok_or_else(|| MessageError::Malformed(format!("{what} is not an unsigned integer")))
}

fn bytes(value: Value, what: &str) -> Result<Vec<u8>, MessageError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(MessageError::Malformed(format!(
            "{what} is not a byte string"
        ))),
    }
}

/// Where the `content` a message carries differs from Cove's own encoding of what it decoded
/// from it, ignoring keys Cove does not know: a field of another CBOR type (a text string
/// for a byte string, an integer for a float, an array for a map) that serde's lenient
/// decoding would otherwise let through. `None` when every known field matches.
fn content_mismatch(received: &Value, ours: &Value) -> Option<String> {
    match (received, ours) {
        (Value::Map(received), Value::Map(ours)) => ours.iter().find_map(|(key, ours)| {
            let name = key.as_text().unwrap_or("?");
            match received.iter().find(|(k, _)| k == key) {
                None => Some(name.to_string()),
                Some((_, received)) => content_mismatch(received, ours).map(|path| {
                    if path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name}.{path}")
                    }
                }),
            }
        }),
        (Value::Array(received), Value::Array(ours)) if received.len() == ours.len() => received
            .iter()
            .zip(ours)
            .enumerate()
            .find_map(|(i, (r, o))| content_mismatch(r, o).map(|path| format!("[{i}]{path}"))),
        _ if received == ours => None,
        _ => Some(String::new()),
    }
}

/// Targeting keys: at most [`MAX_TARGETING_KEYS`], each non-empty, short, without spaces.
fn check_keys<'a>(
    kind: &'static str,
    keys: impl Iterator<Item = &'a str>,
) -> Result<(), MessageError> {
    let mut count = 0;
    for key in keys {
        count += 1;
        if key.is_empty()
            || key.len() > MAX_TARGETING_KEY_BYTES
            || key.chars().any(char::is_whitespace)
        {
            return Err(MessageError::Invalid {
                kind,
                detail: format!("targeting key {key:?} must be 1..={MAX_TARGETING_KEY_BYTES} bytes without spaces"),
            });
        }
    }
    if count > MAX_TARGETING_KEYS {
        return Err(MessageError::Invalid {
            kind,
            detail: format!("{count} targeting keys, more than {MAX_TARGETING_KEYS}"),
        });
    }
    Ok(())
}

fn check_place(kind: &'static str, place: &Place) -> Result<(), MessageError> {
    check_text(kind, &place.name, MAX_FIELD_BYTES)?;
    check_text(kind, &place.address, MAX_FIELD_BYTES)?;
    let bad = |v: Option<f64>, max: f64| v.is_some_and(|v| !v.is_finite() || v.abs() > max);
    if bad(place.lat, 90.0) || bad(place.lon, 180.0) {
        return Err(MessageError::Invalid {
            kind,
            detail: "coordinates out of range".into(),
        });
    }
    Ok(())
}

/// A text field must not be blank and must fit `max` bytes.
fn check_text(kind: &'static str, text: &str, max: usize) -> Result<(), MessageError> {
    if text.trim().is_empty() {
        return Err(MessageError::Invalid {
            kind,
            detail: "text is empty".into(),
        });
    }
    if text.len() > max {
        return Err(MessageError::Invalid {
            kind,
            detail: format!(
                "text is {} bytes, longer than the limit of {max}",
                text.len()
            ),
        });
    }
    Ok(())
}

/// Signs `content` as `author` for `group`, returning the wire form.
///
/// Fails when the content breaks a size limit, so a node never creates what others would
/// reject.
pub fn sign(
    author: &Pseudonym,
    group: &GroupId,
    created_at: u64,
    content: Content,
) -> Result<SignedMessage, MessageError> {
    content.check_limits()?;
    let body = to_canonical_vec(&WireBody {
        group: group.as_bytes().to_vec(),
        author: author.public().as_bytes().to_vec(),
        kind: content.kind().to_string(),
        created_at,
        content: content.to_value(),
    });
    let sig = author.sign(Domain::Message, &body);
    let bytes = to_canonical_vec(&WireMessage {
        v: u64::from(MESSAGE_VERSION),
        body: body.clone(),
        sig: sig.to_bytes().to_vec(),
    });
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(SignedMessage {
        bytes,
        message: Message {
            id: MessageId::of_body(&body),
            group: *group,
            author: author.public(),
            created_at,
            content,
        },
    })
}

/// Decodes exactly one CBOR item filling all of `bytes`: anything after it is an error, so
/// a message has one encoding and cannot be padded by a relay.
pub(crate) fn from_cbor_exact<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the CBOR item", rest.len()));
    }
    Ok(value)
}

/// The only way from wire bytes to a [`Message`]: size, version, signature, then content.
pub fn verify_and_decode(bytes: &[u8]) -> Result<SignedMessage, MessageError> {
    decode(bytes, Verify::Signature)
}

/// Decodes bytes this node verified with [`verify_and_decode`] before it stored them, without
/// checking the signature again: reads of the store (feeds, rankings, profiles) would
/// otherwise spend most of their time re-verifying. Never use it on bytes from the network.
pub(crate) fn decode_stored(bytes: &[u8]) -> Result<SignedMessage, MessageError> {
    decode(bytes, Verify::AlreadyDone)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    Signature,
    AlreadyDone,
}

fn decode(bytes: &[u8], verify: Verify) -> Result<SignedMessage, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let strict = verify == Verify::Signature;
    let outer: Value = from_cbor_exact(bytes).map_err(MessageError::Malformed)?;
    if strict {
        check_canonical(bytes, &outer).map_err(|error| MessageError::NotCanonical {
            part: "signed message",
            error,
        })?;
    }
    let wire = WireMessage::from_value(outer)?;
    let body: Value =
        from_cbor_exact(&wire.body).map_err(|e| MessageError::Malformed(format!("body: {e}")))?;
    if strict {
        check_canonical(&wire.body, &body).map_err(|error| MessageError::NotCanonical {
            part: "body",
            error,
        })?;
    }
    let body = WireBody::from_value(body)?;
    let author = fixed::<32>(&body.author, "author").and_then(|b| {
        PublicKey::from_bytes(b).map_err(|e| MessageError::Malformed(e.to_string()))
    })?;
    let group = GroupId::from_bytes(fixed::<32>(&body.group, "group")?);
    let sig =
        Signature::from_slice(&wire.sig).map_err(|e| MessageError::Malformed(e.to_string()))?;
    if verify == Verify::Signature {
        author
            .verify(Domain::Message, &wire.body, &sig)
            .map_err(|_| MessageError::BadSignature(author.fingerprint()))?;
    }
    let content = Content::from_value(&body.kind, body.content.clone())?;
    if strict {
        if let Some(path) = content_mismatch(&body.content, &content.to_value()) {
            return Err(MessageError::Invalid {
                kind: content.kind(),
                detail: format!("content.{path} has another CBOR type than §8.3 gives it"),
            });
        }
    }
    content.check_limits()?;
    Ok(SignedMessage {
        bytes: bytes.to_vec(),
        message: Message {
            id: MessageId::of_body(&wire.body),
            group,
            author,
            created_at: body.created_at,
            content,
        },
    })
}

fn fixed<const N: usize>(bytes: &[u8], field: &str) -> Result<[u8; N], MessageError> {
    bytes.try_into().map_err(|_| {
        MessageError::Malformed(format!("{field} is {} bytes, expected {N}", bytes.len()))
    })
}

mod key_bytes {
    use cove_crypto::PublicKey;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(key.as_bytes())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        parse(&bytes).map_err(D::Error::custom)
    }

    pub(super) fn parse(bytes: &[u8]) -> Result<PublicKey, String> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("key is {} bytes, expected 32", bytes.len()))?;
        PublicKey::from_bytes(arr).map_err(|e| e.to_string())
    }
}

mod key_list {
    use cove_crypto::PublicKey;
    use serde::{de::Error, ser::SerializeSeq, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(keys: &[PublicKey], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(keys.len()))?;
        for key in keys {
            seq.serialize_element(serde_bytes::Bytes::new(key.as_bytes()))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PublicKey>, D::Error> {
        let list = Vec::<serde_bytes::ByteBuf>::deserialize(d)?;
        list.iter()
            .map(|b| super::key_bytes::parse(b).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use cove_crypto::{GroupSecret, MasterSeed};

    fn fixture() -> (Pseudonym, GroupId) {
        let group = GroupSecret::from_bytes([7; 32]).id();
        (MasterSeed::from_bytes([1; 32]).pseudonym(&group), group)
    }

    fn post(text: &str) -> Content {
        Content::Post(Post {
            title: None,
            text: text.into(),
        })
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1_700_000_000_000, post("hello")).unwrap();
        let decoded = verify_and_decode(&signed.bytes).unwrap();
        assert_eq!(decoded, signed);
    }

    #[test]
    fn bytes_after_the_message_are_refused() {
        // Found by fuzzing: a relay could pad someone else's message (same id, other bytes).
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut padded = signed.bytes.clone();
        padded.extend_from_slice(&[0; 100]);
        match verify_and_decode(&padded) {
            Err(MessageError::Malformed(detail)) => {
                assert!(detail.contains("100 bytes after"), "{detail}")
            }
            other => panic!("padded message accepted: {other:?}"),
        }
    }

    /// The signed-message map of `signed` with `edit` applied to its generic value, encoded
    /// deterministically: still the same `body` and `sig`, so the id does not change.
    fn reencoded(signed: &SignedMessage, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
        let mut value: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        let Value::Map(entries) = &mut value else {
            panic!("not a map")
        };
        edit(entries);
        to_canonical_vec(&value)
    }

    /// A signed message carrying `body`, signed by `me`.
    fn resigned(me: &Pseudonym, body: Vec<u8>) -> Vec<u8> {
        let sig = me.sign(Domain::Message, &body);
        to_canonical_vec(&WireMessage {
            v: 1,
            body,
            sig: sig.to_bytes().to_vec(),
        })
    }

    fn body_value(signed: &SignedMessage) -> Value {
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        ciborium::from_reader(wire.body.as_slice()).unwrap()
    }

    /// `value` encoded as it is, without sorting its maps' keys.
    fn raw(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn signed_messages_are_deterministic_cbor() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        // Keys sorted by their encodings: "v" < "sig" < "body".
        assert!(hex::encode(&signed.bytes).starts_with("a36176016373696758"));
        let outer: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        assert_eq!(check_canonical(&signed.bytes, &outer), Ok(()));
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        assert_eq!(check_canonical(&wire.body, &body_value(&signed)), Ok(()));
    }

    #[test]
    fn a_relay_cannot_add_an_outer_key() {
        // Scenario: a relaying member adds a key next to v/body/sig; the id would not change.
        // Assert: the closed outer map refuses it as malformed.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let padded = reencoded(&signed, |m| {
            m.push((Value::Text("pad".into()), Value::Bytes(vec![0; 1000])))
        });
        match verify_and_decode(&padded) {
            Err(MessageError::Malformed(detail)) => {
                assert!(detail.contains("unknown key"), "{detail}")
            }
            other => panic!("padded message accepted: {other:?}"),
        }
    }

    #[test]
    fn a_relay_cannot_re_encode_the_outer_map() {
        // Scenario: the same value {v: 1, body, sig} written in other ways by a relay.
        // Assert: each is refused as not deterministic, naming the rule it breaks.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let tail = &signed.bytes[4..]; // after a3 61 76 01
        let mut long_v = hex::decode("a361761801").unwrap();
        long_v.extend_from_slice(tail);
        let mut indefinite = hex::decode("bf617601").unwrap();
        indefinite.extend_from_slice(tail);
        indefinite.push(0xff);
        let mut duplicate_v = hex::decode("a4617601617601").unwrap();
        duplicate_v.extend_from_slice(tail);
        let unsorted = raw(&{
            let mut value: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
            if let Value::Map(m) = &mut value {
                m.reverse();
            }
            value
        });
        for (name, bytes, want) in [
            ("v in two bytes", long_v, CanonicalError::NotShortest),
            ("indefinite map", indefinite, CanonicalError::NotShortest),
            (
                "v twice",
                duplicate_v,
                CanonicalError::DuplicateKey {
                    key: "\"v\"".into(),
                },
            ),
            (
                "keys reversed",
                unsorted,
                CanonicalError::KeyOrder {
                    key: "\"sig\"".into(),
                },
            ),
        ] {
            assert_eq!(
                verify_and_decode(&bytes),
                Err(MessageError::NotCanonical {
                    part: "signed message",
                    error: want
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn a_non_deterministic_body_is_refused_even_when_signed() {
        // Scenario: an author (or another implementation) signs a body whose keys are in the
        // order of §8.2's table, not sorted. Assert: refused before the signature is checked.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut value = body_value(&signed);
        if let Value::Map(m) = &mut value {
            m.reverse();
        }
        let bytes = resigned(&me, raw(&value));
        assert!(matches!(
            verify_and_decode(&bytes),
            Err(MessageError::NotCanonical {
                part: "body",
                error: CanonicalError::KeyOrder { .. }
            })
        ));
    }

    #[test]
    fn a_content_field_of_another_cbor_type_is_invalid_content() {
        // Scenario: signed contents whose fields have another CBOR type than §8.3 gives them.
        // Assert: invalid_content, never accepted as the value of the right type.
        let (me, group) = fixture();
        let with_content = |signed: &SignedMessage, content: Value| {
            let mut value = body_value(signed);
            let Value::Map(body) = &mut value else {
                panic!("body is a map")
            };
            for (k, v) in body.iter_mut() {
                if k.as_text() == Some("content") {
                    *v = content.clone();
                }
            }
            resigned(&me, to_canonical_vec(&value))
        };
        let field = |name: &str, value: Value| Value::Map(vec![(Value::Text(name.into()), value)]);
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let delete = Content::Delete(Target {
            target: MessageId([b'a'; 32]),
        });
        let deleted = sign(&me, &group, 1, delete).unwrap();
        for (signed, content) in [
            (&signed, field("text", Value::Bytes(b"hello".to_vec()))),
            (&signed, Value::Array(vec![Value::Text("hello".into())])),
            (&deleted, field("target", Value::Text("a".repeat(32)))),
        ] {
            let bytes = with_content(signed, content.clone());
            assert!(
                matches!(verify_and_decode(&bytes), Err(MessageError::Invalid { .. })),
                "{content:?}"
            );
        }
    }

    #[test]
    fn content_must_match_its_own_re_encoding_except_unknown_keys() {
        // The last guard of §8.2's exact types: whatever serde would accept, the known fields
        // must be exactly what Cove's encoder writes for the decoded value.
        let text = |s: &str| Value::Text(s.into());
        let ours = Value::Map(vec![
            (
                text("place"),
                Value::Map(vec![(text("lat"), Value::Float(1.5))]),
            ),
            (text("text"), text("hi")),
        ]);
        let mut received = ours.clone();
        if let Value::Map(m) = &mut received {
            m.push((text("later"), Value::Bool(true)));
        }
        assert_eq!(
            content_mismatch(&received, &ours),
            None,
            "unknown keys are fine"
        );
        let widened = Value::Map(vec![
            (
                text("place"),
                Value::Map(vec![(text("lat"), Value::Integer(1.into()))]),
            ),
            (text("text"), text("hi")),
        ]);
        assert_eq!(content_mismatch(&widened, &ours), Some("place.lat".into()));
        let missing = Value::Map(vec![(text("text"), text("hi"))]);
        assert_eq!(content_mismatch(&missing, &ours), Some("place".into()));
    }

    #[test]
    fn tampered_body_fails_signature() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut bytes = signed.bytes.clone();
        let pos = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[pos] = b'j';
        assert!(matches!(
            verify_and_decode(&bytes),
            Err(MessageError::BadSignature(_))
        ));
    }

    #[test]
    fn garbage_and_wrong_version_are_typed_errors() {
        assert!(matches!(
            verify_and_decode(b"\xff\x00garbage"),
            Err(MessageError::Malformed(_))
        ));
        let wire = to_canonical_vec(&WireMessage {
            v: 9,
            body: vec![],
            sig: vec![0; 64],
        });
        assert_eq!(
            verify_and_decode(&wire),
            Err(MessageError::UnsupportedVersion { got: 9, max: 1 })
        );
        assert!(matches!(
            verify_and_decode(&vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(MessageError::TooLarge { .. })
        ));
    }

    #[test]
    fn limits_are_enforced_on_sign() {
        let (me, group) = fixture();
        let long = "x".repeat(MAX_POST_TEXT_BYTES + 1);
        assert!(matches!(
            sign(&me, &group, 1, post(&long)),
            Err(MessageError::Invalid { kind: "post", .. })
        ));
        assert!(sign(&me, &group, 1, post("  ")).is_err());
    }

    #[test]
    fn unknown_kind_is_rejected_even_when_signed() {
        let (me, group) = fixture();
        let body = to_canonical_vec(&WireBody {
            group: group.as_bytes().to_vec(),
            author: me.public().as_bytes().to_vec(),
            kind: "poll".into(),
            created_at: 1,
            content: ciborium::Value::Map(vec![]),
        });
        let sig = me.sign(Domain::Message, &body);
        let wire = to_canonical_vec(&WireMessage {
            v: 1,
            body,
            sig: sig.to_bytes().to_vec(),
        });
        assert_eq!(
            verify_and_decode(&wire),
            Err(MessageError::UnknownKind("poll".into()))
        );
    }

    #[test]
    fn charter_requires_founder_among_admins() {
        let (me, group) = fixture();
        let other = MasterSeed::from_bytes([2; 32]).pseudonym(&group).public();
        let charter = Content::Charter(Charter {
            name: "club".into(),
            founder: me.public(),
            admins: vec![other],
            policy: Policy::default(),
        });
        assert!(sign(&me, &group, 1, charter).is_err());
    }
}
