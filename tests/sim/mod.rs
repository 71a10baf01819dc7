//! Shared by the whole-engine reliability harnesses (tests/engine_simulation.rs and
//! tests/engine_io_errors.rs): a seeded PRNG, the engine configuration, a model of what the
//! engine acknowledged, and the oracle that checks an engine reopened on a crashed or faulted
//! file system against that model.
//!
//! # The model
//!
//! - **Records.** Every acknowledged put is kept per (stream, shard, offset) with its key,
//!   data, arrival time, sequence number and two op counts of the `SimVfs` log: `ack_op` (the
//!   call returned) and `durable_op` (it was fdatasync'd: at once under `Durability::Sync`,
//!   later — `Engine::flush`, a clean close, the flush a reshard does on its parents — under
//!   `Buffered` / `Interval`). Puts that failed are kept by content only (`pending`): they may
//!   or may not be on disk, at an offset nobody was told.
//! - **Catalog.** What the control plane shows (per stream: creation time, retention,
//!   ListShards, consumers; per checkpoint: its value) is a [`View`]. After every metadata
//!   call the live engine's view is compared with the one before it and each changed key gets
//!   a new [`Version`] carrying the op range of the call. A crash after `n` ops may show, per
//!   key, the last version whose call had completed by `n`, or the version of the call in
//!   flight at `n` — never anything else. (A call that commits several manifests — a
//!   retention pass, an event-source step — may also leave a checkpoint between its old and
//!   new value; a failed call's change is "in flight" forever.)
//! - **Retention.** Every retention pass notes each stream's cutoff and the op at which it
//!   started: a crash after that op may have lost records older than the cutoff.
//!
//! # The oracle ([`check_state`])
//!
//! After an engine is reopened on a crash state it must: open; show a catalog whose every key
//! is allowed (old or new, never a mix); list through the API exactly the shards of the
//! manifest, with no directory on disk that the catalog does not know (no orphans); return,
//! per shard, dense offsets from the trim horizon whose records all equal what was written
//! at that offset (nothing phantom, duplicated or reordered); still hold every record the
//! crash kind guarantees (see [`CrashPoint`]) unless a retention pass had started whose cutoff
//! is newer than the record; end closed shards exactly at their recorded end; hold no
//! checkpoint past the data (`AT_SEQUENCE_NUMBER` on it succeeds); give the same records
//! through `LineageReader`, those routed by their partition key in per-key write order; and
//! take work again (create, put, read).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use shardlog::catalog::{codec, Catalog};
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::io::sim::{CrashSpec, DataMode, DirMode, SimOp, SimVfs, TailMode};
use shardlog::io::VfsRef;
use shardlog::kinesis::names;
use shardlog::{Durability, Engine, EngineConfig, Error, LogConfig, ManualClock, Sealing};

/// The engine's data directory inside the simulated file system.
pub const ROOT: &str = "/data";
/// Start of every workload's clock (2026-01-01).
pub const T0: i64 = 1_767_225_600_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// Segments roll every dozen records or so, so rolls, sealed-segment reads and trims happen.
pub const SEGMENT_BYTES: u64 = 1024;

