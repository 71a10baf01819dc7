//! The operation table: `X-Amz-Target` → engine call, request members → engine input
//! structs, engine outputs → response members.
//!
//! Every request is first checked against the service model by
//! [`validate`](super::validate) (types, then every modelled constraint, all violations in one
//! `ValidationException`), before anything else — AWS's order. Only then are members read
//! (with the deserializer's conversions, which cannot fail on a validated request) and the
//! engine called; the engine keeps its own typed checks for library callers and adds the
//! rules that need state (a stream's record limit, shard ids, …). Unknown members are
//! accepted and ignored.
//!
//! The operations of the newer API are read here too, in the same way, by `settings`
//! (account, capacity, encryption, monitoring), `resources` (tags and policies by ARN),
//! `channels` and `queues`.
//!
//! One rule the model no longer expresses is the engine's alone: `PartitionKey` (no longer
//! `required` in the model, for streams whose `RecordDistributionStrategy` is AUTO) is
//! required on streams that route by partition key. The engine decides it per stream and
//! reports every missing key like a required member (`Value null at
//! 'records.2.member.partitionKey' failed to satisfy constraint: Member must not be null`),
//! all of them in one `ValidationException`; this layer passes the keys through as sent.

use shardlog::engine::types::*;
use shardlog::kinesis::messages;
use shardlog::Engine;

use super::convert::{
    api, enumeration, metrics_list, opt_push, required, s, tag_list, unsigned, Members, DISTRIBUTIONS, STREAM_MODES,
};
use super::errors::ApiError;
use super::model;
use super::validate;
use super::wire::{Codec, In, Out};
use super::{channels, queues, resources, settings};

/// Every operation served: the 57 operations of the Kinesis model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `AcknowledgeDeadLetterQueueRecords`.
    AcknowledgeDeadLetterQueueRecords,
    /// `AcknowledgeQueueRecords`.
    AcknowledgeQueueRecords,
    /// `AddTagsToStream`.
    AddTagsToStream,
    /// `CreateChannel`.
    CreateChannel,
    /// `CreateQueue`.
    CreateQueue,
    /// `CreateStream`.
    CreateStream,
    /// `DecreaseStreamRetentionPeriod`.
    DecreaseStreamRetentionPeriod,
    /// `DeleteChannel`.
    DeleteChannel,
    /// `DeleteQueue`.
    DeleteQueue,
    /// `DeleteResourcePolicy`.
    DeleteResourcePolicy,
    /// `DeleteStream`.
    DeleteStream,
    /// `DeregisterStreamConsumer`.
    DeregisterStreamConsumer,
    /// `DescribeAccountSettings`.
    DescribeAccountSettings,
    /// `DescribeChannel`.
    DescribeChannel,
    /// `DescribeLimits`.
    DescribeLimits,
    /// `DescribeQueue`.
    DescribeQueue,
    /// `DescribeStream`.
    DescribeStream,
    /// `DescribeStreamConsumer`.
    DescribeStreamConsumer,
    /// `DescribeStreamSummary`.
    DescribeStreamSummary,
    /// `DisableEnhancedMonitoring`.
    DisableEnhancedMonitoring,
    /// `EnableEnhancedMonitoring`.
    EnableEnhancedMonitoring,
    /// `GetRecords`.
    GetRecords,
    /// `GetResourcePolicy`.
    GetResourcePolicy,
    /// `GetShardIterator`.
    GetShardIterator,
    /// `IncreaseStreamRetentionPeriod`.
    IncreaseStreamRetentionPeriod,
    /// `ListChannels`.
    ListChannels,
    /// `ListQueues`.
    ListQueues,
    /// `ListShards`.
    ListShards,
    /// `ListStreamConsumers`.
    ListStreamConsumers,
    /// `ListStreams`.
    ListStreams,
    /// `ListTagsForResource`.
    ListTagsForResource,
    /// `ListTagsForStream`.
    ListTagsForStream,
    /// `MergeShards`.
    MergeShards,
    /// `PutRecord`.
    PutRecord,
    /// `PutRecords`.
    PutRecords,
    /// `PutResourcePolicy`.
    PutResourcePolicy,
    /// `ReceiveDeadLetterQueueRecords`.
    ReceiveDeadLetterQueueRecords,
    /// `ReceiveQueueRecords`.
    ReceiveQueueRecords,
    /// `RegisterStreamConsumer`.
    RegisterStreamConsumer,
    /// `RemoveTagsFromStream`.
    RemoveTagsFromStream,
    /// `RestoreDeadLetterQueueRecords`.
    RestoreDeadLetterQueueRecords,
    /// `SplitShard`.
    SplitShard,
    /// `StartStreamEncryption`.
    StartStreamEncryption,
    /// `StopStreamEncryption`.
    StopStreamEncryption,
    /// `SubscribeToShard` (answered as an event stream, see `eventstream`).
    SubscribeToShard,
    /// `TagResource`.
    TagResource,
    /// `UntagResource`.
    UntagResource,
    /// `UpdateAccountSettings`.
    UpdateAccountSettings,
    /// `UpdateChannel`.
    UpdateChannel,
    /// `UpdateDeadLetterQueueRecordsVisibility`.
    UpdateDeadLetterQueueRecordsVisibility,
    /// `UpdateMaxRecordSize`.
    UpdateMaxRecordSize,
    /// `UpdateQueue`.
    UpdateQueue,
    /// `UpdateQueueRecordsVisibility`.
    UpdateQueueRecordsVisibility,
    /// `UpdateShardCount`.
    UpdateShardCount,
    /// `UpdateStreamMode`.
    UpdateStreamMode,
    /// `UpdateStreamRecordDistributionStrategy`.
    UpdateStreamRecordDistributionStrategy,
    /// `UpdateStreamWarmThroughput`.
    UpdateStreamWarmThroughput,
}

