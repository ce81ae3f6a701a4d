//! Feed ranking benchmark (issue 4, "The social layer"): `hot` top-50 over 100k posts carrying
//! 1M recommendations (also `top`, `new` and `hot` within 24 h), and the cost of ingesting
//! one recommendation into that store.
//!
//! Run: `cargo bench -p cove-tests --bench feed`. Quick run:
//! `COVE_BENCH_POSTS=1000 COVE_BENCH_RECS=10000 cargo bench -p cove-tests --bench feed`.
//! Other knobs: `COVE_BENCH_ITERS` (queries per ordering, default 200), `COVE_BENCH_SAMPLE`
//! (recommendations per ingest sample, default 10 000). Results: `docs/PERFORMANCE.md`.
//!
//! Data set (one group, one sled store in a temp dir, rebuilt every run):
//! - [`AUTHORS`] pseudonyms, each with a profile, write the posts, spread evenly over the
//!   [`SPAN_MS`] before the run (so about 3.3k of 100k posts fall in the last 24 h).
//! - 1 % of the posts are deleted by their authors (hidden by the visibility check).
//! - The recommendations go to the posts by a Zipf–Mandelbrot law over a random popularity
//!   order of the posts (weight `1 / (rank + 10)`, so the most recommended post gets about
//!   1 % of them), from [`RECOMMENDERS`] pseudonyms; each (recommender, post) pair occurs at
//!   most once and every recommendation is active. Each is dated between its post and now,
//!   and they are stored in random order, after the posts (each one re-ranks its post).
//! - Set-up stores them with `Store::insert_message` (indexes included, no verification); a
//!   second thread signs while the main one stores. Ingestion is measured separately through
//!   `Core::ingest_signed` (decode, verify, rules, store).

use std::collections::HashSet;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cove_crypto::{GroupId, MasterSeed, Pseudonym};
use cove_node::core::Core;
use cove_node::message::{
    sign, verify_and_decode, Content, MessageId, Post, Profile, Recommend, SignedMessage, Target,
};
use cove_node::now_ms;
use cove_node::store::{Ranking, Store};
use cove_node::view::social::Order;

/// Posts when `COVE_BENCH_POSTS` is unset.
const DEFAULT_POSTS: usize = 100_000;
/// Recommendations when `COVE_BENCH_RECS` is unset.
const DEFAULT_RECS: usize = 1_000_000;
/// Queries timed per ordering when `COVE_BENCH_ITERS` is unset.
const DEFAULT_ITERS: usize = 200;
/// Recommendations per ingestion sample when `COVE_BENCH_SAMPLE` is unset.
const DEFAULT_SAMPLE: usize = 10_000;
/// Pseudonyms that write posts.
const AUTHORS: usize = 1_000;
/// Pseudonyms that recommend (at least; more if the Zipf head needs them).
const RECOMMENDERS: usize = 20_000;
/// Pseudonyms that write the ingestion samples (not among the recommenders).
const LATE_RECOMMENDERS: usize = 1_000;
/// Posts are spread over this span before now.
const SPAN_MS: u64 = 30 * 24 * 3_600_000;
/// Zipf–Mandelbrot offset: weight of rank r is 1 / (r + OFFSET).
const ZIPF_OFFSET: f64 = 10.0;
/// One post in this many is deleted by its author.
const DELETE_EVERY: usize = 100;
/// Feed page size.
const LIMIT: usize = 50;
/// Untimed queries before each timed series.
const WARMUP: usize = 5;
/// Messages per chunk handed from the signing thread to the storing one.
const CHUNK: usize = 4096;

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(s) => s
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name}: a number")),
        Err(_) => Ok(default),
    }
}

/// xorshift64*: deterministic data without a dependency.
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
        self.next() % n.max(1)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

const WORDS: [&str; 24] = [
    "the", "meeting", "is", "moved", "to", "thursday", "bring", "your", "notes", "and", "a",
    "friend", "who", "wants", "to", "help", "with", "the", "garden", "tools", "are", "in", "shed",
    "thanks",
];

/// A post text of 100..300 bytes.
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

/// The shape of the data set.
#[derive(Debug)]
struct Shape {
    posts: usize,
    recs: usize,
    recommenders: usize,
    /// Recommendations per post, by post index.
    counts: Vec<u32>,
    /// Post indices by popularity, most recommended first.
    by_rank: Vec<u32>,
}