/// The engine configuration every harness uses: small segments, no background retention, the
/// given durability.
pub fn engine_config(vfs: VfsRef, clock: &ManualClock, durability: Durability) -> EngineConfig {
    EngineConfig {
        vfs,
        clock: Arc::new(clock.clone()),
        durability,
        retention_check_interval: None,
        channel_delivery_interval: None,
        log: LogConfig {
            segment_max_bytes: SEGMENT_BYTES,
            segment_max_age: None,
            index_interval_bytes: 256,
            // Every file operation in the harness's own thread, in a fixed order.
            sealing: Sealing::Deferred,
            ..LogConfig::default()
        },
        ..EngineConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// A small deterministic PRNG (splitmix64)
// ---------------------------------------------------------------------------------------

/// splitmix64: tiny, fast, and the same sequence for the same seed on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }

    /// Uniform index into a collection of `len` items (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniformly random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// A uniform 128-bit value.
    pub fn u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform in `lo..=hi` over 128 bits.
    pub fn range_u128(&mut self, lo: u128, hi: u128) -> u128 {
        assert!(lo <= hi);
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.u128() % span,
            None => self.u128(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Views of the catalog
// ---------------------------------------------------------------------------------------

/// One stream as the control plane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamView {
    /// `StreamCreationTimestamp` (ms).
    pub created_ms: i64,
    /// `RetentionPeriodHours`.
    pub retention_hours: u32,
    /// ListShards `FROM_TRIM_HORIZON`, every page.
    pub shards: Vec<Shard>,
    /// Registered consumers: name and creation time.
    pub consumers: Vec<(String, i64)>,
    /// The 2026 settings the API shows: mode, record distribution, encryption, enhanced
    /// monitoring, tags and policy.
    pub settings: String,
}

impl StreamView {
    /// The shard with this id.
    pub fn shard(&self, shard_id: &str) -> Option<&Shard> {
        self.shards.iter().find(|s| s.shard_id == shard_id)
    }

    /// The open shards, in hash-key order.
    pub fn open_shards(&self) -> Vec<&Shard> {
        let mut open: Vec<&Shard> =
            self.shards.iter().filter(|s| s.sequence_number_range.ending_sequence_number.is_none()).collect();
        open.sort_by_key(|s| s.hash_key_range.starting_hash_key);
        open
    }
}

/// True for a shard a split or merge closed.
pub fn is_closed(s: &Shard) -> bool {
    s.sequence_number_range.ending_sequence_number.is_some()
}

/// A key of the catalog whose value is checked on its own ("old or new").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A stream's topology, retention, consumers and settings.
    Stream(String),
    /// A checkpoint: (stream, owner, shard id).
    Checkpoint(String, String, String),
    /// The account's billing commitment.
    Account,
}

/// The value of a [`Key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// A stream.
    Stream(StreamView),
    /// A checkpoint: last processed sequence number and the finished flag.
    Checkpoint(Option<SequenceNumber>, bool),
    /// The account's commitment as DescribeAccountSettings shows it.
    Account(String),
}

/// The whole catalog as the API shows it.
pub type View = BTreeMap<Key, Val>;

/// The streams of a view.
pub fn streams(view: &View) -> BTreeMap<String, StreamView> {
    view.iter()
        .filter_map(|(k, v)| match (k, v) {
            (Key::Stream(name), Val::Stream(s)) => Some((name.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// Read the catalog through the API. Checkpoints are read for the `owners` the model knows.
pub fn snapshot(e: &Engine, owners: &BTreeMap<String, BTreeSet<String>>) -> shardlog::Result<View> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = e.list_streams(ListStreamsInput {
            limit: Some(100),
            exclusive_start_stream_name: start.take(),
            ..Default::default()
        })?;
        names.extend(page.stream_names.iter().cloned());
        if !page.has_more_streams {
            break;
        }
        start = names.last().cloned();
    }
    let mut view = View::new();
    for name in names {
        let summary = e.describe_stream_summary(StreamRef::name(&name))?;
        let shards = list_all_shards(e, &name)?;
        let consumers = e
            .list_stream_consumers(ListStreamConsumersInput {
                stream_arn: summary.stream_arn.clone(),
                ..Default::default()
            })?
            .consumers
            .into_iter()
            .map(|c| (c.consumer_name, c.consumer_creation_timestamp.as_millis()))
            .collect();
        for owner in owners.get(&name).into_iter().flatten() {
            for c in e.checkpoints(&StreamRef::name(&name), owner)? {
                view.insert(
                    Key::Checkpoint(name.clone(), owner.clone(), c.shard_id),
                    Val::Checkpoint(c.last_processed, c.finished),
                );
            }
        }
        let arn = summary.stream_arn.clone();
        let tags = e.list_tags_for_resource(ListTagsForResourceInput { resource_arn: arn.clone(), stream_id: None })?;
        let policy = e.get_resource_policy(ResourcePolicyInput { resource_arn: arn, stream_id: None })?.policy;
        // Not the StreamId: it derives from the data directory's random key, and some
        // harnesses compare with a reference run in another directory.
        let settings = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {policy}",
            summary.stream_mode,
            summary.record_distribution_strategy,
            summary.encryption_type,
            summary.key_id,
            summary.enhanced_monitoring,
            tags.tags,
        );
        view.insert(
            Key::Stream(name),
            Val::Stream(StreamView {
                created_ms: summary.stream_creation_timestamp.as_millis(),
                retention_hours: summary.retention_period_hours,
                shards,
                consumers,
                settings,
            }),
        );
    }
    // A never-configured account shows no key (as before anything was created).
    let account = e.describe_account_settings()?.minimum_throughput_billing_commitment;
    // The stored times only: the status follows from them and the clock, which differs
    // between the run and the checks.
    if account.started_at.is_some() {
        view.insert(Key::Account, Val::Account(format!("{:?} {:?}", account.started_at, account.ended_at)));
    }
    Ok(view)
}

/// ListShards `FROM_TRIM_HORIZON`, following NextToken.
pub fn list_all_shards(e: &Engine, stream: &str) -> shardlog::Result<Vec<Shard>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let first = token.is_none();
        let page = e.list_shards(ListShardsInput {
            stream: if first { StreamRef::name(stream) } else { StreamRef::default() },
            next_token: token.take(),
            shard_filter: first.then_some(ShardFilter {
                filter_type: ShardFilterType::FromTrimHorizon,
                shard_id: None,
                timestamp: None,
            }),
            ..Default::default()
        })?;
        shards.extend(page.shards);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(shards),
        }
    }
}

