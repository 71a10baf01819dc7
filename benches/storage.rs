//! Storage benchmarks: one shard log against a raw-file baseline measured in the same group,
//! so every ratio comes from one run on the same machine and file system.
//!
//! Groups:
//! - `append/<size>`: `single` (one record per append), `batch500` (500 per append; 100 B
//!   and 1 KiB only) and `raw_file_crc` (the same records appended to a `BufWriter<File>` with a
//!   crc32fast CRC per record). Buffered durability, default 64 MiB segments (so rolls, each
//!   with its fdatasync, are included); the directory is recreated once it holds 1 GiB.
//! - `read`: `in_order` (CRC-checked reads of 10,000-record chunks, mostly sealed mapped
//!   segments), `active_segment` (the same from the active segment, read with `pread`) and
//!   `raw_file_crc` (`pread` of the same 10,000 records from a raw file, CRC per record).
//! - `lookup`: `random_offset` (one record at a random offset, warm) vs `raw_pread_crc`
//!   (`pread` of one fixed-size frame, CRC); `time` (`offset_for_time` at random times) vs
//!   `raw_time_bisect` (binary search by `pread` over the raw file's frame headers).
//! - `sync/<n>_producers` (n = 1, 8, 64 threads appending one 100-byte record each under
//!   `Durability::Sync`, group commit) vs `sync/fdatasync_per_put/<n>` (each thread writes and
//!   fdatasyncs its own file per record). p50/p99 put latency is printed after each.
//!
//! `cargo bench -p shardlog --bench storage -- --quick` runs everything in a few minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardlog::{Clock, Durability, LogConfig, LogOptions, ManualClock, RecordRef, ShardLog};

const KEY: &[u8] = b"pk-00";
/// Recreate an append target once it holds this much.
const RESET_BYTES: u64 = 1 << 30;
/// Records in the read/lookup fixture.
const READ_RECORDS: u64 = 1_000_000;
const READ_RECORD_SIZE: usize = 100;
const READ_CHUNK: usize = 10_000;
/// Segment size of the read/lookup fixture (several sealed segments).
const READ_SEGMENT_BYTES: u64 = 16 << 20;
/// Kinesis `GetRecords` byte limit, used as every read's byte budget.
const MAX_READ_BYTES: usize = 10 << 20;

/// Deterministic pseudo-random numbers (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A pool of random bytes; record `i` of size `s` is a window of it.
struct Pool(Vec<u8>);

impl Pool {
    const SPAN: usize = 1 << 20;

    fn new(max_record: usize) -> Pool {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        Pool((0..Self::SPAN + max_record).map(|_| r.next() as u8).collect())
    }

    fn data(&self, i: u64, size: usize) -> &[u8] {
        let start = (i.wrapping_mul(61) % Self::SPAN as u64) as usize;
        &self.0[start..start + size]
    }
}

fn buffered_config(segment_max_bytes: u64) -> LogConfig {
    LogConfig { segment_max_bytes, segment_max_age: None, durability: Durability::Buffered, ..LogConfig::default() }
}

/// A shard log in a temp dir, recreated (outside the timed region) once it grows large.
struct LogTarget {
    root: tempfile::TempDir,
    generation: u32,
    log: Option<ShardLog>,
    written: u64,
    config: LogConfig,
}

impl LogTarget {
    fn new(config: LogConfig) -> LogTarget {
        let root = tempfile::tempdir().unwrap();
        let log = ShardLog::open(root.path().join("0"), LogOptions::new(config.clone())).unwrap();
        LogTarget { root, generation: 0, log: Some(log), written: 0, config }
    }

    fn log(&self) -> &ShardLog {
        self.log.as_ref().unwrap()
    }

    fn maybe_reset(&mut self) {
        if self.written < RESET_BYTES {
            return;
        }
        if let Some(log) = self.log.take() {
            log.close().unwrap();
        }
        std::fs::remove_dir_all(self.root.path().join(self.generation.to_string())).unwrap();
        self.generation += 1;
        let dir = self.root.path().join(self.generation.to_string());
        self.log = Some(ShardLog::open(dir, LogOptions::new(self.config.clone())).unwrap());
        self.written = 0;
    }
}

/// Raw frame: `[data_len u32][crc u32][key_len u16][arrival_ms i64][key][data]`, CRC over
/// key and data.
const RAW_HEADER: usize = 18;

