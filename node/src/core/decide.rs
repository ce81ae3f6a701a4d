//! The node's decision on an incoming message, as pure functions: the message (a gossip
//! payload, or a message in signed form from history sync), the [`Facts`] the node has
//! stored, the group, the authors' allowances and the time go in; a [`Decision`] comes out.
//! Nothing here does I/O: no tokio, no sled, no libp2p. The node's actor (`node.rs`) carries
//! decisions out (it maps [`Verdict`] to the gossip layer's and has [`Core`] store and count);
//! the simulator (`tests/src/sim.rs`) runs the same decisions for hundreds of members without
//! a network; the rule tests run them over a store on disk and one in memory.
//!
//! The pipeline, cheapest check first (PROTOCOL.md §9):
//!
//! ```text
//! gossip: size limit -> known topic -> epoch -> open (AEAD) ─┐
//! sync:                                known group ─────────┴-> decode + verify signature
//!   -> duplicate -> rules (group, retention, future skew, charter)
//!   -> authority (admin, ban, target, ad grant) -> rate limit (7p) -> Accept
//! ```
//!
//! Opening and verifying read nothing but the bytes and one epoch's key, and take most of a
//! decision's CPU, so the node does them ahead, on every core ([`Opener`], [`verify`]); the
//! decision then takes their result in the message's turn ([`Judge::gossip_opened`],
//! [`Judge::synced_verified`]), and everything that reads the facts still runs in arrival
//! order, against every message accepted before.
//!
//! [`Core`]: crate::core::Core

use cove_crypto::{open, ContentKey, Domain, GroupId, PublicKey, Signature};

use crate::core::rate::AuthorRates;
use crate::core::{Group, MAX_ENVELOPE_BYTES};
use crate::message::{
    verify_and_decode, Ad, Amend, Content, Inviters, Message, MessageError, MessageId, RateLimit,
    SignedMessage, Ticket,
};
use crate::store::StoreError;

/// What the rules read of the node's stored state: the facts about earlier messages they
/// need, nothing more. Implemented by the store's reader, on sled and in memory.
pub trait Facts {
    /// Whether a message with this id is stored.
    fn contains(&self, id: &MessageId) -> Result<bool, StoreError>;
    /// The stored message with this id (a target, a thread's root, an ad's grant).
    fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError>;
    /// Whether `member` is banned from `group` now (their latest ban is active).
    fn banned(&self, group: &GroupId, member: &PublicKey) -> Result<bool, StoreError>;
    /// Whether a grant of `group` names `advertiser` (in any state: the grant's terms are
    /// checked on each ad).
    fn granted(&self, group: &GroupId, advertiser: &PublicKey) -> Result<bool, StoreError>;
    /// Whether the grant `grant` was revoked.
    fn revoked(&self, grant: &MessageId) -> Result<bool, StoreError>;
    /// How many stored ads of `grant` on the UTC day of `created_at` sort before
    /// `(created_at, id)`: an ad's rank for the daily quota.
    fn ad_rank(
        &self,
        grant: &MessageId,
        created_at: u64,
        id: &MessageId,
    ) -> Result<u64, StoreError>;
}

/// What the node tells gossipsub about a message, in the domain's words (`node.rs` maps it
/// to the gossip layer's type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Invalid by its own bytes or by state that never changes: drop it and penalise the peer
    /// that sent it (for a synced message: the responder's fault).
    Reject,
    /// Not for this node now (a duplicate, an unknown ban target, the clock, arrival order):
    /// drop it, penalise no one.
    Ignore,
}

impl Verdict {
    /// The verdict to report for `decision`.
    pub fn of(decision: &Decision) -> Verdict {
        match decision {
            Ok(_) => Verdict::Accept,
            Err(r) if r.is_penalised() => Verdict::Reject,
            Err(_) => Verdict::Ignore,
        }
    }
}

