//! Single-node instruments of issue 6: the ingest pipeline against the raw ed25519 limit,
//! and the resources of a node holding many messages.
//!
//! * [`ingest`]: sealed envelopes from several authors go through [`Core::ingest`] (open,
//!   decode, verify, rules, store) on one thread, then through the actor's pipeline
//!   ([`ingest_pipelined`]) on every core. Each is compared with ed25519-dalek's
//!   `verify_strict` (what Cove uses) on signatures of the same size, measured in short turns
//!   between slices of that ingest ([`Reference`]), because the machine's speed drifts within
//!   a run. `verify` and `verify_batch` are measured once, for scale.
//! * [`fill_data_dir`] + [`start_and_measure`]: a data dir holding `n` messages of a group
//!   (received, as a member receives them), then the time `Node::start` takes and the RSS of
//!   the started node. Run [`start_and_measure`] in a fresh process for a clean RSS.

use std::path::Path;
use std::sync::Arc;
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
    /// `verify_strict`, one at a time (what Cove calls): verifications per second, measured
    /// in [`REFERENCE_SLICES`] + 1 turns between slices of both ingests ([`Reference`]).
    pub verify_strict_per_s: f64,
    /// The same, per CPU-second: the rate to compare CPU-seconds with on a loaded machine,
    /// where a wall-clock rate measures the load.
    pub verify_strict_per_cpu_s: f64,
    /// The slowest turn of the reference against the fastest, per CPU-second (1.0: the
    /// machine ran at one speed throughout; 0.8: it ran 20 % slower at times).
    pub verify_strict_slowest_vs_fastest: f64,
    /// `ingest_per_cpu_s` over `verify_strict` per CPU-second in the turns between the slices
    /// of this ingest (issue 14's target: >= 0.5).
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
    /// `pipelined_per_s` over `verify_strict` per second in the turns between the slices of
    /// the pipeline (issue 14's target: >= 1.0).
    pub pipelined_vs_single: f64,
}

/// Slices each ingest is cut into; the reference runs before each and after the last.
pub const REFERENCE_SLICES: usize = 20;

/// Signatures the reference verifies in each turn (about 40 ms of `verify_strict`).
const REFERENCE_SIGNATURES: usize = 1_000;

/// `verify_strict`, one at a time, over signatures of the size Cove checks: the rate the ingest
/// targets are set against. A run takes a minute, and this 2-vCPU machine's speed changes by
/// 20 % and more within that (neighbours on the host), so the reference is measured in short
/// turns between the slices of the ingest it is compared with, not once in a phase of its own.
struct Reference {
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<VerifyingKey>,
    /// Wall and CPU time of every turn, in order.
    turns: Vec<(Duration, Duration)>,
}

impl Reference {
    /// [`REFERENCE_SIGNATURES`] signatures by `keys` in turn over `message_len`-byte messages.
    fn new(keys: &[SigningKey], message_len: usize) -> Reference {
        let messages: Vec<Vec<u8>> = (0..REFERENCE_SIGNATURES)
            .map(|i| {
                let mut m = format!("reference {i:08}").into_bytes();
                m.resize(message_len, b'r');
                m
            })
            .collect();
        let signatures = (messages.iter().enumerate())
            .map(|(i, m)| keys[i % keys.len()].sign(m))
            .collect();
        let keys = (0..REFERENCE_SIGNATURES)
            .map(|i| keys[i % keys.len()].verifying_key())
            .collect();
        let mut reference = Reference {
            messages,
            signatures,
            keys,
            turns: Vec::new(),
        };
        // A first turn, not counted, warms the caches as the ingest's first slice is not.
        let _ = reference.turn();
        reference.turns.clear();
        reference
    }

    /// One turn: verifies every signature once. Its CPU time is this thread's alone: work the
    /// store left to its own threads runs meanwhile and belongs to the ingest.
    fn turn(&mut self) -> Result<()> {
        let (wall, cpu) = (Instant::now(), thread_cpu_time()?);
        for ((m, s), k) in self.messages.iter().zip(&self.signatures).zip(&self.keys) {
            k.verify_strict(m, s).context("reference verify_strict")?;
        }
        self.turns.push((wall.elapsed(), thread_cpu_time()? - cpu));
        Ok(())
    }

