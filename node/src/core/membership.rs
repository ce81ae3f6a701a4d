//! Membership over time (PROTOCOL.md §15): each member's `member` record, the roster it
//! makes, and re-keying, which gives a fresh epoch secret to the roster and to nobody else.

use std::collections::BTreeSet;

use cove_crypto::{Domain, EpochSecret, GroupId, PublicKey, Rekeying};

use crate::core::epochs::EpochRecord;
use crate::core::tickets::Refusal;
use crate::core::{Core, Group};
use crate::error::{Input, NodeError};
use crate::message::{Content, Member, Message, Package, Rekey, MAX_PACKAGES};
use crate::sync::{EpochsRequest, ErrorCode};

/// One member of a group's roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterMember {
    /// The member's pseudonym.
    pub member: PublicKey,
    /// Its X25519 key in the group (from its `member` record).
    pub key: [u8; 32],
    /// `created_at` of its member record: when it joined, by its own clock.
    pub since: u64,
}

impl Group {
    /// Keeps a later epoch's secret; `false` when it is held already (or the group is full).
    pub(crate) fn add_epoch(&mut self, number: u32, secret: &EpochSecret) -> bool {
        if !self.epochs.add(number, secret) {
            return false;
        }
        self.record.epochs.push(EpochRecord {
            number,
            secret: *secret.as_bytes(),
        });
        true
    }

    /// The pre-shared key of the group's network now: its current epoch's (§15).
    pub fn network_key(&self) -> cove_crypto::NetworkKey {
        self.epochs.current().network.clone()
    }
}

/// How far a door request's `at` may lie from the door's clock (§15).
pub const MAX_DOOR_SKEW_MS: u64 = 5 * 60 * 1000;
/// Most `rekey` messages one door answer carries (each at most one message's size; the
/// page's byte limit applies too).
pub const MAX_DOOR_REKEYS: usize = 64;

impl Core {
    /// This member's request at the door whose peer id is `door` (its bytes) for the re-keys
    /// of `group` from its current epoch on (§15), signed now.
    pub fn epochs_request(
        &self,
        group: &GroupId,
        door: &[u8],
        now_ms: u64,
    ) -> Result<EpochsRequest, NodeError> {
        let g = self.group_or_err(group)?;
        let mut request = EpochsRequest {
            group: *group.as_bytes(),
            member: *g.me.public().as_bytes(),
            epoch: g.epochs.current().number,
            at: now_ms,
            sig: [0; 64],
        };
        request.sig = (g.me)
            .sign(Domain::DoorEpochs, &request.signed_bytes(door))
            .to_bytes();
        Ok(request)
    }

    /// The door's side (§15): if `request` is a roster member's, signed for this door (`door`,
    /// its peer id's bytes) within [`MAX_DOOR_SKEW_MS`] of `now_ms`, the stored `rekey`
    /// messages of `group` of its epoch's number and after, by number; else why not.
    pub fn missed_rekeys(
        &self,
        group: &GroupId,
        request: &EpochsRequest,
        door: &[u8],
        now_ms: u64,
    ) -> Result<Vec<Vec<u8>>, Refusal> {
        let refuse = |why: &str| Refusal::new(ErrorCode::Unauthorized, why);
        let g = (self.groups.get(group))
            .filter(|g| g.id.as_bytes() == &request.group)
            .ok_or_else(|| refuse("not this door's group"))?;
        let member = PublicKey::from_bytes(request.member).map_err(|_| refuse("bad member key"))?;
        let sig = cove_crypto::Signature::from_bytes(request.sig);
        member
            .verify(Domain::DoorEpochs, &request.signed_bytes(door), &sig)
            .map_err(|_| refuse("the signature does not verify"))?;
        if request.at.abs_diff(now_ms) > MAX_DOOR_SKEW_MS {
            return Err(refuse("the request is not from now"));
        }
        let busy = |e: NodeError| Refusal::new(ErrorCode::Busy, e.to_string());
        if !self
            .roster(group)
            .map_err(busy)?
            .iter()
            .any(|m| m.member == member)
        {
            return Err(refuse("not on the roster (banned, or no member record)"));
        }
        let mut epochs: Vec<(u32, u32)> = (g.epochs.tags().into_iter())
            .filter_map(|tag| g.epochs.get(tag).map(|e| (e.number, e.tag)))
            .filter(|(number, _)| *number >= request.epoch.max(1))
            .collect();
        epochs.sort_unstable();
        let (mut page, mut size) = (Vec::new(), 0);
        for (_, tag) in epochs {
            for stored in self.store.rekeys(group, tag).map_err(|e| busy(e.into()))? {
                let bytes = stored.signed.bytes;
                size += bytes.len();
                if page.len() >= MAX_DOOR_REKEYS || size > crate::sync::MAX_PAGE_BYTES {
                    return Ok(page);
                }
                page.push(bytes);
            }
        }
        Ok(page)
    }

