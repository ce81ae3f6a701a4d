//! Key material and key derivation.
//!
//! Two roots of secrecy exist in Cove:
//!
//! * a member's [`MasterSeed`] (never leaves the device), from which one ed25519
//!   [`Pseudonym`] per group is derived. The derivation mixes in the [`GroupId`], so two
//!   groups see unlinkable public keys for the same person;
//! * a group's [`GroupSecret`] (shared through invites), from which the group id, the
//!   gossip topic, the per-epoch [`ContentKey`]s, the sync key, the discovery key and the
//!   per-epoch network key (the pre-shared key of the group's private network) are derived;
//! * a device's [`DeviceKey`] (the node's `peer.key`, random, never shared), from which one
//!   libp2p peer key per group is derived, so that a node's network identities in two groups
//!   are unlinkable.
//!
//! All derivations are HKDF-SHA256 (RFC 5869) with the salts and labels listed as
//! constants below and in `docs/PROTOCOL.md` §2. Secret types zeroize their bytes on drop
//! and print as `TypeName(..)` in `Debug`.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand::TryRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hexfmt::parse_hex32;
use crate::sign::{Domain, SignatureError};

/// HKDF salt for every key derived from a group secret.
pub const GROUP_SALT: &[u8] = b"cove/v1/group";
/// HKDF info label for the group id.
pub const LABEL_GROUP_ID: &[u8] = b"cove/v1/group-id";
/// HKDF info label for the gossip topic.
pub const LABEL_TOPIC: &[u8] = b"cove/v1/topic";
/// HKDF info label for content keys (followed by the epoch, u32 big endian).
pub const LABEL_CONTENT_KEY: &[u8] = b"cove/v1/content-key";
/// HKDF info label for the sync-protocol membership key.
pub const LABEL_SYNC_AUTH: &[u8] = b"cove/v1/sync-auth";
/// HKDF info label for the DHT discovery (provider) key.
pub const LABEL_DISCOVERY: &[u8] = b"cove/v1/discovery";
/// HKDF info label for the private-network pre-shared key (followed by the epoch, u32 big
/// endian).
pub const LABEL_NETWORK_KEY: &[u8] = b"cove/v1/network-key";
/// HKDF info label for the pre-shared key of a group's door (PROTOCOL.md §10.3).
pub const LABEL_DOOR_KEY: &[u8] = b"cove/v1/door-key";
/// HKDF salt for per-group peer keys derived from a device key.
pub const PEER_SALT: &[u8] = b"cove/v1/peer";
/// HKDF info label for per-group peer keys (followed by the 32-byte group id).
pub const LABEL_PEER_KEY: &[u8] = b"cove/v1/peer-key";
/// HKDF salt for pseudonym derivation from a master seed.
pub const PSEUDONYM_SALT: &[u8] = b"cove/v1/pseudonym";
/// HKDF info label for pseudonym keys (followed by the 32-byte group id).
pub const LABEL_PSEUDONYM_KEY: &[u8] = b"cove/v1/pseudonym-key";
/// Prefix of every topic string; followed by 32 lowercase hex characters.
pub const TOPIC_PREFIX: &str = "cove/1/";

/// Errors when building or parsing keys and identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The 32 bytes do not decompress to a point on the Ed25519 curve.
    #[error("public key is not a valid Ed25519 point: expected a compressed Edwards-Y encoding of a curve point")]
    InvalidPoint,
    /// The point is of small order; no honestly generated key has this form.
    #[error("public key is a small-order (weak) Ed25519 point: expected the public key of a real signing key")]
    WeakKey,
    /// Hex text had the wrong number of characters.
    #[error("{what} must be 64 hex characters (32 bytes), got {got} characters")]
    HexLength {
        /// What was being parsed ("public key", "group id").
        what: &'static str,
        /// Number of characters received.
        got: usize,
    },
    /// Hex text contained a character that is not a hex digit.
    #[error("{what} has invalid character {character:?} at position {position}: expected a hex digit 0-9 or a-f")]
    HexCharacter {
        /// What was being parsed ("public key", "group id").
        what: &'static str,
        /// The offending character.
        character: char,
        /// Zero-based position of the character.
        position: usize,
    },
}

