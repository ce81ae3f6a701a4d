//! The actor task: sole owner of the [`Swarm`].
//!
//! One `tokio::select!` loop, `biased` so that local control comes before remote work:
//!
//! 1. **commands** from [`Gossip`](crate::Gossip) handles (each carries a oneshot reply);
//! 2. **outbox drain**: events the caller's channel had no room for. While the outbox is not
//!    empty the swarm is not polled at all: that is the backpressure, and it means no event is
//!    ever dropped. Commands are still served, so a caller that calls `report` from its event
//!    loop cannot deadlock us;
//! 3. **swarm events** (connections, gossipsub, identify, kad, mdns, sync request-response);
//! 4. **ban expiry**: lifts the bans whose time is up (armed only while someone is banned);
//! 5. **the discovery timer**: every `Config::discovery_interval` (and shortly after a new
//!    connection) look up the providers of every subscribed discovery key and dial those we
//!    are not connected to; every `Config::provide_interval` re-announce our own records;
//!    while we have no connection at all, redial the bootstrap addresses. Banned peers are
//!    skipped (a dial to them would be refused by the block list anyway).
//!
//! Sync requests: an outbound request's oneshot reply waits in `outbound` (keyed by libp2p's
//! request id) until its response or failure arrives as a swarm event; an inbound request's
//! response channel waits in `inbound` (keyed by our [`InboundRequestId`]) until
//! `Command::Respond`, or until libp2p reports that it failed (timeout, disconnect).

use std::{
    collections::{hash_map::Entry, HashMap, HashSet, VecDeque},
    pin::Pin,
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId,
    gossipsub::{self, MessageAcceptance, PublishError},
    identify,
    kad::{self, store::RecordStore, GetProvidersOk, QueryId, QueryResult, RecordKey},
    mdns,
    multiaddr::Protocol,
    noise, ping,
    pnet::{PnetConfig, PnetError, PnetOutput, PreSharedKey},
    request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, SwarmEvent,
    },
    tcp, yamux, Multiaddr, PeerId, Swarm, SwarmBuilder,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::{Instant, Sleep},
};
use tracing::{debug, info, trace, warn};

use crate::{
    behaviour::{self, Behaviour, BehaviourEvent, KAD_PROTOCOL},
    limits::TokenBucket,
    sync::{is_protocol_violation, SyncRequest, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES},
    Config, Error, Event, InboundRequestId, MessageId, Nat, PeerInfo, PeerRateLimit, Published,
    Reachability, RelayActivity, TopicHealth, Verdict, MAX_BANNED_PEERS, MAX_BAN_DURATION,
    MAX_PENDING_INBOUND, MAX_PENDING_REQUESTS,
};

/// How long `spawn` waits for every listener to report its first bound address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections with no protocol activity are closed after this long. Gossipsub keeps
/// connections to peers that share a topic alive, so this only prunes stray connections
/// (e.g. kad queries to peers of other groups).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Delay between a new connection and the next discovery round: long enough for identify to
/// have told kad the new peer's listen addresses, short enough to feel immediate.
const DISCOVERY_AFTER_CONNECT: Duration = Duration::from_millis(500);