/// One line per stream, for failure messages.
pub fn describe_val(v: Option<&Val>) -> String {
    match v {
        None => "<absent>".into(),
        Some(Val::Checkpoint(seq, fin)) => {
            format!("checkpoint {} finished={fin}", seq.map_or("-".into(), |s| s.counter().to_string()))
        }
        Some(Val::Account(a)) => format!("account {a}"),
        Some(Val::Stream(s)) => {
            let mut out = format!(
                "created {} {}h consumers {:?} [{}]:",
                s.created_ms, s.retention_hours, s.consumers, s.settings
            );
            for sh in &s.shards {
                out.push_str(&format!(
                    " {}{}",
                    sh.shard_id.trim_start_matches("shardId-0000000"),
                    if is_closed(sh) { "(closed)" } else { "" }
                ));
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------------------
// Catalog timeline
// ---------------------------------------------------------------------------------------

/// A value a key took, and the op range of the call that set it.
#[derive(Debug, Clone)]
pub struct Version {
    /// Sim op count when the call started: crash points after it may show this value.
    pub b: usize,
    /// Sim op count when the call returned: crash points at or after it show this value (or
    /// a later one). `usize::MAX` for a call that failed: its change may or may not be durable.
    pub a: usize,
    /// `None`: the key does not exist.
    pub val: Option<Val>,
    /// The call committed several manifests (a retention pass, an event-source step): a
    /// checkpoint may show a value between the old and the new one.
    pub multi: bool,
}

/// Every key's versions since the model was last reset.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Versions per key, oldest first.
    pub keys: BTreeMap<Key, Vec<Version>>,
}

impl Timeline {
    /// Forget the history: every key of `view` holds its value from op 0 on.
    pub fn reset(&mut self, view: &View) {
        self.keys = view
            .iter()
            .map(|(k, v)| (k.clone(), vec![Version { b: 0, a: 0, val: Some(v.clone()), multi: false }]))
            .collect();
    }

    /// A call spanning ops `b..a` changed the catalog from `before` to `after`.
    pub fn record(&mut self, b: usize, a: usize, before: &View, after: &View, multi: bool) {
        let keys: BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
        for k in keys {
            let (old, new) = (before.get(k), after.get(k));
            if old == new {
                continue;
            }
            let versions = self
                .keys
                .entry(k.clone())
                .or_insert_with(|| vec![Version { b: 0, a: 0, val: old.cloned(), multi: false }]);
            versions.push(Version { b, a, val: new.cloned(), multi });
        }
    }

    /// The values key `k` may show after a crash at `n` ops: the newest version whose call
    /// had completed, and any version whose call had started but not (known to have) completed.
    pub fn allowed(&self, k: &Key, n: usize) -> Vec<&Version> {
        static ABSENT: Version = Version { b: 0, a: 0, val: None, multi: false };
        let Some(versions) = self.keys.get(k) else { return vec![&ABSENT] };
        let j = versions.iter().rposition(|v| v.a <= n);
        let mut out: Vec<&Version> = match j {
            Some(j) => vec![&versions[j]],
            None => vec![&ABSENT],
        };
        let after = j.map_or(0, |j| j + 1);
        out.extend(versions.iter().skip(after).filter(|v| v.b < n));
        out
    }
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// An acknowledged record.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Partition key.
    pub key: String,
    /// Data (unique per record: it carries a serial number).
    pub data: Bytes,
    /// Arrival time (ms).
    pub arrival_ms: i64,
    /// The sequence number the put returned.
    pub seq: SequenceNumber,
    /// Sim op count when the put started.
    pub start_op: usize,
    /// Sim op count when the put returned.
    pub ack_op: usize,
    /// Sim op count by which it was fdatasync'd, if it was.
    pub durable_op: Option<usize>,
    /// Global write order (per-key order checks).
    pub order: u64,
}

/// A put that failed: it may be on disk, at an offset nobody was told.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Stream.
    pub stream: String,
    /// Partition key.
    pub key: String,
    /// Arrival time it would have had.
    pub arrival_ms: i64,
}

/// What the engine acknowledged and what its catalog went through.
#[derive(Debug, Clone)]
pub struct Model {
    /// The engine's durability.
    pub durability: Durability,
    /// Records per stream, shard index and offset.
    pub records: BTreeMap<String, BTreeMap<u32, BTreeMap<u64, Rec>>>,
    /// Failed puts, by data.
    pub pending: BTreeMap<Bytes, Pending>,
    /// Retention passes: (stream, op count when the pass started, cutoff).
    pub cutoffs: Vec<(String, usize, i64)>,
    /// Catalog history.
    pub timeline: Timeline,
    /// Checkpoint owners in use, per stream.
    pub owners: BTreeMap<String, BTreeSet<String>>,
    /// The live engine's catalog now.
    pub current: View,
    /// Next write order.
    pub next_order: u64,
}

impl Model {
    /// An empty model.
    pub fn new(durability: Durability) -> Model {
        Model {
            durability,
            records: BTreeMap::new(),
            pending: BTreeMap::new(),
            cutoffs: Vec::new(),
            timeline: Timeline::default(),
            owners: BTreeMap::new(),
            current: View::new(),
            next_order: 0,
        }
    }

    /// Note an acknowledged record.
    #[allow(clippy::too_many_arguments)]
    pub fn acked(
        &mut self,
        stream: &str,
        key: &str,
        data: Bytes,
        arrival_ms: i64,
        seq: SequenceNumber,
        start_op: usize,
        ack_op: usize,
    ) {
        let durable_op = (self.durability == Durability::Sync).then_some(ack_op);
        let order = self.next_order;
        self.next_order += 1;
        let rec = Rec { key: key.into(), data, arrival_ms, seq, start_op, ack_op, durable_op, order };
        let shard = self.records.entry(stream.into()).or_default().entry(seq.shard_index()).or_default();
        shard.insert(seq.counter(), rec);
    }

    /// Note a put that failed.
    pub fn failed(&mut self, stream: &str, key: &str, data: Bytes, arrival_ms: i64) {
        self.pending.insert(data, Pending { stream: stream.into(), key: key.into(), arrival_ms });
    }

    /// Everything written so far was fdatasync'd by op `op` (a flush or a clean close).
    pub fn all_durable(&mut self, op: usize) {
        for rec in self.records.values_mut().flat_map(|s| s.values_mut()).flat_map(|s| s.values_mut()) {
            rec.durable_op.get_or_insert(op);
        }
    }

    /// Shard `index` of `stream` was fdatasync'd by op `op` (a reshard closing it).
    pub fn shard_durable(&mut self, stream: &str, index: u32, op: usize) {
        if let Some(shard) = self.records.get_mut(stream).and_then(|s| s.get_mut(&index)) {
            for rec in shard.values_mut() {
                rec.durable_op.get_or_insert(op);
            }
        }
    }

    /// A metadata call spanning ops `b..a` ran on the live engine, which now shows `after`.
    pub fn catalog_changed(&mut self, b: usize, a: usize, after: View, multi: bool) {
        let before = std::mem::take(&mut self.current);
        self.timeline.record(b, a, &before, &after, multi);
        self.current = after;
    }

    /// A metadata call starting at op `b` failed; had it succeeded the catalog would show
    /// `intended`. Its change may or may not be durable (the live engine keeps `current`).
    pub fn catalog_uncertain(&mut self, b: usize, intended: &View, multi: bool) {
        let current = self.current.clone();
        self.timeline.record(b, usize::MAX, &current, intended, multi);
    }

    /// The newest retention cutoff of `stream` among passes started before op `n`.
    pub fn cutoff(&self, stream: &str, n: usize) -> Option<i64> {
        self.cutoffs.iter().filter(|(s, b, _)| s == stream && *b < n).map(|(_, _, c)| *c).max()
    }

    /// Restart from what an engine shows: every record observed is durable from op 0, the
    /// catalog holds from op 0, no retention pass or failed put is pending.
    pub fn adopt(&mut self, obs: &Observed) {
        let mut records: BTreeMap<String, BTreeMap<u32, BTreeMap<u64, Rec>>> = BTreeMap::new();
        for (stream, shards) in &obs.records {
            for (&index, recs) in shards {
                let out = records.entry(stream.clone()).or_default().entry(index).or_default();
                for r in recs {
                    let off = r.sequence_number.counter();
                    let order = self
                        .records
                        .get(stream)
                        .and_then(|s| s.get(&index))
                        .and_then(|s| s.get(&off))
                        .filter(|m| m.data == r.data)
                        .map_or_else(
                            || {
                                self.next_order += 1;
                                self.next_order
                            },
                            |m| m.order,
                        );
                    out.insert(
                        off,
                        Rec {
                            key: r.partition_key.clone(),
                            data: r.data.clone(),
                            arrival_ms: r.approximate_arrival_timestamp.as_millis(),
                            seq: r.sequence_number,
                            start_op: 0,
                            ack_op: 0,
                            durable_op: Some(0),
                            order,
                        },
                    );
                }
            }
        }
        self.records = records;
        self.pending.clear();
        self.cutoffs.clear();
        self.timeline.reset(&obs.view);
        self.current = obs.view.clone();
    }
}

// ---------------------------------------------------------------------------------------
// Crash points and the oracle
// ---------------------------------------------------------------------------------------

/// What a reopened state may have lost.
#[derive(Debug, Clone, Copy)]
pub struct CrashPoint {
    /// The crash struck after this many ops of the model's `SimVfs` log.
    pub n: usize,
    /// Every write and every directory change before the crash survived (a process crash):
    /// every acknowledged record must be back whatever the durability mode. Otherwise (a
    /// power cut: un-synced data or directory entries lost) only fdatasync'd records must.
    pub process_crash: bool,
    /// Op `n` is a write that landed torn (cut, zeroed, garbage or with a flipped bit).
    pub torn_last_write: bool,
}

impl CrashPoint {
    /// The crash point a `CrashSpec` over a log of `ops` produces.
    pub fn of(spec: &CrashSpec, ops: &[SimOp]) -> CrashPoint {
        let n = spec.ops.min(ops.len());
        let last_is_write = n > 0 && matches!(ops.get(n - 1), Some(SimOp::Write { .. }));
        CrashPoint {
            n,
            process_crash: spec.data == DataMode::AllWritten && spec.dir == DirMode::KeepAll,
            torn_last_write: last_is_write && spec.data == DataMode::AllWritten && spec.tail != TailMode::Whole,
        }
    }

    /// No crash: the engine was closed or dropped and reopened on the same file system after
    /// `n` ops.
    pub fn reopen(n: usize) -> CrashPoint {
        CrashPoint { n, process_crash: true, torn_last_write: false }
    }

    /// Must `r` be back after this crash?
    pub fn guarantees(&self, r: &Rec) -> bool {
        let at = if self.process_crash { Some(r.ack_op) } else { r.durable_op };
        at.is_some_and(|a| a < self.n || (a == self.n && !self.torn_last_write))
    }
}

/// What the oracle saw on a reopened engine.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The catalog.
    pub view: View,
    /// Every record, per stream and shard index, in offset order.
    pub records: BTreeMap<String, BTreeMap<u32, Vec<KinesisRecord>>>,
    /// What the checks covered.
    pub tally: Tally,
}

/// Counters showing the checks are not vacuous.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Catalog keys found at the new value of a call in flight at the crash.
    pub in_flight_new: u64,
    /// Catalog keys found at the old value of a call in flight at the crash.
    pub in_flight_old: u64,
    /// Records read back and matched.
    pub records: u64,
    /// Guaranteed records found.
    pub guaranteed: u64,
    /// Acknowledged but not guaranteed records that were lost (un-synced, power cut).
    pub unsynced_lost: u64,
    /// Guaranteed records gone through retention.
    pub trimmed: u64,
    /// Checkpoints checked against the data.
    pub checkpoints: u64,
}