/// Fills a fresh 32-byte array from the operating system's random number generator.
pub(crate) fn os_random_32() -> [u8; 32] {
    let mut out = [0u8; 32];
    // Failure of the OS RNG is not recoverable and not caused by untrusted input; there is
    // no sane fallback for key generation, so we stop loudly rather than use weak keys.
    rand::rngs::SysRng
        .try_fill_bytes(&mut out)
        .expect("operating system random number generator failed");
    out
}

/// HKDF-SHA256 extract-then-expand into a fixed-size output.
pub(crate) fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = [0u8; N];
    // N is 16 or 32 at every call site, far below HKDF-SHA256's 255 * 32 byte maximum.
    hk.expand_multi_info(info, &mut okm)
        .expect("HKDF-SHA256 output length is at most 8160 bytes");
    okm
}

/// A member's root secret. One per person (per device install); never shared.
///
/// Zeroized on drop; `Debug` prints `MasterSeed(..)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterSeed([u8; 32]);

impl MasterSeed {
    /// Generates a new seed from operating-system randomness.
    pub fn generate() -> Self {
        Self(os_random_32())
    }

    /// Wraps existing seed bytes (e.g. loaded from the node's key file).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw seed bytes, for persisting.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives this member's signing key for `group`.
    ///
    /// Secret key seed = HKDF-SHA256(salt = `cove/v1/pseudonym`, IKM = seed,
    /// info = `cove/v1/pseudonym-key` || group id, L = 32).
    pub fn pseudonym(&self, group: &GroupId) -> Pseudonym {
        let mut sk: [u8; 32] = hkdf(
            PSEUDONYM_SALT,
            &self.0,
            &[LABEL_PSEUDONYM_KEY, group.as_bytes()],
        );
        let p = Pseudonym::from_secret_bytes(sk);
        sk.zeroize();
        p
    }
}

impl fmt::Debug for MasterSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterSeed(..)")
    }
}

/// A member's ed25519 signing key within one group (or an advertiser's key).
///
/// The secret zeroizes on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct Pseudonym {
    key: SigningKey,
}

impl Pseudonym {
    /// Builds a signing key from a 32-byte RFC 8032 secret key seed.
    pub fn from_secret_bytes(b: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&b),
        }
    }

    /// The 32-byte RFC 8032 secret key seed (for persisting advertiser keys and vectors).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public (verifying) key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs `domain.prefix() || bytes`.
    pub fn sign(&self, domain: Domain, bytes: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        let preimage = domain.preimage(bytes);
        Signature(self.key.sign(&preimage).to_bytes())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonym")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// An ed25519 public key, known to decode to a valid, non-small-order curve point.
///
/// It keeps the decoded point, so a verification with it decodes only the signature's `R`
/// (decoding a point is a square root, about a tenth of a verification); equality, order and
/// hashing are those of the 32 encoded bytes. `Display` / `FromStr` use 64 hex characters
/// (lowercase when displayed).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// Keys a thread keeps decoded for [`PublicKey::from_bytes`] (about 200 bytes each); all are
/// forgotten when it is full.
pub const DECODED_KEYS: usize = 1024;

thread_local! {
    static DECODED: std::cell::RefCell<std::collections::HashMap<[u8; 32], PublicKey>> =
        std::cell::RefCell::default();
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PublicKey {
    /// Validates and wraps 32 public key bytes.
    ///
    /// Rejects bytes that do not decode to an Ed25519 point ([`KeyError::InvalidPoint`])
    /// and small-order points ([`KeyError::WeakKey`]), which strict verification would
    /// reject anyway.
    ///
    /// Each thread remembers up to [`DECODED_KEYS`] valid keys it decoded: a group's messages
    /// come from few authors, and decoding a key is a square root in the field.
    pub fn from_bytes(b: [u8; 32]) -> Result<Self, KeyError> {
        DECODED.with(|decoded| {
            let mut decoded = decoded.borrow_mut();
            if let Some(known) = decoded.get(&b) {
                return Ok(*known);
            }
            let key = Self::decode(&b)?;
            if decoded.len() >= DECODED_KEYS {
                decoded.clear();
            }
            decoded.insert(b, key);
            Ok(key)
        })
    }

    fn decode(b: &[u8; 32]) -> Result<Self, KeyError> {
        let vk = VerifyingKey::from_bytes(b).map_err(|_| KeyError::InvalidPoint)?;
        if vk.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(vk))
    }

    /// The 32 encoded bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Verifies `sig` over `domain.prefix() || bytes` with RFC 8032 strict verification
    /// (canonical S, no small-order R or A).
    pub fn verify(
        &self,
        domain: Domain,
        bytes: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(&domain.preimage(bytes), &sig)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Short human fingerprint: the first 4 bytes of SHA-256(key) as 8 lowercase hex chars.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.as_bytes());
        hex::encode(&digest[..4])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(parse_hex32(s, "public key")?)
    }
}

