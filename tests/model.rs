//! Model-based test of the shard log (R7): random operation sequences run against a
//! `ShardLog` on the simulated file system and against a plain in-memory model, which must
//! agree exactly after every step.
//!
//! Operations: appends (1–5 records of 0–300 bytes, random keys, optional explicit hash
//! keys), reads at random offsets (also before the start and past the end) with random
//! record and byte limits, time lookups, clock moves (forward and back), size- and age-driven
//! rolls, `trim_before`, `trim_to_size`, clean close + reopen, and crash + reopen (a crash
//! keeping every write under `Buffered`, a power cut keeping only synced data under `Sync`).
//!
//! The model knows the segment layout too (bytes per batch from `batch::encoded_len`, the roll
//! rules of `LogConfig`), so segment boundaries, trim outcomes and byte limits of reads are
//! predicted, not just checked for plausibility.
//!
//! 2,000 cases by default; `PROPTEST_CASES=N` changes that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use common::payload;
use shardlog::batch;
use shardlog::io::sim::{DirMode, SimVfs, TailMode};
use shardlog::{
    Clock, Durability, LogConfig, LogOptions, ManualClock, Record, RecordRef, Sealing, SegmentCache, ShardLog,
};

const DIR: &str = "/data/shard";
const T0: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct NewRecord {
    key: Vec<u8>,
    hash: Option<u128>,
    len: usize,
    seed: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<NewRecord>),
    /// `from` picked by `pick` over `0..hw+4`, or far past the end.
    Read {
        pick: u32,
        far: bool,
        max_records: usize,
        max_bytes: usize,
    },
    OffsetForTime {
        pick: u32,
    },
    Advance(u64),
    ClockBack(u64),
    TrimBefore {
        pick: u32,
    },
    TrimToSize {
        pick: u32,
    },
    Reopen,
    Crash,
}

