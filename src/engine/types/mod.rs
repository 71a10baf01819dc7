//! Inputs and outputs of the engine's operations. Each mirrors the Kinesis request or
//! response of the same name, member for member in snake_case, so an emulator maps them 1:1.
//! Wire strings that Kinesis validates (stream names, shard ids, hash keys, sequence numbers)
//! are taken as strings and validated by the engine with Kinesis' errors.

mod channels;
mod queues;
mod resources;
mod settings;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use crate::catalog::RecordDistribution;
pub use crate::kinesis::{HashKeyRange, SequenceNumber};
pub use channels::*;
pub use queues::*;
pub use resources::*;
pub use settings::*;

/// A point in time: milliseconds since the Unix epoch (Kinesis' JSON shows it as seconds with
/// a fraction, CBOR as milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }
    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }
    /// Seconds since the epoch with a millisecond fraction (the JSON form).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// How a stream is named in a request: Kinesis accepts the name, the ARN, or both
/// (consistent), and optionally the `StreamId`.
///
/// `StreamId` is documented as "reserved for future use"; here it must match its pattern,
/// names the stream on its own when neither name nor ARN is given, and must belong to the
/// same stream when they are (`InvalidArgumentException` otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRef {
    /// `StreamName`.
    pub stream_name: Option<String>,
    /// `StreamARN`.
    pub stream_arn: Option<String>,
    /// `StreamId`.
    pub stream_id: Option<String>,
}

impl StreamRef {
    /// By name.
    pub fn name(name: impl Into<String>) -> StreamRef {
        StreamRef { stream_name: Some(name.into()), ..StreamRef::default() }
    }
    /// By ARN.
    pub fn arn(arn: impl Into<String>) -> StreamRef {
        StreamRef { stream_arn: Some(arn.into()), ..StreamRef::default() }
    }
    /// By `StreamId`.
    pub fn id(id: impl Into<String>) -> StreamRef {
        StreamRef { stream_id: Some(id.into()), ..StreamRef::default() }
    }
    /// True when neither a name, an ARN nor an id is given.
    pub fn is_empty(&self) -> bool {
        self.stream_name.is_none() && self.stream_arn.is_none() && self.stream_id.is_none()
    }
}

/// `StreamStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Being created (only with modelled delays).
    Creating,
    /// Being deleted (only with modelled delays).
    Deleting,
    /// Ready.
    Active,
    /// A reshard or other update is in progress (only with modelled delays).
    Updating,
}

impl StreamStatus {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Deleting => "DELETING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
        }
    }
}

/// `StreamModeDetails.StreamMode`.
pub use crate::catalog::StreamMode;

impl StreamMode {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        }
    }
}

/// `CreateStream` input.
#[derive(Debug, Clone, Default)]
pub struct CreateStreamInput {
    /// `StreamName`.
    pub stream_name: String,
    /// `ShardCount` (required for provisioned streams; on-demand default 4).
    pub shard_count: Option<u32>,
    /// `StreamModeDetails.StreamMode` (default provisioned).
    pub stream_mode: Option<StreamMode>,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
    /// `MaxRecordSizeInKiB` (1,024–10,240; default 1,024).
    pub max_record_size_in_kib: Option<u32>,
    /// `WarmThroughputMiBps` (on-demand streams of committed accounts).
    pub warm_throughput_mibps: Option<u32>,
    /// `RecordDistributionStrategy` (AUTO only for on-demand streams; default
    /// USER_PARTITION_KEY).
    pub record_distribution_strategy: Option<RecordDistribution>,
}

/// `DeleteStream` input.
#[derive(Debug, Clone, Default)]
pub struct DeleteStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `EnforceConsumerDeletion`.
    pub enforce_consumer_deletion: bool,
}

/// `Shard` in DescribeStream / ListShards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `ShardId`.
    pub shard_id: String,
    /// `ParentShardId`.
    pub parent_shard_id: Option<String>,
    /// `AdjacentParentShardId`.
    pub adjacent_parent_shard_id: Option<String>,
    /// `HashKeyRange`.
    pub hash_key_range: HashKeyRange,
    /// `SequenceNumberRange`.
    pub sequence_number_range: SequenceNumberRange,
}

/// `SequenceNumberRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceNumberRange {
    /// `StartingSequenceNumber`.
    pub starting_sequence_number: SequenceNumber,
    /// `EndingSequenceNumber` (closed shards only).
    pub ending_sequence_number: Option<SequenceNumber>,
}