/// A request from a [`Gossip`](crate::Gossip) handle.
#[derive(Debug)]
pub(crate) enum Command {
    Subscribe {
        topic: String,
        discovery_key: [u8; 32],
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Unsubscribe {
        topic: String,
        reply: oneshot::Sender<()>,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Published, Error>>,
    },
    /// Fire and forget: see [`crate::Gossip::report`].
    Report {
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Reachability {
        reply: oneshot::Sender<Reachability>,
    },
    MeshPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    TopicHealth {
        topic: String,
        reply: oneshot::Sender<TopicHealth>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        /// Answered when the response (or the failure) arrives, not when the command is served.
        reply: oneshot::Sender<Result<Vec<u8>, Error>>,
    },
    Respond {
        id: InboundRequestId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Ban {
        peer: PeerId,
        duration: Duration,
        reply: oneshot::Sender<()>,
    },
    Unban {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What we know about one connected peer.
#[derive(Debug, Default)]
struct PeerState {
    /// Each open connection.
    connections: HashMap<ConnectionId, Link>,
    /// Listen addresses from its latest identify info.
    listen_addrs: Vec<Multiaddr>,
}

/// One open connection to a peer.
#[derive(Debug, Clone)]
struct Link {
    /// Its remote address.
    addr: Multiaddr,
    /// Whether we dialed it.
    dialer: bool,
    /// Whether it runs through a relay (a circuit).
    relayed: bool,
}

/// An inbound sync request waiting for `Command::Respond`.
#[derive(Debug)]
struct PendingInbound {
    peer: PeerId,
    /// libp2p's id, to forget the request when libp2p reports it failed.
    request_id: request_response::InboundRequestId,
    channel: ResponseChannel<Vec<u8>>,
}

/// Whether the loop goes on after a command.
enum Flow {
    Continue,
    Stop,
}

/// How long a peer whose invalid messages pushed it below the graylist threshold is banned.
const GRAYLIST_BAN: Duration = Duration::from_secs(10 * 60);

pub(crate) struct Actor {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// Events waiting for room in `events`; non-empty means "do not poll the swarm".
    outbox: VecDeque<Event>,
    local_peer_id: PeerId,
    max_message_size: usize,
    discovery_interval: Duration,
    provide_interval: Duration,
    /// Subscribed topics and their discovery keys.
    topics: HashMap<String, [u8; 32]>,
    /// In-flight provider lookups, so that a slow lookup is not started twice.
    lookups: HashMap<QueryId, [u8; 32]>,
    peers: HashMap<PeerId, PeerState>,
    /// Gossip message budgets of the peers that sent us messages recently (see `limits`).
    budgets: HashMap<PeerId, TokenBucket>,
    peer_rate_limit: PeerRateLimit,
    /// Next discovery round.
    timer: Pin<Box<Sleep>>,
    /// Next re-announcement of our provider records.
    next_provide: Instant,
    /// When we last announced our provider records.
    last_provide: Option<Instant>,
    /// Redialed on timer ticks while we have no connection at all.
    bootstrap: Vec<Multiaddr>,
    /// Our sync requests waiting for a response (at most `MAX_PENDING_REQUESTS`).
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, Error>>>,
    /// Sync requests waiting for our response (at most `MAX_PENDING_INBOUND`).
    inbound: HashMap<u64, PendingInbound>,
    /// The next `InboundRequestId`.
    next_inbound: u64,
    /// Banned peers and when their ban ends (at most `MAX_BANNED_PEERS`); mirrored by the
    /// block list in the behaviour, which does the refusing.
    bans: HashMap<PeerId, Instant>,
    /// Fires at the earliest end of a ban; only polled while `bans` is not empty.
    ban_timer: Pin<Box<Sleep>>,
    /// Whether we serve as a relay ([`Config::relay_service`]); a relay reserves on no other.
    relay_service: bool,
    /// Connected peers that serve as relays (identify lists the HOP protocol), and the
    /// address we dialed them at: where a reservation on them can be made. At most one per
    /// connected peer; forgotten on disconnect.
    relay_candidates: HashMap<PeerId, Multiaddr>,
    /// Relays we hold or request a reservation on (at most [`MAX_RELAYS`]) and our listener
    /// through each.
    relays: HashMap<PeerId, ListenerId>,
    /// Why the last reservation was refused or lost, until one is accepted.
    relay_problem: Option<String>,
    /// What AutoNAT concluded about our reachability.
    nat: Nat,
    /// What we served as a relay since start.
    relay_activity: RelayActivity,
}

/// Relays a node reserves a slot on at once: two, so that one relay going away leaves the
/// node reachable while it finds another.
pub(crate) const MAX_RELAYS: usize = 2;

/// Swarm transports, in the order a dial tries them: TCP (with the private network's
/// handshake when [`Config::psk`] is set), QUIC (only without a private network: pnet cannot
/// wrap it), the in-process memory transport, and circuits through relays (pnet, Noise and
/// Yamux end to end over the relayed stream: the relay forwards ciphertext); DNS resolves
/// names for all of them.
fn build_swarm(config: &Config) -> Result<Swarm<Behaviour>, Error> {
    let psk = config.psk;
    let (relay_transport, relay_client) =
        libp2p::relay::client::new(config.keypair.public().to_peer_id());
    let behaviour = Behaviour::new(&config.keypair, config, relay_client)?;
    Ok(SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_other_transport(|key| tcp_transport(key, psk))
        .map_err(|e| Error::Transport(format!("tcp: {e}")))?
        .with_other_transport(|key| quic_transport(key, psk.is_none()))
        .map_err(|e| Error::Transport(format!("quic: {e}")))?
        .with_other_transport(|key| memory_transport(key, psk))
        .map_err(|e| Error::Transport(format!("memory: {e}")))?
        .with_other_transport(|key| relayed_transport(relay_transport, key, psk))
        .map_err(|e| Error::Transport(format!("relay: {e}")))?
        .with_dns()
        .map_err(|e| Error::Transport(format!("dns: {e}")))?
        .with_behaviour(move |_| behaviour)
        .map_err(|e| Error::Transport(format!("behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build())
}

impl Actor {
    /// Builds the swarm, binds the listeners (waiting for their addresses) and dials the
    /// bootstrap addresses.
    pub(crate) async fn start(
        config: Config,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Result<Self, Error> {
        let swarm = build_swarm(&config)?;

        let now = Instant::now();
        let mut actor = Actor {
            local_peer_id: *swarm.local_peer_id(),
            swarm,
            commands,
            events,
            outbox: VecDeque::new(),
            max_message_size: config.max_message_size,
            discovery_interval: config.discovery_interval(),
            provide_interval: config.provide_interval(),
            topics: HashMap::new(),
            lookups: HashMap::new(),
            peers: HashMap::new(),
            budgets: HashMap::new(),
            peer_rate_limit: config.peer_rate_limit,
            timer: Box::pin(tokio::time::sleep(config.discovery_interval())),
            next_provide: now + config.provide_interval(),
            last_provide: None,
            bootstrap: config.bootstrap.clone(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            next_inbound: 0,
            bans: HashMap::new(),
            ban_timer: Box::pin(tokio::time::sleep_until(now)),
            relay_service: config.relay_service.is_some(),
            relay_candidates: HashMap::new(),
            relays: HashMap::new(),
            relay_problem: None,
            nat: Nat::Unknown,
            relay_activity: RelayActivity::default(),
        };
        actor.listen(&config.listen).await?;

        for addr in &config.bootstrap {
            if let Err(e) = actor.dial(addr.clone()) {
                // A bad bootstrap address must not keep the node from starting; the others
                // (or mDNS, or later dials) may still work.
                warn!(addr = %addr, error = %e, "cannot dial bootstrap address");
            }
        }
        Ok(actor)
    }

    /// A connection whose pings fail is dead (the peer lost power or its network), but libp2p
    /// keeps it open until TCP gives up, many minutes later. Close it now.
    ///
    /// If the peer has another connection, it probably restarted with the same peer id and
    /// dialled again while the dead one was still open. Gossipsub announces our subscriptions
    /// only on a peer's *first* connection, so the restarted peer would never learn them and
    /// could not publish to us (rust-libp2p issue #5097). Dropping every connection to it makes
    /// the next one a first connection again on both sides; discovery or the peer redials.
    fn close_dead_connection(&mut self, peer: PeerId, connection: ConnectionId) {
        let others = self
            .peers
            .get(&peer)
            .map_or(0, |state| state.connections.len().saturating_sub(1));
        if others > 0 {
            info!(%peer, "ping failed on a stale connection beside a newer one: reconnecting afresh");
            let _ = self.swarm.disconnect_peer_id(peer);
            self.discover_soon();
        } else {
            debug!(%peer, "ping failed: closing the connection");
            self.swarm.close_connection(connection);
        }
    }

    /// Starts every listener and waits until each reported at least one bound address.
    async fn listen(&mut self, addrs: &[Multiaddr]) -> Result<(), Error> {
        let mut waiting = HashMap::new();
        for addr in addrs {
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            waiting.insert(id, addr.clone());
        }
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while !waiting.is_empty() {
            let event = match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await
            {
                Ok(event) => event,
                Err(_) => {
                    let addr = waiting
                        .into_values()
                        .next()
                        .unwrap_or_else(Multiaddr::empty);
                    return Err(Error::ListenTimeout {
                        addr,
                        timeout: LISTEN_TIMEOUT,
                    });
                }
            };
            match &event {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    waiting.remove(listener_id);
                }
                SwarmEvent::ListenerError { listener_id, error } => {
                    if let Some(addr) = waiting.remove(listener_id) {
                        return Err(Error::Listen {
                            addr,
                            reason: error.to_string(),
                        });
                    }
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } => {
                    if let Some(addr) = waiting.remove(listener_id) {
                        let reason = match reason {
                            Ok(()) => "listener closed".to_owned(),
                            Err(e) => e.to_string(),
                        };
                        return Err(Error::Listen { addr, reason });
                    }
                }
                _ => {}
            }
            self.handle_swarm_event(event);
        }
        Ok(())
    }

    /// The actor loop. Ends when every handle is dropped or on `Shutdown`.
    pub(crate) async fn run(mut self) {
        info!(peer = %self.local_peer_id, "gossip actor started");
        loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(command) => {
                        if let Flow::Stop = self.handle_command(command) {
                            break;
                        }
                    }
                    None => break,
                },
                // An owned permit on a cloned sender, so that the permit does not borrow `self`.
                permit = self.events.clone().reserve_owned(), if !self.outbox.is_empty() => {
                    self.handle_outbox_permit(permit);
                }
                event = self.swarm.select_next_some(), if self.outbox.is_empty() => {
                    self.handle_swarm_event(event);
                }
                () = &mut self.ban_timer, if !self.bans.is_empty() => self.handle_ban_expiry(),
                () = &mut self.timer => self.handle_timer(),
            }
        }
        info!(peer = %self.local_peer_id, "gossip actor stopped");
    }

    // ---------------------------------------------------------------- commands

    fn handle_command(&mut self, command: Command) -> Flow {
        match command {
            Command::Subscribe {
                topic,
                discovery_key,
                reply,
            } => {
                let _ = reply.send(self.subscribe(topic, discovery_key));
            }
            Command::Unsubscribe { topic, reply } => {
                self.unsubscribe(&topic);
                let _ = reply.send(());
            }
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::Report {
                id,
                source,
                verdict,
            } => self.report(id, source, verdict),
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Reachability { reply } => {
                let _ = reply.send(self.reachability());
            }
            Command::MeshPeers { topic, reply } => {
                let hash = behaviour::topic(&topic).hash();
                let mesh = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .mesh_peers(&hash)
                    .copied()
                    .collect();
                let _ = reply.send(mesh);
            }
            Command::TopicHealth { topic, reply } => {
                let _ = reply.send(self.topic_health(&topic));
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.dial(addr));
            }
            Command::Request { peer, data, reply } => self.request(peer, data, reply),
            Command::Respond { id, data, reply } => {
                let _ = reply.send(self.respond(id, data));
            }
            Command::Ban {
                peer,
                duration,
                reply,
            } => {
                self.ban(peer, duration);
                let _ = reply.send(());
            }
            Command::Unban { peer, reply } => {
                if self.bans.contains_key(&peer) {
                    info!(peer = %peer, "ban lifted");
                    self.unban(peer);
                    self.arm_ban_timer();
                }
                let _ = reply.send(());
            }
            Command::Shutdown { reply } => {
                // Close first, so that calls racing with the shutdown fail with `Stopped`
                // instead of waiting on a reply that will never come.
                self.commands.close();
                let _ = reply.send(());
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn subscribe(&mut self, topic: String, key: [u8; 32]) -> Result<(), Error> {
        let ident = behaviour::topic(&topic);
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        gossipsub.subscribe(&ident).map_err(|e| Error::Subscribe {
            topic: topic.clone(),
            reason: e.to_string(),
        })?;
        gossipsub
            .set_topic_params(ident, behaviour::topic_score_params())
            .map_err(|e| Error::Subscribe {
                topic: topic.clone(),
                reason: e.to_owned(),
            })?;

        let previous = self.topics.insert(topic.clone(), key);
        if let Some(old) = previous.filter(|old| *old != key) {
            self.stop_providing_if_unused(old);
        }
        debug!(topic = %topic, "subscribed");
        if previous != Some(key) {
            self.provide(key);
            self.lookup(key);
        }
        Ok(())
    }

    fn unsubscribe(&mut self, topic: &str) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .unsubscribe(&behaviour::topic(topic));
        if let Some(key) = self.topics.remove(topic) {
            self.stop_providing_if_unused(key);
        }
        debug!(topic = %topic, "unsubscribed");
    }

    fn publish(&mut self, topic: String, data: Vec<u8>) -> Result<Published, Error> {
        if data.len() > self.max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.max_message_size,
            });
        }
        let hash = behaviour::topic(&topic).hash();
        match self.swarm.behaviour_mut().gossipsub.publish(hash, data) {
            Ok(id) => {
                debug!(topic = %topic, msg_id = %id, "published");
                Ok(Published::Sent)
            }
            Err(PublishError::NoPeersSubscribedToTopic) => {
                debug!(topic = %topic, "not published: no peer subscribed");
                Ok(Published::NoPeers)
            }
            // Gossipsub already sent (or received) this exact payload within its duplicate
            // window: as far as the caller is concerned, it is out.
            Err(PublishError::Duplicate) => {
                debug!(topic = %topic, "not published again: duplicate");
                Ok(Published::Sent)
            }
            Err(PublishError::MessageTooLarge) => Err(Error::MessageTooLarge {
                size: self.max_message_size.saturating_add(1),
                max: self.max_message_size,
            }),
            Err(e) => Err(Error::Publish {
                topic,
                reason: e.to_string(),
            }),
        }
    }

    fn report(&mut self, id: MessageId, source: PeerId, verdict: Verdict) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => MessageAcceptance::Reject,
            Verdict::Ignore => MessageAcceptance::Ignore,
        };
        let known = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(
                &gossipsub::MessageId::new(&id.0),
                &source,
                acceptance,
            );
        if known {
            debug!(msg_id = %id, peer = %source, verdict = ?verdict, "validation reported");
        } else {
            debug!(msg_id = %id, peer = %source, verdict = ?verdict, "validation reported for a message no longer cached");
        }
        // Graylisting only makes gossipsub drop what the peer sends; it stays connected and
        // keeps costing us a connection slot. Below the graylist threshold, cut it off.
        if verdict == Verdict::Reject {
            let score = self.swarm.behaviour().gossipsub.peer_score(&source);
            if score.is_some_and(|s| s < behaviour::peer_score_thresholds().graylist_threshold) {
                info!(peer = %source, score = ?score, "graylisted for invalid messages: banned");
                self.ban(source, GRAYLIST_BAN);
            }
        }
    }

    fn topic_health(&self, topic: &str) -> TopicHealth {
        let hash = behaviour::topic(topic).hash();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let thresholds = behaviour::peer_score_thresholds();
        let mut health = TopicHealth {
            mesh: gossipsub.mesh_peers(&hash).count(),
            ..TopicHealth::default()
        };
        for (peer, topics) in gossipsub.all_peers() {
            if !topics.contains(&&hash) {
                continue;
            }
            health.subscribed += 1;
            let score = gossipsub.peer_score(peer).unwrap_or(0.0);
            health.below_gossip += usize::from(score < thresholds.gossip_threshold);
            health.below_publish += usize::from(score < thresholds.publish_threshold);
            health.graylisted += usize::from(score < thresholds.graylist_threshold);
        }
        health
    }

    fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.swarm
            .listeners()
            .map(|addr| with_peer_id(addr.clone(), self.local_peer_id))
            .collect()
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut topics: HashMap<&PeerId, Vec<String>> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .map(|(peer, topics)| (peer, topics.iter().map(|t| t.to_string()).collect()))
            .collect();
        self.swarm
            .connected_peers()
            .map(|peer| {
                let state = self.peers.get(peer);
                let addrs = match state {
                    Some(s) if !s.listen_addrs.is_empty() => s.listen_addrs.clone(),
                    Some(s) => s.connections.values().map(|l| l.addr.clone()).collect(),
                    None => Vec::new(),
                };
                let links = || state.into_iter().flat_map(|s| s.connections.values());
                PeerInfo {
                    peer: *peer,
                    addrs,
                    topics: topics.remove(peer).unwrap_or_default(),
                    direct: links().any(|l| !l.relayed),
                    relayed: links().any(|l| l.relayed),
                }
            })
            .collect()
    }

    fn dial(&mut self, addr: Multiaddr) -> Result<(), Error> {
        if let Some(peer) = peer_of(&addr) {
            if peer == self.local_peer_id {
                return Err(Error::Dial {
                    addr,
                    reason: "that is our own peer id".to_owned(),
                });
            }
            if self.bans.contains_key(&peer) {
                return Err(Error::Dial {
                    addr,
                    reason: "that peer is banned".to_owned(),
                });
            }
        }
        debug!(addr = %addr, "dialing");
        self.swarm.dial(addr.clone()).map_err(|e| Error::Dial {
            addr,
            reason: e.to_string(),
        })
    }

    // ---------------------------------------------------------------- sync

    /// Starts a sync request; `reply` is answered when it completes (see `handle_sync`).
    fn request(
        &mut self,
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, Error>>,
    ) {
        if data.len() > MAX_REQUEST_BYTES {
            let _ = reply.send(Err(Error::MessageTooLarge {
                size: data.len(),
                max: MAX_REQUEST_BYTES,
            }));
            return;
        }
        let refused = if peer == self.local_peer_id {
            Some("that is our own peer id")
        } else if self.bans.contains_key(&peer) {
            Some("that peer is banned")
        } else if self.outbound.len() >= MAX_PENDING_REQUESTS {
            // Callers that gave up (timeout, dropped future) leave closed replies behind
            // until libp2p reports the outcome; they do not count.
            self.outbound.retain(|_, reply| !reply.is_closed());
            (self.outbound.len() >= MAX_PENDING_REQUESTS).then_some("too many requests in flight")
        } else {
            None
        };
        if let Some(reason) = refused {
            let _ = reply.send(Err(Error::Request {
                peer,
                reason: reason.to_owned(),
            }));
            return;
        }
        let size = data.len();
        // Dials the peer if we are not connected (addresses from identify / kad).
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, SyncRequest::Data(data));
        trace!(peer = %peer, request = %id, size, "sync request sent");
        self.outbound.insert(id, reply);
    }

    fn respond(&mut self, id: InboundRequestId, data: Vec<u8>) -> Result<(), Error> {
        if data.len() > MAX_RESPONSE_BYTES {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: MAX_RESPONSE_BYTES,
            });
        }
        let Some(pending) = self.inbound.remove(&id.0) else {
            debug!(request = %id, "sync response dropped: request unknown, expired or already answered");
            return Ok(());
        };
        let size = data.len();
        match self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(pending.channel, data)
        {
            Ok(()) => trace!(peer = %pending.peer, request = %id, size, "sync response queued"),
            Err(_) => {
                debug!(peer = %pending.peer, request = %id, "sync response dropped: requester went away");
            }
        }
        Ok(())
    }

    fn handle_sync(&mut self, event: request_response::Event<SyncRequest, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => self.handle_inbound_request(peer, request_id, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => match self.outbound.remove(&request_id) {
                Some(reply) => {
                    trace!(peer = %peer, request = %request_id, size = response.len(), "sync response received");
                    let _ = reply.send(Ok(response));
                }
                None => {
                    debug!(peer = %peer, request = %request_id, "sync response nobody waits for")
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let reason = error.to_string();
                let violation =
                    matches!(&error, OutboundFailure::Io(e) if is_protocol_violation(e));
                debug!(peer = %peer, request = %request_id, error = %reason, violation, "sync request failed");
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Err(Error::Request {
                        peer,
                        reason: reason.clone(),
                    }));
                }
                if violation {
                    self.emit(Event::ProtocolViolation { peer, reason });
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                // Timeout, closed connection, or a request we dropped ourselves (response
                // omission). Invalid requests do not get here: see `SyncRequest::Invalid`.
                debug!(peer = %peer, error = %error, "inbound sync request failed");
                self.inbound.retain(|_, p| p.request_id != request_id);
            }
            request_response::Event::ResponseSent { peer, .. } => {
                trace!(peer = %peer, "sync response sent");
            }
        }
    }

    fn handle_inbound_request(
        &mut self,
        peer: PeerId,
        request_id: request_response::InboundRequestId,
        request: SyncRequest,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let data = match request {
            SyncRequest::Data(data) => data,
            SyncRequest::Invalid(e) => {
                // Dropping `channel` closes the stream unanswered.
                debug!(peer = %peer, error = %e, "invalid sync request");
                self.emit(Event::ProtocolViolation {
                    peer,
                    reason: e.to_string(),
                });
                return;
            }
        };
        if self.inbound.len() >= MAX_PENDING_INBOUND {
            self.inbound.retain(|_, p| p.channel.is_open());
        }
        if self.inbound.len() >= MAX_PENDING_INBOUND {
            // Debug, not warn: remote peers decide how often this happens.
            debug!(peer = %peer, "sync request dropped: too many awaiting a response");
            return;
        }
        let id = self.next_inbound;
        self.next_inbound += 1;
        self.inbound.insert(
            id,
            PendingInbound {
                peer,
                request_id,
                channel,
            },
        );
        trace!(peer = %peer, request = id, size = data.len(), "sync request received");
        self.emit(Event::Request {
            id: InboundRequestId(id),
            peer,
            data,
        });
    }

    // ---------------------------------------------------------------- bans

    fn ban(&mut self, peer: PeerId, duration: Duration) {
        if peer == self.local_peer_id {
            debug!("not banning ourselves");
            return;
        }
        let duration = duration.min(MAX_BAN_DURATION);
        let until = Instant::now() + duration;
        if !self.bans.contains_key(&peer) && self.bans.len() >= MAX_BANNED_PEERS {
            let soonest = self
                .bans
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(peer, _)| *peer);
            if let Some(early) = soonest {
                warn!(peer = %early, "ban lifted early: too many banned peers");
                self.unban(early);
            }
        }
        let until = match self.bans.entry(peer) {
            Entry::Occupied(mut e) => {
                if until > *e.get() {
                    e.insert(until);
                }
                *e.get()
            }
            Entry::Vacant(e) => *e.insert(until),
        };
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        // The block list closes the connections too, but only when the swarm next polls it.
        let _ = self.swarm.disconnect_peer_id(peer);
        info!(peer = %peer, remaining = ?until.saturating_duration_since(Instant::now()), "peer banned");
        self.arm_ban_timer();
    }

    fn handle_ban_expiry(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            info!(peer = %peer, "ban ended");
            self.unban(peer);
        }
        self.arm_ban_timer();
    }

    fn unban(&mut self, peer: PeerId) {
        self.bans.remove(&peer);
        self.swarm.behaviour_mut().blocked.unblock_peer(peer);
    }

    /// Points the ban timer at the earliest end of a ban (it is not polled when none is left).
    fn arm_ban_timer(&mut self) {
        if let Some(next) = self.bans.values().min() {
            self.ban_timer.as_mut().reset(*next);
        }
    }

    // ---------------------------------------------------------------- events out

    /// Hands an event to the caller, or queues it (which pauses the swarm) if the channel
    /// is full.
    fn emit(&mut self, event: Event) {
        if !self.outbox.is_empty() {
            self.outbox.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                trace!("event channel full: pausing the swarm until the caller catches up");
                self.outbox.push_back(event);
            }
            // Nobody listens any more; the handles may still publish, so keep running.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn handle_outbox_permit(
        &mut self,
        permit: Result<mpsc::OwnedPermit<Event>, mpsc::error::SendError<()>>,
    ) {
        match permit {
            Ok(permit) => {
                if let Some(event) = self.outbox.pop_front() {
                    permit.send(event);
                }
            }
            // The receiver is gone: nobody will ever take these.
            Err(_) => self.outbox.clear(),
        }
    }

    // ---------------------------------------------------------------- swarm events

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.handle_gossipsub(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.handle_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.handle_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.handle_mdns(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.handle_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                trace!(peer = %event.peer, result = ?event.result, "ping");
                // Only a timeout means the link is dead; a peer without ping is just a peer
                // without ping.
                if matches!(event.result, Err(ping::Failure::Timeout)) {
                    self.close_dead_connection(event.peer, event.connection);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => {
                self.handle_relay_client(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => self.handle_relay(event),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(event)) => self.handle_dcutr(event),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(event)) => self.handle_autonat(event),
            SwarmEvent::Behaviour(BehaviourEvent::Upnp(event)) => {
                info!(event = ?event, "port mapping");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blocked(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let link = Link {
                    addr: endpoint.get_remote_address().clone(),
                    dialer: endpoint.is_dialer(),
                    relayed: endpoint.is_relayed(),
                };
                debug!(peer = %peer_id, addr = %link.addr, relayed = link.relayed, "connection established");
                self.peers
                    .entry(peer_id)
                    .or_default()
                    .connections
                    .insert(connection_id, link);
                self.prune_relayed(peer_id);
                if num_established.get() == 1 {
                    self.emit(Event::PeerConnected(peer_id));
                    self.discover_soon();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                debug!(peer = %peer_id, cause = ?cause, "connection closed");
                if let Entry::Occupied(mut state) = self.peers.entry(peer_id) {
                    state.get_mut().connections.remove(&connection_id);
                    if num_established == 0 {
                        state.remove();
                    }
                }
                if num_established == 0 {
                    self.relay_candidates.remove(&peer_id);
                    // The budget stays (see `limits`): a reconnect must not refill it.
                    self.emit(Event::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let address = with_peer_id(address, self.local_peer_id);
                info!(addr = %address, "listening");
                self.emit(Event::ListenAddr(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                debug!(addr = %address, "listen address expired");
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(relay) = self.relay_of(listener_id) {
                    debug!(%relay, error = %error, "relay listener error");
                    self.relay_problem = Some(format!("relay {relay}: {error}"));
                } else {
                    warn!(error = %error, "listener error");
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(relay) = self.relay_of(listener_id) {
                    self.relays.remove(&relay);
                    let why = match reason {
                        Ok(()) => "reservation ended".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    info!(%relay, reason = %why, "no longer reachable through this relay");
                    self.relay_problem = Some(format!("relay {relay}: {why}"));
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                info!(addr = %address, "external address confirmed");
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                info!(addr = %address, "external address expired");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, error = %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                debug!(addr = %send_back_addr, error = %error, "incoming connection failed");
            }
            other => trace!(event = ?other, "swarm event"),
        }
    }

    fn handle_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                if message.data.len() > self.max_message_size {
                    // Fits the RPC frame but not our payload limit: not a valid Cove message,
                    // no need to bother the caller.
                    debug!(peer = %propagation_source, msg_id = %message_id, size = message.data.len(), "rejected: payload too large");
                    self.report(MessageId(message_id.0), propagation_source, Verdict::Reject);
                    return;
                }
                let now = Instant::now();
                let limit = self.peer_rate_limit;
                let within_budget = self
                    .budgets
                    .entry(propagation_source)
                    .or_insert_with(|| TokenBucket::full(&limit, now))
                    .take(&limit, now);
                if !within_budget {
                    // Dropped unread: not forwarded, and no CPU spent opening it. Ignore, not
                    // Reject: the peer may be an honest relay of a busy group.
                    debug!(peer = %propagation_source, msg_id = %message_id, "ignored: peer over its message budget");
                    self.report(MessageId(message_id.0), propagation_source, Verdict::Ignore);
                    self.emit(Event::Throttled {
                        peer: propagation_source,
                        topic: message.topic.into_string(),
                    });
                    return;
                }
                trace!(peer = %propagation_source, msg_id = %message_id, topic = %message.topic, "message received");
                self.emit(Event::Message {
                    id: MessageId(message_id.0),
                    source: propagation_source,
                    topic: message.topic.into_string(),
                    data: message.data,
                });
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                debug!(peer = %peer_id, topic = %topic, "peer subscribed");
                self.emit(Event::PeerSubscribed {
                    peer: peer_id,
                    topic: topic.into_string(),
                });
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                debug!(peer = %peer_id, topic = %topic, "peer unsubscribed");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                debug!(peer = %peer_id, "peer does not speak gossipsub");
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                debug!(peer = %peer_id, failed = ?failed_messages, "slow peer");
            }
        }
    }

    fn handle_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        trace!(peer = %peer_id, agent = %info.agent_version, "identified");
        if info.protocols.contains(&KAD_PROTOCOL) {
            if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                // Kad only learns addresses of peers *we* dialed; identify tells it where the
                // peers that dialed us listen, so that it can hand them out to others.
                for addr in &info.listen_addrs {
                    kad.add_address(&peer_id, addr.clone());
                }
            }
        }
        let relay = info.protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME);
        if let Some(state) = self.peers.get_mut(&peer_id) {
            state.listen_addrs = info.listen_addrs;
            // Where we reached the relay ourselves; a relay that dialed us gave us only its
            // ephemeral port, so it becomes a candidate once we have dialed it.
            let dialed = state
                .connections
                .values()
                .find(|l| l.dialer && !l.relayed)
                .map(|l| l.addr.clone());
            if let (true, Some(addr)) = (relay, dialed) {
                self.relay_candidates.insert(peer_id, addr);
                self.reserve_relays();
            }
        }
    }

    fn handle_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            trace!(event = ?event, "kad event");
            return;
        };
        match result {
            QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { key, providers })) => {
                self.dial_providers(&key, providers);
            }
            QueryResult::GetProviders(Ok(GetProvidersOk::FinishedWithNoAdditionalRecord {
                ..
            })) => {}
            QueryResult::GetProviders(Err(e)) => debug!(error = %e, "provider lookup failed"),
            QueryResult::StartProviding(Ok(_)) | QueryResult::RepublishProvider(Ok(_)) => {
                debug!("provider record announced");
            }
            QueryResult::StartProviding(Err(e)) | QueryResult::RepublishProvider(Err(e)) => {
                // Common in small groups (fewer peers than the replication factor reachable);
                // our local record still answers lookups that reach us.
                debug!(error = %e, "provider announcement incomplete");
            }
            other => trace!(result = ?other, "kad query progressed"),
        }
        if step.last {
            self.lookups.remove(&id);
        }
    }

    fn handle_mdns(&mut self, event: mdns::Event) {
        let mdns::Event::Discovered(found) = event else {
            return;
        };
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in found {
            by_peer.entry(peer).or_default().push(addr);
        }
        for (peer, addrs) in by_peer {
            if peer == self.local_peer_id
                || self.swarm.is_connected(&peer)
                || self.bans.contains_key(&peer)
            {
                continue;
            }
            debug!(peer = %peer, "mdns discovered peer");
            self.dial_peer(peer, addrs);
        }
    }

    // ---------------------------------------------------------------- reachability

    fn reachability(&self) -> Reachability {
        let me = self.local_peer_id;
        let is_circuit = |a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::P2pCircuit));
        Reachability {
            nat: self.nat.clone(),
            // The relay client confirms our relayed addresses as external ones; they are
            // reported apart, as `relayed`.
            external: self
                .swarm
                .external_addresses()
                .filter(|a| !is_circuit(a))
                .map(|a| with_peer_id(a.clone(), me))
                .collect(),
            relayed: self
                .swarm
                .listeners()
                .filter(|a| is_circuit(a))
                .map(|a| with_peer_id(a.clone(), me))
                .collect(),
            relays: self.relays.keys().copied().collect(),
            relays_known: self.relay_candidates.len(),
            relay_problem: self.relay_problem.clone(),
            relay_service: self.relay_service.then_some(self.relay_activity),
        }
    }

    /// Reserves a slot on connected relays, up to [`MAX_RELAYS`], unless we are a relay or
    /// AutoNAT found us publicly reachable. Listening on `RELAY/p2p-circuit` makes the relay
    /// client request the reservation; the relayed address appears as a listen address once
    /// the relay accepted, and the listener closes (with the reason) if it refused.
    fn reserve_relays(&mut self) {
        if self.relay_service || matches!(self.nat, Nat::Public(_)) {
            return;
        }
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .relay_candidates
            .iter()
            .filter(|(peer, _)| !self.relays.contains_key(peer))
            .map(|(peer, addr)| (*peer, addr.clone()))
            .collect();
        for (relay, addr) in candidates {
            if self.relays.len() >= MAX_RELAYS {
                return;
            }
            let circuit = with_peer_id(addr, relay).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    debug!(%relay, addr = %circuit, "requesting a relay reservation");
                    self.relays.insert(relay, id);
                }
                Err(e) => {
                    debug!(%relay, error = %e, "cannot listen through relay");
                    self.relay_problem = Some(format!("relay {relay}: {e}"));
                }
            }
        }
    }

    /// The relay whose reservation `listener` is.
    fn relay_of(&self, listener: ListenerId) -> Option<PeerId> {
        self.relays
            .iter()
            .find(|(_, id)| **id == listener)
            .map(|(peer, _)| *peer)
    }

    /// Closes the connections to `peer` that [`redundant_relayed`] names.
    fn prune_relayed(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get(&peer) else {
            return;
        };
        for id in redundant_relayed(self.local_peer_id, peer, &state.connections) {
            debug!(%peer, connection = %id, "closing a redundant relayed connection");
            self.swarm.close_connection(id);
        }
    }

    fn handle_relay_client(&mut self, event: libp2p::relay::client::Event) {
        match event {
            libp2p::relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if !renewal {
                    info!(relay = %relay_peer_id, "reachable through relay");
                }
                self.relay_problem = None;
            }
            other => debug!(event = ?other, "relay client"),
        }
    }

    fn handle_relay(&mut self, event: libp2p::relay::Event) {
        use libp2p::relay::Event as E;
        let activity = &mut self.relay_activity;
        match &event {
            E::ReservationReqAccepted { renewed: false, .. } => activity.reservations += 1,
            E::ReservationClosed { .. } | E::ReservationTimedOut { .. } => {
                activity.reservations = activity.reservations.saturating_sub(1)
            }
            E::CircuitReqAccepted { .. } => {
                activity.circuits += 1;
                activity.circuits_accepted += 1;
            }
            E::CircuitClosed { .. } => activity.circuits = activity.circuits.saturating_sub(1),
            E::ReservationReqDenied { .. } | E::CircuitReqDenied { .. } => activity.refused += 1,
            _ => {}
        }
        debug!(event = ?event, "relay");
    }

    fn handle_dcutr(&mut self, event: libp2p::dcutr::Event) {
        match event.result {
            Ok(connection) => {
                info!(peer = %event.remote_peer_id, %connection, "hole punched: direct connection")
            }
            Err(e) => {
                info!(peer = %event.remote_peer_id, error = %e, "hole punching failed: staying relayed")
            }
        }
    }

    fn handle_autonat(&mut self, event: libp2p::autonat::Event) {
        let libp2p::autonat::Event::StatusChanged { new, .. } = event else {
            trace!(event = ?event, "autonat");
            return;
        };
        self.nat = match new {
            libp2p::autonat::NatStatus::Public(addr) => Nat::Public(addr),
            libp2p::autonat::NatStatus::Private => Nat::Private,
            libp2p::autonat::NatStatus::Unknown => Nat::Unknown,
        };
        info!(nat = ?self.nat, "reachability changed");
        if matches!(self.nat, Nat::Public(_)) {
            // Reachable directly: free the relays' slots for those who need them.
            for (relay, listener) in std::mem::take(&mut self.relays) {
                debug!(%relay, "publicly reachable: giving up the relay reservation");
                self.swarm.remove_listener(listener);
            }
        } else {
            self.reserve_relays();
        }
    }

    // ---------------------------------------------------------------- discovery

    fn handle_timer(&mut self) {
        let now = Instant::now();
        let limit = self.peer_rate_limit;
        self.budgets
            .retain(|_, bucket| !bucket.is_full(&limit, now));
        if self.swarm.connected_peers().next().is_none() {
            // Alone (e.g. started before the inviter was online, or the network was down):
            // try the bootstrap addresses again.
            for addr in self.bootstrap.clone() {
                if peer_of(&addr).is_some_and(|peer| self.bans.contains_key(&peer)) {
                    trace!(addr = %addr, "not redialing a banned bootstrap peer");
                    continue;
                }
                if let Err(e) = self.dial(addr.clone()) {
                    debug!(addr = %addr, error = %e, "cannot redial bootstrap address");
                }
            }
        }
        if now >= self.next_provide {
            for key in self.discovery_keys() {
                self.provide(key);
            }
            self.next_provide = now + self.provide_interval;
        }
        for key in self.discovery_keys() {
            self.lookup(key);
        }
        self.reserve_relays();
        self.timer.as_mut().reset(now + self.discovery_interval);
    }

    /// Brings the next discovery round forward: a new connection means kad may now reach
    /// providers it could not before. If our announcements may have reached nobody, they are
    /// repeated in that round too (at most once per discovery interval).
    fn discover_soon(&mut self) {
        if self.topics.is_empty() || !self.swarm.behaviour().kad.is_enabled() {
            return;
        }
        let now = Instant::now();
        let soon = now + DISCOVERY_AFTER_CONNECT;
        if self.timer.deadline() > soon {
            self.timer.as_mut().reset(soon);
        }
        let recently = self
            .last_provide
            .is_some_and(|t| now.duration_since(t) < self.discovery_interval);
        if !recently {
            self.next_provide = self.next_provide.min(soon);
        }
    }

    fn discovery_keys(&self) -> HashSet<[u8; 32]> {
        self.topics.values().copied().collect()
    }

    fn provide(&mut self, key: [u8; 32]) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        match kad.start_providing(RecordKey::new(&key)) {
            Ok(_) => self.last_provide = Some(Instant::now()),
            Err(e) => warn!(error = ?e, "cannot store our provider record"),
        }
    }

    fn lookup(&mut self, key: [u8; 32]) {
        if self.lookups.values().any(|k| *k == key) {
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let id = kad.get_providers(RecordKey::new(&key));
        self.lookups.insert(id, key);
    }

    fn stop_providing_if_unused(&mut self, key: [u8; 32]) {
        if self.topics.values().any(|k| *k == key) {
            return;
        }
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.stop_providing(&RecordKey::new(&key));
        }
    }

    fn dial_providers(&mut self, key: &RecordKey, providers: HashSet<PeerId>) {
        for peer in providers {
            if peer == self.local_peer_id
                || self.swarm.is_connected(&peer)
                || self.bans.contains_key(&peer)
            {
                continue;
            }
            // Addresses from provider records we store ourselves; kad adds those from its
            // routing table and from the running query (the addresses that came with the
            // provider answer) through `extend_addresses_through_behaviour`.
            let addrs = match self.swarm.behaviour_mut().kad.as_mut() {
                Some(kad) => kad
                    .store_mut()
                    .providers(key)
                    .into_iter()
                    .filter(|record| record.provider == peer)
                    .flat_map(|record| record.addresses)
                    .collect(),
                None => Vec::new(),
            };
            debug!(peer = %peer, "dialing discovered provider");
            self.dial_peer(peer, addrs);
        }
    }

    fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(peer = %peer, error = %e, "cannot dial peer");
        }
    }
}

