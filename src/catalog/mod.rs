//! The catalog: streams, shards, hash-key ranges, lineage, retention, tags and consumers —
//! everything about a data directory except segment bytes — and its crash-atomic
//! persistence in the `MANIFEST` file.
//!
//! The catalog is replaced as a whole on every metadata change (temp file, fdatasync,
//! rename, directory fsync; see [`store`]), so after a crash either the old or the new
//! topology is visible, never a mix. Each manifest carries a generation number that grows by
//! one per commit and a CRC over everything.

pub mod codec;
pub mod store;

use std::collections::BTreeMap;

use crate::kinesis::HashKeyRange;

/// Stream capacity mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Shards are managed by the user.
    Provisioned,
    /// Shards are managed by the service.
    OnDemand,
}

/// One shard of a stream, open or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMeta {
    /// Index in the stream-wide counter (`shardId-<index:012>`).
    pub index: u32,
    /// The hash keys it covers (inclusive).
    pub range: HashKeyRange,
    /// When it was created (ms): its sequence numbers embed this second.
    pub created_ms: i64,
    /// The shard it was split or merged from.
    pub parent: Option<u32>,
    /// The other parent of a merge.
    pub adjacent_parent: Option<u32>,
    /// Set once a split or merge closed it: when, and its final offset (one past its last
    /// record at the close).
    pub closed: Option<ShardClose>,
}

/// How a shard was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardClose {
    /// When it closed (ms).
    pub closed_ms: i64,
    /// One past its last record.
    pub end_offset: u64,
}

impl ShardMeta {
    /// True while it accepts writes.
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// A registered enhanced fan-out consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMeta {
    /// Its name.
    pub name: String,
    /// When it was registered (ms); its ARN embeds the second.
    pub created_ms: i64,
}

/// A stored checkpoint of a durable reader (an event-source mapping, an app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The stream it belongs to.
    pub stream_uid: u64,
    /// Who owns it (e.g. an event-source mapping's id).
    pub owner: String,
    /// Shard index.
    pub shard_index: u32,
    /// The last sequence number processed (decimal), empty if none yet.
    pub sequence_number: String,
    /// The shard was processed to its end (lineage: its children may start).
    pub finished: bool,
}

/// Lifecycle of a stream in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamLifecycle {
    /// Normal.
    Live,
    /// `delete_stream` was called at this time (ms); the stream is gone once the configured
    /// deletion delay has passed.
    Deleting {
        /// When deletion started.
        since_ms: i64,
    },
}

/// One stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMeta {
    /// Internal id: names its directory; never reused.
    pub uid: u64,
    /// The user's name.
    pub name: String,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Lifecycle.
    pub lifecycle: StreamLifecycle,
    /// When the last reshard or other update started (ms), for the UPDATING status model.
    pub updated_ms: i64,
    /// Retention in hours (24–8,760).
    pub retention_hours: u32,
    /// Largest record (data + partition key) in KiB (1,024–10,240).
    pub max_record_size_kib: u32,
    /// Capacity mode.
    pub mode: StreamMode,
    /// Next shard index to hand out.
    pub next_shard_index: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Every shard not yet expired, in index order.
    pub shards: Vec<ShardMeta>,
    /// Registered consumers.
    pub consumers: Vec<ConsumerMeta>,
    /// Optional cap on the stream's bytes on disk (beyond Kinesis).
    pub max_bytes: Option<u64>,
    /// When `UpdateShardCount` ran in the last 24 hours (ms), for its rate limit.
    pub scaling_history_ms: Vec<i64>,
}

impl StreamMeta {
    /// The shard with this index.
    pub fn shard(&self, index: u32) -> Option<&ShardMeta> {
        self.shards.binary_search_by_key(&index, |s| s.index).ok().and_then(|i| self.shards.get(i))
    }

    /// The open shards, in hash-key order.
    pub fn open_shards(&self) -> Vec<&ShardMeta> {
        let mut open: Vec<&ShardMeta> = self.shards.iter().filter(|s| s.is_open()).collect();
        open.sort_by_key(|s| s.range.starting_hash_key);
        open
    }
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The key that authenticates shard iterators and pagination tokens (kept so iterators
    /// survive a restart).
    pub token_key: [u8; 32],
    /// Next stream uid to hand out.
    pub next_stream_uid: u64,
    /// Streams by uid.
    pub streams: BTreeMap<u64, StreamMeta>,
    /// Checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

impl Catalog {
    /// An empty catalog with the given token key.
    pub fn new(token_key: [u8; 32]) -> Catalog {
        Catalog { token_key, next_stream_uid: 1, streams: BTreeMap::new(), checkpoints: Vec::new() }
    }

    /// The live or deleting stream with this name.
    pub fn stream_by_name(&self, name: &str) -> Option<&StreamMeta> {
        self.streams.values().find(|s| s.name == name)
    }
}
