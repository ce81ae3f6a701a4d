//! The node's domain state without any networking: groups, keys, the store's writer, and the
//! carrying out of decisions on incoming messages. The actor ([`crate::actor`]) drives it from
//! gossip events and user commands; the CLI drives it directly for the commands that work
//! while no node runs (`group create`, `join`); the simulator drives many of it over
//! in-memory stores.
//!
//! What to do with an incoming message is decided by the pure [`crate::core::decide`] (the
//! validation pipeline and its rules, read through [`Facts`], implemented here by the store's
//! reader); `Core` supplies the facts and the time, stores what is accepted and counts.
//!
//! - [`decide`]: the pure validation pipeline and its rules.
//! - [`rate`]: the per-author rate limit, counted on the node's own clock.
//! - [`draft`]: the checks made before this member signs a message.
//!
//! What members see is read through [`Core::view`] (the [`crate::view`] read half), which
//! the `Node` handle also holds: reads never go through `Core`.

pub mod decide;
pub mod draft;
pub mod epochs;
mod governance;
mod membership;
pub mod rate;
pub mod tickets;

use std::collections::{BTreeMap, HashMap};

use cove_crypto::{
    seal, EpochSecret, GroupId, GroupSecret, Invite, MasterSeed, MemberKey, Pseudonym, PublicKey,
    ENVELOPE_HEADER_LEN, MAX_INVITE_EPOCHS, TAG_LEN,
};

use crate::core::decide::{rate_limit_of, Decision, Facts, Judge};
use crate::core::epochs::{EpochRecord, Epochs};
use crate::core::rate::AuthorRates;
use crate::error::{Input, NodeError};
use crate::message::{
    sign, sign_in, verify_and_decode, Charter, Content, Message, MessageId, Policy, Post,
    SignedMessage, MAX_MESSAGE_BYTES,
};
use crate::store::{GroupRecord, Store, StoreError, StoreReader};
use crate::view::{Groups, View};

pub use crate::core::decide::Rejection;
pub use crate::core::governance::Change;
pub(crate) use crate::core::membership::roster;
pub use crate::core::membership::{RosterMember, MAX_DOOR_REKEYS, MAX_DOOR_SKEW_MS};

/// The epoch number whose group-secret-derived network key is the first epoch's (§2): later
/// epochs derive theirs from their own secret, and the network moves with the current epoch
/// (§15).
pub const NETWORK_EPOCH: u32 = 0;

/// Largest sealed envelope: the largest message plus the envelope header and tag.
pub const MAX_ENVELOPE_BYTES: usize = MAX_MESSAGE_BYTES + ENVELOPE_HEADER_LEN + TAG_LEN;

/// A group this node belongs to, with its derived keys.
#[derive(Debug)]
pub struct Group {
    /// Group id (derived from the secret).
    pub id: GroupId,
    /// The secret itself.
    pub secret: GroupSecret,
    /// Gossip topic (derived from the secret).
    pub topic: String,
    /// The group's governance now: the charter with every amendment of the chain applied
    /// (§16). Its name is always the charter's.
    pub charter: Charter,
    /// The charter as the founder signed it.
    pub founding: Charter,
    /// Id of the charter message.
    pub charter_id: MessageId,
    /// This member's pseudonym in the group.
    pub me: Pseudonym,
    /// This member's X25519 key in the group, which epoch secrets are wrapped to (§15).
    pub member_key: MemberKey,
    /// The key epochs this node holds.
    pub epochs: Epochs,
    /// What is persisted.
    pub record: GroupRecord,
}

/// The domain state.
#[derive(Debug)]
pub struct Core {
    store: Store,
    seed: MasterSeed,
    groups: HashMap<GroupId, Group>,
    topics: HashMap<String, GroupId>,
    accepted: u64,
    rejected: BTreeMap<&'static str, u64>,
    retention: Option<std::time::Duration>,
    /// Rule 7p: what each author may still store, on this node's clock.
    rates: AuthorRates,
    /// The read half, sharing the store and a table of the groups with every `Node` handle.
    view: View,
    /// The view's table of groups, written here when a group is added.
    table: Groups,
    /// Groups whose roster, bans, epochs or admins changed since the actor last asked
    /// ([`Core::take_membership_changed`]): what decides whether a member record, a re-key or a
    /// share is due, so that the actor's timer reads and decodes them only then.
    membership_changed: std::collections::HashSet<GroupId>,
}

