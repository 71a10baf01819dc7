//! Concurrency on real files: many appenders and tailing readers on one shard, group commit
//! shared across shards, and retention deleting segments under readers.
//!
//! Every thread is joined with a deadline: a hung thread fails the test instead of hanging
//! it, and a panicking one fails it with its own message. Readers block in `wait_past`
//! (woken by the appends themselves), never in a sleep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use shardlog::io::{RealVfs, VfsRef};
use shardlog::{Durability, LogOptions, ManualClock, Record, RecordRef, SegmentCache, ShardLog, SyncGroup};

/// Longest any single test may run before it is declared hung.
const DEADLINE: Duration = Duration::from_secs(120);

fn real() -> VfsRef {
    RealVfs::shared()
}

type Outcome<T> = std::thread::Result<T>;

/// A thread whose result (or panic) arrives on a channel, so it can be awaited with a deadline.
struct Bounded<T> {
    name: String,
    rx: mpsc::Receiver<Outcome<T>>,
}

fn spawn_bounded<T: Send + 'static>(name: impl Into<String>, f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    let name = name.into();
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .unwrap();
    Bounded { name, rx }
}

impl<T> Bounded<T> {
    /// The thread's result; panics (failing the test) if it panicked or is still running at
    /// `deadline`. A hung thread is left behind: the failing test process ends it.
    fn join_by(self, deadline: Instant) -> T {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(Ok(v)) => v,
            Ok(Err(panic)) => {
                eprintln!("thread {} panicked", self.name);
                std::panic::resume_unwind(panic)
            }
            Err(_) => panic!("thread {} did not finish in time (hung?)", self.name),
        }
    }
}

/// The payload of producer `p`'s record number `seq`: its identity, then deterministic bytes.
fn produced(p: u8, seq: u32) -> (Vec<u8>, Vec<u8>) {
    let id = (u64::from(p) << 32) | u64::from(seq);
    let len = (id.wrapping_mul(2_654_435_761) % 200) as usize;
    let mut data = vec![p];
    data.extend_from_slice(&seq.to_le_bytes());
    data.extend_from_slice(&payload(id, len));
    (format!("p{p}-{}", seq % 7).into_bytes(), data)
}

/// Check a record against what its producer wrote; returns `(producer, seq)`.
fn identify(r: &Record) -> (u8, u32) {
    assert!(r.data.len() >= 5, "offset {}: data too short to carry an identity: {:?}", r.offset, r.data);
    let p = r.data[0];
    let seq = u32::from_le_bytes(r.data[1..5].try_into().unwrap());
    let (k, d) = produced(p, seq);
    assert_eq!(r.partition_key, k, "offset {}: key of producer {p} seq {seq}", r.offset);
    assert_eq!(r.data, d, "offset {}: data of producer {p} seq {seq} differs", r.offset);
    assert_eq!(r.explicit_hash_key, None);
    (p, seq)
}

/// Append `per_producer` records of producer `p`, 1–3 per append; returns the acked offsets
/// of each record in sequence order.
fn produce(log: &ShardLog, p: u8, per_producer: u32) -> Vec<u64> {
    let mut acked = Vec::with_capacity(per_producer as usize);
    let mut seq = 0u32;
    while seq < per_producer {
        let n = (1 + (seq + u32::from(p)) % 3).min(per_producer - seq);
        let owned: Vec<(Vec<u8>, Vec<u8>)> = (seq..seq + n).map(|s| produced(p, s)).collect();
        let refs: Vec<RecordRef<'_>> = owned.iter().map(|(k, d)| RecordRef::new(k, d)).collect();
        let a = log.append(&refs).unwrap();
        assert_eq!(a.next_offset - a.first_offset, u64::from(n), "one offset per record");
        // Acknowledged means visible: the watermark already covers the append.
        let hw = log.high_watermark();
        assert!(hw >= a.next_offset, "append acked up to {} but high-watermark is {hw}", a.next_offset);
        acked.extend(a.first_offset..a.next_offset);
        seq += n;
    }
    acked
}

