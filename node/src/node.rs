//! The `Node` handle and the actor that ties gossip and the store together.
//!
//! ```text
//!  Node (Clone) --Command + oneshot--> [ actor task ] <--gossip::Event-- gossip actor (swarm)
//!                 (COMMAND_CAPACITY)     owns Core          (bounded)
//!                                        (store, keys) --publish/report--> gossip
//! ```
//!
//! The actor loop is `select! { biased; commands, gossip events, republish timer }`: local
//! work is served before new remote work. It stops when the last `Node` handle drops or on
//! [`Node::shutdown`], flushing the store.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cove_crypto::{GroupId, Invite};
use cove_gossip::{
    Event, Gossip, InboundRequestId, Multiaddr, PeerId, PeerRateLimit, Published, Verdict,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::control::Request;
use crate::core::{Core, GroupInfo, Rejection};
use crate::data_dir::DataDir;
use crate::decide;
use crate::error::NodeError;
use crate::health::{Change, GroupHealth, Warnings};
use crate::message::MessageId;
use crate::message::Policy;
use crate::message::{Content, SignedMessage};
use crate::social::FeedItem;
use crate::store::Store;
use crate::sync::{self, Challenges, IngestBatch, Progress, Report, Session, SyncError};

/// Commands queued from handles to the actor.
pub const COMMAND_CAPACITY: usize = 64;
/// How often own messages that no proven member has confirmed are looked at again: offered
/// by gossip if no peer took them yet, and confirmed by a reconciliation round with a member.
pub const DEFAULT_REPUBLISH_INTERVAL: Duration = Duration::from_secs(10);
/// How long an own message that a peer took by gossip waits before it is offered again while
/// no proven member has confirmed it (PROTOCOL.md §13.9). A peer that takes a message may be
/// a non-member; this bounds what re-offering costs then: one fresh sealing per message per
/// interval.
pub const OUTBOX_REOFFER_INTERVAL: Duration = Duration::from_secs(60);
/// Sync sessions this node starts on its own at once (on-demand `cove sync` is extra).
pub const MAX_CONCURRENT_SYNCS: usize = 8;
/// Reports queued from the actor's own tasks (session ends, violations).
pub const INTERNAL_CAPACITY: usize = 64;
/// Fetched pages queued from sync sessions to the actor.
pub const INGEST_CAPACITY: usize = 16;
/// Default anti-entropy interval: each group syncs with one random member this often.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// How long shutdown waits for spawned tasks before aborting them.
pub const TASK_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest validity of an invite.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How to run a node. Library users build it directly; the CLI builds it from flags.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data dir (must be initialised with [`DataDir::init`]).
    pub data_dir: PathBuf,
    /// The passphrase of an encrypted seed; `None`: read `COVE_PASSPHRASE` if the seed is
    /// encrypted (see [`DataDir::load_seed_with`]). Zeroized on drop, never printed.
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
        }
    }

    /// Loopback only, no mDNS: for tests and the demo, so no packet leaves the machine.
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            mdns: false,
            fast_timers: true,
            republish_interval: Duration::from_secs(1),
            sync_interval: Duration::from_secs(3),
            ..Self::new(data_dir)
        }
    }
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

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