/// What the node does with an incoming message.
///
/// | decision | report ([`Verdict::of`]) | write | then |
/// |---|---|---|---|
/// | `Ok(signed)` | `Accept` | store `signed`, first seen now | once stored: count it accepted, spend its author's allowance (7p), notify watchers; if the write finds it stored already or fails, count `duplicate` or `store_failed` instead |
/// | `Err(rejection)` | `Reject` or `Ignore` | nothing | count `rejection.reason()` |
///
/// A gossip verdict is reported before the write, so forwarding waits for validation, not
/// for the disk; the next message is decided only after the write, so the facts include
/// every accepted message.
pub type Decision = Result<SignedMessage, Rejection>;

/// Why an incoming message was not accepted. [`Rejection::is_penalised`] tells a `Reject`
/// (the sender's fault) from an `Ignore`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope of {0} bytes exceeds the limit")]
    Oversized(usize),
    /// Arrived on a topic of no group we belong to.
    #[error("topic of no known group")]
    UnknownTopic,
    /// Names a key epoch this node does not hold (yet, or ever: a member removed by a
    /// re-key never receives the new epoch's secret).
    #[error("sealed in key epoch {got:08x}, which this node does not hold (its current epoch is {current:08x})")]
    UnknownEpoch {
        /// The epoch tag named.
        got: u32,
        /// The group's current epoch here.
        current: u32,
    },
    /// The body names another epoch than the envelope it came in (§8.2).
    #[error("the body names epoch {body:08x} but the envelope epoch {envelope:08x}")]
    EpochMismatch {
        /// The body's `epoch`.
        body: u32,
        /// The envelope's.
        envelope: u32,
    },
    /// A re-key whose number is not one more than the epoch it is sealed in (§15).
    #[error("a re-key to epoch number {got} sealed in epoch number {parent}")]
    BadEpochNumber {
        /// The number it names.
        got: u32,
        /// The number of the epoch it is sealed in.
        parent: u32,
    },
    /// Did not open with the group's key: an outsider, a wrong key, or tampering.
    #[error("envelope does not open: {0}")]
    Undecryptable(String),
    /// Opened but is not a valid signed message.
    #[error("{0}")]
    BadMessage(MessageError),
    /// Signed for another group than the topic's.
    #[error("message addressed to another group")]
    WrongGroup,
    /// `created_at` too far in the future.
    #[error("created_at is {ahead_ms} ms in the future")]
    FromFuture {
        /// How far ahead.
        ahead_ms: u64,
    },
    /// A charter other than the group's own.
    #[error("a second charter for the group")]
    ForeignCharter,
    /// An admin-only kind (ban, remove) from someone who is not an admin now.
    #[error("only an admin may send this")]
    NotAdmin,
    /// A ticket from someone the policy does not let invite (§17).
    #[error("the group's policy does not let this member make invite tickets")]
    NotInviter,
    /// A ticket whose proof is not the ticket key's signature (§8.3).
    #[error("the ticket's proof does not verify under its key")]
    BadTicketProof,
    /// An amendment by someone who is not the founder of the state it amends (§16).
    #[error("only the founder of the state it amends may amend the group")]
    NotFounder,
    /// The author is banned from the group.
    #[error("the author is banned")]
    BannedAuthor,
    /// An edit or delete of someone else's message.
    #[error("edits and deletes apply to one's own messages only")]
    NotAuthor,
    /// Refers to a message it cannot apply to.
    #[error("bad target: {0}")]
    BadTarget(String),
    /// An ad or advertiser profile without a known grant.
    #[error("no grant known for this advertiser")]
    NoGrant,
    /// An ad signed by another key than the one its grant names (e.g. a member pseudonym).
    #[error("signed by a key the grant does not name")]
    NotAdvertiser,
    /// Created before its grant's window.
    #[error("created before the grant's validity window")]
    GrantNotYetValid,
    /// Created after its grant's window.
    #[error("created after the grant expired")]
    GrantExpired,
    /// Its grant was revoked.
    #[error("the grant was revoked")]
    GrantRevoked,
    /// Uses a targeting key the grant does not allow.
    #[error("targeting key {0:?} is not allowed by the grant")]
    TargetingNotAllowed(String),
    /// Beyond the grant's daily quota for its UTC day.
    #[error("over the daily quota of {0} ads")]
    OverQuota(u32),
    /// The author already wrote the charter's maximum of messages in this message's window.
    #[error("the author is over the group's rate limit of {0} messages")]
    RateLimited(RateLimit),
    /// Created before the retention window: this node no longer keeps such messages.
    #[error("older than the retention window")]
    Expired,
    /// Already stored.
    #[error("duplicate")]
    Duplicate,
    /// The store failed; the message is not the sender's fault.
    #[error("store failed")]
    StoreFailed,
    /// Validation itself failed (a bug); the message is not the sender's fault.
    #[error("internal error while validating")]
    Internal,
}

