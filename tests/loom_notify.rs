//! Loom models of the commit/notify handshake and the shard's publication order (R8).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p shardlog --release --test loom_notify`
//! (compiles to nothing without `--cfg loom`).
//!
//! Every model uses the real [`Notifier`] (built on loom's primitives under `cfg(loom)`) and
//! mirrors the orderings of `src/shard.rs` and `src/segment.rs`. Log bytes are modelled as
//! atomics written and read with `Relaxed`: they stand for the file contents (`pwrite` and
//! `pread`/mmap give no ordering of their own), so only the shard's `Release`/`Acquire` chain
//! makes them visible, and loom reports any read that can see a stale value.
//!
//! - `handshake_*`: a writer stores data then `publish`es; readers wait (`wait_past_forever`,
//!   the condvar path), look at the watermark directly (the `read` path) or register a waker
//!   (the async path). They must see every byte below the watermark (no stale read, caught
//!   by the `canary-relaxed-publish` build) and must always be woken (no lost wake-up, caught
//!   by the `canary-notify-without-lock` build as a loom deadlock).
//! - `segment_roll_*`: appends, a roll (seal, push the new segment into the list) and more
//!   appends, against `ShardLog::read`'s walk of the list: every offset below the watermark
//!   is found. Two deliberately broken variants (publish before the push; an unclamped
//!   `next_offset`) must fail, proving the model can see those bugs.
//! - `retention_*`: a trim removing segments while a reader walks them: held segment data
//!   stays valid, a reader in the trimmed range continues at the new start, and one read
//!   never returns a gap (a broken variant without the fix must fail).
#![cfg(loom)]

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::task::{Wake, Waker};
use std::time::Instant;

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex, RwLock};
use loom::thread;
use shardlog::notify::Notifier;

/// Explore every interleaving of `f` with at most 3 preemptions; report the execution count.
fn check(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let counter = std::sync::Arc::new(StdAtomicUsize::new(0));
    let c = std::sync::Arc::clone(&counter);
    let started = Instant::now();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = counter.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("loom model {name}: {n} executions in {:.2?}", started.elapsed());
}

/// The "file bytes" of record `offset`: what a reader must see once the watermark covers it.
fn byte_of(offset: u64) -> u64 {
    0xB000 + offset
}

// ---------------------------------------------------------------------------------------
// 1. The commit/notify handshake
// ---------------------------------------------------------------------------------------

/// Two appends: each writes its record's bytes (Relaxed, like `pwrite`), then publishes.
fn writer(n: &Notifier, log: &[AtomicU64]) {
    for (off, slot) in log.iter().enumerate() {
        slot.store(byte_of(off as u64), Ordering::Relaxed);
        n.publish(off as u64 + 1);
    }
}

/// Everything below `hw` must be the writer's bytes, never the initial zero.
fn check_below(log: &[AtomicU64], hw: u64, who: &str) {
    assert!(hw as usize <= log.len(), "{who}: watermark {hw} past the log");
    for (off, slot) in log.iter().enumerate().take(hw as usize) {
        assert_eq!(
            slot.load(Ordering::Relaxed),
            byte_of(off as u64),
            "{who}: stale read of offset {off} below hw {hw}"
        );
    }
}

fn empty_log(len: usize) -> Arc<Vec<AtomicU64>> {
    Arc::new((0..len).map(|_| AtomicU64::new(0)).collect())
}

#[test]
fn handshake_blocking_readers_see_data_and_are_always_woken() {
    check("handshake_blocking", || {
        let n = Arc::new(Notifier::new(0));
        let log = empty_log(2);
        let readers: Vec<_> = [0u64, 1]
            .into_iter()
            .map(|offset| {
                let (n, log) = (Arc::clone(&n), Arc::clone(&log));
                thread::spawn(move || {
                    // A lost wake-up leaves this blocked forever: loom reports a deadlock.
                    let hw = n.wait_past_forever(offset);
                    assert!(hw > offset, "woken before the watermark passed {offset}");
                    check_below(&log, hw, "blocking reader");
                })
            })
            .collect();
        writer(&n, &log);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(n.high_watermark(), 2);
    });
}

#[test]
fn handshake_watermark_snapshot_covers_the_data() {
    // `ShardLog::read` loads the watermark (no lock) and reads below it.
    check("handshake_snapshot", || {
        let n = Arc::new(Notifier::new(0));
        let log = empty_log(2);
        let reader = {
            let (n, log) = (Arc::clone(&n), Arc::clone(&log));
            thread::spawn(move || {
                let first = n.high_watermark();
                check_below(&log, first, "snapshot reader");
                let second = n.high_watermark();
                assert!(second >= first, "the watermark went backwards: {first} then {second}");
                check_below(&log, second, "snapshot reader");
            })
        };
        writer(&n, &log);
        reader.join().unwrap();
    });
}

