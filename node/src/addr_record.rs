//! Address records (PROTOCOL.md §10.1): a member's peer id in one group's network, where it
//! listens and when it said so, signed by that network's **peer key** (never by a pseudonym:
//! that would tie a pseudonym to an address) and sealed like any group message on the
//! group's address topic. Any one reachable member so tells the others where everyone now is.
//!
//! The one way in is [`judge`]: size, opening, deterministic CBOR, version, fields, signature,
//! group, then the checks that depend on this node's clock and memory. It is pure: the actor
//! (`actor/peers.rs`) supplies the newest record it knows of the peer, and stores what is
//! accepted in the group's [`crate::addr_book::NetMemory`].

use ciborium::Value;
use cove_crypto::{open, seal, ContentKey, Domain, GroupId, Pseudonym, PublicKey, Signature};
use cove_gossip::{Multiaddr, PeerId, Protocol};
use serde::Serialize;

use crate::addr_book::MAX_PEER_ADDRS;
use crate::message::cbor::{check_canonical, to_canonical_vec};
use crate::message::from_cbor_exact;

/// The only record version.
pub const ADDR_RECORD_VERSION: u64 = 1;
/// Largest signed record (the envelope's plaintext).
pub const MAX_ADDR_RECORD_BYTES: usize = 2048;
/// Largest sealed record: the record plus the envelope's header and tag (§5).
pub const MAX_ADDR_ENVELOPE_BYTES: usize =
    MAX_ADDR_RECORD_BYTES + cove_crypto::ENVELOPE_HEADER_LEN + cove_crypto::TAG_LEN;
/// Longest address, as text.
pub const MAX_ADDR_TEXT_BYTES: usize = 256;
/// How far in the future (by this node's clock) a record's `at` may lie.
pub const MAX_RECORD_FUTURE_MS: u64 = 5 * 60 * 1000;
/// Records older than this are not taken: a member gone this long is found through newer
/// records, or by its invite address.
pub const MAX_RECORD_AGE_MS: u64 = 30 * 24 * 3600 * 1000;

/// The gossipsub topic of a group's address records: the group's topic (§3) and `/addr`.
pub fn addr_topic(topic: &str) -> String {
    format!("{topic}/addr")
}

/// The gossipsub topic of a group's door records (§10.1, §10.3): the group's topic and
/// `/door`.
pub fn door_topic(topic: &str) -> String {
    format!("{topic}/door")
}

/// What a record says where it is: a member's place in the group's network (an address
/// record), or its door (a door record, §10.3). The two share the format and the rules; each
/// has its own topic and signing domain, so that neither passes for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An address record, on the address topic.
    Address,
    /// A door record, on the door topic.
    Door,
}

impl Kind {
    /// Its topic in the group whose topic is `topic`.
    pub fn topic(self, topic: &str) -> String {
        match self {
            Kind::Address => addr_topic(topic),
            Kind::Door => door_topic(topic),
        }
    }

    /// Its signing domain.
    pub fn domain(self) -> Domain {
        match self {
            Kind::Address => Domain::AddrRecord,
            Kind::Door => Domain::DoorRecord,
        }
    }
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrRecord {
    /// The group whose network it describes.
    pub group: GroupId,
    /// The peer's Ed25519 public key (its peer key in that network), which signed it.
    pub peer: PeerId,
    /// Where the peer listens, without `/p2p/`.
    pub addrs: Vec<Multiaddr>,
    /// When the peer made it (its clock, unix ms).
    pub at_ms: u64,
}

/// A record and its exact signed bytes (what is relayed and stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRecord {
    /// The CBOR `{"v", "sig", "body"}` map, byte for byte.
    pub bytes: Vec<u8>,
    /// What it says.
    pub record: AddrRecord,
}

