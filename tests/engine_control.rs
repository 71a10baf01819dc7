//! Control-plane semantics of the engine: CreateStream (hash-range split vectors, quotas,
//! modes), DeleteStream, DescribeStream / DescribeStreamSummary, ListStreams and ListShards
//! (pagination, tokens and their expiry, filters), stream ARNs, tags, and the modelled
//! CREATING / DELETING delays — and that all of it persists across `close()` + reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::kinesis::even_split;
use shardlog::{Durability, Engine, EngineConfig, Error, ManualClock, StatusDelays};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const ACCOUNT: &str = "000000000000";
const MAX: u128 = u128::MAX;

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig { clock: Arc::new(clock.clone()), durability: Durability::Buffered, ..EngineConfig::default() }
}

fn open(dir: &Path, clock: &ManualClock) -> Engine {
    Engine::open(dir, config(clock)).unwrap()
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn describe(e: &Engine, r: StreamRef) -> Result<StreamDescription, Error> {
    e.describe_stream(DescribeStreamInput { stream: r, ..Default::default() })
}

fn describe_all(e: &Engine, name: &str) -> StreamDescription {
    e.describe_stream(DescribeStreamInput { stream: StreamRef::name(name), limit: Some(10_000), ..Default::default() })
        .unwrap()
}

fn ids(shards: &[Shard]) -> Vec<u32> {
    shards.iter().map(|s| s.shard_id.strip_prefix("shardId-").unwrap().parse().unwrap()).collect()
}

fn put(e: &Engine, r: StreamRef, key: &str, data: &[u8]) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream: r,
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        ..Default::default()
    })
}

fn read_shard(e: &Engine, stream: &str, shard: &str) -> Vec<KinesisRecord> {
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(stream),
            shard_id: shard.into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap()
        .shard_iterator;
    e.get_records(GetRecordsInput { shard_iterator: it, ..Default::default() }).unwrap().records
}

fn list_shards(e: &Engine, input: ListShardsInput) -> Result<ListShardsOutput, Error> {
    e.list_shards(input)
}

fn shards_of(name: &str) -> ListShardsInput {
    ListShardsInput { stream: StreamRef::name(name), ..Default::default() }
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn numbered_tags(range: std::ops::Range<usize>) -> BTreeMap<String, String> {
    range.map(|i| (format!("key{i:03}"), format!("value{i}"))).collect()
}

fn list_tags(e: &Engine, name: &str) -> Vec<(String, String)> {
    let out =
        e.list_tags_for_stream(ListTagsForStreamInput { stream: StreamRef::name(name), ..Default::default() }).unwrap();
    out.tags.into_iter().map(|t| (t.key, t.value.unwrap_or_default())).collect()
}

#[track_caller]
fn assert_err(r: Result<impl std::fmt::Debug, Error>, code: &str, message: Option<&str>) {
    let err = r.expect_err("the call must fail");
    assert_eq!(err.kinesis_error_code(), code, "{err:?}");
    if let Some(m) = message {
        assert_eq!(err.to_string(), m);
    }
}

fn not_found(name: &str) -> String {
    format!("Stream {name} under account {ACCOUNT} not found.")
}

fn range(start: u128, end: u128) -> HashKeyRange {
    HashKeyRange { starting_hash_key: start, ending_hash_key: end }
}

// ------------------------------------------------------------------------------ CreateStream

#[test]
fn create_splits_the_hash_space_exactly_as_kinesis() {
    let n = |s: &str| s.parse::<u128>().unwrap();
    let expected: Vec<Vec<HashKeyRange>> = vec![
        vec![range(0, MAX)],
        vec![
            range(0, n("170141183460469231731687303715884105727")),
            range(n("170141183460469231731687303715884105728"), MAX),
        ],
        vec![
            range(0, n("113427455640312821154458202477256070484")),
            range(n("113427455640312821154458202477256070485"), n("226854911280625642308916404954512140969")),
            range(n("226854911280625642308916404954512140970"), MAX),
        ],
        vec![
            range(0, n("85070591730234615865843651857942052863")),
            range(n("85070591730234615865843651857942052864"), n("170141183460469231731687303715884105727")),
            range(n("170141183460469231731687303715884105728"), n("255211775190703847597530955573826158591")),
            range(n("255211775190703847597530955573826158592"), MAX),
        ],
        {
            let q = n("68056473384187692692674921486353642291");
            (0..5u128).map(|i| range(i * q, if i == 4 { MAX } else { (i + 1) * q - 1 })).collect()
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 1_234);
    let e = open(dir.path(), &clock);
    for (i, want) in expected.iter().enumerate() {
        let count = i as u32 + 1;
        let name = format!("n{count}");
        create(&e, &name, count);
        let d = describe_all(&e, &name);
        assert_eq!(d.shards.iter().map(|s| s.hash_key_range).collect::<Vec<_>>(), *want, "N={count}");
        assert_eq!(even_split(count), *want);
        assert_eq!(d.stream_status, StreamStatus::Active);
        assert_eq!(d.stream_mode, StreamMode::Provisioned);
        assert_eq!(d.retention_period_hours, 24);
        assert_eq!(d.encryption_type, EncryptionType::None);
        assert!(!d.has_more_shards);
        assert_eq!(d.stream_creation_timestamp, Timestamp(T0 + 1_234));
        assert_eq!(d.stream_arn, format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"));
        for (j, s) in d.shards.iter().enumerate() {
            assert_eq!(s.shard_id, format!("shardId-{j:012}"));
            assert_eq!(s.parent_shard_id, None);
            assert_eq!(s.adjacent_parent_shard_id, None);
            let start = s.sequence_number_range.starting_sequence_number;
            assert_eq!(start.shard_index(), j as u32);
            assert_eq!(start.counter(), 0);
            assert!(start.shard_create_secs() <= (T0 / 1000) as u64);
            assert_eq!(start.to_string().len(), 56);
            assert_eq!(s.sequence_number_range.ending_sequence_number, None);
        }
        // ListShards agrees with DescribeStream.
        assert_eq!(list_shards(&e, shards_of(&name)).unwrap().shards, d.shards);
        // Routing follows the ranges: the boundaries land on the right shards.
        for (j, r) in want.iter().enumerate() {
            for h in [r.starting_hash_key, r.ending_hash_key] {
                let out = e
                    .put_record(PutRecordInput {
                        stream: StreamRef::name(name.clone()),
                        partition_key: Some("k".into()),
                        explicit_hash_key: Some(h.to_string()),
                        data: Bytes::from_static(b"x"),
                        ..Default::default()
                    })
                    .unwrap();
                assert_eq!(out.shard_id, format!("shardId-{j:012}"), "N={count} hash {h}");
            }
        }
    }
}

#[test]
fn create_rejects_duplicates_bad_counts_and_quota_overruns() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), EngineConfig { shard_limit: Some(10), ..config(&clock) }).unwrap();
    create(&e, "s", 6);
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }),
        "ResourceInUseException",
        Some(&format!("Stream s under account {ACCOUNT} already exists.")),
    );
    assert_eq!(describe_all(&e, "s").shards.len(), 6, "the failed create changed nothing");
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "t".into(), shard_count: Some(5), ..Default::default() }),
        "LimitExceededException",
        Some(&format!(
            "This request would exceed the shard limit for the account {ACCOUNT} in us-east-1. Current shard count \
             for the account: 6. Limit: 10. Number of additional shards that would have resulted from this request: \
             5. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
             for current limits and how to request higher limits."
        )),
    );
    assert_err(describe(&e, StreamRef::name("t")), "ResourceNotFoundException", Some(&not_found("t")));
    create(&e, "t", 4); // exactly at the quota
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "u".into(), shard_count: Some(1), ..Default::default() }),
        "LimitExceededException",
        None,
    );
    // Deleting frees quota.
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("t"), ..Default::default() }).unwrap();
    create(&e, "u", 4);
    // Shard counts.
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "x".into(), shard_count: Some(0), ..Default::default() }),
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have \
             value greater than or equal to 1",
        ),
    );
    // PROVISIONED needs a ShardCount (without both, the stream is on-demand: tests/engine_capacity.rs).
    assert_err(
        e.create_stream(CreateStreamInput {
            stream_name: "x".into(),
            stream_mode: Some(StreamMode::Provisioned),
            ..Default::default()
        }),
        "ValidationException",
        Some(
            "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not \
             be null",
        ),
    );
    // AWS checks the account quota before the per-stream shard count: a huge ShardCount
    // reports the account limit with its real numbers.
    assert_err(
        e.create_stream(CreateStreamInput {
            stream_name: "x".into(),
            shard_count: Some(100_001),
            ..Default::default()
        }),
        "LimitExceededException",
        Some(
            "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count \
             for the account: 10. Limit: 10. Number of additional shards that would have resulted from this request: \
             100001. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
             for current limits and how to request higher limits.",
        ),
    );
    let names = e.list_streams(ListStreamsInput::default()).unwrap().stream_names;
    assert_eq!(names, vec!["s", "u"]);
}

