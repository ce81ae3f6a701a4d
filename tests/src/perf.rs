//! Single-node instruments of issue 6: the ingest pipeline against the raw ed25519 limit,
//! and the resources of a node holding many messages.
//!
//! * [`ingest`]: sealed envelopes from several authors go through [`Core::ingest`] (open,
//!   decode, verify, rules, store) on one thread; in the same run, signatures of the same
//!   size are checked with ed25519-dalek's `verify_strict` (what Cove uses), `verify`, and
//!   `verify_batch`. The figures are messages per second per core.
//! * [`fill_data_dir`] + [`start_and_measure`]: a data dir holding `n` messages of a group
//!   (received, as a member receives them), then the time `Node::start` takes and the RSS of
//!   the started node. Run [`start_and_measure`] in a fresh process for a clean RSS.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cove_crypto::invite::Invite;
use cove_node::core::Core;
use cove_node::data_dir::DataDir;
use cove_node::now_ms;
use cove_node::store::Store;
use cove_node::{Node, NodeConfig};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use tempfile::TempDir;

use crate::scenario::{cpu_time, rss_bytes};

/// Ingest throughput against the ed25519 limit, per core.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Messages ingested (and signatures verified by each raw method).
    pub messages: usize,
    /// Sealed envelope bytes per message.
    pub envelope_len: usize,
    /// Full pipeline: messages per CPU-second of the process.
    pub ingest_per_cpu_s: f64,
    /// Full pipeline: messages per wall-clock second.
    pub ingest_per_s: f64,
    /// `verify_strict`, one at a time (what Cove calls): verifications per second.
    pub verify_strict_per_s: f64,
    /// `verify_strict`, one at a time, per CPU-second: the rate to compare CPU-seconds with
    /// on a loaded machine, where a wall-clock rate measures the load.
    pub verify_strict_per_cpu_s: f64,
    /// `ingest_per_cpu_s / verify_strict_per_cpu_s` (issue 14's target: >= 0.5).
    pub ingest_vs_single_cpu: f64,
    /// `verify`, one at a time.
    pub verify_per_s: f64,
    /// `verify_batch` in batches of [`BATCH`]: signatures per second.
    pub verify_batch_per_s: f64,
    /// [`verify_batch_strict`] in batches of [`BATCH`]: signatures per second.
    pub verify_batch_strict_per_s: f64,
    /// The pipeline with `verify_strict` replaced by [`verify_batch_strict`], per CPU-second:
    /// derived as `1 / (1/ingest_per_cpu_s - 1/verify_strict_per_s + 1/verify_batch_strict_per_s)`.
    pub ingest_with_batch_strict_per_cpu_s: f64,
    /// `ingest_per_cpu_s / verify_strict_per_s` (target >= 0.7).
    pub ingest_vs_single: f64,
    /// `ingest_per_cpu_s / verify_batch_per_s`.
    pub ingest_vs_batch: f64,
    /// Bytes the receiver's store directory grew by while taking the messages in (sled's
    /// log and snapshot, after a flush), per message: the write amplification of the layout.
    pub store_bytes_per_message: f64,
    /// The node actor's pipeline ([`ingest_pipelined`]): threads of the runtime (one per
    /// core).
    pub pipelined_threads: usize,
    /// The pipeline: messages per wall-clock second, verification on every core.
    pub pipelined_per_s: f64,
    /// The pipeline: messages per CPU-second of the process.
    pub pipelined_per_cpu_s: f64,
    /// `pipelined_per_s / verify_strict_per_s` (issue 14's target: >= 1.0).
    pub pipelined_vs_single: f64,
}

/// Signatures per `verify_batch` call.
pub const BATCH: usize = 64;

