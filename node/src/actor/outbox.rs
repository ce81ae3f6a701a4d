//! Own messages until a proven member holds them (PROTOCOL.md §13.9): re-offered by gossip,
//! and confirmed by reconciliation rounds with a member.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use cove_crypto::GroupId;
use tracing::warn;

use super::{offer, Actor, OUTBOX_REOFFER_INTERVAL};
use crate::message::MessageId;

impl Actor {
    /// Looks at the own messages no proven member has confirmed (PROTOCOL.md §13.9): offers
    /// each by gossip unless a peer took it less than [`OUTBOX_REOFFER_INTERVAL`] ago, and
    /// starts a confirmation round for each group that has any.
    pub(super) async fn republish_outbox(&mut self) {
        let pending = match self.core.store().outbox() {
            Ok(pending) => pending,
            Err(e) => {
                warn!(error = %e, "cannot read outbox");
                return;
            }
        };
        let ids: HashSet<MessageId> = pending.iter().map(|(id, _)| *id).collect();
        self.gossiped.retain(|id, _| ids.contains(id));
        // Per group, the creation time of its oldest unconfirmed message.
        let mut oldest: HashMap<GroupId, u64> = HashMap::new();
        for (id, group) in pending {
            let created_at = match self.core.store().message(&id) {
                Ok(Some(stored)) => stored.signed.message.created_at,
                Ok(None) => {
                    // Pruned by retention: nothing left to deliver.
                    let _ = self.core.store().outbox_remove(&id);
                    continue;
                }
                Err(e) => {
                    warn!(msg = %id.short(), error = %e, "cannot read an outbox message");
                    continue;
                }
            };
            let oldest = oldest.entry(group).or_insert(created_at);
            *oldest = (*oldest).min(created_at);
            let taken_lately = self
                .gossiped
                .get(&id)
                .is_some_and(|at| at.elapsed() < OUTBOX_REOFFER_INTERVAL);
            if taken_lately {
                continue;
            }
            match self.core.reseal(&id) {
                Ok(Some((topic, envelope))) => {
                    let Some(gossip) = self.nets.for_topic(&topic) else {
                        continue;
                    };
                    if offer(gossip, &id, &topic, envelope).await {
                        self.gossiped.insert(id, Instant::now());
                    }
                }
                Ok(None) => {
                    // Its group is gone: nothing left to deliver.
                    let _ = self.core.store().outbox_remove(&id);
                }
                Err(e) => warn!(msg = %id.short(), error = %e, "cannot reseal"),
            }
        }
        for (group, since) in oldest {
            self.confirm_delivery(group, since).await;
        }
    }

    /// A confirmation round for `group`'s own messages created at or after `since`: with one
    /// member, reconciliation only (PROTOCOL.md §13.6).
    pub(super) async fn confirm_delivery(&mut self, group: GroupId, since: u64) {
        let members = self.members_online(group).await;
        let Some(peer) = self.pick_member(group, &members) else {
            return;
        };
        if let Some(mut session) = self.session(group, peer, None) {
            session.since = session.since.max(since);
            session.fetch = false;
            self.start_session(session);
        }
    }
}
