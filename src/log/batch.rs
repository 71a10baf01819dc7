//! Framing: the byte layout of one batch of records, its encoder and its validating decoder.
//!
//! Layout (all integers little-endian; see `docs/format.md`):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `SLBT` |
//! | 4 | format version (1) |
//! | 5 | flags (0) |
//! | 6..8 | reserved (0) |
//! | 8..12 | `batch_len` u32: total bytes of the batch, header included |
//! | 12..16 | `record_count` u32 (≥ 1) |
//! | 16..24 | `first_offset` u64 |
//! | 24..32 | `arrival_ms` i64 |
//! | 32..36 | CRC-32 (IEEE) of bytes 0..32 followed by the payload |
//! | 36.. | payload: `record_count` records |
//!
//! Each record: `flags` u8 (bit 0: explicit hash key present), `key_len` u16, `data_len` u32,
//! the explicit hash key as u128 if present, the key bytes, the data bytes.
//!
//! The CRC covers every header field, so a zero-filled or stale region never decodes as a
//! batch (CRC-32 of empty input is 0, which is why a payload-only CRC is not enough), and
//! `first_offset` ties a batch to its position in the log.

use bytes::Bytes;

use crate::log::record::{Record, RecordRef};

/// Magic bytes that start every batch.
pub const BATCH_MAGIC: [u8; 4] = *b"SLBT";
/// The batch format version this build writes and reads.
pub const BATCH_VERSION: u8 = 1;
/// Bytes in a batch header.
pub const BATCH_HEADER_LEN: usize = 36;
/// Bytes in a record header without the explicit hash key.
pub const RECORD_HEADER_LEN: usize = 7;
/// Bytes of an explicit hash key.
pub const HASH_KEY_LEN: usize = 16;
/// The largest batch any build accepts; longer length fields are rejected before any
/// allocation.
pub const MAX_BATCH_LEN: u32 = 256 * 1024 * 1024;

const FLAG_HASH_KEY: u8 = 1;
/// How far past the estimated position of the first wanted record [`decode_records`]
/// prefetches.
const SKIP_PREFETCH_SLACK: usize = 256;
/// Batch flag: the payload is sealed with the at-rest key (see [`crate::at_rest`]).
pub const FLAG_SEALED: u8 = 1;
const CRC_START: usize = 32;

/// The validated header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Total bytes of the batch, header included.
    pub batch_len: u32,
    /// Number of records.
    pub record_count: u32,
    /// Offset of the first record.
    pub first_offset: u64,
    /// Arrival time of every record in the batch.
    pub arrival_ms: i64,
}

impl BatchHeader {
    /// Offset one past the last record.
    pub fn next_offset(&self) -> u64 {
        self.first_offset.saturating_add(u64::from(self.record_count))
    }
}

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header or the declared length.
    #[error("truncated batch: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// The magic is wrong: not the start of a batch.
    #[error("bad batch magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// A version this build does not know.
    #[error("unsupported batch format version {0}")]
    UnsupportedVersion(u8),
    /// Length or count fields that cannot be right.
    #[error("impossible batch header: {0}")]
    BadHeader(String),
    /// The CRC does not match.
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The payload does not hold exactly `record_count` well-formed records.
    #[error("malformed records in batch: {0}")]
    BadRecords(String),
}

/// Bytes one record takes in a batch.
pub fn record_encoded_len(record: &RecordRef<'_>) -> usize {
    let hash = if record.explicit_hash_key.is_some() { HASH_KEY_LEN } else { 0 };
    RECORD_HEADER_LEN + hash + record.partition_key.len() + record.data.len()
}

