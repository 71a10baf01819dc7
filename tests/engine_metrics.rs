//! `Engine::metrics`: per-shard and per-stream data-plane counters equal to what was put,
//! read, pushed and throttled; gauges equal to the MillisBehindLatest the calls returned;
//! stream totals that survive resharding; engine gauges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::metrics::{DataPlaneCounters, StreamMetrics};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Limits, ManualClock};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn open(dir: &std::path::Path, clock: &ManualClock) -> Engine {
    let config =
        EngineConfig { clock: Arc::new(clock.clone()), durability: Durability::Buffered, ..EngineConfig::default() };
    Engine::open(dir, config).unwrap()
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn put(e: &Engine, stream: &str, key: &str, hash: &str, data: &[u8]) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        partition_key: Some(key.into()),
        explicit_hash_key: Some(hash.into()),
        data: Bytes::copy_from_slice(data),
        ..Default::default()
    })
    .unwrap()
}

fn iterator(e: &Engine, stream: &str, shard: &str) -> String {
    e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name(stream),
        shard_id: shard.into(),
        shard_iterator_type: ShardIteratorType::TrimHorizon,
        starting_sequence_number: None,
        timestamp: None,
        dry_run: false,
    })
    .unwrap()
    .shard_iterator
}

fn stream<'a>(m: &'a shardlog::engine::metrics::EngineMetrics, name: &str) -> &'a StreamMetrics {
    m.streams.iter().find(|s| s.stream_name == name).unwrap()
}

fn shard(s: &StreamMetrics, id: &str) -> DataPlaneCounters {
    s.shards.iter().find(|x| x.shard_id == id).unwrap().counters
}

const SHARD0: &str = "shardId-000000000000";
const SHARD1: &str = "shardId-000000000001";
/// An explicit hash key in the upper half (shard 1 of two).
const HIGH: &str = "200000000000000000000000000000000000000";

#[test]
fn counters_equal_what_was_put_and_read_per_shard_and_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 2);
    let m = e.metrics();
    assert_eq!(stream(&m, "s").counters, DataPlaneCounters::default(), "a new stream counts nothing");

    put(&e, "s", "a", "0", b"12345");
    put(&e, "s", "bb", "0", b"1234567890");
    put(&e, "s", "c", HIGH, b"xyz");
    let batch = e
        .put_records(PutRecordsInput {
            stream: StreamRef::name("s"),
            records: (0..4)
                .map(|i| PutRecordsRequestEntry {
                    data: Bytes::from(vec![i as u8; 100]),
                    partition_key: Some(format!("k{i}")),
                    explicit_hash_key: Some("1".into()),
                })
                .collect(),
            dry_run: false,
        })
        .unwrap();
    assert_eq!(batch.failed_record_count, 0);
    // A rejected put counts nothing.
    let bad = e.put_record(PutRecordInput {
        stream: StreamRef::name("s"),
        partition_key: Some(String::new()),
        data: Bytes::from_static(b"x"),
        ..Default::default()
    });
    assert!(bad.is_err());

    let out = e.get_records(GetRecordsInput { shard_iterator: iterator(&e, "s", SHARD0), ..Default::default() });
    assert_eq!(out.unwrap().records.len(), 6);

    let m = e.metrics();
    let s = stream(&m, "s");
    let zero = (1 + 5) + (2 + 10) + 4 * (2 + 100);
    let one = 1 + 3;
    assert_eq!((shard(s, SHARD0).incoming_records, shard(s, SHARD0).incoming_bytes), (6, zero));
    assert_eq!((shard(s, SHARD1).incoming_records, shard(s, SHARD1).incoming_bytes), (1, one));
    assert_eq!((s.counters.incoming_records, s.counters.incoming_bytes), (7, zero + one));
    assert_eq!((shard(s, SHARD0).get_records_records, shard(s, SHARD0).get_records_bytes), (6, zero));
    assert_eq!((s.counters.get_records_records, s.counters.get_records_bytes), (6, zero));
    assert_eq!(shard(s, SHARD1).get_records_records, 0);
    assert_eq!(s.open_shards, 2);
    assert!(s.bytes_on_disk >= zero + one, "{} bytes on disk", s.bytes_on_disk);
    assert!(s.shard_level_metrics.is_empty(), "no enhanced monitoring unless enabled");
    assert!(m.open_shard_logs >= 2);
    e.close().unwrap();
}

