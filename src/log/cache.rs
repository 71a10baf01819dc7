//! [`SegmentCache`]: bounds how many sealed segments are loaded (memory-mapped, index in
//! memory) at once, across every log sharing it; the least recently used is unloaded first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::segment::sealed::SealedSegment;

/// Bounds the number of sealed segments loaded (memory-mapped, index in memory) at once,
/// across every log that shares it; the least recently used is dropped first. Readers
/// holding records of a dropped segment keep their bytes.
#[derive(Debug)]
pub struct SegmentCache {
    max_loaded: usize,
    tick: AtomicU64,
    loaded: Mutex<Vec<Weak<SealedSegment>>>,
}

impl SegmentCache {
    /// A cache allowing `max_loaded` loaded sealed segments (at least 1).
    pub fn new(max_loaded: usize) -> Arc<SegmentCache> {
        Arc::new(SegmentCache {
            max_loaded: max_loaded.max(1),
            tick: AtomicU64::new(1),
            loaded: Mutex::new(Vec::new()),
        })
    }

    /// Number of segments loaded now.
    pub fn loaded(&self) -> usize {
        self.loaded.lock().iter().filter_map(Weak::upgrade).filter(|s| s.is_loaded()).count()
    }

    /// A sealed segment was used; `fresh`: this use loaded it.
    pub(crate) fn touch(&self, seg: &Arc<SealedSegment>, fresh: bool) {
        seg.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if !fresh {
            return;
        }
        let mut l = self.loaded.lock();
        l.push(Arc::downgrade(seg));
        if l.len() <= self.max_loaded {
            return;
        }
        l.retain(|w| w.upgrade().is_some_and(|s| s.is_loaded()));
        while l.len() > self.max_loaded {
            let oldest = l
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| w.upgrade().map_or(0, |s| s.last_used.load(Ordering::Relaxed)))
                .map(|(i, _)| i);
            let Some(i) = oldest else { break };
            if let Some(s) = l.swap_remove(i).upgrade() {
                s.unload();
            }
        }
    }
}
