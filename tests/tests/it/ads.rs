use anyhow::Result;
use cove_node::data_dir::DataDir;
use cove_node::message::{Offer, Place, Targeting};
use cove_node::outsider::Outsider;
use cove_node::view::ads::AdView;
use cove_node::view::social::{FeedItem, Order};
use cove_node::{AdDraft, FeedQuery, GrantRequest};
use cove_tests::{eventually, Club, TestNode};

const DAY_MS: u64 = 86_400_000;

fn coffee() -> Targeting {
    Targeting {
        key: Some("interest:coffee".into()),
        ..Default::default()
    }
}

async fn ads(node: &TestNode) -> Result<Vec<AdView>> {
    Ok(node.ads(None).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_advertiser_reaches_matching_members_only_until_revoked() -> Result<()> {
    // Scenario: ant founds the group; dog, a member, creates an advertiser key and ant grants
    // it; dog publishes a coffee ad with an offer. bat is interested in coffee, cat in nothing.
    // Assert: bat lists the ad and finds it interleaved (labelled) in its feed; cat does not
    // list it but holds it (it relays it); after ant revokes the grant, the ad disappears from
    // bat's listing; bad grant and ad requests are refused without storing anything.
    let club = Club::of(["ant", "bat", "cat", "dog"]);
    club.run(async |club| {
        let [ant, bat, cat, dog] = club.members();
        let group = &club.group;
        let shop = DataDir::new(dog.dir.path())
            .init_advertiser()?
            .public()
            .to_string();
        let now = cove_node::now_ms();

        // Bad input first: nothing may be stored.
        let before = ant.groups().await?[0].messages;
        let bad_key = ant
            .grant_advertiser(
                None,
                GrantRequest {
                    key: "not-a-key".into(),
                    name: "X".into(),
                    not_before: None,
                    not_after: now + DAY_MS,
                    daily_quota: 1,
                    targeting: vec![],
                },
            )
            .await
            .unwrap_err();
        assert!(bad_key.to_string().contains("advertiser key"), "{bad_key}");
        let backwards = ant
            .grant_advertiser(
                None,
                GrantRequest {
                    key: shop.clone(),
                    name: "X".into(),
                    not_before: Some(now),
                    not_after: now - 1,
                    daily_quota: 1,
                    targeting: vec![],
                },
            )
            .await
            .unwrap_err();
        assert!(
            backwards.to_string().contains("end after it starts"),
            "{backwards}"
        );
        assert_eq!(ant.groups().await?[0].messages, before);

        let grant = ant
            .grant_advertiser(
                None,
                GrantRequest {
                    key: shop.clone(),
                    name: "Bean There".into(),
                    not_before: None,
                    not_after: now + 30 * DAY_MS,
                    daily_quota: 5,
                    targeting: vec!["interest:coffee".into()],
                },
            )
            .await?;
        let grant = grant.to_string();
        bat.set_interests(vec!["interest:coffee".into()], vec![])
            .await?;
        eventually("dog to hold the grant", || async {
            Ok(dog
                .grants(None)
                .await
                .ok()
                .filter(|grants| !grants.is_empty()))
        })
        .await?;
        let too_long = dog
            .publish_ad(
                None,
                AdDraft {
                    title: "Latte".into(),
                    body: "x".repeat(3000),
                    targeting: Some(coffee()),
                    offer: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            too_long.to_string().contains("longer than the limit"),
            "{too_long}"
        );
        let wine = dog
            .publish_ad(
                None,
                AdDraft {
                    title: "Wine".into(),
                    body: "Tasting".into(),
                    targeting: Some(Targeting {
                        key: Some("interest:wine".into()),
                        ..Default::default()
                    }),
                    offer: None,
                },
            )
            .await
            .unwrap_err();
        assert!(wine.to_string().contains("not allowed"), "{wine}");

        // An outsider on the topic, connected to dog, the ad's first hop.
        let topic = dog.groups().await?[0].topic.clone();
        let dog_addr = dog.status().await?.listen_addrs[0].parse()?;
        let key = cove_tests::network_key(dog, &topic).await?;
        let outsider = Outsider::inside(key, &topic, dog_addr).await?;
        let outsider_id = outsider.peer_id().to_string();
        eventually("dog to see the outsider subscribed", || async {
            Ok(dog
                .peers()
                .await?
                .iter()
                .any(|p| p.peer == outsider_id && !p.groups.is_empty())
                .then_some(()))
        })
        .await?;

        let offer = Offer {
            place: Place {
                name: "Bean There".into(),
                address: "1 Main St".into(),
                lat: None,
                lon: None,
            },
            coupon: Some("LATTE2".into()),
            valid_until: now + DAY_MS,
        };
        let ad_id = dog
            .publish_ad(
                None,
                AdDraft {
                    title: "Latte".into(),
                    body: "Two for one".into(),
                    targeting: Some(coffee()),
                    offer: Some(offer),
                },
            )
            .await?;
        let ad_id = ad_id.to_string();
        let seen = eventually("the outsider to receive the sealed ad", || async {
            Ok(Some(outsider.received()).filter(|r| !r.is_empty()))
        })
        .await?;
        assert!(
            seen.iter()
                .all(|p| !p.windows(11).any(|w| w == b"Two for one")
                    && !p.windows(6).any(|w| w == b"LATTE2")),
            "the outsider reads nothing"
        );
        outsider.shutdown().await?;

        let listed = eventually("bat to list the ad", || async {
            Ok(ads(bat).await.ok().filter(|a| !a.is_empty()))
        })
        .await?;
        assert_eq!(listed[0].id, ad_id);
        assert_eq!(listed[0].matched_keys, ["interest:coffee"]);
        for i in 0..5 {
            ant.post(group, None, &format!("post {i}")).await?;
        }
        let feed: Vec<FeedItem> = eventually("bat's feed with an ad in it", || async {
            let feed: Vec<FeedItem> = bat
                .feed_ranked(FeedQuery {
                    group: None,
                    order: Order::New,
                    window: None,
                    limit: 20,
                    explain: false,
                })
                .await?;
            Ok((feed.len() == 6).then_some(feed))
        })
        .await?;
        assert_eq!(feed[5].kind, "ad", "one ad after five posts");
        assert!(
            feed[5]
                .nickname
                .as_deref()
                .is_some_and(|n| n.starts_with("Ad")),
            "labelled"
        );

        eventually("cat to hold (and relay) the ad", || async {
            Ok(cat.ad(&ad_id).await.ok().map(|_| ()))
        })
        .await?;
        assert!(ads(cat).await?.is_empty(), "cat's interests do not match");

        ant.revoke_advertiser(None, &grant).await?;
        for node in [bat, cat] {
            eventually(&format!("{} to hide the revoked ad", node.name), || async {
                Ok(node.ad(&ad_id).await.is_err().then_some(()))
            })
            .await?;
        }
        assert!(ads(bat).await?.is_empty());
        Ok(())
    })
    .await
}
