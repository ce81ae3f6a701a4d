//! The control-socket request parser (`cove_node::control::parse_request`): one JSON line from
//! a local client. It must never panic, and what parses must serialise to JSON that parses
//! back to the same request (the CLI's `Client` sends exactly that serialisation).
#![no_main]

use cove_node::control::parse_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let Ok(request) = parse_request(&line) else {
        return;
    };
    let json = serde_json::to_string(&request).expect("a request serialises");
    let again = parse_request(&json).expect("a serialised request parses");
    assert_eq!(again, request);
});
