//! Sealing off the append path.
//!
//! A roll used to fdatasync the segment it sealed before the appender could continue; on a
//! 64 MiB segment that stalled the append path for the whole flush. Now the roll only
//! creates the next segment (its header synced, the directory fsynced: reliability rule 3)
//! and queues a [`SealJob`] for the segment it sealed. Completing a seal means:
//!
//! 1. fdatasync the sealed segment;
//! 2. then write its index files (each fdatasync'd).
//!
//! The index files are thereby the proof that the segment is durable: recovery trusts a
//! sealed segment without scanning it only if its index files are there and describe it
//! exactly, and scans (and may cut) every newer one, because it may hold unsynced bytes.
//!
//! Seals complete oldest first, one log at a time (`running`), so a proven segment implies
//! that every older one is proven too — unless its index files were lost on their own (they
//! are written without a directory fsync), in which case recovery still treats the newest
//! proven segment as the durable boundary and loads the older one as before (scanning it when
//! first read). Who completes them: the group's background sealer thread
//! ([`Sealing::Background`](crate::log::commit::Sealing)), and in any mode every durability
//! point of the log (a sync round, the interval flusher, `flush`, trim, `close`), which must
//! not count bytes as durable while the segment holding them is not.

use std::collections::VecDeque;
use std::path::PathBuf;

use parking_lot::Mutex;

use crate::io::{FileRef, VfsRef};
use crate::log::index::{SegmentSummary, SparseIndex};

use super::segment::{write_index_files, SegmentPaths};

/// A sealed segment waiting to be made durable.
#[derive(Debug)]
pub(crate) struct SealJob {
    pub(crate) paths: SegmentPaths,
    /// The handle it was written through.
    pub(crate) file: FileRef,
    pub(crate) index: SparseIndex,
    pub(crate) summary: SegmentSummary,
}

/// The pending seals of one shard log, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Seals {
    queue: Mutex<VecDeque<SealJob>>,
    /// Held while a seal runs: seals of one log complete one at a time, in order.
    running: Mutex<()>,
}

impl Seals {
    /// Queue the seal of a segment a roll just sealed.
    pub(crate) fn push(&self, job: SealJob) {
        self.queue.lock().push_back(job);
    }

    /// True if no seal is waiting (one may still be running: [`Seals::complete`] waits for
    /// it).
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.lock().is_empty()
    }

    /// Complete every seal queued so far, oldest first (waiting for one already running).
    /// On a failed fdatasync the job stays queued and the error is returned with the
    /// segment's path: the caller poisons the log (an fsync is never retried and assumed
    /// good). Index files are a cache besides being the proof: failing to write them loses
    /// nothing, so it is not an error.
    pub(crate) fn complete(&self, vfs: &VfsRef) -> Result<(), (PathBuf, std::io::Error)> {
        let _running = self.running.lock();
        loop {
            let Some(job) = self.queue.lock().pop_front() else { return Ok(()) };
            if let Err(e) = job.file.sync_data() {
                let path = job.paths.log.clone();
                self.queue.lock().push_front(job);
                return Err((path, e));
            }
            write_index_files(vfs, &job.paths, &job.index, &job.summary);
        }
    }

    /// Forget every pending seal, waiting for one already running (the log's files are about
    /// to be deleted).
    pub(crate) fn abandon(&self) {
        let _running = self.running.lock();
        self.queue.lock().clear();
    }
}
