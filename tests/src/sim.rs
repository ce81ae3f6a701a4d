//! A seeded, deterministic simulator of one Cove group: no sockets, no sleeps, no timers.
//!
//! N members, each a [`Core`] over `Store::memory()`, join one group from one invite (as
//! `cove join` does, without a network). A modelled network carries their messages:
//!
//! * **Links**: a ring (so that the graph is connected) plus random links, about
//!   [`Config::degree`] per member; each link has a latency drawn from the seed, and each
//!   delivery adds a jitter of up to half of it.
//! * **Gossip**: gossipsub's eager push. A member that accepts a message (the decision of
//!   `cove_node::core::decide`, through [`Core::ingest`]) forwards the same envelope to every
//!   neighbour but the one it came from; a seen-cache drops copies before they are opened, as
//!   gossipsub's duplicate cache does. Each delivery is lost with probability
//!   [`Config::loss`], and while the [`Config::partition`] lasts nothing crosses between the
//!   two halves of the members.
//! * **Anti-entropy**: every [`Config::sync_interval_ms`] each member reconciles its set with
//!   one random neighbour's (not across the partition while it lasts), and each takes what it
//!   lacks through [`Core::ingest_signed`], as history sync does.
//!
//! Members post, reply and recommend (or withdraw a recommendation) at seeded random times.
//! The run goes on until the actions are done, every delivery has landed and every member
//! holds the same set, or for [`MAX_ROUNDS_AFTER`] anti-entropy rounds after the last action.
//! Then [`Run::differences`] lists where members' stores differ: their sets of message ids,
//! their `new`, `hot` and `top` rankings, and the first page of each feed as shown.
//!
//! Everything comes from the seed: the same seed gives the same [`Run`], including
//! [`Run::trace`], a digest of every event in order. A failing run prints its seed; set
//! [`SEED_VAR`] to run that seed again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cove_crypto::{GroupId, GroupSecret, Invite, MasterSeed};
use cove_node::core::Core;
use cove_node::message::{Content, MessageId, Policy, Post, Recommend, Reply, SignedMessage};
use cove_node::store::{Ranking, Store};
use cove_node::view::social::Order;
use serde::Serialize;

/// The environment variable that overrides a simulation test's seed.
pub const SEED_VAR: &str = "COVE_SIM_SEED";

/// Anti-entropy rounds after the last action before a run that has not converged stops.
pub const MAX_ROUNDS_AFTER: u64 = 50;

/// Unix ms of the simulation's time 0 (the group's founding).
const EPOCH_MS: u64 = 1_700_000_000_000;

/// Items per feed page compared as members see them.
const FEED_PAGE: usize = 20;

/// A simulated group and its network.
#[derive(Clone, Debug)]
pub struct Config {
    /// Everything random derives from it.
    pub seed: u64,
    /// Members, the founder included.
    pub members: usize,
    /// Actions (post, reply, recommend), at random times within `duration_ms`.
    pub messages: usize,
    /// Links per member, on average (a ring plus random links).
    pub degree: usize,
    /// Link latency, drawn per link in `[min, max]` ms.
    pub latency_ms: (u64, u64),
    /// Probability that one delivery is lost.
    pub loss: f64,
    /// Actions happen in `[0, duration_ms)` of simulated time.
    pub duration_ms: u64,
    /// `[from, to)` ms during which the first and second half of the members cannot reach
    /// each other.
    pub partition: Option<(u64, u64)>,
    /// Time between anti-entropy rounds.
    pub sync_interval_ms: u64,
}

impl Config {
    /// `members` members and `messages` actions over a minute, 20–200 ms links, 5 % loss,
    /// and a partition from 15 s to 40 s; anti-entropy every 10 s.
    pub fn new(seed: u64, members: usize, messages: usize) -> Config {
        Config {
            seed,
            members,
            messages,
            degree: 6,
            latency_ms: (20, 200),
            loss: 0.05,
            duration_ms: 60_000,
            partition: Some((15_000, 40_000)),
            sync_interval_ms: 10_000,
        }
    }
}

