//! Account settings (the 24-hour commitment on the engine clock, persisted, deciding the
//! consumer limit), encryption settings, enhanced monitoring and its counters, tags and
//! policies by ARN, `StreamId`, and `DryRun` on the data operations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, Limits, ManualClock, StatusDelays};

const T0: i64 = 1_767_225_600_000;
const HOUR: Duration = Duration::from_secs(3600);
const POLICY: &str =
    "{\n  \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"kinesis:*\"}]\n}";

fn open(dir: &Path, clock: &ManualClock) -> Engine {
    open_with(dir, clock, |_| {})
}

fn open_with(dir: &Path, clock: &ManualClock, edit: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut c = EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        channel_delivery_interval: None,
        ..EngineConfig::default()
    };
    edit(&mut c);
    Engine::open(dir, c).unwrap()
}

fn reopen(e: Engine, dir: &Path, clock: &ManualClock) -> Engine {
    e.close().unwrap();
    drop(e);
    open(dir, clock)
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> (&'static str, String) {
    let e = r.expect_err("expected an error");
    (e.kinesis_error_code(), e.to_string())
}

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn put(e: &Engine, stream: StreamRef, data: &[u8]) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream,
        data: Bytes::copy_from_slice(data),
        partition_key: Some("k".into()),
        ..Default::default()
    })
}

fn read_all(e: &Engine, stream: &str, shard: &str) -> Vec<KinesisRecord> {
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(stream),
            shard_id: shard.into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap();
    e.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() }).unwrap().records
}

fn enable(on: bool) -> UpdateAccountSettingsInput {
    UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: on }
}

#[test]
fn the_commitment_lasts_24_hours_on_the_engine_clock_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    let c = |e: &Engine| e.describe_account_settings().unwrap().minimum_throughput_billing_commitment;
    assert_eq!(
        c(&e),
        MinimumThroughputBillingCommitment {
            status: CommitmentStatus::Disabled,
            started_at: None,
            ended_at: None,
            earliest_allowed_end_at: None,
        }
    );
    e.update_account_settings(enable(true)).unwrap();
    clock.advance(HOUR);
    let out = e.update_account_settings(enable(false)).unwrap().minimum_throughput_billing_commitment;
    let end = Timestamp(T0 + 24 * 3_600_000);
    assert_eq!(
        out,
        MinimumThroughputBillingCommitment {
            status: CommitmentStatus::EnabledUntilEarliestAllowedEnd,
            started_at: Some(Timestamp(T0)),
            ended_at: Some(end),
            earliest_allowed_end_at: Some(end),
        }
    );
    let e = reopen(e, dir.path(), &clock);
    assert_eq!(c(&e).status, CommitmentStatus::EnabledUntilEarliestAllowedEnd, "persisted");
    clock.advance(23 * HOUR);
    let after = c(&e);
    assert_eq!((after.status, after.ended_at), (CommitmentStatus::Disabled, Some(end)));
    // A new commitment starts afresh.
    clock.advance(HOUR);
    let again = e.update_account_settings(enable(true)).unwrap().minimum_throughput_billing_commitment;
    assert_eq!(
        (again.status, again.started_at, again.ended_at),
        (CommitmentStatus::Enabled, Some(Timestamp(T0 + 25 * 3_600_000)), None)
    );
}

#[test]
fn the_commitment_decides_20_or_50_consumers_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    let register = |i: usize| {
        e.register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn("s"),
            consumer_name: format!("c{i}"),
            ..Default::default()
        })
    };
    for i in 0..20 {
        register(i).unwrap();
    }
    let (c, m) = code(register(20));
    assert_eq!(c, "LimitExceededException");
    assert!(m.contains("Consumer limit of 20"), "{m}");
    e.update_account_settings(enable(true)).unwrap();
    for i in 20..50 {
        register(i).unwrap();
    }
    assert!(code(register(50)).1.contains("Consumer limit of 50"));
    let e = reopen(e, dir.path(), &clock);
    assert_eq!(e.describe_stream_summary(StreamRef::name("s")).unwrap().consumer_count, 50);
}

