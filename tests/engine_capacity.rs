//! Capacity: on-demand streams (the 4-shard default, engine-managed shards, automatic splits
//! of hot shards with lineage, the on-demand write-capacity rule), `UpdateStreamMode` (both
//! ways, UPDATING, twice per 24 hours), warm throughput (commitment, pre-scaling), record
//! distribution (AUTO, USER_PARTITION_KEY), and that all of it persists across a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, Limits, ManualClock, StatusDelays};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: Duration = Duration::from_secs(3600);
const MIB: usize = 1024 * 1024;

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        channel_delivery_interval: None,
        ..EngineConfig::default()
    }
}

fn open_with(dir: &Path, clock: &ManualClock, edit: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut c = config(clock);
    edit(&mut c);
    Engine::open(dir, c).unwrap()
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> (&'static str, String) {
    let e = r.expect_err("expected an error");
    (e.kinesis_error_code(), e.to_string())
}

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

fn summary(e: &Engine, name: &str) -> StreamDescriptionSummary {
    e.describe_stream_summary(StreamRef::name(name)).unwrap()
}

fn put(e: &Engine, stream: &str, key: Option<&str>, data: &[u8]) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::copy_from_slice(data),
        partition_key: key.map(str::to_string),
        ..Default::default()
    })
}

fn open_shards(e: &Engine, stream: &str) -> Vec<Shard> {
    e.list_shards(ListShardsInput {
        stream: StreamRef::name(stream),
        shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
        ..Default::default()
    })
    .unwrap()
    .shards
}

fn commit(e: &Engine) {
    let a = e
        .update_account_settings(UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: true })
        .unwrap();
    assert_eq!(a.minimum_throughput_billing_commitment.status, CommitmentStatus::Enabled);
}

#[test]
fn create_stream_without_shard_count_or_mode_is_on_demand_with_4_shards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |_| {});
    e.create_stream(CreateStreamInput { stream_name: "od".into(), ..Default::default() }).unwrap();
    e.create_stream(CreateStreamInput {
        stream_name: "od2".into(),
        stream_mode: Some(StreamMode::OnDemand),
        ..Default::default()
    })
    .unwrap();
    for name in ["od", "od2"] {
        let s = summary(&e, name);
        assert_eq!((s.stream_mode, s.open_shard_count), (StreamMode::OnDemand, 4), "{name}");
        assert_eq!(s.record_distribution_strategy, Some(RecordDistribution::UserPartitionKey));
    }
    let l = e.describe_limits().unwrap();
    assert_eq!((l.on_demand_stream_count, l.on_demand_stream_count_limit, l.open_shard_count), (2, 50, 8));
    // User resharding of an on-demand stream: AWS' ValidationException.
    for r in [
        e.split_shard(SplitShardInput {
            stream: StreamRef::name("od"),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: "12345".into(),
        }),
        e.merge_shards(MergeShardsInput {
            stream: StreamRef::name("od"),
            shard_to_merge: "shardId-000000000000".into(),
            adjacent_shard_to_merge: "shardId-000000000001".into(),
        }),
        e.update_shard_count(UpdateShardCountInput {
            stream: StreamRef::name("od"),
            target_shard_count: 8,
            ..Default::default()
        })
        .map(|_| ()),
    ] {
        assert_eq!(
            code(r),
            ("ValidationException", "This API is not supported for streams in ON_DEMAND capacity mode.".into())
        );
    }
}

#[test]
fn update_stream_mode_goes_both_ways_through_updating_at_most_twice_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let delays = StatusDelays { creating: Duration::ZERO, updating: Duration::from_secs(10), deleting: Duration::ZERO };
    let e = open_with(dir.path(), &clock, |c| c.status_delays = Some(delays));
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(2), ..Default::default() }).unwrap();
    let to = |mode| UpdateStreamModeInput {
        stream: StreamRef::arn(arn("s")),
        stream_mode: mode,
        warm_throughput_mibps: None,
    };
    e.update_stream_mode(to(StreamMode::OnDemand)).unwrap();
    let s = summary(&e, "s");
    assert_eq!((s.stream_mode, s.stream_status, s.open_shard_count), (StreamMode::OnDemand, StreamStatus::Updating, 2));
    put(&e, "s", Some("k"), b"writes continue while UPDATING").unwrap();
    assert_eq!(code(e.update_stream_mode(to(StreamMode::Provisioned))).0, "ResourceInUseException");
    clock.advance(Duration::from_secs(10));
    assert_eq!(summary(&e, "s").stream_status, StreamStatus::Active);
    assert_eq!(
        code(e.update_stream_mode(to(StreamMode::OnDemand))),
        ("InvalidArgumentException", "Stream s under account 000000000000 is already in ON_DEMAND mode.".into())
    );
    e.update_stream_mode(to(StreamMode::Provisioned)).unwrap();
    clock.advance(Duration::from_secs(10));
    let (c, m) = code(e.update_stream_mode(to(StreamMode::OnDemand)));
    assert_eq!(c, "LimitExceededException");
    assert!(m.contains("2 times in the last 24 hours"), "{m}");
    // The limit is a rolling 24 hours, and it survives a reopen.
    e.close().unwrap();
    drop(e);
    let e = open_with(dir.path(), &clock, |c| c.status_delays = Some(delays));
    assert_eq!(code(e.update_stream_mode(to(StreamMode::OnDemand))).0, "LimitExceededException");
    clock.advance(24 * HOUR);
    e.update_stream_mode(to(StreamMode::OnDemand)).unwrap();
}

