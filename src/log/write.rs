//! The shard log's write side: append, roll, sync, close.
//!
//! An append takes the writer lock, rolls if the active segment is full or old, has the
//! active segment encode and write the batch (one positional write), and records how far the
//! log was written. It is acknowledged once visible: under `Buffered`/`Interval` the
//! appender publishes the new high-watermark itself; under `Sync` it waits in the group
//! commit until a sync round made its bytes durable, and the round publishes.
//!
//! A roll creates the next segment (rule 3: header synced, directory fsynced) and queues the
//! seal of the old one (`sealer`): the appender never waits for the old segment's fdatasync.
//! Every durability point (a sync round, `flush`, `close`) completes pending seals before it
//! counts bytes as durable.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::error::{is_enospc, Error, Result};
use crate::log::marker::{self, CleanMarker};
use crate::log::record::RecordRef;

use super::batch;
use super::commit::{Durability, Sealing, SyncTarget};
use super::sealer::SealJob;
use super::segment::active::{ActiveSegment, AppendError};
use super::segment::sealed::SealedSegment;
use super::segment::{self, Segment};
use super::{mapping_reserve, Appended, Inner, Writer, MAX_OFFSET};

impl Inner {
    /// `ShardLog::append`: append, then return once acknowledged (and visible).
    pub(super) fn append_acknowledged(&self, records: &[RecordRef<'_>], seal: bool) -> Result<Appended> {
        let appended = self.append(records, seal)?;
        match self.config.durability {
            Durability::Sync => self.wait_synced(appended.next_offset)?,
            Durability::Buffered | Durability::Interval(_) => self.commit.publish(appended.next_offset),
        }
        debug_assert!(self.commit.visible(appended.next_offset), "acknowledged before visible");
        Ok(appended)
    }

    fn append(&self, records: &[RecordRef<'_>], seal: bool) -> Result<Appended> {
        self.check_writable()?;
        let limit = self.config.max_batch_bytes.min(batch::MAX_BATCH_LEN);
        let key = self.config.at_rest_key.as_deref().filter(|_| seal);
        let overhead = if key.is_some() { crate::at_rest::SEAL_OVERHEAD as u64 } else { 0 };
        let needed = batch::encoded_len(records) as u64 + overhead;
        if records.is_empty() || needed > u64::from(limit) {
            return Err(Error::invalid_argument(format!(
                "an append needs 1 or more records and at most {} bytes encoded; got {} records, {needed} bytes",
                self.config.max_batch_bytes,
                records.len()
            )));
        }
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.check_writable()?;
        if w.next_offset.checked_add(records.len() as u64).is_none_or(|end| end > MAX_OFFSET) {
            return Err(Error::invalid_argument(format!(
                "shard log {} is full: offsets would pass {MAX_OFFSET}",
                self.dir.display()
            )));
        }
        if w.clean_marker_present {
            let path = self.dir.join(marker::CLEAN_FILE);
            match self.vfs.remove_file(&path) {
                Ok(()) => {}
                // A retry after a failed directory fsync: the file is already gone.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
            self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
            w.clean_marker_present = false;
        }
        let now = self.clock.now_ms();
        let arrival_ms = now.max(w.last_arrival_ms);
        let too_big = w.active.len().saturating_add(needed) > self.config.segment_max_bytes;
        let too_old = self.config.segment_max_age.is_some_and(|age| {
            now.saturating_sub(w.active.created_ms) >= i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
        });
        if w.active.has_data() && (too_big || too_old) {
            self.roll(w, now)?;
        }
        let seal = key.map(|k| (k, self.nonces.next()));
        let header = match w.active.append(
            &mut w.buf,
            w.next_offset,
            arrival_ms,
            records,
            limit,
            self.config.index_interval_bytes,
            seal,
        ) {
            Ok(h) => h,
            Err(AppendError::Invalid(e)) => return Err(Error::invalid_argument(e.to_string())),
            Err(AppendError::Write { error, cut_off }) => {
                // A full disk (`ENOSPC`) whose partial write was cut off cleanly leaves the log
                // exactly as before, so it stays writable and appends resume once space is
                // freed; anything else poisons it.
                let path = &w.active.paths.log;
                if !cut_off || !is_enospc(&error) {
                    self.poison(format!("write to {} failed: {error}", path.display()));
                }
                return Err(Error::io("write", path, error));
            }
        };
        w.next_offset = header.next_offset();
        w.last_arrival_ms = arrival_ms;
        self.commit.wrote(w.next_offset);
        debug_assert_eq!(w.active.end_offset(), w.next_offset);
        Ok(Appended { first_offset: header.first_offset, next_offset: header.next_offset(), arrival_ms })
    }

    /// Seal the active segment and start a new one (reliability rule 3): create the new file
    /// exclusively, write and sync its header, fsync the directory, and only then append to
    /// it. The old segment's fdatasync is queued for the sealer, off the append path.
    /// Returns the sealed segment.
    pub(super) fn roll(&self, w: &mut Writer, now: i64) -> Result<Arc<SealedSegment>> {
        let old = Arc::clone(&w.active);
        let base = w.next_offset;
        let key_id = self.config.at_rest_key.as_ref().map_or(0, |k| k.id());
        let new = match ActiveSegment::create(&self.vfs, &self.dir, base, now, key_id, mapping_reserve(&self.config)) {
            Ok(a) => Arc::new(a),
            Err((e, stuck)) => {
                if stuck {
                    self.poison(format!(
                        "could not remove half-created segment {}",
                        segment::SegmentPaths::new(&self.dir, base).log.display()
                    ));
                }
                return Err(e);
            }
        };
        #[cfg(not(feature = "canary-no-dir-fsync-on-roll"))]
        if let Err(e) = self.vfs.sync_dir(&self.dir) {
            self.poison(format!("directory fsync of {} failed: {e}", self.dir.display()));
            return Err(Error::io("directory fsync", &self.dir, e));
        }
        let sealed = Arc::new(SealedSegment::from_active(&old));
        self.seals.push(SealJob {
            paths: old.paths.clone(),
            file: Arc::clone(old.file()),
            index: old.index(),
            summary: old.summary(),
        });
        {
            let mut view = self.view.write();
            *view = Arc::new(view.rolled(Segment::Sealed(Arc::clone(&sealed)), Segment::Active(Arc::clone(&new))));
        }
        w.active = new;
        if self.config.sealing == Sealing::Background {
            let this: Weak<dyn SyncTarget> = self.this.clone();
            self.sync_group.request_seal(this);
        }
        Ok(sealed)
    }

    /// Everything below `upto` is durable (and, under `Sync`, now visible).
    fn mark_synced(&self, upto: u64) {
        self.commit.synced(upto, self.config.durability == Durability::Sync);
    }

    /// Wait (taking part in group commit) until the append ending at `end` is durable and
    /// visible.
    fn wait_synced(&self, end: u64) -> Result<()> {
        let Some(this) = self.this.upgrade() else { return Err(self.poison_error()) };
        let target: Arc<dyn SyncTarget> = this;
        self.sync_group.wait_durable(&target, &|| self.commit.visible(end) || self.is_poisoned());
        if self.commit.visible(end) {
            Ok(())
        } else {
            Err(self.poison_error())
        }
    }

    /// Complete the pending seals; a failed fdatasync poisons the log.
    pub(super) fn complete_seals(&self) -> Result<()> {
        if self.is_poisoned() {
            return Err(self.poison_error());
        }
        self.seals.complete(&self.vfs).map_err(|(path, e)| {
            self.poison(format!("fdatasync of {} failed: {e}", path.display()));
            Error::io("fdatasync", path, e)
        })
    }

    /// fdatasync everything written so far: pending seals first, then the active segment.
    /// Failures poison the log.
    pub(super) fn sync_written(&self) {
        if self.is_poisoned() {
            return;
        }
        // What is written, and where, as of one moment: every byte below `written` lies in
        // a segment whose seal is queued by now or in `file`.
        let (file, written, log) = {
            let w = self.writer.lock();
            (Arc::clone(w.active.file()), self.commit.written(), w.active.paths.log.clone())
        };
        if self.commit.synced_upto() >= written && self.seals.is_idle() {
            return;
        }
        if self.complete_seals().is_err() {
            return;
        }
        match file.sync_data() {
            Ok(()) => self.mark_synced(written),
            Err(e) => self.poison(format!("fdatasync of {} failed: {e}", log.display())),
        }
    }

    /// `ShardLog::flush`.
    pub(super) fn flush(&self) -> Result<()> {
        let written = self.commit.written();
        self.sync_written();
        if self.commit.synced_upto() >= written && !self.is_poisoned() {
            Ok(())
        } else {
            Err(self.poison_error())
        }
    }

    pub(super) fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.close_files();
        self.dir_lock.lock().take();
        result
    }

    fn close_files(&self) -> Result<()> {
        let w = self.writer.lock();
        if self.is_poisoned() {
            return Ok(());
        }
        self.complete_seals()?;
        let active = &w.active;
        let log = &active.paths.log;
        if let Err(e) = active.file().sync_data() {
            self.poison(format!("fdatasync of {} failed: {e}", log.display()));
            return Err(Error::io("fdatasync", log, e));
        }
        self.mark_synced(w.next_offset);
        if w.clean_marker_present {
            return Ok(());
        }
        let summary = active.summary();
        let index = active.index();
        for (path, bytes) in [
            (&active.paths.offset_index, super::index::encode_offset_index(&index, &summary)),
            (&active.paths.time_index, super::index::encode_time_index(&index, &summary)),
        ] {
            let f = self.vfs.create(path).map_err(|e| Error::io("create", path, e))?;
            f.write_all_at(&bytes, 0).map_err(|e| Error::io("write", path, e))?;
            f.sync_data().map_err(|e| Error::io("fdatasync", path, e))?;
        }
        let m = CleanMarker {
            base: active.base,
            len: active.len(),
            end_offset: w.next_offset,
            max_arrival_ms: active.max_arrival_ms(),
        };
        marker::replace_atomically(&self.vfs, &self.dir, marker::CLEAN_FILE, &m.encode())
    }
}
