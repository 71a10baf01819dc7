//! Segments: the files a shard log is made of, each owning its bytes.
//!
//! - [`format`]: file names, the segment header, the paths of a segment's files.
//! - [`cursor`]: [`BatchCursor`], the one walk over a segment's batches, and [`scan`].
//! - `active`: the newest segment, which appends (encode, write, index) and is read through
//!   a view of what it published.
//! - `sealed`: the older segments, never written again, read through their mapping.
//! - `index_files`: reading and writing a segment's `.index` / `.timeindex` files.
//! - [`verified`]: which index intervals of a loaded sealed segment were already CRC-checked.
//!
//! This module ties them together for the shard log: `Segment` (either kind, as the log's
//! segment list holds them) and the walks over a segment's bytes that the log's reads and
//! time lookups do (`read_records`, `first_arriving_at`).

pub(crate) mod active;
pub mod cursor;
pub mod format;
pub(crate) mod index_files;
pub(crate) mod marks;
pub(crate) mod sealed;
pub(crate) mod verified;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::at_rest::AtRestKey;
use crate::error::{Error, Result};
use crate::log::batch::{self, RecordMark};
use crate::log::record::Record;

pub use cursor::{scan, BatchCursor, CursorBatch, CursorError, CursorErrorKind, Scan, Verify};
pub use format::{
    decode_header, encode_header, encode_header_with_key, header_key_id, log_file_name, parse_log_file_name,
    HeaderError, SegmentPaths, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION,
};

use active::ActiveSegment;
pub(crate) use index_files::write_index_files;
use marks::RecordMarks;
pub(crate) use sealed::LoadConfig;
use sealed::SealedSegment;
use verified::IntervalWalk;

/// A segment of a live shard log, as its segment list holds it.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    /// The newest segment, appended to (or one that was, read through the handle it was
    /// written with).
    Active(Arc<ActiveSegment>),
    /// A segment sealed by a roll or found sealed by recovery.
    Sealed(Arc<SealedSegment>),
}

impl Segment {
    pub(crate) fn base(&self) -> u64 {
        match self {
            Segment::Active(a) => a.base,
            Segment::Sealed(s) => s.base,
        }
    }

    /// One past its newest record (an active segment's grows with each append).
    pub(crate) fn end_offset(&self) -> u64 {
        match self {
            Segment::Active(a) => a.end_offset(),
            Segment::Sealed(s) => s.end_offset(),
        }
    }

    pub(crate) fn paths(&self) -> &SegmentPaths {
        match self {
            Segment::Active(a) => &a.paths,
            Segment::Sealed(s) => &s.paths,
        }
    }

    pub(crate) fn is_sealed(&self) -> bool {
        matches!(self, Segment::Sealed(_))
    }
}

/// What a read may still return, and the key that opens sealed batches.
#[derive(Debug, Clone)]
pub(crate) struct ReadLimits {
    pub(crate) max_records: usize,
    pub(crate) bytes_left: usize,
    pub(crate) max_batch_bytes: u32,
    /// The at-rest key that opens sealed batches.
    pub(crate) key: Option<Arc<AtRestKey>>,
}

impl ReadLimits {
    pub(crate) fn exhausted(&self) -> bool {
        self.max_records == 0 || self.bytes_left == 0
    }
}

/// What [`read_records`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walked {
    /// A limit or the high-watermark was reached: the read is complete.
    pub(crate) done: bool,
    /// One past the last record of the last whole batch walked, if any.
    pub(crate) end_seen: Option<u64>,
}