    /// If `msg` is a re-key with a package for this member, opens it and keeps the new epoch
    /// (in memory and in the group's record). Returns whether a new epoch was kept.
    pub(crate) fn take_epoch(&mut self, msg: &Message) -> Result<bool, NodeError> {
        let Content::Rekey(rekey) = &msg.content else {
            return Ok(false);
        };
        let Some(g) = self.groups.get_mut(&msg.group) else {
            return Ok(false);
        };
        let me = g.me.public();
        let Some(package) = rekey.packages.iter().find(|p| p.to == me) else {
            return Ok(false);
        };
        let ephemeral: [u8; 32] = rekey.ephemeral.as_slice().try_into().unwrap_or([0; 32]);
        let Some(secret) = g
            .member_key
            .unwrap(&ephemeral, &me, &g.id, rekey.tag, &package.key)
        else {
            // An admin's mistake or malice: the re-key is stored like any other message, and
            // this member simply does not enter that epoch.
            tracing::warn!(group = %g.id.short(), epoch = rekey.number, "a re-key package for this member does not open");
            return Ok(false);
        };
        if !g.add_epoch(rekey.number, &secret) {
            return Ok(false);
        }
        self.store.put_group(&g.id, &g.record)?;
        tracing::info!(group = %g.id.short(), epoch = rekey.number, tag = format!("{:08x}", rekey.tag), "entered a new key epoch");
        Ok(true)
    }

    /// The group's roster: every member with a `member` record who is not banned, in
    /// pseudonym order. Every node computes the same from the same stored messages.
    pub fn roster(&self, group: &GroupId) -> Result<Vec<RosterMember>, NodeError> {
        roster(self.store.reader(), group)
    }

    /// This member's `member` record for `group`, when none of its own is stored yet (a new
    /// group, a join, or a group joined before records existed).
    pub fn missing_member_record(&self, group: &GroupId) -> Result<Option<Content>, NodeError> {
        let g = self.group_or_err(group)?;
        if self.store.member_record(group, &g.me.public())?.is_some() {
            return Ok(None);
        }
        Ok(Some(Content::Member(Member {
            key: g.member_key.public().to_vec(),
        })))
    }

    /// Whether this member, an admin, should re-key `group`: a banned member still holds
    /// the current epoch (the first epoch is held by everyone who ever had an invite). This
    /// is how a ban, an admin's own or one that reached it from another admin, takes effect,
    /// and how two re-keys made at once on two sides of a partition converge (§15).
    pub fn needs_rekey(&self, group: &GroupId) -> Result<bool, NodeError> {
        let g = self.group_or_err(group)?;
        if !g.charter.admins.contains(&g.me.public()) {
            return Ok(false);
        }
        let banned = self.store.bans(group)?;
        if banned.is_empty() {
            return Ok(false);
        }
        let current = g.epochs.current();
        if current.tag == 0 {
            return Ok(true);
        }
        let recipients = self.recipients(group, current.tag)?;
        Ok(banned.iter().any(|(member, _)| recipients.contains(member)))
    }

    /// Every pseudonym a stored re-key of the epoch tagged `tag` has a package for (all
    /// its chunks).
    fn recipients(&self, group: &GroupId, tag: u32) -> Result<BTreeSet<PublicKey>, NodeError> {
        let mut recipients = BTreeSet::new();
        for stored in self.store.rekeys(group, tag)? {
            if let Content::Rekey(rekey) = &stored.signed.message.content {
                recipients.extend(rekey.packages.iter().map(|p| p.to));
            }
        }
        Ok(recipients)
    }

