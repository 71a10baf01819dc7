//! Which stretches of a loaded sealed segment were already CRC-checked through its mapping,
//! so warm reads of them need not check again.
//!
//! A sealed segment's sparse index cuts its file into *intervals*: interval `k` runs from
//! entry `k`'s byte position to entry `k + 1`'s (the last one to the end of the file).
//! [`Verified`] holds one bit per interval of one loaded segment; bit `k` set means: the
//! walk of batches that starts exactly at entry `k`'s position and steps batch by batch
//! (each batch's length field leading to the next) arrives exactly at the interval's end,
//! and every batch on the way passed its CRC check, through this mapping.
//!
//! Why skipping the CRC of such a batch on a later read is sound (reliability goal R11:
//! records are served only from batches whose CRC was checked on that read or since the
//! mapping was created):
//! 1. The bytes cannot have changed since they were checked: a sealed segment is never
//!    written or shrunk again, and the bits live and die with the one mapping they describe
//!    (`Loaded`; an unloaded and reloaded segment starts with no bits), whose bytes the
//!    contract of `io/map.rs` keeps unchanged.
//! 2. A later read uses bit `k` only for batches of its own walk that lie wholly inside
//!    interval `k`, and only if its walk passed through entry `k`'s position exactly. A walk
//!    over immutable bytes is determined by where it passes: from that position on it
//!    visits the very batches the checking walk visited. A walk that straddles the
//!    position (possible only with a forged or stale index, finding F11) neither uses nor
//!    sets the bit, so its batches are checked as always.
//! 3. The header checks (framing, dense offsets, the forged-index check of the read) still
//!    run on every read; only the CRC computation over the payload is skipped.
//!
//! Not covered: bytes that change underneath the page cache (a foreign writer ignoring the
//! directory lock, or a disk that returns different bytes after the page was evicted and
//! read again). Both are outside what a mapping-based reader can promise (`io/map.rs`); a
//! segment freshly loaded (after a reopen, or after the segment cache dropped it) checks
//! every batch again.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::log::index::IndexEntry;

/// One bit per index interval of one loaded sealed segment (module documentation).
#[derive(Debug)]
pub(crate) struct Verified {
    bits: Box<[AtomicU64]>,
}

impl Verified {
    /// No interval of a segment with `intervals` index entries checked yet.
    pub(crate) fn none(intervals: usize) -> Verified {
        Verified { bits: (0..intervals.div_ceil(64)).map(|_| AtomicU64::new(0)).collect() }
    }

    /// Every interval checked: the index was just built by a full scan of this mapping that
    /// CRC-checked every batch from the first to the end of the file, and each entry is a
    /// batch position of that walk.
    pub(crate) fn all(intervals: usize) -> Verified {
        let v = Verified::none(intervals);
        for k in 0..intervals {
            v.set(k);
        }
        v
    }

    fn is_set(&self, k: usize) -> bool {
        // Relaxed: a bit publishes no data of its own; it only says that immutable bytes were
        // checked (a reader that misses a fresh bit checks again).
        self.bits.get(k / 64).is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (k % 64)) != 0)
    }

    fn set(&self, k: usize) {
        if let Some(w) = self.bits.get(k / 64) {
            w.fetch_or(1 << (k % 64), Ordering::Relaxed);
        }
    }
}

/// A read's walk over a sealed segment, interval by interval: tells which batches need
/// their CRC checked and records the intervals it checked whole.
#[derive(Debug)]
pub(crate) struct IntervalWalk<'a> {
    entries: &'a [IndexEntry],
    verified: &'a Verified,
    /// One past the segment's last byte: the end of the last interval.
    segment_end: u64,
    /// The interval the walk is in (`None` before the first entry's position).
    k: Option<usize>,
    /// The walk passed through the interval's start position exactly.
    aligned: bool,
    /// Every batch walked in the interval so far passed its CRC check (now or earlier).
    checked: bool,
}

impl<'a> IntervalWalk<'a> {
    /// A walk over a segment with index `entries` (`verified` has one bit per entry) and
    /// `segment_end` bytes, starting at the batch at byte `start`.
    pub(crate) fn new(entries: &'a [IndexEntry], verified: &'a Verified, segment_end: u64, start: u64) -> Self {
        let k = entries.partition_point(|e| u64::from(e.position) <= start).checked_sub(1);
        let aligned = k.and_then(|k| entries.get(k)).is_some_and(|e| u64::from(e.position) == start);
        IntervalWalk { entries, verified, segment_end, k, aligned, checked: true }
    }

    fn interval_end(&self) -> u64 {
        let next = self.k.map_or(0, |k| k + 1);
        self.entries.get(next).map_or(self.segment_end, |e| u64::from(e.position))
    }

