//! The invite string: what a new member needs to join a group, as one line of text.
//!
//! ```text
//! invite  = "cove:" base64url-nopad(version || payload || checksum)
//! version = 0x03 (a ticket, [`TicketInvite`]) or 0x01 (an open invite, [`Invite`])
//! payload = CBOR map: version 3 { "group", "door", "charter", "addrs", "expires", "ticket" }
//!                     version 1 { "secret", "charter", "addrs", "expires", ? "epochs" }
//! checksum = SHA-256(version || payload)[0..4]
//! ```
//!
//! A **ticket** (version 2, PROTOCOL.md §6 and §17) does not carry the group secret: it
//! carries a ticket key, which a member checks against the group's `ticket` record (uses,
//! expiry, revocation) before it hands the newcomer the group's keys. An **open invite**
//! (version 1) is the group secret itself; nodes no longer mint it, but still decode it (an
//! invite from an earlier version), and its struct is what a welcome becomes on the
//! newcomer's side.
//!
//! The checksum catches typing and copy-paste errors (a 4-byte check lets a random
//! corruption through with probability 2^-32); it is not a security measure. Decoders ignore
//! unknown map keys so that later versions can add fields without breaking older nodes.

use data_encoding::{DecodeKind, BASE64URL_NOPAD};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::keys::{GroupId, GroupSecret, NetworkKey, Pseudonym, PublicKey};
use crate::EpochSecret;

/// Text every invite starts with.
pub const INVITE_PREFIX: &str = "cove:";
/// Version of an open invite (the group secret itself), [`Invite`].
pub const INVITE_VERSION: u8 = 1;
/// Version of a ticket invite, [`TicketInvite`]: what nodes mint.
pub const TICKET_INVITE_VERSION: u8 = 3;
/// The retired ticket version, which carried the group's network key instead of its door key
/// (PROTOCOL.md §6): refused with [`InviteError::Retired`].
pub const RETIRED_TICKET_VERSION: u8 = 2;
/// Maximum accepted invite length in characters (after trimming surrounding whitespace).
pub const MAX_INVITE_LEN: usize = 16 * 1024;
/// Length of the checksum appended to the decoded bytes.
pub const CHECKSUM_LEN: usize = 4;

/// Errors from decoding an invite string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// The text does not start with `cove:`.
    #[error("not a Cove invite: expected text starting with \"cove:\"")]
    NotAnInvite,
    /// The text is longer than any invite this implementation accepts.
    #[error("invite is too long: {len} characters, the maximum is {max}")]
    TooLong {
        /// Length received (after trimming whitespace).
        len: usize,
        /// [`MAX_INVITE_LEN`].
        max: usize,
    },
    /// The part after `cove:` is not valid unpadded base64url.
    #[error("invalid invite encoding at character {position}: {detail}")]
    Encoding {
        /// Zero-based byte position in the (trimmed) invite text, counting the `cove:` prefix.
        position: usize,
        /// What was wrong there.
        detail: String,
    },
    /// Decoded to fewer bytes than a version byte and a checksum.
    #[error("invite is too short: {len} bytes after decoding, expected at least {min}; the invite was probably truncated")]
    TooShort {
        /// Decoded length.
        len: usize,
        /// Minimum decoded length.
        min: usize,
    },
    /// The checksum does not match.
    #[error("invite checksum does not match: the invite was mistyped or truncated")]
    Checksum,
    /// The version byte is not one this implementation understands.
    #[error("invite version {got} is not supported (this implementation supports version {max})")]
    UnsupportedVersion {
        /// Version byte received.
        got: u8,
        /// Highest supported version.
        max: u8,
    },
    /// A ticket of the retired version 2, which named the group's network key (§6): members
    /// no longer answer it at that key.
    #[error(
        "invite version {got} is a ticket from an earlier release, which members no longer \
         accept (tickets now open only the group's door): ask the inviter for a new invite"
    )]
    Retired {
        /// Version byte received.
        got: u8,
    },
    /// The checksum matched but the CBOR payload is not a valid invite.
    #[error("malformed invite payload: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The invite's expiry time has passed.
    #[error(
        "invite expired at {expired_at} (unix seconds); it is now {now}: ask for a new invite"
    )]
    Expired {
        /// The invite's `expires` field.
        expired_at: u64,
        /// The time passed by the caller.
        now: u64,
    },
}