fn raw_frame_header(key: &[u8], data: &[u8], arrival_ms: i64) -> [u8; RAW_HEADER] {
    let mut h = crc32fast::Hasher::new();
    h.update(key);
    h.update(data);
    let mut head = [0u8; RAW_HEADER];
    head[..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
    head[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    head[8..10].copy_from_slice(&(key.len() as u16).to_le_bytes());
    head[10..18].copy_from_slice(&arrival_ms.to_le_bytes());
    head
}

fn raw_frame_ok(frame: &[u8]) -> bool {
    let data_len = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
    let key_len = u16::from_le_bytes(frame[8..10].try_into().unwrap()) as usize;
    let body = &frame[RAW_HEADER..RAW_HEADER + key_len + data_len];
    crc32fast::hash(body) == u32::from_le_bytes(frame[4..8].try_into().unwrap())
}

/// The raw baseline's append target: a buffered file, truncated once it grows large.
struct RawTarget {
    _root: tempfile::TempDir,
    path: PathBuf,
    w: BufWriter<File>,
    written: u64,
}

impl RawTarget {
    fn new() -> RawTarget {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("raw.dat");
        let w = BufWriter::with_capacity(64 << 10, File::create(&path).unwrap());
        RawTarget { _root: root, path, w, written: 0 }
    }

    fn append(&mut self, key: &[u8], data: &[u8]) {
        self.w.write_all(&raw_frame_header(key, data, 0)).unwrap();
        self.w.write_all(key).unwrap();
        self.w.write_all(data).unwrap();
        self.written += (RAW_HEADER + key.len() + data.len()) as u64;
    }

    fn maybe_reset(&mut self) {
        if self.written < RESET_BYTES {
            return;
        }
        self.w.flush().unwrap();
        self.w = BufWriter::with_capacity(64 << 10, File::create(&self.path).unwrap());
        self.written = 0;
    }
}

fn bench_append(c: &mut Criterion) {
    let pool = Pool::new(1 << 20);
    for (label, size) in [("100B", 100usize), ("1KiB", 1024), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let mut g = c.benchmark_group(format!("append/{label}"));
        g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
        let record_bytes = (KEY.len() + size) as u64;

        g.throughput(Throughput::Bytes(record_bytes));
        let mut target = LogTarget::new(buffered_config(64 << 20));
        let mut i = 0u64;
        g.bench_function("single", |b| {
            b.iter_custom(|iters| {
                target.maybe_reset();
                let log = target.log();
                let start = Instant::now();
                for _ in 0..iters {
                    log.append(&[RecordRef::new(KEY, pool.data(i, size))]).unwrap();
                    i += 1;
                }
                let t = start.elapsed();
                target.written += iters * record_bytes;
                t
            })
        });
        drop(target);

        if size <= 1024 {
            const BATCH: u64 = 500;
            g.throughput(Throughput::Bytes(record_bytes * BATCH));
            let mut target = LogTarget::new(buffered_config(64 << 20));
            let mut refs: Vec<RecordRef<'_>> = Vec::with_capacity(BATCH as usize);
            g.bench_function("batch500", |b| {
                b.iter_custom(|iters| {
                    target.maybe_reset();
                    let log = target.log();
                    let start = Instant::now();
                    for _ in 0..iters {
                        refs.clear();
                        refs.extend((i..i + BATCH).map(|j| RecordRef::new(KEY, pool.data(j, size))));
                        log.append(&refs).unwrap();
                        i += BATCH;
                    }
                    let t = start.elapsed();
                    target.written += iters * BATCH * record_bytes;
                    t
                })
            });
            drop(target);
        }

        g.throughput(Throughput::Bytes(record_bytes));
        let mut raw = RawTarget::new();
        g.bench_function("raw_file_crc", |b| {
            b.iter_custom(|iters| {
                raw.maybe_reset();
                let start = Instant::now();
                for _ in 0..iters {
                    raw.append(KEY, pool.data(i, size));
                    i += 1;
                }
                raw.w.flush().unwrap();
                start.elapsed()
            })
        });
        g.finish();
    }
}

/// The read/lookup fixture: the same 1M records in a shard log (16 MiB segments, arrival
/// times 1 ms apart per 100-record batch) and in a raw file of fixed-size frames.
struct ReadFixture {
    _root: tempfile::TempDir,
    log: ShardLog,
    raw: File,
    frame: usize,
    first_ms: i64,
    last_ms: i64,
    active_base: u64,
}

fn read_fixture(pool: &Pool) -> ReadFixture {
    let root = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let first_ms = 1_700_000_000_000;
    let opts = LogOptions::new(buffered_config(READ_SEGMENT_BYTES)).with_clock(Arc::new(clock.clone()));
    let log = ShardLog::open(root.path().join("shard"), opts).unwrap();
    let raw_path = root.path().join("raw.dat");
    let mut w = BufWriter::new(File::create(&raw_path).unwrap());
    let mut refs = Vec::with_capacity(100);
    let mut i = 0;
    while i < READ_RECORDS {
        refs.clear();
        refs.extend((i..i + 100).map(|j| RecordRef::new(KEY, pool.data(j, READ_RECORD_SIZE))));
        let a = log.append(&refs).unwrap();
        for j in i..i + 100 {
            let data = pool.data(j, READ_RECORD_SIZE);
            w.write_all(&raw_frame_header(KEY, data, a.arrival_ms)).unwrap();
            w.write_all(KEY).unwrap();
            w.write_all(data).unwrap();
        }
        clock.advance(Duration::from_millis(1));
        i += 100;
    }
    w.flush().unwrap();
    drop(w);
    let active_base = log.segments().last().unwrap().base_offset;
    ReadFixture {
        log,
        raw: File::open(&raw_path).unwrap(),
        frame: RAW_HEADER + KEY.len() + READ_RECORD_SIZE,
        first_ms,
        last_ms: clock.now_ms(),
        active_base,
        _root: root,
    }
}

fn bench_read(c: &mut Criterion, fx: &ReadFixture) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(READ_CHUNK as u64));
    let hw = fx.log.high_watermark();

    // Offsets from 0, wrapping before the active segment (sealed, mapped segments).
    let mut next = 0u64;
    g.bench_function("in_order", |b| {
        b.iter(|| {
            if next + READ_CHUNK as u64 > fx.active_base {
                next = 0;
            }
            let r = fx.log.read(next, READ_CHUNK, MAX_READ_BYTES).unwrap();
            assert_eq!(r.records.len(), READ_CHUNK);
            next = r.next_offset;
            black_box(r.records)
        })
    });
    // The active segment (positional reads).
    let mut next = fx.active_base;
    g.bench_function("active_segment", |b| {
        b.iter(|| {
            if next + READ_CHUNK as u64 > hw {
                next = fx.active_base;
            }
            let r = fx.log.read(next, READ_CHUNK, MAX_READ_BYTES).unwrap();
            assert_eq!(r.records.len(), READ_CHUNK);
            next = r.next_offset;
            black_box(r.records)
        })
    });
    let mut buf = vec![0u8; READ_CHUNK * fx.frame];
    let mut next = 0u64;
    g.bench_function("raw_file_crc", |b| {
        b.iter(|| {
            if next + READ_CHUNK as u64 > hw {
                next = 0;
            }
            fx.raw.read_exact_at(&mut buf, next * fx.frame as u64).unwrap();
            for frame in buf.chunks_exact(fx.frame) {
                assert!(raw_frame_ok(frame));
            }
            next += READ_CHUNK as u64;
            black_box(&buf);
        })
    });
    g.finish();
}