/// What one tailing reader saw: `(producer, seq)` at each offset, from 0.
fn tail(log: &ShardLog, total: u64, reader: u64, deadline: Instant) -> Vec<(u8, u32)> {
    let mut seen = Vec::with_capacity(total as usize);
    let mut last_seq: HashMap<u8, u32> = HashMap::new();
    let mut next = 0u64;
    let mut round = 0u64;
    while next < total {
        assert!(Instant::now() < deadline, "reader {reader} stuck at offset {next} of {total}");
        round += 1;
        // Vary the limits so reads stop at record, byte and batch boundaries.
        let max_records = 1 + ((round * 7 + reader * 3) % 40) as usize;
        let max_bytes = if round.is_multiple_of(5) { 1 } else { 64 + ((round * 131) % 8192) as usize };
        let r = log.read(next, max_records, max_bytes).unwrap();
        let hw_after = log.high_watermark();
        assert!(r.records.len() <= max_records);
        for rec in &r.records {
            assert_eq!(
                rec.offset, next,
                "reader {reader}: gap or reorder (expected offset {next}, got {})",
                rec.offset
            );
            assert!(
                rec.offset < hw_after,
                "reader {reader}: offset {} at or past the watermark {hw_after}",
                rec.offset
            );
            let (p, seq) = identify(rec);
            let expect = last_seq.get(&p).map_or(0, |s| s + 1);
            assert_eq!(seq, expect, "reader {reader}: producer {p}'s records out of order at offset {}", rec.offset);
            last_seq.insert(p, seq);
            seen.push((p, seq));
            next += 1;
        }
        assert_eq!(r.next_offset, next, "reader {reader}: next_offset must be one past the last record returned");
        assert!(
            r.next_offset <= hw_after,
            "reader {reader}: next_offset {} past the watermark {hw_after}",
            r.next_offset
        );
        if r.records.is_empty() {
            // Caught up: block until an append publishes more (bounded, never a sleep).
            log.wait_past(next, WAIT);
        }
    }
    // Nothing beyond the total ever appears.
    let r = log.read(total, 10, 1 << 20).unwrap();
    assert!(r.records.is_empty(), "reader {reader}: records past the total {total}");
    seen
}

fn appenders_and_tailers(durability: Durability, per_producer: u32) {
    const PRODUCERS: u8 = 4;
    const READERS: u64 = 3;
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    // Small segments: dozens of rolls happen while readers tail.
    let log = ShardLog::open(dir.path(), options(real(), &clock, small_config(4096, durability))).unwrap();
    let total = u64::from(PRODUCERS) * u64::from(per_producer);

    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let log = log.clone();
            spawn_bounded(format!("reader-{i}"), move || tail(&log, total, i, deadline))
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let log = log.clone();
            spawn_bounded(format!("producer-{p}"), move || produce(&log, p, per_producer))
        })
        .collect();

    // Acked offsets: each producer's in increasing order, all distinct, together 0..total.
    let mut owner: Vec<Option<(u8, u32)>> = vec![None; total as usize];
    for (p, h) in producers.into_iter().enumerate() {
        let acked = h.join_by(deadline);
        assert_eq!(acked.len(), per_producer as usize);
        assert!(acked.windows(2).all(|w| w[0] < w[1]), "producer {p}: acked offsets not increasing");
        for (seq, off) in acked.into_iter().enumerate() {
            let slot = &mut owner[off as usize];
            assert!(slot.is_none(), "offset {off} acked twice");
            *slot = Some((p as u8, seq as u32));
        }
    }
    let owner: Vec<(u8, u32)> = owner.into_iter().map(Option::unwrap).collect();
    assert_eq!(log.high_watermark(), total);
    assert!(log.segments().len() > 5, "expected rolls during the run, got {} segments", log.segments().len());

    // Every reader saw exactly the acked records, each once, in offset order.
    for (i, r) in readers.into_iter().enumerate() {
        let seen = r.join_by(deadline);
        assert_eq!(seen.len() as u64, total, "reader {i}");
        assert!(seen == owner, "reader {i} saw records at other offsets than they were acked at");
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len() as u64, total);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
        assert_eq!(identify(r), owner[i]);
    }
    log.close().unwrap();
}

