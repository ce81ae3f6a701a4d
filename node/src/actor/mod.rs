//! The actor: the one task that owns the node's [`Core`] (the store's writer and the group
//! keys) and the gossip handle. [`crate::Node`] sends it [`Command`]s; gossip sends it events.
//!
//! ```text
//!  Node ──Command + oneshot──▶ ┌───────── actor (run) ─────────┐ ◀──gossip::Event── swarm task
//!       (COMMAND_CAPACITY)     │ command.rs  what a user asked  │
//!                              │ ingest.rs   messages from peers│──publish/report──▶ gossip
//!  sync tasks ──IngestBatch──▶ │ sync.rs     sessions, serving  │
//!            ──Internal─────▶  │ outbox.rs   own messages       │
//!                              │ status.rs   peers, health      │
//!                              └────────────────────────────────┘
//! ```
//!
//! The loop is `select! { biased; commands, internal reports, synced pages, gossip events,
//! timers }`: local work is served before new remote work. Slow work (an fsync before a
//! command's reply, a sync session, serving a sync request) runs in spawned tasks that report
//! back through [`Internal`]. The actor stops when the last `Node` handle drops or on
//! [`crate::Node::shutdown`], flushing the store.

mod admission;
mod command;
mod ingest;
mod memory_writer;
mod nets;
mod outbox;
mod peers;
mod sessions;
mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cove_crypto::GroupId;
use cove_gossip::{Event, Gossip, Multiaddr, PeerId, Published, Verdict};
use futures::StreamExt;

use self::nets::Nets;
pub(crate) use self::nets::{device_key, group_keypair};
pub use self::nets::{NETWORK_EPOCH, NET_EVENT_CAPACITY};
pub use self::peers::{
    ENOUGH_MEMBERS, KNOCK_INTERVAL, RECORD_REFRESH, REDIAL_TICK, SHARE_INTERVAL,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

pub(crate) use self::command::{Admission, Command, Draft, Reply};
pub use self::ingest::OPENING_CAPACITY;
use self::peers::Listener;
use self::sessions::{SessionSlots, SyncMeter};
pub use self::status::{NetworkStatus, PeerSummary, Status, SyncActivity};
use crate::config::NodeConfig;
use crate::core::{decide, Core};
use crate::data_dir::DataDir;
use crate::error::NodeError;
use crate::health::Warnings;
use crate::message::{MessageId, SignedMessage};
use crate::now_ms;
use crate::store::Store;
use crate::sync::{self, Challenges, IngestBatch, SyncError};
use crate::view::ViewSlot;

/// Commands queued from handles to the actor.
pub const COMMAND_CAPACITY: usize = 64;
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
/// How long shutdown waits for spawned tasks before aborting them.
pub const TASK_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest validity of an invite.
pub const MAX_INVITE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Accepted messages buffered for live watchers (`cove chat`); a slower watcher misses the
/// oldest and is told how many.
pub const WATCH_CAPACITY: usize = 256;

/// The longest a staged message waits before the actor applies the staged messages as one
/// sled batch (`store::GROUP_COMMIT` applies a full batch at once). Staged messages are read
/// like applied ones; this bounds only how long they wait for sled, which itself makes
/// applied writes durable every 500 ms. At a group's usual pace (a message every 100 ms or
/// more) a shorter wait would apply one message per batch, and each batch costs ~120 µs.
const SETTLE_WITHIN: Duration = Duration::from_millis(500);
/// How long a group's network stays behind the old key after the current epoch changed
/// (§15): long enough for the `rekey` to spread among the members online, whose networks then
/// move too; a member who misses it asks a door.
pub const MOVE_DELAY: Duration = Duration::from_secs(10);
/// [`MOVE_DELAY`] with test timers.
pub const FAST_MOVE_DELAY: Duration = Duration::from_secs(1);

/// What a started actor gives the [`crate::Node`] handle.
pub(crate) struct Started {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) device: cove_crypto::DeviceKey,
    pub(crate) accepted: tokio::sync::broadcast::Sender<SignedMessage>,
    pub(crate) sync: tokio::sync::watch::Receiver<SyncActivity>,
    pub(crate) view: ViewSlot,
}