    /// Runs `run` on each slice of `slices` (its index and the slice; it returns the slice's
    /// wall time) with a turn before each slice and after the last. The phase's CPU is the
    /// process's less the turns', so that what sled's threads do for the ingest during a turn
    /// is the ingest's.
    fn around<T>(
        &mut self,
        slices: std::slice::Chunks<'_, T>,
        mut run: impl FnMut(usize, &[T]) -> Result<Duration>,
    ) -> Result<Phase> {
        let first = self.turns.len();
        let cpu = cpu_time()?;
        let mut wall = Duration::ZERO;
        for (index, slice) in slices.enumerate() {
            self.turn()?;
            wall += run(index, slice)?;
        }
        self.turn()?;
        let turns = first..self.turns.len();
        let own: Duration = self.turns[turns.clone()].iter().map(|t| t.1).sum();
        Ok(Phase {
            wall,
            cpu: (cpu_time()? - cpu).saturating_sub(own),
            turns,
        })
    }

    /// Verifications per wall-clock second and per CPU-second over the turns `turns`.
    fn rates(&self, turns: std::ops::Range<usize>) -> (f64, f64) {
        let turns = &self.turns[turns];
        let count = (turns.len() * REFERENCE_SIGNATURES) as f64;
        let wall: Duration = turns.iter().map(|t| t.0).sum();
        let cpu: Duration = turns.iter().map(|t| t.1).sum();
        (
            count / wall.as_secs_f64().max(1e-9),
            count / cpu.as_secs_f64().max(1e-3),
        )
    }

    /// The slowest turn's rate per CPU-second over the fastest's.
    fn slowest_vs_fastest(&self) -> f64 {
        let (fastest, slowest) = (self.turns.iter())
            .map(|t| t.1.as_secs_f64().max(1e-6))
            .fold((f64::MAX, 0.0_f64), |(lo, hi), cpu| {
                (lo.min(cpu), hi.max(cpu))
            });
        fastest / slowest
    }
}

/// One ingest measured by [`Reference::around`].
struct Phase {
    /// Wall time of the slices alone.
    wall: Duration,
    /// The process's CPU over the phase, less the reference's turns.
    cpu: Duration,
    /// The reference's turns around the slices.
    turns: std::ops::Range<usize>,
}