impl Rejection {
    /// The counter name of this reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversized(_) => "oversized",
            Rejection::UnknownTopic => "unknown_topic",
            Rejection::UnknownEpoch { .. } => "unknown_epoch",
            Rejection::EpochMismatch { .. } => "epoch_mismatch",
            Rejection::BadEpochNumber { .. } => "bad_epoch_number",
            Rejection::Undecryptable(_) => "undecryptable",
            Rejection::BadMessage(MessageError::BadSignature(_)) => "bad_signature",
            Rejection::BadMessage(MessageError::UnsupportedVersion { .. }) => "unsupported_version",
            Rejection::BadMessage(MessageError::UnknownKind(_)) => "unknown_kind",
            Rejection::BadMessage(MessageError::Invalid { .. }) => "invalid_content",
            Rejection::BadMessage(MessageError::TooLarge { .. }) => "oversized",
            Rejection::BadMessage(MessageError::NotCanonical { .. }) => "non_canonical",
            Rejection::BadMessage(_) => "malformed",
            Rejection::WrongGroup => "wrong_group",
            Rejection::FromFuture { .. } => "from_future",
            Rejection::ForeignCharter => "foreign_charter",
            Rejection::NotAdmin => "not_admin",
            Rejection::NotFounder => "not_founder",
            Rejection::NotInviter => "not_inviter",
            Rejection::BadTicketProof => "bad_ticket_proof",
            Rejection::BannedAuthor => "banned_author",
            Rejection::NotAuthor => "not_author",
            Rejection::BadTarget(_) => "bad_target",
            Rejection::NoGrant => "no_grant",
            Rejection::NotAdvertiser => "not_advertiser",
            Rejection::GrantNotYetValid => "grant_not_yet_valid",
            Rejection::GrantExpired => "grant_expired",
            Rejection::GrantRevoked => "grant_revoked",
            Rejection::TargetingNotAllowed(_) => "targeting_not_allowed",
            Rejection::OverQuota(_) => "over_quota",
            Rejection::RateLimited(_) => "rate_limited",
            Rejection::Expired => "expired",
            Rejection::Duplicate => "duplicate",
            Rejection::StoreFailed => "store_failed",
            Rejection::Internal => "internal_error",
        }
    }

    /// Whether the sender should be penalised (`Reject`) rather than merely not forwarded
    /// (`Ignore`). Only verdicts that follow from the message's own bytes and from state that
    /// never changes (the charter, a known grant's terms) penalise the peer that relayed it:
    /// any honest relay would have reached the same verdict. Verdicts that depend on state a
    /// relay may not have seen yet (a ban, a revocation, the target of an edit), on arrival
    /// order (the rate limit, an advertiser's daily quota) or on the clock (a message from the
    /// future, the retention window) are not: an honest peer whose clock differs by a second,
    /// or that saw two messages in the other order, forwards in good faith.
    pub fn is_penalised(&self) -> bool {
        !matches!(
            self,
            Rejection::Duplicate
                | Rejection::UnknownTopic
                | Rejection::UnknownEpoch { .. }
                | Rejection::Expired
                | Rejection::StoreFailed
                | Rejection::Internal
                | Rejection::BannedAuthor
                | Rejection::NotAdmin
                | Rejection::NotInviter
                | Rejection::NotAuthor
                | Rejection::BadTarget(_)
                | Rejection::NoGrant
                | Rejection::GrantRevoked
                | Rejection::RateLimited(_)
                | Rejection::OverQuota(_)
                | Rejection::FromFuture { .. }
        )
    }
}

