//! Multi-node tests with real swarms on 127.0.0.1 (mDNS off, `local_testing` on).

mod test_utils;

use cove_gossip::{Error, Event, Published, Verdict};
use test_utils::{eventually, spawn_node, with_timeout};

const TOPIC: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
const KEY: [u8; 32] = [42; 32];

#[tokio::test]
async fn message_reaches_subscribed_peer() {
    // Scenario: bat bootstraps to ant; both subscribe; ant publishes.
    // Assert: bat gets Event::Message with the exact bytes, from ant, on the topic; bat's
    // Accept is taken.
    with_timeout(async {
        let ant = spawn_node(vec![], true).await;
        let mut bat = spawn_node(ant.addrs().await, true).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        bat.gossip.subscribe(TOPIC, KEY).await.unwrap();
        eventually(|| ant.sees_subscribed(bat.id(), TOPIC)).await;

        let payload = b"sealed \x00\xff bytes".to_vec();
        let published = ant.gossip.publish(TOPIC, payload.clone()).await.unwrap();
        assert_eq!(published, Published::Sent);

        let got = bat.next_message().await;
        assert_eq!(got.data, payload);
        assert_eq!(got.topic, TOPIC);
        assert_eq!(got.source, ant.id());
        assert_eq!(got.id, cove_gossip::MessageId::of(&payload));
        bat.gossip
            .report(got.id, got.source, Verdict::Accept)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn nothing_is_forwarded_before_accept() {
    // Scenario: chain ant - bat - cat without DHT discovery (cat only knows bat, bat only
    // knows ant). Ant publishes "bad", bat rejects it; ant publishes "good", bat accepts it.
    // Assert: the first (and only) message cat receives is "good": the rejected one was never
    // forwarded, the accepted one was.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let mut bat = spawn_node(ant.addrs().await, false).await;
        let mut cat = spawn_node(bat.addrs().await, false).await;
        for node in [&ant, &bat, &cat] {
            node.gossip.subscribe(TOPIC, KEY).await.unwrap();
        }
        eventually(|| ant.sees_subscribed(bat.id(), TOPIC)).await;
        eventually(|| bat.has_in_mesh(cat.id(), TOPIC)).await;
        assert!(!cat.is_connected_to(ant.id()).await);

        ant.gossip.publish(TOPIC, b"bad".to_vec()).await.unwrap();
        let bad = bat.next_message().await;
        assert_eq!(bad.data, b"bad");
        bat.gossip
            .report(bad.id, bad.source, Verdict::Reject)
            .await
            .unwrap();

        ant.gossip.publish(TOPIC, b"good".to_vec()).await.unwrap();
        let good = bat.next_message().await;
        assert_eq!(good.data, b"good");
        bat.gossip
            .report(good.id, good.source, Verdict::Accept)
            .await
            .unwrap();

        let at_cat = cat.next_message().await;
        assert_eq!(at_cat.data, b"good", "the rejected message reached cat");
        assert_eq!(at_cat.source, bat.id());
        assert!(!cat.is_connected_to(ant.id()).await);
    })
    .await;
}

#[tokio::test]
async fn discovery_key_connects_every_member() {
    // Scenario: bat bootstraps to ant, cat bootstraps to bat only; all three subscribe with
    // the same discovery key.
    // Assert: cat eventually connects to ant (found through the DHT provider records).
    with_timeout(async {
        let ant = spawn_node(vec![], true).await;
        let bat = spawn_node(ant.addrs().await, true).await;
        let cat = spawn_node(bat.addrs().await, true).await;
        for node in [&ant, &bat, &cat] {
            node.gossip.subscribe(TOPIC, KEY).await.unwrap();
        }
        eventually(|| cat.is_connected_to(ant.id())).await;
        eventually(|| ant.is_connected_to(cat.id())).await;
    })
    .await;
}

#[tokio::test]
async fn publish_without_peers_is_not_an_error() {
    // Scenario: a lone ant subscribes and publishes; then publishes to a topic it never joined.
    // Assert: both return Published::NoPeers, and publishing the same bytes again still
    // returns NoPeers (not a duplicate: gossipsub did not remember it).
    with_timeout(async {
        let ant = spawn_node(vec![], true).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        let first = ant.gossip.publish(TOPIC, b"hello".to_vec()).await.unwrap();
        assert_eq!(first, Published::NoPeers);
        let again = ant.gossip.publish(TOPIC, b"hello".to_vec()).await.unwrap();
        assert_eq!(again, Published::NoPeers);
        let elsewhere = ant
            .gossip
            .publish("other", b"hello".to_vec())
            .await
            .unwrap();
        assert_eq!(elsewhere, Published::NoPeers);
    })
    .await;
}

#[tokio::test]
async fn late_publish_is_delivered_after_no_peers() {
    // Scenario: ant publishes while alone (NoPeers), then bat joins and ant republishes the
    // same bytes.
    // Assert: the republish is Sent and bat receives the bytes.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        let payload = b"kept for later".to_vec();
        assert_eq!(
            ant.gossip.publish(TOPIC, payload.clone()).await.unwrap(),
            Published::NoPeers
        );

        let mut bat = spawn_node(ant.addrs().await, false).await;
        bat.gossip.subscribe(TOPIC, KEY).await.unwrap();
        eventually(|| ant.sees_subscribed(bat.id(), TOPIC)).await;
        assert_eq!(
            ant.gossip.publish(TOPIC, payload.clone()).await.unwrap(),
            Published::Sent
        );
        assert_eq!(bat.next_message().await.data, payload);
    })
    .await;
}

