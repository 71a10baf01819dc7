//! The mapping's parameters: Lambda's `CreateEventSourceMapping` members for a Kinesis
//! source, with Lambda's ranges and defaults, validated into `Error::InvalidArgument`s that
//! name the parameter and its range.

use std::fmt;
use std::sync::Arc;

use crate::engine::types::{StreamRef, Timestamp};
use crate::error::{Error, Result};
use crate::event_source::event::KinesisEventRecord;
use crate::event_source::failure::OnFailureDocument;

/// Smallest `BatchSize`.
pub const MIN_BATCH_SIZE: u32 = 1;
/// Largest `BatchSize`.
pub const MAX_BATCH_SIZE: u32 = 10_000;
/// Default `BatchSize`.
pub const DEFAULT_BATCH_SIZE: u32 = 100;
/// Largest `MaximumBatchingWindowInSeconds`.
pub const MAX_BATCHING_WINDOW_SECS: u32 = 300;
/// Largest `MaximumRetryAttempts` (−1 is infinite).
pub const MAX_RETRY_ATTEMPTS: i32 = 10_000;
/// Smallest finite `MaximumRecordAgeInSeconds` (−1 is infinite).
pub const MIN_RECORD_AGE_SECS: i32 = 60;
/// Largest `MaximumRecordAgeInSeconds`.
pub const MAX_RECORD_AGE_SECS: i32 = 604_800;
/// Largest `ParallelizationFactor`.
pub const MAX_PARALLELIZATION_FACTOR: u32 = 10;
/// Largest `TumblingWindowInSeconds` (0 is off).
pub const MAX_TUMBLING_WINDOW_SECS: u32 = 900;
/// Longest mapping UUID (it is the checkpoint owner name).
pub const MAX_UUID_LEN: usize = crate::kinesis::quotas::MAX_OWNER_LEN;
/// Invocation payload limit (synchronous invoke): a batch is cut before its event JSON would
/// exceed it.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Largest tumbling-window state (JSON text) kept between invocations; a bigger state ends
/// the window early.
pub const MAX_WINDOW_STATE_BYTES: usize = 1024 * 1024;

/// `StartingPosition` (Lambda's `EventSourcePosition`, with `StartingPositionTimestamp` for
/// `AT_TIMESTAMP`). It applies to the shards that exist when the mapping first runs, until
/// each has a checkpoint; shards created later by resharding are read from their start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSourcePosition {
    /// `TRIM_HORIZON`: the oldest retained record.
    TrimHorizon,
    /// `LATEST`: only records written after the mapping starts. Shards already closed then
    /// are skipped.
    Latest,
    /// `AT_TIMESTAMP`: the first record that arrived at or after the time (not in the
    /// future).
    AtTimestamp(Timestamp),
}

impl EventSourcePosition {
    /// The Lambda enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSourcePosition::TrimHorizon => "TRIM_HORIZON",
            EventSourcePosition::Latest => "LATEST",
            EventSourcePosition::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

/// `FunctionResponseTypes` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionResponseType {
    /// `ReportBatchItemFailures`: honour `batchItemFailures` in the function's response.
    ReportBatchItemFailures,
}

impl FunctionResponseType {
    /// The Lambda enum value.
    pub fn as_str(self) -> &'static str {
        "ReportBatchItemFailures"
    }
}

/// `DestinationConfig.OnFailure`: receives the on-failure document of every discarded batch.
/// It runs on the thread that discarded the batch; it should not block for long.
pub type OnFailureDestination = Arc<dyn Fn(&OnFailureDocument) + Send + Sync>;

/// `FilterCriteria` as the driver applies it: true keeps the record. A record it rejects is
/// never delivered and is checkpointed past like a processed one (Lambda's event filtering).
/// With the `json` feature, [`FilterCriteria`](crate::event_source::filter::FilterCriteria)
/// compiles Lambda's pattern grammar into one.
pub type RecordFilter = Arc<dyn Fn(&KinesisEventRecord) -> bool + Send + Sync>;