#[test]
fn the_per_stream_shard_count_is_checked_after_the_account_quota() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), EngineConfig { shard_limit: Some(20_000), ..config(&clock) }).unwrap();
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "x".into(), shard_count: Some(10_001), ..Default::default() }),
        "LimitExceededException",
        Some("Stream x under account 000000000000 cannot have more than 10000 shards."),
    );
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "x".into(), shard_count: Some(20_001), ..Default::default() }),
        "LimitExceededException",
        Some(
            "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count \
             for the account: 0. Limit: 20000. Number of additional shards that would have resulted from this request: \
             20001. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
             for current limits and how to request higher limits.",
        ),
    );
}

#[test]
fn default_shard_quota_depends_on_the_region() {
    for (region, limit) in [("us-east-1", 500u32), ("us-west-2", 500), ("eu-west-1", 500), ("eu-central-1", 200)] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let e = Engine::open(dir.path(), EngineConfig { region: region.into(), ..config(&clock) }).unwrap();
        assert_eq!(e.config().effective_shard_limit(), limit);
        let err = e
            .create_stream(CreateStreamInput {
                stream_name: "big".into(),
                shard_count: Some(limit + 1),
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
        assert!(err
            .to_string()
            .contains(&format!("in {region}. Current shard count for the account: 0. Limit: {limit}.")));
        create(&e, "big", limit);
        assert_eq!(e.describe_stream_summary(StreamRef::name("big")).unwrap().open_shard_count, limit);
    }
}

#[test]
fn on_demand_streams_default_to_four_shards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    e.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        stream_mode: Some(StreamMode::OnDemand),
        ..Default::default()
    })
    .unwrap();
    let d = describe_all(&e, "od");
    assert_eq!(d.stream_mode, StreamMode::OnDemand);
    assert_eq!(d.shards.iter().map(|s| s.hash_key_range).collect::<Vec<_>>(), even_split(4));
    let s = e.describe_stream_summary(StreamRef::name("od")).unwrap();
    assert_eq!((s.stream_mode, s.open_shard_count), (StreamMode::OnDemand, 4));
    let listed = e.list_streams(ListStreamsInput::default()).unwrap();
    assert_eq!(listed.stream_summaries[0].stream_mode, StreamMode::OnDemand);
    assert_eq!(StreamMode::OnDemand.as_str(), "ON_DEMAND");
}

// ------------------------------------------------------------------------------ DeleteStream

#[test]
fn delete_removes_the_stream_and_its_files_and_recreate_is_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 2);
    create(&e, "keep", 1);
    for i in 0..20 {
        put(&e, StreamRef::name("s"), &format!("k{i}"), b"old").unwrap();
    }
    put(&e, StreamRef::name("keep"), "k", b"kept").unwrap();
    let old_it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name("s"),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap()
        .shard_iterator;
    let shards_dir = dir.path().join("shards");
    let before: Vec<_> = std::fs::read_dir(&shards_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), 2);
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    assert_err(describe(&e, StreamRef::name("s")), "ResourceNotFoundException", Some(&not_found("s")));
    assert_err(e.describe_stream_summary(StreamRef::name("s")), "ResourceNotFoundException", Some(&not_found("s")));
    assert_err(put(&e, StreamRef::name("s"), "k", b"x"), "ResourceNotFoundException", Some(&not_found("s")));
    assert_err(
        e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }),
        "ResourceNotFoundException",
        Some(&not_found("s")),
    );
    assert_err(
        e.get_records(GetRecordsInput { shard_iterator: old_it.clone(), ..Default::default() }),
        "ResourceNotFoundException",
        None,
    );
    assert_eq!(e.list_streams(ListStreamsInput::default()).unwrap().stream_names, vec!["keep"]);
    let after: Vec<_> = std::fs::read_dir(&shards_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(after.len(), 1, "the deleted stream's directory is gone");
    assert!(before.contains(&after[0]));
    // Re-create: a fresh, empty stream with a new creation time.
    clock.advance(Duration::from_secs(3));
    create(&e, "s", 2);
    let d = describe_all(&e, "s");
    assert_eq!(d.stream_creation_timestamp, Timestamp(T0 + 3_000));
    for sh in &d.shards {
        assert!(read_shard(&e, "s", &sh.shard_id).is_empty());
    }
    let out = put(&e, StreamRef::name("s"), "k0", b"new").unwrap();
    assert_eq!(out.sequence_number.counter(), 0);
    assert_err(
        e.get_records(GetRecordsInput { shard_iterator: old_it, ..Default::default() }),
        "ResourceNotFoundException",
        None,
    );
    assert_eq!(read_shard(&e, "keep", "shardId-000000000000")[0].data, Bytes::from_static(b"kept"));
}

