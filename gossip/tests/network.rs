//! Multi-node tests with real swarms on 127.0.0.1 (mDNS off, `fast_timers` on).

mod test_utils;

use std::time::Duration;

use cove_gossip::{
    Error, Event, Keypair, PeerRateLimit, Published, Verdict, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
};
use test_utils::{eventually, local_config, spawn_node, spawn_node_with, with_timeout};

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
        // More than the per-peer burst arrives at once; this test is about backpressure, so
        // bat's budget is out of the way (the budget has its own test below).
        let mut config = local_config(ant.addrs().await, false);
        config.peer_rate_limit = PeerRateLimit {
            per_sec: 1e9,
            burst: 1e9,
        };
        let mut bat = spawn_node_with(config).await;
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

#[tokio::test]
async fn a_peer_over_its_budget_is_throttled_not_delivered() {
    // Scenario: bat allows ant 20 messages in a burst (1 per second after that); ant
    // publishes 60 at once. Assert: bat's caller gets about the burst as messages and the
    // rest as Event::Throttled naming ant, and bat stays connected.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let mut config = local_config(ant.addrs().await, false);
        config.peer_rate_limit = PeerRateLimit {
            per_sec: 1.0,
            burst: 20.0,
        };
        let mut bat = spawn_node_with(config).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        bat.gossip.subscribe(TOPIC, KEY).await.unwrap();
        eventually(|| ant.sees_subscribed(bat.id(), TOPIC)).await;
        for i in 0..60 {
            ant.gossip
                .publish(TOPIC, format!("m{i}").into_bytes())
                .await
                .unwrap();
        }
        let (mut delivered, mut throttled) = (0, 0);
        while delivered + throttled < 60 {
            match bat.events.recv().await.expect("events") {
                Event::Message { id, source, .. } => {
                    delivered += 1;
                    bat.gossip
                        .report(id, source, Verdict::Accept)
                        .await
                        .unwrap();
                }
                Event::Throttled { peer, .. } => {
                    assert_eq!(peer, ant.id());
                    throttled += 1;
                }
                _ => {}
            }
        }
        assert!((20..=25).contains(&delivered), "{delivered} delivered");
        assert!(bat.is_connected_to(ant.id()).await);
    })
    .await;
}

// ------------------------------------------------------------------ sync request-response

#[tokio::test]
async fn request_is_answered() {
    // Scenario: bat bootstraps to ant; ant sends bat a sync request; bat answers with a
    // response of the largest allowed size.
    // Assert: bat gets Event::Request with ant's id and the exact bytes; ant's request()
    // returns bat's exact response.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let mut bat = spawn_node(ant.addrs().await, false).await;
        eventually(|| ant.is_connected_to(bat.id())).await;

        let asking = {
            let ant = ant.gossip.clone();
            let bat = bat.id();
            tokio::spawn(async move { ant.request(bat, b"since \x00\xff 42".to_vec()).await })
        };
        let request = bat.next_request().await;
        assert_eq!(request.peer, ant.id());
        assert_eq!(request.data, b"since \x00\xff 42");

        let response: Vec<u8> = (0..MAX_RESPONSE_BYTES).map(|i| (i % 251) as u8).collect();
        bat.gossip
            .respond(request.id, response.clone())
            .await
            .unwrap();
        let got = asking.await.unwrap().unwrap();
        assert!(got == response, "response differs ({} bytes)", got.len());
    })
    .await;
}

#[tokio::test]
async fn oversized_frames_are_refused_before_sending() {
    // Scenario: ant requests bat with one byte more than MAX_REQUEST_BYTES, then with a
    // small request; bat answers the small one with one byte more than MAX_RESPONSE_BYTES,
    // then with a small response.
    // Assert: both oversized calls fail with MessageTooLarge; the first request bat ever
    // sees is the small one (the big one was never sent); the small response still gets
    // through (the request stayed answerable).
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let mut bat = spawn_node(ant.addrs().await, false).await;
        eventually(|| ant.is_connected_to(bat.id())).await;

        let err = ant
            .gossip
            .request(bat.id(), vec![0; MAX_REQUEST_BYTES + 1])
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MessageTooLarge { size, max }
                if size == MAX_REQUEST_BYTES + 1 && max == MAX_REQUEST_BYTES),
            "{err}"
        );

        let asking = {
            let ant = ant.gossip.clone();
            let bat = bat.id();
            tokio::spawn(async move { ant.request(bat, b"small".to_vec()).await })
        };
        let request = bat.next_request().await;
        assert_eq!(request.data, b"small");

        let err = bat
            .gossip
            .respond(request.id, vec![0; MAX_RESPONSE_BYTES + 1])
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MessageTooLarge { size, max }
                if size == MAX_RESPONSE_BYTES + 1 && max == MAX_RESPONSE_BYTES),
            "{err}"
        );
        bat.gossip
            .respond(request.id, b"fits".to_vec())
            .await
            .unwrap();
        assert_eq!(asking.await.unwrap().unwrap(), b"fits");
    })
    .await;
}

