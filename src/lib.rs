//! shardlog: an embeddable shard storage engine that keeps Kinesis-Data-Streams-shaped data
//! on local disk.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod batch;
pub mod catalog;
pub mod check;
pub mod clock;
pub mod commit;
pub mod engine;
pub mod error;
pub mod event_source;
pub mod index;
pub mod io;
pub mod kinesis;
pub mod limits;
pub mod marker;
pub mod notify;
pub mod record;
mod recovery;
pub mod segment;
pub mod shard;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use commit::{Durability, SyncGroup, SyncStats};
pub use engine::{Engine, EngineConfig, StatusDelays};
pub use error::{Error, Result};
pub use limits::Limits;
pub use record::{Record, RecordRef};
pub use shard::{Appended, LogConfig, LogOptions, ReadResult, SegmentCache, SegmentInfo, ShardLog, TrimOutcome};
