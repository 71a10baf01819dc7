//! Seeded engine-level concurrency stress (reliability R8, the engine-level part): producers,
//! polling consumers, enhanced fan-out subscribers and a resharder, all at once, on one stream.
//!
//! # One run
//!
//! A run is one `u64` seed. Its threads, started together behind a barrier:
//!
//! - **3–4 producers**, each with its own partition keys (`p<producer>-k<key>`). Every record's
//!   data starts with `p<producer>-k<key>-c<counter>|` (a per-key counter) followed by a
//!   filler of 0 bytes to ~120 KiB (larger than a segment); about 6% of the records carry
//!   0 bytes of data instead (those are identified by the sequence number their put was
//!   acknowledged with). A producer alternates `PutRecord` and `PutRecords` of 1–12 entries,
//!   nudges the engine's `ManualClock` forward by a few milliseconds now and then, and keeps
//!   going until the resharder is done and it has put its minimum.
//! - **1 resharder** doing 6–12 reshards, each only after more puts were acknowledged since the
//!   previous one (a spin on an atomic counter fed by the producers: no sleeps, and bounded
//!   because the producers always progress): `split_shard` at a random hash key inside a
//!   random open shard, `merge_shards` of two random adjacent open shards (the lower one first, as AWS requires),
//!   or `update_shard_count` to a random valid target. Before each reshard it advances the
//!   clock by 5–60 s. After the last one (and more puts) it jumps the clock by more than 5
//!   minutes, while the producers still write, at a moment when the poller holds a shard
//!   iterator and every subscriber a subscription and none is inside a receive step (each
//!   holds a per-consumer gate for every step; the resharder takes them all around the
//!   jump): so the poller always meets an expired iterator and every subscriber a
//!   subscription ended by its lifetime, whatever the interleaving.
//! - **1 GetRecords poller** following the lineage by hand: `ListShards` once, then
//!   `GetShardIterator`/`GetRecords` (random limits) per shard, children learned from
//!   `ChildShards` and read only once all their parents are read to their end; an expired
//!   iterator is replaced by one `AFTER_SEQUENCE_NUMBER` of the last record read.
//! - **1 `LineageReader`** tailing the stream with random poll sizes.
//! - **2–3 enhanced fan-out subscribers**, each a registered consumer with one
//!   `subscribe_to_shard` per shard, following `ChildShards` at a shard's end (children only
//!   once all their parents ended), receiving with `try_recv` or a short `recv_timeout`
//!   (woken by the append), and re-subscribing `AFTER_SEQUENCE_NUMBER` of the continuation
//!   sequence number (TRIM_HORIZON if none came yet) when a subscription ends by its 5-minute
//!   lifetime.
//!
//! When the producers and the resharder are joined, the consumers drain: the poller and the
//! subscribers until every shard they follow is read to its end (closed) or to its tip (open),
//! the `LineageReader` until a poll returns nothing.
//!
//! # Checks (afterwards)
//!
//! - no put failed: no fault is injected. (Had one failed, it could not show up below: a put
//!   can return an error after writing its record — a failed fdatasync under `Sync` — but
//!   that poisons the shard log, and reads stop at the published high-watermark, which
//!   moves only after a successful write, and under `Sync` a successful fdatasync);
//! - no two puts were acknowledged with the same sequence number; each acknowledgement names
//!   a shard whose hash-key range covers the partition key; per key, consecutive puts got
//!   increasing sequence numbers on the same shard, or moved to a descendant shard;
//! - every shard read from TRIM_HORIZON afterwards: dense offsets from 0 with strictly
//!   increasing sequence numbers; a closed shard reads to its end (no next iterator) and all
//!   its records lie below its `EndingSequenceNumber`, an open one does not end; every record
//!   is an acknowledged put (same data and key) under the shard and sequence number its
//!   acknowledgement named, and every acknowledged put is stored exactly once;
//! - per consumer (poller, `LineageReader`, each subscriber): every record delivered is a
//!   stored one (same shard, sequence number, data, key and arrival time), so acknowledged;
//!   within a shard the sequence numbers strictly increase in delivery order; per key the
//!   counters increase (per-key order across splits and merges); every acknowledged record is
//!   delivered exactly once; the poller and the subscribers discovered every shard and read
//!   exactly the closed ones to their end (and so did the `LineageReader`);
//! - subscribers: an event with records carries the last record's sequence number as its
//!   continuation; the final event of a closed shard carries no records, no continuation, and
//!   its children; the poller met an expired iterator and every subscriber a subscription
//!   ended by its lifetime (and resumed without a gap or a duplicate, by the checks above).
//!
//! # Determinism
//!
//! Every choice derives from the seed: each thread has its own splitmix64 generator seeded
//! with `seed ^ <thread index>`. The producers' choices (keys, payload sizes, PutRecord vs
//! PutRecords and batch sizes, clock nudges, yields) and the resharder's (which reshard,
//! where) never depend on timing, so a seed always makes the same workload. The thread
//! interleaving is up to the OS scheduler and is *not* reproducible (nor is how many records
//! the producers put past their minimum, or the consumers' choices, which follow their
//! progress): a replay reruns the same workload under a new schedule.
//!
//! # Running
//!
//! The normal suite runs four fixed seeds (in-memory `SimVfs` with `Durability::Sync` and
//! `Buffered`, a temporary directory with `Buffered` and `Sync`) and one fresh seed derived
//! from the time. A failure prints the command that replays its seed:
//!
//! ```text
//! SHARDLOG_STRESS_SEED=1234 cargo test -p shardlog --test engine_stress -- seeded --exact --nocapture
//! ```
//!
//! Nightly (`SHARDLOG_STRESS_FIRST_SEED=N` fixes the first seed, else it derives from the time):
//!
//! ```text
//! SHARDLOG_STRESS_RUNS=500 cargo test -p shardlog --release --test engine_stress -- seeded --exact --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod sim;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shardlog::engine::fanout::{Received, Subscription};
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::io::{RealVfs, VfsRef};
use shardlog::kinesis::{names, partition_key_hash};
use shardlog::{Durability, Engine, Error, ManualClock};
use sim::{engine_config, panic_message, read_shard, Rng, ROOT, T0};

