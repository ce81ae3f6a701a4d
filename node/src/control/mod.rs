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
//!
//! - `mod.rs`: the socket server (permissions, peer check, one task per connection) and its
//!   [`Client`].
//! - [`request`]: the JSON [`Request`] and [`Response`] and [`dispatch`] onto [`Node`].
//! - [`offline`]: commands on the store while no node runs.

pub mod offline;
pub mod request;

pub use self::request::{dispatch, parse_request, Request, Response};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::warn;

use crate::api::Node;
use crate::data_dir::DataDir;
use crate::error::NodeError;

/// Largest request line the server reads.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Largest response the client reads.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// Control connections served at once; more wait in the kernel's backlog.
pub const MAX_CONCURRENT_REQUESTS: usize = 16;

/// Serves the control socket until the node stops, then lets the answers already due go
/// out (the answer to `shutdown` among them) before returning: a caller that exits when this
/// returns never drops a reply. Removes a stale socket file first.
pub async fn serve(node: Node, data_dir: &Path) -> Result<(), NodeError> {
    let path = DataDir::new(data_dir).socket_path();
    let listener = bind(&path)?;
    let my_uid = rustix::process::geteuid().as_raw();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_REQUESTS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| NodeError::io(&path, e))?.0,
            () = node.closed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
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
            break;
        };
        let node = node.clone();
        connections.spawn(async move {
            handle_connection(&node, stream).await;
            drop(permit);
        });
    }
    // The node has stopped: every connection now ends at once (requests answer `Stopped`,
    // watches end), after writing what it owes.
    while connections.join_next().await.is_some() {}
    Ok(())
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

/// Serves one connection.
async fn handle_connection(node: &Node, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let read_result = reader.read_line(&mut line).await;
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
                    Ok(()) => return,
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
            Ok(request) => match dispatch(node, request).await {
                Ok(value) => Response::Ok(value),
                Err(e) => Response::Error {
                    user_error: e.is_user_error(),
                    message: e.to_string(),
                },
            },
        },
    };
    let _ = write_line(&mut write, &response).await;
    let _ = write.shutdown().await;
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
    let room_id = node
        .resolve_room(group.as_deref(), &room)
        .await?
        .to_string();
    write_line(
        write,
        &Response::Event(serde_json::json!({ "watching": room_id })),
    )
    .await
    .map_err(|e| NodeError::Control(e.to_string()))?;
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            () = node.closed() => return Ok(()),
            read = client.read(&mut scratch) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
            message = accepted.recv() => {
                let event = match message {
                    Ok(signed) => match &signed.message.content {
                        Content::Chat(c) if c.room.to_string() == room_id => {
                            match node.show(&signed.message.id.to_string()).await {
                                Ok(item) => serde_json::json!(item),
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
    let (tx, mut rx) = tokio::sync::mpsc::channel(crate::actor::COMMAND_CAPACITY);
    let sync = node.sync(group.as_deref(), Some(tx));
    tokio::pin!(sync);
    loop {
        tokio::select! {
            Some(progress) = rx.recv() => {
                // A client that went away just stops getting progress.
                let _ = write_line(write, &Response::Progress(progress)).await;
            }
            result = &mut sync => return result.map(|reports| serde_json::json!(reports)),
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
