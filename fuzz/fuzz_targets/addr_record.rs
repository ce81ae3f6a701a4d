//! The address-record decoder (`cove_node::addr_record::verify_and_decode`, PROTOCOL.md
//! §10.1): size, deterministic CBOR, version, closed maps, addresses, then the peer key's
//! signature. The corpus holds the signed record of `docs/vectors/addr.json` and its refused
//! variants, so the fuzzer starts past the signature check.
#![no_main]

use cove_node::addr_record::{verify_and_decode, MAX_ADDR_TEXT_BYTES};
use cove_node::addr_book::MAX_PEER_ADDRS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = verify_and_decode(data) else {
        return;
    };
    // What decodes keeps its exact bytes, is within the bounds, and decodes again to itself.
    assert_eq!(signed.bytes, data);
    let addrs = &signed.record.addrs;
    assert!(!addrs.is_empty() && addrs.len() <= MAX_PEER_ADDRS);
    assert!(addrs.iter().all(|a| a.to_string().len() <= MAX_ADDR_TEXT_BYTES));
    assert_eq!(verify_and_decode(&signed.bytes).as_ref(), Ok(&signed));
});
