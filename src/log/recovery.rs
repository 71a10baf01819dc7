//! Opening a shard log directory and recovering it after a crash (reliability rules 5–8).
//!
//! 1. Leftover temp files are removed; the trim horizon is read, and segments wholly below it
//!    (an interrupted trim) are deleted.
//! 2. A newest segment with a missing or torn header (a crash during a roll, before any
//!    record in it could be acknowledged) is removed and its predecessor becomes the newest.
//! 3. **What may be unsynced**: the newest segment, and every sealed segment newer than the
//!    newest one whose seal is proven. A seal is proven by the segment's index files: the
//!    sealer writes them only after the segment's fdatasync (`log/sealer.rs`), so index files
//!    that pass their checks and describe the segment exactly (base, end offset = the next
//!    segment's base, file length) mean it is durable. Everything older than a proven
//!    segment was sealed before it, so recovery time grows with the unsynced tail, not with
//!    the log.
//! 4. Each unproven sealed segment, oldest first, is scanned whole (every batch checked). If
//!    it is intact and ends exactly where the next segment starts, it is fdatasync'd and its
//!    index files written (now proven). Otherwise its unsynced tail was lost: it is cut at
//!    its first torn or invalid batch, every later segment is deleted (their records could
//!    only have been acknowledged after the lost ones, without a sync), and it becomes the
//!    newest segment.
//! 5. The newest segment: if the clean-shutdown marker matches it exactly, its index files
//!    agree, and the batches from the last index entry to the end verify and end exactly
//!    where the marker says (at most one index interval and one batch are read), the index
//!    files are trusted and no full scan happens. Otherwise it is scanned, cut at the first
//!    torn or corrupt batch, its index rebuilt, and file and directory synced.
//! 6. Proven sealed segments are not read at open; they are checked when first loaded, and
//!    damage there is reported as corruption, never cut off.
//!
//! A batch of a format version this build does not know, whose frame is otherwise intact,
//! stops the open with `Error::Corrupt` instead of being cut off.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::{FileRef, VfsRef};
use crate::log::batch::{self, FrameError};
use crate::log::index::{self, SegmentSummary, SparseIndex};
use crate::log::marker::{self, CleanMarker};

use super::segment::active::ActiveSegment;
use super::segment::index_files::read_index_files;
use super::segment::sealed::SealedSegment;
use super::segment::{self, write_index_files, HeaderError, LoadConfig, Scan, SegmentPaths, SEGMENT_HEADER_LEN};

/// What recovery needs to know.
pub(crate) struct RecoverOptions<'a> {
    pub(crate) vfs: &'a VfsRef,
    pub(crate) dir: &'a Path,
    pub(crate) load: LoadConfig,
    pub(crate) now_ms: i64,
    /// Parent directory levels a fresh log makes durable.
    pub(crate) durable_parent_levels: usize,
    /// The largest offset a record may have plus one.
    pub(crate) max_offset: u64,
    /// How long the active segment's mapping is made.
    pub(crate) reserve: u64,
}

/// What recovery hands to the shard log.
pub(crate) struct Recovered {
    /// The sealed segments, oldest first.
    pub(crate) sealed: Vec<Arc<SealedSegment>>,
    pub(crate) active: Arc<ActiveSegment>,
    pub(crate) start_offset: u64,
    pub(crate) last_arrival_ms: i64,
    pub(crate) clean_marker_present: bool,
}

