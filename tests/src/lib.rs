//! Helpers for Cove's multi-node tests: start named in-process nodes on loopback, wait for
//! conditions without assuming timings, and drive real `cove` processes.
#![deny(missing_docs)]

pub mod perf;
pub mod scenario;
pub mod sim;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cove_node::data_dir::DataDir;
use cove_node::outsider::Outsider;
use cove_node::{Node, NodeConfig};
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
        Ok(TestNode { name, node, dir })
    }
}

impl TestNode {
    /// Stops the node (if it still runs) and starts it again on the same data dir: same
    /// seed, peer id and store.
    pub async fn restart(&mut self) -> Result<()> {
        match self.node.shutdown().await {
            Ok(()) | Err(cove_node::NodeError::Stopped) => {}
            Err(e) => return Err(e.into()),
        }
        self.node = Node::start(NodeConfig::loopback(self.dir.path())).await?;
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
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if start.elapsed() > PATIENCE {
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

/// Three connected members of one group.
#[derive(Debug)]
pub struct Club {
    /// The founder.
    pub ant: TestNode,
    /// A member.
    pub bat: TestNode,
    /// Another member.
    pub cat: TestNode,
    /// The group id.
    pub group: String,
    /// The invite bat and cat joined with (valid for an hour).
    pub invite: String,
    /// The group's gossip topic.
    pub topic: String,
}

/// ant founds "club"; bat and cat join through one invite; returns once each of the three
/// is connected to the other two.
pub async fn club() -> Result<Club> {
    let ant = TestNode::start("ant").await?;
    let bat = TestNode::start("bat").await?;
    let cat = TestNode::start("cat").await?;
    let group = ant.create_group("club").await?.to_string();
    let invite = ant.invite(&group, Duration::from_secs(3600)).await?;
    bat.join(&invite).await?;
    cat.join(&invite).await?;
    for node in [&ant, &bat, &cat] {
        wait_for_peers(node, 2).await?;
    }
    let topic = ant.groups().await?.remove(0).topic;
    Ok(Club {
        ant,
        bat,
        cat,
        group,
        invite,
        topic,
    })
}

/// Names for the members of a [`crowd`], in joining order; ant founds the group.
pub const NAMES: [&str; 20] = [
    "ant", "bat", "cat", "dan", "eve", "fox", "gnu", "hen", "ibis", "jay", "kit", "lynx", "mole",
    "newt", "owl", "pig", "quail", "rat", "seal", "toad",
];

/// Members of one group: see [`crowd`].
#[derive(Debug)]
pub struct Crowd {
    /// The members, named from [`NAMES`]; the first founded the group.
    pub members: Vec<TestNode>,
    /// The group id.
    pub group: String,
    /// The group's gossip topic.
    pub topic: String,
}

/// `n` (at most 20) in-process members of one group "crowd", all on 127.0.0.1 (one address,
/// as behind an office NAT), each configured by `configure`; the first founds the group, the
/// others join through one invite. Returns once every member has `min(n - 1, 6)` members
/// (gossipsub's mesh size) on the group's topic.
pub async fn crowd(n: usize, configure: impl Fn(&mut NodeConfig)) -> Result<Crowd> {
    anyhow::ensure!(
        (2..=NAMES.len()).contains(&n),
        "a crowd has 2 to 20 members"
    );
    let mut members = Vec::with_capacity(n);
    for name in &NAMES[..n] {
        members.push(TestNode::start_with(name, &configure).await?);
    }
    let group = members[0].create_group("crowd").await?.to_string();
    let invite = members[0].invite(&group, Duration::from_secs(3600)).await?;
    for member in &members[1..] {
        member.join(&invite).await?;
    }
    let wanted = (n - 1).min(6);
    for member in &members {
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
    let topic = members[0].groups().await?.remove(0).topic;
    Ok(Crowd {
        members,
        group,
        topic,
    })
}

/// A fresh attacker: a non-member gossip node (a new peer id) on 127.0.0.1, connected to
/// `member` and subscribed to `topic`.
pub async fn attacker(member: &TestNode, topic: &str) -> Result<Outsider> {
    let addr = member.status().await?.listen_addrs[0].parse()?;
    let outsider = Outsider::start(topic, addr).await?;
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
    let mut command = std::process::Command::new(bin);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
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
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cove_command(&cove_bin()?, data_dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("cove's stdin")?;
    stdin.write_all(input)?;
    drop(stdin);
    Ok(child.wait_with_output()?)
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
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("up.log"))?;
        let child = std::process::Command::new(cove_bin()?)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["up", "--no-mdns", "--sync-interval", "1s"])
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
