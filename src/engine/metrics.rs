//! Data-plane counters and engine gauges, for an embedding program to export.
//!
//! Kinesis publishes these to CloudWatch; the engine keeps them as plain atomics (no
//! runtime, no metrics crate) and [`Engine::metrics`] takes a snapshot that a server renders
//! in its own format (`shardlog-server` renders Prometheus text at `GET /metrics`).
//!
//! Every counter exists twice: per shard and per stream. The stream's copy is kept apart
//! (not summed from the shards at snapshot time) so that it never goes down when a closed
//! shard expires. Shard-level series are what Kinesis calls enhanced (shard-level)
//! monitoring: the snapshot carries every shard's counters, and
//! [`StreamMetrics::shard_level_metrics`] names which of them the stream has enabled, so an
//! exporter shows only those (as Kinesis does).
//!
//! Counts start at zero when the engine opens (Prometheus counters reset with the process).
//! Sizes are Kinesis' metered record size: data blob plus partition key bytes.
//!
//! Counters use `Relaxed` atomics: each is independent, and a snapshot is not a consistent
//! cut across them (a put may be counted in the shard and not yet in the stream).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::catalog::StreamMeta;
use crate::engine::Engine;
use crate::io::Vfs;
use crate::kinesis::names;

pub use crate::engine::types::ShardMetric;

/// Live counters of one shard or one stream.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    incoming_records: AtomicU64,
    incoming_bytes: AtomicU64,
    get_records_records: AtomicU64,
    get_records_bytes: AtomicU64,
    get_records_iterator_age_ms: AtomicU64,
    write_throughput_exceeded: AtomicU64,
    read_throughput_exceeded: AtomicU64,
    subscribe_event_records: AtomicU64,
    subscribe_event_bytes: AtomicU64,
    subscribe_event_millis_behind_latest: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn ms(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Counters {
    /// Records acknowledged by a put.
    pub(crate) fn incoming(&self, records: u64, bytes: u64) {
        add(&self.incoming_records, records);
        add(&self.incoming_bytes, bytes);
    }

    /// A successful GetRecords call.
    pub(crate) fn get_records(&self, records: u64, bytes: u64, millis_behind_latest: i64) {
        add(&self.get_records_records, records);
        add(&self.get_records_bytes, bytes);
        self.get_records_iterator_age_ms.store(ms(millis_behind_latest), Ordering::Relaxed);
    }

    /// Records refused by a write throughput limit.
    pub(crate) fn write_throttled(&self, records: u64) {
        add(&self.write_throughput_exceeded, records);
    }

    /// A GetRecords call refused by a read throughput limit.
    pub(crate) fn read_throttled(&self) {
        add(&self.read_throughput_exceeded, 1);
    }

    /// A SubscribeToShard event (records or a heartbeat).
    pub(crate) fn subscribe_event(&self, records: u64, bytes: u64, millis_behind_latest: i64) {
        add(&self.subscribe_event_records, records);
        add(&self.subscribe_event_bytes, bytes);
        self.subscribe_event_millis_behind_latest.store(ms(millis_behind_latest), Ordering::Relaxed);
    }

    fn snapshot(&self) -> DataPlaneCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DataPlaneCounters {
            incoming_records: get(&self.incoming_records),
            incoming_bytes: get(&self.incoming_bytes),
            get_records_records: get(&self.get_records_records),
            get_records_bytes: get(&self.get_records_bytes),
            get_records_iterator_age_ms: get(&self.get_records_iterator_age_ms),
            write_throughput_exceeded: get(&self.write_throughput_exceeded),
            read_throughput_exceeded: get(&self.read_throughput_exceeded),
            subscribe_event_records: get(&self.subscribe_event_records),
            subscribe_event_bytes: get(&self.subscribe_event_bytes),
            subscribe_event_millis_behind_latest: get(&self.subscribe_event_millis_behind_latest),
        }
    }
}

/// The counters of one shard or stream at one moment. Counters only grow while the engine is
/// open; the two `*millis*`/`*age*` members are gauges (the latest value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataPlaneCounters {
    /// Records acknowledged by PutRecord/PutRecords (`IncomingRecords`).
    pub incoming_records: u64,
    /// Their bytes, data plus partition key (`IncomingBytes`).
    pub incoming_bytes: u64,
    /// Records returned by GetRecords (`GetRecords.Records`).
    pub get_records_records: u64,
    /// Their bytes (`GetRecords.Bytes`).
    pub get_records_bytes: u64,
    /// `MillisBehindLatest` of the latest GetRecords call (`GetRecords.IteratorAgeMilliseconds`;
    /// for a stream, of the latest call on any of its shards).
    pub get_records_iterator_age_ms: u64,
    /// Records refused by write throughput limits (`WriteProvisionedThroughputExceeded`).
    pub write_throughput_exceeded: u64,
    /// GetRecords calls refused by read throughput limits (`ReadProvisionedThroughputExceeded`).
    pub read_throughput_exceeded: u64,
    /// Records pushed by SubscribeToShard (`SubscribeToShardEvent.Records`).
    pub subscribe_event_records: u64,
    /// Their bytes (`SubscribeToShardEvent.Bytes`).
    pub subscribe_event_bytes: u64,
    /// `MillisBehindLatest` of the latest SubscribeToShard event
    /// (`SubscribeToShardEvent.MillisBehindLatest`).
    pub subscribe_event_millis_behind_latest: u64,
}

