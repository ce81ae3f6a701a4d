//! What a user asked for: the [`Command`]s a [`crate::Node`] handle sends, matched once in
//! [`Actor::handle_command`]. A [`Draft`] is a message to sign: it is checked and built by
//! [`crate::core::draft`], signed and stored by [`Core::compose`](crate::core::Core::compose),
//! and made durable and offered to the group by [`Actor::answer`] before the reply goes out.

use std::time::Duration;

use cove_crypto::{GroupId, Invite, NetworkKey, Pseudonym, TicketInvite};
use cove_gossip::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::{offer, Actor, Internal, Publication, MAX_INVITE_TTL};
use super::{PeerSummary, Status};
use crate::core::draft::{AdDraft, GrantRequest};
use crate::core::tickets::TicketInfo;
use crate::core::Change;
use crate::data_dir::DataDir;
use crate::error::{Input, NodeError};
use crate::message::{self, Advertiser, Content, MessageId, Policy, SignedMessage};
use crate::now_ms;
use crate::sync::{self, Progress, Report};
use tracing::warn;

/// Where the actor sends a command's answer.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// A request for the actor: everything that writes (a message, a local record) or touches
/// the network. Views are read by the handle itself (see [`crate::api`]).
#[derive(Debug)]
pub(crate) enum Command {
    CreateGroup {
        name: String,
        policy: Policy,
        reply: Reply<GroupId>,
    },
    /// Make an invite ticket (§17) admitting `uses` newcomers for `ttl`.
    Invite {
        group: String,
        ttl: Duration,
        uses: u32,
        addrs: Vec<Multiaddr>,
        reply: Reply<String>,
    },
    /// The key of a group's private network.
    NetworkKey {
        group: String,
        reply: Reply<NetworkKey>,
    },
    /// The tickets of a group.
    Tickets {
        group: String,
        reply: Reply<Vec<TicketInfo>>,
    },
    /// Join with an open invite (or a welcome, opened).
    Join {
        invite: Invite,
        reply: Reply<GroupId>,
    },
    /// What asking for admission with `ticket` takes: the swarm configuration and the signed
    /// request; or the group, when this node is in it already.
    PrepareAdmission {
        ticket: Box<TicketInvite>,
        reply: Reply<Admission>,
    },
    /// Join with the welcome an admitting member sent for `ticket`.
    Welcome {
        ticket: Box<TicketInvite>,
        welcome: sync::Response,
        reply: Reply<GroupId>,
    },
    /// Sign, store and publish what the draft builds (one message, or several).
    Send {
        draft: Draft,
        reply: Reply<Vec<MessageId>>,
    },
    Mute {
        group: Option<String>,
        member: String,
        muted: bool,
        reply: Reply<()>,
    },
    Interests {
        add: Vec<String>,
        remove: Vec<String>,
        reply: Reply<Vec<String>>,
    },
    AdsShown {
        ads: Vec<MessageId>,
        reply: Reply<()>,
    },
    Peers {
        reply: Reply<Vec<PeerSummary>>,
    },
    Status {
        reply: Reply<Status>,
    },
    Block {
        peer: String,
        duration: Option<Duration>,
        reply: Reply<()>,
    },
    Sync {
        group: Option<String>,
        progress: Option<mpsc::Sender<Progress>>,
        reply: Reply<Vec<Report>>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// A message this member (or its advertiser key) is about to sign, as the user gave it.
/// Group names and ids are as typed; `None` names the only group joined.
#[derive(Debug)]
pub(crate) enum Draft {
    Post {
        group: String,
        title: Option<String>,
        text: String,
    },
    Profile {
        group: String,
        nickname: String,
        bio: Option<String>,
    },
    Reply {
        to: String,
        text: String,
    },
    Edit {
        id: String,
        title: Option<String>,
        text: String,
    },
    Delete {
        id: String,
    },
    Recommend {
        id: String,
        active: bool,
    },
    Room {
        group: Option<String>,
        name: String,
    },
    Chat {
        group: Option<String>,
        room: String,
        text: String,
    },
    Ban {
        group: Option<String>,
        member: String,
        active: bool,
    },
    Remove {
        id: String,
    },
    /// Withdraw an invite ticket (by id prefix).
    Uninvite {
        id: String,
    },
    /// A new key epoch for the roster (§15).
    Rekey {
        group: Option<String>,
    },
    /// A change of governance (§16).
    Amend {
        group: Option<String>,
        change: Change,
    },
    Grant {
        group: Option<String>,
        grant: GrantRequest,
    },
    Revoke {
        group: Option<String>,
        grant_or_key: String,
    },
    AdvertiserProfile {
        group: Option<String>,
        profile: Advertiser,
    },
    Ad {
        group: Option<String>,
        ad: AdDraft,
    },
}

/// What joining with a ticket takes (see [`Command::PrepareAdmission`]).
#[derive(Debug)]
pub(crate) enum Admission {
    /// This node is in the group already (the ticket's addresses are added to it).
    Member(GroupId),
    /// Ask a member with this swarm configuration and request.
    Ask {
        config: Box<cove_gossip::Config>,
        request: Box<sync::AdmitRequest>,
    },
}

/// A draft checked and built: the group, who signs, and the contents to sign.
struct Built {
    group: GroupId,
    /// `None`: this member's pseudonym in the group; else the advertiser key.
    signer: Option<Pseudonym>,
    contents: Vec<Content>,
}

impl Built {
    fn member(group: GroupId, content: Content) -> Self {
        Self {
            group,
            signer: None,
            contents: vec![content],
        }
    }
}

impl Actor {
    pub(super) async fn handle_command(&mut self, command: Command) {
        match command {
            Command::CreateGroup {
                name,
                policy,
                reply,
            } => {
                let _ = reply.send(self.create_group(&name, policy).await);
            }
            Command::Invite {
                group,
                ttl,
                uses,
                addrs,
                reply,
            } => {
                let result = self.invite(&group, ttl, uses, &addrs).await;
                // The ticket's record is stored with the invite: answer once it is durable.
                self.answer(reply, result);
            }
            Command::NetworkKey { group, reply } => {
                // The key the group's network runs behind now: the current epoch's, once the
                // network has moved to it (§15).
                let key = (self.core.view().resolve_group(&group)).and_then(|id| {
                    (self.nets.get(&id))
                        .map(|net| cove_crypto::NetworkKey::from_bytes(net.psk))
                        .ok_or_else(|| NodeError::UnknownGroup(id.to_string()))
                });
                let _ = reply.send(key);
            }
            Command::Tickets { group, reply } => {
                let tickets = self
                    .core
                    .view()
                    .resolve_group(&group)
                    .and_then(|id| self.core.tickets(&id));
                let _ = reply.send(tickets);
            }
            Command::Join { invite, reply } => {
                let _ = reply.send(self.join(&invite).await);
            }
            Command::PrepareAdmission { ticket, reply } => {
                let prepared = match self.core.rejoin(&ticket) {
                    Some(invite) => self.join(&invite).await.map(Admission::Member),
                    None => Ok(Admission::Ask {
                        config: Box::new(crate::admission::config(self.nets.device(), &ticket)),
                        request: Box::new(self.core.admission_request(&ticket)),
                    }),
                };
                let _ = reply.send(prepared);
            }
            Command::Welcome {
                ticket,
                welcome,
                reply,
            } => {
                let joined = match self.core.open_welcome(&ticket, &welcome) {
                    Ok(invite) => {
                        self.remember_ticket_doors(&ticket);
                        self.join(&invite).await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(joined);
            }
            Command::Send { draft, reply } => {
                let result = self.send(draft);
                self.answer(reply, result);
            }
            Command::Mute {
                group,
                member,
                muted,
                reply,
            } => {
                let result = self
                    .core
                    .view()
                    .group_or_only(group.as_deref())
                    .and_then(|group| self.core.set_muted(&group, &member, muted));
                let _ = reply.send(result);
            }
            Command::Interests { add, remove, reply } => {
                let _ = reply.send(self.core.set_interests(&add, &remove));
            }
            Command::AdsShown { ads, reply } => {
                let _ = reply.send(self.core.ads_shown(&ads, now_ms()));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers().await);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status().await);
            }
            Command::Sync {
                group,
                progress,
                reply,
            } => self.sync_on_demand(group, progress, reply).await,
            Command::Block {
                peer,
                duration,
                reply,
            } => {
                let _ = reply.send(self.block(&peer, duration).await);
            }
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    /// Checks and builds a draft: the one place a user's request becomes message contents.
    fn build(&self, draft: Draft, now: u64) -> Result<Built, NodeError> {
        let core = &self.core;
        let view = core.view();
        let group_of = |group: Option<String>| view.group_or_only(group.as_deref());
        Ok(match draft {
            Draft::Post { group, title, text } => Built::member(
                view.resolve_group(&group)?,
                Content::Post(message::Post { title, text }),
            ),
            Draft::Profile {
                group,
                nickname,
                bio,
            } => Built::member(
                view.resolve_group(&group)?,
                Content::Profile(message::Profile { nickname, bio }),
            ),
            Draft::Reply { to, text } => {
                let (group, content) = core.reply_content(&to, text)?;
                Built::member(group, content)
            }
            Draft::Edit { id, title, text } => {
                let (group, content) = core.own_change_content(&id, Some((title, text)))?;
                Built::member(group, content)
            }
            Draft::Delete { id } => {
                let (group, content) = core.own_change_content(&id, None)?;
                Built::member(group, content)
            }
            Draft::Recommend { id, active } => {
                let (group, content) = core.recommend_content(&id, active)?;
                Built::member(group, content)
            }
            Draft::Room { group, name } => {
                let group = group_of(group)?;
                Built::member(group, core.room_content(&group, &name)?)
            }
            Draft::Chat { group, room, text } => {
                let group = group_of(group)?;
                Built::member(group, core.chat_content(&group, &room, text)?)
            }
            Draft::Ban {
                group,
                member,
                active,
            } => {
                let group = group_of(group)?;
                Built::member(group, core.ban_content(&group, &member, active)?)
            }
            Draft::Remove { id } => {
                let (group, content) = core.remove_content(&id)?;
                Built::member(group, content)
            }
            Draft::Uninvite { id } => {
                let (group, content) = core.uninvite_content(&id)?;
                Built::member(group, content)
            }
            Draft::Amend { group, change } => {
                let group = group_of(group)?;
                Built::member(group, core.amend_content(&group, change)?)
            }
            Draft::Rekey { group } => {
                let group = group_of(group)?;
                Built {
                    group,
                    signer: None,
                    contents: core.rekey_contents(&group)?,
                }
            }
            Draft::Grant { group, grant } => {
                let group = group_of(group)?;
                Built::member(group, core.grant_content(&group, grant, now)?)
            }
            Draft::Revoke {
                group,
                grant_or_key,
            } => {
                let group = group_of(group)?;
                Built {
                    group,
                    signer: None,
                    contents: core.revoke_contents(&group, &grant_or_key)?,
                }
            }
            Draft::AdvertiserProfile { group, profile } => {
                let group = group_of(group)?;
                let advertiser = self.advertiser_key()?;
                let content = core.advertiser_content(&group, &advertiser, profile)?;
                Built {
                    group,
                    signer: Some(advertiser),
                    contents: vec![content],
                }
            }
            Draft::Ad { group, ad } => {
                let group = group_of(group)?;
                let advertiser = self.advertiser_key()?;
                let content = core.ad_content(&group, &advertiser, ad, now)?;
                Built {
                    group,
                    signer: Some(advertiser),
                    contents: vec![content],
                }
            }
        })
    }

    /// Builds, signs and stores a draft's messages and queues their publication (see
    /// [`Actor::publish_later`]).
    fn send(&mut self, draft: Draft) -> Result<Vec<MessageId>, NodeError> {
        let now = now_ms();
        let built = self.build(draft, now)?;
        let bans = (built.contents.iter()).any(|c| matches!(c, Content::Ban(b) if b.active));
        let mut ids = Vec::with_capacity(built.contents.len());
        for content in built.contents {
            let composed = self
                .core
                .compose_as(&built.group, built.signer.as_ref(), content, now);
            ids.push(self.publish_later(composed)?);
        }
        // A ban takes effect on reading at once: the banned member is left out of a new
        // epoch (§15). Its ids come after the ban's.
        if bans && self.core.needs_rekey(&built.group)? {
            for content in self.core.rekey_contents(&built.group)? {
                let composed = self.core.compose_as(&built.group, None, content, now);
                ids.push(self.publish_later(composed)?);
            }
        }
        Ok(ids)
    }

    /// What keeps a group's membership current, run on the republish timer and on entering
    /// a group, when its membership changed since the last pass: this member's `member` record if it has none yet, and, for an admin, a
    /// re-key when a banned member still holds the current epoch (§15). Nothing waits for
    /// it; what it signs is published like any own message.
    pub(super) fn keep_membership(&mut self, group: &GroupId) {
        // Only when something that decides it changed: reading the roster and the re-keys
        // of a large group every tick would hold up the actor for nothing.
        if !self.core.take_membership_changed(group) {
            return;
        }
        let now = now_ms();
        let mut contents = Vec::new();
        let found = self.core.missing_member_record(group).and_then(|record| {
            contents.extend(record);
            if self.core.needs_rekey(group)? {
                contents.extend(self.core.rekey_contents(group)?);
            } else {
                contents.extend(self.core.share_contents(group)?);
            }
            Ok(())
        });
        if let Err(e) = found {
            warn!(group = %group.short(), error = %e, "could not check the group's membership");
            self.core.mark_membership_changed(group);
        }
        for content in contents {
            let composed = self.core.compose_as(group, None, content, now);
            if let Err(e) = self.publish_later(composed) {
                warn!(group = %group.short(), error = %e, "could not sign a membership message");
                self.core.mark_membership_changed(group);
            }
        }
        // No caller waits: the reply goes nowhere, the publication happens all the same.
        let (reply, _) = oneshot::channel();
        self.answer(reply, Ok(()));
    }

    /// This data dir's advertiser key.
    fn advertiser_key(&self) -> Result<Pseudonym, NodeError> {
        DataDir::new(&self.data_dir).load_advertiser()
    }

    /// Publishes an own message, already stored: queues what is left (make it durable, tell
    /// watchers, offer it to the group) in [`Actor::publishing`], for the command's reply to
    /// wait on off the actor (see [`Actor::answer`]). With no peer reachable the message
    /// stays in the outbox and is offered again later: it is never dropped.
    pub(super) fn publish_later(
        &mut self,
        composed: Result<(SignedMessage, Vec<u8>), NodeError>,
    ) -> Result<MessageId, NodeError> {
        let (signed, envelope) = composed?;
        let id = signed.message.id;
        let topic = self
            .core
            .group(&signed.message.group)
            .map(|g| g.topic.clone())
            .ok_or_else(|| NodeError::UnknownGroup(signed.message.group.to_string()))?;
        let gossip = self.nets.for_topic(&topic).cloned();
        self.publishing.push(Publication {
            signed,
            envelope,
            topic,
            gossip,
        });
        Ok(id)
    }

    /// Replies to a command once the own messages it composed are durable (and offered to
    /// the group). That wait runs in a task: the actor goes on validating peers' messages
    /// while the fsync runs. A message that fails to flush fails the reply.
    pub(super) fn answer<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        result: Result<T, NodeError>,
    ) {
        let publishing = std::mem::take(&mut self.publishing);
        if publishing.is_empty() {
            let _ = reply.send(result);
            return;
        }
        let (store, accepted, internal) = (
            self.core.store().reader(),
            self.accepted.clone(),
            self.internal_tx.clone(),
        );
        self.tasks.spawn(async move {
            // One flush covers every message the command stored. If it fails, nothing is
            // offered now; the messages stay in the outbox.
            if let Err(e) = store.flush().await {
                let _ = reply.send(Err(e.into()));
                return;
            }
            let mut gossiped = Vec::new();
            for Publication {
                signed,
                envelope,
                topic,
                gossip,
            } in publishing
            {
                let id = signed.message.id;
                let _ = accepted.send(signed);
                let Some(gossip) = gossip else { continue };
                if offer(&gossip, &id, &topic, envelope).await {
                    gossiped.push(id);
                }
            }
            let _ = reply.send(result);
            if !gossiped.is_empty() {
                let _ = internal.send(Internal::Gossiped { ids: gossiped }).await;
            }
        });
    }

    async fn block(&mut self, peer: &str, duration: Option<Duration>) -> Result<(), NodeError> {
        let peer: PeerId = peer.trim().parse().map_err(|e| {
            NodeError::invalid(Input::Peer, format!("{peer:?} is not a peer id: {e}"))
        })?;
        self.nets.ban(peer, duration).await;
        if duration.is_none() {
            // Unblocked: try it again now, instead of after the backoff its block built up.
            self.redial_now(peer);
        }
        Ok(())
    }

    async fn create_group(&mut self, name: &str, policy: Policy) -> Result<GroupId, NodeError> {
        let id = self.core.create_group_with(name, policy, now_ms())?;
        self.core.store().flush().await?;
        self.enter_group(&id).await?;
        self.keep_membership(&id);
        Ok(id)
    }

    async fn join(&mut self, invite: &Invite) -> Result<GroupId, NodeError> {
        let id = self.core.join(invite, now_ms())?;
        self.core.store().flush().await?;
        self.enter_group(&id).await?;
        self.keep_membership(&id);
        Ok(id)
    }

    async fn invite(
        &mut self,
        group: &str,
        ttl: Duration,
        uses: u32,
        chosen: &[Multiaddr],
    ) -> Result<String, NodeError> {
        if ttl.is_zero() || ttl > MAX_INVITE_TTL {
            return Err(NodeError::invalid(
                Input::Invite,
                format!(
                    "invite lifetime must be between 1 second and {} days",
                    MAX_INVITE_TTL.as_secs() / 86_400
                ),
            ));
        }
        let id = self.core.view().resolve_group(group)?;
        // The invite names this node's door in the group (§10.3): its peer id there and the
        // door's port, never the group network's, whose key the ticket does not carry.
        let (net, door) = match (self.nets.get(&id), self.nets.door(&id)) {
            (Some(net), Some(door)) => (net, door),
            _ => return Err(NodeError::UnknownGroup(id.to_string())),
        };
        // An address advertised for the group's network names this host; its door is on
        // the door's port there.
        let advertise: Vec<Multiaddr> = match door.port {
            Some(port) => (net.advertise.iter())
                .map(|a| super::nets::with_port(a, port))
                .collect(),
            None => net.advertise.clone(),
        };
        let reach = door.gossip.reachability().await?;
        let addrs = crate::invite_addrs::invite_addrs(
            door.gossip.local_peer_id(),
            chosen,
            &advertise,
            &door.listen,
            &door.gossip.listen_addrs().await?,
            &reach.external,
        )?;
        let now = now_ms();
        let expires = now / 1000 + ttl.as_secs();
        let (key, record) = self.core.ticket_content(&id, uses, expires)?;
        let composed = self.core.compose_as(&id, None, record, now);
        self.publish_later(composed)?;
        self.core.ticket_invite(&id, key, addrs, expires)
    }
}
