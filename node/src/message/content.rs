//! What a message says: the content of each kind, with the limits every node checks.

use super::*;

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

/// The founder's change of the group's governance (§8.3 `amend`, §16): the whole new state
/// after the one it follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amend {
    /// The charter or the amendment this one follows.
    pub prev: MessageId,
    /// The founder from now on: the author, or the member the role is handed to.
    #[serde(with = "key_bytes")]
    pub founder: PublicKey,
    /// The admins from now on; includes the founder.
    #[serde(with = "key_list")]
    pub admins: Vec<PublicKey>,
    /// The policy from now on.
    pub policy: Policy,
}

/// Rules of a group, fixed by its charter and changed by amendments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// How far in the future a message's `created_at` may lie, in seconds.
    pub max_future_skew_secs: u64,
    /// How many messages one pseudonym may author per window; `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Who may make invite tickets (§17); absent on the wire when admins only.
    #[serde(default, skip_serializing_if = "Inviters::is_admins")]
    pub invite: Inviters,
}

/// Who may make invite tickets: the `invite` field of a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inviters {
    /// The admins of the current governance (the default).
    #[default]
    Admins,
    /// Every member who is not banned.
    Members,
}

impl Inviters {
    fn is_admins(&self) -> bool {
        *self == Inviters::Admins
    }
}

impl std::str::FromStr for Inviters {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "admins" => Ok(Inviters::Admins),
            "members" => Ok(Inviters::Members),
            other => Err(format!(
                "{other:?} is not who may invite: expected \"admins\" or \"members\""
            )),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_future_skew_secs: 300,
            rate_limit: Some(RateLimit::default()),
            invite: Inviters::Admins,
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
    pub(crate) fn check(&self) -> Result<(), String> {
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

/// A member's record in the group (§8.3 `member`): the X25519 key epoch secrets are wrapped
/// to. The roster is every author of one who is not banned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's X25519 public key in this group (32 bytes, §2).
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// One member's copy of a new epoch secret, wrapped to its member key (§15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The recipient's pseudonym.
    #[serde(with = "key_bytes")]
    pub to: PublicKey,
    /// The wrapped epoch secret (48 bytes).
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// An admin's re-key (§8.3 `rekey`, §15): a new epoch and its secret for the roster, or one
/// chunk of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekey {
    /// The new epoch's number: one more than the number of the epoch this message is
    /// sealed under.
    pub number: u32,
    /// The new epoch's tag (derived from its secret; not 0).
    pub tag: u32,
    /// The ephemeral X25519 public key the packages are wrapped with.
    #[serde(with = "serde_bytes")]
    pub ephemeral: Vec<u8>,
    /// One package per recipient, at most [`MAX_PACKAGES`].
    pub packages: Vec<Package>,
}

/// An invite ticket (§8.3 `ticket`, §17): the terms under which members admit whoever holds
/// the ticket key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The ticket's id: the public key of the ticket key in the invite.
    #[serde(with = "key_bytes")]
    pub id: PublicKey,
    /// How many newcomers it admits, 1..=[`MAX_TICKET_USES`].
    pub uses: u32,
    /// When it stops admitting, unix seconds.
    pub expires: u64,
    /// The ticket key's signature ([`Domain::Ticket`](cove_crypto::Domain::Ticket)) over
    /// [`Ticket::proof_bytes`]: the author holds the ticket key (64 bytes).
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// Most newcomers one ticket admits.
pub const MAX_TICKET_USES: u32 = 10_000;

impl Ticket {
    /// What the proof signs: group id (32) ‖ author (32) ‖ u32be(uses) ‖ u64be(expires).
    pub fn proof_bytes(group: &GroupId, author: &PublicKey, uses: u32, expires: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(76);
        bytes.extend_from_slice(group.as_bytes());
        bytes.extend_from_slice(author.as_bytes());
        bytes.extend_from_slice(&uses.to_be_bytes());
        bytes.extend_from_slice(&expires.to_be_bytes());
        bytes
    }
}

/// A member's record that it admitted a newcomer with a ticket (§8.3 `admit`, §17).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit {
    /// The `ticket` record (its message id).
    pub ticket: MessageId,
    /// The newcomer's pseudonym.
    #[serde(with = "key_bytes")]
    pub member: PublicKey,
}

