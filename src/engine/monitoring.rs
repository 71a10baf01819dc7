//! Enhanced monitoring: `EnableEnhancedMonitoring` / `DisableEnhancedMonitoring` (the
//! stream's set of shard-level metrics, persisted in the catalog) and the per-shard counters
//! behind those metrics.
//!
//! Every shard counts, from the moment its slot exists in this process: bytes and records
//! written and read, throttled writes and reads, and the iterator age of its last read. The
//! counters are cheap atomics updated on every call whether or not a metric is enabled;
//! [`Engine::shard_level_metrics`] reports them with the enabled set, so an exporter (the
//! server's metrics endpoint) publishes shard-level series only for enabled metrics, as
//! CloudWatch does. Counters are run-time state: they start at zero when the engine opens.
//!
//! AWS does not say whether the change passes through `UPDATING`; here it is applied at once
//! (the stream must be `ACTIVE`, as for resharding).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::engine::capacity::HotShard;
use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::Result;
use crate::kinesis::{messages, names, Constraint, ValidationErrors};

/// Run-time counters of one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardStats {
    incoming_bytes: AtomicU64,
    incoming_records: AtomicU64,
    outgoing_bytes: AtomicU64,
    outgoing_records: AtomicU64,
    write_throttled: AtomicU64,
    read_throttled: AtomicU64,
    iterator_age_ms: AtomicI64,
    /// The hot-shard detector of on-demand scaling.
    pub(crate) hot: Mutex<HotShard>,
}

impl ShardStats {
    pub(crate) fn wrote(&self, records: u64, bytes: u64) {
        self.incoming_records.fetch_add(records, Ordering::Relaxed);
        self.incoming_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, records: u64, bytes: u64, iterator_age_ms: i64) {
        self.outgoing_records.fetch_add(records, Ordering::Relaxed);
        self.outgoing_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.iterator_age_ms.store(iterator_age_ms, Ordering::Relaxed);
    }

