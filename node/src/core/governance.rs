//! Governance over time (PROTOCOL.md §16): the founder's `amend` messages form a chain from
//! the charter, and the group's admins, founder and policy are those of the chain's head.

use cove_crypto::{GroupId, PublicKey};

use crate::core::Core;
use crate::error::{Input, NodeError};
use crate::message::{Amend, Charter, Content, Inviters, MessageId, RateLimit};
use crate::store::StoreReader;
use crate::view::GroupView;

/// Most amendments followed from the charter: far more than a community ever makes; it
/// bounds the walk if a rogue founder floods the chain.
const MAX_CHAIN: usize = 100_000;

/// One change the founder makes to the governance (each is one `amend` message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Make a member an admin.
    AddAdmin(PublicKey),
    /// Retire an admin (never the founder).
    RemoveAdmin(PublicKey),
    /// Change the policy: a new rate limit (`Some(None)`: none) and/or clock skew; what is
    /// `None` stays.
    Policy {
        /// The rate limit.
        rate_limit: Option<Option<RateLimit>>,
        /// How far in the future `created_at` may lie, seconds.
        max_future_skew_secs: Option<u64>,
        /// Who may make invite tickets (§17).
        invite: Option<Inviters>,
    },
    /// Hand the founder role to a member, who also becomes an admin.
    HandOver(PublicKey),
}

impl Core {
    /// Recomputes `group`'s governance from the stored amendments (after one is stored, and
    /// when the group is loaded), in the core and in the views' table.
    pub(crate) fn refresh_governance(&mut self, group: &GroupId) -> Result<(), NodeError> {
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        let (charter, _) = governance(&self.store.reader(), group, g.charter_id, &g.founding)?;
        g.charter = charter;
        self.table.insert(GroupView {
            id: g.id,
            topic: g.topic.clone(),
            charter: g.charter.clone(),
            me: g.me.public(),
        });
        Ok(())
    }

    /// The `amend` message that makes `change` to `group`'s current governance. Only the
    /// current founder can amend.
    pub fn amend_content(&self, group: &GroupId, change: Change) -> Result<Content, NodeError> {
        let g = self.group_or_err(group)?;
        let (now, head) = governance(&self.store.reader(), group, g.charter_id, &g.founding)?;
        if now.founder != g.me.public() {
            return Err(NodeError::invalid(
                Input::Member,
                "only the group's founder can change its admins or policy",
            ));
        }
        let mut next = Amend {
            prev: head,
            founder: now.founder,
            admins: now.admins.clone(),
            policy: now.policy.clone(),
        };
        match change {
            Change::AddAdmin(member) => {
                if next.admins.contains(&member) {
                    return Err(NodeError::invalid(Input::Member, "already an admin"));
                }
                next.admins.push(member);
            }
            Change::RemoveAdmin(member) => {
                if member == now.founder {
                    return Err(NodeError::invalid(
                        Input::Member,
                        "the founder stays an admin; hand the founder role over first",
                    ));
                }
                if !next.admins.contains(&member) {
                    return Err(NodeError::invalid(Input::Member, "not an admin"));
                }
                next.admins.retain(|a| *a != member);
            }
            Change::Policy {
                rate_limit,
                max_future_skew_secs,
                invite,
            } => {
                if let Some(invite) = invite {
                    next.policy.invite = invite;
                }
                if let Some(limit) = rate_limit {
                    if let Some(l) = &limit {
                        l.check()
                            .map_err(|e| NodeError::invalid(Input::Policy, e))?;
                    }
                    next.policy.rate_limit = limit;
                }
                if let Some(skew) = max_future_skew_secs {
                    next.policy.max_future_skew_secs = skew;
                }
                if next.policy == now.policy {
                    return Err(NodeError::invalid(
                        Input::Policy,
                        "that is the policy already",
                    ));
                }
            }
            Change::HandOver(member) => {
                if member == now.founder {
                    return Err(NodeError::invalid(Input::Member, "already the founder"));
                }
                next.founder = member;
                if !next.admins.contains(&member) {
                    next.admins.push(member);
                }
            }
        }
        // The founder first, as in the charter.
        next.admins.sort_by_key(|a| *a != next.founder);
        Ok(Content::Amend(next))
    }
}