// ------------------------------------------------------------------------------ Describe

#[test]
fn describe_stream_paginates_shards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 5);
    let page = |limit: Option<u32>, start: Option<&str>| {
        e.describe_stream(DescribeStreamInput {
            stream: StreamRef::name("s"),
            limit,
            exclusive_start_shard_id: start.map(str::to_owned),
        })
    };
    let d = page(Some(2), None).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![0, 1], true));
    let d = page(Some(2), Some("shardId-000000000001")).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![2, 3], true));
    let d = page(Some(2), Some("shardId-000000000003")).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![4], false));
    let d = page(None, Some("shardId-1")).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![2, 3, 4], false));
    let d = page(Some(5), None).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![0, 1, 2, 3, 4], false));
    let d = page(Some(4), None).unwrap();
    assert_eq!((ids(&d.shards), d.has_more_shards), (vec![0, 1, 2, 3], true));
    for start in ["shardId-000000000004", "shardId-000000000099"] {
        let d = page(None, Some(start)).unwrap();
        assert_eq!((ids(&d.shards), d.has_more_shards), (vec![], false));
    }
    assert_err(
        page(Some(0), None),
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value \
             greater than or equal to 1",
        ),
    );
    assert_err(page(Some(10_001), None), "ValidationException", None);
    assert_err(page(None, Some("shardId-../x")), "ValidationException", None);
    // Default limit 100.
    create(&e, "big", 150);
    let d = page_of(&e, "big", None);
    assert_eq!((d.shards.len(), d.has_more_shards), (100, true));
    assert_eq!(ids(&d.shards), (0..100).collect::<Vec<_>>());
}

fn page_of(e: &Engine, name: &str, limit: Option<u32>) -> StreamDescription {
    e.describe_stream(DescribeStreamInput { stream: StreamRef::name(name), limit, ..Default::default() }).unwrap()
}

#[test]
fn describe_stream_returns_at_most_100_shards() {
    // AWS: "If you specify a value greater than 100, at most 100 results are returned."
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "big", 150);
    let d = page_of(&e, "big", Some(10_000));
    assert_eq!((d.shards.len(), d.has_more_shards), (100, true));
}

#[test]
fn describe_stream_summary_counts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 5);
    let e = open(dir.path(), &clock);
    create(&e, "s", 3);
    e.create_stream(CreateStreamInput {
        stream_name: "big-records".into(),
        shard_count: Some(7),
        max_record_size_in_kib: Some(4096),
        ..Default::default()
    })
    .unwrap();
    let s = e.describe_stream_summary(StreamRef::name("s")).unwrap();
    assert_eq!(
        s,
        StreamDescriptionSummary {
            stream_name: "s".into(),
            stream_arn: format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s"),
            stream_status: StreamStatus::Active,
            stream_mode: StreamMode::Provisioned,
            retention_period_hours: 24,
            stream_creation_timestamp: Timestamp(T0 + 5),
            enhanced_monitoring: Vec::new(),
            encryption_type: EncryptionType::None,
            key_id: None,
            open_shard_count: 3,
            consumer_count: 0,
            max_record_size_in_kib: 1024,
            stream_id: s.stream_id.clone(),
            warm_throughput: None,
            channel_count: 0,
            queue_count: 0,
            record_distribution_strategy: None,
        }
    );
    assert!(shardlog::kinesis::ids::is_stream_id(&s.stream_id), "{}", s.stream_id);
    let s = e.describe_stream_summary(StreamRef::name("big-records")).unwrap();
    assert_eq!((s.open_shard_count, s.max_record_size_in_kib), (7, 4096));
    assert_err(
        e.describe_stream_summary(StreamRef::name("nope")),
        "ResourceNotFoundException",
        Some(&not_found("nope")),
    );
    assert_err(e.describe_stream_summary(StreamRef::default()), "ValidationException", None);
}

// ------------------------------------------------------------------------------ ListStreams

