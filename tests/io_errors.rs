//! Reliability R3, the SQLite-style error-path loop: for every kind of I/O call the shard log
//! makes, in fail-once and fail-forever modes, fail the N-th call for N = 1, 2, 3, … until the
//! workload runs without the fault firing. The workload (recover a torn tail, appends with
//! rolls, a trim, a clean close, a reopen, reads, an append, a close) runs under
//! `Durability::Sync` on a `FaultVfs` over a `SimVfs` (and, in a smaller pass, over the real
//! file system) and stops at the first error. Every run checks:
//!
//! - no panic;
//! - a fault that fired reached the caller as an `Err`, unless it hit an index file (a cache:
//!   failures to read or write one are deliberately ignored and the index rebuilt) or the read
//!   of the clean-shutdown marker (ignored: recovery then scans);
//! - after a failed fdatasync of segment data the log is poisoned: the next append is
//!   `Error::Poisoned`; a log that is not poisoned takes appends again once the fault clears;
//! - the failed handle never shows a partial or unacknowledged record;
//! - with the fault cleared, reopening (the same file system, and a power cut of it taken at
//!   the moment of the error) gives back every acknowledged record exactly, nothing beyond
//!   except possibly the whole in-flight append, and takes appends.
//!
//! Dedicated tests cover ENOSPC (typed `is_storage_full`, no poisoning, appends resume without
//! a reopen) and short writes (the partial bytes are cut off and never read).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::spy::{file_name, Spy, SpyLog};
use common::*;
use shardlog::io::fault::{is_injected, FaultError, FaultMode, FaultPlan, FaultVfs};
use shardlog::io::sim::{SimVfs, TailMode};
use shardlog::io::{OpKind, RealVfs, Vfs, VfsRef};
use shardlog::{Clock, Durability, Error, LogConfig, ManualClock, ShardLog};

const DIR: &str = "/data/shard-0";
const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    deterministic(small_config(512, Durability::Sync))
}

/// Payload size of record `offset`.
fn size(offset: u64) -> usize {
    [20, 0, 75, 130, 5, 44, 90][(offset % 7) as usize]
}

// ---------------------------------------------------------------------------------------
// Which calls had a fault injected, and on which file (seen through common::spy)
// ---------------------------------------------------------------------------------------

/// An injected fault as seen by the caller.
#[derive(Debug, Clone)]
struct Seen {
    kind: OpKind,
    path: PathBuf,
    /// For `SyncData`: the file's last write was its segment header (a roll creating it).
    header_only: bool,
    /// The injected error was "no space left on device".
    storage_full: bool,
}

/// What the spy keeps: the injected faults, and the offset of the last write issued to each
/// file.
#[derive(Debug, Default)]
struct SpyState {
    seen: Vec<Seen>,
    last_write: HashMap<PathBuf, u64>,
}

impl SpyLog for SpyState {
    fn changing(&mut self, kind: OpKind, path: &Path, offset: u64) {
        if kind == OpKind::Write {
            self.last_write.insert(path.to_path_buf(), offset);
        }
    }

    fn returned(&mut self, kind: OpKind, path: &Path, error: Option<&io::Error>) {
        if let Some(e) = error.filter(|e| is_injected(e)) {
            let header_only = kind == OpKind::SyncData && self.last_write.get(path) == Some(&0);
            let storage_full = e.kind() == io::ErrorKind::StorageFull;
            self.seen.push(Seen { kind, path: path.to_path_buf(), header_only, storage_full });
        }
    }
}

/// Faults the shard log may absorb without reporting: index files are a cache (rebuilt from
/// the log when missing or bad), an unreadable clean marker only means a recovery scan, and a
/// full disk while a trim writes its horizon makes the trim free space first (the horizon is
/// implied by the surviving segments, and written once there is room).
fn may_be_swallowed(s: &Seen) -> bool {
    let name = file_name(&s.path);
    name.ends_with(".index")
        || name.ends_with(".timeindex")
        || (name == "CLEAN" && matches!(s.kind, OpKind::Open | OpKind::Read))
        || (name.starts_with("HORIZON") && s.storage_full)
}

/// A failed fdatasync of segment data (not of a fresh segment's header, whose file the roll
/// deletes again) must poison the log.
fn must_poison(s: &Seen) -> bool {
    s.kind == OpKind::SyncData && file_name(&s.path).ends_with(".log") && !s.header_only
}

// ---------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------

