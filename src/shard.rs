//! The shard log: the ordered segments of one shard, its active segment, its committed
//! high-watermark, and append, read, trim and close.
//!
//! Invariants:
//! 1. Offsets start at 0 (or at the trim horizon), are dense and never reused; the next
//!    offset is always derived from the newest segment, never from a count of survivors.
//! 2. Readers never see a record at or above the committed high-watermark, and every batch
//!    is CRC-checked on every read.
//! 3. Under `Durability::Sync`, `append` returns only after its bytes were fdatasync'd, and
//!    the high-watermark only covers synced bytes; a new segment is used only after its file
//!    and directory were synced.
//! 4. After a failed fdatasync or an unrecoverable failed write the log is poisoned: every
//!    further append fails with `Error::Poisoned` until it is reopened (and recovered).
//! 5. Arrival times never decrease within a shard.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::batch::{self, FrameError};
use crate::clock::{SharedClock, SystemClock};
use crate::commit::{Durability, SyncGroup, SyncTarget};
use crate::error::{is_enospc, Error, Result};
use crate::io::{FileRef, LockGuard, RealVfs, VfsRef};
use crate::marker::{self, CleanMarker};
use crate::notify::Notifier;
use crate::record::{Record, RecordRef};
use crate::recovery;
use crate::segment::{self, LoadConfig, ReadLimits, ReadSource, Segment, SEGMENT_HEADER_LEN};

/// The largest offset a record may have plus one: Kinesis sequence numbers carry the offset
/// in a 63-bit counter.
pub const MAX_OFFSET: u64 = (1 << 63) - 1;

/// Tunables of a shard log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment before one would exceed this many bytes (default 64 MiB).
    pub segment_max_bytes: u64,
    /// Roll a non-empty segment once it is this old (default 1 hour; `None` = never).
    pub segment_max_age: Option<Duration>,
    /// Bytes of log between sparse index entries (default 4 KiB).
    pub index_interval_bytes: u32,
    /// Largest batch accepted, in bytes (default 64 MiB).
    pub max_batch_bytes: u32,
    /// When appends are acknowledged.
    pub durability: Durability,
    /// The key that seals batches appended with `seal` (encryption at rest, see
    /// [`crate::at_rest`]); its id goes into every new segment's header.
    pub at_rest_key: Option<Arc<crate::at_rest::AtRestKey>>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_max_bytes: 64 * 1024 * 1024,
            segment_max_age: Some(Duration::from_secs(3600)),
            index_interval_bytes: 4096,
            max_batch_bytes: 64 * 1024 * 1024,
            durability: Durability::default(),
            at_rest_key: None,
        }
    }
}

/// Everything a shard log is opened with. Engines share one `vfs`, `clock`, `sync_group`
/// and `cache` between all their shards.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Tunables.
    pub config: LogConfig,
    /// The file system.
    pub vfs: VfsRef,
    /// The clock that stamps arrival times and ages segments.
    pub clock: SharedClock,
    /// The group commit / flusher this log joins.
    pub sync_group: Arc<SyncGroup>,
    /// The cache bounding how many sealed segments are loaded (mapped) at once.
    pub cache: Arc<SegmentCache>,
    /// Take the directory's `LOCK` (standalone logs); engines lock their root instead.
    pub lock_dir: bool,
    /// How many levels of parent directories a new log makes durable (fsyncs) before its
    /// first segment is used, even if they already existed: a failed fsync in an earlier
    /// attempt leaves directories that exist but are not durable. Default 1 (the log
    /// directory's entry in its parent); engines use 3 (up to their root).
    pub durable_parent_levels: usize,
}

impl LogOptions {
    /// Options with the real file system and clock, a private sync group and cache.
    pub fn new(config: LogConfig) -> LogOptions {
        LogOptions {
            config,
            vfs: RealVfs::shared(),
            clock: Arc::new(SystemClock),
            sync_group: SyncGroup::new(),
            cache: SegmentCache::new(64),
            lock_dir: true,
            durable_parent_levels: 1,
        }
    }

    /// Use another file system.
    pub fn with_vfs(mut self, vfs: VfsRef) -> LogOptions {
        self.vfs = vfs;
        self
    }

    /// Use another clock.
    pub fn with_clock(mut self, clock: SharedClock) -> LogOptions {
        self.clock = clock;
        self
    }
}

/// Bounds the number of sealed segments loaded (memory-mapped, index in memory) at once,
/// across every log that shares it; the least recently used is dropped first. Readers
/// holding records of a dropped segment keep their bytes.
#[derive(Debug)]
pub struct SegmentCache {
    max_loaded: usize,
    tick: AtomicU64,
    loaded: Mutex<Vec<Weak<Segment>>>,
}

