//! Reliability R12, recovery time: how long `ShardLog::open` takes after an unclean shutdown,
//! against the size of the sealed log and of the unsynced tail (the active segment).
//!
//! For each sealed size (default 256 MiB, 1 GiB and 4 GiB, as free disk allows) a log with
//! 64 MiB segments is built once with 1 MiB batches (4 KiB records, `Durability::Buffered`).
//! Then an 8 MiB tail is appended to the active segment and the process "crashes": the handle
//! is leaked without `close()` (no CLEAN marker, no index files for the active segment, the
//! tail still dirty in the page cache). The tail is then grown to a full 64 MiB segment the same
//! way. For each (sealed, tail) pair the reopen is timed:
//!
//! - `crash (dirty tail)`: right after the leak; recovery scans the tail and fdatasyncs it;
//! - `cold`: after `sync` and `echo 3 > /proc/sys/vm/drop_caches` (root only; whether the page
//!   cache really was dropped is checked through `Cached:` in /proc/meminfo and printed); the
//!   scan reads the tail from disk;
//! - `warm`: the same state with the tail in the page cache;
//! - `clean`: after a clean `close()` (CLEAN marker present: no scan), for reference.
//!
//! Cold and warm are the median of 3 reopens; each reopen's handle is leaked again so every
//! reopen faces the same unclean state. R12's target: ≤ 1 s for 1 GiB sealed + 64 MiB tail, and
//! the time must follow the tail, not the total.
//!
//! ```text
//! cargo bench -p shardlog --bench recovery                      # 256M, 1G, 4G sealed
//! SHARDLOG_RECOVERY_SIZES=1G cargo bench -p shardlog --bench recovery
//! SHARDLOG_RECOVERY_DIR=/mnt/ext4 cargo bench ...               # where the logs are built
//! ```
//!
//! Without `--bench` (e.g. `cargo test --benches`) it runs a seconds-long smoke version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardlog::{Durability, LogConfig, LogOptions, ManualClock, RecordRef, ShardLog};

const MIB: u64 = 1 << 20;
const SEGMENT_BYTES: u64 = 64 * MIB;
const RECORD_BYTES: usize = 4096;
const RECORDS_PER_BATCH: usize = 255;
const REPEATS: usize = 3;

fn options(segment_bytes: u64) -> LogOptions {
    let mut o = LogOptions::new(LogConfig {
        segment_max_bytes: segment_bytes,
        segment_max_age: None,
        durability: Durability::Buffered,
        ..LogConfig::default()
    })
    .with_clock(Arc::new(ManualClock::new(1_767_225_600_000)));
    // The leaked handles of simulated crashes keep their lock files open in this process.
    o.lock_dir = false;
    o
}

/// A builder of the log's contents: ~1 MiB batches of 4 KiB records with varying bytes.
struct Filler {
    pool: Vec<u8>,
    n: usize,
}

