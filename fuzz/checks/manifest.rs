//! Fuzz target `manifest`: the catalog decoder (`catalog::codec::decode`) and an engine
//! opened on whatever manifest it is given.

use std::path::Path;

use shardlog::catalog::{codec, store::MANIFEST_FILE};
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::io::Vfs;
use shardlog::ManualClock;

use super::engine_state::{self, snapshot, ROOT, T0};
use super::{fix_trailing_crc, write_file, Input};

/// Input: `ctrl` u8 (bit 0 repair the trailing CRC, bit 1 repair the header's body length),
/// then the MANIFEST bytes.
///
/// Checks: no panic. A decoded catalog re-encodes to a manifest that decodes to the same
/// catalog and generation. Then an engine is opened on a data directory holding exactly
/// this MANIFEST: it opens only if the manifest decodes (a damaged manifest is an error,
/// never a silently empty engine); once open, every listed stream and shard can be described and
/// read (errors allowed, panics not), a put to each stream either succeeds or is a typed
/// error, and a clean close + reopen shows exactly the same state, acknowledged puts
/// included. No file is created outside the data directory.
pub fn manifest(data: &[u8]) {
    let bytes = manifest_bytes(data);
    let decoded = codec::decode(&bytes);
    if let Ok((generation, catalog)) = &decoded {
        let again = codec::encode(catalog, *generation);
        assert_eq!(codec::decode(&again).as_ref(), Ok(&(*generation, catalog.clone())), "re-encoded manifest differs");
    }

    let sim = SimVfs::new();
    sim.create_dir_all(Path::new(ROOT)).expect("sim mkdir");
    write_file(&sim, &Path::new(ROOT).join(MANIFEST_FILE), &bytes);
    let clock = ManualClock::new(T0);
    let e = match engine_state::open(&sim, &clock) {
        Ok(e) => e,
        Err(_) => {
            // A typed error: a damaged manifest, or a decoded catalog the engine finds
            // inconsistent when it opens the shards.
            engine_state::assert_files_inside_root(&sim);
            return;
        }
    };
    assert!(decoded.is_ok(), "the engine opened on a manifest that does not decode: {:?}", decoded.err());

    for name in engine_state::stream_names(&e) {
        let put = e.put_record(PutRecordInput {
            stream: StreamRef::name(&name),
            data: bytes::Bytes::from_static(b"after-open"),
            partition_key: Some("k".into()),
            explicit_hash_key: None,
            sequence_number_for_ordering: None,
            dry_run: false,
        });
        let _ = put; // Ok, or a typed error (a stream that is not ACTIVE, a shard that cannot open)
    }
    let before = snapshot(&e);
    if e.close().is_err() {
        return;
    }
    drop(e);
    let e = engine_state::open(&sim, &clock).unwrap_or_else(|err| panic!("reopen after a clean close failed: {err}"));
    let after = snapshot(&e);
    assert_eq!(before, after, "a clean close and reopen changed what the API shows");
    engine_state::assert_files_inside_root(&sim);
}

/// The MANIFEST bytes an input of [`manifest`] stands for: the bytes after the control byte,
/// with the header's body length (control bit 1) and the trailing CRC (bit 0) repaired.
pub fn manifest_bytes(data: &[u8]) -> Vec<u8> {
    let mut input = Input::new(data);
    let ctrl = input.u8();
    let mut bytes = input.rest().to_vec();
    if ctrl & 2 != 0 && bytes.len() >= codec::MANIFEST_HEADER_LEN + 4 {
        let body_len = (bytes.len() - 4 - codec::MANIFEST_HEADER_LEN) as u32;
        bytes[16..20].copy_from_slice(&body_len.to_le_bytes());
    }
    if ctrl & 1 != 0 {
        fix_trailing_crc(&mut bytes);
    }
    bytes
}

