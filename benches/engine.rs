//! Engine benchmarks (issue 3): the Kinesis-shaped API against the storage core on the same
//! bytes, in one criterion group so the ratios come from one run.
//!
//! - `put_records/500x100B/1_shard`, `put_records/500x100B/64_shards`: one `PutRecords` of
//!   500 records of 100 B with 500 distinct partition keys (so MD5 routing, validation,
//!   sequence numbers and the 500 result entries are all paid), into a 1-shard and a
//!   64-shard stream.
//! - `storage_core/500x100B`: the same 500 keys and payloads appended straight to a
//!   `ShardLog` as one `append` — the baseline that makes the API overhead a ratio.
//! - `get_records/10000`: `GetRecords` returning 10,000-record batches from a shard
//!   pre-filled with 1,000,000 × 100 B records (looping: back to `TRIM_HORIZON` at the end),
//!   vs `storage_core/read_10000`: `ShardLog::read` of 10,000 records over the same files.
//!
//! Durability is `Buffered` everywhere: an append is one `write(2)` into the page cache and
//! is never fdatasynced. The clock is the system clock, as in production. Throughput is in
//! records (criterion prints records/s). With the default 64 MiB segments the 1,000,000-record
//! prefill (≈ 126 MB) leaves ~53% of the records in a sealed segment (read through its memory
//! map) and ~47% in the active one (read with positional reads), so the read figures mix both.
//!
//! Timing: each call is timed on its own (`iter_custom`), so cloning the request (the API
//! takes it by value), recreating data directories and resetting iterators are not counted;
//! dropping the response is counted. Put benches recreate their engine or log in a fresh
//! temporary directory every [`RECREATE_AFTER`] records so the data directory stays bounded.
//!
//! Run: `cargo bench -p shardlog --bench engine` (≈ 1–1.5 minutes; `-- --quick` for a smoke
//! run). Data goes to the system temporary directory; `SHARDLOG_BENCH_DIR=/dev/shm` puts it
//! on tmpfs instead. On a disk, sustained buffered writes at these rates run into the kernel's
//! dirty-page throttling, so the append figures there include writeback back-pressure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use shardlog::engine::{
    CreateStreamInput, GetRecordsInput, GetShardIteratorInput, PutRecordsInput, PutRecordsRequestEntry,
    ShardIteratorType, StreamRef,
};
use shardlog::{Durability, Engine, EngineConfig, LogConfig, LogOptions, RecordRef, ShardLog};
use tempfile::TempDir;

/// Records per PutRecords call (the Kinesis maximum).
const BATCH: usize = 500;
/// Payload bytes per record.
const RECORD_BYTES: usize = 100;
/// Records per GetRecords call (the Kinesis maximum).
const READ_BATCH: usize = 10_000;
/// GetRecords' byte cap (10 MiB), used for the storage-core read too.
const READ_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Records pre-filled for the read benchmarks.
const PREFILL: usize = 1_000_000;
/// Start over in a fresh directory after this many records (≈ 130 MB of log).
const RECREATE_AFTER: usize = 1_000_000;
/// The benchmark stream.
const STREAM: &str = "bench";