/// Zipf–Mandelbrot counts summing to exactly `recs`, each at most `recommenders`.
fn shape(posts: usize, recs: usize, rng: &mut Rng) -> Shape {
    let recommenders = RECOMMENDERS.max(recs.div_ceil(posts.max(1)));
    let weights: Vec<f64> = (0..posts).map(|r| 1.0 / (r as f64 + ZIPF_OFFSET)).collect();
    let total: f64 = weights.iter().sum();
    let mut by_rank_counts: Vec<u32> = weights
        .iter()
        .map(|w| ((w / total * recs as f64) as usize).min(recommenders) as u32)
        .collect();
    let mut left = recs - by_rank_counts.iter().map(|&c| c as usize).sum::<usize>();
    let mut r = 0;
    while left > 0 {
        if (by_rank_counts[r] as usize) < recommenders {
            by_rank_counts[r] += 1;
            left -= 1;
        }
        r = (r + 1) % posts;
    }
    let mut by_rank: Vec<u32> = (0..posts as u32).collect();
    rng.shuffle(&mut by_rank);
    let mut counts = vec![0; posts];
    for (rank, &post) in by_rank.iter().enumerate() {
        counts[post as usize] = by_rank_counts[rank];
    }
    Shape {
        posts,
        recs,
        recommenders,
        counts,
        by_rank,
    }
}

fn pseudonyms(group: &GroupId, n: usize) -> Vec<Pseudonym> {
    (0..n)
        .map(|_| MasterSeed::generate().pseudonym(group))
        .collect()
}

/// What set-up stored, for the queries and samples that follow.
#[derive(Debug)]
struct Built {
    post_ids: Vec<MessageId>,
    post_times: Vec<u64>,
    messages: usize,
    sign_time: Duration,
    now: u64,
}

/// Signs the data set on a second thread and stores it with `Store::insert_message`.
fn build(store: &Store, group: &GroupId, shape: &Shape, now: u64) -> Result<Built> {
    let authors = pseudonyms(group, AUTHORS);
    let recommenders = pseudonyms(group, shape.recommenders);
    let (tx, rx) = sync_channel::<Vec<SignedMessage>>(8);
    std::thread::scope(|scope| -> Result<Built> {
        let signer = scope.spawn(move || -> Result<(Vec<MessageId>, Vec<u64>, Duration)> {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ shape.posts as u64);
            let mut chunk = Vec::with_capacity(CHUNK);
            let emit = |m: SignedMessage, chunk: &mut Vec<SignedMessage>| -> Result<()> {
                chunk.push(m);
                if chunk.len() == CHUNK {
                    tx.send(std::mem::replace(chunk, Vec::with_capacity(CHUNK)))
                        .context("storer gone")?;
                }
                Ok(())
            };
            let start = now - SPAN_MS;
            let t = Instant::now();
            for (i, a) in authors.iter().enumerate() {
                let profile = Content::Profile(Profile {
                    nickname: format!("member{i}"),
                    bio: None,
                });
                emit(sign(a, group, start - 1000, profile)?, &mut chunk)?;
            }
            let (mut ids, mut times, mut post_authors) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..shape.posts {
                let at = start + (i as u64 * SPAN_MS) / shape.posts as u64;
                let author = rng.below(AUTHORS as u64) as usize;
                let post = Content::Post(Post {
                    title: None,
                    text: text(&mut rng),
                });
                let signed = sign(&authors[author], group, at, post)?;
                ids.push(signed.message.id);
                times.push(at);
                post_authors.push(author);
                emit(signed, &mut chunk)?;
            }
            for i in (DELETE_EVERY / 2..shape.posts).step_by(DELETE_EVERY) {
                let delete = Content::Delete(Target { target: ids[i] });
                let at = times[i] + 1 + rng.below(now - times[i]);
                emit(
                    sign(&authors[post_authors[i]], group, at, delete)?,
                    &mut chunk,
                )?;
            }
            // Every (post, recommender) pair once: a run of consecutive recommenders
            // (modulo their number) from a random start.
            let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(shape.recs);
            for (post, &count) in shape.counts.iter().enumerate() {
                let first = rng.below(shape.recommenders as u64) as usize;
                for j in 0..count as usize {
                    pairs.push((post as u32, ((first + j) % shape.recommenders) as u32));
                }
            }
            rng.shuffle(&mut pairs);
            for (post, who) in pairs {
                let post = post as usize;
                let at = times[post] + 1 + rng.below(now - times[post]);
                let rec = Content::Recommend(Recommend {
                    target: ids[post],
                    active: true,
                });
                emit(
                    sign(&recommenders[who as usize], group, at, rec)?,
                    &mut chunk,
                )?;
            }
            if !chunk.is_empty() {
                tx.send(chunk).context("storer gone")?;
            }
            Ok((ids, times, t.elapsed()))
        });
        let mut messages = 0;
        for chunk in rx {
            for m in &chunk {
                store.insert_message(m, m.message.created_at)?;
            }
            messages += chunk.len();
            if messages % (CHUNK * 64) < CHUNK {
                eprintln!("  stored {messages}");
            }
        }
        let (post_ids, post_times, sign_time) = signer.join().expect("signer panicked")?;
        Ok(Built {
            post_ids,
            post_times,
            messages,
            sign_time,
            now,
        })
    })
}