#[test]
fn warm_throughput_needs_an_on_demand_stream_and_the_commitment_and_prescales_with_limits_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let delays = StatusDelays { creating: Duration::ZERO, updating: Duration::from_secs(5), deleting: Duration::ZERO };
    let e = open_with(dir.path(), &clock, |c| {
        c.limits = Limits::kinesis();
        c.status_delays = Some(delays);
    });
    e.create_stream(CreateStreamInput { stream_name: "od".into(), ..Default::default() }).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "p".into(), shard_count: Some(1), ..Default::default() }).unwrap();
    let warm = |name: &str, mibps| {
        e.update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
            stream: StreamRef::name(name),
            warm_throughput_mibps: mibps,
        })
    };
    let (c, m) = code(warm("od", 10));
    assert_eq!(c, "ValidationException");
    assert!(m.contains("minimum throughput billing commitment"), "{m}");
    commit(&e);
    assert_eq!(code(warm("p", 10)).0, "ValidationException");
    assert_eq!(code(warm("od", 10_241)).0, "LimitExceededException");
    let out = warm("od", 10).unwrap();
    assert_eq!(out.warm_throughput, WarmThroughputObject { target_mibps: 10, current_mibps: 0 });
    let s = summary(&e, "od");
    assert_eq!(s.stream_status, StreamStatus::Updating);
    assert_eq!(s.warm_throughput, Some(WarmThroughputObject { target_mibps: 10, current_mibps: 0 }));
    // Pre-scaled: one shard per MiB/s, by real reshards with lineage.
    assert_eq!(s.open_shard_count, 10);
    let all = e.list_shards(ListShardsInput { stream: StreamRef::name("od"), ..Default::default() }).unwrap().shards;
    assert!(all.iter().any(|s| s.parent_shard_id.is_some()), "children carry their lineage");
    clock.advance(Duration::from_secs(5));
    let s = summary(&e, "od");
    assert_eq!(s.warm_throughput, Some(WarmThroughputObject { target_mibps: 10, current_mibps: 10 }));
    // Lowering releases capacity but keeps the shards.
    warm("od", 2).unwrap();
    assert_eq!(summary(&e, "od").open_shard_count, 10);
}

#[test]
fn a_hot_shard_of_an_on_demand_stream_is_split_and_every_record_stays_readable_through_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |c| {
        c.limits = Limits::kinesis();
        c.on_demand = capacity::OnDemandConfig { hot_shard_utilization: 0.8, hot_shard_seconds: 3 };
    });
    e.create_stream(CreateStreamInput { stream_name: "od".into(), ..Default::default() }).unwrap();
    assert_eq!(open_shards(&e, "od").len(), 4);
    // One key, so one shard gets 900 KiB every second (90 % of its 1 MiB/s limit).
    let data = vec![7u8; 90 * 1024];
    let mut acked = Vec::new();
    for second in 0..4 {
        for _ in 0..10 {
            acked.push(put(&e, "od", Some("hot"), &data).unwrap().sequence_number);
        }
        clock.advance(Duration::from_secs(1));
        let _ = second;
    }
    // The put at the start of second 3 saw three hot seconds: the shard was split.
    let open = open_shards(&e, "od");
    assert_eq!(open.len(), 5, "{open:#?}");
    let children: Vec<&Shard> = open.iter().filter(|s| s.parent_shard_id.is_some()).collect();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].parent_shard_id, children[1].parent_shard_id);
    acked.push(put(&e, "od", Some("hot"), &data).unwrap().sequence_number);
    // Every acknowledged record is read back in order across the split.
    let mut reader = LineageReader::new(&e, StreamRef::name("od"), LineageStart::TrimHorizon);
    let mut seen = Vec::new();
    for _ in 0..20 {
        let batch = reader.poll(1000).unwrap();
        if batch.is_empty() && seen.len() == acked.len() {
            break;
        }
        seen.extend(batch.into_iter().map(|r| r.record.sequence_number));
    }
    assert_eq!(seen, acked);
    // A cold stream never splits.
    e.create_stream(CreateStreamInput { stream_name: "cold".into(), ..Default::default() }).unwrap();
    for _ in 0..10 {
        put(&e, "cold", Some("k"), &data[..1024]).unwrap();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(open_shards(&e, "cold").len(), 4);
}

