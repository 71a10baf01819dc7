//! Capacity: `UpdateStreamMode`, `UpdateStreamWarmThroughput`,
//! `UpdateStreamRecordDistributionStrategy`, and the engine-managed scaling of on-demand
//! streams.
//!
//! # On-demand streams
//!
//! An on-demand stream starts with 4 shards. Its shards belong to the engine: user
//! `SplitShard`, `MergeShards` and `UpdateShardCount` are refused (`ValidationException`, as
//! AWS). With throughput limits on (`EngineConfig::limits`):
//!
//! - **Write capacity** follows AWS' on-demand rule: the stream accepts up to
//!   `max(4 MiB/s and 4,000 records/s, twice the peak write rate seen in the last 30 days,
//!   the warm throughput)`; writes beyond it are throttled stream-wide
//!   (`ProvisionedThroughputExceeded`), on top of the per-shard limits. The peak is a
//!   run-time measurement (per completed second of accepted writes) saved in the catalog with
//!   each automatic scaling commit, so it survives restarts from then on.
//! - **Hot shards split**: a shard whose accepted writes reach
//!   [`OnDemandConfig::hot_shard_utilization`] of its per-shard limit (bytes or records) in
//!   each of [`OnDemandConfig::hot_shard_seconds`] consecutive seconds is split at the middle
//!   of its hash range by a real `SplitShard` (lineage, closed parent, two children), so every
//!   consumer path — GetRecords with ChildShards, subscriptions, `LineageReader`, channels —
//!   keeps working. The split runs on the put that detected it, after its records were
//!   acknowledged. Splits stop at 10,000 shards per stream and at the account's shard quota.
//! - **Warm throughput** pre-scales: the stream is resharded uniformly up to one shard per
//!   MiB/s of the target (never down).
//!
//! Without limits nothing is throttled and nothing splits by itself; the settings are still
//! stored and reported.
//!
//! # Decisions where AWS is silent
//!
//! - Switching to the mode a stream is already in is `InvalidArgumentException`.
//! - A stream with AUTO record distribution cannot switch to PROVISIONED
//!   (`InvalidArgumentException`: set USER_PARTITION_KEY first); one with channels (or
//!   queues) cannot either (`ResourceInUseException`). Warm throughput is dropped when a
//!   stream becomes provisioned.
//! - Warm throughput on a provisioned stream, or in an account without a billing commitment,
//!   is `ValidationException`; more than 10,240 MiB/s is `LimitExceededException`.
//! - The record distribution changes at once (no UPDATING), as the model says.

use std::sync::Arc;

use crate::catalog::{RecordDistribution, StreamLifecycle, StreamMeta, StreamMode, WarmThroughput};
use crate::engine::limits::{Bucket, Limits};
use crate::engine::reshard::scale_uniformly;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::messages;
use crate::kinesis::quotas::MAX_SHARDS_PER_STREAM;

/// Base write capacity of an on-demand stream, bytes per second.
pub const ON_DEMAND_BASE_WRITE_BYTES: f64 = 4.0 * MIB;
/// Base write capacity of an on-demand stream, records per second.
pub const ON_DEMAND_BASE_WRITE_RECORDS: f64 = 4000.0;
/// Largest warm throughput (MiB/s) of one stream.
pub const MAX_WARM_THROUGHPUT_MIBPS: u32 = 10_240;
/// Most capacity-mode switches per stream per rolling 24 hours.
pub const MAX_MODE_CHANGES_PER_DAY: usize = 2;
/// Most on-demand streams per account (`OnDemandStreamCountLimit`).
pub const ON_DEMAND_STREAM_LIMIT: u32 = 50;
/// How long a peak counts for the on-demand capacity rule.
const PEAK_WINDOW_MS: i64 = 30 * 24 * 3_600_000;
const DAY_MS: i64 = 24 * 3_600_000;
const MIB: f64 = 1024.0 * 1024.0;

/// Tunables of on-demand scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnDemandConfig {
    /// A shard counts as hot in a second when its accepted writes reach this fraction of
    /// its per-shard limit (bytes or records). Default 0.8.
    pub hot_shard_utilization: f64,
    /// Consecutive hot seconds before the shard is split. Default 5.
    pub hot_shard_seconds: u32,
}

impl Default for OnDemandConfig {
    fn default() -> Self {
        OnDemandConfig { hot_shard_utilization: 0.8, hot_shard_seconds: 5 }
    }
}

