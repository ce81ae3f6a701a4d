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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_catches_up_at_once_while_its_outbox_is_confirmed() -> Result<()> {
    // Scenario: ant writes 30 posts that cat receives, so they leave ant's outbox (else ant
    // would offer them to bat by gossip). Then bat joins with ant's invite. Nobody runs
    // anti-entropy (its timer is an hour), so bat gets the history only by the sessions it
    // starts when it sees members on the group's topic. bat's own records wait in its outbox
    // meanwhile, and its outbox timer (every second here) may start a confirmation round
    // (reconciliation only) with a member first, which holds the one slot for that peer.
    // Assert: bat fetches all 30 posts by sync within the usual patience.
    // Whether the confirmation round comes first is a race this test does not force (it
    // passed without the fix too); the sync bench's fresh node lost it in 7 runs of 10, and
    // `actor::sessions::tests` checks that a catch-up asked for meanwhile is owed.
    const NO_ANTI_ENTROPY: Duration = Duration::from_secs(3600);
    let club = Club::of(["ant", "cat", "bat"])
        .ready(Ready::Founded)
        .configure(|_, config| config.sync_interval = NO_ANTI_ENTROPY);
    club.run(async |club| {
        let [ant, cat, bat] = club.members();
        let group = &club.group;
        cat.join(&ant.invite(group, INVITE_TTL).await?).await?;
        wait_for_peers(ant, 1).await?;
        for i in 0..30 {
            ant.post(group, None, &format!("post {i}")).await?;
        }
        wait_for_feed(cat, group, 30).await?;
        eventually("cat to confirm ant's posts", || async {
            Ok((ant.status().await?.outbox == 0).then_some(()))
        })
        .await?;

        bat.join(&ant.invite(group, INVITE_TTL).await?).await?;
        wait_for_feed(bat, group, 30).await?;
        let fetched = bat.sync_activity().borrow().fetched;
        assert!(fetched >= 30, "by sync: {fetched} fetched");
        Ok(())
    })
    .await
}

/// The ids and bytes a [`busy_responder`] serves, and when each request reached it.
#[derive(Debug, Default)]
struct Served {
    /// Arrival of every request, whether it was answered `busy`, and its bytes.
    requests: Vec<(std::time::Instant, bool, Vec<u8>)>,
    /// The ids of every fetch, in arrival order.
    fetches: Vec<Vec<cove_node::message::MessageId>>,
    /// The ids of the fetch answered with an empty page.
    withheld: Vec<cove_node::message::MessageId>,
}

/// What a [`busy_responder`] does with the session's first fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstFetch {
    /// Serves it.
    Serve,
    /// Answers an empty page, as a responder skips a batch all sealed in an epoch the
    /// requester did not prove.
    Withhold,
    /// Serves only the first this many of its ids, as a responder at its page budget does.
    CutAt(usize),
}