/// An event-source mapping's parameters. Build with [`EventSourceConfig::new`] (Lambda's
/// defaults) and set fields; [`EventSourceConfig::validate`] (also run by the driver) checks
/// every range.
#[derive(Clone)]
pub struct EventSourceConfig {
    /// The mapping's `UUID`: also the checkpoint owner, so a mapping restarted with the same
    /// UUID resumes where it stopped (1–256 bytes).
    pub uuid: String,
    /// The stream (`EventSourceArn`: name or ARN).
    pub stream: StreamRef,
    /// Read through enhanced fan-out: the ARN of a consumer registered on the stream (Lambda's
    /// `EventSourceArn` set to a consumer ARN). `None` (default): poll with GetRecords.
    pub consumer_arn: Option<String>,
    /// `FunctionArn` (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`),
    /// used in on-failure documents.
    pub function_arn: String,
    /// `EventSourcePosition`.
    pub starting_position: EventSourcePosition,
    /// `BatchSize`: 1–10,000 (default 100).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: 0–300 (default 0: invoke as soon as records are
    /// read).
    pub maximum_batching_window_in_seconds: u32,
    /// `BisectBatchOnFunctionError` (default false).
    pub bisect_batch_on_function_error: bool,
    /// `MaximumRetryAttempts`: −1 (infinite, default) or 0–10,000.
    pub maximum_retry_attempts: i32,
    /// `MaximumRecordAgeInSeconds`: −1 (infinite, default) or 60–604,800.
    pub maximum_record_age_in_seconds: i32,
    /// `ParallelizationFactor`: 1–10 (default 1).
    pub parallelization_factor: u32,
    /// `FunctionResponseTypes`: empty or `[ReportBatchItemFailures]`.
    pub function_response_types: Vec<FunctionResponseType>,
    /// `TumblingWindowInSeconds`: 0 (off, default)–900.
    pub tumbling_window_in_seconds: u32,
    /// `DestinationConfig.OnFailure` (default none: discarded batches are only counted).
    pub on_failure: Option<OnFailureDestination>,
    /// `FilterCriteria` (default none: every record is delivered).
    pub filter: Option<RecordFilter>,
    /// The function's execution role, shown as `invokeIdentityArn` in every record (default
    /// `arn:aws:iam::<engine account>:role/lambda-role`).
    pub invoke_identity_arn: Option<String>,
}

impl fmt::Debug for EventSourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSourceConfig")
            .field("uuid", &self.uuid)
            .field("stream", &self.stream)
            .field("consumer_arn", &self.consumer_arn)
            .field("function_arn", &self.function_arn)
            .field("starting_position", &self.starting_position)
            .field("batch_size", &self.batch_size)
            .field("maximum_batching_window_in_seconds", &self.maximum_batching_window_in_seconds)
            .field("bisect_batch_on_function_error", &self.bisect_batch_on_function_error)
            .field("maximum_retry_attempts", &self.maximum_retry_attempts)
            .field("maximum_record_age_in_seconds", &self.maximum_record_age_in_seconds)
            .field("parallelization_factor", &self.parallelization_factor)
            .field("function_response_types", &self.function_response_types)
            .field("tumbling_window_in_seconds", &self.tumbling_window_in_seconds)
            .field("on_failure", &self.on_failure.is_some())
            .field("filter", &self.filter.is_some())
            .field("invoke_identity_arn", &self.invoke_identity_arn)
            .finish()
    }
}

impl EventSourceConfig {
    /// A mapping of `stream` to `function_arn` with a fresh random UUID and Lambda's
    /// defaults for everything else.
    pub fn new(
        stream: StreamRef,
        function_arn: impl Into<String>,
        starting_position: EventSourcePosition,
    ) -> EventSourceConfig {
        EventSourceConfig {
            uuid: new_uuid(),
            stream,
            consumer_arn: None,
            function_arn: function_arn.into(),
            starting_position,
            batch_size: DEFAULT_BATCH_SIZE,
            maximum_batching_window_in_seconds: 0,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age_in_seconds: -1,
            parallelization_factor: 1,
            function_response_types: Vec::new(),
            tumbling_window_in_seconds: 0,
            on_failure: None,
            filter: None,
            invoke_identity_arn: None,
        }
    }

    /// True when `ReportBatchItemFailures` is on.
    pub fn reports_batch_item_failures(&self) -> bool {
        self.function_response_types.contains(&FunctionResponseType::ReportBatchItemFailures)
    }