/// Why a record is refused. [`Refusal::is_penalised`] splits Reject from Ignore as §9 does:
/// only what follows from the record's own bytes is Reject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Larger than [`MAX_ADDR_ENVELOPE_BYTES`] or [`MAX_ADDR_RECORD_BYTES`].
    #[error("address record of {len} bytes is larger than {max}")]
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The envelope does not open under the group's content key on the address topic.
    #[error("address record does not open under this group's key: {0}")]
    Undecryptable(String),
    /// Not the deterministic CBOR encoding of its value.
    #[error("address record is not deterministically encoded: {0}")]
    NonCanonical(String),
    /// A version other than [`ADDR_RECORD_VERSION`].
    #[error("address record version {0} is not supported (max {ADDR_RECORD_VERSION})")]
    UnsupportedVersion(u64),
    /// A missing, unknown or mistyped field, or a bad address.
    #[error("malformed address record: {0}")]
    Malformed(String),
    /// The signature is not the described peer key's over the body.
    #[error("address record not signed by the peer key it describes")]
    BadSignature,
    /// It describes another group's network.
    #[error("address record of another group ({0})")]
    WrongGroup(String),
    /// It describes this node itself.
    #[error("address record of this node itself")]
    Own,
    /// `at` is further in the future than [`MAX_RECORD_FUTURE_MS`].
    #[error("address record dated {at_ms}, more than 5 min after now ({now_ms})")]
    FromFuture {
        /// Its `at`.
        at_ms: u64,
        /// This node's clock.
        now_ms: u64,
    },
    /// `at` is older than [`MAX_RECORD_AGE_MS`].
    #[error("address record dated {at_ms} is older than 30 days")]
    Expired {
        /// Its `at`.
        at_ms: u64,
    },
    /// Not newer than the record already known of that peer (a duplicate included).
    #[error("address record not newer than the one known")]
    Stale,
}

impl Refusal {
    /// The counter `cove status` shows for it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Oversized { .. } => "addr_oversized",
            Refusal::Undecryptable(_) => "addr_undecryptable",
            Refusal::NonCanonical(_) => "addr_non_canonical",
            Refusal::UnsupportedVersion(_) => "addr_unsupported_version",
            Refusal::Malformed(_) => "addr_malformed",
            Refusal::BadSignature => "addr_bad_signature",
            Refusal::WrongGroup(_) => "addr_wrong_group",
            Refusal::Own => "addr_own",
            Refusal::FromFuture { .. } => "addr_from_future",
            Refusal::Expired { .. } => "addr_expired",
            Refusal::Stale => "addr_stale",
        }
    }

    /// Reject (the relaying peer is penalised) when the verdict follows from the record's
    /// own bytes and the group's key; Ignore when it depends on this node's clock or on
    /// what it has seen.
    pub fn is_penalised(&self) -> bool {
        !matches!(
            self,
            Refusal::Own | Refusal::FromFuture { .. } | Refusal::Expired { .. } | Refusal::Stale
        )
    }
}

#[derive(Serialize)]
struct WireRecord<'a> {
    v: u64,
    #[serde(with = "serde_bytes")]
    sig: &'a [u8],
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
}

#[derive(Serialize)]
struct WireBody<'a> {
    at: u64,
    #[serde(with = "serde_bytes")]
    peer: &'a [u8],
    addrs: Vec<String>,
    #[serde(with = "serde_bytes")]
    group: &'a [u8],
}

/// Signs an address record of `peer_key`'s peer in `group`'s network listening on `addrs` (at
/// most [`MAX_PEER_ADDRS`] are kept; `/p2p/` suffixes are dropped) at `at_ms`.
pub fn sign_record(
    peer_key: &Pseudonym,
    group: &GroupId,
    addrs: &[Multiaddr],
    at_ms: u64,
) -> SignedRecord {
    sign_record_as(Kind::Address, peer_key, group, addrs, at_ms)
}

