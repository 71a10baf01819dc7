//! Loom models of the commit/notify handshake and the shard's publication order (R8).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p shardlog --release --test loom_notify`
//! (compiles to nothing without `--cfg loom`).
//!
//! Every model uses the real [`Notifier`] and [`CommitPoint`] (built on loom's primitives
//! under `cfg(loom)`) and mirrors the orderings of `src/log/` (`write.rs`, `read.rs`,
//! `trim.rs`, `view.rs`, `segment/active.rs`). Log bytes are modelled as atomics written and
//! read with `Relaxed`: they stand for the file contents (`pwrite` and the mapping give no
//! ordering of their own), so only the log's `Release`/`Acquire` chain makes them visible,
//! and loom reports any read that can see a stale value.
//!
//! - `handshake_*`: a writer stores data then `publish`es; readers wait (`wait_past_forever`,
//!   the condvar path), look at the watermark directly (the `read` path) or register a waker
//!   (the async path). They must see every byte below the watermark (no stale read, caught
//!   by the `canary-relaxed-publish` build) and must always be woken (no lost wake-up, caught
//!   by the `canary-notify-without-lock` build as a loom deadlock).
//! - `segment_roll_*`: appends, a roll (a new view: the old active segment replaced by its
//!   sealed self, the new one appended) and more appends, against `ShardLog::read`'s walk of
//!   its view snapshot: every offset below the watermark is found. Two deliberately broken
//!   variants (publish before the new view; an unclamped `next_offset`) must fail, proving the
//!   model can see those bugs.
//! - `retention_*`: a trim replacing the view (higher horizon, fewer segments) while a reader
//!   walks its snapshot: held segment data stays valid, a reader in the trimmed range
//!   continues at the new start, and one read never returns a gap. Broken variants must
//!   fail: continuing past a trimmed segment after records were taken (a gap in one read),
//!   and taking the horizon and the segment list from two snapshots (bug 1 of issue 12, the
//!   spurious "read continues at" corruption).
//! - `acknowledged_*`: the real `CommitPoint` — an append is acknowledged only once it is
//!   visible (bug 2 of issue 12; the `canary-ack-before-visible` build must fail it).
#![cfg(loom)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::task::{Wake, Waker};
use std::time::Instant;

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex, RwLock};
use loom::thread;
use shardlog::commit::CommitPoint;
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
// 2. Segment roll vs reader: the publication order of src/log/write.rs and read.rs
// ---------------------------------------------------------------------------------------

/// The active segment as `segment/active.rs` publishes it. Its slots stand for the file bytes.
struct Active {
    base: u64,
    slots: std::sync::Arc<Vec<AtomicU64>>,
    /// Committed records (stands for `len`, the bytes of whole batches; `Release`).
    len: AtomicU64,
    end_offset: AtomicU64,
    /// The index lock, taken by `append` (to add an entry) and by readers (to look one up).
    index: Mutex<()>,
}

impl Active {
    fn new(base: u64, capacity: usize) -> Active {
        Active {
            base,
            slots: std::sync::Arc::new((0..capacity).map(|_| AtomicU64::new(0)).collect()),
            len: AtomicU64::new(0),
            end_offset: AtomicU64::new(base),
            index: Mutex::new(()),
        }
    }

    /// `ActiveSegment::append` after the write: index entry under the lock, then
    /// `end_offset` and `len` stored with `Release`.
    fn record_append(&self, rel: u64) {
        drop(self.index.lock().unwrap());
        self.end_offset.store(self.base + rel + 1, Ordering::Release);
        self.len.store(rel + 1, Ordering::Release);
    }
}

/// A sealed segment as `SealedSegment::from_active` makes it: its length fixed at the roll
/// (read by the writer, the only one who wrote it), the same file bytes.
struct Sealed {
    base: u64,
    len: u64,
    slots: std::sync::Arc<Vec<AtomicU64>>,
}

#[derive(Clone)]
enum Seg {
    Active(Arc<Active>),
    Sealed(Arc<Sealed>),
}

impl Seg {
    fn base(&self) -> u64 {
        match self {
            Seg::Active(a) => a.base,
            Seg::Sealed(s) => s.base,
        }
    }