const STREAM: &str = "stress";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/stress";
/// The resharder keeps at most this many shards open.
const MAX_OPEN: usize = 8;
/// UpdateShardCount calls allowed per stream in 24 hours.
const MAX_SCALINGS: usize = 10;
/// Safety bound on one producer's records (it stops long before in any sane run).
const MAX_PUTS: usize = 100_000;
/// Data above this size counts as a large record in the summary.
const LARGE: usize = 16 * 1024;

/// Thread indexes: each thread's generator is seeded with `seed ^ index`.
const SETUP: u64 = 0;
const RESHARDER: u64 = 1;
const POLLER: u64 = 2;
const LINEAGE: u64 = 3;
const PRODUCER: u64 = 0x10;
const SUBSCRIBER: u64 = 0x20;

/// Gate of the poller in `Shared::gates`; subscriber `i` has `SUBSCRIBER_GATE + i`.
const POLLER_GATE: usize = 0;
const SUBSCRIBER_GATE: usize = 1;

/// Seeds of the normal suite; `seed % 4` picks the file system and durability.
const FIXED_SEEDS: [u64; 4] = [0x5EED_0000, 0x5EED_0101, 0x5EED_0202, 0x5EED_0303];

/// What a seed fixes before the threads start.
#[derive(Debug, Clone)]
struct Setup {
    /// A temporary directory with `RealVfs` (else the in-memory `SimVfs`).
    disk: bool,
    durability: Durability,
    producers: usize,
    subscribers: usize,
    shards: u32,
    reshards: usize,
    /// Acknowledged records required between two reshards.
    gap: usize,
    /// Records each producer puts at least.
    min_puts: usize,
    max_event_records: usize,
    max_event_bytes: usize,
    max_loaded_segments: usize,
}

fn setup_for(seed: u64) -> Setup {
    let mut rng = Rng::new(seed ^ SETUP);
    let (disk, durability) = match seed % 4 {
        0 => (false, Durability::Sync),
        1 => (false, Durability::Buffered),
        2 => (true, Durability::Buffered),
        _ => (true, Durability::Sync),
    };
    Setup {
        disk,
        durability,
        producers: rng.range(3, 4) as usize,
        subscribers: rng.range(2, 3) as usize,
        shards: rng.range(1, 4) as u32,
        reshards: rng.range(6, 12) as usize,
        gap: rng.range(30, 100) as usize,
        min_puts: rng.range(250, 600) as usize,
        max_event_records: rng.range(1, 64) as usize,
        max_event_bytes: rng.range(8 * 1024, 256 * 1024) as usize,
        max_loaded_segments: rng.range(4, 64) as usize,
    }
}

/// State the threads share.
struct Shared {
    e: Engine,
    clock: ManualClock,
    /// Records acknowledged so far.
    acked: AtomicUsize,
    /// Producers that returned.
    producers_finished: AtomicUsize,
    /// The resharder is done: producers stop once they have put their minimum.
    done: AtomicBool,
    /// Producers and resharder are joined: consumers drain and stop.
    stop: AtomicBool,
    /// A thread panicked: everyone returns.
    abort: AtomicBool,
    start: Barrier,
    /// One per gated consumer (the poller, then each subscriber): how many shard iterators or
    /// subscriptions it holds, locked by the consumer for each whole receive step, and by the
    /// resharder around the 5-minute clock jump (see [`expire_everything`]).
    gates: Vec<Mutex<usize>>,
}

impl Shared {
    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    fn gate(&self, i: usize) -> MutexGuard<'_, usize> {
        self.gates[i].lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets `abort` if its thread unwinds, so no other thread spins forever waiting for it.
struct AbortOnPanic<'a>(&'a AtomicBool);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

fn shard_index(shard_id: &str) -> u32 {
    names::parse_shard_id(shard_id).unwrap_or_else(|| panic!("bad shard id {shard_id:?}"))
}

fn shard_name(index: u32) -> String {
    names::shard_id_name(index)
}

// ---------------------------------------------------------------------------------------
// Producers
// ---------------------------------------------------------------------------------------

/// An acknowledged put.
#[derive(Debug, Clone)]
struct Ack {
    producer: usize,
    key: usize,
    counter: u32,
    pk: String,
    data: Bytes,
    shard: u32,
    seq: SequenceNumber,
}

/// A put that returned an error (or a failed PutRecords entry).
#[derive(Debug)]
struct Failed {
    pk: String,
    data_len: usize,
    error: String,
}

#[derive(Debug, Default)]
struct Produced {
    acks: Vec<Ack>,
    failed: Vec<Failed>,
    put_record_calls: usize,
    put_records_calls: usize,
    empty: usize,
    large: usize,
}

fn partition_key(p: usize, k: usize) -> String {
    format!("p{p}-k{k}")
}

/// Data of record `c` of key `k` of producer `p`: empty (~6%), or a header naming it plus a
/// filler of 0 bytes to ~120 KiB.
fn payload(rng: &mut Rng, p: usize, k: usize, c: u32) -> Bytes {
    let roll = rng.below(100);
    if roll < 6 {
        return Bytes::new();
    }
    let extra = match roll {
        6..=50 => 0,
        51..=88 => rng.range(1, 300),
        89..=97 => rng.range(300, 6_000),
        _ => rng.range(20_000, 120_000),
    } as usize;
    let mut v = format!("p{p}-k{k}-c{c}|").into_bytes();
    v.extend((0..extra).map(|i| b'a' + ((p * 7 + k * 3 + c as usize + i) % 26) as u8));
    Bytes::from(v)
}