/// Everything a decision reads besides the message itself.
pub struct Judge<'a, F: ?Sized> {
    /// What the node has stored.
    pub facts: &'a F,
    /// Rule 7p: what each author may still store, on this node's clock (kept in memory).
    pub rates: &'a AuthorRates,
    /// This node's clock, unix ms.
    pub now_ms: u64,
    /// Messages created before this time (unix ms) are outside the retention window.
    pub retention_cutoff: u64,
}

impl<F: ?Sized> std::fmt::Debug for Judge<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge")
            .field("now_ms", &self.now_ms)
            .field("retention_cutoff", &self.retention_cutoff)
            .finish_non_exhaustive()
    }
}

/// What opening and verifying a message gives: the message, or why it is none. It depends on
/// the bytes (and, for gossip, one epoch's key) alone, so it may be worked out on any thread
/// before the decision that reads the facts ([`Opener`], [`verify`]).
pub type Verified = Result<SignedMessage, Rejection>;

/// Decodes and verifies a message in signed form (history sync's): [`Judge::synced_verified`]
/// takes the result.
pub fn verify(bytes: &[u8]) -> Verified {
    verify_and_decode(bytes).map_err(Rejection::BadMessage)
}

/// A gossip payload opened and verified ahead of its decision, with the key that did it.
#[derive(Debug)]
pub struct Opened {
    group: GroupId,
    tag: u32,
    verified: Verified,
}

/// One epoch's key and topic, cloned out of a group so that a gossip payload can be opened
/// and verified on another thread while the node decides on earlier messages (the costly
/// part of a decision: the AEAD and the signature). [`Judge::gossip_opened`] takes the result
/// if the group still holds that epoch when the message's turn comes.
#[derive(Clone, Debug)]
pub struct Opener {
    group: GroupId,
    tag: u32,
    key: ContentKey,
    topic: String,
}

impl Opener {
    /// The opener of `envelope` on `group`'s topic; `None` when a cheap check decides it (too
    /// large, no group, an epoch not held now: the decision itself, in its turn, says which).
    pub fn of(group: Option<&Group>, envelope: &[u8]) -> Option<Self> {
        let group = group.filter(|_| envelope.len() <= MAX_ENVELOPE_BYTES)?;
        let tag = cove_crypto::envelope_epoch(envelope).ok()?;
        let epoch = group.epochs.get(tag)?;
        Some(Self {
            group: group.id,
            tag,
            key: epoch.content.clone(),
            topic: group.topic.clone(),
        })
    }

    /// Opens and verifies `envelope`: pure, and the bulk of a gossip decision's CPU.
    pub fn open(&self, envelope: &[u8]) -> Opened {
        let verified = open(&self.key, &self.topic, envelope)
            .map_err(|e| Rejection::Undecryptable(e.to_string()))
            .and_then(|plaintext| verify(&plaintext));
        Opened {
            group: self.group,
            tag: self.tag,
            verified,
        }
    }
}