/// [`sign_record`] for a record of `kind`.
pub fn sign_record_as(
    kind: Kind,
    peer_key: &Pseudonym,
    group: &GroupId,
    addrs: &[Multiaddr],
    at_ms: u64,
) -> SignedRecord {
    let addrs: Vec<Multiaddr> = addrs
        .iter()
        .map(without_p2p)
        .filter(|a| !a.is_empty() && a.to_string().len() <= MAX_ADDR_TEXT_BYTES)
        .take(MAX_PEER_ADDRS)
        .collect();
    let body = to_canonical_vec(&WireBody {
        at: at_ms,
        peer: peer_key.public().as_bytes(),
        addrs: addrs.iter().map(|a| a.to_string()).collect(),
        group: group.as_bytes(),
    });
    let sig = peer_key.sign(kind.domain(), &body).to_bytes();
    let bytes = to_canonical_vec(&WireRecord {
        v: ADDR_RECORD_VERSION,
        sig: &sig,
        body: &body,
    });
    let peer = cove_gossip::ed25519_peer_id(peer_key.public().as_bytes())
        .expect("an Ed25519 public key has a peer id");
    SignedRecord {
        bytes,
        record: AddrRecord {
            group: *group,
            peer,
            addrs,
            at_ms,
        },
    }
}

/// Seals a signed record for `topic`'s address topic under the group's content key.
pub fn seal_record(key: &ContentKey, topic: &str, epoch: u32, record: &SignedRecord) -> Vec<u8> {
    seal_record_as(Kind::Address, key, topic, epoch, record)
}

/// [`seal_record`] for a record of `kind`, on its topic.
pub fn seal_record_as(
    kind: Kind,
    key: &ContentKey,
    topic: &str,
    epoch: u32,
    record: &SignedRecord,
) -> Vec<u8> {
    seal(key, &kind.topic(topic), epoch, &record.bytes)
}

/// `addr` without its trailing `/p2p/...` (the peer's own id). A `/p2p/RELAY` followed by
/// `/p2p-circuit`, a relayed address (issue 16), stays.
pub(crate) fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    while matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// Whether `addr` names a peer id other than a relay's: a `/p2p/` component that is not
/// followed by `/p2p-circuit`.
fn names_a_peer(addr: &Multiaddr) -> bool {
    let parts: Vec<Protocol<'_>> = addr.iter().collect();
    parts.iter().enumerate().any(|(i, p)| {
        matches!(p, Protocol::P2p(_)) && !matches!(parts.get(i + 1), Some(Protocol::P2pCircuit))
    })
}

/// What the judge reads besides the record: the group's network and this node's memory.
#[derive(Debug)]
pub struct Context<'a> {
    /// The group whose address topic the envelope came on.
    pub group: GroupId,
    /// The group's topic string (§3); the envelope's AAD names its address topic.
    pub topic: &'a str,
    /// The content key of the envelope's epoch.
    pub key: &'a ContentKey,
    /// This node's peer id in the group's network.
    pub me: PeerId,
    /// This node's clock (unix ms).
    pub now_ms: u64,
    /// Which records the topic carries.
    pub kind: Kind,
}

/// The one way from an envelope on a group's address topic to a record: §10.1's checks in
/// order, first failure wins. `known_at` is the `at` of the newest record already accepted
/// of a peer.
pub fn judge(
    envelope: &[u8],
    cx: &Context<'_>,
    known_at: impl FnOnce(&PeerId) -> Option<u64>,
) -> Result<SignedRecord, Refusal> {
    if envelope.len() > MAX_ADDR_ENVELOPE_BYTES {
        return Err(Refusal::Oversized {
            len: envelope.len(),
            max: MAX_ADDR_ENVELOPE_BYTES,
        });
    }
    let bytes = open(cx.key, &cx.kind.topic(cx.topic), envelope)
        .map_err(|e| Refusal::Undecryptable(e.to_string()))?;
    let signed = verify_and_decode_as(cx.kind, &bytes)?;
    let record = &signed.record;
    if record.group != cx.group {
        return Err(Refusal::WrongGroup(record.group.short()));
    }
    if record.peer == cx.me {
        return Err(Refusal::Own);
    }
    if record.at_ms > cx.now_ms.saturating_add(MAX_RECORD_FUTURE_MS) {
        return Err(Refusal::FromFuture {
            at_ms: record.at_ms,
            now_ms: cx.now_ms,
        });
    }
    if record.at_ms.saturating_add(MAX_RECORD_AGE_MS) < cx.now_ms {
        return Err(Refusal::Expired {
            at_ms: record.at_ms,
        });
    }
    if known_at(&record.peer).is_some_and(|known| known >= record.at_ms) {
        return Err(Refusal::Stale);
    }
    Ok(signed)
}