fn produce(sh: &Shared, setup: &Setup, p: usize, rng: &mut Rng) -> Produced {
    let keys = rng.range(2, 5) as usize;
    let mut counters = vec![0u32; keys];
    let mut out = Produced::default();
    let mut records = 0usize;
    while records < MAX_PUTS && !sh.aborted() && !(records >= setup.min_puts && sh.done.load(Ordering::Acquire)) {
        if rng.chance(1, 4) {
            sh.clock.advance(Duration::from_millis(rng.range(1, 5)));
        }
        if rng.chance(1, 8) {
            thread::yield_now();
        }
        // 0: one PutRecord; n: PutRecords of n entries (a key may repeat within a batch).
        let n = if rng.chance(1, 2) { 0 } else { rng.range(1, 12) as usize };
        let entries: Vec<(usize, u32, String, Bytes)> = (0..n.max(1))
            .map(|_| {
                let k = rng.index(keys);
                let c = counters[k];
                counters[k] += 1;
                (k, c, partition_key(p, k), payload(rng, p, k, c))
            })
            .collect();
        out.empty += entries.iter().filter(|e| e.3.is_empty()).count();
        out.large += entries.iter().filter(|e| e.3.len() > LARGE).count();
        let mut acked_now = 0;
        if n == 0 {
            out.put_record_calls += 1;
            let (key, counter, pk, data) = entries.into_iter().next().unwrap();
            let r = sh.e.put_record(PutRecordInput {
                stream: StreamRef::name(STREAM),
                data: data.clone(),
                partition_key: Some(pk.clone()),
                ..Default::default()
            });
            match r {
                Ok(r) => {
                    let shard = shard_index(&r.shard_id);
                    out.acks.push(Ack { producer: p, key, counter, pk, data, shard, seq: r.sequence_number });
                    acked_now = 1;
                }
                Err(err) => out.failed.push(Failed { pk, data_len: data.len(), error: err.to_string() }),
            }
        } else {
            out.put_records_calls += 1;
            let r = sh.e.put_records(PutRecordsInput {
                stream: StreamRef::name(STREAM),
                records: entries
                    .iter()
                    .map(|(_, _, pk, data)| PutRecordsRequestEntry {
                        data: data.clone(),
                        partition_key: Some(pk.clone()),
                        explicit_hash_key: None,
                    })
                    .collect(),
                dry_run: false,
            });
            match r {
                Ok(r) => {
                    assert_eq!(r.records.len(), entries.len(), "PutRecords returns one result per entry");
                    let failed = r.records.iter().filter(|x| x.error_code.is_some()).count();
                    assert_eq!(r.failed_record_count as usize, failed, "FailedRecordCount counts the failed entries");
                    for ((key, counter, pk, data), res) in entries.into_iter().zip(r.records) {
                        match (res.shard_id, res.sequence_number, res.error_code) {
                            (Some(shard_id), Some(seq), None) => {
                                let shard = shard_index(&shard_id);
                                out.acks.push(Ack { producer: p, key, counter, pk, data, shard, seq });
                                acked_now += 1;
                            }
                            (_, _, code) => out.failed.push(Failed {
                                pk,
                                data_len: data.len(),
                                error: format!("{code:?}: {:?}", res.error_message),
                            }),
                        }
                    }
                }
                Err(err) => {
                    for (_, _, pk, data) in entries {
                        out.failed.push(Failed { pk, data_len: data.len(), error: err.to_string() });
                    }
                }
            }
        }
        records += n.max(1);
        sh.acked.fetch_add(acked_now, Ordering::AcqRel);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Resharder
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Resharded {
    ops: Vec<String>,
    scalings: usize,
}

fn open_shards(e: &Engine) -> Vec<Shard> {
    let mut v = e
        .list_shards(ListShardsInput {
            stream: StreamRef::name(STREAM),
            shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
            ..Default::default()
        })
        .unwrap()
        .shards;
    v.sort_by_key(|s| s.hash_key_range.starting_hash_key);
    v
}

/// Spin until `target` records are acknowledged; false if another thread panicked.
fn wait_for_acks(sh: &Shared, target: usize) -> bool {
    while sh.acked.load(Ordering::Acquire) < target {
        if sh.aborted() {
            return false;
        }
        assert_eq!(
            sh.producers_finished.load(Ordering::Acquire),
            0,
            "a producer stopped before the resharder was done (MAX_PUTS reached?)"
        );
        thread::yield_now();
    }
    true
}

fn reshard_loop(sh: &Shared, setup: &Setup, rng: &mut Rng) -> Resharded {
    let mut out = Resharded::default();
    let mut last = 0;
    for _ in 0..setup.reshards {
        if !wait_for_acks(sh, last + setup.gap) {
            return out;
        }
        sh.clock.advance(Duration::from_secs(rng.range(5, 60)));
        let op = reshard_once(&sh.e, rng, &mut out);
        out.ops.push(op);
        last = sh.acked.load(Ordering::Acquire);
    }
    // Let the consumers settle on the last children, age their subscriptions and iterators
    // past 5 minutes while the producers still write, then let more puts land before the
    // producers may stop.
    if !wait_for_acks(sh, last + setup.gap) || !expire_everything(sh, rng) {
        return out;
    }
    out.ops.push("clock +5 min".into());
    if wait_for_acks(sh, sh.acked.load(Ordering::Acquire) + setup.gap) {
        sh.done.store(true, Ordering::Release);
    }
    out
}

/// Advance the clock by more than 5 minutes at a moment when the poller holds a shard
/// iterator and every subscriber a subscription, none of them inside a receive step (all
/// gates held): each of those is then older than 5 minutes when next used, so the poller
/// meets `ExpiredIteratorException` and every subscriber a subscription ended by its
/// lifetime, whatever the interleaving. False if another thread panicked.
fn expire_everything(sh: &Shared, rng: &mut Rng) -> bool {
    let jump = Duration::from_secs(rng.range(301, 330));
    for _ in 0..1_000_000 {
        if sh.aborted() {
            return false;
        }
        let held: Vec<MutexGuard<'_, usize>> = (0..sh.gates.len()).map(|i| sh.gate(i)).collect();
        if held.iter().all(|n| **n > 0) {
            sh.clock.advance(jump);
            return true;
        }
        drop(held);
        thread::yield_now();
    }
    panic!("the poller and the subscribers never all held an iterator or a subscription at once");
}

/// One random reshard of the open shards; returns what it did.
fn reshard_once(e: &Engine, rng: &mut Rng, out: &mut Resharded) -> String {
    let open = open_shards(e);
    let n = open.len();
    let width = |s: &Shard| s.hash_key_range.ending_hash_key - s.hash_key_range.starting_hash_key;
    let splittable: Vec<&Shard> = open.iter().filter(|s| width(s) >= 3).collect();
    let (lo, hi) = (n.div_ceil(2), (2 * n).min(MAX_OPEN));
    let mut kinds = Vec::new();
    if n < MAX_OPEN && !splittable.is_empty() {
        kinds.push("split");
    }
    if n >= 2 {
        kinds.push("merge");
    }
    if out.scalings < MAX_SCALINGS && hi > lo {
        kinds.push("scale");
    }
    match *rng.pick(&kinds) {
        "split" => {
            let s = *rng.pick(&splittable);
            let r = s.hash_key_range;
            // Each child needs two keys: start + 1 < key < end.
            let key = rng.range_u128(r.starting_hash_key + 2, r.ending_hash_key - 1);
            e.split_shard(SplitShardInput {
                stream: StreamRef::name(STREAM),
                shard_to_split: s.shard_id.clone(),
                new_starting_hash_key: key.to_string(),
            })
            .unwrap_or_else(|err| panic!("split {} at {key}: {err}", s.shard_id));
            format!("split {} at {key:#x}", s.shard_id)
        }
        "merge" => {
            let i = rng.index(n - 1);
            // The lower shard first, as AWS requires.
            let (a, b) = (&open[i], &open[i + 1]);
            e.merge_shards(MergeShardsInput {
                stream: StreamRef::name(STREAM),
                shard_to_merge: a.shard_id.clone(),
                adjacent_shard_to_merge: b.shard_id.clone(),
            })
            .unwrap_or_else(|err| panic!("merge {} with {}: {err}", a.shard_id, b.shard_id));
            format!("merge {} + {}", a.shard_id, b.shard_id)
        }
        _ => {
            let mut target = n;
            while target == n {
                target = rng.range(lo as u64, hi as u64) as usize;
            }
            e.update_shard_count(UpdateShardCountInput {
                stream: StreamRef::name(STREAM),
                target_shard_count: target as u32,
                ..Default::default()
            })
            .unwrap_or_else(|err| panic!("update_shard_count {n} -> {target}: {err}"));
            out.scalings += 1;
            format!("scale {n}->{target}")
        }
    }
}

// ---------------------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------------------

/// What one consumer got.
#[derive(Debug, Default)]
struct Consumed {
    name: String,
    /// (shard index, record) in delivery order.
    records: Vec<(u32, KinesisRecord)>,
    /// Shards it knew of at the end (`None`: not tracked).
    known: Option<BTreeSet<u32>>,
    /// Shards it read to their end.
    finished: BTreeSet<u32>,
    /// Records delivered before the producers were joined.
    live: usize,
    /// GetRecords calls or receives.
    calls: usize,
    /// Expired shard iterators replaced (poller).
    expired_iterators: usize,
    /// Subscribe calls (subscribers).
    subscribes: usize,
    /// Subscriptions ended by their lifetime and resumed (subscribers).
    lifetime_ends: usize,
    /// Empty events with a continuation number (subscribers).
    heartbeats: usize,
}

impl Consumed {
    fn named(name: String) -> Consumed {
        Consumed { name, ..Consumed::default() }
    }
}

/// Every shard and its parents, from ListShards.
fn discover(e: &Engine) -> Vec<(u32, Vec<u32>)> {
    e.list_shards(ListShardsInput { stream: StreamRef::name(STREAM), ..Default::default() })
        .unwrap()
        .shards
        .iter()
        .map(|s| {
            let parents = [&s.parent_shard_id, &s.adjacent_parent_shard_id].into_iter().flatten();
            (shard_index(&s.shard_id), parents.map(|p| shard_index(p)).collect())
        })
        .collect()
}

/// Shards not finished whose parents are all known and finished (an unknown parent is not
/// finished: it is learned when its own parent ends).
fn ready<T>(shards: &BTreeMap<u32, T>, finished: impl Fn(&T) -> bool, parents: impl Fn(&T) -> &[u32]) -> Vec<u32> {
    shards
        .iter()
        .filter(|(_, s)| !finished(s) && parents(s).iter().all(|p| shards.get(p).is_some_and(&finished)))
        .map(|(&i, _)| i)
        .collect()
}

/// A shard the poller follows.
#[derive(Debug)]
struct Follow {
    parents: Vec<u32>,
    iterator: Option<String>,
    last: Option<SequenceNumber>,
    finished: bool,
}

fn iterator_after(e: &Engine, index: u32, last: Option<SequenceNumber>) -> String {
    let (kind, seq) = match last {
        Some(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.to_string())),
        None => (ShardIteratorType::TrimHorizon, None),
    };
    e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name(STREAM),
        shard_id: shard_name(index),
        shard_iterator_type: kind,
        starting_sequence_number: seq,
        timestamp: None,
        dry_run: false,
    })
    .unwrap_or_else(|err| panic!("GetShardIterator {kind:?} on {}: {err}", shard_name(index)))
    .shard_iterator
}

