//! Record marks of a loaded sealed segment: where every 16th record of a checked batch
//! starts, so a random lookup steps over at most 15 records instead of up to a whole batch.
//!
//! A batch stores its records back to back, each found only by stepping over the ones before
//! it; the sparse index points at batch starts. A lookup of a record in the middle of a
//! 500-record batch therefore read the headers of hundreds of cold records (about 5 KiB for a
//! 100-record batch of 100 B records, most of the lookup's time). [`RecordMarks`] keeps, per
//! batch of one loaded segment, the [`RecordMark`]s that [`batch::record_marks`] found, and a
//! read starts decoding that batch at the last mark at or before the record it wants. Only
//! reads that start inside a batch (lookups) mark it or use its marks: an in-order read
//! decodes every record from the first anyway and pays nothing for them.
//!
//! Invariants:
//! - Marks are recorded only for a batch whose CRC was just checked through this mapping, by
//!   walking those bytes from the batch's first record, and are kept by the batch's byte
//!   position in the segment. They live and die with the one mapping they describe
//!   (`Loaded`), exactly as the checked-interval bits of `verified.rs` do, and for the same
//!   reason they stay true: sealed bytes never change under their mapping. A read that
//!   arrives at that position (its cursor checked the batch header there) finds the same
//!   bytes, so the marks are record starts of its batch, and decoding from one gives exactly
//!   the records a walk from the first record would have given.
//! - Memory is bounded: a segment's marks never take more than [`MARK_BUDGET_SHARE`]⁻¹ of its
//!   file size (about 1.6 %); batches past the budget are simply read from their first record.
//!   Batches of fewer than two strides keep no marks.
//! - Sealed (encrypted-at-rest) batches keep no marks: their records are decoded from a fresh
//!   plaintext copy on every read.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::log::batch::{self, BatchHeader, RecordMark};

/// Records between two marks.
pub(crate) const MARK_STRIDE: u32 = 16;
/// A segment's marks may take up to its file size divided by this.
pub(crate) const MARK_BUDGET_SHARE: u64 = 64;
/// What one batch's entry costs besides its marks (key, boxed slice, table slot), counted
/// against the budget.
const ENTRY_OVERHEAD: u64 = 48;

/// The marks of one loaded sealed segment's checked batches, by batch position (module
/// documentation).
#[derive(Debug)]
pub(crate) struct RecordMarks {
    inner: RwLock<Marks>,
    budget: u64,
}

#[derive(Debug, Default)]
struct Marks {
    by_batch: HashMap<u64, Box<[u32]>>,
    bytes: u64,
}

impl RecordMarks {
    /// No marks yet, for a segment of `segment_len` bytes.
    pub(crate) fn new(segment_len: u64) -> RecordMarks {
        RecordMarks { inner: RwLock::new(Marks::default()), budget: segment_len / MARK_BUDGET_SHARE }
    }

    /// Where to start decoding the batch at `batch_position` to reach its record `index`: the
    /// last mark at or before it, if the batch has marks and one precedes the record.
    pub(crate) fn start(&self, batch_position: u64, index: u64) -> Option<RecordMark> {
        let m = usize::try_from(index / u64::from(MARK_STRIDE)).ok()?.checked_sub(1)?;
        let inner = self.inner.read();
        let position = *inner.by_batch.get(&batch_position)?.get(m)?;
        let index = u32::try_from((m + 1) * MARK_STRIDE as usize).ok()?;
        Some(RecordMark { index, position: position as usize })
    }

    /// Where a lookup of record `index` of the plain batch `bytes` at `batch_position` (checked
    /// through this mapping, see the invariants) starts decoding: the last mark at or before
    /// the record. A batch worth marking and not marked yet is marked first. A warm lookup
    /// takes one read lock.
    pub(crate) fn start_for(
        &self,
        batch_position: u64,
        bytes: &[u8],
        header: &BatchHeader,
        index: u64,
    ) -> Option<RecordMark> {
        if let Some(mark) = self.start(batch_position, index) {
            return Some(mark);
        }
        if !self.wants(batch_position, header) {
            return None;
        }
        self.record(batch_position, bytes, header);
        self.start(batch_position, index)
    }

    /// True if the batch at `batch_position` is worth marking: enough records, no marks yet,
    /// and room in the budget (so that once it is spent, lookups stop walking batches only to
    /// find that out).
    pub(crate) fn wants(&self, batch_position: u64, header: &BatchHeader) -> bool {
        if header.record_count < 2 * MARK_STRIDE {
            return false;
        }
        let inner = self.inner.read();
        !inner.by_batch.contains_key(&batch_position) && inner.bytes.saturating_add(cost(header)) <= self.budget
    }