/// `DescribeStream` input.
#[derive(Debug, Clone, Default)]
pub struct DescribeStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `Limit` (1–10,000, default 100).
    pub limit: Option<u32>,
    /// `ExclusiveStartShardId`.
    pub exclusive_start_shard_id: Option<String>,
}

/// `StreamDescription`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescription {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamStatus`.
    pub stream_status: StreamStatus,
    /// `StreamModeDetails.StreamMode`.
    pub stream_mode: StreamMode,
    /// `Shards`.
    pub shards: Vec<Shard>,
    /// `HasMoreShards`.
    pub has_more_shards: bool,
    /// `RetentionPeriodHours`.
    pub retention_period_hours: u32,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Timestamp,
    /// `EnhancedMonitoring[0].ShardLevelMetrics`.
    pub enhanced_monitoring: Vec<ShardMetric>,
    /// `EncryptionType`.
    pub encryption_type: EncryptionType,
    /// `KeyId` (encrypted streams).
    pub key_id: Option<String>,
}

/// `DescribeStreamSummary` output's `StreamDescriptionSummary`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDescriptionSummary {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamStatus`.
    pub stream_status: StreamStatus,
    /// `StreamModeDetails.StreamMode`.
    pub stream_mode: StreamMode,
    /// `RetentionPeriodHours`.
    pub retention_period_hours: u32,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Timestamp,
    /// `EnhancedMonitoring[0].ShardLevelMetrics`.
    pub enhanced_monitoring: Vec<ShardMetric>,
    /// `EncryptionType`.
    pub encryption_type: EncryptionType,
    /// `KeyId` (encrypted streams).
    pub key_id: Option<String>,
    /// `OpenShardCount`.
    pub open_shard_count: u32,
    /// `ConsumerCount` (enhanced fan-out consumers only).
    pub consumer_count: u32,
    /// `MaxRecordSizeInKiB`.
    pub max_record_size_in_kib: u32,
    /// `StreamId`.
    pub stream_id: String,
    /// `WarmThroughput` (on-demand streams of committed accounts).
    pub warm_throughput: Option<WarmThroughputObject>,
    /// `ChannelCount`.
    pub channel_count: u32,
    /// `QueueCount`: queues reading the stream.
    pub queue_count: u32,
    /// `RecordDistributionStrategy` (on-demand streams only).
    pub record_distribution_strategy: Option<RecordDistribution>,
}

/// `ListStreams` input.
#[derive(Debug, Clone, Default)]
pub struct ListStreamsInput {
    /// `Limit` (1–10,000, default 100).
    pub limit: Option<u32>,
    /// `ExclusiveStartStreamName`.
    pub exclusive_start_stream_name: Option<String>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// `StreamSummary` in ListStreams.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamStatus`.
    pub stream_status: StreamStatus,
    /// `StreamModeDetails.StreamMode`.
    pub stream_mode: StreamMode,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Timestamp,
}

/// `ListStreams` output.
#[derive(Debug, Clone, PartialEq)]
pub struct ListStreamsOutput {
    /// `StreamNames`.
    pub stream_names: Vec<String>,
    /// `HasMoreStreams`.
    pub has_more_streams: bool,
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `StreamSummaries`.
    pub stream_summaries: Vec<StreamSummary>,
}

/// `ShardFilter.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFilterType {
    /// Shards after `ShardId` (by index).
    AfterShardId,
    /// Shards open at the trim horizon (all listed shards).
    AtTrimHorizon,
    /// All listed shards.
    FromTrimHorizon,
    /// Open shards.
    AtLatest,
    /// Shards open at `Timestamp`.
    AtTimestamp,
    /// Shards open at or created after `Timestamp`.
    FromTimestamp,
}

/// `ShardFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFilter {
    /// `Type`.
    pub filter_type: ShardFilterType,
    /// `ShardId` (for `AFTER_SHARD_ID`).
    pub shard_id: Option<String>,
    /// `Timestamp` (for `AT_TIMESTAMP` / `FROM_TIMESTAMP`).
    pub timestamp: Option<Timestamp>,
}

/// `ListShards` input.
#[derive(Debug, Clone, Default)]
pub struct ListShardsInput {
    /// The stream (not with `next_token`).
    pub stream: StreamRef,
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `ExclusiveStartShardId`.
    pub exclusive_start_shard_id: Option<String>,
    /// `MaxResults` (1–10,000, default 1,000).
    pub max_results: Option<u32>,
    /// `StreamCreationTimestamp` (disambiguates re-created streams).
    pub stream_creation_timestamp: Option<Timestamp>,
    /// `ShardFilter`.
    pub shard_filter: Option<ShardFilter>,
}

