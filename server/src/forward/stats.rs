//! Counters and lag of a running forwarder, shared by its pumps and read by the progress
//! display, `--json` and the metrics endpoint through [`ForwardStats::snapshot`].
//!
//! Lag: *records behind* is, over every shard not yet finished, the records retained after
//! the last acknowledged one (known when the source reports its offsets: a local stream);
//! *milliseconds behind* is the age of the oldest record read but not yet acknowledged, or
//! else the source's `MillisBehindLatest` of the last read, the largest over the shards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug, Clone, Default)]
struct ShardLag {
    oldest_pending_arrival_ms: Option<i64>,
    millis_behind_latest: i64,
}

/// Live counters (monotonic unless noted).
#[derive(Debug)]
pub struct ForwardStats {
    started: Instant,
    records_read: AtomicU64,
    records_forwarded: AtomicU64,
    bytes_forwarded: AtomicU64,
    requests: AtomicU64,
    request_failures: AtomicU64,
    entries_failed: AtomicU64,
    entries_throttled: AtomicU64,
    records_resent: AtomicU64,
    backoffs: AtomicU64,
    backoff_ms: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_us: AtomicU64,
    shards_finished: AtomicU64,
    records_lost_to_retention: AtomicU64,
    bytes_trimmed: AtomicU64,
    records_behind: Mutex<Option<u64>>,
    shards: Mutex<BTreeMap<String, ShardLag>>,
    last_error: Mutex<Option<String>>,
}

