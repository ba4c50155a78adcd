//! Per-JID rate limits: a token bucket for each bare JID that writes to
//! us. A flood gets `resource-constraint` errors for its IQs and one
//! polite message for its chats; presences beyond the limit are dropped.
//!
//! Buckets are kept in a map bounded in size: when it is full, buckets
//! that have refilled completely (idle senders) are dropped first.

use std::collections::HashMap;
use std::time::Instant;

/// Most senders tracked at once.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// The sender was told to slow down during this flood.
    warned: bool,
}

/// What to do with a stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit: refuse it (first refusal of a flood: `first`).
    Refuse {
        first: bool,
    },
}

pub struct RateLimiter {
    /// Stanzas a sender may send at once; 0 disables the limit.
    burst: f64,
    /// Stanzas per second the bucket refills.
    rate: f64,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: u32) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst),
            rate: f64::from(per_second),
            buckets: HashMap::new(),
        }
    }

    pub fn check(&mut self, sender: &str, now: Instant) -> Verdict {
        if self.burst == 0.0 {
            return Verdict::Allow;
        }
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(sender) {
            self.prune(now);
        }
        let (burst, rate) = (self.burst, self.rate);
        // Looked up by reference first: a known sender costs no allocation.
        if let Some(bucket) = self.buckets.get_mut(sender) {
            return spend(bucket, burst, rate, now);
        }
        let bucket = self.buckets.entry(sender.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
            warned: false,
        });
        spend(bucket, burst, rate, now)
    }

    /// Drops the buckets of senders idle long enough to be full again;
    /// if none is, the oldest half.
    fn prune(&mut self, now: Instant) {
        let (burst, rate) = (self.burst, self.rate);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
        });
        if self.buckets.len() >= MAX_BUCKETS {
            let mut lasts: Vec<Instant> = self.buckets.values().map(|b| b.last).collect();
            lasts.sort_unstable();
            let cut = lasts[lasts.len() / 2];
            self.buckets.retain(|_, b| b.last > cut);
        }
    }

    /// New limits (SIGHUP). Senders keep their buckets, capped at the new
    /// burst at their next stanza; no limit forgets them.
    pub fn set_limits(&mut self, burst: u32, per_second: u32) {
        self.burst = f64::from(burst);
        self.rate = f64::from(per_second);
        if burst == 0 {
            self.buckets.clear();
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Refills `bucket` for the time since it was last used, then takes a
/// token from it if it has one.
fn spend(bucket: &mut Bucket, burst: f64, rate: f64, now: Instant) -> Verdict {
    let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.last = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        if bucket.tokens >= burst / 2.0 {
            bucket.warned = false;
        }
        Verdict::Allow
    } else {
        let first = !bucket.warned;
        bucket.warned = true;
        Verdict::Refuse { first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_burst_then_refuses_then_refills() {
        let mut r = RateLimiter::new(3, 2);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check("a@x", t), Verdict::Allow);
        }
        assert_eq!(r.check("a@x", t), Verdict::Refuse { first: true });
        assert_eq!(r.check("a@x", t), Verdict::Refuse { first: false });
        // Another sender is not affected.
        assert_eq!(r.check("b@x", t), Verdict::Allow);
        // Half a second refills one token at 2 per second.
        let t = t + Duration::from_millis(500);
        assert_eq!(r.check("a@x", t), Verdict::Allow);
        assert_eq!(r.check("a@x", t), Verdict::Refuse { first: false });
        // After a long pause the sender is warned again in a new flood.
        let t = t + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(r.check("a@x", t), Verdict::Allow);
        }
        assert_eq!(r.check("a@x", t), Verdict::Refuse { first: true });
    }

    #[test]
    fn zero_disables() {
        let mut r = RateLimiter::new(0, 0);
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(r.check("a@x", t), Verdict::Allow);
        }
        assert_eq!(r.tracked(), 0);
    }

    #[test]
    fn new_limits_apply_to_senders_already_tracked() {
        let mut r = RateLimiter::new(10, 1);
        let t = Instant::now();
        assert_eq!(r.check("a@x", t), Verdict::Allow);
        r.set_limits(2, 1);
        // 9 tokens left, capped at the new burst of 2.
        assert_eq!(r.check("a@x", t), Verdict::Allow);
        assert_eq!(r.check("a@x", t), Verdict::Allow);
        assert_eq!(r.check("a@x", t), Verdict::Refuse { first: true });
        r.set_limits(0, 1);
        assert_eq!(r.tracked(), 0);
        assert_eq!(r.check("a@x", t), Verdict::Allow);
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = RateLimiter::new(5, 1);
        let t = Instant::now();
        for i in 0..(MAX_BUCKETS * 3) {
            r.check(&format!("u{i}@x"), t + Duration::from_micros(i as u64));
        }
        assert!(r.tracked() <= MAX_BUCKETS, "{}", r.tracked());
    }
}