    /// For an admin: `rekey` chunks that give each roster member the epochs (after the
    /// first) it has no package for: a member whose record arrived after a re-key, one who
    /// joined with an invite older than it, one whose ban was lifted (§15). Each is a chunk of
    /// an existing epoch (same number and tag), sealed in the epoch it follows, so a member
    /// that holds only older epochs opens them one after the other. Empty when nobody lacks
    /// anything, or when this member is no admin.
    pub fn share_contents(&self, group: &GroupId) -> Result<Vec<Content>, NodeError> {
        let g = self.group_or_err(group)?;
        if !g.charter.admins.contains(&g.me.public()) {
            return Ok(Vec::new());
        }
        let roster = self.roster(group)?;
        let mut records: Vec<&EpochRecord> = g.record.epochs.iter().collect();
        records.sort_by_key(|r| r.number);
        let mut contents = Vec::new();
        for record in records {
            let secret = EpochSecret::from_bytes(record.secret);
            let recipients = self.recipients(group, secret.tag())?;
            let missing: Vec<RosterMember> = (roster.iter())
                .filter(|m| !recipients.contains(&m.member))
                .cloned()
                .collect();
            contents.extend(wrapped(&secret, record.number, &missing, group));
        }
        Ok(contents)
    }

    /// The re-key messages that start a new epoch for the roster: a fresh secret wrapped to
    /// every member, in chunks of at most [`MAX_PACKAGES`]. Admins only.
    pub fn rekey_contents(&self, group: &GroupId) -> Result<Vec<Content>, NodeError> {
        let g = self.group_or_err(group)?;
        let me = g.me.public();
        if !g.charter.admins.contains(&me) {
            return Err(NodeError::invalid(
                Input::Member,
                "only an admin can re-key the group",
            ));
        }
        let mut roster = self.roster(group)?;
        if !roster.iter().any(|m| m.member == me) {
            roster.push(RosterMember {
                member: me,
                key: g.member_key.public(),
                since: 0,
            });
        }
        let secret = EpochSecret::generate(&g.epochs.tags());
        Ok(wrapped(
            &secret,
            g.epochs.current().number + 1,
            &roster,
            group,
        ))
    }
}

/// `rekey` chunks of the epoch `secret` numbered `number` for `members`, at most
/// [`MAX_PACKAGES`] packages each, each with a fresh ephemeral key. A member whose key is of
/// low order (no honest node derives one) gets no package; a chunk left empty is not made.
fn wrapped(
    secret: &EpochSecret,
    number: u32,
    members: &[RosterMember],
    group: &GroupId,
) -> Vec<Content> {
    members
        .chunks(MAX_PACKAGES)
        .filter_map(|chunk| {
            let rekeying = Rekeying::new();
            let packages: Vec<Package> = chunk
                .iter()
                .filter_map(|m| {
                    let key = rekeying.wrap(secret, &m.member, &m.key, group)?;
                    Some(Package {
                        to: m.member,
                        key: key.to_vec(),
                    })
                })
                .collect();
            (!packages.is_empty()).then(|| {
                Content::Rekey(Rekey {
                    number,
                    tag: secret.tag(),
                    ephemeral: rekeying.public().to_vec(),
                    packages,
                })
            })
        })
        .collect()
}

