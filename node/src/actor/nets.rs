//! One private network per group (PROTOCOL.md §10): a gossip swarm of its own for each group
//! the node is in, behind a libp2p private network whose pre-shared key is the group's
//! network key, under a peer key derived from this device's key and the group id.
//!
//! A peer without the group's key cannot complete a connection to that swarm, so it learns
//! nothing from it (no peer id, no identify, no topic, no sync); and the node's peer ids in
//! two groups are unrelated, so its networks do not link its memberships. The actor holds a
//! [`Nets`] instead of one gossip handle; each swarm's events reach it tagged with their group
//! through one bounded channel.
//!
//! Beside each group's swarm runs the group's **door** (PROTOCOL.md §10.3): a second swarm
//! under the same peer key, behind the group's door key, that subscribes nothing and answers
//! admission requests only. Invite tickets carry the door key, never the network key, so a
//! ticket's holder (spent or not) can knock and be answered, and learns nothing else: no
//! topic, no message id, no member's connection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cove_crypto::{DeviceKey, GroupId, GroupSecret, NetworkKey};
use cove_gossip::{Event, Gossip, InboundRequestId, Keypair, Multiaddr, PeerId, Protocol};
use tokio::sync::mpsc;
use tracing::{warn, Instrument};

use crate::addr_book::PortPlan;
use crate::api::NodeConfig;
use crate::error::NodeError;

/// Gossip events from every group's swarm queued to the actor. Each swarm also has its own
/// `cove_gossip::EVENT_CAPACITY`; a full queue here stops the forwarding tasks, which stops the
/// swarms reading from the network (backpressure, no loss).
pub const NET_EVENT_CAPACITY: usize = 1024;

pub use crate::core::NETWORK_EPOCH;

/// The libp2p identity of this device in `group`: an Ed25519 key derived from the device key
/// ([`DeviceKey::peer_secret`]).
pub(crate) fn group_keypair(device: &DeviceKey, group: &GroupId) -> Keypair {
    let mut secret = device.peer_secret(group);
    // `ed25519_from_bytes` zeroizes `secret`; it fails only on a wrong length.
    Keypair::ed25519_from_bytes(&mut secret).expect("32 bytes are an Ed25519 secret key")
}

/// The device key in the node's `peer.key` (an Ed25519 libp2p key).
pub(crate) fn device_key(keypair: Keypair) -> Result<DeviceKey, NodeError> {
    let ed = keypair
        .try_into_ed25519()
        .map_err(|e| NodeError::Control(format!("peer.key is not an Ed25519 key: {e}")))?;
    let secret: [u8; 32] = ed
        .secret()
        .as_ref()
        .try_into()
        .map_err(|_| NodeError::Control("peer.key holds a malformed secret".into()))?;
    Ok(DeviceKey::from_bytes(secret))
}

/// The `--listen` TCP port groups' ports are chosen from: the first TCP listen address's
/// (0: any free port).
pub(crate) fn requested_port(listen: &[Multiaddr]) -> u16 {
    listen
        .iter()
        .flat_map(|a| a.iter())
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap_or(0)
}

/// `addr` moved to the group's `port`, chosen from the `--listen` port `requested`
/// (`addr_book::port_plan`): with a fixed `requested` port every fixed TCP port moves up by
/// the group's distance from it (so extra fixed addresses move alike); with `requested` 0,
/// every TCP port 0 becomes `port`.
fn with_group_port(addr: &Multiaddr, requested: u16, port: u16) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(0) if requested == 0 => Protocol::Tcp(port),
            Protocol::Tcp(own) if requested != 0 && own != 0 => {
                Protocol::Tcp(own.saturating_add(port.saturating_sub(requested)))
            }
            other => other,
        })
        .collect()
}

/// Whether `addr` is a loopback address (`127.0.0.0/8`, `::1`).
fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// `addr` with every TCP port 0: the fallback when the group's port is taken.
fn any_port(addr: &Multiaddr) -> Multiaddr {
    with_port(addr, 0)
}

/// The TCP port of the first TCP address in `addrs`.
fn bound_port(addrs: &[Multiaddr]) -> Option<u16> {
    match requested_port(addrs) {
        0 => None,
        port => Some(port),
    }
}