/// An invitation to a group.
///
/// `Debug` does not print the group secret (it prints `GroupSecret(..)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The group secret; every group key derives from it.
    pub group_secret: GroupSecret,
    /// The founder-signed charter message, opaque to this crate.
    pub charter: Vec<u8>,
    /// The inviter's reachable multiaddrs as text.
    pub addrs: Vec<String>,
    /// Expiry time, unix seconds. The invite is expired when `now >= expires_at`.
    pub expires_at: u64,
    /// The inviter's epoch secrets after the first, with their numbers (PROTOCOL.md §6,
    /// §15), so that the new member reads the current epoch at once; at most
    /// [`MAX_INVITE_EPOCHS`], newest kept.
    pub epochs: Vec<(u32, EpochSecret)>,
}

/// Most epoch secrets an invite carries.
pub const MAX_INVITE_EPOCHS: usize = 64;

/// The secret key of one invite ticket (PROTOCOL.md §17): an Ed25519 key whose public key is
/// the ticket's id. The inviter proves it in the group's `ticket` record; the newcomer signs
/// its admission request with it. Zeroized on drop; `Debug` shows only the id.
#[derive(Clone, Debug)]
pub struct TicketKey(Pseudonym);

impl TicketKey {
    /// A fresh random ticket key.
    pub fn generate() -> Self {
        Self::from_bytes(crate::keys::os_random_32())
    }

    /// The key from its 32-byte RFC 8032 secret seed.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Pseudonym::from_secret_bytes(b))
    }

    /// The secret seed, as an invite carries it.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.secret_bytes()
    }

    /// The ticket's id: the public key.
    pub fn id(&self) -> PublicKey {
        self.0.public()
    }

    /// Signs `domain.prefix() || bytes` with the ticket key.
    pub fn sign(&self, domain: crate::Domain, bytes: &[u8]) -> crate::Signature {
        self.0.sign(domain, bytes)
    }
}

impl PartialEq for TicketKey {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for TicketKey {}

/// An invitation that is a ticket (version 3): it lets its holder ask a member for admission,
/// and the member decides by the group's record of the ticket (§17). It carries neither the
/// group secret nor the network key, so a spent, expired or revoked ticket gives its holder
/// nothing but a connection to members' doors (§10.3), which answer admission requests only.
///
/// `Debug` prints neither the door key nor the ticket key's secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketInvite {
    /// The group's id.
    pub group: GroupId,
    /// The pre-shared key of the group's door (§10.3), so that the newcomer can reach a
    /// member's door at all.
    pub door_key: NetworkKey,
    /// The founder-signed charter message, opaque to this crate.
    pub charter: Vec<u8>,
    /// Where members can be reached, as multiaddr text.
    pub addrs: Vec<String>,
    /// The ticket's expiry as the inviter set it, unix seconds (members check their record of
    /// it; the decoder checks it too, to fail early).
    pub expires_at: u64,
    /// The ticket key.
    pub ticket: TicketKey,
}

/// Any invite a node can join with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyInvite {
    /// A ticket (version 3).
    Ticket(Box<TicketInvite>),
    /// An open invite (version 1), from an earlier version.
    Open(Invite),
}

impl AnyInvite {
    /// Decodes an invite of either version and rejects it if it has expired at `now_unix_secs`.
    pub fn decode(s: &str, now_unix_secs: u64) -> Result<AnyInvite, InviteError> {
        let invite = Self::decode_ignoring_expiry(s)?;
        check_expiry(invite.expires_at(), now_unix_secs)?;
        Ok(invite)
    }