impl Tally {
    /// Add another tally.
    pub fn add(&mut self, o: &Tally) {
        self.in_flight_new += o.in_flight_new;
        self.in_flight_old += o.in_flight_old;
        self.records += o.records;
        self.guaranteed += o.guaranteed;
        self.unsynced_lost += o.unsynced_lost;
        self.trimmed += o.trimmed;
        self.checkpoints += o.checkpoints;
    }
}

/// What else the oracle does.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Read every stream through `LineageReader` too.
    pub lineage: bool,
    /// Probe that the engine takes work (creates a stream and puts to every stream; the state
    /// is changed, so only for states that are thrown away afterwards).
    pub probe: bool,
}

/// Read a shard from TRIM_HORIZON to its end (closed) or its tip (open). Returns the records
/// and whether the shard reported its end.
pub fn read_shard(e: &Engine, stream: &str, shard_id: &str, limit: u32) -> Result<(Vec<KinesisRecord>, bool), String> {
    let mut it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(stream),
            shard_id: shard_id.into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .map_err(|err| format!("GetShardIterator {stream}/{shard_id}: {err}"))?
        .shard_iterator;
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let r = e
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(limit),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .map_err(|err| format!("GetRecords {stream}/{shard_id}: {err}"))?;
        let empty = r.records.is_empty();
        out.extend(r.records);
        match r.next_shard_iterator {
            None => return Ok((out, true)),
            Some(next) if !empty => it = next,
            Some(_) => return Ok((out, false)),
        }
    }
    Err(format!("{stream}/{shard_id}: GetRecords never reached the end"))
}