/// The MANIFEST of an engine that went through streams, reshards, consumers, tags,
/// checkpoints and a delete: a realistic seed.
pub fn sample_manifests() -> Vec<Vec<u8>> {
    let sim = SimVfs::new();
    let clock = ManualClock::new(T0);
    let e = engine_state::open(&sim, &clock).expect("open");
    let path = Path::new(ROOT).join(MANIFEST_FILE);
    let mut out = Vec::new();
    let grab = |out: &mut Vec<Vec<u8>>| {
        if let Some(b) = sim.file_content(&path) {
            out.push(b);
        }
    };
    let create = |name: &str, shards: u32| {
        e.create_stream(CreateStreamInput {
            stream_name: name.into(),
            shard_count: Some(shards),
            ..CreateStreamInput::default()
        })
        .expect("create");
    };
    create("a", 2);
    create("b", 1);
    grab(&mut out);
    let put = |stream: &str, key: &str| {
        e.put_record(PutRecordInput {
            stream: StreamRef::name(stream),
            data: bytes::Bytes::from(key.repeat(3)),
            partition_key: Some(key.into()),
            explicit_hash_key: None,
            sequence_number_for_ordering: None,
            dry_run: false,
        })
        .expect("put")
    };
    let last = put("a", "k1");
    put("a", "k2");
    e.split_shard(SplitShardInput {
        stream: StreamRef::name("a"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: "85070591730234615865843651857942052864".into(),
    })
    .expect("split");
    e.merge_shards(MergeShardsInput {
        stream: StreamRef::name("a"),
        shard_to_merge: "shardId-000000000002".into(),
        adjacent_shard_to_merge: "shardId-000000000003".into(),
    })
    .expect("merge");
    grab(&mut out);
    let arn = e.describe_stream_summary(StreamRef::name("a")).expect("summary").stream_arn;
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: arn,
        consumer_name: "c".into(),
        stream_id: None,
        tags: Default::default(),
    })
    .expect("consumer");
    e.add_tags_to_stream(AddTagsToStreamInput {
        stream: StreamRef::name("b"),
        tags: [("team".to_string(), "x".to_string())].into_iter().collect(),
    })
    .expect("tags");
    e.set_checkpoint(&StreamRef::name("a"), "app", &last.shard_id, Some(last.sequence_number), false)
        .expect("checkpoint");
    e.increase_stream_retention_period(RetentionPeriodInput {
        stream: StreamRef::name("b"),
        retention_period_hours: 48,
    })
    .expect("retention");
    grab(&mut out);
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("b"), enforce_consumer_deletion: false })
        .expect("delete");
    grab(&mut out);
    // Everything manifest version 2 stores.
    e.update_account_settings(UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: true })
        .expect("commitment");
    e.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        warm_throughput_mibps: Some(4),
        record_distribution_strategy: Some(RecordDistribution::Auto),
        ..CreateStreamInput::default()
    })
    .expect("on-demand");
    let od = e.describe_stream_summary(StreamRef::name("od")).expect("summary").stream_arn;
    e.start_stream_encryption(StreamEncryptionInput {
        stream: StreamRef::name("a"),
        encryption_type: EncryptionType::Kms,
        key_id: "alias/aws/kinesis".into(),
    })
    .expect("encryption");
    e.enable_enhanced_monitoring(EnhancedMonitoringInput {
        stream: StreamRef::name("a"),
        shard_level_metrics: vec![MetricsName::Metric(ShardMetric::IncomingBytes)],
    })
    .expect("monitoring");
    let policy = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*"}}"#;
    e.put_resource_policy(PutResourcePolicyInput { resource_arn: od.clone(), policy: policy.into(), stream_id: None })
        .expect("policy");
    let consumer = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: od.clone(),
            consumer_name: "c2".into(),
            tags: [("k".to_string(), "v".to_string())].into_iter().collect(),
            ..RegisterStreamConsumerInput::default()
        })
        .expect("consumer");
    e.put_resource_policy(PutResourcePolicyInput {
        resource_arn: consumer.consumer_arn,
        policy: policy.into(),
        stream_id: None,
    })
    .expect("consumer policy");
    e.create_channel(CreateChannelInput {
        channel_name: "ch".into(),
        service_execution_role_arn: "arn:aws:iam::000000000000:role/r".into(),
        stream_configuration_list: vec![ChannelStreamConfiguration {
            stream_arn: od,
            record_configuration: RecordConfiguration { record_format_type: RecordFormat::Json, gsr_schema_arn: None },
        }],
        s3_destination_configuration: Some(S3DestinationConfiguration {
            data_freshness_in_seconds: Some(60),
            dead_letter_queue_s3_configuration: None,
            storage_configuration: S3StorageConfiguration {
                bucket_arn: "arn:aws:s3:::out".into(),
                expected_bucket_owner: "000000000000".into(),
                output_key_template: Some("x/!{channel-id}/!{yyyy}".into()),
                storage_class: Some(StorageClass::Standard),
                compression_type: S3Compression::Gzip,
            },
        }),
        tags: [("t".to_string(), "1".to_string())].into_iter().collect(),
        ..CreateChannelInput::default()
    })
    .expect("channel");
    grab(&mut out);
    out
}
