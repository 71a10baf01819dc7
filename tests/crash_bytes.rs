//! Reliability R1, "crash at every byte": a Sync-durability workload with tiny segments runs
//! on the crash-simulating `SimVfs`; then, for every crash state the simulation can produce
//! (every operation × every cut length of an interrupted write, zero-filled, garbage and
//! bit-flipped writes, with and without un-synced directory changes), the shard log is
//! reopened and checked:
//!
//! - open succeeds: no panic, no error (see `check_state` for why no state may be `Corrupt`);
//! - every record acknowledged before the crash point is back, byte-identical (key, hash
//!   key, data, arrival time), at dense offsets from 0;
//! - beyond them at most the one in-flight append, and only whole and exact;
//! - the log takes a new append, which survives a power cut right after it and a reopen.
//!
//! A second pass keeps only fdatasync'd data and dir-fsync'd entries (a strict power cut) at
//! every operation. The planted bugs `canary-payload-only-crc` and
//! `canary-no-dir-fsync-on-roll` make these tests fail (`scripts/canaries.sh`).
//!
//! The same workload under `Durability::Buffered` (seals deferred, so every sealed segment
//! is still unsynced when the crash hits, until the close seals them): a crash of the
//! process keeps everything written, so every acknowledged record must be back there too;
//! a power cut keeps only what was synced, so the log must come back as an exact prefix of
//! what was written (no gap, no damage) that takes appends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use shardlog::io::sim::{CrashSweep, DataMode, DirMode, SimVfs, TailMode};
use shardlog::io::{OpKind, Vfs};
use shardlog::{Clock, Durability, LogConfig, ManualClock, ShardLog};

/// The shard log directory inside the simulated file system. It exists (and is durable)
/// before the workload starts, as an engine creates it.
const DIR: &str = "/data/shard-0";
/// Segments roll every few records.
const SEGMENT_BYTES: u64 = 1024;
/// Records in the PR workload.
const RECORDS: u64 = 70;
/// Records in the Buffered workload.
const BUFFERED_RECORDS: u64 = 40;
/// R1's PR gate.
const MIN_STATES: usize = 7_000;
/// Start of the workload's clock.
const T0: i64 = 1_700_000_000_000;

thread_local! {
    /// Seal every batch with an at-rest key (the sealed-batch variant of the sweep; each test
    /// runs its workload and sweep on one thread).
    static SEALED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn config(durability: Durability) -> LogConfig {
    let mut c = deterministic(small_config(SEGMENT_BYTES, durability));
    if SEALED.with(|s| s.get()) {
        c.at_rest_key = Some(std::sync::Arc::new(shardlog::at_rest::AtRestKey::new([5; 32])));
    }
    c
}

/// Append (sealed in the sealed variant).
fn append(log: &ShardLog, records: &[Expected]) -> shardlog::Result<shardlog::Appended> {
    let refs: Vec<shardlog::RecordRef<'_>> = records.iter().map(Expected::as_ref).collect();
    log.append_with(&refs, SEALED.with(|s| s.get()))
}

/// Payload size of record `offset`: 0 B to 200 B, deterministic.
fn size(offset: u64) -> usize {
    [0, 13, 60, 2, 200, 30, 1, 90, 25, 9, 50, 0, 31][(offset % 13) as usize]
}

/// Records in append number `a`: mostly 1, sometimes 2 to 4.
fn batch_len(a: u64) -> u64 {
    match a % 5 {
        1 => 2,
        3 => 1 + a % 4,
        _ => 1,
    }
}

/// State after acknowledging append number `j`: the sim's op count when `append` returned
/// and the number of records acknowledged so far.
#[derive(Debug, Clone, Copy)]
struct Ack {
    ops: usize,
    acked: usize,
}

/// A finished workload: the simulated file system with the workload's op log, and what
/// was acknowledged when.
struct Workload {
    durability: Durability,
    sim: SimVfs,
    records: Vec<Expected>,
    /// `acks[0]` is the open; `acks[j + 1]` the end of append `j`.
    acks: Vec<Ack>,
    /// Records of each append, as index ranges into `records`.
    appends: Vec<std::ops::Range<usize>>,
    /// The sim's op count once the close returned (everything durable from there on).
    closed_ops: usize,
    end_ms: i64,
}

/// What a crash state must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Promise {
    /// Every acknowledged record (Sync, or any crash that keeps every write).
    Acknowledged,
    /// An exact prefix of what was written (a power cut under Buffered); everything once the
    /// close made it durable.
    Prefix,
}

