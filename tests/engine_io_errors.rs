//! Reliability R3 over the whole engine: the SQLite-style error-path loop. For every kind of
//! I/O call (`OpKind::ALL`: create, open, write, read, fdatasync, directory fsync, set_len,
//! rename, remove, create_dir, read_dir, mmap, lock), in fail-once and fail-forever modes,
//! the N-th call of that kind fails (N = 1, 2, …: every N up to 10, then an even sample of the
//! later calls, and finally N = calls + 1, which must run clean), across five `Sync` workloads
//! on an [`Engine`] over `FaultVfs` over the crash-simulating `SimVfs`:
//!
//! - **create**: open a fresh data directory, create streams, first puts, a read, close;
//! - **put**: open a prepared directory (recovery), `put_records` and `put_record`, reads, close;
//! - **reshard**: `split_shard`, puts, `merge_shards`, puts, `update_shard_count`, puts, read;
//! - **retention**: a day later, puts, `enforce_retention` (segment trims and the expiry of a
//!   closed shard), retention increase and decrease, read;
//! - **checkpoint**: `set_checkpoint`, consumer registration, an `EventSourceMapping::poll_once`
//!   (its checkpoints), deregistration.
//!
//! Plus `ENOSPC` (write, create, set_len) and short writes on the put workload. Each run stops
//! at the first error and checks:
//!
//! - no panic;
//! - the error reached the caller (a typed `Err`, or `InternalFailure` entries of PutRecords)
//!   whenever the fault fired, except for documented cache I/O — the `.index` / `.timeindex`
//!   files, the read of a `CLEAN` marker — and I/O on files of a shard the same call removed
//!   (an expired shard: its close errors are moot);
//! - ENOSPC reached `put_record`'s caller as `is_storage_full()`;
//! - with the fault cleared and no reopen: a shard whose segment fdatasync failed refuses puts
//!   with `Error::Poisoned`; after a failed directory fsync following a MANIFEST rename (the
//!   durable topology is then unknown), metadata commits and every put are refused with
//!   `Error::Poisoned`; otherwise the engine takes metadata commits and puts again (a shard may
//!   also refuse with `Poisoned` after another failure of its own I/O, never with anything
//!   else; ENOSPC never poisons);
//! - reopened on the same `SimVfs` (a process restart) and on its `power_cut()` taken at the
//!   error: the oracle of tests/sim/mod.rs — every acknowledged record back and identical
//!   (failed puts may or may not be there), offsets dense, topology old or new for the call
//!   that failed, checkpoints not past the data, no orphans — and the engine takes work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;
mod sim;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::spy::{file_name, Spy, SpyLog};
use shardlog::catalog::codec;
use shardlog::engine::*;
use shardlog::event_source::{
    EventSourceConfig, EventSourceMapping, EventSourcePosition, HandlerResponse, KinesisEvent,
};
use shardlog::io::fault::{is_injected, FaultError, FaultMode, FaultPlan, FaultVfs};
use shardlog::io::sim::{SimVfs, TailMode};
use shardlog::io::{OpKind, Vfs, VfsRef};
use shardlog::kinesis::names;
use shardlog::{Clock, Durability, Engine, Error, ManualClock};
use sim::*;

/// Every N up to this is tried (every call of today's workloads); beyond it, `SAMPLES` evenly
/// spaced calls, so a grown workload keeps the sweep bounded.
const DENSE: u64 = 200;
const SAMPLES: u64 = 10;
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:noop";
const MAPPING_UUID: &str = "00000000-0000-4000-8000-00000000abcd";

// ---------------------------------------------------------------------------------------
// Which calls had a fault injected, and on which file (seen through common::spy)
// ---------------------------------------------------------------------------------------

/// An injected fault as the engine saw it.
#[derive(Debug, Clone)]
struct Seen {
    kind: OpKind,
    path: PathBuf,
    /// For `SyncData`: the file's last change was a write past its header (an append), so the
    /// failed fdatasync must poison its shard.
    after_append: bool,
    /// For `SyncDir`: the previous mutating call renamed a file over `MANIFEST`.
    after_manifest_rename: bool,
}

/// What the spy keeps: the injected faults, the last change of each file, and whether the
/// last mutating call renamed a file over `MANIFEST`.
#[derive(Debug, Default)]
struct SpyState {
    seen: Vec<Seen>,
    /// Last change per file: (kind, offset for writes).
    last_change: HashMap<PathBuf, (OpKind, u64)>,
    manifest_renamed: bool,
}

impl SpyLog for SpyState {
    fn changing(&mut self, kind: OpKind, path: &Path, offset: u64) {
        self.last_change.insert(path.to_path_buf(), (kind, offset));
    }

    fn returned(&mut self, kind: OpKind, path: &Path, error: Option<&io::Error>) {
        if error.is_some_and(is_injected) {
            let after_append = kind == OpKind::SyncData
                && matches!(self.last_change.get(path), Some((OpKind::Write, off)) if *off > 0);
            let after_manifest_rename = kind == OpKind::SyncDir && self.manifest_renamed;
            self.seen.push(Seen { kind, path: path.to_path_buf(), after_append, after_manifest_rename });
        }
        if !matches!(kind, OpKind::Read | OpKind::ReadDir | OpKind::Map | OpKind::Open) {
            self.manifest_renamed = false;
        }
        if kind == OpKind::Rename && error.is_none() && file_name(path) == "MANIFEST" {
            self.manifest_renamed = true;
        }
    }
}