/// `ed25519_dalek::verify_batch` made to accept exactly what `verify_strict` accepts, as Cove
/// must (every node has to agree on every message). Batch verification checks one random
/// combination of the signatures' equations; a signature whose `R` carries a small-order
/// component `T` fails `verify_strict` but passes the batch whenever `z·T = 0` for its
/// coefficient `z` (half the time for `T` of order 2), and dalek derives `z` from the inputs,
/// so an author could grind for it. Hence, per signature: `R` and the key must not be small
/// order (as in `verify_strict`) and must lie in the prime-order subgroup, checked as
/// `[ℓ]P = 0`. Keys are checked once (`checked_keys`); every `R` costs a scalar
/// multiplication.
pub fn verify_batch_strict(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
    checked_keys: &mut std::collections::HashSet<[u8; 32]>,
) -> Result<()> {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::IsIdentity;
    // [ℓ]P as [ℓ-1]P + P, with the variable-time multiplication `verify` itself uses.
    let prime_order = |p: &EdwardsPoint| {
        !p.is_small_order()
            && (EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, p, &Scalar::ZERO)
                + p)
                .is_identity()
    };
    for (signature, key) in signatures.iter().zip(keys) {
        let r = CompressedEdwardsY(*signature.r_bytes())
            .decompress()
            .context("R is not a point")?;
        anyhow::ensure!(prime_order(&r), "R is not in the prime-order subgroup");
        if !checked_keys.contains(key.as_bytes()) {
            let a = CompressedEdwardsY(key.to_bytes())
                .decompress()
                .context("key is not a point")?;
            anyhow::ensure!(prime_order(&a), "key is not in the prime-order subgroup");
            checked_keys.insert(key.to_bytes());
        }
    }
    ed25519_dalek::verify_batch(messages, signatures, keys).context("verify_batch")
}

/// Authors the ingested messages come from.
const AUTHORS: usize = 8;

/// A core in a fresh data dir.
fn core_in(dir: &Path) -> Result<Core> {
    let data = DataDir::new(dir);
    data.init()?;
    let store = Store::open(&data.store_path())?;
    Ok(Core::new(store, data.load_seed()?)?)
}

/// Sealed posts of one group, with what a receiver needs to take them in.
struct Corpus {
    topic: String,
    invite: Invite,
    envelopes: Vec<Vec<u8>>,
    /// The authors' data dirs, removed on drop.
    _dirs: Vec<TempDir>,
}

/// `count` sealed posts of `text_len` bytes from [`AUTHORS`] members of a fresh group.
fn envelopes(count: usize, text_len: usize) -> Result<Corpus> {
    let now = now_ms();
    let mut dirs = Vec::new();
    let founder_dir = tempfile::tempdir()?;
    let mut founder = core_in(founder_dir.path())?;
    let group = founder.create_group("perf", now)?;
    let invite_text = founder.invite(&group, vec![], now / 1000 + 3600)?;
    let invite = Invite::decode(&invite_text, now / 1000)?;
    let topic = founder.group(&group).context("group")?.topic.clone();
    let mut authors = vec![founder];
    dirs.push(founder_dir);
    for _ in 1..AUTHORS {
        let dir = tempfile::tempdir()?;
        let mut core = core_in(dir.path())?;
        core.join(&invite, now)?;
        authors.push(core);
        dirs.push(dir);
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let text = format!("{i:08} {}", "x".repeat(text_len.saturating_sub(9)));
        // Spread created_at over the past so that no rule sees a burst from the future, and
        // each author stays under the default rate limit (100 per 10 s): one every 160 ms.
        let at = now - (count - i) as u64 * 20;
        let (_, envelope) = authors[i % AUTHORS].compose_post(&group, None, text, at)?;
        out.push(envelope);
    }
    Ok(Corpus {
        topic,
        invite,
        envelopes: out,
        _dirs: dirs,
    })
}

