//! The message model (v1) and its wire codec.
//!
//! A message travels as a [`SignedMessage`]: the CBOR map `{"v": 1, "body": bstr, "sig": bstr}`.
//! `body` holds the CBOR-encoded [`Body`] exactly as the author encoded it; the signature and
//! the [`MessageId`] are computed over those bytes and never over a re-encoding, so a message
//! keeps its id and stays verifiable whichever node relays it and whichever CBOR library
//! decoded it. The only way from wire bytes to a [`Message`] is [`verify_and_decode`], which
//! checks the size limit first, then that the bytes are deterministic CBOR ([`crate::message::cbor`]),
//! then the version, then the signature, then the content.
//!
//! See `docs/PROTOCOL.md` §8 for the byte-level description.

pub mod cbor;
mod content;
mod wire;

pub use self::content::*;
use self::wire::*;

use std::fmt;

use ciborium::Value;
use cove_crypto::{Domain, GroupId, Pseudonym, PublicKey, Signature};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::message::cbor::{check_canonical, to_canonical_vec, CanonicalError};

/// Version of the signed-message map (`"v"`).
pub const MESSAGE_VERSION: u8 = 1;
/// Largest signed message (the CBOR map, before sealing) a node accepts or creates.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest post text, in bytes of UTF-8.
pub const MAX_POST_TEXT_BYTES: usize = 16 * 1024;
/// Largest post title, in bytes of UTF-8.
pub const MAX_TITLE_BYTES: usize = 256;
/// Largest group name and nickname, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest profile bio, in bytes of UTF-8.
pub const MAX_BIO_BYTES: usize = 1024;
/// Most admins a charter may list.
pub const MAX_ADMINS: usize = 64;
/// Most packages in one `rekey` message: about 92 bytes each, so a full chunk stays well
/// under [`MAX_MESSAGE_BYTES`]; a larger roster is re-keyed in several chunks (§15).
pub const MAX_PACKAGES: usize = 600;
/// Largest chat line, in bytes of UTF-8.
pub const MAX_CHAT_BYTES: usize = 2048;
/// Every kind this version knows, for error messages.
pub const KINDS: &str = "charter, profile, post, reply, edit, delete, room, chat, recommend, ban, remove, grant, revoke, advertiser, ad";
/// Largest ad body, in bytes of UTF-8.
pub const MAX_AD_BODY_BYTES: usize = 2048;
/// Most targeting keys in a grant or an ad's targeting expression.
pub const MAX_TARGETING_KEYS: usize = 32;
/// Deepest nesting of an ad's targeting expression.
pub const MAX_TARGETING_DEPTH: usize = 4;
/// Longest targeting key, e.g. `interest:coffee`.
pub const MAX_TARGETING_KEY_BYTES: usize = 64;
/// Largest short field of ads and advertiser profiles (place name, address, contact, coupon).
pub const MAX_FIELD_BYTES: usize = 256;

/// The id of a message: SHA-256 of its body bytes (the bytes the author signed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

impl MessageId {
    /// The id of a message whose body encodes to `body`.
    pub fn of_body(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    /// The first 8 hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            <D::Error as serde::de::Error>::custom(format!(
                "message id is {} bytes, expected 32",
                bytes.len()
            ))
        })?;
        Ok(MessageId(arr))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.short())
    }
}

impl std::str::FromStr for MessageId {
    type Err = MessageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| MessageError::BadId(s.to_string()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| MessageError::BadId(s.to_string()))?;
        Ok(Self(arr))
    }
}

