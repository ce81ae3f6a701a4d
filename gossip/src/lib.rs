//! Cove's peer-to-peer transport: the only crate in the workspace that imports libp2p.
//!
//! It speaks bytes and peer ids. It knows nothing about posts, groups or cryptography: a
//! topic is an opaque string the caller derived from a group secret, a discovery key is 32
//! opaque bytes, a payload is a sealed blob. What it owns:
//!
//! * the libp2p [`Swarm`](libp2p::Swarm): TCP and QUIC transports (noise + yamux on TCP), DNS,
//!   and the in-process memory transport (`/memory/<port>`, noise + yamux) with which the
//!   scenario tool runs many nodes in one process without sockets;
//! * **gossipsub** in anonymous mode (no author, sequence number or signature on the wire;
//!   message id = SHA-256 of the payload) with **manual validation**: every received message
//!   is handed to the caller as [`Event::Message`] and is forwarded to other peers only after
//!   the caller answers [`Verdict::Accept`] through [`Gossip::report`]. Peer scoring makes
//!   peers whose messages are [`Verdict::Reject`]ed lose our attention quickly;
//! * **discovery**: bootstrap addresses are dialed at start; mDNS (optional) finds peers on
//!   the LAN; a private Kademlia DHT (`/cove/kad/1.0.0`) is used to advertise and look up a
//!   *discovery key* per topic, so that a node that joined through one member reaches every
//!   online member;
//! * identify (`/cove/id/1.0.0`) and ping, which keep addresses and liveness up to date;
//! * **reaching peers behind NATs**: circuit relay v2 (a client always; a server with
//!   [`Config::relay_service`]), DCUtR hole punching, AutoNAT v1 and, with [`Config::upnp`],
//!   a UPnP port mapping. A node that is not a relay and not known to be public reserves a
//!   slot on up to two connected relays and listens through them; a direct connection
//!   replaces a relayed one. [`Gossip::reachability`] says what the node knows;
//!   [`PeerInfo`] says whether each peer is reached directly or through a relay;
//! * **sync** (`/cove/sync/2.0.0`, [`SYNC_PROTOCOL`]): a request-response transport for the
//!   node's history sync. [`Gossip::request`] sends one opaque frame to a peer and waits for
//!   one frame back; the peer sees [`Event::Request`] and answers with [`Gossip::respond`].
//!   Frames are length-prefixed and capped ([`MAX_REQUEST_BYTES`], [`MAX_RESPONSE_BYTES`]);
//!   a peer that sends an oversized or malformed frame is reported as
//!   [`Event::ProtocolViolation`];
//! * **bans**: [`Gossip::ban`] closes a peer's connections and refuses new ones, in both
//!   directions, for a while. This crate never bans on its own; the node decides.
//!
//! # Actor topology
//!
//! ```text
//!  Gossip (Clone) ──Command + oneshot reply──▶ ┌──────────── actor task ────────────┐
//!  Gossip (Clone) ──(bounded, COMMAND_CAPACITY)▶│ select! { biased;                  │
//!                                              │   command      => handle_command   │
//!  Receiver<Event> ◀──(bounded, EVENT_CAPACITY)─│   outbox drain => (backpressure)   │
//!                                              │   swarm event  => handle_swarm_event│
//!                                              │   ban expiry   => handle_ban_expiry│
//!                                              │   timer        => handle_timer     │
//!                                              │ }  owns: Swarm<Behaviour>,         │
//!                                              │ pending sync requests, ban deadlines│
//!                                              └────────────────────────────────────┘
//! ```
//!
//! A sync request travels as `Command::Request`; the actor hands it to libp2p and keeps the
//! oneshot reply in a map keyed by libp2p's request id until the response (or the failure)
//! comes back as a swarm event. An inbound request is parked in a map keyed by its
//! [`InboundRequestId`] until [`Gossip::respond`] takes it out.
//!
//! The actor stops when every [`Gossip`] handle is dropped or on [`Gossip::shutdown`]; the
//! event receiver then yields `None`. When the caller does not drain events fast enough the
//! actor stops polling the swarm (no event is ever dropped) but keeps serving commands, so a
//! caller that calls [`Gossip::report`] from its event loop cannot deadlock the actor.
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | commands in flight | [`COMMAND_CAPACITY`] |
//! | events not yet taken by the caller | [`EVENT_CAPACITY`] (then backpressure) |
//! | gossip payload | [`Config::max_message_size`] |
//! | sync request / response frame | [`MAX_REQUEST_BYTES`] / [`MAX_RESPONSE_BYTES`], checked before reading the body |
//! | sync requests we wait on | [`MAX_PENDING_REQUESTS`] (more fail at once) |
//! | inbound sync requests awaiting `respond` | [`MAX_PENDING_INBOUND`] (more are dropped unanswered) |
//! | sync streams per connection | 32 (libp2p refuses more) |
//! | time per sync request | [`Config::request_timeout`] |
//! | banned peers | [`MAX_BANNED_PEERS`] (then the ban ending soonest is lifted early) |
//! | ban duration | [`MAX_BAN_DURATION`] |
//! | relays we hold a reservation on | 2 |
//! | what we serve as a relay | [`RelayLimits`] |
//!
//! # Example
//!
//! ```no_run
//! use cove_gossip::{Config, Event, Gossip, Keypair, Verdict};
//!
//! # async fn run() -> Result<(), cove_gossip::Error> {
//! let mut config = Config::new(Keypair::generate_ed25519());
//! config.bootstrap = vec!["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
//!     .parse()
//!     .expect("valid multiaddr")];
//! let (gossip, mut events) = Gossip::spawn(config).await?;
//!
//! let topic = "9f86d081884c7d659a2feaa0c55ad015"; // derived from the group secret by the caller
//! gossip.subscribe(topic, [7u8; 32]).await?;
//! gossip.publish(topic, b"sealed bytes".to_vec()).await?;
//!
//! while let Some(event) = events.recv().await {
//!     if let Event::Message { id, source, data, .. } = event {
//!         let verdict = if data.is_empty() { Verdict::Reject } else { Verdict::Accept };
//!         gossip.report(id, source, verdict).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod actor;
mod behaviour;
mod config;
mod error;
mod limits;
mod sync;
#[cfg(test)]
mod violation_tests;

