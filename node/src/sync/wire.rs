//! The sync protocol on the wire: requests, responses and their CBOR frames, parsed by a
//! bounded reader that refuses anything deeper, longer or other than PROTOCOL.md §13 says.

use super::*;

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ask for a challenge, and for the responder's proof.
    Hello {
        /// The group's gossip topic (the responder announced it: it tells it nothing new).
        topic: String,
        /// The requester's fresh random nonce, which the responder proves over.
        nonce: [u8; 32],
        /// The tag of the key epoch whose sync key both proofs of this session use (§13.3,
        /// §15); absent on the wire when 0.
        epoch: u32,
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
    /// Ask to be admitted with an invite ticket (§17).
    Admit(AdmitRequest),
    /// At a door: ask for the re-keys a member missed (§15).
    Epochs(EpochsRequest),
}

/// A member's request at a door for the `rekey` messages of its group from its current epoch's
/// number on (§15), signed by its pseudonym for this one door, now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochsRequest {
    /// The group's id.
    pub group: [u8; 32],
    /// The member's pseudonym in the group.
    pub member: [u8; 32],
    /// The number of the member's current epoch.
    pub epoch: u32,
    /// When it asked (its clock, unix ms).
    pub at: u64,
    /// The pseudonym's signature over [`EpochsRequest::signed_bytes`].
    pub sig: [u8; 64],
}

impl EpochsRequest {
    /// What the signature signs: group ‖ member ‖ u32be(epoch) ‖ u64be(at) ‖ the door's peer
    /// id (its bytes, §10.1), so that the request is good at that door only.
    pub fn signed_bytes(&self, door: &[u8]) -> Vec<u8> {
        [
            &self.group[..],
            &self.member,
            &self.epoch.to_be_bytes(),
            &self.at.to_be_bytes(),
            door,
        ]
        .concat()
    }
}

/// An admission request (§17): the newcomer names its ticket, its pseudonym and member key,
/// and signs them with the ticket key (`proof`) and with its pseudonym (`sig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmitRequest {
    /// The group's id.
    pub group: [u8; 32],
    /// The ticket's id (the ticket key's public key).
    pub ticket: [u8; 32],
    /// The newcomer's pseudonym in the group.
    pub member: [u8; 32],
    /// The newcomer's X25519 member key in the group (§2).
    pub key: [u8; 32],
    /// The ticket key's signature over [`AdmitRequest::signed_bytes`].
    pub proof: [u8; 64],
    /// The pseudonym's signature over the same bytes.
    pub sig: [u8; 64],
}

impl AdmitRequest {
    /// What both signatures sign: group ‖ ticket ‖ member ‖ key.
    pub fn signed_bytes(&self) -> Vec<u8> {
        [self.group, self.ticket, self.member, self.key].concat()
    }
}

/// One epoch secret in a welcome, wrapped to the newcomer's member key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WelcomeEpoch {
    /// The epoch's number.
    pub number: u32,
    /// Its tag.
    pub tag: u32,
    /// The wrapped secret (48 bytes).
    pub key: Vec<u8>,
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
    /// Admission: no ticket with this id is known to the responder.
    UnknownTicket,
    /// Admission: the ticket was withdrawn, or its inviter may no longer invite.
    Revoked,
    /// Admission: the ticket has expired.
    Expired,
    /// Admission: the ticket has admitted as many members as it allows.
    Spent,
    /// Admission: the newcomer's pseudonym is banned from the group.
    Banned,
}

