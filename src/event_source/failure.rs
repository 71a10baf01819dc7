//! The on-failure document (§9.3): what the `OnFailure` destination receives for every batch
//! the mapping discards. Records are not included; they can be re-read by sequence number
//! while they are retained.

use crate::engine::types::{SequenceNumber, Timestamp};

/// `requestContext.condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCondition {
    /// `RetryAttemptsExhausted`: the batch failed `MaximumRetryAttempts + 1` times.
    RetryAttemptsExhausted,
    /// `RecordAgeExpired`: the records grew older than `MaximumRecordAgeInSeconds` (the name
    /// LocalStack uses; AWS's string is not documented).
    RecordAgeExpired,
}

impl FailureCondition {
    /// The document's string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCondition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            FailureCondition::RecordAgeExpired => "RecordAgeExpired",
        }
    }
}

/// A discarded batch's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnFailureDocument {
    /// `requestContext`.
    pub request_context: RequestContext,
    /// `responseContext`: the last invocation's result; `None` when the records were
    /// discarded (for age) before any invocation.
    pub response_context: Option<ResponseContext>,
    /// `version` (`1.0`).
    pub version: &'static str,
    /// `timestamp`: when the batch was discarded (ISO 8601 in JSON).
    pub timestamp: Timestamp,
    /// `KinesisBatchInfo`.
    pub kinesis_batch_info: KinesisBatchInfo,
}

/// `requestContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `requestId`: a fresh UUID.
    pub request_id: String,
    /// `functionArn`.
    pub function_arn: String,
    /// `condition`.
    pub condition: FailureCondition,
    /// `approximateInvokeCount`: invocations of this batch (0 if it expired unread by the
    /// function).
    pub approximate_invoke_count: u32,
}

/// `responseContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseContext {
    /// `statusCode` (200: the invoke itself succeeded, even when the function failed).
    pub status_code: u16,
    /// `executedVersion` (`$LATEST`).
    pub executed_version: String,
    /// `functionError`: `Unhandled` when the function raised; absent when it returned a
    /// response that failed the batch (partial failure, bad identifier, missing state).
    pub function_error: Option<String>,
}

/// `KinesisBatchInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisBatchInfo {
    /// `shardId`.
    pub shard_id: String,
    /// `startSequenceNumber`: the first discarded record.
    pub start_sequence_number: SequenceNumber,
    /// `endSequenceNumber`: the last discarded record.
    pub end_sequence_number: SequenceNumber,
    /// `approximateArrivalOfFirstRecord` (ISO 8601 in JSON).
    pub approximate_arrival_of_first_record: Timestamp,
    /// `approximateArrivalOfLastRecord` (ISO 8601 in JSON).
    pub approximate_arrival_of_last_record: Timestamp,
    /// `batchSize`: records discarded.
    pub batch_size: u32,
    /// `streamArn`.
    pub stream_arn: String,
}
