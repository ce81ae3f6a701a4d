//! History sync: a late joiner, a member back from being offline, or the two halves of a healed
//! partition end up with the same set of messages.
//!
//! Transport: gossip's request-response protocol `/cove/sync/2.0.0` (one CBOR frame per
//! request and per response). A session between requester R and responder S for one group:
//!
//! ```text
//! R -> S  hello {topic, nonce}                 S -> R  challenge {nonce, proof} (S proves first)
//!   R checks S's proof; an unproven S gets nothing more
//! R -> S  reconcile {topic, proof, since, msg} S -> R  reconcile {msg}     (negentropy rounds)
//!   ... until R's negentropy has no more to say: R now knows the ids it lacks
//! R -> S  fetch {topic, proof, ids <= 256}     S -> R  messages [signed]   (pages <= 1 MiB)
//! ```
//!
//! Both sides prove membership ([`cove_crypto::sync_auth`]): S with
//! [`cove_crypto::sync_responder_proof`] over R's nonce, R with [`cove_crypto::sync_proof`]
//! over S's challenge, each bound to both peer ids and worthless on any other connection.
//! R sends nothing group-specific (no proof, no set, no id) to an S whose proof fails, and
//! leaves it alone for [`UNPROVEN_BACKOFF`]. S answers a `hello` for a topic it does not hold
//! with a decoy proof, and a request without a valid proof, or for a topic S does not know,
//! with the same `unauthorized` answer, so a non-member learns nothing, not even whether the
//! group exists. Set reconciliation is
//! Negentropy v1 (range-based set reconciliation) over `(created_at, message id)` of every
//! message created at or after `since` (the requester's retention window). Fetched messages
//! go through the same validation as gossip ([`crate::core::Core::ingest_signed`]).
//!
//! Each side only pulls what it lacks; the other side pulls in its own session, which starts
//! when it sees us subscribe to the group's topic, on its anti-entropy timer, or on demand.
//! A completed reconciliation also tells R which of its own messages S holds: those leave
//! R's outbox ([`Session::run`], PROTOCOL.md §13.9).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cove_crypto::{
    sync_proof, sync_responder_proof, verify_sync_proof, verify_sync_responder_proof, GroupId,
};
use cove_gossip::{Gossip, PeerId};
use futures::FutureExt;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use crate::message::MessageId;
use crate::rate::Bucket;
use crate::store::StoreReader;

/// Version of the sync frames (`v`), the same as the protocol id's
/// ([`cove_gossip::SYNC_PROTOCOL`]): 2 since the responder proves membership first.
pub const SYNC_VERSION: u8 = 2;
/// Most ids one `fetch` may ask for.
pub const MAX_FETCH_IDS: usize = 256;
/// Most bytes of messages in one `messages` page (a responder stops adding messages before
/// crossing it; a page above it is a protocol violation).
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Largest negentropy message a node produces or accepts.
pub const MAX_RECONCILE_FRAME: u64 = 128 * 1024;
/// Most negentropy rounds in one session.
pub const MAX_ROUNDS: usize = 512;
/// How long a challenge stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// Most outstanding challenges a node keeps (one per peer).
pub const MAX_CHALLENGES: usize = 4096;
/// How long a requester waits for the responder's `challenge`. Answering a `hello` takes no
/// disk access, so a member answers at once; an unanswered `hello` holds an automatic
/// session slot at most this long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long automatic sessions leave a peer alone, for one group, after it failed to prove
/// membership ([`SyncError::Unproven`]): a non-member that subscribed to the topic must not
/// get a session, nor hold a slot, again and again.
pub const UNPROVEN_BACKOFF: Duration = Duration::from_secs(300);
/// (group, peer) pairs left alone at once; when full, the one whose backoff ends first goes.
pub const MAX_UNPROVEN: usize = 4096;
/// How long a peer that breaks the protocol is cut off.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Sync requests one peer may make (hello, reconcile and fetch alike): bursts of this many,
/// refilled at this many per [`REQUEST_BUDGET_WINDOW`]. Beyond it the answer is `busy`.
/// A catch-up of 100 000 messages is about 400 fetches, so an honest requester is slowed by
/// seconds at most; a member replaying reconcile rounds gets 20 a second.
pub const REQUEST_BUDGET: u32 = 200;
/// See [`REQUEST_BUDGET`].
pub const REQUEST_BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Peers whose request budget is tracked at once (a refilled budget is forgotten first).
pub const MAX_REQUEST_BUDGETS: usize = 4096;
/// How long a responder keeps the Negentropy storage it built for one requester's session.
/// Every round of the session reads it instead of scanning the group again; a session
/// therefore reconciles against the responder's set as of its first round (at most this old).
pub const SESSION_STORAGE_TTL: Duration = Duration::from_secs(20);
/// Sessions whose storage a responder keeps at once; the oldest goes first.
pub const MAX_SESSION_STORAGES: usize = 16;

/// Why a sync frame or session failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// Not a well-formed frame.
    #[error("malformed sync frame: {0}")]
    Malformed(String),
    /// The responder refused us (not a member, stale proof).
    #[error("the peer refused sync: {0}")]
    Refused(String),
    /// The responder did not prove membership: a wrong proof (a non-member's decoy) or no
    /// challenge within [`HANDSHAKE_TIMEOUT`]. Not a violation.
    #[error("the peer did not prove membership: {0}")]
    Unproven(String),
    /// A page above [`MAX_PAGE_BYTES`] or with more messages than asked for.
    #[error("oversized sync page: {0}")]
    OversizedPage(String),
    /// The transport failed (timeout, disconnect).
    #[error("sync transport: {0}")]
    Transport(String),
    /// Reconciliation did not finish within [`MAX_ROUNDS`].
    #[error("reconciliation did not converge in {MAX_ROUNDS} rounds")]
    TooManyRounds,
    /// The node stopped.
    #[error("the node stopped")]
    Stopped,
}

impl SyncError {
    /// Whether the peer broke the protocol (it is banned for [`BAN_DURATION`]).
    pub fn is_violation(&self) -> bool {
        matches!(self, SyncError::Malformed(_) | SyncError::OversizedPage(_))
    }

    /// Counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::Malformed(_) => "sync_malformed",
            SyncError::Refused(_) => "sync_refused",
            SyncError::Unproven(_) => "sync_responder_unproven",
            SyncError::OversizedPage(_) => "sync_oversized_page",
            SyncError::Transport(_) => "sync_transport",
            SyncError::TooManyRounds => "sync_too_many_rounds",
            SyncError::Stopped => "sync_stopped",
        }
    }
}

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ask for a challenge, and for the responder's proof.
    Hello {
        /// The group's gossip topic (the responder announced it: it tells it nothing new).
        topic: String,
        /// The requester's fresh random nonce, which the responder proves over.
        nonce: [u8; 32],
    },
    /// One negentropy round.
    Reconcile {
        /// The group's gossip topic.
        topic: String,
        /// Membership proof.
        proof: [u8; 32],
        /// Only messages created at or after this time (unix ms).
        since: u64,
        /// Negentropy message.
        msg: Vec<u8>,
    },
    /// Fetch messages by id.
    Fetch {
        /// The group's gossip topic.
        topic: String,
        /// Membership proof.
        proof: [u8; 32],
        /// Ids wanted (at most [`MAX_FETCH_IDS`]).
        ids: Vec<MessageId>,
    },
}