/// The workload's shape, fixed per backend.
#[derive(Debug, Clone)]
struct Spec {
    /// Records in the prepared log (the last one torn, so the first open truncates it).
    prefix: u64,
    /// Appends before the trim.
    appends: u64,
    /// `trim_before` cutoff, as an offset whose arrival time is the cutoff.
    trim_at: u64,
    /// The trim horizon a fault-free run reaches (from a calibration run).
    horizon: Option<u64>,
}

/// Where the workload got to: what was acknowledged, what was in flight, the trim.
#[derive(Default)]
struct Progress {
    acked: Vec<Expected>,
    in_flight: Vec<Expected>,
    /// The trim horizon a successful trim made durable.
    min_start: u64,
    /// The highest horizon any started trim could have reached.
    max_start: u64,
    /// The handle the error happened on, if it was open.
    live: Option<ShardLog>,
    /// A close was called on `live`.
    closed: bool,
    /// The record of the log in a new directory was acknowledged.
    side_acked: bool,
    step: &'static str,
}

struct Env {
    clock: ManualClock,
    vfs: VfsRef,
    dir: PathBuf,
}

impl Env {
    fn new(vfs: VfsRef, dir: PathBuf) -> Env {
        Env { clock: ManualClock::new(T0 + 1_000), vfs, dir }
    }

    fn open(&self) -> shardlog::Result<ShardLog> {
        ShardLog::open(&self.dir, options(Arc::clone(&self.vfs), &self.clock, config()))
    }
}

/// A second log, in directories that do not exist yet (`<dir>/../new/shard-1`).
fn side_dir(dir: &Path) -> PathBuf {
    dir.parent().unwrap().join("new").join("shard-1")
}

/// The one record appended to the second log.
fn side_record() -> Expected {
    Expected::new(0, T0 + 1_000, 10)
}

fn records_for(first: u64, count: u64, arrival_ms: i64) -> Vec<Expected> {
    (first..first + count).map(|o| Expected::new(o, arrival_ms, size(o))).collect()
}

fn append_step(env: &Env, log: &ShardLog, p: &mut Progress, a: u64) -> shardlog::Result<()> {
    env.clock.advance(Duration::from_millis(10));
    let first = p.acked.len() as u64;
    p.in_flight = records_for(first, if a % 4 == 1 { 3 } else { 1 }, env.clock.now_ms());
    let appended = append_expected(log, &p.in_flight)?;
    assert_eq!(appended.first_offset, first, "append landed at the wrong offset");
    p.acked.append(&mut p.in_flight);
    Ok(())
}

/// Runs until the first error. Wrong data read back panics (reported as a failure).
fn workload(env: &Env, spec: &Spec, p: &mut Progress) -> shardlog::Result<()> {
    p.step = "open a log in a new directory";
    let side = ShardLog::open(side_dir(&env.dir), options(Arc::clone(&env.vfs), &env.clock, config()))?;
    p.step = "append to the new log";
    append_expected(&side, &[side_record()])?;
    p.side_acked = true;
    p.step = "close the new log";
    side.close()?;
    drop(side);

    p.step = "open (recovering a torn tail)";
    let log = env.open()?;
    p.live = Some(log.clone());
    for a in 0..spec.appends {
        p.step = "append";
        append_step(env, &log, p, a)?;
    }
    p.step = "trim";
    p.max_start = spec.horizon.unwrap_or(u64::MAX);
    let cutoff = p.acked.get(spec.trim_at as usize).map(|e| e.arrival_ms).unwrap();
    let trimmed = log.trim_before(cutoff)?;
    assert!(trimmed.segments_removed > 0, "the trim removed nothing");
    if let Some(h) = spec.horizon {
        assert_eq!(trimmed.start_offset, h, "trim horizon differs from the fault-free run");
    }
    p.min_start = trimmed.start_offset;
    p.max_start = trimmed.start_offset;
    p.step = "close";
    p.closed = true;
    log.close()?;
    p.live = None;
    p.closed = false;
    drop(log);

    p.step = "reopen";
    let log = env.open()?;
    p.live = Some(log.clone());
    p.step = "read";
    let got = try_read_all(&log, 0)?;
    check_recovered(&got, log.start_offset(), &p.acked, &[]).map_err(|e| format!("read after reopen: {e}")).unwrap();
    p.step = "offset_for_time";
    let at = log.offset_for_time(cutoff)?;
    let want = p.acked.iter().find(|e| e.arrival_ms >= cutoff).map_or(0, |e| e.offset);
    assert_eq!(at, log.start_offset().max(want), "offset_for_time");
    p.step = "append after reopen";
    append_step(env, &log, p, 0)?;
    p.step = "read back";
    let last = p.acked.len() as u64 - 1;
    let got = log.read(last, 10, 1 << 20)?.records;
    check_recovered(&got, last, &p.acked, &[]).map_err(|e| format!("read back: {e}")).unwrap();
    p.step = "final close";
    p.closed = true;
    log.close()?;
    p.live = None;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Backends: a prepared shard directory with a torn tail
// ---------------------------------------------------------------------------------------

enum Backend {
    /// The prepared, durable image, copied for each run.
    Sim(SimVfs),
    /// The prepared shard directory (`<template>/shard-0`), copied for each run.
    Real(tempfile::TempDir),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sim(_) => "SimVfs",
            Backend::Real(_) => "RealVfs",
        }
    }
}

