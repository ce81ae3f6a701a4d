//! Node configuration: which addresses to bind, whom to dial, which discovery mechanisms
//! run, and the knobs that differ between a real deployment and many nodes on one host.

use std::{net::Ipv4Addr, time::Duration};

use libp2p::{identity::Keypair, multiaddr::Protocol, Multiaddr};

use crate::PeerRateLimit;

/// Default cap on one application payload (256 KiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Default [`Config::request_timeout`] (30 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run one gossip node.
///
/// Build it with [`Config::new`] and adjust the public fields; every field has a default
/// suitable for a real deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The libp2p identity of this node (its [`PeerId`](libp2p::PeerId) derives from it).
    pub keypair: Keypair,
    /// Addresses to listen on. Default: `/ip4/0.0.0.0/tcp/0` and `/ip4/0.0.0.0/udp/0/quic-v1`.
    /// `/memory/0` listens on the in-process memory transport (a free port is picked);
    /// only nodes of the same process can dial it.
    pub listen: Vec<Multiaddr>,
    /// Addresses dialed at start, usually ending in `/p2p/<peer id>`. They are dialed again
    /// on every discovery round in which the node has no connection at all.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS. Default `true`; tests and demos switch
    /// it off so that they never send traffic beyond loopback.
    pub mdns: bool,
    /// Run the Kademlia DHT and look up / advertise the discovery key of every subscribed
    /// topic. Default `true`. When `false` the DHT is not even instantiated, so the node
    /// only connects to its bootstrap addresses, mDNS peers and explicit [`dial`]s; this
    /// gives tests an exact topology.
    ///
    /// [`dial`]: crate::Gossip::dial
    pub discovery: bool,
    /// Largest application payload accepted for publishing and from the network, in bytes.
    /// Default [`DEFAULT_MAX_MESSAGE_SIZE`]. Gossipsub's `max_transmit_size` (the limit on a
    /// whole RPC frame) is set slightly above it to leave room for protobuf framing.
    pub max_message_size: usize,
    /// Faster timers for tests and demos with many nodes on one host: a 200 ms heartbeat,
    /// 2 s discovery rounds, a 5 s instead of 60 s duplicate cache. Default `false`.
    ///
    /// Deliberately nothing else: peer scoring is the same with and without it, so that a
    /// test cannot hide a scoring problem that production would hit (many members behind
    /// one address once went unnoticed that way).
    pub fast_timers: bool,
    /// Send an own message to every subscribed peer instead of only to the mesh. Default
    /// `false`: with flood publishing every neighbour receives an author's message first from
    /// the author's own peer id, which links a pseudonym's messages to a peer id. Off, an
    /// author sends to its mesh peers (topped up to the mesh size with random subscribed
    /// peers), the same as a relay forwarding it.
    pub flood_publish: bool,
    /// How long a sync [`request`](crate::Gossip::request) may take, from the call to the
    /// response, dialing included. On the answering side it is also how long an inbound
    /// [`Event::Request`](crate::Event::Request) waits for [`respond`](crate::Gossip::respond).
    /// Default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Gossip messages one peer may hand us; the excess is dropped unread and reported as
    /// [`Event::Throttled`](crate::Event::Throttled). Default [`PeerRateLimit::default`].
    pub peer_rate_limit: PeerRateLimit,
    /// Established connections in total. Default 256.
    pub max_connections: u32,
    /// Established connections to one peer (TCP and QUIC to the same peer count apart).
    /// Default 2.
    pub max_connections_per_peer: u32,
    /// Incoming connections still in their handshake. Default 64.
    pub max_pending_incoming: u32,
    /// A libp2p private network's pre-shared key. Default `None`. When set, every TCP (and
    /// memory) connection first runs the pnet handshake (24-byte nonces, then XSalsa20 under
    /// this key, the `/key/swarm/psk/1.0.0/` scheme of go-libp2p) and only then Noise: a peer
    /// without the key fails the Noise handshake and never reaches a protocol, so it learns
    /// nothing, not even this node's peer id. pnet does not cover QUIC, so QUIC is not built:
    /// a `/quic-v1` listen address is an error and dials to one fail.
    pub psk: Option<[u8; 32]>,
    /// Serve as a circuit relay (v2) for the peers of this swarm, within these limits.
    /// Default `None`. On a private network ([`Config::psk`]) only peers holding the key can
    /// connect at all, so a relay serves exactly the members of its group. Peers that are not
    /// relays themselves reserve a slot on a connected relay (see [`crate::Reachability`]).
    pub relay_service: Option<RelayLimits>,
    /// Ask the local router (UPnP IGD) to forward our listen port, and announce the mapping
    /// as a confirmed external address. Default `false`: the caller decides (the node turns it
    /// on by default, tests keep it off).
    pub upnp: bool,
}

/// What one relay serves at most ([`Config::relay_service`]). A circuit that reaches its
/// byte or time limit is closed by the relay; the peers redial (through the relay again, or
/// directly after hole punching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Reservations (peers reachable through us) at once. Default 128.
    pub max_reservations: usize,
    /// Circuits (relayed connections) at once. Default 64.
    pub max_circuits: usize,
    /// Circuits at once with one peer at either end. Default 8.
    pub max_circuits_per_peer: usize,
    /// How long one circuit may last. Default 1 h.
    pub max_circuit_duration: Duration,
    /// Bytes one circuit may carry, both directions together. Default 64 MiB: a history sync
    /// response is at most 4 MiB, so a circuit carries a few full syncs before it is renewed.
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 128,
            max_circuits: 64,
            max_circuits_per_peer: 8,
            max_circuit_duration: Duration::from_secs(60 * 60),
            max_circuit_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Config {
    /// The default listen addresses minus QUIC, for a node on a private network ([`Config::psk`]).
    pub fn tcp_only(listen: &[Multiaddr]) -> Vec<Multiaddr> {
        listen
            .iter()
            .filter(|addr| {
                !addr
                    .iter()
                    .any(|p| matches!(p, Protocol::QuicV1 | Protocol::Quic))
            })
            .cloned()
            .collect()
    }
}

impl Config {
    /// A configuration with the given identity and production defaults.
    pub fn new(keypair: Keypair) -> Self {
        Self {
            keypair,
            listen: vec![
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                    .with(Protocol::Tcp(0)),
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                    .with(Protocol::Udp(0))
                    .with(Protocol::QuicV1),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            discovery: true,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            fast_timers: false,
            flood_publish: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            peer_rate_limit: PeerRateLimit::default(),
            max_connections: 256,
            max_connections_per_peer: 2,
            max_pending_incoming: 64,
            psk: None,
            relay_service: None,
            upnp: false,
        }
    }

    /// Interval between two DHT provider lookups for every subscribed discovery key.
    pub(crate) fn discovery_interval(&self) -> Duration {
        if self.fast_timers {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(30)
        }
    }

    /// Interval between two re-announcements of our own provider records.
    pub(crate) fn provide_interval(&self) -> Duration {
        if self.fast_timers {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(10 * 60)
        }
    }

    /// Gossipsub heartbeat: mesh maintenance, gossip emission, score decay checks.
    pub(crate) fn heartbeat_interval(&self) -> Duration {
        if self.fast_timers {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        }
    }
}
