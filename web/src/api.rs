//! `/api/...`: the JSON endpoints the page uses, each a thin translation onto one typed
//! [`Node`] method. Answers are the node's own types as JSON (the shapes of `docs/API.md`);
//! failures are `{"error": "...", "input": "group"}` with `400` when the input was at fault
//! (`input` names which, when the node says), `503` when the node stopped, `500` otherwise.
//!
//! | method and path | node call |
//! |---|---|
//! | `GET /api/groups`, `/api/status`, `/api/peers` | [`Node::groups`], [`Node::status`], [`Node::peers`] |
//! | `GET /api/feed?group&order&window_secs&limit&live` | [`Node::feed_ranked`], then [`Node::ads_shown`] unless `live` |
//! | `POST /api/posts` `{group, title?, text}` | [`Node::post`] |
//! | `GET /api/messages/{id}`, `GET /api/threads/{id}` | [`Node::show`], [`Node::thread`] |
//! | `PUT /api/messages/{id}` `{title?, text}`, `DELETE /api/messages/{id}` | [`Node::edit`], [`Node::delete`] |
//! | `POST /api/messages/{id}/replies` `{text}` | [`Node::reply`] |
//! | `POST /api/messages/{id}/recommend` `{undo}` | [`Node::recommend`] |
//! | `GET /api/profiles?member`, `PUT /api/profile` `{group, nickname, bio?}` | [`Node::profiles`], [`Node::set_profile`] |
//! | `GET /api/rooms?group`, `POST /api/rooms` `{group, name}` | [`Node::rooms`], [`Node::create_room`] |
//! | `GET /api/rooms/{room}/lines?group&limit`, `POST /api/rooms/{room}/lines` `{group, text}` | [`Node::chat_history`], [`Node::say`] |
//! | `GET /api/events?group&room` | server-sent events on [`Node::watch`] and [`Node::sync_activity`] (see `events.rs`) |
//! | `GET /api/ads?group` | [`Node::ads`] |
//! | `GET /api/interests`, `POST /api/interests` `{add, remove}` | [`Node::set_interests`] |
//! | `POST /api/mute` `{group, member, undo}` | [`Node::mute`] |
//! | `GET /api/admin?group` | [`Node::moderation`] |
//! | `POST /api/admin/ban` `{group, member, undo, remove_posts}`, `POST /api/admin/remove` `{id}` | [`Node::ban`] (then [`Node::authored`] and a [`Node::remove`] of each with `remove_posts`), [`Node::remove`] |
//! | `GET /api/grants?group`, `POST /api/grants`, `POST /api/grants/revoke` | [`Node::grants`], [`Node::grant_advertiser`], [`Node::revoke_advertiser`] |
//! | `POST /api/invites` `{group, ttl_secs, uses?}` | [`Node::invite_for`] (a ticket for `uses` people, default 1), plus its QR code as an SVG `data:` URL |
//! | `POST /api/sync` `{group?}` | [`Node::sync`] |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cove_node::{FeedQuery, GrantRequest, Input, Node, NodeError, Order};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::MAX_LIST;

/// What every handler gets: the node and the live streams' slots.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub(crate) node: Node,
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

/// A node error as an HTTP answer.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = if self.0.is_user_error() {
            StatusCode::BAD_REQUEST
        } else if matches!(self.0, NodeError::Stopped) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let input = match &self.0 {
            NodeError::InvalidInput { input, .. } => Some(*input),
            _ => None,
        };
        let body = json!({ "error": self.0.to_string(), "input": input });
        (status, Json(body)).into_response()
    }
}

type Answer = Result<Json<Value>, ApiError>;

fn answer<T: Serialize>(value: T) -> Answer {
    Ok(Json(serde_json::to_value(value).map_err(|e| {
        ApiError(NodeError::Control(format!(
            "answer does not serialise: {e}"
        )))
    })?))
}

pub(crate) fn routes() -> Router<State> {
    Router::new()
        .route("/groups", get(groups))
        .route("/status", get(status))
        .route("/peers", get(peers))
        .route("/feed", get(feed))
        .route("/posts", post(create_post))
        .route("/messages/{id}", get(show).put(edit).delete(delete_message))
        .route("/messages/{id}/replies", post(reply))
        .route("/messages/{id}/recommend", post(recommend))
        .route("/threads/{id}", get(thread))
        .route("/profiles", get(profiles))
        .route("/profile", axum::routing::put(set_profile))
        .route("/rooms", get(rooms).post(create_room))
        .route("/rooms/{room}/lines", get(chat_history).post(say))
        .route("/events", get(crate::events::stream))
        .route("/ads", get(ads))
        .route("/interests", get(interests).post(change_interests))
        .route("/mute", post(mute))
        .route("/admin", get(admin_list))
        .route("/admin/ban", post(ban))
        .route("/admin/remove", post(remove))
        .route("/grants", get(grants).post(grant))
        .route("/grants/revoke", post(revoke))
        .route("/invites", post(invite))
        .route("/sync", post(sync))
}

