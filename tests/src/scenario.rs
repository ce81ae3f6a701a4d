//! The network scenario tool (issue 6): N nodes, one group, a workload of K posts per second
//! from M authors for T seconds, and every delivery timestamped.
//!
//! The nodes run either in this process ([`Placement::InProcess`], memory transport or
//! loopback TCP) or as one process each over loopback TCP ([`Placement::Processes`]): real
//! `cove up` daemons driven through their control sockets, and for the baseline one
//! `scenario baseline-node` process per node (see [`run_baseline_node`]).
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
//! of the process. In process mode, see [`Placement::Processes`] for where each timestamp is
//! taken and on which clock. Before the workload, every node must see a few members and the total
//! number of connections must have stopped changing (discovery done). CPU time is the process's user + system time over the workload and drain
//! (from `/proc/self/stat`; in process mode the sum over the node processes from
//! `/proc/<pid>/stat`), divided by deliveries; peak memory is the process's `VmHWM` divided by
//! N (in process mode the sum of the node processes' `VmHWM` divided by N), so run one
//! scenario per process (the `scenario` binary does) for a clean peak.
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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use cove_gossip::{Event, Gossip, Keypair, Multiaddr, Verdict};
use cove_node::control::{Client, Request};
use cove_node::data_dir::DataDir;
use cove_node::message::Content;
use cove_node::{Node, NodeConfig, PeerSummary};
use serde::Serialize;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch, Mutex};
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

/// Where the nodes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// All N nodes in this process, on one tokio runtime.
    InProcess,
    /// One process per node over loopback TCP (the transport must be [`Transport::Tcp`]).
    ///
    /// * Cove: `cove init` and `cove up --no-mdns --listen /ip4/127.0.0.1/tcp/0` in a data dir
    ///   of its own per node (production timers: `cove up` has no flag for the gossip layer's
    ///   `fast_timers` ones); the first node creates the group, a chat room and an invite
    ///   through its control socket, the others run `cove join`. The workload is chat lines
    ///   (`say` requests on the authors' control sockets), because the control channel's
    ///   streaming `watch` request, which every node's delivery recorder here uses, streams a
    ///   room's chat lines. A delivery is stamped in *this* process when the watch event line
    ///   arrives, i.e. after the node stored the line, looked it up for display (a `show`
    ///   through its actor) and wrote it to the unix socket.
    /// * Baseline: one `baseline-node` process per node (bare gossipsub, production timers,
    ///   payloads of the size of a sealed chat line), driven by a line protocol on its stdin
    ///   and stdout (see [`run_baseline_node`]). The node stamps a delivery itself, when
    ///   gossipsub hands it the message.
    ///
    /// Stamps taken in another process are microseconds since the Unix epoch on the system
    /// clock (`CLOCK_REALTIME`), which every process of the machine shares; the driver converts
    /// them onto its own monotonic clock with one pair of readings taken at start. (A step of
    /// the system clock during a run would show as an outlier; slewing by NTP is at most
    /// 500 ppm, i.e. 0.5 µs per ms of latency.) Send times are stamped in this process, just
    /// before the `say` request or the `publish` line is written.
    Processes(Programs),
}

/// The executables of [`Placement::Processes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    /// The `cove` binary (`cargo build --release -p cove-cli`).
    pub cove: PathBuf,
    /// A binary whose `baseline-node` subcommand runs [`run_baseline_node`]: the `scenario`
    /// binary.
    pub baseline: PathBuf,
}

impl Serialize for Placement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Placement::InProcess => "in_process",
            Placement::Processes(_) => "processes",
        })
    }
}