/// The shard directory (`/data/shards/<uid>/shardId-…`) a path lies in.
fn shard_dir(path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(Path::new(ROOT).join("shards")).ok()?;
    let mut parts = rel.components();
    let uid = parts.next()?;
    let shard = parts.next()?;
    Some(Path::new(ROOT).join("shards").join(uid).join(shard))
}

/// Why the engine may absorb a fault without reporting it, if it may.
fn may_be_swallowed(s: &Seen, sim: &SimVfs) -> Option<&'static str> {
    let name = file_name(&s.path);
    if name.ends_with(".index") || name.ends_with(".timeindex") {
        Some("index file (a cache)")
    } else if name == "CLEAN" && matches!(s.kind, OpKind::Open | OpKind::Read) {
        Some("read of the CLEAN marker (recovery scans instead)")
    } else if shard_dir(&s.path).is_some_and(|d| !sim.exists(&d)) {
        Some("file of a shard the call removed")
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------

/// Why a workload stopped.
#[derive(Debug)]
enum Stop {
    /// An engine call failed.
    Engine(Error),
    /// PutRecords reported failed entries.
    PutRecords(String),
    /// The engine returned wrong data without an error.
    Wrong(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Engine(e) => write!(f, "{e}"),
            Stop::PutRecords(why) => write!(f, "PutRecords: {why}"),
            Stop::Wrong(why) => write!(f, "wrong result: {why}"),
        }
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Engine(e)
    }
}

type StepResult = Result<(), Stop>;

struct Ctx {
    clock: ManualClock,
    sim: SimVfs,
    vfs: VfsRef,
    engine: Option<Engine>,
    mapping: Option<EventSourceMapping>,
    model: Model,
    serial: u64,
    step: &'static str,
    /// The step is a close: a failure there leaves no open shard to check.
    closing: bool,
    /// Catalog views after each metadata call of the fault-free run (what a failed call
    /// would have made of the catalog).
    intended: Vec<View>,
    /// Metadata calls made so far.
    meta_calls: usize,
    /// Views this run produced (kept by the calibration run).
    produced: Vec<View>,
}

impl Ctx {
    fn e(&self) -> &Engine {
        self.engine.as_ref().expect("engine open")
    }

    fn ops(&self) -> usize {
        self.sim.op_count()
    }

    fn open(&mut self) -> StepResult {
        self.step = "open";
        let e = Engine::open(ROOT, engine_config(Arc::clone(&self.vfs), &self.clock, Durability::Sync))?;
        self.engine = Some(e);
        Ok(())
    }

    fn close(&mut self) -> StepResult {
        self.step = "close";
        self.closing = true;
        self.mapping = None;
        self.e().close()?;
        self.closing = false;
        let a = self.ops();
        self.model.all_durable(a);
        Ok(())
    }

    /// A metadata call: on success the catalog change is recorded with its op range; on
    /// failure the change it intended (from the fault-free run) may or may not be durable.
    fn meta(&mut self, step: &'static str, multi: bool, call: impl FnOnce(&mut Ctx) -> StepResult) -> StepResult {
        self.step = step;
        let b = self.ops();
        let i = self.meta_calls;
        self.meta_calls += 1;
        match call(self) {
            Ok(()) => {
                let a = self.ops();
                let after = snapshot(self.e(), &self.model.owners).map_err(Stop::Engine)?;
                self.produced.push(after.clone());
                self.model.catalog_changed(b, a, after, multi);
                Ok(())
            }
            Err(e) => {
                if let Some(intended) = self.intended.get(i).cloned() {
                    self.model.catalog_uncertain(b, &intended, multi);
                }
                Err(e)
            }
        }
    }

    fn data(&mut self, stream: &str, key: &str) -> Bytes {
        self.serial += 1;
        let pad = (self.serial * 29 % 120) as usize;
        Bytes::from(format!("{stream}|{}|{key}|{}", self.serial, "x".repeat(pad)))
    }

