//! The engine's file-descriptor budget (like RocksDB's `max_open_files`).
//!
//! An open shard log holds descriptors (its active segment file); a sealed segment holds
//! none once mapped. Shard logs are opened on first use and, with this budget, closed again
//! when idle: [`OpenLogs`] keeps at most [`OpenLogs::max_logs`] of them open, and opening
//! one more first closes the least recently used log that nobody else holds (a live
//! subscription holds its shard's log; it is left open and counted). A closed log is
//! reopened on demand; its clean close wrote the marker, so the reopen skips recovery.
//!
//! Closed shards (split or merged away) release their log at once when nobody holds it.
//!
//! The budget is `EngineConfig::max_open_files` (default: half the process's soft
//! `RLIMIT_NOFILE`, at least [`MIN_OPEN_FILES`]) minus [`RESERVED_FDS`] kept for the
//! manifest commit (temporary file, directory fsync), the lock file and the catalog. A
//! manifest commit that still meets `EMFILE`/`ENFILE` (the process is out of descriptors
//! for reasons outside the engine) closes every idle log and tries again, so metadata
//! writes are never the ones that fail under descriptor pressure.
//!
//! Invariant: `open` lists the slots whose `log` is `Some` (entries of dropped or emptied
//! slots are pruned); eviction only takes a log whose handle count is one (the slot's own),
//! under the slot's lock, so nobody can obtain it while it closes. Eviction only *tries*
//! other slots' locks, so two threads opening logs never wait on each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

pub(crate) use crate::io::is_out_of_descriptors;

use crate::engine::ShardSlot;

/// Descriptors kept out of the shard-log budget: manifest commit (temporary file and
/// directory), lock file, and slack for the retention and delivery tasks.
pub const RESERVED_FDS: usize = 16;
/// Smallest `max_open_files` accepted (a budget of a few logs at least).
pub const MIN_OPEN_FILES: usize = RESERVED_FDS + 4;
/// Descriptors one open shard log holds (its active segment file).
pub const FDS_PER_LOG: usize = 1;

/// The default `max_open_files`: half the soft `RLIMIT_NOFILE` (the other half is left to
/// the embedding process: a server's connections, its listener, logs), or 1,024 when the
/// limit cannot be read or is unlimited.
pub fn default_max_open_files() -> usize {
    #[cfg(unix)]
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    let limit: Option<u64> = None;
    match limit {
        Some(n) => usize::try_from(n / 2).unwrap_or(usize::MAX).clamp(MIN_OPEN_FILES, 1 << 20),
        None => 1024,
    }
}

/// The open shard logs, least recently used first out. See the module docs.
pub(crate) struct OpenLogs {
    max_logs: usize,
    tick: AtomicU64,
    open: Mutex<Vec<Weak<ShardSlot>>>,
}

impl OpenLogs {
    /// A budget of `max_open_files` descriptors.
    pub(crate) fn new(max_open_files: usize) -> OpenLogs {
        let max_logs = (max_open_files.max(MIN_OPEN_FILES) - RESERVED_FDS) / FDS_PER_LOG;
        OpenLogs { max_logs, tick: AtomicU64::new(1), open: Mutex::new(Vec::new()) }
    }

    /// `slot` was used now.
    pub(crate) fn touch(&self, slot: &ShardSlot) {
        slot.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Make room for one more log (closing idle ones, never `keep`), before `keep` opens
    /// its log.
    pub(crate) fn make_room(&self, keep: &ShardSlot) {
        let candidates = {
            let mut open = self.open.lock();
            open.retain(|w| w.upgrade().is_some_and(|s| s.has_log()));
            if open.len() < self.max_logs {
                return;
            }
            let mut c: Vec<Arc<ShardSlot>> =
                open.iter().filter_map(Weak::upgrade).filter(|s| !std::ptr::eq(&**s, keep)).collect();
            c.sort_by_key(|s| s.last_used.load(Ordering::Relaxed));
            c
        };
        let mut excess = (candidates.len() + 1).saturating_sub(self.max_logs);
        for slot in candidates {
            if excess == 0 {
                break;
            }
            // A close that fails (its fsync failed) still releases the log; the shard is
            // recovered from disk when next opened (an fsync is never retried).
            if slot.release_if_idle() {
                excess -= 1;
            }
        }
        self.prune();
    }

    /// Record that `slot` now has its log open.
    pub(crate) fn opened(&self, slot: &Arc<ShardSlot>) {
        self.touch(slot);
        self.open.lock().push(Arc::downgrade(slot));
    }

    /// Close every idle log (descriptor pressure from outside the engine); how many closed.
    pub(crate) fn release_idle(&self) -> usize {
        let all: Vec<Arc<ShardSlot>> = self.open.lock().iter().filter_map(Weak::upgrade).collect();
        let closed = all.iter().filter(|s| s.release_if_idle()).count();
        self.prune();
        closed
    }

    fn prune(&self) {
        self.open.lock().retain(|w| w.upgrade().is_some_and(|s| s.has_log()));
    }
}