    /// Decodes an invite of either version without checking its expiry.
    pub fn decode_ignoring_expiry(s: &str) -> Result<AnyInvite, InviteError> {
        unframe(s, TICKET_INVITE_VERSION, |version, payload| match version {
            INVITE_VERSION => Invite::decode_payload(payload).map(AnyInvite::Open),
            RETIRED_TICKET_VERSION => Err(InviteError::Retired { got: version }),
            _ => TicketInvite::decode_payload(payload).map(|t| AnyInvite::Ticket(Box::new(t))),
        })
    }

    /// The expiry, unix seconds.
    pub fn expires_at(&self) -> u64 {
        match self {
            AnyInvite::Ticket(t) => t.expires_at,
            AnyInvite::Open(o) => o.expires_at,
        }
    }

    /// The addresses it lists.
    pub fn addrs(&self) -> &[String] {
        match self {
            AnyInvite::Ticket(t) => &t.addrs,
            AnyInvite::Open(o) => &o.addrs,
        }
    }
}

#[derive(Serialize)]
struct TicketWireOut<'a> {
    #[serde(with = "serde_bytes")]
    group: &'a [u8],
    #[serde(with = "serde_bytes")]
    door: &'a [u8],
    #[serde(with = "serde_bytes")]
    charter: &'a [u8],
    addrs: &'a [String],
    expires: u64,
    #[serde(with = "serde_bytes")]
    ticket: &'a [u8],
}

#[derive(Deserialize)]
struct TicketWireIn {
    #[serde(with = "serde_bytes")]
    group: Vec<u8>,
    door: SecretBuf,
    #[serde(with = "serde_bytes")]
    charter: Vec<u8>,
    addrs: Vec<String>,
    expires: u64,
    ticket: SecretBuf,
}

impl TicketInvite {
    /// Encodes the ticket as `cove:...` text (version 3).
    pub fn encode(&self) -> String {
        let mut ticket = self.ticket.secret_bytes();
        let wire = TicketWireOut {
            group: self.group.as_bytes(),
            door: self.door_key.as_bytes(),
            charter: &self.charter,
            addrs: &self.addrs,
            expires: self.expires_at,
            ticket: &ticket,
        };
        let mut payload = Vec::new();
        ciborium::into_writer(&wire, &mut payload)
            .expect("CBOR encoding into a Vec cannot fail for this structure");
        ticket.zeroize();
        let s = frame(TICKET_INVITE_VERSION, &payload);
        payload.zeroize();
        s
    }

    fn decode_payload(mut payload: &[u8]) -> Result<TicketInvite, InviteError> {
        let wire: TicketWireIn = ciborium::from_reader(&mut payload).map_err(cbor_error)?;
        no_trailing_bytes(payload)?;
        let group: [u8; 32] = exactly_32("group", &wire.group)?;
        Ok(TicketInvite {
            group: GroupId::from_bytes(group),
            door_key: NetworkKey::from_bytes(exactly_32("door", &wire.door.0)?),
            charter: wire.charter,
            addrs: wire.addrs,
            expires_at: wire.expires,
            ticket: TicketKey::from_bytes(exactly_32("ticket", &wire.ticket.0)?),
        })
    }
}

/// `bytes` as 32 bytes, or the malformed error naming `field`.
fn exactly_32(field: &str, bytes: &[u8]) -> Result<[u8; 32], InviteError> {
    bytes.try_into().map_err(|_| InviteError::Malformed {
        detail: format!("\"{field}\" must be 32 bytes, got {}", bytes.len()),
    })
}

fn no_trailing_bytes(payload: &[u8]) -> Result<(), InviteError> {
    if payload.is_empty() {
        Ok(())
    } else {
        Err(InviteError::Malformed {
            detail: format!("{} unexpected bytes after the CBOR map", payload.len()),
        })
    }
}

fn check_expiry(expires_at: u64, now: u64) -> Result<(), InviteError> {
    if now >= expires_at {
        return Err(InviteError::Expired {
            expired_at: expires_at,
            now,
        });
    }
    Ok(())
}

