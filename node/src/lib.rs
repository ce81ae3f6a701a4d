//! The Cove domain: message model, validation, storage, and the running node.
//!
//! This crate owns everything that gives bytes a meaning. It turns user intent (create a
//! group, post) into signed, sealed messages handed to [`cove_gossip`], and turns payloads
//! from gossip back into verified messages through one validation pipeline before anything
//! is stored or forwarded.
//!
//! # Layout
//!
//! Layers, top to bottom; each uses only those below it.
//!
//! - [`api`]: the [`Node`] handle, the one typed API (writes go to the actor as commands,
//!   views are read directly), with the request and answer types; [`config`]: [`NodeConfig`].
//! - [`control`]: the local control socket: JSON lines to typed [`Node`] calls and back,
//!   its client, and the commands that work while no node runs ([`control::offline`]).
//! - [`actor`]: the task that owns the store's writer and the gossip handle: `command.rs`
//!   (what a user asked), `ingest.rs` (messages from peers), `sessions.rs` (sync in and out),
//!   `outbox.rs` (own messages until a member holds them), `peers.rs` (finding the group
//!   again: ports, remembered members, redials, address records), `status.rs`.
//! - [`core`]: groups, keys and the carrying out of decisions, without networking;
//!   [`core::decide`] is the validation pipeline as pure functions, [`core::draft`] the
//!   checks before this member signs, [`core::rate`] the per-author rate limit.
//! - [`view`]: the read half: feeds, threads, rooms, profiles, moderation, ads.
//! - [`sync`]: the history-sync protocol (membership proof, negentropy, paged fetch).
//! - [`store`]: one sled tree (or a map in memory), its key layout, the index planner.
//! - [`message`]: the wire model (v1), its deterministic CBOR ([`message::cbor`]) and
//!   [`message::verify_and_decode`], the only way in.
//!
//! Beside them: `admission.rs` (a newcomer asking a member to admit it with an invite
//! ticket), [`data_dir`] (seed, peer key, store, socket on disk), [`addr_book`] (each
//! group's remembered port and members, pure), [`addr_record`] (the signed address record of
//! PROTOCOL.md §10.1, pure), [`health`] (gossip health in words), [`metrics`] (Prometheus over loopback), [`outsider`] (a non-member on a
//! group's topic, for the demo and tests).
//!
//! A post's path and a sync catch-up, with file and function names, are in
//! `docs/ARCHITECTURE.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cove_node::NodeError> {
//! use cove_node::{data_dir::DataDir, Node, NodeConfig};
//!
//! let dir = DataDir::new("/tmp/ant");
//! dir.init()?;
//! let ant = Node::start(NodeConfig::loopback("/tmp/ant")).await?;
//! let group = ant.create_group("book club").await?;
//! ant.post(&group.to_string(), None, "first!").await?;
//! for item in ant.feed("book club", 10).await? {
//!     println!("{}: {}", item.fingerprint, item.text);
//! }
//! ant.shutdown().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod actor;
pub mod addr_book;
pub mod addr_record;
pub mod admission;
pub mod api;
pub mod config;
pub mod control;
pub mod core;
pub mod data_dir;
mod error;
pub mod health;
mod invite_addrs;
pub mod message;
pub mod metrics;
pub mod outsider;
pub mod reach;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod view;

pub use crate::actor::{
    ENOUGH_MEMBERS, NETWORK_EPOCH, NET_EVENT_CAPACITY, OPENING_CAPACITY, RECORD_REFRESH,
    REDIAL_TICK, SHARE_INTERVAL,
};
pub use crate::api::{
    AdDraft, FeedQuery, GrantRequest, NetworkStatus, Node, NodeConfig, PeerSummary, Status,
    SyncActivity,
};

/// Unix time in milliseconds, the node's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
pub use crate::core::Change;
pub use crate::error::{Input, NodeError};
pub use crate::health::GroupHealth;
pub use crate::reach::{NetReach, RelayService};
pub use crate::view::social::{FeedItem, Order};
pub use crate::view::GroupInfo;
pub use cove_gossip::PeerRateLimit;