    fn put_records(&mut self, stream: &str, n: usize) -> StepResult {
        self.step = "put_records";
        self.clock.advance(Duration::from_millis(5));
        let entries: Vec<(String, Bytes)> = (0..n)
            .map(|i| {
                let key = format!("k{}", (self.serial as usize + i * 3) % 7);
                let data = self.data(stream, &key);
                (key, data)
            })
            .collect();
        let b = self.ops();
        let arrival = self.clock.now_ms();
        let out = self.e().put_records(PutRecordsInput {
            stream: StreamRef::name(stream),
            records: entries
                .iter()
                .map(|(key, data)| PutRecordsRequestEntry {
                    data: data.clone(),
                    partition_key: Some(key.clone()),
                    explicit_hash_key: None,
                })
                .collect(),
            dry_run: false,
        });
        let a = self.ops();
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                for (key, data) in entries {
                    self.model.failed(stream, &key, data, arrival);
                }
                return Err(Stop::Engine(e));
            }
        };
        let mut failed = Vec::new();
        for ((key, data), r) in entries.into_iter().zip(out.records) {
            match r.sequence_number {
                Some(seq) => self.model.acked(stream, &key, data, arrival, seq, b, a),
                None => {
                    failed.push(r.error_code.unwrap_or_default());
                    self.model.failed(stream, &key, data, arrival);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Stop::PutRecords(format!("{} entries failed: {failed:?}", failed.len())))
        }
    }

    /// One put; `hash` routes it to a chosen shard.
    fn put_record(&mut self, stream: &str, key: &str, hash: Option<u128>) -> StepResult {
        self.step = "put_record";
        self.clock.advance(Duration::from_millis(5));
        let data = self.data(stream, key);
        let b = self.ops();
        let arrival = self.clock.now_ms();
        let out = self.e().put_record(PutRecordInput {
            stream: StreamRef::name(stream),
            data: data.clone(),
            partition_key: Some(key.into()),
            explicit_hash_key: hash.map(|h| h.to_string()),
            ..Default::default()
        });
        match out {
            Ok(out) => {
                let a = self.ops();
                self.model.acked(stream, key, data, arrival, out.sequence_number, b, a);
                Ok(())
            }
            Err(e) => {
                self.model.failed(stream, key, data, arrival);
                Err(Stop::Engine(e))
            }
        }
    }

    /// Read every shard of `stream` through GetRecords; what comes back must match the model.
    fn read_all(&mut self, stream: &str) -> StepResult {
        self.step = "read";
        for shard in list_all_shards(self.e(), stream)? {
            let mut it = self
                .e()
                .get_shard_iterator(GetShardIteratorInput {
                    stream: StreamRef::name(stream),
                    shard_id: shard.shard_id.clone(),
                    shard_iterator_type: ShardIteratorType::TrimHorizon,
                    starting_sequence_number: None,
                    timestamp: None,
                    dry_run: false,
                })?
                .shard_iterator;
            for _ in 0..1000 {
                let out = self.e().get_records(GetRecordsInput {
                    shard_iterator: it,
                    limit: Some(9),
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                })?;
                for r in &out.records {
                    match_record(&self.model, stream, r, None).map_err(Stop::Wrong)?;
                }
                match out.next_shard_iterator {
                    Some(next) if !out.records.is_empty() => it = next,
                    _ => break,
                }
            }
        }
        Ok(())
    }

    fn open_shards(&self, stream: &str) -> Vec<Shard> {
        streams(&self.model.current)
            .get(stream)
            .map(|s| s.open_shards().into_iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A workload: a name, the image it starts from and its steps.
struct Workload {
    name: &'static str,
    image: Image,
    run: fn(&mut Ctx) -> StepResult,
}

/// A prepared, durable data directory and the model of what it holds.
#[derive(Clone)]
struct Image {
    sim: SimVfs,
    model: Model,
    clock_ms: i64,
}

fn w_create(c: &mut Ctx) -> StepResult {
    c.open()?;
    c.meta("create_stream a", false, |c| Ok(c.e().create_stream(create_input("a", 2))?))?;
    c.put_records("a", 6)?;
    c.put_record("a", "k1", None)?;
    c.put_record("a", "k2", None)?;
    c.meta("create_stream b", false, |c| Ok(c.e().create_stream(create_input("b", 1))?))?;
    c.put_records("b", 3)?;
    c.read_all("a")?;
    c.close()
}

fn w_put(c: &mut Ctx) -> StepResult {
    c.open()?;
    c.put_records("a", 8)?;
    c.put_record("a", "k3", None)?;
    c.put_records("b", 5)?;
    c.put_record("b", "k4", None)?;
    c.put_record("b", "k5", None)?;
    c.read_all("a")?;
    c.read_all("b")?;
    c.close()
}

fn w_reshard(c: &mut Ctx) -> StepResult {
    c.open()?;
    c.meta("split_shard", false, |c| {
        let s0 = c.open_shards("a")[0].clone();
        let r = s0.hash_key_range;
        let mid = r.starting_hash_key + (r.ending_hash_key - r.starting_hash_key) / 2;
        Ok(c.e().split_shard(SplitShardInput {
            stream: StreamRef::name("a"),
            shard_to_split: s0.shard_id,
            new_starting_hash_key: mid.to_string(),
        })?)
    })?;
    c.put_records("a", 6)?;
    c.meta("merge_shards", false, |c| {
        let open = c.open_shards("a");
        Ok(c.e().merge_shards(MergeShardsInput {
            stream: StreamRef::name("a"),
            shard_to_merge: open[0].shard_id.clone(),
            adjacent_shard_to_merge: open[1].shard_id.clone(),
        })?)
    })?;
    c.put_records("a", 6)?;
    c.meta("update_shard_count", false, |c| {
        c.e().update_shard_count(UpdateShardCountInput {
            stream: StreamRef::name("a"),
            target_shard_count: 3,
            ..Default::default()
        })?;
        Ok(())
    })?;
    c.put_records("a", 6)?;
    c.read_all("a")?;
    c.close()
}

fn w_retention(c: &mut Ctx) -> StepResult {
    c.open()?;
    c.clock.set_ms(T0 + 26 * HOUR_MS + HOUR_MS / 2);
    c.put_records("r", 4)?;
    let b = c.ops();
    let cutoff = c.clock.now_ms() - 24 * HOUR_MS;
    c.model.cutoffs.push(("r".into(), b, cutoff));
    c.meta("enforce_retention", true, |c| {
        let report = c.e().enforce_retention()?;
        if report.shards_expired == 0 || report.segments_removed == 0 {
            return Err(Stop::Wrong(format!("the retention pass did nothing: {report:?}")));
        }
        Ok(())
    })?;
    c.put_records("r", 4)?;
    c.meta("increase retention", false, |c| {
        Ok(c.e().increase_stream_retention_period(RetentionPeriodInput {
            stream: StreamRef::name("r"),
            retention_period_hours: 48,
        })?)
    })?;
    c.meta("decrease retention", false, |c| {
        Ok(c.e().decrease_stream_retention_period(RetentionPeriodInput {
            stream: StreamRef::name("r"),
            retention_period_hours: 24,
        })?)
    })?;
    c.read_all("r")?;
    c.close()
}

fn w_checkpoint(c: &mut Ctx) -> StepResult {
    c.open()?;
    let seq = c.model.records["a"][&0].values().nth(3).map(|r| r.seq);
    c.model.owners.entry("a".into()).or_default().insert("app".into());
    c.meta("set_checkpoint", false, |c| {
        Ok(c.e().set_checkpoint(&StreamRef::name("a"), "app", &names::shard_id_name(0), seq, false)?)
    })?;
    let arn = c.e().describe_stream_summary(StreamRef::name("a"))?.stream_arn;
    c.meta("register consumer", false, |c| {
        c.e().register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn.clone(),
            consumer_name: "c1".into(),
            stream_id: None,
            tags: Default::default(),
        })?;
        Ok(())
    })?;
    c.model.owners.entry("b".into()).or_default().insert(MAPPING_UUID.into());
    c.meta("EventSourceMapping::poll_once", true, |c| {
        let mut config = EventSourceConfig::new(StreamRef::name("b"), FUNCTION_ARN, EventSourcePosition::TrimHorizon);
        config.uuid = MAPPING_UUID.into();
        config.batch_size = 7;
        let handler = Arc::new(|_: &KinesisEvent| Ok(HandlerResponse::success()));
        let mut mapping = EventSourceMapping::new(c.e(), config, handler)?;
        let step = mapping.poll_once();
        c.mapping = Some(mapping);
        let report = step?;
        if report.checkpoints_written == 0 {
            return Err(Stop::Wrong(format!("poll_once wrote no checkpoint: {report:?}")));
        }
        Ok(())
    })?;
    c.meta("set_checkpoint (none)", false, |c| {
        Ok(c.e().set_checkpoint(&StreamRef::name("a"), "app", &names::shard_id_name(1), None, false)?)
    })?;
    c.meta("deregister consumer", false, |c| {
        Ok(c.e().deregister_stream_consumer(ConsumerRef {
            stream_arn: Some(arn.clone()),
            consumer_name: Some("c1".into()),
            consumer_arn: None,
            stream_id: None,
        })?)
    })?;
    c.close()
}