#[test]
fn buffered_appenders_and_tailing_readers_see_one_dense_order() {
    appenders_and_tailers(Durability::Buffered, 1000);
}

#[test]
fn sync_appenders_and_tailing_readers_see_one_dense_order() {
    appenders_and_tailers(Durability::Sync, 150);
}

#[test]
fn group_commit_shares_fdatasyncs_across_shards() {
    const SHARDS: usize = 3;
    const PRODUCERS: usize = 8;
    const APPENDS: u32 = 60;
    let deadline = Instant::now() + DEADLINE;
    let root = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(7_000);
    let group = SyncGroup::new();
    let logs: Vec<ShardLog> = (0..SHARDS)
        .map(|s| {
            let mut o: LogOptions = options(real(), &clock, small_config(16 * 1024, Durability::Sync));
            o.sync_group = Arc::clone(&group);
            ShardLog::open(root.path().join(format!("shard-{s}")), o).unwrap()
        })
        .collect();

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let logs = logs.clone();
            spawn_bounded(format!("producer-{p}"), move || {
                let mut acked = Vec::new();
                for seq in 0..APPENDS {
                    let shard = (p + seq as usize) % SHARDS;
                    let (k, d) = produced(p as u8, seq);
                    let a = logs[shard].append(&[RecordRef::new(&k, &d)]).unwrap();
                    assert!(logs[shard].high_watermark() >= a.next_offset, "acked but not visible");
                    acked.push((shard, a.first_offset, p as u8, seq));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for h in producers {
        acked.extend(h.join_by(deadline));
    }
    assert_eq!(acked.len(), PRODUCERS * APPENDS as usize);

    // Every acknowledged record is readable at its acked offset, intact.
    for &(shard, off, p, seq) in &acked {
        let r = logs[shard].read(off, 1, usize::MAX).unwrap();
        assert_eq!(r.records.len(), 1, "shard {shard} offset {off} missing");
        assert_eq!(r.records[0].offset, off);
        assert_eq!(identify(&r.records[0]), (p, seq));
    }
    let per_shard: Vec<u64> = logs.iter().map(ShardLog::high_watermark).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), acked.len() as u64);

    let stats = group.stats();
    eprintln!("group commit over {SHARDS} shards, {PRODUCERS} producers: {stats:?}");
    assert!(stats.waits > 0 && stats.rounds > 0, "Sync appends must go through the group: {stats:?}");
    assert!(stats.waits <= acked.len() as u64, "{stats:?}");
    assert!(stats.syncs >= stats.rounds, "{stats:?}");
    assert!(stats.syncs < stats.waits, "fdatasyncs were not shared between producers: {stats:?}");
    for log in logs {
        log.close().unwrap();
    }
}

/// A log of `n` records 1 ms apart in many small segments, with a loaded-segment cache of
/// `cache` entries; returns it and its records.
fn filled(dir: &std::path::Path, clock: &ManualClock, n: u64, cache: usize) -> (ShardLog, Vec<Record>) {
    let mut o = options(real(), clock, small_config(2048, Durability::Buffered));
    o.cache = SegmentCache::new(cache);
    let log = ShardLog::open(dir, o).unwrap();
    for i in 0..n {
        append_one(&log, i, 40 + (i % 50) as usize).unwrap();
        clock.advance(Duration::from_millis(1));
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len() as u64, n);
    (log, all)
}

#[test]
fn trimmed_segments_stay_valid_in_readers_hands() {
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let (log, all) = filled(dir.path(), &clock, 400, 64);
    let segs = log.segments();
    assert!(segs.len() >= 6, "need several segments, got {}", segs.len());
    let doomed_end = segs[3].end_offset; // segments 0..=3 go

    // A reader takes records out of the first segments (memory-mapped, sealed) and keeps them.
    let (to_trim_tx, to_trim_rx) = mpsc::channel::<Vec<Record>>();
    let (trimmed_tx, trimmed_rx) = mpsc::channel::<u64>();
    let holder = {
        let log = log.clone();
        spawn_bounded("holder", move || {
            let held = log.read(0, 1000, usize::MAX).unwrap().records;
            let position = 5u64; // a second cursor, inside the doomed range
            let copies: Vec<(Vec<u8>, Vec<u8>)> =
                held.iter().map(|r| (r.partition_key.to_vec(), r.data.to_vec())).collect();
            to_trim_tx.send(held.clone()).unwrap();
            let new_start = trimmed_rx.recv_timeout(WAIT).expect("trim did not happen");
            // The segment files are gone; the held bytes are still the same bytes.
            for (r, (k, d)) in held.iter().zip(&copies) {
                assert_eq!(&r.partition_key[..], &k[..], "offset {} key changed after trim", r.offset);
                assert_eq!(&r.data[..], &d[..], "offset {} data changed after trim", r.offset);
                assert_eq!(r.data, payload(r.offset, r.data.len()));
            }
            // A cursor inside the trimmed range continues exactly at the new start.
            let r = log.read(position, 3, usize::MAX).unwrap();
            assert_eq!(r.records.first().map(|r| r.offset), Some(new_start), "read from a trimmed offset");
            assert_eq!(r.next_offset, new_start + r.records.len() as u64);
            held.len()
        })
    };
    let held = to_trim_rx.recv_timeout(WAIT).unwrap();
    assert!(held.last().unwrap().offset >= segs[1].base_offset, "the held records span several segments");
    // Records of segments 0..=3 arrived before this cutoff, those of segment 4 not.
    let cutoff = all[doomed_end as usize].arrival_ms;
    let out = log.trim_before(cutoff).unwrap();
    assert_eq!(out.start_offset, doomed_end);
    assert_eq!(out.segments_removed, 4);
    for s in &segs[..4] {
        assert!(!s.path.exists(), "{} should be deleted", s.path.display());
    }
    trimmed_tx.send(out.start_offset).unwrap();
    assert!(holder.join_by(deadline) > 0);
    assert_eq!(log.start_offset(), doomed_end);
    // Nothing below the horizon is served, and what remains is intact.
    let rest = read_all(&log, 0);
    assert_eq!(rest.first().unwrap().offset, doomed_end);
    assert_eq!(rest, all[doomed_end as usize..]);
}

#[test]
fn readers_racing_retention_skip_to_the_new_start_and_never_see_garbage() {
    let deadline = Instant::now() + DEADLINE;
    let mut skips = 0;
    // Trims of 1, 2 and 3 segments at a time; a tiny segment cache so readers often find a
    // segment unloaded (and must map it again, racing its deletion).
    for (round, (step, cache)) in [(2, 1), (3, 2), (1, 1), (3, 1), (2, 2), (1, 64)].into_iter().enumerate() {
        skips += race_retention(step, cache, round as u64, deadline);
    }
    assert!(skips > 0, "readers never started in a trimmed range");
}

/// Count of reads done by the readers, awaitable (bounded) without polling.
#[derive(Default)]
struct Progress {
    count: Mutex<u64>,
    more: Condvar,
}

impl Progress {
    fn add(&self) {
        *self.count.lock().unwrap() += 1;
        self.more.notify_all();
    }

    fn count(&self) -> u64 {
        *self.count.lock().unwrap()
    }

    fn wait_past(&self, seen: u64, deadline: Instant) {
        let mut c = self.count.lock().unwrap();
        while *c <= seen {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "readers made no progress");
            c = self.more.wait_timeout(c, left).unwrap().0;
        }
    }
}

