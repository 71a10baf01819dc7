//! Read-only examination of data directories: what `shardlog inspect` shows and what
//! `shardlog verify` judges.
//!
//! [`examine`] walks a directory tree; every directory holding segment files
//! (`<20 digits>.log`) is a shard log. Nothing is opened for writing, locked, created, cut or
//! rebuilt: each segment is read through [`Vfs`](crate::io::Vfs) (`map()`), every batch is
//! fully checked with the same decoders the engine uses (CRC, structure, dense offsets from
//! the base, non-decreasing arrival times), the `.index`/`.timeindex` files are decoded with
//! [`index::decode_index_files`] and every entry is compared with the batch it points at, and
//! the `CLEAN` and `HORIZON` files are decoded.
//!
//! Findings are [`Problem`]s, each naming a file, a byte position in it and what is wrong,
//! with a [`ProblemKind`] that says whether it is damage ([`ProblemKind::is_error`]) or a state
//! the next open repairs by itself (a torn tail of the newest segment, a stale cache file).
//! How the newest segment is judged mirrors recovery: its tail may be torn by a crash unless a
//! matching `CLEAN` marker vouches for its whole length; damage in a sealed segment is always
//! corruption of acknowledged data.
//!
//! The examination never panics on any bytes and never allocates based on a length read from
//! a file before checking it (the decoders check lengths first; whole-file reads are bounded).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::VfsRef;
use crate::log::batch::{self, BatchHeader, FrameError};
use crate::log::index::{self, IndexEntry, SegmentSummary, SparseIndex};
use crate::log::marker::{self, CleanMarker};
use crate::log::segment::{self, HeaderError, SegmentPaths, SEGMENT_HEADER_LEN};
use crate::log::segment::{BatchCursor, CursorErrorKind, Verify};

/// The index interval the engine uses by default (`LogConfig::default()`).
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
/// Index files larger than this are not read (the engine ignores them too).
const MAX_INDEX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Marker files larger than this are rejected unread (no marker file is that large).
const MAX_MARKER_FILE_BYTES: u64 = 4096;
/// Directory levels below the root that are searched for shard logs.
const MAX_DEPTH: usize = 32;
/// Mismatching entries reported per index file (the rest are counted).
const MAX_ENTRY_PROBLEMS: usize = 3;

/// How to examine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// The index interval the in-memory index would be built with (the log's
    /// `LogConfig::index_interval_bytes`; it is not recorded on disk). Only the reported count
    /// of in-memory entries depends on it.
    pub index_interval_bytes: u32,
    /// The largest batch accepted. Defaults to the largest any build writes, so a log written
    /// with any configuration is accepted.
    pub max_batch_bytes: u32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES, max_batch_bytes: batch::MAX_BATCH_LEN }
    }
}

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The newest segment ends in a torn or invalid batch, or a newest segment was torn while
    /// being created: normal after a crash; the next open cuts it off (or removes it).
    TornTail,
    /// A cache or marker file the next open ignores and replaces (index files of the active
    /// segment without a matching `CLEAN` marker, an unusable `CLEAN` marker).
    Stale,
    /// Damaged data: a batch or header failing its checks where a crash cannot explain it (a
    /// sealed segment, or a region a `CLEAN` marker vouches for), or a damaged `HORIZON`.
    Corrupt,
    /// Records missing or duplicated between segments (or before the first one).
    Gap,
    /// A `.index`/`.timeindex` file that fails its checks or disagrees with the log.
    Index,
    /// A format version this build does not know.
    UnsupportedVersion,
    /// A file or directory that could not be read.
    Unreadable,
}

impl ProblemKind {
    /// True for problems that mean damage or loss; false for states the next open repairs.
    pub fn is_error(self) -> bool {
        !matches!(self, ProblemKind::TornTail | ProblemKind::Stale)
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::TornTail => "torn tail (recoverable)",
            ProblemKind::Stale => "stale (recoverable)",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Gap => "gap",
            ProblemKind::Index => "index",
            ProblemKind::UnsupportedVersion => "unsupported version",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// Byte position in the file where the problem starts (0 when it concerns the whole file).
    pub byte_offset: u64,
    /// Its kind.
    pub kind: ProblemKind,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Problem {
    /// `<file>: byte <offset>: <kind>: <what>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: byte {}: {}: {}", self.path.display(), self.byte_offset, self.kind.name(), self.what)
    }
}

fn problem(path: &Path, byte_offset: u64, kind: ProblemKind, what: impl Into<String>) -> Problem {
    Problem { path: path.to_path_buf(), byte_offset, kind, what: what.into() }
}

/// The state of a small metadata file (`CLEAN`, `HORIZON`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerState<T> {
    /// No such file.
    Absent,
    /// Present and valid.
    Present(T),
    /// Present but unusable: why.
    Invalid(String),
}

impl<T> MarkerState<T> {
    /// The value, if present and valid.
    pub fn value(&self) -> Option<&T> {
        match self {
            MarkerState::Present(v) => Some(v),
            MarkerState::Absent | MarkerState::Invalid(_) => None,
        }
    }
}

/// How a segment's index files relate to its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexStatus {
    /// Neither file exists (they are a cache; the engine builds the index from the log).
    Absent,
    /// Both decode, describe exactly this log, and every entry points at the batch it names.
    Consistent,
    /// Both decode and every entry is right, but they describe an older length of the log
    /// (normal for the active segment after appends since a clean close).
    Stale,
    /// Missing one of the pair, failing their own checks, or disagreeing with the log.
    Bad,
}

/// A segment's `.index` and `.timeindex` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// The `.index` file exists.
    pub offset_file_present: bool,
    /// The `.timeindex` file exists.
    pub time_file_present: bool,
    /// Entries in the files, if they decode.
    pub file_entries: Option<usize>,
    /// The segment summary in their header, if they decode.
    pub summary: Option<SegmentSummary>,
    /// How they relate to the log.
    pub status: IndexStatus,
}

/// One segment of a shard log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// The `.log` file.
    pub path: PathBuf,
    /// Base offset (from the file name).
    pub base_offset: u64,
    /// One past the last record of the valid batches (from the scan).
    pub end_offset: u64,
    /// File length in bytes.
    pub bytes: u64,
    /// Bytes from the file start through the last valid batch.
    pub valid_bytes: u64,
    /// Valid batches.
    pub batches: u64,
    /// Records in the valid batches.
    pub records: u64,
    /// Arrival time of the first valid batch.
    pub first_arrival_ms: Option<i64>,
    /// Arrival time of the last valid batch.
    pub last_arrival_ms: Option<i64>,
    /// Creation time from the segment header, if the header is valid.
    pub created_ms: Option<i64>,
    /// True for the newest (active) segment: the one the next open appends to.
    pub active: bool,
    /// True if a trim horizon lies at or past the next segment's base: recovery deletes it.
    pub below_horizon: bool,
    /// Entries the in-memory index built from the scan would have (at the examined interval).
    pub scan_index_entries: usize,
    /// The index files.
    pub index: IndexReport,
    /// True if the walk reached the end of the file (stepping over damaged batches whose
    /// length field was intact), so `end_offset` is known.
    pub complete: bool,
}

