//! Epoch secrets and how they reach members (PROTOCOL.md §2 and §15).
//!
//! A group's first epoch (tag 0) takes its keys from the group secret. Every later epoch has
//! a fresh random [`EpochSecret`], drawn by the admin who re-keys, and reaches each member of
//! the roster *wrapped* to that member's X25519 [`MemberKey`]:
//!
//! ```text
//! shared   = X25519(ephemeral secret, member public key)            (32, must not be all zero)
//! wrap key = HKDF(salt "cove/v1/rekey", IKM shared,
//!                 info "cove/v1/epoch-wrap" || ephemeral public || member public
//!                      || recipient pseudonym || group id || u32be(tag), 32)
//! wrapped  = XChaCha20-Poly1305(wrap key, nonce 24 × 00, epoch secret, AAD empty)    (48)
//! ```
//!
//! The wrap key is used once (the ephemeral key is fresh per re-key message and the member's
//! key is in `info`), so the fixed nonce never repeats under one key.

use std::fmt;

use chacha20poly1305::{aead::Aead, Key, KeyInit, XChaCha20Poly1305, XNonce};
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::{hkdf, os_random_32};
use crate::{ContentKey, GroupId, GroupSecret, MasterSeed, PublicKey};

/// HKDF salt of every value derived from an epoch secret.
pub const EPOCH_SALT: &[u8] = b"cove/v1/epoch";
/// HKDF label of an epoch's 4-byte tag.
pub const LABEL_EPOCH_TAG: &[u8] = b"cove/v1/epoch-tag";
/// HKDF salt of a member's X25519 key.
pub const MEMBER_SALT: &[u8] = b"cove/v1/member";
/// HKDF label of a member's X25519 key in a group.
pub const LABEL_MEMBER_KEY: &[u8] = b"cove/v1/member-key";
/// HKDF salt of a wrap key.
pub const REKEY_SALT: &[u8] = b"cove/v1/rekey";
/// HKDF label of a wrap key.
pub const LABEL_EPOCH_WRAP: &[u8] = b"cove/v1/epoch-wrap";
/// Bytes of a wrapped epoch secret: the secret and the AEAD tag.
pub const WRAPPED_LEN: usize = 48;

/// The random secret of one epoch after the first. Zeroized on drop; `Debug` prints
/// `EpochSecret(tag)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct EpochSecret([u8; 32]);

impl EpochSecret {
    /// Draws a fresh secret whose tag is not 0 (the first epoch's) and not in `taken`.
    pub fn generate(taken: &[u32]) -> Self {
        loop {
            let secret = Self(os_random_32());
            let tag = secret.tag();
            if tag != 0 && !taken.contains(&tag) {
                return secret;
            }
        }
    }

    /// Wraps existing bytes (from the store or an unwrapped package).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw bytes, for persisting and invites.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The epoch's tag: the envelope's `epoch` field (label `cove/v1/epoch-tag`, 4 bytes as
    /// u32 big endian).
    pub fn tag(&self) -> u32 {
        u32::from_be_bytes(hkdf(EPOCH_SALT, &self.0, &[LABEL_EPOCH_TAG]))
    }

    /// The epoch's content key (label `cove/v1/content-key`).
    pub fn content_key(&self) -> ContentKey {
        ContentKey::from_bytes(hkdf(EPOCH_SALT, &self.0, &[crate::keys::LABEL_CONTENT_KEY]))
    }

    /// The epoch's sync key (label `cove/v1/sync-auth`).
    pub fn sync_key(&self) -> [u8; 32] {
        hkdf(EPOCH_SALT, &self.0, &[crate::keys::LABEL_SYNC_AUTH])
    }

    /// The pre-shared key of the group's network while this epoch is current (label
    /// `cove/v1/network-key`, PROTOCOL.md §15): a re-key moves the network, so a banned member
    /// cannot even connect to the members who moved.
    pub fn network_key(&self) -> crate::NetworkKey {
        crate::NetworkKey::from_bytes(hkdf(EPOCH_SALT, &self.0, &[crate::keys::LABEL_NETWORK_KEY]))
    }
}

impl fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochSecret({:08x})", self.tag())
    }
}

