//! What the node tells about itself: connected peers, counters, and gossip health per group
//! (logged once when a problem appears and once when it clears).

use cove_crypto::GroupId;
use tracing::{info, warn};

use super::Actor;
use crate::error::NodeError;
use crate::health::{Change, GroupHealth};
use serde::{Deserialize, Serialize};

/// A connected peer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerSummary {
    /// libp2p peer id.
    pub peer: String,
    /// Known addresses.
    pub addrs: Vec<String>,
    /// Names of our groups whose topic the peer subscribes to.
    pub groups: Vec<String>,
}

/// What `cove status` shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// Where it listens.
    pub listen_addrs: Vec<String>,
    /// Groups joined.
    pub groups: usize,
    /// Connected peers.
    pub peers: usize,
    /// Gossip messages accepted since start.
    pub accepted: u64,
    /// Gossip messages rejected or ignored since start, by reason.
    pub rejected: std::collections::BTreeMap<String, u64>,
    /// Own messages that no proven member has confirmed holding yet (PROTOCOL.md §13.9).
    pub outbox: usize,
    /// Store size on disk, bytes.
    pub store_bytes: u64,
    /// Gossip per group: members connected, mesh, low scores, and what is wrong in words.
    #[serde(default)]
    pub group_health: Vec<GroupHealth>,
}

impl Actor {
    /// Every group's gossip health, as `cove status` shows it.
    pub(super) async fn group_health(&self) -> Result<Vec<(GroupId, GroupHealth)>, NodeError> {
        let mut all = Vec::new();
        for group in self.core.groups() {
            let topic = self.gossip.topic_health(&group.topic).await?;
            all.push((
                group.id,
                GroupHealth::new(&group.id, &group.charter.name, topic),
            ));
        }
        Ok(all)
    }

    /// Logs a gossip problem of a group once when it appears and once when it clears, so
    /// that a group does not fall silent unnoticed (see [`crate::health`]).
    pub(super) async fn check_health(&mut self) {
        let Ok(groups) = self.group_health().await else {
            return;
        };
        for (id, health) in groups {
            match self.warnings.update(id, &health) {
                Change::Appeared(problem) => warn!(
                    group = %id.short(),
                    members = health.members_connected,
                    mesh = health.mesh_peers,
                    below_gossip = health.below_gossip,
                    below_publish = health.below_publish,
                    graylisted = health.graylisted,
                    "gossip impaired: {problem}"
                ),
                Change::Cleared => info!(group = %id.short(), "gossip works again"),
                Change::Same => {}
            }
        }
    }

    pub(super) async fn peers(&self) -> Result<Vec<PeerSummary>, NodeError> {
        let peers = self.gossip.peers().await?;
        Ok(peers
            .into_iter()
            .map(|p| PeerSummary {
                peer: p.peer.to_string(),
                addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                groups: self
                    .core
                    .groups()
                    .filter(|g| p.topics.contains(&g.topic))
                    .map(|g| g.charter.name.clone())
                    .collect(),
            })
            .collect())
    }

    pub(super) async fn status(&self) -> Result<Status, NodeError> {
        let (accepted, rejected) = self.core.counters();
        Ok(Status {
            peer_id: self.gossip.local_peer_id().to_string(),
            listen_addrs: self
                .gossip
                .listen_addrs()
                .await?
                .iter()
                .map(|a| a.to_string())
                .collect(),
            groups: self.core.groups().count(),
            peers: self.gossip.peers().await?.len(),
            accepted,
            rejected: rejected.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            outbox: self.core.store().outbox()?.len(),
            store_bytes: self.core.store().size_on_disk(),
            group_health: self
                .group_health()
                .await?
                .into_iter()
                .map(|(_, h)| h)
                .collect(),
        })
    }
}