/// Why wire bytes are not a valid message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message is {len} bytes, larger than the limit of {max}")]
    TooLarge {
        /// Size received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not CBOR of the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Valid CBOR, but not the one deterministic encoding of its value (§8.4): a relay or a
    /// careless encoder changed bytes that the signature or the id depend on.
    #[error("{part} is not deterministic CBOR: {error}")]
    NotCanonical {
        /// `"signed message"` (the outer map) or `"body"`.
        part: &'static str,
        /// What is not canonical.
        error: CanonicalError,
    },
    /// A version this node does not know.
    #[error("message version {got} is not supported (max {max})")]
    UnsupportedVersion {
        /// Version in the message.
        got: u64,
        /// Highest supported.
        max: u8,
    },
    /// The signature does not verify for the author key over the body bytes.
    #[error("signature does not verify for author {0}")]
    BadSignature(String),
    /// A kind this node does not know.
    #[error("unknown message kind {0:?} (expected one of {KINDS})")]
    UnknownKind(String),
    /// A field breaks a limit or a rule of its kind.
    #[error("invalid {kind}: {detail}")]
    Invalid {
        /// Message kind.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message id string that is not 64 hex characters.
    #[error("{0:?} is not a message id (expected 64 hex characters)")]
    BadId(String),
}

/// A decoded, verified message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// SHA-256 of the body bytes.
    pub id: MessageId,
    /// The group the author addressed.
    pub group: GroupId,
    /// The author's pseudonym in that group.
    pub author: PublicKey,
    /// Author's clock, unix milliseconds.
    pub created_at: u64,
    /// The tag of the key epoch the author sealed it under (§8.2, §15); 0 is the first.
    pub epoch: u32,
    /// What it says.
    pub content: Content,
}

/// A message together with the exact wire bytes it came in (or was created as).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMessage {
    /// The CBOR `{"v", "body", "sig"}` map, byte for byte.
    pub bytes: Vec<u8>,
    /// What the bytes say.
    pub message: Message,
}

/// Signs `content` as `author` for `group` in the group's first epoch, returning the wire
/// form.
///
/// Fails when the content breaks a size limit, so a node never creates what others would
/// reject.
pub fn sign(
    author: &Pseudonym,
    group: &GroupId,
    created_at: u64,
    content: Content,
) -> Result<SignedMessage, MessageError> {
    sign_in(author, group, 0, created_at, content)
}

/// Signs `content` for sealing under the epoch with tag `epoch` (§8.2: the body names it).
pub fn sign_in(
    author: &Pseudonym,
    group: &GroupId,
    epoch: u32,
    created_at: u64,
    content: Content,
) -> Result<SignedMessage, MessageError> {
    content.check_limits()?;
    let body = to_canonical_vec(&WireBody {
        group: group.as_bytes().to_vec(),
        author: author.public().as_bytes().to_vec(),
        kind: content.kind().to_string(),
        created_at,
        content: content.to_value(),
        epoch: u64::from(epoch),
    });
    let sig = author.sign(Domain::Message, &body);
    let bytes = to_canonical_vec(&WireMessage {
        v: u64::from(MESSAGE_VERSION),
        body: body.clone(),
        sig: sig.to_bytes().to_vec(),
    });
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(SignedMessage {
        bytes,
        message: Message {
            id: MessageId::of_body(&body),
            group: *group,
            author: author.public(),
            created_at,
            epoch,
            content,
        },
    })
}

/// Decodes exactly one CBOR item filling all of `bytes`: anything after it is an error, so
/// a message has one encoding and cannot be padded by a relay.
pub(crate) fn from_cbor_exact<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the CBOR item", rest.len()));
    }
    Ok(value)
}

/// The only way from wire bytes to a [`Message`]: size, version, signature, then content.
pub fn verify_and_decode(bytes: &[u8]) -> Result<SignedMessage, MessageError> {
    decode(bytes, Verify::Signature)
}

/// Decodes bytes this node verified with [`verify_and_decode`] before it stored them, without
/// checking the signature again: reads of the store (feeds, rankings, profiles) would
/// otherwise spend most of their time re-verifying. Never use it on bytes from the network.
pub(crate) fn decode_stored(bytes: &[u8]) -> Result<SignedMessage, MessageError> {
    decode(bytes, Verify::AlreadyDone)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    Signature,
    AlreadyDone,
}