fn new_record() -> impl Strategy<Value = NewRecord> {
    (
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::option::weighted(0.3, any::<u128>()),
        prop_oneof![2 => 0..=300usize, 1 => 0..=8usize],
        any::<u64>(),
    )
        .prop_map(|(key, hash, len, seed)| NewRecord { key, hash, len, seed })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => proptest::collection::vec(new_record(), 1..=5).prop_map(Op::Append),
        6 => (
            any::<u32>(),
            proptest::bool::weighted(0.05),
            prop_oneof![1 => Just(0usize), 6 => 1..12usize, 2 => Just(1000usize)],
            prop_oneof![1 => Just(0usize), 1 => Just(1usize), 4 => 0..800usize, 2 => Just(usize::MAX)],
        )
            .prop_map(|(pick, far, max_records, max_bytes)| Op::Read { pick, far, max_records, max_bytes }),
        2 => any::<u32>().prop_map(|pick| Op::OffsetForTime { pick }),
        4 => prop_oneof![0..50u64, 0..5000u64].prop_map(Op::Advance),
        1 => (0..3000u64).prop_map(Op::ClockBack),
        2 => any::<u32>().prop_map(|pick| Op::TrimBefore { pick }),
        1 => any::<u32>().prop_map(|pick| Op::TrimToSize { pick }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    segment_max_bytes: u64,
    segment_max_age_ms: Option<u64>,
    index_interval_bytes: u32,
    sync: bool,
    cache: usize,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![40..400u64, 400..3000u64],
        proptest::option::of(1..8000u64),
        prop_oneof![1..64u32, 64..2048u32],
        any::<bool>(),
        1..4usize,
    )
        .prop_map(|(segment_max_bytes, segment_max_age_ms, index_interval_bytes, sync, cache)| Setup {
            segment_max_bytes,
            segment_max_age_ms,
            index_interval_bytes,
            sync,
            cache,
        })
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct MRecord {
    offset: u64,
    arrival_ms: i64,
    key: Vec<u8>,
    hash: Option<u128>,
    data: Vec<u8>,
    batch: u64,
}

#[derive(Debug, Clone)]
struct MSegment {
    base: u64,
    created_ms: i64,
    bytes: u64,
}

#[derive(Debug)]
struct Model {
    /// Retained records, in offset order, all at or above `start`.
    records: Vec<MRecord>,
    /// Retained segments, oldest first; the last is the active one.
    segments: Vec<MSegment>,
    start: u64,
    next: u64,
    last_arrival_ms: i64,
    batches: u64,
    cfg: Setup,
}

const HEADER: u64 = shardlog::segment::SEGMENT_HEADER_LEN;

impl Model {
    fn new(cfg: Setup, now: i64) -> Model {
        Model {
            records: Vec::new(),
            segments: vec![MSegment { base: 0, created_ms: now, bytes: HEADER }],
            start: 0,
            next: 0,
            last_arrival_ms: i64::MIN,
            batches: 0,
            cfg,
        }
    }

    fn end_of(&self, i: usize) -> u64 {
        self.segments.get(i + 1).map_or(self.next, |s| s.base)
    }

    /// Newest arrival in segment `i` (it must hold records).
    fn max_arrival_of(&self, i: usize) -> Option<i64> {
        let (base, end) = (self.segments[i].base, self.end_of(i));
        self.records.iter().rev().find(|r| r.offset >= base && r.offset < end).map(|r| r.arrival_ms)
    }

    fn roll(&mut self, now: i64) {
        self.segments.push(MSegment { base: self.next, created_ms: now, bytes: HEADER });
    }

    /// `append`: the roll rules of `Inner::append`, then the batch.
    fn append(&mut self, recs: &[(Vec<u8>, Option<u128>, Vec<u8>)], needed: u64, now: i64) -> (u64, u64, i64) {
        let arrival = now.max(self.last_arrival_ms);
        let active = self.segments.last().unwrap();
        let has_data = active.bytes > HEADER;
        let too_big = active.bytes + needed > self.cfg.segment_max_bytes;
        let too_old =
            self.cfg.segment_max_age_ms.is_some_and(|age| now.saturating_sub(active.created_ms) >= age as i64);
        if has_data && (too_big || too_old) {
            self.roll(now);
        }
        self.segments.last_mut().unwrap().bytes += needed;
        let first = self.next;
        self.batches += 1;
        for (k, h, d) in recs {
            self.records.push(MRecord {
                offset: self.next,
                arrival_ms: arrival,
                key: k.clone(),
                hash: *h,
                data: d.clone(),
                batch: self.batches,
            });
            self.next += 1;
        }
        self.last_arrival_ms = arrival;
        (first, self.next, arrival)
    }

    /// `read(from, max_records, max_bytes)`: records and `next_offset`. Byte limits act
    /// per record, and an exhausted byte budget is noticed at the end of a batch (so
    /// zero-byte records of the same batch still come along).
    fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> (Vec<&MRecord>, u64) {
        let mut next = from.max(self.start);
        if next >= self.next || max_records == 0 {
            return (Vec::new(), next);
        }
        let mut budget = max_bytes.max(1);
        let mut out: Vec<&MRecord> = Vec::new();
        for r in self.records.iter().filter(|r| r.offset >= next) {
            if out.len() == max_records {
                break;
            }
            if budget == 0 && out.last().is_some_and(|l| l.batch != r.batch) {
                break;
            }
            let size = r.key.len() + r.data.len();
            if size > budget && !out.is_empty() {
                break;
            }
            budget = budget.saturating_sub(size);
            out.push(r);
        }
        next = out.last().map_or(next, |r| r.offset + 1);
        (out, next)
    }

    fn offset_for_time(&self, t: i64) -> u64 {
        self.records.iter().find(|r| r.arrival_ms >= t).map_or(self.next, |r| r.offset)
    }

    /// Drop the first `doomed` segments; returns (segments removed, bytes removed, start).
    fn drop_segments(&mut self, doomed: usize) -> (usize, u64, u64) {
        if doomed == 0 {
            return (0, 0, self.start);
        }
        let new_start = self.end_of(doomed - 1);
        let bytes = self.segments[..doomed].iter().map(|s| s.bytes).sum();
        self.segments.drain(..doomed);
        self.records.retain(|r| r.offset >= new_start);
        self.start = new_start;
        (doomed, bytes, new_start)
    }

    fn trim_before(&mut self, cutoff: i64, now: i64) -> (usize, u64, u64) {
        let sealed = self.segments.len() - 1;
        let mut doomed = 0;
        while doomed < sealed && self.max_arrival_of(doomed).unwrap() < cutoff {
            doomed += 1;
        }
        if doomed == sealed && self.segments[sealed].bytes > HEADER && self.max_arrival_of(sealed).unwrap() < cutoff {
            self.roll(now);
            doomed += 1;
        }
        self.drop_segments(doomed)
    }

    fn trim_to_size(&mut self, max_bytes: u64) -> (usize, u64, u64) {
        let total: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let mut excess = total.saturating_sub(max_bytes);
        let mut doomed = 0;
        while doomed < self.segments.len() - 1 && excess > 0 {
            excess = excess.saturating_sub(self.segments[doomed].bytes);
            doomed += 1;
        }
        self.drop_segments(doomed)
    }

    /// What a reopened log remembers as its newest arrival: the newest retained record's.
    fn reopened(&mut self) {
        self.last_arrival_ms = self.records.last().map_or(i64::MIN, |r| r.arrival_ms);
    }
}

// ---------------------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------------------

fn config(s: &Setup) -> LogConfig {
    LogConfig {
        segment_max_bytes: s.segment_max_bytes,
        segment_max_age: s.segment_max_age_ms.map(Duration::from_millis),
        index_interval_bytes: s.index_interval_bytes,
        durability: if s.sync { Durability::Sync } else { Durability::Buffered },
        sealing: Sealing::Deferred,
        ..LogConfig::default()
    }
}

fn open(sim: &SimVfs, clock: &ManualClock, s: &Setup) -> ShardLog {
    let mut o = LogOptions::new(config(s)).with_vfs(sim.shared()).with_clock(Arc::new(clock.clone()));
    o.cache = SegmentCache::new(s.cache);
    ShardLog::open(Path::new(DIR), o).unwrap()
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)+)));
        }
    };
}

