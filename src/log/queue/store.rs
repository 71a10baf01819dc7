//! [`QueueStore`]: one queue's delivery state, kept durable in a snapshot and an append-only
//! state log in the queue's directory, with receipt-handle checks and the engine's
//! durability modes.
//!
//! Files (`docs/format.md`, "Queue state directory"): `snapshot` (the state at the start of
//! the current epoch), `log` (the events since, header carrying the same epoch), and the
//! temporaries `snapshot.tmp` / `log.tmp` of a compaction in progress (deleted at open).
//!
//! # Write path
//!
//! Every operation runs under the store's lock: advance the clock (expiry), decide, then for
//! each event **write** its frame to the log and only then **apply** it to memory. A failed
//! write therefore changes nothing; it is cut off the file (`set_len`), and a full disk whose
//! partial write was cut off cleanly leaves the store writable, while any other write failure
//! (and every failed fdatasync, rename or directory fsync) poisons it: every later call fails
//! with `Error::Poisoned` until it is reopened. Frames are written in the order they are
//! applied, so the log on disk is always a prefix of what memory saw.
//!
//! Durability (as the engine's modes): under `Sync` an operation returns only once every
//! frame it wrote is fdatasync'd, sharing fdatasyncs with concurrent operations and shard logs
//! through the engine's [`SyncGroup`]; under `Interval` the group's flusher syncs every period;
//! under `Buffered` only `flush`, `close` and compaction sync. Whatever the mode, a generation
//! reservation is fdatasync'd before any generation in it is handed out, so receipt handles
//! are never reissued even after a power loss.
//!
//! # Compaction (reliability.md §1.4 order)
//!
//! Once the log holds at least `compact_min_bytes` and at least half as many bytes as the
//! last snapshot (replaying a byte of log costs about twice as much as loading a byte of
//! snapshot, so this keeps a reopen after a crash within about twice a clean one), the next
//! operation first compacts (`files::write_epoch`): write `log.tmp` (a header with epoch + 1)
//! and fdatasync it; write `snapshot.tmp` (the whole state, epoch + 1) and fdatasync it; rename
//! it over `snapshot`; fsync the directory; rename `log.tmp` over `log`; fsync the directory. A
//! failure before the first rename changes nothing (the temporaries are removed); a failure
//! after it poisons the store. A crash anywhere leaves either the old snapshot with its log, or
//! the new snapshot with the old log (whose older epoch marks it stale: it is ignored and
//! replaced) or with the new, empty log.
//!
//! # Recovery
//!
//! Load `snapshot`; replay `log` if its epoch matches (frame by frame, each through the same
//! [`DeliveryState::apply`] the live path ran); cut the log at the first torn or invalid frame
//! and fdatasync it. An intact frame whose event does not decode or does not fit the state is
//! corruption (`Error::Corrupt`), never cut off. Then skip the next generation up to the
//! reservation (generations handed out before the crash may not be in the log).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};
use rustc_hash::FxHashSet;

use super::config::{QueueConfig, QueueOptions};
use super::entries::{self, not_found, HandleOp};
use super::event::{Acknowledge, ConfigChange, Event, Forget, Receive, Reserve, Restore, Rewind, Trim, Visibility};
use super::files::{self, EpochError, LOG_FILE, LOG_TMP, SNAPSHOT_FILE, SNAPSHOT_TMP};
use super::frame::{self, LogHeader, LOG_HEADER_LEN};
use super::handle::ReceiptHandle;
use super::snapshot;
use super::state::{DeliveryState, Entry, FreshSpan, QueueCounts, RecordKey, ShardProgress, MAX_RECORDS_PER_EVENT};
use crate::error::{is_enospc, Error, Result};
use crate::io::{FileRef, VfsRef};
use crate::kinesis::TokenKey;
use crate::log::commit::{Durability, SyncGroup, SyncTarget};

/// Delivery generations reserved (and fdatasync'd) at a time.
pub const GENERATION_BLOCK: u64 = 1 << 16;

/// What a new queue starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// The queue's internal id (never reused; carried by its receipt handles).
    pub uid: u64,
    /// The delivery attributes.
    pub config: QueueConfig,
    /// The engine clock at creation (ms).
    pub now_ms: u64,
    /// Where reading starts in each shard that exists at creation (from `StartingPosition`:
    /// LATEST → the high-watermark, TRIM_HORIZON → the trim horizon, AT_TIMESTAMP → the first
    /// offset at or after the time). Shards not listed start where they start when a receive
    /// first offers them (children of later reshards: offset 0).
    pub start_positions: Vec<(u32, u64)>,
}

/// What a receive asks for.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveRequest<'a> {
    /// At most this many records (the wire layer enforces AWS' 1–10; in process any number).
    pub max_records: usize,
    /// The visibility timeout of these deliveries; `None` = the queue's.
    pub visibility_timeout_ms: Option<u64>,
    /// The shards fresh records may come from, in the order they are taken from, each with
    /// its readable range. Distinct shards; `start ≤ end`.
    pub fresh: &'a [FreshSpan],
}