fn create_input(name: &str, shards: u32) -> CreateStreamInput {
    CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() }
}

/// An image built by `build` on a fault-free engine, then reopened (its recovery leaves
/// nothing to redo) and adopted as a durable baseline.
fn image(build: impl FnOnce(&mut Ctx)) -> Image {
    let sim = SimVfs::new();
    let clock = ManualClock::new(T0);
    let mut c = Ctx {
        clock: clock.clone(),
        sim: sim.clone(),
        vfs: sim.shared(),
        engine: None,
        mapping: None,
        model: Model::new(Durability::Sync),
        serial: 1_000_000,
        step: "",
        closing: false,
        intended: Vec::new(),
        meta_calls: 0,
        produced: Vec::new(),
    };
    c.open().unwrap();
    build(&mut c);
    // An unclean stop inside the last write (9 bytes of it landed): the workloads' first use
    // of that shard recovers and truncates the torn batch.
    let model = c.model.clone();
    let ops = sim.ops();
    let last_write = ops.iter().rposition(|op| op.kind() == OpKind::Write).expect("the image writes");
    let spec =
        shardlog::io::sim::CrashSpec { tail: TailMode::Cut(9), ..shardlog::io::sim::CrashSpec::at(last_write + 1) };
    let crashed = sim.crash(&spec);
    drop(c);
    let (e, obs) = check_state(
        &model,
        &crashed.crash_at(0, TailMode::Whole),
        CrashPoint::of(&spec, &ops),
        &clock,
        CheckOptions { lineage: false, probe: false },
    )
    .unwrap_or_else(|e| panic!("the prepared image does not check: {e}"));
    drop(e);
    let mut model = model;
    model.adopt(&obs);
    Image { sim: crashed, model, clock_ms: clock.now_ms() }
}

fn empty_image() -> Image {
    let sim = SimVfs::new();
    let model = Model::new(Durability::Sync);
    Image { sim, model, clock_ms: T0 }
}