impl<F: Facts + ?Sized> Judge<'_, F> {
    /// Decides on a gossip payload that arrived on the topic of `group` (`None`: a topic of
    /// no group this node belongs to).
    pub fn gossip(&self, group: Option<&Group>, envelope: &[u8]) -> Decision {
        self.gossip_opened(group, envelope, None)
    }

    /// [`Judge::gossip`], given what an [`Opener`] made of the same payload: the checks are
    /// the same, in the same order, and `opened` stands in for opening and verifying when the
    /// key that made it is the one the group holds for the payload's epoch now.
    pub fn gossip_opened(
        &self,
        group: Option<&Group>,
        envelope: &[u8],
        opened: Option<Opened>,
    ) -> Decision {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(Rejection::Oversized(envelope.len()));
        }
        let group = group.ok_or(Rejection::UnknownTopic)?;
        let tag = cove_crypto::envelope_epoch(envelope)
            .map_err(|e| Rejection::Undecryptable(e.to_string()))?;
        // Looked up among the epochs this node holds, never derived from the number a sender
        // names: a tag of no held epoch is Ignore (a member may not have the key yet).
        let epoch = group.epochs.get(tag).ok_or(Rejection::UnknownEpoch {
            got: tag,
            current: group.epochs.current().tag,
        })?;
        let verified = match opened {
            Some(o) if o.group == group.id && o.tag == tag => o.verified,
            _ => {
                Opener {
                    group: group.id,
                    tag,
                    key: epoch.content.clone(),
                    topic: group.topic.clone(),
                }
                .open(envelope)
                .verified
            }
        };
        self.checked(group, verified?, Some(tag))
    }

    /// Decides on a message in signed form, as history sync delivers it, for `group`
    /// (`None`: no group this node belongs to).
    pub fn synced(&self, group: Option<&Group>, bytes: &[u8]) -> Decision {
        let group = group.ok_or(Rejection::UnknownTopic)?;
        self.checked(group, verify(bytes)?, None)
    }

    /// [`Judge::synced`] for a message [`verify`] already decoded and verified.
    pub fn synced_verified(&self, group: Option<&Group>, verified: Verified) -> Decision {
        let group = group.ok_or(Rejection::UnknownTopic)?;
        self.checked(group, verified?, None)
    }

    /// Whether the group would take `msg`, this node's own new message, now: the rules of
    /// authority and the rate limit (the rest holds for a message this node just signed).
    pub fn own(&self, group: &Group, msg: &Message) -> Result<(), Rejection> {
        check_authority(group, self.facts, msg)?;
        self.check_rate(group, msg)
    }

    /// After decoding and verifying: the body's epoch against the envelope's (`sealed_in`,
    /// for gossip), duplicate check, rules.
    fn checked(&self, group: &Group, signed: SignedMessage, sealed_in: Option<u32>) -> Decision {
        if let Some(envelope) = sealed_in.filter(|tag| *tag != signed.message.epoch) {
            return Err(Rejection::EpochMismatch {
                body: signed.message.epoch,
                envelope,
            });
        }
        // Before the rules: a copy of a stored message is ignored, whatever it says, and is
        // never forwarded again (gossipsub's own duplicate cache forgets after a minute).
        if self
            .facts
            .contains(&signed.message.id)
            .map_err(|_| Rejection::StoreFailed)?
        {
            return Err(Rejection::Duplicate);
        }
        check_rules(group, &signed, self.now_ms, self.retention_cutoff)?;
        self.own(group, &signed.message)?;
        Ok(signed)
    }

    /// Rule 7p: whether the author may store one more message now (see [`crate::rate`]).
    fn check_rate(&self, group: &Group, msg: &Message) -> Result<(), Rejection> {
        match rate_limit_of(group, msg) {
            Some(limit)
                if !self
                    .rates
                    .allows(&group.id, msg.author.as_bytes(), &limit, self.now_ms) =>
            {
                Err(Rejection::RateLimited(limit))
            }
            _ => Ok(()),
        }
    }
}

/// Domain rules applied after the signature verified.
fn check_rules(
    group: &Group,
    signed: &SignedMessage,
    now_ms: u64,
    cutoff: u64,
) -> Result<(), Rejection> {
    let msg = &signed.message;
    if msg.group != group.id {
        return Err(Rejection::WrongGroup);
    }
    if msg.created_at < cutoff && msg.id != group.charter_id {
        return Err(Rejection::Expired);
    }
    let max_skew_ms = group
        .charter
        .policy
        .max_future_skew_secs
        .saturating_mul(1000);
    if msg.created_at > now_ms.saturating_add(max_skew_ms) {
        return Err(Rejection::FromFuture {
            ahead_ms: msg.created_at - now_ms,
        });
    }
    if matches!(msg.content, Content::Charter(_)) && msg.id != group.charter_id {
        return Err(Rejection::ForeignCharter);
    }
    Ok(())
}

