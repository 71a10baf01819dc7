//! The forwarder on loopback beside the destination's own PutRecords ceiling, both measured
//! in the same run against the same `shardlog serve` (release build, interval durability):
//!
//! - `forward/forwarder`: `N` records of 100 B under 10,000 keys in a 4-shard local stream,
//!   forwarded to a 4-shard destination until caught up (strict ordering, windows of 500,
//!   one window in flight per source shard), through the library (`shardlog_server::forward`)
//!   with the AWS SDK.
//! - `forward/put_records_ceiling`: the same `N` records sent straight from memory with the
//!   same SDK client, PutRecords of 500, 4 requests in flight (as many as the forwarder).
//!
//! `cargo bench -p shardlog-cli --bench forward` prints criterion's throughputs, then the
//! ratio forwarder ÷ ceiling of the medians. `SHARDLOG_FORWARD_BENCH_RECORDS` sets `N`
//! (default 100,000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardlog::engine::types::*;
use shardlog::{Engine, EngineConfig};
use shardlog_server::forward::{setup, ForwardOptions, Outcome, RemoteConfig};

const SHARDS: u32 = 4;
const KEYS: usize = 10_000;

fn records() -> usize {
    std::env::var("SHARDLOG_FORWARD_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

struct Destination {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Destination {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_destination(dir: &std::path::Path) -> Destination {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardlog"))
        .args(["serve", "--addr", "127.0.0.1:0", "--dir", dir.to_str().unwrap(), "--log-level", "error"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start shardlog serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
    Destination { child, addr }
}

fn env() {
    // SAFETY-free: set before any thread reads the environment (criterion's main thread).
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDBENCH");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench/secret");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

fn payload(i: usize) -> Bytes {
    let mut v = format!("bench-{i:010}|").into_bytes();
    v.resize(100, b'.');
    Bytes::from(v)
}

static MEDIANS: Mutex<Vec<(&'static str, f64)>> = Mutex::new(Vec::new());

fn bench(c: &mut Criterion) {
    env();
    let n = records();
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let destination = start_destination(dst.path());
    let url = format!("http://{}", destination.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let remote =
        RemoteConfig { endpoint_url: Some(url.clone()), region: Some("us-east-1".into()), ..Default::default() };
    let client = runtime.block_on(remote.client()).unwrap();
    runtime
        .block_on(client.create_stream().stream_name("copy").shard_count(SHARDS as i32).send())
        .expect("create the destination stream");
    let engine = Engine::open(src.path(), EngineConfig::default()).unwrap();
    engine
        .create_stream(CreateStreamInput {
            stream_name: "orders".into(),
            shard_count: Some(SHARDS),
            ..Default::default()
        })
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let records = chunk
            .iter()
            .map(|&i| PutRecordsRequestEntry {
                data: payload(i),
                partition_key: Some(format!("device-{}", i % KEYS)),
                explicit_hash_key: None,
            })
            .collect();
        engine
            .put_records(PutRecordsInput { stream: StreamRef::name("orders"), records, ..PutRecordsInput::default() })
            .unwrap();
    }

    let mut g = c.benchmark_group("forward");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    let mut run = 0usize;
    let mut forwarder_rates = Vec::new();
    g.bench_function("forwarder", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let options = ForwardOptions { until_caught_up: true, ..ForwardOptions::default() };
                let owner = Some(format!("bench-{run}"));
                let (engine, remote) = (engine.clone(), remote.clone());
                let start = Instant::now();
                let outcome = runtime.block_on(async move {
                    let f = setup::local_to_remote(engine, "orders", "copy", &remote, owner, options).await.unwrap();
                    let stats = f.stats();
                    let (_tx, rx) = tokio::sync::watch::channel(false);
                    let o = f.run(rx).await.unwrap();
                    (o, stats.snapshot())
                });
                let took = start.elapsed();
                assert_eq!(outcome.0, Outcome::CaughtUp);
                assert_eq!(outcome.1.records_forwarded, n as u64);
                if run == 1 {
                    eprintln!("first forwarder run: {}", outcome.1.to_json());
                }
                forwarder_rates.push(n as f64 / took.as_secs_f64());
                total += took;
            }
            total
        })
    });
    let mut ceiling_rates = Vec::new();
    let data: Vec<(String, Bytes)> = (0..n).map(|i| (format!("device-{}", i % KEYS), payload(i))).collect();
    g.bench_function("put_records_ceiling", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                runtime.block_on(async {
                    let mut tasks = Vec::new();
                    for lane in 0..SHARDS as usize {
                        let client = client.clone();
                        let batches: Vec<Vec<aws_sdk_kinesis::types::PutRecordsRequestEntry>> = data
                            .chunks(500)
                            .skip(lane)
                            .step_by(SHARDS as usize)
                            .map(|c| {
                                c.iter()
                                    .map(|(k, d)| {
                                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                                            .partition_key(k.clone())
                                            .data(Blob::new(d.to_vec()))
                                            .build()
                                            .unwrap()
                                    })
                                    .collect()
                            })
                            .collect();
                        tasks.push(tokio::spawn(async move {
                            for batch in batches {
                                let out = client
                                    .put_records()
                                    .stream_name("copy")
                                    .set_records(Some(batch))
                                    .send()
                                    .await
                                    .unwrap();
                                assert_eq!(out.failed_record_count(), Some(0));
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                let took = start.elapsed();
                ceiling_rates.push(n as f64 / took.as_secs_f64());
                total += took;
            }
            total
        })
    });
    g.finish();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (f, c) = (median(&mut forwarder_rates), median(&mut ceiling_rates));
    MEDIANS.lock().unwrap().extend([("forwarder", f), ("ceiling", c)]);
    println!(
        "forward: forwarder {:.0} records/s, destination PutRecords ceiling {:.0} records/s: ratio {:.2} ({n} records of 100 B, {SHARDS} shards, {KEYS} keys)",
        f,
        c,
        f / c
    );
    engine.close().unwrap();
    drop(destination);
}

criterion_group!(benches, bench);
criterion_main!(benches);
