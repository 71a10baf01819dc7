//! Fuzz target `engine_ops`: the public `Engine` API over arbitrary operation sequences,
//! with hostile values mixed into every argument.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::fanout::{Received, Subscription};
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Clock, Engine, ManualClock};

use super::engine_state::{self, shard_records, shards, snapshot, T0};
use super::Input;

/// Longest operation sequence run per input.
const MAX_OPS: usize = 64;
/// Kinesis' shortest retention: nothing younger can have been trimmed.
const MIN_RETENTION_MS: i64 = 24 * 3_600_000;

/// An acknowledged put.
#[derive(Debug, Clone)]
struct Acked {
    shard_id: String,
    seq: SequenceNumber,
    key: String,
    data: Vec<u8>,
}

/// What the fuzz driver knows about one live stream.
#[derive(Debug, Default)]
struct StreamModel {
    created_ms: i64,
    acked: Vec<Acked>,
}

struct Driver<'a> {
    input: Input<'a>,
    sim: SimVfs,
    clock: ManualClock,
    engine: Option<Engine>,
    streams: BTreeMap<String, StreamModel>,
    iterators: Vec<String>,
    consumer_arns: Vec<String>,
    subscriptions: Vec<Subscription>,
}

/// Input: a sequence of operations, each an opcode byte followed by its arguments (read with
/// [`Input`]; past the end every field is 0). Every argument has a well-formed choice (one of
/// three stream names — `a`, `.` and `..`, all valid Kinesis names —, one of eight shard ids,
/// an issued sequence number, a fresh iterator) and a hostile one (arbitrary text,
/// out-of-range numbers) picked by its selector byte.
///
/// Operations: CreateStream, PutRecord, PutRecords, GetShardIterator, GetRecords, SplitShard,
/// MergeShards, UpdateShardCount, retention increase/decrease, advancing the clock,
/// `enforce_retention`, Register/DeregisterStreamConsumer, SubscribeToShard (+ a few events),
/// a clean close and reopen, DeleteStream, ListShards (with filters and tokens), tags,
/// `set_checkpoint`, UpdateMaxRecordSize, ListStreams and DescribeStream; and the 2026 API:
/// on-demand CreateStream (AUTO, warm throughput), UpdateStreamMode, Start/StopStream-
/// Encryption, Enable/DisableEnhancedMonitoring, tags and policies by ARN, the account
/// commitment, record distribution and warm throughput updates, channels (create, update,
/// delete, delivery passes into the simulated file system), and DryRun puts.
///
/// Checks: no panic; every failed mutating call leaves everything the API shows unchanged
/// (streams, summaries, shards, tags, consumers, records); records of a shard come back with
/// increasing sequence numbers; after every reopen and at the end, exactly the streams that
/// were created and not deleted exist, every stored record was acknowledged (same shard,
/// sequence number, key and data), every acknowledged record is stored while none can have
/// aged out (under 24 h), and afterwards what is stored of a shard is a suffix of what was
/// acknowledged to it (retention removes a prefix, never a gap); no file lies outside the data
/// directory.
pub fn engine_ops(data: &[u8]) {
    let sim = SimVfs::new();
    let clock = ManualClock::new(T0);
    let engine = engine_state::open(&sim, &clock).expect("open an empty engine");
    let mut d = Driver {
        input: Input::new(data),
        sim,
        clock,
        engine: Some(engine),
        streams: BTreeMap::new(),
        iterators: Vec::new(),
        consumer_arns: Vec::new(),
        subscriptions: Vec::new(),
    };
    for _ in 0..MAX_OPS {
        if d.input.is_empty() {
            break;
        }
        d.step();
    }
    d.verify();
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(self.short_bytes()).into_owned()
    }
}