/// Measures the ingest pipeline and the raw verify rates on `count` messages.
pub fn ingest(count: usize, text_len: usize) -> Result<IngestReport> {
    let Corpus {
        topic,
        invite,
        envelopes,
        _dirs,
    } = envelopes(count, text_len)?;
    let dir = tempfile::tempdir()?;
    let mut receiver = core_in(dir.path())?;
    receiver.join(&invite, now_ms())?;

    let now = now_ms();
    let store_path = DataDir::new(dir.path()).store_path();
    receiver.store().flush_blocking()?;
    let store_before = dir_bytes(&store_path)?;
    let (wall, cpu) = (Instant::now(), cpu_time()?);
    for (i, envelope) in envelopes.iter().enumerate() {
        // The receiver's clock advances as the authors' did, so that rule 7p (on the
        // receiver's clock) sees each author at the pace it wrote, within the limit.
        receiver
            .ingest(&topic, envelope, now + i as u64 * 20)
            .map_err(|r| anyhow::anyhow!("rejected: {}", r.reason()))?;
    }
    let ingest_wall = wall.elapsed();
    let ingest_cpu = cpu_time()? - cpu;
    receiver.store().flush_blocking()?;
    let store_grown = dir_bytes(&store_path)?.saturating_sub(store_before);
    drop(receiver);

    // The same envelopes into a fresh receiver, as the node's actor takes gossip in.
    let dir = tempfile::tempdir()?;
    let mut receiver = core_in(dir.path())?;
    receiver.join(&invite, now_ms())?;
    let held = stored(&receiver)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (pipelined_wall, pipelined_cpu, receiver) =
        ingest_pipelined(receiver, &topic, envelopes.clone(), threads)?;
    anyhow::ensure!(
        stored(&receiver)? == held + count,
        "the pipeline stored {} messages of {count}",
        stored(&receiver)? - held
    );
    drop(receiver);

    // The raw limit, on signatures over messages of the size Cove signs.
    let keys: Vec<SigningKey> = (0..AUTHORS)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let publics: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let message_len = envelopes[0].len();
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut m = format!("{i:08}").into_bytes();
            m.resize(message_len, b'x');
            m
        })
        .collect();
    let signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % AUTHORS].sign(m))
        .collect();
    let key_of = |i: usize| &publics[i % AUTHORS];

    let (start, start_cpu) = (Instant::now(), cpu_time()?);
    for (i, (m, s)) in messages.iter().zip(&signatures).enumerate() {
        key_of(i).verify_strict(m, s).context("verify_strict")?;
    }
    let strict = start.elapsed();
    let strict_cpu = cpu_time()? - start_cpu;

    let start = Instant::now();
    for (i, (m, s)) in messages.iter().zip(&signatures).enumerate() {
        ed25519_dalek::Verifier::verify(key_of(i), m, s).context("verify")?;
    }
    let plain = start.elapsed();

    let batch_keys: Vec<VerifyingKey> = (0..count).map(|i| *key_of(i)).collect();
    type Verifier<'a> = dyn FnMut(&[&[u8]], &[Signature], &[VerifyingKey]) -> Result<()> + 'a;
    let time_batches = |verify: &mut Verifier| -> Result<Duration> {
        let start = Instant::now();
        for ((m, s), k) in messages
            .chunks(BATCH)
            .zip(signatures.chunks(BATCH))
            .zip(batch_keys.chunks(BATCH))
        {
            let refs: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
            verify(&refs, s, k)?;
        }
        Ok(start.elapsed())
    };
    let batch =
        time_batches(&mut |m, s, k| ed25519_dalek::verify_batch(m, s, k).context("verify_batch"))?;
    let mut checked_keys = std::collections::HashSet::new();
    let batch_strict =
        time_batches(&mut |m, s, k| verify_batch_strict(m, s, k, &mut checked_keys))?;

    let rate = |d: Duration| count as f64 / d.as_secs_f64().max(1e-9);
    let ingest_per_cpu_s = rate(ingest_cpu.max(Duration::from_millis(10)));
    let swapped = 1.0 / ingest_per_cpu_s - 1.0 / rate(strict) + 1.0 / rate(batch_strict);
    Ok(IngestReport {
        messages: count,
        envelope_len: message_len,
        ingest_per_cpu_s,
        ingest_per_s: rate(ingest_wall),
        verify_strict_per_s: rate(strict),
        verify_strict_per_cpu_s: rate(strict_cpu.max(Duration::from_millis(10))),
        ingest_vs_single_cpu: ingest_per_cpu_s / rate(strict_cpu.max(Duration::from_millis(10))),
        verify_per_s: rate(plain),
        verify_batch_per_s: rate(batch),
        verify_batch_strict_per_s: rate(batch_strict),
        ingest_with_batch_strict_per_cpu_s: 1.0 / swapped,
        ingest_vs_single: ingest_per_cpu_s / rate(strict),
        ingest_vs_batch: ingest_per_cpu_s / rate(batch),
        store_bytes_per_message: store_grown as f64 / count as f64,
        pipelined_threads: threads,
        pipelined_per_s: rate(pipelined_wall),
        pipelined_per_cpu_s: rate(pipelined_cpu.max(Duration::from_millis(10))),
        pipelined_vs_single: rate(pipelined_wall) / rate(strict),
    })
}

