use std::time::Duration;

use anyhow::Result;
use cove_node::message::Policy;
use cove_tests::TEST_TIMEOUT;
use cove_tests::{eventually, wait_for_feed, wait_for_peers, within, Club, Ready, TestNode};

const INVITE_TTL: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_receives_the_whole_history_in_the_same_order() -> Result<()> {
    // Scenario: ant and bat exchange 500 posts; afterwards cat joins with an invite.
    // Assert: cat ends up with all 500 posts, in the same feed order as ant and bat; cat's
    //   sync activity counts the sessions it ran and the messages they fetched.
    // 250 posts each in a few seconds is far over the default rate limit; this test is about
    // history, so the group has none.
    let no_limit = Policy::with_rate_limit(Some("none")).map_err(anyhow::Error::msg)?;
    // cat runs from the start, but is no member (nor anyone's peer) until it joins.
    let club = Club::of(["ant", "bat", "cat"])
        .ready(Ready::Founded)
        .policy(no_limit)
        .timeout(TEST_TIMEOUT * 2);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let group = &club.group;
        bat.join(&ant.invite(group, INVITE_TTL).await?).await?;
        wait_for_peers(bat, 1).await?;
        for i in 0..250 {
            ant.post(group, None, &format!("ant {i}")).await?;
            bat.post(group, None, &format!("bat {i}")).await?;
        }
        wait_for_feed(ant, group, 500).await?;
        wait_for_feed(bat, group, 500).await?;

        cat.join(&ant.invite(group, INVITE_TTL).await?).await?;
        wait_for_feed(cat, group, 500).await?;
        let order = ant.feed_ids(group).await?;
        assert_eq!(order.len(), 500);
        assert_eq!(bat.feed_ids(group).await?, order);
        assert_eq!(cat.feed_ids(group).await?, order);
        // Gossip carries nothing sent before cat subscribed (save what gossipsub still
        // advertises from its last heartbeats), so most of the history came by sync.
        let activity = eventually("cat's sessions to end", || async {
            let a = *cat.sync_activity().borrow();
            Ok((a.running == 0 && a.finished >= 1).then_some(a))
        })
        .await?;
        assert_eq!(activity.started, activity.finished, "{activity:?}");
        assert!(activity.fetched >= 1, "{activity:?}");
        // `status` carries the same figures (later ones: anti-entropy goes on).
        assert!(cat.status().await?.sync.finished >= activity.finished);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_member_catches_up_after_restart() -> Result<()> {
    // Scenario: bat is a member; bat's node stops; ant posts three times; bat's node restarts
    // and nobody posts again.
    // Assert: bat receives all three posts (through sync, since gossip is over).
    // (Not a `Club`: bat restarts, which takes its node by `&mut`.)
    within(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let mut bat = TestNode::start("bat").await?;
        let group = ant.create_group("club").await?.to_string();
        bat.join(&ant.invite(&group, INVITE_TTL).await?).await?;
        wait_for_peers(&ant, 1).await?;
        bat.shutdown().await?;
        for text in ["while", "you", "slept"] {
            ant.post(&group, None, text).await?;
        }
        bat.restart().await?;
        let mut texts = wait_for_feed(&bat, &group, 3).await?;
        texts.sort();
        assert_eq!(texts, ["slept", "while", "you"]);
        assert_eq!(bat.feed_ids(&group).await?, ant.feed_ids(&group).await?);
        ant.shutdown().await?;
        bat.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_sync_reports_what_it_did() -> Result<()> {
    // Scenario: ant and bat are connected members with the same history; `sync` runs.
    // Assert: one report, nothing fetched, reconciliation confirmed agreement in one round.
    let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let group = &club.group;
        ant.post(group, None, "one").await?;
        wait_for_feed(bat, group, 1).await?;
        let reports = eventually("a sync report", || async {
            let reports = bat.sync(Some(group), None).await?;
            Ok(
                (!reports.is_empty() && reports.iter().all(|r| r.error.is_none()))
                    .then_some(reports),
            )
        })
        .await?;
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].accepted, 0);
        assert_eq!(reports[0].missing, 0);
        assert_eq!(reports[0].rounds, 1);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_partition_converges() -> Result<()> {
    // Scenario: a four-member group; ant and bat block cat and dog, splitting it in two halves.
    // Each member posts while apart; then the blocks are lifted.
    // Assert: while apart, each half holds only its own posts; after healing all four hold
    // the same four posts in the same order.
    let club = Club::of(["ant", "bat", "cat", "dog"]);
    club.run(async |club| {
        let [ant, bat, cat, dog] = club.members();
        let group = &club.group;
        let id: cove_crypto::GroupId = group.parse()?;
        let far_side = [
            cat.peer_id_in(&id).to_string(),
            dog.peer_id_in(&id).to_string(),
        ];
        for near in [ant, bat] {
            for far in &far_side {
                near.block_peer(far, Some(Duration::from_secs(3600)))
                    .await?;
            }
        }
        for (node, text) in [
            (ant, "ant apart"),
            (bat, "bat apart"),
            (cat, "cat apart"),
            (dog, "dog apart"),
        ] {
            node.post(group, None, text).await?;
        }
        let mut near = wait_for_feed(ant, group, 2).await?;
        near.sort();
        assert_eq!(near, ["ant apart", "bat apart"]);
        let mut far = wait_for_feed(dog, group, 2).await?;
        far.sort();
        assert_eq!(far, ["cat apart", "dog apart"]);

        for near in [ant, bat] {
            for far in &far_side {
                near.block_peer(far, None).await?;
            }
        }
        for node in [ant, bat, cat, dog] {
            wait_for_feed(node, group, 4).await?;
        }
        let order = ant.feed_ids(group).await?;
        for node in [bat, cat, dog] {
            assert_eq!(node.feed_ids(group).await?, order, "{}", node.name);
        }
        Ok(())
    })
    .await
}
