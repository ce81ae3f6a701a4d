use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use cove_crypto::{sync_proof, sync_responder_proof};
use cove_gossip::{Config, Event, Gossip, Keypair, Multiaddr, PeerId};
use cove_node::message::MessageId;
use cove_node::sync::{ErrorCode, Request, Response};
use cove_tests::{
    eventually, network_key, rejected, wait_for_feed, Club, Ready, TestNode, TEST_TIMEOUT,
};

/// `node`'s peer id in its (first) group's network.
async fn peer_in(node: &TestNode) -> Result<PeerId> {
    Ok(node.status().await?.networks[0].peer_id.parse()?)
}
use tokio::sync::mpsc;

/// A raw libp2p node speaking the sync protocol by hand: no store, no validation.
struct Mole {
    gossip: Gossip,
    events: mpsc::Receiver<Event>,
}

impl Mole {
    /// Starts inside `member`'s (only) group network, with its network key but nothing else,
    /// and dials the member there.
    async fn start(member: &TestNode) -> Result<Mole> {
        let topic = member.groups().await?.remove(0).topic;
        Self::start_with(member, Some(network_key(member, &topic).await?)).await
    }

    /// Starts with the given network key (`None`: a plain libp2p peer) and dials `member`'s
    /// group address.
    async fn start_with(member: &TestNode, psk: Option<[u8; 32]>) -> Result<Mole> {
        let peer: Multiaddr = member.status().await?.listen_addrs[0].parse()?;
        let mut config = Config::new(Keypair::generate_ed25519());
        config.psk = psk;
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
        config.mdns = false;
        config.discovery = false;
        config.fast_timers = true;
        config.request_timeout = Duration::from_secs(10);
        let (gossip, events) = Gossip::spawn(config).await?;
        gossip.dial(peer).await?;
        Ok(Mole { gossip, events })
    }

    async fn ask(&self, peer: PeerId, request: &Request) -> Result<Response> {
        Ok(Response::decode(
            &self.gossip.request(peer, request.encode()).await?,
        )?)
    }

    async fn challenge(&self, peer: PeerId, topic: &str) -> Result<[u8; 32]> {
        match self.ask(peer, &hello(topic)).await? {
            Response::Challenge { nonce, .. } => Ok(nonce),
            other => bail!("expected a challenge, got {other:?}"),
        }
    }
}

fn hello(topic: &str) -> Request {
    Request::Hello {
        topic: topic.to_string(),
        nonce: [0x11; 32], // a mole does not check the proof it gets
        epoch: 0,
    }
}