/// The relayed connections to `peer` to close, keeping at most one path: once a direct
/// connection exists, every relayed one (the relay's traffic stops and its circuit limits no
/// longer matter); otherwise, of several relayed ones (both peers dialed at once), all but
/// one dialed by the smaller of `me` and `peer` (the lowest connection id of those), which
/// both ends decide alike without talking.
fn redundant_relayed(
    me: PeerId,
    peer: PeerId,
    links: &HashMap<ConnectionId, Link>,
) -> Vec<ConnectionId> {
    let mut relayed: Vec<(ConnectionId, bool)> = links
        .iter()
        .filter(|(_, l)| l.relayed)
        .map(|(id, l)| (*id, l.dialer))
        .collect();
    relayed.sort();
    if links.values().any(|l| !l.relayed) {
        return relayed.into_iter().map(|(id, _)| id).collect();
    }
    // We dialed the one to keep if we are the smaller peer id.
    let ours = me < peer;
    let keep = relayed
        .iter()
        .find(|(_, dialer)| *dialer == ours)
        .or(relayed.first())
        .map(|(id, _)| *id);
    relayed
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| Some(*id) != keep)
        .collect()
}

/// The in-process transport (`/memory/<port>`, port 0 picks a free one), with the same
/// noise + yamux upgrade as TCP. It never leaves the process: the scenario tool and tests use
/// it to run many nodes in one process without sockets. Dialing a `/memory` address that no
/// node in this process listens on fails at once.
fn memory_transport(
    key: &libp2p::identity::Keypair,
    psk: Option<[u8; 32]>,
) -> Result<BoxedTransport, BoxError> {
    use libp2p::core::{transport::MemoryTransport, Transport as _};
    match psk {
        None => secure(MemoryTransport::default(), key),
        Some(psk) => secure(
            MemoryTransport::default().and_then(move |socket, _| pnet_handshake(psk, socket)),
            key,
        ),
    }
}