/// The governance of `group` now and the id of the state it is (the charter's or the head
/// amendment's): from the charter, at each state the following amendment with the greatest
/// `(created_at, id)`, until none follows. Only valid amendments are stored (rule 7r), so
/// this needs no check of its own, and every node holding the same amendments agrees.
pub(crate) fn governance(
    store: &StoreReader,
    group: &GroupId,
    charter_id: MessageId,
    founding: &Charter,
) -> Result<(Charter, MessageId), NodeError> {
    let mut state = founding.clone();
    let mut head = charter_id;
    for _ in 0..MAX_CHAIN {
        let next = store
            .amendments_after(group, &head)?
            .into_iter()
            .filter_map(|stored| {
                let msg = stored.signed.message;
                match msg.content {
                    Content::Amend(a) if msg.group == *group => Some((msg.created_at, msg.id, a)),
                    _ => None,
                }
            })
            .max_by_key(|(at, id, _)| (*at, id.0));
        let Some((_, id, amend)) = next else {
            break;
        };
        state.founder = amend.founder;
        state.admins = amend.admins;
        state.policy = amend.policy;
        head = id;
    }
    Ok((state, head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Rejection;
    use crate::message::{sign, Ban, Policy, SignedMessage};
    use crate::testing::{each_store, Stores};

    fn club(s: &mut Stores) -> ([Core; 3], GroupId) {
        s.club_of_three()
    }

    fn me(core: &Core, group: &GroupId) -> PublicKey {
        core.group(group).unwrap().me.public()
    }

    /// `author` amends with `change` at `at`, and every node in `to` stores it.
    fn amend(author: &mut Core, group: &GroupId, change: Change, at: u64) -> SignedMessage {
        let content = author.amend_content(group, change).unwrap();
        author.compose(group, content, at).unwrap().0
    }

    fn deliver(signed: &SignedMessage, group: &GroupId, to: &mut [&mut Core], at: u64) {
        for node in to {
            node.ingest_signed(group, &signed.bytes, at).unwrap();
        }
    }

    fn ban(member: PublicKey) -> Content {
        Content::Ban(Ban {
            member,
            active: true,
        })
    }

    #[test]
    fn an_admin_added_then_removed_loses_its_rights_everywhere() {
        each_store(|s| {
            let ([mut ant, mut bat, mut cat], group) = club(s);
            let (bat_id, cat_id) = (me(&bat, &group), me(&cat, &group));
            let added = amend(&mut ant, &group, Change::AddAdmin(bat_id), 3_000);
            deliver(&added, &group, &mut [&mut bat, &mut cat], 3_001);
            assert!(cat.group(&group).unwrap().charter.admins.contains(&bat_id));
            // bat, an admin now, bans cat: every node takes it.
            let (banned, _) = bat.compose(&group, ban(cat_id), 4_000).unwrap();
            deliver(&banned, &group, &mut [&mut ant], 4_001);

            let removed = amend(&mut ant, &group, Change::RemoveAdmin(bat_id), 5_000);
            deliver(&removed, &group, &mut [&mut bat], 5_001);
            // bat's own node refuses to sign an admin message now...
            let lift = Content::Ban(Ban {
                member: cat_id,
                active: false,
            });
            assert!(bat.compose(&group, lift.clone(), 6_000).is_err());
            // ...and one signed anyway, dated before the removal, is refused by every node
            // that holds the amendment (Ignore: a node without it would have taken it).
            let g = bat.group(&group).unwrap();
            let forged = sign(&g.me, &group, 4_500, lift).unwrap();
            let refused = ant.ingest_signed(&group, &forged.bytes, 6_001);
            assert_eq!(refused, Err(Rejection::NotAdmin));
            assert!(!Rejection::NotAdmin.is_penalised());
            assert_eq!(
                ant.group(&group).unwrap().charter.admins,
                vec![me(&ant, &group)]
            );
        });
    }

    #[test]
    fn amendments_delivered_in_any_order_converge() {
        each_store(|s| {
            let ([mut ant, mut bat, mut cat], group) = club(s);
            let (bat_id, cat_id) = (me(&bat, &group), me(&cat, &group));
            let chain = [
                amend(&mut ant, &group, Change::AddAdmin(bat_id), 3_000),
                amend(&mut ant, &group, Change::AddAdmin(cat_id), 3_100),
                amend(
                    &mut ant,
                    &group,
                    Change::Policy {
                        rate_limit: Some(None),
                        max_future_skew_secs: Some(60),
                        invite: Some(Inviters::Members),
                    },
                    3_200,
                ),
            ];
            // bat gets them in order; cat newest first, as a sync page may, so the first two
            // wait (Ignore: the state they amend is unknown) until a later round.
            for signed in &chain {
                deliver(signed, &group, &mut [&mut bat], 3_300);
            }
            for round in 0..3 {
                for signed in chain.iter().rev() {
                    let _ = cat.ingest_signed(&group, &signed.bytes, 3_300 + round);
                }
            }
            let charter = |c: &Core| c.group(&group).unwrap().charter.clone();
            assert_eq!(charter(&bat), charter(&ant));
            assert_eq!(charter(&cat), charter(&ant));
            assert_eq!(charter(&ant).admins.len(), 3);
            assert_eq!(charter(&ant).policy.max_future_skew_secs, 60);
            assert_eq!(charter(&ant).policy.rate_limit, None);
        });
    }

    #[test]
    fn a_hand_over_moves_the_right_to_amend_to_the_new_founder() {
        each_store(|s| {
            let ([mut ant, mut bat, mut cat], group) = club(s);
            let (ant_id, bat_id, cat_id) = (me(&ant, &group), me(&bat, &group), me(&cat, &group));
            let handed = amend(&mut ant, &group, Change::HandOver(bat_id), 3_000);
            deliver(&handed, &group, &mut [&mut bat, &mut cat], 3_001);
            assert_eq!(cat.group(&group).unwrap().charter.founder, bat_id);
            assert!(ant.amend_content(&group, Change::AddAdmin(cat_id)).is_err());
            // ant's amendment after the hand-over is refused (by its bytes and the chain).
            let after = Amend {
                prev: handed.message.id,
                founder: ant_id,
                admins: vec![ant_id],
                policy: Policy::default(),
            };
            let g = ant.group(&group).unwrap();
            let forged = sign(&g.me, &group, 4_000, Content::Amend(after)).unwrap();
            assert_eq!(
                cat.ingest_signed(&group, &forged.bytes, 4_001),
                Err(Rejection::NotFounder)
            );
            assert!(Rejection::NotFounder.is_penalised());
            // The new founder amends; the old one can now be banned, the new one cannot.
            let added = amend(&mut bat, &group, Change::AddAdmin(cat_id), 5_000);
            deliver(&added, &group, &mut [&mut cat], 5_001);
            assert!(cat.compose(&group, ban(ant_id), 6_000).is_ok());
            assert!(cat.compose(&group, ban(bat_id), 6_000).is_err());
        });
    }
}
