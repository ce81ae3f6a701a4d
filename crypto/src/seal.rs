//! The sealed envelope carried on a group's gossip topic.
//!
//! ```text
//! offset  size  field
//! 0       1     version (= 1)
//! 1       4     epoch, u32 big endian (selects the content key)
//! 5       24    XChaCha20-Poly1305 nonce
//! 29      n+16  ciphertext of the n-byte plaintext, 16-byte Poly1305 tag appended
//! ```
//!
//! The AEAD's associated data binds the envelope to its header and to the topic it was
//! published on, so an envelope replayed on another group's topic (or with its epoch
//! rewritten) fails to open:
//!
//! ```text
//! AAD = "cove/v1/envelope" || version (1 byte) || epoch (u32 BE) || len(topic) (u16 BE) || topic
//! ```
//!
//! Nonces are 24 random bytes, so random nonces are safe for any realistic message count
//! under one key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::TryRng;

use crate::keys::ContentKey;
use crate::PROTOCOL_VERSION;

/// Length of the XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the envelope header: version, epoch, nonce.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Length of the Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;
/// Smallest possible envelope (empty plaintext).
pub const MIN_ENVELOPE_LEN: usize = ENVELOPE_HEADER_LEN + TAG_LEN;
/// Domain label at the start of the AEAD associated data.
pub const AAD_LABEL: &[u8] = b"cove/v1/envelope";

/// Errors from reading or opening an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Fewer bytes than a header plus a tag.
    #[error("envelope is too short: {len} bytes, expected at least {min} (header + tag)")]
    TooShort {
        /// Bytes received.
        len: usize,
        /// Minimum envelope length.
        min: usize,
    },
    /// The version byte is not one this implementation understands.
    #[error(
        "envelope version {got} is not supported (this implementation supports version {max})"
    )]
    UnsupportedVersion {
        /// Version byte received.
        got: u8,
        /// Highest supported version.
        max: u8,
    },
    /// AEAD authentication failed.
    #[error("authentication failed: wrong key, wrong topic/epoch, or tampered bytes")]
    Decrypt,
}

/// Builds the associated data, or `None` if the topic does not fit a u16 length.
fn aad(version: u8, epoch: u32, topic: &str) -> Option<Vec<u8>> {
    let topic_len = u16::try_from(topic.len()).ok()?;
    let mut v = Vec::with_capacity(AAD_LABEL.len() + 1 + 4 + 2 + topic.len());
    v.extend_from_slice(AAD_LABEL);
    v.push(version);
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&topic_len.to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    Some(v)
}

fn cipher(key: &ContentKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(*key.as_bytes()))
}

/// Seals `plaintext` for `topic` under `key` with a fresh random nonce.
///
/// # Panics
///
/// If `topic` is longer than 65535 bytes (topics from [`crate::GroupSecret::topic`] are 39).
pub fn seal(key: &ContentKey, topic: &str, epoch: u32, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut nonce)
        .expect("operating system random number generator failed");
    seal_with_nonce(key, topic, epoch, nonce, plaintext)
}

/// Seals with a caller-chosen nonce. Only for test vectors: reusing a nonce under one key
/// destroys confidentiality and integrity.
///
/// # Panics
///
/// If `topic` is longer than 65535 bytes.
pub fn seal_with_nonce(
    key: &ContentKey,
    topic: &str,
    epoch: u32,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let aad = aad(PROTOCOL_VERSION, epoch, topic).expect("topic must be at most 65535 bytes long");
    let ct = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        // XChaCha20-Poly1305 only fails for messages beyond 256 GiB, which cannot be in memory
        // as a gossip payload.
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory messages");
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + ct.len());
    out.push(PROTOCOL_VERSION);
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// A parsed (not yet authenticated) envelope.
struct Parsed<'a> {
    version: u8,
    epoch: u32,
    nonce: [u8; NONCE_LEN],
    ciphertext: &'a [u8],
}

/// Checks length and version and splits the envelope into its fields.
fn parse(envelope: &[u8]) -> Result<Parsed<'_>, SealError> {
    let too_short = SealError::TooShort {
        len: envelope.len(),
        min: MIN_ENVELOPE_LEN,
    };
    // Check the version first (when present) so that a future, differently laid out
    // version is reported as unsupported rather than as malformed.
    let version = *envelope.first().ok_or(too_short.clone())?;
    if version != PROTOCOL_VERSION {
        return Err(SealError::UnsupportedVersion {
            got: version,
            max: PROTOCOL_VERSION,
        });
    }
    if envelope.len() < MIN_ENVELOPE_LEN {
        return Err(too_short);
    }
    let (header, ciphertext) = envelope.split_at(ENVELOPE_HEADER_LEN);
    let mut epoch = [0u8; 4];
    epoch.copy_from_slice(&header[1..5]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[5..ENVELOPE_HEADER_LEN]);
    Ok(Parsed {
        version,
        epoch: u32::from_be_bytes(epoch),
        nonce,
        ciphertext,
    })
}

/// Reads the epoch from the header without decrypting, so the caller can pick the key.
pub fn envelope_epoch(envelope: &[u8]) -> Result<u32, SealError> {
    parse(envelope).map(|p| p.epoch)
}