/// Opens the data dir and store, starts the network and the actor, subscribes every group
/// and dials their bootstrap peers ([`crate::Node::start`]).
pub(crate) async fn start(config: NodeConfig) -> Result<Started, NodeError> {
    let dir = DataDir::new(&config.data_dir);
    let seed = dir.load_seed_with(config.passphrase.as_ref())?;
    let keypair = dir.load_peer_key()?;
    let store = open_store(&dir)?;
    let mut core = Core::new(store, seed)?;
    core.set_retention(config.retention);

    let device = nets::device_key(keypair)?;
    // One private network per group (see `nets`), each with its own peer id: the node has no
    // network identity of its own.
    let (nets, (events, door_requests)) = Nets::new(device.clone(), config.clone());
    let span = tracing::info_span!("node", data = %short_dir(&config.data_dir));
    let view: ViewSlot = Arc::new(RwLock::new(Some(core.view().clone())));

    let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_CAPACITY);
    let (accepted, _) = tokio::sync::broadcast::channel(WATCH_CAPACITY);
    let (ingest_tx, ingest_rx) = mpsc::channel(INGEST_CAPACITY);
    let sync_meter = SyncMeter::new();
    let sync = sync_meter.subscribe();
    let actor = Actor {
        core,
        nets,
        events,
        door_requests,
        internal_tx,
        internal_rx,
        ingest_tx,
        ingest_rx,
        challenges: Challenges::default(),
        syncing: SessionSlots::default(),
        sync_meter,
        unproven: sync::UnprovenPeers::default(),
        gossiped: HashMap::new(),
        tasks: tokio::task::JoinSet::new(),
        opening: futures::stream::FuturesOrdered::new(),
        accepted: accepted.clone(),
        publishing: Vec::new(),
        data_dir: config.data_dir.clone(),
        warnings: Warnings::default(),
        request_budgets: sync::RequestBudgets::default(),
        session_storages: Default::default(),
        view: view.clone(),
        peers: peers::Peers::new(dir.clone()),
        moves: HashMap::new(),
        fast_timers: config.fast_timers,
    };
    let mut actor = actor;
    let ids: Vec<GroupId> = actor.core.groups().map(|g| g.id).collect();
    for id in ids {
        actor.enter_group(&id).instrument(span.clone()).await?;
    }
    let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
    tokio::spawn(
        actor
            .run(rx, config.republish_interval, config.sync_interval)
            .instrument(span),
    );
    info!("node started");
    Ok(Started {
        commands: tx,
        device,
        accepted,
        sync,
        view,
    })
}