/// Parents of each child shard, from `ChildShards`.
fn child_parents(kids: &[ChildShard]) -> Vec<(u32, Vec<u32>)> {
    kids.iter().map(|k| (shard_index(&k.shard_id), k.parent_shards.iter().map(|p| shard_index(p)).collect())).collect()
}

/// GetShardIterator / GetRecords, following lineage by hand.
fn poll_loop(sh: &Shared, rng: &mut Rng) -> Consumed {
    let e = &sh.e;
    let mut out = Consumed::named("GetRecords poller".into());
    let mut shards: BTreeMap<u32, Follow> = discover(e)
        .into_iter()
        .map(|(i, parents)| (i, Follow { parents, iterator: None, last: None, finished: false }))
        .collect();
    while !sh.aborted() {
        let stopping = sh.stop.load(Ordering::Acquire);
        let mut progress = false;
        for index in ready(&shards, |f| f.finished, |f| &f.parents) {
            if rng.chance(1, 6) {
                thread::yield_now();
            }
            // Held for the whole step: counts the iterators held (see `expire_everything`).
            let mut held = sh.gate(POLLER_GATE);
            let f = shards.get_mut(&index).unwrap();
            let it = match f.iterator.take() {
                Some(it) => {
                    *held -= 1;
                    it
                }
                None => iterator_after(e, index, f.last),
            };
            out.calls += 1;
            let limit = rng.range(1, 40) as u32;
            let r = match e.get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(limit),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            }) {
                Ok(r) => r,
                Err(Error::ExpiredIterator { .. }) => {
                    out.expired_iterators += 1;
                    progress = true;
                    continue;
                }
                Err(err) => panic!("GetRecords on {}: {err}", shard_name(index)),
            };
            assert!(r.records.len() <= limit as usize, "GetRecords returned more than its limit");
            progress |= !r.records.is_empty();
            if !stopping {
                out.live += r.records.len();
            }
            if let Some(last) = r.records.last() {
                f.last = Some(last.sequence_number);
            }
            out.records.extend(r.records.into_iter().map(|x| (index, x)));
            let kids = match r.next_shard_iterator {
                Some(next) => {
                    assert!(r.child_shards.is_none(), "{}: ChildShards before the end", shard_name(index));
                    f.iterator = Some(next);
                    *held += 1;
                    continue;
                }
                None => r.child_shards.unwrap_or_else(|| panic!("{}: ended without ChildShards", shard_name(index))),
            };
            f.finished = true;
            progress = true;
            for (kid, parents) in child_parents(&kids) {
                shards.entry(kid).or_insert(Follow { parents, iterator: None, last: None, finished: false });
            }
        }
        if stopping && !progress {
            break;
        }
        if !progress {
            thread::yield_now();
        }
    }
    out.known = Some(shards.keys().copied().collect());
    out.finished = shards.iter().filter(|(_, f)| f.finished).map(|(&i, _)| i).collect();
    out
}