/// The records of the prepared log that must survive (all but the torn last one).
fn prefix_records(spec: &Spec) -> Vec<Expected> {
    (0..spec.prefix - 1).map(|o| Expected::new(o, T0 + o as i64, size(o))).collect()
}

/// Write the prepared log through `vfs`. Returns the sim's op count and the active
/// segment's length before the last append.
fn write_prefix(vfs: VfsRef, dir: &Path, spec: &Spec, sim: Option<&SimVfs>) -> (usize, u64) {
    let clock = ManualClock::new(T0);
    let log = ShardLog::open(dir, options(vfs, &clock, config())).unwrap();
    let mut before_last = (0, 0);
    for o in 0..spec.prefix {
        clock.set_ms(T0 + o as i64);
        before_last = (sim.map_or(0, SimVfs::op_count), log.segments().last().unwrap().bytes);
        append_expected(&log, &records_for(o, 1, T0 + o as i64)).unwrap();
    }
    assert_eq!(log.segments().len(), 1, "the prepared log must not roll");
    log.close().unwrap();
    before_last
}

fn prepared_sim(spec: &Spec) -> SimVfs {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new(DIR)).unwrap();
    for d in ["/", "/data", DIR] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    let sim = sim.crash_at(sim.op_count(), TailMode::Whole);
    let (before_last, _) = write_prefix(sim.shared(), Path::new(DIR), spec, Some(&sim));
    // Crash inside the last append's write: 9 bytes of its batch landed.
    let write = sim.ops().iter().enumerate().skip(before_last).find(|(_, op)| op.kind() == OpKind::Write).unwrap().0;
    sim.crash_at(write + 1, TailMode::Cut(9))
}

/// A temporary directory for the real-file-system pass. It is on tmpfs when `/dev/shm`
/// exists: the pass tests the real system calls and their errors, not the disk's durability
/// (nothing is power-cut there), and a real disk's fsyncs would make it minutes long.
fn real_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