/// Streams `a` (2 shards) and `b` (1 shard) with records in several segments.
fn two_streams() -> Image {
    image(|c| {
        c.meta("create a", false, |c| Ok(c.e().create_stream(create_input("a", 2))?)).unwrap();
        c.meta("create b", false, |c| Ok(c.e().create_stream(create_input("b", 1))?)).unwrap();
        for _ in 0..5 {
            c.put_records("a", 6).unwrap();
            c.put_records("b", 3).unwrap();
        }
    })
}

/// Stream `r`: records at T0, its shard split at T0 + 1 h (the parent closed), records in the
/// children at T0 + 2 h over several segments.
fn retention_image() -> Image {
    image(|c| {
        c.meta("create r", false, |c| Ok(c.e().create_stream(create_input("r", 1))?)).unwrap();
        for _ in 0..4 {
            c.put_records("r", 5).unwrap();
        }
        c.clock.set_ms(T0 + HOUR_MS);
        c.meta("split", false, |c| {
            Ok(c.e().split_shard(SplitShardInput {
                stream: StreamRef::name("r"),
                shard_to_split: names::shard_id_name(0),
                new_starting_hash_key: (u128::MAX / 2).to_string(),
            })?)
        })
        .unwrap();
        c.clock.set_ms(T0 + 2 * HOUR_MS);
        for _ in 0..8 {
            c.put_records("r", 6).unwrap();
        }
    })
}

// ---------------------------------------------------------------------------------------
// One run and its checks
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: OpKind,
    mode: FaultMode,
    error: FaultError,
    nth: u64,
}

#[derive(Default)]
struct Outcome {
    fired: u64,
    errored: bool,
    failure: Option<String>,
    poison_verified: u64,
    manifest_poison_verified: u64,
    puts_refused_after_manifest: u64,
    resumed: u64,
    reopened: u64,
    /// ENOSPC reached put_record's caller as `is_storage_full()`.
    enospc_typed: bool,
    /// Faults absorbed by design, by reason.
    swallowed: Vec<&'static str>,
}

/// A fresh context over a copy of `image`, behind the fault layer.
fn context(image: &Image, intended: &[View]) -> (Ctx, FaultVfs, Spy<SpyState>) {
    let sim = image.sim.crash_at(0, TailMode::Whole);
    let fault = FaultVfs::new(sim.shared());
    let spy: Spy<SpyState> = Spy::new(fault.shared());
    let ctx = Ctx {
        clock: ManualClock::new(image.clock_ms),
        sim,
        vfs: Arc::new(spy.clone()),
        engine: None,
        mapping: None,
        model: image.model.clone(),
        serial: 0,
        step: "",
        closing: false,
        intended: intended.to_vec(),
        meta_calls: 0,
        produced: Vec::new(),
    };
    (ctx, fault, spy)
}

/// The fault-free run: it must pass every check. Returns the views its metadata calls
/// produced and the number of calls of each kind.
fn calibrate(w: &Workload) -> (Vec<View>, BTreeMap<OpKind, u64>) {
    let (mut ctx, fault, _) = context(&w.image, &[]);
    if let Err(e) = (w.run)(&mut ctx) {
        panic!("{}: the fault-free workload failed at step {}: {e}", w.name, ctx.step);
    }
    let calls = OpKind::ALL.iter().map(|&k| (k, fault.calls(k))).collect();
    let views = ctx.produced.clone();
    let model = ctx.model.clone();
    drop(ctx.mapping.take());
    drop(ctx.engine.take());
    let n = ctx.ops();
    let clock = ManualClock::new(ctx.clock.now_ms());
    if let Err(e) =
        check_state(&model, &ctx.sim, CrashPoint::reopen(n), &clock, CheckOptions { lineage: true, probe: true })
    {
        panic!("{}: the fault-free run does not check after a reopen: {e}", w.name);
    }
    (views, calls)
}