/// The `X-Amz-Target` service prefix.
pub const SERVICE: &str = "Kinesis_20131202";

/// Every operation with its wire name.
pub const ALL: &[(Op, &str)] = &[
    (Op::AddTagsToStream, "AddTagsToStream"),
    (Op::CreateChannel, "CreateChannel"),
    (Op::CreateStream, "CreateStream"),
    (Op::DecreaseStreamRetentionPeriod, "DecreaseStreamRetentionPeriod"),
    (Op::DeleteChannel, "DeleteChannel"),
    (Op::DeleteResourcePolicy, "DeleteResourcePolicy"),
    (Op::DeleteStream, "DeleteStream"),
    (Op::DeregisterStreamConsumer, "DeregisterStreamConsumer"),
    (Op::DescribeAccountSettings, "DescribeAccountSettings"),
    (Op::DescribeChannel, "DescribeChannel"),
    (Op::DescribeLimits, "DescribeLimits"),
    (Op::DescribeStream, "DescribeStream"),
    (Op::DescribeStreamConsumer, "DescribeStreamConsumer"),
    (Op::DescribeStreamSummary, "DescribeStreamSummary"),
    (Op::DisableEnhancedMonitoring, "DisableEnhancedMonitoring"),
    (Op::EnableEnhancedMonitoring, "EnableEnhancedMonitoring"),
    (Op::GetRecords, "GetRecords"),
    (Op::GetResourcePolicy, "GetResourcePolicy"),
    (Op::GetShardIterator, "GetShardIterator"),
    (Op::IncreaseStreamRetentionPeriod, "IncreaseStreamRetentionPeriod"),
    (Op::ListChannels, "ListChannels"),
    (Op::ListShards, "ListShards"),
    (Op::ListStreamConsumers, "ListStreamConsumers"),
    (Op::ListStreams, "ListStreams"),
    (Op::ListTagsForResource, "ListTagsForResource"),
    (Op::ListTagsForStream, "ListTagsForStream"),
    (Op::MergeShards, "MergeShards"),
    (Op::PutRecord, "PutRecord"),
    (Op::PutRecords, "PutRecords"),
    (Op::PutResourcePolicy, "PutResourcePolicy"),
    (Op::RegisterStreamConsumer, "RegisterStreamConsumer"),
    (Op::RemoveTagsFromStream, "RemoveTagsFromStream"),
    (Op::SplitShard, "SplitShard"),
    (Op::StartStreamEncryption, "StartStreamEncryption"),
    (Op::StopStreamEncryption, "StopStreamEncryption"),
    (Op::SubscribeToShard, "SubscribeToShard"),
    (Op::TagResource, "TagResource"),
    (Op::UntagResource, "UntagResource"),
    (Op::UpdateAccountSettings, "UpdateAccountSettings"),
    (Op::UpdateChannel, "UpdateChannel"),
    (Op::UpdateMaxRecordSize, "UpdateMaxRecordSize"),
    (Op::UpdateShardCount, "UpdateShardCount"),
    (Op::UpdateStreamMode, "UpdateStreamMode"),
    (Op::UpdateStreamRecordDistributionStrategy, "UpdateStreamRecordDistributionStrategy"),
    (Op::UpdateStreamWarmThroughput, "UpdateStreamWarmThroughput"),
    // Queue operations (appended: fuzz inputs index this table).
    (Op::AcknowledgeDeadLetterQueueRecords, "AcknowledgeDeadLetterQueueRecords"),
    (Op::AcknowledgeQueueRecords, "AcknowledgeQueueRecords"),
    (Op::CreateQueue, "CreateQueue"),
    (Op::DeleteQueue, "DeleteQueue"),
    (Op::DescribeQueue, "DescribeQueue"),
    (Op::ListQueues, "ListQueues"),
    (Op::ReceiveDeadLetterQueueRecords, "ReceiveDeadLetterQueueRecords"),
    (Op::ReceiveQueueRecords, "ReceiveQueueRecords"),
    (Op::RestoreDeadLetterQueueRecords, "RestoreDeadLetterQueueRecords"),
    (Op::UpdateDeadLetterQueueRecordsVisibility, "UpdateDeadLetterQueueRecordsVisibility"),
    (Op::UpdateQueue, "UpdateQueue"),
    (Op::UpdateQueueRecordsVisibility, "UpdateQueueRecordsVisibility"),
];