#[test]
fn list_streams_paginates_in_name_order_with_expiring_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    let mut names = vec!["b", "a", "B", "a.b", "a-1", "c", "d", "_", "0"];
    for (i, n) in names.iter().enumerate() {
        clock.advance(Duration::from_millis(10));
        create(&e, n, 1 + i as u32 % 3);
    }
    names.sort();
    let all = e.list_streams(ListStreamsInput::default()).unwrap();
    assert_eq!(all.stream_names, names);
    assert!(!all.has_more_streams);
    assert_eq!(all.next_token, None);
    for s in &all.stream_summaries {
        assert_eq!(s.stream_status, StreamStatus::Active);
        assert_eq!(s.stream_arn, format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{}", s.stream_name));
        let d = describe_all(&e, &s.stream_name);
        assert_eq!(s.stream_creation_timestamp, d.stream_creation_timestamp);
    }
    // Pages of 4 by NextToken.
    let mut got = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let out = e
            .list_streams(ListStreamsInput { limit: Some(4), next_token: token.take(), ..Default::default() })
            .unwrap();
        pages += 1;
        assert!(out.stream_names.len() <= 4);
        assert_eq!(out.stream_names, out.stream_summaries.iter().map(|s| s.stream_name.clone()).collect::<Vec<_>>());
        got.extend(out.stream_names);
        assert_eq!(out.has_more_streams, out.next_token.is_some());
        match out.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!((got.iter().map(String::as_str).collect::<Vec<_>>(), pages), (names.clone(), 3));
    // Pages by ExclusiveStartStreamName.
    let out = e
        .list_streams(ListStreamsInput {
            limit: Some(3),
            exclusive_start_stream_name: Some("a".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.stream_names, vec!["a-1", "a.b", "b"]);
    assert!(out.has_more_streams);
    let out = e
        .list_streams(ListStreamsInput { exclusive_start_stream_name: Some("aa".into()), ..Default::default() })
        .unwrap();
    assert_eq!(out.stream_names, vec!["b", "c", "d"]);
    let out = e
        .list_streams(ListStreamsInput { exclusive_start_stream_name: Some("d".into()), ..Default::default() })
        .unwrap();
    assert!(out.stream_names.is_empty() && !out.has_more_streams);
    // Token expiry on the engine clock: valid for exactly 300 s.
    let first = e.list_streams(ListStreamsInput { limit: Some(2), ..Default::default() }).unwrap();
    let token = first.next_token.unwrap();
    clock.advance(Duration::from_millis(300_000));
    let out =
        e.list_streams(ListStreamsInput { next_token: Some(token.clone()), limit: Some(2), ..Default::default() });
    assert_eq!(out.unwrap().stream_names, names[2..4].to_vec());
    clock.advance(Duration::from_millis(1));
    assert_err(
        e.list_streams(ListStreamsInput { next_token: Some(token.clone()), ..Default::default() }),
        "ExpiredNextTokenException",
        None,
    );
    // Garbled tokens.
    let mut flipped = token.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    for bad in
        ["garbage".to_string(), String::new(), String::from_utf8(flipped).unwrap(), token[..token.len() - 4].into()]
    {
        assert_err(
            e.list_streams(ListStreamsInput { next_token: Some(bad), ..Default::default() }),
            "InvalidArgumentException",
            None,
        );
    }
    // Limits and a hostile exclusive start name.
    assert_err(e.list_streams(ListStreamsInput { limit: Some(0), ..Default::default() }), "ValidationException", None);
    assert_err(
        e.list_streams(ListStreamsInput { limit: Some(10_001), ..Default::default() }),
        "ValidationException",
        None,
    );
    assert_err(
        e.list_streams(ListStreamsInput { exclusive_start_stream_name: Some("../x".into()), ..Default::default() }),
        "ValidationException",
        None,
    );
}

// ------------------------------------------------------------------------------ ListShards

#[test]
fn list_shards_paginates_with_next_tokens_and_exclusive_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 5);
    let all = list_shards(&e, shards_of("s")).unwrap();
    assert_eq!((ids(&all.shards), all.next_token.clone()), (vec![0, 1, 2, 3, 4], None));
    // MaxResults 2 with NextToken.
    let p1 = list_shards(&e, ListShardsInput { max_results: Some(2), ..shards_of("s") }).unwrap();
    assert_eq!(ids(&p1.shards), vec![0, 1]);
    let t1 = p1.next_token.unwrap();
    let p2 =
        list_shards(&e, ListShardsInput { next_token: Some(t1.clone()), max_results: Some(2), ..Default::default() })
            .unwrap();
    assert_eq!(ids(&p2.shards), vec![2, 3]);
    let p3 = list_shards(&e, ListShardsInput { next_token: p2.next_token, max_results: Some(2), ..Default::default() })
        .unwrap();
    assert_eq!((ids(&p3.shards), p3.next_token), (vec![4], None));
    // The default page size continues from the token too.
    let rest = list_shards(&e, ListShardsInput { next_token: Some(t1.clone()), ..Default::default() }).unwrap();
    assert_eq!((ids(&rest.shards), rest.next_token), (vec![2, 3, 4], None));
    // ExclusiveStartShardId (canonical and lenient), alone and with MaxResults.
    for start in ["shardId-000000000001", "shardId-1"] {
        let out = list_shards(&e, ListShardsInput { exclusive_start_shard_id: Some(start.into()), ..shards_of("s") });
        assert_eq!(ids(&out.unwrap().shards), vec![2, 3, 4]);
    }
    let out = list_shards(
        &e,
        ListShardsInput {
            exclusive_start_shard_id: Some("shardId-000000000000".into()),
            max_results: Some(2),
            ..shards_of("s")
        },
    )
    .unwrap();
    assert_eq!(ids(&out.shards), vec![1, 2]);
    let out = list_shards(&e, ListShardsInput { next_token: out.next_token, ..Default::default() }).unwrap();
    assert_eq!(ids(&out.shards), vec![3, 4]);
    // NextToken together with a stream, or neither.
    assert_err(
        list_shards(&e, ListShardsInput { next_token: Some(t1.clone()), ..shards_of("s") }),
        "InvalidArgumentException",
        Some("NextToken and StreamName cannot be provided together."),
    );
    assert_err(
        list_shards(
            &e,
            ListShardsInput {
                next_token: Some(t1.clone()),
                stream: StreamRef::arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s")),
                ..Default::default()
            },
        ),
        "InvalidArgumentException",
        None,
    );
    assert_err(
        list_shards(&e, ListShardsInput::default()),
        "InvalidArgumentException",
        Some("Either NextToken or StreamName should be provided."),
    );
    // MaxResults bounds.
    assert_err(
        list_shards(&e, ListShardsInput { max_results: Some(0), ..shards_of("s") }),
        "ValidationException",
        None,
    );
    assert_err(
        list_shards(&e, ListShardsInput { max_results: Some(10_001), ..shards_of("s") }),
        "ValidationException",
        None,
    );
    // Expiry and garbling of the token.
    clock.advance(Duration::from_millis(300_000));
    assert!(list_shards(&e, ListShardsInput { next_token: Some(t1.clone()), ..Default::default() }).is_ok());
    clock.advance(Duration::from_millis(1));
    assert_err(
        list_shards(&e, ListShardsInput { next_token: Some(t1.clone()), ..Default::default() }),
        "ExpiredNextTokenException",
        None,
    );
    for bad in ["garbage".to_string(), t1[..t1.len() - 4].to_string(), format!("x{}", &t1[1..])] {
        assert_err(
            list_shards(&e, ListShardsInput { next_token: Some(bad), ..Default::default() }),
            "InvalidArgumentException",
            None,
        );
    }
    // A ListStreams token is not a ListShards token.
    create(&e, "t", 1);
    let ls = e.list_streams(ListStreamsInput { limit: Some(1), ..Default::default() }).unwrap();
    assert_err(
        list_shards(&e, ListShardsInput { next_token: ls.next_token, ..Default::default() }),
        "InvalidArgumentException",
        None,
    );
    // A token of a deleted stream.
    let p1 = list_shards(&e, ListShardsInput { max_results: Some(2), ..shards_of("s") }).unwrap();
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let err = list_shards(&e, ListShardsInput { next_token: p1.next_token, ..Default::default() }).unwrap_err();
    assert!(err.is_client_error(), "{err:?}");
}

