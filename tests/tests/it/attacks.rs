//! One test per attack class on the gossip path (issue #7). The attacker is a real gossip
//! node on the group's topic, connected to ant only; bat and cat are honest members. For
//! every class: ant counts the rejection under its reason, nothing is stored, bat and cat never
//! see the message (ant did not forward it), and honest posts keep flowing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cove_crypto::{seal, GroupId, Invite, MasterSeed, Pseudonym};
use cove_node::core::MAX_ENVELOPE_BYTES;

/// The first key epoch: the one a new group seals in (PROTOCOL.md §15).
const FIRST_EPOCH: u32 = 0;
use cove_node::message::{sign, verify_and_decode, Content, MessageError, Post};
use cove_tests::{
    attacker, eventually, inject, wait_for_feed, wait_for_peers, Club, TestNode, TEST_TIMEOUT,
};

/// A member gone bad: it holds the group's keys (as a welcome carries them) and its own
/// pseudonym.
struct Mallory {
    group: GroupId,
    topic: String,
    invite: Invite,
    me: Pseudonym,
}

impl Mallory {
    fn new(invite: Invite, topic: String) -> Result<Mallory> {
        let group = invite.group_secret.id();
        Ok(Mallory {
            group,
            topic,
            me: MasterSeed::generate().pseudonym(&group),
            invite,
        })
    }

    fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let key = self.invite.group_secret.content_key(FIRST_EPOCH);
        seal(&key, &self.topic, FIRST_EPOCH, plaintext)
    }

    fn post(&self, created_at: u64, text: &str) -> Result<Vec<u8>> {
        let content = Content::Post(Post {
            title: None,
            text: text.into(),
        });
        Ok(sign(&self.me, &self.group, created_at, content)?.bytes)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn counters(node: &TestNode) -> Result<BTreeMap<String, u64>> {
    Ok(node.status().await?.rejected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_class_is_rejected_counted_and_not_forwarded() -> Result<()> {
    let club = Club::of(["ant", "bat", "cat"]).timeout(TEST_TIMEOUT * 2);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        // A member outside the node, with the invite.
        let mallory = Mallory::new(club.keys().await?, club.topic.clone())?;

        let now = now_ms();
        let mut forged = mallory.post(now, "a forged signature")?;
        let last = forged.len() - 1;
        forged[last] ^= 1;
        ensure!(matches!(
            verify_and_decode(&forged),
            Err(MessageError::BadSignature(_))
        ));
        let malformed = b"\xa1\x61v\xff not CBOR at all".to_vec();
        ensure!(matches!(
            verify_and_decode(&malformed),
            Err(MessageError::Malformed(_))
        ));
        let wrong_key = cove_crypto::GroupSecret::generate().content_key(FIRST_EPOCH);

        // (reason, payload): each class once.
        let mut classes: Vec<(&str, Vec<u8>)> = vec![
            ("undecryptable", b"garbage from a non-member".to_vec()),
            (
                "undecryptable",
                seal(
                    &wrong_key,
                    topic,
                    FIRST_EPOCH,
                    &mallory.post(now, "wrong key")?,
                ),
            ),
            ("bad_signature", mallory.seal(&forged)),
            (
                "from_future",
                mallory.seal(&mallory.post(now + 3_600_000, "from the future")?),
            ),
            (
                "oversized",
                mallory.seal(&vec![0u8; MAX_ENVELOPE_BYTES + 100]),
            ),
            ("malformed", mallory.seal(&malformed)),
        ];
        // The replay: the same envelope ant stored a while ago, after gossipsub forgot it
        // (5 s in local testing; a minute in production).
        let replay = attacker(ant, topic).await?;
        let recorded = eventually("the replayer to record bat's next post", || async {
            bat.post(group, None, "to be replayed").await?;
            Ok(replay.received().into_iter().next())
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(7)).await;
        classes.push(("duplicate", recorded));

        for (i, (reason, payload)) in classes.into_iter().enumerate() {
            let before = counters(ant).await?.get(reason).copied().unwrap_or(0);
            let attacker = if reason == "duplicate" {
                None
            } else {
                Some(attacker(ant, topic).await?)
            };
            inject(attacker.as_ref().unwrap_or(&replay), topic, payload).await?;
            eventually(&format!("ant to count {reason}"), || async {
                let now = counters(ant).await?.get(reason).copied().unwrap_or(0);
                Ok((now > before).then_some(()))
            })
            .await?;
            // Honest traffic still flows both ways.
            let text = format!("honest {i}");
            bat.post(group, None, &text).await?;
            let posts = bat.feed(group, 1000).await?.len();
            wait_for_feed(ant, group, posts).await?;
            wait_for_feed(cat, group, posts).await?;
            if let Some(attacker) = attacker {
                attacker.shutdown().await?;
            }
        }

        // The banned author: ant bans mallory, then mallory posts a well-formed message.
        ant.ban(Some(group.as_str()), &mallory.me.public().to_string(), true)
            .await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
        let banned = attacker(ant, topic).await?;
        inject(
            &banned,
            topic,
            mallory.seal(&mallory.post(now_ms(), "still here")?),
        )
        .await?;
        eventually("ant to count banned_author", || async {
            Ok(counters(ant)
                .await?
                .contains_key("banned_author")
                .then_some(()))
        })
        .await?;
        banned.shutdown().await?;

        // Nothing above reached bat or cat: ant forwarded none of it (the replay, a duplicate,
        // is not forwarded either, but bat and cat would count it only if it reached them).
        let posts = bat.feed(group, 1000).await?.len();
        wait_for_feed(cat, group, posts).await?;
        for node in [bat, cat] {
            let seen = counters(node).await?;
            for reason in [
                "undecryptable",
                "bad_signature",
                "from_future",
                "oversized",
                "malformed",
                "banned_author",
            ] {
                ensure!(
                    !seen.contains_key(reason),
                    "{} saw a forwarded {reason}: {seen:?}",
                    node.name
                );
            }
        }
        let authors: Vec<String> = ant
            .feed(group, 1000)
            .await?
            .into_iter()
            .map(|item| item.author)
            .collect();
        ensure!(
            !authors.contains(&mallory.me.public().to_string()),
            "a message of mallory's was stored"
        );
        replay.shutdown().await?;
        Ok(())
    })
    .await
}

async fn posts_by(node: &TestNode, group: &str, author: &str) -> Result<usize> {
    Ok(node
        .feed(group, 1000)
        .await?
        .into_iter()
        .filter(|i| i.author == author)
        .count())
}

/// Latency percentiles (ms) of honest posts, from `created_at` to arrival at the receiver.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Bat posts `count` times at 5/s; returns the latencies (ms) at which cat accepted them.
async fn honest_latencies(
    bat: &TestNode,
    cat: &TestNode,
    group: &str,
    count: usize,
) -> Result<Vec<u64>> {
    let mut watch = cat.watch();
    let bat_me = bat.groups().await?.remove(0).me;
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while latencies.len() < count {
            let Ok(signed) = watch.recv().await.map_err(|e| {
                // A lagging receiver only lost flood messages' notifications; keep going.
                matches!(e, tokio::sync::broadcast::error::RecvError::Closed)
            }) else {
                continue;
            };
            let msg = signed.message;
            if msg.author.to_string() == bat_me {
                latencies.push(now_ms().saturating_sub(msg.created_at));
            }
        }
        latencies
    });
    for i in 0..count {
        bat.post(group, None, &format!("honest {i}")).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut latencies = tokio::time::timeout(Duration::from_secs(60), collector)
        .await
        .context("not every honest post reached cat")??;
    latencies.sort_unstable();
    Ok(latencies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_flooding_at_1000_per_second_is_throttled_and_honest_posts_flow() -> Result<()> {
    // Scenario: ant, bat and cat are members; mallory (a member) floods ant with 1000 signed
    // posts per second while bat posts 5 per second (30 posts, or COVE_FLOOD_POSTS). Before
    // that, the same honest load runs without the flood.
    // Assert: every honest post reaches cat in both phases; ant keeps at most the charter's
    // limit of mallory's posts per window and forwards no more; the excess is counted.
    // The latencies are printed (run with --nocapture) for the closing note, not asserted.
    let club = Club::of(["ant", "bat", "cat"]).timeout(TEST_TIMEOUT * 2);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        // A member outside the node, with the invite.
        let mallory = Mallory::new(club.keys().await?, club.topic.clone())?;
        wait_for_peers(cat, 2).await?;
        bat.post(group, None, "warm-up").await?;
        wait_for_feed(cat, group, 1).await?;

        // Honest posts per phase (5/s): a few seconds in the suite; more for the figures in
        // the closing note (COVE_FLOOD_POSTS=200, release build).
        let honest: usize = std::env::var("COVE_FLOOD_POSTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        let quiet = honest_latencies(bat, cat, group, honest).await?;

        let flooder = attacker(ant, topic).await?;
        let flood_started = Instant::now();
        inject(&flooder, topic, mallory.seal(&mallory.post(now_ms(), "flood 0")?)).await?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flood = {
            let (topic, stop) = (topic.clone(), stop.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                let mut sent = 1u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Paced by the clock: 1000 per second of elapsed time, sent in bursts.
                    let due = start.elapsed().as_millis() as u64;
                    while sent < due {
                        let payload =
                            mallory.seal(&mallory.post(now_ms(), &format!("flood {sent}"))?);
                        flooder.publish(&topic, payload).await?;
                        sent += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let rate = sent as f64 / start.elapsed().as_secs_f64();
                anyhow::Ok((sent, rate, flooder, mallory))
            })
        };
        let flooded = honest_latencies(bat, cat, group, honest).await?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (sent, rate, flooder, mallory) = flood.await??;
        flooder.shutdown().await?;

        let mallory_key = mallory.me.public().to_string();
        let at_ant = posts_by(ant, group, &mallory_key).await?;
        // Everything ant kept arrived before this point of its clock.
        let flood_secs = flood_started.elapsed().as_secs_f64();
        let ant_counters = counters(ant).await?;
        let throttled = ant_counters.get("rate_limited").copied().unwrap_or(0)
            + ant_counters.get("peer_rate_limited").copied().unwrap_or(0);
        // The charter's 100 per 10 s on ant's clock: a burst of 100, then 10 per second of
        // real time, however many mallory sent (a loaded machine sends fewer, for longer).
        let allowed = 100 + (flood_secs * 10.0).ceil() as usize;
        ensure!(
            at_ant <= allowed,
            "ant kept {at_ant} of mallory's posts; the limit allows {allowed} in {flood_secs:.1} s"
        );
        ensure!(throttled > 0, "no throttling counted: {ant_counters:?}");
        // cat may itself count a few `rate_limited`: the limit runs on each node's own clock,
        // and relays can hand cat ant's accepted messages closer together than ant took them
        // in. Sync then brings those later. What cat must end with is exactly ant's set: had
        // ant forwarded anything it did not keep, cat would hold more.
        let at_cat = eventually("cat to hold what ant accepted", || async {
            let n = posts_by(cat, group, &mallory_key).await?;
            Ok((n == at_ant).then_some(n))
        })
        .await?;
        println!(
            "flood: mallory sent {sent} ({rate:.0}/s), ant kept {at_ant}, cat kept {at_cat}, ant counters {ant_counters:?}"
        );
        println!(
            "honest latency (ms, {honest} posts per phase, all delivered): quiet p50 {} p95 {} p99 {} | during flood p50 {} p95 {} p99 {} | p99 ratio {:.2}",
            percentile(&quiet, 0.5),
            percentile(&quiet, 0.95),
            percentile(&quiet, 0.99),
            percentile(&flooded, 0.5),
            percentile(&flooded, 0.95),
            percentile(&flooded, 0.99),
            percentile(&flooded, 0.99) as f64 / percentile(&quiet, 0.99).max(1) as f64
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_invalid_messages_is_graylisted_and_cut_off() -> Result<()> {
    // Scenario: an outsider connected to ant publishes garbage, one different payload at a
    // time. Assert: after three Rejects its gossipsub score is below the graylist threshold,
    // ant bans it (the connection closes, a redial is refused) and members still talk.
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        let outsider = attacker(ant, topic).await?;
        let outsider_id = outsider.peer_id().to_string();
        for i in 0..3 {
            let before = counters(ant)
                .await?
                .get("undecryptable")
                .copied()
                .unwrap_or(0);
            inject(&outsider, topic, format!("garbage {i}").into_bytes()).await?;
            eventually("ant to reject the garbage", || async {
                let now = counters(ant)
                    .await?
                    .get("undecryptable")
                    .copied()
                    .unwrap_or(0);
                Ok((now > before).then_some(()))
            })
            .await?;
        }
        eventually("ant to cut the outsider off", || async {
            let peers: Vec<String> = ant.peers().await?.into_iter().map(|p| p.peer).collect();
            Ok((!peers.contains(&outsider_id) && outsider.peers().await?.is_empty()).then_some(()))
        })
        .await?;
        // Dialling ant again is refused while the ban lasts.
        let addr: cove_gossip::Multiaddr = ant.status().await?.listen_addrs[0].parse()?;
        ensure!(
            outsider.dial(addr).await.is_err() || {
                tokio::time::sleep(Duration::from_secs(1)).await;
                outsider.peers().await?.is_empty()
            },
            "the banned outsider got back in"
        );
        bat.post(group, None, "still talking").await?;
        wait_for_feed(cat, group, 1).await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_member_cannot_post_by_backdating_and_honest_relays_keep_their_score() -> Result<()>
{
    // Scenario: ant bans mallory (a member outside the node). A relay connected to ant then
    // hands ant four posts by mallory dated 1 ms to 1 h before the ban (issue 12, hole 1), and
    // four posts from an hour in the future, as a relay with a slow clock would forward them.
    // Assert: ant refuses all eight (banned_author, from_future), stores none, forwards none
    // to bat and cat, and still keeps the relay connected: these verdicts depend on what a
    // node knows and on clocks, so they are Ignore, where three Rejects would have cut the
    // relay off (hole 4).
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        // A member outside the node, with the invite.
        let mallory = Mallory::new(club.keys().await?, club.topic.clone())?;
        let before_ban = now_ms();
        ant.ban(Some(group.as_str()), &mallory.me.public().to_string(), true)
            .await?;
        let relay = attacker(ant, topic).await?;
        let relay_id = relay.peer_id().to_string();
        let backdated = [1, 1_000, 60_000, 3_600_000].map(|ago| before_ban - ago);
        let future = [1, 2, 3, 4].map(|i| now_ms() + 3_600_000 + i);
        for (i, at) in backdated.into_iter().chain(future).enumerate() {
            let reason = if at > before_ban {
                "from_future"
            } else {
                "banned_author"
            };
            let before = counters(ant).await?.get(reason).copied().unwrap_or(0);
            let post = mallory.post(at, &format!("mallory {i}"))?;
            inject(&relay, topic, mallory.seal(&post)).await?;
            eventually(&format!("ant to count {reason}"), || async {
                let now = counters(ant).await?.get(reason).copied().unwrap_or(0);
                Ok((now > before).then_some(()))
            })
            .await?;
        }
        let peers: Vec<String> = ant.peers().await?.into_iter().map(|p| p.peer).collect();
        ensure!(peers.contains(&relay_id), "ant cut off an Ignored relay");
        ensure!(
            ant.feed(group, 100).await?.is_empty(),
            "ant stored a refused post"
        );
        // Honest traffic flows, and none of mallory's posts reached bat or cat.
        bat.post(group, None, "after the ban").await?;
        wait_for_feed(cat, group, 1).await?;
        wait_for_feed(ant, group, 1).await?;
        for node in [bat, cat] {
            let seen = counters(node).await?;
            ensure!(
                !seen.contains_key("banned_author") && !seen.contains_key("from_future"),
                "{} saw a forwarded refusal: {seen:?}",
                node.name
            );
            ensure!(node.feed(group, 100).await?.len() == 1, "{}", node.name);
        }
        relay.shutdown().await?;
        Ok(())
    })
    .await
}