use std::{fmt, time::Duration};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

pub use config::{Config, RelayLimits, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REQUEST_TIMEOUT};
pub use error::Error;
pub use libp2p::identity::Keypair;
/// The parts of a [`Multiaddr`], for callers that inspect addresses (e.g. which to advertise).
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
pub use limits::PeerRateLimit;
pub use sync::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SYNC_PROTOCOL};

use actor::Command;

/// Capacity of the command channel from [`Gossip`] handles to the actor. Callers wait (async)
/// when it is full; commands are cheap to serve so it rarely fills.
pub const COMMAND_CAPACITY: usize = 64;

/// Capacity of the [`Event`] channel from the actor to the caller. When it is full the actor
/// stops reading from the network until the caller catches up (backpressure, no loss).
pub const EVENT_CAPACITY: usize = 1024;

/// Outbound sync requests waiting for their response at once (over all peers). A
/// [`Gossip::request`] beyond that fails at once with [`Error::Request`] rather than queue:
/// the caller is better placed to decide what to drop. Each one ends within
/// [`Config::request_timeout`].
pub const MAX_PENDING_REQUESTS: usize = 256;

/// Inbound sync requests ([`Event::Request`]) waiting for [`Gossip::respond`] at once. When
/// full, requests the requester gave up on are pruned first; if that frees nothing, the new
/// request is dropped unanswered (logged at debug: remote peers control this rate) and the
/// requester sees its stream closed. An unanswered request leaves the map when libp2p gives
/// up on it ([`Config::request_timeout`]) or its connection closes.
pub const MAX_PENDING_INBOUND: usize = 256;

/// Peers banned at once. Banning one more lifts the ban that would end soonest (logged at
/// warn): a node that bans this many peers is under attack by identities that cost nothing,
/// and a bounded list is more useful than an exhausted one.
pub const MAX_BANNED_PEERS: usize = 4096;

/// Longest ban [`Gossip::ban`] applies; longer durations are shortened to this. Bans do not
/// survive a restart anyway.
pub const MAX_BAN_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The peer id of the Ed25519 public key `key` (its 32 RFC 8032 bytes), or `None` if the
/// bytes are not an Ed25519 public key. Lets the caller check that a record signed by a peer
/// key describes the peer id it names, without importing libp2p.
pub fn ed25519_peer_id(key: &[u8; 32]) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// Identifies an inbound sync request ([`Event::Request`]) when answering it with
/// [`Gossip::respond`]. Unique for the lifetime of one actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboundRequestId(u64);