/// TCP, with a private network's handshake under Noise when `psk` is set ([`Config::psk`]).
/// Dials reuse the listen port, so that what peers observe of us through a NAT is where we
/// listen (which hole punching needs).
fn tcp_transport(
    key: &libp2p::identity::Keypair,
    psk: Option<[u8; 32]>,
) -> Result<BoxedTransport, BoxError> {
    use libp2p::core::Transport as _;
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
    match psk {
        None => secure(tcp, key),
        Some(psk) => secure(
            tcp.and_then(move |socket, _| pnet_handshake(psk, socket)),
            key,
        ),
    }
}

/// QUIC, or nothing when `enabled` is false (on a private network: pnet cannot wrap QUIC's
/// handshake, so a `/quic-v1` address is refused as unsupported).
fn quic_transport(
    key: &libp2p::identity::Keypair,
    enabled: bool,
) -> Result<BoxedTransport, BoxError> {
    use libp2p::core::{muxing::StreamMuxerBox, transport::OptionalTransport, Transport as _};
    let quic = if enabled {
        OptionalTransport::some(libp2p::quic::tokio::Transport::new(
            libp2p::quic::Config::new(key),
        ))
    } else {
        OptionalTransport::none()
    };
    Ok(quic
        .map(|(peer, connection), _| (peer, StreamMuxerBox::new(connection)))
        .boxed())
}