    /// Keep the marks of the plain batch `bytes` at `batch_position`, whose CRC was just
    /// checked through this segment's mapping (see the invariants), unless the budget is
    /// spent.
    pub(crate) fn record(&self, batch_position: u64, bytes: &[u8], header: &BatchHeader) {
        debug_assert!(!batch::is_sealed(bytes), "marks of an encrypted batch");
        let Some(marks) = batch::record_marks(bytes, header, MARK_STRIDE) else { return };
        let Ok(positions) = marks.iter().map(|m| u32::try_from(m.position)).collect::<Result<Box<[u32]>, _>>() else {
            return;
        };
        debug_assert_eq!(positions.len() as u32, (header.record_count - 1) / MARK_STRIDE);
        let cost = cost(header);
        let mut inner = self.inner.write();
        if inner.bytes.saturating_add(cost) > self.budget || inner.by_batch.contains_key(&batch_position) {
            return;
        }
        inner.bytes += cost;
        inner.by_batch.insert(batch_position, positions);
    }

    /// Bytes the marks take, as counted against the budget.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.inner.read().bytes
    }
}

/// What the marks of a batch with this header cost against the budget.
fn cost(header: &BatchHeader) -> u64 {
    u64::from(header.record_count.saturating_sub(1) / MARK_STRIDE) * 4 + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{encode_into, verify, MAX_BATCH_LEN};
    use crate::log::record::RecordRef;
    use bytes::Bytes;

    fn batch_of(n: usize, first_offset: u64) -> Vec<u8> {
        let data: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i % 7 * 13 + 1]).collect();
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        let recs: Vec<RecordRef<'_>> = keys.iter().zip(&data).map(|(k, d)| RecordRef::new(k.as_bytes(), d)).collect();
        let mut buf = Vec::new();
        encode_into(&mut buf, first_offset, 1_700_000_000_000, &recs, MAX_BATCH_LEN).unwrap();
        buf
    }

    #[test]
    fn decoding_from_any_mark_gives_the_records_a_walk_from_the_first_gives() {
        let buf = batch_of(100, 1_000);
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        let marks = RecordMarks::new(1 << 30);
        assert!(marks.wants(64, &h));
        marks.record(64, &buf, &h);
        assert!(!marks.wants(64, &h));
        let b = Bytes::from(buf);
        for from in 1_000..1_100u64 {
            let mut walked = Vec::new();
            let mut budget = usize::MAX;
            batch::decode_records(&b, &h, from, 3, &mut budget, true, &mut walked).unwrap();
            let start = marks.start(64, from - 1_000);
            assert_eq!(start.is_some(), from - 1_000 >= u64::from(MARK_STRIDE), "from {from}");
            let start = start.unwrap_or(RecordMark { index: 0, position: batch::BATCH_HEADER_LEN });
            assert!(u64::from(start.index) <= from - 1_000);
            let mut marked = Vec::new();
            let mut budget = usize::MAX;
            batch::decode_records_from(&b, &h, start, from, 3, &mut budget, true, &mut marked).unwrap();
            assert_eq!(marked, walked, "from {from}");
            assert_eq!(marked.first().map(|r| r.offset), Some(from));
        }
    }

    #[test]
    fn the_first_lookup_marks_a_batch_and_later_ones_start_at_its_marks() {
        let buf = batch_of(100, 0);
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        let marks = RecordMarks::new(1 << 30);
        let first = marks.start_for(0, &buf, &h, 40);
        assert_eq!(first.map(|m| m.index), Some(32));
        assert_eq!(marks.start(0, 40), first, "the batch is marked now");
        assert_eq!(marks.start_for(0, &buf, &h, 70).map(|m| m.index), Some(64));
        assert_eq!(marks.start_for(0, &buf, &h, 15), None, "no mark before the first stride");
        let spent = RecordMarks::new(0);
        assert_eq!(spent.start_for(0, &buf, &h, 40), None, "a spent budget marks nothing");
        assert_eq!(spent.bytes(), 0);
    }

    #[test]
    fn marks_are_kept_by_batch_position_only() {
        let buf = batch_of(40, 0);
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        let marks = RecordMarks::new(1 << 30);
        marks.record(100, &buf, &h);
        assert!(marks.start(100, 20).is_some());
        assert_eq!(marks.start(4_096, 20), None, "another batch position has no marks");
        assert_eq!(marks.start(100, 15), None, "no mark before the first stride");
    }

    #[test]
    fn small_batches_keep_no_marks() {
        let buf = batch_of(2 * MARK_STRIDE as usize - 1, 0);
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        let marks = RecordMarks::new(1 << 30);
        assert!(!marks.wants(0, &h));
    }

    #[test]
    fn marks_stop_at_the_memory_budget() {
        let buf = batch_of(100, 0);
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        // 100 records: 6 marks = 24 bytes + the entry overhead per batch.
        let per_batch = 6 * 4 + ENTRY_OVERHEAD;
        let marks = RecordMarks::new(per_batch * 2 * MARK_BUDGET_SHARE + MARK_BUDGET_SHARE - 1);
        for position in [0, 10_000, 20_000] {
            marks.record(position, &buf, &h);
        }
        assert_eq!(marks.bytes(), 2 * per_batch);
        assert!(marks.start(10_000, 50).is_some());
        assert_eq!(marks.start(20_000, 50), None, "the third batch is past the budget");
        assert!(!marks.wants(30_000, &h), "a spent budget wants no more batches");
    }
}
