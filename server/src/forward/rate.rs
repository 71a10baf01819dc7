//! A configurable rate: token buckets for records and bytes per second shared by every
//! shard's pump. The arithmetic is a pure function of the time passed in, so it is tested
//! without sleeping.

use std::time::{Duration, Instant};

/// A rate limit (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateLimit {
    /// Records per second.
    pub records_per_sec: Option<f64>,
    /// Bytes (data + partition key) per second.
    pub bytes_per_sec: Option<f64>,
}

impl RateLimit {
    /// No limit.
    pub fn is_unlimited(&self) -> bool {
        self.records_per_sec.is_none() && self.bytes_per_sec.is_none()
    }
}

/// The longest single wait the limiter asks for.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    level: f64,
}

impl Bucket {
    /// A bucket holding one second of tokens, full at the start.
    fn new(rate: f64) -> Bucket {
        Bucket { rate, burst: rate, level: rate }
    }

    fn refill(&mut self, elapsed: Duration) {
        self.level = (self.level + self.rate * elapsed.as_secs_f64()).min(self.burst);
    }

    /// Take `n` tokens (a request larger than the burst may take the bucket below zero:
    /// it then pays its debt before the next one goes). Returns how long to wait first.
    fn take(&mut self, n: f64) -> Duration {
        let wait = if self.level >= n.min(self.burst) { 0.0 } else { (n.min(self.burst) - self.level) / self.rate };
        self.level -= n;
        // Bounded, so a tiny rate cannot ask for a wait no timer can represent.
        Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or(MAX_WAIT).min(MAX_WAIT)
    }
}

/// Token buckets for [`RateLimit`].
#[derive(Debug)]
pub struct RateLimiter {
    records: Option<Bucket>,
    bytes: Option<Bucket>,
    last: Instant,
}

impl RateLimiter {
    /// A limiter starting at `now` with full buckets.
    pub fn new(limit: RateLimit, now: Instant) -> RateLimiter {
        let positive = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0).map(Bucket::new);
        RateLimiter { records: positive(limit.records_per_sec), bytes: positive(limit.bytes_per_sec), last: now }
    }

    /// Charge a request of `records` records and `bytes` bytes at `now`; returns how long
    /// the caller must wait before sending it.
    pub fn charge(&mut self, records: usize, bytes: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        let mut wait = Duration::ZERO;
        if let Some(b) = &mut self.records {
            b.refill(elapsed);
            wait = wait.max(b.take(records as f64));
        }
        if let Some(b) = &mut self.bytes {
            b.refill(elapsed);
            wait = wait.max(b.take(bytes as f64));
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlimited_rate_never_waits() {
        let t = Instant::now();
        let mut r = RateLimiter::new(RateLimit::default(), t);
        assert_eq!(r.charge(1_000_000, 1 << 40, t), Duration::ZERO);
    }

    #[test]
    fn a_record_rate_lets_one_second_through_then_paces_the_rest() {
        let t = Instant::now();
        let mut r = RateLimiter::new(RateLimit { records_per_sec: Some(1000.0), bytes_per_sec: None }, t);
        assert_eq!(r.charge(500, 0, t), Duration::ZERO);
        assert_eq!(r.charge(500, 0, t), Duration::ZERO);
        // The bucket is empty: the next 500 wait half a second.
        assert_eq!(r.charge(500, 0, t), Duration::from_millis(500));
        // Half a second later the debt is paid: 500 more wait another half second.
        assert_eq!(r.charge(500, 0, t + Duration::from_millis(500)), Duration::from_millis(500));
        // Over a long run the rate holds: 10 s of time admit about 10,000 records.
        let mut now = t + Duration::from_millis(500);
        let mut sent = 0;
        while now < t + Duration::from_secs(11) {
            now += r.charge(100, 0, now);
            sent += 100;
        }
        assert!((9_800..=11_600).contains(&sent), "{sent} records in about 10.5 s at 1,000/s");
    }

    #[test]
    fn the_byte_rate_and_the_record_rate_both_apply() {
        let t = Instant::now();
        let mut r = RateLimiter::new(RateLimit { records_per_sec: Some(1_000_000.0), bytes_per_sec: Some(1_000.0) }, t);
        assert_eq!(r.charge(1, 1_000, t), Duration::ZERO);
        assert_eq!(r.charge(1, 2_000, t), Duration::from_secs(1));
    }

    #[test]
    fn a_tiny_rate_asks_for_a_bounded_wait() {
        let t = Instant::now();
        let mut r = RateLimiter::new(RateLimit { records_per_sec: Some(1e-300), bytes_per_sec: None }, t);
        r.charge(10, 0, t);
        assert_eq!(r.charge(10, 0, t), MAX_WAIT);
    }

    #[test]
    fn zero_or_negative_rates_mean_no_limit() {
        let t = Instant::now();
        let mut r = RateLimiter::new(RateLimit { records_per_sec: Some(0.0), bytes_per_sec: Some(-1.0) }, t);
        assert_eq!(r.charge(10, 10, t), Duration::ZERO);
    }
}