/// The roster of `group` as read from `store` (see [`Core::roster`]).
pub(crate) fn roster(
    store: crate::store::StoreReader,
    group: &GroupId,
) -> Result<Vec<RosterMember>, NodeError> {
    let banned: BTreeSet<PublicKey> = store.bans(group)?.into_iter().map(|(m, _)| m).collect();
    let mut out = Vec::new();
    for stored in store.member_records(group)? {
        let msg = stored.signed.message;
        let Content::Member(record) = &msg.content else {
            continue;
        };
        let Ok(key) = <[u8; 32]>::try_from(record.key.as_slice()) else {
            continue;
        };
        if !banned.contains(&msg.author) {
            out.push(RosterMember {
                member: msg.author,
                key,
                since: msg.created_at,
            });
        }
    }
    out.sort_by(|a, b| a.member.as_bytes().cmp(b.member.as_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use cove_crypto::{seal, Invite};

    use super::*;
    use crate::core::Rejection;
    use crate::message::{sign_in, Ban, Post, SignedMessage};
    use crate::testing::{each_store, Stores};

    type Sealed = (SignedMessage, Vec<u8>);

    /// ant founds "club"; bat and cat join from ant's invite; everyone's member record
    /// reaches everyone. Returns the three, the group and its topic.
    fn club(s: &mut Stores) -> ([Core; 3], GroupId, String) {
        let (mut nodes, group) = s.club_of_three();
        let topic = nodes[0].group(&group).unwrap().topic.clone();
        let records: Vec<Sealed> = (0..3)
            .map(|i| {
                let record = nodes[i].missing_member_record(&group).unwrap().unwrap();
                nodes[i].compose(&group, record, 3_000).unwrap()
            })
            .collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            assert_eq!(node.missing_member_record(&group).unwrap(), None);
            for (j, (_, envelope)) in records.iter().enumerate() {
                if i != j {
                    node.ingest(&topic, envelope, 3_001).unwrap();
                }
            }
        }
        (nodes, group, topic)
    }

    fn post(text: &str) -> Content {
        Content::Post(Post {
            title: None,
            text: text.into(),
        })
    }

    /// ant bans `member`; returns the ban and the re-key chunks it makes, as ant's actor
    /// would (`needs_rekey`, then `rekey_contents`).
    fn ban(ant: &mut Core, group: &GroupId, member: PublicKey, at: u64) -> Vec<Sealed> {
        let ban = Content::Ban(Ban {
            member,
            active: true,
        });
        let mut sent = vec![ant.compose(group, ban, at).unwrap()];
        assert!(ant.needs_rekey(group).unwrap());
        for content in ant.rekey_contents(group).unwrap() {
            sent.push(ant.compose(group, content, at).unwrap());
        }
        assert!(!ant.needs_rekey(group).unwrap(), "the banned member is out");
        sent
    }

    #[test]
    fn a_ban_cuts_the_banned_member_off_the_new_epoch() {
        each_store(|s| {
            let ([mut ant, mut bat, mut cat], group, topic) = club(s);
            assert_eq!(ant.roster(&group).unwrap().len(), 3);
            let cat_id = cat.group(&group).unwrap().me.public();
            for (_, envelope) in ban(&mut ant, &group, cat_id, 4_000) {
                bat.ingest(&topic, &envelope, 4_001).unwrap();
                // cat stores the ban and the re-key (sealed in the epoch it holds), but finds
                // no package of its own in it.
                cat.ingest(&topic, &envelope, 4_001).unwrap();
            }
            let current = |c: &Core| c.group(&group).unwrap().epochs.current().clone();
            assert_eq!((current(&ant).number, current(&bat).number), (1, 1));
            assert_eq!(current(&ant).tag, current(&bat).tag);
            assert_eq!(current(&cat).number, 0, "cat holds no new epoch");
            assert_eq!(ant.roster(&group).unwrap().len(), 2);

            // A post after the ban: bat reads it, cat cannot open it (Ignore, not Reject).
            let (signed, envelope) = ant.compose(&group, post("after"), 5_000).unwrap();
            assert_eq!(signed.message.epoch, current(&ant).tag);
            assert_eq!(bat.ingest(&topic, &envelope, 5_001), Ok(signed.clone()));
            let refused = cat.ingest(&topic, &envelope, 5_001).unwrap_err();
            assert!(matches!(refused, Rejection::UnknownEpoch { .. }));
            assert!(!refused.is_penalised());
            // By sync, a responder serves it only to a member that proved the new epoch.
            let epochs = &ant.group(&group).unwrap().epochs;
            let first = epochs.get(0).unwrap();
            assert!(!epochs.entitled(first, signed.message.epoch));
            assert!(epochs.entitled(&current(&ant), signed.message.epoch));

            // cat's posts are refused whatever epoch and date it claims.
            let g = cat.group(&group).unwrap();
            let forged = sign_in(&g.me, &group, 0, 1, post("still here")).unwrap();
            let envelope = seal(&g.epochs.get(0).unwrap().content, &topic, 0, &forged.bytes);
            assert_eq!(
                ant.ingest(&topic, &envelope, 6_000),
                Err(Rejection::BannedAuthor)
            );
        });
    }

    #[test]
    fn a_member_offline_during_a_re_key_gets_the_epoch_by_sync() {
        each_store(|s| {
            let ([mut ant, mut bat, cat], group, _) = club(s);
            let cat_id = cat.group(&group).unwrap().me.public();
            let sent = ban(&mut ant, &group, cat_id, 4_000);
            let (after, _) = ant.compose(&group, post("meanwhile"), 5_000).unwrap();
            // bat was offline: history sync delivers the signed messages, in any order. The
            // post first: bat does not hold its epoch yet, but a message in signed form is
            // judged like any other (the epoch only chooses the key of an envelope).
            for (signed, _) in &sent {
                bat.ingest_signed(&group, &signed.bytes, 6_000).unwrap();
            }
            bat.ingest_signed(&group, &after.bytes, 6_000).unwrap();
            let g = bat.group(&group).unwrap();
            assert_eq!(g.epochs.current().number, 1);
            assert_eq!(g.epochs.current().tag, after.message.epoch);
            assert_eq!(bat.view().feed(&group, 10).unwrap()[0].text, "meanwhile");
        });
    }

    #[test]
    fn a_door_hands_missed_re_keys_to_a_roster_member_and_nobody_else() {
        each_store(|s| {
            let ([mut ant, mut bat, cat], group, _) = club(s);
            let cat_id = cat.group(&group).unwrap().me.public();
            ban(&mut ant, &group, cat_id, 4_000);
            let door = b"ant's door peer id";
            let now = 5_000;
            // bat was away: it asks ant's door from epoch 0 and gets the re-key, which gives
            // it epoch 1 when judged like a synced message.
            let asked = bat.epochs_request(&group, door, now).unwrap();
            let handed = ant.missed_rekeys(&group, &asked, door, now).unwrap();
            assert_eq!(handed.len(), 1);
            for bytes in &handed {
                bat.ingest_signed(&group, bytes, now).unwrap();
            }
            let current = |c: &Core| c.group(&group).unwrap().epochs.current().clone();
            assert_eq!(current(&bat).tag, current(&ant).tag);
            // Asked again from epoch 1, the same re-key (same number: a partition's other
            // side may hold another of that number).
            let again = bat.epochs_request(&group, door, now).unwrap();
            assert_eq!(again.epoch, 1);
            assert_eq!(
                ant.missed_rekeys(&group, &again, door, now).unwrap().len(),
                1
            );
            // Refused: at another door, too old, or by the banned member.
            let unauthorized = |r: Result<Vec<Vec<u8>>, Refusal>| {
                assert_eq!(r.unwrap_err().code, ErrorCode::Unauthorized);
            };
            unauthorized(ant.missed_rekeys(&group, &asked, b"another door", now));
            let late = now + MAX_DOOR_SKEW_MS + 1;
            unauthorized(ant.missed_rekeys(&group, &asked, door, late));
            let banned = cat.epochs_request(&group, door, now).unwrap();
            unauthorized(ant.missed_rekeys(&group, &banned, door, now));
        });
    }

    #[test]
    fn re_keys_are_for_admins_and_numbered_one_after_their_epoch() {
        each_store(|s| {
            let ([ant, mut bat, _cat], group, _) = club(s);
            assert!(bat.rekey_contents(&group).is_err(), "bat is no admin");
            // A re-key that skips numbers: sealed in the first epoch, it can only start
            // epoch 1 (so nobody can make a node keep an epoch numbered 2^32 - 1).
            let Content::Rekey(mut skipping) = ant.rekey_contents(&group).unwrap().remove(0) else {
                panic!("a re-key");
            };
            skipping.number = 7;
            let me = &ant.group(&group).unwrap().me;
            let signed = sign_in(me, &group, 0, 4_000, Content::Rekey(skipping)).unwrap();
            assert_eq!(
                bat.ingest_signed(&group, &signed.bytes, 4_001),
                Err(Rejection::BadEpochNumber { got: 7, parent: 0 })
            );
            // A re-key signed by a member who is not an admin.
            let rekey = ant.rekey_contents(&group).unwrap().remove(0);
            let bat_me = &bat.group(&group).unwrap().me;
            let forged = sign_in(bat_me, &group, 0, 4_000, rekey).unwrap();
            let mut ant = ant;
            assert_eq!(
                ant.ingest_signed(&group, &forged.bytes, 4_001),
                Err(Rejection::NotAdmin)
            );
            assert_eq!(bat.group(&group).unwrap().epochs.len(), 1);
        });
    }

    #[test]
    fn two_bans_on_two_sides_of_a_partition_converge_on_one_epoch_without_either() {
        each_store(|s| {
            // ant's two devices (one seed, so both are the founder) ban on two sides of a
            // partition: `ant` bans cat, `ant2` bans dan, each re-keying to a number-1 epoch.
            let ([mut ant, mut bat, cat], group, topic) = club(s);
            let mut dan = s.core(4);
            let mut ant2 = s.core(1);
            let invite = Invite::decode(&ant.invite(&group, vec![], 100_000).unwrap(), 1).unwrap();
            dan.join(&invite, 3_500).unwrap();
            ant2.join(&invite, 3_500).unwrap();
            let record = dan.missing_member_record(&group).unwrap().unwrap();
            let (_, dan_record) = dan.compose(&group, record, 3_600).unwrap();
            for node in [&mut ant, &mut ant2, &mut bat] {
                node.ingest(&topic, &dan_record, 3_700).unwrap();
            }
            // ant2 has the roster by sync, as any member would.
            for stored in ant.roster(&group).unwrap() {
                let record = ant.store().member_record(&group, &stored.member).unwrap();
                let _ = ant2.ingest_signed(&group, &record.unwrap().signed.bytes, 3_800);
            }
            let cat_id = cat.group(&group).unwrap().me.public();
            let dan_id = dan.group(&group).unwrap().me.public();
            let side_a = ban(&mut ant, &group, cat_id, 4_000);
            let side_b = ban(&mut ant2, &group, dan_id, 4_000);
            let (b_post, b_env) = ant2.compose(&group, post("side b"), 4_100).unwrap();
            // The partition heals: everyone gets everything.
            for node in [&mut ant, &mut bat] {
                for (_, envelope) in side_a.iter().chain(&side_b) {
                    let _ = node.ingest(&topic, envelope, 4_200);
                }
            }
            for (_, envelope) in &side_a {
                ant2.ingest(&topic, envelope, 4_200).unwrap();
            }
            // bat was on side a, and reads side b's post: it was a recipient there too.
            assert_eq!(bat.ingest(&topic, &b_env, 4_300), Ok(b_post));
            let current = |c: &Core| c.group(&group).unwrap().epochs.current().clone();
            assert_eq!(current(&ant).tag, current(&ant2).tag);
            assert_eq!(current(&ant).tag, current(&bat).tag);
            // Whichever epoch won still has a banned recipient: an admin re-keys once more,
            // and the new epoch has neither.
            assert!(ant.needs_rekey(&group).unwrap());
            let third: Vec<Sealed> = (ant.rekey_contents(&group).unwrap().into_iter())
                .map(|c| ant.compose(&group, c, 5_000).unwrap())
                .collect();
            for (_, envelope) in &third {
                bat.ingest(&topic, envelope, 5_001).unwrap();
                ant2.ingest(&topic, envelope, 5_001).unwrap();
            }
            for node in [&ant, &ant2, &bat] {
                assert_eq!(current(node).number, 2);
                assert!(!node.needs_rekey(&group).unwrap());
            }
            assert_eq!(current(&bat).tag, current(&ant).tag);
            let Content::Rekey(rekey) = &third[0].0.message.content else {
                panic!("a re-key");
            };
            let recipients: Vec<PublicKey> = rekey.packages.iter().map(|p| p.to).collect();
            assert!(!recipients.contains(&cat_id) && !recipients.contains(&dan_id));
            assert_eq!(recipients.len(), 2, "ant and bat");
        });
    }

    #[test]
    fn a_member_left_out_of_a_re_key_is_given_the_epoch_by_an_admin() {
        each_store(|s| {
            // bat's member record reaches ant only after ant re-keyed (it joined meanwhile,
            // or was banned and is unbanned): bat holds no package of epoch 1 or 2.
            let ([mut ant, mut bat, _cat], group) = s.club_of_three();
            let topic = ant.group(&group).unwrap().topic.clone();
            let mut sent: Vec<Sealed> = Vec::new();
            for at in [3_000, 3_100] {
                for content in ant.rekey_contents(&group).unwrap() {
                    sent.push(ant.compose(&group, content, at).unwrap());
                }
            }
            assert_eq!(ant.group(&group).unwrap().epochs.current().number, 2);
            // The first re-key is sealed in epoch 0, which bat holds; the second in epoch 1,
            // which it does not.
            bat.ingest(&topic, &sent[0].1, 3_200).unwrap();
            assert!(matches!(
                bat.ingest(&topic, &sent[1].1, 3_200),
                Err(Rejection::UnknownEpoch { .. })
            ));
            assert_eq!(bat.group(&group).unwrap().epochs.current().number, 0);
            let record = bat.missing_member_record(&group).unwrap().unwrap();
            let (_, envelope) = bat.compose(&group, record, 3_300).unwrap();
            ant.ingest(&topic, &envelope, 3_301).unwrap();
            assert!(
                bat.share_contents(&group).unwrap().is_empty(),
                "bat is no admin"
            );
            let shares = ant.share_contents(&group).unwrap();
            assert_eq!(shares.len(), 2, "one chunk per epoch bat lacks");
            for content in shares {
                let (_, envelope) = ant.compose(&group, content, 3_400).unwrap();
                bat.ingest(&topic, &envelope, 3_401).unwrap();
            }
            assert_eq!(bat.group(&group).unwrap().epochs.current().number, 2);
            assert!(
                ant.share_contents(&group).unwrap().is_empty(),
                "nobody lacks anything"
            );
        });
    }
}
