//! `GET /api/events?group=G[&room=R]`: live updates as server-sent events, from
//! [`cove_node::Node::watch`] (every message the node stores, from gossip, sync or itself).
//!
//! - `event: chat`, data a `FeedItem`: a new visible line in room `R` (as `Show` renders it;
//!   a line from a muted or banned member is not sent).
//! - `event: change`, data a message id: anything else stored in group `G` (a post, a reply,
//!   a recommendation, an edit, a ban...). The page re-reads what it shows; the event carries
//!   no content, so the page has one way to render things, through the JSON API.
//! - `event: change`, data `missed`: this stream fell more than `WATCH_CAPACITY` messages
//!   behind and skipped some; the page re-reads too.
//! - `event: sync`, data a `SyncActivity` (`{running, started, finished, fetched}`): history
//!   sync moved on (a session started or ended, a page of messages was stored), from
//!   [`cove_node::Node::sync_activity`]. Node-wide, not per group; changes that come faster
//!   than the page reads them are folded into the latest figures.
//!
//! At most [`crate::MAX_EVENT_STREAMS`] streams are open at once; one more gets `503`. A
//! comment line every [`KEEP_ALIVE`] notices a closed page, which frees its slot.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cove_node::message::{Content, SignedMessage};
use cove_node::{Node, NodeError, SyncActivity};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit};

use crate::api::{ApiError, State};

/// How often an idle stream sends a comment line.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    group: String,
    room: Option<String>,
}

/// What one stream watches; dropped (with its slot) when the page goes away.
struct Watch {
    accepted: broadcast::Receiver<SignedMessage>,
    sync: watch::Receiver<SyncActivity>,
    node: Node,
    group: String,
    room: Option<String>,
    _slot: OwnedSemaphorePermit,
}

pub(crate) async fn stream(
    Extract(s): Extract<State>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let Ok(slot) = s.streams.clone().try_acquire_owned() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live views open\n",
        )
            .into_response());
    };
    // Subscribe before resolving, so nothing stored in between is missed.
    let accepted = s.node.watch();
    let sync = s.node.sync_activity();
    let group = s
        .node
        .groups()
        .await?
        .into_iter()
        .find(|g| g.id == q.group || g.name == q.group)
        .ok_or_else(|| NodeError::UnknownGroup(q.group.clone()))?
        .id;
    let room = match q.room {
        Some(room) => {
            let id = s.node.resolve_room(Some(&group), &room).await?;
            Some(id.to_string())
        }
        None => None,
    };
    let watch = Watch {
        accepted,
        sync,
        node: s.node.clone(),
        group,
        room,
        _slot: slot,
    };
    Ok(Sse::new(events(watch))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

fn events(watch: Watch) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(watch, |mut w| async move {
        loop {
            let received = tokio::select! {
                received = w.accepted.recv() => received,
                changed = w.sync.changed() => {
                    // The sender lives as long as the node; without it, messages end too.
                    if changed.is_err() {
                        return None;
                    }
                    let activity = *w.sync.borrow_and_update();
                    match Event::default().event("sync").json_data(activity) {
                        Ok(event) => return Some((Ok(event), w)),
                        Err(_) => continue,
                    }
                }
            };
            let event = match received {
                Ok(signed) => match next_event(&w, &signed).await {
                    Some(event) => event,
                    None => continue,
                },
                Err(RecvError::Lagged(_)) => Event::default().event("change").data("missed"),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), w));
        }
    })
}

/// The event a stored message makes on this stream, if any.
async fn next_event(w: &Watch, signed: &SignedMessage) -> Option<Event> {
    let message = &signed.message;
    if message.group.to_string() != w.group {
        return None;
    }
    let id = message.id.to_string();
    if let Content::Chat(chat) = &message.content {
        if w.room.as_deref() != Some(chat.room.to_string().as_str()) {
            return None;
        }
        // Hidden (muted, banned, removed): Show refuses it, and it is not sent.
        let item = w.node.show(&id).await.ok()?;
        return Event::default().event("chat").json_data(item).ok();
    }
    Some(Event::default().event("change").data(id))
}