fn race_retention(step: usize, cache: usize, round: u64, deadline: Instant) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let n = 500u64;
    let (log, all) = filled(dir.path(), &clock, n, cache);
    let all = Arc::new(all);
    let segs = log.segments();
    assert!(segs.len() > 10, "need many segments, got {}", segs.len());
    let bases: Arc<Vec<u64>> = Arc::new(segs.iter().map(|s| s.base_offset).collect());
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());

    // Readers repeatedly scan from offset 0 (always inside the trimmed range once trimming
    // starts) in small steps, holding every record until the end of their pass.
    let readers: Vec<_> = (0..2u64)
        .map(|i| {
            let (log, all, done, progress) = (log.clone(), Arc::clone(&all), Arc::clone(&done), Arc::clone(&progress));
            let bases = Arc::clone(&bases);
            spawn_bounded(format!("reader-{i}"), move || {
                let mut skips = 0u64;
                loop {
                    let last_pass = done.load(Ordering::Acquire);
                    let mut held: Vec<Record> = Vec::new();
                    let mut next = 0u64;
                    while next < n {
                        assert!(Instant::now() < deadline, "reader {i} stuck");
                        let start_before = log.start_offset();
                        let max = 1 + ((i + round) as usize * 5 + next as usize) % 29;
                        let r = log.read(next, max, usize::MAX).unwrap();
                        let start_after = log.start_offset();
                        let first = r.records.first().expect("records below the watermark exist").offset;
                        if first != next {
                            // Skipped only because the range was trimmed, to a horizon that
                            // was in force during the read.
                            assert!(first > next, "reader {i}: went backwards");
                            assert!(
                                (start_before..=start_after).contains(&first),
                                "reader {i}: from {next} jumped to {first}, start was {start_before}..{start_after}"
                            );
                            assert!(bases.contains(&first), "skip to a non-boundary {first}");
                            skips += 1;
                        }
                        for (j, rec) in r.records.iter().enumerate() {
                            assert_eq!(rec.offset, first + j as u64, "reader {i}: gap");
                            assert_eq!(rec, &all[rec.offset as usize], "reader {i}: wrong record");
                        }
                        next = r.next_offset;
                        held.extend(r.records);
                        progress.add();
                    }
                    // Held records stayed intact even if their segment was deleted meanwhile.
                    for rec in &held {
                        assert_eq!(rec, &all[rec.offset as usize], "reader {i}: held record changed");
                    }
                    if last_pass {
                        return skips;
                    }
                }
            })
        })
        .collect();

    // Trim while the readers run, letting them do a few reads in between (bounded wait), so
    // trims land anywhere in their passes.
    let mut start = 0u64;
    for s in segs[..segs.len() - 2].iter().skip(step - 1).step_by(step) {
        let p0 = progress.count();
        let cutoff = all[s.end_offset as usize].arrival_ms;
        let out = log.trim_before(cutoff).unwrap();
        assert_eq!(out.start_offset, s.end_offset, "trimmed exactly up to segment {}", s.base_offset);
        assert!(out.start_offset > start);
        start = out.start_offset;
        progress.wait_past(p0 + 3, deadline);
    }
    done.store(true, Ordering::Release);
    let skips: u64 = readers.into_iter().map(|r| r.join_by(deadline)).sum();
    assert_eq!(log.start_offset(), start);
    assert_eq!(read_all(&log, 0), all[start as usize..]);
    skips
}