fn decode(bytes: &[u8], verify: Verify) -> Result<SignedMessage, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let strict = verify == Verify::Signature;
    let outer: Value = from_cbor_exact(bytes).map_err(MessageError::Malformed)?;
    if strict {
        check_canonical(bytes, &outer).map_err(|error| MessageError::NotCanonical {
            part: "signed message",
            error,
        })?;
    }
    let wire = WireMessage::from_value(outer)?;
    let body: Value =
        from_cbor_exact(&wire.body).map_err(|e| MessageError::Malformed(format!("body: {e}")))?;
    if strict {
        check_canonical(&wire.body, &body).map_err(|error| MessageError::NotCanonical {
            part: "body",
            error,
        })?;
    }
    let body = WireBody::from_value(body)?;
    let author = fixed::<32>(&body.author, "author").and_then(|b| {
        PublicKey::from_bytes(b).map_err(|e| MessageError::Malformed(e.to_string()))
    })?;
    let group = GroupId::from_bytes(fixed::<32>(&body.group, "group")?);
    let sig =
        Signature::from_slice(&wire.sig).map_err(|e| MessageError::Malformed(e.to_string()))?;
    if verify == Verify::Signature {
        author
            .verify(Domain::Message, &wire.body, &sig)
            .map_err(|_| MessageError::BadSignature(author.fingerprint()))?;
    }
    let content = Content::from_value(&body.kind, body.content.clone())?;
    if strict {
        if let Some(path) = content_mismatch(&body.content, &content.to_value()) {
            return Err(MessageError::Invalid {
                kind: content.kind(),
                detail: format!("content.{path} has another CBOR type than §8.3 gives it"),
            });
        }
    }
    content.check_limits()?;
    Ok(SignedMessage {
        bytes: bytes.to_vec(),
        message: Message {
            id: MessageId::of_body(&wire.body),
            group,
            author,
            created_at: body.created_at,
            // from_value checked that it fits.
            epoch: body.epoch as u32,
            content,
        },
    })
}

fn fixed<const N: usize>(bytes: &[u8], field: &str) -> Result<[u8; N], MessageError> {
    bytes.try_into().map_err(|_| {
        MessageError::Malformed(format!("{field} is {} bytes, expected {N}", bytes.len()))
    })
}

mod key_bytes {
    use cove_crypto::PublicKey;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(key.as_bytes())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        parse(&bytes).map_err(D::Error::custom)
    }

    pub(super) fn parse(bytes: &[u8]) -> Result<PublicKey, String> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("key is {} bytes, expected 32", bytes.len()))?;
        PublicKey::from_bytes(arr).map_err(|e| e.to_string())
    }
}

