//! The admitting member's side of admission (PROTOCOL.md §17): a newcomer with an invite
//! ticket asks over the group's sync protocol; the node checks the ticket against the group's
//! records ([`Core::admit_newcomer`](crate::core::Core::admit_newcomer)), stores and
//! publishes its `admit` record, and only once that record is durable sends the welcome, so
//! that a ticket's uses are never handed out twice by one node, even across a crash.

use cove_crypto::GroupId;
use cove_gossip::{InboundRequestId, PeerId};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::Actor;
use crate::now_ms;
use crate::sync::{self, AdmitRequest};

impl Actor {
    /// Answers `peer`'s admission request that came in by `net`'s swarm.
    pub(super) async fn admit_newcomer(
        &mut self,
        net: GroupId,
        id: InboundRequestId,
        peer: PeerId,
        request: AdmitRequest,
    ) {
        let (admit, welcome) = match self.core.admit_newcomer(&net, &request, now_ms()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                info!(group = %net.short(), %peer, reason = %refusal.detail, "admission refused");
                self.refuse(net, id, refusal.code, "admission_refused")
                    .await;
                return;
            }
        };
        if let Some(content) = admit {
            let composed = self.core.compose_as(&net, None, content, now_ms());
            if let Err(e) = self.publish_later(composed) {
                info!(group = %net.short(), error = %e, "could not record an admission");
                self.refuse(net, id, sync::ErrorCode::Busy, "admission_failed")
                    .await;
                return;
            }
        }
        info!(group = %net.short(), %peer, "admitted a newcomer with an invite ticket");
        let Ok(gossip) = self.nets.gossip(&net).cloned() else {
            return;
        };
        let (durable, stored) = oneshot::channel();
        self.answer(durable, Ok(()));
        self.tasks.spawn(async move {
            let response = match stored.await {
                Ok(Ok(())) => welcome,
                _ => sync::Response::Error {
                    code: sync::ErrorCode::Busy,
                },
            };
            if let Err(e) = gossip.respond(id, response.encode()).await {
                debug!(error = %e, "could not send the admission response");
            }
        });
    }
}