/// Error codes of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid proof for a known group (also: unknown group).
    Unauthorized,
    /// The request did not parse or broke a bound.
    Malformed,
    /// The responder is overloaded; try later.
    Busy,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Malformed => "malformed",
            ErrorCode::Busy => "busy",
        }
    }
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// A fresh challenge for this connection, and the responder's proof.
    Challenge {
        /// 32 random bytes, which the requester proves over.
        nonce: [u8; 32],
        /// [`cove_crypto::sync_responder_proof`] over the requester's nonce, or 32 random
        /// bytes if the responder does not hold the group.
        proof: [u8; 32],
    },
    /// One negentropy round.
    Reconcile {
        /// Negentropy message.
        msg: Vec<u8>,
    },
    /// A page of signed messages, in the order asked; missing ones are left out.
    Messages {
        /// Signed-message bytes.
        messages: Vec<Vec<u8>>,
    },
    /// A refusal.
    Error {
        /// Why.
        code: ErrorCode,
    },
}

/// The CBOR map every frame is: `"v"`, `"op"` and the op's fields. Only encoded this way;
/// decoding reads the op's own fields straight from the bytes ([`FrameFields`]).
#[derive(Default, Serialize)]
struct Frame {
    v: u8,
    op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<ByteBuf>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<ByteBuf>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

fn encode_frame(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(frame, &mut out).expect("CBOR encoding into a Vec");
    out
}

/// Deepest nesting a frame may use (its own fields nest 2 deep; unknown keys get room).
const MAX_FRAME_DEPTH: usize = 16;
/// Smallest encoding of a 32-byte id in an `ids` array: `58 20` and the 32 bytes.
const MIN_ID_BYTES: usize = 34;

fn malformed(detail: impl Into<String>) -> SyncError {
    SyncError::Malformed(detail.into())
}

/// A reader of CBOR items in a frame that allocates nothing: byte and text strings are
/// borrowed from the frame, and every declared length is checked against the bytes left
/// before anything is read or allocated. Definite lengths only (§13.2), so an array's size
/// is known, and bounded, before its first item.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], SyncError> {
        let left = self.remaining();
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= left)
            .ok_or_else(|| malformed(format!("an item declares {len} bytes, {left} are left")))?;
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// Major type and argument of the next item.
    fn head(&mut self) -> Result<(u8, u64), SyncError> {
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let width = 1usize << (info - 24);
                self.take(width as u64)?
                    .iter()
                    .fold(0u64, |acc, b| acc << 8 | u64::from(*b))
            }
            31 => {
                return Err(malformed(
                    "indefinite-length item (sync frames use definite lengths)",
                ))
            }
            _ => {
                return Err(malformed(format!(
                    "reserved CBOR additional information {info}"
                )))
            }
        };
        Ok((major, arg))
    }

    /// Steps over one item of any type, checking its structure, allocating nothing.
    fn skip(&mut self, depth: usize) -> Result<(), SyncError> {
        if depth > MAX_FRAME_DEPTH {
            return Err(malformed(format!("nested deeper than {MAX_FRAME_DEPTH}")));
        }
        match self.head()? {
            (0 | 1 | 7, _) => Ok(()),
            (2 | 3, len) => self.take(len).map(drop),
            // Every item takes at least one byte, so a lying count runs out of bytes.
            (4, len) => (0..len).try_for_each(|_| self.skip(depth + 1)),
            (5, len) => (0..len).try_for_each(|_| {
                self.skip(depth + 1)?;
                self.skip(depth + 1)
            }),
            _ => self.skip(depth + 1), // tag: its content follows
        }
    }

    fn uint(&mut self, what: &str) -> Result<u64, SyncError> {
        match self.head()? {
            (0, n) => Ok(n),
            _ => Err(malformed(format!("{what} is not an unsigned integer"))),
        }
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], SyncError> {
        match self.head()? {
            (2, len) => self.take(len),
            _ => Err(malformed(format!("{what} is not a byte string"))),
        }
    }

    fn text(&mut self, what: &str) -> Result<&'a str, SyncError> {
        match self.head()? {
            (3, len) => std::str::from_utf8(self.take(len)?)
                .map_err(|_| malformed(format!("{what} is not UTF-8"))),
            _ => Err(malformed(format!("{what} is not a text string"))),
        }
    }

    fn bytes32(&mut self, what: &str) -> Result<[u8; 32], SyncError> {
        let bytes = self.bytes(what)?;
        bytes
            .try_into()
            .map_err(|_| malformed(format!("{what} is {} bytes, expected 32", bytes.len())))
    }

    /// An array's item count, once it is known to fit both `max` (else `too_many`) and the
    /// bytes left at `min_item` bytes per item: only then may a caller allocate for it.
    fn array(
        &mut self,
        what: &str,
        max: usize,
        min_item: usize,
        too_many: fn(String) -> SyncError,
    ) -> Result<usize, SyncError> {
        let (4, len) = self.head()? else {
            return Err(malformed(format!("{what} is not an array")));
        };
        if len > max as u64 {
            return Err(too_many(format!(
                "{what} declares {len} items, more than {max}"
            )));
        }
        let left = self.remaining();
        // len <= max, so it fits usize and the product cannot overflow.
        let len = len as usize;
        if len * min_item > left {
            return Err(malformed(format!(
                "{what} declares {len} items, but only {left} bytes are left"
            )));
        }
        Ok(len)
    }
}

/// The keys a frame may carry, in the order of [`FrameFields::at`]'s table.
const FRAME_KEYS: [&str; 10] = [
    "v", "op", "topic", "proof", "since", "msg", "ids", "nonce", "messages", "code",
];

/// Where each known key's value starts in a frame. The first pass records positions and
/// steps over every value without allocating; the op then decodes only its own fields.
struct FrameFields<'a> {
    buf: &'a [u8],
    at: [Option<usize>; FRAME_KEYS.len()],
    op: &'a str,
}