fn same_record(got: &Record, want: &MRecord) -> Result<(), TestCaseError> {
    check!(got.offset == want.offset, "offset {} where the model has {}", got.offset, want.offset);
    check!(
        got.arrival_ms == want.arrival_ms,
        "offset {}: arrival {} vs model {}",
        got.offset,
        got.arrival_ms,
        want.arrival_ms
    );
    check!(got.partition_key == want.key, "offset {}: key {:?} vs model {:?}", got.offset, got.partition_key, want.key);
    check!(got.explicit_hash_key == want.hash, "offset {}: hash key differs", got.offset);
    check!(
        got.data == want.data,
        "offset {}: data ({} bytes) differs from the model's ({} bytes)",
        got.offset,
        got.data.len(),
        want.data.len()
    );
    Ok(())
}

fn same_read(log: &ShardLog, m: &Model, from: u64, max_records: usize, max_bytes: usize) -> Result<(), TestCaseError> {
    let got = log.read(from, max_records, max_bytes).map_err(|e| TestCaseError::fail(format!("read({from}): {e}")))?;
    let (want, want_next) = m.read(from, max_records, max_bytes);
    check!(
        got.records.len() == want.len(),
        "read({from}, {max_records}, {max_bytes}): {} records, model {} (offsets {:?} vs {:?})",
        got.records.len(),
        want.len(),
        got.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        want.iter().map(|r| r.offset).collect::<Vec<_>>()
    );
    for (g, w) in got.records.iter().zip(&want) {
        same_record(g, w)?;
    }
    check!(
        got.next_offset == want_next,
        "read({from}, {max_records}, {max_bytes}): next_offset {} vs model {want_next}",
        got.next_offset
    );
    Ok(())
}

/// Watermark, start, segment layout, and every record (read in a few differently sized steps).
fn same_state(log: &ShardLog, m: &Model, deep: bool) -> Result<(), TestCaseError> {
    check!(log.high_watermark() == m.next, "high-watermark {} vs model {}", log.high_watermark(), m.next);
    check!(log.start_offset() == m.start, "start offset {} vs model {}", log.start_offset(), m.start);
    let segs = log.segments();
    let layout: Vec<(u64, u64, bool)> = segs.iter().map(|s| (s.base_offset, s.end_offset, s.sealed)).collect();
    let want: Vec<(u64, u64, bool)> =
        (0..m.segments.len()).map(|i| (m.segments[i].base, m.end_of(i), i + 1 < m.segments.len())).collect();
    check!(layout == want, "segments {layout:?} vs model {want:?}");
    for (s, w) in segs.iter().zip(&m.segments) {
        check!(s.bytes == 0 || s.bytes == w.bytes, "segment {}: {} bytes vs model {}", s.base_offset, s.bytes, w.bytes);
    }
    if !deep {
        return Ok(());
    }
    // Whole log from before the start, in steps of 7 records: dense, equal to the model.
    let mut next = 0;
    let mut seen = 0;
    loop {
        let r = log.read(next, 7, usize::MAX).map_err(|e| TestCaseError::fail(format!("read({next}): {e}")))?;
        if r.records.is_empty() {
            check!(r.next_offset == next.max(m.start), "empty read at {next} returned next {}", r.next_offset);
            break;
        }
        for rec in &r.records {
            let Some(w) = m.records.get(seen) else {
                return Err(TestCaseError::fail(format!("record {} beyond the model", rec.offset)));
            };
            same_record(rec, w)?;
            seen += 1;
        }
        next = r.next_offset;
    }
    check!(seen == m.records.len(), "read {seen} records, model retains {}", m.records.len());
    Ok(())
}