#[tokio::test]
async fn unanswered_request_times_out() {
    // Scenario: ant (request timeout 1 s) requests bat; bat receives the request and
    // ignores it; after ant gave up, bat answers anyway.
    // Assert: ant's request() ends with Error::Request naming bat (it does not hang); bat's
    // late respond() is not an error.
    with_timeout(async {
        let mut config = test_utils::local_config(vec![], false);
        config.request_timeout = Duration::from_secs(1);
        let ant = test_utils::spawn_node_with(config).await;
        let mut bat = spawn_node(ant.addrs().await, false).await;
        eventually(|| ant.is_connected_to(bat.id())).await;

        let asking = {
            let ant = ant.gossip.clone();
            let bat = bat.id();
            tokio::spawn(async move { ant.request(bat, b"anyone?".to_vec()).await })
        };
        let request = bat.next_request().await;
        let err = asking.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Request { peer, .. } if *peer == bat.id()),
            "{err}"
        );
        bat.gossip
            .respond(request.id, b"too late".to_vec())
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn request_to_unreachable_peer_fails() {
    // Scenario: ant requests a peer id nobody knows an address for.
    // Assert: Error::Request naming that peer.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let stranger = Keypair::generate_ed25519().public().to_peer_id();
        let err = ant
            .gossip
            .request(stranger, b"hello?".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Request { peer, .. } if *peer == stranger),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn ban_cuts_a_peer_off_until_it_ends() {
    // Scenario: bat bootstraps to ant; ant bans bat for BAN; during the ban ant dials bat
    // and requests it, and bat requests ant ("during"); after the ban bat requests ant
    // again ("after") until it gets through.
    // Assert: the connection is closed; ant's dial and request fail at once; bat's request
    // fails and never reaches ant, nor does bat get connected to ant; after the ban bat's
    // request is answered, and ant sees "after" but never "during".
    const BAN: Duration = Duration::from_secs(3);
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let bat = spawn_node(ant.addrs().await, false).await;
        eventually(|| ant.is_connected_to(bat.id())).await;
        let bat_addr = bat.addrs().await.remove(0);

        ant.gossip.ban(bat.id(), BAN).await.unwrap();
        eventually(|| async {
            !ant.is_connected_to(bat.id()).await && !bat.is_connected_to(ant.id()).await
        })
        .await;

        let err = ant.gossip.dial(bat_addr).await.unwrap_err();
        assert!(matches!(err, Error::Dial { .. }), "{err}");
        let err = ant
            .gossip
            .request(bat.id(), b"ant during".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Request { .. }), "{err}");
        // Bat still knows ant's addresses (identify), so this dials ant, which refuses.
        let err = bat
            .gossip
            .request(ant.id(), b"during".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Request { .. }), "{err}");
        assert!(!ant.is_connected_to(bat.id()).await);

        let test_utils::Node {
            gossip: ant_gossip,
            events: mut ant_events,
        } = ant;
        let ant_id = ant_gossip.local_peer_id();
        // A clone: the test keeps its own handle so that ant outlives the answering task.
        let answering = tokio::spawn({
            let ant_gossip = ant_gossip.clone();
            async move {
                let mut seen = Vec::new();
                while let Some(event) = ant_events.recv().await {
                    if let Event::Request { id, data, .. } = event {
                        ant_gossip.respond(id, b"welcome".to_vec()).await.unwrap();
                        let done = data == b"after";
                        seen.push(data);
                        if done {
                            break;
                        }
                    }
                }
                seen
            }
        });
        loop {
            match bat.gossip.request(ant_id, b"after".to_vec()).await {
                Ok(response) => {
                    assert_eq!(response, b"welcome");
                    break;
                }
                Err(Error::Request { .. }) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        let seen = answering.await.unwrap();
        assert_eq!(seen, vec![b"after".to_vec()]);
        assert!(bat.is_connected_to(ant_id).await);
        ant_gossip.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn unban_lets_a_peer_back_in() {
    // Scenario: bat bootstraps to ant; ant bans bat for an hour, then lifts the ban.
    // Assert: they are disconnected during the ban; after unban, bat dials ant again and
    // they are connected.
    with_timeout(async {
        let ant = spawn_node(vec![], false).await;
        let bat = spawn_node(ant.addrs().await, false).await;
        eventually(|| ant.is_connected_to(bat.id())).await;
        ant.gossip
            .ban(bat.id(), Duration::from_secs(3600))
            .await
            .unwrap();
        eventually(|| async { !ant.is_connected_to(bat.id()).await }).await;
        ant.gossip.unban(bat.id()).await.unwrap();
        let ant_addr = ant.addrs().await.remove(0);
        eventually(|| async {
            let _ = bat.gossip.dial(ant_addr.clone()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            ant.is_connected_to(bat.id()).await
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn memory_transport_carries_gossip_and_discovery() {
    // Scenario: ant, bat and cat listen on `/memory/0` only; bat bootstraps to ant, cat to
    // bat; all subscribe with the same discovery key; ant publishes.
    // Assert: the bound addresses are concrete `/memory/<port>` ones, cat finds ant through
    // the DHT over the memory transport, and cat receives ant's message.
    with_timeout(async {
        let memory = |bootstrap| {
            let mut config = test_utils::local_config(bootstrap, true);
            config.listen = vec!["/memory/0".parse().unwrap()];
            config
        };
        let ant = test_utils::spawn_node_with(memory(vec![])).await;
        let ant_addrs = ant.addrs().await;
        assert!(ant_addrs
            .iter()
            .all(|a| a.to_string().starts_with("/memory/")
                && !a.to_string().starts_with("/memory/0/")));
        let bat = test_utils::spawn_node_with(memory(ant_addrs)).await;
        let mut cat = test_utils::spawn_node_with(memory(bat.addrs().await)).await;
        for node in [&ant, &bat, &cat] {
            node.gossip.subscribe(TOPIC, KEY).await.unwrap();
        }
        eventually(|| cat.is_connected_to(ant.id())).await;
        eventually(|| ant.sees_subscribed(cat.id(), TOPIC)).await;

        ant.gossip
            .publish(TOPIC, b"in memory".to_vec())
            .await
            .unwrap();
        let got = cat.next_message().await;
        assert_eq!(got.data, b"in memory");
    })
    .await;
}

#[tokio::test]
async fn a_private_network_admits_only_peers_with_its_key() {
    // Scenario: ant and bat share a pre-shared key, cat has another key and dog none; all
    // subscribe to the topic; bat, cat and dog dial ant over TCP. The same on the memory
    // transport for eel (ant's key) and fox (no key).
    // Assert: bat connects and sees ant's subscription; cat and dog never connect nor learn
    // ant's topic; a QUIC listen address is refused on a private network.
    with_timeout(async {
        let private = |psk: Option<[u8; 32]>, listen: &str, bootstrap: Vec<_>| {
            let mut config = local_config(bootstrap, false);
            config.psk = psk;
            config.listen = vec![listen.parse().unwrap()];
            config
        };
        let tcp = "/ip4/127.0.0.1/tcp/0";
        let ant = spawn_node_with(private(Some([1; 32]), tcp, vec![])).await;
        ant.gossip.subscribe(TOPIC, KEY).await.unwrap();
        let bat = spawn_node_with(private(Some([1; 32]), tcp, ant.addrs().await)).await;
        let cat = spawn_node_with(private(Some([2; 32]), tcp, ant.addrs().await)).await;
        let dog = spawn_node_with(private(None, tcp, ant.addrs().await)).await;
        for node in [&bat, &cat, &dog] {
            node.gossip.subscribe(TOPIC, KEY).await.unwrap();
        }
        eventually(|| bat.sees_subscribed(ant.id(), TOPIC)).await;
        // Bootstrap dials are retried every discovery round (2 s): wait for a few.
        tokio::time::sleep(Duration::from_secs(5)).await;
        for outsider in [&cat, &dog] {
            assert!(!outsider.is_connected_to(ant.id()).await);
            assert!(outsider.gossip.peers().await.unwrap().is_empty());
            assert!(!ant.is_connected_to(outsider.id()).await);
        }

        let mem = "/memory/0";
        let owl = spawn_node_with(private(Some([1; 32]), mem, vec![])).await;
        owl.gossip.subscribe(TOPIC, KEY).await.unwrap();
        let eel = spawn_node_with(private(Some([1; 32]), mem, owl.addrs().await)).await;
        let fox = spawn_node_with(private(None, mem, owl.addrs().await)).await;
        eel.gossip.subscribe(TOPIC, KEY).await.unwrap();
        fox.gossip.subscribe(TOPIC, KEY).await.unwrap();
        eventually(|| eel.sees_subscribed(owl.id(), TOPIC)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(fox.gossip.peers().await.unwrap().is_empty());

        let quic = private(Some([1; 32]), "/ip4/127.0.0.1/udp/0/quic-v1", vec![]);
        assert!(cove_gossip::Gossip::spawn(quic).await.is_err());
    })
    .await;
}