/// Rule 7r: an amendment follows a known state (the charter, or an amendment of this group)
/// and is signed by that state's founder (§16).
fn check_amend<F: Facts + ?Sized>(
    group: &Group,
    facts: &F,
    msg: &Message,
    amend: &Amend,
) -> Result<(), Rejection> {
    let founder = if amend.prev == group.charter_id {
        group.founding.founder
    } else {
        let prev = facts
            .message(&amend.prev)
            .map_err(|_| Rejection::StoreFailed)?
            .ok_or_else(|| Rejection::BadTarget("the state it amends is not known here".into()))?;
        match prev.content {
            Content::Amend(p) if prev.group == group.id => p.founder,
            _ => {
                return Err(Rejection::BadTarget(
                    "an amendment follows the charter or an amendment of the group".into(),
                ))
            }
        }
    };
    if msg.author != founder {
        return Err(Rejection::NotFounder);
    }
    Ok(())
}

/// Rules 7s: a ticket's author may invite under the current policy, and holds the ticket
/// key (its proof verifies).
fn check_ticket(
    group: &Group,
    msg: &Message,
    ticket: &Ticket,
    is_admin: bool,
) -> Result<(), Rejection> {
    if group.charter.policy.invite == Inviters::Admins && !is_admin {
        return Err(Rejection::NotInviter);
    }
    let proof = Signature::from_slice(&ticket.proof).map_err(|_| Rejection::BadTicketProof)?;
    let bytes = Ticket::proof_bytes(&group.id, &msg.author, ticket.uses, ticket.expires);
    ticket
        .id
        .verify(Domain::Ticket, &bytes, &proof)
        .map_err(|_| Rejection::BadTicketProof)
}

/// An ad is valid when its grant is known, names the ad's signer, covers its `created_at`, is
/// not revoked, allows every targeting key it uses, and the ad is among the first
/// `daily_quota` ads of that grant on its UTC day, ordered by `(created_at, id)`.
fn check_ad<F: Facts + ?Sized>(
    group: &Group,
    facts: &F,
    msg: &Message,
    ad: &Ad,
) -> Result<(), Rejection> {
    let grant_msg = facts
        .message(&ad.grant)
        .map_err(|_| Rejection::StoreFailed)?
        .ok_or(Rejection::NoGrant)?;
    let Content::Grant(grant) = grant_msg.content else {
        return Err(Rejection::BadTarget(format!(
            "an ad's grant is a {}",
            grant_msg.content.kind()
        )));
    };
    if grant_msg.group != group.id {
        return Err(Rejection::BadTarget(
            "the grant belongs to another group".into(),
        ));
    }
    if grant.advertiser != msg.author {
        return Err(Rejection::NotAdvertiser);
    }
    if msg.created_at < grant.not_before {
        return Err(Rejection::GrantNotYetValid);
    }
    if msg.created_at > grant.not_after {
        return Err(Rejection::GrantExpired);
    }
    if facts
        .revoked(&grant_msg.id)
        .map_err(|_| Rejection::StoreFailed)?
    {
        return Err(Rejection::GrantRevoked);
    }
    if let Some(key) = ad
        .targeting
        .keys()
        .into_iter()
        .find(|k| !grant.targeting.iter().any(|g| g == k))
    {
        return Err(Rejection::TargetingNotAllowed(key.to_string()));
    }
    let rank = facts
        .ad_rank(&grant_msg.id, msg.created_at, &msg.id)
        .map_err(|_| Rejection::StoreFailed)?;
    if rank >= u64::from(grant.daily_quota) {
        return Err(Rejection::OverQuota(grant.daily_quota));
    }
    Ok(())
}

/// The rate limit (rule 7p) that applies to `msg`: the charter's, except for the charter
/// itself, which is the group rather than one of its messages.
pub(crate) fn rate_limit_of(group: &Group, msg: &Message) -> Option<RateLimit> {
    group
        .charter
        .policy
        .rate_limit
        .filter(|_| msg.id != group.charter_id)
}

