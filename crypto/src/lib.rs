//! Cove's cryptography: every key, signature, envelope and invite byte, and nothing else.
//!
//! This crate owns:
//!
//! * **key derivation** ([`keys`]): a member's [`MasterSeed`] yields one unlinkable ed25519
//!   [`Pseudonym`] per group; a [`GroupSecret`] yields the [`GroupId`], the gossip topic,
//!   per-epoch [`ContentKey`]s, the sync key and the discovery key (HKDF-SHA256);
//! * **signatures** ([`sign`]): Ed25519 over a [`Domain`] prefix and the exact wire bytes,
//!   verified strictly;
//! * **the sealed envelope** ([`seal`](mod@seal)): XChaCha20-Poly1305 with a versioned header,
//!   bound to the topic and epoch;
//! * **the invite string** ([`invite`]): `cove:` + base64url of a checksummed CBOR map;
//! * **the encrypted seed file** ([`seed_file`]): the master seed under a passphrase
//!   (Argon2id, XChaCha20-Poly1305), an on-disk format rather than a wire one.
//!
//! It is pure: no files, no network, no clocks (callers pass `now`), so every function is
//! deterministic except those that draw OS randomness for new secrets and nonces. Secret
//! types zeroize on drop and print as `TypeName(..)` in `Debug`. Decoders never panic on
//! untrusted input; they return the module's error enum. The byte-level specification is
//! `docs/PROTOCOL.md`, checked against `docs/vectors/crypto.json` by the test suite.
//!
//! # Example
//!
//! ```
//! use cove_crypto::{open, seal, Domain, GroupSecret, Invite, MasterSeed};
//!
//! // A founder creates a group and invites someone.
//! let group = GroupSecret::generate();
//! let invite = Invite {
//!     group_secret: group.clone(),
//!     charter: b"founder-signed charter bytes".to_vec(),
//!     addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
//!     expires_at: 1_700_086_400,
//!     epochs: Vec::new(),
//! };
//! let text = invite.encode();
//!
//! // The new member decodes it (the caller supplies the current time).
//! let joined = Invite::decode(&text, 1_700_000_000)?;
//! let topic = joined.group_secret.topic();
//! assert_eq!(topic, group.topic());
//!
//! // They post under their per-group pseudonym...
//! let me = MasterSeed::generate().pseudonym(&joined.group_secret.id());
//! let body = b"hello, group";
//! let sig = me.sign(Domain::Message, body);
//! let envelope = seal(&joined.group_secret.content_key(0), &topic, 0, body);
//!
//! // ...and any member can open and verify it.
//! let epoch = cove_crypto::envelope_epoch(&envelope)?;
//! let plain = open(&group.content_key(epoch), &topic, &envelope)?;
//! me.public().verify(Domain::Message, &plain, &sig)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod epoch;
mod hexfmt;
pub mod invite;
pub mod keys;
pub mod seal;
pub mod seed_file;
pub mod sign;
pub mod sync_auth;

pub use epoch::{EpochSecret, MemberKey, Rekeying, WRAPPED_LEN};
pub use invite::{
    AnyInvite, Invite, InviteError, TicketInvite, TicketKey, MAX_INVITE_EPOCHS, MAX_INVITE_LEN,
    TICKET_INVITE_VERSION,
};
pub use keys::{
    ContentKey, DeviceKey, GroupId, GroupSecret, KeyError, MasterSeed, NetworkKey, Pseudonym,
    PublicKey, Signature,
};
pub use seal::{
    envelope_epoch, open, seal, seal_with_nonce, SealError, ENVELOPE_HEADER_LEN, NONCE_LEN, TAG_LEN,
};
pub use seed_file::{KdfParams, Passphrase, SeedFileError};
pub use sign::{Domain, SignatureError};
pub use sync_auth::{
    sync_proof, sync_responder_proof, verify_sync_proof, verify_sync_responder_proof,
    SYNC_PROOF_LEN,
};

/// Version byte of the sealed envelope format.
pub const PROTOCOL_VERSION: u8 = 1;
