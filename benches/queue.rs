//! Queue state benchmarks (issue #16 part A: the state machine and its state log alone; the
//! engine-level receive path, with record reads and long polling, is part B's).
//!
//! Groups (ratios are to a baseline measured in the same run):
//! - `queue_receive_ack` (100 records per iteration): `store` — `QueueStore::receive` of 100
//!   fresh records then `acknowledge` of their decoded handles (the in-process path),
//!   `Durability::Interval(200 ms)` (the engine default) on a temp dir, compactions included;
//!   `store_wire_handles` — the same with every handle encoded to text and acknowledged by
//!   text (one HMAC each way, the wire path); `state_machine` — `DeliveryState` plan + apply
//!   without the log; baseline `shard_log_append` — `ShardLog::append` of the same number of
//!   100-byte records in batches of 100, same durability.
//! - `queue_reopen_120k` (120,000 records in flight): `after_compaction` — `QueueStore::open`
//!   of a snapshot with an empty log; `after_crash` — a snapshot plus a log tail of visibility
//!   changes just under the compaction threshold, replayed (the worst case a crash leaves);
//!   baseline `read_files` — reading the same two files whole. Target: ≤ 200 ms.
//!
//! Before the groups it prints the memory the state of 120,000 in-flight records holds,
//! counted by a counting global allocator (target ≤ 32 MiB), and the files' sizes.
//!
//! ```text
//! cargo bench -p shardlog --bench queue            # add `-- --quick` for a short run
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

#[path = "../tests/counting_alloc/mod.rs"]
mod counting_alloc;

use std::path::Path;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shardlog::kinesis::TokenKey;
use shardlog::queue::event::{Receive, Reserve};
use shardlog::queue::{
    DeliveryState, Event, FreshSpan, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiptHandle, ReceiveRequest,
};
use shardlog::{Durability, LogConfig, LogOptions, RecordRef, ShardLog};

const T0: u64 = 1_767_225_600_000;
const BATCH: usize = 100;
const IN_FLIGHT: u64 = 120_000;

fn key() -> TokenKey {
    TokenKey::from_bytes([6; 32])
}

fn options(durability: Durability) -> QueueOptions {
    QueueOptions::new(durability, key())
}

fn create(dir: &Path, durability: Durability) -> QueueStore {
    let spec = QueueSpec { uid: 1, config: QueueConfig::default(), now_ms: T0, start_positions: vec![(0, 0)] };
    QueueStore::create(dir, options(durability), spec).expect("create")
}

/// Receive `n` fresh records in batches of 100 with a 12-hour visibility, one millisecond
/// apart: a queue with `n` records in flight, as consumers build it.
fn fill_in_flight(store: &QueueStore, n: u64) {
    let mut end = 0;
    while end < n {
        end = (end + BATCH as u64).min(n);
        let fresh = [FreshSpan { shard: 0, start: 0, end }];
        let r = ReceiveRequest { max_records: BATCH, visibility_timeout_ms: Some(43_200_000), fresh: &fresh };
        store.receive(T0 + end, &r).expect("receive");
    }
}

fn report_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = counting_alloc::live_bytes();
    let store = create(&dir.path().join("q"), Durability::Buffered);
    fill_in_flight(&store, IN_FLIGHT);
    let held = counting_alloc::live_bytes() - before;
    let counts = store.counts();
    store.compact().expect("compact");
    let stats = store.stats();
    println!(
        "queue state of {} in-flight records: {:.1} MiB held (target ≤ 32 MiB, {:.0} bytes/record); snapshot {:.1} MiB",
        counts.in_flight,
        held as f64 / (1 << 20) as f64,
        held as f64 / counts.in_flight as f64,
        stats.snapshot_bytes as f64 / (1 << 20) as f64
    );
}