/// Takes `envelopes` in as the node's actor takes gossip (`node/src/actor/ingest.rs`): each
/// is opened and verified in a task of a runtime of `threads` threads ([`Core::opener`]), at
/// most [`cove_node::OPENING_CAPACITY`] at once, and decided and stored in arrival order by
/// one task ([`Core::admit_opened`], [`Core::commit`]). Returns the wall and CPU time, and
/// the core.
pub fn ingest_pipelined(
    mut core: Core,
    topic: &str,
    envelopes: Vec<Vec<u8>>,
    threads: usize,
) -> Result<(Duration, Duration, Core)> {
    use futures::StreamExt;
    let topic = topic.to_string();
    // A runtime of its own, on a thread of its own (the caller may be inside one).
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<(Duration, Duration, Core)> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .build()?;
                runtime.block_on(async move {
                    let envelopes: Vec<std::sync::Arc<Vec<u8>>> =
                        envelopes.into_iter().map(std::sync::Arc::new).collect();
                    let now = now_ms();
                    let (wall, cpu) = (Instant::now(), cpu_time()?);
                    let actor = tokio::spawn(async move {
                        let mut opening = futures::stream::FuturesOrdered::new();
                        let decide = |core: &mut Core,
                                      (i, envelope, opened): (
                            usize,
                            std::sync::Arc<Vec<u8>>,
                            _,
                        )| {
                            let at = now + i as u64 * 20;
                            core.admit_opened(&topic, &envelope, opened, at)
                                .and_then(|signed| core.commit(&signed, at))
                                .map_err(|r| anyhow::anyhow!("rejected: {}", r.reason()))
                        };
                        for (i, envelope) in envelopes.into_iter().enumerate() {
                            if opening.len() >= cove_node::OPENING_CAPACITY {
                                let next = opening.next().await.context("a queued message")?;
                                decide(&mut core, next)?;
                            }
                            let opener = core.opener(&topic, &envelope);
                            let task = opener.map(|o| {
                                let envelope = std::sync::Arc::clone(&envelope);
                                tokio::spawn(async move { o.open(&envelope) })
                            });
                            opening.push_back(async move {
                                let opened = match task {
                                    Some(task) => task.await.ok(),
                                    None => None,
                                };
                                (i, envelope, opened)
                            });
                        }
                        while let Some(next) = opening.next().await {
                            decide(&mut core, next)?;
                        }
                        anyhow::Ok(core)
                    });
                    let core = actor.await??;
                    let wall = wall.elapsed();
                    let cpu = cpu_time()? - cpu;
                    core.store().flush_blocking()?;
                    Ok((wall, cpu, core))
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the pipelined ingest panicked"))?
    })
}

