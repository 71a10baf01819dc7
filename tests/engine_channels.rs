//! Channels through the engine with the directory sink: the control plane (validation, the
//! status machine with modelled delays, per-stream and naming rules, stream deletion) and
//! delivery (freshness on the engine clock, no backfill, compression, key templates, error
//! objects, shards created by on-demand scaling, progress persisted across a reopen, FAILED).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::channels::DeliveryReport;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, Limits, ManualClock, StatusDelays};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const ROLE: &str = "arn:aws:iam::000000000000:role/r";

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

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> (&'static str, String) {
    let e = r.expect_err("expected an error");
    (e.kinesis_error_code(), e.to_string())
}

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

fn on_demand(e: &Engine, name: &str) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), ..Default::default() }).unwrap();
}

fn s3(bucket: &str, freshness: i64, compression: S3Compression, template: Option<&str>) -> S3DestinationConfiguration {
    S3DestinationConfiguration {
        data_freshness_in_seconds: Some(freshness),
        dead_letter_queue_s3_configuration: Some(DeadLetterQueueS3Configuration {
            bucket_arn: "arn:aws:s3:::errors".into(),
            expected_bucket_owner: "000000000000".into(),
            error_output_prefix: Some("bad/".into()),
        }),
        storage_configuration: S3StorageConfiguration {
            bucket_arn: format!("arn:aws:s3:::{bucket}"),
            expected_bucket_owner: "000000000000".into(),
            output_key_template: template.map(str::to_string),
            storage_class: Some(StorageClass::Standard),
            compression_type: compression,
        },
    }
}

fn channel(name: &str, stream: &str, dest: S3DestinationConfiguration) -> CreateChannelInput {
    CreateChannelInput {
        channel_name: name.into(),
        service_execution_role_arn: ROLE.into(),
        stream_configuration_list: vec![ChannelStreamConfiguration {
            stream_arn: arn(stream),
            record_configuration: RecordConfiguration { record_format_type: RecordFormat::Json, gsr_schema_arn: None },
        }],
        s3_destination_configuration: Some(dest),
        ..Default::default()
    }
}

fn put(e: &Engine, stream: &str, key: &str, data: &[u8]) {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        ..Default::default()
    })
    .unwrap();
}

