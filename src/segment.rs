//! One segment: a `<base:020>.log` file of batches, with its sparse index.
//!
//! A segment file starts with a 32-byte header (magic `SLSG`, version, base offset, creation
//! time, CRC), followed by batches whose offsets run densely from the base. The newest segment
//! of a shard is *active* (appended to, read with positional reads up to the committed
//! length); all others are *sealed*: fdatasync'd at the roll, never written again, and read
//! through a memory map loaded on first use and dropped again under memory pressure.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::batch::{self, BatchHeader, FrameError};
use crate::error::{Error, Result};
use crate::index::{self, IndexEntry, SegmentSummary, SparseIndex};
use crate::io::{FileRef, VfsRef};
use crate::record::Record;

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

/// The result of walking a segment's batches.
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

/// Walk every batch of a segment image (header included), checking each fully (CRC, record
/// structure, dense offsets from `base`, non-decreasing arrival times). Stops at the first
/// invalid batch.
pub fn scan(bytes: &[u8], base: u64, index_interval: u32, max_batch_len: u32) -> Scan {
    let mut pos = SEGMENT_HEADER_LEN as usize;
    let mut out = Scan {
        valid_len: SEGMENT_HEADER_LEN.min(bytes.len() as u64),
        end_offset: base,
        max_arrival_ms: i64::MIN,
        index: SparseIndex::new(),
        batches: 0,
        stopped: None,
    };
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        let header = match batch::verify(rest, max_batch_len) {
            Ok(h) => h,
            Err(e) => {
                out.stopped = Some((pos as u64, e));
                break;
            }
        };
        if header.first_offset != out.end_offset {
            out.stopped = Some((
                pos as u64,
                FrameError::BadHeader(format!(
                    "batch starts at offset {}, expected {}",
                    header.first_offset, out.end_offset
                )),
            ));
            break;
        }
        if header.arrival_ms < out.max_arrival_ms {
            out.stopped = Some((pos as u64, FrameError::BadHeader("arrival time went backwards".into())));
            break;
        }
        let (Ok(rel_offset), Ok(position)) = (u32::try_from(header.first_offset - base), u32::try_from(pos)) else {
            out.stopped = Some((pos as u64, FrameError::BadHeader("segment too large".into())));
            break;
        };
        out.index.maybe_add(IndexEntry { rel_offset, position, arrival_ms: header.arrival_ms }, index_interval);
        pos += header.batch_len as usize;
        out.valid_len = pos as u64;
        out.end_offset = header.next_offset();
        out.max_arrival_ms = header.arrival_ms;
        out.batches += 1;
    }
    out
}

/// Loaded state of a sealed segment: its verified index and its memory map.
#[derive(Debug)]
struct Loaded {
    index: SparseIndex,
    map: Bytes,
}

/// A segment of a live shard log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base: u64,
    pub(crate) paths: SegmentPaths,
    pub(crate) created_ms: i64,
    /// One past the newest complete record (sealed: fixed; active: grows after each write).
    pub(crate) end_offset: AtomicU64,
    /// Bytes of complete batches (active: published after each write with `Release`).
    pub(crate) len: AtomicU64,
    /// Arrival of the newest record, `i64::MIN` if unknown (sealed, not loaded) or empty.
    pub(crate) max_arrival_ms: AtomicI64,
    pub(crate) sealed: AtomicBool,
    /// Access tick for the loaded-segment cache.
    pub(crate) last_used: AtomicU64,
    state: Mutex<SegState>,
}

#[derive(Debug)]
enum SegState {
    Active {
        file: FileRef,
        index: SparseIndex,
    },
    /// `known_index`: the index a just-sealed segment already has in memory, used by the
    /// first load instead of reading the index files.
    Sealed {
        loaded: Option<Arc<Loaded>>,
        known_index: Option<SparseIndex>,
    },
}

/// Where to start reading in a segment.
pub(crate) enum ReadSource {
    /// Nothing to read (used when only a segment's summary was wanted).
    Empty,
    /// A sealed segment: its whole verified-on-read memory map and a start position.
    Mapped { map: Bytes, position: u64 },
    /// The active segment: read `[position, len)` with positional reads; `first_read` is how
    /// many bytes the sparse index says the caller's records likely need (a hint).
    File { file: FileRef, position: u64, len: u64, first_read: u64 },
}

