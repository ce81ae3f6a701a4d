//! Invite tickets and admission (PROTOCOL.md §17): an invite no longer carries the group
//! secret but a ticket key; the group's `ticket` record says how many newcomers the ticket
//! admits and until when; a member that admits a newcomer checks the record, stores an
//! `admit` record and hands the newcomer the group's keys, wrapped to its member key.

use cove_crypto::{
    Domain, EpochSecret, GroupId, Invite, PublicKey, Rekeying, Signature, TicketInvite, TicketKey,
};

use crate::core::{Core, Group};
use crate::error::{Input, NodeError};
use crate::message::{Admit, Content, Inviters, Ticket, Uninvite, MAX_TICKET_USES};
use crate::store::StoredMessage;
use crate::sync::{AdmitRequest, ErrorCode, Response, WelcomeEpoch, MAX_WELCOME_EPOCHS};

/// Why a member refuses to admit a newcomer: the refusal's wire code and what the newcomer's
/// user reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The code sent back (§13.2).
    pub code: ErrorCode,
    /// The reason in the admitting node's words, for its log.
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// What the newcomer's user reads for a refusal `code`.
pub fn refusal_text(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Spent => "this invite has been used up: ask for a new invite",
        ErrorCode::Expired => "this invite has expired: ask for a new invite",
        ErrorCode::Revoked => {
            "this invite was withdrawn (or whoever made it may no longer invite): ask for a new invite"
        }
        ErrorCode::UnknownTicket => {
            "the member reached does not know this invite (it was never made in this group, or \
             has not reached that member yet): try again later or ask for a new invite"
        }
        ErrorCode::Banned => "you are banned from this group",
        ErrorCode::Busy => "the member reached is busy: try again in a few seconds",
        ErrorCode::Unauthorized | ErrorCode::Malformed => {
            "the member reached refused the admission request as malformed"
        }
    }
}

/// One ticket of a group, as `cove group invites` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TicketInfo {
    /// The ticket's id (its key), hex.
    pub id: String,
    /// Who made it.
    pub inviter: String,
    /// How many newcomers it admits.
    pub uses: u32,
    /// How many it has admitted (distinct newcomers, as far as this node knows).
    pub admitted: u32,
    /// When it stops admitting, unix seconds.
    pub expires: u64,
    /// Whether it admits nobody any more: withdrawn, its inviter may no longer invite, or a
    /// member it admitted was banned.
    pub revoked: bool,
    /// When it was made, unix ms.
    pub created_at: u64,
}

impl Core {
    /// A fresh ticket for `group`: its key (for the invite) and its record, which admits
    /// `uses` newcomers until `expires` (unix seconds). Fails when this member may not invite.
    pub fn ticket_content(
        &self,
        group: &GroupId,
        uses: u32,
        expires: u64,
    ) -> Result<(TicketKey, Content), NodeError> {
        let g = self.group_or_err(group)?;
        let me = g.me.public();
        if !may_invite(g, &me) {
            return Err(NodeError::invalid(
                Input::Invite,
                "only admins may invite to this group (its policy says so): ask an admin for \
                 an invite",
            ));
        }
        if uses == 0 || uses > MAX_TICKET_USES {
            return Err(NodeError::invalid(
                Input::Invite,
                format!("an invite admits 1 to {MAX_TICKET_USES} members, not {uses}"),
            ));
        }
        let key = TicketKey::generate();
        let proof = key.sign(
            Domain::Ticket,
            &Ticket::proof_bytes(group, &me, uses, expires),
        );
        let content = Content::Ticket(Ticket {
            id: key.id(),
            uses,
            expires,
            proof: proof.to_bytes().to_vec(),
        });
        Ok((key, content))
    }