impl fmt::Display for InboundRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A gossipsub message id: the SHA-256 of the payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(pub Vec<u8>);

impl MessageId {
    /// The id gossipsub gives a payload: its SHA-256. Lets the caller compute the id of a
    /// message it obtained some other way (e.g. by sync).
    pub fn of(payload: &[u8]) -> Self {
        Self(Sha256::digest(payload).to_vec())
    }
}

impl fmt::Display for MessageId {
    /// Lower-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The caller's judgement of a received [`Event::Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: deliver and forward to the mesh.
    Accept,
    /// Invalid: drop, and penalise the peer that sent it (and any peer that sent it too).
    Reject,
    /// Drop without penalty (e.g. a duplicate, or not judgeable right now).
    Ignore,
}

/// Outcome of [`Gossip::publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Handed to at least one peer subscribed to the topic (or already published before:
    /// gossipsub refuses to publish the same payload twice within its duplicate window,
    /// which we also report as `Sent`).
    Sent,
    /// No connected peer is subscribed to the topic. Not an error: the caller keeps the
    /// message and republishes it later (gossipsub did not remember it, so a republish is
    /// not treated as a duplicate).
    NoPeers,
}

/// A connected peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its id.
    pub peer: PeerId,
    /// Where it can be reached: the listen addresses it announced through identify, or,
    /// until identify completes, the remote addresses of our connections to it.
    pub addrs: Vec<Multiaddr>,
    /// The gossipsub topics it told us it subscribes to.
    pub topics: Vec<String>,
    /// Whether at least one connection to it is direct (not through a relay).
    pub direct: bool,
    /// Whether at least one connection to it runs through a relay (a circuit).
    pub relayed: bool,
}

/// What AutoNAT concluded from peers dialing our addresses back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nat {
    /// No probe answered yet.
    Unknown,
    /// A peer reached us at this address.
    Public(Multiaddr),
    /// Peers could not reach us at any address we know of: behind a NAT or a firewall.
    Private,
}

/// What this node served as a relay ([`Config::relay_service`]) since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayActivity {
    /// Peers holding a reservation now (reachable through us).
    pub reservations: usize,
    /// Circuits open now.
    pub circuits: usize,
    /// Circuits accepted since start.
    pub circuits_accepted: u64,
    /// Circuit or reservation requests refused since start (limits reached).
    pub refused: u64,
}

/// How this node can be reached: what `cove status` explains in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    /// AutoNAT's conclusion.
    pub nat: Nat,
    /// Confirmed external addresses (AutoNAT or a UPnP mapping), each ending in our peer id.
    pub external: Vec<Multiaddr>,
    /// Our addresses through relays (`.../p2p/RELAY/p2p-circuit/p2p/US`): where peers that
    /// cannot dial us directly reach us.
    pub relayed: Vec<Multiaddr>,
    /// Relays we hold or request a reservation on.
    pub relays: Vec<PeerId>,
    /// Connected peers that offer to relay.
    pub relays_known: usize,
    /// Why the last reservation was refused or lost, until one is accepted.
    pub relay_problem: Option<String>,
    /// What we serve as a relay, when we are one.
    pub relay_service: Option<RelayActivity>,
}

/// How well gossip works on one topic right now: what `cove status` shows per group.
///
/// The score counts are nested: a graylisted peer is also below the publish and the gossip
/// thresholds. Scores fall only for invalid messages and broken gossip promises, never for
/// sharing an address with other peers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicHealth {
    /// Connected peers that told us they subscribe to the topic.
    pub subscribed: usize,
    /// Peers in our mesh for the topic: those we forward accepted messages to.
    pub mesh: usize,
    /// Subscribed peers whose score is below the gossip threshold: we neither send them nor
    /// take from them gossip (IHAVE/IWANT) on the topic.
    pub below_gossip: usize,
    /// Subscribed peers below the publish threshold: our own messages are not sent to them.
    pub below_publish: usize,
    /// Subscribed peers below the graylist threshold: everything they send is dropped unread
    /// (and the peer is banned for a while once it gets there by invalid messages).
    pub graylisted: usize,
}

impl TopicHealth {
    /// Subscribed peers an own message would be published to right now.
    pub fn publishable(&self) -> usize {
        self.subscribed - self.below_publish
    }
}

