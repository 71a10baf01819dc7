//! Storage beside the shard logs.
//!
//! - [`queue`]: the per-queue delivery state of Kinesis queues (floors, in-flight deliveries,
//!   dead-letter records) kept in a crash-safe state log with snapshots.
//!
//! (The shard log itself moves here with the `log/` redesign; until then it lives in the
//! crate's top-level modules.)

pub mod queue;