/// Rules that depend on the group's state: admin rights, bans, and what a message may refer
/// to. A target this node has not seen yet is accepted (it may arrive later by sync); what a
/// message does to its target is checked again when the target is shown.
fn check_authority<F: Facts + ?Sized>(
    group: &Group,
    facts: &F,
    msg: &Message,
) -> Result<(), Rejection> {
    let is_admin = group.charter.admins.contains(&msg.author);
    if msg.content.is_admin_only() && !is_admin {
        return Err(Rejection::NotAdmin);
    }
    // Judged against what this node knows now, not against the message's own date: an
    // author chooses its `created_at`, so a banned member could otherwise post by dating
    // its messages before the ban. What was stored before the ban arrived stays (§9, §14).
    if facts
        .banned(&group.id, &msg.author)
        .map_err(|_| Rejection::StoreFailed)?
    {
        return Err(Rejection::BannedAuthor);
    }
    if let Content::Ban(ban) = &msg.content {
        if ban.member == group.charter.founder {
            return Err(Rejection::BadTarget("the founder cannot be banned".into()));
        }
    }
    if let Content::Amend(amend) = &msg.content {
        check_amend(group, facts, msg, amend)?;
    }
    match &msg.content {
        Content::Ticket(ticket) => check_ticket(group, msg, ticket, is_admin)?,
        Content::Uninvite(uninvite) if !is_admin => {
            // Not an admin: only the ticket's own inviter may withdraw it, which needs the
            // ticket known (else Ignore: it comes again by sync once the ticket is here).
            let ticket = facts
                .message(&uninvite.ticket)
                .map_err(|_| Rejection::StoreFailed)?
                .ok_or_else(|| Rejection::BadTarget("the ticket is not known here".into()))?;
            if ticket.author != msg.author {
                return Err(Rejection::NotAdmin);
            }
        }
        _ => {}
    }
    if let Content::Rekey(rekey) = &msg.content {
        // A re-key is sealed in the epoch it follows, so numbers grow one at a time and no
        // peer can make a node keep an epoch numbered 2^32 - 1.
        let parent = group.epochs.get(msg.epoch).ok_or(Rejection::UnknownEpoch {
            got: msg.epoch,
            current: group.epochs.current().tag,
        })?;
        if rekey.number != parent.number + 1 {
            return Err(Rejection::BadEpochNumber {
                got: rekey.number,
                parent: parent.number,
            });
        }
    }
    match &msg.content {
        Content::Ad(ad) => return check_ad(group, facts, msg, ad),
        Content::Advertiser(_) => {
            let granted = facts
                .granted(&group.id, &msg.author)
                .map_err(|_| Rejection::StoreFailed)?;
            return if granted {
                Ok(())
            } else {
                Err(Rejection::NoGrant)
            };
        }
        _ => {}
    }
    let Some(target_id) = msg.content.target() else {
        return Ok(());
    };
    let Some(target) = facts
        .message(&target_id)
        .map_err(|_| Rejection::StoreFailed)?
    else {
        return Ok(());
    };
    if target.group != msg.group {
        return Err(Rejection::BadTarget(
            "refers to a message of another group".into(),
        ));
    }
    let kind = target.content.kind();
    let allowed: &[&str] = match &msg.content {
        Content::Reply(_) | Content::Recommend(_) => &["post", "reply"],
        Content::Edit(_) | Content::Delete(_) => &["post", "reply", "chat"],
        Content::Remove(_) => &["post", "reply", "chat", "room", "profile"],
        Content::Chat(_) => &["room"],
        Content::Revoke(_) => &["grant"],
        Content::Admit(_) | Content::Uninvite(_) => &["ticket"],
        _ => &[],
    };
    if !allowed.contains(&kind) {
        return Err(Rejection::BadTarget(format!(
            "a {} cannot refer to a {kind}",
            msg.content.kind()
        )));
    }
    if matches!(msg.content, Content::Edit(_) | Content::Delete(_)) && target.author != msg.author {
        return Err(Rejection::NotAuthor);
    }
    if let Content::Reply(reply) = &msg.content {
        if let Some(root) = facts
            .message(&reply.root)
            .map_err(|_| Rejection::StoreFailed)?
        {
            if !matches!(root.content, Content::Post(_)) {
                return Err(Rejection::BadTarget(
                    "a thread's root must be a post".into(),
                ));
            }
        }
    }
    Ok(())
}
