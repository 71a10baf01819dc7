//! The engine: the public, Kinesis-shaped handle over a data directory.
//!
//! - [`Engine::open`] locks the directory, loads the catalog from the manifest, removes
//!   directories the catalog does not know (orphans of an interrupted create, delete or
//!   reshard) and opens shard logs lazily on first use.
//! - Control plane (`control`): streams, tags, listing. Data plane (`data`): puts, shard
//!   iterators, reads. Capacity (`capacity`): stream mode, warm throughput, record
//!   distribution and on-demand scaling. `encryption`, `monitoring`, `resources` (tags and
//!   policies by ARN), `account` (billing commitment), `channels` (delivery to S3),
//!   `queues` (Kinesis queues: per-record delivery state, visibility timeouts, dead letters,
//!   long polling, and the plain in-process receive API).
//!
//! Concurrency: each stream's topology (its catalog entry, routing table and shard-log slots)
//! sits behind a read-write lock. Puts and reads take it shared; a metadata change takes it
//! exclusively *before* committing the new manifest and swaps the topology before releasing
//! it, so a put never lands on a shard the durable catalog has closed. Manifest commits are
//! serialised by the catalog mutex; the data plane never takes that mutex.

pub mod account;
pub mod capacity;
pub mod channels;
pub mod checkpoint;
pub(crate) mod control;
mod data;
pub mod encryption;
pub mod extent;
pub mod fanout;
pub mod files;
pub mod limits;
pub mod lineage;
mod listing;
pub mod metrics;
pub mod monitoring;
pub mod queues;
mod reshard;
pub mod resources;
pub(crate) mod retention;
mod timer;
pub mod types;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::catalog::store::ManifestStore;
use crate::catalog::{Catalog, ShardMeta, StreamLifecycle, StreamMeta};
use crate::clock::{SharedClock, SystemClock};
use crate::error::{Error, Result};
use crate::io::{LockGuard, RealVfs, VfsRef};
use crate::kinesis::{messages, names, TokenKey};
use crate::log::commit::{Durability, SyncGroup};
use crate::log::{LogConfig, LogOptions, SegmentCache, ShardLog};
pub use types::*;

/// How long Kinesis' asynchronous status transitions take, for emulators that model them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDelays {
    /// `CREATING` → `ACTIVE`.
    pub creating: Duration,
    /// `UPDATING` → `ACTIVE` after a reshard or update.
    pub updating: Duration,
    /// `DELETING` → gone.
    pub deleting: Duration,
}