/// Write demand of one on-demand stream (run-time state).
#[derive(Debug, Default)]
pub(crate) struct StreamDemand {
    bytes: Bucket,
    records: Bucket,
    /// The second being counted, and what was accepted in it.
    second: i64,
    second_bytes: f64,
    second_records: f64,
    /// Peak accepted rate and when it was seen (ms).
    peak_bytes: f64,
    peak_records: f64,
    peak_ms: i64,
    loaded: bool,
}

impl StreamDemand {
    /// The stream's write capacity now: (bytes/s, records/s).
    fn capacity(&self, warm_mibps: u32) -> (f64, f64) {
        let warm_bytes = f64::from(warm_mibps) * MIB;
        let warm_records = f64::from(warm_mibps) * 1000.0;
        (
            ON_DEMAND_BASE_WRITE_BYTES.max(2.0 * self.peak_bytes).max(warm_bytes),
            ON_DEMAND_BASE_WRITE_RECORDS.max(2.0 * self.peak_records).max(warm_records),
        )
    }

    fn roll(&mut self, now: i64) {
        let sec = now.div_euclid(1000);
        if sec == self.second {
            return;
        }
        if now.saturating_sub(self.peak_ms) > PEAK_WINDOW_MS {
            self.peak_bytes = 0.0;
            self.peak_records = 0.0;
        }
        if self.second_bytes > self.peak_bytes || self.second_records > self.peak_records {
            self.peak_ms = now;
        }
        self.peak_bytes = self.peak_bytes.max(self.second_bytes);
        self.peak_records = self.peak_records.max(self.second_records);
        self.second = sec;
        self.second_bytes = 0.0;
        self.second_records = 0.0;
    }

    /// Admit `records` records of `bytes` bytes at `now` (spending only when `spend`).
    pub(crate) fn admit(&mut self, meta: &StreamMeta, records: f64, bytes: f64, now: i64, spend: bool) -> bool {
        if !self.loaded {
            self.loaded = true;
            self.peak_bytes = meta.peak_write_bytes_per_sec as f64;
            self.peak_ms = now;
        }
        self.roll(now);
        let (rate_bytes, rate_records) = self.capacity(meta.warm_throughput.map_or(0, |w| w.target_mibps));
        let ok = self.bytes.available(rate_bytes, rate_bytes, now) >= bytes
            && self.records.available(rate_records, rate_records, now) >= records;
        if ok && spend {
            self.bytes.spend(bytes);
            self.records.spend(records);
            self.second_bytes += bytes;
            self.second_records += records;
        }
        ok
    }

    /// The peak to save with a scaling commit.
    pub(crate) fn peak_bytes_per_sec(&self) -> u64 {
        self.peak_bytes.max(self.second_bytes) as u64
    }
}

/// The hot-shard detector of one shard (run-time state).
#[derive(Debug, Default)]
pub(crate) struct HotShard {
    second: i64,
    bytes: f64,
    records: f64,
    streak: u32,
}

impl HotShard {
    /// Count accepted writes at `now`; true once the shard has been hot for the configured
    /// number of consecutive seconds (then the count starts over).
    pub(crate) fn observe(
        &mut self,
        cfg: &OnDemandConfig,
        limits: &Limits,
        now: i64,
        records: f64,
        bytes: f64,
    ) -> bool {
        let sec = now.div_euclid(1000);
        let mut fire = false;
        if sec != self.second {
            let util = cfg.hot_shard_utilization;
            let hot = limits.shard_write_bytes_per_sec.is_some_and(|l| self.bytes >= util * l)
                || limits.shard_write_records_per_sec.is_some_and(|l| self.records >= util * l);
            let streak = if hot { self.streak + 1 } else { 0 };
            if streak >= cfg.hot_shard_seconds.max(1) {
                fire = true;
                self.streak = 0;
            } else {
                self.streak = if sec == self.second + 1 { streak } else { 0 };
            }
            self.second = sec;
            self.bytes = 0.0;
            self.records = 0.0;
        }
        self.bytes += bytes;
        self.records += records;
        fire
    }
}

fn not_active(inner: &EngineInner, meta: &StreamMeta) -> Result<()> {
    let status = inner.status(meta);
    if status != StreamStatus::Active {
        return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, status.as_str()));
    }
    Ok(())
}

