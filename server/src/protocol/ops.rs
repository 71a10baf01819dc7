//! The operation table: `X-Amz-Target` → engine call, request members → engine input
//! structs, engine outputs → response members.
//!
//! Every request is first checked against the service model by
//! [`validate`](super::validate) (types, then every modelled constraint, all violations in one
//! `ValidationException`), before anything else — AWS's order. Only then are members read
//! (with the deserializer's conversions, which cannot fail on a validated request) and the
//! engine called; the engine keeps its own typed checks for library callers and adds the
//! rules that need state (a stream's record limit, shard ids, …). Members the engine does
//! not model (`StreamId`, `WarmThroughputMiBps`, consumer `Tags`) are accepted and ignored,
//! as are unknown members.
//!
//! One check the model no longer expresses runs here, after the model: `PartitionKey` is
//! required on streams that route by partition key (the model dropped `required` for
//! streams with `RecordDistributionStrategy` AUTO). Missing keys are reported like a
//! required member, all of them in one `ValidationException`.

use std::collections::BTreeMap;

use bytes::Bytes;
use shardlog::engine::types::*;
use shardlog::kinesis::messages;
use shardlog::Engine;

use super::deser::{self, to_blob, to_bool, to_int, to_list, to_map, to_string, to_structure, to_timestamp};
use super::errors::ApiError;
use super::model;
use super::validate;
use super::wire::{Codec, In, Out};

/// Every operation served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `AddTagsToStream`.
    AddTagsToStream,
    /// `CreateStream`.
    CreateStream,
    /// `DecreaseStreamRetentionPeriod`.
    DecreaseStreamRetentionPeriod,
    /// `DeleteStream`.
    DeleteStream,
    /// `DeregisterStreamConsumer`.
    DeregisterStreamConsumer,
    /// `DescribeStream`.
    DescribeStream,
    /// `DescribeStreamConsumer`.
    DescribeStreamConsumer,
    /// `DescribeLimits`.
    DescribeLimits,
    /// `DescribeStreamSummary`.
    DescribeStreamSummary,
    /// `GetRecords`.
    GetRecords,
    /// `GetShardIterator`.
    GetShardIterator,
    /// `IncreaseStreamRetentionPeriod`.
    IncreaseStreamRetentionPeriod,
    /// `ListShards`.
    ListShards,
    /// `ListStreamConsumers`.
    ListStreamConsumers,
    /// `ListStreams`.
    ListStreams,
    /// `ListTagsForStream`.
    ListTagsForStream,
    /// `MergeShards`.
    MergeShards,
    /// `PutRecord`.
    PutRecord,
    /// `PutRecords`.
    PutRecords,
    /// `RegisterStreamConsumer`.
    RegisterStreamConsumer,
    /// `RemoveTagsFromStream`.
    RemoveTagsFromStream,
    /// `SplitShard`.
    SplitShard,
    /// `SubscribeToShard` (answered as an event stream, see `eventstream`).
    SubscribeToShard,
    /// `UpdateMaxRecordSize`.
    UpdateMaxRecordSize,
    /// `UpdateShardCount`.
    UpdateShardCount,
}

/// The `X-Amz-Target` service prefix.
pub const SERVICE: &str = "Kinesis_20131202";

