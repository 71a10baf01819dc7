//! Reading and writing a segment's index files (`.index` and `.timeindex`, layout in
//! `docs/format.md`). They are a cache of the segment's sparse index, and — written only after
//! the segment was fdatasync'd — the proof that a sealed segment is durable (`log/sealer.rs`).

use std::path::Path;

use crate::io::VfsRef;
use crate::log::index::{self, SegmentSummary, SparseIndex};

use super::format::{SegmentPaths, SEGMENT_HEADER_LEN};

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

/// A segment's index files, decoded and checked on their own (not yet against the log).
pub(crate) fn read_index_files(vfs: &VfsRef, paths: &SegmentPaths) -> Option<(SegmentSummary, SparseIndex)> {
    let o = read_all(vfs, &paths.offset_index)?;
    let t = read_all(vfs, &paths.time_index)?;
    index::decode_index_files(&o, &t, SEGMENT_HEADER_LEN as u32).ok()
}