/// One group's swarm: its network, or its door (PROTOCOL.md §10.3), where newcomers with a
/// ticket ask to be admitted.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) gossip: Gossip,
    /// Where it listens (the node's `--listen`, QUIC dropped, on its own port).
    pub(crate) listen: Vec<Multiaddr>,
    /// What the group's network advertises (the node's `--advertise`, QUIC dropped, a fixed
    /// TCP port moved up by the group's offset); nothing for a door.
    pub(crate) advertise: Vec<Multiaddr>,
    /// The TCP port bound, and whether it is the one planned (`false`: that port was taken,
    /// so this run listens on another).
    pub(crate) port: Option<u16>,
    pub(crate) planned: bool,
    /// The pre-shared key it runs behind: the network key of the epoch that was current
    /// when it started (§15), or the door key.
    pub(crate) psk: [u8; 32],
}

/// A request that came in at a group's door.
#[derive(Debug)]
pub(crate) struct DoorRequest {
    pub(crate) group: GroupId,
    pub(crate) id: InboundRequestId,
    pub(crate) peer: PeerId,
    pub(crate) data: Vec<u8>,
}

/// Every group's swarm and door, and the channels their events come in by.
#[derive(Debug)]
pub(crate) struct Nets {
    device: DeviceKey,
    config: NodeConfig,
    nets: HashMap<GroupId, Net>,
    doors: HashMap<GroupId, Net>,
    /// Topic strings to groups, for the messages and outbox entries that name a topic.
    topics: HashMap<String, GroupId>,
    events_tx: mpsc::Sender<(GroupId, Event)>,
    door_tx: mpsc::Sender<DoorRequest>,
    /// Peers banned in every swarm, until when (`None`: for good): applied again to a network
    /// that moves to a new key (§15), which starts a new swarm.
    banned: HashMap<PeerId, Option<Instant>>,
}

/// The receiving ends of [`Nets`]' channels: the groups' gossip events and the requests at
/// their doors.
pub(crate) type NetEvents = (
    mpsc::Receiver<(GroupId, Event)>,
    mpsc::Receiver<DoorRequest>,
);

impl Nets {
    pub(crate) fn new(device: DeviceKey, config: NodeConfig) -> (Nets, NetEvents) {
        let (events_tx, events_rx) = mpsc::channel(NET_EVENT_CAPACITY);
        // A door answers one request per newcomer: a short queue is plenty, and a full one
        // holds the door's swarm back instead of the group's.
        let (door_tx, door_rx) = mpsc::channel(64);
        let nets = Nets {
            device,
            config,
            nets: HashMap::new(),
            doors: HashMap::new(),
            topics: HashMap::new(),
            events_tx,
            door_tx,
            banned: HashMap::new(),
        };
        (nets, (events_rx, door_rx))
    }

