//! The per-author rate limit (PROTOCOL.md §9 rule 7p), counted on this node's own clock.
//!
//! An author chooses its own `created_at`, so a limit counted per `created_at` window can be
//! escaped by dating messages into past windows: 2000 posts, 100 in each of 20 past windows,
//! all pass at one instant. What protects a node's disk and its members' attention is how
//! many messages of one author it *stores per unit of its own time*, whatever they claim.
//! So each (group, author) has a token bucket that holds `max_messages` tokens and refills
//! at `max_messages` per `window_secs` of this node's clock; storing a message takes one
//! token, on every path (gossip, sync, and the node's own compose).
//!
//! An honest author never notices: it cannot outpace the limit in real time either. A late
//! joiner catching up on an author's long history takes that history at the author's rate,
//! a page per sync round; what is refused now is offered again by the next round (the message
//! is Ignored and not stored, so it is still missing from this node's set).
//!
//! Bounds: at most [`MAX_BUCKETS`] buckets. A bucket that has refilled is forgotten (a fresh
//! one is the same), and when the map is full anyway an arbitrary bucket is forgotten: that
//! gives its author a fresh allowance, which is no more than a new pseudonym gets. Buckets
//! start full after a restart, which lets an author store one more burst.

use std::collections::HashMap;

use cove_crypto::GroupId;

use crate::message::RateLimit;

/// Most (group, author) buckets kept at once.
pub const MAX_BUCKETS: usize = 65_536;

/// A token bucket on a caller-supplied clock (unix ms), so that its users stay pure and
/// testable: holds at most `capacity` tokens, refills at `capacity` per `window_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    /// Unix ms of the last refill.
    at_ms: u64,
}

impl Bucket {
    /// A full bucket.
    pub fn full(capacity: u32, now_ms: u64) -> Bucket {
        Bucket {
            tokens: f64::from(capacity),
            at_ms: now_ms,
        }
    }

    /// The tokens it holds at `now_ms`.
    pub fn refilled(&self, capacity: u32, window_ms: u64, now_ms: u64) -> f64 {
        let per_ms = f64::from(capacity) / window_ms.max(1) as f64;
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        (self.tokens + elapsed * per_ms).min(f64::from(capacity))
    }

    /// Takes one token at `now_ms` if there is one.
    pub fn take(&mut self, capacity: u32, window_ms: u64, now_ms: u64) -> bool {
        let tokens = self.refilled(capacity, window_ms, now_ms);
        self.at_ms = now_ms;
        self.tokens = if tokens >= 1.0 { tokens - 1.0 } else { tokens };
        tokens >= 1.0
    }
}

/// `limit` as a bucket's capacity and window.
fn shape(limit: &RateLimit) -> (u32, u64) {
    (
        limit.max_messages,
        u64::from(limit.window_secs.max(1)) * 1000,
    )
}

/// Every author's allowance on this node.
#[derive(Debug, Default)]
pub struct AuthorRates {
    buckets: HashMap<(GroupId, [u8; 32]), Bucket>,
}

impl AuthorRates {
    /// Whether `author` may store one more message in `group` at `now_ms`.
    pub fn allows(
        &self,
        group: &GroupId,
        author: &[u8; 32],
        limit: &RateLimit,
        now_ms: u64,
    ) -> bool {
        let (capacity, window) = shape(limit);
        self.buckets
            .get(&(*group, *author))
            .is_none_or(|b| b.refilled(capacity, window, now_ms) >= 1.0)
    }

    /// Takes one token for a message of `author` stored at `now_ms`.
    pub fn record(&mut self, group: &GroupId, author: &[u8; 32], limit: &RateLimit, now_ms: u64) {
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&(*group, *author)) {
            self.make_room(limit, now_ms);
        }
        let (capacity, window) = shape(limit);
        self.buckets
            .entry((*group, *author))
            .or_insert_with(|| Bucket::full(capacity, now_ms))
            .take(capacity, window, now_ms);
    }

    /// Forgets refilled buckets, then, if still full, an arbitrary one. `limit` is the
    /// incoming message's; a bucket of another group with a different limit is judged by it
    /// too, which at worst forgets a bucket a little early.
    fn make_room(&mut self, limit: &RateLimit, now_ms: u64) {
        let (capacity, window) = shape(limit);
        self.buckets
            .retain(|_, b| b.refilled(capacity, window, now_ms) < f64::from(capacity));
        if self.buckets.len() >= MAX_BUCKETS {
            if let Some(key) = self.buckets.keys().next().copied() {
                self.buckets.remove(&key);
            }
        }
    }

    /// Buckets kept.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        max_messages: 100,
        window_secs: 10,
    };

    #[test]
    fn a_burst_beyond_the_limit_waits_for_real_time() {
        let (group, author) = (GroupId::from_bytes([1; 32]), [2; 32]);
        let mut rates = AuthorRates::default();
        let now = 1_000_000;
        let mut stored = 0;
        for _ in 0..2000 {
            if rates.allows(&group, &author, &LIMIT, now) {
                rates.record(&group, &author, &LIMIT, now);
                stored += 1;
            }
        }
        assert_eq!(stored, 100);
        // 100 per 10 s: one more every 100 ms.
        assert!(!rates.allows(&group, &author, &LIMIT, now + 99));
        assert!(rates.allows(&group, &author, &LIMIT, now + 100));
        // Other authors and groups have their own allowance.
        assert!(rates.allows(&group, &[3; 32], &LIMIT, now));
        assert!(rates.allows(&GroupId::from_bytes([4; 32]), &author, &LIMIT, now));
    }

    #[test]
    fn the_map_stays_bounded() {
        let group = GroupId::from_bytes([1; 32]);
        let mut rates = AuthorRates::default();
        for i in 0..(MAX_BUCKETS as u32 + 10) {
            let mut author = [0; 32];
            author[..4].copy_from_slice(&i.to_be_bytes());
            rates.record(&group, &author, &LIMIT, 5);
        }
        assert!(rates.len() <= MAX_BUCKETS);
    }
}
