//! Helpers for Cove's multi-node tests: start named in-process nodes on loopback, wait for
//! conditions without assuming timings, and drive real `cove` processes.
//!
//! A test of in-process members is a [`Club`]: it names its members, says how far the club
//! is built before the test runs ([`Ready`]), and runs under [`TEST_TIMEOUT`]; every member
//! is stopped at the end, also when the test fails. Any other async test runs [`within`] its
//! time limit.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use cove_tests::{wait_for_feed, Club, Ready};
//! // Scenario: bat joins ant's group; ant posts. Assert: bat sees the post.
//! let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
//! club.run(async |club| {
//!     let [ant, bat] = club.members();
//!     ant.post(&club.group, None, "hi").await?;
//!     assert_eq!(wait_for_feed(bat, &club.group, 1).await?, ["hi"]);
//!     Ok(())
//! })
//! .await
//! # }
//! ```
#![deny(missing_docs)]

pub mod netns;
pub mod perf;
pub mod scenario;
pub mod sim;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cove_node::data_dir::DataDir;
use cove_node::message::Policy;
use cove_node::outsider::Outsider;
use cove_node::{Node, NodeConfig, NodeError};
use tempfile::TempDir;

/// Upper bound for any one test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound for one condition to become true.
pub const PATIENCE: Duration = Duration::from_secs(45);

/// A named in-process node with its own temporary data dir.
#[derive(Debug)]
pub struct TestNode {
    /// ant, bat, cat...
    pub name: &'static str,
    /// The running node.
    pub node: Node,
    /// Its data dir (removed on drop).
    pub dir: TempDir,
    /// Whether the test stopped the node (with [`TestNode::shutdown`]), so that its
    /// [`Club`] does not stop it again.
    stopped: AtomicBool,
}

impl TestNode {
    /// Initialises a data dir and starts a loopback node (no mDNS).
    pub async fn start(name: &'static str) -> Result<TestNode> {
        Self::start_with(name, |_| {}).await
    }

    /// [`TestNode::start`] with the loopback configuration changed by `configure`.
    pub async fn start_with(
        name: &'static str,
        configure: impl FnOnce(&mut NodeConfig),
    ) -> Result<TestNode> {
        let dir = tempfile::Builder::new().prefix(name).tempdir()?;
        DataDir::new(dir.path()).init()?;
        let mut config = NodeConfig::loopback(dir.path());
        configure(&mut config);
        let node = Node::start(config).await?;
        Ok(TestNode {
            name,
            node,
            dir,
            stopped: AtomicBool::new(false),
        })
    }
}

impl TestNode {
    /// Stops the node ([`Node::shutdown`]) and remembers that the test did, so that its
    /// [`Club`] leaves it alone at the end.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.stopped.store(true, Ordering::Relaxed);
        self.node.shutdown().await
    }

    /// Stops the node (if it still runs) and starts it again on the same data dir: same
    /// seed, peer id and store.
    pub async fn restart(&mut self) -> Result<()> {
        match self.node.shutdown().await {
            Ok(()) | Err(NodeError::Stopped) => {}
            Err(e) => return Err(e.into()),
        }
        self.node = Node::start(NodeConfig::loopback(self.dir.path())).await?;
        self.stopped.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Ids of the group's feed, in feed order.
    pub async fn feed_ids(&self, group: &str) -> Result<Vec<String>> {
        Ok(self
            .node
            .feed(group, 1000)
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect())
    }
}

impl std::ops::Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

/// Polls `check` until it returns `Some`, or fails after [`PATIENCE`] with `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    eventually_within(PATIENCE, what, check).await
}

