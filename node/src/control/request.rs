//! The control socket's codec: one JSON [`Request`] per line in, one JSON [`Response`] per
//! line out, and [`dispatch`], the one place where a request becomes a typed [`Node`] call
//! and its typed answer becomes JSON again. Nothing else in this crate touches JSON values.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{AdDraft, FeedQuery, GrantRequest, Node};
use crate::error::{Input, NodeError};

/// A command for the running node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Found a group.
    CreateGroup {
        /// Group name.
        name: String,
        /// Per-pseudonym rate limit written into the charter: `"MAX/WINDOW"` (e.g.
        /// `"100/10s"`) or `"none"`. Default: [`RateLimit::default`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_limit: Option<String>,
    },
    /// Mint an invite ticket.
    Invite {
        /// Group id or unique name.
        group: String,
        /// Lifetime in seconds.
        ttl_secs: u64,
        /// How many newcomers it admits (default 1).
        #[serde(default = "one_use")]
        uses: u32,
        /// Multiaddrs the invite lists instead of the node's own choice (see
        /// [`Node::invite_at`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        addrs: Vec<String>,
    },
    /// A group's invite tickets.
    Invites {
        /// Group id or unique name.
        group: String,
    },
    /// Withdraw an invite ticket.
    RevokeInvite {
        /// The ticket's id, or a prefix of at least 8 hex characters.
        id: String,
    },
    /// Join from an invite.
    Join {
        /// The invite string.
        invite: String,
    },
    /// List groups.
    Groups,
    /// Post.
    Post {
        /// Group id or unique name.
        group: String,
        /// Optional title.
        title: Option<String>,
        /// Text.
        text: String,
    },
    /// Set nickname/bio.
    SetProfile {
        /// Group id or unique name.
        group: String,
        /// Nickname.
        nickname: String,
        /// Optional bio.
        bio: Option<String>,
    },
    /// Connected peers.
    Peers,
    /// Counters.
    Status,
    /// Block a peer for `secs` seconds, or unblock it when `secs` is absent.
    Block {
        /// Peer id.
        peer: String,
        /// Block duration in seconds; `None` lifts the block.
        secs: Option<u64>,
    },
    /// Sync now with every connected member; progress lines stream before the answer.
    Sync {
        /// One group (id or unique name), or all.
        group: Option<String>,
    },
    /// Reply to a post or reply.
    Reply {
        /// Id of the post or reply answered.
        to: String,
        /// Text.
        text: String,
    },
    /// A post and its replies.
    Thread {
        /// Id of the post (or of any reply in it).
        id: String,
    },
    /// One post, reply or chat line as shown.
    Show {
        /// Message id.
        id: String,
    },
    /// Edit one of your own messages.
    Edit {
        /// Message id.
        id: String,
        /// New title (posts).
        title: Option<String>,
        /// New text.
        text: String,
    },
    /// Delete one of your own messages.
    Delete {
        /// Message id.
        id: String,
    },
    /// Recommend a post or reply, or withdraw the recommendation.
    Recommend {
        /// Message id.
        id: String,
        /// Withdraw instead.
        #[serde(default)]
        undo: bool,
    },
    /// A feed in an order, optionally within a time window.
    Ranked {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// `new`, `hot` or `top`.
        order: crate::view::social::Order,
        /// Only posts created in the last `window_secs` seconds.
        window_secs: Option<u64>,
        /// Most items.
        limit: usize,
        /// Include score components.
        #[serde(default)]
        explain: bool,
    },
    /// Create a chat room.
    RoomCreate {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room name.
        name: String,
    },
    /// List chat rooms.
    Rooms {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Send a chat line.
    Say {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
        /// The line.
        text: String,
    },
    /// Recent chat lines of a room.
    ChatHistory {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
        /// Most lines.
        limit: usize,
    },
    /// A room's id from its name.
    ResolveRoom {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
    },
    /// Stream new chat lines of a room (one `event` line each) until the client disconnects.
    Watch {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
    },
    /// Profiles: yours in every group, or a pseudonym's.
    Profiles {
        /// Pseudonym (hex); absent: your own.
        member: Option<String>,
    },
    /// Admin: ban (or unban) a pseudonym.
    AdminBan {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Pseudonym (hex).
        member: String,
        /// Unban instead.
        #[serde(default)]
        undo: bool,
    },
    /// Founder: change the governance, one change per request: `add_admin`, `remove_admin`,
    /// `hand_over` (a pseudonym each), or the policy (`rate_limit`, `max_future_skew_secs`).
    AdminAmend {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Make this pseudonym an admin.
        #[serde(default)]
        add_admin: Option<String>,
        /// Retire this admin.
        #[serde(default)]
        remove_admin: Option<String>,
        /// Hand the founder role to this pseudonym.
        #[serde(default)]
        hand_over: Option<String>,
        /// New rate limit, `MAX/WINDOW` or `none`.
        #[serde(default)]
        rate_limit: Option<String>,
        /// New future skew, seconds.
        #[serde(default)]
        max_future_skew_secs: Option<u64>,
        /// Who may make invite tickets: `admins` or `members`.
        #[serde(default)]
        invite: Option<String>,
    },
    /// Admin: start a new key epoch for the roster now.
    AdminRekey {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// The group's roster.
    Members {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Admin: remove any message for everyone.
    AdminRemove {
        /// Message id.
        id: String,
    },
    /// Admins, bans and your mutes.
    AdminList {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Mute (or unmute) a pseudonym, locally.
    Mute {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Pseudonym (hex).
        member: String,
        /// Unmute instead.
        #[serde(default)]
        undo: bool,
    },
    /// Admin: authorise an advertiser key.
    GrantAdvertiser {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Advertiser key (hex).
        key: String,
        /// Display name.
        name: String,
        /// Window start, unix ms (absent: now).
        not_before: Option<u64>,
        /// Window end, unix ms.
        not_after: u64,
        /// Most ads per UTC day.
        daily_quota: u32,
        /// Allowed targeting keys.
        targeting: Vec<String>,
    },
    /// Admin: revoke one grant (by id) or every grant of an advertiser key.
    RevokeAdvertiser {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Grant id or advertiser key.
        grant_or_key: String,
    },
    /// Grants of a group.
    Grants {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Advertiser: publish a profile (signed with the advertiser key).
    AdvertiserProfile {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// The profile.
        profile: crate::message::Advertiser,
    },
    /// Advertiser: publish an ad under your live grant.
    AdPublish {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Title.
        title: String,
        /// Body.
        body: String,
        /// Targeting (default: everyone).
        #[serde(default)]
        targeting: Option<crate::message::Targeting>,
        /// Optional offer.
        #[serde(default)]
        offer: Option<crate::message::Offer>,
    },
    /// Live ads matching your interests.
    Ads {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// One live ad with its offer.
    AdShow {
        /// Ad id.
        id: String,
    },
    /// Add or remove private interests (never sent anywhere); returns the list.
    Interests {
        /// Keys to add.
        #[serde(default)]
        add: Vec<String>,
        /// Keys to remove.
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Stop the node.
    Shutdown,
}

/// The node's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// An intermediate progress report (only for `sync`); more lines follow.
    Progress(crate::sync::Progress),
    /// A live event (only for `watch`); more lines follow until the client disconnects.
    Event(serde_json::Value),
    /// Success, with the command's result.
    Ok(serde_json::Value),
    /// Failure.
    Error {
        /// Whether the request's input was at fault.
        user_error: bool,
        /// What went wrong.
        message: String,
    },
}

/// Parses one request line as the server reads it from the control socket (the trailing
/// newline is allowed). The socket is local and authenticated, but this is still the parser
/// facing bytes from another process, so it is fuzzed (`fuzz/fuzz_targets/control_request.rs`).
pub fn parse_request(line: &str) -> Result<Request, serde_json::Error> {
    serde_json::from_str(line)
}

fn json<T: Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).expect("plain data serialises to JSON")
}

/// Runs one request against the node and encodes its answer. (`watch` and `sync` stream
/// lines before their answer: the socket server runs them itself.)
pub async fn dispatch(node: &Node, request: Request) -> Result<serde_json::Value, NodeError> {
    let id = |id: crate::message::MessageId| json(id.to_string());
    Ok(match request {
        Request::CreateGroup { name, rate_limit } => {
            let policy = crate::message::Policy::with_rate_limit(rate_limit.as_deref())
                .map_err(|reason| NodeError::invalid(Input::Policy, reason))?;
            json(node.create_group_with(&name, policy).await?.to_string())
        }
        Request::Invite {
            group,
            ttl_secs,
            uses,
            addrs,
        } => {
            let addrs = addrs
                .iter()
                .map(|a| {
                    a.parse().map_err(|e| {
                        NodeError::invalid(
                            Input::Address,
                            format!("invite address {a:?} is not a multiaddr: {e}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            json(
                node.invite_for(&group, Duration::from_secs(ttl_secs), uses, addrs)
                    .await?,
            )
        }
        Request::Invites { group } => json(node.invites(&group).await?),
        Request::RevokeInvite { id: ticket } => id(node.revoke_invite(&ticket).await?),
        Request::Join { invite } => json(node.join(&invite).await?.to_string()),
        Request::Groups => json(node.groups().await?),
        Request::Post { group, title, text } => id(node.post(&group, title, &text).await?),
        Request::SetProfile {
            group,
            nickname,
            bio,
        } => id(node.set_profile(&group, &nickname, bio).await?),
        Request::Peers => json(node.peers().await?),
        Request::Status => json(node.status().await?),
        Request::Sync { group } => json(node.sync(group.as_deref(), None).await?),
        Request::Block { peer, secs } => json(
            node.block_peer(&peer, secs.map(Duration::from_secs))
                .await?,
        ),
        Request::Reply { to, text } => id(node.reply(&to, &text).await?),
        Request::Thread { id } => json(node.thread(&id).await?),
        Request::Show { id } => json(node.show(&id).await?),
        Request::Edit {
            id: target,
            title,
            text,
        } => id(node.edit(&target, title, &text).await?),
        Request::Delete { id: target } => id(node.delete(&target).await?),
        Request::Recommend { id: target, undo } => id(node.recommend(&target, !undo).await?),
        Request::Ranked {
            group,
            order,
            window_secs,
            limit,
            explain,
        } => {
            let items = node
                .feed_ranked(FeedQuery {
                    group,
                    order,
                    window: window_secs.map(Duration::from_secs),
                    limit,
                    explain,
                })
                .await?;
            // The CLI prints what it gets: the ads in it count as shown.
            node.ads_shown(&items).await?;
            json(items)
        }
        Request::RoomCreate { group, name } => {
            id(node.create_room(group.as_deref(), &name).await?)
        }
        Request::Rooms { group } => json(node.rooms(group.as_deref()).await?),
        Request::Say { group, room, text } => id(node.say(group.as_deref(), &room, &text).await?),
        Request::ChatHistory { group, room, limit } => {
            json(node.chat_history(group.as_deref(), &room, limit).await?)
        }
        Request::ResolveRoom { group, room } => {
            id(node.resolve_room(group.as_deref(), &room).await?)
        }
        Request::Profiles { member } => json(node.profiles(member.as_deref()).await?),
        Request::AdminBan {
            group,
            member,
            undo,
        } => id(node.ban(group.as_deref(), &member, !undo).await?),
        Request::AdminRemove { id: target } => id(node.remove(&target).await?),
        Request::AdminRekey { group } => json(
            (node.rekey(group.as_deref()).await?.iter())
                .map(|id| id.to_string())
                .collect::<Vec<_>>(),
        ),
        Request::Members { group } => json(node.members(group.as_deref()).await?),
        Request::AdminAmend {
            group,
            add_admin,
            remove_admin,
            hand_over,
            rate_limit,
            max_future_skew_secs,
            invite,
        } => {
            let change = change(
                add_admin,
                remove_admin,
                hand_over,
                rate_limit,
                max_future_skew_secs,
                invite,
            )?;
            id(node.amend(group.as_deref(), change).await?)
        }
        Request::AdminList { group } => json(node.moderation(group.as_deref()).await?),
        Request::Mute {
            group,
            member,
            undo,
        } => json(node.mute(group.as_deref(), &member, !undo).await?),
        Request::GrantAdvertiser {
            group,
            key,
            name,
            not_before,
            not_after,
            daily_quota,
            targeting,
        } => {
            let grant = GrantRequest {
                key,
                name,
                not_before,
                not_after,
                daily_quota,
                targeting,
            };
            id(node.grant_advertiser(group.as_deref(), grant).await?)
        }
        Request::RevokeAdvertiser {
            group,
            grant_or_key,
        } => {
            let ids = node
                .revoke_advertiser(group.as_deref(), &grant_or_key)
                .await?;
            json(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
        }
        Request::Grants { group } => json(node.grants(group.as_deref()).await?),
        Request::AdvertiserProfile { group, profile } => {
            id(node.advertiser_profile(group.as_deref(), profile).await?)
        }
        Request::AdPublish {
            group,
            title,
            body,
            targeting,
            offer,
        } => {
            let ad = AdDraft {
                title,
                body,
                targeting,
                offer,
            };
            id(node.publish_ad(group.as_deref(), ad).await?)
        }
        Request::Ads { group } => json(node.ads(group.as_deref()).await?),
        Request::AdShow { id: ad } => json(node.ad(&ad).await?),
        Request::Interests { add, remove } => json(node.set_interests(add, remove).await?),
        Request::Shutdown => json(node.shutdown().await?),
        Request::Watch { .. } => {
            return Err(NodeError::invalid(
                Input::Request,
                "watch streams: use Client::watch",
            ))
        }
    })
}

/// The one governance change an `admin_amend` request asks for.
fn change(
    add_admin: Option<String>,
    remove_admin: Option<String>,
    hand_over: Option<String>,
    rate_limit: Option<String>,
    max_future_skew_secs: Option<u64>,
    invite: Option<String>,
) -> Result<crate::core::Change, NodeError> {
    use crate::core::Change;
    let member = |text: String| crate::view::social::parse_member(&text);
    let policy = rate_limit.is_some() || max_future_skew_secs.is_some() || invite.is_some();
    let asked = [
        add_admin.is_some(),
        remove_admin.is_some(),
        hand_over.is_some(),
        policy,
    ];
    if asked.iter().filter(|a| **a).count() != 1 {
        return Err(NodeError::invalid(
            Input::Request,
            "give exactly one change: add_admin, remove_admin, hand_over, or the policy \
             (rate_limit, max_future_skew_secs and/or invite)",
        ));
    }
    Ok(match (add_admin, remove_admin, hand_over) {
        (Some(m), _, _) => Change::AddAdmin(member(m)?),
        (_, Some(m), _) => Change::RemoveAdmin(member(m)?),
        (_, _, Some(m)) => Change::HandOver(member(m)?),
        _ => Change::Policy {
            rate_limit: rate_limit
                .map(|text| match text.trim() {
                    "none" => Ok(None),
                    text => text
                        .parse::<crate::message::RateLimit>()
                        .map(Some)
                        .map_err(|e| NodeError::invalid(Input::Policy, e)),
                })
                .transpose()?,
            max_future_skew_secs,
            invite: invite
                .map(|text| {
                    text.parse()
                        .map_err(|e| NodeError::invalid(Input::Policy, e))
                })
                .transpose()?,
        },
    })
}

/// An invite's default number of uses.
fn one_use() -> u32 {
    1
}
