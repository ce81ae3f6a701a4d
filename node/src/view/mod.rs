//! The read half: what a member sees, computed from the store's reader and a table of the
//! groups joined. Nothing here writes, and nothing here runs on the actor: the [`crate::Node`]
//! handle serves every view on a blocking thread of its own, so a long feed never delays
//! validation.
//!
//! - [`social`]: feeds ranked `new`, `hot` or `top`, threads, rooms and chat, profiles,
//!   moderation state.
//! - [`ads`]: live ads matched on this device, grants.
//!
//! Every view applies the same visibility rule, so every member shows the same thing for the
//! same set of messages (mutes aside, which are local): see [`social`].

pub mod ads;
pub mod social;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use cove_crypto::{GroupId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::message::Charter;
use crate::store::StoreReader;

/// What a view needs to know of a joined group (no secret: views never seal nor sign).
#[derive(Clone, Debug)]
pub struct GroupView {
    /// Group id.
    pub id: GroupId,
    /// Gossip topic.
    pub topic: String,
    /// The verified charter.
    pub charter: Charter,
    /// This member's pseudonym in the group.
    pub me: PublicKey,
}

impl GroupView {
    /// Whether this member is one of the charter's admins.
    pub fn is_admin(&self) -> bool {
        self.charter.admins.contains(&self.me)
    }
}

/// One group in `cove groups`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group id (hex).
    pub id: String,
    /// Name from the charter.
    pub name: String,
    /// The gossip topic (derived from the group secret; reveals nothing about the group).
    pub topic: String,
    /// This member's pseudonym in the group (hex public key).
    pub me: String,
    /// Whether this member is an admin.
    pub admin: bool,
    /// Messages stored.
    pub messages: usize,
}

/// The groups joined, shared by the writer ([`crate::core::Core`] adds a group when it is
/// founded or joined) and every view.
#[derive(Clone, Debug, Default)]
pub struct Groups(Arc<RwLock<BTreeMap<GroupId, GroupView>>>);

impl Groups {
    /// Adds (or replaces) a group.
    pub fn insert(&self, group: GroupView) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group.id, group);
    }

    fn all(&self) -> Vec<GroupView> {
        let table = self.0.read().unwrap_or_else(|e| e.into_inner());
        table.values().cloned().collect()
    }

    fn get(&self, id: &GroupId) -> Option<GroupView> {
        let table = self.0.read().unwrap_or_else(|e| e.into_inner());
        table.get(id).cloned()
    }
}

/// The view a node's handles read from; emptied when the node stops, so that no handle keeps
/// the store open (a stopped node's data dir can be opened again at once).
pub(crate) type ViewSlot = Arc<RwLock<Option<View>>>;

/// The read half of a node's state: cheap to clone, safe to use from any thread.
#[derive(Clone, Debug)]
pub struct View {
    store: StoreReader,
    groups: Groups,
}

impl View {
    /// A view over `store` and the group table `groups`.
    pub fn new(store: StoreReader, groups: Groups) -> Self {
        Self { store, groups }
    }

    /// The store's read half.
    pub fn store(&self) -> &StoreReader {
        &self.store
    }

    /// Every group joined, in id order.
    pub fn groups(&self) -> Vec<GroupView> {
        self.groups.all()
    }

    /// A joined group by id.
    pub fn group(&self, id: &GroupId) -> Option<GroupView> {
        self.groups.get(id)
    }

    /// A joined group by id, or [`NodeError::UnknownGroup`].
    pub fn group_or_err(&self, id: &GroupId) -> Result<GroupView, NodeError> {
        self.group(id)
            .ok_or_else(|| NodeError::UnknownGroup(id.to_string()))
    }

    /// Finds a group by full id, unique id prefix (at least 8 hex chars) or unique name.
    pub fn resolve_group(&self, query: &str) -> Result<GroupId, NodeError> {
        let query = query.trim();
        let groups = self.groups();
        if let Ok(id) = query.parse::<GroupId>() {
            if groups.iter().any(|g| g.id == id) {
                return Ok(id);
            }
        }
        let by_name: Vec<_> = groups.iter().filter(|g| g.charter.name == query).collect();
        let matches = if by_name.is_empty() && query.len() >= 8 {
            groups
                .iter()
                .filter(|g| g.id.to_string().starts_with(&query.to_lowercase()))
                .collect()
        } else {
            by_name
        };
        match matches.as_slice() {
            [one] => Ok(one.id),
            [] => Err(NodeError::UnknownGroup(query.to_string())),
            many => Err(NodeError::AmbiguousGroup {
                name: query.to_string(),
                ids: many
                    .iter()
                    .map(|g| g.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The group named by `query`, or the only group joined when none is named.
    pub fn group_or_only(&self, query: Option<&str>) -> Result<GroupId, NodeError> {
        if let Some(query) = query {
            return self.resolve_group(query);
        }
        match self.groups().as_slice() {
            [only] => Ok(only.id),
            [] => Err(NodeError::invalid(
                crate::error::Input::Group,
                "you belong to no group yet",
            )),
            many => Err(NodeError::invalid(
                crate::error::Input::Group,
                format!(
                    "you belong to {} groups: say which with --group",
                    many.len()
                ),
            )),
        }
    }

    /// Summaries of every group, by name.
    pub fn group_infos(&self) -> Vec<GroupInfo> {
        let mut infos: Vec<_> = self
            .groups()
            .into_iter()
            .map(|g| GroupInfo {
                id: g.id.to_string(),
                name: g.charter.name.clone(),
                topic: g.topic.clone(),
                me: g.me.to_string(),
                admin: g.is_admin(),
                messages: self.store.message_count(&g.id),
            })
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        infos
    }
}