/// Checks the framing of `s` (prefix, length, base64url, checksum, a version from 1 to
/// `max_version`) and hands the version and the CBOR payload to `decode`.
fn unframe<T>(
    s: &str,
    max_version: u8,
    decode: impl FnOnce(u8, &[u8]) -> Result<T, InviteError>,
) -> Result<T, InviteError> {
    let text = s.trim();
    let body = text
        .strip_prefix(INVITE_PREFIX)
        .ok_or(InviteError::NotAnInvite)?;
    if text.len() > MAX_INVITE_LEN {
        return Err(InviteError::TooLong {
            len: text.len(),
            max: MAX_INVITE_LEN,
        });
    }
    let mut raw = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|e| encoding_error(text, e))?;
    let result = unframe_raw(&raw, max_version, decode);
    raw.zeroize();
    result
}

fn unframe_raw<T>(
    raw: &[u8],
    max_version: u8,
    decode: impl FnOnce(u8, &[u8]) -> Result<T, InviteError>,
) -> Result<T, InviteError> {
    let min = 1 + CHECKSUM_LEN;
    if raw.len() < min {
        return Err(InviteError::TooShort {
            len: raw.len(),
            min,
        });
    }
    let (body, sum) = raw.split_at(raw.len() - CHECKSUM_LEN);
    // The checksum is checked before the version so that a typo in the first
    // characters is reported as a typo, not as an unknown version.
    if checksum(body) != sum {
        return Err(InviteError::Checksum);
    }
    let (version, payload) = (body[0], &body[1..]);
    if version == 0 || version > max_version {
        return Err(InviteError::UnsupportedVersion {
            got: version,
            max: max_version,
        });
    }
    decode(version, payload)
}

/// Borrowed form used for encoding; field order is the wire order.
#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(with = "serde_bytes")]
    secret: &'a [u8],
    #[serde(with = "serde_bytes")]
    charter: &'a [u8],
    addrs: &'a [String],
    expires: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    epochs: Vec<(u32, &'a serde_bytes::Bytes)>,
}

/// Owned form used for decoding. Unknown keys are ignored (no `deny_unknown_fields`).
#[derive(Deserialize)]
struct WireIn {
    secret: SecretBuf,
    #[serde(with = "serde_bytes")]
    charter: Vec<u8>,
    addrs: Vec<String>,
    expires: u64,
    #[serde(default)]
    epochs: Vec<(u32, SecretBuf)>,
}

/// A byte string that is wiped when dropped, for the secret while it is being decoded.
struct SecretBuf(Vec<u8>);

impl<'de> Deserialize<'de> for SecretBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|b| SecretBuf(b.into_vec()))
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d = Sha256::digest(body);
    let mut c = [0u8; CHECKSUM_LEN];
    c.copy_from_slice(&d[..CHECKSUM_LEN]);
    c
}

/// Frames `version || payload || checksum` as an invite string.
fn frame(version: u8, payload: &[u8]) -> String {
    let mut raw = Vec::with_capacity(1 + payload.len() + CHECKSUM_LEN);
    raw.push(version);
    raw.extend_from_slice(payload);
    let c = checksum(&raw);
    raw.extend_from_slice(&c);
    let s = format!("{INVITE_PREFIX}{}", BASE64URL_NOPAD.encode(&raw));
    raw.zeroize();
    s
}

fn encoding_error(text: &str, e: data_encoding::DecodeError) -> InviteError {
    let position = INVITE_PREFIX.len() + e.position;
    let detail = match e.kind {
        DecodeKind::Symbol => {
            let shown = text
                .get(position..)
                .and_then(|rest| rest.chars().next())
                .map_or_else(|| "byte".to_string(), |c| format!("{c:?}"));
            format!("{shown} is not a base64url character (expected A-Z, a-z, 0-9, '-' or '_')")
        }
        DecodeKind::Length => {
            "impossible length for base64url text; the invite was probably truncated".to_string()
        }
        DecodeKind::Trailing => {
            "the last character has non-zero unused bits; the invite was mistyped".to_string()
        }
        DecodeKind::Padding => "padding '=' is not used in invites".to_string(),
    };
    InviteError::Encoding { position, detail }
}