/// The seed of a simulation test: [`SEED_VAR`] if set, else `default`.
pub fn seed_or(default: u64) -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// What a run did and where it ended: equal for equal seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The seed.
    pub seed: u64,
    /// Members.
    pub members: usize,
    /// Posts, replies and recommendations (or withdrawals) composed.
    pub posts: u64,
    /// Replies composed.
    pub replies: u64,
    /// Recommendations and withdrawals composed.
    pub recommendations: u64,
    /// Envelopes opened and judged by a receiver (after the seen-cache).
    pub deliveries: u64,
    /// Copies dropped by a receiver's seen-cache unopened.
    pub seen_dropped: u64,
    /// Deliveries lost on a link.
    pub lost: u64,
    /// Deliveries that could not cross the partition.
    pub cut: u64,
    /// Messages stored from gossip.
    pub gossip_accepted: u64,
    /// Messages stored from anti-entropy.
    pub synced: u64,
    /// Refusals by reason, over gossip, sync and compose.
    pub refused: BTreeMap<String, u64>,
    /// Anti-entropy rounds run.
    pub sync_rounds: u64,
    /// Of which after the last action.
    pub rounds_after_actions: u64,
    /// Simulated time at the end, ms.
    pub sim_ms: u64,
    /// Messages in the first member's store (every kind, the charter included).
    pub stored: usize,
    /// Whether every member holds the same set and the same feeds.
    pub converged: bool,
    /// Where members differ from the first member (at most a few lines).
    pub differences: Vec<String>,
    /// Digest of every event in order (hex).
    pub trace: String,
    /// Digest of the first member's rankings and feed pages (hex).
    pub feeds: String,
}

/// A [`Run`] and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// What happened.
    #[serde(flatten)]
    pub run: Run,
    /// Wall-clock time to create and join the members, ms.
    pub setup_ms: u64,
    /// Wall-clock time of the simulation and the check, ms.
    pub run_ms: u64,
}

impl Outcome {
    /// Fails with the seed and how to run it again unless every member converged.
    pub fn assert_converged(&self, rerun: &str) {
        assert!(
            self.run.converged,
            "no convergence with seed {seed}: {diffs:#?}\nrun it again with {var}={seed} {rerun}",
            seed = self.run.seed,
            diffs = self.run.differences,
            var = SEED_VAR,
        );
    }
}

/// Runs one simulation.
pub fn run(config: &Config) -> Result<Outcome> {
    let started = Instant::now();
    let mut sim = Sim::new(config.clone())?;
    let setup_ms = started.elapsed().as_millis() as u64;
    let started = Instant::now();
    sim.simulate()?;
    let run = sim.finish()?;
    Ok(Outcome {
        run,
        setup_ms,
        run_ms: started.elapsed().as_millis() as u64,
    })
}

/// SplitMix64: a tiny, fully specified generator, so that a seed means the same run
/// whatever version of a random crate is in the tree.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn bytes(&mut self) -> [u8; 32] {
        let mut out = [0; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
}

/// FNV-1a, 64 bits: the trace digest.
#[derive(Debug)]
struct Digest(u64);

impl Digest {
    fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn event(&mut self, at: u64, member: usize, what: &str, id: &MessageId) {
        self.add(&at.to_be_bytes());
        self.add(&(member as u64).to_be_bytes());
        self.add(what.as_bytes());
        self.add(&id.0);
    }
}

#[derive(Debug)]
enum Event {
    /// The member composes something.
    Act(usize),
    /// An envelope reaches `to` from its neighbour `from`.
    Deliver {
        to: usize,
        from: usize,
        envelope: usize,
    },
    /// An anti-entropy round.
    Sync,
}

#[derive(Debug)]
struct Member {
    core: Core,
    /// Neighbours and the latency of the link to each.
    links: Vec<(usize, u64)>,
    /// Envelopes seen (gossipsub's duplicate cache).
    seen: HashSet<usize>,
    /// `(created_at, id)` of every stored message: the set anti-entropy reconciles.
    have: BTreeSet<(u64, MessageId)>,
    /// Posts stored, in the order they were stored: what the member replies to and recommends.
    posts: Vec<MessageId>,
    /// Posts the member currently recommends.
    recommends: HashSet<MessageId>,
}

