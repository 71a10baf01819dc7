//! Queue benchmarks through the engine (issue #16 part B), ratios to a baseline measured in
//! the same run:
//!
//! - `queue_engine` (100 records per iteration, one queue on a 4-shard on-demand stream,
//!   the engine's default durability `Interval(200 ms)`, 100-byte records; the records are
//!   put before each iteration, untimed): `receive_ack_100` — `QueueHandle::receive(100)`
//!   then `ack_all` of the 100 deliveries (records read from the shard logs, two state-log
//!   events); baseline `get_records_100` — the same number of fresh records read by
//!   `GetRecords` from per-shard iterators. Target: receive+ack ≥ 0.25× GetRecords and
//!   ≥ 500,000 records/s.
//! - `queue_engine_competing` (20,000 records per iteration): 8 threads receiving batches
//!   of 100 and acknowledging them; it also checks that no record was delivered twice while
//!   its visibility held (the run panics otherwise).
//!
//! ```text
//! cargo bench -p shardlog --bench queue_engine      # add `-- --quick` for a short run
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardlog::engine::*;
use shardlog::{Engine, EngineConfig};

const RECORD: usize = 100;

fn engine(dir: &std::path::Path) -> (Engine, String) {
    let engine = Engine::open(
        dir,
        EngineConfig { retention_check_interval: None, channel_delivery_interval: None, ..Default::default() },
    )
    .expect("open");
    engine.create_stream(CreateStreamInput { stream_name: "s".into(), ..Default::default() }).expect("stream");
    let arn = engine.describe_stream_summary(StreamRef::name("s")).expect("summary").stream_arn;
    engine
        .create_queue(CreateQueueInput {
            queue_name: "q".into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: arn,
                starting_position: Some(QueueStartingPosition {
                    kind: QueueStartingPositionType::TrimHorizon,
                    timestamp: None,
                }),
            }],
            queue_attributes: Some(QueueAttributes {
                visibility_timeout_seconds: Some(3600),
                dead_letter_configuration: None,
            }),
            ..Default::default()
        })
        .expect("queue");
    (engine, "s".into())
}

fn put(engine: &Engine, stream: &str, n: usize, serial: &mut u64) {
    for chunk in 0..n.div_ceil(500) {
        let count = (n - chunk * 500).min(500);
        let records = (0..count)
            .map(|_| {
                *serial += 1;
                PutRecordsRequestEntry {
                    data: Bytes::from(vec![(*serial % 251) as u8; RECORD]),
                    partition_key: Some(format!("k{}", *serial % 1024)),
                    explicit_hash_key: None,
                }
            })
            .collect();
        let out = engine
            .put_records(PutRecordsInput { stream: StreamRef::name(stream), records, dry_run: false })
            .expect("put");
        assert_eq!(out.failed_record_count, 0);
    }
}

fn bench_receive_ack(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_engine");
    g.throughput(Throughput::Elements(100));
    g.measurement_time(Duration::from_secs(5));

    let dir = tempfile::tempdir().expect("tmp");
    let (e, s) = engine(dir.path());
    let q = e.queue(&s, "q").expect("queue handle");
    let mut serial = 0;
    g.bench_function("receive_ack_100", |b| {
        b.iter_batched(
            || put(&e, &s, 100, &mut serial),
            |()| {
                let got = q.receive(100, Duration::ZERO).expect("receive");
                assert_eq!(got.len(), 100);
                let acked = q.ack_all(&got).expect("ack");
                assert!(acked.iter().all(|r| r.is_ok()));
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("tmp");
    let (e, s) = engine(dir.path());
    let shards = e.list_shards(ListShardsInput { stream: StreamRef::name(&s), ..Default::default() }).expect("shards");
    let mut iterators: Vec<String> = shards
        .shards
        .iter()
        .map(|sh| {
            e.get_shard_iterator(GetShardIteratorInput {
                stream: StreamRef::name(&s),
                shard_id: sh.shard_id.clone(),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .expect("iterator")
            .shard_iterator
        })
        .collect();
    let mut serial = 0;
    g.bench_function("get_records_100", |b| {
        b.iter_batched(
            || put(&e, &s, 100, &mut serial),
            |()| {
                let mut n = 0;
                for it in iterators.iter_mut() {
                    let out = e
                        .get_records(GetRecordsInput {
                            shard_iterator: std::mem::take(it),
                            limit: Some(100),
                            ..Default::default()
                        })
                        .expect("get_records");
                    n += out.records.len();
                    *it = out.next_shard_iterator.expect("open shard");
                }
                assert_eq!(n, 100);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_competing(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_engine_competing");
    const N: usize = 20_000;
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let dir = tempfile::tempdir().expect("tmp");
    let (e, s) = engine(dir.path());
    let mut serial = 0;
    g.bench_function("8_threads_receive_ack_100", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                put(&e, &s, N, &mut serial);
                let seen = Arc::new(Mutex::new(Vec::with_capacity(N)));
                let start = Instant::now();
                let threads: Vec<_> = (0..8)
                    .map(|_| {
                        let q = e.queue(&s, "q").expect("queue");
                        let seen = Arc::clone(&seen);
                        std::thread::spawn(move || loop {
                            let got = q.receive(100, Duration::ZERO).expect("receive");
                            if got.is_empty() {
                                return;
                            }
                            seen.lock().expect("lock").extend(got.iter().map(|d| d.record_id().to_owned()));
                            assert!(q.ack_all(&got).expect("ack").iter().all(|r| r.is_ok()));
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("thread");
                }
                total += start.elapsed();
                let seen = seen.lock().expect("lock");
                let distinct: HashSet<&String> = seen.iter().collect();
                assert_eq!(seen.len(), N, "every record once");
                assert_eq!(distinct.len(), N, "no record delivered twice while its visibility held");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_receive_ack, bench_competing);
criterion_main!(benches);