/// [`eventually`] with a patience of its own, for what takes several protocol rounds.
pub async fn eventually_within<T, F, Fut>(patience: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if start.elapsed() > patience {
            bail!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `node`'s feed of `group` holds `count` posts; returns their texts, newest first.
pub async fn wait_for_feed(node: &TestNode, group: &str, count: usize) -> Result<Vec<String>> {
    eventually(&format!("{} to see {count} posts", node.name), || async {
        let feed = node.feed(group, 1000).await?;
        Ok((feed.len() >= count).then(|| feed.into_iter().map(|i| i.text).collect()))
    })
    .await
}

/// Waits until `node` is connected to at least `count` peers.
pub async fn wait_for_peers(node: &TestNode, count: usize) -> Result<()> {
    eventually(
        &format!("{} to connect to {count} peers", node.name),
        || async { Ok((node.peers().await?.len() >= count).then_some(())) },
    )
    .await
}

/// Runs `test` under `limit`, the wrapper of every async test that is not a [`Club`]'s:
/// `within(TEST_TIMEOUT, async { ... }).await`.
pub async fn within<T>(limit: Duration, test: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, test)
        .await
        .context("test timed out")?
}

/// Names for the members of a large [`Club`], in joining order (`Club::of(NAMES)`).
pub const NAMES: [&str; 20] = [
    "ant", "bat", "cat", "dan", "eve", "fox", "gnu", "hen", "ibis", "jay", "kit", "lynx", "mole",
    "newt", "owl", "pig", "quail", "rat", "seal", "toad",
];

/// How long a club's members get to stop once its test is over, when the test used up its
/// own time (a test that timed out still stops its members).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How far [`Club::of`] takes a club before the test runs. `Joined` includes `Founded`;
/// `Connected` and `Mesh` include `Joined`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ready {
    /// Every member runs; the first founded the group "club" and made the invite. Nobody
    /// joined: the test joins members itself (late joiners, invites from another member).
    Founded,
    /// Every other member joined through the invite; no connection is waited for.
    Joined,
    /// Every member is connected to every other (the default).
    Connected,
    /// Every member has `min(N - 1, 6)` members (gossipsub's mesh size) on the group's
    /// topic: for large clubs, where not everyone connects to everyone.
    Mesh,
}

/// What [`Club::of`] returns: how to start the club, then [`ClubBuilder::run`] or
/// [`ClubBuilder::start`].
pub struct ClubBuilder<const N: usize> {
    names: [&'static str; N],
    ready: Ready,
    limit: Duration,
    policy: Policy,
    configure: Configure,
}

/// Changes a member's configuration, given the member's name.
type Configure = Box<dyn Fn(&str, &mut NodeConfig)>;

impl<const N: usize> std::fmt::Debug for ClubBuilder<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClubBuilder")
            .field("names", &self.names)
            .field("ready", &self.ready)
            .field("limit", &self.limit)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> ClubBuilder<N> {
    /// Returns to the test once the club reached `stage` (default [`Ready::Connected`]).
    pub fn ready(mut self, stage: Ready) -> Self {
        self.ready = stage;
        self
    }

    /// The test's time limit, from the first member's start to the end of the test, its
    /// members' stop included unless the test ran out of time (default [`TEST_TIMEOUT`]).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The group's charter policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Changes each member's loopback configuration (called with the member's name), as
    /// [`TestNode::start_with`] does.
    pub fn configure(mut self, configure: impl Fn(&str, &mut NodeConfig) + 'static) -> Self {
        self.configure = Box::new(configure);
        self
    }

    /// Starts the club and runs `test` on it under the time limit, then stops every member
    /// the test did not stop itself, whatever the test's outcome. The test's error (or
    /// panic, or timeout) is reported first; otherwise the first member that failed to stop.
    /// (A club that is not ready within the limit is dropped, not stopped: its nodes stop as
    /// their handles drop.)
    pub async fn run<T>(self, test: impl AsyncFnOnce(&Club<N>) -> Result<T>) -> Result<T> {
        let deadline = tokio::time::Instant::now() + self.limit;
        let club = tokio::time::timeout_at(deadline, self.start())
            .await
            .context("test timed out")??;
        // A panic (a failed assert!) is caught so that the members stop before it goes on.
        let outcome = tokio::time::timeout_at(deadline, CatchUnwind(Box::pin(test(&club)))).await;
        let stop_by = deadline.max(tokio::time::Instant::now() + STOP_GRACE);
        let stopped = match tokio::time::timeout_at(stop_by, club.shutdown()).await {
            Ok(stopped) => stopped,
            Err(_) => Err(anyhow::anyhow!("the club's members did not stop in time")),
        };
        let outcome = match outcome {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => {
                if let Err(e) = stopped {
                    eprintln!("after the test panicked, stopping the club failed: {e:#}");
                }
                std::panic::resume_unwind(panic)
            }
            Err(elapsed) => Err(anyhow::Error::new(elapsed).context("test timed out")),
        };
        match (outcome, stopped) {
            (Ok(value), stopped) => stopped.map(|()| value),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(stop)) => {
                eprintln!("after the test failed, stopping the club failed: {stop:#}");
                Err(e)
            }
        }
    }

