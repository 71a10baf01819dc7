//! Optional enforcement of Kinesis' throughput limits, so an emulator behaves like the real
//! service. Off by default ([`Limits::off`]); [`Limits::kinesis`] is the real service's
//! preset.
//!
//! Every limit is a token bucket on the engine clock. Rates refill continuously; a bucket
//! holds at most one second of its rate (or, for write bytes, the stream's largest record,
//! the "tank" that lets large records through at an unchanged average rate). Read bytes go
//! into debt: a GetRecords call is allowed while the balance is not negative and then pays for
//! what it returned, so a 10 MiB read at 2 MiB/s throttles the shard's reads until the debt is
//! repaid — 4 to 5 seconds depending on the credit banked before it (Kinesis: "the next 5
//! seconds") — while several small reads within one second's budget all pass.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Throughput limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Write bytes (data + partition key) per second per shard (Kinesis: 1 MiB).
    pub shard_write_bytes_per_sec: Option<f64>,
    /// Records written per second per shard (Kinesis: 1,000).
    pub shard_write_records_per_sec: Option<f64>,
    /// GetRecords bytes per second per shard (Kinesis: 2 MiB).
    pub shard_read_bytes_per_sec: Option<f64>,
    /// GetRecords calls per second per shard (Kinesis: 5).
    pub shard_get_records_per_sec: Option<f64>,
    /// GetShardIterator calls per second per shard (Kinesis: 5).
    pub shard_get_shard_iterator_per_sec: Option<f64>,
    /// Bytes pushed per second per consumer per shard (Kinesis: 2 MiB).
    pub consumer_shard_bytes_per_sec: Option<f64>,
    /// Control-plane operations per second (Kinesis' per-operation TPS quotas).
    pub control_plane: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Limits {
    /// No limits (the default).
    pub fn off() -> Limits {
        Limits {
            shard_write_bytes_per_sec: None,
            shard_write_records_per_sec: None,
            shard_read_bytes_per_sec: None,
            shard_get_records_per_sec: None,
            shard_get_shard_iterator_per_sec: None,
            consumer_shard_bytes_per_sec: None,
            control_plane: false,
        }
    }

    /// Kinesis' limits: per shard 1 MiB/s and 1,000 records/s of writes, 2 MiB/s and 5 calls/s
    /// of GetRecords, 5 GetShardIterator calls/s; 2 MiB/s per enhanced fan-out consumer per
    /// shard; the control-plane TPS quotas.
    pub fn kinesis() -> Limits {
        Limits {
            shard_write_bytes_per_sec: Some(MIB),
            shard_write_records_per_sec: Some(1000.0),
            shard_read_bytes_per_sec: Some(2.0 * MIB),
            shard_get_records_per_sec: Some(5.0),
            shard_get_shard_iterator_per_sec: Some(5.0),
            consumer_shard_bytes_per_sec: Some(2.0 * MIB),
            control_plane: true,
        }
    }

    /// True if no limit is set.
    pub fn is_off(&self) -> bool {
        *self == Limits::off()
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::off()
    }
}

/// A token bucket on the engine clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    last_ms: i64,
    fresh: bool,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket { tokens: 0.0, last_ms: 0, fresh: true }
    }
}

impl Bucket {
    fn refill(&mut self, rate: f64, capacity: f64, now_ms: i64) {
        if self.fresh {
            self.tokens = capacity;
            self.last_ms = now_ms;
            self.fresh = false;
            return;
        }
        let elapsed = now_ms.saturating_sub(self.last_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * rate / 1000.0).min(capacity);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Tokens available now.
    pub(crate) fn available(&mut self, rate: f64, capacity: f64, now_ms: i64) -> f64 {
        self.refill(rate, capacity, now_ms);
        self.tokens
    }

    /// Spend `amount` (may go into debt).
    pub(crate) fn spend(&mut self, amount: f64) {
        self.tokens -= amount;
    }

    /// Milliseconds until the bucket holds `amount` (0 if it does).
    pub(crate) fn wait_ms(&self, rate: f64, amount: f64) -> i64 {
        if self.tokens >= amount || rate <= 0.0 {
            return 0;
        }
        ((amount - self.tokens) * 1000.0 / rate).ceil() as i64
    }
}

/// The buckets of one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardBuckets {
    write_bytes: Bucket,
    write_records: Bucket,
    read_bytes: Bucket,
    read_calls: Bucket,
    iterator_calls: Bucket,
}

impl ShardBuckets {
    /// True if a write of `records` records and `bytes` bytes would be admitted now; spends
    /// nothing (DryRun).
    pub(crate) fn can_write(&mut self, l: &Limits, records: f64, bytes: f64, max_record_bytes: f64, now: i64) -> bool {
        let byte_ok = l.shard_write_bytes_per_sec.is_none_or(|r| {
            let cap = r.max(max_record_bytes);
            self.write_bytes.available(r, cap, now) >= bytes
        });
        let rec_ok = l.shard_write_records_per_sec.is_none_or(|r| self.write_records.available(r, r, now) >= records);
        byte_ok && rec_ok
    }