/// A waker that raises a flag (loom-visible) when woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

#[test]
fn handshake_registered_waker_is_always_woken() {
    check("handshake_waker", || {
        let n = Arc::new(Notifier::new(0));
        let log = empty_log(1);
        let reader = {
            let (n, log) = (Arc::clone(&n), Arc::clone(&log));
            thread::spawn(move || {
                let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
                let waker = Waker::from(std::sync::Arc::clone(&flag));
                if !n.register_waker(0, &waker) {
                    // Registered: the publish must wake us. A lost wake-up spins here until
                    // loom's branch limit fails the model.
                    while !flag.0.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                }
                let hw = n.high_watermark();
                assert!(hw > 0, "woken (or told ready) before the watermark passed 0");
                check_below(&log, hw, "waker reader");
            })
        };
        log[0].store(byte_of(0), Ordering::Relaxed);
        n.publish(1);
        reader.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// 2. Segment roll vs reader: the publication order of src/shard.rs
// ---------------------------------------------------------------------------------------

/// A segment as `src/segment.rs` publishes it. Its record slots stand for the file bytes.
struct Seg {
    base: u64,
    slots: Vec<AtomicU64>,
    /// Committed records (stands for `len`, the bytes of complete batches; `Release`).
    len: AtomicU64,
    end_offset: AtomicU64,
    sealed: AtomicBool,
    /// `Segment::state`: taken by `record_append` (index) and `seal`, and by `source`.
    state: Mutex<()>,
}

impl Seg {
    fn new(base: u64, capacity: usize) -> Seg {
        Seg {
            base,
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            len: AtomicU64::new(0),
            end_offset: AtomicU64::new(base),
            sealed: AtomicBool::new(false),
            state: Mutex::new(()),
        }
    }

    /// `Segment::record_append`: index under the state lock, then `len` and `end_offset`
    /// stored with `Release` (in that order) after the lock is released.
    fn record_append(&self, rel: u64) {
        drop(self.state.lock().unwrap());
        self.len.store(rel + 1, Ordering::Release);
        self.end_offset.store(self.base + rel + 1, Ordering::Release);
    }

    /// `Segment::seal`.
    fn seal(&self) {
        let _st = self.state.lock().unwrap();
        self.sealed.store(true, Ordering::Release);
    }

    /// `Segment::source` for the active segment: `len` loaded with `Acquire` under the lock.
    fn source_len(&self) -> u64 {
        let _st = self.state.lock().unwrap();
        self.len.load(Ordering::Acquire)
    }
}

/// The shard: its segment list (`RwLock`), and the notifier holding the watermark.
struct Shard {
    segments: RwLock<Vec<Arc<Seg>>>,
    notifier: Notifier,
    written: AtomicU64,
}

/// How the modelled writer orders a roll.
#[derive(Clone, Copy, PartialEq)]
enum RollOrder {
    /// As `Inner::roll` + `append`: seal, push the new segment, then append and publish.
    PushThenPublish,
    /// Broken: append to the new segment and publish before pushing it into the list.
    PublishThenPush,
}

/// `Inner::append` (buffered): write the bytes, `record_append`, `written` (Release); then
/// `ShardLog::append` publishes.
fn append(shard: &Shard, seg: &Seg, rel: u64) {
    let offset = seg.base + rel;
    seg.slots[rel as usize].store(byte_of(offset), Ordering::Relaxed);
    seg.record_append(rel);
    shard.written.store(offset + 1, Ordering::Release);
}

/// Segment A gets `per_segment[0]` records, then a roll, then segment B gets the rest.
fn roll_writer(shard: &Shard, per_segment: [u64; 2], order: RollOrder) {
    let a = Arc::clone(&shard.segments.read().unwrap()[0]);
    for rel in 0..per_segment[0] {
        append(shard, &a, rel);
        shard.notifier.publish(a.base + rel + 1);
    }
    // Roll (`Inner::roll`): fdatasync (not modelled), create B, seal A, push B.
    let b = Arc::new(Seg::new(per_segment[0], per_segment[1] as usize));
    a.seal();
    if order == RollOrder::PushThenPublish {
        shard.segments.write().unwrap().push(Arc::clone(&b));
    }
    for rel in 0..per_segment[1] {
        append(shard, &b, rel);
        shard.notifier.publish(b.base + rel + 1);
        if order == RollOrder::PublishThenPush && rel == 0 {
            shard.segments.write().unwrap().push(Arc::clone(&b));
        }
    }
}

/// `Inner::read(from, ∞, ∞)`: the records found and `next_offset`.
fn shard_read(shard: &Shard, from: u64, clamp_next: bool) -> (Vec<u64>, u64) {
    let hw = shard.notifier.high_watermark();
    let mut next = from;
    let mut out = Vec::new();
    if next >= hw {
        return (out, next);
    }
    // `segments_from`: a snapshot of the list under the read lock.
    let segs: Vec<Arc<Seg>> = shard.segments.read().unwrap().iter().map(Arc::clone).collect();
    for seg in segs {
        if seg.base >= hw {
            break;
        }
        if seg.end_offset.load(Ordering::Acquire) <= next && seg.sealed.load(Ordering::Acquire) {
            continue;
        }
        let len = seg.source_len();
        let mut done = false;
        for rel in 0..len {
            let offset = seg.base + rel;
            if offset >= hw {
                done = true;
                break;
            }
            if offset < next {
                continue;
            }
            let byte = seg.slots[rel as usize].load(Ordering::Relaxed);
            assert_eq!(byte, byte_of(offset), "stale bytes at offset {offset} below hw {hw}");
            out.push(offset);
        }
        if let Some(last) = out.last() {
            next = last + 1;
        }
        if done {
            break;
        }
        let end = seg.end_offset.load(Ordering::Acquire);
        next = next.max(if clamp_next { end.min(hw) } else { end });
    }
    for offset in from..hw {
        assert!(out.contains(&offset), "offset {offset} below hw {hw} not found (found {out:?})");
    }
    assert_eq!(out.len() as u64, hw - from, "records found: {out:?}, hw {hw}");
    assert_eq!(next, hw, "next_offset {next} is not one past the last record (hw {hw})");
    (out, next)
}

fn roll_model(per_segment: [u64; 2], order: RollOrder, clamp_next: bool) {
    let total = per_segment[0] + per_segment[1];
    let a = Arc::new(Seg::new(0, per_segment[0] as usize));
    let shard =
        Arc::new(Shard { segments: RwLock::new(vec![a]), notifier: Notifier::new(0), written: AtomicU64::new(0) });
    let reader = {
        let shard = Arc::clone(&shard);
        thread::spawn(move || {
            // A tailing reader: read, continue at next_offset, read again.
            let (first, next) = shard_read(&shard, 0, clamp_next);
            let (second, _) = shard_read(&shard, next, clamp_next);
            assert!(first.iter().chain(&second).copied().eq(0..first.len() as u64 + second.len() as u64));
        })
    };
    roll_writer(&shard, per_segment, order);
    reader.join().unwrap();
    assert_eq!(shard.notifier.high_watermark(), total);
    assert_eq!(shard.written.load(Ordering::Acquire), total);
}

#[test]
fn segment_roll_reader_finds_every_offset_below_the_watermark() {
    check("segment_roll", || roll_model([1, 1], RollOrder::PushThenPublish, true));
}

#[test]
fn segment_roll_reader_in_a_growing_active_segment() {
    check("segment_roll_growing", || roll_model([2, 0], RollOrder::PushThenPublish, true));
}

#[test]
fn segment_roll_reader_across_growth_and_roll() {
    check("segment_roll_growth_and_roll", || roll_model([2, 1], RollOrder::PushThenPublish, true));
}

#[test]
#[should_panic(expected = "not found")]
fn segment_roll_model_catches_publish_before_push() {
    check("segment_roll_broken_order", || roll_model([1, 1], RollOrder::PublishThenPush, true));
}

#[test]
#[should_panic(expected = "is not one past the last record")]
fn segment_roll_model_catches_an_unclamped_next_offset() {
    // The bug fixed in 1ff86b3: `next_offset` taken from an end offset the watermark did not
    // cover yet, so a tailing reader skipped records.
    check("segment_roll_unclamped", || roll_model([2, 0], RollOrder::PushThenPublish, false));
}

// ---------------------------------------------------------------------------------------
// 3. Retention vs reader
// ---------------------------------------------------------------------------------------

/// A sealed segment of one record: its map (`Bytes`: shared, immutable) while loaded, and
/// whether its file still exists.
struct Sealed {
    base: u64,
    /// `SegState::Sealed { loaded }`.
    loaded: Mutex<Option<Arc<Vec<u64>>>>,
    file_exists: AtomicBool,
}

impl Sealed {
    fn end(&self) -> u64 {
        self.base + 1
    }

    /// `Segment::source` for a sealed segment: the map, loading it from the file if needed.
    fn source(&self) -> Result<Arc<Vec<u64>>, &'static str> {
        let mut loaded = self.loaded.lock().unwrap();
        if let Some(m) = &*loaded {
            return Ok(Arc::clone(m));
        }
        // Opening the file: the unlink is ordered by the kernel (modelled Release/Acquire).
        if !self.file_exists.load(Ordering::Acquire) {
            return Err("NotFound");
        }
        let m = Arc::new(vec![byte_of(self.base)]);
        *loaded = Some(Arc::clone(&m));
        Ok(m)
    }
}

struct Retained {
    segments: RwLock<Vec<Arc<Sealed>>>,
    start: AtomicU64,
    hw: u64,
}

/// `Inner::read(from, ∞, ∞)` over sealed segments, including the retention arm; returns the
/// records (offset, byte), the maps it holds, and `next_offset`.
type Held = Vec<(u64, Arc<Vec<u64>>)>;

fn retained_read(log: &Retained, from: u64, stop_after_records: bool) -> (Vec<(u64, u64)>, Held, u64) {
    let start = log.start.load(Ordering::Acquire);
    let mut next = from.max(start);
    let mut out = Vec::new();
    let mut held = Vec::new();
    let segs: Vec<Arc<Sealed>> =
        log.segments.read().unwrap().iter().filter(|s| s.end() > next).map(Arc::clone).collect();
    for seg in segs {
        if seg.base >= log.hw {
            break;
        }
        let map = match seg.source() {
            Ok(m) => m,
            Err(_) => {
                // The retention arm: only a trimmed segment may be missing.
                let now = log.start.load(Ordering::Acquire);
                assert!(seg.end() <= now, "segment {} missing but not trimmed (start {now})", seg.base);
                if stop_after_records && !out.is_empty() {
                    break;
                }
                next = next.max(now);
                continue;
            }
        };
        if seg.base >= next {
            out.push((seg.base, map[0]));
            next = seg.end();
        }
        held.push((seg.base, map));
    }
    (out, held, next)
}

fn retention_model(stop_after_records: bool) {
    // Three sealed segments of one record each; A is loaded (mapped) already, B is not.
    let segs: Vec<Arc<Sealed>> = (0..3u64)
        .map(|base| {
            let loaded = (base == 0).then(|| Arc::new(vec![byte_of(base)]));
            Arc::new(Sealed { base, loaded: Mutex::new(loaded), file_exists: AtomicBool::new(true) })
        })
        .collect();
    let log = Arc::new(Retained { segments: RwLock::new(segs), start: AtomicU64::new(0), hw: 3 });
    let reader = {
        let log = Arc::clone(&log);
        thread::spawn(move || {
            let (recs, held, next) = retained_read(&log, 0, stop_after_records);
            // Dense within one read, starting at 0 or at a horizon the trim set.
            let first = recs.first().map(|r| r.0).expect("segment C is never trimmed");
            assert!(first == 0 || first == 2, "read started at {first}");
            for (i, (offset, byte)) in recs.iter().enumerate() {
                assert_eq!(*offset, first + i as u64, "gap inside one read: {recs:?}");
                assert_eq!(*byte, byte_of(*offset), "wrong bytes at {offset}");
            }
            assert_eq!(next, first + recs.len() as u64);
            // The maps taken before the trim stay valid and unchanged after it.
            for (base, m) in &held {
                assert_eq!(m.as_slice(), [byte_of(*base)], "held map of segment {base} changed");
            }
            // Continuing from next_offset never goes backwards and never skips retained data.
            let (more, _, end) = retained_read(&log, next, stop_after_records);
            if let Some(&(o, _)) = more.first() {
                assert!(o == next || (o > next && o == log.start.load(Ordering::Acquire)), "resumed at {o}");
            }
            assert_eq!(end, log.hw);
        })
    };
    // `Inner::trim` of A and B: horizon durable (not modelled), `start` raised, list
    // retained, files removed, maps unloaded.
    let doomed: Vec<Arc<Sealed>> = log.segments.read().unwrap().iter().take(2).map(Arc::clone).collect();
    log.start.fetch_max(2, Ordering::AcqRel);
    log.segments.write().unwrap().retain(|s| s.base >= 2);
    for seg in &doomed {
        seg.file_exists.store(false, Ordering::Release);
        seg.loaded.lock().unwrap().take();
    }
    reader.join().unwrap();
    assert_eq!(log.segments.read().unwrap().len(), 1);
}

#[test]
fn retention_reader_keeps_held_data_and_continues_at_the_new_start() {
    check("retention", || retention_model(true));
}

#[test]
#[should_panic(expected = "gap inside one read")]
fn retention_model_catches_a_gap_inside_one_read() {
    // The retention arm as in src/shard.rs before the fix (continue at the new start even
    // after records were collected): one read returns A's record then C's.
    check("retention_unfixed", || retention_model(false));
}
