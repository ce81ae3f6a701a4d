use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cove_node::outsider::Outsider;
use cove_tests::{eventually, rejected, wait_for_feed, Club, Ready, TestNode, TEST_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_exchange_posts_and_outsider_learns_nothing() -> Result<()> {
    // Scenario: ant founds a group and invites bat and cat; each posts once. An outsider
    // subscribed to the group's topic receives the traffic and injects garbage and a
    // well-formed envelope sealed under a wrong key.
    // Assert: every member sees all three posts; the outsider saw only ciphertext; its
    // injections are rejected by the member it is connected to and reach nobody else.
    // Without history sync a post reaches only the members online at that moment: the club
    // is ready once its members are connected.
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let (group, topic) = (&club.group, &club.topic);

        ant.post(group, None, "hello from ant").await?;
        bat.post(group, None, "hello from bat").await?;
        cat.post(group, None, "hello from cat").await?;
        for node in [ant, bat, cat] {
            let mut texts = wait_for_feed(node, group, 3).await?;
            texts.sort();
            assert_eq!(
                texts,
                ["hello from ant", "hello from bat", "hello from cat"],
                "{}",
                node.name
            );
        }
        // Same set, same order everywhere.
        let order = |n: &TestNode| {
            let g = group.clone();
            let node = n.node.clone();
            async move {
                node.feed(&g, 10)
                    .await
                    .map(|f| f.into_iter().map(|i| i.id).collect::<Vec<_>>())
            }
        };
        assert_eq!(order(ant).await?, order(bat).await?);
        assert_eq!(order(ant).await?, order(cat).await?);

        let ant_addr = ant.status().await?.listen_addrs[0].parse()?;
        let key = cove_tests::network_key(ant, topic).await?;
        let outsider = Outsider::inside(key, topic, ant_addr).await?;
        eventually("outsider connected to ant", || async {
            Ok((!outsider.peers().await?.is_empty()).then_some(()))
        })
        .await?;
        let secret_text = "the meeting is at noon";
        // Posts reach the outsider as ciphertext (it is a relay like any peer).
        let received = eventually("outsider to receive a payload", || async {
            bat.post(group, None, secret_text).await?;
            let got = outsider.received();
            Ok((!got.is_empty()).then_some(got))
        })
        .await?;
        for payload in &received {
            ensure!(
                !payload
                    .windows(secret_text.len())
                    .any(|w| w == secret_text.as_bytes()),
                "plaintext leaked to the outsider"
            );
            ensure!(cove_node::message::verify_and_decode(payload).is_err());
        }

        // Let every member catch up with bat's posts before taking the snapshot.
        let posted = bat.feed(group, 1000).await?.len();
        for node in [ant, cat] {
            wait_for_feed(node, group, posted).await?;
        }
        let members_before: Vec<usize> = feed_lens(&[ant, bat, cat], group).await?;
        outsider
            .publish(topic, b"garbage that is no envelope".to_vec())
            .await?;
        let wrong_key = cove_crypto::GroupSecret::generate().content_key(0);
        outsider
            .publish(topic, cove_crypto::seal(&wrong_key, topic, 0, b"forged"))
            .await?;
        eventually("ant to reject both injections", || async {
            Ok((rejected(ant, "undecryptable").await? >= 2).then_some(()))
        })
        .await?;
        // Give any (wrongly) forwarded copy time to arrive before checking it did not.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let outsider_peers = outsider.peers().await?;
        for node in [bat, cat] {
            if !outsider_peers.contains(&node.peer_id_in(&group.parse()?).to_string()) {
                assert_eq!(
                    rejected(node, "undecryptable").await?,
                    0,
                    "{} got a forwarded injection",
                    node.name
                );
            }
        }
        assert_eq!(
            feed_lens(&[ant, bat, cat], group).await?,
            members_before,
            "nothing stored"
        );
        outsider.shutdown().await?;
        Ok(())
    })
    .await
}