    /// Starts the club without a time limit; the caller stops it with [`Club::shutdown`].
    /// If a stage fails, the members started so far are stopped before the error returns.
    pub async fn start(self) -> Result<Club<N>> {
        let mut members = Vec::with_capacity(N);
        for name in self.names {
            match TestNode::start_with(name, |config| (self.configure)(name, config)).await {
                Ok(member) => members.push(member),
                Err(e) => {
                    stop_all(&members).await.ok();
                    return Err(e.context(format!("starting {name}")));
                }
            }
        }
        let members: [TestNode; N] = match members.try_into() {
            Ok(members) => members,
            Err(_) => unreachable!("one member per name"),
        };
        let (group, invite, topic) = match gather(&members, self.ready, self.policy).await {
            Ok(facts) => facts,
            Err(e) => {
                stop_all(&members).await.ok();
                return Err(e);
            }
        };
        Ok(Club {
            members,
            group,
            invite,
            topic,
        })
    }
}

/// How many members a club's invite ticket admits.
pub const CLUB_INVITE_USES: u32 = 64;

/// The first member founds "club" and makes the invite; the others join and connect, as far
/// as `ready` asks. Returns the group id, the invite and the topic.
async fn gather(
    members: &[TestNode],
    ready: Ready,
    policy: Policy,
) -> Result<(String, String, String)> {
    let founder = members.first().context("a club has at least one member")?;
    let group = founder.create_group_with("club", policy).await?.to_string();
    // One ticket for the club and the late joiners a test adds (PROTOCOL.md §17).
    let invite = founder
        .invite_for(
            &group,
            Duration::from_secs(3600),
            CLUB_INVITE_USES,
            Vec::new(),
        )
        .await?;
    let topic = founder.groups().await?.remove(0).topic;
    if ready >= Ready::Joined {
        for member in &members[1..] {
            member.join(&invite).await?;
        }
    }
    let others = members.len() - 1;
    if ready == Ready::Connected {
        for member in members {
            wait_for_peers(member, others).await?;
        }
    }
    if ready == Ready::Mesh {
        let wanted = others.min(6);
        for member in members {
            eventually(
                &format!("{} to have {wanted} members on the topic", member.name),
                || async {
                    let status = member.status().await?;
                    let connected = status
                        .group_health
                        .first()
                        .map_or(0, |h| h.members_connected);
                    Ok((connected >= wanted).then_some(()))
                },
            )
            .await?;
        }
    }
    Ok((group, invite, topic))
}

/// Stops every member the test has not stopped; the first error, naming the member.
async fn stop_all(members: &[TestNode]) -> Result<()> {
    let mut first = None;
    for member in members {
        if member.stopped.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(e) = member.shutdown().await {
            first.get_or_insert(anyhow::Error::new(e).context(format!("stopping {}", member.name)));
        }
    }
    first.map_or(Ok(()), Err)
}

/// A future whose panic is returned as a value, so that cleanup can run before it goes on.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// `N` named in-process members of one group "club", all on 127.0.0.1 (one address, as
/// behind an office NAT), each with its own data dir; the first founded the group. Built by
/// [`Club::of`]; index it by position (`club[1]`) or name (`club["bat"]`).
#[derive(Debug)]
pub struct Club<const N: usize> {
    members: [TestNode; N],
    /// The group id.
    pub group: String,
    /// The invite ticket the members joined with (valid for an hour, for up to
    /// [`CLUB_INVITE_USES`] members).
    pub invite: String,
    /// The group's gossip topic.
    pub topic: String,
}

// `of` lives on one instance of `Club` only, so that `Club::of` needs no `::<N>`: `N` comes
// from the names.
impl Club<0> {
    /// A club of one member per name, the first the founder: `Club::of(["ant", "bat"])`.
    pub fn of<const N: usize>(names: [&'static str; N]) -> ClubBuilder<N> {
        ClubBuilder {
            names,
            ready: Ready::Connected,
            limit: TEST_TIMEOUT,
            policy: Policy::default(),
            configure: Box::new(|_, _| {}),
        }
    }
}

impl<const N: usize> Club<N> {
    /// Every member, in the order of [`Club::of`]: `let [ant, bat, cat] = club.members();`.
    pub fn members(&self) -> &[TestNode; N] {
        &self.members
    }

    /// The group's keys as a newcomer receives them ([`admitted_keys`] from the founder): for
    /// tests that play a member gone bad with its own software.
    pub async fn keys(&self) -> Result<cove_crypto::Invite> {
        admitted_keys(&self.members[0], &self.group).await
    }