impl Driver<'_> {
    fn e(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is open between operations")
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn stream_name(&mut self) -> String {
        match self.input.u8() {
            // `.` and `..` are valid Kinesis stream names (never paths).
            b @ 0..=229 => ["a", ".", ".."][usize::from(b % 3)].to_string(),
            _ => self.input.text(),
        }
    }

    fn stream(&mut self) -> StreamRef {
        match self.input.u8() {
            0..=239 => StreamRef::name(self.stream_name()),
            240..=247 => {
                StreamRef::arn(format!("arn:aws:kinesis:us-east-1:000000000000:stream/{}", self.stream_name()))
            }
            248..=251 => StreamRef::default(),
            _ => {
                StreamRef { stream_name: Some(self.input.text()), stream_arn: Some(self.input.text()), stream_id: None }
            }
        }
    }

    fn shard_id(&mut self) -> String {
        match self.input.u8() {
            b @ 0..=239 => format!("shardId-{:012}", b % 8),
            _ => self.input.text(),
        }
    }

    fn key(&mut self) -> String {
        match self.input.u8() {
            b @ 0..=199 => format!("k{}", b % 16),
            200..=219 => String::new(),
            220..=229 => "é".repeat(usize::from(self.input.u16() % 300)),
            _ => self.input.text(),
        }
    }

    fn data(&mut self) -> Bytes {
        let n = match self.input.u8() {
            0..=239 => usize::from(self.input.u16() % 1500),
            240..=247 => 0,
            248..=251 => 1024 * 1024,
            _ => 1024 * 1024 + 1,
        };
        let fill = self.input.u8();
        Bytes::from((0..n).map(|i| fill.wrapping_add(i as u8)).collect::<Vec<u8>>())
    }

    fn hash_key(&mut self) -> Option<String> {
        match self.input.u8() {
            0..=199 => None,
            200..=239 => Some((u128::from(self.input.u64()) << 64 | u128::from(self.input.u64())).to_string()),
            240..=243 => Some(u128::MAX.to_string()),
            244..=247 => Some("340282366920938463463374607431768211456".into()),
            _ => Some(self.input.text()),
        }
    }

    fn sequence_text(&mut self) -> Option<String> {
        let acked: Vec<&Acked> = self.streams.values().flat_map(|s| &s.acked).collect();
        match self.input.u8() {
            b @ 0..=199 if !acked.is_empty() => Some(acked[usize::from(b) % acked.len()].seq.to_string()),
            0..=219 => None,
            _ => Some(self.input.text()),
        }
    }

    fn count(&mut self) -> Option<u32> {
        match self.input.u8() {
            b @ 0..=239 => Some(u32::from(b % 12)),
            240..=247 => None,
            _ => Some(self.input.u32()),
        }
    }

    fn timestamp(&mut self) -> Option<Timestamp> {
        match self.input.u8() {
            0..=99 => None,
            b @ 100..=239 => Some(Timestamp(self.now() - i64::from(b - 100) * 60_000)),
            _ => Some(Timestamp(self.input.u64() as i64)),
        }
    }

    fn iterator_type(&mut self) -> ShardIteratorType {
        [
            ShardIteratorType::AtSequenceNumber,
            ShardIteratorType::AfterSequenceNumber,
            ShardIteratorType::TrimHorizon,
            ShardIteratorType::Latest,
            ShardIteratorType::AtTimestamp,
        ][usize::from(self.input.u8() % 5)]
    }

    /// One operation. Mutating calls are checked to change nothing when they fail.
    fn step(&mut self) {
        let op = self.input.u8() % 30;
        let before =
            matches!(op, 0 | 1 | 2 | 5 | 6 | 7 | 8 | 11 | 12 | 15 | 17 | 18 | 19 | 21..=29).then(|| snapshot(self.e()));
        let failed = match op {
            0 => {
                let name = self.stream_name();
                let shard_count = self.count();
                let r = self.e().create_stream(CreateStreamInput {
                    stream_name: name.clone(),
                    shard_count,
                    ..CreateStreamInput::default()
                });
                if r.is_ok() {
                    assert!(
                        self.streams
                            .insert(name.clone(), StreamModel { created_ms: self.now(), acked: vec![] })
                            .is_none(),
                        "stream {name} created twice"
                    );
                }
                r.is_err()
            }
            1 => {
                let stream = self.stream();
                let (partition_key, data, explicit_hash_key) = (self.key(), self.data(), self.hash_key());
                let sequence_number_for_ordering = if self.input.u8() > 240 { self.sequence_text() } else { None };
                let r = self.e().put_record(PutRecordInput {
                    stream: stream.clone(),
                    data: data.clone(),
                    partition_key: Some(partition_key.clone()),
                    explicit_hash_key,
                    sequence_number_for_ordering,
                    dry_run: false,
                });
                if let Ok(out) = &r {
                    self.ack(&stream, &out.shard_id, out.sequence_number, partition_key, &data);
                }
                r.is_err()
            }
            2 => {
                let stream = self.stream();
                let n = match self.input.u8() {
                    b @ 0..=249 => usize::from(b % 12),
                    _ => 501,
                };
                let records: Vec<PutRecordsRequestEntry> = (0..n)
                    .map(|_| PutRecordsRequestEntry {
                        partition_key: Some(self.key()),
                        data: self.data(),
                        explicit_hash_key: self.hash_key(),
                    })
                    .collect();
                let r = self.e().put_records(PutRecordsInput {
                    stream: stream.clone(),
                    records: records.clone(),
                    dry_run: false,
                });
                if let Ok(out) = &r {
                    assert_eq!(out.records.len(), records.len(), "one result per entry");
                    for (entry, res) in records.iter().zip(&out.records) {
                        match (&res.shard_id, res.sequence_number) {
                            (Some(shard_id), Some(seq)) => self.ack(
                                &stream,
                                shard_id,
                                seq,
                                entry.partition_key.clone().unwrap_or_default(),
                                &entry.data,
                            ),
                            _ => assert!(res.error_code.is_some(), "an entry with neither a result nor an error"),
                        }
                    }
                }
                r.is_err()
            }
            3 => {
                let input = GetShardIteratorInput {
                    stream: self.stream(),
                    shard_id: self.shard_id(),
                    shard_iterator_type: self.iterator_type(),
                    starting_sequence_number: self.sequence_text(),
                    timestamp: self.timestamp(),
                    dry_run: false,
                };
                if let Ok(out) = self.e().get_shard_iterator(input) {
                    self.iterators.push(out.shard_iterator);
                }
                false
            }
            4 => {
                let shard_iterator = match self.input.u8() {
                    b @ 0..=229 if !self.iterators.is_empty() => {
                        self.iterators[usize::from(b) % self.iterators.len()].clone()
                    }
                    _ => self.input.text(),
                };
                let limit = match self.input.u8() {
                    0..=199 => None,
                    b @ 200..=249 => Some(u32::from(b - 200)),
                    _ => Some(self.input.u32()),
                };
                if let Ok(out) = self.e().get_records(GetRecordsInput {
                    shard_iterator,
                    limit,
                    stream_arn: None,
                    stream_id: None,
                    dry_run: false,
                }) {
                    assert!(
                        out.records.windows(2).all(|w| w[0].sequence_number < w[1].sequence_number),
                        "GetRecords out of order"
                    );
                    assert!(out.records.len() <= limit.map_or(10_000, |l| l as usize), "GetRecords over its limit");
                    self.iterators.extend(out.next_shard_iterator);
                }
                false
            }
            5 => {
                let input = SplitShardInput {
                    stream: self.stream(),
                    shard_to_split: self.shard_id(),
                    new_starting_hash_key: self.hash_key().unwrap_or_else(|| (u128::MAX / 2).to_string()),
                };
                self.e().split_shard(input).is_err()
            }
            6 => {
                let input = MergeShardsInput {
                    stream: self.stream(),
                    shard_to_merge: self.shard_id(),
                    adjacent_shard_to_merge: self.shard_id(),
                };
                self.e().merge_shards(input).is_err()
            }
            7 => {
                let stream = self.stream();
                let target_shard_count = self.count().unwrap_or(0);
                self.e()
                    .update_shard_count(UpdateShardCountInput { stream, target_shard_count, ..Default::default() })
                    .is_err()
            }
            8 => {
                let stream = self.stream();
                let hours = match self.input.u8() % 8 {
                    0 => 24,
                    1 => 48,
                    2 => 168,
                    3 => 8760,
                    4 => 8761,
                    5 => 23,
                    6 => 0,
                    _ => self.input.u32(),
                };
                let input = RetentionPeriodInput { stream, retention_period_hours: hours };
                if self.input.u8() & 1 == 0 {
                    self.e().increase_stream_retention_period(input)
                } else {
                    self.e().decrease_stream_retention_period(input)
                }
                .is_err()
            }
            9 => {
                let unit = [1, 1_000, 60_000, 3_600_000][usize::from(self.input.u8() % 4)];
                self.clock.advance(Duration::from_millis(u64::from(self.input.u16()) * unit));
                false
            }
            10 => {
                let _ = self.e().enforce_retention();
                false
            }
            11 => {
                let stream_arn = match self.input.u8() {
                    0..=229 => {
                        let name = self.stream_name();
                        self.e()
                            .describe_stream_summary(StreamRef::name(name))
                            .map(|s| s.stream_arn)
                            .unwrap_or_default()
                    }
                    _ => self.input.text(),
                };
                let consumer_name = match self.input.u8() {
                    b @ 0..=229 => format!("c{}", b % 3),
                    _ => self.input.text(),
                };
                match self.e().register_stream_consumer(RegisterStreamConsumerInput {
                    stream_arn,
                    consumer_name,
                    stream_id: None,
                    tags: Default::default(),
                }) {
                    Ok(c) => {
                        self.consumer_arns.push(c.consumer_arn);
                        false
                    }
                    Err(_) => true,
                }
            }
            12 => {
                let consumer = match self.input.u8() {
                    b @ 0..=229 if !self.consumer_arns.is_empty() => ConsumerRef {
                        consumer_arn: Some(self.consumer_arns[usize::from(b) % self.consumer_arns.len()].clone()),
                        ..ConsumerRef::default()
                    },
                    _ => ConsumerRef {
                        stream_arn: Some(self.input.text()),
                        consumer_name: Some(self.input.text()),
                        consumer_arn: None,
                        stream_id: None,
                    },
                };
                self.e().deregister_stream_consumer(consumer).is_err()
            }
            13 => {
                let consumer_arn = match self.input.u8() {
                    b @ 0..=229 if !self.consumer_arns.is_empty() => {
                        self.consumer_arns[usize::from(b) % self.consumer_arns.len()].clone()
                    }
                    _ => self.input.text(),
                };
                let input = SubscribeToShardInput {
                    consumer_arn,
                    shard_id: self.shard_id(),
                    starting_position: StartingPosition {
                        position_type: self.iterator_type(),
                        sequence_number: self.sequence_text(),
                        timestamp: self.timestamp(),
                    },
                    stream_id: None,
                    dry_run: false,
                };
                if let Ok(mut sub) = self.e().subscribe_to_shard(input) {
                    let mut last: Option<SequenceNumber> = None;
                    for _ in 0..3 {
                        match sub.try_recv() {
                            Ok(Received::Event(ev)) => {
                                for r in &ev.records {
                                    assert!(last.is_none_or(|l| l < r.sequence_number), "subscription out of order");
                                    last = Some(r.sequence_number);
                                }
                            }
                            Ok(_) | Err(_) => break,
                        }
                    }
                    if self.subscriptions.len() < 4 {
                        self.subscriptions.push(sub);
                    }
                }
                false
            }
            14 => {
                self.reopen();
                false
            }
            15 => {
                let stream = self.stream();
                let enforce_consumer_deletion = self.input.u8() & 1 == 1;
                let name = self.resolve(&stream);
                let r = self.e().delete_stream(DeleteStreamInput { stream, enforce_consumer_deletion });
                if r.is_ok() {
                    let name = name.expect("a deleted stream was live");
                    self.streams.remove(&name);
                }
                r.is_err()
            }
            16 => {
                let filter_type = [
                    ShardFilterType::AfterShardId,
                    ShardFilterType::AtTrimHorizon,
                    ShardFilterType::FromTrimHorizon,
                    ShardFilterType::AtLatest,
                    ShardFilterType::AtTimestamp,
                    ShardFilterType::FromTimestamp,
                ][usize::from(self.input.u8() % 6)];
                let shard_filter = (self.input.u8() & 1 == 1).then(|| ShardFilter {
                    filter_type,
                    shard_id: Some(self.shard_id()),
                    timestamp: self.timestamp(),
                });
                let input = ListShardsInput {
                    stream: self.stream(),
                    next_token: (self.input.u8() > 230).then(|| self.input.text()),
                    exclusive_start_shard_id: (self.input.u8() > 200).then(|| self.shard_id()),
                    max_results: self.count(),
                    stream_creation_timestamp: self.timestamp(),
                    shard_filter,
                };
                let _ = self.e().list_shards(input);
                false
            }
            17 => {
                let stream = self.stream();
                if self.input.u8() & 1 == 0 {
                    let n = self.input.u8() % 4;
                    let tags = (0..n).map(|_| (self.input.text(), self.input.text())).collect();
                    self.e().add_tags_to_stream(AddTagsToStreamInput { stream, tags }).is_err()
                } else {
                    let n = self.input.u8() % 4;
                    let tag_keys = (0..n).map(|_| self.input.text()).collect();
                    self.e().remove_tags_from_stream(RemoveTagsFromStreamInput { stream, tag_keys }).is_err()
                }
            }
            18 => {
                let stream = self.stream();
                let owner = match self.input.u8() {
                    0..=229 => "app".to_string(),
                    _ => self.input.text(),
                };
                let shard_id = self.shard_id();
                let seq = self.sequence_text().and_then(|s| SequenceNumber::parse(&s).ok());
                let finished = self.input.u8() & 1 == 1;
                self.e().set_checkpoint(&stream, &owner, &shard_id, seq, finished).is_err()
            }
            19 => {
                let stream = self.stream();
                let kib = match self.input.u8() {
                    0..=199 => 1024,
                    200..=229 => 10_240,
                    _ => self.input.u32(),
                };
                self.e().update_max_record_size(stream, kib).is_err()
            }
            21 => {
                // CreateStream without a shard count (on-demand), maybe AUTO, maybe warm.
                let name = self.stream_name();
                let flags = self.input.u8();
                let warm_throughput_mibps = (flags & 2 == 2).then(|| u32::from(self.input.u8()));
                let r = self.e().create_stream(CreateStreamInput {
                    stream_name: name.clone(),
                    record_distribution_strategy: (flags & 1 == 1).then_some(RecordDistribution::Auto),
                    warm_throughput_mibps,
                    ..CreateStreamInput::default()
                });
                if r.is_ok() {
                    assert!(
                        self.streams
                            .insert(name.clone(), StreamModel { created_ms: self.now(), acked: vec![] })
                            .is_none(),
                        "stream {name} created twice"
                    );
                }
                r.is_err()
            }
            22 => {
                let stream = self.stream();
                let stream_mode = if self.input.u8() & 1 == 0 { StreamMode::OnDemand } else { StreamMode::Provisioned };
                let warm_throughput_mibps = (self.input.u8() > 200).then(|| u32::from(self.input.u8()));
                let r =
                    self.e().update_stream_mode(UpdateStreamModeInput { stream, stream_mode, warm_throughput_mibps });
                r.is_err()
            }
            23 => {
                let stream = self.stream();
                let key_id = match self.input.u8() {
                    0..=99 => "alias/aws/kinesis".to_string(),
                    100..=199 => format!("alias/k{}", self.input.u8() % 3),
                    _ => self.input.text(),
                };
                let input = StreamEncryptionInput { stream, encryption_type: EncryptionType::Kms, key_id };
                if self.input.u8() & 1 == 0 {
                    self.e().start_stream_encryption(input).is_err()
                } else {
                    self.e().stop_stream_encryption(input).is_err()
                }
            }
            24 => {
                let stream = self.stream();
                let n = usize::from(self.input.u8() % 9);
                let shard_level_metrics =
                    (0..n).map(|_| MetricsName::ALL[usize::from(self.input.u8()) % MetricsName::ALL.len()]).collect();
                let input = EnhancedMonitoringInput { stream, shard_level_metrics };
                if self.input.u8() & 1 == 0 {
                    self.e().enable_enhanced_monitoring(input).is_err()
                } else {
                    self.e().disable_enhanced_monitoring(input).is_err()
                }
            }
            25 => {
                // Tags and policies by ARN (streams, consumers, queues, garbage).
                let resource_arn = match self.input.u8() {
                    b @ 0..=149 => {
                        format!("arn:aws:kinesis:us-east-1:000000000000:stream/{}", ["a", "b", "c"][usize::from(b % 3)])
                    }
                    b @ 150..=199 if !self.consumer_arns.is_empty() => {
                        self.consumer_arns[usize::from(b) % self.consumer_arns.len()].clone()
                    }
                    200..=219 => "arn:aws:kinesis:us-east-1:000000000000:queue/q".into(),
                    _ => self.input.text(),
                };
                match self.input.u8() % 5 {
                    0 => {
                        let n = self.input.u8() % 4;
                        let tags = (0..n).map(|_| (self.input.text(), self.input.text())).collect();
                        self.e().tag_resource(TagResourceInput { resource_arn, tags, stream_id: None }).is_err()
                    }
                    1 => {
                        let n = self.input.u8() % 3;
                        let tag_keys = (0..n).map(|_| self.input.text()).collect();
                        self.e().untag_resource(UntagResourceInput { resource_arn, tag_keys, stream_id: None }).is_err()
                    }
                    2 => {
                        let policy = if self.input.u8() < 200 {
                            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*"}}"#.to_string()
                        } else {
                            self.input.text()
                        };
                        let r = self.e().put_resource_policy(PutResourcePolicyInput {
                            resource_arn,
                            policy,
                            stream_id: None,
                        });
                        r.is_err()
                    }
                    3 => {
                        let input = ResourcePolicyInput { resource_arn, stream_id: None };
                        self.e().delete_resource_policy(input).is_err()
                    }
                    _ => {
                        let _ = self.e().list_tags_for_resource(ListTagsForResourceInput {
                            resource_arn: resource_arn.clone(),
                            stream_id: None,
                        });
                        let _ = self.e().get_resource_policy(ResourcePolicyInput { resource_arn, stream_id: None });
                        false
                    }
                }
            }
            26 => {
                let enable = self.input.u8() & 1 == 0;
                let r = self.e().update_account_settings(UpdateAccountSettingsInput {
                    enable_minimum_throughput_billing_commitment: enable,
                });
                r.is_err()
            }
            27 => {
                let stream = self.stream();
                match self.input.u8() % 2 {
                    0 => {
                        let record_distribution_strategy = if self.input.u8() & 1 == 0 {
                            RecordDistribution::Auto
                        } else {
                            RecordDistribution::UserPartitionKey
                        };
                        self.e()
                            .update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
                                stream,
                                record_distribution_strategy,
                            })
                            .is_err()
                    }
                    _ => {
                        let warm_throughput_mibps = u32::from(self.input.u16());
                        self.e()
                            .update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
                                stream,
                                warm_throughput_mibps,
                            })
                            .is_err()
                    }
                }
            }
            28 => {
                // Channels: create, update, delete, or a delivery pass.
                match self.input.u8() % 4 {
                    0 => {
                        let stream = self.stream_name();
                        let freshness = i64::from(self.input.u16() % 1000);
                        let compression = [S3Compression::None, S3Compression::Gzip, S3Compression::Zstd]
                            [usize::from(self.input.u8() % 3)];
                        let name = format!("ch{}", self.input.u8() % 3);
                        let template = (self.input.u8() > 200).then(|| self.input.text());
                        let input = CreateChannelInput {
                            channel_name: name,
                            service_execution_role_arn: "arn:aws:iam::000000000000:role/r".into(),
                            stream_configuration_list: vec![ChannelStreamConfiguration {
                                stream_arn: format!("arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"),
                                record_configuration: RecordConfiguration {
                                    record_format_type: [
                                        RecordFormat::Json,
                                        RecordFormat::String,
                                        RecordFormat::ByteArray,
                                    ][usize::from(self.input.u8() % 3)],
                                    gsr_schema_arn: None,
                                },
                            }],
                            s3_destination_configuration: Some(S3DestinationConfiguration {
                                data_freshness_in_seconds: Some(freshness),
                                dead_letter_queue_s3_configuration: None,
                                storage_configuration: S3StorageConfiguration {
                                    bucket_arn: "arn:aws:s3:::out".into(),
                                    expected_bucket_owner: "000000000000".into(),
                                    output_key_template: template,
                                    storage_class: None,
                                    compression_type: compression,
                                },
                            }),
                            ..CreateChannelInput::default()
                        };
                        self.e().create_channel(input).is_err()
                    }
                    1 => {
                        let Some(arn) = self.channel_arn() else { return };
                        let s3_data_freshness_in_seconds = Some(i64::from(self.input.u16()) - 100);
                        let r = self.e().update_channel(UpdateChannelInput {
                            channel_arn: arn,
                            s3_data_freshness_in_seconds,
                            ..UpdateChannelInput::default()
                        });
                        r.is_err()
                    }
                    2 => {
                        let Some(arn) = self.channel_arn() else { return };
                        self.e().delete_channel(&arn).is_err()
                    }
                    _ => {
                        let _ = self.e().deliver_channels();
                        false
                    }
                }
            }
            29 => {
                // DryRun puts: every check, nothing changes (always checked below).
                let stream = self.stream();
                let (partition_key, data) = (self.key(), self.data());
                let partition_key = (self.input.u8() < 230).then_some(partition_key);
                let r = self.e().put_record(PutRecordInput {
                    stream,
                    data,
                    partition_key,
                    dry_run: true,
                    ..PutRecordInput::default()
                });
                assert!(r.is_err(), "a dry run never succeeds");
                true
            }
            _ => {
                let limit = self.count();
                let exclusive_start_stream_name = (self.input.u8() > 200).then(|| self.stream_name());
                let next_token = (self.input.u8() > 230).then(|| self.input.text());
                let _ = self.e().list_streams(ListStreamsInput { limit, exclusive_start_stream_name, next_token });
                let input = DescribeStreamInput {
                    stream: self.stream(),
                    limit: self.count(),
                    exclusive_start_shard_id: (self.input.u8() > 200).then(|| self.shard_id()),
                };
                let _ = self.e().describe_stream(input);
                false
            }
        };
        if let (true, Some(before)) = (failed, before) {
            let after = snapshot(self.e());
            assert_eq!(before, after, "operation {op} failed but changed what the API shows");
        }
    }

    /// The ARN of a listed channel, picked by the next byte.
    fn channel_arn(&mut self) -> Option<String> {
        let list = self.e().list_channels(ListChannelsInput::default()).ok()?.channel_summaries;
        let b = usize::from(self.input.u8());
        list.get(b % list.len().max(1)).map(|c| c.channel_arn.clone())
    }

    /// The live model stream a reference names, if any.
    fn resolve(&self, stream: &StreamRef) -> Option<String> {
        let arn_name = stream.stream_arn.as_deref().and_then(|a| a.rsplit_once("stream/")).map(|(_, n)| n.to_string());
        let name = stream.stream_name.clone().or(arn_name)?;
        self.streams.contains_key(&name).then_some(name)
    }

    fn ack(&mut self, stream: &StreamRef, shard_id: &str, seq: SequenceNumber, key: String, data: &Bytes) {
        let name = self
            .resolve(stream)
            .unwrap_or_else(|| panic!("a put to {stream:?} succeeded but no such stream was created"));
        let model = self.streams.get_mut(&name).expect("resolved");
        model.acked.push(Acked { shard_id: shard_id.to_string(), seq, key, data: data.to_vec() });
    }

    fn reopen(&mut self) {
        self.subscriptions.clear();
        self.iterators.clear();
        let old = self.engine.take().expect("open");
        old.close().expect("clean close of a healthy engine");
        drop(old);
        self.engine = Some(
            engine_state::open(&self.sim, &self.clock).unwrap_or_else(|e| panic!("reopen after a clean close: {e}")),
        );
        self.verify();
    }

    /// The whole-state checks of the doc comment.
    fn verify(&self) {
        engine_state::assert_files_inside_root(&self.sim);
        let mut listed = engine_state::stream_names(self.e());
        listed.sort();
        let expected: Vec<String> = self.streams.keys().cloned().collect();
        assert_eq!(listed, expected, "the live streams differ from those created and not deleted");
        let now = self.now();
        for (name, model) in &self.streams {
            let mut stored: Vec<(String, SequenceNumber)> = Vec::new();
            for sh in shards(self.e(), name).unwrap_or_else(|e| panic!("ListShards {name}: {e}")) {
                for r in shard_records(self.e(), name, &sh.shard_id) {
                    let a =
                        model.acked.iter().find(|a| a.shard_id == sh.shard_id && a.seq == r.seq).unwrap_or_else(|| {
                            panic!("{name}/{} holds {} that was never acknowledged", sh.shard_id, r.seq)
                        });
                    assert_eq!(
                        (&a.key, &a.data),
                        (&r.key, &r.data),
                        "{name}/{} {} differs from what was put",
                        sh.shard_id,
                        r.seq
                    );
                    stored.push((sh.shard_id.clone(), r.seq));
                }
            }
            let trimmed_possible = now - model.created_ms >= MIN_RETENTION_MS;
            for a in &model.acked {
                if stored.iter().any(|(s, q)| *s == a.shard_id && *q == a.seq) {
                    continue;
                }
                assert!(
                    trimmed_possible,
                    "{name}/{} lost acknowledged {} (too young for retention)",
                    a.shard_id, a.seq
                );
                // Retention removes a prefix: a record it removed has no stored predecessor.
                let earlier_stored = stored.iter().any(|(s, q)| *s == a.shard_id && *q < a.seq);
                assert!(!earlier_stored, "{name}/{} lost {} but kept earlier records (a gap)", a.shard_id, a.seq);
            }
        }
    }
}

