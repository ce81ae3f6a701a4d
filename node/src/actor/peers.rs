//! Finding the group again after restarts and moves (issue 19): each group's remembered
//! port and members ([`NetMemory`], in `DATA_DIR/nets/`), the redials of lost members, and
//! the group's address records (PROTOCOL.md §10.1).
//!
//! ```text
//!  start ──port_plan──▶ nets.open ──bound port──▶ NetMemory (saved) ──▶ dial every member
//!  PeerConnected / PeerDisconnected ──▶ who is connected; a lost member is redialed
//!  redial tick (1 s) ──▶ members due and not connected: dial, back off (1 s .. 5 min, jitter)
//!  refresh (republish tick) ──▶ identify's addresses of connected members ──▶ NetMemory
//!                        └──▶ own address record, when due ──▶ publish on the address topic
//!  address topic message ──▶ addr_record::judge ──▶ verdict to gossip; accepted ──▶ NetMemory
//!  a member subscribes to the address topic ──▶ share the records known (once per 30 s)
//! ```

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cove_crypto::GroupId;
use cove_gossip::{Event, Gossip, MessageId, Multiaddr, PeerId, Verdict};
use tracing::{debug, info, warn};

use super::memory_writer::MemoryWriter;
use super::Actor;
use crate::addr_book::{port_plan, redial_delay, Heard, NetMemory, PortPlan};
use crate::addr_record::{self, addr_topic, Context, Kind};
use crate::data_dir::DataDir;
use crate::now_ms;

/// How often the actor looks for lost members whose redial is due.
pub const REDIAL_TICK: Duration = Duration::from_secs(1);
/// No member is redialed while this many are connected in a group: gossip needs a mesh,
/// not a connection to everyone.
pub const ENOUGH_MEMBERS: usize = 8;
/// How often a node publishes its own address record when nothing changed.
pub const RECORD_REFRESH: Duration = Duration::from_secs(10 * 60);
/// A group's lost members' doors are asked for the re-keys this node missed (§15) this often.
pub const KNOCK_INTERVAL: Duration = Duration::from_secs(60);
/// How many lost members' doors one round of knocks asks (those asked longest ago).
pub(super) const KNOCKS_PER_ROUND: usize = 3;
/// How long a knock waits for the door's connection.
const KNOCK_PATIENCE: Duration = Duration::from_secs(10);

/// The records a node knows are shared with a newly subscribed member at most this often per
/// group (each is a few hundred bytes, at most `MAX_BOOK_PEERS` of them), and only records
/// older than this: a younger one has just been flooded to every member online, so only a
/// member who was away lacks it. (Sharing every record at every subscription made a group of
/// 20 starting at once push hundreds of stale copies through the mesh.)
pub const SHARE_INTERVAL: Duration = Duration::from_secs(60);

/// A lost member's next redial.
#[derive(Debug)]
struct Redial {
    attempt: u32,
    due: Instant,
    /// The member's key in its group's [`NetMemory`] (its peer id as text), kept so that the
    /// redial tick can tell an evicted member without encoding every peer id each second.
    member: String,
}

impl Redial {
    fn new(peer: &PeerId, attempt: u32, due: Instant) -> Self {
        Redial {
            attempt,
            due,
            member: peer.to_string(),
        }
    }
}

/// What the actor keeps for this module.
#[derive(Debug)]
pub(super) struct Peers {
    dir: DataDir,
    memories: HashMap<GroupId, NetMemory>,
    /// Groups whose memory changed since it was last written.
    dirty: HashSet<GroupId>,
    writer: MemoryWriter,
    connected: HashSet<(GroupId, PeerId)>,
    redials: HashMap<(GroupId, PeerId), Redial>,
    /// When each group's own record was last published / its known records last shared.
    published: HashMap<GroupId, Instant>,
    /// Groups where a member subscribed to the door topic since the own door record was
    /// last published.
    door_due: HashSet<GroupId>,
    /// When each lost member's door was last asked for missed re-keys.
    knocked: HashMap<(GroupId, PeerId), Instant>,
    /// When each group's last round of knocks went out.
    knock_round: HashMap<GroupId, Instant>,
    shared: HashMap<GroupId, Instant>,
}