/// Bytes a batch of `records` takes.
pub fn encoded_len(records: &[RecordRef<'_>]) -> usize {
    BATCH_HEADER_LEN + records.iter().map(record_encoded_len).sum::<usize>()
}

/// Append one encoded batch to `buf`. Errors (nothing appended) if there are no records, a
/// key is longer than 65,535 bytes or the batch would exceed `max_batch_len`.
pub fn encode_into(
    buf: &mut Vec<u8>,
    first_offset: u64,
    arrival_ms: i64,
    records: &[RecordRef<'_>],
    max_batch_len: u32,
) -> Result<BatchHeader, FrameError> {
    if records.is_empty() {
        return Err(FrameError::BadHeader("a batch needs at least one record".into()));
    }
    let total = encoded_len(records);
    if total > max_batch_len.min(MAX_BATCH_LEN) as usize {
        return Err(FrameError::BadHeader(format!(
            "batch of {total} bytes exceeds the limit of {} bytes",
            max_batch_len.min(MAX_BATCH_LEN)
        )));
    }
    let record_count =
        u32::try_from(records.len()).map_err(|_| FrameError::BadHeader("too many records in one batch".into()))?;
    for r in records {
        if r.partition_key.len() > usize::from(u16::MAX) {
            return Err(FrameError::BadRecords(format!(
                "partition key of {} bytes exceeds 65535",
                r.partition_key.len()
            )));
        }
    }
    // `total` fits u32: it is at most MAX_BATCH_LEN.
    let batch_len = total as u32;
    let start = buf.len();
    buf.reserve(total);
    buf.extend_from_slice(&BATCH_MAGIC);
    buf.push(BATCH_VERSION);
    buf.push(0);
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&batch_len.to_le_bytes());
    buf.extend_from_slice(&record_count.to_le_bytes());
    buf.extend_from_slice(&first_offset.to_le_bytes());
    buf.extend_from_slice(&arrival_ms.to_le_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    for r in records {
        let flags = if r.explicit_hash_key.is_some() { FLAG_HASH_KEY } else { 0 };
        buf.push(flags);
        buf.extend_from_slice(&(r.partition_key.len() as u16).to_le_bytes());
        buf.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        if let Some(h) = r.explicit_hash_key {
            buf.extend_from_slice(&h.to_le_bytes());
        }
        buf.extend_from_slice(r.partition_key);
        buf.extend_from_slice(r.data);
    }
    let crc = batch_crc(buf.get(start..).unwrap_or_default());
    if let Some(slot) = buf.get_mut(start + CRC_START..start + BATCH_HEADER_LEN) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    let header = BatchHeader { batch_len, record_count, first_offset, arrival_ms };
    debug_assert_eq!(buf.len() - start, total);
    debug_assert_eq!(verify(buf.get(start..).unwrap_or_default(), MAX_BATCH_LEN), Ok(header));
    Ok(header)
}

/// The CRC of a whole encoded batch (the CRC field itself excluded).
fn batch_crc(batch: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    #[cfg(not(feature = "canary-payload-only-crc"))]
    h.update(batch.get(..CRC_START).unwrap_or_default());
    h.update(batch.get(BATCH_HEADER_LEN..).unwrap_or_default());
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// Parse and sanity-check a batch header from the start of `bytes` (which may hold only the
/// header). Rejects unknown versions and impossible lengths before anything is allocated.
pub fn decode_header(bytes: &[u8], max_batch_len: u32) -> Result<BatchHeader, FrameError> {
    let head = bytes
        .get(..BATCH_HEADER_LEN)
        .ok_or(FrameError::Truncated { need: BATCH_HEADER_LEN as u64, have: bytes.len() as u64 })?;
    let mut magic = [0u8; 4];
    magic.copy_from_slice(head.get(..4).unwrap_or(&[0; 4]));
    if magic != BATCH_MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let version = head.get(4).copied().unwrap_or(0);
    if version != BATCH_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let flags = head.get(5).copied().unwrap_or(0);
    if flags & !FLAG_SEALED != 0 || head.get(6..8) != Some(&[0, 0][..]) {
        return Err(FrameError::BadHeader("unknown flags or nonzero reserved header bytes".into()));
    }
    // A sealed payload carries a nonce and a tag around the records.
    let overhead = if flags & FLAG_SEALED != 0 { crate::at_rest::SEAL_OVERHEAD } else { 0 };
    let batch_len = u32_at(head, 8);
    let record_count = u32_at(head, 12);
    let limit = max_batch_len.min(MAX_BATCH_LEN);
    let min_len = BATCH_HEADER_LEN + overhead + RECORD_HEADER_LEN;
    if (batch_len as usize) < min_len || batch_len > limit {
        return Err(FrameError::BadHeader(format!("batch length {batch_len} outside {min_len}..={limit}")));
    }
    let max_records = (batch_len as usize - BATCH_HEADER_LEN - overhead) / RECORD_HEADER_LEN;
    if record_count == 0 || record_count as usize > max_records {
        return Err(FrameError::BadHeader(format!(
            "record count {record_count} impossible for a {batch_len}-byte batch"
        )));
    }
    let first_offset = u64_at(head, 16);
    if first_offset.checked_add(u64::from(record_count)).is_none() {
        return Err(FrameError::BadHeader(format!("first offset {first_offset} overflows")));
    }
    let arrival_ms = u64_at(head, 24) as i64;
    Ok(BatchHeader { batch_len, record_count, first_offset, arrival_ms })
}

/// Fully validate one batch: `bytes` must start with it (and may continue past it). Checks
/// the header, the CRC and that the payload holds exactly `record_count` records.
pub fn verify(bytes: &[u8], max_batch_len: u32) -> Result<BatchHeader, FrameError> {
    let header = decode_header(bytes, max_batch_len)?;
    let batch = bytes
        .get(..header.batch_len as usize)
        .ok_or(FrameError::Truncated { need: u64::from(header.batch_len), have: bytes.len() as u64 })?;
    check_crc(batch)?;
    if is_sealed(batch) {
        // The records are out of reach without the key; the CRC vouches for the bytes.
        return Ok(header);
    }
    let mut pos = BATCH_HEADER_LEN;
    for i in 0..header.record_count {
        pos = next_record(batch, pos).map_err(|e| FrameError::BadRecords(format!("record {i}: {e}")))?.end;
    }
    if pos != batch.len() {
        return Err(FrameError::BadRecords(format!("{} trailing bytes after the last record", batch.len() - pos)));
    }
    Ok(header)
}

/// True if the batch starting at `bytes` is sealed with the at-rest key.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.get(5).is_some_and(|f| f & FLAG_SEALED != 0)
}

/// Seal the plaintext batch that ends `buf` and starts at `start` (as [`encode_into`] left
/// it): flag it, grow its length by [`crate::at_rest::SEAL_OVERHEAD`], seal the payload with
/// the header as associated data, and recompute the CRC over the stored bytes.
pub fn seal_batch(
    buf: &mut Vec<u8>,
    start: usize,
    key: &crate::at_rest::AtRestKey,
    nonce: [u8; crate::at_rest::NONCE_LEN],
) -> Result<BatchHeader, FrameError> {
    let plain = decode_header(buf.get(start..).unwrap_or_default(), MAX_BATCH_LEN)?;
    let sealed_len = plain.batch_len as usize + crate::at_rest::SEAL_OVERHEAD;
    let batch_len = u32::try_from(sealed_len)
        .ok()
        .filter(|l| *l <= MAX_BATCH_LEN)
        .ok_or_else(|| FrameError::BadHeader(format!("a sealed batch of {sealed_len} bytes is too long")))?;
    if let Some(f) = buf.get_mut(start + 5) {
        *f |= FLAG_SEALED;
    }
    if let Some(l) = buf.get_mut(start + 8..start + 12) {
        l.copy_from_slice(&batch_len.to_le_bytes());
    }
    let mut payload = buf.split_off(start + BATCH_HEADER_LEN);
    key.seal(nonce, buf.get(start..start + CRC_START).unwrap_or_default(), &mut payload);
    buf.extend_from_slice(&payload);
    let crc = batch_crc(buf.get(start..).unwrap_or_default());
    if let Some(slot) = buf.get_mut(start + CRC_START..start + BATCH_HEADER_LEN) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    let header = BatchHeader { batch_len, ..plain };
    debug_assert_eq!(verify(buf.get(start..).unwrap_or_default(), MAX_BATCH_LEN), Ok(header));
    Ok(header)
}

/// The plaintext form of a sealed batch (`batch` holds exactly it, CRC checked): flags
/// cleared, the original length, the records, a fresh CRC. Errors if `key` does not open it.
pub fn unseal_batch(batch: &[u8], key: &crate::at_rest::AtRestKey) -> Result<Vec<u8>, FrameError> {
    let aad = batch.get(..CRC_START).unwrap_or_default();
    let sealed = batch.get(BATCH_HEADER_LEN..).unwrap_or_default();
    let records = key
        .open(aad, sealed)
        .ok_or_else(|| FrameError::BadRecords("the at-rest key does not open this batch".into()))?;
    let mut plain = Vec::with_capacity(BATCH_HEADER_LEN + records.len());
    plain.extend_from_slice(batch.get(..BATCH_HEADER_LEN).unwrap_or_default());
    if let Some(f) = plain.get_mut(5) {
        *f &= !FLAG_SEALED;
    }
    let len = (BATCH_HEADER_LEN + records.len()) as u32;
    if let Some(l) = plain.get_mut(8..12) {
        l.copy_from_slice(&len.to_le_bytes());
    }
    plain.extend_from_slice(&records);
    let crc = batch_crc(&plain);
    if let Some(slot) = plain.get_mut(CRC_START..BATCH_HEADER_LEN) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    verify(&plain, MAX_BATCH_LEN)?;
    Ok(plain)
}

/// Check the CRC of one whole batch (`batch` holds exactly the batch, header checked).
pub fn check_crc(batch: &[u8]) -> Result<(), FrameError> {
    let stored = u32_at(batch, CRC_START);
    let computed = batch_crc(batch);
    if stored != computed {
        return Err(FrameError::BadCrc { stored, computed });
    }
    Ok(())
}

/// True if `bytes` starts with a complete frame whose CRC checks out under this format's
/// CRC rule, whatever its version byte says. Used by recovery to tell a batch written by a
/// newer format (refuse to open: never truncate it) from a torn or damaged one (cut it off).
pub fn frame_crc_intact(bytes: &[u8]) -> bool {
    let len = u32_at(bytes, 8) as usize;
    if bytes.get(..4) != Some(&BATCH_MAGIC[..]) || len < BATCH_HEADER_LEN || len > MAX_BATCH_LEN as usize {
        return false;
    }
    bytes.get(..len).is_some_and(|b| check_crc(b).is_ok())
}

/// Where one record's parts lie within a batch.
struct RecordSpan {
    hash_key: Option<u128>,
    key: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
    end: usize,
}

fn next_record(batch: &[u8], pos: usize) -> Result<RecordSpan, &'static str> {
    let head = batch.get(pos..pos + RECORD_HEADER_LEN).ok_or("record header past the end")?;
    let flags = head.first().copied().unwrap_or(0);
    if flags & !FLAG_HASH_KEY != 0 {
        return Err("unknown record flags");
    }
    let key_len =
        usize::from(u16::from_le_bytes([head.get(1).copied().unwrap_or(0), head.get(2).copied().unwrap_or(0)]));
    let data_len = u32_at(head, 3) as usize;
    let mut at = pos + RECORD_HEADER_LEN;
    let hash_key = if flags & FLAG_HASH_KEY != 0 {
        let raw = batch.get(at..at + HASH_KEY_LEN).ok_or("hash key past the end")?;
        let mut a = [0u8; 16];
        a.copy_from_slice(raw);
        at += HASH_KEY_LEN;
        Some(u128::from_le_bytes(a))
    } else {
        None
    };
    let key_end = at.checked_add(key_len).ok_or("key length overflows")?;
    let end = key_end.checked_add(data_len).ok_or("data length overflows")?;
    #[cfg(not(feature = "canary-decoder-oob"))]
    if end > batch.len() {
        return Err("record runs past the end of the batch");
    }
    // Planted bug (reliability R9): the lengths are trusted and the record sliced unchecked; a
    // crafted length reads past the batch (a panic in safe Rust).
    #[cfg(feature = "canary-decoder-oob")]
    #[allow(clippy::indexing_slicing)]
    let _record = &batch[pos..end];
    Ok(RecordSpan { hash_key, key: at..key_end, data: key_end..end, end })
}

/// What [`decode_records`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Records appended to the output.
    pub added: usize,
    /// It stopped because the next record did not fit the byte budget.
    pub out_of_bytes: bool,
}