#[test]
fn encryption_goes_through_updating_marks_records_kms_and_is_limited_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let delays = StatusDelays { creating: Duration::ZERO, updating: Duration::from_secs(1), deleting: Duration::ZERO };
    let e = open_with(dir.path(), &clock, |c| c.status_delays = Some(delays));
    create(&e, "s", 1);
    let start = |key: &str| {
        e.start_stream_encryption(StreamEncryptionInput {
            stream: StreamRef::name("s"),
            encryption_type: EncryptionType::Kms,
            key_id: key.into(),
        })
    };
    let stop = |key: &str| {
        e.stop_stream_encryption(StreamEncryptionInput {
            stream: StreamRef::name("s"),
            encryption_type: EncryptionType::Kms,
            key_id: key.into(),
        })
    };
    assert_eq!(code(stop("alias/aws/kinesis")).0, "InvalidArgumentException", "not encrypted");
    assert_eq!(code(start("nope")).0, "InvalidArgumentException");
    let none = e.start_stream_encryption(StreamEncryptionInput {
        stream: StreamRef::name("s"),
        encryption_type: EncryptionType::None,
        key_id: "alias/aws/kinesis".into(),
    });
    assert_eq!(code(none).0, "InvalidArgumentException");
    let before = put(&e, StreamRef::name("s"), b"plain").unwrap();
    assert_eq!(before.encryption_type, EncryptionType::None);
    start("arn:aws:kinesis:us-east-1:000000000000:key/x").unwrap_err();
    start("alias/aws/kinesis").unwrap();
    let s = e.describe_stream_summary(StreamRef::name("s")).unwrap();
    assert_eq!(
        (s.stream_status, s.encryption_type, s.key_id.as_deref()),
        (StreamStatus::Updating, EncryptionType::Kms, Some("alias/aws/kinesis"))
    );
    assert_eq!(code(start("alias/other")).0, "ResourceInUseException", "not ACTIVE while UPDATING");
    let during = put(&e, StreamRef::name("s"), b"secret").unwrap();
    assert_eq!(during.encryption_type, EncryptionType::Kms, "writes continue during UPDATING");
    clock.advance(Duration::from_secs(1));
    assert_eq!(code(stop("alias/other")).0, "InvalidArgumentException", "another key");
    // 25 new keys per rolling 24 hours.
    for i in 1..25 {
        start(&format!("alias/k{i}")).unwrap();
        clock.advance(Duration::from_secs(1));
    }
    let (c, m) = code(start("alias/k25"));
    assert_eq!(c, "LimitExceededException");
    assert!(m.contains("25 times in the last 24 hours"), "{m}");
    start("alias/k24").unwrap(); // the key in use: no change, not counted
    clock.advance(24 * HOUR);
    start("alias/k25").unwrap();
    clock.advance(Duration::from_secs(1));
    let e = reopen(e, dir.path(), &clock);
    let d = e.describe_stream(DescribeStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    assert_eq!((d.encryption_type, d.key_id.as_deref()), (EncryptionType::Kms, Some("alias/k25")));
    let recs = read_all(&e, "s", "shardId-000000000000");
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.encryption_type == EncryptionType::Kms));
    e.stop_stream_encryption(StreamEncryptionInput {
        stream: StreamRef::name("s"),
        encryption_type: EncryptionType::Kms,
        key_id: "alias/k25".into(),
    })
    .unwrap();
    assert_eq!(e.describe_stream_summary(StreamRef::name("s")).unwrap().key_id, None);
}

#[test]
fn enhanced_monitoring_reports_its_set_and_counts_per_shard() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    let change = |enable: bool, m: Vec<MetricsName>| {
        let input = EnhancedMonitoringInput { stream: StreamRef::name("s"), shard_level_metrics: m };
        if enable {
            e.enable_enhanced_monitoring(input)
        } else {
            e.disable_enhanced_monitoring(input)
        }
    };
    let out = change(true, vec![MetricsName::Metric(ShardMetric::IncomingBytes)]).unwrap();
    assert_eq!(out.current_shard_level_metrics, vec![]);
    assert_eq!(out.desired_shard_level_metrics, vec![ShardMetric::IncomingBytes]);
    assert_eq!(out.stream_arn, arn("s"));
    let out = change(true, vec![MetricsName::All]).unwrap();
    assert_eq!(out.desired_shard_level_metrics, ShardMetric::ALL.to_vec());
    let out = change(false, vec![MetricsName::Metric(ShardMetric::IteratorAgeMilliseconds)]).unwrap();
    assert_eq!(out.desired_shard_level_metrics.len(), 6);
    assert_eq!(code(change(true, vec![])).0, "ValidationException");
    put(&e, StreamRef::name("s"), b"12345").unwrap();
    put(&e, StreamRef::name("s"), b"678").unwrap();
    assert_eq!(read_all(&e, "s", "shardId-000000000000").len(), 2);
    let m = e.metrics();
    assert_eq!(m.streams.len(), 1);
    assert_eq!(m.streams[0].shard_level_metrics.len(), 6);
    let c = &m.streams[0].shards[0].counters;
    assert_eq!((c.incoming_records, c.incoming_bytes), (2, 8 + 2), "data and key bytes");
    assert_eq!((c.get_records_records, c.get_records_bytes), (2, 10));
    let e = reopen(e, dir.path(), &clock);
    let d = e.describe_stream(DescribeStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    assert_eq!(d.enhanced_monitoring.len(), 6, "persisted");
}

