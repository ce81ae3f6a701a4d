//! A non-member on a group's topic: for the demo and tests of the closed-group property.
//!
//! An outsider runs a real gossip node and subscribes to a group's topic (as if it had sniffed
//! the topic string), but it has no invite: no group secret, so no content key. It records
//! every payload it receives and can publish arbitrary bytes. Members must show it nothing but
//! ciphertext and reject everything it injects.
//!
//! Each group runs on a private network (PROTOCOL.md §10), so an outsider started with
//! [`Outsider::start`] cannot even connect to a member. [`Outsider::inside`] gives it the
//! group's network key (as if it had stolen only that): it then reaches the gossip and sync
//! layers, which is what the tests of validation and of sync's membership proofs need.

use std::sync::{Arc, Mutex};

use cove_gossip::{Event, Gossip, Keypair, Multiaddr, Published, Verdict};

use crate::error::NodeError;

/// Most payloads (and announced topics) an outsider keeps.
pub const MAX_RECORDED: usize = 10_000;

/// Keeps `item` in `list`, up to [`MAX_RECORDED`].
fn record<T>(list: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut list) = list.lock() {
        if list.len() < MAX_RECORDED {
            list.push(item);
        }
    }
}

/// A running non-member gossip node.
#[derive(Debug)]
pub struct Outsider {
    gossip: Gossip,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Topics peers announced to it (gossipsub subscriptions).
    announced: Arc<Mutex<Vec<String>>>,
}

impl Outsider {
    /// Starts on loopback without any network key, dials `peer` and subscribes to `topic`.
    /// Against a member's group address the dial fails: the outsider connects to nothing.
    pub async fn start(topic: &str, peer: Multiaddr) -> Result<Outsider, NodeError> {
        Self::start_with(topic, peer, None).await
    }

    /// Starts on loopback inside a group's private network (`network_key`, the group's
    /// `GroupSecret::network_key`), dials `peer` and subscribes to `topic`: a peer past the
    /// network layer that still has no content or sync key.
    pub async fn inside(
        network_key: [u8; 32],
        topic: &str,
        peer: Multiaddr,
    ) -> Result<Outsider, NodeError> {
        Self::start_with(topic, peer, Some(network_key)).await
    }

    async fn start_with(
        topic: &str,
        peer: Multiaddr,
        psk: Option<[u8; 32]>,
    ) -> Result<Outsider, NodeError> {
        let mut config = cove_gossip::Config::new(Keypair::generate_ed25519());
        config.psk = psk;
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")];
        config.mdns = false;
        // Only the peer it dials: tests decide the topology (what it reaches is via that peer).
        config.discovery = false;
        config.fast_timers = true;
        let (gossip, mut events) = Gossip::spawn(config).await?;
        // A random discovery key: the outsider does not know the group's.
        gossip.subscribe(topic, rand::random()).await?;
        gossip.dial(peer).await?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let announced = Arc::new(Mutex::new(Vec::new()));
        let (recorder, topics, handle) = (seen.clone(), announced.clone(), gossip.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    Event::Message {
                        id, source, data, ..
                    } => {
                        record(&recorder, data);
                        // It cannot judge the payload; it lets it through like any relay.
                        let _ = handle.report(id, source, Verdict::Accept).await;
                    }
                    Event::PeerSubscribed { topic, .. } => record(&topics, topic),
                    _ => {}
                }
            }
        });
        Ok(Outsider {
            gossip,
            seen,
            announced,
        })
    }

    /// The outsider's libp2p peer id.
    pub fn peer_id(&self) -> cove_gossip::PeerId {
        self.gossip.local_peer_id()
    }

    /// Every payload received on the topic so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every topic a connected peer announced it subscribes to, so far.
    pub fn announced(&self) -> Vec<String> {
        self.announced.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Publishes raw bytes on the topic.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<Published, NodeError> {
        Ok(self.gossip.publish(topic, data).await?)
    }

    /// Sends a sync-protocol request (§13) to a connected `peer` and returns the answer's bytes.
    pub async fn request(
        &self,
        peer: cove_gossip::PeerId,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, NodeError> {
        Ok(self.gossip.request(peer, data).await?)
    }

    /// Dials another address (e.g. to try again after being cut off).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        Ok(self.gossip.dial(addr).await?)
    }

    /// Connected peers' ids.
    pub async fn peers(&self) -> Result<Vec<String>, NodeError> {
        Ok(self
            .gossip
            .peers()
            .await?
            .into_iter()
            .map(|p| p.peer.to_string())
            .collect())
    }

    /// Stops the node.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        Ok(self.gossip.shutdown().await?)
    }
}