impl Core {
    /// Loads every group from the store.
    pub fn new(store: Store, seed: MasterSeed) -> Result<Self, NodeError> {
        let table = Groups::default();
        let view = View::new(store.reader(), table.clone());
        let mut core = Self {
            store,
            seed,
            groups: HashMap::new(),
            topics: HashMap::new(),
            accepted: 0,
            rejected: BTreeMap::new(),
            retention: None,
            rates: AuthorRates::default(),
            view,
            table,
            membership_changed: Default::default(),
        };
        for (_, record) in core.store.groups()? {
            let charter = verify_and_decode(&record.charter)?;
            core.add_group(record, charter)?;
        }
        Ok(core)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The read half: what members see.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// All groups.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A group by id.
    pub fn group(&self, id: &GroupId) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Accepted message count and rejection counters since start.
    pub fn counters(&self) -> (u64, &BTreeMap<&'static str, u64>) {
        (self.accepted, &self.rejected)
    }

    fn add_group(
        &mut self,
        record: GroupRecord,
        charter_msg: SignedMessage,
    ) -> Result<GroupId, NodeError> {
        let secret = record.secret();
        let id = secret.id();
        let charter = check_charter(&charter_msg, &id).map_err(NodeError::BadCharter)?;
        let group = Group {
            id,
            topic: secret.topic(),
            me: self.seed.pseudonym(&id),
            member_key: MemberKey::derive(&self.seed, &id),
            epochs: Epochs::new(&secret, &record.epochs),
            charter: charter.clone(),
            founding: charter,
            charter_id: charter_msg.message.id,
            secret,
            record,
        };
        self.topics.insert(group.topic.clone(), id);
        self.groups.insert(id, group);
        self.refresh_governance(&id)?;
        self.membership_changed.insert(id);
        Ok(id)
    }

    /// Founds a group with the default [`Policy`]: a fresh secret and a charter naming this
    /// member founder and admin.
    pub fn create_group(&mut self, name: &str, now_ms: u64) -> Result<GroupId, NodeError> {
        self.create_group_with(name, Policy::default(), now_ms)
    }

    /// Founds a group whose charter carries `policy`.
    pub fn create_group_with(
        &mut self,
        name: &str,
        policy: Policy,
        now_ms: u64,
    ) -> Result<GroupId, NodeError> {
        self.found_group(GroupSecret::generate(), name, policy, now_ms)
    }

    /// Founds a group on a given `secret`, so that a seeded simulation is the same each run;
    /// a node always draws a fresh secret ([`Core::create_group_with`]).
    pub fn found_group(
        &mut self,
        secret: GroupSecret,
        name: &str,
        policy: Policy,
        now_ms: u64,
    ) -> Result<GroupId, NodeError> {
        let id = secret.id();
        let me = self.seed.pseudonym(&id);
        let charter = Content::Charter(Charter {
            name: name.trim().to_string(),
            founder: me.public(),
            admins: vec![me.public()],
            policy,
        });
        let signed = sign(&me, &id, now_ms, charter)?;
        let record = GroupRecord {
            secret: *secret.as_bytes(),
            name: name.trim().to_string(),
            charter: signed.bytes.clone(),
            bootstrap: Vec::new(),
            joined_at: now_ms,
            epochs: Vec::new(),
        };
        self.save_group(record, signed, now_ms)
    }

    /// Joins the group of a decoded invite. Joining a group twice is harmless and returns its
    /// id; new bootstrap addresses are remembered.
    pub fn join(&mut self, invite: &Invite, now_ms: u64) -> Result<GroupId, NodeError> {
        let id = invite.group_secret.id();
        let charter =
            verify_and_decode(&invite.charter).map_err(|e| NodeError::BadCharter(e.to_string()))?;
        check_charter(&charter, &id).map_err(NodeError::BadCharter)?;
        if let Some(group) = self.groups.get_mut(&id) {
            for addr in &invite.addrs {
                if !group.record.bootstrap.contains(addr) {
                    group.record.bootstrap.push(addr.clone());
                }
            }
            for (number, secret) in &invite.epochs {
                group.add_epoch(*number, secret);
            }
            self.store.put_group(&id, &group.record)?;
            return Ok(id);
        }
        let record = GroupRecord {
            secret: *invite.group_secret.as_bytes(),
            name: match &charter.message.content {
                Content::Charter(c) => c.name.clone(),
                _ => unreachable!("check_charter accepted it"),
            },
            charter: invite.charter.clone(),
            bootstrap: invite.addrs.clone(),
            joined_at: now_ms,
            epochs: invite
                .epochs
                .iter()
                .map(|(number, secret)| EpochRecord {
                    number: *number,
                    secret: *secret.as_bytes(),
                })
                .collect(),
        };
        self.save_group(record, charter, now_ms)
    }

    fn save_group(
        &mut self,
        record: GroupRecord,
        charter: SignedMessage,
        now_ms: u64,
    ) -> Result<GroupId, NodeError> {
        let id = record.secret().id();
        self.store.put_group(&id, &record)?;
        self.store.insert_message(&charter, now_ms)?;
        self.add_group(record, charter)
    }

    /// Mints an invite to `group` that lists `addrs` as bootstrap peers.
    pub fn invite(
        &self,
        group: &GroupId,
        addrs: Vec<String>,
        expires_at_secs: u64,
    ) -> Result<String, NodeError> {
        let group = self.group_or_err(group)?;
        let epochs = &group.record.epochs;
        Ok(Invite {
            group_secret: group.secret.clone(),
            charter: group.record.charter.clone(),
            addrs,
            expires_at: expires_at_secs,
            // The newest ones, so that the new member reads the current epoch at once.
            epochs: epochs[epochs.len().saturating_sub(MAX_INVITE_EPOCHS)..]
                .iter()
                .map(|e| (e.number, EpochSecret::from_bytes(e.secret)))
                .collect(),
        }
        .encode())
    }

    pub(crate) fn group_or_err(&self, id: &GroupId) -> Result<&Group, NodeError> {
        self.groups
            .get(id)
            .ok_or_else(|| NodeError::UnknownGroup(id.to_string()))
    }

    /// Signs and stores an own message, and queues it in the outbox until a peer takes it.
    /// Returns the message and its sealed envelope. The caller flushes before reporting success.
    pub fn compose(
        &mut self,
        group: &GroupId,
        content: Content,
        now_ms: u64,
    ) -> Result<(SignedMessage, Vec<u8>), NodeError> {
        self.compose_as(group, None, content, now_ms)
    }

    /// Like [`Core::compose`], signed by `signer` (the advertiser key) instead of this
    /// member's pseudonym when given. The message passes the same rules as a received one
    /// before it is stored, so a node never publishes what others would refuse.
    pub fn compose_as(
        &mut self,
        group: &GroupId,
        signer: Option<&Pseudonym>,
        content: Content,
        now_ms: u64,
    ) -> Result<(SignedMessage, Vec<u8>), NodeError> {
        let g = self.group_or_err(group)?;
        // A re-key is sealed in the epoch it follows (§15), even when this node already holds
        // the new one (the second chunk of a large roster); everything else in the current.
        let epoch = match &content {
            Content::Rekey(r) => g.epochs.preceding(r.number),
            _ => Some(g.epochs.current()),
        }
        .ok_or_else(|| NodeError::invalid(Input::Message, "no epoch to seal this re-key in"))?;
        let signed = sign_in(signer.unwrap_or(&g.me), group, epoch.tag, now_ms, content)?;
        self.judge(now_ms).own(g, &signed.message).map_err(|r| {
            NodeError::invalid(Input::Message, format!("the group would refuse this: {r}"))
        })?;
        let envelope = seal(&epoch.content, &g.topic, epoch.tag, &signed.bytes);
        self.store.insert_own(&signed, now_ms)?;
        self.record_rate(&signed.message, now_ms);
        self.applied(&signed.message)?;
        Ok((signed, envelope))
    }

    /// A post.
    pub fn compose_post(
        &mut self,
        group: &GroupId,
        title: Option<String>,
        text: String,
        now_ms: u64,
    ) -> Result<(SignedMessage, Vec<u8>), NodeError> {
        self.compose(group, Content::Post(Post { title, text }), now_ms)
    }

    /// Seals a stored message again (fresh nonce) for re-publication.
    pub fn reseal(&self, id: &MessageId) -> Result<Option<(String, Vec<u8>)>, NodeError> {
        let Some(stored) = self.store.message(id)? else {
            return Ok(None);
        };
        let msg = &stored.signed.message;
        let Some(g) = self.groups.get(&msg.group) else {
            return Ok(None);
        };
        // In the epoch its body names: the one it was signed for.
        let Some(epoch) = g.epochs.get(msg.epoch) else {
            return Ok(None);
        };
        let envelope = seal(&epoch.content, &g.topic, epoch.tag, &stored.signed.bytes);
        Ok(Some((g.topic.clone(), envelope)))
    }

    /// The validation pipeline for one gossip payload: [`Core::admit`], then
    /// [`Core::commit`]. `Ok` means: stored, forward it.
    pub fn ingest(&mut self, topic: &str, envelope: &[u8], now_ms: u64) -> Decision {
        let signed = self.admit(topic, envelope, now_ms)?;
        self.commit(&signed, now_ms)?;
        Ok(signed)
    }

    /// Decides on one gossip payload without storing it ([`Judge::gossip`]). `Ok` means the
    /// message may be forwarded; [`Core::commit`] stores it. The node reports its verdict to
    /// gossipsub between the two, so that forwarding does not wait for the disk. Nothing may
    /// be ingested in between, or the next decision would read facts missing this message.
    /// Refusals are counted.
    pub fn admit(&mut self, topic: &str, envelope: &[u8], now_ms: u64) -> Decision {
        self.admit_opened(topic, envelope, None, now_ms)
    }

    /// What opens and verifies a gossip payload on `topic` on another thread
    /// ([`decide::Opener`]); `None` when [`Core::admit`] decides it without opening it.
    pub fn opener(&self, topic: &str, envelope: &[u8]) -> Option<decide::Opener> {
        decide::Opener::of(self.group_by_topic(topic), envelope)
    }

    /// [`Core::admit`], with the payload already opened and verified by an [`Core::opener`]
    /// ([`Judge::gossip_opened`]): the same decision, without the AEAD and the signature.
    pub fn admit_opened(
        &mut self,
        topic: &str,
        envelope: &[u8],
        opened: Option<decide::Opened>,
        now_ms: u64,
    ) -> Decision {
        let decision =
            self.judge(now_ms)
                .gossip_opened(self.group_by_topic(topic), envelope, opened);
        self.counted(decision)
    }

    /// The same decision from decoding on, for a message in signed form as history sync
    /// delivers it ([`Judge::synced`]), then [`Core::commit`].
    pub fn ingest_signed(&mut self, group: &GroupId, bytes: &[u8], now_ms: u64) -> Decision {
        self.ingest_verified(group, decide::verify(bytes), now_ms)
    }

    /// [`Core::ingest_signed`] for a message [`decide::verify`] already decoded and verified
    /// (history sync does that off the actor, page by page).
    pub fn ingest_verified(
        &mut self,
        group: &GroupId,
        verified: decide::Verified,
        now_ms: u64,
    ) -> Decision {
        let decision = self
            .judge(now_ms)
            .synced_verified(self.groups.get(group), verified);
        let signed = self.counted(decision)?;
        self.commit(&signed, now_ms)?;
        Ok(signed)
    }

    /// Stores a message [`Core::admit`] accepted, and counts it.
    pub fn commit(&mut self, signed: &SignedMessage, now_ms: u64) -> Result<(), Rejection> {
        let result = match self.store.insert_message(signed, now_ms) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Rejection::Duplicate),
            Err(e) => {
                // Not the sender's fault: do not penalise.
                tracing::error!(error = %e, "store failed while ingesting");
                Err(Rejection::StoreFailed)
            }
        };
        match &result {
            Ok(()) => {
                self.accepted += 1;
                self.record_rate(&signed.message, now_ms);
                if let Err(e) = self.applied(&signed.message) {
                    tracing::error!(error = %e, "could not apply a stored message to the group");
                }
            }
            Err(r) => self.count(r.reason()),
        }
        result
    }

    /// What a stored message changes besides the store: a re-key may bring a new epoch
    /// (§15), an amendment new governance (§16).
    fn applied(&mut self, msg: &Message) -> Result<(), NodeError> {
        if matches!(
            msg.content,
            Content::Member(_) | Content::Ban(_) | Content::Rekey(_) | Content::Amend(_)
        ) {
            self.membership_changed.insert(msg.group);
        }
        match msg.content {
            Content::Rekey(_) => self.take_epoch(msg).map(drop),
            Content::Amend(_) => self.refresh_governance(&msg.group),
            _ => Ok(()),
        }
    }

    /// Whether `group`'s membership changed since the last call, which forgets it. A group
    /// is changed when it is loaded, and when a member record, ban, re-key or amendment of it
    /// is stored.
    pub fn take_membership_changed(&mut self, group: &GroupId) -> bool {
        self.membership_changed.remove(group)
    }

    /// Marks `group`'s membership changed, so that a membership pass that failed runs again.
    pub fn mark_membership_changed(&mut self, group: &GroupId) {
        self.membership_changed.insert(*group);
    }

    /// What a decision at `now_ms` reads: the store, the authors' allowances, the clock.
    fn judge(&self, now_ms: u64) -> Judge<'_, StoreReader> {
        Judge {
            facts: &self.store,
            rates: &self.rates,
            now_ms,
            retention_cutoff: self.retention_cutoff(now_ms),
        }
    }

    /// Counts a refusal under its reason; passes the decision on.
    fn counted(&mut self, decision: Decision) -> Decision {
        decision.inspect_err(|r| self.count(r.reason()))
    }

    /// Counts a stored message against its author's allowance (rule 7p).
    fn record_rate(&mut self, msg: &crate::message::Message, now_ms: u64) {
        let Some(group) = self.groups.get(&msg.group) else {
            return;
        };
        if let Some(limit) = rate_limit_of(group, msg) {
            self.rates
                .record(&group.id, msg.author.as_bytes(), &limit, now_ms);
        }
    }

    /// Counts one refusal (validation or sync) under `reason`.
    pub fn count(&mut self, reason: &'static str) {
        *self.rejected.entry(reason).or_default() += 1;
    }

    /// Keep only messages created in the last `retention` (None: keep everything).
    pub fn set_retention(&mut self, retention: Option<std::time::Duration>) {
        self.retention = retention;
    }

    /// Messages created before this time (unix ms) are outside the retention window.
    pub fn retention_cutoff(&self, now_ms: u64) -> u64 {
        self.retention
            .map(|r| now_ms.saturating_sub(r.as_millis() as u64))
            .unwrap_or(0)
    }

    /// Deletes messages outside the retention window; returns how many.
    pub fn prune(&self, now_ms: u64) -> Result<usize, NodeError> {
        let cutoff = self.retention_cutoff(now_ms);
        if cutoff == 0 {
            return Ok(0);
        }
        let mut deleted = 0;
        for group in self.groups.values() {
            deleted += self.store.prune(&group.id, cutoff, &group.charter_id)?;
        }
        Ok(deleted)
    }

    /// The group whose gossip topic is `topic`.
    pub fn group_by_topic(&self, topic: &str) -> Option<&Group> {
        self.topics.get(topic).and_then(|id| self.groups.get(id))
    }

    /// Mutes or unmutes a pseudonym for this member only.
    pub fn set_muted(&self, group: &GroupId, member: &str, muted: bool) -> Result<(), NodeError> {
        self.view.group_or_err(group)?;
        let member = crate::view::social::parse_member(member)?;
        Ok(self.store.set_muted(group, &member, muted)?)
    }

    /// Adds and removes private interests (never sent anywhere); returns the list.
    pub fn set_interests(
        &self,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<String>, NodeError> {
        if let Some(key) = add.iter().find(|key| {
            key.trim().is_empty()
                || key.contains(char::is_whitespace)
                || key.len() > crate::message::MAX_TARGETING_KEY_BYTES
        }) {
            return Err(NodeError::invalid(
                Input::Interest,
                format!(
                    "interest {key:?} must be a short key without spaces, e.g. interest:coffee"
                ),
            ));
        }
        for key in add {
            self.store.set_interest(key, true)?;
        }
        for key in remove {
            self.store.set_interest(key, false)?;
        }
        Ok(self.store.interests()?)
    }

    /// Counts one showing of each ad in `ads` today, for the daily cap of
    /// [`crate::view::ads::AD_DAILY_CAP`].
    pub fn ads_shown(&self, ads: &[MessageId], now_ms: u64) -> Result<(), NodeError> {
        for ad in ads {
            self.store.count_ad_view(ad, now_ms)?;
        }
        Ok(())
    }
}