#[test]
fn list_shards_rejects_next_token_with_exclusive_start_or_creation_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 5);
    let t = list_shards(&e, ListShardsInput { max_results: Some(2), ..shards_of("s") }).unwrap().next_token;
    assert_err(
        list_shards(
            &e,
            ListShardsInput {
                next_token: t.clone(),
                exclusive_start_shard_id: Some("shardId-000000000000".into()),
                ..Default::default()
            },
        ),
        "InvalidArgumentException",
        None,
    );
    assert_err(
        list_shards(
            &e,
            ListShardsInput { next_token: t, stream_creation_timestamp: Some(Timestamp(T0)), ..Default::default() },
        ),
        "InvalidArgumentException",
        None,
    );
}

#[test]
fn list_shards_returns_at_most_1000_shards() {
    // AWS: "If you specify a value greater than 1000, at most 1000 results are returned."
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), EngineConfig { shard_limit: Some(2000), ..config(&clock) }).unwrap();
    create(&e, "big", 1500);
    let out = list_shards(&e, ListShardsInput { max_results: Some(10_000), ..shards_of("big") }).unwrap();
    assert_eq!(out.shards.len(), 1000);
    let rest = list_shards(&e, ListShardsInput { next_token: out.next_token, ..Default::default() }).unwrap();
    assert_eq!(rest.shards.len(), 500);
}

#[test]
fn list_shards_filters_on_an_unresharded_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 5);
    clock.advance(Duration::from_secs(60));
    let with = |filter_type: ShardFilterType, shard_id: Option<&str>, ts: Option<i64>| {
        list_shards(
            &e,
            ListShardsInput {
                shard_filter: Some(ShardFilter {
                    filter_type,
                    shard_id: shard_id.map(str::to_owned),
                    timestamp: ts.map(Timestamp),
                }),
                ..shards_of("s")
            },
        )
    };
    let all = vec![0, 1, 2, 3, 4];
    for (t, sid, ts) in [
        (ShardFilterType::AtLatest, None, None),
        (ShardFilterType::AtTrimHorizon, None, None),
        (ShardFilterType::FromTrimHorizon, None, None),
        (ShardFilterType::AtTimestamp, None, Some(T0)),
        (ShardFilterType::AtTimestamp, None, Some(T0 - 3_600_000)),
        (ShardFilterType::AtTimestamp, None, Some(T0 + 60_000)),
        (ShardFilterType::FromTimestamp, None, Some(T0 - 3_600_000)),
        (ShardFilterType::FromTimestamp, None, Some(T0 + 30_000)),
    ] {
        assert_eq!(ids(&with(t, sid, ts).unwrap().shards), all, "{t:?} {ts:?}");
    }
    assert_eq!(
        ids(&with(ShardFilterType::AfterShardId, Some("shardId-000000000002"), None).unwrap().shards),
        vec![3, 4]
    );
    assert_eq!(ids(&with(ShardFilterType::AfterShardId, Some("shardId-0"), None).unwrap().shards), vec![1, 2, 3, 4]);
    assert!(with(ShardFilterType::AfterShardId, Some("shardId-000000000004"), None).unwrap().shards.is_empty());
    // Missing arguments.
    assert_err(with(ShardFilterType::AfterShardId, None, None), "InvalidArgumentException", None);
    assert_err(with(ShardFilterType::AtTimestamp, None, None), "InvalidArgumentException", None);
    assert_err(with(ShardFilterType::FromTimestamp, None, None), "InvalidArgumentException", None);
    assert_err(with(ShardFilterType::AfterShardId, Some("shardId-../x"), None), "ValidationException", None);
    // The filter travels in the NextToken.
    let p1 = list_shards(
        &e,
        ListShardsInput {
            max_results: Some(2),
            shard_filter: Some(ShardFilter {
                filter_type: ShardFilterType::AfterShardId,
                shard_id: Some("shardId-000000000000".into()),
                timestamp: None,
            }),
            ..shards_of("s")
        },
    )
    .unwrap();
    assert_eq!(ids(&p1.shards), vec![1, 2]);
    let p2 = list_shards(&e, ListShardsInput { next_token: p1.next_token, ..Default::default() }).unwrap();
    assert_eq!((ids(&p2.shards), p2.next_token), (vec![3, 4], None));
}

#[test]
fn list_shards_checks_the_stream_creation_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 2);
    let ok = list_shards(&e, ListShardsInput { stream_creation_timestamp: Some(Timestamp(T0)), ..shards_of("s") });
    assert_eq!(ids(&ok.unwrap().shards), vec![0, 1]);
    for ts in [T0 - 1, T0 + 1, 0] {
        assert_err(
            list_shards(&e, ListShardsInput { stream_creation_timestamp: Some(Timestamp(ts)), ..shards_of("s") }),
            "ResourceNotFoundException",
            Some(&not_found("s")),
        );
    }
    // After delete + re-create the old timestamp no longer matches.
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    clock.advance(Duration::from_secs(1));
    create(&e, "s", 3);
    assert_err(
        list_shards(&e, ListShardsInput { stream_creation_timestamp: Some(Timestamp(T0)), ..shards_of("s") }),
        "ResourceNotFoundException",
        None,
    );
    let ok =
        list_shards(&e, ListShardsInput { stream_creation_timestamp: Some(Timestamp(T0 + 1000)), ..shards_of("s") });
    assert_eq!(ids(&ok.unwrap().shards), vec![0, 1, 2]);
}

// ------------------------------------------------------------------------------ ARNs