/// One shard log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardReport {
    /// The directory.
    pub dir: PathBuf,
    /// Its segments, oldest first.
    pub segments: Vec<SegmentReport>,
    /// The clean-shutdown marker.
    pub clean: MarkerState<CleanMarker>,
    /// True if the `CLEAN` marker describes the active segment exactly (the next open skips
    /// recovery).
    pub clean_matches: bool,
    /// The trim horizon file.
    pub horizon: MarkerState<u64>,
    /// Problems found in this shard.
    pub problems: Vec<Problem>,
}

impl ShardReport {
    /// The lowest offset the log retains (what `ShardLog::start_offset` would report).
    pub fn start_offset(&self) -> u64 {
        let first = self.segments.iter().find(|s| !s.below_horizon).map_or(0, |s| s.base_offset);
        self.horizon.value().copied().unwrap_or(0).max(first)
    }

    /// One past the last valid record of the active segment.
    pub fn end_offset(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.end_offset)
    }

    /// Bytes of all segment files.
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Records in all valid batches.
    pub fn total_records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// Valid batches in all segments.
    pub fn total_batches(&self) -> u64 {
        self.segments.iter().map(|s| s.batches).sum()
    }
}

/// Everything found under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirReport {
    /// The directory examined.
    pub root: PathBuf,
    /// Every shard log directory found, in path order.
    pub shards: Vec<ShardReport>,
    /// Problems outside any shard (unreadable directories).
    pub problems: Vec<Problem>,
}

impl DirReport {
    /// Every problem, shard by shard, then those outside shards.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.shards.iter().flat_map(|s| s.problems.iter()).chain(self.problems.iter())
    }

    /// True if any problem is an error (not merely recoverable).
    pub fn has_errors(&self) -> bool {
        self.all_problems().any(|p| p.kind.is_error())
    }
}

/// Examine `path` and every directory below it with the default options.
pub fn examine(vfs: &VfsRef, path: &Path) -> Result<DirReport> {
    examine_with(vfs, path, &CheckOptions::default())
}

/// Examine `path` and every directory below it. Fails only if `path` itself cannot be listed;
/// anything unreadable below it is reported as a problem.
pub fn examine_with(vfs: &VfsRef, path: &Path, opts: &CheckOptions) -> Result<DirReport> {
    let entries = vfs.read_dir(path).map_err(|e| Error::io("read_dir", path, e))?;
    let mut report = DirReport { root: path.to_path_buf(), shards: Vec::new(), problems: Vec::new() };
    walk(vfs, path, entries, 0, opts, &mut report);
    Ok(report)
}

fn walk(
    vfs: &VfsRef,
    dir: &Path,
    entries: Vec<crate::io::DirEntry>,
    depth: usize,
    opts: &CheckOptions,
    report: &mut DirReport,
) {
    let bases: Vec<u64> =
        entries.iter().filter(|e| !e.is_dir).filter_map(|e| segment::parse_log_file_name(&e.name)).collect();
    if !bases.is_empty() {
        report.shards.push(examine_shard(vfs, dir, bases, opts));
    }
    for e in entries.iter().filter(|e| e.is_dir) {
        let sub = dir.join(&e.name);
        if depth >= MAX_DEPTH {
            report.problems.push(problem(&sub, 0, ProblemKind::Unreadable, "directory nested too deep; not examined"));
            continue;
        }
        match vfs.read_dir(&sub) {
            Ok(children) => walk(vfs, &sub, children, depth + 1, opts, report),
            Err(e) => report.problems.push(problem(&sub, 0, ProblemKind::Unreadable, format!("cannot list: {e}"))),
        }
    }
}

/// Read a whole file if it is at most `max` bytes. `Ok(None)` if it does not exist.
fn read_bounded(vfs: &VfsRef, path: &Path, max: u64) -> std::result::Result<Option<Vec<u8>>, String> {
    let f = match vfs.open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let len = f.len().map_err(|e| format!("cannot stat: {e}"))?;
    if len > max {
        return Err(format!("{len} bytes, larger than any valid file of its kind ({max})"));
    }
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| "too large".to_string())?];
    f.read_exact_at(&mut buf, 0).map_err(|e| format!("cannot read: {e}"))?;
    Ok(Some(buf))
}

/// The version field (bytes 4..6) of a marker or index file whose magic is `magic`, if it
/// has that magic and a version other than `known`.
fn unknown_version(bytes: &[u8], magic: &[u8; 4], known: u16) -> Option<u16> {
    if bytes.get(..4) != Some(&magic[..]) {
        return None;
    }
    let v = u16::from_le_bytes([*bytes.get(4)?, *bytes.get(5)?]);
    (v != known).then_some(v)
}

const CLEAN_MAGIC: [u8; 4] = *b"SLCM";
const HORIZON_MAGIC: [u8; 4] = *b"SLHZ";
const MARKER_VERSION: u16 = 1;

fn examine_marker<T>(
    vfs: &VfsRef,
    path: &Path,
    magic: &[u8; 4],
    decode: impl Fn(&[u8]) -> std::result::Result<T, String>,
) -> (MarkerState<T>, Option<(ProblemKind, String)>) {
    match read_bounded(vfs, path, MAX_MARKER_FILE_BYTES) {
        Ok(None) => (MarkerState::Absent, None),
        Ok(Some(bytes)) => match decode(&bytes) {
            Ok(v) => (MarkerState::Present(v), None),
            Err(why) => {
                let kind = if unknown_version(&bytes, magic, MARKER_VERSION).is_some() {
                    ProblemKind::UnsupportedVersion
                } else {
                    ProblemKind::Corrupt
                };
                (MarkerState::Invalid(why.clone()), Some((kind, why)))
            }
        },
        Err(why) => (MarkerState::Invalid(why.clone()), Some((ProblemKind::Unreadable, why))),
    }
}