impl<'a> FrameFields<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, SyncError> {
        let mut r = Reader { buf, pos: 0 };
        let (5, entries) = r.head()? else {
            return Err(malformed("a sync frame is a CBOR map"));
        };
        let mut at = [None; FRAME_KEYS.len()];
        for _ in 0..entries {
            let key = r.text("a frame key")?;
            match FRAME_KEYS.iter().position(|k| *k == key) {
                Some(i) if at[i].is_some() => {
                    return Err(malformed(format!("key {key:?} appears twice")))
                }
                Some(i) => at[i] = Some(r.pos),
                None => {} // unknown keys are ignored (§13.2)
            }
            r.skip(1)?;
        }
        if r.remaining() > 0 {
            return Err(malformed(format!(
                "{} bytes after the CBOR item",
                r.remaining()
            )));
        }
        let mut fields = FrameFields { buf, at, op: "" };
        let v = fields.reader("v")?.uint("v")?;
        if v != u64::from(SYNC_VERSION) {
            return Err(malformed(format!(
                "sync version {v} is not supported (max {SYNC_VERSION})"
            )));
        }
        fields.op = fields.reader("op")?.text("op")?;
        Ok(fields)
    }

    /// A reader at the value of `key`; a missing key is malformed.
    fn reader(&self, key: &str) -> Result<Reader<'a>, SyncError> {
        let i = FRAME_KEYS
            .iter()
            .position(|k| *k == key)
            .expect("a known frame key");
        let pos = self.at[i].ok_or_else(|| {
            let frame = if self.op.is_empty() { "sync" } else { self.op };
            malformed(format!("{frame} frame lacks {key:?}"))
        })?;
        Ok(Reader { buf: self.buf, pos })
    }

    fn text(&self, key: &str) -> Result<&'a str, SyncError> {
        self.reader(key)?.text(key)
    }

    fn bytes32(&self, key: &str) -> Result<[u8; 32], SyncError> {
        self.reader(key)?.bytes32(key)
    }

    /// A Negentropy message, within [`MAX_RECONCILE_FRAME`].
    fn negentropy(&self) -> Result<Vec<u8>, SyncError> {
        let msg = self.reader("msg")?.bytes("msg")?;
        if msg.len() as u64 > MAX_RECONCILE_FRAME {
            return Err(malformed(format!(
                "reconcile message of {} bytes exceeds {MAX_RECONCILE_FRAME}",
                msg.len()
            )));
        }
        Ok(msg.to_vec())
    }
}

impl Request {
    /// The CBOR frame.
    pub fn encode(&self) -> Vec<u8> {
        let frame = match self {
            Request::Hello { topic, nonce } => Frame {
                v: SYNC_VERSION,
                op: "hello".into(),
                topic: Some(topic.clone()),
                nonce: Some(ByteBuf::from(nonce.to_vec())),
                ..Frame::default()
            },
            Request::Reconcile {
                topic,
                proof,
                since,
                msg,
            } => Frame {
                v: SYNC_VERSION,
                op: "reconcile".into(),
                topic: Some(topic.clone()),
                proof: Some(ByteBuf::from(proof.to_vec())),
                since: Some(*since),
                msg: Some(ByteBuf::from(msg.clone())),
                ..Frame::default()
            },
            Request::Fetch { topic, proof, ids } => Frame {
                v: SYNC_VERSION,
                op: "fetch".into(),
                topic: Some(topic.clone()),
                proof: Some(ByteBuf::from(proof.to_vec())),
                ids: Some(ids.iter().map(|id| ByteBuf::from(id.0.to_vec())).collect()),
                ..Frame::default()
            },
        };
        encode_frame(&frame)
    }

    /// Parses a frame, decoding only the fields of its op; every bound is checked before
    /// anything is allocated for it.
    pub fn decode(bytes: &[u8]) -> Result<Request, SyncError> {
        let f = FrameFields::parse(bytes)?;
        Ok(match f.op {
            "hello" => Request::Hello {
                topic: f.text("topic")?.to_string(),
                nonce: f.bytes32("nonce")?,
            },
            "reconcile" => Request::Reconcile {
                msg: f.negentropy()?,
                topic: f.text("topic")?.to_string(),
                proof: f.bytes32("proof")?,
                since: f.reader("since")?.uint("since")?,
            },
            "fetch" => {
                let mut r = f.reader("ids")?;
                let count = r.array("ids", MAX_FETCH_IDS, MIN_ID_BYTES, SyncError::Malformed)?;
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    ids.push(MessageId(r.bytes32("message id")?));
                }
                Request::Fetch {
                    topic: f.text("topic")?.to_string(),
                    proof: f.bytes32("proof")?,
                    ids,
                }
            }
            other => {
                return Err(SyncError::Malformed(format!(
                    "unknown request op {other:?}"
                )))
            }
        })
    }
}

impl Response {
    /// The CBOR frame.
    pub fn encode(&self) -> Vec<u8> {
        let frame = match self {
            Response::Challenge { nonce, proof } => Frame {
                v: SYNC_VERSION,
                op: "challenge".into(),
                proof: Some(ByteBuf::from(proof.to_vec())),
                nonce: Some(ByteBuf::from(nonce.to_vec())),
                ..Frame::default()
            },
            Response::Reconcile { msg } => Frame {
                v: SYNC_VERSION,
                op: "reconcile".into(),
                msg: Some(ByteBuf::from(msg.clone())),
                ..Frame::default()
            },
            Response::Messages { messages } => Frame {
                v: SYNC_VERSION,
                op: "messages".into(),
                messages: Some(messages.iter().map(|m| ByteBuf::from(m.clone())).collect()),
                ..Frame::default()
            },
            Response::Error { code } => Frame {
                v: SYNC_VERSION,
                op: "error".into(),
                code: Some(code.as_str().into()),
                ..Frame::default()
            },
        };
        encode_frame(&frame)
    }

    /// Parses a frame, decoding only the fields of its op; the page bounds (count and
    /// bytes) are checked before anything is allocated for them.
    pub fn decode(bytes: &[u8]) -> Result<Response, SyncError> {
        let f = FrameFields::parse(bytes)?;
        Ok(match f.op {
            "challenge" => Response::Challenge {
                nonce: f.bytes32("nonce")?,
                proof: f.bytes32("proof")?,
            },
            "reconcile" => Response::Reconcile {
                msg: f.negentropy()?,
            },
            "messages" => {
                let mut r = f.reader("messages")?;
                // No fetch asks for more than MAX_FETCH_IDS, so no honest page holds more.
                let count = r.array("messages", MAX_FETCH_IDS, 1, SyncError::OversizedPage)?;
                let mut messages = Vec::with_capacity(count);
                let mut total = 0usize;
                for _ in 0..count {
                    let message = r.bytes("message")?;
                    total += message.len();
                    if total > MAX_PAGE_BYTES {
                        return Err(SyncError::OversizedPage(format!(
                            "more than {MAX_PAGE_BYTES} bytes of messages"
                        )));
                    }
                    messages.push(message.to_vec());
                }
                Response::Messages { messages }
            }
            "error" => Response::Error {
                code: match f.text("code")? {
                    "unauthorized" => ErrorCode::Unauthorized,
                    "malformed" => ErrorCode::Malformed,
                    "busy" => ErrorCode::Busy,
                    other => {
                        return Err(SyncError::Malformed(format!(
                            "unknown error code {other:?}"
                        )))
                    }
                },
            },
            other => {
                return Err(SyncError::Malformed(format!(
                    "unknown response op {other:?}"
                )))
            }
        })
    }
}

