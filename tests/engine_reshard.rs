//! Resharding with lineage, lineage-ordered reading, and retention (clock-driven).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, LogConfig, ManualClock};

const T0: i64 = 1_767_225_600_000;
const HOUR: Duration = Duration::from_secs(3600);

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        log: LogConfig { segment_max_bytes: 16 * 1024, ..LogConfig::default() },
        ..EngineConfig::default()
    }
}

fn s() -> StreamRef {
    StreamRef::name("s")
}

fn create(e: &Engine, n: u32) {
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(n), ..Default::default() }).unwrap();
}

fn put(e: &Engine, key: &str, data: String) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: s(),
        data: Bytes::from(data),
        partition_key: Some(key.into()),
        ..Default::default()
    })
    .unwrap()
}

fn shards(e: &Engine, filter: Option<ShardFilter>) -> Vec<Shard> {
    e.list_shards(ListShardsInput { stream: s(), shard_filter: filter, ..Default::default() }).unwrap().shards
}

fn ids(v: &[Shard]) -> Vec<String> {
    v.iter().map(|s| s.shard_id.clone()).collect()
}

/// Write `n` records over `keys` keys, tagging each with a per-key counter.
fn write(e: &Engine, counters: &mut HashMap<String, u32>, keys: u32, n: u32) {
    for i in 0..n {
        let key = format!("key-{}", i % keys);
        let c = counters.entry(key.clone()).or_insert(0);
        put(e, &key, format!("{key}:{c}"));
        *c += 1;
    }
}

/// Read everything through the lineage reader and check per-key order and completeness.
fn check_lineage(e: &Engine, counters: &HashMap<String, u32>) {
    let mut reader = LineageReader::new(e, s(), LineageStart::TrimHorizon);
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut total = 0;
    loop {
        let batch = reader.poll(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        for r in batch {
            let text = String::from_utf8(r.record.data.to_vec()).unwrap();
            let (key, n) = text.split_once(':').unwrap();
            assert_eq!(key, r.record.partition_key);
            let expect = seen.entry(key.to_string()).or_insert(0);
            assert_eq!(n.parse::<u32>().unwrap(), *expect, "key {key} out of order or duplicated");
            *expect += 1;
            total += 1;
        }
    }
    assert_eq!(&seen, counters, "every record exactly once");
    assert_eq!(total, counters.values().sum::<u32>());
}

#[test]
fn split_then_merge_back_with_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 1);
    let mut counters = HashMap::new();
    write(&e, &mut counters, 5, 40);
    let mid = (u128::MAX / 2 + 1).to_string();
    clock.advance(Duration::from_secs(5));
    e.split_shard(SplitShardInput {
        stream: s(),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: mid.clone(),
    })
    .unwrap();
    let all = shards(&e, None);
    assert_eq!(ids(&all), ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]);
    let parent = &all[0];
    let end = parent.sequence_number_range.ending_sequence_number.expect("parent closed");
    assert_eq!(end.counter(), 0x7fff_ffff_ffff_ffff);
    assert_eq!(all[1].parent_shard_id.as_deref(), Some("shardId-000000000000"));
    assert_eq!(all[2].parent_shard_id.as_deref(), Some("shardId-000000000000"));
    assert_eq!(all[1].hash_key_range.ending_hash_key + 1, all[2].hash_key_range.starting_hash_key);
    assert_eq!(all[2].hash_key_range.starting_hash_key.to_string(), mid);
    // Routing switched at once.
    let p = put(&e, "a", "a:0".into());
    assert_ne!(p.shard_id, "shardId-000000000000");
    counters.insert("a".into(), 1);
    // Reading the closed parent ends with ChildShards and no next iterator.
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: s(),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap()
        .shard_iterator;
    let r = e.get_records(GetRecordsInput { shard_iterator: it, ..Default::default() }).unwrap();
    assert_eq!(r.records.len(), 40);
    assert!(r.next_shard_iterator.is_none());
    let children = r.child_shards.unwrap();
    assert_eq!(
        children.iter().map(|c| c.shard_id.as_str()).collect::<Vec<_>>(),
        ["shardId-000000000001", "shardId-000000000002"]
    );
    // AFTER_SEQUENCE_NUMBER at the ending number is the Kinesis error.
    let err = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: s(),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::AfterSequenceNumber,
            starting_sequence_number: Some(end.to_string()),
            timestamp: None,
            dry_run: false,
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, SequenceNumber has reached max possible value for the shard."
    );
    // Merge back.
    write(&e, &mut counters, 5, 20);
    e.merge_shards(MergeShardsInput {
        stream: s(),
        shard_to_merge: "shardId-000000000001".into(),
        adjacent_shard_to_merge: "shardId-000000000002".into(),
    })
    .unwrap();
    let latest =
        shards(&e, Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }));
    assert_eq!(ids(&latest), ["shardId-000000000003"]);
    assert_eq!(latest[0].parent_shard_id.as_deref(), Some("shardId-000000000001"));
    assert_eq!(latest[0].adjacent_parent_shard_id.as_deref(), Some("shardId-000000000002"));
    assert_eq!(latest[0].hash_key_range, HashKeyRange { starting_hash_key: 0, ending_hash_key: u128::MAX });
    write(&e, &mut counters, 5, 20);
    check_lineage(&e, &counters);
    // Everything persists across reopen.
    e.close().unwrap();
    drop(e);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    assert_eq!(ids(&shards(&e, None)).len(), 4);
    check_lineage(&e, &counters);
}