impl SegmentCache {
    /// A cache allowing `max_loaded` loaded sealed segments (at least 1).
    pub fn new(max_loaded: usize) -> Arc<SegmentCache> {
        Arc::new(SegmentCache {
            max_loaded: max_loaded.max(1),
            tick: AtomicU64::new(1),
            loaded: Mutex::new(Vec::new()),
        })
    }

    /// Number of segments loaded now.
    pub fn loaded(&self) -> usize {
        self.loaded.lock().iter().filter_map(Weak::upgrade).filter(|s| s.is_loaded()).count()
    }

    fn touch(&self, seg: &Arc<Segment>, fresh: bool) {
        seg.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if !fresh {
            return;
        }
        let mut l = self.loaded.lock();
        l.push(Arc::downgrade(seg));
        if l.len() <= self.max_loaded {
            return;
        }
        l.retain(|w| w.upgrade().is_some_and(|s| s.is_loaded()));
        while l.len() > self.max_loaded {
            let oldest = l
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| w.upgrade().map_or(0, |s| s.last_used.load(Ordering::Relaxed)))
                .map(|(i, _)| i);
            let Some(i) = oldest else { break };
            if let Some(s) = l.swap_remove(i).upgrade() {
                s.unload();
            }
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record appended.
    pub first_offset: u64,
    /// One past the last record appended.
    pub next_offset: u64,
    /// The arrival time stamped on every record of the append.
    pub arrival_ms: i64,
}

/// Records read from a shard log.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// The records, in offset order.
    pub records: Vec<Record>,
    /// Where the next read should start: one past the last record returned, or the
    /// (trim-clamped) start position if none was.
    pub next_offset: u64,
}

/// What a trim removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimOutcome {
    /// Segments deleted.
    pub segments_removed: usize,
    /// Bytes of segment files deleted.
    pub bytes_removed: u64,
    /// The lowest offset still retained.
    pub start_offset: u64,
}

/// Facts about one segment, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of its first record.
    pub base_offset: u64,
    /// One past its last record.
    pub end_offset: u64,
    /// Bytes (known for the active segment and loaded sealed ones, else 0).
    pub bytes: u64,
    /// True once rolled.
    pub sealed: bool,
    /// Sparse index entries, if the index is in memory.
    pub index_entries: Option<usize>,
    /// The `.log` file.
    pub path: PathBuf,
}

/// A segmented, crash-safe, append-only log of one shard. Cheap to clone (a shared handle);
/// safe to append and read from many threads.
#[derive(Debug, Clone)]
pub struct ShardLog {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    vfs: VfsRef,
    clock: SharedClock,
    config: LogConfig,
    sync_group: Arc<SyncGroup>,
    cache: Arc<SegmentCache>,
    writer: Mutex<Writer>,
    /// Nonces of batches sealed by this opening of the log.
    nonces: crate::at_rest::NonceSource,
    segments: RwLock<Vec<Arc<Segment>>>,
    notifier: Notifier,
    start: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    trim_lock: Mutex<()>,
    closed: AtomicBool,
    dir_lock: Mutex<Option<Box<dyn LockGuard>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLog")
            .field("dir", &self.dir)
            .field("high_watermark", &self.notifier.high_watermark())
            .finish()
    }
}

struct Writer {
    active: Arc<Segment>,
    file: FileRef,
    pos: u64,
    next_offset: u64,
    last_arrival_ms: i64,
    buf: Vec<u8>,
    clean_marker_present: bool,
}