/// One scenario: topology and workload.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Cove or baseline.
    pub mode: Mode,
    /// Memory or TCP.
    pub transport: Transport,
    /// In this process, or one process per node.
    pub placement: Placement,
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
    /// How long the connected, idle network's CPU use is sampled before the workload
    /// ([`Report::idle_cpu_per_s`]).
    #[serde(with = "secs")]
    pub idle: Duration,
    /// The gossip layer's `fast_timers` timers (200 ms heartbeat, 2 s discovery rounds) and
    /// the node's loopback anti-entropy (3 s) instead of the production ones (1 s, 30 s,
    /// 60 s). Their background work, multiplied by N nodes in one process, can use the whole
    /// machine at N = 100, so the suite runs with production timers. Always on with
    /// in-process [`Transport::Tcp`]. Peer scoring is the same either way.
    pub fast_timers: bool,
    /// Cove's anti-entropy every hour instead of every minute (or 3 s with fast timers), so
    /// that every delivery in the run is gossip's: a post that gossip fails to deliver stays
    /// undelivered instead of arriving by the next sync round.
    pub gossip_only: bool,
    /// The baseline publishes to every subscribed peer (gossipsub's `flood_publish`) instead
    /// of to its mesh, as Cove did before it switched flood publishing off for privacy. For
    /// the experiment that measures what that switch costs; Cove itself never floods.
    pub flood_publish: bool,
    /// In-process baseline only: after accepting each message, the recorder keeps its
    /// runtime thread busy this long (a spin, no sleep), standing in for the work a node does
    /// per delivery (opening, verifying, deciding, storing). Measures what a given amount of
    /// per-delivery work costs the network's latency; zero for the plain baseline.
    #[serde(with = "secs")]
    pub baseline_work: Duration,
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
    /// The instance of the normal test suite: 5 nodes, 2 authors, 10 posts/s for 2 s, idle
    /// CPU sampled for only 0.5 s.
    pub fn small(mode: Mode) -> Scenario {
        Scenario {
            mode,
            transport: Transport::Memory,
            placement: Placement::InProcess,
            nodes: 5,
            authors: 2,
            rate: 10.0,
            duration: Duration::from_secs(2),
            text_len: 256,
            drain: Duration::from_secs(30),
            idle: Duration::from_millis(500),
            fast_timers: false,
            gossip_only: false,
            flood_publish: false,
            baseline_work: Duration::ZERO,
        }
    }

    /// [`Scenario::small`] with one process per node over loopback TCP.
    pub fn small_processes(mode: Mode, programs: Programs) -> Scenario {
        Scenario {
            transport: Transport::Tcp,
            placement: Placement::Processes(programs),
            ..Scenario::small(mode)
        }
    }

    /// Whether the fast (`fast_timers`) timers are on; see [`Scenario::fast_timers`]. Never
    /// in process mode: `cove up` runs the production timers, so the baseline does too.
    pub fn fast_timers(&self) -> bool {
        match self.placement {
            Placement::InProcess => self.fast_timers || self.transport == Transport::Tcp,
            Placement::Processes(_) => false,
        }
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
        if matches!(self.placement, Placement::Processes(_)) && self.transport != Transport::Tcp {
            bail!("one process per node needs the TCP transport");
        }
        if !self.baseline_work.is_zero()
            && (self.mode != Mode::Baseline || self.placement != Placement::InProcess)
        {
            bail!("work per delivery is a switch of the in-process baseline only");
        }
        let started = Instant::now();
        let net = match (&self.placement, self.mode) {
            (Placement::InProcess, Mode::Cove) => Net::cove(self).await?,
            (Placement::InProcess, Mode::Baseline) => Net::baseline(self).await?,
            (Placement::Processes(programs), Mode::Cove) => {
                Net::cove_processes(self, programs).await?
            }
            (Placement::Processes(programs), Mode::Baseline) => {
                Net::baseline_processes(self, programs).await?
            }
        };
        let payload_len = net.payload_len;
        let setup = started.elapsed();
        // A marker for profilers that attach to the workload only (`perf record -p`).
        eprintln!(
            "scenario: {} nodes ready after {:.1} s; idle {:.1} s, then the workload",
            self.nodes,
            setup.as_secs_f64(),
            self.idle.as_secs_f64()
        );

        // Background cost of the connected, idle network (heartbeats, discovery rounds,
        // anti-entropy), so that it can be told apart from the cost of the workload.
        let idle_start = (Instant::now(), net.cpu_time()?);
        tokio::time::sleep(self.idle).await;
        let idle_cpu_per_s =
            (net.cpu_time()? - idle_start.1).as_secs_f64() / idle_start.0.elapsed().as_secs_f64();

        let cpu_before = net.cpu_time()?;
        let driver_cpu_before = cpu_time()?;
        let workload_start = Instant::now();
        let sends = net.drive(self).await?;
        let expected = sends.len() * (self.nodes - 1);
        // Drain: wait until every member saw every post (or the drain time is up). A Cove
        // author's own watcher sees its own posts too, and so does a baseline node process
        // (its `sent` line); the in-process baseline's does not.
        let own = if net.own_visible { sends.len() } else { 0 };
        let drain_deadline = Instant::now() + self.drain;
        while net.delivered.load(Ordering::Relaxed) < expected + own
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = workload_start.elapsed();
        let cpu = net.cpu_time()? - cpu_before;
        let driver_cpu = cpu_time()? - driver_cpu_before;
        let peaks = net.peak_rss_bytes()?;
        let in_process = net.pids.is_empty();
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
        let peak: u64 = peaks.iter().sum();
        let peak_max = peaks.iter().copied().max().unwrap_or(0);
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
            peak_rss_mib_max_process: (!in_process).then_some(peak_max as f64 / MIB),
            driver_cpu_s: (!in_process).then_some(driver_cpu.as_secs_f64()),
        })
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The anti-entropy interval of [`Scenario::gossip_only`]: longer than any run.
const NO_ANTI_ENTROPY: Duration = Duration::from_secs(3600);

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
    /// CPU time (user + system) over workload and drain: of this process, or in process mode
    /// the sum over the node processes (the driver's own is [`Report::driver_cpu_s`]).
    pub cpu_s: f64,
    /// `cpu_s` per delivery, in microseconds.
    pub cpu_us_per_delivery: f64,
    /// CPU seconds per second the connected network used before the workload (all nodes).
    pub idle_cpu_per_s: f64,
    /// `cpu_s` minus the idle rate over the same time, per delivery, in microseconds: the
    /// cost of the workload itself.
    pub net_cpu_us_per_delivery: f64,
    /// Peak RSS of the whole process (`VmHWM`), or in process mode the sum of the node
    /// processes' peaks.
    pub peak_rss_mib_total: f64,
    /// `peak_rss_mib_total / nodes`.
    pub peak_rss_mib_per_node: f64,
    /// Process mode: the largest peak RSS of one node process.
    pub peak_rss_mib_max_process: Option<f64>,
    /// Process mode: CPU time of this (driving and recording) process over workload and
    /// drain, not counted in `cpu_s`.
    pub driver_cpu_s: Option<f64>,
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
    /// Whether an author's recorder sees its own messages (the start of propagation).
    own_visible: bool,
    /// The node processes (empty when the nodes run in this process).
    pids: Vec<u32>,
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
    CoveProcesses {
        nodes: Vec<UpProcess>,
        _root: TempDir,
    },
    BaselineProcesses {
        nodes: Vec<BaselineProcess>,
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

/// Waits until each of the `nodes` counts enough group members (see [`peers_needed`]), then
/// until their connections settle. `counts(i)` asks node `i` for its (group members,
/// connections).
async fn wait_until_meshed<F, Fut>(nodes: usize, counts: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(usize, usize)>>,
{
    let deadline = Instant::now() + SETUP_PATIENCE;
    let counts = &counts;
    wait_for_members(
        peers_needed(nodes),
        deadline,
        (0..nodes).map(|i| async move { Ok(counts(i).await?.0) }),
    )
    .await?;
    settle((0..nodes).map(|i| async move { Ok(counts(i).await?.1) })).await
}

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

/// How long the idle network's CPU use is sampled before the workload, by default (1 s of
/// 10 ms clock ticks: enough to tell an idle network from a busy one).
pub const IDLE_WINDOW: Duration = Duration::from_secs(1);

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
                    // No router port mapping: nothing leaves the machine.
                    upnp: false,
                    ..NodeConfig::new(dir.path())
                }
            };
            config.listen = vec![scenario.transport.listen_addr()];
            if scenario.gossip_only {
                config.sync_interval = NO_ANTI_ENTROPY;
            }
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
                    let uses = scenario.nodes as u32;
                    let ttl = Duration::from_secs(3600);
                    invite = Some(node.invite_for(&group, ttl, uses, Vec::new()).await?);
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
        wait_until_meshed(nodes.len(), |i| {
            let node = &nodes[i];
            async move {
                let peers = node.peers().await?;
                let members = peers.iter().filter(|p| !p.groups.is_empty()).count();
                Ok((members, peers.len()))
            }
        })
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
            own_visible: true,
            pids: Vec::new(),
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
            config.fast_timers = scenario.fast_timers();
            config.flood_publish = scenario.flood_publish;
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
                scenario.baseline_work,
            ));
            nodes.push(gossip);
        }
        wait_until_meshed(nodes.len(), |i| {
            let (node, topic) = (&nodes[i], &topic);
            async move {
                let peers = node.peers().await?;
                let members = peers.iter().filter(|p| p.topics.contains(topic)).count();
                Ok((members, peers.len()))
            }
        })
        .await?;
        Ok(Net {
            stack: Stack::Baseline { nodes, topic },
            delivered,
            stop,
            recorders,
            payload_len: envelope_len(scenario.text_len)?,
            own_visible: false,
            pids: Vec::new(),
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
                Stack::CoveProcesses { nodes, .. } => {
                    Sender::CoveProcess(Client::connect(&nodes[node_index].dir).await?)
                }
                Stack::BaselineProcesses { nodes } => {
                    Sender::BaselineProcess(nodes[node_index].stdin.clone())
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
            Stack::CoveProcesses { nodes, .. } => {
                for node in nodes {
                    node.stop().await;
                }
            }
            Stack::BaselineProcesses { nodes } => {
                for node in nodes {
                    node.stop().await;
                }
            }
        }
        Ok(received)
    }

    /// CPU time so far: of this process, or the sum over the node processes.
    fn cpu_time(&self) -> Result<Duration> {
        if self.pids.is_empty() {
            return cpu_time();
        }
        self.pids
            .iter()
            .map(|pid| cpu_time_of(&pid.to_string()))
            .sum()
    }

    /// Peak RSS in bytes: of this process, or of each node process.
    fn peak_rss_bytes(&self) -> Result<Vec<u64>> {
        if self.pids.is_empty() {
            return Ok(vec![peak_rss_bytes()?]);
        }
        self.pids
            .iter()
            .map(|pid| status_kib_of(&pid.to_string(), "VmHWM:").map(|k| k * 1024))
            .collect()
    }
}