/// Every object under `<root>/s3/<bucket>`: (key, bytes).
fn objects(root: &Path, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let base = root.join("s3").join(bucket);
    let mut out = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p.strip_prefix(&base).unwrap().to_string_lossy().into_owned();
                assert!(!key.ends_with(".tmp"), "a temp file was left: {key}");
                out.push((key, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn json_lines(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(body.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn records_are_delivered_once_the_freshness_passed_and_never_those_from_before_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |_| {});
    on_demand(&e, "s");
    put(&e, "s", "early", br#"{"before": true}"#);
    let d = e.create_channel(channel("ch", "s", s3("out", 60, S3Compression::Gzip, None))).unwrap();
    assert_eq!(d.channel_status, ChannelStatus::Active);
    for i in 0..10 {
        put(&e, "s", &format!("k{i}"), format!(r#"{{"n": {i}}}"#).as_bytes());
    }
    put(&e, "s", "bad", b"not json");
    assert_eq!(e.deliver_channels().unwrap(), DeliveryReport::default(), "buffered, not yet due");
    clock.advance(Duration::from_secs(59));
    assert_eq!(e.deliver_channels().unwrap().objects_written, 0);
    clock.advance(Duration::from_secs(1));
    let report = e.deliver_channels().unwrap();
    assert_eq!(
        report,
        DeliveryReport { objects_written: 2, records_delivered: 10, records_undeliverable: 1, channels_failed: 0 }
    );
    let out = objects(dir.path(), "out");
    assert_eq!(out.len(), 1);
    let (key, body) = &out[0];
    let id = &d.channel_id;
    assert_eq!(key, &format!("kinesis-channel/ch/{id}/2026/01/01/00/ch-{id}-2026-01-01-00-00-000000000000.json.gz"));
    let mut ns: Vec<i64> = json_lines(&gunzip(body)).iter().map(|v| v["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (0..10).collect::<Vec<_>>(), "no backfill: the record from before the channel is absent");
    let errors = objects(dir.path(), "errors");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].0.starts_with("bad/ch/2026/01/01/00/ch-"), "{}", errors[0].0);
    let err = &json_lines(&errors[0].1)[0];
    assert_eq!(err["errorCode"], "InvalidRecordFormat");
    assert_eq!(err["shardId"].as_str().unwrap().len(), 20);
    // Progress is committed: a reopen delivers nothing twice, then new records continue.
    e.close().unwrap();
    drop(e);
    let e = open_with(dir.path(), &clock, |_| {});
    clock.advance(Duration::from_secs(120));
    assert_eq!(e.deliver_channels().unwrap().objects_written, 0);
    put(&e, "s", "k", br#"{"n": 10}"#);
    e.deliver_channels().unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(e.deliver_channels().unwrap().records_delivered, 1);
    let out = objects(dir.path(), "out");
    assert_eq!(out.len(), 2);
    assert!(out[1].0.ends_with("-000000000002.json.gz"), "object numbers continue: {}", out[1].0);
}

#[test]
fn shards_created_after_the_channel_are_delivered_from_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |c| c.limits = Limits::kinesis());
    on_demand(&e, "s");
    e.create_channel(channel("ch", "s", s3("out", 1, S3Compression::Zstd, Some("x/!{stream-name}/!{mm}!{extension}"))))
        .unwrap();
    for i in 0..8 {
        put(&e, "s", &format!("a{i}"), format!("{i}").as_bytes());
    }
    // Pre-scaling splits every shard: the parents close, their children take new records.
    e.update_account_settings(UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: true })
        .unwrap();
    e.update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
        stream: StreamRef::name("s"),
        warm_throughput_mibps: 8,
    })
    .unwrap();
    assert_eq!(e.describe_stream_summary(StreamRef::name("s")).unwrap().open_shard_count, 8);
    for i in 8..24 {
        put(&e, "s", &format!("b{i}"), format!("{i}").as_bytes());
    }
    e.deliver_channels().unwrap();
    clock.advance(Duration::from_secs(1));
    let r = e.deliver_channels().unwrap();
    assert_eq!(r.records_delivered, 24);
    let out = objects(dir.path(), "out");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "x/s/00-000000000000.json.zst");
    let body = zstd::decode_all(out[0].1.as_slice()).unwrap();
    let mut ns: Vec<i64> = json_lines(&body).iter().map(|v| v.as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (0..24).collect::<Vec<_>>());
}

#[test]
fn the_control_plane_validates_and_models_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let d = Duration::from_secs(2);
    let e = open_with(dir.path(), &clock, |c| {
        c.status_delays = Some(StatusDelays { creating: d, updating: d, deleting: d })
    });
    on_demand(&e, "s");
    e.create_stream(CreateStreamInput { stream_name: "p".into(), shard_count: Some(1), ..Default::default() }).unwrap();
    clock.advance(d);
    // Validation.
    let mut bad = channel("ch", "s", s3("out", 1000, S3Compression::None, None));
    assert_eq!(code(e.create_channel(bad.clone())).0, "ValidationException", "freshness above 900");
    bad.s3_destination_configuration = Some(s3("out", 60, S3Compression::None, Some("../x")));
    assert!(code(e.create_channel(bad.clone())).1.contains("OutputKeyTemplate"));
    bad.s3_destination_configuration = Some(s3("out", 60, S3Compression::None, Some("a/!{nope}")));
    assert!(code(e.create_channel(bad.clone())).1.contains("unknown variable"));
    bad.s3_destination_configuration = None;
    assert!(code(e.create_channel(bad.clone())).1.contains("Exactly one of"));
    assert!(code(e.create_channel(channel("ch", "p", s3("out", 60, S3Compression::None, None))))
        .1
        .contains("ON_DEMAND"));
    let mut kms = channel("ch", "s", s3("out", 60, S3Compression::None, None));
    kms.encryption_configuration = Some(ChannelEncryptionConfiguration { key_id: "alias/aws/kinesis".into() });
    assert_eq!(code(e.create_channel(kms)).0, "InvalidArgumentException");
    // CREATING → ACTIVE ⇄ UPDATING → DELETING → gone.
    let created = e.create_channel(channel("ch", "s", s3("out", 60, S3Compression::None, None))).unwrap();
    assert_eq!(created.channel_status, ChannelStatus::Creating);
    assert_eq!(
        code(e.create_channel(channel("ch", "s", s3("out", 60, S3Compression::None, None)))).0,
        "ResourceInUseException"
    );
    let arn_c = created.channel_arn.clone();
    let upd = |f: i64| {
        e.update_channel(UpdateChannelInput {
            channel_arn: arn_c.clone(),
            s3_data_freshness_in_seconds: Some(f),
            ..Default::default()
        })
    };
    assert_eq!(code(upd(120)).0, "ResourceInUseException", "not ACTIVE yet");
    clock.advance(d);
    assert_eq!(upd(120).unwrap().channel_status, ChannelStatus::Updating);
    assert_eq!(code(upd(130)).0, "ResourceInUseException");
    clock.advance(d);
    let tables_freshness = e.update_channel(UpdateChannelInput {
        channel_arn: arn_c.clone(),
        s3_tables_data_freshness_in_seconds: Some(300),
        ..Default::default()
    });
    assert_eq!(code(tables_freshness).0, "ValidationException");
    assert_eq!(e.describe_channel(&arn_c).unwrap().s3_destination_configuration.unwrap().freshness_secs, 120);
    // One S3 channel per stream; the stream cannot go while it has channels.
    let (c, m) = code(e.create_channel(channel("ch2", "s", s3("out", 60, S3Compression::None, None))));
    assert_eq!(c, "LimitExceededException", "{m}");
    assert_eq!(
        code(e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() })).0,
        "ResourceInUseException"
    );
    assert_eq!(
        code(e.update_stream_mode(UpdateStreamModeInput {
            stream: StreamRef::arn(arn("s")),
            stream_mode: StreamMode::Provisioned,
            warm_throughput_mibps: None
        }))
        .0,
        "ResourceInUseException"
    );
    // FAILED (the test hook) is terminal and shows its reason.
    e.fail_channel(&arn_c, "the bucket was deleted").unwrap();
    let f = e.describe_channel(&arn_c).unwrap();
    assert_eq!(
        (f.channel_status, f.channel_status_reason.as_deref()),
        (ChannelStatus::Failed, Some("the bucket was deleted"))
    );
    assert_eq!(code(upd(200)).0, "ResourceInUseException");
    e.delete_channel(&arn_c).unwrap();
    assert_eq!(e.describe_channel(&arn_c).unwrap().channel_status, ChannelStatus::Deleting);
    clock.advance(d);
    assert_eq!(code(e.describe_channel(&arn_c)).0, "ResourceNotFoundException");
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
}

