//! [`BatchCursor`]: the one walk over a segment's batches. Reads, recovery, the time lookup
//! and `verify` all step through batches with it, so every one of them checks the same
//! framing the same way.
//!
//! The cursor walks a byte image (a segment mapping, or a view of part of it) from a batch
//! boundary. Each step decodes one batch header and checks, before anything is sliced or
//! allocated, that the batch fits the image and the length limit; then, per the cursor's
//! [`Verify`] level, its CRC and record structure. It also checks what ties batches together:
//! offsets run densely (each batch starts where the previous one ended, the first at the
//! expected offset if one is given) and arrival times never decrease. The first failure is
//! returned as a [`CursorError`] naming its byte position; the cursor then stops for good.
//!
//! Invariant: every batch the cursor yields lies wholly inside the image, passed the checks
//! of its level, and continues the previous one.

use std::fmt;

use crate::log::batch::{self, BatchHeader, FrameError};
use crate::log::index::{IndexEntry, SparseIndex};

use super::format::SEGMENT_HEADER_LEN;

/// How much of each batch the cursor checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The header only (the caller checks the CRC of the batches it decodes).
    Header,
    /// Header, CRC, and that the payload holds exactly `record_count` well-formed records.
    Full,
}

/// One batch the cursor stepped over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorBatch {
    /// Byte position of the batch in the segment file.
    pub position: u64,
    /// Its validated header.
    pub header: BatchHeader,
}

impl CursorBatch {
    /// One past the batch's last byte in the segment file.
    pub fn end(&self) -> u64 {
        self.position + u64::from(self.header.batch_len)
    }
}

/// Why the walk stopped before the end of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorErrorKind {
    /// The bytes at the position are not a valid batch (a torn or damaged one, or a batch
    /// running past the end of the image: [`FrameError::Truncated`]).
    Frame(FrameError),
    /// The batch does not start at the offset the log continues at.
    NotDense {
        /// Its first offset.
        found: u64,
        /// The offset due.
        expected: u64,
    },
    /// The batch arrived before the previous one.
    ArrivalBackwards {
        /// Its arrival time.
        found_ms: i64,
        /// The previous batch's.
        previous_ms: i64,
    },
    /// The segment is too long for 32-bit index positions.
    TooLarge,
}

/// The first failure of a walk: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorError {
    /// Byte position in the segment file of the batch that failed.
    pub position: u64,
    /// What failed.
    pub kind: CursorErrorKind,
}

impl CursorError {
    /// The failure as a frame error (how recovery and the fuzz checks classify it).
    pub fn frame_error(&self) -> FrameError {
        match &self.kind {
            CursorErrorKind::Frame(e) => e.clone(),
            other => FrameError::BadHeader(other.to_string()),
        }
    }

    /// True if the batch merely runs past the end of the image (a torn write, or a view that
    /// ends inside it).
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, CursorErrorKind::Frame(FrameError::Truncated { .. }))
    }
}

impl fmt::Display for CursorErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CursorErrorKind::Frame(e) => write!(f, "{e}"),
            CursorErrorKind::NotDense { found, expected } => {
                write!(f, "batch starts at offset {found}, but the log continues at offset {expected}")
            }
            CursorErrorKind::ArrivalBackwards { found_ms, previous_ms } => {
                write!(f, "arrival time went backwards ({found_ms} ms after {previous_ms} ms)")
            }
            CursorErrorKind::TooLarge => write!(f, "segment larger than 4 GiB"),
        }
    }
}

impl fmt::Display for CursorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.position, self.kind)
    }
}

/// Steps through the batches of a segment image. See the module documentation.
#[derive(Debug, Clone)]
pub struct BatchCursor<'a> {
    /// The bytes from `image_position` of the segment file on.
    image: &'a [u8],
    /// Byte position in the file of `image[0]`.
    image_position: u64,
    /// Index into `image` of the next batch.
    at: usize,
    /// The offset the next batch must start at, once known.
    expect: Option<u64>,
    /// Arrival time of the previous batch.
    last_arrival_ms: i64,
    verify: Verify,
    max_batch_len: u32,
    stopped: bool,
}

impl<'a> BatchCursor<'a> {
    /// A cursor over `image`, which holds the segment file's bytes from byte `image_position`
    /// on, starting at the batch at `image[start]`.
    pub fn new(image: &'a [u8], image_position: u64, start: usize, verify: Verify, max_batch_len: u32) -> Self {
        BatchCursor {
            image,
            image_position,
            at: start,
            expect: None,
            last_arrival_ms: i64::MIN,
            verify,
            max_batch_len,
            stopped: false,
        }
    }

    /// A cursor over a whole segment image (header included), from its first batch, which
    /// must start at `base`.
    pub fn segment(image: &'a [u8], base: u64, verify: Verify, max_batch_len: u32) -> Self {
        Self::new(image, 0, SEGMENT_HEADER_LEN as usize, verify, max_batch_len).expecting(base)
    }

    /// The next batch must start at `offset`.
    pub fn expecting(mut self, offset: u64) -> Self {
        self.expect = Some(offset);
        self
    }

