//! Queues as the catalog stores them: a queue reads one on-demand stream and tracks, per
//! record, whether it is visible, in flight, acknowledged or dead-lettered. The catalog holds
//! the queue's identity and configuration; the delivery state itself lives in the queue's
//! own state log (`log::queue`, `<root>/queues/<uid:016x>/`).
//!
//! Invariants (checked on load): uids below the next uid and unique, ids unique DNS labels,
//! names unique per account, a known stream, attributes in AWS' ranges.

use std::collections::BTreeMap;

use crate::log::queue::{DeadLetter, QueueConfig};

/// `QueueStartingPosition.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStartKind {
    /// `TRIM_HORIZON`: from the oldest record the stream still keeps.
    TrimHorizon,
    /// `LATEST`: records written after the queue was created (pinned at the request).
    Latest,
    /// `AT_TIMESTAMP`: records that arrived at or after a time.
    AtTimestamp,
}

impl QueueStartKind {
    /// Every value, in the model's order.
    pub const ALL: [QueueStartKind; 3] =
        [QueueStartKind::TrimHorizon, QueueStartKind::Latest, QueueStartKind::AtTimestamp];

    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStartKind::TrimHorizon => "TRIM_HORIZON",
            QueueStartKind::Latest => "LATEST",
            QueueStartKind::AtTimestamp => "AT_TIMESTAMP",
        }
    }
}

/// Where a queue started reading its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStart {
    /// The requested type.
    pub kind: QueueStartKind,
    /// The requested `Timestamp` (AT_TIMESTAMP only), ms.
    pub requested_ms: Option<i64>,
    /// The effective start (ms): the creation time for LATEST, the earliest readable
    /// arrival time for TRIM_HORIZON, the later of the requested time and the earliest
    /// readable time for AT_TIMESTAMP. Reported once the queue is ACTIVE.
    pub effective_ms: i64,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMeta {
    /// Internal id: names the queue's state directory and is carried by its receipt
    /// handles; never reused.
    pub uid: u64,
    /// The resource id in its ARN (`queue/<id>`): a DNS label, unique.
    pub id: String,
    /// `QueueName`, unique per account.
    pub name: String,
    /// `QueueCreationTimestamp` (ms).
    pub created_ms: i64,
    /// When the last `UpdateQueue` started (ms), for the UPDATING status model
    /// (`i64::MIN`: never).
    pub updated_ms: i64,
    /// The stream it reads (uid).
    pub stream_uid: u64,
    /// `StartingPosition`.
    pub start: QueueStart,
    /// `QueueAttributes` (effective values).
    pub config: QueueConfig,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Its resource policy (stored byte-identical), if one was put.
    pub policy: Option<String>,
    /// `DeleteQueue` was called at this time (ms).
    pub deleting_since_ms: Option<i64>,
}

/// Largest `VisibilityTimeoutSeconds`: 12 hours.
pub const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;
/// Largest `MaxReceiveCount`.
pub const MAX_MAX_RECEIVE_COUNT: u32 = 1000;

/// True if `config` is within AWS' ranges (visibility 0–43,200 s, whole seconds;
/// `MaxReceiveCount` 1–1,000).
pub fn config_in_range(config: &QueueConfig) -> bool {
    let visibility_ok = config.visibility_timeout_ms <= MAX_VISIBILITY_TIMEOUT_SECS * 1000
        && config.visibility_timeout_ms.is_multiple_of(1000);
    let dead_letter_ok = match config.dead_letter {
        DeadLetter::Off => true,
        DeadLetter::BuiltIn { max_receive_count } => (1..=MAX_MAX_RECEIVE_COUNT).contains(&max_receive_count),
    };
    visibility_ok && dead_letter_ok
}