#[derive(Debug)]
struct Sim {
    config: Config,
    rng: Rng,
    members: Vec<Member>,
    group: GroupId,
    topic: String,
    envelopes: Vec<Vec<u8>>,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    now: u64,
    in_flight: u64,
    acts_left: usize,
    trace: Digest,
    run: Run,
}

impl Sim {
    /// The members, joined to one group, their links, and the actions scheduled.
    fn new(config: Config) -> Result<Sim> {
        if config.members < 2 {
            bail!("a simulation needs at least 2 members");
        }
        let mut rng = Rng(config.seed);
        let n = config.members;
        let mut cores = Vec::with_capacity(n);
        for _ in 0..n {
            let seed = MasterSeed::from_bytes(rng.bytes());
            cores.push(Core::new(Store::memory(), seed)?);
        }
        let secret = GroupSecret::from_bytes(rng.bytes());
        let group = cores[0].found_group(secret, "sim", Policy::default(), EPOCH_MS)?;
        let invite_text = cores[0].invite(&group, vec![], EPOCH_MS / 1000 + 3600)?;
        let invite = Invite::decode(&invite_text, EPOCH_MS / 1000)?;
        for core in &mut cores[1..] {
            core.join(&invite, EPOCH_MS)?;
        }
        let topic = cores[0].group(&group).context("group")?.topic.clone();
        let charter = cores[0].group(&group).context("group")?.charter_id;

        // A ring, then random links up to the degree; each link with its own latency.
        let mut links: BTreeSet<(usize, usize)> = (0..n).map(|i| edge(i, (i + 1) % n)).collect();
        let extra = n * config.degree.saturating_sub(2) / 2;
        while links.len() < n + extra && links.len() < n * (n - 1) / 2 {
            let (a, b) = (rng.below(n as u64) as usize, rng.below(n as u64) as usize);
            if a != b {
                links.insert(edge(a, b));
            }
        }
        let mut members: Vec<Member> = cores
            .into_iter()
            .map(|core| Member {
                core,
                links: Vec::new(),
                seen: HashSet::new(),
                have: BTreeSet::from([(EPOCH_MS, charter)]),
                posts: Vec::new(),
                recommends: HashSet::new(),
            })
            .collect();
        let (min, max) = config.latency_ms;
        for (a, b) in links {
            let latency = min + rng.below(max.saturating_sub(min) + 1);
            members[a].links.push((b, latency));
            members[b].links.push((a, latency));
        }

        let mut sim = Sim {
            run: Run {
                seed: config.seed,
                members: n,
                ..Run::default()
            },
            acts_left: config.messages,
            rng,
            members,
            group,
            topic,
            envelopes: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            in_flight: 0,
            trace: Digest::new(),
            config,
        };
        for _ in 0..sim.config.messages {
            let at = sim.rng.below(sim.config.duration_ms.max(1));
            let member = sim.rng.below(n as u64) as usize;
            sim.schedule(at, Event::Act(member));
        }
        sim.schedule(sim.config.sync_interval_ms, Event::Sync);
        Ok(sim)
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    /// This node's clock for the members, unix ms.
    fn clock(&self) -> u64 {
        EPOCH_MS + self.now
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        let half = self.config.members / 2;
        self.config
            .partition
            .is_some_and(|(from, to)| (from..to).contains(&self.now) && (a < half) != (b < half))
    }

    /// Runs events until the stop condition of the module docs.
    fn simulate(&mut self) -> Result<()> {
        while let Some(((at, _), event)) = self.queue.pop_first() {
            self.now = at;
            match event {
                Event::Act(member) => {
                    self.acts_left -= 1;
                    self.act(member)?;
                }
                Event::Deliver { to, from, envelope } => {
                    self.in_flight -= 1;
                    self.deliver(to, from, envelope);
                }
                Event::Sync => {
                    self.sync_round()?;
                    let done = self.acts_left == 0 && self.in_flight == 0 && self.same_sets();
                    if self.acts_left == 0 {
                        self.run.rounds_after_actions += 1;
                    }
                    if !done && self.run.rounds_after_actions < MAX_ROUNDS_AFTER {
                        self.schedule(at + self.config.sync_interval_ms, Event::Sync);
                    }
                }
            }
        }
        self.run.sim_ms = self.now;
        Ok(())
    }

    /// `member` posts, replies to a post it has, or recommends one (withdraws if it does).
    fn act(&mut self, member: usize) -> Result<()> {
        let roll = self.rng.below(4);
        let m = &self.members[member];
        let target = match m.posts.len() {
            0 => None,
            len => Some(m.posts[self.rng.below(len as u64) as usize]),
        };
        let content = match (roll, target) {
            (2, Some(post)) => Content::Reply(Reply {
                root: post,
                parent: post,
                text: format!("reply of member {member} at {}", self.now),
            }),
            (3, Some(post)) => Content::Recommend(Recommend {
                target: post,
                active: !m.recommends.contains(&post),
            }),
            _ => Content::Post(Post {
                title: None,
                text: format!("post of member {member} at {}", self.now),
            }),
        };
        let now = self.clock();
        let (signed, envelope) = match self.members[member].core.compose(&self.group, content, now)
        {
            Ok(composed) => composed,
            Err(e) => {
                *self.run.refused.entry(format!("compose: {e}")).or_default() += 1;
                return Ok(());
            }
        };
        match &signed.message.content {
            Content::Post(_) => self.run.posts += 1,
            Content::Reply(_) => self.run.replies += 1,
            Content::Recommend(r) => {
                self.run.recommendations += 1;
                let recommends = &mut self.members[member].recommends;
                if r.active {
                    recommends.insert(r.target);
                } else {
                    recommends.remove(&r.target);
                }
            }
            _ => {}
        }
        self.trace
            .event(self.now, member, "compose", &signed.message.id);
        self.stored(member, &signed);
        self.envelopes.push(envelope);
        let envelope = self.envelopes.len() - 1;
        self.members[member].seen.insert(envelope);
        self.forward(member, None, envelope);
        Ok(())
    }

    /// Records that `member` stored `signed`.
    fn stored(&mut self, member: usize, signed: &SignedMessage) {
        let m = &mut self.members[member];
        let msg = &signed.message;
        m.have.insert((msg.created_at, msg.id));
        if matches!(msg.content, Content::Post(_)) {
            m.posts.push(msg.id);
        }
    }

    /// Sends `envelope` from `member` to its neighbours but `except`.
    fn forward(&mut self, member: usize, except: Option<usize>, envelope: usize) {
        for i in 0..self.members[member].links.len() {
            let (to, latency) = self.members[member].links[i];
            if Some(to) == except {
                continue;
            }
            if self.partitioned(member, to) {
                self.run.cut += 1;
                continue;
            }
            if self.rng.chance(self.config.loss) {
                self.run.lost += 1;
                continue;
            }
            let at = self.now + latency + self.rng.below(latency / 2 + 1);
            self.in_flight += 1;
            self.schedule(
                at,
                Event::Deliver {
                    to,
                    from: member,
                    envelope,
                },
            );
        }
    }

    fn deliver(&mut self, to: usize, from: usize, envelope: usize) {
        if !self.members[to].seen.insert(envelope) {
            self.run.seen_dropped += 1;
            return;
        }
        self.run.deliveries += 1;
        let now = self.clock();
        let decision = self.members[to]
            .core
            .ingest(&self.topic, &self.envelopes[envelope], now);
        match decision {
            Ok(signed) => {
                self.run.gossip_accepted += 1;
                self.trace.event(self.now, to, "gossip", &signed.message.id);
                self.stored(to, &signed);
                self.forward(to, Some(from), envelope);
            }
            Err(rejection) => self.refused(to, rejection.reason()),
        }
    }

    fn refused(&mut self, member: usize, reason: &str) {
        *self.run.refused.entry(reason.to_string()).or_default() += 1;
        self.trace
            .event(self.now, member, reason, &MessageId([0; 32]));
    }

    /// Each member reconciles with one random neighbour it can reach.
    fn sync_round(&mut self) -> Result<()> {
        self.run.sync_rounds += 1;
        for a in 0..self.members.len() {
            let links = &self.members[a].links;
            let b = links[self.rng.below(links.len() as u64) as usize].0;
            if !self.partitioned(a, b) {
                self.reconcile(a, b)?;
                self.reconcile(b, a)?;
            }
        }
        Ok(())
    }

    /// `to` takes from `from` what it lacks, oldest first, as a sync session fetches it.
    fn reconcile(&mut self, to: usize, from: usize) -> Result<()> {
        let missing: Vec<MessageId> = self.members[from]
            .have
            .difference(&self.members[to].have)
            .map(|(_, id)| *id)
            .collect();
        let now = self.clock();
        for id in missing {
            let bytes = self.members[from]
                .core
                .store()
                .message_bytes(&self.group, &id)?
                .context("a message in a member's set is not in its store")?;
            match self.members[to]
                .core
                .ingest_signed(&self.group, &bytes, now)
            {
                Ok(signed) => {
                    self.run.synced += 1;
                    self.trace.event(self.now, to, "sync", &signed.message.id);
                    self.stored(to, &signed);
                }
                Err(rejection) => self.refused(to, rejection.reason()),
            }
        }
        Ok(())
    }

    fn same_sets(&self) -> bool {
        let first = &self.members[0].have;
        self.members[1..]
            .iter()
            .all(|m| m.have.len() == first.len() && m.have == *first)
    }

    /// Compares every member's store with the first member's.
    fn finish(mut self) -> Result<Run> {
        let views = self
            .members
            .iter()
            .map(|m| self.view(&m.core))
            .collect::<Result<Vec<_>>>()?;
        let first = &views[0];
        for (i, view) in views.iter().enumerate().skip(1) {
            for (what, ours, theirs) in [
                ("message ids", &view.ids, &first.ids),
                ("new ranking", &view.new, &first.new),
                ("hot ranking", &view.hot, &first.hot),
                ("top ranking", &view.top, &first.top),
            ] {
                if ours != theirs && self.run.differences.len() < 8 {
                    self.run.differences.push(format!(
                        "member {i}: {what} differ ({} here, {} at member 0; first difference at {})",
                        ours.len(),
                        theirs.len(),
                        ours.iter().zip(theirs).take_while(|(a, b)| a == b).count()
                    ));
                }
            }
            if view.pages != first.pages && self.run.differences.len() < 8 {
                self.run
                    .differences
                    .push(format!("member {i}: the feeds as shown differ"));
            }
        }
        self.run.converged = self.run.differences.is_empty();
        self.run.stored = first.ids.len();
        let mut digest = Digest::new();
        for id in first.new.iter().chain(&first.hot).chain(&first.top) {
            digest.add(&id.0);
        }
        digest.add(format!("{:?}", first.pages).as_bytes());
        self.run.feeds = format!("{:016x}", digest.0);
        self.run.trace = format!("{:016x}", self.trace.0);
        Ok(self.run)
    }

    /// What a member's store holds: its set, its rankings, and the first page of each feed
    /// as shown (id, recommendations, replies).
    fn view(&self, core: &Core) -> Result<View> {
        let store = core.store();
        let ranked = |by| {
            store
                .ranked(&self.group, by)
                .collect::<Result<Vec<MessageId>, _>>()
        };
        let mut pages = Vec::new();
        for order in [Order::New, Order::Hot, Order::Top] {
            let page = core.view().feed_ranked(
                &self.group,
                order,
                None,
                FEED_PAGE,
                false,
                self.clock(),
            )?;
            pages.push(
                page.into_iter()
                    .map(|item| (item.id, item.recommendations, item.replies))
                    .collect(),
            );
        }
        Ok(View {
            ids: store
                .sync_items(&self.group, 0)?
                .into_iter()
                .map(|(_, id)| id)
                .collect(),
            new: ranked(Ranking::New)?,
            hot: ranked(Ranking::Hot)?,
            top: ranked(Ranking::Top)?,
            pages,
        })
    }
}

/// A member's store as compared.
#[derive(Debug)]
struct View {
    ids: Vec<MessageId>,
    new: Vec<MessageId>,
    hot: Vec<MessageId>,
    top: Vec<MessageId>,
    pages: Vec<Vec<(String, u64, u64)>>,
}

/// An undirected link, smaller end first.
fn edge(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}
