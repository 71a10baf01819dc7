//! Kinesis throughput limits (optional, `Limits::kinesis()`), on a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::fanout::Received;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, Limits, ManualClock};

const T0: i64 = 1_767_225_600_000;
const MIB: usize = 1024 * 1024;

fn engine(dir: &std::path::Path, clock: &ManualClock, shards: u32) -> Engine {
    let cfg = EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        limits: Limits::kinesis(),
        ..EngineConfig::default()
    };
    let e = Engine::open(dir, cfg).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
    e
}

fn put(e: &Engine, key: &str, len: usize) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream: StreamRef::name("s"),
        data: Bytes::from(vec![7u8; len]),
        partition_key: Some(key.into()),
        ..Default::default()
    })
}

fn iterator(e: &Engine) -> Result<String, Error> {
    e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name("s"),
        shard_id: "shardId-000000000000".into(),
        shard_iterator_type: ShardIteratorType::TrimHorizon,
        starting_sequence_number: None,
        timestamp: None,
        dry_run: false,
    })
    .map(|o| o.shard_iterator)
}

#[test]
fn a_shard_takes_1000_records_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 1);
    for _ in 0..1000 {
        put(&e, "k", 10).unwrap();
    }
    let err = put(&e, "k", 10).unwrap_err();
    assert!(matches!(err, Error::ProvisionedThroughputExceeded { .. }));
    assert_eq!(err.to_string(), "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000.");
    clock.advance(Duration::from_secs(1));
    put(&e, "k", 10).unwrap();
}

#[test]
fn a_shard_takes_1_mib_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 1);
    put(&e, "k", MIB / 2).unwrap();
    put(&e, "k", MIB / 2 - 10).unwrap();
    assert!(matches!(put(&e, "k", 100), Err(Error::ProvisionedThroughputExceeded { .. })));
    clock.advance(Duration::from_millis(500));
    put(&e, "k", MIB / 2 - 100).unwrap();
}

#[test]
fn put_records_fails_throttled_entries_alone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 2);
    // "a" routes to shard 0, "1" to shard 1. Use up shard 0's second.
    for _ in 0..995 {
        put(&e, "a", 1).unwrap();
    }
    let entries: Vec<PutRecordsRequestEntry> = (0..20)
        .map(|i| PutRecordsRequestEntry {
            data: Bytes::from(vec![1u8]),
            partition_key: Some(if i % 2 == 0 { "a".into() } else { "1".into() }),
            explicit_hash_key: None,
        })
        .collect();
    let out =
        e.put_records(PutRecordsInput { stream: StreamRef::name("s"), records: entries, dry_run: false }).unwrap();
    assert_eq!(out.failed_record_count, 5);
    for (i, r) in out.records.iter().enumerate() {
        let shard0 = i % 2 == 0;
        if shard0 && i >= 10 {
            assert_eq!(r.error_code.as_deref(), Some("ProvisionedThroughputExceededException"), "entry {i}");
            assert!(r.error_message.as_deref().unwrap().starts_with("Rate exceeded for shard shardId-000000000000"));
            assert!(r.sequence_number.is_none());
        } else {
            assert!(r.sequence_number.is_some(), "entry {i} should have succeeded");
        }
    }
}

#[test]
fn reads_are_5_calls_and_2_mib_per_second_with_the_10_mib_penalty() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 1);
    // Fill 10 MiB over 10 seconds of write budget.
    for _ in 0..10 {
        for _ in 0..4 {
            put(&e, "k", MIB / 4 - 100).unwrap();
        }
        clock.advance(Duration::from_secs(1));
    }
    // GetShardIterator: 5 per second.
    let its: Vec<String> = (0..5).map(|_| iterator(&e).unwrap()).collect();
    assert!(matches!(iterator(&e), Err(Error::ProvisionedThroughputExceeded { .. })));
    // One GetRecords returns ~10 MiB, then reads are throttled for 5 s.
    let r = e.get_records(GetRecordsInput { shard_iterator: its[0].clone(), ..Default::default() }).unwrap();
    assert_eq!(r.records.len(), 40);
    let again = |e: &Engine| {
        e.get_records(GetRecordsInput { shard_iterator: its[1].clone(), limit: Some(1), ..Default::default() })
    };
    // About 10 MiB read with 2 MiB of credit banked: throttled for ~4 s.
    clock.advance(Duration::from_millis(3900));
    assert!(matches!(again(&e), Err(Error::ProvisionedThroughputExceeded { .. })));
    clock.advance(Duration::from_millis(1200));
    again(&e).unwrap();
    // Five calls per second.
    clock.advance(Duration::from_secs(10));
    for _ in 0..5 {
        e.get_records(GetRecordsInput { shard_iterator: its[2].clone(), limit: Some(1), ..Default::default() })
            .unwrap();
    }
    let sixth = e.get_records(GetRecordsInput { shard_iterator: its[2].clone(), limit: Some(1), ..Default::default() });
    assert!(matches!(sixth, Err(Error::ProvisionedThroughputExceeded { .. })));
}

#[test]
fn per_stream_override_and_control_plane_rates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 1);
    e.set_stream_limits(StreamRef::name("s"), Some(Limits::off())).unwrap();
    for _ in 0..3000 {
        put(&e, "k", 10).unwrap();
    }
    // CreateStream: 5 per second (one was used by the fixture).
    clock.advance(Duration::from_secs(1));
    for i in 0..5 {
        e.create_stream(CreateStreamInput { stream_name: format!("x{i}"), shard_count: Some(1), ..Default::default() })
            .unwrap();
    }
    let sixth =
        e.create_stream(CreateStreamInput { stream_name: "x5".into(), shard_count: Some(1), ..Default::default() });
    assert!(matches!(sixth, Err(Error::LimitExceeded { .. })), "{sixth:?}");
}

#[test]
fn enhanced_fan_out_pushes_2_mib_per_second_per_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock, 1);
    e.set_stream_limits(
        StreamRef::name("s"),
        Some(Limits { shard_write_bytes_per_sec: None, shard_write_records_per_sec: None, ..Limits::kinesis() }),
    )
    .unwrap();
    for _ in 0..8 {
        put(&e, "k", MIB / 2).unwrap();
    }
    let c = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            consumer_name: "c".into(),
            stream_id: None,
            tags: Default::default(),
        })
        .unwrap();
    let mut sub = e
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: c.consumer_arn,
            shard_id: "shardId-0".into(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
            stream_id: None,
            dry_run: false,
        })
        .unwrap();
    // Poll every 100 ms of engine time for 4 s: bytes pushed by time t never exceed the
    // 2 MiB/s rate plus one second of initial budget, and everything arrives.
    let mut pushed = 0usize;
    for tick in 1..=40 {
        clock.advance(Duration::from_millis(100));
        while let Received::Event(ev) = sub.try_recv().unwrap() {
            if ev.records.is_empty() {
                break;
            }
            pushed += ev.records.iter().map(|r| r.data.len() + r.partition_key.len()).sum::<usize>();
        }
        let t_secs = tick as f64 / 10.0;
        let bound = (2.0 * MIB as f64) * (t_secs + 1.0) + (MIB / 2) as f64;
        assert!((pushed as f64) <= bound, "{pushed} bytes pushed by {t_secs} s");
    }
    assert_eq!(pushed, 8 * (MIB / 2 + 1), "everything was pushed in the end");
}