/// Bug 1 of issue 12, as a scheduled interleaving (no threads, no timing): a trim lands right
/// after a reader fixed its view of the log, and deletes the segment the read starts in. The
/// read must skip to the new start (the segment's file is gone, nothing was loaded) and
/// never report the honest jump as corruption. Before the fix the reader took the horizon
/// and the segment list apart, so the trim could leave it starting before every listed
/// segment: `Corrupt { "batch starts at offset 264, but the read continues at offset 217" }`
/// (the `canary-read-horizon-apart` build plants that bug back and this test catches it).
#[test]
fn a_trim_right_after_a_read_fixed_its_view_makes_the_read_skip_to_the_new_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let (log, all) = filled(dir.path(), &clock, 300, 1);
    // Reopen: nothing is loaded, so the read must open the trimmed segment's file.
    log.close().unwrap();
    drop(log);
    let mut o = options(real(), &clock, small_config(2048, Durability::Buffered));
    o.cache = SegmentCache::new(1);
    let log = ShardLog::open(dir.path(), o).unwrap();
    let segs = log.segments();
    assert!(segs.len() > 6, "need several segments, got {}", segs.len());
    // The read starts inside segment 2; the trim removes segments 0..=3.
    let from = segs[2].base_offset + 1;
    let new_start = segs[3].end_offset;
    let cutoff = all[new_start as usize].arrival_ms;
    let trims = std::rc::Rc::new(std::cell::Cell::new(0));
    let guard = {
        let (log, trims) = (log.clone(), std::rc::Rc::clone(&trims));
        shardlog::hooks::on_this_thread(move |point| {
            if point == shardlog::hooks::HookPoint::ReadViewTaken && trims.get() == 0 {
                trims.set(1);
                let out = log.trim_before(cutoff).unwrap();
                assert_eq!(out.start_offset, new_start);
            }
        })
    };
    let r = log.read(from, 5, usize::MAX).expect("a read racing a trim is not corruption");
    drop(guard);
    assert_eq!(trims.get(), 1, "the trim ran inside the read");
    assert_eq!(log.start_offset(), new_start);
    assert_eq!(r.records.first().map(|r| r.offset), Some(new_start), "the read skips to the new start");
    assert_eq!(r.records, all[new_start as usize..new_start as usize + 5]);
    assert_eq!(r.next_offset, new_start + 5);
}