/// The challenges this node issued, one per peer, dropped when the peer disconnects.
#[derive(Debug, Default)]
pub struct Challenges {
    issued: HashMap<PeerId, ([u8; 32], Instant)>,
}

impl Challenges {
    /// A fresh challenge for `peer`, replacing any earlier one.
    pub fn issue(&mut self, peer: PeerId) -> [u8; 32] {
        if self.issued.len() >= MAX_CHALLENGES {
            self.issued
                .retain(|_, (_, at)| at.elapsed() < CHALLENGE_TTL);
            if self.issued.len() >= MAX_CHALLENGES {
                // Drop an arbitrary one: its owner just asks again.
                if let Some(victim) = self.issued.keys().next().copied() {
                    self.issued.remove(&victim);
                }
            }
        }
        let nonce: [u8; 32] = rand::random();
        self.issued.insert(peer, (nonce, Instant::now()));
        nonce
    }

    /// Answers `peer`'s `hello`: a fresh challenge, and our proof over its `nonce` if we hold
    /// the group (`sync_key`), else a decoy of the same size, so that the answer does not
    /// tell a non-member whether we do (PROTOCOL.md §13.3).
    pub fn answer_hello(
        &mut self,
        peer: PeerId,
        local: &PeerId,
        sync_key: Option<&[u8; 32]>,
        nonce: &[u8; 32],
    ) -> Response {
        let proof = match sync_key {
            Some(key) => sync_responder_proof(key, nonce, &peer.to_bytes(), &local.to_bytes()),
            None => rand::random(),
        };
        Response::Challenge {
            nonce: self.issue(peer),
            proof,
        }
    }

    /// Forgets a peer's challenge (its connection closed).
    pub fn forget(&mut self, peer: &PeerId) {
        self.issued.remove(peer);
    }

    /// Whether `proof` proves knowledge of `sync_key` on this connection.
    pub fn verify(
        &self,
        peer: &PeerId,
        local: &PeerId,
        sync_key: &[u8; 32],
        proof: &[u8; 32],
    ) -> bool {
        match self.issued.get(peer) {
            Some((nonce, at)) if at.elapsed() < CHALLENGE_TTL => {
                verify_sync_proof(sync_key, nonce, &peer.to_bytes(), &local.to_bytes(), proof)
            }
            _ => false,
        }
    }
}

/// Each peer's sync request budget (see [`REQUEST_BUDGET`]), on a caller-supplied clock.
#[derive(Debug, Default)]
pub struct RequestBudgets {
    budgets: HashMap<PeerId, Bucket>,
}

impl RequestBudgets {
    /// Spends one of `peer`'s requests at `now_ms`; `false`: over budget, answer `busy`.
    pub fn take(&mut self, peer: PeerId, now_ms: u64) -> bool {
        let window = REQUEST_BUDGET_WINDOW.as_millis() as u64;
        if self.budgets.len() >= MAX_REQUEST_BUDGETS && !self.budgets.contains_key(&peer) {
            self.budgets.retain(|_, b| {
                b.refilled(REQUEST_BUDGET, window, now_ms) < f64::from(REQUEST_BUDGET)
            });
            if self.budgets.len() >= MAX_REQUEST_BUDGETS {
                // An arbitrary one goes: its peer gets a fresh budget, as a new peer id would.
                if let Some(victim) = self.budgets.keys().next().copied() {
                    self.budgets.remove(&victim);
                }
            }
        }
        self.budgets
            .entry(peer)
            .or_insert_with(|| Bucket::full(REQUEST_BUDGET, now_ms))
            .take(REQUEST_BUDGET, window, now_ms)
    }
}

/// The responders that failed to prove membership, per group: automatic sessions leave them
/// alone for [`UNPROVEN_BACKOFF`]. On a caller-supplied clock.
#[derive(Debug, Default)]
pub struct UnprovenPeers {
    until_ms: HashMap<(GroupId, PeerId), u64>,
}

impl UnprovenPeers {
    /// `peer` failed to prove membership of `group` at `now_ms`.
    pub fn mark(&mut self, group: GroupId, peer: PeerId, now_ms: u64) {
        if self.until_ms.len() >= MAX_UNPROVEN {
            self.until_ms.retain(|_, until| *until > now_ms);
            if self.until_ms.len() >= MAX_UNPROVEN {
                // Full of live entries (many peer ids): the one whose backoff ends first goes.
                let soonest = self
                    .until_ms
                    .iter()
                    .min_by_key(|(_, u)| **u)
                    .map(|(k, _)| *k);
                if let Some(soonest) = soonest {
                    self.until_ms.remove(&soonest);
                }
            }
        }
        let until = now_ms.saturating_add(UNPROVEN_BACKOFF.as_millis() as u64);
        self.until_ms.insert((group, peer), until);
    }

    /// Whether automatic sessions of `group` leave `peer` alone at `now_ms`.
    pub fn contains(&self, group: &GroupId, peer: &PeerId, now_ms: u64) -> bool {
        self.until_ms
            .get(&(*group, *peer))
            .is_some_and(|until| *until > now_ms)
    }
}

/// What a session's storage is kept under: the requester, the group and its `since`.
type SessionKey = (PeerId, GroupId, u64);

/// The responder's Negentropy storage per requester session, so that the rounds of one
/// session do not each scan the whole group again (bounded by [`MAX_SESSION_STORAGES`] and
/// [`SESSION_STORAGE_TTL`]). Shared by the tasks that serve requests.
#[derive(Default)]
pub struct SessionStorages {
    kept: HashMap<SessionKey, (Arc<NegentropyStorageVector>, Instant)>,
}

impl std::fmt::Debug for SessionStorages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStorages")
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl SessionStorages {
    fn get(&mut self, key: &SessionKey) -> Option<Arc<NegentropyStorageVector>> {
        self.kept
            .retain(|_, (_, at)| at.elapsed() < SESSION_STORAGE_TTL);
        self.kept.get(key).map(|(storage, _)| storage.clone())
    }

    fn keep(&mut self, key: SessionKey, storage: Arc<NegentropyStorageVector>) {
        if self.kept.len() >= MAX_SESSION_STORAGES {
            let oldest = self
                .kept
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.kept.remove(&oldest);
            }
        }
        self.kept.insert(key, (storage, Instant::now()));
    }

    /// Sessions whose storage is kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

fn storage(items: &[(u64, MessageId)]) -> Result<NegentropyStorageVector, SyncError> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for (created_at, id) in items {
        storage
            .insert(*created_at, Id::from_byte_array(id.0))
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
    }
    storage
        .seal()
        .map_err(|e| SyncError::Malformed(e.to_string()))?;
    Ok(storage)
}