/// Compare one record read back with what the model holds for its offset (or a failed put).
/// `Err` explains the difference.
pub fn match_record(model: &Model, stream: &str, r: &KinesisRecord, n: Option<usize>) -> Result<(), String> {
    let index = r.sequence_number.shard_index();
    let off = r.sequence_number.counter();
    let at = format!("{stream}/{} offset {off}", names::shard_id_name(index));
    let known = model.records.get(stream).and_then(|s| s.get(&index)).and_then(|s| s.get(&off));
    if let Some(m) = known.filter(|m| m.data == r.data) {
        if m.key != r.partition_key
            || m.arrival_ms != r.approximate_arrival_timestamp.as_millis()
            || m.seq != r.sequence_number
        {
            return Err(format!(
                "{at}: read back as key {} arrival {} seq {}, written as key {} arrival {} seq {}",
                r.partition_key,
                r.approximate_arrival_timestamp.as_millis(),
                r.sequence_number,
                m.key,
                m.arrival_ms,
                m.seq
            ));
        }
        if let Some(n) = n {
            // (Records adopted from a reopened state have start_op = ack_op = 0.)
            if m.start_op >= n && n < m.ack_op {
                return Err(format!("{at}: record of a put issued after the crash point (op {} >= {n})", m.start_op));
            }
        }
        return Ok(());
    }
    if let Some(p) = model.pending.get(&r.data) {
        if p.stream == stream && p.key == r.partition_key && p.arrival_ms == r.approximate_arrival_timestamp.as_millis()
        {
            return Ok(());
        }
    }
    match known {
        Some(m) => Err(format!("{at}: holds {:?}, but {:?} was acknowledged there", r.data, m.data)),
        None => Err(format!("{at}: phantom record {:?} (never acknowledged there)", r.data)),
    }
}

