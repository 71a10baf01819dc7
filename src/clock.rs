//! Injectable time. Everything time-based (arrival timestamps, segment age, retention,
//! iterator expiry, batching windows) reads a [`Clock`], so tests drive time by hand.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;

    /// Ask to be called whenever the time is *set* (rather than passing by itself), so that
    /// waits on this clock's time (queue long polls waiting for a visibility timeout) end
    /// when a test moves the time. The clock keeps only a weak reference. A clock whose time
    /// only passes (the system clock) ignores it: a real-time wait covers it.
    fn on_set(&self, listener: Weak<dyn Fn() + Send + Sync>) {
        let _ = listener;
    }
}

/// A clock handle shared by every part of an engine.
pub type SharedClock = Arc<dyn Clock>;

/// The real system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

type Listeners = parking_lot::Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>;

/// A clock that only moves when told to. Clones share the same time (and listeners: every
/// change calls what [`Clock::on_set`] registered).
#[derive(Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
    listeners: Arc<Listeners>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("now_ms", &self.now_ms()).finish()
    }
}

impl ManualClock {
    /// A manual clock starting at `start_ms`.
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock { now_ms: Arc::new(AtomicI64::new(start_ms)), listeners: Arc::default() }
    }

    /// Set the time.
    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
        self.notify();
    }

    /// Move time forward.
    pub fn advance(&self, by: Duration) {
        let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(by_ms, Ordering::SeqCst);
        self.notify();
    }

    fn notify(&self) {
        let live: Vec<Arc<dyn Fn() + Send + Sync>> = {
            let mut l = self.listeners.lock();
            l.retain(|w| w.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        for f in live {
            f();
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn on_set(&self, listener: Weak<dyn Fn() + Send + Sync>) {
        self.listeners.lock().push(listener);
    }
}

/// The proleptic Gregorian date (year, month 1–12, day 1–31) of a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`), for formatting timestamps without a
/// calendar dependency. Any `i64` is accepted.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(16_457), (2015, 1, 22));
    }
}