fn examine_shard(vfs: &VfsRef, dir: &Path, mut bases: Vec<u64>, opts: &CheckOptions) -> ShardReport {
    bases.sort_unstable();
    bases.dedup();
    let mut problems = Vec::new();

    let horizon_path = dir.join(marker::HORIZON_FILE);
    let (horizon, hp) = examine_marker(vfs, &horizon_path, &HORIZON_MAGIC, marker::decode_horizon);
    if let Some((kind, why)) = hp {
        problems.push(problem(&horizon_path, 0, kind, format!("trim horizon file: {why} (the next open fails)")));
    }
    let clean_path = dir.join(marker::CLEAN_FILE);
    let (clean, cp) = examine_marker(vfs, &clean_path, &CLEAN_MAGIC, CleanMarker::decode);
    if let Some((kind, why)) = cp {
        // Recovery ignores an unusable marker and scans instead.
        let kind = if kind == ProblemKind::Unreadable { kind } else { ProblemKind::Stale };
        problems.push(problem(&clean_path, 0, kind, format!("clean marker: {why} (ignored: the next open scans)")));
    }

    // Like recovery: newest segments torn while being created (no valid header and no bytes
    // after it) are removed at open, and the newest one before them is active.
    let torn = bases.iter().rev().take_while(|&&b| torn_creation(vfs, &SegmentPaths::new(dir, b).log)).count();
    let live_count = bases.len() - torn;
    let active_idx = live_count.checked_sub(1);

    let h = horizon.value().copied();
    let mut segments = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let ctx = SegCtx {
            base,
            active: Some(i) == active_idx,
            torn_newer: i >= live_count,
            below_horizon: matches!((h, next_base), (Some(h), Some(n)) if n <= h),
            clean: clean.value().copied().filter(|m| m.base == base),
        };
        segments.push(examine_segment(vfs, dir, &ctx, opts, &mut problems));
    }

    let clean_matches = match (clean.value(), active_idx.and_then(|i| segments.get(i))) {
        (Some(m), Some(s)) => m.base == s.base_offset && m.len == s.bytes,
        _ => false,
    };
    if let (Some(m), Some(s)) = (clean.value(), active_idx.and_then(|i| segments.get(i))) {
        let walked_clean = s.complete && s.valid_bytes == s.bytes;
        if clean_matches && walked_clean && m.end_offset != s.end_offset {
            problems.push(problem(
                &clean_path,
                0,
                ProblemKind::Corrupt,
                format!(
                    "clean marker says the active segment ends at offset {} (byte {}), the log ends at offset {} \
                     (byte {})",
                    m.end_offset, m.len, s.end_offset, s.valid_bytes
                ),
            ));
        } else if !clean_matches {
            problems.push(problem(
                &clean_path,
                0,
                ProblemKind::Stale,
                format!(
                    "clean marker describes segment {} of {} bytes, the active segment is {} of {} bytes (ignored: \
                     the next open scans)",
                    m.base, m.len, s.base_offset, s.bytes
                ),
            ));
        }
    }

    check_continuity(segments.get(..live_count).unwrap_or_default(), h, &mut problems);
    if let (Some(h), Some(active)) = (h, active_idx.and_then(|i| segments.get(i))) {
        if h > active.base_offset {
            problems.push(problem(
                &horizon_path,
                0,
                ProblemKind::Corrupt,
                format!("trim horizon {h} lies past the active segment's base {}", active.base_offset),
            ));
        }
    }
    ShardReport { dir: dir.to_path_buf(), segments, clean, clean_matches, horizon, problems }
}

/// True if the segment at `path` has no valid header and nothing after it: a roll interrupted
/// before the header was durable (recovery removes such a newest segment).
fn torn_creation(vfs: &VfsRef, path: &Path) -> bool {
    let Ok(f) = vfs.open_read(path) else { return false };
    let Ok(len) = f.len() else { return false };
    if len > SEGMENT_HEADER_LEN {
        return false;
    }
    let mut head = vec![0u8; usize::try_from(len).unwrap_or(0)];
    if f.read_exact_at(&mut head, 0).is_err() {
        return false;
    }
    matches!(segment::decode_header(&head), Err(HeaderError::Invalid(_)))
}