impl StatusDelays {
    /// kinesalite's defaults: 500 ms each.
    pub fn kinesalite() -> StatusDelays {
        let d = Duration::from_millis(500);
        StatusDelays { creating: d, updating: d, deleting: d }
    }
}

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Region used in ARNs (default `us-east-1`).
    pub region: String,
    /// Account id used in ARNs and messages (default `000000000000`).
    pub account_id: String,
    /// When puts are acknowledged.
    pub durability: Durability,
    /// Shard-log tunables (its `durability` is replaced by the engine's).
    pub log: LogConfig,
    /// Time source.
    pub clock: SharedClock,
    /// File system.
    pub vfs: VfsRef,
    /// `None`: streams are `ACTIVE` at once and deleted at once. `Some`: model Kinesis'
    /// CREATING / UPDATING / DELETING delays on the engine clock.
    pub status_delays: Option<StatusDelays>,
    /// Account shard quota (default: Kinesis' 500 in us-east-1, us-west-2 and eu-west-1,
    /// 200 elsewhere).
    pub shard_limit: Option<u32>,
    /// Sealed segments kept loaded (memory-mapped) across all shards.
    pub max_loaded_segments: usize,
    /// File descriptors the engine may hold (like RocksDB's `max_open_files`): shard logs
    /// beyond the budget are closed when idle and reopened on demand, and a reserve is kept
    /// for manifest commits (see [`files`]). Default: half the process's soft
    /// `RLIMIT_NOFILE` ([`files::default_max_open_files`]); at least [`files::MIN_OPEN_FILES`].
    pub max_open_files: usize,
    /// How often the background retention pass runs (`None`: only `enforce_retention`).
    pub retention_check_interval: Option<Duration>,
    /// Push-subscription tunables.
    pub fanout: fanout::FanoutConfig,
    /// Throughput limits (off by default; `Limits::kinesis()` for the real service's).
    /// With limits on, on-demand streams also scale themselves (see [`capacity`]).
    pub limits: crate::engine::limits::Limits,
    /// Where channels deliver objects (`None`: into `<root>/s3/<bucket>/<key>`, see
    /// [`channels::DirectorySink`]).
    pub channel_sink: Option<Arc<dyn channels::ObjectSink>>,
    /// How often the background delivery pass runs (`None`: only
    /// [`Engine::deliver_channels`]).
    pub channel_delivery_interval: Option<Duration>,
    /// On-demand scaling tunables.
    pub on_demand: capacity::OnDemandConfig,
    /// Local key for encryption at rest: records of streams with KMS encryption on
    /// (`StartStreamEncryption`) are stored sealed with it (see [`crate::at_rest`]). Without
    /// it, KMS is reported but records are stored in the clear; reading sealed records then
    /// fails with `KMSNotFoundException`.
    pub encryption_key: Option<Arc<crate::at_rest::AtRestKey>>,
    /// Records in flight (normal and dead-letter) per queue; AWS' limit is 120,000. A
    /// receive at the limit returns what fits, possibly nothing.
    pub queue_max_in_flight: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            durability: Durability::default(),
            log: LogConfig::default(),
            clock: Arc::new(SystemClock),
            vfs: RealVfs::shared(),
            status_delays: None,
            shard_limit: None,
            max_loaded_segments: 1024,
            max_open_files: files::default_max_open_files(),
            retention_check_interval: Some(Duration::from_secs(60)),
            fanout: fanout::FanoutConfig::default(),
            limits: crate::engine::limits::Limits::off(),
            channel_sink: None,
            channel_delivery_interval: Some(Duration::from_secs(1)),
            on_demand: capacity::OnDemandConfig::default(),
            encryption_key: None,
            queue_max_in_flight: crate::log::queue::config::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl EngineConfig {
    /// The effective account shard quota.
    pub fn effective_shard_limit(&self) -> u32 {
        self.shard_limit.unwrap_or(match self.region.as_str() {
            "us-east-1" | "us-west-2" | "eu-west-1" => 500,
            _ => 200,
        })
    }
}

/// Name of the engine's lock file.
const LOCK_FILE: &str = "LOCK";
/// Directory holding every stream's shard logs.
const SHARDS_DIR: &str = "shards";

/// The engine handle. Cheap to clone; every clone is the same engine.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    root: PathBuf,
    config: EngineConfig,
    token_key: TokenKey,
    sync_group: Arc<SyncGroup>,
    /// The descriptor budget: which shard logs are open.
    pub(crate) files: files::OpenLogs,
    cache: Arc<SegmentCache>,
    catalog: Mutex<CatalogState>,
    streams: RwLock<Streams>,
    retention_task: Mutex<Option<retention::RetentionTask>>,
    subscriptions: Mutex<fanout::SubscriptionTable>,
    /// Set when a manifest commit failed after its rename: which topology is durable is
    /// unknown, so writes are refused until the engine is reopened.
    metadata_poisoned: std::sync::atomic::AtomicBool,
    control: crate::engine::limits::ControlPlane,
    timer: Arc<timer::Timer>,
    /// Records read for channels and not yet written out (run-time state).
    deliveries: Mutex<channels::Buffers>,
    delivery_task: Mutex<Option<retention::RetentionTask>>,
    /// Open queues by uid.
    queues: RwLock<HashMap<u64, Arc<queues::runtime::QueueRuntime>>>,
    /// Registered with the clock: a moved manual clock wakes queue long polls.
    clock_listener: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    _lock: Box<dyn LockGuard>,
}

impl std::fmt::Debug for EngineInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("root", &self.root).finish()
    }
}

pub(crate) struct CatalogState {
    catalog: Catalog,
    store: ManifestStore,
}

#[derive(Default)]
struct Streams {
    by_name: HashMap<String, Arc<StreamHandle>>,
    by_uid: HashMap<u64, Arc<StreamHandle>>,
    /// Streams deleted within the last iterator lifetime (uid → name, deletion time), so a
    /// shard iterator of a deleted stream still names it in its error. Older entries are
    /// dropped: their iterators have expired. Not persisted: after a restart the name of a
    /// stream deleted just before it is unknown.
    deleted: HashMap<u64, (String, i64)>,
}