impl ErrorCode {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Malformed => "malformed",
            ErrorCode::Busy => "busy",
            ErrorCode::UnknownTicket => "unknown_ticket",
            ErrorCode::Revoked => "revoked",
            ErrorCode::Expired => "expired",
            ErrorCode::Spent => "spent",
            ErrorCode::Banned => "banned",
        }
    }

    fn parse(code: &str) -> Option<ErrorCode> {
        Some(match code {
            "unauthorized" => ErrorCode::Unauthorized,
            "malformed" => ErrorCode::Malformed,
            "busy" => ErrorCode::Busy,
            "unknown_ticket" => ErrorCode::UnknownTicket,
            "revoked" => ErrorCode::Revoked,
            "expired" => ErrorCode::Expired,
            "spent" => ErrorCode::Spent,
            "banned" => ErrorCode::Banned,
            _ => return None,
        })
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
    /// Admitted (§17): the group secret and the epoch secrets, wrapped to the newcomer.
    Welcome {
        /// The ephemeral X25519 public key everything is wrapped with.
        ephemeral: [u8; 32],
        /// The group secret, wrapped with tag 0 (48 bytes).
        secret: Vec<u8>,
        /// The responder's epoch secrets after the first (at most [`MAX_WELCOME_EPOCHS`]).
        epochs: Vec<WelcomeEpoch>,
        /// Where the responder is in the group's network, multiaddrs ending in `/p2p/<peer
        /// id>` (at most [`MAX_WELCOME_ADDRS`]): the ticket named only doors (§10.3).
        addrs: Vec<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ephemeral: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epochs: Option<Vec<(u32, u32, ByteBuf)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    addrs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<u64>,
}

/// Most epoch secrets a welcome carries (the newest), as an invite did (§6).
pub const MAX_WELCOME_EPOCHS: usize = 64;
/// Most network addresses a welcome carries, and the longest one, in bytes.
pub const MAX_WELCOME_ADDRS: usize = 16;
/// The longest address in a welcome, in bytes (as in an address record, §10.1).
pub const MAX_WELCOME_ADDR_LEN: usize = 256;

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
const FRAME_KEYS: [&str; 21] = [
    "v",
    "op",
    "topic",
    "proof",
    "since",
    "msg",
    "ids",
    "nonce",
    "messages",
    "code",
    "epoch",
    "group",
    "ticket",
    "member",
    "key",
    "sig",
    "ephemeral",
    "secret",
    "epochs",
    "addrs",
    "at",
];

/// The position of a known key in [`FRAME_KEYS`].
fn key_index(key: &str) -> usize {
    FRAME_KEYS
        .iter()
        .position(|k| *k == key)
        .expect("a known frame key")
}

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
        let pos = self.at[key_index(key)].ok_or_else(|| {
            let frame = if self.op.is_empty() { "sync" } else { self.op };
            malformed(format!("{frame} frame lacks {key:?}"))
        })?;
        Ok(Reader { buf: self.buf, pos })
    }

    fn text(&self, key: &str) -> Result<&'a str, SyncError> {
        self.reader(key)?.text(key)
    }

    /// The optional `addrs` of a `welcome`: none when absent, else at most
    /// [`MAX_WELCOME_ADDRS`] text strings of at most [`MAX_WELCOME_ADDR_LEN`] bytes.
    fn welcome_addrs(&self) -> Result<Vec<String>, SyncError> {
        if self.at[key_index("addrs")].is_none() {
            return Ok(Vec::new());
        }
        let mut r = self.reader("addrs")?;
        let count = r.array("addrs", MAX_WELCOME_ADDRS, 1, SyncError::Malformed)?;
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            let addr = r.text("an address")?;
            if addr.is_empty() || addr.len() > MAX_WELCOME_ADDR_LEN {
                return Err(malformed(format!(
                    "an address is {} bytes, expected 1 to {MAX_WELCOME_ADDR_LEN}",
                    addr.len()
                )));
            }
            addrs.push(addr.to_owned());
        }
        Ok(addrs)
    }

    /// The optional `epoch` tag of a `hello`: 0 when absent, at most 32 bits.
    fn epoch(&self) -> Result<u32, SyncError> {
        if self.at[key_index("epoch")].is_none() {
            return Ok(0);
        }
        let tag = self.reader("epoch")?.uint("epoch")?;
        u32::try_from(tag).map_err(|_| malformed(format!("epoch {tag} does not fit in 32 bits")))
    }

    fn bytes32(&self, key: &str) -> Result<[u8; 32], SyncError> {
        self.reader(key)?.bytes32(key)
    }

    fn bytes_of<const N: usize>(&self, key: &str) -> Result<[u8; N], SyncError> {
        let bytes = self.reader(key)?.bytes(key)?;
        bytes
            .try_into()
            .map_err(|_| malformed(format!("{key} is {} bytes, expected {N}", bytes.len())))
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
            Request::Hello {
                topic,
                nonce,
                epoch,
            } => Frame {
                v: SYNC_VERSION,
                op: "hello".into(),
                topic: Some(topic.clone()),
                nonce: Some(ByteBuf::from(nonce.to_vec())),
                epoch: (*epoch != 0).then_some(u64::from(*epoch)),
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
            Request::Admit(a) => Frame {
                v: SYNC_VERSION,
                op: "admit".into(),
                group: Some(ByteBuf::from(a.group.to_vec())),
                ticket: Some(ByteBuf::from(a.ticket.to_vec())),
                member: Some(ByteBuf::from(a.member.to_vec())),
                key: Some(ByteBuf::from(a.key.to_vec())),
                proof: Some(ByteBuf::from(a.proof.to_vec())),
                sig: Some(ByteBuf::from(a.sig.to_vec())),
                ..Frame::default()
            },
            Request::Epochs(e) => Frame {
                v: SYNC_VERSION,
                op: "epochs".into(),
                group: Some(ByteBuf::from(e.group.to_vec())),
                member: Some(ByteBuf::from(e.member.to_vec())),
                epoch: (e.epoch != 0).then_some(u64::from(e.epoch)),
                at: Some(e.at),
                sig: Some(ByteBuf::from(e.sig.to_vec())),
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
                epoch: f.epoch()?,
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
            "admit" => Request::Admit(AdmitRequest {
                group: f.bytes32("group")?,
                ticket: f.bytes32("ticket")?,
                member: f.bytes32("member")?,
                key: f.bytes32("key")?,
                proof: f.bytes_of("proof")?,
                sig: f.bytes_of("sig")?,
            }),
            "epochs" => Request::Epochs(EpochsRequest {
                group: f.bytes32("group")?,
                member: f.bytes32("member")?,
                epoch: f.epoch()?,
                at: f.reader("at")?.uint("at")?,
                sig: f.bytes_of("sig")?,
            }),
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
            Response::Welcome {
                ephemeral,
                secret,
                epochs,
                addrs,
            } => Frame {
                v: SYNC_VERSION,
                op: "welcome".into(),
                ephemeral: Some(ByteBuf::from(ephemeral.to_vec())),
                secret: Some(ByteBuf::from(secret.clone())),
                epochs: Some(
                    epochs
                        .iter()
                        .map(|e| (e.number, e.tag, ByteBuf::from(e.key.clone())))
                        .collect(),
                ),
                addrs: (!addrs.is_empty()).then(|| addrs.clone()),
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
            "welcome" => {
                let wrapped = cove_crypto::WRAPPED_LEN;
                let secret: [u8; cove_crypto::WRAPPED_LEN] = f.bytes_of("secret")?;
                let mut r = f.reader("epochs")?;
                // Each entry is at least a 1-byte array head, two 1-byte uints and the key.
                let count = r.array(
                    "epochs",
                    MAX_WELCOME_EPOCHS,
                    3 + wrapped,
                    SyncError::Malformed,
                )?;
                let mut epochs = Vec::with_capacity(count);
                for _ in 0..count {
                    if r.head()? != (4, 3) {
                        return Err(malformed("a welcome epoch is an array of 3 items"));
                    }
                    let number = r.uint("epoch number")?;
                    let tag = r.uint("epoch tag")?;
                    let key = r.bytes("epoch key")?;
                    let (Ok(number), Ok(tag)) = (u32::try_from(number), u32::try_from(tag)) else {
                        return Err(malformed("an epoch number or tag does not fit in 32 bits"));
                    };
                    if key.len() != wrapped {
                        return Err(malformed(format!(
                            "a wrapped epoch key is {} bytes, expected {wrapped}",
                            key.len()
                        )));
                    }
                    epochs.push(WelcomeEpoch {
                        number,
                        tag,
                        key: key.to_vec(),
                    });
                }
                Response::Welcome {
                    ephemeral: f.bytes32("ephemeral")?,
                    secret: secret.to_vec(),
                    epochs,
                    addrs: f.welcome_addrs()?,
                }
            }
            "error" => Response::Error {
                code: ErrorCode::parse(f.text("code")?).ok_or_else(|| {
                    malformed(format!(
                        "unknown error code {:?}",
                        f.text("code").unwrap_or("")
                    ))
                })?,
            },
            other => {
                return Err(SyncError::Malformed(format!(
                    "unknown response op {other:?}"
                )))
            }
        })
    }
}