/// Size, deterministic CBOR, version, fields and signature of a signed record (the
/// plaintext of its envelope).
pub fn verify_and_decode(bytes: &[u8]) -> Result<SignedRecord, Refusal> {
    verify_and_decode_as(Kind::Address, bytes)
}

/// [`verify_and_decode`] for a record of `kind`.
pub fn verify_and_decode_as(kind: Kind, bytes: &[u8]) -> Result<SignedRecord, Refusal> {
    if bytes.len() > MAX_ADDR_RECORD_BYTES {
        return Err(Refusal::Oversized {
            len: bytes.len(),
            max: MAX_ADDR_RECORD_BYTES,
        });
    }
    let outer = canonical_map(bytes, "record")?;
    let mut outer = Fields::new(outer, "record", &["v", "sig", "body"])?;
    let v = outer.uint("v")?;
    if v != ADDR_RECORD_VERSION {
        return Err(Refusal::UnsupportedVersion(v));
    }
    outer.closed()?;
    let sig = outer.bytes("sig")?;
    let body = outer.bytes("body")?;
    let mut fields = Fields::new(
        canonical_map(&body, "body")?,
        "body",
        &["at", "peer", "addrs", "group"],
    )?;
    fields.closed()?;
    let at_ms = fields.uint("at")?;
    let key = fixed32(fields.bytes("peer")?, "peer")?;
    let group = GroupId::from_bytes(fixed32(fields.bytes("group")?, "group")?);
    let Value::Array(list) = fields.take("addrs")? else {
        return Err(Refusal::Malformed("\"addrs\" is not an array".into()));
    };
    if list.is_empty() || list.len() > MAX_PEER_ADDRS {
        return Err(Refusal::Malformed(format!(
            "{} addresses (1 to {MAX_PEER_ADDRS})",
            list.len()
        )));
    }
    let addrs = list
        .into_iter()
        .map(parse_addr)
        .collect::<Result<Vec<_>, _>>()?;
    let public = PublicKey::from_bytes(key)
        .map_err(|e| Refusal::Malformed(format!("\"peer\" is not an Ed25519 key: {e}")))?;
    let sig =
        Signature::from_slice(&sig).map_err(|e| Refusal::Malformed(format!("\"sig\": {e}")))?;
    public
        .verify(kind.domain(), &body, &sig)
        .map_err(|_| Refusal::BadSignature)?;
    let peer = cove_gossip::ed25519_peer_id(&key)
        .ok_or_else(|| Refusal::Malformed("\"peer\" is not an Ed25519 key".into()))?;
    Ok(SignedRecord {
        bytes: bytes.to_vec(),
        record: AddrRecord {
            group,
            peer,
            addrs,
            at_ms,
        },
    })
}

/// One CBOR map filling `bytes`, in its deterministic encoding.
fn canonical_map(bytes: &[u8], what: &str) -> Result<Vec<(Value, Value)>, Refusal> {
    let value: Value =
        from_cbor_exact(bytes).map_err(|e| Refusal::Malformed(format!("{what}: {e}")))?;
    check_canonical(bytes, &value).map_err(|e| Refusal::NonCanonical(format!("{what}: {e}")))?;
    match value {
        Value::Map(entries) => Ok(entries),
        _ => Err(Refusal::Malformed(format!("the {what} is not a CBOR map"))),
    }
}

/// The text-keyed fields of a closed map.
struct Fields {
    what: &'static str,
    known: Vec<(String, Value)>,
    unknown: Option<String>,
}

impl Fields {
    fn new(
        entries: Vec<(Value, Value)>,
        what: &'static str,
        allowed: &[&str],
    ) -> Result<Self, Refusal> {
        let mut fields = Fields {
            what,
            known: Vec::new(),
            unknown: None,
        };
        for (key, value) in entries {
            match key.as_text() {
                Some(k) if allowed.contains(&k) => fields.known.push((k.to_owned(), value)),
                _ => {
                    fields.unknown.get_or_insert_with(|| format!("{key:?}"));
                }
            }
        }
        Ok(fields)
    }

