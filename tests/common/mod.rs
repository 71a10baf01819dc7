//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod spy;

use std::sync::Arc;
use std::time::Duration;

use shardlog::io::VfsRef;
use shardlog::{Durability, LogConfig, LogOptions, ManualClock, Record, RecordRef, Sealing, ShardLog};

/// Deterministic payload for record `i` of length `len`.
pub fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The partition key of record `i`.
pub fn key(i: u64) -> Vec<u8> {
    format!("key-{}", i % 17).into_bytes()
}

/// A small-segment config for tests.
pub fn small_config(segment_max_bytes: u64, durability: Durability) -> LogConfig {
    LogConfig {
        segment_max_bytes,
        segment_max_age: None,
        index_interval_bytes: 256,
        durability,
        ..LogConfig::default()
    }
}

/// `config` with seals completed at durability points (no background thread): every file
/// operation then happens in the test's own thread, in a fixed order, as crash simulations
/// and fault sweeps need.
pub fn deterministic(config: LogConfig) -> LogConfig {
    LogConfig { sealing: Sealing::Deferred, ..config }
}

/// Options over `vfs` with a manual clock.
pub fn options(vfs: VfsRef, clock: &ManualClock, config: LogConfig) -> LogOptions {
    LogOptions::new(config).with_vfs(vfs).with_clock(Arc::new(clock.clone()))
}

/// Append record `i` with a payload of `len` bytes.
pub fn append_one(log: &ShardLog, i: u64, len: usize) -> shardlog::Result<u64> {
    let k = key(i);
    let d = payload(i, len);
    log.append(&[RecordRef::new(&k, &d)]).map(|a| a.first_offset)
}

/// Read everything from `from` to the high-watermark.
pub fn read_all(log: &ShardLog, from: u64) -> Vec<Record> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let r = log.read(next, 1000, 4 << 20).expect("read");
        if r.records.is_empty() {
            return out;
        }
        next = r.next_offset;
        out.extend(r.records);
    }
}

/// Wait helper for thread tests (bounded; not a sleep standing in for a clock).
pub const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Crash / fault oracle (crash_bytes.rs, io_errors.rs)
// ---------------------------------------------------------------------------------------

/// A record a test appended, exactly as it must read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Its offset.
    pub offset: u64,
    /// The arrival time the shard stamped (or will stamp) on it.
    pub arrival_ms: i64,
    /// Partition key.
    pub key: Vec<u8>,
    /// Explicit hash key.
    pub hash_key: Option<u128>,
    /// Payload.
    pub data: Vec<u8>,
}

impl Expected {
    /// Record `offset` of a deterministic workload: payload of `len` bytes, an explicit hash
    /// key on every third record.
    pub fn new(offset: u64, arrival_ms: i64, len: usize) -> Expected {
        let hash_key = (offset % 3 == 2).then(|| u128::from(offset) * 0x1234_5678_9ABC_DEF1);
        Expected { offset, arrival_ms, key: key(offset), hash_key, data: payload(offset, len) }
    }

    /// The record to hand to `append`.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef { partition_key: &self.key, explicit_hash_key: self.hash_key, data: &self.data }
    }

    /// `Ok` if `r` is exactly this record.
    pub fn check(&self, r: &Record) -> Result<(), String> {
        let same = r.offset == self.offset
            && r.arrival_ms == self.arrival_ms
            && r.partition_key == self.key
            && r.explicit_hash_key == self.hash_key
            && r.data == self.data;
        if same {
            Ok(())
        } else {
            Err(format!(
                "record at offset {} differs: got offset {} arrival {} key {:?} hash {:?} {} data bytes; \
                 want arrival {} key {:?} hash {:?} {} data bytes (data equal: {})",
                self.offset,
                r.offset,
                r.arrival_ms,
                String::from_utf8_lossy(&r.partition_key),
                r.explicit_hash_key,
                r.data.len(),
                self.arrival_ms,
                String::from_utf8_lossy(&self.key),
                self.hash_key,
                self.data.len(),
                r.data == self.data,
            ))
        }
    }
}

/// Append `records` as one batch; they must carry consecutive offsets from the log's
/// high-watermark.
pub fn append_expected(log: &ShardLog, records: &[Expected]) -> shardlog::Result<shardlog::Appended> {
    let refs: Vec<RecordRef<'_>> = records.iter().map(Expected::as_ref).collect();
    log.append(&refs)
}

/// Read everything from `from` to the high-watermark, returning read errors.
pub fn try_read_all(log: &ShardLog, from: u64) -> shardlog::Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let r = log.read(next, 7, 1 << 20)?;
        if r.records.is_empty() {
            return Ok(out);
        }
        next = r.next_offset;
        out.extend(r.records);
    }
}

/// The recovery oracle. `got` are the records read from offset 0 of a reopened log whose
/// trim horizon is `start`. Every `acked` record at or above `start` must be there, exactly
/// and densely in order; after them either nothing or every record of `in_flight` (the one
/// append that was under way, never acknowledged), intact. Nothing else. Returns the number
/// of in-flight records found (0 or `in_flight.len()`).
pub fn check_recovered(
    got: &[Record],
    start: u64,
    acked: &[Expected],
    in_flight: &[Expected],
) -> Result<usize, String> {
    let want: Vec<&Expected> = acked.iter().chain(in_flight).filter(|e| e.offset >= start).collect();
    let acked_above = acked.iter().filter(|e| e.offset >= start).count();
    if let Some(first) = got.first() {
        if first.offset != start {
            return Err(format!("first record read has offset {}, the trim horizon is {start}", first.offset));
        }
    }
    for (i, r) in got.iter().enumerate() {
        match want.get(i) {
            Some(e) => e.check(r)?,
            None => {
                return Err(format!(
                    "phantom record at offset {} ({} data bytes): only {} acked and {} in flight were written",
                    r.offset,
                    r.data.len(),
                    acked.len(),
                    in_flight.len()
                ))
            }
        }
    }
    if got.len() < acked_above {
        let lost = acked.iter().filter(|e| e.offset >= start).nth(got.len()).map_or(0, |e| e.offset);
        return Err(format!(
            "acknowledged records lost: {} of {acked_above} from the horizon {start} are back (first lost offset {lost})",
            got.len()
        ));
    }
    let extra = got.len() - acked_above;
    if extra != 0 && extra != in_flight.len() {
        return Err(format!("{extra} of the {} in-flight records came back: a batch was split", in_flight.len()));
    }
    Ok(extra)
}