/// The last characters of the data dir: enough to tell a test's nodes apart in logs (each
/// group's swarm logs its own `me=`, see `nets`).
fn short_dir(dir: &std::path::Path) -> String {
    let text = dir.display().to_string();
    let start = text.len().saturating_sub(8);
    text.get(start..).unwrap_or(&text).to_string()
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
    /// A peer broke the sync protocol in a task that served or ran a session (banned in the
    /// one group network its peer id belongs to).
    Violation { peer: PeerId, reason: &'static str },
    /// Own messages a command's task handed to a peer by gossip.
    Gossiped { ids: Vec<MessageId> },
    /// Own messages a session found a proven member to hold: they leave the outbox.
    Delivered { ids: Vec<MessageId> },
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
    /// One gossip swarm per group.
    nets: Nets,
    /// Every swarm's events, tagged with its group.
    events: mpsc::Receiver<(GroupId, Event)>,
    /// Requests at the groups' doors (admission, PROTOCOL.md §10.3).
    door_requests: mpsc::Receiver<nets::DoorRequest>,
    /// Cloned into spawned tasks (sync sessions, served requests); the actor holds both ends,
    /// so this channel never keeps the actor alive on its own.
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    /// Pages fetched by sync sessions, validated and stored by the actor (same ends rule).
    ingest_tx: mpsc::Sender<IngestBatch>,
    ingest_rx: mpsc::Receiver<IngestBatch>,
    challenges: Challenges,
    /// Automatic sessions running, one per (group, peer).
    syncing: SessionSlots,
    /// Every session this node runs as the requester, counted for live views.
    sync_meter: SyncMeter,
    /// Responders that failed to prove membership: automatic sessions leave them alone.
    unproven: sync::UnprovenPeers,
    /// When each outbox entry was last handed to a peer by gossip (see
    /// [`OUTBOX_REOFFER_INTERVAL`]); only entries still in the outbox are kept.
    gossiped: HashMap<MessageId, Instant>,
    /// Every task the actor spawns (sessions, served requests): awaited on shutdown.
    tasks: tokio::task::JoinSet<()>,
    /// Gossip messages being opened and verified off the actor, yielded in arrival order
    /// (at most [`OPENING_CAPACITY`]).
    opening: futures::stream::FuturesOrdered<ingest::Opening>,
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
    /// The read half every `Node` handle uses: emptied when the actor stops, so that no
    /// handle keeps the store open.
    view: ViewSlot,
    /// Each group's remembered port and members, redials and address records.
    peers: peers::Peers,
    /// Since when each group's network has run behind a key that is no longer its current
    /// epoch's (§15): it moves [`MOVE_DELAY`] later.
    moves: HashMap<GroupId, std::time::Instant>,
    /// Test timers (`NodeConfig::fast_timers`): a network moves after [`FAST_MOVE_DELAY`].
    fast_timers: bool,
}

/// An own message, stored but not yet flushed nor offered to its group.
struct Publication {
    signed: SignedMessage,
    envelope: Vec<u8>,
    topic: String,
    /// The group's swarm, `None` if it has none (offered later by the outbox).
    gossip: Option<Gossip>,
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
        let mut redial = tokio::time::interval(peers::REDIAL_TICK);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                // Messages already taken are decided before new events are taken.
                Some((arrival, opened)) = self.opening.next(), if !self.opening.is_empty() => {
                    self.decide_opened(arrival, opened).await
                }
                Some(request) = self.door_requests.recv() => self.handle_door_request(request).await,
                event = self.events.recv(), if self.opening.len() < OPENING_CAPACITY => match event {
                    Some((group, event)) => self.handle_gossip_event(group, event).await,
                    None => {
                        warn!("gossip layer stopped; node stops");
                        let _ = self.stop().await;
                        return;
                    }
                },
                _ = republish.tick() => {
                    self.republish_outbox().await;
                    let groups: Vec<GroupId> = self.core.groups().map(|g| g.id).collect();
                    for group in groups {
                        self.keep_membership(&group);
                    }
                    self.check_health().await;
                    self.refresh_peers().await;
                }
                _ = redial.tick() => {
                    self.move_networks().await;
                    self.redial_due().await;
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
        // From here on handles answer reads with `Stopped`, and hold no store handle.
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.nets.shutdown().await;
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
        self.peers.save_now();
        self.core.store().flush().await?;
        info!("node stopped");
        Ok(())
    }

    /// Starts a group's private network on its remembered port, subscribes its topics (the
    /// group's and its address topic) and dials its bootstrap peers and remembered members.
    async fn enter_group(&mut self, id: &GroupId) -> Result<(), NodeError> {
        let (secret, topic, network) = (self.core.group(id))
            .map(|g| (g.secret.clone(), g.topic.clone(), g.network_key()))
            .ok_or_else(|| NodeError::UnknownGroup(id.to_string()))?;
        let plan = self.port_plan(*id, Listener::Network);
        (self.nets)
            .open(*id, &network, &topic, plan, &mut self.tasks)
            .await?;
        self.port_bound(*id, Listener::Network, plan);
        let plan = self.port_plan(*id, Listener::Door);
        (self.nets)
            .open_door(*id, &secret, plan, &mut self.tasks)
            .await?;
        self.port_bound(*id, Listener::Door, plan);
        self.subscribe_topics(id).await?;
        self.dial_known(id).await;
        Ok(())
    }

    /// Dials `group`'s bootstrap peers (from its invite) and the members it remembers.
    async fn dial_known(&mut self, id: &GroupId) {
        let (Some(group), Some(net)) = (self.core.group(id), self.nets.get(id)) else {
            return;
        };
        for addr in &group.record.bootstrap {
            match addr.parse::<Multiaddr>() {
                Ok(addr) => {
                    if let Err(e) = net.gossip.dial(addr.clone()).await {
                        debug!(%addr, error = %e, "bootstrap dial failed");
                    }
                }
                Err(e) => warn!(%addr, error = %e, "bootstrap address is not a multiaddr"),
            }
        }
        self.dial_remembered(*id).await;
    }

    /// Subscribes `group`'s network to the group's topics: its own, its address topic and its
    /// door topic (§10.1).
    async fn subscribe_topics(&self, id: &GroupId) -> Result<(), NodeError> {
        let (Some(group), Some(net)) = (self.core.group(id), self.nets.get(id)) else {
            return Err(NodeError::UnknownGroup(id.to_string()));
        };
        let topic = &group.topic;
        let topics = [
            topic.clone(),
            crate::addr_record::addr_topic(topic),
            crate::addr_record::door_topic(topic),
        ];
        for topic in topics {
            (net.gossip)
                .subscribe(&topic, group.secret.discovery_key())
                .await?;
        }
        Ok(())
    }

    /// Moves every group's network whose current epoch changed at least [`MOVE_DELAY`] ago to
    /// that epoch's key (§15): the delay lets the re-key spread in the old network first.
    /// Then it subscribes again, dials the remembered members and says where it is.
    async fn move_networks(&mut self) {
        let changed: Vec<(GroupId, cove_crypto::NetworkKey)> = (self.core.groups())
            .filter_map(|g| {
                let key = g.network_key();
                let net = self.nets.get(&g.id)?;
                (net.psk != *key.as_bytes()).then_some((g.id, key))
            })
            .collect();
        self.moves
            .retain(|g, _| changed.iter().any(|(c, _)| c == g));
        let delay = if self.fast_timers {
            FAST_MOVE_DELAY
        } else {
            MOVE_DELAY
        };
        for (group, key) in changed {
            let since = *self
                .moves
                .entry(group)
                .or_insert_with(std::time::Instant::now);
            if since.elapsed() < delay {
                continue;
            }
            self.moves.remove(&group);
            if let Err(e) = self.nets.move_network(group, &key, &mut self.tasks).await {
                warn!(group = %group.short(), error = %e, "could not move the group's network");
                continue;
            }
            info!(group = %group.short(), "the group's network moved to the new key epoch");
            self.peers_moved(group);
            if let Err(e) = self.subscribe_topics(&group).await {
                warn!(group = %group.short(), error = %e, "could not subscribe after moving");
            }
            self.dial_known(&group).await;
        }
    }
}