impl Facts for StoreReader {
    fn contains(&self, id: &MessageId) -> Result<bool, StoreError> {
        StoreReader::contains(self, id)
    }

    fn message(&self, id: &MessageId) -> Result<Option<Message>, StoreError> {
        Ok(StoreReader::message(self, id)?.map(|m| m.signed.message))
    }

    fn banned(&self, group: &GroupId, member: &PublicKey) -> Result<bool, StoreError> {
        Ok(self.banned_since(group, member)?.is_some())
    }

    fn granted(&self, group: &GroupId, advertiser: &PublicKey) -> Result<bool, StoreError> {
        Ok(self.grants(group)?.iter().any(|g| {
            matches!(&g.signed.message.content, Content::Grant(grant) if grant.advertiser == *advertiser)
        }))
    }

    fn revoked(&self, grant: &MessageId) -> Result<bool, StoreError> {
        StoreReader::revoked(self, grant)
    }

    fn ad_rank(
        &self,
        grant: &MessageId,
        created_at: u64,
        id: &MessageId,
    ) -> Result<u64, StoreError> {
        StoreReader::ad_rank(self, grant, created_at, id)
    }
}

/// A charter message is valid for `group` when it is addressed to it, is a charter, and is
/// signed by the founder it names.
fn check_charter(signed: &SignedMessage, group: &GroupId) -> Result<Charter, String> {
    let msg = &signed.message;
    let Content::Charter(charter) = &msg.content else {
        return Err(format!(
            "is a {} message, not a charter",
            msg.content.kind()
        ));
    };
    if msg.group != *group {
        return Err("belongs to another group".into());
    }
    if msg.author != charter.founder {
        return Err("is not signed by the founder it names".into());
    }
    Ok(charter.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::RateLimit;
    use crate::testing::{each_store, Stores};

    /// ant founds "club" at t = 1 s; bat joins at t = 2 s. Returns ant, bat, the group and
    /// its topic.
    fn club(s: &mut Stores) -> (Core, Core, GroupId, String) {
        let mut ant = s.core(1);
        let mut bat = s.core(2);
        let group = ant.create_group("club", 1_000).unwrap();
        let invite = Invite::decode(&ant.invite(&group, vec![], 10_000).unwrap(), 1).unwrap();
        assert_eq!(bat.join(&invite, 2_000).unwrap(), group);
        let topic = ant.group(&group).unwrap().topic.clone();
        (ant, bat, group, topic)
    }

    #[test]
    fn founder_and_joiner_exchange_a_post() {
        each_store(|s| {
            let (mut ant, mut bat, group, topic) = club(s);
            let (signed, envelope) = ant.compose_post(&group, None, "hi".into(), 3_000).unwrap();
            assert_eq!(bat.ingest(&topic, &envelope, 3_001).unwrap(), signed);
            assert_eq!(
                bat.ingest(&topic, &envelope, 3_002),
                Err(Rejection::Duplicate)
            );
            let feed = bat.view().feed(&group, 10).unwrap();
            assert_eq!(feed.len(), 1);
            assert_eq!(feed[0].text, "hi");
            assert!(!feed[0].mine);
            assert!(ant.view().feed(&group, 10).unwrap()[0].mine);
        });
    }

    #[test]
    fn messages_opened_ahead_are_decided_in_arrival_order() {
        // Scenario: bat opens and verifies ant's post, a copy of it sealed again (another
        // envelope, the same message) and a tampered copy before deciding any (as the actor's
        // tasks do), then decides them in order. Assert: the decisions are those of `admit`:
        // the post is accepted, the copy, decided after the post is stored, is a duplicate,
        // the tampered copy does not open.
        each_store(|s| {
            let (mut ant, mut bat, group, topic) = club(s);
            let (post, post_env) = ant.compose_post(&group, None, "hi".into(), 3_000).unwrap();
            let (_, copy_env) = ant.reseal(&post.message.id).unwrap().unwrap();
            assert_ne!(copy_env, post_env);
            let mut tampered = post_env.clone();
            *tampered.last_mut().unwrap() ^= 1;
            let mut opened = [&post_env, &copy_env, &tampered]
                .map(|e| bat.opener(&topic, e).unwrap().open(e))
                .into_iter();

            let admitted = bat
                .admit_opened(&topic, &post_env, opened.next(), 3_200)
                .unwrap();
            assert_eq!(admitted, post);
            bat.commit(&admitted, 3_200).unwrap();
            assert_eq!(
                bat.admit_opened(&topic, &copy_env, opened.next(), 3_201),
                Err(Rejection::Duplicate)
            );
            assert!(matches!(
                bat.admit_opened(&topic, &tampered, opened.next(), 3_202),
                Err(Rejection::Undecryptable(_))
            ));
            // On no group's topic there is nothing to open with; the decision says why.
            assert!(bat.opener("elsewhere", &post_env).is_none());
            assert_eq!(
                bat.admit_opened("elsewhere", &post_env, None, 3_203),
                Err(Rejection::UnknownTopic)
            );
        });
    }

    #[test]
    fn admit_judges_without_storing_and_commit_stores_once() {
        each_store(|s| {
            let (mut ant, mut bat, group, topic) = club(s);
            let (signed, envelope) = ant.compose_post(&group, None, "hi".into(), 3_000).unwrap();
            let accepted_before = bat.counters().0;

            let admitted = bat.admit(&topic, &envelope, 3_001).unwrap();
            assert_eq!(admitted, signed);
            assert!(!bat.store().contains(&signed.message.id).unwrap());
            assert!(bat.view().feed(&group, 10).unwrap().is_empty());
            assert_eq!(
                bat.counters().0,
                accepted_before,
                "counted only once stored"
            );

            bat.commit(&admitted, 3_001).unwrap();
            assert!(bat.store().contains(&signed.message.id).unwrap());
            assert_eq!(bat.counters().0, accepted_before + 1);
            // Once stored, a copy is refused before the rules, and a second commit stores nothing.
            assert_eq!(
                bat.admit(&topic, &envelope, 3_002),
                Err(Rejection::Duplicate)
            );
            assert_eq!(bat.commit(&admitted, 3_002), Err(Rejection::Duplicate));
            assert_eq!(bat.view().feed(&group, 10).unwrap().len(), 1);
            assert_eq!(bat.counters().1.get("duplicate"), Some(&2));
        });
    }

    /// ant founds "club" with `policy`, bat joins; mallory is a third pseudonym that signs
    /// directly (its own node's compose would refuse what it tries). Returns ant, bat, the
    /// group, its topic and a sealer of mallory's posts `(created_at, text)`.
    #[allow(clippy::type_complexity)]
    fn club_and_mallory(
        s: &mut Stores,
        policy: Policy,
    ) -> (
        Core,
        Core,
        GroupId,
        String,
        impl Fn(u64, &str) -> (SignedMessage, Vec<u8>),
    ) {
        let mut ant = s.core(1);
        let mut bat = s.core(2);
        let group = ant.create_group_with("club", policy, 1_000).unwrap();
        let invite = Invite::decode(&ant.invite(&group, vec![], 100_000).unwrap(), 1).unwrap();
        bat.join(&invite, 2_000).unwrap();
        let g = bat.group(&group).unwrap();
        let (topic, key) = (g.topic.clone(), g.secret.content_key(0));
        let mallory = MasterSeed::from_bytes([3; 32]).pseudonym(&group);
        let sealing_topic = topic.clone();
        let post = move |at: u64, text: &str| {
            let content = Content::Post(Post {
                title: None,
                text: text.into(),
            });
            let signed = sign(&mallory, &group, at, content).unwrap();
            let envelope = seal(&key, &sealing_topic, 0, &signed.bytes);
            (signed, envelope)
        };
        (ant, bat, group, topic, post)
    }

    #[test]
    fn rate_limit_counts_on_the_nodes_clock_whatever_created_at_claims() {
        each_store(|s| {
            let limit = "3/10s".parse::<RateLimit>().unwrap();
            let policy = Policy {
                rate_limit: Some(limit),
                ..Policy::default()
            };
            let (mut ant, mut bat, group, topic, mallory) = club_and_mallory(s, policy);
            // Five posts dated in five different past windows, all arriving at t = 60 s: the
            // first three are stored, then the author's allowance is spent (issue 12, hole 2).
            let now = 60_000;
            let envelopes: Vec<_> = (0..5)
                .map(|i| mallory(10_000 * (i + 1), &format!("spam {i}")).1)
                .collect();
            for envelope in &envelopes[..3] {
                bat.ingest(&topic, envelope, now).unwrap();
            }
            for envelope in &envelopes[3..] {
                assert_eq!(
                    bat.ingest(&topic, envelope, now),
                    Err(Rejection::RateLimited(limit))
                );
            }
            assert!(!Rejection::RateLimited(limit).is_penalised());
            // The sync path spends the same allowance.
            let (synced, _) = mallory(5_000, "old, by sync");
            assert_eq!(
                bat.ingest_signed(&group, &synced.bytes, now),
                Err(Rejection::RateLimited(limit))
            );
            // A replay of an accepted message is a duplicate, not a rate-limit hit.
            assert_eq!(
                bat.ingest(&topic, &envelopes[0], now),
                Err(Rejection::Duplicate)
            );
            // 3 per 10 s refill one message every 3.34 s of the node's own time.
            assert_eq!(
                bat.ingest(&topic, &envelopes[3], now + 3_000),
                Err(Rejection::RateLimited(limit))
            );
            bat.ingest(&topic, &envelopes[3], now + 3_400).unwrap();
            bat.ingest_signed(&group, &synced.bytes, now + 10_000)
                .unwrap();
            assert_eq!(bat.rejected.get("rate_limited").copied(), Some(4));
            // The member's own node refuses to compose past the limit instead of publishing
            // what every other member would drop.
            for i in 0..3 {
                ant.compose_post(&group, None, format!("ant {i}"), 40_000 + i)
                    .unwrap();
            }
            let err = ant
                .compose_post(&group, None, "one too many".into(), 40_010)
                .unwrap_err();
            assert!(err.to_string().contains("rate limit of 3/10s"), "{err}");
        });
    }

    #[test]
    fn a_ban_refuses_every_later_message_whatever_its_date_and_hides_no_history() {
        each_store(|s| {
            let (mut ant, mut bat, group, topic, mallory) = club_and_mallory(s, Policy::default());
            let (before, envelope) = mallory(3_000, "before the ban");
            bat.ingest(&topic, &envelope, 3_001).unwrap();
            // The founder bans mallory at t = 5 s; bat learns of it.
            let ban = ant
                .ban_content(
                    &group,
                    &mallory(0, "who").0.message.author.to_string(),
                    true,
                )
                .unwrap();
            let (_, ban_envelope) = ant.compose(&group, ban, 5_000).unwrap();
            bat.ingest(&topic, &ban_envelope, 5_001).unwrap();
            // A post dated 1 ms before the ban, written after it (issue 12, hole 1): refused on
            // the gossip path and on the sync path, and not penalised (the relay may not know
            // the ban yet).
            let (backdated, envelope) = mallory(4_999, "backdated");
            assert_eq!(
                bat.ingest(&topic, &envelope, 6_000),
                Err(Rejection::BannedAuthor)
            );
            assert_eq!(
                bat.ingest_signed(&group, &backdated.bytes, 6_000),
                Err(Rejection::BannedAuthor)
            );
            assert!(!Rejection::BannedAuthor.is_penalised());
            // What was accepted before the ban stays visible.
            let feed: Vec<String> = bat
                .view()
                .feed(&group, 10)
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect();
            assert_eq!(feed, vec![before.message.id.to_string()]);
        });
    }

    #[test]
    fn a_ban_dated_in_the_past_hides_no_earlier_post() {
        each_store(|s| {
            // Issue 12, hole 3: a ban with created_at = 1 used to hide every earlier post.
            let (ant, mut bat, group, topic, mallory) = club_and_mallory(s, Policy::default());
            let posts: Vec<_> = (0..3)
                .map(|i| mallory(3_000 + i, &format!("post {i}")))
                .collect();
            for (_, envelope) in &posts {
                bat.ingest(&topic, envelope, 4_000).unwrap();
            }
            let author = posts[0].0.message.author.to_string();
            let ban = ant.ban_content(&group, &author, true).unwrap();
            let founder = &ant.group(&group).unwrap().me;
            let signed = sign(founder, &group, 1, ban).unwrap();
            let key = bat.group(&group).unwrap().secret.content_key(0);
            bat.ingest(&topic, &seal(&key, &topic, 0, &signed.bytes), 5_000)
                .unwrap();
            assert_eq!(bat.view().feed(&group, 10).unwrap().len(), 3);
        });
    }

    #[test]
    fn rate_limit_text_parses_and_rejects_nonsense() {
        assert_eq!(
            "20/1m".parse::<RateLimit>().unwrap(),
            RateLimit {
                max_messages: 20,
                window_secs: 60
            }
        );
        assert!(Policy::with_rate_limit(Some("none"))
            .unwrap()
            .rate_limit
            .is_none());
        for bad in ["", "10", "0/10s", "10/0s", "x/10s", "10/2d", "10/ten"] {
            let err = bad.parse::<RateLimit>().unwrap_err();
            assert!(
                err.contains("MAX/WINDOW") || err.contains("window"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn pipeline_rejects_by_reason() {
        each_store(|s| {
            let (mut ant, mut bat, group, topic) = club(s);

            let garbage = bat.ingest(&topic, b"not an envelope at all, just bytes", 5);
            assert!(matches!(garbage, Err(Rejection::Undecryptable(_))));

            let wrong_key = GroupSecret::from_bytes([9; 32]).content_key(0);
            let (signed, _) = ant.compose_post(&group, None, "x".into(), 3_000).unwrap();
            let forged = seal(&wrong_key, &topic, 0, &signed.bytes);
            assert!(matches!(
                bat.ingest(&topic, &forged, 5),
                Err(Rejection::Undecryptable(_))
            ));

            let (_, future) = ant
                .compose_post(&group, None, "later".into(), 10_000_000)
                .unwrap();
            assert!(matches!(
                bat.ingest(&topic, &future, 1_000),
                Err(Rejection::FromFuture { .. })
            ));
            // A relay whose clock is behind forwards it in good faith: not the relay's fault.
            assert!(!Rejection::FromFuture { ahead_ms: 1 }.is_penalised());
            // Which ad of an advertiser goes over its quota depends on arrival order.
            assert!(!Rejection::OverQuota(3).is_penalised());

            let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
            assert_eq!(
                bat.ingest(&topic, &huge, 5),
                Err(Rejection::Oversized(huge.len()))
            );
            assert_eq!(
                bat.ingest("cove/1/other", b"x", 5),
                Err(Rejection::UnknownTopic)
            );

            let (_, counters) = bat.counters();
            assert_eq!(counters["undecryptable"], 2);
            assert_eq!(counters["from_future"], 1);
            assert_eq!(
                bat.view().feed(&group, 10).unwrap().len(),
                0,
                "nothing stored"
            );
        });
    }

    #[test]
    fn an_envelope_naming_another_epoch_is_refused() {
        each_store(|s| {
            // Scenario: a member seals a valid post under content keys of epochs the node does
            // not hold (derivable by anyone holding the group secret). Assert: refused as
            // unknown_epoch before decrypting, not penalised (a member may lack a new epoch's
            // key for a while), counted, and not stored; no key is derived for the named
            // epoch.
            let (mut ant, mut bat, group, topic) = club(s);
            let (signed, _) = ant.compose_post(&group, None, "x".into(), 3_000).unwrap();
            let secret = &ant.group(&group).unwrap().secret;
            for epoch in [1, u32::MAX] {
                let envelope = seal(&secret.content_key(epoch), &topic, epoch, &signed.bytes);
                let refused = bat.ingest(&topic, &envelope, 3_001).unwrap_err();
                assert_eq!(
                    refused,
                    Rejection::UnknownEpoch {
                        got: epoch,
                        current: 0
                    }
                );
                assert_eq!(refused.reason(), "unknown_epoch");
                assert!(!refused.is_penalised());
            }
            assert_eq!(bat.counters().1["unknown_epoch"], 2);
            assert!(!bat.store().contains(&signed.message.id).unwrap());
            // The same message under the current epoch is accepted.
            let envelope = seal(&secret.content_key(0), &topic, 0, &signed.bytes);
            assert_eq!(bat.ingest(&topic, &envelope, 3_001), Ok(signed));
        });
    }

    #[test]
    fn retention_ignores_and_prunes_old_messages_but_keeps_the_charter() {
        each_store(|s| {
            let mut ant = s.core(1);
            let mut bat = s.core(2);
            let day = 86_400_000;
            let group = ant.create_group("club", 1_000).unwrap();
            let invite = Invite::decode(&ant.invite(&group, vec![], 10_000).unwrap(), 1).unwrap();
            bat.join(&invite, 2_000).unwrap();
            let (old, _) = ant
                .compose_post(&group, None, "old".into(), 5 * day)
                .unwrap();
            let (new, _) = ant
                .compose_post(&group, None, "new".into(), 9 * day)
                .unwrap();
            bat.set_retention(Some(std::time::Duration::from_millis(2 * day)));
            let now = 10 * day;
            assert_eq!(bat.retention_cutoff(now), 8 * day);
            assert_eq!(
                bat.ingest_signed(&group, &old.bytes, now),
                Err(Rejection::Expired)
            );
            assert!(bat.ingest_signed(&group, &new.bytes, now).is_ok());
            ant.set_retention(Some(std::time::Duration::from_millis(2 * day)));
            assert_eq!(ant.prune(now).unwrap(), 1, "only the old post goes");
            let charter = ant.group(&group).unwrap().charter_id;
            assert!(ant.store().contains(&charter).unwrap());
            assert_eq!(ant.view().feed(&group, 10).unwrap().len(), 1);
        });
    }

    #[test]
    fn groups_resolve_by_name_and_id_prefix() {
        each_store(|s| {
            let mut ant = s.core(1);
            let a = ant.create_group("club", 1).unwrap();
            let b = ant.create_group("team", 1).unwrap();
            assert_eq!(ant.view().resolve_group("club").unwrap(), a);
            assert_eq!(ant.view().resolve_group(&b.to_string()).unwrap(), b);
            assert_eq!(ant.view().resolve_group(&b.to_string()[..10]).unwrap(), b);
            assert!(matches!(
                ant.view().resolve_group("nope"),
                Err(NodeError::UnknownGroup(_))
            ));
            ant.create_group("club", 1).unwrap();
            assert!(matches!(
                ant.view().resolve_group("club"),
                Err(NodeError::AmbiguousGroup { .. })
            ));
        });
    }

    #[test]
    fn groups_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let mut core = Core::new(
                Store::open(dir.path()).unwrap(),
                MasterSeed::from_bytes([1; 32]),
            )
            .unwrap();
            core.create_group("club", 1).unwrap()
        };
        let core = Core::new(
            Store::open(dir.path()).unwrap(),
            MasterSeed::from_bytes([1; 32]),
        )
        .unwrap();
        assert_eq!(core.group(&id).unwrap().charter.name, "club");
    }
}