#[test]
fn on_demand_write_capacity_is_4_mib_then_twice_the_peak() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    // Shard limits off (stream-wide capacity only), so the stream rule is what throttles.
    let e = open_with(dir.path(), &clock, |c| {
        c.limits = Limits { shard_write_bytes_per_sec: None, shard_write_records_per_sec: None, ..Limits::kinesis() }
    });
    e.create_stream(CreateStreamInput { stream_name: "od".into(), ..Default::default() }).unwrap();
    // Exactly half a MiB per record: 4-byte keys and MiB/2 − 4 bytes of data.
    let record = vec![1u8; MIB / 2 - 4];
    let accepted =
        |e: &Engine, n: usize| (0..n).filter(|i| put(e, "od", Some(&format!("k{i:03}")), &record).is_ok()).count();
    // A fresh stream takes 4 MiB in its first second: 8 half-MiB records.
    assert_eq!(accepted(&e, 12), 8);
    // That second's 4 MiB is the peak: the next second takes up to 8 MiB.
    clock.advance(Duration::from_secs(1));
    assert_eq!(accepted(&e, 20), 16);
    clock.advance(Duration::from_secs(1));
    assert_eq!(accepted(&e, 40), 32, "twice the 8 MiB peak");
    let (c, _) = code(put(&e, "od", Some("k"), &record));
    assert_eq!(c, "ProvisionedThroughputExceededException");
}

#[test]
fn auto_distribution_spreads_records_and_makes_the_key_optional() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |_| {});
    e.create_stream(CreateStreamInput { stream_name: "p".into(), shard_count: Some(2), ..Default::default() }).unwrap();
    let (c, m) = code(e.create_stream(CreateStreamInput {
        stream_name: "bad".into(),
        shard_count: Some(2),
        record_distribution_strategy: Some(RecordDistribution::Auto),
        ..Default::default()
    }));
    assert_eq!(c, "InvalidArgumentException", "{m}");
    assert_eq!(
        code(e.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
            stream: StreamRef::arn(arn("p")),
            record_distribution_strategy: RecordDistribution::Auto,
        }))
        .0,
        "InvalidArgumentException"
    );
    // USER_PARTITION_KEY: the key is required (the model no longer says so; the server does).
    assert_eq!(
        code(put(&e, "p", None, b"x")),
        (
            "ValidationException",
            "1 validation error detected: Value null at 'partitionKey' failed to satisfy constraint: Member must not \
             be null"
                .into()
        )
    );
    e.create_stream(CreateStreamInput {
        stream_name: "auto".into(),
        record_distribution_strategy: Some(RecordDistribution::Auto),
        ..Default::default()
    })
    .unwrap();
    let mut per_shard = std::collections::BTreeMap::new();
    for i in 0..40 {
        // Keys (and explicit hash keys) are ignored: 40 records with one key spread evenly.
        let key = if i % 3 == 0 { Some("same") } else { None };
        let out = put(&e, "auto", key, format!("r{i}").as_bytes()).unwrap();
        *per_shard.entry(out.shard_id).or_insert(0) += 1;
    }
    assert_eq!(per_shard.values().copied().collect::<Vec<_>>(), vec![10, 10, 10, 10]);
    let (c, m) = code(e.put_record(PutRecordInput {
        stream: StreamRef::name("auto"),
        data: Bytes::from_static(b"x"),
        partition_key: Some("k".into()),
        sequence_number_for_ordering: Some("1".into()),
        ..Default::default()
    }));
    assert_eq!(c, "InvalidArgumentException");
    assert!(m.contains("SequenceNumberForOrdering"), "{m}");
    // Records without a key come back without one.
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name("auto"),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap();
    let recs = e.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() }).unwrap();
    let keys: Vec<&str> = recs.records.iter().map(|r| r.partition_key.as_str()).collect();
    assert_eq!(keys.len(), 10);
    assert!(keys.contains(&"") && keys.contains(&"same"), "{keys:?}");
    // AUTO cannot go PROVISIONED; USER_PARTITION_KEY first.
    let to_prov = || UpdateStreamModeInput {
        stream: StreamRef::arn(arn("auto")),
        stream_mode: StreamMode::Provisioned,
        warm_throughput_mibps: None,
    };
    assert_eq!(code(e.update_stream_mode(to_prov())).0, "InvalidArgumentException");
    e.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
        stream: StreamRef::arn(arn("auto")),
        record_distribution_strategy: RecordDistribution::UserPartitionKey,
    })
    .unwrap();
    e.update_stream_mode(to_prov()).unwrap();
    assert_eq!(summary(&e, "auto").record_distribution_strategy, None, "not reported for provisioned streams");
    // Persisted.
    e.close().unwrap();
    drop(e);
    let e = open_with(dir.path(), &clock, |_| {});
    assert_eq!(summary(&e, "auto").stream_mode, StreamMode::Provisioned);
}