/// The same race when the segment was loaded (mapped) before the trim: the trim unloads it
/// (readers keep only the records they already hold), so the read finds it gone and skips to
/// the new start as well.
#[test]
fn a_trim_right_after_a_read_fixed_its_view_skips_a_loaded_segment_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let (log, all) = filled(dir.path(), &clock, 300, 64);
    let segs = log.segments();
    let from = segs[2].base_offset + 1;
    let new_start = segs[3].end_offset;
    let cutoff = all[new_start as usize].arrival_ms;
    let guard = {
        let log = log.clone();
        let mut done = false;
        shardlog::hooks::on_this_thread(move |point| {
            if point == shardlog::hooks::HookPoint::ReadViewTaken && !done {
                done = true;
                assert_eq!(log.trim_before(cutoff).unwrap().start_offset, new_start);
            }
        })
    };
    let r = log.read(from, 5, usize::MAX).expect("a read racing a trim is not corruption");
    drop(guard);
    assert!(!segs[2].path.exists(), "the segment was unlinked during the read");
    assert_eq!(r.records, all[new_start as usize..new_start as usize + 5]);
}

/// A file system that holds the background sealer's fdatasyncs at a gate until it is opened
/// (every other call passes straight through), and tells when the sealer is waiting there.
#[derive(Debug, Default)]
struct SealerGate {
    state: Mutex<(bool, usize)>, // (open, sealer calls waiting)
    changed: Condvar,
}

impl SealerGate {
    fn pass(&self) {
        if thread::current().name() != Some("shardlog-sealer") {
            return;
        }
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        self.changed.notify_all();
        while !s.0 {
            s = self.changed.wait(s).unwrap();
        }
        s.1 -= 1;
    }

    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.changed.notify_all();
    }

    fn wait_for_sealer(&self, deadline: Instant) {
        let mut s = self.state.lock().unwrap();
        while s.1 == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the sealer never reached the gate");
            s = self.changed.wait_timeout(s, left).unwrap().0;
        }
    }
}

