//! The node's error type.

use crate::message::MessageError;
use crate::store::StoreError;

/// Everything that can go wrong in a node operation.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data dir has no seed: `cove init` has not run.
    #[error("no member seed in {0}: run `cove init` first")]
    NotInitialized(String),
    /// `cove init` on a data dir that already has a seed.
    #[error("{0} already holds a member seed; refusing to overwrite it")]
    AlreadyInitialized(String),
    /// `cove advertiser init` on a data dir that already has an advertiser key.
    #[error("{0} already holds an advertiser key; refusing to overwrite it (print its public key with `cove advertiser show`)")]
    AdvertiserKeyExists(String),
    /// No group matches what the user typed.
    #[error("unknown group {0:?}: give a group id or the unique name of a group you belong to (see `cove groups`)")]
    UnknownGroup(String),
    /// Several groups share the name the user typed.
    #[error("group name {name:?} is ambiguous; use one of the ids: {ids}")]
    AmbiguousGroup {
        /// Name typed.
        name: String,
        /// Candidate ids, comma separated.
        ids: String,
    },
    /// The invite string did not decode or has expired.
    #[error("invalid invite: {0}")]
    Invite(#[from] cove_crypto::InviteError),
    /// The invite's charter is not a valid founder-signed charter for its group.
    #[error("invalid invite: its charter {0}")]
    BadCharter(String),
    /// A message the user asked to create breaks a rule.
    #[error("{0}")]
    Message(#[from] MessageError),
    /// A value the user gave is not acceptable: which input, and what is wrong with it.
    #[error("{reason}")]
    InvalidInput {
        /// The input at fault.
        input: Input,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gossip layer failed.
    #[error("network: {0}")]
    Gossip(#[from] cove_gossip::Error),
    /// File-system trouble with the data dir.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The node is not running (no control socket answers).
    #[error("the cove node is not running for data dir {0}: start it with `cove up`")]
    NotRunning(String),
    /// The node stopped while the request was in flight.
    #[error("the node has shut down")]
    Stopped,
    /// The running node answered with an error.
    #[error("{message}")]
    Remote {
        /// Whether the user's input was at fault (see [`NodeError::is_user_error`]).
        user_error: bool,
        /// The node's message.
        message: String,
    },
    /// Joining with an invite ticket failed: a member refused the admission (`refused`), or
    /// none could be asked.
    #[error("could not join: {reason}")]
    Admission {
        /// Whether a member refused (the invite is spent, expired, withdrawn, or the joiner
        /// banned), as opposed to no member answering.
        refused: bool,
        /// What happened, and what to do.
        reason: String,
    },
    /// The control channel carried something unexpected.
    #[error("control channel: {0}")]
    Control(String),
}

/// Which input of a request a [`NodeError::InvalidInput`] is about, so that a caller (the CLI,
/// the web app) can point at the right flag or field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// A group (id, prefix or name), or the lack of one.
    Group,
    /// A message id, or the message it names.
    Message,
    /// A member's pseudonym.
    Member,
    /// A chat room.
    Room,
    /// A libp2p peer id.
    Peer,
    /// A multiaddr.
    Address,
    /// An invite's lifetime or content.
    Invite,
    /// A private interest key.
    Interest,
    /// An advertiser key, grant or ad.
    Advertiser,
    /// A charter policy (rate limit).
    Policy,
    /// The master seed, its passphrase or its file.
    Seed,
    /// A request as a whole (a request that needs another channel, an unknown command).
    Request,
}

impl NodeError {
    /// An invalid `input`, with what is wrong and what was expected.
    pub fn invalid(input: Input, reason: impl Into<String>) -> Self {
        NodeError::InvalidInput {
            input,
            reason: reason.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        NodeError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// Whether the user's input caused the error (the CLI exits with the usage code), as opposed
    /// to a runtime failure.
    pub fn is_user_error(&self) -> bool {
        match self {
            NodeError::UnknownGroup(_)
            | NodeError::AmbiguousGroup { .. }
            | NodeError::Invite(_)
            | NodeError::BadCharter(_)
            | NodeError::Message(_)
            | NodeError::InvalidInput { .. }
            | NodeError::AlreadyInitialized(_)
            | NodeError::AdvertiserKeyExists(_) => true,
            NodeError::Remote { user_error, .. } => *user_error,
            NodeError::Admission { refused, .. } => *refused,
            _ => false,
        }
    }
}