fn initiate() -> Vec<u8> {
    let mut storage = negentropy::NegentropyStorageVector::new();
    storage.seal().expect("empty storage seals");
    negentropy::Negentropy::owned(storage, 128 * 1024)
        .and_then(|mut n| n.initiate())
        .expect("initial negentropy message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sync_requests_are_refused_counted_and_the_node_stays_healthy() -> Result<()> {
    // Scenario: ant and bat are members. Raw peers talk to ant's sync protocol by hand:
    // mole sends a request with a made-up proof, then one for an unknown topic, then a valid
    // one; vole replays mole's valid proof on its own connection, then sends a malformed frame.
    // Assert: the made-up proof, the unknown topic and the replay get the same
    // `unauthorized` answer and are counted; the valid proof is served; the malformed frame is
    // counted and vole is cut off; ant still delivers bat's posts afterwards.
    let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let group = &club.group;
        let secret = club.keys().await?.group_secret;
        let topic = secret.topic();
        let ant_id = peer_in(ant).await?;

        let mole = Mole::start(ant).await?;
        let nonce = mole.challenge(ant_id, &topic).await?;
        let forged = Request::Reconcile {
            topic: topic.clone(),
            proof: [7; 32],
            since: 0,
            msg: initiate(),
        };
        let unauthorized = Response::Error {
            code: ErrorCode::Unauthorized,
        };
        assert_eq!(mole.ask(ant_id, &forged).await?, unauthorized);
        let unknown = Request::Reconcile {
            topic: "cove/1/00000000000000000000000000000000".into(),
            proof: [7; 32],
            since: 0,
            msg: initiate(),
        };
        assert_eq!(
            mole.ask(ant_id, &unknown).await?,
            unauthorized,
            "same answer: nothing learned"
        );

        let proof = sync_proof(
            &secret.sync_key(),
            &nonce,
            &mole.gossip.local_peer_id().to_bytes(),
            &ant_id.to_bytes(),
        );
        let valid = Request::Reconcile {
            topic: topic.clone(),
            proof,
            since: 0,
            msg: initiate(),
        };
        ensure!(
            matches!(mole.ask(ant_id, &valid).await?, Response::Reconcile { .. }),
            "a member's proof is served"
        );

        let vole = Mole::start(ant).await?;
        vole.challenge(ant_id, &topic).await?;
        assert_eq!(
            vole.ask(ant_id, &valid).await?,
            unauthorized,
            "a proof is bound to its connection"
        );
        assert_eq!(rejected(ant, "sync_unauthorized").await?, 3);

        // Ant may answer `malformed` or close the connection first: either way no data.
        if let Ok(answer) = vole
            .gossip
            .request(ant_id, b"\xff\xfe not cbor".to_vec())
            .await
        {
            assert_eq!(
                Response::decode(&answer)?,
                Response::Error {
                    code: ErrorCode::Malformed
                }
            );
        }
        eventually(
            "ant to count the malformed frame and cut vole off",
            || async {
                let vole_id = vole.gossip.local_peer_id().to_string();
                let cut_off = !ant.peers().await?.iter().any(|p| p.peer == vole_id);
                Ok((rejected(ant, "sync_malformed").await? == 1 && cut_off).then_some(()))
            },
        )
        .await?;
        ensure!(
            vole.gossip
                .request(ant_id, hello(&topic).encode())
                .await
                .is_err(),
            "vole is refused"
        );

        bat.post(group, None, "still flowing").await?;
        wait_for_feed(ant, group, 1).await?;
        drop((mole, vole));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_page_cuts_the_serving_peer_off() -> Result<()> {
    // Scenario: mole knows the group secret (it is a member gone bad) and subscribes to the
    // topic, so ant starts a sync session with it. mole claims one message ant lacks, and
    // answers the fetch with a page of 1.2 MiB, above the 1 MiB page limit.
    // Assert: ant counts `sync_oversized_page`, cuts mole off, stores nothing from it.
    let club = Club::of(["ant"]);
    club.run(async |club| {
        let [ant] = club.members();
        let group = &club.group;
        let secret = club.keys().await?.group_secret;
        let mut mole = Mole::start(ant).await?;
        mole.gossip
            .subscribe(&secret.topic(), secret.discovery_key())
            .await?;

        let fake = MessageId([0x42; 32]);
        let mut storage = negentropy::NegentropyStorageVector::new();
        storage.insert(1, negentropy::Id::from_byte_array(fake.0))?;
        storage.seal()?;
        let mut server = negentropy::Negentropy::owned(storage, 128 * 1024)?;
        let served_oversized = async {
            while let Some(event) = mole.events.recv().await {
                let Event::Request { id, data, .. } = event else {
                    continue;
                };
                let response = match Request::decode(&data)? {
                    // A member gone bad proves membership like any member.
                    Request::Hello { nonce, .. } => Response::Challenge {
                        nonce: [1; 32],
                        proof: sync_responder_proof(
                            &secret.sync_key(),
                            &nonce,
                            &peer_in(ant).await?.to_bytes(),
                            &mole.gossip.local_peer_id().to_bytes(),
                        ),
                    },
                    Request::Reconcile { msg, .. } => Response::Reconcile {
                        msg: server.reconcile(&msg)?,
                    },
                    Request::Fetch { ids, .. } => {
                        ensure!(ids == vec![fake], "ant asks for the claimed message");
                        Response::Messages {
                            messages: vec![vec![0u8; 600 * 1024], vec![0u8; 600 * 1024]],
                        }
                    }
                    Request::Admit(_) | Request::Epochs(_) => bail!("ant asked mole at a door"),
                };
                let is_page = matches!(response, Response::Messages { .. });
                mole.gossip.respond(id, response.encode()).await?;
                if is_page {
                    return Ok(());
                }
            }
            bail!("mole's event stream ended")
        };
        served_oversized.await?;
        eventually(
            "ant to count the oversized page and cut mole off",
            || async {
                let mole_id = mole.gossip.local_peer_id().to_string();
                let cut_off = !ant.peers().await?.iter().any(|p| p.peer == mole_id);
                Ok((rejected(ant, "sync_oversized_page").await? == 1 && cut_off).then_some(()))
            },
        )
        .await?;
        assert_eq!(ant.feed(group, 10).await?.len(), 0);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_sync_requests_gets_busy_and_members_still_sync() -> Result<()> {
    // Scenario: ant is a member with one post. mole, a raw peer, sends ant sync requests as
    // fast as it can (hellos: the cheapest, and answerable without any proof) until ant
    // answers `busy` (at most 2 000: a debug build on loaded cores asks slowly, and the budget
    // refills at 50 a second meanwhile).
    // Assert: ant answers at least 200 (the per-peer burst) before the first `busy`, counts
    // `sync_busy`, and bat, a member joining afterwards, still syncs ant's post.
    // bat runs from the start, but is no member (nor a peer of ant's) until it joins.
    let club = Club::of(["ant", "bat"]).ready(Ready::Founded);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        ant.post(group, None, "before the flood").await?;
        let ant_id = peer_in(ant).await?;
        let mole = Mole::start(ant).await?;
        let (mut served, mut busy) = (0, 0);
        while busy == 0 && served < 2_000 {
            match mole.ask(ant_id, &hello(topic)).await? {
                Response::Challenge { .. } => served += 1,
                Response::Error {
                    code: ErrorCode::Busy,
                } => busy += 1,
                other => bail!("unexpected answer {other:?}"),
            }
        }
        ensure!(busy == 1, "{served} requests served and never busy");
        ensure!(served >= 200, "busy after only {served} requests");
        ensure!(
            rejected(ant, "sync_busy").await? == busy,
            "busy not counted"
        );

        bat.join(&ant.invite(group, Duration::from_secs(600)).await?)
            .await?;
        wait_for_feed(bat, group, 1).await?;
        Ok(())
    })
    .await
}

/// What an outsider saw of a member's sync sessions towards it.
#[derive(Debug, Default)]
struct Seen {
    /// The topic of every `hello` it received.
    hellos: Vec<String>,
    /// How many `reconcile` and `fetch` requests it received (group-specific: proofs, sets).
    group_specific: usize,
}

/// An outsider that learnt a group's topic string: a raw peer subscribed to it that speaks the
/// sync protocol by hand but holds no invite, so no sync key. It answers every `hello` at once
/// with a challenge whose proof is made up (it cannot do better) and never answers anything
/// else, which would keep an automatic session waiting for as long as the member lets it. It
/// re-subscribes every 500 ms, so a member that starts a session whenever a peer subscribes
/// starts one again at once.
async fn lurker(member: &TestNode, topic: &str) -> Result<(Gossip, Arc<Mutex<Seen>>)> {
    let Mole { gossip, mut events } = Mole::start(member).await?;
    gossip.subscribe(topic, [0x77; 32]).await?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (log, handle) = (seen.clone(), gossip.clone());
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Event::Request { id, data, .. } = event else {
                continue;
            };
            match Request::decode(&data) {
                Ok(Request::Hello { topic, .. }) => {
                    log.lock().unwrap().hellos.push(topic);
                    let made_up = Response::Challenge {
                        nonce: [1; 32],
                        proof: [2; 32],
                    };
                    let _ = handle.respond(id, made_up.encode()).await;
                }
                _ => log.lock().unwrap().group_specific += 1,
            }
        }
    });
    let (churn, topic) = (gossip.clone(), topic.to_string());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if churn.unsubscribe(&topic).await.is_err()
                || churn.subscribe(&topic, [0x77; 32]).await.is_err()
            {
                return;
            }
        }
    });
    Ok((gossip, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_on_the_topic_gets_nothing_group_specific_from_a_member() -> Result<()> {
    // Scenario: ant is a member with a post. lurk, a non-member that knows the topic string
    // and holds the group's network key (leaked on its own, without the invite), connects to
    // ant and subscribes to it, so ant starts a sync session towards it; lurk
    // answers ant's hello with the best it can, a made-up proof, and keeps re-subscribing.
    // lurk also sends ant its own hello for the group's topic and for a topic ant lacks.
    // Assert: ant's hello names only the topic lurk announced; ant counts
    // `sync_responder_unproven` once and sends lurk no reconcile or fetch (no proof, no set,
    // no id), nor any further session although lurk keeps re-subscribing; ant answers lurk's
    // two hellos alike, so lurk cannot tell which group ant holds.
    let club = Club::of(["ant"]);
    club.run(async |club| {
        let [ant] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        ant.post(group, None, "members only").await?;
        let (lurk, seen) = lurker(ant, topic).await?;
        eventually("ant to find lurk unproven", || async {
            Ok((rejected(ant, "sync_responder_unproven").await? == 1).then_some(()))
        })
        .await?;

        let ant_id = peer_in(ant).await?;
        let ask = |topic: &str| {
            let request = hello(topic).encode();
            let lurk = lurk.clone();
            async move {
                Ok::<_, anyhow::Error>(Response::decode(&lurk.request(ant_id, request).await?)?)
            }
        };
        for asked in [
            topic.clone(),
            "cove/1/00000000000000000000000000000000".into(),
        ] {
            ensure!(
                matches!(ask(&asked).await?, Response::Challenge { .. }),
                "a hello for {asked} is answered with a challenge, held group or not"
            );
        }
        // Several of lurk's re-subscriptions and two anti-entropy rounds of ant (3 s each).
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(rejected(ant, "sync_responder_unproven").await?, 1);
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            seen.hellos,
            [topic.as_str()],
            "one session, naming what lurk announced"
        );
        assert_eq!(seen.group_specific, 0, "no reconcile or fetch reached lurk");
        lurk.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_cannot_hold_a_members_sync_slots() -> Result<()> {
    // Scenario: bat holds a post of cat's that only sync can bring (cat's outbox is empty and
    // cat has stopped). ant joins through an invite naming a dead address, so it reaches
    // nobody; then as many lurkers as ant has automatic sync slots (8) connect to ant on the
    // group's topic: each answers ant's hello with a made-up proof, never answers anything
    // else and keeps re-subscribing. Then ant learns bat's address.
    // Assert: every lurker got a hello from ant, none a reconcile or fetch, and ant still
    // syncs cat's post from bat.
    // ant runs from the start, but is no member (nor anyone's peer) until it joins.
    let club = Club::of(["bat", "cat", "ant"]).ready(Ready::Founded);
    club.run(async |club| {
        let [bat, cat, ant] = club.members();
        let group = &club.group;
        cat.join(&bat.invite(group, Duration::from_secs(600)).await?)
            .await?;
        cat.post(group, None, "only sync brings this").await?;
        wait_for_feed(bat, group, 1).await?;
        eventually("cat's post to be confirmed by bat", || async {
            Ok((cat.status().await?.outbox == 0).then_some(()))
        })
        .await?;
        cat.shutdown().await?;

        // Admitted, but with an invite (the keys a welcome carries) that names a dead
        // address, so that ant reaches nobody.
        let mut keys = cove_tests::admitted_keys(bat, group).await?;
        keys.addrs = vec!["/ip4/127.0.0.1/tcp/1".into()];
        ant.join(&keys.encode()).await?;
        let topic = ant.groups().await?.remove(0).topic;
        let mut lurkers = Vec::new();
        for _ in 0..cove_node::actor::MAX_CONCURRENT_SYNCS {
            lurkers.push(lurker(ant, &topic).await?);
        }
        eventually("ant to say hello to every lurker", || async {
            Ok(lurkers
                .iter()
                .all(|(_, seen)| !seen.lock().unwrap().hellos.is_empty())
                .then_some(()))
        })
        .await?;

        // Joining again with keys that name bat's address in the group's network (a ticket
        // names only bat's door, which a member has no use for).
        ant.join(&cove_tests::admitted_keys(bat, group).await?.encode())
            .await?;
        assert_eq!(
            wait_for_feed(ant, group, 1).await?,
            ["only sync brings this"]
        );
        for (lurker, seen) in &lurkers {
            assert_eq!(seen.lock().unwrap().group_specific, 0);
            lurker.shutdown().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_network_key_learns_nothing_and_the_outbox_waits_for_a_member(
) -> Result<()> {
    // Scenario: ant founds a group and posts while alone (the post waits in its outbox). eve,
    // a plain libp2p peer with no invite and no network key, knows ant's group address and
    // the topic string: she dials ant, subscribes to the topic and asks for ant's listen
    // addresses, for some seconds (several of ant's republish and anti-entropy rounds). Then
    // bat joins with an invite.
    // Assert: eve never connects (no peer on either side), so she sees no topic string, no
    // message id or payload and no sync request; ant starts no session towards her (no
    // `sync_responder_unproven`) and its post stays in its outbox until bat, a member,
    // confirms it, after which bat holds it (issue 12, hole 5; issue 13).
    tokio::time::timeout(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        ant.post(&group, None, "members only").await?;
        let topic = ant.groups().await?.remove(0).topic;
        let ant_id = peer_in(&ant).await?;

        let Mole {
            gossip: eve,
            mut events,
        } = Mole::start_with(&ant, None).await?;
        eve.subscribe(&topic, [0x77; 32]).await?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                log.lock().unwrap().push(format!("{event:?}"));
            }
        });
        // A sync request straight to ant's peer id fails too: there is no connection to open
        // a stream on, and none can be made.
        let asked = eve.request(ant_id, hello(&topic).encode()).await;
        ensure!(asked.is_err(), "eve got a sync answer: {asked:?}");
        tokio::time::sleep(Duration::from_secs(6)).await;

        ensure!(eve.peers().await?.is_empty(), "eve connected to ant");
        ensure!(
            !ant.peers()
                .await?
                .iter()
                .any(|p| p.peer == eve.local_peer_id().to_string()),
            "ant lists eve as a peer"
        );
        let events = std::mem::take(&mut *seen.lock().unwrap());
        ensure!(
            events.iter().all(|e| !e.contains("PeerSubscribed")
                && !e.contains("Message")
                && !e.contains("Request")
                && !e.contains("PeerConnected")),
            "eve observed something: {events:?}"
        );
        assert_eq!(rejected(&ant, "sync_responder_unproven").await?, 0);
        // The post and ant's member record (PROTOCOL.md §15).
        assert_eq!(
            ant.status().await?.outbox,
            2,
            "the post is still waiting for a member"
        );

        let bat = TestNode::start("bat").await?;
        bat.join(&ant.invite(&group, Duration::from_secs(600)).await?)
            .await?;
        assert_eq!(wait_for_feed(&bat, &group, 1).await?, ["members only"]);
        eventually("bat to confirm ant's post", || async {
            Ok((ant.status().await?.outbox == 0).then_some(()))
        })
        .await?;
        eve.shutdown().await?;
        bat.shutdown().await?;
        ant.shutdown().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}
