//! The composed libp2p [`NetworkBehaviour`] and the pure functions that configure it.
//!
//! Everything here is construction: no I/O, no state beyond what libp2p keeps. The actor in
//! [`crate::actor`] drives it.

use std::time::Duration;

use libp2p::{
    allow_block_list::{self, BlockedPeers},
    autonat,
    connection_limits::{self, ConnectionLimits},
    dcutr,
    gossipsub::{
        self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds,
        TopicScoreParams, ValidationMode,
    },
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    mdns, ping, relay,
    request_response::{self, ProtocolSupport},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    StreamProtocol,
};

use crate::{
    sync::{SyncCodec, SYNC_STREAM_PROTOCOL},
    Config, Error, MessageId, RelayLimits,
};

/// Identify protocol version: peers announcing anything else are not Cove nodes.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/cove/id/1.0.0";

/// Identify agent string: the product, never its version.
pub(crate) const AGENT_VERSION: &str = "cove";

/// Our private Kademlia protocol name, so that we never join (or pollute) the public IPFS DHT.
pub(crate) const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/cove/kad/1.0.0");

/// Bytes allowed on top of [`Config::max_message_size`] for one gossipsub RPC frame
/// (protobuf framing, the topic string, control piggy-backs).
pub(crate) const RPC_FRAME_OVERHEAD: usize = 4 * 1024;

/// Sync streams (inbound and outbound together) open at once on one connection; more are
/// refused by libp2p (inbound: dropped; outbound: the request fails). With
/// [`MAX_RESPONSE_BYTES`](crate::MAX_RESPONSE_BYTES) this bounds what one connection can
/// make us buffer for sync (32 x 4 MiB), well below anything a single peer needs: the node
/// syncs a few topics at a time.
pub(crate) const MAX_CONCURRENT_SYNC_STREAMS: usize = 32;

/// The behaviours every Cove node runs.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Behaviour {
    /// First, so that a banned peer's connection is denied before any other behaviour
    /// spends anything on it.
    pub(crate) blocked: allow_block_list::Behaviour<BlockedPeers>,
    /// Second, for the same reason: beyond the limits a connection is denied at once.
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: Toggle<kad::Behaviour<MemoryStore>>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    /// Circuit relay v2, client side: reserves slots on relays (listening through them) and
    /// dials peers through relays. Its transport half is in the swarm's transport.
    pub(crate) relay_client: relay::client::Behaviour,
    /// Circuit relay v2, server side: only with [`Config::relay_service`].
    pub(crate) relay: Toggle<relay::Behaviour>,
    /// Hole punching: upgrades a relayed connection to a direct one where the NATs allow it.
    pub(crate) dcutr: dcutr::Behaviour,
    /// Reachability probes: asks peers to dial our candidate addresses back, and serves
    /// their probes in turn.
    pub(crate) autonat: autonat::Behaviour,
    /// Port mapping on the local router: only with [`Config::upnp`].
    pub(crate) upnp: Toggle<libp2p::upnp::tokio::Behaviour>,
}

impl Behaviour {
    /// Builds every sub-behaviour from `config`.
    pub(crate) fn new(
        key: &Keypair,
        config: &Config,
        relay_client: relay::client::Behaviour,
    ) -> Result<Self, Error> {
        let peer_id = key.public().to_peer_id();

        let mut gossipsub =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossipsub_config(config)?)
                .map_err(|e| Error::Behaviour(format!("gossipsub: {e}")))?;
        gossipsub
            .with_peer_score(peer_score_params(), peer_score_thresholds())
            .map_err(|e| Error::Behaviour(format!("gossipsub peer score: {e}")))?;

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                // No version: the agent string is sent to every peer, members or not, and an
                // exact version tells an attacker which known bugs to try.
                .with_agent_version(AGENT_VERSION.to_owned())
                .with_push_listen_addr_updates(true),
        );

        let kad = config.discovery.then(|| {
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config.set_query_timeout(if config.fast_timers {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(60)
            });
            let mut kad =
                kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
            // Kad only switches itself to server mode once the swarm has a *confirmed*
            // external address, which never happens on loopback or behind most NATs. A
            // client-mode node answers no DHT requests, so a small group would never find its
            // own provider records. Every Cove node therefore serves the DHT.
            kad.set_mode(Some(kad::Mode::Server));
            kad
        });

        let mdns = if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| Error::Behaviour(format!("mdns: {e}")))?,
            )
        } else {
            None
        };

        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(SYNC_STREAM_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                // Per stream: negotiating it, writing the request and reading the response
                // (outbound), or reading the request and waiting for our answer (inbound).
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(MAX_CONCURRENT_SYNC_STREAMS),
        );

        Ok(Self {
            blocked: allow_block_list::Behaviour::default(),
            limits: connection_limits::Behaviour::new(
                ConnectionLimits::default()
                    .with_max_established(Some(config.max_connections))
                    .with_max_established_per_peer(Some(config.max_connections_per_peer))
                    .with_max_pending_incoming(Some(config.max_pending_incoming)),
            ),
            gossipsub,
            identify,
            ping: ping::Behaviour::default(),
            kad: kad.into(),
            mdns: mdns.into(),
            sync,
            relay_client,
            relay: config
                .relay_service
                .map(|limits| {
                    let mut relay = relay::Behaviour::new(peer_id, relay_config(&limits));
                    // Serve whether or not AutoNAT confirmed an address yet: the operator
                    // said this node is reachable (`--relay-service`).
                    relay.set_status(Some(relay::Status::Enable));
                    relay
                })
                .into(),
            dcutr: dcutr::Behaviour::new(peer_id),
            autonat: autonat::Behaviour::new(peer_id, autonat_config()),
            upnp: config
                .upnp
                .then(libp2p::upnp::tokio::Behaviour::default)
                .into(),
        })
    }
}

