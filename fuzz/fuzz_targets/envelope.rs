//! The full gossip path, as `decide::Judge::gossip` runs it on a
//! payload from a peer: size bound, envelope header (epoch), XChaCha20-Poly1305 `open` under
//! the group's content key for that epoch, then `verify_and_decode` and `check_limits` on the
//! plaintext. The group is fixed (the secret of `docs/vectors/messages.json`); the corpus
//! holds an envelope of every message kind sealed for it.
//!
//! A mutated envelope almost never authenticates, so the raw input also goes straight to
//! `verify_and_decode`: the CBOR and message-kind decoders are fuzzed without a valid AEAD.
#![no_main]

use std::sync::OnceLock;

use cove_crypto::{envelope_epoch, open, GroupSecret};
use cove_node::core::MAX_ENVELOPE_BYTES;
use cove_node::message::verify_and_decode;
use libfuzzer_sys::fuzz_target;

/// The group secret of `docs/vectors/messages.json`.
const GROUP_SECRET: [u8; 32] = [0x22; 32];

fn group() -> &'static (GroupSecret, String) {
    static GROUP: OnceLock<(GroupSecret, String)> = OnceLock::new();
    GROUP.get_or_init(|| {
        let secret = GroupSecret::from_bytes(GROUP_SECRET);
        let topic = secret.topic();
        (secret, topic)
    })
}

fuzz_target!(|data: &[u8]| {
    let (secret, topic) = group();
    if data.len() <= MAX_ENVELOPE_BYTES {
        if let Ok(epoch) = envelope_epoch(data) {
            if let Ok(plaintext) = open(&secret.content_key(epoch), topic, data) {
                decode(&plaintext);
                // The wrong topic or the wrong epoch never opens it.
                assert!(open(&secret.content_key(epoch), "cove/1/other", data).is_err());
                assert!(open(&secret.content_key(epoch.wrapping_add(1)), topic, data).is_err());
            }
        }
    }
    decode(data);
});

fn decode(bytes: &[u8]) {
    if let Ok(signed) = verify_and_decode(bytes) {
        signed
            .message
            .content
            .check_limits()
            .expect("decoded content passes check_limits");
        assert_eq!(signed.bytes, bytes);
    }
}