/// A fresh temporary directory: under `$SHARDLOG_BENCH_DIR` if set (e.g. `/dev/shm`, to take
/// the disk's writeback out of the figures), else the system temporary directory.
fn bench_dir() -> TempDir {
    match std::env::var_os("SHARDLOG_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn engine_config() -> EngineConfig {
    EngineConfig { durability: Durability::Buffered, ..EngineConfig::default() }
}

fn log_options() -> LogOptions {
    LogOptions::new(LogConfig { durability: Durability::Buffered, ..LogConfig::default() })
}

/// 500 distinct partition keys.
fn keys() -> Vec<String> {
    (0..BATCH).map(|i| format!("partition-key-{i:05}")).collect()
}

/// A 100-byte payload (not all one byte, in case anything ever compresses).
fn payload() -> Bytes {
    Bytes::from((0..RECORD_BYTES).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

fn put_input(keys: &[String], data: &Bytes) -> PutRecordsInput {
    PutRecordsInput {
        stream: StreamRef::name(STREAM),
        records: keys
            .iter()
            .map(|k| PutRecordsRequestEntry {
                data: data.clone(),
                partition_key: Some(k.clone()),
                explicit_hash_key: None,
            })
            .collect(),
        dry_run: false,
    }
}

/// An engine with one stream in a temporary directory.
struct EngineFixture {
    engine: Engine,
    written: usize,
    _dir: TempDir,
}

impl EngineFixture {
    fn new(shards: u32, warm: &PutRecordsInput) -> EngineFixture {
        let dir = bench_dir();
        let engine = Engine::open(dir.path(), engine_config()).unwrap();
        engine
            .create_stream(CreateStreamInput {
                stream_name: STREAM.into(),
                shard_count: Some(shards),
                ..Default::default()
            })
            .unwrap();
        // Opens the shard logs (lazily opened on first use) outside the measurement.
        let out = engine.put_records(warm.clone()).unwrap();
        assert_eq!(out.failed_record_count, 0);
        EngineFixture { engine, written: BATCH, _dir: dir }
    }
}

impl Drop for EngineFixture {
    fn drop(&mut self) {
        let _ = self.engine.close();
    }
}

/// A standalone shard log in a temporary directory.
struct LogFixture {
    log: ShardLog,
    written: usize,
    _dir: TempDir,
}

impl LogFixture {
    fn new() -> LogFixture {
        let dir = bench_dir();
        let log = ShardLog::open(dir.path().join("shard"), log_options()).unwrap();
        LogFixture { log, written: 0, _dir: dir }
    }
}

impl Drop for LogFixture {
    fn drop(&mut self) {
        let _ = self.log.close();
    }
}

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn bench_put_records(g: &mut Group<'_>, name: &str, shards: u32, keys: &[String], data: &Bytes) {
    let input = put_input(keys, data);
    let mut fx = EngineFixture::new(shards, &input);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if fx.written >= RECREATE_AFTER {
                    fx = EngineFixture::new(shards, &input);
                }
                let req = input.clone();
                let t = Instant::now();
                let out = fx.engine.put_records(black_box(req)).unwrap();
                let failed = out.failed_record_count;
                drop(black_box(out));
                total += t.elapsed();
                assert_eq!(failed, 0);
                fx.written += BATCH;
            }
            total
        })
    });
}

fn bench_storage_append(g: &mut Group<'_>, keys: &[String], data: &Bytes) {
    let refs: Vec<RecordRef<'_>> = keys.iter().map(|k| RecordRef::new(k.as_bytes(), data)).collect();
    let mut fx = LogFixture::new();
    g.bench_function("storage_core/500x100B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if fx.written >= RECREATE_AFTER {
                    fx = LogFixture::new();
                }
                let t = Instant::now();
                let a = fx.log.append(black_box(&refs)).unwrap();
                total += t.elapsed();
                assert_eq!(a.next_offset - a.first_offset, BATCH as u64);
                fx.written += BATCH;
            }
            total
        })
    });
}

fn trim_horizon(engine: &Engine) -> String {
    engine
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(STREAM),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap()
        .shard_iterator
}

/// The read benchmarks' data: a 1-shard stream pre-filled with [`PREFILL`] records, first
/// read through the engine, then (engine closed) through its shard log opened directly.
enum ReadData {
    Engine(Engine),
    Log(ShardLog),
}

struct ReadFixture {
    data: ReadData,
    _dir: TempDir,
}

