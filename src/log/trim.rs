//! Retention: deleting whole segments from the old end of a shard log.
//!
//! The order is what makes a trim crash-safe (reliability rule 6): the new horizon is made
//! durable first (the `HORIZON` file), then the segments below it leave the view readers
//! snapshot, then their files are unlinked and the directory fsynced. Unlinking keeps every
//! mapping valid, so records readers already hold stay intact. On a full disk there is no
//! room for the horizon file: then space is freed first, oldest segment first with a
//! directory fsync after each, so whatever a crash leaves is still a contiguous run of the
//! newest segments (recovery starts at the oldest survivor), and the horizon is recorded once
//! there is room.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::marker;

use super::segment::Segment;
use super::{Inner, TrimOutcome};

impl Inner {
    /// `ShardLog::trim_before`.
    pub(super) fn trim_before(&self, cutoff_ms: i64) -> Result<TrimOutcome> {
        self.trim(|_, seg| max_arrival_ms(seg) < cutoff_ms, Some(cutoff_ms))
    }

    /// `ShardLog::trim_below`.
    pub(super) fn trim_below(&self, offset: u64) -> Result<TrimOutcome> {
        self.trim(move |_, seg| seg.end_offset() <= offset, None)
    }

    /// `ShardLog::trim_to_size`.
    pub(super) fn trim_to_size(&self, max_bytes: u64) -> Result<TrimOutcome> {
        let total: u64 = self.view().segments.iter().map(|s| self.segment_bytes(s)).sum();
        let mut excess = total.saturating_sub(max_bytes);
        self.trim(
            move |inner, seg| {
                if excess == 0 {
                    return false;
                }
                excess = excess.saturating_sub(inner.segment_bytes(seg));
                true
            },
            None,
        )
    }

    fn trim(&self, mut expired: impl FnMut(&Inner, &Segment) -> bool, cutoff_ms: Option<i64>) -> Result<TrimOutcome> {
        let _t = self.trim_lock.lock();
        let view = self.view();
        // Load sealed segments as we go (their newest arrival time is needed).
        let mut doomed: Vec<Segment> = Vec::new();
        for seg in view.segments.iter().filter(|s| s.is_sealed()) {
            if let Segment::Sealed(s) = seg {
                let (_, fresh) = s.load(&self.vfs, &self.load_config())?;
                self.cache.touch(s, fresh);
            }
            if !expired(self, seg) {
                break;
            }
            doomed.push(seg.clone());
        }
        // Every sealed segment expired by time and the active one too: roll it so it can go.
        if let Some(cutoff) = cutoff_ms {
            if doomed.len() + 1 == view.segments.len() {
                let mut w = self.writer.lock();
                if w.active.has_data() && w.active.max_arrival_ms() < cutoff {
                    self.check_writable()?;
                    let now = self.clock.now_ms();
                    match self.roll(&mut w, now) {
                        Ok(sealed) => doomed.push(Segment::Sealed(sealed)),
                        // A full disk has no room for the new segment: trim the sealed ones.
                        Err(e) if e.is_storage_full() && !self.is_poisoned() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let Some(last) = doomed.last() else {
            return Ok(TrimOutcome { start_offset: view.start, ..TrimOutcome::default() });
        };
        let new_start = last.end_offset();
        // No seal may still be pending for a segment about to be unlinked (it would write
        // index files for it afterwards).
        if !self.is_poisoned() {
            self.complete_seals()?;
        }
        let horizon = marker::encode_horizon(new_start);
        let full_disk = match marker::replace_atomically(&self.vfs, &self.dir, marker::HORIZON_FILE, &horizon) {
            Ok(()) => false,
            Err(e) if e.is_storage_full() => true,
            Err(e) => return Err(e),
        };
        {
            let mut v = self.view.write();
            *v = Arc::new(v.trimmed(new_start));
        }
        let mut bytes_removed = 0;
        for seg in &doomed {
            bytes_removed += self.segment_bytes(seg);
            let paths = seg.paths();
            for path in [&paths.log, &paths.offset_index, &paths.time_index] {
                match self.vfs.remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", path, e)),
                }
            }
            if let Segment::Sealed(s) = seg {
                s.unload();
            }
            if full_disk {
                self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
            }
        }
        self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
        if full_disk {
            // Best effort: the survivors already imply the horizon.
            let _ = marker::replace_atomically(&self.vfs, &self.dir, marker::HORIZON_FILE, &horizon);
        }
        Ok(TrimOutcome { segments_removed: doomed.len(), bytes_removed, start_offset: new_start })
    }
}

/// The arrival time of a segment's newest record (a sealed one's is known once loaded).
fn max_arrival_ms(seg: &Segment) -> i64 {
    match seg {
        Segment::Active(a) => a.max_arrival_ms(),
        Segment::Sealed(s) => s.max_arrival_ms(),
    }
}
