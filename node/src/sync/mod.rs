//! History sync: a late joiner, a member back from being offline, or the two halves of a healed
//! partition end up with the same set of messages.
//!
//! Transport: gossip's request-response protocol `/cove/sync/2.0.0` (one CBOR frame per
//! request and per response). A session between requester R and responder S for one group:
//!
//! ```text
//! R -> S  hello {topic, nonce}                 S -> R  challenge {nonce, proof} (S proves first)
//!   R checks S's proof; an unproven S gets nothing more
//! R -> S  reconcile {topic, proof, since, msg} S -> R  reconcile {msg}     (negentropy rounds)
//!   ... until R's negentropy has no more to say: R now knows the ids it lacks
//! R -> S  fetch {topic, proof, ids <= 256}     S -> R  messages [signed]   (pages <= 1 MiB)
//! ```
//!
//! Both sides prove membership ([`cove_crypto::sync_auth`]): S with
//! [`cove_crypto::sync_responder_proof`] over R's nonce, R with [`cove_crypto::sync_proof`]
//! over S's challenge, each bound to both peer ids and worthless on any other connection.
//! R sends nothing group-specific (no proof, no set, no id) to an S whose proof fails, and
//! leaves it alone for [`UNPROVEN_BACKOFF`]. S answers a `hello` for a topic it does not hold
//! with a decoy proof, and a request without a valid proof, or for a topic S does not know,
//! with the same `unauthorized` answer, so a non-member learns nothing, not even whether the
//! group exists. Set reconciliation is
//! Negentropy v1 (range-based set reconciliation) over `(created_at, message id)` of every
//! message created at or after `since` (the requester's retention window). Fetched messages
//! go through the same validation as gossip ([`crate::core::Core::ingest_signed`]).
//!
//! Each side only pulls what it lacks; the other side pulls in its own session, which starts
//! when it sees us subscribe to the group's topic, on its anti-entropy timer, or on demand.
//! A completed reconciliation also tells R which of its own messages S holds: those leave
//! R's outbox ([`Session::run`], PROTOCOL.md §13.9).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cove_crypto::{
    sync_proof, sync_responder_proof, verify_sync_proof, verify_sync_responder_proof, GroupId,
};
use cove_gossip::{Gossip, PeerId};
use futures::FutureExt;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use crate::core::rate::Bucket;
use crate::message::MessageId;
use crate::store::StoreReader;

mod auth;
mod serve;
mod session;
mod wire;

pub use self::auth::*;
pub use self::serve::*;
pub use self::session::*;
pub use self::wire::*;

/// Version of the sync frames (`v`), the same as the protocol id's
/// ([`cove_gossip::SYNC_PROTOCOL`]): 2 since the responder proves membership first.
pub const SYNC_VERSION: u8 = 2;
/// Most ids one `fetch` may ask for.
pub const MAX_FETCH_IDS: usize = 256;
/// Most bytes of messages in one `messages` page (a responder stops adding messages before
/// crossing it; a page above it is a protocol violation).
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Largest negentropy message a node produces or accepts.
pub const MAX_RECONCILE_FRAME: u64 = 128 * 1024;
/// Most negentropy rounds in one session.
pub const MAX_ROUNDS: usize = 512;
/// How long a challenge stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// Most outstanding challenges a node keeps (one per peer).
pub const MAX_CHALLENGES: usize = 4096;
/// How long a requester waits for the responder's `challenge`. Answering a `hello` takes no
/// disk access, so a member answers at once; an unanswered `hello` holds an automatic
/// session slot at most this long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long automatic sessions leave a peer alone, for one group, after it failed to prove
/// membership ([`SyncError::Unproven`]): a non-member that subscribed to the topic must not
/// get a session, nor hold a slot, again and again.
pub const UNPROVEN_BACKOFF: Duration = Duration::from_secs(300);
/// (group, peer) pairs left alone at once; when full, the one whose backoff ends first goes.
pub const MAX_UNPROVEN: usize = 4096;
/// How long a peer that breaks the protocol is cut off.
pub const BAN_DURATION: Duration = Duration::from_secs(600);
/// Sync requests one peer may make (hello, reconcile and fetch alike): bursts of this many,
/// refilled at this many per [`REQUEST_BUDGET_WINDOW`]. Beyond it the answer is `busy`.
/// A catch-up of 100 000 messages is about 416 requests (hello, 25 rounds, 391 fetches); at
/// 50 a second after the burst the budget lets it through in 4.3 s, faster than a node
/// stores what it fetches (7–11 s measured), so it never slows an honest catch-up. A member
/// replaying requests gets 50 a second (PERFORMANCE.md, "The request budget").
pub const REQUEST_BUDGET: u32 = 200;
/// See [`REQUEST_BUDGET`]: 200 per 4 s is 50 a second.
pub const REQUEST_BUDGET_WINDOW: Duration = Duration::from_secs(4);
/// How long a requester waits after a `busy` answer before asking again: the time this
/// node's own budget takes to refill one request (20 ms), doubled for each further `busy` in
/// a row up to [`BUSY_MAX_WAIT`] ([`busy_wait`]).
pub const BUSY_FIRST_WAIT: Duration =
    Duration::from_millis(REQUEST_BUDGET_WINDOW.as_millis() as u64 / REQUEST_BUDGET as u64);