/// Messages `core` holds in its one group.
fn stored(core: &Core) -> Result<usize> {
    let group = core.groups().next().context("a group")?.id;
    Ok(core.store().message_count(&group))
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Initialises `dir` as a node data dir that is a member of a group holding `count` posts
/// from other members, ingested as gossip would deliver them.
pub fn fill_data_dir(dir: &Path, count: usize, text_len: usize) -> Result<()> {
    let Corpus {
        topic,
        invite,
        envelopes,
        _dirs,
    } = envelopes(count, text_len)?;
    let mut core = core_in(dir)?;
    core.join(&invite, now_ms())?;
    let now = now_ms();
    for (i, envelope) in envelopes.iter().enumerate() {
        // Paced like the authors, within rule 7p on this node's clock (see `ingest`).
        core.ingest(&topic, envelope, now + i as u64 * 20)
            .map_err(|r| anyhow::anyhow!("rejected: {}", r.reason()))?;
    }
    // Dropping the core flushes sled.
    drop(core);
    Ok(())
}

/// Time to start and resident memory of one node.
#[derive(Debug, Clone, Serialize)]
pub struct StartReport {
    /// Messages in the data dir.
    pub messages: usize,
    /// `Node::start` until it returned and answered a first `status` (ready).
    pub ready_ms: f64,
    /// VmRSS of this process after the node idled for `idle_s`.
    pub rss_mib: f64,
    /// Idle time before reading RSS.
    pub idle_s: f64,
}

/// Starts a node on `dir` (memory transport, no mDNS, production timers), measures the time
/// until it answers, lets it idle, and reads this process's RSS.
pub async fn start_and_measure(dir: &Path, messages: usize, idle: Duration) -> Result<StartReport> {
    let config = NodeConfig {
        listen: vec!["/memory/0".parse()?],
        mdns: false,
        // No router port mapping: nothing leaves the machine.
        upnp: false,
        ..NodeConfig::new(dir)
    };
    let start = Instant::now();
    let node = Node::start(config).await?;
    node.status().await?;
    let ready = start.elapsed();
    tokio::time::sleep(idle).await;
    let rss = rss_bytes()?;
    node.shutdown().await?;
    Ok(StartReport {
        messages,
        ready_ms: ready.as_secs_f64() * 1e3,
        rss_mib: rss as f64 / 1024.0 / 1024.0,
        idle_s: idle.as_secs_f64(),
    })
}

/// What one node in N groups costs: one private network (swarm) per group (issue 13).
#[derive(Debug, Clone, Serialize)]
pub struct GroupsReport {
    /// Groups the node is in.
    pub groups: usize,
    /// `Node::start` (a swarm per group) until it answered a first `status`.
    pub ready_ms: f64,
    /// VmRSS of this process after the node idled for `idle_s`.
    pub rss_mib: f64,
    /// Listening TCP addresses over every group network and door.
    pub listeners: usize,
    /// Open sockets of this process (fds that are sockets), after idling.
    pub sockets: usize,
    /// Threads of this process (tokio's workers and blocking pool, sled's, the swarms' none).
    pub threads: usize,
    /// Idle time before reading RSS and sockets.
    pub idle_s: f64,
}

/// Creates a node in `groups` groups (TCP on 127.0.0.1, no peers), stops it, then starts it
/// again in this process and measures start-up, RSS, listeners and sockets: the restart is
/// what a user's `cove up` pays. Run each N in a fresh process so RSS is not inherited.
pub async fn groups_cost(groups: usize, idle: Duration) -> Result<GroupsReport> {
    let tmp = TempDir::new()?;
    DataDir::new(tmp.path()).init()?;
    let config = NodeConfig::loopback(tmp.path());
    let node = Node::start(config.clone()).await?;
    for i in 0..groups {
        node.create_group(&format!("group {i}")).await?;
    }
    node.shutdown().await?;
    let start = Instant::now();
    let node = Node::start(NodeConfig {
        fast_timers: false,
        ..config
    })
    .await?;
    let status = node.status().await?;
    let ready = start.elapsed();
    tokio::time::sleep(idle).await;
    let rss = rss_bytes()?;
    let sockets = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count();
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    node.shutdown().await?;
    Ok(GroupsReport {
        groups,
        ready_ms: ready.as_secs_f64() * 1e3,
        rss_mib: rss as f64 / 1024.0 / 1024.0,
        // Each group's network and its door (PROTOCOL.md §10.3) listen.
        listeners: status.listen_addrs.len()
            + status
                .networks
                .iter()
                .map(|n| n.door_addrs.len())
                .sum::<usize>(),
        sockets,
        threads,
        idle_s: idle.as_secs_f64(),
    })
}

/// What a re-key costs (issue 13, PROTOCOL.md §15).
#[derive(Debug, Clone, Serialize)]
pub struct RekeyReport {
    /// Members on the roster re-keyed in the first part.
    pub roster: usize,
    /// `rekey` messages (chunks of at most 600 packages).
    pub messages: usize,
    /// Building, signing, sealing and storing the re-key (the admin's whole work): CPU ms.
    pub build_cpu_ms: f64,
    /// The same, wall-clock ms.
    pub build_wall_ms: f64,
    /// Sealed envelopes on the wire, bytes (each travels once per gossip hop).
    pub wire_bytes: usize,
    /// One member opening its package, µs (median of the roster's).
    pub open_us: f64,
    /// Members of the in-process group in the second part (0: not run).
    pub online: usize,
    /// From `Node::rekey` on the founder until every online member holds the new epoch, ms.
    pub all_hold_ms: f64,
    /// From `Node::rekey` until every online member's network runs behind the new epoch's
    /// key (the move: `MOVE_DELAY`, then a swarm restart), ms.
    pub all_moved_ms: f64,
    /// From `Node::rekey` until every online member has moved and is meshed again
    /// (`min(online - 1, 6)` peers in the moved network), ms.
    pub all_meshed_ms: f64,
}

/// Re-keys a roster of `roster` members in a bare [`Core`] (each member's `member` record
/// stored as if received), then, if `online > 1`, an in-process group of `online` real nodes
/// on loopback, timing until every member holds the new epoch.
pub async fn rekey_cost(roster: usize, online: usize) -> Result<RekeyReport> {
    use cove_crypto::{MasterSeed, MemberKey};
    use cove_node::message::{sign, Content, Member};

    let tmp = TempDir::new()?;
    let data = DataDir::new(tmp.path());
    data.init()?;
    let mut core = Core::new(Store::open(&data.store_path())?, data.load_seed()?)?;
    let now = now_ms();
    let group = core.create_group("rekey", now)?;
    let seeds: Vec<MasterSeed> = (0..roster - 1)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            MasterSeed::from_bytes(bytes)
        })
        .collect();
    for seed in &seeds {
        let key = MemberKey::derive(seed, &group).public().to_vec();
        let record = sign(
            &seed.pseudonym(&group),
            &group,
            now,
            Content::Member(Member { key }),
        )?;
        core.ingest_signed(&group, &record.bytes, now)
            .map_err(|e| anyhow::anyhow!("member record refused: {e}"))?;
    }
    if let Some(own) = core.missing_member_record(&group)? {
        core.compose(&group, own, now)?;
    }
    let (wall, cpu) = (Instant::now(), cpu_time()?);
    let mut envelopes = Vec::new();
    for content in core.rekey_contents(&group)? {
        envelopes.push(core.compose(&group, content, now)?);
    }
    let (build_wall, build_cpu) = (wall.elapsed(), cpu_time()? - cpu);
    let mut opens = Vec::new();
    for (i, seed) in seeds.iter().enumerate().step_by((roster / 100).max(1)) {
        let me = seed.pseudonym(&group).public();
        let key = MemberKey::derive(seed, &group);
        let (rekey, package) = envelopes
            .iter()
            .find_map(|(signed, _)| match &signed.message.content {
                Content::Rekey(r) => Some((r, r.packages.iter().find(|p| p.to == me)?)),
                _ => None,
            })
            .with_context(|| format!("no package for member {i}"))?;
        let ephemeral: [u8; 32] = rekey.ephemeral.as_slice().try_into()?;
        let t = Instant::now();
        key.unwrap(&ephemeral, &me, &group, rekey.tag, &package.key)
            .context("a package does not open")?;
        opens.push(t.elapsed());
    }
    opens.sort();
    let mut report = RekeyReport {
        roster,
        messages: envelopes.len(),
        build_cpu_ms: build_cpu.as_secs_f64() * 1e3,
        build_wall_ms: build_wall.as_secs_f64() * 1e3,
        wire_bytes: envelopes.iter().map(|(_, e)| e.len()).sum(),
        open_us: opens[opens.len() / 2].as_secs_f64() * 1e6,
        online: 0,
        all_hold_ms: 0.0,
        all_moved_ms: 0.0,
        all_meshed_ms: 0.0,
    };
    drop(core);
    if online > 1 {
        let times = rekey_online(online).await?;
        report.online = online;
        report.all_hold_ms = times.hold.as_secs_f64() * 1e3;
        report.all_moved_ms = times.moved.as_secs_f64() * 1e3;
        report.all_meshed_ms = times.meshed.as_secs_f64() * 1e3;
    }
    Ok(report)
}