fn real_backend(spec: &Spec) -> Backend {
    let template = real_tempdir();
    prepare_real(&template.path().join("shard-0"), spec);
    Backend::Real(template)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn prepare_real(dir: &Path, spec: &Spec) {
    let (_, len_before_last) = write_prefix(RealVfs::shared(), dir, spec, None);
    // Remove the clean marker and cut the last batch short, as a crash mid-write would.
    std::fs::remove_file(dir.join("CLEAN")).unwrap();
    let segment = dir.join(format!("{:020}.log", 0));
    let f = std::fs::OpenOptions::new().write(true).open(segment).unwrap();
    f.set_len(len_before_last + 9).unwrap();
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

/// What a run did, for the loop and the summary.
#[derive(Default)]
struct RunOutcome {
    fired: u64,
    errored: bool,
    failure: Option<String>,
    /// The failed handle was checked to refuse appends with `Poisoned` after a failed
    /// fdatasync.
    poison_verified: bool,
    /// The failed handle took an append again once the fault cleared.
    resumed: bool,
    /// A power cut taken at the error was reopened and checked.
    cut_verified: bool,
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// The log in the new directory holds its record if it was acknowledged, and nothing else.
fn verify_side(vfs: VfsRef, dir: &Path, clock: &ManualClock, acked: bool) -> Result<(), String> {
    let dir = side_dir(dir);
    let log = ShardLog::open(&dir, options(vfs, clock, config())).map_err(|e| format!("reopen of the new log: {e}"))?;
    let got = try_read_all(&log, 0).map_err(|e| format!("read of the new log: {e}"))?;
    let rec = [side_record()];
    let (acked, in_flight): (&[Expected], &[Expected]) = if acked { (&rec, &[]) } else { (&[], &rec) };
    check_recovered(&got, 0, acked, in_flight).map(drop).map_err(|e| format!("the log in a new directory: {e}"))
}

/// The recovered log must hold exactly what the oracle allows and take an append.
fn verify_reopen(
    vfs: VfsRef,
    dir: &Path,
    clock: &ManualClock,
    acked: &[Expected],
    in_flight: &[Expected],
    (min_start, max_start): (u64, u64),
) -> Result<(), String> {
    let log = ShardLog::open(dir, options(vfs, clock, config()))
        .map_err(|e| format!("reopen after the fault cleared: {e}"))?;
    let start = log.start_offset();
    if start < min_start || start > max_start {
        return Err(format!("trim horizon {start} outside [{min_start}, {max_start}]"));
    }
    let got = try_read_all(&log, 0).map_err(|e| format!("read after reopen: {e}"))?;
    let extra = check_recovered(&got, start, acked, in_flight)?;
    let hw = (acked.len() + extra) as u64;
    if log.high_watermark() != hw {
        return Err(format!("high-watermark {} after reopen, want {hw}", log.high_watermark()));
    }
    clock.advance(Duration::from_millis(10));
    let fresh = Expected::new(hw, clock.now_ms(), 17);
    let a = append_expected(&log, std::slice::from_ref(&fresh)).map_err(|e| format!("append after reopen: {e}"))?;
    let back = log.read(hw, 10, 1 << 20).map_err(|e| format!("read of the new append: {e}"))?.records;
    if a.first_offset != hw || back.len() != 1 || fresh.check(&back[0]).is_err() {
        return Err(format!(
            "the append after reopen did not read back (offset {}, {} records)",
            a.first_offset,
            back.len()
        ));
    }
    Ok(())
}

fn run_case(backend: &Backend, spec: &Spec, case: Case) -> RunOutcome {
    let tmp;
    let (sim, base_vfs, dir): (Option<SimVfs>, VfsRef, PathBuf) = match backend {
        Backend::Sim(image) => {
            let sim = image.crash_at(0, TailMode::Whole);
            (Some(sim.clone()), sim.shared(), PathBuf::from(DIR))
        }
        Backend::Real(template) => {
            tmp = real_tempdir();
            let dir = tmp.path().join("shard-0");
            copy_dir(&template.path().join("shard-0"), &dir);
            (None, RealVfs::shared(), dir)
        }
    };
    let fault = FaultVfs::new(Arc::clone(&base_vfs));
    let spy: Spy<SpyState> = Spy::new(fault.shared());
    let env = Env::new(Arc::new(spy.clone()), dir.clone());
    let mut p = Progress { acked: prefix_records(spec), ..Progress::default() };
    fault.set_plan(FaultPlan { kind: case.kind, nth: case.nth, mode: case.mode, error: case.error });
    let result = catch_unwind(AssertUnwindSafe(|| workload(&env, spec, &mut p)));
    let fired = fault.fired();
    let seen = spy.log().seen.clone();
    let mut out = RunOutcome { fired, errored: !matches!(result, Ok(Ok(()))), ..RunOutcome::default() };
    let step = p.step;
    let fail = |why: String| Some(format!("{} at step `{step}`: {why}", backend.name()));
    let result = match result {
        Ok(r) => r,
        Err(panic) => {
            fault.clear();
            out.failure = fail(format!("panicked: {}", panic_message(&*panic)));
            return out;
        }
    };
    // The power cut strikes at the moment of the error (or of the end of the workload).
    let cut = sim.as_ref().map(SimVfs::power_cut);
    let at_error = (p.acked.clone(), p.in_flight.clone());
    let starts = (p.min_start, p.max_start);

    match &result {
        Ok(()) => {
            if let Some(s) = seen.iter().find(|s| !may_be_swallowed(s)) {
                out.failure = fail(format!("the fault on {} of {} was swallowed", s.kind.name(), s.path.display()));
                return out;
            }
        }
        Err(e) => {
            if fired == 0 {
                out.failure = fail(format!("error without an injected fault: {e}"));
                return out;
            }
            if case.error == FaultError::NoSpace && !e.is_storage_full() {
                out.failure = fail(format!("ENOSPC reached the caller untyped: {e}"));
                return out;
            }
        }
    }
    fault.clear();

    // The handle the error happened on: it shows only acknowledged records, is poisoned
    // after a failed fdatasync, and otherwise takes appends again.
    if let (Err(e), Some(log)) = (&result, p.live.take()) {
        let got = match try_read_all(&log, 0) {
            Ok(got) => got,
            Err(r) => {
                out.failure = fail(format!("after `{e}`, reading the failed handle failed: {r}"));
                return out;
            }
        };
        if let Err(why) = check_recovered(&got, log.start_offset(), &p.acked, &p.in_flight) {
            out.failure = fail(format!("after `{e}`, the failed handle reads wrong records: {why}"));
            return out;
        }
        let poison = seen.iter().find(|s| must_poison(s));
        env.clock.advance(Duration::from_millis(10));
        let probe_first = (p.acked.len() + p.in_flight.len()) as u64;
        let probe = records_for(probe_first, 1, env.clock.now_ms());
        match append_expected(&log, &probe) {
            Err(again @ Error::Poisoned { .. }) if case.error == FaultError::NoSpace => {
                out.failure = fail(format!("ENOSPC (`{e}`) poisoned the log: {again}"));
                return out;
            }
            Err(Error::Poisoned { .. }) => out.poison_verified = poison.is_some(),
            Err(_) if p.closed => {}
            Err(again) if poison.is_none() => {
                out.failure = fail(format!(
                    "after `{e}` the log is not poisoned, yet refuses appends once the fault cleared: {again}"
                ));
                return out;
            }
            Err(again) => {
                out.failure = fail(format!("after a failed fdatasync the next append gave `{again}`, not Poisoned"));
                return out;
            }
            Ok(a) => {
                if let Some(s) = poison {
                    out.failure = fail(format!(
                        "an append succeeded after the failed fdatasync of {} (`{e}`): not poisoned",
                        s.path.display()
                    ));
                    return out;
                }
                // The failed append either left nothing or (cut off and rewritten) its records.
                let acked = p.acked.len() as u64;
                let kept = if a.first_offset == acked {
                    0
                } else if a.first_offset == probe_first {
                    p.in_flight.len()
                } else {
                    out.failure = fail(format!("the append after `{e}` landed at offset {}", a.first_offset));
                    return out;
                };
                out.resumed = true;
                let mut in_flight = std::mem::take(&mut p.in_flight);
                p.acked.extend(in_flight.drain(..kept));
                let mut landed = probe[0].clone();
                landed.offset = a.first_offset;
                p.acked.push(landed);
            }
        }
        drop(log);
    }
    drop(env);

    let clock = ManualClock::new(T0 + 1_000_000);
    let reopened = verify_reopen(Arc::clone(&base_vfs), &dir, &clock, &p.acked, &p.in_flight, starts)
        .and_then(|()| verify_side(base_vfs, &dir, &clock, p.side_acked));
    if let Err(why) = reopened {
        out.failure = fail(why);
        return out;
    }
    if let Some(cut) = cut {
        let reopened = verify_reopen(cut.shared(), &dir, &clock, &at_error.0, &at_error.1, starts)
            .and_then(|()| verify_side(cut.shared(), &dir, &clock, p.side_acked));
        match reopened {
            Ok(()) => out.cut_verified = true,
            Err(why) => out.failure = fail(format!("after a power cut at the error: {why}")),
        }
    }
    out
}

/// Sweep N = 1, 2, … for each case until a run completes without the fault firing.
/// Returns (runs, per-case summary lines, failures).
fn error_loop(backend: &Backend, spec: &Spec, kinds: &[OpKind], errors: &[(OpKind, FaultError)]) -> Summary {
    let mut summary = Summary::default();
    let mut plans: Vec<(OpKind, FaultError)> = kinds.iter().map(|k| (*k, FaultError::Other)).collect();
    plans.extend_from_slice(errors);
    for (kind, error) in plans {
        for mode in [FaultMode::Once, FaultMode::Forever] {
            let mut nth = 1;
            let line = summary.lines.entry(format!("{kind:?}/{error:?}/{mode:?}")).or_default();
            loop {
                let case = Case { kind, mode, error, nth };
                let outcome = run_case(backend, spec, case);
                summary.runs += 1;
                line.runs += 1;
                line.fired += u64::from(outcome.fired > 0);
                line.errors += u64::from(outcome.errored);
                summary.poison_verified += u64::from(outcome.poison_verified);
                summary.resumed += u64::from(outcome.resumed);
                summary.cuts_verified += u64::from(outcome.cut_verified);
                if let Some(why) = outcome.failure {
                    summary.failed += 1;
                    if summary.failures.len() < 10 {
                        summary.failures.push(format!("[{kind:?} {mode:?} {error:?} N={nth}] {why}"));
                    }
                }
                if outcome.fired == 0 {
                    break;
                }
                nth += 1;
                assert!(nth < 2_000, "the {kind:?} sweep does not end");
            }
        }
    }
    summary
}

#[derive(Debug, Default)]
struct Line {
    runs: u64,
    fired: u64,
    errors: u64,
}

#[derive(Debug, Default)]
struct Summary {
    runs: u64,
    failed: u64,
    failures: Vec<String>,
    poison_verified: u64,
    resumed: u64,
    cuts_verified: u64,
    lines: BTreeMap<String, Line>,
}

impl Summary {
    fn print_and_check(&self, what: &str, kinds: &[OpKind], took: Duration) {
        println!(
            "{what}: {} runs in {took:?}; poisoned after a failed fdatasync: {}; appends resumed on the \
             failed handle: {}; power cuts at the error reopened: {}",
            self.runs, self.poison_verified, self.resumed, self.cuts_verified
        );
        for (name, l) in &self.lines {
            println!("  {name:<28} runs {:>3}  fired {:>3}  errors returned {:>3}", l.runs, l.fired, l.errors);
        }
        assert!(
            self.failed == 0,
            "{what}: {} of {} runs failed:\n{}",
            self.failed,
            self.runs,
            self.failures.join("\n")
        );
        for kind in kinds {
            let fired =
                self.lines.iter().filter(|(n, _)| n.starts_with(&format!("{kind:?}/"))).any(|(_, l)| l.fired > 0);
            assert!(fired, "{what}: the workload never made a {kind:?} call, so its error paths were not tested");
        }
    }
}

const SIM_SPEC: Spec = Spec { prefix: 4, appends: 14, trim_at: 8, horizon: None };
const REAL_SPEC: Spec = Spec { prefix: 3, appends: 7, trim_at: 4, horizon: None };

/// The fault-free run: it must pass every check, and it fixes the trim horizon.
fn calibrated(backend: &Backend, spec: &Spec) -> Spec {
    let tmp = real_tempdir();
    let env = match backend {
        Backend::Sim(image) => Env::new(image.crash_at(0, TailMode::Whole).shared(), PathBuf::from(DIR)),
        Backend::Real(template) => {
            let dir = tmp.path().join("shard-0");
            copy_dir(&template.path().join("shard-0"), &dir);
            Env::new(RealVfs::shared(), dir)
        }
    };
    let mut p = Progress { acked: prefix_records(spec), ..Progress::default() };
    let r = catch_unwind(AssertUnwindSafe(|| workload(&env, spec, &mut p)));
    assert!(matches!(r, Ok(Ok(()))), "the fault-free workload failed at step {}", p.step);
    assert!(p.min_start > 0, "the trim must remove something");
    Spec { horizon: Some(p.min_start), ..spec.clone() }
}

/// Every kind of call the shard log makes (all of them).
const KINDS: [OpKind; 13] = OpKind::ALL;

#[test]
fn every_failing_call_over_the_simulated_disk_is_reported_and_recovered() {
    let image = prepared_sim(&SIM_SPEC);
    let backend = Backend::Sim(image);
    let spec = calibrated(&backend, &SIM_SPEC);
    let started = Instant::now();
    let extra = [(OpKind::Write, FaultError::NoSpace), (OpKind::Write, FaultError::ShortWrite)];
    let summary = error_loop(&backend, &spec, &KINDS, &extra);
    summary.print_and_check("io_errors over SimVfs", &KINDS, started.elapsed());
    assert!(summary.poison_verified > 0 && summary.resumed > 0, "the poison and resume checks never ran");
    assert_eq!(summary.cuts_verified, summary.runs, "every run is power-cut and reopened");
}

#[test]
fn every_failing_call_over_the_real_disk_is_reported_and_recovered() {
    let backend = real_backend(&REAL_SPEC);
    let spec = calibrated(&backend, &REAL_SPEC);
    let started = Instant::now();
    let summary = error_loop(&backend, &spec, &KINDS, &[(OpKind::Write, FaultError::NoSpace)]);
    summary.print_and_check("io_errors over RealVfs", &KINDS, started.elapsed());
}

// ---------------------------------------------------------------------------------------
// ENOSPC and short writes
// ---------------------------------------------------------------------------------------

/// A log over a fault-injecting SimVfs with `n` records appended (no roll pending).
fn log_with_records(n: u64) -> (SimVfs, FaultVfs, ManualClock, ShardLog, Vec<Expected>) {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new(DIR)).unwrap();
    for d in ["/", "/data", DIR] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    let fault = FaultVfs::new(sim.shared());
    let clock = ManualClock::new(T0);
    let cfg = deterministic(small_config(1 << 20, Durability::Sync));
    let log = ShardLog::open(DIR, options(fault.shared(), &clock, cfg)).unwrap();
    let mut acked = Vec::new();
    for o in 0..n {
        clock.advance(Duration::from_millis(1));
        let recs = records_for(o, 1, clock.now_ms());
        append_expected(&log, &recs).unwrap();
        acked.extend(recs);
    }
    (sim, fault, clock, log, acked)
}

fn active_len(sim: &SimVfs, log: &ShardLog) -> usize {
    let active = log.segments().last().unwrap().path.clone();
    sim.file_content(&active).unwrap().len()
}

#[test]
fn enospc_fails_the_append_typed_without_poisoning_and_appends_resume() {
    for mode in [FaultMode::Once, FaultMode::Forever] {
        let (sim, fault, clock, log, mut acked) = log_with_records(5);
        let len_before = active_len(&sim, &log);
        fault.set_plan(FaultPlan { kind: OpKind::Write, nth: 1, mode, error: FaultError::NoSpace });
        for attempt in 0..3 {
            clock.advance(Duration::from_millis(1));
            let err = append_expected(&log, &records_for(5, 2, clock.now_ms())).unwrap_err();
            assert!(err.is_storage_full(), "{mode:?}: not typed as a full disk: {err}");
            assert!(log.poisoned().is_none(), "{mode:?}: ENOSPC poisoned the log: {:?}", log.poisoned());
            assert_eq!(active_len(&sim, &log), len_before, "{mode:?}: the failed append left bytes behind");
            assert_eq!(log.high_watermark(), 5);
            if mode == FaultMode::Once {
                break;
            }
            assert!(attempt < 3);
        }
        fault.clear();
        // Space is back: appends resume on the same handle, at the next offset.
        clock.advance(Duration::from_millis(1));
        let recs = records_for(5, 2, clock.now_ms());
        let a = append_expected(&log, &recs).unwrap();
        assert_eq!(a.first_offset, 5);
        acked.extend(recs);
        check_recovered(&try_read_all(&log, 0).unwrap(), 0, &acked, &[]).unwrap();
        // Nothing acknowledged is lost across a power cut either.
        let cut = sim.power_cut();
        drop(log);
        let reopened = ShardLog::open(DIR, options(cut.shared(), &clock, config())).unwrap();
        check_recovered(&try_read_all(&reopened, 0).unwrap(), 0, &acked, &[]).unwrap();
    }
}

#[test]
fn enospc_during_a_roll_is_typed_and_the_roll_is_retried() {
    let (sim, fault, clock, log, mut acked) = log_with_records(1);
    drop(log);
    // Tiny segments: the next append rolls; its first write is the new segment's header.
    let log = ShardLog::open(DIR, options(fault.shared(), &clock, deterministic(small_config(100, Durability::Sync))))
        .unwrap();
    clock.advance(Duration::from_millis(1));
    let recs = records_for(1, 1, clock.now_ms());
    append_expected(&log, &recs).unwrap();
    acked.extend(recs);
    let segments = log.segments().len();
    fault.set_plan(FaultPlan::once(OpKind::Write, 1, FaultError::NoSpace));
    clock.advance(Duration::from_millis(1));
    let recs = records_for(2, 1, clock.now_ms());
    let err = append_expected(&log, &recs).unwrap_err();
    assert!(err.is_storage_full(), "{err}");
    assert!(log.poisoned().is_none(), "{:?}", log.poisoned());
    assert_eq!(log.segments().len(), segments, "a half-created segment is in use");
    append_expected(&log, &recs).unwrap();
    acked.extend(recs);
    assert_eq!(log.segments().len(), segments + 1);
    check_recovered(&try_read_all(&log, 0).unwrap(), 0, &acked, &[]).unwrap();
    let cut = sim.power_cut();
    drop(log);
    let reopened = ShardLog::open(DIR, options(cut.shared(), &clock, config())).unwrap();
    check_recovered(&try_read_all(&reopened, 0).unwrap(), 0, &acked, &[]).unwrap();
}

#[test]
fn a_short_write_is_cut_off_and_never_read() {
    let (sim, fault, clock, log, acked) = log_with_records(4);
    let len_before = active_len(&sim, &log);
    fault.set_plan(FaultPlan::once(OpKind::Write, 1, FaultError::ShortWrite));
    clock.advance(Duration::from_millis(1));
    let in_flight = records_for(4, 3, clock.now_ms());
    let err = append_expected(&log, &in_flight).unwrap_err();
    assert!(!err.is_storage_full(), "{err}");
    assert_eq!(active_len(&sim, &log), len_before, "the partial bytes were not cut off");
    assert_eq!(log.high_watermark(), 4);
    check_recovered(&try_read_all(&log, 0).unwrap(), 0, &acked, &[]).unwrap();
    // A write error other than ENOSPC poisons the log until it is reopened.
    assert!(matches!(append_expected(&log, &in_flight), Err(Error::Poisoned { .. })));
    let cut = sim.power_cut();
    drop(log);
    for vfs in [sim.shared(), cut.shared()] {
        let reopened = ShardLog::open(DIR, options(vfs, &clock, config())).unwrap();
        check_recovered(&try_read_all(&reopened, 0).unwrap(), 0, &acked, &[]).unwrap();
        assert_eq!(append_expected(&reopened, &in_flight).unwrap().first_offset, 4);
    }
}

#[test]
fn a_failed_fdatasync_poisons_until_reopen() {
    let (sim, fault, clock, log, acked) = log_with_records(3);
    fault.set_plan(FaultPlan::once(OpKind::SyncData, 1, FaultError::Other));
    clock.advance(Duration::from_millis(1));
    let in_flight = records_for(3, 1, clock.now_ms());
    let err = append_expected(&log, &in_flight).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    // The fault is gone, but an fsync is never retried and assumed good.
    assert!(matches!(append_expected(&log, &in_flight), Err(Error::Poisoned { .. })));
    assert!(log.poisoned().is_some_and(|c| c.contains("fdatasync")), "{:?}", log.poisoned());
    assert!(log.flush().is_err());
    let cut = sim.power_cut();
    drop(log);
    for vfs in [sim.shared(), cut.shared()] {
        let reopened = ShardLog::open(DIR, options(vfs, &clock, config())).unwrap();
        let got = try_read_all(&reopened, 0).unwrap();
        let extra = check_recovered(&got, 0, &acked, &in_flight).unwrap();
        let next = (acked.len() + extra) as u64;
        clock.advance(Duration::from_millis(1));
        assert_eq!(append_expected(&reopened, &records_for(next, 1, clock.now_ms())).unwrap().first_offset, next);
    }
}

/// Regression (notes/bugs.md, fixed): a failed directory fsync after the first append
/// removed CLEAN left every later append failing on the missing file.
#[test]
fn a_failed_dir_fsync_after_removing_the_clean_marker_does_not_wedge_the_log() {
    let (sim, fault, clock, log, mut acked) = log_with_records(2);
    log.close().unwrap();
    drop(log);
    let log =
        ShardLog::open(DIR, options(fault.shared(), &clock, deterministic(small_config(1 << 20, Durability::Sync))))
            .unwrap();
    // The first append after a clean open removes CLEAN and fsyncs the directory.
    fault.set_plan(FaultPlan::once(OpKind::SyncDir, 1, FaultError::Other));
    clock.advance(Duration::from_millis(1));
    let recs = records_for(2, 1, clock.now_ms());
    assert!(append_expected(&log, &recs).is_err());
    assert!(log.poisoned().is_none());
    fault.clear();
    // Not poisoned, so once the fault is gone the log must take appends again.
    assert_eq!(append_expected(&log, &recs).unwrap().first_offset, 2);
    acked.extend(recs);
    let cut = sim.power_cut();
    drop(log);
    let reopened = ShardLog::open(DIR, options(cut.shared(), &clock, config())).unwrap();
    check_recovered(&try_read_all(&reopened, 0).unwrap(), 0, &acked, &[]).unwrap();
}