impl Default for ForwardStats {
    fn default() -> Self {
        ForwardStats {
            started: Instant::now(),
            records_read: AtomicU64::new(0),
            records_forwarded: AtomicU64::new(0),
            bytes_forwarded: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            request_failures: AtomicU64::new(0),
            entries_failed: AtomicU64::new(0),
            entries_throttled: AtomicU64::new(0),
            records_resent: AtomicU64::new(0),
            backoffs: AtomicU64::new(0),
            backoff_ms: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_us: AtomicU64::new(0),
            shards_finished: AtomicU64::new(0),
            records_lost_to_retention: AtomicU64::new(0),
            bytes_trimmed: AtomicU64::new(0),
            records_behind: Mutex::new(None),
            shards: Mutex::new(BTreeMap::new()),
            last_error: Mutex::new(None),
        }
    }
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

impl ForwardStats {
    pub(crate) fn read(&self, n: usize) {
        add(&self.records_read, n);
    }
    pub(crate) fn forwarded(&self, records: usize, bytes: usize) {
        add(&self.records_forwarded, records);
        add(&self.bytes_forwarded, bytes);
    }
    pub(crate) fn request(&self) {
        add(&self.requests, 1);
    }
    pub(crate) fn request_failed(&self, why: &str) {
        add(&self.request_failures, 1);
        self.set_error(why);
    }
    pub(crate) fn entries(&self, failed: usize, throttled: usize, resent: usize) {
        add(&self.entries_failed, failed);
        add(&self.entries_throttled, throttled);
        add(&self.records_resent, resent);
    }
    pub(crate) fn backoff(&self, ms: u64) {
        add(&self.backoffs, 1);
        self.backoff_ms.fetch_add(ms, Ordering::Relaxed);
    }
    pub(crate) fn checkpoint(&self, took: std::time::Duration) {
        add(&self.checkpoints, 1);
        self.checkpoint_us.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
    pub(crate) fn shard_finished(&self, shard_id: &str) {
        add(&self.shards_finished, 1);
        self.lock_shards().remove(shard_id);
    }
    pub(crate) fn lost_to_retention(&self, n: u64) {
        self.records_lost_to_retention.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn trimmed(&self, bytes: u64) {
        self.bytes_trimmed.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn set_records_behind(&self, n: Option<u64>) {
        *self.records_behind.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }
    pub(crate) fn set_error(&self, why: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    }
    pub(crate) fn shard_lag(
        &self,
        shard_id: &str,
        oldest_pending_arrival_ms: Option<i64>,
        millis_behind_latest: Option<i64>,
    ) {
        let mut shards = self.lock_shards();
        let lag = shards.entry(shard_id.to_string()).or_default();
        lag.oldest_pending_arrival_ms = oldest_pending_arrival_ms;
        if let Some(m) = millis_behind_latest {
            lag.millis_behind_latest = m;
        }
    }
    pub(crate) fn shard_stopped(&self, shard_id: &str) {
        self.lock_shards().remove(shard_id);
    }

    fn lock_shards(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ShardLag>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let now = now_ms();
        let shards = self.lock_shards();
        let millis_behind = shards
            .values()
            .map(|l| match l.oldest_pending_arrival_ms {
                Some(a) => now.saturating_sub(a).max(0),
                None => l.millis_behind_latest.max(0),
            })
            .max()
            .unwrap_or(0);
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            records_read: g(&self.records_read),
            records_forwarded: g(&self.records_forwarded),
            bytes_forwarded: g(&self.bytes_forwarded),
            requests: g(&self.requests),
            request_failures: g(&self.request_failures),
            entries_failed: g(&self.entries_failed),
            entries_throttled: g(&self.entries_throttled),
            records_resent: g(&self.records_resent),
            backoffs: g(&self.backoffs),
            backoff_ms: g(&self.backoff_ms),
            checkpoints: g(&self.checkpoints),
            checkpoint_ms: g(&self.checkpoint_us) / 1000,
            shards_active: shards.len() as u64,
            shards_finished: g(&self.shards_finished),
            records_lost_to_retention: g(&self.records_lost_to_retention),
            bytes_trimmed: g(&self.bytes_trimmed),
            records_behind: *self.records_behind.lock().unwrap_or_else(|p| p.into_inner()),
            millis_behind: u64::try_from(millis_behind).unwrap_or(0),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// A point-in-time copy of [`ForwardStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Since the forwarder started.
    pub elapsed_ms: u64,
    /// Records read from the source.
    pub records_read: u64,
    /// Records acknowledged by the destination and checkpointed (each source record once).
    pub records_forwarded: u64,
    /// Their bytes (data + partition key).
    pub bytes_forwarded: u64,
    /// PutRecords requests sent.
    pub requests: u64,
    /// Requests that failed as a whole (throttled, 5xx, unreachable).
    pub request_failures: u64,
    /// Entries the destination refused inside a request.
    pub entries_failed: u64,
    /// … of which throttled (`ProvisionedThroughputExceededException`).
    pub entries_throttled: u64,
    /// Records accepted and sent again to keep a key's order (batched ordering).
    pub records_resent: u64,
    /// Backoff waits.
    pub backoffs: u64,
    /// Time spent in them.
    pub backoff_ms: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Time spent writing them (summed over shards).
    pub checkpoint_ms: u64,
    /// Shards being forwarded now.
    pub shards_active: u64,
    /// Shards forwarded to their end.
    pub shards_finished: u64,
    /// Records trimmed by the source's retention before they were forwarded.
    pub records_lost_to_retention: u64,
    /// Bytes deleted from the source after forwarding ("keep until forwarded").
    pub bytes_trimmed: u64,
    /// Records not yet acknowledged (`None`: the source does not tell).
    pub records_behind: Option<u64>,
    /// Age of the oldest record not yet acknowledged (0: caught up).
    pub millis_behind: u64,
    /// The last failure seen (retried or not).
    pub last_error: Option<String>,
}

impl StatsSnapshot {
    /// Records per second since `earlier` (0 if no time passed).
    pub fn records_per_sec_since(&self, earlier: &StatsSnapshot) -> f64 {
        let dt = self.elapsed_ms.saturating_sub(earlier.elapsed_ms);
        if dt == 0 {
            return 0.0;
        }
        self.records_forwarded.saturating_sub(earlier.records_forwarded) as f64 * 1000.0 / dt as f64
    }

    /// The snapshot as a JSON object (`records_per_sec` over the whole run).
    pub fn to_json(&self) -> serde_json::Value {
        let avg = self.records_per_sec_since(&StatsSnapshot::default());
        serde_json::json!({
            "elapsed_ms": self.elapsed_ms,
            "records_read": self.records_read,
            "records_forwarded": self.records_forwarded,
            "bytes_forwarded": self.bytes_forwarded,
            "records_per_sec": (avg * 10.0).round() / 10.0,
            "requests": self.requests,
            "request_failures": self.request_failures,
            "entries_failed": self.entries_failed,
            "entries_throttled": self.entries_throttled,
            "records_resent": self.records_resent,
            "backoffs": self.backoffs,
            "backoff_ms": self.backoff_ms,
            "checkpoints": self.checkpoints,
            "checkpoint_ms": self.checkpoint_ms,
            "shards_active": self.shards_active,
            "shards_finished": self.shards_finished,
            "records_lost_to_retention": self.records_lost_to_retention,
            "bytes_trimmed": self.bytes_trimmed,
            "records_behind": self.records_behind,
            "millis_behind": self.millis_behind,
            "last_error": self.last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_in_milliseconds_is_the_oldest_unacknowledged_record_or_the_last_read_lag() {
        let s = ForwardStats::default();
        assert_eq!(s.snapshot().millis_behind, 0);
        s.shard_lag("a", None, Some(250));
        assert_eq!(s.snapshot().millis_behind, 250);
        s.shard_lag("b", Some(now_ms() - 60_000), None);
        let m = s.snapshot().millis_behind;
        assert!((60_000..120_000).contains(&m), "{m}");
        s.shard_finished("b");
        assert_eq!(s.snapshot().millis_behind, 250);
        assert_eq!(s.snapshot().shards_finished, 1);
    }

    #[test]
    fn throughput_is_forwarded_records_over_elapsed_time() {
        let a = StatsSnapshot { elapsed_ms: 1000, records_forwarded: 100, ..Default::default() };
        let b = StatsSnapshot { elapsed_ms: 3000, records_forwarded: 1100, ..Default::default() };
        assert_eq!(b.records_per_sec_since(&a), 500.0);
        assert_eq!(a.records_per_sec_since(&a), 0.0);
        assert_eq!(b.to_json()["records_forwarded"], 1100);
    }
}
