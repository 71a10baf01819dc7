//! shardlog: an embeddable shard storage engine that keeps Kinesis-Data-Streams-shaped data
//! on local disk.
//!
//! Streams are split into shards by the 128-bit hash-key space; each shard is a segmented,
//! append-only, crash-safe log ([`ShardLog`]) with sparse offset and time indexes; shards split
//! and merge with parent/child lineage; retention trims old segments. The [`Engine`] offers one
//! method per Kinesis operation (`create_stream`, `put_records`, `get_shard_iterator`,
//! `get_records`, `split_shard`, `subscribe_to_shard`, …) with Kinesis' exact semantics and
//! errors, so an emulator maps each API call 1:1; apps can use it directly as a durable local
//! buffer.
//!
//! ```
//! use bytes::Bytes;
//! use shardlog::engine::*;
//! use shardlog::{Durability, Engine, EngineConfig};
//!
//! # fn main() -> shardlog::Result<()> {
//! # let dir = tempfile::tempdir().expect("temp dir");
//! let engine = Engine::open(dir.path(), EngineConfig { durability: Durability::Sync, ..Default::default() })?;
//! engine.create_stream(CreateStreamInput { stream_name: "orders".into(), shard_count: Some(2), ..Default::default() })?;
//! let put = engine.put_record(PutRecordInput {
//!     stream: StreamRef::name("orders"),
//!     partition_key: Some("customer-42".into()),
//!     data: Bytes::from_static(b"{\"total\": 12}"),
//!     ..Default::default()
//! })?;
//! // Acknowledged: under Durability::Sync the record was fdatasync'd before put_record returned.
//! let it = engine.get_shard_iterator(GetShardIteratorInput {
//!     stream: StreamRef::name("orders"),
//!     shard_id: put.shard_id.clone(),
//!     shard_iterator_type: ShardIteratorType::TrimHorizon,
//!     starting_sequence_number: None,
//!     timestamp: None,
//!     dry_run: false,
//! })?;
//! let out = engine.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() })?;
//! assert_eq!(out.records[0].sequence_number, put.sequence_number);
//! assert_eq!(&out.records[0].data[..], b"{\"total\": 12}");
//! engine.close()?;
//! # Ok(())
//! # }
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod at_rest;
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
