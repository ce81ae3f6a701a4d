//! The local control channel between `cove` commands and the running node.
//!
//! Transport: a unix socket `DATA_DIR/control.sock`, mode 0600, in a 0700 data dir; the server
//! also checks the connecting process's uid (SO_PEERCRED) against its own effective uid, so
//! other local users are refused even if permissions were loosened. Protocol: the client
//! writes one JSON [`Request`] on one line, the server answers one JSON [`Response`] line and
//! closes.
//! Requests larger than [`MAX_REQUEST_BYTES`] are refused.
//!
//! When no node runs, [`Client::connect`] fails with [`NodeError::NotRunning`]; the CLI then
//! runs the offline-capable commands (`group create`, `join`, `groups`) on the store directly
//! through [`offline`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::data_dir::DataDir;
use crate::error::NodeError;
use crate::node::Node;

/// Largest request line the server reads.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Largest response the client reads.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// Control connections served at once; more wait in the kernel's backlog.
pub const MAX_CONCURRENT_REQUESTS: usize = 16;

/// A command for the running node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Found a group.
    CreateGroup {
        /// Group name.
        name: String,
        /// Per-pseudonym rate limit written into the charter: `"MAX/WINDOW"` (e.g.
        /// `"100/10s"`) or `"none"`. Default: [`RateLimit::default`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_limit: Option<String>,
    },
    /// Mint an invite.
    Invite {
        /// Group id or unique name.
        group: String,
        /// Lifetime in seconds.
        ttl_secs: u64,
        /// Multiaddrs the invite lists instead of the node's own choice (see
        /// [`Node::invite_at`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        addrs: Vec<String>,
    },
    /// Join from an invite.
    Join {
        /// The invite string.
        invite: String,
    },
    /// List groups.
    Groups,
    /// Post.
    Post {
        /// Group id or unique name.
        group: String,
        /// Optional title.
        title: Option<String>,
        /// Text.
        text: String,
    },
    /// Set nickname/bio.
    SetProfile {
        /// Group id or unique name.
        group: String,
        /// Nickname.
        nickname: String,
        /// Optional bio.
        bio: Option<String>,
    },
    /// Connected peers.
    Peers,
    /// Counters.
    Status,
    /// Block a peer for `secs` seconds, or unblock it when `secs` is absent.
    Block {
        /// Peer id.
        peer: String,
        /// Block duration in seconds; `None` lifts the block.
        secs: Option<u64>,
    },
    /// Sync now with every connected member; progress lines stream before the answer.
    Sync {
        /// One group (id or unique name), or all.
        group: Option<String>,
    },
    /// Reply to a post or reply.
    Reply {
        /// Id of the post or reply answered.
        to: String,
        /// Text.
        text: String,
    },
    /// A post and its replies.
    Thread {
        /// Id of the post (or of any reply in it).
        id: String,
    },
    /// One post, reply or chat line as shown.
    Show {
        /// Message id.
        id: String,
    },
    /// Edit one of your own messages.
    Edit {
        /// Message id.
        id: String,
        /// New title (posts).
        title: Option<String>,
        /// New text.
        text: String,
    },
    /// Delete one of your own messages.
    Delete {
        /// Message id.
        id: String,
    },
    /// Recommend a post or reply, or withdraw the recommendation.
    Recommend {
        /// Message id.
        id: String,
        /// Withdraw instead.
        #[serde(default)]
        undo: bool,
    },
    /// A feed in an order, optionally within a time window.
    Ranked {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// `new`, `hot` or `top`.
        order: crate::social::Order,
        /// Only posts created in the last `window_secs` seconds.
        window_secs: Option<u64>,
        /// Most items.
        limit: usize,
        /// Include score components.
        #[serde(default)]
        explain: bool,
    },
    /// Create a chat room.
    RoomCreate {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room name.
        name: String,
    },
    /// List chat rooms.
    Rooms {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Send a chat line.
    Say {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
        /// The line.
        text: String,
    },
    /// Recent chat lines of a room.
    ChatHistory {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
        /// Most lines.
        limit: usize,
    },
    /// A room's id from its name.
    ResolveRoom {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
    },
    /// Stream new chat lines of a room (one `event` line each) until the client disconnects.
    Watch {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Room id or name.
        room: String,
    },
    /// Profiles: yours in every group, or a pseudonym's.
    Profiles {
        /// Pseudonym (hex); absent: your own.
        member: Option<String>,
    },
    /// Admin: ban (or unban) a pseudonym.
    AdminBan {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Pseudonym (hex).
        member: String,
        /// Unban instead.
        #[serde(default)]
        undo: bool,
    },
    /// Admin: remove any message for everyone.
    AdminRemove {
        /// Message id.
        id: String,
    },
    /// Admins, bans and your mutes.
    AdminList {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Mute (or unmute) a pseudonym, locally.
    Mute {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Pseudonym (hex).
        member: String,
        /// Unmute instead.
        #[serde(default)]
        undo: bool,
    },
    /// Admin: authorise an advertiser key.
    GrantAdvertiser {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Advertiser key (hex).
        key: String,
        /// Display name.
        name: String,
        /// Window start, unix ms (absent: now).
        not_before: Option<u64>,
        /// Window end, unix ms.
        not_after: u64,
        /// Most ads per UTC day.
        daily_quota: u32,
        /// Allowed targeting keys.
        targeting: Vec<String>,
    },
    /// Admin: revoke one grant (by id) or every grant of an advertiser key.
    RevokeAdvertiser {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Grant id or advertiser key.
        grant_or_key: String,
    },
    /// Grants of a group.
    Grants {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// Advertiser: publish a profile (signed with the advertiser key).
    AdvertiserProfile {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// The profile.
        profile: crate::message::Advertiser,
    },
    /// Advertiser: publish an ad under your live grant.
    AdPublish {
        /// Group (optional when you belong to one group).
        group: Option<String>,
        /// Title.
        title: String,
        /// Body.
        body: String,
        /// Targeting (default: everyone).
        #[serde(default)]
        targeting: Option<crate::message::Targeting>,
        /// Optional offer.
        #[serde(default)]
        offer: Option<crate::message::Offer>,
    },
    /// Live ads matching your interests.
    Ads {
        /// Group (optional when you belong to one group).
        group: Option<String>,
    },
    /// One live ad with its offer.
    AdShow {
        /// Ad id.
        id: String,
    },
    /// Add or remove private interests (never sent anywhere); returns the list.
    Interests {
        /// Keys to add.
        #[serde(default)]
        add: Vec<String>,
        /// Keys to remove.
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Stop the node.
    Shutdown,
}

/// The node's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// An intermediate progress report (only for `sync`); more lines follow.
    Progress(crate::sync::Progress),
    /// A live event (only for `watch`); more lines follow until the client disconnects.
    Event(serde_json::Value),
    /// Success, with the command's result.
    Ok(serde_json::Value),
    /// Failure.
    Error {
        /// Whether the request's input was at fault.
        user_error: bool,
        /// What went wrong.
        message: String,
    },
}

/// Parses one request line as the server reads it from the control socket (the trailing
/// newline is allowed). The socket is local and authenticated, but this is still the parser
/// facing bytes from another process, so it is fuzzed (`fuzz/fuzz_targets/control_request.rs`).
pub fn parse_request(line: &str) -> Result<Request, serde_json::Error> {
    serde_json::from_str(line)
}

fn json<T: Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).expect("plain data serialises to JSON")
}