    /// The invite text of a ticket just made.
    pub fn ticket_invite(
        &self,
        group: &GroupId,
        key: TicketKey,
        addrs: Vec<String>,
        expires: u64,
    ) -> Result<String, NodeError> {
        let g = self.group_or_err(group)?;
        Ok(TicketInvite {
            group: *group,
            door_key: g.secret.door_key(),
            charter: g.record.charter.clone(),
            addrs,
            expires_at: expires,
            ticket: key,
        }
        .encode())
    }

    /// The tickets of `group`, newest first.
    pub fn tickets(&self, group: &GroupId) -> Result<Vec<TicketInfo>, NodeError> {
        let g = self.group_or_err(group)?;
        let mut out = Vec::new();
        for record in self.store.tickets(group, None)? {
            let Content::Ticket(t) = &record.signed.message.content else {
                continue;
            };
            let admitted = self.admitted(&record)?;
            out.push(TicketInfo {
                id: t.id.to_string(),
                inviter: record.signed.message.author.to_string(),
                uses: t.uses,
                admitted: admitted.len() as u32,
                expires: t.expires,
                revoked: self.withdrawn(g, &record, &admitted)?.is_some(),
                created_at: record.signed.message.created_at,
            });
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(out)
    }

    /// The `uninvite` of the ticket whose id starts with `prefix` (hex, at least 8
    /// characters), in whichever of this member's groups it is.
    pub fn uninvite_content(&self, prefix: &str) -> Result<(GroupId, Content), NodeError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NodeError::invalid(
                Input::Invite,
                format!(
                    "{prefix:?} is not an invite id: give at least 8 hex characters of an id \
                     from `cove group invites`"
                ),
            ));
        }
        let mut found = Vec::new();
        for group in self.groups.keys() {
            for record in self.store.tickets(group, None)? {
                if let Content::Ticket(t) = &record.signed.message.content {
                    if t.id.to_string().starts_with(&prefix) {
                        found.push((*group, record));
                    }
                }
            }
        }
        let (group, record) = match found.len() {
            1 => found.remove(0),
            0 => {
                return Err(NodeError::invalid(
                    Input::Invite,
                    format!("no invite of yours or your groups has an id starting with {prefix}"),
                ))
            }
            n => {
                return Err(NodeError::invalid(
                    Input::Invite,
                    format!("{n} invites have ids starting with {prefix}: give more characters"),
                ))
            }
        };
        let g = self.group_or_err(&group)?;
        let me = g.me.public();
        if record.signed.message.author != me && !g.charter.admins.contains(&me) {
            return Err(NodeError::invalid(
                Input::Invite,
                "only an admin or the member who made an invite may withdraw it",
            ));
        }
        Ok((
            group,
            Content::Uninvite(Uninvite {
                ticket: record.signed.message.id,
            }),
        ))
    }

    /// For a member already in `ticket`'s group: the open invite that joins it again, which
    /// is harmless (§11); `None` for a newcomer, who must ask for admission. It adds no
    /// address: a ticket's are doors (§10.3), not places in the group's network.
    pub fn rejoin(&self, ticket: &TicketInvite) -> Option<Invite> {
        let g = self.groups.get(&ticket.group)?;
        Some(Invite {
            group_secret: g.secret.clone(),
            charter: g.record.charter.clone(),
            addrs: Vec::new(),
            expires_at: ticket.expires_at,
            epochs: Vec::new(),
        })
    }

    /// The newcomer's side: the admission request for `ticket`, signed by the ticket key and
    /// by this member's pseudonym in the ticket's group.
    pub fn admission_request(&self, ticket: &TicketInvite) -> AdmitRequest {
        let me = self.seed.pseudonym(&ticket.group);
        let key = cove_crypto::MemberKey::derive(&self.seed, &ticket.group);
        let mut request = AdmitRequest {
            group: *ticket.group.as_bytes(),
            ticket: *ticket.ticket.id().as_bytes(),
            member: *me.public().as_bytes(),
            key: key.public(),
            proof: [0; 64],
            sig: [0; 64],
        };
        let bytes = request.signed_bytes();
        request.proof = ticket.ticket.sign(Domain::Admission, &bytes).to_bytes();
        request.sig = me.sign(Domain::Admission, &bytes).to_bytes();
        request
    }

    /// The newcomer's side: the open invite a welcome amounts to, once its secrets open
    /// with this member's key; an error when they do not (a responder's mistake or malice).
    pub fn open_welcome(
        &self,
        ticket: &TicketInvite,
        welcome: &Response,
    ) -> Result<Invite, NodeError> {
        let Response::Welcome {
            ephemeral,
            secret,
            epochs,
            addrs,
        } = welcome
        else {
            return Err(NodeError::Control("not a welcome".into()));
        };
        let group = &ticket.group;
        let me = self.seed.pseudonym(group).public();
        let key = cove_crypto::MemberKey::derive(&self.seed, group);
        let bad = |what: &str| {
            NodeError::Control(format!(
                "the admitting member's welcome is unusable: {what}"
            ))
        };
        let group_secret = key
            .unwrap_group_secret(ephemeral, &me, group, secret)
            .ok_or_else(|| bad("the group secret does not open"))?;
        if group_secret.door_key() != ticket.door_key {
            return Err(bad("its group's door key is not the invite's"));
        }
        let mut opened = Vec::with_capacity(epochs.len());
        for e in epochs {
            let secret = key
                .unwrap(ephemeral, &me, group, e.tag, &e.key)
                .ok_or_else(|| bad("an epoch secret does not open"))?;
            if e.number == 0 {
                return Err(bad("an epoch numbered 0"));
            }
            opened.push((e.number, secret));
        }
        Ok(Invite {
            group_secret,
            charter: ticket.charter.clone(),
            // Where the admitting member is in the group's network: the ticket named doors.
            addrs: addrs.clone(),
            expires_at: ticket.expires_at,
            epochs: opened,
        })
    }

    /// The admitting member's side (§17): checks `request` against the group's record of its
    /// ticket at `now_ms`; on success the `admit` record to store and publish (`None` when this
    /// newcomer was admitted with the ticket before: a retry uses no second use) and the
    /// welcome to send back.
    pub fn admit_newcomer(
        &self,
        group: &GroupId,
        request: &AdmitRequest,
        now_ms: u64,
    ) -> Result<(Option<Content>, Response), Refusal> {
        let malformed = |detail: &str| Refusal::new(ErrorCode::Malformed, detail);
        let g = self
            .groups
            .get(group)
            .filter(|g| g.id.as_bytes() == &request.group)
            .ok_or_else(|| Refusal::new(ErrorCode::Unauthorized, "not this network's group"))?;
        let ticket_key =
            PublicKey::from_bytes(request.ticket).map_err(|_| malformed("bad ticket key"))?;
        let member =
            PublicKey::from_bytes(request.member).map_err(|_| malformed("bad member key"))?;
        let bytes = request.signed_bytes();
        let signed_by = |key: &PublicKey, sig: &[u8; 64]| {
            key.verify(Domain::Admission, &bytes, &Signature::from_bytes(*sig))
                .is_ok()
        };
        if !signed_by(&ticket_key, &request.proof) || !signed_by(&member, &request.sig) {
            return Err(Refusal::new(
                ErrorCode::Unauthorized,
                "the request's signatures do not verify",
            ));
        }
        let store_failed = |e: crate::store::StoreError| {
            Refusal::new(ErrorCode::Busy, format!("the store failed: {e}"))
        };
        // The ticket's terms: its first record (every stored one passed rule 7s).
        let record = self
            .store
            .tickets(group, Some(&ticket_key))
            .map_err(store_failed)?
            .into_iter()
            .min_by_key(|r| (r.signed.message.created_at, r.signed.message.id))
            .ok_or_else(|| Refusal::new(ErrorCode::UnknownTicket, "no record of this ticket"))?;
        let Content::Ticket(terms) = &record.signed.message.content else {
            return Err(Refusal::new(ErrorCode::UnknownTicket, "not a ticket"));
        };
        let admitted = self.admitted(&record).map_err(|e| {
            Refusal::new(ErrorCode::Busy, format!("could not read admissions: {e}"))
        })?;
        if let Some(why) = self
            .withdrawn(g, &record, &admitted)
            .map_err(store_failed)?
        {
            return Err(Refusal::new(ErrorCode::Revoked, why));
        }
        if now_ms / 1000 >= terms.expires {
            return Err(Refusal::new(ErrorCode::Expired, "the ticket has expired"));
        }
        if self
            .store
            .banned_since(group, &member)
            .map_err(store_failed)?
            .is_some()
        {
            return Err(Refusal::new(ErrorCode::Banned, "the newcomer is banned"));
        }
        let admit = if admitted.contains(&member) {
            None
        } else if admitted.len() >= terms.uses as usize {
            return Err(Refusal::new(
                ErrorCode::Spent,
                format!("the ticket admitted {} of {}", admitted.len(), terms.uses),
            ));
        } else {
            Some(Content::Admit(Admit {
                ticket: record.signed.message.id,
                member,
            }))
        };
        Ok((admit, welcome(g, &member, &request.key)))
    }

    /// Why a ticket admits nobody any more whatever its uses and expiry (§17 step 3), if it
    /// does not: an `uninvite` names it; its inviter is banned or may no longer invite; or a
    /// member it admitted is banned, since that member holds the ticket's text.
    fn withdrawn(
        &self,
        g: &Group,
        record: &StoredMessage,
        admitted: &[PublicKey],
    ) -> Result<Option<&'static str>, crate::store::StoreError> {
        let banned = |member: &PublicKey| -> Result<bool, crate::store::StoreError> {
            Ok(self.store.banned_since(&g.id, member)?.is_some())
        };
        let inviter = record.signed.message.author;
        Ok(if self.store.uninvited(&record.signed.message.id)? {
            Some("the ticket was withdrawn")
        } else if banned(&inviter)? || !may_invite(g, &inviter) {
            Some("the ticket's inviter may no longer invite")
        } else if admitted
            .iter()
            .map(banned)
            .collect::<Result<Vec<bool>, _>>()?
            .contains(&true)
        {
            Some("a member the ticket admitted is banned, and holds its text")
        } else {
            None
        })
    }

    /// The distinct newcomers a ticket record admitted, as far as this node knows.
    fn admitted(&self, record: &StoredMessage) -> Result<Vec<PublicKey>, NodeError> {
        let mut members: Vec<PublicKey> = self
            .store
            .admissions(&record.signed.message.id)?
            .into_iter()
            .filter_map(|m| match m.signed.message.content {
                Content::Admit(a) => Some(a.member),
                _ => None,
            })
            .collect();
        members.sort();
        members.dedup();
        Ok(members)
    }
}