    /// Starts `group`'s door unless it runs already, on the port `plan` says; if that port is
    /// taken, on a free one for this run. Its listen addresses are the group network's on
    /// the door's port.
    pub(crate) async fn open_door(
        &mut self,
        group: GroupId,
        secret: &GroupSecret,
        plan: PortPlan,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<&Net, NodeError> {
        if !self.doors.contains_key(&group) {
            let keypair = group_keypair(&self.device, &group);
            let me = keypair.public().to_peer_id();
            let port = plan.port();
            let listen: Vec<Multiaddr> = cove_gossip::Config::tcp_only(&self.config.listen)
                .iter()
                .map(|a| with_port(a, port))
                .collect();
            let span = tracing::info_span!("door", group = %group.short(), me = %short_peer(&me));
            let door_key = secret.door_key();
            let config = |listen: &[Multiaddr]| self.door_config(&keypair, &door_key, listen);
            let (door, mut events) = start(&group, "door", port, listen, Vec::new(), config)
                .instrument(span.clone())
                .await?;
            self.apply_bans(&door.gossip).await;
            let tx = self.door_tx.clone();
            tasks.spawn(
                async move {
                    // Everything but a request is the door's own business (connections,
                    // listen addresses): the actor hears only what it must answer.
                    while let Some(event) = events.recv().await {
                        if let Event::Request { id, peer, data } = event {
                            let request = DoorRequest {
                                group,
                                id,
                                peer,
                                data,
                            };
                            if tx.send(request).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                .instrument(span),
            );
            self.doors.insert(group, door);
        }
        Ok(&self.doors[&group])
    }

    /// The swarm configuration of a group's door listening on `listen`: the group's peer key
    /// and the door key; no mDNS, no relay service; nothing is ever subscribed in it.
    fn door_config(
        &self,
        keypair: &Keypair,
        door_key: &NetworkKey,
        listen: &[Multiaddr],
    ) -> cove_gossip::Config {
        let mut config = self.gossip_config(keypair, door_key, listen);
        config.discovery = false;
        config.relay_service = None;
        config
    }

    /// `group`'s door, if it runs.
    pub(crate) fn door(&self, group: &GroupId) -> Option<&Net> {
        self.doors.get(group)
    }

    /// Starts `group`'s swarm behind `network` (the current epoch's network key, §15) unless
    /// it runs already, on the port `plan` says (`addr_book::port_plan`); returns its handle.
    /// If that port is taken, the swarm listens on a free one for this run and says so. The
    /// forwarding task goes into `tasks`.
    pub(crate) async fn open(
        &mut self,
        group: GroupId,
        network: &NetworkKey,
        topic: &str,
        plan: PortPlan,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<&Net, NodeError> {
        if !self.nets.contains_key(&group) {
            let keypair = group_keypair(&self.device, &group);
            let me = keypair.public().to_peer_id();
            let requested = requested_port(&self.config.listen);
            let port = plan.port();
            let tcp = cove_gossip::Config::tcp_only(&self.config.listen);
            if tcp.len() < self.config.listen.len() && self.nets.is_empty() {
                warn!("QUIC is not used: a group's private network runs over TCP only");
            }
            let listen: Vec<Multiaddr> = tcp
                .iter()
                .map(|a| with_group_port(a, requested, port))
                .collect();
            let advertise = cove_gossip::Config::tcp_only(&self.config.advertise)
                .iter()
                .map(|a| match requested {
                    0 => a.clone(),
                    _ => with_group_port(a, requested, port),
                })
                .collect();
            let span = tracing::info_span!("net", group = %group.short(), me = %short_peer(&me));
            let config = |listen: &[Multiaddr]| self.gossip_config(&keypair, network, listen);
            let (net, events) = start(&group, "network", port, listen, advertise, config)
                .instrument(span.clone())
                .await?;
            self.forward(group, events, span, tasks);
            self.nets.insert(group, net);
            self.topics.insert(topic.to_owned(), group);
        }
        Ok(&self.nets[&group])
    }

    /// Passes the events of `group`'s network to the actor, tagged with the group.
    fn forward(
        &self,
        group: GroupId,
        mut events: mpsc::Receiver<Event>,
        span: tracing::Span,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let tx = self.events_tx.clone();
        tasks.spawn(
            async move {
                while let Some(event) = events.recv().await {
                    if tx.send((group, event)).await.is_err() {
                        return;
                    }
                }
            }
            .instrument(span),
        );
    }

    /// Moves `group`'s network behind `network`, the key of the epoch now current (§15): the
    /// swarm stops (every connection of the old key closes) and starts again on the same
    /// port under the same peer key. Members who moved too meet it again; anyone left with the
    /// old key (a banned member) cannot connect any more.
    pub(crate) async fn move_network(
        &mut self,
        group: GroupId,
        network: &NetworkKey,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<&Net, NodeError> {
        let old = self
            .nets
            .remove(&group)
            .ok_or_else(|| NodeError::UnknownGroup(group.to_string()))?;
        let _ = old.gossip.shutdown().await;
        let keypair = group_keypair(&self.device, &group);
        let me = keypair.public().to_peer_id();
        let port = old.port.unwrap_or(0);
        let listen: Vec<Multiaddr> = old.listen.iter().map(|a| with_port(a, port)).collect();
        let span = tracing::info_span!("net", group = %group.short(), me = %short_peer(&me));
        let config = |listen: &[Multiaddr]| self.gossip_config(&keypair, network, listen);
        let (mut net, events) = start(&group, "network", port, listen, old.advertise, config)
            .instrument(span.clone())
            .await?;
        net.planned = old.planned && net.planned;
        self.apply_bans(&net.gossip).await;
        self.forward(group, events, span, tasks);
        self.nets.insert(group, net);
        Ok(&self.nets[&group])
    }

    /// The swarm configuration of a group's network listening on `listen` behind `psk`.
    fn gossip_config(
        &self,
        keypair: &Keypair,
        psk: &NetworkKey,
        listen: &[Multiaddr],
    ) -> cove_gossip::Config {
        let mut config = cove_gossip::Config::new(keypair.clone());
        config.listen = listen.to_vec();
        config.psk = Some(*psk.as_bytes());
        // mDNS would announce one peer id per group on the LAN: how many groups this
        // host is in. Members find each other through invites, remembered addresses and
        // the group's own DHT instead (PROTOCOL.md §10).
        config.mdns = false;
        config.fast_timers = self.config.fast_timers;
        config.max_message_size = crate::core::MAX_ENVELOPE_BYTES + 1024;
        config.peer_rate_limit = self.config.peer_rate_limit;
        config.max_connections = self.config.max_connections;
        config.max_connections_per_peer = self.config.max_connections_per_peer;
        config.relay_service = self
            .config
            .relay_service
            .then(cove_gossip::RelayLimits::default);
        // A port mapping is for a listener the router can forward to; one on loopback only has
        // nothing to map, and searching for a router would send packets beyond loopback.
        config.upnp = self.config.upnp && listen.iter().any(|a| !is_loopback(a));
        config
    }

    /// This device's key, which every group's peer key derives from.
    pub(crate) fn device(&self) -> &DeviceKey {
        &self.device
    }

    /// The `--listen` TCP port the groups' ports are chosen from (0: any).
    pub(crate) fn requested_port(&self) -> u16 {
        requested_port(&self.config.listen)
    }

    /// The peer key of this device in `group`, as the signer of its address records
    /// (PROTOCOL.md §10.1): the same key as [`group_keypair`].
    pub(crate) fn record_key(&self, group: &GroupId) -> cove_crypto::Pseudonym {
        cove_crypto::Pseudonym::from_secret_bytes(self.device.peer_secret(group))
    }

    /// The ports the running groups' networks and doors hold.
    pub(crate) fn ports(&self) -> Vec<u16> {
        let doors = self.doors.values().filter_map(|d| d.port);
        self.nets
            .values()
            .filter_map(|n| n.port)
            .chain(doors)
            .collect()
    }

    /// `group`'s swarm, if the node is in the group.
    pub(crate) fn get(&self, group: &GroupId) -> Option<&Net> {
        self.nets.get(group)
    }

    /// `group`'s gossip handle, or the error an unknown group gets.
    pub(crate) fn gossip(&self, group: &GroupId) -> Result<&Gossip, NodeError> {
        self.nets
            .get(group)
            .map(|n| &n.gossip)
            .ok_or_else(|| NodeError::UnknownGroup(group.to_string()))
    }

    /// The gossip handle of the group whose topic this is.
    pub(crate) fn for_topic(&self, topic: &str) -> Option<&Gossip> {
        self.topics
            .get(topic)
            .and_then(|g| self.nets.get(g))
            .map(|n| &n.gossip)
    }

    /// Every group's swarm.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&GroupId, &Net)> {
        self.nets.iter()
    }

    /// The peer id of this device in `group`.
    pub(crate) fn peer_id_in(&self, group: &GroupId) -> PeerId {
        group_keypair(&self.device, group).public().to_peer_id()
    }

    /// Bans (or, with `None`, unbans) `peer` in every swarm and door. A peer id belongs to
    /// one group's network, so this reaches the one where it is; the others never see it.
    pub(crate) async fn ban(&mut self, peer: PeerId, duration: Option<Duration>) {
        match duration {
            Some(d) => self.banned.insert(peer, Instant::now().checked_add(d)),
            None => self.banned.remove(&peer),
        };
        let doors = self.doors.values().map(|d| &d.gossip);
        for gossip in self.nets.values().map(|n| &n.gossip).chain(doors) {
            let result = match duration {
                Some(d) => gossip.ban(peer, d).await,
                None => gossip.unban(peer).await,
            };
            if let Err(e) = result {
                warn!(%peer, error = %e, "could not ban or unban peer");
            }
        }
    }

    /// Applies the bans still running to a swarm just started.
    async fn apply_bans(&mut self, gossip: &Gossip) {
        let now = Instant::now();
        self.banned.retain(|_, until| until.is_none_or(|t| t > now));
        for (peer, until) in &self.banned {
            // A ban "for good" overflowed `Instant`: a day at a time is the same to a swarm
            // that lives until the next move or restart.
            let left = until.map_or(Duration::from_secs(86_400), |t| t - now);
            if let Err(e) = gossip.ban(*peer, left).await {
                warn!(%peer, error = %e, "could not ban peer");
            }
        }
    }

    /// Stops every swarm and door.
    pub(crate) async fn shutdown(&self) {
        let doors = self.doors.values().map(|d| &d.gossip);
        for gossip in self.nets.values().map(|n| &n.gossip).chain(doors) {
            let _ = gossip.shutdown().await;
        }
    }
}

/// Starts a swarm (`what`: the group's network or its door) listening on `listen`, made by
/// `config`; if its planned `port` is taken, on a free port for this run, saying so. Returns
/// it and its events.
async fn start(
    group: &GroupId,
    what: &str,
    port: u16,
    listen: Vec<Multiaddr>,
    advertise: Vec<Multiaddr>,
    config: impl Fn(&[Multiaddr]) -> cove_gossip::Config,
) -> Result<(Net, mpsc::Receiver<Event>), NodeError> {
    let (gossip, events, listen, planned) = match Gossip::spawn(config(&listen)).await {
        Ok((gossip, events)) => (gossip, events, listen, true),
        Err(cove_gossip::Error::Listen { addr, reason }) if port != 0 => {
            warn!(
                group = %group.short(), %addr, %reason,
                "this group's {what} cannot listen on its port {port} (in use by another \
                 program?); it listens on another port for this run. Members who remember \
                 port {port} find it again through its address record, or at the next start \
                 once the port is free"
            );
            let listen: Vec<Multiaddr> = listen.iter().map(any_port).collect();
            let (gossip, events) = Gossip::spawn(config(&listen)).await?;
            (gossip, events, listen, false)
        }
        Err(e) => return Err(e.into()),
    };
    let port = bound_port(&gossip.listen_addrs().await?);
    let psk = config(&[]).psk.unwrap_or_default();
    let net = Net {
        gossip,
        listen,
        advertise,
        port,
        planned,
        psk,
    };
    Ok((net, events))
}

/// `addr` with every TCP port set to `port`.
pub(crate) fn with_port(addr: &Multiaddr, port: u16) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(port),
            other => other,
        })
        .collect()
}

/// The last characters of a peer id: enough to tell a test's nodes apart in logs.
pub(crate) fn short_peer(peer: &PeerId) -> String {
    let text = peer.to_string();
    text[text.len().saturating_sub(6)..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_port_replaces_port_zero_or_moves_a_fixed_port_up() {
        let fixed: Multiaddr = "/ip4/0.0.0.0/tcp/4001".parse().unwrap();
        assert_eq!(
            with_group_port(&fixed, 4001, 4003).to_string(),
            "/ip4/0.0.0.0/tcp/4003"
        );
        let any: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        assert_eq!(
            with_group_port(&any, 0, 41237).to_string(),
            "/ip4/127.0.0.1/tcp/41237"
        );
        assert_eq!(with_group_port(&any, 0, 0), any);
        assert_eq!(any_port(&fixed).to_string(), "/ip4/0.0.0.0/tcp/0");
        assert_eq!(requested_port(&[fixed]), 4001);
        assert!(is_loopback(&any));
        assert!(!is_loopback(&"/ip4/0.0.0.0/tcp/0".parse().unwrap()));
        assert_eq!(requested_port(&[]), 0);
    }

    #[test]
    fn a_device_has_one_stable_peer_id_per_group() {
        let device = DeviceKey::from_bytes([3; 32]);
        let (a, b) = (GroupId::from_bytes([1; 32]), GroupId::from_bytes([2; 32]));
        let id = |g| group_keypair(&device, g).public().to_peer_id();
        assert_eq!(id(&a), id(&a));
        assert_ne!(id(&a), id(&b));
    }
}
