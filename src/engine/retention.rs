//! Retention: the retention-period operations, the retention pass (explicit or in the
//! background), expiry of closed shards, and the optional per-stream size cap.
//!
//! A pass deletes, per shard, whole segments whose newest record is older than the stream's
//! retention (the shard log moves its trim horizon durably first, then unlinks, then syncs the
//! directory). Retention is therefore "at least": records stay readable until their whole
//! segment expires; segments also roll by age (one hour by default) so that happens in time.
//! A closed shard whose close time is past retention holds only expired records: it is
//! removed from the catalog (durably) and then from disk, as Kinesis' EXPIRED shards vanish.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::catalog::StreamLifecycle;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::messages;
use crate::kinesis::quotas::DEFAULT_RETENTION_HOURS;
use crate::kinesis::quotas::MAX_RETENTION_HOURS;

impl Engine {
    /// `IncreaseStreamRetentionPeriod`.
    pub fn increase_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.inner.admit_control("IncreaseStreamRetentionPeriod", 0)?;
        let hours = input.retention_period_hours;
        check_hours(hours)?;
        self.update_stream(&input.stream, |_, meta| {
            if hours < meta.retention_hours {
                return Err(messages::retention_shorter_than_existing(
                    i64::from(hours),
                    &meta.name,
                    i64::from(meta.retention_hours),
                ));
            }
            meta.retention_hours = hours;
            Ok(())
        })
    }

    /// `DecreaseStreamRetentionPeriod`. Data older than the new period is trimmed by the next
    /// retention pass.
    pub fn decrease_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()> {
        self.inner.admit_control("DecreaseStreamRetentionPeriod", 0)?;
        let hours = input.retention_period_hours;
        check_hours(hours)?;
        self.update_stream(&input.stream, |_, meta| {
            if hours > meta.retention_hours {
                return Err(messages::retention_longer_than_existing(
                    i64::from(hours),
                    &meta.name,
                    i64::from(meta.retention_hours),
                ));
            }
            meta.retention_hours = hours;
            Ok(())
        })
    }

    /// Cap a stream's bytes on disk (beyond Kinesis; `None` removes the cap). Each retention
    /// pass then deletes the oldest sealed segments of each shard until the stream fits,
    /// sharing the cap equally among its shards with data.
    pub fn set_stream_size_cap(&self, stream: StreamRef, max_bytes: Option<u64>) -> Result<()> {
        self.update_stream(&stream, |_, meta| {
            meta.max_bytes = max_bytes;
            Ok(())
        })
    }

    /// Override the engine's throughput limits for one stream (`None`: back to the engine's).
    /// A run-time setting: not persisted.
    pub fn set_stream_limits(&self, stream: StreamRef, limits: Option<crate::engine::limits::Limits>) -> Result<()> {
        let h = self.inner.resolve(&stream)?;
        *h.limits.write() = limits;
        Ok(())
    }

    /// Run a retention pass over every stream now.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.inner.enforce_retention()
    }
}

fn check_hours(hours: u32) -> Result<()> {
    if hours < DEFAULT_RETENTION_HOURS {
        return Err(messages::retention_too_short(i64::from(hours)));
    }
    if hours > MAX_RETENTION_HOURS {
        return Err(messages::retention_too_long(i64::from(hours), i64::from(MAX_RETENTION_HOURS)));
    }
    Ok(())
}

impl EngineInner {
    pub(crate) fn enforce_retention(&self) -> Result<RetentionReport> {
        self.reap_deleted()?;
        let mut report = RetentionReport::default();
        for h in self.all_handles() {
            self.retain_stream(&h, &mut report)?;
        }
        Ok(report)
    }

    fn retain_stream(&self, h: &Arc<StreamHandle>, report: &mut RetentionReport) -> Result<()> {
        let now = self.now_ms();
        let (cutoff, cap, slots, expired) = {
            let topo = h.topo.read();
            if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
                return Ok(());
            }
            let cutoff = now.saturating_sub(i64::from(topo.meta.retention_hours) * 3_600_000);
            let slots: Vec<_> = topo.slots.iter().filter(|s| self.config.vfs.exists(&s.dir)).cloned().collect();
            let expired: Vec<u32> = topo
                .meta
                .shards
                .iter()
                .filter(|s| s.closed.is_some_and(|c| c.closed_ms < cutoff))
                .map(|s| s.index)
                .collect();
            (cutoff, topo.meta.max_bytes, slots, expired)
        };
        let per_shard_cap = cap.map(|c| c / slots.len().max(1) as u64);
        for slot in &slots {
            if expired.contains(&slot.index) {
                continue;
            }
            let log = self.log(slot)?;
            let t = log.trim_before(cutoff)?;
            report.segments_removed += t.segments_removed;
            report.bytes_removed += t.bytes_removed;
            if let Some(c) = per_shard_cap {
                let t = log.trim_to_size(c)?;
                report.segments_removed += t.segments_removed;
                report.bytes_removed += t.bytes_removed;
            }
        }
        if !expired.is_empty() {
            report.shards_expired += self.expire_shards(h, &expired)?;
        }
        // A trimmed record is never delivered by a queue again: drop its state.
        self.trim_queues(h)?;
        Ok(())
    }

    /// Remove closed, fully expired shards: catalog first (durably), then their files.
    fn expire_shards(&self, h: &Arc<StreamHandle>, indexes: &[u32]) -> Result<usize> {
        let removed_slots = {
            let mut cat = self.catalog.lock();
            let mut topo = h.topo.write();
            let mut meta = topo.meta.clone();
            meta.shards.retain(|s| !indexes.contains(&s.index));
            let gone: Vec<_> = topo.slots.iter().filter(|s| indexes.contains(&s.index)).cloned().collect();
            self.commit_stream(&mut cat, &mut topo, &h.dir, meta)?;
            gone
        };
        let vfs = &self.config.vfs;
        for slot in &removed_slots {
            if let Some(log) = slot.log.lock().take() {
                log.discard();
            }
            if vfs.exists(&slot.dir) {
                vfs.remove_dir_all(&slot.dir).map_err(|e| Error::io("remove", &slot.dir, e))?;
            }
        }
        if !removed_slots.is_empty() && vfs.exists(&h.dir) {
            vfs.sync_dir(&h.dir).map_err(|e| Error::io("directory fsync", &h.dir, e))?;
        }
        Ok(removed_slots.len())
    }
}

/// The background retention thread: runs a pass every period until the engine is dropped.
pub(crate) struct RetentionTask {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RetentionTask {
    pub(crate) fn start(engine: Weak<EngineInner>, period: Duration) -> RetentionTask {
        RetentionTask::start_with(engine, period, "shardlog-retention", |inner| {
            // Errors are surfaced by the next explicit call; a background pass just retries.
            let _ = inner.enforce_retention();
        })
    }

    /// A background thread that runs `pass` every `period` until stopped or the engine is
    /// dropped (also used for channel delivery).
    pub(crate) fn start_with(
        engine: Weak<EngineInner>,
        period: Duration,
        name: &str,
        pass: fn(&EngineInner),
    ) -> RetentionTask {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || loop {
            {
                let mut stopped = signal.0.lock();
                if !*stopped {
                    signal.1.wait_for(&mut stopped, period);
                }
                if *stopped {
                    return;
                }
            }
            let Some(inner) = engine.upgrade() else { return };
            pass(&inner);
        });
        RetentionTask { stop, thread: thread.ok() }
    }

    /// Stop the task and wait for a pass in progress to finish (so it no longer holds the
    /// engine, and with it the directory lock).
    pub(crate) fn stop_and_join(mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }
}