impl Op {
    /// The operation of an `X-Amz-Target` value (`Kinesis_20131202.<Operation>`).
    pub fn from_target(target: &str) -> Option<Op> {
        let (service, op) = target.split_once('.')?;
        if service != SERVICE {
            return None;
        }
        ALL.iter().find(|(_, name)| *name == op).map(|(o, _)| *o)
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(o, _)| *o == self).map_or("?", |(_, n)| n)
    }

    /// Whether the model gives the operation an output. A success of an operation without
    /// one is HTTP 200 with an empty body.
    pub fn has_output(self) -> bool {
        model::operation(self.name()).is_none_or(|o| o.has_output)
    }
}

/// `ShardIteratorType` / `StartingPosition.Type`.
const ITERATOR_TYPES: &[(&str, ShardIteratorType)] = &[
    ("AFTER_SEQUENCE_NUMBER", ShardIteratorType::AfterSequenceNumber),
    ("LATEST", ShardIteratorType::Latest),
    ("AT_TIMESTAMP", ShardIteratorType::AtTimestamp),
    ("AT_SEQUENCE_NUMBER", ShardIteratorType::AtSequenceNumber),
    ("TRIM_HORIZON", ShardIteratorType::TrimHorizon),
];

const SHARD_FILTER_TYPES: &[(&str, ShardFilterType)] = &[
    ("AFTER_SHARD_ID", ShardFilterType::AfterShardId),
    ("AT_TRIM_HORIZON", ShardFilterType::AtTrimHorizon),
    ("FROM_TRIM_HORIZON", ShardFilterType::FromTrimHorizon),
    ("AT_LATEST", ShardFilterType::AtLatest),
    ("AT_TIMESTAMP", ShardFilterType::AtTimestamp),
    ("FROM_TIMESTAMP", ShardFilterType::FromTimestamp),
];

const SCALING_TYPES: &[(&str, ScalingType)] = &[("UNIFORM_SCALING", ScalingType::UniformScaling)];

// ---------------------------------------------------------------------------------------
// Output conversions.

fn hash_key_range(r: &HashKeyRange) -> Out {
    Out::Map(vec![
        ("StartingHashKey", s(r.starting_hash_key.to_string())),
        ("EndingHashKey", s(r.ending_hash_key.to_string())),
    ])
}

fn shard(sh: &Shard) -> Out {
    let mut m = vec![("ShardId", s(sh.shard_id.clone()))];
    opt_push(&mut m, "ParentShardId", sh.parent_shard_id.clone().map(Out::Str));
    opt_push(&mut m, "AdjacentParentShardId", sh.adjacent_parent_shard_id.clone().map(Out::Str));
    m.push(("HashKeyRange", hash_key_range(&sh.hash_key_range)));
    let mut range = vec![("StartingSequenceNumber", s(sh.sequence_number_range.starting_sequence_number.to_string()))];
    opt_push(
        &mut range,
        "EndingSequenceNumber",
        sh.sequence_number_range.ending_sequence_number.map(|n| s(n.to_string())),
    );
    m.push(("SequenceNumberRange", Out::Map(range)));
    Out::Map(m)
}

pub(crate) fn stream_mode(m: StreamMode) -> Out {
    Out::Map(vec![("StreamMode", Out::Static(m.as_str()))])
}

fn enhanced_monitoring(m: &[ShardMetric]) -> Out {
    Out::List(vec![Out::Map(vec![("ShardLevelMetrics", metrics_list(m))])])
}

/// A record as GetRecords and SubscribeToShard events show it (no `PartitionKey` when the
/// producer sent none, on AUTO streams; `EncryptionType` KMS on encrypted streams).
pub fn record(r: &KinesisRecord) -> Out {
    let mut m = vec![
        ("SequenceNumber", s(r.sequence_number.to_string())),
        ("ApproximateArrivalTimestamp", Out::Time(r.approximate_arrival_timestamp.as_millis())),
        ("Data", Out::Blob(r.data.clone())),
    ];
    if !r.partition_key.is_empty() {
        m.push(("PartitionKey", s(r.partition_key.clone())));
    }
    if r.encryption_type == EncryptionType::Kms {
        m.push(("EncryptionType", Out::Static(r.encryption_type.as_str())));
    }
    Out::Map(m)
}

/// `ChildShards`.
pub fn child_shards(kids: &[ChildShard]) -> Out {
    Out::List(
        kids.iter()
            .map(|c| {
                Out::Map(vec![
                    ("ShardId", s(c.shard_id.clone())),
                    ("ParentShards", Out::List(c.parent_shards.iter().cloned().map(Out::Str).collect())),
                    ("HashKeyRange", hash_key_range(&c.hash_key_range)),
                ])
            })
            .collect(),
    )
}