/// Open an engine on `sim` and check it against `model` for a crash at `cp`. Returns the
/// engine and what it showed (for adopting the state).
pub fn check_state(
    model: &Model,
    sim: &SimVfs,
    cp: CrashPoint,
    clock: &ManualClock,
    opts: CheckOptions,
) -> Result<(Engine, Observed), String> {
    let e = Engine::open(ROOT, engine_config(sim.shared(), clock, model.durability))
        .map_err(|err| format!("open failed: {err}"))?;
    let obs = check_engine(model, &e, sim, cp, opts)?;
    Ok((e, obs))
}

/// Every directory under `<ROOT>/shards` is a stream of `catalog` (named by its 16-hex-digit
/// uid) and holds only directories of shards the catalog lists: nothing orphaned by an
/// interrupted create, delete or reshard survived the open. Call it before any read or put,
/// which open shard logs and create their directories.
pub fn check_no_orphans(vfs: &VfsRef, catalog: &Catalog) -> Result<(), String> {
    let shards_dir = Path::new(ROOT).join("shards");
    for entry in vfs.read_dir(&shards_dir).map_err(|err| format!("read_dir {}: {err}", shards_dir.display()))? {
        let meta = u64::from_str_radix(&entry.name, 16).ok().and_then(|uid| catalog.streams.get(&uid));
        let Some(meta) = meta.filter(|_| entry.is_dir && entry.name.len() == 16) else {
            return Err(format!("orphan stream entry {}/{} survived the open", shards_dir.display(), entry.name));
        };
        let dir = shards_dir.join(&entry.name);
        for s in vfs.read_dir(&dir).map_err(|err| format!("read_dir {}: {err}", dir.display()))? {
            let listed = names::parse_shard_id(&s.name).and_then(|i| meta.shard(i)).is_some();
            if !listed || !s.is_dir {
                return Err(format!(
                    "orphan shard entry {}/{} (stream {}) survived the open",
                    dir.display(),
                    s.name,
                    meta.name
                ));
            }
        }
    }
    Ok(())
}