impl Segment {
    pub(crate) fn new_active(dir: &Path, base: u64, created_ms: i64, file: FileRef, scan: Option<&Scan>) -> Segment {
        let (len, end, max_arrival, index) = match scan {
            Some(s) => (s.valid_len, s.end_offset, s.max_arrival_ms, s.index.clone()),
            None => (SEGMENT_HEADER_LEN, base, i64::MIN, SparseIndex::new()),
        };
        Segment {
            base,
            paths: SegmentPaths::new(dir, base),
            created_ms,
            end_offset: AtomicU64::new(end),
            len: AtomicU64::new(len),
            max_arrival_ms: AtomicI64::new(max_arrival),
            sealed: AtomicBool::new(false),
            last_used: AtomicU64::new(0),
            state: Mutex::new(SegState::Active { file, index }),
        }
    }

    pub(crate) fn new_sealed(dir: &Path, base: u64, end_offset: u64) -> Segment {
        Segment {
            base,
            paths: SegmentPaths::new(dir, base),
            created_ms: i64::MIN,
            end_offset: AtomicU64::new(end_offset),
            len: AtomicU64::new(0),
            max_arrival_ms: AtomicI64::new(i64::MIN),
            sealed: AtomicBool::new(true),
            last_used: AtomicU64::new(0),
            state: Mutex::new(SegState::Sealed { loaded: None, known_index: None }),
        }
    }

    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub(crate) fn end_offset(&self) -> u64 {
        self.end_offset.load(Ordering::Acquire)
    }

    /// Record a successful append to the active segment. Readers see it once the shard
    /// publishes its high-watermark.
    pub(crate) fn record_append(&self, h: &BatchHeader, position: u64, index_interval: u32) {
        if let SegState::Active { index, .. } = &mut *self.state.lock() {
            if let (Ok(rel_offset), Ok(position)) = (u32::try_from(h.first_offset - self.base), u32::try_from(position))
            {
                index.maybe_add(IndexEntry { rel_offset, position, arrival_ms: h.arrival_ms }, index_interval);
            }
        }
        self.max_arrival_ms.store(h.arrival_ms, Ordering::Release);
        self.len.store(position + u64::from(h.batch_len), Ordering::Release);
        self.end_offset.store(h.next_offset(), Ordering::Release);
    }

    /// The summary written into the index files.
    pub(crate) fn summary(&self) -> SegmentSummary {
        SegmentSummary {
            base_offset: self.base,
            end_offset: self.end_offset(),
            log_len: self.len.load(Ordering::Acquire),
            max_arrival_ms: self.max_arrival_ms.load(Ordering::Acquire),
        }
    }

    /// The active segment's index, encoded as the two index files.
    pub(crate) fn encoded_index_files(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let summary = self.summary();
        match &*self.state.lock() {
            SegState::Active { index, .. } => {
                Some((index::encode_offset_index(index, &summary), index::encode_time_index(index, &summary)))
            }
            SegState::Sealed { loaded: Some(l), .. } => {
                Some((index::encode_offset_index(&l.index, &summary), index::encode_time_index(&l.index, &summary)))
            }
            SegState::Sealed { loaded: None, .. } => None,
        }
    }

    /// Turn the active segment into a sealed one (after its file was synced). Its index
    /// stays loaded; the map is created on the next read.
    pub(crate) fn seal(&self) {
        let mut st = self.state.lock();
        if let SegState::Active { index, .. } = &mut *st {
            let index = std::mem::take(index);
            *st = SegState::Sealed { loaded: None, known_index: Some(index) };
        }
        self.sealed.store(true, Ordering::Release);
    }

    /// Drop a sealed segment's map and index (the cache decided to). Readers holding slices
    /// keep their data.
    pub(crate) fn unload(&self) -> bool {
        match &mut *self.state.lock() {
            SegState::Sealed { loaded, .. } => loaded.take().is_some(),
            SegState::Active { .. } => false,
        }
    }

    pub(crate) fn is_loaded(&self) -> bool {
        matches!(&*self.state.lock(), SegState::Sealed { loaded: Some(_), .. })
    }

