//! The checks made before this member signs a message, and the content they build: each
//! takes what the user typed, reads what it needs through the [`View`](crate::view::View)
//! and refuses, with the input at fault, what the group would refuse. Signing, sealing and
//! storing are [`Core::compose`]'s.

use cove_crypto::{GroupId, Pseudonym};

use crate::core::Core;
use crate::error::{Input, NodeError};
use crate::message::{
    Ad, Advertiser, Ban, Chat, Content, Grant, MessageId, Offer, Recommend, Reply, Revoke, Room,
    Target, Targeting,
};
use crate::view::ads::{parse_key, GrantView};
use crate::view::social::{parse_id, parse_member};

/// An admin's grant to an advertiser key ([`crate::Node::grant_advertiser`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRequest {
    /// Advertiser key (hex).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Window start, unix ms (`None`: now).
    pub not_before: Option<u64>,
    /// Window end, unix ms.
    pub not_after: u64,
    /// Most ads per UTC day.
    pub daily_quota: u32,
    /// Targeting keys the advertiser may use.
    pub targeting: Vec<String>,
}

/// An advertiser's ad before it is signed ([`crate::Node::publish_ad`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdDraft {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Targeting (`None`: everyone).
    pub targeting: Option<Targeting>,
    /// Optional offer.
    pub offer: Option<Offer>,
}

impl Core {
    /// Checks and builds a reply to post or reply `parent`.
    pub fn reply_content(
        &self,
        parent: &str,
        text: String,
    ) -> Result<(GroupId, Content), NodeError> {
        let parent_id = parse_id(parent)?;
        let stored = self.view.known(&parent_id)?;
        let msg = &stored.signed.message;
        let root = match &msg.content {
            Content::Post(_) => parent_id,
            Content::Reply(r) => r.root,
            other => {
                return Err(NodeError::invalid(
                    Input::Message,
                    format!("cannot reply to a {}", other.kind()),
                ))
            }
        };
        Ok((
            msg.group,
            Content::Reply(Reply {
                root,
                parent: parent_id,
                text,
            }),
        ))
    }

    /// Checks and builds a recommendation (or its withdrawal) of a post or reply.
    pub fn recommend_content(
        &self,
        target: &str,
        active: bool,
    ) -> Result<(GroupId, Content), NodeError> {
        let target_id = parse_id(target)?;
        let stored = self.view.known(&target_id)?;
        let msg = &stored.signed.message;
        if !matches!(msg.content, Content::Post(_) | Content::Reply(_)) {
            return Err(NodeError::invalid(
                Input::Message,
                format!(
                    "only posts and replies can be recommended, not a {}",
                    msg.content.kind()
                ),
            ));
        }
        Ok((
            msg.group,
            Content::Recommend(Recommend {
                target: target_id,
                active,
            }),
        ))
    }

    /// Checks and builds an edit or deletion of one of this member's own messages.
    pub fn own_change_content(
        &self,
        target: &str,
        edit: Option<(Option<String>, String)>,
    ) -> Result<(GroupId, Content), NodeError> {
        let target_id = parse_id(target)?;
        let stored = self.view.known(&target_id)?;
        let msg = &stored.signed.message;
        let me = self.view.group_or_err(&msg.group)?.me;
        if msg.author != me {
            return Err(NodeError::invalid(
                Input::Message,
                format!(
                "message {target_id} is not yours: you can only edit or delete your own messages"
            ),
            ));
        }
        if !matches!(
            msg.content,
            Content::Post(_) | Content::Reply(_) | Content::Chat(_)
        ) {
            return Err(NodeError::invalid(
                Input::Message,
                format!("a {} cannot be edited or deleted", msg.content.kind()),
            ));
        }
        let content = match edit {
            Some((title, text)) => Content::Edit(crate::message::Edit {
                target: target_id,
                title,
                text,
            }),
            None => Content::Delete(Target { target: target_id }),
        };
        Ok((msg.group, content))
    }

    pub(crate) fn require_admin(&self, group: &GroupId) -> Result<(), NodeError> {
        let g = self.view.group_or_err(group)?;
        if !g.is_admin() {
            return Err(NodeError::invalid(
                Input::Group,
                format!(
                    "you are not an admin of {:?}: only the charter's admins can ban and remove",
                    g.charter.name
                ),
            ));
        }
        Ok(())
    }

    /// Checks and builds an admin ban (or unban) of a pseudonym.
    pub fn ban_content(
        &self,
        group: &GroupId,
        member: &str,
        active: bool,
    ) -> Result<Content, NodeError> {
        self.require_admin(group)?;
        let member = parse_member(member)?;
        if member == self.view.group_or_err(group)?.charter.founder {
            return Err(NodeError::invalid(
                Input::Member,
                "the founder cannot be banned",
            ));
        }
        Ok(Content::Ban(Ban { member, active }))
    }

    /// Checks and builds an admin removal of any message.
    pub fn remove_content(&self, target: &str) -> Result<(GroupId, Content), NodeError> {
        let target_id = parse_id(target)?;
        let group = self.view.known(&target_id)?.signed.message.group;
        self.require_admin(&group)?;
        Ok((group, Content::Remove(Target { target: target_id })))
    }

