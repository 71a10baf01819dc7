//! The Kinesis data plane end to end: streams, routing, sequence numbers, iterators,
//! GetRecords, persistence across reopen, and iterator expiry on a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Durability, Engine, EngineConfig, Error, ManualClock};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig { clock: Arc::new(clock.clone()), durability: Durability::Buffered, ..EngineConfig::default() }
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn put(e: &Engine, stream: &str, key: &str, data: &[u8]) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        ..Default::default()
    })
    .unwrap()
}

fn iterator(
    e: &Engine,
    stream: &str,
    shard: &str,
    kind: ShardIteratorType,
    seq: Option<String>,
    ts: Option<i64>,
) -> Result<String, Error> {
    e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name(stream),
        shard_id: shard.into(),
        shard_iterator_type: kind,
        starting_sequence_number: seq,
        timestamp: ts.map(Timestamp),
        dry_run: false,
    })
    .map(|o| o.shard_iterator)
}

fn get(e: &Engine, it: &str) -> GetRecordsOutput {
    e.get_records(GetRecordsInput { shard_iterator: it.into(), ..Default::default() }).unwrap()
}

#[test]
fn md5_routing_and_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, "s", 2);
    let a = put(&e, "s", "a", b"x");
    let one = put(&e, "s", "1", b"y");
    assert_eq!(a.shard_id, "shardId-000000000000");
    assert_eq!(one.shard_id, "shardId-000000000001");
    assert_eq!(a.sequence_number.to_string().len(), 56);
    assert_eq!(a.sequence_number.counter(), 0);
    let b = put(&e, "s", "a", b"z");
    assert!(b.sequence_number > a.sequence_number);
    assert_eq!(b.sequence_number.counter(), 1);
    let desc = e.describe_stream(DescribeStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    assert_eq!(desc.shards.len(), 2);
    assert_eq!(desc.shards[0].hash_key_range.ending_hash_key, 170141183460469231731687303715884105727);
    let start = desc.shards[0].sequence_number_range.starting_sequence_number;
    assert!(start < a.sequence_number);
    assert_eq!(desc.stream_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/s");
}

#[test]
fn iterator_types_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, "s", 1);
    let mut seqs = Vec::new();
    for i in 0..10u8 {
        seqs.push(put(&e, "s", "k", &[i]).sequence_number);
        clock.advance(Duration::from_millis(100));
    }
    let sh = "shardId-000000000000";
    let th = iterator(&e, "s", sh, ShardIteratorType::TrimHorizon, None, None).unwrap();
    let r = get(&e, &th);
    assert_eq!(r.records.len(), 10);
    assert_eq!(r.millis_behind_latest, 0);
    assert!(r.next_shard_iterator.is_some());
    assert_eq!(r.records.iter().map(|r| r.data[0]).collect::<Vec<_>>(), (0..10).collect::<Vec<u8>>());
    // LATEST is frozen at call time.
    let latest = iterator(&e, "s", sh, ShardIteratorType::Latest, None, None).unwrap();
    put(&e, "s", "k", &[10]);
    let r = get(&e, &latest);
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].data[0], 10);
    // AT / AFTER sequence number.
    let at = iterator(&e, "s", sh, ShardIteratorType::AtSequenceNumber, Some(seqs[3].to_string()), None).unwrap();
    assert_eq!(get(&e, &at).records[0].sequence_number, seqs[3]);
    let after = iterator(&e, "s", sh, ShardIteratorType::AfterSequenceNumber, Some(seqs[3].to_string()), None).unwrap();
    assert_eq!(get(&e, &after).records[0].sequence_number, seqs[4]);
    // AT/AFTER the shard's starting sequence number work with no record there.
    let desc = e.describe_stream(DescribeStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let start = desc.shards[0].sequence_number_range.starting_sequence_number.to_string();
    for kind in [ShardIteratorType::AtSequenceNumber, ShardIteratorType::AfterSequenceNumber] {
        let it = iterator(&e, "s", sh, kind, Some(start.clone()), None).unwrap();
        assert_eq!(get(&e, &it).records[0].sequence_number, seqs[0]);
    }
    // AT_TIMESTAMP is inclusive.
    let ts = T0 + 300;
    let it = iterator(&e, "s", sh, ShardIteratorType::AtTimestamp, None, Some(ts)).unwrap();
    let r = get(&e, &it);
    assert_eq!(r.records[0].approximate_arrival_timestamp.as_millis(), ts);
    assert_eq!(r.records[0].data[0], 3);
    // Future timestamps are rejected.
    let err = iterator(&e, "s", sh, ShardIteratorType::AtTimestamp, None, Some(T0 + 10_000_000)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    // Lenient shard ids.
    assert!(iterator(&e, "s", "shardId-0", ShardIteratorType::TrimHorizon, None, None).is_ok());
    let err = iterator(&e, "s", "shardId-5", ShardIteratorType::TrimHorizon, None, None).unwrap_err();
    assert_eq!(err.to_string(), "Shard shardId-000000000005 in stream s under account 000000000000 does not exist");
}

#[test]
fn iterators_expire_after_300_seconds_and_are_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, "s", 1);
    put(&e, "s", "k", b"v");
    let it = iterator(&e, "s", "shardId-000000000000", ShardIteratorType::TrimHorizon, None, None).unwrap();
    assert!(it.starts_with("AAAAAAAAAAE"));
    clock.advance(Duration::from_millis(300_000));
    let r = get(&e, &it);
    clock.advance(Duration::from_millis(300_001));
    let err = e.get_records(GetRecordsInput { shard_iterator: it.clone(), ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::ExpiredIterator { .. }), "{err}");
    assert!(err.to_string().starts_with("Iterator expired. The iterator was created at time "));
    let next = r.next_shard_iterator.unwrap();
    assert_ne!(next, it, "a fresh iterator on every call");
    let mut forged = it.into_bytes();
    forged[20] ^= 1;
    let err = e
        .get_records(GetRecordsInput { shard_iterator: String::from_utf8(forged).unwrap(), ..Default::default() })
        .unwrap_err();
    assert_eq!(err.to_string(), "Invalid ShardIterator.");
}