    /// The number of index entries (for inspection).
    pub(crate) fn index_len(&self) -> Option<usize> {
        match &*self.state.lock() {
            SegState::Active { index, .. } => Some(index.len()),
            SegState::Sealed { loaded: Some(l), .. } => Some(l.index.len()),
            SegState::Sealed { known_index: Some(ix), .. } => Some(ix.len()),
            SegState::Sealed { .. } => None,
        }
    }

    /// Where to read `offset` (≥ base) from, loading a sealed segment if needed. Returns
    /// `true` as the second value if this call loaded it (for the cache).
    pub(crate) fn source_for_offset(
        &self,
        vfs: &VfsRef,
        offset: u64,
        until: u64,
        cfg: &LoadConfig,
    ) -> Result<(ReadSource, bool)> {
        let rel = |o: u64| u32::try_from(o.saturating_sub(self.base)).unwrap_or(u32::MAX);
        let (src, fresh) = self.source(vfs, cfg, |ix| ix.position_for_offset(rel(offset)))?;
        let src = match src {
            ReadSource::File { file, position, len, .. } => {
                // The batch holding `until` starts within about one index interval after the
                // entry at or before it.
                let end = match &*self.state.lock() {
                    SegState::Active { index, .. } => index.position_for_offset(rel(until)).map(u64::from),
                    SegState::Sealed { .. } => None,
                };
                let hint = end.map_or(0, |e| e.saturating_sub(position)) + 2 * u64::from(cfg.index_interval_bytes);
                ReadSource::File { file, position, len, first_read: hint }
            }
            other => other,
        };
        Ok((src, fresh))
    }

    /// Where to scan for the first record arriving at or after `arrival_ms`.
    pub(crate) fn source_for_time(
        &self,
        vfs: &VfsRef,
        arrival_ms: i64,
        cfg: &LoadConfig,
    ) -> Result<(ReadSource, bool)> {
        self.source(vfs, cfg, |ix| ix.position_for_time(arrival_ms))
    }

    fn source(
        &self,
        vfs: &VfsRef,
        cfg: &LoadConfig,
        find: impl Fn(&SparseIndex) -> Option<u32>,
    ) -> Result<(ReadSource, bool)> {
        let mut st = self.state.lock();
        match &mut *st {
            SegState::Active { file, index } => {
                let position = find(index).map_or(SEGMENT_HEADER_LEN, u64::from);
                Ok((
                    ReadSource::File {
                        file: Arc::clone(file),
                        position,
                        len: self.len.load(Ordering::Acquire),
                        first_read: 0,
                    },
                    false,
                ))
            }
            SegState::Sealed { loaded, known_index } => {
                let mut fresh = false;
                let l = match loaded {
                    Some(l) => Arc::clone(l),
                    None => {
                        let l = Arc::new(self.load(vfs, cfg, known_index.take())?);
                        *loaded = Some(Arc::clone(&l));
                        fresh = true;
                        l
                    }
                };
                let position = find(&l.index).map_or(SEGMENT_HEADER_LEN, u64::from);
                Ok((ReadSource::Mapped { map: l.map.clone(), position }, fresh))
            }
        }
    }

    /// Make sure a sealed segment's summary (max arrival time, length) is known.
    pub(crate) fn ensure_loaded(&self, vfs: &VfsRef, cfg: &LoadConfig) -> Result<bool> {
        self.source(vfs, cfg, |_| None).map(|(_, fresh)| fresh)
    }