/// A `LineageReader` tailing the stream.
fn lineage_loop(sh: &Shared, rng: &mut Rng) -> Consumed {
    let mut out = Consumed::named("LineageReader".into());
    let mut reader = LineageReader::new(&sh.e, StreamRef::name(STREAM), LineageStart::TrimHorizon);
    while !sh.aborted() {
        let stopping = sh.stop.load(Ordering::Acquire);
        out.calls += 1;
        let batch = reader.poll(rng.range(1, 100) as usize).unwrap_or_else(|err| panic!("LineageReader::poll: {err}"));
        let empty = batch.is_empty();
        if !stopping {
            out.live += batch.len();
        }
        out.records.extend(batch.into_iter().map(|r| (shard_index(&r.shard_id), r.record)));
        if stopping && empty {
            break;
        }
        if empty || rng.chance(1, 6) {
            thread::yield_now();
        }
    }
    out.finished = reader.finished_shards().iter().map(|s| shard_index(s)).collect();
    out
}

/// A shard a subscriber follows.
struct Sub {
    parents: Vec<u32>,
    live: Option<Subscription>,
    /// Where to resume: the last record's sequence number or a heartbeat's continuation.
    continuation: Option<SequenceNumber>,
    finished: bool,
}

fn subscribe(e: &Engine, consumer_arn: &str, index: u32, after: Option<SequenceNumber>) -> Subscription {
    let (position_type, sequence_number) = match after {
        Some(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.to_string())),
        None => (ShardIteratorType::TrimHorizon, None),
    };
    e.subscribe_to_shard(SubscribeToShardInput {
        consumer_arn: consumer_arn.into(),
        shard_id: shard_name(index),
        starting_position: StartingPosition { position_type, sequence_number, timestamp: None },
        stream_id: None,
        dry_run: false,
    })
    .unwrap_or_else(|err| panic!("SubscribeToShard {position_type:?} on {}: {err}", shard_name(index)))
}

/// An enhanced fan-out consumer: one subscription per shard, following lineage.
fn subscribe_loop(sh: &Shared, rng: &mut Rng, gate: usize, name: String, consumer_arn: &str) -> Consumed {
    let e = &sh.e;
    let mut out = Consumed::named(name);
    let mut shards: BTreeMap<u32, Sub> = discover(e)
        .into_iter()
        .map(|(i, parents)| (i, Sub { parents, live: None, continuation: None, finished: false }))
        .collect();
    while !sh.aborted() {
        let stopping = sh.stop.load(Ordering::Acquire);
        let mut quiet = true;
        for index in ready(&shards, |s| s.finished, |s| &s.parents) {
            if rng.chance(1, 6) {
                thread::yield_now();
            }
            // Held for the whole step: counts the live subscriptions (see `expire_everything`).
            let mut held = sh.gate(gate);
            let s = shards.get_mut(&index).unwrap();
            if s.live.is_none() {
                s.live = Some(subscribe(e, consumer_arn, index, s.continuation));
                *held += 1;
                out.subscribes += 1;
            }
            let live = s.live.as_mut().unwrap();
            out.calls += 1;
            let got = if stopping || rng.chance(1, 2) {
                live.try_recv()
            } else {
                live.recv_timeout(Duration::from_millis(rng.range(1, 2)))
            };
            let at = shard_name(index);
            let ev = match got.unwrap_or_else(|err| panic!("{}: subscription to {at} failed: {err}", out.name)) {
                Received::TimedOut => continue,
                Received::Ended => {
                    // Its 5-minute lifetime is over: resume after the continuation number.
                    quiet = false;
                    s.live = None;
                    *held -= 1;
                    out.lifetime_ends += 1;
                    continue;
                }
                Received::Event(ev) => ev,
            };
            quiet = false;
            if let Some(kids) = ev.child_shards {
                assert!(ev.records.is_empty(), "{}: {at}: the final event carries records", out.name);
                assert_eq!(
                    ev.continuation_sequence_number, None,
                    "{}: {at}: the final event has a continuation",
                    out.name
                );
                assert!(!kids.is_empty(), "{}: {at}: ended with no children", out.name);
                s.finished = true;
                s.live = None;
                *held -= 1;
                for (kid, parents) in child_parents(&kids) {
                    shards.entry(kid).or_insert(Sub { parents, live: None, continuation: None, finished: false });
                }
                continue;
            }
            let continuation = ev.continuation_sequence_number;
            assert!(continuation.is_some(), "{}: {at}: an event without a continuation number", out.name);
            match ev.records.last() {
                Some(last) => assert_eq!(
                    continuation,
                    Some(last.sequence_number),
                    "{}: {at}: the continuation is not the last record's number",
                    out.name
                ),
                None => out.heartbeats += 1,
            }
            s.continuation = continuation;
            if !stopping {
                out.live += ev.records.len();
            }
            out.records.extend(ev.records.into_iter().map(|r| (index, r)));
        }
        if stopping && quiet {
            break;
        }
        if quiet {
            thread::yield_now();
        }
    }
    out.known = Some(shards.keys().copied().collect());
    out.finished = shards.iter().filter(|(_, s)| s.finished).map(|(&i, _)| i).collect();
    out
}

