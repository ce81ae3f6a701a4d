//! The admitting member's side of admission (PROTOCOL.md §17): a newcomer with an invite
//! ticket asks at the group's door (§10.3, [`Nets::open_door`](super::nets::Nets::open_door));
//! the door answers that and nothing else. The node checks the ticket against the group's
//! records ([`Core::admit_newcomer`](crate::core::Core::admit_newcomer)), stores and
//! publishes its `admit` record, and only once that record is durable sends the welcome, so
//! that a ticket's uses are never handed out twice by one node, even across a crash.

use cove_crypto::GroupId;
use cove_gossip::{Gossip, InboundRequestId, PeerId};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::nets::DoorRequest;
use super::Actor;
use crate::now_ms;
use crate::sync::{self, AdmitRequest};

impl Actor {
    /// Answers a request at a group's door, within the peer's request budget: an admission
    /// request, or a member's request for the re-keys it missed (§15); anything else is
    /// `unauthorized`, as from a non-member in the group's network.
    pub(super) async fn handle_door_request(&mut self, request: DoorRequest) {
        let DoorRequest {
            group,
            id,
            peer,
            data,
        } = request;
        let Some(door) = self.nets.door(&group).map(|d| d.gossip.clone()) else {
            return;
        };
        let (code, reason) = if !self.request_budgets.take(peer, now_ms()) {
            (sync::ErrorCode::Busy, "sync_busy")
        } else {
            match sync::Request::decode(&data) {
                Ok(sync::Request::Admit(admit)) => {
                    return self.admit_newcomer(group, door, id, peer, admit).await
                }
                Ok(sync::Request::Epochs(request)) => {
                    let me = self.nets.peer_id_in(&group).to_bytes();
                    match self.core.missed_rekeys(&group, &request, &me, now_ms()) {
                        Ok(messages) => {
                            info!(group = %group.short(), %peer, rekeys = messages.len(), "a member asked the door for the re-keys it missed");
                            let response = sync::Response::Messages { messages };
                            respond(&door, id, response).await;
                            return self.knock_back(group, peer, request.epoch);
                        }
                        Err(refusal) => {
                            debug!(%peer, reason = %refusal.detail, "re-keys refused at the door");
                            (refusal.code, "door_refused")
                        }
                    }
                }
                Ok(_) => (sync::ErrorCode::Unauthorized, "door_refused"),
                Err(e) => {
                    debug!(%peer, error = %e, "malformed request at the door");
                    (sync::ErrorCode::Malformed, "door_refused")
                }
            }
        };
        self.refuse_at(&door, id, code, reason).await;
    }

    /// Counts `reason` and answers the door request `id` with the error `code`.
    async fn refuse_at(
        &mut self,
        door: &Gossip,
        id: InboundRequestId,
        code: sync::ErrorCode,
        reason: &'static str,
    ) {
        self.core.count(reason);
        respond(door, id, sync::Response::Error { code }).await;
    }

    /// Answers `peer`'s admission request that came in at `net`'s door.
    async fn admit_newcomer(
        &mut self,
        net: GroupId,
        door: Gossip,
        id: InboundRequestId,
        peer: PeerId,
        request: AdmitRequest,
    ) {
        let (admit, mut welcome) = match self.core.admit_newcomer(&net, &request, now_ms()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                info!(group = %net.short(), %peer, reason = %refusal.detail, "admission refused");
                self.refuse_at(&door, id, refusal.code, "admission_refused")
                    .await;
                return;
            }
        };
        if let Some(content) = admit {
            let composed = self.core.compose_as(&net, None, content, now_ms());
            if let Err(e) = self.publish_later(composed) {
                info!(group = %net.short(), error = %e, "could not record an admission");
                self.refuse_at(&door, id, sync::ErrorCode::Busy, "admission_failed")
                    .await;
                return;
            }
        }
        info!(group = %net.short(), %peer, "admitted a newcomer with an invite ticket");
        if let sync::Response::Welcome { addrs, .. } = &mut welcome {
            *addrs = self.welcome_addrs(&net).await;
        }
        let (durable, stored) = oneshot::channel();
        self.answer(durable, Ok(()));
        self.tasks.spawn(async move {
            let response = match stored.await {
                Ok(Ok(())) => welcome,
                _ => sync::Response::Error {
                    code: sync::ErrorCode::Busy,
                },
            };
            respond(&door, id, response).await;
        });
    }

    /// Where this node is in `group`'s network, for a welcome (§17).
    async fn welcome_addrs(&self, group: &GroupId) -> Vec<String> {
        let Some(net) = self.nets.get(group) else {
            return Vec::new();
        };
        let (Ok(reach), Ok(listening)) = (
            net.gossip.reachability().await,
            net.gossip.listen_addrs().await,
        ) else {
            return Vec::new();
        };
        let reachable: Vec<_> = reach.external.into_iter().chain(reach.relayed).collect();
        crate::invite_addrs::welcome_addrs(
            net.gossip.local_peer_id(),
            &net.advertise,
            &reachable,
            &listening,
        )
    }
}

/// Sends `response` to the door request `id`.
async fn respond(door: &Gossip, id: InboundRequestId, response: sync::Response) {
    if let Err(e) = door.respond(id, response.encode()).await {
        debug!(error = %e, "could not answer at the door");
    }
}