impl Peers {
    pub(super) fn new(dir: DataDir) -> Self {
        Self {
            dir,
            memories: HashMap::new(),
            dirty: HashSet::new(),
            writer: MemoryWriter::default(),
            connected: HashSet::new(),
            redials: HashMap::new(),
            published: HashMap::new(),
            knocked: HashMap::new(),
            knock_round: HashMap::new(),
            door_due: HashSet::new(),
            shared: HashMap::new(),
        }
    }

    /// Loads `group`'s memory unless loaded; a damaged file is reported and replaced.
    pub(super) fn load(&mut self, group: GroupId) {
        if self.memories.contains_key(&group) {
            return;
        }
        let memory = NetMemory::load(&self.dir.net_memory_path(&group)).unwrap_or_else(|e| {
            warn!(group = %group.short(), error = %e, "network memory unreadable; starting afresh (a new port, no remembered members)");
            NetMemory::new()
        });
        self.memories.insert(group, memory);
    }

    /// When this node was last connected to a member of `group`.
    pub(super) fn last_contact(&self, group: &GroupId) -> Option<u64> {
        self.memories.get(group).and_then(NetMemory::last_contact)
    }

    /// Remembered members of `group`.
    pub(super) fn remembered(&self, group: &GroupId) -> usize {
        // A peer known only by its door (a door record, an invite) is no address to dial.
        (self.memories.get(group)).map_or(0, |m| m.addrs().filter(|(_, a)| !a.is_empty()).count())
    }

    /// Writes every changed memory, off the runtime's threads ([`MemoryWriter`]).
    pub(super) fn save(&mut self) {
        for (path, bytes) in self.changed() {
            self.writer.write_soon(path, bytes);
        }
    }

    /// Writes every changed memory before returning (at stop: the next start reads them).
    pub(super) fn save_now(&mut self) {
        for (path, bytes) in self.changed() {
            self.writer.write_now(path, bytes);
        }
    }

    /// The encoded memories changed since they were last written, each with its file.
    fn changed(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut changed = Vec::new();
        for group in std::mem::take(&mut self.dirty) {
            if let Some(memory) = self.memories.get(&group) {
                match memory.encode() {
                    Ok(bytes) => changed.push((self.dir.net_memory_path(&group), bytes)),
                    Err(e) => {
                        warn!(group = %group.short(), error = %e, "could not save the network memory")
                    }
                }
            }
        }
        changed
    }
}

/// One of a group's two swarms that listen: its network (PROTOCOL.md §10) or its door (§10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Listener {
    Network,
    Door,
}

impl Listener {
    /// What it is called in the log.
    fn name(self) -> &'static str {
        match self {
            Listener::Network => "network",
            Listener::Door => "door",
        }
    }

    /// The port `memory` remembers for it.
    fn remembered(self, memory: &NetMemory) -> Option<u16> {
        match self {
            Listener::Network => memory.port,
            Listener::Door => memory.door_port,
        }
    }

    /// Remembers `port` for it in `memory`.
    fn remember(self, memory: &mut NetMemory, port: u16) {
        match self {
            Listener::Network => memory.port = Some(port),
            Listener::Door => memory.door_port = Some(port),
        }
    }
}

/// `addr` ending in `/p2p/peer`.
fn dialable(addr: &str, peer: &PeerId) -> Option<Multiaddr> {
    let addr: Multiaddr = addr.parse().ok()?;
    addr.with_p2p(*peer).ok()
}

impl Actor {
    /// The port `group`'s network or door (`listener`) listens on at this start (see
    /// `addr_book::port_plan`): its remembered one, else chosen next to every port this node's
    /// networks and doors hold or remember.
    pub(super) fn port_plan(&mut self, group: GroupId, listener: Listener) -> PortPlan {
        let ids: Vec<GroupId> = self.core.groups().map(|g| g.id).collect();
        for id in ids {
            self.peers.load(id);
        }
        self.peers.load(group);
        let mut taken = self.nets.ports();
        for (id, memory) in &self.peers.memories {
            for other in [Listener::Network, Listener::Door] {
                if (*id, other) != (group, listener) {
                    taken.extend(other.remembered(memory));
                }
            }
        }
        let memory = &self.peers.memories[&group];
        port_plan(
            self.requested_port(),
            listener.remembered(memory),
            memory.requested_port,
            &taken,
        )
    }

