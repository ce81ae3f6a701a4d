//! Domain-separated signatures.
//!
//! Every Cove signature is Ed25519 (RFC 8032, strict verification) over
//! `domain.prefix() || bytes`, where `bytes` are the exact bytes that travel on the wire.
//! Verifiers check the bytes they received and never re-encode a decoded structure, so
//! two encoders that disagree on, say, CBOR map ordering cannot make a valid message
//! invalid or vice versa. The prefix keeps a signature made for one purpose (a message)
//! from being replayed as another (a sync proof). Each prefix ends with a NUL byte, and no
//! prefix is a prefix of another.

/// What a signature is for. Part of the signed preimage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Signed application messages (posts, profiles, grants, ...).
    Message,
    /// The sync protocol's proof of group membership by the requester.
    SyncProof,
    /// The sync protocol's proof of group membership by the responder.
    SyncResponderProof,
    /// A member's address record in one group's network, signed by the peer key it
    /// describes (PROTOCOL.md §10.1), never by a pseudonym.
    AddrRecord,
    /// A `ticket` record's proof that its author holds the ticket key (§8.3, §17).
    Ticket,
    /// An admission request, signed by the ticket key and by the newcomer's pseudonym (§17).
    Admission,
    /// A member's door record (§10.1, §10.3): where its door listens, signed by its peer key.
    DoorRecord,
    /// A request at a door for the re-keys a member missed, signed by its pseudonym (§15).
    DoorEpochs,
}

impl Domain {
    /// The bytes prepended to the signed data.
    pub fn prefix(self) -> &'static [u8] {
        match self {
            Domain::Message => b"cove/v1/message\0",
            Domain::SyncProof => b"cove/v1/sync-proof\0",
            Domain::SyncResponderProof => b"cove/v1/sync-responder-proof\0",
            Domain::AddrRecord => b"cove/v1/addr-record\0",
            Domain::Ticket => b"cove/v1/ticket\0",
            Domain::Admission => b"cove/v1/admission\0",
            Domain::DoorRecord => b"cove/v1/door-record\0",
            Domain::DoorEpochs => b"cove/v1/door-epochs\0",
        }
    }

    /// `prefix || bytes`, the exact Ed25519 message.
    pub(crate) fn preimage(self, bytes: &[u8]) -> Vec<u8> {
        let prefix = self.prefix();
        let mut v = Vec::with_capacity(prefix.len() + bytes.len());
        v.extend_from_slice(prefix);
        v.extend_from_slice(bytes);
        v
    }
}

/// Errors from signature parsing and verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signature had the wrong length.
    #[error("signature must be 64 bytes, got {got}")]
    Length {
        /// Number of bytes received.
        got: usize,
    },
    /// Strict Ed25519 verification failed.
    #[error(
        "signature verification failed: wrong key, wrong domain, or the signed bytes were altered"
    )]
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Pseudonym, Signature};

    fn key(n: u8) -> Pseudonym {
        Pseudonym::from_secret_bytes([n; 32])
    }

    #[test]
    fn sign_verify_round_trip() {
        let k = key(1);
        let sig = k.sign(Domain::Message, b"hello");
        assert_eq!(k.public().verify(Domain::Message, b"hello", &sig), Ok(()));
    }

    #[test]
    fn tampered_bytes_fail() {
        let k = key(1);
        let sig = k.sign(Domain::Message, b"hello");
        assert_eq!(
            k.public().verify(Domain::Message, b"hellp", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            k.public().verify(Domain::Message, b"hello!", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn wrong_domain_fails() {
        let k = key(1);
        let sig = k.sign(Domain::Message, b"hello");
        assert_eq!(
            k.public().verify(Domain::SyncProof, b"hello", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn wrong_key_fails() {
        let sig = key(1).sign(Domain::Message, b"hello");
        assert_eq!(
            key(2).public().verify(Domain::Message, b"hello", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn tampered_signature_fails() {
        let k = key(1);
        let mut raw = k.sign(Domain::Message, b"hello").to_bytes();
        raw[10] ^= 1;
        assert!(k
            .public()
            .verify(Domain::Message, b"hello", &Signature::from_bytes(raw))
            .is_err());
        // A non-canonical S (all 0xff) must be rejected, not panic.
        let mut raw = k.sign(Domain::Message, b"hello").to_bytes();
        raw[32..].fill(0xff);
        assert!(k
            .public()
            .verify(Domain::Message, b"hello", &Signature::from_bytes(raw))
            .is_err());
    }

    #[test]
    fn prefixes_are_not_prefixes_of_each_other() {
        let a = Domain::Message.prefix();
        let b = Domain::SyncProof.prefix();
        assert!(!a.starts_with(b) && !b.starts_with(a));
    }
}