/// CPU time of the calling thread (the first field of `/proc/thread-self/schedstat`, in ns:
/// exact, where `/proc/self/stat` counts 10 ms ticks).
fn thread_cpu_time() -> Result<Duration> {
    let path = "/proc/thread-self/schedstat";
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let ns = (stat.split_whitespace().next())
        .and_then(|ns| ns.parse().ok())
        .with_context(|| format!("no CPU time in {path}: {stat:?}"))?;
    Ok(Duration::from_nanos(ns))
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

/// Measures the ingest pipeline and the raw verify rates on `count` messages. Each ingest
/// runs in [`REFERENCE_SLICES`] slices with a turn of the [`Reference`] before each slice and
/// after the last, and is compared with the reference's turns around its own slices.
pub fn ingest(count: usize, text_len: usize) -> Result<IngestReport> {
    let Corpus {
        topic,
        invite,
        envelopes,
        _dirs,
    } = envelopes(count, text_len)?;
    let keys: Vec<SigningKey> = (0..AUTHORS)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let message_len = envelopes[0].len();
    let mut reference = Reference::new(&keys, message_len);
    let slice = count.div_ceil(REFERENCE_SLICES).max(1);

    let dir = tempfile::tempdir()?;
    let mut receiver = core_in(dir.path())?;
    receiver.join(&invite, now_ms())?;
    let now = now_ms();
    let store_path = DataDir::new(dir.path()).store_path();
    receiver.store().flush_blocking()?;
    let store_before = dir_bytes(&store_path)?;
    let one_thread = reference.around(envelopes.chunks(slice), |s, envelopes| {
        let wall = Instant::now();
        for (j, envelope) in envelopes.iter().enumerate() {
            // The receiver's clock advances as the authors' did, so that rule 7p (on the
            // receiver's clock) sees each author at the pace it wrote, within the limit.
            let i = s * slice + j;
            receiver
                .ingest(&topic, envelope, now + i as u64 * 20)
                .map_err(|r| anyhow::anyhow!("rejected: {}", r.reason()))?;
        }
        Ok(wall.elapsed())
    })?;
    receiver.store().flush_blocking()?;
    let store_grown = dir_bytes(&store_path)?.saturating_sub(store_before);
    drop(receiver);

    // The same envelopes into a fresh receiver, as the node's actor takes gossip in.
    let dir = tempfile::tempdir()?;
    let mut receiver = core_in(dir.path())?;
    receiver.join(&invite, now_ms())?;
    let held = stored(&receiver)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let now = now_ms();
    let shared: Vec<Arc<Vec<u8>>> = envelopes.iter().cloned().map(Arc::new).collect();
    // Each slice's core is handed to the next; the CPU includes starting each slice's runtime
    // (about a millisecond).
    let mut receiver = Some(receiver);
    let pipelined = reference.around(shared.chunks(slice), |s, envelopes| {
        let clock = PipelineClock {
            now,
            first: s * slice,
        };
        let core = receiver.take().context("the receiver")?;
        let (wall, core) = ingest_pipelined(core, &topic, envelopes.to_vec(), threads, clock)?;
        receiver = Some(core);
        Ok(wall)
    })?;
    let receiver = receiver.context("the receiver")?;
    anyhow::ensure!(
        stored(&receiver)? == held + count,
        "the pipeline stored {} messages of {count}",
        stored(&receiver)? - held
    );
    drop(receiver);

    // The other ways of checking a signature, for scale (one phase each, not interleaved).
    let publics: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
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
    let ingest_per_cpu_s = rate(one_thread.cpu.max(Duration::from_millis(10)));
    let (strict_per_s, strict_per_cpu_s) = reference.rates(0..reference.turns.len());
    let (_, strict_per_cpu_s_around_ingest) = reference.rates(one_thread.turns);
    let (strict_per_s_around_pipeline, _) = reference.rates(pipelined.turns);
    let swapped = 1.0 / ingest_per_cpu_s - 1.0 / strict_per_s + 1.0 / rate(batch_strict);
    Ok(IngestReport {
        messages: count,
        envelope_len: message_len,
        ingest_per_cpu_s,
        ingest_per_s: rate(one_thread.wall),
        verify_strict_per_s: strict_per_s,
        verify_strict_per_cpu_s: strict_per_cpu_s,
        verify_strict_slowest_vs_fastest: reference.slowest_vs_fastest(),
        ingest_vs_single_cpu: ingest_per_cpu_s / strict_per_cpu_s_around_ingest,
        verify_per_s: rate(plain),
        verify_batch_per_s: rate(batch),
        verify_batch_strict_per_s: rate(batch_strict),
        ingest_with_batch_strict_per_cpu_s: 1.0 / swapped,
        ingest_vs_single: ingest_per_cpu_s / strict_per_s,
        ingest_vs_batch: ingest_per_cpu_s / rate(batch),
        store_bytes_per_message: store_grown as f64 / count as f64,
        pipelined_threads: threads,
        pipelined_per_s: rate(pipelined.wall),
        pipelined_per_cpu_s: rate(pipelined.cpu.max(Duration::from_millis(10))),
        pipelined_vs_single: rate(pipelined.wall) / strict_per_s_around_pipeline,
    })
}

/// The receiver's clock for a slice of [`ingest_pipelined`]: message `i` of the slice is taken
/// in at `now + (first + i) * 20` ms, so that slices go on where the one before stopped.
#[derive(Debug, Clone, Copy)]
pub struct PipelineClock {
    /// The receiver's clock at the first message of the first slice (unix ms).
    pub now: u64,
    /// Messages taken in by the slices before this one.
    pub first: usize,
}

/// Takes `envelopes` in as the node's actor takes gossip (`node/src/actor/ingest.rs`): each
/// is opened and verified in a task of a runtime of `threads` threads ([`Core::opener`]), at
/// most [`cove_node::OPENING_CAPACITY`] at once, and decided and stored in arrival order by
/// one task ([`Core::admit_opened`], [`Core::commit`]). Returns the wall time and the core;
/// its last writes may still be staged (the next call or dropping the core applies them).
pub fn ingest_pipelined(
    mut core: Core,
    topic: &str,
    envelopes: Vec<Arc<Vec<u8>>>,
    threads: usize,
    clock: PipelineClock,
) -> Result<(Duration, Core)> {
    use futures::StreamExt;
    let topic = topic.to_string();
    // A runtime of its own, on a thread of its own (the caller may be inside one).
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<(Duration, Core)> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .build()?;
                runtime.block_on(async move {
                    let wall = Instant::now();
                    let actor = tokio::spawn(async move {
                        let mut opening = futures::stream::FuturesOrdered::new();
                        let decide =
                            |core: &mut Core, (i, envelope, opened): (usize, Arc<Vec<u8>>, _)| {
                                let at = clock.now + (clock.first + i) as u64 * 20;
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
                                let envelope = Arc::clone(&envelope);
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
                    Ok((wall.elapsed(), core))
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

    #[test]
    fn the_reference_counts_only_its_own_thread_and_sums_its_turns() {
        let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let mut reference = Reference::new(&keys, 512);
        assert!(
            reference.turns.is_empty(),
            "the warm-up turn is not counted"
        );
        // Another thread burns CPU meanwhile: the process's CPU counts it, the turns must not
        // (a turn cannot take more CPU than its own wall-clock time).
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let burner = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        };
        let (wall, process) = (Instant::now(), cpu_time().unwrap());
        reference.turn().unwrap();
        reference.turn().unwrap();
        let (wall, process) = (wall.elapsed(), cpu_time().unwrap() - process);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        burner.join().unwrap();

        let turns: Duration = reference.turns.iter().map(|t| t.1).sum();
        assert!(turns > Duration::ZERO);
        assert!(
            turns <= wall + Duration::from_millis(1),
            "{turns:?} of {wall:?}"
        );
        // The process's figure counts 10 ms ticks: allow two.
        assert!(
            process + Duration::from_millis(20) >= turns,
            "process {process:?} < turns {turns:?}"
        );
        let (per_s, per_cpu_s) = reference.rates(0..2);
        let count = (2 * REFERENCE_SIGNATURES) as f64;
        let wall_sum: Duration = reference.turns.iter().map(|t| t.0).sum();
        assert!((per_s - count / wall_sum.as_secs_f64()).abs() < 1e-6 * per_s);
        assert!((per_cpu_s - count / turns.as_secs_f64()).abs() < 1e-6 * per_cpu_s);
        let ratio = reference.slowest_vs_fastest();
        assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
    }

    #[test]
    fn an_ingest_run_measures_both_ingests_over_every_slice() {
        // More slices than messages per slice would be pointless; 3 per slice, and a last
        // slice shorter than the others.
        let count = 3 * REFERENCE_SLICES - 1;
        let report = ingest(count, 64).unwrap();
        assert_eq!(report.messages, count);
        for (name, figure) in [
            ("ingest_per_cpu_s", report.ingest_per_cpu_s),
            ("ingest_per_s", report.ingest_per_s),
            ("verify_strict_per_s", report.verify_strict_per_s),
            ("verify_strict_per_cpu_s", report.verify_strict_per_cpu_s),
            ("ingest_vs_single_cpu", report.ingest_vs_single_cpu),
            ("pipelined_per_s", report.pipelined_per_s),
            ("pipelined_vs_single", report.pipelined_vs_single),
            ("store_bytes_per_message", report.store_bytes_per_message),
        ] {
            assert!(figure.is_finite() && figure > 0.0, "{name} = {figure}");
        }
        let drift = report.verify_strict_slowest_vs_fastest;
        assert!(drift > 0.0 && drift <= 1.0, "{drift}");
    }
}