    /// Remembers, and writes at once, the port `group`'s network or door (`listener`) bound,
    /// when `plan` chose a new one.
    pub(super) fn port_bound(&mut self, group: GroupId, listener: Listener, plan: PortPlan) {
        let requested = self.requested_port();
        let swarm = match listener {
            Listener::Network => self.nets.get(&group),
            Listener::Door => self.nets.door(&group),
        };
        let (Some(swarm), Some(memory)) = (swarm, self.peers.memories.get_mut(&group)) else {
            return;
        };
        match (plan, swarm.port) {
            (PortPlan::Reuse(_), _) | (_, None) => {}
            (_, Some(port)) if swarm.planned => {
                let what = listener.name();
                info!(group = %group.short(), port, "this group's {what} keeps port {port} from now on");
                listener.remember(memory, port);
                memory.requested_port = Some(requested);
                self.peers.dirty.insert(group);
            }
            _ => {}
        }
        self.peers.save();
    }

    fn requested_port(&self) -> u16 {
        self.nets.requested_port()
    }

    /// Redials `peer` (and knocks at its door) at the next redial tick, whatever its backoff.
    pub(super) fn redial_now(&mut self, peer: PeerId) {
        for ((_, p), redial) in self.peers.redials.iter_mut() {
            if *p == peer {
                redial.attempt = 0;
                redial.due = Instant::now();
            }
        }
        self.peers.knocked.retain(|(_, p), _| *p != peer);
        // Its door comes first in the next round, and that round is now.
        self.peers.knock_round.clear();
    }

    /// Remembers the doors `ticket` listed (it was just admitted with it).
    pub(super) fn remember_ticket_doors(&mut self, ticket: &cove_crypto::TicketInvite) {
        self.peers.load(ticket.group);
        if let Some(memory) = self.peers.memories.get_mut(&ticket.group) {
            memory.ticket_doors(&ticket.addrs);
            self.peers.dirty.insert(ticket.group);
        }
    }

    /// `group`'s network moved to a new key (§15): nobody is connected in it any more, every
    /// remembered member is to be dialed again, and the own records are due.
    pub(super) fn peers_moved(&mut self, group: GroupId) {
        self.peers.connected.retain(|(g, _)| *g != group);
        self.peers.redials.retain(|(g, _), _| *g != group);
        self.peers.published.remove(&group);
    }

    /// Dials every remembered member of `group` once (the redial tick takes over).
    pub(super) async fn dial_remembered(&mut self, group: GroupId) {
        let Some(net) = self.nets.get(&group) else {
            return;
        };
        let Some(memory) = self.peers.memories.get(&group) else {
            return;
        };
        let mut dialed = 0;
        for (peer, addrs) in memory.addrs() {
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            dial_all(&net.gossip, &peer, addrs).await;
            self.peers.redials.insert(
                (group, peer),
                Redial::new(&peer, 1, Instant::now() + redial_delay(0, jitter())),
            );
            dialed += 1;
        }
        if dialed > 0 {
            info!(group = %group.short(), members = dialed, "dialing remembered members");
        }
    }

