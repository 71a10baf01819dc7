//! The shard log: the ordered segments of one shard, its active segment, its committed
//! high-watermark, and append, read, trim and close.
//!
//! The log is one folder (`docs/format.md`); its parts, bottom up:
//! - [`batch`] and [`record`]: the framing of records in batches;
//! - [`segment`]: the files, each owning its bytes — the active segment appends (encode,
//!   write, index), sealed ones are read through their mapping, and one
//!   [`BatchCursor`](segment::BatchCursor) walks batches for reads, recovery, time lookups
//!   and `verify`;
//! - [`index`]: sparse offset/time indexes; [`marker`]: the `CLEAN` and `HORIZON` files;
//! - `recovery`: opening a directory after a crash; `sealer`: making sealed segments
//!   durable off the append path; [`commit`]: durability modes, group commit and the
//!   written/synced/visible bookkeeping; [`notify`]: the high-watermark and its waiters;
//! - `view`: the consistent horizon + segment list readers snapshot; `cache`: the bound on
//!   loaded sealed segments; [`check`]: read-only examination (`inspect`, `verify`);
//! - [`queue`]: beside the shard logs, the per-queue delivery state of Kinesis queues
//!   (floors, in-flight deliveries, dead-letter records) in a crash-safe state log with
//!   snapshots.
//!
//! This module holds [`ShardLog`] itself; its work is split by job over `write` (append,
//! roll, sync, close), `read` (reads and time lookups) and `trim` (retention).
//!
//! Invariants:
//! 1. Offsets start at 0 (or at the trim horizon), are dense and never reused; the next
//!    offset is always derived from the newest segment, never from a count of survivors.
//! 2. Readers never see a record at or above the committed high-watermark, and every batch
//!    they are handed records from is CRC-checked on that read — or, in a loaded sealed
//!    segment, on an earlier read through the same mapping (`segment::verified`).
//! 3. An append is acknowledged only once it is visible (the high-watermark covers it).
//!    Under `Durability::Sync` it is acknowledged only after its bytes were fdatasync'd —
//!    including, after a roll, the sealed segment holding them — and the high-watermark only
//!    covers synced bytes; a new segment is used only after its file and directory were
//!    synced.
//! 4. After a failed fdatasync or an unrecoverable failed write the log is poisoned: every
//!    further append fails with `Error::Poisoned` until it is reopened (and recovered).
//! 5. Arrival times never decrease within a shard.
//! 6. A reader's horizon and segment list come from one snapshot ([`view`](self)).

pub mod batch;
mod cache;
pub mod check;
pub mod commit;
#[cfg(feature = "testing")]
pub mod hooks;
pub mod index;
pub mod marker;
pub mod notify;
pub mod queue;
mod read;
pub mod record;
mod recovery;
mod sealer;
pub mod segment;
mod trim;
mod view;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::clock::{SharedClock, SystemClock};
use crate::error::{Error, Result};
use crate::io::{LockGuard, RealVfs, VfsRef};
use record::Record;

pub use cache::SegmentCache;
use commit::{CommitPoint, Durability, Sealing, SyncGroup, SyncTarget};
use record::RecordRef;
use sealer::Seals;
use segment::active::ActiveSegment;
use segment::{LoadConfig, Segment};
use view::LogView;

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
    /// When a segment sealed by a roll is made durable (never on the append path).
    pub sealing: Sealing,
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
            sealing: Sealing::default(),
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
    inner: Arc<Handle>,
}

/// What the clones of one [`ShardLog`] share: the log, closed when the last of them is
/// dropped, in the dropping thread.
///
/// The log's own threads (the sealer, the interval flusher) hold it only for a moment while
/// they work on it; if the last user handle went with the log itself, such a moment would
/// make that thread the one to close it, and dropping the last handle would return before
/// the log was synced, marked clean and its directory lock released (reopening it at once
/// would fail with `Error::Locked`).
#[derive(Debug)]
struct Handle(Arc<Inner>);

impl std::ops::Deref for Handle {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        #[cfg(feature = "testing")]
        hooks::reached(hooks::HookPoint::LastHandleDropped);
        let _ = self.0.close();
    }
}

pub(crate) struct Inner {
    dir: PathBuf,
    vfs: VfsRef,
    clock: SharedClock,
    config: LogConfig,
    sync_group: Arc<SyncGroup>,
    cache: Arc<SegmentCache>,
    /// The append side: only the holder appends, rolls or closes.
    writer: Mutex<Writer>,
    /// What readers see (invariant 6): replaced whole by rolls and trims.
    view: RwLock<Arc<LogView>>,
    /// Written / synced / visible offsets, and the high-watermark's waiters.
    commit: CommitPoint,
    /// Segments sealed by rolls, not yet durable.
    seals: Seals,
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    trim_lock: Mutex<()>,
    closed: AtomicBool,
    dir_lock: Mutex<Option<Box<dyn LockGuard>>>,
    /// This log as its sync group sees it (for the background sealer).
    this: Weak<Inner>,
    /// Nonces of batches sealed by this opening of the log.
    nonces: crate::at_rest::NonceSource,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLog")
            .field("dir", &self.dir)
            .field("high_watermark", &self.commit.notifier().high_watermark())
            .finish()
    }
}

