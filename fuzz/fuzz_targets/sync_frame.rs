//! Sync frames (`/cove/sync/2.0.0`): a responder decodes every request a connected peer sends
//! (before any membership proof is checked), a requester decodes every response. Both
//! decoders must never panic, must enforce their bounds, and what decodes must round-trip
//! through `encode`.
#![no_main]

use cove_node::sync::{Request, Response, MAX_FETCH_IDS, MAX_PAGE_BYTES, MAX_RECONCILE_FRAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        match &request {
            Request::Reconcile { msg, .. } => assert!(msg.len() as u64 <= MAX_RECONCILE_FRAME),
            Request::Fetch { ids, .. } => assert!(ids.len() <= MAX_FETCH_IDS),
            Request::Hello { .. } => {}
        }
        let encoded = request.encode();
        let again = Request::decode(&encoded).expect("re-encoded request decodes");
        assert_eq!(again, request);
        assert_eq!(again.encode(), encoded);
    }
    if let Ok(response) = Response::decode(data) {
        if let Response::Messages { messages } = &response {
            assert!(messages.iter().map(Vec::len).sum::<usize>() <= MAX_PAGE_BYTES);
        }
        let encoded = response.encode();
        let again = Response::decode(&encoded).expect("re-encoded response decodes");
        assert_eq!(again, response);
        assert_eq!(again.encode(), encoded);
    }
});
