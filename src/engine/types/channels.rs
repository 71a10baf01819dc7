//! Inputs and outputs of the channel operations (`CreateChannel`, `DescribeChannel`,
//! `ListChannels`, `UpdateChannel`, `DeleteChannel`).

use std::collections::BTreeMap;

use super::Timestamp;
pub use crate::catalog::channel::{
    ChannelLogging as ChannelLoggingConfiguration, DeadLetterS3 as DeadLetterQueueS3Configuration, RecordFormat,
    S3Compression, S3Destination as S3DestinationDescription, StorageClass, TableConfig as S3TablesConfiguration,
    TablesCompression, TablesDestination as S3TablesDestinationDescription,
};

/// `ChannelStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    /// Being created (only with modelled delays).
    Creating,
    /// Delivering.
    Active,
    /// An update is in progress (only with modelled delays).
    Updating,
    /// Being deleted (only with modelled delays).
    Deleting,
    /// Delivery failed for good (see `ChannelStatusReason`); only deletion remains.
    Failed,
}

impl ChannelStatus {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Creating => "CREATING",
            ChannelStatus::Active => "ACTIVE",
            ChannelStatus::Updating => "UPDATING",
            ChannelStatus::Deleting => "DELETING",
            ChannelStatus::Failed => "FAILED",
        }
    }
}

/// `ChannelDestinationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelDestinationType {
    /// `S3`.
    S3,
    /// `S3_TABLES`.
    S3Tables,
}

impl ChannelDestinationType {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelDestinationType::S3 => "S3",
            ChannelDestinationType::S3Tables => "S3_TABLES",
        }
    }
}

/// `RecordConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfiguration {
    /// `RecordFormatType`.
    pub record_format_type: RecordFormat,
    /// `GSRSchemaARN` (required for S3 Tables).
    pub gsr_schema_arn: Option<String>,
}

/// One entry of `StreamConfigurationList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStreamConfiguration {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `RecordConfiguration`.
    pub record_configuration: RecordConfiguration,
}

/// `S3StorageConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3StorageConfiguration {
    /// `BucketARN`.
    pub bucket_arn: String,
    /// `ExpectedBucketOwner`.
    pub expected_bucket_owner: String,
    /// `OutputKeyTemplate`.
    pub output_key_template: Option<String>,
    /// `StorageClass`.
    pub storage_class: Option<StorageClass>,
    /// `CompressionType`.
    pub compression_type: S3Compression,
}

/// `S3DestinationConfiguration` (CreateChannel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3DestinationConfiguration {
    /// `DataFreshnessInSeconds` (default 300).
    pub data_freshness_in_seconds: Option<i64>,
    /// `DeadLetterQueueS3Configuration` (default: the destination bucket, prefix
    /// `error/`).
    pub dead_letter_queue_s3_configuration: Option<DeadLetterQueueS3Configuration>,
    /// `StorageConfiguration`.
    pub storage_configuration: S3StorageConfiguration,
}

/// `S3TablesDestinationConfiguration` (CreateChannel; control plane only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3TablesDestinationConfiguration {
    /// `DataFreshnessInSeconds` (default 300).
    pub data_freshness_in_seconds: Option<i64>,
    /// `DeadLetterQueueS3Configuration` (required here).
    pub dead_letter_queue_s3_configuration: DeadLetterQueueS3Configuration,
    /// `S3TablesConfigurationList` (exactly one).
    pub s3_tables_configuration_list: Vec<S3TablesConfiguration>,
}

/// `ChannelEncryptionConfiguration` (type KMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEncryptionConfiguration {
    /// `KeyId`: a customer-managed key (`alias/aws/kinesis` is refused).
    pub key_id: String,
}