/// A raw sync responder on `gossip` that proves membership with `sync_key`, reconciles over
/// `messages`, serves them (the first fetch as `first` says), and answers `busy` to every
/// request whose number (from 0) is in `busy_at`, as a responder over its request budget
/// does.
async fn busy_responder(
    gossip: cove_gossip::Gossip,
    mut events: tokio::sync::mpsc::Receiver<cove_gossip::Event>,
    sync_key: [u8; 32],
    messages: Vec<cove_node::message::SignedMessage>,
    (busy_at, first): (Vec<usize>, FirstFetch),
    served: std::sync::Arc<std::sync::Mutex<Served>>,
) -> Result<()> {
    let mut fetches = 0;
    use cove_node::sync::{ErrorCode, Request, Response};
    let mut storage = negentropy::NegentropyStorageVector::new();
    for m in &messages {
        storage.insert(
            m.message.created_at,
            negentropy::Id::from_byte_array(m.message.id.0),
        )?;
    }
    storage.seal()?;
    let mut reconciler = negentropy::Negentropy::owned(storage, 128 * 1024)?;
    while let Some(event) = events.recv().await {
        let cove_gossip::Event::Request { id, peer, data } = event else {
            continue;
        };
        let number = {
            let mut served = served.lock().expect("not poisoned");
            let number = served.requests.len();
            let busy = busy_at.contains(&number);
            served
                .requests
                .push((std::time::Instant::now(), busy, data.clone()));
            number
        };
        let response = if busy_at.contains(&number) {
            Response::Error {
                code: ErrorCode::Busy,
            }
        } else {
            match Request::decode(&data)? {
                Request::Hello { nonce, .. } => Response::Challenge {
                    nonce: [1; 32],
                    proof: cove_crypto::sync_responder_proof(
                        &sync_key,
                        &nonce,
                        &peer.to_bytes(),
                        &gossip.local_peer_id().to_bytes(),
                    ),
                },
                Request::Reconcile { msg, .. } => Response::Reconcile {
                    msg: reconciler.reconcile(&msg)?,
                },
                Request::Fetch { ids, .. } => {
                    fetches += 1;
                    served
                        .lock()
                        .expect("not poisoned")
                        .fetches
                        .push(ids.clone());
                    let serve = match first {
                        FirstFetch::Withhold if fetches == 1 => {
                            served.lock().expect("not poisoned").withheld = ids;
                            Vec::new()
                        }
                        FirstFetch::CutAt(n) if fetches == 1 => ids[..n].to_vec(),
                        _ => ids,
                    };
                    Response::Messages {
                        messages: serve
                            .iter()
                            .filter_map(|id| messages.iter().find(|m| m.message.id == *id))
                            .map(|m| m.bytes.clone())
                            .collect(),
                    }
                }
                Request::Admit(_) | Request::Epochs(_) => {
                    anyhow::bail!("the session asked at a door")
                }
            }
        };
        gossip.respond(id, response.encode()).await?;
    }
    Ok(())
}

/// A raw libp2p peer on loopback with the network key `psk`.
async fn raw_peer(
    psk: [u8; 32],
) -> Result<(
    cove_gossip::Gossip,
    tokio::sync::mpsc::Receiver<cove_gossip::Event>,
)> {
    let mut config = cove_gossip::Config::new(cove_gossip::Keypair::generate_ed25519());
    config.psk = Some(psk);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.mdns = false;
    config.discovery = false;
    config.fast_timers = true;
    Ok(cove_gossip::Gossip::spawn(config).await?)
}

/// What [`session_against`] saw: the session's report and error, the messages it handed
/// over for storage (ids sorted, and as handed over), and the requests the responder
/// received.
struct Against {
    report: cove_node::sync::Report,
    error: Option<cove_node::sync::SyncError>,
    fetched: Vec<cove_node::message::MessageId>,
    handed_over: Vec<cove_node::message::MessageId>,
    served: Served,
}