/// A member's X25519 key pair in one group, derived from the master seed: the key epoch
/// secrets are wrapped to. Its public half is published in the member's `member` record.
#[derive(Clone)]
pub struct MemberKey {
    secret: StaticSecret,
    public: [u8; 32],
}

impl MemberKey {
    /// X25519 secret = HKDF(salt `cove/v1/member`, IKM master seed, info `cove/v1/member-key`
    /// || group id, 32), used as an RFC 7748 scalar (clamped by X25519 itself).
    pub fn derive(seed: &MasterSeed, group: &GroupId) -> Self {
        let mut bytes: [u8; 32] = hkdf(
            MEMBER_SALT,
            seed.as_bytes(),
            &[LABEL_MEMBER_KEY, group.as_bytes()],
        );
        let secret = StaticSecret::from(bytes);
        bytes.zeroize();
        let public = XPublic::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// The public key, as published in the `member` record.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Opens a package wrapped to this key by [`Rekeying::wrap`]; `None` when it does not
    /// open (not for this key, altered, or a low-order ephemeral key).
    pub fn unwrap(
        &self,
        ephemeral: &[u8; 32],
        me: &PublicKey,
        group: &GroupId,
        tag: u32,
        wrapped: &[u8],
    ) -> Option<EpochSecret> {
        let secret = EpochSecret::from_bytes(self.open(ephemeral, me, group, tag, wrapped)?);
        (secret.tag() == tag).then_some(secret)
    }

    /// Opens the group secret of a welcome (§17), wrapped by [`Rekeying::wrap_group_secret`];
    /// `None` when it does not open or is not the secret of `group`.
    pub fn unwrap_group_secret(
        &self,
        ephemeral: &[u8; 32],
        me: &PublicKey,
        group: &GroupId,
        wrapped: &[u8],
    ) -> Option<GroupSecret> {
        let secret = GroupSecret::from_bytes(self.open(ephemeral, me, group, 0, wrapped)?);
        (secret.id() == *group).then_some(secret)
    }

    fn open(
        &self,
        ephemeral: &[u8; 32],
        me: &PublicKey,
        group: &GroupId,
        tag: u32,
        wrapped: &[u8],
    ) -> Option<[u8; 32]> {
        let shared = self.secret.diffie_hellman(&XPublic::from(*ephemeral));
        if !shared.was_contributory() {
            return None;
        }
        let key = wrap_key(shared.as_bytes(), ephemeral, &self.public, me, group, tag);
        let mut plain = XChaCha20Poly1305::new(&Key::from(key))
            .decrypt(&XNonce::default(), wrapped)
            .ok()?;
        let bytes = plain.as_slice().try_into().ok();
        plain.zeroize();
        bytes
    }
}

impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberKey({})", hex::encode(self.public))
    }
}

/// One re-key message's ephemeral key: wraps one epoch secret to many members.
pub struct Rekeying {
    ephemeral: StaticSecret,
    public: [u8; 32],
}

impl Rekeying {
    /// A fresh ephemeral key.
    pub fn new() -> Self {
        Self::from_ephemeral(os_random_32())
    }

    /// A given ephemeral secret. Only for test vectors: a reused ephemeral key with the same
    /// recipients and tag gives the same wrap key.
    pub fn from_ephemeral(bytes: [u8; 32]) -> Self {
        let ephemeral = StaticSecret::from(bytes);
        let public = XPublic::from(&ephemeral).to_bytes();
        Self { ephemeral, public }
    }

    /// The ephemeral public key, carried in the re-key message.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Wraps `secret` to a member; `None` when the member's key is of low order (an X25519
    /// key no honest node derives), so the package could be opened by anyone.
    pub fn wrap(
        &self,
        secret: &EpochSecret,
        member: &PublicKey,
        member_key: &[u8; 32],
        group: &GroupId,
    ) -> Option<[u8; WRAPPED_LEN]> {
        self.seal(secret.as_bytes(), secret.tag(), member, member_key, group)
    }

