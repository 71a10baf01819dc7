//! Durability modes and group commit.
//!
//! Under [`Durability::Sync`] an appender writes its batch, then waits in a [`SyncGroup`]
//! until its bytes are durable. The first waiter to find no sync round running becomes the
//! leader: it takes every shard queued so far (from any producer, on any shard sharing the
//! group), fdatasyncs each once, and wakes everyone. Producers that queue while a round runs
//! are served by the next one. So concurrent producers on one shard, and across shards, share
//! fdatasyncs; none is skipped, and a put returns only after its own bytes were synced.
//!
//! Under [`Durability::Interval`] a background flusher owned by the group syncs dirty shards
//! every period; under [`Durability::Buffered`] nothing is synced until the log is flushed or
//! closed.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How far an append is made durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged once written to the operating system: survives a crash of the process,
    /// not a power loss or kernel crash.
    Buffered,
    /// Acknowledged once written; a background flusher fdatasyncs dirty shards every period.
    /// A power loss loses at most about one period of acknowledged appends.
    Interval(Duration),
    /// Acknowledged only after fdatasync (shared by concurrent producers): survives power loss.
    Sync,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Interval(Duration::from_millis(200))
    }
}

/// Something a sync round can make durable: one shard log.
pub(crate) trait SyncTarget: Send + Sync {
    /// fdatasync everything written so far. Failures poison the target internally.
    fn sync_written(&self);
    /// True if bytes were written since the last sync.
    fn needs_sync(&self) -> bool;
}

#[derive(Default)]
struct Rounds {
    pending: HashMap<usize, Arc<dyn SyncTarget>>,
    in_flight: usize,
}

/// Sync rounds allowed to run at once: one syncing while the next gathers and starts, so a
/// producer arriving during a sync need not wait for it to finish before its own starts
/// (overlapping fdatasyncs are cheap on common storage), while producers arriving later still
/// share a round.
const MAX_ROUNDS_IN_FLIGHT: usize = 2;

/// Shares fdatasyncs between producers and shards (group commit) and runs the interval
/// flusher. One group normally serves a whole engine; clones of the `Arc` share it.
pub struct SyncGroup {
    rounds: Mutex<Rounds>,
    round_done: Condvar,
    flusher: Mutex<Option<Flusher>>,
    stats: Mutex<SyncStats>,
}

/// Counters of a sync group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Sync rounds run by group commit.
    pub rounds: u64,
    /// fdatasync calls issued by those rounds.
    pub syncs: u64,
    /// Waits served (one per acknowledged `Sync` append that had to wait).
    pub waits: u64,
}

struct Flusher {
    period: Duration,
    targets: Arc<Mutex<Vec<Weak<dyn SyncTarget>>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SyncGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncGroup").field("stats", &*self.stats.lock()).finish()
    }
}

impl Default for SyncGroup {
    fn default() -> Self {
        SyncGroup {
            rounds: Mutex::new(Rounds::default()),
            round_done: Condvar::new(),
            flusher: Mutex::new(None),
            stats: Mutex::new(SyncStats::default()),
        }
    }
}

fn key(t: &Arc<dyn SyncTarget>) -> usize {
    Arc::as_ptr(t) as *const () as usize
}

impl SyncGroup {
    /// A new group.
    pub fn new() -> Arc<SyncGroup> {
        Arc::new(SyncGroup::default())
    }

    /// Counters so far.
    pub fn stats(&self) -> SyncStats {
        *self.stats.lock()
    }

    /// Wait until `is_done()` holds, taking part in sync rounds that make `target` durable.
    /// `is_done` must become true once `target` synced past the caller's bytes or failed.
    ///
    /// A round takes every target queued so far and syncs each once. The caller queued its
    /// target after its write completed, so any round that takes it starts after that write
    /// and covers it.
    pub(crate) fn wait_durable(&self, target: &Arc<dyn SyncTarget>, is_done: &dyn Fn() -> bool) {
        let mut st = self.rounds.lock();
        if is_done() {
            return;
        }
        self.stats.lock().waits += 1;
        st.pending.entry(key(target)).or_insert_with(|| Arc::clone(target));
        loop {
            if is_done() {
                return;
            }
            if st.in_flight < MAX_ROUNDS_IN_FLIGHT && !st.pending.is_empty() {
                st.in_flight += 1;
                let batch: Vec<Arc<dyn SyncTarget>> = st.pending.drain().map(|(_, t)| t).collect();
                parking_lot::MutexGuard::unlocked(&mut st, || {
                    for t in &batch {
                        t.sync_written();
                    }
                    let mut s = self.stats.lock();
                    s.rounds += 1;
                    s.syncs += batch.len() as u64;
                });
                st.in_flight -= 1;
                self.round_done.notify_all();
                continue;
            }
            if st.in_flight == 0 && !st.pending.contains_key(&key(target)) {
                // Every round that took our target has finished, yet we are not done: cannot
                // happen (see above) unless a target misbehaves; queue again rather than hang.
                st.pending.insert(key(target), Arc::clone(target));
                continue;
            }
            self.round_done.wait(&mut st);
        }
    }

    /// Register a shard with the interval flusher (started on first use; the shortest
    /// period asked for wins).
    pub(crate) fn register_interval(&self, target: Weak<dyn SyncTarget>, period: Duration) {
        let mut f = self.flusher.lock();
        if let Some(fl) = f.as_mut() {
            fl.targets.lock().push(target);
            if period >= fl.period {
                return;
            }
            let targets = Arc::clone(&fl.targets);
            fl.stop_and_join();
            *f = Some(Flusher::start(period, targets));
            return;
        }
        *f = Some(Flusher::start(period, Arc::new(Mutex::new(vec![target]))));
    }
}

impl Flusher {
    fn start(period: Duration, targets: Arc<Mutex<Vec<Weak<dyn SyncTarget>>>>) -> Flusher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let targets = Arc::clone(&targets);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("shardlog-flusher".into())
                .spawn(move || loop {
                    {
                        let mut stopped = stop.0.lock();
                        if !*stopped {
                            stop.1.wait_for(&mut stopped, period);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    let live: Vec<Arc<dyn SyncTarget>> = {
                        let mut t = targets.lock();
                        t.retain(|w| w.strong_count() > 0);
                        t.iter().filter_map(Weak::upgrade).collect()
                    };
                    for t in live {
                        if t.needs_sync() {
                            t.sync_written();
                        }
                    }
                })
                .ok()
        };
        Flusher { period, targets, stop, thread }
    }

    fn stop_and_join(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