impl Workload {
    /// `(acked, in_flight)` for a crash after `ops` operations.
    fn expectation(&self, ops: usize) -> (&[Expected], &[Expected]) {
        let done = self.acks.iter().rposition(|a| a.ops <= ops).unwrap_or(0);
        let acked = self.acks.get(done).map_or(0, |a| a.acked);
        // `done` acks include the open, so append number `done` is the next one.
        let in_flight = self.appends.get(done).cloned().unwrap_or(acked..acked);
        (&self.records[..acked], &self.records[in_flight])
    }
}

/// A `SimVfs` holding the durable, empty shard directory, with an empty op log.
fn prepared_sim() -> SimVfs {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new(DIR)).unwrap();
    for d in ["/", "/data", DIR] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    sim.crash_at(sim.op_count(), TailMode::Whole)
}

/// Open, append `records` records with rolls every few records, then close cleanly (so
/// crashes inside the close are covered too).
fn run_workload(records: u64, durability: Durability) -> Workload {
    let sim = prepared_sim();
    let clock = ManualClock::new(T0);
    let log = ShardLog::open(DIR, options(sim.shared(), &clock, config(durability))).unwrap();
    let mut w = Workload {
        durability,
        sim: sim.clone(),
        records: Vec::new(),
        acks: vec![Ack { ops: sim.op_count(), acked: 0 }],
        appends: Vec::new(),
        closed_ops: 0,
        end_ms: T0,
    };
    let mut next = 0u64;
    let mut a = 0u64;
    while next < records {
        clock.advance(Duration::from_millis(3 + a % 5));
        let now = clock.now_ms();
        let count = batch_len(a).min(records - next);
        let batch: Vec<Expected> = (next..next + count).map(|o| Expected::new(o, now, size(o))).collect();
        let appended = append(&log, &batch).unwrap();
        assert_eq!((appended.first_offset, appended.next_offset, appended.arrival_ms), (next, next + count, now));
        let from = w.records.len();
        w.records.extend(batch);
        w.appends.push(from..w.records.len());
        next += count;
        w.acks.push(Ack { ops: sim.op_count(), acked: w.records.len() });
        a += 1;
    }
    let segments = log.segments().len() as u64;
    assert!(segments >= records / 10, "expected a roll every few records, got {segments} segments");
    log.close().unwrap();
    w.closed_ops = sim.op_count();
    w.end_ms = clock.now_ms();
    w
}

/// Check one crash state; `Err` says what is wrong. Returns how many records came back.
///
/// No state may fail to open, not even with `Corrupt`: a crash state only damages the
/// operation the crash interrupts, and that operation is never followed by an fdatasync in
/// the same state, so damage only ever reaches bytes that were not yet durable (the
/// unsynced tail of the active segment, the header of a segment being created by a roll,
/// an index file, a marker's temp file), all of which recovery must discard or rebuild.
/// Synced data is never damaged by these states, so `Corrupt` would be a recovery bug.
fn check_state(vfs: &SimVfs, w: &Workload, ops: usize, promise: Promise) -> Result<usize, String> {
    let (acked, in_flight) = w.expectation(ops);
    let clock = ManualClock::new(w.end_ms + 1_000);
    let config = || config(w.durability);
    let log = ShardLog::open(DIR, options(vfs.shared(), &clock, config())).map_err(|e| format!("open failed: {e}"))?;
    let got = try_read_all(&log, 0).map_err(|e| format!("read after recovery failed: {e}"))?;
    if log.start_offset() != 0 {
        return Err(format!("trim horizon {} after recovery, nothing was trimmed", log.start_offset()));
    }
    let extra = if promise == Promise::Prefix && ops < w.closed_ops {
        check_prefix(&got, acked, in_flight)?;
        got.len().saturating_sub(acked.len())
    } else {
        check_recovered(&got, 0, acked, in_flight)?
    };
    let n = got.len() as u64;
    if log.high_watermark() != n {
        return Err(format!("high-watermark {} but {n} records readable", log.high_watermark()));
    }

    // The log is appendable, and the new record is durable.
    let fresh = Expected::new(n, clock.now_ms(), 33);
    let appended = append(&log, std::slice::from_ref(&fresh)).map_err(|e| format!("append failed: {e}"))?;
    if appended.first_offset != n {
        return Err(format!("append after recovery got offset {}, want {n}", appended.first_offset));
    }
    let mut after: Vec<Expected> = got.iter().map(expected_of).collect();
    after.push(fresh);
    if w.durability != Durability::Sync {
        // Acknowledged is not durable there: make it so before the power cut.
        log.flush().map_err(|e| format!("flush failed: {e}"))?;
    }

    // It survives a power cut right after its acknowledgement, and a reopen. (The whole log
    // was checked above; here the new record, its predecessor and the high-watermark are.)
    let cut = vfs.power_cut();
    let reopened = ShardLog::open(DIR, options(cut.shared(), &clock, config()))
        .map_err(|e| format!("reopen after a power cut following the new append failed: {e}"))?;
    check_tail(&reopened, &after).map_err(|e| format!("after append + power cut: {e}"))?;
    drop(reopened);

    drop(log);
    let reopened = ShardLog::open(DIR, options(vfs.shared(), &clock, config()))
        .map_err(|e| format!("reopen after the new append failed: {e}"))?;
    check_tail(&reopened, &after).map_err(|e| format!("after append + reopen: {e}"))?;
    Ok(acked.len() + extra)
}