/// Decode the records of a batch whose header and CRC were checked, appending to `out` those
/// with offset ≥ `from_offset`: at most `max_records`, and only while their keys and data fit
/// `byte_budget` (which is reduced accordingly), except that with `take_first` the first
/// record is taken whatever its size so a read always makes progress. `batch` must hold
/// exactly the batch. Keys and data are zero-copy slices of `batch`.
pub fn decode_records(
    batch: &Bytes,
    header: &BatchHeader,
    from_offset: u64,
    max_records: usize,
    byte_budget: &mut usize,
    take_first: bool,
    out: &mut Vec<Record>,
) -> Result<Decoded, FrameError> {
    let start = RecordMark { index: 0, position: BATCH_HEADER_LEN };
    decode_records_from(batch, header, start, from_offset, max_records, byte_budget, take_first, out)
}

/// Where one record of a batch starts: its index in the batch and its byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMark {
    /// The record's index in the batch (its offset minus the batch's first offset).
    pub index: u32,
    /// The byte position of its record header in the batch.
    pub position: usize,
}

/// The start of every `stride`-th record of a checked batch after the first (records
/// `stride`, `2 × stride`, …), or `None` if its records do not frame (a batch that passed its
/// CRC check always frames). With these, a lookup steps over fewer than `stride` records.
pub fn record_marks(batch: &[u8], header: &BatchHeader, stride: u32) -> Option<Vec<RecordMark>> {
    let stride = stride.max(1);
    let mut marks = Vec::with_capacity((header.record_count / stride) as usize);
    let mut pos = BATCH_HEADER_LEN;
    for index in 0..header.record_count {
        if index > 0 && index % stride == 0 {
            marks.push(RecordMark { index, position: pos });
        }
        pos = next_record(batch, pos).ok()?.end;
    }
    Some(marks)
}