    fn end_offset(&self) -> u64 {
        match self {
            Seg::Active(a) => a.end_offset.load(Ordering::Acquire),
            Seg::Sealed(s) => s.base + s.len,
        }
    }
}

/// `view.rs`: the horizon and the segments, replaced whole under the lock.
#[derive(Clone)]
struct View {
    start: u64,
    segments: Vec<Seg>,
}

/// The shard: its view lock and its commit point (written offset, watermark).
struct Shard {
    view: RwLock<Arc<View>>,
    commit: CommitPoint,
}

/// How the modelled writer orders a roll.
#[derive(Clone, Copy, PartialEq)]
enum RollOrder {
    /// As `Inner::roll` + `append`: new view first, then append and publish.
    ViewThenPublish,
    /// Broken: append to the new segment and publish before the new view is installed.
    PublishThenView,
}

/// `Inner::append` (buffered): write the bytes, `record_append`, `commit.wrote`; then
/// `append_acknowledged` publishes.
fn append(shard: &Shard, seg: &Active, rel: u64) {
    let offset = seg.base + rel;
    seg.slots[rel as usize].store(byte_of(offset), Ordering::Relaxed);
    seg.record_append(rel);
    shard.commit.wrote(offset + 1);
    shard.commit.publish(offset + 1);
}

fn install(shard: &Shard, a: &Arc<Active>, b: &Arc<Active>) {
    let sealed = Arc::new(Sealed { base: a.base, len: a.len.load(Ordering::Relaxed), slots: a.slots.clone() });
    let mut v = shard.view.write().unwrap();
    let mut segments = v.segments.clone();
    segments.pop();
    segments.push(Seg::Sealed(sealed));
    segments.push(Seg::Active(Arc::clone(b)));
    *v = Arc::new(View { start: v.start, segments });
}

/// Segment A gets `per_segment[0]` records, then a roll, then segment B gets the rest.
fn roll_writer(shard: &Shard, a: Arc<Active>, per_segment: [u64; 2], order: RollOrder) {
    for rel in 0..per_segment[0] {
        append(shard, &a, rel);
    }
    // Roll (`Inner::roll`): create B (file and directory synced: not modelled), install the
    // new view (A sealed, B active), queue A's seal (not modelled).
    let b = Arc::new(Active::new(per_segment[0], per_segment[1] as usize));
    if order == RollOrder::ViewThenPublish {
        install(shard, &a, &b);
    }
    for rel in 0..per_segment[1] {
        append(shard, &b, rel);
        if order == RollOrder::PublishThenView && rel == 0 {
            install(shard, &a, &b);
        }
    }
}