/// `got` is an exact prefix of the acknowledged records followed by the in-flight append,
/// which comes back whole or not at all.
fn check_prefix(got: &[shardlog::Record], acked: &[Expected], in_flight: &[Expected]) -> Result<(), String> {
    let written: Vec<&Expected> = acked.iter().chain(in_flight).collect();
    for (i, r) in got.iter().enumerate() {
        match written.get(i) {
            Some(e) => e.check(r)?,
            None => return Err(format!("phantom record at offset {}", r.offset)),
        }
    }
    if got.len() > acked.len() && got.len() != acked.len() + in_flight.len() {
        return Err(format!("{} of the {} in-flight records came back", got.len() - acked.len(), in_flight.len()));
    }
    Ok(())
}

/// The log holds exactly `all` records, the last two of which read back exactly.
fn check_tail(log: &ShardLog, all: &[Expected]) -> Result<(), String> {
    let n = all.len() as u64;
    if log.high_watermark() != n || log.start_offset() != 0 {
        return Err(format!("high-watermark {} start {}, want {n} and 0", log.high_watermark(), log.start_offset()));
    }
    let from = n.saturating_sub(2);
    let got = try_read_all(log, from).map_err(|e| format!("read failed: {e}"))?;
    check_recovered(&got, from, all, &[]).map(drop)
}

fn expected_of(r: &shardlog::Record) -> Expected {
    Expected {
        offset: r.offset,
        arrival_ms: r.arrival_ms,
        key: r.partition_key.to_vec(),
        hash_key: r.explicit_hash_key,
        data: r.data.to_vec(),
    }
}

/// Outcome of a sweep.
#[derive(Default)]
struct Tally {
    states: usize,
    failures: Vec<String>,
    failed: usize,
    /// States whose in-flight append came back whole.
    in_flight_back: usize,
}

impl Tally {
    fn record(&mut self, label: &str, outcome: std::thread::Result<Result<(usize, bool), String>>) {
        self.states += 1;
        let why = match outcome {
            Ok(Ok((_, extra))) => {
                self.in_flight_back += usize::from(extra);
                return;
            }
            Ok(Err(why)) => why,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                format!("panicked: {msg}")
            }
        };
        self.failed += 1;
        if self.failures.len() < 8 {
            self.failures.push(format!("[{label}] {why}"));
        }
    }

    fn assert_clean(&self, what: &str) {
        assert!(
            self.failed == 0,
            "{what}: {} of {} crash states failed; first failures:\n{}",
            self.failed,
            self.states,
            self.failures.join("\n")
        );
    }
}

fn sweep(w: &Workload, sweep: &CrashSweep, promise: Promise) -> Tally {
    let mut tally = Tally::default();
    let log = w.sim.ops();
    for state in w.sim.crash_states(sweep) {
        // Operations that completed: a write the crash tears was still under way, so an
        // append acknowledged right after it (Buffered: no sync follows) was not yet.
        let torn = state.spec.tail != TailMode::Whole
            && state.spec.ops.checked_sub(1).and_then(|i| log.get(i)).is_some_and(|op| op.kind() == OpKind::Write);
        let ops = state.spec.ops - usize::from(torn);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let (acked, _) = w.expectation(ops);
            check_state(&state.vfs, w, ops, promise).map(|n| (n, n > acked.len()))
        }));
        tally.record(&state.label, outcome);
    }
    tally
}