    /// Map a sealed segment and load (or rebuild) its index. The header is checked; the
    /// index files are used if they pass every check and describe exactly this file,
    /// otherwise the whole segment is scanned (which verifies every batch) and the index
    /// files rewritten. Damage in a sealed segment is `Corrupt`, never cut off.
    fn load(&self, vfs: &VfsRef, cfg: &LoadConfig, known_index: Option<SparseIndex>) -> Result<Loaded> {
        let log = &self.paths.log;
        let file = vfs.open_read(log).map_err(|e| Error::io("open", log, e))?;
        let map = file.map().map_err(|e| Error::io("mmap", log, e))?;
        match decode_header(&map) {
            Ok((base, _)) if base == self.base => {}
            Ok((base, _)) => {
                return Err(Error::corrupt(
                    log,
                    8,
                    format!("segment header names base {base}, file name {}", self.base),
                ))
            }
            Err(HeaderError::Invalid(why)) => return Err(Error::corrupt(log, 0, why)),
            Err(HeaderError::UnsupportedVersion(v)) => {
                return Err(Error::corrupt(log, 4, format!("unsupported segment format version {v}")))
            }
        }
        let expected_end = self.end_offset();
        let index = match known_index.or_else(|| self.index_from_files(vfs, map.len() as u64, expected_end)) {
            Some(ix) => ix,
            None => {
                let s = scan(&map, self.base, cfg.index_interval_bytes, cfg.max_batch_bytes);
                if let Some((pos, e)) = s.stopped {
                    return Err(Error::corrupt(log, pos, format!("sealed segment: {e}")));
                }
                if s.end_offset != expected_end {
                    return Err(Error::corrupt(
                        log,
                        s.valid_len,
                        format!(
                            "sealed segment ends at offset {}, the next segment starts at {expected_end}",
                            s.end_offset
                        ),
                    ));
                }
                self.max_arrival_ms.store(s.max_arrival_ms, Ordering::Release);
                let summary = SegmentSummary {
                    base_offset: self.base,
                    end_offset: s.end_offset,
                    log_len: s.valid_len,
                    max_arrival_ms: s.max_arrival_ms,
                };
                write_index_files(vfs, &self.paths, &s.index, &summary);
                s.index
            }
        };
        self.len.store(map.len() as u64, Ordering::Release);
        Ok(Loaded { index, map })
    }

    /// The index from the segment's index files, if they pass every check and describe
    /// exactly this file.
    fn index_from_files(&self, vfs: &VfsRef, log_len: u64, expected_end: u64) -> Option<SparseIndex> {
        let o = read_all(vfs, &self.paths.offset_index)?;
        let t = read_all(vfs, &self.paths.time_index)?;
        let (s, ix) = index::decode_index_files(&o, &t, SEGMENT_HEADER_LEN as u32).ok()?;
        if s.base_offset != self.base || s.end_offset != expected_end || s.log_len != log_len {
            return None;
        }
        self.max_arrival_ms.store(s.max_arrival_ms, Ordering::Release);
        Some(ix)
    }
}

/// Settings a segment needs to load itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadConfig {
    pub(crate) index_interval_bytes: u32,
    pub(crate) max_batch_bytes: u32,
    /// Id of the at-rest key to name in new segment headers (0: none).
    pub(crate) key_id: u32,
}

/// Read a whole (index) file; `None` if missing, unreadable or over 64 MiB.
pub(crate) fn read_all(vfs: &VfsRef, path: &Path) -> Option<Vec<u8>> {
    let f = vfs.open_read(path).ok()?;
    let len = usize::try_from(f.len().ok()?).ok()?;
    if len > 64 * 1024 * 1024 {
        return None;
    }
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0).ok()?;
    Some(buf)
}

/// Write a segment's index files. They are a cache: a failure here loses nothing (the index
/// is rebuilt from the log when the files are missing or fail their checks), so it is not
/// reported — but a half-written pair is removed, so nothing reports it as damage.
pub(crate) fn write_index_files(vfs: &VfsRef, paths: &SegmentPaths, ix: &SparseIndex, s: &SegmentSummary) {
    write_index_pair(vfs, paths, &index::encode_offset_index(ix, s), &index::encode_time_index(ix, s));
}

