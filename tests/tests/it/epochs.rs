//! Closed over time (PROTOCOL.md §15): a ban starts a new key epoch that the banned member
//! never holds, and a member who was offline obtains it by history sync.

use std::time::Duration;

use anyhow::{ensure, Result};
use cove_tests::{eventually, wait_for_feed, within, TestNode, TEST_TIMEOUT};

/// The number of the key epoch `node` seals in for its only group.
async fn epoch(node: &TestNode) -> Result<u32> {
    Ok(node.status().await?.networks[0].epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_cuts_reading_and_an_offline_member_catches_up_across_the_re_key() -> Result<()> {
    // Scenario: ant founds a group; bat, cat and dan join and their member records reach
    // ant. dan goes offline. ant bans cat, which re-keys the group, and posts.
    // Assert: bat enters epoch 1 and reads the post; cat's node, still running with all it
    // stored, stays in epoch 0, holds none of the post even after a sync on demand, and its
    // own posts are refused; the roster no longer lists cat; dan comes back, obtains epoch
    // 1 by sync and reads the post.
    // (Not a `Club`: dan restarts, which takes its node by `&mut`.)
    within(TEST_TIMEOUT * 2, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        let invite = ant
            .invite_for(&group, Duration::from_secs(3600), 3, Vec::new())
            .await?;
        let (bat, cat) = (TestNode::start("bat").await?, TestNode::start("cat").await?);
        let mut dan = TestNode::start("dan").await?;
        for member in [&bat, &cat, &dan] {
            member.join(&invite).await?;
        }
        eventually("every member record to reach ant and bat", || async {
            let (a, b) = (
                ant.members(Some(&group)).await?,
                bat.members(Some(&group)).await?,
            );
            Ok((a.len() == 4 && b.len() == 4).then_some(()))
        })
        .await?;
        dan.shutdown().await?;

        let cat_key = cat.groups().await?[0].me.clone();
        ant.ban(Some(&group), &cat_key, true).await?;
        ensure!(epoch(&ant).await? == 1, "the ban did not re-key at once");
        eventually("bat to enter the new epoch", || async {
            Ok((epoch(&bat).await? == 1).then_some(()))
        })
        .await?;
        ant.post(&group, None, "after the ban").await?;
        assert_eq!(wait_for_feed(&bat, &group, 1).await?, ["after the ban"]);

        cat.sync(Some(&group), None).await?;
        assert_eq!(epoch(&cat).await?, 0, "cat received a new epoch's key");
        assert!(cat.feed(&group, 10).await?.is_empty(), "cat reads the post");
        let refused = cat.post(&group, None, "still here").await.unwrap_err();
        assert!(refused.to_string().contains("banned"), "{refused}");
        let roster = ant.members(Some(&group)).await?;
        assert_eq!(roster.len(), 3);
        assert!(roster.iter().all(|m| m.member != cat_key));

        dan.restart().await?;
        eventually("dan to enter the new epoch", || async {
            Ok((epoch(&dan).await? == 1).then_some(()))
        })
        .await?;
        assert_eq!(wait_for_feed(&dan, &group, 1).await?, ["after the ban"]);
        for node in [&ant, &bat, &cat, &dan] {
            node.shutdown().await?;
        }
        Ok(())
    })
    .await
}
