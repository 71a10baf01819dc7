//! The record as producers hand it in and as readers get it back.

use bytes::Bytes;

/// A record to append: borrowed, so the hot path copies each byte exactly once (into the
/// batch buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The partition key's bytes (UTF-8 for Kinesis streams; the storage core does not care).
    pub partition_key: &'a [u8],
    /// The explicit hash key, if the producer gave one.
    pub explicit_hash_key: Option<u128>,
    /// The payload.
    pub data: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// A record with a partition key and data and no explicit hash key.
    pub fn new(partition_key: &'a [u8], data: &'a [u8]) -> RecordRef<'a> {
        RecordRef { partition_key, explicit_hash_key: None, data }
    }
}

/// A record read back from a shard log. `partition_key` and `data` are zero-copy slices of
/// the segment (a memory map for sealed segments), valid as long as they are held, even if
/// retention deletes the segment meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its shard: dense, from 0, never reused.
    pub offset: u64,
    /// Arrival time in milliseconds since the epoch, assigned by the shard at append.
    pub arrival_ms: i64,
    /// The partition key's bytes.
    pub partition_key: Bytes,
    /// The explicit hash key, if the producer gave one.
    pub explicit_hash_key: Option<u128>,
    /// The payload.
    pub data: Bytes,
}
