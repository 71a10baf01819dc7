//! Request bodies: read within a deadline, within `--max-body-bytes`, and within one memory
//! budget shared by every connection.
//!
//! A body is counted against the [`BodyBudget`] as its bytes *arrive* (a declared
//! `Content-Length` reserves nothing: a client that declares 16 MiB and sends 10 bytes holds
//! 10 bytes), and stays counted until the request's response is built — parsing and the
//! engine call work on those bytes. A chunk that would take the total past the budget ends
//! the request with 503 (`ServiceUnavailable`, which SDKs retry with backoff); a body not
//! complete by the body-read deadline ends it with 408. Either way the connection is
//! closed (HTTP/1.1) or the stream reset (HTTP/2), so the unread rest costs nothing.
//!
//! Small bodies (at most [`SMALL_BODY_BYTES`] in all, which is every ordinary Kinesis call)
//! may also draw on a reserve of a further eighth of the budget, so clients that pin the
//! budget with large unfinished bodies cannot lock out ordinary producers; ending them takes
//! the body-read timeout.
//!
//! Invariant: `used` equals the sum of the live [`Reservation`]s' `held`, and never exceeds
//! `limit` plus the reserve (checked with a compare-and-swap, so concurrent readers cannot
//! overshoot); it exceeds `limit` only by bytes of small bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;

/// A body no larger than this in all may use the reserve.
pub const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// The memory all request bodies being read or served may hold together.
#[derive(Debug)]
pub struct BodyBudget {
    used: Gauge<u64, AtomicU64>,
    limit: u64,
    /// What small bodies may use beyond `limit`.
    reserve: u64,
}

impl BodyBudget {
    /// A budget of `limit` bytes, exported through `gauge`.
    pub fn new(limit: u64, gauge: Gauge<u64, AtomicU64>) -> Arc<BodyBudget> {
        gauge.set(0);
        Arc::new(BodyBudget { used: gauge, limit, reserve: limit / 8 })
    }

    /// An empty reservation.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        Reservation { budget: Arc::clone(self), held: 0 }
    }

    fn take(&self, n: u64, small: bool) -> bool {
        let limit = if small { self.limit.saturating_add(self.reserve) } else { self.limit };
        let used = self.used.inner();
        let mut cur = used.load(Ordering::Acquire);
        loop {
            let Some(next) = cur.checked_add(n).filter(|&next| next <= limit) else { return false };
            match used.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    fn give_back(&self, n: u64) {
        let before = self.used.inner().fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "more bytes released than reserved");
    }
}

/// Bytes of one request counted against the budget until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    held: u64,
}

impl Reservation {
    /// Count `n` more bytes, if the budget has room.
    fn grow(&mut self, n: u64) -> bool {
        let small = self.held.saturating_add(n) <= SMALL_BODY_BYTES;
        if n == 0 || self.budget.take(n, small) {
            self.held += n;
            true
        } else {
            false
        }
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.held
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.give_back(self.held);
        }
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// More than the request size limit (413).
    TooLarge,
    /// The budget is spent by other requests' bodies (503).
    OverBudget,
    /// Not complete by the deadline (408).
    TimedOut,
    /// The connection failed while reading.
    Failed(hyper::Error),
}

/// Read a whole body: at most `max` bytes, each counted in `reservation` as it arrives,
/// complete by `deadline`.
pub async fn read_body(
    mut body: Incoming,
    max: u64,
    reservation: &mut Reservation,
    deadline: Instant,
) -> Result<Bytes, BodyError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Failed(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        let n = data.len() as u64;
        total = total.saturating_add(n);
        if total > max {
            return Err(BodyError::TooLarge);
        }
        if !reservation.grow(n) {
            return Err(BodyError::OverBudget);
        }
        if !data.is_empty() {
            chunks.push(data);
        }
    }
    debug_assert_eq!(reservation.held(), total, "every byte read is counted");
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            // One contiguous copy for the decoders; the chunks are freed right after.
            let mut whole = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
            for c in &chunks {
                whole.extend_from_slice(c);
            }
            whole.freeze()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_overshoot_and_release_on_drop() {
        const MIB: u64 = 1024 * 1024;
        let budget = BodyBudget::new(100 * MIB, Gauge::default());
        let mut a = budget.reserve();
        let mut b = budget.reserve();
        assert!(a.grow(60 * MIB));
        assert!(!b.grow(41 * MIB), "60 + 41 > 100");
        assert!(b.grow(40 * MIB));
        assert_eq!(budget.used.get(), 100 * MIB);
        assert!(!a.grow(1));
        drop(a);
        assert_eq!(budget.used.get(), 40 * MIB);
        assert!(b.grow(60 * MIB));
        drop(b);
        assert_eq!(budget.used.get(), 0);
    }

    #[test]
    fn small_bodies_may_use_the_reserve_when_large_ones_spent_the_budget() {
        let limit = 1024 * 1024;
        let budget = BodyBudget::new(limit, Gauge::default());
        let mut large = budget.reserve();
        assert!(large.grow(limit));
        let mut small = budget.reserve();
        assert!(small.grow(SMALL_BODY_BYTES), "a small body fits in the reserve");
        assert!(!small.grow(1), "past SMALL_BODY_BYTES it is a large body");
        let mut other = budget.reserve();
        assert!(!other.grow(limit / 8), "the reserve is an eighth of the budget in all");
        assert!(other.grow(limit / 8 - SMALL_BODY_BYTES));
        assert!(!large.grow(1));
    }
}