/// What the actor reports to the caller.
#[derive(Debug)]
pub enum Event {
    /// A gossipsub message. Must be answered with [`Gossip::report`]: nothing is forwarded
    /// before [`Verdict::Accept`]. Payloads larger than [`Config::max_message_size`] never
    /// get here: they are rejected by the actor itself.
    Message {
        /// Its id (SHA-256 of `data`), to pass back to [`Gossip::report`].
        id: MessageId,
        /// The peer that forwarded it to us (not necessarily its author, which anonymous
        /// gossipsub does not carry), to pass back to [`Gossip::report`].
        source: PeerId,
        /// The topic string it was published on.
        topic: String,
        /// The payload.
        data: Vec<u8>,
    },
    /// The first connection to this peer was established.
    PeerConnected(PeerId),
    /// The last connection to this peer was closed.
    PeerDisconnected(PeerId),
    /// A connected peer subscribed to a topic.
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic string.
        topic: String,
    },
    /// A new listen address was bound (ends in `/p2p/<local peer id>`).
    ListenAddr(Multiaddr),
    /// A sync request ([`SYNC_PROTOCOL`]). Must be answered with [`Gossip::respond`];
    /// otherwise it times out on the requester's side after its request timeout (and is
    /// forgotten here after [`Config::request_timeout`]).
    Request {
        /// Pass it back to [`Gossip::respond`].
        id: InboundRequestId,
        /// The requester.
        peer: PeerId,
        /// The request frame (at most [`MAX_REQUEST_BYTES`]).
        data: Vec<u8>,
    },
    /// `peer` sent a sync frame that is oversized or unreadable, as a request or as a
    /// response. The frame was not delivered (nor read past its length prefix). This crate
    /// does nothing more about it: the node decides whether to [`Gossip::ban`] the peer.
    ProtocolViolation {
        /// The offender.
        peer: PeerId,
        /// What was wrong with the frame.
        reason: String,
    },
    /// A gossip message from `peer` was dropped because the peer is over its
    /// [`Config::peer_rate_limit`]. It was reported `Ignore` (not forwarded); the caller
    /// only counts it.
    Throttled {
        /// The peer over its budget.
        peer: PeerId,
        /// The topic of the dropped message.
        topic: String,
    },
}

/// Cheap, cloneable handle to the gossip actor.
///
/// Every method sends one command to the actor and waits for its reply; all of them return
/// [`Error::Stopped`] once the actor has stopped.
#[derive(Debug, Clone)]
pub struct Gossip {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    request_timeout: Duration,
}