/// Runs one request against the node.
pub async fn dispatch(node: &Node, request: Request) -> Result<serde_json::Value, NodeError> {
    Ok(match request {
        Request::CreateGroup { name, rate_limit } => {
            let policy = crate::message::Policy::with_rate_limit(rate_limit.as_deref())
                .map_err(NodeError::InvalidInput)?;
            json(node.create_group_with(&name, policy).await?.to_string())
        }
        Request::Invite {
            group,
            ttl_secs,
            addrs,
        } => {
            let addrs = addrs
                .iter()
                .map(|a| {
                    a.parse().map_err(|e| {
                        NodeError::InvalidInput(format!(
                            "invite address {a:?} is not a multiaddr: {e}"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            json(
                node.invite_at(&group, Duration::from_secs(ttl_secs), addrs)
                    .await?,
            )
        }
        Request::Join { invite } => json(node.join(&invite).await?.to_string()),
        Request::Groups => json(node.groups().await?),
        Request::Post { group, title, text } => {
            json(node.post(&group, title, &text).await?.to_string())
        }
        Request::SetProfile {
            group,
            nickname,
            bio,
        } => json(node.set_profile(&group, &nickname, bio).await?.to_string()),
        Request::Peers => json(node.peers().await?),
        Request::Status => json(node.status().await?),
        Request::Sync { group } => json(node.sync(group.as_deref(), None).await?),
        Request::Block { peer, secs } => json(
            node.block_peer(&peer, secs.map(Duration::from_secs))
                .await?,
        ),
        Request::Shutdown => json(node.shutdown().await?),
        Request::Watch { .. } => {
            return Err(NodeError::InvalidInput(
                "watch streams: use Client::watch".into(),
            ))
        }
        other => node.api(other).await?,
    })
}

/// Serves the control socket until the node stops. Removes a stale socket file first.
pub async fn serve(node: Node, data_dir: &Path) -> Result<(), NodeError> {
    let path = DataDir::new(data_dir).socket_path();
    let listener = bind(&path)?;
    let my_uid = rustix::process::geteuid().as_raw();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_REQUESTS));
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| NodeError::io(&path, e))?;
        match stream.peer_cred() {
            Ok(cred) if admits(cred.uid(), my_uid) => {}
            Ok(cred) => {
                warn!(
                    uid = cred.uid(),
                    "refused control connection from another user"
                );
                continue;
            }
            Err(e) => {
                warn!(error = %e, "cannot read control peer credentials; refused");
                continue;
            }
        }
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let node = node.clone();
        tokio::spawn(async move {
            let stop = handle_connection(&node, stream).await;
            drop(permit);
            if stop {
                debug!("shutdown requested over control channel");
            }
        });
    }
}

/// Whether a control connection from a process running as `peer_uid` is served: only when
/// it is the node's own user, the effective uid `own_euid` of this process. Not the data
/// dir's owner: a node started by root (or through sudo) on a user's data dir must not open
/// itself to that user, and a dir chowned to someone else must not let them in.
fn admits(peer_uid: u32, own_euid: u32) -> bool {
    peer_uid == own_euid
}

fn bind(path: &PathBuf) -> Result<UnixListener, NodeError> {
    if path.exists() {
        // A live node would answer; a dead one leaves a stale socket behind.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(NodeError::Control(format!(
                "another node is already serving {}",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| NodeError::io(path, e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| NodeError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| NodeError::io(path, e))?;
    Ok(listener)
}

/// Serves one connection; returns whether it asked the node to shut down.
async fn handle_connection(node: &Node, stream: UnixStream) -> bool {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let read_result = reader.read_line(&mut line).await;
    let mut shutdown = false;
    let response = match read_result {
        Err(e) => Response::Error {
            user_error: true,
            message: format!("unreadable request: {e}"),
        },
        Ok(_) if !line.ends_with('\n') => Response::Error {
            user_error: true,
            message: format!("request is not one line of at most {MAX_REQUEST_BYTES} bytes"),
        },
        Ok(_) => match parse_request(&line) {
            Err(e) => Response::Error {
                user_error: true,
                message: format!("malformed request: {e}"),
            },
            Ok(Request::Watch { group, room }) => {
                match watch(node, group, room, &mut reader, &mut write).await {
                    Ok(()) => return false,
                    Err(e) => Response::Error {
                        user_error: e.is_user_error(),
                        message: e.to_string(),
                    },
                }
            }
            Ok(Request::Sync { group }) => {
                let result = sync_with_progress(node, group, &mut write).await;
                match result {
                    Ok(value) => Response::Ok(value),
                    Err(e) => Response::Error {
                        user_error: e.is_user_error(),
                        message: e.to_string(),
                    },
                }
            }
            Ok(request) => {
                shutdown = request == Request::Shutdown;
                match dispatch(node, request).await {
                    Ok(value) => Response::Ok(value),
                    Err(e) => Response::Error {
                        user_error: e.is_user_error(),
                        message: e.to_string(),
                    },
                }
            }
        },
    };
    let _ = write_line(&mut write, &response).await;
    let _ = write.shutdown().await;
    shutdown
}

async fn write_line(
    write: &mut (impl AsyncWriteExt + Unpin),
    response: &Response,
) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(response).expect("response serialises");
    out.push(b'\n');
    write.write_all(&out).await
}

/// Streams new chat lines of a room until the client hangs up (its read side ends).
async fn watch(
    node: &Node,
    group: Option<String>,
    room: String,
    client: &mut (impl tokio::io::AsyncRead + Unpin),
    write: &mut (impl AsyncWriteExt + Unpin),
) -> Result<(), NodeError> {
    use crate::message::Content;
    use tokio::sync::broadcast::error::RecvError;
    // Subscribe before resolving, so nothing accepted in between is missed.
    let mut accepted = node.watch();
    let room_id = node.api(Request::ResolveRoom { group, room }).await?;
    let room_id = room_id.as_str().unwrap_or_default().to_string();
    write_line(
        write,
        &Response::Event(serde_json::json!({ "watching": room_id })),
    )
    .await
    .map_err(|e| NodeError::Control(e.to_string()))?;
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            read = client.read(&mut scratch) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
            message = accepted.recv() => {
                let event = match message {
                    Ok(signed) => match &signed.message.content {
                        Content::Chat(c) if c.room.to_string() == room_id => {
                            match node.api(Request::Show { id: signed.message.id.to_string() }).await {
                                Ok(item) => item,
                                Err(_) => continue, // hidden (muted, banned): not shown
                            }
                        }
                        _ => continue,
                    },
                    Err(RecvError::Lagged(missed)) => serde_json::json!({ "missed": missed }),
                    Err(RecvError::Closed) => return Ok(()),
                };
                if write_line(write, &Response::Event(event)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Runs `sync`, writing a progress line for each report while it runs.
async fn sync_with_progress(
    node: &Node,
    group: Option<String>,
    write: &mut (impl AsyncWriteExt + Unpin),
) -> Result<serde_json::Value, NodeError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(crate::node::COMMAND_CAPACITY);
    let sync = node.sync(group.as_deref(), Some(tx));
    tokio::pin!(sync);
    loop {
        tokio::select! {
            Some(progress) = rx.recv() => {
                // A client that went away just stops getting progress.
                let _ = write_line(write, &Response::Progress(progress)).await;
            }
            result = &mut sync => return result.map(json),
        }
    }
}

/// Client side of the control channel.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for the node of `data_dir`; fails with [`NodeError::NotRunning`] when no node
    /// answers there.
    pub async fn connect(data_dir: &Path) -> Result<Client, NodeError> {
        let socket = DataDir::new(data_dir).socket_path();
        match UnixStream::connect(&socket).await {
            Ok(_) => Ok(Client { socket }),
            Err(_) => Err(NodeError::NotRunning(data_dir.display().to_string())),
        }
    }

    /// Sends one request and waits for its answer.
    pub async fn request(&self, request: &Request) -> Result<serde_json::Value, NodeError> {
        self.request_with_progress(request, |_| {}).await
    }

    /// Streams a room's new chat lines: `on_event` gets each `event` line (a [`crate::FeedItem`],
    /// `{"watching": room id}` first, or `{"missed": n}` when this watcher fell behind) until
    /// `stop` resolves or the node goes away.
    pub async fn watch(
        &self,
        group: Option<String>,
        room: String,
        mut on_event: impl FnMut(serde_json::Value),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| NodeError::io(&self.socket, e))?;
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_vec(&Request::Watch { group, room }).expect("request serialises");
        line.push(b'\n');
        write
            .write_all(&line)
            .await
            .map_err(|e| NodeError::io(&self.socket, e))?;
        let mut lines = BufReader::new(read).lines();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                next = lines.next_line() => {
                    let Some(answer) = next.map_err(|e| NodeError::io(&self.socket, e))? else {
                        return Ok(());
                    };
                    match serde_json::from_str::<Response>(&answer)
                        .map_err(|e| NodeError::Control(format!("malformed response: {e}")))?
                    {
                        Response::Event(event) => on_event(event),
                        Response::Error { user_error, message } => return Err(NodeError::Remote { user_error, message }),
                        other => return Err(NodeError::Control(format!("unexpected {other:?} in a watch"))),
                    }
                }
            }
        }
    }

    /// Sends one request; calls `on_progress` for each progress line before the answer.
    pub async fn request_with_progress(
        &self,
        request: &Request,
        mut on_progress: impl FnMut(crate::sync::Progress),
    ) -> Result<serde_json::Value, NodeError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| NodeError::io(&self.socket, e))?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(request).expect("request serialises");
        line.push(b'\n');
        write
            .write_all(&line)
            .await
            .map_err(|e| NodeError::io(&self.socket, e))?;
        let mut lines = BufReader::new(read.take(MAX_RESPONSE_BYTES));
        loop {
            let mut answer = String::new();
            lines
                .read_line(&mut answer)
                .await
                .map_err(|e| NodeError::io(&self.socket, e))?;
            if answer.is_empty() {
                return Err(NodeError::Control(
                    "the node closed the connection without answering".into(),
                ));
            }
            match serde_json::from_str::<Response>(&answer)
                .map_err(|e| NodeError::Control(format!("malformed response: {e}")))?
            {
                Response::Progress(progress) => on_progress(progress),
                Response::Event(_) => {
                    return Err(NodeError::Control(
                        "unexpected event line outside a watch".into(),
                    ))
                }
                Response::Ok(value) => return Ok(value),
                Response::Error {
                    user_error,
                    message,
                } => {
                    return Err(NodeError::Remote {
                        user_error,
                        message,
                    })
                }
            }
        }
    }
}