/// Write both encoded index files; on any failure remove both (best effort).
pub(crate) fn write_index_pair(vfs: &VfsRef, paths: &SegmentPaths, offset_file: &[u8], time_file: &[u8]) {
    let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        let f = vfs.create(path)?;
        f.write_all_at(bytes, 0)?;
        f.sync_data()
    };
    let ok = write(&paths.offset_index, offset_file).and_then(|()| write(&paths.time_index, time_file));
    if ok.is_err() {
        let _ = vfs.remove_file(&paths.offset_index);
        let _ = vfs.remove_file(&paths.time_index);
    }
}
/// Decode records from a run of whole batches in `chunk` (which starts at a batch boundary),
/// CRC-checking every batch. Stops at `hw`, after `max_records`, once `max_bytes` of data were
/// returned (at least one record is always returned if any exists), or at the end of the
/// chunk. A batch cut off by the chunk's end is left for the next chunk. Returns bytes
/// consumed and whether a limit was hit.
pub(crate) fn decode_chunk(
    chunk: &Bytes,
    path: &Path,
    chunk_position: u64,
    from: u64,
    hw: u64,
    limits: &mut ReadLimits,
    out: &mut Vec<Record>,
) -> Result<ChunkOutcome> {
    let mut pos = 0usize;
    let mut end_seen = None;
    while pos < chunk.len() {
        let rest = chunk.get(pos..).unwrap_or_default();
        let at = chunk_position + pos as u64;
        let header = match batch::decode_header(rest, limits.max_batch_bytes) {
            Ok(h) => h,
            Err(FrameError::Truncated { .. }) => {
                return Ok(ChunkOutcome { consumed: pos, partial: true, done: false, end_seen })
            }
            Err(e) => return Err(Error::corrupt(path, at, e.to_string())),
        };
        if header.first_offset >= hw {
            return Ok(ChunkOutcome { consumed: pos, partial: false, done: true, end_seen });
        }
        let len = header.batch_len as usize;
        if rest.len() < len {
            return Ok(ChunkOutcome { consumed: pos, partial: true, done: false, end_seen });
        }
        // Records come out dense: a wanted batch may not start past the next offset due (a
        // forged or stale index can point into the middle of a segment).
        let due = out.last().map_or(from, |r| r.offset.saturating_add(1));
        if header.next_offset() > from && header.first_offset > due {
            return Err(Error::corrupt(
                path,
                at,
                format!("batch starts at offset {}, but the read continues at offset {due}", header.first_offset),
            ));
        }
        if header.next_offset() > from {
            let mut bytes = chunk.slice(pos..pos + len);
            batch::check_crc(&bytes).map_err(|e| Error::corrupt(path, at, e.to_string()))?;
            let mut header = header;
            if batch::is_sealed(&bytes) {
                (bytes, header) = unseal(&bytes, path, at, limits)?;
            }
            let want =
                limits.max_records.min(usize::try_from(hw - header.first_offset.max(from)).unwrap_or(usize::MAX));
            let take_first = out.is_empty();
            let d = batch::decode_records(&bytes, &header, from, want, &mut limits.bytes_left, take_first, out)
                .map_err(|e| Error::corrupt(path, at, e.to_string()))?;
            limits.max_records = limits.max_records.saturating_sub(d.added);
            if d.out_of_bytes || limits.exhausted() {
                return Ok(ChunkOutcome { consumed: pos + len, partial: false, done: true, end_seen });
            }
        }
        end_seen = Some(header.next_offset());
        pos += len;
    }
    Ok(ChunkOutcome { consumed: pos, partial: false, done: false, end_seen })
}

/// Open a sealed batch with the read's at-rest key: the plaintext batch and its header.
/// Without a key the records are out of reach (`KMSNotFoundException`); a key that does not
/// open them is `KMSAccessDeniedException` (the CRC already passed, so the bytes are what
/// was written).
fn unseal(bytes: &Bytes, path: &Path, at: u64, limits: &ReadLimits) -> Result<(Bytes, batch::BatchHeader)> {
    let Some(key) = &limits.key else {
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

/// What [`decode_chunk`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkOutcome {
    pub(crate) consumed: usize,
    /// A batch runs past the chunk's end.
    pub(crate) partial: bool,
    /// A limit or the high-watermark was reached.
    pub(crate) done: bool,
    /// One past the last record of the last whole batch walked, if any.
    pub(crate) end_seen: Option<u64>,
}

/// What a read may still return.
#[derive(Debug, Clone)]
pub(crate) struct ReadLimits {
    pub(crate) max_records: usize,
    pub(crate) bytes_left: usize,
    pub(crate) max_batch_bytes: u32,
    /// The at-rest key that opens sealed batches.
    pub(crate) key: Option<std::sync::Arc<crate::at_rest::AtRestKey>>,
}

impl ReadLimits {
    pub(crate) fn exhausted(&self) -> bool {
        self.max_records == 0 || self.bytes_left == 0
    }
}