/// `ListShards` output.
#[derive(Debug, Clone, PartialEq)]
pub struct ListShardsOutput {
    /// `Shards`.
    pub shards: Vec<Shard>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// `PutRecord` input.
#[derive(Debug, Clone, Default)]
pub struct PutRecordInput {
    /// The stream.
    pub stream: StreamRef,
    /// `Data`.
    pub data: Bytes,
    /// `PartitionKey`: required on USER_PARTITION_KEY streams, optional (and ignored for
    /// routing) on AUTO streams.
    pub partition_key: Option<String>,
    /// `ExplicitHashKey` (decimal string).
    pub explicit_hash_key: Option<String>,
    /// `SequenceNumberForOrdering`.
    pub sequence_number_for_ordering: Option<String>,
    /// `DryRun`: run every check, change nothing, answer `DryRunOperation` on success.
    pub dry_run: bool,
}

/// `PutRecord` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    /// `ShardId`.
    pub shard_id: String,
    /// `SequenceNumber`.
    pub sequence_number: SequenceNumber,
    /// `EncryptionType`.
    pub encryption_type: EncryptionType,
}

/// One entry of `PutRecords`.
#[derive(Debug, Clone, Default)]
pub struct PutRecordsRequestEntry {
    /// `Data`.
    pub data: Bytes,
    /// `PartitionKey` (required on USER_PARTITION_KEY streams).
    pub partition_key: Option<String>,
    /// `ExplicitHashKey` (decimal string).
    pub explicit_hash_key: Option<String>,
}

/// `PutRecords` input.
#[derive(Debug, Clone, Default)]
pub struct PutRecordsInput {
    /// The stream.
    pub stream: StreamRef,
    /// `Records` (1–500).
    pub records: Vec<PutRecordsRequestEntry>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// One result of `PutRecords`: a success or a per-entry failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsResultEntry {
    /// `SequenceNumber` (success).
    pub sequence_number: Option<SequenceNumber>,
    /// `ShardId` (success).
    pub shard_id: Option<String>,
    /// `ErrorCode` (failure: `ProvisionedThroughputExceededException` or `InternalFailure`).
    pub error_code: Option<String>,
    /// `ErrorMessage` (failure).
    pub error_message: Option<String>,
}

/// `PutRecords` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsOutput {
    /// `FailedRecordCount`.
    pub failed_record_count: u32,
    /// `Records`: one per request entry, same order.
    pub records: Vec<PutRecordsResultEntry>,
    /// `EncryptionType`.
    pub encryption_type: EncryptionType,
}

/// `ShardIteratorType` (and `StartingPosition.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardIteratorType {
    /// At a sequence number.
    AtSequenceNumber,
    /// Just after a sequence number.
    AfterSequenceNumber,
    /// The oldest retained record.
    TrimHorizon,
    /// Just after the newest record at the time of the call.
    Latest,
    /// The first record that arrived at or after a time.
    AtTimestamp,
}

impl ShardIteratorType {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardIteratorType::AtSequenceNumber => "AT_SEQUENCE_NUMBER",
            ShardIteratorType::AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
            ShardIteratorType::TrimHorizon => "TRIM_HORIZON",
            ShardIteratorType::Latest => "LATEST",
            ShardIteratorType::AtTimestamp => "AT_TIMESTAMP",
        }
    }
}

/// `GetShardIterator` input.
#[derive(Debug, Clone)]
pub struct GetShardIteratorInput {
    /// The stream.
    pub stream: StreamRef,
    /// `ShardId` (parsed leniently, as AWS does).
    pub shard_id: String,
    /// `ShardIteratorType`.
    pub shard_iterator_type: ShardIteratorType,
    /// `StartingSequenceNumber`.
    pub starting_sequence_number: Option<String>,
    /// `Timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `GetShardIterator` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetShardIteratorOutput {
    /// `ShardIterator`.
    pub shard_iterator: String,
}

/// `GetRecords` input.
#[derive(Debug, Clone, Default)]
pub struct GetRecordsInput {
    /// `ShardIterator`.
    pub shard_iterator: String,
    /// `Limit` (1–10,000, default 10,000).
    pub limit: Option<u32>,
    /// `StreamARN` (optional; must match the iterator's stream).
    pub stream_arn: Option<String>,
    /// `StreamId` (optional; must match the iterator's stream).
    pub stream_id: Option<String>,
    /// `DryRun`: the iterator is checked, nothing is read and no throughput is used.
    pub dry_run: bool,
}