#[derive(Debug)]
enum Command {
    CreateGroup {
        name: String,
        policy: Policy,
        reply: Reply<GroupId>,
    },
    Invite {
        group: String,
        ttl: Duration,
        addrs: Vec<Multiaddr>,
        reply: Reply<String>,
    },
    Join {
        invite: String,
        reply: Reply<GroupId>,
    },
    Groups {
        reply: Reply<Vec<GroupInfo>>,
    },
    Post {
        group: String,
        title: Option<String>,
        text: String,
        reply: Reply<MessageId>,
    },
    SetProfile {
        group: String,
        nickname: String,
        bio: Option<String>,
        reply: Reply<MessageId>,
    },
    Feed {
        group: String,
        limit: usize,
        reply: Reply<Vec<FeedItem>>,
    },
    Peers {
        reply: Reply<Vec<PeerSummary>>,
    },
    Status {
        reply: Reply<Status>,
    },
    Block {
        peer: String,
        duration: Option<Duration>,
        reply: Reply<()>,
    },
    /// The social API: requests answered with JSON (see `docs/API.md`).
    Api {
        request: Request,
        reply: Reply<serde_json::Value>,
    },
    Sync {
        group: Option<String>,
        progress: Option<mpsc::Sender<Progress>>,
        reply: Reply<Vec<Report>>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// Reports from the actor's own spawned tasks.
#[derive(Debug)]
enum Internal {
    /// An automatic session ended.
    SessionDone {
        group: GroupId,
        peer: PeerId,
        error: Option<SyncError>,
    },
    /// A peer broke the sync protocol in a task that served or ran a session.
    Violation { peer: PeerId, reason: &'static str },
    /// Own messages a command's task handed to a peer by gossip.
    Gossiped { ids: Vec<MessageId> },
    /// Own messages a session found a proven member to hold: they leave the outbox.
    Delivered { ids: Vec<MessageId> },
}

/// Handle to a running node. Cheap to clone; the node stops when the last handle drops.
#[derive(Clone, Debug)]
pub struct Node {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    accepted: tokio::sync::broadcast::Sender<SignedMessage>,
}

/// Accepted messages buffered for live watchers (`cove chat`); a slower watcher misses the
/// oldest and is told how many.
pub const WATCH_CAPACITY: usize = 256;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Node {
    /// Opens the data dir and store, starts the network, subscribes every group and dials
    /// their bootstrap peers.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let dir = DataDir::new(&config.data_dir);
        let seed = dir.load_seed_with(config.passphrase.as_ref())?;
        let keypair = dir.load_peer_key()?;
        let store = open_store(&dir)?;
        let mut core = Core::new(store, seed)?;
        core.set_retention(config.retention);

        let mut gossip_config = cove_gossip::Config::new(keypair);
        gossip_config.listen = config.listen.clone();
        gossip_config.mdns = config.mdns;
        gossip_config.fast_timers = config.fast_timers;
        gossip_config.max_message_size = crate::core::MAX_ENVELOPE_BYTES + 1024;
        gossip_config.peer_rate_limit = config.peer_rate_limit;
        gossip_config.max_connections = config.max_connections;
        gossip_config.max_connections_per_peer = config.max_connections_per_peer;
        let (gossip, events) = Gossip::spawn(gossip_config).await?;
        let peer_id = gossip.local_peer_id();

        let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_CAPACITY);
        let (accepted, _) = tokio::sync::broadcast::channel(WATCH_CAPACITY);
        let (ingest_tx, ingest_rx) = mpsc::channel(INGEST_CAPACITY);
        let actor = Actor {
            core,
            gossip,
            events,
            internal_tx,
            internal_rx,
            ingest_tx,
            ingest_rx,
            challenges: Challenges::default(),
            syncing: HashSet::new(),
            unproven: sync::UnprovenPeers::default(),
            gossiped: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            accepted: accepted.clone(),
            publishing: Vec::new(),
            data_dir: config.data_dir.clone(),
            warnings: Warnings::default(),
            request_budgets: sync::RequestBudgets::default(),
            session_storages: Default::default(),
            listen: config.listen.clone(),
            advertise: config.advertise.clone(),
        };
        for group in actor.core.groups() {
            actor.enter_group(&group.id).await?;
        }
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        tokio::spawn(actor.run(rx, config.republish_interval, config.sync_interval));
        info!(peer = %peer_id, "node started");
        Ok(Node {
            tx,
            peer_id,
            accepted,
        })
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Founds a group with the default [`Policy`]; returns its id.
    pub async fn create_group(&self, name: &str) -> Result<GroupId, NodeError> {
        self.create_group_with(name, Policy::default()).await
    }

    /// Founds a group whose charter carries `policy` (e.g. another rate limit).
    pub async fn create_group_with(
        &self,
        name: &str,
        policy: Policy,
    ) -> Result<GroupId, NodeError> {
        let name = name.to_string();
        self.call(|reply| Command::CreateGroup {
            name,
            policy,
            reply,
        })
        .await
    }

    /// An invite to `group` (id or unique name) listing this node's advertised addresses, or
    /// else its explicitly bound listen addresses (see [`NodeConfig::advertise`]).
    pub async fn invite(&self, group: &str, ttl: Duration) -> Result<String, NodeError> {
        self.invite_at(group, ttl, Vec::new()).await
    }

    /// [`Node::invite`] listing exactly `addrs` (each gets `/p2p/` and this node's peer id);
    /// with none, as [`Node::invite`].
    pub async fn invite_at(
        &self,
        group: &str,
        ttl: Duration,
        addrs: Vec<Multiaddr>,
    ) -> Result<String, NodeError> {
        let group = group.to_string();
        self.call(|reply| Command::Invite {
            group,
            ttl,
            addrs,
            reply,
        })
        .await
    }

    /// Joins the group of an invite and connects to its peers.
    pub async fn join(&self, invite: &str) -> Result<GroupId, NodeError> {
        let invite = invite.to_string();
        self.call(|reply| Command::Join { invite, reply }).await
    }

    /// Groups joined.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, NodeError> {
        self.call(|reply| Command::Groups { reply }).await
    }

    /// Posts to a group. Returns once the post is durably stored; it reaches peers now or,
    /// if none is reachable, as soon as one is.
    pub async fn post(
        &self,
        group: &str,
        title: Option<String>,
        text: &str,
    ) -> Result<MessageId, NodeError> {
        let (group, text) = (group.to_string(), text.to_string());
        self.call(|reply| Command::Post {
            group,
            title,
            text,
            reply,
        })
        .await
    }

    /// Sets this member's nickname (and bio) in a group.
    pub async fn set_profile(
        &self,
        group: &str,
        nickname: &str,
        bio: Option<String>,
    ) -> Result<MessageId, NodeError> {
        let (group, nickname) = (group.to_string(), nickname.to_string());
        self.call(|reply| Command::SetProfile {
            group,
            nickname,
            bio,
            reply,
        })
        .await
    }

    /// The newest posts of a group, newest first.
    pub async fn feed(&self, group: &str, limit: usize) -> Result<Vec<FeedItem>, NodeError> {
        let group = group.to_string();
        self.call(|reply| Command::Feed {
            group,
            limit,
            reply,
        })
        .await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerSummary>, NodeError> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// Counters and addresses.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Runs a social-API request (replies, recommendations, rankings, rooms, moderation...);
    /// the answer is JSON as documented in `docs/API.md`.
    pub async fn api(&self, request: Request) -> Result<serde_json::Value, NodeError> {
        self.call(|reply| Command::Api { request, reply }).await
    }

    /// Runs a social-API request and decodes its answer.
    pub async fn api_as<T: serde::de::DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<T, NodeError> {
        let value = self.api(request).await?;
        serde_json::from_value(value)
            .map_err(|e| NodeError::Control(format!("unexpected answer: {e}")))
    }

    /// Every message stored from now on (gossip, sync or own), for live views.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<SignedMessage> {
        self.accepted.subscribe()
    }

    /// Cuts a peer off (closes connections, refuses new ones) for `duration`, or lifts a block
    /// with `None`. For an operator facing a misbehaving peer, and for partition tests.
    pub async fn block_peer(
        &self,
        peer: &str,
        duration: Option<Duration>,
    ) -> Result<(), NodeError> {
        let peer = peer.to_string();
        self.call(|reply| Command::Block {
            peer,
            duration,
            reply,
        })
        .await
    }

    /// Syncs one group (or all) with every connected member now; `progress` receives reports
    /// while messages are fetched.
    pub async fn sync(
        &self,
        group: Option<&str>,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Result<Vec<Report>, NodeError> {
        let group = group.map(str::to_string);
        self.call(|reply| Command::Sync {
            group,
            progress,
            reply,
        })
        .await
    }

    /// Stops the network, flushes the store and ends the actor.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}

/// The gossip layer's name for a decision's verdict.
fn gossip_verdict(verdict: decide::Verdict) -> Verdict {
    match verdict {
        decide::Verdict::Accept => Verdict::Accept,
        decide::Verdict::Reject => Verdict::Reject,
        decide::Verdict::Ignore => Verdict::Ignore,
    }
}

/// Opens the store, turning sled's lock error into advice.
pub(crate) fn open_store(dir: &DataDir) -> Result<Store, NodeError> {
    Store::open(&dir.store_path()).map_err(|e| match e {
        crate::store::StoreError::Sled(e) if crate::store::is_lock_held(&e) => {
            NodeError::Control(format!(
                "the store in {} is in use by another process (is `cove up` running?)",
                dir.root().display()
            ))
        }
        other => other.into(),
    })
}

/// Offers an own message to the group by gossip; `true` if a peer took it. The outbox entry
/// stays either way: a peer on the topic may be a non-member, so only a proven member's
/// confirmation clears it (a sync session, PROTOCOL.md §13.9).
async fn offer(gossip: &Gossip, id: &MessageId, topic: &str, envelope: Vec<u8>) -> bool {
    match gossip.publish(topic, envelope).await {
        Ok(Published::Sent) => true,
        Ok(Published::NoPeers) => {
            debug!(msg = %id.short(), "no peer yet; offered again later");
            false
        }
        Err(e) => {
            warn!(msg = %id.short(), error = %e, "publish failed; offered again later");
            false
        }
    }
}

struct Actor {
    core: Core,
    gossip: Gossip,
    events: mpsc::Receiver<Event>,
    /// Cloned into spawned tasks (sync sessions, served requests); the actor holds both ends,
    /// so this channel never keeps the actor alive on its own.
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    /// Pages fetched by sync sessions, validated and stored by the actor (same ends rule).
    ingest_tx: mpsc::Sender<IngestBatch>,
    ingest_rx: mpsc::Receiver<IngestBatch>,
    challenges: Challenges,
    /// Automatic sessions running, one per (group, peer).
    syncing: HashSet<(GroupId, PeerId)>,
    /// Responders that failed to prove membership: automatic sessions leave them alone.
    unproven: sync::UnprovenPeers,
    /// When each outbox entry was last handed to a peer by gossip (see
    /// [`OUTBOX_REOFFER_INTERVAL`]); only entries still in the outbox are kept.
    gossiped: HashMap<MessageId, Instant>,
    /// Every task the actor spawns (sessions, served requests): awaited on shutdown.
    tasks: tokio::task::JoinSet<()>,
    /// Every newly stored message, for live watchers.
    accepted: tokio::sync::broadcast::Sender<SignedMessage>,
    /// What is left of publishing the own messages the current command composed (see
    /// [`Actor::publish_later`]); its reply waits for them, the actor does not.
    publishing: Vec<Publication>,
    /// The data dir (for the advertiser key, read when an advertiser publishes).
    data_dir: PathBuf,
    /// Gossip problems already logged, so that each is logged once.
    warnings: Warnings,
    /// Each peer's sync request budget.
    request_budgets: sync::RequestBudgets,
    /// The Negentropy storage of the sync sessions this node serves, shared with the tasks
    /// that serve them.
    session_storages: std::sync::Arc<std::sync::Mutex<sync::SessionStorages>>,
    /// The listen addresses asked for, and the advertise list: what invites may carry (see
    /// [`crate::invite_addrs`]).
    listen: Vec<Multiaddr>,
    advertise: Vec<Multiaddr>,
}

/// The longest a staged message waits before the actor applies the staged messages as one
/// sled batch (`store::GROUP_COMMIT` applies a full batch at once). Staged messages are read
/// like applied ones; this bounds only how long they wait for sled, which itself makes
/// applied writes durable every 500 ms. At a group's usual pace (a message every 100 ms or
/// more) a shorter wait would apply one message per batch, and each batch costs ~120 µs.
const SETTLE_WITHIN: Duration = Duration::from_millis(500);

/// An own message, stored but not yet flushed nor offered to its group.
struct Publication {
    signed: SignedMessage,
    envelope: Vec<u8>,
    topic: String,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        republish_every: Duration,
        sync_every: Duration,
    ) {
        let mut republish = tokio::time::interval(republish_every);
        republish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut anti_entropy = tokio::time::interval(sync_every);
        anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let (staged, settle_by) = (self.core.store().has_staged(), self.settle_by());
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let result = self.stop().await;
                        // Close the store before answering, so a caller may reopen it at once.
                        // Closing writes sled's snapshot (a replay of the log since the
                        // start), blocking work that must not hold up other tasks.
                        let closed = tokio::task::spawn_blocking(move || drop(self)).await;
                        let _ = reply.send(result.and(closed.map_err(|e| {
                            NodeError::Control(format!("closing the store failed: {e}"))
                        })));
                        return;
                    }
                    Some(command) => self.handle_command(command).await,
                    None => {
                        let _ = self.stop().await;
                        return;
                    }
                },
                Some(internal) = self.internal_rx.recv() => self.handle_internal(internal).await,
                Some(batch) = self.ingest_rx.recv() => self.ingest_batch(batch),
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                event = self.events.recv() => match event {
                    Some(event) => self.handle_gossip_event(event).await,
                    None => {
                        warn!("gossip layer stopped; node stops");
                        let _ = self.core.store().flush().await;
                        return;
                    }
                },
                _ = republish.tick() => {
                    self.republish_outbox().await;
                    self.check_health().await;
                }
                _ = anti_entropy.tick() => self.anti_entropy().await,
                _ = tokio::time::sleep_until(settle_by), if staged => {
                    if let Err(e) = self.core.store().settle() {
                        warn!(error = %e, "could not apply staged messages");
                    }
                }
            }
        }
    }

    /// When the oldest staged message must be applied ([`SETTLE_WITHIN`]).
    fn settle_by(&self) -> tokio::time::Instant {
        let since = self
            .core
            .store()
            .staged_since()
            .unwrap_or_else(Instant::now);
        tokio::time::Instant::from_std(since + SETTLE_WITHIN)
    }

    async fn stop(&mut self) -> Result<(), NodeError> {
        let _ = self.gossip.shutdown().await;
        // Spawned tasks hold store handles; with the network and our channels closed they end
        // at once, and once they have, the database is closed when the actor is dropped.
        self.ingest_rx.close();
        self.internal_rx.close();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(TASK_DRAIN_TIMEOUT, drain)
            .await
            .is_err()
        {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        self.core.store().flush().await?;
        info!("node stopped");
        Ok(())
    }

    /// Subscribes a group's topic and dials its bootstrap peers.
    async fn enter_group(&self, id: &GroupId) -> Result<(), NodeError> {
        let group = self
            .core
            .group(id)
            .ok_or_else(|| NodeError::UnknownGroup(id.to_string()))?;
        self.gossip
            .subscribe(&group.topic, group.secret.discovery_key())
            .await?;
        for addr in &group.record.bootstrap {
            match addr.parse::<Multiaddr>() {
                Ok(addr) => {
                    if let Err(e) = self.gossip.dial(addr.clone()).await {
                        debug!(%addr, error = %e, "bootstrap dial failed");
                    }
                }
                Err(e) => warn!(%addr, error = %e, "bootstrap address is not a multiaddr"),
            }
        }
        Ok(())
    }

    async fn handle_command(&mut self, command: Command) {
        match command {
            Command::CreateGroup {
                name,
                policy,
                reply,
            } => {
                let result = self.create_group(&name, policy).await;
                let _ = reply.send(result);
            }
            Command::Invite {
                group,
                ttl,
                addrs,
                reply,
            } => {
                let _ = reply.send(self.invite(&group, ttl, &addrs).await);
            }
            Command::Join { invite, reply } => {
                let _ = reply.send(self.join(&invite).await);
            }
            Command::Groups { reply } => {
                let _ = reply.send(Ok(self.core.group_infos()));
            }
            Command::Post {
                group,
                title,
                text,
                reply,
            } => {
                let post = Content::Post(crate::message::Post { title, text });
                let result = self.send_in(&group, post);
                self.answer(reply, result);
            }
            Command::SetProfile {
                group,
                nickname,
                bio,
                reply,
            } => {
                let profile = Content::Profile(crate::message::Profile { nickname, bio });
                let result = self.send_in(&group, profile);
                self.answer(reply, result);
            }
            Command::Feed {
                group,
                limit,
                reply,
            } => {
                let result = self
                    .core
                    .resolve_group(&group)
                    .and_then(|id| self.core.feed(&id, limit));
                let _ = reply.send(result);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers().await);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status().await);
            }
            Command::Sync {
                group,
                progress,
                reply,
            } => self.sync_on_demand(group, progress, reply).await,
            Command::Block {
                peer,
                duration,
                reply,
            } => {
                let _ = reply.send(self.block(&peer, duration).await);
            }
            Command::Api { request, reply } => {
                let result = self.api(request).await;
                self.answer(reply, result);
            }
            Command::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    /// The group named by `group`, or the only group when none is named.
    fn group_or_only(&self, group: Option<&str>) -> Result<GroupId, NodeError> {
        match group {
            Some(q) => self.core.resolve_group(q),
            None => {
                let ids: Vec<GroupId> = self.core.groups().map(|g| g.id).collect();
                match ids.as_slice() {
                    [only] => Ok(*only),
                    [] => Err(NodeError::InvalidInput("you belong to no group yet".into())),
                    _ => Err(NodeError::InvalidInput(format!(
                        "you belong to {} groups: say which with --group",
                        ids.len()
                    ))),
                }
            }
        }
    }

    /// This node's advertiser key.
    fn advertiser_key(&self) -> Result<cove_crypto::Pseudonym, NodeError> {
        DataDir::new(&self.data_dir).load_advertiser()
    }

    /// Signs with the advertiser key, stores and publishes.
    fn send_as(
        &mut self,
        group: GroupId,
        signer: &cove_crypto::Pseudonym,
        content: Content,
    ) -> Result<serde_json::Value, NodeError> {
        let composed = self
            .core
            .compose_as(&group, Some(signer), content, now_ms());
        Ok(serde_json::json!(self.publish_later(composed)?.to_string()))
    }

    /// Signs, stores and publishes a message in the group named by `group`.
    fn send_in(&mut self, group: &str, content: Content) -> Result<MessageId, NodeError> {
        let id = self.core.resolve_group(group)?;
        let composed = self.core.compose(&id, content, now_ms());
        self.publish_later(composed)
    }

    /// Signs, stores and publishes one social message.
    fn send(&mut self, group: GroupId, content: Content) -> Result<serde_json::Value, NodeError> {
        let composed = self.core.compose(&group, content, now_ms());
        Ok(serde_json::json!(self.publish_later(composed)?.to_string()))
    }

    /// Replies to a command once the own messages it composed are durable (and offered to
    /// the group). That wait runs in a task: the actor goes on validating peers' messages
    /// while the fsync runs. A message that fails to flush fails the reply.
    fn answer<T: Send + 'static>(
        &mut self,
        reply: oneshot::Sender<Result<T, NodeError>>,
        result: Result<T, NodeError>,
    ) {
        let publishing = std::mem::take(&mut self.publishing);
        if publishing.is_empty() {
            let _ = reply.send(result);
            return;
        }
        let (store, gossip, accepted, internal) = (
            self.core.store().reader(),
            self.gossip.clone(),
            self.accepted.clone(),
            self.internal_tx.clone(),
        );
        self.tasks.spawn(async move {
            // One flush covers every message the command stored. If it fails, nothing is
            // offered now; the messages stay in the outbox.
            if let Err(e) = store.flush().await {
                let _ = reply.send(Err(e.into()));
                return;
            }
            let mut gossiped = Vec::new();
            for Publication {
                signed,
                envelope,
                topic,
            } in publishing
            {
                let id = signed.message.id;
                let _ = accepted.send(signed);
                if offer(&gossip, &id, &topic, envelope).await {
                    gossiped.push(id);
                }
            }
            let _ = reply.send(result);
            if !gossiped.is_empty() {
                let _ = internal.send(Internal::Gossiped { ids: gossiped }).await;
            }
        });
    }

    async fn api(&mut self, request: Request) -> Result<serde_json::Value, NodeError> {
        use serde_json::json;
        let now = now_ms();
        match request {
            Request::Reply { to, text } => {
                let (group, content) = self.core.reply_content(&to, text)?;
                self.send(group, content)
            }
            Request::Thread { id } => Ok(json!(self.core.thread(&id)?)),
            Request::Show { id } => Ok(json!(self.core.show(&id)?)),
            Request::Edit { id, title, text } => {
                let (group, content) = self.core.own_change_content(&id, Some((title, text)))?;
                self.send(group, content)
            }
            Request::Delete { id } => {
                let (group, content) = self.core.own_change_content(&id, None)?;
                self.send(group, content)
            }
            Request::Recommend { id, undo } => {
                let (group, content) = self.core.recommend_content(&id, !undo)?;
                self.send(group, content)
            }
            Request::Ranked {
                group,
                order,
                window_secs,
                limit,
                explain,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                let window = window_secs.map(Duration::from_secs);
                let items = self
                    .core
                    .feed_ranked(&group, order, window, limit, explain, now)?;
                Ok(json!(self.core.interleave_ads(&group, items, now)?))
            }
            Request::RoomCreate { group, name } => {
                let group = self.group_or_only(group.as_deref())?;
                let content = self.core.room_content(&group, &name)?;
                self.send(group, content)
            }
            Request::Rooms { group } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.rooms(&group)?))
            }
            Request::Say { group, room, text } => {
                let group = self.group_or_only(group.as_deref())?;
                let content = self.core.chat_content(&group, &room, text)?;
                self.send(group, content)
            }
            Request::ChatHistory { group, room, limit } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.chat_history(&group, &room, limit)?))
            }
            Request::ResolveRoom { group, room } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.resolve_room(&group, &room)?.to_string()))
            }
            Request::Profiles { member } => Ok(json!(self.core.profiles(member.as_deref())?)),
            Request::AdminBan {
                group,
                member,
                undo,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                let content = self.core.ban_content(&group, &member, !undo)?;
                self.send(group, content)
            }
            Request::AdminRemove { id } => {
                let (group, content) = self.core.remove_content(&id)?;
                self.send(group, content)
            }
            Request::AdminList { group } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.moderation(&group)?))
            }
            Request::Mute {
                group,
                member,
                undo,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                self.core.mute(&group, &member, !undo)?;
                Ok(json!(null))
            }
            Request::GrantAdvertiser {
                group,
                key,
                name,
                not_before,
                not_after,
                daily_quota,
                targeting,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                let content = self.core.grant_content(
                    &group,
                    &key,
                    &name,
                    not_before.unwrap_or(now),
                    not_after,
                    daily_quota,
                    targeting,
                )?;
                self.send(group, content)
            }
            Request::RevokeAdvertiser {
                group,
                grant_or_key,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                let mut ids = Vec::new();
                for content in self.core.revoke_contents(&group, &grant_or_key)? {
                    ids.push(self.send(group, content)?);
                }
                Ok(json!(ids))
            }
            Request::Grants { group } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.grants(&group)?))
            }
            Request::AdvertiserProfile { group, profile } => {
                let group = self.group_or_only(group.as_deref())?;
                let advertiser = self.advertiser_key()?;
                let content = self.core.advertiser_content(&group, &advertiser, profile)?;
                self.send_as(group, &advertiser, content)
            }
            Request::AdPublish {
                group,
                title,
                body,
                targeting,
                offer,
            } => {
                let group = self.group_or_only(group.as_deref())?;
                let advertiser = self.advertiser_key()?;
                let everyone = crate::message::Targeting {
                    all: Some(vec![]),
                    ..Default::default()
                };
                let draft = crate::message::Ad {
                    grant: crate::message::MessageId([0; 32]),
                    title,
                    body,
                    targeting: targeting.unwrap_or(everyone),
                    offer,
                };
                let content = self.core.ad_content(&group, &advertiser, draft, now)?;
                self.send_as(group, &advertiser, content)
            }
            Request::Ads { group } => {
                let group = self.group_or_only(group.as_deref())?;
                Ok(json!(self.core.matched_ads(&group, now)?))
            }
            Request::AdShow { id } => Ok(json!(self.core.ad_show(&id, now)?)),
            Request::Interests { add, remove } => {
                for key in &add {
                    let bad = key.trim().is_empty()
                        || key.contains(char::is_whitespace)
                        || key.len() > crate::message::MAX_TARGETING_KEY_BYTES;
                    if bad {
                        return Err(NodeError::InvalidInput(format!("interest {key:?} must be a short key without spaces, e.g. interest:coffee")));
                    }
                }
                for key in &add {
                    self.core.store().set_interest(key, true)?;
                }
                for key in &remove {
                    self.core.store().set_interest(key, false)?;
                }
                Ok(json!(self.core.store().interests()?))
            }
            other => Err(NodeError::Control(format!(
                "{other:?} is not a social-API request"
            ))),
        }
    }

    async fn block(&mut self, peer: &str, duration: Option<Duration>) -> Result<(), NodeError> {
        let peer: PeerId = peer
            .trim()
            .parse()
            .map_err(|e| NodeError::InvalidInput(format!("{peer:?} is not a peer id: {e}")))?;
        match duration {
            Some(d) => self.gossip.ban(peer, d).await?,
            None => self.gossip.unban(peer).await?,
        }
        Ok(())
    }

    async fn create_group(&mut self, name: &str, policy: Policy) -> Result<GroupId, NodeError> {
        let id = self.core.create_group_with(name, policy, now_ms())?;
        self.core.store().flush().await?;
        self.enter_group(&id).await?;
        Ok(id)
    }

    async fn join(&mut self, invite: &str) -> Result<GroupId, NodeError> {
        let invite = Invite::decode(invite, now_ms() / 1000)?;
        let id = self.core.join(&invite, now_ms())?;
        self.core.store().flush().await?;
        self.enter_group(&id).await?;
        Ok(id)
    }

    async fn invite(
        &mut self,
        group: &str,
        ttl: Duration,
        chosen: &[Multiaddr],
    ) -> Result<String, NodeError> {
        if ttl.is_zero() || ttl > MAX_INVITE_TTL {
            return Err(NodeError::InvalidInput(format!(
                "invite lifetime must be between 1 second and {} days",
                MAX_INVITE_TTL.as_secs() / 86_400
            )));
        }
        let id = self.core.resolve_group(group)?;
        let addrs = crate::invite_addrs::invite_addrs(
            self.gossip.local_peer_id(),
            chosen,
            &self.advertise,
            &self.listen,
            &self.gossip.listen_addrs().await?,
        )?;
        self.core
            .invite(&id, addrs, now_ms() / 1000 + ttl.as_secs())
    }

    /// Publishes an own message, already stored: queues what is left (make it durable, tell
    /// watchers, offer it to the group) in [`Actor::publishing`], for the command's reply to
    /// wait on off the actor (see [`Actor::answer`]). With no peer reachable the message
    /// stays in the outbox and is offered again later: it is never dropped.
    fn publish_later(
        &mut self,
        composed: Result<(crate::message::SignedMessage, Vec<u8>), NodeError>,
    ) -> Result<MessageId, NodeError> {
        let (signed, envelope) = composed?;
        let id = signed.message.id;
        let topic = self
            .core
            .group(&signed.message.group)
            .map(|g| g.topic.clone())
            .ok_or_else(|| NodeError::UnknownGroup(signed.message.group.to_string()))?;
        self.publishing.push(Publication {
            signed,
            envelope,
            topic,
        });
        Ok(id)
    }

    /// Every group's gossip health, as `cove status` shows it.
    async fn group_health(&self) -> Result<Vec<(GroupId, GroupHealth)>, NodeError> {
        let mut all = Vec::new();
        for group in self.core.groups() {
            let topic = self.gossip.topic_health(&group.topic).await?;
            all.push((
                group.id,
                GroupHealth::new(&group.id, &group.charter.name, topic),
            ));
        }
        Ok(all)
    }

    /// Logs a gossip problem of a group once when it appears and once when it clears, so
    /// that a group does not fall silent unnoticed (see [`crate::health`]).
    async fn check_health(&mut self) {
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

    /// Looks at the own messages no proven member has confirmed (PROTOCOL.md §13.9): offers
    /// each by gossip unless a peer took it less than [`OUTBOX_REOFFER_INTERVAL`] ago, and
    /// starts a confirmation round for each group that has any.
    async fn republish_outbox(&mut self) {
        let pending = match self.core.store().outbox() {
            Ok(pending) => pending,
            Err(e) => {
                warn!(error = %e, "cannot read outbox");
                return;
            }
        };
        let ids: HashSet<MessageId> = pending.iter().map(|(id, _)| *id).collect();
        self.gossiped.retain(|id, _| ids.contains(id));
        // Per group, the creation time of its oldest unconfirmed message.
        let mut oldest: HashMap<GroupId, u64> = HashMap::new();
        for (id, group) in pending {
            let created_at = match self.core.store().message(&id) {
                Ok(Some(stored)) => stored.signed.message.created_at,
                Ok(None) => {
                    // Pruned by retention: nothing left to deliver.
                    let _ = self.core.store().outbox_remove(&id);
                    continue;
                }
                Err(e) => {
                    warn!(msg = %id.short(), error = %e, "cannot read an outbox message");
                    continue;
                }
            };
            let oldest = oldest.entry(group).or_insert(created_at);
            *oldest = (*oldest).min(created_at);
            let taken_lately = self
                .gossiped
                .get(&id)
                .is_some_and(|at| at.elapsed() < OUTBOX_REOFFER_INTERVAL);
            if taken_lately {
                continue;
            }
            match self.core.reseal(&id) {
                Ok(Some((topic, envelope))) => {
                    if offer(&self.gossip, &id, &topic, envelope).await {
                        self.gossiped.insert(id, Instant::now());
                    }
                }
                Ok(None) => {
                    // Its group is gone: nothing left to deliver.
                    let _ = self.core.store().outbox_remove(&id);
                }
                Err(e) => warn!(msg = %id.short(), error = %e, "cannot reseal"),
            }
        }
        for (group, since) in oldest {
            self.confirm_delivery(group, since).await;
        }
    }

    /// A confirmation round for `group`'s own messages created at or after `since`: with one
    /// member, reconciliation only (PROTOCOL.md §13.6).
    async fn confirm_delivery(&mut self, group: GroupId, since: u64) {
        let Some(topic) = self.core.group(&group).map(|g| g.topic.clone()) else {
            return;
        };
        let members = self.members_online(&topic).await;
        let Some(peer) = self.pick_member(group, &members) else {
            return;
        };
        if let Some(mut session) = self.session(group, peer, None) {
            session.since = session.since.max(since);
            session.fetch = false;
            self.start_session(session);
        }
    }

    /// Runs one step of ingesting `source`'s message. A bug in validation must cost one
    /// message, not the node: a panic while handling a peer's bytes is counted and the
    /// message ignored.
    fn guarded<T>(
        &mut self,
        source: &PeerId,
        step: impl FnOnce(&mut Core) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        let core = &mut self.core;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(core))).unwrap_or_else(|_| {
            warn!(peer = %source, "validation panicked; message ignored");
            self.core.count(Rejection::Internal.reason());
            Err(Rejection::Internal)
        })
    }

    async fn handle_gossip_event(&mut self, event: Event) {
        match event {
            Event::Message {
                id,
                source,
                topic,
                data,
            } => {
                let now = now_ms();
                let result = self.guarded(&source, |core| core.admit(&topic, &data, now));
                let verdict = decide::Verdict::of(&result);
                if let Err(rejection) = &result {
                    if verdict == decide::Verdict::Reject {
                        info!(peer = %source, reason = rejection.reason(), detail = %rejection, "rejected");
                    } else {
                        debug!(peer = %source, reason = rejection.reason(), "ignored");
                    }
                }
                // The verdict goes out before the message is stored: forwarding waits for
                // validation, not for the disk. If the store then fails (or the node dies
                // first), this node lacks a message its peers have, and sync brings it back.
                if let Err(e) = self
                    .gossip
                    .report(id, source, gossip_verdict(verdict))
                    .await
                {
                    warn!(error = %e, "could not report validation result");
                }
                if let Ok(signed) = result {
                    if self
                        .guarded(&source, |core| core.commit(&signed, now))
                        .is_ok()
                    {
                        debug!(peer = %source, msg = %signed.message.id.short(), kind = signed.message.content.kind(), "accepted");
                        let _ = self.accepted.send(signed);
                    }
                }
            }
            Event::PeerSubscribed { peer, topic } => {
                debug!(%peer, %topic, "peer subscribed");
                // A new member on a topic (or a non-member that knows the topic string: the
                // session's first step tells): catch up, and hand it what is still waiting.
                if let Some(group) = self.core.group_by_topic(&topic).map(|g| g.id) {
                    if let Some(session) = self.session(group, peer, None) {
                        self.start_session(session);
                    }
                }
                self.republish_outbox().await;
            }
            Event::Request { id, peer, data } => self.handle_sync_request(id, peer, data).await,
            Event::ProtocolViolation { peer, reason } => {
                info!(%peer, %reason, "sync protocol violation");
                self.penalise(peer, "sync_oversized").await;
            }
            Event::Throttled { peer, topic } => {
                debug!(%peer, %topic, "peer over its message budget");
                self.core.count("peer_rate_limited");
            }
            Event::PeerConnected(peer) => debug!(%peer, "connected"),
            Event::PeerDisconnected(peer) => {
                debug!(%peer, "disconnected");
                // A challenge is bound to its connection.
                self.challenges.forget(&peer);
            }
            Event::ListenAddr(addr) => info!(%addr, "listening"),
        }
    }

    /// Validates and stores a page fetched by sync, exactly as gossip messages are.
    fn ingest_batch(&mut self, batch: IngestBatch) {
        let mut counts = (0, 0, 0);
        let now = now_ms();
        // A page may hold an ad before its grant: those are tried again after the rest.
        let mut retry = Vec::new();
        for bytes in &batch.messages {
            if let Err(crate::core::Rejection::NoGrant) =
                self.ingest_one(&batch.group, bytes, now, &mut counts)
            {
                retry.push(bytes);
            }
        }
        for bytes in retry {
            counts.1 -= 1;
            let _ = self.ingest_one(&batch.group, bytes, now, &mut counts);
        }
        let _ = batch.reply.send(counts);
    }

    /// Validates one synced message; counts it as (accepted, refused, invalid).
    fn ingest_one(
        &mut self,
        group: &GroupId,
        bytes: &[u8],
        now: u64,
        counts: &mut (usize, usize, usize),
    ) -> Result<(), crate::core::Rejection> {
        match self.core.ingest_signed(group, bytes, now) {
            Ok(signed) => {
                counts.0 += 1;
                let _ = self.accepted.send(signed);
                Ok(())
            }
            Err(r) => {
                if r.is_penalised() {
                    counts.2 += 1;
                } else {
                    counts.1 += 1;
                }
                Err(r)
            }
        }
    }

    async fn handle_internal(&mut self, internal: Internal) {
        match internal {
            Internal::SessionDone { group, peer, error } => {
                self.syncing.remove(&(group, peer));
                if let Some(error) = error {
                    if matches!(error, SyncError::Unproven(_)) {
                        self.unproven.mark(group, peer, now_ms());
                    }
                    self.session_failed(peer, &error).await;
                }
            }
            Internal::Violation { peer, reason } => self.penalise(peer, reason).await,
            Internal::Delivered { ids } => {
                for id in ids {
                    if let Err(e) = self.core.store().outbox_remove(&id) {
                        warn!(msg = %id.short(), error = %e, "could not clear outbox entry");
                    }
                }
            }
            Internal::Gossiped { ids } => {
                let now = Instant::now();
                self.gossiped.extend(ids.into_iter().map(|id| (id, now)));
            }
        }
    }

    async fn session_failed(&mut self, peer: PeerId, error: &SyncError) {
        debug!(%peer, %error, "sync session ended early");
        if error.is_violation() {
            self.penalise(peer, error.reason()).await;
        } else {
            self.core.count(error.reason());
        }
    }

    /// Counts a protocol violation and cuts the peer off for [`sync::BAN_DURATION`].
    async fn penalise(&mut self, peer: PeerId, reason: &'static str) {
        self.core.count(reason);
        info!(%peer, reason, "peer cut off");
        if let Err(e) = self.gossip.ban(peer, sync::BAN_DURATION).await {
            warn!(%peer, error = %e, "could not ban peer");
        }
    }

    fn session(
        &self,
        group: GroupId,
        peer: PeerId,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Option<Session> {
        let g = self.core.group(&group)?;
        Some(Session {
            gossip: self.gossip.clone(),
            peer,
            group,
            topic: g.topic.clone(),
            sync_key: g.secret.sync_key(),
            since: self.core.retention_cutoff(now_ms()),
            fetch: true,
            store: self.core.store().reader(),
            ingest: self.ingest_tx.clone(),
            progress,
        })
    }

    /// Starts an automatic session unless one runs for this pair, too many run, or the peer
    /// failed to prove membership of the group lately (an unproven responder must not get a
    /// slot again and again).
    fn start_session(&mut self, session: Session) {
        let (group, peer) = (session.group, session.peer);
        if self.unproven.contains(&group, &peer, now_ms())
            || self.syncing.len() >= MAX_CONCURRENT_SYNCS
            || !self.syncing.insert((group, peer))
        {
            return;
        }
        let done = self.internal_tx.clone();
        self.tasks.spawn(async move {
            let (mut report, error) = session.run().await;
            if report.accepted > 0 {
                info!(peer = %peer, group = %group.short(), fetched = report.accepted, rounds = report.rounds, "synced");
            }
            let ids = std::mem::take(&mut report.delivered_ids);
            let _ = done.send(Internal::Delivered { ids }).await;
            let _ = done
                .send(Internal::SessionDone { group, peer, error })
                .await;
        });
    }

    /// Saves member peers' announced addresses as future bootstrap addresses of the group.
    /// Runs on the anti-entropy timer, long after identify told us their listen addresses.
    fn remember_peers(&mut self, group: GroupId, members: &[cove_gossip::PeerInfo]) {
        for info in members {
            let peer = info.peer;
            let addrs: Vec<String> = info
                .addrs
                .iter()
                .map(|a| {
                    let text = a.to_string();
                    if text.contains("/p2p/") {
                        text
                    } else {
                        format!("{text}/p2p/{peer}")
                    }
                })
                .collect();
            if let Err(e) = self.core.remember_peer_addrs(&group, &addrs) {
                warn!(%peer, error = %e, "could not remember peer addresses");
            }
        }
    }

    /// Connected peers that subscribe to `topic`.
    async fn members_online(&self, topic: &str) -> Vec<cove_gossip::PeerInfo> {
        match self.gossip.peers().await {
            Ok(peers) => peers
                .into_iter()
                .filter(|p| p.topics.iter().any(|t| t == topic))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A random one of `members` that an automatic session of `group` may start with now:
    /// none runs with it, and it has not failed to prove membership lately.
    fn pick_member(&self, group: GroupId, members: &[cove_gossip::PeerInfo]) -> Option<PeerId> {
        let now = now_ms();
        let eligible: Vec<PeerId> = members
            .iter()
            .map(|m| m.peer)
            .filter(|p| {
                !self.syncing.contains(&(group, *p)) && !self.unproven.contains(&group, p, now)
            })
            .collect();
        (!eligible.is_empty()).then(|| eligible[rand::random_range(0..eligible.len())])
    }

    async fn anti_entropy(&mut self) {
        let groups: Vec<(GroupId, String)> = self
            .core
            .groups()
            .map(|g| (g.id, g.topic.clone()))
            .collect();
        for (group, topic) in groups {
            let members = self.members_online(&topic).await;
            if members.is_empty() {
                continue;
            }
            if let Some(session) = self
                .pick_member(group, &members)
                .and_then(|peer| self.session(group, peer, None))
            {
                self.start_session(session);
            }
            self.remember_peers(group, &members);
        }
        match self.core.prune(now_ms()) {
            Ok(0) => {}
            Ok(n) => info!(deleted = n, "pruned messages outside the retention window"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
    }

    async fn sync_on_demand(
        &mut self,
        group: Option<String>,
        progress: Option<mpsc::Sender<Progress>>,
        reply: Reply<Vec<Report>>,
    ) {
        let groups: Vec<GroupId> = match group {
            Some(q) => match self.core.resolve_group(&q) {
                Ok(id) => vec![id],
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            },
            None => self.core.groups().map(|g| g.id).collect(),
        };
        let mut sessions = Vec::new();
        for group in groups {
            let topic = self
                .core
                .group(&group)
                .map(|g| g.topic.clone())
                .unwrap_or_default();
            for member in self.members_online(&topic).await {
                sessions.extend(self.session(group, member.peer, progress.clone()));
            }
        }
        let internal = self.internal_tx.clone();
        // Sessions run one after the other in their own task; the actor stays responsive.
        self.tasks.spawn(async move {
            let mut reports = Vec::new();
            for session in sessions {
                let peer = session.peer;
                let (mut report, error) = session.run().await;
                let ids = std::mem::take(&mut report.delivered_ids);
                let _ = internal.send(Internal::Delivered { ids }).await;
                if let Some(error) = error.filter(SyncError::is_violation) {
                    let _ = internal
                        .send(Internal::Violation {
                            peer,
                            reason: error.reason(),
                        })
                        .await;
                }
                reports.push(report);
            }
            let _ = reply.send(Ok(reports));
        });
    }

    /// Serves one inbound sync request. Decoding and authorisation happen here; reading the
    /// store for reconciliation or pages runs on a blocking thread.
    async fn handle_sync_request(&mut self, id: InboundRequestId, peer: PeerId, data: Vec<u8>) {
        // Before anything else: every request costs the responder work, so one peer gets a
        // bounded number of them (a member replaying reconcile rounds included).
        if !self.request_budgets.take(peer, now_ms()) {
            debug!(%peer, "sync request over the peer's budget");
            self.refuse(id, sync::ErrorCode::Busy, "sync_busy").await;
            return;
        }
        let request = match sync::Request::decode(&data) {
            Ok(request) => request,
            Err(e) => {
                debug!(%peer, error = %e, "malformed sync request");
                self.respond(
                    id,
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    },
                )
                .await;
                self.penalise(peer, "sync_malformed").await;
                return;
            }
        };
        let (topic, proof) = match &request {
            sync::Request::Hello { topic, nonce } => {
                let sync_key = self.core.group_by_topic(topic).map(|g| g.secret.sync_key());
                let local = self.gossip.local_peer_id();
                let answer = self
                    .challenges
                    .answer_hello(peer, &local, sync_key.as_ref(), nonce);
                self.respond(id, answer).await;
                return;
            }
            sync::Request::Reconcile { topic, proof, .. }
            | sync::Request::Fetch { topic, proof, .. } => (topic, proof),
        };
        let local = self.gossip.local_peer_id();
        let authorised = self
            .core
            .group_by_topic(topic)
            .filter(|g| {
                self.challenges
                    .verify(&peer, &local, &g.secret.sync_key(), proof)
            })
            .map(|g| g.id);
        let Some(group) = authorised else {
            // Same answer for an unknown topic and a bad proof: a non-member learns nothing.
            debug!(%peer, "unauthorised sync request");
            self.refuse(id, sync::ErrorCode::Unauthorized, "sync_unauthorized")
                .await;
            return;
        };
        let store = self.core.store().reader();
        let sessions = self.session_storages.clone();
        let cutoff = self.core.retention_cutoff(now_ms());
        let (gossip, internal) = (self.gossip.clone(), self.internal_tx.clone());
        self.tasks.spawn(async move {
            let served = tokio::task::spawn_blocking(move || match request {
                sync::Request::Reconcile { since, msg, .. } => {
                    sync::serve_reconcile(&store, &sessions, peer, &group, since.max(cutoff), &msg)
                        .map(|msg| sync::Response::Reconcile { msg })
                }
                sync::Request::Fetch { ids, .. } => sync::serve_fetch(&store, &group, &ids)
                    .map(|messages| sync::Response::Messages { messages }),
                sync::Request::Hello { .. } => unreachable!("answered above"),
            })
            .await;
            let response = match served {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "sync request could not be served");
                    if e.is_violation() {
                        let _ = internal
                            .send(Internal::Violation {
                                peer,
                                reason: "sync_malformed",
                            })
                            .await;
                    }
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    }
                }
                Err(panic) => {
                    // Reconciliation code must not take the node down on hostile input.
                    warn!(%peer, error = %panic, "serving sync panicked");
                    let _ = internal
                        .send(Internal::Violation {
                            peer,
                            reason: "sync_malformed",
                        })
                        .await;
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    }
                }
            };
            if let Err(e) = gossip.respond(id, response.encode()).await {
                debug!(%peer, error = %e, "could not send sync response");
            }
        });
    }

    /// Answers a sync request with an error `code` and counts `reason` (no penalty).
    async fn refuse(&mut self, id: InboundRequestId, code: sync::ErrorCode, reason: &'static str) {
        self.core.count(reason);
        self.respond(id, sync::Response::Error { code }).await;
    }

    async fn respond(&self, id: InboundRequestId, response: sync::Response) {
        if let Err(e) = self.gossip.respond(id, response.encode()).await {
            debug!(error = %e, "could not send sync response");
        }
    }

    async fn peers(&self) -> Result<Vec<PeerSummary>, NodeError> {
        let peers = self.gossip.peers().await?;
        Ok(peers
            .into_iter()
            .map(|p| PeerSummary {
                peer: p.peer.to_string(),
                addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                groups: self
                    .core
                    .groups()
                    .filter(|g| p.topics.contains(&g.topic))
                    .map(|g| g.charter.name.clone())
                    .collect(),
            })
            .collect())
    }

    async fn status(&self) -> Result<Status, NodeError> {
        let (accepted, rejected) = self.core.counters();
        Ok(Status {
            peer_id: self.gossip.local_peer_id().to_string(),
            listen_addrs: self
                .gossip
                .listen_addrs()
                .await?
                .iter()
                .map(|a| a.to_string())
                .collect(),
            groups: self.core.groups().count(),
            peers: self.gossip.peers().await?.len(),
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
        })
    }
}