/// Runs the node's own `sync::Session`, with an empty store, against a [`busy_responder`]
/// holding 300 posts (two pages) and answering as `busy_at` and `first` say. Returns the
/// posts' ids too; both lists of ids are sorted.
async fn session_against(
    busy_at: Vec<usize>,
    first: FirstFetch,
) -> Result<(Against, Vec<cove_node::message::MessageId>)> {
    use cove_node::message::{sign, Content, Post};
    use cove_node::sync::{IngestBatch, Session, MAX_FETCH_IDS};
    let group = cove_crypto::GroupId::from_bytes([5; 32]);
    let (sync_key, psk) = ([7; 32], [9; 32]);
    let author = cove_crypto::MasterSeed::generate().pseudonym(&group);
    let start = cove_node::now_ms() - 1_000_000;
    let messages = (0..300u64)
        .map(|i| {
            let text = format!("post {i}");
            let post = Content::Post(Post { title: None, text });
            sign(&author, &group, start + i, post)
        })
        .collect::<Result<Vec<_>, _>>()?;
    assert!(messages.len() > MAX_FETCH_IDS, "two pages");

    let (responder, responder_events) = raw_peer(psk).await?;
    let served = std::sync::Arc::new(std::sync::Mutex::new(Served::default()));
    let responding = tokio::spawn(busy_responder(
        responder.clone(),
        responder_events,
        sync_key,
        messages.clone(),
        (busy_at, first),
        served.clone(),
    ));
    let responder_addr = eventually("the responder to listen", || async {
        Ok(responder.listen_addrs().await?.into_iter().next())
    })
    .await?;

    let (requester, mut requester_events) = raw_peer(psk).await?;
    requester.dial(responder_addr).await?;
    let responder_id = responder.local_peer_id();
    while let Some(event) = requester_events.recv().await {
        if matches!(event, cove_gossip::Event::PeerConnected(p) if p == responder_id) {
            break;
        }
    }
    let drain = tokio::spawn(async move { while requester_events.recv().await.is_some() {} });

    // What the actor would do with each page: here, keep the verified messages.
    let (ingest_tx, mut ingest_rx) = tokio::sync::mpsc::channel::<IngestBatch>(4);
    let ingesting = tokio::spawn(async move {
        let mut fetched = Vec::new();
        while let Some(batch) = ingest_rx.recv().await {
            let count = batch.messages.len();
            fetched.extend(batch.messages.into_iter().filter_map(|m| m.ok()));
            let _ = batch.reply.send((count, 0, 0));
        }
        fetched
    });
    let dir = tempfile::tempdir()?;
    let store = cove_node::store::Store::open(dir.path())?;
    let session = Session {
        gossip: requester.clone(),
        peer: responder_id,
        group,
        topic: "cove/test/raw".into(),
        epochs: vec![(0, sync_key)],
        since: 0,
        fetch: true,
        store: store.reader(),
        ingest: ingest_tx,
        progress: None,
    };
    let (report, error) = session.run().await;
    let handed_over: Vec<_> = ingesting.await?.iter().map(|m| m.message.id).collect();
    let mut fetched = handed_over.clone();
    fetched.sort_by_key(|id| id.0);
    let served = std::mem::take(&mut *served.lock().expect("not poisoned"));
    drain.abort();
    responding.abort();
    requester.shutdown().await?;
    responder.shutdown().await?;
    let mut ids: Vec<_> = messages.iter().map(|m| m.message.id).collect();
    ids.sort_by_key(|id| id.0);
    Ok((
        Against {
            report,
            error,
            fetched,
            handed_over,
            served,
        },
        ids,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answered_busy_waits_and_asks_again() -> Result<()> {
    // Scenario: a responder over its request budget answers `busy`: to the session's `hello`,
    // and twice in a row to a later request (requests 0, 3 and 4). The requester is the
    // node's own `sync::Session`, with an empty store, fetching the responder's 300 posts.
    // Assert: the session does not end at `busy`: it fetches all 300 posts without error,
    // reports the 3 `busy` answers it waited out, and after each one it waited at least the
    // documented time before asking the same again (20 ms, then 40 ms after the second in a
    // row for the same request).
    within(TEST_TIMEOUT, async {
        let (run, posts) = session_against(vec![0, 3, 4], FirstFetch::Serve).await?;
        assert_eq!(run.error, None, "{:?}", run.report);
        assert_eq!((run.report.missing, run.report.accepted), (300, 300));
        assert_eq!(run.report.busy, 3);
        assert_eq!(run.fetched, posts, "every post, once");
        // hello (busy), hello, reconcile rounds and two fetches, 3 and 4 answered busy. A
        // session has two fetches in flight, so 3 and 4 may be one fetch asked twice or two
        // fetches: each answered `busy` must be asked again, the same bytes, no sooner than
        // the wait for as many `busy` in a row for that request.
        let requests = run.served.requests;
        assert!(requests.len() >= 7, "{} requests", requests.len());
        for number in [0, 3, 4] {
            let (at, busy, data) = &requests[number];
            assert!(busy);
            let in_a_row = requests[..=number]
                .iter()
                .rev()
                .filter(|r| r.2 == *data)
                .take_while(|r| r.1)
                .count() as u32;
            let again = requests[number + 1..]
                .iter()
                .find(|r| r.2 == *data)
                .expect("asked again");
            let waited = again.0 - *at;
            let due = cove_node::sync::busy_wait(in_a_row).expect("within the limit");
            assert!(
                waited >= due,
                "request {number} answered busy: asked again {waited:?} later, before {due:?}"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_goes_on_past_a_batch_the_responder_skips_whole() -> Result<()> {
    // Scenario: the responder holds 300 posts but serves none of the 256 the session's first
    // fetch asks for, as a responder skips a batch all sealed in an epoch the requester did
    // not prove (§15): the first page comes back empty.
    // Assert: the session does not end at the empty page: it asks for the next batch and
    // fetches the 44 posts it may have, without error. (It ended at the empty page before,
    // leaving every later id unfetched, in this session and the next.)
    within(TEST_TIMEOUT, async {
        let (run, posts) = session_against(Vec::new(), FirstFetch::Withhold).await?;
        assert_eq!(run.error, None, "{:?}", run.report);
        assert_eq!(run.report.missing, 300);
        let withheld = &run.served.withheld;
        assert_eq!(withheld.len(), cove_node::sync::MAX_FETCH_IDS);
        let rest: Vec<_> = posts
            .into_iter()
            .filter(|id| !withheld.contains(id))
            .collect();
        assert_eq!(rest.len(), 44);
        assert_eq!(run.fetched, rest, "every post it may have, once");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_cut_short_is_finished_before_the_pages_after_it() -> Result<()> {
    // Scenario: the responder serves only the first 100 of the 256 ids of the session's
    // first fetch, as a responder at its page budget does, while the session already has
    // its second fetch (the 44 ids after them) in flight.
    // Assert: every post is handed over for storage exactly once, and in the order of the
    // session's list: the 156 ids the first page left are asked for again (with the 44
    // after them: the page in flight is dropped) and handed over before those 44.
    within(TEST_TIMEOUT, async {
        use cove_node::sync::MAX_FETCH_IDS;
        let (run, posts) = session_against(Vec::new(), FirstFetch::CutAt(100)).await?;
        assert_eq!(run.error, None, "{:?}", run.report);
        assert_eq!((run.report.missing, run.report.accepted), (300, 300));
        assert_eq!(run.fetched, posts, "every post, once");
        let asked = &run.served.fetches;
        let first = asked
            .iter()
            .find(|ids| ids.len() == MAX_FETCH_IDS)
            .expect("a full batch");
        assert!(
            asked.iter().any(|ids| ids.starts_with(&first[100..])),
            "the rest of the first batch asked again: {:?}",
            asked.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let mut in_order = first.clone();
        for id in asked.iter().flatten() {
            if !in_order.contains(id) {
                in_order.push(*id);
            }
        }
        assert_eq!(
            run.handed_over, in_order,
            "handed over in the session's order"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_that_only_answers_busy_to_hello_is_unproven() -> Result<()> {
    // Scenario: a responder (an outsider on the topic could do this) answers every request
    // `busy`. Assert: the session waits it out only within the handshake's limit and ends
    // unproven (so automatic sessions leave the peer alone for a while), having sent no
    // more hellos than the waits that fit in that limit and nothing group-specific.
    within(TEST_TIMEOUT, async {
        let (run, _) = session_against((0..100).collect(), FirstFetch::Serve).await?;
        assert!(
            matches!(run.error, Some(cove_node::sync::SyncError::Unproven(_))),
            "{:?}",
            run.error
        );
        let limit = cove_node::sync::HANDSHAKE_TIMEOUT;
        let mut waited = std::time::Duration::ZERO;
        let fit = (1..)
            .map_while(cove_node::sync::busy_wait)
            .take_while(|w| {
                waited += *w;
                waited < limit
            })
            .count();
        let requests = run.served.requests.len();
        assert!(
            requests <= fit + 1 && run.served.requests.iter().all(|(_, busy, _)| *busy),
            "{requests} requests, {fit} waits fit in {limit:?}"
        );
        assert!(run.fetched.is_empty());
        Ok(())
    })
    .await
}