fn bench_lookup(c: &mut Criterion, fx: &ReadFixture) {
    let mut g = c.benchmark_group("lookup");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(1));
    let hw = fx.log.high_watermark();
    let mut rng = Rng(42);
    g.bench_function("random_offset", |b| {
        b.iter(|| {
            let at = rng.below(hw);
            let r = fx.log.read(at, 1, MAX_READ_BYTES).unwrap();
            assert_eq!(r.records[0].offset, at);
            black_box(r.records)
        })
    });
    let mut rng = Rng(42);
    g.bench_function("random_offset_sealed", |b| {
        b.iter(|| {
            let at = rng.below(fx.active_base);
            let r = fx.log.read(at, 1, MAX_READ_BYTES).unwrap();
            assert_eq!(r.records[0].offset, at);
            black_box(r.records)
        })
    });
    let mut rng = Rng(42);
    let mut frame = vec![0u8; fx.frame];
    g.bench_function("raw_pread_crc", |b| {
        b.iter(|| {
            let at = rng.below(hw);
            fx.raw.read_exact_at(&mut frame, at * fx.frame as u64).unwrap();
            assert!(raw_frame_ok(&frame));
            black_box(&frame);
        })
    });
    let span = (fx.last_ms - fx.first_ms) as u64;
    let mut rng = Rng(7);
    g.bench_function("time", |b| {
        b.iter(|| {
            let t = fx.first_ms + rng.below(span) as i64;
            black_box(fx.log.offset_for_time(t).unwrap())
        })
    });
    let mut rng = Rng(7);
    let mut head = [0u8; RAW_HEADER];
    g.bench_function("raw_time_bisect", |b| {
        b.iter(|| {
            let t = fx.first_ms + rng.below(span) as i64;
            // First frame with arrival >= t, by binary search over frame headers.
            let (mut lo, mut hi) = (0u64, hw);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                fx.raw.read_exact_at(&mut head, mid * fx.frame as u64).unwrap();
                if i64::from_le_bytes(head[10..18].try_into().unwrap()) < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            black_box(lo)
        })
    });
    g.finish();
}

