//! Channels as the catalog stores them: a channel reads one on-demand stream and delivers
//! its records to an S3 bucket (or, control plane only, an S3 Tables table).
//!
//! Besides the configuration, a channel's entry holds its delivery progress: per shard, the
//! offset from which records have not been delivered yet, and the number of objects written.
//! Progress is committed after the object holding the records was written, so delivery is
//! at least once across crashes.
//!
//! Invariants (checked on load): ids are unique DNS labels, names unique per account,
//! exactly one stream and one destination, positions name distinct shards.

use std::collections::BTreeMap;

/// `RecordConfiguration.RecordFormatType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// `GSR_JSON` (S3 Tables only).
    GsrJson,
    /// `JSON`.
    Json,
    /// `STRING` (S3 only).
    String,
    /// `BYTE_ARRAY` (S3 only).
    ByteArray,
}

impl RecordFormat {
    /// Every value, in the model's order.
    pub const ALL: [RecordFormat; 4] =
        [RecordFormat::GsrJson, RecordFormat::Json, RecordFormat::String, RecordFormat::ByteArray];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::GsrJson => "GSR_JSON",
            RecordFormat::Json => "JSON",
            RecordFormat::String => "STRING",
            RecordFormat::ByteArray => "BYTE_ARRAY",
        }
    }
}

/// `S3StorageConfiguration.CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Compression {
    /// `NONE`.
    None,
    /// `GZIP`.
    Gzip,
    /// `ZSTD`.
    Zstd,
}

impl S3Compression {
    /// Every value, in the model's order.
    pub const ALL: [S3Compression; 3] = [S3Compression::None, S3Compression::Gzip, S3Compression::Zstd];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            S3Compression::None => "NONE",
            S3Compression::Gzip => "GZIP",
            S3Compression::Zstd => "ZSTD",
        }
    }
}

/// `S3TablesConfiguration.CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TablesCompression {
    /// `NONE`.
    None,
    /// `ZSTD`.
    Zstd,
    /// `SNAPPY`.
    Snappy,
}

impl TablesCompression {
    /// Every value, in the model's order.
    pub const ALL: [TablesCompression; 3] =
        [TablesCompression::None, TablesCompression::Zstd, TablesCompression::Snappy];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            TablesCompression::None => "NONE",
            TablesCompression::Zstd => "ZSTD",
            TablesCompression::Snappy => "SNAPPY",
        }
    }
}

/// `S3StorageConfiguration.StorageClass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    /// `STANDARD`.
    Standard,
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering,
    /// `GLACIER_IR`.
    GlacierIr,
}

impl StorageClass {
    /// Every value, in the model's order.
    pub const ALL: [StorageClass; 3] =
        [StorageClass::Standard, StorageClass::IntelligentTiering, StorageClass::GlacierIr];

    /// The Kinesis (and S3 `x-amz-storage-class`) value.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
        }
    }
}

/// `DeadLetterQueueS3Configuration`: where undeliverable records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterS3 {
    /// `BucketARN`.
    pub bucket_arn: String,
    /// `ExpectedBucketOwner`.
    pub expected_bucket_owner: String,
    /// `ErrorOutputPrefix`.
    pub error_output_prefix: Option<String>,
}

/// An S3 destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Destination {
    /// `DataFreshnessInSeconds`.
    pub freshness_secs: u32,
    /// `DeadLetterQueueS3Configuration` (defaults to the destination bucket).
    pub dead_letter: DeadLetterS3,
    /// `StorageConfiguration.BucketARN`.
    pub bucket_arn: String,
    /// `StorageConfiguration.ExpectedBucketOwner`.
    pub expected_bucket_owner: String,
    /// `StorageConfiguration.OutputKeyTemplate`.
    pub output_key_template: Option<String>,
    /// `StorageConfiguration.StorageClass`.
    pub storage_class: Option<StorageClass>,
    /// `StorageConfiguration.CompressionType`.
    pub compression: S3Compression,
}

/// One `S3TablesConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// `TableBucketARN`.
    pub table_bucket_arn: String,
    /// `Namespace`.
    pub namespace: String,
    /// `TableName`.
    pub table_name: String,
    /// `CompressionType`.
    pub compression: TablesCompression,
    /// `PartitionSpec.PartitionFields`: (`Transform`, `SourceName`); `None` when no
    /// `PartitionSpec` was given.
    pub partition_fields: Option<Vec<(String, String)>>,
}

/// An S3 Tables destination (control plane only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablesDestination {
    /// `DataFreshnessInSeconds`.
    pub freshness_secs: u32,
    /// `DeadLetterQueueS3Configuration`.
    pub dead_letter: DeadLetterS3,
    /// `S3TablesConfigurationList` (exactly one today).
    pub tables: Vec<TableConfig>,
}

/// A channel's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelDestination {
    /// A general-purpose S3 bucket.
    S3(S3Destination),
    /// An S3 Tables table.
    S3Tables(TablesDestination),
}

impl ChannelDestination {
    /// `DataFreshnessInSeconds`.
    pub fn freshness_secs(&self) -> u32 {
        match self {
            ChannelDestination::S3(d) => d.freshness_secs,
            ChannelDestination::S3Tables(d) => d.freshness_secs,
        }
    }
}

/// `ChannelLoggingConfiguration.CloudWatchLogs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelLogging {
    /// `Enabled`.
    pub enabled: bool,
    /// `LogGroupName` (default `/aws/kinesis/{channelName}/{channelId}`).
    pub log_group_name: Option<String>,
    /// `LogStreamName` (default `DestinationDelivery`).
    pub log_stream_name: Option<String>,
}

/// Where a channel's delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryState {
    /// Shards with an index at or above this were created after the channel: delivered from
    /// their first record. Older shards are delivered only from their recorded position
    /// (no backfill).
    pub first_new_shard: u32,
    /// Per shard index, the offset of the first record not yet delivered.
    pub positions: BTreeMap<u32, u64>,
    /// Objects written so far (data and error objects); numbers the next object's key.
    pub objects: u64,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMeta {
    /// Internal id; never reused.
    pub uid: u64,
    /// `ChannelId`: a DNS label (SDKs use it as a host prefix), unique.
    pub id: String,
    /// `ChannelName`.
    pub name: String,
    /// `ChannelCreationTimestamp` (ms).
    pub created_ms: i64,
    /// When the last `UpdateChannel` started (ms), for the UPDATING status model.
    pub updated_ms: i64,
    /// `ServiceExecutionRoleARN`.
    pub role_arn: String,
    /// The source stream (uid).
    pub stream_uid: u64,
    /// `RecordConfiguration.RecordFormatType`.
    pub record_format: RecordFormat,
    /// `RecordConfiguration.GSRSchemaARN`.
    pub gsr_schema_arn: Option<String>,
    /// The destination.
    pub destination: ChannelDestination,
    /// `EncryptionConfiguration.KeyId` (type KMS), if given.
    pub encryption_key: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// `LoggingConfiguration`.
    pub logging: ChannelLogging,
    /// `DeleteChannel` was called at this time (ms).
    pub deleting_since_ms: Option<i64>,
    /// Set once the channel FAILED: the `ChannelStatusReason`. Terminal.
    pub failure: Option<String>,
    /// Delivery progress.
    pub delivery: DeliveryState,
}
