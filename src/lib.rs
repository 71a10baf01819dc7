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
// `unsafe_code`, `clippy::unwrap_used`, `clippy::expect_used` and `clippy::indexing_slicing`
// are denied workspace-wide (Cargo.toml `[workspace.lints]`; `io/map.rs` alone allows unsafe
// code). Every public item is documented.
#![deny(missing_docs)]

// The modules. The public API is what this file names: the engine and its types
// (`engine`), the Lambda-style event-source driver (`event_source`), the Kinesis primitives
// (`kinesis`), the file-system trait engines run on (`io`), encryption at rest (`at_rest`,
// whose key the engine's configuration names), and — re-exported below — the
// shard log and its types, durability, the clock and the errors. Internals that the
// workspace's other crates, the fuzz targets and the tests drive directly are re-exported
// `#[doc(hidden)]`: they are not a supported API.
pub mod at_rest;
#[doc(hidden)]
pub mod catalog;
mod clock;
pub mod engine;
mod error;
pub mod event_source;
pub mod io;
pub mod kinesis;
mod log;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use engine::limits::Limits;
pub use engine::{Engine, EngineConfig, StatusDelays};
pub use error::{Error, Result};
pub use log::check;
pub use log::commit::{Durability, Sealing, SyncGroup, SyncStats};
pub use log::record::{Record, RecordRef};
pub use log::{
    Appended, LogConfig, LogOptions, ReadResult, SegmentCache, SegmentInfo, ShardLog, TrimOutcome, MAX_OFFSET,
};

// Internals: the storage formats and primitives that fuzz targets, tests and the CLI's
// format checks drive directly, and a date helper the other crates share.
#[doc(hidden)]
pub use clock::civil_from_days;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use log::hooks;
#[doc(hidden)]
pub use log::{batch, commit, index, marker, notify, queue, segment};