/// The checks of [`check_state`] on an engine already open on `sim`.
pub fn check_engine(
    model: &Model,
    e: &Engine,
    sim: &SimVfs,
    cp: CrashPoint,
    opts: CheckOptions,
) -> Result<Observed, String> {
    let n = cp.n;
    // No orphans (before any read or put, which open shard logs).
    let root = Path::new(ROOT);
    let manifest = sim.file_content(&root.join("MANIFEST")).ok_or("no MANIFEST after open")?;
    let (_, catalog) = codec::decode(&manifest).map_err(|why| format!("MANIFEST does not decode: {why}"))?;
    check_no_orphans(&sim.shared(), &catalog)?;

    // The catalog: every key old or new.
    let view = snapshot(e, &model.owners).map_err(|err| format!("listing after open failed: {err}"))?;
    let mut tally = Tally::default();
    let keys: BTreeSet<&Key> = view.keys().chain(model.timeline.keys.keys()).collect();
    for k in keys {
        let got = view.get(k);
        let allowed = model.timeline.allowed(k, n);
        if let Some(i) = allowed.iter().position(|v| v.val.as_ref() == got) {
            if allowed.len() > 1 {
                if i == 0 {
                    tally.in_flight_old += 1;
                } else {
                    tally.in_flight_new += 1;
                }
            }
            continue;
        }
        // A call that committed several checkpoints may stop between the old and the new one.
        if let (Key::Checkpoint(..), Some(Val::Checkpoint(seq, false))) = (k, got) {
            let multi: Vec<&&Version> = allowed.iter().filter(|v| v.multi).collect();
            let lo = allowed.first().and_then(|v| match &v.val {
                Some(Val::Checkpoint(s, _)) => *s,
                _ => None,
            });
            let between = multi.iter().any(|v| match &v.val {
                Some(Val::Checkpoint(hi, _)) => {
                    seq.map(|s| s.counter()) <= hi.map(|s| s.counter())
                        && lo.map(|s| s.counter()) <= seq.map(|s| s.counter())
                }
                _ => false,
            });
            if between {
                continue;
            }
        }
        let allowed: Vec<String> = allowed.iter().map(|v| describe_val(v.val.as_ref())).collect();
        return Err(format!(
            "{k:?} is neither old nor new:\n  found:   {}\n  allowed: {}",
            describe_val(got),
            allowed.join("\n       or: ")
        ));
    }

    // The API lists exactly the manifest's shards.
    let listed = streams(&view);
    for (name, s) in &listed {
        let meta = catalog
            .streams
            .values()
            .find(|m| &m.name == name)
            .ok_or_else(|| format!("stream {name} is listed but not in the MANIFEST"))?;
        let ids: Vec<String> = meta.shards.iter().map(|x| names::shard_id_name(x.index)).collect();
        let got: Vec<String> = s.shards.iter().map(|x| x.shard_id.clone()).collect();
        if ids != got {
            return Err(format!("{name}: ListShards shows {got:?}, the MANIFEST holds {ids:?}"));
        }
        let described = e
            .describe_stream(DescribeStreamInput { stream: StreamRef::name(name), ..Default::default() })
            .map_err(|err| format!("DescribeStream {name}: {err}"))?;
        let want: Vec<&Shard> = s.shards.iter().take(100).collect();
        if described.shards.iter().collect::<Vec<_>>() != want {
            return Err(format!("{name}: DescribeStream and ListShards disagree"));
        }
    }
    if catalog.streams.len() != listed.len() {
        return Err(format!("the MANIFEST holds {} streams, ListStreams {}", catalog.streams.len(), listed.len()));
    }

    // Records.
    let mut records: BTreeMap<String, BTreeMap<u32, Vec<KinesisRecord>>> = BTreeMap::new();
    for (name, s) in &listed {
        let meta = catalog.streams.values().find(|m| &m.name == name).ok_or("stream vanished from the MANIFEST")?;
        let cutoff = model.cutoff(name, n);
        for shard in &s.shards {
            let index = names::parse_shard_id(&shard.shard_id).ok_or("bad shard id")?;
            let (recs, ended) = read_shard(e, name, &shard.shard_id, 37)?;
            if is_closed(shard) != ended {
                return Err(format!("{name}/{}: closed={} but read-to-end={ended}", shard.shard_id, is_closed(shard)));
            }
            let mut prev: Option<u64> = None;
            for r in &recs {
                if r.sequence_number.shard_index() != index {
                    return Err(format!(
                        "{name}/{}: read a record of shard {}",
                        shard.shard_id,
                        r.sequence_number.shard_index()
                    ));
                }
                match_record(model, name, r, Some(n))?;
                let off = r.sequence_number.counter();
                if prev.is_some_and(|p| p + 1 != off) {
                    return Err(format!("{name}/{}: offset {off} follows {prev:?}: not dense", shard.shard_id));
                }
                prev = Some(off);
            }
            let first = recs.first().map(|r| r.sequence_number.counter());
            let end = prev.map(|p| p + 1);
            if let Some(c) = meta.shard(index).and_then(|m| m.closed) {
                if end.is_some_and(|end| end != c.end_offset) {
                    return Err(format!(
                        "{name}/{}: closed at offset {} but its records end at {end:?}",
                        shard.shard_id, c.end_offset
                    ));
                }
            }
            // Everything the crash kind guarantees is back, unless retention took it.
            tally.records += recs.len() as u64;
            for (&off, m) in model.records.get(name).and_then(|x| x.get(&index)).into_iter().flatten() {
                let present = matches!((first, end), (Some(f), Some(e)) if f <= off && off < e);
                if !cp.guarantees(m) {
                    if !present && m.ack_op < n {
                        tally.unsynced_lost += 1;
                    }
                    continue;
                }
                if present {
                    tally.guaranteed += 1;
                    continue;
                }
                let trimmable = cutoff.is_some_and(|c| m.arrival_ms < c) && first.is_none_or(|f| off < f);
                if trimmable {
                    tally.trimmed += 1;
                } else {
                    return Err(format!(
                        "{name}/{} offset {off}: acknowledged record lost (acked at op {}, durable at {:?}, crash at {n}, \
                         process crash {}; shard now holds {first:?}..{end:?}; retention cutoff {cutoff:?}, arrival {})",
                        shard.shard_id, m.ack_op, m.durable_op, cp.process_crash, m.arrival_ms
                    ));
                }
            }
            records.entry(name.clone()).or_default().insert(index, recs);
        }
    }

    // Checkpoints never point past the data.
    for (k, v) in &view {
        let (Key::Checkpoint(stream, owner, shard_id), Val::Checkpoint(Some(seq), _)) = (k, v) else { continue };
        let Some(s) = listed.get(stream) else { continue };
        if s.shard(shard_id).is_none() {
            continue;
        }
        let index = names::parse_shard_id(shard_id).ok_or("bad shard id")?;
        let recs = records.get(stream).and_then(|r| r.get(&index));
        let end = recs.and_then(|r| r.last()).map(|r| r.sequence_number.counter() + 1);
        let past = match end {
            Some(end) => seq.counter() >= end,
            None => false,
        };
        let it = e.get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(stream),
            shard_id: shard_id.clone(),
            shard_iterator_type: ShardIteratorType::AtSequenceNumber,
            starting_sequence_number: Some(seq.to_string()),
            timestamp: None,
            dry_run: false,
        });
        tally.checkpoints += 1;
        if past || it.is_err() {
            return Err(format!(
                "checkpoint of {owner} on {stream}/{shard_id} at offset {} points past the data (records end at {end:?}; \
                 AT_SEQUENCE_NUMBER: {:?})",
                seq.counter(),
                it.err()
            ));
        }
    }

    // The lineage reader returns the same records, each once, every key in write order.
    if opts.lineage {
        for name in listed.keys() {
            let mut reader = LineageReader::new(e, StreamRef::name(name), LineageStart::TrimHorizon);
            let mut got: BTreeSet<(u32, u64)> = BTreeSet::new();
            let mut last: BTreeMap<String, (u64, String)> = BTreeMap::new();
            for _ in 0..10_000 {
                let batch = reader.poll(500).map_err(|err| format!("LineageReader on {name}: {err}"))?;
                if batch.is_empty() {
                    break;
                }
                for r in batch {
                    let seq = r.record.sequence_number;
                    if !got.insert((seq.shard_index(), seq.counter())) {
                        return Err(format!("LineageReader on {name} returned {seq} twice"));
                    }
                    let order = model
                        .records
                        .get(name)
                        .and_then(|s| s.get(&seq.shard_index()))
                        .and_then(|s| s.get(&seq.counter()))
                        .filter(|m| m.data == r.record.data)
                        .map(|m| m.order);
                    // Only records routed by their key (no explicit hash key) keep per-key order.
                    if let Some(order) = order.filter(|_| r.record.explicit_hash_key.is_none()) {
                        let here = format!("{} offset {} (write #{order})", r.shard_id, seq.counter());
                        if let Some((prev, at)) = last.get(&r.record.partition_key) {
                            if order <= *prev {
                                return Err(format!(
                                    "LineageReader on {name}: key {} out of write order: {here} after {at}",
                                    r.record.partition_key
                                ));
                            }
                        }
                        last.insert(r.record.partition_key.clone(), (order, here));
                    }
                }
            }
            let per_shard: BTreeSet<(u32, u64)> = records
                .get(name)
                .into_iter()
                .flat_map(|m| m.iter())
                .flat_map(|(&i, recs)| recs.iter().map(move |r| (i, r.sequence_number.counter())))
                .collect();
            if got != per_shard {
                return Err(format!(
                    "LineageReader on {name} returned {} records, per-shard reads {}",
                    got.len(),
                    per_shard.len()
                ));
            }
        }
    }

    if opts.probe {
        probe(e, listed.keys().cloned().collect())?;
    }
    Ok(Observed { view, records, tally })
}