/// Gaps and overlaps between consecutive segments, and before the first retained one.
fn check_continuity(segs: &[SegmentReport], horizon: Option<u64>, out: &mut Vec<Problem>) {
    let live: Vec<&SegmentReport> = segs.iter().filter(|s| !s.below_horizon).collect();
    if let Some(first) = live.first() {
        let start = horizon.unwrap_or(0);
        if first.base_offset > start {
            let since = if horizon.is_some() { "the trim horizon" } else { "offset 0 (no trim horizon)" };
            out.push(problem(
                &first.path,
                0,
                ProblemKind::Gap,
                format!(
                    "the oldest segment starts at offset {}, but the log starts at {since} {start}: offsets \
                     {start}..{} are missing",
                    first.base_offset, first.base_offset
                ),
            ));
        }
    }
    for pair in live.windows(2) {
        let [a, b] = pair else { continue };
        if !a.complete {
            // Its end offset is not known; its damage is reported already.
            continue;
        }
        if a.end_offset < b.base_offset {
            out.push(problem(
                &b.path,
                0,
                ProblemKind::Gap,
                format!(
                    "the previous segment {} ends at offset {}, this one starts at {}: offsets {}..{} are missing",
                    file_name(&a.path),
                    a.end_offset,
                    b.base_offset,
                    a.end_offset,
                    b.base_offset
                ),
            ));
        } else if a.end_offset > b.base_offset {
            out.push(problem(
                &b.path,
                0,
                ProblemKind::Gap,
                format!(
                    "overlap: the previous segment {} ends at offset {}, this one starts at {}: offsets {}..{} are \
                     in both",
                    file_name(&a.path),
                    a.end_offset,
                    b.base_offset,
                    b.base_offset,
                    a.end_offset
                ),
            ));
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// What a segment's examination needs to know about its place in the shard.
struct SegCtx {
    base: u64,
    /// The segment the next open appends to (its tail may be torn).
    active: bool,
    /// A newer segment torn while being created (recovery removes it).
    torn_newer: bool,
    below_horizon: bool,
    /// The `CLEAN` marker, if it names this segment.
    clean: Option<CleanMarker>,
}

fn empty_index_report(vfs: &VfsRef, paths: &SegmentPaths) -> IndexReport {
    IndexReport {
        offset_file_present: vfs.exists(&paths.offset_index),
        time_file_present: vfs.exists(&paths.time_index),
        file_entries: None,
        summary: None,
        status: IndexStatus::Absent,
    }
}

fn examine_segment(
    vfs: &VfsRef,
    dir: &Path,
    ctx: &SegCtx,
    opts: &CheckOptions,
    problems: &mut Vec<Problem>,
) -> SegmentReport {
    let paths = SegmentPaths::new(dir, ctx.base);
    let log = &paths.log;
    let mut rep = SegmentReport {
        path: log.clone(),
        base_offset: ctx.base,
        end_offset: ctx.base,
        bytes: 0,
        valid_bytes: 0,
        batches: 0,
        records: 0,
        first_arrival_ms: None,
        last_arrival_ms: None,
        created_ms: None,
        active: ctx.active,
        below_horizon: ctx.below_horizon,
        scan_index_entries: 0,
        index: empty_index_report(vfs, &paths),
        complete: false,
    };
    let map = match segment_bytes(vfs, log, ctx.active) {
        Ok(m) => m,
        Err(e) => {
            problems.push(problem(log, 0, ProblemKind::Unreadable, format!("cannot read the segment: {e}")));
            return rep;
        }
    };
    let bytes: &[u8] = &map;
    rep.bytes = bytes.len() as u64;
    rep.valid_bytes = SEGMENT_HEADER_LEN.min(rep.bytes);

    if ctx.torn_newer {
        problems.push(problem(
            log,
            0,
            ProblemKind::TornTail,
            format!(
                "segment of {} bytes has no valid header: a roll torn by a crash; the next open removes it",
                rep.bytes
            ),
        ));
        return rep;
    }
    // Damage the next open would cut off silently is a torn tail only where a crash can
    // explain it: in the active segment, past what a clean close made durable.
    let vouched_len = ctx.clean.filter(|m| m.len == rep.bytes).map_or(0, |m| m.len);
    let tail_kind = |pos: u64| {
        if ctx.active && pos >= vouched_len {
            ProblemKind::TornTail
        } else {
            ProblemKind::Corrupt
        }
    };
    let where_ = if ctx.active { "active segment" } else { "sealed segment" };

    match segment::decode_header(bytes) {
        Ok((b, created)) if b == ctx.base => rep.created_ms = Some(created),
        Ok((b, _)) => problems.push(problem(
            log,
            8,
            ProblemKind::Corrupt,
            format!("segment header names base offset {b}, the file name says {}", ctx.base),
        )),
        Err(HeaderError::UnsupportedVersion(v)) => {
            problems.push(problem(
                log,
                4,
                ProblemKind::UnsupportedVersion,
                format!("segment format version {v} is not known to this build (knows {})", segment::SEGMENT_VERSION),
            ));
            return rep;
        }
        Err(HeaderError::Invalid(why)) => {
            let what = if ctx.active && rep.bytes > SEGMENT_HEADER_LEN {
                format!(
                    "{where_} header: {why}, with {} bytes after it: the next open would delete this segment",
                    rep.bytes - SEGMENT_HEADER_LEN
                )
            } else {
                format!("{where_} header: {why}")
            };
            problems.push(problem(log, 0, ProblemKind::Corrupt, what));
        }
    }

    // The index files, decoded first so every entry can be compared while walking.
    let (index_report, load) = load_index_files(vfs, &paths);
    rep.index = index_report;
    let file_entries: &[IndexEntry] = match &load {
        IndexLoad::Decoded { index, .. } => index.entries(),
        IndexLoad::Absent | IndexLoad::Bad { .. } => &[],
    };

    let mut walk = Walk::new(ctx.base, file_entries);
    let mut at = SEGMENT_HEADER_LEN as usize;
    // The offset the next batch must start at; after stepping over damage only a lower bound
    // (`rep.end_offset`) is known.
    let mut expect = Some(ctx.base);
    let mut last_arrival = i64::MIN;
    let mut complete = true;
    loop {
        let mut cursor = BatchCursor::new(bytes, 0, at, Verify::Full, opts.max_batch_bytes).after_arrival(last_arrival);
        if let Some(e) = expect {
            cursor = cursor.expecting(e);
        }
        let mut failure: Option<(u64, ProblemKind, String)> = None;
        for step in cursor.by_ref() {
            match step {
                Ok(b) if expect.is_none() && b.header.first_offset < rep.end_offset => {
                    failure = Some((
                        b.position,
                        ProblemKind::Corrupt,
                        format!(
                            "batch starts at offset {}, before the previous batch ended ({})",
                            b.header.first_offset, rep.end_offset
                        ),
                    ));
                    break;
                }
                Ok(b) => {
                    let h = b.header;
                    // The cursor keeps positions within 32 bits.
                    walk.batch(&h, u32::try_from(b.position).unwrap_or(u32::MAX), opts.index_interval_bytes);
                    rep.valid_bytes = b.end();
                    rep.end_offset = h.next_offset();
                    rep.batches += 1;
                    rep.records += u64::from(h.record_count);
                    rep.first_arrival_ms.get_or_insert(h.arrival_ms);
                    rep.last_arrival_ms = Some(h.arrival_ms);
                    expect = Some(h.next_offset());
                }
                Err(e) => {
                    let kind = match &e.kind {
                        CursorErrorKind::Frame(FrameError::UnsupportedVersion(v)) => {
                            failure = Some((
                                e.position,
                                ProblemKind::UnsupportedVersion,
                                format!(
                                    "batch format version {v} is not known to this build (knows {})",
                                    batch::BATCH_VERSION
                                ),
                            ));
                            break;
                        }
                        CursorErrorKind::NotDense { found, expected } => {
                            format!("batch starts at offset {found}, expected {expected}")
                        }
                        other => other.to_string(),
                    };
                    failure = Some((e.position, ProblemKind::Corrupt, kind));
                }
            }
        }
        last_arrival = cursor.last_arrival_ms();
        let Some((at_fail, kind, why)) = failure else { break };
        let kind = if kind == ProblemKind::Corrupt { tail_kind(at_fail) } else { kind };
        complete = false;
        let pos = usize::try_from(at_fail).unwrap_or(bytes.len()).min(bytes.len());
        let remaining = bytes.len() - pos;
        if kind == ProblemKind::TornTail {
            problems.push(problem(
                log,
                at_fail,
                kind,
                format!("{where_}: {why}; the next open cuts off the last {remaining} bytes"),
            ));
            break;
        }
        // Try to step over the bad batch (its length field may be intact) to find more.
        let rest = bytes.get(pos..).unwrap_or_default();
        let resume = batch::decode_header(rest, opts.max_batch_bytes).ok().and_then(|h| {
            let next = pos.checked_add(h.batch_len as usize)?;
            let tail = bytes.get(next..)?;
            (tail.is_empty() || batch::verify(tail, opts.max_batch_bytes).is_ok()).then_some((next, h))
        });
        let what = match resume {
            Some((next, _)) if next < bytes.len() => format!("{where_}: {why} (valid batches follow at byte {next})"),
            _ => format!("{where_}: {why}"),
        };
        problems.push(problem(log, at_fail, kind, what));
        let Some((next, h)) = resume else { break };
        walk.skipped(at_fail);
        if next == bytes.len() {
            // The damaged batch was the last one: trust its offsets for the gap check only if
            // they continue what precedes it.
            if h.first_offset == rep.end_offset {
                rep.end_offset = h.next_offset();
                complete = true;
            }
        } else {
            complete = true;
        }
        at = next;
        expect = None;
    }
    let clean_walk = complete && rep.valid_bytes == rep.bytes;
    rep.complete = complete;
    rep.scan_index_entries = walk.scan_index.len();

    // Index files of the active segment are trusted only with a matching clean marker;
    // otherwise the next open ignores them and rebuilds the index.
    let index_kind = if ctx.active && vouched_len == 0 { ProblemKind::Stale } else { ProblemKind::Index };
    match load {
        IndexLoad::Absent => {}
        IndexLoad::Bad { path, byte, kind, why } => {
            let kind = if kind == ProblemKind::Index { index_kind } else { kind };
            problems.push(problem(&path, byte, kind, why));
        }
        IndexLoad::Decoded { summary, .. } => {
            if clean_walk {
                walk.finish(rep.valid_bytes);
            }
            let mut issues: Vec<(u64, String)> = walk
                .mismatches
                .iter()
                .map(|(i, why)| ((index::INDEX_HEADER_LEN + i * 8) as u64, format!("index entry {i} {why}")))
                .collect();
            if walk.mismatch_count > walk.mismatches.len() {
                issues.push((
                    0,
                    format!("{} more index entries disagree with the log", walk.mismatch_count - walk.mismatches.len()),
                ));
            }
            if summary.base_offset != ctx.base {
                issues
                    .push((8, format!("index names base offset {}, the segment is {}", summary.base_offset, ctx.base)));
            }
            let exact = summary.end_offset == rep.end_offset && summary.log_len == rep.bytes;
            let older = summary.log_len <= rep.valid_bytes && summary.end_offset <= rep.end_offset;
            rep.index.status = if !issues.is_empty() {
                IndexStatus::Bad
            } else if exact {
                IndexStatus::Consistent
            } else if ctx.active && older {
                IndexStatus::Stale
            } else if !clean_walk {
                // Damage (reported above) hides where the log really ends.
                IndexStatus::Consistent
            } else {
                IndexStatus::Bad
            };
            if rep.index.status == IndexStatus::Bad && issues.is_empty() {
                issues.push((
                    16,
                    format!(
                        "index describes a log of {} bytes ending at offset {}, the log has {} bytes ending at offset \
                         {} (the engine rebuilds such an index from the log)",
                        summary.log_len, summary.end_offset, rep.bytes, rep.end_offset
                    ),
                ));
            }
            for (byte, why) in issues {
                problems.push(problem(&paths.offset_index, byte, index_kind, why));
            }
        }
    }
    rep
}

/// The bytes of a segment. Sealed segments are mapped (they never shrink). The active one is
/// read instead: an engine opening the log meanwhile may cut its torn tail off, and touching
/// a mapped page past a new end of file would kill this process (`SIGBUS`).
fn segment_bytes(vfs: &VfsRef, log: &Path, active: bool) -> std::io::Result<bytes::Bytes> {
    let f = vfs.open_read(log)?;
    if !active {
        return f.map();
    }
    let len = usize::try_from(f.len()?).map_err(|_| std::io::Error::other("segment larger than memory"))?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0)?;
    Ok(bytes::Bytes::from(buf))
}

/// The result of loading a segment's index files.
enum IndexLoad {
    /// Neither file exists.
    Absent,
    /// Present but unusable.
    Bad { path: PathBuf, byte: u64, kind: ProblemKind, why: String },
    /// Both decode and pass their own checks.
    Decoded { summary: SegmentSummary, index: SparseIndex },
}

/// Read and decode a segment's index files (checks of their own: magic, version, CRC,
/// lengths, bounds, monotonicity).
fn load_index_files(vfs: &VfsRef, paths: &SegmentPaths) -> (IndexReport, IndexLoad) {
    let mut rep = empty_index_report(vfs, paths);
    let o = read_bounded(vfs, &paths.offset_index, MAX_INDEX_FILE_BYTES);
    let t = read_bounded(vfs, &paths.time_index, MAX_INDEX_FILE_BYTES);
    let bad = |rep: &mut IndexReport, path: &Path, kind: ProblemKind, why: String| {
        rep.status = IndexStatus::Bad;
        IndexLoad::Bad { path: path.to_path_buf(), byte: 0, kind, why }
    };
    let (o, t) = match (o, t) {
        (Err(why), _) => {
            let load = bad(&mut rep, &paths.offset_index, ProblemKind::Unreadable, format!("index file: {why}"));
            return (rep, load);
        }
        (_, Err(why)) => {
            let load = bad(&mut rep, &paths.time_index, ProblemKind::Unreadable, format!("time index file: {why}"));
            return (rep, load);
        }
        (Ok(None), Ok(None)) => return (rep, IndexLoad::Absent),
        (Ok(Some(_)), Ok(None)) => {
            let load = bad(&mut rep, &paths.time_index, ProblemKind::Index, "time index file is missing".into());
            return (rep, load);
        }
        (Ok(None), Ok(Some(_))) => {
            let load = bad(&mut rep, &paths.offset_index, ProblemKind::Index, "offset index file is missing".into());
            return (rep, load);
        }
        (Ok(Some(o)), Ok(Some(t))) => (o, t),
    };
    for (bytes, path, magic) in
        [(&o, &paths.offset_index, index::OFFSET_INDEX_MAGIC), (&t, &paths.time_index, index::TIME_INDEX_MAGIC)]
    {
        if let Some(v) = unknown_version(bytes, &magic, index::INDEX_VERSION) {
            let why = format!("index format version {v} is not known to this build (knows {})", index::INDEX_VERSION);
            let load = IndexLoad::Bad { path: path.clone(), byte: 4, kind: ProblemKind::UnsupportedVersion, why };
            rep.status = IndexStatus::Bad;
            return (rep, load);
        }
    }
    match index::decode_index_files(&o, &t, SEGMENT_HEADER_LEN as u32) {
        Ok((summary, index)) => {
            rep.file_entries = Some(index.len());
            rep.summary = Some(summary);
            rep.status = IndexStatus::Consistent;
            (rep, IndexLoad::Decoded { summary, index })
        }
        Err(why) => {
            let load = bad(
                &mut rep,
                &paths.offset_index,
                ProblemKind::Index,
                format!("{why} (a cache: the engine rebuilds it from the log)"),
            );
            (rep, load)
        }
    }
}

/// What the walk of one segment learns about its index.
struct Walk<'a> {
    base: u64,
    /// The in-memory index the engine would build.
    scan_index: SparseIndex,
    /// The index file's entries and how many were checked.
    file_entries: &'a [IndexEntry],
    next_entry: usize,
    /// Entries that do not match the log: `(entry number, why)`, the first few.
    mismatches: Vec<(usize, String)>,
    mismatch_count: usize,
}

impl<'a> Walk<'a> {
    fn new(base: u64, file_entries: &'a [IndexEntry]) -> Walk<'a> {
        Walk {
            base,
            scan_index: SparseIndex::new(),
            file_entries,
            next_entry: 0,
            mismatches: Vec::new(),
            mismatch_count: 0,
        }
    }

    fn mismatch(&mut self, i: usize, why: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_ENTRY_PROBLEMS {
            self.mismatches.push((i, why));
        }
    }

    /// Consume file entries before `position`: they point inside a batch.
    fn entries_before(&mut self, position: u32) {
        while let Some(e) = self.file_entries.get(self.next_entry).copied() {
            if e.position >= position {
                break;
            }
            self.mismatch(self.next_entry, format!("points at byte {}, which is not the start of a batch", e.position));
            self.next_entry += 1;
        }
    }

    /// A valid batch at `position`.
    fn batch(&mut self, h: &BatchHeader, position: u32, interval: u32) {
        let rel = h.first_offset.saturating_sub(self.base);
        if let Ok(rel_offset) = u32::try_from(rel) {
            self.scan_index.maybe_add(IndexEntry { rel_offset, position, arrival_ms: h.arrival_ms }, interval);
        }
        self.entries_before(position);
        let Some(e) = self.file_entries.get(self.next_entry).copied() else { return };
        if e.position != position {
            return;
        }
        if u64::from(e.rel_offset) != rel || e.arrival_ms != h.arrival_ms {
            self.mismatch(
                self.next_entry,
                format!(
                    "says offset {} arriving at {} ms, but the batch at byte {position} starts at offset {} arriving \
                     at {} ms",
                    self.base.saturating_add(u64::from(e.rel_offset)),
                    e.arrival_ms,
                    h.first_offset,
                    h.arrival_ms
                ),
            );
        }
        self.next_entry += 1;
    }

    /// A damaged batch at `position` was stepped over: entries naming it cannot be checked.
    fn skipped(&mut self, position: u64) {
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        self.entries_before(position);
        if self.file_entries.get(self.next_entry).is_some_and(|e| e.position == position) {
            self.next_entry += 1;
        }
    }

    /// Entries left after a complete walk point past the end of the log.
    fn finish(&mut self, valid_bytes: u64) {
        while let Some(e) = self.file_entries.get(self.next_entry).copied() {
            self.mismatch(
                self.next_entry,
                format!("points at byte {}, past the last batch (the log ends at byte {valid_bytes})", e.position),
            );
            self.next_entry += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim::SimVfs;
    use crate::io::Vfs;
    use crate::{Durability, LogConfig, LogOptions, ManualClock, RecordRef, ShardLog};
    use std::sync::Arc;

    const SHARD: &str = "/data/streams/s1/shard-0";
    const INTERVAL: u32 = 256;

    fn opts() -> CheckOptions {
        CheckOptions { index_interval_bytes: INTERVAL, ..CheckOptions::default() }
    }

    fn config() -> LogConfig {
        LogConfig {
            segment_max_bytes: 4096,
            segment_max_age: None,
            index_interval_bytes: INTERVAL,
            durability: Durability::Buffered,
            ..LogConfig::default()
        }
    }

    fn open(vfs: &SimVfs, clock: &ManualClock) -> ShardLog {
        let o = LogOptions::new(config()).with_vfs(vfs.shared()).with_clock(Arc::new(clock.clone()));
        ShardLog::open(SHARD, o).unwrap()
    }

    /// Append `n` records (two per batch) of ~100 bytes, advancing the clock.
    fn fill(log: &ShardLog, clock: &ManualClock, from: u64, n: u64) {
        for i in (from..from + n).step_by(2) {
            let a = format!("record-{i:06}-").repeat(6);
            let b = format!("record-{:06}-", i + 1).repeat(6);
            log.append(&[RecordRef::new(b"k", a.as_bytes()), RecordRef::new(b"k", b.as_bytes())]).unwrap();
            clock.advance(std::time::Duration::from_millis(3));
        }
    }

    /// A closed log of 300 records over several segments.
    fn sample() -> SimVfs {
        let vfs = SimVfs::new();
        let clock = ManualClock::new(1_700_000_000_000);
        let log = open(&vfs, &clock);
        fill(&log, &clock, 0, 300);
        log.close().unwrap();
        vfs
    }

    fn examine_sim(vfs: &SimVfs) -> DirReport {
        examine_with(&vfs.shared(), Path::new("/data"), &opts()).unwrap()
    }

    fn seg_path(base: u64) -> PathBuf {
        SegmentPaths::new(Path::new(SHARD), base).log
    }

    fn flip(vfs: &SimVfs, path: &Path, at: usize) {
        let mut content = vfs.file_content(path).unwrap();
        content[at] ^= 0x10;
        vfs.open_rw(path).unwrap().write_all_at(&content[at..=at], at as u64).unwrap();
    }

    /// Positions of the batches of a segment file.
    fn batch_starts(content: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut pos = SEGMENT_HEADER_LEN as usize;
        while let Ok(h) = batch::decode_header(&content[pos..], batch::MAX_BATCH_LEN) {
            out.push(pos);
            pos += h.batch_len as usize;
        }
        out
    }

    fn errors(r: &DirReport) -> Vec<&Problem> {
        r.all_problems().filter(|p| p.kind.is_error()).collect()
    }

    #[test]
    fn clean_log_has_no_problems_and_agrees_with_scan() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        assert_eq!(r.shards.len(), 1);
        let s = &r.shards[0];
        assert_eq!(s.dir, Path::new(SHARD));
        assert!(s.problems.is_empty(), "{:#?}", s.problems);
        assert!(s.segments.len() >= 5, "expected several segments, got {}", s.segments.len());
        assert_eq!(s.total_records(), 300);
        assert_eq!((s.start_offset(), s.end_offset()), (0, 300));
        assert!(s.clean_matches);
        assert_eq!(s.horizon, MarkerState::Absent);
        for (i, seg) in s.segments.iter().enumerate() {
            assert_eq!(seg.active, i + 1 == s.segments.len());
            assert!(seg.complete);
            assert_eq!(seg.index.status, IndexStatus::Consistent, "segment {}", seg.base_offset);
            assert_eq!(seg.index.file_entries, Some(seg.scan_index_entries));
            // The walk agrees with the engine's own scan.
            let content = vfs.file_content(&seg.path).unwrap();
            let scan = segment::scan(&content, seg.base_offset, INTERVAL, batch::MAX_BATCH_LEN);
            assert!(scan.stopped.is_none());
            assert_eq!(
                (scan.valid_len, scan.end_offset, scan.batches, scan.index.len()),
                (seg.valid_bytes, seg.end_offset, seg.batches, seg.scan_index_entries)
            );
            assert_eq!(seg.bytes, content.len() as u64);
            assert_eq!(seg.last_arrival_ms, Some(scan.max_arrival_ms));
            if let Some(next) = s.segments.get(i + 1) {
                assert_eq!(seg.end_offset, next.base_offset);
            }
        }
        // The default interval builds fewer in-memory entries than the log's 256 bytes.
        let d = examine(&vfs.shared(), Path::new("/data")).unwrap();
        let seg = &d.shards[0].segments[0];
        assert!(seg.scan_index_entries < s.segments[0].scan_index_entries);
        assert!(d.shards[0].problems.is_empty());
    }

    #[test]
    fn open_log_after_appends_is_clean_too() {
        let vfs = sample();
        let clock = ManualClock::new(1_800_000_000_000);
        let log = open(&vfs, &clock);
        fill(&log, &clock, 300, 10);
        // Still open: no clean marker; the active segment's index files (if any) are stale.
        let r = examine_sim(&vfs);
        assert!(r.all_problems().next().is_none(), "{:#?}", r.all_problems().collect::<Vec<_>>());
        assert_eq!(r.shards[0].clean, MarkerState::Absent);
        assert_eq!(r.shards[0].end_offset(), 310);
        drop(log);
    }

    #[test]
    fn flipped_bit_in_sealed_segment_is_reported_with_file_and_offset() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let victim = r.shards[0].segments[1].clone();
        assert!(!victim.active);
        let content = vfs.file_content(&victim.path).unwrap();
        let starts = batch_starts(&content);
        assert!(starts.len() >= 3);
        // A byte in the payload of the second batch.
        let flip_at = starts[1] + 60;
        flip(&vfs, &victim.path, flip_at);
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].kind, ProblemKind::Corrupt);
        assert_eq!(errs[0].path, victim.path);
        assert_eq!(errs[0].byte_offset, starts[1] as u64);
        assert!(errs[0].what.contains("CRC"), "{}", errs[0].what);
        assert!(r.has_errors());
        // The damaged batch was stepped over: the rest of the segment was still walked.
        let seg = &r.shards[0].segments[1];
        assert_eq!(seg.end_offset, victim.end_offset);
        assert_eq!(seg.batches, victim.batches - 1);
        assert!(errs[0].to_string().starts_with(&format!("{}: byte {}: corrupt:", victim.path.display(), starts[1])));
    }

    #[test]
    fn damage_in_the_active_segment_is_a_torn_tail_unless_a_clean_close_vouches_for_it() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let active = r.shards[0].segments.last().unwrap().clone();
        let content = vfs.file_content(&active.path).unwrap();
        let starts = batch_starts(&content);
        let last = *starts.last().unwrap();
        // After a clean close the whole active segment was durable: damage there is corruption.
        flip(&vfs, &active.path, last + 40);
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].kind, errs[0].byte_offset), (ProblemKind::Corrupt, last as u64));
        // Without the marker (a crash), a cut-off last batch is a torn tail the next open cuts.
        flip(&vfs, &active.path, last + 40);
        vfs.remove_file(&Path::new(SHARD).join(marker::CLEAN_FILE)).unwrap();
        vfs.open_rw(&active.path).unwrap().set_len(content.len() as u64 - 5).unwrap();
        let r = examine_sim(&vfs);
        assert!(!r.has_errors(), "{:#?}", errors(&r));
        let torn: Vec<_> = r.all_problems().filter(|p| p.kind == ProblemKind::TornTail).collect();
        assert_eq!(torn.len(), 1);
        assert_eq!((torn[0].path.clone(), torn[0].byte_offset), (active.path.clone(), last as u64));
        // The next open does cut it, after which the directory is clean.
        let clock = ManualClock::new(1_800_000_000_000);
        let log = open(&vfs, &clock);
        assert_eq!(log.high_watermark(), active.end_offset - 2);
        drop(log);
        let r = examine_sim(&vfs);
        assert!(r.all_problems().next().is_none(), "{:#?}", r.all_problems().collect::<Vec<_>>());
    }

    #[test]
    fn deleted_middle_segment_is_a_gap() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let segs = &r.shards[0].segments;
        let (gone, next) = (segs[2].clone(), segs[3].clone());
        let paths = SegmentPaths::new(Path::new(SHARD), gone.base_offset);
        for p in [&paths.log, &paths.offset_index, &paths.time_index] {
            vfs.remove_file(p).unwrap();
        }
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].kind, &errs[0].path), (ProblemKind::Gap, &next.path));
        let missing = format!("offsets {}..{} are missing", gone.base_offset, gone.end_offset);
        assert!(errs[0].what.contains(&missing), "{}", errs[0].what);
        // Deleting the first segment without a trim horizon is a gap too.
        vfs.remove_file(&seg_path(0)).unwrap();
        let r = examine_sim(&vfs);
        assert!(errors(&r).iter().any(|p| p.kind == ProblemKind::Gap && p.what.contains("offsets 0..")));
    }

    #[test]
    fn trimmed_log_is_clean() {
        let vfs = sample();
        let clock = ManualClock::new(1_800_000_000_000);
        let log = open(&vfs, &clock);
        let before = log.segments().len();
        let out = log.trim_to_size(3 * 4096).unwrap();
        assert!(out.segments_removed > 0 && out.segments_removed < before);
        log.close().unwrap();
        let r = examine_sim(&vfs);
        assert!(r.all_problems().next().is_none(), "{:#?}", r.all_problems().collect::<Vec<_>>());
        assert_eq!(r.shards[0].horizon, MarkerState::Present(out.start_offset));
        assert_eq!(r.shards[0].start_offset(), out.start_offset);
    }

    #[test]
    fn damaged_index_files_are_reported() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let seg = r.shards[0].segments[1].clone();
        let paths = SegmentPaths::new(Path::new(SHARD), seg.base_offset);
        let good = vfs.file_content(&paths.offset_index).unwrap();

        // A flipped byte fails the file's own CRC.
        flip(&vfs, &paths.offset_index, index::INDEX_HEADER_LEN + 5);
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].kind, &errs[0].path), (ProblemKind::Index, &paths.offset_index));
        assert_eq!(r.shards[0].segments[1].index.status, IndexStatus::Bad);

        // A well-formed index (valid CRC) whose entry points into the middle of a batch.
        let t = vfs.file_content(&paths.time_index).unwrap();
        let (summary, ix) = index::decode_index_files(&good, &t, 32).unwrap();
        let mut wrong = SparseIndex::new();
        for (i, e) in ix.entries().iter().enumerate() {
            let position = if i == 1 { e.position + 3 } else { e.position };
            wrong.maybe_add(IndexEntry { position, ..*e }, 1);
        }
        let o = index::encode_offset_index(&wrong, &summary);
        vfs.create(&paths.offset_index).unwrap().write_all_at(&o, 0).unwrap();
        let t2 = index::encode_time_index(&wrong, &summary);
        vfs.create(&paths.time_index).unwrap().write_all_at(&t2, 0).unwrap();
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].kind, ProblemKind::Index);
        assert_eq!(errs[0].byte_offset, (index::INDEX_HEADER_LEN + 8) as u64);
        assert!(errs[0].what.contains("not the start of a batch"), "{}", errs[0].what);

        // A stale index describing a shorter log.
        let short = SegmentSummary { end_offset: summary.end_offset - 2, log_len: summary.log_len - 100, ..summary };
        let mut first = SparseIndex::new();
        first.maybe_add(ix.entries()[0], 1);
        vfs.create(&paths.offset_index).unwrap().write_all_at(&index::encode_offset_index(&first, &short), 0).unwrap();
        vfs.create(&paths.time_index).unwrap().write_all_at(&index::encode_time_index(&first, &short), 0).unwrap();
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].what.contains("rebuilds"), "{}", errs[0].what);

        // One of the pair missing.
        vfs.remove_file(&paths.time_index).unwrap();
        let r = examine_sim(&vfs);
        assert!(errors(&r).iter().any(|p| p.kind == ProblemKind::Index && p.what.contains("missing")));
        // Neither: fine (a cache).
        vfs.remove_file(&paths.offset_index).unwrap();
        let r = examine_sim(&vfs);
        assert!(!r.has_errors());
        assert_eq!(r.shards[0].segments[1].index.status, IndexStatus::Absent);
    }

    #[test]
    fn unknown_versions_and_bad_markers_are_reported() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let seg = r.shards[0].segments[1].clone();
        // A batch with another format version (CRC recomputed so only the version differs).
        let mut content = vfs.file_content(&seg.path).unwrap();
        let at = batch_starts(&content)[0];
        content[at + 4] = 9;
        let len = u32::from_le_bytes(content[at + 8..at + 12].try_into().unwrap()) as usize;
        let mut h = crc32fast::Hasher::new();
        h.update(&content[at..at + 32]);
        h.update(&content[at + 36..at + len]);
        content[at + 32..at + 36].copy_from_slice(&h.finalize().to_le_bytes());
        vfs.create(&seg.path).unwrap().write_all_at(&content, 0).unwrap();
        let r = examine_sim(&vfs);
        let errs = errors(&r);
        assert!(
            errs.iter().any(|p| p.kind == ProblemKind::UnsupportedVersion && p.byte_offset == at as u64),
            "{errs:#?}"
        );
        // A damaged HORIZON makes the next open fail: corruption.
        let hp = Path::new(SHARD).join(marker::HORIZON_FILE);
        vfs.create(&hp).unwrap().write_all_at(b"SLHZ\x02\x00garbage", 0).unwrap();
        let r = examine_sim(&vfs);
        assert!(errors(&r).iter().any(|p| p.path == hp && p.kind == ProblemKind::UnsupportedVersion));
        vfs.create(&hp).unwrap().write_all_at(b"nonsense", 0).unwrap();
        let r = examine_sim(&vfs);
        assert!(errors(&r).iter().any(|p| p.path == hp && p.kind == ProblemKind::Corrupt));
    }

    #[test]
    fn torn_segment_creation_is_recoverable() {
        let vfs = sample();
        let r = examine_sim(&vfs);
        let end = r.shards[0].end_offset();
        let torn = seg_path(end);
        vfs.create(&torn).unwrap().write_all_at(&segment::encode_header(end, 5)[..20], 0).unwrap();
        vfs.remove_file(&Path::new(SHARD).join(marker::CLEAN_FILE)).unwrap();
        let r = examine_sim(&vfs);
        assert!(!r.has_errors(), "{:#?}", errors(&r));
        assert!(r.all_problems().any(|p| p.kind == ProblemKind::TornTail && p.path == torn));
        let segs = &r.shards[0].segments;
        assert!(segs[segs.len() - 2].active && !segs[segs.len() - 1].active);
    }

    #[test]
    fn arbitrary_damage_never_panics() {
        let vfs = sample();
        let files: Vec<PathBuf> = vfs.list_files().into_iter().filter(|p| !p.ends_with("LOCK")).collect();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let f = &files[(next() % files.len() as u64) as usize];
            let content = vfs.file_content(f).unwrap_or_default();
            match next() % 4 {
                0 if !content.is_empty() => {
                    let at = (next() % content.len() as u64) as usize;
                    vfs.open_rw(f).unwrap().write_all_at(&[next() as u8], at as u64).unwrap();
                }
                1 => {
                    let len = next() % (content.len() as u64 + 1);
                    vfs.open_rw(f).unwrap().set_len(len).unwrap();
                }
                2 => {
                    // A huge length field anywhere.
                    if content.len() >= 12 {
                        let at = (next() % (content.len() as u64 - 4)) as usize;
                        vfs.open_rw(f).unwrap().write_all_at(&u32::MAX.to_le_bytes(), at as u64).unwrap();
                    }
                }
                _ => {
                    let junk: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
                    vfs.open_rw(f).unwrap().write_all_at(&junk, content.len() as u64).unwrap();
                }
            }
            let r = examine_sim(&vfs);
            assert_eq!(r.shards.len(), 1);
        }
    }

    #[test]
    fn finds_every_shard_in_a_tree_and_reports_a_missing_root() {
        let dir = tempfile::tempdir().unwrap();
        let real = crate::io::RealVfs::shared();
        for name in ["streams/a/shard-0", "streams/a/shard-1", "streams/b/shard-0"] {
            let o = LogOptions::new(config());
            let log = ShardLog::open(dir.path().join(name), o).unwrap();
            log.append(&[RecordRef::new(b"k", b"v")]).unwrap();
            log.close().unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/nothing")).unwrap();
        let r = examine(&real, dir.path()).unwrap();
        let dirs: Vec<_> = r.shards.iter().map(|s| s.dir.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(
            dirs,
            [
                PathBuf::from("streams/a/shard-0"),
                PathBuf::from("streams/a/shard-1"),
                PathBuf::from("streams/b/shard-0")
            ]
        );
        assert!(r.all_problems().next().is_none());
        // A shard directory itself works too.
        let one = examine(&real, &dir.path().join("streams/b/shard-0")).unwrap();
        assert_eq!(one.shards.len(), 1);
        assert_eq!(one.shards[0].total_records(), 1);
        assert!(matches!(examine(&real, &dir.path().join("missing")), Err(Error::Io { .. })));
    }
}