/// A `SubscribeToShardEvent`.
pub fn subscribe_event(e: &SubscribeToShardEvent) -> Out {
    let mut m = vec![("Records", Out::List(e.records.iter().map(record).collect()))];
    opt_push(&mut m, "ContinuationSequenceNumber", e.continuation_sequence_number.map(|n| s(n.to_string())));
    m.push(("MillisBehindLatest", Out::Int(e.millis_behind_latest)));
    opt_push(&mut m, "ChildShards", e.child_shards.as_deref().map(child_shards));
    Out::Map(m)
}

pub(crate) fn consumer(c: &Consumer) -> Out {
    Out::Map(vec![
        ("ConsumerName", s(c.consumer_name.clone())),
        ("ConsumerARN", s(c.consumer_arn.clone())),
        ("ConsumerStatus", Out::Static(c.consumer_status.as_str())),
        ("ConsumerCreationTimestamp", Out::Time(c.consumer_creation_timestamp.as_millis())),
    ])
}

// ---------------------------------------------------------------------------------------
// The operations.

/// Run `op` (any but `SubscribeToShard`) on `engine` with the decoded request `body`: the
/// model validator first, then the engine. Operations without an output return an empty
/// structure, which the server sends as an empty body ([`Op::has_output`]).
pub fn call(engine: &Engine, op: Op, codec: Codec, body: In) -> Result<Out, ApiError> {
    validate::validate(op.name(), codec, &body)?;
    let mut m = Members::new(codec, body)?;
    match op {
        Op::CreateStream => create_stream(engine, &mut m),
        Op::DeleteStream => {
            let stream = m.stream_ref()?;
            let enforce = m.boolean("EnforceConsumerDeletion")?.unwrap_or(false);
            api(engine.delete_stream(DeleteStreamInput { stream, enforce_consumer_deletion: enforce }))?;
            Ok(Out::empty())
        }
        Op::DescribeStream => describe_stream(engine, &mut m),
        Op::DescribeStreamSummary => {
            let stream = m.stream_ref()?;
            let d = api(engine.describe_stream_summary(stream))?;
            let mut sm = vec![
                ("StreamName", s(d.stream_name)),
                ("StreamARN", s(d.stream_arn)),
                ("StreamId", s(d.stream_id)),
                ("StreamStatus", Out::Static(d.stream_status.as_str())),
                ("StreamModeDetails", stream_mode(d.stream_mode)),
                ("RetentionPeriodHours", Out::Int(i64::from(d.retention_period_hours))),
                ("StreamCreationTimestamp", Out::Time(d.stream_creation_timestamp.as_millis())),
                ("EnhancedMonitoring", enhanced_monitoring(&d.enhanced_monitoring)),
                ("EncryptionType", Out::Static(d.encryption_type.as_str())),
            ];
            opt_push(&mut sm, "KeyId", d.key_id.map(Out::Str));
            sm.push(("OpenShardCount", Out::Int(i64::from(d.open_shard_count))));
            sm.push(("ConsumerCount", Out::Int(i64::from(d.consumer_count))));
            opt_push(
                &mut sm,
                "WarmThroughput",
                d.warm_throughput.map(|w| {
                    Out::Map(vec![
                        ("TargetMiBps", Out::Int(i64::from(w.target_mibps))),
                        ("CurrentMiBps", Out::Int(i64::from(w.current_mibps))),
                    ])
                }),
            );
            sm.push(("MaxRecordSizeInKiB", Out::Int(i64::from(d.max_record_size_in_kib))));
            sm.push(("ChannelCount", Out::Int(i64::from(d.channel_count))));
            opt_push(
                &mut sm,
                "RecordDistributionStrategy",
                d.record_distribution_strategy.map(|r| Out::Static(r.as_str())),
            );
            sm.push(("QueueCount", Out::Int(i64::from(d.queue_count))));
            Ok(Out::Map(vec![("StreamDescriptionSummary", Out::Map(sm))]))
        }
        Op::DescribeLimits => {
            let l = api(engine.describe_limits())?;
            Ok(Out::Map(vec![
                ("ShardLimit", Out::Int(i64::from(l.shard_limit))),
                ("OpenShardCount", Out::Int(i64::from(l.open_shard_count))),
                ("OnDemandStreamCount", Out::Int(i64::from(l.on_demand_stream_count))),
                ("OnDemandStreamCountLimit", Out::Int(i64::from(l.on_demand_stream_count_limit))),
                ("ChannelCount", Out::Int(i64::from(l.channel_count))),
                ("ChannelCountLimit", Out::Int(i64::from(l.channel_count_limit))),
            ]))
        }
        Op::UpdateMaxRecordSize => {
            // The model names the stream by `StreamARN` (and `StreamId`) only.
            let stream_arn = m.string("StreamARN")?;
            let stream_id = m.string("StreamId")?;
            let kib = unsigned("maxRecordSizeInKiB", m.int("MaxRecordSizeInKiB")?)?;
            let stream = StreamRef { stream_name: None, stream_arn, stream_id };
            api(engine.update_max_record_size(stream, required("maxRecordSizeInKiB", kib)?))?;
            Ok(Out::empty())
        }
        Op::ListStreams => list_streams(engine, &mut m),
        Op::ListShards => list_shards(engine, &mut m),
        Op::AddTagsToStream => {
            let stream = m.stream_ref()?;
            let tags = required("tags", m.string_map("Tags")?)?;
            api(engine.add_tags_to_stream(AddTagsToStreamInput { stream, tags }))?;
            Ok(Out::empty())
        }
        Op::RemoveTagsFromStream => {
            let stream = m.stream_ref()?;
            let tag_keys = required("tagKeys", m.string_list("TagKeys")?)?;
            api(engine.remove_tags_from_stream(RemoveTagsFromStreamInput { stream, tag_keys }))?;
            Ok(Out::empty())
        }
        Op::ListTagsForStream => {
            let stream = m.stream_ref()?;
            let start = m.string("ExclusiveStartTagKey")?;
            let limit = unsigned("limit", m.int("Limit")?)?;
            let out = api(engine.list_tags_for_stream(ListTagsForStreamInput {
                stream,
                exclusive_start_tag_key: start,
                limit,
            }))?;
            Ok(Out::Map(vec![("Tags", tag_list(out.tags)), ("HasMoreTags", Out::Bool(out.has_more_tags))]))
        }
        Op::PutRecord => put_record(engine, &mut m),
        Op::PutRecords => put_records(engine, &mut m),
        Op::GetShardIterator => get_shard_iterator(engine, &mut m),
        Op::GetRecords => get_records(engine, &mut m),
        Op::SplitShard => {
            let stream = m.stream_ref()?;
            let key = required("newStartingHashKey", m.string("NewStartingHashKey")?)?;
            let shard = required("shardToSplit", m.string("ShardToSplit")?)?;
            api(engine.split_shard(SplitShardInput { stream, shard_to_split: shard, new_starting_hash_key: key }))?;
            Ok(Out::empty())
        }
        Op::MergeShards => {
            let stream = m.stream_ref()?;
            let adjacent = required("adjacentShardToMerge", m.string("AdjacentShardToMerge")?)?;
            let shard = required("shardToMerge", m.string("ShardToMerge")?)?;
            api(engine.merge_shards(MergeShardsInput {
                stream,
                shard_to_merge: shard,
                adjacent_shard_to_merge: adjacent,
            }))?;
            Ok(Out::empty())
        }
        Op::UpdateShardCount => {
            let stream = m.stream_ref()?;
            let scaling = enumeration("scalingType", m.string("ScalingType")?, SCALING_TYPES)?;
            let target = unsigned("targetShardCount", m.int("TargetShardCount")?)?;
            let out = api(engine.update_shard_count(UpdateShardCountInput {
                stream,
                target_shard_count: required("targetShardCount", target)?,
                scaling_type: required("scalingType", scaling)?,
            }))?;
            Ok(Out::Map(vec![
                ("StreamName", s(out.stream_name)),
                ("CurrentShardCount", Out::Int(i64::from(out.current_shard_count))),
                ("TargetShardCount", Out::Int(i64::from(out.target_shard_count))),
                ("StreamARN", s(out.stream_arn)),
            ]))
        }
        Op::IncreaseStreamRetentionPeriod | Op::DecreaseStreamRetentionPeriod => {
            let stream = m.stream_ref()?;
            let hours = required("retentionPeriodHours", m.int("RetentionPeriodHours")?)?;
            // The model sets no bounds; a negative period gets the engine's "too short" text.
            let Ok(hours) = u32::try_from(hours) else {
                return Err(ApiError::from_engine(&messages::retention_too_short(hours)));
            };
            let input = RetentionPeriodInput { stream, retention_period_hours: hours };
            if op == Op::IncreaseStreamRetentionPeriod {
                api(engine.increase_stream_retention_period(input))?;
            } else {
                api(engine.decrease_stream_retention_period(input))?;
            }
            Ok(Out::empty())
        }
        Op::RegisterStreamConsumer => {
            let name = required("consumerName", m.string("ConsumerName")?)?;
            let arn = required("streamARN", m.string("StreamARN")?)?;
            let stream_id = m.string("StreamId")?;
            let tags = m.string_map("Tags")?;
            let out = api(engine.register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: arn,
                consumer_name: name,
                stream_id,
                tags: tags.unwrap_or_default(),
            }))?;
            Ok(Out::Map(vec![("Consumer", consumer(&out))]))
        }
        Op::DeregisterStreamConsumer => {
            let r = consumer_ref(&mut m)?;
            api(engine.deregister_stream_consumer(r))?;
            Ok(Out::empty())
        }
        Op::DescribeStreamConsumer => {
            let r = consumer_ref(&mut m)?;
            let d = api(engine.describe_stream_consumer(r))?;
            Ok(Out::Map(vec![(
                "ConsumerDescription",
                Out::Map(vec![
                    ("ConsumerName", s(d.consumer_name)),
                    ("ConsumerARN", s(d.consumer_arn)),
                    ("ConsumerStatus", Out::Static(d.consumer_status.as_str())),
                    ("ConsumerCreationTimestamp", Out::Time(d.consumer_creation_timestamp.as_millis())),
                    ("StreamARN", s(d.stream_arn)),
                ]),
            )]))
        }
        Op::ListStreamConsumers => {
            let max = unsigned("maxResults", m.int("MaxResults")?)?;
            let next_token = m.string("NextToken")?;
            let arn = required("streamARN", m.string("StreamARN")?)?;
            let created = m.timestamp("StreamCreationTimestamp")?;
            let stream_id = m.string("StreamId")?;
            let out = api(engine.list_stream_consumers(ListStreamConsumersInput {
                stream_arn: arn,
                next_token,
                max_results: max,
                stream_creation_timestamp: created,
                stream_id,
            }))?;
            let mut members = vec![("Consumers", Out::List(out.consumers.iter().map(consumer).collect()))];
            opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
            Ok(Out::Map(members))
        }
        Op::SubscribeToShard => {
            // Served as an event stream by the caller; never reached through `call`.
            Err(ApiError::unknown_operation())
        }
        Op::DescribeAccountSettings => settings::describe_account_settings(engine),
        Op::UpdateAccountSettings => settings::update_account_settings(engine, &mut m),
        Op::UpdateStreamMode => settings::update_stream_mode(engine, &mut m),
        Op::UpdateStreamWarmThroughput => settings::update_stream_warm_throughput(engine, &mut m),
        Op::UpdateStreamRecordDistributionStrategy => settings::update_record_distribution(engine, &mut m),
        Op::StartStreamEncryption => settings::stream_encryption(engine, &mut m, true),
        Op::StopStreamEncryption => settings::stream_encryption(engine, &mut m, false),
        Op::EnableEnhancedMonitoring => settings::enhanced_monitoring(engine, &mut m, true),
        Op::DisableEnhancedMonitoring => settings::enhanced_monitoring(engine, &mut m, false),
        Op::TagResource => resources::tag_resource(engine, &mut m),
        Op::UntagResource => resources::untag_resource(engine, &mut m),
        Op::ListTagsForResource => resources::list_tags_for_resource(engine, &mut m),
        Op::PutResourcePolicy => resources::put_resource_policy(engine, &mut m),
        Op::GetResourcePolicy => resources::get_resource_policy(engine, &mut m),
        Op::DeleteResourcePolicy => resources::delete_resource_policy(engine, &mut m),
        Op::CreateChannel => channels::create_channel(engine, &mut m),
        Op::DescribeChannel => channels::describe_channel(engine, &mut m),
        Op::ListChannels => channels::list_channels(engine, &mut m),
        Op::UpdateChannel => channels::update_channel(engine, &mut m),
        Op::DeleteChannel => channels::delete_channel(engine, &mut m),
        Op::CreateQueue => queues::create_queue(engine, &mut m),
        Op::DescribeQueue => queues::describe_queue(engine, &mut m),
        Op::ListQueues => queues::list_queues(engine, &mut m),
        Op::UpdateQueue => queues::update_queue(engine, &mut m),
        Op::DeleteQueue => queues::delete_queue(engine, &mut m),
        Op::ReceiveQueueRecords => queues::receive(engine, &mut m, false),
        Op::ReceiveDeadLetterQueueRecords => queues::receive(engine, &mut m, true),
        Op::AcknowledgeQueueRecords => queues::batch(engine, &mut m, queues::Batch::Acknowledge),
        Op::UpdateQueueRecordsVisibility => queues::batch(engine, &mut m, queues::Batch::Visibility),
        Op::AcknowledgeDeadLetterQueueRecords => queues::batch(engine, &mut m, queues::Batch::AcknowledgeDeadLetter),
        Op::UpdateDeadLetterQueueRecordsVisibility => {
            queues::batch(engine, &mut m, queues::Batch::DeadLetterVisibility)
        }
        Op::RestoreDeadLetterQueueRecords => queues::batch(engine, &mut m, queues::Batch::Restore),
    }
}