/// Warm throughput needs an on-demand stream (`ValidationException`). Takes no lock.
fn check_warm_mode(mode: StreamMode) -> Result<()> {
    if mode != StreamMode::OnDemand {
        return Err(Error::Validation {
            message: "Warm throughput is supported only for streams in ON_DEMAND capacity mode.".into(),
        });
    }
    Ok(())
}

/// Shards needed for a warm throughput (one per MiB/s), capped at the per-stream maximum.
fn shards_for_warm(mibps: u32) -> u32 {
    mibps.clamp(1, MAX_SHARDS_PER_STREAM)
}

impl EngineInner {
    /// Checks a warm throughput request: an on-demand stream, a committed account, at most
    /// 10,240 MiB/s.
    pub(crate) fn check_warm(&self, mode: StreamMode, mibps: u32) -> Result<()> {
        check_warm_mode(mode)?;
        if !self.is_advantage() {
            return Err(Error::Validation {
                message: format!(
                    "Warm throughput requires the minimum throughput billing commitment of account {} \
                     (UpdateAccountSettings).",
                    self.config.account_id
                ),
            });
        }
        if mibps > MAX_WARM_THROUGHPUT_MIBPS {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Warm throughput of {mibps} MiBps exceeds the limit of {MAX_WARM_THROUGHPUT_MIBPS} MiBps per stream."
                ),
            });
        }
        Ok(())
    }

    /// With limits on, reshard an on-demand stream up to one shard per MiB/s of its warm
    /// throughput (never down).
    pub(crate) fn prescale(&self, h: &Arc<StreamHandle>) -> Result<()> {
        if self.limits_for(h).is_off() {
            return Ok(());
        }
        let (target, open) = {
            let topo = h.topo.read();
            let target = topo.meta.warm_throughput.map_or(0, |w| shards_for_warm(w.target_mibps));
            (target, topo.routes.len() as u32)
        };
        if target <= open {
            return Ok(());
        }
        self.reshard_with(&StreamRef::arn(h.arn.clone()), true, |r| {
            let open = r.open_sorted().len() as u32;
            if target > open {
                scale_uniformly(r, target)?;
            }
            Ok(())
        })
    }

    /// Split a hot shard of an on-demand stream at the middle of its hash range (see the
    /// module docs). Does nothing when the shard is gone, the stream is not ACTIVE, or a
    /// limit would be passed.
    pub(crate) fn split_hot_shard(&self, h: &Arc<StreamHandle>, index: u32) {
        let peak = h.demand.lock().peak_bytes_per_sec();
        let r = self.reshard_with(&StreamRef::arn(h.arn.clone()), true, |r| {
            if r.meta.mode != StreamMode::OnDemand {
                return Ok(());
            }
            let Some(s) = r.meta.shard(index).filter(|s| s.is_open()).cloned() else { return Ok(()) };
            let (lo, hi) = (s.range.starting_hash_key, s.range.ending_hash_key);
            if hi - lo < 3 || r.open_sorted().len() as u32 >= MAX_SHARDS_PER_STREAM {
                return Ok(());
            }
            r.meta.peak_write_bytes_per_sec = r.meta.peak_write_bytes_per_sec.max(peak);
            r.split(&s, lo + (hi - lo) / 2 + 1).map(|_| ())
        });
        // A refusal (quota, a stream no longer ACTIVE) leaves the shard as it is; it keeps
        // being throttled and is tried again when it is hot again.
        let _ = r;
    }
}

impl Engine {
    /// Split an open shard of an on-demand stream at the middle of its hash range, as the
    /// engine's on-demand scaling does for a hot shard (a test hook: AWS offers no such
    /// call, and scaling otherwise needs limits on and sustained load).
    #[doc(hidden)]
    pub fn scale_on_demand_shard(&self, stream: &str, shard_id: &str) -> Result<()> {
        let inner = &self.inner;
        let h = inner.resolve(&StreamRef::name(stream))?;
        let index = crate::kinesis::names::parse_shard_id(shard_id)
            .ok_or_else(|| Error::invalid_argument(format!("{shard_id} is not a shard id.")))?;
        inner.reshard_with(&StreamRef::arn(h.arn.clone()), true, |r| {
            if r.meta.mode != StreamMode::OnDemand {
                return Err(Error::invalid_argument("Only on-demand streams are scaled by the engine."));
            }
            let Some(s) = r.meta.shard(index).filter(|s| s.is_open()).cloned() else {
                return Err(Error::ResourceNotFound { message: format!("No open shard {shard_id}.") });
            };
            let (lo, hi) = (s.range.starting_hash_key, s.range.ending_hash_key);
            r.split(&s, lo + (hi - lo) / 2 + 1).map(|_| ())
        })
    }

