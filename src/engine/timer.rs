//! A small timer thread that wakes async tasks at deadlines (subscription heartbeats and
//! lifetimes), so the library needs no async runtime. Started on first use; it exits when
//! its engine is gone.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct State {
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
    running: bool,
}

/// Wakes registered wakers at their deadlines.
#[derive(Default)]
pub(crate) struct Timer {
    state: Mutex<State>,
    changed: Condvar,
}

impl Timer {
    /// Wake `waker` once `after` has passed.
    pub(crate) fn wake_after(self: &Arc<Self>, after: Duration, waker: Waker) {
        let at = Instant::now().checked_add(after).unwrap_or_else(Instant::now);
        let mut st = self.state.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.due.push(Reverse((at, id)));
        st.wakers.push((id, waker));
        if !st.running {
            st.running = true;
            let weak = Arc::downgrade(self);
            if std::thread::Builder::new().name("shardlog-timer".into()).spawn(move || run(weak)).is_err() {
                st.running = false;
            }
        }
        drop(st);
        self.changed.notify_one();
    }
}

fn run(timer: Weak<Timer>) {
    loop {
        let Some(t) = timer.upgrade() else { return };
        let mut st = t.state.lock();
        let now = Instant::now();
        let mut fire = Vec::new();
        while let Some(Reverse((at, id))) = st.due.peek().copied() {
            if at > now {
                break;
            }
            st.due.pop();
            if let Some(i) = st.wakers.iter().position(|(w, _)| *w == id) {
                fire.push(st.wakers.swap_remove(i).1);
            }
        }
        let wait = st.due.peek().map_or(Duration::from_secs(1), |Reverse((at, _))| at.saturating_duration_since(now));
        if fire.is_empty() {
            t.changed.wait_for(&mut st, wait);
            continue;
        }
        drop(st);
        for w in fire {
            w.wake();
        }
    }
}