fn consumer_ref(m: &mut Members) -> Result<ConsumerRef, ApiError> {
    Ok(ConsumerRef {
        consumer_arn: m.string("ConsumerARN")?,
        consumer_name: m.string("ConsumerName")?,
        stream_arn: m.string("StreamARN")?,
        stream_id: m.string("StreamId")?,
    })
}

fn create_stream(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let max_kib = unsigned("maxRecordSizeInKiB", m.int("MaxRecordSizeInKiB")?)?;
    let shard_count = unsigned("shardCount", m.int("ShardCount")?)?;
    let name = required("streamName", m.string("StreamName")?)?;
    let stream_mode = match m.sub("StreamModeDetails")? {
        Some(mut d) => enumeration("streamModeDetails.streamMode", d.string("StreamMode")?, STREAM_MODES)?,
        None => None,
    };
    let tags = m.string_map("Tags")?;
    let warm = unsigned("warmThroughputMiBps", m.int("WarmThroughputMiBps")?)?;
    let distribution =
        enumeration("recordDistributionStrategy", m.string("RecordDistributionStrategy")?, DISTRIBUTIONS)?;
    api(engine.create_stream(CreateStreamInput {
        stream_name: name,
        shard_count,
        stream_mode,
        tags: tags.unwrap_or_default(),
        max_record_size_in_kib: max_kib,
        warm_throughput_mibps: warm,
        record_distribution_strategy: distribution,
    }))?;
    Ok(Out::empty())
}