/// A 64-byte ed25519 signature (R || S).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 signature bytes. Validity is only checked by [`PublicKey::verify`].
    pub fn from_bytes(b: [u8; 64]) -> Self {
        Self(b)
    }

    /// Wraps a slice that must be exactly 64 bytes long.
    pub fn from_slice(b: &[u8]) -> Result<Self, SignatureError> {
        let arr: [u8; 64] = b
            .try_into()
            .map_err(|_| SignatureError::Length { got: b.len() })?;
        Ok(Self(arr))
    }

    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// The secret shared by all members of a group; carried in invites.
///
/// Zeroized on drop; `Debug` prints `GroupSecret(..)`. Equality is constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct GroupSecret([u8; 32]);

impl GroupSecret {
    /// Generates a new group secret from operating-system randomness.
    pub fn generate() -> Self {
        Self(os_random_32())
    }

    /// Wraps existing secret bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw secret bytes, for persisting and invites.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn derive<const N: usize>(&self, info: &[&[u8]]) -> [u8; N] {
        hkdf(GROUP_SALT, &self.0, info)
    }

    /// The group's public identifier (label `cove/v1/group-id`, 32 bytes).
    pub fn id(&self) -> GroupId {
        GroupId(self.derive(&[LABEL_GROUP_ID]))
    }

    /// The gossip topic: `"cove/1/"` + lowercase hex of 16 bytes (label `cove/v1/topic`).
    pub fn topic(&self) -> String {
        let t: [u8; 16] = self.derive(&[LABEL_TOPIC]);
        format!("{TOPIC_PREFIX}{}", hex::encode(t))
    }

    /// The AEAD key for `epoch` (label `cove/v1/content-key` || epoch as u32 big endian).
    pub fn content_key(&self, epoch: u32) -> ContentKey {
        ContentKey(self.derive(&[LABEL_CONTENT_KEY, &epoch.to_be_bytes()]))
    }

    /// The sync protocol's membership-proof key (label `cove/v1/sync-auth`).
    pub fn sync_key(&self) -> [u8; 32] {
        self.derive(&[LABEL_SYNC_AUTH])
    }

    /// The DHT provider key members announce to find each other (label `cove/v1/discovery`).
    pub fn discovery_key(&self) -> [u8; 32] {
        self.derive(&[LABEL_DISCOVERY])
    }

    /// The pre-shared key of the group's private network in `epoch` (label
    /// `cove/v1/network-key` || epoch as u32 big endian): a peer without it cannot complete a
    /// connection to a member's node for this group (PROTOCOL.md §10). Only epoch 0 exists
    /// today; the epoch is in the label so that re-keying can move the network with the
    /// content key.
    pub fn network_key(&self, epoch: u32) -> NetworkKey {
        NetworkKey(self.derive(&[LABEL_NETWORK_KEY, &epoch.to_be_bytes()]))
    }

    /// The pre-shared key of the group's *door* (label `cove/v1/door-key`, PROTOCOL.md
    /// §10.3): the small network where a newcomer with a ticket asks to be admitted. Tickets
    /// carry it instead of the network key, so that holding a ticket's text (spent or not)
    /// opens the door and nothing behind it.
    pub fn door_key(&self) -> NetworkKey {
        NetworkKey(self.derive(&[LABEL_DOOR_KEY]))
    }
}

/// The 32-byte pre-shared key of one group's private network in one epoch. Zeroized on drop;
/// `Debug` prints `NetworkKey(..)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct NetworkKey([u8; 32]);

