//! Cove's local web app: a single-page app for members, served by the running node.
//!
//! ```text
//!  browser ──HTTP/1.1 on loopback──> [ guard ] ──> assets (embedded)      index.html, app.js, app.css
//!                                        │    ──> /api/...  (api.rs)     ──Node methods──> node actor
//!                                        │    ──> /api/events (events.rs) <──Node::watch()── accepted messages
//!                                        │                                <──Node::sync_activity()── sync figures
//!  Host checked, token or cookie required, Origin checked on POST/PUT/DELETE, CSP on every answer
//! ```
//!
//! This crate owns the HTTP side only. It knows the node through its public [`Node`] handle,
//! in-process (not through the control socket), and each `/api/...` endpoint is a thin
//! translation of one request onto one node call; what a feed, a thread or an ad *is* stays
//! in `cove_node`. The page is plain HTML, CSS and JavaScript embedded in the binary with
//! `include_str!`: no build toolchain, no CDN, no fonts or scripts from elsewhere.
//!
//! # Security model ([`guard`])
//!
//! - The server listens on a loopback address only ([`check_addr`]).
//! - Each start draws a fresh 256-bit token. The URL printed by `cove web` carries it
//!   (`http://127.0.0.1:PORT/?token=...`); the server exchanges it for an `HttpOnly;
//!   SameSite=Strict` cookie and redirects to `/` so the token leaves the address bar and the
//!   history. Any request without the cookie (or the token) gets `401`.
//! - The `Host` header must name the bound address (or `localhost` with its port): a page on
//!   another site that re-points its DNS name at 127.0.0.1 (DNS rebinding) gets `421`.
//! - `POST`, `PUT`, `PATCH` and `DELETE` must carry an `Origin` equal to the app's own origin:
//!   a cross-site form or fetch gets `403` (CSRF), even if a cookie were sent along.
//! - Every answer carries a strict Content-Security-Policy ([`guard::CSP`]): scripts and styles
//!   from the app's own origin only, no inline script or style, no framing. The page renders
//!   user text with `textContent` only, so a post containing `<script>` shows as text.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(node: cove_node::Node) -> Result<(), cove_web::WebError> {
//! let web = cove_web::WebServer::bind("127.0.0.1:0".parse().unwrap()).await?;
//! println!("open {}", web.url());
//! web.serve(node).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod api;
mod assets;
mod events;
pub mod guard;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use cove_node::Node;
use tokio::net::TcpListener;

use crate::guard::Guard;

/// Requests served at once (an SSE stream counts only while its headers are produced); more
/// wait for a slot.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;
/// Live event streams (`/api/events`) open at once; one more is refused with `503`.
pub const MAX_EVENT_STREAMS: usize = 16;
/// Largest request body accepted (a post's text is at most 16 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most feed items or chat lines one request returns.
pub const MAX_LIST: usize = 200;
/// The file in the data dir where `cove up --web` writes the app's URL (with its token) for
/// `cove web`, readable by the node's user only.
pub const URL_FILE: &str = "web.url";

/// What can go wrong serving the web app.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address is not a loopback address.
    #[error(
        "--web {0}: the web app listens on loopback only (e.g. 127.0.0.1:8080); \
         to reach it from another machine, forward the port over SSH"
    )]
    NotLoopback(SocketAddr),
    /// Binding or serving failed.
    #[error("web app on {addr}: {source}")]
    Io {
        /// The address concerned.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
    /// Writing or reading the URL file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl WebError {
    /// Whether the user's input was at fault (a non-loopback address).
    pub fn is_user_error(&self) -> bool {
        matches!(self, WebError::NotLoopback(_))
    }
}

/// Refuses any address that is not loopback (`127.0.0.0/8`, `::1`). The app sends the
/// member's whole view of their groups in plain HTTP: on loopback nobody else sees it.
pub fn check_addr(addr: SocketAddr) -> Result<(), WebError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(WebError::NotLoopback(addr))
    }
}

