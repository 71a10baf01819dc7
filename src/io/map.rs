//! Memory mapping of sealed files: the one place in the crate that uses `unsafe`.
#![allow(unsafe_code)]

use std::io;

use bytes::Bytes;

/// Map the whole of `file` read-only and hand it out as `Bytes` (zero copy). The mapping
/// lives as long as any `Bytes` slice of it, so the file may be unlinked meanwhile.
pub(crate) fn map_file(file: &std::fs::File) -> io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len == 0 {
        // mmap of an empty file fails with EINVAL; an empty view needs no mapping.
        return Ok(Bytes::new());
    }
    // SAFETY: the engine maps only sealed segment files and index files. Those are never
    // written, truncated or shrunk again while the process runs (retention removes them
    // by unlinking, which keeps existing mappings valid on Linux), so the mapped bytes stay
    // valid and unchanged for the lifetime of the mapping. A reader could only fault on
    // pages past a new end of file, which cannot happen because the files never shrink.
    let map = unsafe { memmap2::Mmap::map(file)? };
    debug_assert_eq!(map.len() as u64, len);
    Ok(Bytes::from_owner(map))
}