enum Sender {
    Cove(Node, String),
    Baseline(Gossip, String),
    CoveProcess(Client),
    BaselineProcess(Arc<Mutex<ChildStdin>>),
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
            Sender::CoveProcess(client) => {
                let text = filler(author, seq, text_len);
                let id = client
                    .request(&Request::Say {
                        group: None,
                        room: ROOM.into(),
                        text,
                    })
                    .await?;
                id.as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("`say` answered {id}"))
            }
            Sender::BaselineProcess(stdin) => {
                let key = format!("{author}-{seq}");
                let mut stdin = stdin.lock().await;
                stdin
                    .write_all(format!("publish {key}\n").as_bytes())
                    .await?;
                stdin.flush().await?;
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
                    // Only the workload's posts and chat lines: members also sign their
                    // `member` records (PROTOCOL.md §15), which the drain must not count.
                    Ok(signed) if matches!(
                        signed.message.content,
                        Content::Post(_) | Content::Chat(_)
                    ) => {
                        seen.push((signed.message.id.to_string(), Instant::now()));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
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
    work: Duration,
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
                        busy(work);
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        seen
    })
}

/// Keeps this thread busy for `work` (a spin: the thread stays on its core, as a node's
/// verification and store calls do).
fn busy(work: Duration) {
    let until = Instant::now() + work;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Length of the sealed envelope of a post with a `text_len`-byte text, measured by composing
/// one with a throwaway store.
pub fn envelope_len(text_len: usize) -> Result<usize> {
    let (_dir, mut core, group) = throwaway_core()?;
    let now = cove_node::now_ms();
    let (_, envelope) = core.compose_post(&group, None, filler(0, 0, text_len), now)?;
    Ok(envelope.len())
}

/// Length of the sealed envelope of a chat line with a `text_len`-byte text (process mode's
/// workload), measured like [`envelope_len`].
pub fn chat_envelope_len(text_len: usize) -> Result<usize> {
    let (_dir, mut core, group) = throwaway_core()?;
    let now = cove_node::now_ms();
    let room = core.room_content(&group, ROOM)?;
    core.compose(&group, room, now)?;
    let chat = core.chat_content(&group, ROOM, filler(0, 0, text_len))?;
    let (_, envelope) = core.compose(&group, chat, now)?;
    Ok(envelope.len())
}

fn throwaway_core() -> Result<(TempDir, cove_node::core::Core, cove_crypto::GroupId)> {
    let dir = tempfile::tempdir()?;
    let data = DataDir::new(dir.path());
    data.init()?;
    let store = cove_node::store::Store::open(&data.store_path())?;
    let mut core = cove_node::core::Core::new(store, data.load_seed()?)?;
    let group = core.create_group("size", cove_node::now_ms())?;
    Ok((dir, core, group))
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
    cpu_time_of("self")
}

/// CPU time (user + system, all threads) of process `pid` (or `self`) from
/// `/proc/<pid>/stat`.
pub fn cpu_time_of(pid: &str) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
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
    status_kib_of("self", field)
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib_of(pid: &str, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("{field} not in {path}"))?;
    Ok(line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

// ---------------------------------------------------------------------------------------------
// Process mode: one process per node.
// ---------------------------------------------------------------------------------------------

/// The chat room process mode's workload is sent to.
const ROOM: &str = "scenario";

/// Longest wait for a node process to answer (control socket, `listening` line).
const PROCESS_PATIENCE: Duration = Duration::from_secs(30);

/// Longest wait for a node process to exit after it was asked to.
const EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// Microseconds since the Unix epoch on the system clock: the clock every process of a
/// process-mode scenario shares (see [`Placement::Processes`]).
pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Maps [`wall_us`] stamps onto this process's monotonic clock, from one pair of readings.
#[derive(Debug, Clone, Copy)]
struct Clock {
    instant: Instant,
    wall_us: u64,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            instant: Instant::now(),
            wall_us: wall_us(),
        }
    }

    fn instant_of(&self, us: u64) -> Instant {
        if us >= self.wall_us {
            self.instant + Duration::from_micros(us - self.wall_us)
        } else {
            self.instant
                .checked_sub(Duration::from_micros(self.wall_us - us))
                .unwrap_or(self.instant)
        }
    }
}