/// The engine takes work: a new stream is created, and every stream (and the new one) takes a
/// put that reads back.
pub fn probe(e: &Engine, mut targets: Vec<String>) -> Result<(), String> {
    e.create_stream(CreateStreamInput { stream_name: "probe".into(), shard_count: Some(1), ..Default::default() })
        .map_err(|err| format!("create_stream after reopen: {err}"))?;
    targets.push("probe".into());
    for name in targets {
        let data = Bytes::from(format!("after the crash into {name}"));
        let out = e
            .put_record(PutRecordInput {
                stream: StreamRef::name(&name),
                data: data.clone(),
                partition_key: Some("after".into()),
                ..Default::default()
            })
            .map_err(|err| format!("put into {name} after reopen: {err}"))?;
        let it = e
            .get_shard_iterator(GetShardIteratorInput {
                stream: StreamRef::name(&name),
                shard_id: out.shard_id.clone(),
                shard_iterator_type: ShardIteratorType::AtSequenceNumber,
                starting_sequence_number: Some(out.sequence_number.to_string()),
                timestamp: None,
                dry_run: false,
            })
            .map_err(|err| format!("iterator on {name} after reopen: {err}"))?
            .shard_iterator;
        let got = e
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(1),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .map_err(|err| format!("read of {name} after reopen: {err}"))?;
        if got.records.first().map(|r| &r.data) != Some(&data) {
            return Err(format!("the put into {name} after reopen does not read back: {:?}", got.records));
        }
    }
    Ok(())
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// True for `Error::Poisoned`.
pub fn is_poisoned(e: &Error) -> bool {
    matches!(e, Error::Poisoned { .. })
}
