//! The typed requests and answers of the [`Node`](crate::Node) API that are not views of
//! stored messages (those live in [`crate::view`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::GroupHealth;
use crate::message::{Offer, Targeting};
use crate::view::social::Order;

/// Which feed to read ([`crate::Node::feed_ranked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedQuery {
    /// Group id or unique name; `None`: the only group joined.
    pub group: Option<String>,
    /// The order.
    pub order: Order,
    /// Only posts created within this long before now.
    pub window: Option<Duration>,
    /// Most items (at most [`crate::view::social::MAX_FEED_LIMIT`]).
    pub limit: usize,
    /// Include each item's score components.
    pub explain: bool,
}

impl FeedQuery {
    /// The newest `limit` posts of `group`.
    pub fn new_posts(group: Option<&str>, limit: usize) -> Self {
        Self {
            group: group.map(str::to_string),
            order: Order::New,
            window: None,
            limit,
            explain: false,
        }
    }
}

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
