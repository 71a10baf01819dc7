//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use shardlog::io::VfsRef;
use shardlog::{Durability, LogConfig, LogOptions, ManualClock, Record, RecordRef, ShardLog};

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