/// A stream at run time.
pub(crate) struct StreamHandle {
    /// Per-stream limits overriding the engine's (run-time setting, not persisted).
    pub(crate) limits: RwLock<Option<crate::engine::limits::Limits>>,
    /// Write demand of an on-demand stream (run-time state): the stream-wide capacity
    /// bucket and the observed peak.
    pub(crate) demand: Mutex<capacity::StreamDemand>,
    /// Round-robin position of AUTO record distribution.
    pub(crate) auto_cursor: std::sync::atomic::AtomicUsize,
    pub(crate) uid: u64,
    pub(crate) arn: String,
    pub(crate) dir: PathBuf,
    pub(crate) topo: RwLock<Topology>,
    /// Stream-level data-plane counters.
    pub(crate) counters: metrics::Counters,
}

/// A stream's catalog entry plus what the data plane derives from it.
pub(crate) struct Topology {
    pub(crate) meta: StreamMeta,
    /// Open shards sorted by starting hash key: (starting hash key, position in `meta.shards`).
    pub(crate) routes: Vec<(u128, usize)>,
    /// One slot per entry of `meta.shards`.
    pub(crate) slots: Vec<Arc<ShardSlot>>,
}

/// A shard's log, opened on first use and closed again when idle (`files`).
pub(crate) struct ShardSlot {
    pub(crate) index: u32,
    dir: PathBuf,
    log: Mutex<Option<ShardLog>>,
    /// When the log was last used (`files::OpenLogs`' clock).
    pub(crate) last_used: std::sync::atomic::AtomicU64,
    /// Throughput-limit buckets (run-time state).
    pub(crate) buckets: Mutex<crate::engine::limits::ShardBuckets>,
    /// Shard-level data-plane counters (the enhanced-monitoring metrics; run-time state).
    pub(crate) counters: metrics::Counters,
    /// The hot-shard detector of on-demand scaling (run-time state).
    pub(crate) hot: parking_lot::Mutex<capacity::HotShard>,
}

impl ShardSlot {
    /// Whether the engine holds this shard's log open.
    pub(crate) fn has_log(&self) -> bool {
        self.log.try_lock().is_none_or(|l| l.is_some())
    }

    /// Close the log if only this slot holds it (no reader, subscription or append has a
    /// handle) and nobody is using the slot right now; true if it was let go. A close whose
    /// fdatasync failed leaves the now poisoned log in the slot, so the shard's next caller
    /// gets the error (an fsync is never retried and assumed good).
    pub(crate) fn release_if_idle(&self) -> bool {
        let Some(mut guard) = self.log.try_lock() else { return false };
        match guard.take() {
            Some(log) if !log.is_shared() => match log.close() {
                Ok(()) => true,
                // A failed fdatasync poisoned the log: it stays, so the shard's next caller
                // gets the error. Anything else (a clean marker or index file that could not
                // be written, descriptors short) only costs the next open a scan of the tail.
                Err(_) if log.poisoned().is_some() => {
                    *guard = Some(log);
                    false
                }
                Err(_) => true,
            },
            other => {
                *guard = other;
                false
            }
        }
    }

    /// Close the log of a shard a reshard is closing, before the transition commits, unless
    /// a reader holds it (the budget closes it once idle). Errors reach the reshard's caller
    /// before anything is committed; a poisoned log stays in the slot, any other is let go
    /// (reopened, with a scan of its tail, on next use).
    pub(crate) fn close_for_reshard(&self) -> Result<()> {
        let mut guard = self.log.lock();
        match guard.take() {
            Some(log) if !log.is_shared() => log.close().inspect_err(|_| {
                if log.poisoned().is_some() {
                    *guard = Some(log.clone());
                }
            }),
            other => {
                *guard = other;
                Ok(())
            }
        }
    }
}