/// What a run went through (for the scripted test's coverage checks).
#[derive(Debug, Default)]
struct Seen {
    max_segments: usize,
    segments_trimmed: usize,
    reopens: usize,
    records: u64,
}

fn run(setup: Setup, ops: Vec<Op>) -> Result<Seen, TestCaseError> {
    let mut seen = Seen::default();
    let clock = ManualClock::new(T0);
    let mut sim = SimVfs::new();
    let mut log = open(&sim, &clock, &setup);
    let mut m = Model::new(setup.clone(), T0);
    same_state(&log, &m, true)?;
    for (step, op) in ops.into_iter().enumerate() {
        let now = clock.now_ms();
        match op {
            Op::Append(new) => {
                let owned: Vec<(Vec<u8>, Option<u128>, Vec<u8>)> =
                    new.iter().map(|n| (n.key.clone(), n.hash, payload(n.seed, n.len))).collect();
                let refs: Vec<RecordRef<'_>> = owned
                    .iter()
                    .map(|(k, h, d)| RecordRef { partition_key: k, explicit_hash_key: *h, data: d })
                    .collect();
                let needed = batch::encoded_len(&refs) as u64;
                let a = log.append(&refs).map_err(|e| TestCaseError::fail(format!("step {step}: append: {e}")))?;
                let (first, next, arrival) = m.append(&owned, needed, now);
                check!(
                    (a.first_offset, a.next_offset, a.arrival_ms) == (first, next, arrival),
                    "step {step}: appended {a:?}, model ({first}, {next}, {arrival})"
                );
            }
            Op::Read { pick, far, max_records, max_bytes } => {
                let from = if far { u64::MAX - u64::from(pick % 3) } else { u64::from(pick) % (m.next + 4) };
                same_read(&log, &m, from, max_records, max_bytes)?;
            }
            Op::OffsetForTime { pick } => {
                let lo = m.records.first().map_or(now, |r| r.arrival_ms) - 10;
                let span = (now.max(m.last_arrival_ms) - lo + 20).max(1) as u64;
                let t = lo + (u64::from(pick) % span) as i64;
                let got = log.offset_for_time(t).map_err(|e| TestCaseError::fail(format!("offset_for_time: {e}")))?;
                check!(
                    got == m.offset_for_time(t),
                    "step {step}: offset_for_time({t}) = {got}, model {}",
                    m.offset_for_time(t)
                );
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            Op::ClockBack(ms) => clock.set_ms(now - ms as i64),
            Op::TrimBefore { pick } => {
                // Half the time exactly around a retained record's arrival (the `<` edge).
                let cutoff = match m.records.get((pick / 4) as usize % m.records.len().max(1)) {
                    Some(r) if pick % 2 == 0 => r.arrival_ms + i64::from(pick / 2 % 3) - 1,
                    _ => {
                        let lo = m.records.first().map_or(now, |r| r.arrival_ms) - 2;
                        let span = (now.max(m.last_arrival_ms) - lo + 4).max(1) as u64;
                        lo + (u64::from(pick) % span) as i64
                    }
                };
                let out = log.trim_before(cutoff).map_err(|e| TestCaseError::fail(format!("trim_before: {e}")))?;
                let want = m.trim_before(cutoff, now);
                seen.segments_trimmed += want.0;
                check!(
                    (out.segments_removed, out.bytes_removed, out.start_offset) == want,
                    "step {step}: trim_before({cutoff}) = {out:?}, model {want:?}"
                );
                same_state(&log, &m, true)?;
            }
            Op::TrimToSize { pick } => {
                let total: u64 = m.segments.iter().map(|s| s.bytes).sum();
                // Mostly at a segment boundary ± 1 byte (where "excess" runs out exactly).
                let max = if pick % 4 == 0 {
                    u64::from(pick) % (total + 64)
                } else {
                    let k = (pick / 4) as usize % m.segments.len();
                    let kept: u64 = m.segments[k..].iter().map(|s| s.bytes).sum();
                    (kept + u64::from(pick / 2 % 3)).saturating_sub(1)
                };
                let out = log.trim_to_size(max).map_err(|e| TestCaseError::fail(format!("trim_to_size: {e}")))?;
                let want = m.trim_to_size(max);
                seen.segments_trimmed += want.0;
                check!(
                    (out.segments_removed, out.bytes_removed, out.start_offset) == want,
                    "step {step}: trim_to_size({max}) of {total} = {out:?}, model {want:?}"
                );
                same_state(&log, &m, true)?;
            }
            Op::Reopen => {
                log.close().map_err(|e| TestCaseError::fail(format!("close: {e}")))?;
                drop(log);
                log = open(&sim, &clock, &setup);
                m.reopened();
                seen.reopens += 1;
                same_state(&log, &m, true)?;
            }
            Op::Crash => {
                // Under Sync every acknowledged byte was synced: a power cut keeps them all.
                // Under Buffered the crash keeps every write (a process crash).
                let crashed = if setup.sync {
                    sim.power_cut()
                } else {
                    sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::DropUnsynced)
                };
                drop(log);
                sim = crashed;
                log = open(&sim, &clock, &setup);
                m.reopened();
                seen.reopens += 1;
                same_state(&log, &m, true)?;
            }
        }
        seen.max_segments = seen.max_segments.max(m.segments.len());
        same_state(&log, &m, false).map_err(|e| TestCaseError::fail(format!("after step {step}: {e}")))?;
        check!(log.poisoned().is_none(), "step {step}: log poisoned: {:?}", log.poisoned());
    }
    same_state(&log, &m, true)?;
    // Every record individually, and a time lookup at each retained arrival.
    for r in &m.records {
        same_read(&log, &m, r.offset, 1, 0)?;
        let got = log.offset_for_time(r.arrival_ms).unwrap();
        check!(got == m.offset_for_time(r.arrival_ms), "offset_for_time({}) = {got}", r.arrival_ms);
    }
    seen.records = m.next;
    Ok(seen)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn shard_log_matches_the_model(setup in setup(), ops in proptest::collection::vec(op(), 1..60)) {
        run(setup, ops)?;
    }
}

