//! Sealed segments: every segment of a shard but the newest. A sealed segment is never
//! written again; it is read through a memory map of its whole file, loaded on first use
//! with its sparse index and dropped again when the [`SegmentCache`](crate::log::SegmentCache)
//! needs room (readers holding its records keep their bytes).
//!
//! Loading checks the header; the index comes from the roll that sealed the segment (in
//! memory), from its index files if they pass every check and describe exactly this file,
//! or else from a full scan (which verifies every batch, and rewrites the index files).
//! Damage in a sealed segment is `Error::Corrupt`, never cut off: its records were
//! acknowledged.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::io::{FileRef, VfsRef};
use crate::log::index::{SegmentSummary, SparseIndex};

use super::active::ActiveSegment;
use super::cursor::scan;
use super::format::{self, HeaderError, SegmentPaths};
use super::index_files::{read_index_files, write_index_files};
use super::marks::RecordMarks;
use super::verified::Verified;

/// Settings a segment needs to load itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadConfig {
    pub(crate) index_interval_bytes: u32,
    pub(crate) max_batch_bytes: u32,
    /// Id of the at-rest key to name in new segment headers (0: none).
    pub(crate) key_id: u32,
}

/// A loaded sealed segment: its verified index, its whole mapping, and which of its index
/// intervals were CRC-checked through this mapping already.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) index: SparseIndex,
    pub(crate) map: Bytes,
    pub(crate) verified: Verified,
    /// Record starts inside checked batches of this mapping (`marks.rs`).
    pub(crate) marks: RecordMarks,
}

/// A sealed segment of a live shard log.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    pub(crate) base: u64,
    pub(crate) paths: SegmentPaths,
    /// One past its last record (the next segment's base).
    end_offset: u64,
    /// File length (0 until known: loaded, or sealed by this process).
    len: AtomicU64,
    /// Arrival of the newest record, `i64::MIN` until known.
    max_arrival_ms: AtomicI64,
    /// Access tick for the loaded-segment cache.
    pub(crate) last_used: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    loaded: Option<Arc<Loaded>>,
    /// What the first load uses instead of reading the files: the index the segment had
    /// when it was sealed or recovered, and the handle it was written through (viewing it
    /// reuses the mapping the active segment made).
    known_index: Option<SparseIndex>,
    handle: Option<FileRef>,
}

impl SealedSegment {
    /// A sealed segment nothing is known of but where it ends (recovery's view of an old
    /// segment).
    pub(crate) fn new(dir: &Path, base: u64, end_offset: u64) -> SealedSegment {
        SealedSegment::at(SegmentPaths::new(dir, base), base, end_offset)
    }

    fn at(paths: SegmentPaths, base: u64, end_offset: u64) -> SealedSegment {
        SealedSegment {
            base,
            paths,
            end_offset,
            len: AtomicU64::new(0),
            max_arrival_ms: AtomicI64::new(i64::MIN),
            last_used: AtomicU64::new(0),
            state: Mutex::new(State { loaded: None, known_index: None, handle: None }),
        }
    }

    /// A segment recovery just verified (scanned) whole.
    pub(crate) fn verified(dir: &Path, summary: &SegmentSummary, index: SparseIndex) -> SealedSegment {
        SealedSegment::known(SegmentPaths::new(dir, summary.base_offset), summary, index)
    }

    fn known(paths: SegmentPaths, summary: &SegmentSummary, index: SparseIndex) -> SealedSegment {
        let s = SealedSegment::at(paths, summary.base_offset, summary.end_offset);
        s.len.store(summary.log_len, Ordering::Release);
        s.max_arrival_ms.store(summary.max_arrival_ms, Ordering::Release);
        s.state.lock().known_index = Some(index);
        s
    }

    /// The active segment, sealed by a roll: nothing is written to it any more.
    pub(crate) fn from_active(active: &ActiveSegment) -> SealedSegment {
        let summary = active.summary();
        let s = SealedSegment::known(active.paths.clone(), &summary, active.index());
        s.state.lock().handle = Some(Arc::clone(active.file()));
        s
    }

