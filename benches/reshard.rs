//! Resharding and retention costs (issue 4).
//!
//! 1. **Put throughput during a split** (`split_dip`, a custom measurement printed as a table:
//!    criterion's per-iteration statistics cannot show a dip). Producer threads put 100 B
//!    records (`PutRecord`, 1,024 partition keys) into a 4-shard stream continuously; each
//!    put's completion time is recorded and bucketed into 10 ms windows. After
//!    [`BEFORE`] of steady load the main thread calls `split_shard` on one shard, then the
//!    load runs [`AFTER`] more. Reported per trial: the steady rate (median window before the
//!    split, after a warm-up), the split call's duration, the lowest window around the split
//!    as a fraction of the steady rate (the dip), how long the rate stays below 50 % and
//!    below 90 % of steady, and the median rate after the split. Run with `Buffered`
//!    durability (puts are CPU-bound; the split still fdatasyncs the parent and commits the
//!    manifest: temp file, fdatasync, rename, directory fsync, all under the stream's
//!    topology write lock) and with `Sync` (every put waits for a group-commit fdatasync).
//!
//! 2. **Cost of a retention pass over 1,000 shards** (5 streams × 200 shards, each shard
//!    with 4 sealed segments and an active one; segments roll by age, and the clock is
//!    manual). `retention/1000_shards/nothing_expired` is a criterion benchmark of
//!    `enforce_retention()` when no segment is expired (retention 48 h); the table adds the
//!    first pass after a reopen (which opens every shard log) and the pass that deletes half
//!    the sealed segments (retention lowered to 24 h: 2 of 4 sealed segments per shard, 2,000
//!    segments, each trim moving the shard's HORIZON file durably and fsyncing its
//!    directory), timed over fresh builds.
//!
//! Data lives in a temporary directory on the machine's disk (ext4 here), so fsyncs are
//! real. Run:
//!
//! ```text
//! cargo bench -p shardlog --bench reshard
//! ```
//!
//! (about 1–2 minutes; `SHARDLOG_BENCH_TRIALS=n` changes the number of split trials and
//! retention runs, `SHARDLOG_BENCH_ONLY=split` or `=retention` runs one part; with `--test`,
//! as `cargo test --benches` passes, everything runs once in a reduced form).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use shardlog::engine::{
    CreateStreamInput, ListShardsInput, PutRecordInput, PutRecordsInput, PutRecordsRequestEntry, RetentionPeriodInput,
    ShardFilter, ShardFilterType, SplitShardInput, StreamRef,
};
use shardlog::{Durability, Engine, EngineConfig, LogConfig, ManualClock};
use tempfile::TempDir;