    /// Refuses a key the map does not allow (checked after the version).
    fn closed(&self) -> Result<(), Refusal> {
        match &self.unknown {
            Some(key) => Err(Refusal::Malformed(format!(
                "unknown key {key} in the {}",
                self.what
            ))),
            None => Ok(()),
        }
    }

    fn take(&mut self, key: &str) -> Result<Value, Refusal> {
        let at = self.known.iter().position(|(k, _)| k == key);
        at.map(|i| self.known.swap_remove(i).1)
            .ok_or_else(|| Refusal::Malformed(format!("the {} has no {key:?}", self.what)))
    }

    fn uint(&mut self, key: &str) -> Result<u64, Refusal> {
        match self.take(key)? {
            Value::Integer(i) => u64::try_from(i)
                .map_err(|_| Refusal::Malformed(format!("{key:?} is not an unsigned integer"))),
            _ => Err(Refusal::Malformed(format!("{key:?} is not an integer"))),
        }
    }

    fn bytes(&mut self, key: &str) -> Result<Vec<u8>, Refusal> {
        match self.take(key)? {
            Value::Bytes(b) => Ok(b),
            _ => Err(Refusal::Malformed(format!("{key:?} is not a byte string"))),
        }
    }
}

fn fixed32(bytes: Vec<u8>, key: &str) -> Result<[u8; 32], Refusal> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| Refusal::Malformed(format!("{key:?} has {len} bytes, not 32")))
}