fn describe_stream(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let start = m.string("ExclusiveStartShardId")?;
    let limit = unsigned("limit", m.int("Limit")?)?;
    let stream = m.stream_ref()?;
    let d = api(engine.describe_stream(DescribeStreamInput { stream, limit, exclusive_start_shard_id: start }))?;
    let mut sd = vec![
        ("StreamName", s(d.stream_name)),
        ("StreamARN", s(d.stream_arn)),
        ("StreamStatus", Out::Static(d.stream_status.as_str())),
        ("StreamModeDetails", stream_mode(d.stream_mode)),
        ("Shards", Out::List(d.shards.iter().map(shard).collect())),
        ("HasMoreShards", Out::Bool(d.has_more_shards)),
        ("RetentionPeriodHours", Out::Int(i64::from(d.retention_period_hours))),
        ("StreamCreationTimestamp", Out::Time(d.stream_creation_timestamp.as_millis())),
        ("EnhancedMonitoring", enhanced_monitoring(&d.enhanced_monitoring)),
        ("EncryptionType", Out::Static(d.encryption_type.as_str())),
    ];
    opt_push(&mut sd, "KeyId", d.key_id.map(Out::Str));
    Ok(Out::Map(vec![("StreamDescription", Out::Map(sd))]))
}

fn list_streams(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let start = m.string("ExclusiveStartStreamName")?;
    let limit = unsigned("limit", m.int("Limit")?)?;
    let next_token = m.string("NextToken")?;
    let out = api(engine.list_streams(ListStreamsInput { limit, exclusive_start_stream_name: start, next_token }))?;
    let summaries = out
        .stream_summaries
        .into_iter()
        .map(|x| {
            Out::Map(vec![
                ("StreamName", s(x.stream_name)),
                ("StreamARN", s(x.stream_arn)),
                ("StreamStatus", Out::Static(x.stream_status.as_str())),
                ("StreamModeDetails", stream_mode(x.stream_mode)),
                ("StreamCreationTimestamp", Out::Time(x.stream_creation_timestamp.as_millis())),
            ])
        })
        .collect();
    let mut members = vec![
        ("StreamNames", Out::List(out.stream_names.into_iter().map(Out::Str).collect())),
        ("HasMoreStreams", Out::Bool(out.has_more_streams)),
    ];
    opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
    members.push(("StreamSummaries", Out::List(summaries)));
    Ok(Out::Map(members))
}