impl Topology {
    fn new(meta: StreamMeta, dir: &Path, old: Option<&Topology>) -> Topology {
        let slots = meta
            .shards
            .iter()
            .map(|s| {
                old.and_then(|o| o.slots.iter().find(|x| x.index == s.index).cloned()).unwrap_or_else(|| {
                    Arc::new(ShardSlot {
                        index: s.index,
                        dir: dir.join(names::shard_id_name(s.index)),
                        log: Mutex::new(None),
                        last_used: std::sync::atomic::AtomicU64::new(0),
                        buckets: Mutex::new(crate::engine::limits::ShardBuckets::default()),
                        counters: metrics::Counters::default(),
                        hot: parking_lot::Mutex::new(capacity::HotShard::default()),
                    })
                })
            })
            .collect();
        let mut routes: Vec<(u128, usize)> = meta
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_open())
            .map(|(i, s)| (s.range.starting_hash_key, i))
            .collect();
        routes.sort_unstable();
        Topology { meta, routes, slots }
    }

    /// The position (in `meta.shards`) of the open shard covering `hash`.
    pub(crate) fn route(&self, hash: u128) -> Option<usize> {
        let i = self.routes.partition_point(|&(start, _)| start <= hash).checked_sub(1)?;
        self.routes.get(i).map(|&(_, pos)| pos)
    }

    /// The position of shard `index`.
    pub(crate) fn position(&self, index: u32) -> Option<usize> {
        self.meta.shards.binary_search_by_key(&index, |s| s.index).ok()
    }
}

