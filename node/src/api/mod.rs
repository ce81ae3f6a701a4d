//! The [`Node`] handle: the one typed API of a running node, used by the control socket, the
//! CLI's demo, the web app and the tests.
//!
//! ```text
//!  Node (Clone) ──writes: Command + oneshot──▶ actor task (owns Core: the store's writer)
//!       │
//!       └──────reads: View on a blocking thread (store reader + group table), never the actor
//! ```
//!
//! Every method that changes something (a message to sign, a local record, the network) is a
//! [`Command`] for the actor, which is the store's only writer. Every view is read directly
//! from the [`View`], so a long feed never delays validation, and a read never writes.

mod types;

use std::time::Duration;

use cove_crypto::{AnyInvite, GroupId};
use cove_gossip::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use self::types::FeedQuery;
use crate::actor::{Admission, Command, Draft, Reply};
pub use crate::actor::{NetworkStatus, PeerSummary, Status, SyncActivity};
pub use crate::config::NodeConfig;
pub use crate::core::draft::{AdDraft, GrantRequest};
use crate::core::tickets::TicketInfo;
use crate::core::Change;
use crate::error::NodeError;
use crate::message::{Advertiser, MessageId, Policy, SignedMessage};
use crate::now_ms;
use crate::sync::{Progress, Report};
use crate::view::ads::AdView;
use crate::view::ads::GrantView;
use crate::view::social::{FeedItem, MemberInfo, ModerationInfo, ProfileInfo, RoomInfo, Thread};
use crate::view::{GroupInfo, View, ViewSlot};

/// Handle to a running node. Cheap to clone; the node stops when the last handle drops.
#[derive(Clone, Debug)]
pub struct Node {
    tx: mpsc::Sender<Command>,
    /// This device's key, from which its peer id in each group derives.
    device: cove_crypto::DeviceKey,
    accepted: broadcast::Sender<SignedMessage>,
    sync: watch::Receiver<SyncActivity>,
    view: ViewSlot,
}