/// A record returned by `GetRecords`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    /// `SequenceNumber`.
    pub sequence_number: SequenceNumber,
    /// `ApproximateArrivalTimestamp` (ms precision).
    pub approximate_arrival_timestamp: Timestamp,
    /// `Data` (zero-copy).
    pub data: Bytes,
    /// `PartitionKey` (empty when the producer sent none, on AUTO streams).
    pub partition_key: String,
    /// The explicit hash key the producer gave, if any (not a Kinesis member; kept for
    /// consumers that re-route).
    pub explicit_hash_key: Option<u128>,
    /// `EncryptionType`: KMS for records written while the stream was encrypted.
    pub encryption_type: EncryptionType,
}

/// `ChildShard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildShard {
    /// `ShardId`.
    pub shard_id: String,
    /// `ParentShards`.
    pub parent_shards: Vec<String>,
    /// `HashKeyRange`.
    pub hash_key_range: HashKeyRange,
}

/// `GetRecords` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRecordsOutput {
    /// `Records`.
    pub records: Vec<KinesisRecord>,
    /// `NextShardIterator` (absent once a closed shard is read to its end).
    pub next_shard_iterator: Option<String>,
    /// `MillisBehindLatest`.
    pub millis_behind_latest: i64,
    /// `ChildShards` (once a closed shard is read to its end).
    pub child_shards: Option<Vec<ChildShard>>,
}

/// `AddTagsToStream` input.
#[derive(Debug, Clone, Default)]
pub struct AddTagsToStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `Tags` (≤ 10 per call).
    pub tags: BTreeMap<String, String>,
}

/// `RemoveTagsFromStream` input.
#[derive(Debug, Clone, Default)]
pub struct RemoveTagsFromStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `TagKeys` (≤ 10 per call).
    pub tag_keys: Vec<String>,
}

/// `ListTagsForStream` input.
#[derive(Debug, Clone, Default)]
pub struct ListTagsForStreamInput {
    /// The stream.
    pub stream: StreamRef,
    /// `ExclusiveStartTagKey`.
    pub exclusive_start_tag_key: Option<String>,
    /// `Limit` (1–50, default 50).
    pub limit: Option<u32>,
}

/// `Tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// `Key`.
    pub key: String,
    /// `Value`.
    pub value: Option<String>,
}

/// `ListTagsForStream` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTagsForStreamOutput {
    /// `Tags`.
    pub tags: Vec<Tag>,
    /// `HasMoreTags`.
    pub has_more_tags: bool,
}

/// `SplitShard` input.
#[derive(Debug, Clone, Default)]
pub struct SplitShardInput {
    /// The stream.
    pub stream: StreamRef,
    /// `ShardToSplit`.
    pub shard_to_split: String,
    /// `NewStartingHashKey` (decimal string).
    pub new_starting_hash_key: String,
}

/// `MergeShards` input.
#[derive(Debug, Clone, Default)]
pub struct MergeShardsInput {
    /// The stream.
    pub stream: StreamRef,
    /// `ShardToMerge`.
    pub shard_to_merge: String,
    /// `AdjacentShardToMerge`.
    pub adjacent_shard_to_merge: String,
}

/// `UpdateShardCount.ScalingType` (only one value exists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScalingType {
    /// `UNIFORM_SCALING`.
    #[default]
    UniformScaling,
}

/// `UpdateShardCount` input.
#[derive(Debug, Clone, Default)]
pub struct UpdateShardCountInput {
    /// The stream.
    pub stream: StreamRef,
    /// `TargetShardCount`.
    pub target_shard_count: u32,
    /// `ScalingType`.
    pub scaling_type: ScalingType,
}

/// `UpdateShardCount` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateShardCountOutput {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// `CurrentShardCount` (open shards before the update).
    pub current_shard_count: u32,
    /// `TargetShardCount`.
    pub target_shard_count: u32,
}

/// `IncreaseStreamRetentionPeriod` / `DecreaseStreamRetentionPeriod` input.
#[derive(Debug, Clone, Default)]
pub struct RetentionPeriodInput {
    /// The stream.
    pub stream: StreamRef,
    /// `RetentionPeriodHours` (24–8,760).
    pub retention_period_hours: u32,
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_removed: usize,
    /// Bytes of segment files deleted.
    pub bytes_removed: u64,
    /// Closed shards whose data had all expired, removed from the catalog and from disk.
    pub shards_expired: usize,
}

/// `ConsumerStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStatus {
    /// Being registered (only with modelled delays).
    Creating,
    /// Being deregistered.
    Deleting,
    /// Ready.
    Active,
}