    /// Admit a write of `records` records and `bytes` bytes, or refuse it (spending nothing).
    /// `max_record_bytes` sizes the byte bucket (the tank for large records).
    pub(crate) fn admit_write(
        &mut self,
        l: &Limits,
        records: f64,
        bytes: f64,
        max_record_bytes: f64,
        now: i64,
    ) -> bool {
        if !self.can_write(l, records, bytes, max_record_bytes, now) {
            return false;
        }
        if l.shard_write_bytes_per_sec.is_some() {
            self.write_bytes.spend(bytes);
        }
        if l.shard_write_records_per_sec.is_some() {
            self.write_records.spend(records);
        }
        true
    }

    /// True if a GetRecords call would be admitted now; spends nothing (DryRun).
    pub(crate) fn can_read(&mut self, l: &Limits, now: i64) -> bool {
        let calls_ok = l.shard_get_records_per_sec.is_none_or(|r| self.read_calls.available(r, r, now) >= 1.0);
        // Half a byte of slack absorbs floating-point rounding of the refill.
        let bytes_ok = l.shard_read_bytes_per_sec.is_none_or(|r| self.read_bytes.available(r, r, now) >= -0.5);
        calls_ok && bytes_ok
    }

    /// Admit a GetRecords call (before reading): a call token and a positive byte balance.
    pub(crate) fn admit_read(&mut self, l: &Limits, now: i64) -> bool {
        if !self.can_read(l, now) {
            return false;
        }
        if l.shard_get_records_per_sec.is_some() {
            self.read_calls.spend(1.0);
        }
        true
    }

    /// Pay for the bytes a GetRecords call returned (the balance may go into debt).
    pub(crate) fn charge_read(&mut self, l: &Limits, bytes: f64) {
        if l.shard_read_bytes_per_sec.is_some() {
            self.read_bytes.spend(bytes);
        }
    }

    /// True if a GetShardIterator call would be admitted now; spends nothing (DryRun).
    pub(crate) fn can_iterator(&mut self, l: &Limits, now: i64) -> bool {
        l.shard_get_shard_iterator_per_sec.is_none_or(|r| self.iterator_calls.available(r, r, now) >= 1.0)
    }

    /// Admit a GetShardIterator call.
    pub(crate) fn admit_iterator(&mut self, l: &Limits, now: i64) -> bool {
        match l.shard_get_shard_iterator_per_sec {
            None => true,
            Some(r) => {
                let ok = self.iterator_calls.available(r, r, now) >= 1.0;
                if ok {
                    self.iterator_calls.spend(1.0);
                }
                ok
            }
        }
    }
}

/// Per-operation control-plane quotas (transactions per second), from Kinesis' documented
/// limits.
pub(crate) fn control_plane_tps(op: &str) -> f64 {
    match op {
        "ListShards" => 1000.0,
        "DescribeStreamSummary" | "DescribeStreamConsumer" => 20.0,
        "DescribeStream" | "UpdateShardCount" => 10.0,
        _ => 5.0,
    }
}

/// Control-plane buckets, by operation (and stream where the quota is per stream).
#[derive(Debug, Default)]
pub(crate) struct ControlPlane {
    buckets: Mutex<HashMap<(String, u64), Bucket>>,
}

impl ControlPlane {
    /// Admit one call of `op` (scoped to stream `scope`, 0 for account-wide quotas).
    pub(crate) fn admit(&self, op: &str, scope: u64, now: i64) -> bool {
        let rate = control_plane_tps(op);
        let mut b = self.buckets.lock();
        let bucket = b.entry((op.to_string(), scope)).or_default();
        if bucket.available(rate, rate, now) >= 1.0 {
            bucket.spend(1.0);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_limited_per_second_with_a_tank_for_large_records() {
        let l = Limits::kinesis();
        let mut b = ShardBuckets::default();
        for _ in 0..1000 {
            assert!(b.admit_write(&l, 1.0, 10.0, MIB, 0));
        }
        assert!(!b.admit_write(&l, 1.0, 10.0, MIB, 0), "1,001st record in the same second");
        assert!(b.admit_write(&l, 1.0, 10.0, MIB, 1), "one record's worth refills in 1 ms");
        let mut big = ShardBuckets::default();
        let ten = 10.0 * MIB;
        assert!(big.admit_write(&l, 1.0, ten, ten, 0), "a 10 MiB record fits the tank");
        assert!(!big.admit_write(&l, 1.0, MIB, ten, 500), "then the shard earns at the average rate");
        assert!(big.admit_write(&l, 1.0, MIB, ten, 1000));
    }

    #[test]
    fn a_10_mib_read_throttles_reads_for_5_seconds() {
        let l = Limits::kinesis();
        let mut b = ShardBuckets::default();
        assert!(b.admit_read(&l, 0));
        b.charge_read(&l, 10.0 * MIB);
        // 2 MiB of banked credit, 8 MiB of debt: 4 s.
        assert!(!b.admit_read(&l, 3_999));
        assert!(b.admit_read(&l, 4_000));
        // From an empty balance, 10 MiB costs the full 5 s.
        b.charge_read(&l, 10.0 * MIB);
        assert!(!b.admit_read(&l, 8_999));
        assert!(b.admit_read(&l, 9_000));
    }

    #[test]
    fn five_calls_per_second() {
        let l = Limits::kinesis();
        let mut b = ShardBuckets::default();
        for _ in 0..5 {
            assert!(b.admit_iterator(&l, 0));
        }
        assert!(!b.admit_iterator(&l, 0));
        assert!(b.admit_iterator(&l, 200));
        let off = Limits::off();
        for _ in 0..1000 {
            assert!(b.admit_iterator(&off, 0) && b.admit_read(&off, 0));
        }
    }
}
