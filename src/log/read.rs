//! The shard log's read side: reads and time lookups.
//!
//! A read loads the high-watermark, then takes one [`LogView`](super::view::LogView)
//! snapshot: the horizon and the segments together (bug 1 of issue 12 came from taking them
//! apart). It walks the segments from the one holding its start offset: a sealed one through
//! its mapping (loaded on first use, CRC-checked batch by batch as records are taken), the
//! active one through a view of what it published. Keys and data come out as zero-copy
//! slices.
//!
//! Retention may delete a segment of the snapshot before the read loads it. That is the only
//! way a listed segment can be missing (a fresh view shows a horizon past it); the read then
//! continues at the new horizon, or returns what it has so that one result never spans a
//! gap.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::record::Record;

use super::batch;
use super::segment::sealed::{Loaded, SealedSegment};
use super::segment::verified::IntervalWalk;
use super::segment::{self, ReadLimits, Segment, Walked};
use super::view::LogView;
use super::{Inner, ReadResult};

/// What loading a sealed segment of a snapshot found.
enum Sealed {
    Loaded(Arc<Loaded>),
    /// Retention deleted it after the snapshot: the horizon is now `start`.
    Trimmed {
        start: u64,
    },
}

impl Inner {
    /// The loaded sealed segment, or word that retention deleted it meanwhile.
    fn load_sealed(&self, seg: &Arc<SealedSegment>) -> Result<Sealed> {
        match seg.load(&self.vfs, &self.load_config()) {
            Ok((loaded, fresh)) => {
                self.cache.touch(seg, fresh);
                Ok(Sealed::Loaded(loaded))
            }
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && seg.end_offset() <= self.view().start =>
            {
                Ok(Sealed::Trimmed { start: self.view().start })
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<ReadResult> {
        let hw = self.commit.notifier().high_watermark();
        let mut view = self.view();
        let start = view.start;
        #[cfg(feature = "testing")]
        super::hooks::reached(super::hooks::HookPoint::ReadViewTaken);
        // Planted bug (bug 1 of issue 12): the segment list from a later snapshot than the
        // horizon, so a trim in between can leave the start offset before every segment.
        #[cfg(feature = "canary-read-horizon-apart")]
        {
            view = self.view();
        }
        let mut next = from.max(start);
        let mut out =
            Vec::with_capacity(max_records.min(usize::try_from(hw.saturating_sub(next)).unwrap_or(0)).min(10_000));
        if next >= hw || max_records == 0 {
            return Ok(ReadResult { records: out, next_offset: next });
        }
        let mut limits = ReadLimits {
            max_records,
            bytes_left: max_bytes.max(1),
            max_batch_bytes: batch::MAX_BATCH_LEN,
            key: self.config.at_rest_key.clone(),
        };
        'snapshot: loop {
            for seg in view.from(next) {
                if seg.base() >= hw || limits.exhausted() {
                    break 'snapshot;
                }
                let walked = match seg {
                    Segment::Active(a) => {
                        let position = a.position_for_offset(next);
                        let (image, image_position) = a.image_from(position)?;
                        segment::read_records(
                            &a.paths.log,
                            &image,
                            image_position,
                            position,
                            next,
                            hw,
                            &mut limits,
                            &mut out,
                            None,
                            None,
                        )?
                    }
                    Segment::Sealed(s) => {
                        if s.end_offset() <= next {
                            continue;
                        }
                        match self.load_sealed(s)? {
                            Sealed::Loaded(l) => read_sealed(s, &l, next, hw, &mut limits, &mut out)?,
                            Sealed::Trimmed { start } => {
                                // One result never spans a gap: return what was read so far;
                                // the next read starts at the new horizon.
                                if !out.is_empty() {
                                    break 'snapshot;
                                }
                                view = self.view();
                                next = next.max(start).max(view.start);
                                continue 'snapshot;
                            }
                        }
                    }
                };
                if let Some(last) = out.last() {
                    next = last.offset + 1;
                }
                if walked.done {
                    break 'snapshot;
                }
                // The active segment's end can run ahead of the watermark snapshot: never skip
                // past records that were not yet visible.
                next = next.max(seg.end_offset().min(hw));
            }
            break;
        }
        debug_assert!(out.windows(2).all(|p| p.first().map(|r| r.offset + 1) == p.get(1).map(|r| r.offset)));
        debug_assert!(out.last().is_none_or(|r| r.offset < hw));
        Ok(ReadResult { records: out, next_offset: next })
    }

    pub(super) fn offset_for_time(&self, arrival_ms: i64) -> Result<u64> {
        let hw = self.commit.notifier().high_watermark();
        let mut view: Arc<LogView> = self.view();
        'snapshot: loop {
            let start = view.start;
            for seg in view.from(start) {
                if seg.base() >= hw {
                    break;
                }
                let found = match seg {
                    Segment::Active(a) => {
                        if a.max_arrival_ms() < arrival_ms {
                            continue;
                        }
                        let position = a.position_for_time(arrival_ms);
                        let (image, image_position) = a.image_from(position)?;
                        segment::first_arriving_at(&a.paths.log, &image, image_position, position, arrival_ms, hw)?
                    }
                    Segment::Sealed(s) => match self.load_sealed(s)? {
                        Sealed::Trimmed { .. } => {
                            view = self.view();
                            continue 'snapshot;
                        }
                        Sealed::Loaded(l) => {
                            if s.max_arrival_ms() < arrival_ms {
                                continue;
                            }
                            let position =
                                l.index.position_for_time(arrival_ms).map_or(segment::SEGMENT_HEADER_LEN, u64::from);
                            segment::first_arriving_at(&s.paths.log, &l.map, 0, position, arrival_ms, hw)?
                        }
                    },
                };
                if let Some(offset) = found {
                    return Ok(offset.max(start).min(hw));
                }
            }
            return Ok(hw);
        }
    }
}

/// Read from a loaded sealed segment. A sealed segment walked to its end must reach its end
/// offset (or the watermark): otherwise records are missing from it.
fn read_sealed(
    s: &SealedSegment,
    l: &Loaded,
    next: u64,
    hw: u64,
    limits: &mut ReadLimits,
    out: &mut Vec<Record>,
) -> Result<Walked> {
    let rel = u32::try_from(next.saturating_sub(s.base)).unwrap_or(u32::MAX);
    let position = l.index.position_for_offset(rel).map_or(segment::SEGMENT_HEADER_LEN, u64::from);
    let walk = IntervalWalk::new(l.index.entries(), &l.verified, l.map.len() as u64, position);
    let walked =
        segment::read_records(&s.paths.log, &l.map, 0, position, next, hw, limits, out, Some(walk), Some(&l.marks))?;
    if !walked.done {
        let expected = s.end_offset().min(hw);
        let reached = walked.end_seen.unwrap_or(next);
        if reached < expected {
            return Err(Error::corrupt(
                &s.paths.log,
                l.map.len() as u64,
                format!("sealed segment ends at offset {reached}, but the log continues at {expected}"),
            ));
        }
    }
    Ok(walked)
}