/// Every operation with its wire name.
pub const ALL: &[(Op, &str)] = &[
    (Op::AddTagsToStream, "AddTagsToStream"),
    (Op::CreateStream, "CreateStream"),
    (Op::DecreaseStreamRetentionPeriod, "DecreaseStreamRetentionPeriod"),
    (Op::DeleteStream, "DeleteStream"),
    (Op::DeregisterStreamConsumer, "DeregisterStreamConsumer"),
    (Op::DescribeStream, "DescribeStream"),
    (Op::DescribeStreamConsumer, "DescribeStreamConsumer"),
    (Op::DescribeLimits, "DescribeLimits"),
    (Op::DescribeStreamSummary, "DescribeStreamSummary"),
    (Op::GetRecords, "GetRecords"),
    (Op::GetShardIterator, "GetShardIterator"),
    (Op::IncreaseStreamRetentionPeriod, "IncreaseStreamRetentionPeriod"),
    (Op::ListShards, "ListShards"),
    (Op::ListStreamConsumers, "ListStreamConsumers"),
    (Op::ListStreams, "ListStreams"),
    (Op::ListTagsForStream, "ListTagsForStream"),
    (Op::MergeShards, "MergeShards"),
    (Op::PutRecord, "PutRecord"),
    (Op::PutRecords, "PutRecords"),
    (Op::RegisterStreamConsumer, "RegisterStreamConsumer"),
    (Op::RemoveTagsFromStream, "RemoveTagsFromStream"),
    (Op::SplitShard, "SplitShard"),
    (Op::SubscribeToShard, "SubscribeToShard"),
    (Op::UpdateMaxRecordSize, "UpdateMaxRecordSize"),
    (Op::UpdateShardCount, "UpdateShardCount"),
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

// ---------------------------------------------------------------------------------------
// Reading members of a validated request.

/// The members of a structure, read once each.
pub struct Members {
    codec: Codec,
    map: Vec<(String, In)>,
}

impl Members {
    /// The members of a request body (which must be a structure).
    pub fn new(codec: Codec, body: In) -> Result<Members, ApiError> {
        deser::body_members(&body)?;
        Ok(Members { codec, map: to_structure(codec, body)? })
    }

    /// Take a member (`None` when absent or null; the last one when repeated).
    fn take(&mut self, name: &str) -> Option<In> {
        let i = self.map.iter().rposition(|(k, _)| k == name)?;
        match self.map.swap_remove(i).1 {
            In::Null => None,
            v => Some(v),
        }
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_string(codec, v)).transpose()
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_int(codec, v)).transpose()
    }

    fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_bool(codec, v)).transpose()
    }

    fn blob(&mut self, name: &str) -> Result<Option<Bytes>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_blob(codec, v)).transpose()
    }

    fn timestamp(&mut self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_timestamp(codec, v)).transpose()
    }

    fn list(&mut self, name: &str) -> Result<Option<Vec<In>>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_list(codec, v)).transpose()
    }

    fn string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let codec = self.codec;
        self.list(name)?
            .map(|items| items.into_iter().filter(|v| *v != In::Null).map(|v| to_string(codec, v)).collect())
            .transpose()
    }

    fn string_map(&mut self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let codec = self.codec;
        let Some(m) = self.take(name).map(|v| to_map(codec, v)).transpose()? else { return Ok(None) };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            if v != In::Null {
                out.insert(k, to_string(codec, v)?);
            }
        }
        Ok(Some(out))
    }

    fn sub(&mut self, name: &str) -> Result<Option<Members>, ApiError> {
        let codec = self.codec;
        Ok(self.take(name).map(|v| to_structure(codec, v)).transpose()?.map(|map| Members { codec, map }))
    }

    fn stream_ref(&mut self) -> Result<StreamRef, ApiError> {
        let stream_arn = self.string("StreamARN")?;
        let stream_name = self.string("StreamName")?;
        Ok(StreamRef { stream_name, stream_arn })
    }
}

/// A required member. The model validator has already refused requests without it; this is
/// the same answer should it ever be reached.
fn required<T>(member: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// An integer member for an engine input of type `u32`. The model's minimum (checked by the
/// validator) is at least 0 for every member read this way.
fn unsigned(member: &str, v: Option<i64>) -> Result<Option<u32>, ApiError> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at '{member}' failed to satisfy constraint: Member must \
                 have value greater than or equal to 0"
            ))
        })
    })
    .transpose()
}