/// A `cove up` daemon of a process-mode scenario, killed if dropped while running.
struct UpProcess {
    child: Child,
    dir: PathBuf,
}

impl UpProcess {
    /// `cove init` then `cove up` on loopback TCP in `dir`; waits until its control socket
    /// answers. Its log goes to `dir/up.log` (or to `$COVE_SCENARIO_LOG_DIR/<name>.log`).
    async fn start(cove: &Path, dir: PathBuf, gossip_only: bool) -> Result<UpProcess> {
        run_cove(cove, &dir, &["init"]).await?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log_path = match std::env::var_os("COVE_SCENARIO_LOG_DIR") {
            Some(logs) => PathBuf::from(logs).join(format!("{name}.log")),
            None => dir.join("up.log"),
        };
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut child = tokio::process::Command::new(cove)
            .arg("--data-dir")
            .arg(&dir)
            .args(["up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .args(if gossip_only {
                vec![
                    "--sync-interval".to_string(),
                    format!("{}s", NO_ANTI_ENTROPY.as_secs()),
                ]
            } else {
                vec![]
            })
            .env("RUST_LOG", child_log_level())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", cove.display()))?;
        let deadline = Instant::now() + PROCESS_PATIENCE;
        loop {
            if let Ok(client) = Client::connect(&dir).await {
                if client.request(&Request::Status).await.is_ok() {
                    break;
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "cove up in {} exited ({status}): {}",
                    dir.display(),
                    tail(&log_path)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "cove up in {} did not answer within {PROCESS_PATIENCE:?}: {}",
                    dir.display(),
                    tail(&log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(UpProcess { child, dir })
    }

    fn pid(&self) -> Result<u32> {
        self.child.id().context("cove up already exited")
    }

    async fn request(&self, request: Request) -> Result<serde_json::Value> {
        Ok(Client::connect(&self.dir).await?.request(&request).await?)
    }

    /// Asks the node to shut down over its control socket; kills it if it lingers.
    async fn stop(mut self) {
        let _ = self.request(Request::Shutdown).await;
        if tokio::time::timeout(EXIT_PATIENCE, self.child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "scenario: cove up in {} did not exit; killed",
                self.dir.display()
            );
            let _ = self.child.kill().await;
        }
    }
}

/// The level child processes log at: `RUST_LOG` if set, else warnings.
fn child_log_level() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Runs `cove --data-dir DIR ARGS` to completion; returns the last line of its stdout.
async fn run_cove(cove: &Path, dir: &Path, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::from(crate::cove_command(cove, dir, args))
        .output()
        .await
        .with_context(|| format!("running {}", cove.display()))?;
    crate::last_stdout_line(args, out)
}

/// One `scenario baseline-node` process and the ends of its line protocol.
struct BaselineProcess {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    /// Answers to `peers`: (peers on the topic, connected peers).
    peers: Mutex<mpsc::Receiver<(usize, usize)>>,
}

impl BaselineProcess {
    /// Starts the process and reads its `listening ADDR` line; returns it with the address
    /// and the rest of its stdout.
    async fn start(
        program: &Path,
        scenario: &Scenario,
        topic: &str,
        discovery_key: [u8; 32],
        bootstrap: Option<&str>,
        payload_len: usize,
    ) -> Result<(Child, String, tokio::io::Lines<BufReader<ChildStdout>>)> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(["baseline-node", "--topic", topic, "--discovery-key"])
            .arg(hex::encode(discovery_key))
            .args(["--payload-len", &payload_len.to_string()]);
        if let Some(addr) = bootstrap {
            command.args(["--bootstrap", addr]);
        }
        if scenario.fast_timers() {
            command.arg("--fast-timers");
        }
        if scenario.flood_publish {
            command.arg("--flood-publish");
        }
        let mut child = command
            .env("RUST_LOG", child_log_level())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} baseline-node", program.display()))?;
        let stdout = child.stdout.take().context("baseline-node stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(PROCESS_PATIENCE, lines.next_line())
            .await
            .context("baseline-node did not say where it listens")??
            .context("baseline-node exited before listening")?;
        let addr = first
            .strip_prefix("listening ")
            .with_context(|| format!("baseline-node said {first:?}"))?
            .to_owned();
        Ok((child, addr, lines))
    }

    fn pid(&self) -> Result<u32> {
        self.child.id().context("baseline-node already exited")
    }

    async fn peer_counts(&self) -> Result<(usize, usize)> {
        let mut replies = self.peers.lock().await;
        {
            let mut stdin = self.stdin.lock().await;
            stdin.write_all(b"peers\n").await?;
            stdin.flush().await?;
        }
        tokio::time::timeout(PROCESS_PATIENCE, replies.recv())
            .await
            .context("baseline-node did not answer `peers`")?
            .context("baseline-node exited")
    }

    /// Closes its stdin (the node shuts down and exits); kills it if it lingers.
    async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(EXIT_PATIENCE, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("scenario: a baseline node did not exit; killed");
            let _ = self.child.kill().await;
        }
    }
}

/// Reads a baseline node's `sent`/`delivered`/`peers` lines until it exits or `stop`.
fn spawn_baseline_process_recorder(
    mut lines: tokio::io::Lines<BufReader<ChildStdout>>,
    peers: mpsc::Sender<(usize, usize)>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicUsize>,
) -> JoinHandle<Deliveries> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let line = tokio::select! {
                biased;
                _ = stop.changed() => break,
                line = lines.next_line() => match line {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(_) => break,
                },
            };
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("sent" | "delivered"), Some(key), Some(us)) => {
                    let Ok(us) = us.parse::<u64>() else {
                        eprintln!("scenario: baseline node said {line:?}");
                        continue;
                    };
                    seen.push((key.to_owned(), clock.instant_of(us)));
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                (Some("peers"), Some(topic), Some(all)) => {
                    if let (Ok(topic), Ok(all)) = (topic.parse(), all.parse()) {
                        let _ = peers.send((topic, all)).await;
                    }
                }
                _ => eprintln!("scenario: baseline node said {line:?}"),
            }
        }
        seen
    })
}

