//! Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter": the n-th
//! consecutive failure waits a uniformly random time in `[0, min(max, base · 2^n)]`), and the
//! classification of failures into "retry after a backoff" and "stop".
//!
//! The policy is a pure function of the attempt number and a random draw, so it is tested
//! without sleeping; the pumps do the sleeping.

use std::time::Duration;

/// How long to wait after consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The largest ceiling of any wait.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    /// 100 ms doubling up to 10 s: a destination outage of a few seconds is retried several
    /// times a second at first and about every 5 s (on average) once it lasts.
    fn default() -> Self {
        BackoffPolicy { base: Duration::from_millis(100), max: Duration::from_secs(10) }
    }
}

impl BackoffPolicy {
    /// The ceiling of the wait after `failures` consecutive failures (1 = the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << shift);
        ceiling.min(self.max).max(Duration::from_millis(1))
    }

    /// The wait after `failures` consecutive failures, given a uniform random draw in
    /// `[0, 1]` (`unit` is clamped into that range).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 1.0 };
        self.ceiling(failures).mul_f64(unit)
    }

    /// The wait after `failures` consecutive failures, with a fresh random draw.
    pub fn jittered(&self, failures: u32) -> Duration {
        self.delay(failures, random_unit())
    }
}

/// A uniform draw in `[0, 1]` from the operating system's generator (a fixed midpoint if
/// that fails, which only loses the jitter).
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// Why a call failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Throttled (ProvisionedThroughputExceeded, LimitExceeded, KMS or SDK throttling):
    /// retry after a backoff.
    Throttled(String),
    /// The service failed (InternalFailure, HTTP 5xx): retry after a backoff.
    ServiceUnavailable(String),
    /// No answer (connection refused or reset, timeout, a truncated response): retry after
    /// a backoff.
    Unreachable(String),
    /// A shard iterator expired: get a new one (no backoff).
    ExpiredIterator(String),
    /// The shard no longer exists (it expired with its records).
    ShardGone(String),
    /// Retrying cannot help (the stream does not exist, a record the destination refuses,
    /// bad credentials, access denied): stop with this message.
    Fatal(String),
}

impl Failure {
    /// Whether a backoff and a retry can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Failure::Throttled(_) | Failure::ServiceUnavailable(_) | Failure::Unreachable(_))
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Throttled(m)
            | Failure::ServiceUnavailable(m)
            | Failure::Unreachable(m)
            | Failure::ExpiredIterator(m)
            | Failure::ShardGone(m)
            | Failure::Fatal(m) => m,
        }
    }

    /// Classify a Kinesis error code (the `__type` of the error body) and HTTP status.
    pub fn from_kinesis(code: Option<&str>, status: Option<u16>, message: String) -> Failure {
        match code.unwrap_or("") {
            "ProvisionedThroughputExceededException"
            | "LimitExceededException"
            | "KMSThrottlingException"
            | "ThrottlingException"
            | "Throttling"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown" => Failure::Throttled(message),
            "InternalFailure" | "InternalFailureException" | "ServiceUnavailable" | "InternalError" => {
                Failure::ServiceUnavailable(message)
            }
            "ExpiredIteratorException" => Failure::ExpiredIterator(message),
            _ if status.is_some_and(|s| s >= 500) => Failure::ServiceUnavailable(message),
            _ if status == Some(429) => Failure::Throttled(message),
            _ => Failure::Fatal(message),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_from_the_base_and_stops_at_the_maximum() {
        let p = BackoffPolicy { base: Duration::from_millis(100), max: Duration::from_secs(2) };
        let ceilings: Vec<u128> = (1..=7).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let p = BackoffPolicy::default();
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, 1.0), p.ceiling(3));
        assert_eq!(p.delay(3, 0.5), p.ceiling(3) / 2);
        assert_eq!(p.delay(3, f64::NAN), p.ceiling(3));
        assert_eq!(p.delay(3, 7.0), p.ceiling(3));
    }

    #[test]
    fn random_draws_stay_in_the_unit_interval_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..=1.0).contains(d)));
        assert!(draws.iter().any(|d| (d - draws[0]).abs() > 1e-9), "64 identical draws");
    }

    #[test]
    fn throttling_server_errors_and_expiry_are_told_apart_from_fatal_errors() {
        let c = |code: &str, status| Failure::from_kinesis(Some(code), status, "m".into());
        assert!(matches!(c("ProvisionedThroughputExceededException", Some(400)), Failure::Throttled(_)));
        assert!(matches!(c("LimitExceededException", Some(400)), Failure::Throttled(_)));
        assert!(matches!(c("KMSThrottlingException", Some(400)), Failure::Throttled(_)));
        assert!(matches!(c("InternalFailure", Some(500)), Failure::ServiceUnavailable(_)));
        assert!(matches!(c("Whatever", Some(503)), Failure::ServiceUnavailable(_)));
        assert!(matches!(c("ExpiredIteratorException", Some(400)), Failure::ExpiredIterator(_)));
        assert!(matches!(c("ResourceNotFoundException", Some(400)), Failure::Fatal(_)));
        assert!(matches!(c("InvalidArgumentException", Some(400)), Failure::Fatal(_)));
        assert!(matches!(c("AccessDeniedException", Some(400)), Failure::Fatal(_)));
        assert!(c("InternalFailure", None).is_retryable());
        assert!(!c("ValidationException", Some(400)).is_retryable());
    }
}