    /// Check every parameter against Lambda's ranges; `now_ms` (the engine clock) bounds
    /// `StartingPositionTimestamp`.
    pub fn validate(&self, now_ms: i64) -> Result<()> {
        if self.uuid.is_empty() || self.uuid.len() > MAX_UUID_LEN {
            return Err(bad("UUID", self.uuid.len(), format_args!("must be 1 to {MAX_UUID_LEN} bytes long")));
        }
        if self.stream.stream_name.is_none() && self.stream.stream_arn.is_none() {
            return Err(Error::InvalidArgument {
                message: "EventSourceArn is required: name the stream by name or ARN".into(),
            });
        }
        check_function_arn(&self.function_arn)?;
        if let Some(arn) = &self.consumer_arn {
            if !(arn.starts_with("arn:") && arn.contains(":stream/") && arn.contains("/consumer/")) {
                return Err(bad(
                    "EventSourceArn",
                    arn,
                    format_args!("a consumer ARN must look like arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<time>"),
                ));
            }
        }
        if let EventSourcePosition::AtTimestamp(ts) = self.starting_position {
            if ts.as_millis() > now_ms {
                return Err(bad(
                    "StartingPositionTimestamp",
                    ts.as_secs_f64(),
                    format_args!("must not be in the future (now {})", now_ms as f64 / 1000.0),
                ));
            }
        }
        range("BatchSize", i64::from(self.batch_size), i64::from(MIN_BATCH_SIZE), i64::from(MAX_BATCH_SIZE))?;
        range(
            "MaximumBatchingWindowInSeconds",
            i64::from(self.maximum_batching_window_in_seconds),
            0,
            i64::from(MAX_BATCHING_WINDOW_SECS),
        )?;
        range("MaximumRetryAttempts", i64::from(self.maximum_retry_attempts), -1, i64::from(MAX_RETRY_ATTEMPTS))?;
        let age = self.maximum_record_age_in_seconds;
        if age != -1 && !(MIN_RECORD_AGE_SECS..=MAX_RECORD_AGE_SECS).contains(&age) {
            return Err(bad(
                "MaximumRecordAgeInSeconds",
                age,
                format_args!("must be -1 (infinite) or between {MIN_RECORD_AGE_SECS} and {MAX_RECORD_AGE_SECS}"),
            ));
        }
        range(
            "ParallelizationFactor",
            i64::from(self.parallelization_factor),
            1,
            i64::from(MAX_PARALLELIZATION_FACTOR),
        )?;
        if self.function_response_types.len() > 1 {
            return Err(bad(
                "FunctionResponseTypes",
                format_args!("{:?}", self.function_response_types),
                format_args!("must be [] or [ReportBatchItemFailures] (at most 1 member)"),
            ));
        }
        range(
            "TumblingWindowInSeconds",
            i64::from(self.tumbling_window_in_seconds),
            0,
            i64::from(MAX_TUMBLING_WINDOW_SECS),
        )?;
        if let Some(role) = &self.invoke_identity_arn {
            if !role.starts_with("arn:") {
                return Err(bad("InvokeIdentityArn", role, format_args!("must be an IAM role ARN")));
            }
        }
        Ok(())
    }
}

fn bad(param: &str, value: impl fmt::Display, rule: fmt::Arguments<'_>) -> Error {
    Error::InvalidArgument { message: format!("{param} {value} is invalid: {rule}") }
}

fn range(param: &str, value: i64, min: i64, max: i64) -> Result<()> {
    if value < min || value > max {
        return Err(bad(param, value, format_args!("must be between {min} and {max}")));
    }
    Ok(())
}

/// `arn:<partition>:lambda:<region>:<12-digit account>:function:<name>[:<qualifier>]`.
fn check_function_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, "lambda", region, account, "function", name, rest @ ..] => {
            partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && rest.len() <= 1
                && rest.iter().all(|q| !q.is_empty())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(bad(
            "FunctionArn",
            arn,
            format_args!("must look like arn:aws:lambda:<region>:<12-digit account>:function:<name>[:<qualifier>]"),
        ))
    }
}

/// A random version-4 UUID (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
pub fn new_uuid() -> String {
    let raw = crate::kinesis::TokenKey::random_bytes();
    let mut b = [0u8; 16];
    b.iter_mut().zip(raw.iter()).for_each(|(d, s)| *d = *s);
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x40;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let h = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_string();
    format!("{}-{}-{}-{}-{}", h(0..8), h(8..12), h(12..16), h(16..20), h(20..32))
}