    /// Looks at an event of `group`'s network before the rest of the actor does; returns it
    /// unless it was an address record (which is handled here).
    pub(super) async fn peers_event(&mut self, group: GroupId, event: Event) -> Option<Event> {
        let topic_of = |kind: Kind| self.core.group(&group).map(|g| kind.topic(&g.topic));
        let (addr_topic, door_topic) = (topic_of(Kind::Address), topic_of(Kind::Door));
        match event {
            Event::Message {
                id,
                source,
                topic,
                data,
            } if Some(&topic) == addr_topic.as_ref() || Some(&topic) == door_topic.as_ref() => {
                let kind = match Some(&topic) == door_topic.as_ref() {
                    true => Kind::Door,
                    false => Kind::Address,
                };
                self.handle_addr_record(group, kind, id, source, &data)
                    .await;
                return None;
            }
            Event::PeerConnected(peer) => {
                self.peers.connected.insert((group, peer));
                self.peers.redials.remove(&(group, peer));
            }
            Event::PeerDisconnected(peer) => {
                self.peers.connected.remove(&(group, peer));
                let remembered = (self.peers.memories.get(&group))
                    .is_some_and(|m| m.peers.contains_key(&peer.to_string()));
                if remembered {
                    self.peers.redials.insert(
                        (group, peer),
                        Redial::new(&peer, 0, Instant::now() + redial_delay(0, jitter())),
                    );
                }
            }
            Event::PeerSubscribed { ref topic, .. } if Some(topic) == addr_topic.as_ref() => {
                self.share_records(group).await;
            }
            Event::PeerSubscribed { ref topic, .. } if Some(topic) == door_topic.as_ref() => {
                // A member who just joined the door topic learns where this node's door is:
                // what it needs to catch up if this node's network moves while it is away.
                // At the next redial tick, so that members arriving together get one record.
                self.peers.door_due.insert(group);
            }
            Event::ListenAddr(_) => {
                // A new interface or address: say where we are now, and try every lost
                // member again at once.
                self.peers.published.remove(&group);
                for ((g, _), redial) in self.peers.redials.iter_mut() {
                    if *g == group {
                        redial.attempt = 0;
                        redial.due = Instant::now();
                    }
                }
            }
            _ => {}
        }
        Some(event)
    }

    /// Judges an envelope on `group`'s address or door topic (`kind`), reports the verdict and
    /// remembers an accepted record.
    async fn handle_addr_record(
        &mut self,
        group: GroupId,
        kind: Kind,
        id: MessageId,
        source: PeerId,
        data: &[u8],
    ) {
        let Some(g) = self.core.group(&group) else {
            return;
        };
        // Opened in the epoch its envelope names (PROTOCOL.md §10.1, §15); an epoch this
        // node does not hold (yet) is no one's fault.
        let epoch = cove_crypto::envelope_epoch(data)
            .ok()
            .and_then(|tag| g.epochs.get(tag));
        let Some(epoch) = epoch else {
            self.core.count("addr_unknown_epoch");
            if let Ok(gossip) = self.nets.gossip(&group) {
                let _ = gossip.report(id, source, Verdict::Ignore).await;
            }
            return;
        };
        let key = epoch.content.clone();
        let cx = Context {
            group,
            topic: &g.topic,
            key: &key,
            me: self.nets.peer_id_in(&group),
            now_ms: now_ms(),
            kind,
        };
        let memory = self.peers.memories.get(&group);
        let result = addr_record::judge(data, &cx, |peer| {
            let peer = peer.to_string();
            memory.and_then(|m| match kind {
                Kind::Address => m.record_at(&peer),
                Kind::Door => m.door_record_at(&peer),
            })
        });
        let verdict = match &result {
            Ok(_) => Verdict::Accept,
            Err(r) if r.is_penalised() => Verdict::Reject,
            Err(_) => Verdict::Ignore,
        };
        if let Ok(gossip) = self.nets.gossip(&group) {
            if let Err(e) = gossip.report(id, source, verdict).await {
                warn!(error = %e, "could not report an address record's verdict");
            }
        }
        match result {
            Ok(signed) if kind == Kind::Door => {
                let record = &signed.record;
                let addrs: Vec<String> = record.addrs.iter().map(|a| a.to_string()).collect();
                let memory = self.peers.memories.entry(group).or_default();
                if memory.heard_door(&record.peer.to_string(), record.at_ms, &addrs)
                    == Heard::Stored
                {
                    debug!(peer = %record.peer, addrs = ?addrs, "door record accepted");
                    self.peers.dirty.insert(group);
                }
            }
            Ok(signed) => {
                let record = &signed.record;
                let addrs: Vec<String> = record.addrs.iter().map(|a| a.to_string()).collect();
                let memory = self.peers.memories.entry(group).or_default();
                if memory.heard(
                    &record.peer.to_string(),
                    record.at_ms,
                    &addrs,
                    &signed.bytes,
                ) == Heard::Stored
                {
                    debug!(peer = %record.peer, addrs = ?addrs, "address record accepted");
                    self.peers.dirty.insert(group);
                    // Try the new addresses soon, if that member is not connected.
                    self.peers.redials.insert(
                        (group, record.peer),
                        Redial::new(&record.peer, 0, Instant::now()),
                    );
                }
            }
            Err(refusal) => {
                if refusal.is_penalised() {
                    info!(peer = %source, reason = refusal.reason(), detail = %refusal, "address record rejected");
                } else {
                    debug!(peer = %source, reason = refusal.reason(), "address record ignored");
                }
                self.core.count(refusal.reason());
            }
        }
    }