    /// Stops every member the test has not stopped itself (with [`TestNode::shutdown`]), even
    /// after one fails; returns the first failure.
    pub async fn shutdown(self) -> Result<()> {
        stop_all(&self.members).await
    }
}

impl<const N: usize> std::ops::Index<usize> for Club<N> {
    type Output = TestNode;
    fn index(&self, position: usize) -> &TestNode {
        &self.members[position]
    }
}

impl<const N: usize> std::ops::Index<&str> for Club<N> {
    type Output = TestNode;
    fn index(&self, name: &str) -> &TestNode {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member named {name} in this club"))
    }
}

/// The keys of `member`'s group as a newcomer receives them: a throwaway member (fresh seed
/// and device key) is admitted with a fresh single-use ticket from `member` (PROTOCOL.md §17)
/// and its welcome is returned, opened, as an open invite. For tests that sign messages a
/// member's own node refuses to sign.
pub async fn admitted_keys(member: &TestNode, group: &str) -> Result<cove_crypto::Invite> {
    use cove_crypto::{AnyInvite, DeviceKey, MasterSeed};
    use cove_node::admission;
    let text = member.invite(group, Duration::from_secs(60)).await?;
    let AnyInvite::Ticket(ticket) = AnyInvite::decode(&text, cove_node::now_ms() / 1000)? else {
        bail!("{} made an open invite, not a ticket", member.name);
    };
    let newcomer =
        cove_node::core::Core::new(cove_node::store::Store::memory(), MasterSeed::generate())?;
    let config = admission::config(&DeviceKey::from_bytes([0x5a; 32]), &ticket);
    let welcome = admission::ask(config, &ticket, &newcomer.admission_request(&ticket)).await?;
    Ok(newcomer.open_welcome(&ticket, &welcome)?)
}

/// The network key (private-network PSK, PROTOCOL.md §10) of `member`'s group on `topic`,
/// taken from an invite it mints: what a peer needs to reach the gossip layer at all.
pub async fn network_key(member: &TestNode, topic: &str) -> Result<[u8; 32]> {
    let group = member
        .groups()
        .await?
        .into_iter()
        .find(|g| g.topic == topic)
        .context("the member is not in a group on that topic")?;
    Ok(*member.network_key(&group.id).await?.as_bytes())
}

/// A fresh attacker: a non-member gossip node (a new peer id) on 127.0.0.1 inside the group's
/// private network (it holds the network key, not the invite), connected to `member` and
/// subscribed to `topic`.
pub async fn attacker(member: &TestNode, topic: &str) -> Result<Outsider> {
    let addr = member.status().await?.listen_addrs[0].parse()?;
    let outsider = Outsider::inside(network_key(member, topic).await?, topic, addr).await?;
    eventually("the attacker to connect", || async {
        Ok((!outsider.peers().await?.is_empty()).then_some(()))
    })
    .await?;
    Ok(outsider)
}

/// Publishes `payload` from `attacker` once a member's subscription has reached it.
pub async fn inject(attacker: &Outsider, topic: &str, payload: Vec<u8>) -> Result<()> {
    eventually("the attacker to see a member on the topic", || async {
        Ok(matches!(
            attacker.publish(topic, payload.clone()).await?,
            cove_gossip::Published::Sent
        )
        .then_some(()))
    })
    .await
}

/// How many messages `node` refused for `reason` (a counter of `status`).
pub async fn rejected(node: &TestNode, reason: &str) -> Result<u64> {
    Ok(node
        .status()
        .await?
        .rejected
        .get(reason)
        .copied()
        .unwrap_or(0))
}

/// Path of the `cove` binary built next to this test binary (`cargo test --workspace` builds
/// it because `cli/` has integration tests).
pub fn cove_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary has no target dir")?;
    let bin = profile_dir.join("cove");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo test --workspace` (or `cargo build -p cove-cli`) first",
            bin.display()
        );
    }
    Ok(bin)
}

/// `BIN --data-dir DIR ARGS...` with warnings-only logs and stdin closed.
pub fn cove_command(bin: &Path, data_dir: &Path, args: &[&str]) -> std::process::Command {
    with_cove_args(std::process::Command::new(bin), data_dir, args)
}

/// `command` (the `cove` binary, or a wrapper running it) given `--data-dir DIR ARGS...`,
/// warnings-only logs and stdin closed.
fn with_cove_args(
    mut command: std::process::Command,
    data_dir: &Path,
    args: &[&str],
) -> std::process::Command {
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        // No test opens a browser on the developer's desktop (`cove web`).
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::null());
    command
}

/// Runs `cove --data-dir DIR ARGS...` to completion.
pub fn cove(data_dir: &Path, args: &[&str]) -> Result<Output> {
    Ok(cove_command(&cove_bin()?, data_dir, args).output()?)
}

/// Runs `cove --data-dir DIR ARGS...` to completion with `input` on its stdin (a pipe, not a
/// terminal), the way a secret is handed over: `cove join < invite.txt`.
pub fn cove_with_stdin(data_dir: &Path, args: &[&str], input: &[u8]) -> Result<Output> {
    with_stdin(cove_command(&cove_bin()?, data_dir, args), input)
}

/// Like [`cove_with_stdin`], inside the network namespace `netns` (`ip netns exec`): for
/// commands that reach the network themselves, such as `cove join`, which asks a member
/// listed in the invite to admit the newcomer.
pub fn cove_with_stdin_in(
    netns: &str,
    data_dir: &Path,
    args: &[&str],
    input: &[u8],
) -> Result<Output> {
    let mut command = std::process::Command::new("ip");
    command.args(["netns", "exec", netns]).arg(cove_bin()?);
    with_stdin(with_cove_args(command, data_dir, args), input)
}

/// Runs `command` to completion with `input` on its stdin.
fn with_stdin(mut command: std::process::Command, input: &[u8]) -> Result<Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("cove's stdin")?;
    stdin.write_all(input)?;
    drop(stdin);
    Ok(child.wait_with_output()?)
}

/// Runs `cove --json --data-dir DIR ARGS...`, which must succeed, and parses its stdout.
pub fn cove_json(data_dir: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cove(data_dir, &all)?;
    anyhow::ensure!(
        out.status.success(),
        "cove {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs a `cove` command that must succeed; returns the last line of its stdout.
pub fn cove_ok(data_dir: &Path, args: &[&str]) -> Result<String> {
    last_stdout_line(args, cove(data_dir, args)?)
}

/// The last line of the stdout of `cove ARGS...`, which must have succeeded; otherwise an
/// error with its exit status and stderr.
pub fn last_stdout_line(args: &[&str], out: Output) -> Result<String> {
    if !out.status.success() {
        bail!(
            "cove {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    Ok(stdout.lines().last().unwrap_or_default().to_string())
}

/// A `cove up` process, killed on drop.
#[derive(Debug)]
pub struct CoveProcess {
    /// The child.
    pub child: std::process::Child,
    /// Its data dir.
    pub data_dir: PathBuf,
}

impl CoveProcess {
    /// Starts `cove up` on a random loopback port without mDNS and waits until its control
    /// socket answers.
    pub async fn up(data_dir: &Path) -> Result<CoveProcess> {
        Self::up_on(data_dir, "/ip4/127.0.0.1/tcp/0").await
    }

    /// Like [`CoveProcess::up`], listening on `listen`, with a 1 s anti-entropy interval.
    pub async fn up_on(data_dir: &Path, listen: &str) -> Result<CoveProcess> {
        Self::up_with(data_dir, &["--listen", listen]).await
    }

    /// `cove up --no-mdns --sync-interval 1s ARGS...`, waiting until its control socket
    /// answers; its log goes to `DATA_DIR/up.log`.
    pub async fn up_with(data_dir: &Path, args: &[&str]) -> Result<CoveProcess> {
        Self::spawn(std::process::Command::new(cove_bin()?), data_dir, args).await
    }

    /// Like [`CoveProcess::up_with`], inside the network namespace `netns`
    /// (`ip netns exec NETNS cove ...`; see [`netns`]). The control socket is a file, so the
    /// test talks to the node from outside the namespace.
    pub async fn up_in(netns: &str, data_dir: &Path, args: &[&str]) -> Result<CoveProcess> {
        let mut command = std::process::Command::new("ip");
        command.args(["netns", "exec", netns]).arg(cove_bin()?);
        Self::spawn(command, data_dir, args).await
    }

    async fn spawn(
        mut command: std::process::Command,
        data_dir: &Path,
        args: &[&str],
    ) -> Result<CoveProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("up.log"))?;
        let child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["up", "--no-mdns", "--no-upnp", "--sync-interval", "1s"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        let process = CoveProcess {
            child,
            data_dir: data_dir.to_path_buf(),
        };
        eventually("cove up to answer on its control socket", || async {
            Ok(cove(data_dir, &["status"])?.status.success().then_some(()))
        })
        .await?;
        Ok(process)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for CoveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
