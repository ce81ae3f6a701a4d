//! History-sync benchmark (issue 3, "Nothing lost"): catch-up of N messages between two nodes
//! over loopback TCP, the local bound (the same N messages validated and stored with no
//! network), and the cost of reconciliation for identical and 1%-different sets.
//!
//! Run: `cargo bench -p cove-tests --bench sync` (sizes: `COVE_BENCH_SIZES=10000,100000`,
//! the default). Results and how to read them: `docs/PERFORMANCE.md`.
//!
//! Nodes in one run, per size N:
//! - ant: a real [`Node`] whose store was pre-filled offline with N posts by 10 authors.
//! - bat: a real [`Node`] that holds only the charter; it catches up through the automatic
//!   session it starts when it sees ant subscribe (wall time only: that session's report is
//!   not exposed), then runs `Node::sync` once more (identical sets, real framing).
//! - req: a requester built from the same parts the node uses (`cove_gossip::Gossip`,
//!   `sync::Session`, `Core::ingest_signed` on one task, like the node's actor) but which does
//!   not subscribe to the topic, so ant starts no session of its own towards it: the
//!   on-demand catch-up is measured without anything else running, with its `sync::Report`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cove_crypto::{GroupId, Invite, MasterSeed, Pseudonym};
use cove_gossip::{Event, Gossip, PeerId};
use cove_node::core::Core;
use cove_node::data_dir::DataDir;
use cove_node::message::{
    sign, verify_and_decode, Content, MessageId, Policy, Post, SignedMessage,
};
use cove_node::now_ms;
use cove_node::store::Store;
use cove_node::sync::{
    self, IngestBatch, Report, Request, Response, Session, MAX_RECONCILE_FRAME, MAX_ROUNDS,
};
use cove_node::{Node, NodeConfig};
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Sizes measured when `COVE_BENCH_SIZES` is unset.
const DEFAULT_SIZES: [usize; 2] = [10_000, 100_000];
/// Distinct pseudonyms that wrote the history.
const AUTHORS: usize = 10;
/// Spacing of `created_at` between consecutive messages (ms).
const SPACING_MS: u64 = 20;
/// Long enough that the anti-entropy timer never fires during a run.
const NO_ANTI_ENTROPY: Duration = Duration::from_secs(3600);
/// Upper bound for one catch-up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(900);
/// One message in this many is missing on one side of the 1% scenario, and one in this many
/// is extra on the other: 0.5% + 0.5% = 1% differ.
const DIFF_EVERY: usize = 200;

