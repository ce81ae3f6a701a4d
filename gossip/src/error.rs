//! The one error type of this crate.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

/// Everything that can go wrong when starting or talking to the gossip actor.
///
/// Network misbehaviour of remote peers is never an `Error`: it is logged, scored and
/// otherwise ignored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The actor has stopped (after [`Gossip::shutdown`](crate::Gossip::shutdown), or because
    /// its task ended); the handle is no longer usable.
    #[error("the gossip actor has stopped")]
    Stopped,
    /// The TCP/QUIC/DNS transport stack could not be built.
    #[error("failed to build the libp2p transport: {0}")]
    Transport(String),
    /// The network behaviour (gossipsub, kad, mdns, ...) could not be built; this is a
    /// configuration error.
    #[error("failed to build the network behaviour: {0}")]
    Behaviour(String),
    /// A listen address was rejected or its listener failed while starting.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The configured listen address.
        addr: Multiaddr,
        /// What the transport reported.
        reason: String,
    },
    /// A listener did not report a bound address in time.
    #[error("listener on {addr} reported no bound address within {timeout:?}")]
    ListenTimeout {
        /// The configured listen address.
        addr: Multiaddr,
        /// How long we waited.
        timeout: Duration,
    },
    /// A dial could not even be started (unsupported address, dialing ourselves, ...).
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address given to [`Gossip::dial`](crate::Gossip::dial).
        addr: Multiaddr,
        /// What the swarm reported.
        reason: String,
    },
    /// Gossipsub refused the subscription.
    #[error("cannot subscribe to topic {topic}: {reason}")]
    Subscribe {
        /// The topic string.
        topic: String,
        /// What gossipsub reported.
        reason: String,
    },
    /// The payload is larger than [`Config::max_message_size`](crate::Config::max_message_size)
    /// (publish), [`MAX_REQUEST_BYTES`](crate::MAX_REQUEST_BYTES) (request) or
    /// [`MAX_RESPONSE_BYTES`](crate::MAX_RESPONSE_BYTES) (respond). Nothing was sent.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Size of the rejected payload.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Gossipsub failed to publish for a reason other than "no peers" or "duplicate".
    #[error("cannot publish to topic {topic}: {reason}")]
    Publish {
        /// The topic string.
        topic: String,
        /// What gossipsub reported.
        reason: String,
    },
    /// A sync [`request`](crate::Gossip::request) got no (valid) response: timeout, dial
    /// failure, connection closed, the peer does not speak the sync protocol, the response
    /// was oversized or malformed, or the peer is banned.
    #[error("sync request to {peer} failed: {reason}")]
    Request {
        /// The peer we asked.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
}