/// The relay server's limits: ours on circuits, libp2p's defaults on reservation rates.
pub(crate) fn relay_config(limits: &RelayLimits) -> relay::Config {
    relay::Config {
        max_reservations: limits.max_reservations,
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_peer,
        max_circuit_duration: limits.max_circuit_duration,
        max_circuit_bytes: limits.max_circuit_bytes,
        ..relay::Config::default()
    }
}

/// AutoNAT (v1): the first probe 5 s after start, then every 30 s until the verdict is
/// certain, then every 5 minutes. The same with [`Config::fast_timers`]: probes open
/// connections, and a test of many nodes on one host should not pay more of them than
/// production does.
///
/// `only_global_ips` is off. Its purpose on the open internet is to keep strangers from
/// using us to dial into private networks, and to ignore probers on a LAN. Here every prober
/// and every server is a member of the group (the swarm is a private network), and members
/// legitimately meet on private and carrier-grade NAT addresses (an office, a VPN, 100.64/10),
/// where "reachable" is still the truth for the members who can route there.
pub(crate) fn autonat_config() -> autonat::Config {
    autonat::Config {
        boot_delay: Duration::from_secs(5),
        retry_interval: Duration::from_secs(30),
        refresh_interval: Duration::from_secs(5 * 60),
        throttle_server_period: Duration::from_secs(15),
        only_global_ips: false,
        ..autonat::Config::default()
    }
}

/// Gossipsub in anonymous mode with manual validation.
pub(crate) fn gossipsub_config(config: &Config) -> Result<gossipsub::Config, Error> {
    let heartbeat = config.heartbeat_interval();
    gossipsub::ConfigBuilder::default()
        // Messages carry no author, sequence number or signature: authorship lives inside
        // the sealed payload, under a per-group pseudonym. Inbound messages that *do* carry
        // these fields are rejected by `ValidationMode::Anonymous`.
        .validation_mode(ValidationMode::Anonymous)
        // Nothing is forwarded before the application said `Accept`.
        .validate_messages()
        // Without a source/seqno the id must come from the content; the same payload has
        // the same id whether it arrives by gossip or by sync.
        .message_id_fn(|message| gossipsub::MessageId::new(&MessageId::of(&message.data).0))
        .max_transmit_size(config.max_message_size.saturating_add(RPC_FRAME_OVERHEAD))
        .flood_publish(config.flood_publish)
        .heartbeat_interval(heartbeat)
        .heartbeat_initial_delay(heartbeat)
        // How long a seen message id is remembered. Cove deduplicates persistently in its
        // store, so this only saves work; local testing shortens it so that tests can replay
        // a message after gossipsub forgot it, as an attacker could after a minute.
        .duplicate_cache_time(if config.fast_timers {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(60)
        })
        .build()
        .map_err(|e| Error::Behaviour(format!("gossipsub config: {e}")))
}