/// How long after `Node::rekey` the last online member held the epoch, ran its network
/// behind the epoch's key, and was meshed again there.
struct RekeyTimes {
    hold: Duration,
    moved: Duration,
    meshed: Duration,
}

/// Starts `n` nodes on loopback in one group (everyone joins the founder's invite), waits
/// until the founder knows every member record and every node has a full gossip mesh
/// (`min(n - 1, 6)` peers, as the scenario suite does), re-keys and times until all hold the
/// epoch, then until all have moved their network to it and meshed again.
async fn rekey_online(n: usize) -> Result<RekeyTimes> {
    let mut dirs = Vec::new();
    let mut nodes = Vec::new();
    for _ in 0..n {
        let dir = TempDir::new()?;
        DataDir::new(dir.path()).init()?;
        nodes.push(Node::start(NodeConfig::loopback(dir.path())).await?);
        dirs.push(dir);
    }
    let group = nodes[0].create_group("rekey").await?.to_string();
    let invite = nodes[0]
        .invite_for(&group, Duration::from_secs(3600), n as u32, Vec::new())
        .await?;
    for node in &nodes[1..] {
        node.join(&invite).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while nodes[0].members(Some(&group)).await?.len() < n {
        anyhow::ensure!(Instant::now() < deadline, "member records did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let full_mesh = (n - 1).min(6);
    for node in &nodes {
        while node.status().await?.networks[0].peers < full_mesh {
            anyhow::ensure!(Instant::now() < deadline, "the group did not mesh");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A member holds the new epoch once the re-key is stored: its node opens the package
    // before it tells watchers (`Core::commit`), so the watch stream times it exactly.
    let mut waits = tokio::task::JoinSet::new();
    for node in &nodes[1..] {
        let mut watch = node.watch();
        waits.spawn(async move {
            loop {
                match watch.recv().await {
                    Ok(m) if matches!(m.message.content, cove_node::message::Content::Rekey(_)) => {
                        return Ok(Instant::now());
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => return Err(anyhow::anyhow!("watch ended: {e}")),
                }
            }
        });
    }
    // Every node is watched for its move at once, each by its own task, so that the poll of
    // one slow node does not delay noticing the others.
    let old_key = nodes[0].network_key(&group).await?;
    let mut moves = tokio::task::JoinSet::new();
    for node in nodes.clone() {
        let (group, old_key) = (group.clone(), old_key.clone());
        moves.spawn(async move {
            let mut moved = None;
            loop {
                if moved.is_none() && node.network_key(&group).await? != old_key {
                    moved = Some(Instant::now());
                }
                if let Some(moved) = moved {
                    if node.status().await?.networks[0].peers >= full_mesh {
                        return anyhow::Ok((moved, Instant::now()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    let start = Instant::now();
    nodes[0].rekey(Some(&group)).await?;
    let mut hold = start;
    while let Some(held) = tokio::time::timeout(Duration::from_secs(120), waits.join_next())
        .await
        .context("a member did not get the epoch")?
    {
        hold = hold.max(held??);
    }
    let (mut moved, mut meshed) = (start, start);
    while let Some(done) = tokio::time::timeout(Duration::from_secs(120), moves.join_next())
        .await
        .context("a member did not move its network, or did not mesh again")?
    {
        let (m, r) = done??;
        (moved, meshed) = (moved.max(m), meshed.max(r));
    }
    for node in &nodes {
        let epoch = node.status().await?.networks[0].epoch;
        anyhow::ensure!(epoch == 1, "a member holds epoch {epoch}, not 1");
    }
    for node in &nodes {
        node.shutdown().await?;
    }
    Ok(RekeyTimes {
        hold: hold - start,
        moved: moved - start,
        meshed: meshed - start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;

    fn signed(n: usize) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<VerifyingKey>) {
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
            .collect();
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("message {i}").into_bytes())
            .collect();
        let signatures = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
        (
            messages,
            signatures,
            keys.iter().map(|k| k.verifying_key()).collect(),
        )
    }

    #[test]
    fn strict_batch_accepts_valid_signatures_and_refuses_a_torsioned_r() {
        let (messages, mut signatures, keys) = signed(8);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let mut checked = std::collections::HashSet::new();
        verify_batch_strict(&refs, &signatures, &keys, &mut checked).unwrap();
        assert_eq!(checked.len(), 8, "each key checked once");

        // R + T, with T the point of order 2 (y = -1): not in the prime-order subgroup.
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let t = CompressedEdwardsY(minus_one).decompress().unwrap();
        assert!(t.is_small_order());
        let r = CompressedEdwardsY(*signatures[3].r_bytes())
            .decompress()
            .unwrap();
        let mut bytes = signatures[3].to_bytes();
        bytes[..32].copy_from_slice((r + t).compress().as_bytes());
        signatures[3] = Signature::from_bytes(&bytes);
        let err = verify_batch_strict(&refs, &signatures, &keys, &mut checked).unwrap_err();
        assert!(err.to_string().contains("prime-order subgroup"), "{err}");

        // A small-order R is refused as verify_strict refuses it.
        bytes[..32].copy_from_slice(&minus_one);
        signatures[3] = Signature::from_bytes(&bytes);
        assert!(verify_batch_strict(&refs, &signatures, &keys, &mut checked).is_err());
    }
}