#[test]
fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let seqs: Vec<SequenceNumber>;
    let it;
    {
        let e = Engine::open(dir.path(), config(&clock)).unwrap();
        create(&e, "a", 3);
        create(&e, "b", 1);
        seqs = (0..50).map(|i| put(&e, "a", &format!("k{i}"), &[i as u8]).sequence_number).collect();
        it = iterator(&e, "a", "shardId-000000000001", ShardIteratorType::TrimHorizon, None, None).unwrap();
        e.close().unwrap();
    }
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    let names = e.list_streams(ListStreamsInput::default()).unwrap().stream_names;
    assert_eq!(names, vec!["a", "b"]);
    // The iterator issued before the restart still works (the token key is persisted).
    let r = get(&e, &it);
    assert!(!r.records.is_empty());
    let mut total = 0;
    for sh in 0..3 {
        let it = iterator(&e, "a", &format!("shardId-{sh}"), ShardIteratorType::TrimHorizon, None, None).unwrap();
        for rec in get(&e, &it).records {
            assert!(seqs.contains(&rec.sequence_number));
            total += 1;
        }
    }
    assert_eq!(total, 50);
    // Delete + re-create gets a new directory and no old data.
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("a"), ..Default::default() }).unwrap();
    create(&e, "a", 1);
    let it = iterator(&e, "a", "shardId-0", ShardIteratorType::TrimHorizon, None, None).unwrap();
    assert!(get(&e, &it).records.is_empty());
    let err = e.get_records(GetRecordsInput { shard_iterator: r.next_shard_iterator.unwrap(), ..Default::default() });
    assert!(matches!(err, Err(Error::ResourceNotFound { .. })), "{err:?}");
}

#[test]
fn second_engine_on_the_same_dir_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    assert!(matches!(Engine::open(dir.path(), EngineConfig::default()), Err(Error::Locked { .. })));
}