#[test]
fn tags_and_policies_by_arn_on_streams_consumers_and_queues() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    let consumer = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn("s"),
            consumer_name: "c".into(),
            tags: [("owner".to_string(), "me".to_string())].into_iter().collect(),
            ..Default::default()
        })
        .unwrap()
        .consumer_arn;
    let tags = |a: &str| -> BTreeMap<String, String> {
        e.list_tags_for_resource(ListTagsForResourceInput { resource_arn: a.into(), stream_id: None })
            .unwrap()
            .tags
            .into_iter()
            .map(|t| (t.key, t.value.unwrap_or_default()))
            .collect()
    };
    let tag = |a: &str, k: &str, v: &str| {
        e.tag_resource(TagResourceInput {
            resource_arn: a.into(),
            tags: [(k.to_string(), v.to_string())].into_iter().collect(),
            stream_id: None,
        })
    };
    tag(&arn("s"), "team", "data").unwrap();
    tag(&consumer, "tier", "gold").unwrap();
    assert_eq!(tags(&arn("s")), [("team".to_string(), "data".to_string())].into_iter().collect());
    assert_eq!(tags(&consumer).len(), 2);
    e.untag_resource(UntagResourceInput {
        resource_arn: consumer.clone(),
        tag_keys: vec!["owner".into(), "ghost".into()],
        stream_id: None,
    })
    .unwrap();
    assert_eq!(tags(&consumer).len(), 1);
    // Limits and characters.
    let many: BTreeMap<String, String> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
    let (c, m) = code(e.tag_resource(TagResourceInput { resource_arn: arn("s"), tags: many, stream_id: None }));
    assert_eq!(c, "InvalidArgumentException", "{m}");
    assert_eq!(code(tag(&arn("s"), "a#b", "v")).0, "ValidationException");
    assert_eq!(code(tag(&arn("s"), "aws:x", "v")).0, "InvalidArgumentException");
    // Unknown resources.
    let queue = "arn:aws:kinesis:us-east-1:000000000000:queue/q1";
    assert_eq!(code(tag(queue, "a", "b")), ("ResourceNotFoundException", format!("Queue {queue} not found.")));
    assert_eq!(code(tag("arn:aws:kinesis:eu-west-1:000000000000:stream/s", "a", "b")).0, "ResourceNotFoundException");
    assert_eq!(code(tag("arn:aws:s3:::b", "a", "b")).0, "ValidationException");
    // Policies: byte-identical, `{}` when absent, JSON checked.
    let get = |a: &str| {
        e.get_resource_policy(ResourcePolicyInput { resource_arn: a.into(), stream_id: None }).unwrap().policy
    };
    assert_eq!(get(&arn("s")), "{}");
    e.put_resource_policy(PutResourcePolicyInput {
        resource_arn: consumer.clone(),
        policy: POLICY.into(),
        stream_id: None,
    })
    .unwrap();
    assert_eq!(get(&consumer), POLICY);
    let bad = e.put_resource_policy(PutResourcePolicyInput {
        resource_arn: arn("s"),
        policy: "{\"Statement\": []}".into(),
        stream_id: None,
    });
    assert_eq!(code(bad).0, "InvalidArgumentException");
    let e = reopen(e, dir.path(), &clock);
    let get = |a: &str| {
        e.get_resource_policy(ResourcePolicyInput { resource_arn: a.into(), stream_id: None }).unwrap().policy
    };
    assert_eq!(get(&consumer), POLICY, "persisted");
    e.delete_resource_policy(ResourcePolicyInput { resource_arn: consumer.clone(), stream_id: None }).unwrap();
    e.delete_resource_policy(ResourcePolicyInput { resource_arn: consumer.clone(), stream_id: None }).unwrap();
    assert_eq!(get(&consumer), "{}");
    // Tagging a consumer does not disturb its subscriptions' identity.
    assert_eq!(
        e.describe_stream_consumer(ConsumerRef { consumer_arn: Some(consumer.clone()), ..Default::default() })
            .unwrap()
            .consumer_name,
        "c"
    );
}