/// The append side's state, behind the writer lock.
struct Writer {
    active: Arc<ActiveSegment>,
    next_offset: u64,
    last_arrival_ms: i64,
    /// The batch encode buffer, reused by every append.
    buf: Vec<u8>,
    clean_marker_present: bool,
}

impl ShardLog {
    /// Open (creating if needed) the shard log in `dir`, recovering from an unclean shutdown:
    /// the segments that may hold unsynced bytes are scanned and cut at the first torn or
    /// corrupt batch, the index rebuilt, and files and directory synced. A clean shutdown
    /// skips the scan.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<ShardLog> {
        let dir = dir.as_ref().to_path_buf();
        let LogOptions { config, vfs, clock, sync_group, cache, lock_dir, durable_parent_levels } = options;
        if config.index_interval_bytes == 0 || config.segment_max_bytes <= segment::SEGMENT_HEADER_LEN {
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
        let r = recovery::recover(&recovery::RecoverOptions {
            vfs: &vfs,
            dir: &dir,
            load: load_config(&config),
            now_ms: clock.now_ms(),
            durable_parent_levels,
            max_offset: MAX_OFFSET,
            reserve: mapping_reserve(&config),
        })?;
        #[cfg(not(feature = "canary-next-offset-from-count"))]
        let next = r.active.end_offset();
        // Planted bug (reliability R9): the next offset counted from the surviving records,
        // wrong (and colliding with existing offsets) once retention has trimmed the log.
        #[cfg(feature = "canary-next-offset-from-count")]
        let next = r.sealed.iter().map(|s| s.end_offset().saturating_sub(s.base)).sum::<u64>()
            + r.active.end_offset().saturating_sub(r.active.base);
        let mut segments: Vec<Segment> = r.sealed.into_iter().map(Segment::Sealed).collect();
        segments.push(Segment::Active(Arc::clone(&r.active)));
        let inner = Arc::new_cyclic(|this| Inner {
            writer: Mutex::new(Writer {
                active: r.active,
                next_offset: next,
                last_arrival_ms: r.last_arrival_ms,
                buf: Vec::new(),
                clean_marker_present: r.clean_marker_present,
            }),
            view: RwLock::new(Arc::new(LogView::new(r.start_offset, segments))),
            commit: CommitPoint::new(next),
            seals: Seals::default(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            trim_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
            dir_lock: Mutex::new(lock),
            this: this.clone(),
            nonces: crate::at_rest::NonceSource::new(),
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
        Ok(ShardLog { inner: Arc::new(Handle(inner)) })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The committed high-watermark: one past the newest record readers can see.
    pub fn high_watermark(&self) -> u64 {
        self.inner.commit.notifier().high_watermark()
    }

    /// The lowest retained offset (the trim horizon).
    pub fn start_offset(&self) -> u64 {
        self.inner.view().start
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.poison_cause.lock().clone()
    }

    /// Append `records` as one batch (one write; under `Sync` one shared fdatasync) and
    /// return where they landed once they are acknowledged per the log's durability — and
    /// visible to readers (the high-watermark covers them).
    pub fn append(&self, records: &[RecordRef<'_>]) -> Result<Appended> {
        self.inner.append_acknowledged(records, false)
    }

    /// [`Self::append`]; with `seal` and an at-rest key configured the batch is stored
    /// sealed (encrypted at rest, see [`crate::at_rest`]). Without a key `seal` changes
    /// nothing.
    pub fn append_with(&self, records: &[RecordRef<'_>], seal: bool) -> Result<Appended> {
        self.inner.append_acknowledged(records, seal)
    }

    /// Read up to `max_records` records starting at offset `from` (clamped up to the trim
    /// horizon, as trimmed data is skipped), stopping once `max_bytes` of keys and data were
    /// returned (at least one record is returned if any is available). Every batch read is
    /// CRC-checked (a sealed segment's batches once per mapping: a loaded sealed segment
    /// remembers the index intervals it checked whole); damage is `Error::Corrupt` naming
    /// the file and byte offset. Keys and data are zero-copy slices of the segment's mapping.
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
        self.inner.commit.notifier().wait_past(offset, timeout)
    }

    /// Like [`ShardLog::wait_past`], but also returns once `stop()` holds (whoever makes it
    /// hold calls [`ShardLog::wake_waiters`]).
    pub fn wait_past_unless(&self, offset: u64, timeout: Duration, stop: &dyn Fn() -> bool) -> u64 {
        self.inner.commit.notifier().wait_past_unless(offset, timeout, stop)
    }

    /// Wake every blocked reader and registered waker so they re-check their conditions.
    pub fn wake_waiters(&self) {
        self.inner.commit.notifier().wake_all();
    }

    /// Register an async waker for when the high-watermark exceeds `offset`; returns `true`
    /// (registering nothing) if it already does.
    pub fn register_waker(&self, offset: u64, waker: &Waker) -> bool {
        self.inner.commit.notifier().register_waker(offset, waker)
    }

    /// fdatasync everything written so far (any durability mode), sealed segments included.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Delete whole segments whose newest record arrived before `cutoff_ms`. If every record
    /// of the active segment is that old, it is rolled first so it can go too. The trim
    /// horizon is made durable before any file is unlinked.
    pub fn trim_before(&self, cutoff_ms: i64) -> Result<TrimOutcome> {
        self.inner.trim_before(cutoff_ms)
    }

    /// Delete whole sealed segments whose every record has an offset below `offset` (the
    /// active segment is never deleted). The trim horizon is made durable before any file is
    /// unlinked, as for [`ShardLog::trim_before`]. For readers that are done with a prefix of
    /// the log (a forwarder whose destination acknowledged it).
    pub fn trim_below(&self, offset: u64) -> Result<TrimOutcome> {
        self.inner.trim_below(offset)
    }

    /// Delete the oldest sealed segments until the log's segment files total at most
    /// `max_bytes` (the active segment is never deleted).
    pub fn trim_to_size(&self, max_bytes: u64) -> Result<TrimOutcome> {
        self.inner.trim_to_size(max_bytes)
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.inner
            .view()
            .segments
            .iter()
            .map(|s| match s {
                Segment::Active(a) => SegmentInfo {
                    base_offset: a.base,
                    end_offset: a.end_offset(),
                    bytes: a.len(),
                    sealed: false,
                    index_entries: Some(a.index_len()),
                    path: a.paths.log.clone(),
                },
                Segment::Sealed(s) => SegmentInfo {
                    base_offset: s.base,
                    end_offset: s.end_offset(),
                    bytes: s.known_len(),
                    sealed: true,
                    index_entries: s.index_len(),
                    path: s.paths.log.clone(),
                },
            })
            .collect()
    }

    /// Close without syncing or writing markers, for a log whose files are about to be
    /// deleted (stream deletion, expired shards). Pending seals are dropped. Later appends
    /// fail.
    pub fn discard(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.seals.abandon();
        self.inner.dir_lock.lock().take();
    }

    /// Close cleanly: complete pending seals, fdatasync, write the active segment's index
    /// files and the clean marker, so the next open skips recovery, and release the
    /// directory lock. Later appends fail. Dropping the last handle closes too, in the
    /// dropping thread, ignoring errors.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Whether another handle to this log exists (a clone held by a reader or a
    /// subscription; the log's own flusher and sealer do not count): an owner that wants to
    /// close the log to free its descriptor waits until it is the only holder.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }
}

/// How a log loads sealed segments: data already written is read whatever the append limit
/// is now.
fn load_config(config: &LogConfig) -> LoadConfig {
    LoadConfig {
        index_interval_bytes: config.index_interval_bytes,
        max_batch_bytes: batch::MAX_BATCH_LEN,
        key_id: config.at_rest_key.as_ref().map_or(0, |k| k.id()),
    }
}

/// How long an active segment's mapping is made: its roll size (segments never hold more
/// than 4 GiB).
fn mapping_reserve(config: &LogConfig) -> u64 {
    config.segment_max_bytes.min(u64::from(u32::MAX))
}

impl Inner {
    /// The current view (invariant 6).
    fn view(&self) -> Arc<LogView> {
        Arc::clone(&self.view.read())
    }

    fn load_config(&self) -> LoadConfig {
        load_config(&self.config)
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

    /// Bytes of a segment's file (the active one's written length; a sealed one's from
    /// memory or the file system).
    fn segment_bytes(&self, seg: &Segment) -> u64 {
        match seg {
            Segment::Active(a) => a.len(),
            Segment::Sealed(s) => match s.known_len() {
                0 => self.vfs.open_read(&s.paths.log).and_then(|f| f.len()).unwrap_or(0),
                known => known,
            },
        }
    }
}

impl SyncTarget for Inner {
    fn sync_written(&self) {
        self.sync_written();
    }

    fn needs_sync(&self) -> bool {
        !self.is_poisoned() && (self.commit.unsynced() || !self.seals.is_idle())
    }

    fn complete_seals(&self) {
        // Failures poison the log; appenders see it.
        let _ = self.complete_seals();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