impl ConsumerStatus {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Creating => "CREATING",
            ConsumerStatus::Deleting => "DELETING",
            ConsumerStatus::Active => "ACTIVE",
        }
    }
}

/// `Consumer` (RegisterStreamConsumer, ListStreamConsumers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// `ConsumerName`.
    pub consumer_name: String,
    /// `ConsumerARN`.
    pub consumer_arn: String,
    /// `ConsumerStatus`.
    pub consumer_status: ConsumerStatus,
    /// `ConsumerCreationTimestamp`.
    pub consumer_creation_timestamp: Timestamp,
}

/// `ConsumerDescription` (DescribeStreamConsumer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerDescription {
    /// `ConsumerName`.
    pub consumer_name: String,
    /// `ConsumerARN`.
    pub consumer_arn: String,
    /// `ConsumerStatus`.
    pub consumer_status: ConsumerStatus,
    /// `ConsumerCreationTimestamp`.
    pub consumer_creation_timestamp: Timestamp,
    /// `StreamARN`.
    pub stream_arn: String,
}

/// `RegisterStreamConsumer` input.
#[derive(Debug, Clone, Default)]
pub struct RegisterStreamConsumerInput {
    /// `StreamARN` (required by Kinesis).
    pub stream_arn: String,
    /// `ConsumerName`.
    pub consumer_name: String,
    /// `StreamId` (optional; must match the stream).
    pub stream_id: Option<String>,
    /// `Tags` of the consumer.
    pub tags: BTreeMap<String, String>,
}

/// How Deregister/DescribeStreamConsumer name a consumer: its ARN, or the stream ARN and the
/// consumer name (or all three, consistent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerRef {
    /// `StreamARN`.
    pub stream_arn: Option<String>,
    /// `ConsumerName`.
    pub consumer_name: Option<String>,
    /// `ConsumerARN`.
    pub consumer_arn: Option<String>,
    /// `StreamId` (optional; must match the consumer's stream).
    pub stream_id: Option<String>,
}

/// `ListStreamConsumers` input.
#[derive(Debug, Clone, Default)]
pub struct ListStreamConsumersInput {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `MaxResults` (1–10,000, default 100).
    pub max_results: Option<u32>,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Option<Timestamp>,
    /// `StreamId` (optional; must match the stream).
    pub stream_id: Option<String>,
}

/// `ListStreamConsumers` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStreamConsumersOutput {
    /// `Consumers`.
    pub consumers: Vec<Consumer>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// `StartingPosition` of SubscribeToShard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartingPosition {
    /// `Type` (the five iterator types).
    pub position_type: ShardIteratorType,
    /// `SequenceNumber` (AT_/AFTER_SEQUENCE_NUMBER).
    pub sequence_number: Option<String>,
    /// `Timestamp` (AT_TIMESTAMP).
    pub timestamp: Option<Timestamp>,
}

/// `SubscribeToShard` input.
#[derive(Debug, Clone)]
pub struct SubscribeToShardInput {
    /// `ConsumerARN`.
    pub consumer_arn: String,
    /// `ShardId`.
    pub shard_id: String,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `StreamId` (optional; must match the consumer's stream).
    pub stream_id: Option<String>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `SubscribeToShardEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeToShardEvent {
    /// `Records`.
    pub records: Vec<KinesisRecord>,
    /// `ContinuationSequenceNumber`: where to resume (the last record's sequence number, or
    /// the current position when none flowed). Absent only in the final event of a closed
    /// shard, which carries `child_shards` instead.
    pub continuation_sequence_number: Option<SequenceNumber>,
    /// `MillisBehindLatest`.
    pub millis_behind_latest: i64,
    /// `ChildShards` (final event of a closed shard).
    pub child_shards: Option<Vec<ChildShard>>,
}

/// `DescribeLimits` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescribeLimitsOutput {
    /// `ShardLimit`: the account's shard quota.
    pub shard_limit: u32,
    /// `OpenShardCount`.
    pub open_shard_count: u32,
    /// `OnDemandStreamCount`.
    pub on_demand_stream_count: u32,
    /// `OnDemandStreamCountLimit`.
    pub on_demand_stream_count_limit: u32,
    /// `ChannelCount`.
    pub channel_count: u32,
    /// `ChannelCountLimit`.
    pub channel_count_limit: u32,
    /// Queues in the account (not a member of the Kinesis model's `DescribeLimits` output,
    /// so not sent on the wire; `QueueCount` per stream is in `DescribeStreamSummary`).
    pub queue_count: u32,
}
