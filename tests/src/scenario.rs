//! The network scenario tool (issue 6): N nodes in one process, one group, a workload of
//! K posts per second from M authors for T seconds, and every delivery timestamped.
//!
//! Two modes run the *same* topology, transport and payload sizes:
//!
//! * [`Mode::Cove`]: real [`Node`]s. The founder creates the group and mints one invite; every
//!   other node joins through it (bootstrap = the founder's address, the DHT finds the rest),
//!   so every node is a real member. Posts go through [`Node::post`] (sign, store, flush,
//!   seal, publish); deliveries are observed on [`Node::watch`] (validated and stored).
//! * [`Mode::Baseline`]: bare gossipsub through [`cove_gossip::Gossip`] with the same config
//!   knobs as a node (discovery on, same timers, same max message size), every node
//!   bootstrapping to the first one, payloads of the size of a sealed Cove envelope, and every
//!   message accepted at once: no sealing, signing, validation or storage.
//!
//! Latency is measured from just before the application's send call (`post` / `publish`) to
//! the moment the receiving node hands the message to its watcher, on the one monotonic clock
//! of the process. Before the workload, every node must see a few members and the total
//! number of connections must have stopped changing (discovery done). CPU time is the process's user + system time over the workload and drain
//! (from `/proc/self/stat`), divided by deliveries; peak memory is the process's `VmHWM`
//! divided by N, so run one scenario per process (the `scenario` binary does) for a clean
//! peak.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use cove_tests::scenario::{Mode, Scenario};
//! let report = Scenario::small(Mode::Cove).run().await?;
//! assert_eq!(report.delivered, report.expected);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cove_gossip::{Event, Gossip, Keypair, Multiaddr, Verdict};
use cove_node::data_dir::DataDir;
use cove_node::{Node, NodeConfig};
use serde::Serialize;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which stack the scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Full Cove nodes (seal, sign, validate, store).
    Cove,
    /// Bare gossipsub, auto-accept, nothing stored.
    Baseline,
}

/// How the nodes reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// libp2p's in-process memory transport (`/memory/0`), noise + yamux.
    Memory,
    /// TCP on 127.0.0.1, noise + yamux.
    Tcp,
}

impl Transport {
    fn listen_addr(self) -> Multiaddr {
        match self {
            Transport::Memory => "/memory/0",
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
        }
        .parse()
        .expect("valid multiaddr")
    }
}

/// One scenario: topology and workload.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Cove or baseline.
    pub mode: Mode,
    /// Memory or TCP.
    pub transport: Transport,
    /// Number of nodes (N).
    pub nodes: usize,
    /// Number of posting nodes (M), spread over the nodes.
    pub authors: usize,
    /// Posts per second over all authors (K).
    pub rate: f64,
    /// How long the authors post (T).
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Post text length in bytes (Cove). The baseline sends payloads of the size of the
    /// sealed envelope such a post makes (see [`envelope_len`]).
    pub text_len: usize,
    /// How long to wait for the last deliveries after the last post.
    #[serde(with = "secs")]
    pub drain: Duration,
    /// The gossip layer's `local_testing` timers (200 ms heartbeat, 2 s discovery rounds) and
    /// the node's loopback anti-entropy (3 s) instead of the production ones (1 s, 30 s,
    /// 60 s). Their background work, multiplied by N nodes in one process, can use the whole
    /// machine at N = 100, so the suite runs with production timers. Always on with
    /// [`Transport::Tcp`], where it also lifts the same-IP penalty of 127.0.0.1.
    pub fast_timers: bool,
}

mod secs {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Scenario {
    /// The instance of the normal test suite: 5 nodes, 2 authors, 10 posts/s for 2 s.
    pub fn small(mode: Mode) -> Scenario {
        Scenario {
            mode,
            transport: Transport::Memory,
            nodes: 5,
            authors: 2,
            rate: 10.0,
            duration: Duration::from_secs(2),
            text_len: 256,
            drain: Duration::from_secs(30),
            fast_timers: false,
        }
    }