/// The longest wait after a `busy` answer.
pub const BUSY_MAX_WAIT: Duration = Duration::from_secs(5);
/// `busy` answers in a row to one request after which a session ends (about 15 s of
/// waiting in all); the next session, on the anti-entropy timer or on demand, tries again.
/// A `hello` is bounded sooner, by [`HANDSHAKE_TIMEOUT`], waits included.
pub const MAX_BUSY_IN_A_ROW: u32 = 10;
/// Peers whose request budget is tracked at once (a refilled budget is forgotten first).
pub const MAX_REQUEST_BUDGETS: usize = 4096;
/// How long a responder keeps the Negentropy storage it built for one requester's session.
/// Every round of the session reads it instead of scanning the group again; a session
/// therefore reconciles against the responder's set as of its first round (at most this old).
pub const SESSION_STORAGE_TTL: Duration = Duration::from_secs(20);
/// Sessions whose storage a responder keeps at once; the oldest goes first.
pub const MAX_SESSION_STORAGES: usize = 16;

/// Why a sync frame or session failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// Not a well-formed frame.
    #[error("malformed sync frame: {0}")]
    Malformed(String),
    /// The responder refused us (not a member, stale proof).
    #[error("the peer refused sync: {0}")]
    Refused(String),
    /// The responder did not prove membership: a wrong proof (a non-member's decoy) or no
    /// challenge within [`HANDSHAKE_TIMEOUT`]. Not a violation.
    #[error("the peer did not prove membership: {0}")]
    Unproven(String),
    /// A page above [`MAX_PAGE_BYTES`] or with more messages than asked for.
    #[error("oversized sync page: {0}")]
    OversizedPage(String),
    /// The transport failed (timeout, disconnect).
    #[error("sync transport: {0}")]
    Transport(String),
    /// Reconciliation did not finish within [`MAX_ROUNDS`].
    #[error("reconciliation did not converge in {MAX_ROUNDS} rounds")]
    TooManyRounds,
    /// The node stopped.
    #[error("the node stopped")]
    Stopped,
}

/// How long to wait before asking again after the `in_a_row`-th `busy` answer in a row
/// (counted from 1) to one request; `None`: give up. A responder's budget refills over time,
/// so a requester that waits finishes its session instead of ending it at the first `busy`,
/// and one that doubles its wait asks a responder busy for other reasons ever more rarely.
pub fn busy_wait(in_a_row: u32) -> Option<Duration> {
    if in_a_row == 0 || in_a_row > MAX_BUSY_IN_A_ROW {
        return None;
    }
    let doubled = BUSY_FIRST_WAIT.saturating_mul(1 << (in_a_row - 1).min(16));
    Some(doubled.min(BUSY_MAX_WAIT))
}

impl SyncError {
    /// Whether the peer broke the protocol (it is banned for [`BAN_DURATION`]).
    pub fn is_violation(&self) -> bool {
        matches!(self, SyncError::Malformed(_) | SyncError::OversizedPage(_))
    }