/// Decode the records from offset `from` on out of `image`, which holds the bytes of `path`
/// from byte `image_position` on, walking from the batch at byte `start` (where the sparse
/// index put the reader). Every batch a record is taken from is CRC-checked first — on this
/// read, or, for a loaded sealed segment (`intervals`), on an earlier read through the same
/// mapping (see [`verified`]); keys and data are zero-copy slices of `image` (a sealed batch
/// is opened with `limits.key` into one plaintext copy per batch, and records are slices of
/// that). Stops before `hw`, after `limits.max_records`, or once the byte budget is spent (at
/// least one record is taken if any is due).
///
/// Records come out dense: a batch that holds wanted records but starts past the offset due
/// (a forged or stale sealed index pointing into the middle of a segment, finding F11) is
/// `Error::Corrupt`, as is any batch that fails its framing or does not continue the one
/// before it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_records(
    path: &Path,
    image: &Bytes,
    image_position: u64,
    start: u64,
    from: u64,
    hw: u64,
    limits: &mut ReadLimits,
    out: &mut Vec<Record>,
    mut intervals: Option<IntervalWalk<'_>>,
    marks: Option<&RecordMarks>,
) -> Result<Walked> {
    let at = usize::try_from(start.saturating_sub(image_position)).unwrap_or(usize::MAX);
    let mut cursor = BatchCursor::new(image, image_position, at, Verify::Header, limits.max_batch_bytes);
    let mut end_seen = None;
    let mut done = false;
    for step in cursor.by_ref() {
        let b = step.map_err(|e| Error::corrupt(path, e.position, e.kind.to_string()))?;
        let h = b.header;
        if h.first_offset >= hw {
            if let Some(w) = intervals.as_mut() {
                // Walked over, not checked: its interval cannot be marked by this read.
                w.needs_check(b.position, b.end());
                w.checked(false);
            }
            done = true;
            break;
        }
        let check = intervals.as_mut().is_none_or(|w| w.needs_check(b.position, b.end()));
        // In range: the cursor checked that the batch lies inside the image.
        let rel = usize::try_from(b.position - image_position).unwrap_or(usize::MAX);
        let batch_range = rel..rel.saturating_add(h.batch_len as usize).min(image.len());
        if h.next_offset() > from {
            let due = out.last().map_or(from, |r| r.offset.saturating_add(1));
            if h.first_offset > due {
                return Err(Error::corrupt(
                    path,
                    b.position,
                    format!("batch starts at offset {}, but the read continues at offset {due}", h.first_offset),
                ));
            }
            let mut bytes = image.slice(batch_range);
            if check {
                batch::check_crc(&bytes).map_err(|e| Error::corrupt(path, b.position, e.to_string()))?;
                if let Some(w) = intervals.as_mut() {
                    w.checked(true);
                }
            }
            // Checked on this read, or (its interval's bit) since the mapping was created: its
            // record starts may be marked, and marks kept for it may be used (`marks.rs`).
            // Only a read that starts inside the batch (a lookup) marks it or uses its marks; an
            // in-order read decodes it from the first record anyway.
            let marks = marks.filter(|_| from > h.first_offset && !batch::is_sealed(&bytes));
            let start = marks
                .and_then(|m| m.start_for(b.position, &bytes, &h, from - h.first_offset))
                .unwrap_or(RecordMark { index: 0, position: batch::BATCH_HEADER_LEN });
            let mut h = h;
            if batch::is_sealed(&bytes) {
                (bytes, h) = unseal(&bytes, path, b.position, limits.key.as_deref())?;
            }
            let want = limits.max_records.min(usize::try_from(hw - h.first_offset.max(from)).unwrap_or(usize::MAX));
            let take_first = out.is_empty();
            let d = batch::decode_records_from(&bytes, &h, start, from, want, &mut limits.bytes_left, take_first, out)
                .map_err(|e| Error::corrupt(path, b.position, e.to_string()))?;
            limits.max_records = limits.max_records.saturating_sub(d.added);
            if d.out_of_bytes || limits.exhausted() {
                done = true;
                break;
            }
        } else if check {
            // A batch before the wanted records: its records are not served, so a damaged
            // one is no error here; it is checked only so that its interval can be marked.
            if let Some(w) = intervals.as_mut() {
                w.checked(image.get(batch_range).is_some_and(|b| batch::check_crc(b).is_ok()));
            }
        }
        end_seen = Some(h.next_offset());
    }
    if let Some(w) = intervals.as_mut() {
        if done {
            finish_interval(&mut cursor, w, image, image_position);
        } else {
            w.stop(cursor.byte_position());
        }
    }
    Ok(Walked { done, end_seen })
}

/// After a read through a sealed segment stopped inside an index interval it walked from
/// its start: check the interval's remaining batches too (at most an index interval and one
/// batch of bytes), so that it is marked and later reads of it skip their checks. Nothing
/// found here fails the read: these batches were not served, and a damaged one is reported
/// by the read that wants its records.
fn finish_interval(cursor: &mut BatchCursor<'_>, w: &mut IntervalWalk<'_>, image: &[u8], image_position: u64) {
    while w.worth_finishing(cursor.byte_position()) {
        let Some(Ok(b)) = cursor.next() else { return };
        if w.needs_check(b.position, b.end()) {
            let rel = usize::try_from(b.position - image_position).unwrap_or(usize::MAX);
            let range = rel..rel.saturating_add(b.header.batch_len as usize);
            w.checked(image.get(range).is_some_and(|bytes| batch::check_crc(bytes).is_ok()));
        }
    }
    w.stop(cursor.byte_position());
}

/// Open a sealed batch with the read's at-rest key: the plaintext batch and its header.
/// Without a key the records are out of reach (`KMSNotFoundException`); a key that does not
/// open them is `KMSAccessDeniedException` (the CRC already passed, so the bytes are what
/// was written).
fn unseal(bytes: &[u8], path: &Path, at: u64, key: Option<&AtRestKey>) -> Result<(Bytes, batch::BatchHeader)> {
    let Some(key) = key else {
        return Err(Error::KmsNotFound {
            message: format!(
                "Records at byte {at} of {} are encrypted at rest and no encryption key is configured.",
                path.display()
            ),
        });
    };
    let plain = batch::unseal_batch(bytes, key).map_err(|e| Error::KmsAccessDenied {
        message: format!(
            "Records at byte {at} of {} cannot be decrypted with key {:08x}: {e}",
            path.display(),
            key.id()
        ),
    })?;
    let header =
        batch::decode_header(&plain, batch::MAX_BATCH_LEN).map_err(|e| Error::corrupt(path, at, e.to_string()))?;
    Ok((Bytes::from(plain), header))
}

/// The first offset of the first batch at or after byte `start` of `image` (the bytes of
/// `path` from `image_position` on) that arrived at or after `arrival_ms` and lies below
/// `hw`, walking headers only.
pub(crate) fn first_arriving_at(
    path: &Path,
    image: &[u8],
    image_position: u64,
    start: u64,
    arrival_ms: i64,
    hw: u64,
) -> Result<Option<u64>> {
    let at = usize::try_from(start.saturating_sub(image_position)).unwrap_or(usize::MAX);
    for step in BatchCursor::new(image, image_position, at, Verify::Header, batch::MAX_BATCH_LEN) {
        let b = step.map_err(|e| Error::corrupt(path, e.position, e.kind.to_string()))?;
        if b.header.first_offset >= hw {
            return Ok(None);
        }
        if b.header.arrival_ms >= arrival_ms {
            return Ok(Some(b.header.first_offset));
        }
    }
    Ok(None)
}