/// Put latencies of one sync benchmark, for the p50/p99 printout.
type Latencies = Arc<Mutex<Vec<Duration>>>;

fn percentiles(label: &str, lat: &Latencies) {
    let mut v = std::mem::take(&mut *lat.lock().unwrap());
    if v.is_empty() {
        return;
    }
    v.sort_unstable();
    let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{label}: put latency p50 {:.3} ms, p99 {:.3} ms ({} puts)",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        v.len()
    );
}

/// Run `iters` puts spread over `producers` threads (each at least one); returns the wall
/// time scaled to exactly `iters` puts.
fn run_producers(iters: u64, producers: u64, lat: &Latencies, put: &(dyn Fn(u64, u64) + Sync)) -> Duration {
    let per = iters.div_ceil(producers).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for p in 0..producers {
            let lat = Arc::clone(lat);
            s.spawn(move || {
                let mut mine = Vec::with_capacity(per as usize);
                for k in 0..per {
                    let t = Instant::now();
                    put(p, k);
                    mine.push(t.elapsed());
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = start.elapsed();
    elapsed.mul_f64(iters as f64 / (per * producers) as f64)
}

fn bench_sync(c: &mut Criterion) {
    let pool = Pool::new(100);
    let mut g = c.benchmark_group("sync");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(1));
    for producers in [1u64, 8, 64] {
        let root = tempfile::tempdir().unwrap();
        let cfg = LogConfig { durability: Durability::Sync, ..buffered_config(64 << 20) };
        let log = ShardLog::open(root.path().join("shard"), LogOptions::new(cfg)).unwrap();
        let lat: Latencies = Arc::default();
        g.bench_function(format!("{producers}_producers"), |b| {
            b.iter_custom(|iters| {
                run_producers(iters, producers, &lat, &|p, k| {
                    log.append(&[RecordRef::new(KEY, pool.data(p * 1_000_003 + k, 100))]).unwrap();
                })
            })
        });
        percentiles(&format!("sync/{producers}_producers"), &lat);
        drop(log);

        let files: Vec<(File, Mutex<u64>)> = (0..producers)
            .map(|p| (File::create(root.path().join(format!("raw-{p}.dat"))).unwrap(), Mutex::new(0u64)))
            .collect();
        g.bench_function(BenchmarkId::new("fdatasync_per_put", producers), |b| {
            b.iter_custom(|iters| {
                run_producers(iters, producers, &lat, &|p, k| {
                    let (f, pos) = &files[p as usize];
                    let data = pool.data(p * 1_000_003 + k, 100);
                    let mut rec = Vec::with_capacity(RAW_HEADER + KEY.len() + data.len());
                    rec.extend_from_slice(&raw_frame_header(KEY, data, 0));
                    rec.extend_from_slice(KEY);
                    rec.extend_from_slice(data);
                    let mut pos = pos.lock().unwrap();
                    f.write_all_at(&rec, *pos).unwrap();
                    *pos += rec.len() as u64;
                    f.sync_data().unwrap();
                })
            })
        });
        percentiles(&format!("sync/fdatasync_per_put/{producers}"), &lat);
    }
    g.finish();
}

fn bench_reads(c: &mut Criterion) {
    let pool = Pool::new(READ_RECORD_SIZE);
    let fx = read_fixture(&pool);
    bench_read(c, &fx);
    bench_lookup(c, &fx);
}

criterion_group!(benches, bench_append, bench_reads, bench_sync);
criterion_main!(benches);