/// Circuits through relays, secured like TCP: pnet (when `psk` is set), Noise and Yamux run
/// end to end between the two peers, so the relay carries bytes it cannot read.
fn relayed_transport(
    transport: libp2p::relay::client::Transport,
    key: &libp2p::identity::Keypair,
    psk: Option<[u8; 32]>,
) -> Result<BoxedTransport, BoxError> {
    use libp2p::core::Transport as _;
    match psk {
        None => secure(transport, key),
        Some(psk) => secure(
            transport.and_then(move |socket, _| pnet_handshake(psk, socket)),
            key,
        ),
    }
}

/// The pnet handshake on a fresh connection: nonces, then XSalsa20 under `psk` both ways.
/// It cannot fail on a wrong key (the cipher is not authenticated); the Noise handshake run
/// over it then fails, which is what keeps a peer without the key out.
fn pnet_handshake<S>(
    psk: [u8; 32],
    socket: S,
) -> impl std::future::Future<Output = Result<PnetOutput<S>, PnetError>>
where
    S: futures::AsyncRead + futures::AsyncWrite + Send + Unpin + 'static,
{
    PnetConfig::new(PreSharedKey::new(psk)).handshake(socket)
}

/// Noise and Yamux over a byte-stream transport, boxed.
fn secure<T>(transport: T, key: &libp2p::identity::Keypair) -> Result<BoxedTransport, BoxError>
where
    T: libp2p::core::Transport + Send + Unpin + 'static,
    T::Output: futures::AsyncRead + futures::AsyncWrite + Send + Unpin + 'static,
    T::Error: Send + Sync + 'static,
    T::Dial: Send + 'static,
    T::ListenerUpgrade: Send + 'static,
{
    use libp2p::core::{muxing::StreamMuxerBox, upgrade, Transport as _};
    Ok(transport
        .upgrade(upgrade::Version::V1)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// A secured, multiplexed transport, boxed so that its type can be named.
type BoxedTransport =
    libp2p::core::transport::Boxed<(PeerId, libp2p::core::muxing::StreamMuxerBox)>;

/// What the swarm builder accepts from a fallible transport constructor.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The peer id `addr` ends with, if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// `addr` ending in `/p2p/<peer>` (added unless already there).
fn with_peer_id(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr,
        _ => addr.with(Protocol::P2p(peer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(dialer: bool, relayed: bool) -> Link {
        Link {
            addr: Multiaddr::empty(),
            dialer,
            relayed,
        }
    }

    #[test]
    fn both_ends_keep_the_same_relayed_connection_and_none_beside_a_direct_one() {
        let [a, b] = [(); 2].map(|_| {
            libp2p::identity::Keypair::generate_ed25519()
                .public()
                .to_peer_id()
        });
        let (small, large) = if a < b { (a, b) } else { (b, a) };
        let (one, two) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        // The same two circuits seen from each end: `one` dialed by the smaller peer.
        let at_small = HashMap::from([(one, link(true, true)), (two, link(false, true))]);
        let at_large = HashMap::from([(one, link(false, true)), (two, link(true, true))]);
        assert_eq!(redundant_relayed(small, large, &at_small), [two]);
        assert_eq!(redundant_relayed(large, small, &at_large), [two]);
        // One relayed connection alone stays.
        let single = HashMap::from([(one, link(false, true))]);
        assert!(redundant_relayed(small, large, &single).is_empty());
        // Beside a direct one, every relayed one goes and the direct one stays.
        let three = ConnectionId::new_unchecked(3);
        let upgraded = HashMap::from([
            (one, link(true, true)),
            (two, link(false, true)),
            (three, link(true, false)),
        ]);
        assert_eq!(redundant_relayed(small, large, &upgraded), [one, two]);
    }

    #[test]
    fn with_peer_id_appends_once() {
        let peer = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = with_peer_id(bare.clone(), peer);
        assert_eq!(full, bare.with(Protocol::P2p(peer)));
        assert_eq!(with_peer_id(full.clone(), peer), full);
    }
}
