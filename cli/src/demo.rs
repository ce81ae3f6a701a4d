//! `cove demo`: a whole closed group on loopback, in this process, narrated for a newcomer.
//!
//! Three members (ant, bat, cat) and one outsider run real nodes on 127.0.0.1 with temporary
//! data dirs. mDNS is off, so nothing leaves the machine.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cove_node::data_dir::DataDir;
use cove_node::outsider::Outsider;
use cove_node::{FeedItem, FeedQuery, Node, NodeConfig, Order};

/// How long the demo waits for any one thing to propagate before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// One line of a feed: `nickname#fingerprint: [title] text  (+N, replies, id)`.
pub(crate) fn format_item(item: &FeedItem) -> String {
    let who = item.nickname.as_deref().unwrap_or("anonymous");
    let mine = if item.mine { " (you)" } else { "" };
    let title = item
        .title
        .as_deref()
        .map(|t| format!("[{t}] "))
        .unwrap_or_default();
    let edited = if item.edited { " (edited)" } else { "" };
    let star = if item.recommended_by_me { "*" } else { "" };
    let mut meta = format!("+{}{star}", item.recommendations);
    if item.replies > 0 {
        meta.push_str(&format!(", {} replies", item.replies));
    }
    let short_id = &item.id[..12.min(item.id.len())];
    let mut line = format!(
        "  {who}#{}{mine}: {title}{}{edited}  ({meta}, {short_id})",
        item.fingerprint, item.text
    );
    if let Some(e) = &item.explain {
        line.push_str(&format!(
            "\n      score {} = recommendations {}, age {} h, boost {} ms",
            e.score, e.recommendations, e.age_hours, e.boost_ms
        ));
    }
    line
}

async fn start_member(name: &str, root: &std::path::Path) -> Result<Node> {
    let dir = root.join(name);
    DataDir::new(&dir).init()?;
    let node = Node::start(NodeConfig::loopback(&dir)).await?;
    println!("  {name} is up (one peer id per group it joins)");
    Ok(node)
}