impl ShardLog {
    /// Open (creating if needed) the shard log in `dir`, recovering from an unclean shutdown:
    /// the newest segment is scanned and cut at its first torn or corrupt batch, its index
    /// rebuilt, and file and directory synced. A clean shutdown skips the scan.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<ShardLog> {
        let dir = dir.as_ref().to_path_buf();
        let LogOptions { config, vfs, clock, sync_group, cache, lock_dir, durable_parent_levels } = options;
        if config.index_interval_bytes == 0 || config.segment_max_bytes <= SEGMENT_HEADER_LEN {
            return Err(Error::invalid_argument("index_interval_bytes must be > 0 and segment_max_bytes > 32"));
        }
        crate::io::create_dir_all_durable(vfs.as_ref(), &dir)?;
        let lock = if lock_dir {
            let path = dir.join(marker::LOCK_FILE);
            Some(vfs.lock(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock => Error::Locked { path: dir.clone() },
                _ => Error::io("lock", &path, e),
            })?)
        } else {
            None
        };
        let load = LoadConfig {
            index_interval_bytes: config.index_interval_bytes,
            max_batch_bytes: batch::MAX_BATCH_LEN,
            key_id: config.at_rest_key.as_ref().map_or(0, |k| k.id()),
        };
        let r = recovery::recover(&vfs, &dir, &load, clock.now_ms(), durable_parent_levels)?;
        #[cfg(not(feature = "canary-next-offset-from-count"))]
        let next = r.active.end_offset();
        // Planted bug (reliability R9): the next offset counted from the surviving records,
        // wrong (and colliding with existing offsets) once retention has trimmed the log.
        #[cfg(feature = "canary-next-offset-from-count")]
        let next = r.segments.iter().map(|s| s.end_offset().saturating_sub(s.base)).sum::<u64>();
        let inner = Arc::new(Inner {
            writer: Mutex::new(Writer {
                active: Arc::clone(&r.active),
                file: r.active_file,
                pos: r.active.len.load(Ordering::Acquire),
                next_offset: next,
                last_arrival_ms: r.last_arrival_ms,
                buf: Vec::new(),
                clean_marker_present: r.clean_marker_present,
            }),
            nonces: crate::at_rest::NonceSource::new(),
            segments: RwLock::new(r.segments),
            notifier: Notifier::new(next),
            start: AtomicU64::new(r.start_offset),
            written: AtomicU64::new(next),
            synced: AtomicU64::new(next),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            trim_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
            dir_lock: Mutex::new(lock),
            dir,
            vfs,
            clock,
            config,
            sync_group,
            cache,
        });
        if let Durability::Interval(period) = inner.config.durability {
            let weak: Weak<dyn SyncTarget> = Arc::downgrade(&(Arc::clone(&inner) as Arc<dyn SyncTarget>));
            inner.sync_group.register_interval(weak, period);
        }
        Ok(ShardLog { inner })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The committed high-watermark: one past the newest record readers can see.
    pub fn high_watermark(&self) -> u64 {
        self.inner.notifier.high_watermark()
    }

    /// The lowest retained offset (the trim horizon).
    pub fn start_offset(&self) -> u64 {
        self.inner.start.load(Ordering::Acquire)
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.poison_cause.lock().clone()
    }

    /// Append `records` as one batch (one write; under `Sync` one shared fdatasync) and
    /// return where they landed once they are acknowledged per the log's durability.
    pub fn append(&self, records: &[RecordRef<'_>]) -> Result<Appended> {
        self.append_with(records, false)
    }

    /// [`Self::append`]; with `seal` and an at-rest key configured the batch is stored
    /// sealed (encrypted at rest, see [`crate::at_rest`]). Without a key `seal` changes
    /// nothing.
    pub fn append_with(&self, records: &[RecordRef<'_>], seal: bool) -> Result<Appended> {
        let inner = &self.inner;
        let appended = inner.append(records, seal)?;
        match inner.config.durability {
            Durability::Sync => inner.wait_synced(appended.next_offset)?,
            Durability::Buffered | Durability::Interval(_) => inner.notifier.publish(appended.next_offset),
        }
        Ok(appended)
    }

    /// Read up to `max_records` records starting at offset `from` (clamped up to the trim
    /// horizon, as trimmed data is skipped), stopping once `max_bytes` of keys and data were
    /// returned (at least one record is returned if any is available). Every batch read is
    /// CRC-checked; damage is `Error::Corrupt` naming the file and byte offset.
    pub fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<ReadResult> {
        self.inner.read(from, max_records, max_bytes)
    }

    /// The offset of the first record that arrived at or after `arrival_ms`, or the
    /// high-watermark if none did. Never below the trim horizon.
    pub fn offset_for_time(&self, arrival_ms: i64) -> Result<u64> {
        self.inner.offset_for_time(arrival_ms)
    }

    /// Block until the high-watermark exceeds `offset` or `timeout` passes; returns the
    /// high-watermark. Woken by the append itself.
    pub fn wait_past(&self, offset: u64, timeout: Duration) -> u64 {
        self.inner.notifier.wait_past(offset, timeout)
    }

    /// Like [`ShardLog::wait_past`], but also returns once `stop()` holds (whoever makes it
    /// hold calls [`ShardLog::wake_waiters`]).
    pub fn wait_past_unless(&self, offset: u64, timeout: Duration, stop: &dyn Fn() -> bool) -> u64 {
        self.inner.notifier.wait_past_unless(offset, timeout, stop)
    }

    /// Wake every blocked reader and registered waker so they re-check their conditions.
    pub fn wake_waiters(&self) {
        self.inner.notifier.wake_all();
    }

    /// Register an async waker for when the high-watermark exceeds `offset`; returns `true`
    /// (registering nothing) if it already does.
    pub fn register_waker(&self, offset: u64, waker: &Waker) -> bool {
        self.inner.notifier.register_waker(offset, waker)
    }

    /// fdatasync everything written so far (any durability mode).
    pub fn flush(&self) -> Result<()> {
        let inner = &self.inner;
        let written = inner.written.load(Ordering::Acquire);
        inner.sync_written();
        if inner.synced.load(Ordering::Acquire) >= written {
            Ok(())
        } else {
            Err(inner.poison_error())
        }
    }

    /// Delete whole segments whose newest record arrived before `cutoff_ms`. If every record
    /// of the active segment is that old, it is rolled first so it can go too. The trim
    /// horizon is made durable before any file is unlinked.
    pub fn trim_before(&self, cutoff_ms: i64) -> Result<TrimOutcome> {
        self.inner.trim(|_, seg| seg.max_arrival_ms.load(Ordering::Acquire) < cutoff_ms, Some(cutoff_ms))
    }

    /// Delete the oldest sealed segments until the log's segment files total at most
    /// `max_bytes` (the active segment is never deleted).
    pub fn trim_to_size(&self, max_bytes: u64) -> Result<TrimOutcome> {
        let total: u64 = self.inner.segments.read().iter().map(|s| self.inner.segment_bytes(s)).sum();
        let mut excess = total.saturating_sub(max_bytes);
        self.inner.trim(
            move |inner, seg| {
                if excess == 0 {
                    return false;
                }
                excess = excess.saturating_sub(inner.segment_bytes(seg));
                true
            },
            None,
        )
    }

    /// Delete whole sealed segments whose every record has an offset below `offset` (the
    /// active segment is never deleted). The trim horizon is made durable before any file is
    /// unlinked, as for [`ShardLog::trim_before`]. For readers that are done with a prefix of
    /// the log (a forwarder whose destination acknowledged it).
    pub fn trim_below(&self, offset: u64) -> Result<TrimOutcome> {
        self.inner.trim(move |_, seg| seg.end_offset() <= offset, None)
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.inner
            .segments
            .read()
            .iter()
            .map(|s| SegmentInfo {
                base_offset: s.base,
                end_offset: s.end_offset(),
                bytes: s.len.load(Ordering::Acquire),
                sealed: s.is_sealed(),
                index_entries: s.index_len(),
                path: s.paths.log.clone(),
            })
            .collect()
    }

    /// Close without syncing or writing markers, for a log whose files are about to be
    /// deleted (stream deletion, expired shards). Later appends fail.
    pub fn discard(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.dir_lock.lock().take();
    }

    /// Close cleanly: fdatasync, write the active segment's index files and the clean
    /// marker, so the next open skips recovery, and release the directory lock. Later
    /// appends fail. Dropping the last handle closes too, ignoring errors.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

impl Inner {
    fn load_config(&self) -> LoadConfig {
        LoadConfig {
            index_interval_bytes: self.config.index_interval_bytes,
            // Data already written is read whatever the append limit is now.
            max_batch_bytes: batch::MAX_BATCH_LEN,
            key_id: self.config.at_rest_key.as_ref().map_or(0, |k| k.id()),
        }
    }

    fn poison(&self, cause: String) {
        let mut c = self.poison_cause.lock();
        if c.is_none() {
            *c = Some(cause);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn poison_error(&self) -> Error {
        Error::Poisoned {
            path: self.dir.clone(),
            cause: self.poison_cause.lock().clone().unwrap_or_else(|| "earlier failure".into()),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.is_poisoned() {
            return Err(self.poison_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::invalid_argument(format!("shard log {} is closed", self.dir.display())));
        }
        Ok(())
    }

    fn append(self: &Arc<Self>, records: &[RecordRef<'_>], seal: bool) -> Result<Appended> {
        self.check_writable()?;
        let key = self.config.at_rest_key.as_ref().filter(|_| seal);
        let overhead = if key.is_some() { crate::at_rest::SEAL_OVERHEAD as u64 } else { 0 };
        let needed = batch::encoded_len(records) as u64 + overhead;
        if records.is_empty() || needed > u64::from(self.config.max_batch_bytes.min(batch::MAX_BATCH_LEN)) {
            return Err(Error::invalid_argument(format!(
                "an append needs 1 or more records and at most {} bytes encoded; got {} records, {needed} bytes",
                self.config.max_batch_bytes,
                records.len()
            )));
        }
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        self.check_writable()?;
        if w.next_offset.checked_add(records.len() as u64).is_none_or(|end| end > MAX_OFFSET) {
            return Err(Error::invalid_argument(format!(
                "shard log {} is full: offsets would pass {MAX_OFFSET}",
                self.dir.display()
            )));
        }
        if w.clean_marker_present {
            let path = self.dir.join(marker::CLEAN_FILE);
            match self.vfs.remove_file(&path) {
                Ok(()) => {}
                // A retry after a failed directory fsync: the file is already gone.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
            self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
            w.clean_marker_present = false;
        }
        let now = self.clock.now_ms();
        let arrival_ms = now.max(w.last_arrival_ms);
        let has_data = w.pos > SEGMENT_HEADER_LEN;
        let too_big = w.pos.saturating_add(needed) > self.config.segment_max_bytes;
        let too_old = self.config.segment_max_age.is_some_and(|age| {
            now.saturating_sub(w.active.created_ms) >= i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
        });
        if has_data && (too_big || too_old) {
            self.roll(w, now)?;
        }
        w.buf.clear();
        let mut header =
            batch::encode_into(&mut w.buf, w.next_offset, arrival_ms, records, self.config.max_batch_bytes)
                .map_err(|e| Error::invalid_argument(e.to_string()))?;
        if let Some(key) = key {
            header = batch::seal_batch(&mut w.buf, 0, key, self.nonces.next())
                .map_err(|e| Error::invalid_argument(e.to_string()))?;
        }
        let position = w.pos;
        if let Err(e) = w.file.write_all_at(&w.buf, position) {
            return Err(self.write_failed(w, e));
        }
        w.active.record_append(&header, position, self.config.index_interval_bytes);
        w.pos = position + u64::from(header.batch_len);
        w.next_offset = header.next_offset();
        w.last_arrival_ms = arrival_ms;
        self.written.store(w.next_offset, Ordering::Release);
        debug_assert_eq!(w.active.end_offset(), w.next_offset);
        Ok(Appended { first_offset: header.first_offset, next_offset: header.next_offset(), arrival_ms })
    }

    /// A write failed: cut off whatever part of it reached the file. A full disk (`ENOSPC`)
    /// whose partial write was cut off cleanly leaves the log exactly as before, so it stays
    /// writable and appends resume once space is freed; anything else poisons it.
    fn write_failed(&self, w: &Writer, e: std::io::Error) -> Error {
        let path = w.active.paths.log.clone();
        let cut = w.file.set_len(w.pos);
        if cut.is_err() || !is_enospc(&e) {
            self.poison(format!("write to {} failed: {e}", path.display()));
        }
        Error::io("write", path, e)
    }

    /// Seal the active segment and start a new one (reliability rule 3): fdatasync the old
    /// segment, create the new file exclusively, write and sync its header, fsync the
    /// directory, and only then append to it.
    fn roll(&self, w: &mut Writer, now: i64) -> Result<()> {
        let old = Arc::clone(&w.active);
        if let Err(e) = w.file.sync_data() {
            self.poison(format!("fdatasync of {} failed: {e}", old.paths.log.display()));
            return Err(Error::io("fdatasync", &old.paths.log, e));
        }
        self.mark_synced(w.next_offset);
        let base = w.next_offset;
        let paths = segment::SegmentPaths::new(&self.dir, base);
        let file = self.vfs.create_new(&paths.log).map_err(|e| Error::io("create", &paths.log, e))?;
        let header = segment::encode_header_with_key(base, now, self.config.at_rest_key.as_ref().map_or(0, |k| k.id()));
        if let Err(e) = file.write_all_at(&header, 0).and_then(|()| file.sync_data()) {
            if self.vfs.remove_file(&paths.log).is_err() {
                self.poison(format!("could not remove half-created segment {}", paths.log.display()));
            }
            return Err(Error::io("write", &paths.log, e));
        }
        #[cfg(not(feature = "canary-no-dir-fsync-on-roll"))]
        if let Err(e) = self.vfs.sync_dir(&self.dir) {
            self.poison(format!("directory fsync of {} failed: {e}", self.dir.display()));
            return Err(Error::io("directory fsync", &self.dir, e));
        }
        if let Some((o, t)) = old.encoded_index_files() {
            segment::write_index_pair(&self.vfs, &old.paths, &o, &t);
        }
        old.seal();
        let seg = Arc::new(Segment::new_active(&self.dir, base, now, Arc::clone(&file), None));
        self.segments.write().push(Arc::clone(&seg));
        w.active = seg;
        w.file = file;
        w.pos = SEGMENT_HEADER_LEN;
        Ok(())
    }

    fn mark_synced(&self, upto: u64) {
        self.synced.fetch_max(upto, Ordering::AcqRel);
        if self.config.durability == Durability::Sync {
            self.notifier.publish(upto);
        }
    }

    fn wait_synced(self: &Arc<Self>, end: u64) -> Result<()> {
        let target: Arc<dyn SyncTarget> = Arc::clone(self) as Arc<dyn SyncTarget>;
        self.sync_group.wait_durable(&target, &|| self.synced.load(Ordering::Acquire) >= end || self.is_poisoned());
        if self.synced.load(Ordering::Acquire) >= end {
            Ok(())
        } else {
            Err(self.poison_error())
        }
    }

    fn segment_bytes(&self, seg: &Segment) -> u64 {
        let known = seg.len.load(Ordering::Acquire);
        if known > 0 {
            return known;
        }
        self.vfs.open_read(&seg.paths.log).and_then(|f| f.len()).unwrap_or(0)
    }

    /// The segments from the one holding `offset` on.
    fn segments_from(&self, offset: u64) -> Vec<Arc<Segment>> {
        let segs = self.segments.read();
        let i = segs.partition_point(|s| s.base <= offset).saturating_sub(1);
        segs.get(i..).map(<[Arc<Segment>]>::to_vec).unwrap_or_default()
    }

    fn source(
        &self,
        seg: &Arc<Segment>,
        find: impl FnOnce(&Segment, &LoadConfig) -> Result<(ReadSource, bool)>,
    ) -> Result<ReadSource> {
        let cfg = self.load_config();
        let (src, fresh) = find(seg, &cfg)?;
        if seg.is_sealed() {
            self.cache.touch(seg, fresh);
        }
        Ok(src)
    }

    fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<ReadResult> {
        let hw = self.notifier.high_watermark();
        let start = self.start.load(Ordering::Acquire);
        let mut next = from.max(start);
        let mut out =
            Vec::with_capacity(max_records.min(usize::try_from(hw.saturating_sub(next)).unwrap_or(0)).min(10_000));
        if next >= hw || max_records == 0 {
            return Ok(ReadResult { records: out, next_offset: next });
        }
        let mut limits = ReadLimits {
            max_records,
            bytes_left: max_bytes.max(1),
            max_batch_bytes: batch::MAX_BATCH_LEN,
            key: self.config.at_rest_key.clone(),
        };
        for seg in self.segments_from(next) {
            if seg.base >= hw || limits.exhausted() {
                break;
            }
            if seg.end_offset() <= next && seg.is_sealed() {
                continue;
            }
            let until = next.saturating_add(limits.max_records as u64);
            let src = match self.source(&seg, |s, cfg| s.source_for_offset(&self.vfs, next, until, cfg)) {
                Ok(src) => src,
                // Retention deleted the segment between our snapshot and the load: the data
                // is trimmed, so continue at the new horizon.
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && seg.end_offset() <= self.start.load(Ordering::Acquire) =>
                {
                    // One result never spans a gap: return what was read so far; the next
                    // read starts at the new horizon.
                    if !out.is_empty() {
                        break;
                    }
                    next = next.max(self.start.load(Ordering::Acquire));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (done, end_seen) = read_source(&seg.paths.log, src, next, hw, &mut limits, &mut out)?;
            if !done && seg.is_sealed() {
                // The whole of a sealed segment was walked: it must reach its end offset.
                let expected = seg.end_offset().min(hw);
                let reached = end_seen.unwrap_or(next);
                if reached < expected {
                    return Err(Error::corrupt(
                        &seg.paths.log,
                        seg.len.load(Ordering::Acquire),
                        format!("sealed segment ends at offset {reached}, but the log continues at {expected}"),
                    ));
                }
            }
            if let Some(last) = out.last() {
                next = last.offset + 1;
            }
            if done {
                break;
            }
            // The active segment's end can run ahead of the watermark snapshot: never skip
            // past records that were not yet visible.
            next = next.max(seg.end_offset().min(hw));
        }
        debug_assert!(out.windows(2).all(|p| p.first().map(|r| r.offset + 1) == p.get(1).map(|r| r.offset)));
        debug_assert!(out.last().is_none_or(|r| r.offset < hw));
        Ok(ReadResult { records: out, next_offset: next })
    }

    fn offset_for_time(&self, arrival_ms: i64) -> Result<u64> {
        let hw = self.notifier.high_watermark();
        let start = self.start.load(Ordering::Acquire);
        for seg in self.segments_from(start) {
            if seg.base >= hw {
                break;
            }
            if seg.is_sealed() {
                self.source(&seg, |s, cfg| s.ensure_loaded(&self.vfs, cfg).map(|fresh| (ReadSource::Empty, fresh)))?;
            }
            if seg.max_arrival_ms.load(Ordering::Acquire) < arrival_ms {
                continue;
            }
            let src = self.source(&seg, |s, cfg| s.source_for_time(&self.vfs, arrival_ms, cfg))?;
            if let Some(offset) = first_batch_arriving_at(&seg.paths.log, src, arrival_ms, hw, batch::MAX_BATCH_LEN)? {
                return Ok(offset.max(start).min(hw));
            }
        }
        Ok(hw)
    }

    fn trim(&self, mut expired: impl FnMut(&Inner, &Segment) -> bool, cutoff_ms: Option<i64>) -> Result<TrimOutcome> {
        let _t = self.trim_lock.lock();
        let cfg = self.load_config();
        // Load summaries of sealed segments as we go (their newest arrival time).
        let mut doomed = Vec::new();
        let all = self.segments.read().clone();
        for seg in all.iter().filter(|s| s.is_sealed()) {
            self.source(seg, |s, cfg| s.ensure_loaded(&self.vfs, cfg).map(|fresh| (ReadSource::Empty, fresh)))?;
            if !expired(self, seg) {
                break;
            }
            doomed.push(Arc::clone(seg));
        }
        let _ = cfg;
        // Every sealed segment expired by time and the active one too: roll it so it can go.
        if let Some(cutoff) = cutoff_ms {
            if doomed.len() + 1 == all.len() {
                let mut w = self.writer.lock();
                let active = Arc::clone(&w.active);
                if w.pos > SEGMENT_HEADER_LEN && active.max_arrival_ms.load(Ordering::Acquire) < cutoff {
                    self.check_writable()?;
                    let now = self.clock.now_ms();
                    match self.roll(&mut w, now) {
                        Ok(()) => doomed.push(active),
                        // A full disk has no room for the new segment: trim the sealed ones.
                        Err(e) if e.is_storage_full() && !self.is_poisoned() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let Some(last) = doomed.last() else {
            return Ok(TrimOutcome { start_offset: self.start.load(Ordering::Acquire), ..TrimOutcome::default() });
        };
        let new_start = last.end_offset();
        // The horizon is made durable before anything is unlinked. On a full disk there is no
        // room for it: then free space first, unlinking oldest first with a directory fsync
        // after each segment, so whatever a crash leaves is still a contiguous run of the
        // newest segments (recovery starts at the oldest survivor), and record the horizon
        // once there is room.
        let horizon = marker::encode_horizon(new_start);
        let full_disk = match marker::replace_atomically(&self.vfs, &self.dir, marker::HORIZON_FILE, &horizon) {
            Ok(()) => false,
            Err(e) if e.is_storage_full() => true,
            Err(e) => return Err(e),
        };
        self.start.fetch_max(new_start, Ordering::AcqRel);
        self.segments.write().retain(|s| s.base >= new_start);
        let mut bytes_removed = 0;
        for seg in &doomed {
            bytes_removed += self.segment_bytes(seg);
            for path in [&seg.paths.log, &seg.paths.offset_index, &seg.paths.time_index] {
                match self.vfs.remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", path, e)),
                }
            }
            seg.unload();
            if full_disk {
                self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
            }
        }
        self.vfs.sync_dir(&self.dir).map_err(|e| Error::io("directory fsync", &self.dir, e))?;
        if full_disk {
            // Best effort: the survivors already imply the horizon.
            let _ = marker::replace_atomically(&self.vfs, &self.dir, marker::HORIZON_FILE, &horizon);
        }
        Ok(TrimOutcome { segments_removed: doomed.len(), bytes_removed, start_offset: new_start })
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.close_files();
        self.dir_lock.lock().take();
        result
    }

    fn close_files(&self) -> Result<()> {
        let w = self.writer.lock();
        if self.is_poisoned() {
            return Ok(());
        }
        let log = &w.active.paths.log;
        if let Err(e) = w.file.sync_data() {
            self.poison(format!("fdatasync of {} failed: {e}", log.display()));
            return Err(Error::io("fdatasync", log, e));
        }
        self.mark_synced(w.next_offset);
        if w.clean_marker_present {
            return Ok(());
        }
        if let Some((o, t)) = w.active.encoded_index_files() {
            for (path, bytes) in [(&w.active.paths.offset_index, o), (&w.active.paths.time_index, t)] {
                let f = self.vfs.create(path).map_err(|e| Error::io("create", path, e))?;
                f.write_all_at(&bytes, 0).map_err(|e| Error::io("write", path, e))?;
                f.sync_data().map_err(|e| Error::io("fdatasync", path, e))?;
            }
        }
        let m = CleanMarker {
            base: w.active.base,
            len: w.pos,
            end_offset: w.next_offset,
            max_arrival_ms: w.active.max_arrival_ms.load(Ordering::Acquire),
        };
        marker::replace_atomically(&self.vfs, &self.dir, marker::CLEAN_FILE, &m.encode())
    }
}

impl SyncTarget for Inner {
    fn sync_written(&self) {
        if self.is_poisoned() {
            return;
        }
        let (file, written, log) = {
            let w = self.writer.lock();
            (Arc::clone(&w.file), self.written.load(Ordering::Acquire), w.active.paths.log.clone())
        };
        if self.synced.load(Ordering::Acquire) >= written {
            return;
        }
        match file.sync_data() {
            Ok(()) => self.mark_synced(written),
            Err(e) => self.poison(format!("fdatasync of {} failed: {e}", log.display())),
        }
    }

    fn needs_sync(&self) -> bool {
        !self.is_poisoned() && self.written.load(Ordering::Acquire) > self.synced.load(Ordering::Acquire)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// How much to read from the active segment per positional read.
const READ_CHUNK_MIN: u64 = 64 * 1024;
const READ_CHUNK_MAX: u64 = 8 * 1024 * 1024;

/// Decode records from one segment source. Returns `true` when a limit or the
/// high-watermark was reached.
fn read_source(
    path: &Path,
    src: ReadSource,
    from: u64,
    hw: u64,
    limits: &mut ReadLimits,
    out: &mut Vec<Record>,
) -> Result<(bool, Option<u64>)> {
    match src {
        ReadSource::Empty => Ok((false, None)),
        ReadSource::Mapped { map, position } => {
            let chunk = map.slice(usize::try_from(position).unwrap_or(usize::MAX).min(map.len())..);
            let o = segment::decode_chunk(&chunk, path, position, from, hw, limits, out)?;
            if o.partial {
                return Err(Error::corrupt(
                    path,
                    position + o.consumed as u64,
                    "batch runs past the end of a sealed segment",
                ));
            }
            Ok((o.done, o.end_seen))
        }
        ReadSource::File { file, mut position, len, first_read } => {
            // Start with what the index says the records need (a tailing reader wants a few
            // records), and double while the read goes on, so a one-record read does not fetch
            // megabytes and a large one is a few reads.
            let mut want = first_read.clamp(READ_CHUNK_MIN, READ_CHUNK_MAX);
            let mut end_seen = None;
            while position < len {
                let n = want.min(len - position);
                let chunk = read_chunk(&file, path, position, n)?;
                let resume = out.last().map_or(from, |r| r.offset + 1);
                let o = segment::decode_chunk(&chunk, path, position, resume, hw, limits, out)?;
                end_seen = o.end_seen.or(end_seen);
                if o.done {
                    return Ok((true, end_seen));
                }
                if o.partial && o.consumed == 0 {
                    // One batch larger than the chunk: read exactly that batch next.
                    let h = batch::decode_header(&chunk, limits.max_batch_bytes)
                        .map_err(|e| Error::corrupt(path, position, e.to_string()))?;
                    want = u64::from(h.batch_len);
                    if position + want > len {
                        return Err(Error::corrupt(
                            path,
                            position,
                            FrameError::Truncated { need: want, have: len - position }.to_string(),
                        ));
                    }
                    continue;
                }
                position += o.consumed as u64;
                want = (want * 2).min(READ_CHUNK_MAX).min((limits.bytes_left as u64).max(READ_CHUNK_MIN));
            }
            Ok((false, end_seen))
        }
    }
}

fn read_chunk(file: &FileRef, path: &Path, position: u64, len: u64) -> Result<Bytes> {
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut buf, position).map_err(|e| Error::io("read", path, e))?;
    Ok(Bytes::from(buf))
}

/// Fetches `len` bytes at a position of a segment source.
type ByteFetch = Box<dyn Fn(u64, u64) -> Result<Bytes>>;

/// The first offset of the first batch at or after the source position that arrived at or
/// after `arrival_ms` (and lies below `hw`).
fn first_batch_arriving_at(
    path: &Path,
    src: ReadSource,
    arrival_ms: i64,
    hw: u64,
    max_batch: u32,
) -> Result<Option<u64>> {
    let (bytes_at, mut position, len): (ByteFetch, u64, u64) = match src {
        ReadSource::Empty => return Ok(None),
        ReadSource::Mapped { map, position } => {
            let len = map.len() as u64;
            (Box::new(move |p, n| Ok(map.slice(p as usize..(p + n) as usize))), position, len)
        }
        ReadSource::File { file, position, len, .. } => {
            let path = path.to_path_buf();
            (Box::new(move |p, n| read_chunk(&file, &path, p, n)), position, len)
        }
    };
    while position + batch::BATCH_HEADER_LEN as u64 <= len {
        let head = bytes_at(position, batch::BATCH_HEADER_LEN as u64)?;
        let h = batch::decode_header(&head, max_batch).map_err(|e| Error::corrupt(path, position, e.to_string()))?;
        if h.first_offset >= hw {
            return Ok(None);
        }
        if h.arrival_ms >= arrival_ms {
            return Ok(Some(h.first_offset));
        }
        position += u64::from(h.batch_len);
    }
    Ok(None)
}