fn list_shards(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let start = m.string("ExclusiveStartShardId")?;
    let max = unsigned("maxResults", m.int("MaxResults")?)?;
    let next_token = m.string("NextToken")?;
    let shard_filter = match m.sub("ShardFilter")? {
        Some(mut f) => {
            let shard_id = f.string("ShardId")?;
            let timestamp = f.timestamp("Timestamp")?;
            let kind = enumeration("shardFilter.type", f.string("Type")?, SHARD_FILTER_TYPES)?;
            Some(ShardFilter { filter_type: required("shardFilter.type", kind)?, shard_id, timestamp })
        }
        None => None,
    };
    let created = m.timestamp("StreamCreationTimestamp")?;
    let stream = m.stream_ref()?;
    let out = api(engine.list_shards(ListShardsInput {
        stream,
        next_token,
        exclusive_start_shard_id: start,
        max_results: max,
        stream_creation_timestamp: created,
        shard_filter,
    }))?;
    let mut members = vec![("Shards", Out::List(out.shards.iter().map(shard).collect()))];
    opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
    Ok(Out::Map(members))
}

/// `EncryptionType` of a put: AWS leaves it out for unencrypted streams (DescribeStream
/// and the summary still say `NONE`) and answers `KMS` on encrypted ones.
fn push_encryption(members: &mut Vec<(&'static str, Out)>, encryption_type: EncryptionType) {
    if encryption_type != EncryptionType::None {
        members.push(("EncryptionType", Out::Static(encryption_type.as_str())));
    }
}

fn put_record(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let data = m.blob("Data")?;
    let ehk = m.string("ExplicitHashKey")?;
    let key = m.string("PartitionKey")?;
    let ordering = m.string("SequenceNumberForOrdering")?;
    let stream = m.stream_ref()?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    // A missing PartitionKey is the engine's to judge (see the module doc).
    let out = api(engine.put_record(PutRecordInput {
        stream,
        data: required("data", data)?,
        partition_key: key,
        explicit_hash_key: ehk,
        sequence_number_for_ordering: ordering,
        dry_run,
    }))?;
    let mut members = vec![("ShardId", s(out.shard_id)), ("SequenceNumber", s(out.sequence_number.to_string()))];
    push_encryption(&mut members, out.encryption_type);
    Ok(Out::Map(members))
}

fn put_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let records = required("records", m.list("Records")?)?;
    let stream = m.stream_ref()?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut entries = Vec::with_capacity(records.len());
    for item in records {
        if item == In::Null {
            continue;
        }
        let mut e = Members::structure(m.codec, item)?;
        let data = e.blob("Data")?;
        let explicit_hash_key = e.string("ExplicitHashKey")?;
        // A missing PartitionKey is the engine's to judge (see the module doc).
        let partition_key = e.string("PartitionKey")?;
        entries.push(PutRecordsRequestEntry { data: required("data", data)?, partition_key, explicit_hash_key });
    }
    let out = api(engine.put_records(PutRecordsInput { stream, records: entries, dry_run }))?;
    let results = out
        .records
        .into_iter()
        .map(|r| {
            let mut rm = Vec::with_capacity(2);
            opt_push(&mut rm, "SequenceNumber", r.sequence_number.map(|n| s(n.to_string())));
            opt_push(&mut rm, "ShardId", r.shard_id.map(Out::Str));
            opt_push(&mut rm, "ErrorCode", r.error_code.map(Out::Str));
            opt_push(&mut rm, "ErrorMessage", r.error_message.map(Out::Str));
            Out::Map(rm)
        })
        .collect();
    let mut members =
        vec![("FailedRecordCount", Out::Int(i64::from(out.failed_record_count))), ("Records", Out::List(results))];
    push_encryption(&mut members, out.encryption_type);
    Ok(Out::Map(members))
}

