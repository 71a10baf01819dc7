//! Kinesis Data Streams' fixed quotas and defaults, in one place (kinesis-behaviour.md).
//!
//! The engine enforces them; the catalog's manifest decoder refuses stored values outside
//! them. Throughput rates (per-shard MiB/s, calls/s) live in
//! [`Limits`](crate::engine::limits::Limits), which makes their enforcement optional.

/// Most entries in one PutRecords call.
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
/// Most bytes in one PutRecords call (streams with the default 1 MiB record limit).
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Most bytes in one PutRecords call on streams whose record limit was raised.
pub const MAX_PUT_RECORDS_BYTES_LARGE: usize = 10 * 1024 * 1024;
/// Most records one GetRecords call returns.
pub const MAX_GET_RECORDS_LIMIT: u32 = 10_000;
/// Most bytes one GetRecords call returns.
pub const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;

/// Default retention period of a new stream, and the smallest allowed (hours).
pub const DEFAULT_RETENTION_HOURS: u32 = 24;
/// Largest retention period (hours).
pub const MAX_RETENTION_HOURS: u32 = 8760;

/// Default `MaxRecordSizeInKiB`.
pub const DEFAULT_MAX_RECORD_KIB: u32 = 1024;
/// Largest `MaxRecordSizeInKiB`.
pub const MAX_MAX_RECORD_KIB: u32 = 10240;

/// Largest shard count of one stream.
pub const MAX_SHARDS_PER_STREAM: u32 = 10_000;
/// Shards of a new on-demand stream.
pub const ON_DEMAND_SHARDS: u32 = 4;
/// Most UpdateShardCount calls per stream in a rolling 24 hours.
pub const MAX_SCALINGS_PER_DAY: usize = 10;

/// Most enhanced fan-out consumers per stream (provisioned streams and On-demand Standard
/// accounts).
pub const MAX_CONSUMERS_PER_STREAM: usize = 20;
/// Most consumers per stream while the account has a billing commitment (On-demand
/// Advantage).
pub const MAX_CONSUMERS_PER_STREAM_ADVANTAGE: usize = 50;
/// Most consumers `CREATING` at once per stream (with modelled delays).
pub const MAX_CREATING_CONSUMERS: usize = 5;

/// Longest checkpoint owner name.
pub const MAX_OWNER_LEN: usize = 256;