async fn feed_lens(nodes: &[&TestNode], group: &str) -> Result<Vec<usize>> {
    let mut lens = Vec::new();
    for node in nodes {
        lens.push(node.feed(group, 1000).await?.len());
    }
    Ok(lens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_reaches_members_it_was_not_introduced_to() -> Result<()> {
    // Scenario: ant invites bat; bat invites cat (the group lets members invite), so cat's
    // invite lists only bat's address.
    // Assert: cat ends up connected to ant too (group-keyed discovery), and ant sees cat's post.
    let members_invite = cove_node::message::Policy {
        invite: cove_node::message::Inviters::Members,
        ..Default::default()
    };
    let club = Club::of(["ant", "bat", "cat"])
        .ready(Ready::Founded)
        .policy(members_invite);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let group = &club.group;
        bat.join(&ant.invite(group, Duration::from_secs(600)).await?)
            .await?;
        cat.join(&bat.invite(group, Duration::from_secs(600)).await?)
            .await?;
        let ant_id = ant.peer_id_in(&group.parse()?).to_string();
        eventually("cat to connect to ant", || async {
            Ok(cat
                .peers()
                .await?
                .iter()
                .any(|p| p.peer == ant_id)
                .then_some(()))
        })
        .await?;
        cat.post(group, None, "hi ant, bat sent me").await?;
        wait_for_feed(ant, group, 1).await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_written_alone_is_delivered_when_a_peer_appears() -> Result<()> {
    // Scenario: ant founds a group and posts while no other member exists (gossipsub has no
    // peer for the topic). Then bat joins.
    // Assert: the post is not dropped: bat receives it.
    // bat runs from the start, but is no member (nor a peer of ant's) until it joins.
    let club = Club::of(["ant", "bat"]).ready(Ready::Founded);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let group = &club.group;
        ant.post(group, None, "anyone here?").await?;
        // The post, ant's member record (PROTOCOL.md §15) and the club's invite ticket
        // (§17), all kept for later.
        assert_eq!(ant.status().await?.outbox, 3, "kept for later");
        bat.join(&ant.invite(group, Duration::from_secs(600)).await?)
            .await?;
        assert_eq!(wait_for_feed(bat, group, 1).await?, ["anyone here?"]);
        eventually("ant's outbox to drain", || async {
            Ok((ant.status().await?.outbox == 0).then_some(()))
        })
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_on_the_topic_does_not_empty_a_members_outbox() -> Result<()> {
    // Scenario: ant founds a group; its only peer is an outsider subscribed to the group's
    // topic (it learnt the topic string), which takes whatever gossip hands it. ant posts.
    // Then bat, a member, joins.
    // Assert: the outsider received the post's envelope (gossip handed it over), and ant
    // found it unproven as a sync responder, yet ant's outbox still holds the post; once bat
    // joins, bat receives the post and ant's outbox empties.
    // bat runs from the start, but is no member (nor a peer of ant's) until it joins.
    let club = Club::of(["ant", "bat"]).ready(Ready::Founded);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        let outsider = cove_tests::attacker(ant, topic).await?;
        ant.post(group, None, "for members").await?;
        eventually("the outsider to receive the post by gossip", || async {
            Ok((!outsider.received().is_empty()).then_some(()))
        })
        .await?;
        eventually("ant to find the outsider unproven", || async {
            Ok((rejected(ant, "sync_responder_unproven").await? >= 1).then_some(()))
        })
        .await?;
        // The post and ant's member record (PROTOCOL.md §15).
        assert_eq!(ant.status().await?.outbox, 3, "no member has confirmed it");

        bat.join(&ant.invite(group, Duration::from_secs(600)).await?)
            .await?;
        assert_eq!(wait_for_feed(bat, group, 1).await?, ["for members"]);
        eventually("ant's outbox to empty once bat holds the post", || async {
            Ok((ant.status().await?.outbox == 0).then_some(()))
        })
        .await?;
        outsider.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_two_groups_has_an_unlinkable_peer_id_in_each() -> Result<()> {
    // Scenario: ant founds "club" and "guild"; bat joins the club only, cat the guild only.
    // Then a peer holding the club's network key (what bat's node has) dials ant's guild
    // address.
    // Assert: ant runs two networks with two different peer ids, each listening on its own
    // address; bat knows ant only by its club peer id, cat only by its guild peer id; the
    // club-key holder cannot connect to ant's guild network.
    tokio::time::timeout(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let bat = TestNode::start("bat").await?;
        let cat = TestNode::start("cat").await?;
        let club = ant.create_group("club").await?;
        let guild = ant.create_group("guild").await?;
        bat.join(
            &ant.invite(&club.to_string(), Duration::from_secs(600))
                .await?,
        )
        .await?;
        cat.join(
            &ant.invite(&guild.to_string(), Duration::from_secs(600))
                .await?,
        )
        .await?;

        let networks = ant.status().await?.networks;
        ensure!(networks.len() == 2, "one network per group: {networks:?}");
        let in_club = ant.peer_id_in(&club).to_string();
        let in_guild = ant.peer_id_in(&guild).to_string();
        ensure!(in_club != in_guild, "one peer id served both groups");
        let net = |id: &str| networks.iter().find(|n| n.peer_id == id).cloned();
        let (club_net, guild_net) = (
            net(&in_club).context("club")?,
            net(&in_guild).context("guild")?,
        );
        ensure!(club_net
            .listen_addrs
            .iter()
            .all(|a| !guild_net.listen_addrs.contains(a)));

        let peers_of = |node: &TestNode| {
            let node = node.node.clone();
            async move {
                Ok::<_, anyhow::Error>(
                    node.peers()
                        .await?
                        .into_iter()
                        .map(|p| p.peer)
                        .collect::<Vec<_>>(),
                )
            }
        };
        eventually("bat and cat to reach ant", || async {
            let (b, c) = (peers_of(&bat).await?, peers_of(&cat).await?);
            Ok((b.contains(&in_club) && c.contains(&in_guild)).then_some(()))
        })
        .await?;
        ensure!(!peers_of(&bat).await?.contains(&in_guild));
        ensure!(!peers_of(&cat).await?.contains(&in_club));

        let club_topic = ant
            .groups()
            .await?
            .into_iter()
            .find(|g| g.name == "club")
            .context("club")?
            .topic;
        let club_key = cove_tests::network_key(&ant, &club_topic).await?;
        let guild_topic = ant
            .groups()
            .await?
            .into_iter()
            .find(|g| g.name == "guild")
            .context("guild")?
            .topic;
        let crosser =
            Outsider::inside(club_key, &guild_topic, guild_net.listen_addrs[0].parse()?).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        ensure!(
            crosser.peers().await?.is_empty(),
            "the club's key opened the guild's network"
        );
        crosser.shutdown().await?;
        for node in [&ant, &bat, &cat] {
            node.shutdown().await?;
        }
        Ok(())
    })
    .await
    .context("test timed out")?
}
