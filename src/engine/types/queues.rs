//! Inputs and outputs of the queue operations (`CreateQueue`, `DescribeQueue`, `ListQueues`,
//! `UpdateQueue`, `DeleteQueue`, `ReceiveQueueRecords`, `AcknowledgeQueueRecords`,
//! `UpdateQueueRecordsVisibility` and their dead-letter counterparts).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Timestamp;
pub use crate::catalog::queue::QueueStartKind as QueueStartingPositionType;

/// `QueueStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// Being created (only with modelled delays): receives return nothing yet.
    Creating,
    /// Delivering.
    Active,
    /// An `UpdateQueue` is in progress (only with modelled delays); still delivering.
    Updating,
    /// Being deleted (only with modelled delays): delivers nothing, every handle is invalid.
    Deleting,
}

impl QueueStatus {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Creating => "CREATING",
            QueueStatus::Active => "ACTIVE",
            QueueStatus::Updating => "UPDATING",
            QueueStatus::Deleting => "DELETING",
        }
    }
}

/// `QueueStartingPosition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStartingPosition {
    /// `Type`.
    pub kind: QueueStartingPositionType,
    /// `Timestamp`: required with AT_TIMESTAMP, refused with the others; in descriptions of
    /// an ACTIVE queue, the effective start.
    pub timestamp: Option<Timestamp>,
}

/// `QueueStreamConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStreamConfiguration {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StartingPosition` (default LATEST).
    pub starting_position: Option<QueueStartingPosition>,
}

/// `DeadLetterConfiguration.TargetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterTargetType {
    /// `BUILT_IN`: dead-lettering on, in the same queue.
    BuiltIn,
    /// `NONE`: dead-lettering off.
    None,
}

impl DeadLetterTargetType {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterTargetType::BuiltIn => "BUILT_IN",
            DeadLetterTargetType::None => "NONE",
        }
    }
}

/// `DeadLetterConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterConfiguration {
    /// `TargetType`.
    pub target_type: DeadLetterTargetType,
    /// `MaxReceiveCount` (1–1,000; required with BUILT_IN).
    pub max_receive_count: Option<u32>,
}

/// `QueueAttributes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueAttributes {
    /// `VisibilityTimeoutSeconds` (0–43,200; default 30).
    pub visibility_timeout_seconds: Option<u32>,
    /// `DeadLetterConfiguration` (default BUILT_IN with `MaxReceiveCount` 6).
    pub dead_letter_configuration: Option<DeadLetterConfiguration>,
}

/// `CreateQueue` input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateQueueInput {
    /// `QueueName`.
    pub queue_name: String,
    /// `StreamConfigurationList` (exactly one entry).
    pub stream_configuration_list: Vec<QueueStreamConfiguration>,
    /// `QueueAttributes`.
    pub queue_attributes: Option<QueueAttributes>,
    /// `Tags` (up to 50).
    pub tags: BTreeMap<String, String>,
}

/// `QueueDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDescription {
    /// `QueueName`.
    pub queue_name: String,
    /// `QueueARN`.
    pub queue_arn: String,
    /// The resource id in the ARN (the `QueueId` metric dimension).
    pub queue_id: String,
    /// `QueueStatus`.
    pub queue_status: QueueStatus,
    /// `QueueCreationTimestamp`.
    pub queue_creation_timestamp: Timestamp,
    /// `StreamConfigurationList`.
    pub stream_configuration_list: Vec<QueueStreamConfiguration>,
    /// `QueueAttributes` (the effective values, defaults included).
    pub queue_attributes: QueueAttributes,
}

/// `QueueStreamFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStreamFilter {
    /// `StreamARN`.
    pub stream_arn: String,
    /// `StreamCreationTimestamp`.
    pub stream_creation_timestamp: Option<Timestamp>,
}

/// `ListQueues` input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQueuesInput {
    /// `MaxResults` (1–10,000; pages hold at most 100).
    pub max_results: Option<u32>,
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `StreamFilter`: queues of any of these streams.
    pub stream_filter: Option<Vec<QueueStreamFilter>>,
}

/// `QueueSummary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSummary {
    /// `QueueName`.
    pub queue_name: String,
    /// `QueueARN`.
    pub queue_arn: String,
    /// `QueueStatus`.
    pub queue_status: QueueStatus,
    /// `QueueCreationTimestamp`.
    pub queue_creation_timestamp: Timestamp,
    /// `Streams`: (`StreamARN`, `StreamCreationTimestamp`).
    pub streams: Vec<(String, Timestamp)>,
}

/// `ListQueues` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQueuesOutput {
    /// `QueueSummaries`.
    pub queue_summaries: Vec<QueueSummary>,
    /// `NextToken`.
    pub next_token: Option<String>,
}

/// `UpdateQueue` input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateQueueInput {
    /// `QueueARN`.
    pub queue_arn: String,
    /// `QueueAttributes`: what is left out stays as it was.
    pub queue_attributes: QueueAttributes,
}

/// `ReceiveQueueRecords` / `ReceiveDeadLetterQueueRecords` input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveQueueRecordsInput {
    /// `QueueARN`.
    pub queue_arn: String,
    /// `Limit` (1–10, default 10).
    pub limit: Option<u32>,
    /// `WaitTimeSeconds` (1–20, default 9).
    pub wait_time_seconds: Option<u32>,
    /// `VisibilityTimeoutSeconds` of these deliveries (0–43,200; default the queue's).
    pub visibility_timeout_seconds: Option<u32>,
}

/// `QueueRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// `ReceiptHandle`: names this delivery.
    pub receipt_handle: String,
    /// `RecordId`: the same across redeliveries and in every queue of the stream.
    pub record_id: String,
    /// `PartitionKey` (absent when the record has none).
    pub partition_key: Option<String>,
    /// `Data`.
    pub data: Bytes,
    /// `ApproximateArrivalTimestamp`.
    pub approximate_arrival_timestamp: Timestamp,
    /// `FirstReceiveTimestamp`.
    pub first_receive_timestamp: Timestamp,
    /// `ReceiveCount`: receives without an acknowledgement, this one included.
    pub receive_count: u32,
}

/// `ReceiveQueueRecords` / `ReceiveDeadLetterQueueRecords` output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveQueueRecordsOutput {
    /// `QueueRecords`.
    pub queue_records: Vec<QueueRecord>,
}

/// Input of the batch calls that take handles only (`AcknowledgeQueueRecords`,
/// `AcknowledgeDeadLetterQueueRecords`, `RestoreDeadLetterQueueRecords`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueHandlesInput {
    /// `QueueARN`.
    pub queue_arn: String,
    /// `Entries[].ReceiptHandle` (1–10).
    pub receipt_handles: Vec<String>,
}

/// Input of `UpdateQueueRecordsVisibility` / `UpdateDeadLetterQueueRecordsVisibility`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueVisibilityInput {
    /// `QueueARN`.
    pub queue_arn: String,
    /// `Entries`: (`ReceiptHandle`, `VisibilityTimeoutSeconds` 0–43,200), 1–10.
    pub entries: Vec<(String, u32)>,
}

/// A `Failed` entry of a batch call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntryError {
    /// `ReceiptHandle`.
    pub receipt_handle: String,
    /// `ErrorCode`: `InvalidArgumentException` or `ResourceNotFoundException`.
    pub error_code: String,
    /// `ErrorMessage`.
    pub error_message: String,
}

/// Output of every batch call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueEntriesOutput {
    /// `Successful[].ReceiptHandle`.
    pub successful: Vec<String>,
    /// `Failed`.
    pub failed: Vec<QueueEntryError>,
}
