//! Sparse offset and time indexes of one segment.
//!
//! An entry is added for the first batch of a segment and then for the first batch that
//! starts at least `index_interval_bytes` after the previous entry, so a lookup is a binary
//! search plus a scan of about one interval. Arrival times are non-decreasing within a shard
//! (the shard assigns them), so the time index is sorted too.
//!
//! On disk (`.index` and `.timeindex`, see `docs/format.md`) indexes are a cache: written
//! when a segment is sealed or the log closes cleanly, checked (magic, version, CRC, bounds,
//! monotonicity) when loaded, and rebuilt from the log whenever a check fails.

/// One index point: the batch starting at `position` holds the record `base + rel_offset`
/// first, and arrived at `arrival_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Offset of the batch's first record, relative to the segment base.
    pub rel_offset: u32,
    /// Byte position of the batch in the segment file.
    pub position: u32,
    /// Arrival time of the batch.
    pub arrival_ms: i64,
}

/// The in-memory sparse index of a segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseIndex {
    entries: Vec<IndexEntry>,
}

impl SparseIndex {
    /// An empty index.
    pub fn new() -> SparseIndex {
        SparseIndex::default()
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record a batch start if it is the first or lies `interval` bytes past the last entry.
    /// Invariant: offsets, positions and times never decrease.
    pub fn maybe_add(&mut self, entry: IndexEntry, interval: u32) {
        match self.entries.last() {
            Some(last) => {
                debug_assert!(entry.rel_offset > last.rel_offset);
                debug_assert!(entry.position > last.position);
                debug_assert!(entry.arrival_ms >= last.arrival_ms);
                if entry.position.saturating_sub(last.position) >= interval {
                    self.entries.push(entry);
                }
            }
            None => self.entries.push(entry),
        }
    }

    /// Drop entries at or past byte `position` (used when a failed append is cut off).
    pub fn truncate_at(&mut self, position: u32) {
        self.entries.retain(|e| e.position < position);
    }

    /// Byte position to start scanning for relative offset `rel`: the last entry at or
    /// before it, or `None` if `rel` precedes every entry.
    pub fn position_for_offset(&self, rel: u32) -> Option<u32> {
        // Tailing readers ask for offsets at or past the last entry: answer from the warm end
        // without a search.
        match self.entries.last() {
            Some(last) if last.rel_offset <= rel => return Some(last.position),
            _ => {}
        }
        let i = self.entries.partition_point(|e| e.rel_offset <= rel);
        i.checked_sub(1).and_then(|i| self.entries.get(i)).map(|e| e.position)
    }

    /// Byte position to start scanning for the first record that arrived at or after
    /// `arrival_ms`: the last entry strictly before that time (every earlier record arrived
    /// earlier still), or `None` to scan from the start.
    pub fn position_for_time(&self, arrival_ms: i64) -> Option<u32> {
        let i = self.entries.partition_point(|e| e.arrival_ms < arrival_ms);
        i.checked_sub(1).and_then(|i| self.entries.get(i)).map(|e| e.position)
    }
}

/// Facts about a segment stored in the header of its index files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Offset of the segment's first record.
    pub base_offset: u64,
    /// One past the segment's last record.
    pub end_offset: u64,
    /// The segment's file length the index describes.
    pub log_len: u64,
    /// Arrival time of the segment's newest record (`i64::MIN` if empty).
    pub max_arrival_ms: i64,
}

/// Magic of `.index` files.
pub const OFFSET_INDEX_MAGIC: [u8; 4] = *b"SLIX";
/// Magic of `.timeindex` files.
pub const TIME_INDEX_MAGIC: [u8; 4] = *b"SLTX";
/// Index file format version.
pub const INDEX_VERSION: u16 = 1;
/// Bytes of an index file header.
pub const INDEX_HEADER_LEN: usize = 44;
const OFFSET_ENTRY_LEN: usize = 8;
const TIME_ENTRY_LEN: usize = 12;