/// One delivery handed out by a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The handle that acknowledges, changes or restores this delivery (names the record).
    pub handle: ReceiptHandle,
    /// Receives without an acknowledgement, this one included (normal receives; a
    /// dead-letter receive reports the count the record was dead-lettered with).
    pub receive_count: u32,
    /// When this queue first received the record (engine clock, ms).
    pub first_receive_ms: u64,
    /// When this delivery times out (engine clock, ms).
    pub deadline_ms: u64,
}

/// The result of a receive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveOutcome {
    /// The deliveries, ordered by record (shard, then offset).
    pub deliveries: Vec<Delivery>,
    /// True when the in-flight limit held back records that were available: the receive
    /// returned what fit (possibly nothing).
    pub limited: bool,
}

/// Per-entry results of a batch call, in the order of the request's entries: `Ok`, or the
/// entry's error (`InvalidArgument` or `ResourceNotFound`, see [`QueueStore::acknowledge`]).
pub type EntryResults = Vec<Result<()>>;

/// Something that names a delivery: the handle's text (wire) or a decoded handle (in
/// process, no MAC work).
pub trait HandleInput {
    /// The decoded handle, or `InvalidArgument` if the text is not one this engine issued.
    fn to_handle(&self, key: &TokenKey) -> Result<ReceiptHandle>;
}

impl HandleInput for ReceiptHandle {
    fn to_handle(&self, _: &TokenKey) -> Result<ReceiptHandle> {
        Ok(*self)
    }
}

impl HandleInput for str {
    fn to_handle(&self, key: &TokenKey) -> Result<ReceiptHandle> {
        ReceiptHandle::decode(self, key)
    }
}

impl HandleInput for String {
    fn to_handle(&self, key: &TokenKey) -> Result<ReceiptHandle> {
        ReceiptHandle::decode(self, key)
    }
}

impl<T: HandleInput + ?Sized> HandleInput for &T {
    fn to_handle(&self, key: &TokenKey) -> Result<ReceiptHandle> {
        (**self).to_handle(key)
    }
}

/// Counters of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// The current epoch (grows by one per compaction).
    pub epoch: u64,
    /// Bytes of the log file.
    pub log_bytes: u64,
    /// Bytes of the last snapshot written or loaded.
    pub snapshot_bytes: u64,
    /// Events written since the store was opened.
    pub events_written: u64,
    /// Compactions since the store was opened.
    pub compactions: u64,
    /// Events replayed when the store was opened.
    pub events_replayed: u64,
    /// Bytes cut off the log's torn tail when the store was opened.
    pub torn_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Deleted,
}

/// One queue's durable delivery state. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct QueueStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStore").field("dir", &self.inner.dir).field("uid", &self.inner.uid).finish()
    }
}

struct Inner {
    dir: PathBuf,
    vfs: VfsRef,
    durability: Durability,
    sync_group: Arc<SyncGroup>,
    key: TokenKey,
    uid: u64,
    max_in_flight: usize,
    compact_min_bytes: u64,
    core: Mutex<Core>,
    /// Bytes of frames written since open (a log sequence number across epochs).
    written: AtomicU64,
    /// Bytes of frames known durable (fdatasync'd, or covered by a durable snapshot).
    synced: AtomicU64,
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
}

struct Core {
    state: DeliveryState,
    log: FileRef,
    epoch: u64,
    /// End of the log file: where the next frame goes.
    pos: u64,
    buf: Vec<u8>,
    status: Status,
    stats: StoreStats,
}

impl QueueStore {
    // -----------------------------------------------------------------------------------
    // Lifecycle
    // -----------------------------------------------------------------------------------

    /// Create the state of a new queue in `dir` (created if needed): snapshot and empty log
    /// of epoch 1, both durable (file and directory synced) when this returns, in every
    /// durability mode. Fails with `ResourceInUse` if `dir` already holds queue state. The
    /// engine commits the queue to its catalog only after this returns; a crash before leaves
    /// an orphan directory for it to remove.
    pub fn create(dir: impl AsRef<Path>, options: QueueOptions, spec: QueueSpec) -> Result<QueueStore> {
        let dir = dir.as_ref().to_path_buf();
        spec.config.validate()?;
        crate::io::create_dir_all_durable(options.vfs.as_ref(), &dir)?;
        if options.vfs.exists(&dir.join(SNAPSHOT_FILE)) || options.vfs.exists(&dir.join(LOG_FILE)) {
            return Err(Error::ResourceInUse { message: format!("queue state already exists in {}", dir.display()) });
        }
        let mut state = DeliveryState::new(spec.config, spec.now_ms);
        for &(shard, start) in &spec.start_positions {
            let trim = Event::Trim(Trim { now_ms: spec.now_ms, shard, start });
            state.apply(&trim).map_err(|e| Error::invalid_argument(e.0))?;
        }
        let (log, snapshot_bytes) =
            files::write_epoch(&options.vfs, &dir, spec.uid, 1, &state).map_err(|EpochError { error, .. }| error)?;
        let stats = StoreStats { epoch: 1, log_bytes: LOG_HEADER_LEN as u64, snapshot_bytes, ..StoreStats::default() };
        Ok(QueueStore::assemble(dir, options, spec.uid, state, log, stats))
    }

