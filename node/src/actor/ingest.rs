//! Messages from peers: while gossip messages queue up, each is opened and its signature
//! verified on another thread ([`Core::opener`], the bulk of the CPU), then, in arrival order,
//! decided by [`Core::admit_opened`] (a message that finds nothing queued is decided at
//! once), the verdict reported to gossip (forwarding waits for it), and what
//! is accepted committed to the store and shown to live watchers. Pages fetched by sync
//! sessions go through the same pipeline, verified by the session ([`Core::ingest_verified`]).
//!
//! ```text
//! gossip event ─▶ Core::opener ─▶ task: open + verify ─┐  (up to OPENING_CAPACITY at once,
//!                                                      ▼   on every core)
//!          Actor::opening (a FIFO of the tasks) ─▶ in arrival order: admit_opened (rules,
//!          against every message accepted before) ─▶ report ─▶ commit ─▶ watchers
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cove_crypto::GroupId;
use cove_gossip::{Event, PeerId};
use tracing::{debug, info, warn};

use super::{gossip_verdict, now_ms, Actor};
use crate::core::{decide, Core, Rejection};
use crate::message::Content;
use crate::sync::IngestBatch;

/// Gossip messages being opened and verified at once, ahead of their decisions. When this
/// many wait, the actor takes no new gossip event until the oldest is decided.
pub const OPENING_CAPACITY: usize = 64;

/// A gossip message waiting for its turn, and what opening it gave (`None`: not opened ahead;
/// the decision opens it).
/// (`Sync` too: the actor is shared by reference across awaits.)
pub(super) type Opening =
    Pin<Box<dyn Future<Output = (Arrival, Option<decide::Opened>)> + Send + Sync>>;

/// A gossip message as it arrived.
pub(super) struct Arrival {
    net: GroupId,
    id: cove_gossip::MessageId,
    source: PeerId,
    /// The topic, or "" when it is not the topic of `net`'s group.
    topic: String,
    data: Arc<Vec<u8>>,
}

