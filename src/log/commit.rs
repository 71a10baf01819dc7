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
//!
//! The group also runs the **sealer** (with [`Sealing::Background`]): a roll hands the
//! segment it sealed to the group instead of fdatasyncing it on the append path, and a
//! background thread completes the seal (see `log/sealer.rs`).
//!
//! [`CommitPoint`] holds one log's written / synced / visible offsets and the rule tying them
//! together: an append is acknowledged only once readers can see it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::log::notify::Notifier;

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

/// When the segment a roll sealed is made durable (fdatasync'd, then its index files
/// written). The roll itself never waits for it; until it is done, recovery after a crash
/// scans that segment too (it may hold unsynced bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sealing {
    /// A background thread of the log's [`SyncGroup`] seals it at once (the default): the
    /// appender never waits for the fdatasync, and recovery scans about one segment more.
    #[default]
    Background,
    /// No thread: pending seals complete at the log's next durability point — a `Sync`
    /// append's sync round, the interval flusher's tick, `flush`, a trim, `close`. Every
    /// file operation then happens in a caller's thread in a fixed order, which is what the
    /// crash simulations need.
    Deferred,
}

/// Something a sync round can make durable: one shard log.
pub(crate) trait SyncTarget: Send + Sync {
    /// fdatasync everything written so far (completing pending seals first). Failures
    /// poison the target internally.
    fn sync_written(&self);
    /// True if bytes were written since the last sync (or seals are pending).
    fn needs_sync(&self) -> bool;
    /// Complete the pending seals (the sealer's job). Failures poison the target.
    fn complete_seals(&self);
}

/// One log's durability bookkeeping: how far it was written, made durable (synced) and
/// made visible (its notifier's high-watermark).
///
/// Invariants (the loom model `acknowledged_appends_are_visible` checks the first):
/// - An append ending at `end` is acknowledged only once [`CommitPoint::visible`]`(end)`:
///   readers can see it. Under `Durability::Sync` the watermark is raised only by
///   [`CommitPoint::synced`], which publishes *before* it records the sync, so no waiter can
///   observe a sync its readers cannot see yet.
/// - `visible ≤ written` and, under `Sync`, `visible ≤ synced`; none of them decreases.
#[derive(Debug)]
pub struct CommitPoint {
    written: AtomicU64,
    synced: AtomicU64,
    notifier: Notifier,
}

impl CommitPoint {
    /// A log whose records below `next` are written, durable and visible.
    pub fn new(next: u64) -> CommitPoint {
        CommitPoint { written: AtomicU64::new(next), synced: AtomicU64::new(next), notifier: Notifier::new(next) }
    }

    /// The notifier holding the high-watermark.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// An append ending at `next` was written (to the operating system).
    pub fn wrote(&self, next: u64) {
        self.written.fetch_max(next, Ordering::AcqRel);
    }

    /// One past the newest record written.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Everything below `upto` is durable. With `publish` (under `Durability::Sync`, where
    /// only durable records are visible) the watermark is raised first.
    pub fn synced(&self, upto: u64, publish: bool) {
        #[cfg(not(feature = "canary-ack-before-visible"))]
        if publish {
            self.notifier.publish(upto);
        }
        self.synced.fetch_max(upto, Ordering::AcqRel);
        // Planted bug (bug 2 of issue 12): the sync recorded before the watermark covers it,
        // so an append can be acknowledged while readers cannot see it yet.
        #[cfg(feature = "canary-ack-before-visible")]
        if publish {
            self.notifier.publish(upto);
        }
    }

    /// One past the newest durable record.
    pub fn synced_upto(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Make everything below `upto` visible (under `Buffered` and `Interval`, written is
    /// enough).
    pub fn publish(&self, upto: u64) {
        self.notifier.publish(upto);
    }

    /// True once the append ending at `end` may be acknowledged: readers can see it.
    pub fn visible(&self, end: u64) -> bool {
        #[cfg(not(feature = "canary-ack-before-visible"))]
        return self.notifier.high_watermark() >= end;
        #[cfg(feature = "canary-ack-before-visible")]
        return self.synced_upto() >= end;
    }

    /// True if bytes were written since the last sync.
    pub fn unsynced(&self) -> bool {
        self.written() > self.synced_upto()
    }
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
    sealer: Mutex<Option<Sealer>>,
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
            sealer: Mutex::new(None),
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

    /// Ask the background sealer (started on first use) to complete `target`'s pending
    /// seals.
    pub(crate) fn request_seal(&self, target: Weak<dyn SyncTarget>) {
        let mut s = self.sealer.lock();
        let sealer = s.get_or_insert_with(Sealer::start);
        let (queue, more) = &*sealer.queue;
        queue.lock().targets.push_back(target);
        more.notify_one();
    }
}

/// The background sealer: one thread per group, completing the seals of the logs that ask.
struct Sealer {
    queue: Arc<(Mutex<SealQueue>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct SealQueue {
    targets: VecDeque<Weak<dyn SyncTarget>>,
    stop: bool,
}

impl Sealer {
    fn start() -> Sealer {
        let queue: Arc<(Mutex<SealQueue>, Condvar)> = Arc::default();
        let thread = {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("shardlog-sealer".into())
                .spawn(move || loop {
                    let target = {
                        let (q, more) = &*queue;
                        let mut q = q.lock();
                        while q.targets.is_empty() && !q.stop {
                            more.wait(&mut q);
                        }
                        match q.targets.pop_front() {
                            Some(t) => t,
                            None => return,
                        }
                    };
                    if let Some(t) = target.upgrade() {
                        t.complete_seals();
                    }
                })
                // Without the thread, pending seals complete at each log's next durability
                // point (as with `Sealing::Deferred`).
                .ok()
        };
        Sealer { queue, thread }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        let (q, more) = &*self.queue;
        q.lock().stop = true;
        more.notify_all();
        join_unless_self(self.thread.take());
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
        join_unless_self(self.thread.take());
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Join a background thread, unless this is that thread (it dropped the last handle of its
/// own group, e.g. a log it was syncing): it then ends by itself once it returns.
fn join_unless_self(thread: Option<std::thread::JoinHandle<()>>) {
    if let Some(t) = thread {
        if t.thread().id() != std::thread::current().id() {
            let _ = t.join();
        }
    }
}