    /// Open the state of queue `uid` in `dir`, recovering from a crash (see the module docs).
    /// `config` is the queue's current attributes from the catalog: if the state log holds
    /// others (an UpdateQueue whose state-log event was lost), the change is logged now.
    /// `now_ms` is the engine clock. Fails with `Error::Corrupt` naming the file when the
    /// snapshot or log is damaged beyond a torn tail, or belongs to another queue.
    pub fn open(
        dir: impl AsRef<Path>,
        options: QueueOptions,
        uid: u64,
        config: QueueConfig,
        now_ms: u64,
    ) -> Result<QueueStore> {
        let dir = dir.as_ref().to_path_buf();
        config.validate()?;
        let vfs = &options.vfs;
        for tmp in [SNAPSHOT_TMP, LOG_TMP] {
            let path = dir.join(tmp);
            if vfs.exists(&path) {
                vfs.remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            }
        }
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        if !vfs.exists(&snapshot_path) {
            return Err(Error::corrupt(&snapshot_path, 0, "the queue's snapshot file is missing"));
        }
        let bytes = files::read_whole(vfs, &snapshot_path)?;
        let snap = snapshot::decode(&bytes).map_err(|reason| Error::corrupt(&snapshot_path, 0, reason))?;
        if snap.queue_uid != uid {
            return Err(Error::corrupt(
                &snapshot_path,
                8,
                format!("snapshot of queue {} (expected {uid})", snap.queue_uid),
            ));
        }
        let snapshot_bytes = bytes.len() as u64;
        drop(bytes);
        let mut state = snap.state;
        let mut stats = StoreStats { epoch: snap.epoch, snapshot_bytes, ..StoreStats::default() };

        let log_path = dir.join(LOG_FILE);
        let log = vfs.open_rw(&log_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::corrupt(&log_path, 0, "the queue's state log is missing"),
            _ => Error::io("open", &log_path, e),
        })?;
        let len = log.len().map_err(|e| Error::io("stat", &log_path, e))?;
        let mut header = [0u8; LOG_HEADER_LEN];
        if len < LOG_HEADER_LEN as u64 {
            return Err(Error::corrupt(&log_path, 0, format!("log of {len} bytes has no header")));
        }
        log.read_exact_at(&mut header, 0).map_err(|e| Error::io("read", &log_path, e))?;
        let header = LogHeader::decode(&header).map_err(|reason| Error::corrupt(&log_path, 0, reason))?;
        if header.queue_uid != uid {
            return Err(Error::corrupt(&log_path, 8, format!("log of queue {} (expected {uid})", header.queue_uid)));
        }
        let log = if header.epoch == snap.epoch {
            let replay = files::replay(&log, &log_path, snap.epoch, len, &mut state)?;
            stats.events_replayed = replay.events;
            stats.torn_bytes = len - replay.end;
            if replay.end < len {
                log.set_len(replay.end).map_err(|e| Error::io("set_len", &log_path, e))?;
                log.sync_data().map_err(|e| Error::io("fdatasync", &log_path, e))?;
            }
            stats.log_bytes = replay.end;
            log
        } else if header.epoch < snap.epoch {
            // A compaction renamed the new snapshot but not the new log: the old log is
            // stale (the snapshot holds all of it). Give the snapshot its empty log.
            let fresh = files::install_log(vfs, &dir, uid, snap.epoch).map_err(|EpochError { error, .. }| error)?;
            stats.log_bytes = LOG_HEADER_LEN as u64;
            fresh
        } else {
            return Err(Error::corrupt(
                &log_path,
                16,
                format!("log epoch {} is newer than the snapshot's {}", header.epoch, snap.epoch),
            ));
        };
        state.skip_to_reservation();
        state.advance_clock(now_ms);
        let store = QueueStore::assemble(dir, options, uid, state, log, stats);
        store.update_config(now_ms, config)?;
        Ok(store)
    }

    fn assemble(
        dir: PathBuf,
        options: QueueOptions,
        uid: u64,
        state: DeliveryState,
        log: FileRef,
        stats: StoreStats,
    ) -> QueueStore {
        let pos = stats.log_bytes;
        let epoch = stats.epoch;
        let inner = Arc::new(Inner {
            dir,
            vfs: options.vfs,
            durability: options.durability,
            sync_group: options.sync_group,
            key: options.key,
            uid,
            max_in_flight: options.max_in_flight as usize,
            compact_min_bytes: options.compact_min_bytes,
            core: Mutex::new(Core { state, log, epoch, pos, buf: Vec::new(), status: Status::Open, stats }),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
        });
        if let Durability::Interval(period) = inner.durability {
            let weak: Weak<dyn SyncTarget> = Arc::downgrade(&(Arc::clone(&inner) as Arc<dyn SyncTarget>));
            inner.sync_group.register_interval(weak, period);
        }
        QueueStore { inner }
    }

    /// fdatasync everything written so far (any durability mode).
    pub fn flush(&self) -> Result<()> {
        let mut core = self.inner.live()?;
        self.inner.sync_locked(&mut core)
    }

    /// Make everything durable and close the store; later calls fail with
    /// `ResourceNotFound`. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        let mut core = self.inner.core.lock();
        if core.status != Status::Open {
            return Ok(());
        }
        let result = if self.inner.is_poisoned() { Ok(()) } else { self.inner.sync_locked(&mut core) };
        core.status = Status::Closed;
        result
    }

    /// Delete the queue's state: every receipt handle it issued becomes invalid at once, the
    /// store refuses every later call, and its directory is removed (then the parent
    /// directory fsync'd). The engine marks the queue deleted in its catalog first; if the
    /// removal fails, the directory is an orphan for the next open to remove.
    pub fn delete(&self) -> Result<()> {
        let mut core = self.inner.core.lock();
        core.status = Status::Deleted;
        let dir = &self.inner.dir;
        if self.inner.vfs.exists(dir) {
            self.inner.vfs.remove_dir_all(dir).map_err(|e| Error::io("remove", dir, e))?;
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.inner.vfs.sync_dir(parent).map_err(|e| Error::io("directory fsync", parent, e))?;
        }
        Ok(())
    }

    /// Write a snapshot and start a fresh log now (see the module docs).
    pub fn compact(&self) -> Result<()> {
        let mut core = self.inner.live()?;
        self.inner.compact_locked(&mut core)
    }

    // -----------------------------------------------------------------------------------
    // Receives
    // -----------------------------------------------------------------------------------

    /// Receive up to `request.max_records` records at engine time `now_ms`: visible
    /// redeliveries first (by record), then fresh records from `request.fresh` in the order
    /// given. Records of a shard the queue has not seen start at its span's `start`; a span
    /// whose `start` is above the shard's floor first trims what retention removed. At the
    /// in-flight limit the receive returns what fits, possibly nothing (`limited` says so).
    /// Every delivery gets a new generation, its receive count goes up by one, and it is in
    /// flight until `now + visibility` (0: visible again at once). The receive is logged before
    /// it returns (and durable under `Sync`), so receive counts never go backwards.
    pub fn receive(&self, now_ms: u64, request: &ReceiveRequest<'_>) -> Result<ReceiveOutcome> {
        check_spans(request.fresh)?;
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            for trim in core.state.trims_for(request.fresh) {
                inner.commit(core, &trim)?;
            }
            let plan = core.state.plan_receive(request.max_records, request.fresh, inner.max_in_flight);
            let visibility = request.visibility_timeout_ms.unwrap_or(core.state.config().visibility_timeout_ms);
            let deliveries = inner.deliver(core, now, visibility, false, plan.records)?;
            Ok(ReceiveOutcome { deliveries, limited: plan.limited })
        })
    }

    /// Receive up to `max_records` dead-letter records (by record) at `now_ms`, in flight
    /// until `now + visibility` (`None`: the queue's timeout). Their receive counts do not
    /// change. Same in-flight limit and durability as [`QueueStore::receive`].
    pub fn receive_dead_letter(
        &self,
        now_ms: u64,
        max_records: usize,
        visibility_timeout_ms: Option<u64>,
    ) -> Result<ReceiveOutcome> {
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            let plan = core.state.plan_dead_letter_receive(max_records, inner.max_in_flight);
            let visibility = visibility_timeout_ms.unwrap_or(core.state.config().visibility_timeout_ms);
            let deliveries = inner.deliver(core, now, visibility, true, plan.records)?;
            Ok(ReceiveOutcome { deliveries, limited: plan.limited })
        })
    }

    // -----------------------------------------------------------------------------------
    // Batch operations on handles
    // -----------------------------------------------------------------------------------

    /// AcknowledgeQueueRecords: settle the records of current normal deliveries for good.
    ///
    /// Per-entry errors (the call itself fails only on I/O or a closed store):
    /// - `InvalidArgument`: not a receipt handle this engine issued (malformed, damaged,
    ///   forged, or under another key); a handle of another queue; a dead-letter handle; a
    ///   handle repeated in the same request (every occurrence after the first).
    /// - `ResourceNotFound`: the delivery no longer exists: the record was acknowledged,
    ///   discarded or trimmed by retention, or received again since (a stale handle).
    ///
    /// A delivery whose visibility timeout passed but that nobody received again can still
    /// be acknowledged (as SQS allows), also after its timeout dead-lettered it (the last
    /// holder finished after all).
    pub fn acknowledge<H: HandleInput>(&self, now_ms: u64, handles: &[H]) -> Result<EntryResults> {
        self.handle_batch(now_ms, HandleOp::Acknowledge, handles.iter().map(|h| (h, 0)))
    }

    /// UpdateQueueRecordsVisibility: each in-flight delivery times out `timeout_ms` after
    /// `now_ms` instead (0: visible at once; if that was its `MaxReceiveCount`-th receive, it
    /// is dead-lettered, as a timeout would). Errors as [`QueueStore::acknowledge`], plus
    /// `ResourceNotFound` for a delivery whose timeout already passed.
    pub fn change_visibility<H: HandleInput>(&self, now_ms: u64, entries: &[(H, u64)]) -> Result<EntryResults> {
        self.handle_batch(now_ms, HandleOp::Visibility, entries.iter().map(|(h, t)| (h, *t)))
    }

    /// AcknowledgeDeadLetterQueueRecords: discard dead-letter records for good. Errors as
    /// [`QueueStore::acknowledge`] with the kinds swapped (a normal handle is
    /// `InvalidArgument`), plus `ResourceNotFound` for a record restored since.
    pub fn acknowledge_dead_letter<H: HandleInput>(&self, now_ms: u64, handles: &[H]) -> Result<EntryResults> {
        self.handle_batch(now_ms, HandleOp::AcknowledgeDeadLetter, handles.iter().map(|h| (h, 0)))
    }

    /// UpdateDeadLetterQueueRecordsVisibility: as [`QueueStore::change_visibility`] for
    /// dead-letter deliveries (0: a dead-letter record visible to dead-letter receives again).
    pub fn change_dead_letter_visibility<H: HandleInput>(
        &self,
        now_ms: u64,
        entries: &[(H, u64)],
    ) -> Result<EntryResults> {
        self.handle_batch(now_ms, HandleOp::DeadLetterVisibility, entries.iter().map(|(h, t)| (h, *t)))
    }

    /// RestoreDeadLetterQueueRecords: the dead-letter records go back to the normal path,
    /// visible at once, with receive count 0 (their first-receive time is kept). Errors as
    /// [`QueueStore::acknowledge_dead_letter`].
    pub fn restore_dead_letter<H: HandleInput>(&self, now_ms: u64, handles: &[H]) -> Result<EntryResults> {
        self.handle_batch(now_ms, HandleOp::Restore, handles.iter().map(|h| (h, 0)))
    }

    fn handle_batch<'h, H: HandleInput + 'h>(
        &self,
        now_ms: u64,
        op: HandleOp,
        entries: impl Iterator<Item = (&'h H, u64)>,
    ) -> Result<EntryResults> {
        let inner = &self.inner;
        // Decode (one MAC check each) before taking the lock.
        let decoded: Vec<(Result<ReceiptHandle>, u64)> = entries.map(|(h, t)| (h.to_handle(&inner.key), t)).collect();
        inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            // Fx, not SipHash: the handles were authenticated, no one picks them to collide.
            let mut seen = FxHashSet::with_capacity_and_hasher(decoded.len(), Default::default());
            let mut accepted: Vec<(RecordKey, u64)> = Vec::new();
            let results: EntryResults = decoded
                .into_iter()
                .map(|(handle, timeout_ms)| {
                    let handle = handle?;
                    entries::check(inner.uid, &core.state, &mut seen, &handle, op)?;
                    accepted.push((handle.record, now.saturating_add(timeout_ms)));
                    Ok(())
                })
                .collect();
            accepted.sort_unstable();
            debug_assert!(
                accepted.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)),
                "two current handles of one record"
            );
            for chunk in accepted.chunks(MAX_RECORDS_PER_EVENT) {
                let records = || chunk.iter().map(|&(k, _)| k).collect();
                let event = match op {
                    HandleOp::Acknowledge | HandleOp::AcknowledgeDeadLetter => Event::Acknowledge(Acknowledge {
                        now_ms: now,
                        dead_letter: op.dead_letter(),
                        records: records(),
                    }),
                    HandleOp::Visibility | HandleOp::DeadLetterVisibility => Event::Visibility(Visibility {
                        now_ms: now,
                        dead_letter: op.dead_letter(),
                        changes: chunk.to_vec(),
                    }),
                    HandleOp::Restore => Event::Restore(Restore { now_ms: now, records: records() }),
                };
                inner.commit(core, &event)?;
            }
            Ok(results)
        })
    }

    // -----------------------------------------------------------------------------------
    // Retention, reshard, attributes, time
    // -----------------------------------------------------------------------------------

    /// Retention moved shard `shard`'s trim horizon to `start`: every record below it is
    /// dropped from the queue (in flight, visible or dead-letter) and never delivered again;
    /// handles of them get `ResourceNotFound`. A shard the queue has not seen starts at
    /// `start`. No effect if `start` is not above the shard's floor.
    pub fn trim(&self, now_ms: u64, shard: u32, start: u64) -> Result<()> {
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            if core.state.shard(shard).is_none_or(|s| start > s.floor()) {
                inner.commit(core, &Event::Trim(Trim { now_ms: now, shard, start }))?;
            }
            Ok(())
        })
    }

    /// The shard log of `shard` came back from a crash with its high-watermark at `end`, below
    /// what this queue already received (a durability mode weaker than `Sync` lost its tail):
    /// offsets from `end` on will be reused by new records, so the queue forgets its state of
    /// them (in-flight deliveries, dead-letter records, acknowledgements) and will deliver the
    /// new records there. No effect if the queue's cursor is not above `end`. The engine calls
    /// this at open, before serving receives, for every shard whose recovered high-watermark
    /// is below [`ShardProgress::cursor`].
    pub fn rewind_shard(&self, now_ms: u64, shard: u32, end: u64) -> Result<()> {
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            if core.state.shard(shard).is_some_and(|s| s.cursor() > end) {
                inner.commit(core, &Event::Rewind(Rewind { now_ms: now, shard, end }))?;
            }
            Ok(())
        })
    }

    /// Drop shard `shard`'s state whole (the engine calls this once the shard is gone from
    /// its catalog, or once a closed parent is drained: floor = cursor = its end).
    pub fn forget_shard(&self, now_ms: u64, shard: u32) -> Result<()> {
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            if core.state.shard(shard).is_some() {
                inner.commit(core, &Event::Forget(Forget { now_ms: now, shard }))?;
            }
            Ok(())
        })
    }

    /// UpdateQueue: new delivery attributes from now on (see [`QueueConfig`] for what happens
    /// to records in flight and dead-letter records). No effect if nothing changes.
    pub fn update_config(&self, now_ms: u64, config: QueueConfig) -> Result<()> {
        config.validate()?;
        self.inner.run(|inner, core| {
            let now = core.state.advance_clock(now_ms);
            if core.state.config() != config {
                inner.commit(core, &Event::Config(ConfigChange { now_ms: now, config }))?;
            }
            Ok(())
        })
    }

    /// Let time pass to `now_ms`: deliveries whose deadline passed become visible (or
    /// dead-letter). Returns the next deadline, if any is in flight (when to tick again to
    /// wake long polls). Writes nothing: expiry follows from the logged deadlines.
    pub fn tick(&self, now_ms: u64) -> Result<Option<u64>> {
        let mut core = self.inner.live()?;
        core.state.advance_clock(now_ms);
        Ok(core.state.next_deadline_ms())
    }

    // -----------------------------------------------------------------------------------
    // Queries
    // -----------------------------------------------------------------------------------

    /// The queue's internal id.
    pub fn uid(&self) -> u64 {
        self.inner.uid
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The delivery attributes.
    pub fn config(&self) -> QueueConfig {
        self.inner.core.lock().state.config()
    }

    /// Record counts (as of the last operation or tick).
    pub fn counts(&self) -> QueueCounts {
        self.inner.core.lock().state.counts()
    }

    /// Where a shard stands.
    pub fn progress(&self, shard: u32) -> Option<ShardProgress> {
        self.inner.core.lock().state.progress(shard)
    }

    /// Every shard's progress, by index.
    pub fn shard_progress(&self) -> Vec<(u32, ShardProgress)> {
        let core = self.inner.core.lock();
        core.state.shards().keys().filter_map(|&s| core.state.progress(s).map(|p| (s, p))).collect()
    }

    /// The unsettled state of a record, `None` if it is settled or never received.
    pub fn entry(&self, record: RecordKey) -> Option<Entry> {
        self.inner.core.lock().state.entry(record).copied()
    }

    /// True if the record is settled for good (acknowledged, discarded or trimmed).
    pub fn is_settled(&self, record: RecordKey) -> bool {
        self.inner.core.lock().state.is_settled(record)
    }

    /// The earliest deadline in flight.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.inner.core.lock().state.next_deadline_ms()
    }

    /// The handle's wire text (one HMAC).
    pub fn encode_handle(&self, handle: &ReceiptHandle) -> String {
        handle.encode(&self.inner.key)
    }

    /// Counters.
    pub fn stats(&self) -> StoreStats {
        let core = self.inner.core.lock();
        StoreStats { epoch: core.epoch, log_bytes: core.pos, ..core.stats }
    }

    /// Why the store refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.inner.poison_cause.lock().clone()
    }

    /// A copy of the whole delivery state (tests, fuzzing, inspection).
    #[doc(hidden)]
    pub fn state_copy(&self) -> DeliveryState {
        self.inner.core.lock().state.clone()
    }
}