/// [`decode_records`], but starting the walk at `start`, which must be a true record start
/// of this batch (from [`record_marks`] over the same bytes, or the first record) at or before
/// `from_offset`. Records before `start.index` are neither stepped over nor returned.
#[allow(clippy::too_many_arguments)]
pub fn decode_records_from(
    batch: &Bytes,
    header: &BatchHeader,
    start: RecordMark,
    from_offset: u64,
    max_records: usize,
    byte_budget: &mut usize,
    take_first: bool,
    out: &mut Vec<Record>,
) -> Result<Decoded, FrameError> {
    let mut pos = start.position;
    let mut d = Decoded { added: 0, out_of_bytes: false };
    let first = header.first_offset.saturating_add(u64::from(start.index));
    debug_assert!(start.index == 0 || first <= from_offset, "a mark past the first wanted record");
    // At most the rest of the batch, so the estimate below stays within its length.
    let skip = from_offset.saturating_sub(first).min(u64::from(header.record_count.saturating_sub(start.index)));
    if skip > 0 {
        // Stepping over records to reach `from_offset` (a random lookup): each step waits for
        // the record header it reads, which is often not in the cache yet. Prefetching the
        // bytes up to where the wanted record is expected (records of equal size; a little
        // slack past it) overlaps those waits instead of taking them one by one.
        let body = batch.len().saturating_sub(BATCH_HEADER_LEN) as u64;
        let expected = body / u64::from(header.record_count.max(1)) * skip;
        let upto = usize::try_from(expected).unwrap_or(usize::MAX).saturating_add(pos + SKIP_PREFETCH_SLACK);
        crate::io::prefetch(batch, pos..upto);
    }
    for i in start.index..header.record_count {
        if d.added >= max_records {
            break;
        }
        let span = next_record(batch, pos).map_err(|e| FrameError::BadRecords(format!("record {i}: {e}")))?;
        pos = span.end;
        let offset = header.first_offset + u64::from(i);
        if offset < from_offset {
            continue;
        }
        let size = span.key.len() + span.data.len();
        if size > *byte_budget && !(take_first && d.added == 0) {
            d.out_of_bytes = true;
            break;
        }
        *byte_budget = byte_budget.saturating_sub(size);
        out.push(Record {
            offset,
            arrival_ms: header.arrival_ms,
            partition_key: batch.slice(span.key),
            explicit_hash_key: span.hash_key,
            data: batch.slice(span.data),
        });
        d.added += 1;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let recs = [
            RecordRef::new(b"k1", b"hello"),
            RecordRef { partition_key: b"", explicit_hash_key: Some(u128::MAX), data: b"" },
        ];
        let mut buf = Vec::new();
        encode_into(&mut buf, 7, 1_700_000_000_123, &recs, MAX_BATCH_LEN).unwrap();
        buf
    }

    #[test]
    fn round_trip() {
        let buf = sample();
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        assert_eq!((h.first_offset, h.record_count, h.arrival_ms), (7, 2, 1_700_000_000_123));
        let mut out = Vec::new();
        let b = Bytes::from(buf);
        let mut budget = usize::MAX;
        assert_eq!(decode_records(&b, &h, 0, usize::MAX, &mut budget, true, &mut out).unwrap().added, 2);
        assert_eq!(out[0].offset, 7);
        assert_eq!(&out[0].partition_key[..], b"k1");
        assert_eq!(&out[0].data[..], b"hello");
        assert_eq!(out[1].explicit_hash_key, Some(u128::MAX));
        assert_eq!(out[1].offset, 8);
        out.clear();
        assert_eq!(decode_records(&b, &h, 8, usize::MAX, &mut budget, true, &mut out).unwrap().added, 1);
        assert_eq!(out[0].offset, 8);
        // A budget of 3 bytes still takes the first record (7 bytes); the second is empty
        // and fits what is left (nothing).
        out.clear();
        let mut small = 3;
        let d = decode_records(&b, &h, 0, usize::MAX, &mut small, true, &mut out).unwrap();
        assert_eq!((d.added, d.out_of_bytes, small), (2, false, 0));
        // Without take_first the 7-byte record does not fit an empty budget.
        let d = decode_records(&b, &h, 0, usize::MAX, &mut small, false, &mut out).unwrap();
        assert_eq!((d.added, d.out_of_bytes), (0, true));
    }

    #[test]
    fn decoding_from_any_offset_past_the_batch_takes_nothing_and_never_overflows() {
        let buf = sample();
        let h = verify(&buf, MAX_BATCH_LEN).unwrap();
        let b = Bytes::from(buf);
        for from in [9, 1 << 40, u64::MAX / 2, u64::MAX] {
            let mut out = Vec::new();
            let mut budget = usize::MAX;
            let d = decode_records(&b, &h, from, usize::MAX, &mut budget, true, &mut out).unwrap();
            assert_eq!((d.added, out.len()), (0, 0), "from {from}");
        }
    }

    #[test]
    fn zeros_never_decode() {
        for n in [0usize, 36, 43, 4096] {
            assert!(verify(&vec![0u8; n], MAX_BATCH_LEN).is_err());
        }
    }

    #[test]
    fn every_bit_flip_is_caught() {
        let buf = sample();
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(verify(&b, MAX_BATCH_LEN).is_err(), "bit {bit} flip undetected");
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        let buf = sample();
        for n in 0..buf.len() {
            assert!(verify(&buf[..n], MAX_BATCH_LEN).is_err());
        }
    }

    #[test]
    fn oversized_length_rejected_before_allocation() {
        let mut buf = sample();
        buf[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_header(&buf, MAX_BATCH_LEN), Err(FrameError::BadHeader(_))));
        let mut buf = sample();
        buf[4] = 9;
        assert_eq!(decode_header(&buf, MAX_BATCH_LEN), Err(FrameError::UnsupportedVersion(9)));
    }

    #[test]
    fn encode_rejects_empty_and_oversized() {
        let mut buf = Vec::new();
        assert!(encode_into(&mut buf, 0, 0, &[], MAX_BATCH_LEN).is_err());
        let data = vec![0u8; 100];
        assert!(encode_into(&mut buf, 0, 0, &[RecordRef::new(b"k", &data)], 100).is_err());
        assert!(buf.is_empty());
    }
}