/// The Buffered workload's sweep: every byte of every write, zeroed, garbage and one bit
/// flip, under both directory modes.
fn buffered_sweep() -> CrashSweep {
    CrashSweep::default()
}

/// Every byte of every write, zeroed, garbage and bit flips, under both directory modes.
fn full_sweep() -> CrashSweep {
    // Four flips per write, spread over its bits, land in every part of small batch headers
    // (arrival time, offsets, lengths) as well as in payloads. This is what catches a
    // payload-only CRC: a torn batch with a flipped header bit then passes its check and
    // comes back with a wrong arrival time. (Zero-filled or garbage tails cannot decode as
    // phantom batches here even then, because every batch must start with its magic.)
    CrashSweep { bit_flips: 4, ..CrashSweep::default() }
}

#[test]
fn crash_at_every_byte_loses_nothing_acknowledged() {
    let w = run_workload(RECORDS, Durability::Sync);
    let started = Instant::now();
    let tally = sweep(&w, &full_sweep(), Promise::Acknowledged);
    let took = started.elapsed();
    println!(
        "crash_bytes: {} crash states over {} ops ({} records, {} appends) checked in {took:?}; \
         in-flight append came back in {}",
        tally.states,
        w.sim.op_count(),
        w.records.len(),
        w.appends.len(),
        tally.in_flight_back
    );
    tally.assert_clean("crash at every byte");
    assert!(tally.states >= MIN_STATES, "only {} crash states, R1 needs {MIN_STATES}", tally.states);
    // The oracle's "k or k + n" branch was exercised both ways.
    assert!(tally.in_flight_back > 0, "no state kept an in-flight append");
}

fn synced_only() -> CrashSweep {
    CrashSweep { dir_modes: vec![DirMode::DropUnsynced], data: DataMode::SyncedOnly, ..CrashSweep::default() }
}

/// The same sweep over batches sealed with an at-rest key: torn, zeroed, garbage and
/// bit-flipped sealed batches are cut off like plain ones (the CRC covers the stored bytes),
/// every acknowledged record comes back decrypted and exact, and the log takes sealed
/// appends again.
#[test]
fn crash_at_every_byte_of_sealed_batches_loses_nothing_acknowledged() {
    SEALED.with(|s| s.set(true));
    let w = run_workload(RECORDS, Durability::Sync);
    // Every cut length, zeroed and garbage tails, unsynced directory entries dropped (the
    // bit flips and the other directory mode run on plain batches above; the frame around a
    // sealed payload is the same, and keeps this sweep within the PR time budget).
    let tally = sweep(
        &w,
        &CrashSweep { bit_flips: 0, dir_modes: vec![DirMode::DropUnsynced], ..full_sweep() },
        Promise::Acknowledged,
    );
    println!("crash_bytes (sealed): {} crash states over {} ops", tally.states, w.sim.op_count());
    tally.assert_clean("crash at every byte, sealed batches");
    assert!(tally.states >= 3_000, "only {} crash states", tally.states);
    assert!(tally.in_flight_back > 0, "no state kept an in-flight append");
    // The records really are sealed: no payload appears in the clear in any segment.
    let dir = Path::new(DIR);
    let mut clear = 0;
    for e in w.sim.read_dir(dir).unwrap() {
        if let Some(bytes) = w.sim.file_content(&dir.join(&e.name)) {
            clear += w
                .records
                .iter()
                .filter(|r| r.data.len() >= 25 && bytes.windows(r.data.len()).any(|x| x == r.data))
                .count();
        }
    }
    assert_eq!(clear, 0, "payloads of sealed batches found in the clear");
}

#[test]
fn power_cut_at_every_op_keeps_everything_acknowledged() {
    let w = run_workload(RECORDS, Durability::Sync);
    let tally = sweep(&w, &synced_only(), Promise::Acknowledged);
    println!("crash_bytes: {} power-cut states (synced data and dir entries only)", tally.states);
    tally.assert_clean("power cut");
    assert_eq!(tally.states, w.sim.op_count() + 1, "one state per op index");
}