impl Engine {
    /// Open (creating if needed) the data directory at `path`.
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let root = path.as_ref().to_path_buf();
        let vfs = Arc::clone(&config.vfs);
        crate::io::create_dir_all_durable(vfs.as_ref(), &root)?;
        let lock_path = root.join(LOCK_FILE);
        let lock = vfs.lock(&lock_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::Locked { path: root.clone() },
            _ => Error::io("lock", &lock_path, e),
        })?;
        let (mut store, loaded) = ManifestStore::open(Arc::clone(&vfs), &root)?;
        let catalog = match loaded {
            Some(c) => c,
            None => {
                let c = Catalog::new(random_key());
                store.commit(&c)?;
                c
            }
        };
        let shards_dir = root.join(SHARDS_DIR);
        crate::io::create_dir_all_durable(vfs.as_ref(), &shards_dir)?;
        let inner = EngineInner {
            token_key: TokenKey::from_bytes(catalog.token_key),
            sync_group: SyncGroup::new(),
            cache: SegmentCache::new(config.max_loaded_segments),
            files: files::OpenLogs::new(config.max_open_files),
            catalog: Mutex::new(CatalogState { catalog, store }),
            streams: RwLock::new(Streams::default()),
            retention_task: Mutex::new(None),
            subscriptions: Mutex::new(fanout::SubscriptionTable::new()),
            metadata_poisoned: std::sync::atomic::AtomicBool::new(false),
            control: crate::engine::limits::ControlPlane::default(),
            timer: Arc::new(timer::Timer::default()),
            deliveries: Mutex::new(channels::Buffers::default()),
            delivery_task: Mutex::new(None),
            queues: RwLock::new(HashMap::new()),
            clock_listener: Mutex::new(None),
            _lock: lock,
            root,
            config,
        };
        inner.remove_orphans()?;
        {
            let cat = inner.catalog.lock();
            let mut streams = inner.streams.write();
            for meta in cat.catalog.streams.values() {
                let h = inner.new_handle(meta.clone(), None);
                streams.by_name.insert(meta.name.clone(), Arc::clone(&h));
                streams.by_uid.insert(meta.uid, h);
            }
        }
        let engine = Engine { inner: Arc::new(inner) };
        engine.inner.reap_deleted()?;
        engine.inner.reap_queues()?;
        engine.inner.open_queues()?;
        {
            let weak = Arc::downgrade(&engine.inner);
            let listener: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.wake_queue_pollers();
                }
            });
            engine.inner.config.clock.on_set(Arc::downgrade(&listener));
            *engine.inner.clock_listener.lock() = Some(listener);
        }
        if let Some(period) = engine.inner.config.retention_check_interval {
            let task = retention::RetentionTask::start(Arc::downgrade(&engine.inner), period);
            *engine.inner.retention_task.lock() = Some(task);
        }
        if let Some(period) = engine.inner.config.channel_delivery_interval {
            let task = retention::RetentionTask::start_with(
                Arc::downgrade(&engine.inner),
                period,
                "shardlog-delivery",
                |inner| {
                    let _ = inner.deliver_channels();
                },
            );
            *engine.inner.delivery_task.lock() = Some(task);
        }
        Ok(engine)
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The group commit shared by every shard (its counters show how many fdatasyncs were
    /// shared).
    pub fn sync_group(&self) -> &Arc<SyncGroup> {
        &self.inner.sync_group
    }

    /// fdatasync every open shard log and queue state log.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_queues()?;
        for h in self.inner.all_handles() {
            let topo = h.topo.read();
            for slot in &topo.slots {
                if let Some(log) = slot.log.lock().as_ref() {
                    log.flush()?;
                }
            }
        }
        Ok(())
    }

    /// Close every shard log cleanly (so the next open skips recovery) and release the
    /// directory lock once the last clone of this handle is dropped.
    pub fn close(&self) -> Result<()> {
        if let Some(task) = self.inner.retention_task.lock().take() {
            task.stop_and_join();
        }
        if let Some(task) = self.inner.delivery_task.lock().take() {
            task.stop_and_join();
        }
        let mut first_err = self.inner.close_queues().err();
        for h in self.inner.all_handles() {
            let topo = h.topo.read();
            for slot in &topo.slots {
                if let Some(log) = slot.log.lock().take() {
                    if let Err(e) = log.close() {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn random_key() -> [u8; 32] {
    TokenKey::random_bytes()
}

impl EngineInner {
    fn all_handles(&self) -> Vec<Arc<StreamHandle>> {
        self.streams.read().by_uid.values().cloned().collect()
    }

    fn stream_dir(&self, uid: u64) -> PathBuf {
        self.root.join(SHARDS_DIR).join(format!("{uid:016x}"))
    }

    fn new_handle(&self, meta: StreamMeta, old: Option<&Topology>) -> Arc<StreamHandle> {
        let dir = self.stream_dir(meta.uid);
        let arn = names::stream_arn(&self.config.region, &self.config.account_id, &meta.name);
        Arc::new(StreamHandle {
            limits: RwLock::new(None),
            demand: Mutex::new(capacity::StreamDemand::default()),
            auto_cursor: std::sync::atomic::AtomicUsize::new(0),
            uid: meta.uid,
            arn,
            topo: RwLock::new(Topology::new(meta, &dir, old)),
            dir,
            counters: metrics::Counters::default(),
        })
    }

    /// Options for opening a shard log of this engine.
    fn log_options(&self) -> LogOptions {
        let mut config = self.config.log.clone();
        config.durability = self.config.durability;
        if self.config.encryption_key.is_some() {
            config.at_rest_key = self.config.encryption_key.clone();
        }
        LogOptions {
            config,
            vfs: Arc::clone(&self.config.vfs),
            clock: Arc::clone(&self.config.clock),
            sync_group: Arc::clone(&self.sync_group),
            cache: Arc::clone(&self.cache),
            lock_dir: false,
            durable_parent_levels: 3,
        }
    }

    /// The shard log of `slot`, opening it on first use (after closing idle logs if the
    /// descriptor budget is full; see [`files`]).
    pub(crate) fn log(&self, slot: &Arc<ShardSlot>) -> Result<ShardLog> {
        let mut guard = slot.log.lock();
        if let Some(log) = guard.as_ref() {
            self.files.touch(slot);
            return Ok(log.clone());
        }
        self.files.make_room(slot);
        let log = match ShardLog::open(&slot.dir, self.log_options()) {
            Err(Error::Io { source, .. }) if files::is_out_of_descriptors(&source) && self.files.release_idle() > 0 => {
                ShardLog::open(&slot.dir, self.log_options())?
            }
            r => r?,
        };
        *guard = Some(log.clone());
        self.files.opened(slot);
        Ok(log)
    }

    /// The shard log of `slot` if the shard has ever been written (its directory exists),
    /// without creating anything: read-only requests on a never-written shard see it empty.
    pub(crate) fn existing_log(&self, slot: &Arc<ShardSlot>) -> Result<Option<ShardLog>> {
        if slot.log.lock().is_none() && !self.config.vfs.exists(&slot.dir) {
            return Ok(None);
        }
        self.log(slot).map(Some)
    }

    /// The limits in force for a stream.
    pub(crate) fn limits_for(&self, h: &StreamHandle) -> crate::engine::limits::Limits {
        h.limits.read().unwrap_or(self.config.limits)
    }

    /// Admit one control-plane call of `op` (scope: a stream uid, or 0 for account-wide
    /// quotas) under Kinesis' TPS quotas when limits are on.
    pub(crate) fn admit_control(&self, op: &str, scope: u64) -> Result<()> {
        if !self.config.limits.control_plane || self.control.admit(op, scope, self.now_ms()) {
            return Ok(());
        }
        Err(Error::LimitExceeded {
            message: format!("Rate exceeded for {op} under account {}.", self.config.account_id),
        })
    }

    fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    fn account(&self) -> &str {
        &self.config.account_id
    }

    /// Remove stream and shard directories the catalog does not know: leftovers of a crash
    /// between creating them and committing the manifest (or between committing a delete and
    /// removing them).
    fn remove_orphans(&self) -> Result<()> {
        let vfs = &self.config.vfs;
        let shards_dir = self.root.join(SHARDS_DIR);
        let cat = self.catalog.lock();
        let entries = vfs.read_dir(&shards_dir).map_err(|e| Error::io("read_dir", &shards_dir, e))?;
        let mut removed = false;
        for e in entries {
            let path = shards_dir.join(&e.name);
            let known = u64::from_str_radix(&e.name, 16).ok().and_then(|uid| cat.catalog.streams.get(&uid));
            match known {
                Some(meta) if e.is_dir && e.name.len() == 16 => {
                    let inner = vfs.read_dir(&path).map_err(|err| Error::io("read_dir", &path, err))?;
                    let mut inner_removed = false;
                    for s in inner {
                        let keep = names::parse_shard_id(&s.name)
                            .is_some_and(|i| names::shard_id_name(i) == s.name && meta.shard(i).is_some());
                        if !keep {
                            remove_any(vfs, &path.join(&s.name), s.is_dir)?;
                            inner_removed = true;
                        }
                    }
                    if inner_removed {
                        vfs.sync_dir(&path).map_err(|err| Error::io("directory fsync", &path, err))?;
                    }
                }
                _ => {
                    remove_any(vfs, &path, e.is_dir)?;
                    removed = true;
                }
            }
        }
        if removed {
            vfs.sync_dir(&shards_dir).map_err(|e| Error::io("directory fsync", &shards_dir, e))?;
        }
        Ok(())
    }

    /// Finish deletions whose modelled delay has passed.
    fn reap_deleted(&self) -> Result<()> {
        let now = self.now_ms();
        let delay = self.config.status_delays.map_or(0, |d| d.deleting.as_millis() as i64);
        let due: Vec<u64> = {
            let cat = self.catalog.lock();
            cat.catalog
                .streams
                .values()
                .filter(|s| matches!(s.lifecycle, StreamLifecycle::Deleting { since_ms } if now >= since_ms.saturating_add(delay)))
                .map(|s| s.uid)
                .collect()
        };
        for uid in due {
            self.finish_delete(uid)?;
        }
        Ok(())
    }

    /// Drop a stream from the catalog (durably), then close and delete its files.
    fn finish_delete(&self, uid: u64) -> Result<()> {
        let mut cat = self.catalog.lock();
        let Some(handle) = self.streams.read().by_uid.get(&uid).cloned() else { return Ok(()) };
        let mut topo = handle.topo.write();
        let mut next = cat.catalog.clone();
        next.streams.remove(&uid);
        next.checkpoints.retain(|c| c.stream_uid != uid);
        // Only DELETING channels can remain on a deleted stream; they go with it.
        next.channels.retain(|_, c| c.stream_uid != uid);
        self.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        {
            let now = self.now_ms();
            let mut streams = self.streams.write();
            streams.by_uid.remove(&uid);
            if streams.by_name.get(&topo.meta.name).is_some_and(|h| h.uid == uid) {
                streams.by_name.remove(&topo.meta.name);
            }
            streams.deleted.retain(|_, (_, at)| now.saturating_sub(*at) <= messages::TOKEN_LIFETIME_MS);
            streams.deleted.insert(uid, (topo.meta.name.clone(), now));
        }
        for slot in &topo.slots {
            if let Some(log) = slot.log.lock().take() {
                log.discard();
            }
        }
        topo.meta.shards.clear();
        topo.routes.clear();
        drop(topo);
        let vfs = &self.config.vfs;
        if vfs.exists(&handle.dir) {
            vfs.remove_dir_all(&handle.dir).map_err(|e| Error::io("remove", &handle.dir, e))?;
            let parent = self.root.join(SHARDS_DIR);
            vfs.sync_dir(&parent).map_err(|e| Error::io("directory fsync", &parent, e))?;
        }
        Ok(())
    }

    /// Commit a whole new catalog; a failure that leaves the durable topology unknown makes
    /// the engine refuse writes until it is reopened.
    pub(crate) fn commit_catalog(&self, cat: &mut CatalogGuard<'_>, next: &crate::catalog::Catalog) -> Result<()> {
        // Out of descriptors (the process, not the engine: its own use stays below the
        // budget): close every idle shard log and try once more. The store fails such a
        // commit before anything was written or, at the directory fsync, before the fsync
        // ran, so trying again is not retrying an fsync.
        let r = cat.store.commit_or_retry(next, &|| self.files.release_idle() > 0);
        if r.is_err() && cat.store.is_poisoned() {
            self.metadata_poisoned.store(true, std::sync::atomic::Ordering::Release);
        }
        r
    }

    /// Refuse writes after a metadata commit of unknown outcome.
    pub(crate) fn check_metadata(&self) -> Result<()> {
        if self.metadata_poisoned.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Poisoned {
                path: self.root.clone(),
                cause: "a manifest commit failed after its rename; reopen the engine".into(),
            });
        }
        Ok(())
    }

    /// The stream a request names, with Kinesis' validation and errors. A `StreamId` must
    /// match its pattern; alone it names the stream, with a name or ARN it must agree.
    pub(crate) fn resolve(&self, r: &StreamRef) -> Result<Arc<StreamHandle>> {
        let name = self.stream_name_of(r)?;
        let h = self.streams.read().by_name.get(name.as_ref()).cloned();
        let h = h.ok_or_else(|| messages::stream_not_found(&name, self.account()))?;
        if let Some(id) = &r.stream_id {
            if h.topo.read().meta.stream_id != *id {
                return Err(Error::invalid_argument(format!("StreamId {id} does not match stream {name}.")));
            }
        }
        Ok(h)
    }

    /// The name of a stream a request names, checked (`StreamId` pattern, name syntax, ARN,
    /// the two agreeing) but not looked up: what messages quote before the stream is found.
    /// A request naming the stream by `StreamId` alone has no name until the stream is
    /// found by its id (`Stream with id … not found.` otherwise).
    pub(crate) fn stream_name_of<'a>(&self, r: &'a StreamRef) -> Result<Cow<'a, str>> {
        if let Some(id) = &r.stream_id {
            check_stream_id(id)?;
        }
        Ok(Cow::Borrowed(match (&r.stream_name, &r.stream_arn) {
            (None, None) => {
                let Some(id) = &r.stream_id else {
                    return Err(Error::Validation {
                        message: "Either StreamName or StreamARN must be provided.".into(),
                    });
                };
                let found = self.streams.read().by_uid.values().find_map(|h| {
                    let topo = h.topo.read();
                    (topo.meta.stream_id == *id).then(|| topo.meta.name.clone())
                });
                return found.map(Cow::Owned).ok_or_else(|| Error::ResourceNotFound {
                    message: format!("Stream with id {id} under account {} not found.", self.account()),
                });
            }
            (Some(n), arn) => {
                names::validate_stream_name(n)?;
                if let Some(arn) = arn {
                    let parsed = self.parse_arn(arn)?;
                    if parsed != *n {
                        return Err(Error::invalid_argument(format!("StreamARN {arn} does not match StreamName {n}.")));
                    }
                }
                n.as_str()
            }
            (None, Some(arn)) => self.parse_arn(arn)?,
        }))
    }

    /// The name of a stream deleted within the last iterator lifetime.
    pub(crate) fn deleted_stream_name(&self, uid: u64) -> Option<String> {
        self.streams.read().deleted.get(&uid).map(|(name, _)| name.clone())
    }

    fn parse_arn<'a>(&self, arn: &'a str) -> Result<&'a str> {
        let Some((region, account, name)) = names::parse_stream_arn(arn) else {
            return Err(names::ValidationErrors::single(
                "streamARN",
                arn,
                names::Constraint::Pattern("arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"),
            ));
        };
        // An ARN of the right form whose name no stream can have (the model checks the ARN
        // with `stream/\S+`, not the name) names no stream.
        if names::validate_stream_name(name).is_err()
            || region != self.config.region
            || account != self.config.account_id
        {
            return Err(messages::stream_not_found(name, self.account()));
        }
        Ok(name)
    }

    /// The status a stream shows now.
    pub(crate) fn status(&self, meta: &StreamMeta) -> StreamStatus {
        if matches!(meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return StreamStatus::Deleting;
        }
        let Some(d) = self.config.status_delays else { return StreamStatus::Active };
        let now = self.now_ms();
        if now < meta.created_ms.saturating_add(d.creating.as_millis() as i64) {
            StreamStatus::Creating
        } else if now < meta.updated_ms.saturating_add(d.updating.as_millis() as i64) {
            StreamStatus::Updating
        } else {
            StreamStatus::Active
        }
    }

    /// Commit a new catalog entry for an existing stream whose topology write lock the
    /// caller holds, and swap it in.
    pub(crate) fn commit_stream(
        &self,
        cat: &mut CatalogGuard<'_>,
        topo: &mut Topology,
        dir: &Path,
        meta: StreamMeta,
    ) -> Result<()> {
        let mut next = cat.catalog.clone();
        next.streams.insert(meta.uid, meta.clone());
        self.commit_catalog(cat, &next)?;
        cat.catalog = next;
        let fresh = Topology::new(meta, dir, Some(topo));
        *topo = fresh;
        Ok(())
    }
}

