use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cove_crypto::seal;
use cove_node::message::{sign, Ban, Content};
use cove_node::outsider::Outsider;
use cove_node::view::social::{FeedItem, ModerationInfo, Order, ProfileInfo, Thread};
use cove_node::FeedQuery;
use cove_tests::{eventually, wait_for_feed, Club, Ready, TestNode};

async fn show(node: &TestNode, id: &str) -> Result<FeedItem> {
    Ok(node.show(id).await?)
}

/// Waits until `check` holds for what `node` shows of message `id`.
async fn wait_shown(
    node: &TestNode,
    id: &str,
    what: &str,
    check: impl Fn(&FeedItem) -> bool,
) -> Result<FeedItem> {
    let last = std::sync::Mutex::new(None);
    let result = eventually(&format!("{} to show {what}", node.name), || async {
        let shown = show(node, id).await;
        let found = shown.as_ref().ok().filter(|item| check(item)).cloned();
        *last.lock().unwrap() = Some(format!("{shown:?}"));
        Ok(found)
    })
    .await;
    result.with_context(|| {
        format!(
            "last seen: {}",
            last.lock().unwrap().clone().unwrap_or_default()
        )
    })
}

async fn ranked(node: &TestNode, group: &str, order: Order) -> Result<Vec<FeedItem>> {
    Ok(node
        .feed_ranked(FeedQuery {
            group: Some(group.into()),
            order,
            window: None,
            limit: 50,
            explain: true,
        })
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_threads_recommendations_edits_and_deletes_converge() -> Result<()> {
    // Scenario: three members. bat renames itself; ant posts; bat replies, cat replies to
    // bat; bat recommends the post twice, cat recommends and withdraws; ant edits the post;
    // cat deletes its reply.
    // Assert: on every node: bat's latest nickname; a thread of depth 2; one recommendation
    // (bat's), marked as mine only for bat; the edited text; cat's reply gone.
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let group = &club.group;
        bat.set_profile(group, "bat", None).await?;
        bat.set_profile(group, "batty", Some("likes caves".into()))
            .await?;
        let bat_key = bat.groups().await?[0].me.clone();
        for node in [ant, cat] {
            eventually(
                &format!("{} to see bat's new nickname", node.name),
                || async {
                    // Until bat's first profile arrives, the lookup is an error.
                    let profiles: Vec<ProfileInfo> =
                        node.profiles(Some(&bat_key)).await.unwrap_or_default();
                    let nickname = profiles.first().and_then(|p| p.nickname.as_deref());
                    Ok((nickname == Some("batty")).then_some(()))
                },
            )
            .await?;
        }

        let post = ant
            .post(group, Some("Book".into()), "Dune?")
            .await?
            .to_string();
        wait_for_feed(bat, group, 1).await?;
        let r1 = bat.reply(&post, "yes").await?.to_string();
        wait_shown(cat, &r1, "bat's reply", |_| true).await?;
        let r2 = cat.reply(&r1, "no").await?.to_string();
        for node in [ant, bat, cat] {
            let thread = eventually(&format!("{} to see the thread", node.name), || async {
                let thread: Thread = node.thread(&post).await?;
                Ok((thread.replies.len() == 2).then_some(thread))
            })
            .await?;
            assert_eq!(thread.replies[0].item.id, r1);
            assert_eq!((thread.replies[0].depth, thread.replies[1].depth), (1, 2));
            assert_eq!(thread.replies[1].item.parent.as_deref(), Some(r1.as_str()));
        }

        bat.recommend(&post, true).await?;
        bat.recommend(&post, true).await?;
        cat.recommend(&post, true).await?;
        wait_shown(cat, &post, "cat's recommendation", |i| i.recommended_by_me).await?;
        cat.recommend(&post, false).await?;
        ant.edit(&post, None, "Dune, this month").await?;
        cat.delete(&r2).await?;
        for node in [ant, bat, cat] {
            let item = wait_shown(node, &post, "one recommendation and the edit", |i| {
                i.recommendations == 1 && i.text == "Dune, this month"
            })
            .await?;
            assert!(item.edited);
            assert_eq!(item.title.as_deref(), Some("Book"));
            assert_eq!(item.recommended_by_me, node.name == "bat", "{}", node.name);
            eventually(&format!("{} to drop cat's reply", node.name), || async {
                let thread: Thread = node.thread(&post).await?;
                Ok((thread.replies.len() == 1).then_some(()))
            })
            .await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rankings_are_the_same_on_every_node_and_explained() -> Result<()> {
    // Scenario: ant posts p1, p2, p3 in that order; bat and cat recommend p2; bat recommends p3.
    // Assert: new = p3 p2 p1; top = p2 p3 p1; hot = p2 p3 p1; the same on every node, and
    // each list's explained scores never increase down the list.
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let group = &club.group;
        let mut posts = Vec::new();
        for text in ["p1", "p2", "p3"] {
            posts.push(ant.post(group, None, text).await?.to_string());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for node in [bat, cat] {
            wait_for_feed(node, group, 3).await?;
        }
        for (node, target) in [(bat, 1), (cat, 1), (bat, 2)] {
            node.recommend(&posts[target], true).await?;
        }
        let texts = |items: &[FeedItem]| items.iter().map(|i| i.text.clone()).collect::<Vec<_>>();
        for node in [ant, bat, cat] {
            wait_shown(node, &posts[1], "p2's two recommendations", |i| {
                i.recommendations == 2
            })
            .await?;
            wait_shown(node, &posts[2], "p3's recommendation", |i| {
                i.recommendations == 1
            })
            .await?;
            for (order, expected) in [
                (Order::New, ["p3", "p2", "p1"]),
                (Order::Top, ["p2", "p3", "p1"]),
                (Order::Hot, ["p2", "p3", "p1"]),
            ] {
                let items = ranked(node, group, order).await?;
                assert_eq!(texts(&items), expected, "{} {order:?}", node.name);
                let scores: Vec<u64> = items
                    .iter()
                    .map(|i| i.explain.as_ref().map(|e| e.score).unwrap_or(0))
                    .collect();
                ensure!(
                    scores.windows(2).all(|w| w[0] >= w[1]),
                    "{order:?} scores {scores:?} out of order"
                );
            }
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_removals_and_mutes() -> Result<()> {
    // Scenario: ant (founder, admin) bans cat, then removes a post of bat's; a forged "ban"
    // of bat signed by cat's pseudonym (not an admin) is injected; bat mutes ant.
    // Assert: cat's later posts reach nobody; the removed post disappears everywhere; the
    // forged ban is rejected (counted as not_admin) and bat can still post; the mute hides
    // ant's posts for bat only.
    let club = Club::of(["ant", "bat", "cat"]);
    club.run(async |club| {
        let [ant, bat, cat] = club.members();
        let group = &club.group;
        let cat_key = cat.groups().await?[0].me.clone();
        let bat_key = bat.groups().await?[0].me.clone();
        // Non-admins are refused locally with a clear error.
        let err = bat.ban(Some(group), &cat_key, true).await.unwrap_err();
        assert!(err.to_string().contains("not an admin"), "{err}");

        ant.ban(Some(group), &cat_key, true).await?;
        for node in [bat, cat] {
            eventually(&format!("{} to learn the ban", node.name), || async {
                let info: ModerationInfo = node.moderation(None).await?;
                Ok((info.banned.iter().any(|(k, _)| *k == cat_key)).then_some(()))
            })
            .await?;
        }
        // A banned member's own node refuses to post for it...
        let refused = cat.post(group, None, "am I still here?").await.unwrap_err();
        assert!(refused.to_string().contains("banned"), "{refused}");
        // ...and a post signed by it anyway is ignored by every node that knows the ban.
        let secret = club.keys().await?.group_secret;
        let cat_seed = cove_node::data_dir::DataDir::new(cat.dir.path()).load_seed()?;
        let cat_pseudonym = cat_seed.pseudonym(&secret.id());
        let sealed = |content: Content| -> Result<Vec<u8>> {
            let signed = sign(&cat_pseudonym, &secret.id(), cove_node::now_ms(), content)?;
            Ok(seal(
                &secret.content_key(0),
                &secret.topic(),
                0,
                &signed.bytes,
            ))
        };
        let ant_addr = ant.status().await?.listen_addrs[0].parse()?;
        let key = *secret.network_key(cove_node::NETWORK_EPOCH).as_bytes();
        let outsider = Outsider::inside(key, &secret.topic(), ant_addr).await?;
        let counter = |reason: &'static str| {
            let ant = ant.node.clone();
            async move {
                Ok::<_, anyhow::Error>(
                    ant.status()
                        .await?
                        .rejected
                        .get(reason)
                        .copied()
                        .unwrap_or(0),
                )
            }
        };
        let banned_post = sealed(Content::Post(cove_node::message::Post {
            title: None,
            text: "am I still here?".into(),
        }))?;
        eventually("ant to ignore the banned author's post", || async {
            outsider
                .publish(&secret.topic(), banned_post.clone())
                .await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok((counter("banned_author").await? >= 1).then_some(()))
        })
        .await?;
        for node in [ant, bat] {
            assert!(
                node.feed(group, 50)
                    .await?
                    .iter()
                    .all(|i| i.text != "am I still here?"),
                "{}",
                node.name
            );
        }

        // A ban signed by a non-admin, well formed and sealed with the group key.
        let envelope = sealed(Content::Ban(Ban {
            member: bat_key.parse()?,
            active: true,
        }))?;
        eventually("the forged ban to be rejected", || async {
            outsider.publish(&secret.topic(), envelope.clone()).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok((ant
                .status()
                .await?
                .rejected
                .get("not_admin")
                .copied()
                .unwrap_or(0)
                >= 1)
                .then_some(()))
        })
        .await?;
        let post = bat.post(group, None, "still allowed").await?.to_string();
        wait_shown(ant, &post, "bat's post after the forged ban", |_| true).await?;

        ant.remove(&post).await?;
        for node in [ant, bat, cat] {
            eventually(
                &format!("{} to drop the removed post", node.name),
                || async { Ok(show(node, &post).await.is_err().then_some(())) },
            )
            .await?;
        }

        let ant_post = ant.post(group, None, "from ant").await?.to_string();
        wait_shown(bat, &ant_post, "ant's post", |_| true).await?;
        let ant_key = ant.groups().await?[0].me.clone();
        bat.mute(None, &ant_key, true).await?;
        assert!(
            bat.feed(group, 50).await?.iter().all(|i| i.id != ant_post),
            "muted for bat"
        );
        // The mute is bat's alone: ant's own feed still lists the post.
        assert!(ant.feed(group, 50).await?.iter().any(|i| i.id == ant_post));
        // cat, banned before ant posted, holds no key of the epoch the post is sealed in.
        cat.sync(Some(group), None).await?;
        assert!(
            show(cat, &ant_post).await.is_err(),
            "cat read a post after its ban"
        );
        outsider.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_social_input_is_refused_and_changes_nothing() -> Result<()> {
    // Scenario: bat tries to recommend an unknown id, edit ant's post, set a 65-byte nickname
    // and talk in a room that does not exist.
    // Assert: each is a clear error and bat's store holds the same messages as before.
    let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let group = &club.group;
        let post = ant.post(group, None, "mine").await?.to_string();
        wait_for_feed(bat, group, 1).await?;
        let count = || async { Ok::<_, anyhow::Error>(bat.groups().await?[0].messages) };
        let before = count().await?;
        let unknown = "ab".repeat(32);
        let attempts = [
            (bat.recommend(&unknown, true).await, "unknown message"),
            (bat.edit(&post, None, "hacked").await, "not yours"),
            (
                bat.set_profile(group, &"n".repeat(65), None).await,
                "longer than the limit",
            ),
            (bat.say(None, "lobby", "hi").await, "unknown room"),
        ];
        for (result, expected) in attempts {
            let err = result.expect_err(expected);
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.is_user_error(), "{err}");
        }
        assert_eq!(count().await?, before, "nothing was stored");
        Ok(())
    })
    .await
}
