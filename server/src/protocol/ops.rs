//! The operation table: `X-Amz-Target` → engine call, request members → engine input
//! structs, engine outputs → response members.
//!
//! Each operation first reads every member it knows with its model type (a wrong type is a
//! `SerializationException` with the deserializer's message, as Kinesis words it), then
//! checks what the engine's typed inputs cannot express — required members (`Value null at
//! '<member>' failed to satisfy constraint: Member must not be null`), enum values and
//! negative integers — collecting every violation into one `ValidationException`; the engine
//! validates the rest (names, patterns, lengths, ranges) with Kinesis' messages. Members the
//! engine does not model (`StreamId`, `WarmThroughputMiBps`, consumer `Tags`) are accepted
//! and ignored, as are unknown members.

use std::collections::BTreeMap;

use bytes::Bytes;
use shardlog::engine::types::*;
use shardlog::kinesis::{Constraint, ValidationErrors};
use shardlog::Engine;

use super::errors::ApiError;
use super::wire::{decode_base64, Codec, In, Out};
use super::{channels, resources, settings};

/// Every operation served: the 45 operations of the Kinesis model except the queue
/// operations (a later issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `AddTagsToStream`.
    AddTagsToStream,
    /// `CreateChannel`.
    CreateChannel,
    /// `CreateStream`.
    CreateStream,
    /// `DecreaseStreamRetentionPeriod`.
    DecreaseStreamRetentionPeriod,
    /// `DeleteChannel`.
    DeleteChannel,
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
    /// `RegisterStreamConsumer`.
    RegisterStreamConsumer,
    /// `RemoveTagsFromStream`.
    RemoveTagsFromStream,
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
    /// `UpdateMaxRecordSize`.
    UpdateMaxRecordSize,
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
}

// ---------------------------------------------------------------------------------------
// Reading members with Kinesis' deserializer errors.

const LIST_NOT_EXPECTED: &str = "Start of list found where not expected";
const MAP_NOT_EXPECTED: &str = "Start of structure or map found where not expected.";
const NUMBER_CLASS: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";

fn ser(msg: impl Into<String>) -> ApiError {
    ApiError::serialization(msg)
}

/// Strip CBOR tags other than where a timestamp is read.
fn untag(v: In) -> In {
    match v {
        In::Tag(_, inner) => untag(*inner),
        v => v,
    }
}

fn to_string(v: In) -> Result<String, ApiError> {
    match untag(v) {
        In::Str(s) => Ok(s),
        In::Bool(_) => Err(ser("class java.lang.Boolean can not be converted to an String")),
        In::Int(_) | In::Float(_) => Err(ser(format!("{NUMBER_CLASS} can not be converted to an String"))),
        In::Bytes(_) => Err(ser("class java.nio.HeapByteBuffer can not be converted to an String")),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        In::Null | In::Tag(..) => Err(ser("null can not be converted to an String")),
    }
}

/// An `Integer` member: fractions are truncated towards −∞ and values above 2^31−1 clamped,
/// as Kinesis' deserializer does.
fn to_int(v: In) -> Result<i64, ApiError> {
    const MAX: i128 = i32::MAX as i128;
    match untag(v) {
        In::Int(i) => Ok(i.min(MAX).max(i128::from(i64::MIN)) as i64),
        In::Float(f) => Ok((f.floor().min(MAX as f64)) as i64),
        In::Bool(_) => Err(ser("class java.lang.Boolean can not be converted to an Integer")),
        In::Str(_) => Err(ser("class java.lang.String can not be converted to an Integer")),
        In::Bytes(_) => Err(ser("class java.nio.HeapByteBuffer can not be converted to an Integer")),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        In::Null | In::Tag(..) => Err(ser("null can not be converted to an Integer")),
    }
}

fn to_bool(v: In) -> Result<bool, ApiError> {
    match untag(v) {
        In::Bool(b) => Ok(b),
        In::Int(_) | In::Float(_) => Err(ser(format!("{NUMBER_CLASS} can not be converted to an Boolean"))),
        In::Str(s) => Err(ser(format!("'{}' can not be converted to an Boolean", s.to_uppercase()))),
        In::Bytes(_) => Err(ser("class java.nio.HeapByteBuffer can not be converted to an Boolean")),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        In::Null | In::Tag(..) => Err(ser("null can not be converted to an Boolean")),
    }
}