fn bench_receive_ack(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_receive_ack");
    g.throughput(Throughput::Elements(BATCH as u64));
    let durability = Durability::Interval(Duration::from_millis(200));

    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(&dir.path().join("q"), durability);
    let mut end = 0u64;
    g.bench_function("store", |b| {
        b.iter(|| {
            end += BATCH as u64;
            let fresh = [FreshSpan { shard: 0, start: 0, end }];
            let r = ReceiveRequest { max_records: BATCH, visibility_timeout_ms: None, fresh: &fresh };
            let out = store.receive(T0, &r).expect("receive");
            let handles: Vec<ReceiptHandle> = out.deliveries.iter().map(|d| d.handle).collect();
            black_box(store.acknowledge(T0, &handles).expect("ack"));
        })
    });

    let dir2 = tempfile::tempdir().expect("tempdir");
    let store = create(&dir2.path().join("q"), durability);
    let mut end = 0u64;
    g.bench_function("store_wire_handles", |b| {
        b.iter(|| {
            end += BATCH as u64;
            let fresh = [FreshSpan { shard: 0, start: 0, end }];
            let r = ReceiveRequest { max_records: BATCH, visibility_timeout_ms: None, fresh: &fresh };
            let out = store.receive(T0, &r).expect("receive");
            let texts: Vec<String> = out.deliveries.iter().map(|d| store.encode_handle(&d.handle)).collect();
            black_box(store.acknowledge(T0, &texts).expect("ack"));
        })
    });

    let mut state = DeliveryState::new(QueueConfig::default(), T0);
    state.apply(&Event::Trim(shardlog::queue::event::Trim { now_ms: T0, shard: 0, start: 0 })).expect("trim");
    let mut end = 0u64;
    g.bench_function("state_machine", |b| {
        b.iter(|| {
            end += BATCH as u64;
            let fresh = [FreshSpan { shard: 0, start: 0, end }];
            let plan = state.plan_receive(BATCH, &fresh, 120_000);
            let first = state.next_generation();
            state.apply(&Event::Reserve(Reserve { upto: first + BATCH as u64 })).expect("reserve");
            let records = plan.records;
            let receive =
                Receive { now_ms: T0, deadline_ms: T0 + 30_000, first_generation: first, dead_letter: false, records };
            let ack = shardlog::queue::event::Acknowledge {
                now_ms: T0,
                dead_letter: false,
                records: receive.records.clone(),
            };
            state.apply(&Event::Receive(receive)).expect("receive");
            state.apply(&Event::Acknowledge(ack)).expect("ack");
        })
    });

    let dir3 = tempfile::tempdir().expect("tempdir");
    let mut lo = LogOptions::new(LogConfig { durability, segment_max_age: None, ..LogConfig::default() });
    lo.lock_dir = false;
    let log = ShardLog::open(dir3.path().join("shard"), lo).expect("shard log");
    let data = [7u8; 100];
    let batch: Vec<RecordRef<'_>> = (0..BATCH).map(|_| RecordRef::new(b"pk", &data)).collect();
    g.bench_function("shard_log_append", |b| b.iter(|| black_box(log.append(&batch).expect("append"))));
    g.finish();
}

fn bench_reopen(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_reopen_120k");
    g.sample_size(10);
    let config = QueueConfig::default();

    // After a compaction: the snapshot alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q");
    let store = create(&path, Durability::Buffered);
    fill_in_flight(&store, IN_FLIGHT);
    store.compact().expect("compact");
    store.close().expect("close");
    drop(store);
    g.bench_function("after_compaction", |b| {
        b.iter(|| black_box(QueueStore::open(&path, options(Durability::Buffered), 1, config, T0).expect("open")))
    });

    // After a crash with the longest log tail before the next compaction: visibility
    // changes of in-flight records (20 bytes of log per record) up to the threshold.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let path2 = dir2.path().join("q");
    let store = create(&path2, Durability::Buffered);
    fill_in_flight(&store, IN_FLIGHT);
    store.compact().expect("compact");
    let snapshot_bytes = store.stats().snapshot_bytes;
    let limit = (snapshot_bytes / 2).max(shardlog::queue::config::DEFAULT_COMPACT_MIN_BYTES) - 4_096;
    let mut offset = 0u64;
    while store.stats().log_bytes < limit {
        let handles: Vec<(ReceiptHandle, u64)> = (0..BATCH as u64)
            .map(|i| {
                let record = shardlog::queue::RecordKey::new(0, (offset + 2 * i) % IN_FLIGHT);
                let e = store.entry(record).expect("in flight");
                (ReceiptHandle { queue_uid: 1, record, generation: e.generation, dead_letter: false }, 43_200_000)
            })
            .collect();
        offset += 2 * BATCH as u64;
        store.change_visibility(T0 + IN_FLIGHT, &handles).expect("visibility");
    }
    let stats = store.stats();
    assert_eq!(stats.compactions, 1, "no compaction during the tail");
    store.flush().expect("flush");
    drop(store); // no close: a crash (the log is replayed either way)
    println!(
        "reopen fixture: snapshot {:.1} MiB, log tail {:.1} MiB",
        snapshot_bytes as f64 / (1 << 20) as f64,
        stats.log_bytes as f64 / (1 << 20) as f64
    );
    g.bench_function("after_crash", |b| {
        b.iter(|| black_box(QueueStore::open(&path2, options(Durability::Buffered), 1, config, T0).expect("open")))
    });
    g.bench_function("read_files", |b| {
        b.iter(|| {
            black_box(std::fs::read(path2.join("snapshot")).expect("read"));
            black_box(std::fs::read(path2.join("log")).expect("read"));
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    report_memory();
    bench_receive_ack(c);
    bench_reopen(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