    /// Whether the fast (`local_testing`) timers are on; see [`Scenario::fast_timers`].
    pub fn fast_timers(&self) -> bool {
        self.fast_timers || self.transport == Transport::Tcp
    }

    /// Messages the workload sends.
    pub fn messages(&self) -> usize {
        (self.rate * self.duration.as_secs_f64()).round() as usize
    }

    /// Sets the nodes up, runs the workload, tears down; see the module docs.
    pub async fn run(&self) -> Result<Report> {
        if self.nodes < 2 || self.authors == 0 || self.authors > self.nodes || self.rate <= 0.0 {
            bail!("need 2 <= nodes, 1 <= authors <= nodes, rate > 0");
        }
        let started = Instant::now();
        let net = match self.mode {
            Mode::Cove => Net::cove(self).await?,
            Mode::Baseline => Net::baseline(self).await?,
        };
        let payload_len = net.payload_len;
        let setup = started.elapsed();

        // Background cost of the connected, idle network (heartbeats, discovery rounds,
        // anti-entropy), so that it can be told apart from the cost of the workload.
        let idle_start = (Instant::now(), cpu_time()?);
        tokio::time::sleep(IDLE_WINDOW).await;
        let idle_cpu_per_s =
            (cpu_time()? - idle_start.1).as_secs_f64() / idle_start.0.elapsed().as_secs_f64();

        let cpu_before = cpu_time()?;
        let workload_start = Instant::now();
        let sends = net.drive(self).await?;
        let expected = sends.len() * (self.nodes - 1);
        // Drain: wait until every member saw every post (or the drain time is up). A Cove
        // author's own watcher sees its own posts too; the baseline's does not.
        let own = match self.mode {
            Mode::Cove => sends.len(),
            Mode::Baseline => 0,
        };
        let drain_deadline = Instant::now() + self.drain;
        while net.delivered.load(Ordering::Relaxed) < expected + own
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = workload_start.elapsed();
        let cpu = cpu_time()? - cpu_before;
        let received = net.stop().await?;

        let authors: HashMap<&str, usize> =
            sends.iter().map(|s| (s.key.as_str(), s.node)).collect();
        let sent_at: HashMap<&str, Instant> =
            sends.iter().map(|s| (s.key.as_str(), s.at)).collect();
        // A Cove author's own watcher fires once the post is durable, just before it is handed
        // to gossipsub: the start of propagation proper.
        let mut published_at: HashMap<&str, Instant> = HashMap::new();
        for (node, deliveries) in received.iter().enumerate() {
            for (key, at) in deliveries {
                if authors.get(key.as_str()) == Some(&node) {
                    published_at.insert(key.as_str(), *at);
                }
            }
        }
        let mut latencies = Vec::with_capacity(expected);
        let mut propagation = Vec::with_capacity(expected);
        let mut delivered = 0;
        for (node, deliveries) in received.iter().enumerate() {
            let mut seen = HashSet::new();
            for (key, at) in deliveries {
                if authors.get(key.as_str()) == Some(&node) || !seen.insert(key.as_str()) {
                    continue;
                }
                if let Some(sent) = sent_at.get(key.as_str()) {
                    delivered += 1;
                    latencies.push(at.saturating_duration_since(*sent));
                    let start = published_at.get(key.as_str()).unwrap_or(sent);
                    propagation.push(at.saturating_duration_since(*start));
                }
            }
        }
        latencies.sort();
        propagation.sort();
        let deliveries = delivered.max(1) as f64;
        let peak = peak_rss_bytes()?;
        Ok(Report {
            scenario: self.clone(),
            payload_len,
            sent: sends.len(),
            expected,
            delivered,
            delivery_ratio: delivered as f64 / expected.max(1) as f64,
            latency_ms: Percentiles::of(&latencies),
            propagation_ms: Percentiles::of(&propagation),
            setup_s: setup.as_secs_f64(),
            run_s: elapsed.as_secs_f64(),
            cpu_s: cpu.as_secs_f64(),
            cpu_us_per_delivery: cpu.as_secs_f64() * 1e6 / deliveries,
            idle_cpu_per_s,
            net_cpu_us_per_delivery: (cpu.as_secs_f64() - idle_cpu_per_s * elapsed.as_secs_f64())
                .max(0.0)
                * 1e6
                / deliveries,
            peak_rss_mib_total: peak as f64 / MIB,
            peak_rss_mib_per_node: peak as f64 / MIB / self.nodes as f64,
        })
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of sorted durations (zeros when empty).
    pub fn of(sorted: &[Duration]) -> Percentiles {
        let at = |q: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1].as_secs_f64() * 1e3
        };
        Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What ran.
    pub scenario: Scenario,
    /// Bytes on the gossip wire per message (sealed envelope, or baseline payload).
    pub payload_len: usize,
    /// Messages sent.
    pub sent: usize,
    /// Deliveries expected: every message at every node but its author.
    pub expected: usize,
    /// Deliveries observed (each message counted once per receiving node).
    pub delivered: usize,
    /// `delivered / expected`.
    pub delivery_ratio: f64,
    /// Send-to-delivery latency: from the application's send call (`post`, which signs,
    /// stores and flushes to disk before publishing; or `publish`) to delivery.
    pub latency_ms: Percentiles,
    /// Propagation latency: from the moment the message is handed to gossipsub (Cove: when
    /// the author's own store accepted it, after the flush; baseline: the send call) to
    /// delivery.
    pub propagation_ms: Percentiles,
    /// Time to start the nodes and connect them.
    pub setup_s: f64,
    /// Workload plus drain.
    pub run_s: f64,
    /// Process CPU time (user + system) over workload and drain.
    pub cpu_s: f64,
    /// `cpu_s` per delivery, in microseconds.
    pub cpu_us_per_delivery: f64,
    /// CPU seconds per second the connected network used before the workload (all nodes).
    pub idle_cpu_per_s: f64,
    /// `cpu_s` minus the idle rate over the same time, per delivery, in microseconds: the
    /// cost of the workload itself.
    pub net_cpu_us_per_delivery: f64,
    /// Peak RSS of the whole process (`VmHWM`).
    pub peak_rss_mib_total: f64,
    /// `peak_rss_mib_total / nodes`.
    pub peak_rss_mib_per_node: f64,
}

/// One message sent: its key (Cove message id, or baseline sequence number), author node
/// and send time.
struct Send {
    key: String,
    node: usize,
    at: Instant,
}

/// Deliveries seen by one node: message key and time.
type Deliveries = Vec<(String, Instant)>;

/// The running nodes of one scenario.
struct Net {
    stack: Stack,
    /// Deliveries so far, over all nodes (own messages excluded only later).
    delivered: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    recorders: Vec<JoinHandle<Deliveries>>,
    payload_len: usize,
}

enum Stack {
    Cove {
        nodes: Vec<Node>,
        group: String,
        _dirs: Vec<TempDir>,
    },
    Baseline {
        nodes: Vec<Gossip>,
        topic: String,
    },
}

/// Peers every node must see in the group before the workload starts: enough for a mesh.
fn peers_needed(nodes: usize) -> usize {
    (nodes - 1).min(4)
}

/// Discovery goes on after every node has its first peers: each node dials every member the
/// DHT names, and each new connection costs a noise handshake. The workload starts once the
/// total number of connections has not changed for this long (and a few heartbeats passed).
const SETTLE: Duration = Duration::from_secs(3);

/// Longest wait for the connections to settle.
const SETTLE_PATIENCE: Duration = Duration::from_secs(90);

/// Waits until every node counts at least `need` group members, or fails at `deadline`
/// naming a node that lags. The iterator is cloned for each round: its futures ask the nodes
/// afresh.
async fn wait_for_members<F>(
    need: usize,
    deadline: Instant,
    member_counts: impl Iterator<Item = F> + Clone,
) -> Result<()>
where
    F: std::future::Future<Output = Result<usize>>,
{
    loop {
        let mut lagging = None;
        for (i, count) in member_counts.clone().enumerate() {
            let members = count.await?;
            if members < need {
                lagging = Some((i, members));
                break;
            }
        }
        let Some((i, members)) = lagging else {
            return Ok(());
        };
        if Instant::now() > deadline {
            bail!("node {i} sees {members} members, wanted {need}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the sum of `peer_counts` is unchanged for [`SETTLE`].
async fn settle<F>(peer_counts: impl Iterator<Item = F> + Clone) -> Result<()>
where
    F: std::future::Future<Output = Result<usize>>,
{
    let deadline = Instant::now() + SETTLE_PATIENCE;
    let mut last = usize::MAX;
    let mut stable_since = Instant::now();
    loop {
        let mut total = 0;
        for count in peer_counts.clone() {
            total += count.await?;
        }
        if total != last {
            last = total;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= SETTLE || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long the idle network's CPU use is sampled before the workload.
const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// Upper bound on connecting the nodes.
const SETUP_PATIENCE: Duration = Duration::from_secs(120);

impl Net {
    async fn cove(scenario: &Scenario) -> Result<Net> {
        let (stop, _) = watch::channel(false);
        let delivered = Arc::new(AtomicUsize::new(0));
        let mut nodes = Vec::with_capacity(scenario.nodes);
        let mut dirs = Vec::with_capacity(scenario.nodes);
        let mut recorders = Vec::with_capacity(scenario.nodes);
        let mut invite = None;
        let mut group = String::new();
        for i in 0..scenario.nodes {
            let dir = tempfile::Builder::new().prefix("cove-scenario").tempdir()?;
            DataDir::new(dir.path()).init()?;
            let mut config = if scenario.fast_timers() {
                NodeConfig::loopback(dir.path())
            } else {
                NodeConfig {
                    mdns: false,
                    ..NodeConfig::new(dir.path())
                }
            };
            config.listen = vec![scenario.transport.listen_addr()];
            let node = Node::start(config).await?;
            // Watch before joining so that nothing stored is missed.
            recorders.push(spawn_cove_recorder(
                &node,
                stop.subscribe(),
                delivered.clone(),
            ));
            match &invite {
                None => {
                    group = node.create_group("scenario").await?.to_string();
                    invite = Some(node.invite(&group, Duration::from_secs(3600)).await?);
                }
                Some(invite) => {
                    node.join(invite)
                        .await
                        .with_context(|| format!("node {i} joins"))?;
                }
            }
            nodes.push(node);
            dirs.push(dir);
        }
        let need = peers_needed(scenario.nodes);
        let deadline = Instant::now() + SETUP_PATIENCE;
        wait_for_members(
            need,
            deadline,
            nodes.iter().map(|node| {
                let node = node.clone();
                async move {
                    Ok(node
                        .peers()
                        .await?
                        .iter()
                        .filter(|p| !p.groups.is_empty())
                        .count())
                }
            }),
        )
        .await?;
        settle(nodes.iter().map(|n| {
            let n = n.clone();
            async move { Ok(n.peers().await?.len()) }
        }))
        .await?;
        Ok(Net {
            stack: Stack::Cove {
                nodes,
                group,
                _dirs: dirs,
            },
            delivered,
            stop,
            recorders,
            payload_len: envelope_len(scenario.text_len)?,
        })
    }

    async fn baseline(scenario: &Scenario) -> Result<Net> {
        let (stop, _) = watch::channel(false);
        let delivered = Arc::new(AtomicUsize::new(0));
        let topic = hex::encode(random_key());
        let discovery_key = random_key();
        let mut nodes: Vec<Gossip> = Vec::with_capacity(scenario.nodes);
        let mut recorders = Vec::with_capacity(scenario.nodes);
        let mut bootstrap = Vec::new();
        for _ in 0..scenario.nodes {
            let mut config = cove_gossip::Config::new(Keypair::generate_ed25519());
            config.listen = vec![scenario.transport.listen_addr()];
            config.bootstrap = bootstrap.clone();
            config.mdns = false;
            config.local_testing = scenario.fast_timers();
            config.max_message_size = cove_node::core::MAX_ENVELOPE_BYTES + 1024;
            let (gossip, events) = Gossip::spawn(config).await?;
            if bootstrap.is_empty() {
                bootstrap = gossip.listen_addrs().await?;
            }
            gossip.subscribe(&topic, discovery_key).await?;
            recorders.push(spawn_baseline_recorder(
                gossip.clone(),
                events,
                stop.subscribe(),
                delivered.clone(),
            ));
            nodes.push(gossip);
        }
        let need = peers_needed(scenario.nodes);
        let deadline = Instant::now() + SETUP_PATIENCE;
        wait_for_members(
            need,
            deadline,
            nodes.iter().map(|node| {
                let (node, topic) = (node.clone(), topic.clone());
                async move {
                    Ok(node
                        .peers()
                        .await?
                        .iter()
                        .filter(|p| p.topics.contains(&topic))
                        .count())
                }
            }),
        )
        .await?;
        settle(nodes.iter().map(|n| {
            let n = n.clone();
            async move { Ok(n.peers().await?.len()) }
        }))
        .await?;
        Ok(Net {
            stack: Stack::Baseline { nodes, topic },
            delivered,
            stop,
            recorders,
            payload_len: envelope_len(scenario.text_len)?,
        })
    }

    /// Runs the workload: each author posts at `rate / authors` per second for `duration`.
    async fn drive(&self, scenario: &Scenario) -> Result<Vec<Send>> {
        let total = scenario.messages();
        let period = Duration::from_secs_f64(scenario.authors as f64 / scenario.rate);
        let mut tasks = tokio::task::JoinSet::new();
        for a in 0..scenario.authors {
            let node_index = a * scenario.nodes / scenario.authors;
            // Author a sends messages a, a + M, a + 2M, ... below `total`.
            let count = (a..total).step_by(scenario.authors).count();
            let text_len = scenario.text_len;
            let payload_len = self.payload_len;
            let sender = match &self.stack {
                Stack::Cove { nodes, group, .. } => {
                    Sender::Cove(nodes[node_index].clone(), group.clone())
                }
                Stack::Baseline { nodes, topic } => {
                    Sender::Baseline(nodes[node_index].clone(), topic.clone())
                }
            };
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut sends = Vec::with_capacity(count);
                for seq in 0..count {
                    ticks.tick().await;
                    let at = Instant::now();
                    let key = sender.send(a, seq, text_len, payload_len).await?;
                    sends.push(Send {
                        key,
                        node: node_index,
                        at,
                    });
                }
                anyhow::Ok(sends)
            });
        }
        let mut sends = Vec::with_capacity(total);
        while let Some(result) = tasks.join_next().await {
            sends.extend(result??);
        }
        Ok(sends)
    }

    /// Stops the recorders and the nodes; returns each node's deliveries.
    async fn stop(self) -> Result<Vec<Deliveries>> {
        let _ = self.stop.send(true);
        let mut received = Vec::with_capacity(self.recorders.len());
        for recorder in self.recorders {
            received.push(recorder.await?);
        }
        match self.stack {
            Stack::Cove { nodes, .. } => {
                for node in nodes {
                    let _ = node.shutdown().await;
                }
            }
            Stack::Baseline { nodes, .. } => {
                for node in nodes {
                    let _ = node.shutdown().await;
                }
            }
        }
        Ok(received)
    }
}

enum Sender {
    Cove(Node, String),
    Baseline(Gossip, String),
}

impl Sender {
    /// Sends message `seq` of author `author`; returns its key.
    async fn send(
        &self,
        author: usize,
        seq: usize,
        text_len: usize,
        payload_len: usize,
    ) -> Result<String> {
        match self {
            Sender::Cove(node, group) => {
                let text = filler(author, seq, text_len);
                Ok(node.post(group, None, &text).await?.to_string())
            }
            Sender::Baseline(gossip, topic) => {
                let key = format!("{author}-{seq}");
                let mut payload = filler(author, seq, payload_len).into_bytes();
                // The key first, NUL-terminated, so that the receiver can read it back.
                payload[..key.len()].copy_from_slice(key.as_bytes());
                payload[key.len()] = 0;
                gossip.publish(topic, payload).await?;
                Ok(key)
            }
        }
    }
}

/// `len` bytes of text unique to (`author`, `seq`).
fn filler(author: usize, seq: usize, len: usize) -> String {
    let head = format!("{author}-{seq}-scenario-");
    head.chars()
        .chain(std::iter::repeat('x'))
        .take(len.max(head.len()))
        .collect()
}

fn spawn_cove_recorder(
    node: &Node,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicUsize>,
) -> JoinHandle<Deliveries> {
    let mut messages = node.watch();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                message = messages.recv() => match message {
                    Ok(signed) => {
                        seen.push((signed.message.id.to_string(), Instant::now()));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    // A lagging watcher is a bug of the instrument, not a loss of the node;
                    // it shows as missing deliveries in the report.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("scenario: a watcher lagged by {n} messages");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        seen
    })
}

fn spawn_baseline_recorder(
    gossip: Gossip,
    mut events: tokio::sync::mpsc::Receiver<Event>,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicUsize>,
) -> JoinHandle<Deliveries> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                event = events.recv() => match event {
                    Some(Event::Message { id, source, data, .. }) => {
                        let at = Instant::now();
                        let end = data.iter().position(|&b| b == 0).unwrap_or(0);
                        let key = String::from_utf8_lossy(&data[..end]).into_owned();
                        if gossip.report(id, source, Verdict::Accept).await.is_err() {
                            break;
                        }
                        seen.push((key, at));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        seen
    })
}

/// Length of the sealed envelope of a post with a `text_len`-byte text, measured by composing
/// one with a throwaway store.
pub fn envelope_len(text_len: usize) -> Result<usize> {
    let dir = tempfile::tempdir()?;
    let data = DataDir::new(dir.path());
    data.init()?;
    let store = cove_node::store::Store::open(&data.store_path())?;
    let mut core = cove_node::core::Core::new(store, data.load_seed()?)?;
    let now = cove_node::node::now_ms();
    let group = core.create_group("size", now)?;
    let (_, envelope) = core.compose_post(&group, None, filler(0, 0, text_len), now)?;
    Ok(envelope.len())
}

/// 32 random bytes: the public half of a fresh ed25519 key (the workspace's randomness
/// source, without another dependency here).
fn random_key() -> [u8; 32] {
    let public = Keypair::generate_ed25519().public().encode_protobuf();
    public[public.len() - 32..]
        .try_into()
        .expect("an ed25519 public key is 32 bytes")
}

/// Process CPU time (user + system) from `/proc/self/stat`, at clock-tick resolution.
pub fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .context("malformed /proc/self/stat")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux we run on.
const CLOCK_TICKS: f64 = 100.0;

/// Peak resident set size of this process (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Result<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// Current resident set size of this process (`VmRSS`), in bytes.
pub fn rss_bytes() -> Result<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("{field} not in /proc/self/status"))?;
    Ok(line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}