impl Node {
    /// Opens the data dir and store, starts the network, subscribes every group and dials
    /// their bootstrap peers.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let started = crate::actor::start(config).await?;
        Ok(Node {
            tx: started.commands,
            device: started.device,
            accepted: started.accepted,
            sync: started.sync,
            view: started.view,
        })
    }

    /// This node's libp2p peer id in `group`'s private network: a different one in every
    /// group (PROTOCOL.md §10), the same across restarts. The node has no other.
    pub fn peer_id_in(&self, group: &GroupId) -> PeerId {
        crate::actor::group_keypair(&self.device, group)
            .public()
            .to_peer_id()
    }

    /// Resolves once the node has stopped (by [`Node::shutdown`], a control-socket `shutdown`
    /// or the network layer ending).
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Signs, stores and publishes what `draft` builds; returns the new messages' ids once
    /// they are durable.
    async fn send(&self, draft: Draft) -> Result<Vec<MessageId>, NodeError> {
        self.call(|reply| Command::Send { draft, reply }).await
    }

    /// [`Node::send`] of a draft that builds exactly one message.
    async fn send_one(&self, draft: Draft) -> Result<MessageId, NodeError> {
        let ids = self.send(draft).await?;
        ids.first()
            .copied()
            .ok_or_else(|| NodeError::Control("the node signed no message".into()))
    }

    /// Runs `read` on the view, on a blocking thread (sled reads block).
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&View) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let view = self
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(NodeError::Stopped)?;
        tokio::task::spawn_blocking(move || read(&view))
            .await
            .map_err(|e| NodeError::Control(format!("a read failed: {e}")))?
    }

    // ----- groups and membership -------------------------------------------------------

    /// Founds a group with the default [`Policy`]; returns its id.
    pub async fn create_group(&self, name: &str) -> Result<GroupId, NodeError> {
        self.create_group_with(name, Policy::default()).await
    }

    /// Founds a group whose charter carries `policy` (e.g. another rate limit).
    pub async fn create_group_with(
        &self,
        name: &str,
        policy: Policy,
    ) -> Result<GroupId, NodeError> {
        let name = name.to_string();
        self.call(|reply| Command::CreateGroup {
            name,
            policy,
            reply,
        })
        .await
    }

    /// A single-use invite ticket to `group` (id or unique name), valid for `ttl`, listing
    /// this node's advertised addresses, or else its explicitly bound listen addresses (see
    /// [`NodeConfig::advertise`]). Its record is stored and published before this returns.
    pub async fn invite(&self, group: &str, ttl: Duration) -> Result<String, NodeError> {
        self.invite_for(group, ttl, 1, Vec::new()).await
    }

    /// [`Node::invite`] listing exactly `addrs` (each gets `/p2p/` and this node's peer id);
    /// with none, as [`Node::invite`].
    pub async fn invite_at(
        &self,
        group: &str,
        ttl: Duration,
        addrs: Vec<Multiaddr>,
    ) -> Result<String, NodeError> {
        self.invite_for(group, ttl, 1, addrs).await
    }

    /// An invite ticket admitting up to `uses` newcomers (PROTOCOL.md §17), listing `addrs`
    /// as [`Node::invite_at`] does.
    pub async fn invite_for(
        &self,
        group: &str,
        ttl: Duration,
        uses: u32,
        addrs: Vec<Multiaddr>,
    ) -> Result<String, NodeError> {
        let group = group.to_string();
        self.call(|reply| Command::Invite {
            group,
            ttl,
            uses,
            addrs,
            reply,
        })
        .await
    }

    /// The pre-shared key of `group`'s private network (PROTOCOL.md §10): what a peer needs to
    /// connect to the group's swarm at all, and nothing more (no content key). For tools that
    /// bring a peer of their own to the network, such as the demo's outsider and tests.
    pub async fn network_key(&self, group: &str) -> Result<cove_crypto::NetworkKey, NodeError> {
        let group = group.to_string();
        self.call(|reply| Command::NetworkKey { group, reply })
            .await
    }

    /// The invite tickets of `group`, newest first: uses, admissions, expiry, withdrawal.
    pub async fn invites(&self, group: &str) -> Result<Vec<TicketInfo>, NodeError> {
        let group = group.to_string();
        self.call(|reply| Command::Tickets { group, reply }).await
    }

    /// Withdraws the invite ticket whose id starts with `id` (an admin, or the member who
    /// made it): from then on it admits nobody (PROTOCOL.md §17).
    pub async fn revoke_invite(&self, id: &str) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Uninvite { id: id.to_string() }).await
    }

    /// Joins the group of an invite and connects to its peers. With a ticket (what nodes
    /// mint), a member listed in the invite must admit this member first (PROTOCOL.md §17):
    /// this waits for its answer, and fails with [`NodeError::Admission`] when it refuses
    /// (the invite is used up, expired or withdrawn) or no member could be asked.
    pub async fn join(&self, invite: &str) -> Result<GroupId, NodeError> {
        let ticket = match AnyInvite::decode(invite, now_ms() / 1000)? {
            AnyInvite::Open(invite) => {
                return self.call(|reply| Command::Join { invite, reply }).await
            }
            AnyInvite::Ticket(ticket) => ticket,
        };
        let prepared = self
            .call(|reply| Command::PrepareAdmission {
                ticket: ticket.clone(),
                reply,
            })
            .await?;
        let (config, request) = match prepared {
            Admission::Member(group) => return Ok(group),
            Admission::Ask { config, request } => (config, request),
        };
        // Off the actor: dialing and waiting for a member takes seconds.
        let welcome = crate::admission::ask(*config, &ticket, &request).await?;
        self.call(|reply| Command::Welcome {
            ticket,
            welcome,
            reply,
        })
        .await
    }

    /// Groups joined.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, NodeError> {
        self.read(|view| Ok(view.group_infos())).await
    }

    // ----- posts, replies, recommendations ------------------------------------------------

    /// Posts to a group. Returns once the post is durably stored; it reaches peers now or,
    /// if none is reachable, as soon as one is.
    pub async fn post(
        &self,
        group: &str,
        title: Option<String>,
        text: &str,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Post {
            group: group.to_string(),
            title,
            text: text.to_string(),
        })
        .await
    }

    /// Replies to a post or a reply.
    pub async fn reply(&self, to: &str, text: &str) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Reply {
            to: to.to_string(),
            text: text.to_string(),
        })
        .await
    }

    /// Edits one of this member's own posts, replies or chat lines.
    pub async fn edit(
        &self,
        id: &str,
        title: Option<String>,
        text: &str,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Edit {
            id: id.to_string(),
            title,
            text: text.to_string(),
        })
        .await
    }

    /// Deletes one of this member's own posts, replies or chat lines.
    pub async fn delete(&self, id: &str) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Delete { id: id.to_string() }).await
    }

    /// Recommends a post or reply (`active`), or withdraws the recommendation.
    pub async fn recommend(&self, id: &str, active: bool) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Recommend {
            id: id.to_string(),
            active,
        })
        .await
    }

    /// The newest posts of a group, newest first.
    pub async fn feed(&self, group: &str, limit: usize) -> Result<Vec<FeedItem>, NodeError> {
        self.feed_ranked(FeedQuery::new_posts(Some(group), limit))
            .await
    }

    /// A feed in the query's order, with matched ads interleaved (labelled `kind: "ad"`).
    /// Whoever shows it to the member reports the ads with [`Node::ads_shown`].
    pub async fn feed_ranked(&self, query: FeedQuery) -> Result<Vec<FeedItem>, NodeError> {
        self.read(move |view| {
            let group = view.group_or_only(query.group.as_deref())?;
            let now = now_ms();
            let items = view.feed_ranked(
                &group,
                query.order,
                query.window,
                query.limit,
                query.explain,
                now,
            )?;
            view.interleave_ads(&group, items, now)
        })
        .await
    }

    /// A post and its visible replies (`id` may name any reply in it).
    pub async fn thread(&self, id: &str) -> Result<Thread, NodeError> {
        let id = id.to_string();
        self.read(move |view| view.thread(&id)).await
    }

    /// One visible post, reply or chat line.
    pub async fn show(&self, id: &str) -> Result<FeedItem, NodeError> {
        let id = id.to_string();
        self.read(move |view| view.show(&id)).await
    }

    // ----- profiles, rooms and chat ---------------------------------------------------------

    /// Sets this member's nickname (and bio) in a group.
    pub async fn set_profile(
        &self,
        group: &str,
        nickname: &str,
        bio: Option<String>,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Profile {
            group: group.to_string(),
            nickname: nickname.to_string(),
            bio,
        })
        .await
    }

    /// Profiles: a pseudonym's (hex) in the groups where it is known, or this member's own.
    pub async fn profiles(&self, member: Option<&str>) -> Result<Vec<ProfileInfo>, NodeError> {
        let member = member.map(str::to_string);
        self.read(move |view| view.profiles(member.as_deref()))
            .await
    }

    /// Creates a chat room.
    pub async fn create_room(
        &self,
        group: Option<&str>,
        name: &str,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Room {
            group: group.map(str::to_string),
            name: name.to_string(),
        })
        .await
    }

    /// The rooms of a group, oldest first.
    pub async fn rooms(&self, group: Option<&str>) -> Result<Vec<RoomInfo>, NodeError> {
        let group = group.map(str::to_string);
        self.read(move |view| view.rooms(&view.group_or_only(group.as_deref())?))
            .await
    }

    /// A room's id from its id or name.
    pub async fn resolve_room(
        &self,
        group: Option<&str>,
        room: &str,
    ) -> Result<MessageId, NodeError> {
        let (group, room) = (group.map(str::to_string), room.to_string());
        self.read(move |view| view.resolve_room(&view.group_or_only(group.as_deref())?, &room))
            .await
    }

    /// Sends a chat line to a room (id or name).
    pub async fn say(
        &self,
        group: Option<&str>,
        room: &str,
        text: &str,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Chat {
            group: group.map(str::to_string),
            room: room.to_string(),
            text: text.to_string(),
        })
        .await
    }

    /// The last `limit` visible lines of a room, oldest first.
    pub async fn chat_history(
        &self,
        group: Option<&str>,
        room: &str,
        limit: usize,
    ) -> Result<Vec<FeedItem>, NodeError> {
        let (group, room) = (group.map(str::to_string), room.to_string());
        self.read(move |view| {
            view.chat_history(&view.group_or_only(group.as_deref())?, &room, limit)
        })
        .await
    }

    /// Every message stored from now on (gossip, sync or own), for live views.
    pub fn watch(&self) -> broadcast::Receiver<SignedMessage> {
        self.accepted.subscribe()
    }

    // ----- moderation ----------------------------------------------------------------------

    /// Admin: bans (`active`) or unbans a pseudonym (hex).
    pub async fn ban(
        &self,
        group: Option<&str>,
        member: &str,
        active: bool,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Ban {
            group: group.map(str::to_string),
            member: member.to_string(),
            active,
        })
        .await
    }

    /// Admin: starts a new key epoch for the roster now (a ban does it by itself; §15).
    /// Returns the ids of the re-key messages (one per chunk of 600 members).
    pub async fn rekey(&self, group: Option<&str>) -> Result<Vec<MessageId>, NodeError> {
        self.send(Draft::Rekey {
            group: group.map(str::to_string),
        })
        .await
    }

    /// Founder: changes the group's governance (admins, policy, founder) with one signed
    /// amendment (§16).
    pub async fn amend(&self, group: Option<&str>, change: Change) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Amend {
            group: group.map(str::to_string),
            change,
        })
        .await
    }

    /// The group's roster: members with a member record who are not banned.
    pub async fn members(&self, group: Option<&str>) -> Result<Vec<MemberInfo>, NodeError> {
        let group = group.map(str::to_string);
        self.read(move |view| view.members(&view.group_or_only(group.as_deref())?))
            .await
    }

    /// Admin: removes any message for everyone.
    pub async fn remove(&self, id: &str) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Remove { id: id.to_string() }).await
    }

    /// The ids of `member`'s visible posts, replies and chat lines in a group, oldest first:
    /// a ban hides none of them (PROTOCOL.md §14), an admin's [`Node::remove`] of each does.
    pub async fn authored(
        &self,
        group: Option<&str>,
        member: &str,
    ) -> Result<Vec<MessageId>, NodeError> {
        let (group, member) = (group.map(str::to_string), member.to_string());
        self.read(move |view| view.authored(&view.group_or_only(group.as_deref())?, &member))
            .await
    }

    /// Admins, bans and this member's mutes.
    pub async fn moderation(&self, group: Option<&str>) -> Result<ModerationInfo, NodeError> {
        let group = group.map(str::to_string);
        self.read(move |view| view.moderation(&view.group_or_only(group.as_deref())?))
            .await
    }

    /// Mutes (or unmutes) a pseudonym, for this member only.
    pub async fn mute(
        &self,
        group: Option<&str>,
        member: &str,
        muted: bool,
    ) -> Result<(), NodeError> {
        let (group, member) = (group.map(str::to_string), member.to_string());
        self.call(|reply| Command::Mute {
            group,
            member,
            muted,
            reply,
        })
        .await
    }

    // ----- advertisers and ads -------------------------------------------------------------

    /// Admin: authorises an advertiser key.
    pub async fn grant_advertiser(
        &self,
        group: Option<&str>,
        grant: GrantRequest,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Grant {
            group: group.map(str::to_string),
            grant,
        })
        .await
    }

    /// Admin: revokes one grant (by id) or every live grant of an advertiser key.
    pub async fn revoke_advertiser(
        &self,
        group: Option<&str>,
        grant_or_key: &str,
    ) -> Result<Vec<MessageId>, NodeError> {
        self.send(Draft::Revoke {
            group: group.map(str::to_string),
            grant_or_key: grant_or_key.to_string(),
        })
        .await
    }

    /// Grants of a group, newest first.
    pub async fn grants(&self, group: Option<&str>) -> Result<Vec<GrantView>, NodeError> {
        let group = group.map(str::to_string);
        self.read(move |view| view.grants(&view.group_or_only(group.as_deref())?))
            .await
    }

    /// Advertiser: publishes a profile, signed with this data dir's advertiser key.
    pub async fn advertiser_profile(
        &self,
        group: Option<&str>,
        profile: Advertiser,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::AdvertiserProfile {
            group: group.map(str::to_string),
            profile,
        })
        .await
    }

    /// Advertiser: publishes an ad under the key's live grant.
    pub async fn publish_ad(
        &self,
        group: Option<&str>,
        ad: AdDraft,
    ) -> Result<MessageId, NodeError> {
        self.send_one(Draft::Ad {
            group: group.map(str::to_string),
            ad,
        })
        .await
    }

    /// Live ads of a group that match this member's interests, newest first.
    pub async fn ads(&self, group: Option<&str>) -> Result<Vec<AdView>, NodeError> {
        let group = group.map(str::to_string);
        self.read(move |view| view.matched_ads(&view.group_or_only(group.as_deref())?, now_ms()))
            .await
    }

    /// One live ad with its offer, matched or not.
    pub async fn ad(&self, id: &str) -> Result<AdView, NodeError> {
        let id = id.to_string();
        self.read(move |view| view.ad_show(&id, now_ms())).await
    }

    /// Counts one showing of each ad of `items` (those of `kind: "ad"`) for the daily cap:
    /// called by whatever showed a feed to the member.
    pub async fn ads_shown(&self, items: &[FeedItem]) -> Result<(), NodeError> {
        let ads = items
            .iter()
            .filter(|item| item.ad.is_some())
            .map(|item| item.id.parse())
            .collect::<Result<Vec<MessageId>, _>>()?;
        if ads.is_empty() {
            return Ok(());
        }
        self.call(|reply| Command::AdsShown { ads, reply }).await
    }

    /// Adds and removes private interests (never sent anywhere); returns the list.
    pub async fn set_interests(
        &self,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<Vec<String>, NodeError> {
        self.call(|reply| Command::Interests { add, remove, reply })
            .await
    }

    // ----- network -------------------------------------------------------------------------

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerSummary>, NodeError> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// Counters and addresses.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Cuts a peer off (closes connections, refuses new ones) for `duration`, or lifts a block
    /// with `None`. For an operator facing a misbehaving peer, and for partition tests.
    pub async fn block_peer(
        &self,
        peer: &str,
        duration: Option<Duration>,
    ) -> Result<(), NodeError> {
        let peer = peer.to_string();
        self.call(|reply| Command::Block {
            peer,
            duration,
            reply,
        })
        .await
    }

    /// Syncs one group (or all) with every connected member now; `progress` receives reports
    /// while messages are fetched.
    pub async fn sync(
        &self,
        group: Option<&str>,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Result<Vec<Report>, NodeError> {
        let group = group.map(str::to_string);
        self.call(|reply| Command::Sync {
            group,
            progress,
            reply,
        })
        .await
    }

    /// History sync as it happens (sessions running, started and ended, messages fetched),
    /// updated while sessions run: for live views of sync progress. Read without asking the
    /// actor; `status` carries the same figures.
    pub fn sync_activity(&self) -> watch::Receiver<SyncActivity> {
        self.sync.clone()
    }

    /// Stops the network, flushes and closes the store and ends the actor.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}
