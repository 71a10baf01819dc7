//! The commit/notify handshake between an appender and the readers tailing a shard.
//!
//! The appender publishes a new committed high-watermark with [`Notifier::publish`]; blocked
//! readers ([`Notifier::wait_past`]) and registered async wakers are woken by that call
//! itself, never by a polling sleep.
//!
//! Invariants (checked by the loom model in `tests/loom_notify.rs`):
//! - `publish` stores the watermark with `Release` *before* taking the lock and notifying, and
//!   waiters check it with `Acquire` *under* the lock, so a waiter that saw an old watermark is
//!   already waiting when the notification is sent: no lost wake-up.
//! - A reader that observes watermark `w` also observes every byte written for offsets `< w`.
//! - The watermark never decreases.
//! - `Waiters::sleepers` counts the threads blocked on `changed`; it changes only under the
//!   lock, so `publish` (which reads it under the same lock) skips the condition variable's
//!   wake-up — a system call on every append with `std`'s futex condvar — exactly when no
//!   thread could be woken by it.

#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};
use std::task::Waker;
use std::time::{Duration, Instant};

/// The committed high-watermark of one shard and the parties waiting on it.
#[derive(Debug)]
pub struct Notifier {
    high_watermark: AtomicU64,
    lock: Mutex<Waiters>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Waiters {
    wakers: Vec<Waker>,
    /// Threads blocked in `changed.wait*` (incremented before, decremented after, under the
    /// lock).
    sleepers: usize,
}

impl Notifier {
    /// A notifier whose watermark starts at `high_watermark`.
    pub fn new(high_watermark: u64) -> Notifier {
        Notifier {
            high_watermark: AtomicU64::new(high_watermark),
            lock: Mutex::new(Waiters::default()),
            changed: Condvar::new(),
        }
    }

    /// The committed high-watermark: one past the newest record readers may see.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raise the watermark to `high_watermark` (never lowers it) and wake every waiter.
    pub fn publish(&self, high_watermark: u64) {
        #[cfg(not(feature = "canary-relaxed-publish"))]
        self.high_watermark.fetch_max(high_watermark, Ordering::Release);
        #[cfg(feature = "canary-relaxed-publish")]
        self.high_watermark.fetch_max(high_watermark, Ordering::Relaxed);
        #[cfg(not(feature = "canary-notify-without-lock"))]
        self.wake_all();
        #[cfg(feature = "canary-notify-without-lock")]
        {
            self.changed.notify_all();
            let wakers = std::mem::take(&mut self.waiters().wakers);
            for w in wakers {
                w.wake();
            }
        }
    }

    /// Block until the watermark exceeds `offset` or `timeout` passes; returns the watermark.
    pub fn wait_past(&self, offset: u64, timeout: Duration) -> u64 {
        let hw = self.high_watermark();
        if hw > offset {
            return hw;
        }
        self.wait_past_unless(offset, timeout, &|| false)
    }

    /// Like [`Notifier::wait_past`], but also returns (with the current watermark) as soon as
    /// `stop()` holds; whoever makes it hold must then call [`Notifier::wake_all`].
    pub fn wait_past_unless(&self, offset: u64, timeout: Duration, stop: &dyn Fn() -> bool) -> u64 {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.waiters();
        loop {
            let hw = self.high_watermark();
            if hw > offset || stop() {
                return hw;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return hw;
            }
            guard = self.sleep(guard, Some(left));
        }
    }

    /// Block on the condition variable (for at most `timeout`, if given), counted in
    /// `sleepers` for as long as it sleeps, so that [`Notifier::wake_all`] knows to wake it.
    fn sleep<'a>(&'a self, mut guard: MutexGuard<'a, Waiters>, timeout: Option<Duration>) -> MutexGuard<'a, Waiters> {
        guard.sleepers += 1;
        let mut guard = match timeout {
            Some(t) => match self.changed.wait_timeout(guard, t) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            },
            None => self.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
        };
        guard.sleepers -= 1;
        guard
    }

    /// Wake every waiter and waker without changing the watermark (they re-check their own
    /// stop conditions). [`Notifier::publish`] ends with this.
    pub fn wake_all(&self) {
        let wakers = {
            let mut w = self.waiters();
            if w.sleepers > 0 {
                self.changed.notify_all();
            }
            std::mem::take(&mut w.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Block without a deadline until the watermark exceeds `offset` (used by loom models).
    pub fn wait_past_forever(&self, offset: u64) -> u64 {
        let mut guard = self.waiters();
        loop {
            let hw = self.high_watermark();
            if hw > offset {
                return hw;
            }
            guard = self.sleep(guard, None);
        }
    }

    /// Register `waker` to be woken when the watermark exceeds `offset`. Returns `true`
    /// (and registers nothing) if it already does.
    pub fn register_waker(&self, offset: u64, waker: &Waker) -> bool {
        let mut guard = self.waiters();
        if self.high_watermark() > offset {
            return true;
        }
        if !guard.wakers.iter().any(|w| w.will_wake(waker)) {
            guard.wakers.push(waker.clone());
        }
        false
    }
}
