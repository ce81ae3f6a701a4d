//! How to run a node: [`NodeConfig`] and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use cove_gossip::{Multiaddr, PeerRateLimit};

/// How often own messages that no proven member has confirmed are looked at again: offered
/// by gossip if no peer took them yet, and confirmed by a reconciliation round with a member.
pub const DEFAULT_REPUBLISH_INTERVAL: Duration = Duration::from_secs(10);
/// Default anti-entropy interval: each group syncs with one random member this often.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// How to run a node. Library users build it directly; the CLI builds it from its
/// configuration (defaults, `cove.toml`, environment, flags).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data dir (must be initialised with [`crate::data_dir::DataDir::init`]).
    pub data_dir: PathBuf,
    /// The passphrase of an encrypted seed; `None`: read `COVE_PASSPHRASE` if the seed is
    /// encrypted (see [`crate::data_dir::DataDir::load_seed_with`]). Zeroized on drop, never
    /// printed.
    pub passphrase: Option<cove_crypto::Passphrase>,
    /// Addresses to listen on. Invites list those bound explicitly (not the interface
    /// addresses a wildcard such as `0.0.0.0` expands to) when `advertise` is empty.
    pub listen: Vec<Multiaddr>,
    /// Addresses invites carry (reachable ones: a public IP, a DNS name, a relay); when empty,
    /// the explicitly bound listen addresses. `cove group invite --addr` overrides both.
    pub advertise: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Many nodes on one host (tests, demo): relax same-IP penalties, discover faster.
    pub fast_timers: bool,
    /// How often to look at own messages no proven member has confirmed: re-offer them and
    /// run a confirmation round (see [`DEFAULT_REPUBLISH_INTERVAL`]).
    pub republish_interval: Duration,
    /// Anti-entropy: how often each group syncs with one random member.
    pub sync_interval: Duration,
    /// Keep only messages created within this window (None: keep everything).
    pub retention: Option<Duration>,
    /// Gossip messages one peer may hand us before the excess is dropped unread (counted as
    /// `peer_rate_limited`).
    pub peer_rate_limit: PeerRateLimit,
    /// Established connections in total.
    pub max_connections: u32,
    /// Established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Serve as a circuit relay for the members of every group this node is in (`cove up
    /// --relay-service`), within [`cove_gossip::RelayLimits::default`]. For a node with a
    /// public address (a VPS, a home server with a forwarded port): members behind NATs
    /// reserve a slot on it and are reached through it. A group's swarm is a private network,
    /// so the relay serves only that group's members (PROTOCOL.md §10.2).
    pub relay_service: bool,
    /// Ask the local router to forward each group's port (UPnP IGD), so that members can dial
    /// this node directly. Default on; `loopback` turns it off.
    pub upnp: bool,
}

impl NodeConfig {
    /// Defaults: all interfaces, random TCP and QUIC ports, mDNS on.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            passphrase: None,
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("valid multiaddr"),
            ],
            advertise: Vec::new(),
            mdns: true,
            fast_timers: false,
            republish_interval: DEFAULT_REPUBLISH_INTERVAL,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            retention: None,
            peer_rate_limit: PeerRateLimit::default(),
            max_connections: 256,
            max_connections_per_peer: 2,
            relay_service: false,
            upnp: true,
        }
    }

    /// Loopback only, no mDNS: for tests and the demo, so no packet leaves the machine.
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            mdns: false,
            upnp: false,
            fast_timers: true,
            republish_interval: Duration::from_secs(1),
            sync_interval: Duration::from_secs(3),
            ..Self::new(data_dir)
        }
    }
}