fn cbor_error(e: ciborium::de::Error<std::io::Error>) -> InviteError {
    use ciborium::de::Error;
    let detail = match e {
        Error::Io(e) => format!("CBOR payload ended early or could not be read ({e})"),
        Error::Syntax(off) => format!("invalid CBOR at byte {off} of the payload"),
        Error::Semantic(Some(off), msg) => {
            format!("CBOR payload does not match the invite map at byte {off}: {msg}")
        }
        Error::Semantic(None, msg) => format!("CBOR payload does not match the invite map: {msg}"),
        Error::RecursionLimitExceeded => "CBOR payload is nested too deeply".to_string(),
    };
    InviteError::Malformed { detail }
}

impl Invite {
    /// Encodes the invite as `cove:...` text.
    ///
    /// The result is not length-checked: decoders reject invites longer than
    /// [`MAX_INVITE_LEN`] characters, so keep the charter and address list small
    /// (about 12 KiB of charter plus addresses in total).
    pub fn encode(&self) -> String {
        let wire = WireOut {
            secret: self.group_secret.as_bytes(),
            charter: &self.charter,
            addrs: &self.addrs,
            expires: self.expires_at,
            epochs: self
                .epochs
                .iter()
                .map(|(number, secret)| (*number, serde_bytes::Bytes::new(secret.as_bytes())))
                .collect(),
        };
        let mut payload = Vec::new();
        ciborium::into_writer(&wire, &mut payload)
            .expect("CBOR encoding into a Vec cannot fail for this structure");
        let s = frame(INVITE_VERSION, &payload);
        payload.zeroize();
        s
    }

    /// Decodes an open invite (version 1) and rejects it if it has expired at
    /// `now_unix_secs`. A ticket is [`AnyInvite::decode`]'s.
    pub fn decode(s: &str, now_unix_secs: u64) -> Result<Invite, InviteError> {
        let invite = Self::decode_ignoring_expiry(s)?;
        check_expiry(invite.expires_at, now_unix_secs)?;
        Ok(invite)
    }

    /// Decodes an open invite without checking its expiry (for display and diagnostics).
    pub fn decode_ignoring_expiry(s: &str) -> Result<Invite, InviteError> {
        unframe(s, INVITE_VERSION, |_, payload| {
            Self::decode_payload(payload)
        })
    }