#[test]
fn a_stream_arn_is_accepted_everywhere_a_name_is() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 2);
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s");
    let by_arn = || StreamRef::arn(arn.clone());
    let both = || StreamRef { stream_name: Some("s".into()), stream_arn: Some(arn.clone()), stream_id: None };
    for r in [by_arn(), both()] {
        let d = describe(&e, r.clone()).unwrap();
        assert_eq!((d.stream_name.as_str(), d.stream_arn.as_str()), ("s", arn.as_str()));
        assert_eq!(e.describe_stream_summary(r.clone()).unwrap().stream_name, "s");
        assert_eq!(
            list_shards(&e, ListShardsInput { stream: r.clone(), ..Default::default() }).unwrap().shards.len(),
            2
        );
        let out = put(&e, r.clone(), "a", b"via-arn").unwrap();
        let out2 = e
            .put_records(PutRecordsInput {
                stream: r.clone(),
                records: vec![PutRecordsRequestEntry {
                    data: Bytes::from_static(b"batch"),
                    partition_key: Some("a".into()),
                    explicit_hash_key: None,
                }],
                dry_run: false,
            })
            .unwrap();
        assert_eq!(out2.failed_record_count, 0);
        let it = e
            .get_shard_iterator(GetShardIteratorInput {
                stream: r.clone(),
                shard_id: out.shard_id.clone(),
                shard_iterator_type: ShardIteratorType::AtSequenceNumber,
                starting_sequence_number: Some(out.sequence_number.to_string()),
                timestamp: None,
                dry_run: false,
            })
            .unwrap()
            .shard_iterator;
        let recs = e
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(2),
                stream_arn: Some(arn.clone()),
                stream_id: None,
                dry_run: false,
            })
            .unwrap()
            .records;
        assert_eq!(recs[0].data, Bytes::from_static(b"via-arn"));
        assert_eq!(recs[1].data, Bytes::from_static(b"batch"));
        e.add_tags_to_stream(AddTagsToStreamInput { stream: r.clone(), tags: tags(&[("via", "arn")]) }).unwrap();
        let t = e.list_tags_for_stream(ListTagsForStreamInput { stream: r.clone(), ..Default::default() }).unwrap();
        assert_eq!(t.tags, vec![Tag { key: "via".into(), value: Some("arn".into()) }]);
        e.remove_tags_from_stream(RemoveTagsFromStreamInput { stream: r.clone(), tag_keys: vec!["via".into()] })
            .unwrap();
        assert!(list_tags(&e, "s").is_empty());
    }
    // Wrong region or account: not this stream.
    for wrong in [
        format!("arn:aws:kinesis:us-west-2:{ACCOUNT}:stream/s"),
        "arn:aws:kinesis:us-east-1:111111111111:stream/s".to_string(),
        format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/nope"),
    ] {
        assert_err(describe(&e, StreamRef::arn(wrong.clone())), "ResourceNotFoundException", None);
        assert_err(put(&e, StreamRef::arn(wrong.clone()), "k", b"x"), "ResourceNotFoundException", None);
        assert_err(
            list_shards(&e, ListShardsInput { stream: StreamRef::arn(wrong), ..Default::default() }),
            "ResourceNotFoundException",
            None,
        );
    }
    // Name and ARN disagree.
    create(&e, "t", 1);
    let mismatch = StreamRef { stream_name: Some("t".into()), stream_arn: Some(arn.clone()), stream_id: None };
    assert_err(describe(&e, mismatch.clone()), "InvalidArgumentException", None);
    assert_err(put(&e, mismatch.clone(), "k", b"x"), "InvalidArgumentException", None);
    assert_err(
        e.delete_stream(DeleteStreamInput { stream: mismatch, ..Default::default() }),
        "InvalidArgumentException",
        None,
    );
    // Malformed ARNs and no stream at all.
    for bad in [
        "arn:aws:s3:::bucket",
        "s",
        "arn:aws:kinesis:us-east-1:0000:stream/s",
        "arn:aws:kinesis:us-east-1:000000000000:stream/",
    ] {
        assert_err(describe(&e, StreamRef::arn(bad)), "ValidationException", None);
    }
    assert_err(describe(&e, StreamRef::default()), "ValidationException", None);
    // Delete by ARN.
    e.delete_stream(DeleteStreamInput { stream: by_arn(), ..Default::default() }).unwrap();
    assert_err(describe(&e, StreamRef::name("s")), "ResourceNotFoundException", Some(&not_found("s")));
    assert_eq!(describe(&e, StreamRef::name("t")).unwrap().stream_name, "t");
}

// ------------------------------------------------------------------------------ Tags

#[test]
fn tags_add_remove_list_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    create(&e, "s", 1);
    let add = |t: BTreeMap<String, String>| {
        e.add_tags_to_stream(AddTagsToStreamInput { stream: StreamRef::name("s"), tags: t })
    };
    // ≤ 10 per call.
    add(numbered_tags(0..10)).unwrap();
    let err = add(numbered_tags(10..21)).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert!(err
        .to_string()
        .ends_with("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 10"));
    assert_err(add(BTreeMap::new()), "ValidationException", None);
    assert_eq!(list_tags(&e, "s").len(), 10, "a rejected add changes nothing");
    // Up to 50 in total; overwriting a key does not count twice.
    for start in [10, 20, 30, 40] {
        add(numbered_tags(start..start + 10)).unwrap();
    }
    assert_eq!(list_tags(&e, "s").len(), 50);
    add(tags(&[("key000", "changed")])).unwrap();
    assert_err(
        add(tags(&[("one-too-many", "x")])),
        "InvalidArgumentException",
        Some(&format!(
            "Failed to add tags to stream s under account {ACCOUNT} because a given stream cannot have more than 50 \
             tags associated with it."
        )),
    );
    // Adding a mix of an existing and a new key past 50 fails as a whole.
    assert_err(add(tags(&[("key001", "changed"), ("new", "x")])), "InvalidArgumentException", None);
    let listed = list_tags(&e, "s");
    assert_eq!(listed.len(), 50);
    assert_eq!(listed[0], ("key000".to_string(), "changed".to_string()));
    assert_eq!(listed[1], ("key001".to_string(), "value1".to_string()));
    // Reserved prefix, in any case.
    for k in ["aws:x", "AWS:x", "Aws:Name"] {
        assert_err(add(tags(&[(k, "v")])), "InvalidArgumentException", None);
    }
    // Key and value lengths.
    let k129 = "k".repeat(129);
    let v257 = "v".repeat(257);
    assert_err(add(tags(&[(&k129, "v")])), "ValidationException", None);
    assert_err(add(tags(&[("k", &v257)])), "ValidationException", None);
    assert_err(add(tags(&[("", "v")])), "ValidationException", None);
    // Remove.
    let remove = |keys: &[&str]| {
        e.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream: StreamRef::name("s"),
            tag_keys: keys.iter().map(|k| k.to_string()).collect(),
        })
    };
    remove(&["key000", "key049", "not-there"]).unwrap();
    assert_err(remove(&[]), "ValidationException", None);
    let eleven: Vec<String> = (0..11).map(|i| format!("key{i:03}")).collect();
    assert_err(remove(&eleven.iter().map(String::as_str).collect::<Vec<_>>()), "ValidationException", None);
    let listed = list_tags(&e, "s");
    assert_eq!(listed.len(), 48);
    assert_eq!(listed.first().unwrap().0, "key001");
    assert_eq!(listed.last().unwrap().0, "key048");
    // Now there is room: an empty value and the boundary lengths are accepted.
    let k128 = "k".repeat(128);
    let v256 = "v".repeat(256);
    add(tags(&[(&k128, &v256), ("empty", "")])).unwrap();
    let all = list_tags(&e, "s");
    assert!(all.contains(&(k128.clone(), v256.clone())));
    assert!(all.contains(&("empty".to_string(), String::new())));
    // List with exclusive start and limit.
    let page = |start: Option<&str>, limit: Option<u32>| {
        e.list_tags_for_stream(ListTagsForStreamInput {
            stream: StreamRef::name("s"),
            exclusive_start_tag_key: start.map(str::to_owned),
            limit,
        })
    };
    let p = page(None, Some(3)).unwrap();
    assert_eq!(p.tags.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), vec!["empty", "key001", "key002"]);
    assert!(p.has_more_tags);
    let p = page(Some("key045"), Some(3)).unwrap();
    assert_eq!(p.tags.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), vec!["key046", "key047", "key048"]);
    assert!(p.has_more_tags, "the 128-char key sorts last");
    let p = page(Some("key046"), None).unwrap();
    assert_eq!(p.tags.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), vec!["key047", "key048", k128.as_str()]);
    assert!(!p.has_more_tags);
    // Walk every page of 7.
    let mut got = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let p = page(start.as_deref(), Some(7)).unwrap();
        got.extend(p.tags.iter().map(|t| t.key.clone()));
        if !p.has_more_tags {
            break;
        }
        start = p.tags.last().map(|t| t.key.clone());
    }
    assert_eq!(got, list_tags(&e, "s").into_iter().map(|(k, _)| k).collect::<Vec<_>>());
    assert_eq!(got.len(), 50);
    assert_err(page(None, Some(0)), "ValidationException", None);
    assert_err(page(None, Some(51)), "ValidationException", None);
    // Tags of a missing stream.
    assert_err(
        e.list_tags_for_stream(ListTagsForStreamInput { stream: StreamRef::name("nope"), ..Default::default() }),
        "ResourceNotFoundException",
        Some(&not_found("nope")),
    );
    assert_err(
        e.add_tags_to_stream(AddTagsToStreamInput { stream: StreamRef::name("nope"), tags: tags(&[("a", "b")]) }),
        "ResourceNotFoundException",
        Some(&not_found("nope")),
    );
}