#[test]
fn stream_id_names_a_stream_alone_and_must_agree_with_a_name_or_arn() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "a", 1);
    create(&e, "b", 1);
    let id_a = e.describe_stream_summary(StreamRef::name("a")).unwrap().stream_id;
    let id_b = e.describe_stream_summary(StreamRef::name("b")).unwrap().stream_id;
    assert_ne!(id_a, id_b);
    assert_eq!(e.describe_stream_summary(StreamRef::id(id_a.clone())).unwrap().stream_name, "a");
    let both = StreamRef { stream_name: Some("b".into()), stream_id: Some(id_a.clone()), ..Default::default() };
    assert_eq!(code(e.describe_stream_summary(both)).0, "InvalidArgumentException");
    let bad = StreamRef { stream_name: Some("a".into()), stream_id: Some("NOT-AN-ID".into()), ..Default::default() };
    let (c, m) = code(e.describe_stream_summary(bad));
    assert_eq!(c, "ValidationException");
    assert!(m.contains("[a-z0-9]{20}-[a-z0-9]{3}"), "{m}");
    let e = reopen(e, dir.path(), &clock);
    assert_eq!(e.describe_stream_summary(StreamRef::name("a")).unwrap().stream_id, id_a, "stable across reopen");
}

#[test]
fn dry_runs_check_everything_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |c| c.limits = Limits::kinesis());
    create(&e, "s", 1);
    let dry = |data: &[u8]| {
        e.put_record(PutRecordInput {
            stream: StreamRef::name("s"),
            data: Bytes::copy_from_slice(data),
            partition_key: Some("k".into()),
            dry_run: true,
            ..Default::default()
        })
    };
    assert_eq!(
        code(dry(b"x")),
        ("DryRunOperationException", "Request would have succeeded, but DryRun flag is set.".into())
    );
    // Checks still run: a missing stream, a bad key.
    let missing = e.put_record(PutRecordInput {
        stream: StreamRef::name("nope"),
        dry_run: true,
        partition_key: Some("k".into()),
        ..Default::default()
    });
    assert_eq!(code(missing).0, "ResourceNotFoundException");
    let no_key = e.put_records(PutRecordsInput {
        stream: StreamRef::name("s"),
        records: vec![PutRecordsRequestEntry {
            data: Bytes::from_static(b"x"),
            partition_key: None,
            explicit_hash_key: None,
        }],
        dry_run: true,
    });
    assert_eq!(code(no_key).0, "ValidationException");
    // No throughput consumed: 1,000 dry runs, then 1,000 real records still fit this second.
    for _ in 0..1000 {
        assert_eq!(code(dry(b"x")).0, "DryRunOperationException");
    }
    let it = |dry_run: bool| {
        e.get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name("s"),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run,
        })
    };
    for _ in 0..10 {
        assert_eq!(code(it(true)).0, "DryRunOperationException");
    }
    let iterator = it(false).unwrap().shard_iterator;
    for _ in 0..10 {
        let r =
            e.get_records(GetRecordsInput { shard_iterator: iterator.clone(), dry_run: true, ..Default::default() });
        assert_eq!(code(r).0, "DryRunOperationException");
    }
    assert!(e
        .get_records(GetRecordsInput { shard_iterator: iterator, ..Default::default() })
        .unwrap()
        .records
        .is_empty());
    let accepted = (0..1000).filter(|_| put(&e, StreamRef::name("s"), b"x").is_ok()).count();
    assert_eq!(accepted, 1000, "the dry runs spent none of the 1,000 records/s");
    // Subscriptions: a dry run starts nothing, so a real one right after is not a takeover.
    let c = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: arn("s"),
            consumer_name: "c".into(),
            ..Default::default()
        })
        .unwrap();
    let sub = |dry_run: bool| {
        e.subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: c.consumer_arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
            stream_id: None,
            dry_run,
        })
    };
    assert_eq!(code(sub(true)).0, "DryRunOperationException");
    let _live = sub(false).unwrap();
    assert_eq!(code(sub(true)).0, "ResourceInUseException", "the 5-second rule is checked too");
}
