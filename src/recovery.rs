//! Opening a shard log directory and recovering it after a crash (reliability rules 5–8).
//!
//! 1. Leftover temp files are removed; the trim horizon is read, and segments wholly below it
//!    (an interrupted trim) are deleted.
//! 2. The newest segment is the only one that may hold unsynced bytes: every sealed segment
//!    was fdatasync'd before the roll that sealed it, so the last known-durable position is
//!    the start of the active segment and recovery time grows with it, not with the log.
//!    A newest segment with a missing or torn header (a crash during a roll, before any
//!    record in it could be acknowledged) is removed and its predecessor becomes active.
//! 3. If the clean-shutdown marker matches the active segment exactly, its index files agree,
//!    and the batches from the last index entry to the end verify and end exactly where the
//!    marker says (at most one index interval and one batch are read), the index files are
//!    trusted and no full scan happens. Otherwise the segment is scanned, every batch checked,
//!    the file cut at the first torn or corrupt batch, the index rebuilt, and file and
//!    directory synced.
//! 4. Sealed segments are not read at open; they are checked when first loaded, and damage
//!    there is reported as corruption, never cut off.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index;
use crate::io::{FileRef, VfsRef};
use crate::marker::{self, CleanMarker};
use crate::segment::{self, HeaderError, LoadConfig, Segment, SegmentPaths, SEGMENT_HEADER_LEN};

/// What recovery hands to the shard log.
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) active: Arc<Segment>,
    pub(crate) active_file: FileRef,
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

