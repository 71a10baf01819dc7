//! The identity of a record in a queue's state, and the bound on records per state event.
//! A leaf module: the state machine ([`super::state`]) and its events ([`super::event`]) both
//! name records this way without depending on each other.

/// At most this many records change in one event: a receive returns at most this many
/// records, and larger acknowledgement or visibility batches are split into several events.
pub const MAX_RECORDS_PER_EVENT: usize = 131_072;

/// A record of the stream: shard index and offset in that shard. Ordered by shard, then
/// offset, which is also the order records are redelivered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// Index of the shard (as in `shardId-<index>`).
    pub shard: u32,
    /// Offset of the record in its shard.
    pub offset: u64,
}

impl RecordKey {
    /// The record at `offset` of shard `shard`.
    pub fn new(shard: u32, offset: u64) -> RecordKey {
        RecordKey { shard, offset }
    }
}