// ---------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------

/// Run seed `seed` and check it; returns a one-line summary. Panics on a failed check.
fn stress(seed: u64) -> String {
    let started = Instant::now();
    let setup = setup_for(seed);
    let dir = tempfile::tempdir().unwrap();
    let sim = SimVfs::new();
    let (vfs, root): (VfsRef, PathBuf) =
        if setup.disk { (RealVfs::shared(), dir.path().to_path_buf()) } else { (sim.shared(), PathBuf::from(ROOT)) };
    let clock = ManualClock::new(T0);
    let mut config = engine_config(vfs, &clock, setup.durability);
    if setup.disk {
        config.log.segment_max_bytes = 16 * 1024;
    }
    config.max_loaded_segments = setup.max_loaded_segments;
    config.fanout.max_event_records = setup.max_event_records;
    config.fanout.max_event_bytes = setup.max_event_bytes;
    let e = Engine::open(&root, config).unwrap();
    e.create_stream(CreateStreamInput {
        stream_name: STREAM.into(),
        shard_count: Some(setup.shards),
        ..Default::default()
    })
    .unwrap();
    let consumers: Vec<String> = (0..setup.subscribers)
        .map(|i| {
            e.register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: STREAM_ARN.into(),
                consumer_name: format!("sub{i}"),
                stream_id: None,
                tags: Default::default(),
            })
            .unwrap()
            .consumer_arn
        })
        .collect();

    let sh = Shared {
        e: e.clone(),
        clock: clock.clone(),
        acked: AtomicUsize::new(0),
        producers_finished: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        start: Barrier::new(setup.producers + setup.subscribers + 3),
        gates: (0..SUBSCRIBER_GATE + setup.subscribers).map(|_| Mutex::new(0)).collect(),
    };
    let (resharded, produced, consumed) = thread::scope(|sc| {
        let (sh, setup) = (&sh, &setup);
        let producers: Vec<_> = (0..setup.producers)
            .map(|p| {
                sc.spawn(move || {
                    let _guard = AbortOnPanic(&sh.abort);
                    let mut rng = Rng::new(seed ^ (PRODUCER + p as u64));
                    sh.start.wait();
                    let out = produce(sh, setup, p, &mut rng);
                    sh.producers_finished.fetch_add(1, Ordering::AcqRel);
                    out
                })
            })
            .collect();
        let resharder = sc.spawn(move || {
            let _guard = AbortOnPanic(&sh.abort);
            let mut rng = Rng::new(seed ^ RESHARDER);
            sh.start.wait();
            reshard_loop(sh, setup, &mut rng)
        });
        let mut readers = vec![
            sc.spawn(move || {
                let _guard = AbortOnPanic(&sh.abort);
                let mut rng = Rng::new(seed ^ POLLER);
                sh.start.wait();
                poll_loop(sh, &mut rng)
            }),
            sc.spawn(move || {
                let _guard = AbortOnPanic(&sh.abort);
                let mut rng = Rng::new(seed ^ LINEAGE);
                sh.start.wait();
                lineage_loop(sh, &mut rng)
            }),
        ];
        for (i, arn) in consumers.iter().enumerate() {
            readers.push(sc.spawn(move || {
                let _guard = AbortOnPanic(&sh.abort);
                let mut rng = Rng::new(seed ^ (SUBSCRIBER + i as u64));
                sh.start.wait();
                subscribe_loop(sh, &mut rng, SUBSCRIBER_GATE + i, format!("subscriber sub{i}"), arn)
            }));
        }
        let resharded = resharder.join();
        sh.done.store(true, Ordering::Release);
        let produced: Vec<_> = producers.into_iter().map(|h| h.join()).collect();
        sh.stop.store(true, Ordering::Release);
        let consumed: Vec<_> = readers.into_iter().map(|h| h.join()).collect();
        (resharded, produced, consumed)
    });
    // A thread's panic (already printed by the panic hook) fails the run.
    let produced: Vec<Produced> = produced.into_iter().map(|r| r.unwrap_or_else(|p| resume_unwind(p))).collect();
    let resharded = resharded.unwrap_or_else(|p| resume_unwind(p));
    let consumed: Vec<Consumed> = consumed.into_iter().map(|r| r.unwrap_or_else(|p| resume_unwind(p))).collect();
    assert!(!sh.aborted(), "a thread panicked");
    assert_eq!(resharded.ops.len(), setup.reshards + 1, "every planned reshard and the clock jump ran");

    let acks: Vec<Ack> = produced.iter().flat_map(|p| p.acks.iter().cloned()).collect();
    assert!(acks.len() >= setup.producers * setup.min_puts, "every producer put its minimum");
    let all: BTreeMap<u32, Shard> = e
        .list_shards(ListShardsInput { stream: StreamRef::name(STREAM), ..Default::default() })
        .unwrap()
        .shards
        .into_iter()
        .map(|s| (shard_index(&s.shard_id), s))
        .collect();
    let closed: BTreeSet<u32> =
        all.iter().filter(|(_, s)| s.sequence_number_range.ending_sequence_number.is_some()).map(|(&i, _)| i).collect();
    assert!(closed.len() >= setup.reshards, "each reshard closed a shard ({} closed)", closed.len());

    let by_pos = check_acks(&acks, &all);
    let stored = check_stored(&e, &acks, &by_pos, &all);
    for c in &consumed {
        check_consumer(c, &acks, &by_pos, &stored, &all, &closed);
    }
    let subscribers = &consumed[2..];
    // The clock jump guarantees these (see `expire_everything`).
    assert!(consumed[0].expired_iterators > 0, "the poller met no expired iterator");
    for c in subscribers {
        assert!(c.lifetime_ends > 0, "{}: no subscription ended by its lifetime", c.name);
    }
    let failed: Vec<&Failed> = produced.iter().flat_map(|p| &p.failed).collect();
    let shown: Vec<String> =
        failed.iter().take(3).map(|f| format!("key {} ({} bytes): {}", f.pk, f.data_len, f.error)).collect();
    assert!(failed.is_empty(), "{} puts failed with no fault injected, e.g. {shown:?}", failed.len());
    e.close().unwrap();

    let sum = |f: fn(&Produced) -> usize| produced.iter().map(f).sum::<usize>();
    let poller = &consumed[0];
    format!(
        "seed {seed}: {} {:?}, {} producers, {} subscribers, {} -> {} open of {} shards via [{}]; {} records acked \
         ({} PutRecord + {} PutRecords calls; {} empty, {} > 16 KiB); delivered during the writes {:?}; poller {} \
         calls, {} expired iterators; LineageReader {} polls; subscribers {:?} subscribes, {:?} lifetime ends, {:?} \
         heartbeats; {:.1?}",
        if setup.disk { "disk" } else { "SimVfs" },
        setup.durability,
        setup.producers,
        setup.subscribers,
        setup.shards,
        all.len() - closed.len(),
        all.len(),
        resharded.ops.join(", "),
        acks.len(),
        sum(|p| p.put_record_calls),
        sum(|p| p.put_records_calls),
        sum(|p| p.empty),
        sum(|p| p.large),
        consumed.iter().map(|c| c.live).collect::<Vec<_>>(),
        poller.calls,
        poller.expired_iterators,
        consumed[1].calls,
        subscribers.iter().map(|c| c.subscribes).collect::<Vec<_>>(),
        subscribers.iter().map(|c| c.lifetime_ends).collect::<Vec<_>>(),
        subscribers.iter().map(|c| c.heartbeats).collect::<Vec<_>>(),
        started.elapsed(),
    )
}

