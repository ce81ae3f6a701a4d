//! History sync from the actor's side: sessions it starts (anti-entropy, a new member on a
//! topic, `cove sync`, outbox confirmation) run in tasks; requests it serves are authorised
//! here and answered from the store's reader on a blocking thread. The protocol itself is
//! [`crate::sync`].

use std::collections::HashMap;
use std::time::Instant;

use cove_crypto::GroupId;
use cove_gossip::{InboundRequestId, PeerId};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::{Actor, Internal, Reply, SyncActivity, MAX_CONCURRENT_SYNCS};
use crate::now_ms;
use crate::sync::{self, Progress, Report, Session, SyncError};

/// Counts the sessions this node runs as they start and end, and the messages they store,
/// into a `watch` channel: [`crate::Node::sync_activity`] subscribes to it. Sessions run in
/// their own tasks, so each holds a clone.
#[derive(Clone, Debug)]
pub(super) struct SyncMeter(watch::Sender<SyncActivity>);

impl SyncMeter {
    pub(super) fn new() -> Self {
        SyncMeter(watch::Sender::new(SyncActivity::default()))
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<SyncActivity> {
        self.0.subscribe()
    }

    pub(super) fn now(&self) -> SyncActivity {
        *self.0.borrow()
    }

    /// Runs `session`, counted as running meanwhile.
    pub(super) async fn run(&self, session: Session) -> (Report, Option<SyncError>) {
        self.0.send_modify(|a| {
            a.running += 1;
            a.started += 1;
        });
        let ended = session.run().await;
        self.0.send_modify(|a| {
            a.running -= 1;
            a.finished += 1;
        });
        ended
    }

    /// A fetched page stored `accepted` new messages.
    pub(super) fn fetched(&self, accepted: usize) {
        if accepted > 0 {
            self.0.send_modify(|a| a.fetched += accepted as u64);
        }
    }
}

/// The automatic sessions running, at most one per (group, peer) and
/// [`MAX_CONCURRENT_SYNCS`] in all, and whether each fetches.
///
/// A confirmation round (reconciliation only, [`Session::fetch`] `false`) holds its pair's
/// slot like a catch-up does. A catch-up asked for meanwhile (the peer subscribed to the
/// group's topic: it is new here, or back) is owed, and started when the round ends: else it
/// would wait for the next anti-entropy round (a minute by default), and a member who joins
/// while its own outbox is being confirmed would see nothing of the history until then.
#[derive(Debug, Default)]
pub(super) struct SessionSlots {
    /// Per running pair: whether the session fetches, and whether a catch-up is owed after it.
    running: HashMap<(GroupId, PeerId), Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    fetches: bool,
    catch_up_owed: bool,
}

impl SessionSlots {
    /// Takes the pair's slot for a session that `fetches` or not; `false`: one runs for the
    /// pair already (a catch-up is then owed if this one fetches and that one does not), or
    /// [`MAX_CONCURRENT_SYNCS`] run.
    pub(super) fn start(&mut self, pair: (GroupId, PeerId), fetches: bool) -> bool {
        if let Some(slot) = self.running.get_mut(&pair) {
            slot.catch_up_owed |= fetches && !slot.fetches;
            return false;
        }
        if self.running.len() >= MAX_CONCURRENT_SYNCS {
            return false;
        }
        let slot = Slot {
            fetches,
            catch_up_owed: false,
        };
        self.running.insert(pair, slot);
        true
    }

    /// Frees the pair's slot; `true`: a catch-up is owed with this peer now.
    pub(super) fn end(&mut self, pair: &(GroupId, PeerId)) -> bool {
        self.running.remove(pair).is_some_and(|s| s.catch_up_owed)
    }

    /// Whether a session runs for the pair.
    pub(super) fn contains(&self, pair: &(GroupId, PeerId)) -> bool {
        self.running.contains_key(pair)
    }
}

impl Actor {
    pub(super) async fn handle_internal(&mut self, internal: Internal) {
        match internal {
            Internal::SessionDone { group, peer, error } => {
                let catch_up_owed = self.syncing.end(&(group, peer));
                match error {
                    Some(error) => {
                        if matches!(error, SyncError::Unproven(_)) {
                            self.unproven.mark(group, peer, now_ms());
                        }
                        self.session_failed(peer, &error).await;
                    }
                    None if catch_up_owed => {
                        if let Some(session) = self.session(group, peer, None) {
                            self.start_session(session);
                        }
                    }
                    None => {}
                }
            }
            Internal::Violation { peer, reason } => self.penalise(peer, reason).await,
            Internal::Delivered { ids } => {
                for id in ids {
                    if let Err(e) = self.core.store().outbox_remove(&id) {
                        warn!(msg = %id.short(), error = %e, "could not clear outbox entry");
                    }
                }
            }
            Internal::Gossiped { ids } => {
                let now = Instant::now();
                self.gossiped.extend(ids.into_iter().map(|id| (id, now)));
            }
        }
    }

