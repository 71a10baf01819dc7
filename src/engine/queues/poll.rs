//! Long polling of a queue: [`PollGate`] is where receives that found nothing wait until
//! something may have become receivable, and the order in which waiting pollers get to try.
//!
//! What wakes a gate ([`PollGate::wake`]): an append to any open shard of the queue's stream
//! (through the shard logs' commit notifier, the one push subscriptions use: a
//! [`GateWaker`] registered at the high-watermark the poller saw), a release (visibility 0,
//! a restore, a timed-out delivery: pollers wait at most until the queue's next visibility
//! deadline on the engine clock, and a [`crate::ManualClock`] that is moved wakes every
//! gate), a queue deletion and engine shutdown.
//!
//! Fairness: blocking pollers take a ticket when they start to wait; only the oldest waiting
//! poller (the head) tries to receive when the gate is woken; when it gets records it leaves
//! and wakes the next. So records that become available go to pollers in the order they
//! started waiting, and a new poller never overtakes one already waiting (it queues behind
//! it). Async streams ([`super::buffer::Deliveries`]) are woken on the same events and try
//! when woken (no ticket).
//!
//! Invariant: a poller registers its wake-ups (ticket or waker, shard notifiers) and reads
//! the gate's version *before* it tries to receive, and waits only while the version is
//! unchanged, so a wake between its try and its wait is never lost.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The waiting room of one queue.
#[derive(Default)]
pub(crate) struct PollGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Bumped by every wake.
    version: u64,
    /// Tickets of blocking pollers, oldest first.
    waiting: VecDeque<u64>,
    next_ticket: u64,
    /// Async pollers to wake.
    wakers: Vec<Waker>,
}

/// A `Waker` that wakes a gate (registered with shard notifiers and the engine timer).
pub(crate) struct GateWaker(pub(crate) Weak<PollGate>);

impl Wake for GateWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(gate) = self.0.upgrade() {
            gate.wake();
        }
    }
}

/// What one try of a long poll found.
pub(crate) enum Attempt<T> {
    /// Done: return this.
    Done(T),
    /// Nothing yet; wait at most this long (real time) before trying again (the next
    /// visibility deadline), or `None` for the whole remaining wait.
    Retry(Option<Duration>),
}

impl PollGate {
    /// Something may have become receivable: every waiting poller re-checks.
    pub(crate) fn wake(&self) {
        let wakers = {
            let mut st = self.state.lock();
            st.version = st.version.wrapping_add(1);
            self.changed.notify_all();
            std::mem::take(&mut st.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// The current version (for async pollers: wake-ups after it are not lost).
    pub(crate) fn version(&self) -> u64 {
        self.state.lock().version
    }

    /// Register an async poller's waker, unless the gate moved past `seen` already (then
    /// `false`: try again at once).
    pub(crate) fn register(&self, seen: u64, waker: &Waker) -> bool {
        let mut st = self.state.lock();
        if st.version != seen {
            return false;
        }
        if !st.wakers.iter().any(|w| w.will_wake(waker)) {
            st.wakers.push(waker.clone());
        }
        true
    }

    /// Pollers waiting now (blocking ones).
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }

    /// Run a long poll: `attempt` first at once (unless older pollers are waiting), then
    /// each time the gate is woken while this poller is the oldest waiting, until it returns
    /// [`Attempt::Done`] or `wait` (real time) passes; `expired()` ends the wait early (the
    /// wait's end on the engine clock). Returns `None` when the wait ended with nothing.
    pub(crate) fn poll<T>(
        &self,
        wait: Duration,
        expired: impl Fn() -> bool,
        mut attempt: impl FnMut() -> crate::Result<Attempt<T>>,
    ) -> crate::Result<Option<T>> {
        let deadline = Instant::now().checked_add(wait);
        let mut st = self.state.lock();
        let ticket = st.next_ticket;
        st.next_ticket = st.next_ticket.wrapping_add(1);
        st.waiting.push_back(ticket);
        let result = loop {
            let seen = st.version;
            let mut nap = None;
            if st.waiting.front() == Some(&ticket) {
                drop(st);
                let tried = attempt();
                st = self.state.lock();
                match tried {
                    Ok(Attempt::Done(v)) => break Ok(Some(v)),
                    Ok(Attempt::Retry(n)) => nap = n,
                    Err(e) => break Err(e),
                }
            }
            let left = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() || expired() {
                break Ok(None);
            }
            if st.version == seen {
                let timeout = nap.map_or(left, |n| n.min(left));
                self.changed.wait_for(&mut st, timeout);
            }
        };
        let was_head = st.waiting.front() == Some(&ticket);
        st.waiting.retain(|t| *t != ticket);
        if was_head && !st.waiting.is_empty() {
            // The next poller becomes the head: let it try (there may be more records).
            st.version = st.version.wrapping_add(1);
            self.changed.notify_all();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_poll_that_finds_something_at_once_returns_it_without_waiting() {
        let gate = PollGate::default();
        let got = gate.poll(Duration::from_secs(3600), || false, || Ok(Attempt::Done(7))).unwrap();
        assert_eq!(got, Some(7));
        assert_eq!(gate.waiting(), 0);
    }

    #[test]
    fn a_poll_ends_empty_when_its_engine_clock_wait_is_over() {
        let gate = PollGate::default();
        let tries = AtomicUsize::new(0);
        let got: Option<()> = gate
            .poll(
                Duration::from_secs(3600),
                || tries.load(Ordering::SeqCst) >= 1,
                || {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Ok(Attempt::Retry(None))
                },
            )
            .unwrap();
        assert_eq!(got, None);
        assert_eq!(gate.waiting(), 0);
    }

    #[test]
    fn a_woken_poller_tries_again_and_waiting_pollers_are_served_in_arrival_order() {
        let gate = Arc::new(PollGate::default());
        let available = Arc::new(Mutex::new(0u32));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for id in 0..3u32 {
            // Start the pollers one after another: each is waiting before the next starts.
            let (g, a, o) = (Arc::clone(&gate), Arc::clone(&available), Arc::clone(&order));
            threads.push(std::thread::spawn(move || {
                g.poll(
                    Duration::from_secs(3600),
                    || false,
                    || {
                        let mut n = a.lock();
                        if *n == 0 {
                            return Ok(Attempt::Retry(None));
                        }
                        *n -= 1;
                        o.lock().push(id);
                        Ok(Attempt::Done(id))
                    },
                )
            }));
            while gate.waiting() < id as usize + 1 {
                std::thread::yield_now();
            }
        }
        for _ in 0..3 {
            *available.lock() += 1;
            gate.wake();
        }
        for t in threads {
            assert!(t.join().unwrap().unwrap().is_some());
        }
        assert_eq!(*order.lock(), vec![0, 1, 2], "records go to pollers in the order they started waiting");
    }
}