/// Answers one authorised reconcile round of `peer`'s session (responder side; blocking
/// work). The first round scans the group's items from the store; later rounds of the same
/// session reuse that storage from `sessions`.
pub fn serve_reconcile(
    store: &StoreReader,
    sessions: &Mutex<SessionStorages>,
    peer: PeerId,
    group: &GroupId,
    since: u64,
    msg: &[u8],
) -> Result<Vec<u8>, SyncError> {
    let key = (peer, *group, since);
    let kept = sessions.lock().ok().and_then(|mut s| s.get(&key));
    let storage = match kept {
        Some(storage) => storage,
        None => {
            let items = store
                .sync_items(group, since)
                .map_err(|e| SyncError::Transport(e.to_string()))?;
            let storage = Arc::new(storage(&items)?);
            if let Ok(mut sessions) = sessions.lock() {
                sessions.keep(key, storage.clone());
            }
            storage
        }
    };
    let mut neg = Negentropy::borrowed(&*storage, MAX_RECONCILE_FRAME)
        .map_err(|e| SyncError::Malformed(e.to_string()))?;
    neg.reconcile(msg)
        .map_err(|e| SyncError::Malformed(format!("negentropy: {e}")))
}

/// Answers one authorised fetch from the store (responder side; blocking work).
pub fn serve_fetch(
    store: &StoreReader,
    group: &GroupId,
    ids: &[MessageId],
) -> Result<Vec<Vec<u8>>, SyncError> {
    let mut page = Vec::new();
    let mut size = 0;
    for id in ids {
        let Some(bytes) = store
            .message_bytes(group, id)
            .map_err(|e| SyncError::Transport(e.to_string()))?
        else {
            continue;
        };
        if size + bytes.len() > MAX_PAGE_BYTES {
            break;
        }
        size += bytes.len();
        page.push(bytes);
    }
    Ok(page)
}

/// Progress of a session, for `cove sync`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Progress {
    /// Group id (hex).
    pub group: String,
    /// Peer id.
    pub peer: String,
    /// Messages fetched so far.
    pub fetched: usize,
    /// Messages to fetch in total (known after reconciliation).
    pub total: usize,
}

/// What a session did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// Group id (hex).
    pub group: String,
    /// Peer id.
    pub peer: String,
    /// Negentropy rounds.
    pub rounds: usize,
    /// Request bytes sent.
    pub bytes_sent: usize,
    /// Response bytes received.
    pub bytes_received: usize,
    /// Ids the peer has and we lacked.
    pub missing: usize,
    /// Ids we have and the peer lacks (it fetches them in its own session).
    pub peer_missing: usize,
    /// Own messages the peer was found to hold, which leave the outbox (PROTOCOL.md §13.9).
    #[serde(default)]
    pub delivered: usize,
    /// Their ids, for the actor (the store's only writer) to clear from the outbox.
    #[serde(skip)]
    pub delivered_ids: Vec<MessageId>,
    /// Newly stored messages.
    pub accepted: usize,
    /// Fetched messages that failed validation or were duplicates.
    pub refused: usize,
    /// Why the session ended early, if it did.
    pub error: Option<String>,
}

/// A batch of fetched messages handed to the actor for validation and storage.
#[derive(Debug)]
pub struct IngestBatch {
    /// The group.
    pub group: GroupId,
    /// Signed-message bytes.
    pub messages: Vec<Vec<u8>>,
    /// Replies `(accepted, refused, invalid)`: invalid ones are the peer's fault.
    pub reply: oneshot::Sender<(usize, usize, usize)>,
}

/// Everything a requester session needs; it runs as its own task.
#[derive(Debug)]
pub struct Session {
    /// Gossip handle for requests.
    pub gossip: Gossip,
    /// The peer to sync with.
    pub peer: PeerId,
    /// The group.
    pub group: GroupId,
    /// Its topic.
    pub topic: String,
    /// Its sync key.
    pub sync_key: [u8; 32],
    /// Reconcile messages created at or after this (unix ms): the start of the retention
    /// window (0 = everything), or later for a confirmation round.
    pub since: u64,
    /// Fetch what the peer has and we lack; `false` for a confirmation round, which only
    /// finds out which of our own messages the peer holds (PROTOCOL.md §13.6).
    pub fetch: bool,
    /// Read access to the store for our side of reconciliation.
    pub store: StoreReader,
    /// Where fetched messages go for validation.
    pub ingest: mpsc::Sender<IngestBatch>,
    /// Optional progress reports.
    pub progress: Option<mpsc::Sender<Progress>>,
}

impl Session {
    async fn call(&self, request: &Request, report: &mut Report) -> Result<Response, SyncError> {
        let bytes = request.encode();
        report.bytes_sent += bytes.len();
        let answer = self
            .gossip
            .request(self.peer, bytes)
            .await
            .map_err(|e| SyncError::Transport(e.to_string()))?;
        report.bytes_received += answer.len();
        match Response::decode(&answer)? {
            Response::Error { code } => Err(SyncError::Refused(code.as_str().into())),
            response => Ok(response),
        }
    }