/// Records a `cove up` node's chat lines through its control socket's `watch` request.
/// Returns the recorder and a receiver that turns true once the watch is in place.
fn spawn_cove_process_recorder(
    client: Client,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicUsize>,
) -> (JoinHandle<Deliveries>, watch::Receiver<bool>) {
    let (ready_tx, ready) = watch::channel(false);
    let recorder = tokio::spawn(async move {
        let mut seen = Vec::new();
        let result = client
            .watch(
                None,
                ROOM.into(),
                |event| {
                    let at = Instant::now();
                    if let Some(id) = event.get("id").and_then(|id| id.as_str()) {
                        seen.push((id.to_owned(), at));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    } else if event.get("watching").is_some() {
                        let _ = ready_tx.send(true);
                    } else if let Some(missed) = event.get("missed") {
                        // Shows as missing deliveries in the report.
                        eprintln!("scenario: a node's watch missed {missed} lines");
                    }
                },
                async move {
                    let _ = stop.changed().await;
                },
            )
            .await;
        if let Err(e) = result {
            eprintln!("scenario: a watch ended: {e}");
        }
        seen
    });
    (recorder, ready)
}

impl Net {
    /// N `cove up` processes; see [`Placement::Processes`].
    async fn cove_processes(scenario: &Scenario, programs: &Programs) -> Result<Net> {
        let (stop, _) = watch::channel(false);
        let delivered = Arc::new(AtomicUsize::new(0));
        let root = tempfile::Builder::new().prefix("cove-scenario").tempdir()?;
        let mut starting = tokio::task::JoinSet::new();
        for i in 0..scenario.nodes {
            let (cove, dir) = (
                programs.cove.clone(),
                root.path().join(format!("node-{i:03}")),
            );
            let gossip_only = scenario.gossip_only;
            starting.spawn(async move { (i, UpProcess::start(&cove, dir, gossip_only).await) });
        }
        let mut nodes: Vec<Option<UpProcess>> = (0..scenario.nodes).map(|_| None).collect();
        while let Some(started) = starting.join_next().await {
            let (i, node) = started?;
            nodes[i] = Some(node.with_context(|| format!("node {i}"))?);
        }
        let nodes: Vec<UpProcess> = nodes.into_iter().flatten().collect();

        // The founder: group, room (before anyone joins, so that joiners get it with the
        // history their first sync session fetches), invite.
        let founder = &nodes[0];
        // From JSON, so that the charter's optional fields keep their defaults.
        let create: Request =
            serde_json::from_value(serde_json::json!({"cmd": "create_group", "name": "scenario"}))?;
        let group = founder.request(create).await?;
        let group = group.as_str().context("group id")?.to_owned();
        founder
            .request(Request::RoomCreate {
                group: Some(group.clone()),
                name: ROOM.into(),
            })
            .await?;
        let invite = founder
            .request(Request::Invite {
                group: group.clone(),
                ttl_secs: 3600,
                uses: nodes.len() as u32,
                addrs: Vec::new(),
            })
            .await?;
        let invite = invite.as_str().context("invite")?.to_owned();
        for (i, node) in nodes.iter().enumerate().skip(1) {
            run_cove(&programs.cove, &node.dir, &["join", &invite])
                .await
                .with_context(|| format!("node {i} joins"))?;
        }

        let deadline = Instant::now() + SETUP_PATIENCE;
        wait_until_meshed(nodes.len(), |i| {
            let dir = &nodes[i].dir;
            async move {
                let peers = Client::connect(dir).await?.request(&Request::Peers).await?;
                let peers: Vec<PeerSummary> = serde_json::from_value(peers)?;
                let members = peers.iter().filter(|p| !p.groups.is_empty()).count();
                Ok((members, peers.len()))
            }
        })
        .await?;

        // Every node must know the room before it can watch it.
        for (i, node) in nodes.iter().enumerate() {
            loop {
                let known = node
                    .request(Request::ResolveRoom {
                        group: None,
                        room: ROOM.into(),
                    })
                    .await;
                match known {
                    Ok(_) => break,
                    Err(e) if Instant::now() > deadline => {
                        bail!("node {i} does not know the room: {e}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        let mut recorders = Vec::with_capacity(nodes.len());
        let mut ready = Vec::with_capacity(nodes.len());
        for node in &nodes {
            let client = Client::connect(&node.dir).await?;
            let (recorder, watching) =
                spawn_cove_process_recorder(client, stop.subscribe(), delivered.clone());
            recorders.push(recorder);
            ready.push(watching);
        }
        for (i, mut watching) in ready.into_iter().enumerate() {
            tokio::time::timeout(PROCESS_PATIENCE, watching.wait_for(|on| *on))
                .await
                .with_context(|| format!("node {i} did not start watching"))?
                .with_context(|| format!("node {i}'s watch ended"))?;
        }
        let pids = nodes.iter().map(UpProcess::pid).collect::<Result<_>>()?;
        Ok(Net {
            stack: Stack::CoveProcesses { nodes, _root: root },
            delivered,
            stop,
            recorders,
            payload_len: chat_envelope_len(scenario.text_len)?,
            own_visible: true,
            pids,
        })
    }

    /// N `baseline-node` processes; see [`Placement::Processes`].
    async fn baseline_processes(scenario: &Scenario, programs: &Programs) -> Result<Net> {
        let (stop, _) = watch::channel(false);
        let delivered = Arc::new(AtomicUsize::new(0));
        let topic = hex::encode(random_key());
        let discovery_key = random_key();
        let payload_len = chat_envelope_len(scenario.text_len)?;
        let clock = Clock::now();
        let mut nodes = Vec::with_capacity(scenario.nodes);
        let mut recorders = Vec::with_capacity(scenario.nodes);
        let mut bootstrap = None;
        for _ in 0..scenario.nodes {
            let (child, addr, lines) = BaselineProcess::start(
                &programs.baseline,
                scenario,
                &topic,
                discovery_key,
                bootstrap.as_deref(),
                payload_len,
            )
            .await?;
            bootstrap.get_or_insert(addr);
            let (peers_tx, peers_rx) = mpsc::channel(1);
            recorders.push(spawn_baseline_process_recorder(
                lines,
                peers_tx,
                clock,
                stop.subscribe(),
                delivered.clone(),
            ));
            let mut child = child;
            let stdin = child.stdin.take().context("baseline-node stdin")?;
            nodes.push(BaselineProcess {
                child,
                stdin: Arc::new(Mutex::new(stdin)),
                peers: Mutex::new(peers_rx),
            });
        }
        wait_until_meshed(nodes.len(), |i| nodes[i].peer_counts()).await?;
        let pids = nodes
            .iter()
            .map(BaselineProcess::pid)
            .collect::<Result<_>>()?;
        Ok(Net {
            stack: Stack::BaselineProcesses { nodes },
            delivered,
            stop,
            recorders,
            payload_len,
            own_visible: true,
            pids,
        })
    }
}

/// What one `scenario baseline-node` process runs: see [`run_baseline_node`].
#[derive(Debug, Clone)]
pub struct BaselineNode {
    /// The gossipsub topic.
    pub topic: String,
    /// The DHT key under which the topic's members find each other.
    pub discovery_key: [u8; 32],
    /// Where to join (none for the first node).
    pub bootstrap: Vec<Multiaddr>,
    /// Bytes per published message.
    pub payload_len: usize,
    /// The gossip layer's `fast_timers` timers.
    pub fast_timers: bool,
    /// See [`Scenario::flood_publish`].
    pub flood_publish: bool,
}

/// Runs one bare gossipsub node on loopback TCP with the same config knobs as the in-process
/// baseline, and speaks a line protocol on stdin and stdout until stdin closes:
///
/// ```text
/// stdout  listening <multiaddr>        once, first
/// stdin   publish <key>                publish a payload of payload_len bytes that starts
///                                      with <key>, NUL-terminated
/// stdout  sent <key> <µs>              stamped just before the publish
/// stdout  delivered <key> <µs>         stamped when gossipsub hands the message over (it is
///                                      then accepted at once, as in the in-process baseline)
/// stdin   peers
/// stdout  peers <on the topic> <connected>
/// ```
///
/// Stamps are [`wall_us`]: microseconds since the Unix epoch, the clock all processes share.
pub async fn run_baseline_node(node: BaselineNode) -> Result<()> {
    let mut config = cove_gossip::Config::new(Keypair::generate_ed25519());
    config.listen = vec![Transport::Tcp.listen_addr()];
    config.bootstrap = node.bootstrap;
    config.mdns = false;
    config.fast_timers = node.fast_timers;
    config.flood_publish = node.flood_publish;
    config.max_message_size = cove_node::core::MAX_ENVELOPE_BYTES + 1024;
    let (gossip, mut events) = Gossip::spawn(config).await?;
    gossip.subscribe(&node.topic, node.discovery_key).await?;
    let addr = gossip
        .listen_addrs()
        .await?
        .into_iter()
        .next()
        .context("not listening")?;
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    out.write_all(format!("listening {addr}\n").as_bytes())
        .await?;
    out.flush().await?;
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            biased;
            command = commands.next_line() => {
                let Some(command) = command? else { break };
                let mut words = command.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("publish"), Some(key)) => {
                        let mut payload = filler(0, 0, node.payload_len).into_bytes();
                        if key.len() >= payload.len() {
                            bail!("key {key:?} does not fit a {}-byte payload", payload.len());
                        }
                        payload[..key.len()].copy_from_slice(key.as_bytes());
                        payload[key.len()] = 0;
                        let at = wall_us();
                        gossip.publish(&node.topic, payload).await?;
                        out.write_all(format!("sent {key} {at}\n").as_bytes()).await?;
                    }
                    (Some("peers"), None) => {
                        let peers = gossip.peers().await?;
                        let on_topic = peers.iter().filter(|p| p.topics.contains(&node.topic)).count();
                        out.write_all(format!("peers {on_topic} {}\n", peers.len()).as_bytes()).await?;
                    }
                    _ => bail!("unknown command {command:?}"),
                }
            }
            event = events.recv() => match event {
                Some(Event::Message { id, source, data, .. }) => {
                    let at = wall_us();
                    let end = data.iter().position(|&b| b == 0).unwrap_or(0);
                    let key = String::from_utf8_lossy(&data[..end]).into_owned();
                    gossip.report(id, source, Verdict::Accept).await?;
                    out.write_all(format!("delivered {key} {at}\n").as_bytes()).await?;
                }
                Some(_) => {}
                None => break,
            },
        }
        out.flush().await?;
    }
    let _ = gossip.shutdown().await;
    Ok(())
}