/// Spans must name distinct shards and have `start ≤ end`.
fn check_spans(fresh: &[FreshSpan]) -> Result<()> {
    let mut seen = HashSet::with_capacity(fresh.len());
    for span in fresh {
        if span.start > span.end {
            return Err(Error::invalid_argument(format!(
                "fresh span of shard {} starts at {} after its end {}",
                span.shard, span.start, span.end
            )));
        }
        if !seen.insert(span.shard) {
            return Err(Error::invalid_argument(format!("shard {} is offered twice to one receive", span.shard)));
        }
    }
    Ok(())
}

impl Inner {
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn poison(&self, cause: String) {
        let mut c = self.poison_cause.lock();
        if c.is_none() {
            *c = Some(cause);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    fn poison_error(&self) -> Error {
        Error::Poisoned {
            path: self.dir.clone(),
            cause: self.poison_cause.lock().clone().unwrap_or_else(|| "earlier failure".into()),
        }
    }

    /// The locked core of a store that takes operations.
    fn live(&self) -> Result<MutexGuard<'_, Core>> {
        let core = self.core.lock();
        match core.status {
            Status::Open => {}
            Status::Closed => {
                return Err(not_found(&format!("The queue state store in {} is closed.", self.dir.display())))
            }
            Status::Deleted => return Err(not_found("The queue was deleted.")),
        }
        if self.is_poisoned() {
            return Err(self.poison_error());
        }
        Ok(core)
    }

    /// Run one operation: compact first if due, run `op` under the lock, then (under `Sync`)
    /// wait until everything it wrote is durable.
    fn run<T>(self: &Arc<Self>, op: impl FnOnce(&Inner, &mut Core) -> Result<T>) -> Result<T> {
        let (result, end) = {
            let mut core = self.live()?;
            if self.compaction_due(&core) {
                self.compact_locked(&mut core)?;
            }
            let before = self.written.load(Ordering::Acquire);
            let result = op(self, &mut core);
            let end = self.written.load(Ordering::Acquire);
            (result, (end > before).then_some(end))
        };
        // A failed call reports its own error; what it wrote before failing need not be
        // waited for (the call is not acknowledged).
        if let (Ok(_), Some(end), Durability::Sync) = (&result, end, self.durability) {
            self.wait_durable(end)?;
        }
        result
    }

    fn compaction_due(&self, core: &Core) -> bool {
        let log_bytes = core.pos.saturating_sub(LOG_HEADER_LEN as u64);
        log_bytes >= self.compact_min_bytes && log_bytes >= core.stats.snapshot_bytes / 2
    }

    /// Hand out `records` (sorted) as deliveries: reserve generations if needed (durably
    /// before use), log the receive, apply it.
    fn deliver(
        &self,
        core: &mut Core,
        now: u64,
        visibility_ms: u64,
        dead_letter: bool,
        records: Vec<RecordKey>,
    ) -> Result<Vec<Delivery>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let first_generation = core.state.next_generation();
        let Some(end) = first_generation.checked_add(records.len() as u64) else {
            // 2^64 deliveries: only a forged state file gets here.
            return Err(Error::LimitExceeded { message: "The queue has used up its delivery generations.".into() });
        };
        if end > core.state.reserved_generation() {
            let upto = end.saturating_add(GENERATION_BLOCK);
            self.commit(core, &Event::Reserve(Reserve { upto }))?;
            if self.durability != Durability::Sync {
                self.sync_locked(core)?;
            }
        }
        let deadline_ms = now.saturating_add(visibility_ms);
        let event = Event::Receive(Receive {
            now_ms: now,
            deadline_ms,
            first_generation,
            dead_letter,
            records: records.clone(),
        });
        self.commit(core, &event)?;
        // Bounded: the commit checked `first_generation + len` fits (a `RangeFrom` would
        // overflow stepping past `u64::MAX` after the last record).
        let generations = first_generation..first_generation.saturating_add(records.len() as u64);
        let deliveries = generations
            .zip(records)
            .map(|(generation, record)| {
                let entry = core.state.entry(record);
                debug_assert!(entry.is_some_and(|e| e.generation == generation), "{record:?} not delivered");
                let (receive_count, first_receive_ms) =
                    entry.map_or((1, now), |e| (e.receive_count, e.first_receive_ms));
                Delivery {
                    handle: ReceiptHandle { queue_uid: self.uid, record, generation, dead_letter },
                    receive_count,
                    first_receive_ms,
                    deadline_ms,
                }
            })
            .collect();
        Ok(deliveries)
    }