impl Filler {
    fn new() -> Filler {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let pool = (0..RECORD_BYTES * 64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Filler { pool, n: 0 }
    }

    /// Append batches until the log has `sealed / 64 MiB` sealed (full) segments and its active segment holds at least `tail` bytes, or until one more batch
    /// would roll it (then the tail is a full segment).
    fn fill(&mut self, log: &ShardLog, sealed: u64, tail: u64) {
        loop {
            let segs = log.segments();
            let sealed_now = segs.iter().filter(|s| s.sealed).count() as u64 * SEGMENT_BYTES;
            let active = segs.last().map_or(0, |s| file_len(&s.path));
            let batch = (RECORDS_PER_BATCH * (RECORD_BYTES + 16)) as u64;
            let full = active + batch > SEGMENT_BYTES;
            if sealed_now >= sealed && (active >= tail || full) {
                return;
            }
            if sealed_now >= sealed && full {
                return;
            }
            let recs: Vec<RecordRef<'_>> = (0..RECORDS_PER_BATCH)
                .map(|i| {
                    let at = (self.n + i * 61) % (self.pool.len() - RECORD_BYTES);
                    RecordRef::new(b"pk", &self.pool[at..at + RECORD_BYTES])
                })
                .collect();
            self.n += 1;
            log.append(&recs).expect("append");
        }
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The process dies: no close, no CLEAN marker, no index files for the active segment, and
/// the tail still dirty in the page cache. (The leaked handle keeps its active segment's file
/// open until the bench exits.)
fn crash(log: ShardLog) {
    std::mem::forget(log);
}

/// Close cleanly, then remove what makes the next open skip the scan: the CLEAN marker and
/// the active segment's index files. The next open sees an unclean shutdown whose tail is on
/// disk (synced).
fn unclean(log: ShardLog) {
    let active = log.segments().last().expect("a segment").base_offset;
    let dir = log.dir().to_path_buf();
    log.close().expect("close");
    drop(log);
    for name in ["CLEAN".to_string(), format!("{active:020}.index"), format!("{active:020}.timeindex")] {
        std::fs::remove_file(dir.join(name)).expect("remove CLEAN / active index files");
    }
}

fn cached_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("Cached:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `sync` and drop the page cache (root only). Returns how `Cached:` in /proc/meminfo moved;
/// it never reaches 0 because tmpfs and shared memory count as cached and cannot be dropped.
fn drop_caches() -> Result<String, String> {
    let _ = Command::new("sync").status();
    let before = cached_kib().unwrap_or(0);
    std::fs::write("/proc/sys/vm/drop_caches", "3").map_err(|e| format!("drop_caches: {e}"))?;
    let after = cached_kib().unwrap_or(0);
    Ok(format!("page cache (Cached:) {} → {} MiB", before / 1024, after / 1024))
}

fn timed_open(dir: &Path) -> (Duration, ShardLog) {
    let t = Instant::now();
    let log = ShardLog::open(dir, options(SEGMENT_BYTES)).expect("recovery open");
    (t.elapsed(), log)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    sealed: u64,
    sealed_bytes: u64,
    tail: u64,
    segments: usize,
    crash: Duration,
    cold: Option<Duration>,
    warm: Duration,
    clean: Duration,
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn fmt_size(b: u64) -> String {
    if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
        format!("{} GiB", b >> 30)
    } else {
        format!("{:.1} MiB", b as f64 / MIB as f64)
    }
}

/// Time the reopens of the current (unclean) state of `dir`; leaves it cleanly closed.
fn measure(dir: &Path, sealed: u64, crash_time: Duration, cold_ok: &mut Option<bool>) -> Row {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..REPEATS {
        if *cold_ok != Some(false) {
            match drop_caches() {
                Ok(how) => {
                    if cold_ok.is_none() {
                        println!("cold reopens: sync + drop_caches accepted; first drop: {how}");
                    }
                    *cold_ok = Some(true);
                    let (d, log) = timed_open(dir);
                    cold.push(d);
                    unclean(log);
                }
                Err(why) => {
                    println!("cold reopens: not measured: {why}");
                    *cold_ok = Some(false);
                }
            }
        }
    }
    for _ in 0..REPEATS {
        let (d, log) = timed_open(dir);
        warm.push(d);
        unclean(log);
    }
    let (_, log) = timed_open(dir);
    let segs = log.segments();
    let tail = segs.last().map_or(0, |s| file_len(&s.path));
    let sealed_bytes: u64 = segs.iter().filter(|s| s.sealed).map(|s| file_len(&s.path)).sum();
    log.close().expect("clean close");
    drop(log);
    let (clean, log) = timed_open(dir);
    drop(log);
    Row {
        sealed,
        sealed_bytes,
        tail,
        segments: segs.len(),
        crash: crash_time,
        cold: (!cold.is_empty()).then(|| median(cold)),
        warm: median(warm),
        clean,
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'G' | 'g' => (&s[..s.len() - 1], 1u64 << 30),
        'M' | 'm' => (&s[..s.len() - 1], MIB),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().nth(1)?.trim().parse().ok()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let base = std::env::var_os("SHARDLOG_RECOVERY_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let (sizes, tails): (Vec<u64>, Vec<u64>) = if bench {
        let sizes = std::env::var("SHARDLOG_RECOVERY_SIZES").unwrap_or_else(|_| "256M,1G,4G".into());
        (sizes.split(',').map(|s| parse_size(s).expect("size like 256M or 1G")).collect(), vec![8 * MIB, SEGMENT_BYTES])
    } else {
        (vec![0, 2 * SEGMENT_BYTES], vec![MIB])
    };
    println!(
        "R12 recovery time: 64 MiB segments, {} KiB records in ~1 MiB batches, data under {}",
        RECORD_BYTES / 1024,
        base.display()
    );
    let mut rows = Vec::new();
    let mut cold_ok = None;
    for &sealed in &sizes {
        let need = sealed + 2 * SEGMENT_BYTES;
        if let Some(free) = free_bytes(&base) {
            if free < need + (1 << 30) {
                println!("skipping {} sealed: {} free under {}", fmt_size(sealed), fmt_size(free), base.display());
                continue;
            }
        }
        let tmp = tempfile::tempdir_in(&base).expect("temp dir");
        let dir = tmp.path().join("shard");
        let mut filler = Filler::new();
        let t = Instant::now();
        for (i, &tail) in tails.iter().enumerate() {
            let log = ShardLog::open(&dir, options(SEGMENT_BYTES)).expect("open");
            filler.fill(&log, sealed, tail);
            if i == 0 {
                println!("built {} sealed in {:.1} s", fmt_size(sealed), t.elapsed().as_secs_f64());
            }
            crash(log);
            let (crash_time, log) = timed_open(&dir);
            unclean(log);
            rows.push(measure(&dir, sealed, crash_time, &mut cold_ok));
        }
    }
    println!();
    println!(
        "| sealed | tail (active segment) | segments | crash, dirty tail (ms) | cold (ms) | warm (ms) | clean (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} |",
            fmt_size(r.sealed),
            fmt_size(r.sealed_bytes),
            fmt_size(r.tail),
            r.segments,
            fmt_ms(r.crash),
            r.cold.map_or_else(|| "n/a".into(), fmt_ms),
            fmt_ms(r.warm),
            fmt_ms(r.clean)
        );
    }
    if bench {
        if let Some(r) = rows.iter().find(|r| r.sealed == 1 << 30 && r.tail > 32 * MIB) {
            let worst = r.crash.max(r.cold.unwrap_or_default()).max(r.warm);
            println!(
                "R12 target (1 GiB sealed + 64 MiB tail ≤ 1 s): worst {} ms — {}",
                fmt_ms(worst),
                if worst <= Duration::from_secs(1) { "met" } else { "MISSED" }
            );
        }
    }
}