impl ReadFixture {
    fn new(keys: &[String], payload: &Bytes) -> ReadFixture {
        let dir = bench_dir();
        let engine = Engine::open(dir.path(), engine_config()).unwrap();
        engine
            .create_stream(CreateStreamInput { stream_name: STREAM.into(), shard_count: Some(1), ..Default::default() })
            .unwrap();
        let input = put_input(keys, payload);
        for _ in 0..PREFILL / BATCH {
            let out = engine.put_records(input.clone()).unwrap();
            assert_eq!(out.failed_record_count, 0);
        }
        ReadFixture { data: ReadData::Engine(engine), _dir: dir }
    }

    fn engine(&self) -> &Engine {
        match &self.data {
            ReadData::Engine(e) => e,
            ReadData::Log(_) => panic!("the engine benchmark runs first"),
        }
    }

    /// Close the engine cleanly (so the log opens without a recovery scan) and open its one
    /// shard log directly.
    fn log(&mut self) -> &ShardLog {
        if let ReadData::Engine(engine) = &self.data {
            let shards = engine.root().join("shards");
            engine.close().unwrap();
            let stream_dir = std::fs::read_dir(&shards).unwrap().next().unwrap().unwrap().path();
            // Dropping the engine releases the directory lock before the log is opened.
            self.data = ReadData::Log(ShardLog::open(stream_dir.join("shardId-000000000000"), log_options()).unwrap());
        }
        match &self.data {
            ReadData::Log(log) => log,
            ReadData::Engine(_) => unreachable!(),
        }
    }
}

impl Drop for ReadFixture {
    fn drop(&mut self) {
        let _ = match &self.data {
            ReadData::Engine(e) => e.close(),
            ReadData::Log(l) => l.close(),
        };
    }
}

/// GetRecords over the pre-filled stream, then `ShardLog::read` over the same files. The
/// fixture is built lazily so a filtered run (e.g. when profiling a put) skips the prefill.
fn bench_reads(g: &mut Group<'_>, keys: &[String], data: &Bytes) {
    let mut fixture: Option<ReadFixture> = None;
    let mut it = String::new();
    let mut read = PREFILL;
    g.bench_function("get_records/10000", |b| {
        let engine = fixture.get_or_insert_with(|| ReadFixture::new(keys, data)).engine();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if read >= PREFILL {
                    it = trim_horizon(engine);
                    read = 0;
                }
                let req = GetRecordsInput {
                    shard_iterator: std::mem::take(&mut it),
                    limit: None,
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                };
                let t = Instant::now();
                let mut out = engine.get_records(black_box(req)).unwrap();
                let n = out.records.len();
                let next = out.next_shard_iterator.take();
                drop(black_box(out));
                total += t.elapsed();
                assert_eq!(n, READ_BATCH);
                it = next.unwrap();
                read += n;
            }
            total
        })
    });

    let mut next = 0u64;
    g.bench_function("storage_core/read_10000", |b| {
        let log = fixture.get_or_insert_with(|| ReadFixture::new(keys, data)).log();
        assert_eq!(log.high_watermark(), PREFILL as u64);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if next >= PREFILL as u64 {
                    next = 0;
                }
                let t = Instant::now();
                let r = log.read(black_box(next), READ_BATCH, READ_MAX_BYTES).unwrap();
                let n = r.records.len();
                let after = r.next_offset;
                drop(black_box(r));
                total += t.elapsed();
                assert_eq!(n, READ_BATCH);
                next = after;
            }
            total
        })
    });
}

fn engine_benches(c: &mut Criterion) {
    let keys = keys();
    let data = payload();
    let mut g = c.benchmark_group("engine");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));

    g.throughput(Throughput::Elements(BATCH as u64));
    bench_put_records(&mut g, "put_records/500x100B/1_shard", 1, &keys, &data);
    bench_put_records(&mut g, "put_records/500x100B/64_shards", 64, &keys, &data);
    bench_storage_append(&mut g, &keys, &data);

    g.throughput(Throughput::Elements(READ_BATCH as u64));
    bench_reads(&mut g, &keys, &data);
    g.finish();
}

criterion_group!(benches, engine_benches);
criterion_main!(benches);