#[test]
fn create_stream_with_tags() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open(dir.path(), &clock);
    e.create_stream(CreateStreamInput {
        stream_name: "t50".into(),
        shard_count: Some(1),
        tags: numbered_tags(0..50),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(list_tags(&e, "t50").len(), 50);
    for (t, code) in [
        (numbered_tags(0..51), "ValidationException"),
        (tags(&[("aws:reserved", "x")]), "InvalidArgumentException"),
        (tags(&[(&"k".repeat(129), "x")]), "ValidationException"),
    ] {
        assert_err(
            e.create_stream(CreateStreamInput {
                stream_name: "bad".into(),
                shard_count: Some(1),
                tags: t,
                ..Default::default()
            }),
            code,
            None,
        );
        assert_err(describe(&e, StreamRef::name("bad")), "ResourceNotFoundException", None);
    }
}

// ------------------------------------------------------------------------------ Status delays

fn delayed(clock: &ManualClock) -> EngineConfig {
    EngineConfig { status_delays: Some(StatusDelays::kinesalite()), ..config(clock) }
}

#[test]
fn status_delays_model_creating_and_deleting() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::open(dir.path(), delayed(&clock)).unwrap();
    create(&e, "s", 3);
    for _ in 0..2 {
        let d = describe(&e, StreamRef::name("s")).unwrap();
        assert_eq!(d.stream_status, StreamStatus::Creating);
        assert!(d.shards.is_empty());
        assert!(!d.has_more_shards);
        assert_eq!(e.describe_stream_summary(StreamRef::name("s")).unwrap().stream_status, StreamStatus::Creating);
        let listed = e.list_streams(ListStreamsInput::default()).unwrap();
        assert_eq!(listed.stream_summaries[0].stream_status, StreamStatus::Creating);
        assert_err(put(&e, StreamRef::name("s"), "k", b"x"), "ResourceNotFoundException", Some(&not_found("s")));
        assert_err(
            e.put_records(PutRecordsInput {
                stream: StreamRef::name("s"),
                records: vec![PutRecordsRequestEntry {
                    data: Bytes::from_static(b"x"),
                    partition_key: Some("k".into()),
                    explicit_hash_key: None,
                }],
                dry_run: false,
            }),
            "ResourceNotFoundException",
            Some(&not_found("s")),
        );
        assert_err(
            e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }),
            "ResourceInUseException",
            None,
        );
        clock.advance(Duration::from_millis(249));
    }
    clock.set_ms(T0 + 499);
    assert_eq!(describe(&e, StreamRef::name("s")).unwrap().stream_status, StreamStatus::Creating);
    clock.set_ms(T0 + 500);
    let d = describe(&e, StreamRef::name("s")).unwrap();
    assert_eq!(d.stream_status, StreamStatus::Active);
    assert_eq!(d.shards.len(), 3);
    assert_eq!(StreamStatus::Active.as_str(), "ACTIVE");
    put(&e, StreamRef::name("s"), "k", b"x").unwrap();
    // Delete: DELETING for 500 ms, then gone.
    clock.set_ms(T0 + 10_000);
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let d = describe(&e, StreamRef::name("s")).unwrap();
    assert_eq!(d.stream_status, StreamStatus::Deleting);
    assert_eq!(StreamStatus::Deleting.as_str(), "DELETING");
    assert_eq!(
        e.list_streams(ListStreamsInput::default()).unwrap().stream_summaries[0].stream_status,
        StreamStatus::Deleting
    );
    assert_err(put(&e, StreamRef::name("s"), "k", b"x"), "ResourceNotFoundException", Some(&not_found("s")));
    assert_err(
        e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }),
        "ResourceNotFoundException",
        Some(&not_found("s")),
    );
    assert_err(
        e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }),
        "ResourceInUseException",
        Some(&format!("Stream s under account {ACCOUNT} already exists.")),
    );
    clock.set_ms(T0 + 10_499);
    assert_eq!(describe(&e, StreamRef::name("s")).unwrap().stream_status, StreamStatus::Deleting);
    clock.set_ms(T0 + 10_500);
    assert_err(describe(&e, StreamRef::name("s")), "ResourceNotFoundException", Some(&not_found("s")));
    assert!(e.list_streams(ListStreamsInput::default()).unwrap().stream_names.is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("shards")).unwrap().count(), 0, "files removed");
    // The name is free again; the new stream goes through CREATING.
    create(&e, "s", 1);
    assert_eq!(describe(&e, StreamRef::name("s")).unwrap().stream_status, StreamStatus::Creating);
}

