//! The newcomer's side of admission (PROTOCOL.md §17): with an invite ticket, the node reaches
//! the door (§10.3) of a member listed in the invite (the ticket carries the door's key, not
//! the group network's), asks to be admitted, and receives the group's keys in a welcome, or a refusal that
//! says why (used up, expired, withdrawn, banned).
//!
//! The exchange runs on a short-lived swarm of its own, under the peer key this device will
//! have in the group, so that it works the same whether the node is running (`Node::join`)
//! or not (`cove join` on the store, `control::offline::join`), and never holds up the
//! node's actor while it dials.

use std::time::Duration;

use cove_crypto::{DeviceKey, TicketInvite};
use cove_gossip::{Event, Gossip, Multiaddr, PeerId, Protocol};
use tracing::debug;

use crate::core::tickets::refusal_text;
use crate::error::NodeError;
use crate::sync::{AdmitRequest, ErrorCode, Request, Response};

/// How long one listed member may take to accept the connection.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// The swarm configuration of an admission: this device's peer key in the ticket's group,
/// the group's door key, no listening, no discovery.
pub fn config(device: &DeviceKey, ticket: &TicketInvite) -> cove_gossip::Config {
    let keypair = crate::actor::group_keypair(device, &ticket.group);
    let mut config = cove_gossip::Config::new(keypair);
    config.listen = Vec::new();
    config.mdns = false;
    config.discovery = false;
    config.psk = Some(*ticket.door_key.as_bytes());
    config
}

/// Asks the members listed in `ticket`, one after the other, to admit this member; returns
/// the first welcome. A refusal that no other member would overturn (used up, expired,
/// withdrawn, banned) ends it at once; an unknown ticket or a busy member moves on to the
/// next address.
pub async fn ask(
    config: cove_gossip::Config,
    ticket: &TicketInvite,
    request: &AdmitRequest,
) -> Result<Response, NodeError> {
    let members: Vec<(Multiaddr, PeerId)> = ticket
        .addrs
        .iter()
        .filter_map(|text| {
            let addr: Multiaddr = text.parse().ok()?;
            let peer = addr.iter().find_map(|p| match p {
                Protocol::P2p(peer) => Some(peer),
                _ => None,
            })?;
            Some((addr, peer))
        })
        .collect();
    if members.is_empty() {
        return Err(NodeError::Admission {
            refused: false,
            reason: "the invite lists no member address (ending in /p2p/<peer id>) to ask for \
                     admission: ask for an invite made with `cove group invite --addr`"
                .into(),
        });
    }
    let (gossip, mut events) = Gossip::spawn(config).await?;
    let frame = Request::Admit(request.clone()).encode();
    let mut last = String::from("no member answered");
    for (addr, peer) in members {
        match ask_one(&gossip, &mut events, addr.clone(), peer, &frame).await {
            Ok(welcome @ Response::Welcome { .. }) => {
                let _ = gossip.shutdown().await;
                return Ok(welcome);
            }
            Ok(Response::Error { code }) if retryable(code) => {
                last = format!("{addr}: {}", refusal_text(code));
            }
            Ok(Response::Error { code }) => {
                let _ = gossip.shutdown().await;
                return Err(NodeError::Admission {
                    refused: true,
                    reason: refusal_text(code).into(),
                });
            }
            Ok(other) => last = format!("{addr}: answered {other:?} instead of a welcome"),
            Err(e) => {
                debug!(%addr, error = %e, "admission attempt failed");
                last = format!("{addr}: {e}");
            }
        }
    }
    let _ = gossip.shutdown().await;
    Err(NodeError::Admission {
        refused: false,
        reason: format!(
            "no member listed in the invite admitted you ({last}); check that a member's node \
             is running and reachable at an address in the invite, then try again"
        ),
    })
}

/// Whether another member might admit after `code`.
fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownTicket | ErrorCode::Busy | ErrorCode::Unauthorized | ErrorCode::Malformed
    )
}

/// Connects to `peer` at `addr` and sends it the admission `frame`.
async fn ask_one(
    gossip: &Gossip,
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    addr: Multiaddr,
    peer: PeerId,
    frame: &[u8],
) -> Result<Response, NodeError> {
    gossip.dial(addr).await?;
    let connected = tokio::time::timeout(CONNECT_PATIENCE, async {
        while let Some(event) = events.recv().await {
            if matches!(event, Event::PeerConnected(p) if p == peer) {
                return true;
            }
        }
        false
    })
    .await;
    if connected != Ok(true) {
        return Err(NodeError::Control(format!(
            "could not connect within {CONNECT_PATIENCE:?} (is its node running, and is this the \
             group's invite?)"
        )));
    }
    let bytes = gossip.request(peer, frame.to_vec()).await?;
    Response::decode(&bytes).map_err(|e| NodeError::Control(format!("a malformed answer: {e}")))
}
