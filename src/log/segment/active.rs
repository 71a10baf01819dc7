//! The active segment: the newest segment of a shard, the only one appended to. It owns its
//! file's bytes: it encodes each batch, writes it with one positional write, indexes it and
//! publishes its new length; readers read it through a view of what was published.
//!
//! Invariants:
//! 1. `len` covers whole batches only, and only batches whose write completed: it is stored
//!    (`Release`) after the write returned, so a reader that loads it (`Acquire`) can view
//!    every byte below it.
//! 2. Bytes below `len` are never written again; a failed write's partial bytes lie at or past
//!    `len` and are cut off before anything else is written.
//! 3. Only the shard log's writer (under its writer lock) calls [`ActiveSegment::append`].

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::at_rest::{AtRestKey, NONCE_LEN};
use crate::error::{Error, Result};
use crate::io::{FileRef, VfsRef};
use crate::log::batch::{self, BatchHeader, FrameError};
use crate::log::index::{IndexEntry, SegmentSummary, SparseIndex};
use crate::log::record::RecordRef;

use super::cursor::Scan;
use super::format::{self, SegmentPaths, SEGMENT_HEADER_LEN};

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub(crate) base: u64,
    pub(crate) paths: SegmentPaths,
    pub(crate) created_ms: i64,
    file: FileRef,
    /// How far the file is expected to grow (the roll size): its mapping is made this long.
    reserve: u64,
    /// Bytes of whole, written batches (invariant 1).
    len: AtomicU64,
    /// One past the newest record written.
    end_offset: AtomicU64,
    /// Arrival of the newest record (`i64::MIN` while empty).
    max_arrival_ms: AtomicI64,
    index: Mutex<SparseIndex>,
}

/// Why an append to the active segment failed.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The records cannot form a batch (nothing was written).
    Invalid(FrameError),
    /// The write failed. `cut_off`: whatever part of it reached the file was removed again,
    /// so the segment is exactly as before.
    Write { error: std::io::Error, cut_off: bool },
}

impl ActiveSegment {
    /// Create the file of a new segment at `base` as the roll protocol asks (reliability rule
    /// 3): exclusively, with its header written and fdatasync'd. The caller fsyncs the
    /// directory before the segment takes an append. A failure removes the file again
    /// (`Err` with `true` if even that failed).
    pub(crate) fn create(
        vfs: &VfsRef,
        dir: &Path,
        base: u64,
        now_ms: i64,
        key_id: u32,
        reserve: u64,
    ) -> std::result::Result<ActiveSegment, (Error, bool)> {
        let paths = SegmentPaths::new(dir, base);
        let file = vfs.create_new(&paths.log).map_err(|e| (Error::io("create", &paths.log, e), false))?;
        let header = format::encode_header_with_key(base, now_ms, key_id);
        if let Err(e) = file.write_all_at(&header, 0).and_then(|()| file.sync_data()) {
            let stuck = vfs.remove_file(&paths.log).is_err();
            return Err((Error::io("write", &paths.log, e), stuck));
        }
        Ok(ActiveSegment::resume(dir, base, now_ms, file, None, reserve))
    }

    /// The active segment over an existing file, as recovery found it (`scan`: its valid
    /// batches; `None`: just its header).
    pub(crate) fn resume(
        dir: &Path,
        base: u64,
        created_ms: i64,
        file: FileRef,
        scan: Option<&Scan>,
        reserve: u64,
    ) -> ActiveSegment {
        let (len, end, max_arrival, index) = match scan {
            Some(s) => (s.valid_len, s.end_offset, s.max_arrival_ms, s.index.clone()),
            None => (SEGMENT_HEADER_LEN, base, i64::MIN, SparseIndex::new()),
        };
        ActiveSegment {
            base,
            paths: SegmentPaths::new(dir, base),
            created_ms,
            file,
            reserve,
            len: AtomicU64::new(len),
            end_offset: AtomicU64::new(end),
            max_arrival_ms: AtomicI64::new(max_arrival),
            index: Mutex::new(index),
        }
    }

    pub(crate) fn file(&self) -> &FileRef {
        &self.file
    }

