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
    /// How we are connected: `direct`, `relayed` (only through a relay), or `direct+relayed`
    /// (a hole was just punched and the relayed connection is being closed).
    #[serde(default)]
    pub connection: String,
}

/// One group's private network as this node runs it (PROTOCOL.md §10).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkStatus {
    /// The group id (hex).
    pub group: String,
    /// The group's name.
    pub name: String,
    /// This node's peer id in the group's network (a different one in every group).
    pub peer_id: String,
    /// Where the group's network listens, each address ending in `/p2p/<peer_id>`.
    pub listen_addrs: Vec<String>,
    /// Where the group's door listens (admission only, PROTOCOL.md §10.3): the addresses
    /// invites list.
    #[serde(default)]
    pub door_addrs: Vec<String>,
    /// Connected peers in the group's network.
    pub peers: usize,
    /// Members whose addresses this node remembers for the group (dialed at start and when
    /// lost; `DATA_DIR/nets/`).
    #[serde(default)]
    pub remembered_peers: usize,
    /// The number of the key epoch this node seals in (0: the group's first; §15).
    #[serde(default)]
    pub epoch: u32,
    /// That epoch's tag, 8 hex characters.
    #[serde(default)]
    pub epoch_tag: String,
    /// How members can reach this node in the group's network, in words and facts.
    #[serde(default)]
    pub reach: crate::reach::NetReach,
}

/// What `cove status` shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// Every group's network: the node has no network identity of its own, one peer id and
    /// one set of listen addresses per group.
    pub networks: Vec<NetworkStatus>,
    /// Every address of every group's network (the union of `networks[].listen_addrs`).
    pub listen_addrs: Vec<String>,
    /// Groups joined.
    pub groups: usize,
    /// Connected peers, over every group's network.
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
    /// Sync sessions since start, and what they fetched.
    #[serde(default)]
    pub sync: SyncActivity,
}

/// History sync as it happens, over every group: sessions this node ran as the requester
/// (automatic ones and `cove sync`) and the messages they brought. Updated while sessions
/// run, a page of fetched messages at a time; [`crate::Node::sync_activity`] watches it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncActivity {
    /// Sessions running now.
    pub running: usize,
    /// Sessions started since the node started.
    pub started: u64,
    /// Sessions ended since the node started, completed or failed.
    pub finished: u64,
    /// Messages fetched by sessions and newly stored, since the node started.
    pub fetched: u64,
}

impl Actor {
    /// Every group's gossip health, as `cove status` shows it.
    pub(super) async fn group_health(&self) -> Result<Vec<(GroupId, GroupHealth)>, NodeError> {
        let mut all = Vec::new();
        for group in self.core.groups() {
            let topic = self
                .nets
                .gossip(&group.id)?
                .topic_health(&group.topic)
                .await?;
            all.push((
                group.id,
                GroupHealth::new(&group.id, &group.charter.name, topic)
                    .with_last_contact(self.peers.last_contact(&group.id), crate::now_ms()),
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
        let mut all = Vec::new();
        for (id, net) in self.nets.iter() {
            let Some(group) = self.core.group(id) else {
                continue;
            };
            for p in net.gossip.peers().await? {
                all.push(PeerSummary {
                    peer: p.peer.to_string(),
                    addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                    groups: p
                        .topics
                        .contains(&group.topic)
                        .then(|| group.charter.name.clone())
                        .into_iter()
                        .collect(),
                    connection: match (p.direct, p.relayed) {
                        (true, false) => "direct",
                        (false, true) => "relayed",
                        (true, true) => "direct+relayed",
                        (false, false) => "connecting",
                    }
                    .to_owned(),
                });
            }
        }
        Ok(all)
    }

    pub(super) async fn status(&self) -> Result<Status, NodeError> {
        let (accepted, rejected) = self.core.counters();
        let mut networks = Vec::new();
        for group in self.core.groups() {
            let Some(net) = self.nets.get(&group.id) else {
                continue;
            };
            let listen_addrs = net.gossip.listen_addrs().await?;
            let door_addrs = match self.nets.door(&group.id) {
                Some(door) => door.gossip.listen_addrs().await?,
                None => Vec::new(),
            };
            let peers = net.gossip.peers().await?.len();
            let reach = crate::reach::describe(
                &net.gossip.reachability().await?,
                &net.advertise,
                !listen_addrs.is_empty(),
                peers,
            );
            networks.push(NetworkStatus {
                group: group.id.to_string(),
                name: group.charter.name.clone(),
                peer_id: net.gossip.local_peer_id().to_string(),
                listen_addrs: listen_addrs.iter().map(|a| a.to_string()).collect(),
                door_addrs: door_addrs.iter().map(|a| a.to_string()).collect(),
                peers,
                reach,
                remembered_peers: self.peers.remembered(&group.id),
                epoch: group.epochs.current().number,
                epoch_tag: format!("{:08x}", group.epochs.current().tag),
            });
        }
        Ok(Status {
            listen_addrs: networks
                .iter()
                .flat_map(|n| n.listen_addrs.iter().cloned())
                .collect(),
            peers: networks.iter().map(|n| n.peers).sum(),
            networks,
            groups: self.core.groups().count(),
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
            sync: self.sync_meter.now(),
        })
    }
}