    /// Redials the lost members whose time has come, in groups with fewer than
    /// [`ENOUGH_MEMBERS`] connected.
    pub(super) async fn redial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<GroupId> = self.peers.door_due.iter().copied().collect();
        for group in due {
            self.publish_records(group, &[Kind::Door]).await;
        }
        let groups: Vec<GroupId> = self.peers.memories.keys().copied().collect();
        for group in groups {
            let connected = (self.peers.connected.iter())
                .filter(|(g, _)| *g == group)
                .count();
            let (Some(net), Some(memory)) =
                (self.nets.get(&group), self.peers.memories.get(&group))
            else {
                continue;
            };
            if connected >= ENOUGH_MEMBERS {
                continue;
            }
            for (peer, addrs) in memory.addrs() {
                let Ok(peer) = peer.parse::<PeerId>() else {
                    continue;
                };
                if self.peers.connected.contains(&(group, peer)) {
                    continue;
                }
                let redial = (self.peers.redials.entry((group, peer)))
                    .or_insert_with(|| Redial::new(&peer, 0, now));
                if redial.due > now {
                    continue;
                }
                debug!(%peer, attempt = redial.attempt, "redialing a lost member");
                redial.due = now + redial_delay(redial.attempt, jitter());
                redial.attempt = redial.attempt.saturating_add(1);
                dial_all(&net.gossip, &peer, addrs).await;
            }
        }
        self.knock_due(now);
        // Forget the redials of members no longer remembered (evicted from a full book).
        let memories = &self.peers.memories;
        self.peers.redials.retain(|(g, _), redial| {
            memories
                .get(g)
                .is_some_and(|m| m.peers.contains_key(&redial.member))
        });
    }

    /// Knocks, in every group, at the doors of the [`KNOCKS_PER_ROUND`] lost members asked
    /// longest ago, once per knock interval. Not tied to a member's redial backoff, nor to
    /// how many members are connected: after a partition each side may be well connected in
    /// a network of its own epoch, and only a knock lets the two sides learn each other's
    /// re-keys and meet in one network again.
    fn knock_due(&mut self, now: Instant) {
        let interval = self.knock_interval();
        let mut knocks = Vec::new();
        for (group, memory) in &self.peers.memories {
            if self
                .peers
                .knock_round
                .get(group)
                .is_some_and(|t| now < *t + interval)
            {
                continue;
            }
            let mut lost: Vec<(Option<Instant>, PeerId, &[String])> = (memory.peers.iter())
                .filter(|(_, e)| !e.door_addrs.is_empty())
                .filter_map(|(p, e)| Some((p.parse::<PeerId>().ok()?, e.door_addrs.as_slice())))
                .filter(|(p, _)| !self.peers.connected.contains(&(*group, *p)))
                .map(|(p, doors)| (self.peers.knocked.get(&(*group, p)).copied(), p, doors))
                .collect();
            if lost.is_empty() {
                continue;
            }
            // Never asked first, then the longest ago.
            lost.sort_by_key(|(at, _, _)| *at);
            for (_, peer, doors) in lost.into_iter().take(KNOCKS_PER_ROUND) {
                knocks.push((*group, peer, doors.to_vec()));
            }
        }
        for (group, peer, doors) in knocks {
            self.peers.knock_round.insert(group, now);
            self.peers.knocked.insert((group, peer), now);
            self.knock(group, peer, doors);
        }
    }

    /// Knocks back at `peer`, a member that just knocked at this node's door, over the
    /// connection it opened (no address needed): it knocked because it cannot reach this
    /// node's network, and it may hold re-keys this node lacks as much as the reverse, as on
    /// two sides of a partition where two admins re-keyed. Not when its current epoch
    /// (`their_epoch`) is behind this node's (it has nothing newer), and at most once per
    /// knock interval per member.
    pub(super) fn knock_back(&mut self, group: GroupId, peer: PeerId, their_epoch: u32) {
        let ours = self.core.group(&group).map(|g| g.epochs.current().number);
        let recent = (self.peers.knocked.get(&(group, peer)))
            .is_some_and(|t| t.elapsed() < self.knock_interval());
        if ours.is_none_or(|n| their_epoch < n) || recent {
            return;
        }
        self.peers.knocked.insert((group, peer), Instant::now());
        self.knock(group, peer, Vec::new());
    }

    /// How often a group's lost members' doors are asked for missed re-keys.
    fn knock_interval(&self) -> Duration {
        match self.fast_timers {
            true => KNOCK_INTERVAL / 20,
            false => KNOCK_INTERVAL,
        }
    }

    /// Asks `peer`'s door in `group` (dialed at `doors`, if not connected to it already) for
    /// the re-keys this node missed (§15), in a
    /// task: a member that cannot be reached in the group's network may have moved it to an
    /// epoch this node lacks. What comes back is judged like any synced page; a re-key with a
    /// package for this member gives it the epoch, and its network then moves too.
    fn knock(&mut self, group: GroupId, peer: PeerId, doors: Vec<String>) {
        let Some(door) = self.nets.door(&group).map(|d| d.gossip.clone()) else {
            return;
        };
        let request = match self.core.epochs_request(&group, &peer.to_bytes(), now_ms()) {
            Ok(request) => crate::sync::Request::Epochs(request).encode(),
            Err(e) => return debug!(error = %e, "no request for the door"),
        };
        let ingest = self.ingest_tx.clone();
        self.tasks.spawn(async move {
            for addr in doors.iter().filter_map(|a| dialable(a, &peer)) {
                let _ = door.dial(addr).await;
            }
            let connected = tokio::time::timeout(KNOCK_PATIENCE, async {
                while !door
                    .peers()
                    .await
                    .is_ok_and(|p| p.iter().any(|c| c.peer == peer))
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await;
            if connected.is_err() {
                return debug!(%peer, "its door did not answer");
            }
            let answer = door.request(peer, request).await;
            let messages = match answer.map(|b| crate::sync::Response::decode(&b)) {
                Ok(Ok(crate::sync::Response::Messages { messages })) => messages,
                other => return debug!(%peer, ?other, "the door gave no re-keys"),
            };
            if messages.is_empty() || messages.len() > crate::core::MAX_DOOR_REKEYS {
                return;
            }
            info!(%peer, rekeys = messages.len(), "a member's door handed over re-keys");
            let messages = crate::sync::verify_page(messages).await;
            let (reply, answer) = tokio::sync::oneshot::channel();
            let batch = crate::sync::IngestBatch {
                group,
                messages,
                reply,
            };
            if ingest.send(batch).await.is_ok() {
                let _ = answer.await;
            }
        });
    }

    /// Refreshes every group's remembered members from identify, publishes the own address
    /// record where due and writes what changed.
    pub(super) async fn refresh_peers(&mut self) {
        let groups: Vec<GroupId> = self.core.groups().map(|g| g.id).collect();
        let now = now_ms();
        for group in groups {
            let members = self.members_online(group).await;
            let memory = self.peers.memories.entry(group).or_default();
            for info in &members {
                let addrs: Vec<String> = (info.addrs.iter())
                    .map(|a| addr_record::without_p2p(a).to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
                if memory.seen(&info.peer.to_string(), &addrs, now) {
                    self.peers.dirty.insert(group);
                }
            }
            let due =
                (self.peers.published.get(&group)).is_none_or(|t| t.elapsed() >= RECORD_REFRESH);
            if due && !members.is_empty() {
                self.publish_own_record(group).await;
            }
        }
        self.peers.save();
    }

    /// Publishes this node's address record and door record in `group` (sealed on the
    /// address and door topics).
    async fn publish_own_record(&mut self, group: GroupId) {
        self.publish_records(group, &[Kind::Address, Kind::Door])
            .await;
    }

    /// Publishes this node's records of `kinds` in `group`, each on its topic.
    async fn publish_records(&mut self, group: GroupId, kinds: &[Kind]) {
        for &kind in kinds {
            let Some(envelope) = self.own_record(group, kind).await else {
                continue;
            };
            let (Some(g), Some(net)) = (self.core.group(&group), self.nets.get(&group)) else {
                return;
            };
            match net.gossip.publish(&kind.topic(&g.topic), envelope).await {
                Ok(cove_gossip::Published::Sent) => {
                    debug!(group = %group.short(), ?kind, "own record published");
                    if kind == Kind::Address {
                        self.peers.published.insert(group, Instant::now());
                    } else {
                        self.peers.door_due.remove(&group);
                    }
                }
                Ok(cove_gossip::Published::NoPeers) => {}
                Err(e) => {
                    warn!(group = %group.short(), ?kind, error = %e, "could not publish a record")
                }
            }
        }
    }

    /// This node's record of `kind` in `group`, sealed: for an address record its advertised
    /// addresses first, then where its network listens; for a door record where its door
    /// listens, and its door's addresses confirmed from outside.
    async fn own_record(&self, group: GroupId, kind: Kind) -> Option<Vec<u8>> {
        let g = self.core.group(&group)?;
        let mut addrs = Vec::new();
        match kind {
            Kind::Address => {
                let net = self.nets.get(&group)?;
                addrs.extend(net.advertise.iter().cloned());
                addrs.extend(net.gossip.listen_addrs().await.ok()?);
            }
            Kind::Door => {
                let door = self.nets.door(&group)?;
                addrs.extend(door.gossip.reachability().await.ok()?.external);
                addrs.extend(door.gossip.listen_addrs().await.ok()?);
            }
        }
        let key = self.nets.record_key(&group);
        let signed = addr_record::sign_record_as(kind, &key, &group, &addrs, now_ms());
        if signed.record.addrs.is_empty() {
            return None;
        }
        let epoch = g.epochs.current();
        Some(addr_record::seal_record_as(
            kind,
            &epoch.content,
            &g.topic,
            epoch.tag,
            &signed,
        ))
    }

    /// A member subscribed to `group`'s address topic: tell it where everyone is (the own
    /// record and every record known older than [`SHARE_INTERVAL`]), at most once per
    /// [`SHARE_INTERVAL`].
    async fn share_records(&mut self, group: GroupId) {
        if (self.peers.shared.get(&group)).is_some_and(|t| t.elapsed() < SHARE_INTERVAL) {
            return;
        }
        self.peers.shared.insert(group, Instant::now());
        let mut envelopes: Vec<Vec<u8>> = (self.own_record(group, Kind::Address).await)
            .into_iter()
            .collect();
        let (Some(g), Some(net), Some(memory)) = (
            self.core.group(&group),
            self.nets.get(&group),
            self.peers.memories.get(&group),
        ) else {
            return;
        };
        let epoch = g.epochs.current();
        let topic = addr_topic(&g.topic);
        let flooded_since = now_ms().saturating_sub(SHARE_INTERVAL.as_millis() as u64);
        envelopes.extend(
            memory
                .records_before(flooded_since)
                .map(|record| cove_crypto::seal(&epoch.content, &topic, epoch.tag, record)),
        );
        let count = envelopes.len();
        for envelope in envelopes {
            if let Err(e) = net.gossip.publish(&topic, envelope).await {
                debug!(error = %e, "could not share an address record");
            }
        }
        debug!(group = %group.short(), records = count, "address records shared");
    }
}

/// Dials `peer` at each of `addrs`.
async fn dial_all(gossip: &Gossip, peer: &PeerId, addrs: &[String]) {
    for addr in addrs.iter().filter_map(|a| dialable(a, peer)) {
        if let Err(e) = gossip.dial(addr.clone()).await {
            debug!(%addr, error = %e, "dial failed");
        }
    }
}

/// A jitter factor for [`redial_delay`], from 0.5 to 1.5.
fn jitter() -> f64 {
    rand::random_range(0.5..1.5)
}
