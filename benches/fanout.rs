//! Append → push-subscriber receipt latency (enhanced fan-out), with 1 and 20 subscribers on
//! one shard, in process.
//!
//! `cargo bench -p shardlog --bench fanout`
//!
//! Each sample: one `put_record` (Buffered durability), timed from just before the call until
//! every subscriber thread has received the record (each blocks in `recv_timeout`, woken by
//! the append itself). Criterion reports the mean per sample; the distribution of single
//! append → receipt latencies (p50, p99, per subscriber) is printed from a separate run of
//! 20,000 appends. Baseline in the same run: a plain `std::sync::mpsc` hand-off between two
//! threads, the floor for waking another thread on this machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use shardlog::engine::fanout::{FanoutConfig, Received};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig};

struct Setup {
    engine: Engine,
    _dir: tempfile::TempDir,
    /// Per subscriber: how many records it has received.
    received: Vec<Arc<AtomicU64>>,
    /// Receipt times (ns since `epoch`) of the last record, per subscriber.
    receipt_ns: Vec<Arc<AtomicU64>>,
    epoch: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn setup(subscribers: usize) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EngineConfig {
        durability: Durability::Buffered,
        retention_check_interval: None,
        fanout: FanoutConfig { subscription_lifetime: Duration::from_secs(3600), ..FanoutConfig::default() },
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), cfg).expect("open");
    engine
        .create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() })
        .expect("create");
    let epoch = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let mut received = Vec::new();
    let mut receipt_ns = Vec::new();
    let mut threads = Vec::new();
    for i in 0..subscribers {
        let c = engine
            .register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
                consumer_name: format!("c{i}"),
                stream_id: None,
                tags: Default::default(),
            })
            .expect("register");
        let mut sub = engine
            .subscribe_to_shard(SubscribeToShardInput {
                consumer_arn: c.consumer_arn,
                shard_id: "shardId-000000000000".into(),
                starting_position: StartingPosition {
                    position_type: ShardIteratorType::Latest,
                    sequence_number: None,
                    timestamp: None,
                },
                stream_id: None,
                dry_run: false,
            })
            .expect("subscribe");
        let count = Arc::new(AtomicU64::new(0));
        let at = Arc::new(AtomicU64::new(0));
        received.push(Arc::clone(&count));
        receipt_ns.push(Arc::clone(&at));
        let (stop, ready) = (Arc::clone(&stop), Arc::clone(&ready));
        threads.push(std::thread::spawn(move || {
            ready.wait();
            while !stop.load(Ordering::Acquire) {
                if let Ok(Received::Event(ev)) = sub.recv_timeout(Duration::from_millis(100)) {
                    if !ev.records.is_empty() {
                        at.store(epoch.elapsed().as_nanos() as u64, Ordering::Release);
                        count.fetch_add(ev.records.len() as u64, Ordering::Release);
                    }
                }
            }
        }));
    }
    ready.wait();
    Setup { engine, _dir: dir, received, receipt_ns, epoch, stop, threads }
}

impl Setup {
    fn put(&self) {
        self.engine
            .put_record(PutRecordInput {
                stream: StreamRef::name("s"),
                data: Bytes::from_static(b"0123456789012345678901234567890123456789"),
                partition_key: Some("k".into()),
                ..Default::default()
            })
            .expect("put");
    }

    /// Put one record and wait until every subscriber has it; returns per-subscriber latency.
    fn one(&self, expected: u64, lat: &mut Vec<u64>) {
        let sent = self.epoch.elapsed().as_nanos() as u64;
        self.put();
        for (count, at) in self.received.iter().zip(&self.receipt_ns) {
            while count.load(Ordering::Acquire) < expected {
                std::hint::spin_loop();
            }
            lat.push(at.load(Ordering::Acquire).saturating_sub(sent));
        }
    }

    fn finish(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

fn distribution(subscribers: usize) {
    let s = setup(subscribers);
    let mut lat = Vec::new();
    for i in 1..=20_000u64 {
        s.one(i, &mut lat);
    }
    lat.sort_unstable();
    println!(
        "fanout/{subscribers}_subscribers: append->receipt p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} receipts)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len()
    );
    s.finish();
}

fn mpsc_distribution() {
    let (tx, rx) = mpsc::channel::<u64>();
    let (back_tx, back_rx) = mpsc::channel::<u64>();
    let epoch = Instant::now();
    let t = std::thread::spawn(move || {
        while let Ok(sent) = rx.recv() {
            let _ = back_tx.send((epoch.elapsed().as_nanos() as u64).saturating_sub(sent));
        }
    });
    let mut lat: Vec<u64> = (0..20_000)
        .filter_map(|_| {
            tx.send(epoch.elapsed().as_nanos() as u64).ok()?;
            back_rx.recv().ok()
        })
        .collect();
    drop(tx);
    let _ = t.join();
    lat.sort_unstable();
    println!("fanout/baseline_mpsc_handoff: p50 {:.1} us, p99 {:.1} us", percentile(&lat, 0.5), percentile(&lat, 0.99));
}

fn bench(c: &mut Criterion) {
    mpsc_distribution();
    distribution(1);
    distribution(20);
    let mut g = c.benchmark_group("fanout");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for subs in [1usize, 20] {
        let s = setup(subs);
        let mut expected = 0u64;
        let mut sink = Vec::new();
        g.bench_function(format!("append_to_receipt/{subs}_subscribers"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    expected += 1;
                    sink.clear();
                    s.one(expected, &mut sink);
                }
                start.elapsed()
            })
        });
        s.finish();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