    pub(crate) fn end_offset(&self) -> u64 {
        self.end_offset
    }

    /// Its file length, if known.
    pub(crate) fn known_len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Arrival of its newest record (`i64::MIN` until known).
    pub(crate) fn max_arrival_ms(&self) -> i64 {
        self.max_arrival_ms.load(Ordering::Acquire)
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.state.lock().loaded.is_some()
    }

    /// The number of index entries, if known (for inspection).
    pub(crate) fn index_len(&self) -> Option<usize> {
        let st = self.state.lock();
        st.loaded.as_ref().map(|l| l.index.len()).or_else(|| st.known_index.as_ref().map(SparseIndex::len))
    }

    /// Drop the map and index (the cache decided to). Readers holding slices keep their data.
    pub(crate) fn unload(&self) -> bool {
        let mut st = self.state.lock();
        st.handle = None;
        st.loaded.take().is_some()
    }

    /// The loaded segment, loading it if needed. The second value is `true` if this call
    /// loaded it (for the cache).
    pub(crate) fn load(&self, vfs: &VfsRef, cfg: &LoadConfig) -> Result<(Arc<Loaded>, bool)> {
        let mut st = self.state.lock();
        if let Some(l) = &st.loaded {
            return Ok((Arc::clone(l), false));
        }
        let known = st.known_index.take();
        let handle = st.handle.take();
        let l = match self.load_files(vfs, cfg, known.clone(), handle) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                st.known_index = known;
                return Err(e);
            }
        };
        st.loaded = Some(Arc::clone(&l));
        Ok((l, true))
    }

    /// Map the segment and get its index (module documentation).
    fn load_files(
        &self,
        vfs: &VfsRef,
        cfg: &LoadConfig,
        known_index: Option<SparseIndex>,
        handle: Option<FileRef>,
    ) -> Result<Loaded> {
        let log = &self.paths.log;
        let known_len = self.known_len();
        let map = match handle {
            // Sealed by this process: the bytes it wrote, through the mapping it already has.
            Some(file) if known_len > 0 => file.view(0..known_len, 0).map_err(|e| Error::io("mmap", log, e))?,
            _ => {
                let file = vfs.open_read(log).map_err(|e| Error::io("open", log, e))?;
                file.map().map_err(|e| Error::io("mmap", log, e))?
            }
        };
        match format::decode_header(&map) {
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
        let map_len = map.len() as u64;
        if known_len > 0 && known_len != map_len {
            return Err(Error::corrupt(
                log,
                map_len.min(known_len),
                format!("sealed segment is {map_len} bytes long, it was sealed at {known_len}"),
            ));
        }
        let (index, verified) = match known_index.or_else(|| self.index_from_files(vfs, map_len)) {
            Some(ix) => {
                let none = Verified::none(ix.len());
                (ix, none)
            }
            None => {
                let s = scan(&map, self.base, cfg.index_interval_bytes, cfg.max_batch_bytes);
                if let Some((pos, e)) = s.stopped {
                    return Err(Error::corrupt(log, pos, format!("sealed segment: {e}")));
                }
                if s.end_offset != self.end_offset {
                    return Err(Error::corrupt(
                        log,
                        s.valid_len,
                        format!(
                            "sealed segment ends at offset {}, the next segment starts at {}",
                            s.end_offset, self.end_offset
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
                // The scan CRC-checked every batch of this mapping, from the first to the
                // end of the file, and its index entries are positions of that walk.
                let all = Verified::all(s.index.len());
                (s.index, all)
            }
        };
        self.len.store(map_len, Ordering::Release);
        Ok(Loaded { index, marks: RecordMarks::new(map_len), map, verified })
    }

    /// The index from the segment's index files, if they pass every check and describe
    /// exactly this file.
    fn index_from_files(&self, vfs: &VfsRef, log_len: u64) -> Option<SparseIndex> {
        let (s, ix) = read_index_files(vfs, &self.paths)?;
        if s.base_offset != self.base || s.end_offset != self.end_offset || s.log_len != log_len {
            return None;
        }
        self.max_arrival_ms.store(s.max_arrival_ms, Ordering::Release);
        Some(ix)
    }
}