    fn decode_payload(mut payload: &[u8]) -> Result<Invite, InviteError> {
        let wire: WireIn = ciborium::from_reader(&mut payload).map_err(cbor_error)?;
        no_trailing_bytes(payload)?;
        let secret = exactly_32("secret", &wire.secret.0)?;
        if wire.epochs.len() > MAX_INVITE_EPOCHS {
            return Err(InviteError::Malformed {
                detail: format!(
                    "{} epochs, more than {MAX_INVITE_EPOCHS}",
                    wire.epochs.len()
                ),
            });
        }
        let mut epochs = Vec::with_capacity(wire.epochs.len());
        for (number, secret) in &wire.epochs {
            let bytes: [u8; 32] =
                secret
                    .0
                    .as_slice()
                    .try_into()
                    .map_err(|_| InviteError::Malformed {
                        detail: format!("an epoch secret must be 32 bytes, got {}", secret.0.len()),
                    })?;
            if *number == 0 {
                return Err(InviteError::Malformed {
                    detail: "epoch number 0 is the first epoch, which has no secret of its own"
                        .into(),
                });
            }
            epochs.push((*number, EpochSecret::from_bytes(bytes)));
        }
        Ok(Invite {
            group_secret: GroupSecret::from_bytes(secret),
            charter: wire.charter,
            addrs: wire.addrs,
            expires_at: wire.expires,
            epochs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000;

    fn sample(charter_len: usize, addrs: usize) -> Invite {
        Invite {
            group_secret: GroupSecret::from_bytes([0x42; 32]),
            charter: (0..charter_len).map(|i| i as u8).collect(),
            addrs: (0..addrs)
                .map(|i| format!("/ip4/127.0.0.1/tcp/{}/p2p/12D3KooWExample", 4000 + i))
                .collect(),
            expires_at: NOW + 3600,
            epochs: Vec::new(),
        }
    }

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        )
    }

    fn valid_entries() -> Vec<(&'static str, Value)> {
        vec![
            ("secret", Value::Bytes(vec![1; 32])),
            ("charter", Value::Bytes(vec![2; 5])),
            (
                "addrs",
                Value::Array(vec![Value::Text("/ip4/1.2.3.4/tcp/1".into())]),
            ),
            ("expires", Value::Integer((NOW + 10).into())),
        ]
    }

    fn ticket_sample() -> TicketInvite {
        TicketInvite {
            group: GroupId::from_bytes([0x11; 32]),
            door_key: NetworkKey::from_bytes([0x22; 32]),
            charter: vec![3; 40],
            addrs: vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample".into()],
            expires_at: NOW + 60,
            ticket: TicketKey::from_bytes([0x33; 32]),
        }
    }

    #[test]
    fn a_ticket_round_trips_and_carries_no_group_secret() {
        let ticket = ticket_sample();
        let text = ticket.encode();
        let raw = BASE64URL_NOPAD.decode(&text.as_bytes()[5..]).unwrap();
        assert_eq!(raw[0], TICKET_INVITE_VERSION);
        assert_eq!(
            AnyInvite::decode(&text, NOW).unwrap(),
            AnyInvite::Ticket(Box::new(ticket.clone()))
        );
        // An open invite decoder refuses a ticket by its version, and both read version 1.
        assert_eq!(
            Invite::decode(&text, NOW).unwrap_err(),
            InviteError::UnsupportedVersion { got: 3, max: 1 }
        );
        let open = sample(3, 1);
        assert_eq!(
            AnyInvite::decode(&open.encode(), NOW).unwrap(),
            AnyInvite::Open(open)
        );
        assert!(matches!(
            AnyInvite::decode(&text, NOW + 60),
            Err(InviteError::Expired { .. })
        ));
        assert!(!format!("{ticket:?}").contains("2222"));
    }

    #[test]
    fn a_ticket_with_a_short_key_is_malformed() {
        let payload = cbor(&map(vec![
            ("group", Value::Bytes(vec![1; 32])),
            ("door", Value::Bytes(vec![2; 32])),
            ("charter", Value::Bytes(vec![])),
            ("addrs", Value::Array(vec![])),
            ("expires", Value::Integer((NOW + 10).into())),
            ("ticket", Value::Bytes(vec![3; 31])),
        ]));
        let err = AnyInvite::decode(&frame(3, &payload), NOW).unwrap_err();
        assert_eq!(
            err,
            InviteError::Malformed {
                detail: "\"ticket\" must be 32 bytes, got 31".into()
            }
        );
        assert_eq!(
            AnyInvite::decode(&frame(4, &payload), NOW).unwrap_err(),
            InviteError::UnsupportedVersion { got: 4, max: 3 }
        );
        // A version-2 ticket named the network key; it is refused, saying what to do.
        let err = AnyInvite::decode(&frame(2, &payload), NOW).unwrap_err();
        assert_eq!(err, InviteError::Retired { got: 2 });
        assert!(err.to_string().contains("ask the inviter for a new invite"));
    }

    #[test]
    fn round_trip() {
        for inv in [sample(0, 0), sample(300, 3)] {
            let s = inv.encode();
            assert!(s.starts_with("cove:"));
            assert_eq!(Invite::decode(&s, NOW).unwrap(), inv);
            assert_eq!(Invite::decode(&format!("  \n{s}\t "), NOW).unwrap(), inv);
        }
    }

    #[test]
    fn encoding_matches_documented_layout() {
        let inv = sample(3, 1);
        let s = inv.encode();
        let raw = BASE64URL_NOPAD.decode(&s.as_bytes()[5..]).unwrap();
        assert_eq!(raw[0], 1);
        let (body, sum) = raw.split_at(raw.len() - 4);
        assert_eq!(&Sha256::digest(body)[..4], sum);
        let v: Value = ciborium::from_reader(&body[1..]).unwrap();
        let keys: Vec<_> = v
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["secret", "charter", "addrs", "expires"]);
    }