fn get_shard_iterator(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let shard_id = required("shardId", m.string("ShardId")?)?;
    let kind = enumeration("shardIteratorType", m.string("ShardIteratorType")?, ITERATOR_TYPES)?;
    let start = m.string("StartingSequenceNumber")?;
    let stream = m.stream_ref()?;
    let timestamp = m.timestamp("Timestamp")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let out = api(engine.get_shard_iterator(GetShardIteratorInput {
        stream,
        shard_id,
        shard_iterator_type: required("shardIteratorType", kind)?,
        starting_sequence_number: start,
        timestamp,
        dry_run,
    }))?;
    Ok(Out::Map(vec![("ShardIterator", s(out.shard_iterator))]))
}

fn get_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let limit = unsigned("limit", m.int("Limit")?)?;
    let iterator = required("shardIterator", m.string("ShardIterator")?)?;
    let stream_arn = m.string("StreamARN")?;
    let stream_id = m.string("StreamId")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let out =
        api(engine.get_records(GetRecordsInput { shard_iterator: iterator, limit, stream_arn, stream_id, dry_run }))?;
    let mut members = vec![("Records", Out::List(out.records.iter().map(record).collect()))];
    opt_push(&mut members, "NextShardIterator", out.next_shard_iterator.map(Out::Str));
    members.push(("MillisBehindLatest", Out::Int(out.millis_behind_latest)));
    opt_push(&mut members, "ChildShards", out.child_shards.as_deref().map(child_shards));
    Ok(Out::Map(members))
}

/// The `SubscribeToShard` input of a request body (model validation first).
pub fn subscribe_input(codec: Codec, body: In) -> Result<SubscribeToShardInput, ApiError> {
    validate::validate(Op::SubscribeToShard.name(), codec, &body)?;
    let mut m = Members::new(codec, body)?;
    let consumer_arn = required("consumerARN", m.string("ConsumerARN")?)?;
    let shard_id = required("shardId", m.string("ShardId")?)?;
    let stream_id = m.string("StreamId")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut p = required("startingPosition", m.sub("StartingPosition")?)?;
    let sequence_number = p.string("SequenceNumber")?;
    let timestamp = p.timestamp("Timestamp")?;
    let position_type = enumeration("startingPosition.type", p.string("Type")?, ITERATOR_TYPES)?;
    let starting_position = StartingPosition {
        position_type: required("startingPosition.type", position_type)?,
        sequence_number,
        timestamp,
    };
    Ok(SubscribeToShardInput { consumer_arn, shard_id, starting_position, stream_id, dry_run })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve() {
        assert_eq!(Op::from_target("Kinesis_20131202.PutRecords"), Some(Op::PutRecords));
        assert_eq!(Op::from_target("Kinesis_20131202.Nope"), None);
        assert_eq!(Op::from_target("DynamoDB_20120810.PutRecords"), None);
        for (op, name) in ALL {
            assert_eq!(op.name(), *name);
            assert!(model::operation(name).is_some(), "{name} is an operation of the model");
        }
    }

    #[test]
    fn operations_without_model_output_have_empty_bodies() {
        for op in [Op::CreateStream, Op::DeleteStream, Op::MergeShards, Op::SplitShard, Op::AddTagsToStream] {
            assert!(!op.has_output(), "{}", op.name());
        }
        for op in [Op::PutRecord, Op::DescribeStream, Op::ListStreams, Op::UpdateShardCount] {
            assert!(op.has_output(), "{}", op.name());
        }
    }
}