#[test]
fn the_iterator_age_gauge_is_the_millis_behind_latest_of_the_latest_read() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    put(&e, "s", "a", "0", b"first");
    clock.advance(Duration::from_millis(5_000));
    put(&e, "s", "b", "0", b"second");
    clock.advance(Duration::from_millis(1_500));

    let first = e.get_records(GetRecordsInput {
        shard_iterator: iterator(&e, "s", SHARD0),
        limit: Some(1),
        ..Default::default()
    });
    let first = first.unwrap();
    assert_eq!(first.millis_behind_latest, 6_500);
    let m = e.metrics();
    assert_eq!(stream(&m, "s").counters.get_records_iterator_age_ms, 6_500);
    assert_eq!(shard(stream(&m, "s"), SHARD0).get_records_iterator_age_ms, 6_500);

    let rest =
        e.get_records(GetRecordsInput { shard_iterator: first.next_shard_iterator.unwrap(), ..Default::default() });
    assert_eq!(rest.unwrap().millis_behind_latest, 0);
    assert_eq!(stream(&e.metrics(), "s").counters.get_records_iterator_age_ms, 0, "caught up");
    e.close().unwrap();
}

#[test]
fn stream_totals_keep_the_counts_of_shards_closed_by_a_split() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    for i in 0..3u8 {
        put(&e, "s", "k", "0", &[i; 4]);
    }
    e.split_shard(SplitShardInput {
        stream: StreamRef::name("s"),
        shard_to_split: SHARD0.into(),
        new_starting_hash_key: "1000".into(),
    })
    .unwrap();
    put(&e, "s", "k", "0", b"child");
    let m = e.metrics();
    let s = stream(&m, "s");
    assert_eq!(s.counters.incoming_records, 4, "the parent's three and the child's one");
    assert_eq!(shard(s, SHARD0).incoming_records, 3);
    assert!(!s.shards.iter().find(|x| x.shard_id == SHARD0).unwrap().open);
    assert_eq!(shard(s, SHARD1).incoming_records, 1);
    assert_eq!(s.open_shards, 2);
    e.close().unwrap();
}

#[test]
fn pushed_records_and_their_lag_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    let arn = e.describe_stream_summary(StreamRef::name("s")).unwrap().stream_arn;
    let consumer = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn,
            consumer_name: "c".into(),
            stream_id: None,
            tags: Default::default(),
        })
        .unwrap();
    put(&e, "s", "a", "0", b"one");
    put(&e, "s", "bb", "0", b"two");
    let mut sub = e
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: consumer.consumer_arn,
            shard_id: SHARD0.into(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
            stream_id: None,
            dry_run: false,
        })
        .unwrap();
    let mut pushed = 0;
    while pushed < 2 {
        match sub.try_recv().unwrap() {
            shardlog::engine::fanout::Received::Event(ev) => pushed += ev.records.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    let s = stream(&e.metrics(), "s").clone();
    assert_eq!((s.counters.subscribe_event_records, s.counters.subscribe_event_bytes), (2, 4 + 5));
    assert_eq!(s.counters.subscribe_event_millis_behind_latest, 0);
    assert_eq!(shard(&s, SHARD0).subscribe_event_records, 2);
    drop(sub);
    e.close().unwrap();
}

#[test]
fn throttled_records_and_calls_are_counted_as_the_responses_said() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        limits: Limits::kinesis(),
        ..EngineConfig::default()
    };
    let e = Engine::open(dir.path(), config).unwrap();
    create(&e, "s", 1);
    // 1,200 records in the same millisecond: the shard admits 1,000 per second.
    let mut failed = 0;
    for _ in 0..3 {
        let out = e
            .put_records(PutRecordsInput {
                stream: StreamRef::name("s"),
                records: (0..400)
                    .map(|i| PutRecordsRequestEntry {
                        data: Bytes::from_static(b"x"),
                        partition_key: Some(format!("k{i}")),
                        ..Default::default()
                    })
                    .collect(),
                dry_run: false,
            })
            .unwrap();
        failed += out.failed_record_count;
    }
    assert!(failed > 0);
    // GetRecords: 5 calls per second per shard.
    let mut refused = 0;
    let mut it = iterator(&e, "s", SHARD0);
    for _ in 0..8 {
        match e.get_records(GetRecordsInput { shard_iterator: it.clone(), limit: Some(1), ..Default::default() }) {
            Ok(out) => it = out.next_shard_iterator.unwrap(),
            Err(err) => {
                assert!(matches!(err, shardlog::Error::ProvisionedThroughputExceeded { .. }), "{err}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
    let s = stream(&e.metrics(), "s").clone();
    assert_eq!(s.counters.write_throughput_exceeded, u64::from(failed));
    assert_eq!(s.counters.incoming_records, 1_200 - u64::from(failed));
    assert_eq!(s.counters.read_throughput_exceeded, refused);
    e.close().unwrap();
}