    #[test]
    fn debug_hides_secret() {
        let d = format!("{:?}", sample(0, 0));
        assert!(d.contains("GroupSecret(..)"));
        assert!(!d.contains("66, 66"));
        assert!(!d.contains("4242"));
    }

    #[test]
    fn expired() {
        let inv = sample(0, 0);
        let s = inv.encode();
        assert_eq!(
            Invite::decode(&s, inv.expires_at),
            Err(InviteError::Expired {
                expired_at: inv.expires_at,
                now: inv.expires_at
            })
        );
        assert!(Invite::decode(&s, inv.expires_at - 1).is_ok());
        assert_eq!(Invite::decode_ignoring_expiry(&s).unwrap(), inv);
    }

    fn assert_substitutions_fail(s: &str, positions: impl Iterator<Item = usize>) {
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!=+/ é"
                .chars()
                .collect();
        let chars: Vec<char> = s.chars().collect();
        for pos in positions {
            for &c in &alphabet {
                if chars[pos] == c {
                    continue;
                }
                let mut m = chars.clone();
                m[pos] = c;
                let m: String = m.into_iter().collect();
                let r = Invite::decode(&m, NOW);
                if pos < INVITE_PREFIX.len() {
                    assert_eq!(r, Err(InviteError::NotAnInvite), "pos {pos} char {c:?}");
                } else {
                    assert!(
                        matches!(r, Err(InviteError::Checksum | InviteError::Encoding { .. })),
                        "pos {pos} char {c:?}: {r:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_substitution_fails_short_invite() {
        let s = sample(0, 0).encode();
        assert_substitutions_fail(&s, 0..s.len());
    }

    #[test]
    fn sampled_substitutions_fail_long_invite() {
        let s = sample(2000, 8).encode();
        let len = s.len();
        let positions = (0..len).step_by(37).chain(len - 12..len);
        assert_substitutions_fail(&s, positions);
    }

    #[test]
    fn truncation_fails() {
        let s = sample(40, 1).encode();
        for cut in 0..s.len() {
            let r = Invite::decode(&s[..cut], NOW);
            assert!(r.is_err(), "cut at {cut} decoded: {r:?}");
        }
        assert!(matches!(
            Invite::decode(&s[..s.len() - 1], NOW),
            Err(InviteError::Checksum | InviteError::Encoding { .. })
        ));
        assert_eq!(
            Invite::decode("cove:AAAA", NOW),
            Err(InviteError::TooShort { len: 3, min: 5 })
        );
        assert_eq!(
            Invite::decode("cove:", NOW),
            Err(InviteError::TooShort { len: 0, min: 5 })
        );
    }

    #[test]
    fn wrong_version_fails() {
        let payload = cbor(&map(valid_entries()));
        assert!(Invite::decode(&frame(1, &payload), NOW).is_ok());
        for v in [0u8, 2, 255] {
            assert_eq!(
                Invite::decode(&frame(v, &payload), NOW),
                Err(InviteError::UnsupportedVersion { got: v, max: 1 })
            );
        }
    }

    #[test]
    fn not_prefixed_fails() {
        let s = sample(0, 0).encode();
        for bad in [
            &s[5..],
            "",
            "hello",
            "COVE:abc",
            "cove;abc",
            "https://x/cove:abc",
        ] {
            assert_eq!(
                Invite::decode(bad, NOW),
                Err(InviteError::NotAnInvite),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn too_long_fails() {
        let s = format!("cove:{}", "A".repeat(MAX_INVITE_LEN));
        assert_eq!(
            Invite::decode(&s, NOW),
            Err(InviteError::TooLong {
                len: MAX_INVITE_LEN + 5,
                max: MAX_INVITE_LEN
            })
        );
    }

    #[test]
    fn encoding_error_reports_position_and_character() {
        let s = sample(0, 0).encode();
        let mut m: Vec<char> = s.chars().collect();
        m[9] = '!';
        let m: String = m.into_iter().collect();
        match Invite::decode(&m, NOW) {
            Err(InviteError::Encoding { position, detail }) => {
                assert_eq!(position, 9);
                assert!(detail.contains("'!'"), "{detail}");
            }
            other => panic!("expected Encoding, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_ignored_and_order_is_free() {
        let mut entries = valid_entries();
        entries.insert(2, ("future-field", Value::Array(vec![Value::Bool(true)])));
        entries.reverse();
        let inv = Invite::decode(&frame(1, &cbor(&map(entries))), NOW).unwrap();
        assert_eq!(inv.group_secret.as_bytes(), &[1; 32]);
        assert_eq!(inv.charter, vec![2; 5]);
        assert_eq!(inv.addrs, ["/ip4/1.2.3.4/tcp/1"]);
        assert_eq!(inv.expires_at, NOW + 10);
    }

    fn malformed(entries: Vec<(&str, Value)>) -> String {
        match Invite::decode(&frame(1, &cbor(&map(entries))), NOW) {
            Err(InviteError::Malformed { detail }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn malformed_payloads_are_reported() {
        let mut e = valid_entries();
        e[0].1 = Value::Bytes(vec![1; 31]);
        assert!(malformed(e).contains("\"secret\" must be 32 bytes, got 31"));

        let mut e = valid_entries();
        e.remove(3);
        assert!(malformed(e).contains("expires"));

        let mut e = valid_entries();
        e[1].1 = Value::Text("not bytes".into());
        malformed(e);

        let mut e = valid_entries();
        e[3].1 = Value::Integer((-1).into());
        malformed(e);

        let mut e = valid_entries();
        e.push(("secret", Value::Bytes(vec![1; 32])));
        assert!(malformed(e).contains("duplicate"));

        // Not a map at all, and trailing bytes after the map.
        assert!(matches!(
            Invite::decode(&frame(1, &cbor(&Value::Integer(5.into()))), NOW),
            Err(InviteError::Malformed { .. })
        ));
        let mut p = cbor(&map(valid_entries()));
        p.push(0);
        assert!(malformed_raw(&p).contains("1 unexpected bytes"));
        assert!(matches!(
            Invite::decode(&frame(1, &[0xff, 0x00]), NOW),
            Err(InviteError::Malformed { .. })
        ));
    }

    fn malformed_raw(payload: &[u8]) -> String {
        match Invite::decode(&frame(1, payload), NOW) {
            Err(InviteError::Malformed { detail }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn prop_round_trip(
            secret in any::<[u8; 32]>(),
            charter in proptest::collection::vec(any::<u8>(), 0..1024),
            addrs in proptest::collection::vec(".{0,80}", 0..6),
            expires_at in any::<u64>(),
        ) {
            let inv = Invite { group_secret: GroupSecret::from_bytes(secret), charter, addrs, expires_at, epochs: Vec::new() };
            let s = inv.encode();
            prop_assert_eq!(Invite::decode_ignoring_expiry(&s), Ok(inv));
        }

        #[test]
        fn prop_decode_never_panics(s in "cove:[A-Za-z0-9_=!-]{0,200}") {
            let _ = Invite::decode(&s, NOW);
        }

        #[test]
        fn prop_checksummed_garbage_never_panics(
            version in 0u8..3,
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = Invite::decode(&frame(version, &payload), NOW);
        }
    }
}
