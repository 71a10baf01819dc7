//! Memory mapping: the one module of the crate that uses `unsafe`, and the one place that
//! argues why it is sound. (Besides the mappings it holds [`prefetch`], a cache hint for
//! bytes about to be read, whose `unsafe` is a CPU intrinsic that reads nothing.)
//!
//! # What could go wrong
//!
//! A mapping shows the file's page cache. Two things break the `&[u8]` a mapping hands out:
//! 1. **Shrinking the file** below a handed-out byte: touching a mapped page wholly past the
//!    new end of file raises `SIGBUS` and kills the process (demonstrated in
//!    reliability.md §1 rule 10).
//! 2. **Writing a handed-out byte** (through any handle, by any process): the bytes behind a
//!    shared slice would change under safe code.
//!
//! Reading a mapped page that lies past the end of file raises `SIGBUS` too, so a mapping may
//! be longer than its file (an active segment is mapped ahead of its end and grows into the
//! mapping), but only bytes that were written may be handed out.
//!
//! # Why the engine never does those things
//!
//! - **Sealed segments and index files** are mapped whole ([`map_whole`]). They are never
//!   written or shrunk again once sealed or written: retention removes them by *unlinking*,
//!   which keeps existing mappings valid on Linux. Recovery maps a segment only to scan it,
//!   and drops the scan's bytes before it cuts a torn tail off (and no reader exists yet).
//! - **Active segments** are mapped ahead of their end ([`FileMaps::view`]) and only the bytes
//!   a completed write put there are handed out. The shard log appends past everything it
//!   handed out, under its writer lock (one writer per file); the only cut of an active
//!   segment at run time removes a *failed* write's partial bytes, which lie past the
//!   committed length and were never handed out.
//! - **No other writer exists**: one process owns a data directory (the `LOCK` file, an
//!   exclusive `flock`), every segment is opened for writing through one handle, and
//!   `shardlog inspect`/`verify` copy an active segment instead of mapping it. Damage by a
//!   foreign process that ignores the lock is outside the contract, as for every
//!   memory-mapped store.
//!
//! # What is checked at run time
//!
//! [`FileMaps`] enforces the rules for the handle that owns the mappings: a view never
//! reaches past the bytes written through the handle (or present when it was opened), and a
//! write or `set_len` that would change or cut bytes a live mapping handed out is refused
//! with an error instead of being performed.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;

/// A read-only mapping of the first `capacity` bytes of a file (which may be longer than the
/// file is now).
#[derive(Debug)]
pub(crate) struct Mapping {
    raw: MmapRaw,
    /// One past the last byte handed out through this mapping (never decreases).
    handed_out: AtomicU64,
}

impl Mapping {
    /// Map the first `capacity` bytes of `file` read-only.
    ///
    /// # Safety
    ///
    /// For as long as the mapping or any `Bytes` made from it by [`Mapping::bytes`] lives,
    /// the caller guarantees, for every range passed to [`Mapping::bytes`]:
    /// 1. the range's bytes were written to the file (or existed) before the call, so no
    ///    handed-out page lies past the end of file;
    /// 2. the file is never shrunk below the range's end, by any handle or process;
    /// 3. no byte of the range is ever written again, by any handle or process.
    ///
    /// The module documentation explains how the engine keeps these promises.
    pub(crate) unsafe fn new(file: &File, capacity: u64) -> io::Result<Mapping> {
        let len = usize::try_from(capacity).map_err(|_| io::Error::other("mapping larger than the address space"))?;
        let raw = MmapOptions::new().len(len).map_raw_read_only(file)?;
        Ok(Mapping { raw, handed_out: AtomicU64::new(0) })
    }

    fn capacity(&self) -> u64 {
        self.raw.len() as u64
    }

    /// The bytes of `range` as a zero-copy `Bytes` that keeps the mapping alive. Ranges past
    /// the mapping's capacity are refused; what lies inside is governed by the contract of
    /// [`Mapping::new`].
    fn bytes(self: &Arc<Self>, range: Range<u64>) -> io::Result<Bytes> {
        if range.start > range.end || range.end > self.capacity() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "view outside the mapping"));
        }
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.handed_out.fetch_max(range.end, Ordering::AcqRel);
        // Both fit usize: they are at most the capacity, which came from a usize.
        let (start, len) = (range.start as usize, (range.end - range.start) as usize);
        Ok(Bytes::from_owner(Window { map: Arc::clone(self), start, len }))
    }
}

