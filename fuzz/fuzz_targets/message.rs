//! The plaintext message decoder: `verify_and_decode` is the only way from wire bytes to a
//! `Message` (size, version, signature, then content). The corpus holds a validly signed
//! message of every kind, so the fuzzer starts past the signature check; mutations mostly
//! break the signature, which still exercises the CBOR and key decoders in front of it.
#![no_main]

use cove_node::message::verify_and_decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = verify_and_decode(data) else {
        return;
    };
    // What decodes is within the limits, keeps its exact bytes, and decodes again to itself.
    signed
        .message
        .content
        .check_limits()
        .expect("decoded content passes check_limits");
    assert_eq!(signed.bytes, data);
    assert_eq!(verify_and_decode(&signed.bytes).as_ref(), Ok(&signed));
});