/// `?group=`: the group a view is about (absent: the only group).
#[derive(Debug, Deserialize)]
struct GroupQuery {
    group: Option<String>,
}

async fn groups(Extract(s): Extract<State>) -> Answer {
    answer(s.node.groups().await?)
}

async fn status(Extract(s): Extract<State>) -> Answer {
    answer(s.node.status().await?)
}

async fn peers(Extract(s): Extract<State>) -> Answer {
    answer(s.node.peers().await?)
}

#[derive(Debug, Deserialize)]
struct FeedParams {
    group: Option<String>,
    #[serde(default)]
    live: bool,
    order: Option<Order>,
    window_secs: Option<u64>,
    limit: Option<usize>,
}

async fn feed(Extract(s): Extract<State>, Query(q): Query<FeedParams>) -> Answer {
    let query = FeedQuery {
        group: q.group,
        order: q.order.unwrap_or(Order::New),
        window: q.window_secs.map(Duration::from_secs),
        limit: q.limit.unwrap_or(50).min(MAX_LIST),
        explain: false,
    };
    let items = s.node.feed_ranked(query).await?;
    // The page shows what it asked for: the ads in it count towards their daily cap, except
    // when it re-reads an open feed because something changed (`live`), which is no new view.
    if !q.live {
        s.node.ads_shown(&items).await?;
    }
    answer(items)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPost {
    group: String,
    title: Option<String>,
    text: String,
}

async fn create_post(Extract(s): Extract<State>, Json(p): Json<NewPost>) -> Answer {
    let title = p.title.filter(|t| !t.trim().is_empty());
    answer(s.node.post(&p.group, title, &p.text).await?.to_string())
}

async fn show(Extract(s): Extract<State>, Path(id): Path<String>) -> Answer {
    answer(s.node.show(&id).await?)
}

async fn thread(Extract(s): Extract<State>, Path(id): Path<String>) -> Answer {
    answer(s.node.thread(&id).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    title: Option<String>,
    text: String,
}

async fn edit(Extract(s): Extract<State>, Path(id): Path<String>, Json(e): Json<Edit>) -> Answer {
    let title = e.title.filter(|t| !t.trim().is_empty());
    answer(s.node.edit(&id, title, &e.text).await?.to_string())
}

async fn delete_message(Extract(s): Extract<State>, Path(id): Path<String>) -> Answer {
    answer(s.node.delete(&id).await?.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

async fn reply(Extract(s): Extract<State>, Path(to): Path<String>, Json(t): Json<Text>) -> Answer {
    answer(s.node.reply(&to, &t.text).await?.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Undo {
    #[serde(default)]
    undo: bool,
}

async fn recommend(
    Extract(s): Extract<State>,
    Path(id): Path<String>,
    Json(u): Json<Undo>,
) -> Answer {
    answer(s.node.recommend(&id, !u.undo).await?.to_string())
}

#[derive(Debug, Deserialize)]
struct MemberQuery {
    member: Option<String>,
}

async fn profiles(Extract(s): Extract<State>, Query(q): Query<MemberQuery>) -> Answer {
    answer(s.node.profiles(q.member.as_deref()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    group: String,
    nickname: String,
    bio: Option<String>,
}

async fn set_profile(Extract(s): Extract<State>, Json(p): Json<Profile>) -> Answer {
    let bio = p.bio.filter(|b| !b.trim().is_empty());
    answer(
        s.node
            .set_profile(&p.group, &p.nickname, bio)
            .await?
            .to_string(),
    )
}

async fn rooms(Extract(s): Extract<State>, Query(q): Query<GroupQuery>) -> Answer {
    answer(s.node.rooms(q.group.as_deref()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoom {
    group: Option<String>,
    name: String,
}

async fn create_room(Extract(s): Extract<State>, Json(r): Json<NewRoom>) -> Answer {
    let room = s.node.create_room(r.group.as_deref(), &r.name).await?;
    answer(room.to_string())
}

#[derive(Debug, Deserialize)]
struct LinesQuery {
    group: Option<String>,
    limit: Option<usize>,
}

async fn chat_history(
    Extract(s): Extract<State>,
    Path(room): Path<String>,
    Query(q): Query<LinesQuery>,
) -> Answer {
    let limit = q.limit.unwrap_or(100).min(MAX_LIST);
    answer(
        s.node
            .chat_history(q.group.as_deref(), &room, limit)
            .await?,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    group: Option<String>,
    text: String,
}

async fn say(Extract(s): Extract<State>, Path(room): Path<String>, Json(l): Json<Line>) -> Answer {
    answer(
        s.node
            .say(l.group.as_deref(), &room, &l.text)
            .await?
            .to_string(),
    )
}

async fn ads(Extract(s): Extract<State>, Query(q): Query<GroupQuery>) -> Answer {
    answer(s.node.ads(q.group.as_deref()).await?)
}

async fn interests(Extract(s): Extract<State>) -> Answer {
    answer(s.node.set_interests(Vec::new(), Vec::new()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterestChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

async fn change_interests(Extract(s): Extract<State>, Json(c): Json<InterestChange>) -> Answer {
    answer(s.node.set_interests(c.add, c.remove).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberAction {
    group: Option<String>,
    member: String,
    #[serde(default)]
    undo: bool,
}

async fn mute(Extract(s): Extract<State>, Json(m): Json<MemberAction>) -> Answer {
    answer(s.node.mute(m.group.as_deref(), &m.member, !m.undo).await?)
}

async fn admin_list(Extract(s): Extract<State>, Query(q): Query<GroupQuery>) -> Answer {
    answer(s.node.moderation(q.group.as_deref()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ban {
    group: Option<String>,
    member: String,
    #[serde(default)]
    undo: bool,
    /// Also remove each of the member's visible posts, replies and chat lines.
    #[serde(default)]
    remove_posts: bool,
}

/// A ban stops a member's new messages and hides nothing already accepted (PROTOCOL.md §14),
/// so that no admin can erase history by banning. To take a member's words down as well, the
/// page asks for `remove_posts`: one `remove` per message, which hides each for everyone, then
/// the ban. The removals go first because the ban re-keys the group (PROTOCOL.md §15): sent
/// after it, they would be sealed in an epoch the banned member's node never holds, and its
/// own page would go on showing what everyone else no longer sees. The answer is then
/// `{ban, removed: [id]}` instead of the ban's id.
async fn ban(Extract(s): Extract<State>, Json(b): Json<Ban>) -> Answer {
    if b.undo && b.remove_posts {
        return Err(NodeError::invalid(
            Input::Member,
            "remove_posts goes with a ban, not with an unban",
        )
        .into());
    }
    let group = b.group.as_deref();
    if !b.remove_posts {
        return answer(s.node.ban(group, &b.member, !b.undo).await?.to_string());
    }
    let mut removed = Vec::new();
    for id in s.node.authored(group, &b.member).await? {
        removed.push(s.node.remove(&id.to_string()).await?.to_string());
    }
    let ban = s.node.ban(group, &b.member, true).await?.to_string();
    answer(json!({ "ban": ban, "removed": removed }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Id {
    id: String,
}

async fn remove(Extract(s): Extract<State>, Json(i): Json<Id>) -> Answer {
    answer(s.node.remove(&i.id).await?.to_string())
}

async fn grants(Extract(s): Extract<State>, Query(q): Query<GroupQuery>) -> Answer {
    answer(s.node.grants(q.group.as_deref()).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGrant {
    group: Option<String>,
    key: String,
    name: String,
    not_after: u64,
    daily_quota: u32,
    #[serde(default)]
    targeting: Vec<String>,
}

async fn grant(Extract(s): Extract<State>, Json(g): Json<NewGrant>) -> Answer {
    let grant = GrantRequest {
        key: g.key,
        name: g.name,
        not_before: None,
        not_after: g.not_after,
        daily_quota: g.daily_quota,
        targeting: g.targeting,
    };
    let id = s.node.grant_advertiser(g.group.as_deref(), grant).await?;
    answer(id.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    group: Option<String>,
    grant_or_key: String,
}

async fn revoke(Extract(s): Extract<State>, Json(r): Json<Revoke>) -> Answer {
    let revoked = s
        .node
        .revoke_advertiser(r.group.as_deref(), &r.grant_or_key)
        .await?;
    answer(revoked.iter().map(|id| id.to_string()).collect::<Vec<_>>())
}

/// Longest invite lifetime the app mints: 30 days.
const MAX_INVITE_TTL_SECS: u64 = 30 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    group: String,
    ttl_secs: u64,
    /// How many people the ticket admits (PROTOCOL.md §17); one when absent.
    #[serde(default)]
    uses: Option<u32>,
}

async fn invite(Extract(s): Extract<State>, Json(i): Json<NewInvite>) -> Answer {
    let ttl = Duration::from_secs(i.ttl_secs.clamp(60, MAX_INVITE_TTL_SECS));
    let uses = i.uses.unwrap_or(1);
    let invite = s.node.invite_for(&i.group, ttl, uses, Vec::new()).await?;
    let qr = qr_data_url(&invite)?;
    answer(json!({ "invite": invite, "qr": qr }))
}

/// The invite as a QR code: an SVG, as a `data:` URL for an `<img>` (an SVG in an image runs
/// no script, and the CSP allows `data:` images only).
fn qr_data_url(text: &str) -> Result<String, ApiError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::L)
        .map_err(|e| NodeError::invalid(Input::Invite, format!("too long for a QR code: {e}")))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        data_encoding::BASE64.encode(image.as_bytes())
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    group: Option<String>,
}

async fn sync(Extract(s): Extract<State>, Json(b): Json<SyncBody>) -> Answer {
    answer(s.node.sync(b.group.as_deref(), None).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_becomes_an_svg_data_url() {
        let url = qr_data_url("cove1:example-invite").unwrap();
        assert!(url.starts_with("data:image/svg+xml;base64,"));
    }
}