/// Payload bytes per record.
const RECORD_BYTES: usize = 100;
/// Window of the throughput timeline.
const WINDOW: Duration = Duration::from_millis(10);
/// Load before the split (the first [`WARMUP`] of it is not counted as steady).
const BEFORE: Duration = Duration::from_millis(800);
const WARMUP: Duration = Duration::from_millis(200);
/// Load after the split returns.
const AFTER: Duration = Duration::from_millis(800);
/// Producer threads under `Buffered` (the machine has 2 cores: puts are CPU-bound).
const PRODUCERS_BUFFERED: usize = 2;
/// Producer threads under `Sync` (they mostly wait for group commit).
const PRODUCERS_SYNC: usize = 16;

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn trials() -> usize {
    let default = if test_mode() { 1 } else { 5 };
    std::env::var("SHARDLOG_BENCH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// 1. Put throughput during a split
// ---------------------------------------------------------------------------------------

struct Trial {
    steady: f64,
    split_ms: f64,
    dip: f64,
    below_half_ms: f64,
    below_90_ms: f64,
    after: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Length of the run of windows below `threshold` that contains (or is nearest after) the
/// split's first window, in windows.
fn run_below(rates: &[f64], split_window: usize, threshold: f64) -> usize {
    // Start at the lowest window within 20 windows of the split, walk both ways.
    let lo = split_window.saturating_sub(1);
    let hi = (split_window + 20).min(rates.len());
    let Some(min_at) = (lo..hi).min_by(|&a, &b| rates[a].total_cmp(&rates[b])) else { return 0 };
    if rates[min_at] >= threshold {
        return 0;
    }
    let mut start = min_at;
    while start > 0 && rates[start - 1] < threshold {
        start -= 1;
    }
    let mut end = min_at;
    while end + 1 < rates.len() && rates[end + 1] < threshold {
        end += 1;
    }
    end - start + 1
}

fn producers(durability: Durability) -> usize {
    if durability == Durability::Sync {
        PRODUCERS_SYNC
    } else {
        PRODUCERS_BUFFERED
    }
}

fn split_trial(durability: Durability, before: Duration, after: Duration) -> Trial {
    let producers = producers(durability);
    let dir = TempDir::new().unwrap();
    let config = EngineConfig { durability, retention_check_interval: None, ..EngineConfig::default() };
    let e = Engine::open(dir.path(), config).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "load".into(), shard_count: Some(4), ..Default::default() })
        .unwrap();
    let keys: Vec<String> = (0..1024).map(|i| format!("key-{i}")).collect();
    let data = Bytes::from(vec![0x5a; RECORD_BYTES]);
    let stop = AtomicBool::new(false);
    let go = Barrier::new(producers + 1);
    let (t0, split_start, split_end, stamps) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let (e, keys, data, stop, go) = (&e, &keys, &data, &stop, &go);
                s.spawn(move || {
                    go.wait();
                    let mut stamps: Vec<Instant> = Vec::with_capacity(1 << 20);
                    let mut i = p * 7919;
                    while !stop.load(Ordering::Relaxed) {
                        i = i.wrapping_add(1);
                        e.put_record(PutRecordInput {
                            stream: StreamRef::name("load"),
                            data: data.clone(),
                            partition_key: Some(keys[i % keys.len()].clone()),
                            ..Default::default()
                        })
                        .unwrap();
                        stamps.push(Instant::now());
                    }
                    stamps
                })
            })
            .collect();
        go.wait();
        let t0 = Instant::now();
        std::thread::sleep(before);
        let open = e
            .list_shards(ListShardsInput {
                stream: StreamRef::name("load"),
                shard_filter: Some(ShardFilter {
                    filter_type: ShardFilterType::AtLatest,
                    shard_id: None,
                    timestamp: None,
                }),
                ..Default::default()
            })
            .unwrap()
            .shards;
        let target = &open[1];
        let r = target.hash_key_range;
        let mid = r.starting_hash_key + (r.ending_hash_key - r.starting_hash_key) / 2;
        let split_start = Instant::now();
        e.split_shard(SplitShardInput {
            stream: StreamRef::name("load"),
            shard_to_split: target.shard_id.clone(),
            new_starting_hash_key: mid.to_string(),
        })
        .unwrap();
        let split_end = Instant::now();
        std::thread::sleep(after);
        stop.store(true, Ordering::Relaxed);
        let stamps: Vec<Instant> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        (t0, split_start, split_end, stamps)
    });
    let windows = ((split_end - t0 + after).as_nanos() / WINDOW.as_nanos()) as usize + 1;
    let mut counts = vec![0u64; windows];
    for t in stamps {
        if t < t0 {
            continue;
        }
        let w = ((t - t0).as_nanos() / WINDOW.as_nanos()) as usize;
        if let Some(c) = counts.get_mut(w) {
            *c += 1;
        }
    }
    // The last window may be partial; drop it.
    counts.pop();
    let per_s = 1.0 / WINDOW.as_secs_f64();
    let rates: Vec<f64> = counts.iter().map(|&c| c as f64 * per_s).collect();
    let w_of = |t: Instant| ((t - t0).as_nanos() / WINDOW.as_nanos()) as usize;
    let first_steady = (WARMUP.as_nanos() / WINDOW.as_nanos()) as usize;
    let split_w = w_of(split_start);
    let steady = median(rates[first_steady..split_w.saturating_sub(1).max(first_steady + 1)].to_vec());
    let settle = w_of(split_end) + 10;
    let after_rate = median(rates.get(settle..).map(<[f64]>::to_vec).unwrap_or_default());
    let around = split_w.saturating_sub(1)..(w_of(split_end) + 20).min(rates.len());
    let min = rates[around].iter().copied().fold(f64::INFINITY, f64::min);
    let ms = WINDOW.as_secs_f64() * 1000.0;
    Trial {
        steady,
        split_ms: (split_end - split_start).as_secs_f64() * 1000.0,
        dip: min / steady,
        below_half_ms: run_below(&rates, split_w, steady * 0.5) as f64 * ms,
        below_90_ms: run_below(&rates, split_w, steady * 0.9) as f64 * ms,
        after: after_rate,
    }
}