fn run_case(w: &Workload, intended: &[View], case: Case) -> Outcome {
    let (mut ctx, fault, spy) = context(&w.image, intended);
    fault.set_plan(FaultPlan { kind: case.kind, nth: case.nth, mode: case.mode, error: case.error });
    let result = catch_unwind(AssertUnwindSafe(|| (w.run)(&mut ctx)));
    let fired = fault.fired();
    fault.clear();
    let mut out = Outcome { fired, errored: !matches!(result, Ok(Ok(()))), ..Outcome::default() };
    let step = ctx.step;
    let fail = |why: String| Some(format!("{} at step `{step}`: {why}", w.name));
    let result = match result {
        Ok(r) => r,
        Err(panic) => {
            out.failure = fail(format!("panicked: {}", panic_message(&*panic)));
            return out;
        }
    };
    let seen = spy.log().seen.clone();
    match &result {
        Ok(()) => {
            for s in &seen {
                match may_be_swallowed(s, &ctx.sim) {
                    Some(why) => out.swallowed.push(why),
                    None => {
                        out.failure =
                            fail(format!("the fault on {} of {} was swallowed", s.kind.name(), s.path.display()));
                        return out;
                    }
                }
            }
        }
        Err(Stop::Wrong(why)) => {
            out.failure = fail(format!("wrong result without an error: {why}"));
            return out;
        }
        Err(e) => {
            if fired == 0 {
                out.failure = fail(format!("error without an injected fault: {e}"));
                return out;
            }
            if let (FaultError::NoSpace, Stop::Engine(err)) = (case.error, e) {
                if ctx.step == "put_record" {
                    if !err.is_storage_full() {
                        out.failure = fail(format!("ENOSPC reached put_record's caller untyped: {err}"));
                        return out;
                    }
                    out.enospc_typed = true;
                }
            }
        }
    }

    // The power cut strikes at the moment of the error.
    let cut = ctx.sim.power_cut();
    let at_error = ctx.model.clone();
    let n_error = ctx.ops();

    // Without a reopen: poisoned where it must be, working elsewhere.
    if result.is_err() && ctx.engine.is_some() && !ctx.closing {
        if let Err(why) = live_checks(&mut ctx, &seen, case, &mut out) {
            out.failure = fail(why);
            return out;
        }
    }

    // Reopen on the same file system, then on the power cut.
    drop(ctx.mapping.take());
    drop(ctx.engine.take());
    let clock = ManualClock::new(ctx.clock.now_ms() + 1000);
    let n = ctx.ops();
    let opts = CheckOptions { lineage: true, probe: true };
    if let Err(why) = check_state(&ctx.model, &ctx.sim, CrashPoint::reopen(n), &clock, opts) {
        out.failure = fail(format!("reopened after the fault cleared: {why}"));
        return out;
    }
    let cp = CrashPoint { n: n_error, process_crash: false, torn_last_write: false };
    if let Err(why) = check_state(&at_error, &cut, cp, &clock, opts) {
        out.failure = fail(format!("after a power cut at the error: {why}"));
        return out;
    }
    out.reopened += 1;
    out
}

/// The shard (stream name, shard index) a path belongs to, through the MANIFEST's uids.
fn shard_of(sim: &SimVfs, path: &Path) -> Option<(String, u32)> {
    let dir = shard_dir(path)?;
    let index = names::parse_shard_id(file_name(&dir))?;
    let uid = u64::from_str_radix(file_name(dir.parent()?), 16).ok()?;
    let (_, catalog) = codec::decode(&sim.file_content(&Path::new(ROOT).join("MANIFEST"))?).ok()?;
    catalog.streams.get(&uid).map(|m| (m.name.clone(), index))
}