/// Authenticates and decrypts an envelope received on `topic`.
pub fn open(key: &ContentKey, topic: &str, envelope: &[u8]) -> Result<Vec<u8>, SealError> {
    let p = parse(envelope)?;
    // A topic too long for the AAD could never have been used to seal.
    let aad = aad(p.version, p.epoch, topic).ok_or(SealError::Decrypt)?;
    cipher(key)
        .decrypt(
            &XNonce::from(p.nonce),
            Payload {
                msg: p.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::GroupSecret;
    use proptest::prelude::*;

    const TOPIC: &str = "cove/1/00112233445566778899aabbccddeeff";

    fn key(epoch: u32) -> ContentKey {
        GroupSecret::from_bytes([7; 32]).content_key(epoch)
    }

    fn sealed() -> Vec<u8> {
        seal(&key(3), TOPIC, 3, b"hello group")
    }

    #[test]
    fn round_trip() {
        let env = sealed();
        assert_eq!(env.len(), ENVELOPE_HEADER_LEN + 11 + TAG_LEN);
        assert_eq!(env[0], 1);
        assert_eq!(envelope_epoch(&env), Ok(3));
        assert_eq!(open(&key(3), TOPIC, &env).unwrap(), b"hello group");
    }

    #[test]
    fn empty_plaintext_round_trip() {
        let env = seal(&key(0), TOPIC, 0, b"");
        assert_eq!(env.len(), MIN_ENVELOPE_LEN);
        assert_eq!(open(&key(0), TOPIC, &env).unwrap(), b"");
    }

    #[test]
    fn random_nonces_differ() {
        assert_ne!(sealed(), sealed());
    }

    #[test]
    fn wrong_key_fails() {
        assert_eq!(open(&key(4), TOPIC, &sealed()), Err(SealError::Decrypt));
        let other = GroupSecret::from_bytes([8; 32]).content_key(3);
        assert_eq!(open(&other, TOPIC, &sealed()), Err(SealError::Decrypt));
    }

    #[test]
    fn wrong_nonce_fails() {
        let mut env = sealed();
        env[5] ^= 0x01;
        assert_eq!(open(&key(3), TOPIC, &env), Err(SealError::Decrypt));
        let mut env = sealed();
        env[ENVELOPE_HEADER_LEN - 1] ^= 0x80;
        assert_eq!(open(&key(3), TOPIC, &env), Err(SealError::Decrypt));
    }

    #[test]
    fn wrong_topic_fails() {
        let other = "cove/1/ffffffffffffffffffffffffffffffff";
        assert_eq!(open(&key(3), other, &sealed()), Err(SealError::Decrypt));
        assert_eq!(open(&key(3), "", &sealed()), Err(SealError::Decrypt));
    }

    #[test]
    fn rewritten_epoch_fails() {
        // Same key, header epoch changed: AAD no longer matches.
        let mut env = sealed();
        env[4] ^= 0x01;
        assert_eq!(envelope_epoch(&env), Ok(2));
        assert_eq!(open(&key(3), TOPIC, &env), Err(SealError::Decrypt));
    }

    #[test]
    fn key_of_other_epoch_fails() {
        // Sealed for epoch 4 with epoch 4's key; a reader that picks epoch 3's key fails.
        let env = seal(&key(4), TOPIC, 4, b"x");
        assert_eq!(open(&key(3), TOPIC, &env), Err(SealError::Decrypt));
        assert_eq!(open(&key(4), TOPIC, &env).unwrap(), b"x");
    }

    #[test]
    fn flipped_ciphertext_or_tag_bit_fails() {
        let env = sealed();
        for i in ENVELOPE_HEADER_LEN..env.len() {
            let mut e = env.clone();
            e[i] ^= 0x10;
            assert_eq!(
                open(&key(3), TOPIC, &e),
                Err(SealError::Decrypt),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncated_fails() {
        let env = sealed();
        for len in 0..env.len() {
            let r = open(&key(3), TOPIC, &env[..len]);
            if len < MIN_ENVELOPE_LEN {
                assert_eq!(
                    r,
                    Err(SealError::TooShort {
                        len,
                        min: MIN_ENVELOPE_LEN
                    })
                );
                assert!(envelope_epoch(&env[..len]).is_err());
            } else {
                assert_eq!(r, Err(SealError::Decrypt), "len {len}");
            }
        }
        let mut longer = env.clone();
        longer.push(0);
        assert_eq!(open(&key(3), TOPIC, &longer), Err(SealError::Decrypt));
    }

    #[test]
    fn unknown_version_fails() {
        for v in [0u8, 2, 255] {
            let mut env = sealed();
            env[0] = v;
            let want = Err(SealError::UnsupportedVersion { got: v, max: 1 });
            assert_eq!(open(&key(3), TOPIC, &env), want);
            assert_eq!(envelope_epoch(&env), want.map(|_: Vec<u8>| 0));
            // Reported even when too short for a version-1 envelope.
            assert_eq!(
                envelope_epoch(&[v]),
                Err(SealError::UnsupportedVersion { got: v, max: 1 })
            );
        }
    }

    #[test]
    fn error_messages_are_precise() {
        assert_eq!(
            SealError::TooShort { len: 3, min: 45 }.to_string(),
            "envelope is too short: 3 bytes, expected at least 45 (header + tag)"
        );
        assert_eq!(
            SealError::Decrypt.to_string(),
            "authentication failed: wrong key, wrong topic/epoch, or tampered bytes"
        );
    }

    proptest! {
        #[test]
        fn prop_round_trip(
            secret in any::<[u8; 32]>(),
            epoch in any::<u32>(),
            topic in ".{0,64}",
            plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let key = GroupSecret::from_bytes(secret).content_key(epoch);
            let env = seal(&key, &topic, epoch, &plaintext);
            prop_assert_eq!(envelope_epoch(&env), Ok(epoch));
            prop_assert_eq!(open(&key, &topic, &env), Ok(plaintext));
        }

        #[test]
        fn prop_open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = envelope_epoch(&bytes);
            let _ = open(&key(0), TOPIC, &bytes);
        }
    }
}