    /// Checks and builds a new room.
    pub fn room_content(&self, group: &GroupId, name: &str) -> Result<Content, NodeError> {
        if self
            .view
            .rooms(group)?
            .iter()
            .any(|r| r.name == name.trim())
        {
            return Err(NodeError::invalid(
                Input::Room,
                format!("a room named {name:?} already exists"),
            ));
        }
        Ok(Content::Room(Room {
            name: name.trim().to_string(),
        }))
    }

    /// Builds a chat line for a room (id or name).
    pub fn chat_content(
        &self,
        group: &GroupId,
        room: &str,
        text: String,
    ) -> Result<Content, NodeError> {
        Ok(Content::Chat(Chat {
            room: self.view.resolve_room(group, room)?,
            text,
        }))
    }

    /// Checks and builds a grant (admins only); a grant without a start starts at `now_ms`.
    pub fn grant_content(
        &self,
        group: &GroupId,
        grant: GrantRequest,
        now_ms: u64,
    ) -> Result<Content, NodeError> {
        self.require_admin(group)?;
        let advertiser = parse_key(
            &grant.key,
            "an advertiser key (64 hex characters, see `cove advertiser init`)",
        )?;
        let not_before = grant.not_before.unwrap_or(now_ms);
        if grant.not_after <= not_before {
            return Err(NodeError::invalid(
                Input::Advertiser,
                "the grant must end after it starts",
            ));
        }
        if grant.daily_quota == 0 {
            return Err(NodeError::invalid(
                Input::Advertiser,
                "--daily-quota must be at least 1",
            ));
        }
        Ok(Content::Grant(Grant {
            advertiser,
            name: grant.name.trim().to_string(),
            not_before,
            not_after: grant.not_after,
            daily_quota: grant.daily_quota,
            targeting: grant.targeting,
        }))
    }

    /// Checks and builds revocations: of one grant (by id), or of every live grant of a key.
    pub fn revoke_contents(
        &self,
        group: &GroupId,
        grant_or_key: &str,
    ) -> Result<Vec<Content>, NodeError> {
        self.require_admin(group)?;
        let grants = self.view.grants(group)?;
        let chosen: Vec<&GrantView> = match grant_or_key.trim().parse::<MessageId>() {
            Ok(id) if grants.iter().any(|g| g.id == id.to_string()) => {
                grants.iter().filter(|g| g.id == id.to_string()).collect()
            }
            _ => {
                let key = parse_key(grant_or_key, "a grant id or an advertiser key")?;
                grants
                    .iter()
                    .filter(|g| g.grant.advertiser == key && !g.revoked)
                    .collect()
            }
        };
        if chosen.is_empty() {
            return Err(NodeError::invalid(
                Input::Advertiser,
                format!("no unrevoked grant matches {grant_or_key:?} (see `cove admin grants`)"),
            ));
        }
        chosen
            .iter()
            .map(|g| {
                Ok(Content::Revoke(Revoke {
                    grant: g.id.parse()?,
                }))
            })
            .collect()
    }

    /// The live grant under which `advertiser` may publish now in `group`.
    pub fn live_grant(
        &self,
        group: &GroupId,
        advertiser: &Pseudonym,
        now_ms: u64,
    ) -> Result<(MessageId, Grant), NodeError> {
        let key = advertiser.public();
        self.view.grants(group)?
            .into_iter()
            .filter(|g| g.grant.advertiser == key && !g.revoked && g.grant.not_before <= now_ms && now_ms <= g.grant.not_after)
            .map(|g| Ok((g.id.parse::<MessageId>()?, g.grant)))
            .next()
            .unwrap_or_else(|| {
                Err(NodeError::invalid(Input::Advertiser, format!(
                    "advertiser key {key} has no live grant in this group: ask an admin for `cove admin grant-advertiser`"
                )))
            })
    }

    /// Checks a draft ad and builds it under the advertiser's live grant (targeting
    /// everyone when the draft names none).
    pub fn ad_content(
        &self,
        group: &GroupId,
        advertiser: &Pseudonym,
        draft: AdDraft,
        now_ms: u64,
    ) -> Result<Content, NodeError> {
        let (grant_id, grant) = self.live_grant(group, advertiser, now_ms)?;
        let targeting = draft.targeting.unwrap_or(Targeting {
            all: Some(vec![]),
            ..Default::default()
        });
        if let Some(key) = targeting
            .keys()
            .into_iter()
            .find(|k| !grant.targeting.iter().any(|g| g == k))
        {
            return Err(NodeError::invalid(
                Input::Advertiser,
                format!(
                    "targeting key {key:?} is not allowed by your grant (allowed: {})",
                    grant.targeting.join(", ")
                ),
            ));
        }
        Ok(Content::Ad(Ad {
            grant: grant_id,
            title: draft.title,
            body: draft.body,
            targeting,
            offer: draft.offer,
        }))
    }

    /// Checks and builds an advertiser profile.
    pub fn advertiser_content(
        &self,
        group: &GroupId,
        advertiser: &Pseudonym,
        profile: Advertiser,
    ) -> Result<Content, NodeError> {
        let key = advertiser.public();
        if !self
            .view
            .grants(group)?
            .iter()
            .any(|g| g.grant.advertiser == key)
        {
            return Err(NodeError::invalid(
                Input::Advertiser,
                format!("advertiser key {key} has no grant in this group yet"),
            ));
        }
        Ok(Content::Advertiser(profile))
    }
}
