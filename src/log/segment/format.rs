//! The segment file's own bytes: its name, its 32-byte header, and the paths of its index
//! files (layout in `docs/format.md`).
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `SLSG` |
//! | 4..6 | format version (1) |
//! | 6..8 | reserved (0) |
//! | 8..16 | base offset u64 (the first record's offset; the file is named after it) |
//! | 16..24 | creation time, ms since the epoch |
//! | 24..28 | id of the at-rest key sealed batches use (0: none; see [`crate::at_rest`]) |
//! | 28..32 | CRC-32 of bytes 0..28 |
//!
//! Batches follow the header back to back, their offsets running densely from the base.

use std::path::{Path, PathBuf};

/// Magic bytes that start every segment file.
pub const SEGMENT_MAGIC: [u8; 4] = *b"SLSG";
/// Segment file format version this build writes and reads.
pub const SEGMENT_VERSION: u16 = 1;
/// Bytes of the segment file header.
pub const SEGMENT_HEADER_LEN: u64 = 32;

/// File name of the segment starting at `base`.
pub fn log_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// Parse a segment file name (`<20 digits>.log`) back to its base offset.
pub fn parse_log_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Paths of a segment's three files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPaths {
    /// The `.log` file.
    pub log: PathBuf,
    /// The `.index` file.
    pub offset_index: PathBuf,
    /// The `.timeindex` file.
    pub time_index: PathBuf,
}

impl SegmentPaths {
    /// The paths of segment `base` in `dir`.
    pub fn new(dir: &Path, base: u64) -> SegmentPaths {
        SegmentPaths {
            log: dir.join(log_file_name(base)),
            offset_index: dir.join(format!("{base:020}.index")),
            time_index: dir.join(format!("{base:020}.timeindex")),
        }
    }
}

/// Encode a segment file header (no at-rest key).
pub fn encode_header(base: u64, created_ms: i64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    encode_header_with_key(base, created_ms, 0)
}

/// Encode a segment file header naming the id of the at-rest key its sealed batches use
/// (0: none; see [`crate::at_rest`]).
pub fn encode_header_with_key(base: u64, created_ms: i64, key_id: u32) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(&SEGMENT_MAGIC);
    v.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&base.to_le_bytes());
    v.extend_from_slice(&created_ms.to_le_bytes());
    v.extend_from_slice(&key_id.to_le_bytes());
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    h.copy_from_slice(&v);
    h
}

/// Why a segment header is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Missing, short, or failing its CRC: a torn create, or damage.
    Invalid(String),
    /// Written by a newer format this build cannot read; never truncated or deleted.
    UnsupportedVersion(u16),
}

/// Decode a segment header, returning `(base, created_ms)`.
pub fn decode_header(bytes: &[u8]) -> std::result::Result<(u64, i64), HeaderError> {
    let h = bytes
        .get(..SEGMENT_HEADER_LEN as usize)
        .ok_or_else(|| HeaderError::Invalid(format!("{} bytes, shorter than the header", bytes.len())))?;
    if h.get(..4) != Some(&SEGMENT_MAGIC[..]) {
        return Err(HeaderError::Invalid("bad segment magic".into()));
    }
    let mut a4 = [0u8; 4];
    a4.copy_from_slice(h.get(28..32).unwrap_or(&[0; 4]));
    let stored = u32::from_le_bytes(a4);
    if stored != crc32fast::hash(h.get(..28).unwrap_or_default()) {
        return Err(HeaderError::Invalid("segment header CRC mismatch".into()));
    }
    let version = u16::from_le_bytes([h.get(4).copied().unwrap_or(0), h.get(5).copied().unwrap_or(0)]);
    if version != SEGMENT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    if h.get(6..8) != Some(&[0, 0][..]) {
        return Err(HeaderError::Invalid("reserved segment header bytes are not zero".into()));
    }
    let mut a8 = [0u8; 8];
    a8.copy_from_slice(h.get(8..16).unwrap_or(&[0; 8]));
    let base = u64::from_le_bytes(a8);
    a8.copy_from_slice(h.get(16..24).unwrap_or(&[0; 8]));
    Ok((base, i64::from_le_bytes(a8)))
}

/// The at-rest key id in a segment header whose CRC was checked (0: none).
pub fn header_key_id(bytes: &[u8]) -> u32 {
    let mut a4 = [0u8; 4];
    if let Some(k) = bytes.get(24..28) {
        a4.copy_from_slice(k);
    }
    u32::from_le_bytes(a4)
}