/// The web app's listener and its per-start secret; [`WebServer::serve`] runs it.
#[derive(Debug)]
pub struct WebServer {
    listener: TcpListener,
    guard: Guard,
}

impl WebServer {
    /// Binds a loopback address (port 0 picks a free port) and draws a fresh token.
    pub async fn bind(addr: SocketAddr) -> Result<WebServer, WebError> {
        check_addr(addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| WebError::Io {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| WebError::Io {
            addr: addr.to_string(),
            source,
        })?;
        Ok(WebServer {
            listener,
            guard: Guard::new(local),
        })
    }

    /// The address bound (with the port chosen when asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.guard.addr()
    }

    /// The URL to open, with this start's token: `http://127.0.0.1:PORT/?token=...`.
    /// Anyone holding it can act as this member until the node stops.
    pub fn url(&self) -> String {
        format!("{}/?token={}", self.guard.origin(), self.guard.token())
    }

    /// The app's origin without the token, safe to log: `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> &str {
        self.guard.origin()
    }

    /// Writes [`WebServer::url`] to [`URL_FILE`] in `data_dir`, created anew with mode 0600,
    /// so `cove web` (the same user) can print it. Returns the file's path.
    pub fn write_url_file(&self, data_dir: &Path) -> Result<PathBuf, WebError> {
        write_private(&data_dir.join(URL_FILE), &format!("{}\n", self.url()))
    }

    /// The router with every route and the guard; for [`WebServer::serve`].
    fn router(&self, node: Node) -> Router {
        let state = api::State {
            node,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
        };
        let guard = self.guard.clone();
        Router::new()
            .merge(assets::routes())
            .nest("/api", api::routes())
            .with_state(state)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                MAX_CONCURRENT_REQUESTS,
            ))
            .layer(axum::middleware::from_fn(move |request, next| {
                let guard = guard.clone();
                async move { guard.check(request, next).await }
            }))
    }

    /// Serves the app until the listener fails; each request reaches the node through `node`.
    pub async fn serve(self, node: Node) -> Result<(), WebError> {
        let router = self.router(node);
        let addr = self.guard.addr();
        axum::serve(self.listener, router)
            .await
            .map_err(|source| WebError::Io {
                addr: addr.to_string(),
                source,
            })
    }
}

/// The URL that the running node of `data_dir` wrote at start (see [`URL_FILE`]), or `None`
/// when it serves no web app.
pub fn read_url_file(data_dir: &Path) -> Result<Option<String>, WebError> {
    let path = data_dir.join(URL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WebError::File {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The page `cove web` hands to the desktop's opener (`DATA_DIR/web-open.html`, 0600): it
/// sends the browser on to the app's URL, so that the token is never on a command line,
/// which every local user can read in `ps`.
pub const LAUNCHER_FILE: &str = "web-open.html";

/// Writes [`LAUNCHER_FILE`] for `url` (the app's URL with its token) and returns its path.
pub fn write_launcher(data_dir: &Path, url: &str) -> Result<PathBuf, WebError> {
    let url = url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let page = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"0; url={url}\">\n<title>Cove</title>\n<a href=\"{url}\">Open Cove</a>\n"
    );
    write_private(&data_dir.join(LAUNCHER_FILE), &page)
}

/// Writes `contents` to a fresh file at `path` that only this user can read (0600).
fn write_private(path: &Path, contents: &str) -> Result<PathBuf, WebError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| WebError::File {
        path: path.display().to_string(),
        source,
    };
    // Removed first: opening an existing file would keep its old permissions.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    Ok(path.to_path_buf())
}

/// Removes the URL file of `data_dir` (when the node stops); a missing file is fine.
pub fn remove_url_file(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(URL_FILE));
    let _ = std::fs::remove_file(data_dir.join(LAUNCHER_FILE));
}