    /// Wraps the group secret to a newcomer, for its welcome (§17): as an epoch secret, with
    /// tag 0 (the first epoch's, whose keys come from the group secret).
    pub fn wrap_group_secret(
        &self,
        secret: &GroupSecret,
        member: &PublicKey,
        member_key: &[u8; 32],
        group: &GroupId,
    ) -> Option<[u8; WRAPPED_LEN]> {
        self.seal(secret.as_bytes(), 0, member, member_key, group)
    }

    fn seal(
        &self,
        secret: &[u8; 32],
        tag: u32,
        member: &PublicKey,
        member_key: &[u8; 32],
        group: &GroupId,
    ) -> Option<[u8; WRAPPED_LEN]> {
        let shared = self.ephemeral.diffie_hellman(&XPublic::from(*member_key));
        if !shared.was_contributory() {
            return None;
        }
        let key = wrap_key(
            shared.as_bytes(),
            &self.public,
            member_key,
            member,
            group,
            tag,
        );
        let sealed = XChaCha20Poly1305::new(&Key::from(key))
            .encrypt(&XNonce::default(), secret.as_slice())
            .expect("XChaCha20-Poly1305 encrypts 32 bytes");
        sealed.try_into().ok()
    }
}

impl fmt::Debug for Rekeying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rekeying({})", hex::encode(self.public))
    }
}

impl Default for Rekeying {
    fn default() -> Self {
        Self::new()
    }
}

fn wrap_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    member_key: &[u8; 32],
    member: &PublicKey,
    group: &GroupId,
    tag: u32,
) -> [u8; 32] {
    hkdf(
        REKEY_SALT,
        shared,
        &[
            LABEL_EPOCH_WRAP,
            ephemeral,
            member_key,
            member.as_bytes(),
            group.as_bytes(),
            &tag.to_be_bytes(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupSecret;

    #[test]
    fn a_wrapped_secret_opens_for_its_member_only() {
        let group = GroupSecret::from_bytes([1; 32]).id();
        let (bat, cat) = (
            MasterSeed::from_bytes([2; 32]),
            MasterSeed::from_bytes([3; 32]),
        );
        let (bat_key, cat_key) = (
            MemberKey::derive(&bat, &group),
            MemberKey::derive(&cat, &group),
        );
        let secret = EpochSecret::generate(&[]);
        let rekey = Rekeying::new();
        let bat_id = bat.pseudonym(&group).public();
        let wrapped = rekey
            .wrap(&secret, &bat_id, &bat_key.public(), &group)
            .unwrap();
        let tag = secret.tag();
        let eph = rekey.public();
        assert_eq!(
            bat_key.unwrap(&eph, &bat_id, &group, tag, &wrapped),
            Some(secret.clone())
        );
        let cat_id = cat.pseudonym(&group).public();
        assert_eq!(cat_key.unwrap(&eph, &cat_id, &group, tag, &wrapped), None);
        assert_eq!(cat_key.unwrap(&eph, &bat_id, &group, tag, &wrapped), None);
        let mut altered = wrapped;
        altered[0] ^= 1;
        assert_eq!(bat_key.unwrap(&eph, &bat_id, &group, tag, &altered), None);
        assert_eq!(
            bat_key.unwrap(&eph, &bat_id, &group, tag ^ 1, &wrapped),
            None
        );
    }

    #[test]
    fn low_order_keys_are_refused_both_ways() {
        let group = GroupSecret::from_bytes([1; 32]).id();
        let bat = MasterSeed::from_bytes([2; 32]);
        let secret = EpochSecret::generate(&[]);
        let me = bat.pseudonym(&group).public();
        assert!(Rekeying::new()
            .wrap(&secret, &me, &[0; 32], &group)
            .is_none());
        let key = MemberKey::derive(&bat, &group);
        assert!(key
            .unwrap(&[0; 32], &me, &group, secret.tag(), &[0; 48])
            .is_none());
    }

    #[test]
    fn generated_tags_avoid_zero_and_taken_ones() {
        let a = EpochSecret::generate(&[]);
        let b = EpochSecret::generate(&[a.tag()]);
        assert_ne!(a.tag(), 0);
        assert_ne!(a.tag(), b.tag());
        assert_ne!(*a.content_key().as_bytes(), *b.content_key().as_bytes());
    }
}
