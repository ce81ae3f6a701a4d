//! Membership proofs for the history-sync protocol, one for each side.
//!
//! A node must learn nothing from a non-member and reveal nothing to one, so both sides of a
//! sync session prove that they hold the group's sync key
//! ([`crate::GroupSecret::sync_key`]) before anything group-specific is exchanged: first the
//! responder, over the nonce the requester sent in its `hello`, then the requester, over the
//! challenge the responder answered with. Each proof is bound to a nonce its verifier just
//! chose and to both peers' ids, so it cannot be replayed on another connection or by
//! another peer:
//!
//! ```text
//! requester proof = HMAC-SHA256(key = sync_key, "cove/v1/sync-proof\0" || challenge (32)
//!                   || u16be(len(requester)) || requester || u16be(len(responder)) || responder)
//! responder proof = HMAC-SHA256(key = sync_key, "cove/v1/sync-responder-proof\0" || nonce (32)
//!                   || u16be(len(responder)) || responder || u16be(len(requester)) || requester)
//! ```
//!
//! The labels differ and the peers come in opposite orders (the prover first), so neither
//! proof can be reflected as the other. `requester` and `responder` are the binary libp2p
//! peer ids (multihash bytes).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::sign::Domain;

/// Length of a nonce, of a challenge and of a proof.
pub const SYNC_PROOF_LEN: usize = 32;

/// HMAC over `domain || nonce || prover || verifier`, each peer id length-prefixed.
fn mac(
    domain: Domain,
    sync_key: &[u8; 32],
    nonce: &[u8; 32],
    prover: &[u8],
    verifier: &[u8],
) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(sync_key).expect("HMAC takes any key length");
    mac.update(domain.prefix());
    mac.update(nonce);
    for peer in [prover, verifier] {
        // Peer ids are at most a few dozen bytes; longer input is truncated in the length
        // field only, which cannot make two different inputs collide because the bytes
        // themselves still follow.
        mac.update(&(peer.len().min(u16::MAX as usize) as u16).to_be_bytes());
        mac.update(peer);
    }
    mac
}

/// The proof a requester sends, over the responder's `challenge`.
pub fn sync_proof(
    sync_key: &[u8; 32],
    challenge: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
) -> [u8; 32] {
    let mac = mac(Domain::SyncProof, sync_key, challenge, requester, responder);
    mac.finalize().into_bytes().into()
}

/// Checks a requester's proof in constant time.
pub fn verify_sync_proof(
    sync_key: &[u8; 32],
    challenge: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
    proof: &[u8],
) -> bool {
    let mac = mac(Domain::SyncProof, sync_key, challenge, requester, responder);
    mac.verify_slice(proof).is_ok()
}

/// The proof a responder answers a `hello` with, over the requester's `nonce`. Arguments in
/// the same order as [`sync_proof`]; the preimage puts the responder (the prover) first.
pub fn sync_responder_proof(
    sync_key: &[u8; 32],
    nonce: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
) -> [u8; 32] {
    let mac = mac(
        Domain::SyncResponderProof,
        sync_key,
        nonce,
        responder,
        requester,
    );
    mac.finalize().into_bytes().into()
}

/// Checks a responder's proof in constant time.
pub fn verify_sync_responder_proof(
    sync_key: &[u8; 32],
    nonce: &[u8; 32],
    requester: &[u8],
    responder: &[u8],
    proof: &[u8],
) -> bool {
    let mac = mac(
        Domain::SyncResponderProof,
        sync_key,
        nonce,
        responder,
        requester,
    );
    mac.verify_slice(proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Prove = fn(&[u8; 32], &[u8; 32], &[u8], &[u8]) -> [u8; 32];
    type Verify = fn(&[u8; 32], &[u8; 32], &[u8], &[u8], &[u8]) -> bool;

    /// Both proofs bind the key, the nonce and both peers in their roles.
    #[test]
    fn each_proof_binds_key_nonce_and_both_peers() {
        let pairs: [(Prove, Verify); 2] = [
            (sync_proof, verify_sync_proof),
            (sync_responder_proof, verify_sync_responder_proof),
        ];
        for (prove, verify) in pairs {
            let (key, nonce) = ([1u8; 32], [2u8; 32]);
            let proof = prove(&key, &nonce, b"ant", b"bat");
            assert!(verify(&key, &nonce, b"ant", b"bat", &proof));
            assert!(
                !verify(&[9; 32], &nonce, b"ant", b"bat", &proof),
                "other key"
            );
            assert!(
                !verify(&key, &[3; 32], b"ant", b"bat", &proof),
                "other nonce"
            );
            assert!(
                !verify(&key, &nonce, b"cat", b"bat", &proof),
                "other requester"
            );
            assert!(
                !verify(&key, &nonce, b"ant", b"cat", &proof),
                "other responder"
            );
            assert!(
                !verify(&key, &nonce, b"bat", b"ant", &proof),
                "roles swapped"
            );
            assert!(
                !verify(&key, &nonce, b"ant", b"bat", &proof[..31]),
                "truncated"
            );
        }
    }

    #[test]
    fn neither_proof_can_be_reflected_as_the_other() {
        // Scenario: ant (requester) and bat (responder) hold the key; a peer in the middle
        // tries to use one side's proof as the other's, with the same nonce, in either role.
        // Assert: the labels keep them apart, whatever the order of the peers.
        let (key, nonce) = ([1u8; 32], [2u8; 32]);
        let requester = sync_proof(&key, &nonce, b"ant", b"bat");
        let responder = sync_responder_proof(&key, &nonce, b"ant", b"bat");
        assert_ne!(requester, responder);
        for (r, s) in [(b"ant", b"bat"), (b"bat", b"ant")] {
            assert!(!verify_sync_responder_proof(&key, &nonce, r, s, &requester));
            assert!(!verify_sync_proof(&key, &nonce, r, s, &responder));
        }
    }
}