#[test]
fn status_delays_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    {
        let e = Engine::open(dir.path(), delayed(&clock)).unwrap();
        create(&e, "creating", 1);
        create(&e, "doomed", 1);
        clock.set_ms(T0 + 1_000);
        put(&e, StreamRef::name("doomed"), "k", b"x").unwrap();
        e.delete_stream(DeleteStreamInput { stream: StreamRef::name("doomed"), ..Default::default() }).unwrap();
        clock.set_ms(T0 + 1_100);
        create(&e, "late", 1);
        e.close().unwrap();
    }
    clock.set_ms(T0 + 1_200);
    {
        let e = Engine::open(dir.path(), delayed(&clock)).unwrap();
        let status = |n: &str| describe(&e, StreamRef::name(n)).unwrap().stream_status;
        assert_eq!(status("creating"), StreamStatus::Active);
        assert_eq!(status("doomed"), StreamStatus::Deleting);
        assert_eq!(status("late"), StreamStatus::Creating);
        e.close().unwrap();
    }
    clock.set_ms(T0 + 1_600);
    let e = Engine::open(dir.path(), delayed(&clock)).unwrap();
    assert_err(describe(&e, StreamRef::name("doomed")), "ResourceNotFoundException", None);
    assert_eq!(describe(&e, StreamRef::name("late")).unwrap().stream_status, StreamStatus::Active);
    assert_eq!(e.list_streams(ListStreamsInput::default()).unwrap().stream_names, vec!["creating", "late"]);
    assert_eq!(std::fs::read_dir(dir.path().join("shards")).unwrap().count(), 0, "no shard was ever written to");
}

// ------------------------------------------------------------------------------ Persistence

/// Everything observable about the control plane.
fn observe(e: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    let listed = e.list_streams(ListStreamsInput::default()).unwrap();
    out.push(format!("{:?}", listed.stream_summaries));
    for name in &listed.stream_names {
        out.push(format!("{:?}", describe_all(e, name)));
        out.push(format!("{:?}", e.describe_stream_summary(StreamRef::name(name.clone())).unwrap()));
        out.push(format!("{:?}", list_tags(e, name)));
        out.push(format!("{:?}", list_shards(e, shards_of(name)).unwrap()));
        for sh in describe_all(e, name).shards {
            out.push(format!("{:?}", read_shard(e, name, &sh.shard_id)));
        }
    }
    out
}

#[test]
fn the_control_plane_persists_across_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let before;
    {
        let e = open(dir.path(), &clock);
        create(&e, "a", 3);
        clock.advance(Duration::from_secs(2));
        e.create_stream(CreateStreamInput {
            stream_name: "b".into(),
            stream_mode: Some(StreamMode::OnDemand),
            max_record_size_in_kib: Some(8192),
            tags: tags(&[("team", "x"), ("env", "test")]),
            ..Default::default()
        })
        .unwrap();
        create(&e, "gone", 2);
        put(&e, StreamRef::name("gone"), "k", b"x").unwrap();
        e.delete_stream(DeleteStreamInput { stream: StreamRef::name("gone"), ..Default::default() }).unwrap();
        e.add_tags_to_stream(AddTagsToStreamInput { stream: StreamRef::name("a"), tags: numbered_tags(0..10) })
            .unwrap();
        e.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream: StreamRef::name("a"),
            tag_keys: vec!["key003".into()],
        })
        .unwrap();
        for i in 0..30u8 {
            clock.advance(Duration::from_millis(17));
            put(&e, StreamRef::name(if i % 2 == 0 { "a" } else { "b" }), &format!("k{i}"), &[i]).unwrap();
        }
        before = observe(&e);
        e.close().unwrap();
    }
    let e = open(dir.path(), &clock);
    assert_eq!(observe(&e), before);
    assert_eq!(e.list_streams(ListStreamsInput::default()).unwrap().stream_names, vec!["a", "b"]);
    assert_eq!(list_tags(&e, "a").len(), 9);
    let b = e.describe_stream_summary(StreamRef::name("b")).unwrap();
    assert_eq!((b.stream_mode, b.max_record_size_in_kib, b.open_shard_count), (StreamMode::OnDemand, 8192, 4));
    assert_err(describe(&e, StreamRef::name("gone")), "ResourceNotFoundException", None);
    // Writes continue where they left off, and a second reopen (without close) sees them.
    let out = put(&e, StreamRef::name("a"), "k0", b"after").unwrap();
    assert!(out.sequence_number.counter() > 0);
    drop(e);
    let e = open(dir.path(), &clock);
    let recs = read_shard(&e, "a", &out.shard_id);
    assert_eq!(recs.last().unwrap().data, Bytes::from_static(b"after"));
    assert_eq!(recs.last().unwrap().sequence_number, out.sequence_number);
}

#[test]
fn update_max_record_size_and_describe_limits() {
    use shardlog::engine::*;
    let dir = tempfile::tempdir().unwrap();
    let e = shardlog::Engine::open(
        dir.path(),
        shardlog::EngineConfig { retention_check_interval: None, ..Default::default() },
    )
    .unwrap();
    e.create_stream(CreateStreamInput { stream_name: "m".into(), shard_count: Some(3), ..Default::default() }).unwrap();
    let put = |len: usize| {
        e.put_record(PutRecordInput {
            stream: StreamRef::name("m"),
            data: bytes::Bytes::from(vec![0u8; len]),
            partition_key: Some("k".into()),
            ..Default::default()
        })
    };
    assert!(put(2 * 1024 * 1024).is_err());
    for bad in [1023, 10_241] {
        let r = e.update_max_record_size(StreamRef::name("m"), bad);
        assert!(matches!(r, Err(shardlog::Error::Validation { .. })), "{bad}: {r:?}");
    }
    e.update_max_record_size(StreamRef::name("m"), 4096).unwrap();
    put(2 * 1024 * 1024).unwrap();
    assert_eq!(e.describe_stream_summary(StreamRef::name("m")).unwrap().max_record_size_in_kib, 4096);
    let l = e.describe_limits().unwrap();
    assert_eq!((l.shard_limit, l.open_shard_count, l.on_demand_stream_count), (500, 3, 0));
}