type CatalogGuard<'a> = parking_lot::MutexGuard<'a, CatalogState>;

/// Pattern of `StreamId`.
pub(crate) const STREAM_ID_PATTERN: &str = "[a-z0-9]{20}-[a-z0-9]{3}";

/// A `StreamId` member must match its pattern (`ValidationException` on member `streamId`).
pub(crate) fn check_stream_id(id: &str) -> Result<()> {
    if crate::kinesis::ids::is_stream_id(id) {
        return Ok(());
    }
    let mut e = crate::kinesis::ValidationErrors::new();
    e.pattern("streamId", id, STREAM_ID_PATTERN);
    e.length("streamId", id, 1, 24);
    e.into_result()
}

fn remove_any(vfs: &VfsRef, path: &Path, is_dir: bool) -> Result<()> {
    let r = if is_dir { vfs.remove_dir_all(path) } else { vfs.remove_file(path) };
    r.map_err(|e| Error::io("remove", path, e))
}

/// Parse a shard id the way AWS does (leniently, [`names::resolve_shard_id`]): a
/// `ValidationException` if it breaks the model's pattern or length, an
/// `InvalidArgumentException` if it does not resolve to a shard index.
pub(crate) fn parse_shard_id(member: &str, id: &str) -> Result<u32> {
    use crate::kinesis::{Constraint, ValidationErrors};
    names::validate_shard_id(id)
        .map_err(|_| ValidationErrors::single(member, id, Constraint::Pattern(names::NAME_PATTERN)))?;
    names::resolve_shard_id(id).ok_or_else(|| {
        Error::invalid_argument(format!("Invalid ShardId {id}: it must be of the form shardId-<number>."))
    })
}