    /// Write one event's frame at the end of the log, then apply it (see the module docs).
    fn commit(&self, core: &mut Core, event: &Event) -> Result<()> {
        let position = core.pos;
        core.buf.clear();
        let len = frame::encode_frame(&mut core.buf, core.epoch, position, event) as u64;
        if let Err(e) = core.log.write_all_at(&core.buf, position) {
            let path = self.dir.join(LOG_FILE);
            let cut = core.log.set_len(position);
            if cut.is_err() || !is_enospc(&e) {
                self.poison(format!("write to {} failed: {e}", path.display()));
            }
            return Err(Error::io("write", path, e));
        }
        core.pos = position + len;
        core.stats.events_written += 1;
        self.written.fetch_add(len, Ordering::AcqRel);
        if let Err(e) = core.state.apply(event) {
            // Live events are built from the state they are applied to: cannot happen.
            debug_assert!(false, "live event does not apply: {e}");
            self.poison(format!("internal error: a logged event does not apply: {e}"));
            return Err(self.poison_error());
        }
        Ok(())
    }

    /// fdatasync the log now, under the lock.
    fn sync_locked(&self, core: &mut Core) -> Result<()> {
        if self.is_poisoned() {
            return Err(self.poison_error());
        }
        let written = self.written.load(Ordering::Acquire);
        if self.synced.load(Ordering::Acquire) >= written {
            return Ok(());
        }
        match core.log.sync_data() {
            Ok(()) => {
                self.synced.fetch_max(written, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                let path = self.dir.join(LOG_FILE);
                self.poison(format!("fdatasync of {} failed: {e}", path.display()));
                Err(Error::io("fdatasync", path, e))
            }
        }
    }

    /// Wait (sharing rounds with other writers of the group) until `end` bytes are durable.
    fn wait_durable(self: &Arc<Self>, end: u64) -> Result<()> {
        let target: Arc<dyn SyncTarget> = Arc::clone(self) as Arc<dyn SyncTarget>;
        self.sync_group.wait_durable(&target, &|| self.synced.load(Ordering::Acquire) >= end || self.is_poisoned());
        if self.synced.load(Ordering::Acquire) >= end {
            Ok(())
        } else {
            Err(self.poison_error())
        }
    }

    /// Snapshot the state into epoch + 1 and start its empty log (module docs).
    fn compact_locked(&self, core: &mut Core) -> Result<()> {
        let Some(epoch) = core.epoch.checked_add(1) else {
            // 2^64 compactions: only a forged snapshot gets here.
            return Err(Error::corrupt(self.dir.join(SNAPSHOT_FILE), 16, "the snapshot's epoch is at its maximum"));
        };
        match files::write_epoch(&self.vfs, &self.dir, self.uid, epoch, &core.state) {
            Ok((log, snapshot_bytes)) => {
                core.log = log;
                core.epoch = epoch;
                core.pos = LOG_HEADER_LEN as u64;
                core.stats.snapshot_bytes = snapshot_bytes;
                core.stats.compactions += 1;
                // Everything written so far is in the durable snapshot.
                self.synced.fetch_max(self.written.load(Ordering::Acquire), Ordering::AcqRel);
                Ok(())
            }
            Err(EpochError { error, before }) => {
                if !before {
                    self.poison(format!("compaction to epoch {epoch} failed after its snapshot was renamed: {error}"));
                }
                Err(error)
            }
        }
    }
}

impl Drop for Inner {
    /// A store dropped without `close` still makes what it wrote durable (best effort), as a
    /// shard log does.
    fn drop(&mut self) {
        let core = self.core.get_mut();
        if core.status == Status::Open && !self.poisoned.load(Ordering::Acquire) {
            let _ = core.log.sync_data();
        }
    }
}

impl SyncTarget for Inner {
    fn sync_written(&self) {
        if self.is_poisoned() {
            return;
        }
        let (file, written) = {
            let core = self.core.lock();
            if core.status != Status::Open {
                return;
            }
            (Arc::clone(&core.log), self.written.load(Ordering::Acquire))
        };
        if self.synced.load(Ordering::Acquire) >= written {
            return;
        }
        // If a compaction replaced the file meanwhile, syncing the old one is harmless: the
        // compaction marked everything up to `written` durable through its snapshot.
        match file.sync_data() {
            Ok(()) => {
                self.synced.fetch_max(written, Ordering::AcqRel);
            }
            Err(e) => self.poison(format!("fdatasync of {} failed: {e}", self.dir.join(LOG_FILE).display())),
        }
    }

    fn needs_sync(&self) -> bool {
        !self.is_poisoned() && self.written.load(Ordering::Acquire) > self.synced.load(Ordering::Acquire)
    }

    /// A queue state log is one file, never sealed: nothing to complete.
    fn complete_seals(&self) {}
}