/// Global (not per-topic) peer score parameters.
///
/// Scoring exists to make peers that send invalid messages (`Verdict::Reject`) lose our
/// attention quickly; the per-topic part is in [`topic_score_params`]. The same parameters
/// apply in tests and in production (see [`Config::fast_timers`]); `docs/ARCHITECTURE.md`
/// ("Peer scoring") gives the reason for each.
pub(crate) fn peer_score_params() -> PeerScoreParams {
    PeerScoreParams {
        // Positive topic contributions (time in mesh, first deliveries: at most +8 with
        // `topic_score_params`) are capped low, so that a long-lived mesh peer cannot "bank"
        // enough credit to send invalid messages with impunity.
        topic_score_cap: 10.0,
        // P6, IP colocation: off. Its penalty, (n - threshold)^2 x weight for n peers on one
        // address, is a Sybil guard for open networks. A Cove group is closed: a peer that
        // can publish anything valid holds the group's keys, and one that cannot is cut off
        // by P4 (invalid messages) and the per-peer budget whatever its address. What the
        // penalty did hit was the honest case: an office NAT, a carrier NAT or a relay puts
        // many members behind one address, and from about 12 of them every one fell below
        // the gossip threshold, from 14 below the graylist threshold, and the group fell
        // silent (issue 18). Connections stay bounded by the connection limits, which do not
        // look at addresses either.
        ip_colocation_factor_weight: 0.0,
        // P7, broken IHAVE/IWANT promises and GRAFT-during-backoff: tolerate a few before the
        // (quadratic) penalty starts, since honest peers on bad links, or behind a slow
        // relay, also miss promises. Decays by 10 % per decay interval (1 s), so a burst of
        // misses is forgiven within a minute.
        behaviour_penalty_threshold: 4.0,
        behaviour_penalty_weight: -10.0,
        behaviour_penalty_decay: 0.9,
        ..PeerScoreParams::default()
    }
}

/// Score thresholds: the libp2p defaults, except opportunistic grafting, which has to sit
/// below our low positive cap to ever trigger.
pub(crate) fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 3.0,
    }
}

/// Per-topic score parameters, installed when we subscribe.
///
/// * **P4 invalid messages** is the point: the penalty is `weight * count²`, so with weight
///   -10 one `Reject` costs 10 (about the gossip threshold), two cost 40 (close to the
///   publish threshold), three cost 90: graylisted even with the full positive credit of 8
///   (below -80 everything the peer sends is dropped unread). The count decays to 10 % in
///   about an hour.
/// * **P3/P3b mesh delivery deficits are disabled**. The libp2p defaults expect 20 messages
///   per window from every mesh peer; a Cove group may be silent for hours, so those
///   defaults would push every honest mesh peer below the graylist threshold in a quiet
///   topic. A group cannot tell "quiet" from "withholding" without traffic, so we do not try.
/// * **P1 time in mesh** and **P2 first deliveries** give a small positive credit (capped by
///   `topic_score_cap`), so that honest peers stay preferred for opportunistic grafting.
pub(crate) fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // P1: +0.01 per second in the mesh, at most +3 after 5 minutes.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 300.0,
        // P2: +0.5 per first delivery of a valid message, counter capped at 10, decaying
        // to 10 % in about 10 minutes.
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(600)),
        first_message_deliveries_cap: 10.0,
        // P3 and P3b: off (see above).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: costly invalid messages, remembered for about an hour.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(
            3600,
        )),
        ..TopicScoreParams::default()
    }
}

/// The gossipsub topic for a caller-supplied topic string (already an opaque hash).
pub(crate) fn topic(name: &str) -> IdentTopic {
    IdentTopic::new(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_parameters_are_accepted_by_gossipsub() {
        peer_score_params().validate().expect("global params");
        peer_score_thresholds().validate().expect("thresholds");
        topic_score_params().validate().expect("topic params");
    }

    #[test]
    fn quiet_topic_does_not_penalise_mesh_peers() {
        let p = topic_score_params();
        assert_eq!(p.mesh_message_deliveries_weight, 0.0);
        assert_eq!(p.mesh_failure_penalty_weight, 0.0);
    }

    #[test]
    fn three_rejects_graylist_a_peer_even_with_full_credit() {
        let p = topic_score_params();
        let g = peer_score_params();
        let credit = p.time_in_mesh_weight * p.time_in_mesh_cap
            + p.first_message_deliveries_weight * p.first_message_deliveries_cap;
        let credit = p.topic_weight * credit.min(g.topic_score_cap);
        let penalty = p.topic_weight * p.invalid_message_deliveries_weight * 3.0_f64.powi(2);
        assert!(credit + penalty < peer_score_thresholds().graylist_threshold);
    }

    #[test]
    fn authors_do_not_flood_publish_by_default() {
        // With flood publishing every neighbour would get an author's message first from the
        // author's peer id (issue 12, item 7).
        let config = Config::new(Keypair::generate_ed25519());
        assert!(!gossipsub_config(&config).expect("config").flood_publish());
    }

    #[test]
    fn any_number_of_peers_on_one_address_costs_no_score() {
        // Members behind one office or carrier NAT, or one relay, share an address; nothing
        // in the score may depend on how many do (issue 18).
        let g = peer_score_params();
        assert_eq!(g.ip_colocation_factor_weight, 0.0);
    }
}