impl NetworkKey {
    /// Wraps key bytes read from a ticket invite (§6).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw key bytes, for the transport.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetworkKey(..)")
    }
}

/// A device's own secret: the 32-byte Ed25519 secret key in the node's `peer.key` (random,
/// never shared, one per data dir). It is never used on the network itself: each group gets
/// its own peer key derived from it ([`DeviceKey::peer_secret`]).
///
/// Zeroized on drop; `Debug` prints `DeviceKey(..)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DeviceKey([u8; 32]);

impl DeviceKey {
    /// Wraps the device's secret key bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The Ed25519 secret key (RFC 8032 seed) of this device's libp2p peer key in `group`:
    /// HKDF-SHA256(salt = `cove/v1/peer`, IKM = device key, info = `cove/v1/peer-key` ||
    /// group id, L = 32). Deterministic, so a restart keeps each group's peer id without a new
    /// file; the group id in `info` makes the peer ids of two groups unlinkable without the
    /// device key.
    pub fn peer_secret(&self, group: &GroupId) -> [u8; 32] {
        hkdf(PEER_SALT, &self.0, &[LABEL_PEER_KEY, group.as_bytes()])
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl PartialEq for GroupSecret {
    fn eq(&self, other: &Self) -> bool {
        // No early exit, so comparison time does not depend on where the bytes differ.
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for GroupSecret {}

impl fmt::Debug for GroupSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupSecret(..)")
    }
}

/// A group's public identifier, derived from its secret.
///
/// `Display` / `FromStr` use 64 hex characters (lowercase when displayed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId([u8; 32]);

impl GroupId {
    /// Wraps 32 bytes (any value is a valid id).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The 32 id bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex characters, for logs and prompts.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}

impl FromStr for GroupId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(parse_hex32(s, "group id")?))
    }
}