/// Position of a record: (shard index, offset).
type Pos = (u32, u64);

fn is_ancestor(all: &BTreeMap<u32, Shard>, ancestor: u32, of: u32) -> bool {
    let mut todo = vec![of];
    let mut seen = BTreeSet::new();
    while let Some(i) = todo.pop() {
        if i == ancestor {
            return true;
        }
        if !seen.insert(i) {
            continue;
        }
        if let Some(s) = all.get(&i) {
            todo.extend(
                [&s.parent_shard_id, &s.adjacent_parent_shard_id].into_iter().flatten().map(|p| shard_index(p)),
            );
        }
    }
    false
}

/// The acknowledgements alone: unique positions, routing, per-key order. Returns the index
/// of each acknowledged position.
fn check_acks(acks: &[Ack], all: &BTreeMap<u32, Shard>) -> HashMap<Pos, usize> {
    let mut by_pos: HashMap<Pos, usize> = HashMap::new();
    for (i, a) in acks.iter().enumerate() {
        assert_eq!(a.seq.shard_index(), a.shard, "{a:?}: the sequence number names another shard");
        if let Some(j) = by_pos.insert((a.shard, a.seq.counter()), i) {
            panic!("two puts acknowledged with sequence number {}: {:?} and {a:?}", a.seq, acks[j]);
        }
        let shard = all.get(&a.shard).unwrap_or_else(|| panic!("{a:?}: acknowledged on an unknown shard"));
        let r = shard.hash_key_range;
        let hash = partition_key_hash(a.pk.as_bytes());
        assert!(
            r.starting_hash_key <= hash && hash <= r.ending_hash_key,
            "{a:?}: routed to {} whose range does not cover the key",
            shard.shard_id
        );
    }
    let mut per_key: BTreeMap<(usize, usize), Vec<&Ack>> = BTreeMap::new();
    for a in acks {
        per_key.entry((a.producer, a.key)).or_default().push(a);
    }
    for list in per_key.values_mut() {
        list.sort_by_key(|a| a.counter);
        for w in list.windows(2) {
            let (x, y) = (w[0], w[1]);
            if x.shard == y.shard {
                assert!(
                    y.seq > x.seq,
                    "key {}: put #{} got {} after put #{} got {}",
                    y.pk,
                    y.counter,
                    y.seq,
                    x.counter,
                    x.seq
                );
            } else {
                assert!(
                    is_ancestor(all, x.shard, y.shard),
                    "key {}: put #{} went to {} after put #{} went to {}, which is not its ancestor",
                    y.pk,
                    y.counter,
                    shard_name(y.shard),
                    x.counter,
                    shard_name(x.shard)
                );
            }
        }
    }
    by_pos
}

/// Read every shard from TRIM_HORIZON and check it against the acknowledgements. Returns the
/// stored records by position.
fn check_stored(
    e: &Engine,
    acks: &[Ack],
    by_pos: &HashMap<Pos, usize>,
    all: &BTreeMap<u32, Shard>,
) -> HashMap<Pos, KinesisRecord> {
    let mut stored: HashMap<Pos, KinesisRecord> = HashMap::new();
    for (&index, shard) in all {
        let id = &shard.shard_id;
        let (recs, ended) = read_shard(e, STREAM, id, 97).unwrap_or_else(|err| panic!("reading {id}: {err}"));
        let ending = shard.sequence_number_range.ending_sequence_number;
        assert_eq!(ended, ending.is_some(), "{id}: a closed shard reads to its end, an open one does not");
        let mut prev: Option<SequenceNumber> = None;
        for (off, r) in recs.into_iter().enumerate() {
            let seq = r.sequence_number;
            let at = format!("{id} offset {off}");
            assert_eq!((seq.shard_index(), seq.counter()), (index, off as u64), "{at}: offsets dense from 0");
            if let Some(p) = prev {
                assert!(seq > p, "{at}: sequence number {seq} not above the previous {p}");
            }
            prev = Some(seq);
            if let Some(end) = ending {
                assert!(seq < end, "{at}: {seq} not below the EndingSequenceNumber {end}");
            }
            let a = by_pos.get(&(index, off as u64)).map(|&i| &acks[i]).unwrap_or_else(|| {
                panic!("{at}: stored but never acknowledged: key {} data {:?}", r.partition_key, preview(&r.data))
            });
            assert!(
                a.data == r.data && a.pk == r.partition_key && a.seq == seq && r.explicit_hash_key.is_none(),
                "{at}: holds key {} data {:?} seq {seq}, but {:?} was acknowledged there",
                r.partition_key,
                preview(&r.data),
                (&a.pk, preview(&a.data), a.seq)
            );
            stored.insert((index, off as u64), r);
        }
    }
    for a in acks {
        assert!(stored.contains_key(&(a.shard, a.seq.counter())), "acknowledged put not stored: {a:?}");
    }
    assert_eq!(stored.len(), acks.len(), "exactly the acknowledged puts are stored");
    stored
}