    /// `UpdateStreamMode`: switch between PROVISIONED and ON_DEMAND (twice per 24 hours;
    /// ACTIVE → UPDATING → ACTIVE). The shards stay as they are.
    pub fn update_stream_mode(&self, input: UpdateStreamModeInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("UpdateStreamMode", 0)?;
        let to = input.stream_mode;
        if let Some(w) = input.warm_throughput_mibps {
            if to != StreamMode::OnDemand {
                return Err(Error::invalid_argument(
                    "WarmThroughputMiBps can be given only when switching to ON_DEMAND.",
                ));
            }
            inner.check_warm(to, w)?;
        }
        let h = inner.resolve(&input.stream)?;
        let channels = {
            let cat = inner.catalog.lock();
            cat.catalog.channels.values().filter(|c| c.stream_uid == h.uid && c.deleting_since_ms.is_none()).count()
        };
        inner.reap_queues()?;
        let queues = inner.queue_count_of(h.uid);
        let on_demand_now = {
            let cat = inner.catalog.lock();
            cat.catalog
                .streams
                .values()
                .filter(|s| s.mode == StreamMode::OnDemand && matches!(s.lifecycle, StreamLifecycle::Live))
                .count() as u32
        };
        self.update_stream(&input.stream, |inner, meta| {
            not_active(inner, meta)?;
            let account = &inner.config.account_id;
            if meta.mode == to {
                return Err(Error::invalid_argument(format!(
                    "Stream {} under account {account} is already in {} mode.",
                    meta.name,
                    to.as_str()
                )));
            }
            let now = inner.now_ms();
            meta.mode_changes_ms.retain(|t| now.saturating_sub(*t) < DAY_MS);
            if meta.mode_changes_ms.len() >= MAX_MODE_CHANGES_PER_DAY {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Stream {} under account {account} has already switched capacity mode \
                         {MAX_MODE_CHANGES_PER_DAY} times in the last 24 hours.",
                        meta.name
                    ),
                });
            }
            match to {
                StreamMode::OnDemand => {
                    if on_demand_now >= ON_DEMAND_STREAM_LIMIT {
                        return Err(Error::LimitExceeded {
                            message: format!(
                                "Account {account} already has {ON_DEMAND_STREAM_LIMIT} streams in ON_DEMAND mode."
                            ),
                        });
                    }
                    meta.warm_throughput =
                        input.warm_throughput_mibps.map(|w| WarmThroughput { target_mibps: w, previous_mibps: 0 });
                }
                StreamMode::Provisioned => {
                    if meta.distribution == RecordDistribution::Auto {
                        return Err(Error::invalid_argument(format!(
                            "Stream {} under account {account} uses RecordDistributionStrategy AUTO, which \
                             PROVISIONED mode does not support; set USER_PARTITION_KEY first.",
                            meta.name
                        )));
                    }
                    if queues > 0 {
                        return Err(Error::ResourceInUse {
                            message: format!(
                                "Stream {} under account {account} has {queues} queue(s); delete them before \
                                 switching to PROVISIONED mode.",
                                meta.name
                            ),
                        });
                    }
                    if channels > 0 {
                        return Err(Error::ResourceInUse {
                            message: format!(
                                "Stream {} under account {account} has {channels} channel(s); delete them before \
                                 switching to PROVISIONED mode.",
                                meta.name
                            ),
                        });
                    }
                    meta.warm_throughput = None;
                }
            }
            meta.mode_changes_ms.push(now);
            meta.mode = to;
            meta.updated_ms = now;
            Ok(())
        })?;
        inner.prescale(&h)
    }

    /// `UpdateStreamWarmThroughput` (on-demand streams of committed accounts; ACTIVE →
    /// UPDATING → ACTIVE, I/O continues). With limits on, the stream is pre-scaled.
    pub fn update_stream_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput> {
        let inner = &self.inner;
        inner.admit_control("UpdateStreamWarmThroughput", 0)?;
        let h = inner.resolve(&input.stream)?;
        let mode = h.topo.read().meta.mode;
        inner.check_warm(mode, input.warm_throughput_mibps)?;
        let mut out = None;
        self.update_stream(&input.stream, |inner, meta| {
            check_warm_mode(meta.mode)?;
            not_active(inner, meta)?;
            let current = meta.warm_throughput.map_or(0, |w| w.target_mibps);
            meta.warm_throughput =
                Some(WarmThroughput { target_mibps: input.warm_throughput_mibps, previous_mibps: current });
            meta.updated_ms = inner.now_ms();
            out = Some(meta.name.clone());
            Ok(())
        })?;
        inner.prescale(&h)?;
        let name = out.unwrap_or_default();
        let topo = h.topo.read();
        Ok(UpdateStreamWarmThroughputOutput {
            stream_arn: h.arn.clone(),
            stream_name: name,
            warm_throughput: inner.warm_view(&topo.meta).unwrap_or(WarmThroughputObject {
                target_mibps: input.warm_throughput_mibps,
                current_mibps: input.warm_throughput_mibps,
            }),
        })
    }

    /// `UpdateStreamRecordDistributionStrategy`: AUTO is for on-demand streams only; takes
    /// effect at once for new records.
    pub fn update_stream_record_distribution_strategy(
        &self,
        input: UpdateStreamRecordDistributionStrategyInput,
    ) -> Result<()> {
        self.inner.admit_control("UpdateStreamRecordDistributionStrategy", 0)?;
        let to = input.record_distribution_strategy;
        self.update_stream(&input.stream, |inner, meta| {
            if inner.status(meta) == StreamStatus::Creating {
                return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, "CREATING"));
            }
            if to == RecordDistribution::Auto && meta.mode != StreamMode::OnDemand {
                return Err(Error::invalid_argument(format!(
                    "RecordDistributionStrategy AUTO is supported only for streams in ON_DEMAND capacity mode; \
                     stream {} under account {} is PROVISIONED.",
                    meta.name, inner.config.account_id
                )));
            }
            meta.distribution = to;
            Ok(())
        })
    }
}