/// `CreateChannel` input.
#[derive(Debug, Clone, Default)]
pub struct CreateChannelInput {
    /// `ChannelName`.
    pub channel_name: String,
    /// `ServiceExecutionRoleARN`.
    pub service_execution_role_arn: String,
    /// `StreamConfigurationList` (exactly one entry).
    pub stream_configuration_list: Vec<ChannelStreamConfiguration>,
    /// `S3DestinationConfiguration` (exactly one of the two destinations).
    pub s3_destination_configuration: Option<S3DestinationConfiguration>,
    /// `S3TablesDestinationConfiguration`.
    pub s3_tables_destination_configuration: Option<S3TablesDestinationConfiguration>,
    /// `EncryptionConfiguration`.
    pub encryption_configuration: Option<ChannelEncryptionConfiguration>,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
    /// `LoggingConfiguration` (default: CloudWatch Logs disabled).
    pub logging_configuration: Option<ChannelLoggingConfiguration>,
}

/// `ChannelStreamDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStreamDescription {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Timestamp,
    /// `RecordConfiguration`.
    pub record_configuration: RecordConfiguration,
}

/// `ChannelDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDescription {
    /// `ChannelName`.
    pub channel_name: String,
    /// `ChannelARN`.
    pub channel_arn: String,
    /// `ChannelId`.
    pub channel_id: String,
    /// `ChannelStatus`.
    pub channel_status: ChannelStatus,
    /// `ChannelStatusReason` (FAILED channels).
    pub channel_status_reason: Option<String>,
    /// `ChannelCreationTimestamp`.
    pub channel_creation_timestamp: Timestamp,
    /// `ServiceExecutionRoleARN`.
    pub service_execution_role_arn: String,
    /// `StreamConfigurationList`.
    pub stream_configuration_list: Vec<ChannelStreamDescription>,
    /// `S3DestinationConfiguration` (effective values).
    pub s3_destination_configuration: Option<S3DestinationDescription>,
    /// `S3TablesDestinationConfiguration` (effective values).
    pub s3_tables_destination_configuration: Option<S3TablesDestinationDescription>,
    /// `EncryptionConfiguration`.
    pub encryption_configuration: Option<ChannelEncryptionConfiguration>,
    /// `LoggingConfiguration`.
    pub logging_configuration: ChannelLoggingConfiguration,
}

/// One `StreamFilter` of ListChannels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFilter {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamCreationTimestamp` (tells a re-created stream from its predecessor).
    pub stream_creation_timestamp: Option<Timestamp>,
}

/// `ListChannels` input.
#[derive(Debug, Clone, Default)]
pub struct ListChannelsInput {
    /// `StreamFilter` (1–10,000 entries; a channel matching any is listed).
    pub stream_filter: Option<Vec<StreamFilter>>,
    /// `MaxResults` (1–10,000; at most 100 are returned).
    pub max_results: Option<u32>,
    /// `NextToken` (expires after 300 s).
    pub next_token: Option<String>,
}

/// `ChannelSummary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    /// `ChannelName`.
    pub channel_name: String,
    /// `ChannelARN`.
    pub channel_arn: String,
    /// `ChannelId`.
    pub channel_id: String,
    /// `ChannelStatus`.
    pub channel_status: ChannelStatus,
    /// `ChannelStatusReason`.
    pub channel_status_reason: Option<String>,
    /// `ChannelCreationTimestamp`.
    pub channel_creation_timestamp: Timestamp,
    /// `ChannelDestinationType`.
    pub channel_destination_type: ChannelDestinationType,
    /// `Streams`: (`StreamARN`, `StreamCreationTimestamp`).
    pub streams: Vec<(String, Timestamp)>,
}

/// `ListChannels` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChannelsOutput {
    /// `ChannelSummaries`.
    pub channel_summaries: Vec<ChannelSummary>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// `UpdateChannel` input: only the freshness and the logging can change.
#[derive(Debug, Clone, Default)]
pub struct UpdateChannelInput {
    /// `ChannelARN`.
    pub channel_arn: String,
    /// `S3DestinationConfiguration.DataFreshnessInSeconds` (S3 channels).
    pub s3_data_freshness_in_seconds: Option<i64>,
    /// `S3TablesDestinationConfiguration.DataFreshnessInSeconds` (S3 Tables channels).
    pub s3_tables_data_freshness_in_seconds: Option<i64>,
    /// `LoggingConfiguration.CloudWatchLogs`.
    pub logging_configuration: Option<ChannelLoggingConfiguration>,
}