/// Whether `member` may make tickets in `g` under its current policy.
fn may_invite(g: &Group, member: &PublicKey) -> bool {
    g.charter.policy.invite == Inviters::Members || g.charter.admins.contains(member)
}

/// The welcome for `member` (whose X25519 key is `member_key`): the group secret and the
/// newest [`MAX_WELCOME_EPOCHS`] epoch secrets this node holds, wrapped with one fresh
/// ephemeral key (each under its own tag, so no wrap key repeats).
fn welcome(g: &Group, member: &PublicKey, member_key: &[u8; 32]) -> Response {
    let wrapping = Rekeying::new();
    let wrap_failed = || Response::Error {
        code: ErrorCode::Malformed,
    };
    let Some(secret) = wrapping.wrap_group_secret(&g.secret, member, member_key, &g.id) else {
        // A low-order member key: no honest node derives one.
        return wrap_failed();
    };
    let records = &g.record.epochs;
    let mut epochs = Vec::new();
    for e in &records[records.len().saturating_sub(MAX_WELCOME_EPOCHS)..] {
        let epoch = EpochSecret::from_bytes(e.secret);
        let Some(key) = wrapping.wrap(&epoch, member, member_key, &g.id) else {
            return wrap_failed();
        };
        epochs.push(WelcomeEpoch {
            number: e.number,
            tag: epoch.tag(),
            key: key.to_vec(),
        });
    }
    Response::Welcome {
        ephemeral: wrapping.public(),
        secret: secret.to_vec(),
        epochs,
        // The actor adds where this node is in the group's network: the core knows no
        // addresses.
        addrs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use cove_crypto::{AnyInvite, MasterSeed};

    use super::*;
    use crate::core::Rejection;
    use crate::message::{sign, Ban};
    use crate::store::Store;
    use crate::testing::each_store;

    const NOW: u64 = 1_000_000;

    /// ant's fresh ticket for `uses` newcomers, expiring at `expires` (unix seconds): the
    /// invite and the record's id, the record stored at ant.
    fn ticket(ant: &mut Core, group: &GroupId, uses: u32, expires: u64) -> TicketInvite {
        let (key, content) = ant.ticket_content(group, uses, expires).unwrap();
        ant.compose(group, content, NOW).unwrap();
        let text = ant.ticket_invite(group, key, vec![], expires).unwrap();
        match AnyInvite::decode_ignoring_expiry(&text).unwrap() {
            AnyInvite::Ticket(t) => *t,
            AnyInvite::Open(_) => panic!("a ticket"),
        }
    }

    /// ant bans the newcomer whose seed is `seed` times 32.
    fn ban(ant: &mut Core, group: &GroupId, seed: u8) {
        let member = MasterSeed::from_bytes([seed; 32]).pseudonym(group).public();
        let ban = Content::Ban(Ban {
            member,
            active: true,
        });
        ant.compose(group, ban, NOW).unwrap();
    }

    /// A newcomer with seed `seed` asks `member` with `invite`; on a welcome, the open invite
    /// it amounts to.
    fn ask(member: &mut Core, invite: &TicketInvite, seed: u8) -> Result<Invite, ErrorCode> {
        let newcomer = Core::new(Store::memory(), MasterSeed::from_bytes([seed; 32])).unwrap();
        let request = newcomer.admission_request(invite);
        let (admit, welcome) = member
            .admit_newcomer(&invite.group, &request, NOW)
            .map_err(|r| r.code)?;
        if let Some(admit) = admit {
            member.compose(&invite.group, admit, NOW).unwrap();
        }
        Ok(newcomer.open_welcome(invite, &welcome).unwrap())
    }

    #[test]
    fn a_ticket_admits_its_uses_then_nobody_and_a_retry_uses_none() {
        each_store(|s| {
            let mut ant = s.core(1);
            let group = ant.create_group("club", NOW).unwrap();
            let invite = ticket(&mut ant, &group, 2, NOW / 1000 + 60);
            let dan = ask(&mut ant, &invite, 4).unwrap();
            assert_eq!(dan.group_secret.id(), group);
            assert!(
                ask(&mut ant, &invite, 4).is_ok(),
                "a retry is welcomed again"
            );
            assert!(ask(&mut ant, &invite, 5).is_ok());
            assert_eq!(ask(&mut ant, &invite, 6).unwrap_err(), ErrorCode::Spent);
            let listed = ant.tickets(&group).unwrap();
            assert_eq!((listed[0].uses, listed[0].admitted), (2, 2));
        });
    }

    #[test]
    fn an_expired_withdrawn_or_unknown_ticket_and_a_banned_newcomer_are_refused() {
        each_store(|s| {
            let mut ant = s.core(1);
            let group = ant.create_group("club", NOW).unwrap();
            let expired = ticket(&mut ant, &group, 1, NOW / 1000);
            assert_eq!(ask(&mut ant, &expired, 4).unwrap_err(), ErrorCode::Expired);

            let withdrawn = ticket(&mut ant, &group, 1, NOW / 1000 + 60);
            let id = withdrawn.ticket.id().to_string();
            let (_, uninvite) = ant.uninvite_content(&id[..10]).unwrap();
            ant.compose(&group, uninvite, NOW).unwrap();
            assert_eq!(
                ask(&mut ant, &withdrawn, 4).unwrap_err(),
                ErrorCode::Revoked
            );

            let mut unknown = withdrawn.clone();
            unknown.ticket = cove_crypto::TicketKey::generate();
            assert_eq!(
                ask(&mut ant, &unknown, 4).unwrap_err(),
                ErrorCode::UnknownTicket
            );

            let open = ticket(&mut ant, &group, 5, NOW / 1000 + 60);
            ban(&mut ant, &group, 7);
            assert_eq!(ask(&mut ant, &open, 7).unwrap_err(), ErrorCode::Banned);
        });
    }

    #[test]
    fn a_ticket_stops_admitting_when_a_member_it_admitted_is_banned() {
        // The banned member holds the ticket's text: it must not come back with it under a
        // new pseudonym.
        each_store(|s| {
            let mut ant = s.core(1);
            let group = ant.create_group("club", NOW).unwrap();
            let invite = ticket(&mut ant, &group, 3, NOW / 1000 + 60);
            ask(&mut ant, &invite, 4).unwrap();
            ban(&mut ant, &group, 4);
            assert_eq!(ask(&mut ant, &invite, 9).unwrap_err(), ErrorCode::Revoked);
            assert!(ant.tickets(&group).unwrap()[0].revoked);
        });
    }

    #[test]
    fn a_request_not_signed_by_the_ticket_key_is_unauthorized() {
        each_store(|s| {
            let mut ant = s.core(1);
            let group = ant.create_group("club", NOW).unwrap();
            let invite = ticket(&mut ant, &group, 1, NOW / 1000 + 60);
            let newcomer = Core::new(Store::memory(), MasterSeed::from_bytes([4; 32])).unwrap();
            let mut request = newcomer.admission_request(&invite);
            request.key = [9; 32];
            let refused = ant.admit_newcomer(&group, &request, NOW).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Unauthorized);
        });
    }

    #[test]
    fn only_whom_the_policy_lets_invite_makes_tickets_and_a_proof_must_verify() {
        each_store(|s| {
            let ([mut ant, mut bat, _], group) = s.club_of_three();
            let topic = ant.group(&group).unwrap().topic.clone();
            let refused = bat.ticket_content(&group, 1, NOW).unwrap_err();
            assert!(refused.to_string().contains("only admins"), "{refused}");

            // bat signs a ticket anyway: every node refuses it (Ignore: policies change).
            let g = bat.group(&group).unwrap();
            let key = cove_crypto::TicketKey::generate();
            let me = g.me.public();
            let proof = key.sign(Domain::Ticket, &Ticket::proof_bytes(&group, &me, 1, 99));
            let record = |proof: Vec<u8>| {
                Content::Ticket(Ticket {
                    id: key.id(),
                    uses: 1,
                    expires: 99,
                    proof,
                })
            };
            let forged = sign(&g.me, &group, NOW, record(proof.to_bytes().to_vec())).unwrap();
            let envelope = cove_crypto::seal(&g.epochs.current().content, &topic, 0, &forged.bytes);
            let refused = ant.ingest(&topic, &envelope, NOW).unwrap_err();
            assert_eq!(refused, Rejection::NotInviter);
            assert!(!refused.is_penalised());

            // An admin's record whose proof is not the ticket key's: Reject.
            let a = ant.group(&group).unwrap();
            let bad = sign(&a.me, &group, NOW, record(vec![7; 64])).unwrap();
            let envelope = cove_crypto::seal(&a.epochs.current().content, &topic, 0, &bad.bytes);
            let refused = bat.ingest(&topic, &envelope, NOW).unwrap_err();
            assert_eq!(refused, Rejection::BadTicketProof);
            assert!(refused.is_penalised());
        });
    }
}