/// `Inner::read(from, ∞, ∞)`: the records found and `next_offset`.
fn shard_read(shard: &Shard, from: u64, clamp_next: bool) -> (Vec<u64>, u64) {
    let hw = shard.commit.notifier().high_watermark();
    let view = Arc::clone(&shard.view.read().unwrap());
    let mut next = from.max(view.start);
    let mut out = Vec::new();
    if next >= hw {
        return (out, next);
    }
    // `LogView::from`: the segments from the one holding `next`.
    let i = view.segments.iter().filter(|s| s.base() <= next).count().saturating_sub(1);
    for seg in &view.segments[i..] {
        if seg.base() >= hw {
            break;
        }
        let (base, len, slots) = match seg {
            Seg::Active(a) => {
                drop(a.index.lock().unwrap());
                (a.base, a.len.load(Ordering::Acquire), &a.slots)
            }
            Seg::Sealed(s) => (s.base, s.len, &s.slots),
        };
        let mut done = false;
        for rel in 0..len {
            let offset = base + rel;
            if offset >= hw {
                done = true;
                break;
            }
            if offset < next {
                continue;
            }
            let byte = slots[rel as usize].load(Ordering::Relaxed);
            assert_eq!(byte, byte_of(offset), "stale bytes at offset {offset} below hw {hw}");
            out.push(offset);
        }
        if let Some(last) = out.last() {
            next = last + 1;
        }
        if done {
            break;
        }
        let end = seg.end_offset();
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
    let a = Arc::new(Active::new(0, per_segment[0] as usize));
    let view = View { start: 0, segments: vec![Seg::Active(Arc::clone(&a))] };
    let shard = Arc::new(Shard { view: RwLock::new(Arc::new(view)), commit: CommitPoint::new(0) });
    let reader = {
        let shard = Arc::clone(&shard);
        thread::spawn(move || {
            // A tailing reader: read, continue at next_offset, read again.
            let (first, next) = shard_read(&shard, 0, clamp_next);
            let (second, _) = shard_read(&shard, next, clamp_next);
            assert!(first.iter().chain(&second).copied().eq(0..first.len() as u64 + second.len() as u64));
        })
    };
    roll_writer(&shard, a, per_segment, order);
    reader.join().unwrap();
    assert_eq!(shard.commit.notifier().high_watermark(), total);
    assert_eq!(shard.commit.written(), total);
}

#[test]
fn segment_roll_reader_finds_every_offset_below_the_watermark() {
    check("segment_roll", || roll_model([1, 1], RollOrder::ViewThenPublish, true));
}

#[test]
fn segment_roll_reader_in_a_growing_active_segment() {
    check("segment_roll_growing", || roll_model([2, 0], RollOrder::ViewThenPublish, true));
}

#[test]
fn segment_roll_reader_across_growth_and_roll() {
    check("segment_roll_growth_and_roll", || roll_model([2, 1], RollOrder::ViewThenPublish, true));
}

#[test]
#[should_panic(expected = "not found")]
fn segment_roll_model_catches_publish_before_the_new_view() {
    check("segment_roll_broken_order", || roll_model([1, 1], RollOrder::PublishThenView, true));
}

#[test]
#[should_panic(expected = "is not one past the last record")]
fn segment_roll_model_catches_an_unclamped_next_offset() {
    // The bug fixed in 1ff86b3: `next_offset` taken from an end offset the watermark did not
    // cover yet, so a tailing reader skipped records.
    check("segment_roll_unclamped", || roll_model([2, 0], RollOrder::ViewThenPublish, false));
}

// ---------------------------------------------------------------------------------------
// 3. Retention vs reader: src/log/trim.rs and read.rs
// ---------------------------------------------------------------------------------------

/// A sealed segment of one record: its map (`Bytes`: shared, immutable) while loaded, and
/// whether its file still exists.
struct Kept {
    base: u64,
    /// `SealedSegment`'s loaded state.
    loaded: Mutex<Option<Arc<Vec<u64>>>>,
    file_exists: AtomicBool,
}

impl Kept {
    fn end(&self) -> u64 {
        self.base + 1
    }

    /// `SealedSegment::load`: the map, loading it from the file if needed.
    fn load(&self) -> Result<Arc<Vec<u64>>, &'static str> {
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

struct KeptView {
    start: u64,
    segments: Vec<Arc<Kept>>,
}

struct Retained {
    view: RwLock<Arc<KeptView>>,
    hw: u64,
}

/// How the modelled read treats retention.
#[derive(Clone, Copy, PartialEq)]
enum ReadRule {
    /// As `Inner::read`: one snapshot; after a trimmed segment, stop if records were taken.
    Fixed,
    /// Broken: continue at the new horizon after records were taken (a gap in one read).
    ContinuePastTrim,
    /// Broken (bug 1 of issue 12): the horizon from one snapshot, the segments from a later
    /// one.
    HorizonApart,
}

type Held = Vec<(u64, Arc<Vec<u64>>)>;

/// `Inner::read(from, ∞, ∞)` over sealed segments, including the retention arm; returns the
/// records (offset, byte), the maps it holds, and `next_offset`.
fn retained_read(log: &Retained, from: u64, rule: ReadRule) -> (Vec<(u64, u64)>, Held, u64) {
    let first = Arc::clone(&log.view.read().unwrap());
    let view = if rule == ReadRule::HorizonApart { Arc::clone(&log.view.read().unwrap()) } else { first.clone() };
    let mut next = from.max(first.start);
    let mut out = Vec::new();
    let mut held = Vec::new();
    // `LogView::from`: the segments from the one holding `next`.
    let i = view.segments.iter().filter(|s| s.base <= next).count().saturating_sub(1);
    for seg in &view.segments[i..] {
        if seg.base >= log.hw {
            break;
        }
        if seg.end() <= next {
            continue;
        }
        // `read_records`: a wanted segment that starts past the offset due is corruption.
        assert!(seg.base <= next, "batch starts at offset {}, but the read continues at offset {next}", seg.base);
        let map = match seg.load() {
            Ok(m) => m,
            Err(_) => {
                // The retention arm: only a trimmed segment may be missing.
                let now = log.view.read().unwrap().start;
                assert!(seg.end() <= now, "segment {} missing but not trimmed (start {now})", seg.base);
                if rule != ReadRule::ContinuePastTrim && !out.is_empty() {
                    break;
                }
                next = next.max(now);
                continue;
            }
        };
        out.push((seg.base, map[0]));
        next = seg.end();
        held.push((seg.base, map));
    }
    (out, held, next)
}

fn retention_model(rule: ReadRule) {
    // Three sealed segments of one record each; A is loaded (mapped) already, B is not.
    let segs: Vec<Arc<Kept>> = (0..3u64)
        .map(|base| {
            let loaded = (base == 0).then(|| Arc::new(vec![byte_of(base)]));
            Arc::new(Kept { base, loaded: Mutex::new(loaded), file_exists: AtomicBool::new(true) })
        })
        .collect();
    let log = Arc::new(Retained { view: RwLock::new(Arc::new(KeptView { start: 0, segments: segs })), hw: 3 });
    let reader = {
        let log = Arc::clone(&log);
        thread::spawn(move || {
            let (recs, held, next) = retained_read(&log, 0, rule);
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
            let (more, _, end) = retained_read(&log, next, rule);
            if let Some(&(o, _)) = more.first() {
                assert!(o == next || (o > next && o == log.view.read().unwrap().start), "resumed at {o}");
            }
            assert_eq!(end, log.hw);
        })
    };
    // `Inner::trim` of A and B: horizon durable (not modelled), the new view (horizon and
    // segments together), files removed, maps unloaded.
    let doomed: Vec<Arc<Kept>> = log.view.read().unwrap().segments.iter().take(2).map(Arc::clone).collect();
    {
        let mut v = log.view.write().unwrap();
        let segments = v.segments.iter().filter(|s| s.base >= 2).map(Arc::clone).collect();
        *v = Arc::new(KeptView { start: 2, segments });
    }
    for seg in &doomed {
        seg.file_exists.store(false, Ordering::Release);
        seg.loaded.lock().unwrap().take();
    }
    reader.join().unwrap();
    assert_eq!(log.view.read().unwrap().segments.len(), 1);
}

#[test]
fn retention_reader_keeps_held_data_and_continues_at_the_new_start() {
    check("retention", || retention_model(ReadRule::Fixed));
}

#[test]
#[should_panic(expected = "gap inside one read")]
fn retention_model_catches_a_gap_inside_one_read() {
    // The retention arm as in src/shard.rs before that fix (continue at the new start even
    // after records were collected): one read returns A's record then C's.
    check("retention_unfixed", || retention_model(ReadRule::ContinuePastTrim));
}

#[test]
#[should_panic(expected = "but the read continues at offset")]
fn retention_model_catches_the_horizon_taken_apart_from_the_segments() {
    // Bug 1 of issue 12: the horizon read before a trim, the segment list after it.
    check("retention_horizon_apart", || retention_model(ReadRule::HorizonApart));
}

// ---------------------------------------------------------------------------------------
// 4. Acknowledgement vs visibility: the real CommitPoint
// ---------------------------------------------------------------------------------------

/// Bug 2 of issue 12: under `Durability::Sync` a sync round records the sync and raises the
/// watermark; an appender that finds its append durable returns. It must then be visible.
/// Before the fix the sync was recorded first and the acknowledgement checked it, so an
/// append could return while readers still saw the old watermark ("append acked up to 241
/// but high-watermark is 238"). The `canary-ack-before-visible` build plants that order back.
#[test]
fn acknowledged_appends_are_visible() {
    check("acknowledged_visible", || {
        let c = Arc::new(CommitPoint::new(238));
        c.wrote(241);
        let round = {
            let c = Arc::clone(&c);
            thread::spawn(move || c.synced(241, true))
        };
        // The appender of the append ending at 241, waiting for its acknowledgement.
        if c.visible(241) {
            let hw = c.notifier().high_watermark();
            assert!(hw >= 241, "append acked up to 241 but high-watermark is {hw}");
        }
        round.join().unwrap();
        assert!(c.visible(241));
        assert_eq!(c.synced_upto(), 241);
    });
}