    /// The walk reached a batch boundary at `position`: close the intervals it left, marking
    /// the one it walked whole from start to end with every batch checked.
    fn arrive(&mut self, position: u64) {
        loop {
            let next = self.k.map_or(0, |k| k + 1);
            let Some(e) = self.entries.get(next) else { break };
            let start = u64::from(e.position);
            if start > position {
                break;
            }
            if start == position && self.aligned && self.checked {
                if let Some(k) = self.k {
                    self.verified.set(k);
                }
            }
            self.k = Some(next);
            self.aligned = start == position;
            self.checked = true;
        }
        if position == self.segment_end && self.aligned && self.checked {
            if let Some(k) = self.k {
                self.verified.set(k);
            }
        }
    }

    /// The batch `[position, end)` comes next: `true` if its CRC must be checked, `false`
    /// if an earlier walk checked it through this mapping.
    pub(crate) fn needs_check(&mut self, position: u64, end: u64) -> bool {
        self.arrive(position);
        let cached = self.aligned && end <= self.interval_end() && self.k.is_some_and(|k| self.verified.is_set(k));
        !cached
    }

    /// The batch just announced to [`needs_check`](Self::needs_check) was checked (`ok`) or
    /// not (failed, or left unchecked): only a walk with every batch checked marks its
    /// interval.
    pub(crate) fn checked(&mut self, ok: bool) {
        self.checked &= ok;
    }

    /// The walk stopped at the batch boundary `position`: mark the interval if it ended
    /// exactly there.
    pub(crate) fn stop(&mut self, position: u64) {
        self.arrive(position);
    }

    /// True while finishing the current interval (checking its remaining batches) could
    /// mark it: the walk is aligned, checked so far, not yet marked, and `position` lies
    /// before the interval's end.
    pub(crate) fn worth_finishing(&self, position: u64) -> bool {
        self.aligned
            && self.checked
            && position < self.interval_end()
            && self.k.is_some_and(|k| !self.verified.is_set(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(positions: &[u32]) -> Vec<IndexEntry> {
        positions
            .iter()
            .enumerate()
            .map(|(i, &position)| IndexEntry { rel_offset: i as u32 * 10, position, arrival_ms: 0 })
            .collect()
    }

    /// Batches at 32, 100, 200 (entry), 300, 400 (entry) .. 500 (end).
    #[test]
    fn an_interval_walked_whole_and_checked_is_skipped_next_time() {
        let e = entries(&[32, 200, 400]);
        let v = Verified::none(e.len());
        let mut w = IntervalWalk::new(&e, &v, 500, 32);
        for (p, end) in [(32, 100), (100, 200), (200, 300)] {
            assert!(w.needs_check(p, end));
            w.checked(true);
        }
        w.stop(300);
        // Interval 0 (32..200) is marked, interval 1 (200..400) was left half-way.
        let mut w = IntervalWalk::new(&e, &v, 500, 32);
        assert!(!w.needs_check(32, 100));
        assert!(!w.needs_check(100, 200));
        assert!(w.needs_check(200, 300));
    }

    #[test]
    fn a_failed_or_skipped_check_marks_nothing() {
        let e = entries(&[32, 200]);
        let v = Verified::none(e.len());
        let mut w = IntervalWalk::new(&e, &v, 300, 32);
        assert!(w.needs_check(32, 100));
        w.checked(false);
        assert!(w.needs_check(100, 200));
        w.checked(true);
        assert!(w.needs_check(200, 300));
        w.checked(true);
        w.stop(300);
        let mut w = IntervalWalk::new(&e, &v, 300, 32);
        assert!(w.needs_check(32, 100), "interval 0 had a batch that was not checked");
        assert!(!w.needs_check(200, 300), "interval 1 (the last) was walked whole");
    }

    #[test]
    fn a_walk_that_straddles_an_entry_neither_uses_nor_sets_its_bit() {
        // A forged entry at 150 lies inside the batch 100..200.
        let e = entries(&[32, 150, 250]);
        let v = Verified::all(e.len());
        let mut w = IntervalWalk::new(&e, &v, 300, 32);
        assert!(!w.needs_check(32, 100));
        assert!(w.needs_check(100, 200), "crosses the end of interval 0");
        w.checked(true);
        assert!(w.needs_check(200, 250), "the walk never passed through 150");
        let fresh = Verified::none(e.len());
        let mut w = IntervalWalk::new(&e, &fresh, 300, 32);
        for (p, end) in [(32, 100), (100, 200), (200, 250), (250, 300)] {
            assert!(w.needs_check(p, end));
            w.checked(true);
        }
        w.stop(300);
        assert!(!fresh.is_set(0) && !fresh.is_set(1), "intervals the walk straddled stay unmarked");
        assert!(fresh.is_set(2));
    }

    #[test]
    fn a_walk_from_inside_an_interval_is_not_aligned() {
        let e = entries(&[32, 200]);
        let v = Verified::all(e.len());
        let mut w = IntervalWalk::new(&e, &v, 300, 100);
        assert!(w.needs_check(100, 200));
        assert!(!w.needs_check(200, 300));
    }
}
