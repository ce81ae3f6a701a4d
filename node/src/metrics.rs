//! Prometheus metrics over HTTP, for `cove up --metrics 127.0.0.1:9464`.
//!
//! ```text
//!  scraper --GET /metrics--> [ MetricsServer ] --Node::status()--> node actor
//!          <-- 200, OpenMetrics text --   render(&Status)
//! ```
//!
//! The server knows the node only through its public [`Node`] handle: each scrape asks
//! [`Node::status`] and [`render`]s the answer into a fresh `prometheus-client` registry, so
//! nothing in the actor counts twice and no global registry exists. The encoding is the
//! OpenMetrics text format, which Prometheus reads natively.
//!
//! The HTTP side is a deliberately tiny HTTP/1.1 responder, not a web framework: one request
//! per connection, `GET /metrics` answers 200, any other method or path 404. It listens on a
//! loopback address only ([`check_addr`]): the counters are harmless (no ids, no content),
//! but they say how many groups and peers this member has, which is nobody else's business.
//! Any local user can read them, as with any loopback port.
//!
//! Bounds: a request head is read for at most [`HEAD_TIMEOUT`] and [`MAX_HEAD_BYTES`]; a
//! response is written within [`WRITE_TIMEOUT`]; at most [`MAX_CONCURRENT_SCRAPES`]
//! connections are served at once, further ones wait in the listen backlog. A slow or silent
//! client therefore holds one slot for at most a few seconds.
//!
//! | metric | type | from [`Status`] |
//! |---|---|---|
//! | `cove_messages_accepted_total` | counter | `accepted`: messages from peers (gossip or sync) accepted since start |
//! | `cove_messages_rejected_total{reason}` | counter | `rejected`: refused or ignored (`reason="duplicate"`) since start |
//! | `cove_peers` | gauge | `peers`: connected peers |
//! | `cove_groups` | gauge | `groups`: groups joined |
//! | `cove_outbox_messages` | gauge | `outbox`: own messages no proven member has confirmed holding yet |
//! | `cove_store_bytes` | gauge | `store_bytes`: store size on disk |
//! | `cove_group_members_connected` | gauge | `group_health`: connected members, summed over groups |
//! | `cove_group_mesh_peers` | gauge | `group_health`: gossip mesh peers, summed over groups |
//! | `cove_group_members_below_threshold{threshold}` | gauge | `group_health`: connected members whose gossip score is below the `gossip`, `publish` or `graylist` threshold, summed over groups |
//! | `cove_groups_impaired` | gauge | `group_health`: groups with connected members whose gossip is impaired (the ones `cove up` warns about) |
//! | `cove_build_info{version}` | info | the crate version |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::api::{Node, Status};
use crate::error::{Input, NodeError};

/// Largest request head (request line and headers) read from a client.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing a response may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONCURRENT_SCRAPES: usize = 4;
/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Refuses any address that is not loopback (`127.0.0.0/8`, `::1`).
pub fn check_addr(addr: SocketAddr) -> Result<(), NodeError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(NodeError::invalid(
            Input::Address,
            format!(
                "--metrics {addr}: the metrics endpoint listens on loopback only \
             (e.g. 127.0.0.1:9464); put a proxy in front of it to expose it further"
            ),
        ))
    }
}

/// The metrics in OpenMetrics text format, ending with `# EOF`.
pub fn render(status: &Status) -> String {
    let mut registry = Registry::default();
    let accepted = Counter::<u64>::default();
    accepted.inc_by(status.accepted);
    registry.register(
        "cove_messages_accepted",
        "Messages from peers (gossip or sync) accepted since the node started",
        accepted,
    );
    let rejected = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, count) in &status.rejected {
        rejected
            .get_or_create(&vec![("reason".to_string(), reason.clone())])
            .inc_by(*count);
    }
    registry.register(
        "cove_messages_rejected",
        "Messages from peers refused since the node started, by reason (duplicate: ignored)",
        rejected,
    );
    let gauge = |value: usize| {
        let g = Gauge::<u64, std::sync::atomic::AtomicU64>::default();
        g.set(value as u64);
        g
    };
    registry.register("cove_peers", "Connected peers", gauge(status.peers));
    registry.register("cove_groups", "Groups joined", gauge(status.groups));
    registry.register(
        "cove_outbox_messages",
        "Own messages that no proven member has confirmed holding yet",
        gauge(status.outbox),
    );
    // Summed over groups: a per-group label would put group ids on the endpoint.
    let sum = |f: fn(&crate::GroupHealth) -> usize| status.group_health.iter().map(f).sum();
    registry.register(
        "cove_group_members_connected",
        "Connected members, summed over groups",
        gauge(sum(|h| h.members_connected)),
    );
    registry.register(
        "cove_group_mesh_peers",
        "Gossip mesh peers, summed over groups",
        gauge(sum(|h| h.mesh_peers)),
    );
    let below =
        Family::<Vec<(String, String)>, Gauge<u64, std::sync::atomic::AtomicU64>>::default();
    for (threshold, count) in [
        ("gossip", sum(|h| h.below_gossip)),
        ("publish", sum(|h| h.below_publish)),
        ("graylist", sum(|h| h.graylisted)),
    ] {
        below
            .get_or_create(&vec![("threshold".to_string(), threshold.to_string())])
            .set(count as u64);
    }
    registry.register(
        "cove_group_members_below_threshold",
        "Connected members whose gossip score is below a threshold, summed over groups",
        below,
    );
    registry.register(
        "cove_groups_impaired",
        "Groups with connected members whose gossip is impaired by scores",
        gauge(
            status
                .group_health
                .iter()
                .filter(|h| h.is_warning())
                .count(),
        ),
    );
    let store = Gauge::<u64, std::sync::atomic::AtomicU64>::default();
    store.set(status.store_bytes);
    registry.register_with_unit("cove_store", "Store size on disk", Unit::Bytes, store);
    registry.register(
        "cove_build",
        "Version of this node",
        Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("writing to a String cannot fail");
    out
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `GET /metrics` (any query string).
    Metrics,
    /// A well-formed request for anything else.
    NotFound,
    /// Not an HTTP/1.x request line.
    BadRequest,
}