fn remove(vfs: &VfsRef, path: &Path) -> Result<()> {
    match vfs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

fn remove_segment(vfs: &VfsRef, dir: &Path, base: u64) -> Result<()> {
    let p = SegmentPaths::new(dir, base);
    remove(vfs, &p.log)?;
    remove(vfs, &p.offset_index)?;
    remove(vfs, &p.time_index)
}

fn sync_dir(vfs: &VfsRef, dir: &Path) -> Result<()> {
    vfs.sync_dir(dir).map_err(|e| Error::io("directory fsync", dir, e))
}

/// Create a fresh, empty segment at `base` following the roll protocol.
fn create_segment(vfs: &VfsRef, dir: &Path, base: u64, now_ms: i64, key_id: u32) -> Result<FileRef> {
    let path = SegmentPaths::new(dir, base).log;
    let file = vfs.create_new(&path).map_err(|e| Error::io("create", &path, e))?;
    file.write_all_at(&segment::encode_header_with_key(base, now_ms, key_id), 0)
        .map_err(|e| Error::io("write", &path, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
    sync_dir(vfs, dir)?;
    Ok(file)
}

/// The newest segment: its base, its file (read-write) and its creation time.
struct Newest {
    base: u64,
    file: FileRef,
    created_ms: i64,
}

pub(crate) fn recover(o: &RecoverOptions<'_>) -> Result<Recovered> {
    let (vfs, dir) = (o.vfs, o.dir);
    let entries = vfs.read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))?;
    let mut dirty_dir = false;
    for e in entries.iter().filter(|e| !e.is_dir && e.name.ends_with(".tmp")) {
        remove(vfs, &dir.join(&e.name))?;
        dirty_dir = true;
    }
    let mut bases: Vec<u64> =
        entries.iter().filter(|e| !e.is_dir).filter_map(|e| segment::parse_log_file_name(&e.name)).collect();
    bases.sort_unstable();
    if let Some(&b) = bases.iter().find(|&&b| b > o.max_offset) {
        let path = SegmentPaths::new(dir, b).log;
        return Err(Error::corrupt(&path, 0, format!("segment base {b} is beyond the largest offset")));
    }
    let horizon_path = dir.join(marker::HORIZON_FILE);
    let horizon = match marker::read_small(vfs, &horizon_path)? {
        Some(b) => Some(marker::decode_horizon(&b).map_err(|why| Error::corrupt(&horizon_path, 0, why))?),
        None => None,
    };
    // Finish an interrupted trim: a segment whose successor starts at or below the horizon
    // holds only trimmed records.
    if let Some(h) = horizon {
        while bases.len() >= 2 && bases.get(1).is_some_and(|&next| next <= h) {
            remove_segment(vfs, dir, bases.remove(0))?;
            dirty_dir = true;
        }
    }
    let mut newest = open_newest(o, &mut bases, horizon, &mut dirty_dir)?;
    let clean_path = dir.join(marker::CLEAN_FILE);

    // Sealed segments that may hold unsynced bytes (step 3), scanned oldest first (step 4).
    let sealed_pairs: Vec<(u64, u64)> = bases.iter().copied().zip(bases.iter().copied().skip(1)).collect();
    let mut first_unproven = 0;
    for (i, &(base, next)) in sealed_pairs.iter().enumerate().rev() {
        if seal_proven(vfs, dir, base, next)? {
            first_unproven = i + 1;
            break;
        }
    }
    let mut verified: Vec<(u64, Arc<SealedSegment>)> = Vec::new();
    let mut cut: Option<(Newest, Scan)> = None;
    for (i, &(base, next)) in sealed_pairs.iter().enumerate().skip(first_unproven) {
        match check_unproven(o, base, next)? {
            Unproven::Intact(seg) => verified.push((base, Arc::new(seg))),
            Unproven::Cut { file, created_ms, scan } => {
                // Everything after it is newer than the lost bytes: drop it (step 4).
                for &later in bases.get(i + 1..).unwrap_or_default() {
                    remove_segment(vfs, dir, later)?;
                }
                bases.truncate(i + 1);
                dirty_dir = true;
                cut = Some((Newest { base, file, created_ms }, scan));
                break;
            }
        }
    }

    let (scan, clean_marker_present) = match cut {
        Some((n, scan)) => {
            newest = n;
            (scan, false)
        }
        None => recover_newest(o, &newest, &clean_path, &mut dirty_dir)?,
    };
    if !clean_marker_present && vfs.exists(&clean_path) {
        remove(vfs, &clean_path)?;
        dirty_dir = true;
    }
    if dirty_dir {
        sync_dir(vfs, dir)?;
    }

    let sealed: Vec<Arc<SealedSegment>> = bases
        .iter()
        .zip(bases.iter().skip(1))
        .map(|(&base, &next)| match verified.iter().find(|(b, _)| *b == base) {
            Some((_, seg)) => Arc::clone(seg),
            None => Arc::new(SealedSegment::new(dir, base, next)),
        })
        .collect();
    let active =
        Arc::new(ActiveSegment::resume(dir, newest.base, newest.created_ms, newest.file, Some(&scan), o.reserve));
    debug_assert_eq!(active.end_offset(), scan.end_offset);
    let mut last_arrival_ms = scan.max_arrival_ms;
    if last_arrival_ms == i64::MIN {
        if let Some(prev) = sealed.last() {
            prev.load(vfs, &o.load)?;
            last_arrival_ms = prev.max_arrival_ms();
        }
    }
    let start_offset = horizon.unwrap_or(0).max(bases.first().copied().unwrap_or(0));
    if start_offset > scan.end_offset {
        // Trimming never moves the horizon past the newest segment's end.
        return Err(Error::corrupt(
            &horizon_path,
            0,
            format!("trim horizon {start_offset} lies past the end of the log ({})", scan.end_offset),
        ));
    }
    Ok(Recovered { sealed, active, start_offset, last_arrival_ms, clean_marker_present })
}

/// Step 2: open the newest segment, dropping one torn while being created (and creating the
/// first segment of a fresh log).
fn open_newest(
    o: &RecoverOptions<'_>,
    bases: &mut Vec<u64>,
    horizon: Option<u64>,
    dirty_dir: &mut bool,
) -> Result<Newest> {
    let (vfs, dir) = (o.vfs, o.dir);
    loop {
        let Some(&base) = bases.last() else {
            // A fresh log: before its first segment can hold acknowledged data, make sure the
            // directories leading to it are durable, whoever created them.
            let mut d = dir;
            for _ in 0..o.durable_parent_levels {
                let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) else { break };
                sync_dir(vfs, parent)?;
                d = parent;
            }
            let base = horizon.unwrap_or(0);
            let file = create_segment(vfs, dir, base, o.now_ms, o.load.key_id)?;
            bases.push(base);
            return Ok(Newest { base, file, created_ms: o.now_ms });
        };
        let path = SegmentPaths::new(dir, base).log;
        let file = vfs.open_rw(&path).map_err(|e| Error::io("open", &path, e))?;
        match read_header(&file, &path)? {
            Ok((b, created_ms)) if b == base => return Ok(Newest { base, file, created_ms }),
            Ok((b, _)) => {
                return Err(Error::corrupt(&path, 8, format!("segment header names base {b}, file name {base}")))
            }
            Err(HeaderError::UnsupportedVersion(v)) => {
                return Err(Error::corrupt(
                    &path,
                    4,
                    format!("unsupported segment format version {v}; refusing to open"),
                ))
            }
            Err(HeaderError::Invalid(why)) => {
                // A roll writes and fdatasyncs the header (and fsyncs the directory) before
                // anything is appended, so only a file no longer than its header can be a
                // torn create. Anything longer had a valid header once: that is damage to
                // acknowledged data, reported and never cut off.
                let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
                if len > SEGMENT_HEADER_LEN {
                    return Err(Error::corrupt(&path, 0, format!("active segment header: {why}; refusing to open")));
                }
                drop(file);
                debug_assert!(!why.is_empty());
                remove_segment(vfs, dir, base)?;
                bases.pop();
                sync_dir(vfs, dir)?;
                *dirty_dir = false;
                if bases.is_empty() {
                    let file = create_segment(vfs, dir, base, o.now_ms, o.load.key_id)?;
                    bases.push(base);
                    return Ok(Newest { base, file, created_ms: o.now_ms });
                }
            }
        }
    }
}