/// The commands that work while no node runs, on the store directly.
pub mod offline {
    use std::path::Path;

    use cove_crypto::{GroupId, Invite};

    use crate::core::{Core, GroupInfo};
    use crate::data_dir::DataDir;
    use crate::error::NodeError;
    use crate::node::{now_ms, open_store};

    fn core(data_dir: &Path) -> Result<Core, NodeError> {
        let dir = DataDir::new(data_dir);
        let seed = dir.load_seed()?;
        Core::new(open_store(&dir)?, seed)
    }

    /// Founds a group whose charter carries `policy`.
    pub async fn create_group(
        data_dir: &Path,
        name: &str,
        policy: crate::message::Policy,
    ) -> Result<GroupId, NodeError> {
        let mut core = core(data_dir)?;
        let id = core.create_group_with(name, policy, now_ms())?;
        core.store().flush().await?;
        Ok(id)
    }

    /// Joins from an invite; the node connects to the group's peers when it starts.
    pub async fn join(data_dir: &Path, invite: &str) -> Result<GroupId, NodeError> {
        let invite = Invite::decode(invite, now_ms() / 1000)?;
        let mut core = core(data_dir)?;
        let id = core.join(&invite, now_ms())?;
        core.store().flush().await?;
        Ok(id)
    }

    /// Groups joined.
    pub fn groups(data_dir: &Path) -> Result<Vec<GroupInfo>, NodeError> {
        Ok(core(data_dir)?.group_infos())
    }

    /// Rebuilds every index of the store from its messages (`cove store reindex`); the node
    /// must be stopped. Returns the messages indexed.
    pub async fn reindex(data_dir: &Path) -> Result<usize, NodeError> {
        let store = open_store(&DataDir::new(data_dir))?;
        let indexed = store.reindex()?;
        store.flush().await?;
        Ok(indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_effective_uid_is_admitted() {
        let euid = rustix::process::geteuid().as_raw();
        assert!(admits(euid, euid));
        assert!(!admits(euid.wrapping_add(1), euid), "another user");
        assert!(!admits(0, 1000), "root is not a user's node's owner");
        assert!(!admits(1000, 0), "a user is not a root node's owner");
    }
}