    /// Counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::Malformed(_) => "sync_malformed",
            SyncError::Refused(_) => "sync_refused",
            SyncError::Unproven(_) => "sync_responder_unproven",
            SyncError::OversizedPage(_) => "sync_oversized_page",
            SyncError::Transport(_) => "sync_transport",
            SyncError::TooManyRounds => "sync_too_many_rounds",
            SyncError::Stopped => "sync_stopped",
        }
    }
}
#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_peer_gets_its_burst_of_requests_then_busy_until_time_refills_it() {
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let mut budgets = RequestBudgets::default();
        let t0 = 1_000_000;
        let served = (0..REQUEST_BUDGET + 50)
            .filter(|_| budgets.take(ant, t0))
            .count();
        assert_eq!(served, REQUEST_BUDGET as usize);
        assert!(budgets.take(bat, t0), "another peer has its own budget");
        // 200 per 4 s: one more every 20 ms.
        assert!(!budgets.take(ant, t0 + 15));
        assert!(budgets.take(ant, t0 + 30));
    }

    #[test]
    fn a_requester_waits_longer_after_each_busy_in_a_row_then_gives_up() {
        let waits: Vec<Duration> = (1..).map_while(busy_wait).collect();
        assert_eq!(waits.len(), MAX_BUSY_IN_A_ROW as usize);
        assert_eq!(waits[0], Duration::from_millis(20), "one request's refill");
        assert_eq!(waits[1], Duration::from_millis(40));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), BUSY_MAX_WAIT);
        let total: Duration = waits.iter().sum();
        assert!(
            total >= REQUEST_BUDGET_WINDOW && total <= Duration::from_secs(30),
            "waits out a whole refill, within a request timeout's order: {total:?}"
        );
        assert_eq!(busy_wait(0), None);
        assert_eq!(busy_wait(MAX_BUSY_IN_A_ROW + 1), None);
        // A requester that waits as told is served again by this node's own budget.
        let (ant, mut budgets, t0) = (PeerId::random(), RequestBudgets::default(), 1_000_000);
        while budgets.take(ant, t0) {}
        let first = busy_wait(1).unwrap().as_millis() as u64;
        assert!(budgets.take(ant, t0 + first));
    }

    #[test]
    fn request_budgets_stay_bounded() {
        let mut budgets = RequestBudgets::default();
        for _ in 0..MAX_REQUEST_BUDGETS + 10 {
            budgets.take(PeerId::random(), 5);
        }
        assert!(budgets.budgets.len() <= MAX_REQUEST_BUDGETS);
    }

    #[test]
    fn rounds_of_one_session_share_one_storage_and_sessions_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sessions = Mutex::new(SessionStorages::default());
        let group = GroupId::from_bytes([1; 32]);
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let first = initiate();
        let answer = serve_reconcile(&store, &sessions, ant, &group, 0, &first).unwrap();
        let again = serve_reconcile(&store, &sessions, ant, &group, 0, &first).unwrap();
        assert_eq!(answer, again);
        assert_eq!(
            sessions.lock().unwrap().len(),
            1,
            "one storage for ant's session"
        );
        serve_reconcile(&store, &sessions, bat, &group, 0, &first).unwrap();
        assert_eq!(sessions.lock().unwrap().len(), 2);
        let mut kept = SessionStorages::default();
        for since in 0..(MAX_SESSION_STORAGES as u64 + 5) {
            kept.keep((ant, group, since), Arc::new(storage(&[]).unwrap()));
        }
        assert_eq!(kept.len(), MAX_SESSION_STORAGES);
    }

    fn initiate() -> Vec<u8> {
        Negentropy::owned(storage(&[]).unwrap(), MAX_RECONCILE_FRAME)
            .and_then(|mut n| n.initiate())
            .unwrap()
    }

    #[test]
    fn frames_round_trip() {
        let requests = [
            hello(),
            Request::Reconcile {
                topic: "cove/1/ab".into(),
                proof: [1; 32],
                since: 5,
                msg: vec![0x61, 0],
            },
            Request::Fetch {
                topic: "t".into(),
                proof: [2; 32],
                ids: vec![MessageId([3; 32])],
            },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        let responses = [
            Response::Challenge {
                nonce: [4; 32],
                proof: [5; 32],
            },
            Response::Reconcile { msg: vec![0x61] },
            Response::Messages {
                messages: vec![vec![1, 2], vec![]],
            },
            Response::Error {
                code: ErrorCode::Unauthorized,
            },
        ];
        for r in responses {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn bytes_after_a_frame_are_refused() {
        // Found by fuzzing: a frame followed by anything decoded as if the rest was not there.
        let mut frame = hello().encode();
        frame.push(0);
        assert!(matches!(
            Request::decode(&frame),
            Err(SyncError::Malformed(detail)) if detail.contains("1 bytes after")
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(
            Request::decode(b"\xa0"),
            Err(SyncError::Malformed(_))
        ));
        assert!(matches!(
            Request::decode(b"junk"),
            Err(SyncError::Malformed(_))
        ));
        let too_many = Request::Fetch {
            topic: "t".into(),
            proof: [0; 32],
            ids: vec![MessageId([0; 32]); MAX_FETCH_IDS + 1],
        };
        assert!(matches!(
            Request::decode(&too_many.encode()),
            Err(SyncError::Malformed(_))
        ));
        let big = Response::Messages {
            messages: vec![vec![0; MAX_PAGE_BYTES / 2 + 1]; 2],
        };
        assert!(matches!(
            Response::decode(&big.encode()),
            Err(SyncError::OversizedPage(_))
        ));
        let mut wrong_version = hello().encode();
        let pos = wrong_version
            .windows(2)
            .position(|w| w == b"\x61v")
            .unwrap()
            + 2;
        wrong_version[pos] = 9;
        assert!(
            matches!(Request::decode(&wrong_version), Err(SyncError::Malformed(m)) if m.contains("version 9"))
        );
    }

    /// `{"v": SYNC_VERSION, "op": op}` followed by `extra` key/value bytes (the map header counts them
    /// as `extra_entries` more entries).
    fn frame(op: &str, extra_entries: u8, extra: &[u8]) -> Vec<u8> {
        let mut out = vec![
            0xa2 + extra_entries,
            0x61,
            b'v',
            SYNC_VERSION,
            0x62,
            b'o',
            b'p',
        ];
        out.push(0x60 + op.len() as u8);
        out.extend_from_slice(op.as_bytes());
        out.extend_from_slice(extra);
        out
    }

    fn key(name: &str) -> Vec<u8> {
        let mut out = vec![0x60 + name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out
    }

    /// `count` encoded 32-byte ids of `byte`.
    fn ids(count: usize, byte: u8) -> Vec<u8> {
        [&[0x58, 0x20][..], &[byte; 32]].concat().repeat(count)
    }

    /// Asserts a `Malformed` error whose detail contains `needle`.
    fn assert_malformed<T: std::fmt::Debug>(result: Result<T, SyncError>, needle: &str) {
        match result {
            Err(SyncError::Malformed(detail)) if detail.contains(needle) => {}
            other => panic!("expected a malformed error with {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn hostile_array_lengths_are_refused_before_allocating() {
        // Scenario: a responder (or requester) declares arrays far larger than any bound, or
        // than the frame itself. Assert: a typed error from the lengths alone; a decoder
        // that allocated for the declared length first would abort on capacity overflow.

        // 4 MiB of empty byte strings: ~4 million one-byte items, each of which used to
        // become a 24-byte Vec (about 100 MB) before the page bound was checked.
        let n: u32 = 4 * 1024 * 1024 - 64;
        let mut flood = key("messages");
        flood.push(0x9a);
        flood.extend_from_slice(&n.to_be_bytes());
        flood.resize(flood.len() + n as usize, 0x40);
        assert!(matches!(
            Response::decode(&frame("messages", 1, &flood)),
            Err(SyncError::OversizedPage(_))
        ));

        // Longer than the bytes that follow: about 2^61 messages, 256 ids with none present,
        // about 2^61 ids, a message of about 2^61 bytes.
        let huge = |head: u8| [vec![head], vec![0x1f], vec![0xff; 7]].concat();
        let short_ids = [
            key("topic"),
            vec![0x61, b't'],
            key("proof"),
            ids(1, 0),
            key("ids"),
            vec![0x99, 0x01, 0x00],
        ]
        .concat();
        let cases: [(bool, Vec<u8>); 4] = [
            (
                false,
                frame("messages", 1, &[key("messages"), huge(0x9b)].concat()),
            ),
            (true, frame("fetch", 3, &short_ids)),
            (true, frame("fetch", 1, &[key("ids"), huge(0x9b)].concat())),
            (
                false,
                frame("reconcile", 1, &[key("msg"), huge(0x5b)].concat()),
            ),
        ];
        for (is_request, bytes) in cases {
            if is_request {
                assert_malformed(Request::decode(&bytes), "left");
            } else {
                assert_malformed(Response::decode(&bytes), "left");
            }
        }
        // 257 ids, all present: refused by the bound before any is decoded.
        let too_many_ids = [key("ids"), vec![0x99, 0x01, 0x01], ids(257, 0)].concat();
        assert_malformed(
            Request::decode(&frame("fetch", 1, &too_many_ids)),
            "more than 256",
        );
    }

    #[test]
    fn fields_of_other_ops_and_unknown_keys_are_skipped_not_decoded() {
        // Scenario: a challenge carrying a large "ids" array and an unknown key. Assert: the
        // challenge decodes (both are ignored, §13.2); deep nesting and indefinite lengths
        // are refused.
        let extra = [
            key("nonce"),
            ids(1, 4),
            key("proof"),
            ids(1, 5),
            key("ids"),
            vec![0x99, 0x01, 0x00],
            ids(256, 0),
            key("later"),
            vec![0xa1, 0x01, 0x02],
        ]
        .concat();
        assert_eq!(
            Response::decode(&frame("challenge", 4, &extra)),
            Ok(Response::Challenge {
                nonce: [4; 32],
                proof: [5; 32]
            })
        );

        for (value, needle) in [
            (
                [key("later"), vec![0x81; 64], vec![0x00]].concat(),
                "nested deeper",
            ),
            (
                [key("later"), vec![0x9f, 0x00, 0xff]].concat(),
                "indefinite",
            ),
            ([key("v"), vec![0x01]].concat(), "twice"),
        ] {
            assert_malformed(Request::decode(&frame("hello", 1, &value)), needle);
        }
    }

    fn hello() -> Request {
        Request::Hello {
            topic: "cove/1/ab".into(),
            nonce: [9; 32],
            epoch: 0,
        }
    }

    #[test]
    fn hello_and_challenge_need_their_fields_at_their_lengths() {
        // Scenario: hellos and challenges with a field missing or of the wrong length, and a
        // version-1 hello (no fields, `v` = 1). Assert: each is a typed `Malformed` error
        // saying what is wrong; none panics.
        let topic = [key("topic"), vec![0x61, b't']].concat();
        let nonce = |len: u8| [key("nonce"), vec![0x58, len], vec![1; len as usize]].concat();
        let proof = |len: u8| [key("proof"), vec![0x58, len], vec![2; len as usize]].concat();
        assert_malformed(
            Request::decode(&frame("hello", 1, &topic)),
            "hello frame lacks \"nonce\"",
        );
        assert_malformed(
            Request::decode(&frame("hello", 1, &nonce(32))),
            "hello frame lacks \"topic\"",
        );
        assert_malformed(
            Request::decode(&frame("hello", 2, &[topic.clone(), nonce(31)].concat())),
            "nonce is 31 bytes, expected 32",
        );
        assert_eq!(
            Request::decode(&frame("hello", 2, &[topic, nonce(32)].concat())),
            Ok(Request::Hello {
                topic: "t".into(),
                nonce: [1; 32],
                epoch: 0,
            })
        );
        assert_malformed(
            Response::decode(&frame("challenge", 1, &nonce(32))),
            "challenge frame lacks \"proof\"",
        );
        assert_malformed(
            Response::decode(&frame("challenge", 2, &[nonce(32), proof(33)].concat())),
            "proof is 33 bytes, expected 32",
        );
        // What a version-1 requester sent: {"v": 1, "op": "hello"}.
        let mut v1_hello = frame("hello", 0, &[]);
        v1_hello[3] = 0x01;
        assert_malformed(
            Request::decode(&v1_hello),
            "sync version 1 is not supported",
        );
    }

    #[test]
    fn a_hello_is_answered_with_a_proof_only_for_a_held_group() {
        // Scenario: bat answers ant's hello once holding the group's key and once not.
        // Assert: the proof verifies for ant with bat as responder only: not with the key of
        // another group, not for another requester or responder (cat), not with the roles
        // swapped, and not reflected as a requester proof over bat's challenge. The decoy has
        // the same form and does not verify.
        let (ant, bat, cat) = (PeerId::random(), PeerId::random(), PeerId::random());
        let (key, nonce) = ([7; 32], [3; 32]);
        let mut challenges = Challenges::default();
        let Response::Challenge {
            nonce: challenge,
            proof,
        } = challenges.answer_hello(ant, &bat, Some(&key), &nonce, 0)
        else {
            panic!("a hello is answered with a challenge");
        };
        let [a, b, c] = [ant, bat, cat].map(|p| p.to_bytes());
        assert!(verify_sync_responder_proof(&key, &nonce, &a, &b, &proof));
        assert!(!verify_sync_responder_proof(
            &[8; 32], &nonce, &a, &b, &proof
        ));
        assert!(!verify_sync_responder_proof(&key, &nonce, &c, &b, &proof));
        assert!(!verify_sync_responder_proof(&key, &nonce, &a, &c, &proof));
        assert!(!verify_sync_responder_proof(&key, &nonce, &b, &a, &proof));
        assert!(
            !challenges.verify(&ant, &bat, &key, &proof),
            "bat's proof reflected to bat as ant's"
        );
        assert!(
            !verify_sync_proof(&key, &nonce, &a, &b, &proof),
            "nor as a requester proof over the same nonce"
        );
        let own = sync_proof(&key, &challenge, &a, &b);
        assert!(challenges.verify(&ant, &bat, &key, &own));

        let Response::Challenge { proof: decoy, .. } =
            challenges.answer_hello(ant, &bat, None, &nonce, 0)
        else {
            panic!("a hello is answered with a challenge");
        };
        assert!(!verify_sync_responder_proof(&key, &nonce, &a, &b, &decoy));
    }

    #[test]
    fn unproven_peers_are_left_alone_per_group_for_a_while_and_stay_bounded() {
        let (ant, bat) = (PeerId::random(), PeerId::random());
        let (club, other) = (GroupId::from_bytes([1; 32]), GroupId::from_bytes([2; 32]));
        let backoff = UNPROVEN_BACKOFF.as_millis() as u64;
        let mut unproven = UnprovenPeers::default();
        unproven.mark(club, ant, 1_000);
        assert!(unproven.contains(&club, &ant, 1_000 + backoff - 1));
        assert!(
            !unproven.contains(&club, &ant, 1_000 + backoff),
            "time is up"
        );
        assert!(!unproven.contains(&other, &ant, 1_000), "another group");
        assert!(!unproven.contains(&club, &bat, 1_000), "another peer");
        for i in 0..MAX_UNPROVEN as u64 + 10 {
            unproven.mark(club, PeerId::random(), 2_000 + i);
        }
        assert!(unproven.until_ms.len() <= MAX_UNPROVEN);
    }

    #[test]
    fn challenges_bind_peer_and_are_replaced() {
        let (ant, bat, cat) = (PeerId::random(), PeerId::random(), PeerId::random());
        let key = [7; 32];
        let mut challenges = Challenges::default();
        let nonce = challenges.issue(ant, 0);
        let proof = sync_proof(&key, &nonce, &ant.to_bytes(), &bat.to_bytes());
        assert!(challenges.verify(&ant, &bat, &key, &proof));
        assert!(
            !challenges.verify(&cat, &bat, &key, &proof),
            "another peer replays it"
        );
        assert!(
            !challenges.verify(&ant, &bat, &[8; 32], &proof),
            "wrong key"
        );
        challenges.issue(ant, 0);
        assert!(
            !challenges.verify(&ant, &bat, &key, &proof),
            "old challenge replaced"
        );
        challenges.forget(&ant);
        assert!(!challenges.verify(&ant, &bat, &key, &proof));
    }

    #[test]
    fn reconciliation_finds_the_difference() {
        let ours: Vec<(u64, MessageId)> = (0..1000u64)
            .map(|i| (i, MessageId([(i % 251) as u8; 32])))
            .collect();
        let mut theirs_items: Vec<(u64, MessageId)> =
            ours.iter().copied().filter(|(t, _)| t % 100 != 0).collect();
        theirs_items.push((5000, MessageId([0xee; 32])));
        let mut client =
            Negentropy::owned(storage(&theirs_items).unwrap(), MAX_RECONCILE_FRAME).unwrap();
        let mut server = Negentropy::owned(storage(&ours).unwrap(), MAX_RECONCILE_FRAME).unwrap();
        let mut msg = client.initiate().unwrap();
        let (mut have, mut need) = (Vec::new(), Vec::new());
        for _ in 0..MAX_ROUNDS {
            let answer = server.reconcile(&msg).unwrap();
            match client
                .reconcile_with_ids(&answer, &mut have, &mut need)
                .unwrap()
            {
                Some(next) => msg = next,
                None => break,
            }
        }
        assert_eq!(need.len(), 10);
        assert_eq!(have.len(), 1);
    }
}