/// A segment file's header: `Err(Invalid)` if it is short or damaged.
fn read_header(file: &FileRef, path: &Path) -> Result<std::result::Result<(u64, i64), HeaderError>> {
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => Ok(segment::decode_header(&head)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Ok(Err(HeaderError::Invalid("shorter than its header".into())))
        }
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// True if the sealed segment at `base` (followed by one at `next`) has index files proving
/// its seal completed (module documentation, step 3). Unusable index files are no proof
/// (they are a cache); failing to stat the segment itself is an error.
fn seal_proven(vfs: &VfsRef, dir: &Path, base: u64, next: u64) -> Result<bool> {
    let paths = SegmentPaths::new(dir, base);
    let Some((s, _)) = read_index_files(vfs, &paths) else { return Ok(false) };
    if s.base_offset != base || s.end_offset != next {
        return Ok(false);
    }
    let file = vfs.open_read(&paths.log).map_err(|e| Error::io("open", &paths.log, e))?;
    let len = file.len().map_err(|e| Error::io("stat", &paths.log, e))?;
    Ok(s.log_len == len)
}

/// What scanning an unproven sealed segment found.
enum Unproven {
    /// Intact up to the next segment: now durable and proven.
    Intact(SealedSegment),
    /// Its tail was lost: cut at its last valid batch and synced; it becomes the newest.
    Cut { file: FileRef, created_ms: i64, scan: Scan },
}

/// Step 4 for the sealed segment at `base`, followed by one at `next`.
fn check_unproven(o: &RecoverOptions<'_>, base: u64, next: u64) -> Result<Unproven> {
    let (vfs, dir) = (o.vfs, o.dir);
    let paths = SegmentPaths::new(dir, base);
    let file = vfs.open_rw(&paths.log).map_err(|e| Error::io("open", &paths.log, e))?;
    let created_ms = match read_header(&file, &paths.log)? {
        Ok((b, created_ms)) if b == base => created_ms,
        Ok((b, _)) => {
            return Err(Error::corrupt(&paths.log, 8, format!("segment header names base {b}, file name {base}")))
        }
        // Its header was made durable before the segment took a record (rule 3): damage.
        Err(HeaderError::UnsupportedVersion(v)) => {
            return Err(Error::corrupt(
                &paths.log,
                4,
                format!("unsupported segment format version {v}; refusing to open"),
            ))
        }
        Err(HeaderError::Invalid(why)) => {
            return Err(Error::corrupt(&paths.log, 0, format!("sealed segment header: {why}; refusing to open")))
        }
    };
    let (scan, file_len) = scan_file(&file, &paths, base, &o.load)?;
    if scan.stopped.is_none() && scan.end_offset == next {
        // What survived may still be only in the page cache: make it durable, then prove it.
        file.sync_data().map_err(|e| Error::io("fdatasync", &paths.log, e))?;
        let summary = SegmentSummary {
            base_offset: base,
            end_offset: scan.end_offset,
            log_len: scan.valid_len,
            max_arrival_ms: scan.max_arrival_ms,
        };
        write_index_files(vfs, &paths, &scan.index, &summary);
        return Ok(Unproven::Intact(SealedSegment::verified(dir, &summary, scan.index)));
    }
    if scan.end_offset > next {
        return Err(Error::corrupt(
            &paths.log,
            scan.valid_len,
            format!("sealed segment runs to offset {}, past the next segment's base {next}", scan.end_offset),
        ));
    }
    cut_tail(&file, &paths, &scan, file_len)?;
    // Its old index files describe bytes that are gone.
    remove(vfs, &paths.offset_index)?;
    remove(vfs, &paths.time_index)?;
    Ok(Unproven::Cut { file, created_ms, scan })
}

/// Scan a whole segment file, refusing (instead of cutting) a batch of an unknown format
/// version whose frame is intact. Returns the scan and the file's length.
fn scan_file(file: &FileRef, paths: &SegmentPaths, base: u64, load: &LoadConfig) -> Result<(Scan, u64)> {
    let image = file.map().map_err(|e| Error::io("mmap", &paths.log, e))?;
    let s = segment::scan(&image, base, load.index_interval_bytes, load.max_batch_bytes);
    if let Some((pos, FrameError::UnsupportedVersion(v))) = &s.stopped {
        let at = image.get(usize::try_from(*pos).unwrap_or(usize::MAX)..).unwrap_or_default();
        if batch::frame_crc_intact(at) {
            return Err(Error::corrupt(
                &paths.log,
                *pos,
                format!("batch of unsupported format version {v}; refusing to open (nothing was truncated)"),
            ));
        }
    }
    Ok((s, image.len() as u64))
    // `image` is dropped here, before anything cuts the file.
}

/// Cut a segment after its last valid batch and make what survived durable.
fn cut_tail(file: &FileRef, paths: &SegmentPaths, scan: &Scan, file_len: u64) -> Result<()> {
    if scan.valid_len < file_len {
        file.set_len(scan.valid_len).map_err(|e| Error::io("set_len", &paths.log, e))?;
    }
    // Whatever survived may still be only in the page cache: make it durable before
    // anything is built on it.
    file.sync_data().map_err(|e| Error::io("fdatasync", &paths.log, e))
}

/// Step 5: the newest segment, trusted through a matching clean marker or scanned and cut.
/// Returns its state and whether the clean marker was used.
fn recover_newest(
    o: &RecoverOptions<'_>,
    newest: &Newest,
    clean_path: &Path,
    dirty_dir: &mut bool,
) -> Result<(Scan, bool)> {
    let (vfs, dir) = (o.vfs, o.dir);
    let paths = SegmentPaths::new(dir, newest.base);
    let file_len = newest.file.len().map_err(|e| Error::io("stat", &paths.log, e))?;
    let clean = match marker::read_small(vfs, clean_path) {
        Ok(Some(b)) => CleanMarker::decode(&b).ok(),
        _ => None,
    };
    let trusted = clean.filter(|m| m.base == newest.base && m.len == file_len).and_then(|m| {
        let (s, ix) = read_index_files(vfs, &paths)?;
        (s.base_offset == newest.base && s.end_offset == m.end_offset && s.log_len == file_len).then_some((s, ix))
    });
    let trusted = match trusted {
        Some((s, ix)) => {
            let image = newest.file.map().map_err(|e| Error::io("mmap", &paths.log, e))?;
            tail_verifies(&image, &ix, &s, o.load.max_batch_bytes).then_some((s, ix))
        }
        None => None,
    };
    if let Some((s, ix)) = trusted {
        let scan = Scan {
            valid_len: s.log_len,
            end_offset: s.end_offset,
            max_arrival_ms: s.max_arrival_ms,
            index: ix,
            batches: 0,
            stopped: None,
        };
        return Ok((scan, true));
    }
    let (scan, file_len) = scan_file(&newest.file, &paths, newest.base, &o.load)?;
    cut_tail(&newest.file, &paths, &scan, file_len)?;
    *dirty_dir = true;
    Ok((scan, false))
}

/// The tail of a segment that a clean marker describes: the batches from the index's last
/// entry (or the first batch) to the end must verify, follow one another densely, and end
/// exactly at the summary's length and end offset. This is what the next append builds on, so
/// a marker and index files that describe the file wrongly (forged, or stale after damage)
/// are not trusted; the full scan runs instead.
fn tail_verifies(image: &[u8], ix: &SparseIndex, s: &index::SegmentSummary, max_batch_bytes: u32) -> bool {
    let (pos, next) = match ix.entries().last() {
        Some(e) => (u64::from(e.position), s.base_offset.saturating_add(u64::from(e.rel_offset))),
        None => (SEGMENT_HEADER_LEN, s.base_offset),
    };
    let Some(tail) = usize::try_from(s.log_len).ok().and_then(|end| image.get(..end)) else { return false };
    let Ok(at) = usize::try_from(pos) else { return false };
    let mut cursor = segment::BatchCursor::new(tail, 0, at, segment::Verify::Full, max_batch_bytes).expecting(next);
    for step in cursor.by_ref() {
        if step.is_err() {
            return false;
        }
    }
    cursor.byte_position() == s.log_len && cursor.next_offset() == Some(s.end_offset)
}
