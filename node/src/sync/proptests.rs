//! Property tests of the sync frame codec: every request and response within the bounds
//! round-trips through its CBOR frame, and frames past a bound are refused. (The fuzz target
//! `fuzz/fuzz_targets/sync_frame.rs` covers arbitrary bytes.)

use proptest::prelude::*;

use super::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn topic() -> impl Strategy<Value = String> {
    prop_oneof!["cove/1/[0-9a-f]{32}", ".{0,64}"]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (topic(), any::<[u8; 32]>(), any::<u32>()).prop_map(|(topic, nonce, epoch)| {
            Request::Hello {
                topic,
                nonce,
                epoch,
            }
        }),
        (topic(), any::<[u8; 32]>(), any::<u64>(), bytes(512)).prop_map(
            |(topic, proof, since, msg)| Request::Reconcile {
                topic,
                proof,
                since,
                msg
            }
        ),
        (
            topic(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<[u8; 32]>().prop_map(MessageId), 0..=MAX_FETCH_IDS),
        )
            .prop_map(|(topic, proof, ids)| Request::Fetch { topic, proof, ids }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(nonce, proof)| Response::Challenge { nonce, proof }),
        bytes(512).prop_map(|msg| Response::Reconcile { msg }),
        proptest::collection::vec(bytes(256), 0..16)
            .prop_map(|messages| Response::Messages { messages }),
        prop_oneof![
            Just(ErrorCode::Unauthorized),
            Just(ErrorCode::Malformed),
            Just(ErrorCode::Busy),
        ]
        .prop_map(|code| Response::Error { code }),
    ]
}

proptest! {
    #[test]
    fn prop_request_round_trips(request in request()) {
        let frame = request.encode();
        let decoded = Request::decode(&frame).expect("an encoded request decodes");
        prop_assert_eq!(&decoded, &request);
        prop_assert_eq!(decoded.encode(), frame, "encoding is deterministic");
    }

    #[test]
    fn prop_response_round_trips(response in response()) {
        let frame = response.encode();
        let decoded = Response::decode(&frame).expect("an encoded response decodes");
        prop_assert_eq!(&decoded, &response);
        prop_assert_eq!(decoded.encode(), frame, "encoding is deterministic");
    }

    /// A frame of the other direction, or a truncated frame, is an error or (for the shared
    /// `reconcile` op) the matching frame, never a panic.
    #[test]
    fn prop_wrong_direction_and_truncation_never_panic(
        request in request(),
        response in response(),
        at in any::<prop::sample::Index>(),
    ) {
        let (req, resp) = (request.encode(), response.encode());
        if let Ok(Response::Reconcile { msg }) = Response::decode(&req) {
            let same = matches!(&request, Request::Reconcile { msg: m, .. } if *m == msg);
            prop_assert!(same, "a request's reconcile frame reads as the same response");
        }
        let _ = Request::decode(&resp);
        prop_assert!(Request::decode(&req[..at.index(req.len())]).is_err());
        prop_assert!(Response::decode(&resp[..at.index(resp.len())]).is_err());
    }

    #[test]
    fn prop_fetch_over_the_id_bound_is_refused(extra in 1usize..8, proof in any::<[u8; 32]>()) {
        let frame = Request::Fetch {
            topic: "t".into(),
            proof,
            ids: vec![MessageId([7; 32]); MAX_FETCH_IDS + extra],
        }
        .encode();
        prop_assert!(matches!(Request::decode(&frame), Err(SyncError::Malformed(_))));
    }

    #[test]
    fn prop_reconcile_over_the_frame_bound_is_refused(extra in 1usize..64) {
        let frame = Request::Reconcile {
            topic: "t".into(),
            proof: [0; 32],
            since: 0,
            msg: vec![0x61; MAX_RECONCILE_FRAME as usize + extra],
        }
        .encode();
        prop_assert!(matches!(Request::decode(&frame), Err(SyncError::Malformed(_))));
    }
}