impl EngineInner {
    /// The `WarmThroughput` a stream reports: on-demand streams of committed accounts only;
    /// the current value is the target once the stream is back to ACTIVE.
    pub(crate) fn warm_view(&self, meta: &StreamMeta) -> Option<WarmThroughputObject> {
        let w = meta.warm_throughput?;
        if meta.mode != StreamMode::OnDemand {
            return None;
        }
        let current = if self.status(meta) == StreamStatus::Updating { w.previous_mibps } else { w.target_mibps };
        Some(WarmThroughputObject { target_mibps: w.target_mibps, current_mibps: current })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_hot_after_the_configured_run_of_busy_seconds() {
        let cfg = OnDemandConfig { hot_shard_utilization: 0.8, hot_shard_seconds: 3 };
        let l = Limits::kinesis();
        let mut h = HotShard::default();
        let busy = 0.9 * MIB;
        let mut fired = Vec::new();
        for sec in 0..8i64 {
            fired.push(h.observe(&cfg, &l, sec * 1000, 900.0, busy));
        }
        // Seconds 0, 1, 2 are busy: the check at the start of second 3 fires.
        assert_eq!(fired, vec![false, false, false, true, false, false, true, false]);
        let mut quiet = HotShard::default();
        for sec in 0..8i64 {
            assert!(!quiet.observe(&cfg, &l, sec * 1000, 10.0, 0.5 * MIB));
        }
        let mut gap = HotShard::default();
        assert!(!gap.observe(&cfg, &l, 0, 1.0, busy));
        assert!(!gap.observe(&cfg, &l, 1000, 1.0, busy));
        assert!(!gap.observe(&cfg, &l, 5000, 1.0, busy), "an idle gap ends the run");
        assert!(!gap.observe(&cfg, &l, 6000, 1.0, busy));
    }

    #[test]
    fn on_demand_capacity_is_twice_the_peak_or_the_base() {
        let mut d = StreamDemand::default();
        assert_eq!(d.capacity(0), (ON_DEMAND_BASE_WRITE_BYTES, ON_DEMAND_BASE_WRITE_RECORDS));
        d.peak_bytes = 3.0 * MIB;
        d.peak_records = 500.0;
        assert_eq!(d.capacity(0), (6.0 * MIB, ON_DEMAND_BASE_WRITE_RECORDS));
        assert_eq!(d.capacity(100).0, 100.0 * MIB);
    }
}
