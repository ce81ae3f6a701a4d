//! Membership proof for the history-sync protocol.
//!
//! A node serving sync must learn nothing to a non-member, so every sync request carries a
//! proof that the requester holds the group's sync key ([`crate::GroupSecret::sync_key`]).
//! The proof is bound to a fresh challenge the responder issued on this connection and to
//! both peers' ids, so it cannot be replayed on another connection or by another peer:
//!
//! ```text
//! proof = HMAC-SHA256(key = sync_key,
//!                     "cove/v1/sync-proof\0" || challenge (32)
//!                     || u16be(len(requester)) || requester || u16be(len(responder)) || responder)
//! ```
//!
//! `requester` and `responder` are the binary libp2p peer ids (multihash bytes).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::sign::Domain;

/// Length of a challenge and of a proof.
pub const SYNC_PROOF_LEN: usize = 32;

fn mac(
    sync_key: &[u8; 32],
    challenge: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(sync_key).expect("HMAC takes any key length");
    mac.update(Domain::SyncProof.prefix());
    mac.update(challenge);
    for peer in [requester, responder] {
        // Peer ids are at most a few dozen bytes; longer input is truncated in the length
        // field only, which cannot make two different inputs collide because the bytes
        // themselves still follow.
        mac.update(&(peer.len().min(u16::MAX as usize) as u16).to_be_bytes());
        mac.update(peer);
    }
    mac
}

/// The proof a requester sends.
pub fn sync_proof(
    sync_key: &[u8; 32],
    challenge: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
) -> [u8; 32] {
    mac(sync_key, challenge, requester, responder)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks a proof in constant time.
pub fn verify_sync_proof(
    sync_key: &[u8; 32],
    challenge: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
    proof: &[u8],
) -> bool {
    mac(sync_key, challenge, requester, responder)
        .verify_slice(proof)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_binds_key_challenge_and_both_peers() {
        let (key, challenge) = ([1u8; 32], [2u8; 32]);
        let proof = sync_proof(&key, &challenge, b"ant", b"bat");
        assert!(verify_sync_proof(&key, &challenge, b"ant", b"bat", &proof));
        assert!(
            !verify_sync_proof(&[9; 32], &challenge, b"ant", b"bat", &proof),
            "other key"
        );
        assert!(
            !verify_sync_proof(&key, &[3; 32], b"ant", b"bat", &proof),
            "other challenge"
        );
        assert!(
            !verify_sync_proof(&key, &challenge, b"cat", b"bat", &proof),
            "other requester"
        );
        assert!(
            !verify_sync_proof(&key, &challenge, b"ant", b"cat", &proof),
            "other responder"
        );
        assert!(
            !verify_sync_proof(&key, &challenge, b"bat", b"ant", &proof),
            "roles swapped"
        );
        assert!(
            !verify_sync_proof(&key, &challenge, b"ant", b"bat", &proof[..31]),
            "truncated"
        );
    }
}