fn split_dip_report() {
    let (before, after) = if test_mode() { (WARMUP * 2, WARMUP) } else { (BEFORE, AFTER) };
    println!(
        "\n== put throughput during split_shard: 4-shard stream, PutRecord of {RECORD_BYTES} B, {} ms windows ==",
        WINDOW.as_millis()
    );
    for durability in [Durability::Buffered, Durability::Sync] {
        println!("-- durability {durability:?}, {} producer threads", producers(durability));
        println!(
            "{:>5} {:>12} {:>10} {:>9} {:>12} {:>12} {:>12}",
            "trial", "steady/s", "split ms", "dip", "<50% ms", "<90% ms", "after/s"
        );
        let mut all = Vec::new();
        for t in 0..trials() {
            let r = split_trial(durability, before, after);
            println!(
                "{:>5} {:>12.0} {:>10.2} {:>8.0}% {:>12.0} {:>12.0} {:>12.0}",
                t + 1,
                r.steady,
                r.split_ms,
                r.dip * 100.0,
                r.below_half_ms,
                r.below_90_ms,
                r.after
            );
            all.push(r);
        }
        println!(
            "{:>5} {:>12.0} {:>10.2} {:>8.0}% {:>12.0} {:>12.0} {:>12.0}",
            "med",
            median(all.iter().map(|r| r.steady).collect()),
            median(all.iter().map(|r| r.split_ms).collect()),
            median(all.iter().map(|r| r.dip).collect()) * 100.0,
            median(all.iter().map(|r| r.below_half_ms).collect()),
            median(all.iter().map(|r| r.below_90_ms).collect()),
            median(all.iter().map(|r| r.after).collect())
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. Retention pass over 1,000 shards
// ---------------------------------------------------------------------------------------

const STREAMS: usize = 5;
const SHARDS_PER_STREAM: u32 = 200;
/// Records per shard per segment.
const RECORDS_PER_SEGMENT: usize = 5;
const T0: i64 = 1_767_225_600_000;
const HOUR: Duration = Duration::from_secs(3600);
/// Write rounds (hours after T0): each rolls a new segment (segments roll by age, 1 h).
const ROUNDS_H: [u64; 5] = [0, 2, 27, 29, 31];

fn retention_config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        durability: Durability::Buffered,
        clock: Arc::new(clock.clone()),
        retention_check_interval: None,
        shard_limit: Some(2_000),
        log: LogConfig { segment_max_age: Some(HOUR), ..LogConfig::default() },
        ..EngineConfig::default()
    }
}

fn stream_name(i: usize) -> String {
    format!("ret-{i}")
}

fn set_retention(e: &Engine, hours: u32) {
    for i in 0..STREAMS {
        let input = RetentionPeriodInput { stream: StreamRef::name(stream_name(i)), retention_period_hours: hours };
        let current = e.describe_stream_summary(StreamRef::name(stream_name(i))).unwrap().retention_period_hours;
        if hours > current {
            e.increase_stream_retention_period(input).unwrap();
        } else if hours < current {
            e.decrease_stream_retention_period(input).unwrap();
        }
    }
}

/// Build the fixture in `dir`: 5 streams × 200 shards, write rounds at T0, +2 h, +27 h,
/// +29 h, +31 h, so at +31 h every shard has 4 sealed segments and an active one, and under
/// 24 h retention the first two are expired. Retention is left at 48 h (nothing expired) and
/// the engine closed cleanly. Returns the clock (at +31 h).
fn build_fixture(dir: &Path) -> ManualClock {
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir, retention_config(&clock)).unwrap();
    for i in 0..STREAMS {
        e.create_stream(CreateStreamInput {
            stream_name: stream_name(i),
            shard_count: Some(SHARDS_PER_STREAM),
            ..Default::default()
        })
        .unwrap();
    }
    set_retention(&e, 48);
    let hash_keys: Vec<String> =
        shardlog::kinesis::even_split(SHARDS_PER_STREAM).iter().map(|r| r.starting_hash_key.to_string()).collect();
    let data = Bytes::from(vec![0x33; RECORD_BYTES]);
    let mut last = 0;
    for at_hours in ROUNDS_H {
        clock.advance(HOUR * (at_hours - last) as u32);
        last = at_hours;
        for i in 0..STREAMS {
            let entries: Vec<PutRecordsRequestEntry> = hash_keys
                .iter()
                .flat_map(|h| std::iter::repeat_n(h, RECORDS_PER_SEGMENT))
                .map(|h| PutRecordsRequestEntry {
                    data: data.clone(),
                    partition_key: Some("k".into()),
                    explicit_hash_key: Some(h.clone()),
                })
                .collect();
            for chunk in entries.chunks(500) {
                let out = e
                    .put_records(PutRecordsInput {
                        stream: StreamRef::name(stream_name(i)),
                        records: chunk.to_vec(),
                        dry_run: false,
                    })
                    .unwrap();
                assert_eq!(out.failed_record_count, 0);
            }
        }
    }
    e.close().unwrap();
    clock
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

#[derive(Default)]
struct PassTimes {
    first_after_open: Vec<f64>,
    nothing: Vec<f64>,
    half: Vec<f64>,
    after_half: Vec<f64>,
}

/// Copy the template to a fresh directory under `parent` (flushed to the device, so the
/// passes' fsyncs pay only for their own writes), open it and time the passes.
fn time_passes(template: &Path, parent: &Path, clock_ms: i64, times: &mut PassTimes, c: Option<&mut Criterion>) {
    let shards = STREAMS * SHARDS_PER_STREAM as usize;
    let dir = TempDir::new_in(parent).unwrap();
    copy_tree(template, dir.path());
    let _ = std::process::Command::new("sync").status();
    let clock = ManualClock::new(clock_ms);
    let e = Engine::open(dir.path(), retention_config(&clock)).unwrap();
    // The first pass opens (and checks) every shard log.
    let (r, t) = time(|| e.enforce_retention().unwrap());
    assert_eq!(r.segments_removed, 0, "{r:?}");
    times.first_after_open.push(t.as_secs_f64());
    let (_, t) = time(|| e.enforce_retention().unwrap());
    times.nothing.push(t.as_secs_f64());
    if let Some(c) = c {
        let mut g = c.benchmark_group("retention");
        g.sample_size(20);
        g.bench_function("1000_shards/nothing_expired", |b| b.iter(|| black_box(e.enforce_retention().unwrap())));
        g.finish();
    }
    set_retention(&e, 24);
    let (r, t) = time(|| e.enforce_retention().unwrap());
    assert_eq!(r.segments_removed, 2 * shards, "{r:?}");
    times.half.push(t.as_secs_f64());
    let (r, t) = time(|| e.enforce_retention().unwrap());
    assert_eq!(r.segments_removed, 0, "{r:?}");
    times.after_half.push(t.as_secs_f64());
}

fn retention_report(c: &mut Criterion) {
    let shards = STREAMS * SHARDS_PER_STREAM as usize;
    println!(
        "\n== retention pass over {shards} shards ({STREAMS} streams x {SHARDS_PER_STREAM}), \
         4 sealed + 1 active segment each, {RECORDS_PER_SEGMENT} x {RECORD_BYTES} B records per segment =="
    );
    // The fixture is built once on tmpfs (building on disk pays ~25 fsyncs per shard) and
    // copied for every measurement.
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let template = TempDir::new_in(&scratch).unwrap();
    let (clock, t) = time(|| build_fixture(template.path()));
    println!("fixture built in {:.1} s under {}", t.as_secs_f64(), scratch.display());
    let clock_ms = shardlog::Clock::now_ms(&clock);
    let runs = trials().clamp(1, 3);
    let mut c = Some(c);
    for (medium, parent) in [("disk (ext4)", std::env::temp_dir()), ("tmpfs", scratch.clone())] {
        let mut times = PassTimes::default();
        for _ in 0..runs {
            let crit = if medium.starts_with("disk") { c.take() } else { None };
            time_passes(template.path(), &parent, clock_ms, &mut times, crit);
        }
        println!("-- {medium} ({}), {runs} run(s)", parent.display());
        let row = |what: &str, v: &[f64]| {
            let m = median(v.to_vec());
            println!(
                "{what:<52} {:>9.2} ms {:>9.1} µs/shard   (runs: {} ms)",
                m * 1e3,
                m * 1e6 / shards as f64,
                v.iter().map(|x| format!("{:.1}", x * 1e3)).collect::<Vec<_>>().join(", ")
            );
        };
        row("first pass after open (opens every log), none expired", &times.first_after_open);
        row("pass, nothing expired", &times.nothing);
        row("pass deleting 2 of 4 sealed segments per shard", &times.half);
        row("next pass, nothing left to expire", &times.after_half);
    }
}

fn main() {
    let only = std::env::var("SHARDLOG_BENCH_ONLY").unwrap_or_default();
    let mut c = Criterion::default().configure_from_args();
    if only.is_empty() || only == "split" {
        split_dip_report();
    }
    if only.is_empty() || only == "retention" {
        retention_report(&mut c);
    }
    c.final_summary();
}
