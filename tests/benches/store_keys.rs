//! What each kind of key and each way of writing costs the store (issue 14): the same posts
//! written into fresh sled stores, each run keeping only some of the writes `store::plan`
//! gives a post (so that runs differ by one kind of key), written one batch per post, one
//! batch per `GROUP_COMMIT` posts, or key by key. Reports, per post, the bytes the store
//! directory grew by (after a flush) and the CPU time of the writing thread's process.
//! Since schema 4 the `t` and `n` writes are bucket rewrites ([`cove_node::store::bucket`]).
//!
//! Run: `cargo bench -p cove-tests --bench store_keys` (`COVE_BENCH_POSTS`, default 20 000).
//! Results: `docs/PERFORMANCE.md`, "Store v2".

use std::time::Instant;

use anyhow::{Context, Result};
use cove_crypto::{GroupSecret, MasterSeed};
use cove_node::message::{sign, Content, Post, SignedMessage};
use cove_node::store::keyspace::Writes;
use cove_node::store::layout::prefix;
use cove_node::store::{plan, Store, GROUP_COMMIT};
use cove_tests::perf::dir_bytes;
use cove_tests::scenario::cpu_time;

/// Posts when `COVE_BENCH_POSTS` is unset.
const DEFAULT_POSTS: usize = 20_000;

/// The key sets: a name and the key prefixes a post's writes are kept for.
const KEYS: [(&str, &[u8]); 3] = [
    ("message only", &[prefix::MESSAGE]),
    ("message + timeline", &[prefix::MESSAGE, prefix::TIMELINE]),
    (
        "every key of a post",
        &[
            prefix::MESSAGE,
            prefix::TIMELINE,
            prefix::COUNT,
            prefix::NEW,
            prefix::HOT,
            prefix::TOP,
        ],
    ),
];

/// How the writes reach sled.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// One `sled::Batch` per post (store v2 before group commit).
    BatchPerPost,
    /// Staged, one batch per `GROUP_COMMIT` posts (store v2).
    GroupCommit,
    /// `Tree::insert` per key: no atomicity across a post's keys; the reference.
    PlainInserts,
}

fn posts(count: usize) -> Result<Vec<SignedMessage>> {
    let group = GroupSecret::from_bytes([8; 32]).id();
    let authors: Vec<_> = (1..=8u8)
        .map(|i| MasterSeed::from_bytes([i; 32]).pseudonym(&group))
        .collect();
    (0..count)
        .map(|i| {
            let text = format!("{i:08} {}", "x".repeat(291));
            let content = Content::Post(Post { title: None, text });
            Ok(sign(
                &authors[i % 8],
                &group,
                1_000_000 + i as u64 * 20,
                content,
            )?)
        })
        .collect()
}

fn main() -> Result<()> {
    let count = std::env::var("COVE_BENCH_POSTS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(DEFAULT_POSTS);
    let posts = posts(count)?;
    println!(
        "{count} posts of {} bytes signed; per post:",
        posts[0].bytes.len()
    );
    println!("| keys written | kinds of key | writes | store growth (bytes) | CPU (µs) |");
    println!("|---|---|---|---|---|");
    for (name, kept) in KEYS {
        for mode in [Mode::BatchPerPost, Mode::GroupCommit, Mode::PlainInserts] {
            run(&posts, name, kept, mode)?;
        }
    }
    Ok(())
}

/// Writes `posts` into a fresh store, keeping the writes to the `kept` prefixes, and prints a
/// row.
fn run(posts: &[SignedMessage], name: &str, kept: &[u8], mode: Mode) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    store.flush_blocking()?;
    let before = dir_bytes(dir.path())?;
    let (cpu, started) = (cpu_time()?, Instant::now());
    let ks = store.keyspace();
    // Kinds of key a post wrote besides the count `N` (since schema 4, `t` and `n` are buckets
    // that several posts share).
    let mut written = std::collections::BTreeSet::new();
    for post in posts {
        let writes: Writes = plan::store_message(post, post.message.created_at, ks)?
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| kept.contains(&key[0]))
            .collect();
        written.extend(writes.iter().map(|(key, _)| key[0]));
        match mode {
            Mode::BatchPerPost => ks.apply(writes)?,
            Mode::GroupCommit => {
                if ks.stage(writes) >= GROUP_COMMIT {
                    ks.settle()?;
                }
            }
            Mode::PlainInserts => {
                let db = ks.db().context("a sled store")?;
                for (key, value) in writes {
                    db.insert(key, value.context("no deletes")?)?;
                }
            }
        }
    }
    ks.settle()?;
    store.flush_blocking()?;
    let cpu = cpu_time()? - cpu;
    let grown = dir_bytes(dir.path())?.saturating_sub(before);
    let kinds = written.iter().filter(|p| **p != prefix::COUNT).count();
    let count = posts.len() as u64;
    println!(
        "| {name} | {kinds} | {mode:?} | {} | {:.1} |",
        grown / count,
        cpu.as_secs_f64() * 1e6 / count as f64,
    );
    eprintln!("  ({name}, {mode:?}: {:.1?} wall)", started.elapsed());
    Ok(())
}
