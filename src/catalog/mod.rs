//! The catalog: streams, shards, hash-key ranges, lineage, retention, tags, consumers,
//! capacity and encryption settings, resource policies, channels and the account's
//! settings, queues — everything about a data directory except segment bytes — and its
//! crash-atomic persistence in the `MANIFEST` file.
//!
//! The catalog is replaced as a whole on every metadata change (temp file, fdatasync,
//! rename, directory fsync; see [`store`]), so after a crash either the old or the new
//! topology is visible, never a mix. Each manifest carries a generation number that grows by
//! one per commit and a CRC over everything.

pub mod account;
pub mod channel;
pub mod codec;
pub mod queue;
pub mod store;
mod wire;

use std::collections::BTreeMap;

use crate::kinesis::HashKeyRange;

pub use account::Commitment;
pub use channel::ChannelMeta;
pub use queue::QueueMeta;

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

/// How records of a stream are spread over its shards (`RecordDistributionStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordDistribution {
    /// Routed by the MD5 of the partition key (or the explicit hash key); the key is
    /// required. The default.
    #[default]
    UserPartitionKey,
    /// Spread evenly over the open shards by the engine; keys are optional and ignored for
    /// routing (on-demand streams only).
    Auto,
}

/// Warm throughput of an on-demand stream (`WarmThroughputMiBps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmThroughput {
    /// The value being scaled toward.
    pub target_mibps: u32,
    /// The value reached before the last change (reported as current while the stream is
    /// `UPDATING`).
    pub previous_mibps: u32,
}

/// A registered enhanced fan-out consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMeta {
    /// Its name.
    pub name: String,
    /// When it was registered (ms); its ARN embeds the second.
    pub created_ms: i64,
    /// Its resource tags (TagResource on the consumer ARN).
    pub tags: BTreeMap<String, String>,
    /// Its resource policy (stored byte-identical), if one was put.
    pub policy: Option<String>,
}

impl ConsumerMeta {
    /// A consumer registered at `created_ms`, without tags or policy.
    pub fn new(name: impl Into<String>, created_ms: i64) -> ConsumerMeta {
        ConsumerMeta { name: name.into(), created_ms, tags: BTreeMap::new(), policy: None }
    }
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
    /// `StreamId`: generated at creation, `[a-z0-9]{20}-[a-z0-9]{3}`.
    pub stream_id: String,
    /// `RecordDistributionStrategy`.
    pub distribution: RecordDistribution,
    /// The KMS key id of a stream encrypted with `StartStreamEncryption` (`None`: encryption
    /// type `NONE`).
    pub encryption_key: Option<String>,
    /// When a new encryption key was applied in the last 24 hours (ms), for the 25-per-day
    /// limit.
    pub key_changes_ms: Vec<i64>,
    /// When encryption was turned off in the last 24 hours (ms), for the 25-per-day limit.
    pub encryption_stops_ms: Vec<i64>,
    /// Enabled shard-level metrics, a bit per [`crate::engine::monitoring::ShardMetric`].
    pub shard_level_metrics: u8,
    /// When the capacity mode was switched in the last 24 hours (ms), for the twice-per-day
    /// limit.
    pub mode_changes_ms: Vec<i64>,
    /// Warm throughput (on-demand streams of committed accounts).
    pub warm_throughput: Option<WarmThroughput>,
    /// The stream's resource policy (stored byte-identical), if one was put.
    pub policy: Option<String>,
    /// Highest write rate (bytes per second) seen on this on-demand stream in the last 30
    /// days, saved with each automatic scaling commit: the on-demand capacity rule allows
    /// up to twice this.
    pub peak_write_bytes_per_sec: u64,
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
    /// The account's minimum-throughput billing commitment.
    pub commitment: Commitment,
    /// Next channel uid to hand out.
    pub next_channel_uid: u64,
    /// Channels by uid.
    pub channels: BTreeMap<u64, ChannelMeta>,
    /// Next queue uid to hand out.
    pub next_queue_uid: u64,
    /// Queues by uid.
    pub queues: BTreeMap<u64, QueueMeta>,
}

impl Catalog {
    /// An empty catalog with the given token key.
    pub fn new(token_key: [u8; 32]) -> Catalog {
        Catalog {
            token_key,
            next_stream_uid: 1,
            streams: BTreeMap::new(),
            checkpoints: Vec::new(),
            commitment: Commitment::default(),
            next_channel_uid: 1,
            channels: BTreeMap::new(),
            next_queue_uid: 1,
            queues: BTreeMap::new(),
        }
    }

    /// The live or deleting stream with this name.
    pub fn stream_by_name(&self, name: &str) -> Option<&StreamMeta> {
        self.streams.values().find(|s| s.name == name)
    }
}