#[derive(Debug)]
struct GatedVfs {
    inner: VfsRef,
    gate: Arc<SealerGate>,
}

#[derive(Debug)]
struct GatedFile {
    inner: shardlog::io::FileRef,
    gate: Arc<SealerGate>,
}

impl GatedVfs {
    fn wrap(&self, f: std::io::Result<shardlog::io::FileRef>) -> std::io::Result<shardlog::io::FileRef> {
        f.map(|inner| Arc::new(GatedFile { inner, gate: Arc::clone(&self.gate) }) as shardlog::io::FileRef)
    }
}

impl shardlog::io::VfsFile for GatedFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.gate.pass();
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn map(&self) -> std::io::Result<bytes::Bytes> {
        self.inner.map()
    }
    fn view(&self, range: std::ops::Range<u64>, reserve: u64) -> std::io::Result<bytes::Bytes> {
        self.inner.view(range, reserve)
    }
}

impl shardlog::io::Vfs for GatedVfs {
    fn create_dir_all(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn create_new(&self, path: &std::path::Path) -> std::io::Result<shardlog::io::FileRef> {
        self.wrap(self.inner.create_new(path))
    }
    fn create(&self, path: &std::path::Path) -> std::io::Result<shardlog::io::FileRef> {
        self.wrap(self.inner.create(path))
    }
    fn open_rw(&self, path: &std::path::Path) -> std::io::Result<shardlog::io::FileRef> {
        self.wrap(self.inner.open_rw(path))
    }
    fn open_read(&self, path: &std::path::Path) -> std::io::Result<shardlog::io::FileRef> {
        self.wrap(self.inner.open_read(path))
    }
    fn read_dir(&self, path: &std::path::Path) -> std::io::Result<Vec<shardlog::io::DirEntry>> {
        self.inner.read_dir(path)
    }
    fn exists(&self, path: &std::path::Path) -> bool {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock(&self, path: &std::path::Path) -> std::io::Result<Box<dyn shardlog::io::LockGuard>> {
        self.inner.lock(path)
    }
}

/// The background sealer holds a log only while it works on it. Dropping the last user
/// handle while the sealer is in the middle of a seal still closes the log in the dropping
/// thread: when `drop` returns the log is synced, marked clean, and its directory lock is
/// free, so it reopens at once (before, the sealer became the log's last owner and closed it
/// later, on its own thread).
#[test]
fn dropping_the_last_handle_during_a_background_seal_closes_the_log_before_drop_returns() {
    let deadline = Instant::now() + DEADLINE;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let gate = Arc::new(SealerGate::default());
    let vfs: VfsRef = Arc::new(GatedVfs { inner: real(), gate: Arc::clone(&gate) });
    let log = ShardLog::open(dir.path(), options(vfs, &clock, small_config(2048, Durability::Buffered))).unwrap();
    let mut i = 0;
    while log.segments().len() < 2 {
        append_one(&log, i, 100).unwrap();
        i += 1;
    }
    // The roll queued a seal: the sealer is now holding the log, stopped at the gate.
    gate.wait_for_sealer(deadline);
    let guard = {
        let gate = Arc::clone(&gate);
        shardlog::hooks::on_this_thread(move |point| {
            if point == shardlog::hooks::HookPoint::LastHandleDropped {
                gate.open();
            }
        })
    };
    drop(log);
    drop(guard);
    let closed_cleanly = dir.path().join(shardlog::marker::CLEAN_FILE).exists();
    let reopened = ShardLog::open(dir.path(), options(real(), &clock, small_config(2048, Durability::Buffered)));
    gate.open();
    assert!(closed_cleanly, "the log was closed (clean marker written) before drop returned");
    let reopened = reopened.expect("the directory lock was released before drop returned");
    assert_eq!(reopened.high_watermark(), i);
}