impl Actor {
    /// Runs one step of ingesting `source`'s message. A bug in validation must cost one
    /// message, not the node: a panic while handling a peer's bytes is counted and the
    /// message ignored.
    pub(super) fn guarded<T>(
        &mut self,
        source: &PeerId,
        step: impl FnOnce(&mut Core) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        let core = &mut self.core;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(core))).unwrap_or_else(|_| {
            warn!(peer = %source, "validation panicked; message ignored");
            self.core.count(Rejection::Internal.reason());
            Err(Rejection::Internal)
        })
    }

    /// Handles one event of group `net`'s swarm.
    pub(super) async fn handle_gossip_event(&mut self, net: GroupId, event: Event) {
        // Address records, and who is connected, are `peers.rs`'s.
        let Some(event) = self.peers_event(net, event).await else {
            return;
        };
        // A group's network carries that group only: a message or subscription naming another
        // group's topic is judged as on an unknown topic (a member of two groups gains
        // nothing by crossing them, and one network never shows another group's traffic).
        let own_topic = |actor: &Self, topic: &str| {
            actor
                .core
                .group_by_topic(topic)
                .is_some_and(|g| g.id == net)
        };
        match event {
            Event::Message {
                id,
                source,
                topic,
                data,
            } => {
                let topic = if own_topic(self, &topic) {
                    topic
                } else {
                    String::new()
                };
                let arrival = Arrival {
                    net,
                    id,
                    source,
                    topic,
                    data: Arc::new(data),
                };
                if self.opening.is_empty() && self.events.is_empty() {
                    // Nothing queued: deciding at once is the shortest way; a task would only
                    // add a hop through the scheduler. Opening ahead pays off in a burst.
                    self.decide_opened(arrival, None).await;
                } else {
                    self.open_ahead(arrival);
                }
            }
            Event::PeerSubscribed { peer, topic } => {
                debug!(%peer, %topic, "peer subscribed");
                // A new member on a topic (or a non-member that knows the topic string: the
                // session's first step tells): catch up, and hand it what is still waiting.
                if own_topic(self, &topic) {
                    let group = net;
                    if let Some(session) = self.session(group, peer, None) {
                        self.start_session(session);
                    }
                }
                self.republish_outbox().await;
            }
            Event::Request { id, peer, data } => {
                self.handle_sync_request(net, id, peer, data).await
            }
            Event::ProtocolViolation { peer, reason } => {
                info!(%peer, %reason, "sync protocol violation");
                self.penalise(peer, "sync_oversized").await;
            }
            Event::Throttled { peer, topic } => {
                debug!(%peer, %topic, "peer over its message budget");
                self.core.count("peer_rate_limited");
            }
            Event::PeerConnected(peer) => debug!(%peer, "connected"),
            Event::PeerDisconnected(peer) => {
                debug!(%peer, "disconnected");
                // A challenge is bound to its connection.
                self.challenges.forget(&peer);
            }
            Event::ListenAddr(addr) => info!(%addr, "listening"),
        }
    }

    /// Queues a gossip message for its decision, opening and verifying it meanwhile on
    /// another task (on any core) when the group holds the key it names.
    fn open_ahead(&mut self, arrival: Arrival) {
        let opener = self.core.opener(&arrival.topic, &arrival.data);
        let opening = opener.map(|opener| {
            let data = Arc::clone(&arrival.data);
            tokio::spawn(async move { opener.open(&data) })
        });
        self.opening.push_back(Box::pin(async move {
            // A task that panicked opened nothing: the decision opens it again, guarded.
            let opened = match opening {
                Some(task) => task.await.ok(),
                None => None,
            };
            (arrival, opened)
        }));
    }

    /// Decides on the oldest gossip message, in arrival order: reports the verdict, stores
    /// what is accepted and shows it to watchers.
    pub(super) async fn decide_opened(&mut self, arrival: Arrival, opened: Option<decide::Opened>) {
        let Arrival {
            net,
            id,
            source,
            topic,
            data,
        } = arrival;
        let now = now_ms();
        let result = self.guarded(&source, |core| {
            core.admit_opened(&topic, &data, opened, now)
        });
        let verdict = decide::Verdict::of(&result);
        if let Err(rejection) = &result {
            if verdict == decide::Verdict::Reject {
                info!(peer = %source, reason = rejection.reason(), detail = %rejection, "rejected");
            } else {
                debug!(peer = %source, reason = rejection.reason(), "ignored");
            }
        }
        // The verdict goes out before the message is stored: forwarding waits for
        // validation, not for the disk. If the store then fails (or the node dies
        // first), this node lacks a message its peers have, and sync brings it back.
        if let Ok(gossip) = self.nets.gossip(&net) {
            if let Err(e) = gossip.report(id, source, gossip_verdict(verdict)).await {
                warn!(error = %e, "could not report validation result");
            }
        }
        if let Ok(signed) = result {
            if self
                .guarded(&source, |core| core.commit(&signed, now))
                .is_ok()
            {
                debug!(peer = %source, msg = %signed.message.id.short(), kind = signed.message.content.kind(), "accepted");
                let _ = self.accepted.send(signed);
            }
        }
    }

    /// Validates and stores a page fetched by sync, exactly as gossip messages are.
    pub(super) fn ingest_batch(&mut self, batch: IngestBatch) {
        let mut counts = (0, 0, 0);
        let now = now_ms();
        // A page may hold an ad before its grant: those are tried again after the rest.
        let mut retry = Vec::new();
        for verified in batch.messages {
            let ad = match &verified {
                Ok(s) if matches!(s.message.content, Content::Ad(_) | Content::Advertiser(_)) => {
                    Some(s.clone())
                }
                _ => None,
            };
            if let (Err(Rejection::NoGrant), Some(ad)) = (
                self.ingest_one(&batch.group, verified, now, &mut counts),
                ad,
            ) {
                retry.push(ad);
            }
        }
        for signed in retry {
            counts.1 -= 1;
            let _ = self.ingest_one(&batch.group, Ok(signed), now, &mut counts);
        }
        self.sync_meter.fetched(counts.0);
        let _ = batch.reply.send(counts);
    }

    /// Validates one synced message; counts it as (accepted, refused, invalid).
    pub(super) fn ingest_one(
        &mut self,
        group: &GroupId,
        verified: decide::Verified,
        now: u64,
        counts: &mut (usize, usize, usize),
    ) -> Result<(), Rejection> {
        match self.core.ingest_verified(group, verified, now) {
            Ok(signed) => {
                counts.0 += 1;
                let _ = self.accepted.send(signed);
                Ok(())
            }
            Err(r) => {
                if r.is_penalised() {
                    counts.2 += 1;
                } else {
                    counts.1 += 1;
                }
                Err(r)
            }
        }
    }
}