fn live_checks(ctx: &mut Ctx, seen: &[Seen], case: Case, out: &mut Outcome) -> Result<(), String> {
    // Shards whose segment fdatasync failed, and shards any fault touched.
    let mut must_poison: Vec<(String, u32)> = Vec::new();
    let mut touched: Vec<(String, u32)> = Vec::new();
    for s in seen {
        if let Some(shard) = shard_of(&ctx.sim, &s.path) {
            if s.kind == OpKind::SyncData && file_name(&s.path).ends_with(".log") && s.after_append {
                must_poison.push(shard.clone());
            }
            touched.push(shard);
        }
    }
    let manifest_poisoned = seen.iter().any(|s| s.after_manifest_rename);

    // A metadata commit.
    let target = streams(&ctx.model.current).into_keys().next();
    let commit = match &target {
        Some(name) => ctx.e().add_tags_to_stream(AddTagsToStreamInput {
            stream: StreamRef::name(name),
            tags: [("after".to_string(), "fault".to_string())].into_iter().collect(),
        }),
        None => ctx.e().create_stream(create_input("after", 1)),
    };
    match (commit, manifest_poisoned) {
        (Err(Error::Poisoned { .. }), true) => out.manifest_poison_verified += 1,
        (Ok(()), true) => {
            return Err("a metadata commit succeeded after a failed directory fsync of a MANIFEST rename".into())
        }
        (Err(e), true) => {
            return Err(format!("after a failed MANIFEST directory fsync a commit gave `{e}`, not Poisoned"))
        }
        (Ok(()), false) => {
            let b = ctx.ops();
            let after = snapshot(ctx.e(), &ctx.model.owners).map_err(|e| format!("snapshot: {e}"))?;
            ctx.model.catalog_changed(b, b, after, false);
        }
        (Err(e), false) => return Err(format!("the engine refuses metadata commits once the fault cleared: {e}")),
    }

    // A put into every open shard. After a MANIFEST commit of unknown outcome the engine
    // refuses every put (the durable topology may be the new one) until it is reopened.
    for (name, s) in streams(&ctx.model.current) {
        for shard in s.open_shards() {
            let index = names::parse_shard_id(&shard.shard_id).unwrap();
            let key = (name.clone(), index);
            let hash = Some(shard.hash_key_range.starting_hash_key);
            let put = ctx.put_record(&name, "after", hash);
            if manifest_poisoned {
                match put {
                    Err(Stop::Engine(e)) if is_poisoned(&e) => {
                        out.puts_refused_after_manifest += 1;
                        continue;
                    }
                    other => {
                        return Err(format!(
                            "{name}/{}: after a MANIFEST commit of unknown outcome a put gave {other:?}, not Poisoned",
                            shard.shard_id
                        ))
                    }
                }
            }
            match put {
                Ok(()) if must_poison.contains(&key) => {
                    return Err(format!(
                        "{name}/{}: a put succeeded after its segment fdatasync failed",
                        shard.shard_id
                    ))
                }
                Ok(()) => out.resumed += 1,
                Err(Stop::Engine(e)) if is_poisoned(&e) => {
                    if case.error == FaultError::NoSpace {
                        return Err(format!("{name}/{}: ENOSPC poisoned the shard: {e}", shard.shard_id));
                    }
                    if !touched.contains(&key) {
                        return Err(format!("{name}/{}: poisoned without a fault on its files: {e}", shard.shard_id));
                    }
                    if must_poison.contains(&key) {
                        out.poison_verified += 1;
                    }
                }
                Err(e) if must_poison.contains(&key) => {
                    return Err(format!(
                        "{name}/{}: after a failed fdatasync a put gave {e:?}, not Poisoned",
                        shard.shard_id
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "{name}/{}: not poisoned, yet refuses puts once the fault cleared: {e:?}",
                        shard.shard_id
                    ))
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------------------

/// N = 1..=DENSE, then SAMPLES evenly spaced calls up to `calls`, then `calls + 1`.
fn nths(calls: u64) -> Vec<u64> {
    let mut out: Vec<u64> = (1..=calls.min(DENSE)).collect();
    if calls > DENSE {
        let span = calls - DENSE;
        out.extend((1..=SAMPLES).map(|j| DENSE + (span * j).div_ceil(SAMPLES)));
    }
    out.push(calls + 1);
    out.dedup();
    out
}

#[derive(Default)]
struct Line {
    calls: u64,
    runs: u64,
    fired: u64,
    errors: u64,
}

#[derive(Default)]
struct Summary {
    runs: u64,
    failures: Vec<String>,
    poison_verified: u64,
    manifest_poison_verified: u64,
    puts_refused_after_manifest: u64,
    resumed: u64,
    reopened: u64,
    enospc_typed: u64,
    swallowed: BTreeMap<&'static str, u64>,
    lines: BTreeMap<String, Line>,
}

fn sweep(w: &Workload, plans: &[(OpKind, FaultError)], summary: &mut Summary) {
    let (intended, calls) = calibrate(w);
    for &(kind, error) in plans {
        let c = calls[&kind];
        for mode in [FaultMode::Once, FaultMode::Forever] {
            let line = summary.lines.entry(format!("{:<10} {kind:?}/{error:?}/{mode:?}", w.name)).or_default();
            line.calls = c;
            for nth in nths(c) {
                let case = Case { kind, mode, error, nth };
                let o = run_case(w, &intended, case);
                summary.runs += 1;
                line.runs += 1;
                line.fired += u64::from(o.fired > 0);
                line.errors += u64::from(o.errored);
                summary.poison_verified += o.poison_verified;
                summary.manifest_poison_verified += o.manifest_poison_verified;
                summary.puts_refused_after_manifest += o.puts_refused_after_manifest;
                summary.resumed += o.resumed;
                summary.reopened += o.reopened;
                summary.enospc_typed += u64::from(o.enospc_typed);
                for why in o.swallowed {
                    *summary.swallowed.entry(why).or_insert(0) += 1;
                }
                if let Some(why) = o.failure {
                    summary.failures.push(format!("[{kind:?} {mode:?} {error:?} N={nth}] {why}"));
                }
                if nth > c && o.fired > 0 {
                    summary.failures.push(format!(
                        "[{} {kind:?} {mode:?} N={nth}] the fault fired beyond the {c} calls of the fault-free run",
                        w.name
                    ));
                }
            }
        }
    }
}

fn workloads() -> Vec<Workload> {
    let two = two_streams();
    vec![
        Workload { name: "create", image: empty_image(), run: w_create },
        Workload { name: "put", image: two.clone(), run: w_put },
        Workload { name: "reshard", image: two.clone(), run: w_reshard },
        Workload { name: "retention", image: retention_image(), run: w_retention },
        Workload { name: "checkpoint", image: two, run: w_checkpoint },
    ]
}

#[test]
fn every_failing_call_over_the_whole_engine_is_reported_and_recovered() {
    let started = Instant::now();
    let mut summary = Summary::default();
    let all: Vec<(OpKind, FaultError)> = OpKind::ALL.iter().map(|&k| (k, FaultError::Other)).collect();
    for w in workloads() {
        let t = Instant::now();
        let mut plans = all.clone();
        if w.name == "put" {
            plans.extend([
                (OpKind::Write, FaultError::NoSpace),
                (OpKind::Create, FaultError::NoSpace),
                (OpKind::SetLen, FaultError::NoSpace),
                (OpKind::Write, FaultError::ShortWrite),
            ]);
        }
        let before = summary.runs;
        sweep(&w, &plans, &mut summary);
        println!("{:<10} {:>5} runs in {:.1?}", w.name, summary.runs - before, t.elapsed());
    }
    println!(
        "engine I/O-error sweep: {} runs in {:.1?}; shards poisoned after a failed fdatasync: {}; MANIFEST commits \
         refused after a failed directory fsync: {} (and puts then refused: {}); puts resumed without a reopen: {}; \
         reopened and checked (same file system + power cut): {}",
        summary.runs,
        started.elapsed(),
        summary.poison_verified,
        summary.manifest_poison_verified,
        summary.puts_refused_after_manifest,
        summary.resumed,
        summary.reopened
    );
    println!(
        "  ENOSPC typed at put_record: {}; faults absorbed by design: {:?}",
        summary.enospc_typed, summary.swallowed
    );
    for (name, l) in &summary.lines {
        println!("  {name:<40} calls {:>4}  runs {:>3}  fired {:>3}  errors {:>3}", l.calls, l.runs, l.fired, l.errors);
    }
    let shown: Vec<&str> = summary.failures.iter().take(25).map(String::as_str).collect();
    assert!(summary.failures.is_empty(), "{} runs failed:\n{}", summary.failures.len(), shown.join("\n"));
    // Every kind of call was made, and its failure tested, by some workload.
    for kind in OpKind::ALL {
        let fired = summary.lines.iter().any(|(n, l)| n.contains(&format!(" {kind:?}/")) && l.fired > 0);
        assert!(fired, "no workload made a {kind:?} call, so its error paths were not tested");
    }
    assert!(summary.poison_verified > 0, "no run checked that a failed fdatasync poisons the shard");
    assert!(summary.enospc_typed > 0, "no run checked that ENOSPC reaches the caller typed");
    assert!(
        summary.manifest_poison_verified > 0,
        "no run checked that a failed MANIFEST directory fsync poisons the store"
    );
}

// ---------------------------------------------------------------------------------------
// Minimal reproductions of the bugs the sweep found
// ---------------------------------------------------------------------------------------

fn put_one(e: &Engine, stream: &str, data: &'static str) -> shardlog::Result<PutRecordOutput> {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::from(data),
        partition_key: Some("k".into()),
        ..Default::default()
    })
}

/// A put whose shard directory was created but whose parent's fsync failed is retried: the
/// directory now exists, so the retry never fsyncs its parent, and the records it acknowledges
/// vanish with the directory entry on a power cut.
#[test]
fn a_retried_put_after_a_failed_directory_fsync_survives_a_power_cut() {
    let sim = SimVfs::new();
    let fault = FaultVfs::new(sim.shared());
    let clock = ManualClock::new(T0);
    let e = Engine::open(ROOT, engine_config(fault.shared(), &clock, Durability::Sync)).unwrap();
    e.create_stream(create_input("s", 1)).unwrap();
    // The first put creates shards/<uid>/shardId-000000000000 and fsyncs the parent of each
    // directory it created: the stream directory first, then `shards`. The second fails.
    fault.set_plan(FaultPlan::once(OpKind::SyncDir, 2, FaultError::Other));
    assert!(put_one(&e, "s", "first").is_err(), "the put whose directory fsync failed reports it");
    fault.clear();
    let acked = put_one(&e, "s", "second").expect("the retry is acknowledged");
    let cut = sim.power_cut();
    drop(e);
    let e = Engine::open(ROOT, engine_config(cut.shared(), &clock, Durability::Sync)).unwrap();
    let (recs, _) = read_shard(&e, "s", &acked.shard_id, 10).unwrap();
    assert!(
        recs.iter().any(|r| r.sequence_number == acked.sequence_number),
        "the acknowledged put is lost after a power cut: {recs:?}"
    );
}

/// After a split's MANIFEST rename succeeded but its directory fsync failed, the manifest
/// store refuses commits — yet the data plane still routes puts to the parent, which the
/// durable MANIFEST may already have closed: after a restart the parent holds records past
/// its recorded end offset.
#[test]
fn no_put_lands_in_a_parent_a_failed_split_may_have_closed() {
    let sim = SimVfs::new();
    let fault = FaultVfs::new(sim.shared());
    let clock = ManualClock::new(T0);
    let e = Engine::open(ROOT, engine_config(fault.shared(), &clock, Durability::Sync)).unwrap();
    e.create_stream(create_input("s", 1)).unwrap();
    put_one(&e, "s", "before").unwrap();
    // The split flushes the parent and closes its log cleanly (the CLEAN marker's rename is
    // followed by the first directory fsync), then writes MANIFEST.tmp, renames it, fsyncs
    // the directory: that second directory fsync fails.
    fault.set_plan(FaultPlan::once(OpKind::SyncDir, 2, FaultError::Other));
    let split = e.split_shard(SplitShardInput {
        stream: StreamRef::name("s"),
        shard_to_split: names::shard_id_name(0),
        new_starting_hash_key: (u128::MAX / 2).to_string(),
    });
    assert!(split.is_err());
    fault.clear();
    let after = put_one(&e, "s", "after");
    drop(e);
    // A restart on the same disk: the renamed MANIFEST (parent closed at offset 1) is there.
    let e = Engine::open(ROOT, engine_config(sim.shared(), &clock, Durability::Sync)).unwrap();
    let shards = list_all_shards(&e, "s").unwrap();
    let parent = &shards[0];
    assert!(is_closed(parent), "the renamed MANIFEST closed the parent");
    let (recs, _) = read_shard(&e, "s", &parent.shard_id, 10).unwrap();
    assert!(
        matches!(&after, Err(err) if is_poisoned(err)),
        "after a MANIFEST commit of unknown outcome a put gave {after:?}, not Poisoned; the parent holds {} records",
        recs.len()
    );
    assert_eq!(recs.len(), 1, "the parent ends at its recorded end offset");
}