    /// Runs the session to the end; the report says how far it got.
    pub async fn run(self) -> (Report, Option<SyncError>) {
        let mut report = Report {
            group: self.group.to_string(),
            peer: self.peer.to_string(),
            ..Report::default()
        };
        // Reconciliation parses the peer's bytes; if that code panics on hostile input, the
        // session fails (and the peer is cut off) instead of leaving the session unaccounted.
        let result = std::panic::AssertUnwindSafe(self.run_inner(&mut report))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(SyncError::Malformed(
                    "the peer's data made reconciliation fail".into(),
                ))
            });
        let error = result.err();
        report.error = error.as_ref().map(|e| e.to_string());
        (report, error)
    }

    /// `hello`, then the responder's proof is checked before anything group-specific is
    /// sent; returns our own proof for the requests that follow.
    async fn handshake(&self, report: &mut Report) -> Result<[u8; 32], SyncError> {
        let nonce: [u8; 32] = rand::random();
        let hello = Request::Hello {
            topic: self.topic.clone(),
            nonce,
        };
        let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.call(&hello, report))
            .await
            .map_err(|_| {
                SyncError::Unproven(format!("no challenge within {HANDSHAKE_TIMEOUT:?}"))
            })??;
        let Response::Challenge {
            nonce: challenge,
            proof,
        } = answer
        else {
            return Err(SyncError::Malformed("expected a challenge".into()));
        };
        let (local, peer) = (self.gossip.local_peer_id().to_bytes(), self.peer.to_bytes());
        if !verify_sync_responder_proof(&self.sync_key, &nonce, &local, &peer, &proof) {
            return Err(SyncError::Unproven("its proof does not verify".into()));
        }
        Ok(sync_proof(&self.sync_key, &challenge, &local, &peer))
    }

    async fn run_inner(&self, report: &mut Report) -> Result<(), SyncError> {
        let proof = self.handshake(report).await?;
        let items = self
            .store
            .sync_items(&self.group, self.since)
            .map_err(|e| SyncError::Transport(e.to_string()))?;
        let mut neg = Negentropy::owned(storage(&items)?, MAX_RECONCILE_FRAME)
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let mut msg = neg
            .initiate()
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        loop {
            if report.rounds >= MAX_ROUNDS {
                return Err(SyncError::TooManyRounds);
            }
            report.rounds += 1;
            let request = Request::Reconcile {
                topic: self.topic.clone(),
                proof,
                since: self.since,
                msg,
            };
            let Response::Reconcile { msg: answer } = self.call(&request, report).await? else {
                return Err(SyncError::Malformed("expected a reconcile answer".into()));
            };
            match neg
                .reconcile_with_ids(&answer, &mut have, &mut need)
                .map_err(|e| SyncError::Malformed(format!("negentropy: {e}")))?
            {
                Some(next) => msg = next,
                None => break,
            }
        }
        report.missing = need.len();
        report.peer_missing = have.len();
        report.delivered_ids = self.confirm_delivered(&items, &have)?;
        report.delivered = report.delivered_ids.len();
        if !self.fetch {
            return Ok(());
        }
        let need: Vec<MessageId> = need.into_iter().map(|id| MessageId(*id)).collect();
        self.fetch_all(proof, need, report).await
    }

    /// Own messages of this group that the proven peer holds, which may leave the outbox:
    /// those in the set we reconciled (`items`) that it did not lack (`lacked`,
    /// negentropy's `have`).
    fn confirm_delivered(
        &self,
        items: &[(u64, MessageId)],
        lacked: &[Id],
    ) -> Result<Vec<MessageId>, SyncError> {
        let store_error = |e: crate::store::StoreError| SyncError::Transport(e.to_string());
        let pending: HashSet<MessageId> = self
            .store
            .outbox()
            .map_err(store_error)?
            .into_iter()
            .filter(|(_, group)| *group == self.group)
            .map(|(id, _)| id)
            .collect();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let lacked: HashSet<[u8; 32]> = lacked.iter().map(|id| **id).collect();
        Ok(items
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| pending.contains(id) && !lacked.contains(&id.0))
            .collect())
    }

    /// Fetches `need` page by page. The next page is requested while the current one is
    /// validated and stored, so the network and the responder work while we verify.
    async fn fetch_all(
        &self,
        proof: [u8; 32],
        need: Vec<MessageId>,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        let total = need.len();
        let mut pending = need.as_slice();
        let mut page = self.fetch_page(proof, pending, report).await?;
        while !page.is_empty() {
            // A page serves a prefix of its batch (it stops at the page budget, skipping ids
            // it no longer has), so the rest of the batch is asked for again.
            pending = &pending[page.len()..];
            let mut next_report = Report::default();
            let (next, ingested) = tokio::join!(
                self.fetch_page(proof, pending, &mut next_report),
                self.ingest_page(page)
            );
            let (accepted, refused, invalid) = ingested?;
            report.accepted += accepted;
            report.refused += refused + invalid;
            report.bytes_sent += next_report.bytes_sent;
            report.bytes_received += next_report.bytes_received;
            if invalid > 0 {
                return Err(SyncError::Malformed(format!(
                    "{invalid} invalid messages in a page"
                )));
            }
            if let Some(progress) = &self.progress {
                let _ = progress
                    .send(Progress {
                        group: self.group.to_string(),
                        peer: self.peer.to_string(),
                        fetched: total - pending.len(),
                        total,
                    })
                    .await;
            }
            page = next?;
        }
        Ok(())
    }

    /// One page for the first ids of `pending`; empty when nothing is pending or the peer no
    /// longer has them (retention).
    async fn fetch_page(
        &self,
        proof: [u8; 32],
        pending: &[MessageId],
        report: &mut Report,
    ) -> Result<Vec<Vec<u8>>, SyncError> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let batch = &pending[..pending.len().min(MAX_FETCH_IDS)];
        let request = Request::Fetch {
            topic: self.topic.clone(),
            proof,
            ids: batch.to_vec(),
        };
        let Response::Messages { messages } = self.call(&request, report).await? else {
            return Err(SyncError::Malformed("expected a page of messages".into()));
        };
        if messages.len() > batch.len() {
            return Err(SyncError::OversizedPage(format!(
                "{} messages for {} ids",
                messages.len(),
                batch.len()
            )));
        }
        Ok(messages)
    }

    /// Hands a page to the actor for validation; `(accepted, refused, invalid)`.
    async fn ingest_page(
        &self,
        messages: Vec<Vec<u8>>,
    ) -> Result<(usize, usize, usize), SyncError> {
        let (reply, answer) = oneshot::channel();
        self.ingest
            .send(IngestBatch {
                group: self.group,
                messages,
                reply,
            })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)
    }
}

