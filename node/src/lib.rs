//! The Cove domain: message model, validation, storage, and the running node.
//!
//! This crate owns everything that gives bytes a meaning. It turns user intent (create a
//! group, post) into signed, sealed messages handed to [`cove_gossip`], and turns payloads
//! from gossip back into verified messages through one validation pipeline
//! ([`core::Core::ingest`]) before anything is stored or forwarded.
//!
//! - [`cbor`]: the deterministic CBOR every signed message must use, and its check.
//! - [`message`]: the wire model (v1) and [`message::verify_and_decode`], the only way in.
//! - [`store`]: sled trees, persistent deduplication, feed indexes.
//! - [`decide`]: the decision on an incoming message (the validation pipeline and its rules)
//!   as pure functions of the message, the facts stored, the group and the time.
//! - [`core`]: groups, keys and the store; carries out decisions, without networking.
//! - [`node`]: the [`Node`] handle and its actor, owning gossip and the store.
//! - [`ads`]: advertiser grants, ads, on-device targeting and offers.
//! - [`social`]: feeds ranked new/hot/top, threads, rooms and chat, profiles, moderation.
//! - [`sync`]: history sync (membership proof, negentropy reconciliation, paged fetch).
//! - [`control`]: the local control socket used by the `cove` CLI.
//! - [`data_dir`]: the on-disk layout (seed, plain or passphrase-encrypted, peer key, store,
//!   socket).
//! - [`health`]: gossip health per group, in words, for `cove status`, warnings and metrics.
//! - [`metrics`]: Prometheus metrics over loopback HTTP, read through the [`Node`] handle.
//! - [`rate`]: the per-author rate limit, counted on the node's own clock.
//! - [`outsider`]: a non-member on a group's topic, for the demo and tests.
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

pub mod ads;
pub mod cbor;
pub mod control;
pub mod core;
pub mod data_dir;
pub mod decide;
mod error;
pub mod health;
mod invite_addrs;
pub mod message;
pub mod metrics;
pub mod node;
pub mod outsider;
pub mod rate;
pub mod social;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testing;

pub use crate::core::GroupInfo;
pub use crate::error::NodeError;
pub use crate::health::GroupHealth;
pub use crate::node::{Node, NodeConfig, PeerSummary, Status};
pub use crate::social::FeedItem;
pub use cove_gossip::PeerRateLimit;