    /// Batches must not arrive before `arrival_ms`.
    pub fn after_arrival(mut self, arrival_ms: i64) -> Self {
        self.last_arrival_ms = arrival_ms;
        self
    }

    /// Byte position in the segment file of the next batch (after a failure: of the batch
    /// that failed).
    pub fn byte_position(&self) -> u64 {
        self.image_position + self.at as u64
    }

    /// The offset the next batch must start at (after at least one batch, or if given).
    pub fn next_offset(&self) -> Option<u64> {
        self.expect
    }

    /// Arrival time of the last batch stepped over (`i64::MIN` before the first).
    pub fn last_arrival_ms(&self) -> i64 {
        self.last_arrival_ms
    }

    /// True once every byte of the image was walked.
    pub fn at_end(&self) -> bool {
        self.at >= self.image.len()
    }

    /// The image bytes of a batch this cursor yielded.
    pub fn bytes_of(&self, b: &CursorBatch) -> &'a [u8] {
        let start = usize::try_from(b.position - self.image_position).unwrap_or(usize::MAX);
        self.image.get(start..start.saturating_add(b.header.batch_len as usize)).unwrap_or_default()
    }

    fn fail(&mut self, kind: CursorErrorKind) -> Option<Result<CursorBatch, CursorError>> {
        self.stopped = true;
        Some(Err(CursorError { position: self.byte_position(), kind }))
    }

    fn step(&mut self) -> Option<Result<CursorBatch, CursorError>> {
        if self.stopped || self.at >= self.image.len() {
            return None;
        }
        let rest = self.image.get(self.at..).unwrap_or_default();
        let checked = match self.verify {
            Verify::Header => batch::decode_header(rest, self.max_batch_len).and_then(|h| {
                if rest.len() < h.batch_len as usize {
                    Err(FrameError::Truncated { need: u64::from(h.batch_len), have: rest.len() as u64 })
                } else {
                    Ok(h)
                }
            }),
            Verify::Full => batch::verify(rest, self.max_batch_len),
        };
        let header = match checked {
            Ok(h) => h,
            Err(e) => return self.fail(CursorErrorKind::Frame(e)),
        };
        if let Some(expected) = self.expect.filter(|&e| e != header.first_offset) {
            return self.fail(CursorErrorKind::NotDense { found: header.first_offset, expected });
        }
        if header.arrival_ms < self.last_arrival_ms {
            return self.fail(CursorErrorKind::ArrivalBackwards {
                found_ms: header.arrival_ms,
                previous_ms: self.last_arrival_ms,
            });
        }
        let position = self.byte_position();
        if u32::try_from(position + u64::from(header.batch_len)).is_err() {
            return self.fail(CursorErrorKind::TooLarge);
        }
        self.at += header.batch_len as usize;
        self.expect = Some(header.next_offset());
        self.last_arrival_ms = header.arrival_ms;
        Some(Ok(CursorBatch { position, header }))
    }
}

impl Iterator for BatchCursor<'_> {
    type Item = Result<CursorBatch, CursorError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step()
    }
}

/// The result of walking a whole segment image.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Bytes from the file start through the last valid batch.
    pub valid_len: u64,
    /// One past the last valid record.
    pub end_offset: u64,
    /// Arrival time of the newest valid batch (`i64::MIN` if none).
    pub max_arrival_ms: i64,
    /// The sparse index of the valid part.
    pub index: SparseIndex,
    /// Number of valid batches.
    pub batches: u64,
    /// The first invalid batch, if the walk stopped before the end: its position and why.
    pub stopped: Option<(u64, FrameError)>,
}

/// Walk every batch of a segment image (header included) with a [`Verify::Full`] cursor:
/// CRC, record structure, dense offsets from `base`, non-decreasing arrival times. Stops at
/// the first invalid batch. Builds the sparse index of the valid part.
pub fn scan(image: &[u8], base: u64, index_interval: u32, max_batch_len: u32) -> Scan {
    let mut out = Scan {
        valid_len: SEGMENT_HEADER_LEN.min(image.len() as u64),
        end_offset: base,
        max_arrival_ms: i64::MIN,
        index: SparseIndex::new(),
        batches: 0,
        stopped: None,
    };
    let mut cursor = BatchCursor::segment(image, base, Verify::Full, max_batch_len);
    for step in cursor.by_ref() {
        match step {
            Ok(b) => {
                out.index.maybe_add(index_entry(base, &b), index_interval);
                out.valid_len = b.end();
                out.end_offset = b.header.next_offset();
                out.max_arrival_ms = b.header.arrival_ms;
                out.batches += 1;
            }
            Err(e) => out.stopped = Some((e.position, e.frame_error())),
        }
    }
    out
}

/// The index entry of a batch of the segment starting at `base`. The cursor guarantees the
/// position fits 32 bits; the relative offset does for any segment the log writes (it holds
/// fewer records than bytes).
pub(crate) fn index_entry(base: u64, b: &CursorBatch) -> IndexEntry {
    IndexEntry {
        rel_offset: u32::try_from(b.header.first_offset.saturating_sub(base)).unwrap_or(u32::MAX),
        position: u32::try_from(b.position).unwrap_or(u32::MAX),
        arrival_ms: b.header.arrival_ms,
    }
}
