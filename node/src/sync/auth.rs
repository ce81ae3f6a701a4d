//! Who may ask what: the per-connection membership challenges, each peer's request budget,
//! and the responders that failed to prove membership lately.

use super::*;

/// The challenges this node issued, one per peer, dropped when the peer disconnects.
#[derive(Debug, Default)]
pub struct Challenges {
    /// Per peer: the challenge, when it was issued, and the epoch tag its `hello` named.
    issued: HashMap<PeerId, ([u8; 32], Instant, u32)>,
}

impl Challenges {
    /// A fresh challenge for `peer`'s session in the epoch tagged `epoch`, replacing any
    /// earlier one.
    pub fn issue(&mut self, peer: PeerId, epoch: u32) -> [u8; 32] {
        if self.issued.len() >= MAX_CHALLENGES {
            self.issued
                .retain(|_, (_, at, _)| at.elapsed() < CHALLENGE_TTL);
            if self.issued.len() >= MAX_CHALLENGES {
                // Drop an arbitrary one: its owner just asks again.
                if let Some(victim) = self.issued.keys().next().copied() {
                    self.issued.remove(&victim);
                }
            }
        }
        let nonce: [u8; 32] = rand::random();
        self.issued.insert(peer, (nonce, Instant::now(), epoch));
        nonce
    }

    /// Answers `peer`'s `hello` for the epoch tagged `epoch`: a fresh challenge, and our
    /// proof over its `nonce` if we hold the group and that epoch (`sync_key`), else a decoy
    /// of the same size, so that the answer does not tell a non-member (or a member without
    /// that epoch) whether we do (PROTOCOL.md §13.3).
    pub fn answer_hello(
        &mut self,
        peer: PeerId,
        local: &PeerId,
        sync_key: Option<&[u8; 32]>,
        nonce: &[u8; 32],
        epoch: u32,
    ) -> Response {
        let proof = match sync_key {
            Some(key) => sync_responder_proof(key, nonce, &peer.to_bytes(), &local.to_bytes()),
            None => rand::random(),
        };
        Response::Challenge {
            nonce: self.issue(peer, epoch),
            proof,
        }
    }

    /// The epoch tag `peer`'s current challenge was issued for.
    pub fn epoch(&self, peer: &PeerId) -> Option<u32> {
        self.issued.get(peer).map(|(_, _, epoch)| *epoch)
    }

    /// Forgets a peer's challenge (its connection closed).
    pub fn forget(&mut self, peer: &PeerId) {
        self.issued.remove(peer);
    }

    /// Whether `proof` proves knowledge of `sync_key` on this connection.
    pub fn verify(
        &self,
        peer: &PeerId,
        local: &PeerId,
        sync_key: &[u8; 32],
        proof: &[u8; 32],
    ) -> bool {
        match self.issued.get(peer) {
            Some((nonce, at, _)) if at.elapsed() < CHALLENGE_TTL => {
                verify_sync_proof(sync_key, nonce, &peer.to_bytes(), &local.to_bytes(), proof)
            }
            _ => false,
        }
    }
}

/// Each peer's sync request budget (see [`REQUEST_BUDGET`]), on a caller-supplied clock.
#[derive(Debug, Default)]
pub struct RequestBudgets {
    pub(super) budgets: HashMap<PeerId, Bucket>,
}

impl RequestBudgets {
    /// Spends one of `peer`'s requests at `now_ms`; `false`: over budget, answer `busy`.
    pub fn take(&mut self, peer: PeerId, now_ms: u64) -> bool {
        let window = REQUEST_BUDGET_WINDOW.as_millis() as u64;
        if self.budgets.len() >= MAX_REQUEST_BUDGETS && !self.budgets.contains_key(&peer) {
            self.budgets.retain(|_, b| {
                b.refilled(REQUEST_BUDGET, window, now_ms) < f64::from(REQUEST_BUDGET)
            });
            if self.budgets.len() >= MAX_REQUEST_BUDGETS {
                // An arbitrary one goes: its peer gets a fresh budget, as a new peer id would.
                if let Some(victim) = self.budgets.keys().next().copied() {
                    self.budgets.remove(&victim);
                }
            }
        }
        self.budgets
            .entry(peer)
            .or_insert_with(|| Bucket::full(REQUEST_BUDGET, now_ms))
            .take(REQUEST_BUDGET, window, now_ms)
    }
}

/// The responders that failed to prove membership, per group: automatic sessions leave them
/// alone for [`UNPROVEN_BACKOFF`]. On a caller-supplied clock.
#[derive(Debug, Default)]
pub struct UnprovenPeers {
    pub(super) until_ms: HashMap<(GroupId, PeerId), u64>,
}

impl UnprovenPeers {
    /// `peer` failed to prove membership of `group` at `now_ms`.
    pub fn mark(&mut self, group: GroupId, peer: PeerId, now_ms: u64) {
        if self.until_ms.len() >= MAX_UNPROVEN {
            self.until_ms.retain(|_, until| *until > now_ms);
            if self.until_ms.len() >= MAX_UNPROVEN {
                // Full of live entries (many peer ids): the one whose backoff ends first goes.
                let soonest = self
                    .until_ms
                    .iter()
                    .min_by_key(|(_, u)| **u)
                    .map(|(k, _)| *k);
                if let Some(soonest) = soonest {
                    self.until_ms.remove(&soonest);
                }
            }
        }
        let until = now_ms.saturating_add(UNPROVEN_BACKOFF.as_millis() as u64);
        self.until_ms.insert((group, peer), until);
    }

    /// Whether automatic sessions of `group` leave `peer` alone at `now_ms`.
    pub fn contains(&self, group: &GroupId, peer: &PeerId, now_ms: u64) -> bool {
        self.until_ms
            .get(&(*group, *peer))
            .is_some_and(|until| *until > now_ms)
    }
}