#[test]
fn update_shard_count_1_2_4_3_1_keeps_per_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 1);
    let mut counters = HashMap::new();
    for target in [2u32, 4, 3, 2, 1] {
        write(&e, &mut counters, 13, 60);
        clock.advance(Duration::from_secs(2));
        let out = e.update_shard_count(UpdateShardCountInput {
            stream: s(),
            target_shard_count: target,
            ..Default::default()
        });
        let out = out.unwrap_or_else(|err| panic!("scaling to {target}: {err}"));
        assert_eq!(out.target_shard_count, target);
        let open =
            shards(&e, Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }));
        let ranges: Vec<HashKeyRange> = open.iter().map(|s| s.hash_key_range).collect();
        assert_eq!(ranges, shardlog::kinesis::even_split(target), "evenly spaced after scaling to {target}");
    }
    write(&e, &mut counters, 13, 60);
    check_lineage(&e, &counters);
}

#[test]
fn reshard_errors_are_kinesis_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 2);
    let split = |shard: &str, key: &str| {
        e.split_shard(SplitShardInput { stream: s(), shard_to_split: shard.into(), new_starting_hash_key: key.into() })
    };
    let err = split("shardId-000000000000", "1").unwrap_err();
    assert!(
        err.to_string().starts_with("NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000"),
        "{err}"
    );
    assert!(matches!(split("shardId-000000000000", "0"), Err(Error::InvalidArgument { .. })));
    let top = (u128::MAX / 2).to_string();
    assert!(matches!(split("shardId-000000000000", &top), Err(Error::InvalidArgument { .. })));
    assert!(matches!(split("shardId-000000000000", "abc"), Err(Error::Validation { .. })));
    let err = split("shardId-000000000009", "100").unwrap_err();
    assert_eq!(err.to_string(), "Could not find shard shardId-000000000009 in stream s under account 000000000000.");
    split("shardId-000000000000", "1000").unwrap();
    let err = split("shardId-000000000000", "500").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Shard shardId-000000000000 in stream s under account 000000000000 has already been merged or split, and thus is not eligible for merging or splitting."
    );
    let err = e
        .merge_shards(MergeShardsInput {
            stream: s(),
            shard_to_merge: "shardId-000000000002".into(),
            adjacent_shard_to_merge: "shardId-000000000001".into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("are not an adjacent pair of shards eligible for merging"), "{err}");
    let bad = |t: u32| {
        e.update_shard_count(UpdateShardCountInput { stream: s(), target_shard_count: t, ..Default::default() })
    };
    assert!(matches!(bad(7), Err(Error::InvalidArgument { .. })), "more than double");
    assert!(matches!(bad(1), Err(Error::InvalidArgument { .. })), "less than half");
    assert!(matches!(bad(0), Err(Error::Validation { .. })));
    // Ten scalings a day, then LimitExceeded.
    for i in 0..10 {
        let t = if i % 2 == 0 { 4 } else { 3 };
        bad(t).unwrap();
    }
    assert!(matches!(bad(4), Err(Error::LimitExceeded { .. })));
    clock.advance(Duration::from_secs(24 * 3600));
    bad(4).unwrap();
}

