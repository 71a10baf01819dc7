//! [`LogView`]: what readers see of a shard log's segments — the trim horizon and the
//! segments from it on, as of one moment.
//!
//! The log keeps its current view behind one lock and replaces it whole (copy on write)
//! when a roll adds a segment or a trim removes some. A reader takes one snapshot (an `Arc`
//! clone, no copy of the list) and gets the horizon and the segments *together*: a trim
//! cannot land between the two. Reading them apart was bug 1 of issue 12: a reader took the
//! horizon, a trim moved it and deleted segments, the reader then located its start offset in
//! the shortened list, landed in a later segment, and reported the honest jump as corruption.
//!
//! Invariants: `segments` is ordered by base, non-empty, its last element is the active
//! segment, and its first segment's base is at or below `start` (so every offset from `start`
//! on lies in a listed segment).

use super::segment::Segment;

/// A consistent snapshot of the log's horizon and segments.
#[derive(Debug, Clone)]
pub(crate) struct LogView {
    /// The lowest retained offset.
    pub(crate) start: u64,
    /// The segments, oldest first; the last is the active one.
    pub(crate) segments: Vec<Segment>,
}

impl LogView {
    pub(crate) fn new(start: u64, segments: Vec<Segment>) -> LogView {
        let v = LogView { start, segments };
        v.debug_check();
        v
    }

    fn debug_check(&self) {
        debug_assert!(matches!(self.segments.last(), Some(Segment::Active(_))), "the newest segment is active");
        debug_assert!(self.segments.windows(2).all(|w| w.first().map(Segment::base) < w.get(1).map(Segment::base)));
        debug_assert!(self.segments.first().is_some_and(|s| s.base() <= self.start), "the horizon lies in a segment");
    }

    /// The segments from the one holding `offset` (at or above `start`) on.
    pub(crate) fn from(&self, offset: u64) -> &[Segment] {
        debug_assert!(offset >= self.start);
        let i = self.segments.partition_point(|s| s.base() <= offset).saturating_sub(1);
        self.segments.get(i..).unwrap_or_default()
    }

    /// The view after a roll: the old active segment replaced by its sealed self, the new
    /// active segment appended.
    pub(crate) fn rolled(&self, sealed: Segment, active: Segment) -> LogView {
        let mut segments = self.segments.clone();
        if let Some(last) = segments.last_mut() {
            debug_assert_eq!(last.base(), sealed.base());
            *last = sealed;
        }
        segments.push(active);
        LogView::new(self.start, segments)
    }

    /// The view after a trim to `new_start`: segments wholly below it dropped.
    pub(crate) fn trimmed(&self, new_start: u64) -> LogView {
        let start = self.start.max(new_start);
        let segments = self.segments.iter().filter(|s| s.base() >= start || s.end_offset() > start).cloned().collect();
        LogView::new(start, segments)
    }
}
