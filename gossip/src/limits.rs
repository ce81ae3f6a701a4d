//! Per-peer message budget: a token bucket per peer, refilled at
//! [`PeerRateLimit::per_sec`] up to [`PeerRateLimit::burst`]. A gossip message that finds the
//! bucket empty is dropped before the application sees it (no decryption, no signature check),
//! so one peer cannot make us spend unbounded CPU on its traffic.
//!
//! A bucket outlives the peer's connection until it has refilled ([`TokenBucket::is_full`]):
//! were it dropped on disconnect, a peer could reset its budget by reconnecting. Keeping only
//! buckets that are still below full bounds the map by the peers that sent us anything in the
//! last `burst / per_sec` seconds (2 s by default).

use tokio::time::Instant;

/// How many gossip messages one peer may hand us.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerRateLimit {
    /// Sustained messages per second.
    pub per_sec: f64,
    /// Messages allowed in one burst (the bucket's size).
    pub burst: f64,
}

impl Default for PeerRateLimit {
    /// 500 messages/s, bursts of 1000: far above what honest relays send (every author's own
    /// rate is capped by the group's charter), far below what would slow validation down.
    fn default() -> Self {
        Self {
            per_sec: 500.0,
            burst: 1000.0,
        }
    }
}

/// One peer's bucket.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn full(limit: &PeerRateLimit, now: Instant) -> Self {
        Self {
            tokens: limit.burst,
            last: now,
        }
    }

    /// Whether the bucket has refilled by `now`, so that forgetting it gives its peer
    /// nothing it would not have anyway.
    pub(crate) fn is_full(&self, limit: &PeerRateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * limit.per_sec >= limit.burst
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, limit: &PeerRateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.per_sec).min(limit.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_drains_the_bucket_and_time_refills_it() {
        let limit = PeerRateLimit {
            per_sec: 10.0,
            burst: 5.0,
        };
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(&limit, t0);
        let taken = (0..8).filter(|_| bucket.take(&limit, t0)).count();
        assert_eq!(taken, 5);
        // 0.25 s at 10/s: two more tokens, not three.
        let t1 = t0 + Duration::from_millis(250);
        let taken = (0..8).filter(|_| bucket.take(&limit, t1)).count();
        assert_eq!(taken, 2);
        // A long pause refills to the burst size, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        let taken = (0..100).filter(|_| bucket.take(&limit, t2)).count();
        assert_eq!(taken, 5);
    }

    #[test]
    fn a_drained_bucket_is_full_again_only_after_refilling() {
        let limit = PeerRateLimit {
            per_sec: 10.0,
            burst: 5.0,
        };
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(&limit, t0);
        assert!(bucket.is_full(&limit, t0));
        while bucket.take(&limit, t0) {}
        assert!(!bucket.is_full(&limit, t0 + Duration::from_millis(400)));
        assert!(bucket.is_full(&limit, t0 + Duration::from_millis(500)));
    }
}