/// An address of a record: text of at most [`MAX_ADDR_TEXT_BYTES`] bytes, a multiaddr, with
/// no `/p2p/` component except a relay's, right before `/p2p-circuit` (the record's own peer
/// is named by the record, never in an address).
fn parse_addr(value: Value) -> Result<Multiaddr, Refusal> {
    let Value::Text(text) = value else {
        return Err(Refusal::Malformed("an address is not a text string".into()));
    };
    if text.is_empty() || text.len() > MAX_ADDR_TEXT_BYTES {
        return Err(Refusal::Malformed(format!(
            "an address of {} bytes (1 to {MAX_ADDR_TEXT_BYTES})",
            text.len()
        )));
    }
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| Refusal::Malformed(format!("{text:?} is not a multiaddr: {e}")))?;
    if names_a_peer(&addr) {
        return Err(Refusal::Malformed(format!("{text:?} names a peer id")));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_crypto::{DeviceKey, GroupSecret};

    struct Fixture {
        secret: GroupSecret,
        key: Pseudonym,
        addrs: Vec<Multiaddr>,
    }

    fn fixture() -> Fixture {
        let secret = GroupSecret::from_bytes([0x22; 32]);
        let device = DeviceKey::from_bytes([0x66; 32]);
        Fixture {
            key: Pseudonym::from_secret_bytes(device.peer_secret(&secret.id())),
            addrs: vec!["/ip4/192.0.2.7/tcp/41002".parse().unwrap()],
            secret,
        }
    }

    fn cx<'a>(secret: &GroupSecret, topic: &'a str, key: &'a ContentKey, now: u64) -> Context<'a> {
        Context {
            group: secret.id(),
            topic,
            key,
            me: PeerId::random(),
            now_ms: now,
            kind: Kind::Address,
        }
    }

    #[test]
    fn a_door_record_is_no_address_record_and_the_reverse() {
        let f = fixture();
        let topic = f.secret.topic();
        let key = f.secret.content_key(0);
        let door = sign_record_as(Kind::Door, &f.key, &f.secret.id(), &f.addrs, 1_000);
        let sealed = seal_record_as(Kind::Door, &key, &topic, 0, &door);
        let door_cx = Context {
            kind: Kind::Door,
            ..cx(&f.secret, &topic, &key, 2_000)
        };
        assert_eq!(judge(&sealed, &door_cx, |_| None).unwrap(), door);
        // Sealed on the door topic, it does not open as an address record...
        let err = judge(&sealed, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert!(matches!(err, Refusal::Undecryptable(_)), "{err}");
        // ...and re-sealed on the address topic, its signature is a door record's.
        let crossed = seal_record(&key, &topic, 0, &door);
        let err = judge(&crossed, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert_eq!(err, Refusal::BadSignature);
        let address = sign_record(&f.key, &f.secret.id(), &f.addrs, 1_000);
        let crossed = seal_record_as(Kind::Door, &key, &topic, 0, &address);
        assert_eq!(
            judge(&crossed, &door_cx, |_| None).unwrap_err(),
            Refusal::BadSignature
        );
    }

    #[test]
    fn a_record_round_trips_and_only_a_newer_one_is_taken() {
        let f = fixture();
        let (topic, key) = (f.secret.topic(), f.secret.content_key(0));
        let signed = sign_record(&f.key, &f.secret.id(), &f.addrs, 1_000);
        let envelope = seal_record(&key, &topic, 0, &signed);
        let got = judge(&envelope, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap();
        assert_eq!(got, signed);
        assert_eq!(
            judge(&envelope, &cx(&f.secret, &topic, &key, 2_000), |_| Some(
                1_000
            )),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn a_record_signed_by_another_key_is_a_forgery() {
        let f = fixture();
        let body = to_canonical_vec(&WireBody {
            at: 1_000,
            peer: f.key.public().as_bytes(),
            addrs: vec!["/ip4/192.0.2.66/tcp/1".into()],
            group: f.secret.id().as_bytes(),
        });
        // Another peer key, the member's pseudonym, or the right key in the wrong domain.
        let pseudonym = cove_crypto::MasterSeed::from_bytes([0x11; 32]).pseudonym(&f.secret.id());
        let forgeries = [
            Pseudonym::from_secret_bytes([9; 32]).sign(Domain::AddrRecord, &body),
            pseudonym.sign(Domain::AddrRecord, &body),
            f.key.sign(Domain::Message, &body),
        ];
        for sig in forgeries {
            let sig = sig.to_bytes();
            let bytes = to_canonical_vec(&WireRecord {
                v: 1,
                sig: &sig,
                body: &body,
            });
            assert_eq!(verify_and_decode(&bytes), Err(Refusal::BadSignature));
        }
        assert!(Refusal::BadSignature.is_penalised());
    }

    #[test]
    fn records_from_outside_the_group_or_broken_are_refused_with_reasons() {
        let f = fixture();
        let (topic, key) = (f.secret.topic(), f.secret.content_key(0));
        let other = GroupSecret::from_bytes([0x23; 32]);
        // Sealed under another group's key: does not open.
        let signed = sign_record(&f.key, &other.id(), &f.addrs, 1_000);
        let outsider = seal_record(&other.content_key(0), &other.topic(), 0, &signed);
        let err = judge(&outsider, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_undecryptable");
        // Sealed under this group's key but describing another group's network.
        let crossed = seal_record(&key, &topic, 0, &signed);
        let err = judge(&crossed, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_wrong_group");
        // A social message's topic is not the address topic.
        let sealed = seal(
            &key,
            &topic,
            0,
            &sign_record(&f.key, &f.secret.id(), &f.addrs, 1).bytes,
        );
        let err = judge(&sealed, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_undecryptable");
        // Too big, unread.
        let big = vec![1; MAX_ADDR_ENVELOPE_BYTES + 1];
        let err = judge(&big, &cx(&f.secret, &topic, &key, 2_000), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_oversized");
        // From the future, or too old: Ignore, not Reject.
        let late = seal_record(
            &key,
            &topic,
            0,
            &sign_record(&f.key, &f.secret.id(), &f.addrs, 1_000_000),
        );
        let err = judge(&late, &cx(&f.secret, &topic, &key, 1_000), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_from_future");
        assert!(!err.is_penalised());
        let now = MAX_RECORD_AGE_MS + 10_000;
        let old = seal_record(
            &key,
            &topic,
            0,
            &sign_record(&f.key, &f.secret.id(), &f.addrs, 1),
        );
        let err = judge(&old, &cx(&f.secret, &topic, &key, now), |_| None).unwrap_err();
        assert_eq!(err.reason(), "addr_expired");
    }

    #[test]
    fn a_relayed_address_is_carried_and_an_own_peer_id_is_dropped() {
        let f = fixture();
        let relay = "/ip4/192.0.2.9/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit";
        let me = cove_gossip::ed25519_peer_id(f.key.public().as_bytes()).unwrap();
        let own: Multiaddr = format!("/ip4/192.0.2.7/tcp/41002/p2p/{me}")
            .parse()
            .unwrap();
        let signed = sign_record(&f.key, &f.secret.id(), &[relay.parse().unwrap(), own], 1);
        let got = verify_and_decode(&signed.bytes).unwrap().record.addrs;
        let texts: Vec<String> = got.iter().map(|a| a.to_string()).collect();
        assert_eq!(texts, [relay, "/ip4/192.0.2.7/tcp/41002"]);
    }

    fn addr() -> impl proptest::strategy::Strategy<Value = Multiaddr> {
        use proptest::prelude::*;
        (any::<[u8; 4]>(), any::<u16>(), any::<bool>()).prop_map(|(ip, port, v6)| {
            let text = if v6 {
                format!(
                    "/ip6/2001:db8::{:x}/tcp/{port}",
                    u16::from_be_bytes([ip[0], ip[1]])
                )
            } else {
                format!("/ip4/{}.{}.{}.{}/tcp/{port}", ip[0], ip[1], ip[2], ip[3])
            };
            text.parse().expect("a valid multiaddr")
        })
    }

    proptest::proptest! {
        /// What `sign_record` makes, `verify_and_decode` gives back; and no one-byte change
        /// of the signed bytes decodes to a record (the body is signed, the outer map closed
        /// and deterministic).
        #[test]
        fn prop_records_round_trip_and_resist_any_byte_change(
            secret in proptest::prelude::any::<[u8; 32]>(),
            addrs in proptest::collection::vec(addr(), 1..=MAX_PEER_ADDRS),
            at in proptest::prelude::any::<u64>(),
            at_byte in proptest::prelude::any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = Pseudonym::from_secret_bytes(secret);
            let group = GroupId::from_bytes([0x22; 32]);
            let signed = sign_record(&key, &group, &addrs, at);
            proptest::prop_assert_eq!(verify_and_decode(&signed.bytes), Ok(signed.clone()));
            let mut bytes = signed.bytes.clone();
            let i = at_byte.index(bytes.len());
            bytes[i] ^= flip;
            proptest::prop_assert!(verify_and_decode(&bytes).is_err(), "byte {} changed", i);
        }
    }

    #[test]
    fn malformed_records_name_what_is_wrong() {
        let body = |addrs: Vec<&str>| {
            to_canonical_vec(&WireBody {
                at: 1,
                peer: fixture().key.public().as_bytes(),
                addrs: addrs.into_iter().map(String::from).collect(),
                group: &[0x22; 32],
            })
        };
        let wrap = |body: &[u8], v: u64| {
            let sig = fixture().key.sign(Domain::AddrRecord, body).to_bytes();
            to_canonical_vec(&WireRecord { v, sig: &sig, body })
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (wrap(&body(vec!["/ip4/192.0.2.1/tcp/1"]), 2), "version 2"),
            (wrap(&body(vec![]), 1), "0 addresses"),
            (wrap(&body(vec!["nonsense"]), 1), "is not a multiaddr"),
            (
                wrap(
                    &body(vec!["/ip4/192.0.2.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"]),
                    1,
                ),
                "names a peer id",
            ),
            (vec![0xa0, 0x00], "bytes after"),
            (vec![0xbf, 0xff], "not deterministically encoded"),
        ];
        for (bytes, words) in cases {
            let err = verify_and_decode(&bytes).unwrap_err().to_string();
            assert!(err.contains(words), "{words:?} not in {err:?}");
        }
    }
}