mod key_list {
    use cove_crypto::PublicKey;
    use serde::{de::Error, ser::SerializeSeq, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(keys: &[PublicKey], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(keys.len()))?;
        for key in keys {
            seq.serialize_element(serde_bytes::Bytes::new(key.as_bytes()))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PublicKey>, D::Error> {
        let list = Vec::<serde_bytes::ByteBuf>::deserialize(d)?;
        list.iter()
            .map(|b| super::key_bytes::parse(b).map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use cove_crypto::{GroupSecret, MasterSeed};

    fn fixture() -> (Pseudonym, GroupId) {
        let group = GroupSecret::from_bytes([7; 32]).id();
        (MasterSeed::from_bytes([1; 32]).pseudonym(&group), group)
    }

    fn post(text: &str) -> Content {
        Content::Post(Post {
            title: None,
            text: text.into(),
        })
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1_700_000_000_000, post("hello")).unwrap();
        let decoded = verify_and_decode(&signed.bytes).unwrap();
        assert_eq!(decoded, signed);
    }

    #[test]
    fn bytes_after_the_message_are_refused() {
        // Found by fuzzing: a relay could pad someone else's message (same id, other bytes).
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut padded = signed.bytes.clone();
        padded.extend_from_slice(&[0; 100]);
        match verify_and_decode(&padded) {
            Err(MessageError::Malformed(detail)) => {
                assert!(detail.contains("100 bytes after"), "{detail}")
            }
            other => panic!("padded message accepted: {other:?}"),
        }
    }

    /// The signed-message map of `signed` with `edit` applied to its generic value, encoded
    /// deterministically: still the same `body` and `sig`, so the id does not change.
    fn reencoded(signed: &SignedMessage, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
        let mut value: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        let Value::Map(entries) = &mut value else {
            panic!("not a map")
        };
        edit(entries);
        to_canonical_vec(&value)
    }

    /// A signed message carrying `body`, signed by `me`.
    fn resigned(me: &Pseudonym, body: Vec<u8>) -> Vec<u8> {
        let sig = me.sign(Domain::Message, &body);
        to_canonical_vec(&WireMessage {
            v: 1,
            body,
            sig: sig.to_bytes().to_vec(),
        })
    }

    fn body_value(signed: &SignedMessage) -> Value {
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        ciborium::from_reader(wire.body.as_slice()).unwrap()
    }

    /// `value` encoded as it is, without sorting its maps' keys.
    fn raw(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn signed_messages_are_deterministic_cbor() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        // Keys sorted by their encodings: "v" < "sig" < "body".
        assert!(hex::encode(&signed.bytes).starts_with("a36176016373696758"));
        let outer: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        assert_eq!(check_canonical(&signed.bytes, &outer), Ok(()));
        let wire: WireMessage = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
        assert_eq!(check_canonical(&wire.body, &body_value(&signed)), Ok(()));
    }

    #[test]
    fn a_relay_cannot_add_an_outer_key() {
        // Scenario: a relaying member adds a key next to v/body/sig; the id would not change.
        // Assert: the closed outer map refuses it as malformed.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let padded = reencoded(&signed, |m| {
            m.push((Value::Text("pad".into()), Value::Bytes(vec![0; 1000])))
        });
        match verify_and_decode(&padded) {
            Err(MessageError::Malformed(detail)) => {
                assert!(detail.contains("unknown key"), "{detail}")
            }
            other => panic!("padded message accepted: {other:?}"),
        }
    }

    #[test]
    fn a_relay_cannot_re_encode_the_outer_map() {
        // Scenario: the same value {v: 1, body, sig} written in other ways by a relay.
        // Assert: each is refused as not deterministic, naming the rule it breaks.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let tail = &signed.bytes[4..]; // after a3 61 76 01
        let mut long_v = hex::decode("a361761801").unwrap();
        long_v.extend_from_slice(tail);
        let mut indefinite = hex::decode("bf617601").unwrap();
        indefinite.extend_from_slice(tail);
        indefinite.push(0xff);
        let mut duplicate_v = hex::decode("a4617601617601").unwrap();
        duplicate_v.extend_from_slice(tail);
        let unsorted = raw(&{
            let mut value: Value = ciborium::from_reader(signed.bytes.as_slice()).unwrap();
            if let Value::Map(m) = &mut value {
                m.reverse();
            }
            value
        });
        for (name, bytes, want) in [
            ("v in two bytes", long_v, CanonicalError::NotShortest),
            ("indefinite map", indefinite, CanonicalError::NotShortest),
            (
                "v twice",
                duplicate_v,
                CanonicalError::DuplicateKey {
                    key: "\"v\"".into(),
                },
            ),
            (
                "keys reversed",
                unsorted,
                CanonicalError::KeyOrder {
                    key: "\"sig\"".into(),
                },
            ),
        ] {
            assert_eq!(
                verify_and_decode(&bytes),
                Err(MessageError::NotCanonical {
                    part: "signed message",
                    error: want
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn a_non_deterministic_body_is_refused_even_when_signed() {
        // Scenario: an author (or another implementation) signs a body whose keys are in the
        // order of §8.2's table, not sorted. Assert: refused before the signature is checked.
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut value = body_value(&signed);
        if let Value::Map(m) = &mut value {
            m.reverse();
        }
        let bytes = resigned(&me, raw(&value));
        assert!(matches!(
            verify_and_decode(&bytes),
            Err(MessageError::NotCanonical {
                part: "body",
                error: CanonicalError::KeyOrder { .. }
            })
        ));
    }

    #[test]
    fn a_content_field_of_another_cbor_type_is_invalid_content() {
        // Scenario: signed contents whose fields have another CBOR type than §8.3 gives them.
        // Assert: invalid_content, never accepted as the value of the right type.
        let (me, group) = fixture();
        let with_content = |signed: &SignedMessage, content: Value| {
            let mut value = body_value(signed);
            let Value::Map(body) = &mut value else {
                panic!("body is a map")
            };
            for (k, v) in body.iter_mut() {
                if k.as_text() == Some("content") {
                    *v = content.clone();
                }
            }
            resigned(&me, to_canonical_vec(&value))
        };
        let field = |name: &str, value: Value| Value::Map(vec![(Value::Text(name.into()), value)]);
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let delete = Content::Delete(Target {
            target: MessageId([b'a'; 32]),
        });
        let deleted = sign(&me, &group, 1, delete).unwrap();
        for (signed, content) in [
            (&signed, field("text", Value::Bytes(b"hello".to_vec()))),
            (&signed, Value::Array(vec![Value::Text("hello".into())])),
            (&deleted, field("target", Value::Text("a".repeat(32)))),
        ] {
            let bytes = with_content(signed, content.clone());
            assert!(
                matches!(verify_and_decode(&bytes), Err(MessageError::Invalid { .. })),
                "{content:?}"
            );
        }
    }

    #[test]
    fn content_must_match_its_own_re_encoding_except_unknown_keys() {
        // The last guard of §8.2's exact types: whatever serde would accept, the known fields
        // must be exactly what Cove's encoder writes for the decoded value.
        let text = |s: &str| Value::Text(s.into());
        let ours = Value::Map(vec![
            (
                text("place"),
                Value::Map(vec![(text("lat"), Value::Float(1.5))]),
            ),
            (text("text"), text("hi")),
        ]);
        let mut received = ours.clone();
        if let Value::Map(m) = &mut received {
            m.push((text("later"), Value::Bool(true)));
        }
        assert_eq!(
            content_mismatch(&received, &ours),
            None,
            "unknown keys are fine"
        );
        let widened = Value::Map(vec![
            (
                text("place"),
                Value::Map(vec![(text("lat"), Value::Integer(1.into()))]),
            ),
            (text("text"), text("hi")),
        ]);
        assert_eq!(content_mismatch(&widened, &ours), Some("place.lat".into()));
        let missing = Value::Map(vec![(text("text"), text("hi"))]);
        assert_eq!(content_mismatch(&missing, &ours), Some("place".into()));
    }

    #[test]
    fn tampered_body_fails_signature() {
        let (me, group) = fixture();
        let signed = sign(&me, &group, 1, post("hello")).unwrap();
        let mut bytes = signed.bytes.clone();
        let pos = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[pos] = b'j';
        assert!(matches!(
            verify_and_decode(&bytes),
            Err(MessageError::BadSignature(_))
        ));
    }

    #[test]
    fn garbage_and_wrong_version_are_typed_errors() {
        assert!(matches!(
            verify_and_decode(b"\xff\x00garbage"),
            Err(MessageError::Malformed(_))
        ));
        let wire = to_canonical_vec(&WireMessage {
            v: 9,
            body: vec![],
            sig: vec![0; 64],
        });
        assert_eq!(
            verify_and_decode(&wire),
            Err(MessageError::UnsupportedVersion { got: 9, max: 1 })
        );
        assert!(matches!(
            verify_and_decode(&vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(MessageError::TooLarge { .. })
        ));
    }

    #[test]
    fn limits_are_enforced_on_sign() {
        let (me, group) = fixture();
        let long = "x".repeat(MAX_POST_TEXT_BYTES + 1);
        assert!(matches!(
            sign(&me, &group, 1, post(&long)),
            Err(MessageError::Invalid { kind: "post", .. })
        ));
        assert!(sign(&me, &group, 1, post("  ")).is_err());
    }

    #[test]
    fn unknown_kind_is_rejected_even_when_signed() {
        let (me, group) = fixture();
        let body = to_canonical_vec(&WireBody {
            group: group.as_bytes().to_vec(),
            author: me.public().as_bytes().to_vec(),
            kind: "poll".into(),
            created_at: 1,
            content: ciborium::Value::Map(vec![]),
            epoch: 0,
        });
        let sig = me.sign(Domain::Message, &body);
        let wire = to_canonical_vec(&WireMessage {
            v: 1,
            body,
            sig: sig.to_bytes().to_vec(),
        });
        assert_eq!(
            verify_and_decode(&wire),
            Err(MessageError::UnknownKind("poll".into()))
        );
    }

    #[test]
    fn charter_requires_founder_among_admins() {
        let (me, group) = fixture();
        let other = MasterSeed::from_bytes([2; 32]).pseudonym(&group).public();
        let charter = Content::Charter(Charter {
            name: "club".into(),
            founder: me.public(),
            admins: vec![other],
            policy: Policy::default(),
        });
        assert!(sign(&me, &group, 1, charter).is_err());
    }
}