#[test]
fn a_key_the_directory_cannot_hold_turns_the_channel_failed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |_| {});
    on_demand(&e, "s");
    // `..` is a valid channel name; as a key segment (`!{channel-name}` in the default
    // template) it cannot become a path.
    let c = e.create_channel(channel("..", "s", s3("out", 1, S3Compression::None, None))).unwrap();
    put(&e, "s", "k", b"{}");
    e.deliver_channels().unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(e.deliver_channels().unwrap().channels_failed, 1);
    let d = e.describe_channel(&c.channel_arn).unwrap();
    assert_eq!(d.channel_status, ChannelStatus::Failed);
    assert!(d.channel_status_reason.unwrap().contains("not a plain file name"));
    assert!(objects(dir.path(), "out").is_empty(), "nothing written, and nothing outside the directory");
    assert!(!dir.path().join("s3").join(&c.channel_id).exists());
    // Survives a reopen.
    e.close().unwrap();
    drop(e);
    let e = open_with(dir.path(), &clock, |_| {});
    assert_eq!(e.describe_channel(&c.channel_arn).unwrap().channel_status, ChannelStatus::Failed);
    let listed = e.list_channels(ListChannelsInput::default()).unwrap();
    assert_eq!(listed.channel_summaries.len(), 1);
}

#[test]
fn list_channels_pages_and_filters_by_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = open_with(dir.path(), &clock, |_| {});
    for i in 0..5 {
        on_demand(&e, &format!("s{i}"));
        e.create_channel(channel(&format!("c{i}"), &format!("s{i}"), s3("out", 60, S3Compression::None, None)))
            .unwrap();
    }
    let page = e.list_channels(ListChannelsInput { max_results: Some(2), ..Default::default() }).unwrap();
    assert_eq!(page.channel_summaries.iter().map(|c| c.channel_name.as_str()).collect::<Vec<_>>(), ["c0", "c1"]);
    let rest =
        e.list_channels(ListChannelsInput { next_token: page.next_token.clone(), ..Default::default() }).unwrap();
    assert_eq!(rest.channel_summaries.len(), 3);
    assert_eq!(rest.next_token, None);
    let filtered = e
        .list_channels(ListChannelsInput {
            stream_filter: Some(vec![StreamFilter { stream_arn: arn("s3"), stream_creation_timestamp: None }]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(filtered.channel_summaries.len(), 1);
    assert_eq!(filtered.channel_summaries[0].channel_name, "c3");
    clock.advance(Duration::from_secs(301));
    assert_eq!(
        code(e.list_channels(ListChannelsInput { next_token: page.next_token, ..Default::default() })).0,
        "ExpiredNextTokenException"
    );
    let l = e.describe_limits().unwrap();
    assert_eq!((l.channel_count, l.channel_count_limit), (5, 50));
}