    pub(super) async fn session_failed(&mut self, peer: PeerId, error: &SyncError) {
        debug!(%peer, %error, "sync session ended early");
        if error.is_violation() {
            self.penalise(peer, error.reason()).await;
        } else {
            self.core.count(error.reason());
        }
    }

    /// Counts a protocol violation and cuts the peer off for [`sync::BAN_DURATION`].
    pub(super) async fn penalise(&mut self, peer: PeerId, reason: &'static str) {
        self.core.count(reason);
        info!(%peer, reason, "peer cut off");
        self.nets.ban(peer, Some(sync::BAN_DURATION)).await;
    }

    pub(super) fn session(
        &self,
        group: GroupId,
        peer: PeerId,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Option<Session> {
        let g = self.core.group(&group)?;
        Some(Session {
            gossip: self.nets.get(&group)?.gossip.clone(),
            peer,
            group,
            topic: g.topic.clone(),
            epochs: g.epochs.proof_order(),
            since: self.core.retention_cutoff(now_ms()),
            fetch: true,
            store: self.core.store().reader(),
            ingest: self.ingest_tx.clone(),
            progress,
        })
    }

    /// Starts an automatic session unless one runs for this pair (a catch-up then follows a
    /// confirmation round, [`SessionSlots`]), too many run, or the peer failed to prove
    /// membership of the group lately (an unproven responder must not get a slot again and
    /// again).
    pub(super) fn start_session(&mut self, session: Session) {
        let (group, peer) = (session.group, session.peer);
        if self.unproven.contains(&group, &peer, now_ms())
            || !self.syncing.start((group, peer), session.fetch)
        {
            return;
        }
        let done = self.internal_tx.clone();
        let meter = self.sync_meter.clone();
        self.tasks.spawn(async move {
            let (mut report, error) = meter.run(session).await;
            if report.accepted > 0 {
                info!(peer = %peer, group = %group.short(), fetched = report.accepted, rounds = report.rounds, "synced");
            }
            let ids = std::mem::take(&mut report.delivered_ids);
            let _ = done.send(Internal::Delivered { ids }).await;
            let _ = done
                .send(Internal::SessionDone { group, peer, error })
                .await;
        });
    }

    /// Connected peers that subscribe to `topic`.
    pub(super) async fn members_online(&self, group: GroupId) -> Vec<cove_gossip::PeerInfo> {
        let (Some(net), Some(g)) = (self.nets.get(&group), self.core.group(&group)) else {
            return Vec::new();
        };
        match net.gossip.peers().await {
            Ok(peers) => peers
                .into_iter()
                .filter(|p| p.topics.contains(&g.topic))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A random one of `members` that an automatic session of `group` may start with now:
    /// none runs with it, and it has not failed to prove membership lately.
    pub(super) fn pick_member(
        &self,
        group: GroupId,
        members: &[cove_gossip::PeerInfo],
    ) -> Option<PeerId> {
        let now = now_ms();
        let eligible: Vec<PeerId> = members
            .iter()
            .map(|m| m.peer)
            .filter(|p| {
                !self.syncing.contains(&(group, *p)) && !self.unproven.contains(&group, p, now)
            })
            .collect();
        (!eligible.is_empty()).then(|| eligible[rand::random_range(0..eligible.len())])
    }

    pub(super) async fn anti_entropy(&mut self) {
        let groups: Vec<GroupId> = self.core.groups().map(|g| g.id).collect();
        for group in groups {
            let members = self.members_online(group).await;
            if members.is_empty() {
                continue;
            }
            if let Some(session) = self
                .pick_member(group, &members)
                .and_then(|peer| self.session(group, peer, None))
            {
                self.start_session(session);
            }
        }
        match self.core.prune(now_ms()) {
            Ok(0) => {}
            Ok(n) => info!(deleted = n, "pruned messages outside the retention window"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
    }

    pub(super) async fn sync_on_demand(
        &mut self,
        group: Option<String>,
        progress: Option<mpsc::Sender<Progress>>,
        reply: Reply<Vec<Report>>,
    ) {
        let groups: Vec<GroupId> = match group {
            Some(q) => match self.core.view().resolve_group(&q) {
                Ok(id) => vec![id],
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            },
            None => self.core.groups().map(|g| g.id).collect(),
        };
        let mut sessions = Vec::new();
        for group in groups {
            for member in self.members_online(group).await {
                sessions.extend(self.session(group, member.peer, progress.clone()));
            }
        }
        let internal = self.internal_tx.clone();
        let meter = self.sync_meter.clone();
        // Sessions run one after the other in their own task; the actor stays responsive.
        self.tasks.spawn(async move {
            let mut reports = Vec::new();
            for session in sessions {
                let peer = session.peer;
                let (mut report, error) = meter.run(session).await;
                let ids = std::mem::take(&mut report.delivered_ids);
                let _ = internal.send(Internal::Delivered { ids }).await;
                if let Some(error) = error.filter(SyncError::is_violation) {
                    let _ = internal
                        .send(Internal::Violation {
                            peer,
                            reason: error.reason(),
                        })
                        .await;
                }
                reports.push(report);
            }
            let _ = reply.send(Ok(reports));
        });
    }

    /// Serves one inbound sync request. Decoding and authorisation happen here; reading the
    /// store for reconciliation or pages runs on a blocking thread.
    pub(super) async fn handle_sync_request(
        &mut self,
        net: GroupId,
        id: InboundRequestId,
        peer: PeerId,
        data: Vec<u8>,
    ) {
        // Before anything else: every request costs the responder work, so one peer gets a
        // bounded number of them (a member replaying reconcile rounds included).
        if !self.request_budgets.take(peer, now_ms()) {
            debug!(%peer, "sync request over the peer's budget");
            self.refuse(net, id, sync::ErrorCode::Busy, "sync_busy")
                .await;
            return;
        }
        let request = match sync::Request::decode(&data) {
            Ok(request) => request,
            Err(e) => {
                debug!(%peer, error = %e, "malformed sync request");
                self.respond(
                    net,
                    id,
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    },
                )
                .await;
                self.penalise(peer, "sync_malformed").await;
                return;
            }
        };
        let request = match request {
            // Admission and missed re-keys are asked at the group's door (§10.3); inside the
            // group's network only a member or a former member could ask.
            sync::Request::Admit(_) | sync::Request::Epochs(_) => {
                self.refuse(net, id, sync::ErrorCode::Unauthorized, "sync_unauthorized")
                    .await;
                return;
            }
            other => other,
        };
        // A group's network serves that group only: a topic of another group the node is in is
        // answered as an unknown one, so that one group's members cannot learn the others.
        let group_of = |topic: &str| self.core.group_by_topic(topic).filter(|g| g.id == net);
        let local = self.nets.peer_id_in(&net);
        let (topic, proof) = match &request {
            sync::Request::Hello {
                topic,
                nonce,
                epoch,
            } => {
                let sync_key = group_of(topic)
                    .and_then(|g| g.epochs.get(*epoch))
                    .map(|e| e.sync);
                let answer =
                    self.challenges
                        .answer_hello(peer, &local, sync_key.as_ref(), nonce, *epoch);
                self.respond(net, id, answer).await;
                return;
            }
            sync::Request::Reconcile { topic, proof, .. }
            | sync::Request::Fetch { topic, proof, .. } => (topic, proof),
            sync::Request::Admit(_) | sync::Request::Epochs(_) => unreachable!("refused above"),
        };
        // The proof is over the sync key of the epoch the peer's `hello` named; the pages it
        // may fetch are those of that epoch and of older numbers (§15).
        let authorised = group_of(topic).and_then(|g| {
            let proven = g.epochs.get(self.challenges.epoch(&peer)?)?;
            self.challenges
                .verify(&peer, &local, &proven.sync, proof)
                .then(|| (g.id, g.epochs.clone(), proven.clone()))
        });
        let Some((group, epochs, proven)) = authorised else {
            // Same answer for an unknown topic and a bad proof: a non-member learns nothing.
            debug!(%peer, "unauthorised sync request");
            self.refuse(net, id, sync::ErrorCode::Unauthorized, "sync_unauthorized")
                .await;
            return;
        };
        let store = self.core.store().reader();
        let sessions = self.session_storages.clone();
        let cutoff = self.core.retention_cutoff(now_ms());
        let Ok(gossip) = self.nets.gossip(&net).cloned() else {
            return;
        };
        let internal = self.internal_tx.clone();
        self.tasks.spawn(async move {
            let served = tokio::task::spawn_blocking(move || match request {
                sync::Request::Reconcile { since, msg, .. } => {
                    sync::serve_reconcile(&store, &sessions, peer, &group, since.max(cutoff), &msg)
                        .map(|msg| sync::Response::Reconcile { msg })
                }
                sync::Request::Fetch { ids, .. } => {
                    sync::serve_fetch(&store, &group, &ids, |tag| epochs.entitled(&proven, tag))
                        .map(|messages| sync::Response::Messages { messages })
                }
                sync::Request::Hello { .. }
                | sync::Request::Admit(_)
                | sync::Request::Epochs(_) => unreachable!("answered above"),
            })
            .await;
            let response = match served {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "sync request could not be served");
                    if e.is_violation() {
                        let _ = internal
                            .send(Internal::Violation {
                                peer,
                                reason: "sync_malformed",
                            })
                            .await;
                    }
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    }
                }
                Err(panic) => {
                    // Reconciliation code must not take the node down on hostile input.
                    warn!(%peer, error = %panic, "serving sync panicked");
                    let _ = internal
                        .send(Internal::Violation {
                            peer,
                            reason: "sync_malformed",
                        })
                        .await;
                    sync::Response::Error {
                        code: sync::ErrorCode::Malformed,
                    }
                }
            };
            if let Err(e) = gossip.respond(id, response.encode()).await {
                debug!(%peer, error = %e, "could not send sync response");
            }
        });
    }

    /// Answers a sync request with an error `code` and counts `reason` (no penalty).
    pub(super) async fn refuse(
        &mut self,
        net: GroupId,
        id: InboundRequestId,
        code: sync::ErrorCode,
        reason: &'static str,
    ) {
        self.core.count(reason);
        self.respond(net, id, sync::Response::Error { code }).await;
    }

    /// Answers a request that came in by `net`'s swarm.
    pub(super) async fn respond(
        &self,
        net: GroupId,
        id: InboundRequestId,
        response: sync::Response,
    ) {
        let Ok(gossip) = self.nets.gossip(&net) else {
            return;
        };
        if let Err(e) = gossip.respond(id, response.encode()).await {
            debug!(error = %e, "could not send sync response");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_asked_for_during_a_confirmation_round_follows_it() {
        // Scenario: a confirmation round with ant holds the slot when ant subscribes (a
        // catch-up is asked for). Assert: refused now, owed when the round ends, once.
        let (group, ant, bat) = (
            GroupId::from_bytes([1; 32]),
            PeerId::random(),
            PeerId::random(),
        );
        let mut slots = SessionSlots::default();
        assert!(slots.start((group, ant), false), "the confirmation round");
        assert!(!slots.start((group, ant), true), "one session per pair");
        assert!(slots.contains(&(group, ant)));
        assert!(slots.end(&(group, ant)), "the catch-up is owed");
        assert!(!slots.contains(&(group, ant)));
        assert!(!slots.end(&(group, ant)), "and only once");

        // A catch-up asked for during a catch-up, or a confirmation round during anything,
        // is not owed: the running one does it, or the outbox is confirmed again later.
        assert!(slots.start((group, bat), true));
        assert!(!slots.start((group, bat), true));
        assert!(!slots.start((group, bat), false));
        assert!(!slots.end(&(group, bat)));
        assert!(slots.start((group, bat), false));
        assert!(!slots.start((group, bat), false));
        assert!(!slots.end(&(group, bat)));
    }

    #[test]
    fn session_slots_stay_bounded() {
        let group = GroupId::from_bytes([1; 32]);
        let mut slots = SessionSlots::default();
        let started = (0..MAX_CONCURRENT_SYNCS + 3)
            .filter(|_| slots.start((group, PeerId::random()), true))
            .count();
        assert_eq!(started, MAX_CONCURRENT_SYNCS);
        assert_eq!(slots.running.len(), MAX_CONCURRENT_SYNCS);
    }
}