/// Routes on the request line; headers are not looked at.
fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Route::BadRequest;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or_default();
    if method == "GET" && path == "/metrics" {
        Route::Metrics
    } else {
        Route::NotFound
    }
}

/// Index just past the blank line ending a request head, if `buf` holds one.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// Reads a request head: `Ok(None)` when the head is over [`MAX_HEAD_BYTES`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // The client closed before ending its head; route what it sent.
            return Ok(Some(buf));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn handle(node: &Node, mut stream: TcpStream) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            debug!(error = %e, "metrics: reading the request failed");
            return;
        }
        Err(_) => {
            debug!("metrics: client too slow, closed");
            return;
        }
    };
    let text = "text/plain; charset=utf-8";
    let reply = match head.as_deref().map(route) {
        None => response(
            "431 Request Header Fields Too Large",
            text,
            "request head too large\n",
        ),
        Some(Route::BadRequest) => response("400 Bad Request", text, "bad request\n"),
        Some(Route::NotFound) => response("404 Not Found", text, "only GET /metrics is served\n"),
        Some(Route::Metrics) => match node.status().await {
            Ok(status) => response("200 OK", CONTENT_TYPE, &render(&status)),
            Err(e) => response("503 Service Unavailable", text, &format!("{e}\n")),
        },
    };
    let write = async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "metrics: writing the response failed"),
        Err(_) => debug!("metrics: client too slow to read the response, closed"),
    }
}

/// A bound metrics listener; [`MetricsServer::serve`] answers scrapes.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr`, which must be loopback ([`check_addr`]); port 0 picks a free port, see
    /// [`MetricsServer::local_addr`].
    pub async fn bind(addr: SocketAddr) -> Result<Self, NodeError> {
        check_addr(addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| NodeError::io(format!("metrics listener {addr}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| NodeError::io(format!("metrics listener {addr}"), e))?;
        Ok(Self { listener, addr })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves scrapes of `node` until the listener fails; drop the future to stop.
    pub async fn serve(self, node: Node) -> Result<(), NodeError> {
        info!(addr = %self.addr, "metrics endpoint up");
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_SCRAPES));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| NodeError::io(format!("metrics listener {}", self.addr), e))?;
            let node = node.clone();
            tokio::spawn(async move {
                handle(&node, stream).await;
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn status() -> Status {
        Status {
            networks: vec![],
            listen_addrs: vec![],
            groups: 2,
            peers: 3,
            accepted: 41,
            rejected: BTreeMap::from([("duplicate".to_string(), 5), ("bad_signature".into(), 1)]),
            outbox: 1,
            store_bytes: 123_456,
            group_health: vec![crate::GroupHealth::new(
                &cove_crypto::GroupId::from_bytes([3; 32]),
                "club",
                cove_gossip::TopicHealth {
                    subscribed: 15,
                    mesh: 6,
                    below_gossip: 15,
                    below_publish: 15,
                    graylisted: 14,
                },
            )],
            sync: Default::default(),
        }
    }

    #[test]
    fn render_shows_every_status_counter() {
        let text = render(&status());
        for line in [
            "# TYPE cove_messages_accepted counter",
            "cove_messages_accepted_total 41",
            "cove_messages_rejected_total{reason=\"duplicate\"} 5",
            "cove_messages_rejected_total{reason=\"bad_signature\"} 1",
            "# TYPE cove_peers gauge",
            "cove_peers 3",
            "cove_groups 2",
            "cove_outbox_messages 1",
            "# UNIT cove_store_bytes bytes",
            "cove_store_bytes 123456",
            "cove_group_members_connected 15",
            "cove_group_mesh_peers 6",
            "cove_group_members_below_threshold{threshold=\"publish\"} 15",
            "cove_group_members_below_threshold{threshold=\"graylist\"} 14",
            "cove_groups_impaired 1",
            "cove_build_info{version=\"",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("12D3KooW"), "no peer id in the metrics");
        assert!(!text.contains("0303"), "no group id in the metrics");
        assert!(!text.contains("club"), "no group name in the metrics");
    }

    #[test]
    fn only_get_metrics_is_routed() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
    }

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn only_loopback_addresses_are_accepted() {
        assert!(check_addr("127.0.0.1:9464".parse().unwrap()).is_ok());
        assert!(check_addr("127.0.0.2:0".parse().unwrap()).is_ok());
        assert!(check_addr("[::1]:9464".parse().unwrap()).is_ok());
        for addr in ["0.0.0.0:9464", "192.168.1.2:9464", "[::]:9464"] {
            let err = check_addr(addr.parse().unwrap()).unwrap_err();
            assert!(err.is_user_error());
            assert!(err.to_string().contains("loopback"), "{err}");
        }
    }
}