#[cfg(test)]
#[path = "sync_proptests.rs"]
mod sync_proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_peer_gets_its_burst_of_requests_then_busy_until_time_refills_it() {
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let mut budgets = RequestBudgets::default();
        let t0 = 1_000_000;
        let served = (0..REQUEST_BUDGET + 50)
            .filter(|_| budgets.take(ant, t0))
            .count();
        assert_eq!(served, REQUEST_BUDGET as usize);
        assert!(budgets.take(bat, t0), "another peer has its own budget");
        // 200 per 10 s: one more every 50 ms.
        assert!(!budgets.take(ant, t0 + 40));
        assert!(budgets.take(ant, t0 + 90));
    }

    #[test]
    fn request_budgets_stay_bounded() {
        let mut budgets = RequestBudgets::default();
        for _ in 0..MAX_REQUEST_BUDGETS + 10 {
            budgets.take(PeerId::random(), 5);
        }
        assert!(budgets.budgets.len() <= MAX_REQUEST_BUDGETS);
    }

    #[test]
    fn rounds_of_one_session_share_one_storage_and_sessions_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sessions = Mutex::new(SessionStorages::default());
        let group = GroupId::from_bytes([1; 32]);
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let first = initiate();
        let answer = serve_reconcile(&store, &sessions, ant, &group, 0, &first).unwrap();
        let again = serve_reconcile(&store, &sessions, ant, &group, 0, &first).unwrap();
        assert_eq!(answer, again);
        assert_eq!(
            sessions.lock().unwrap().len(),
            1,
            "one storage for ant's session"
        );
        serve_reconcile(&store, &sessions, bat, &group, 0, &first).unwrap();
        assert_eq!(sessions.lock().unwrap().len(), 2);
        let mut kept = SessionStorages::default();
        for since in 0..(MAX_SESSION_STORAGES as u64 + 5) {
            kept.keep((ant, group, since), Arc::new(storage(&[]).unwrap()));
        }
        assert_eq!(kept.len(), MAX_SESSION_STORAGES);
    }

    fn initiate() -> Vec<u8> {
        Negentropy::owned(storage(&[]).unwrap(), MAX_RECONCILE_FRAME)
            .and_then(|mut n| n.initiate())
            .unwrap()
    }

    #[test]
    fn frames_round_trip() {
        let requests = [
            hello(),
            Request::Reconcile {
                topic: "cove/1/ab".into(),
                proof: [1; 32],
                since: 5,
                msg: vec![0x61, 0],
            },
            Request::Fetch {
                topic: "t".into(),
                proof: [2; 32],
                ids: vec![MessageId([3; 32])],
            },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        let responses = [
            Response::Challenge {
                nonce: [4; 32],
                proof: [5; 32],
            },
            Response::Reconcile { msg: vec![0x61] },
            Response::Messages {
                messages: vec![vec![1, 2], vec![]],
            },
            Response::Error {
                code: ErrorCode::Unauthorized,
            },
        ];
        for r in responses {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn bytes_after_a_frame_are_refused() {
        // Found by fuzzing: a frame followed by anything decoded as if the rest was not there.
        let mut frame = hello().encode();
        frame.push(0);
        assert!(matches!(
            Request::decode(&frame),
            Err(SyncError::Malformed(detail)) if detail.contains("1 bytes after")
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(
            Request::decode(b"\xa0"),
            Err(SyncError::Malformed(_))
        ));
        assert!(matches!(
            Request::decode(b"junk"),
            Err(SyncError::Malformed(_))
        ));
        let too_many = Request::Fetch {
            topic: "t".into(),
            proof: [0; 32],
            ids: vec![MessageId([0; 32]); MAX_FETCH_IDS + 1],
        };
        assert!(matches!(
            Request::decode(&too_many.encode()),
            Err(SyncError::Malformed(_))
        ));
        let big = Response::Messages {
            messages: vec![vec![0; MAX_PAGE_BYTES / 2 + 1]; 2],
        };
        assert!(matches!(
            Response::decode(&big.encode()),
            Err(SyncError::OversizedPage(_))
        ));
        let mut wrong_version = hello().encode();
        let pos = wrong_version
            .windows(2)
            .position(|w| w == b"\x61v")
            .unwrap()
            + 2;
        wrong_version[pos] = 9;
        assert!(
            matches!(Request::decode(&wrong_version), Err(SyncError::Malformed(m)) if m.contains("version 9"))
        );
    }

    /// `{"v": SYNC_VERSION, "op": op}` followed by `extra` key/value bytes (the map header counts them
    /// as `extra_entries` more entries).
    fn frame(op: &str, extra_entries: u8, extra: &[u8]) -> Vec<u8> {
        let mut out = vec![
            0xa2 + extra_entries,
            0x61,
            b'v',
            SYNC_VERSION,
            0x62,
            b'o',
            b'p',
        ];
        out.push(0x60 + op.len() as u8);
        out.extend_from_slice(op.as_bytes());
        out.extend_from_slice(extra);
        out
    }

    fn key(name: &str) -> Vec<u8> {
        let mut out = vec![0x60 + name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out
    }

    /// `count` encoded 32-byte ids of `byte`.
    fn ids(count: usize, byte: u8) -> Vec<u8> {
        [&[0x58, 0x20][..], &[byte; 32]].concat().repeat(count)
    }

    /// Asserts a `Malformed` error whose detail contains `needle`.
    fn assert_malformed<T: std::fmt::Debug>(result: Result<T, SyncError>, needle: &str) {
        match result {
            Err(SyncError::Malformed(detail)) if detail.contains(needle) => {}
            other => panic!("expected a malformed error with {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn hostile_array_lengths_are_refused_before_allocating() {
        // Scenario: a responder (or requester) declares arrays far larger than any bound, or
        // than the frame itself. Assert: a typed error from the lengths alone; a decoder
        // that allocated for the declared length first would abort on capacity overflow.

        // 4 MiB of empty byte strings: ~4 million one-byte items, each of which used to
        // become a 24-byte Vec (about 100 MB) before the page bound was checked.
        let n: u32 = 4 * 1024 * 1024 - 64;
        let mut flood = key("messages");
        flood.push(0x9a);
        flood.extend_from_slice(&n.to_be_bytes());
        flood.resize(flood.len() + n as usize, 0x40);
        assert!(matches!(
            Response::decode(&frame("messages", 1, &flood)),
            Err(SyncError::OversizedPage(_))
        ));

        // Longer than the bytes that follow: about 2^61 messages, 256 ids with none present,
        // about 2^61 ids, a message of about 2^61 bytes.
        let huge = |head: u8| [vec![head], vec![0x1f], vec![0xff; 7]].concat();
        let short_ids = [
            key("topic"),
            vec![0x61, b't'],
            key("proof"),
            ids(1, 0),
            key("ids"),
            vec![0x99, 0x01, 0x00],
        ]
        .concat();
        let cases: [(bool, Vec<u8>); 4] = [
            (
                false,
                frame("messages", 1, &[key("messages"), huge(0x9b)].concat()),
            ),
            (true, frame("fetch", 3, &short_ids)),
            (true, frame("fetch", 1, &[key("ids"), huge(0x9b)].concat())),
            (
                false,
                frame("reconcile", 1, &[key("msg"), huge(0x5b)].concat()),
            ),
        ];
        for (is_request, bytes) in cases {
            if is_request {
                assert_malformed(Request::decode(&bytes), "left");
            } else {
                assert_malformed(Response::decode(&bytes), "left");
            }
        }
        // 257 ids, all present: refused by the bound before any is decoded.
        let too_many_ids = [key("ids"), vec![0x99, 0x01, 0x01], ids(257, 0)].concat();
        assert_malformed(
            Request::decode(&frame("fetch", 1, &too_many_ids)),
            "more than 256",
        );
    }

    #[test]
    fn fields_of_other_ops_and_unknown_keys_are_skipped_not_decoded() {
        // Scenario: a challenge carrying a large "ids" array and an unknown key. Assert: the
        // challenge decodes (both are ignored, §13.2); deep nesting and indefinite lengths
        // are refused.
        let extra = [
            key("nonce"),
            ids(1, 4),
            key("proof"),
            ids(1, 5),
            key("ids"),
            vec![0x99, 0x01, 0x00],
            ids(256, 0),
            key("later"),
            vec![0xa1, 0x01, 0x02],
        ]
        .concat();
        assert_eq!(
            Response::decode(&frame("challenge", 4, &extra)),
            Ok(Response::Challenge {
                nonce: [4; 32],
                proof: [5; 32]
            })
        );

        for (value, needle) in [
            (
                [key("later"), vec![0x81; 64], vec![0x00]].concat(),
                "nested deeper",
            ),
            (
                [key("later"), vec![0x9f, 0x00, 0xff]].concat(),
                "indefinite",
            ),
            ([key("v"), vec![0x01]].concat(), "twice"),
        ] {
            assert_malformed(Request::decode(&frame("hello", 1, &value)), needle);
        }
    }

    fn hello() -> Request {
        Request::Hello {
            topic: "cove/1/ab".into(),
            nonce: [9; 32],
        }
    }

    #[test]
    fn hello_and_challenge_need_their_fields_at_their_lengths() {
        // Scenario: hellos and challenges with a field missing or of the wrong length, and a
        // version-1 hello (no fields, `v` = 1). Assert: each is a typed `Malformed` error
        // saying what is wrong; none panics.
        let topic = [key("topic"), vec![0x61, b't']].concat();
        let nonce = |len: u8| [key("nonce"), vec![0x58, len], vec![1; len as usize]].concat();
        let proof = |len: u8| [key("proof"), vec![0x58, len], vec![2; len as usize]].concat();
        assert_malformed(
            Request::decode(&frame("hello", 1, &topic)),
            "hello frame lacks \"nonce\"",
        );
        assert_malformed(
            Request::decode(&frame("hello", 1, &nonce(32))),
            "hello frame lacks \"topic\"",
        );
        assert_malformed(
            Request::decode(&frame("hello", 2, &[topic.clone(), nonce(31)].concat())),
            "nonce is 31 bytes, expected 32",
        );
        assert_eq!(
            Request::decode(&frame("hello", 2, &[topic, nonce(32)].concat())),
            Ok(Request::Hello {
                topic: "t".into(),
                nonce: [1; 32]
            })
        );
        assert_malformed(
            Response::decode(&frame("challenge", 1, &nonce(32))),
            "challenge frame lacks \"proof\"",
        );
        assert_malformed(
            Response::decode(&frame("challenge", 2, &[nonce(32), proof(33)].concat())),
            "proof is 33 bytes, expected 32",
        );
        // What a version-1 requester sent: {"v": 1, "op": "hello"}.
        let mut v1_hello = frame("hello", 0, &[]);
        v1_hello[3] = 0x01;
        assert_malformed(
            Request::decode(&v1_hello),
            "sync version 1 is not supported",
        );
    }

    #[test]
    fn a_hello_is_answered_with_a_proof_only_for_a_held_group() {
        // Scenario: bat answers ant's hello once holding the group's key and once not.
        // Assert: the proof verifies for ant with bat as responder only: not with the key of
        // another group, not for another requester or responder (cat), not with the roles
        // swapped, and not reflected as a requester proof over bat's challenge. The decoy has
        // the same form and does not verify.
        let (ant, bat, cat) = (PeerId::random(), PeerId::random(), PeerId::random());
        let (key, nonce) = ([7; 32], [3; 32]);
        let mut challenges = Challenges::default();
        let Response::Challenge {
            nonce: challenge,
            proof,
        } = challenges.answer_hello(ant, &bat, Some(&key), &nonce)
        else {
            panic!("a hello is answered with a challenge");
        };
        let [a, b, c] = [ant, bat, cat].map(|p| p.to_bytes());
        assert!(verify_sync_responder_proof(&key, &nonce, &a, &b, &proof));
        assert!(!verify_sync_responder_proof(
            &[8; 32], &nonce, &a, &b, &proof
        ));
        assert!(!verify_sync_responder_proof(&key, &nonce, &c, &b, &proof));
        assert!(!verify_sync_responder_proof(&key, &nonce, &a, &c, &proof));
        assert!(!verify_sync_responder_proof(&key, &nonce, &b, &a, &proof));
        assert!(
            !challenges.verify(&ant, &bat, &key, &proof),
            "bat's proof reflected to bat as ant's"
        );
        assert!(
            !verify_sync_proof(&key, &nonce, &a, &b, &proof),
            "nor as a requester proof over the same nonce"
        );
        let own = sync_proof(&key, &challenge, &a, &b);
        assert!(challenges.verify(&ant, &bat, &key, &own));

        let Response::Challenge { proof: decoy, .. } =
            challenges.answer_hello(ant, &bat, None, &nonce)
        else {
            panic!("a hello is answered with a challenge");
        };
        assert!(!verify_sync_responder_proof(&key, &nonce, &a, &b, &decoy));
    }

    #[test]
    fn unproven_peers_are_left_alone_per_group_for_a_while_and_stay_bounded() {
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let (club, other) = (GroupId::from_bytes([1; 32]), GroupId::from_bytes([2; 32]));
        let backoff = UNPROVEN_BACKOFF.as_millis() as u64;
        let mut unproven = UnprovenPeers::default();
        unproven.mark(club, ant, 1_000);
        assert!(unproven.contains(&club, &ant, 1_000 + backoff - 1));
        assert!(
            !unproven.contains(&club, &ant, 1_000 + backoff),
            "time is up"
        );
        assert!(!unproven.contains(&other, &ant, 1_000), "another group");
        assert!(!unproven.contains(&club, &bat, 1_000), "another peer");
        for i in 0..MAX_UNPROVEN as u64 + 10 {
            unproven.mark(club, PeerId::random(), 2_000 + i);
        }
        assert!(unproven.until_ms.len() <= MAX_UNPROVEN);
    }

    #[test]
    fn challenges_bind_peer_and_are_replaced() {
        let (ant, bat, cat) = (PeerId::random(), PeerId::random(), PeerId::random());
        let key = [7; 32];
        let mut challenges = Challenges::default();
        let nonce = challenges.issue(ant);
        let proof = sync_proof(&key, &nonce, &ant.to_bytes(), &bat.to_bytes());
        assert!(challenges.verify(&ant, &bat, &key, &proof));
        assert!(
            !challenges.verify(&cat, &bat, &key, &proof),
            "another peer replays it"
        );
        assert!(
            !challenges.verify(&ant, &bat, &[8; 32], &proof),
            "wrong key"
        );
        challenges.issue(ant);
        assert!(
            !challenges.verify(&ant, &bat, &key, &proof),
            "old challenge replaced"
        );
        challenges.forget(&ant);
        assert!(!challenges.verify(&ant, &bat, &key, &proof));
    }

    #[test]
    fn reconciliation_finds_the_difference() {
        let ours: Vec<(u64, MessageId)> = (0..1000u64)
            .map(|i| (i, MessageId([(i % 251) as u8; 32])))
            .collect();
        let mut theirs_items: Vec<(u64, MessageId)> =
            ours.iter().copied().filter(|(t, _)| t % 100 != 0).collect();
        theirs_items.push((5000, MessageId([0xee; 32])));
        let mut client =
            Negentropy::owned(storage(&theirs_items).unwrap(), MAX_RECONCILE_FRAME).unwrap();
        let mut server = Negentropy::owned(storage(&ours).unwrap(), MAX_RECONCILE_FRAME).unwrap();
        let mut msg = client.initiate().unwrap();
        let (mut have, mut need) = (Vec::new(), Vec::new());
        for _ in 0..MAX_ROUNDS {
            let answer = server.reconcile(&msg).unwrap();
            match client
                .reconcile_with_ids(&answer, &mut have, &mut need)
                .unwrap()
            {
                Some(next) => msg = next,
                None => break,
            }
        }
        assert_eq!(need.len(), 10);
        assert_eq!(have.len(), 1);
    }
}
