//! The event a function receives: Lambda's Kinesis event (`Records`), plus the tumbling-window
//! members when windows are on. With the `json` feature these serialize to exactly Lambda's
//! JSON (see `json.rs`).

use std::sync::Arc;

use bytes::Bytes;

use crate::engine::types::{SequenceNumber, Timestamp};

/// `kinesis.kinesisSchemaVersion`.
pub const KINESIS_SCHEMA_VERSION: &str = "1.0";
/// `eventSource`.
pub const EVENT_SOURCE: &str = "aws:kinesis";
/// `eventVersion`.
pub const EVENT_VERSION: &str = "1.0";
/// `eventName`.
pub const EVENT_NAME: &str = "aws:kinesis:record";

/// One invocation's payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KinesisEvent {
    /// `Records`: records of one shard, in sequence order (empty only for a tumbling window's
    /// final invoke that has no records left).
    pub records: Vec<KinesisEventRecord>,
    /// The tumbling-window members (`window`, `state`, `shardId`, `eventSourceARN`,
    /// `isFinalInvokeForWindow`, `isWindowTerminatedEarly`), present only when
    /// `TumblingWindowInSeconds` > 0.
    pub window: Option<TimeWindow>,
}

/// One element of `Records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisEventRecord {
    /// `kinesis`.
    pub kinesis: KinesisData,
    /// The shard the record came from (the first half of `eventID`).
    pub shard_id: Arc<str>,
    /// `eventSourceARN`: the stream ARN.
    pub event_source_arn: Arc<str>,
    /// `invokeIdentityArn`: the function's execution role.
    pub invoke_identity_arn: Arc<str>,
    /// `awsRegion`.
    pub aws_region: Arc<str>,
}

impl KinesisEventRecord {
    /// `eventID`: `<shardId>:<sequenceNumber>`.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.shard_id, self.kinesis.sequence_number)
    }
}

/// `kinesis` of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisData {
    /// `partitionKey`.
    pub partition_key: String,
    /// `sequenceNumber`.
    pub sequence_number: SequenceNumber,
    /// `data`: the raw record bytes (base64 in JSON; KPL aggregates are not de-aggregated).
    pub data: Bytes,
    /// `approximateArrivalTimestamp` (JSON: epoch seconds with a millisecond fraction).
    pub approximate_arrival_timestamp: Timestamp,
}

/// The tumbling-window members of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// `window.start` (inclusive; a multiple of the window length since the epoch).
    pub start: Timestamp,
    /// `window.end` (exclusive).
    pub end: Timestamp,
    /// `state`: what the previous invocation of this window returned (`{}` at first).
    pub state: WindowState,
    /// `shardId`.
    pub shard_id: String,
    /// `eventSourceARN`.
    pub event_source_arn: String,
    /// `isFinalInvokeForWindow`: the window is over; the state returned is dropped.
    pub is_final_invoke_for_window: bool,
    /// `isWindowTerminatedEarly`: the window ends early because its state grew over 1 MB;
    /// later records of the same window start again from `{}`.
    pub is_window_terminated_early: bool,
}

/// A tumbling window's `state`: the JSON text of an object. The driver passes it along
/// without interpreting it (its length is checked against the 1 MB limit); with the `json`
/// feature it converts to and from `serde_json` values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowState(String);

impl Default for WindowState {
    fn default() -> Self {
        WindowState("{}".into())
    }
}

impl WindowState {
    /// A state from the JSON text of an object (taken as is; see `WindowState::parse` with
    /// the `json` feature for a checked form).
    pub fn from_json_text(text: impl Into<String>) -> WindowState {
        WindowState(text.into())
    }

    /// The JSON text.
    pub fn as_json_text(&self) -> &str {
        &self.0
    }

    /// Length of the JSON text in bytes (the quantity Lambda limits to 1 MB).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty text (never produced by the driver, which starts windows at `{}`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