fn to_blob(v: In) -> Result<Bytes, ApiError> {
    match untag(v) {
        In::Bytes(b) => Ok(Bytes::from(b)),
        In::Str(s) => decode_base64(&s).map(Bytes::from).map_err(ser),
        In::Bool(_) => Err(ser("class java.lang.Boolean can not be converted to a Blob")),
        In::Int(_) | In::Float(_) => Err(ser(format!("{NUMBER_CLASS} can not be converted to a Blob"))),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        In::Null | In::Tag(..) => Err(ser("null can not be converted to a Blob")),
    }
}

/// A timestamp: JSON epoch seconds (any number form), CBOR tag 1 around epoch milliseconds
/// (an untagged CBOR number is taken as milliseconds too).
fn to_timestamp(codec: Codec, v: In) -> Result<Timestamp, ApiError> {
    let (v, per_unit) = match (codec, v) {
        (Codec::Cbor, In::Tag(_, inner)) => (untag(*inner), 1),
        (Codec::Cbor, v) => (v, 1),
        (Codec::Json, v) => (v, 1000),
    };
    match v {
        In::Int(i) => {
            let ms = i.saturating_mul(per_unit);
            Ok(Timestamp(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
        }
        In::Float(f) => Ok(Timestamp((f * per_unit as f64).round() as i64)),
        In::Bool(_) => Err(ser("class java.lang.Boolean can not be converted to milliseconds since epoch")),
        In::Str(_) => Err(ser("class java.lang.String can not be converted to milliseconds since epoch")),
        In::Bytes(_) => Err(ser("class java.nio.HeapByteBuffer can not be converted to milliseconds since epoch")),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        In::Null | In::Tag(..) => Err(ser("null can not be converted to milliseconds since epoch")),
    }
}

fn to_list(v: In) -> Result<Vec<In>, ApiError> {
    match untag(v) {
        In::List(items) => Ok(items),
        In::Map(_) => Err(ser(MAP_NOT_EXPECTED)),
        _ => Err(ser("Expected list or null")),
    }
}

fn to_map(v: In) -> Result<Vec<(String, In)>, ApiError> {
    match untag(v) {
        In::Map(m) => Ok(m),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        _ => Err(ser("Expected map or null")),
    }
}

/// The members of a structure, read once each.
pub struct Members {
    pub(crate) codec: Codec,
    map: Vec<(String, In)>,
}

impl Members {
    /// The members of a request body (which must be a structure).
    pub fn new(codec: Codec, body: In) -> Result<Members, ApiError> {
        match untag(body) {
            In::Map(map) => Ok(Members { codec, map }),
            In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
            _ => Err(ser("Expected a structure")),
        }
    }

    pub(crate) fn structure(codec: Codec, v: In) -> Result<Members, ApiError> {
        match untag(v) {
            In::Map(map) => Ok(Members { codec, map }),
            In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
            _ => Err(ser("Expected null")),
        }
    }

    /// Take a member (`None` when absent or null; the last one when repeated).
    pub(crate) fn take(&mut self, name: &str) -> Option<In> {
        let i = self.map.iter().rposition(|(k, _)| k == name)?;
        match self.map.swap_remove(i).1 {
            In::Null => None,
            v => Some(v),
        }
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        self.take(name).map(to_string).transpose()
    }

    pub(crate) fn int(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        self.take(name).map(to_int).transpose()
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        self.take(name).map(to_bool).transpose()
    }

    pub(crate) fn blob(&mut self, name: &str) -> Result<Option<Bytes>, ApiError> {
        self.take(name).map(to_blob).transpose()
    }

    pub(crate) fn timestamp(&mut self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_timestamp(codec, v)).transpose()
    }

    pub(crate) fn list(&mut self, name: &str) -> Result<Option<Vec<In>>, ApiError> {
        self.take(name).map(to_list).transpose()
    }

    pub(crate) fn string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.list(name)?.map(|items| items.into_iter().filter(|v| *v != In::Null).map(to_string).collect()).transpose()
    }

    pub(crate) fn string_map(&mut self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let Some(m) = self.take(name).map(to_map).transpose()? else { return Ok(None) };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            if v != In::Null {
                out.insert(k, to_string(v)?);
            }
        }
        Ok(Some(out))
    }

    pub(crate) fn sub(&mut self, name: &str) -> Result<Option<Members>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| Members::structure(codec, v)).transpose()
    }

    pub(crate) fn stream_ref(&mut self) -> Result<StreamRef, ApiError> {
        let stream_arn = self.string("StreamARN")?;
        let stream_name = self.string("StreamName")?;
        let stream_id = self.string("StreamId")?;
        Ok(StreamRef { stream_name, stream_arn, stream_id })
    }
}