fn header(magic: [u8; 4], entry_len: usize, s: &SegmentSummary, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(INDEX_HEADER_LEN + count * entry_len + 4);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.extend_from_slice(&(entry_len as u16).to_le_bytes());
    out.extend_from_slice(&s.base_offset.to_le_bytes());
    out.extend_from_slice(&s.end_offset.to_le_bytes());
    out.extend_from_slice(&s.log_len.to_le_bytes());
    out.extend_from_slice(&s.max_arrival_ms.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Encode the `.index` file: `(rel_offset u32, position u32)` entries.
pub fn encode_offset_index(index: &SparseIndex, s: &SegmentSummary) -> Vec<u8> {
    let mut out = header(OFFSET_INDEX_MAGIC, OFFSET_ENTRY_LEN, s, index.len());
    for e in index.entries() {
        out.extend_from_slice(&e.rel_offset.to_le_bytes());
        out.extend_from_slice(&e.position.to_le_bytes());
    }
    seal(out)
}

/// Encode the `.timeindex` file: `(arrival_ms i64, rel_offset u32)` entries.
pub fn encode_time_index(index: &SparseIndex, s: &SegmentSummary) -> Vec<u8> {
    let mut out = header(TIME_INDEX_MAGIC, TIME_ENTRY_LEN, s, index.len());
    for e in index.entries() {
        out.extend_from_slice(&e.arrival_ms.to_le_bytes());
        out.extend_from_slice(&e.rel_offset.to_le_bytes());
    }
    seal(out)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Check one index file and return its summary and raw entries.
fn decode_file(bytes: &[u8], magic: [u8; 4], entry_len: usize) -> Result<(SegmentSummary, &[u8]), String> {
    if bytes.len() < INDEX_HEADER_LEN + 4 {
        return Err(format!("index file of {} bytes is shorter than its header", bytes.len()));
    }
    if bytes.get(..4) != Some(&magic[..]) {
        return Err("bad index magic".into());
    }
    let version = u16::from_le_bytes([bytes.get(4).copied().unwrap_or(0), bytes.get(5).copied().unwrap_or(0)]);
    if version != INDEX_VERSION {
        return Err(format!("unsupported index format version {version}"));
    }
    let declared_entry =
        usize::from(u16::from_le_bytes([bytes.get(6).copied().unwrap_or(0), bytes.get(7).copied().unwrap_or(0)]));
    if declared_entry != entry_len {
        return Err(format!("index entry size {declared_entry}, expected {entry_len}"));
    }
    let count = le_u32(bytes, 40) as usize;
    let body_len = count.checked_mul(entry_len).ok_or("entry count overflows")?;
    if bytes.len() != INDEX_HEADER_LEN + body_len + 4 {
        return Err(format!("index file length {} does not match {count} entries", bytes.len()));
    }
    let crc_at = bytes.len() - 4;
    let stored = le_u32(bytes, crc_at);
    let computed = crc32fast::hash(bytes.get(..crc_at).unwrap_or_default());
    if stored != computed {
        return Err(format!("index CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"));
    }
    let summary = SegmentSummary {
        base_offset: le_u64(bytes, 8),
        end_offset: le_u64(bytes, 16),
        log_len: le_u64(bytes, 24),
        max_arrival_ms: le_u64(bytes, 32) as i64,
    };
    if summary.end_offset < summary.base_offset {
        return Err("index end offset precedes its base".into());
    }
    Ok((summary, bytes.get(INDEX_HEADER_LEN..crc_at).unwrap_or_default()))
}

/// Decode and cross-check a segment's `.index` and `.timeindex` files. Every entry must lie
/// inside the segment (`position + batch header ≤ log_len`, offset below `end_offset`), and
/// offsets, positions and times must strictly (times: weakly) increase. Any failure is an
/// `Err` naming the problem; the caller then rebuilds the index from the log.
pub fn decode_index_files(
    offset_file: &[u8],
    time_file: &[u8],
    min_position: u32,
) -> Result<(SegmentSummary, SparseIndex), String> {
    let (s1, offsets) = decode_file(offset_file, OFFSET_INDEX_MAGIC, OFFSET_ENTRY_LEN)?;
    let (s2, times) = decode_file(time_file, TIME_INDEX_MAGIC, TIME_ENTRY_LEN)?;
    if s1 != s2 {
        return Err("offset and time index describe different segments".into());
    }
    if offsets.len() / OFFSET_ENTRY_LEN != times.len() / TIME_ENTRY_LEN {
        return Err("offset and time index hold different numbers of entries".into());
    }
    let span = s1.end_offset - s1.base_offset;
    let mut entries = Vec::with_capacity(offsets.len() / OFFSET_ENTRY_LEN);
    let mut prev: Option<IndexEntry> = None;
    for (o, t) in offsets.chunks_exact(OFFSET_ENTRY_LEN).zip(times.chunks_exact(TIME_ENTRY_LEN)) {
        let e = IndexEntry { rel_offset: le_u32(o, 0), position: le_u32(o, 4), arrival_ms: le_u64(t, 0) as i64 };
        if le_u32(t, 8) != e.rel_offset {
            return Err("offset and time index entries disagree".into());
        }
        if u64::from(e.rel_offset) >= span
            || e.position < min_position
            || u64::from(e.position) + crate::log::batch::BATCH_HEADER_LEN as u64 > s1.log_len
            || e.arrival_ms > s1.max_arrival_ms
        {
            return Err(format!("index entry {e:?} lies outside its segment"));
        }
        if let Some(p) = prev {
            if e.rel_offset <= p.rel_offset || e.position <= p.position || e.arrival_ms < p.arrival_ms {
                return Err(format!("index entry {e:?} does not increase after {p:?}"));
            }
        }
        prev = Some(e);
        entries.push(e);
    }
    Ok((s1, SparseIndex { entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (SparseIndex, SegmentSummary) {
        let mut ix = SparseIndex::new();
        for i in 0..10u32 {
            ix.maybe_add(
                IndexEntry { rel_offset: i * 10, position: 32 + i * 5000, arrival_ms: 100 + i64::from(i) },
                4096,
            );
        }
        (ix, SegmentSummary { base_offset: 1000, end_offset: 1100, log_len: 60_000, max_arrival_ms: 200 })
    }

    #[test]
    fn lookups() {
        let (ix, _) = sample();
        assert_eq!(ix.position_for_offset(0), Some(32));
        assert_eq!(ix.position_for_offset(9), Some(32));
        assert_eq!(ix.position_for_offset(10), Some(5032));
        assert_eq!(ix.position_for_offset(95), Some(32 + 9 * 5000));
        assert_eq!(ix.position_for_time(100), None);
        assert_eq!(ix.position_for_time(101), Some(32));
        assert_eq!(ix.position_for_time(10_000), Some(32 + 9 * 5000));
    }

    #[test]
    fn every_offset_finds_the_last_entry_at_or_before_it() {
        let (ix, _) = sample();
        for rel in 0..200u32 {
            let linear = ix.entries().iter().rev().find(|e| e.rel_offset <= rel).map(|e| e.position);
            assert_eq!(ix.position_for_offset(rel), linear, "rel {rel}");
        }
        assert_eq!(SparseIndex::new().position_for_offset(7), None);
    }

    #[test]
    fn sparse_interval_respected() {
        let mut ix = SparseIndex::new();
        for i in 0..100u32 {
            ix.maybe_add(IndexEntry { rel_offset: i, position: 32 + i * 100, arrival_ms: 0 }, 4096);
        }
        // one entry per 41 batches of 100 bytes (4,100 ≥ 4,096 bytes apart)
        assert_eq!(ix.len(), 3);
    }

    #[test]
    fn file_round_trip_and_damage() {
        let (ix, s) = sample();
        let o = encode_offset_index(&ix, &s);
        let t = encode_time_index(&ix, &s);
        let (s2, ix2) = decode_index_files(&o, &t, 32).unwrap();
        assert_eq!((s2, &ix2), (s, &ix));
        for byte in 0..o.len() {
            let mut bad = o.clone();
            bad[byte] ^= 0x40;
            assert!(decode_index_files(&bad, &t, 32).is_err(), "flip at {byte} undetected");
        }
        for n in 0..o.len() {
            assert!(decode_index_files(&o[..n], &t, 32).is_err());
        }
        let short = SegmentSummary { log_len: 1000, ..s };
        let o = encode_offset_index(&ix, &short);
        let t = encode_time_index(&ix, &short);
        assert!(decode_index_files(&o, &t, 32).is_err(), "entries past log_len accepted");
    }
}