/// Buffered appends with seals deferred: while the crash hits, every segment sealed since the
/// open is unsynced (recovery must scan it), yet a crash of the process keeps all that was
/// written, so nothing acknowledged may be lost.
#[test]
fn buffered_crash_at_every_byte_loses_nothing_acknowledged() {
    let w = run_workload(BUFFERED_RECORDS, Durability::Buffered);
    let started = Instant::now();
    let tally = sweep(&w, &buffered_sweep(), Promise::Acknowledged);
    println!(
        "crash_bytes: {} buffered crash states over {} ops ({} records) checked in {:?}",
        tally.states,
        w.sim.op_count(),
        w.records.len(),
        started.elapsed()
    );
    tally.assert_clean("buffered crash at every byte");
}

/// The same workload under a power cut at every op: the unsynced sealed segments revert, and
/// recovery must cut the first one that lost bytes and drop the newer ones, leaving an exact
/// prefix of what was written (no gap, nothing damaged) — and everything, once the close
/// sealed and synced it.
#[test]
fn buffered_power_cut_at_every_op_leaves_an_exact_prefix() {
    let w = run_workload(BUFFERED_RECORDS, Durability::Buffered);
    let tally = sweep(&w, &synced_only(), Promise::Prefix);
    println!("crash_bytes: {} buffered power-cut states", tally.states);
    tally.assert_clean("buffered power cut");
    assert_eq!(tally.states, w.sim.op_count() + 1, "one state per op index");
}

/// The harness itself can fail: states with a lost acknowledged record, a phantom record
/// or a changed record are rejected, and a broken library would be caught.
#[test]
fn the_oracle_rejects_lost_phantom_and_altered_records() {
    let w = run_workload(12, Durability::Sync);
    let ops = w.sim.op_count();
    let whole = w.sim.crash_at(ops, TailMode::Whole);
    assert_eq!(check_state(&whole, &w, ops, Promise::Acknowledged).unwrap(), 12);

    // Lost: the newest segment vanished (what a missing directory fsync does).
    let lost = w.sim.crash_at(ops, TailMode::Whole);
    let newest = lost.list_files().into_iter().filter(|p| p.extension().is_some_and(|e| e == "log")).max().unwrap();
    lost.remove_file(&newest).unwrap();
    lost.remove_file(&Path::new(DIR).join("CLEAN")).unwrap();
    let err = check_state(&lost, &w, ops, Promise::Acknowledged).unwrap_err();
    assert!(err.contains("lost"), "{err}");

    // Phantom: a record nobody acknowledged (the oracle is told only 11 were).
    let phantom = w.sim.crash_at(ops, TailMode::Whole);
    let short = Workload {
        durability: w.durability,
        sim: w.sim.clone(),
        records: w.records[..11].to_vec(),
        acks: vec![Ack { ops: 0, acked: 11 }],
        appends: Vec::new(),
        closed_ops: w.closed_ops,
        end_ms: w.end_ms,
    };
    let err = check_state(&phantom, &short, ops, Promise::Acknowledged).unwrap_err();
    assert!(err.contains("phantom"), "{err}");

    // Altered: same offsets and lengths, a different arrival time.
    let mut altered = w.records.clone();
    altered[5].arrival_ms += 1;
    let changed = Workload { records: altered, acks: w.acks.clone(), appends: w.appends.clone(), ..short };
    let err = check_state(&w.sim.crash_at(ops, TailMode::Whole), &changed, ops, Promise::Acknowledged).unwrap_err();
    assert!(err.contains("differs"), "{err}");
}

/// `ShardLog::open` creating its own directory must make that directory durable before
/// acknowledging anything in it.
#[test]
fn a_log_in_a_directory_it_created_survives_a_power_cut() {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new("/data")).unwrap();
    sim.sync_dir(Path::new("/")).unwrap();
    sim.sync_dir(Path::new("/data")).unwrap();
    let clock = ManualClock::new(T0);
    let log = ShardLog::open(DIR, options(sim.shared(), &clock, config(Durability::Sync))).unwrap();
    let rec = Expected::new(0, clock.now_ms(), 10);
    append_expected(&log, std::slice::from_ref(&rec)).unwrap();
    let cut = sim.power_cut();
    let reopened = ShardLog::open(DIR, options(cut.shared(), &clock, config(Durability::Sync))).unwrap();
    let got = try_read_all(&reopened, 0).unwrap();
    check_recovered(&got, 0, &[rec], &[]).unwrap();
}
