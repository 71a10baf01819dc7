//! The throughput cost of encryption at rest: the same shard log workload with and without
//! sealing every batch (AES-256-GCM, `shardlog::at_rest`), measured in the same run.
//!
//! Groups (Buffered durability, 64 MiB segments, a fresh directory per group):
//! - `append/<size>`: `plain` and `sealed`, batches of 100 records of 100 B or 1 KiB.
//! - `read/<size>`: `plain` and `sealed`, reading 10,000 records back (every batch CRC-checked;
//!   sealed batches also authenticated and decrypted).
//!
//! `cargo bench -p shardlog --bench at_rest -- --quick`; the ratios sealed ÷ plain are what
//! docs/benchmarks.md reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shardlog::at_rest::AtRestKey;
use shardlog::{Durability, LogConfig, LogOptions, RecordRef, ShardLog};

const BATCH: usize = 100;
const READ_RECORDS: u64 = 10_000;

fn log(dir: &std::path::Path, seal: bool) -> ShardLog {
    let config = LogConfig {
        durability: Durability::Buffered,
        segment_max_age: None,
        at_rest_key: seal.then(|| Arc::new(AtRestKey::new([9; 32]))),
        ..LogConfig::default()
    };
    ShardLog::open(dir, LogOptions::new(config)).expect("open")
}

fn bench(c: &mut Criterion) {
    for size in [100usize, 1024] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let records: Vec<RecordRef<'_>> = (0..BATCH).map(|_| RecordRef::new(b"pk-00", &data)).collect();
        let mut g = c.benchmark_group(format!("append/{size}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        g.measurement_time(Duration::from_secs(3));
        for seal in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let l = log(dir.path(), seal);
            let name = if seal { "sealed" } else { "plain" };
            g.bench_function(BenchmarkId::new(name, BATCH), |b| {
                b.iter(|| black_box(l.append_with(&records, seal).expect("append")))
            });
            l.close().expect("close");
        }
        g.finish();

        let mut g = c.benchmark_group(format!("read/{size}"));
        g.throughput(Throughput::Elements(READ_RECORDS));
        g.measurement_time(Duration::from_secs(3));
        for seal in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let l = log(dir.path(), seal);
            for _ in 0..READ_RECORDS as usize / BATCH {
                l.append_with(&records, seal).expect("fill");
            }
            let name = if seal { "sealed" } else { "plain" };
            g.bench_function(BenchmarkId::new(name, READ_RECORDS), |b| {
                b.iter(|| {
                    let mut next = 0;
                    while next < READ_RECORDS {
                        let r = l.read(next, 10_000, 10 << 20).expect("read");
                        next = r.next_offset;
                        black_box(r.records.len());
                    }
                })
            });
            l.close().expect("close");
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