/// One shard's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMetrics {
    /// `shardId-000000000000`.
    pub shard_id: String,
    /// Open for writes (not closed by a split or merge).
    pub open: bool,
    /// Its counters.
    pub counters: DataPlaneCounters,
}

/// One stream's counters and gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMetrics {
    /// The stream name.
    pub stream_name: String,
    /// Stream-level counters (all shards, including closed and expired ones).
    pub counters: DataPlaneCounters,
    /// Every shard still in the stream's topology (open and closed), in shard-id order.
    pub shards: Vec<ShardMetrics>,
    /// The shard-level metrics enabled for the stream (enhanced monitoring); an exporter
    /// shows per-shard series only for these.
    pub shard_level_metrics: Vec<ShardMetric>,
    /// Shards open for writes.
    pub open_shards: u32,
    /// Bytes of the stream's files on disk (segments and indexes).
    pub bytes_on_disk: u64,
}

/// A snapshot of the engine's counters and gauges ([`Engine::metrics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineMetrics {
    /// Every stream, by name.
    pub streams: Vec<StreamMetrics>,
    /// Shard logs open in this process (each holds its active segment's descriptors).
    pub open_shard_logs: u64,
    /// Sealed segments currently memory-mapped.
    pub loaded_segments: u64,
}

/// The stream's enabled shard-level metrics (`EnableEnhancedMonitoring`), in the model's order.
fn enabled_shard_level_metrics(meta: &StreamMeta) -> Vec<ShardMetric> {
    ShardMetric::from_bits(meta.shard_level_metrics)
}

impl Engine {
    /// A snapshot of every stream's counters and the engine's gauges. Costs one pass over
    /// the streams, their shards and their files (for the bytes on disk): meant for a scrape
    /// every few seconds, not for a hot path.
    pub fn metrics(&self) -> EngineMetrics {
        let inner = &self.inner;
        let mut streams = Vec::new();
        let mut open_shard_logs = 0u64;
        for h in inner.all_handles() {
            let topo = h.topo.read();
            if matches!(topo.meta.lifecycle, crate::catalog::StreamLifecycle::Deleting { .. }) {
                continue;
            }
            let mut shards = Vec::with_capacity(topo.slots.len());
            let mut counters = h.counters.snapshot();
            let mut latest_age = None::<u64>;
            for (meta, slot) in topo.meta.shards.iter().zip(&topo.slots) {
                debug_assert_eq!(meta.index, slot.index, "slots follow the catalog's shards");
                if slot.log.lock().is_some() {
                    open_shard_logs += 1;
                }
                let c = slot.counters.snapshot();
                if meta.is_open() {
                    latest_age = Some(latest_age.unwrap_or(0).max(c.get_records_iterator_age_ms));
                }
                shards.push(ShardMetrics {
                    shard_id: names::shard_id_name(meta.index),
                    open: meta.is_open(),
                    counters: c,
                });
            }
            // The stream's iterator age is the oldest among its open shards' latest reads
            // (CloudWatch's stream-level statistic is the maximum).
            if let Some(age) = latest_age {
                counters.get_records_iterator_age_ms = age;
            }
            let open_shards = topo.meta.shards.iter().filter(|s| s.is_open()).count() as u32;
            let shard_level_metrics = enabled_shard_level_metrics(&topo.meta);
            let stream_name = topo.meta.name.clone();
            drop(topo);
            let bytes_on_disk = dir_bytes(inner.config.vfs.as_ref(), &h.dir);
            streams.push(StreamMetrics {
                stream_name,
                counters,
                shards,
                shard_level_metrics,
                open_shards,
                bytes_on_disk,
            });
        }
        streams.sort_by(|a, b| a.stream_name.cmp(&b.stream_name));
        EngineMetrics { streams, open_shard_logs, loaded_segments: inner.cache.loaded() as u64 }
    }
}

/// Bytes of the files under `dir`, recursively (shard directories and their files). A file
/// that vanishes meanwhile (trimmed, deleted) counts as zero.
fn dir_bytes(vfs: &dyn Vfs, dir: &Path) -> u64 {
    let Ok(entries) = vfs.read_dir(dir) else { return 0 };
    let mut total = 0u64;
    for e in entries {
        let path = dir.join(&e.name);
        if e.is_dir {
            total += dir_bytes(vfs, &path);
        } else if let Ok(f) = vfs.open_read(&path) {
            total += f.len().unwrap_or(0);
        }
    }
    total
}