/// Seed inputs: short programs in the encoding [`engine_ops`] reads, touching every
/// operation with well-formed arguments.
pub fn seed_programs() -> Vec<Vec<u8>> {
    // Argument encodings (see the `Driver` readers): stream = [0, name] (name 0/1/2 = a/b/c),
    // shard = [index], key = [k], data = [0, len lo, len hi, fill], no hash key = [0].
    let create = |name: u8, shards: u8| vec![0, name, shards];
    let put = |name: u8, key: u8, len: u16| {
        let [lo, hi] = len.to_le_bytes();
        vec![1, 0, name, key, 0, lo, hi, key, 0, 0]
    };
    let put_records = |name: u8, n: u8| {
        let mut v = vec![2, 0, name, n];
        for k in 0..n {
            v.extend([k, 0, 40, 0, k, 0]);
        }
        v
    };
    let iterator = |name: u8, shard: u8, kind: u8| vec![3, 0, name, shard, kind, 0, 0];
    let get_records = |i: u8| vec![4, i, 0];
    let split = |name: u8, shard: u8| {
        let mut v = vec![5, 0, name, shard, 200];
        v.extend((u64::MAX / 4).to_le_bytes());
        v.extend(0u64.to_le_bytes());
        v
    };
    let merge = |name: u8, a: u8, b: u8| vec![6, 0, name, a, b];
    let reopen = vec![14];
    let hours = |h: u16| {
        let [lo, hi] = h.to_le_bytes();
        vec![9, 3, lo, hi]
    };
    let programs: Vec<Vec<Vec<u8>>> = vec![
        vec![
            create(0, 2),
            put(0, 1, 100),
            put(0, 2, 0),
            put_records(0, 3),
            iterator(0, 0, 2),
            get_records(0),
            get_records(1),
        ],
        vec![
            create(0, 1),
            put(0, 1, 300),
            split(0, 0),
            put(0, 2, 10),
            put(0, 3, 10),
            reopen.clone(),
            iterator(0, 1, 2),
        ],
        vec![create(0, 2), put_records(0, 5), merge(0, 0, 1), put(0, 4, 5), vec![7, 0, 0, 3], reopen.clone()],
        vec![create(1, 1), put(1, 1, 1000), vec![11, 0, 1, 0], vec![13, 0, 0, 2, 0, 0], put(1, 2, 5), vec![12, 0]],
        vec![create(2, 1), put(2, 1, 50), hours(25), vec![10], put(2, 2, 50), vec![8, 0, 2, 1, 0], reopen.clone()],
        vec![
            create(0, 3),
            vec![15, 0, 0, 0],
            create(0, 1),
            vec![17, 0, 0, 0, 1, 1, b't', 1, b'v'],
            vec![18, 0, 0, 0, 0, 0, 0],
        ],
        vec![create(0, 1), vec![16, 1, 1, 0, 0, 0, 0, 0, 0, 0], vec![19, 0, 0, 0], vec![20, 0, 0, 0, 0, 0, 0, 0]],
        // The 2026 API: commitment, an on-demand AUTO stream with warm throughput, puts,
        // encryption, monitoring, a policy, a channel and two delivery passes five seconds
        // apart, a mode switch, and a dry run.
        vec![
            vec![26, 0],
            vec![21, 0, 3, 4],
            put(0, 1, 100),
            put(0, 2, 30),
            vec![23, 0, 0, 50, 0],
            vec![24, 0, 0, 2, 7, 0, 0],
            vec![25, 0, 2, 0],
            vec![28, 0, 0, 60, 0, 1, 0, 0, 1],
            put(0, 3, 10),
            vec![28, 3],
            vec![9, 1, 61, 0],
            vec![28, 3],
            vec![27, 0, 0, 0, 1],
            vec![22, 0, 0, 1, 0],
            vec![29, 0, 0, 1, 0, 5, 0, 1, 0],
            reopen.clone(),
        ],
    ];
    programs.into_iter().map(|p| p.concat()).collect()
}