    /// Bytes of whole, written batches.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub(crate) fn end_offset(&self) -> u64 {
        self.end_offset.load(Ordering::Acquire)
    }

    pub(crate) fn max_arrival_ms(&self) -> i64 {
        self.max_arrival_ms.load(Ordering::Acquire)
    }

    /// True once a batch was written.
    pub(crate) fn has_data(&self) -> bool {
        self.len() > SEGMENT_HEADER_LEN
    }

    /// Encode `records` as one batch into `encode_buf` (reused between appends, so the hot
    /// path allocates nothing once it is warm), write it at the end of the file with one
    /// positional write, index it, and publish the new length. With `seal` (a key and a fresh
    /// nonce) the batch is stored sealed (encrypted at rest). A failed write is cut off again
    /// (`AppendError::Write::cut_off` says whether that worked).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &self,
        encode_buf: &mut Vec<u8>,
        first_offset: u64,
        arrival_ms: i64,
        records: &[RecordRef<'_>],
        max_batch_bytes: u32,
        index_interval: u32,
        seal: Option<(&AtRestKey, [u8; NONCE_LEN])>,
    ) -> std::result::Result<BatchHeader, AppendError> {
        debug_assert_eq!(first_offset, self.end_offset());
        encode_buf.clear();
        let mut header = batch::encode_into(encode_buf, first_offset, arrival_ms, records, max_batch_bytes)
            .map_err(AppendError::Invalid)?;
        if let Some((key, nonce)) = seal {
            header = batch::seal_batch(encode_buf, 0, key, nonce).map_err(AppendError::Invalid)?;
        }
        let position = self.len.load(Ordering::Relaxed);
        if let Err(error) = self.file.write_all_at(encode_buf, position) {
            let cut_off = self.file.set_len(position).is_ok();
            return Err(AppendError::Write { error, cut_off });
        }
        if let (Ok(rel_offset), Ok(pos)) = (u32::try_from(first_offset - self.base), u32::try_from(position)) {
            self.index.lock().maybe_add(IndexEntry { rel_offset, position: pos, arrival_ms }, index_interval);
        }
        self.max_arrival_ms.store(arrival_ms, Ordering::Release);
        self.end_offset.store(header.next_offset(), Ordering::Release);
        self.len.store(position + u64::from(header.batch_len), Ordering::Release);
        Ok(header)
    }

    /// The published bytes from `position` to the current length, without copying (a slice
    /// of the file's mapping).
    pub(crate) fn image_from(&self, position: u64) -> Result<(Bytes, u64)> {
        let len = self.len();
        let start = position.min(len);
        let bytes = self.file.view(start..len, self.reserve).map_err(|e| Error::io("read", &self.paths.log, e))?;
        Ok((bytes, start))
    }

    /// Byte position of the batch to start at for offset `offset` (the last index entry at
    /// or before it; the first batch if none).
    pub(crate) fn position_for_offset(&self, offset: u64) -> u64 {
        let rel = u32::try_from(offset.saturating_sub(self.base)).unwrap_or(u32::MAX);
        self.index.lock().position_for_offset(rel).map_or(SEGMENT_HEADER_LEN, u64::from)
    }

    /// Byte position to start scanning at for the first record arriving at or after
    /// `arrival_ms`.
    pub(crate) fn position_for_time(&self, arrival_ms: i64) -> u64 {
        self.index.lock().position_for_time(arrival_ms).map_or(SEGMENT_HEADER_LEN, u64::from)
    }

    /// What the index files of this segment say about it.
    pub(crate) fn summary(&self) -> SegmentSummary {
        SegmentSummary {
            base_offset: self.base,
            end_offset: self.end_offset(),
            log_len: self.len(),
            max_arrival_ms: self.max_arrival_ms(),
        }
    }

    /// A copy of the in-memory index.
    pub(crate) fn index(&self) -> SparseIndex {
        self.index.lock().clone()
    }

    /// The number of index entries (for inspection).
    pub(crate) fn index_len(&self) -> usize {
        self.index.lock().len()
    }
}