/// An enum member (the validator has checked the value is in the model's set).
fn enumeration<T: Copy>(member: &str, v: Option<String>, values: &[(&'static str, T)]) -> Result<Option<T>, ApiError> {
    let Some(s) = v else { return Ok(None) };
    match values.iter().find(|(name, _)| *name == s) {
        Some((_, t)) => Ok(Some(*t)),
        None => {
            let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
            Err(ApiError::validation(format!(
                "1 validation error detected: Value '{s}' at '{member}' failed to satisfy constraint: Member must \
                 satisfy enum value set: [{}]",
                names.join(", ")
            )))
        }
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

const STREAM_MODES: &[(&str, StreamMode)] =
    &[("PROVISIONED", StreamMode::Provisioned), ("ON_DEMAND", StreamMode::OnDemand)];

const SHARD_FILTER_TYPES: &[(&str, ShardFilterType)] = &[
    ("AFTER_SHARD_ID", ShardFilterType::AfterShardId),
    ("AT_TRIM_HORIZON", ShardFilterType::AtTrimHorizon),
    ("FROM_TRIM_HORIZON", ShardFilterType::FromTrimHorizon),
    ("AT_LATEST", ShardFilterType::AtLatest),
    ("AT_TIMESTAMP", ShardFilterType::AtTimestamp),
    ("FROM_TIMESTAMP", ShardFilterType::FromTimestamp),
];

const SCALING_TYPES: &[(&str, ScalingType)] = &[("UNIFORM_SCALING", ScalingType::UniformScaling)];

fn api<T>(r: shardlog::Result<T>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::from_engine(&e))
}

/// Missing `PartitionKey`s, reported like required members (see the module doc).
#[derive(Default)]
struct MissingKeys {
    total: usize,
    items: Vec<String>,
}

impl MissingKeys {
    fn push(&mut self, member: impl FnOnce() -> String) {
        self.total += 1;
        if self.items.len() < validate::MAX_ITEMS {
            self.items
                .push(format!("Value null at '{}' failed to satisfy constraint: Member must not be null", member()));
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.total == 0 {
            return Ok(());
        }
        let plural = if self.total == 1 { "" } else { "s" };
        Err(ApiError::validation(format!(
            "{} validation error{plural} detected: {}",
            self.total,
            self.items.join("; ")
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Output conversions.

fn s(v: impl Into<String>) -> Out {
    Out::Str(v.into())
}

fn opt_push(members: &mut Vec<(&'static str, Out)>, name: &'static str, v: Option<Out>) {
    if let Some(v) = v {
        members.push((name, v));
    }
}

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

fn stream_mode(m: StreamMode) -> Out {
    Out::Map(vec![("StreamMode", Out::Static(m.as_str()))])
}

fn enhanced_monitoring() -> Out {
    Out::List(vec![Out::Map(vec![("ShardLevelMetrics", Out::List(Vec::new()))])])
}

/// A record as GetRecords and SubscribeToShard events show it.
pub fn record(r: &KinesisRecord) -> Out {
    Out::Map(vec![
        ("SequenceNumber", s(r.sequence_number.to_string())),
        ("ApproximateArrivalTimestamp", Out::Time(r.approximate_arrival_timestamp.as_millis())),
        ("Data", Out::Blob(r.data.clone())),
        ("PartitionKey", s(r.partition_key.clone())),
    ])
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

fn consumer(c: &Consumer) -> Out {
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
            Ok(Out::Map(vec![(
                "StreamDescriptionSummary",
                Out::Map(vec![
                    ("StreamName", s(d.stream_name)),
                    ("StreamARN", s(d.stream_arn)),
                    ("StreamStatus", Out::Static(d.stream_status.as_str())),
                    ("StreamModeDetails", stream_mode(d.stream_mode)),
                    ("RetentionPeriodHours", Out::Int(i64::from(d.retention_period_hours))),
                    ("StreamCreationTimestamp", Out::Time(d.stream_creation_timestamp.as_millis())),
                    ("EnhancedMonitoring", enhanced_monitoring()),
                    ("EncryptionType", Out::Static(d.encryption_type)),
                    ("OpenShardCount", Out::Int(i64::from(d.open_shard_count))),
                    ("ConsumerCount", Out::Int(i64::from(d.consumer_count))),
                    ("MaxRecordSizeInKiB", Out::Int(i64::from(d.max_record_size_in_kib))),
                ]),
            )]))
        }
        Op::DescribeLimits => {
            let l = api(engine.describe_limits())?;
            Ok(Out::Map(vec![
                ("ShardLimit", Out::Int(i64::from(l.shard_limit))),
                ("OpenShardCount", Out::Int(i64::from(l.open_shard_count))),
                ("OnDemandStreamCount", Out::Int(i64::from(l.on_demand_stream_count))),
                ("OnDemandStreamCountLimit", Out::Int(i64::from(l.on_demand_stream_count_limit))),
            ]))
        }
        Op::UpdateMaxRecordSize => {
            // The model names the stream by `StreamARN` only (`StreamId` is reserved).
            let stream_arn = m.string("StreamARN")?;
            let kib = unsigned("maxRecordSizeInKiB", m.int("MaxRecordSizeInKiB")?)?;
            let stream = StreamRef { stream_name: None, stream_arn };
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
            let tags = out
                .tags
                .into_iter()
                .map(|t| {
                    let mut tm = vec![("Key", s(t.key))];
                    opt_push(&mut tm, "Value", t.value.map(Out::Str));
                    Out::Map(tm)
                })
                .collect();
            Ok(Out::Map(vec![("Tags", Out::List(tags)), ("HasMoreTags", Out::Bool(out.has_more_tags))]))
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
            let _tags = m.string_map("Tags")?;
            let out =
                api(engine
                    .register_stream_consumer(RegisterStreamConsumerInput { stream_arn: arn, consumer_name: name }))?;
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
            let out = api(engine.list_stream_consumers(ListStreamConsumersInput {
                stream_arn: arn,
                next_token,
                max_results: max,
                stream_creation_timestamp: created,
            }))?;
            let mut members = vec![("Consumers", Out::List(out.consumers.iter().map(consumer).collect()))];
            opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
            Ok(Out::Map(members))
        }
        Op::SubscribeToShard => {
            // Served as an event stream by the caller; never reached through `call`.
            Err(ApiError::unknown_operation())
        }
    }
}

fn consumer_ref(m: &mut Members) -> Result<ConsumerRef, ApiError> {
    Ok(ConsumerRef {
        consumer_arn: m.string("ConsumerARN")?,
        consumer_name: m.string("ConsumerName")?,
        stream_arn: m.string("StreamARN")?,
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
    api(engine.create_stream(CreateStreamInput {
        stream_name: name,
        shard_count,
        stream_mode,
        tags: tags.unwrap_or_default(),
        max_record_size_in_kib: max_kib,
    }))?;
    Ok(Out::empty())
}

fn describe_stream(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let start = m.string("ExclusiveStartShardId")?;
    let limit = unsigned("limit", m.int("Limit")?)?;
    let stream = m.stream_ref()?;
    let d = api(engine.describe_stream(DescribeStreamInput { stream, limit, exclusive_start_shard_id: start }))?;
    Ok(Out::Map(vec![(
        "StreamDescription",
        Out::Map(vec![
            ("StreamName", s(d.stream_name)),
            ("StreamARN", s(d.stream_arn)),
            ("StreamStatus", Out::Static(d.stream_status.as_str())),
            ("StreamModeDetails", stream_mode(d.stream_mode)),
            ("Shards", Out::List(d.shards.iter().map(shard).collect())),
            ("HasMoreShards", Out::Bool(d.has_more_shards)),
            ("RetentionPeriodHours", Out::Int(i64::from(d.retention_period_hours))),
            ("StreamCreationTimestamp", Out::Time(d.stream_creation_timestamp.as_millis())),
            ("EnhancedMonitoring", enhanced_monitoring()),
            ("EncryptionType", Out::Static(d.encryption_type)),
        ]),
    )]))
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

/// `EncryptionType` of a put: AWS leaves it out for unencrypted streams.
fn push_encryption(members: &mut Vec<(&'static str, Out)>, encryption_type: &'static str) {
    if encryption_type != "NONE" {
        members.push(("EncryptionType", Out::Static(encryption_type)));
    }
}

fn put_record(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let data = m.blob("Data")?;
    let ehk = m.string("ExplicitHashKey")?;
    let key = m.string("PartitionKey")?;
    let ordering = m.string("SequenceNumberForOrdering")?;
    let stream = m.stream_ref()?;
    let mut missing = MissingKeys::default();
    if key.is_none() {
        missing.push(|| "partitionKey".to_string());
    }
    missing.finish()?;
    let out = api(engine.put_record(PutRecordInput {
        stream,
        data: required("data", data)?,
        partition_key: required("partitionKey", key)?,
        explicit_hash_key: ehk,
        sequence_number_for_ordering: ordering,
    }))?;
    let mut members = vec![("ShardId", s(out.shard_id)), ("SequenceNumber", s(out.sequence_number.to_string()))];
    push_encryption(&mut members, out.encryption_type);
    Ok(Out::Map(members))
}

fn put_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let records = required("records", m.list("Records")?)?;
    let stream = m.stream_ref()?;
    let mut entries = Vec::with_capacity(records.len());
    let mut missing = MissingKeys::default();
    for (i, item) in records.into_iter().enumerate() {
        if item == In::Null {
            continue;
        }
        let mut e = Members { codec: m.codec, map: to_structure(m.codec, item)? };
        let data = e.blob("Data")?;
        let explicit_hash_key = e.string("ExplicitHashKey")?;
        let key = e.string("PartitionKey")?;
        if key.is_none() {
            missing.push(|| format!("records.{}.member.partitionKey", i + 1));
        }
        entries.push(PutRecordsRequestEntry {
            data: required("data", data)?,
            partition_key: key.unwrap_or_default(),
            explicit_hash_key,
        });
    }
    missing.finish()?;
    let out = api(engine.put_records(PutRecordsInput { stream, records: entries }))?;
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
    let out = api(engine.get_shard_iterator(GetShardIteratorInput {
        stream,
        shard_id,
        shard_iterator_type: required("shardIteratorType", kind)?,
        starting_sequence_number: start,
        timestamp,
    }))?;
    Ok(Out::Map(vec![("ShardIterator", s(out.shard_iterator))]))
}

fn get_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let limit = unsigned("limit", m.int("Limit")?)?;
    let iterator = required("shardIterator", m.string("ShardIterator")?)?;
    let stream_arn = m.string("StreamARN")?;
    let out = api(engine.get_records(GetRecordsInput { shard_iterator: iterator, limit, stream_arn }))?;
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
    let mut p = required("startingPosition", m.sub("StartingPosition")?)?;
    let sequence_number = p.string("SequenceNumber")?;
    let timestamp = p.timestamp("Timestamp")?;
    let position_type = enumeration("startingPosition.type", p.string("Type")?, ITERATOR_TYPES)?;
    let starting_position = StartingPosition {
        position_type: required("startingPosition.type", position_type)?,
        sequence_number,
        timestamp,
    };
    Ok(SubscribeToShardInput { consumer_arn, shard_id, starting_position })
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
