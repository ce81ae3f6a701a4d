use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use cove_crypto::{sync_proof, Invite};
use cove_gossip::{Config, Event, Gossip, Keypair, Multiaddr, PeerId};
use cove_node::message::MessageId;
use cove_node::sync::{ErrorCode, Request, Response};
use cove_tests::{eventually, rejected, wait_for_feed, TestNode, TEST_TIMEOUT};
use tokio::sync::mpsc;

/// A raw libp2p node speaking the sync protocol by hand: no store, no validation.
struct Mole {
    gossip: Gossip,
    events: mpsc::Receiver<Event>,
}

impl Mole {
    async fn start(peer: Multiaddr) -> Result<Mole> {
        let mut config = Config::new(Keypair::generate_ed25519());
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

    async fn challenge(&self, peer: PeerId) -> Result<[u8; 32]> {
        match self.ask(peer, &Request::Hello).await? {
            Response::Challenge { nonce } => Ok(nonce),
            other => bail!("expected a challenge, got {other:?}"),
        }
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
    tokio::time::timeout(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let bat = TestNode::start("bat").await?;
        let group = ant.create_group("club").await?.to_string();
        let invite = ant.invite(&group, Duration::from_secs(600)).await?;
        bat.join(&invite).await?;
        let secret = Invite::decode_ignoring_expiry(&invite)?.group_secret;
        let topic = secret.topic();
        let ant_id = ant.peer_id();
        let ant_addr: Multiaddr = ant.status().await?.listen_addrs[0].parse()?;

        let mole = Mole::start(ant_addr.clone()).await?;
        let nonce = mole.challenge(ant_id).await?;
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

        let vole = Mole::start(ant_addr).await?;
        vole.challenge(ant_id).await?;
        assert_eq!(
            vole.ask(ant_id, &valid).await?,
            unauthorized,
            "a proof is bound to its connection"
        );
        assert_eq!(rejected(&ant, "sync_unauthorized").await?, 3);

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
                Ok((rejected(&ant, "sync_malformed").await? == 1 && cut_off).then_some(()))
            },
        )
        .await?;
        ensure!(
            vole.gossip
                .request(ant_id, Request::Hello.encode())
                .await
                .is_err(),
            "vole is refused"
        );

        bat.post(&group, None, "still flowing").await?;
        wait_for_feed(&ant, &group, 1).await?;
        drop((mole, vole));
        ant.shutdown().await?;
        bat.shutdown().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_page_cuts_the_serving_peer_off() -> Result<()> {
    // Scenario: mole knows the group secret (it is a member gone bad) and subscribes to the
    // topic, so ant starts a sync session with it. mole claims one message ant lacks, and
    // answers the fetch with a page of 1.2 MiB, above the 1 MiB page limit.
    // Assert: ant counts `sync_oversized_page`, cuts mole off, stores nothing from it.
    tokio::time::timeout(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        let invite = ant.invite(&group, Duration::from_secs(600)).await?;
        let secret = Invite::decode_ignoring_expiry(&invite)?.group_secret;
        let ant_addr: Multiaddr = ant.status().await?.listen_addrs[0].parse()?;
        let mut mole = Mole::start(ant_addr).await?;
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
                    Request::Hello => Response::Challenge { nonce: [1; 32] },
                    Request::Reconcile { msg, .. } => Response::Reconcile {
                        msg: server.reconcile(&msg)?,
                    },
                    Request::Fetch { ids, .. } => {
                        ensure!(ids == vec![fake], "ant asks for the claimed message");
                        Response::Messages {
                            messages: vec![vec![0u8; 600 * 1024], vec![0u8; 600 * 1024]],
                        }
                    }
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
                Ok((rejected(&ant, "sync_oversized_page").await? == 1 && cut_off).then_some(()))
            },
        )
        .await?;
        assert_eq!(ant.feed(&group, 10).await?.len(), 0);
        ant.shutdown().await?;
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_sync_requests_gets_busy_and_members_still_sync() -> Result<()> {
    // Scenario: ant is a member with one post. mole, a raw peer, sends ant 250 sync requests
    // as fast as it can (hellos: the cheapest, and answerable without any proof).
    // Assert: ant answers at least 200 (the per-peer budget) and `busy` after that, counts
    // `sync_busy`, and bat, a member joining afterwards, still syncs ant's post.
    tokio::time::timeout(TEST_TIMEOUT, async {
        let ant = TestNode::start("ant").await?;
        let group = ant.create_group("club").await?.to_string();
        ant.post(&group, None, "before the flood").await?;
        let ant_id = ant.peer_id();
        let ant_addr: Multiaddr = ant.status().await?.listen_addrs[0].parse()?;
        let mole = Mole::start(ant_addr).await?;
        let mut busy = 0;
        for _ in 0..250 {
            match mole.ask(ant_id, &Request::Hello).await? {
                Response::Challenge { .. } => {}
                Response::Error {
                    code: ErrorCode::Busy,
                } => busy += 1,
                other => bail!("unexpected answer {other:?}"),
            }
        }
        // At least the budget is served; how many more depends on how fast mole asks (the
        // budget refills at 20 a second), but 250 at full speed run over it.
        ensure!(busy > 0 && 250 - busy >= 200, "{busy} of 250 answered busy");
        ensure!(
            rejected(&ant, "sync_busy").await? == busy,
            "busy not counted"
        );

        let bat = TestNode::start("bat").await?;
        bat.join(&ant.invite(&group, Duration::from_secs(600)).await?)
            .await?;
        wait_for_feed(&bat, &group, 1).await?;
        for node in [&ant, &bat] {
            node.shutdown().await?;
        }
        Ok(())
    })
    .await
    .context("test timed out")?
}