#[tokio::test]
async fn listen_addrs_are_concrete() {
    // Scenario: ant listens on 127.0.0.1 TCP port 0 and QUIC port 0.
    // Assert: listen_addrs (right after spawn) has one TCP and one QUIC address, with real
    // ports, each ending in /p2p/<ant>; the same addresses were announced as events.
    with_timeout(async {
        let mut config = test_utils::local_config(vec![], false);
        config.listen = vec![
            "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap(),
        ];
        let (ant, mut events) = cove_gossip::Gossip::spawn(config).await.unwrap();
        let addrs = ant.listen_addrs().await.unwrap();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        let suffix = format!("/p2p/{}", ant.local_peer_id());
        for addr in &addrs {
            let text = addr.to_string();
            assert!(text.ends_with(&suffix), "{text}");
            assert!(
                !text.contains("/tcp/0/") && !text.contains("/udp/0/"),
                "{text}"
            );
        }
        let mut announced = Vec::new();
        while announced.len() < 2 {
            if let Some(Event::ListenAddr(addr)) = events.recv().await {
                announced.push(addr);
            }
        }
        for addr in &addrs {
            assert!(announced.contains(addr));
        }
    })
    .await;
}

#[tokio::test]
async fn handles_fail_after_shutdown() {
    // Scenario: ant shuts down.
    // Assert: later calls return Error::Stopped and the event stream ends.
    with_timeout(async {
        let mut ant = spawn_node(vec![], false).await;
        ant.gossip.shutdown().await.unwrap();
        assert!(matches!(ant.gossip.peers().await, Err(Error::Stopped)));
        assert!(matches!(
            ant.gossip.publish(TOPIC, vec![1]).await,
            Err(Error::Stopped)
        ));
        while ant.events.recv().await.is_some() {}
    })
    .await;
}

#[tokio::test]
async fn dropping_every_handle_stops_the_actor() {
    // Scenario: ant's only handle is dropped.
    // Assert: the event stream ends.
    with_timeout(async {
        let test_utils::Node { gossip, mut events } = spawn_node(vec![], false).await;
        drop(gossip);
        while events.recv().await.is_some() {}
    })
    .await;
}

#[tokio::test]
async fn oversized_publish_is_refused() {
    // Scenario: ant publishes one byte more than max_message_size.
    // Assert: Error::MessageTooLarge with the sizes.
    with_timeout(async {
        let mut config = test_utils::local_config(vec![], false);
        config.max_message_size = 1000;
        let (ant, _events) = cove_gossip::Gossip::spawn(config).await.unwrap();
        let err = ant.publish(TOPIC, vec![0; 1001]).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::MessageTooLarge {
                    size: 1001,
                    max: 1000
                }
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn slow_consumer_loses_no_message() {
    // Scenario: ant publishes more messages than bat's event channel holds while bat reads
    // nothing; bat then queries its handle and reads and accepts everything.
    // Assert: bat's handle still answers while its event channel is full (no deadlock), and
    // bat receives every message exactly once (backpressure, not loss).
    const COUNT: usize = cove_gossip::EVENT_CAPACITY + 500;
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let mut bat = spawn_node(ant.addrs().await, false).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        bat.gossip.subscribe(TOPIC, KEY).await.unwrap();
        eventually(|| ant.sees_subscribed(bat.id(), TOPIC)).await;

        for i in 0..COUNT {
            let sent = ant
                .gossip
                .publish(TOPIC, format!("m{i}").into_bytes())
                .await;
            assert_eq!(sent.unwrap(), Published::Sent);
        }
        // Give bat's channel time to fill up; the assertions below hold either way.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(bat.is_connected_to(ant.id()).await);

        let mut seen = std::collections::HashSet::new();
        while seen.len() < COUNT {
            let got = bat.next_message().await;
            bat.gossip
                .report(got.id, got.source, Verdict::Accept)
                .await
                .unwrap();
            assert!(seen.insert(got.data), "message delivered twice");
        }
    })
    .await;
}