fn preview(data: &[u8]) -> String {
    let head = &data[..data.len().min(24)];
    format!("{}{} ({} bytes)", String::from_utf8_lossy(head), if data.len() > 24 { "…" } else { "" }, data.len())
}

/// What one consumer got, against what is stored and acknowledged.
fn check_consumer(
    c: &Consumed,
    acks: &[Ack],
    by_pos: &HashMap<Pos, usize>,
    stored: &HashMap<Pos, KinesisRecord>,
    all: &BTreeMap<u32, Shard>,
    closed: &BTreeSet<u32>,
) {
    let name = &c.name;
    let mut last_seq: HashMap<u32, SequenceNumber> = HashMap::new();
    let mut last_counter: HashMap<(usize, usize), u32> = HashMap::new();
    let mut seen = vec![false; acks.len()];
    for (n, (index, r)) in c.records.iter().enumerate() {
        let seq = r.sequence_number;
        let at = format!("{name}: delivery #{n} ({} offset {})", shard_name(*index), seq.counter());
        assert_eq!(seq.shard_index(), *index, "{at}: a record numbered for another shard");
        if let Some(prev) = last_seq.insert(*index, seq) {
            assert!(seq > prev && seq.counter() > prev.counter(), "{at}: {seq} delivered after {prev}");
        }
        let pos = (*index, seq.counter());
        let s = stored.get(&pos).unwrap_or_else(|| {
            panic!("{at}: delivered a record that is not stored: key {} data {:?}", r.partition_key, preview(&r.data))
        });
        assert!(s == r, "{at}: delivered {r:?}, the shard holds {s:?}");
        let i = by_pos[&pos];
        assert!(!seen[i], "{at}: delivered {:?} twice", preview(&r.data));
        seen[i] = true;
        let a = &acks[i];
        if let Some(prev) = last_counter.insert((a.producer, a.key), a.counter) {
            assert!(
                a.counter > prev,
                "{at}: key {} out of order: put #{} delivered after put #{prev}",
                a.pk,
                a.counter
            );
        }
    }
    let missing: Vec<&Ack> = acks.iter().zip(&seen).filter(|(_, s)| !**s).map(|(a, _)| a).collect();
    assert!(
        missing.is_empty(),
        "{name}: {} of {} acknowledged records never delivered, e.g. {:?}",
        missing.len(),
        acks.len(),
        missing.first().map(|a| (&a.pk, a.counter, shard_name(a.shard), a.seq))
    );
    if let Some(known) = &c.known {
        let every: BTreeSet<u32> = all.keys().copied().collect();
        assert_eq!(known, &every, "{name}: did not discover every shard");
    }
    assert_eq!(&c.finished, closed, "{name}: read exactly the closed shards to their end");
}

// ---------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------

/// Seed runs take turns: each already runs a dozen threads on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn replay_command(seed: u64) -> String {
    format!("SHARDLOG_STRESS_SEED={seed} cargo test -p shardlog --test engine_stress -- seeded --exact --nocapture")
}

/// Run one seed; `Err` is the failure report, ending with the command that replays the seed.
fn run_seed(seed: u64) -> Result<String, String> {
    let _turn = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    println!("seed {seed} starting ({:?})", setup_for(seed));
    match catch_unwind(AssertUnwindSafe(|| stress(seed))) {
        Ok(summary) => {
            println!("{summary}");
            Ok(summary)
        }
        Err(panic) => {
            let report = format!(
                "seed {seed} ({:?}) failed: {}\nreplay: {}",
                setup_for(seed),
                panic_message(&*panic),
                replay_command(seed)
            );
            Err(report)
        }
    }
}

fn must_pass(seed: u64) {
    if let Err(report) = run_seed(seed) {
        panic!("{report}");
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn time_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    Rng::new(nanos ^ u64::from(std::process::id())).next_u64()
}

#[test]
fn sim_vfs_sync_fixed_seed() {
    must_pass(FIXED_SEEDS[0]);
}

#[test]
fn sim_vfs_buffered_fixed_seed() {
    must_pass(FIXED_SEEDS[1]);
}

#[test]
fn disk_buffered_fixed_seed() {
    must_pass(FIXED_SEEDS[2]);
}

#[test]
fn disk_sync_fixed_seed() {
    must_pass(FIXED_SEEDS[3]);
}

/// `SHARDLOG_STRESS_SEED=<seed>` replays one seed; `SHARDLOG_STRESS_RUNS=N` runs N seeds from
/// `SHARDLOG_STRESS_FIRST_SEED` (default: derived from the time), reporting every failure;
/// with neither, one fresh seed derived from the time.
#[test]
fn seeded() {
    if let Some(seed) = env_u64("SHARDLOG_STRESS_SEED") {
        return must_pass(seed);
    }
    let Some(runs) = env_u64("SHARDLOG_STRESS_RUNS") else {
        return must_pass(time_seed());
    };
    let first = env_u64("SHARDLOG_STRESS_FIRST_SEED").unwrap_or_else(time_seed);
    let started = Instant::now();
    let mut failures = Vec::new();
    for i in 0..runs {
        if let Err(report) = run_seed(first.wrapping_add(i)) {
            eprintln!("{report}\n");
            failures.push(report);
        }
    }
    println!("{runs} seeds from {first} in {:.1?}: {} failed", started.elapsed(), failures.len());
    assert!(failures.is_empty(), "{} of {runs} seeds failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn the_fixed_seeds_cover_both_file_systems_and_both_durabilities() {
    let setups: Vec<(bool, Durability)> =
        FIXED_SEEDS.iter().map(|&s| setup_for(s)).map(|s| (s.disk, s.durability)).collect();
    assert_eq!(
        setups,
        [
            (false, Durability::Sync),
            (false, Durability::Buffered),
            (true, Durability::Buffered),
            (true, Durability::Sync)
        ]
    );
}
