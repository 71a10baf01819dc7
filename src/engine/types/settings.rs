//! Inputs and outputs of the account, capacity, encryption and monitoring operations.

use super::{StreamRef, Timestamp};
pub use crate::catalog::account::CommitmentStatus;
use crate::catalog::{RecordDistribution, StreamMode};

/// `EncryptionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptionType {
    /// `NONE`.
    #[default]
    None,
    /// `KMS`.
    Kms,
}

impl EncryptionType {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptionType::None => "NONE",
            EncryptionType::Kms => "KMS",
        }
    }
}

impl RecordDistribution {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordDistribution::UserPartitionKey => "USER_PARTITION_KEY",
            RecordDistribution::Auto => "AUTO",
        }
    }
}

/// One shard-level metric of enhanced monitoring (`MetricsName` without `ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShardMetric {
    /// `IncomingBytes`.
    IncomingBytes,
    /// `IncomingRecords`.
    IncomingRecords,
    /// `OutgoingBytes`.
    OutgoingBytes,
    /// `OutgoingRecords`.
    OutgoingRecords,
    /// `WriteProvisionedThroughputExceeded`.
    WriteProvisionedThroughputExceeded,
    /// `ReadProvisionedThroughputExceeded`.
    ReadProvisionedThroughputExceeded,
    /// `IteratorAgeMilliseconds`.
    IteratorAgeMilliseconds,
}

impl ShardMetric {
    /// Every metric, in the model's order (bit `i` of the stored set is `ALL[i]`).
    pub const ALL: [ShardMetric; 7] = [
        ShardMetric::IncomingBytes,
        ShardMetric::IncomingRecords,
        ShardMetric::OutgoingBytes,
        ShardMetric::OutgoingRecords,
        ShardMetric::WriteProvisionedThroughputExceeded,
        ShardMetric::ReadProvisionedThroughputExceeded,
        ShardMetric::IteratorAgeMilliseconds,
    ];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardMetric::IncomingBytes => "IncomingBytes",
            ShardMetric::IncomingRecords => "IncomingRecords",
            ShardMetric::OutgoingBytes => "OutgoingBytes",
            ShardMetric::OutgoingRecords => "OutgoingRecords",
            ShardMetric::WriteProvisionedThroughputExceeded => "WriteProvisionedThroughputExceeded",
            ShardMetric::ReadProvisionedThroughputExceeded => "ReadProvisionedThroughputExceeded",
            ShardMetric::IteratorAgeMilliseconds => "IteratorAgeMilliseconds",
        }
    }

    /// The bit of this metric in a stored set.
    pub fn bit(self) -> u8 {
        let i = ShardMetric::ALL.iter().position(|m| *m == self).unwrap_or(0);
        1 << i
    }

    /// The metrics of a stored set, in the model's order.
    pub fn from_bits(bits: u8) -> Vec<ShardMetric> {
        ShardMetric::ALL.iter().copied().filter(|m| bits & m.bit() != 0).collect()
    }
}

/// `MetricsName`: one metric or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsName {
    /// One metric.
    Metric(ShardMetric),
    /// `ALL`: the seven metrics.
    All,
}

impl MetricsName {
    /// Every value of the enum, in the model's order.
    pub const ALL: [MetricsName; 8] = [
        MetricsName::Metric(ShardMetric::IncomingBytes),
        MetricsName::Metric(ShardMetric::IncomingRecords),
        MetricsName::Metric(ShardMetric::OutgoingBytes),
        MetricsName::Metric(ShardMetric::OutgoingRecords),
        MetricsName::Metric(ShardMetric::WriteProvisionedThroughputExceeded),
        MetricsName::Metric(ShardMetric::ReadProvisionedThroughputExceeded),
        MetricsName::Metric(ShardMetric::IteratorAgeMilliseconds),
        MetricsName::All,
    ];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsName::Metric(m) => m.as_str(),
            MetricsName::All => "ALL",
        }
    }
}

/// `EnableEnhancedMonitoring` / `DisableEnhancedMonitoring` input.
#[derive(Debug, Clone, Default)]
pub struct EnhancedMonitoringInput {
    /// The stream.
    pub stream: StreamRef,
    /// `ShardLevelMetrics` (1–7 entries).
    pub shard_level_metrics: Vec<MetricsName>,
}

/// `EnhancedMonitoringOutput`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedMonitoringOutput {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// `CurrentShardLevelMetrics`: the set before the call.
    pub current_shard_level_metrics: Vec<ShardMetric>,
    /// `DesiredShardLevelMetrics`: the set after it.
    pub desired_shard_level_metrics: Vec<ShardMetric>,
}

/// `StartStreamEncryption` / `StopStreamEncryption` input.
#[derive(Debug, Clone, Default)]
pub struct StreamEncryptionInput {
    /// The stream.
    pub stream: StreamRef,
    /// `EncryptionType` (only `KMS` is accepted).
    pub encryption_type: EncryptionType,
    /// `KeyId`: a key GUID, key ARN, alias ARN, `alias/<name>` or `alias/aws/kinesis`.
    pub key_id: String,
}

/// `UpdateStreamMode` input.
#[derive(Debug, Clone)]
pub struct UpdateStreamModeInput {
    /// The stream (`StreamARN` on the wire).
    pub stream: StreamRef,
    /// `StreamModeDetails.StreamMode`.
    pub stream_mode: StreamMode,
    /// `WarmThroughputMiBps` (only when switching to on-demand).
    pub warm_throughput_mibps: Option<u32>,
}

/// `UpdateStreamWarmThroughput` input.
#[derive(Debug, Clone, Default)]
pub struct UpdateStreamWarmThroughputInput {
    /// The stream.
    pub stream: StreamRef,
    /// `WarmThroughputMiBps`.
    pub warm_throughput_mibps: u32,
}

/// `WarmThroughputObject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmThroughputObject {
    /// `TargetMiBps`: the value being scaled toward.
    pub target_mibps: u32,
    /// `CurrentMiBps`: the value reached (equals the target once the stream is `ACTIVE`).
    pub current_mibps: u32,
}

/// `UpdateStreamWarmThroughput` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStreamWarmThroughputOutput {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamName`.
    pub stream_name: String,
    /// `WarmThroughput`.
    pub warm_throughput: WarmThroughputObject,
}

/// `UpdateStreamRecordDistributionStrategy` input.
#[derive(Debug, Clone)]
pub struct UpdateStreamRecordDistributionStrategyInput {
    /// The stream (`StreamARN` on the wire).
    pub stream: StreamRef,
    /// `RecordDistributionStrategy`.
    pub record_distribution_strategy: RecordDistribution,
}

/// `MinimumThroughputBillingCommitmentOutput`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumThroughputBillingCommitment {
    /// `Status`.
    pub status: CommitmentStatus,
    /// `StartedAt`.
    pub started_at: Option<Timestamp>,
    /// `EndedAt`: when a disabled commitment ended, or when a pending disable takes effect.
    pub ended_at: Option<Timestamp>,
    /// `EarliestAllowedEndAt`: 24 hours after `StartedAt`.
    pub earliest_allowed_end_at: Option<Timestamp>,
}

/// `DescribeAccountSettings` / `UpdateAccountSettings` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// `MinimumThroughputBillingCommitment`.
    pub minimum_throughput_billing_commitment: MinimumThroughputBillingCommitment,
}

/// `UpdateAccountSettings` input: `MinimumThroughputBillingCommitment.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateAccountSettingsInput {
    /// `ENABLED` (true) or `DISABLED` (false).
    pub enable_minimum_throughput_billing_commitment: bool,
}