// ---------------------------------------------------------------------------------------
// Validation of what the engine's typed inputs cannot express.

/// Violations found before the engine is called.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) errs: ValidationErrors,
}

impl Checks {
    /// A required member: records `Member must not be null` when absent.
    pub(crate) fn required<T>(&mut self, member: &str, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.errs.null(member);
        }
        v
    }

    /// An integer member with model minimum `min`, for an engine input of type `u32`: a value
    /// below the minimum is reported here (the engine cannot see negatives); the rest of
    /// its range is checked by the engine.
    pub(crate) fn int(&mut self, member: &str, v: Option<i64>, min: i64) -> Option<u32> {
        let v = v?;
        if v < min {
            self.errs.push(member, v, Constraint::MinValue(i128::from(min)));
            return None;
        }
        u32::try_from(v).ok()
    }

    /// An enum member.
    pub(crate) fn enumeration<T: Copy>(
        &mut self,
        member: &str,
        v: Option<String>,
        values: &[(&'static str, T)],
    ) -> Option<T> {
        let s = v?;
        match values.iter().find(|(name, _)| *name == s) {
            Some((_, t)) => Some(*t),
            None => {
                let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                self.errs.push(member, &s, Constraint::EnumValue(&names));
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        self.errs.into_result().map_err(|e| ApiError::validation(e.to_string()))
    }
}

/// `ShardIteratorType` / `StartingPosition.Type`, in the model's order.
const ITERATOR_TYPES: &[(&str, ShardIteratorType)] = &[
    ("AFTER_SEQUENCE_NUMBER", ShardIteratorType::AfterSequenceNumber),
    ("LATEST", ShardIteratorType::Latest),
    ("AT_TIMESTAMP", ShardIteratorType::AtTimestamp),
    ("AT_SEQUENCE_NUMBER", ShardIteratorType::AtSequenceNumber),
    ("TRIM_HORIZON", ShardIteratorType::TrimHorizon),
];

pub(crate) const STREAM_MODES: &[(&str, StreamMode)] =
    &[("PROVISIONED", StreamMode::Provisioned), ("ON_DEMAND", StreamMode::OnDemand)];

/// `RecordDistributionStrategy`, in the model's order.
pub(crate) const DISTRIBUTIONS: &[(&str, RecordDistribution)] =
    &[("AUTO", RecordDistribution::Auto), ("USER_PARTITION_KEY", RecordDistribution::UserPartitionKey)];

const SHARD_FILTER_TYPES: &[(&str, ShardFilterType)] = &[
    ("AFTER_SHARD_ID", ShardFilterType::AfterShardId),
    ("AT_TRIM_HORIZON", ShardFilterType::AtTrimHorizon),
    ("FROM_TRIM_HORIZON", ShardFilterType::FromTrimHorizon),
    ("AT_LATEST", ShardFilterType::AtLatest),
    ("AT_TIMESTAMP", ShardFilterType::AtTimestamp),
    ("FROM_TIMESTAMP", ShardFilterType::FromTimestamp),
];

const SCALING_TYPES: &[(&str, ScalingType)] = &[("UNIFORM_SCALING", ScalingType::UniformScaling)];

pub(crate) fn api<T>(r: shardlog::Result<T>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::from_engine(&e))
}

// ---------------------------------------------------------------------------------------
// Output conversions.

pub(crate) fn s(v: impl Into<String>) -> Out {
    Out::Str(v.into())
}

pub(crate) fn opt_push(members: &mut Vec<(&'static str, Out)>, name: &'static str, v: Option<Out>) {
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

pub(crate) fn stream_mode(m: StreamMode) -> Out {
    Out::Map(vec![("StreamMode", Out::Static(m.as_str()))])
}

pub(crate) fn metrics_list(m: &[ShardMetric]) -> Out {
    Out::List(m.iter().map(|x| Out::Static(x.as_str())).collect())
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

/// Run `op` (any but `SubscribeToShard`) on `engine` with the decoded request `body`.
pub fn call(engine: &Engine, op: Op, codec: Codec, body: In) -> Result<Out, ApiError> {
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
            // The model names the stream by `StreamARN` only (`StreamId` is reserved).
            let stream_arn = m.string("StreamARN")?;
            let stream_id = m.string("StreamId")?;
            let kib = m.int("MaxRecordSizeInKiB")?;
            let mut c = Checks::default();
            let kib = c.required("maxRecordSizeInKiB", kib);
            let kib = c.int("maxRecordSizeInKiB", kib, 1024);
            c.finish()?;
            let stream = StreamRef { stream_name: None, stream_arn, stream_id };
            api(engine.update_max_record_size(stream, kib.unwrap_or_default()))?;
            Ok(Out::empty())
        }
        Op::ListStreams => list_streams(engine, &mut m),
        Op::ListShards => list_shards(engine, &mut m),
        Op::AddTagsToStream => {
            let stream = m.stream_ref()?;
            let tags = m.string_map("Tags")?;
            let mut c = Checks::default();
            let tags = c.required("tags", tags);
            c.finish()?;
            api(engine.add_tags_to_stream(AddTagsToStreamInput { stream, tags: tags.unwrap_or_default() }))?;
            Ok(Out::empty())
        }
        Op::RemoveTagsFromStream => {
            let stream = m.stream_ref()?;
            let keys = m.string_list("TagKeys")?;
            let mut c = Checks::default();
            let keys = c.required("tagKeys", keys);
            c.finish()?;
            api(engine
                .remove_tags_from_stream(RemoveTagsFromStreamInput { stream, tag_keys: keys.unwrap_or_default() }))?;
            Ok(Out::empty())
        }
        Op::ListTagsForStream => {
            let stream = m.stream_ref()?;
            let start = m.string("ExclusiveStartTagKey")?;
            let limit = m.int("Limit")?;
            let mut c = Checks::default();
            let limit = c.int("limit", limit, 1);
            c.finish()?;
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
            let key = m.string("NewStartingHashKey")?;
            let shard = m.string("ShardToSplit")?;
            let mut c = Checks::default();
            let key = c.required("newStartingHashKey", key);
            let shard = c.required("shardToSplit", shard);
            c.finish()?;
            api(engine.split_shard(SplitShardInput {
                stream,
                shard_to_split: shard.unwrap_or_default(),
                new_starting_hash_key: key.unwrap_or_default(),
            }))?;
            Ok(Out::empty())
        }
        Op::MergeShards => {
            let stream = m.stream_ref()?;
            let adjacent = m.string("AdjacentShardToMerge")?;
            let shard = m.string("ShardToMerge")?;
            let mut c = Checks::default();
            let shard = c.required("shardToMerge", shard);
            let adjacent = c.required("adjacentShardToMerge", adjacent);
            c.finish()?;
            api(engine.merge_shards(MergeShardsInput {
                stream,
                shard_to_merge: shard.unwrap_or_default(),
                adjacent_shard_to_merge: adjacent.unwrap_or_default(),
            }))?;
            Ok(Out::empty())
        }
        Op::UpdateShardCount => {
            let stream = m.stream_ref()?;
            let scaling = m.string("ScalingType")?;
            let target = m.int("TargetShardCount")?;
            let mut c = Checks::default();
            let scaling = c.required("scalingType", scaling);
            let scaling = c.enumeration("scalingType", scaling, SCALING_TYPES);
            let target = c.required("targetShardCount", target);
            let target = c.int("targetShardCount", target, 1);
            c.finish()?;
            let out = api(engine.update_shard_count(UpdateShardCountInput {
                stream,
                target_shard_count: target.unwrap_or_default(),
                scaling_type: scaling.unwrap_or_default(),
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
            let hours = m.int("RetentionPeriodHours")?;
            let mut c = Checks::default();
            let hours = c.required("retentionPeriodHours", hours);
            let hours = c.int("retentionPeriodHours", hours, 1);
            c.finish()?;
            let input = RetentionPeriodInput { stream, retention_period_hours: hours.unwrap_or_default() };
            if op == Op::IncreaseStreamRetentionPeriod {
                api(engine.increase_stream_retention_period(input))?;
            } else {
                api(engine.decrease_stream_retention_period(input))?;
            }
            Ok(Out::empty())
        }
        Op::RegisterStreamConsumer => {
            let name = m.string("ConsumerName")?;
            let arn = m.string("StreamARN")?;
            let stream_id = m.string("StreamId")?;
            let tags = m.string_map("Tags")?;
            let mut c = Checks::default();
            let name = c.required("consumerName", name);
            let arn = c.required("streamARN", arn);
            c.finish()?;
            let out = api(engine.register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: arn.unwrap_or_default(),
                consumer_name: name.unwrap_or_default(),
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
            let max = m.int("MaxResults")?;
            let next_token = m.string("NextToken")?;
            let arn = m.string("StreamARN")?;
            let created = m.timestamp("StreamCreationTimestamp")?;
            let stream_id = m.string("StreamId")?;
            let mut c = Checks::default();
            let max = c.int("maxResults", max, 1);
            let arn = c.required("streamARN", arn);
            c.finish()?;
            let out = api(engine.list_stream_consumers(ListStreamConsumersInput {
                stream_arn: arn.unwrap_or_default(),
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
        Op::DescribeAccountSettings => settings::describe_account_settings(engine, &mut m),
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
    let max_kib = m.int("MaxRecordSizeInKiB")?;
    let shard_count = m.int("ShardCount")?;
    let name = m.string("StreamName")?;
    let mode = match m.sub("StreamModeDetails")? {
        Some(mut d) => Some(d.string("StreamMode")?),
        None => None,
    };
    let tags = m.string_map("Tags")?;
    let warm = m.int("WarmThroughputMiBps")?;
    let distribution = m.string("RecordDistributionStrategy")?;
    let mut c = Checks::default();
    let max_kib = c.int("maxRecordSizeInKiB", max_kib, 1024);
    let shard_count = c.int("shardCount", shard_count, 1);
    let name = c.required("streamName", name);
    let stream_mode = match mode {
        Some(mode) => {
            let mode = c.required("streamModeDetails.streamMode", mode);
            c.enumeration("streamModeDetails.streamMode", mode, STREAM_MODES)
        }
        None => None,
    };
    let warm = c.int("warmThroughputMiBps", warm, 0);
    let distribution = c.enumeration("recordDistributionStrategy", distribution, DISTRIBUTIONS);
    c.finish()?;
    api(engine.create_stream(CreateStreamInput {
        stream_name: name.unwrap_or_default(),
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
    let limit = m.int("Limit")?;
    let stream = m.stream_ref()?;
    let mut c = Checks::default();
    let limit = c.int("limit", limit, 1);
    c.finish()?;
    let d = api(engine.describe_stream(DescribeStreamInput { stream, limit, exclusive_start_shard_id: start }))?;
    let key_id = d.key_id.clone();
    let out = Out::Map(vec![(
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
            ("EnhancedMonitoring", enhanced_monitoring(&d.enhanced_monitoring)),
            ("EncryptionType", Out::Static(d.encryption_type.as_str())),
        ]),
    )]);
    Ok(with_key_id(out, key_id))
}

/// Add `KeyId` to a `StreamDescription` of an encrypted stream.
fn with_key_id(out: Out, key_id: Option<String>) -> Out {
    match (out, key_id) {
        (Out::Map(mut top), Some(k)) => {
            if let Some((_, Out::Map(d))) = top.first_mut() {
                d.push(("KeyId", Out::Str(k)));
            }
            Out::Map(top)
        }
        (out, _) => out,
    }
}

fn list_streams(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let start = m.string("ExclusiveStartStreamName")?;
    let limit = m.int("Limit")?;
    let next_token = m.string("NextToken")?;
    let mut c = Checks::default();
    let limit = c.int("limit", limit, 1);
    c.finish()?;
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
    let max = m.int("MaxResults")?;
    let next_token = m.string("NextToken")?;
    let filter = match m.sub("ShardFilter")? {
        Some(mut f) => Some((f.string("ShardId")?, f.timestamp("Timestamp")?, f.string("Type")?)),
        None => None,
    };
    let created = m.timestamp("StreamCreationTimestamp")?;
    let stream = m.stream_ref()?;
    let mut c = Checks::default();
    let max = c.int("maxResults", max, 1);
    let shard_filter = match filter {
        Some((shard_id, timestamp, kind)) => {
            let kind = c.required("shardFilter.type", kind);
            c.enumeration("shardFilter.type", kind, SHARD_FILTER_TYPES).map(|filter_type| ShardFilter {
                filter_type,
                shard_id,
                timestamp,
            })
        }
        None => None,
    };
    c.finish()?;
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

fn put_record(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let data = m.blob("Data")?;
    let ehk = m.string("ExplicitHashKey")?;
    let key = m.string("PartitionKey")?;
    let ordering = m.string("SequenceNumberForOrdering")?;
    let stream = m.stream_ref()?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut c = Checks::default();
    let data = c.required("data", data);
    c.finish()?;
    // PartitionKey is optional in the model; the engine requires it on USER_PARTITION_KEY
    // streams with the model's old "must not be null" error.
    let out = api(engine.put_record(PutRecordInput {
        stream,
        data: data.unwrap_or_default(),
        partition_key: key,
        explicit_hash_key: ehk,
        sequence_number_for_ordering: ordering,
        dry_run,
    }))?;
    Ok(Out::Map(vec![
        ("ShardId", s(out.shard_id)),
        ("SequenceNumber", s(out.sequence_number.to_string())),
        ("EncryptionType", Out::Static(out.encryption_type.as_str())),
    ]))
}

fn put_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let records = m.list("Records")?;
    let stream = m.stream_ref()?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut c = Checks::default();
    let mut entries = Vec::new();
    if let Some(items) = c.required("records", records) {
        entries.reserve(items.len());
        let mut read = Vec::with_capacity(items.len());
        for item in items {
            if item == In::Null {
                continue;
            }
            let mut e = Members::structure(m.codec, item)?;
            read.push((e.blob("Data")?, e.string("ExplicitHashKey")?, e.string("PartitionKey")?));
        }
        for (i, (data, ehk, key)) in read.into_iter().enumerate() {
            if data.is_none() {
                c.errs.null(&format!("records.{}.member.data", i + 1));
            }
            entries.push(PutRecordsRequestEntry {
                data: data.unwrap_or_default(),
                partition_key: key,
                explicit_hash_key: ehk,
            });
        }
    }
    c.finish()?;
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
    Ok(Out::Map(vec![
        ("FailedRecordCount", Out::Int(i64::from(out.failed_record_count))),
        ("Records", Out::List(results)),
        ("EncryptionType", Out::Static(out.encryption_type.as_str())),
    ]))
}

fn get_shard_iterator(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let shard_id = m.string("ShardId")?;
    let kind = m.string("ShardIteratorType")?;
    let start = m.string("StartingSequenceNumber")?;
    let stream = m.stream_ref()?;
    let timestamp = m.timestamp("Timestamp")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut c = Checks::default();
    let shard_id = c.required("shardId", shard_id);
    let kind = c.required("shardIteratorType", kind);
    let kind = c.enumeration("shardIteratorType", kind, ITERATOR_TYPES);
    c.finish()?;
    let (Some(shard_id), Some(kind)) = (shard_id, kind) else { return Err(ApiError::internal()) };
    let out = api(engine.get_shard_iterator(GetShardIteratorInput {
        stream,
        shard_id,
        shard_iterator_type: kind,
        starting_sequence_number: start,
        timestamp,
        dry_run,
    }))?;
    Ok(Out::Map(vec![("ShardIterator", s(out.shard_iterator))]))
}

fn get_records(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let limit = m.int("Limit")?;
    let iterator = m.string("ShardIterator")?;
    let stream_arn = m.string("StreamARN")?;
    let stream_id = m.string("StreamId")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let mut c = Checks::default();
    let limit = c.int("limit", limit, 1);
    let iterator = c.required("shardIterator", iterator);
    c.finish()?;
    let out = api(engine.get_records(GetRecordsInput {
        shard_iterator: iterator.unwrap_or_default(),
        limit,
        stream_arn,
        stream_id,
        dry_run,
    }))?;
    let mut members = vec![("Records", Out::List(out.records.iter().map(record).collect()))];
    opt_push(&mut members, "NextShardIterator", out.next_shard_iterator.map(Out::Str));
    members.push(("MillisBehindLatest", Out::Int(out.millis_behind_latest)));
    opt_push(&mut members, "ChildShards", out.child_shards.as_deref().map(child_shards));
    Ok(Out::Map(members))
}

/// The `SubscribeToShard` input of a request body (type and required-member checks).
pub fn subscribe_input(codec: Codec, body: In) -> Result<SubscribeToShardInput, ApiError> {
    let mut m = Members::new(codec, body)?;
    let arn = m.string("ConsumerARN")?;
    let shard_id = m.string("ShardId")?;
    let stream_id = m.string("StreamId")?;
    let dry_run = m.boolean("DryRun")?.unwrap_or(false);
    let position = match m.sub("StartingPosition")? {
        Some(mut p) => Some((p.string("SequenceNumber")?, p.timestamp("Timestamp")?, p.string("Type")?)),
        None => None,
    };
    let mut c = Checks::default();
    let arn = c.required("consumerARN", arn);
    let shard_id = c.required("shardId", shard_id);
    let position = c.required("startingPosition", position).and_then(|(sequence_number, timestamp, kind)| {
        let kind = c.required("startingPosition.type", kind);
        c.enumeration("startingPosition.type", kind, ITERATOR_TYPES).map(|position_type| StartingPosition {
            position_type,
            sequence_number,
            timestamp,
        })
    });
    c.finish()?;
    let (Some(consumer_arn), Some(shard_id), Some(starting_position)) = (arn, shard_id, position) else {
        return Err(ApiError::internal());
    };
    Ok(SubscribeToShardInput { consumer_arn, shard_id, starting_position, stream_id, dry_run })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::decode_json;

    fn members(json: &str) -> Members {
        Members::new(Codec::Json, decode_json(json.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn targets_resolve() {
        assert_eq!(Op::from_target("Kinesis_20131202.PutRecords"), Some(Op::PutRecords));
        assert_eq!(Op::from_target("Kinesis_20131202.Nope"), None);
        assert_eq!(Op::from_target("DynamoDB_20120810.PutRecords"), None);
        for (op, name) in ALL {
            assert_eq!(op.name(), *name);
        }
    }

    #[test]
    fn type_errors_use_kinesis_wording() {
        let e = members(r#"{"StreamName": 5}"#).string("StreamName").unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert_eq!(
            e.message.as_deref(),
            Some("class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String")
        );
        let e = members(r#"{"ShardCount": "5"}"#).int("ShardCount").unwrap_err();
        assert_eq!(e.message.as_deref(), Some("class java.lang.String can not be converted to an Integer"));
        let e = members(r#"{"Records": {}}"#).list("Records").unwrap_err();
        assert_eq!(e.message.as_deref(), Some("Start of structure or map found where not expected."));
        let e = members(r#"{"Timestamp": "2020-01-01"}"#).timestamp("Timestamp").unwrap_err();
        assert_eq!(
            e.message.as_deref(),
            Some("class java.lang.String can not be converted to milliseconds since epoch")
        );
    }

    #[test]
    fn integers_truncate_and_clamp() {
        assert_eq!(members(r#"{"L": 2.9}"#).int("L").unwrap(), Some(2));
        assert_eq!(members(r#"{"L": 1e12}"#).int("L").unwrap(), Some(2_147_483_647));
        assert_eq!(members(r#"{"L": null}"#).int("L").unwrap(), None);
    }

    #[test]
    fn json_timestamps_accept_both_number_forms() {
        assert_eq!(members(r#"{"T": 1.547993531819E9}"#).timestamp("T").unwrap(), Some(Timestamp(1_547_993_531_819)));
        assert_eq!(members(r#"{"T": 1545084650.987}"#).timestamp("T").unwrap(), Some(Timestamp(1_545_084_650_987)));
        assert_eq!(members(r#"{"T": 1545084650}"#).timestamp("T").unwrap(), Some(Timestamp(1_545_084_650_000)));
    }

    #[test]
    fn validation_collects_every_violation() {
        let mut c = Checks::default();
        let _ = c.required::<String>("shardId", None);
        let _ = c.enumeration("shardIteratorType", Some("SOON".into()), ITERATOR_TYPES);
        let e = c.finish().unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message.as_deref(),
            Some(
                "2 validation errors detected: Value null at 'shardId' failed to satisfy constraint: Member must \
                 not be null; Value 'SOON' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy \
                 enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
            )
        );
    }
}