impl Gossip {
    /// Builds the swarm, binds every listen address, dials the bootstrap addresses and starts
    /// the actor task. When this returns, [`Gossip::listen_addrs`] reports real bound
    /// addresses. Must be called inside a tokio runtime.
    pub async fn spawn(config: Config) -> Result<(Gossip, mpsc::Receiver<Event>), Error> {
        let local_peer_id = config.keypair.public().to_peer_id();
        let request_timeout = config.request_timeout;
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let actor = actor::Actor::start(config, commands_rx, events_tx).await?;
        // The swarm's task logs in the caller's span (the node's `me=`), so that the logs of
        // many nodes in one process can be told apart.
        tokio::spawn(tracing::Instrument::in_current_span(actor.run()));
        Ok((
            Gossip {
                commands: commands_tx,
                local_peer_id,
                request_timeout,
            },
            events_rx,
        ))
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Joins the gossipsub topic and advertises / looks up `discovery_key` in the DHT (when
    /// [`Config::discovery`] is on). Subscribing again replaces the discovery key.
    pub async fn subscribe(&self, topic: &str, discovery_key: [u8; 32]) -> Result<(), Error> {
        let topic = topic.to_owned();
        self.call(|reply| Command::Subscribe {
            topic,
            discovery_key,
            reply,
        })
        .await?
    }

    /// Leaves the topic and stops advertising its discovery key. Leaving a topic we are not
    /// subscribed to is a no-op.
    pub async fn unsubscribe(&self, topic: &str) -> Result<(), Error> {
        let topic = topic.to_owned();
        self.call(|reply| Command::Unsubscribe { topic, reply })
            .await
    }

    /// Publishes `data` on `topic` (we need not be subscribed). See [`Published`].
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<Published, Error> {
        let topic = topic.to_owned();
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Answers an [`Event::Message`]. Returns once the verdict is queued for the gossip actor,
    /// without waiting for the actor to apply it: a validator that waited would hold every
    /// message behind it for a round trip through a busy actor. Reporting a message gossipsub
    /// no longer holds (too late, or twice) is not an error; it is logged and ignored.
    pub async fn report(
        &self,
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
    ) -> Result<(), Error> {
        self.commands
            .send(Command::Report {
                id,
                source,
                verdict,
            })
            .await
            .map_err(|_| Error::Stopped)
    }

    /// The bound listen addresses, each ending in `/p2p/<local peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Error> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// How this node can be reached right now. See [`Reachability`].
    pub async fn reachability(&self) -> Result<Reachability, Error> {
        self.call(|reply| Command::Reachability { reply }).await
    }

    /// The currently connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, Error> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// The peers in our gossipsub mesh for `topic` (those we forward accepted messages to).
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, Error> {
        let topic = topic.to_owned();
        self.call(|reply| Command::MeshPeers { topic, reply }).await
    }

    /// How gossip on `topic` is doing: subscribed peers, mesh, peers below the score
    /// thresholds. See [`TopicHealth`].
    pub async fn topic_health(&self, topic: &str) -> Result<TopicHealth, Error> {
        let topic = topic.to_owned();
        self.call(|reply| Command::TopicHealth { topic, reply })
            .await
    }

    /// Starts dialing `addr` (ideally ending in `/p2p/<peer id>`). Returns once the dial has
    /// started; the outcome shows up as [`Event::PeerConnected`] or not at all.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), Error> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Sends `data` to `peer` over the sync protocol (dialing it if needed) and waits for its
    /// response, at most [`Config::request_timeout`] in all.
    ///
    /// Fails with [`Error::MessageTooLarge`] (without sending) if `data` is larger than
    /// [`MAX_REQUEST_BYTES`], and with [`Error::Request`] on timeout, dial failure, closed
    /// connection, a peer that does not speak the sync protocol, an oversized or malformed
    /// response (also reported as [`Event::ProtocolViolation`]), a banned peer, or when
    /// [`MAX_PENDING_REQUESTS`] are already in flight.
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let exchange = self.call(|reply| Command::Request { peer, data, reply });
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result?,
            // libp2p's own timeout starts only once a stream is open; this one also covers
            // dialing. The actor's entry is cleared when libp2p gives up too.
            Err(_) => Err(Error::Request {
                peer,
                reason: format!("no response within {:?}", self.request_timeout),
            }),
        }
    }

    /// Answers an [`Event::Request`] with `data`. Answering a request whose requester went
    /// away (timeout, disconnect) or that was already answered is not an error: it is
    /// logged at debug and ignored. Fails with [`Error::MessageTooLarge`] (and the request
    /// stays answerable) if `data` is larger than [`MAX_RESPONSE_BYTES`].
    pub async fn respond(&self, id: InboundRequestId, data: Vec<u8>) -> Result<(), Error> {
        self.call(|reply| Command::Respond { id, data, reply })
            .await?
    }

    /// Cuts `peer` off: closes its connections and refuses new ones, inbound and outbound,
    /// for `duration` (at most [`MAX_BAN_DURATION`]). Banning a banned peer again extends
    /// its ban if the new one ends later, and never shortens it. Requests to a banned peer
    /// fail at once with [`Error::Request`].
    pub async fn ban(&self, peer: PeerId, duration: Duration) -> Result<(), Error> {
        self.call(|reply| Command::Ban {
            peer,
            duration,
            reply,
        })
        .await
    }

    /// Lifts a ban early (no-op for a peer that is not banned). Discovery reconnects later.
    pub async fn unban(&self, peer: PeerId) -> Result<(), Error> {
        self.call(|reply| Command::Unban { peer, reply }).await
    }

    /// Stops the actor: connections are closed, the event receiver yields `None`, and every
    /// later call on any handle returns [`Error::Stopped`].
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call(|reply| Command::Shutdown { reply }).await
    }

    /// Sends one command and waits for its reply.
    async fn call<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        response.await.map_err(|_| Error::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_has_the_peer_id_of_its_keypair() {
        let keypair = Keypair::generate_ed25519();
        let public = keypair.public().try_into_ed25519().unwrap().to_bytes();
        assert_eq!(
            ed25519_peer_id(&public),
            Some(keypair.public().to_peer_id())
        );
        // Not a point on the curve (y = 2 has no x).
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(ed25519_peer_id(&bad), None);
    }

    #[test]
    fn message_id_is_sha256_of_payload() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            MessageId::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