/// The XChaCha20-Poly1305 key for one epoch of a group's content.
///
/// Zeroized on drop; `Debug` prints `ContentKey(..)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// Wraps 32 key bytes (normally obtained from [`GroupSecret::content_key`]).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw key bytes (for test vectors).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(n: u8) -> MasterSeed {
        MasterSeed::from_bytes([n; 32])
    }

    fn group(n: u8) -> GroupId {
        GroupSecret::from_bytes([n; 32]).id()
    }

    #[test]
    fn pseudonym_is_stable_for_same_seed_and_group() {
        let a = seed(1).pseudonym(&group(7)).public();
        let b = seed(1).pseudonym(&group(7)).public();
        assert_eq!(a, b);
    }

    #[test]
    fn pseudonyms_differ_across_groups() {
        let s = seed(1);
        assert_ne!(
            s.pseudonym(&group(7)).public(),
            s.pseudonym(&group(8)).public()
        );
    }

    #[test]
    fn peer_keys_differ_across_groups_and_devices() {
        let (a, b) = (
            DeviceKey::from_bytes([1; 32]),
            DeviceKey::from_bytes([2; 32]),
        );
        assert_ne!(a.peer_secret(&group(7)), a.peer_secret(&group(8)));
        assert_ne!(a.peer_secret(&group(7)), b.peer_secret(&group(7)));
        assert_eq!(a.peer_secret(&group(7)), a.peer_secret(&group(7)));
    }

    #[test]
    fn pseudonyms_differ_across_seeds() {
        let g = group(7);
        assert_ne!(
            seed(1).pseudonym(&g).public(),
            seed(2).pseudonym(&g).public()
        );
    }

    #[test]
    fn group_derivations_are_distinct() {
        let gs = GroupSecret::from_bytes([9; 32]);
        let outs = [
            *gs.id().as_bytes(),
            *gs.content_key(0).as_bytes(),
            *gs.content_key(1).as_bytes(),
            gs.sync_key(),
            gs.discovery_key(),
            *gs.network_key(0).as_bytes(),
            *gs.network_key(1).as_bytes(),
            *gs.door_key().as_bytes(),
        ];
        for i in 0..outs.len() {
            for j in i + 1..outs.len() {
                assert_ne!(outs[i], outs[j], "derivations {i} and {j} collide");
            }
        }
        let topic = gs.topic();
        assert!(topic.starts_with("cove/1/"));
        assert_eq!(topic.len(), 7 + 32);
        assert!(topic[7..]
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn secrets_do_not_print() {
        let gs = GroupSecret::from_bytes([0xab; 32]);
        assert_eq!(format!("{gs:?}"), "GroupSecret(..)");
        assert_eq!(format!("{:?}", gs.content_key(0)), "ContentKey(..)");
        assert_eq!(format!("{:?}", seed(0xab)), "MasterSeed(..)");
        let p = Pseudonym::from_secret_bytes([0xab; 32]);
        assert!(!format!("{p:?}").contains(&hex::encode([0xab; 32])));
    }

    #[test]
    fn public_key_hex_round_trip() {
        let pk = Pseudonym::from_secret_bytes([3; 32]).public();
        let s = pk.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<PublicKey>().unwrap(), pk);
        assert_eq!(pk.fingerprint().len(), 8);
    }

    #[test]
    fn public_key_parse_errors_are_precise() {
        assert_eq!(
            "abc".parse::<PublicKey>(),
            Err(KeyError::HexLength {
                what: "public key",
                got: 3
            })
        );
        let bad = format!("{}x", "0".repeat(63));
        assert_eq!(
            bad.parse::<PublicKey>(),
            Err(KeyError::HexCharacter {
                what: "public key",
                character: 'x',
                position: 63
            })
        );
        // Multi-byte characters must not cause a panic or a misleading error.
        let uni = format!("{}é", "0".repeat(62));
        assert!(uni.parse::<PublicKey>().is_err());
        assert!("abc"
            .parse::<PublicKey>()
            .unwrap_err()
            .to_string()
            .contains("64 hex characters"));
    }

    #[test]
    fn public_key_rejects_invalid_and_weak_points() {
        // y = 2 is not on the curve (x^2 would need to be a non-square).
        let mut not_on_curve = [0u8; 32];
        not_on_curve[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(not_on_curve),
            Err(KeyError::InvalidPoint)
        );
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(identity), Err(KeyError::WeakKey));
        // Asked again, still refused: only valid keys are remembered.
        assert_eq!(PublicKey::from_bytes(identity), Err(KeyError::WeakKey));
    }

    #[test]
    fn decoded_keys_compare_as_their_bytes_and_the_memo_stays_bounded() {
        let keys: Vec<[u8; 32]> = (0..DECODED_KEYS + 8)
            .map(|i| {
                let mut secret = [0u8; 32];
                secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
                *Pseudonym::from_secret_bytes(secret).public().as_bytes()
            })
            .collect();
        for (i, bytes) in keys.iter().enumerate() {
            let key = PublicKey::from_bytes(*bytes).unwrap();
            assert_eq!(key.as_bytes(), bytes);
            assert_eq!(key, PublicKey::decode(bytes).unwrap(), "the memo's answer");
            let size = DECODED.with(|d| d.borrow().len());
            assert!((1..=DECODED_KEYS).contains(&size), "{size} after {i}");
        }
        let (a, b) = (
            PublicKey::from_bytes(keys[0]).unwrap(),
            PublicKey::from_bytes(keys[1]).unwrap(),
        );
        assert_eq!(a.cmp(&b), keys[0].cmp(&keys[1]));
        let hash = |k: &PublicKey| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(k)
        };
        assert_eq!(hash(&a), hash(&PublicKey::decode(&keys[0]).unwrap()));
    }

    #[test]
    fn group_id_parse_and_short() {
        let id = group(5);
        assert_eq!(id.to_string().parse::<GroupId>().unwrap(), id);
        assert_eq!(id.short(), id.to_string()[..8]);
        assert!(matches!(
            "zz".parse::<GroupId>(),
            Err(KeyError::HexLength {
                what: "group id",
                got: 2
            })
        ));
    }

    #[test]
    fn signature_from_slice_checks_length() {
        assert_eq!(
            Signature::from_slice(&[0; 63]),
            Err(SignatureError::Length { got: 63 })
        );
        assert!(Signature::from_slice(&[0; 64]).is_ok());
    }

    #[test]
    fn generated_secrets_differ() {
        assert_ne!(GroupSecret::generate(), GroupSecret::generate());
        assert_ne!(
            MasterSeed::generate().as_bytes(),
            MasterSeed::generate().as_bytes()
        );
    }
}
