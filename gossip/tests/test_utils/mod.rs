//! Helpers shared by the network tests: nodes on 127.0.0.1 with mDNS off.

#![allow(dead_code, unreachable_pub)]

use std::{future::Future, time::Duration};

use cove_gossip::{Config, Event, Gossip, InboundRequestId, Keypair, MessageId, Multiaddr, PeerId};
use tokio::sync::mpsc;

/// Upper bound for every test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running node and its event stream.
pub struct Node {
    pub gossip: Gossip,
    pub events: mpsc::Receiver<Event>,
}

/// A received gossip message.
#[derive(Debug)]
pub struct Received {
    pub id: MessageId,
    pub source: PeerId,
    pub topic: String,
    pub data: Vec<u8>,
}

/// Local-only configuration: TCP on 127.0.0.1 port 0, no mDNS, fast timers.
pub fn local_config(bootstrap: Vec<Multiaddr>, discovery: bool) -> Config {
    let mut config = Config::new(Keypair::generate_ed25519());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = bootstrap;
    config.mdns = false;
    config.discovery = discovery;
    config.fast_timers = true;
    config
}

/// Spawns a node that dials `bootstrap`.
pub async fn spawn_node(bootstrap: Vec<Multiaddr>, discovery: bool) -> Node {
    spawn_node_with(local_config(bootstrap, discovery)).await
}

/// Spawns a node from a (usually adjusted) `local_config`.
pub async fn spawn_node_with(config: Config) -> Node {
    let (gossip, events) = Gossip::spawn(config).await.expect("spawn node");
    Node { gossip, events }
}

/// A received sync request.
#[derive(Debug)]
pub struct Request {
    pub id: InboundRequestId,
    pub peer: PeerId,
    pub data: Vec<u8>,
}

impl Node {
    /// Its bound addresses (each ends in /p2p/<peer id>).
    pub async fn addrs(&self) -> Vec<Multiaddr> {
        self.gossip.listen_addrs().await.expect("listen addrs")
    }

    pub fn id(&self) -> PeerId {
        self.gossip.local_peer_id()
    }

    /// The next `Event::Message`, skipping every other event.
    pub async fn next_message(&mut self) -> Received {
        loop {
            match self.events.recv().await.expect("event stream ended") {
                Event::Message {
                    id,
                    source,
                    topic,
                    data,
                } => {
                    return Received {
                        id,
                        source,
                        topic,
                        data,
                    }
                }
                _ => continue,
            }
        }
    }

    /// The next `Event::Request`, skipping every other event.
    pub async fn next_request(&mut self) -> Request {
        loop {
            if let Event::Request { id, peer, data } =
                self.events.recv().await.expect("event stream ended")
            {
                return Request { id, peer, data };
            }
        }
    }

    /// Whether we are connected to `peer`.
    pub async fn is_connected_to(&self, peer: PeerId) -> bool {
        let peers = self.gossip.peers().await.expect("peers");
        peers.iter().any(|p| p.peer == peer)
    }

    /// Whether `peer` is connected and told us it subscribes to `topic`.
    pub async fn sees_subscribed(&self, peer: PeerId, topic: &str) -> bool {
        let peers = self.gossip.peers().await.expect("peers");
        peers
            .iter()
            .any(|p| p.peer == peer && p.topics.iter().any(|t| t == topic))
    }

    /// Whether `peer` is in our mesh for `topic` (we forward accepted messages to it).
    pub async fn has_in_mesh(&self, peer: PeerId, topic: &str) -> bool {
        let mesh = self.gossip.mesh_peers(topic).await.expect("mesh peers");
        mesh.contains(&peer)
    }
}

/// Polls `condition` until it holds. Callers bound this with `TEST_TIMEOUT`.
pub async fn eventually<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    while !condition().await {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a test body under `TEST_TIMEOUT`. Logs go to the test output when `RUST_LOG` is set.
pub async fn with_timeout<F: Future<Output = ()>>(body: F) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}