/// Part of a mapping, as a `Bytes` owner: exposes exactly its range and keeps the mapping
/// alive.
struct Window {
    map: Arc<Mapping>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start + len` is within the mapping's capacity (checked by
        // `Mapping::bytes`, the only constructor), so the range lies inside the live mapping
        // that `self.map` keeps mapped; `len > 0`, so the pointer is non-null and in bounds.
        // The bytes are file contents that the contract of `Mapping::new` keeps present and
        // unchanged while this window lives.
        unsafe { std::slice::from_raw_parts(self.map.raw.as_ptr().add(self.start), self.len) }
    }
}

/// Map the whole of a file that is never written or shrunk again (a sealed segment, an index
/// file), as it is now. The bytes stay valid after the file is unlinked.
pub(crate) fn map_whole(file: &File, maps: &FileMaps) -> io::Result<Bytes> {
    let len = file.metadata()?.len();
    if len == 0 {
        // mmap of an empty file fails with EINVAL; an empty view needs no mapping.
        return Ok(Bytes::new());
    }
    // SAFETY: only files that are never written or shrunk again are mapped whole (module
    // documentation); every byte handed out lies below the length the file has now.
    let map = Arc::new(unsafe { Mapping::new(file, len)? });
    maps.register(&map);
    map.bytes(0..len)
}

/// The mappings made through one open file handle, and the checks that keep them sound for
/// that handle (module documentation).
#[derive(Debug)]
pub(crate) struct FileMaps {
    /// The mapping of a file being appended to, made ahead of its end; replaced by a longer
    /// one when the file outgrows it.
    ahead: Mutex<Option<Arc<Mapping>>>,
    /// Bytes known to be in the file: its length when opened, raised by each completed
    /// write, set by `set_len`. Views never reach past it.
    written: AtomicU64,
    /// An upper bound of what any mapping of this handle handed out (never decreases unless
    /// no live mapping covers it).
    handed_out: AtomicU64,
    /// Every mapping made through this handle that may still be alive.
    live: Mutex<Vec<Weak<Mapping>>>,
}

impl FileMaps {
    /// The maps of a handle on a file that is `len` bytes long when opened.
    pub(crate) fn new(len: u64) -> FileMaps {
        FileMaps {
            ahead: Mutex::new(None),
            written: AtomicU64::new(len),
            handed_out: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, map: &Arc<Mapping>) {
        let mut live = self.live.lock();
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(map));
    }

    /// The bytes of `range`, which must have been written: a slice of the mapping made ahead
    /// of the file's end, `reserve` bytes long (or longer, if the range needs it), so a file
    /// that is appended to is mapped once.
    pub(crate) fn view(&self, file: &File, range: Range<u64>, reserve: u64) -> io::Result<Bytes> {
        if range.start > range.end || range.end > self.written.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("view of bytes {range:?} past what was written"),
            ));
        }
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.handed_out.fetch_max(range.end, Ordering::AcqRel);
        let map = {
            let mut ahead = self.ahead.lock();
            match ahead.as_ref().filter(|m| m.capacity() >= range.end) {
                Some(m) => Arc::clone(m),
                None => {
                    let capacity = reserve.max(range.end).max(ahead.as_ref().map_or(0, |m| m.capacity() * 2));
                    // SAFETY: every byte handed out lies below `written` (checked above), so it
                    // was written; the module documentation explains why such bytes are never
                    // rewritten or cut off, and `before_change` refuses it for this handle.
                    // Pages of the mapping past the end of file are never handed out.
                    let m = Arc::new(unsafe { Mapping::new(file, capacity)? });
                    self.register(&m);
                    *ahead = Some(Arc::clone(&m));
                    m
                }
            }
        };
        map.bytes(range)
    }

    /// Before bytes from `offset` on are written or cut off: refused if a live mapping handed
    /// out any of them.
    pub(crate) fn before_change(&self, offset: u64) -> io::Result<()> {
        if offset >= self.handed_out.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut live = self.live.lock();
        live.retain(|w| w.strong_count() > 0);
        let covered = live.iter().filter_map(Weak::upgrade).map(|m| m.handed_out.load(Ordering::Acquire)).max();
        match covered {
            Some(end) if end > offset => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to change byte {offset}: a live memory mapping hands out bytes up to {end}"),
            )),
            _ => {
                // No live mapping reaches `offset` (they all died): later writes take the
                // fast path again.
                self.handed_out.store(covered.unwrap_or(0), Ordering::Release);
                Ok(())
            }
        }
    }

    /// A write of `[offset, end)` completed.
    pub(crate) fn wrote(&self, end: u64) {
        self.written.fetch_max(end, Ordering::AcqRel);
    }

    /// The file was cut or extended to `len`.
    pub(crate) fn set_len(&self, len: u64) {
        self.written.store(len, Ordering::Release);
    }
}

/// Hint to the CPU that `bytes[range]` (clamped to `bytes`) is about to be read: one prefetch
/// per 64-byte cache line, so the misses of a walk through cold memory (a random lookup
/// stepping over the records of a batch in a mapped segment) overlap instead of being taken one
/// at a time. Only a hint: it changes no value and never faults; a no-op off x86-64.
pub(crate) fn prefetch(bytes: &[u8], range: Range<usize>) {
    const LINE: usize = 64;
    let end = range.end.min(bytes.len());
    #[cfg(target_arch = "x86_64")]
    for at in (range.start..end).step_by(LINE) {
        let line = bytes.as_ptr().wrapping_add(at).cast::<i8>();
        // SAFETY: `_mm_prefetch` only needs SSE, which every x86-64 CPU has (it is part of the
        // target's baseline); a prefetch reads nothing into the program, cannot fault and has
        // no effect but on the caches. The address is inside `bytes` anyway (`at < end`).
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, end, LINE);
}