/// Waits until `group`'s feed on `node` holds at least `count` posts.
async fn wait_for_posts(node: &Node, group: &str, count: usize) -> Result<Vec<FeedItem>> {
    let start = Instant::now();
    loop {
        let feed = node.feed(group, 100).await?;
        if feed.len() >= count {
            return Ok(feed);
        }
        if start.elapsed() > PATIENCE {
            bail!(
                "only {} of {count} posts arrived within {PATIENCE:?}",
                feed.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rejected(node: &Node) -> Result<u64> {
    Ok(node.status().await?.rejected.values().sum())
}

pub(crate) async fn run() -> Result<()> {
    let root = tempfile::tempdir().context("creating temporary data dirs")?;
    println!("== Cove demo: a closed, pseudonymous group on this machine (loopback only)\n");

    println!("1. Three members start their nodes, each with its own data dir and seed.");
    let ant = start_member("ant", root.path()).await?;
    let bat = start_member("bat", root.path()).await?;
    let cat = start_member("cat", root.path()).await?;

    println!("\n2. ant founds the group \"book club\" and signs its charter.");
    let group = ant.create_group("book club").await?.to_string();
    println!("  group id {group}");
    let invite = ant
        .invite_for(&group, Duration::from_secs(3600), 2, Vec::new())
        .await?;
    println!(
        "  ant's invite, a ticket for two (its key, the charter, the key and address of ant's \
         door for the group, checksummed; not the group secret, not the network key):"
    );
    println!("  {}...{}", &invite[..40], &invite[invite.len() - 12..]);

    println!(
        "\n3. bat and cat join with the invite: they knock at ant's door, ant checks the \
         ticket, records each admission and hands over the group's keys and its address in \
         the group's network; their nodes then dial ant there and subscribe."
    );
    bat.join(&invite).await?;
    cat.join(&invite).await?;
    for (name, node) in [("ant", &ant), ("bat", &bat), ("cat", &cat)] {
        let start = Instant::now();
        while node.peers().await?.len() < 2 {
            ensure!(
                start.elapsed() < PATIENCE,
                "{name} did not find the other members"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "  all three are connected to each other (cat found bat through the group's DHT key)."
    );
    for (node, nick) in [(&ant, "ant"), (&bat, "bat"), (&cat, "cat")] {
        node.set_profile(&group, nick, None).await?;
    }
    println!("  each picks a nickname; every pseudonym is a key derived for this group only.");

    println!("\n4. Members post. Each post is signed by the author's pseudonym, sealed with the");
    println!("   group key, and validated by every node before it is stored or forwarded.");
    ant.post(
        &group,
        Some("Welcome".into()),
        "This month: Dune. Thoughts?",
    )
    .await?;
    wait_for_posts(&bat, &group, 1).await?;
    bat.post(&group, None, "Loved the desert ecology chapters.")
        .await?;
    wait_for_posts(&cat, &group, 2).await?;
    cat.post(&group, None, "Halfway through, no spoilers please!")
        .await?;
    for (name, node) in [("ant", &ant), ("bat", &bat), ("cat", &cat)] {
        let feed = wait_for_posts(node, &group, 3).await?;
        println!("\n  {name}'s feed (newest first):");
        for item in &feed {
            println!("{}", format_item(item));
        }
    }

    println!("\n   bat and cat recommend ant's post (one voice each, counted on every node);");
    println!("   cat replies to it.");
    let welcome = ant
        .feed(&group, 10)
        .await?
        .into_iter()
        .last()
        .context("ant's post")?
        .id;
    for node in [&bat, &cat] {
        node.recommend(&welcome, true).await?;
    }
    cat.reply(&welcome, "Team Atreides!").await?;
    let start = Instant::now();
    let hot = loop {
        let ranked = FeedQuery {
            group: Some(group.clone()),
            order: Order::Hot,
            window: None,
            limit: 10,
            explain: true,
        };
        let items: Vec<FeedItem> = ant.feed_ranked(ranked).await?;
        if items
            .first()
            .is_some_and(|i| i.recommendations == 2 && i.replies == 1)
            || start.elapsed() > PATIENCE
        {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("\n  ant's feed ordered by `hot` (recommendations with time decay), explained:");
    for item in &hot {
        println!("{}", format_item(item));
    }

    println!("\n5. An outsider learns the topic name and ant's address, but has no invite.");
    let info = ant
        .groups()
        .await?
        .into_iter()
        .find(|g| g.id == group)
        .context("group")?;
    let ant_addr = ant
        .status()
        .await?
        .listen_addrs
        .first()
        .context("ant has no address")?
        .clone();
    let stranger = Outsider::start(&info.topic, ant_addr.parse()?).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        stranger.peers().await?.is_empty(),
        "a peer without the group's network key connected"
    );
    println!("  its connection fails: the group runs on a private network (pre-shared key).");
    stranger.shutdown().await?;
    println!("  Suppose it stole the network key alone (not the invite) and subscribes.");
    let network_key = *ant.network_key(&group).await?.as_bytes();
    let outsider = Outsider::inside(network_key, &info.topic, ant_addr.parse()?).await?;
    let before = rejected(&ant).await?;
    let start = Instant::now();
    let outsider_id = outsider.peer_id().to_string();
    // Wait until ant knows the outsider subscribes: ant then sends it what ant publishes.
    while !ant
        .peers()
        .await?
        .iter()
        .any(|p| p.peer == outsider_id && !p.groups.is_empty())
    {
        ensure!(start.elapsed() < PATIENCE, "the outsider never subscribed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent_text = "Anyone want to swap books?";
    ant.post(&group, None, sent_text).await?;
    while outsider.received().is_empty() && start.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = outsider.received();
    ensure!(!received.is_empty(), "the outsider was never sent the post");
    let leaked = received.iter().any(|p| {
        p.windows(sent_text.len())
            .any(|w| w == sent_text.as_bytes())
    });
    ensure!(!leaked, "plaintext reached the outsider");
    let sample = &received[received.len() - 1];
    println!(
        "  it receives {} payload(s), e.g. {}...: ciphertext, no plaintext in it.",
        received.len(),
        hex(&sample[..24.min(sample.len())])
    );

    println!(
        "\n6. The outsider injects garbage and a well-formed envelope sealed under a wrong key."
    );
    outsider
        .publish(&info.topic, b"buy cheap watches".to_vec())
        .await?;
    let wrong_key = cove_crypto::GroupSecret::generate().content_key(0);
    let forged = cove_crypto::seal(&wrong_key, &info.topic, 0, b"forged post");
    outsider.publish(&info.topic, forged).await?;
    let start = Instant::now();
    while rejected(&ant).await? < before + 2 && start.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = ant.status().await?;
    ensure!(
        rejected(&ant).await? >= before + 2,
        "ant did not reject the injected payloads"
    );
    println!(
        "  ant rejected both at validation (counters: {:?}); nothing was stored or forwarded.",
        status.rejected
    );
    for (name, node) in [("ant", &ant), ("bat", &bat), ("cat", &cat)] {
        let n = node.feed(&group, 100).await?.len();
        println!("  {name}'s feed still holds {n} posts.");
    }

    println!("\n7. Everyone shuts down.");
    outsider.shutdown().await?;
    for node in [&ant, &bat, &cat] {
        node.shutdown().await?;
    }
    println!("\nDone. Try it for real with two terminals: see README.md.");
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