#[test]
fn list_shards_filters_follow_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 2);
    clock.advance(Duration::from_secs(10));
    let t_split = T0 + 10_000;
    e.split_shard(SplitShardInput {
        stream: s(),
        shard_to_split: "shardId-0".into(),
        new_starting_hash_key: "1000".into(),
    })
    .unwrap();
    clock.advance(Duration::from_secs(10));
    let f = |t: ShardFilterType, ts: Option<i64>, id: Option<&str>| {
        ids(&shards(
            &e,
            Some(ShardFilter { filter_type: t, shard_id: id.map(String::from), timestamp: ts.map(Timestamp) }),
        ))
    };
    let sid = |i: u32| format!("shardId-{i:012}");
    assert_eq!(f(ShardFilterType::AtLatest, None, None), [sid(1), sid(2), sid(3)]);
    assert_eq!(f(ShardFilterType::AtTrimHorizon, None, None), [sid(0), sid(1)]);
    assert_eq!(f(ShardFilterType::FromTrimHorizon, None, None), [sid(0), sid(1), sid(2), sid(3)]);
    assert_eq!(f(ShardFilterType::AfterShardId, None, Some("shardId-1")), [sid(2), sid(3)]);
    assert_eq!(f(ShardFilterType::AtTimestamp, Some(t_split - 1), None), [sid(0), sid(1)]);
    assert_eq!(f(ShardFilterType::AtTimestamp, Some(t_split + 1), None), [sid(1), sid(2), sid(3)]);
    assert_eq!(f(ShardFilterType::FromTimestamp, Some(t_split - 1), None), [sid(0), sid(1), sid(2), sid(3)]);
    assert_eq!(f(ShardFilterType::FromTimestamp, Some(t_split + 1), None), [sid(1), sid(2), sid(3)]);
    // Pagination keeps the filter.
    let page = e
        .list_shards(ListShardsInput {
            stream: s(),
            max_results: Some(1),
            shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&page.shards), [sid(1)]);
    let page2 = e
        .list_shards(ListShardsInput { next_token: page.next_token, max_results: Some(5), ..Default::default() })
        .unwrap();
    assert_eq!(ids(&page2.shards), [sid(2), sid(3)]);
    assert!(page2.next_token.is_none());
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        n += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    n
}