/// Timings of one query series.
#[derive(Debug)]
struct Series {
    name: String,
    first: Duration,
    mean: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    items: usize,
    timed: usize,
}

fn series(name: &str, iters: usize, mut query: impl FnMut() -> Result<usize>) -> Result<Series> {
    let t = Instant::now();
    let items = query()?;
    let first = t.elapsed();
    // Slow series (the windowed `hot` reads every older post) get one warm-up only.
    let warmup = if first > Duration::from_millis(50) {
        1
    } else {
        WARMUP
    };
    for _ in 1..warmup {
        query()?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let n = query()?;
        times.push(t.elapsed());
        ensure!(n == items, "{name}: result size changed");
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    Ok(Series {
        name: name.to_string(),
        first,
        mean: times.iter().sum::<Duration>() / iters.max(1) as u32,
        p50: pct(0.50),
        p99: pct(0.99),
        max: *times.last().context("no iterations")?,
        items,
        timed: iters,
    })
}

/// Recommendations by pseudonyms not yet in the store, to Zipf-chosen posts, distinct pairs.
fn sample(
    group: &GroupId,
    late: &[Pseudonym],
    built: &Built,
    shape: &Shape,
    n: usize,
    rng: &mut Rng,
    seen: &mut HashSet<(usize, u32)>,
) -> Result<Vec<SignedMessage>> {
    let cumulative: Vec<f64> = (0..shape.posts)
        .scan(0.0, |acc, r| {
            *acc += 1.0 / (r as f64 + ZIPF_OFFSET);
            Some(*acc)
        })
        .collect();
    let total = *cumulative.last().context("no posts")?;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let who = out.len() % late.len();
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let rank = cumulative.partition_point(|&c| c < x).min(shape.posts - 1);
        let post = shape.by_rank[rank];
        if !seen.insert((who, post)) {
            continue;
        }
        let post = post as usize;
        let at = built.post_times[post] + 1 + rng.below(built.now - built.post_times[post]);
        let rec = Content::Recommend(Recommend {
            target: built.post_ids[post],
            active: true,
        });
        out.push(sign(&late[who], group, at, rec)?);
    }
    Ok(out)
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<()> {
    let posts = env_usize("COVE_BENCH_POSTS", DEFAULT_POSTS)?;
    let recs = env_usize("COVE_BENCH_RECS", DEFAULT_RECS)?;
    let iters = env_usize("COVE_BENCH_ITERS", DEFAULT_ITERS)?;
    let sample_size = env_usize("COVE_BENCH_SAMPLE", DEFAULT_SAMPLE)?;
    ensure!(posts >= LIMIT, "COVE_BENCH_POSTS must be at least {LIMIT}");

    let tmp = tempfile::Builder::new().prefix("feed").tempdir()?;
    let mut core = Core::new(Store::open(tmp.path())?, MasterSeed::generate())?;
    let now = now_ms();
    let group = core.create_group("bench", now - SPAN_MS - 10_000)?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ recs as u64);
    let shape = shape(posts, recs, &mut rng);
    let top_count = shape.counts.iter().max().copied().unwrap_or(0);
    let with_recs = shape.counts.iter().filter(|&&c| c > 0).count();
    eprintln!(
        "== {posts} posts by {AUTHORS} authors, {recs} recommendations by {} pseudonyms \
         (max {top_count} on one post, {with_recs} posts recommended)",
        shape.recommenders
    );

    let t = Instant::now();
    let built = build(core.store(), &group, &shape, now)?;
    let setup = t.elapsed();
    eprintln!(
        "set-up: {} messages stored in {setup:.1?} (signing thread done after {:.1?}, \
         waits for the storer included)",
        built.messages, built.sign_time
    );
    let t = Instant::now();
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(core.store().flush())?;
    eprintln!("flushed in {:.1?}", t.elapsed());
    let size = core.store().size_on_disk();

    // Queries: everything `cove feed --order ...` does, on the data set as built.
    let day = Duration::from_secs(24 * 3600);
    let mut rows = Vec::new();
    for (name, order, window) in [
        ("hot", Order::Hot, None),
        ("top", Order::Top, None),
        ("new", Order::New, None),
        ("hot --window 24h", Order::Hot, Some(day)),
    ] {
        // The windowed `hot` query loads every post older than the window: time fewer.
        let n = if window.is_some() {
            (iters / 40).max(3)
        } else {
            iters
        };
        let row = series(name, n, || {
            Ok(core
                .view()
                .feed_ranked(&group, order, window, LIMIT, false, now)?
                .len())
        })?;
        eprintln!("{row:?}");
        rows.push(row);
    }
    let row = series("hot --explain", iters, || {
        Ok(core
            .view()
            .feed_ranked(&group, Order::Hot, None, LIMIT, true, now)?
            .len())
    })?;
    rows.push(row);

    // Where a `hot` query's time goes: the index scan alone, and the scan plus message loads.
    let scanned = {
        // Entries read by the hot query: up to the 50th visible post.
        let shown = core
            .view()
            .feed_ranked(&group, Order::Hot, None, LIMIT, false, now)?;
        let last: MessageId = shown.last().context("empty feed")?.id.parse()?;
        let mut n = 0;
        for id in core.store().ranked(&group, Ranking::Hot) {
            n += 1;
            if id? == last {
                break;
            }
        }
        n
    };
    let scan = series("index scan only", iters, || {
        let mut n = 0;
        for id in core.store().ranked(&group, Ranking::Hot).take(scanned) {
            id?;
            n += 1;
        }
        Ok(n)
    })?;
    let load = series("index scan + message loads", iters, || {
        let mut n = 0;
        for id in core.store().ranked(&group, Ranking::Hot).take(scanned) {
            n += usize::from(core.store().message(&id?)?.is_some());
        }
        Ok(n)
    })?;

    // Ingestion of one recommendation, into the full core.store().
    let late = pseudonyms(&group, LATE_RECOMMENDERS);
    let mut seen = HashSet::new();
    let a = sample(
        &group,
        &late,
        &built,
        &shape,
        sample_size,
        &mut rng,
        &mut seen,
    )?;
    let b = sample(
        &group,
        &late,
        &built,
        &shape,
        sample_size,
        &mut rng,
        &mut seen,
    )?;
    let t = Instant::now();
    for m in &a {
        verify_and_decode(&m.bytes)?;
    }
    let verify = t.elapsed();
    let ingest_now = now_ms();
    let t = Instant::now();
    for m in &a {
        core.ingest_signed(&group, &m.bytes, ingest_now)
            .map_err(|r| anyhow::anyhow!("ingest refused: {r}"))?;
    }
    let ingest = t.elapsed();
    let t = Instant::now();
    for m in &b {
        ensure!(
            core.store().insert_message(m, ingest_now)?,
            "sample B: duplicate"
        );
    }
    let insert = t.elapsed();
    let after = core
        .view()
        .feed_ranked(&group, Order::Hot, None, LIMIT, false, now)?;
    ensure!(after.len() == LIMIT, "feed shrank after ingestion");

    println!();
    println!(
        "## Feed queries ({posts} posts, {recs} recommendations, limit {LIMIT}, up to {iters} timed \
         queries each after up to {WARMUP} untimed)"
    );
    println!();
    println!(
        "set-up {:.1} s for {} messages (insert_message, signing on a second thread); \
         store {:.0} MiB on disk; hot query reads {scanned} index entries for {LIMIT} items",
        setup.as_secs_f64(),
        built.messages,
        size as f64 / (1024.0 * 1024.0)
    );
    println!();
    println!("| query | items | timed | first (cold) | mean | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows.iter().chain([&scan, &load]) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.items,
            r.timed,
            ms(r.first),
            ms(r.mean),
            ms(r.p50),
            ms(r.p99),
            ms(r.max)
        );
    }
    println!();
    println!("## Ingesting one recommendation ({sample_size} per sample, into the full store)");
    println!();
    println!("| step | total | per recommendation |");
    println!("|---|---|---|");
    println!(
        "| `Core::ingest_signed` (sample A) | {} | {:.1} µs |",
        ms(ingest),
        per(ingest, sample_size)
    );
    println!(
        "| of which `verify_and_decode` (sample A, separately) | {} | {:.1} µs |",
        ms(verify),
        per(verify, sample_size)
    );
    println!(
        "| `Store::insert_message` alone (sample B, pre-verified) | {} | {:.1} µs |",
        ms(insert),
        per(insert, sample_size)
    );
    println!(
        "| rest: rules and authority checks (difference) | - | {:.1} µs |",
        per(ingest, sample_size) - per(verify, sample_size) - per(insert, sample_size)
    );
    Ok(())
}