/// Parse the shard id of GetShardIterator, SplitShard or MergeShards, before the stream is
/// looked up, as AWS does: one that does not resolve is `ResourceNotFoundException`
/// `Could not find shard <id as sent> in stream <s> under account <a>.` whether or not the
/// stream exists.
pub(crate) fn parse_shard_id_of(member: &str, id: &str, stream: &str, account: &str) -> Result<u32> {
    use crate::kinesis::{Constraint, ValidationErrors};
    names::validate_shard_id(id)
        .map_err(|_| ValidationErrors::single(member, id, Constraint::Pattern(names::NAME_PATTERN)))?;
    names::resolve_shard_id(id)
        .ok_or_else(|| crate::kinesis::messages::shard_not_found_for_reshard(id, stream, account))
}

/// Seconds stamped into a shard's sequence numbers as its creation time: its creation second
/// backdated by 2 s, as kinesalite does (real shards show a few seconds), so that no record's
/// number can equal the shard's `StartingSequenceNumber`.
pub(crate) fn shard_create_secs(shard: &ShardMeta) -> u64 {
    u64::try_from(shard.created_ms.div_euclid(1000).saturating_sub(2)).unwrap_or(0)
}

/// Seconds of an arrival time as stamped into a sequence number.
pub(crate) fn arrival_secs(arrival_ms: i64) -> u64 {
    u64::try_from(arrival_ms.div_euclid(1000)).unwrap_or(0)
}
