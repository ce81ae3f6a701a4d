//! The invite string (`cove:` + base64url of version, CBOR payload, checksum): a user pastes
//! it from anywhere, so `Invite::decode` must never panic and what decodes must re-encode to
//! an invite that decodes to the same value.
//!
//! The first input byte picks the mode; the rest is the data:
//! - `0`: the data as text (only valid UTF-8 reaches the decoder);
//! - `1`: the data lossily converted to text (every input reaches the decoder);
//! - otherwise: the data is a version byte and a CBOR payload, framed with a correct
//!   checksum, so the fuzzer gets past the 4-byte checksum to the version check and the
//!   CBOR decoder.
#![no_main]

use cove_crypto::{Invite, MAX_INVITE_LEN};
use data_encoding::BASE64URL_NOPAD;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    match mode {
        0 => {
            if let Ok(text) = std::str::from_utf8(data) {
                check(text);
            }
        }
        1 => check(&String::from_utf8_lossy(data)),
        _ => {
            let mut raw = Vec::with_capacity(data.len() + 4);
            raw.extend_from_slice(data);
            let sum = Sha256::digest(&raw);
            raw.extend_from_slice(&sum[..4]);
            check(&format!("cove:{}", BASE64URL_NOPAD.encode(&raw)));
        }
    }
});

fn check(text: &str) {
    let lenient = Invite::decode_ignoring_expiry(text);
    // `decode` agrees with `decode_ignoring_expiry` except for the expiry check.
    let now = 1_700_000_000;
    match (&lenient, Invite::decode(text, now)) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b),
        (Ok(a), Err(e)) => assert!(
            now >= a.expires_at,
            "decode refused an unexpired invite: {e}"
        ),
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (Err(_), Ok(_)) => panic!("decode accepted what decode_ignoring_expiry refused"),
    }
    let Ok(invite) = lenient else {
        return;
    };
    // Re-encoding is canonical (unknown keys dropped, shortest CBOR) and decodes to the same
    // invite; encoding is then a fixed point. It is not always shorter than the input (serde
    // also reads a byte string written as an array of small integers, one byte shorter), so an
    // invite at the length limit may re-encode past it, which `encode` documents.
    let encoded = invite.encode();
    if encoded.len() > MAX_INVITE_LEN {
        return;
    }
    let again = Invite::decode_ignoring_expiry(&encoded).expect("re-encoded invite decodes");
    assert_eq!(again, invite);
    assert_eq!(again.encode(), encoded);
}