/// A fixed sequence through every operation, so a broken model or generator cannot make the
/// property vacuous: rolls, trims of both kinds, reopen and crash all happen here.
#[test]
fn scripted_sequence_exercises_every_operation() {
    let rec = |len, seed| NewRecord { key: b"k".to_vec(), hash: Some(u128::from(seed)), len, seed };
    let mut ops = Vec::new();
    for i in 0..30u64 {
        ops.push(Op::Append(vec![rec(100, i), rec(0, i + 100)]));
        ops.push(Op::Advance(10));
    }
    ops.extend([
        Op::Read { pick: 5, far: false, max_records: 10, max_bytes: 150 },
        Op::OffsetForTime { pick: 77 },
        Op::TrimBefore { pick: 120 },
        Op::Reopen,
        Op::TrimToSize { pick: 900 },
        Op::Crash,
        Op::ClockBack(500),
        Op::Append(vec![rec(3, 1)]),
        Op::Advance(5000),
        Op::TrimBefore { pick: u32::MAX },
        Op::Reopen,
        Op::Append(vec![rec(3, 2)]),
    ]);
    for sync in [false, true] {
        let setup =
            Setup { segment_max_bytes: 600, segment_max_age_ms: Some(1000), index_interval_bytes: 50, sync, cache: 1 };
        let seen = run(setup, ops.clone()).unwrap();
        assert!(seen.max_segments >= 4, "no rolls: {seen:?}");
        assert!(seen.segments_trimmed >= 2, "no trims: {seen:?}");
        assert_eq!(seen.reopens, 3, "{seen:?}");
        assert_eq!(seen.records, 62);
    }
}