#[test]
fn retention_trims_by_clock_and_expires_closed_shards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut cfg = config(&clock);
    cfg.log.segment_max_age = Some(HOUR);
    let e = Engine::open(dir.path(), cfg.clone()).unwrap();
    create(&e, 1);
    let blob = "x".repeat(1000);
    for i in 0..100 {
        put(&e, "k", format!("{i}:{blob}"));
    }
    let held = {
        let it = e
            .get_shard_iterator(GetShardIteratorInput {
                stream: s(),
                shard_id: "shardId-0".into(),
                shard_iterator_type: ShardIteratorType::TrimHorizon,
                starting_sequence_number: None,
                timestamp: None,
                dry_run: false,
            })
            .unwrap()
            .shard_iterator;
        e.get_records(GetRecordsInput { shard_iterator: it, limit: Some(3), ..Default::default() }).unwrap().records
    };
    clock.advance(HOUR * 2);
    e.split_shard(SplitShardInput {
        stream: s(),
        shard_to_split: "shardId-0".into(),
        new_starting_hash_key: "1000".into(),
    })
    .unwrap();
    for i in 0..10 {
        put(&e, "k", format!("new{i}"));
    }
    // Nothing expired yet at 2 h.
    assert_eq!(e.enforce_retention().unwrap(), RetentionReport::default());
    let before = dir_bytes(dir.path());
    // Reopen in between.
    e.close().unwrap();
    drop(e);
    let e = Engine::open(dir.path(), cfg.clone()).unwrap();
    // 25 h after the split the parent's records (all older than its close) are past the
    // 24 h retention.
    clock.advance(HOUR * 25);
    for i in 0..10 {
        put(&e, "k", format!("fresh{i}"));
    }
    let report = e.enforce_retention().unwrap();
    assert!(report.segments_removed > 0, "{report:?}");
    assert_eq!(report.shards_expired, 1, "the closed parent expired");
    assert!(dir_bytes(dir.path()) < before / 2, "disk bytes actually dropped");
    assert_eq!(ids(&shards(&e, None)), ["shardId-000000000001", "shardId-000000000002"]);
    assert!(!dir
        .path()
        .join("shards")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("shardId-000000000000")
        .exists());
    let err = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: s(),
            shard_id: "shardId-0".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }));
    // Data held from the deleted segments stays valid.
    assert!(held[0].data.starts_with(b"0:xxx"));
    assert_eq!(held[2].data.len(), 1002);
    // The children hold only the fresh records: the ones written at the split expired too.
    let reader_total: usize = {
        let mut r = LineageReader::new(&e, s(), LineageStart::TrimHorizon);
        let mut n = 0;
        loop {
            let b = r.poll(100).unwrap();
            if b.is_empty() {
                break n;
            }
            n += b.len();
        }
    };
    assert_eq!(reader_total, 10);
}

#[test]
fn retention_period_rules() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 1);
    let inc = |h| e.increase_stream_retention_period(RetentionPeriodInput { stream: s(), retention_period_hours: h });
    let dec = |h| e.decrease_stream_retention_period(RetentionPeriodInput { stream: s(), retention_period_hours: h });
    assert!(matches!(inc(23), Err(Error::InvalidArgument { .. })));
    assert!(matches!(inc(8761), Err(Error::InvalidArgument { .. })));
    inc(48).unwrap();
    let err = inc(30).unwrap_err();
    assert!(err.to_string().contains("can not be shorter than existing retention period (48 hours)"), "{err}");
    let err = dec(72).unwrap_err();
    assert!(err.to_string().contains("can not be longer than existing retention period (48 hours)"), "{err}");
    dec(24).unwrap();
    inc(8760).unwrap();
    let d = e.describe_stream_summary(s()).unwrap();
    assert_eq!(d.retention_period_hours, 8760);
}

#[test]
fn size_cap_bounds_disk_use() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 1);
    let blob = "y".repeat(1000);
    for i in 0..500 {
        put(&e, "k", format!("{i}:{blob}"));
    }
    e.set_stream_size_cap(s(), Some(64 * 1024)).unwrap();
    let r = e.enforce_retention().unwrap();
    assert!(r.segments_removed > 0);
    let shard_bytes = dir_bytes(&dir.path().join("shards"));
    assert!(shard_bytes <= 64 * 1024 + 32 * 1024, "{shard_bytes} bytes on disk");
}

#[test]
fn lineage_reader_moves_past_a_parent_that_expired_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), config(&clock)).unwrap();
    create(&e, 1);
    for i in 0..10 {
        put(&e, "k", format!("old{i}"));
    }
    e.split_shard(SplitShardInput {
        stream: s(),
        shard_to_split: "shardId-0".into(),
        new_starting_hash_key: (u128::MAX / 2).to_string(),
    })
    .unwrap();
    let mut r = LineageReader::new(&e, s(), LineageStart::TrimHorizon);
    assert_eq!(r.poll(1).unwrap().len(), 1, "the parent is not finished");
    clock.advance(HOUR * 25);
    for i in 0..3 {
        put(&e, "k", format!("new{i}"));
    }
    assert_eq!(e.enforce_retention().unwrap().shards_expired, 1);
    let got: Vec<String> =
        r.poll(100).unwrap().into_iter().map(|x| String::from_utf8(x.record.data.to_vec()).unwrap()).collect();
    assert_eq!(got, ["new0", "new1", "new2"], "the children are read once the expired parent is gone");
}