fn main() -> Result<()> {
    let sizes = match std::env::var("COVE_BENCH_SIZES") {
        Ok(s) => s
            .split(',')
            .map(|n| n.trim().replace('_', "").parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .context("COVE_BENCH_SIZES: comma-separated message counts")?,
        Err(_) => DEFAULT_SIZES.to_vec(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for n in sizes {
        eprintln!("== N = {n}");
        rows.push(runtime.block_on(bench_size(n))?);
    }
    print_tables(&rows);
    Ok(())
}

/// Everything measured for one N.
#[derive(Debug)]
struct Row {
    n: usize,
    avg_bytes: usize,
    verify_only: Duration,
    local: Duration,
    node_catch_up: Duration,
    session_catch_up: Duration,
    first_page: Duration,
    sync_items_time: Duration,
    session: Report,
    identical_nodes: Report,
    identical_sim: Sim,
    diff_session: Report,
    diff_session_time: Duration,
    diff_sim: Sim,
}

/// A reconciliation run in memory with the node's framing.
#[derive(Debug, Default)]
struct Sim {
    rounds: usize,
    bytes_sent: usize,
    bytes_received: usize,
    need: usize,
    have: usize,
    time: Duration,
}

/// The messages of one run: `history` is ant's set; `extra` exists only on the requester in
/// the 1% scenario; `dropped` (indices into `history`) is what the requester lacks there.
#[derive(Debug)]
struct Corpus {
    history: Vec<SignedMessage>,
    extra: Vec<SignedMessage>,
    dropped: Vec<usize>,
}

/// xorshift64*: deterministic texts without a dependency.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 24] = [
    "the", "meeting", "is", "moved", "to", "thursday", "bring", "your", "notes", "and", "a",
    "friend", "who", "wants", "to", "help", "with", "the", "garden", "tools", "are", "in", "shed",
    "thanks",
];

/// A realistic post text of 100..300 bytes.
fn text(rng: &mut Rng) -> String {
    let target = 100 + rng.below(200) as usize;
    let mut s = String::with_capacity(target + 12);
    while s.len() < target {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s.truncate(target);
    s
}

/// Signs N posts (plus the 1% extras) by [`AUTHORS`] pseudonyms, spread over the past.
fn corpus(group: &GroupId, n: usize) -> Result<Corpus> {
    let authors: Vec<Pseudonym> = (0..AUTHORS)
        .map(|_| MasterSeed::generate().pseudonym(group))
        .collect();
    let extras = n / DIFF_EVERY;
    let total = n + extras;
    let start = now_ms() - (total as u64 + 10) * SPACING_MS;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let (mut history, mut extra, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..total {
        let post = Content::Post(Post {
            title: None,
            text: text(&mut rng),
        });
        let signed = sign(
            &authors[i % AUTHORS],
            group,
            start + i as u64 * SPACING_MS,
            post,
        )?;
        // Interleaved in time, so the differences are spread over the whole range.
        match i % DIFF_EVERY {
            199 if extra.len() < extras => extra.push(signed),
            99 => {
                dropped.push(history.len());
                history.push(signed);
            }
            _ => history.push(signed),
        }
    }
    history.truncate(n);
    dropped.retain(|&d| d < n);
    dropped.truncate(extra.len());
    Ok(Corpus {
        history,
        extra,
        dropped,
    })
}

fn fresh_dir(name: &str) -> Result<(TempDir, DataDir)> {
    let tmp = tempfile::Builder::new().prefix(name).tempdir()?;
    let dir = DataDir::new(tmp.path());
    dir.init()?;
    Ok((tmp, dir))
}

fn open_core(dir: &DataDir) -> Result<Core> {
    let store = Store::open(&dir.store_path())?;
    Ok(Core::new(store, dir.load_seed()?)?)
}

fn config(dir: &DataDir) -> NodeConfig {
    NodeConfig {
        sync_interval: NO_ANTI_ENTROPY,
        republish_interval: NO_ANTI_ENTROPY,
        ..NodeConfig::loopback(dir.root())
    }
}

/// A member data dir holding the charter and, unchecked (`insert_message`), `messages`.
fn member_dir(name: &str, invite: &Invite, messages: &[&SignedMessage]) -> Result<TempDir> {
    let (tmp, dir) = fresh_dir(name)?;
    let mut core = open_core(&dir)?;
    core.join(invite, now_ms())?;
    for m in messages {
        core.store().insert_message(m, now_ms())?;
    }
    Ok(tmp)
}

async fn bench_size(n: usize) -> Result<Row> {
    // ant: founder, pre-filled offline.
    let (_ant_tmp, ant_dir) = fresh_dir("ant")?;
    let mut ant_core = open_core(&ant_dir)?;
    // No per-author rate limit (rule 7p): it paces a catch-up at each author's rate on the
    // joiner's clock, by design; this bench measures the sync machinery and the store.
    let policy = Policy {
        rate_limit: None,
        ..Policy::default()
    };
    let group = ant_core.create_group_with("bench", policy, now_ms())?;
    let topic = ant_core.group(&group).context("group")?.topic.clone();
    let t = Instant::now();
    let corpus = corpus(&group, n)?;
    eprintln!(
        "signed {} messages in {:.1?}",
        n + corpus.extra.len(),
        t.elapsed()
    );
    for m in &corpus.history {
        ant_core.store().insert_message(m, now_ms())?;
    }
    ant_core.store().flush().await?;
    // The bench's members join with an open invite (the group secret itself, as core tests
    // do): what is measured is sync, not admission (PROTOCOL.md §17).
    let open = Invite::decode(
        &ant_core.invite(&group, Vec::new(), now_ms() / 1000 + 3600)?,
        now_ms() / 1000,
    )?;
    drop(ant_core);
    let avg_bytes = corpus.history.iter().map(|m| m.bytes.len()).sum::<usize>() / n.max(1);

    let ant = Node::start(config(&ant_dir)).await?;
    // The addresses of ant's group network, not of its door, which a ticket lists (§10.3):
    // the bench's members hold the group secret already and go straight to the network.
    let invite = Invite {
        addrs: ant.status().await?.networks[0].listen_addrs.clone(),
        ..open
    };
    let ant_addr: cove_gossip::Multiaddr = invite
        .addrs
        .first()
        .context("invite lists no address")?
        .parse()?;

    // Local bound: the same messages, in the order a session fetches them, no network.
    let mut order: Vec<&SignedMessage> = corpus.history.iter().collect();
    order.sort_by_key(|m| (m.message.created_at, m.message.id.0));
    let t = Instant::now();
    for m in &order {
        verify_and_decode(&m.bytes)?;
    }
    let verify_only = t.elapsed();
    let (_local_tmp, local_dir) = fresh_dir("local")?;
    let mut local = open_core(&local_dir)?;
    local.join(&invite, now_ms())?;
    let t = Instant::now();
    for m in &order {
        local
            .ingest_signed(&group, &m.bytes, now_ms())
            .map_err(|r| anyhow::anyhow!("local ingest refused: {r}"))?;
    }
    let local_time = t.elapsed();
    // What a responder reads from sled for every reconcile round (`serve_reconcile`).
    let t = Instant::now();
    let read = local.store().sync_items(&group, 0)?.len();
    let sync_items_time = t.elapsed();
    ensure!(read == n + 1, "local store holds {read} items");
    drop(local);
    eprintln!("local bound {local_time:.1?} (verify only {verify_only:.1?})");

    // On-demand catch-up, nothing else running: req holds only the charter.
    let req_tmp = member_dir("req", &invite, &[])?;
    let (session, session_catch_up, first_page) =
        run_session(&req_tmp, &ant_addr, ant.peer_id_in(&group)).await?;
    // The responder also holds what it wrote itself since it started (its member record,
    // §15; the ticket behind the invite above, §17): everything it had is fetched and stored.
    ensure!(
        session.missing >= n && session.accepted == session.missing && session.error.is_none(),
        "on-demand catch-up incomplete: {session:?}"
    );
    let ant_own = session.missing - n;
    eprintln!("session catch-up {session_catch_up:.1?}: {session:?}");
    drop(req_tmp);

    // 1%: req lacks 0.5% of ant's messages and holds 0.5% that ant lacks. Before bat runs,
    // whose own records ant would hold afterwards.
    let variant: Vec<&SignedMessage> = corpus
        .history
        .iter()
        .enumerate()
        .filter(|(i, _)| corpus.dropped.binary_search(i).is_err())
        .map(|(_, m)| m)
        .chain(&corpus.extra)
        .collect();
    let diff_tmp = member_dir("diff", &invite, &variant)?;
    let (diff_session, diff_session_time, _) =
        run_session(&diff_tmp, &ant_addr, ant.peer_id_in(&group)).await?;
    ensure!(
        diff_session.missing == corpus.dropped.len() + ant_own
            && diff_session.peer_missing == corpus.extra.len(),
        "1% session found the wrong difference: {diff_session:?}"
    );

    // Automatic catch-up of a real node, then a real `Node::sync` over identical sets.
    let bat_tmp = member_dir("bat", &invite, &[])?;
    let t = Instant::now();
    let bat = Node::start(config(&DataDir::new(bat_tmp.path()))).await?;
    loop {
        if bat.status().await?.accepted as usize >= n {
            break;
        }
        if t.elapsed() > CATCH_UP_LIMIT {
            bail!("bat did not catch up within {CATCH_UP_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let node_catch_up = t.elapsed();
    eprintln!("node catch-up {node_catch_up:.1?}");
    let identical_nodes = bat
        .sync(Some(&group.to_string()), None)
        .await?
        .into_iter()
        .find(|r| r.peer == ant.peer_id_in(&group).to_string())
        .context("no report for ant")?;
    ensure!(
        identical_nodes.missing == 0 && identical_nodes.error.is_none(),
        "sets differ after catch-up: {identical_nodes:?}"
    );
    bat.shutdown().await?;
    ant.shutdown().await?;

    // The same reconciliations in memory, with the node's frames (responder storage rebuilt
    // per round, as `serve_reconcile` does).
    let items = |ms: &[&SignedMessage]| -> Vec<(u64, MessageId)> {
        let mut v: Vec<_> = ms
            .iter()
            .map(|m| (m.message.created_at, m.message.id))
            .collect();
        v.sort_by_key(|(t, id)| (*t, id.0));
        v
    };
    let ours = items(&order);
    let identical_sim = simulate(&topic, &ours, &ours)?;
    let diff_sim = simulate(&topic, &items(&variant), &ours)?;

    Ok(Row {
        n,
        avg_bytes,
        verify_only,
        local: local_time,
        node_catch_up,
        session_catch_up,
        first_page,
        sync_items_time,
        session,
        identical_nodes,
        identical_sim,
        diff_session,
        diff_session_time,
        diff_sim,
    })
}

/// Runs one on-demand session from the member data dir `dir` to ant; returns its report and
/// wall time (from the first request to the last page stored) and the time until the first
/// page was stored (reconciliation plus one page).
async fn run_session(
    dir: &TempDir,
    ant_addr: &cove_gossip::Multiaddr,
    ant: PeerId,
) -> Result<(Report, Duration, Duration)> {
    let dir = DataDir::new(dir.path());
    let mut core = open_core(&dir)?;
    let (group, topic, sync_key) = {
        let g = core.groups().next().context("member has no group")?;
        (g.id, g.topic.clone(), g.secret.sync_key())
    };
    let psk = *core
        .group(&group)
        .context("group")?
        .secret
        .network_key(cove_node::NETWORK_EPOCH)
        .as_bytes();
    let mut gossip_config = cove_gossip::Config::new(dir.load_peer_key()?);
    gossip_config.psk = Some(psk);
    gossip_config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    gossip_config.mdns = false;
    gossip_config.discovery = false;
    gossip_config.fast_timers = true;
    gossip_config.max_message_size = cove_node::core::MAX_ENVELOPE_BYTES + 1024;
    let (gossip, mut events) = Gossip::spawn(gossip_config).await?;
    gossip.dial(ant_addr.clone()).await?;
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.recv().await {
            if matches!(event, Event::PeerConnected(p) if p == ant) {
                return true;
            }
        }
        false
    })
    .await?;
    ensure!(connected, "could not connect to ant");
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });

    let store = core.store().reader();
    // The node's actor does exactly this with each page (`ingest_batch`).
    let (ingest_tx, mut ingest_rx) = mpsc::channel::<IngestBatch>(16);
    let ingest = tokio::spawn(async move {
        while let Some(batch) = ingest_rx.recv().await {
            let (mut accepted, mut refused, mut invalid) = (0, 0, 0);
            let now = now_ms();
            for verified in batch.messages {
                match core.ingest_verified(&batch.group, verified, now) {
                    Ok(_) => accepted += 1,
                    Err(r) if r.is_penalised() => invalid += 1,
                    Err(_) => refused += 1,
                }
            }
            let _ = batch.reply.send((accepted, refused, invalid));
        }
        core
    });
    let (progress_tx, mut progress_rx) = mpsc::channel(16);
    let t = Instant::now();
    let first = tokio::spawn(async move {
        let first = progress_rx.recv().await.map(|_| t.elapsed());
        while progress_rx.recv().await.is_some() {}
        first.unwrap_or_default()
    });
    let session = Session {
        gossip: gossip.clone(),
        peer: ant,
        group,
        topic,
        epochs: vec![(0, sync_key)],
        since: 0,
        fetch: true,
        store,
        ingest: ingest_tx,
        progress: Some(progress_tx),
    };
    let (report, _) = session.run().await;
    let elapsed = t.elapsed();
    let first_page = first.await?;
    let core = ingest.await?;
    drop(core);
    gossip.shutdown().await?;
    drain.abort();
    Ok((report, elapsed, first_page))
}

fn storage(items: &[(u64, MessageId)]) -> Result<NegentropyStorageVector> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for (created_at, id) in items {
        storage.insert(*created_at, Id::from_byte_array(id.0))?;
    }
    storage.seal()?;
    Ok(storage)
}

/// Reconciles `client` (requester) against `server` in memory, counting the exact frames a
/// session sends (hello, challenge, reconcile rounds; no fetch).
fn simulate(topic: &str, client: &[(u64, MessageId)], server: &[(u64, MessageId)]) -> Result<Sim> {
    let t = Instant::now();
    let mut sim = Sim {
        bytes_sent: Request::Hello {
            topic: topic.to_string(),
            nonce: [0; 32],
            epoch: 0,
        }
        .encode()
        .len(),
        bytes_received: Response::Challenge {
            nonce: [0; 32],
            proof: [0; 32],
        }
        .encode()
        .len(),
        ..Sim::default()
    };
    let mut neg = Negentropy::owned(storage(client)?, MAX_RECONCILE_FRAME)?;
    let mut msg = neg.initiate()?;
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        ensure!(
            sim.rounds < MAX_ROUNDS,
            "no convergence in {MAX_ROUNDS} rounds"
        );
        sim.rounds += 1;
        let request = Request::Reconcile {
            topic: topic.to_string(),
            proof: [0; 32],
            since: 0,
            msg,
        };
        sim.bytes_sent += request.encode().len();
        let Request::Reconcile { msg: query, .. } = request else {
            unreachable!("built above")
        };
        // `serve_reconcile` builds the responder's storage afresh for every round.
        let answer = Negentropy::owned(storage(server)?, MAX_RECONCILE_FRAME)?.reconcile(&query)?;
        sim.bytes_received += Response::Reconcile {
            msg: answer.clone(),
        }
        .encode()
        .len();
        match neg.reconcile_with_ids(&answer, &mut have, &mut need)? {
            Some(next) => msg = next,
            None => break,
        }
    }
    sim.need = need.len();
    sim.have = have.len();
    sim.time = t.elapsed();
    Ok(sim)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn kib(bytes: usize) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

fn print_tables(rows: &[Row]) {
    println!();
    println!("## Catch-up (loopback TCP) vs local bound");
    println!();
    println!("| N | avg msg | local bound (ingest_signed) | of which verify | catch-up, on-demand session | ratio | catch-up, real node (auto session) | ratio | rounds | busy waited out | until 1st page stored | fetch pages | bytes req->resp | bytes resp->req | sled read of sync items |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let pages = r.session.accepted.div_ceil(sync::MAX_FETCH_IDS);
        println!(
            "| {} | {} B | {} ({:.0} us/msg) | {} | {} | {:.2}x | {} | {:.2}x | {} | {} | {} | {} | {} | {} | {:.0} ms |",
            r.n,
            r.avg_bytes,
            secs(r.local),
            r.local.as_secs_f64() * 1e6 / r.n.max(1) as f64,
            secs(r.verify_only),
            secs(r.session_catch_up),
            r.session_catch_up.as_secs_f64() / r.local.as_secs_f64(),
            secs(r.node_catch_up),
            r.node_catch_up.as_secs_f64() / r.local.as_secs_f64(),
            r.session.rounds,
            r.session.busy,
            secs(r.first_page),
            pages,
            kib(r.session.bytes_sent),
            kib(r.session.bytes_received),
            r.sync_items_time.as_secs_f64() * 1e3,
        );
    }
    println!();
    println!("## Reconciliation");
    println!();
    println!("| N | case | how | rounds | bytes req->resp | bytes resp->req | total | ids found (need/have) | time |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let s = &r.identical_nodes;
        println!(
            "| {} | identical | real nodes, `Node::sync` | {} | {} | {} | {} | {}/{} | - |",
            r.n,
            s.rounds,
            s.bytes_sent,
            s.bytes_received,
            s.bytes_sent + s.bytes_received,
            s.missing,
            s.peer_missing
        );
        let m = &r.identical_sim;
        println!(
            "| {} | identical | in memory, same frames | {} | {} | {} | {} | {}/{} | {} |",
            r.n,
            m.rounds,
            m.bytes_sent,
            m.bytes_received,
            m.bytes_sent + m.bytes_received,
            m.need,
            m.have,
            secs(m.time)
        );
        let s = &r.diff_session;
        println!(
            "| {} | 1% (0.5% each side) | session incl. fetch | {} | {} | {} | {} | {}/{} | {} |",
            r.n,
            s.rounds,
            kib(s.bytes_sent),
            kib(s.bytes_received),
            kib(s.bytes_sent + s.bytes_received),
            s.missing,
            s.peer_missing,
            secs(r.diff_session_time)
        );
        let m = &r.diff_sim;
        println!(
            "| {} | 1% (0.5% each side) | in memory, reconcile only | {} | {} | {} | {} | {}/{} | {} |",
            r.n,
            m.rounds,
            kib(m.bytes_sent),
            kib(m.bytes_received),
            kib(m.bytes_sent + m.bytes_received),
            m.need,
            m.have,
            secs(m.time)
        );
    }
}