/// Create a fresh, empty active segment at `base` following the roll protocol.
fn create_segment(vfs: &VfsRef, dir: &Path, base: u64, now_ms: i64, key_id: u32) -> Result<FileRef> {
    let path = SegmentPaths::new(dir, base).log;
    let file = vfs.create_new(&path).map_err(|e| Error::io("create", &path, e))?;
    let header = segment::encode_header_with_key(base, now_ms, key_id);
    file.write_all_at(&header, 0).map_err(|e| Error::io("write", &path, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
    sync_dir(vfs, dir)?;
    Ok(file)
}

pub(crate) fn recover(
    vfs: &VfsRef,
    dir: &Path,
    cfg: &LoadConfig,
    now_ms: i64,
    durable_parent_levels: usize,
) -> Result<Recovered> {
    let entries = vfs.read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))?;
    let mut dirty_dir = false;
    for e in entries.iter().filter(|e| !e.is_dir && e.name.ends_with(".tmp")) {
        remove(vfs, &dir.join(&e.name))?;
        dirty_dir = true;
    }
    let mut bases: Vec<u64> =
        entries.iter().filter(|e| !e.is_dir).filter_map(|e| segment::parse_log_file_name(&e.name)).collect();
    bases.sort_unstable();
    if let Some(&b) = bases.iter().find(|&&b| b > crate::shard::MAX_OFFSET) {
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
    // Drop a torn newest segment (crash during a roll); its predecessor becomes active.
    let (active_base, active_file, created_ms) = loop {
        let Some(&base) = bases.last() else {
            // A fresh log: before its first segment can hold acknowledged data, make sure the
            // directories leading to it are durable, whoever created them.
            let mut d = dir;
            for _ in 0..durable_parent_levels {
                let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) else { break };
                sync_dir(vfs, parent)?;
                d = parent;
            }
            let base = horizon.unwrap_or(0);
            let file = create_segment(vfs, dir, base, now_ms, cfg.key_id)?;
            bases.push(base);
            break (base, file, now_ms);
        };
        let path = SegmentPaths::new(dir, base).log;
        let file = vfs.open_rw(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
        let header = match file.read_exact_at(&mut head, 0) {
            Ok(()) => segment::decode_header(&head),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(HeaderError::Invalid("shorter than its header".into()))
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        match header {
            Ok((b, created)) if b == base => break (base, file, created),
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
                dirty_dir = false;
                if bases.is_empty() {
                    let file = create_segment(vfs, dir, base, now_ms, cfg.key_id)?;
                    bases.push(base);
                    break (base, file, now_ms);
                }
            }
        }
    };
    let file_len = active_file.len().map_err(|e| Error::io("stat", SegmentPaths::new(dir, active_base).log, e))?;
    let clean_path = dir.join(marker::CLEAN_FILE);
    let clean = match marker::read_small(vfs, &clean_path) {
        Ok(Some(b)) => CleanMarker::decode(&b).ok(),
        _ => None,
    };
    let paths = SegmentPaths::new(dir, active_base);
    let trusted = clean.filter(|m| m.base == active_base && m.len == file_len).and_then(|m| {
        let o = segment::read_all(vfs, &paths.offset_index)?;
        let t = segment::read_all(vfs, &paths.time_index)?;
        let (s, ix) = index::decode_index_files(&o, &t, SEGMENT_HEADER_LEN as u32).ok()?;
        (s.base_offset == active_base && s.end_offset == m.end_offset && s.log_len == file_len).then_some((s, ix))
    });
    let trusted = match trusted {
        Some((s, ix)) => {
            let image = active_file.map().map_err(|e| Error::io("mmap", &paths.log, e))?;
            tail_verifies(&image, &ix, &s, cfg.max_batch_bytes).then_some((s, ix))
        }
        None => None,
    };
    let used_marker = trusted.is_some();
    let scan = match trusted {
        Some((s, ix)) => segment::Scan {
            valid_len: s.log_len,
            end_offset: s.end_offset,
            max_arrival_ms: s.max_arrival_ms,
            index: ix,
            batches: 0,
            stopped: None,
        },
        None => {
            let image = active_file.map().map_err(|e| Error::io("mmap", &paths.log, e))?;
            let s = segment::scan(&image, active_base, cfg.index_interval_bytes, cfg.max_batch_bytes);
            if let Some((pos, crate::batch::FrameError::UnsupportedVersion(v))) = &s.stopped {
                let at = image.get(usize::try_from(*pos).unwrap_or(usize::MAX)..).unwrap_or_default();
                if crate::batch::frame_crc_intact(at) {
                    return Err(Error::corrupt(
                        &paths.log,
                        *pos,
                        format!("batch of unsupported format version {v}; refusing to open (nothing was truncated)"),
                    ));
                }
            }
            drop(image);
            if s.valid_len < file_len {
                active_file.set_len(s.valid_len).map_err(|e| Error::io("set_len", &paths.log, e))?;
            }
            // Whatever survived may still be only in the page cache: make it durable before
            // anything is built on it.
            active_file.sync_data().map_err(|e| Error::io("fdatasync", &paths.log, e))?;
            dirty_dir = true;
            s
        }
    };
    let clean_marker_present = used_marker;
    if !clean_marker_present && vfs.exists(&clean_path) {
        remove(vfs, &clean_path)?;
        dirty_dir = true;
    }
    if dirty_dir {
        sync_dir(vfs, dir)?;
    }
    let mut segments: Vec<Arc<Segment>> = bases
        .windows(2)
        .filter_map(|w| match w {
            [base, next] => Some(Arc::new(Segment::new_sealed(dir, *base, *next))),
            _ => None,
        })
        .collect();
    let active = Arc::new(Segment::new_active(dir, active_base, created_ms, Arc::clone(&active_file), Some(&scan)));
    debug_assert_eq!(active.end_offset(), scan.end_offset);
    let mut last_arrival_ms = scan.max_arrival_ms;
    if last_arrival_ms == i64::MIN {
        if let Some(prev) = segments.last() {
            prev.ensure_loaded(vfs, cfg)?;
            last_arrival_ms = prev.max_arrival_ms.load(std::sync::atomic::Ordering::Acquire);
        }
    }
    segments.push(Arc::clone(&active));
    let start_offset = horizon.unwrap_or(0).max(bases.first().copied().unwrap_or(0));
    if start_offset > scan.end_offset {
        // Trimming never moves the horizon past the newest segment's end.
        return Err(Error::corrupt(
            &horizon_path,
            0,
            format!("trim horizon {start_offset} lies past the end of the log ({})", scan.end_offset),
        ));
    }
    Ok(Recovered { segments, active, active_file, start_offset, last_arrival_ms, clean_marker_present })
}

/// The tail of a segment that a clean marker describes: the batches from the index's last
/// entry (or the first batch) to the end must verify, follow one another densely, and end
/// exactly at the summary's length and end offset. This is what the next append builds on, so
/// a marker and index files that describe the file wrongly (forged, or stale after damage)
/// are not trusted; the full scan runs instead.
fn tail_verifies(image: &[u8], ix: &index::SparseIndex, s: &index::SegmentSummary, max_batch_bytes: u32) -> bool {
    let (mut pos, mut next) = match ix.entries().last() {
        Some(e) => (u64::from(e.position), s.base_offset.saturating_add(u64::from(e.rel_offset))),
        None => (SEGMENT_HEADER_LEN, s.base_offset),
    };
    while pos < s.log_len {
        let Some(rest) = usize::try_from(pos).ok().and_then(|p| image.get(p..)) else { return false };
        let Ok(h) = crate::batch::verify(rest, max_batch_bytes) else { return false };
        if h.first_offset != next {
            return false;
        }
        pos = pos.saturating_add(u64::from(h.batch_len));
        next = h.next_offset();
    }
    pos == s.log_len && next == s.end_offset
}