/// The withdrawal of a ticket by an admin or its inviter (§8.3 `uninvite`): it admits nobody
/// from then on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uninvite {
    /// The `ticket` record (its message id).
    pub ticket: MessageId,
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
    /// `"member"`: a member's record with its key for epoch secrets.
    Member(Member),
    /// `"rekey"` (admins only): a new key epoch.
    Rekey(Rekey),
    /// `"amend"` (the founder only): new governance.
    Amend(Amend),
    /// `"ticket"` (admins, or members if the policy says so): an invite ticket.
    Ticket(Ticket),
    /// `"admit"`: a newcomer admitted with a ticket.
    Admit(Admit),
    /// `"uninvite"` (an admin or the ticket's inviter): a ticket withdrawn.
    Uninvite(Uninvite),
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
            Content::Member(_) => "member",
            Content::Rekey(_) => "rekey",
            Content::Amend(_) => "amend",
            Content::Ticket(_) => "ticket",
            Content::Admit(_) => "admit",
            Content::Uninvite(_) => "uninvite",
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
            Content::Admit(a) => Some(a.ticket),
            Content::Uninvite(u) => Some(u.ticket),
            _ => None,
        }
    }

    /// Whether only charter admins may send this kind.
    pub fn is_admin_only(&self) -> bool {
        matches!(
            self,
            Content::Ban(_)
                | Content::Remove(_)
                | Content::Grant(_)
                | Content::Revoke(_)
                | Content::Rekey(_)
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
                check_governance(kind, &c.founder, &c.admins, &c.policy)?;
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
            Content::Member(m) => check_len(kind, "key", &m.key, 32)?,
            Content::Ticket(t) => {
                check_len(kind, "proof", &t.proof, 64)?;
                if t.uses == 0 || t.uses > MAX_TICKET_USES {
                    return Err(MessageError::Invalid {
                        kind,
                        detail: format!("uses is {}, expected 1..={MAX_TICKET_USES}", t.uses),
                    });
                }
            }
            Content::Admit(_) | Content::Uninvite(_) => {}
            Content::Amend(a) => check_governance(kind, &a.founder, &a.admins, &a.policy)?,
            Content::Rekey(r) => {
                let invalid = |detail: String| MessageError::Invalid { kind, detail };
                if r.number == 0 || r.tag == 0 {
                    return Err(invalid("number and tag must not be 0".into()));
                }
                check_len(kind, "ephemeral", &r.ephemeral, 32)?;
                if r.packages.is_empty() || r.packages.len() > MAX_PACKAGES {
                    return Err(invalid(format!(
                        "{} packages, expected 1..={MAX_PACKAGES}",
                        r.packages.len()
                    )));
                }
                let mut seen = std::collections::BTreeSet::new();
                for package in &r.packages {
                    check_len(kind, "package key", &package.key, cove_crypto::WRAPPED_LEN)?;
                    if !seen.insert(package.to.as_bytes()) {
                        return Err(invalid(format!(
                            "two packages for {}",
                            package.to.fingerprint()
                        )));
                    }
                }
            }
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

    pub(super) fn to_value(&self) -> ciborium::Value {
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
            Content::Member(m) => Value::serialized(m),
            Content::Rekey(r) => Value::serialized(r),
            Content::Amend(a) => Value::serialized(a),
            Content::Ticket(t) => Value::serialized(t),
            Content::Admit(a) => Value::serialized(a),
            Content::Uninvite(u) => Value::serialized(u),
        };
        // Serialising these plain structs into a CBOR value cannot fail.
        value.expect("content serialises to a CBOR value")
    }

    pub(super) fn from_value(kind: &str, value: Value) -> Result<Self, MessageError> {
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
            "member" => Content::Member(parse("member", value)?),
            "rekey" => Content::Rekey(parse("rekey", value)?),
            "amend" => Content::Amend(parse("amend", value)?),
            "ticket" => Content::Ticket(parse("ticket", value)?),
            "admit" => Content::Admit(parse("admit", value)?),
            "uninvite" => Content::Uninvite(parse("uninvite", value)?),
            other => return Err(MessageError::UnknownKind(other.to_string())),
        })
    }
}

/// Governance, in a charter or an amendment: at most [`MAX_ADMINS`] admins including the
/// founder, and a valid rate limit.
fn check_governance(
    kind: &'static str,
    founder: &PublicKey,
    admins: &[PublicKey],
    policy: &Policy,
) -> Result<(), MessageError> {
    let invalid = |detail: String| MessageError::Invalid { kind, detail };
    if admins.len() > MAX_ADMINS {
        return Err(invalid(format!(
            "{} admins, more than {MAX_ADMINS}",
            admins.len()
        )));
    }
    if !admins.contains(founder) {
        return Err(invalid("the founder is not listed among the admins".into()));
    }
    if let Some(limit) = &policy.rate_limit {
        limit.check().map_err(invalid)?;
    }
    Ok(())
}

/// A byte-string field of an exact length.
fn check_len(
    kind: &'static str,
    field: &str,
    bytes: &[u8],
    len: usize,
) -> Result<(), MessageError> {
    if bytes.len() == len {
        return Ok(());
    }
    Err(MessageError::Invalid {
        kind,
        detail: format!("{field} is {} bytes, expected {len}", bytes.len()),
    })
}

/// Targeting keys: at most [`MAX_TARGETING_KEYS`], each non-empty, short, without spaces.
pub(super) fn check_keys<'a>(
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

pub(super) fn check_place(kind: &'static str, place: &Place) -> Result<(), MessageError> {
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
pub(super) fn check_text(kind: &'static str, text: &str, max: usize) -> Result<(), MessageError> {
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
