//! Event-source driver throughput (issue 5): records per second delivered to a no-op handler
//! from a pre-filled one-shard stream (200,000 × 100 B records, 1,000 partition keys), with
//! `BatchSize` 100 and 10,000.
//!
//! Each measured iteration creates a mapping with a fresh UUID at `TRIM_HORIZON` and steps
//! it (`poll_once`) until the whole stream has been delivered: GetRecords, building the
//! events, the invocations and the checkpoints (durable manifest commits) are all counted.
//! Durability is `Buffered` for the records; the clock is the system clock.
//!
//! Run: `cargo bench -p shardlog --bench event_source` (`-- --quick` for a smoke run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

#[path = "support/event_source.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardlog::engine::StreamRef;
use shardlog::event_source::{EventSourceConfig, EventSourceMapping, EventSourcePosition};
use shardlog::{Durability, Engine, EngineConfig};
use support::{prefill, Noop};

/// Records in the stream.
const RECORDS: usize = 200_000;
const STREAM: &str = "bench";
const FN_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:noop";

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        dir.path(),
        EngineConfig { durability: Durability::Buffered, retention_check_interval: None, ..EngineConfig::default() },
    )
    .unwrap();
    prefill(&engine, STREAM, RECORDS);
    let mut group = c.benchmark_group("event_source");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for batch_size in [100u32, 10_000] {
        group.bench_function(format!("deliver_{RECORDS}/batch_{batch_size}"), |b| {
            b.iter(|| {
                let handler = Arc::new(Noop(AtomicUsize::new(0)));
                let mut cfg = EventSourceConfig::new(StreamRef::name(STREAM), FN_ARN, EventSourcePosition::TrimHorizon);
                cfg.batch_size = batch_size;
                let uuid = cfg.uuid.clone();
                let mut m = EventSourceMapping::new(&engine, cfg, handler.clone()).unwrap();
                while handler.0.load(Ordering::Relaxed) < RECORDS {
                    m.poll_once().unwrap();
                }
                drop(m);
                // Keep the catalog small: forget this mapping's checkpoints (not timed
                // separately; one manifest commit).
                engine.delete_checkpoints(&StreamRef::name(STREAM), &uuid).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