    pub(crate) fn write_throttled(&self, n: u64) {
        self.write_throttled.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn read_throttled(&self) {
        self.read_throttled.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, shard_id: String) -> ShardCounters {
        ShardCounters {
            shard_id,
            incoming_bytes: self.incoming_bytes.load(Ordering::Relaxed),
            incoming_records: self.incoming_records.load(Ordering::Relaxed),
            outgoing_bytes: self.outgoing_bytes.load(Ordering::Relaxed),
            outgoing_records: self.outgoing_records.load(Ordering::Relaxed),
            write_provisioned_throughput_exceeded: self.write_throttled.load(Ordering::Relaxed),
            read_provisioned_throughput_exceeded: self.read_throttled.load(Ordering::Relaxed),
            iterator_age_milliseconds: self.iterator_age_ms.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one shard, cumulative since the engine opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCounters {
    /// The shard.
    pub shard_id: String,
    /// `IncomingBytes`: data + partition-key bytes written.
    pub incoming_bytes: u64,
    /// `IncomingRecords`: records written.
    pub incoming_records: u64,
    /// `OutgoingBytes`: bytes returned by GetRecords.
    pub outgoing_bytes: u64,
    /// `OutgoingRecords`: records returned by GetRecords.
    pub outgoing_records: u64,
    /// `WriteProvisionedThroughputExceeded`: records refused by throughput limits.
    pub write_provisioned_throughput_exceeded: u64,
    /// `ReadProvisionedThroughputExceeded`: GetRecords calls refused by throughput limits.
    pub read_provisioned_throughput_exceeded: u64,
    /// `IteratorAgeMilliseconds`: `MillisBehindLatest` of the shard's last GetRecords.
    pub iterator_age_milliseconds: i64,
}

impl ShardCounters {
    /// The value of one metric.
    pub fn value(&self, m: ShardMetric) -> i64 {
        let v = match m {
            ShardMetric::IncomingBytes => self.incoming_bytes,
            ShardMetric::IncomingRecords => self.incoming_records,
            ShardMetric::OutgoingBytes => self.outgoing_bytes,
            ShardMetric::OutgoingRecords => self.outgoing_records,
            ShardMetric::WriteProvisionedThroughputExceeded => self.write_provisioned_throughput_exceeded,
            ShardMetric::ReadProvisionedThroughputExceeded => self.read_provisioned_throughput_exceeded,
            ShardMetric::IteratorAgeMilliseconds => return self.iterator_age_milliseconds,
        };
        i64::try_from(v).unwrap_or(i64::MAX)
    }
}

/// A stream's enabled shard-level metrics and the counters of its listed shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamShardMetrics {
    /// `StreamName`.
    pub stream_name: String,
    /// `StreamARN`.
    pub stream_arn: String,
    /// The enabled metrics (empty: enhanced monitoring is off).
    pub enabled: Vec<ShardMetric>,
    /// Every listed shard's counters, in index order.
    pub shards: Vec<ShardCounters>,
}

fn check_metric_list(list: &[MetricsName]) -> Result<u8> {
    let mut e = ValidationErrors::new();
    let rendered = || format!("[{}]", list.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "));
    if list.is_empty() {
        e.push("shardLevelMetrics", rendered(), Constraint::MinLength(1));
    } else if list.len() > ShardMetric::ALL.len() {
        e.push("shardLevelMetrics", rendered(), Constraint::MaxLength(ShardMetric::ALL.len()));
    }
    e.into_result()?;
    Ok(list.iter().fold(0u8, |acc, m| match m {
        MetricsName::All => acc | ((1 << ShardMetric::ALL.len()) - 1),
        MetricsName::Metric(m) => acc | m.bit(),
    }))
}

impl Engine {
    /// `EnableEnhancedMonitoring`: adds metrics to the stream's set.
    pub fn enable_enhanced_monitoring(&self, input: EnhancedMonitoringInput) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring("EnableEnhancedMonitoring", input, |cur, bits| cur | bits)
    }

    /// `DisableEnhancedMonitoring`: removes metrics from the stream's set.
    pub fn disable_enhanced_monitoring(&self, input: EnhancedMonitoringInput) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring("DisableEnhancedMonitoring", input, |cur, bits| cur & !bits)
    }

    fn change_monitoring(
        &self,
        op: &str,
        input: EnhancedMonitoringInput,
        apply: fn(u8, u8) -> u8,
    ) -> Result<EnhancedMonitoringOutput> {
        self.inner.admit_control(op, 0)?;
        let bits = check_metric_list(&input.shard_level_metrics)?;
        let mut before = 0u8;
        let mut after = 0u8;
        let mut name = String::new();
        self.update_stream(&input.stream, |inner, meta| {
            let status = inner.status(meta);
            if status != StreamStatus::Active {
                return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, status.as_str()));
            }
            before = meta.shard_level_metrics;
            after = apply(before, bits);
            meta.shard_level_metrics = after;
            name = meta.name.clone();
            Ok(())
        })?;
        let h = self.inner.resolve(&StreamRef::name(&name))?;
        Ok(EnhancedMonitoringOutput {
            stream_name: name,
            stream_arn: h.arn.clone(),
            current_shard_level_metrics: ShardMetric::from_bits(before),
            desired_shard_level_metrics: ShardMetric::from_bits(after),
        })
    }

    /// The enabled shard-level metrics and per-shard counters of every stream (for metrics
    /// exporters).
    pub fn shard_level_metrics(&self) -> Vec<StreamShardMetrics> {
        let mut out: Vec<StreamShardMetrics> = self
            .inner
            .all_handles()
            .iter()
            .map(|h| {
                let topo = h.topo.read();
                StreamShardMetrics {
                    stream_name: topo.meta.name.clone(),
                    stream_arn: h.arn.clone(),
                    enabled: ShardMetric::from_bits(topo.meta.shard_level_metrics),
                    shards: topo
                        .slots
                        .iter()
                        .map(|slot| slot.stats.snapshot(names::shard_id_name(slot.index)))
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.stream_name.cmp(&b.stream_name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_means_the_seven_metrics_and_lists_are_1_to_7_long() {
        assert_eq!(check_metric_list(&[MetricsName::All]).unwrap(), 0x7f);
        let one = MetricsName::Metric(ShardMetric::OutgoingBytes);
        assert_eq!(check_metric_list(&[one, one]).unwrap(), ShardMetric::OutgoingBytes.bit());
        assert!(check_metric_list(&[]).is_err());
        assert!(check_metric_list(&[one; 8]).is_err());
        assert_eq!(ShardMetric::from_bits(0x7f), ShardMetric::ALL.to_vec());
    }
}
